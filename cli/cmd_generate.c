/*
 * cmd_generate.c - `latentmill generate`: images from seeds, as NVlabs'
 * generate.py does (z = np.random.RandomState(seed).randn(1, z_dim), mapping,
 * truncation around w_avg, synthesis, (x * 127.5 + 128) clamped to 8 bits), written
 * as a grid PNG and/or one PNG per seed. Thin driver over models/stylegan2.h;
 * z from shared/lm_mt19937.h, seed lists from shared/lm_seeds.h, pixels by
 * inv_image_to_u8 (the conversion `edit` and `invert` use), PNGs written
 * atomically by lm_img_save_png.
 */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kernels/op_gemm.h"
#include "models/invert.h"
#include "models/stylegan2.h"
#include "shared/lm_img.h"
#include "shared/lm_io.h"
#include "shared/lm_log.h"
#include "shared/lm_mt19937.h"
#include "shared/lm_seeds.h"

static const char *usage_text =
    "usage: latentmill generate --model G.safetensors --seeds LIST [-o GRID.png]\n"
    "                           [--outdir DIR] [--psi X] [--cutoff N]\n"
    "                           [--noise const|random|none] [--batch N] [--cols N]\n"
    "                           [--threads N] [-q]\n"
    "\n"
    "Render one image per seed with the generator and write them as a grid PNG (-o)\n"
    "and/or as DIR/seedNNNN.png (--outdir); at least one of the two is required.\n"
    "  --model G         a converted generator (.safetensors, `tools/convert_weights.py`)\n"
    "  --seeds LIST      seeds 0..4294967295: N, A-B (inclusive) and commas, e.g. 0-15 or\n"
    "                    1,5,9-12 (order kept). z = NumPy's RandomState(seed).randn(1, z_dim)\n"
    "                    reproduced exactly, so a seed gives the z of NVlabs' generate.py\n"
    "                    and, with the same weights, the same image up to float rounding\n"
    "  --psi X           truncation towards mapping.w_avg (default 1: none)\n"
    "  --cutoff N        truncate only the first N ws rows (default: all)\n"
    "  --noise MODE      const: the generator's noise buffers (default, as generate.py);\n"
    "                    random: fresh N(0,1) maps drawn per image from its seed (not\n"
    "                    torch's stream, so not the pixels of generate.py); none: no noise\n"
    "  --batch N         images rendered together (default 8). The same options give\n"
    "                    byte-identical files; BLAS rounding depends on the batch shape and\n"
    "                    thread count, so changing them can move a rare pixel by one level\n"
    "  --cols N          grid columns (default ceil(sqrt(count))); tiles in seed-list order,\n"
    "                    row by row, no gaps, unused tiles black\n"
    "  --threads N       OpenMP/BLAS threads (default: all cores)\n"
    "  -q                no progress lines on stderr\n"
    "Pixels: round((x + 1) * 127.5) clamped to 0..255, which is generate.py's\n"
    "(x * 127.5 + 128) clamped and truncated.\n"
    "Files are written atomically (temporary file + rename).\n"
    "Exit status: 0 written, 1 failed, 2 bad usage or input (model, seeds, output path).\n";

static int need_arg(int i, int argc, const char *opt)
{
    if (i + 1 >= argc) {
        fprintf(stderr, "latentmill generate: %s needs a value\n", opt);
        return 0;
    }
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Fail early, naming the file, when an output cannot be created: the parent
 * directory of path must exist and be writable. */
static int check_parent_writable(const char *path)
{
    char dir[4096];
    size_t len = strlen(path);
    if (len >= sizeof dir) {
        fprintf(stderr, "latentmill generate: %s: path too long\n", path);
        return -1;
    }
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "latentmill generate: cannot write %s: directory %s: %s\n", path, dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Per-image N(0,1) noise maps for --noise random: drawn from a splitmix64 stream
 * seeded by the image's seed, so an image does not depend on its batch. */
static void fill_random_noise(sg2_ctx *g, const sg2_model *m, int b, uint32_t seed)
{
    uint64_t s = 0x6e6f697365ULL ^ ((uint64_t)seed * 0x9e3779b97f4a7c15ULL);
    for (int i = 0; i < sg2_model_num_noise(m); i++) {
        int r = sg2_model_noise_res(m, i, NULL);
        float *dst = sg2_ctx_noise(g, i) + (size_t)b * r * r;
        for (size_t k = 0; k < (size_t)r * r; k++) {
            dst[k] = sg2_rng_normal(&s);
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int cmd_generate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char *model = NULL, *seeds_arg = NULL, *grid_path = NULL, *outdir = NULL;
    const char *noise = "const";
    float psi = 1.0f;
    long cutoff = 0, batch = 8, cols = 0, threads = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *bad = NULL;
#define ARG(name) (strcmp(a, name) == 0 && need_arg(i, argc, name) && (++i, 1))
        if (ARG("--model")) {
            model = argv[i];
        } else if (ARG("--seeds")) {
            seeds_arg = argv[i];
        } else if (ARG("-o")) {
            grid_path = argv[i];
        } else if (ARG("--outdir")) {
            outdir = argv[i];
        } else if (ARG("--psi")) {
            char *end = NULL;
            psi = strtof(argv[i], &end);
            if (end == argv[i] || *end != '\0' || !isfinite(psi)) {
                bad = "--psi needs a finite number";
            }
        } else if (ARG("--cutoff")) {
            if (parse_long(argv[i], 1, 1 << 20, &cutoff) != 0) {
                bad = "--cutoff needs a number >= 1";
            }
        } else if (ARG("--noise")) {
            noise = argv[i];
        } else if (ARG("--batch")) {
            if (parse_long(argv[i], 1, 1024, &batch) != 0) {
                bad = "--batch needs a number in 1..1024";
            }
        } else if (ARG("--cols")) {
            if (parse_long(argv[i], 1, 1 << 16, &cols) != 0) {
                bad = "--cols needs a number in 1..65536";
            }
        } else if (ARG("--threads")) {
            if (parse_long(argv[i], 0, 4096, &threads) != 0) {
                bad = "--threads needs a number in 0..4096";
            }
        } else if (strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--model") == 0 || strcmp(a, "--seeds") == 0 || strcmp(a, "-o") == 0 ||
                   strcmp(a, "--outdir") == 0 || strcmp(a, "--psi") == 0 ||
                   strcmp(a, "--cutoff") == 0 || strcmp(a, "--noise") == 0 ||
                   strcmp(a, "--batch") == 0 || strcmp(a, "--cols") == 0 ||
                   strcmp(a, "--threads") == 0) {
            return LM_EXIT_USAGE; /* need_arg said which */
        } else {
            fprintf(stderr, "latentmill generate: unknown option or argument '%s'\n%s", a,
                    usage_text);
            return LM_EXIT_USAGE;
        }
#undef ARG
        if (bad != NULL) {
            fprintf(stderr, "latentmill generate: %s (got '%s')\n", bad, argv[i]);
            return LM_EXIT_USAGE;
        }
    }
    if (model == NULL || seeds_arg == NULL || (grid_path == NULL && outdir == NULL)) {
        fprintf(stderr,
                "latentmill generate: --model, --seeds and -o and/or --outdir are "
                "required\n%s",
                usage_text);
        return LM_EXIT_USAGE;
    }
    enum sg2_noise_mode mode;
    if (strcmp(noise, "const") == 0) {
        mode = SG2_NOISE_CONST;
    } else if (strcmp(noise, "random") == 0) {
        mode = SG2_NOISE_USER; /* filled per image from its seed */
    } else if (strcmp(noise, "none") == 0) {
        mode = SG2_NOISE_NONE;
    } else {
        fprintf(stderr, "latentmill generate: --noise must be const, random or none (got '%s')\n",
                noise);
        return LM_EXIT_USAGE;
    }
    lm_err err = {0};
    uint32_t *seeds = NULL;
    size_t n = 0;
    int rc = lm_seeds_parse(seeds_arg, &seeds, &n, &err);
    if (rc != 0) {
        fprintf(stderr, "latentmill generate: --seeds: %s\n", lm_err_msg(&err, rc));
        return rc == -ENOMEM ? LM_EXIT_FAIL : LM_EXIT_USAGE;
    }
    if (cols > 0 && (size_t)cols > n) {
        cols = (long)n;
    }
    if (cols == 0) {
        cols = (long)ceil(sqrt((double)n));
    }
    long rows = (long)((n + (size_t)cols - 1) / (size_t)cols);
    /* Outputs: fail before loading and the (possibly long) rendering. */
    if (grid_path != NULL && check_parent_writable(grid_path) != 0) {
        free(seeds);
        return LM_EXIT_USAGE;
    }
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        op_blas_set_threads((int)threads);
    }
    sg2_model *m = NULL;
    if ((rc = sg2_model_load(&m, model, &err)) != 0) {
        fprintf(stderr, "latentmill generate: %s\n", lm_err_msg(&err, rc));
        free(seeds);
        return rc == -ENOMEM ? LM_EXIT_FAIL : LM_EXIT_USAGE;
    }
    const sg2_config *cfg = sg2_model_config(m);
    int R = cfg->img_resolution, C = cfg->img_channels, Zd = cfg->z_dim, Wd = cfg->w_dim;
    int nws = cfg->num_ws;
    int status = LM_EXIT_USAGE;
    int B = (size_t)batch < n ? (int)batch : (int)n;
    size_t per = (size_t)C * R * R;
    sg2_ctx *g = NULL;
    float *z = NULL, *w = NULL, *ws = NULL, *img = NULL;
    uint8_t *tile = NULL, *grid = NULL;
    if (C != 3) {
        fprintf(stderr, "latentmill generate: %s has %d image channels (need 3)\n", model, C);
        goto out;
    }
    size_t grid_w = (size_t)cols * R, grid_h = (size_t)rows * R;
    if (grid_path != NULL && (grid_w > 65535 || grid_h > 65535)) {
        fprintf(stderr,
                "latentmill generate: grid %s would be %zu x %zu pixels (limit 65535 a side); "
                "use --cols, fewer seeds or --outdir only\n",
                grid_path, grid_w, grid_h);
        goto out;
    }
    /* Created only once the model loaded, so a bad model leaves no empty directory. */
    if (outdir != NULL) {
        if ((rc = lm_io_mkdirs(outdir, &err)) != 0) {
            fprintf(stderr, "latentmill generate: --outdir %s: %s\n", outdir, lm_err_msg(&err, rc));
            goto out;
        }
        if (access(outdir, W_OK | X_OK) != 0) {
            fprintf(stderr, "latentmill generate: cannot write into --outdir %s: %s\n", outdir,
                    strerror(errno));
            goto out;
        }
    }
    status = LM_EXIT_FAIL;
    z = malloc(sizeof(float) * (size_t)B * Zd);
    w = malloc(sizeof(float) * (size_t)B * Wd);
    ws = malloc(sizeof(float) * (size_t)B * nws * Wd);
    img = malloc(sizeof(float) * (size_t)B * per);
    tile = malloc(per);
    if (grid_path != NULL) {
        grid = calloc(grid_w * grid_h * 3, 1);
    }
    if (!z || !w || !ws || !img || !tile || (grid_path != NULL && grid == NULL)) {
        fprintf(stderr, "latentmill generate: out of memory (batch %d, %dx%d images)\n", B, R, R);
        goto out;
    }
    if ((rc = sg2_ctx_create(&g, m, B, &err)) != 0) {
        fprintf(stderr, "latentmill generate: %s\n", lm_err_msg(&err, rc));
        goto out;
    }
    double t0 = now_s(), last = t0;
    for (size_t first = 0; first < n; first += (size_t)B) {
        int nb = n - first < (size_t)B ? (int)(n - first) : B;
        for (int b = 0; b < nb; b++) {
            lm_mt19937_randn_f32(z + (size_t)b * Zd, (size_t)Zd, seeds[first + b]);
            if (mode == SG2_NOISE_USER) {
                fill_random_noise(g, m, b, seeds[first + b]);
            }
        }
        if ((rc = sg2_mapping_forward(g, z, nb, w, &err)) != 0) {
            fprintf(stderr, "latentmill generate: mapping failed: %s\n", lm_err_msg(&err, rc));
            goto out;
        }
        sg2_ws_broadcast(ws, w, nb, nws, Wd);
        if (psi != 1.0f) {
            sg2_ws_truncate(m, ws, nb, psi, (int)cutoff);
        }
        if ((rc = sg2_synthesis_forward(g, ws, nb, mode, NULL, img, &err)) != 0) {
            fprintf(stderr, "latentmill generate: synthesis failed: %s\n", lm_err_msg(&err, rc));
            goto out;
        }
        for (int b = 0; b < nb; b++) {
            size_t idx = first + (size_t)b;
            inv_image_to_u8(tile, img + (size_t)b * per, R, C);
            if (grid != NULL) {
                size_t tx = (idx % (size_t)cols) * R, ty = (idx / (size_t)cols) * R;
                for (int y = 0; y < R; y++) {
                    memcpy(grid + ((ty + y) * grid_w + tx) * 3, tile + (size_t)y * R * 3,
                           (size_t)R * 3);
                }
            }
            if (outdir != NULL) {
                char path[4096];
                int len = snprintf(path, sizeof path, "%s/seed%04u.png", outdir, seeds[idx]);
                if (len < 0 || (size_t)len >= sizeof path) {
                    fprintf(stderr, "latentmill generate: --outdir %s: path too long\n", outdir);
                    status = LM_EXIT_USAGE;
                    goto out;
                }
                lm_image im = {R, R, 3, tile};
                if ((rc = lm_img_save_png(path, &im, &err)) != 0) {
                    fprintf(stderr, "latentmill generate: %s\n", lm_err_msg(&err, rc));
                    goto out;
                }
            }
        }
        double t = now_s();
        size_t done = first + (size_t)nb;
        if (!quiet && (t - last >= 2.0 || done == n) && n > (size_t)B) {
            lm_log(LM_LOG_INFO, "generate: %zu/%zu images, %.2f images/s", done, n,
                   (double)done / (t - t0));
            last = t;
        }
    }
    if (grid != NULL) {
        lm_image im = {(int)grid_w, (int)grid_h, 3, grid};
        if ((rc = lm_img_save_png(grid_path, &im, &err)) != 0) {
            fprintf(stderr, "latentmill generate: %s\n", lm_err_msg(&err, rc));
            goto out;
        }
        printf("%s: %zu images, %ld x %ld grid of %dx%d\n", grid_path, n, cols, rows, R, R);
    }
    if (outdir != NULL) {
        printf("%s: %zu images seedNNNN.png, %dx%d\n", outdir, n, R, R);
    }
    status = LM_EXIT_OK;
out:
    free(z);
    free(w);
    free(ws);
    free(img);
    free(tile);
    free(grid);
    free(seeds);
    sg2_ctx_free(g);
    sg2_model_free(m);
    return status;
}
