/* ds_synth.c - miniature native-layout datasets with known labels and
 * landmarks (see ds_synth.h). */
#include "datasets/ds_synth.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include <cjson/cJSON.h>

#include "datasets/ds_hash.h"
#include "shared/lm_io.h"

/* ---- random numbers (splitmix64) ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unif(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_range(rng *r, double a, double b) { return a + (b - a) * rng_unif(r); }
static int rng_int(rng *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }

/* ---- the canonical face ---- */

void ds_synth_template(float p[136])
{
    const double PI = 3.14159265358979323846;
    int k = 0;
#define PT(x, y) (p[2 * k] = (float)(x), p[2 * k + 1] = (float)(y), k++)
    for (int i = 0; i <= 16; i++) { /* jaw 0-16 */
        double t = PI - i * PI / 16;
        PT(1.0 * cos(t), 0.1 + 1.45 * sin(t));
    }
    for (int i = 0; i < 5; i++) { /* left brow 17-21 */
        PT(-0.85 + 0.16 * i, -0.33 - 0.08 * sin(PI * i / 4));
    }
    for (int i = 0; i < 5; i++) { /* right brow 22-26 */
        PT(0.21 + 0.16 * i, -0.33 - 0.08 * sin(PI * i / 4));
    }
    for (int i = 0; i < 4; i++) { /* nose bridge 27-30 */
        PT(0.0, 0.05 + i * 0.5 / 3);
    }
    for (int i = 0; i < 5; i++) { /* nostrils 31-35 */
        PT(-0.2 + 0.1 * i, 0.65 + 0.04 * (i == 2));
    }
    static const double ang[6] = {180, 120, 60, 0, -60, -120};
    for (int e = 0; e < 2; e++) { /* eyes 36-41, 42-47 */
        double cx = e == 0 ? -0.5 : 0.5;
        for (int i = 0; i < 6; i++) {
            double a = ang[i] * PI / 180;
            PT(cx + 0.18 * cos(a), -0.08 * sin(a));
        }
    }
    for (int i = 0; i <= 6; i++) { /* outer lip top 48-54 */
        double t = PI - i * PI / 6;
        PT(0.45 * cos(t), 1.0 - 0.12 * sin(t));
    }
    for (int i = 1; i <= 5; i++) { /* outer lip bottom 55-59 */
        double t = i * PI / 6;
        PT(0.45 * cos(t), 1.0 + 0.15 * sin(t));
    }
    for (int i = 0; i <= 4; i++) { /* inner lip top 60-64 */
        double t = PI - i * PI / 4;
        PT(0.3 * cos(t), 1.0 - 0.04 * sin(t));
    }
    for (int i = 1; i <= 3; i++) { /* inner lip bottom 65-67 */
        double t = i * PI / 4;
        PT(0.3 * cos(t), 1.0 + 0.04 * sin(t));
    }
#undef PT
}

void ds_synth_landmarks(const ds_synth_pose *pose, float pts[136])
{
    float t[136];
    ds_synth_template(t);
    double c = cos(pose->theta), s = sin(pose->theta);
    for (int i = 0; i < 68; i++) {
        double u = t[2 * i], v = t[2 * i + 1];
        if (i >= 55 && i <= 59) {
            v += pose->mouth_open; /* lower lip drops */
        } else if (i >= 65) {
            v += pose->mouth_open;
        }
        pts[2 * i] = (float)(pose->cx + pose->s * (c * u - s * v));
        pts[2 * i + 1] = (float)(pose->cy + pose->s * (s * u + c * v));
    }
}

static double ell(double u, double v, double cu, double cv, double ru, double rv)
{
    double a = (u - cu) / ru, b = (v - cv) / rv;
    return a * a + b * b;
}

int ds_synth_face(lm_image *im, int w, int h, const ds_synth_pose *pose, uint64_t palette,
                  lm_err *err)
{
    im->w = w;
    im->h = h;
    im->c = 3;
    im->px = malloc((size_t)w * h * 3);
    if (im->px == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    rng r = {palette * 7919 + 17};
    double bg[3], bg2[3], skin[3], hair[3];
    for (int k = 0; k < 3; k++) {
        bg[k] = rng_range(&r, 40, 220);
        bg2[k] = rng_range(&r, 40, 220);
        hair[k] = rng_range(&r, 10, 90);
    }
    double tone = rng_range(&r, 0.55, 1.0);
    skin[0] = 235 * tone;
    skin[1] = 190 * tone;
    skin[2] = 160 * tone;
    double c = cos(pose->theta), s = sin(pose->theta), inv = 1.0 / pose->s;
    double mo = pose->mouth_open;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double dx = x - pose->cx, dy = y - pose->cy;
            double u = inv * (c * dx + s * dy), v = inv * (-s * dx + c * dy);
            double col[3];
            double t = (double)y / (h > 1 ? h - 1 : 1);
            for (int k = 0; k < 3; k++) {
                col[k] = bg[k] * (1 - t) + bg2[k] * t;
            }
            if (ell(u, v, 0, -0.2, 1.2, 1.15) <= 1) {
                memcpy(col, hair, sizeof col);
            }
            if (ell(u, v, 0, 0.45, 1.0, 1.15) <= 1 && v > -0.55) {
                memcpy(col, skin, sizeof col);
                if (ell(u, v, 0, 0.35, 0.06, 0.3) <= 1) { /* nose */
                    for (int k = 0; k < 3; k++) {
                        col[k] *= 0.85;
                    }
                }
                for (int e = -1; e <= 1; e += 2) {
                    if (ell(u, v, 0.53 * e, -0.35, 0.3, 0.05) <= 1) { /* brows */
                        memcpy(col, hair, sizeof col);
                    }
                    double q = ell(u, v, 0.5 * e, 0, 0.18, 0.08);
                    if (q <= 1) { /* eye white, iris, pupil at the centre */
                        col[0] = col[1] = col[2] = 245;
                        double rr = ell(u, v, 0.5 * e, 0, 0.065, 0.065);
                        if (rr <= 1) {
                            col[0] = 70, col[1] = 50, col[2] = 30;
                        }
                        if (rr <= 0.25) {
                            col[0] = col[1] = col[2] = 5;
                        }
                    }
                }
                /* mouth: lips between the outer contour, dark opening inside */
                double top = 1.0 - 0.12 * sqrt(fmax(0, 1 - (u / 0.45) * (u / 0.45)));
                double bot = 1.0 + mo + 0.15 * sqrt(fmax(0, 1 - (u / 0.45) * (u / 0.45)));
                if (fabs(u) <= 0.45 && v >= top && v <= bot) {
                    col[0] = 170, col[1] = 40, col[2] = 50;
                    double it = 1.0 - 0.04 * sqrt(fmax(0, 1 - (u / 0.3) * (u / 0.3)));
                    double ib = 1.0 + mo + 0.04 * sqrt(fmax(0, 1 - (u / 0.3) * (u / 0.3)));
                    if (fabs(u) <= 0.3 && v >= it && v <= ib && mo > 0.01) {
                        col[0] = 40, col[1] = 10, col[2] = 15;
                    }
                }
            }
            uint8_t *o = im->px + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) {
                double vv = col[k] + 6.0 * (((x * 7 + y * 13 + k * 5) % 11) / 10.0 - 0.5);
                o[k] = (uint8_t)(vv < 0 ? 0 : vv > 255 ? 255 : vv + 0.5);
            }
        }
    }
    return 0;
}

int ds_synth_jpeg(void **jpg, size_t *len, const lm_image *im, lm_err *err)
{
    tjhandle tj = tjInitCompress();
    if (tj == NULL) {
        return lm_err_set(err, -ENOMEM, "turbojpeg: cannot initialise");
    }
    unsigned char *out = NULL;
    unsigned long n = 0;
    int rc = tjCompress2(tj, im->px, im->w, 0, im->h, TJPF_RGB, &out, &n, TJSAMP_420, 95, 0);
    tjDestroy(tj);
    if (rc != 0) {
        return lm_err_set(err, LM_EFORMAT, "turbojpeg: %s", tjGetErrorStr());
    }
    *jpg = malloc(n);
    if (*jpg == NULL) {
        tjFree(out);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(*jpg, out, n);
    tjFree(out);
    *len = n;
    return 0;
}

/* ---- output sinks: a directory tree or a zip ---- */

typedef struct sink {
    char dir[PATH_MAX];
    struct archive *a;
    const char *zpath;
} sink;

static int sink_open(sink *k, const char *dir, const char *zip, int stored, lm_err *err)
{
    memset(k, 0, sizeof *k);
    snprintf(k->dir, sizeof k->dir, "%s", dir);
    if (zip == NULL) {
        return 0;
    }
    k->zpath = zip;
    k->a = archive_write_new();
    if (k->a == NULL || archive_write_set_format_zip(k->a) != ARCHIVE_OK ||
        (stored && archive_write_set_options(k->a, "zip:compression=store") != ARCHIVE_OK) ||
        archive_write_open_filename(k->a, zip) != ARCHIVE_OK) {
        int rc = lm_err_set(err, LM_EFORMAT, "%s: cannot write zip: %s", zip,
                            k->a ? archive_error_string(k->a) : "out of memory");
        if (k->a) {
            archive_write_free(k->a);
        }
        k->a = NULL;
        return rc;
    }
    return 0;
}

static int sink_add(sink *k, const char *rel, const void *data, size_t len, lm_err *err)
{
    if (k->a == NULL) {
        char path[PATH_MAX + 300], dir[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", k->dir, rel);
        snprintf(dir, sizeof dir, "%s", path);
        char *sl = strrchr(dir, '/');
        if (sl != NULL) {
            *sl = '\0';
            int rc = lm_io_mkdirs(dir, err);
            if (rc != 0) {
                return rc;
            }
        }
        FILE *f = fopen(path, "wb");
        if (f == NULL) {
            return lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
        }
        size_t w = fwrite(data, 1, len, f);
        if (fclose(f) != 0 || w != len) {
            return lm_err_set(err, -EIO, "%s: write failed", path);
        }
        return 0;
    }
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, rel);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 1500000000, 0);
    int rc = 0;
    if (archive_write_header(k->a, e) != ARCHIVE_OK ||
        (len > 0 && archive_write_data(k->a, data, len) != (la_ssize_t)len)) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: %s: %s", k->zpath, rel,
                        archive_error_string(k->a));
    }
    archive_entry_free(e);
    return rc;
}

static int sink_dir(sink *k, const char *rel, lm_err *err)
{
    if (k->a == NULL) {
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", k->dir, rel);
        return lm_io_mkdirs(path, err);
    }
    struct archive_entry *e = archive_entry_new();
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s/", rel);
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_mtime(e, 1500000000, 0);
    int rc = archive_write_header(k->a, e) == ARCHIVE_OK
                 ? 0
                 : lm_err_set(err, LM_EFORMAT, "%s: %s", k->zpath, archive_error_string(k->a));
    archive_entry_free(e);
    return rc;
}

static int sink_close(sink *k, lm_err *err)
{
    if (k->a == NULL) {
        return 0;
    }
    int rc = archive_write_close(k->a) == ARCHIVE_OK
                 ? 0
                 : lm_err_set(err, LM_EFORMAT, "%s: %s", k->zpath, archive_error_string(k->a));
    archive_write_free(k->a);
    k->a = NULL;
    return rc;
}

/* A growing text buffer. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void tprintf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            return;
        }
        if (t->s != NULL && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t nc = t->cap ? t->cap * 2 : 1 << 16;
        while (nc < t->n + (size_t)k + 1) {
            nc *= 2;
        }
        char *q = realloc(t->s, nc);
        if (q == NULL) {
            return;
        }
        t->s = q;
        t->cap = nc;
    }
}

static int write_text(const char *dir, const char *rel, text *t, lm_err *err)
{
    sink k;
    sink_open(&k, dir, NULL, 0, err);
    int rc = sink_add(&k, rel, t->s ? t->s : "", t->n, err);
    free(t->s);
    memset(t, 0, sizeof *t);
    return rc;
}

static int add_png(sink *k, const char *rel, const lm_image *im, char md5hex[33], size_t *fsize,
                   char pixmd5[33], lm_err *err)
{
    void *png = NULL;
    size_t len = 0;
    int rc = lm_img_encode_png(&png, &len, im, err);
    if (rc == 0) {
        rc = sink_add(k, rel, png, len, err);
    }
    if (rc == 0 && md5hex != NULL) {
        ds_md5 c;
        unsigned char d[16];
        ds_md5_init(&c);
        ds_md5_update(&c, png, len);
        ds_md5_final(&c, d);
        ds_hex(d, 16, md5hex);
        ds_md5_init(&c);
        ds_md5_update(&c, im->px, (size_t)im->w * im->h * im->c);
        ds_md5_final(&c, d);
        ds_hex(d, 16, pixmd5);
        *fsize = len;
    }
    free(png);
    return rc;
}

static int add_jpeg(sink *k, const char *rel, const lm_image *im, lm_err *err)
{
    void *jpg = NULL;
    size_t len = 0;
    int rc = ds_synth_jpeg(&jpg, &len, im, err);
    if (rc == 0) {
        rc = sink_add(k, rel, jpg, len, err);
    }
    free(jpg);
    return rc;
}

static int lround_i(double v) { return (int)lrint(v); }

/* ---- CelebA ---- */

static const char *const celeba_attrs =
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes "
    "No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling "
    "Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young";

static void five_points(const float *p68, int out[10])
{
    double lx = 0, ly = 0, rx = 0, ry = 0;
    for (int i = 36; i < 42; i++) {
        lx += p68[2 * i] / 6.0;
        ly += p68[2 * i + 1] / 6.0;
        rx += p68[2 * (i + 6)] / 6.0;
        ry += p68[2 * (i + 6) + 1] / 6.0;
    }
    double v[10] = {lx, ly, rx, ry, p68[60], p68[61], p68[96], p68[97], p68[108], p68[109]};
    for (int k = 0; k < 10; k++) {
        out[k] = lround_i(v[k]);
    }
}

int ds_synth_celeba(const char *outdir, const ds_synth_opts *o, lm_err *err)
{
    int n = o->n;
    rng r = {o->seed};
    int rc = lm_io_mkdirs(outdir, err);
    if (rc != 0) {
        return rc;
    }
    char zpath[PATH_MAX], imgdir[PATH_MAX];
    snprintf(zpath, sizeof zpath, "%s/Img/img_align_celeba.zip", outdir);
    snprintf(imgdir, sizeof imgdir, "%s/Img", outdir);
    if ((rc = lm_io_mkdirs(imgdir, err)) != 0) {
        return rc;
    }
    sink al, wi;
    if ((rc = sink_open(&al, imgdir, o->zip ? zpath : NULL, 0, err)) != 0) {
        return rc;
    }
    sink_open(&wi, imgdir, NULL, 0, err);
    if (o->zip) {
        rc = sink_dir(&al, "img_align_celeba", err);
    }
    text attr = {0}, ident = {0}, part = {0}, bbox = {0}, la = {0}, lw = {0};
    tprintf(&attr, "%d\r\n%s \r\n", n, celeba_attrs);
    tprintf(&bbox, "%d\r\nimage_id x_1 y_1 width height\r\n", n);
    static const char *lmk_hdr = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y "
                                 "leftmouth_x leftmouth_y rightmouth_x rightmouth_y";
    tprintf(&la, "%d\r\n%s\r\n", n, lmk_hdr);
    tprintf(&lw, "%d\r\n%s\r\n", n, lmk_hdr);
    int nid = n / 3 + 1;
    int *ids = malloc((size_t)nid * sizeof *ids);
    void *tiny = NULL;
    size_t tiny_len = 0;
    if (ids == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < nid; i++) {
        ids[i] = 1 + rng_int(&r, 10177);
    }
    if (o->tiny) {
        lm_image t = {8, 8, 3, NULL};
        t.px = calloc(8 * 8 * 3, 1);
        rc = t.px ? ds_synth_jpeg(&tiny, &tiny_len, &t, err) : -ENOMEM;
        free(t.px);
    }
    int ntrain = n * 8 / 10, nval = n / 10;
    for (int i = 0; i < n && rc == 0; i++) {
        char name[32], rel[64];
        snprintf(name, sizeof name, "%06d.jpg", i + 1);
        int id = ids[rng_int(&r, nid)];
        int pset = i < ntrain ? 0 : i < ntrain + nval ? 1 : 2;
        /* attributes: first value bare, the rest in 3-character fields */
        tprintf(&attr, "%s", name);
        for (int a = 0; a < 40; a++) {
            int v = rng_int(&r, 3) == 0 ? 1 : -1;
            tprintf(&attr, a == 0 ? " %d" : "%3d", v);
        }
        tprintf(&attr, "\r\n");
        tprintf(&ident, "%s %d\r\n", name, id);
        tprintf(&part, "%s %d\r\n", name, pset);
        /* aligned image */
        ds_synth_pose pa = {88 + rng_range(&r, -2, 2), 111 + rng_range(&r, -2, 2), 38,
                            rng_range(&r, -0.03, 0.03), 0};
        float p68[136];
        int f5[10];
        ds_synth_landmarks(&pa, p68);
        five_points(p68, f5);
        tprintf(&la, "%s %d", name, f5[0]);
        for (int k = 1; k < 10; k++) {
            tprintf(&la, "%5d", f5[k]);
        }
        tprintf(&la, "\r\n");
        snprintf(rel, sizeof rel, "img_align_celeba/%s", name);
        if (o->tiny) {
            rc = sink_add(&al, rel, tiny, tiny_len, err);
        } else {
            lm_image im = {0};
            rc = ds_synth_face(&im, 178, 218, &pa, (uint64_t)id, err);
            if (rc == 0) {
                rc = add_jpeg(&al, rel, &im, err);
            }
            lm_img_fini(&im);
        }
        /* in the wild */
        int W = 200 + rng_int(&r, 120), H = 240 + rng_int(&r, 140);
        double s = rng_range(&r, 30, 55);
        ds_synth_pose pw = {rng_range(&r, 1.6 * s, W - 1.6 * s), rng_range(&r, 1.5 * s, H - 2.2 * s),
                            s, rng_range(&r, -0.25, 0.25), 0};
        ds_synth_landmarks(&pw, p68);
        five_points(p68, f5);
        tprintf(&lw, "%s %d", name, f5[0]);
        for (int k = 1; k < 10; k++) {
            tprintf(&lw, "%5d", f5[k]);
        }
        tprintf(&lw, "\r\n");
        int bx = lround_i(pw.cx - 1.3 * s), by = lround_i(pw.cy - 1.0 * s);
        int bw = lround_i(2.6 * s), bh = lround_i(3.0 * s);
        bx = bx < 0 ? 0 : bx;
        by = by < 0 ? 0 : by;
        tprintf(&bbox, "%s %5d %3d %3d %3d\r\n", name, bx, by, bw, bh);
        if (rc == 0 && !o->tiny) {
            lm_image im = {0};
            snprintf(rel, sizeof rel, "img_celeba/%s", name);
            rc = ds_synth_face(&im, W, H, &pw, (uint64_t)id, err);
            if (rc == 0) {
                rc = add_jpeg(&wi, rel, &im, err);
            }
            lm_img_fini(&im);
        }
    }
    free(tiny);
    free(ids);
    int rc2 = sink_close(&al, err);
    rc = rc ? rc : rc2;
    char anno[PATH_MAX], evald[PATH_MAX];
    snprintf(anno, sizeof anno, "%s/Anno", outdir);
    snprintf(evald, sizeof evald, "%s/Eval", outdir);
    if (rc == 0) {
        rc = write_text(anno, "list_attr_celeba.txt", &attr, err);
    }
    if (rc == 0) {
        rc = write_text(anno, "identity_CelebA.txt", &ident, err);
    }
    if (rc == 0) {
        rc = write_text(anno, "list_bbox_celeba.txt", &bbox, err);
    }
    if (rc == 0) {
        rc = write_text(anno, "list_landmarks_align_celeba.txt", &la, err);
    }
    if (rc == 0) {
        rc = write_text(anno, "list_landmarks_celeba.txt", &lw, err);
    }
    if (rc == 0) {
        rc = write_text(evald, "list_eval_partition.txt", &part, err);
    }
    free(attr.s);
    free(ident.s);
    free(part.s);
    free(bbox.s);
    free(la.s);
    free(lw.s);
    return rc;
}

/* ---- FFHQ ---- */

static const char *const lic_names[] = {
    "Attribution License", "Attribution-NonCommercial License", "Public Domain Mark",
    "Public Domain Dedication (CC0)", "United States Government Work"};
static const char *const lic_urls[] = {
    "https://creativecommons.org/licenses/by/2.0/",
    "https://creativecommons.org/licenses/by-nc/2.0/",
    "https://creativecommons.org/publicdomain/mark/1.0/",
    "https://creativecommons.org/publicdomain/zero/1.0/", "http://www.usa.gov/copyright.shtml"};

static cJSON *points_json(const float *p, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        double xy[2] = {nearbyint(p[2 * i] * 100) / 100, nearbyint(p[2 * i + 1] * 100) / 100};
        cJSON_AddItemToArray(a, cJSON_CreateDoubleArray(xy, 2));
    }
    return a;
}

static cJSON *file_json(const char *rel, size_t size, const char *md5, int w, int h,
                        const char *pmd5)
{
    cJSON *o = cJSON_CreateObject();
    char url[128];
    snprintf(url, sizeof url, "https://example.invalid/ffhq/%s", md5);
    cJSON_AddStringToObject(o, "file_url", url);
    cJSON_AddStringToObject(o, "file_path", rel);
    cJSON_AddNumberToObject(o, "file_size", (double)size);
    cJSON_AddStringToObject(o, "file_md5", md5);
    int wh[2] = {w, h};
    cJSON_AddItemToObject(o, "pixel_size", cJSON_CreateIntArray(wh, 2));
    cJSON_AddStringToObject(o, "pixel_md5", pmd5);
    return o;
}

static const char *licence_text = "Synthetic miniature of the FFHQ layout written by latentmill "
                                  "synth; the images are procedural drawings.\n";

int ds_synth_ffhq(const char *outdir, const ds_synth_opts *o, lm_err *err)
{
    int n = o->n, R = o->res > 0 ? o->res : 64;
    int T = R / 8 < 8 ? 8 : R / 8;
    rng r = {o->seed};
    int rc = lm_io_mkdirs(outdir, err);
    if (rc != 0) {
        return rc;
    }
    sink k, z;
    sink_open(&k, outdir, NULL, 0, err);
    char zpath[PATH_MAX + 64];
    snprintf(zpath, sizeof zpath, "%s/ffhq-%dx%d.zip", outdir, R, R);
    if ((rc = sink_open(&z, outdir, o->zip ? zpath : NULL, 1, err)) != 0) {
        return rc;
    }
    static const char *const dirs[] = {"images1024x1024", "thumbnails128x128",
                                       "in-the-wild-images"};
    for (int d = 0; d < 3 && rc == 0; d++) {
        char rel[128];
        snprintf(rel, sizeof rel, "%s/LICENSE.txt", dirs[d]);
        rc = sink_add(&k, rel, licence_text, strlen(licence_text), err);
    }
    if (rc == 0) {
        rc = sink_add(&k, "LICENSE.txt", licence_text, strlen(licence_text), err);
    }
    cJSON *root = cJSON_CreateObject();
    int ntrain = (n * 6 + 6) / 7;
    for (int i = 0; i < n && rc == 0; i++) {
        char key[16], rel[3][128], md5[3][33], pmd5[3][33];
        size_t fsz[3];
        snprintf(key, sizeof key, "%d", i);
        for (int d = 0; d < 3; d++) {
            snprintf(rel[d], sizeof rel[d], "%s/%05d/%05d.png", dirs[d], i - i % 1000, i);
        }
        ds_synth_pose pa = {0.5 * R + rng_range(&r, -0.01, 0.01) * R, 0.469 * R, 0.25 * R,
                            rng_range(&r, -0.02, 0.02), 0};
        ds_synth_pose pt = pa;
        pt.cx *= (double)T / R;
        pt.cy *= (double)T / R;
        pt.s *= (double)T / R;
        int W = 160 + rng_int(&r, 100), H = 140 + rng_int(&r, 100);
        double s = rng_range(&r, 22, 40);
        ds_synth_pose pw = {rng_range(&r, 1.6 * s, W - 1.6 * s), rng_range(&r, 1.5 * s, H - 2.2 * s),
                            s, rng_range(&r, -0.3, 0.3), 0};
        float la[136], lw[136];
        ds_synth_landmarks(&pa, la);
        ds_synth_landmarks(&pw, lw);
        lm_image ia = {0}, it = {0}, iw = {0};
        rc = ds_synth_face(&ia, R, R, &pa, (uint64_t)i + 1, err);
        if (rc == 0) {
            rc = ds_synth_face(&it, T, T, &pt, (uint64_t)i + 1, err);
        }
        if (rc == 0) {
            rc = ds_synth_face(&iw, W, H, &pw, (uint64_t)i + 1, err);
        }
        if (rc == 0) {
            rc = add_png(&k, rel[0], &ia, md5[0], &fsz[0], pmd5[0], err);
        }
        if (rc == 0) {
            rc = add_png(&k, rel[1], &it, md5[1], &fsz[1], pmd5[1], err);
        }
        if (rc == 0) {
            rc = add_png(&k, rel[2], &iw, md5[2], &fsz[2], pmd5[2], err);
        }
        if (rc == 0 && o->zip) {
            char zrel[64], s8[16];
            snprintf(s8, sizeof s8, "%08d", i);
            snprintf(zrel, sizeof zrel, "%.5s/img%s.png", s8, s8);
            rc = add_png(&z, zrel, &ia, NULL, NULL, NULL, err);
        }
        lm_img_fini(&ia);
        lm_img_fini(&it);
        lm_img_fini(&iw);
        if (rc != 0) {
            break;
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "category", i < ntrain ? "training" : "validation");
        cJSON *m = cJSON_AddObjectToObject(e, "metadata");
        char buf[128];
        snprintf(buf, sizeof buf, "https://example.invalid/photos/%d/", 1000 + i);
        cJSON_AddStringToObject(m, "photo_url", buf);
        snprintf(buf, sizeof buf, "IMG_%04d", i);
        cJSON_AddStringToObject(m, "photo_title", buf);
        snprintf(buf, sizeof buf, "author %d", i % 7);
        cJSON_AddStringToObject(m, "author", buf);
        cJSON_AddStringToObject(m, "country", i % 3 ? "Finland" : "");
        cJSON_AddStringToObject(m, "license", lic_names[i % 5]);
        cJSON_AddStringToObject(m, "license_url", lic_urls[i % 5]);
        cJSON_AddStringToObject(m, "date_uploaded", "2012-05-01");
        cJSON_AddStringToObject(m, "date_crawled", "2018-10-10");
        cJSON *ji = file_json(rel[0], fsz[0], md5[0], R, R, pmd5[0]);
        cJSON_AddItemToObject(ji, "face_landmarks", points_json(la, 68));
        cJSON_AddItemToObject(e, "image", ji);
        cJSON_AddItemToObject(e, "thumbnail", file_json(rel[1], fsz[1], md5[1], T, T, pmd5[1]));
        cJSON *jw = file_json(rel[2], fsz[2], md5[2], W, H, pmd5[2]);
        int rect[4] = {lround_i(pw.cx - 1.3 * s), lround_i(pw.cy - 1.0 * s),
                       lround_i(pw.cx + 1.3 * s), lround_i(pw.cy + 1.6 * s)};
        cJSON_AddItemToObject(jw, "face_rect", cJSON_CreateIntArray(rect, 4));
        cJSON_AddItemToObject(jw, "face_landmarks", points_json(lw, 68));
        cJSON_AddItemToObject(e, "in_the_wild", jw);
        cJSON_AddItemToObject(root, key, e);
    }
    if (rc == 0 && o->zip) {
        rc = sink_add(&z, "dataset.json", "{\"labels\": null}", 16, err);
    }
    int rc2 = sink_close(&z, err);
    rc = rc ? rc : rc2;
    if (rc == 0) {
        char *js = cJSON_PrintUnformatted(root);
        rc = js ? sink_add(&k, "ffhq-dataset-v2.json", js, strlen(js), err)
                : lm_err_set(err, -ENOMEM, "out of memory");
        free(js);
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- CK+ ---- */

static void matlab_row(text *t, const double *v, int n)
{
    for (int i = 0; i < n; i++) {
        tprintf(t, "%16.7e", v[i]);
    }
    tprintf(t, "\n");
}

int ds_synth_ckplus(const char *outdir, const ds_synth_opts *o, lm_err *err)
{
    rng r = {o->seed};
    int rc = lm_io_mkdirs(outdir, err);
    if (rc != 0) {
        return rc;
    }
    static const char *const tops[] = {"cohn-kanade-images", "Landmarks", "FACS", "Emotion"};
    static const char *const zips[] = {"cohn-kanade-images.zip", "Landmarks.zip",
                                       "FACS_labels.zip", "Emotion_labels.zip"};
    sink k[4];
    for (int t = 0; t < 4; t++) {
        char zp[PATH_MAX + 64];
        snprintf(zp, sizeof zp, "%s/%s", outdir, zips[t]);
        rc = sink_open(&k[t], outdir, o->zip ? strdup(zp) : NULL, 0, err);
        if (rc != 0) {
            return rc;
        }
    }
    int subj = 5, seqno = 0;
    ds_synth_pose base = {0};
    for (int q = 0; q < o->n && rc == 0; q++) {
        if (q == 0 || rng_int(&r, 2) == 0) { /* a new subject */
            subj += 1 + rng_int(&r, 4);
            seqno = 0;
            base.cx = 320 + rng_range(&r, -30, 30);
            base.cy = 220 + rng_range(&r, -20, 20);
            base.s = rng_range(&r, 80, 100);
            base.theta = rng_range(&r, -0.08, 0.08);
        }
        seqno += 1 + rng_int(&r, 2);
        int nf = 4 + rng_int(&r, 4);
        int colour = q == o->n - 1;
        int W = 640, H = colour ? 480 : 490;
        int emo = q % 3 == 2 ? -1 : 1 + rng_int(&r, 7); /* every third sequence unlabelled */
        char stem[64], rel[256];
        for (int f = 1; f <= nf && rc == 0; f++) {
            ds_synth_pose p = base;
            p.mouth_open = 0.15 * (f - 1) / (nf - 1);
            snprintf(stem, sizeof stem, "S%03d_%03d_%08d", subj, seqno, f);
            lm_image im = {0};
            rc = ds_synth_face(&im, W, H, &p, (uint64_t)subj, err);
            if (rc == 0 && !colour) { /* 8-bit grey PNG */
                lm_image g = {W, H, 1, malloc((size_t)W * H)};
                if (g.px == NULL) {
                    rc = -ENOMEM;
                }
                for (size_t i = 0; rc == 0 && i < (size_t)W * H; i++) {
                    g.px[i] = (uint8_t)((im.px[3 * i] * 299 + im.px[3 * i + 1] * 587 +
                                         im.px[3 * i + 2] * 114 + 500) / 1000);
                }
                snprintf(rel, sizeof rel, "%s/S%03d/%03d/%s.png", tops[0], subj, seqno, stem);
                if (rc == 0) {
                    rc = add_png(&k[0], rel, &g, NULL, NULL, NULL, err);
                }
                free(g.px);
            } else if (rc == 0) {
                snprintf(rel, sizeof rel, "%s/S%03d/%03d/%s.png", tops[0], subj, seqno, stem);
                rc = add_png(&k[0], rel, &im, NULL, NULL, NULL, err);
            }
            lm_img_fini(&im);
            float pts[136];
            ds_synth_landmarks(&p, pts);
            text t = {0};
            for (int i = 0; i < 68; i++) {
                double xy[2] = {pts[2 * i], pts[2 * i + 1]};
                matlab_row(&t, xy, 2);
            }
            snprintf(rel, sizeof rel, "%s/S%03d/%03d/%s_landmarks.txt", tops[1], subj, seqno, stem);
            if (rc == 0) {
                rc = sink_add(&k[1], rel, t.s, t.n, err);
            }
            free(t.s);
        }
        /* FACS for every sequence, emotion for the labelled ones (named after the last frame) */
        text t = {0};
        double au[2] = {(double)(1 + rng_int(&r, 27)), (double)rng_int(&r, 6)};
        matlab_row(&t, au, 2);
        au[0] = 12;
        au[1] = 3;
        matlab_row(&t, au, 2);
        snprintf(rel, sizeof rel, "%s/S%03d/%03d/%s_facs.txt", tops[2], subj, seqno, stem);
        if (rc == 0) {
            rc = sink_add(&k[2], rel, t.s, t.n, err);
        }
        free(t.s);
        memset(&t, 0, sizeof t);
        if (emo > 0) {
            double e = emo;
            matlab_row(&t, &e, 1);
            snprintf(rel, sizeof rel, "%s/S%03d/%03d/%s_emotion.txt", tops[3], subj, seqno, stem);
            if (rc == 0) {
                rc = sink_add(&k[3], rel, t.s, t.n, err);
            }
            free(t.s);
        } else if (rc == 0) {
            snprintf(rel, sizeof rel, "%s/S%03d/%03d", tops[3], subj, seqno);
            rc = sink_dir(&k[3], rel, err); /* empty directory of an unlabelled sequence */
        }
    }
    /* an orphan landmark file (no such image) */
    if (rc == 0) {
        text t = {0};
        double xy[2] = {1, 2};
        for (int i = 0; i < 68; i++) {
            matlab_row(&t, xy, 2);
        }
        rc = sink_add(&k[1], "Landmarks/S999/001/S999_001_00000001_landmarks.txt", t.s, t.n, err);
        free(t.s);
    }
    for (int t = 0; t < 4; t++) {
        int rc2 = sink_close(&k[t], err);
        rc = rc ? rc : rc2;
        free((char *)k[t].zpath);
    }
    return rc;
}

/* ---- folder + CSV ---- */

int ds_synth_folder(const char *outdir, const ds_synth_opts *o, lm_err *err)
{
    rng r = {o->seed};
    int rc = lm_io_mkdirs(outdir, err);
    if (rc != 0) {
        return rc;
    }
    char zp[PATH_MAX + 32], dir[PATH_MAX + 32];
    snprintf(zp, sizeof zp, "%s/images.zip", outdir);
    snprintf(dir, sizeof dir, "%s/images", outdir);
    sink k;
    if ((rc = sink_open(&k, dir, o->zip ? zp : NULL, 0, err)) != 0) {
        return rc;
    }
    text csv = {0};
    tprintf(&csv, "file,smiling,group\n");
    for (int i = 0; i < o->n && rc == 0; i++) {
        char rel[64];
        int g = i % 2;
        snprintf(rel, sizeof rel, "%s/img_%05d.jpg", g ? "b" : "a", i);
        int W = 64 + rng_int(&r, 32), H = 64 + rng_int(&r, 32);
        ds_synth_pose p = {W / 2.0, H * 0.42, W * 0.3, rng_range(&r, -0.2, 0.2),
                           rng_range(&r, 0, 0.15)};
        lm_image im = {0};
        rc = ds_synth_face(&im, W, H, &p, (uint64_t)i, err);
        if (rc == 0) {
            rc = add_jpeg(&k, rel, &im, err);
        }
        lm_img_fini(&im);
        tprintf(&csv, "%s,%d,%d\n", rel, p.mouth_open > 0.075, g);
    }
    int rc2 = sink_close(&k, err);
    rc = rc ? rc : rc2;
    if (rc == 0) {
        rc = write_text(outdir, "labels.csv", &csv, err);
    }
    free(csv.s);
    return rc;
}
