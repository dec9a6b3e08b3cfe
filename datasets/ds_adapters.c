/*
 * ds_adapters.c - the named dataset layouts: CelebA, FFHQ, CK+ and a CSV of
 * labels for any folder/archive. Each adapter lists the image container,
 * parses the label files once (keyed by file name, never by position) and
 * attaches an extra record (ds_extra.h) to every item. Layouts and label
 * formats follow the dataset spec; the README (Datasets) documents the labels.
 *
 * Malformed label rows (wrong column count, non-numeric values, duplicates),
 * rows naming images that are not there, images without rows and landmark
 * files with the wrong point count are warnings naming file and line (the
 * row is skipped, the item keeps what is known); with [dataset] strict = true
 * the first one fails planning instead.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "datasets/ds_extra.h"
#include "datasets/ds_internal.h"
#include "shared/lm_io.h"
#include "shared/lm_log.h"

#define MAX_TOK 80

/* ---- text files ---- */

typedef struct lines {
    char *buf;
    size_t len, pos;
    int lineno;
    const char *path;
} lines;

static int lines_open(lines *L, const char *path, lm_err *err)
{
    memset(L, 0, sizeof *L);
    L->path = path;
    void *b = NULL;
    int rc = lm_io_read_file(path, &b, &L->len, err);
    L->buf = b;
    if (rc == 0) {
        L->buf[L->len] = '\0';
    }
    return rc;
}

/* Next line (NUL-terminated, CR stripped), or NULL at the end. */
static char *lines_next(lines *L)
{
    if (L->pos >= L->len) {
        return NULL;
    }
    char *s = L->buf + L->pos;
    char *nl = memchr(s, '\n', L->len - L->pos);
    size_t n = nl ? (size_t)(nl - s) : L->len - L->pos;
    L->pos += n + (nl != NULL);
    s[n] = '\0'; /* the newline, or the spare byte lm_io_read_file leaves at the end */
    if (n > 0 && s[n - 1] == '\r') {
        s[n - 1] = '\0';
    }
    L->lineno++;
    return s;
}

static int split(char *s, int csv, char **tok, int max)
{
    int n = 0;
    if (csv) {
        char *p = s;
        for (;;) {
            char *c = strchr(p, ',');
            if (c != NULL) {
                *c = '\0';
            }
            while (isspace((unsigned char)*p)) {
                p++;
            }
            char *e = p + strlen(p);
            while (e > p && isspace((unsigned char)e[-1])) {
                *--e = '\0';
            }
            if (n < max) {
                tok[n] = p;
            }
            n++;
            if (c == NULL) {
                break;
            }
            p = c + 1;
        }
        if (n == 1 && tok[0][0] == '\0') {
            return 0;
        }
        return n;
    }
    char *save = NULL;
    for (char *t = strtok_r(s, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (n < max) {
            tok[n] = t;
        }
        n++;
    }
    return n;
}

static int parse_long(const char *s, long *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0';
}

static int parse_double(const char *s, double *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' && isfinite(*v);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* A label problem: a warning, or the error when strict. */
static int problem(const ds_source_config *cfg, lm_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int problem(const ds_source_config *cfg, lm_err *err, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cfg->strict) {
        return lm_err_set(err, LM_EFORMAT, "%s", msg);
    }
    lm_log(LM_LOG_WARN, "%s", msg);
    return 0;
}

/* Table styles. */
enum { TAB_PLAIN = 0, TAB_COUNTED = 1, TAB_CSV = 2 };

typedef int (*row_fn)(void *user, const char *name, const long *v, int n, const char *path,
                      int line, lm_err *err);

/* Parse "name v1 .. vN" rows. TAB_COUNTED: line 1 a count, line 2 names
 * (CelebA); TAB_PLAIN: no header (a first row with a non-numeric value is
 * taken as a header); TAB_CSV: comma-separated with a header row. */
static int parse_table(const char *path, int ncols, int style, row_fn cb, void *user,
                       const ds_source_config *cfg, lm_err *err)
{
    lines L;
    int rc = lines_open(&L, path, err);
    if (rc != 0) {
        return rc;
    }
    int csv = style == TAB_CSV;
    long count = -1;
    size_t rows = 0;
    char *tok[MAX_TOK];
    long vals[MAX_TOK];
    char *s;
    if (style == TAB_COUNTED) {
        s = lines_next(&L);
        int n = s ? split(s, 0, tok, MAX_TOK) : 0;
        if (n != 1 || !parse_long(tok[0], &count)) {
            rc = lm_err_set(err, LM_EFORMAT, "%s:1: expected the number of rows", path);
            goto out;
        }
        s = lines_next(&L);
        n = s ? split(s, 0, tok, MAX_TOK) : 0;
        if (n != ncols && n != ncols + 1) {
            rc = lm_err_set(err, LM_EFORMAT, "%s:2: header has %d names, expected %d", path, n,
                            ncols);
            goto out;
        }
    } else if (style == TAB_CSV) {
        s = lines_next(&L);
        int n = s ? split(s, 1, tok, MAX_TOK) : 0;
        if (n != ncols + 1) {
            rc = lm_err_set(err, LM_EFORMAT, "%s:1: CSV header has %d columns, expected %d", path,
                            n, ncols + 1);
            goto out;
        }
    }
    while (rc == 0 && (s = lines_next(&L)) != NULL) {
        int n = split(s, csv, tok, MAX_TOK);
        if (n == 0) {
            continue; /* blank line */
        }
        if (n != ncols + 1) {
            rc = problem(cfg, err, "%s:%d: %d columns, expected %d; row skipped", path, L.lineno,
                         n, ncols + 1);
            continue;
        }
        int ok = 1;
        for (int i = 0; i < ncols && ok; i++) {
            ok = parse_long(tok[i + 1], &vals[i]);
        }
        if (!ok) {
            if (style == TAB_PLAIN && rows == 0 && L.lineno == 1) {
                continue; /* a header line some copies add ("image identity") */
            }
            rc = problem(cfg, err, "%s:%d: non-numeric value in row for '%s'; row skipped", path,
                         L.lineno, tok[0]);
            continue;
        }
        rows++;
        rc = cb(user, tok[0], vals, ncols, path, L.lineno, err);
    }
    if (rc == 0 && count >= 0 && (size_t)count != rows) {
        lm_log(LM_LOG_WARN, "%s:1: says %ld rows, the file has %zu (rows are trusted)", path,
               count, rows);
    }
out:
    free(L.buf);
    return rc;
}

/* ---- shared item bookkeeping ---- */

typedef struct itemtab {
    ds_plan *p;
    ds_map *by_stem;
    const ds_source_config *cfg;
    size_t unknown;      /* rows naming images not in the dataset */
    char unknown_first[300];
} itemtab;

static int itemtab_init(itemtab *t, ds_plan *p, const ds_source_config *cfg, lm_err *err)
{
    memset(t, 0, sizeof *t);
    t->p = p;
    t->cfg = cfg;
    size_t n = ds_plan_count(p);
    t->by_stem = ds_map_new(n);
    if (t->by_stem == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const char *st;
        size_t sl;
        ds_stem(ds_plan_rel(p, i), &st, &sl);
        int r = ds_map_put(t->by_stem, st, sl, (int64_t)i);
        if (r < 0) {
            return lm_err_set(err, r, "out of memory");
        }
        if (r == 1) {
            lm_log(LM_LOG_WARN, "%s: another image has the same name; labels go to the first",
                   ds_plan_rel(p, i));
        }
    }
    return 0;
}

/* Item index of a label row's file name, or -1 (counted as unknown). */
static long itemtab_find(itemtab *t, const char *name, const char *path, int line)
{
    const char *st;
    size_t sl;
    ds_stem(name, &st, &sl);
    int64_t v;
    if (ds_map_get(t->by_stem, st, sl, &v)) {
        return (long)v;
    }
    if (t->unknown++ == 0) {
        snprintf(t->unknown_first, sizeof t->unknown_first, "%s:%d ('%s')", path, line, name);
    }
    return -1;
}

static void itemtab_report(itemtab *t, const char *what)
{
    if (t->unknown > 0) {
        lm_log(LM_LOG_WARN, "%s: %zu rows name images that are not in the dataset (first: %s)",
               what, t->unknown, t->unknown_first);
    }
    t->unknown = 0;
}

static int set_extra(ds_plan *p, size_t i, const ds_extra *x, lm_err *err)
{
    size_t n = ds_extra_size(x);
    unsigned char stackbuf[2048];
    unsigned char *b = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (b == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    ds_extra_encode(x, b);
    int rc = ds_plan_set_extra(p, i, b, (uint32_t)n);
    if (b != stackbuf) {
        free(b);
    }
    return rc != 0 ? lm_err_set(err, rc, "out of memory") : 0;
}

/* First existing path among dirs x names (dirs may hold NULL). */
static int find_file(char *out, size_t cap, const char *const *dirs, int ndirs,
                     const char *const *names, int want_type)
{
    for (int d = 0; d < ndirs; d++) {
        if (dirs[d] == NULL) {
            continue;
        }
        for (int k = 0; names[k] != NULL; k++) {
            snprintf(out, cap, "%s/%s", dirs[d], names[k]);
            int t = ds_path_type(out);
            if (t != 0 && (want_type == 0 || t == want_type)) {
                return 1;
            }
        }
    }
    return 0;
}

static void dirname_of(char *out, size_t cap, const char *path)
{
    snprintf(out, cap, "%s", path);
    char *s = strrchr(out, '/');
    if (s != NULL && s != out) {
        *s = '\0';
    } else if (s == out) {
        out[1] = '\0';
    }
}

/* ---- CelebA ---- */

#define CELEBA_NATTR 40
#define CELEBA_NLAB 46 /* 40 attributes, identity, partition, bbox x y w h */

typedef struct celeba {
    itemtab t;
    int8_t *attr;   /* n x 40, 0 = no row */
    int32_t *ident; /* -1 */
    int8_t *part;   /* -1 */
    int32_t *bbox;  /* n x 4, -1 */
    float *lmk;     /* n x 10 */
    unsigned char *has_lmk, *seen;
} celeba;

static int dup_row(celeba *c, size_t i, int bit, const char *path, int line, const char *name,
                   lm_err *err)
{
    if (c->seen[i] & bit) {
        return problem(c->t.cfg, err, "%s:%d: duplicate row for '%s'; the first is kept", path,
                       line, name);
    }
    c->seen[i] |= (unsigned char)bit;
    return 0;
}

static int celeba_attr_row(void *u, const char *name, const long *v, int n, const char *path,
                           int line, lm_err *err)
{
    celeba *c = u;
    long i = itemtab_find(&c->t, name, path, line);
    if (i < 0) {
        return 0;
    }
    if (c->seen[i] & 1) {
        return dup_row(c, (size_t)i, 1, path, line, name, err);
    }
    for (int k = 0; k < n; k++) {
        if (v[k] != 1 && v[k] != -1 && v[k] != 0) {
            return problem(c->t.cfg, err, "%s:%d: attribute %d of '%s' is %ld (expected 1 or -1); "
                           "row skipped", path, line, k + 1, name, v[k]);
        }
    }
    c->seen[i] |= 1;
    for (int k = 0; k < n; k++) {
        c->attr[(size_t)i * CELEBA_NATTR + k] = (int8_t)v[k];
    }
    return 0;
}

static int celeba_ident_row(void *u, const char *name, const long *v, int n, const char *path,
                            int line, lm_err *err)
{
    (void)n;
    celeba *c = u;
    long i = itemtab_find(&c->t, name, path, line);
    if (i < 0 || (c->seen[i] & 2)) {
        return i < 0 ? 0 : dup_row(c, (size_t)i, 2, path, line, name, err);
    }
    c->seen[i] |= 2;
    c->ident[i] = (int32_t)v[0];
    return 0;
}

static int celeba_part_row(void *u, const char *name, const long *v, int n, const char *path,
                           int line, lm_err *err)
{
    (void)n;
    celeba *c = u;
    long i = itemtab_find(&c->t, name, path, line);
    if (i < 0 || (c->seen[i] & 4)) {
        return i < 0 ? 0 : dup_row(c, (size_t)i, 4, path, line, name, err);
    }
    if (v[0] < 0 || v[0] > 2) {
        return problem(c->t.cfg, err, "%s:%d: partition of '%s' is %ld (expected 0, 1 or 2); "
                       "row skipped", path, line, name, v[0]);
    }
    c->seen[i] |= 4;
    c->part[i] = (int8_t)v[0];
    return 0;
}

static int celeba_bbox_row(void *u, const char *name, const long *v, int n, const char *path,
                           int line, lm_err *err)
{
    celeba *c = u;
    long i = itemtab_find(&c->t, name, path, line);
    if (i < 0 || (c->seen[i] & 8)) {
        return i < 0 ? 0 : dup_row(c, (size_t)i, 8, path, line, name, err);
    }
    c->seen[i] |= 8;
    for (int k = 0; k < n; k++) {
        c->bbox[(size_t)i * 4 + k] = (int32_t)v[k];
    }
    return 0;
}

static int celeba_lmk_row(void *u, const char *name, const long *v, int n, const char *path,
                          int line, lm_err *err)
{
    celeba *c = u;
    long i = itemtab_find(&c->t, name, path, line);
    if (i < 0 || (c->seen[i] & 16)) {
        return i < 0 ? 0 : dup_row(c, (size_t)i, 16, path, line, name, err);
    }
    c->seen[i] |= 16;
    c->has_lmk[i] = 1;
    for (int k = 0; k < n; k++) {
        c->lmk[(size_t)i * 10 + k] = (float)v[k];
    }
    return 0;
}

/* Find an annotation file as .txt (CelebA) or .csv (Kaggle mirror). */
static int celeba_anno(char *out, size_t cap, const char *const *dirs, int nd, const char *base,
                       int *csv)
{
    char t[128], c[128];
    snprintf(t, sizeof t, "%s.txt", base);
    snprintf(c, sizeof c, "%s.csv", base);
    const char *names_t[] = {t, NULL};
    const char *names_c[] = {c, NULL};
    if (find_file(out, cap, dirs, nd, names_t, 2)) {
        *csv = 0;
        return 1;
    }
    if (find_file(out, cap, dirs, nd, names_c, 2)) {
        *csv = 1;
        return 1;
    }
    return 0;
}

int ds_adapt_celeba(ds_plan *p, const char *prefix, const char *root, const ds_source_config *cfg,
                    lm_err *err)
{
    int wild = cfg->images != NULL && strcmp(cfg->images, "wild") == 0;
    if (cfg->images != NULL && !wild && strcmp(cfg->images, "aligned") != 0) {
        return lm_err_set(err, LM_ECONFIG, "[dataset] images = %s: celeba has 'aligned' or 'wild'",
                          cfg->images);
    }
    char images[PATH_MAX], parent[PATH_MAX], anno_dir[PATH_MAX], eval_dir[PATH_MAX];
    char pa_dir[PATH_MAX], pe_dir[PATH_MAX];
    int rt = ds_path_type(root);
    const char *aligned_names[] = {"Img/img_align_celeba.zip", "img_align_celeba.zip",
                                   "Img/img_align_celeba", "img_align_celeba",
                                   "Img/img_align_celeba_png", "img_align_celeba_png", NULL};
    const char *wild_names[] = {"Img/img_celeba", "img_celeba", "Img/img_celeba.7z",
                                "img_celeba.7z", NULL};
    const char *rd[] = {root};
    if (rt == 1 && find_file(images, sizeof images, rd, 1, wild ? wild_names : aligned_names, 0)) {
        snprintf(parent, sizeof parent, "%s", root);
    } else {
        /* path names the image zip/folder itself */
        snprintf(images, sizeof images, "%s", root);
        dirname_of(parent, sizeof parent, root);
        if (strcmp(parent + strlen(parent) - (strlen(parent) >= 3 ? 3 : 0), "Img") == 0) {
            char up[PATH_MAX];
            dirname_of(up, sizeof up, parent);
            snprintf(parent, sizeof parent, "%s", up);
        }
    }
    snprintf(anno_dir, sizeof anno_dir, "%s/Anno", parent);
    snprintf(eval_dir, sizeof eval_dir, "%s/Eval", parent);
    snprintf(pa_dir, sizeof pa_dir, "%s/Anno", root);
    snprintf(pe_dir, sizeof pe_dir, "%s/Eval", root);
    const char *dirs[] = {cfg->annotations, parent, anno_dir, eval_dir, root, pa_dir, pe_dir};
    int nd = 7;
    int rc = ds_plan_list(p, prefix, images, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = ds_plan_count(p);
    celeba c;
    memset(&c, 0, sizeof c);
    rc = itemtab_init(&c.t, p, cfg, err);
    c.attr = calloc(n, CELEBA_NATTR);
    c.ident = malloc(n * sizeof *c.ident);
    c.part = malloc(n);
    c.bbox = malloc(n * 4 * sizeof *c.bbox);
    c.lmk = calloc(n * 10, sizeof *c.lmk);
    c.has_lmk = calloc(n, 1);
    c.seen = calloc(n, 1);
    if (rc == 0 && (!c.attr || !c.ident || !c.part || !c.bbox || !c.lmk || !c.has_lmk || !c.seen)) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        c.ident[i] = -1;
        c.part[i] = -1;
        for (int k = 0; k < 4; k++) {
            c.bbox[i * 4 + k] = -1;
        }
    }
    char path[PATH_MAX + 160];
    int csv = 0;
    struct {
        const char *base;
        int ncols;
        row_fn fn;
        int counted;
    } files[] = {
        {"list_attr_celeba", CELEBA_NATTR, celeba_attr_row, 1},
        {"identity_CelebA", 1, celeba_ident_row, 0},
        {"list_eval_partition", 1, celeba_part_row, 0},
        {"list_bbox_celeba", 4, celeba_bbox_row, 1},
        {wild ? "list_landmarks_celeba" : "list_landmarks_align_celeba", 10, celeba_lmk_row, 1},
    };
    int found_any = 0;
    for (size_t f = 0; rc == 0 && f < sizeof files / sizeof files[0]; f++) {
        if (!celeba_anno(path, sizeof path, dirs, nd, files[f].base, &csv)) {
            lm_log(LM_LOG_WARN, "celeba: %s.txt not found next to %s (searched %s, its Anno/ and "
                   "Eval/); its labels are absent", files[f].base, images, parent);
            continue;
        }
        found_any = 1;
        int style = csv ? TAB_CSV : files[f].counted ? TAB_COUNTED : TAB_PLAIN;
        rc = parse_table(path, files[f].ncols, style, files[f].fn, &c, cfg, err);
        itemtab_report(&c.t, path);
        lm_log(LM_LOG_DEBUG, "celeba: read %s", path);
    }
    if (rc == 0 && !found_any) {
        lm_log(LM_LOG_WARN, "celeba: no annotation files found for %s", images);
    }
    size_t missing_attr = 0;
    const char *first_missing = NULL;
    unsigned char *keep = calloc(n ? n : 1, 1);
    if (rc == 0 && keep == NULL) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *rel = ds_plan_rel(p, i);
        const char *st;
        size_t sl;
        ds_stem(rel, &st, &sl);
        /* Only image files take part (README.txt and the like do not). */
        if (!ends_with(rel, ".jpg") && !ends_with(rel, ".png") && !ends_with(rel, ".jpeg")) {
            continue;
        }
        if (cfg->split > 0 && c.part[i] != cfg->split - 1) {
            continue;
        }
        keep[i] = 1;
        if (!(c.seen[i] & 1) && missing_attr++ == 0) {
            first_missing = rel;
        }
        ds_extra x;
        ds_extra_init(&x);
        x.nlabels = CELEBA_NLAB;
        for (int k = 0; k < CELEBA_NATTR; k++) {
            x.labels[k] = c.attr[i * CELEBA_NATTR + k];
        }
        x.labels[40] = c.ident[i];
        x.labels[41] = c.part[i];
        for (int k = 0; k < 4; k++) {
            x.labels[42 + k] = c.bbox[i * 4 + k];
        }
        x.identity = c.ident[i];
        x.split = c.part[i] >= 0 ? c.part[i] : DS_SPLIT_NONE;
        x.flags = wild ? 0 : DS_X_ALIGNED;
        if (c.has_lmk[i]) {
            x.lmk_kind = DS_LMK_CELEBA5;
            x.npoints = 5;
            memcpy(x.pts, &c.lmk[i * 10], 10 * sizeof(float));
        }
        rc = set_extra(p, i, &x, err);
    }
    if (rc == 0 && missing_attr > 0) {
        lm_log(LM_LOG_WARN, "celeba: %zu images have no row in list_attr_celeba (first: %s); "
               "their attributes are 0", missing_attr, first_missing);
    }
    if (rc == 0) {
        ds_plan_keep(p, keep);
        if (ds_plan_count(p) == 0) {
            rc = lm_err_set(err, LM_ECONFIG, "%s: no CelebA images%s", images,
                            cfg->split > 0 ? " in the chosen split" : "");
        }
    }
    if (rc == 0) {
        rc = ds_plan_finish(p, root, images, DS_KIND_CELEBA, cfg->limit, err);
    }
    free(keep);
    ds_map_free(c.t.by_stem);
    free(c.attr);
    free(c.ident);
    free(c.part);
    free(c.bbox);
    free(c.lmk);
    free(c.has_lmk);
    free(c.seen);
    return rc;
}

/* ---- FFHQ ---- */

#define FFHQ_NLAB 3 /* index, category (0 training, 1 validation), licence code */

static const char *const ffhq_licenses[] = {
    "Attribution License",               /* 0: CC BY 2.0 */
    "Attribution-NonCommercial License", /* 1: CC BY-NC 2.0 */
    "Public Domain Mark",                /* 2: Public Domain Mark 1.0 */
    "Public Domain Dedication (CC0)",    /* 3: CC0 1.0 */
    "United States Government Work",     /* 4 */
    NULL};

static int license_code(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    for (int i = 0; ffhq_licenses[i] != NULL; i++) {
        if (strncmp(s, ffhq_licenses[i], strlen(ffhq_licenses[i])) == 0) {
            return i;
        }
    }
    if (strstr(s, "CC0") != NULL) {
        return 3;
    }
    return -1;
}

/* FFHQ index of an image file name: "00012.png" or "img00000012.png"; -1 if not. */
static long ffhq_index_of(const char *rel)
{
    const char *st;
    size_t sl;
    ds_stem(rel, &st, &sl);
    if (!ends_with(rel, ".png") && !ends_with(rel, ".jpg")) {
        return -1;
    }
    if (sl > 3 && strncmp(st, "img", 3) == 0) {
        st += 3;
        sl -= 3;
    }
    if (sl == 0 || sl > 9) {
        return -1;
    }
    long v = 0;
    for (size_t k = 0; k < sl; k++) {
        if (!isdigit((unsigned char)st[k])) {
            return -1;
        }
        v = v * 10 + (st[k] - '0');
    }
    return v;
}

/* End of the JSON value starting at s (object, array, string or scalar). */
static const char *json_value_end(const char *s, const char *end)
{
    int depth = 0, in_str = 0;
    for (const char *q = s; q < end; q++) {
        char ch = *q;
        if (in_str) {
            if (ch == '\\') {
                q++;
            } else if (ch == '"') {
                in_str = 0;
                if (depth == 0) {
                    return q + 1;
                }
            }
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0) {
                return q; /* end of the enclosing container: scalar ended */
            }
            if (--depth == 0) {
                return q + 1;
            }
        } else if (depth == 0 && (ch == ',' || isspace((unsigned char)ch))) {
            return q;
        }
    }
    return NULL;
}

static int ffhq_points(cJSON *arr, float *pts, double scale)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != 68) {
        return cJSON_IsArray(arr) ? -cJSON_GetArraySize(arr) - 1 : -1000;
    }
    int k = 0;
    cJSON *pt;
    cJSON_ArrayForEach(pt, arr)
    {
        cJSON *x = cJSON_GetArrayItem(pt, 0), *y = cJSON_GetArrayItem(pt, 1);
        if (!cJSON_IsNumber(x) || !cJSON_IsNumber(y)) {
            return -1000;
        }
        pts[2 * k] = (float)(x->valuedouble * scale);
        pts[2 * k + 1] = (float)(y->valuedouble * scale);
        k++;
    }
    return 0;
}

typedef struct ffhq {
    ds_plan *p;
    const ds_source_config *cfg;
    ds_map *by_index; /* decimal index -> item */
    int variant;      /* 0 aligned, 1 thumbnails, 2 wild */
    unsigned char *have;
    int8_t *category;
    const char *json_path;
} ffhq;

static int ffhq_entry(ffhq *f, const char *key, size_t klen, cJSON *v, int line, lm_err *err)
{
    int64_t item;
    char kbuf[32];
    snprintf(kbuf, sizeof kbuf, "%.*s", (int)(klen < 20 ? klen : 20), key);
    long idx = 0;
    if (!parse_long(kbuf, &idx) || idx < 0) {
        return problem(f->cfg, err, "%s:%d: entry key \"%s\" is not an image index; skipped",
                       f->json_path, line, kbuf);
    }
    snprintf(kbuf, sizeof kbuf, "%ld", idx);
    if (!ds_map_get(f->by_index, kbuf, strlen(kbuf), &item)) {
        return 0; /* an image of another subset */
    }
    if (f->have[item]) {
        return problem(f->cfg, err, "%s:%d: duplicate entry \"%s\"; the first is kept",
                       f->json_path, line, kbuf);
    }
    f->have[item] = 1;
    static const char *const part[] = {"image", "thumbnail", "in_the_wild"};
    cJSON *meta = cJSON_GetObjectItem(v, "metadata");
    cJSON *img = cJSON_GetObjectItem(v, part[f->variant]);
    cJSON *aligned = cJSON_GetObjectItem(v, "image");
    const char *cat = cJSON_GetStringValue(cJSON_GetObjectItem(v, "category"));
    const char *lic = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "license"));
    if (cat == NULL || !cJSON_IsObject(meta) || !cJSON_IsObject(img)) {
        int rc = problem(f->cfg, err, "%s:%d: entry \"%s\" lacks %s; its labels are partial",
                         f->json_path, line, kbuf,
                         cat == NULL ? "\"category\"" : !cJSON_IsObject(meta) ? "\"metadata\""
                                                                               : part[f->variant]);
        if (rc != 0) {
            return rc;
        }
    }
    ds_extra x;
    ds_extra_init(&x);
    x.nlabels = FFHQ_NLAB;
    x.labels[0] = (int32_t)idx;
    x.labels[1] = cat == NULL ? -1 : strcmp(cat, "training") == 0 ? 0
                : strcmp(cat, "validation") == 0                  ? 1
                                                                  : -1;
    x.labels[2] = license_code(lic);
    f->category[item] = (int8_t)x.labels[1];
    x.split = x.labels[1] >= 0 ? x.labels[1] : DS_SPLIT_NONE;
    x.flags = f->variant == 2 ? 0 : DS_X_ALIGNED;
    double scale = 1.0;
    cJSON *lm = cJSON_GetObjectItem(f->variant == 2 ? img : aligned, "face_landmarks");
    if (f->variant == 1) {
        cJSON *ts = cJSON_GetObjectItem(img, "pixel_size");
        cJSON *as = cJSON_GetObjectItem(aligned, "pixel_size");
        if (cJSON_IsNumber(cJSON_GetArrayItem(ts, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(as, 0)) &&
            cJSON_GetArrayItem(as, 0)->valuedouble > 0) {
            scale = cJSON_GetArrayItem(ts, 0)->valuedouble / cJSON_GetArrayItem(as, 0)->valuedouble;
        } else {
            lm = NULL;
        }
    }
    if (lm != NULL) {
        int r = ffhq_points(lm, x.pts, scale);
        if (r == 0) {
            x.npoints = 68;
            x.lmk_kind = DS_LMK_DLIB68;
        } else {
            int rc = problem(f->cfg, err, "%s:%d: entry \"%s\": face_landmarks %s; no landmarks",
                             f->json_path, line, kbuf,
                             r == -1000 ? "are not [x, y] number pairs" : "do not have 68 points");
            if (rc != 0) {
                return rc;
            }
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *fo = cJSON_AddObjectToObject(o, "ffhq");
    if (o == NULL || fo == NULL) {
        cJSON_Delete(o);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    static const char *const mkeys[] = {"license", "license_url", "author", "photo_url",
                                        "country", NULL};
    for (int k = 0; mkeys[k] != NULL; k++) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(meta, mkeys[k]));
        if (s != NULL) {
            cJSON_AddStringToObject(fo, mkeys[k], s);
        }
    }
    static const char *const ikeys[] = {"file_md5", "pixel_md5", "file_path", NULL};
    for (int k = 0; ikeys[k] != NULL; k++) {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(img, ikeys[k]));
        if (s != NULL) {
            cJSON_AddStringToObject(fo, ikeys[k], s);
        }
    }
    cJSON *fsz = cJSON_GetObjectItem(img, "file_size");
    if (cJSON_IsNumber(fsz)) {
        cJSON_AddNumberToObject(fo, "file_size", fsz->valuedouble);
    }
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (js == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    x.json = js;
    x.json_len = strlen(js);
    int rc = set_extra(f->p, (size_t)item, &x, err);
    free(js);
    return rc;
}

static int ffhq_parse_json(ffhq *f, const char *path, lm_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = lm_io_read_file(path, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    const char *s = buf, *end = s + len, *q = s;
    int line = 1;
#define SKIPWS()                                                                                   \
    while (q < end && isspace((unsigned char)*q)) {                                               \
        line += *q++ == '\n';                                                                      \
    }
    SKIPWS();
    if (q >= end || *q != '{') {
        rc = lm_err_set(err, LM_EFORMAT, "%s:%d: expected a JSON object of entries", path, line);
        goto out;
    }
    q++;
    for (;;) {
        SKIPWS();
        if (q < end && *q == '}') {
            break;
        }
        if (q >= end || *q != '"') {
            rc = lm_err_set(err, LM_EFORMAT, "%s:%d: expected an entry key (truncated JSON?)",
                            path, line);
            goto out;
        }
        const char *k0 = ++q;
        while (q < end && *q != '"') {
            q++;
        }
        const char *k1 = q++;
        SKIPWS();
        if (q >= end || *q != ':') {
            rc = lm_err_set(err, LM_EFORMAT, "%s:%d: expected ':' after entry key", path, line);
            goto out;
        }
        q++;
        SKIPWS();
        const char *v1 = json_value_end(q, end);
        if (v1 == NULL) {
            rc = lm_err_set(err, LM_EFORMAT, "%s:%d: entry \"%.*s\" is cut off (truncated JSON)",
                            path, line, (int)(k1 - k0 < 20 ? k1 - k0 : 20), k0);
            goto out;
        }
        int entry_line = line;
        cJSON *v = cJSON_ParseWithLength(q, (size_t)(v1 - q));
        for (const char *c = q; c < v1; c++) {
            line += *c == '\n';
        }
        if (v == NULL || !cJSON_IsObject(v)) {
            rc = problem(f->cfg, err, "%s:%d: entry \"%.*s\" is not a valid JSON object; skipped",
                         path, entry_line, (int)(k1 - k0 < 20 ? k1 - k0 : 20), k0);
        } else {
            rc = ffhq_entry(f, k0, (size_t)(k1 - k0), v, entry_line, err);
        }
        cJSON_Delete(v);
        if (rc != 0) {
            goto out;
        }
        q = v1;
        SKIPWS();
        if (q < end && *q == ',') {
            q++;
        }
    }
#undef SKIPWS
out:
    free(buf);
    return rc;
}

int ds_adapt_ffhq(ds_plan *p, const char *prefix, const char *root, const ds_source_config *cfg,
                  lm_err *err)
{
    int variant = 0;
    if (cfg->images != NULL) {
        if (strcmp(cfg->images, "aligned") == 0) {
            variant = 0;
        } else if (strcmp(cfg->images, "thumbnails") == 0) {
            variant = 1;
        } else if (strcmp(cfg->images, "wild") == 0) {
            variant = 2;
        } else {
            return lm_err_set(err, LM_ECONFIG, "[dataset] images = %s: ffhq has 'aligned', "
                              "'thumbnails' or 'wild'", cfg->images);
        }
    }
    static const char *const cand[3][5] = {
        {"images1024x1024", "images1024x1024.zip", NULL},
        {"thumbnails128x128", "thumbnails128x128.zip", NULL},
        {"in-the-wild-images", "in-the-wild-images.zip", NULL}};
    char images[PATH_MAX], parent[PATH_MAX];
    const char *rd[] = {root};
    if (ds_path_type(root) == 1 && find_file(images, sizeof images, rd, 1, cand[variant], 0)) {
        snprintf(parent, sizeof parent, "%s", root);
    } else {
        snprintf(images, sizeof images, "%s", root);
        dirname_of(parent, sizeof parent, root);
    }
    int rc = ds_plan_list(p, prefix, images, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = ds_plan_count(p);
    ffhq f;
    memset(&f, 0, sizeof f);
    f.p = p;
    f.cfg = cfg;
    f.variant = variant;
    f.by_index = ds_map_new(n);
    f.have = calloc(n, 1);
    f.category = malloc(n);
    unsigned char *keep = calloc(n, 1);
    if (f.by_index == NULL || f.have == NULL || f.category == NULL || keep == NULL) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
    }
    size_t nimg = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        f.category[i] = -1;
        long idx = ffhq_index_of(ds_plan_rel(p, i));
        if (idx < 0) {
            continue; /* LICENSE.txt, dataset.json, ... */
        }
        char kb[32];
        snprintf(kb, sizeof kb, "%ld", idx);
        int r = ds_map_put(f.by_index, kb, strlen(kb), (int64_t)i);
        if (r < 0) {
            rc = lm_err_set(err, r, "out of memory");
        } else if (r == 1) {
            lm_log(LM_LOG_WARN, "ffhq: %s: a second image with index %ld; skipped",
                   ds_plan_rel(p, i), idx);
        } else {
            keep[i] = 1;
            nimg++;
        }
    }
    char jpath[PATH_MAX + 64];
    const char *dirs[] = {cfg->annotations, parent, root};
    const char *jnames[] = {"ffhq-dataset-v2.json", "ffhq-dataset-v1.json", NULL};
    if (rc == 0 && find_file(jpath, sizeof jpath, dirs, 3, jnames, 2)) {
        f.json_path = jpath;
        rc = ffhq_parse_json(&f, jpath, err);
    } else if (rc == 0) {
        lm_log(LM_LOG_WARN, "ffhq: ffhq-dataset-v2.json not found in %s; items carry only their "
               "index", parent);
    }
    size_t nolabel = 0;
    const char *first = NULL;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!keep[i]) {
            continue;
        }
        if (!f.have[i]) {
            if (f.json_path != NULL && nolabel++ == 0) {
                first = ds_plan_rel(p, i);
            }
            ds_extra x;
            ds_extra_init(&x);
            x.nlabels = FFHQ_NLAB;
            x.labels[0] = (int32_t)ffhq_index_of(ds_plan_rel(p, i));
            x.labels[1] = -1;
            x.labels[2] = -1;
            x.flags = variant == 2 ? 0 : DS_X_ALIGNED;
            rc = set_extra(p, i, &x, err);
        }
        if (cfg->split == 3) {
            keep[i] = 0; /* FFHQ has no test split */
        } else if (cfg->split > 0 && f.category[i] != cfg->split - 1) {
            keep[i] = 0;
        }
    }
    if (rc == 0 && nolabel > 0) {
        lm_log(LM_LOG_WARN, "ffhq: %zu images have no entry in %s (first: %s)", nolabel,
               f.json_path, first);
    }
    if (rc == 0) {
        ds_plan_keep(p, keep);
        rc = ds_plan_finish(p, root, images, DS_KIND_FFHQ, cfg->limit, err);
    }
    (void)nimg;
    free(keep);
    free(f.have);
    free(f.category);
    ds_map_free(f.by_index);
    return rc;
}

/* ---- CK+ ---- */

#define CK_NLAB 5 /* emotion, subject, sequence, frame, frame role */

/* "S005_001_00000011..." -> subject 5, sequence 1, frame 11; 0 when not a CK+ name. */
static int ck_name(const char *base, long *subj, long *seq, long *frame)
{
    char s[4], q[4], f[9];
    if (base[0] != 'S' || strlen(base) < 17 || base[4] != '_' || base[8] != '_') {
        return 0;
    }
    memcpy(s, base + 1, 3);
    s[3] = '\0';
    memcpy(q, base + 5, 3);
    q[3] = '\0';
    memcpy(f, base + 9, 8);
    f[8] = '\0';
    for (int i = 0; i < 8; i++) {
        if (!isdigit((unsigned char)f[i]) || (i < 3 && (!isdigit((unsigned char)s[i]) ||
                                                        !isdigit((unsigned char)q[i])))) {
            return 0;
        }
    }
    *subj = strtol(s, NULL, 10);
    *seq = strtol(q, NULL, 10);
    *frame = strtol(f, NULL, 10);
    return 1;
}

typedef struct ckseq {
    long first, last;
    int emotion;
    char *facs; /* JSON array text or NULL */
} ckseq;

typedef struct ckplus {
    ds_plan *p;
    const ds_source_config *cfg;
    ds_map *by_stem, *by_seq;
    long *subj, *seq, *frame, *seqid;
    float *lmk;
    unsigned char *has_lmk;
    ckseq *seqs;
    size_t nseq;
    size_t orphans;
    char orphan_first[200];
    const char *tree;
    lm_err *err;
} ckplus;

static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static int ck_orphan(ckplus *c, const char *name)
{
    if (c->orphans++ == 0) {
        snprintf(c->orphan_first, sizeof c->orphan_first, "%s", name);
    }
    return 0;
}

static int ck_file(const char *name, const char *bytes, size_t len, void *user)
{
    ckplus *c = user;
    lm_err *err = c->err;
    const char *b = base_of(name);
    long subj, seq, frame;
    if (!ck_name(b, &subj, &seq, &frame)) {
        return 0;
    }
    char *text = strndup(bytes, len);
    if (text == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = 0;
    char key[20];
    snprintf(key, sizeof key, "%.17s", b);
    if (ends_with(b, "_landmarks.txt")) {
        int64_t item;
        if (!ds_map_get(c->by_stem, key, 17, &item)) {
            ck_orphan(c, name);
        } else {
            float pts[2 * 80];
            int np = 0, bad = 0, line = 0;
            char *save = NULL;
            for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                line++;
                char *tok[4];
                int n = split(l, 0, tok, 4);
                if (n == 0) {
                    continue;
                }
                double x, y;
                if (n != 2 || !parse_double(tok[0], &x) || !parse_double(tok[1], &y)) {
                    rc = problem(c->cfg, err, "%s/%s:%d: expected two numbers 'x y'; file skipped",
                                 c->tree, name, line);
                    bad = 1;
                    break;
                }
                if (np < 80) {
                    pts[2 * np] = (float)x;
                    pts[2 * np + 1] = (float)y;
                }
                np++;
            }
            if (!bad && np != 68) {
                rc = problem(c->cfg, err, "%s/%s: %d landmark points, expected 68; file skipped",
                             c->tree, name, np);
            } else if (!bad) {
                memcpy(&c->lmk[(size_t)item * 136], pts, 136 * sizeof(float));
                c->has_lmk[item] = 1;
            }
        }
    } else if (ends_with(b, "_emotion.txt") || ends_with(b, "_facs.txt")) {
        int64_t s;
        if (!ds_map_get(c->by_seq, key, 8, &s)) {
            ck_orphan(c, name);
        } else if (frame != c->seqs[s].last) {
            rc = problem(c->cfg, err, "%s/%s: names frame %ld but the sequence ends at frame %ld; "
                         "used anyway", c->tree, name, frame, c->seqs[s].last);
        }
        if (rc == 0 && ds_map_get(c->by_seq, key, 8, &s) && ends_with(b, "_emotion.txt")) {
            char *tok[4];
            int n = split(text, 0, tok, 4);
            double v;
            if (n != 1 || !parse_double(tok[0], &v) || nearbyint(v) < 0 || nearbyint(v) > 7) {
                rc = problem(c->cfg, err, "%s/%s:1: expected one emotion code 0..7; file skipped",
                             c->tree, name);
            } else {
                c->seqs[s].emotion = (int)nearbyint(v);
            }
        } else if (rc == 0 && ds_map_get(c->by_seq, key, 8, &s)) {
            cJSON *arr = cJSON_CreateArray();
            int line = 0;
            char *save = NULL;
            for (char *l = strtok_r(text, "\n", &save); l && arr; l = strtok_r(NULL, "\n", &save)) {
                line++;
                char *tok[4];
                int n = split(l, 0, tok, 4);
                double au, in;
                if (n == 0) {
                    continue;
                }
                if (n != 2 || !parse_double(tok[0], &au) || !parse_double(tok[1], &in)) {
                    rc = problem(c->cfg, err, "%s/%s:%d: expected 'AU intensity'; line skipped",
                                 c->tree, name, line);
                    if (rc != 0) {
                        break;
                    }
                    continue;
                }
                int v[2] = {(int)nearbyint(au), (int)nearbyint(in)};
                cJSON_AddItemToArray(arr, cJSON_CreateIntArray(v, 2));
            }
            free(c->seqs[s].facs);
            c->seqs[s].facs = arr ? cJSON_PrintUnformatted(arr) : NULL;
            cJSON_Delete(arr);
        }
    }
    free(text);
    return rc;
}

/* Look for a tree by directory or zip names under root (depth <= 3). */
static int ck_find(char *out, size_t cap, const char *root, const char *const *names, int depth)
{
    const char *rd[] = {root};
    if (find_file(out, cap, rd, 1, names, 0)) {
        return 1;
    }
    if (depth == 0) {
        return 0;
    }
    struct dirent **ents = NULL;
    int n = scandir(root, &ents, NULL, alphasort);
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (!found && ents[i]->d_name[0] != '.') {
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", root, ents[i]->d_name);
            /* do not descend into the image tree itself */
            if (ds_path_type(sub) == 1 && strcmp(ents[i]->d_name, "cohn-kanade-images") != 0 &&
                ents[i]->d_name[0] != 'S') {
                found = ck_find(out, cap, sub, names, depth - 1);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return found;
}

int ds_adapt_ckplus(ds_plan *p, const char *prefix, const char *root, const ds_source_config *cfg,
                    lm_err *err)
{
    static const char *const img_names[] = {"cohn-kanade-images", "cohn-kanade-images.zip",
                                            "extended-cohn-kanade-images.zip", NULL};
    static const char *const lmk_names[] = {"Landmarks", "Landmarks.zip", NULL};
    static const char *const facs_names[] = {"FACS", "FACS_labels.zip", NULL};
    static const char *const emo_names[] = {"Emotion", "Emotion_labels.zip", NULL};
    char images[PATH_MAX], base[PATH_MAX];
    if (ds_path_type(root) == 1 && ck_find(images, sizeof images, root, img_names, 3)) {
        snprintf(base, sizeof base, "%s", root);
    } else {
        snprintf(images, sizeof images, "%s", root);
        dirname_of(base, sizeof base, root);
    }
    if (cfg->annotations != NULL) {
        snprintf(base, sizeof base, "%s", cfg->annotations);
    }
    int rc = ds_plan_list(p, prefix, images, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = ds_plan_count(p);
    ckplus c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.cfg = cfg;
    c.by_stem = ds_map_new(n);
    c.by_seq = ds_map_new(n / 8 + 16);
    c.subj = malloc(n * sizeof(long));
    c.seq = malloc(n * sizeof(long));
    c.frame = malloc(n * sizeof(long));
    c.seqid = malloc(n * sizeof(long));
    c.lmk = malloc(n * 136 * sizeof(float));
    c.has_lmk = calloc(n, 1);
    c.seqs = calloc(n, sizeof *c.seqs);
    unsigned char *keep = calloc(n, 1);
    if (!c.by_stem || !c.by_seq || !c.subj || !c.seq || !c.frame || !c.seqid || !c.lmk ||
        !c.has_lmk || !c.seqs || !keep) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
    }
    size_t skipped = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *rel = ds_plan_rel(p, i);
        const char *b = base_of(rel);
        c.seqid[i] = -1;
        if (!ends_with(b, ".png") || !ck_name(b, &c.subj[i], &c.seq[i], &c.frame[i])) {
            skipped++;
            continue;
        }
        keep[i] = 1;
        ds_map_put(c.by_stem, b, 17, (int64_t)i);
        int64_t s;
        if (!ds_map_get(c.by_seq, b, 8, &s)) {
            s = (int64_t)c.nseq++;
            if (ds_map_put(c.by_seq, b, 8, s) < 0) {
                rc = lm_err_set(err, -ENOMEM, "out of memory");
                break;
            }
            c.seqs[s].first = c.seqs[s].last = c.frame[i];
            c.seqs[s].emotion = -1;
        }
        c.seqid[i] = (long)s;
        if (c.frame[i] < c.seqs[s].first) {
            c.seqs[s].first = c.frame[i];
        }
        if (c.frame[i] > c.seqs[s].last) {
            c.seqs[s].last = c.frame[i];
        }
    }
    if (rc == 0 && skipped > 0) {
        lm_log(LM_LOG_INFO, "ckplus: %zu files in %s are not CK+ frames (Sxxx_yyy_nnnnnnnn.png); "
               "left out", skipped, images);
    }
    const char *const *trees[] = {lmk_names, emo_names, facs_names};
    static const char *const what[] = {"Landmarks", "Emotion", "FACS"};
    for (int t = 0; rc == 0 && t < 3; t++) {
        char tree[PATH_MAX];
        if (!ck_find(tree, sizeof tree, base, trees[t], 3)) {
            lm_log(LM_LOG_WARN, "ckplus: no %s folder or zip under %s; those labels are absent",
                   what[t], base);
            continue;
        }
        c.tree = tree;
        c.orphans = 0;
        c.err = err;
        rc = ds_tree_scan(tree, ck_file, &c, err);
        if (c.orphans > 0) {
            lm_log(LM_LOG_WARN, "ckplus: %s: %zu files name frames or sequences that have no "
                   "image (first: %s); ignored", tree, c.orphans, c.orphan_first);
        }
    }
    int K = cfg->peak_frames > 0 ? cfg->peak_frames : 3;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!keep[i]) {
            continue;
        }
        ckseq *q = &c.seqs[c.seqid[i]];
        int role = c.frame[i] > q->last - K ? 2 : c.frame[i] == q->first ? 0 : 1;
        int emo = role == 2 ? q->emotion : role == 0 ? 0 : -1;
        if ((cfg->frames == 1 && role == 1) || (cfg->frames == 2 && emo < 0)) {
            keep[i] = 0;
            continue;
        }
        ds_extra x;
        ds_extra_init(&x);
        x.nlabels = CK_NLAB;
        x.labels[0] = emo;
        x.labels[1] = (int32_t)c.subj[i];
        x.labels[2] = (int32_t)c.seq[i];
        x.labels[3] = (int32_t)c.frame[i];
        x.labels[4] = role;
        x.identity = (int32_t)c.subj[i];
        if (c.has_lmk[i]) {
            x.npoints = 68;
            x.lmk_kind = DS_LMK_DLIB68;
            memcpy(x.pts, &c.lmk[i * 136], 136 * sizeof(float));
        }
        char js[4096];
        if (c.frame[i] == q->last) {
            snprintf(js, sizeof js, "{\"ckplus\":{\"peak\":true,\"sequence_emotion\":%d%s%s}}",
                     q->emotion, q->facs ? ",\"facs\":" : "", q->facs ? q->facs : "");
            x.json = js;
            x.json_len = strlen(js);
        }
        rc = set_extra(p, i, &x, err);
    }
    if (rc == 0) {
        ds_plan_keep(p, keep);
        if (ds_plan_count(p) == 0) {
            rc = lm_err_set(err, LM_ECONFIG, "%s: no CK+ frames (cohn-kanade-images/Sxxx/yyy/"
                            "Sxxx_yyy_nnnnnnnn.png)%s", images,
                            cfg->frames ? " for the frame policy" : "");
        }
    }
    if (rc == 0) {
        rc = ds_plan_finish(p, root, images, DS_KIND_CKPLUS, cfg->limit, err);
    }
    for (size_t s = 0; s < c.nseq; s++) {
        free(c.seqs[s].facs);
    }
    free(keep);
    ds_map_free(c.by_stem);
    ds_map_free(c.by_seq);
    free(c.subj);
    free(c.seq);
    free(c.frame);
    free(c.seqid);
    free(c.lmk);
    free(c.has_lmk);
    free(c.seqs);
    return rc;
}

/* ---- CSV of labels for any folder/archive ---- */

int ds_adapt_csv(ds_plan *p, const ds_source_config *cfg, lm_err *err)
{
    lines L;
    int rc = lines_open(&L, cfg->labels, err);
    if (rc != 0) {
        return rc;
    }
    size_t n = ds_plan_count(p);
    ds_map *by_rel = ds_map_new(n), *by_base = ds_map_new(n);
    unsigned char *have = calloc(n ? n : 1, 1);
    if (by_rel == NULL || by_base == NULL || have == NULL) {
        rc = lm_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *rel = ds_plan_rel(p, i);
        ds_map_put(by_rel, rel, strlen(rel), (int64_t)i);
        ds_map_put(by_base, base_of(rel), strlen(base_of(rel)), (int64_t)i);
    }
    char *tok[MAX_TOK];
    char *s = rc == 0 ? lines_next(&L) : NULL;
    int ncols = s ? split(s, 1, tok, MAX_TOK) - 1 : -1;
    if (rc == 0 && (ncols < 1 || ncols > DS_MAX_LABELS)) {
        rc = lm_err_set(err, LM_EFORMAT, "%s:1: expected a header 'file,label1,...' with 1 to %d "
                        "labels", cfg->labels, DS_MAX_LABELS);
    }
    size_t unknown = 0;
    char unknown_first[300] = "";
    while (rc == 0 && (s = lines_next(&L)) != NULL) {
        int nt = split(s, 1, tok, MAX_TOK);
        if (nt == 0) {
            continue;
        }
        if (nt != ncols + 1) {
            rc = problem(cfg, err, "%s:%d: %d columns, expected %d; row skipped", cfg->labels,
                         L.lineno, nt, ncols + 1);
            continue;
        }
        int64_t item;
        if (!ds_map_get(by_rel, tok[0], strlen(tok[0]), &item) &&
            !ds_map_get(by_base, tok[0], strlen(tok[0]), &item)) {
            if (unknown++ == 0) {
                snprintf(unknown_first, sizeof unknown_first, "%s:%d ('%s')", cfg->labels,
                         L.lineno, tok[0]);
            }
            continue;
        }
        ds_extra x;
        ds_extra_init(&x);
        x.nlabels = ncols;
        int ok = 1;
        for (int k = 0; k < ncols && ok; k++) {
            long v;
            ok = parse_long(tok[k + 1], &v) && v >= INT32_MIN && v <= INT32_MAX;
            x.labels[k] = (int32_t)v;
        }
        if (!ok) {
            rc = problem(cfg, err, "%s:%d: non-integer label in row for '%s'; row skipped",
                         cfg->labels, L.lineno, tok[0]);
            continue;
        }
        if (have[item]) {
            rc = problem(cfg, err, "%s:%d: duplicate row for '%s'; the first is kept",
                         cfg->labels, L.lineno, tok[0]);
            continue;
        }
        have[item] = 1;
        rc = set_extra(p, (size_t)item, &x, err);
    }
    if (rc == 0 && unknown > 0) {
        lm_log(LM_LOG_WARN, "%s: %zu rows name images that are not in the dataset (first: %s)",
               cfg->labels, unknown, unknown_first);
    }
    size_t nolab = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!have[i] && nolab++ == 0) {
            lm_log(LM_LOG_WARN, "%s: no label row for %s (and maybe others; see below)",
                   cfg->labels, ds_plan_rel(p, i));
        }
    }
    if (rc == 0 && nolab > 0) {
        lm_log(LM_LOG_WARN, "%s: %zu images have no label row; they get no labels record",
               cfg->labels, nolab);
    }
    ds_map_free(by_rel);
    ds_map_free(by_base);
    free(have);
    free(L.buf);
    return rc;
}
