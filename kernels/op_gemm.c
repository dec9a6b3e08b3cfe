/* op_gemm.c - OpenBLAS sgemm wrapper (see op_gemm.h). */
#include "kernels/op_gemm.h"

#include <cblas.h>

void op_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) {
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void op_blas_set_threads(int n)
{
    extern void openblas_set_num_threads(int);
    extern int openblas_get_num_procs(void);
    openblas_set_num_threads(n > 0 ? n : openblas_get_num_procs());
}
