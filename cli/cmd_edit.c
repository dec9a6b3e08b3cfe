/*
 * cmd_edit.c - `latentmill edit`: render a latent (from a .npy, or from a seed through
 * the mapping network), optionally moved along a direction, to PNG. Thin driver over
 * models/stylegan2.h; the latent layouts are those `invert` writes.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kernels/op_gemm.h"
#include "models/invert.h"
#include "models/stylegan2.h"
#include "shared/lm_img.h"
#include "shared/lm_mt19937.h"
#include "shared/lm_npy.h"
#include "shared/lm_seeds.h"

static const char *usage_text =
    "usage: latentmill edit (LATENT.npy | --seed S) --generator G.safetensors --png OUT.png\n"
    "                       [--direction D.npy --alpha A] [--psi X] [--noise model|none]\n"
    "                       [--save-latent OUT.npy]\n"
    "\n"
    "Render a latent with the generator and write the image as PNG.\n"
    "  LATENT.npy        float32/float64 [w_dim], [1, w_dim] (w, broadcast to all layers) or\n"
    "                    [num_ws, w_dim] (W+), as written by `latentmill invert`\n"
    "  --seed S          instead of a file: z from seed S (0..4294967295) drawn as NVlabs'\n"
    "                    generate.py does (NumPy RandomState(S).randn), mapped to w: the same\n"
    "                    image as `latentmill generate --seeds S` at the same --psi\n"
    "  --direction D.npy a direction [w_dim], [1, w_dim] or [num_ws, w_dim] (e.g. a bank\n"
    "                    normal); the latent moves by A times it (every layer for w directions)\n"
    "  --alpha A         step along the direction (default 0)\n"
    "  --psi X           truncation towards mapping.w_avg on every layer (default 1: none)\n"
    "  --noise MODE      model: the generator's noise buffers (default); none: no noise\n"
    "  --save-latent F   also write the rendered latent as [num_ws, w_dim] float32 .npy\n"
    "\n"
    "Not in this build: bank lookup by attribute name, multi-step sheets.\n"
    "Exit status: 0 written, 1 failed, 2 bad usage or input.\n";

/* Read a [w_dim] / [1, w_dim] / [num_ws, w_dim] array into ws [num_ws, w_dim]. */
static int read_rows(const char *path, float *ws, int nws, int Wd, const char *what)
{
    float *d = NULL;
    int64_t shape[4];
    int nd = 0;
    lm_err err = {0};
    int rc = inv_npy_read_f32(path, &d, shape, &nd, &err);
    if (rc != 0) {
        fprintf(stderr, "latentmill edit: %s: %s\n", what, lm_err_msg(&err, rc));
        return -1;
    }
    int64_t cnt = 1;
    for (int k = 0; k < nd; k++) {
        cnt *= shape[k];
    }
    if (cnt == Wd) {
        sg2_ws_broadcast(ws, d, 1, nws, Wd);
    } else if (cnt == (int64_t)nws * Wd) {
        memcpy(ws, d, sizeof(float) * (size_t)nws * Wd);
    } else {
        fprintf(stderr, "latentmill edit: %s %s has %lld values; expected %d (w) or %d x %d (W+)\n",
                what, path, (long long)cnt, Wd, nws, Wd);
        free(d);
        return -1;
    }
    free(d);
    return 0;
}

int cmd_edit(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char *latent = NULL, *gen = NULL, *png = NULL, *dir = NULL, *save = NULL;
    const char *noise = "model";
    int have_seed = 0;
    uint64_t seed = 0;
    float alpha = 0, psi = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int val = i + 1 < argc;
        if (strcmp(a, "--generator") == 0 && val) {
            gen = argv[++i];
        } else if (strcmp(a, "--png") == 0 && val) {
            png = argv[++i];
        } else if (strcmp(a, "--seed") == 0 && val) {
            /* One seed, by the rules of `generate --seeds` (shared/lm_seeds.h). */
            uint32_t *sl = NULL;
            size_t ns = 0;
            lm_err serr = {0};
            int src = lm_seeds_parse(argv[++i], &sl, &ns, &serr);
            if (src != 0 || ns != 1) {
                fprintf(stderr, "latentmill edit: --seed: %s\n",
                        src != 0 ? lm_err_msg(&serr, src) : "give one seed, not a list");
                free(sl);
                return LM_EXIT_USAGE;
            }
            seed = sl[0];
            free(sl);
            have_seed = 1;
        } else if (strcmp(a, "--direction") == 0 && val) {
            dir = argv[++i];
        } else if (strcmp(a, "--alpha") == 0 && val) {
            alpha = strtof(argv[++i], NULL);
        } else if (strcmp(a, "--psi") == 0 && val) {
            psi = strtof(argv[++i], NULL);
        } else if (strcmp(a, "--noise") == 0 && val) {
            noise = argv[++i];
        } else if (strcmp(a, "--save-latent") == 0 && val) {
            save = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "latentmill edit: unknown option or missing value: %s\n%s", a,
                    usage_text);
            return LM_EXIT_USAGE;
        } else if (latent == NULL) {
            latent = a;
        } else {
            fprintf(stderr, "latentmill edit: one LATENT only\n");
            return LM_EXIT_USAGE;
        }
    }
    if ((latent == NULL) == !have_seed || gen == NULL || png == NULL) {
        fprintf(stderr, "latentmill edit: give LATENT.npy or --seed, --generator and --png\n%s",
                usage_text);
        return LM_EXIT_USAGE;
    }
    enum sg2_noise_mode mode;
    if (strcmp(noise, "model") == 0) {
        mode = SG2_NOISE_CONST;
    } else if (strcmp(noise, "none") == 0) {
        mode = SG2_NOISE_NONE;
    } else {
        fprintf(stderr, "latentmill edit: --noise must be model or none\n");
        return LM_EXIT_USAGE;
    }
    lm_err err = {0};
    sg2_model *m = NULL;
    int rc = sg2_model_load(&m, gen, &err);
    if (rc != 0) {
        fprintf(stderr, "latentmill edit: %s\n", lm_err_msg(&err, rc));
        return LM_EXIT_USAGE;
    }
    const sg2_config *cfg = sg2_model_config(m);
    int R = cfg->img_resolution, C = cfg->img_channels, Wd = cfg->w_dim, nws = cfg->num_ws;
    int status = LM_EXIT_USAGE;
    sg2_ctx *g = NULL;
    float *ws = calloc((size_t)nws * Wd, sizeof(float));
    float *dv = calloc((size_t)nws * Wd, sizeof(float));
    float *z = calloc((size_t)cfg->z_dim, sizeof(float));
    float *img = calloc((size_t)C * R * R, sizeof(float));
    uint8_t *u8 = calloc((size_t)C * R * R, 1);
    if (!ws || !dv || !z || !img || !u8) {
        fprintf(stderr, "latentmill edit: out of memory\n");
        status = LM_EXIT_FAIL;
        goto out;
    }
    if (C != 3) {
        fprintf(stderr, "latentmill edit: %s has %d image channels (need 3)\n", gen, C);
        goto out;
    }
    if ((rc = sg2_ctx_create(&g, m, 1, &err)) != 0) {
        fprintf(stderr, "latentmill edit: %s\n", lm_err_msg(&err, rc));
        status = LM_EXIT_FAIL;
        goto out;
    }
    if (have_seed) {
        lm_mt19937_randn_f32(z, (size_t)cfg->z_dim, (uint32_t)seed);
        lm_err merr = {0};
        if ((rc = sg2_mapping_forward(g, z, 1, dv, &merr)) != 0) {
            fprintf(stderr, "latentmill edit: mapping failed: %s\n", lm_err_msg(&merr, rc));
            status = LM_EXIT_FAIL;
            goto out;
        }
        sg2_ws_broadcast(ws, dv, 1, nws, Wd);
    } else if (read_rows(latent, ws, nws, Wd, "latent") != 0) {
        goto out;
    }
    if (psi != 1.0f) {
        sg2_ws_truncate(m, ws, 1, psi, 0);
    }
    if (dir != NULL) {
        if (read_rows(dir, dv, nws, Wd, "direction") != 0) {
            goto out;
        }
        for (size_t k = 0; k < (size_t)nws * Wd; k++) {
            ws[k] += alpha * dv[k];
        }
    }
    lm_err serr = {0};
    if ((rc = sg2_synthesis_forward(g, ws, 1, mode, NULL, img, &serr)) != 0) {
        fprintf(stderr, "latentmill edit: synthesis failed: %s\n", lm_err_msg(&serr, rc));
        status = LM_EXIT_FAIL;
        goto out;
    }
    inv_image_to_u8(u8, img, R, C);
    lm_image im = {R, R, 3, u8};
    if ((rc = lm_img_save_png(png, &im, &err)) != 0) {
        fprintf(stderr, "latentmill edit: %s\n", lm_err_msg(&err, rc));
        status = LM_EXIT_FAIL;
        goto out;
    }
    if (save != NULL) {
        uint64_t shape[2] = {(uint64_t)nws, (uint64_t)Wd};
        if ((rc = lm_npy_save(save, "<f4", 4, shape, 2, ws, &err)) != 0) {
            fprintf(stderr, "latentmill edit: %s\n", lm_err_msg(&err, rc));
            status = LM_EXIT_FAIL;
            goto out;
        }
    }
    status = LM_EXIT_OK;
out:
    free(ws);
    free(dv);
    free(z);
    free(img);
    free(u8);
    sg2_ctx_free(g);
    sg2_model_free(m);
    return status;
}
