/*
 * op_modconv.h - the per-sample parts of StyleGAN2's modulated convolution in the
 * NON-FUSED form (spec 3.6): modulate the input by the styles, run ONE shared-weight
 * convolution for the whole batch (op_conv2d / op_upconv2d), then scale by the
 * demodulation coefficients, add noise and bias, activate. CNHW layout:
 * activations [C, N, P] with P = H*W; styles s [N, Cin]; demod d [N, Cout].
 */
#ifndef OP_MODCONV_H
#define OP_MODCONV_H

#include <stdint.h>

/* Q[o, i] = sum_{a,b} w[o, i, a, b]^2; w [Cout, Cin, kk]. */
void op_demod_weight_sumsq(float *Q, const float *w, int Cout, int Cin, int kk);

/* xs[i, n, p] = x[i, n, p] * s[n, i]. */
void op_modulate_forward(float *xs, const float *x, const float *s, int C, int N, int64_t P);
/* dx = dxs * s (accumulate != 0: dx += ...; dx may be NULL to skip);
 * ds[n, i] = sum_p dxs[i, n, p] * x[i, n, p] (overwrite; NULL skips). */
void op_modulate_backward(float *dx, int accumulate, float *ds, const float *dxs, const float *x,
                          const float *s, int C, int N, int64_t P);

/* Modulated 1x1 conv without demodulation (toRGB), the styles folded into a per-sample
 * copy of the weight instead of a modulated copy of x:
 *   y[o, n, p] = sum_i w[o, i] s[n, i] x[i, n, p]; w [Cout, Cin]; tmp: Cout*Cin floats. */
void op_modconv1x1_forward(float *y, const float *x, const float *w, const float *s, int Cin,
                           int Cout, int N, int64_t P, float *tmp);
/* Its backward: dx[i, n, p] (+)= s[n, i] sum_o w[o, i] dy[o, n, p] (accumulate != 0: add);
 * ds[n, i] = sum_o w[o, i] sum_p dy[o, n, p] x[i, n, p] (overwrite).
 * tmp: 2*Cout*Cin floats. */
void op_modconv1x1_backward(float *dx, int accumulate, float *ds, const float *dy, const float *x,
                            const float *w, const float *s, int Cin, int Cout, int N, int64_t P,
                            float *tmp);
/* d[n, o] = (sum_i s[n,i]^2 Q[o,i] + 1e-8)^(-1/2). tmp: N*Cin floats. */
void op_demod_forward(float *d, const float *s, const float *Q, int N, int Cin, int Cout,
                      float *tmp);
/* ds[n, i] -= s[n, i] * sum_o dd[n, o] d[n, o]^3 Q[o, i]  (ACCUMULATES into ds).
 * tmp: N*Cout + N*Cin floats. */
void op_demod_backward(float *ds, const float *dd, const float *d, const float *s, const float *Q,
                       int N, int Cin, int Cout, float *tmp);

/* y[o,n,p] = bias_act(c[o,n,p] * d[n,o] + ns * noise[n*noise_nstride + p] + bias[o]),
 * lrelu with gain, clamp <= 0 for none. noise NULL: no noise; noise_nstride 0: one map
 * shared by the batch. y may alias c. */
void op_modconv_out_forward(float *y, const float *c, const float *d, const float *noise,
                            int64_t noise_nstride, float ns, const float *bias, int Cout, int N,
                            int64_t P, float gain, float clamp);
/* Backward of op_modconv_out_forward from its output y and the gradient dy:
 *   du = dy * act'(y); dc = du * d (overwrite; may alias dy);
 *   dd[n,o] = sum_p du * c with c recovered from y (overwrite);
 *   dnoise[n, p] = ns * sum_o du (per sample, overwrite; NULL skips). */
void op_modconv_out_backward(float *dc, float *dd, float *dnoise, const float *dy, const float *y,
                             const float *d, const float *noise, int64_t noise_nstride, float ns,
                             const float *bias, int Cout, int N, int64_t P, float gain,
                             float clamp);

#endif
