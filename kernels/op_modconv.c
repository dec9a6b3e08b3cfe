/*
 * op_modconv.c - modulation, demodulation and the conv epilogue, forward then backward
 * (spec 3.6, 6.1-6.3). Shapes: x, xs [C, N, P]; s, ds [N, Cin]; d, dd [N, Cout];
 * Q [Cout, Cin]; c, y [Cout, N, P]; noise [N or 1, P].
 * Reductions run in double and in a fixed order per output (deterministic at any
 * thread count).
 */
#include "kernels/op_modconv.h"

#include "kernels/op_bias_act_math.h"
#include "kernels/op_gemm.h"
#include "kernels/op_modconv_math.h"

void op_demod_weight_sumsq(float *Q, const float *w, int Cout, int Cin, int kk)
{
    for (int o = 0; o < Cout; o++) {
        for (int i = 0; i < Cin; i++) {
            const float *wp = w + ((size_t)o * Cin + i) * kk;
            double s = 0.0;
            for (int k = 0; k < kk; k++) {
                s += (double)wp[k] * wp[k];
            }
            Q[(size_t)o * Cin + i] = (float)s;
        }
    }
}

void op_modulate_forward(float *xs, const float *x, const float *s, int C, int N, int64_t P)
{
#pragma omp parallel for schedule(static) if ((int64_t)C * N * P > 32768)
    for (int64_t in = 0; in < (int64_t)C * N; in++) {
        int i = (int)(in / N), n = (int)(in % N);
        float sc = s[(size_t)n * C + i];
        const float *xp = x + in * P;
        float *op = xs + in * P;
        for (int64_t p = 0; p < P; p++) {
            op[p] = xp[p] * sc;
        }
    }
}

void op_modulate_backward(float *dx, int accumulate, float *ds, const float *dxs, const float *x,
                          const float *s, int C, int N, int64_t P)
{
#pragma omp parallel for schedule(static) if ((int64_t)C * N * P > 32768)
    for (int64_t in = 0; in < (int64_t)C * N; in++) {
        int i = (int)(in / N), n = (int)(in % N);
        float sc = s[(size_t)n * C + i];
        const float *gp = dxs + in * P, *xp = x + in * P;
        float *op = dx ? dx + in * P : NULL;
        /* One pass for both outputs; the sum vectorises (simd reduction, in double, in an
         * order fixed by the compiled code). */
        double acc = 0.0;
        if (ds && op && accumulate) {
#pragma omp simd reduction(+ : acc)
            for (int64_t p = 0; p < P; p++) {
                acc += (double)gp[p] * xp[p];
                op[p] += gp[p] * sc;
            }
        } else if (ds && op) {
#pragma omp simd reduction(+ : acc)
            for (int64_t p = 0; p < P; p++) {
                acc += (double)gp[p] * xp[p];
                op[p] = gp[p] * sc;
            }
        } else if (ds) {
#pragma omp simd reduction(+ : acc)
            for (int64_t p = 0; p < P; p++) {
                acc += (double)gp[p] * xp[p];
            }
        } else if (op && accumulate) {
            for (int64_t p = 0; p < P; p++) {
                op[p] += gp[p] * sc;
            }
        } else if (op) {
            for (int64_t p = 0; p < P; p++) {
                op[p] = gp[p] * sc;
            }
        }
        if (ds) {
            ds[(size_t)n * C + i] = (float)acc;
        }
    }
}

/* Per-sample weight ws[o, i] = w[o, i] * s[n, i]. */
static void fold_styles(float *ws, const float *w, const float *sn, int Cin, int Cout)
{
    for (int o = 0; o < Cout; o++) {
        for (int i = 0; i < Cin; i++) {
            ws[(size_t)o * Cin + i] = w[(size_t)o * Cin + i] * sn[i];
        }
    }
}

void op_modconv1x1_forward(float *y, const float *x, const float *w, const float *s, int Cin,
                           int Cout, int N, int64_t P, float *tmp)
{
    int ld = (int)(N * P);
    for (int n = 0; n < N; n++) {
        fold_styles(tmp, w, s + (size_t)n * Cin, Cin, Cout);
        op_sgemm(0, 0, Cout, (int)P, Cin, 1.0f, tmp, Cin, x + n * P, ld, 0.0f, y + n * P, ld);
    }
}

void op_modconv1x1_backward(float *dx, int accumulate, float *ds, const float *dy, const float *x,
                            const float *w, const float *s, int Cin, int Cout, int N, int64_t P,
                            float *tmp)
{
    int ld = (int)(N * P);
    float *G = tmp + (size_t)Cout * Cin;
    for (int n = 0; n < N; n++) {
        const float *sn = s + (size_t)n * Cin;
        if (dx) {
            fold_styles(tmp, w, sn, Cin, Cout);
            op_sgemm(1, 0, Cin, (int)P, Cout, 1.0f, tmp, Cin, dy + n * P, ld,
                     accumulate ? 1.0f : 0.0f, dx + n * P, ld);
        }
        if (ds) {
            /* G[o, i] = sum_p dy[o, n, p] x[i, n, p] */
            op_sgemm(0, 1, Cout, Cin, (int)P, 1.0f, dy + n * P, ld, x + n * P, ld, 0.0f, G, Cin);
            for (int i = 0; i < Cin; i++) {
                double acc = 0.0;
                for (int o = 0; o < Cout; o++) {
                    acc += (double)w[(size_t)o * Cin + i] * G[(size_t)o * Cin + i];
                }
                ds[(size_t)n * Cin + i] = (float)acc;
            }
        }
    }
}

void op_demod_forward(float *d, const float *s, const float *Q, int N, int Cin, int Cout,
                      float *tmp)
{
    for (int64_t k = 0; k < (int64_t)N * Cin; k++) {
        tmp[k] = s[k] * s[k];
    }
    /* d[N, Cout] = s^2 [N, Cin] * Q^T */
    op_sgemm(0, 1, N, Cout, Cin, 1.0f, tmp, Cin, Q, Cin, 0.0f, d, Cout);
    for (int64_t k = 0; k < (int64_t)N * Cout; k++) {
        d[k] = op_demod_coef(d[k]);
    }
}

void op_demod_backward(float *ds, const float *dd, const float *d, const float *s, const float *Q,
                       int N, int Cin, int Cout, float *tmp)
{
    float *e = tmp, *f = tmp + (size_t)N * Cout;
    for (int64_t k = 0; k < (int64_t)N * Cout; k++) {
        e[k] = dd[k] * d[k] * d[k] * d[k];
    }
    /* f[N, Cin] = e [N, Cout] * Q [Cout, Cin] */
    op_sgemm(0, 0, N, Cin, Cout, 1.0f, e, Cout, Q, Cin, 0.0f, f, Cin);
    for (int64_t k = 0; k < (int64_t)N * Cin; k++) {
        ds[k] -= s[k] * f[k];
    }
}

void op_modconv_out_forward(float *y, const float *c, const float *d, const float *noise,
                            int64_t noise_nstride, float ns, const float *bias, int Cout, int N,
                            int64_t P, float gain, float clamp)
{
#pragma omp parallel for schedule(static) if ((int64_t)Cout * N * P > 32768)
    for (int64_t on = 0; on < (int64_t)Cout * N; on++) {
        int o = (int)(on / N), n = (int)(on % N);
        float dc = d[(size_t)n * Cout + o], b = bias ? bias[o] : 0.0f;
        const float *cp = c + on * P;
        float *yp = y + on * P;
        if (noise) {
            const float *np = noise + n * noise_nstride;
            for (int64_t p = 0; p < P; p++) {
                yp[p] = op_modconv_out_f(cp[p], dc, ns * np[p], b, gain, clamp);
            }
        } else {
            for (int64_t p = 0; p < P; p++) {
                yp[p] = op_modconv_out_f(cp[p], dc, 0.0f, b, gain, clamp);
            }
        }
    }
}

/* Derivation (spec 6.1-6.3): u = d*c + ns*noise, v = u + bias, y = act(v).
 * du = dy * act'(v) = dy * op_bias_act_dydv(y); dc = du * d; dd = sum_p du * c;
 * dnoise = ns * sum_o du. c is recovered from y (v = act^-1(y), exact where du != 0,
 * i.e. wherever the clamp was inactive). */
void op_modconv_out_backward(float *dc, float *dd, float *dnoise, const float *dy, const float *y,
                             const float *d, const float *noise, int64_t noise_nstride, float ns,
                             const float *bias, int Cout, int N, int64_t P, float gain, float clamp)
{
#pragma omp parallel for schedule(static) if ((int64_t)Cout * N * P > 32768)
    for (int64_t on = 0; on < (int64_t)Cout * N; on++) {
        int o = (int)(on / N), n = (int)(on % N);
        float dn = d[(size_t)n * Cout + o], b = bias ? bias[o] : 0.0f;
        const float *gp = dy + on * P, *yp = y + on * P;
        const float *np = noise ? noise + n * noise_nstride : NULL;
        float *cp = dc + on * P;
        /* Branch-free so that it vectorises: where du = 0 (clamped) the product is 0 * a
         * finite c. The sum runs in double, in an order fixed by the compiled code. */
        double acc = 0.0;
        if (np) {
#pragma omp simd reduction(+ : acc)
            for (int64_t p = 0; p < P; p++) {
                float du = gp[p] * op_bias_act_dydv(yp[p], 1, gain, clamp);
                float v = op_bias_act_inv(yp[p], 1, gain);
                acc += (double)(du * op_modconv_c_from_v(v, b, ns * np[p], dn));
                cp[p] = du * dn;
            }
        } else {
#pragma omp simd reduction(+ : acc)
            for (int64_t p = 0; p < P; p++) {
                float du = gp[p] * op_bias_act_dydv(yp[p], 1, gain, clamp);
                float v = op_bias_act_inv(yp[p], 1, gain);
                acc += (double)(du * op_modconv_c_from_v(v, b, 0.0f, dn));
                cp[p] = du * dn;
            }
        }
        dd[(size_t)n * Cout + o] = (float)acc;
    }
    if (!dnoise) {
        return;
    }
    /* dnoise[n, p] = ns * sum_o du[o, n, p] = ns * sum_o dc[o, n, p] / d[n, o]. */
    const int64_t blk = 1024;
    int64_t nblk = (P + blk - 1) / blk;
#pragma omp parallel for schedule(static) if ((int64_t)Cout * N * P > 32768)
    for (int64_t nb = 0; nb < N * nblk; nb++) {
        int n = (int)(nb / nblk);
        int64_t p0 = (nb % nblk) * blk, p1 = p0 + blk < P ? p0 + blk : P;
        float *out = dnoise + (size_t)n * P;
        for (int64_t p = p0; p < p1; p++) {
            out[p] = 0.0f;
        }
        for (int o = 0; o < Cout; o++) {
            float inv = 1.0f / d[(size_t)n * Cout + o];
            const float *cp = dc + ((int64_t)o * N + n) * P;
            for (int64_t p = p0; p < p1; p++) {
                out[p] += cp[p] * inv;
            }
        }
        for (int64_t p = p0; p < p1; p++) {
            out[p] *= ns;
        }
    }
}
