/*
 * index.h - face-descriptor indexes (exact and IVF), identity centroids and the
 * distributed kNN join of the reduce phase (DESIGN section 6, issue 7).
 *
 * Data flow: node/ writes one 128-D descriptor per item into the `embed` db of
 * its shard; the reduce driver hands each rank's descriptors to
 * knn_index_build() (collective), which writes OUTDIR/index/:
 *
 *   images.lmi      every item's descriptor, exact or IVF (metric from the job)
 *   identities.lmi  one entry per identity: the mean of that identity's
 *                   L2-normalised descriptors (not re-normalised); searched
 *                   with L2-normalised queries (header flag KNN_FLAG_NORMQ)
 *   names.tsv       optional: "<identity id>\t<display name>" per line
 *   index.json      what was built (counts, type, nlist, metric, timings)
 *
 * knn_join_run() (collective) then finds, for every item of each rank, its top-k
 * identities and writes them to the `matches` db of that rank's shard.
 *
 * The in-process query API (knn_index_load / knn_index_search /
 * knn_index_close) does not need MPI and is what `latentmill lookalike` and a
 * future server embed. A loaded index is read-only; searches on one index may
 * run concurrently from several threads (each call uses its own scratch).
 *
 * Distances (algorithms.md section 8): KNN_METRIC_L2 reports the plain Euclidean
 * distance ||q - x|| (face-api / dlib convention; threshold ~0.6), computed as
 * ||x||^2 - 2 q.x + ||q||^2 through op_sgemm, then the k winners are re-scored
 * exactly in double precision. KNN_METRIC_IP reports the inner product q.x
 * (larger = closer; for unit vectors ||q-x||^2 = 2 - 2 q.x). Ties are broken by
 * the smaller entry id, so results are deterministic.
 *
 * File format (.lmi, version 1), little-endian, every section 64-byte aligned,
 * mmap-able as is (DESIGN: records on disk are fixed-width, little-endian,
 * versioned). Header, 128 bytes:
 *   off   0 char[8] magic "LMINDEX\0"
 *         8 u32     version (1)
 *        12 u32     header bytes (128)
 *        16 u32     dim (descriptor length, e.g. 128)
 *        20 u32     metric (1 = L2, 2 = inner product)
 *        24 u32     kind (1 = exact, 2 = IVF)
 *        28 u32     flags (bit 0 KNN_FLAG_NORMQ: queries are L2-normalised
 *                   before searching; bit 1 KNN_FLAG_IDENTITY: entries are
 *                   identity centroids)
 *        32 u64     count (entries)
 *        40 u32     nlist (IVF lists; 0 for exact)
 *        44 u32     default nprobe for IVF searches (0: KNN_DEFAULT_NPROBE)
 *        48 u64     offset of vectors   f32[count][dim], in stored-row order
 *                                       (IVF: grouped by list)
 *        56 u64     offset of norms     f32[count], squared norm of each stored row
 *        64 u64     offset of row ids   u64[count], entry id of each stored row
 *        72 u64     offset of labels    i32[count] by entry id (identity id, -1 = none)
 *        80 u64     offset of key index u64[count+1], offsets into the key blob
 *        88 u64     offset of key blob  NUL-terminated UTF-8 keys by entry id
 *        96 u64     offset of centroids f32[nlist][dim] (0 when exact)
 *       104 u64     offset of lists     u64[nlist+1] stored-row ranges (0 when exact)
 *       112 u64     file size in bytes (detects truncation)
 *       120 u64     reserved (0)
 * Entry ids are 0..count-1 in the order the entries were given to the builder
 * (for knn_index_build: rank 0's items, then rank 1's, ...).
 */
#ifndef KNN_INDEX_H
#define KNN_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "shared/lm_err.h"

#define KNN_MAGIC "LMINDEX"
#define KNN_VERSION 1
#define KNN_HEADER_BYTES 128
#define KNN_MAX_DIM 65536

enum knn_metric { KNN_METRIC_L2 = 1, KNN_METRIC_IP = 2 };
enum knn_kind { KNN_KIND_EXACT = 1, KNN_KIND_IVF = 2 };
enum { KNN_FLAG_NORMQ = 1u, KNN_FLAG_IDENTITY = 2u };

/* Defaults (documented in the README (indexes)). nprobe 16 gives recall@10 >= 0.95
 * against exact search on the synthetic identity data of tests/unit/test_index.c
 * (10k identities x 20 samples, nlist = 4 sqrt(N)). */
#define KNN_DEFAULT_K 5
#define KNN_DEFAULT_NPROBE 16
#define KNN_DEFAULT_NITER 10
#define KNN_DEFAULT_MAX_PER_LIST 256 /* k-means trains on at most this x nlist points */

typedef struct knn_index knn_index;

/* ---- configuration ([index] section of a job file) ---------------------- */

typedef struct knn_config {
    enum knn_kind kind;     /* type = exact | ivf                       (exact) */
    enum knn_metric metric; /* metric = l2 | ip                         (l2) */
    int nlist;              /* nlist = N (0: 4 sqrt(count), at least 1)  (0) */
    int nprobe;             /* nprobe = N, default at query time         (16) */
    int niter;              /* kmeans_iters = N                          (10) */
    int max_per_list;       /* kmeans_max_points_per_list = N            (256) */
    uint64_t seed;          /* seed = N                                  (1234) */
    int k;                  /* k = N, neighbours in the join             (5) */
    int precompute;         /* precompute = true|false: run the kNN join (false) */
    int exclude_self;       /* exclude_self = true|false: in the join, skip the
                               item's own identity                       (true) */
    int identities;         /* identities = true|false: build identities.lmi (true) */
    char names[4096];       /* names = FILE: "<id>\t<name>" lines, copied to
                               OUTDIR/index/names.tsv                     ("") */
} knn_config;

/* Fill cfg with the defaults above. */
void knn_config_init(knn_config *cfg);

struct lm_job;
/* Read the [index] section of job into cfg (defaults for absent keys).
 * Errors: LM_ECONFIG with "FILE:LINE: [index] key: why" (from lm_job). */
int knn_config_from_job(knn_config *cfg, struct lm_job *job, lm_err *err);

/* ---- building in memory, saving, loading -------------------------------- */

/* Build an index over n vectors of length dim (row-major, IN, copied).
 *   keys    IN, n strings (copied) or NULL (keys become the decimal entry id)
 *   labels  IN, n identity ids (copied) or NULL (all -1)
 *   kind    KNN_KIND_EXACT, or KNN_KIND_IVF with centroids (IN, nlist x dim,
 *           copied) and assign (IN, n list numbers in [0, nlist), copied; NULL
 *           to assign each vector to its nearest centroid here)
 *   flags   KNN_FLAG_* stored in the header
 * OUT *out, free with knn_index_close. Local (no MPI).
 * Errors: LM_ESHAPE (dim/n/nlist out of range, bad assign), LM_ENUMERIC (NaN or
 * Inf in a vector, names the row), -ENOMEM. */
int knn_index_create(knn_index **out, const float *vecs, size_t n, int dim,
                     enum knn_metric metric, enum knn_kind kind, const char *const *keys,
                     const int32_t *labels, const float *centroids, int nlist,
                     const int32_t *assign, uint32_t flags, lm_err *err);

/* Store the default nprobe of IVF searches in the header (saved with the
 * index; used when knn_search_params.nprobe is 0). nprobe <= 0 clears it.
 * Only for an index from knn_index_create (a loaded one is read-only). */
void knn_index_set_nprobe(knn_index *ix, int nprobe);

/* Write the index to path (written to path.tmp, fsynced, renamed). Errors: -errno
 * naming the file. */
int knn_index_save(const knn_index *ix, const char *path, lm_err *err);

/* Map the file at path read-only and validate it: magic, version, header size,
 * dim (and dim == expect_dim unless expect_dim is 0), metric, kind, section
 * offsets/alignment/bounds, file size (truncation), key blob, lists.
 * OUT *out, free with knn_index_close. Errors: -errno (open/mmap, naming the
 * file), LM_EFORMAT naming the file and what is wrong. */
int knn_index_load(knn_index **out, const char *path, int expect_dim, lm_err *err);

/* Free an index from knn_index_create or knn_index_load. Accepts NULL. */
void knn_index_close(knn_index *ix);

/* Accessors (entry ids are 0..count-1). */
int knn_index_dim(const knn_index *ix);
size_t knn_index_count(const knn_index *ix);
enum knn_metric knn_index_metric(const knn_index *ix);
enum knn_kind knn_index_kind(const knn_index *ix);
uint32_t knn_index_flags(const knn_index *ix);
int knn_index_nlist(const knn_index *ix);
/* The nprobe a search with nprobe 0 uses (stored default or KNN_DEFAULT_NPROBE). */
int knn_index_nprobe(const knn_index *ix);
const char *knn_index_key(const knn_index *ix, int64_t id); /* NULL if out of range */
int32_t knn_index_label(const knn_index *ix, int64_t id);   /* -1 if out of range */
/* Copy entry id's vector into out[dim]; LM_ESHAPE if id is out of range. */
int knn_index_vector(const knn_index *ix, int64_t id, float *out, lm_err *err);

/* ---- searching ---------------------------------------------------------- */

typedef struct knn_search_params {
    int k;        /* results per query (>= 1) */
    int farthest; /* 1: the k farthest instead of the k nearest */
    int nprobe;   /* IVF lists to scan (0: the index's stored default, else
                     KNN_DEFAULT_NPROBE; clamped to nlist);
                     for farthest, the lists with the farthest centroids */
} knn_search_params;

/* Search nq queries (IN, nq x dim row-major). Results, row per query, best
 * first: ids[nq*k] entry ids (-1 when fewer than k entries), dist[nq*k]
 * distances (L2: Euclidean) or inner products (IP); either output may be NULL.
 * Queries are processed in batches (bounded scratch memory; a whole batch
 * shares one GEMM). OpenMP threads (omp_get_max_threads) parallelise the top-k
 * selection and IVF list scans; BLAS threads the big GEMMs. Thread-safe on a
 * shared index.
 * Errors: LM_ESHAPE (k < 1), LM_ENUMERIC (NaN/Inf in a query, names it), -ENOMEM. */
int knn_index_search(const knn_index *ix, const float *queries, size_t nq,
                     const knn_search_params *p, int64_t *ids, float *dist, lm_err *err);

/* ---- distributed k-means (IVF coarse quantizer) ------------------------- */

/* Collective over comm: k-means with nlist centroids over the union of every
 * rank's local vectors (local IN, n_local x dim; the global order is rank 0's
 * rows, then rank 1's, ...). Training uses the global rows whose seeded hash
 * selects them (at most about max_per_list * nlist rows), initial centroids are
 * nlist distinct seeded rows, each iteration assigns points to their nearest
 * centroid and all-reduces per-centroid sums as exact 64-bit fixed-point
 * integers, so the result does not depend on the number of ranks. Empty
 * clusters are re-seeded by splitting the largest one. Stops after niter
 * iterations or when no assignment changes.
 * OUT centroids[nlist*dim] (caller-allocated), identical on every rank.
 * Errors (on every rank alike): LM_ESHAPE (fewer rows than nlist, dims differ
 * between ranks), LM_EMPI, -ENOMEM. */
int ivf_kmeans_train(const float *local, size_t n_local, int dim, int nlist, int niter,
                     int max_per_list, uint64_t seed, MPI_Comm comm, float *centroids,
                     lm_err *err);

/* Local: the nearest centroid of each of n vectors (ties: lower list number).
 * OUT assign[n]. Errors: -ENOMEM. */
int ivf_assign(const float *vecs, size_t n, int dim, const float *centroids, int nlist,
               int32_t *assign, lm_err *err);

/* ---- the reduce driver's entry points ----------------------------------- */

/* Collective over comm: build OUTDIR/index/ from every rank's items.
 *   local_vecs     IN, n_local x dim descriptors of this rank
 *   local_keys     IN, n_local item keys (e.g. "celeba/000001.jpg")
 *   local_identity IN, n_local identity ids (>= 0; -1 = unknown) or NULL
 * Writes images.lmi (cfg->kind; IVF trained with ivf_kmeans_train), and, when
 * cfg->identities and some identity is known, identities.lmi (means of the
 * L2-normalised descriptors per identity, accumulated exactly across ranks),
 * names.tsv (copy of cfg->names, validated) and index.json. Rank 0 gathers the
 * rows and writes the files. Returns the same code on every rank; the message
 * is rank 0's. Errors: LM_ESHAPE (dims differ between ranks, > 2^31-1 floats
 * to gather), LM_ENUMERIC, LM_EFORMAT (names file), LM_EMPI, -errno. */
int knn_index_build(const knn_config *cfg, const float *local_vecs,
                    const char *const *local_keys, const int32_t *local_identity,
                    size_t n_local, int dim, MPI_Comm comm, const char *outdir, lm_err *err);

/* Local: the k best identities of each of n items (vecs IN, n x dim) in an
 * identity index (ident: identities.lmi). With exclude_self, an item whose
 * identity (identity[i], may be NULL) is an entry of the index never gets its
 * own identity. OUT match_id[n*k] identity ids (-1 padding), match_dist[n*k].
 * Errors: as knn_index_search. */
int knn_join_compute(const knn_index *ident, const float *vecs, const int32_t *identity,
                     size_t n, int k, int farthest, int exclude_self, int32_t *match_id,
                     float *match_dist, lm_err *err);

struct lm_store;
/* Collective over comm (after knn_index_build): every rank loads
 * OUTDIR/index/identities.lmi, joins its items (knn_join_compute with cfg->k,
 * cfg->exclude_self) and writes one record per item to LM_DB_MATCHES of its
 * shard (IN: used only during the call): key = item key, value
 * dtype F64 dims [k, 2], row j = (identity id, distance) of the j-th best
 * match, (-1, NaN) padding. Returns the same code on every rank.
 * Errors: as knn_index_load, LM_ESTORE, LM_EMPI. */
int knn_join_run(const knn_config *cfg, const char *outdir, const float *local_vecs,
                 const char *const *local_keys, const int32_t *local_identity,
                 size_t n_local, int dim, struct lm_store *shard, MPI_Comm comm, lm_err *err);

/* ---- names file ---------------------------------------------------------- */

typedef struct knn_names knn_names;
/* Load "<id>\t<name>" lines (UTF-8; '#' comments and blank lines ignored).
 * OUT *out, free with knn_names_free. Errors: -errno, LM_EFORMAT naming file:line. */
int knn_names_load(knn_names **out, const char *path, lm_err *err);
void knn_names_free(knn_names *nm);
/* The display name of identity id, or NULL. */
const char *knn_names_get(const knn_names *nm, int64_t id);

/* ---- .npy helpers (descriptor files for lookalike, test/bench data) ------ */

/* Read a float32 or float64 .npy of shape (dim,) or (n, dim), C order, into a
 * malloc'd float array. OUT *out (free()), *n, *dim. Errors: -errno,
 * LM_EFORMAT naming the file and what is wrong. */
int knn_npy_read_f32(const char *path, float **out, size_t *n, int *dim, lm_err *err);

/* Export the matches of every shard (IN shard_dirs[nshards], opened read-only)
 * sorted by item key: out_npy gets float64 (N, k, 2) rows (identity id,
 * distance) as stored by knn_join_run, out_keys the N keys, one per line.
 * Local. Errors: LM_ESTORE, LM_EFORMAT (a record that is not F64 [k, 2], or k
 * differing between records, naming shard and key), -errno. */
int knn_matches_export(const char *const *shard_dirs, int nshards, const char *out_npy,
                       const char *out_keys, lm_err *err);

#endif
