/*
 * test_sg2_golden.c - the C generator against NVlabs stylegan2-ada-pytorch outputs
 * (tests/golden/stylegan2/, see its README) and, for a generator with conv_clamp, against
 * the project's independent PyTorch implementation tools/sg2_ref.py: mapping, truncation, every
 * intermediate activation, images with const and without noise, gradients w.r.t. ws, z and the
 * noise buffers of loss = sum(img * R). Tolerances: 1e-4 of the tensor's largest magnitude for
 * forward values (float32 round-off across ~20 layers stays below 1e-5 here); 1e-3 for gradients
 * (longer chains, demodulation term); the reference's own fused vs non-fused difference is ~3e-6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "models/stylegan2.h"
#include "models/wt_safetensors.h"
#include "sg2_check.h"

#define GOLDEN_DIR "tests/golden/stylegan2/"
#define TOL_FWD 1e-4
#define TOL_GRAD 1e-3

/* Golden tensor as float32 (caller frees). */
static float *golden(const wt_safetensors *g, const char *name, int64_t *numel)
{
    const wt_tensor *t = wt_safetensors_find(g, name);
    if (!t) {
        fail_msg("golden tensor %s missing", name);
    }
    float *v = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    assert_non_null(v);
    wt_safetensors_read_f32(g, t, v);
    if (numel) {
        *numel = t->numel;
    }
    return v;
}

static int check_golden(const wt_safetensors *g, const char *name, const float *got, double tol)
{
    int64_t n;
    float *exp = golden(g, name, &n);
    int ok = sg2_check_tensor(name, got, exp, n, tol);
    free(exp);
    return ok;
}

static void run_golden(const char *tag)
{
    char wpath[256], gpath[256];
    snprintf(wpath, sizeof wpath, GOLDEN_DIR "%s.weights.safetensors", tag);
    snprintf(gpath, sizeof gpath, GOLDEN_DIR "%s.golden.safetensors", tag);
    lm_err err = {0};
    sg2_model *m = NULL;
    wt_safetensors *g = NULL;
    int rc = sg2_model_load(&m, wpath, &err);
    if (rc != 0) {
        fail_msg("load %s: %s", wpath, lm_err_msg(&err, rc));
    }
    rc = wt_safetensors_open(&g, gpath, &err);
    if (rc != 0) {
        fail_msg("open %s: %s", gpath, lm_err_msg(&err, rc));
    }
    const sg2_config *cfg = sg2_model_config(m);
    const char *bm = wt_safetensors_meta(g, "batch");
    int n = bm ? atoi(bm) : 2, R = cfg->img_resolution, nws = cfg->num_ws, Wd = cfg->w_dim;
    printf("%s: R=%d num_ws=%d w_dim=%d mapping=%d\n", tag, R, nws, Wd, cfg->mapping_layers);
    sg2_ctx *ctx = NULL;
    assert_int_equal(sg2_ctx_create(&ctx, m, n, &err), 0);
    int ok = 1;

    float *z = golden(g, "z", NULL);
    float *w = malloc(sizeof(float) * (size_t)n * Wd);
    size_t nwsf = (size_t)n * nws * Wd;
    float *ws = malloc(sizeof(float) * nwsf), *wst = malloc(sizeof(float) * nwsf);
    float *act = malloc(sizeof(float) * (size_t)n * 4096 * 64 * 64);
    assert_non_null(act);
    assert_int_equal(sg2_mapping_forward(ctx, z, n, w, NULL), 0);
    for (int l = 0; l < cfg->mapping_layers; l++) {
        char nm[64];
        snprintf(nm, sizeof nm, "mapping.fc%d", l);
        assert_true(sg2_ctx_activation(ctx, nm, act) > 0);
        snprintf(nm, sizeof nm, "act.mapping.fc%d", l);
        ok &= check_golden(g, nm, act, TOL_FWD);
    }
    ok &= check_golden(g, "w", w, TOL_FWD);
    sg2_ws_broadcast(ws, w, n, nws, Wd);
    ok &= check_golden(g, "ws", ws, TOL_FWD);
    memcpy(wst, ws, sizeof(float) * nwsf);
    sg2_ws_truncate(m, wst, n, 0.7f, 0);
    ok &= check_golden(g, "ws_psi0p7", wst, TOL_FWD);
    memcpy(wst, ws, sizeof(float) * nwsf);
    sg2_ws_truncate(m, wst, n, 0.7f, 4);
    ok &= check_golden(g, "ws_psi0p7_cut4", wst, TOL_FWD);

    /* Synthesis from the golden ws (isolates it from mapping round-off). */
    float *gws = golden(g, "ws", NULL);
    size_t nimg = (size_t)n * cfg->img_channels * R * R;
    float *img = malloc(sizeof(float) * nimg);
    assert_int_equal(sg2_synthesis_forward(ctx, gws, n, SG2_NOISE_NONE, NULL, img, NULL), 0);
    ok &= check_golden(g, "img_nonoise", img, TOL_FWD);
    assert_int_equal(sg2_synthesis_forward(ctx, gws, n, SG2_NOISE_CONST, NULL, img, NULL), 0);
    ok &= check_golden(g, "img", img, TOL_FWD);
    float *img_acts = NULL; /* the act.* checks below need the ws forward state */
    if (wt_safetensors_find(g, "img_psi0p7")) {
        float *gwt = golden(g, "ws_psi0p7", NULL);
        img_acts = malloc(sizeof(float) * nimg);
        assert_int_equal(sg2_synthesis_forward(ctx, gwt, n, SG2_NOISE_CONST, NULL, img_acts, NULL),
                         0);
        ok &= check_golden(g, "img_psi0p7", img_acts, TOL_FWD);
        assert_int_equal(sg2_synthesis_forward(ctx, gws, n, SG2_NOISE_CONST, NULL, img_acts, NULL),
                         0);
        free(gwt);
        free(img_acts);
    }
    for (int i = 0; i < wt_safetensors_count(g); i++) {
        const wt_tensor *t = wt_safetensors_at(g, i);
        if (strncmp(t->name, "act.synthesis.", 14) != 0) {
            continue;
        }
        int64_t cnt = sg2_ctx_activation(ctx, t->name + 4, act);
        if (cnt != t->numel) {
            printf("  %s: activation size %lld, golden %lld\n", t->name, (long long)cnt,
                   (long long)t->numel);
            ok = 0;
            continue;
        }
        ok &= check_golden(g, t->name, act, TOL_FWD);
    }

    /* Backward of loss = sum(img * R). */
    float *Rt = golden(g, "R", NULL);
    float *dws = malloc(sizeof(float) * nwsf);
    int nn = sg2_model_num_noise(m);
    float **dnoise = calloc((size_t)nn, sizeof(float *));
    for (int i = 0; i < nn; i++) {
        int r = sg2_model_noise_res(m, i, NULL);
        dnoise[i] = malloc(sizeof(float) * (size_t)n * r * r);
    }
    assert_int_equal(sg2_synthesis_backward(ctx, Rt, dws, dnoise, NULL), 0);
    ok &= check_golden(g, "grad_ws", dws, TOL_GRAD);
    for (int i = 0; i < nn; i++) {
        const char *lname;
        int r = sg2_model_noise_res(m, i, &lname);
        for (int k = 0; k < r * r; k++) {
            for (int s = 1; s < n; s++) {
                dnoise[i][k] += dnoise[i][(size_t)s * r * r + k];
            }
        }
        char nm[96];
        snprintf(nm, sizeof nm, "grad.%s.noise_const", lname);
        ok &= check_golden(g, nm, dnoise[i], TOL_GRAD);
    }
    /* z: W broadcast (psi 1) then the mapping backward. */
    float *dw = malloc(sizeof(float) * (size_t)n * Wd),
          *dz = malloc(sizeof(float) * (size_t)n * cfg->z_dim);
    sg2_ws_grad_to_w(dw, dws, n, nws, Wd, 1.0f, 0);
    if (wt_safetensors_find(g, "grad_w")) {
        ok &= check_golden(g, "grad_w", dw, TOL_GRAD);
    }
    assert_int_equal(sg2_mapping_backward(ctx, dw, dz, NULL), 0);
    ok &= check_golden(g, "grad_z", dz, TOL_GRAD);

    for (int i = 0; i < nn; i++) {
        free(dnoise[i]);
    }
    free(dnoise);
    free(dw);
    free(dz);
    free(dws);
    free(Rt);
    free(img);
    free(gws);
    free(act);
    free(ws);
    free(wst);
    free(w);
    free(z);
    sg2_ctx_free(ctx);
    wt_safetensors_close(g);
    sg2_model_free(m);
    assert_true(ok);
}

static void test_golden_res32(void **state)
{
    (void)state;
    run_golden("res32");
}

static void test_golden_res64(void **state)
{
    (void)state;
    run_golden("res64");
}

/* conv_clamp 1.0 (thousands of clamped values), batch 3, 4 mapping layers: the clamp path
 * against the independent PyTorch implementation tools/sg2_ref.py (float64 compute). */
static void test_golden_sg2ref_clamp16(void **state)
{
    (void)state;
    run_golden("sg2ref_clamp16");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_res32),
        cmocka_unit_test(test_golden_res64),
        cmocka_unit_test(test_golden_sg2ref_clamp16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
