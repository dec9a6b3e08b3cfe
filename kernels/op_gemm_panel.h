/*
 * op_gemm_panel.h - matrix products with a pre-packed left operand, for products with few
 * columns (the batch-1 Winograd GEMMs: 4 to 64 tile columns against 512 x 512 weights).
 *
 * op_sgemm (OpenBLAS) packs its operands on every call; with few columns that packing
 * and its edge handling cost as much as the products (about 40 GMAC/s at 16 columns on
 * 2 cores, against 85 with many columns). Here the weight matrix is packed once, at model
 * load, into panels of OP_PANEL_ROWS rows, [ceil(M/16)][K][16] (rows past M zero), which
 * the kernel streams in order: C[M x N] = A[M x K] * B[K x N], overwriting C.
 *
 * The kernel is AVX2+FMA where the CPU has it (chosen at run time: the build stays
 * generic x86-64), portable C otherwise. Each product is single-threaded and its sums run
 * in a fixed order (deterministic at any thread count; callers run several at once).
 */
#ifndef OP_GEMM_PANEL_H
#define OP_GEMM_PANEL_H

#include <stddef.h>

#define OP_PANEL_ROWS 16

/* 1 when op_panel_gemm has a vector kernel on this CPU (AVX2+FMA). Without one the
 * portable kernel is slower than OpenBLAS, so callers keep their OpenBLAS layouts. */
int op_panel_native(void);

/* Floats of the packed form of an M x K matrix. */
size_t op_panel_size(int M, int K);

/* Where element (r, k) of an M x K matrix (M any) goes in its packed form. */
static inline size_t op_panel_index(int r, int k, int K)
{
    return ((size_t)(r / OP_PANEL_ROWS) * K + k) * OP_PANEL_ROWS + r % OP_PANEL_ROWS;
}

/* P = packed op(A), op(A) [M x K]: trans 0: A is [M][K] (row stride K); trans 1: A is
 * [K][M] (row stride M) and op(A) = A^T. */
void op_panel_pack(float *P, const float *A, int M, int K, int trans);

/* C[M x N] (row stride ldc) = op(A) * B, B [K x N] (row stride ldb); P from op_panel_pack. */
void op_panel_gemm(const float *P, int M, int N, int K, const float *B, int ldb, float *C, int ldc);

/* op_panel_gemm with the row panels shared out among the OpenMP threads (call it outside
 * a parallel region; same result as op_panel_gemm). */
void op_panel_gemm_mt(const float *P, int M, int N, int K, const float *B, int ldb, float *C,
                      int ldc);

/* The portable kernel, whatever the CPU (op_panel_gemm without the AVX2 path; tests). */
void op_panel_gemm_portable(const float *P, int M, int N, int K, const float *B, int ldb, float *C,
                            int ldc);

#endif
