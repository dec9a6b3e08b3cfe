/*
 * internal.h - declarations shared inside reduce/ only (not a public face).
 */
#ifndef REDUCE_INTERNAL_H
#define REDUCE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

/* Squared L2 norms of n rows of length dim (float accumulation in double). */
void knn__row_norms(const float *x, size_t n, int dim, float *out);

/* Index of the first row holding NaN/Inf, or -1. */
int64_t knn__first_nonfinite(const float *x, size_t n, int dim);

/* SplitMix64: the seeded hash used for sampling (same on every rank). */
static inline uint64_t knn__mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Make BLAS single-threaded while OpenMP threads each run their own GEMMs;
 * returns what knn__blas_restore needs (see index.c, "threading"). */
int knn__blas_single(void);
void knn__blas_restore(int saved);

/* Write len bytes to path via path.tmp + fsync + rename. Errors: -errno. */
int knn__write_file(const char *path, const void *data, size_t len, lm_err *err);

#endif
