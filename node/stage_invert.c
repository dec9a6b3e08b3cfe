/*
 * stage_invert.c - the `invert` stage: each image (the output of align/resize when one
 * ran before, else the decoded image) is centre-cropped, resized to the generator's
 * resolution and inverted to a latent (models/invert.h). Not thread-safe (one optimiser
 * state per rank): the node runs the items of a chunk one by one.
 *
 * Per item it writes the latent to the latent db (float32 [1, w_dim] for space w,
 * [num_ws, w_dim] for wplus) and an "invert" object in meta: space, psnr, mse,
 * noise_reg, loss, steps, seconds (and nn_row, the bank sample it started from, with
 * init = nn). With [invert] recon_dir and recon_every = N, items
 * whose plan index is a multiple of N also get their reconstruction as a PNG.
 *
 * Reproducibility: an item's RNG seed is a mix of [invert] seed and its key, so the
 * result does not depend on the rank, the chunk or the run that processes it.
 * The generator, its w statistics (cached next to it) and the whole optimiser state
 * are created once per rank; nothing is allocated per item except the target image.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/op_gemm.h"
#include "models/invert.h"
#include "models/stylegan2.h"
#include "node/internal.h"
#include "shared/lm_img.h"
#include "shared/lm_log.h"

typedef struct invert_state {
    node_invert_config cfg;
    sg2_model *m;
    inv_ctx *ic;
    int R, C, Wd, rows, B;
    float *target, *latent, *recon, *w_avg, *w0, *bank; /* [B, ...] */
    uint64_t *seeds;
    inv_result *res;
    int *nn_row;
    uint8_t *u8;
} invert_state;

/* Relative paths in a job file are relative to the job file's directory. */
static int resolve_into(char *dst, size_t cap, const char *job_path, const char *p)
{
    if (p[0] == '/') {
        return snprintf(dst, cap, "%s", p) >= (int)cap ? -1 : 0;
    }
    const char *slash = strrchr(job_path, '/');
    int n = slash ? snprintf(dst, cap, "%.*s/%s", (int)(slash - job_path), job_path, p)
                  : snprintf(dst, cap, "%s", p);
    return n >= (int)cap ? -1 : 0;
}

int node_invert_config_read(node_invert_config *cfg, lm_job *job, lm_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    inv_params *p = &cfg->params;
    inv_params_default(p);
    const char *jp = lm_job_path(job), *s = NULL;
    const char *sec = "invert";
    int rc;
    long v = 0;
    double d = 0;
    if ((rc = lm_job_get_str(job, sec, "generator", "", &s, err)) < 0) {
        return rc;
    }
    if (s[0] != '\0' && resolve_into(cfg->generator, sizeof cfg->generator, jp, s) != 0) {
        return lm_err_set(err, LM_ECONFIG, "%s: [invert] generator: path too long", jp);
    }
    static const char *const spaces[] = {"w", "wplus", NULL};
    if ((rc = lm_job_get_enum(job, sec, "space", spaces, 0, &p->space, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_int(job, sec, "steps", 1000, 1, 1000000, &v, err)) < 0) {
        return rc;
    }
    p->steps = (int)v;
    if ((rc = lm_job_get_double(job, sec, "lr", 0.1, 1e-9, 100.0, &d, err)) < 0) {
        return rc;
    }
    p->lr = (float)d;
    static const char *const noises[] = {"optimize", "model", NULL};
    int nm = 0;
    if ((rc = lm_job_get_enum(job, sec, "noise", noises, 0, &nm, err)) < 0) {
        return rc;
    }
    p->optimize_noise = nm == 0;
    if ((rc = lm_job_get_double(job, sec, "noise_reg", 1e5, 0.0, 1e12, &d, err)) < 0) {
        return rc;
    }
    p->noise_reg = (float)d;
    if ((rc = lm_job_get_double(job, sec, "mse_weight", 1.0, 1e-12, 1e12, &d, err)) < 0) {
        return rc;
    }
    p->mse_weight = (float)d;
    if ((rc = lm_job_get_int(job, sec, "loss_res", 256, 4, 4096, &v, err)) < 0) {
        return rc;
    }
    if ((v & (v - 1)) != 0) {
        return lm_err_set(err, LM_ECONFIG, "%s: [invert] loss_res must be a power of two", jp);
    }
    p->loss_res = (int)v;
    if ((rc = lm_job_get_int(job, sec, "patience", 0, 0, 1000000, &v, err)) < 0) {
        return rc;
    }
    p->patience = (int)v;
    if ((rc = lm_job_get_double(job, sec, "min_delta", 1e-3, 0.0, 1.0, &d, err)) < 0) {
        return rc;
    }
    p->min_delta = (float)d;
    if ((rc = lm_job_get_int(job, sec, "batch", 1, 1, 256, &v, err)) < 0) {
        return rc;
    }
    cfg->batch = (int)v;
    if ((rc = lm_job_get_int(job, sec, "seed", 303, 0, LONG_MAX, &v, err)) < 0) {
        return rc;
    }
    cfg->seed = (uint64_t)v;
    if ((rc = lm_job_get_int(job, sec, "w_avg_samples", 10000, 1, 10000000, &v, err)) < 0) {
        return rc;
    }
    cfg->w_avg_samples = (int)v;
    static const char *const inits[] = {"wavg", "nn", NULL};
    if ((rc = lm_job_get_enum(job, sec, "init", inits, 0, &cfg->init_nn, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_int(job, sec, "bank_size", 1000, 1, 10000000, &v, err)) < 0) {
        return rc;
    }
    cfg->bank_size = (int)v;
    if ((rc = lm_job_get_str(job, sec, "recon_dir", "", &s, err)) < 0) {
        return rc;
    }
    if (s[0] != '\0' && resolve_into(cfg->recon_dir, sizeof cfg->recon_dir, jp, s) != 0) {
        return lm_err_set(err, LM_ECONFIG, "%s: [invert] recon_dir: path too long", jp);
    }
    if ((rc = lm_job_get_int(job, sec, "recon_every", 0, 0, LONG_MAX, &v, err)) < 0) {
        return rc;
    }
    cfg->recon_every = (int)v;
    return 0;
}

void node_invert_destroy(void *state)
{
    invert_state *s = state;
    if (s == NULL) {
        return;
    }
    inv_ctx_free(s->ic);
    sg2_model_free(s->m);
    free(s->target);
    free(s->latent);
    free(s->recon);
    free(s->w_avg);
    free(s->w0);
    free(s->bank);
    free(s->u8);
    free(s->seeds);
    free(s->res);
    free(s->nn_row);
    free(s);
}

int node_invert_create(void **state, const node_config *ncfg, lm_err *err)
{
    *state = NULL;
    const node_invert_config *cfg = &ncfg->invert;
    if (cfg->generator[0] == '\0') {
        return lm_err_set(err, LM_ECONFIG, "[invert] generator = FILE.safetensors is required");
    }
    invert_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    s->cfg = *cfg;
    if (ncfg->threads > 0) {
        op_blas_set_threads(ncfg->threads);
    }
    int rc = sg2_model_load(&s->m, cfg->generator, err);
    if (rc != 0) {
        goto fail;
    }
    const sg2_config *g = sg2_model_config(s->m);
    s->R = g->img_resolution;
    s->C = g->img_channels;
    s->Wd = g->w_dim;
    rc = inv_ctx_create(&s->ic, s->m, &cfg->params, cfg->batch, err);
    if (rc != 0) {
        goto fail;
    }
    s->rows = inv_ctx_rows(s->ic);
    s->B = cfg->batch;
    size_t per = (size_t)s->C * s->R * s->R, B = (size_t)s->B;
    s->target = malloc(sizeof(float) * per * B);
    s->recon = malloc(sizeof(float) * per * B);
    s->latent = malloc(sizeof(float) * (size_t)s->rows * s->Wd * B);
    s->w_avg = malloc(sizeof(float) * (size_t)s->Wd);
    s->u8 = malloc(per);
    s->w0 = malloc(sizeof(float) * (size_t)s->Wd * B);
    s->seeds = malloc(sizeof(uint64_t) * B);
    s->res = malloc(sizeof(inv_result) * B);
    s->nn_row = malloc(sizeof(int) * B);
    if (!s->target || !s->recon || !s->latent || !s->w_avg || !s->u8 || !s->w0 || !s->seeds ||
        !s->res || !s->nn_row) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    float w_std = 0;
    int cached = 0;
    rc = inv_wstats_load(s->m, cfg->generator, cfg->w_avg_samples, s->w_avg, &w_std, &cached,
                         err);
    if (rc != 0) {
        goto fail;
    }
    inv_ctx_set_wstats(s->ic, s->w_avg, w_std);
    if (cfg->init_nn) {
        rc = inv_bank_load(s->m, cfg->generator, cfg->bank_size, &s->bank, &cached, err);
        if (rc != 0) {
            goto fail;
        }
    }
    lm_log(LM_LOG_DEBUG, "invert: %s (R=%d, w_dim %d), w_avg %s, %zu bytes of state",
           cfg->generator, s->R, s->Wd, cached ? "cached" : "computed", inv_ctx_bytes(s->ic));
    *state = s;
    return 0;
fail:
    node_invert_destroy(s);
    return rc;
}

static uint64_t item_seed(uint64_t seed, const char *key)
{
    uint64_t z = seed ^ lm_fnv1a64(key, strlen(key));
    z += 0x9e3779b97f4a7c15ULL; /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void save_recon(invert_state *s, const node_item *it, const float *recon)
{
    char name[4096], path[8300];
    snprintf(name, sizeof name, "%s", it->plan.key);
    for (char *c = name; *c; c++) {
        if (*c == '/') {
            *c = '_';
        }
    }
    char *dot = strrchr(name, '.');
    if (dot != NULL && dot != name && strchr(dot, '_') == NULL) {
        *dot = '\0'; /* imgs/a.jpg -> imgs_a.png */
    }
    if (snprintf(path, sizeof path, "%.4000s/%.4000s.png", s->cfg.recon_dir, name) < 0) {
        return;
    }
    inv_image_to_u8(s->u8, recon, s->R, s->C);
    lm_image im = {s->R, s->R, 3, s->u8};
    lm_err e = {0};
    if (lm_img_save_png(path, &im, &e) != 0) {
        lm_log(LM_LOG_WARN, "invert: reconstruction of %s not saved: %s", it->plan.key, e.msg);
    }
}

/* Target of an item into slot j (and its nn start point). 0, or NODE_ITEM_FAILED /
 * negative with err set. */
static int prepare(invert_state *s, node_item *it, int j, lm_err *err)
{
    /* The aligned/resized image when an align or resize stage ran, else the decoded one. */
    const lm_image *src = it->out.px != NULL ? &it->out : &it->img;
    if (src->px == NULL) {
        return lm_err_set(err, NODE_ITEM_FAILED, "invert needs a decoded image (put decode first)");
    }
    size_t per = (size_t)s->C * s->R * s->R;
    int rc = inv_target_from_image(s->target + j * per, src, s->R, err);
    if (rc != 0) {
        return rc;
    }
    s->seeds[j] = item_seed(s->cfg.seed, it->plan.key);
    s->nn_row[j] = -1;
    if (s->bank != NULL) {
        s->nn_row[j] = inv_bank_nearest(s->m, s->bank, s->cfg.bank_size, s->target + j * per,
                                        s->w0 + (size_t)j * s->Wd);
    }
    return 0;
}

/* Latent and meta of the item in slot j. */
static int record(invert_state *s, node_item *it, int j, lm_batch *batch, lm_err *err)
{
    size_t nlat = (size_t)s->rows * s->Wd;
    const inv_result *res = &s->res[j];
    lm_value v = {LM_DT_F32, 2, it->rank, {(uint32_t)s->rows, (uint32_t)s->Wd, 1, 1},
                  s->latent + j * nlat, sizeof(float) * nlat};
    int rc = lm_batch_put(batch, LM_DB_LATENT, it->plan.key, &v);
    if (rc != 0) {
        return lm_err_set(err, rc, "cannot record the latent");
    }
    cJSON *o = cJSON_AddObjectToObject(it->meta, "invert");
    if (o == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(o, "space", s->cfg.params.space == INV_SPACE_W ? "w" : "wplus");
    cJSON_AddNumberToObject(o, "psnr", res->psnr);
    cJSON_AddNumberToObject(o, "mse", res->mse);
    cJSON_AddNumberToObject(o, "noise_reg", res->reg);
    cJSON_AddNumberToObject(o, "loss", res->loss);
    cJSON_AddNumberToObject(o, "steps", res->steps);
    cJSON_AddNumberToObject(o, "seconds", res->seconds);
    if (s->nn_row[j] >= 0) {
        cJSON_AddNumberToObject(o, "nn_row", s->nn_row[j]);
    }
    if (s->B > 1) {
        cJSON_AddNumberToObject(o, "batch", s->B);
    }
    if (s->cfg.recon_dir[0] != '\0' && s->cfg.recon_every > 0 &&
        it->index % (uint32_t)s->cfg.recon_every == 0) {
        save_recon(s, it, s->recon + j * (size_t)s->C * s->R * s->R);
    }
    return 0;
}

/* Optimise slots [0, n) (targets, seeds and nn starts prepared). */
static int optimise(invert_state *s, int n, lm_err *err)
{
    return inv_run(s->ic, s->target, n, s->seeds, s->bank ? s->w0 : NULL, s->latent, s->recon,
                   s->res, err);
}

int node_invert_process(void *state, node_item *it, lm_batch *batch, lm_err *err)
{
    invert_state *s = state;
    int rc = prepare(s, it, 0, err);
    if (rc != 0) {
        return rc;
    }
    rc = optimise(s, 1, err);
    if (rc == LM_ENUMERIC) {
        return NODE_ITEM_FAILED; /* a diverged item is data, not an environmental failure */
    }
    if (rc != 0) {
        return rc;
    }
    return record(s, it, 0, batch, err);
}

int node_invert_group_size(void *state)
{
    const invert_state *s = state;
    return s->B;
}

int node_invert_process_many(void *state, node_item **its, int n, int *rcs, lm_err *errs,
                             lm_batch *batch, lm_err *err)
{
    invert_state *s = state;
    node_item *slot_item[256];
    int slot_of[256];
    for (int i0 = 0; i0 < n; i0 += s->B) {
        int m = n - i0 < s->B ? n - i0 : s->B, k = 0;
        for (int q = 0; q < m; q++) {
            int rc = prepare(s, its[i0 + q], k, &errs[i0 + q]);
            if (rc < 0) {
                return lm_err_set(err, rc, "%s: %s", its[i0 + q]->plan.key, errs[i0 + q].msg);
            }
            if (rc > 0) {
                rcs[i0 + q] = NODE_ITEM_FAILED;
                continue;
            }
            slot_item[k] = its[i0 + q];
            slot_of[k++] = i0 + q;
        }
        if (k == 0) {
            continue;
        }
        lm_err e2 = {0};
        int rc = optimise(s, k, &e2);
        if (rc == LM_ENUMERIC) {
            /* Find the diverged item(s): each image again alone (same seeds, same result
             * up to batch rounding). */
            for (int q = 0; q < k; q++) {
                int j = slot_of[q];
                int r1 = node_invert_process(s, slot_item[q], batch, &errs[j]);
                if (r1 < 0) {
                    return lm_err_set(err, r1, "%s: %s", slot_item[q]->plan.key, errs[j].msg);
                }
                rcs[j] = r1;
            }
            continue;
        }
        if (rc != 0) {
            return lm_err_set(err, rc, "%s", e2.msg);
        }
        for (int q = 0; q < k; q++) {
            rc = record(s, slot_item[q], q, batch, &errs[slot_of[q]]);
            if (rc != 0) {
                return lm_err_set(err, rc, "%s", errs[slot_of[q]].msg);
            }
        }
    }
    return 0;
}
