/*
 * cmd_bank.c - `latentmill bank show OUTDIR`: the direction bank's table, read
 * from OUTDIR/bank/manifest.json (written by the reduce phase, reduce/bank.h).
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "reduce/bank.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: latentmill bank show OUTDIR\n"
            "\n"
            "Print the direction bank of a job's output directory: one line per direction\n"
            "with its latent space, name, label kind (binary, class = one-vs-rest, score =\n"
            "InterFaceGAN top/bottom selection, cond = conditional projection), training and\n"
            "validation counts per class, positive share, the C used (chosen on validation\n"
            "unless the job fixes it), validation / remaining-set / training accuracy and\n"
            "training seconds. Conditional directions show their largest |cosine| with\n"
            "their conditions. Files: OUTDIR/bank/<space>/<name>.npy (float32, shape\n"
            "(1, dim), unit norm), OUTDIR/bank/bank.safetensors, OUTDIR/bank/manifest.json.\n");
}

int cmd_bank(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return LM_EXIT_OK;
    }
    if (argc != 3 || strcmp(argv[1], "show") != 0) {
        usage(stderr);
        return LM_EXIT_USAGE;
    }
    lm_err e = {0};
    int rc = bank_show(argv[2], stdout, &e);
    if (rc != 0) {
        fprintf(stderr, "latentmill bank: %s\n", lm_err_msg(&e, rc));
        return LM_EXIT_USAGE;
    }
    return LM_EXIT_OK;
}
