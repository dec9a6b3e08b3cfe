/*
 * op_conv2d_wino.c - Winograd F(m x m, 3x3) correlation forward and input gradient (see
 * op_conv2d_wino.h; transforms in op_winograd_math.h). a = m + 2, K = a*a.
 * Shapes: x, dx [Cin, N, H, W]; y, dy [Cout, N, H, W]; U [K, Cout, Cin];
 * per chunk of Tc tiles: V [K, Cs, Tc] (transformed source tiles), M [K, Cd, Tc] (products)
 * with Cs/Cd = Cin/Cout forward and Cout/Cin backward.
 * Tile t of the batch is (n, ty, tx) in row-major order; the loops step through it without
 * divisions.
 */
#include "kernels/op_conv2d_wino.h"

#include <stdint.h>
#include <string.h>

#include "kernels/op_gemm.h"
#include "kernels/op_gemm_panel.h"
#include "kernels/op_modconv_math.h"
#include "kernels/op_winograd_math.h"

/* Floats per k: U[k] in layout 0; U[k] packed then U[k]^T packed in layout 1. */
static size_t plane_size(int Cout, int Cin, int panels)
{
    return panels ? op_panel_size(Cout, Cin) + op_panel_size(Cin, Cout) : (size_t)Cout * Cin;
}

size_t op_conv2d_wino_weight_size(int Cout, int Cin, int m, int panels)
{
    return (size_t)(m + 2) * (m + 2) * plane_size(Cout, Cin, panels);
}

void op_conv2d_wino_weight_prepare(float *U, const float *w, int Cout, int Cin, int m, int panels)
{
    int K = (m + 2) * (m + 2);
    size_t plane = plane_size(Cout, Cin, panels), pf = op_panel_size(Cout, Cin);
    if (panels) {
        memset(U, 0, sizeof(float) * plane * K); /* the panels' padding rows */
    }
#pragma omp parallel for schedule(static) if ((size_t)Cout * Cin > 4096)
    for (int o = 0; o < Cout; o++) {
        for (int i = 0; i < Cin; i++) {
            float u[36];
            op_wino_weight(w + ((size_t)o * Cin + i) * 9, m, u);
            for (int k = 0; k < K; k++) {
                float *Uk = U + k * plane;
                if (panels) {
                    Uk[op_panel_index(o, i, Cin)] = u[k];
                    Uk[pf + op_panel_index(i, o, Cout)] = u[k];
                } else {
                    Uk[(size_t)o * Cin + i] = u[k];
                }
            }
        }
    }
}

size_t op_conv2d_wino_scratch_min(int Cin, int Cout, int m)
{
    return (size_t)(m + 2) * (m + 2) * (Cin + Cout);
}

typedef struct tile_pos {
    int n, ty, tx;
} tile_pos;

static tile_pos tile_at(int64_t t, int th, int tw)
{
    tile_pos p;
    p.n = (int)(t / ((int64_t)th * tw));
    int r = (int)(t % ((int64_t)th * tw));
    p.ty = r / tw;
    p.tx = r % tw;
    return p;
}

static void tile_next(tile_pos *p, int th, int tw)
{
    if (++p->tx == tw) {
        p->tx = 0;
        if (++p->ty == th) {
            p->ty = 0;
            p->n++;
        }
    }
}

/* Read the s x s patch at (py, px) of an H x W plane, zero outside. */
static void patch_read(float *d, int s, const float *xn, int H, int W, int py, int px)
{
    if (py >= 0 && py + s <= H && px >= 0 && px + s <= W) {
        for (int a = 0; a < s; a++) {
            memcpy(d + a * s, xn + (int64_t)(py + a) * W + px, (size_t)s * sizeof(float));
        }
        return;
    }
    for (int a = 0; a < s; a++) {
        int yy = py + a;
        for (int b = 0; b < s; b++) {
            int xx = px + b;
            d[a * s + b] =
                (yy >= 0 && yy < H && xx >= 0 && xx < W) ? xn[(int64_t)yy * W + xx] : 0.0f;
        }
    }
}

/* Add the s x s patch at (py, px) into an H x W plane, dropping what falls outside. */
static void patch_add(float *xn, int H, int W, const float *d, int s, int py, int px)
{
    for (int a = 0; a < s; a++) {
        int yy = py + a;
        if (yy < 0 || yy >= H) {
            continue;
        }
        float *row = xn + (int64_t)yy * W;
        int b0 = px < 0 ? -px : 0, b1 = px + s > W ? W - px : s;
        for (int b = b0; b < b1; b++) {
            row[px + b] += d[a * s + b];
        }
    }
}

/* The F(4x4) tile-row runs below work on blocks of WB tiles held k-major, [36][WB]: the
 * 1-D transforms of op_winograd_math.h run lane-wise over the WB tiles (contiguous, so
 * they vectorise), and V / M are read and written as WB-float runs per transformed
 * position. Only the gathers from and scatters to the image planes are strided. */
#define WB 16

/* Copy n <= WB floats; the full-block case is a fixed-size copy (a few vector moves:
 * GCC turns the variable-length loop into `rep movsq`, whose start-up cost dominated
 * these 64-byte copies). */
static inline void wb_copy(float *dst, const float *src, int n)
{
    if (n == WB) {
        memcpy(dst, src, WB * sizeof(float));
    } else {
        memcpy(dst, src, (size_t)n * sizeof(float));
    }
}

/* out [p*p][WB] = T in T^T for in [n*n][WB], T the 1-D transform fn, over nb lanes. */
#define WINO_2D_BLOCK(fn, n, p, in, out, nb)                                                       \
    do {                                                                                           \
        float t_[(p) * (n)*WB];                                                                    \
        for (int c_ = 0; c_ < (n); c_++) {                                                         \
            _Pragma("omp simd") for (int i_ = 0; i_ < (nb); i_++)                                  \
            {                                                                                      \
                fn((in) + c_ * WB + i_, (n)*WB, t_ + c_ * WB + i_, (n)*WB);                        \
            }                                                                                      \
        }                                                                                          \
        for (int r_ = 0; r_ < (p); r_++) {                                                         \
            _Pragma("omp simd") for (int i_ = 0; i_ < (nb); i_++)                                  \
            {                                                                                      \
                fn(t_ + r_ * (n)*WB + i_, WB, (out) + r_ * (p)*WB + i_, WB);                       \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Forward F(4x4) source transform of tiles tx0 <= tx < tx1 of one tile row whose 6x6
 * patches lie inside the plane (rows py..py+5, columns 4tx-1..4tx+4); tile tx goes to
 * column t + tx - tx0 of V[k][c] (vc = V[0][c], k stride vk), scaled by sc. */
static void wino4_src_run(float *vc, size_t vk, int64_t t, const float *xn, int W, int py, int tx0,
                          int tx1, float sc)
{
    const float *r = xn + (int64_t)py * W - 1;
    float d[36 * WB], v[36 * WB];
    for (int b0 = tx0; b0 < tx1; b0 += WB) {
        int nb = tx1 - b0 < WB ? tx1 - b0 : WB;
        for (int a = 0; a < 6; a++) {
            const float *ra = r + (int64_t)a * W + 4 * b0;
            for (int i = 0; i < nb; i++) {
                for (int q = 0; q < 6; q++) {
                    d[(a * 6 + q) * WB + i] = ra[4 * i + q];
                }
            }
        }
        WINO_2D_BLOCK(op_wino4_bt1, 6, 6, d, v, nb);
        float *dst = vc + t + (b0 - tx0);
        for (int k = 0; k < 36; k++, dst += vk) {
            const float *vk_ = v + k * WB;
#pragma omp simd
            for (int i = 0; i < nb; i++) {
                dst[i] = vk_[i] * sc;
            }
        }
    }
}

/* Tiles per padded strip below: 6 x (4 * STRIP_TILES + 2) floats on the stack. */
#define STRIP_TILES 256

/* Forward F(4x4) source transform of tiles lo <= tx < hi of tile row ty, borders
 * included: the 6 input rows 4ty-1..4ty+4, columns 4lo-1..4hi, are first copied into a
 * zero-padded strip (up to STRIP_TILES tiles at a time), so that every tile goes through
 * the vectorised run. */
static void wino4_src_row(float *vc, size_t vk, int64_t t, const float *xn, int H, int W, int ty,
                          int lo, int hi, float sc)
{
    float strip[6 * (4 * STRIP_TILES + 2)];
    for (int l0 = lo; l0 < hi; l0 += STRIP_TILES) {
        int l1 = hi - l0 < STRIP_TILES ? hi : l0 + STRIP_TILES;
        int sw = 4 * (l1 - l0) + 2, c0 = 4 * l0 - 1;
        int q0 = c0 < 0 ? -c0 : 0, q1 = c0 + sw > W ? W - c0 : sw;
        for (int a = 0; a < 6; a++) {
            float *srow = strip + (size_t)a * sw;
            int yy = 4 * ty - 1 + a;
            if (yy < 0 || yy >= H) {
                memset(srow, 0, sizeof(float) * (size_t)sw);
                continue;
            }
            for (int q = 0; q < q0; q++) {
                srow[q] = 0.0f;
            }
            memcpy(srow + q0, xn + (int64_t)yy * W + c0 + q0, sizeof(float) * (size_t)(q1 - q0));
            for (int q = q1; q < sw; q++) {
                srow[q] = 0.0f;
            }
        }
        wino4_src_run(vc, vk, t + (l0 - lo), strip + 1, sw, 0, 0, l1 - l0, sc);
    }
}

/* Forward F(4x4) result transform of tiles tx0 <= tx < tx1 of one tile row (4 output rows
 * from yr), products at column t + tx - tx0 of M[k][o] (mo = M[0][o], k stride mk). */
typedef struct epi_row {
    int on;             /* apply the epilogue */
    float d, bias, ns;  /* of this image and channel */
    const float *noise; /* noise of the tile row's first output row, or NULL */
    float gain, clamp;
} epi_row;

static inline float epi_apply(const epi_row *e, float c, int64_t px)
{
    if (!e->on) {
        return c;
    }
    return op_modconv_out_f(c, e->d, e->noise ? e->ns * e->noise[px] : 0.0f, e->bias, e->gain,
                            e->clamp);
}

static epi_row epi_make(const op_wino_fuse *f, int n, int o, int Cout, int64_t row_off)
{
    epi_row e = {0, 1.0f, 0.0f, 0.0f, NULL, 1.0f, 0.0f};
    if (f && f->d) {
        e.on = 1;
        e.d = f->d[(size_t)n * Cout + o];
        e.bias = f->bias ? f->bias[o] : 0.0f;
        e.ns = f->ns;
        e.noise = f->noise ? f->noise + (int64_t)n * f->noise_nstride + row_off : NULL;
        e.gain = f->gain;
        e.clamp = f->clamp;
    }
    return e;
}

static void wino4_res_run(float *yr, int W, const float *mo, size_t mk, int64_t t, int tx0, int tx1,
                          const epi_row *e)
{
    float m[36 * WB], out[16 * WB];
    for (int b0 = tx0; b0 < tx1; b0 += WB) {
        int nb = tx1 - b0 < WB ? tx1 - b0 : WB;
        const float *src = mo + t + (b0 - tx0);
        for (int k = 0; k < 36; k++, src += mk) {
            wb_copy(m + k * WB, src, nb);
        }
        WINO_2D_BLOCK(op_wino4_at1, 6, 4, m, out, nb);
        for (int r = 0; r < 4; r++) {
            /* Output row r of the block is 4*nb contiguous pixels. */
            float row[4 * WB];
            for (int i = 0; i < nb; i++) {
                for (int q = 0; q < 4; q++) {
                    row[4 * i + q] = out[(r * 4 + q) * WB + i];
                }
            }
            float *yp = yr + (int64_t)r * W + 4 * b0;
            int n4 = 4 * nb;
            if (!e->on) {
                memcpy(yp, row, sizeof(float) * (size_t)n4);
            } else if (e->noise) {
                const float *np = e->noise + (int64_t)r * W + 4 * b0;
#pragma omp simd
                for (int j = 0; j < n4; j++) {
                    yp[j] =
                        op_modconv_out_f(row[j], e->d, e->ns * np[j], e->bias, e->gain, e->clamp);
                }
            } else {
#pragma omp simd
                for (int j = 0; j < n4; j++) {
                    yp[j] = op_modconv_out_f(row[j], e->d, 0.0f, e->bias, e->gain, e->clamp);
                }
            }
        }
    }
}

/* Backward F(4x4) source transform (A dy A^T) of tiles tx0 <= tx < tx1 of one tile row
 * (4x4 patches at rows py..py+3, always inside the plane). */
static void wino4_gsrc_run(float *vc, size_t vk, int64_t t, const float *xn, int W, int py, int tx0,
                           int tx1)
{
    const float *r = xn + (int64_t)py * W;
    float d[16 * WB], v[36 * WB];
    for (int b0 = tx0; b0 < tx1; b0 += WB) {
        int nb = tx1 - b0 < WB ? tx1 - b0 : WB;
        for (int a = 0; a < 4; a++) {
            const float *ra = r + (int64_t)a * W + 4 * b0;
            for (int i = 0; i < nb; i++) {
                for (int q = 0; q < 4; q++) {
                    d[(a * 4 + q) * WB + i] = ra[4 * i + q];
                }
            }
        }
        WINO_2D_BLOCK(op_wino4_a1, 4, 6, d, v, nb);
        float *dst = vc + t + (b0 - tx0);
        for (int k = 0; k < 36; k++, dst += vk) {
            wb_copy(dst, v + k * WB, nb);
        }
    }
}

/* Backward F(4x4) result transform (B m B^T) of tiles tx0 <= tx < tx1 of tile row ty:
 * the 6x6 results are added into the plane xn at rows 4ty-1.., columns 4tx-1..,
 * overlapping their neighbours and clipped at the borders. */
static void wino4_gres_run(float *xn, int H, int W, int ty, const float *mo, size_t mk, int64_t t,
                           int tx0, int tx1)
{
    float m[36 * WB], out[36 * WB];
    int y0 = 4 * ty - 1;
    int a0 = y0 < 0 ? -y0 : 0, a1 = y0 + 6 > H ? H - y0 : 6;
    for (int b0 = tx0; b0 < tx1; b0 += WB) {
        int nb = tx1 - b0 < WB ? tx1 - b0 : WB;
        const float *src = mo + t + (b0 - tx0);
        for (int k = 0; k < 36; k++, src += mk) {
            wb_copy(m + k * WB, src, nb);
        }
        WINO_2D_BLOCK(op_wino4_b1, 6, 6, m, out, nb);
        for (int i = 0; i < nb; i++) {
            int x0 = 4 * (b0 + i) - 1;
            int q0 = x0 < 0 ? -x0 : 0, q1 = x0 + 6 > W ? W - x0 : 6;
            for (int a = a0; a < a1; a++) {
                float *row = xn + (int64_t)(y0 + a) * W + x0;
                for (int q = q0; q < q1; q++) {
                    row[q] += out[(a * 6 + q) * WB + i];
                }
            }
        }
    }
}

/* Forward (grad = 0): y[Cd] from x[Cs] with U[k] [Cd, Cs].
 * Backward (grad = 1): dx[Cd] from dy[Cs] with U[k]^T (U[k] is [Cs, Cd]); dx is zeroed
 * here and receives the overlapping tiles. */
static void wino_run(float *y, const float *x, const float *U, int m, int panels, int grad, int N,
                     int Cs, int Cd, int H, int W, const op_wino_fuse *f, float *scratch,
                     size_t scratch_floats)
{
    int a = m + 2, K = a * a;
    int th = H / m, tw = W / m;
    int64_t T = (int64_t)N * th * tw, plane = (int64_t)H * W, cstride = (int64_t)N * plane;
    int64_t Tc = (int64_t)(scratch_floats / op_conv2d_wino_scratch_min(Cs, Cd, m));
    if (Tc < 1) {
        Tc = 1;
    }
    if (Tc > T) {
        Tc = T;
    }
    if (panels && Tc > OP_WINO_PANEL_TILES) {
        Tc = OP_WINO_PANEL_TILES;
    }
    if (grad) {
#pragma omp parallel for schedule(static) if ((int64_t)Cd * cstride > 65536)
        for (int c = 0; c < Cd; c++) {
            memset(y + c * cstride, 0, sizeof(float) * (size_t)cstride);
        }
    }
    for (int64_t t0 = 0; t0 < T; t0 += Tc) {
        int64_t nt = T - t0 < Tc ? T - t0 : Tc;
        float *V = scratch, *M = scratch + (size_t)K * Cs * nt;
        /* Source transform: V[k][c][t]. */
#pragma omp parallel for schedule(static) if ((int64_t)Cs * nt > 2048)
        for (int c = 0; c < Cs; c++) {
            const float *xc = x + c * cstride;
            float *vc = V + (size_t)c * nt;
            size_t vk = (size_t)Cs * nt;
            tile_pos p = tile_at(t0, th, tw);
            int64_t t = 0;
            while (t < nt) {
                /* One tile row at a time: tiles [lo, hi) of row p.ty of image p.n. */
                int lo = p.tx, hi = tw - lo < nt - t ? tw : lo + (int)(nt - t);
                const float *xn = xc + p.n * plane;
                float sc = f && f->s ? f->s[(size_t)p.n * Cs + c] : 1.0f;
                /* F(4x4) tiles go through the tile-row runs: backward directly (the 4x4
                 * dy patches never cross the border), forward through a zero-padded
                 * strip. F(2x2) tiles one by one below. */
                if (m == 4) {
                    if (grad) {
                        wino4_gsrc_run(vc, vk, t, xn, W, 4 * p.ty, lo, hi);
                    } else {
                        wino4_src_row(vc, vk, t, xn, H, W, p.ty, lo, hi, sc);
                    }
                    t += hi - lo;
                    p.tx = tw - 1;
                    tile_next(&p, th, tw);
                    continue;
                }
                for (int tx = lo; tx < hi; tx++) {
                    float d[36], v[36];
                    if (!grad) {
                        patch_read(d, a, xn, H, W, m * p.ty - 1, m * tx - 1);
                        op_wino2_input(d, v);
                    } else {
                        patch_read(d, 2, xn, H, W, 2 * p.ty, 2 * tx);
                        op_wino2_grad_in(d, v);
                    }
                    for (int k = 0; k < K; k++) {
                        vc[k * vk + t + (tx - lo)] = v[k] * sc;
                    }
                }
                t += hi - lo;
                p.tx = tw - 1;
                tile_next(&p, th, tw);
            }
        }
        /* K GEMMs: M[k] [Cd, nt] = U[k] [Cd, Cs] (or U[k]^T) * V[k] [Cs, nt]. The threads
         * share out whole GEMMs (each one single-threaded inside: OpenBLAS does not fork
         * within a parallel region); threading each GEMM instead costs a fork/join and a
         * split packing of U[k] per call, which dominates when nt is small (batch 1). */
        size_t up = plane_size(grad ? Cs : Cd, grad ? Cd : Cs, panels);
        size_t pb = panels && grad ? op_panel_size(Cs, Cd) : 0; /* U[k]^T after U[k] */
#pragma omp parallel for schedule(dynamic, 1)
        for (int k = 0; k < K; k++) {
            const float *Vk = V + (size_t)k * Cs * nt;
            float *Mk = M + (size_t)k * Cd * nt;
            if (panels) {
                op_panel_gemm(U + k * up + pb, Cd, (int)nt, Cs, Vk, (int)nt, Mk, (int)nt);
            } else {
                op_sgemm(grad, 0, Cd, (int)nt, Cs, 1.0f, U + k * up, grad ? Cd : Cs, Vk, (int)nt,
                         0.0f, Mk, (int)nt);
            }
        }
        /* Result transform: forward tiles write their own m x m block; backward tiles add
         * a x a blocks that overlap their neighbours (one thread per channel plane). */
#pragma omp parallel for schedule(static) if ((int64_t)Cd * nt > 2048)
        for (int o = 0; o < Cd; o++) {
            float *yo = y + o * cstride;
            const float *mo = M + (size_t)o * nt;
            size_t mk = (size_t)Cd * nt;
            tile_pos p = tile_at(t0, th, tw);
            if (grad && m == 4) {
                for (int64_t t = 0; t < nt;) {
                    int lo = p.tx, hi = tw - lo < nt - t ? tw : lo + (int)(nt - t);
                    wino4_gres_run(yo + p.n * plane, H, W, p.ty, mo, mk, t, lo, hi);
                    t += hi - lo;
                    p.tx = tw - 1;
                    tile_next(&p, th, tw);
                }
                continue;
            }
            if (!grad && m == 4) {
                for (int64_t t = 0; t < nt;) {
                    int lo = p.tx, hi = tw - lo < nt - t ? tw : lo + (int)(nt - t);
                    int64_t row = (int64_t)4 * p.ty * W;
                    epi_row e = epi_make(f, p.n, o, Cd, row);
                    wino4_res_run(yo + p.n * plane + row, W, mo, mk, t, lo, hi, &e);
                    t += hi - lo;
                    p.tx = tw - 1;
                    tile_next(&p, th, tw);
                }
                continue;
            }
            /* F(2x2), one tile at a time. */
            for (int64_t t = 0; t < nt; t++, tile_next(&p, th, tw)) {
                float mm[36], out[36];
                for (int k = 0; k < K; k++) {
                    mm[k] = mo[k * mk + t];
                }
                float *yn = yo + p.n * plane;
                if (!grad) {
                    op_wino2_output(mm, out);
                    int64_t off = (int64_t)m * p.ty * W + m * p.tx;
                    epi_row e = epi_make(f, p.n, o, Cd, off);
                    for (int r = 0; r < m; r++) {
                        for (int q = 0; q < m; q++) {
                            int64_t px = (int64_t)r * W + q;
                            yn[off + px] = epi_apply(&e, out[r * m + q], px);
                        }
                    }
                } else {
                    op_wino2_grad_out(mm, out);
                    patch_add(yn, H, W, out, 4, 2 * p.ty - 1, 2 * p.tx - 1);
                }
            }
        }
    }
}

void op_conv2d_wino_forward(float *y, const float *x, const float *U, int m, int panels, int N,
                            int Cin, int Cout, int H, int W, float *scratch, size_t scratch_floats)
{
    wino_run(y, x, U, m, panels, 0, N, Cin, Cout, H, W, NULL, scratch, scratch_floats);
}

void op_conv2d_wino_forward_fused(float *y, const float *x, const float *U, int m, int panels,
                                  int N, int Cin, int Cout, int H, int W, const op_wino_fuse *f,
                                  float *scratch, size_t scratch_floats)
{
    wino_run(y, x, U, m, panels, 0, N, Cin, Cout, H, W, f, scratch, scratch_floats);
}

void op_conv2d_wino_backward(float *dx, const float *dy, const float *U, int m, int panels, int N,
                             int Cin, int Cout, int H, int W, float *scratch, size_t scratch_floats)
{
    wino_run(dx, dy, U, m, panels, 1, N, Cout, Cin, H, W, NULL, scratch, scratch_floats);
}
