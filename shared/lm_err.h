/*
 * lm_err.h - error codes and error messages for every latentmill module.
 *
 * Convention (LMDB + libuv): fallible functions return int, 0 on success and
 * negative on failure. System failures are -errno; latentmill's own codes sit
 * in a reserved range below LM_ERR_BASE so they never collide with errno.
 * A human-readable message travels in an `lm_err *err` last parameter (may be
 * NULL), filled where the failure is detected and naming the file plus entry,
 * line, tensor or offset. Callers may prepend context with lm_err_prefix().
 */
#ifndef LM_ERR_H
#define LM_ERR_H

#include <stddef.h>

#define LM_ERR_BASE (-30000)

enum {
    LM_EFORMAT = LM_ERR_BASE - 1,   /* malformed input file (image, archive, weights, labels) */
    LM_ECONFIG = LM_ERR_BASE - 2,   /* bad job file or option value */
    LM_ESHAPE = LM_ERR_BASE - 3,    /* tensor name/shape/dtype mismatch */
    LM_ETOOBIG = LM_ERR_BASE - 4,   /* exceeds a configured limit (pixels, sizes) */
    LM_ESTORE = LM_ERR_BASE - 5,    /* LMDB failure (message keeps mdb_strerror text) */
    LM_EMPI = LM_ERR_BASE - 6,      /* MPI failure */
    LM_ENOFACE = LM_ERR_BASE - 7,   /* no face found (a per-item result, not a crash) */
    LM_ENUMERIC = LM_ERR_BASE - 8,  /* NaN/Inf or divergence */
    LM_ESTOPPED = LM_ERR_BASE - 9,  /* interrupted by a stop request */
    LM_EMISSING = LM_ERR_BASE - 10, /* a required file or model is missing */
    LM_EINTERNAL = LM_ERR_BASE - 11,
    LM_ERR_LAST = LM_ERR_BASE - 12
};

/* An error message buffer. Embed it on the stack: `lm_err e = {0};`. */
typedef struct lm_err {
    int code;
    char msg[1024];
} lm_err;

/* Name a code: our range, or strerror(-code) for -errno. Never NULL. */
const char *lm_strerror(int code);

/* Fill err (if non-NULL) with code and a printf-style message; returns code,
 * so `return lm_err_set(err, LM_EFORMAT, "%s: ...", path);` is one line. */
int lm_err_set(lm_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context ("while loading X: ") to an existing message; returns err->code
 * (or 0 if err is NULL). */
int lm_err_prefix(lm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message if set, else lm_strerror(code). */
const char *lm_err_msg(const lm_err *err, int code);

#endif
