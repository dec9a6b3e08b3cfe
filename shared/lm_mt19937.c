/*
 * lm_mt19937.c - MT19937 and NumPy-legacy Gaussians (see lm_mt19937.h).
 */
#include "shared/lm_mt19937.h"

#include <math.h>

#define MT_M 397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu

void lm_mt19937_seed(lm_mt19937 *st, uint32_t seed)
{
    st->mt[0] = seed;
    for (int i = 1; i < LM_MT19937_N; i++) {
        uint32_t p = st->mt[i - 1];
        st->mt[i] = 1812433253u * (p ^ (p >> 30)) + (uint32_t)i;
    }
    st->pos = LM_MT19937_N;
    st->has_gauss = 0;
    st->gauss = 0.0;
}

/* Regenerate all N words: each combines the top bit of word i with the low 31
 * bits of word i+1, shifted and conditionally xored with A, into word i+M. */
static void mt_twist(lm_mt19937 *st)
{
    uint32_t *mt = st->mt;
    for (int i = 0; i < LM_MT19937_N; i++) {
        uint32_t y = (mt[i] & MT_UPPER) | (mt[(i + 1) % LM_MT19937_N] & MT_LOWER);
        uint32_t v = mt[(i + MT_M) % LM_MT19937_N] ^ (y >> 1);
        mt[i] = (y & 1u) ? v ^ MT_MATRIX_A : v;
    }
    st->pos = 0;
}

uint32_t lm_mt19937_u32(lm_mt19937 *st)
{
    if (st->pos >= LM_MT19937_N) {
        mt_twist(st);
    }
    uint32_t y = st->mt[st->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

double lm_mt19937_double(lm_mt19937 *st)
{
    /* 27 high bits, then 26: (hi * 2^26 + lo) / 2^53. */
    uint32_t hi = lm_mt19937_u32(st) >> 5;
    uint32_t lo = lm_mt19937_u32(st) >> 6;
    return ((double)hi * 67108864.0 + (double)lo) / 9007199254740992.0;
}

double lm_mt19937_gauss(lm_mt19937 *st)
{
    if (st->has_gauss) {
        st->has_gauss = 0;
        double g = st->gauss;
        st->gauss = 0.0;
        return g;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * lm_mt19937_double(st) - 1.0;
        x2 = 2.0 * lm_mt19937_double(st) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    st->gauss = f * x1;
    st->has_gauss = 1;
    return f * x2;
}

void lm_mt19937_randn_f32(float *out, size_t n, uint32_t seed)
{
    lm_mt19937 st;
    lm_mt19937_seed(&st, seed);
    for (size_t i = 0; i < n; i++) {
        out[i] = (float)lm_mt19937_gauss(&st);
    }
}
