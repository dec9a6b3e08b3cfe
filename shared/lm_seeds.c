/*
 * lm_seeds.c - seed-list parsing (see lm_seeds.h).
 */
#include "shared/lm_seeds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Parse the decimal digits in [s, e) into *v (<= UINT32_MAX). */
static int parse_u32(const char *s, const char *e, uint32_t *v)
{
    if (s == e) {
        return -1;
    }
    uint64_t x = 0;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        x = x * 10 + (uint64_t)(*p - '0');
        if (x > UINT32_MAX) {
            return -1;
        }
    }
    *v = (uint32_t)x;
    return 0;
}

/* One item [s, e): a number or A-B. */
static int parse_item(const char *spec, const char *s, const char *e, uint32_t *lo, uint32_t *hi,
                      lm_err *err)
{
    int len = (int)(e - s);
    if (len == 0) {
        return lm_err_set(err, LM_ECONFIG, "seed list '%s': empty item", spec);
    }
    const char *dash = memchr(s, '-', (size_t)len);
    int rc;
    if (dash == NULL) {
        rc = parse_u32(s, e, lo);
        *hi = *lo;
    } else {
        rc = parse_u32(s, dash, lo);
        if (rc == 0) {
            rc = parse_u32(dash + 1, e, hi);
        }
    }
    if (rc != 0) {
        return lm_err_set(err, LM_ECONFIG,
                          "seed list '%s': bad item '%.*s' (want N or A-B, decimal, "
                          "0..4294967295)",
                          spec, len, s);
    }
    if (*lo > *hi) {
        return lm_err_set(err, LM_ECONFIG, "seed list '%s': range '%.*s' runs backwards", spec, len,
                          s);
    }
    return 0;
}

int lm_seeds_parse(const char *spec, uint32_t **seeds, size_t *n, lm_err *err)
{
    *seeds = NULL;
    *n = 0;
    if (spec == NULL || spec[0] == '\0') {
        return lm_err_set(err, LM_ECONFIG, "empty seed list");
    }
    /* Pass 1: validate and count; pass 2: fill. */
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t *out = *seeds;
        size_t k = 0;
        const char *s = spec;
        for (;;) {
            const char *e = strchr(s, ',');
            if (e == NULL) {
                e = s + strlen(s);
            }
            uint32_t lo = 0, hi = 0;
            int rc = parse_item(spec, s, e, &lo, &hi, err);
            if (rc != 0) {
                return rc;
            }
            uint64_t cnt = (uint64_t)hi - lo + 1;
            if (pass == 0) {
                if (cnt > LM_SEEDS_MAX || total + cnt > LM_SEEDS_MAX) {
                    return lm_err_set(err, LM_ETOOBIG, "seed list '%s': more than %zu seeds", spec,
                                      LM_SEEDS_MAX);
                }
                total += (size_t)cnt;
            } else {
                for (uint64_t v = lo; v <= hi; v++) {
                    out[k++] = (uint32_t)v;
                }
            }
            if (*e == '\0') {
                break;
            }
            s = e + 1;
        }
        if (pass == 0) {
            *seeds = malloc(total * sizeof **seeds);
            if (*seeds == NULL) {
                return lm_err_set(err, -ENOMEM, "seed list: out of memory for %zu seeds", total);
            }
        }
    }
    *n = total;
    return 0;
}
