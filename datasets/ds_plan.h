/*
 * ds_plan.h - the plan: a dense, stable list of a dataset's items, and the
 * reader that fetches one item's bytes from wherever it lives.
 *
 * First stage of the data flow (DESIGN section 1). Rank 0 enumerates the
 * dataset once into a plan (ds_plan_build), stores it in the output dir and
 * broadcasts it; a rerun reuses the stored plan, so item indices are stable
 * across restarts with any number of ranks.
 *
 * Sources (this module; named dataset layouts such as CelebA build on it):
 *   - a folder tree of files, walked recursively in sorted order;
 *   - a zip or tar archive read with libarchive without extracting it. The
 *     plan records each entry's header offset, so a node opens the archive at
 *     that offset and reads just that entry: no rank scans the whole archive
 *     (compressed tarballs, which cannot be entered mid-stream, are read from
 *     the start, skipping entries).
 * Hidden files (".name") and macOS "__MACOSX/" entries are left out; every
 * other regular file is an item, and one that is not an image fails at decode
 * with that reason.
 *
 * On-disk format (little-endian, versioned): a 48-byte header
 *   char[8] "LMPLAN\0\1", u32 version, u32 source kind, u64 count,
 *   u64 blob bytes, u64 root offset in blob, u32 root length, u32 reserved
 * then count 48-byte records
 *   u64 key offset, u32 key length, u32 flags, u64 entry offset, u64 size,
 *   u64 extra offset, u32 extra length, u32 reserved
 * then the blob of strings (keys, root path, per-item extra bytes).
 */
#ifndef DS_PLAN_H
#define DS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

enum ds_source_kind { DS_SRC_FOLDER = 1, DS_SRC_ARCHIVE = 2 };

typedef struct ds_item {
    const char *key;    /* "<name>/<relative path>", NUL-terminated, in the blob */
    uint32_t key_len;
    uint32_t flags;
    uint64_t offset;    /* archive: header offset of the entry; folder: unused */
    uint64_t size;      /* bytes as listed (0 when unknown) */
    const void *extra;  /* per-item extra data (labels, landmarks), or NULL */
    uint32_t extra_len;
} ds_item;

typedef struct ds_plan ds_plan;

typedef struct ds_source_config {
    const char *path;   /* folder, .zip, .tar, .tar.gz, ... */
    const char *name;   /* key prefix; NULL: base name of path without extension */
    size_t limit;       /* keep only the first N items (0: all) */
} ds_source_config;

/* Enumerate a folder or archive. OUT *out (ds_plan_free). Errors: -errno naming
 * the path, LM_EFORMAT for an unreadable archive (names file and entry),
 * LM_ECONFIG for an empty dataset. */
int ds_plan_build(ds_plan **out, const ds_source_config *cfg, lm_err *err);
void ds_plan_free(ds_plan *p); /* accepts NULL */

size_t ds_plan_count(const ds_plan *p);
enum ds_source_kind ds_plan_kind(const ds_plan *p);
const char *ds_plan_root(const ds_plan *p);
/* View of item i (valid while p lives). */
void ds_plan_item(const ds_plan *p, size_t i, ds_item *out);

/* Serialise to / from bytes (the on-disk format above). OUT *buf (free()). */
int ds_plan_serialize(const ds_plan *p, void **buf, size_t *len, lm_err *err);
/* Takes ownership of buf (KEPT; freed by ds_plan_free or on error). */
int ds_plan_deserialize(ds_plan **out, void *buf, size_t len, const char *name, lm_err *err);
int ds_plan_save(const ds_plan *p, const char *path, lm_err *err);
int ds_plan_load(ds_plan **out, const char *path, lm_err *err);

/* A reader keeps the archive file open across items of a chunk. */
typedef struct ds_reader ds_reader;
int ds_reader_create(ds_reader **out, const ds_plan *p, lm_err *err);
void ds_reader_free(ds_reader *r);
/* Read item i's bytes. OUT *buf (free()). Errors: -errno (file vanished,
 * unreadable), LM_EFORMAT (archive entry corrupt or truncated; message names
 * archive and entry). Per-item failures: the caller records them and goes on. */
int ds_reader_read(ds_reader *r, size_t i, void **buf, size_t *len, lm_err *err);

#endif
