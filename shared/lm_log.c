/* lm_log.c - time- and rank-stamped logging to stderr (see lm_log.h). */
#include "lm_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* The one process-wide setting (STYLE: set once at startup). */
static struct {
    enum lm_log_level level;
    int rank;
    lm_log_sink sink;
    void *user;
} lm__log = {LM_LOG_INFO, 0, NULL, NULL};

void lm_log_set_level(enum lm_log_level level) { lm__log.level = level; }
void lm_log_set_rank(int rank) { lm__log.rank = rank; }
enum lm_log_level lm_log_get_level(void) { return lm__log.level; }

void lm_log_set_sink(lm_log_sink sink, void *user)
{
    lm__log.sink = sink;
    lm__log.user = user;
}

void lm_log(enum lm_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
    if (level > lm__log.level) {
        return;
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tmv;
    localtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tmv);
    char body[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    char line[2200];
    snprintf(line, sizeof line, "%s [r%d] %s %s", stamp, lm__log.rank, names[level], body);
    if (lm__log.sink != NULL) {
        lm__log.sink(level, line, lm__log.user);
    } else {
        fprintf(stderr, "%s\n", line);
    }
}
