/*
 * cli.h - the subcommand drivers of the latentmill binary.
 *
 * Each subcommand is a thin driver (mfu's tools): parse options, call the
 * library, print results on stdout and logs on stderr, choose the exit status.
 * Each lives in cli/cmd_<name>.c and returns one of the LM_EXIT_* codes.
 */
#ifndef LM_CLI_H
#define LM_CLI_H

/* Exit codes (documented in the README and in `latentmill --help`). */
enum {
    LM_EXIT_OK = 0,        /* finished: every item done (failed items are recorded data) */
    LM_EXIT_FAIL = 1,      /* the job or command failed */
    LM_EXIT_USAGE = 2,     /* bad command line, job file or input */
    LM_EXIT_DRAINED = 3,   /* stopped by a signal after committing; rerun/requeue resumes */
    LM_EXIT_UNAVAILABLE = 4 /* the command exists but is not built yet */
};

typedef int (*lm_cmd_fn)(int argc, char **argv);

struct lm_cmd {
    const char *name;
    lm_cmd_fn fn;
    const char *summary;
};

/* True when argv contains -h or --help (before any "--"). */
int cli_wants_help(int argc, char **argv);

int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_faces(int argc, char **argv);
int cmd_invert(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_lookalike(int argc, char **argv);
int cmd_bank(int argc, char **argv);
int cmd_submit(int argc, char **argv);

#endif
