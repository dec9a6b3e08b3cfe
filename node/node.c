/* node.c - per-item stage pipeline and chunk commits (see node.h). */
#include "node/node.h"
#include "node/internal.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/lm_log.h"

struct node_ctx {
    node_config cfg;
    const ds_plan *plan;
    int nworkers;              /* item-parallel threads (1: serial) */
    ds_reader *reader[NODE_MAX_THREADS];
    lm_batch *tbatch[NODE_MAX_THREADS];
    lm_store *store;
    lm_batch *batch;
    uint32_t rank;
    int nstages;
    int bstage;                /* index of the stage that takes groups of items, or -1 */
    int group;                 /* its group size (> 1) */
    const node_batch_ops *bops;
    const node_stage_ops *ops[NODE_MAX_STAGES];
    void *state[NODE_MAX_STAGES];
    int needs_bytes;
    void (*tick)(void *user);
    void *tick_user;
};

void node_set_tick(node_ctx *n, void (*tick)(void *user), void *user)
{
    n->tick = tick;
    n->tick_user = user;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int node_config_from_job(node_config *cfg, lm_job *job, lm_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    long v = 0;
    int rc;
    if ((rc = lm_job_get_int(job, "node", "resolution", 256, 4, 4096, &v, err)) < 0) {
        return rc;
    }
    cfg->resolution = (int)v;
    if ((rc = lm_job_get_bool(job, "node", "keep_pixels", 1, &cfg->keep_pixels, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_int(job, "node", "max_pixels", LM_IMG_MAX_PIXELS_DEFAULT, 1,
                             (long)1 << 40, &v, err)) < 0) {
        return rc;
    }
    cfg->max_pixels = v;
    if ((rc = lm_job_get_int(job, "node", "threads", 0, 0, 1024, &v, err)) < 0) {
        return rc;
    }
    cfg->threads = (int)v;
    if ((rc = lm_job_get_int(job, "node", "item_threads", 0, 0, NODE_MAX_THREADS, &v, err)) < 0) {
        return rc;
    }
    cfg->item_threads = (int)v;
    const char *models = NULL;
    if ((rc = lm_job_get_str(job, "node", "models", "", &models, err)) < 0) {
        return rc;
    }
    snprintf(cfg->models, sizeof cfg->models, "%s", models);
    if ((rc = lm_job_get_int(job, "node", "det_size", 416, 32, 2048, &v, err)) < 0) {
        return rc;
    }
    if (v % 32 != 0) {
        return lm_err_set(err, LM_ECONFIG, "%s: [node] det_size = %ld: must be a multiple of 32",
                          lm_job_path(job), v);
    }
    cfg->det_size = (int)v;
    const char *stages = NULL;
    if ((rc = lm_job_get_str(job, "node", "stages", "decode,resize", &stages, err)) < 0) {
        return rc;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s", stages);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", \t", &save); t != NULL; t = strtok_r(NULL, ", \t", &save)) {
        if (node_stage_find(t) == NULL) {
            return lm_err_set(err, LM_ECONFIG, "%s: [node] stages: unknown stage '%s' (known: %s)",
                              lm_job_path(job), t, node_stage_names());
        }
        if (cfg->nstages == NODE_MAX_STAGES) {
            return lm_err_set(err, LM_ECONFIG, "%s: [node] stages: more than %d stages",
                              lm_job_path(job), NODE_MAX_STAGES);
        }
        snprintf(cfg->stages[cfg->nstages++], sizeof cfg->stages[0], "%s", t);
    }
    if (cfg->nstages == 0) {
        return lm_err_set(err, LM_ECONFIG, "%s: [node] stages is empty", lm_job_path(job));
    }
    return node_invert_config_read(&cfg->invert, job, err);
}

void node_free(node_ctx *n)
{
    if (n == NULL) {
        return;
    }
    for (int i = 0; i < n->nstages; i++) {
        if (n->ops[i] != NULL && n->ops[i]->destroy != NULL) {
            n->ops[i]->destroy(n->state[i]);
        }
    }
    for (int t = 0; t < NODE_MAX_THREADS; t++) {
        ds_reader_free(n->reader[t]);
        lm_batch_free(n->tbatch[t]);
    }
    lm_batch_free(n->batch);
    lm_store_close(n->store);
    free(n);
}

int node_create(node_ctx **out, const node_config *cfg, const ds_plan *plan,
                const char *shard_dir, uint32_t rank, lm_err *err)
{
    *out = NULL;
    node_ctx *n = calloc(1, sizeof *n);
    if (n == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    n->cfg = *cfg;
    n->plan = plan;
    n->rank = rank;
    if (cfg->threads > 0) {
        omp_set_num_threads(cfg->threads);
    }
    int rc = lm_batch_create(&n->batch);
    if (rc != 0) {
        lm_err_set(err, rc, "out of memory");
        goto fail;
    }
    n->nworkers = cfg->item_threads > 0 ? cfg->item_threads : 1;
    if (n->nworkers > NODE_MAX_THREADS) {
        n->nworkers = NODE_MAX_THREADS;
    }
    for (int t = 0; t < n->nworkers; t++) {
        rc = ds_reader_create(&n->reader[t], plan, err);
        if (rc == 0 && t > 0) {
            rc = lm_batch_create(&n->tbatch[t]) == 0 ? 0 : lm_err_set(err, -ENOMEM, "out of memory");
        }
        if (rc != 0) {
            goto fail;
        }
    }
    rc = lm_store_open(&n->store, shard_dir, 0, err);
    if (rc != 0) {
        goto fail;
    }
    for (int i = 0; i < cfg->nstages; i++) {
        n->ops[i] = node_stage_find(cfg->stages[i]);
        if (n->ops[i] == NULL) {
            rc = lm_err_set(err, LM_ECONFIG, "unknown stage '%s'", cfg->stages[i]);
            goto fail;
        }
        n->nstages = i + 1;
        n->needs_bytes |= n->ops[i]->needs_bytes;
        if (!n->ops[i]->thread_safe) {
            n->nworkers = 1; /* a stage with per-call scratch runs items one by one */
        }
        if (n->ops[i]->create != NULL) {
            rc = n->ops[i]->create(&n->state[i], cfg, err);
            if (rc != 0) {
                lm_err_prefix(err, "stage %s: ", cfg->stages[i]);
                goto fail;
            }
        }
    }
    /* A stage with a grouped entry point (node_batch_find) gets its items in groups
     * when the chunk runs serially; the first such stage only. */
    n->bstage = -1;
    for (int i = 0; i < n->nstages && n->bstage < 0; i++) {
        const node_batch_ops *b = node_batch_find(n->ops[i]->name);
        int g = b != NULL ? b->group_size(n->state[i]) : 1;
        if (g > 1) {
            n->bstage = i;
            n->group = g;
            n->bops = b;
        }
    }
    *out = n;
    return 0;
fail:
    node_free(n);
    return rc;
}

static void item_reset(node_item *it)
{
    free(it->bytes);
    lm_img_fini(&it->img);
    lm_img_fini(&it->out);
    cJSON_Delete(it->meta);
    memset(it, 0, sizeof *it);
}

/* One item between its stages: what it is, and whether a stage failed it. */
typedef struct item_run {
    node_item it;
    cJSON *ms;
    const char *failed_stage;
    int rc;
    lm_err ierr;
} item_run;

/* Start an item: plan entry, meta, bytes. Negative on environmental failure (the
 * item is reset). */
static int item_begin(node_ctx *n, int t, uint32_t index, item_run *r, lm_err *err)
{
    memset(r, 0, sizeof *r);
    node_item *it = &r->it;
    it->index = index;
    it->rank = n->rank;
    ds_plan_item(n->plan, index, &it->plan);
    it->meta = cJSON_CreateObject();
    r->ms = it->meta ? cJSON_AddObjectToObject(it->meta, "ms") : NULL;
    if (it->meta == NULL || r->ms == NULL) {
        item_reset(it);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    double t0 = now_s();
    if (n->needs_bytes) {
        r->rc = ds_reader_read(n->reader[t], index, &it->bytes, &it->len, &r->ierr);
        cJSON_AddNumberToObject(r->ms, "read", 1e3 * (now_s() - t0));
        if (r->rc == -ENOMEM) {
            item_reset(it);
            return lm_err_set(err, r->rc, "%s", r->ierr.msg);
        }
        if (r->rc != 0) {
            r->failed_stage = "read";
        }
    }
    return 0;
}

/* Stages [from, to) on an item not failed yet. Negative on environmental failure
 * (the item is reset). */
static int item_stages(node_ctx *n, item_run *r, int from, int to, lm_batch *batch, lm_err *err)
{
    for (int s = from; s < to && r->failed_stage == NULL; s++) {
        double ts = now_s();
        r->rc = n->ops[s]->process(n->state[s], &r->it, batch, &r->ierr);
        cJSON_AddNumberToObject(r->ms, n->ops[s]->name, 1e3 * (now_s() - ts));
        if (r->rc < 0) {
            int rc = r->rc;
            lm_err_set(err, rc, "%s: stage %s: %s", r->it.plan.key, n->ops[s]->name,
                       lm_err_msg(&r->ierr, rc));
            item_reset(&r->it);
            return rc;
        }
        if (r->rc > 0) {
            r->failed_stage = n->ops[s]->name;
        }
    }
    return 0;
}

/* Settle an item: status into meta, meta into the batch, reset. */
static int item_finish(node_ctx *n, item_run *r, lm_batch *batch, int *failed, lm_err *err)
{
    node_item *it = &r->it;
    cJSON_AddNumberToObject(it->meta, "rank", n->rank);
    if (r->failed_stage != NULL) {
        cJSON_AddStringToObject(it->meta, "status", "failed");
        cJSON_AddStringToObject(it->meta, "stage", r->failed_stage);
        cJSON_AddStringToObject(it->meta, "reason", lm_err_msg(&r->ierr, r->rc));
        *failed = 1;
    } else {
        cJSON_AddStringToObject(it->meta, "status", "ok");
        *failed = 0;
    }
    char *json = cJSON_PrintUnformatted(it->meta);
    int rc = json != NULL ? lm_batch_put_json(batch, LM_DB_META, it->plan.key, json, n->rank)
                          : -ENOMEM;
    free(json);
    if (rc != 0) {
        lm_err_set(err, rc, "%s: cannot record meta", it->plan.key);
    }
    item_reset(it);
    return rc;
}

/* Run one item through the stages; records go into the batch. Returns 0 when
 * the item is settled (ok or failed-with-reason), negative on environmental
 * failure. */
static int run_item(node_ctx *n, int t, lm_batch *batch, uint32_t index, int *failed, lm_err *err)
{
    item_run *r = malloc(sizeof *r);
    if (r == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = item_begin(n, t, index, r, err);
    if (rc == 0) {
        rc = item_stages(n, r, 0, n->nstages, batch, err);
    }
    if (rc == 0) {
        rc = item_finish(n, r, batch, failed, err);
    }
    free(r);
    return rc;
}

/* Serial chunk with a grouped stage: items in groups of n->group; the stages before
 * it per item, the grouped stage once per group on the items still ok, the rest per
 * item. Settles ok/failed counts like run_item. */
static int run_grouped(node_ctx *n, const uint32_t *index, uint32_t count, uint32_t *ok,
                       uint32_t *failed_n, lm_err *err)
{
    int G = n->group, k = n->bstage, rc = 0;
    item_run *runs = calloc((size_t)G, sizeof *runs);
    node_item **live = calloc((size_t)G, sizeof *live);
    int *lidx = calloc((size_t)G, sizeof *lidx), *rcs = calloc((size_t)G, sizeof *rcs);
    lm_err *errs = calloc((size_t)G, sizeof *errs);
    if (!runs || !live || !lidx || !rcs || !errs) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (uint32_t g0 = 0; g0 < count && rc == 0; g0 += (uint32_t)G) {
        int m = count - g0 < (uint32_t)G ? (int)(count - g0) : G, begun = 0, nl = 0;
        for (int j = 0; j < m && rc == 0; j++) {
            if (n->tick != NULL) {
                n->tick(n->tick_user);
            }
            rc = item_begin(n, 0, index[g0 + j], &runs[j], err);
            if (rc == 0) {
                begun = j + 1;
                rc = item_stages(n, &runs[j], 0, k, n->batch, err);
                if (rc != 0) {
                    begun = j; /* item_stages reset it */
                }
            }
        }
        for (int j = 0; j < begun && rc == 0; j++) {
            if (runs[j].failed_stage == NULL) {
                live[nl] = &runs[j].it;
                lidx[nl++] = j;
            }
        }
        if (rc == 0 && nl > 0) {
            double ts = now_s();
            memset(rcs, 0, sizeof(int) * (size_t)G);
            memset(errs, 0, sizeof(lm_err) * (size_t)G);
            lm_err gerr = {0};
            rc = n->bops->process_many(n->state[k], live, nl, rcs, errs, n->batch, &gerr);
            double per = 1e3 * (now_s() - ts) / nl;
            if (rc < 0) {
                lm_err_set(err, rc, "stage %s: %s", n->ops[k]->name, lm_err_msg(&gerr, rc));
            }
            for (int q = 0; q < nl && rc == 0; q++) {
                item_run *r = &runs[lidx[q]];
                cJSON_AddNumberToObject(r->ms, n->ops[k]->name, per);
                if (rcs[q] > 0) {
                    r->failed_stage = n->ops[k]->name;
                    r->rc = rcs[q];
                    r->ierr = errs[q];
                }
            }
        }
        for (int j = 0; j < begun; j++) {
            if (rc == 0) {
                rc = item_stages(n, &runs[j], k + 1, n->nstages, n->batch, err);
                if (rc != 0) {
                    continue; /* reset by item_stages */
                }
                int failed = 0;
                rc = item_finish(n, &runs[j], n->batch, &failed, err);
                *failed_n += rc == 0 && failed;
                *ok += rc == 0 && !failed;
            } else {
                item_reset(&runs[j].it);
            }
        }
    }
out:
    free(runs);
    free(live);
    free(lidx);
    free(rcs);
    free(errs);
    return rc;
}

int node_process_chunk(node_ctx *n, const uint32_t *index, uint32_t count,
                       node_chunk_stats *stats, lm_err *err)
{
    double t0 = now_s();
    memset(stats, 0, sizeof *stats);
    for (uint32_t i = 0; i < count; i++) {
        if (index[i] >= ds_plan_count(n->plan)) {
            return lm_err_set(err, LM_EINTERNAL, "chunk names item %u beyond the plan", index[i]);
        }
    }
    n->tbatch[0] = n->batch;
    for (int t = 0; t < n->nworkers; t++) {
        lm_batch_clear(n->tbatch[t]);
    }
    int rc = 0;
    uint32_t ok = 0, failed_n = 0;
    if (n->nworkers == 1 && n->bstage >= 0) {
        rc = run_grouped(n, index, count, &ok, &failed_n, err);
    } else if (n->nworkers == 1) {
        for (uint32_t i = 0; i < count && rc == 0; i++) {
            int failed = 0;
            if (n->tick != NULL) {
                n->tick(n->tick_user);
            }
            rc = run_item(n, 0, n->batch, index[i], &failed, err);
            failed_n += rc == 0 && failed;
            ok += rc == 0 && !failed;
        }
    } else {
        /* Items are independent: each thread has its own reader and batch,
         * and the batches are committed together below. Thread 0 also runs
         * the tick (rank 0's event loop in single-process mode). */
        lm_err terr[NODE_MAX_THREADS];
        int trc[NODE_MAX_THREADS] = {0};
        memset(terr, 0, sizeof terr);
#pragma omp parallel num_threads(n->nworkers) reduction(+ : ok, failed_n)
        {
            int t = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
            for (uint32_t i = 0; i < count; i++) {
                if (trc[t] != 0) {
                    continue;
                }
                if (t == 0 && n->tick != NULL) {
                    n->tick(n->tick_user);
                }
                int failed = 0;
                trc[t] = run_item(n, t, n->tbatch[t], index[i], &failed, &terr[t]);
                failed_n += trc[t] == 0 && failed;
                ok += trc[t] == 0 && !failed;
            }
        }
        for (int t = 0; t < n->nworkers && rc == 0; t++) {
            if (trc[t] != 0) {
                rc = trc[t];
                if (err != NULL) {
                    *err = terr[t];
                }
            }
        }
    }
    if (rc == 0) {
        rc = lm_store_commit_many(n->store, (const lm_batch *const *)n->tbatch, n->nworkers, err);
    }
    for (int t = 0; t < n->nworkers; t++) {
        lm_batch_clear(n->tbatch[t]);
    }
    n->tbatch[0] = NULL;
    stats->ok = ok;
    stats->failed = failed_n;
    stats->seconds = now_s() - t0;
    return rc;
}
