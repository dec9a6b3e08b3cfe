/*
 * lm_mt19937.h - the Mersenne Twister MT19937 and the Gaussian sampler of
 * NumPy's legacy np.random.RandomState, so that a seed gives the same z as
 * NVlabs' generate.py (z = np.random.RandomState(seed).randn(1, z_dim)).
 *
 * What is reproduced (written from the published algorithms, checked against
 * numbers NumPy produced: tests/golden/mt19937/, tools/mt19937_ref.py):
 *   - seeding with a 32-bit integer: Matsumoto & Nishimura's init_genrand
 *     (what RandomState(int) does for 0 <= seed < 2**32);
 *   - 32-bit outputs with the standard twist and tempering;
 *   - doubles in [0, 1) from two outputs, 27 + 26 bits (53-bit resolution);
 *   - standard normals by the Marsaglia polar method: a pair (x1, x2) uniform
 *     in the unit disc gives two normals; the second is returned and the first
 *     cached for the next call, as RandomState.randn/standard_normal do.
 * Not reproduced: seeding from arrays or entropy, other distributions.
 */
#ifndef LM_MT19937_H
#define LM_MT19937_H

#include <stddef.h>
#include <stdint.h>

#define LM_MT19937_N 624

typedef struct lm_mt19937 {
    uint32_t mt[LM_MT19937_N];
    int pos;       /* next word of mt to temper; N: twist first */
    int has_gauss; /* a cached normal is waiting */
    double gauss;
} lm_mt19937;

/* State of RandomState(seed). */
void lm_mt19937_seed(lm_mt19937 *st, uint32_t seed);
/* Next 32-bit output. */
uint32_t lm_mt19937_u32(lm_mt19937 *st);
/* Uniform double in [0, 1) (RandomState.random_sample). */
double lm_mt19937_double(lm_mt19937 *st);
/* Standard normal (RandomState.standard_normal / randn, with the cached pair). */
double lm_mt19937_gauss(lm_mt19937 *st);

/* out[i] = float32(RandomState(seed).randn(n)[i]): the z of NVlabs' generate.py
 * (which casts it to float32 in the mapping network). */
void lm_mt19937_randn_f32(float *out, size_t n, uint32_t seed);

#endif
