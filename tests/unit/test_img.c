/* test_img.c - image decoding edge cases and resize (shared/lm_img). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "shared/lm_img.h"

/* Encode w x h pixels of the given spng colour type/bit depth; returns malloc'd PNG. */
static void *make_png(int w, int h, int color_type, int depth, size_t *len)
{
    int ch = color_type == SPNG_COLOR_TYPE_GRAYSCALE ? 1
             : color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA ? 2
             : color_type == SPNG_COLOR_TYPE_TRUECOLOR ? 3
                                                        : 4;
    size_t bps = (size_t)depth / 8;
    size_t n = (size_t)w * h * ch * bps;
    uint8_t *px = malloc(n);
    for (size_t i = 0; i < n; i++) {
        px[i] = (uint8_t)(i * 7 + 3);
    }
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, (uint8_t)depth, (uint8_t)color_type, 0, 0, 0};
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    assert_int_equal(spng_set_ihdr(ctx, &ihdr), 0);
    assert_int_equal(spng_encode_image(ctx, px, n, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
    int e = 0;
    void *out = spng_get_png_buffer(ctx, len, &e);
    spng_ctx_free(ctx);
    free(px);
    return out;
}

static void *make_jpeg(int w, int h, size_t *len)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) {
        px[i] = (uint8_t)((i / 3) % w * 255 / w);
    }
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long jl = 0;
    assert_int_equal(tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, &jl, TJSAMP_420, 90, 0), 0);
    tjDestroy(tj);
    free(px);
    void *copy = malloc(jl);
    memcpy(copy, jpg, jl);
    tjFree(jpg);
    *len = jl;
    return copy;
}

static void test_png_roundtrip_rgb(void **state)
{
    (void)state;
    lm_image im = {0}, back = {0};
    im.w = 5;
    im.h = 3;
    im.c = 3;
    im.px = malloc(45);
    for (int i = 0; i < 45; i++) {
        im.px[i] = (uint8_t)(i * 5);
    }
    void *png = NULL;
    size_t len = 0;
    assert_int_equal(lm_img_encode_png(&png, &len, &im, NULL), 0);
    assert_int_equal(lm_img_decode(&back, png, len, "rt.png", 0, NULL), 0);
    assert_int_equal(back.w, 5);
    assert_int_equal(back.h, 3);
    assert_memory_equal(back.px, im.px, 45);
    free(png);
    lm_img_fini(&im);
    lm_img_fini(&back);
}

static void test_png_formats_become_rgb8(void **state)
{
    (void)state;
    const int types[][2] = {{SPNG_COLOR_TYPE_GRAYSCALE, 8},       {SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, 8},
                            {SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8}, {SPNG_COLOR_TYPE_TRUECOLOR, 16},
                            {SPNG_COLOR_TYPE_GRAYSCALE, 16}};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t len = 0;
        void *png = make_png(7, 4, types[t][0], types[t][1], &len);
        lm_image im = {0};
        lm_err e = {0};
        int rc = lm_img_decode(&im, png, len, "f.png", 0, &e);
        if (rc != 0) {
            fail_msg("type %d depth %d: %s", types[t][0], types[t][1], e.msg);
        }
        assert_int_equal(im.c, 3);
        assert_int_equal(im.w, 7);
        if (types[t][0] == SPNG_COLOR_TYPE_GRAYSCALE && types[t][1] == 8) {
            /* gray replicated: first pixel value 3 in every channel */
            assert_int_equal(im.px[0], 3);
            assert_int_equal(im.px[1], 3);
            assert_int_equal(im.px[2], 3);
        }
        lm_img_fini(&im);
        free(png);
    }
}

static void test_jpeg_decode_and_truncation(void **state)
{
    (void)state;
    size_t len = 0;
    void *jpg = make_jpeg(64, 48, &len);
    lm_image im = {0};
    assert_int_equal(lm_img_decode(&im, jpg, len, "ok.jpg", 0, NULL), 0);
    assert_int_equal(im.w, 64);
    assert_int_equal(im.h, 48);
    lm_img_fini(&im);
    lm_err e = {0};
    int rc = lm_img_decode(&im, jpg, len / 2, "half.jpg", 0, &e);
    assert_int_equal(rc, LM_EFORMAT);
    assert_non_null(strstr(e.msg, "half.jpg"));
    assert_null(im.px);
    free(jpg);
}

static void test_bad_inputs_named(void **state)
{
    (void)state;
    lm_image im = {0};
    lm_err e = {0};
    assert_int_equal(lm_img_decode(&im, "", 0, "zero.jpg", 0, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "zero.jpg"));
    assert_non_null(strstr(e.msg, "0 bytes"));
    const char *txt = "hello, this is not an image";
    assert_int_equal(lm_img_decode(&im, txt, strlen(txt), "notes.txt", 0, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "not a JPEG or PNG"));
    /* A PNG claiming 100000 x 100000 pixels is refused before allocation. */
    size_t len = 0;
    uint8_t *png = make_png(4, 4, SPNG_COLOR_TYPE_TRUECOLOR, 8, &len);
    /* IHDR width/height at bytes 16..23 (big-endian); CRC now wrong, so also
     * check that a tampered header is refused with a clear error. */
    png[16] = 0;
    png[17] = 1;
    png[18] = 0x86;
    png[19] = 0xA0;
    png[20] = 0;
    png[21] = 1;
    png[22] = 0x86;
    png[23] = 0xA0;
    int rc = lm_img_decode(&im, png, len, "huge.png", 0, &e);
    assert_true(rc == LM_ETOOBIG || rc == LM_EFORMAT);
    assert_null(im.px);
    free(png);
    /* Genuine limit check: a valid 64x48 JPEG against a 1000-pixel limit. */
    void *jpg = make_jpeg(64, 48, &len);
    assert_int_equal(lm_img_decode(&im, jpg, len, "big.jpg", 1000, &e), LM_ETOOBIG);
    assert_non_null(strstr(e.msg, "64 x 48"));
    free(jpg);
}

static void test_resize_constant_and_mean(void **state)
{
    (void)state;
    lm_image im = {0}, out = {0};
    im.w = 178;
    im.h = 218;
    im.c = 3;
    im.px = malloc((size_t)178 * 218 * 3);
    memset(im.px, 77, (size_t)178 * 218 * 3);
    assert_int_equal(lm_img_resize(&out, &im, 64, 64, NULL), 0);
    for (int i = 0; i < 64 * 64 * 3; i++) {
        assert_int_equal(out.px[i], 77);
    }
    lm_img_fini(&out);
    /* A checkerboard downscaled by 4 averages to grey (antialiasing): no pixel
     * may keep the extremes 0 or 255. */
    for (int y = 0; y < 218; y++) {
        for (int x = 0; x < 178; x++) {
            memset(im.px + ((size_t)y * 178 + x) * 3, ((x + y) & 1) ? 255 : 0, 3);
        }
    }
    assert_int_equal(lm_img_resize(&out, &im, 44, 54, NULL), 0);
    for (int i = 0; i < 44 * 54 * 3; i++) {
        assert_in_range(out.px[i], 96, 160);
    }
    lm_img_fini(&out);
    lm_img_fini(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_roundtrip_rgb),
        cmocka_unit_test(test_png_formats_become_rgb8),
        cmocka_unit_test(test_jpeg_decode_and_truncation),
        cmocka_unit_test(test_bad_inputs_named),
        cmocka_unit_test(test_resize_constant_and_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
