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
 * Named layouts (datasets/ds_adapters.h): [dataset] kind = celeba | ffhq |
 * ckplus, or folder/archive with an optional CSV of labels. An adapter lists
 * the image container (a folder or an archive inside the dataset tree), reads
 * the label files once, and attaches to each item an `extra` record (labels,
 * identity, landmarks, metadata; format in datasets/ds_extra.h), so no later
 * stage reads a label file again.
 *
 * On-disk format (little-endian, versioned). Version 2: an 80-byte header
 *   char[8] "LMPLAN\0\1", u32 version (2), u32 source kind, u64 count,
 *   u64 blob bytes, u64 root offset in blob, u32 root length, u32 key prefix
 *   length (with the '/'), u64 images-path offset in blob, u32 images-path
 *   length, u32 dataset kind (enum ds_kind), u64 reserved (0)
 * then count 48-byte records
 *   u64 key offset, u32 key length, u32 flags, u64 entry offset, u64 size,
 *   u64 extra offset, u32 extra length, u32 reserved
 * then the blob of strings (keys, root path, images path, per-item extra
 * bytes). Version 1 (48-byte header ending at the prefix length; images path
 * = root) is still read.
 * The root is the configured dataset path (what a rerun compares against);
 * the images path is the folder or archive the item bytes come from (the same
 * for kind folder/archive; e.g. CelebA/Img/img_align_celeba.zip for celeba).
 */
#ifndef DS_PLAN_H
#define DS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

enum ds_source_kind { DS_SRC_FOLDER = 1, DS_SRC_ARCHIVE = 2 };

/* [dataset] kind. AUTO/FOLDER/ARCHIVE: any images (FOLDER and ARCHIVE check the
 * path's type); the others are the named layouts of datasets/ds_adapters.h. */
enum ds_kind {
    DS_KIND_AUTO = 0,
    DS_KIND_FOLDER = 1,
    DS_KIND_ARCHIVE = 2,
    DS_KIND_CELEBA = 3,
    DS_KIND_FFHQ = 4,
    DS_KIND_CKPLUS = 5
};

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
    const char *path;   /* folder, .zip, .tar, .tar.gz, ..., or a dataset's root */
    const char *name;   /* key prefix; NULL: base name of path without extension */
    size_t limit;       /* keep only the first N items (0: all) */
    /* Named layouts (all optional; zero = default). */
    int kind;                /* enum ds_kind */
    const char *labels;      /* folder/archive: CSV of labels (file,col,...) */
    const char *annotations; /* celeba: folder with the text files (default: searched) */
    const char *images;      /* celeba: aligned | wild; ffhq: aligned | thumbnails | wild */
    int split;               /* celeba, ffhq: 0 all, 1 train, 2 val, 3 test */
    int frames;              /* ckplus: 0 all, 1 policy (first + last K), 2 labelled only */
    int peak_frames;         /* ckplus: K frames at the end carry the emotion (0: 3) */
    int strict;              /* a malformed label row fails planning instead of a warning */
} ds_source_config;

/* Enumerate a folder or archive, or a named layout (cfg->kind). OUT *out
 * (ds_plan_free). Errors: -errno naming the path, LM_EFORMAT for an unreadable
 * archive (names file and entry), LM_ECONFIG for an empty dataset, a bad
 * [dataset] value, or label files that cannot be used (file and line named). */
int ds_plan_build(ds_plan **out, const ds_source_config *cfg, lm_err *err);
void ds_plan_free(ds_plan *p); /* accepts NULL */

size_t ds_plan_count(const ds_plan *p);
enum ds_source_kind ds_plan_kind(const ds_plan *p);
/* The configured dataset path (realpath). */
const char *ds_plan_root(const ds_plan *p);
/* The folder or archive the items' bytes come from. */
const char *ds_plan_images(const ds_plan *p);
enum ds_kind ds_plan_dataset_kind(const ds_plan *p);
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
