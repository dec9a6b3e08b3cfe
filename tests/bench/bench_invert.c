/*
 * bench_invert.c - driver of bench_invert.sh (not a unit test): the speed-up of the
 * nearest-neighbour initialiser in steps.
 *
 *   bench_invert nn GENERATOR BANK_K N_IMAGES STEPS PSNR_DB [space=w|wplus] [noise=optimize|model]
 *
 * Renders N_IMAGES targets from known latents (z seeds 5000.., quantised to 8 bits),
 * inverts each twice (start at w_avg, start at the nearest of BANK_K bank samples) and
 * prints, per start, the mean number of steps until the per-step PSNR of the data loss
 * (10 log10(4 / mse)) first reaches PSNR_DB (STEPS + 1 when never), the final PSNR and
 * the ratio of mean steps. The bank is built here (not cached) and its build time shown.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/invert.h"
#include "models/stylegan2.h"

typedef struct first_hit {
    float thr;
    int step;
} first_hit;

static void hook(void *user, int step, int n, const float *loss)
{
    first_hit *h = user;
    (void)n;
    if (h->step < 0 && 10.0 * log10(4.0 / fmax(loss[0], 1e-20)) >= h->thr) {
        h->step = step;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 7 || strcmp(argv[1], "nn") != 0) {
        fprintf(stderr, "usage: bench_invert nn GENERATOR BANK_K N_IMAGES STEPS PSNR_DB "
                        "[space=w|wplus] [noise=optimize|model]\n");
        return 2;
    }
    const char *gen = argv[2];
    int K = atoi(argv[3]), N = atoi(argv[4]), steps = atoi(argv[5]);
    float thr = strtof(argv[6], NULL);
    inv_params p;
    inv_params_default(&p);
    p.steps = steps;
    for (int a = 7; a < argc; a++) {
        if (strcmp(argv[a], "space=wplus") == 0) {
            p.space = INV_SPACE_WPLUS;
        } else if (strcmp(argv[a], "noise=model") == 0) {
            p.optimize_noise = 0;
        }
    }
    lm_err err = {0};
    sg2_model *m = NULL;
    int rc = sg2_model_load(&m, gen, &err);
    if (rc != 0) {
        fprintf(stderr, "%s\n", lm_err_msg(&err, rc));
        return 1;
    }
    const sg2_config *cfg = sg2_model_config(m);
    int R = cfg->img_resolution, C = cfg->img_channels, Wd = cfg->w_dim;
    size_t per = (size_t)C * R * R;
    float *w_avg = malloc(sizeof(float) * Wd), w_std = 0;
    float *bank = malloc(sizeof(float) * (size_t)K * inv_bank_stride(m));
    float *target = malloc(sizeof(float) * per), *w0 = malloc(sizeof(float) * Wd);
    float *lat = malloc(sizeof(float) * (size_t)cfg->num_ws * Wd);
    float *z = malloc(sizeof(float) * cfg->z_dim), *w = malloc(sizeof(float) * Wd);
    float *ws = malloc(sizeof(float) * (size_t)cfg->num_ws * Wd);
    uint8_t *u8 = malloc(per);
    inv_ctx *ic = NULL;
    sg2_ctx *g = NULL;
    if ((rc = inv_wstats_compute(m, 2000, 123, w_avg, &w_std, &err)) != 0 ||
        (rc = inv_ctx_create(&ic, m, &p, 1, &err)) != 0 || (rc = sg2_ctx_create(&g, m, 1, &err)) != 0) {
        fprintf(stderr, "%s\n", lm_err_msg(&err, rc));
        return 1;
    }
    inv_ctx_set_wstats(ic, w_avg, w_std);
    double t0 = now_s();
    if ((rc = inv_bank_build(m, K, 0x6e6e62616e6bULL, bank, &err)) != 0) {
        fprintf(stderr, "%s\n", lm_err_msg(&err, rc));
        return 1;
    }
    double tb = now_s() - t0;
    double sum_steps[2] = {0, 0}, sum_psnr[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        uint64_t zs = 5000 + (uint64_t)i;
        for (int k = 0; k < cfg->z_dim; k++) {
            z[k] = sg2_rng_normal(&zs);
        }
        sg2_mapping_forward(g, z, 1, w, NULL);
        sg2_ws_broadcast(ws, w, 1, cfg->num_ws, Wd);
        sg2_synthesis_forward(g, ws, 1, SG2_NOISE_CONST, NULL, target, NULL);
        inv_image_to_u8(u8, target, R, C);
        inv_target_from_u8(target, u8, R, C);
        inv_bank_nearest(m, bank, K, target, w0);
        for (int mode = 0; mode < 2; mode++) {
            first_hit h = {thr, -1};
            inv_ctx_set_hook(ic, hook, &h);
            uint64_t seed = 77 + (uint64_t)i;
            inv_result res;
            if ((rc = inv_run(ic, target, 1, &seed, mode ? w0 : NULL, lat, NULL, &res, &err)) != 0) {
                fprintf(stderr, "%s\n", lm_err_msg(&err, rc));
                return 1;
            }
            sum_steps[mode] += h.step < 0 ? steps + 1 : h.step + 1;
            sum_psnr[mode] += res.psnr;
        }
    }
    printf("{\"generator_res\":%d,\"bank\":%d,\"bank_build_s\":%.2f,\"images\":%d,\"steps\":%d,"
           "\"psnr_threshold\":%.1f,\"wavg_mean_steps\":%.1f,\"nn_mean_steps\":%.1f,"
           "\"wavg_final_psnr\":%.2f,\"nn_final_psnr\":%.2f,\"speedup\":%.2f}\n",
           R, K, tb, N, steps, (double)thr, sum_steps[0] / N, sum_steps[1] / N, sum_psnr[0] / N,
           sum_psnr[1] / N, sum_steps[0] / sum_steps[1]);
    free(w_avg);
    free(bank);
    free(target);
    free(w0);
    free(lat);
    free(z);
    free(w);
    free(ws);
    free(u8);
    inv_ctx_free(ic);
    sg2_ctx_free(g);
    sg2_model_free(m);
    return 0;
}
