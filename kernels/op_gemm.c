/* op_gemm.c - OpenBLAS sgemm wrapper (see op_gemm.h). */
#include "kernels/op_gemm.h"

#include <cblas.h>

/* y[n] (stride incy) = alpha * op(A) x + beta * y through sgemv; beta 0 clears y first
 * (what sgemm does: y's old contents, even NaN, never reach the result). */
static void gemv(int trans, int rows, int cols, float alpha, const float *A, int lda,
                 const float *x, int incx, float beta, float *y, int incy)
{
    if (beta == 0.0f) {
        int n = trans ? cols : rows;
        for (int i = 0; i < n; i++) {
            y[(size_t)i * incy] = 0.0f;
        }
    }
    cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, rows, cols, alpha, A, lda, x,
                incx, beta, y, incy);
}

void op_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) {
        return;
    }
    /* A single row or column is a matrix-vector product: sgemv streams the matrix once,
     * where sgemm would pack it first (about 2x slower for the batch-1 style affines and
     * demodulation, which read a 1 MB matrix each). */
    if (M == 1 && K > 0) {
        /* C[1 x N] = a op(B): op(B) is [K x N]; a is row 0 of op(A). */
        gemv(!trans_b, trans_b ? N : K, trans_b ? K : N, alpha, B, ldb, A, trans_a ? lda : 1, beta,
             C, 1);
        return;
    }
    if (N == 1 && K > 0) {
        /* C[M x 1] = op(A) b: b is column 0 of op(B). */
        gemv(trans_a, trans_a ? K : M, trans_a ? M : K, alpha, A, lda, B, trans_b ? 1 : ldb, beta,
             C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void op_blas_set_threads(int n)
{
    extern void openblas_set_num_threads(int);
    extern int openblas_get_num_procs(void);
    openblas_set_num_threads(n > 0 ? n : openblas_get_num_procs());
}
