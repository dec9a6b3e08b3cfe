/*
 * knn_store.c - the kNN join written to a rank's shard (knn_join_run in
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
