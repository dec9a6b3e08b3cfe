/*
 * ds_plan.c - dataset enumeration into a plan, plan (de)serialisation, and
 * per-item reading from folders and archives (see ds_plan.h).
 */
#include "datasets/ds_plan.h"

#include <archive.h>
#include <zlib.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/ds_internal.h"
#include "shared/lm_io.h"
#include "shared/lm_log.h"

#define PLAN_MAGIC "LMPLAN\0\1"
#define PLAN_VERSION 2
#define HDR_BYTES_V1 48
#define HDR_BYTES 80
#define REC_BYTES 48
#define ITEM_MAX_BYTES ((uint64_t)1 << 30) /* one item above 1 GiB is not an image we want */

/* flags: ITEM_ORDINAL: offset holds the entry ordinal (not seekable);
 * ITEM_ZIP: offset is a zip local header (listed from the central directory) */
enum { ITEM_ORDINAL = 1, ITEM_ZIP = 2 };

typedef struct rec {
    uint64_t key_off;
    uint32_t key_len, flags;
    uint64_t offset, size, extra_off;
    uint32_t extra_len;
} rec;

struct ds_plan {
    uint32_t kind, prefix_len;
    rec *r;
    size_t n, cap;
    char *blob;
    size_t blob_len, blob_cap;
    uint64_t root_off, images_off;
    uint32_t root_len, images_len, dskind;
    void *owned; /* deserialised buffer, if any */
};

static int blob_add(ds_plan *p, const void *s, size_t len, uint64_t *off)
{
    if (p->blob_len + len + 1 > p->blob_cap) {
        size_t nc = p->blob_cap ? p->blob_cap * 2 : 1 << 16;
        while (nc < p->blob_len + len + 1) {
            nc *= 2;
        }
        char *b = realloc(p->blob, nc);
        if (b == NULL) {
            return -ENOMEM;
        }
        p->blob = b;
        p->blob_cap = nc;
    }
    *off = p->blob_len;
    memcpy(p->blob + p->blob_len, s, len);
    p->blob[p->blob_len + len] = '\0';
    p->blob_len += len + 1;
    return 0;
}

int ds_plan_add(ds_plan *p, const char *prefix, const char *rel, uint32_t flags,
                uint64_t offset, uint64_t size)
{
    char key[1024];
    int kl = snprintf(key, sizeof key, "%s/%s", prefix, rel);
    if (kl < 0 || kl >= 512) {
        lm_log(LM_LOG_WARN, "%s: path too long for an item key (%d bytes), skipped", rel, kl);
        return 0;
    }
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 1024;
        rec *r = realloc(p->r, nc * sizeof *r);
        if (r == NULL) {
            return -ENOMEM;
        }
        p->r = r;
        p->cap = nc;
    }
    rec *r = &p->r[p->n];
    memset(r, 0, sizeof *r);
    if (blob_add(p, key, (size_t)kl, &r->key_off) != 0) {
        return -ENOMEM;
    }
    r->key_len = (uint32_t)kl;
    r->flags = flags;
    r->offset = offset;
    r->size = size;
    p->n++;
    return 0;
}

static int skip_name(const char *name)
{
    return name[0] == '.' || strcmp(name, "__MACOSX") == 0;
}

static int skip_path(const char *rel)
{
    /* Any hidden component or __MACOSX directory anywhere in the path. */
    const char *s = rel;
    while (*s) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t)(slash - s) : strlen(s);
        if ((len > 0 && s[0] == '.') || (len == 8 && strncmp(s, "__MACOSX", 8) == 0)) {
            return 1;
        }
        s += len + (slash != NULL);
    }
    return 0;
}

static int unsafe_path(const char *rel)
{
    if (rel[0] == '/') {
        return 1;
    }
    for (const char *s = rel; (s = strstr(s, "..")) != NULL; s += 2) {
        if ((s == rel || s[-1] == '/') && (s[2] == '\0' || s[2] == '/')) {
            return 1;
        }
    }
    return 0;
}

static int walk(ds_plan *p, const char *prefix, const char *root, const char *rel, lm_err *err)
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
        if (rc == 0 && !skip_name(name)) {
            char sub[PATH_MAX], full[PATH_MAX + 256];
            int sl = snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", name);
            int fl = snprintf(full, sizeof full, "%s/%s", root, sub);
            if (sl < 0 || sl >= (int)sizeof sub || fl < 0 || fl >= PATH_MAX) {
                lm_log(LM_LOG_WARN, "%s/%s: path too long; skipped", dir, name);
                free(ents[i]);
                continue;
            }
            struct stat st;
            if (stat(full, &st) != 0) {
                lm_log(LM_LOG_WARN, "%s: %s; skipped", full, strerror(errno));
            } else if (S_ISDIR(st.st_mode)) {
                rc = walk(p, prefix, root, sub, err);
            } else if (S_ISREG(st.st_mode)) {
                rc = ds_plan_add(p, prefix, sub, 0, 0, (uint64_t)st.st_size);
                if (rc != 0) {
                    lm_err_set(err, rc, "%s: out of memory", full);
                }
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

/* libarchive read callbacks over a file descriptor starting at a byte offset,
 * so an entry can be read without touching anything before it. */
typedef struct fdsrc {
    int fd;
    int64_t pos;
    size_t chunk; /* bytes per read (0: the whole buffer) */
    unsigned char buf[1 << 16];
} fdsrc;

static la_ssize_t fd_read(struct archive *a, void *user, const void **out)
{
    fdsrc *s = user;
    for (;;) {
        size_t want = s->chunk > 0 && s->chunk < sizeof s->buf ? s->chunk : sizeof s->buf;
        ssize_t r = pread(s->fd, s->buf, want, s->pos);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            archive_set_error(a, errno, "read: %s", strerror(errno));
            return -1;
        }
        s->pos += r;
        *out = s->buf;
        return r;
    }
}

static la_int64_t fd_skip(struct archive *a, void *user, la_int64_t n)
{
    (void)a;
    fdsrc *s = user;
    s->pos += n;
    return n;
}

static la_int64_t fd_seek(struct archive *a, void *user, la_int64_t off, int whence)
{
    fdsrc *s = user;
    struct stat st;
    if (whence == SEEK_SET) {
        s->pos = off;
    } else if (whence == SEEK_CUR) {
        s->pos += off;
    } else if (fstat(s->fd, &st) == 0) {
        s->pos = st.st_size + off;
    } else {
        archive_set_error(a, errno, "seek: %s", strerror(errno));
        return ARCHIVE_FATAL;
    }
    return s->pos;
}

static struct archive *archive_open_at(fdsrc *src, int fd, int64_t offset, int zip_only)
{
    struct archive *a = archive_read_new();
    if (a == NULL) {
        return NULL;
    }
    if (zip_only) { /* no filter or format bidding beyond zip: cheaper per entry */
        archive_read_support_format_zip_streamable(a);
    } else {
        archive_read_support_filter_all(a);
        archive_read_support_format_zip_streamable(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        archive_read_support_format_cpio(a);
        archive_read_support_format_7zip(a);
    }
    src->fd = fd;
    src->pos = offset;
    archive_read_set_callback_data(a, src);
    archive_read_set_read_callback(a, fd_read);
    archive_read_set_skip_callback(a, fd_skip);
    archive_read_set_seek_callback(a, fd_seek);
    if (archive_read_open1(a) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static const char *arch_msg(struct archive *a)
{
    const char *m = archive_error_string(a);
    return m != NULL ? m : "archive ends early (truncated?)";
}

/* Fast path for .zip: list from the central directory (one read of the end of
 * the file instead of a header read per entry). The offsets are those of the
 * local headers, exactly what the streaming listing records. Returns 1 when
 * the file is not a plain zip this parser understands (the caller falls back
 * to libarchive's listing), 0 when listed, negative on memory errors. */
static uint32_t le16(const unsigned char *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8; }
static uint32_t le32(const unsigned char *b) { return le16(b) | le16(b + 2) << 16; }
static uint64_t le64(const unsigned char *b) { return le32(b) | (uint64_t)le32(b + 4) << 32; }

static int plan_zip_cd(ds_plan *p, const char *prefix, const char *path, int fd, lm_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 22) {
        return 1;
    }
    uint64_t fsz = (uint64_t)st.st_size;
    size_t tail = fsz < 65557 ? (size_t)fsz : 65557;
    unsigned char *t = malloc(tail);
    if (t == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    if (pread(fd, t, tail, (off_t)(fsz - tail)) != (ssize_t)tail) {
        free(t);
        return 1;
    }
    long e = -1;
    for (long i = (long)tail - 22; i >= 0; i--) {
        if (le32(t + i) == 0x06054b50 && (size_t)i + 22 + le16(t + i + 20) <= tail) {
            e = i;
            break;
        }
    }
    if (e < 0) {
        free(t);
        return 1;
    }
    uint64_t eocd = fsz - tail + (uint64_t)e;
    uint64_t n = le16(t + e + 10), cdsz = le32(t + e + 12), cdoff = le32(t + e + 16);
    if (le16(t + e + 4) != 0 || le16(t + e + 6) != 0) {
        free(t);
        return 1; /* multi-disk */
    }
    uint64_t cdend = eocd;
    if (n == 0xFFFF || cdsz == 0xFFFFFFFFu || cdoff == 0xFFFFFFFFu) {
        unsigned char loc[20], z[56];
        if (eocd < 20 || pread(fd, loc, 20, (off_t)(eocd - 20)) != 20 || le32(loc) != 0x07064b50 ||
            pread(fd, z, 56, (off_t)le64(loc + 8)) != 56 || le32(z) != 0x06064b50) {
            free(t);
            return 1;
        }
        n = le64(z + 32);
        cdsz = le64(z + 40);
        cdoff = le64(z + 48);
        cdend = le64(loc + 8);
    }
    free(t);
    if (cdsz > cdend || cdsz > ((uint64_t)1 << 32) || n > cdsz / 46 + 1) {
        return 1;
    }
    uint64_t shift = cdend - cdsz - cdoff; /* bytes prepended to the archive (sfx stubs) */
    unsigned char *cd = malloc(cdsz ? cdsz : 1);
    if (cd == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory (central directory %llu bytes)", path,
                          (unsigned long long)cdsz);
    }
    if (pread(fd, cd, cdsz, (off_t)(cdend - cdsz)) != (ssize_t)cdsz) {
        free(cd);
        return 1;
    }
    size_t before = p->n;
    uint64_t pos = 0, first_off = UINT64_MAX;
    char name[4096];
    int rc = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (pos + 46 > cdsz || le32(cd + pos) != 0x02014b50) {
            rc = 1;
            break;
        }
        const unsigned char *h = cd + pos;
        uint32_t nl = le16(h + 28), xl = le16(h + 30), cl = le16(h + 32);
        if (pos + 46 + nl + xl + cl > cdsz || nl == 0 || nl >= sizeof name) {
            rc = 1;
            break;
        }
        uint64_t usize = le32(h + 24), csize = le32(h + 20), off = le32(h + 42);
        const unsigned char *x = h + 46 + nl, *xe = x + xl;
        while (x + 4 <= xe) { /* ZIP64 extra: only the saturated fields, in order */
            uint32_t id = le16(x), len = le16(x + 2);
            if (id == 0x0001) {
                const unsigned char *q = x + 4, *qe = x + 4 + len;
                if (usize == 0xFFFFFFFFu && q + 8 <= qe) {
                    usize = le64(q);
                    q += 8;
                }
                if (csize == 0xFFFFFFFFu && q + 8 <= qe) {
                    csize = le64(q);
                    q += 8;
                }
                if (off == 0xFFFFFFFFu && q + 8 <= qe) {
                    off = le64(q);
                }
            }
            x += 4 + len;
        }
        memcpy(name, h + 46, nl);
        name[nl] = '\0';
        pos += 46 + nl + xl + cl;
        uint32_t mode = le32(h + 38) >> 16;
        int is_dir = name[nl - 1] == '/' || (mode != 0 && S_ISDIR(mode));
        int is_other = mode != 0 && (mode & S_IFMT) != 0 && !S_ISREG(mode) && !S_ISDIR(mode);
        off += shift;
        if (first_off == UINT64_MAX) {
            first_off = off;
        }
        if (is_dir || is_other || memchr(name, '\0', nl) != NULL) {
            continue;
        }
        if (unsafe_path(name)) {
            lm_log(LM_LOG_WARN, "%s: entry %llu '%s': absolute path or '..' component; skipped",
                   path, (unsigned long long)i, name);
            continue;
        }
        if (skip_path(name)) {
            continue;
        }
        rc = ds_plan_add(p, prefix, name, ITEM_ZIP, off, usize);
        if (rc != 0) {
            free(cd);
            return lm_err_set(err, rc, "%s: out of memory", path);
        }
    }
    free(cd);
    unsigned char sig[4];
    if (rc == 0 && first_off != UINT64_MAX &&
        (pread(fd, sig, 4, (off_t)first_off) != 4 || le32(sig) != 0x04034b50)) {
        rc = 1; /* offsets do not point at local headers: let libarchive list it */
    }
    if (rc != 0) {
        p->n = before;
        return 1;
    }
    return 0;
}

static int plan_archive(ds_plan *p, const char *prefix, const char *path, lm_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
    }
    int zr = plan_zip_cd(p, prefix, path, fd, err);
    if (zr <= 0) {
        close(fd);
        return zr;
    }
    fdsrc *src = malloc(sizeof *src);
    if (src == NULL) {
        close(fd);
        return lm_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    int rc = 0;
    src->chunk = 0;
    struct archive *a = archive_open_at(src, fd, 0, 0);
    if (a == NULL) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: not a readable archive", path);
        goto out;
    }
    struct archive_entry *e = NULL;
    uint64_t ordinal = 0;
    int seekable = -1;
    for (;;) {
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF) {
            break;
        }
        if (ar == ARCHIVE_WARN) {
            lm_log(LM_LOG_WARN, "%s: entry %llu: %s", path, (unsigned long long)ordinal,
                   arch_msg(a));
        } else if (ar != ARCHIVE_OK) {
            /* A corrupt or truncated archive: keep what was listed so far if
             * anything, naming where it broke. */
            if (p->n > 0) {
                lm_log(LM_LOG_WARN, "%s: listing stopped after entry %llu (%s); %zu items kept",
                       path, (unsigned long long)ordinal, arch_msg(a), p->n);
                break;
            }
            rc = lm_err_set(err, LM_EFORMAT, "%s: entry %llu: %s", path,
                            (unsigned long long)ordinal, arch_msg(a));
            goto out;
        }
        if (seekable < 0) {
            /* Only an uncompressed container can be entered at a header offset. */
            seekable = archive_filter_count(a) <= 1 || archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE;
            /* A 7z keeps its index at the end and compresses solid blocks: read it in order. */
            if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_7ZIP) {
                seekable = 0;
            }
        }
        const char *name = archive_entry_pathname(e);
        if (name != NULL && archive_entry_filetype(e) == AE_IFREG && unsafe_path(name)) {
            lm_log(LM_LOG_WARN, "%s: entry %llu '%s': absolute path or '..' component; skipped",
                   path, (unsigned long long)ordinal, name);
        } else if (name != NULL && archive_entry_filetype(e) == AE_IFREG && !skip_path(name)) {
            uint64_t off = seekable ? (uint64_t)archive_read_header_position(a) : ordinal;
            uint64_t size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
            rc = ds_plan_add(p, prefix, name, seekable ? 0 : ITEM_ORDINAL, off, size);
            if (rc != 0) {
                lm_err_set(err, rc, "%s: out of memory", path);
                goto out;
            }
        }
        ordinal++;
        archive_read_data_skip(a);
    }
out:
    if (a != NULL) {
        archive_read_free(a);
    }
    free(src);
    close(fd);
    return rc;
}

static void default_name(char *out, size_t cap, const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    if (*b == '\0') { /* trailing slash */
        snprintf(out, cap, "data");
        return;
    }
    snprintf(out, cap, "%s", b);
    char *dot = strchr(out, '.');
    if (dot != NULL && dot != out) {
        *dot = '\0';
    }
}

ds_plan *ds_plan_new(void) { return calloc(1, sizeof(ds_plan)); }

void ds_plan_default_name(char *out, size_t cap, const char *path)
{
    default_name(out, cap, path);
}

int ds_plan_list(ds_plan *p, const char *prefix, const char *images, lm_err *err)
{
    struct stat st;
    if (stat(images, &st) != 0) {
        return lm_err_set(err, -errno, "%s: %s", images, strerror(errno));
    }
    size_t before = p->n;
    int rc;
    if (S_ISDIR(st.st_mode)) {
        p->kind = DS_SRC_FOLDER;
        rc = walk(p, prefix, images, "", err);
    } else {
        p->kind = DS_SRC_ARCHIVE;
        rc = plan_archive(p, prefix, images, err);
    }
    if (rc == 0 && p->n == before) {
        rc = lm_err_set(err, LM_ECONFIG, "%s: no items found", images);
    }
    return rc;
}

const char *ds_plan_rel(const ds_plan *p, size_t i)
{
    return p->blob + p->r[i].key_off + p->prefix_len;
}

int ds_plan_set_extra(ds_plan *p, size_t i, const void *extra, uint32_t len)
{
    uint64_t off = 0;
    if (blob_add(p, extra, len, &off) != 0) {
        return -ENOMEM;
    }
    p->r[i].extra_off = off;
    p->r[i].extra_len = len;
    return 0;
}

void ds_plan_keep(ds_plan *p, const unsigned char *keep)
{
    size_t j = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (keep[i]) {
            p->r[j++] = p->r[i];
        }
    }
    p->n = j;
}

void ds_plan_set_prefix(ds_plan *p, const char *prefix)
{
    p->prefix_len = (uint32_t)strlen(prefix) + 1;
}

int ds_plan_finish(ds_plan *p, const char *root, const char *images, enum ds_kind dskind,
                   size_t limit, lm_err *err)
{
    if (p->n == 0) {
        return lm_err_set(err, LM_ECONFIG, "%s: no items found", root);
    }
    if (limit > 0 && limit < p->n) {
        p->n = limit;
    }
    p->dskind = (uint32_t)dskind;
    if (blob_add(p, root, strlen(root), &p->root_off) != 0 ||
        blob_add(p, images, strlen(images), &p->images_off) != 0) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory", root);
    }
    p->root_len = (uint32_t)strlen(root);
    p->images_len = (uint32_t)strlen(images);
    return 0;
}

int ds_plan_build(ds_plan **out, const ds_source_config *cfg, lm_err *err)
{
    *out = NULL;
    ds_plan *p = ds_plan_new();
    if (p == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    char prefix[256];
    if (cfg->name != NULL) {
        snprintf(prefix, sizeof prefix, "%s", cfg->name);
    } else {
        default_name(prefix, sizeof prefix, cfg->path);
    }
    ds_plan_set_prefix(p, prefix);
    char root[PATH_MAX];
    if (realpath(cfg->path, root) == NULL) {
        int rc = lm_err_set(err, -errno, "%s: %s", cfg->path, strerror(errno));
        ds_plan_free(p);
        return rc;
    }
    int rc;
    switch (cfg->kind) {
    case DS_KIND_CELEBA: rc = ds_adapt_celeba(p, prefix, root, cfg, err); break;
    case DS_KIND_FFHQ: rc = ds_adapt_ffhq(p, prefix, root, cfg, err); break;
    case DS_KIND_CKPLUS: rc = ds_adapt_ckplus(p, prefix, root, cfg, err); break;
    default:
        rc = ds_plan_list(p, prefix, root, err);
        if (rc == 0 && cfg->labels != NULL) {
            rc = ds_adapt_csv(p, cfg, err);
        }
        if (rc == 0) {
            rc = ds_plan_finish(p, root, root, (enum ds_kind)cfg->kind, cfg->limit, err);
        }
        break;
    }
    if (rc == LM_EFORMAT && (cfg->kind >= DS_KIND_CELEBA || cfg->labels != NULL)) {
        rc = LM_ECONFIG; /* unusable label files: bad input (exit status 2), message kept */
        if (err != NULL) {
            err->code = rc;
        }
    }
    if (rc != 0) {
        ds_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void ds_plan_free(ds_plan *p)
{
    if (p == NULL) {
        return;
    }
    if (p->owned == NULL) {
        free(p->blob);
    }
    free(p->r);
    free(p->owned);
    free(p);
}

size_t ds_plan_count(const ds_plan *p) { return p->n; }
enum ds_source_kind ds_plan_kind(const ds_plan *p) { return (enum ds_source_kind)p->kind; }
const char *ds_plan_root(const ds_plan *p) { return p->blob + p->root_off; }
const char *ds_plan_images(const ds_plan *p) { return p->blob + p->images_off; }
enum ds_kind ds_plan_dataset_kind(const ds_plan *p) { return (enum ds_kind)p->dskind; }

void ds_plan_item(const ds_plan *p, size_t i, ds_item *out)
{
    const rec *r = &p->r[i];
    out->key = p->blob + r->key_off;
    out->key_len = r->key_len;
    out->flags = r->flags;
    out->offset = r->offset;
    out->size = r->size;
    out->extra = r->extra_len ? p->blob + r->extra_off : NULL;
    out->extra_len = r->extra_len;
}

static void w32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}
static void w64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}
static uint32_t r32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t r64(const unsigned char *b) { return r32(b) | (uint64_t)r32(b + 4) << 32; }

int ds_plan_serialize(const ds_plan *p, void **buf, size_t *len, lm_err *err)
{
    size_t total = HDR_BYTES + p->n * REC_BYTES + p->blob_len;
    unsigned char *b = calloc(1, total);
    if (b == NULL) {
        return lm_err_set(err, -ENOMEM, "plan: out of memory (%zu bytes)", total);
    }
    memcpy(b, PLAN_MAGIC, 8);
    w32(b + 8, PLAN_VERSION);
    w32(b + 12, p->kind);
    w64(b + 16, p->n);
    w64(b + 24, p->blob_len);
    w64(b + 32, p->root_off);
    w32(b + 40, p->root_len);
    w32(b + 44, p->prefix_len);
    w64(b + 48, p->images_off);
    w32(b + 56, p->images_len);
    w32(b + 60, p->dskind);
    for (size_t i = 0; i < p->n; i++) {
        unsigned char *q = b + HDR_BYTES + i * REC_BYTES;
        const rec *r = &p->r[i];
        w64(q, r->key_off);
        w32(q + 8, r->key_len);
        w32(q + 12, r->flags);
        w64(q + 16, r->offset);
        w64(q + 24, r->size);
        w64(q + 32, r->extra_off);
        w32(q + 40, r->extra_len);
    }
    memcpy(b + HDR_BYTES + p->n * REC_BYTES, p->blob, p->blob_len);
    *buf = b;
    *len = total;
    return 0;
}

int ds_plan_deserialize(ds_plan **out, void *buf, size_t len, const char *name, lm_err *err)
{
    *out = NULL;
    const unsigned char *b = buf;
    int rc = 0;
    ds_plan *p = NULL;
    if (len < HDR_BYTES_V1 || memcmp(b, PLAN_MAGIC, 8) != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: not a latentmill plan file", name);
        goto fail;
    }
    uint32_t version = r32(b + 8);
    if (version != 1 && version != PLAN_VERSION) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: plan version %u unsupported", name, version);
        goto fail;
    }
    size_t hdr = version == 1 ? HDR_BYTES_V1 : HDR_BYTES;
    if (len < hdr) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: truncated plan header", name);
        goto fail;
    }
    uint64_t n = r64(b + 16), blob_len = r64(b + 24);
    if (n > (len - hdr) / REC_BYTES || blob_len != len - hdr - n * REC_BYTES) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: truncated plan (%zu bytes for %llu items)", name,
                        len, (unsigned long long)n);
        goto fail;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL || (n > 0 && (p->r = malloc(n * sizeof *p->r)) == NULL)) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    p->kind = r32(b + 12);
    p->n = p->cap = n;
    p->blob = (char *)b + hdr + n * REC_BYTES;
    p->blob_len = p->blob_cap = blob_len;
    p->root_off = r64(b + 32);
    p->root_len = r32(b + 40);
    p->prefix_len = r32(b + 44);
    if (version == 1) {
        p->images_off = p->root_off;
        p->images_len = p->root_len;
        p->dskind = DS_KIND_AUTO;
    } else {
        p->images_off = r64(b + 48);
        p->images_len = r32(b + 56);
        p->dskind = r32(b + 60);
    }
    p->owned = buf;
    if (p->root_off + p->root_len >= blob_len || p->images_off + p->images_len >= blob_len) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: corrupt plan header", name);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *q = b + hdr + i * REC_BYTES;
        rec *r = &p->r[i];
        r->key_off = r64(q);
        r->key_len = r32(q + 8);
        r->flags = r32(q + 12);
        r->offset = r64(q + 16);
        r->size = r64(q + 24);
        r->extra_off = r64(q + 32);
        r->extra_len = r32(q + 40);
        if (r->key_off + r->key_len >= blob_len || p->blob[r->key_off + r->key_len] != '\0' ||
            r->extra_off + r->extra_len > blob_len) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: corrupt plan record %zu", name, i);
            goto fail;
        }
    }
    *out = p;
    return 0;
fail:
    if (p != NULL) {
        p->owned = NULL; /* freed below, once */
        p->blob = NULL;
        ds_plan_free(p);
    }
    free(buf);
    return rc;
}

int ds_plan_save(const ds_plan *p, const char *path, lm_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = ds_plan_serialize(p, &buf, &len, err);
    if (rc == 0) {
        rc = lm_io_write_file_atomic(path, buf, len, err);
    }
    free(buf);
    return rc;
}

int ds_plan_load(ds_plan **out, const char *path, lm_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = lm_io_read_file(path, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    return ds_plan_deserialize(out, buf, len, path, err);
}

/* ---- reading items ---- */

struct ds_reader {
    const ds_plan *p;
    int fd;
    fdsrc src;
    /* Sequential state for archives that cannot be entered at an offset. */
    struct archive *seq;
    uint64_t seq_next; /* ordinal of the next header seq will return */
};

int ds_reader_create(ds_reader **out, const ds_plan *p, lm_err *err)
{
    *out = NULL;
    ds_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    r->p = p;
    r->fd = -1;
    if (p->kind == DS_SRC_ARCHIVE) {
        r->fd = open(ds_plan_images(p), O_RDONLY | O_CLOEXEC);
        if (r->fd < 0) {
            int rc = lm_err_set(err, -errno, "%s: %s", ds_plan_images(p), strerror(errno));
            free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

void ds_reader_free(ds_reader *r)
{
    if (r == NULL) {
        return;
    }
    if (r->seq != NULL) {
        archive_read_free(r->seq);
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    free(r);
}

static int read_entry_data(struct archive *a, const char *arch, const char *entry, uint64_t size,
                           void **buf, size_t *len, lm_err *err)
{
    size_t cap = size > 0 ? (size_t)size : 1 << 16;
    unsigned char *b = malloc(cap + 1);
    if (b == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: %s: out of memory", arch, entry);
    }
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= ITEM_MAX_BYTES) {
                free(b);
                return lm_err_set(err, LM_ETOOBIG, "%s: %s: entry larger than 1 GiB", arch, entry);
            }
            unsigned char *q = realloc(b, cap * 2 + 1);
            if (q == NULL) {
                free(b);
                return lm_err_set(err, -ENOMEM, "%s: %s: out of memory", arch, entry);
            }
            b = q;
            cap *= 2;
        }
        la_ssize_t r = archive_read_data(a, b + n, cap - n);
        if (r < 0) {
            int rc = lm_err_set(err, LM_EFORMAT, "%s: entry %s: %s", arch, entry,
                                arch_msg(a));
            free(b);
            return rc;
        }
        if (r == 0) {
            break;
        }
        n += (size_t)r;
    }
    *buf = b;
    *len = n;
    return 0;
}


/* A stored (uncompressed) zip entry with its sizes in the local header: one
 * pread of the data and a CRC check, no libarchive. Returns 0 (read), 1 (not
 * that kind of entry: use libarchive) or an error. */
static int read_zip_stored(int fd, const char *arch, const char *rel, const ds_item *it,
                           void **buf, size_t *len, lm_err *err)
{
    unsigned char h[30];
    if (pread(fd, h, 30, (off_t)it->offset) != 30 || le32(h) != 0x04034b50) {
        return lm_err_set(err, LM_EFORMAT, "%s: entry %s: no local header at offset %llu "
                          "(archive changed since planning?)", arch, rel,
                          (unsigned long long)it->offset);
    }
    uint32_t gpflags = le16(h + 6), method = le16(h + 8), crc = le32(h + 14);
    uint32_t csize = le32(h + 18), nl = le16(h + 26), xl = le16(h + 28);
    if (method != 0 || (gpflags & 9) != 0 || (csize != it->size && csize != 0xFFFFFFFFu)) {
        return 1; /* compressed, encrypted or sizes in a data descriptor */
    }
    if (it->size > ITEM_MAX_BYTES) {
        return lm_err_set(err, LM_ETOOBIG, "%s: %s: entry larger than 1 GiB", arch, rel);
    }
    size_t n = (size_t)it->size;
    unsigned char *b = malloc(n + nl + 1);
    if (b == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: %s: out of memory", arch, rel);
    }
    if (pread(fd, b, nl, (off_t)(it->offset + 30)) != (ssize_t)nl || nl != strlen(rel) ||
        memcmp(b, rel, nl) != 0) {
        free(b);
        return lm_err_set(err, LM_EFORMAT, "%s: entry at offset %llu is not '%s' (archive "
                          "changed since planning?)", arch, (unsigned long long)it->offset, rel);
    }
    ssize_t got = pread(fd, b, n, (off_t)(it->offset + 30 + nl + xl));
    if (got != (ssize_t)n) {
        free(b);
        return lm_err_set(err, LM_EFORMAT, "%s: entry %s: truncated (%zd of %zu bytes)", arch,
                          rel, got, n);
    }
    if ((uint32_t)crc32(0L, b, (uInt)n) != crc) {
        free(b);
        return lm_err_set(err, LM_EFORMAT, "%s: entry %s: CRC mismatch (corrupt archive)", arch,
                          rel);
    }
    *buf = b;
    *len = n;
    return 0;
}

static int read_archive_item(ds_reader *r, const ds_item *it, void **buf, size_t *len,
                             lm_err *err)
{
    const char *arch = ds_plan_images(r->p);
    const char *rel = it->key + r->p->prefix_len;
    struct archive_entry *e = NULL;
    int rc = 0;
    if (it->flags & ITEM_ZIP) {
        rc = read_zip_stored(r->fd, arch, rel, it, buf, len, err);
        if (rc <= 0) {
            return rc;
        }
        /* compressed (or sizes in a data descriptor): libarchive, zip only,
         * reading about as much as the entry needs */
        uint64_t c = it->size + 4096;
        r->src.chunk = c < 4096 ? 4096 : c > (1 << 16) ? (1 << 16) : (size_t)c;
    } else {
        r->src.chunk = 0;
    }
    if (!(it->flags & ITEM_ORDINAL)) {
        struct archive *a = archive_open_at(&r->src, r->fd, (int64_t)it->offset,
                                            (it->flags & ITEM_ZIP) != 0);
        if (a == NULL) {
            return lm_err_set(err, LM_EFORMAT, "%s: cannot open archive at entry %s", arch, rel);
        }
        int ar = archive_read_next_header(a, &e);
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: entry %s (offset %llu): %s", arch, rel,
                            (unsigned long long)it->offset,
                            ar == ARCHIVE_EOF ? "archive ends early" : arch_msg(a));
        } else if (strcmp(archive_entry_pathname(e), rel) != 0) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: entry at offset %llu is '%s', planned '%s' "
                            "(archive changed since planning?)", arch,
                            (unsigned long long)it->offset, archive_entry_pathname(e), rel);
        } else {
            rc = read_entry_data(a, arch, rel, it->size, buf, len, err);
        }
        archive_read_free(a);
        return rc;
    }
    /* Compressed stream: go forward from the current position (reopen if the
     * wanted entry lies behind us). */
    if (r->seq == NULL || r->seq_next > it->offset) {
        if (r->seq != NULL) {
            archive_read_free(r->seq);
        }
        r->src.chunk = 0;
        r->seq = archive_open_at(&r->src, r->fd, 0, 0);
        r->seq_next = 0;
        if (r->seq == NULL) {
            return lm_err_set(err, LM_EFORMAT, "%s: cannot reopen archive", arch);
        }
    }
    for (;;) {
        int ar = archive_read_next_header(r->seq, &e);
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: entry %s: %s", arch, rel,
                            ar == ARCHIVE_EOF ? "archive ends early" : arch_msg(r->seq));
            archive_read_free(r->seq);
            r->seq = NULL;
            return rc;
        }
        if (r->seq_next++ == it->offset) {
            break;
        }
        archive_read_data_skip(r->seq);
    }
    return read_entry_data(r->seq, arch, rel, it->size, buf, len, err);
}

int ds_reader_read(ds_reader *r, size_t i, void **buf, size_t *len, lm_err *err)
{
    *buf = NULL;
    *len = 0;
    if (i >= r->p->n) {
        return lm_err_set(err, LM_EINTERNAL, "item %zu out of range", i);
    }
    ds_item it;
    ds_plan_item(r->p, i, &it);
    if (r->p->kind == DS_SRC_ARCHIVE) {
        return read_archive_item(r, &it, buf, len, err);
    }
    char path[PATH_MAX + 600];
    snprintf(path, sizeof path, "%s/%s", ds_plan_images(r->p), it.key + r->p->prefix_len);
    return lm_io_read_file(path, buf, len, err);
}
