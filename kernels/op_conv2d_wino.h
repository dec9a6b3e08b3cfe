/*
 * op_conv2d_wino.h - 3x3 stride-1 pad-1 correlation via Winograd F(m x m, 3x3), m = 2 or 4,
 * CNHW layout (x [Cin, N, H, W] -> y [Cout, N, H, W], H and W multiples of m).
 * a = m + 2; a*a batched GEMMs on transformed tiles replace one im2col GEMM:
 * 9 m^2 / a^2 fewer multiply-adds, 2.25x for m = 2 and 4x for m = 4.
 * The input gradient is the adjoint algorithm on the same transformed weights (channel-
 * transposed GEMMs; each a x a result tile is added into dx, tiles overlapping by 2).
 * Transforms in op_winograd_math.h. F(4x4) rounds about 10x more than F(2x2) (larger
 * transform coefficients) and is still within 1e-5 relative of the direct convolution.
 */
#ifndef OP_CONV2D_WINO_H
#define OP_CONV2D_WINO_H

#include <stddef.h>

/* The transformed weights U[k] = (G w G^T)[k], k < (m+2)^2, are held in one of two
 * layouts (`panels` below):
 *   0  row-major U[k][o][i]: the products go through op_sgemm (OpenBLAS), forward with
 *      U[k] and backward with U[k]^T; (m+2)^2 * Cout * Cin floats.
 *   1  per k, U[k] and U[k]^T packed for op_panel_gemm (op_gemm_panel.h), which is up to
 *      2x faster when there are few tile columns (batch-1 layers at 4x4 to 32x32) and
 *      as fast with many; tiles then go in chunks of at most OP_WINO_PANEL_TILES. Twice
 *      the memory of layout 0. */
#define OP_WINO_PANEL_TILES 256

/* Floats of the transformed weights in layout `panels`. */
size_t op_conv2d_wino_weight_size(int Cout, int Cin, int m, int panels);

/* Transform w [Cout, Cin, 3, 3] into U in layout `panels`. */
void op_conv2d_wino_weight_prepare(float *U, const float *w, int Cout, int Cin, int m, int panels);

/* Minimum scratch (floats): one tile's transforms. More = bigger GEMMs. Per tile of
 * the whole batch: multiply by N*H*W/(m*m) for a single chunk. */
size_t op_conv2d_wino_scratch_min(int Cin, int Cout, int m);

void op_conv2d_wino_forward(float *y, const float *x, const float *U, int m, int panels, int N,
                            int Cin, int Cout, int H, int W, float *scratch, size_t scratch_floats);

/* What StyleGAN2's modulated conv does around the convolution, fused into the tile
 * transforms so the activations are read and written once (op_modconv.h has the same
 * steps as separate passes, with the same per-element math):
 *   input   x[c, n] * s[n, c]                              (modulation; s NULL: none)
 *   output  act(conv * d[n, o] + ns * noise[n] + bias[o])  (d NULL: plain conv output)
 * noise [N or 1, H*W] with image stride noise_nstride (0: shared), NULL for none. */
typedef struct op_wino_fuse {
    const float *s;
    const float *d;
    const float *noise;
    long long noise_nstride;
    float ns;
    const float *bias;
    float gain, clamp;
} op_wino_fuse;

/* op_conv2d_wino_forward with the modulation and epilogue of `f` (NULL: none). */
void op_conv2d_wino_forward_fused(float *y, const float *x, const float *U, int m, int panels,
                                  int N, int Cin, int Cout, int H, int W, const op_wino_fuse *f,
                                  float *scratch, size_t scratch_floats);

/* dx = conv^T(dy) (overwrite). */
void op_conv2d_wino_backward(float *dx, const float *dy, const float *U, int m, int panels, int N,
                             int Cin, int Cout, int H, int W, float *scratch,
                             size_t scratch_floats);

#endif
