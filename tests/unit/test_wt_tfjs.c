/*
 * test_wt_tfjs.c - TF.js weights-manifest loader on hand-made manifests:
 * float32, uint8 and uint16 dequantisation (q*scale+min), float16, int32
 * (with quantised rounding), shards concatenated in order, a scalar shape,
 * lookup by name with shape checks, and every failure with a message naming
 * file and tensor: not JSON, missing shard, short shard, trailing bytes,
 * missing tensor, wrong shape, unknown dtype. Needs no model files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/wt_tfjs.h"

static char dir[256];

static void put(const char *name, const void *data, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/lm_wt_tfjs_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *good_manifest =
    "[{\"paths\":[\"m.bin\",\"m2.bin\"],\"weights\":["
    "{\"name\":\"a/f32\",\"shape\":[2,2],\"dtype\":\"float32\"},"
    "{\"name\":\"b/"
    "u8\",\"shape\":[3],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,"
    "\"min\":-1}},"
    "{\"name\":\"c/"
    "u16\",\"shape\":[2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint16\",\"scale\":0."
    "25,\"min\":2}},"
    "{\"name\":\"d/"
    "f16\",\"shape\":[2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}},"
    "{\"name\":\"e/i32\",\"shape\":[],\"dtype\":\"int32\"},"
    "{\"name\":\"f/"
    "i32q\",\"shape\":[2],\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,"
    "\"min\":0}}"
    "]}]";

/* Bytes: f32 x4 (16) | u8 x3 (3) | u16 x2 (4) | f16 x2 (4) | i32 (4) | u8 x2 (2) = 33,
 * split over two shards at byte 10 (inside the first tensor). */
static void write_good(unsigned char *bytes, size_t *len)
{
    size_t n = 0;
    float f[4] = {1.5f, -2.0f, 0.25f, 1e-3f};
    memcpy(bytes, f, 16); /* little-endian host assumed (x86/ARM) */
    n = 16;
    bytes[n++] = 0;
    bytes[n++] = 1;
    bytes[n++] = 255;
    bytes[n++] = 4; /* u16 4 -> 3.0 */
    bytes[n++] = 0;
    bytes[n++] = 0x00; /* u16 256 -> 66 */
    bytes[n++] = 0x01;
    bytes[n++] = 0x00; /* f16 1.0 = 0x3c00 */
    bytes[n++] = 0x3c;
    bytes[n++] = 0x00; /* f16 -2.0 = 0xc000 */
    bytes[n++] = 0xc0;
    int32_t i = -7;
    memcpy(bytes + n, &i, 4);
    n += 4;
    bytes[n++] = 3; /* 1.5 -> 2 (halves up) */
    bytes[n++] = 4; /* 2.0 */
    *len = n;
}

static void test_decode(void **s)
{
    (void)s;
    unsigned char b[64];
    size_t len;
    write_good(b, &len);
    assert_int_equal(len, 33);
    put("m.bin", b, 10);
    put("m2.bin", b + 10, len - 10);
    put("ok.json", good_manifest, strlen(good_manifest));
    char path[512];
    snprintf(path, sizeof path, "%s/ok.json", dir);
    wt_tfjs *w = NULL;
    lm_err e = {0};
    int rc = wt_tfjs_load(&w, path, &e);
    if (rc) {
        fprintf(stderr, "%s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(wt_tfjs_count(w), 6);
    float *v;
    assert_int_equal(wt_tfjs_get(w, "a/f32", 2, (const int[]){2, 2}, &v, &e), 0);
    assert_true(v[0] == 1.5f && v[1] == -2.0f && v[2] == 0.25f && v[3] == 1e-3f);
    assert_int_equal(wt_tfjs_get(w, "b/u8", 1, (const int[]){3}, &v, &e), 0);
    assert_true(v[0] == -1.0f && v[1] == -0.5f && v[2] == 126.5f);
    assert_int_equal(wt_tfjs_get(w, "c/u16", 1, (const int[]){2}, &v, &e), 0);
    assert_true(v[0] == 3.0f && v[1] == 66.0f);
    assert_int_equal(wt_tfjs_get(w, "d/f16", 1, (const int[]){2}, &v, &e), 0);
    assert_true(v[0] == 1.0f && v[1] == -2.0f);
    const wt_tensor *t = wt_tfjs_at(w, 4);
    assert_string_equal(t->name, "e/i32");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->count, 1);
    assert_int_equal(t->i[0], -7);
    t = wt_tfjs_at(w, 5);
    assert_int_equal(t->i[0], 2);
    assert_int_equal(t->i[1], 2);
    /* Lookup failures name the manifest and the tensor. */
    assert_int_equal(wt_tfjs_get(w, "nope", 1, (const int[]){3}, &v, &e), LM_ESHAPE);
    fprintf(stderr, "%s\n", e.msg);
    assert_non_null(strstr(e.msg, "'nope' missing"));
    assert_int_equal(wt_tfjs_get(w, "b/u8", 1, (const int[]){4}, &v, &e), LM_ESHAPE);
    fprintf(stderr, "%s\n", e.msg);
    assert_non_null(strstr(e.msg, "expected float32 [4], found float32 [3]"));
    assert_int_equal(wt_tfjs_get(w, "e/i32", 0, NULL, &v, &e), LM_ESHAPE);
    wt_tfjs_free(w);
}

static void expect_fail(const char *manifest, const unsigned char *bin, size_t len, int code,
                        const char *needle)
{
    put("bad.json", manifest, strlen(manifest));
    put("bad.bin", bin, len);
    char path[512];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    wt_tfjs *w = (wt_tfjs *)1;
    lm_err e = {0};
    int rc = wt_tfjs_load(&w, path, &e);
    fprintf(stderr, "rc %d: %s\n", rc, e.msg);
    assert_int_equal(rc, code);
    assert_null(w);
    assert_non_null(strstr(e.msg, needle));
}

static void test_failures(void **s)
{
    (void)s;
    unsigned char bin[16] = {0};
    expect_fail("{not json", bin, 4, LM_EFORMAT, "not valid JSON");
    expect_fail("{\"a\":1}", bin, 4, LM_EFORMAT, "not a JSON array");
    expect_fail("[{\"paths\":[\"bad.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[4],\"dtype\":"
                "\"float32\"}]}]",
                bin, 15, LM_EFORMAT, "bad.bin: shard data too short: tensor 'x'");
    expect_fail("[{\"paths\":[\"bad.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[3],\"dtype\":"
                "\"float32\"}]}]",
                bin, 16, LM_EFORMAT, "4 trailing bytes");
    expect_fail("[{\"paths\":[\"gone.bin\"],\"weights\":[]}]", bin, 0, LM_EMISSING, "gone.bin");
    expect_fail("[{\"paths\":[\"bad.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[1],\"dtype\":"
                "\"complex64\"}]}]",
                bin, 8, LM_EFORMAT, "unsupported dtype 'complex64'");
    expect_fail("[{\"paths\":[\"bad.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[1],\"dtype\":"
                "\"float32\","
                "\"quantization\":{\"dtype\":\"uint8\"}}]}]",
                bin, 1, LM_EFORMAT, "without numeric scale/min");
    expect_fail("[{\"paths\":[\"../x\"],\"weights\":[]}]", bin, 0, LM_EFORMAT,
                "not a plain file name");
}

static void test_missing_manifest(void **s)
{
    (void)s;
    wt_tfjs *w = NULL;
    lm_err e = {0};
    assert_int_equal(wt_tfjs_load(&w, "/nonexistent/x-weights_manifest.json", &e), LM_EMISSING);
    assert_non_null(strstr(e.msg, "/nonexistent/x-weights_manifest.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_missing_manifest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
