/*
 * test_knn_mpi.c - the collective index build and kNN join, as a driver for
 * tests/integration/test_knn_mpi.sh and as a one-rank unit test.
 *
 *   test_knn_mpi                 unit test: the driver twice on one rank gives
 *                                byte-identical files (and sane contents)
 *   test_knn_mpi --driver OUTDIR collective: every rank takes an uneven slice of
 *                                one synthetic identity dataset, builds
 *                                OUTDIR/index/ (IVF + identities), joins its
 *                                items against the identities and rank 0 writes
 *                                OUTDIR/join.bin (int32 ids + float distances
 *                                per item, global order) and OUTDIR/centroids.bin
 * The shell test runs the driver under mpirun -np 1 and -np 3 and compares the
 * files byte for byte.
 */
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reduce/index.h"
#include "shared/lm_npy.h"
#include "shared/lm_store.h"
#include "tests/knn_synth.h"

enum { N_ID = 600, PER = 8, DIM = 128, K = 5, NLIST = 48 };

static int write_bin(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(a, 1, na, f) == na && (nb == 0 || fwrite(b, 1, nb, f) == nb);
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int driver(const char *outdir)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const size_t n = (size_t)N_ID * PER;
    float *cent = malloc((size_t)N_ID * DIM * 4), *all = malloc(n * DIM * 4);
    int32_t *ident = malloc(n * 4);
    knn_synth_centres(cent, N_ID, DIM, 0.7, 31);
    knn_synth_samples(all, ident, n, cent, N_ID, DIM, knn_synth_sigma(0.45, DIM), 32);
    /* Uneven contiguous slices: rank r gets a share proportional to r + 1. */
    size_t w = (size_t)size * (size_t)(size + 1) / 2, acc = 0;
    for (int r = 0; r < rank; r++) {
        acc += (size_t)(r + 1);
    }
    size_t lo = n * acc / w, hi = n * (acc + (size_t)rank + 1) / w;
    size_t nl = hi - lo;
    char **keys = malloc((nl ? nl : 1) * sizeof *keys);
    for (size_t i = 0; i < nl; i++) {
        keys[i] = malloc(32);
        snprintf(keys[i], 32, "synth/%06zu.jpg", lo + i);
    }
    knn_config cfg;
    knn_config_init(&cfg);
    cfg.kind = KNN_KIND_IVF;
    cfg.nlist = NLIST;
    cfg.max_per_list = 64; /* a sampled training set: exercises the seeded selection */
    cfg.niter = 12;
    lm_err e = {0};
    int rc = 0;
    char path[4200];
    if (rank == 0) {
        /* Names for a few identities, and query descriptors for the lookalike
         * test: fresh photos of identities 7 and 123, and a 64-D one. */
        snprintf(path, sizeof path, "%s/names_in.tsv", outdir);
        if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
            rc = -errno;
        }
        FILE *f = rc == 0 ? fopen(path, "w") : NULL;
        if (f != NULL) {
            fprintf(f, "# identity\tname\n");
            for (int i = 0; i < 200; i++) {
                fprintf(f, "%d\tPerson %d\n", i, i);
            }
            fclose(f);
        }
        float qv[2 * DIM];
        knn_rng r = {99};
        for (int d = 0; d < DIM; d++) {
            double s = knn_synth_sigma(0.45, DIM);
            qv[d] = (float)(cent[7 * DIM + d] + s * knn_rng_gauss(&r));
            qv[DIM + d] = (float)(cent[123 * DIM + d] + s * knn_rng_gauss(&r));
        }
        snprintf(path, sizeof path, "%s/query.npy", outdir);
        rc = lm_npy_save(path, "<f4", 4, (const uint64_t[]){2, DIM}, 2, qv, &e);
        snprintf(path, sizeof path, "%s/query64.npy", outdir);
        if (rc == 0) {
            rc = lm_npy_save(path, "<f4", 4, (const uint64_t[]){64}, 1, qv, &e);
        }
        if (rc != 0) {
            fprintf(stderr, "driver: %s\n", e.msg);
        }
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc != 0) {
        return 1;
    }
    snprintf(cfg.names, sizeof cfg.names, "%s/names_in.tsv", outdir);
    rc = knn_index_build(&cfg, all + lo * DIM, (const char *const *)keys, ident + lo, nl, DIM,
                             MPI_COMM_WORLD, outdir, &e);
    if (rc != 0) {
        fprintf(stderr, "rank %d: build failed: %s\n", rank, e.msg);
        return 1;
    }
    snprintf(path, sizeof path, "%s/index/identities.lmi", outdir);
    knn_index *ids = NULL;
    rc = knn_index_load(&ids, path, DIM, &e);
    int32_t *mid = malloc((nl ? nl : 1) * K * 4);
    float *md = malloc((nl ? nl : 1) * K * 4);
    if (rc == 0) {
        rc = knn_join_compute(ids, all + lo * DIM, ident + lo, nl, K, 0, 1, mid, md, &e);
    }
    if (rc != 0) {
        fprintf(stderr, "rank %d: join failed: %s\n", rank, e.msg);
        return 1;
    }
    /* The same join through the store: this rank's shard, then an export of all
     * shards by rank 0 (OUTDIR/matches.npy, OUTDIR/matches_keys.txt). */
    char shard[4200];
    snprintf(shard, sizeof shard, "%s/shards/test-rank%d", outdir, rank);
    lm_store *st = NULL;
    rc = lm_store_open(&st, shard, 0, &e);
    if (rc == 0) {
        rc = knn_join_run(&cfg, outdir, all + lo * DIM, (const char *const *)keys, ident + lo, nl,
                          DIM, st, MPI_COMM_WORLD, &e);
    }
    lm_store_close(st);
    if (rc != 0) {
        fprintf(stderr, "rank %d: join_run failed: %s\n", rank, e.msg);
        return 1;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        char **dirs = malloc((size_t)size * sizeof *dirs);
        for (int r = 0; r < size; r++) {
            dirs[r] = malloc(4200);
            snprintf(dirs[r], 4200, "%s/shards/test-rank%d", outdir, r);
        }
        char npy[4200], kt[4200];
        snprintf(npy, sizeof npy, "%s/matches.npy", outdir);
        snprintf(kt, sizeof kt, "%s/matches_keys.txt", outdir);
        rc = knn_matches_export((const char *const *)dirs, size, npy, kt, &e);
        for (int r = 0; r < size; r++) {
            free(dirs[r]);
        }
        free(dirs);
        if (rc != 0) {
            fprintf(stderr, "export failed: %s\n", e.msg);
            return 1;
        }
    }
    int *cnt = malloc((size_t)size * sizeof *cnt), *dsp = malloc((size_t)size * sizeof *dsp);
    int c = (int)(nl * K);
    MPI_Gather(&c, 1, MPI_INT, cnt, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        dsp[0] = 0;
        for (int r = 1; r < size; r++) {
            dsp[r] = dsp[r - 1] + cnt[r - 1];
        }
    }
    int32_t *gid = rank == 0 ? malloc(n * K * 4) : NULL;
    float *gd = rank == 0 ? malloc(n * K * 4) : NULL;
    MPI_Gatherv(mid, c, MPI_INT32_T, gid, cnt, dsp, MPI_INT32_T, 0, MPI_COMM_WORLD);
    MPI_Gatherv(md, c, MPI_FLOAT, gd, cnt, dsp, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int fail = 0;
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/join.bin", outdir);
        fail |= write_bin(path, gid, n * K * 4, gd, n * K * 4) != 0;
        /* Sanity: the best match is never the item's own identity and distances grow. */
        for (size_t i = 0; i < n; i++) {
            if (gid[i * K] == ident[i] || gid[i * K] < 0 || !(gd[i * K] <= gd[i * K + 1])) {
                fprintf(stderr, "join row %zu looks wrong: id %d (own %d) dist %g %g\n", i,
                        gid[i * K], ident[i], (double)gd[i * K], (double)gd[i * K + 1]);
                fail = 1;
                break;
            }
        }
        printf("driver: %d ranks, %zu items, %d identities, join written\n", size, n, N_ID);
    }
    for (size_t i = 0; i < nl; i++) {
        free(keys[i]);
    }
    free(keys);
    free(cent);
    free(all);
    free(ident);
    free(mid);
    free(md);
    free(cnt);
    free(dsp);
    free(gid);
    free(gd);
    knn_index_close(ids);
    return fail;
}

static int slurp(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(sz > 0 ? (size_t)sz : 1);
    *len = fread(*buf, 1, (size_t)sz, f);
    fclose(f);
    return *len == (size_t)sz ? 0 : -1;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rc;
    if (argc == 3 && strcmp(argv[1], "--driver") == 0) {
        rc = driver(argv[2]);
        int g = rc;
        MPI_Allreduce(&rc, &g, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        MPI_Finalize();
        return g;
    }
    /* Unit mode: one rank, twice, identical outputs. */
    char dir[2][128];
    rc = 0;
    for (int t = 0; t < 2 && rc == 0; t++) {
        snprintf(dir[t], sizeof dir[t], "/tmp/lm_test_knn_mpi_XXXXXX");
        if (mkdtemp(dir[t]) == NULL) {
            perror("mkdtemp");
            rc = 1;
            break;
        }
        rc = driver(dir[t]);
    }
    const char *files[] = {"index/images.lmi", "index/identities.lmi", "join.bin",
                           "matches.npy", "matches_keys.txt"};
    for (int f = 0; f < 5 && rc == 0; f++) {
        char p0[300], p1[300];
        snprintf(p0, sizeof p0, "%s/%s", dir[0], files[f]);
        snprintf(p1, sizeof p1, "%s/%s", dir[1], files[f]);
        unsigned char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (slurp(p0, &a, &la) != 0 || slurp(p1, &b, &lb) != 0 || la != lb ||
            memcmp(a, b, la) != 0) {
            fprintf(stderr, "FAIL: %s differs between two identical runs (%zu vs %zu bytes)\n",
                    files[f], la, lb);
            rc = 1;
        } else {
            fprintf(stderr, "ok: %s identical (%zu bytes)\n", files[f], la);
        }
        free(a);
        free(b);
    }
    if (rc == 0) {
        /* The exported matches (keys sorted = item order here) equal join.bin. */
        char p0[300], p1[300];
        snprintf(p0, sizeof p0, "%s/join.bin", dir[0]);
        snprintf(p1, sizeof p1, "%s/matches.npy", dir[0]);
        unsigned char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        size_t n = (size_t)N_ID * PER;
        if (slurp(p0, &a, &la) != 0 || slurp(p1, &b, &lb) != 0 || la != n * K * 8 ||
            lb != 128 + n * K * 16) {
            fprintf(stderr, "FAIL: join.bin %zu bytes, matches.npy %zu bytes\n", la, lb);
            rc = 1;
        } else {
            const int32_t *jid = (const int32_t *)a;
            const float *jd = (const float *)(a + n * K * 4);
            const double *m = (const double *)(b + 128);
            for (size_t t = 0; t < n * K; t++) {
                if (m[2 * t] != (double)jid[t] || m[2 * t + 1] != (double)jd[t]) {
                    fprintf(stderr, "FAIL: match %zu: store (%g, %g) vs join (%d, %g)\n", t,
                            m[2 * t], m[2 * t + 1], jid[t], (double)jd[t]);
                    rc = 1;
                    break;
                }
            }
            if (rc == 0) {
                fprintf(stderr, "ok: matches.npy (from the shards) equals the computed join\n");
            }
        }
        free(a);
        free(b);
    }
    for (int t = 0; t < 2; t++) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir[t]);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", dir[t]);
        }
    }
    MPI_Finalize();
    return rc;
}
