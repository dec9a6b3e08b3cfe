/* invert.c - GAN inversion by optimisation (see invert.h). */
#include "models/invert.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernels/op_adam.h"
#include "kernels/op_gemm.h"
#include "models/faces_prep.h"
#include "shared/lm_log.h"
#include "shared/lm_npy.h"

#define INV_PI 3.14159265358979323846

void inv_params_default(inv_params *p)
{
    memset(p, 0, sizeof *p);
    p->space = INV_SPACE_W;
    p->steps = 1000;
    p->lr = 0.1f;
    p->lr_rampup = 0.05f;
    p->lr_rampdown = 0.25f;
    p->w_noise = 0.05f;
    p->w_noise_ramp = 0.75f;
    p->noise_reg = 1e5f;
    p->optimize_noise = 1;
    p->mse_weight = 1.0f;
    p->loss_res = 256;
    p->patience = 0;
    p->min_delta = 1e-3f;
    p->beta1 = 0.9f;
    p->beta2 = 0.999f;
    p->eps = 1e-8f;
}

int inv_params_check(const inv_params *p, const sg2_config *cfg, lm_err *err)
{
    (void)cfg;
    if (p->space != INV_SPACE_W && p->space != INV_SPACE_WPLUS) {
        return lm_err_set(err, LM_ECONFIG, "invert: space must be w or wplus");
    }
    if (p->steps < 1) {
        return lm_err_set(err, LM_ECONFIG, "invert: steps must be >= 1 (got %d)", p->steps);
    }
    if (!(p->lr > 0) || !(p->lr_rampup >= 0) || !(p->lr_rampdown >= 0) || !(p->w_noise >= 0) ||
        !(p->w_noise_ramp > 0) || !(p->noise_reg >= 0) || !(p->mse_weight > 0) ||
        !(p->min_delta >= 0)) {
        return lm_err_set(err, LM_ECONFIG,
                          "invert: lr and mse_weight must be > 0, ramps, noise factors, "
                          "noise_reg and min_delta >= 0");
    }
    if (p->loss_res < 4 || (p->loss_res & (p->loss_res - 1)) != 0) {
        return lm_err_set(err, LM_ECONFIG, "invert: loss_res must be a power of two >= 4 (got %d)",
                          p->loss_res);
    }
    if (p->patience < 0) {
        return lm_err_set(err, LM_ECONFIG, "invert: patience must be >= 0");
    }
    if (!(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) || !(p->eps > 0)) {
        return lm_err_set(err, LM_ECONFIG, "invert: Adam betas must be in [0,1), eps > 0");
    }
    return 0;
}

float inv_schedule_lr(const inv_params *p, int step, int steps)
{
    double t = (double)step / steps;
    double down = p->lr_rampdown > 0 ? fmin(1.0, (1.0 - t) / p->lr_rampdown) : 1.0;
    double ramp = 0.5 - 0.5 * cos(INV_PI * down);
    double up = p->lr_rampup > 0 ? fmin(1.0, t / p->lr_rampup) : 1.0;
    return (float)(p->lr * ramp * up);
}

float inv_schedule_wnoise(const inv_params *p, int step, int steps)
{
    double t = (double)step / steps;
    double r = fmax(0.0, 1.0 - t / p->w_noise_ramp);
    return (float)(p->w_noise * r * r);
}

/* ------------------------------------------------------------ W statistics */

/* Save a float32 array next to the model under a per-process temporary name, then
 * rename: ranks that race write the same bytes, and no reader sees a partial file. */
static int cache_save(const char *path, const uint64_t *shape, int ndim, const float *d,
                      lm_err *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%.4000s.%ld", path, (long)getpid());
    int rc = lm_npy_save(tmp, "<f4", 4, shape, ndim, d, err);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

int inv_wstats_compute(const sg2_model *m, int samples, uint64_t seed, float *w_avg,
                       float *w_std, lm_err *err)
{
    const sg2_config *cfg = sg2_model_config(m);
    if (samples < 1) {
        return lm_err_set(err, LM_ECONFIG, "w_avg samples must be >= 1");
    }
    int B = samples < 64 ? samples : 64, Z = cfg->z_dim, Wd = cfg->w_dim;
    sg2_ctx *g = NULL;
    int rc = sg2_ctx_create(&g, m, B, err);
    if (rc != 0) {
        return rc;
    }
    float *z = malloc(sizeof(float) * (size_t)B * Z);
    float *w = malloc(sizeof(float) * (size_t)samples * Wd);
    double *acc = calloc((size_t)Wd, sizeof(double));
    if (z == NULL || w == NULL || acc == NULL) {
        rc = lm_err_set(err, -ENOMEM, "out of memory for %d w samples", samples);
        goto out;
    }
    uint64_t rng = seed;
    for (int s0 = 0; s0 < samples; s0 += B) {
        int n = samples - s0 < B ? samples - s0 : B;
        for (size_t k = 0; k < (size_t)n * Z; k++) {
            z[k] = sg2_rng_normal(&rng);
        }
        rc = sg2_mapping_forward(g, z, n, w + (size_t)s0 * Wd, err);
        if (rc != 0) {
            lm_err_set(err, rc, "mapping forward failed");
            goto out;
        }
    }
    for (int s = 0; s < samples; s++) {
        for (int k = 0; k < Wd; k++) {
            acc[k] += w[(size_t)s * Wd + k];
        }
    }
    double var = 0;
    for (int k = 0; k < Wd; k++) {
        acc[k] /= samples;
        w_avg[k] = (float)acc[k];
    }
    for (int s = 0; s < samples; s++) {
        for (int k = 0; k < Wd; k++) {
            double d = w[(size_t)s * Wd + k] - acc[k];
            var += d * d;
        }
    }
    *w_std = (float)sqrt(var / samples);
out:
    free(z);
    free(w);
    free(acc);
    sg2_ctx_free(g);
    return rc;
}

int inv_wstats_load(const sg2_model *m, const char *model_path, int samples, float *w_avg,
                    float *w_std, int *cached, lm_err *err)
{
    const sg2_config *cfg = sg2_model_config(m);
    int Wd = cfg->w_dim;
    char path[4096];
    *cached = 0;
    snprintf(path, sizeof path, "%s.wavg-%d.npy", model_path, samples);
    struct stat sm, sc;
    if (stat(model_path, &sm) == 0 && stat(path, &sc) == 0 && sc.st_mtime >= sm.st_mtime) {
        float *d = NULL;
        int64_t shape[4];
        int nd = 0;
        lm_err e2 = {0};
        if (inv_npy_read_f32(path, &d, shape, &nd, &e2) == 0 && nd == 1 && shape[0] == Wd + 1 &&
            isfinite(d[Wd]) && d[Wd] > 0) {
            memcpy(w_avg, d, sizeof(float) * (size_t)Wd);
            *w_std = d[Wd];
            *cached = 1;
            free(d);
            return 0;
        }
        free(d);
        lm_log(LM_LOG_WARN, "%s: unusable w_avg cache (%s); recomputing", path,
               e2.msg[0] ? e2.msg : "wrong shape");
    }
    int rc = inv_wstats_compute(m, samples, 123, w_avg, w_std, err);
    if (rc != 0) {
        return rc;
    }
    float *d = malloc(sizeof(float) * (size_t)(Wd + 1));
    if (d == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(d, w_avg, sizeof(float) * (size_t)Wd);
    d[Wd] = *w_std;
    uint64_t shape = (uint64_t)Wd + 1;
    lm_err e2 = {0};
    if (cache_save(path, &shape, 1, d, &e2) != 0) {
        lm_log(LM_LOG_WARN, "cannot cache w_avg next to the model: %s", e2.msg);
    }
    free(d);
    return 0;
}

/* ------------------------------------------------------------ nearest-neighbour bank */

static int bank_T(const sg2_config *cfg)
{
    return cfg->img_resolution < 16 ? cfg->img_resolution : 16;
}

int inv_bank_stride(const sg2_model *m)
{
    const sg2_config *cfg = sg2_model_config(m);
    int T = bank_T(cfg);
    return cfg->w_dim + cfg->img_channels * T * T;
}

static void thumb(float *out, const float *img, int C, int R, int T)
{
    int f = R / T;
    float s = 1.0f / ((float)f * f);
    for (int c = 0; c < C; c++) {
        for (int y = 0; y < T; y++) {
            for (int x = 0; x < T; x++) {
                float acc = 0;
                for (int a = 0; a < f; a++) {
                    for (int b = 0; b < f; b++) {
                        acc += img[((size_t)c * R + (size_t)y * f + a) * R + (size_t)x * f + b];
                    }
                }
                out[((size_t)c * T + y) * T + x] = acc * s;
            }
        }
    }
}

int inv_bank_build(const sg2_model *m, int K, uint64_t seed, float *bank, lm_err *err)
{
    const sg2_config *cfg = sg2_model_config(m);
    int B = K < 8 ? K : 8, Z = cfg->z_dim, Wd = cfg->w_dim, R = cfg->img_resolution;
    int C = cfg->img_channels, T = bank_T(cfg), st = inv_bank_stride(m);
    sg2_ctx *g = NULL;
    int rc = sg2_ctx_create(&g, m, B, err);
    if (rc != 0) {
        return rc;
    }
    float *z = malloc(sizeof(float) * (size_t)B * Z), *w = malloc(sizeof(float) * (size_t)B * Wd);
    float *ws = malloc(sizeof(float) * (size_t)B * cfg->num_ws * Wd);
    float *img = malloc(sizeof(float) * (size_t)B * C * R * R);
    if (!z || !w || !ws || !img) {
        rc = lm_err_set(err, -ENOMEM, "out of memory for the bank");
        goto out;
    }
    uint64_t rng = seed;
    for (int k0 = 0; k0 < K; k0 += B) {
        int n = K - k0 < B ? K - k0 : B;
        for (size_t q = 0; q < (size_t)n * Z; q++) {
            z[q] = sg2_rng_normal(&rng);
        }
        if ((rc = sg2_mapping_forward(g, z, n, w, err)) != 0) {
            lm_err_set(err, rc, "mapping forward failed");
            goto out;
        }
        sg2_ws_broadcast(ws, w, n, cfg->num_ws, Wd);
        if ((rc = sg2_synthesis_forward(g, ws, n, SG2_NOISE_CONST, NULL, img, err)) != 0) {
            lm_err_set(err, rc, "synthesis forward failed");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            float *row = bank + (size_t)(k0 + i) * st;
            memcpy(row, w + (size_t)i * Wd, sizeof(float) * (size_t)Wd);
            thumb(row + Wd, img + (size_t)i * C * R * R, C, R, T);
        }
    }
out:
    free(z);
    free(w);
    free(ws);
    free(img);
    sg2_ctx_free(g);
    return rc;
}

int inv_bank_load(const sg2_model *m, const char *model_path, int K, float **bank, int *cached,
                  lm_err *err)
{
    int st = inv_bank_stride(m);
    char path[4096];
    *cached = 0;
    *bank = NULL;
    if (K < 1) {
        return lm_err_set(err, LM_ECONFIG, "nn bank size must be >= 1");
    }
    snprintf(path, sizeof path, "%s.nnbank-%d.npy", model_path, K);
    struct stat sm, sc;
    if (stat(model_path, &sm) == 0 && stat(path, &sc) == 0 && sc.st_mtime >= sm.st_mtime) {
        float *d = NULL;
        int64_t shape[4];
        int nd = 0;
        lm_err e2 = {0};
        if (inv_npy_read_f32(path, &d, shape, &nd, &e2) == 0 && nd == 2 && shape[0] == K &&
            shape[1] == st) {
            *bank = d;
            *cached = 1;
            return 0;
        }
        free(d);
        lm_log(LM_LOG_WARN, "%s: unusable bank cache; rebuilding", path);
    }
    float *d = malloc(sizeof(float) * (size_t)K * st);
    if (d == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory for a bank of %d samples", K);
    }
    int rc = inv_bank_build(m, K, 0x6e6e62616e6bULL, d, err);
    if (rc != 0) {
        free(d);
        return rc;
    }
    uint64_t shape[2] = {(uint64_t)K, (uint64_t)st};
    lm_err e2 = {0};
    if (cache_save(path, shape, 2, d, &e2) != 0) {
        lm_log(LM_LOG_WARN, "cannot cache the bank next to the model: %s", e2.msg);
    }
    *bank = d;
    return 0;
}

int inv_bank_nearest(const sg2_model *m, const float *bank, int K, const float *target,
                     float *w_out)
{
    const sg2_config *cfg = sg2_model_config(m);
    int Wd = cfg->w_dim, C = cfg->img_channels, T = bank_T(cfg), st = inv_bank_stride(m);
    int D = C * T * T;
    float q[3 * 16 * 16];
    if (D > 3 * 16 * 16) {
        return LM_ECONFIG;
    }
    thumb(q, target, C, cfg->img_resolution, T);
    int best = 0;
    double bd = INFINITY;
    for (int k = 0; k < K; k++) {
        const float *row = bank + (size_t)k * st + Wd;
        double d = 0;
        for (int j = 0; j < D; j++) {
            double e = row[j] - q[j];
            d += e * e;
        }
        if (d < bd) {
            bd = d;
            best = k;
        }
    }
    memcpy(w_out, bank + (size_t)best * st, sizeof(float) * (size_t)Wd);
    return best;
}

/* ------------------------------------------------------------ npy reader */

int inv_npy_read_f32(const char *path, float **data, int64_t shape[4], int *ndim, lm_err *err)
{
    uint64_t sh[4];
    int rc = lm_npy_load_f32(path, data, sh, ndim, err);
    uint64_t count = 1;
    for (int i = 0; rc == 0 && i < *ndim; i++) {
        shape[i] = (int64_t)sh[i];
        count *= sh[i];
    }
    if (rc == 0 && count == 0) {
        free(*data);
        *data = NULL;
        rc = lm_err_set(err, LM_EFORMAT, "%s: empty array", path);
    }
    return rc;
}

/* ------------------------------------------------------------ image helpers */

void inv_target_from_u8(float *dst, const uint8_t *hwc, int R, int C)
{
    size_t P = (size_t)R * R;
    for (int c = 0; c < C; c++) {
        for (size_t p = 0; p < P; p++) {
            dst[c * P + p] = hwc[p * C + c] / 127.5f - 1.0f;
        }
    }
}

int inv_target_from_image(float *dst, const lm_image *im, int R, lm_err *err)
{
    int side = im->w < im->h ? im->w : im->h;
    int x0 = (im->w - side) / 2, y0 = (im->h - side) / 2;
    lm_image sq = {side, side, 3, malloc((size_t)side * side * 3)};
    if (sq.px == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    for (int y = 0; y < side; y++) {
        memcpy(sq.px + (size_t)y * side * 3, im->px + ((size_t)(y0 + y) * im->w + x0) * 3,
               (size_t)side * 3);
    }
    lm_image out = {0};
    int rc = 0;
    if (side == R) {
        out = sq;
        sq.px = NULL;
    } else {
        rc = lm_img_resize(&out, &sq, R, R, err);
    }
    if (rc == 0) {
        inv_target_from_u8(dst, out.px, R, 3);
    }
    lm_img_fini(&sq);
    lm_img_fini(&out);
    return rc;
}

void inv_image_to_u8(uint8_t *hwc, const float *chw, int R, int C)
{
    size_t P = (size_t)R * R;
    for (int c = 0; c < C; c++) {
        for (size_t p = 0; p < P; p++) {
            float v = roundf((chw[c * P + p] + 1.0f) * 127.5f);
            hwc[p * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

float inv_psnr(const float *img, const float *target, size_t count)
{
    double se = 0;
    for (size_t i = 0; i < count; i++) {
        float x = img[i] < -1 ? -1 : img[i] > 1 ? 1 : img[i];
        double d = x - target[i];
        se += d * d;
    }
    double mse = se / (double)count;
    if (mse <= 0) {
        return 200.0f;
    }
    return (float)(10.0 * log10(4.0 / mse));
}

/* ------------------------------------------------------------ context */

struct inv_ctx {
    const sg2_model *m;
    inv_params p;
    int B, rows, Wd, num_ws, C, R, L, f, nnoise, maxr;
    sg2_ctx *g;
    float *lat, *lat_m, *lat_v, *dlat; /* [B, rows, Wd] */
    float *ws, *dws;                   /* [B, num_ws, Wd] */
    float *eps;                        /* [Wd] */
    float *img, *dimg;                 /* [B, C, R, R] */
    float *imgL, *dimgL, *tgtL;        /* [B, C, L, L] (only when L < R) */
    float **nz_m, **nz_v, **dnoise;    /* per noise input: [B, r, r] */
    int *nres;
    float *pyr; /* regulariser scratch [4 maxr^2] */
    float *w_avg;
    float w_std;
    int have_wstats;
    uint64_t *rng;
    float *best, *last, *mse, *dl;
    int *since, *done, *used;
    inv_step_fn hook;
    void *hook_user;
    const frec_model *fm;              /* identity term (NULL: off) */
    float id_weight;
    float *fws, *fbws, *fin, *fdin;    /* frec workspaces, input/gradient [150][150][3] */
    float *amat, *atmp, *aout;         /* area resampling [150 x R], [150 x R], [150 x 150] */
    float *tdesc, *idv;                /* target descriptors [B, 128], id terms [B] */
    size_t bytes;
};

static void *xalloc(inv_ctx *c, size_t n, int *fail)
{
    void *p = calloc(n ? n : 1, 1);
    if (p == NULL) {
        *fail = 1;
    }
    c->bytes += n;
    return p;
}

void inv_ctx_free(inv_ctx *c)
{
    if (c == NULL) {
        return;
    }
    sg2_ctx_free(c->g);
    free(c->lat);
    free(c->lat_m);
    free(c->lat_v);
    free(c->dlat);
    free(c->ws);
    free(c->dws);
    free(c->eps);
    free(c->img);
    free(c->dimg);
    free(c->imgL);
    free(c->dimgL);
    free(c->tgtL);
    for (int i = 0; i < c->nnoise; i++) {
        if (c->nz_m) {
            free(c->nz_m[i]);
        }
        if (c->nz_v) {
            free(c->nz_v[i]);
        }
        if (c->dnoise) {
            free(c->dnoise[i]);
        }
    }
    free(c->nz_m);
    free(c->nz_v);
    free(c->dnoise);
    free(c->nres);
    free(c->pyr);
    free(c->fws);
    free(c->fbws);
    free(c->fin);
    free(c->fdin);
    free(c->amat);
    free(c->atmp);
    free(c->aout);
    free(c->tdesc);
    free(c->idv);
    free(c->w_avg);
    free(c->rng);
    free(c->best);
    free(c->last);
    free(c->mse);
    free(c->dl);
    free(c->since);
    free(c->done);
    free(c->used);
    free(c);
}

int inv_ctx_create(inv_ctx **out, const sg2_model *m, const inv_params *p, int batch, lm_err *err)
{
    *out = NULL;
    const sg2_config *cfg = sg2_model_config(m);
    int rc = inv_params_check(p, cfg, err);
    if (rc != 0) {
        return rc;
    }
    if (batch < 1) {
        return lm_err_set(err, LM_ECONFIG, "invert: batch must be >= 1");
    }
    if (cfg->img_channels != 3) {
        return lm_err_set(err, LM_ECONFIG, "invert: the generator has %d image channels (need 3)",
                          cfg->img_channels);
    }
    inv_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    c->m = m;
    c->p = *p;
    c->B = batch;
    c->Wd = cfg->w_dim;
    c->num_ws = cfg->num_ws;
    c->rows = p->space == INV_SPACE_WPLUS ? cfg->num_ws : 1;
    c->C = cfg->img_channels;
    c->R = cfg->img_resolution;
    c->L = c->R < p->loss_res ? c->R : p->loss_res;
    c->f = c->R / c->L;
    c->nnoise = sg2_model_num_noise(m);
    rc = sg2_ctx_create(&c->g, m, batch, err);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->bytes = sg2_ctx_bytes(c->g);
    int fail = 0;
    size_t B = (size_t)batch, F = sizeof(float);
    size_t nlat = B * c->rows * c->Wd, nws = B * c->num_ws * c->Wd;
    size_t nimg = B * c->C * c->R * c->R, nL = B * c->C * c->L * c->L;
    c->lat = xalloc(c, nlat * F, &fail);
    c->lat_m = xalloc(c, nlat * F, &fail);
    c->lat_v = xalloc(c, nlat * F, &fail);
    c->dlat = xalloc(c, nlat * F, &fail);
    c->ws = xalloc(c, nws * F, &fail);
    c->dws = xalloc(c, nws * F, &fail);
    c->eps = xalloc(c, (size_t)c->Wd * F, &fail);
    c->img = xalloc(c, nimg * F, &fail);
    c->dimg = xalloc(c, nimg * F, &fail);
    if (c->f > 1) {
        c->imgL = xalloc(c, nL * F, &fail);
        c->dimgL = xalloc(c, nL * F, &fail);
        c->tgtL = xalloc(c, nL * F, &fail);
    }
    c->nz_m = xalloc(c, (size_t)c->nnoise * sizeof(float *), &fail);
    c->nz_v = xalloc(c, (size_t)c->nnoise * sizeof(float *), &fail);
    c->dnoise = xalloc(c, (size_t)c->nnoise * sizeof(float *), &fail);
    c->nres = xalloc(c, (size_t)c->nnoise * sizeof(int), &fail);
    c->maxr = 4;
    for (int i = 0; i < c->nnoise && !fail; i++) {
        int r = sg2_model_noise_res(m, i, NULL);
        c->nres[i] = r;
        if (r > c->maxr) {
            c->maxr = r;
        }
        c->nz_m[i] = xalloc(c, B * r * r * F, &fail);
        c->nz_v[i] = xalloc(c, B * r * r * F, &fail);
        c->dnoise[i] = xalloc(c, B * r * r * F, &fail);
    }
    c->pyr = xalloc(c, 4 * (size_t)c->maxr * c->maxr * F, &fail);
    c->w_avg = xalloc(c, (size_t)c->Wd * F, &fail);
    c->rng = xalloc(c, B * sizeof(uint64_t), &fail);
    c->best = xalloc(c, B * F, &fail);
    c->last = xalloc(c, B * F, &fail);
    c->mse = xalloc(c, B * F, &fail);
    c->dl = xalloc(c, B * F, &fail);
    c->since = xalloc(c, B * sizeof(int), &fail);
    c->done = xalloc(c, B * sizeof(int), &fail);
    c->used = xalloc(c, B * sizeof(int), &fail);
    if (fail) {
        size_t b = c->bytes;
        inv_ctx_free(c);
        return lm_err_set(err, -ENOMEM, "out of memory for the inversion context (%zu bytes)", b);
    }
    *out = c;
    return 0;
}

size_t inv_ctx_bytes(const inv_ctx *c)
{
    return c->bytes;
}
int inv_ctx_rows(const inv_ctx *c)
{
    return c->rows;
}

void inv_ctx_set_wstats(inv_ctx *c, const float *w_avg, float w_std)
{
    memcpy(c->w_avg, w_avg, sizeof(float) * (size_t)c->Wd);
    c->w_std = w_std;
    c->have_wstats = 1;
}

int inv_ctx_set_identity(inv_ctx *c, const frec_model *fm, float weight, lm_err *err)
{
    c->fm = NULL;
    c->id_weight = 0;
    if (fm == NULL || !(weight > 0)) {
        return 0;
    }
    int R = c->R, S = FREC_SIZE, fail = 0;
    size_t F = sizeof(float);
    if (c->fws == NULL) {
        c->fws = xalloc(c, frec_ws_floats() * F, &fail);
        c->fbws = xalloc(c, frec_backward_ws_floats() * F, &fail);
        c->fin = xalloc(c, (size_t)S * S * 3 * F, &fail);
        c->fdin = xalloc(c, (size_t)S * S * 3 * F, &fail);
        c->amat = xalloc(c, (size_t)S * R * F, &fail);
        c->atmp = xalloc(c, (size_t)S * R * F, &fail);
        c->aout = xalloc(c, (size_t)S * (S > R ? S : R) * F, &fail);
        c->tdesc = xalloc(c, (size_t)c->B * FREC_DIM * F, &fail);
        c->idv = xalloc(c, (size_t)c->B * F, &fail);
        if (fail) {
            return lm_err_set(err, -ENOMEM, "out of memory for the identity loss");
        }
        /* Area weights: output o covers [o*s, (o+1)*s) of the input, s = R/S. */
        double sc = (double)R / S;
        for (int o = 0; o < S; o++) {
            double a0 = o * sc, a1 = (o + 1) * sc;
            for (int i = 0; i < R; i++) {
                double ov = fmin(a1, i + 1.0) - fmax(a0, (double)i);
                c->amat[(size_t)o * R + i] = ov > 0 ? (float)(ov / sc) : 0.0f;
            }
        }
    }
    c->fm = fm;
    c->id_weight = weight;
    return 0;
}

/* Image [3, R, R] in [-1, 1] -> frec input [150][150][3] ((v - mean)/255, v = (x+1)*127.5). */
static void face_input(inv_ctx *c, const float *img)
{
    int R = c->R, S = FREC_SIZE;
    for (int ch = 0; ch < 3; ch++) {
        op_sgemm(0, 0, S, R, R, 1.0f, c->amat, R, img + (size_t)ch * R * R, R, 0.0f, c->atmp, R);
        op_sgemm(0, 1, S, S, R, 1.0f, c->atmp, R, c->amat, R, 0.0f, c->aout, S);
        for (int p = 0; p < S * S; p++) {
            c->fin[p * 3 + ch] = ((c->aout[p] + 1.0f) * 127.5f - faces_mean_face[ch]) / 255.0f;
        }
    }
}

/* dimg [3, R, R] += adjoint of face_input applied to c->fdin. */
static void face_input_adjoint(inv_ctx *c, float *dimg)
{
    int R = c->R, S = FREC_SIZE;
    for (int ch = 0; ch < 3; ch++) {
        for (int p = 0; p < S * S; p++) {
            c->aout[p] = c->fdin[p * 3 + ch] * (127.5f / 255.0f);
        }
        /* atmp [R x S] = A^T g;  dimg_ch += atmp A */
        op_sgemm(1, 0, R, S, S, 1.0f, c->amat, R, c->aout, S, 0.0f, c->atmp, S);
        op_sgemm(0, 0, R, R, S, 1.0f, c->atmp, S, c->amat, R, 1.0f, dimg + (size_t)ch * R * R, R);
    }
}

/* Identity term of image i (and, when grad, its gradient added to c->dimg). */
static float identity_term(inv_ctx *c, int i, int grad)
{
    size_t per = (size_t)c->C * c->R * c->R;
    float desc[FREC_DIM], dd[FREC_DIM];
    face_input(c, c->img + i * per);
    frec_forward(c->fm, desc, c->fws, c->fin);
    double id = 0;
    for (int k = 0; k < FREC_DIM; k++) {
        float d = desc[k] - c->tdesc[(size_t)i * FREC_DIM + k];
        id += (double)d * d;
        dd[k] = 2.0f * c->id_weight * d;
    }
    if (grad) {
        frec_backward(c->fm, c->fdin, c->fbws, c->fws, c->fin, dd);
        face_input_adjoint(c, c->dimg + i * per);
    }
    return (float)id;
}

void inv_ctx_set_hook(inv_ctx *c, inv_step_fn fn, void *user)
{
    c->hook = fn;
    c->hook_user = user;
}

/* ------------------------------------------------------------ loss pieces */

/* Box downsampling by f of [planes, R, R] -> [planes, R/f, R/f], and its adjoint. */
static void box_down(float *out, const float *in, int64_t planes, int R, int f)
{
    int L = R / f;
    float s = 1.0f / ((float)f * f);
#pragma omp parallel for if (planes * R * R > 65536) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        for (int y = 0; y < L; y++) {
            for (int x = 0; x < L; x++) {
                float acc = 0;
                for (int a = 0; a < f; a++) {
                    const float *row =
                        in + ((size_t)pl * R + (size_t)y * f + a) * R + (size_t)x * f;
                    for (int b = 0; b < f; b++) {
                        acc += row[b];
                    }
                }
                out[((size_t)pl * L + y) * L + x] = acc * s;
            }
        }
    }
}

static void box_down_adjoint(float *din, const float *dout, int64_t planes, int R, int f)
{
    int L = R / f;
    float s = 1.0f / ((float)f * f);
#pragma omp parallel for if (planes * R * R > 65536) schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        for (int y = 0; y < R; y++) {
            for (int x = 0; x < R; x++) {
                din[((size_t)pl * R + y) * R + x] = dout[((size_t)pl * L + y / f) * L + x / f] * s;
            }
        }
    }
}

/* NVlabs noise regulariser of one [r, r] map, adding weight * d(reg)/dn to g.
 * Levels: r, r/2, ... down to 8 (a map of side <= 8 has one level). Returns reg. */
double inv_noise_reg(const float *n, float *g, int r, float weight, float *scratch)
{
    float *pyr = scratch, *gpyr = scratch + 2 * (size_t)r * r;
    int off[16], side[16], nl = 0;
    size_t o = 0;
    memcpy(pyr, n, sizeof(float) * (size_t)r * r);
    int s = r;
    for (;;) {
        off[nl] = (int)o;
        side[nl] = s;
        nl++;
        o += (size_t)s * s;
        if (s <= 8) {
            break;
        }
        const float *a = pyr + off[nl - 1];
        float *b = pyr + o;
        int h = s / 2;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < h; x++) {
                b[y * h + x] =
                    0.25f * (a[(2 * y) * s + 2 * x] + a[(2 * y) * s + 2 * x + 1] +
                             a[(2 * y + 1) * s + 2 * x] + a[(2 * y + 1) * s + 2 * x + 1]);
            }
        }
        s = h;
    }
    double reg = 0;
    for (int l = nl - 1; l >= 0; l--) {
        const float *a = pyr + off[l];
        float *ga = gpyr + off[l];
        int S = side[l];
        double M = (double)S * S, sa = 0, sb = 0;
        for (int y = 0; y < S; y++) {
            for (int x = 0; x < S; x++) {
                float v = a[y * S + x];
                sa += (double)v * a[y * S + (x + 1) % S];
                sb += (double)v * a[((y + 1) % S) * S + x];
            }
        }
        double A = sa / M, Bv = sb / M;
        reg += A * A + Bv * Bv;
        float ca = (float)(2.0 * A / M), cb = (float)(2.0 * Bv / M);
        for (int y = 0; y < S; y++) {
            for (int x = 0; x < S; x++) {
                float gv = ca * (a[y * S + (x + S - 1) % S] + a[y * S + (x + 1) % S]) +
                           cb * (a[((y + S - 1) % S) * S + x] + a[((y + 1) % S) * S + x]);
                if (l < nl - 1) { /* adjoint of the 2x2 average pool to the coarser level */
                    int h = S / 2;
                    gv += 0.25f * gpyr[off[l + 1] + (y / 2) * h + x / 2];
                }
                ga[y * S + x] = gv;
            }
        }
    }
    for (size_t k = 0; k < (size_t)r * r; k++) {
        g[k] += weight * gpyr[k];
    }
    return reg;
}

static void noise_renorm(float *n, size_t P)
{
    double s = 0, ss = 0;
    for (size_t k = 0; k < P; k++) {
        s += n[k];
    }
    float mean = (float)(s / (double)P);
    for (size_t k = 0; k < P; k++) {
        n[k] -= mean;
        ss += (double)n[k] * n[k];
    }
    float inv = (float)(1.0 / sqrt(ss / (double)P));
    for (size_t k = 0; k < P; k++) {
        n[k] *= inv;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ws for n images: rows from the latents plus sigma * (one N(0,I) draw per image). */
static void build_ws(inv_ctx *c, int n, float sigma)
{
    int Wd = c->Wd;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < Wd; k++) {
            c->eps[k] = sigma * sg2_rng_normal(&c->rng[i]);
        }
        for (int j = 0; j < c->num_ws; j++) {
            const float *src = c->lat + ((size_t)i * c->rows + (c->rows == 1 ? 0 : j)) * Wd;
            float *dst = c->ws + ((size_t)i * c->num_ws + j) * Wd;
            for (int k = 0; k < Wd; k++) {
                dst[k] = src[k] + c->eps[k];
            }
        }
    }
}

/* Image loss of n images at the loss resolution: per-image mse into mse[i]; when dimg is
 * wanted, c->dimg = d(mse_weight * mse_i)/dimg (zero for stopped images). */
static void image_loss(inv_ctx *c, int n, const float *target, float *mse, int want_grad)
{
    size_t per = (size_t)c->C * c->L * c->L;
    const float *x = c->img, *t = target;
    float *dx = c->dimg;
    if (c->f > 1) {
        box_down(c->imgL, c->img, (int64_t)n * c->C, c->R, c->f);
        x = c->imgL;
        t = c->tgtL;
        dx = c->dimgL;
    }
    for (int i = 0; i < n; i++) {
        double se = 0;
        const float *xi = x + i * per, *ti = t + i * per;
        float *di = dx + i * per;
        float g = (float)(2.0 * c->p.mse_weight / (double)per);
        int active = want_grad && !c->done[i];
        for (size_t k = 0; k < per; k++) {
            float d = xi[k] - ti[k];
            se += (double)d * d;
            if (want_grad) {
                di[k] = active ? g * d : 0.0f;
            }
        }
        mse[i] = (float)(se / (double)per);
    }
    if (want_grad && c->f > 1) {
        box_down_adjoint(c->dimg, c->dimgL, (int64_t)n * c->C, c->R, c->f);
    }
}

int inv_run(inv_ctx *c, const float *target, int n, const uint64_t *seeds, const float *w_init,
            float *latent, float *recon, inv_result *res, lm_err *err)
{
    const inv_params *p = &c->p;
    if (n < 1 || n > c->B) {
        return lm_err_set(err, LM_ECONFIG, "invert: %d images for a context of %d", n, c->B);
    }
    if (w_init == NULL && !c->have_wstats) {
        return lm_err_set(err, LM_ECONFIG, "invert: no w statistics (inv_ctx_set_wstats)");
    }
    double t0 = now_s();
    int Wd = c->Wd, rows = c->rows, rc = 0;
    size_t per_lat = (size_t)rows * Wd, per_img = (size_t)c->C * c->R * c->R;
    enum sg2_noise_mode mode = p->optimize_noise ? SG2_NOISE_USER : SG2_NOISE_CONST;
    /* Init: latents, moments, per-image RNG, noise maps N(0,1) (renormalised like NVlabs). */
    for (int i = 0; i < n; i++) {
        const float *w0 = w_init ? w_init + (size_t)i * Wd : c->w_avg;
        for (int j = 0; j < rows; j++) {
            memcpy(c->lat + i * per_lat + (size_t)j * Wd, w0, sizeof(float) * (size_t)Wd);
        }
        c->rng[i] = seeds[i];
        c->best[i] = INFINITY;
        c->last[i] = INFINITY;
        c->since[i] = 0;
        c->done[i] = 0;
        c->used[i] = p->steps;
    }
    memset(c->lat_m, 0, sizeof(float) * n * per_lat);
    memset(c->lat_v, 0, sizeof(float) * n * per_lat);
    for (int q = 0; q < c->nnoise; q++) {
        size_t P = (size_t)c->nres[q] * c->nres[q];
        float *nz = sg2_ctx_noise(c->g, q);
        memset(c->nz_m[q], 0, sizeof(float) * n * P);
        memset(c->nz_v[q], 0, sizeof(float) * n * P);
        for (int i = 0; i < n; i++) {
            for (size_t k = 0; k < P; k++) {
                nz[i * P + k] = sg2_rng_normal(&c->rng[i]);
            }
        }
    }
    if (c->f > 1) {
        box_down(c->tgtL, target, (int64_t)n * c->C, c->R, c->f);
    }
    if (c->fm != NULL) {
        for (int i = 0; i < n; i++) {
            face_input(c, target + i * per_img);
            frec_forward(c->fm, c->tdesc + (size_t)i * FREC_DIM, c->fws, c->fin);
            c->idv[i] = 0;
        }
    }
    float *mse = c->mse, *dl = c->dl;
    op_adam_hp hp = {0, p->beta1, p->beta2, p->eps};
    for (int step = 0; step < p->steps; step++) {
        int active = 0;
        for (int i = 0; i < n; i++) {
            active += !c->done[i];
        }
        if (active == 0) {
            break;
        }
        float sigma = c->w_std * inv_schedule_wnoise(p, step, p->steps);
        hp.lr = inv_schedule_lr(p, step, p->steps);
        build_ws(c, n, sigma);
        rc = sg2_synthesis_forward(c->g, c->ws, n, mode, NULL, c->img, NULL);
        if (rc != 0) {
            return lm_err_set(err, rc, "invert: synthesis forward failed");
        }
        image_loss(c, n, target, mse, 1);
        for (int i = 0; i < n && c->fm != NULL; i++) {
            if (!c->done[i]) {
                c->idv[i] = identity_term(c, i, 1);
            }
        }
        for (int i = 0; i < n; i++) {
            float l = p->mse_weight * mse[i] + (c->fm ? c->id_weight * c->idv[i] : 0.0f);
            if (!isfinite(l)) {
                return lm_err_set(err, LM_ENUMERIC, "invert: image %d: loss %g at step %d", i,
                                  (double)l, step);
            }
            if (!c->done[i]) {
                c->last[i] = l;
            }
            dl[i] = c->last[i];
        }
        if (c->hook) {
            c->hook(c->hook_user, step, n, dl);
        }
        rc = sg2_synthesis_backward(c->g, c->dimg, c->dws, p->optimize_noise ? c->dnoise : NULL,
                                    NULL);
        if (rc != 0) {
            return lm_err_set(err, rc, "invert: synthesis backward failed");
        }
        if (rows == 1) {
            sg2_ws_grad_to_w(c->dlat, c->dws, n, c->num_ws, Wd, 1.0f, 0);
        } else {
            memcpy(c->dlat, c->dws, sizeof(float) * n * per_lat);
        }
        for (int i = 0; i < n; i++) {
            if (c->done[i]) {
                continue;
            }
            op_adam_step(c->lat + i * per_lat, c->dlat + i * per_lat, c->lat_m + i * per_lat,
                         c->lat_v + i * per_lat, (int64_t)per_lat, step + 1, &hp);
        }
        if (p->optimize_noise) {
            for (int q = 0; q < c->nnoise; q++) {
                int r = c->nres[q];
                size_t P = (size_t)r * r;
                float *nz = sg2_ctx_noise(c->g, q);
                for (int i = 0; i < n; i++) {
                    if (c->done[i]) {
                        continue;
                    }
                    float *g = c->dnoise[q] + i * P;
                    if (p->noise_reg > 0) {
                        inv_noise_reg(nz + i * P, g, r, p->noise_reg, c->pyr);
                    }
                    op_adam_step(nz + i * P, g, c->nz_m[q] + i * P, c->nz_v[q] + i * P, (int64_t)P,
                                 step + 1, &hp);
                    noise_renorm(nz + i * P, P);
                }
            }
        }
        /* Early stopping on the data loss of this step, once the lr ramp-up is over. */
        int warm = step >= (int)(p->lr_rampup * p->steps);
        for (int i = 0; i < n && warm; i++) {
            if (c->done[i]) {
                continue;
            }
            float l = c->last[i];
            if (l < c->best[i] * (1.0f - p->min_delta)) {
                c->best[i] = l;
                c->since[i] = 0;
            } else if (++c->since[i] >= p->patience && p->patience > 0) {
                c->done[i] = 1;
                c->used[i] = step + 1;
            }
        }
    }
    /* Final clean render (no w-noise, same noise maps). */
    build_ws(c, n, 0.0f);
    rc = sg2_synthesis_forward(c->g, c->ws, n, mode, NULL, c->img, NULL);
    if (rc != 0) {
        return lm_err_set(err, rc, "invert: synthesis forward failed");
    }
    image_loss(c, n, target, mse, 0);
    double secs = (now_s() - t0) / n;
    for (int i = 0; i < n; i++) {
        double reg = 0;
        if (p->optimize_noise) {
            for (int q = 0; q < c->nnoise; q++) {
                int r = c->nres[q];
                size_t P = (size_t)r * r;
                memset(c->dnoise[q], 0, sizeof(float) * P);
                reg += inv_noise_reg(sg2_ctx_noise(c->g, q) + i * P, c->dnoise[q], r, 0.0f, c->pyr);
            }
        }
        float id = c->fm != NULL ? identity_term(c, i, 0) : 0.0f;
        res[i].steps = c->used[i];
        res[i].mse = mse[i];
        res[i].reg = (float)reg;
        res[i].id = id;
        res[i].loss = (float)(p->mse_weight * mse[i] + c->id_weight * id + p->noise_reg * reg);
        res[i].psnr = inv_psnr(c->img + i * per_img, target + i * per_img, per_img);
        res[i].seconds = secs;
    }
    memcpy(latent, c->lat, sizeof(float) * n * per_lat);
    if (recon != NULL) {
        memcpy(recon, c->img, sizeof(float) * n * per_img);
    }
    return 0;
}
