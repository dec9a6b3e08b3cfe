/*
 * lm_store.h - a rank's LMDB shard: named databases keyed by item key, and the
 * small fixed header in front of every value.
 *
 * One writer per environment, always (DESIGN section 4): each rank opens its own
 * shard directory OUTDIR/shards/<run>-rank<N>/. Writes are batched: records are
 * collected in an lm_batch and committed in one transaction, so a chunk is either
 * wholly on disk or not at all. When LMDB reports MDB_MAP_FULL the store doubles
 * the map size and replays the batch; the caller never sees it.
 *
 * Value layout (little-endian, 32 bytes, then raw data):
 *   offset 0  char[4]  magic "LMV1"
 *          4  u16      version (1)
 *          6  u8       dtype (lm_dtype)
 *          7  u8       ndim (0..4)
 *          8  u32      rank that wrote it
 *         12  u32[4]   dims (unused dims are 1)
 *         28  u32      payload bytes
 *         32  data     dims[0]*...*dims[ndim-1] elements of dtype, C order
 * A JSON value (dtype LM_DT_JSON) is UTF-8 text with ndim 1, dims[0] = bytes.
 */
#ifndef LM_STORE_H
#define LM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

enum lm_dtype { LM_DT_F32 = 1, LM_DT_U8 = 2, LM_DT_I32 = 3, LM_DT_F64 = 4, LM_DT_JSON = 5 };

/* Named databases of a shard (DESIGN section 4). */
enum lm_db {
    LM_DB_META = 0, /* JSON: status ok|failed, reason, stage timings, losses, ... */
    LM_DB_LATENT,   /* f32 [1 x w_dim] or [num_ws x w_dim] */
    LM_DB_EMBED,    /* f32 [128] face descriptor */
    LM_DB_SCORES,   /* f32 expression probs (7), age, gender */
    LM_DB_LABELS,   /* i32 dataset labels */
    LM_DB_PIXELS,   /* u8 [H x W x 3] resized image */
    LM_DB_MATCHES,  /* kNN join results */
    LM_DB_COUNT
};

#define LM_VALUE_MAGIC "LMV1"
#define LM_VALUE_VERSION 1
#define LM_VALUE_HDR 32

typedef struct lm_value {
    enum lm_dtype dtype;
    int ndim;
    uint32_t rank;
    uint32_t dims[4];
    const void *data; /* borrowed view into the payload */
    size_t nbytes;    /* payload bytes */
} lm_value;

/* Name of a database ("meta", "latent", ...), or NULL for an invalid id. */
const char *lm_db_name(enum lm_db db);
/* Parse a database name; returns the id or -1. */
int lm_db_from_name(const char *name);
/* Bytes per element of a dtype (JSON counts as 1). */
size_t lm_dtype_size(enum lm_dtype dt);

/* Encode header + data into out (capacity cap). Returns bytes written, or a
 * negative code (-ENOSPC if cap is too small, LM_EFORMAT for bad dims). */
int64_t lm_value_encode(void *out, size_t cap, const lm_value *v);
/* Decode a stored value; v->data points into buf. LM_EFORMAT names what is wrong. */
int lm_value_decode(lm_value *v, const void *buf, size_t len, lm_err *err);

typedef struct lm_store lm_store;
typedef struct lm_batch lm_batch;

/* Open (creating when !readonly) the shard directory dir. OUT *out: close with
 * lm_store_close. Errors: -errno, LM_ESTORE (message has mdb_strerror text). */
int lm_store_open(lm_store **out, const char *dir, int readonly, lm_err *err);
void lm_store_close(lm_store *s); /* accepts NULL */

/* A write batch: records copied in, committed together. */
int lm_batch_create(lm_batch **out);
void lm_batch_free(lm_batch *b);
void lm_batch_clear(lm_batch *b);
size_t lm_batch_count(const lm_batch *b);
/* Copy a record into the batch. Errors: -ENOMEM, LM_EFORMAT. */
int lm_batch_put(lm_batch *b, enum lm_db db, const char *key, const lm_value *v);
/* Convenience: a JSON text value. */
int lm_batch_put_json(lm_batch *b, enum lm_db db, const char *key, const char *json, uint32_t rank);

/* Write every record of b in one transaction; grows the map on MDB_MAP_FULL and
 * replays. Errors: LM_ESTORE, -ENOSPC (disk full). On error nothing is written. */
int lm_store_commit(lm_store *s, const lm_batch *b, lm_err *err);

/* The same for several batches written in one transaction (NULL entries are
 * skipped). */
int lm_store_commit_many(lm_store *s, const lm_batch *const *b, int nb, lm_err *err);

/* Look up one record. Returns 0 and fills *v (copied into a buffer that stays
 * valid until the next call on s), 1 if the key is absent, negative on error. */
int lm_store_get(lm_store *s, enum lm_db db, const char *key, lm_value *v, lm_err *err);

/* Visit every record of db in key order; the callback's key/value views are
 * valid only during the call. A non-zero return from cb stops the walk and is
 * returned. */
typedef int (*lm_store_visit_fn)(const char *key, size_t keylen, const lm_value *v, void *user);
int lm_store_foreach(lm_store *s, enum lm_db db, lm_store_visit_fn cb, void *user, lm_err *err);

/* Number of records in db (0 when the db does not exist yet). */
int lm_store_count(lm_store *s, enum lm_db db, size_t *out, lm_err *err);

#endif
