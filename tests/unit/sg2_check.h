/*
 * sg2_check.h - tensor comparison helper for the StyleGAN2 and op tests (llm.c's
 * check_tensor): relative error = max |got - exp| / max |exp|; prints the first
 * mismatches (index, expected, actual) and the max error. Header-only, test code.
 */
#ifndef SG2_CHECK_H
#define SG2_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* Returns 1 when within tol, else 0; always prints one summary line. */
static inline int sg2_check_tensor(const char *name, const float *got, const float *exp, int64_t n,
                                   double tol)
{
    double mx = 0.0, err = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs((double)exp[i]));
    }
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - exp[i]);
        if (!(e <= err)) { /* also catches NaN */
            err = isnan(e) ? INFINITY : e;
            at = i;
        }
    }
    double rel = mx > 0 ? err / mx : err;
    int ok = rel <= tol;
    printf("  %-44s n=%-8lld max|ref|=%-10.4g max err=%-10.3g rel=%-10.3g (tol %.0e) at %lld %s\n",
           name, (long long)n, mx, err, rel, tol, (long long)at, ok ? "ok" : "MISMATCH");
    if (!ok) {
        int shown = 0;
        for (int64_t i = 0; i < n && shown < 5; i++) {
            if (fabs((double)got[i] - exp[i]) > tol * mx || isnan(got[i])) {
                printf("    [%lld] expected %.7g got %.7g\n", (long long)i, exp[i], got[i]);
                shown++;
            }
        }
    }
    fflush(stdout);
    return ok;
}

#endif
