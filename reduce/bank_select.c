/*
 * bank_select.c - label selection and train/validation split (InterFaceGAN's
 * train_boundary, algorithms.md section 1.2) and the conditional projection
 * (project_boundary, section 2). Pure local functions on gathered arrays.
 */
#include "reduce/bank.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct keyed {
    double key;  /* primary sort key */
    uint64_t id; /* tie break */
    int64_t idx;
} keyed;

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Descending key, then ascending id: a total order, so no unstable ties. */
static int cmp_desc(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) {
        return x->key > y->key ? -1 : 1;
    }
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Shuffle order: ascending hash of (id, seed), then id. */
static int cmp_hash(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return x->id < y->id ? -1 : (x->id > y->id);
}

static double shuffle_key(uint64_t id, uint64_t seed)
{
    return (double)(mix64(id ^ mix64(seed + 0x51ed27ULL)) >> 11);
}

/* Split the m rows of one class (indices in k[]) into train / validation in
 * hash order: the first int(m * (1 - val_split)) train. keep: at most this many
 * rows are used (class balancing), the rest get BANK_ROLE_NONE. */
static void split_class(keyed *k, int64_t m, int64_t keep, const uint64_t *ids, double val_split,
                        uint64_t seed, int8_t role_train, int8_t role_val, int8_t *role,
                        int64_t *ntrain, int64_t *nval)
{
    for (int64_t i = 0; i < m; i++) {
        k[i].key = shuffle_key(ids[k[i].idx], seed);
        k[i].id = ids[k[i].idx];
    }
    qsort(k, (size_t)m, sizeof *k, cmp_hash);
    if (keep > m) {
        keep = m;
    }
    int64_t tr = (int64_t)((double)keep * (1.0 - val_split));
    for (int64_t i = 0; i < m; i++) {
        role[k[i].idx] = i < tr ? role_train : (i < keep ? role_val : BANK_ROLE_NONE);
    }
    *ntrain = tr;
    *nval = keep - tr;
}

static int check_split(double val_split, lm_err *err)
{
    if (!(val_split >= 0.0 && val_split < 1.0)) {
        return lm_err_set(err, LM_ECONFIG, "bank: val_split must be in [0, 1), got %g", val_split);
    }
    return 0;
}

int bank_select_scores(const float *scores, const uint64_t *ids, int64_t n, double ratio,
                       double val_split, uint64_t seed, int8_t *role, bank_counts *cnt,
                       lm_err *err)
{
    memset(cnt, 0, sizeof *cnt);
    if (!(ratio > 0.0)) {
        return lm_err_set(err, LM_ECONFIG, "bank: ratio must be > 0, got %g", ratio);
    }
    int rc = check_split(val_split, err);
    if (rc != 0) {
        return rc;
    }
    keyed *k = malloc(sizeof(keyed) * (size_t)(n > 0 ? n : 1));
    if (k == NULL) {
        return lm_err_set(err, -ENOMEM, "bank: out of memory sorting %lld scores", (long long)n);
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        role[i] = BANK_ROLE_NONE;
        if (isfinite(scores[i])) {
            k[m].key = scores[i];
            k[m].id = ids[i];
            k[m].idx = i;
            m++;
        }
    }
    cnt->n_valid = m;
    cnt->n_dropped = n - m;
    qsort(k, (size_t)m, sizeof *k, cmp_desc);
    /* chosen = int(N' * ratio) for a ratio in (0, 1], else int(ratio); <= N'/2. */
    int64_t chosen = ratio <= 1.0 ? (int64_t)((double)m * ratio) : (int64_t)ratio;
    if (chosen > m / 2) {
        chosen = m / 2;
    }
    if (m > 0) {
        /* Remaining rows: label by the midpoint of the extreme scores. */
        double mid = ((double)k[0].key + (double)k[m - 1].key) / 2.0;
        for (int64_t i = chosen; i < m - chosen; i++) {
            int pos = k[i].key >= mid;
            role[k[i].idx] = pos ? BANK_ROLE_REM_POS : BANK_ROLE_REM_NEG;
            cnt->rem_pos += pos;
            cnt->rem_neg += !pos;
        }
    }
    keyed *neg = malloc(sizeof(keyed) * (size_t)(chosen > 0 ? chosen : 1));
    if (neg == NULL) {
        free(k);
        return lm_err_set(err, -ENOMEM, "bank: out of memory");
    }
    memcpy(neg, k + (m - chosen), sizeof(keyed) * (size_t)chosen);
    split_class(k, chosen, chosen, ids, val_split, seed, BANK_ROLE_TRAIN_POS, BANK_ROLE_VAL_POS,
                role, &cnt->train_pos, &cnt->val_pos);
    split_class(neg, chosen, chosen, ids, val_split, seed, BANK_ROLE_TRAIN_NEG, BANK_ROLE_VAL_NEG,
                role, &cnt->train_neg, &cnt->val_neg);
    free(neg);
    free(k);
    return 0;
}

int bank_select_labels(const float *labels, const uint64_t *ids, int64_t n, double val_split,
                       int balance, uint64_t seed, int8_t *role, bank_counts *cnt, lm_err *err)
{
    memset(cnt, 0, sizeof *cnt);
    int rc = check_split(val_split, err);
    if (rc != 0) {
        return rc;
    }
    keyed *k = malloc(sizeof(keyed) * (size_t)(n > 0 ? n : 1));
    if (k == NULL) {
        return lm_err_set(err, -ENOMEM, "bank: out of memory for %lld labels", (long long)n);
    }
    /* Positives packed from the front, negatives from the back. */
    int64_t np = 0, nn = 0;
    for (int64_t i = 0; i < n; i++) {
        role[i] = BANK_ROLE_NONE;
        float v = labels[i];
        if (v > 0.0f) {
            k[np++].idx = i;
        } else if (v < 0.0f) {
            k[n - 1 - nn++].idx = i;
        }
    }
    cnt->n_valid = np + nn;
    cnt->n_dropped = n - np - nn;
    int64_t keep_p = np, keep_n = nn;
    if (balance) {
        keep_p = keep_n = np < nn ? np : nn;
    }
    split_class(k, np, keep_p, ids, val_split, seed, BANK_ROLE_TRAIN_POS, BANK_ROLE_VAL_POS, role,
                &cnt->train_pos, &cnt->val_pos);
    split_class(k + (n - nn), nn, keep_n, ids, val_split, seed, BANK_ROLE_TRAIN_NEG,
                BANK_ROLE_VAL_NEG, role, &cnt->train_neg, &cnt->val_neg);
    free(k);
    return 0;
}

int bank_project(const double *p, const double *conds, int k, int64_t dim, double *out,
                 lm_err *err)
{
    if (k < 0 || k > BANK_MAX_CONDS) {
        return lm_err_set(err, LM_ECONFIG, "bank: %d conditions (at most %d)", k, BANK_MAX_CONDS);
    }
    if (out != p) {
        memmove(out, p, sizeof(double) * (size_t)dim);
    }
    if (k == 1) {
        const double *c = conds;
        double a = 0.0;
        for (int64_t j = 0; j < dim; j++) {
            a += out[j] * c[j];
        }
        for (int64_t j = 0; j < dim; j++) {
            out[j] -= a * c[j];
        }
    } else if (k == 2) {
        /* project_boundary's closed form, including its 1e-8 regulariser. */
        const double *c1 = conds, *c2 = conds + dim;
        double a = 0.0, b = 0.0, r = 0.0;
        for (int64_t j = 0; j < dim; j++) {
            a += out[j] * c1[j];
            b += out[j] * c2[j];
            r += c1[j] * c2[j];
        }
        double den = 1.0 - r * r + 1e-8;
        double al = (a - b * r) / den, be = (b - a * r) / den;
        for (int64_t j = 0; j < dim; j++) {
            out[j] -= al * c1[j] + be * c2[j];
        }
    } else if (k >= 3) {
        /* Orthonormal basis of span(conds) by modified Gram-Schmidt (twice, for
         * numerical orthogonality), then subtract the projection: the same
         * result as solving (C C') x = C p', as InterFaceGAN's k-condition code. */
        double *q = malloc(sizeof(double) * (size_t)(k * dim));
        if (q == NULL) {
            return lm_err_set(err, -ENOMEM, "bank: out of memory");
        }
        int nq = 0;
        for (int c = 0; c < k; c++) {
            double *v = q + (int64_t)nq * dim;
            memcpy(v, conds + (int64_t)c * dim, sizeof(double) * (size_t)dim);
            for (int pass = 0; pass < 2; pass++) {
                for (int b = 0; b < nq; b++) {
                    const double *u = q + (int64_t)b * dim;
                    double t = 0.0;
                    for (int64_t j = 0; j < dim; j++) {
                        t += v[j] * u[j];
                    }
                    for (int64_t j = 0; j < dim; j++) {
                        v[j] -= t * u[j];
                    }
                }
            }
            double nv = 0.0;
            for (int64_t j = 0; j < dim; j++) {
                nv += v[j] * v[j];
            }
            nv = sqrt(nv);
            if (nv < 1e-10) {
                continue; /* dependent condition: adds nothing to the span */
            }
            for (int64_t j = 0; j < dim; j++) {
                v[j] /= nv;
            }
            nq++;
        }
        for (int pass = 0; pass < 2; pass++) {
            for (int b = 0; b < nq; b++) {
                const double *u = q + (int64_t)b * dim;
                double t = 0.0;
                for (int64_t j = 0; j < dim; j++) {
                    t += out[j] * u[j];
                }
                for (int64_t j = 0; j < dim; j++) {
                    out[j] -= t * u[j];
                }
            }
        }
        free(q);
    }
    double nrm = 0.0;
    for (int64_t j = 0; j < dim; j++) {
        nrm += out[j] * out[j];
    }
    nrm = sqrt(nrm);
    if (!(nrm >= 1e-12)) {
        return lm_err_set(err, LM_ENUMERIC,
                          "bank: direction lies in the span of its conditions (norm %g after "
                          "projection)",
                          nrm);
    }
    for (int64_t j = 0; j < dim; j++) {
        out[j] /= nrm;
    }
    return 0;
}
