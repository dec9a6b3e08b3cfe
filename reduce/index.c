/*
 * index.c - the .lmi index file (build in memory, save, mmap-load, validate)
 * and exact / IVF search (see index.h for the format and the contracts).
 *
 * An in-memory index and a loaded one share one representation: a single
 * 64-byte-aligned buffer laid out exactly like the file, with typed views
 * bound by knn_bind(). Building fills such a buffer, saving writes it, loading
 * maps it and binds it after validation, so there is one layout code path.
 *
 * Search follows faiss's exhaustive BLAS path (IndexFlat: blocks of queries x
 * blocks of the base, inner products by GEMM, per-query top-k heaps), and its
 * IndexIVFFlat for IVF; the IVF scan here inverts the probe lists so that all
 * queries of a batch probing one list share one GEMM against that list.
 */
#include "reduce/index.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/op_gemm.h"
#include "reduce/internal.h"
#include "shared/lm_log.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .lmi format is little-endian and mapped as is; port knn_bind for big-endian hosts"
#endif

/* Query batch and base block of the exact scan: a 1024 x 2048 float tile of
 * inner products (8 MB) per GEMM, the order of faiss's BLAS path. 256..1024 x
 * 512..2048 tiles measured within 5 % of each other (CPU time, 200k x 128,
 * 1000 queries, one thread: 1190-1340 queries/s). */
enum { QBATCH = 1024, XBLOCK = 2048, IVF_QBATCH = 2048, IVF_XBLOCK = 1024 };

struct knn_index {
    uint8_t *base; /* buffer laid out like the file */
    size_t len;
    int mapped; /* 1: base is an mmap of a file, 0: malloc'd */
    int dim;
    enum knn_metric metric;
    enum knn_kind kind;
    uint32_t flags;
    size_t n;
    int nlist;
    const float *vecs;
    const float *norms;
    const uint64_t *rowids;
    const int32_t *labels;
    const uint64_t *keyoff;
    const char *keys;
    size_t keys_len;
    const float *cent;
    const uint64_t *lists;
    float *cnorms; /* squared centroid norms, computed at bind time (owned) */
    char path[512];
};

/* ---- layout -------------------------------------------------------------- */

typedef struct knn_layout {
    uint64_t vec, norms, rowids, labels, keyoff, keys, cent, lists, size;
} knn_layout;

static uint64_t align64(uint64_t x)
{
    return (x + 63u) & ~(uint64_t)63u;
}

static void layout_compute(knn_layout *L, uint64_t n, uint64_t dim, uint64_t nlist,
                           uint64_t keys_bytes)
{
    uint64_t o = KNN_HEADER_BYTES;
    L->vec = o;
    o = align64(o + n * dim * 4);
    L->norms = o;
    o = align64(o + n * 4);
    L->rowids = o;
    o = align64(o + n * 8);
    L->labels = o;
    o = align64(o + n * 4);
    L->keyoff = o;
    o = align64(o + (n + 1) * 8);
    L->keys = o;
    o = align64(o + keys_bytes);
    if (nlist > 0) {
        L->cent = o;
        o = align64(o + nlist * dim * 4);
        L->lists = o;
        o = align64(o + (nlist + 1) * 8);
    } else {
        L->cent = 0;
        L->lists = 0;
    }
    L->size = o;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* ---- small shared helpers ----------------------------------------------- */

void knn__row_norms(const float *x, size_t n, int dim, float *out)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < (int64_t)n; i++) {
        const float *r = x + (size_t)i * (size_t)dim;
        double s = 0;
        for (int d = 0; d < dim; d++) {
            s += (double)r[d] * r[d];
        }
        out[i] = (float)s;
    }
}

int64_t knn__first_nonfinite(const float *x, size_t n, int dim)
{
    size_t total = n * (size_t)dim;
    for (size_t i = 0; i < total; i++) {
        if (!isfinite(x[i])) {
            return (int64_t)(i / (size_t)dim);
        }
    }
    return -1;
}

int knn__write_file(const char *path, const void *data, size_t len, lm_err *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        return lm_err_set(err, -ENAMETOOLONG, "%s: path too long", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int e = errno;
        return lm_err_set(err, -e, "%s: cannot create: %s", tmp, strerror(e));
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left > (1u << 30) ? (1u << 30) : left);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            int e = errno;
            close(fd);
            unlink(tmp);
            return lm_err_set(err, -e, "%s: write failed at offset %zu: %s", tmp, len - left,
                              strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return lm_err_set(err, -e, "%s: fsync/close failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return lm_err_set(err, -e, "%s: rename to %s failed: %s", tmp, path, strerror(e));
    }
    return 0;
}

/* ---- binding and validation --------------------------------------------- */

static int section_ok(uint64_t off, uint64_t bytes, uint64_t size)
{
    return off >= KNN_HEADER_BYTES && off % 64 == 0 && off <= size && bytes <= size - off;
}

/* Validate the buffer (header + sections) and set the typed views. what names
 * the file in messages. */
static int knn_bind(knn_index *ix, const char *what, int expect_dim, lm_err *err)
{
    const uint8_t *h = ix->base;
    if (ix->len < KNN_HEADER_BYTES) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: truncated index file: %zu bytes, the header alone is %d", what,
                          ix->len, KNN_HEADER_BYTES);
    }
    if (memcmp(h, KNN_MAGIC, 8) != 0) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: bad magic (not a latentmill index file; expected \"LMINDEX\")",
                          what);
    }
    uint32_t version = rd32(h + 8), hbytes = rd32(h + 12), dim = rd32(h + 16);
    uint32_t metric = rd32(h + 20), kind = rd32(h + 24), flags = rd32(h + 28);
    uint64_t n = rd64(h + 32);
    uint32_t nlist = rd32(h + 40);
    uint64_t fsize = rd64(h + 112);
    if (version != KNN_VERSION) {
        return lm_err_set(err, LM_EFORMAT, "%s: index format version %u, this build reads %d",
                          what, version, KNN_VERSION);
    }
    if (hbytes != KNN_HEADER_BYTES) {
        return lm_err_set(err, LM_EFORMAT, "%s: header size %u, expected %d", what, hbytes,
                          KNN_HEADER_BYTES);
    }
    if (fsize != ix->len) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: %s index file: header says %llu bytes, file has %zu", what,
                          fsize > ix->len ? "truncated" : "oversized", (unsigned long long)fsize,
                          ix->len);
    }
    if (dim < 1 || dim > KNN_MAX_DIM) {
        return lm_err_set(err, LM_EFORMAT, "%s: descriptor size %u out of range 1..%d", what,
                          dim, KNN_MAX_DIM);
    }
    if (expect_dim > 0 && (int)dim != expect_dim) {
        return lm_err_set(err, LM_EFORMAT,
                          "%s: descriptor size %u, expected %d (index built from other "
                          "descriptors)",
                          what, dim, expect_dim);
    }
    if (metric != KNN_METRIC_L2 && metric != KNN_METRIC_IP) {
        return lm_err_set(err, LM_EFORMAT, "%s: unknown metric %u (1 = L2, 2 = IP)", what,
                          metric);
    }
    if (kind != KNN_KIND_EXACT && kind != KNN_KIND_IVF) {
        return lm_err_set(err, LM_EFORMAT, "%s: unknown index kind %u (1 = exact, 2 = IVF)",
                          what, kind);
    }
    if ((kind == KNN_KIND_IVF) != (nlist > 0) || (nlist > 0 && nlist > n)) {
        return lm_err_set(err, LM_EFORMAT, "%s: nlist %u inconsistent with kind %u, count %llu",
                          what, nlist, kind, (unsigned long long)n);
    }
    if (n > ((uint64_t)1 << 40) / dim) {
        return lm_err_set(err, LM_EFORMAT, "%s: implausible entry count %llu", what,
                          (unsigned long long)n);
    }
    knn_layout L;
    L.vec = rd64(h + 48);
    L.norms = rd64(h + 56);
    L.rowids = rd64(h + 64);
    L.labels = rd64(h + 72);
    L.keyoff = rd64(h + 80);
    L.keys = rd64(h + 88);
    L.cent = rd64(h + 96);
    L.lists = rd64(h + 104);
    struct {
        const char *name;
        uint64_t off, bytes;
    } sec[] = {
        {"vectors", L.vec, n * dim * 4},     {"norms", L.norms, n * 4},
        {"row ids", L.rowids, n * 8},        {"labels", L.labels, n * 4},
        {"key index", L.keyoff, (n + 1) * 8}, {"centroids", L.cent, (uint64_t)nlist * dim * 4},
        {"lists", L.lists, ((uint64_t)nlist + 1) * 8},
    };
    int nsec = nlist > 0 ? 7 : 5;
    for (int i = 0; i < nsec; i++) {
        if (!section_ok(sec[i].off, sec[i].bytes, fsize)) {
            return lm_err_set(err, LM_EFORMAT,
                              "%s: section %s at offset %llu (+%llu bytes) outside the file "
                              "(%llu bytes) or misaligned",
                              what, sec[i].name, (unsigned long long)sec[i].off,
                              (unsigned long long)sec[i].bytes, (unsigned long long)fsize);
        }
    }
    ix->dim = (int)dim;
    ix->metric = (enum knn_metric)metric;
    ix->kind = (enum knn_kind)kind;
    ix->flags = flags;
    ix->n = (size_t)n;
    ix->nlist = (int)nlist;
    ix->vecs = (const float *)(ix->base + L.vec);
    ix->norms = (const float *)(ix->base + L.norms);
    ix->rowids = (const uint64_t *)(ix->base + L.rowids);
    ix->labels = (const int32_t *)(ix->base + L.labels);
    ix->keyoff = (const uint64_t *)(ix->base + L.keyoff);
    ix->cent = nlist > 0 ? (const float *)(ix->base + L.cent) : NULL;
    ix->lists = nlist > 0 ? (const uint64_t *)(ix->base + L.lists) : NULL;
    /* Keys: offsets increasing, inside the blob, each key NUL-terminated. */
    uint64_t kb = ix->keyoff[n];
    if (L.keys < KNN_HEADER_BYTES || L.keys % 64 != 0 || L.keys > fsize || kb > fsize - L.keys) {
        return lm_err_set(err, LM_EFORMAT, "%s: key blob at offset %llu (+%llu) outside the file",
                          what, (unsigned long long)L.keys, (unsigned long long)kb);
    }
    ix->keys = (const char *)(ix->base + L.keys);
    ix->keys_len = (size_t)kb;
    if (ix->keyoff[0] != 0) {
        return lm_err_set(err, LM_EFORMAT, "%s: key index does not start at 0", what);
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t a = ix->keyoff[i], b = ix->keyoff[i + 1];
        if (b <= a || b > kb || ix->keys[b - 1] != '\0') {
            return lm_err_set(err, LM_EFORMAT, "%s: key %llu: bad offsets %llu..%llu (blob %llu)",
                              what, (unsigned long long)i, (unsigned long long)a,
                              (unsigned long long)b, (unsigned long long)kb);
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        if (ix->rowids[i] >= n) {
            return lm_err_set(err, LM_EFORMAT, "%s: row %llu: entry id %llu out of range", what,
                              (unsigned long long)i, (unsigned long long)ix->rowids[i]);
        }
    }
    if (nlist > 0) {
        if (ix->lists[0] != 0 || ix->lists[nlist] != n) {
            return lm_err_set(err, LM_EFORMAT, "%s: IVF lists do not cover rows 0..%llu", what,
                              (unsigned long long)n);
        }
        for (uint32_t l = 0; l < nlist; l++) {
            if (ix->lists[l + 1] < ix->lists[l]) {
                return lm_err_set(err, LM_EFORMAT, "%s: IVF list %u has a negative length",
                                  what, l);
            }
        }
        ix->cnorms = malloc((size_t)nlist * sizeof *ix->cnorms);
        if (ix->cnorms == NULL) {
            return lm_err_set(err, -ENOMEM, "%s: out of memory", what);
        }
        knn__row_norms(ix->cent, nlist, (int)dim, ix->cnorms);
    }
    snprintf(ix->path, sizeof ix->path, "%s", what);
    return 0;
}

/* ---- create / save / load / close --------------------------------------- */

int knn_index_create(knn_index **out, const float *vecs, size_t n, int dim,
                     enum knn_metric metric, enum knn_kind kind, const char *const *keys,
                     const int32_t *labels, const float *centroids, int nlist,
                     const int32_t *assign, uint32_t flags, lm_err *err)
{
    *out = NULL;
    if (dim < 1 || dim > KNN_MAX_DIM) {
        return lm_err_set(err, LM_ESHAPE, "index: descriptor size %d out of range 1..%d", dim,
                          KNN_MAX_DIM);
    }
    if (metric != KNN_METRIC_L2 && metric != KNN_METRIC_IP) {
        return lm_err_set(err, LM_ESHAPE, "index: unknown metric %d", (int)metric);
    }
    if (kind == KNN_KIND_EXACT) {
        nlist = 0;
    } else if (kind != KNN_KIND_IVF || centroids == NULL || nlist < 1 || (size_t)nlist > n) {
        return lm_err_set(err, LM_ESHAPE,
                          "index: IVF needs 1 <= nlist <= count and centroids (nlist %d, "
                          "count %zu)",
                          nlist, n);
    }
    int64_t bad = knn__first_nonfinite(vecs, n, dim);
    if (bad >= 0) {
        return lm_err_set(err, LM_ENUMERIC, "index: vector %lld (key %s) has NaN/Inf",
                          (long long)bad, keys ? keys[bad] : "-");
    }
    if (nlist > 0 && (bad = knn__first_nonfinite(centroids, (size_t)nlist, dim)) >= 0) {
        return lm_err_set(err, LM_ENUMERIC, "index: centroid %lld has NaN/Inf", (long long)bad);
    }
    int rc = 0;
    int32_t *own_assign = NULL;
    uint64_t *order = NULL;
    knn_index *ix = calloc(1, sizeof *ix);
    if (ix == NULL) {
        return lm_err_set(err, -ENOMEM, "index: out of memory");
    }
    uint64_t keys_bytes = 0;
    char num[32];
    for (size_t i = 0; i < n; i++) {
        keys_bytes += keys ? strlen(keys[i]) + 1
                           : (uint64_t)snprintf(num, sizeof num, "%zu", i) + 1;
    }
    knn_layout L;
    layout_compute(&L, n, (uint64_t)dim, (uint64_t)nlist, keys_bytes);
    ix->len = (size_t)L.size;
    ix->base = aligned_alloc(64, ix->len);
    if (ix->base == NULL) {
        rc = lm_err_set(err, -ENOMEM, "index: out of memory for %zu bytes", ix->len);
        goto fail;
    }
    /* Zero all but the vectors (written in full below): header, padding, and
     * the sections filled sparsely. */
    memset(ix->base, 0, KNN_HEADER_BYTES);
    memset(ix->base + L.vec + (uint64_t)n * (uint64_t)dim * 4, 0,
           ix->len - (size_t)(L.vec + (uint64_t)n * (uint64_t)dim * 4));
    uint8_t *h = ix->base;
    memcpy(h, KNN_MAGIC, 8);
    wr32(h + 8, KNN_VERSION);
    wr32(h + 12, KNN_HEADER_BYTES);
    wr32(h + 16, (uint32_t)dim);
    wr32(h + 20, (uint32_t)metric);
    wr32(h + 24, (uint32_t)kind);
    wr32(h + 28, flags);
    wr64(h + 32, n);
    wr32(h + 40, (uint32_t)nlist);
    wr64(h + 48, L.vec);
    wr64(h + 56, L.norms);
    wr64(h + 64, L.rowids);
    wr64(h + 72, L.labels);
    wr64(h + 80, L.keyoff);
    wr64(h + 88, L.keys);
    wr64(h + 96, L.cent);
    wr64(h + 104, L.lists);
    wr64(h + 112, L.size);

    /* Row order: entry order for exact; grouped by list (stable) for IVF. */
    order = malloc((n ? n : 1) * sizeof *order);
    if (order == NULL) {
        rc = lm_err_set(err, -ENOMEM, "index: out of memory");
        goto fail;
    }
    if (nlist > 0) {
        if (assign == NULL) {
            own_assign = malloc((n ? n : 1) * sizeof *own_assign);
            if (own_assign == NULL) {
                rc = lm_err_set(err, -ENOMEM, "index: out of memory");
                goto fail;
            }
            rc = ivf_assign(vecs, n, dim, centroids, nlist, own_assign, err);
            if (rc != 0) {
                goto fail;
            }
            assign = own_assign;
        }
        uint64_t *lists = (uint64_t *)(ix->base + L.lists);
        for (size_t i = 0; i < n; i++) {
            if (assign[i] < 0 || assign[i] >= nlist) {
                rc = lm_err_set(err, LM_ESHAPE, "index: vector %zu assigned to list %d of %d", i,
                                assign[i], nlist);
                goto fail;
            }
            lists[assign[i] + 1]++;
        }
        for (int l = 0; l < nlist; l++) {
            lists[l + 1] += lists[l];
        }
        /* Stable counting sort by list number. */
        uint64_t *fill = malloc((size_t)nlist * sizeof *fill);
        if (fill == NULL) {
            rc = lm_err_set(err, -ENOMEM, "index: out of memory");
            goto fail;
        }
        memcpy(fill, lists, (size_t)nlist * sizeof *fill);
        for (size_t i = 0; i < n; i++) {
            order[fill[assign[i]]++] = i;
        }
        free(fill);
        memcpy(ix->base + L.cent, centroids, (size_t)nlist * (size_t)dim * 4);
    } else {
        for (size_t i = 0; i < n; i++) {
            order[i] = i;
        }
    }
    float *v = (float *)(ix->base + L.vec);
    uint64_t *rowids = (uint64_t *)(ix->base + L.rowids);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < (int64_t)n; r++) {
        memcpy(v + (size_t)r * (size_t)dim, vecs + order[r] * (size_t)dim, (size_t)dim * 4);
        rowids[r] = order[r];
    }
    knn__row_norms(v, n, dim, (float *)(ix->base + L.norms));
    int32_t *lab = (int32_t *)(ix->base + L.labels);
    uint64_t *ko = (uint64_t *)(ix->base + L.keyoff);
    char *kb = (char *)(ix->base + L.keys);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        lab[i] = labels ? labels[i] : -1;
        ko[i] = pos;
        if (keys) {
            size_t kl = strlen(keys[i]) + 1;
            memcpy(kb + pos, keys[i], kl);
            pos += kl;
        } else {
            pos += (uint64_t)snprintf(kb + pos, sizeof num, "%zu", i) + 1;
        }
    }
    ko[n] = pos;
    rc = knn_bind(ix, "index (in memory)", 0, err);
    if (rc != 0) {
        goto fail;
    }
    free(order);
    free(own_assign);
    *out = ix;
    return 0;
fail:
    free(order);
    free(own_assign);
    knn_index_close(ix);
    return rc;
}

int knn_index_save(const knn_index *ix, const char *path, lm_err *err)
{
    return knn__write_file(path, ix->base, ix->len, err);
}

int knn_index_load(knn_index **out, const char *path, int expect_dim, lm_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        return lm_err_set(err, e == ENOENT ? LM_EMISSING : -e, "%s: cannot open index: %s", path,
                          strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lm_err_set(err, -e, "%s: stat failed: %s", path, strerror(e));
    }
    knn_index *ix = calloc(1, sizeof *ix);
    if (ix == NULL) {
        close(fd);
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    ix->len = (size_t)st.st_size;
    if (ix->len == 0) {
        close(fd);
        knn_index_close(ix);
        return lm_err_set(err, LM_EFORMAT, "%s: truncated index file: empty", path);
    }
    void *m = mmap(NULL, ix->len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        int e = errno;
        free(ix);
        return lm_err_set(err, -e, "%s: mmap failed: %s", path, strerror(e));
    }
    ix->base = m;
    ix->mapped = 1;
    int rc = knn_bind(ix, path, expect_dim, err);
    if (rc != 0) {
        knn_index_close(ix);
        return rc;
    }
    *out = ix;
    return 0;
}

void knn_index_close(knn_index *ix)
{
    if (ix == NULL) {
        return;
    }
    if (ix->base != NULL) {
        if (ix->mapped) {
            munmap(ix->base, ix->len);
        } else {
            free(ix->base);
        }
    }
    free(ix->cnorms);
    free(ix);
}

int knn_index_dim(const knn_index *ix)
{
    return ix->dim;
}

size_t knn_index_count(const knn_index *ix)
{
    return ix->n;
}

enum knn_metric knn_index_metric(const knn_index *ix)
{
    return ix->metric;
}

enum knn_kind knn_index_kind(const knn_index *ix)
{
    return ix->kind;
}

uint32_t knn_index_flags(const knn_index *ix)
{
    return ix->flags;
}

int knn_index_nlist(const knn_index *ix)
{
    return ix->nlist;
}

const char *knn_index_key(const knn_index *ix, int64_t id)
{
    if (id < 0 || (uint64_t)id >= ix->n) {
        return NULL;
    }
    return ix->keys + ix->keyoff[id];
}

int32_t knn_index_label(const knn_index *ix, int64_t id)
{
    if (id < 0 || (uint64_t)id >= ix->n) {
        return -1;
    }
    return ix->labels[id];
}

int knn_index_vector(const knn_index *ix, int64_t id, float *out, lm_err *err)
{
    if (id < 0 || (uint64_t)id >= ix->n) {
        return lm_err_set(err, LM_ESHAPE, "%s: entry %lld out of range (count %zu)", ix->path,
                          (long long)id, ix->n);
    }
    for (size_t r = 0; r < ix->n; r++) {
        if (ix->rowids[r] == (uint64_t)id) {
            memcpy(out, ix->vecs + r * (size_t)ix->dim, (size_t)ix->dim * 4);
            return 0;
        }
    }
    return lm_err_set(err, LM_EFORMAT, "%s: entry %lld has no stored row", ix->path,
                      (long long)id);
}

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
        nprobe = KNN_DEFAULT_NPROBE;
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
