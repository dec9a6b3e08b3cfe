/*
 * op_gemm.h - the one wrapper around BLAS sgemm (OpenBLAS on the CPU).
 *
 * Every matrix product in latentmill goes through op_sgemm so that the BLAS
 * dependency, its threading and (later) the cuBLAS twin sit in one place.
 * Row-major, like cblas with CblasRowMajor:
 *   C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C
 * lda/ldb/ldc are the row strides of A, B, C as stored.
 */
#ifndef OP_GEMM_H
#define OP_GEMM_H

#include <stddef.h>

void op_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Threads BLAS may use inside one call (OpenBLAS); n <= 0 restores the default. */
void op_blas_set_threads(int n);

#endif
