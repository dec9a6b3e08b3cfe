/*
 * lm_hd.h - LM_HD marks per-element math shared by CPU loops and CUDA twins:
 * host+device under nvcc, nothing for the C compiler (ggml-common.h idea).
 */
#ifndef LM_HD_H
#define LM_HD_H

#ifdef __CUDACC__
#define LM_HD __host__ __device__
#else
#define LM_HD
#endif

#endif
