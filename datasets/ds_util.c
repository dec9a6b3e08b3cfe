/* ds_util.c - helpers for the dataset adapters (see ds_internal.h). */
#include "datasets/ds_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shared/lm_img.h"
#include "shared/lm_io.h"
#include "shared/lm_log.h"

struct ds_map {
    char **keys;
    int64_t *vals;
    size_t cap, n;
};

ds_map *ds_map_new(size_t hint)
{
    ds_map *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    m->cap = 64;
    while (m->cap < hint * 2) {
        m->cap *= 2;
    }
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    if (m->keys == NULL || m->vals == NULL) {
        ds_map_free(m);
        return NULL;
    }
    return m;
}

void ds_map_free(ds_map *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; m->keys != NULL && i < m->cap; i++) {
        free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
    free(m);
}

static size_t map_slot(char *const *keys, size_t cap, const char *key, size_t len)
{
    uint64_t h = lm_fnv1a64(key, len);
    size_t i = (size_t)h & (cap - 1);
    while (keys[i] != NULL && (strlen(keys[i]) != len || memcmp(keys[i], key, len) != 0)) {
        i = (i + 1) & (cap - 1);
    }
    return i;
}

int ds_map_put(ds_map *m, const char *key, size_t keylen, int64_t value)
{
    if (2 * (m->n + 1) > m->cap) {
        size_t nc = m->cap * 2;
        char **nk = calloc(nc, sizeof *nk);
        int64_t *nv = calloc(nc, sizeof *nv);
        if (nk == NULL || nv == NULL) {
            free(nk);
            free(nv);
            return -ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i] != NULL) {
                size_t s = map_slot(nk, nc, m->keys[i], strlen(m->keys[i]));
                nk[s] = m->keys[i];
                nv[s] = m->vals[i];
            }
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = nc;
    }
    size_t s = map_slot(m->keys, m->cap, key, keylen);
    if (m->keys[s] != NULL) {
        return 1;
    }
    m->keys[s] = strndup(key, keylen);
    if (m->keys[s] == NULL) {
        return -ENOMEM;
    }
    m->vals[s] = value;
    m->n++;
    return 0;
}

int ds_map_get(const ds_map *m, const char *key, size_t keylen, int64_t *value)
{
    size_t s = map_slot(m->keys, m->cap, key, keylen);
    if (m->keys[s] == NULL) {
        return 0;
    }
    *value = m->vals[s];
    return 1;
}

void ds_stem(const char *path, const char **start, size_t *len)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    *start = b;
    *len = dot != NULL && dot != b ? (size_t)(dot - b) : strlen(b);
}

int ds_path_type(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return 0;
    }
    return S_ISDIR(st.st_mode) ? 1 : S_ISREG(st.st_mode) ? 2 : 0;
}

static int scan_dir(const char *root, const char *rel, ds_tree_fn cb, void *user, lm_err *err)
{
    char dir[PATH_MAX + 256];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        return lm_err_set(err, -errno, "%s: %s", dir, strerror(errno));
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (rc == 0 && name[0] != '.' && strcmp(name, "__MACOSX") != 0) {
            char sub[PATH_MAX], full[PATH_MAX + 512];
            snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", name);
            snprintf(full, sizeof full, "%s/%s", root, sub);
            int t = ds_path_type(full);
            if (t == 1) {
                rc = scan_dir(root, sub, cb, user, err);
            } else if (t == 2) {
                void *buf = NULL;
                size_t len = 0;
                rc = lm_io_read_file(full, &buf, &len, err);
                if (rc == 0) {
                    rc = cb(sub, buf, len, user);
                }
                free(buf);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int ds_tree_scan(const char *path, ds_tree_fn cb, void *user, lm_err *err)
{
    int t = ds_path_type(path);
    if (t == 0) {
        return lm_err_set(err, -ENOENT, "%s: %s", path, strerror(ENOENT));
    }
    if (t == 1) {
        return scan_dir(path, "", cb, user, err);
    }
    struct archive *a = archive_read_new();
    if (a == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    int rc = 0;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: not a readable archive (%s)", path,
                        archive_error_string(a) ? archive_error_string(a) : "unknown");
        archive_read_free(a);
        return rc;
    }
    struct archive_entry *e = NULL;
    char *buf = NULL;
    size_t cap = 0;
    for (size_t ord = 0; rc == 0; ord++) {
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF) {
            break;
        }
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: entry %zu: %s", path, ord,
                            archive_error_string(a) ? archive_error_string(a) : "truncated?");
            break;
        }
        const char *name = archive_entry_pathname(e);
        if (name == NULL || archive_entry_filetype(e) != AE_IFREG || strstr(name, "__MACOSX")) {
            continue;
        }
        size_t n = 0;
        for (;;) {
            if (n + 65536 > cap) {
                size_t nc = cap ? cap * 2 : 1 << 17;
                char *q = realloc(buf, nc);
                if (q == NULL) {
                    rc = lm_err_set(err, -ENOMEM, "%s: out of memory", path);
                    break;
                }
                buf = q;
                cap = nc;
            }
            la_ssize_t r = archive_read_data(a, buf + n, cap - n);
            if (r < 0) {
                rc = lm_err_set(err, LM_EFORMAT, "%s: entry %s: %s", path, name,
                                archive_error_string(a) ? archive_error_string(a) : "corrupt");
                break;
            }
            if (r == 0) {
                break;
            }
            n += (size_t)r;
        }
        if (rc == 0) {
            rc = cb(name, buf, n, user);
        }
    }
    free(buf);
    archive_read_free(a);
    return rc;
}
