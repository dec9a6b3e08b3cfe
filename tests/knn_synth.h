/*
 * knn_synth.h - synthetic face-descriptor data shared by the index tests and
 * benchmarks: identities as random centres, samples as noisy copies.
 *
 * Scales mimic face-api's 128-D descriptors: two different identities sit
 * about 1.0 apart (centres of norm 0.7 in random directions), two photos of
 * one identity about 0.45 apart (isotropic noise, sigma per component), the
 * regime where face-api's 0.6 threshold separates them.
 */
#ifndef KNN_SYNTH_H
#define KNN_SYNTH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct knn_rng {
    uint64_t s;
} knn_rng;

static inline uint64_t knn_rng_u64(knn_rng *r)
{
    uint64_t x = (r->s += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline double knn_rng_unif(knn_rng *r)
{
    return ((double)(knn_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static inline double knn_rng_gauss(knn_rng *r)
{
    double u = knn_rng_unif(r), v = knn_rng_unif(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* n_id centres (OUT centres[n_id*dim]) of norm `radius`. */
static inline void knn_synth_centres(float *centres, size_t n_id, int dim, double radius,
                                     uint64_t seed)
{
    knn_rng r = {seed};
    for (size_t i = 0; i < n_id; i++) {
        double s = 0;
        float *c = centres + i * (size_t)dim;
        for (int d = 0; d < dim; d++) {
            c[d] = (float)knn_rng_gauss(&r);
            s += (double)c[d] * c[d];
        }
        double f = radius / sqrt(s);
        for (int d = 0; d < dim; d++) {
            c[d] = (float)(c[d] * f);
        }
    }
}

/* n samples: sample i belongs to identity i % n_id (OUT vecs[n*dim], ident[n]),
 * centre + N(0, sigma^2) noise per component. */
static inline void knn_synth_samples(float *vecs, int32_t *ident, size_t n,
                                     const float *centres, size_t n_id, int dim, double sigma,
                                     uint64_t seed)
{
    knn_rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        size_t id = i % n_id;
        if (ident) {
            ident[i] = (int32_t)id;
        }
        for (int d = 0; d < dim; d++) {
            vecs[i * (size_t)dim + (size_t)d] =
                (float)(centres[id * (size_t)dim + (size_t)d] + sigma * knn_rng_gauss(&r));
        }
    }
}

/* Per-component sigma giving an expected intra-identity pair distance of
 * `pair` (pair = sigma * sqrt(2 dim)). */
static inline double knn_synth_sigma(double pair, int dim)
{
    return pair / sqrt(2.0 * dim);
}

#endif
