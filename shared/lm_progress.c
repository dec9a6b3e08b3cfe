/* lm_progress.c - progress line and status JSON (see lm_progress.h). */
#include "shared/lm_progress.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/lm_log.h"

double lm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void rates(const lm_progress *p, double *elapsed, double *rate, double *eta)
{
    *elapsed = lm_now() - p->t_start;
    *rate = *elapsed > 0 ? (double)p->done / *elapsed : 0.0;
    size_t left = p->total - p->done_before - p->done;
    *eta = *rate > 0 ? (double)left / *rate : -1.0;
}

void lm_progress_line(const lm_progress *p, char *buf, size_t cap)
{
    double elapsed, rate, eta;
    rates(p, &elapsed, &rate, &eta);
    size_t all = p->done_before + p->done;
    double frac = p->total ? (double)all / (double)p->total : 1.0;
    char bar[21];
    int fill = (int)(frac * 20.0);
    for (int i = 0; i < 20; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[20] = '\0';
    char etas[32];
    if (eta < 0) {
        snprintf(etas, sizeof etas, "--");
    } else if (eta < 120) {
        snprintf(etas, sizeof etas, "%.0fs", eta);
    } else if (eta < 7200) {
        snprintf(etas, sizeof etas, "%.0fm", eta / 60);
    } else {
        snprintf(etas, sizeof etas, "%.1fh", eta / 3600);
    }
    snprintf(buf, cap, "%-6s [%s] %zu/%zu %5.1f%%  %.1f items/s  ETA %s  failed %zu%s",
             p->phase, bar, all, p->total, 100.0 * frac, rate, etas, p->failed,
             strcmp(p->state, "draining") == 0 ? "  (draining)" : "");
}

void lm_progress_json(const lm_progress *p, char *buf, size_t cap)
{
    double elapsed, rate, eta;
    rates(p, &elapsed, &rate, &eta);
    snprintf(buf, cap,
             "{\"phase\":\"%s\",\"state\":\"%s\",\"run\":%u,\"ranks\":%d,\"total\":%zu,"
             "\"done\":%zu,\"done_before\":%zu,\"done_this_run\":%zu,\"failed\":%zu,"
             "\"items_per_s\":%.3f,\"eta_s\":%.1f,\"elapsed_s\":%.3f}\n",
             p->phase, p->state, p->run, p->ranks, p->total, p->done_before + p->done,
             p->done_before, p->done, p->failed, rate, eta, elapsed);
}

void lm_progress_print(const lm_progress *p, FILE *f, int final)
{
    char line[256];
    lm_progress_line(p, line, sizeof line);
    if (isatty(fileno(f))) {
        fprintf(f, "\r%s\033[K%s", line, final ? "\n" : "");
        fflush(f);
    } else {
        lm_log(LM_LOG_INFO, "%s", line);
    }
}
