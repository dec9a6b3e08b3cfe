/*
 * test_datasets.c - datasets/ building blocks: MD5 and SHA-256 against the
 * FIPS/RFC test vectors, the extra record (encode/decode round trip, corrupt
 * records refused), plan serialisation with extras and the images path, and
 * the synthetic face's landmarks (eye centres, mouth corners by construction).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/ds_extra.h"
#include "datasets/ds_hash.h"
#include "datasets/ds_plan.h"
#include "datasets/ds_synth.h"

static void hex_md5(const char *s, size_t n, char out[33])
{
    ds_md5 c;
    unsigned char d[16];
    ds_md5_init(&c);
    /* feed in uneven pieces to exercise the buffering */
    size_t i = 0, step = 1;
    while (i < n) {
        size_t k = n - i < step ? n - i : step;
        ds_md5_update(&c, s + i, k);
        i += k;
        step = step * 3 + 1;
    }
    ds_md5_final(&c, d);
    ds_hex(d, 16, out);
}

static void hex_sha(const char *s, size_t n, char out[65])
{
    ds_sha256 c;
    unsigned char d[32];
    ds_sha256_init(&c);
    size_t i = 0, step = 1;
    while (i < n) {
        size_t k = n - i < step ? n - i : step;
        ds_sha256_update(&c, s + i, k);
        i += k;
        step = step * 5 + 2;
    }
    ds_sha256_final(&c, d);
    ds_hex(d, 32, out);
}

static void test_hash_vectors(void **st)
{
    (void)st;
    char h[65];
    hex_md5("", 0, h);
    assert_string_equal(h, "d41d8cd98f00b204e9800998ecf8427e");
    hex_md5("abc", 3, h);
    assert_string_equal(h, "900150983cd24fb0d6963f7d28e17f72");
    const char *q = "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
    hex_md5(q, strlen(q), h);
    assert_string_equal(h, "57edf4a22be3c955ac49da2e2107b67a");
    hex_sha("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_sha("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *t = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_sha(t, strlen(t), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *m = malloc(1000000);
    memset(m, 'a', 1000000);
    hex_sha(m, 1000000, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(m);
}

static void test_extra_roundtrip(void **st)
{
    (void)st;
    ds_extra x, y;
    ds_extra_init(&x);
    x.nlabels = 46;
    for (int i = 0; i < 46; i++) {
        x.labels[i] = i % 2 ? -1 : 1000000 + i;
    }
    x.identity = 2880;
    x.lmk_kind = DS_LMK_CELEBA5;
    x.npoints = 5;
    for (int i = 0; i < 10; i++) {
        x.pts[i] = 0.25f * i - 3.0f;
    }
    x.split = 2;
    x.flags = DS_X_ALIGNED;
    x.json = "{\"a\":1}";
    x.json_len = 7;
    size_t n = ds_extra_size(&x);
    assert_int_equal(n, 20 + 4 * 46 + 8 * 5 + 7);
    unsigned char *b = malloc(n);
    ds_extra_encode(&x, b);
    assert_memory_equal(b, "LMX1", 4);
    assert_int_equal(b[4], 46); /* little-endian u16 */
    assert_int_equal(ds_extra_decode(&y, b, n, NULL), 0);
    assert_int_equal(y.nlabels, 46);
    assert_memory_equal(y.labels, x.labels, 46 * 4);
    assert_int_equal(y.identity, 2880);
    assert_int_equal(y.npoints, 5);
    assert_memory_equal(y.pts, x.pts, 10 * 4);
    assert_int_equal(y.split, 2);
    assert_int_equal(y.flags, DS_X_ALIGNED);
    assert_int_equal(y.json_len, 7);
    assert_memory_equal(y.json, "{\"a\":1}", 7);
    lm_err e = {0};
    assert_int_equal(ds_extra_decode(&y, b, n - 1, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "inconsistent sizes"));
    b[0] = 'X';
    assert_int_equal(ds_extra_decode(&y, b, n, &e), LM_EFORMAT);
    free(b);
}

static void test_synth_landmarks(void **st)
{
    (void)st;
    ds_synth_pose p = {100, 80, 40, 0.3, 0};
    float pts[136];
    ds_synth_landmarks(&p, pts);
    double lx = 0, ly = 0, rx = 0, ry = 0;
    for (int i = 0; i < 6; i++) {
        lx += pts[2 * (36 + i)] / 6;
        ly += pts[2 * (36 + i) + 1] / 6;
        rx += pts[2 * (42 + i)] / 6;
        ry += pts[2 * (42 + i) + 1] / 6;
    }
    /* eye centres at canonical (-0.5, 0) and (0.5, 0), 40 px apart, rotated by 0.3 */
    assert_true(fabs(hypot(rx - lx, ry - ly) - 40) < 1e-3);
    assert_true(fabs(atan2(ry - ly, rx - lx) - 0.3) < 1e-5);
    assert_true(fabs((lx + rx) / 2 - 100) < 1e-3 && fabs((ly + ry) / 2 - 80) < 1e-3);
    /* mouth corners at (-0.45, 1) and (0.45, 1) */
    double mx = (pts[96] + pts[108]) / 2, my = (pts[97] + pts[109]) / 2;
    assert_true(fabs(mx - (100 - 40 * sin(0.3))) < 1e-3);
    assert_true(fabs(my - (80 + 40 * cos(0.3))) < 1e-3);
    /* the drawn pupil is dark at the eye centre, the face bright around it */
    lm_image im = {0};
    lm_err e = {0};
    assert_int_equal(ds_synth_face(&im, 200, 160, &p, 5, &e), 0);
    const uint8_t *c = im.px + ((size_t)lrint(ly) * 200 + lrint(lx)) * 3;
    assert_true(c[0] < 40 && c[1] < 40 && c[2] < 40);
    lm_img_fini(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_extra_roundtrip),
        cmocka_unit_test(test_synth_landmarks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
