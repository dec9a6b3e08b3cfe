/*
 * stylegan2.c - StyleGAN2 generator: configuration, weights (load/save/random init),
 * memory plan, mapping and synthesis forward/backward (see stylegan2.h).
 * Follows the shared spec "stylegan2.md" (sections 2-8), which restates
 * NVlabs stylegan2-ada-pytorch training/networks.py (commit d72cc7d0).
 */
#include "models/stylegan2.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/op_bias_act.h"
#include "kernels/op_conv2d.h"
#include "kernels/op_conv2d_wino.h"
#include "kernels/op_fc.h"
#include "kernels/op_gemm.h"
#include "kernels/op_gemm_panel.h"
#include "kernels/op_modconv.h"
#include "kernels/op_pixnorm.h"
#include "kernels/op_upconv2d.h"
#include "kernels/op_upfirdn2d.h"
#include "models/sg2_internal.h"
#include "models/wt_safetensors.h"

/* ------------------------------------------------------------------ config */

void sg2_config_default(sg2_config *cfg, int img_resolution)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->z_dim = 512;
    cfg->w_dim = 512;
    cfg->img_resolution = img_resolution;
    cfg->img_channels = 3;
    cfg->mapping_layers = 8;
    cfg->mapping_features = 0; /* = w_dim */
    cfg->mapping_lr_mul = 0.01f;
    cfg->channel_base = 32768;
    cfg->channel_max = 512;
    cfg->conv_clamp = 0.0f;
}

int sg2_config_channels(const sg2_config *cfg, int res)
{
    int c = cfg->channel_base / res;
    return c < cfg->channel_max ? c : cfg->channel_max;
}

int sg2_config_check(sg2_config *cfg, lm_err *err)
{
    int R = cfg->img_resolution;
    if (R < 4 || R > 4096 || (R & (R - 1)) != 0) {
        return lm_err_set(err, LM_ECONFIG, "img_resolution %d: must be a power of two in 4..4096",
                          R);
    }
    if (cfg->c_dim != 0) {
        return lm_err_set(err, LM_ECONFIG, "c_dim %d: conditional generators are unsupported",
                          cfg->c_dim);
    }
    if (cfg->mapping_features <= 0) {
        cfg->mapping_features = cfg->w_dim;
    }
    if (cfg->z_dim < 1 || cfg->w_dim < 1 || cfg->img_channels < 1 || cfg->img_channels > 16 ||
        cfg->mapping_layers < 1 || cfg->mapping_layers > SG2_MAX_MAPPING ||
        !(cfg->mapping_lr_mul > 0.0f) || cfg->channel_max < 1 || cfg->z_dim > 65536 ||
        cfg->w_dim > 65536 || cfg->mapping_features > 65536) {
        return lm_err_set(err, LM_ECONFIG,
                          "generator config out of range (z_dim %d, w_dim %d, img_channels %d, "
                          "mapping layers %d, lr_multiplier %g, channel_max %d)",
                          cfg->z_dim, cfg->w_dim, cfg->img_channels, cfg->mapping_layers,
                          cfg->mapping_lr_mul, cfg->channel_max);
    }
    for (int r = 4; r <= R; r *= 2) {
        int c = sg2_config_channels(cfg, r);
        if (c < 1 || c > 65536) {
            return lm_err_set(err, LM_ECONFIG,
                              "channel_base %d / channel_max %d give %d channels "
                              "at resolution %d",
                              cfg->channel_base, cfg->channel_max, c, r);
        }
    }
    int lg = 0;
    while ((1 << lg) < R) {
        lg++;
    }
    cfg->num_ws = 2 * lg - 2;
    return 0;
}

static int json_int(const cJSON *o, const char *key, int *v, lm_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        return 0;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble != (double)(int)j->valuedouble) {
        return lm_err_set(err, LM_ECONFIG, "generator_kwargs: '%s' is not an integer", key);
    }
    *v = (int)j->valuedouble;
    return 0;
}

static int json_float(const cJSON *o, const char *key, float *v, lm_err *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        return 0;
    }
    if (!cJSON_IsNumber(j)) {
        return lm_err_set(err, LM_ECONFIG, "generator_kwargs: '%s' is not a number", key);
    }
    *v = (float)j->valuedouble;
    return 0;
}

int sg2_config_from_json(sg2_config *cfg, const char *json, lm_err *err)
{
    sg2_config_default(cfg, 0);
    cJSON *root = cJSON_Parse(json);
    int rc = 0;
    if (!root || !cJSON_IsObject(root)) {
        rc = lm_err_set(err, LM_ECONFIG, "generator_kwargs is not a JSON object");
        goto done;
    }
    const cJSON *mk = cJSON_GetObjectItemCaseSensitive(root, "mapping_kwargs");
    const cJSON *sk = cJSON_GetObjectItemCaseSensitive(root, "synthesis_kwargs");
    if ((rc = json_int(root, "z_dim", &cfg->z_dim, err)) ||
        (rc = json_int(root, "c_dim", &cfg->c_dim, err)) ||
        (rc = json_int(root, "w_dim", &cfg->w_dim, err)) ||
        (rc = json_int(root, "img_resolution", &cfg->img_resolution, err)) ||
        (rc = json_int(root, "img_channels", &cfg->img_channels, err))) {
        goto done;
    }
    if (cJSON_IsObject(mk)) {
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(mk, "activation");
        if ((rc = json_int(mk, "num_layers", &cfg->mapping_layers, err)) ||
            (rc = json_int(mk, "layer_features", &cfg->mapping_features, err)) ||
            (rc = json_float(mk, "lr_multiplier", &cfg->mapping_lr_mul, err))) {
            goto done;
        }
        if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "lrelu") == 0)) {
            rc = lm_err_set(err, LM_ECONFIG, "mapping activation other than lrelu is unsupported");
            goto done;
        }
        int ef = 0;
        if ((rc = json_int(mk, "embed_features", &ef, err))) {
            goto done;
        }
    }
    if (cJSON_IsObject(sk)) {
        if ((rc = json_int(sk, "channel_base", &cfg->channel_base, err)) ||
            (rc = json_int(sk, "channel_max", &cfg->channel_max, err)) ||
            (rc = json_float(sk, "conv_clamp", &cfg->conv_clamp, err))) {
            goto done;
        }
        const cJSON *arch = cJSON_GetObjectItemCaseSensitive(sk, "architecture");
        if (arch && !(cJSON_IsString(arch) && strcmp(arch->valuestring, "skip") == 0)) {
            rc = lm_err_set(err, LM_ECONFIG, "synthesis architecture '%s' unsupported (skip only)",
                            cJSON_IsString(arch) ? arch->valuestring : "?");
            goto done;
        }
        const cJSON *un = cJSON_GetObjectItemCaseSensitive(sk, "use_noise");
        if (un && !cJSON_IsTrue(un)) {
            rc = lm_err_set(err, LM_ECONFIG, "use_noise false is unsupported");
            goto done;
        }
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(sk, "resample_filter");
        if (rf) {
            static const double taps[4] = {1, 3, 3, 1};
            int ok = cJSON_IsArray(rf) && cJSON_GetArraySize(rf) == 4;
            for (int i = 0; ok && i < 4; i++) {
                const cJSON *t = cJSON_GetArrayItem(rf, i);
                ok = cJSON_IsNumber(t) && t->valuedouble == taps[i];
            }
            if (!ok) {
                rc =
                    lm_err_set(err, LM_ECONFIG, "resample_filter other than [1,3,3,1] unsupported");
                goto done;
            }
        }
    }
    rc = sg2_config_check(cfg, err);
done:
    cJSON_Delete(root);
    return rc;
}

char *sg2_config_to_json(const sg2_config *cfg)
{
    char buf[1024];
    char clamp[32];
    if (cfg->conv_clamp > 0) {
        snprintf(clamp, sizeof clamp, "%.9g", cfg->conv_clamp);
    } else {
        snprintf(clamp, sizeof clamp, "null");
    }
    snprintf(buf, sizeof buf,
             "{\"z_dim\": %d, \"c_dim\": %d, \"w_dim\": %d, \"img_resolution\": %d, "
             "\"img_channels\": %d, \"mapping_kwargs\": {\"num_layers\": %d, \"layer_features\": "
             "%d, \"lr_multiplier\": %.9g}, \"synthesis_kwargs\": {\"channel_base\": %d, "
             "\"channel_max\": %d, \"conv_clamp\": %s, \"num_fp16_res\": 0, "
             "\"architecture\": \"skip\"}}",
             cfg->z_dim, cfg->c_dim, cfg->w_dim, cfg->img_resolution, cfg->img_channels,
             cfg->mapping_layers, cfg->mapping_features > 0 ? cfg->mapping_features : cfg->w_dim,
             cfg->mapping_lr_mul, cfg->channel_base, cfg->channel_max, clamp);
    return strdup(buf);
}

/* ------------------------------------------------------------ memory plan */

static int add_spec(sg2_model *m, size_t *off_out, int filter, int ndim, int64_t s0, int64_t s1,
                    int64_t s2, int64_t s3, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

static int add_spec(sg2_model *m, size_t *off_out, int filter, int ndim, int64_t s0, int64_t s1,
                    int64_t s2, int64_t s3, const char *fmt, ...)
{
    if (m->n_specs == m->cap_specs) {
        int cap = m->cap_specs ? 2 * m->cap_specs : 256;
        sg2__tspec *ns = realloc(m->specs, sizeof(sg2__tspec) * (size_t)cap);
        if (!ns) {
            return -ENOMEM;
        }
        m->specs = ns;
        m->cap_specs = cap;
    }
    sg2__tspec *t = &m->specs[m->n_specs++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    int64_t sh[4] = {s0, s1, s2, s3};
    t->ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < 4; i++) {
        t->shape[i] = i < ndim ? sh[i] : 0;
        if (i < ndim) {
            numel *= (size_t)sh[i];
        }
    }
    t->filter = filter;
    t->off = filter ? 0 : m->n_params;
    if (!filter) {
        m->n_params += numel;
    }
    if (off_out) {
        *off_out = t->off;
    }
    return 0;
}

/* The one sizing function: every tensor name, shape and offset derived from the config,
 * in the reference state_dict order (synthesis, then mapping). Layers in forward order. */
static int model_plan(sg2_model *m)
{
    const sg2_config *c = &m->cfg;
    int R = c->img_resolution, W = c->w_dim, rc = 0;
    int nb = 0;
    for (int r = 4; r <= R; r *= 2) {
        nb++;
    }
    m->n_blocks = nb;
    if (nb < 1) {
        return -EINVAL;
    }
    size_t nl = 2 + 3 * (size_t)(nb - 1);
    m->layers = calloc(nl, sizeof(sg2__layer));
    m->noise_layer = calloc(nl, sizeof(int));
    if (!m->layers || !m->noise_layer) {
        return -ENOMEM;
    }
    int li = 0;
    for (int b = 0, r = 4; r <= R; b++, r *= 2) {
        int C = sg2_config_channels(c, r), Cin = r > 4 ? sg2_config_channels(c, r / 2) : C;
        int k = b + 2; /* log2 r */
        if (r == 4) {
            rc |= add_spec(m, &m->o_const, 0, 3, C, 4, 4, 0, "synthesis.b4.const");
        }
        rc |= add_spec(m, NULL, 1, 2, 4, 4, 0, 0, "synthesis.b%d.resample_filter", r);
        for (int kind = (r == 4 ? L_CONV1 : L_CONV0);;
             kind = (kind == L_CONV0 ? L_CONV1 : L_TORGB)) {
            sg2__layer *L = &m->layers[li];
            L->kind = kind;
            L->block = b;
            L->res = r;
            L->in_res = kind == L_CONV0 ? r / 2 : r;
            L->cin = kind == L_CONV0 ? Cin : C;
            L->cout = kind == L_TORGB ? c->img_channels : C;
            if (r == 4) {
                L->ws_idx = kind == L_CONV1 ? 0 : 1;
            } else {
                L->ws_idx = kind == L_CONV0 ? 2 * k - 5 : (kind == L_CONV1 ? 2 * k - 4 : 2 * k - 3);
            }
            snprintf(L->name, sizeof L->name, "synthesis.b%d.%s", r,
                     kind == L_CONV0 ? "conv0" : (kind == L_CONV1 ? "conv1" : "torgb"));
            if (kind == L_TORGB) {
                L->noise_idx = -1;
                rc |= add_spec(m, &L->o_weight, 0, 4, L->cout, L->cin, 1, 1, "%s.weight", L->name);
                rc |= add_spec(m, &L->o_bias, 0, 1, L->cout, 0, 0, 0, "%s.bias", L->name);
                rc |= add_spec(m, &L->o_aff_w, 0, 2, L->cin, W, 0, 0, "%s.affine.weight", L->name);
                rc |= add_spec(m, &L->o_aff_b, 0, 1, L->cin, 0, 0, 0, "%s.affine.bias", L->name);
            } else {
                L->noise_idx = m->n_noise;
                m->noise_layer[m->n_noise++] = li;
                rc |= add_spec(m, &L->o_weight, 0, 4, L->cout, L->cin, 3, 3, "%s.weight", L->name);
                rc |= add_spec(m, &L->o_ns, 0, 0, 0, 0, 0, 0, "%s.noise_strength", L->name);
                rc |= add_spec(m, &L->o_bias, 0, 1, L->cout, 0, 0, 0, "%s.bias", L->name);
                rc |= add_spec(m, NULL, 1, 2, 4, 4, 0, 0, "%s.resample_filter", L->name);
                rc |= add_spec(m, &L->o_noise, 0, 2, r, r, 0, 0, "%s.noise_const", L->name);
                rc |= add_spec(m, &L->o_aff_w, 0, 2, L->cin, W, 0, 0, "%s.affine.weight", L->name);
                rc |= add_spec(m, &L->o_aff_b, 0, 1, L->cin, 0, 0, 0, "%s.affine.bias", L->name);
                L->o_q = m->n_derived;
                m->n_derived += (size_t)L->cout * L->cin;
                if (kind == L_CONV0) {
                    L->o_wup = m->n_derived;
                    m->n_derived += (size_t)L->cout * 9 * L->cin;
                    L->o_wpk = m->n_derived;
                    if (L->in_res <= SG2_UPCONV_PANEL_MAX_IN_RES && op_panel_native()) {
                        m->n_derived += op_upconv2d_pack_size(L->cout, L->cin);
                    }
                } else {
                    L->wino_m = L->res >= SG2_WINO4_MIN_RES ? 4 : 2;
                    L->wino_panels = L->res <= SG2_WINO_PANEL_MAX_RES && op_panel_native();
                    L->o_wino = m->n_derived;
                    m->n_derived +=
                        op_conv2d_wino_weight_size(L->cout, L->cin, L->wino_m, L->wino_panels);
                }
            }
            li++;
            if (kind == L_TORGB) {
                break;
            }
        }
    }
    m->n_layers = li;
    int F = c->mapping_features;
    for (int l = 0; l < c->mapping_layers; l++) {
        m->fc_in[l] = l == 0 ? c->z_dim : F;
        m->fc_out[l] = l == c->mapping_layers - 1 ? W : F;
        rc |= add_spec(m, &m->o_fc_w[l], 0, 2, m->fc_out[l], m->fc_in[l], 0, 0,
                       "mapping.fc%d.weight", l);
        rc |= add_spec(m, &m->o_fc_b[l], 0, 1, m->fc_out[l], 0, 0, 0, "mapping.fc%d.bias", l);
    }
    rc |= add_spec(m, &m->o_w_avg, 0, 1, W, 0, 0, 0, "mapping.w_avg");
    return rc ? -ENOMEM : 0;
}

/* Bind views and compute the derived tensors (demodulation sums, up-conv weight layout). */
static void model_bind(sg2_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        sg2__layer *L = &m->layers[i];
        L->weight = m->params + L->o_weight;
        L->bias = m->params + L->o_bias;
        L->aff_w = m->params + L->o_aff_w;
        L->aff_b = m->params + L->o_aff_b;
        if (L->kind != L_TORGB) {
            L->ns = m->params + L->o_ns;
            L->noise_const = m->params + L->o_noise;
            float *q = m->derived + L->o_q;
            op_demod_weight_sumsq(q, L->weight, L->cout, L->cin, 9);
            L->q = q;
            if (L->kind == L_CONV0) {
                float *wup = m->derived + L->o_wup;
                op_upconv2d_weight_prepare(wup, L->weight, L->cout, L->cin);
                L->wup = wup;
                L->wpk = NULL;
                if (L->in_res <= SG2_UPCONV_PANEL_MAX_IN_RES && op_panel_native()) {
                    float *pk = m->derived + L->o_wpk;
                    op_upconv2d_weight_pack(pk, wup, L->cout, L->cin);
                    L->wpk = pk;
                }
            } else {
                float *u = m->derived + L->o_wino;
                op_conv2d_wino_weight_prepare(u, L->weight, L->cout, L->cin, L->wino_m,
                                              L->wino_panels);
                L->wino = u;
            }
        }
    }
}

static int model_alloc(sg2_model **out, const sg2_config *cfg, lm_err *err)
{
    sg2_model *m = calloc(1, sizeof(*m));
    if (!m) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    m->cfg = *cfg;
    int rc = sg2_config_check(&m->cfg, err);
    if (rc != 0) {
        free(m);
        return rc;
    }
    if (model_plan(m) != 0) {
        sg2_model_free(m);
        return lm_err_set(err, -ENOMEM, "out of memory planning the generator");
    }
    m->params = malloc(sizeof(float) * (m->n_params ? m->n_params : 1));
    m->derived = malloc(sizeof(float) * (m->n_derived ? m->n_derived : 1));
    if (!m->params || !m->derived) {
        size_t mb = (m->n_params + m->n_derived) * 4 >> 20;
        sg2_model_free(m);
        return lm_err_set(err, -ENOMEM, "out of memory for %zu MiB of generator weights", mb);
    }
    *out = m;
    return 0;
}

void sg2_model_free(sg2_model *m)
{
    if (!m) {
        return;
    }
    free(m->specs);
    free(m->layers);
    free(m->noise_layer);
    free(m->params);
    free(m->derived);
    free(m);
}

const sg2_config *sg2_model_config(const sg2_model *m)
{
    return &m->cfg;
}

size_t sg2_model_numel(const sg2_model *m)
{
    return m->n_params;
}

int sg2_model_num_noise(const sg2_model *m)
{
    return m->n_noise;
}

int sg2_model_noise_res(const sg2_model *m, int i, const char **name)
{
    const sg2__layer *L = &m->layers[m->noise_layer[i]];
    if (name) {
        *name = L->name;
    }
    return L->res;
}

double sg2_model_synthesis_macs(const sg2_model *m)
{
    double macs = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        const sg2__layer *L = &m->layers[i];
        double in_px = (double)L->in_res * L->in_res, px = (double)L->res * L->res;
        if (L->kind == L_CONV0) {
            macs += 9.0 * L->cin * L->cout * in_px;
        } else if (L->kind == L_CONV1) {
            macs += 9.0 * L->cin * L->cout * px;
        } else {
            macs += (double)L->cin * L->cout * px;
        }
        macs += (double)L->cin * m->cfg.w_dim;
    }
    return macs;
}

/* ------------------------------------------------------------ load / save */

static float filter_value(int i)
{
    static const float t[4] = {1, 3, 3, 1};
    return t[i / 4] * t[i % 4] / 64.0f;
}

int sg2_model_load(sg2_model **out, const char *path, lm_err *err)
{
    *out = NULL;
    wt_safetensors *st = NULL;
    sg2_model *m = NULL;
    int rc = wt_safetensors_open(&st, path, err);
    if (rc != 0) {
        return rc;
    }
    const char *kw = wt_safetensors_meta(st, "generator_kwargs");
    if (!kw) {
        rc = lm_err_set(err, LM_ECONFIG,
                        "%s: no __metadata__.generator_kwargs (not a converted "
                        "StyleGAN2 generator?)",
                        path);
        goto close_file;
    }
    sg2_config cfg;
    if ((rc = sg2_config_from_json(&cfg, kw, err)) != 0) {
        lm_err_prefix(err, "%s: ", path);
        goto close_file;
    }
    if ((rc = model_alloc(&m, &cfg, err)) != 0) {
        lm_err_prefix(err, "%s: ", path);
        goto close_file;
    }
    /* Every tensor in the file must be expected... */
    for (int i = 0; i < wt_safetensors_count(st); i++) {
        const wt_tensor *t = wt_safetensors_at(st, i);
        int found = 0;
        for (int j = 0; j < m->n_specs && !found; j++) {
            found = strcmp(m->specs[j].name, t->name) == 0;
        }
        if (!found) {
            rc = lm_err_set(err, LM_ESHAPE,
                            "%s: unexpected tensor '%s' for a %dx%d generator "
                            "with %d mapping layers",
                            path, t->name, cfg.img_resolution, cfg.img_resolution,
                            cfg.mapping_layers);
            goto free_model;
        }
    }
    /* ... and every expected tensor present with its shape. */
    for (int j = 0; j < m->n_specs; j++) {
        const sg2__tspec *s = &m->specs[j];
        if (s->filter) {
            float f[16];
            if ((rc = wt_safetensors_get_f32(st, s->name, 2, s->shape, f, err)) != 0) {
                goto free_model;
            }
            for (int i = 0; i < 16; i++) {
                if (fabsf(f[i] - filter_value(i)) > 1e-6f) {
                    rc = lm_err_set(err, LM_EFORMAT,
                                    "%s: tensor '%s' is not the [1,3,3,1] filter "
                                    "(entry %d = %g)",
                                    path, s->name, i, f[i]);
                    goto free_model;
                }
            }
            continue;
        }
        rc = wt_safetensors_get_f32(st, s->name, s->ndim, s->shape, m->params + s->off, err);
        if (rc != 0) {
            goto free_model;
        }
    }
    model_bind(m);
    *out = m;
    m = NULL;
free_model:
    sg2_model_free(m);
close_file:
    wt_safetensors_close(st);
    return rc;
}

static uint64_t rng_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float sg2_rng_normal(uint64_t *state)
{
    double u1 = ((double)(rng_u64(state) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(rng_u64(state) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

int sg2_model_create_random(sg2_model **out, const sg2_config *cfg, uint64_t seed, lm_err *err)
{
    *out = NULL;
    sg2_model *m;
    int rc = model_alloc(&m, cfg, err);
    if (rc != 0) {
        return rc;
    }
    uint64_t s = seed;
    for (int j = 0; j < m->n_specs; j++) {
        const sg2__tspec *t = &m->specs[j];
        if (t->filter) {
            continue;
        }
        size_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            n *= (size_t)t->shape[d];
        }
        float *p = m->params + t->off;
        const char *leaf = strrchr(t->name, '.');
        int is_aff_b = strstr(t->name, ".affine.bias") != NULL;
        int is_mapping_w = strncmp(t->name, "mapping.fc", 10) == 0 && strcmp(leaf, ".weight") == 0;
        int normal = strcmp(leaf, ".weight") == 0 || strcmp(leaf, ".const") == 0 ||
                     strcmp(leaf, ".noise_const") == 0;
        for (size_t i = 0; i < n; i++) {
            if (is_aff_b) {
                p[i] = 1.0f;
            } else if (normal) {
                float v = sg2_rng_normal(&s);
                p[i] = is_mapping_w ? v / m->cfg.mapping_lr_mul : v;
            } else {
                p[i] = 0.0f;
            }
        }
    }
    model_bind(m);
    *out = m;
    return 0;
}

int sg2_model_save(const sg2_model *m, const char *path, lm_err *err)
{
    float filt[16];
    for (int i = 0; i < 16; i++) {
        filt[i] = filter_value(i);
    }
    wt_tensor_out *t = calloc((size_t)m->n_specs, sizeof(*t));
    char *kw = sg2_config_to_json(&m->cfg);
    if (!t || !kw) {
        free(t);
        free(kw);
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    for (int j = 0; j < m->n_specs; j++) {
        const sg2__tspec *s = &m->specs[j];
        t[j].name = s->name;
        t[j].ndim = s->ndim;
        for (int d = 0; d < s->ndim; d++) {
            t[j].shape[d] = s->shape[d];
        }
        t[j].data = s->filter ? filt : m->params + s->off;
    }
    char nws[16];
    snprintf(nws, sizeof nws, "%d", m->cfg.num_ws);
    const char *meta[] = {"format", "stylegan2-ref-v1", "generator_kwargs",         kw, "num_ws",
                          nws,      "created_by",       "latentmill sg2_model_save"};
    int rc = wt_safetensors_save(path, t, m->n_specs, meta, 4, err);
    free(kw);
    free(t);
    return rc;
}

int sg2_model_save_random(const char *path, const sg2_config *cfg, uint64_t seed, lm_err *err)
{
    sg2_model *m;
    int rc = sg2_model_create_random(&m, cfg, seed, err);
    if (rc == 0) {
        rc = sg2_model_save(m, path, err);
        sg2_model_free(m);
    }
    return rc;
}
