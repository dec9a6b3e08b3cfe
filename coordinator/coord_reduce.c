/* coord_reduce.c - load each rank's share of the results and run the bank and
 * index reduce tasks (see coord_reduce.h). */
#include "coordinator/coord_reduce.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "coordinator/coord_results.h"
#include "shared/lm_img.h"
#include "shared/lm_io.h"
#include "shared/lm_log.h"
#include "shared/lm_store.h"

static const char *const score_names[] = {"neutral",   "happy",     "sad", "angry", "fearful",
                                          "disgusted", "surprised", "age", "male"};
#define N_SCORE_COLS 9

int coord_reduce_config(coord_reduce_cfg *cfg, lm_job *job, lm_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = 0;
    if (lm_job_has_section(job, "bank")) {
        cfg->have_bank = 1;
        bank_config_init(&cfg->bank);
        rc = bank_config_from_job(&cfg->bank, job, err);
    }
    if (rc == 0 && lm_job_has_section(job, "index")) {
        cfg->have_index = 1;
        knn_config_init(&cfg->index);
        rc = knn_config_from_job(&cfg->index, job, err);
    }
    return rc;
}

/* Combine a local result into one answer on every rank (mfu_alltrue). */
static int agree(int rc, lm_err *err, const char *what)
{
    int bad = rc != 0;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (bad && rc == 0) {
        rc = lm_err_set(err, LM_EINTERNAL, "%s failed on another rank (see its log)", what);
    }
    return rc;
}

/* One rank's rows. */
typedef struct rows {
    size_t n, cap;
    uint32_t *index; /* plan index */
    uint64_t *ids;
    char **keys;
    int32_t *identity;
    float *lat; /* n x lat_dim */
    int lat_rows, lat_cols;
    float *scores;   /* n x N_SCORE_COLS (NaN when absent) */
    int32_t *labels; /* n x n_labels (0 when absent) */
    int n_labels;
    float *emb; /* n x 128 */
    int emb_dim;
} rows;

static void rows_free(rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->keys[i]);
    }
    free(r->index);
    free(r->ids);
    free(r->keys);
    free(r->identity);
    free(r->lat);
    free(r->scores);
    free(r->labels);
    free(r->emb);
    memset(r, 0, sizeof *r);
}

static int grow(void **p, size_t n, size_t elem)
{
    void *q = realloc(*p, (n ? n : 1) * elem);
    if (q == NULL) {
        return -ENOMEM;
    }
    *p = q;
    return 0;
}

/* Item i of the plan is done, ok, and has a record in need_db: append it. */
static int load_rows(coord_results *res, enum lm_db need_db, rows *r, lm_err *err)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t total = coord_results_total(res);
    size_t lo = total * (size_t)rank / (size_t)size, hi = total * (size_t)(rank + 1) / (size_t)size;
    for (size_t i = lo; i < hi; i++) {
        lm_value meta, v;
        int rc = coord_results_get(res, i, LM_DB_META, &meta, err);
        if (rc == 1) {
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        cJSON *m = cJSON_ParseWithLength(meta.data, meta.nbytes);
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(m, "status"));
        int ok = st != NULL && strcmp(st, "ok") == 0;
        cJSON *idj = cJSON_GetObjectItem(m, "identity");
        int32_t identity = cJSON_IsNumber(idj) ? (int32_t)idj->valuedouble : -1;
        cJSON_Delete(m);
        if (!ok) {
            continue;
        }
        rc = coord_results_get(res, i, need_db, &v, err);
        if (rc == 1) {
            continue;
        }
        if (rc < 0) {
            return rc;
        }
        ds_item it;
        ds_plan_item(coord_results_plan(res), i, &it);
        if (v.dtype != LM_DT_F32) {
            return lm_err_set(err, LM_EFORMAT, "%s: %s record is not float32", it.key,
                              lm_db_name(need_db));
        }
        if (r->n == r->cap) {
            size_t nc = r->cap ? 2 * r->cap : 1024;
            if (grow((void **)&r->index, nc, sizeof *r->index) || grow((void **)&r->ids, nc, 8) ||
                grow((void **)&r->keys, nc, sizeof(char *)) || grow((void **)&r->identity, nc, 4)) {
                return lm_err_set(err, -ENOMEM, "out of memory");
            }
            r->cap = nc;
        }
        size_t k = r->n;
        r->index[k] = (uint32_t)i;
        r->ids[k] = lm_fnv1a64(it.key, it.key_len);
        r->keys[k] = strdup(it.key);
        r->identity[k] = identity;
        r->n++;
        if (r->keys[k] == NULL) {
            return lm_err_set(err, -ENOMEM, "out of memory");
        }
        if (need_db == LM_DB_LATENT) {
            int rr = v.ndim >= 2 ? (int)v.dims[0] : 1;
            int cc = v.ndim >= 2 ? (int)v.dims[1] : (int)v.dims[0];
            if (r->lat_rows == 0) {
                r->lat_rows = rr;
                r->lat_cols = cc;
            } else if (rr != r->lat_rows || cc != r->lat_cols) {
                return lm_err_set(err, LM_ESHAPE, "%s: latent is %d x %d, others are %d x %d",
                                  it.key, rr, cc, r->lat_rows, r->lat_cols);
            }
            size_t d = (size_t)rr * cc;
            if (grow((void **)&r->lat, r->cap * d, 4) ||
                grow((void **)&r->scores, r->cap * N_SCORE_COLS, 4)) {
                return lm_err_set(err, -ENOMEM, "out of memory");
            }
            memcpy(r->lat + k * d, v.data, d * 4);
            float *s = r->scores + k * N_SCORE_COLS;
            for (int c = 0; c < N_SCORE_COLS; c++) {
                s[c] = NAN;
            }
            if (coord_results_get(res, i, LM_DB_SCORES, &v, err) == 0 && v.dtype == LM_DT_F32) {
                size_t ns = v.nbytes / 4 < N_SCORE_COLS ? v.nbytes / 4 : N_SCORE_COLS;
                memcpy(s, v.data, ns * 4);
            }
            if (coord_results_get(res, i, LM_DB_LABELS, &v, err) == 0 && v.dtype == LM_DT_I32) {
                int nl = (int)(v.nbytes / 4);
                if (r->n_labels == 0 && k == 0) {
                    r->n_labels = nl;
                }
                if (nl == r->n_labels) {
                    if (grow((void **)&r->labels, r->cap * (size_t)nl, 4)) {
                        return lm_err_set(err, -ENOMEM, "out of memory");
                    }
                    memcpy(r->labels + k * (size_t)nl, v.data, (size_t)nl * 4);
                }
            } else if (r->n_labels > 0) {
                memset(r->labels + k * (size_t)r->n_labels, 0, (size_t)r->n_labels * 4);
            }
        } else {
            int d = (int)(v.nbytes / 4);
            if (r->emb_dim == 0) {
                r->emb_dim = d;
            } else if (d != r->emb_dim) {
                return lm_err_set(err, LM_ESHAPE, "%s: descriptor has %d values, others %d", it.key,
                                  d, r->emb_dim);
            }
            if (grow((void **)&r->emb, r->cap * (size_t)d, 4)) {
                return lm_err_set(err, -ENOMEM, "out of memory");
            }
            memcpy(r->emb + k * (size_t)d, v.data, (size_t)d * 4);
        }
    }
    return 0;
}

/* Label column names and kinds from OUTDIR/labels.json (optional). */
typedef struct label_meta {
    int n;
    char name[64][BANK_NAME_LEN];
    int kind[64]; /* BANK_LABEL_BINARY / BANK_LABEL_CLASS */
    int n_classes[64];
    char *classes[64][16];
} label_meta;

static void label_meta_free(label_meta *lm)
{
    for (int i = 0; i < 64; i++) {
        for (int c = 0; c < 16; c++) {
            free(lm->classes[i][c]);
        }
    }
}

static int label_meta_load(label_meta *lm, const char *outdir, int n_labels, lm_err *err)
{
    memset(lm, 0, sizeof *lm);
    lm->n = n_labels < 64 ? n_labels : 64;
    for (int i = 0; i < lm->n; i++) {
        snprintf(lm->name[i], BANK_NAME_LEN, "label%d", i);
        lm->kind[i] = BANK_LABEL_BINARY;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/labels.json", outdir);
    void *txt = NULL;
    size_t len = 0;
    if (lm_io_read_file(path, &txt, &len, NULL) != 0) {
        return 0;
    }
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    cJSON *cols = cJSON_GetObjectItem(j, "columns");
    if (!cJSON_IsArray(cols)) {
        cJSON_Delete(j);
        return lm_err_set(err, LM_EFORMAT, "%s: expected {\"columns\": [...]}", path);
    }
    int i = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cols)
    {
        if (i >= lm->n) {
            break;
        }
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
        const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(c, "kind"));
        if (name != NULL) {
            snprintf(lm->name[i], BANK_NAME_LEN, "%s", name);
        }
        if (kind != NULL && strcmp(kind, "class") == 0) {
            lm->kind[i] = BANK_LABEL_CLASS;
            cJSON *cl;
            cJSON_ArrayForEach(cl, cJSON_GetObjectItem(c, "classes"))
            {
                if (lm->n_classes[i] < 16 && cJSON_GetStringValue(cl) != NULL) {
                    lm->classes[i][lm->n_classes[i]++] = strdup(cJSON_GetStringValue(cl));
                }
            }
        }
        i++;
    }
    cJSON_Delete(j);
    return 0;
}

static int run_bank(const coord_reduce_cfg *cfg, coord_results *res, const char *outdir,
                    lm_err *err)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    rows r;
    memset(&r, 0, sizeof r);
    int rc = load_rows(res, LM_DB_LATENT, &r, err);
    /* Every rank must agree on the shapes (ranks with no rows take them). */
    int shape[3] = {r.lat_rows, r.lat_cols, r.n_labels};
    MPI_Allreduce(MPI_IN_PLACE, shape, 3, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rc == 0 && r.n > 0 && (r.lat_rows != shape[0] || r.lat_cols != shape[1])) {
        rc = lm_err_set(err, LM_ESHAPE, "latents differ in shape between ranks");
    }
    rc = agree(rc, err, "loading latents");
    long long nall = (long long)r.n;
    MPI_Allreduce(MPI_IN_PLACE, &nall, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (rc == 0 && nall == 0) {
        if (rank == 0) {
            lm_log(LM_LOG_WARN, "bank: no item has a latent (is an invert stage configured?); "
                                "nothing to train");
        }
        rows_free(&r);
        return 0;
    }
    int num_ws = shape[0], w_dim = shape[1], n_labels = shape[2];
    float *wmean = NULL;
    bank_space spaces[2];
    int n_spaces = 0;
    if (rc == 0 && num_ws > 1) {
        wmean = calloc(r.n ? r.n * (size_t)w_dim : 1, 4);
        if (wmean == NULL) {
            rc = lm_err_set(err, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; rc == 0 && i < r.n; i++) {
            for (int l = 0; l < num_ws; l++) {
                for (int c = 0; c < w_dim; c++) {
                    wmean[i * w_dim + c] += r.lat[(i * num_ws + l) * w_dim + c] / (float)num_ws;
                }
            }
        }
        spaces[n_spaces++] = (bank_space){"w", 1, w_dim, wmean};
        spaces[n_spaces++] = (bank_space){"wplus", num_ws, w_dim, r.lat};
    } else {
        spaces[n_spaces++] = (bank_space){"w", 1, w_dim, r.lat};
    }
    /* Label columns: scores (as classifier scores) and dataset labels. */
    label_meta lmeta;
    memset(&lmeta, 0, sizeof lmeta);
    if (rc == 0) {
        rc = label_meta_load(&lmeta, outdir, n_labels, err);
    }
    bank_column cols[N_SCORE_COLS + 64];
    int ncols = 0;
    float *colbuf = calloc((r.n ? r.n : 1) * (size_t)(N_SCORE_COLS + lmeta.n), sizeof(float));
    int have_scores = 0;
    for (size_t i = 0; i < r.n; i++) {
        have_scores |= !isnan(r.scores[i * N_SCORE_COLS]);
    }
    MPI_Allreduce(MPI_IN_PLACE, &have_scores, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    for (int c = 0; rc == 0 && colbuf != NULL && have_scores && c < N_SCORE_COLS; c++) {
        float *v = colbuf + (size_t)ncols * (r.n ? r.n : 1);
        for (size_t i = 0; i < r.n; i++) {
            v[i] = r.scores[i * N_SCORE_COLS + c];
        }
        cols[ncols++] = (bank_column){score_names[c], BANK_LABEL_SCORE, v, 0, NULL};
    }
    for (int c = 0; rc == 0 && colbuf != NULL && c < lmeta.n; c++) {
        float *v = colbuf + (size_t)ncols * (r.n ? r.n : 1);
        for (size_t i = 0; i < r.n; i++) {
            int32_t x = r.labels != NULL ? r.labels[i * (size_t)n_labels + c] : 0;
            v[i] = lmeta.kind[c] == BANK_LABEL_CLASS ? (x < 0 ? NAN : (float)x) : (float)x;
        }
        cols[ncols++] = (bank_column){lmeta.name[c], (enum bank_label_kind)lmeta.kind[c], v,
                                      lmeta.n_classes[c], (const char *const *)lmeta.classes[c]};
    }
    if (rc == 0 && colbuf == NULL) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
    }
    rc = agree(rc, err, "preparing labels");
    if (rc == 0) {
        bank_data d = {(int64_t)r.n, r.ids, n_spaces, spaces, ncols, cols};
        if (rank == 0) {
            lm_log(LM_LOG_INFO, "bank: %lld latents (%d x %d), %d label columns", nall, num_ws,
                   w_dim, ncols);
        }
        rc = bank_build(&cfg->bank, &d, MPI_COMM_WORLD, outdir, err);
    }
    label_meta_free(&lmeta);
    free(colbuf);
    free(wmean);
    rows_free(&r);
    return rc;
}

static int run_index(const coord_reduce_cfg *cfg, coord_results *res, const char *outdir,
                     lm_err *err)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    rows r;
    memset(&r, 0, sizeof r);
    int rc = load_rows(res, LM_DB_EMBED, &r, err);
    int dim = r.emb_dim;
    MPI_Allreduce(MPI_IN_PLACE, &dim, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    rc = agree(rc, err, "loading descriptors");
    long long nall = (long long)r.n;
    MPI_Allreduce(MPI_IN_PLACE, &nall, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (rc == 0 && nall == 0) {
        if (rank == 0) {
            lm_log(LM_LOG_WARN, "index: no item has a descriptor (is the faces stage configured?)");
        }
        rows_free(&r);
        return 0;
    }
    int any_identity = 0;
    for (size_t i = 0; i < r.n; i++) {
        any_identity |= r.identity[i] >= 0;
    }
    MPI_Allreduce(MPI_IN_PLACE, &any_identity, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (rc == 0) {
        if (rank == 0) {
            lm_log(LM_LOG_INFO, "index: %lld descriptors of %d values%s", nall, dim,
                   any_identity ? "" : ", no identities known");
        }
        rc = knn_index_build(&cfg->index, r.emb, (const char *const *)r.keys, r.identity, r.n, dim,
                             MPI_COMM_WORLD, outdir, err);
    }
    if (rc == 0 && cfg->index.precompute && !any_identity) {
        if (rank == 0) {
            lm_log(LM_LOG_WARN, "index: precompute = true, but no item has an identity (the "
                                "dataset gave none), so there is nothing to join against; skipped");
        }
    } else if (rc == 0 && cfg->index.precompute) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/shards/reduce-rank%04d", outdir, rank);
        lm_store *shard = NULL;
        int orc = lm_store_open(&shard, path, 0, err);
        orc = agree(orc, err, "opening the reduce shard");
        if (orc == 0) {
            rc = knn_join_run(&cfg->index, outdir, r.emb, (const char *const *)r.keys, r.identity,
                              r.n, dim, shard, MPI_COMM_WORLD, err);
        } else {
            rc = orc;
        }
        lm_store_close(shard);
    }
    rows_free(&r);
    return rc;
}

int coord_reduce_run(const coord_reduce_cfg *cfg, const char *outdir, lm_err *err)
{
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (!cfg->have_bank && !cfg->have_index) {
        if (rank == 0) {
            lm_log(LM_LOG_INFO, "reduce: nothing configured (no [bank] or [index] section)");
        }
        return 0;
    }
    coord_results *res = NULL;
    int rc = coord_results_open(&res, outdir, err);
    rc = agree(rc, err, "opening the results");
    double t0 = MPI_Wtime();
    if (rc == 0 && cfg->have_index) {
        rc = run_index(cfg, res, outdir, err);
    }
    if (rc == 0 && cfg->have_bank) {
        rc = run_bank(cfg, res, outdir, err);
    }
    coord_results_close(res);
    if (rc == 0 && rank == 0) {
        lm_log(LM_LOG_INFO, "reduce done in %.2fs", MPI_Wtime() - t0);
    }
    return rc;
}
