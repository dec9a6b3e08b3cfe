/*
 * bench_index.c - driver of tests/bench/bench_index.sh: latentmill's exact and
 * IVF index on synthetic identity data, timed the same way as the faiss script
 * next to it (bench_index_faiss.py) so the shell can print ratios.
 *
 *   bench_index gen DIR N NQ        DIR/base.npy (N x 128 f32: N/20 identities x
 *                                   20 noisy photos), DIR/query.npy (NQ fresh
 *                                   photos), DIR/gt.npy (int64 NQ x 10 exact L2
 *                                   neighbours, our exact search, all threads)
 *   bench_index run DIR T NLIST NPROBE NQ_EXACT [NPROBE2]
 *                                   with T threads (OpenMP and BLAS): build and
 *                                   search exact L2 and IP (first NQ_EXACT
 *                                   queries) and IVF-L2 (all queries); prints
 *                                   "ours <kind> T=<t> build_s=... qps=... r1=... r10=...";
 *                                   with NPROBE2 also IVF at that nprobe ("ivf_l2@NPROBE2")
 */
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/op_gemm.h"
#include "reduce/index.h"
#include "shared/lm_npy.h"
#include "tests/knn_synth.h"

enum { DIM = 128, PER_ID = 20, K = 10 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int die(const char *what, const lm_err *e, int rc)
{
    fprintf(stderr, "bench_index: %s: %s\n", what, lm_err_msg(e, rc));
    return 1;
}

static void recall(const int64_t *got, const int64_t *gt, size_t nq, double *r1, double *r10)
{
    size_t h1 = 0, h10 = 0;
    for (size_t i = 0; i < nq; i++) {
        h1 += got[i * K] == gt[i * K];
        for (int a = 0; a < K; a++) {
            for (int b = 0; b < K; b++) {
                if (got[i * K + a] == gt[i * K + b]) {
                    h10++;
                    break;
                }
            }
        }
    }
    *r1 = (double)h1 / (double)nq;
    *r10 = (double)h10 / (double)(nq * K);
}

static int gen(const char *dir, size_t n, size_t nq)
{
    size_t n_id = n / PER_ID;
    float *cent = malloc(n_id * DIM * 4), *x = malloc(n * DIM * 4), *q = malloc(nq * DIM * 4);
    int64_t *gt = malloc(nq * K * 8);
    if (!cent || !x || !q || !gt) {
        fprintf(stderr, "bench_index: out of memory\n");
        return 1;
    }
    double sigma = knn_synth_sigma(0.45, DIM);
    knn_synth_centres(cent, n_id, DIM, 0.7, 41);
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < 64; b++) {
        /* 64 independently seeded slices keep generation parallel. */
        size_t lo = n * (size_t)b / 64, hi = n * (size_t)(b + 1) / 64;
        knn_rng r = {1000 + (uint64_t)b};
        for (size_t i = lo; i < hi; i++) {
            size_t id = i % n_id;
            for (int d = 0; d < DIM; d++) {
                x[i * DIM + d] = (float)(cent[id * DIM + d] + sigma * knn_rng_gauss(&r));
            }
        }
    }
    knn_rng r = {77};
    for (size_t i = 0; i < nq; i++) {
        size_t id = knn_rng_u64(&r) % n_id;
        for (int d = 0; d < DIM; d++) {
            q[i * DIM + d] = (float)(cent[id * DIM + d] + sigma * knn_rng_gauss(&r));
        }
    }
    lm_err e = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/base.npy", dir);
    int rc = lm_npy_save(path, "<f4", 4, (const uint64_t[]){n, DIM}, 2, x, &e);
    if (rc != 0) {
        return die("write base", &e, rc);
    }
    snprintf(path, sizeof path, "%s/query.npy", dir);
    rc = lm_npy_save(path, "<f4", 4, (const uint64_t[]){nq, DIM}, 2, q, &e);
    if (rc != 0) {
        return die("write queries", &e, rc);
    }
    knn_index *ix = NULL;
    rc = knn_index_create(&ix, x, n, DIM, KNN_METRIC_L2, KNN_KIND_EXACT, NULL, NULL, NULL, 0,
                          NULL, 0, &e);
    knn_search_params p = {.k = K};
    if (rc == 0) {
        rc = knn_index_search(ix, q, nq, &p, gt, NULL, &e);
    }
    if (rc != 0) {
        return die("ground truth", &e, rc);
    }
    snprintf(path, sizeof path, "%s/gt.npy", dir);
    rc = lm_npy_save(path, "<i8", 8, (const uint64_t[]){nq, K}, 2, gt, &e);
    if (rc != 0) {
        return die("write gt", &e, rc);
    }
    knn_index_close(ix);
    free(cent);
    free(x);
    free(q);
    free(gt);
    return 0;
}

static int run(const char *dir, int threads, int nlist, int nprobe, size_t nq_exact,
               int nprobe2)
{
    omp_set_num_threads(threads);
    op_blas_set_threads(threads);
    lm_err e = {0};
    char path[4200];
    float *x = NULL, *q = NULL, *gtf = NULL;
    size_t n = 0, nq = 0;
    int dim = 0;
    snprintf(path, sizeof path, "%s/base.npy", dir);
    int rc = knn_npy_read_f32(path, &x, &n, &dim, &e);
    if (rc != 0) {
        return die("read base", &e, rc);
    }
    snprintf(path, sizeof path, "%s/query.npy", dir);
    rc = knn_npy_read_f32(path, &q, &nq, &dim, &e);
    if (rc != 0) {
        return die("read queries", &e, rc);
    }
    /* gt.npy is int64; read its raw bytes after the header. */
    snprintf(path, sizeof path, "%s/gt.npy", dir);
    FILE *f = fopen(path, "rb");
    int64_t *gt = malloc(nq * K * 8);
    if (f == NULL || gt == NULL || fseek(f, -(long)(nq * K * 8), SEEK_END) != 0 ||
        fread(gt, 8, nq * K, f) != nq * K) {
        fprintf(stderr, "bench_index: cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    if (nq_exact > nq) {
        nq_exact = nq;
    }
    int64_t *ids = malloc(nq * K * 8);
    knn_search_params p = {.k = K, .nprobe = nprobe};
    double r1, r10;
    for (int m = 0; m < 2; m++) {
        enum knn_metric metric = m == 0 ? KNN_METRIC_L2 : KNN_METRIC_IP;
        knn_index *ix = NULL;
        double t0 = now_s();
        rc = knn_index_create(&ix, x, n, DIM, metric, KNN_KIND_EXACT, NULL, NULL, NULL, 0, NULL,
                              0, &e);
        double t1 = now_s();
        if (rc == 0) {
            rc = knn_index_search(ix, q, nq_exact, &p, ids, NULL, &e);
        }
        double t2 = now_s();
        if (rc != 0) {
            return die("exact", &e, rc);
        }
        if (metric == KNN_METRIC_L2) {
            recall(ids, gt, nq_exact, &r1, &r10);
        } else {
            r1 = r10 = NAN; /* IP neighbours differ from the L2 ground truth */
        }
        printf("ours %s T=%d build_s=%.3f qps=%.1f r1=%.4f r10=%.4f\n",
               m == 0 ? "flat_l2" : "flat_ip", threads, t1 - t0,
               (double)nq_exact / (t2 - t1), r1, r10);
        fflush(stdout);
        knn_index_close(ix);
    }
    float *cent = malloc((size_t)nlist * DIM * 4);
    double t0 = now_s();
    rc = ivf_kmeans_train(x, n, DIM, nlist, KNN_DEFAULT_NITER, KNN_DEFAULT_MAX_PER_LIST, 1234,
                          MPI_COMM_WORLD, cent, &e);
    knn_index *ivf = NULL;
    if (rc == 0) {
        rc = knn_index_create(&ivf, x, n, DIM, KNN_METRIC_L2, KNN_KIND_IVF, NULL, NULL, cent,
                              nlist, NULL, 0, &e);
    }
    double t1 = now_s();
    if (rc == 0) {
        rc = knn_index_search(ivf, q, nq, &p, ids, NULL, &e);
    }
    double t2 = now_s();
    if (rc != 0) {
        return die("ivf", &e, rc);
    }
    recall(ids, gt, nq, &r1, &r10);
    printf("ours ivf_l2 T=%d build_s=%.3f qps=%.1f r1=%.4f r10=%.4f nlist=%d nprobe=%d\n",
           threads, t1 - t0, (double)nq / (t2 - t1), r1, r10, nlist, nprobe);
    if (nprobe2 > 0) {
        p.nprobe = nprobe2;
        double t3 = now_s();
        rc = knn_index_search(ivf, q, nq, &p, ids, NULL, &e);
        double t4 = now_s();
        if (rc != 0) {
            return die("ivf", &e, rc);
        }
        recall(ids, gt, nq, &r1, &r10);
        printf("ours ivf_l2@%d T=%d build_s=%.3f qps=%.1f r1=%.4f r10=%.4f nlist=%d "
               "nprobe=%d\n",
               nprobe2, threads, t1 - t0, (double)nq / (t4 - t3), r1, r10, nlist, nprobe2);
    }
    knn_index_close(ivf);
    free(cent);
    free(x);
    free(q);
    free(gtf);
    free(gt);
    free(ids);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rc = 2;
    if (argc == 5 && strcmp(argv[1], "gen") == 0) {
        rc = gen(argv[2], (size_t)atol(argv[3]), (size_t)atol(argv[4]));
    } else if ((argc == 7 || argc == 8) && strcmp(argv[1], "run") == 0) {
        rc = run(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), (size_t)atol(argv[6]),
                 argc == 8 ? atoi(argv[7]) : 0);
    } else {
        fprintf(stderr, "usage: bench_index gen DIR N NQ | run DIR THREADS NLIST NPROBE "
                        "NQ_EXACT [NPROBE2]\n");
    }
    MPI_Finalize();
    return rc;
}
