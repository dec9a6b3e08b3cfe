/*
 * sg2_internal.h - declarations shared inside models/ by stylegan2.c (weights, plan)
 * and sg2_run.c (context, forward, backward). Not a public interface.
 */
#ifndef SG2_INTERNAL_H
#define SG2_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "models/stylegan2.h"

#define SG2_MAX_MAPPING 64
#define SG2_NAME 64
#define SQRT2 1.41421356237309515f
/* Upper bound of the im2col / up-conv scratch (floats): bigger chunks only help a little. */
#define SG2_CONV_SCRATCH_CAP ((size_t)16 << 20)
/* 3x3 convs at this resolution and above run as Winograd F(4x4,3x3), smaller ones as
 * F(2x2,3x3) (few tiles: the 36 GEMMs of F(4x4) would just read more weights). */
#ifndef SG2_WINO4_MIN_RES
#define SG2_WINO4_MIN_RES 16
#endif
/* Up-sampling convs from inputs up to this resolution also keep packed weights (16 and
 * 64 GEMM columns at batch 1). */
#ifndef SG2_UPCONV_PANEL_MAX_IN_RES
#define SG2_UPCONV_PANEL_MAX_IN_RES 8
#endif
/* 3x3 convs up to this resolution keep their Winograd weights packed for op_panel_gemm
 * (at batch 1 they have 4 to 64 tiles, where it beats OpenBLAS by 1.1-2x); the larger
 * ones stay row-major for OpenBLAS (the packed form takes twice the memory). Only on
 * CPUs where op_panel_native() (AVX2+FMA): elsewhere all layers use OpenBLAS. */
#ifndef SG2_WINO_PANEL_MAX_RES
#define SG2_WINO_PANEL_MAX_RES 32
#endif

enum layer_kind { L_CONV1 = 0, L_CONV0 = 1, L_TORGB = 2 };

typedef struct sg2__layer {
    int kind, res, in_res, cin, cout, ws_idx, noise_idx, block;
    int wino_m;      /* conv1: Winograd tile size, 2 or 4 */
    int wino_panels; /* conv1: Winograd weight layout (op_conv2d_wino.h) */
    char name[SG2_NAME];
    size_t o_weight, o_bias, o_aff_w, o_aff_b, o_ns, o_noise; /* offsets into params */
    size_t o_q, o_wup, o_wpk, o_wino;                         /* offsets into derived */
    const float *weight, *bias, *aff_w, *aff_b, *ns, *noise_const, *q, *wup, *wino;
    const float *wpk; /* conv0: packed wup (op_upconv2d_weight_pack) or NULL */
} sg2__layer;

typedef struct sg2__tspec {
    char name[SG2_NAME];
    int ndim;
    int64_t shape[4];
    size_t off;
    int filter; /* resample_filter buffer: constant, not stored in params */
} sg2__tspec;

struct sg2_model {
    sg2_config cfg;
    sg2__tspec *specs;
    int n_specs, cap_specs;
    sg2__layer *layers;
    int n_layers;
    int n_blocks;
    int *noise_layer; /* layer index of noise input i */
    int n_noise;
    int fc_in[SG2_MAX_MAPPING], fc_out[SG2_MAX_MAPPING];
    size_t o_fc_w[SG2_MAX_MAPPING], o_fc_b[SG2_MAX_MAPPING], o_w_avg, o_const;
    size_t n_params, n_derived;
    float *params, *derived;
};

#endif
