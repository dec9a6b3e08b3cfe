/* cmd_synth.c - `latentmill synth`: miniature datasets in native layouts and
 * tiny random StyleGAN2 generators (datasets/ds_synth.h, models/stylegan2.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "datasets/ds_synth.h"
#include "models/stylegan2.h"

static const char *usage_text =
    "usage: latentmill synth celeba|ffhq|ckplus|folder OUTDIR [--n N] [--seed S] [--zip]\n"
    "                        [--res R] [--tiny]\n"
    "       latentmill synth dataset --layout celeba|ffhq|ckplus|folder OUTDIR [options]\n"
    "       latentmill synth generator (OUT.safetensors | -o OUT.safetensors) --res R\n"
    "                        [--seed S] [--z-dim N]\n"
    "                        [--w-dim N] [--mapping-layers N] [--channel-base N]\n"
    "                        [--channel-max N]\n"
    "\n"
    "Datasets are written in the exact layout the dataset authors distribute, with\n"
    "procedural face-like images whose labels and landmarks are known:\n"
    "  celeba  Img/img_align_celeba/ (178x218 JPEG; --zip: Img/img_align_celeba.zip),\n"
    "          Img/img_celeba/ (in the wild), Anno/*.txt and Eval/list_eval_partition.txt\n"
    "          (CRLF, the original paddings)\n"
    "  ffhq    images1024x1024/, thumbnails128x128/, in-the-wild-images/ (GGGGG/NNNNN.png),\n"
    "          LICENSE.txt, ffhq-dataset-v2.json with real sizes and MD5s; --zip also\n"
    "          writes ffhq-RxR.zip in the StyleGAN2-ADA layout\n"
    "  ckplus  cohn-kanade-images/, Landmarks/, FACS/, Emotion/ (N sequences; --zip: the\n"
    "          four distribution zips)\n"
    "  folder  images/{a,b}/img_NNNNN.jpg (--zip: images.zip) and labels.csv\n"
    "  --n N      images (ckplus: sequences), default 20\n"
    "  --seed S   random seed, default 1\n"
    "  --res R    ffhq aligned image side (default 64; 1024 is the real size)\n"
    "  --tiny     celeba: 8x8 placeholder images, no in-the-wild images (benchmarks)\n"
    "The generator is a random-init config-f StyleGAN2 at resolution R (defaults:\n"
    "z = w = 64, 2 mapping layers, channel base 512, max 64), for tests and demos.\n"
    "Exit status: 0, 1 on failure, 2 bad usage.\n";

static int parse_num(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 0);
    if (end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int synth_generator(int argc, char **argv)
{
    const char *out = NULL;
    long res = 0, seed = 1, zdim = 64, wdim = 64, ml = 2, cb = 512, cm = 64;
    for (int i = 2; i < argc; i++) {
        long *dst = NULL;
        long lo = 1, hi = 1 << 20;
        if (strcmp(argv[i], "--res") == 0) {
            dst = &res;
            lo = 4;
            hi = 4096;
        } else if (strcmp(argv[i], "--seed") == 0) {
            dst = &seed;
            lo = 0;
            hi = 0x7fffffffL;
        } else if (strcmp(argv[i], "--z-dim") == 0) {
            dst = &zdim;
        } else if (strcmp(argv[i], "--w-dim") == 0) {
            dst = &wdim;
        } else if (strcmp(argv[i], "--mapping-layers") == 0) {
            dst = &ml;
        } else if (strcmp(argv[i], "--channel-base") == 0) {
            dst = &cb;
        } else if (strcmp(argv[i], "--channel-max") == 0) {
            dst = &cm;
        } else if (argv[i][0] != '-' && out == NULL) {
            out = argv[i];
            continue;
        } else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc || out != NULL) {
                fprintf(stderr, "latentmill synth generator: %s needs one output file\n",
                        argv[i]);
                return LM_EXIT_USAGE;
            }
            out = argv[++i];
            continue;
        } else {
            fprintf(stderr, "latentmill synth generator: unknown option '%s'\n", argv[i]);
            return LM_EXIT_USAGE;
        }
        if (i + 1 >= argc || parse_num(argv[i + 1], lo, hi, dst) != 0) {
            fprintf(stderr, "latentmill synth generator: %s needs a number in %ld..%ld\n",
                    argv[i], lo, hi);
            return LM_EXIT_USAGE;
        }
        i++;
    }
    if (out == NULL || res == 0) {
        fputs(usage_text, stderr);
        return LM_EXIT_USAGE;
    }
    sg2_config cfg;
    sg2_config_default(&cfg, (int)res);
    cfg.z_dim = (int)zdim;
    cfg.w_dim = (int)wdim;
    cfg.mapping_features = (int)wdim;
    cfg.mapping_layers = (int)ml;
    cfg.channel_base = (int)cb;
    cfg.channel_max = (int)cm;
    lm_err err = {0};
    int rc = sg2_config_check(&cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "latentmill synth generator: %s\n", lm_err_msg(&err, rc));
        return LM_EXIT_USAGE;
    }
    rc = sg2_model_save_random(out, &cfg, (uint64_t)seed, &err);
    if (rc != 0) {
        fprintf(stderr, "latentmill synth generator: %s\n", lm_err_msg(&err, rc));
        return LM_EXIT_FAIL;
    }
    printf("%s: random StyleGAN2 generator, resolution %ld, z %ld, w %ld, %d ws\n", out, res,
           zdim, wdim, cfg.num_ws);
    return LM_EXIT_OK;
}

int cmd_synth(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 2) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? LM_EXIT_USAGE : LM_EXIT_OK;
    }
    if (strcmp(argv[1], "generator") == 0) {
        return synth_generator(argc, argv);
    }
    const char *layout = NULL, *out = NULL;
    int first = 2;
    if (strcmp(argv[1], "dataset") == 0) {
        first = 2;
    } else {
        layout = argv[1];
    }
    ds_synth_opts o = {20, 1, 0, 64, 0};
    for (int i = first; i < argc; i++) {
        long v = 0;
        if (strcmp(argv[i], "--zip") == 0) {
            o.zip = 1;
        } else if (strcmp(argv[i], "--tiny") == 0) {
            o.tiny = 1;
        } else if (strcmp(argv[i], "--layout") == 0 && i + 1 < argc) {
            layout = argv[++i];
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc &&
                   parse_num(argv[i + 1], 1, 10000000, &v) == 0) {
            o.n = (int)v;
            i++;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc &&
                   parse_num(argv[i + 1], 0, 0x7fffffffL, &v) == 0) {
            o.seed = (uint64_t)v;
            i++;
        } else if (strcmp(argv[i], "--res") == 0 && i + 1 < argc &&
                   parse_num(argv[i + 1], 8, 4096, &v) == 0) {
            o.res = (int)v;
            i++;
        } else if (argv[i][0] != '-' && out == NULL) {
            out = argv[i];
        } else {
            fprintf(stderr, "latentmill synth: bad option '%s' (see --help)\n", argv[i]);
            return LM_EXIT_USAGE;
        }
    }
    if (layout == NULL || out == NULL) {
        fputs(usage_text, stderr);
        return LM_EXIT_USAGE;
    }
    lm_err err = {0};
    int rc;
    if (strcmp(layout, "celeba") == 0) {
        rc = ds_synth_celeba(out, &o, &err);
    } else if (strcmp(layout, "ffhq") == 0) {
        rc = ds_synth_ffhq(out, &o, &err);
    } else if (strcmp(layout, "ckplus") == 0) {
        rc = ds_synth_ckplus(out, &o, &err);
    } else if (strcmp(layout, "folder") == 0) {
        rc = ds_synth_folder(out, &o, &err);
    } else {
        fprintf(stderr, "latentmill synth: unknown layout '%s' (celeba, ffhq, ckplus, folder, "
                "generator)\n", layout);
        return LM_EXIT_USAGE;
    }
    if (rc != 0) {
        fprintf(stderr, "latentmill synth: %s\n", lm_err_msg(&err, rc));
        return LM_EXIT_FAIL;
    }
    printf("%s: %s miniature, %d %s%s\n", out, layout, o.n,
           strcmp(layout, "ckplus") == 0 ? "sequences" : "images", o.zip ? " (zip)" : "");
    return LM_EXIT_OK;
}
