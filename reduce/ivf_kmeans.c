/*
 * ivf_kmeans.c - k-means for the IVF coarse quantizer, trained across MPI ranks
 * (see ivf_kmeans_train in index.h).
 *
 * Lloyd iterations as in faiss's Clustering (sampled training set of at most
 * max_points_per_centroid x k rows, random distinct initial centroids, empty
 * clusters split off the largest one), distributed like MPI k-means codes: each
 * rank assigns its rows, per-centroid sums and counts are all-reduced. The sums
 * are 64-bit fixed-point integers, so the all-reduce is exact and associative
 * and the centroids are bit-identical for any number of ranks.
 */
#include "reduce/index.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/op_gemm.h"
#include "reduce/internal.h"
#include "shared/lm_log.h"

/* Rows per GEMM of the assignment: 1024 x nlist scores per thread. */
enum { ASSIGN_BLOCK = 1024 };

int ivf_assign(const float *vecs, size_t n, int dim, const float *centroids, int nlist,
               int32_t *assign, lm_err *err)
{
    if (n == 0) {
        return 0;
    }
    float *cn = malloc((size_t)nlist * 4);
    if (cn == NULL) {
        return lm_err_set(err, -ENOMEM, "ivf: out of memory assigning %zu vectors", n);
    }
    knn__row_norms(centroids, (size_t)nlist, dim, cn);
    size_t bs = n < ASSIGN_BLOCK ? n : ASSIGN_BLOCK;
    size_t nblk = (n + bs - 1) / bs;
    int fail = 0;
    int saved = knn__blas_single();
#pragma omp parallel
    {
        float *g = malloc(bs * (size_t)nlist * 4);
        if (g == NULL) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t b = 0; b < nblk; b++) {
            if (g == NULL) {
                continue;
            }
            size_t r0 = b * bs, nb = n - r0 < bs ? n - r0 : bs;
            op_sgemm(0, 1, (int)nb, nlist, dim, 1.0f, vecs + r0 * (size_t)dim, dim, centroids,
                     dim, 0.0f, g, nlist);
            for (size_t i = 0; i < nb; i++) {
                const float *gi = g + i * (size_t)nlist;
                float best = INFINITY;
                int32_t bl = 0;
                for (int c = 0; c < nlist; c++) {
                    float s = cn[c] - 2.0f * gi[c];
                    if (s < best) {
                        best = s;
                        bl = c;
                    }
                }
                assign[r0 + i] = bl;
            }
        }
        free(g);
    }
    knn__blas_restore(saved);
    free(cn);
    if (fail) {
        return lm_err_set(err, -ENOMEM, "ivf: out of memory assigning %zu vectors", n);
    }
    return 0;
}

/* Every rank must take the same branch: combine a local code with MPI_MIN
 * (errors are negative) and keep the first rank's message semantics simple. */
static int all_rc(int rc, MPI_Comm comm)
{
    int g = rc;
    MPI_Allreduce(&rc, &g, 1, MPI_INT, MPI_MIN, comm);
    return g;
}

int ivf_kmeans_train(const float *local, size_t n_local, int dim, int nlist, int niter,
                     int max_per_list, uint64_t seed, MPI_Comm comm, float *centroids,
                     lm_err *err)
{
    int rc = 0;
    int dims[2] = {dim, -dim}, gd[2];
    MPI_Allreduce(dims, gd, 2, MPI_INT, MPI_MIN, comm);
    if (gd[0] != -gd[1] || dim < 1) {
        return lm_err_set(err, LM_ESHAPE, "ivf k-means: descriptor sizes differ between ranks "
                                          "(%d..%d)", gd[0], -gd[1]);
    }
    unsigned long long nl = n_local, N = 0, off = 0;
    MPI_Allreduce(&nl, &N, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    MPI_Exscan(&nl, &off, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        off = 0;
    }
    if (nlist < 1 || N < (unsigned long long)nlist) {
        return lm_err_set(err, LM_ESHAPE, "ivf k-means: %llu vectors cannot make %d lists", N,
                          nlist);
    }
    if (niter < 1) {
        niter = 1;
    }
    /* Training rows: global row g is used iff hash(seed, g) mod N < target, which
     * depends only on the global order, not on how rows are spread over ranks. */
    unsigned long long target = (unsigned long long)(max_per_list > 0 ? max_per_list : 256) *
                                (unsigned long long)nlist;
    int use_all = target >= N;
    size_t nt = 0;
    for (size_t i = 0; i < n_local; i++) {
        if (use_all || knn__mix64(seed ^ knn__mix64(off + i)) % N < target) {
            nt++;
        }
    }
    unsigned long long ntl = nt, NT = 0, toff = 0;
    MPI_Allreduce(&ntl, &NT, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    if (NT < (unsigned long long)nlist) {
        use_all = 1;
        nt = n_local;
        ntl = nt;
        MPI_Allreduce(&ntl, &NT, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    }
    MPI_Exscan(&ntl, &toff, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    if (rank == 0) {
        toff = 0;
    }
    size_t D = (size_t)dim, K = (size_t)nlist;
    float *tr = malloc((nt ? nt : 1) * D * 4);
    int32_t *as = malloc((nt ? nt : 1) * 4);
    int32_t *prev = malloc((nt ? nt : 1) * 4);
    int64_t *sums = malloc(K * D * 8);
    int64_t *gsum = malloc(K * D * 8);
    int64_t *cnt = malloc((K + 1) * 8);
    int64_t *gcnt = malloc((K + 1) * 8);
    uint8_t *taken = calloc((size_t)(NT / 8 + 1), 1);
    rc = (!tr || !as || !prev || !sums || !gsum || !cnt || !gcnt || !taken) ? -ENOMEM : 0;
    if (all_rc(rc, comm) != 0) {
        rc = lm_err_set(err, -ENOMEM, "ivf k-means: out of memory (%zu training rows, %d lists)",
                        nt, nlist);
        goto done;
    }
    {
        size_t t = 0;
        for (size_t i = 0; i < n_local; i++) {
            if (use_all || knn__mix64(seed ^ knn__mix64(off + i)) % N < target) {
                memcpy(tr + t * D, local + i * D, D * 4);
                t++;
            }
        }
    }
    /* Initial centroids: nlist distinct training rows drawn by the seeded hash;
     * the owner contributes each row and the others zeros (x + 0 = x exactly). */
    memset(centroids, 0, K * D * 4);
    {
        uint64_t st = seed * 0x2545f4914f6cdd1dull + 1;
        for (int c = 0; c < nlist; c++) {
            uint64_t p;
            do {
                st = knn__mix64(st);
                p = st % NT;
            } while (taken[p / 8] & (1u << (p % 8)));
            taken[p / 8] |= (uint8_t)(1u << (p % 8));
            if (p >= toff && p < toff + nt) {
                memcpy(centroids + (size_t)c * D, tr + (p - toff) * D, D * 4);
            }
        }
        MPI_Allreduce(MPI_IN_PLACE, centroids, (int)(K * D), MPI_FLOAT, MPI_SUM, comm);
    }
    /* Fixed-point scale: a power of two such that NT * max|x| stays below 2^62. */
    float amax = 0;
    for (size_t i = 0; i < nt * D; i++) {
        float a = fabsf(tr[i]);
        if (a > amax) {
            amax = a;
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, &amax, 1, MPI_FLOAT, MPI_MAX, comm);
    if (!isfinite(amax)) {
        rc = lm_err_set(err, LM_ENUMERIC, "ivf k-means: NaN/Inf in the training vectors");
        goto done;
    }
    int ea, en;
    frexp(amax > 0 ? (double)amax : 1.0, &ea);
    frexp((double)NT + 1.0, &en);
    int e = 61 - ea - en;
    if (e > 60) {
        e = 60;
    }
    double scale = ldexp(1.0, e);
    for (size_t i = 0; i < nt; i++) {
        prev[i] = -1;
    }
    int it;
    for (it = 0; it < niter; it++) {
        rc = ivf_assign(tr, nt, dim, centroids, nlist, as, err);
        if (all_rc(rc, comm) != 0) {
            if (rc == 0) {
                rc = lm_err_set(err, -ENOMEM, "ivf k-means: out of memory on another rank");
            }
            goto done;
        }
        memset(sums, 0, K * D * 8);
        memset(cnt, 0, (K + 1) * 8);
        for (size_t i = 0; i < nt; i++) {
            int64_t *s = sums + (size_t)as[i] * D;
            const float *x = tr + i * D;
            for (size_t d = 0; d < D; d++) {
                s[d] += (int64_t)llrint((double)x[d] * scale);
            }
            cnt[as[i]]++;
            if (as[i] != prev[i]) {
                cnt[K]++; /* changed assignments */
            }
            prev[i] = as[i];
        }
        MPI_Allreduce(sums, gsum, (int)(K * D), MPI_INT64_T, MPI_SUM, comm);
        MPI_Allreduce(cnt, gcnt, (int)(K + 1), MPI_INT64_T, MPI_SUM, comm);
        for (size_t c = 0; c < K; c++) {
            if (gcnt[c] > 0) {
                for (size_t d = 0; d < D; d++) {
                    centroids[c * D + d] =
                        (float)((double)gsum[c * D + d] / scale / (double)gcnt[c]);
                }
            }
        }
        /* Empty clusters: split the largest cluster (same on every rank). */
        for (size_t c = 0; c < K; c++) {
            if (gcnt[c] > 0) {
                continue;
            }
            size_t big = 0;
            for (size_t j = 1; j < K; j++) {
                if (gcnt[j] > gcnt[big]) {
                    big = j;
                }
            }
            for (size_t d = 0; d < D; d++) {
                float v = centroids[big * D + d];
                float eps = (d % 2 == 0 ? 1.0f : -1.0f) / 1024.0f;
                centroids[c * D + d] = v * (1.0f + eps);
                centroids[big * D + d] = v * (1.0f - eps);
            }
            gcnt[c] = gcnt[big] / 2;
            gcnt[big] -= gcnt[c];
        }
        lm_log(LM_LOG_DEBUG, "ivf k-means: iteration %d, %lld assignments changed", it + 1,
               (long long)gcnt[K]);
        if (gcnt[K] == 0) {
            it++;
            break;
        }
    }
    if (rank == 0) {
        lm_log(LM_LOG_INFO, "ivf k-means: %d lists from %llu of %llu vectors, %d iterations",
               nlist, NT, N, it);
    }
done:
    free(tr);
    free(as);
    free(prev);
    free(sums);
    free(gsum);
    free(cnt);
    free(gcnt);
    free(taken);
    return rc;
}
