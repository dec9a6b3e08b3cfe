/*
 * lm_hd.h - LM_HD marks per-element math shared by the CPU loops and their
 * CUDA twins: __host__ __device__ under nvcc, nothing for the C compiler.
 */
#ifndef LM_HD_H
#define LM_HD_H

#ifdef __CUDACC__
#define LM_HD __host__ __device__
#else
#define LM_HD
#endif

#endif
