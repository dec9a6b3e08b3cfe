/*
 * ds_internal.h - declarations shared inside datasets/ only: the plan-building
 * primitives the adapters use (ds_plan.c), the adapters (ds_adapters.c) and
 * small helpers (ds_util.c: a string map, text lines, reading a whole tree).
 */
#ifndef DS_INTERNAL_H
#define DS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/ds_plan.h"
#include "shared/lm_err.h"

/* ---- plan primitives (ds_plan.c) ---- */
ds_plan *ds_plan_new(void);
void ds_plan_set_prefix(ds_plan *p, const char *prefix);
void ds_plan_default_name(char *out, size_t cap, const char *path);
int ds_plan_add(ds_plan *p, const char *prefix, const char *rel, uint32_t flags, uint64_t offset,
                uint64_t size);
/* List a folder tree or an archive (the images container) into p. */
int ds_plan_list(ds_plan *p, const char *prefix, const char *images, lm_err *err);
/* Relative path of item i inside the images container. */
const char *ds_plan_rel(const ds_plan *p, size_t i);
int ds_plan_set_extra(ds_plan *p, size_t i, const void *extra, uint32_t len);
/* Keep the items whose keep[i] is non-zero (order preserved). */
void ds_plan_keep(ds_plan *p, const unsigned char *keep);
int ds_plan_finish(ds_plan *p, const char *root, const char *images, enum ds_kind dskind,
                   size_t limit, lm_err *err);

/* ---- adapters (ds_adapters.c); each lists, attaches extras and finishes ---- */
int ds_adapt_celeba(ds_plan *p, const char *prefix, const char *root, const ds_source_config *cfg,
                    lm_err *err);
int ds_adapt_ffhq(ds_plan *p, const char *prefix, const char *root, const ds_source_config *cfg,
                  lm_err *err);
int ds_adapt_ckplus(ds_plan *p, const char *prefix, const char *root, const ds_source_config *cfg,
                    lm_err *err);
/* Attach the labels of cfg->labels (CSV) to a listed plan (does not finish). */
int ds_adapt_csv(ds_plan *p, const ds_source_config *cfg, lm_err *err);

/* ---- helpers (ds_util.c) ---- */
/* String -> int64 map (keys copied). */
typedef struct ds_map ds_map;
ds_map *ds_map_new(size_t hint);
void ds_map_free(ds_map *m);
/* 0 inserted, 1 key already present (value unchanged), -ENOMEM. */
int ds_map_put(ds_map *m, const char *key, size_t keylen, int64_t value);
/* 1 found (*value set), 0 absent. */
int ds_map_get(const ds_map *m, const char *key, size_t keylen, int64_t *value);

/* Base name of a path without its extension: span [*start, *start + len). */
void ds_stem(const char *path, const char **start, size_t *len);

/* Every regular file of a folder tree or an archive, with its bytes:
 * cb(name relative to the tree, bytes, len, user); a non-zero return stops. */
typedef int (*ds_tree_fn)(const char *name, const char *bytes, size_t len, void *user);
int ds_tree_scan(const char *path, ds_tree_fn cb, void *user, lm_err *err);

/* Is path an existing directory (1) / regular file (2) / absent (0)? */
int ds_path_type(const char *path);

#endif
