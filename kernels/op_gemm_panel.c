/* op_gemm_panel.c - pre-packed few-column matrix products (see op_gemm_panel.h). */
#include "kernels/op_gemm_panel.h"

#include <omp.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PANEL_X86 1
#endif

#define PR OP_PANEL_ROWS
/* Columns per register block: 16 rows (2 vectors of 8) x 6 columns = 12 accumulators. */
#define PC 6

static int have_avx2(void)
{
#ifdef PANEL_X86
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int op_panel_native(void)
{
    return have_avx2();
}

size_t op_panel_size(int M, int K)
{
    return (size_t)(M + PR - 1) / PR * PR * (size_t)K;
}

void op_panel_pack(float *P, const float *A, int M, int K, int trans)
{
    memset(P, 0, sizeof(float) * op_panel_size(M, K));
    for (int r = 0; r < M; r++) {
        for (int k = 0; k < K; k++) {
            P[op_panel_index(r, k, K)] = trans ? A[(size_t)k * M + r] : A[(size_t)r * K + k];
        }
    }
}

/* Write (acc: add) the 16 x jn block t (column-major: t[j][i]) to rows < rows of C. */
static void store_block(float *C, int ldc, const float t[PC][PR], int rows, int jn, int acc)
{
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < jn; j++) {
            C[(size_t)i * ldc + j] = acc ? C[(size_t)i * ldc + j] + t[j][i] : t[j][i];
        }
    }
}

void op_panel_gemm_portable(const float *P, int M, int N, int K, const float *B, int ldb, float *C,
                            int ldc)
{
    for (int b = 0; b * PR < M; b++) {
        int rows = M - b * PR < PR ? M - b * PR : PR;
        const float *Pb = P + (size_t)b * K * PR;
        for (int t0 = 0; t0 < N; t0 += PC) {
            int jn = N - t0 < PC ? N - t0 : PC;
            float t[PC][PR];
            memset(t, 0, sizeof t);
            for (int k = 0; k < K; k++) {
                const float *pk = Pb + (size_t)k * PR, *bk = B + (size_t)k * ldb + t0;
                for (int j = 0; j < jn; j++) {
                    for (int i = 0; i < PR; i++) {
                        t[j][i] += pk[i] * bk[j];
                    }
                }
            }
            store_block(C + (size_t)b * PR * ldc + t0, ldc, t, rows, jn, 0);
        }
    }
}

#ifdef PANEL_X86
/* One 16 x jn block over all K: two panel loads, jn broadcasts and 2 jn FMAs per k. jn is
 * a constant at each call site below, so the unused accumulators drop out. */
__attribute__((target("avx2,fma"))) static inline void block_avx2(const float *Pb, const float *B,
                                                                  int ldb, int K, float *C, int ldc,
                                                                  int rows, int jn, int acc)
{
    /* Twelve named accumulators: GCC keeps them in registers (an array of them spilled). */
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m256 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    for (int k = 0; k < K; k++) {
        __m256 u0 = _mm256_loadu_ps(Pb + (size_t)k * PR);
        __m256 u1 = _mm256_loadu_ps(Pb + (size_t)k * PR + 8);
        const float *bk = B + (size_t)k * ldb;
/* Column j of the block: broadcast B[k][j], two FMAs into its accumulators lo, hi. */
#define PANEL_COL(j, lo, hi)                                                                       \
    if (jn > (j)) {                                                                                \
        __m256 v = _mm256_broadcast_ss(bk + (j));                                                  \
        lo = _mm256_fmadd_ps(u0, v, lo);                                                           \
        hi = _mm256_fmadd_ps(u1, v, hi);                                                           \
    }
        PANEL_COL(0, a0, a1)
        PANEL_COL(1, a2, a3)
        PANEL_COL(2, a4, a5)
        PANEL_COL(3, a6, a7)
        PANEL_COL(4, a8, a9)
        PANEL_COL(5, a10, a11)
#undef PANEL_COL
    }
    float t[PC][PR];
    __m256 acc_[2 * PC] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};
    for (int j = 0; j < PC; j++) {
        _mm256_storeu_ps(t[j], acc_[2 * j]);
        _mm256_storeu_ps(t[j] + 8, acc_[2 * j + 1]);
    }
    store_block(C, ldc, t, rows, jn, acc);
}

/* Columns of B per superblock, and rows of B per slice of K: a superblock slice is packed
 * on the stack (4 x 6 x 512 floats = 48 KB); longer K runs as slices whose products add
 * up in C. */
#define SB (4 * PC)
#define SB_MAXK 512

/* Rows k < kn, columns t0..t0+SB-1 of B in column blocks of PC, [SB/PC][kn][PC]
 * (zero-padded), so that the broadcasts of each k step read one contiguous 24-byte run:
 * with many columns, B's strided rows were what held the kernel below OpenBLAS. */
static void pack_b(float *Bp, const float *B, int ldb, int kn, int t0, int N)
{
    for (int j0 = 0; j0 < SB; j0 += PC) {
        float *d = Bp + (size_t)(j0 / PC) * kn * PC;
        for (int k = 0; k < kn; k++) {
            for (int j = 0; j < PC; j++) {
                int t = t0 + j0 + j;
                d[(size_t)k * PC + j] = t < N ? B[(size_t)k * ldb + t] : 0.0f;
            }
        }
    }
}

static void block_jn_avx2(const float *Pb, const float *Bt, int lb, int K, float *Cb, int ldc,
                          int rows, int jn, int acc);

__attribute__((target("avx2,fma"))) static void
gemm_avx2(const float *P, int M, int N, int K, const float *B, int ldb, float *C, int ldc)
{
    /* Few columns: B is read in place (packing would cost more than it saves). */
    int packed = N > 2 * PC;
    float Bp[SB * SB_MAXK];
    for (int k0 = 0; k0 < K; k0 += SB_MAXK) {
        int kn = K - k0 < SB_MAXK ? K - k0 : SB_MAXK;
        const float *Bk = B + (size_t)k0 * ldb;
        for (int s0 = 0; s0 < N; s0 += SB) {
            int s1 = N - s0 < SB ? N : s0 + SB;
            if (packed) {
                pack_b(Bp, Bk, ldb, kn, s0, N);
            }
            for (int b = 0; b * PR < M; b++) {
                int rows = M - b * PR < PR ? M - b * PR : PR;
                const float *Pb = P + ((size_t)b * K + k0) * PR;
                for (int t0 = s0; t0 < s1; t0 += PC) {
                    int jn = s1 - t0 < PC ? s1 - t0 : PC;
                    const float *Bt = packed ? Bp + (size_t)((t0 - s0) / PC) * kn * PC : Bk + t0;
                    block_jn_avx2(Pb, Bt, packed ? PC : ldb, kn, C + (size_t)b * PR * ldc + t0, ldc,
                                  rows, jn, k0 > 0);
                }
            }
        }
    }
}

/* block_avx2 with jn a constant in each call. */
__attribute__((target("avx2,fma"))) static void block_jn_avx2(const float *Pb, const float *Bt,
                                                              int lb, int K, float *Cb, int ldc,
                                                              int rows, int jn, int acc)
{
    switch (jn) {
    case 6:
        block_avx2(Pb, Bt, lb, K, Cb, ldc, rows, 6, acc);
        break;
    case 5:
        block_avx2(Pb, Bt, lb, K, Cb, ldc, rows, 5, acc);
        break;
    case 4:
        block_avx2(Pb, Bt, lb, K, Cb, ldc, rows, 4, acc);
        break;
    case 3:
        block_avx2(Pb, Bt, lb, K, Cb, ldc, rows, 3, acc);
        break;
    case 2:
        block_avx2(Pb, Bt, lb, K, Cb, ldc, rows, 2, acc);
        break;
    default:
        block_avx2(Pb, Bt, lb, K, Cb, ldc, rows, 1, acc);
        break;
    }
}
#endif

void op_panel_gemm(const float *P, int M, int N, int K, const float *B, int ldb, float *C, int ldc)
{
    if (M <= 0 || N <= 0) {
        return;
    }
    if (K <= 0) { /* an empty sum, as sgemm with beta 0 */
        for (int i = 0; i < M; i++) {
            memset(C + (size_t)i * ldc, 0, sizeof(float) * (size_t)N);
        }
        return;
    }
#ifdef PANEL_X86
    if (have_avx2()) {
        gemm_avx2(P, M, N, K, B, ldb, C, ldc);
        return;
    }
#endif
    op_panel_gemm_portable(P, M, N, K, B, ldb, C, ldc);
}

void op_panel_gemm_mt(const float *P, int M, int N, int K, const float *B, int ldb, float *C,
                      int ldc)
{
    int np = (M + PR - 1) / PR;
#pragma omp parallel if (np > 1 && (double)M * N * K > 1e6)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int b0 = (int)((long long)np * id / nt), b1 = (int)((long long)np * (id + 1) / nt);
        if (b1 > b0) {
            int r0 = b0 * PR, r1 = b1 * PR < M ? b1 * PR : M;
            op_panel_gemm(P + (size_t)r0 * K, r1 - r0, N, K, B, ldb, C + (size_t)r0 * ldc, ldc);
        }
    }
}
