/*
 * bench_sg2.c - StyleGAN2 synthesis timings for `make bench` (driven by bench_sg2.sh).
 *
 *   bench_sg2 make OUT RES CHANNEL_BASE CHANNEL_MAX SEED   write a random-init generator
 *   bench_sg2 run WEIGHTS BATCH THREADS ITERS WARMUP fwd|fwdbwd   time synthesis (JSON line)
 *   bench_sg2 sgemm THREADS                                measured sgemm GFLOP/s, one JSON line
 *
 * "fwd" = ws -> img (noise const); "fwdbwd" = forward + backward of sum(img * R) w.r.t. ws
 * and the noise maps (weights frozen), the same work as tools/sg2_ref.py bench --backward.
 * Times are milliseconds per image: median and best of ITERS runs after WARMUP runs.
 * GFLOP/s counts 2 flops per multiply-add of the forward (sg2_model_synthesis_macs, direct
 * convolution) and twice that for forward+backward (the backward's input-gradient
 * convolutions cost as much as the forward's, spec 6.10): an effective rate, since the
 * 3x3 convolutions actually run as Winograd F(4x4,3x3) (F(2x2,3x3) below 16x16) with 4x
 * (2.25x) fewer multiplications.
 */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/op_gemm.h"
#include "models/stylegan2.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* CPU time of the whole process (all threads): with a loaded machine the wall time per
 * image says more about the scheduler than about the code. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmd_make(char **argv)
{
    sg2_config cfg;
    sg2_config_default(&cfg, atoi(argv[1]));
    cfg.channel_base = atoi(argv[2]);
    cfg.channel_max = atoi(argv[3]);
    lm_err err = {0};
    int rc = sg2_model_save_random(argv[0], &cfg, strtoull(argv[4], NULL, 10), &err);
    if (rc != 0) {
        fprintf(stderr, "bench_sg2 make: %s\n", lm_err_msg(&err, rc));
        return 1;
    }
    return 0;
}

/* argv: WEIGHTS BATCH THREADS ITERS WARMUP fwd|fwdbwd. profile: print the per-layer
 * timings of the timed iterations (sg2_ctx_profile_report) instead of the JSON line. */
static int cmd_run(char **argv, int profile)
{
    const char *path = argv[0];
    int B = atoi(argv[1]), T = atoi(argv[2]), iters = atoi(argv[3]), warm = atoi(argv[4]);
    int bwd = strcmp(argv[5], "fwdbwd") == 0;
    if (iters < 1) {
        iters = 1;
    }
    omp_set_num_threads(T);
    op_blas_set_threads(T);
    lm_err err = {0};
    sg2_model *m = NULL;
    sg2_ctx *ctx = NULL;
    int rc = sg2_model_load(&m, path, &err);
    if (rc == 0) {
        rc = sg2_ctx_create(&ctx, m, B, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "bench_sg2 run: %s\n", lm_err_msg(&err, rc));
        sg2_model_free(m);
        return 1;
    }
    const sg2_config *c = sg2_model_config(m);
    size_t nz = (size_t)B * c->z_dim, nws = (size_t)B * c->num_ws * c->w_dim;
    size_t nimg = (size_t)B * c->img_channels * c->img_resolution * c->img_resolution;
    float *z = malloc(sizeof(float) * nz), *w = malloc(sizeof(float) * (size_t)B * c->w_dim);
    float *ws = malloc(sizeof(float) * nws), *dws = malloc(sizeof(float) * nws);
    float *img = malloc(sizeof(float) * nimg), *R = malloc(sizeof(float) * nimg);
    int nn = sg2_model_num_noise(m);
    float **dn = calloc((size_t)nn, sizeof(float *));
    for (int i = 0; i < nn; i++) {
        int r = sg2_model_noise_res(m, i, NULL);
        dn[i] = malloc(sizeof(float) * (size_t)B * r * r);
    }
    uint64_t rng = 1;
    for (size_t i = 0; i < nz; i++) {
        z[i] = sg2_rng_normal(&rng);
    }
    for (size_t i = 0; i < nimg; i++) {
        R[i] = sg2_rng_normal(&rng);
    }
    sg2_mapping_forward(ctx, z, B, w, NULL);
    sg2_ws_broadcast(ws, w, B, c->num_ws, c->w_dim);
    double *t = malloc(sizeof(double) * (size_t)(iters + 1));
    double cpu0 = 0.0;
    for (int it = -warm; it < iters; it++) {
        if (it == 0) {
            cpu0 = cpu_ms();
            if (profile && sg2_ctx_profile(ctx, 1, &err) != 0) {
                fprintf(stderr, "bench_sg2 profile: %s\n", lm_err_msg(&err, -ENOMEM));
                profile = 0;
            }
        }
        double t0 = now_ms();
        sg2_synthesis_forward(ctx, ws, B, SG2_NOISE_CONST, NULL, img, NULL);
        if (bwd) {
            sg2_synthesis_backward(ctx, R, dws, dn, NULL);
        }
        if (it >= 0) {
            t[it] = (now_ms() - t0) / B;
        }
    }
    double cpu = (cpu_ms() - cpu0) / ((double)iters * B);
    qsort(t, (size_t)iters, sizeof(double), cmp_double);
    double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
    double gmac = sg2_model_synthesis_macs(m) * 1e-9 * (bwd ? 2.0 : 1.0);
    if (profile) {
        sg2_ctx_profile_report(ctx, stdout);
        printf("(batch %d, %d threads; whole fwd+bwd: median %.3f ms per image)\n", B, T, med);
    } else {
        printf("{\"ms_per_image\": %.3f, \"best_ms_per_image\": %.3f, \"gmac_per_image\": %.3f, "
               "\"gflops_best\": %.2f, \"batch\": %d, \"threads\": %d, \"backward\": %s, "
               "\"cpu_ms_per_image\": %.3f, \"arena_mib\": %zu}\n",
               med, t[0], gmac, 2.0 * gmac / (t[0] * 1e-3), B, T, bwd ? "true" : "false", cpu,
               sg2_ctx_bytes(ctx) >> 20);
    }
    for (int i = 0; i < nn; i++) {
        free(dn[i]);
    }
    free(dn), free(t), free(z), free(w), free(ws), free(dws), free(img), free(R);
    sg2_ctx_free(ctx);
    sg2_model_free(m);
    return 0;
}

/* The machine's sgemm rate on a conv-shaped product (512 x 4096 x 4608, a 3x3 conv at 64x64
 * with 512 channels), best of 5. */
static int cmd_sgemm(char **argv)
{
    int T = atoi(argv[0]);
    omp_set_num_threads(T);
    op_blas_set_threads(T);
    int M = 512, N = 4096, K = 4608;
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N);
    float *c = malloc(sizeof(float) * (size_t)M * N);
    uint64_t rng = 3;
    for (size_t i = 0; i < (size_t)M * K; i++) {
        a[i] = sg2_rng_normal(&rng);
    }
    for (size_t i = 0; i < (size_t)K * N; i++) {
        b[i] = sg2_rng_normal(&rng);
    }
    double best = 1e30;
    for (int it = 0; it < 6; it++) {
        double t0 = now_ms();
        op_sgemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
        double dt = now_ms() - t0;
        if (it > 0 && dt < best) {
            best = dt;
        }
    }
    printf("{\"sgemm_gflops\": %.2f, \"threads\": %d, \"shape\": \"%dx%dx%d\"}\n",
           2.0 * M * N * (double)K / (best * 1e-3) * 1e-9, T, M, N, K);
    free(a), free(b), free(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "make") == 0) {
        return cmd_make(argv + 2);
    }
    if (argc == 8 && strcmp(argv[1], "run") == 0) {
        return cmd_run(argv + 2, 0);
    }
    if (argc == 6 && strcmp(argv[1], "profile") == 0) {
        char *args[6] = {argv[2], argv[3], argv[4], argv[5], "1", "fwdbwd"};
        return cmd_run(args, 1);
    }
    if (argc == 3 && strcmp(argv[1], "sgemm") == 0) {
        return cmd_sgemm(argv + 2);
    }
    fprintf(stderr, "usage: bench_sg2 make OUT RES CHANNEL_BASE CHANNEL_MAX SEED\n"
                    "       bench_sg2 run WEIGHTS BATCH THREADS ITERS WARMUP fwd|fwdbwd\n"
                    "       bench_sg2 profile WEIGHTS BATCH THREADS ITERS   (per-layer ms)\n"
                    "       bench_sg2 sgemm THREADS\n");
    return 2;
}
