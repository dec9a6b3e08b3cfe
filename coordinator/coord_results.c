/* coord_results.c - read-only view of plan + journal + shards (see coord_results.h). */
#include "coordinator/coord_results.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct open_shard {
    uint32_t run, rank;
    lm_store *store;
} open_shard;

struct coord_results {
    char *outdir;
    ds_plan *plan;
    coord_done *done;
    open_shard *shards;
    size_t nshards, capshards;
};

int coord_results_open(coord_results **out, const char *outdir, lm_err *err)
{
    *out = NULL;
    coord_results *r = calloc(1, sizeof *r);
    if (r == NULL || (r->outdir = strdup(outdir)) == NULL) {
        free(r);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/plan.bin", outdir);
    int rc = ds_plan_load(&r->plan, path, err);
    if (rc == -ENOENT) {
        lm_err_set(err, rc, "%s: no plan.bin: not a latentmill output directory, or no run "
                   "has started there yet", outdir);
    }
    if (rc != 0) {
        coord_results_close(r);
        return rc;
    }
    size_t n = ds_plan_count(r->plan);
    r->done = malloc((n ? n : 1) * sizeof *r->done);
    if (r->done == NULL) {
        coord_results_close(r);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    /* Replay read-only: a torn tail is ignored here, not truncated (the
     * writer may be appending right now). */
    snprintf(path, sizeof path, "%s/journal.bin", outdir);
    uint32_t max_run = 0;
    rc = coord_journal_read(path, n, r->done, &max_run, err);
    if (rc != 0) {
        coord_results_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void coord_results_close(coord_results *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->nshards; i++) {
        lm_store_close(r->shards[i].store);
    }
    free(r->shards);
    free(r->done);
    ds_plan_free(r->plan);
    free(r->outdir);
    free(r);
}

const ds_plan *coord_results_plan(const coord_results *r) { return r->plan; }
size_t coord_results_total(const coord_results *r) { return ds_plan_count(r->plan); }
const coord_done *coord_results_done(const coord_results *r, size_t i) { return &r->done[i]; }

void coord_results_shard_path(const coord_results *r, uint32_t run, uint32_t rank, char *buf,
                              size_t cap)
{
    if (run == UINT32_MAX) {
        snprintf(buf, cap, "%s/shards/reduce-rank%04u", r->outdir, rank);
    } else {
        snprintf(buf, cap, "%s/shards/run%04u-rank%04u", r->outdir, run, rank);
    }
}

static int shard_for(coord_results *r, uint32_t run, uint32_t rank, lm_store **out, lm_err *err)
{
    for (size_t i = 0; i < r->nshards; i++) {
        if (r->shards[i].run == run && r->shards[i].rank == rank) {
            *out = r->shards[i].store;
            return 0;
        }
    }
    if (r->nshards == r->capshards) {
        size_t nc = r->capshards ? r->capshards * 2 : 8;
        open_shard *p = realloc(r->shards, nc * sizeof *p);
        if (p == NULL) {
            return lm_err_set(err, -ENOMEM, "out of memory");
        }
        r->shards = p;
        r->capshards = nc;
    }
    char path[PATH_MAX];
    coord_results_shard_path(r, run, rank, path, sizeof path);
    int rc = lm_store_open(out, path, 1, err);
    if (rc != 0) {
        return rc;
    }
    r->shards[r->nshards++] = (open_shard){run, rank, *out};
    return 0;
}

/* The reduce phase's per-rank shards (kNN join matches): reduce-rank0000, ... */
static int get_from_reduce_shards(coord_results *r, const char *key, enum lm_db db, lm_value *v,
                                  lm_err *err)
{
    for (uint32_t rank = 0; rank < 100000; rank++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/shards/reduce-rank%04u", r->outdir, rank);
        struct stat st;
        if (stat(path, &st) != 0) {
            return 1;
        }
        lm_store *s = NULL;
        int rc = shard_for(r, UINT32_MAX, rank, &s, err);
        if (rc != 0) {
            return rc;
        }
        rc = lm_store_get(s, db, key, v, err);
        if (rc != 1) {
            return rc;
        }
    }
    return 1;
}

int coord_results_get(coord_results *r, size_t i, enum lm_db db, lm_value *v, lm_err *err)
{
    if (i >= ds_plan_count(r->plan) || r->done[i].run == UINT32_MAX) {
        return 1;
    }
    if (db == LM_DB_MATCHES) {
        ds_item it;
        ds_plan_item(r->plan, i, &it);
        return get_from_reduce_shards(r, it.key, db, v, err);
    }
    lm_store *s = NULL;
    int rc = shard_for(r, r->done[i].run, r->done[i].rank, &s, err);
    if (rc != 0) {
        return rc;
    }
    ds_item it;
    ds_plan_item(r->plan, i, &it);
    return lm_store_get(s, db, it.key, v, err);
}
