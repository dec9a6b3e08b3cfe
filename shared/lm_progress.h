/*
 * lm_progress.h - the numbers of a running phase and their two renderings:
 * one human line (a redrawn bar on a TTY, plain log lines otherwise) and the
 * JSON served on the status socket. Rank 0 alone owns one of these.
 */
#ifndef LM_PROGRESS_H
#define LM_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

typedef struct lm_progress {
    const char *phase;   /* "plan", "map", "reduce" */
    const char *state;   /* "running", "draining", "done", "failed" */
    size_t total;        /* items in the plan */
    size_t done_before;  /* done by earlier runs (skipped now) */
    size_t done;         /* done by this run (ok + failed) */
    size_t failed;       /* failed items of this run */
    int ranks;
    unsigned run;
    double t_start;      /* monotonic seconds */
} lm_progress;

double lm_now(void); /* monotonic seconds */

/* "map  [#####.....] 1234/5000  24.7%  812.3 items/s  ETA 4s  failed 3" */
void lm_progress_line(const lm_progress *p, char *buf, size_t cap);
/* {"phase":..,"state":..,"done":..,"total":..,...} */
void lm_progress_json(const lm_progress *p, char *buf, size_t cap);
/* Print the line to f: redraws in place when f is a TTY. */
void lm_progress_print(const lm_progress *p, FILE *f, int final);

#endif
