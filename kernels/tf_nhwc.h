/*
 * tf_nhwc.h - NHWC (TensorFlow-layout) ops for the face-api networks.
 *
 * Layout: activations are H x W x C (batch 1, channel fastest); conv filters
 * are HWIO [KH][KW][Cin][Cout]; depthwise filters [KH][KW][C] (multiplier 1);
 * dense weights [in][out]. Padding follows TensorFlow (specs/face-models.md
 * section 1): VALID out = ceil((in-k+1)/s); SAME out = ceil(in/s) with total
 * padding P = max(0,(out-1)s+k-in), floor(P/2) top/left and the rest
 * bottom/right. Convolutions read padded cells as 0; max-pool ignores them.
 *
 * Sits in kernels/ under models/ (the fdet_/lmk_/frec_/fexp_/fage_ nets).
 * Backward passes (used for input gradients of the recognition net, e.g. an
 * identity loss in inversion) sit next to their forwards. Convention: input
 * gradients overwrite, parameter gradients accumulate, NULL gradient pointers
 * skip that work. All matrix products go through op_sgemm.
 * Outputs never alias inputs unless a function says so.
 */
#ifndef TF_NHWC_H
#define TF_NHWC_H

#include <stddef.h>

enum op_tf_pad { OP_TF_VALID = 0, OP_TF_SAME = 1 };

/* Loops with less work than this many multiply-adds run on one thread: the
 * face nets have many small layers, where an OpenMP fork/join costs more than
 * it saves and, on a loaded machine, stalls on descheduled threads (measured:
 * test_face_nets 1.5 s single-threaded vs 25 s with 2 threads at load 8). */
#define OP_TF_PAR_MIN ((size_t)1 << 20)
enum op_act { OP_ACT_NONE = 0, OP_ACT_RELU = 1, OP_ACT_LEAKY = 2, OP_ACT_RELU6 = 3 };

/* Geometry of one windowed op (conv, depthwise, pool). */
typedef struct op_tf_geom {
    int H, W, C;        /* input */
    int KH, KW, stride; /* window */
    int pad_top, pad_left;
    int OH, OW; /* output */
} op_tf_geom;

/* Fill g for input H x W x C, a KH x KW window with this stride and padding.
 * Returns 0, or -1 when the output would be empty (input smaller than a VALID
 * window) or a size is not positive. */
int op_tf_geom_init(op_tf_geom *g, int H, int W, int C, int KH, int KW, int stride,
                    enum op_tf_pad pad);

/* conv2d: out[OH][OW][Cout] = act(conv(in, filt) + bias).
 * filt [KH][KW][C][Cout], bias [Cout] or NULL. scratch: at least
 * op_tf_conv2d_scratch(g) floats (im2col buffer; 0 for 1x1 stride-1 convs,
 * then scratch may be NULL). */
size_t op_tf_conv2d_scratch(const op_tf_geom *g);
void op_tf_conv2d_forward(float *out, float *scratch, const float *in, const float *filt,
                          const float *bias, const op_tf_geom *g, int cout, enum op_act act);

/* Backward of the linear part (conv + bias; apply op_tf_act_backward first
 * for a fused activation). dout [OH][OW][Cout] -> din [H][W][C] (overwritten),
 * dfilt [KH][KW][C][Cout] and dbias [Cout] (accumulated); any may be NULL.
 * in is needed only for dfilt. scratch: op_tf_conv2d_backward_scratch(g)
 * floats. */
size_t op_tf_conv2d_backward_scratch(const op_tf_geom *g);
void op_tf_conv2d_backward(float *din, float *dfilt, float *dbias, float *scratch,
                           const float *dout, const float *in, const float *filt,
                           const op_tf_geom *g, int cout);

/* depthwise conv (multiplier 1): out[OH][OW][C] = sum in * filt[KH][KW][C]
 * (+ bias[C] if non-NULL), then act. */
void op_tf_depthwise_forward(float *out, const float *in, const float *filt, const float *bias,
                             const op_tf_geom *g, enum op_act act);

/* separable conv: depthwise (g) into tmp [OH][OW][C], then pointwise 1x1
 * pw [C][Cout] + bias [Cout], then act, into out [OH][OW][Cout]. */
void op_tf_separable_forward(float *out, float *tmp, const float *in, const float *dw,
                             const float *pw, const float *bias, const op_tf_geom *g, int cout,
                             enum op_act act);

/* max-pool (padding cells ignored) and average pool (mean over the in-image
 * cells of each window; for VALID that is KH*KW). out [OH][OW][C]. */
void op_tf_maxpool_forward(float *out, const float *in, const op_tf_geom *g);
void op_tf_avgpool_forward(float *out, const float *in, const op_tf_geom *g);

/* Pool backward: din [H][W][C] overwritten. Max-pool routes each output's
 * gradient to the first maximum of its window in scan order (as TF's CPU
 * kernel), so it needs the forward input. */
void op_tf_maxpool_backward(float *din, const float *dout, const float *in, const op_tf_geom *g);
void op_tf_avgpool_backward(float *din, const float *dout, const op_tf_geom *g);

/* dense: y[out] = act(x[in] . w[in][out] + b[out]) (b may be NULL). */
void op_tf_dense_forward(float *y, const float *x, const float *w, const float *b, int n_in,
                         int n_out, enum op_act act);

/* Dense backward (linear part): dx [in] overwritten, dw [in][out] and db
 * [out] accumulated; any may be NULL (x needed only for dw). */
void op_tf_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, int n_in, int n_out);

/* out[i] = act(a[i] + b[i]); out may alias a or b. */
void op_tf_add_forward(float *out, const float *a, const float *b, size_t n, enum op_act act);

/* Per-channel affine, in place: x[p][c] = act(x[p][c] * mul[c] + add[c]) for
 * n_pix pixels of C channels (a folded batch norm / face-api "scale" layer). */
void op_tf_affine_forward(float *x, size_t n_pix, int C, const float *mul, const float *add,
                          enum op_act act);

/* Affine backward for the input: dx = act'(y) * dy * mul[c] (overwritten;
 * may alias dy). y is the forward output (after act). Parameter gradients of
 * the affine are not provided (they need the pre-affine input, which the
 * in-place forward does not keep). */
void op_tf_affine_backward(float *dx, const float *dy, const float *y, size_t n_pix, int C,
                           const float *mul, enum op_act act);

/* dx[i] = act'(y[i]) * dy[i], y the forward output (overwritten; may alias dy). */
void op_tf_act_backward(float *dx, const float *dy, const float *y, size_t n, enum op_act act);

/* Batch normalisation as TF.js computes it (not folded, so results round like
 * the reference): x = act(offset[c] + (x - mean[c]) * scale[c] /
 * sqrt(var[c] + eps)), per element in double, in place over n_pix pixels of
 * C channels. Backward is not provided (only the SSD detector uses it). */
void op_tf_batchnorm_forward(float *x, size_t n_pix, int C, const float *mean, const float *var,
                             const float *offset, const float *scale, double eps, enum op_act act);

/* out[i] = act(x[i]) in place. */
void op_tf_act_forward(float *x, size_t n, enum op_act act);

/* Numerically stable softmax over n values; out may alias x. */
void op_softmax_forward(float *out, const float *x, int n);

/* Greedy non-maximum suppression. boxes: n x [x0,y0,x1,y1] (any corner
 * order; IoU uses sorted corners, 0 for an empty box). Candidates are visited
 * by descending score (stable for ties); one is kept unless its IoU with an
 * already kept box is > iou_thresh. Writes up to max_keep indices into keep
 * (descending score) and returns how many. scratch: n ints. */
int op_nms_forward(int *keep, int *scratch, const float *boxes, const float *scores, int n,
                   float iou_thresh, int max_keep);

#endif
