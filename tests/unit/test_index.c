/*
 * test_index.c - reduce/index: exact search against a double-precision brute
 * force, IVF recall on synthetic identity data, identity retrieval through the
 * collective build (one rank), save/load, bad files, the join, names files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reduce/index.h"
#include "shared/lm_job.h"
#include "shared/lm_npy.h"
#include "tests/knn_synth.h"

static char tmpdir[256];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill_uniform(float *x, size_t n, uint64_t seed)
{
    knn_rng r = {seed};
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(knn_rng_unif(&r) * 2.0 - 1.0);
    }
}

typedef struct dpair {
    double v;
    int64_t id;
} dpair;

static int cmp_dpair_asc(const void *a, const void *b)
{
    const dpair *x = a, *y = b;
    if (x->v != y->v) {
        return x->v < y->v ? -1 : 1;
    }
    return (x->id > y->id) - (x->id < y->id);
}

/* Brute force in double: score per entry, sorted best first. For L2 the value
 * is the Euclidean distance, for IP the inner product (negated to sort). */
static void brute(const float *x, size_t n, int dim, const float *q, int metric, int farthest,
                  dpair *out)
{
    for (size_t j = 0; j < n; j++) {
        double s = 0;
        for (int d = 0; d < dim; d++) {
            if (metric == KNN_METRIC_L2) {
                double t = (double)q[d] - x[j * (size_t)dim + (size_t)d];
                s += t * t;
            } else {
                s += (double)q[d] * x[j * (size_t)dim + (size_t)d];
            }
        }
        double v = metric == KNN_METRIC_L2 ? sqrt(s) : s;
        /* key to sort ascending = best first */
        double key = metric == KNN_METRIC_L2 ? v : -v;
        out[j].v = farthest ? -key : key;
        out[j].id = (int64_t)j;
    }
    qsort(out, n, sizeof *out, cmp_dpair_asc);
}

/* Check one query's results against the brute force: the r-th returned
 * distance equals the r-th true distance (tolerance tol), and the returned id
 * really has that distance. Returns mismatches (printing the first ones). */
static int check_query(const float *x, int dim, const float *q, int metric, int farthest,
                       const dpair *truth, const int64_t *ids, const float *dist, int k,
                       double tol, size_t qi, int *printed, double *maxerr)
{
    int bad = 0;
    for (int r = 0; r < k; r++) {
        double tv = farthest ? -truth[r].v : truth[r].v;
        double want = metric == KNN_METRIC_L2 ? tv : -tv;
        double s = 0;
        int64_t id = ids[r];
        if (id < 0) {
            bad++;
            continue;
        }
        for (int d = 0; d < dim; d++) {
            if (metric == KNN_METRIC_L2) {
                double t = (double)q[d] - x[(size_t)id * (size_t)dim + (size_t)d];
                s += t * t;
            } else {
                s += (double)q[d] * x[(size_t)id * (size_t)dim + (size_t)d];
            }
        }
        double got_true = metric == KNN_METRIC_L2 ? sqrt(s) : s;
        double e1 = fabs((double)dist[r] - want), e2 = fabs(got_true - want);
        double e = e1 > e2 ? e1 : e2;
        if (e > *maxerr) {
            *maxerr = e;
        }
        if (e > tol) {
            if ((*printed)++ < 5) {
                fprintf(stderr,
                        "  query %zu rank %d: expected id %lld dist %.9g, got id %lld dist %.9g "
                        "(true %.9g)\n",
                        qi, r, (long long)truth[r].id, want, (long long)id, (double)dist[r],
                        got_true);
            }
            bad++;
        }
    }
    return bad;
}

static void run_exact_vs_brute(int metric)
{
    const size_t n = 5000, nq = 1100;
    const int dim = 37, k = 10;
    float *x = malloc(n * dim * 4), *q = malloc(nq * dim * 4);
    fill_uniform(x, n * dim, 1);
    fill_uniform(q, nq * dim, 2);
    knn_index *ix = NULL;
    lm_err e = {0};
    int rc = knn_index_create(&ix, x, n, dim, metric, KNN_KIND_EXACT, NULL, NULL, NULL, 0, NULL,
                              0, &e);
    assert_int_equal(rc, 0);
    int64_t *ids = malloc(nq * k * 8);
    float *dist = malloc(nq * k * 4);
    dpair *truth = malloc(n * sizeof *truth);
    for (int farthest = 0; farthest <= 1; farthest++) {
        knn_search_params p = {.k = k, .farthest = farthest};
        rc = knn_index_search(ix, q, nq, &p, ids, dist, &e);
        assert_int_equal(rc, 0);
        int bad = 0, printed = 0;
        double maxerr = 0;
        for (size_t i = 0; i < nq; i++) {
            brute(x, n, dim, q + i * dim, metric, farthest, truth);
            bad += check_query(x, dim, q + i * dim, metric, farthest, truth, ids + i * k,
                               dist + i * k, k, 1e-5, i, &printed, &maxerr);
        }
        fprintf(stderr, "exact %s %s: %zu queries x k=%d, max |error| %.3g, %d mismatches\n",
                metric == KNN_METRIC_L2 ? "L2" : "IP", farthest ? "farthest" : "nearest", nq, k,
                maxerr, bad);
        assert_int_equal(bad, 0);
    }
    free(x);
    free(q);
    free(ids);
    free(dist);
    free(truth);
    knn_index_close(ix);
}

static void test_exact_l2_equals_bruteforce(void **state)
{
    (void)state;
    run_exact_vs_brute(KNN_METRIC_L2);
}

static void test_exact_ip_equals_bruteforce(void **state)
{
    (void)state;
    run_exact_vs_brute(KNN_METRIC_IP);
}

/* k larger than the index: padding with -1 / NaN. */
static void test_k_larger_than_count(void **state)
{
    (void)state;
    float x[3 * 2] = {0, 0, 1, 0, 0, 2};
    float q[2] = {0.9f, 0};
    knn_index *ix = NULL;
    assert_int_equal(knn_index_create(&ix, x, 3, 2, KNN_METRIC_L2, KNN_KIND_EXACT, NULL, NULL,
                                      NULL, 0, NULL, 0, NULL),
                     0);
    int64_t ids[5];
    float dist[5];
    knn_search_params p = {.k = 5};
    assert_int_equal(knn_index_search(ix, q, 1, &p, ids, dist, NULL), 0);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 0);
    assert_int_equal(ids[2], 2);
    assert_int_equal(ids[3], -1);
    assert_true(isnan(dist[4]));
    assert_true(fabs(dist[0] - 0.1) < 1e-6);
    knn_index_close(ix);
}

/* IVF on synthetic identities (issue 7: 10k identities x 20 noisy samples):
 * recall@10 against exact search at the default nprobe. */
static void test_ivf_recall_identities(void **state)
{
    (void)state;
    const size_t n_id = 10000, per = 20, n = n_id * per, nq = 1000;
    const int dim = 128, k = 10;
    double sigma = knn_synth_sigma(0.45, dim);
    float *cent = malloc(n_id * dim * 4), *x = malloc(n * dim * 4), *q = malloc(nq * dim * 4);
    knn_synth_centres(cent, n_id, dim, 0.7, 11);
    knn_synth_samples(x, NULL, n, cent, n_id, dim, sigma, 12);
    knn_synth_samples(q, NULL, nq, cent, n_id, dim, sigma, 13); /* held-out photos */
    double t0 = now_s();
    int nlist = (int)lround(4.0 * sqrt((double)n));
    float *c = malloc((size_t)nlist * dim * 4);
    lm_err e = {0};
    /* Fewer training rows than the build default (16 per list, not 256) keeps
     * this test at a few seconds; the query-time default is what is tested. */
    int rc = ivf_kmeans_train(x, n, dim, nlist, KNN_DEFAULT_NITER, 16, 7, MPI_COMM_WORLD, c, &e);
    assert_int_equal(rc, 0);
    knn_index *ivf = NULL, *flat = NULL;
    rc = knn_index_create(&ivf, x, n, dim, KNN_METRIC_L2, KNN_KIND_IVF, NULL, NULL, c, nlist,
                          NULL, 0, &e);
    assert_int_equal(rc, 0);
    double t1 = now_s();
    rc = knn_index_create(&flat, x, n, dim, KNN_METRIC_L2, KNN_KIND_EXACT, NULL, NULL, NULL, 0,
                          NULL, 0, &e);
    assert_int_equal(rc, 0);
    int64_t *gt = malloc(nq * k * 8), *got = malloc(nq * k * 8);
    knn_search_params p = {.k = k};
    assert_int_equal(knn_index_search(flat, q, nq, &p, gt, NULL, &e), 0);
    double t2 = now_s();
    assert_int_equal(knn_index_search(ivf, q, nq, &p, got, NULL, &e), 0);
    double t3 = now_s();
    size_t hit = 0, hit1 = 0;
    for (size_t i = 0; i < nq; i++) {
        for (int a = 0; a < k; a++) {
            for (int b = 0; b < k; b++) {
                if (got[i * k + a] == gt[i * k + b]) {
                    hit++;
                    break;
                }
            }
        }
        hit1 += got[i * k] == gt[i * k];
    }
    double recall = (double)hit / (double)(nq * k), r1 = (double)hit1 / (double)nq;
    fprintf(stderr,
            "ivf: N=%zu nlist=%d nprobe=%d: recall@10 %.4f recall@1 %.4f (train+build %.2f s, "
            "exact %.3f s, ivf %.3f s for %zu queries)\n",
            n, nlist, KNN_DEFAULT_NPROBE, recall, r1, t1 - t0, t2 - t1, t3 - t2, nq);
    assert_true(recall >= 0.95);
    free(cent);
    free(x);
    free(q);
    free(c);
    free(gt);
    free(got);
    knn_index_close(ivf);
    knn_index_close(flat);
}

/* IVF results are real distances, sorted, and nprobe = nlist equals exact. */
static void test_ivf_results_consistent(void **state)
{
    (void)state;
    const size_t n = 4000, nq = 300;
    const int dim = 16, k = 7, nlist = 40;
    float *x = malloc(n * dim * 4), *q = malloc(nq * dim * 4), *c = malloc(nlist * dim * 4);
    fill_uniform(x, n * dim, 5);
    fill_uniform(q, nq * dim, 6);
    lm_err e = {0};
    assert_int_equal(ivf_kmeans_train(x, n, dim, nlist, 5, 256, 3, MPI_COMM_WORLD, c, &e), 0);
    for (int metric = KNN_METRIC_L2; metric <= KNN_METRIC_IP; metric++) {
        knn_index *ivf = NULL, *flat = NULL;
        assert_int_equal(knn_index_create(&ivf, x, n, dim, metric, KNN_KIND_IVF, NULL, NULL, c,
                                          nlist, NULL, 0, &e),
                         0);
        assert_int_equal(knn_index_create(&flat, x, n, dim, metric, KNN_KIND_EXACT, NULL, NULL,
                                          NULL, 0, NULL, 0, &e),
                         0);
        int64_t *a = malloc(nq * k * 8), *b = malloc(nq * k * 8);
        float *da = malloc(nq * k * 4), *db = malloc(nq * k * 4);
        knn_search_params p = {.k = k, .nprobe = 3};
        assert_int_equal(knn_index_search(ivf, q, nq, &p, a, da, &e), 0);
        int bad = 0;
        for (size_t i = 0; i < nq; i++) {
            for (int r = 0; r < k; r++) {
                const float *xv = x + a[i * k + r] * dim;
                double s = 0;
                for (int d = 0; d < dim; d++) {
                    double t = metric == KNN_METRIC_L2 ? (double)q[i * dim + d] - xv[d]
                                                       : (double)q[i * dim + d] * xv[d];
                    s += metric == KNN_METRIC_L2 ? t * t : t;
                }
                double v = metric == KNN_METRIC_L2 ? sqrt(s) : s;
                if (fabs(v - da[i * k + r]) > 1e-5) {
                    bad++;
                }
                if (r > 0 && (metric == KNN_METRIC_L2 ? da[i * k + r] < da[i * k + r - 1]
                                                      : da[i * k + r] > da[i * k + r - 1])) {
                    bad++;
                }
            }
        }
        assert_int_equal(bad, 0);
        p.nprobe = nlist;
        assert_int_equal(knn_index_search(ivf, q, nq, &p, a, da, &e), 0);
        p.nprobe = 0;
        assert_int_equal(knn_index_search(flat, q, nq, &p, b, db, &e), 0);
        for (size_t t = 0; t < nq * k; t++) {
            if (a[t] != b[t]) {
                fprintf(stderr, "  nprobe=nlist vs exact at %zu: %lld vs %lld\n", t,
                        (long long)a[t], (long long)b[t]);
                bad++;
                break;
            }
        }
        assert_int_equal(bad, 0);
        free(a);
        free(b);
        free(da);
        free(db);
        knn_index_close(ivf);
        knn_index_close(flat);
    }
    /* Same seed, same centroids. */
    float *c2 = malloc(nlist * dim * 4);
    assert_int_equal(ivf_kmeans_train(x, n, dim, nlist, 5, 256, 3, MPI_COMM_WORLD, c2, &e), 0);
    assert_memory_equal(c, c2, nlist * dim * 4);
    free(c2);
    free(x);
    free(q);
    free(c);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The collective build on one rank: images.lmi + identities.lmi + names;
 * held-out photos find their identity, the join excludes self. */
static void test_identity_retrieval_and_files(void **state)
{
    (void)state;
    const size_t n_id = 2000, per = 10, n = n_id * per, nq = 2000;
    const int dim = 128;
    double sigma = knn_synth_sigma(0.45, dim);
    float *cent = malloc(n_id * dim * 4), *x = malloc(n * dim * 4), *q = malloc(nq * dim * 4);
    int32_t *ident = malloc(n * 4), *qid = malloc(nq * 4);
    knn_synth_centres(cent, n_id, dim, 0.7, 21);
    knn_synth_samples(x, ident, n, cent, n_id, dim, sigma, 22);
    knn_synth_samples(q, qid, nq, cent, n_id, dim, sigma, 23);
    char **keys = malloc(n * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        keys[i] = malloc(32);
        snprintf(keys[i], 32, "synth/%06zu.jpg", i);
    }
    char names[512], outdir[512], path[600];
    snprintf(names, sizeof names, "%s/names.txt", tmpdir);
    write_file(names, "# id\tname\n0\tAda Lovelace\n1\tAlan Turing\n\n1999\tGrace Hopper\n");
    snprintf(outdir, sizeof outdir, "%s/out", tmpdir);
    knn_config cfg;
    knn_config_init(&cfg);
    cfg.kind = KNN_KIND_IVF;
    cfg.niter = 5;
    snprintf(cfg.names, sizeof cfg.names, "%s", names);
    lm_err e = {0};
    int rc = knn_index_build(&cfg, x, (const char *const *)keys, ident, n, dim, MPI_COMM_WORLD,
                             outdir, &e);
    if (rc != 0) {
        fprintf(stderr, "build: %s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    knn_index *img = NULL, *ids = NULL;
    snprintf(path, sizeof path, "%s/index/images.lmi", outdir);
    assert_int_equal(knn_index_load(&img, path, 128, &e), 0);
    assert_int_equal(knn_index_kind(img), KNN_KIND_IVF);
    assert_int_equal(knn_index_count(img), n);
    assert_string_equal(knn_index_key(img, 12345), "synth/012345.jpg");
    assert_int_equal(knn_index_label(img, 12345), 12345 % n_id);
    snprintf(path, sizeof path, "%s/index/identities.lmi", outdir);
    assert_int_equal(knn_index_load(&ids, path, 128, &e), 0);
    assert_int_equal(knn_index_count(ids), n_id);
    assert_true(knn_index_flags(ids) & KNN_FLAG_NORMQ);
    /* Identity retrieval: top-1 identity of held-out photos. */
    int32_t *mid = malloc(nq * 3 * 4);
    float *md = malloc(nq * 3 * 4);
    assert_int_equal(knn_join_compute(ids, q, NULL, nq, 3, 0, 0, mid, md, &e), 0);
    size_t right = 0;
    for (size_t i = 0; i < nq; i++) {
        right += mid[i * 3] == qid[i];
    }
    fprintf(stderr, "identity retrieval: %zu / %zu held-out photos -> right identity\n", right,
            nq);
    assert_true(right >= nq * 99 / 100);
    /* Join with exclude_self: never the item's own identity. */
    assert_int_equal(knn_join_compute(ids, q, qid, nq, 3, 0, 1, mid, md, &e), 0);
    for (size_t i = 0; i < nq; i++) {
        for (int j = 0; j < 3; j++) {
            assert_true(mid[i * 3 + j] != qid[i]);
            assert_true(mid[i * 3 + j] >= 0);
        }
        assert_true(md[i * 3] <= md[i * 3 + 1]);
    }
    /* Names. */
    knn_names *nm = NULL;
    snprintf(path, sizeof path, "%s/index/names.tsv", outdir);
    assert_int_equal(knn_names_load(&nm, path, &e), 0);
    assert_string_equal(knn_names_get(nm, 1), "Alan Turing");
    assert_string_equal(knn_names_get(nm, 1999), "Grace Hopper");
    assert_null(knn_names_get(nm, 2));
    knn_names_free(nm);
    /* The image index finds the same photo when queried with it. */
    int64_t id1;
    knn_search_params p = {.k = 1};
    assert_int_equal(knn_index_search(img, x + 777 * dim, 1, &p, &id1, NULL, &e), 0);
    assert_int_equal(id1, 777);
    knn_index_close(img);
    knn_index_close(ids);
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
    }
    free(keys);
    free(cent);
    free(x);
    free(q);
    free(ident);
    free(qid);
    free(mid);
    free(md);
}

/* Save, load (mmap), same answers; then broken files. */
static void test_save_load_and_bad_files(void **state)
{
    (void)state;
    const size_t n = 500;
    const int dim = 64;
    float *x = malloc(n * dim * 4);
    fill_uniform(x, n * dim, 9);
    const char *keys[500];
    char kb[500][16];
    int32_t lab[500];
    for (size_t i = 0; i < n; i++) {
        snprintf(kb[i], sizeof kb[i], "k%zu", i);
        keys[i] = kb[i];
        lab[i] = (int32_t)(i / 5);
    }
    knn_index *ix = NULL, *ld = NULL;
    lm_err e = {0};
    assert_int_equal(knn_index_create(&ix, x, n, dim, KNN_METRIC_L2, KNN_KIND_EXACT, keys, lab,
                                      NULL, 0, NULL, 0, &e),
                     0);
    char path[600], bad[600];
    snprintf(path, sizeof path, "%s/x.lmi", tmpdir);
    assert_int_equal(knn_index_save(ix, path, &e), 0);
    assert_int_equal(knn_index_load(&ld, path, 0, &e), 0);
    int64_t a[50], b[50];
    float da[50], db[50];
    knn_search_params p = {.k = 10};
    assert_int_equal(knn_index_search(ix, x, 5, &p, a, da, &e), 0);
    assert_int_equal(knn_index_search(ld, x, 5, &p, b, db, &e), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(da, db, sizeof da);
    assert_string_equal(knn_index_key(ld, 321), "k321");
    assert_int_equal(knn_index_label(ld, 321), 64);
    float v[64];
    assert_int_equal(knn_index_vector(ld, 321, v, &e), 0);
    assert_memory_equal(v, x + 321 * dim, sizeof v);
    knn_index_close(ld);

    /* Other descriptor size. */
    int rc = knn_index_load(&ld, path, 128, &e);
    fprintf(stderr, "wrong dim: %s\n", e.msg);
    assert_int_equal(rc, LM_EFORMAT);
    assert_non_null(strstr(e.msg, "descriptor size 64, expected 128"));
    assert_non_null(strstr(e.msg, path));
    assert_null(ld);

    /* Read the file back for corruption. */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)sz);
    assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    snprintf(bad, sizeof bad, "%s/bad.lmi", tmpdir);

    /* Truncated in the middle of the vectors, and inside the header. */
    long cuts[] = {sz / 2, 60, 0};
    for (int c = 0; c < 3; c++) {
        f = fopen(bad, "wb");
        fwrite(buf, 1, (size_t)cuts[c], f);
        fclose(f);
        rc = knn_index_load(&ld, bad, 0, &e);
        fprintf(stderr, "truncated at %ld: %s\n", cuts[c], e.msg);
        assert_int_equal(rc, LM_EFORMAT);
        assert_non_null(strstr(e.msg, "truncated"));
        assert_non_null(strstr(e.msg, bad));
    }
    /* Bad magic. */
    unsigned char *cp = malloc((size_t)sz);
    memcpy(cp, buf, (size_t)sz);
    cp[0] = 'X';
    f = fopen(bad, "wb");
    fwrite(cp, 1, (size_t)sz, f);
    fclose(f);
    rc = knn_index_load(&ld, bad, 0, &e);
    fprintf(stderr, "bad magic: %s\n", e.msg);
    assert_int_equal(rc, LM_EFORMAT);
    assert_non_null(strstr(e.msg, "bad magic"));
    /* Future version. */
    memcpy(cp, buf, (size_t)sz);
    cp[8] = 9;
    f = fopen(bad, "wb");
    fwrite(cp, 1, (size_t)sz, f);
    fclose(f);
    rc = knn_index_load(&ld, bad, 0, &e);
    fprintf(stderr, "version: %s\n", e.msg);
    assert_int_equal(rc, LM_EFORMAT);
    assert_non_null(strstr(e.msg, "version 9"));
    /* A section offset pointing outside the file. */
    memcpy(cp, buf, (size_t)sz);
    uint64_t off = (uint64_t)sz + 64;
    memcpy(cp + 56, &off, 8);
    f = fopen(bad, "wb");
    fwrite(cp, 1, (size_t)sz, f);
    fclose(f);
    rc = knn_index_load(&ld, bad, 0, &e);
    fprintf(stderr, "section: %s\n", e.msg);
    assert_int_equal(rc, LM_EFORMAT);
    assert_non_null(strstr(e.msg, "norms"));
    /* A missing file. */
    snprintf(bad, sizeof bad, "%s/none.lmi", tmpdir);
    rc = knn_index_load(&ld, bad, 0, &e);
    assert_int_equal(rc, LM_EMISSING);
    assert_non_null(strstr(e.msg, bad));
    /* NaN in a vector at create time names the row. */
    x[7 * dim + 3] = NAN;
    knn_index *nx = NULL;
    rc = knn_index_create(&nx, x, n, dim, KNN_METRIC_L2, KNN_KIND_EXACT, keys, lab, NULL, 0, NULL,
                          0, &e);
    assert_int_equal(rc, LM_ENUMERIC);
    assert_non_null(strstr(e.msg, "k7"));
    /* NaN in a query. */
    rc = knn_index_search(ix, x + 7 * dim, 1, &p, a, da, &e);
    assert_int_equal(rc, LM_ENUMERIC);
    free(cp);
    free(buf);
    free(x);
    knn_index_close(ix);
}

static void test_names_and_npy_errors(void **state)
{
    (void)state;
    char path[600];
    knn_names *nm = NULL;
    lm_err e = {0};
    snprintf(path, sizeof path, "%s/n1.tsv", tmpdir);
    write_file(path, "1\tA\nx2\tB\n");
    assert_int_equal(knn_names_load(&nm, path, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, ":2:"));
    write_file(path, "1\tA\n1 B\n");
    assert_int_equal(knn_names_load(&nm, path, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "no tab"));
    write_file(path, "1\tA\n1\tB\n");
    assert_int_equal(knn_names_load(&nm, path, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "twice"));
    /* npy round trip and a wrong dtype. */
    float v[6] = {1, 2, 3, 4, 5, 6};
    snprintf(path, sizeof path, "%s/v.npy", tmpdir);
    assert_int_equal(lm_npy_save(path, "<f4", 4, (const uint64_t[]){2, 3}, 2, v, &e), 0);
    float *r = NULL;
    size_t n = 0;
    int dim = 0;
    assert_int_equal(knn_npy_read_f32(path, &r, &n, &dim, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(dim, 3);
    assert_memory_equal(r, v, sizeof v);
    free(r);
    double dv[3] = {0.5, -1, 2};
    assert_int_equal(lm_npy_save(path, "<f8", 8, (const uint64_t[]){3}, 1, dv, &e), 0);
    assert_int_equal(knn_npy_read_f32(path, &r, &n, &dim, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(dim, 3);
    assert_true(r[1] == -1.0f);
    free(r);
    {
        const char *dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n";
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
        pre[8] = (unsigned char)strlen(dict);
        FILE *f = fopen(path, "wb");
        fwrite(pre, 1, 10, f);
        fputs(dict, f);
        fwrite(v, 4, 3, f);
        fclose(f);
    }
    assert_int_equal(knn_npy_read_f32(path, &r, &n, &dim, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "dtype"));
}

static void test_config_from_job(void **state)
{
    (void)state;
    lm_job *job = NULL;
    lm_err e = {0};
    const char *ini = "[index]\ntype = ivf\nmetric = ip\nnlist = 100\nnprobe = 8\nk = 7\n"
                      "precompute = true\nexclude_self = false\nnames = ids.tsv\nseed = 5\n";
    assert_int_equal(lm_job_parse(&job, ini, "t.ini", &e), 0);
    knn_config cfg;
    int rc = knn_config_from_job(&cfg, job, &e);
    if (rc != 0) {
        fprintf(stderr, "config: %s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(cfg.kind, KNN_KIND_IVF);
    assert_int_equal(cfg.metric, KNN_METRIC_IP);
    assert_int_equal(cfg.nlist, 100);
    assert_int_equal(cfg.nprobe, 8);
    assert_int_equal(cfg.k, 7);
    assert_int_equal(cfg.precompute, 1);
    assert_int_equal(cfg.exclude_self, 0);
    assert_int_equal(cfg.identities, 1);
    assert_int_equal(cfg.niter, KNN_DEFAULT_NITER);
    assert_int_equal((int)cfg.seed, 5);
    assert_string_equal(cfg.names, "ids.tsv");
    assert_int_equal(lm_job_check_unused(job, &e), 0);
    lm_job_free(job);
    /* A bad value names file, line, section and key. */
    assert_int_equal(lm_job_parse(&job, "[index]\n\ntype = hnsw\n", "t.ini", &e), 0);
    rc = knn_config_from_job(&cfg, job, &e);
    fprintf(stderr, "bad type: %s\n", e.msg);
    assert_int_equal(rc, LM_ECONFIG);
    assert_non_null(strstr(e.msg, "t.ini:3"));
    assert_non_null(strstr(e.msg, "type"));
    lm_job_free(job);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lm_test_index_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_l2_equals_bruteforce),
        cmocka_unit_test(test_exact_ip_equals_bruteforce),
        cmocka_unit_test(test_k_larger_than_count),
        cmocka_unit_test(test_ivf_results_consistent),
        cmocka_unit_test(test_ivf_recall_identities),
        cmocka_unit_test(test_identity_retrieval_and_files),
        cmocka_unit_test(test_save_load_and_bad_files),
        cmocka_unit_test(test_names_and_npy_errors),
        cmocka_unit_test(test_config_from_job),
    };
    int fails = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    MPI_Finalize();
    return fails ? 1 : 0;
}
