/*
 * sg2_run.c - StyleGAN2 execution context: the activation arena (sized once per batch),
 * mapping forward/backward, synthesis forward/backward (spec sections 4-6).
 *
 * Layout: activations are channel-major CNHW ([C, N, r*r]) so each modulated conv is
 *   s = affine(ws row); d = demod(s, Q); xs = x * s; c = K(xs) (one GEMM for the batch);
 *   y = lrelu(c * d + ns * noise + bias) * sqrt(2), clamped.
 * Backward per layer uses only y of the layer and of its input (c is recovered from y,
 * spec 6.3): no per-sample weights, no weight gradients.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/op_bias_act.h"
#include "kernels/op_conv2d.h"
#include "kernels/op_conv2d_wino.h"
#include "kernels/op_fc.h"
#include "kernels/op_gemm.h"
#include "kernels/op_modconv.h"
#include "kernels/op_pixnorm.h"
#include "kernels/op_upconv2d.h"
#include "kernels/op_upfirdn2d.h"
#include "models/sg2_internal.h"

typedef struct lbuf {
    float *y;     /* layer output [cout, B, r*r] (torgb: its own output before the skip sum) */
    float *s;     /* styles [B, cin] (torgb: including the 1/sqrt(cin) weight gain) */
    float *d;     /* demodulation [B, cout] */
    float *s2;    /* demodulation scratch [B, cin] */
    float *noise; /* per-image noise [B, r*r] (RANDOM and USER modes) */
    const float *noise_used;
    int64_t noise_stride;
} lbuf;

struct sg2_ctx {
    const sg2_model *m;
    int B;
    int n, have_fwd, map_n;
    double *prof;      /* NULL, or [n_layers + 1][2 (fwd, bwd)][2 (conv, rest)] ms sums */
    int prof_calls[2]; /* forward and backward calls since sg2_ctx_profile(ctx, 1) */
    size_t n_arena;
    float *arena;
    lbuf *lb;
    float **img;         /* per block [Cimg, B, r*r] */
    float *x_const;      /* [C4, B, 16] */
    float *xs;           /* modulated input; in backward: its gradient */
    float *conv_scratch; /* im2col / up-conv chunks */
    size_t n_conv;
    float *small, *up_tmp, *gt, *rgb_tmp;
    float *gA, *gB, *gimgA, *gimgB, *ds, *dd;
    float *z, *zn, *fc[SG2_MAX_MAPPING], *gmA, *gmB;
};

static int in_layer(const sg2_model *m, int li)
{
    const sg2__layer *L = &m->layers[li];
    if (L->kind == L_CONV1) {
        return L->block == 0 ? -1 : li - 1;
    }
    return L->kind == L_CONV0 ? li - 2 : li - 1;
}

static size_t zmax(size_t a, size_t b)
{
    return a > b ? a : b;
}

static float *take(float *base, size_t *off, size_t n)
{
    size_t o = *off;
    *off += (n + 15) & ~(size_t)15; /* 64-byte aligned views */
    return base ? base + o : NULL;
}

/* The one sizing function of the arena: called with base NULL to size, then to bind. */
static size_t ctx_layout(sg2_ctx *c, float *base)
{
    const sg2_model *m = c->m;
    const sg2_config *cfg = &m->cfg;
    size_t B = (size_t)c->B, off = 0, Ci = (size_t)cfg->img_channels;
    size_t mx_y = 0, mx_xs = 0, mx_conv = 0, mx_ch = 0, mx_map = (size_t)cfg->z_dim;
    c->z = take(base, &off, B * cfg->z_dim);
    c->zn = take(base, &off, B * cfg->z_dim);
    for (int l = 0; l < cfg->mapping_layers; l++) {
        c->fc[l] = take(base, &off, B * m->fc_out[l]);
        mx_map = zmax(mx_map, (size_t)m->fc_out[l]);
    }
    c->gmA = take(base, &off, B * mx_map);
    c->gmB = take(base, &off, B * mx_map);
    for (int i = 0; i < m->n_layers; i++) {
        const sg2__layer *L = &m->layers[i];
        size_t P = (size_t)L->res * L->res, Pin = (size_t)L->in_res * L->in_res;
        lbuf *b = &c->lb[i];
        b->y = take(base, &off, (size_t)L->cout * B * P);
        b->s = take(base, &off, B * L->cin);
        mx_xs = zmax(mx_xs, (size_t)L->cin * B * Pin);
        mx_ch = zmax(mx_ch, zmax((size_t)L->cin, (size_t)L->cout));
        if (L->kind == L_TORGB) {
            continue;
        }
        b->d = take(base, &off, B * L->cout);
        b->s2 = take(base, &off, B * L->cin);
        b->noise = take(base, &off, B * P);
        mx_y = zmax(mx_y, (size_t)L->cout * B * P);
        size_t lo, full;
        if (L->kind == L_CONV1) {
            lo = op_conv2d_wino_scratch_min(L->cin, L->cout, L->wino_m);
            full = lo * B * (size_t)L->res * L->res / ((size_t)L->wino_m * L->wino_m);
        } else {
            lo = op_upconv2d_scratch_size((int)B, L->in_res, L->in_res, 1);
            full = op_upconv2d_scratch_size((int)B, L->in_res, L->in_res, L->cout);
        }
        mx_conv =
            zmax(mx_conv, zmax(lo, full < SG2_CONV_SCRATCH_CAP ? full : SG2_CONV_SCRATCH_CAP));
    }
    for (int b = 0, r = 4; b < m->n_blocks; b++, r *= 2) {
        c->img[b] = take(base, &off, Ci * B * r * r);
    }
    size_t R = (size_t)cfg->img_resolution;
    c->x_const = take(base, &off, (size_t)sg2_config_channels(cfg, 4) * B * 16);
    c->xs = take(base, &off, mx_xs);
    c->conv_scratch = take(base, &off, mx_conv);
    c->n_conv = mx_conv;
    c->small = take(base, &off, 2 * B * mx_ch);
    c->rgb_tmp = take(base, &off, 2 * Ci * mx_ch);
    c->up_tmp = take(base, &off, Ci * B * R * R / 2);
    c->gt = take(base, &off, Ci * B * R * R);
    c->gA = take(base, &off, mx_y);
    c->gB = take(base, &off, mx_y);
    c->gimgA = take(base, &off, Ci * B * R * R);
    c->gimgB = take(base, &off, Ci * B * R * R);
    c->ds = take(base, &off, B * mx_ch);
    c->dd = take(base, &off, B * mx_ch);
    return off;
}

int sg2_ctx_create(sg2_ctx **out, const sg2_model *m, int batch, lm_err *err)
{
    *out = NULL;
    if (batch < 1 || batch > 65536) {
        return lm_err_set(err, LM_ECONFIG, "sg2 context: batch %d out of range", batch);
    }
    sg2_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        return lm_err_set(err, -ENOMEM, "sg2 context: out of memory");
    }
    c->m = m;
    c->B = batch;
    c->lb = calloc((size_t)m->n_layers, sizeof(lbuf));
    c->img = calloc((size_t)m->n_blocks, sizeof(float *));
    if (!c->lb || !c->img) {
        sg2_ctx_free(c);
        return lm_err_set(err, -ENOMEM, "sg2 context: out of memory");
    }
    c->n_arena = ctx_layout(c, NULL);
    c->arena = malloc(sizeof(float) * c->n_arena);
    if (!c->arena) {
        size_t mb = c->n_arena * 4 >> 20;
        sg2_ctx_free(c);
        return lm_err_set(err, -ENOMEM, "sg2 context: cannot allocate %zu MiB for batch %d", mb,
                          batch);
    }
    ctx_layout(c, c->arena);
    *out = c;
    return 0;
}

void sg2_ctx_free(sg2_ctx *ctx)
{
    if (!ctx) {
        return;
    }
    free(ctx->arena);
    free(ctx->prof);
    free(ctx->lb);
    free(ctx->img);
    free(ctx);
}

size_t sg2_ctx_bytes(const sg2_ctx *ctx)
{
    return ctx->n_arena * sizeof(float);
}

float *sg2_ctx_noise(sg2_ctx *ctx, int i)
{
    if (i < 0 || i >= ctx->m->n_noise) {
        return NULL;
    }
    return ctx->lb[ctx->m->noise_layer[i]].noise;
}

/* ---------------------------------------------------------------- mapping */

int sg2_mapping_forward(sg2_ctx *ctx, const float *z, int n, float *w, lm_err *err)
{
    const sg2_model *m = ctx->m;
    const sg2_config *cfg = &m->cfg;
    if (n < 1 || n > ctx->B) {
        return lm_err_set(err, LM_ECONFIG, "sg2 mapping: %d images for a context of batch %d", n,
                          ctx->B);
    }
    memcpy(ctx->z, z, sizeof(float) * (size_t)n * cfg->z_dim);
    op_pixnorm_forward(ctx->zn, ctx->z, n, cfg->z_dim);
    const float *x = ctx->zn;
    for (int l = 0; l < cfg->mapping_layers; l++) {
        int in = m->fc_in[l], out = m->fc_out[l];
        op_fc_forward(ctx->fc[l], x, in, m->params + m->o_fc_w[l], m->params + m->o_fc_b[l], n, in,
                      out, cfg->mapping_lr_mul / sqrtf((float)in), cfg->mapping_lr_mul);
        op_bias_act_forward(ctx->fc[l], ctx->fc[l], NULL, n, out, 1, 1, SQRT2, 0.0f);
        x = ctx->fc[l];
    }
    memcpy(w, x, sizeof(float) * (size_t)n * cfg->w_dim);
    ctx->map_n = n;
    return 0;
}

int sg2_mapping_backward(sg2_ctx *ctx, const float *dw, float *dz, lm_err *err)
{
    const sg2_model *m = ctx->m;
    const sg2_config *cfg = &m->cfg;
    int n = ctx->map_n;
    if (n < 1) {
        return lm_err_set(err, LM_ECONFIG, "sg2 mapping backward without a forward");
    }
    float *g = ctx->gmA, *g2 = ctx->gmB;
    memcpy(g, dw, sizeof(float) * (size_t)n * cfg->w_dim);
    for (int l = cfg->mapping_layers - 1; l >= 0; l--) {
        int in = m->fc_in[l], out = m->fc_out[l];
        op_bias_act_backward(g, g, ctx->fc[l], (int64_t)n * out, 1, SQRT2, 0.0f);
        op_fc_backward(g2, in, 0.0f, g, m->params + m->o_fc_w[l], n, in, out,
                       cfg->mapping_lr_mul / sqrtf((float)in));
        float *t = g;
        g = g2;
        g2 = t;
    }
    op_pixnorm_backward(dz, g, ctx->z, n, cfg->z_dim);
    return 0;
}

void sg2_ws_broadcast(float *ws, const float *w, int n, int num_ws, int w_dim)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < num_ws; j++) {
            memcpy(ws + ((size_t)i * num_ws + j) * w_dim, w + (size_t)i * w_dim,
                   sizeof(float) * (size_t)w_dim);
        }
    }
}

void sg2_ws_truncate(const sg2_model *m, float *ws, int n, float psi, int cutoff)
{
    const sg2_config *cfg = &m->cfg;
    const float *avg = m->params + m->o_w_avg;
    int rows = cutoff > 0 && cutoff < cfg->num_ws ? cutoff : cfg->num_ws;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < rows; j++) {
            float *r = ws + ((size_t)i * cfg->num_ws + j) * cfg->w_dim;
            for (int k = 0; k < cfg->w_dim; k++) {
                /* Same operation order as torch.lerp(w_avg, ws, psi). */
                r[k] = avg[k] + psi * (r[k] - avg[k]);
            }
        }
    }
}

void sg2_ws_grad_to_w(float *dw, const float *dws, int n, int num_ws, int w_dim, float psi,
                      int cutoff)
{
    int rows = cutoff > 0 && cutoff < num_ws ? cutoff : num_ws;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < w_dim; k++) {
            double acc = 0.0;
            for (int j = 0; j < num_ws; j++) {
                acc += (double)dws[((size_t)i * num_ws + j) * w_dim + k] * (j < rows ? psi : 1.0f);
            }
            dw[(size_t)i * w_dim + k] = (float)acc;
        }
    }
}

/* -------------------------------------------------------------- synthesis */

/* ------------------------------------------------------------ profiling */

static double prof_now(const sg2_ctx *ctx)
{
    if (!ctx->prof) {
        return 0.0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Add a layer's (row's) conv time and total time since t0 (ms) to direction dir. */
static void prof_add(sg2_ctx *ctx, int row, int dir, double conv, double t0)
{
    if (ctx->prof) {
        double *p = ctx->prof + ((size_t)row * 2 + dir) * 2;
        p[0] += conv;
        p[1] += prof_now(ctx) - t0 - conv;
    }
}

int sg2_ctx_profile(sg2_ctx *ctx, int on, lm_err *err)
{
    free(ctx->prof);
    ctx->prof = NULL;
    ctx->prof_calls[0] = ctx->prof_calls[1] = 0;
    if (on) {
        ctx->prof = calloc((size_t)(ctx->m->n_layers + 1) * 4, sizeof(double));
        if (!ctx->prof) {
            return lm_err_set(err, -ENOMEM, "sg2 profile: out of memory");
        }
    }
    return 0;
}

void sg2_ctx_profile_report(const sg2_ctx *ctx, FILE *f)
{
    if (!ctx->prof) {
        fprintf(f, "sg2 profile: off\n");
        return;
    }
    const sg2_model *m = ctx->m;
    double cf = ctx->prof_calls[0] ? ctx->prof_calls[0] : 1, cb = ctx->prof_calls[1];
    double tot[4] = {0, 0, 0, 0};
    fprintf(f, "%-26s %5s %9s %9s %9s %9s   (ms per call; %d forward, %d backward calls)\n",
            "layer", "res", "fwd conv", "fwd rest", "bwd conv", "bwd rest", ctx->prof_calls[0],
            ctx->prof_calls[1]);
    for (int li = 0; li <= m->n_layers; li++) {
        const double *p = ctx->prof + (size_t)li * 4;
        double v[4] = {p[0] / cf, p[1] / cf, cb ? p[2] / cb : 0.0, cb ? p[3] / cb : 0.0};
        for (int k = 0; k < 4; k++) {
            tot[k] += v[k];
        }
        if (li < m->n_layers) {
            fprintf(f, "%-26s %5d %9.3f %9.3f %9.3f %9.3f\n", m->layers[li].name, m->layers[li].res,
                    v[0], v[1], v[2], v[3]);
        } else {
            fprintf(f, "%-26s %5s %9s %9.3f %9s %9s\n", "affines+demod (all layers)", "-", "-",
                    v[1], "-", "-");
        }
    }
    fprintf(f, "%-26s %5s %9.3f %9.3f %9.3f %9.3f\n", "total", "-", tot[0], tot[1], tot[2], tot[3]);
}

int sg2_synthesis_forward(sg2_ctx *ctx, const float *ws, int n, enum sg2_noise_mode mode,
                          uint64_t *rng, float *img, lm_err *err)
{
    const sg2_model *m = ctx->m;
    const sg2_config *cfg = &m->cfg;
    if (n < 1 || n > ctx->B) {
        return lm_err_set(err, LM_ECONFIG, "sg2 synthesis: %d images for a context of batch %d", n,
                          ctx->B);
    }
    if ((mode == SG2_NOISE_RANDOM && !rng) || mode < SG2_NOISE_CONST || mode > SG2_NOISE_USER) {
        return lm_err_set(err, LM_ECONFIG, "sg2 synthesis: bad noise mode %d%s", (int)mode,
                          mode == SG2_NOISE_RANDOM ? " (random needs an RNG state)" : "");
    }
    int Wd = cfg->w_dim, ldws = cfg->num_ws * Wd, Ci = cfg->img_channels;
    float clamp = cfg->conv_clamp;
    int C4 = sg2_config_channels(cfg, 4);
    const float *cst = m->params + m->o_const;
    for (int i = 0; i < C4; i++) {
        for (int s = 0; s < n; s++) {
            memcpy(ctx->x_const + ((size_t)i * n + s) * 16, cst + (size_t)i * 16,
                   sizeof(float) * 16);
        }
    }
    /* Styles and demodulation coefficients of every layer first: they depend on ws only,
     * and at batch 1 each is a matrix-vector product bound by reading its 1 MB matrix, so
     * the threads take whole layers (BLAS runs single-threaded inside the loop). */
    double ts = prof_now(ctx);
#pragma omp parallel for schedule(dynamic, 1)
    for (int li = 0; li < m->n_layers; li++) {
        const sg2__layer *L = &m->layers[li];
        lbuf *b = &ctx->lb[li];
        const float *wrow = ws + (size_t)L->ws_idx * Wd;
        if (L->kind == L_TORGB) {
            float g = 1.0f / sqrtf((float)L->cin);
            op_fc_forward(b->s, wrow, ldws, L->aff_w, L->aff_b, n, Wd, L->cin, g / sqrtf((float)Wd),
                          g);
        } else {
            op_fc_forward(b->s, wrow, ldws, L->aff_w, L->aff_b, n, Wd, L->cin,
                          1.0f / sqrtf((float)Wd), 1.0f);
            op_demod_forward(b->d, b->s, L->q, n, L->cin, L->cout, b->s2);
        }
    }
    prof_add(ctx, m->n_layers, 0, 0.0, ts);
    const float *x = ctx->x_const;
    for (int li = 0; li < m->n_layers; li++) {
        const sg2__layer *L = &m->layers[li];
        lbuf *b = &ctx->lb[li];
        int64_t P = (int64_t)L->res * L->res, Pin = (int64_t)L->in_res * L->in_res;
        double t0 = prof_now(ctx), tc;
        if (L->kind == L_TORGB) {
            op_modconv1x1_forward(b->y, x, L->weight, b->s, L->cin, Ci, n, P, ctx->rgb_tmp);
            tc = prof_now(ctx) - t0;
            op_bias_act_forward(b->y, b->y, L->bias, 1, Ci, n * P, 0, 1.0f, clamp);
            float *im = ctx->img[L->block];
            size_t cnt = (size_t)Ci * n * P;
            if (L->block == 0) {
                memcpy(im, b->y, sizeof(float) * cnt);
            } else {
                op_upsample2d_forward(im, ctx->img[L->block - 1], (int64_t)Ci * n, L->res / 2,
                                      L->res / 2, ctx->up_tmp);
                for (size_t k = 0; k < cnt; k++) {
                    im[k] += b->y[k];
                }
            }
            prof_add(ctx, li, 0, tc, t0);
            continue;
        }
        switch (mode) {
        case SG2_NOISE_CONST:
            b->noise_used = L->noise_const;
            b->noise_stride = 0;
            break;
        case SG2_NOISE_RANDOM:
            for (int64_t k = 0; k < n * P; k++) {
                b->noise[k] = sg2_rng_normal(rng);
            }
            b->noise_used = b->noise;
            b->noise_stride = P;
            break;
        case SG2_NOISE_USER:
            b->noise_used = b->noise;
            b->noise_stride = P;
            break;
        default:
            b->noise_used = NULL;
            b->noise_stride = 0;
            break;
        }
        if (L->kind == L_CONV1) {
            /* Modulation and epilogue fused into the Winograd tile transforms. */
            op_wino_fuse fz = {b->s,     b->d,    b->noise_used, (long long)b->noise_stride,
                               L->ns[0], L->bias, SQRT2,         clamp};
            double c0 = prof_now(ctx);
            op_conv2d_wino_forward_fused(b->y, x, L->wino, L->wino_m, L->wino_panels, n, L->cin,
                                         L->cout, L->res, L->res, &fz, ctx->conv_scratch,
                                         ctx->n_conv);
            tc = prof_now(ctx) - c0;
        } else {
            op_modulate_forward(ctx->xs, x, b->s, L->cin, n, Pin);
            double c0 = prof_now(ctx);
            op_upconv2d_forward(b->y, ctx->xs, L->wup, L->wpk, n, L->cin, L->cout, L->in_res,
                                L->in_res, ctx->conv_scratch, ctx->n_conv);
            tc = prof_now(ctx) - c0;
            op_modconv_out_forward(b->y, b->y, b->d, b->noise_used, b->noise_stride, L->ns[0],
                                   L->bias, L->cout, n, P, SQRT2, clamp);
        }
        prof_add(ctx, li, 0, tc, t0);
        x = b->y;
    }
    /* CNHW -> NCHW */
    int64_t PR = (int64_t)cfg->img_resolution * cfg->img_resolution;
    const float *top = ctx->img[m->n_blocks - 1];
    for (int s = 0; s < n; s++) {
        for (int c = 0; c < Ci; c++) {
            memcpy(img + ((size_t)s * Ci + c) * PR, top + ((size_t)c * n + s) * PR,
                   sizeof(float) * (size_t)PR);
        }
    }
    ctx->n = n;
    ctx->have_fwd = 1;
    ctx->prof_calls[0]++;
    return 0;
}

/* Spec 6.8: torgb, conv1, conv0 per block from the top; ws rows shared by a torgb and the
 * next block's conv0 receive both contributions (op_fc_backward with beta 1). */
int sg2_synthesis_backward(sg2_ctx *ctx, const float *dimg, float *dws, float *const *dnoise,
                           lm_err *err)
{
    const sg2_model *m = ctx->m;
    const sg2_config *cfg = &m->cfg;
    if (!ctx->have_fwd) {
        return lm_err_set(err, LM_ECONFIG, "sg2 synthesis backward without a forward");
    }
    int n = ctx->n, Wd = cfg->w_dim, ldws = cfg->num_ws * Wd, Ci = cfg->img_channels;
    float clamp = cfg->conv_clamp;
    memset(dws, 0, sizeof(float) * (size_t)n * ldws);
    int64_t PR = (int64_t)cfg->img_resolution * cfg->img_resolution;
    float *gimg = ctx->gimgA, *gimg2 = ctx->gimgB, *gx = ctx->gA, *gx2 = ctx->gB;
    for (int s = 0; s < n; s++) {
        for (int c = 0; c < Ci; c++) {
            memcpy(gimg + ((size_t)c * n + s) * PR, dimg + ((size_t)s * Ci + c) * PR,
                   sizeof(float) * (size_t)PR);
        }
    }
    int gx_valid = 0;
    for (int li = m->n_layers - 1; li >= 0; li--) {
        const sg2__layer *L = &m->layers[li];
        lbuf *b = &ctx->lb[li];
        int64_t P = (int64_t)L->res * L->res, Pin = (int64_t)L->in_res * L->in_res;
        int il = in_layer(m, li);
        const float *x_in = il < 0 ? ctx->x_const : ctx->lb[il].y;
        float *dwrow = dws + (size_t)L->ws_idx * Wd;
        double t0 = prof_now(ctx), tc;
        if (L->kind == L_TORGB) {
            op_bias_act_backward(ctx->gt, gimg, b->y, (int64_t)Ci * n * P, 0, 1.0f, clamp);
            double c0 = prof_now(ctx);
            op_modconv1x1_backward(gx, gx_valid, ctx->ds, ctx->gt, x_in, L->weight, b->s, L->cin,
                                   Ci, n, P, ctx->rgb_tmp);
            tc = prof_now(ctx) - c0;
            gx_valid = 1;
            float g = 1.0f / sqrtf((float)L->cin);
            op_fc_backward(dwrow, ldws, 1.0f, ctx->ds, L->aff_w, n, Wd, L->cin,
                           g / sqrtf((float)Wd));
            if (L->block > 0) {
                op_upsample2d_backward(gimg2, gimg, (int64_t)Ci * n, L->res / 2, L->res / 2,
                                       ctx->up_tmp);
                float *t = gimg;
                gimg = gimg2;
                gimg2 = t;
            }
            prof_add(ctx, li, 1, tc, t0);
            continue;
        }
        float *dn = dnoise ? dnoise[L->noise_idx] : NULL;
        op_modconv_out_backward(gx, ctx->dd, dn, gx, b->y, b->d, b->noise_used, b->noise_stride,
                                L->ns[0], L->bias, L->cout, n, P, SQRT2, clamp);
        double c0 = prof_now(ctx);
        if (L->kind == L_CONV1) {
            op_conv2d_wino_backward(ctx->xs, gx, L->wino, L->wino_m, L->wino_panels, n, L->cin,
                                    L->cout, L->res, L->res, ctx->conv_scratch, ctx->n_conv);
        } else {
            op_upconv2d_backward(ctx->xs, gx, L->wup, L->wpk, n, L->cin, L->cout, L->in_res,
                                 L->in_res, ctx->conv_scratch, ctx->n_conv);
        }
        tc = prof_now(ctx) - c0;
        op_modulate_backward(il < 0 ? NULL : gx2, 0, ctx->ds, ctx->xs, x_in, b->s, L->cin, n, Pin);
        op_demod_backward(ctx->ds, ctx->dd, b->d, b->s, L->q, n, L->cin, L->cout, ctx->small);
        op_fc_backward(dwrow, ldws, 1.0f, ctx->ds, L->aff_w, n, Wd, L->cin,
                       1.0f / sqrtf((float)Wd));
        prof_add(ctx, li, 1, tc, t0);
        float *t = gx;
        gx = gx2;
        gx2 = t;
    }
    ctx->prof_calls[1]++;
    return 0;
}

/* ------------------------------------------------------------ inspection */

static void cnhw_to_nchw(float *out, const float *in, int C, int n, int64_t P)
{
    for (int s = 0; s < n; s++) {
        for (int c = 0; c < C; c++) {
            memcpy(out + ((size_t)s * C + c) * P, in + ((size_t)c * n + s) * P,
                   sizeof(float) * (size_t)P);
        }
    }
}

int64_t sg2_ctx_activation(const sg2_ctx *ctx, const char *name, float *out)
{
    const sg2_model *m = ctx->m;
    int n = ctx->n, l;
    char tail[16];
    if (sscanf(name, "mapping.fc%d%1s", &l, tail) == 1 && l >= 0 && l < m->cfg.mapping_layers &&
        ctx->map_n > 0) {
        size_t cnt = (size_t)ctx->map_n * m->fc_out[l];
        memcpy(out, ctx->fc[l], sizeof(float) * cnt);
        return (int64_t)cnt;
    }
    if (!ctx->have_fwd) {
        return LM_EMISSING;
    }
    size_t nl = strlen(name);
    for (int li = 0; li < m->n_layers; li++) {
        const sg2__layer *L = &m->layers[li];
        const lbuf *b = &ctx->lb[li];
        size_t k = strlen(L->name);
        int64_t P = (int64_t)L->res * L->res;
        if (strncmp(name, L->name, k) == 0) {
            if (nl == k) {
                cnhw_to_nchw(out, b->y, L->cout, n, P);
                return (int64_t)L->cout * n * P;
            }
            if (strcmp(name + k, ".styles") == 0) {
                /* Reported as the affine output, like the reference's hooks: undo the
                 * torgb weight gain 1/sqrt(cin) that the stored styles include. */
                float g = L->kind == L_TORGB ? sqrtf((float)L->cin) : 1.0f;
                for (int64_t q = 0; q < (int64_t)n * L->cin; q++) {
                    out[q] = b->s[q] * g;
                }
                return (int64_t)n * L->cin;
            }
        }
        if (L->kind == L_TORGB) {
            char bx[SG2_NAME + 8];
            snprintf(bx, sizeof bx, "synthesis.b%d.x", L->res);
            if (strcmp(name, bx) == 0) {
                const sg2__layer *C1 = &m->layers[li - 1];
                cnhw_to_nchw(out, ctx->lb[li - 1].y, C1->cout, n, P);
                return (int64_t)C1->cout * n * P;
            }
            snprintf(bx, sizeof bx, "synthesis.b%d.img", L->res);
            if (strcmp(name, bx) == 0) {
                cnhw_to_nchw(out, ctx->img[L->block], m->cfg.img_channels, n, P);
                return (int64_t)m->cfg.img_channels * n * P;
            }
        }
    }
    return LM_EMISSING;
}
