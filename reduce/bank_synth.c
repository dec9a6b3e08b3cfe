/*
 * bank_synth.c - synthetic latents with planted directions (see bank.h).
 *
 * A counter-based generator (splitmix64 of seed, row, column) makes every value
 * a pure function of its global position, so tests can spread rows over any
 * number of ranks and still train on identical data.
 */
#include "reduce/bank.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Standard normal from a 64-bit key (Box-Muller on two 26-bit+ uniforms). */
static double gauss(uint64_t key)
{
    uint64_t h1 = mix64(key), h2 = mix64(h1 ^ 0x632be59bd9b4e019ULL);
    double u1 = ((double)(h1 >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(h2 >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static uint64_t key3(uint64_t seed, uint64_t a, uint64_t b)
{
    return mix64(mix64(seed ^ 0x5bd1e995ULL) ^ (a * 0x9e3779b97f4a7c15ULL)) ^ (b + 0x7f4a7c15ULL);
}

void bank_synth_dirs(uint64_t seed, int n_dir, int64_t dim, float *dirs)
{
    for (int a = 0; a < n_dir; a++) {
        double nrm = 0.0;
        for (int64_t j = 0; j < dim; j++) {
            double v = gauss(key3(seed, 0xd1ULL << 40 | (uint64_t)a, (uint64_t)j));
            dirs[(int64_t)a * dim + j] = (float)v;
            nrm += v * v;
        }
        nrm = sqrt(nrm);
        for (int64_t j = 0; j < dim; j++) {
            dirs[(int64_t)a * dim + j] = (float)(dirs[(int64_t)a * dim + j] / nrm);
        }
    }
}

static double mean_entry(uint64_t seed, int64_t j)
{
    return 0.5 * gauss(key3(seed, 0xfeedULL << 40, (uint64_t)j));
}

void bank_synth_rows(uint64_t seed, int64_t first_row, int64_t n, int64_t dim, float *x)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint64_t g = (uint64_t)(first_row + i);
        for (int64_t j = 0; j < dim; j++) {
            x[i * dim + j] = (float)(mean_entry(seed, j) + gauss(key3(seed, g, (uint64_t)j)));
        }
    }
}

void bank_synth_scores(uint64_t seed, const float *x, int64_t first_row, int64_t n, int64_t dim,
                       const float *dirs, int n_dir, double noise, float *scores)
{
    for (int a = 0; a < n_dir; a++) {
        const float *u = dirs + (int64_t)a * dim;
        double mu_u = 0.0;
        for (int64_t j = 0; j < dim; j++) {
            mu_u += mean_entry(seed, j) * u[j];
        }
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < dim; j++) {
                s += (double)x[i * dim + j] * u[j];
            }
            uint64_t g = (uint64_t)(first_row + i);
            s += noise * gauss(key3(seed, 0xabcdULL << 40 | (uint64_t)a, g)) - mu_u;
            scores[i * n_dir + a] = (float)s;
        }
    }
}
