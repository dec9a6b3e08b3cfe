/*
 * lm_img.c - JPEG/PNG decoding (libjpeg-turbo, libspng), antialiased resize,
 * PNG encoding. See lm_img.h.
 */
#include "shared/lm_img.h"

#include <errno.h>
#include <math.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "shared/lm_io.h"

enum lm_img_format lm_img_sniff(const void *buf, size_t len)
{
    const unsigned char *b = buf;
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
        return LM_IMG_JPEG;
    }
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
        return LM_IMG_PNG;
    }
    return LM_IMG_UNKNOWN;
}

void lm_img_fini(lm_image *im)
{
    if (im != NULL) {
        free(im->px);
        memset(im, 0, sizeof *im);
    }
}

static int check_dims(int w, int h, int64_t max_pixels, const char *name, lm_err *err)
{
    if (max_pixels <= 0) {
        max_pixels = LM_IMG_MAX_PIXELS_DEFAULT;
    }
    if (w <= 0 || h <= 0) {
        return lm_err_set(err, LM_ETOOBIG, "%s: image has a zero dimension (%d x %d)", name, w, h);
    }
    if ((int64_t)w * (int64_t)h > max_pixels) {
        return lm_err_set(err, LM_ETOOBIG,
                          "%s: image is %d x %d = %lld pixels, over the limit of %lld", name, w,
                          h, (long long)w * h, (long long)max_pixels);
    }
    return 0;
}

static int decode_jpeg(lm_image *out, const void *buf, size_t len, const char *name,
                       int64_t max_pixels, lm_err *err)
{
    int rc = 0;
    tjhandle tj = tjInitDecompress();
    if (tj == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: cannot create a JPEG decoder", name);
    }
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: corrupt or truncated JPEG header: %s", name,
                        tjGetErrorStr2(tj));
        goto tj_destroy;
    }
    if (w <= 0 || h <= 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: corrupt JPEG header (no frame dimensions)", name);
        goto tj_destroy;
    }
    rc = check_dims(w, h, max_pixels, name, err);
    if (rc != 0) {
        goto tj_destroy;
    }
    out->px = malloc((size_t)w * (size_t)h * 3);
    if (out->px == NULL) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory for %d x %d pixels", name, w, h);
        goto tj_destroy;
    }
    /* Flags 0: accurate integer DCT and fancy up-sampling, like djpeg. */
    if (tjDecompress2(tj, buf, (unsigned long)len, out->px, w, 0, h, TJPF_RGB, 0) != 0) {
        /* A truncated file gives a warning and grey fill; treat it as corrupt
         * data rather than storing a half-grey face. */
        rc = lm_err_set(err, LM_EFORMAT, "%s: corrupt or truncated JPEG: %s", name,
                        tjGetErrorStr2(tj));
        free(out->px);
        out->px = NULL;
        goto tj_destroy;
    }
    out->w = w;
    out->h = h;
    out->c = 3;
tj_destroy:
    tjDestroy(tj);
    return rc;
}

static int decode_png(lm_image *out, const void *buf, size_t len, const char *name,
                      int64_t max_pixels, lm_err *err)
{
    int rc = 0;
    spng_ctx *ctx = spng_ctx_new(0);
    if (ctx == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: cannot create a PNG decoder", name);
    }
    /* Refuse CRC errors and oversized chunks rather than guessing. */
    spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    spng_set_chunk_limits(ctx, 64u << 20, 64u << 20);
    int e = spng_set_png_buffer(ctx, buf, len);
    struct spng_ihdr ihdr;
    if (e == 0) {
        e = spng_get_ihdr(ctx, &ihdr);
    }
    if (e != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: corrupt PNG header: %s", name, spng_strerror(e));
        goto ctx_free;
    }
    if (ihdr.width > (uint32_t)INT32_MAX || ihdr.height > (uint32_t)INT32_MAX) {
        rc = lm_err_set(err, LM_ETOOBIG, "%s: PNG dimensions %u x %u are absurd", name,
                        ihdr.width, ihdr.height);
        goto ctx_free;
    }
    rc = check_dims((int)ihdr.width, (int)ihdr.height, max_pixels, name, err);
    if (rc != 0) {
        goto ctx_free;
    }
    size_t need = 0;
    e = spng_decoded_image_size(ctx, SPNG_FMT_RGBA8, &need);
    if (e != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: PNG: %s", name, spng_strerror(e));
        goto ctx_free;
    }
    uint8_t *rgba = malloc(need);
    if (rgba == NULL) {
        rc = lm_err_set(err, -ENOMEM, "%s: out of memory for PNG pixels", name);
        goto ctx_free;
    }
    /* RGBA8 output covers gray, palette, 16-bit (scaled down) and alpha; tRNS is
     * not applied so the colour channels stay exactly as stored. */
    e = spng_decode_image(ctx, rgba, need, SPNG_FMT_RGBA8, 0);
    if (e != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "%s: corrupt or truncated PNG: %s", name,
                        spng_strerror(e));
        free(rgba);
        goto ctx_free;
    }
    size_t n = (size_t)ihdr.width * ihdr.height;
    for (size_t i = 0; i < n; i++) {
        rgba[3 * i + 0] = rgba[4 * i + 0];
        rgba[3 * i + 1] = rgba[4 * i + 1];
        rgba[3 * i + 2] = rgba[4 * i + 2];
    }
    uint8_t *rgb = realloc(rgba, n * 3);
    out->px = rgb != NULL ? rgb : rgba;
    out->w = (int)ihdr.width;
    out->h = (int)ihdr.height;
    out->c = 3;
ctx_free:
    spng_ctx_free(ctx);
    return rc;
}

int lm_img_decode(lm_image *out, const void *buf, size_t len, const char *name,
                  int64_t max_pixels, lm_err *err)
{
    memset(out, 0, sizeof *out);
    if (name == NULL) {
        name = "(image)";
    }
    if (len == 0) {
        return lm_err_set(err, LM_EFORMAT, "%s: empty file (0 bytes)", name);
    }
    switch (lm_img_sniff(buf, len)) {
    case LM_IMG_JPEG:
        return decode_jpeg(out, buf, len, name, max_pixels, err);
    case LM_IMG_PNG:
        return decode_png(out, buf, len, name, max_pixels, err);
    default:
        return lm_err_set(err, LM_EFORMAT, "%s: not a JPEG or PNG image (%zu bytes)", name, len);
    }
}

int lm_img_load(lm_image *out, const char *path, int64_t max_pixels, lm_err *err)
{
    void *buf = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    int rc = lm_io_read_file(path, &buf, &len, err);
    if (rc != 0) {
        return rc;
    }
    rc = lm_img_decode(out, buf, len, path, max_pixels, err);
    free(buf);
    return rc;
}

/* One pass of a separable resample along a line: precomputed taps per output
 * sample. The triangle filter's support is scaled by the down-scale factor so
 * every input pixel contributes (antialiasing); pixel centres are at +0.5. */
typedef struct taps {
    int *start;   /* first input index per output */
    int *count;   /* taps per output */
    float *w;     /* count weights per output, stride maxn */
    int maxn;
} taps;

static int taps_make(taps *t, int in, int out)
{
    double scale = (double)in / out;
    double support = scale > 1.0 ? scale : 1.0; /* triangle radius in input pixels */
    t->maxn = (int)ceil(support) * 2 + 1;
    t->start = malloc(sizeof(int) * (size_t)out);
    t->count = malloc(sizeof(int) * (size_t)out);
    t->w = malloc(sizeof(float) * (size_t)out * (size_t)t->maxn);
    if (t->start == NULL || t->count == NULL || t->w == NULL) {
        return -ENOMEM;
    }
    double fscale = scale > 1.0 ? 1.0 / scale : 1.0;
    for (int o = 0; o < out; o++) {
        double centre = (o + 0.5) * scale;
        int lo = (int)floor(centre - support);
        int hi = (int)ceil(centre + support);
        if (lo < 0) {
            lo = 0;
        }
        if (hi > in) {
            hi = in;
        }
        double sum = 0.0;
        int n = 0;
        float *w = t->w + (size_t)o * t->maxn;
        for (int i = lo; i < hi && n < t->maxn; i++) {
            double x = (i + 0.5 - centre) * fscale;
            double v = 1.0 - fabs(x);
            w[n++] = v > 0.0 ? (float)v : 0.0f;
            sum += v > 0.0 ? v : 0.0;
        }
        for (int k = 0; k < n; k++) {
            w[k] = sum > 0.0 ? (float)(w[k] / sum) : 0.0f;
        }
        t->start[o] = lo;
        t->count[o] = n;
    }
    return 0;
}

static void taps_free(taps *t)
{
    free(t->start);
    free(t->count);
    free(t->w);
}

static uint8_t clamp_u8(float v)
{
    /* Round half up; the weights sum to 1, so v is within [0, 255] up to
     * rounding error. */
    return v <= 0.0f ? 0 : v >= 254.5f ? 255 : (uint8_t)(v + 0.5f);
}

int lm_img_resize(lm_image *out, const lm_image *in, int w, int h, lm_err *err)
{
    memset(out, 0, sizeof *out);
    if (w <= 0 || h <= 0 || in->w <= 0 || in->h <= 0 || in->px == NULL) {
        return lm_err_set(err, LM_ECONFIG, "resize: bad size %d x %d -> %d x %d", in->w, in->h,
                          w, h);
    }
    const int c = in->c;
    taps th = {0}, tv = {0};
    int rc = 0;
    float *tmp = malloc(sizeof(float) * (size_t)in->h * (size_t)w * (size_t)c);
    float *tmp2 = malloc(sizeof(float) * (size_t)w * (size_t)c);
    out->px = malloc((size_t)w * (size_t)h * (size_t)c);
    if (tmp == NULL || tmp2 == NULL || out->px == NULL || taps_make(&th, in->w, w) != 0 ||
        taps_make(&tv, in->h, h) != 0) {
        rc = lm_err_set(err, -ENOMEM, "resize: out of memory");
        lm_img_fini(out);
        goto done;
    }
    /* Horizontal pass into float rows, then a vertical pass that accumulates
     * whole rows (contiguous, vectorisable), rounding at the end. */
    for (int y = 0; y < in->h; y++) {
        const uint8_t *row = in->px + (size_t)y * in->w * c;
        float *dst = tmp + (size_t)y * w * c;
        for (int x = 0; x < w; x++) {
            const float *wt = th.w + (size_t)x * th.maxn;
            const uint8_t *src = row + (size_t)th.start[x] * c;
            if (c == 3) {
                float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f;
                for (int k = 0; k < th.count[x]; k++) {
                    a0 += wt[k] * src[3 * k];
                    a1 += wt[k] * src[3 * k + 1];
                    a2 += wt[k] * src[3 * k + 2];
                }
                dst[3 * x] = a0;
                dst[3 * x + 1] = a1;
                dst[3 * x + 2] = a2;
            } else {
                for (int ch = 0; ch < c; ch++) {
                    float acc = 0.0f;
                    for (int k = 0; k < th.count[x]; k++) {
                        acc += wt[k] * src[(size_t)k * c + ch];
                    }
                    dst[(size_t)x * c + ch] = acc;
                }
            }
        }
    }
    const int rw = w * c;
    float *acc = tmp2;
    for (int y = 0; y < h; y++) {
        const float *wt = tv.w + (size_t)y * tv.maxn;
        for (int i = 0; i < rw; i++) {
            acc[i] = 0.0f;
        }
        for (int k = 0; k < tv.count[y]; k++) {
            const float *src = tmp + (size_t)(tv.start[y] + k) * rw;
            const float wk = wt[k];
            for (int i = 0; i < rw; i++) {
                acc[i] += wk * src[i];
            }
        }
        uint8_t *dst = out->px + (size_t)y * rw;
        for (int i = 0; i < rw; i++) {
            dst[i] = clamp_u8(acc[i]);
        }
    }
    out->w = w;
    out->h = h;
    out->c = c;
done:
    taps_free(&th);
    taps_free(&tv);
    free(tmp);
    free(tmp2);
    return rc;
}

int lm_img_encode_png(void **png, size_t *len, const lm_image *im, lm_err *err)
{
    *png = NULL;
    *len = 0;
    if (im->c != 3 && im->c != 1) {
        return lm_err_set(err, LM_EFORMAT, "PNG encode: %d channels unsupported", im->c);
    }
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (ctx == NULL) {
        return lm_err_set(err, -ENOMEM, "PNG encode: out of memory");
    }
    struct spng_ihdr ihdr = {0};
    ihdr.width = (uint32_t)im->w;
    ihdr.height = (uint32_t)im->h;
    ihdr.bit_depth = 8;
    ihdr.color_type = im->c == 3 ? SPNG_COLOR_TYPE_TRUECOLOR : SPNG_COLOR_TYPE_GRAYSCALE;
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    int e = spng_set_ihdr(ctx, &ihdr);
    if (e == 0) {
        e = spng_encode_image(ctx, im->px, (size_t)im->w * im->h * im->c, SPNG_FMT_PNG,
                              SPNG_ENCODE_FINALIZE);
    }
    int rc = 0;
    if (e != 0) {
        rc = lm_err_set(err, LM_EFORMAT, "PNG encode: %s", spng_strerror(e));
    } else {
        int e2 = 0;
        *png = spng_get_png_buffer(ctx, len, &e2);
        if (*png == NULL) {
            rc = lm_err_set(err, LM_EFORMAT, "PNG encode: %s", spng_strerror(e2));
        }
    }
    spng_ctx_free(ctx);
    return rc;
}

int lm_img_save_png(const char *path, const lm_image *im, lm_err *err)
{
    void *png = NULL;
    size_t len = 0;
    int rc = lm_img_encode_png(&png, &len, im, err);
    if (rc == 0) {
        rc = lm_io_write_file_atomic(path, png, len, err);
    }
    free(png);
    return rc;
}

uint64_t lm_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
