/*
 * lm_store.c - a rank's LMDB shard (see lm_store.h). One environment per
 * rank, one writer, every named database opened once at open time. Batches
 * commit in one transaction; MDB_MAP_FULL doubles the map and replays.
 */
#include "shared/lm_store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shared/lm_io.h"
#include "shared/lm_log.h"

static const char *const db_names[LM_DB_COUNT] = {"meta",   "latent", "embed",  "scores",
                                                  "labels", "pixels", "matches"};

const char *lm_db_name(enum lm_db db)
{
    return (int)db >= 0 && db < LM_DB_COUNT ? db_names[db] : NULL;
}

int lm_db_from_name(const char *name)
{
    for (int i = 0; i < LM_DB_COUNT; i++) {
        if (strcmp(name, db_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

size_t lm_dtype_size(enum lm_dtype dt)
{
    switch (dt) {
    case LM_DT_F32: return 4;
    case LM_DT_U8: return 1;
    case LM_DT_I32: return 4;
    case LM_DT_F64: return 8;
    case LM_DT_JSON: return 1;
    }
    return 0;
}

static void put_u16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}
static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int value_payload(const lm_value *v, size_t *bytes)
{
    size_t es = lm_dtype_size(v->dtype);
    if (es == 0 || v->ndim < 0 || v->ndim > 4) {
        return LM_EFORMAT;
    }
    size_t n = 1;
    for (int i = 0; i < v->ndim; i++) {
        n *= v->dims[i];
    }
    *bytes = n * es;
    return 0;
}

int64_t lm_value_encode(void *out, size_t cap, const lm_value *v)
{
    size_t bytes = 0;
    if (value_payload(v, &bytes) != 0 || bytes != v->nbytes || bytes > UINT32_MAX) {
        return LM_EFORMAT;
    }
    if (cap < LM_VALUE_HDR + bytes) {
        return -ENOSPC;
    }
    unsigned char *p = out;
    memcpy(p, LM_VALUE_MAGIC, 4);
    put_u16(p + 4, LM_VALUE_VERSION);
    p[6] = (unsigned char)v->dtype;
    p[7] = (unsigned char)v->ndim;
    put_u32(p + 8, v->rank);
    for (int i = 0; i < 4; i++) {
        put_u32(p + 12 + 4 * i, i < v->ndim ? v->dims[i] : 1);
    }
    put_u32(p + 28, (uint32_t)bytes);
    /* x86-64 and aarch64 are little-endian, so float payloads are copied as is. */
    if (bytes > 0) {
        memcpy(p + LM_VALUE_HDR, v->data, bytes);
    }
    return (int64_t)(LM_VALUE_HDR + bytes);
}

int lm_value_decode(lm_value *v, const void *buf, size_t len, lm_err *err)
{
    const unsigned char *p = buf;
    memset(v, 0, sizeof *v);
    if (len < LM_VALUE_HDR || memcmp(p, LM_VALUE_MAGIC, 4) != 0) {
        return lm_err_set(err, LM_EFORMAT, "value of %zu bytes has no LMV1 header", len);
    }
    if (get_u16(p + 4) != LM_VALUE_VERSION) {
        return lm_err_set(err, LM_EFORMAT, "value version %u unsupported", get_u16(p + 4));
    }
    v->dtype = (enum lm_dtype)p[6];
    v->ndim = p[7];
    v->rank = get_u32(p + 8);
    for (int i = 0; i < 4; i++) {
        v->dims[i] = get_u32(p + 12 + 4 * i);
    }
    size_t bytes = 0;
    if (value_payload(v, &bytes) != 0 || bytes != get_u32(p + 28) ||
        len != LM_VALUE_HDR + bytes) {
        return lm_err_set(err, LM_EFORMAT, "value header (dtype %d, ndim %d) does not match %zu bytes",
                          (int)v->dtype, v->ndim, len);
    }
    v->data = p + LM_VALUE_HDR;
    v->nbytes = bytes;
    return 0;
}

/* ---- batches ---- */

typedef struct rec {
    int db;
    size_t key_off, key_len, val_off, val_len;
} rec;

struct lm_batch {
    rec *r;
    size_t n, cap;
    unsigned char *buf;
    size_t used, bufcap;
};

int lm_batch_create(lm_batch **out)
{
    *out = calloc(1, sizeof **out);
    return *out != NULL ? 0 : -ENOMEM;
}

void lm_batch_free(lm_batch *b)
{
    if (b != NULL) {
        free(b->r);
        free(b->buf);
        free(b);
    }
}

void lm_batch_clear(lm_batch *b)
{
    b->n = 0;
    b->used = 0;
}

size_t lm_batch_count(const lm_batch *b) { return b->n; }

static int batch_reserve(lm_batch *b, size_t more)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        rec *r = realloc(b->r, nc * sizeof *r);
        if (r == NULL) {
            return -ENOMEM;
        }
        b->r = r;
        b->cap = nc;
    }
    if (b->used + more > b->bufcap) {
        size_t nc = b->bufcap ? b->bufcap : 65536;
        while (nc < b->used + more) {
            nc *= 2;
        }
        unsigned char *p = realloc(b->buf, nc);
        if (p == NULL) {
            return -ENOMEM;
        }
        b->buf = p;
        b->bufcap = nc;
    }
    return 0;
}

int lm_batch_put(lm_batch *b, enum lm_db db, const char *key, const lm_value *v)
{
    size_t bytes = 0;
    if ((int)db < 0 || db >= LM_DB_COUNT || value_payload(v, &bytes) != 0 || key[0] == '\0') {
        return LM_EFORMAT;
    }
    size_t kl = strlen(key);
    if (kl > 511) { /* LMDB's default maximum key size */
        return LM_EFORMAT;
    }
    int rc = batch_reserve(b, kl + LM_VALUE_HDR + bytes);
    if (rc != 0) {
        return rc;
    }
    rec *r = &b->r[b->n];
    r->db = (int)db;
    r->key_off = b->used;
    r->key_len = kl;
    memcpy(b->buf + b->used, key, kl);
    b->used += kl;
    int64_t n = lm_value_encode(b->buf + b->used, b->bufcap - b->used, v);
    if (n < 0) {
        return (int)n;
    }
    r->val_off = b->used;
    r->val_len = (size_t)n;
    b->used += (size_t)n;
    b->n++;
    return 0;
}

int lm_batch_put_json(lm_batch *b, enum lm_db db, const char *key, const char *json, uint32_t rank)
{
    lm_value v = {LM_DT_JSON, 1, rank, {(uint32_t)strlen(json), 1, 1, 1}, json, strlen(json)};
    return lm_batch_put(b, db, key, &v);
}

/* ---- the store ---- */

struct lm_store {
    MDB_env *env;
    MDB_dbi dbi[LM_DB_COUNT];
    int have[LM_DB_COUNT];
    int readonly;
    size_t mapsize;
    char *dir;
    void *getbuf;
    size_t getcap;
};

static int store_fail(lm_err *err, int mrc, const char *dir, const char *what)
{
    int code = mrc > 0 ? -mrc : LM_ESTORE; /* LMDB returns errno values > 0 too */
    if (mrc == ENOSPC) {
        code = -ENOSPC;
    }
    return lm_err_set(err, code, "%s: LMDB %s: %s", dir, what, mdb_strerror(mrc));
}

static int open_dbis(lm_store *s, lm_err *err)
{
    MDB_txn *txn = NULL;
    int mrc = mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn);
    if (mrc != 0) {
        return store_fail(err, mrc, s->dir, "begin");
    }
    for (int i = 0; i < LM_DB_COUNT; i++) {
        mrc = mdb_dbi_open(txn, db_names[i], s->readonly ? 0 : MDB_CREATE, &s->dbi[i]);
        if (mrc == MDB_NOTFOUND && s->readonly) {
            s->have[i] = 0;
            continue;
        }
        if (mrc != 0) {
            mdb_txn_abort(txn);
            return store_fail(err, mrc, s->dir, "open database");
        }
        s->have[i] = 1;
    }
    mrc = mdb_txn_commit(txn);
    if (mrc != 0) {
        return store_fail(err, mrc, s->dir, "commit");
    }
    return 0;
}

int lm_store_open(lm_store **out, const char *dir, int readonly, lm_err *err)
{
    *out = NULL;
    int rc = 0;
    lm_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        return lm_err_set(err, -ENOMEM, "%s: out of memory", dir);
    }
    s->readonly = readonly;
    if (!readonly) {
        rc = lm_io_mkdirs(dir, err);
        if (rc != 0) {
            goto fail;
        }
    } else {
        struct stat st;
        if (stat(dir, &st) != 0) {
            rc = lm_err_set(err, -errno, "%s: no such shard", dir);
            goto fail;
        }
    }
    int mrc = mdb_env_create(&s->env);
    if (mrc != 0) {
        rc = store_fail(err, mrc, dir, "env create");
        goto fail;
    }
    mdb_env_set_maxdbs(s->env, LM_DB_COUNT + 4);
    s->mapsize = (size_t)64 << 20;
    if (!readonly) {
        mdb_env_set_mapsize(s->env, s->mapsize);
    }
    /* MDB_NOTLS: transactions are not tied to threads (reduce uses OpenMP). */
    mrc = mdb_env_open(s->env, dir, (readonly ? MDB_RDONLY : 0) | MDB_NOTLS, 0644);
    if (mrc != 0) {
        rc = store_fail(err, mrc, dir, "open");
        goto fail;
    }
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->mapsize) {
        s->mapsize = info.me_mapsize;
    }
    rc = open_dbis(s, err);
    if (rc != 0) {
        goto fail;
    }
    *out = s;
    return 0;
fail:
    lm_store_close(s);
    return rc;
}

void lm_store_close(lm_store *s)
{
    if (s == NULL) {
        return;
    }
    if (s->env != NULL) {
        mdb_env_close(s->env);
    }
    free(s->getbuf);
    free(s->dir);
    free(s);
}

int lm_store_commit(lm_store *s, const lm_batch *b, lm_err *err)
{
    return lm_store_commit_many(s, &b, 1, err);
}

int lm_store_commit_many(lm_store *s, const lm_batch *const *bs, int nb, lm_err *err)
{
    if (s->readonly) {
        return lm_err_set(err, LM_ESTORE, "%s: shard opened read-only", s->dir);
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        MDB_txn *txn = NULL;
        int mrc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (mrc != 0) {
            return store_fail(err, mrc, s->dir, "begin");
        }
        for (int j = 0; j < nb && mrc == 0; j++) {
            const lm_batch *b = bs[j];
            for (size_t i = 0; b != NULL && i < b->n && mrc == 0; i++) {
                const rec *r = &b->r[i];
                MDB_val k = {r->key_len, b->buf + r->key_off};
                MDB_val v = {r->val_len, b->buf + r->val_off};
                mrc = mdb_put(txn, s->dbi[r->db], &k, &v, 0);
            }
        }
        int fault = lm_io_fault_check();
        if (mrc == 0 && fault != 0) {
            mdb_txn_abort(txn);
            return lm_err_set(err, -fault, "%s: LMDB commit: %s (injected)", s->dir,
                              strerror(fault));
        }
        if (mrc == 0) {
            mrc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        if (mrc == 0) {
            return 0;
        }
        if (mrc != MDB_MAP_FULL) {
            return store_fail(err, mrc, s->dir, "write");
        }
        /* Grow the map and replay the whole batch: no transaction is open now. */
        size_t want = s->mapsize * 2;
        mrc = mdb_env_set_mapsize(s->env, want);
        if (mrc != 0) {
            return store_fail(err, mrc, s->dir, "grow map");
        }
        lm_log(LM_LOG_DEBUG, "%s: map grown to %zu MiB", s->dir, want >> 20);
        s->mapsize = want;
    }
    return lm_err_set(err, LM_ESTORE, "%s: batch does not fit even after growing the map",
                      s->dir);
}

int lm_store_get(lm_store *s, enum lm_db db, const char *key, lm_value *v, lm_err *err)
{
    if ((int)db < 0 || db >= LM_DB_COUNT || !s->have[db]) {
        return 1;
    }
    MDB_txn *txn = NULL;
    int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0) {
        return store_fail(err, mrc, s->dir, "begin");
    }
    MDB_val k = {strlen(key), (void *)key}, d;
    mrc = mdb_get(txn, s->dbi[db], &k, &d);
    int rc = 0;
    if (mrc == MDB_NOTFOUND) {
        rc = 1;
    } else if (mrc != 0) {
        rc = store_fail(err, mrc, s->dir, "get");
    } else {
        if (d.mv_size > s->getcap) {
            void *p = realloc(s->getbuf, d.mv_size);
            if (p == NULL) {
                mdb_txn_abort(txn);
                return lm_err_set(err, -ENOMEM, "%s: out of memory", s->dir);
            }
            s->getbuf = p;
            s->getcap = d.mv_size;
        }
        memcpy(s->getbuf, d.mv_data, d.mv_size);
        rc = lm_value_decode(v, s->getbuf, d.mv_size, err);
        if (rc != 0) {
            lm_err_prefix(err, "%s: [%s] %s: ", s->dir, db_names[db], key);
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

int lm_store_foreach(lm_store *s, enum lm_db db, lm_store_visit_fn cb, void *user, lm_err *err)
{
    if ((int)db < 0 || db >= LM_DB_COUNT || !s->have[db]) {
        return 0;
    }
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0) {
        return store_fail(err, mrc, s->dir, "begin");
    }
    int rc = 0;
    mrc = mdb_cursor_open(txn, s->dbi[db], &cur);
    if (mrc != 0) {
        rc = store_fail(err, mrc, s->dir, "cursor");
        goto txn_abort;
    }
    MDB_val k, d;
    char key[512];
    for (mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        lm_value v;
        size_t kl = k.mv_size < sizeof key - 1 ? k.mv_size : sizeof key - 1;
        memcpy(key, k.mv_data, kl);
        key[kl] = '\0';
        rc = lm_value_decode(&v, d.mv_data, d.mv_size, err);
        if (rc != 0) {
            lm_err_prefix(err, "%s: [%s] %s: ", s->dir, db_names[db], key);
            break;
        }
        rc = cb(key, kl, &v, user);
        if (rc != 0) {
            break;
        }
    }
    if (rc == 0 && mrc != MDB_NOTFOUND && mrc != 0) {
        rc = store_fail(err, mrc, s->dir, "cursor walk");
    }
    mdb_cursor_close(cur);
txn_abort:
    mdb_txn_abort(txn);
    return rc;
}

int lm_store_count(lm_store *s, enum lm_db db, size_t *out, lm_err *err)
{
    *out = 0;
    if ((int)db < 0 || db >= LM_DB_COUNT || !s->have[db]) {
        return 0;
    }
    MDB_txn *txn = NULL;
    int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (mrc != 0) {
        return store_fail(err, mrc, s->dir, "begin");
    }
    MDB_stat st;
    mrc = mdb_stat(txn, s->dbi[db], &st);
    mdb_txn_abort(txn);
    if (mrc != 0) {
        return store_fail(err, mrc, s->dir, "stat");
    }
    *out = st.ms_entries;
    return 0;
}
