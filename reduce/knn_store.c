/*
 * knn_store.c - the kNN join written to a rank's shard, and its export (knn_join_run,
 * knn_matches_export in
 * index.h). Kept apart from the index code so that embedders of the query API
 * do not link the store.
 */
#include "reduce/index.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/lm_log.h"
#include "shared/lm_npy.h"
#include "shared/lm_store.h"

enum { JOIN_COMMIT = 4096 }; /* records per store transaction */

int knn_join_run(const knn_config *cfg, const char *outdir, const float *local_vecs,
                 const char *const *local_keys, const int32_t *local_identity,
                 size_t n_local, int dim, struct lm_store *shard, MPI_Comm comm, lm_err *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    char path[4200];
    snprintf(path, sizeof path, "%s/index/identities.lmi", outdir);
    knn_index *ident = NULL;
    int32_t *mid = NULL;
    float *mdist = NULL;
    double *rec = NULL;
    lm_batch *b = NULL;
    int k = cfg->k > 0 ? cfg->k : KNN_DEFAULT_K;
    int rc = knn_index_load(&ident, path, dim, err);
    if (rc == 0) {
        mid = malloc((n_local ? n_local : 1) * (size_t)k * sizeof *mid);
        mdist = malloc((n_local ? n_local : 1) * (size_t)k * sizeof *mdist);
        rec = malloc((size_t)k * 2 * sizeof *rec);
        if (!mid || !mdist || !rec || lm_batch_create(&b) != 0) {
            rc = lm_err_set(err, -ENOMEM, "join: out of memory for %zu items", n_local);
        }
    }
    if (rc == 0) {
        rc = knn_join_compute(ident, local_vecs, local_identity, n_local, k, 0,
                              cfg->exclude_self, mid, mdist, err);
    }
    for (size_t i = 0; rc == 0 && i < n_local; i++) {
        for (int j = 0; j < k; j++) {
            rec[2 * j] = (double)mid[i * (size_t)k + (size_t)j];
            rec[2 * j + 1] = (double)mdist[i * (size_t)k + (size_t)j];
        }
        lm_value v = {.dtype = LM_DT_F64,
                      .ndim = 2,
                      .rank = (uint32_t)rank,
                      .dims = {(uint32_t)k, 2, 1, 1},
                      .data = rec,
                      .nbytes = (size_t)k * 2 * sizeof *rec};
        rc = lm_batch_put(b, LM_DB_MATCHES, local_keys[i], &v);
        if (rc != 0) {
            rc = lm_err_set(err, rc, "join: cannot queue match of item %s: %s", local_keys[i],
                            lm_strerror(rc));
        } else if (lm_batch_count(b) >= JOIN_COMMIT || i + 1 == n_local) {
            rc = lm_store_commit(shard, b, err);
            lm_batch_clear(b);
        }
    }
    int g = rc;
    MPI_Allreduce(&rc, &g, 1, MPI_INT, MPI_MIN, comm);
    if (g != 0 && rc == 0) {
        lm_err_set(err, g, "join: failed on another rank (%s)", lm_strerror(g));
    }
    if (g == 0) {
        unsigned long long nl = n_local, N = 0;
        MPI_Reduce(&nl, &N, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, comm);
        if (rank == 0) {
            lm_log(LM_LOG_INFO, "join: top-%d identities of %llu items written to the %s dbs", k,
                   N, lm_db_name(LM_DB_MATCHES));
        }
    }
    lm_batch_free(b);
    free(mid);
    free(mdist);
    free(rec);
    knn_index_close(ident);
    return g;
}

/* ---- export -------------------------------------------------------------- */

typedef struct match_rec {
    char *key;
    double *v; /* k x 2 */
} match_rec;

typedef struct export_ctx {
    match_rec *recs;
    size_t n, cap;
    int k;
    const char *shard;
    lm_err *err;
} export_ctx;

static int export_visit(const char *key, size_t keylen, const lm_value *v, void *user)
{
    export_ctx *c = user;
    if (v->dtype != LM_DT_F64 || v->ndim != 2 || v->dims[1] != 2 || v->dims[0] < 1 ||
        (c->k > 0 && (int)v->dims[0] != c->k)) {
        return lm_err_set(c->err, LM_EFORMAT,
                          "%s: matches record %.*s: expected float64 [%d x 2], found dtype %d "
                          "ndim %d dims %u x %u",
                          c->shard, (int)keylen, key, c->k, (int)v->dtype, v->ndim, v->dims[0],
                          v->dims[1]);
    }
    c->k = (int)v->dims[0];
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 1024;
        match_rec *r = realloc(c->recs, nc * sizeof *r);
        if (r == NULL) {
            return lm_err_set(c->err, -ENOMEM, "export: out of memory");
        }
        c->recs = r;
        c->cap = nc;
    }
    match_rec *r = &c->recs[c->n];
    r->key = malloc(keylen + 1);
    r->v = malloc((size_t)c->k * 2 * sizeof *r->v);
    if (r->key == NULL || r->v == NULL) {
        free(r->key);
        free(r->v);
        return lm_err_set(c->err, -ENOMEM, "export: out of memory");
    }
    memcpy(r->key, key, keylen);
    r->key[keylen] = '\0';
    memcpy(r->v, v->data, (size_t)c->k * 2 * sizeof *r->v);
    c->n++;
    return 0;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const match_rec *)a)->key, ((const match_rec *)b)->key);
}

int knn_matches_export(const char *const *shard_dirs, int nshards, const char *out_npy,
                       const char *out_keys, lm_err *err)
{
    export_ctx c = {.err = err};
    int rc = 0;
    for (int s = 0; s < nshards && rc == 0; s++) {
        lm_store *st = NULL;
        rc = lm_store_open(&st, shard_dirs[s], 1, err);
        if (rc == 0) {
            c.shard = shard_dirs[s];
            rc = lm_store_foreach(st, LM_DB_MATCHES, export_visit, &c, err);
        }
        lm_store_close(st);
    }
    double *all = NULL;
    FILE *f = NULL;
    if (rc == 0) {
        qsort(c.recs, c.n, sizeof *c.recs, cmp_rec);
        int k = c.k > 0 ? c.k : 1;
        all = malloc((c.n ? c.n : 1) * (size_t)k * 2 * sizeof *all);
        if (all == NULL) {
            rc = lm_err_set(err, -ENOMEM, "export: out of memory");
        }
        for (size_t i = 0; rc == 0 && i < c.n; i++) {
            memcpy(all + i * (size_t)k * 2, c.recs[i].v, (size_t)k * 2 * sizeof *all);
            if (i > 0 && strcmp(c.recs[i].key, c.recs[i - 1].key) == 0) {
                lm_log(LM_LOG_WARN, "export: key %s has matches in two shards; both kept",
                       c.recs[i].key);
            }
        }
        if (rc == 0) {
            uint64_t shape[3] = {c.n, (uint64_t)k, 2};
            rc = lm_npy_save(out_npy, "<f8", 8, shape, 3, all, err);
        }
    }
    if (rc == 0) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", out_keys);
        f = fopen(tmp, "w");
        if (f == NULL) {
            int e = errno;
            rc = lm_err_set(err, -e, "%s: cannot create: %s", tmp, strerror(e));
        }
        for (size_t i = 0; rc == 0 && i < c.n; i++) {
            if (fprintf(f, "%s\n", c.recs[i].key) < 0) {
                rc = lm_err_set(err, -EIO, "%s: write failed", tmp);
            }
        }
        if (f != NULL && fclose(f) != 0 && rc == 0) {
            int e = errno;
            rc = lm_err_set(err, -e, "%s: close failed: %s", tmp, strerror(e));
        }
        if (rc == 0 && rename(tmp, out_keys) != 0) {
            int e = errno;
            rc = lm_err_set(err, -e, "%s: rename failed: %s", out_keys, strerror(e));
        }
    }
    for (size_t i = 0; i < c.n; i++) {
        free(c.recs[i].key);
        free(c.recs[i].v);
    }
    free(c.recs);
    free(all);
    return rc;
}
