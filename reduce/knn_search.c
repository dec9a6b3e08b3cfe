/*
 * knn_search.c - exact and IVF search over a bound index (knn_index_search in
 * index.h).
 *
 * Search follows faiss's exhaustive BLAS path (IndexFlat: blocks of queries x
 * blocks of the base, inner products by GEMM, per-query top-k heaps), and its
 * IndexIVFFlat for IVF; the IVF scan here inverts the probe lists so that all
 * queries of a batch probing one list share one GEMM against that list.
 */
#include "reduce/index.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/op_gemm.h"
#include "reduce/internal.h"

/* Query batch and base block of the exact scan: a 1024 x 2048 float tile of
 * inner products (8 MB) per GEMM, the order of faiss's BLAS path. 256..1024 x
 * 512..2048 tiles measured within 5 % of each other (CPU time, 200k x 128,
 * 1000 queries, one thread: 1190-1340 queries/s). */
enum { QBATCH = 1024, XBLOCK = 2048, IVF_QBATCH = 2048, IVF_XBLOCK = 1024 };

/* ---- top-k heaps ---------------------------------------------------------
 * Scores are "lower is better" (see score_of); a heap keeps the k best as a
 * max-heap on (score, row) so the worst kept candidate sits at the root. */

static inline int worse(float sa, int64_t ia, float sb, int64_t ib)
{
    return sa > sb || (sa == sb && ia > ib);
}

static inline void heap_push(float *hs, int64_t *hi, int k, float s, int64_t id)
{
    /* Replace the root and sift down; caller checked worse(root, new). */
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        float ms = s;
        int64_t mi = id;
        if (l < k && worse(hs[l], hi[l], ms, mi)) {
            m = l;
            ms = hs[l];
            mi = hi[l];
        }
        if (r < k && worse(hs[r], hi[r], ms, mi)) {
            m = r;
        }
        if (m == i) {
            break;
        }
        hs[i] = hs[m];
        hi[i] = hi[m];
        i = m;
    }
    hs[i] = s;
    hi[i] = id;
}

static inline void heap_init(float *hs, int64_t *hi, int k)
{
    for (int j = 0; j < k; j++) {
        hs[j] = INFINITY;
        hi[j] = INT64_MAX;
    }
}

/* Offer a row of m candidate partial scores; row ids start at id0.
 * mode 0: s = c[j] - 2 g[j] (L2 nearest), 1: s = 2 g[j] - c[j] (L2 farthest),
 * 2: s = -g[j] (IP nearest), 3: s = g[j] (IP farthest). Always inlined with a
 * constant mode (heap_offer), so each mode gets its own tight loop. */
static inline __attribute__((always_inline)) float offer_score(const float *g,
                                                                const float *c, int64_t j,
                                                                int mode)
{
    switch (mode) {
    case 0: return c[j] - 2.0f * g[j];
    case 1: return 2.0f * g[j] - c[j];
    case 2: return -g[j];
    default: return g[j];
    }
}

/* Candidates come in chunks of 16 whose scores are computed and compared with
 * the current worst kept score in a vectorisable pass; only a chunk holding a
 * candidate at least as good is walked one by one (rare once the heap is warm). */
static inline __attribute__((always_inline)) void
heap_offer_mode(float *hs, int64_t *hi, int k, const float *g, const float *c, int64_t m,
                int64_t id0, int mode)
{
    float top = hs[0];
    int64_t j = 0;
    for (; j + 16 <= m; j += 16) {
        float s[16];
        int any = 0;
        for (int t = 0; t < 16; t++) {
            s[t] = offer_score(g, c, j + t, mode);
            any |= s[t] <= top;
        }
        if (!any) {
            continue;
        }
        for (int t = 0; t < 16; t++) {
            if (s[t] <= top && worse(top, hi[0], s[t], id0 + j + t)) {
                heap_push(hs, hi, k, s[t], id0 + j + t);
                top = hs[0];
            }
        }
    }
    for (; j < m; j++) {
        float s = offer_score(g, c, j, mode);
        if (s <= top && worse(top, hi[0], s, id0 + j)) {
            heap_push(hs, hi, k, s, id0 + j);
            top = hs[0];
        }
    }
}

static void heap_offer_row(float *hs, int64_t *hi, int k, const float *g, const float *c,
                           int64_t m, int64_t id0, int mode)
{
    switch (mode) {
    case 0: heap_offer_mode(hs, hi, k, g, c, m, id0, 0); break;
    case 1: heap_offer_mode(hs, hi, k, g, c, m, id0, 1); break;
    case 2: heap_offer_mode(hs, hi, k, g, c, m, id0, 2); break;
    default: heap_offer_mode(hs, hi, k, g, c, m, id0, 3); break;
    }
}

/* Offer every kept entry of heap (s, i) to heap (hs, hi). */
static void heap_merge(float *hs, int64_t *hi, int k, const float *s, const int64_t *i)
{
    for (int j = 0; j < k; j++) {
        if (i[j] != INT64_MAX && worse(hs[0], hi[0], s[j], i[j])) {
            heap_push(hs, hi, k, s[j], i[j]);
        }
    }
}

static int search_mode(enum knn_metric metric, int farthest)
{
    return (metric == KNN_METRIC_L2 ? 0 : 2) + (farthest ? 1 : 0);
}

/* Final distance of a stored row to a query, in double. */
static double exact_score(const float *q, const float *x, int dim, enum knn_metric metric)
{
    double s = 0;
    if (metric == KNN_METRIC_L2) {
        for (int d = 0; d < dim; d++) {
            double t = (double)q[d] - x[d];
            s += t * t;
        }
        return sqrt(s);
    }
    for (int d = 0; d < dim; d++) {
        s += (double)q[d] * x[d];
    }
    return s;
}

typedef struct knn_result {
    double v; /* final distance or inner product */
    int64_t id; /* entry id */
} knn_result;

static int cmp_asc(const void *a, const void *b)
{
    const knn_result *x = a, *y = b;
    if (x->v != y->v) {
        return x->v < y->v ? -1 : 1;
    }
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_desc(const void *a, const void *b)
{
    const knn_result *x = a, *y = b;
    if (x->v != y->v) {
        return x->v > y->v ? -1 : 1;
    }
    return (x->id > y->id) - (x->id < y->id);
}

/* Turn a heap of stored rows into the output row: re-score exactly, sort with
 * ties by entry id, map rows to entry ids, pad. tmp holds k results. */
static void heap_finish(const knn_index *ix, const float *q, const float *hs, const int64_t *hi,
                        int k, int farthest, knn_result *tmp, int64_t *ids, float *dist)
{
    int m = 0;
    for (int j = 0; j < k; j++) {
        if (hi[j] == INT64_MAX || !(hs[j] < INFINITY)) {
            continue;
        }
        int64_t row = hi[j];
        tmp[m].v = exact_score(q, ix->vecs + (size_t)row * (size_t)ix->dim, ix->dim, ix->metric);
        tmp[m].id = (int64_t)ix->rowids[row];
        m++;
    }
    /* Nearest: ascending L2 / descending IP; farthest the other way round. */
    int asc = (ix->metric == KNN_METRIC_L2) != (farthest != 0);
    qsort(tmp, (size_t)m, sizeof *tmp, asc ? cmp_asc : cmp_desc);
    for (int j = 0; j < k; j++) {
        if (ids) {
            ids[j] = j < m ? tmp[j].id : -1;
        }
        if (dist) {
            dist[j] = j < m ? (float)tmp[j].v : NAN;
        }
    }
}

/* Copy a query batch, normalising when the index asks for it. */
static int prepare_queries(const knn_index *ix, const float *q, size_t nq, size_t q0,
                           float *buf, lm_err *err)
{
    size_t dim = (size_t)ix->dim;
    memcpy(buf, q, nq * dim * 4);
    int64_t bad = knn__first_nonfinite(buf, nq, ix->dim);
    if (bad >= 0) {
        return lm_err_set(err, LM_ENUMERIC, "%s: query %lld has NaN/Inf", ix->path,
                          (long long)(q0 + (size_t)bad));
    }
    if (ix->flags & KNN_FLAG_NORMQ) {
        for (size_t i = 0; i < nq; i++) {
            float *r = buf + i * dim;
            double s = 0;
            for (size_t d = 0; d < dim; d++) {
                s += (double)r[d] * r[d];
            }
            if (s > 0) {
                float inv = (float)(1.0 / sqrt(s));
                for (size_t d = 0; d < dim; d++) {
                    r[d] *= inv;
                }
            }
        }
    }
    return 0;
}

/* ---- threading -----------------------------------------------------------
 * One threading model: OpenMP threads, each issuing its own single-threaded
 * GEMMs. Alternating BLAS-threaded GEMMs with OpenMP loops makes two pools of
 * spinning threads fight over the cores (measured: 2 threads ran 3x slower
 * than 1 on the 2-core build machine), and OpenBLAS's pthread build serialises
 * concurrent multi-threaded calls. So a search with several OpenMP threads
 * sets BLAS to one thread and restores omp_get_max_threads() threads after. */

int knn__blas_single(void)
{
    int n = omp_get_max_threads();
    if (n > 1) {
        op_blas_set_threads(1);
    }
    return n;
}

void knn__blas_restore(int n)
{
    if (n > 1) {
        op_blas_set_threads(n);
    }
}

/* ---- exact search ----------------------------------------------------------
 * Per query batch: base blocks are spread over the threads; each thread runs
 * GEMM (batch x block) and offers the rows to its own per-query heaps; then
 * the per-thread heaps of each query are merged and finished. */

static int search_exact(const knn_index *ix, const float *queries, size_t nq, int k,
                        int farthest, int64_t *ids, float *dist, lm_err *err)
{
    size_t dim = (size_t)ix->dim, K = (size_t)k;
    size_t qb = nq < QBATCH ? nq : QBATCH;
    size_t xb = ix->n < XBLOCK ? ix->n : XBLOCK;
    size_t nblk = (ix->n + xb - 1) / xb;
    int mode = search_mode(ix->metric, farthest);
    int nthr = omp_get_max_threads();
    float *qbuf = malloc(qb * dim * 4);
    float *hs = malloc((size_t)nthr * qb * K * 4);
    int64_t *hi = malloc((size_t)nthr * qb * K * 8);
    float *ms = malloc((size_t)nthr * K * 4);
    int64_t *mi = malloc((size_t)nthr * K * 8);
    knn_result *tmp = malloc((size_t)nthr * K * sizeof *tmp);
    int rc = 0;
    if (!qbuf || !hs || !hi || !ms || !mi || !tmp) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory for a query batch", ix->path);
        goto done;
    }
    int saved = knn__blas_single();
    for (size_t q0 = 0; q0 < nq && rc == 0; q0 += qb) {
        size_t nb = nq - q0 < qb ? nq - q0 : qb;
        rc = prepare_queries(ix, queries + q0 * dim, nb, q0, qbuf, err);
        if (rc != 0) {
            break;
        }
        int fail = 0;
#pragma omp parallel
        {
            int th = omp_get_thread_num(), nt = omp_get_num_threads();
            float *mhs = hs + (size_t)th * qb * K;
            int64_t *mhi = hi + (size_t)th * qb * K;
            for (size_t i = 0; i < nb; i++) {
                heap_init(mhs + i * K, mhi + i * K, k);
            }
            float *g = malloc(nb * xb * 4);
            if (g == NULL) {
#pragma omp atomic write
                fail = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (size_t b = 0; b < nblk; b++) {
                if (g == NULL) {
                    continue;
                }
                size_t x0 = b * xb, mb = ix->n - x0 < xb ? ix->n - x0 : xb;
                op_sgemm(0, 1, (int)nb, (int)mb, (int)dim, 1.0f, qbuf, (int)dim,
                         ix->vecs + x0 * dim, (int)dim, 0.0f, g, (int)mb);
                for (size_t i = 0; i < nb; i++) {
                    heap_offer_row(mhs + i * K, mhi + i * K, k, g + i * mb, ix->norms + x0,
                                   (int64_t)mb, (int64_t)x0, mode);
                }
            }
            free(g);
#pragma omp for schedule(static)
            for (size_t i = 0; i < nb; i++) {
                float *s = ms + (size_t)th * K;
                int64_t *id = mi + (size_t)th * K;
                memcpy(s, hs + i * K, K * 4);
                memcpy(id, hi + i * K, K * 8);
                for (int t = 1; t < nt; t++) {
                    heap_merge(s, id, k, hs + ((size_t)t * qb + i) * K,
                               hi + ((size_t)t * qb + i) * K);
                }
                size_t o = (q0 + i) * K;
                heap_finish(ix, qbuf + i * dim, s, id, k, farthest, tmp + (size_t)th * K,
                            ids ? ids + o : NULL, dist ? dist + o : NULL);
            }
        }
        if (fail) {
            rc = lm_err_set(err, -ENOMEM, "%s: out of memory for search scratch", ix->path);
        }
    }
    knn__blas_restore(saved);
done:
    free(qbuf);
    free(hs);
    free(hi);
    free(ms);
    free(mi);
    free(tmp);
    return rc;
}

/* ---- IVF search -----------------------------------------------------------
 * Per batch: coarse GEMM against the centroids and the nprobe best lists per
 * query (query sub-blocks over threads); then the probe table is inverted
 * (list -> queries probing it) and each list is scanned once for all its
 * queries with one GEMM per block of the list, lists spread over the threads.
 * Every (query, probe) pair owns a k-slot heap, so threads never share a heap;
 * a final pass merges the nprobe heaps of each query. */

typedef struct ivf_pair {
    int32_t q;    /* query within the batch */
    int32_t slot; /* probe number of that query */
} ivf_pair;

enum { IVF_COARSE_BLOCK = 256 };

static int search_ivf(const knn_index *ix, const float *queries, size_t nq, int k, int farthest,
                      int nprobe, int64_t *ids, float *dist, lm_err *err)
{
    size_t dim = (size_t)ix->dim, K = (size_t)k;
    int nlist = ix->nlist;
    if (nprobe <= 0) {
        nprobe = ix->nprobe > 0 ? ix->nprobe : KNN_DEFAULT_NPROBE;
    }
    if (nprobe > nlist) {
        nprobe = nlist;
    }
    if (nprobe == nlist) {
        return search_exact(ix, queries, nq, k, farthest, ids, dist, err);
    }
    size_t P = (size_t)nprobe;
    int mode = search_mode(ix->metric, farthest);
    size_t qb = nq < IVF_QBATCH ? nq : IVF_QBATCH;
    size_t slots = qb * P * K;
    float *qbuf = malloc(qb * dim * 4);
    int32_t *probe = malloc(qb * P * 4);
    size_t *lstart = malloc(((size_t)nlist + 1) * sizeof *lstart);
    size_t *lfill = malloc((size_t)nlist * sizeof *lfill);
    ivf_pair *pairs = malloc(qb * P * sizeof *pairs);
    float *hs = malloc(slots * 4);
    int64_t *hi = malloc(slots * 8);
    int rc = 0;
    if (!qbuf || !probe || !lstart || !lfill || !pairs || !hs || !hi) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory for a query batch", ix->path);
        goto done;
    }
    int saved = knn__blas_single();
    for (size_t q0 = 0; q0 < nq && rc == 0; q0 += qb) {
        size_t nb = nq - q0 < qb ? nq - q0 : qb;
        rc = prepare_queries(ix, queries + q0 * dim, nb, q0, qbuf, err);
        if (rc != 0) {
            break;
        }
        int fail = 0;
        size_t ncb = (nb + IVF_COARSE_BLOCK - 1) / IVF_COARSE_BLOCK;
#pragma omp parallel
        {
            /* Scratch: coarse scores, probe heap, list queries, list GEMM. */
            size_t cb = nb < IVF_COARSE_BLOCK ? nb : IVF_COARSE_BLOCK;
            float *gc = malloc(cb * (size_t)nlist * 4);
            float *ps = malloc(P * 4);
            int64_t *pi = malloc(P * 8);
            float *qg = malloc(nb * dim * 4);
            float *g = malloc(nb * IVF_XBLOCK * 4);
            float *ms = malloc(K * 4);
            int64_t *mi = malloc(K * 8);
            knn_result *tmp = malloc(K * sizeof *tmp);
            int ok = gc && ps && pi && qg && g && ms && mi && tmp;
            if (!ok) {
#pragma omp atomic write
                fail = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (size_t b = 0; b < ncb; b++) {
                if (!ok) {
                    continue;
                }
                size_t i0 = b * IVF_COARSE_BLOCK;
                size_t n0 = nb - i0 < IVF_COARSE_BLOCK ? nb - i0 : IVF_COARSE_BLOCK;
                op_sgemm(0, 1, (int)n0, nlist, (int)dim, 1.0f, qbuf + i0 * dim, (int)dim,
                         ix->cent, (int)dim, 0.0f, gc, nlist);
                for (size_t i = 0; i < n0; i++) {
                    heap_init(ps, pi, nprobe);
                    heap_offer_row(ps, pi, nprobe, gc + i * (size_t)nlist, ix->cnorms, nlist, 0,
                                   mode);
                    for (size_t p = 0; p < P; p++) {
                        probe[(i0 + i) * P + p] = (int32_t)pi[p];
                    }
                }
            }
#pragma omp single
            {
                /* Invert: for every list, the (query, slot) pairs probing it. */
                memset(lstart, 0, ((size_t)nlist + 1) * sizeof *lstart);
                for (size_t t = 0; t < nb * P; t++) {
                    lstart[probe[t] + 1]++;
                }
                for (int l = 0; l < nlist; l++) {
                    lstart[l + 1] += lstart[l];
                }
                memcpy(lfill, lstart, (size_t)nlist * sizeof *lfill);
                for (size_t i = 0; i < nb; i++) {
                    for (size_t p = 0; p < P; p++) {
                        int32_t l = probe[i * P + p];
                        pairs[lfill[l]++] = (ivf_pair){(int32_t)i, (int32_t)p};
                    }
                }
            }
#pragma omp for schedule(static)
            for (size_t t = 0; t < nb * P; t++) {
                heap_init(hs + t * K, hi + t * K, k);
            }
#pragma omp for schedule(dynamic, 1)
            for (int l = 0; l < nlist; l++) {
                size_t p0 = lstart[l], np = lstart[l + 1] - p0;
                size_t r0 = ix->lists[l], r1 = ix->lists[l + 1];
                if (!ok || np == 0 || r1 == r0) {
                    continue;
                }
                for (size_t j = 0; j < np; j++) {
                    memcpy(qg + j * dim, qbuf + (size_t)pairs[p0 + j].q * dim, dim * 4);
                }
                for (size_t x0 = r0; x0 < r1; x0 += IVF_XBLOCK) {
                    size_t mb = r1 - x0 < IVF_XBLOCK ? r1 - x0 : IVF_XBLOCK;
                    op_sgemm(0, 1, (int)np, (int)mb, (int)dim, 1.0f, qg, (int)dim,
                             ix->vecs + x0 * dim, (int)dim, 0.0f, g, (int)mb);
                    for (size_t j = 0; j < np; j++) {
                        ivf_pair pr = pairs[p0 + j];
                        size_t t = ((size_t)pr.q * P + (size_t)pr.slot) * K;
                        heap_offer_row(hs + t, hi + t, k, g + j * mb, ix->norms + x0,
                                       (int64_t)mb, (int64_t)x0, mode);
                    }
                }
            }
            /* Merge the nprobe heaps of each query, then finish. */
#pragma omp for schedule(static)
            for (size_t i = 0; i < nb; i++) {
                if (!ok) {
                    continue;
                }
                heap_init(ms, mi, k);
                for (size_t p = 0; p < P; p++) {
                    heap_merge(ms, mi, k, hs + (i * P + p) * K, hi + (i * P + p) * K);
                }
                size_t o = (q0 + i) * K;
                heap_finish(ix, qbuf + i * dim, ms, mi, k, farthest, tmp, ids ? ids + o : NULL,
                            dist ? dist + o : NULL);
            }
            free(gc);
            free(ps);
            free(pi);
            free(qg);
            free(g);
            free(ms);
            free(mi);
            free(tmp);
        }
        if (fail) {
            rc = lm_err_set(err, -ENOMEM, "%s: out of memory for IVF scan scratch", ix->path);
        }
    }
    knn__blas_restore(saved);
done:
    free(qbuf);
    free(probe);
    free(lstart);
    free(lfill);
    free(pairs);
    free(hs);
    free(hi);
    return rc;
}

int knn_index_search(const knn_index *ix, const float *queries, size_t nq,
                     const knn_search_params *p, int64_t *ids, float *dist, lm_err *err)
{
    if (p == NULL || p->k < 1) {
        return lm_err_set(err, LM_ESHAPE, "%s: k must be >= 1", ix->path);
    }
    if (p->k > 1000000) {
        return lm_err_set(err, LM_ETOOBIG, "%s: k = %d is too large", ix->path, p->k);
    }
    if (nq == 0) {
        return 0;
    }
    if (ix->n == 0) {
        for (size_t t = 0; t < nq * (size_t)p->k; t++) {
            if (ids) {
                ids[t] = -1;
            }
            if (dist) {
                dist[t] = NAN;
            }
        }
        return 0;
    }
    if (ix->kind == KNN_KIND_IVF) {
        return search_ivf(ix, queries, nq, p->k, p->farthest, p->nprobe, ids, dist, err);
    }
    return search_exact(ix, queries, nq, p->k, p->farthest, ids, dist, err);
}
