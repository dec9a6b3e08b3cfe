/*
 * lm_log.h - the one logging call of library code (mfu's MFU_LOG).
 *
 * Lines go to stderr (stdout carries only command results), stamped with the
 * wall-clock time and the MPI rank: "2026-11-22T13:10:02 [r0] WARN  msg".
 * Level, rank and sink are set once at startup by the CLI; an embedder may
 * swap the sink for a callback plus user pointer (ggml_log_set).
 */
#ifndef LM_LOG_H
#define LM_LOG_H

enum lm_log_level { LM_LOG_ERROR = 0, LM_LOG_WARN = 1, LM_LOG_INFO = 2, LM_LOG_DEBUG = 3 };

typedef void (*lm_log_sink)(enum lm_log_level level, const char *line, void *user);

/* Process-wide settings; call from main before any threads start. */
void lm_log_set_level(enum lm_log_level level);
void lm_log_set_rank(int rank);
void lm_log_set_sink(lm_log_sink sink, void *user); /* NULL restores stderr */
enum lm_log_level lm_log_get_level(void);

void lm_log(enum lm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
