/* lm_err.c - error names and message buffers (see lm_err.h). */
#include "lm_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *lm_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case LM_EFORMAT: return "malformed input";
    case LM_ECONFIG: return "invalid configuration";
    case LM_ESHAPE: return "tensor shape mismatch";
    case LM_ETOOBIG: return "exceeds a configured limit";
    case LM_ESTORE: return "storage (LMDB) failure";
    case LM_EMPI: return "MPI failure";
    case LM_ENOFACE: return "no face found";
    case LM_ENUMERIC: return "numerical failure (NaN/Inf)";
    case LM_ESTOPPED: return "stopped on request";
    case LM_EMISSING: return "required file missing";
    case LM_EINTERNAL: return "internal error";
    default: break;
    }
    if (code < 0 && code > LM_ERR_BASE) {
        return strerror(-code);
    }
    return "unknown error";
}

int lm_err_set(lm_err *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int lm_err_prefix(lm_err *err, const char *fmt, ...)
{
    if (err == NULL) {
        return 0;
    }
    char head[512];
    char old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    const char *tail = old[0] == '\0' ? lm_strerror(err->code) : old;
    size_t hl = strlen(head);
    size_t cap = sizeof err->msg - 1;
    if (hl > cap) {
        hl = cap;
    }
    memcpy(err->msg, head, hl);
    size_t tl = strlen(tail);
    if (tl > cap - hl) {
        tl = cap - hl;
    }
    memcpy(err->msg + hl, tail, tl);
    err->msg[hl + tl] = '\0';
    return err->code;
}

const char *lm_err_msg(const lm_err *err, int code)
{
    if (err != NULL && err->msg[0] != '\0') {
        return err->msg;
    }
    return lm_strerror(code);
}
