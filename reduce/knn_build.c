/*
 * knn_build.c - the collective index build of the reduce phase (knn_index_build),
 * identity centroids, the local kNN join computation, and the names file.
 *
 * Rank 0 gathers every rank's rows (the index file is one mmap-able file) and
 * writes OUTDIR/index/; the k-means and the identity sums run distributed.
 * Identity sums use the same exact fixed-point all-reduce as the k-means, so
 * the identity centroids do not depend on the number of ranks either.
 */
#include "reduce/index.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "reduce/internal.h"
#include "shared/lm_log.h"

/* Identity ids must stay below this (dense per-identity sums). */
#define KNN_MAX_IDENTITY (1 << 24)
/* Fixed-point scale of the identity sums: components of unit vectors are in
 * [-1, 1], so up to 2^22 descriptors per identity fit in an int64. */
#define KNN_ID_SCALE_EXP 40

void knn_config_init(knn_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = KNN_KIND_EXACT;
    cfg->metric = KNN_METRIC_L2;
    cfg->nlist = 0;
    cfg->nprobe = KNN_DEFAULT_NPROBE;
    cfg->niter = KNN_DEFAULT_NITER;
    cfg->max_per_list = KNN_DEFAULT_MAX_PER_LIST;
    cfg->seed = 1234;
    cfg->k = KNN_DEFAULT_K;
    cfg->precompute = 0;
    cfg->exclude_self = 1;
    cfg->identities = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mkdir_p(const char *dir, lm_err *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        return lm_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                return lm_err_set(err, -e, "%s: cannot create directory: %s", buf, strerror(e));
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        return lm_err_set(err, -e, "%s: cannot create directory: %s", buf, strerror(e));
    }
    return 0;
}

/* ---- names file ---------------------------------------------------------- */

struct knn_names {
    size_t n;
    int64_t *ids;
    char **names;
    char *text;
};

typedef struct name_ent {
    int64_t id;
    char *name;
} name_ent;

static int cmp_name_ent(const void *a, const void *b)
{
    const name_ent *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int knn_names_load(knn_names **out, const char *path, lm_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        return lm_err_set(err, e == ENOENT ? LM_EMISSING : -e, "%s: cannot open names file: %s",
                          path, strerror(e));
    }
    knn_names *nm = calloc(1, sizeof *nm);
    name_ent *ent = NULL;
    size_t cap = 0, len = 0, tcap = 0;
    int rc = 0;
    char line[4096];
    int lineno = 0;
    if (nm == NULL) {
        fclose(f);
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    /* Names are kept in one growing text arena; entries hold offsets until the
     * end so that reallocation cannot leave dangling pointers. */
    size_t *offs = NULL;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t ll = strlen(line);
        if (ll == sizeof line - 1 && line[ll - 1] != '\n') {
            rc = lm_err_set(err, LM_EFORMAT, "%s:%d: line longer than %zu bytes", path, lineno,
                            sizeof line - 2);
            goto fail;
        }
        while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r')) {
            line[--ll] = '\0';
        }
        if (ll == 0 || line[0] == '#') {
            continue;
        }
        char *tab = strchr(line, '\t');
        if (tab == NULL) {
            rc = lm_err_set(err, LM_EFORMAT,
                            "%s:%d: expected \"<identity id><TAB><name>\", found no tab", path,
                            lineno);
            goto fail;
        }
        *tab = '\0';
        char *end;
        errno = 0;
        long long id = strtoll(line, &end, 10);
        if (end == line || *end != '\0' || errno != 0 || id < 0 || id >= KNN_MAX_IDENTITY) {
            rc = lm_err_set(err, LM_EFORMAT, "%s:%d: identity id \"%s\" is not an integer in "
                                             "0..%d",
                            path, lineno, line, KNN_MAX_IDENTITY - 1);
            goto fail;
        }
        const char *name = tab + 1;
        size_t nl = strlen(name) + 1;
        if (len == cap) {
            cap = cap ? 2 * cap : 256;
            name_ent *ne = realloc(ent, cap * sizeof *ent);
            size_t *no = realloc(offs, cap * sizeof *offs);
            if (ne) {
                ent = ne;
            }
            if (no) {
                offs = no;
            }
            if (!ne || !no) {
                rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
                goto fail;
            }
        }
        size_t used = 0;
        for (size_t i = 0; i < len; i++) {
            used = offs[i] + strlen(nm->text + offs[i]) + 1;
        }
        if (used + nl > tcap) {
            size_t nc = tcap ? tcap : 4096;
            while (nc < used + nl) {
                nc *= 2;
            }
            char *nt = realloc(nm->text, nc);
            if (nt == NULL) {
                rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            nm->text = nt;
            tcap = nc;
        }
        memcpy(nm->text + used, name, nl);
        offs[len] = used;
        ent[len].id = id;
        len++;
    }
    if (ferror(f)) {
        rc = lm_err_set(err, -EIO, "%s: read error", path);
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        ent[i].name = nm->text + offs[i];
    }
    qsort(ent, len, sizeof *ent, cmp_name_ent);
    for (size_t i = 1; i < len; i++) {
        if (ent[i].id == ent[i - 1].id) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: identity id %lld listed twice", path,
                            (long long)ent[i].id);
            goto fail;
        }
    }
    nm->n = len;
    nm->ids = malloc((len ? len : 1) * sizeof *nm->ids);
    nm->names = malloc((len ? len : 1) * sizeof *nm->names);
    if (!nm->ids || !nm->names) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < len; i++) {
        nm->ids[i] = ent[i].id;
        nm->names[i] = ent[i].name;
    }
    free(ent);
    free(offs);
    fclose(f);
    *out = nm;
    return 0;
fail:
    free(ent);
    free(offs);
    fclose(f);
    knn_names_free(nm);
    return rc;
}

void knn_names_free(knn_names *nm)
{
    if (nm == NULL) {
        return;
    }
    free(nm->ids);
    free(nm->names);
    free(nm->text);
    free(nm);
}

const char *knn_names_get(const knn_names *nm, int64_t id)
{
    if (nm == NULL) {
        return NULL;
    }
    size_t lo = 0, hi = nm->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (nm->ids[mid] < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < nm->n && nm->ids[lo] == id ? nm->names[lo] : NULL;
}

/* ---- the join (local) ---------------------------------------------------- */

int knn_join_compute(const knn_index *ident, const float *vecs, const int32_t *identity,
                     size_t n, int k, int farthest, int exclude_self, int32_t *match_id,
                     float *match_dist, lm_err *err)
{
    if (k < 1) {
        return lm_err_set(err, LM_ESHAPE, "join: k must be >= 1");
    }
    int kk = k + (exclude_self && identity ? 1 : 0);
    enum { JB = 4096 };
    size_t bs = n < JB ? n : JB;
    int64_t *ids = malloc((bs ? bs : 1) * (size_t)kk * 8);
    float *dist = malloc((bs ? bs : 1) * (size_t)kk * 4);
    int rc = 0;
    if (ids == NULL || dist == NULL) {
        rc = lm_err_set(err, -ENOMEM, "join: out of memory");
        goto done;
    }
    knn_search_params p = {.k = kk, .farthest = farthest};
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t nb = n - i0 < bs ? n - i0 : bs;
        rc = knn_index_search(ident, vecs + i0 * (size_t)knn_index_dim(ident), nb, &p, ids, dist,
                              err);
        if (rc != 0) {
            goto done;
        }
        for (size_t i = 0; i < nb; i++) {
            int32_t self = (exclude_self && identity) ? identity[i0 + i] : INT32_MIN;
            int32_t *mo = match_id + (i0 + i) * (size_t)k;
            float *md = match_dist ? match_dist + (i0 + i) * (size_t)k : NULL;
            int m = 0;
            for (int j = 0; j < kk && m < k; j++) {
                int64_t e = ids[i * (size_t)kk + (size_t)j];
                if (e < 0) {
                    break;
                }
                int32_t lab = knn_index_label(ident, e);
                if (self >= 0 && lab == self) {
                    continue;
                }
                mo[m] = lab;
                if (md) {
                    md[m] = dist[i * (size_t)kk + (size_t)j];
                }
                m++;
            }
            for (; m < k; m++) {
                mo[m] = -1;
                if (md) {
                    md[m] = NAN;
                }
            }
        }
    }
done:
    free(ids);
    free(dist);
    return rc;
}

/* ---- the collective build ------------------------------------------------ */

/* Rank 0's code and message become every rank's. */
static int share_result(int rc, lm_err *err, MPI_Comm comm)
{
    struct {
        int code;
        char msg[sizeof(((lm_err *)0)->msg)];
    } m = {0};
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        m.code = rc;
        if (rc != 0 && err != NULL) {
            memcpy(m.msg, err->msg, sizeof m.msg);
        }
    }
    MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, 0, comm);
    if (rank != 0 && m.code != 0 && err != NULL) {
        lm_err_set(err, m.code, "%s", m.msg);
    }
    return m.code;
}

/* Every rank's worst local code (errors are negative), so all branch alike. */
static int agree(int rc, MPI_Comm comm)
{
    int g = rc;
    MPI_Allreduce(&rc, &g, 1, MPI_INT, MPI_MIN, comm);
    return g;
}

/* agree(), and a message on the ranks that did not fail themselves. */
static int collective(int rc, lm_err *err, MPI_Comm comm)
{
    int g = agree(rc, comm);
    if (g != 0 && rc == 0) {
        lm_err_set(err, g, "index build: failed on another rank (%s)", lm_strerror(g));
    }
    return g;
}

static int write_text(const char *path, const char *text, lm_err *err)
{
    return knn__write_file(path, text, strlen(text), err);
}

/* Gather n_local rows of `width` elements of type dt to rank 0 (counts in
 * elements must fit an int). OUT *out on rank 0 (malloc'd). */
static int gather_rows(const void *local, size_t n_local, size_t width, MPI_Datatype dt,
                       size_t esize, MPI_Comm comm, void **out, const long long *counts,
                       lm_err *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int *rc_counts = NULL, *displs = NULL;
    int rc = 0;
    *out = NULL;
    if (rank == 0) {
        rc_counts = malloc((size_t)size * sizeof *rc_counts);
        displs = malloc((size_t)size * sizeof *displs);
        long long total = 0;
        for (int r = 0; r < size; r++) {
            total += counts[r] * (long long)width;
        }
        if (rc_counts && displs && total <= INT_MAX) {
            long long pos = 0;
            for (int r = 0; r < size; r++) {
                rc_counts[r] = (int)(counts[r] * (long long)width);
                displs[r] = (int)pos;
                pos += rc_counts[r];
            }
            *out = malloc((size_t)(total ? total : 1) * esize);
        }
        if (total > INT_MAX) {
            rc = lm_err_set(err, LM_ETOOBIG,
                            "index build: %lld elements to gather on rank 0 exceed 2^31-1", total);
        } else if (!rc_counts || !displs || !*out) {
            rc = lm_err_set(err, -ENOMEM, "index build: out of memory gathering rows");
        }
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    if (rc != 0 && rank != 0) {
        lm_err_set(err, rc, "index build: gathering rows on rank 0 failed (%s)",
                   lm_strerror(rc));
    }
    if (rc == 0) {
        MPI_Gatherv(local, (int)(n_local * width), dt, *out, rc_counts, displs, dt, 0, comm);
    } else if (rank == 0) {
        free(*out);
        *out = NULL;
    }
    free(rc_counts);
    free(displs);
    return rc;
}

static int build_identities(const knn_config *cfg, const float *local_vecs,
                            const int32_t *local_identity, size_t n_local, int dim,
                            MPI_Comm comm, const char *path, size_t *n_ident, lm_err *err)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    int lmax = -1;
    for (size_t i = 0; i < n_local; i++) {
        if (local_identity[i] > lmax) {
            lmax = local_identity[i];
        }
    }
    int gmax = -1;
    MPI_Allreduce(&lmax, &gmax, 1, MPI_INT, MPI_MAX, comm);
    *n_ident = 0;
    if (gmax < 0) {
        return 1; /* no identity known anywhere: nothing to build */
    }
    if (gmax >= KNN_MAX_IDENTITY || (size_t)(gmax + 1) * (size_t)dim > (size_t)INT_MAX) {
        return lm_err_set(err, LM_ETOOBIG, "index build: identity id %d too large (max %d)", gmax,
                          KNN_MAX_IDENTITY - 1);
    }
    size_t nid = (size_t)gmax + 1, D = (size_t)dim;
    int64_t *sums = calloc(nid * D, 8);
    int64_t *cnt = calloc(nid, 8);
    int rc = (!sums || !cnt) ? -ENOMEM : 0;
    if (agree(rc, comm) != 0) {
        free(sums);
        free(cnt);
        return lm_err_set(err, -ENOMEM, "index build: out of memory for %zu identity sums", nid);
    }
    const double scale = ldexp(1.0, KNN_ID_SCALE_EXP);
    size_t zero = 0;
    for (size_t i = 0; i < n_local; i++) {
        int32_t id = local_identity[i];
        if (id < 0) {
            continue;
        }
        const float *x = local_vecs + i * D;
        double s = 0;
        for (size_t d = 0; d < D; d++) {
            s += (double)x[d] * x[d];
        }
        if (!(s > 0)) {
            zero++;
            continue;
        }
        double inv = 1.0 / sqrt(s);
        int64_t *o = sums + (size_t)id * D;
        for (size_t d = 0; d < D; d++) {
            o[d] += (int64_t)llrint((double)x[d] * inv * scale);
        }
        cnt[id]++;
    }
    if (zero > 0) {
        lm_log(LM_LOG_WARN, "index build: %zu zero descriptors left out of identity means", zero);
    }
    if (rank == 0) {
        MPI_Reduce(MPI_IN_PLACE, sums, (int)(nid * D), MPI_INT64_T, MPI_SUM, 0, comm);
        MPI_Reduce(MPI_IN_PLACE, cnt, (int)nid, MPI_INT64_T, MPI_SUM, 0, comm);
    } else {
        MPI_Reduce(sums, NULL, (int)(nid * D), MPI_INT64_T, MPI_SUM, 0, comm);
        MPI_Reduce(cnt, NULL, (int)nid, MPI_INT64_T, MPI_SUM, 0, comm);
    }
    rc = 0;
    if (rank == 0) {
        size_t m = 0;
        for (size_t id = 0; id < nid; id++) {
            m += cnt[id] > 0;
        }
        float *mean = malloc((m ? m : 1) * D * 4);
        int32_t *lab = malloc((m ? m : 1) * 4);
        char **keys = malloc((m ? m : 1) * sizeof *keys);
        char *kbuf = malloc((m ? m : 1) * 16);
        if (!mean || !lab || !keys || !kbuf) {
            rc = lm_err_set(err, -ENOMEM, "index build: out of memory for identity means");
        } else {
            size_t j = 0;
            for (size_t id = 0; id < nid; id++) {
                if (cnt[id] == 0) {
                    continue;
                }
                for (size_t d = 0; d < D; d++) {
                    mean[j * D + d] =
                        (float)((double)sums[id * D + d] / scale / (double)cnt[id]);
                }
                lab[j] = (int32_t)id;
                keys[j] = kbuf + j * 16;
                snprintf(keys[j], 16, "%zu", id);
                j++;
            }
            knn_index *ix = NULL;
            rc = knn_index_create(&ix, mean, m, dim, cfg->metric, KNN_KIND_EXACT,
                                  (const char *const *)keys, lab, NULL, 0, NULL,
                                  KNN_FLAG_NORMQ | KNN_FLAG_IDENTITY, err);
            if (rc == 0) {
                rc = knn_index_save(ix, path, err);
            }
            knn_index_close(ix);
            *n_ident = m;
        }
        free(mean);
        free(lab);
        free(keys);
        free(kbuf);
    }
    free(sums);
    free(cnt);
    return rc;
}

int knn_index_build(const knn_config *cfg, const float *local_vecs,
                    const char *const *local_keys, const int32_t *local_identity,
                    size_t n_local, int dim, MPI_Comm comm, const char *outdir, lm_err *err)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    double t0 = now_s();
    char dir[4096], path[4200];
    int rc = 0;
    float *cent = NULL;
    int32_t *assign = NULL;
    long long *counts = NULL;
    float *all_vecs = NULL;
    int32_t *all_assign = NULL, *all_ident = NULL;
    char *all_keys = NULL, *kblob = NULL;
    const char **keyp = NULL;
    knn_index *ix = NULL;
    size_t n_ident = 0;
    double t_train = 0, t_write = 0, t_ident = 0;

    snprintf(dir, sizeof dir, "%s/index", outdir);
    /* Local validation, then one collective verdict. */
    int dims[2] = {dim, -dim}, gd[2];
    MPI_Allreduce(dims, gd, 2, MPI_INT, MPI_MIN, comm);
    if (gd[0] != -gd[1] || dim < 1 || dim > KNN_MAX_DIM) {
        return lm_err_set(err, LM_ESHAPE,
                          "index build: descriptor sizes differ between ranks or are out of "
                          "range (%d..%d)",
                          gd[0], -gd[1]);
    }
    int64_t bad = knn__first_nonfinite(local_vecs, n_local, dim);
    if (bad >= 0) {
        rc = lm_err_set(err, LM_ENUMERIC, "index build: rank %d item %s: descriptor has NaN/Inf",
                        rank, local_keys[bad]);
    }
    if (rank == 0 && rc == 0) {
        rc = mkdir_p(dir, err);
    }
    rc = collective(rc, err, comm);
    if (rc != 0) {
        return rc;
    }
    unsigned long long nl = n_local, N = 0;
    MPI_Allreduce(&nl, &N, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    int nlist = 0;
    if (cfg->kind == KNN_KIND_IVF) {
        nlist = cfg->nlist > 0 ? cfg->nlist : (int)lround(4.0 * sqrt((double)N));
        if (nlist < 1) {
            nlist = 1;
        }
        if ((unsigned long long)nlist > N) {
            nlist = (int)N;
        }
        if (N == 0) {
            return share_result(lm_err_set(err, LM_ESHAPE, "index build: no vectors for IVF"),
                                err, comm);
        }
        cent = malloc((size_t)nlist * (size_t)dim * 4);
        assign = malloc((n_local ? n_local : 1) * 4);
        rc = (!cent || !assign) ? lm_err_set(err, -ENOMEM, "index build: out of memory") : 0;
        if ((rc = collective(rc, err, comm)) != 0) {
            goto done;
        }
        double tt = now_s();
        rc = ivf_kmeans_train(local_vecs, n_local, dim, nlist, cfg->niter, cfg->max_per_list,
                              cfg->seed, comm, cent, err);
        if (rc == 0) {
            rc = ivf_assign(local_vecs, n_local, dim, cent, nlist, assign, err);
        }
        if ((rc = collective(rc, err, comm)) != 0) {
            goto done;
        }
        t_train = now_s() - tt;
    }
    /* Gather rows, keys, identities and list numbers on rank 0. */
    counts = malloc((size_t)size * sizeof *counts);
    if (counts == NULL) {
        rc = lm_err_set(err, -ENOMEM, "index build: out of memory");
    }
    if ((rc = collective(rc, err, comm)) != 0) {
        goto done;
    }
    {
        long long c = (long long)n_local;
        MPI_Allgather(&c, 1, MPI_LONG_LONG, counts, 1, MPI_LONG_LONG, comm);
    }
    rc = gather_rows(local_vecs, n_local, (size_t)dim, MPI_FLOAT, 4, comm, (void **)&all_vecs,
                     counts, err);
    if (rc != 0) {
        goto done;
    }
    {
        int32_t *ident_l = malloc((n_local ? n_local : 1) * 4);
        if (ident_l == NULL) {
            rc = -ENOMEM;
        }
        if (agree(rc, comm) != 0) {
            free(ident_l);
            rc = lm_err_set(err, -ENOMEM, "index build: out of memory");
            goto done;
        }
        for (size_t i = 0; i < n_local; i++) {
            ident_l[i] = local_identity ? local_identity[i] : -1;
        }
        rc = gather_rows(ident_l, n_local, 1, MPI_INT32_T, 4, comm, (void **)&all_ident, counts,
                         err);
        free(ident_l);
        if (rc != 0) {
            goto done;
        }
    }
    if (nlist > 0) {
        rc = gather_rows(assign, n_local, 1, MPI_INT32_T, 4, comm, (void **)&all_assign, counts,
                         err);
        if (rc != 0) {
            goto done;
        }
    }
    {
        size_t kl = 0;
        for (size_t i = 0; i < n_local; i++) {
            kl += strlen(local_keys[i]) + 1;
        }
        kblob = malloc(kl ? kl : 1);
        rc = kblob ? 0 : -ENOMEM;
        if (agree(rc, comm) != 0) {
            rc = lm_err_set(err, -ENOMEM, "index build: out of memory");
            goto done;
        }
        size_t pos = 0;
        for (size_t i = 0; i < n_local; i++) {
            size_t l = strlen(local_keys[i]) + 1;
            memcpy(kblob + pos, local_keys[i], l);
            pos += l;
        }
        long long c = (long long)kl;
        long long *kcounts = malloc((size_t)size * sizeof *kcounts);
        rc = kcounts ? 0 : -ENOMEM;
        if (agree(rc, comm) != 0) {
            free(kcounts);
            rc = lm_err_set(err, -ENOMEM, "index build: out of memory");
            goto done;
        }
        MPI_Allgather(&c, 1, MPI_LONG_LONG, kcounts, 1, MPI_LONG_LONG, comm);
        rc = gather_rows(kblob, kl, 1, MPI_CHAR, 1, comm, (void **)&all_keys, kcounts, err);
        free(kcounts);
        if (rc != 0) {
            goto done;
        }
    }
    if (rank == 0) {
        double tw = now_s();
        keyp = malloc((N ? N : 1) * sizeof *keyp);
        if (keyp == NULL) {
            rc = lm_err_set(err, -ENOMEM, "index build: out of memory");
        } else {
            const char *p = all_keys;
            for (size_t i = 0; i < N; i++) {
                keyp[i] = p;
                p += strlen(p) + 1;
            }
            rc = knn_index_create(&ix, all_vecs, (size_t)N, dim, cfg->metric, cfg->kind, keyp,
                                  all_ident, cent, nlist, all_assign, 0, err);
            if (rc == 0) {
                snprintf(path, sizeof path, "%s/images.lmi", dir);
                rc = knn_index_save(ix, path, err);
            }
        }
        t_write = now_s() - tw;
    }
    rc = share_result(rc, err, comm);
    if (rc != 0) {
        goto done;
    }
    if (cfg->identities) {
        double ti = now_s();
        snprintf(path, sizeof path, "%s/identities.lmi", dir);
        int r;
        if (local_identity != NULL) {
            r = build_identities(cfg, local_vecs, local_identity, n_local, dim, comm, path,
                                 &n_ident, err);
        } else {
            int32_t *none = malloc((n_local ? n_local : 1) * 4);
            r = none ? 0 : -ENOMEM;
            if (agree(r, comm) == 0) {
                for (size_t i = 0; i < n_local; i++) {
                    none[i] = -1;
                }
                r = build_identities(cfg, local_vecs, none, n_local, dim, comm, path, &n_ident,
                                     err);
            } else {
                r = lm_err_set(err, -ENOMEM, "index build: out of memory");
            }
            free(none);
        }
        rc = r < 0 ? r : 0;
        rc = share_result(rc, err, comm);
        if (rc != 0) {
            goto done;
        }
        t_ident = now_s() - ti;
    }
    if (rank == 0) {
        if (cfg->names[0] != '\0') {
            knn_names *nm = NULL;
            rc = knn_names_load(&nm, cfg->names, err);
            if (rc == 0) {
                FILE *f = fopen(cfg->names, "rb");
                snprintf(path, sizeof path, "%s/names.tsv", dir);
                /* Copy the validated file as is. */
                char *buf = NULL;
                long sz = -1;
                if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 &&
                    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)sz + 1)) != NULL &&
                    fread(buf, 1, (size_t)sz, f) == (size_t)sz) {
                    rc = knn__write_file(path, buf, (size_t)sz, err);
                } else {
                    rc = lm_err_set(err, -EIO, "%s: cannot copy names file", cfg->names);
                }
                free(buf);
                if (f) {
                    fclose(f);
                }
            }
            knn_names_free(nm);
        }
        if (rc == 0) {
            char json[2048];
            snprintf(json, sizeof json,
                     "{\n  \"format\": \"latentmill index v%d\",\n  \"dim\": %d,\n"
                     "  \"metric\": \"%s\",\n  \"images\": {\"file\": \"images.lmi\", "
                     "\"count\": %llu, \"type\": \"%s\", \"nlist\": %d, \"nprobe\": %d, "
                     "\"kmeans_iters\": %d, \"seed\": %llu},\n"
                     "  \"identities\": {\"file\": \"identities.lmi\", \"count\": %zu},\n"
                     "  \"names\": %s,\n  \"ranks\": %d,\n"
                     "  \"seconds\": {\"kmeans\": %.3f, \"write_images\": %.3f, "
                     "\"identities\": %.3f, \"total\": %.3f}\n}\n",
                     KNN_VERSION, dim, cfg->metric == KNN_METRIC_L2 ? "l2" : "ip", N,
                     cfg->kind == KNN_KIND_IVF ? "ivf" : "exact", nlist, cfg->nprobe,
                     cfg->niter, (unsigned long long)cfg->seed, n_ident,
                     cfg->names[0] ? "\"names.tsv\"" : "null", size, t_train, t_write, t_ident,
                     now_s() - t0);
            snprintf(path, sizeof path, "%s/index.json", dir);
            rc = write_text(path, json, err);
        }
        if (rc == 0) {
            lm_log(LM_LOG_INFO,
                   "index: %llu vectors (%s%s), %zu identities in %s, %.2f s (k-means %.2f s)",
                   N, cfg->kind == KNN_KIND_IVF ? "ivf" : "exact",
                   cfg->metric == KNN_METRIC_L2 ? ", l2" : ", ip", n_ident, dir, now_s() - t0,
                   t_train);
        }
    }
    rc = share_result(rc, err, comm);
done:
    knn_index_close(ix);
    free(cent);
    free(assign);
    free(counts);
    free(all_vecs);
    free(all_assign);
    free(all_ident);
    free(all_keys);
    free(kblob);
    free(keyp);
    return rc;
}
