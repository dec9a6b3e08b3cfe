/*
 * index.c - the .lmi index file (build in memory, save, mmap-load, validate)
 * and exact / IVF search (see index.h for the format and the contracts).
 *
 * An in-memory index and a loaded one share one representation: a single
 * 64-byte-aligned buffer laid out exactly like the file, with typed views
 * bound by knn_bind(). Building fills such a buffer, saving writes it, loading
 * maps it and binds it after validation, so there is one layout code path.
 *
 * Searching is in knn_search.c; the struct is in reduce/internal.h.
 */
#include "reduce/index.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reduce/internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .lmi format is little-endian and mapped as is; port knn_bind for big-endian hosts"
#endif



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
    ix->nprobe = (int)(rd32(h + 44) > (uint32_t)INT32_MAX ? 0 : rd32(h + 44));
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

void knn_index_set_nprobe(knn_index *ix, int nprobe)
{
    if (ix->mapped) {
        return;
    }
    ix->nprobe = nprobe > 0 ? nprobe : 0;
    wr32(ix->base + 44, (uint32_t)ix->nprobe);
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

int knn_index_nprobe(const knn_index *ix)
{
    return ix->nprobe > 0 ? ix->nprobe : KNN_DEFAULT_NPROBE;
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
