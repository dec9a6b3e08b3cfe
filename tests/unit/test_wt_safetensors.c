/*
 * test_wt_safetensors.c - the safetensors reader/writer and the generator loader's
 * validation: round trip, F16/BF16 conversion, and clear errors (code + message naming
 * file and tensor) for truncated files, header lengths beyond the file, bad offsets,
 * wrong shapes, missing and unexpected tensors, and missing metadata.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "models/stylegan2.h"
#include "models/wt_safetensors.h"

#define WEIGHTS "tests/golden/stylegan2/res32.weights.safetensors"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/lm_wt_XXXXXX", t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* A raw file: 8-byte length + header + data. */
static void write_raw(const char *path, const char *hdr, const void *data, size_t nd)
{
    size_t hl = strlen(hdr);
    unsigned char *b = malloc(8 + hl + nd + 1);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    }
    memcpy(b + 8, hdr, hl);
    if (nd) {
        memcpy(b + 8 + hl, data, nd);
    }
    write_bytes(path, b, 8 + hl + nd);
    free(b);
}

static void expect_error(const char *path, int code, const char *needle1, const char *needle2)
{
    wt_safetensors *st = NULL;
    lm_err err = {0};
    int rc = wt_safetensors_open(&st, path, &err);
    printf("  %s -> %d: %s\n", path + strlen(tmpdir) + 1, rc, err.msg);
    assert_int_equal(rc, code);
    assert_null(st);
    assert_non_null(strstr(err.msg, needle1));
    if (needle2) {
        assert_non_null(strstr(err.msg, needle2));
    }
}

static void test_roundtrip_and_dtypes(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    float a[6] = {1, -2, 3.5f, 0, 1e-3f, -7}, s = 0.25f;
    wt_tensor_out t[2] = {{.name = "a", .ndim = 2, .shape = {2, 3}, .data = a},
                          {.name = "scalar", .ndim = 0, .data = &s}};
    const char *meta[] = {"k", "v"};
    lm_err err = {0};
    assert_int_equal(wt_safetensors_save(path, t, 2, meta, 1, &err), 0);
    wt_safetensors *st = NULL;
    assert_int_equal(wt_safetensors_open(&st, path, &err), 0);
    assert_int_equal(wt_safetensors_count(st), 2);
    assert_string_equal(wt_safetensors_meta(st, "k"), "v");
    assert_null(wt_safetensors_meta(st, "nope"));
    float b[6];
    int64_t sh[2] = {2, 3};
    assert_int_equal(wt_safetensors_get_f32(st, "a", 2, sh, b, &err), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(wt_safetensors_get_f32(st, "scalar", 0, NULL, b, &err), 0);
    assert_true(b[0] == 0.25f);
    int64_t bad[2] = {3, 2};
    assert_int_equal(wt_safetensors_get_f32(st, "a", 2, bad, b, &err), LM_ESHAPE);
    printf("  shape mismatch: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "'a'"));
    assert_non_null(strstr(err.msg, "[2, 3]"));
    assert_int_equal(wt_safetensors_get_f32(st, "zz", 2, sh, b, &err), LM_ESHAPE);
    assert_non_null(strstr(err.msg, "missing"));
    wt_safetensors_close(st);

    /* F16 and BF16: 1.0, -2.0, 0.5 (and a subnormal half). */
    snprintf(path, sizeof path, "%s/half.safetensors", tmpdir);
    unsigned char d[14] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x01,
                           0x00, 0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f};
    write_raw(path,
              "{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]}}",
              d, sizeof d);
    assert_int_equal(wt_safetensors_open(&st, path, &err), 0);
    int64_t s4 = 4, s3 = 3;
    assert_int_equal(wt_safetensors_get_f32(st, "h", 1, &s4, b, &err), 0);
    assert_true(b[0] == 1.0f && b[1] == -2.0f && b[2] == 0.5f);
    assert_true(fabsf(b[3] - 5.9604645e-8f) < 1e-12f);
    assert_int_equal(wt_safetensors_get_f32(st, "b", 1, &s3, b, &err), 0);
    assert_true(b[0] == 1.0f && b[1] == -2.0f && b[2] == 0.5f);
    wt_safetensors_close(st);
}

static void test_corrupt_files(void **state)
{
    (void)state;
    char path[300];
    float d[4] = {0};
    snprintf(path, sizeof path, "%s/short.safetensors", tmpdir);
    write_bytes(path, "abc", 3);
    expect_error(path, LM_EFORMAT, "too short", "short.safetensors");

    snprintf(path, sizeof path, "%s/hdrlen.safetensors", tmpdir);
    unsigned char big[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    write_bytes(path, big, 10);
    expect_error(path, LM_EFORMAT, "header length", "beyond the end");

    snprintf(path, sizeof path, "%s/json.safetensors", tmpdir);
    write_raw(path, "{not json", NULL, 0);
    expect_error(path, LM_EFORMAT, "JSON", NULL);

    snprintf(path, sizeof path, "%s/past.safetensors", tmpdir);
    write_raw(path, "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 8);
    expect_error(path, LM_EFORMAT, "'t'", "beyond the data section");

    snprintf(path, sizeof path, "%s/size.safetensors", tmpdir);
    write_raw(path, "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", d, 16);
    expect_error(path, LM_EFORMAT, "'t'", "need 12");

    snprintf(path, sizeof path, "%s/dtype.safetensors", tmpdir);
    write_raw(path, "{\"t\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", d, 16);
    expect_error(path, LM_EFORMAT, "'t'", "I64");

    snprintf(path, sizeof path, "%s/neg.safetensors", tmpdir);
    write_raw(path, "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 4);
    expect_error(path, LM_EFORMAT, "'t'", "shape");

    /* A real generator file cut short: the last tensor's data is missing. */
    size_t n;
    unsigned char *b = read_bytes(WEIGHTS, &n);
    snprintf(path, sizeof path, "%s/trunc.safetensors", tmpdir);
    write_bytes(path, b, n - 100);
    free(b);
    expect_error(path, LM_EFORMAT, "truncated", "trunc.safetensors");
    sg2_model *m = NULL;
    lm_err err = {0};
    assert_int_equal(sg2_model_load(&m, path, &err), LM_EFORMAT);
    assert_null(m);
}

/* Rewrite WEIGHTS with one change: drop tensor `drop`, add an `extra`, change kwargs. */
static void rewrite(const char *out, const char *drop, const char *extra, const char *kwargs,
                    int bad_shape_of_first)
{
    wt_safetensors *st = NULL;
    lm_err err = {0};
    assert_int_equal(wt_safetensors_open(&st, WEIGHTS, &err), 0);
    int n = wt_safetensors_count(st), k = 0;
    wt_tensor_out *t = calloc((size_t)n + 1, sizeof(*t));
    float **data = calloc((size_t)n, sizeof(float *));
    for (int i = 0; i < n; i++) {
        const wt_tensor *src = wt_safetensors_at(st, i);
        data[i] = malloc(sizeof(float) * (size_t)src->numel);
        wt_safetensors_read_f32(st, src, data[i]);
        if (drop && strcmp(src->name, drop) == 0) {
            continue;
        }
        t[k].name = src->name;
        t[k].ndim = src->ndim;
        memcpy(t[k].shape, src->shape, sizeof src->shape);
        t[k].data = data[i];
        if (bad_shape_of_first && strcmp(src->name, "synthesis.b8.conv0.weight") == 0) {
            t[k].shape[0] = src->shape[1]; /* [64,64,3,3] stays valid: swap 3x3 -> 9x1 */
            t[k].shape[2] = 9;
            t[k].shape[3] = 1;
        }
        k++;
    }
    float one = 1.0f;
    if (extra) {
        t[k++] = (wt_tensor_out){.name = extra, .ndim = 0, .data = &one};
    }
    const char *kw = kwargs ? kwargs : wt_safetensors_meta(st, "generator_kwargs");
    const char *meta[] = {"generator_kwargs", kw};
    assert_int_equal(wt_safetensors_save(out, t, k, meta, kw ? 1 : 0, &err), 0);
    for (int i = 0; i < n; i++) {
        free(data[i]);
    }
    free(data);
    free(t);
    wt_safetensors_close(st);
}

static void expect_load_error(const char *path, int code, const char *needle)
{
    sg2_model *m = NULL;
    lm_err err = {0};
    int rc = sg2_model_load(&m, path, &err);
    printf("  load %s -> %d: %s\n", path + strlen(tmpdir) + 1, rc, err.msg);
    assert_int_equal(rc, code);
    assert_null(m);
    assert_non_null(strstr(err.msg, needle));
}

static void test_generator_validation(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/missing.safetensors", tmpdir);
    rewrite(path, "synthesis.b16.conv1.noise_const", NULL, NULL, 0);
    expect_load_error(path, LM_ESHAPE, "synthesis.b16.conv1.noise_const");

    snprintf(path, sizeof path, "%s/extra.safetensors", tmpdir);
    rewrite(path, NULL, "synthesis.b64.conv0.weight", NULL, 0);
    expect_load_error(path, LM_ESHAPE, "unexpected tensor 'synthesis.b64.conv0.weight'");

    snprintf(path, sizeof path, "%s/shape.safetensors", tmpdir);
    rewrite(path, NULL, NULL, NULL, 1);
    expect_load_error(path, LM_ESHAPE, "'synthesis.b8.conv0.weight' has shape [64, 64, 9, 1]");

    snprintf(path, sizeof path, "%s/res.safetensors", tmpdir);
    rewrite(path, NULL, NULL,
            "{\"z_dim\": 64, \"w_dim\": 64, \"img_resolution\": 64, \"mapping_kwargs\": "
            "{\"num_layers\": 8}, \"synthesis_kwargs\": {\"channel_base\": 1024, "
            "\"channel_max\": 64}}",
            0);
    expect_load_error(path, LM_ESHAPE, "synthesis.b64");

    snprintf(path, sizeof path, "%s/cond.safetensors", tmpdir);
    rewrite(path, NULL, NULL, "{\"c_dim\": 10, \"img_resolution\": 32}", 0);
    expect_load_error(path, LM_ECONFIG, "c_dim");

    snprintf(path, sizeof path, "%s/nometa.safetensors", tmpdir);
    wt_tensor_out t = {.name = "x", .ndim = 0, .data = &(float){1}};
    lm_err err = {0};
    assert_int_equal(wt_safetensors_save(path, &t, 1, NULL, 0, &err), 0);
    expect_load_error(path, LM_ECONFIG, "generator_kwargs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_dtypes),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_generator_validation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
