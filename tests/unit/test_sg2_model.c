/*
 * test_sg2_model.c - whole-generator properties beyond the goldens:
 *  - finite differences of loss = sum(img * R) (double accumulate, central) w.r.t. ws
 *    entries and per-image noise maps, without and with conv_clamp;
 *  - mapping backward (dz) by finite differences;
 *  - determinism: bitwise identical results across runs and OpenMP/BLAS thread counts;
 *  - batch independence (sample 1 alone vs inside a batch of 2);
 *  - noise modes (random is seeded and reproducible, user maps = const maps);
 *  - random-init save/load round trip (sg2_model_save_random) and its file contract.
 */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kernels/op_gemm.h"
#include "models/stylegan2.h"
#include "models/wt_safetensors.h"
#include "sg2_check.h"

#define WEIGHTS "tests/golden/stylegan2/res32.weights.safetensors"

/* The finite-difference tests run hundreds of tiny forwards: one thread each avoids
 * spinning thread pools on a shared machine (test_determinism sets its own counts). */
static int single_thread(void **state)
{
    (void)state;
    omp_set_num_threads(1);
    op_blas_set_threads(1);
    return 0;
}

typedef struct net {
    sg2_model *m;
    sg2_ctx *ctx;
    int n, R, C, nws, Wd, nn;
    float *ws, *img, *Rm, *dws, **dnoise, **noise;
    enum sg2_noise_mode mode;
} net;

static void net_open(net *t, const char *path, int n, enum sg2_noise_mode mode)
{
    lm_err err = {0};
    memset(t, 0, sizeof(*t));
    int rc = sg2_model_load(&t->m, path, &err);
    if (rc != 0) {
        fail_msg("%s", lm_err_msg(&err, rc));
    }
    assert_int_equal(sg2_ctx_create(&t->ctx, t->m, n, &err), 0);
    const sg2_config *c = sg2_model_config(t->m);
    t->n = n;
    t->R = c->img_resolution;
    t->C = c->img_channels;
    t->nws = c->num_ws;
    t->Wd = c->w_dim;
    t->mode = mode;
    uint64_t rng = 99;
    size_t nw = (size_t)n * t->nws * t->Wd, ni = (size_t)n * t->C * t->R * t->R;
    t->ws = malloc(sizeof(float) * nw);
    t->dws = malloc(sizeof(float) * nw);
    t->img = malloc(sizeof(float) * ni);
    t->Rm = malloc(sizeof(float) * ni);
    for (size_t i = 0; i < nw; i++) {
        t->ws[i] = sg2_rng_normal(&rng);
    }
    for (size_t i = 0; i < ni; i++) {
        t->Rm[i] = sg2_rng_normal(&rng);
    }
    t->nn = sg2_model_num_noise(t->m);
    t->dnoise = calloc((size_t)t->nn, sizeof(float *));
    t->noise = calloc((size_t)t->nn, sizeof(float *));
    for (int i = 0; i < t->nn; i++) {
        int r = sg2_model_noise_res(t->m, i, NULL);
        t->dnoise[i] = malloc(sizeof(float) * (size_t)n * r * r);
        t->noise[i] = sg2_ctx_noise(t->ctx, i);
        for (int k = 0; k < n * r * r; k++) {
            t->noise[i][k] = sg2_rng_normal(&rng);
        }
    }
}

static void net_close(net *t)
{
    for (int i = 0; i < t->nn; i++) {
        free(t->dnoise[i]);
    }
    free(t->dnoise);
    free(t->noise);
    free(t->ws), free(t->dws), free(t->img), free(t->Rm);
    sg2_ctx_free(t->ctx);
    sg2_model_free(t->m);
}

static double net_loss(void *u)
{
    net *t = u;
    assert_int_equal(sg2_synthesis_forward(t->ctx, t->ws, t->n, t->mode, NULL, t->img, NULL), 0);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)t->n * t->C * t->R * t->R; i++) {
        s += (double)t->img[i] * t->Rm[i];
    }
    return s;
}

static void net_grad(net *t)
{
    net_loss(t);
    assert_int_equal(sg2_synthesis_backward(t->ctx, t->Rm, t->dws, t->dnoise, NULL), 0);
}

/* Central differences of single entries (spread over x), errors relative to the largest
 * gradient entry, and one central difference along the unit direction of the analytic
 * gradient (its exact value is |grad|_2). Two effects limit a float32 whole-network
 * difference: round-off of the loss (~1e-4 absolute here, i.e. ~0.02 on a derivative at
 * step 3e-3, whatever its size) and lrelu/clamp kinks straddled by the step somewhere among
 * thousands of pixels (first order in the step). A single entry of a small gradient
 * (max|grad| ~1) is thus at the round-off floor, while the directional derivative is
 * |grad|_2, far above it. So the criterion is: every entry within 5 % of max|grad|, and the
 * directional derivative within 1 % of |grad|_2 (or at least 90 % of the entries within
 * 1 %). A wrong formula (missing demodulation term, flipped kernel, shifted filter, wrong
 * ws row) moves most entries by 10-100 % and the directional derivative with them. The
 * tight check of the whole backward is the golden test against PyTorch autograd (1e-6
 * relative). */
static int fd_net(const char *name, net *t, float *x, int64_t n, const float *grad, float eps,
                  double tol, int samples)
{
    double gmax = 0.0, emax = 0.0, g2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        gmax = fmax(gmax, fabs((double)grad[i]));
        g2 += (double)grad[i] * grad[i];
    }
    g2 = sqrt(g2);
    int64_t step = n / samples > 0 ? n / samples : 1, worst = 0;
    int total = 0, good = 0;
    double wfd = 0;
    for (int64_t k = step / 3; k < n; k += step) {
        float x0 = x[k];
        x[k] = x0 + eps;
        double lp = net_loss(t);
        x[k] = x0 - eps;
        double lm = net_loss(t);
        x[k] = x0;
        double fd = (lp - lm) / (2.0 * eps), e = fabs(fd - grad[k]);
        total++;
        good += e <= tol * gmax;
        if (e > emax) {
            emax = e, worst = k, wfd = fd;
        }
    }
    /* Along u = grad / |grad|_2. */
    float *x0 = malloc(sizeof(float) * (size_t)n);
    assert_non_null(x0);
    memcpy(x0, x, sizeof(float) * (size_t)n);
    double l[2];
    for (int sgn = 0; sgn < 2; sgn++) {
        for (int64_t i = 0; i < n; i++) {
            x[i] = x0[i] + (sgn ? -eps : eps) * (float)(grad[i] / (g2 > 0 ? g2 : 1.0));
        }
        l[sgn] = net_loss(t);
    }
    memcpy(x, x0, sizeof(float) * (size_t)n);
    free(x0);
    double dfd = (l[0] - l[1]) / (2.0 * eps), derr = fabs(dfd - g2) / (g2 > 0 ? g2 : 1.0);
    double rel = emax / gmax;
    int ok = gmax > 0 && rel <= 5 * tol && (derr <= tol || good >= 0.9 * total);
    printf("  FD %-30s n=%-6lld max|grad|=%-8.4g %3d/%-3d within %.0e, max rel err %-9.3g "
           "directional %.3g (%s)\n",
           name, (long long)n, gmax, good, total, tol, rel, derr, ok ? "ok" : "MISMATCH");
    if (!ok) {
        printf("    [%lld] analytic %.7g finite difference %.7g; |grad| %.7g directional %.7g\n",
               (long long)worst, grad[worst], wfd, g2, dfd);
    }
    return ok;
}

/* Whole network (see fd_net for the criterion), step 3e-3. */
static void check_network_fd(const char *path, double tol)
{
    net t;
    net_open(&t, path, 2, SG2_NOISE_USER);
    net_grad(&t);
    float eps = 3e-3f;
    int ok = fd_net("ws (W+)", &t, t.ws, (int64_t)t.n * t.nws * t.Wd, t.dws, eps, tol, 40);
    for (int i = 0; i < t.nn; i++) {
        const char *nm;
        int r = sg2_model_noise_res(t.m, i, &nm);
        char label[96];
        snprintf(label, sizeof label, "noise %s", nm);
        ok &= fd_net(label, &t, t.noise[i], (int64_t)t.n * r * r, t.dnoise[i], eps, tol, 12);
    }
    net_close(&t);
    assert_true(ok);
}

static void test_network_fd(void **state)
{
    (void)state;
    check_network_fd(WEIGHTS, 1e-2);
}

/* Same network with conv_clamp 1.5 in its metadata (activations reach ~7, so many outputs
 * clamp): exercises the clamp mask in every bias_act backward. */
static void test_network_fd_clamp(void **state)
{
    (void)state;
    char dir[256], path[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lm_sg2_XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/clamp.safetensors", dir);
    wt_safetensors *st = NULL;
    lm_err err = {0};
    assert_int_equal(wt_safetensors_open(&st, WEIGHTS, &err), 0);
    int n = wt_safetensors_count(st);
    wt_tensor_out *t = calloc((size_t)n, sizeof(*t));
    for (int i = 0; i < n; i++) {
        const wt_tensor *s = wt_safetensors_at(st, i);
        float *d = malloc(sizeof(float) * (size_t)s->numel);
        wt_safetensors_read_f32(st, s, d);
        t[i] = (wt_tensor_out){.name = s->name, .ndim = s->ndim, .data = d};
        memcpy(t[i].shape, s->shape, sizeof s->shape);
    }
    const char *meta[] = {"generator_kwargs",
                          "{\"c_dim\": 0, \"img_channels\": 3, \"img_resolution\": 32, "
                          "\"mapping_kwargs\": {\"num_layers\": 8}, \"synthesis_kwargs\": "
                          "{\"channel_base\": 1024, \"channel_max\": 64, \"conv_clamp\": 1.5}, "
                          "\"w_dim\": 64, \"z_dim\": 64}"};
    assert_int_equal(wt_safetensors_save(path, t, n, meta, 1, &err), 0);
    for (int i = 0; i < n; i++) {
        free((void *)t[i].data);
    }
    free(t);
    wt_safetensors_close(st);
    check_network_fd(path, 1e-2);
    unlink(path);
    rmdir(dir);
}

typedef struct map_case {
    sg2_ctx *ctx;
    float *z, *w, *g;
    int n, zd, wd;
} map_case;

static double map_loss(void *u)
{
    map_case *c = u;
    sg2_mapping_forward(c->ctx, c->z, c->n, c->w, NULL);
    double s = 0;
    for (int i = 0; i < c->n * c->wd; i++) {
        s += (double)c->w[i] * c->g[i];
    }
    return s;
}

static void test_mapping_fd(void **state)
{
    (void)state;
    net t;
    net_open(&t, WEIGHTS, 2, SG2_NOISE_CONST);
    const sg2_config *cfg = sg2_model_config(t.m);
    map_case c = {.ctx = t.ctx, .n = 2, .zd = cfg->z_dim, .wd = cfg->w_dim};
    uint64_t rng = 5;
    c.z = malloc(sizeof(float) * 2 * c.zd);
    c.w = malloc(sizeof(float) * 2 * c.wd);
    c.g = malloc(sizeof(float) * 2 * c.wd);
    float *dz = malloc(sizeof(float) * 2 * c.zd);
    for (int i = 0; i < 2 * c.zd; i++) {
        c.z[i] = sg2_rng_normal(&rng);
    }
    for (int i = 0; i < 2 * c.wd; i++) {
        c.g[i] = sg2_rng_normal(&rng);
    }
    map_loss(&c);
    assert_int_equal(sg2_mapping_backward(t.ctx, c.g, dz, NULL), 0);
    double gmax = 0, emax = 0;
    for (int i = 0; i < 2 * c.zd; i++) {
        gmax = fmax(gmax, fabs(dz[i]));
    }
    for (int k = 1; k < 2 * c.zd; k += 3) {
        float z0 = c.z[k];
        c.z[k] = z0 + 1e-3f;
        double lp = map_loss(&c);
        c.z[k] = z0 - 1e-3f;
        double lm = map_loss(&c);
        c.z[k] = z0;
        emax = fmax(emax, fabs((lp - lm) / 2e-3 - dz[k]));
    }
    /* Step 1e-3: float32 round-off of w (~1e-6) and lrelu kinks stay ~1e-3 of max|dz|. */
    printf("  FD mapping dz: max|grad| %.4g max err %.3g rel %.3g (tol 1e-2)\n", gmax, emax,
           emax / gmax);
    int ok = emax / gmax < 1e-2;
    free(c.z), free(c.w), free(c.g), free(dz);
    net_close(&t);
    assert_true(ok);
}

static void run_once(net *t, int omp_threads, int blas_threads, float *img, float *dws, float *dn0)
{
    omp_set_num_threads(omp_threads);
    op_blas_set_threads(blas_threads);
    net_grad(t);
    memcpy(img, t->img, sizeof(float) * (size_t)t->n * t->C * t->R * t->R);
    memcpy(dws, t->dws, sizeof(float) * (size_t)t->n * t->nws * t->Wd);
    int r = sg2_model_noise_res(t->m, t->nn - 1, NULL);
    memcpy(dn0, t->dnoise[t->nn - 1], sizeof(float) * (size_t)t->n * r * r);
}

/* Our kernels reduce in a fixed order whatever the OpenMP thread count: bitwise equal
 * results. OpenBLAS itself is not bitwise reproducible across ITS thread counts (its
 * partitioning changes the summation order), so that case gets a float tolerance. */
static void test_determinism(void **state)
{
    (void)state;
    net t;
    net_open(&t, "tests/golden/stylegan2/res64.weights.safetensors", 3, SG2_NOISE_CONST);
    size_t ni = (size_t)t.n * t.C * t.R * t.R, nw = (size_t)t.n * t.nws * t.Wd;
    size_t nd = (size_t)t.n * t.R * t.R, sz[3] = {ni, nw, nd};
    float *a[3], *b[3], *c[3], *d[3];
    for (int k = 0; k < 3; k++) {
        a[k] = malloc(sizeof(float) * sz[k]), b[k] = malloc(sizeof(float) * sz[k]);
        c[k] = malloc(sizeof(float) * sz[k]), d[k] = malloc(sizeof(float) * sz[k]);
    }
    run_once(&t, 1, 1, a[0], a[1], a[2]);
    run_once(&t, 2, 1, b[0], b[1], b[2]);
    run_once(&t, 2, 1, c[0], c[1], c[2]);
    run_once(&t, 2, 2, d[0], d[1], d[2]);
    int same_threads = 1, same_runs = 1, ok = 1;
    for (int k = 0; k < 3; k++) {
        same_threads &= !memcmp(a[k], b[k], sz[k] * 4);
        same_runs &= !memcmp(b[k], c[k], sz[k] * 4);
    }
    printf("  bitwise equal: OpenMP 1 vs 2 threads %s, repeated run %s\n",
           same_threads ? "yes" : "NO", same_runs ? "yes" : "NO");
    ok &= sg2_check_tensor("img, BLAS 1 vs 2 threads", d[0], a[0], (int64_t)ni, 1e-5);
    ok &= sg2_check_tensor("dws, BLAS 1 vs 2 threads", d[1], a[1], (int64_t)nw, 1e-5);
    ok &= sg2_check_tensor("dnoise, BLAS 1 vs 2 threads", d[2], a[2], (int64_t)nd, 1e-5);
    single_thread(NULL);
    for (int k = 0; k < 3; k++) {
        free(a[k]), free(b[k]), free(c[k]), free(d[k]);
    }
    net_close(&t);
    assert_true(same_threads && same_runs && ok);
}

/* Profiling (sg2_ctx_profile) changes no result, and its report has a row per layer with
 * time in every convolution, the calls it counted, and "off" once turned off. */
static void test_profile(void **state)
{
    (void)state;
    net t;
    net_open(&t, "tests/golden/stylegan2/res32.weights.safetensors", 2, SG2_NOISE_CONST);
    size_t ni = (size_t)t.n * t.C * t.R * t.R, nw = (size_t)t.n * t.nws * t.Wd;
    size_t nd = (size_t)t.n * t.R * t.R;
    float *a[3] = {malloc(sizeof(float) * ni), malloc(sizeof(float) * nw),
                   malloc(sizeof(float) * nd)};
    float *b[3] = {malloc(sizeof(float) * ni), malloc(sizeof(float) * nw),
                   malloc(sizeof(float) * nd)};
    run_once(&t, 1, 1, a[0], a[1], a[2]);
    lm_err err = {0};
    assert_int_equal(sg2_ctx_profile(t.ctx, 1, &err), 0);
    run_once(&t, 1, 1, b[0], b[1], b[2]);
    run_once(&t, 1, 1, b[0], b[1], b[2]);
    assert_memory_equal(a[0], b[0], sizeof(float) * ni);
    assert_memory_equal(a[1], b[1], sizeof(float) * nw);
    assert_memory_equal(a[2], b[2], sizeof(float) * nd);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sg2_ctx_profile_report(t.ctx, f);
    fclose(f);
    printf("%s", text);
    assert_non_null(strstr(text, "2 forward, 2 backward calls"));
    int rows = 0, timed = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64];
        int res;
        double fc, fr, bc, br;
        if (sscanf(line, "synthesis.%63s %d %lf %lf %lf %lf", name, &res, &fc, &fr, &bc, &br) ==
            6) {
            rows++;
            timed += fc > 0.0 && bc > 0.0;
        }
    }
    free(text);
    /* res32: 3 layers per block from 8 to 32, 2 at 4 */
    assert_int_equal(rows, 11);
    assert_int_equal(timed, 11);
    assert_int_equal(sg2_ctx_profile(t.ctx, 0, &err), 0);
    f = open_memstream(&text, &len);
    sg2_ctx_profile_report(t.ctx, f);
    fclose(f);
    assert_non_null(strstr(text, "off"));
    free(text);
    for (int k = 0; k < 3; k++) {
        free(a[k]), free(b[k]);
    }
    net_close(&t);
}

static void test_batch_and_noise_modes(void **state)
{
    (void)state;
    net t;
    net_open(&t, WEIGHTS, 2, SG2_NOISE_CONST);
    size_t per = (size_t)t.C * t.R * t.R, perw = (size_t)t.nws * t.Wd;
    float *img2 = malloc(sizeof(float) * 2 * per), *img1 = malloc(sizeof(float) * per);
    float *dws2 = malloc(sizeof(float) * 2 * perw), *dws1 = malloc(sizeof(float) * perw);
    int ok = 1;
    /* Sample 1 alone vs inside the batch: same up to float round-off. */
    net_grad(&t);
    memcpy(img2, t.img, sizeof(float) * 2 * per);
    memcpy(dws2, t.dws, sizeof(float) * 2 * perw);
    assert_int_equal(
        sg2_synthesis_forward(t.ctx, t.ws + perw, 1, SG2_NOISE_CONST, NULL, img1, NULL), 0);
    assert_int_equal(sg2_synthesis_backward(t.ctx, t.Rm + per, dws1, NULL, NULL), 0);
    ok &= sg2_check_tensor("img: batch of 1 vs batch of 2", img1, img2 + per, (int64_t)per, 1e-5);
    ok &= sg2_check_tensor("dws: batch of 1 vs batch of 2", dws1, dws2 + perw, (int64_t)perw, 1e-5);
    /* USER maps equal to the const buffers reproduce the CONST image... */
    wt_safetensors *st = NULL;
    lm_err err = {0};
    assert_int_equal(wt_safetensors_open(&st, WEIGHTS, &err), 0);
    for (int i = 0; i < t.nn; i++) {
        const char *nm;
        int r = sg2_model_noise_res(t.m, i, &nm);
        char full[96];
        snprintf(full, sizeof full, "%s.noise_const", nm);
        int64_t sh[2] = {r, r};
        for (int s = 0; s < 2; s++) {
            assert_int_equal(wt_safetensors_get_f32(st, full, 2, sh, t.noise[i] + s * r * r, &err),
                             0);
        }
    }
    wt_safetensors_close(st);
    assert_int_equal(sg2_synthesis_forward(t.ctx, t.ws, 2, SG2_NOISE_USER, NULL, t.img, NULL), 0);
    ok &= sg2_check_tensor("img: USER maps = const buffers", t.img, img2, (int64_t)(2 * per), 0);
    /* ... RANDOM is reproducible per seed and differs between seeds and from NONE. */
    uint64_t s1 = 7, s2 = 7, s3 = 8;
    float *r1 = malloc(sizeof(float) * 2 * per), *r2 = malloc(sizeof(float) * 2 * per);
    assert_int_equal(sg2_synthesis_forward(t.ctx, t.ws, 2, SG2_NOISE_RANDOM, &s1, r1, NULL), 0);
    assert_int_equal(sg2_synthesis_forward(t.ctx, t.ws, 2, SG2_NOISE_RANDOM, &s2, r2, NULL), 0);
    ok &= memcmp(r1, r2, sizeof(float) * 2 * per) == 0;
    assert_int_equal(sg2_synthesis_forward(t.ctx, t.ws, 2, SG2_NOISE_RANDOM, &s3, r2, NULL), 0);
    ok &= memcmp(r1, r2, sizeof(float) * 2 * per) != 0;
    assert_int_equal(sg2_synthesis_forward(t.ctx, t.ws, 2, SG2_NOISE_RANDOM, NULL, r2, NULL),
                     LM_ECONFIG);
    assert_int_equal(sg2_synthesis_forward(t.ctx, t.ws, 3, SG2_NOISE_CONST, NULL, r2, NULL),
                     LM_ECONFIG);
    free(r1), free(r2), free(img1), free(img2), free(dws1), free(dws2);
    net_close(&t);
    assert_true(ok);
}

static void test_random_init_file(void **state)
{
    (void)state;
    char dir[256], path[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lm_sg2_XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/g.safetensors", dir);
    sg2_config cfg;
    sg2_config_default(&cfg, 16);
    cfg.z_dim = cfg.w_dim = 32;
    cfg.channel_base = 256;
    cfg.channel_max = 32;
    cfg.mapping_layers = 3;
    cfg.conv_clamp = 256;
    lm_err err = {0};
    assert_int_equal(sg2_model_save_random(path, &cfg, 42, &err), 0);
    sg2_model *a = NULL, *b = NULL;
    assert_int_equal(sg2_model_load(&a, path, &err), 0);
    assert_int_equal(sg2_model_create_random(&b, &cfg, 42, &err), 0);
    const sg2_config *ca = sg2_model_config(a);
    assert_int_equal(ca->num_ws, 6);
    assert_true(ca->conv_clamp == 256.0f);
    assert_int_equal(ca->channel_base, 256);
    assert_int_equal(ca->mapping_layers, 3);
    /* Spec 13.2 naming and counts: 3 mapping layers x 2 + w_avg; per block 4: const, filter,
     * conv1 x 7, torgb x 4; per block r>=8: filter + conv0 x 7 + conv1 x 7 + torgb x 4. */
    wt_safetensors *st = NULL;
    assert_int_equal(wt_safetensors_open(&st, path, &err), 0);
    assert_int_equal(wt_safetensors_count(st), 7 + 13 + 2 * 19);
    assert_non_null(wt_safetensors_find(st, "synthesis.b16.conv0.noise_const"));
    assert_int_equal(wt_safetensors_find(st, "synthesis.b8.conv0.noise_strength")->ndim, 0);
    assert_string_equal(wt_safetensors_meta(st, "num_ws"), "6");
    wt_safetensors_close(st);
    /* Same seed in memory and from file: identical images. */
    sg2_ctx *xa, *xb;
    assert_int_equal(sg2_ctx_create(&xa, a, 1, &err), 0);
    assert_int_equal(sg2_ctx_create(&xb, b, 1, &err), 0);
    float z[32], w[32], ws[6 * 32], ia[3 * 256], ib[3 * 256];
    uint64_t rng = 1;
    for (int i = 0; i < 32; i++) {
        z[i] = sg2_rng_normal(&rng);
    }
    sg2_mapping_forward(xa, z, 1, w, NULL);
    sg2_ws_broadcast(ws, w, 1, 6, 32);
    sg2_synthesis_forward(xa, ws, 1, SG2_NOISE_CONST, NULL, ia, NULL);
    sg2_synthesis_forward(xb, ws, 1, SG2_NOISE_CONST, NULL, ib, NULL);
    assert_memory_equal(ia, ib, sizeof ia);
    double mx = 0;
    for (int i = 0; i < 3 * 256; i++) {
        mx = fmax(mx, fabs(ia[i]));
    }
    assert_true(mx > 1e-3 && isfinite(mx)); /* a real image, not zeros or NaN */
    sg2_ctx_free(xa);
    sg2_ctx_free(xb);
    sg2_model_free(a);
    sg2_model_free(b);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_fd),       cmocka_unit_test(test_network_fd_clamp),
        cmocka_unit_test(test_mapping_fd),       cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_profile),          cmocka_unit_test(test_batch_and_noise_modes),
        cmocka_unit_test(test_random_init_file),
    };
    return cmocka_run_group_tests(tests, single_thread, NULL);
}
