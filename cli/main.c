/*
 * main.c - the latentmill binary: git-style subcommand dispatch.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "lm_version.h"
#include "shared/lm_log.h"

static const struct lm_cmd commands[] = {
    {"run", cmd_run, "run a job file (all phases, or --phase map|reduce); MPI-aware"},
    {"status", cmd_status, "live progress of a running job (status socket)"},
    {"inspect", cmd_inspect, "counts, per-rank throughput and failures of an output dir"},
    {"export", cmd_export, "write shard contents as .npy arrays + keys.txt"},
    {"fetch", cmd_fetch, "download datasets or face models with resume + checksum"},
    {"synth", cmd_synth, "synthesise miniature datasets and tiny random generators"},
    {"faces", cmd_faces, "detect faces: boxes, 68 landmarks, descriptor, expression"},
    {"invert", cmd_invert, "invert one image to a StyleGAN2 latent"},
    {"edit", cmd_edit, "apply a direction from a bank to a latent, render a sheet"},
    {"generate", cmd_generate, "images from seeds (NumPy-identical z): grid and per-seed PNGs"},
    {"lookalike", cmd_lookalike, "nearest (and farthest) identities of a face in an index"},
    {"bank", cmd_bank, "show a direction bank (bank show OUTDIR)"},
    {"submit", cmd_submit, "write and submit Slurm batch scripts for a job"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: latentmill <command> [options]   (latentmill <command> --help)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\nexit status: 0 done, 1 failed, 2 bad usage or input, 3 drained by a signal\n"
               "(rerun or requeue resumes), 4 command not available in this build.\n"
               "options for all: --help, --version; logs go to stderr, results to stdout.\n");
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            return 0;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return 1;
        }
    }
    return 0;
}

/* GNU OpenMP spins while waiting for work by default. With many short
 * parallel regions (small networks, per-step kernels) and any other load on
 * the cores, spinning teams starve each other: a measured 6.3 s instead of
 * 0.25 s per inversion. The wait policy is read when the runtime loads, before
 * main, so it is set here and the program re-executes itself once. An explicit
 * OMP_WAIT_POLICY (e.g. ACTIVE on dedicated nodes) is left alone. */
static void ensure_passive_omp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") != NULL) {
        return;
    }
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    /* Exec the real path, not /proc/self/exe, so the process keeps its name
     * (ps, pgrep, Slurm's accounting). */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        execv(self, argv);
    }
    /* Not fatal: continue with the default policy. */
}

int main(int argc, char **argv)
{
    ensure_passive_omp(argv);
    if (argc < 2) {
        usage(stderr);
        return LM_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return LM_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("latentmill %s (%s)\n", LM_VERSION, LM_GIT);
        return LM_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "latentmill: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return LM_EXIT_USAGE;
}
