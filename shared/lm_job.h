/*
 * lm_job.h - job files (INI, parsed with libinih).
 *
 * A job file has sections such as [job], [dataset], [node], [invert], [bank],
 * [index]. This module only stores what the file says (section, key, value,
 * line); each module reads its own section through the typed getters below,
 * which validate the value and mark the key as used. After every module has
 * read its configuration, lm_job_check_unused() turns any key nobody read (a
 * typo, an unknown key or section) into an error naming file and line.
 *
 * Getters return 0 when the key is present and valid, 1 when absent (*out gets
 * the default), LM_ECONFIG with "FILE:LINE: [sec] key: why" for a bad value.
 */
#ifndef LM_JOB_H
#define LM_JOB_H

#include "shared/lm_err.h"

typedef struct lm_job lm_job;

/* Parse path. OUT *out, free with lm_job_free. Errors: -errno (message names the
 * file), LM_ECONFIG for a syntax error (names file and line). */
int lm_job_load(lm_job **out, const char *path, lm_err *err);
/* Parse INI text held in memory; name is used in messages. */
int lm_job_parse(lm_job **out, const char *text, const char *name, lm_err *err);
void lm_job_free(lm_job *job); /* accepts NULL */

const char *lm_job_path(const lm_job *job);
int lm_job_has_section(const lm_job *job, const char *sec);

/* *out points into job storage (valid until lm_job_free) or is dflt. */
int lm_job_get_str(lm_job *job, const char *sec, const char *key, const char *dflt,
                   const char **out, lm_err *err);
int lm_job_get_int(lm_job *job, const char *sec, const char *key, long dflt, long min, long max,
                   long *out, lm_err *err);
int lm_job_get_double(lm_job *job, const char *sec, const char *key, double dflt, double min,
                      double max, double *out, lm_err *err);
/* true/false, yes/no, on/off, 1/0. */
int lm_job_get_bool(lm_job *job, const char *sec, const char *key, int dflt, int *out,
                    lm_err *err);
/* choices is a NULL-terminated list; *out is the index of the match. */
int lm_job_get_enum(lm_job *job, const char *sec, const char *key, const char *const *choices,
                    int dflt, int *out, lm_err *err);

/* Mark a whole section as known even if some keys are not read yet (e.g. a
 * section whose keys are read only in the reduce phase). */
void lm_job_mark_section(lm_job *job, const char *sec);

/* LM_ECONFIG naming file:line of the first key or section nobody read. */
int lm_job_check_unused(const lm_job *job, lm_err *err);

#endif
