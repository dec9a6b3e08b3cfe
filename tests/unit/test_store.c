/* test_store.c - value encoding and the LMDB shard (shared/lm_store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/lm_store.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lm-test-store-XXXXXX");
    return mkdtemp(dir) == NULL;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void test_value_roundtrip_and_layout(void **state)
{
    (void)state;
    float w[2 * 3] = {1, 2, 3, 4, 5, -6.5f};
    lm_value v = {LM_DT_F32, 2, 7, {2, 3, 1, 1}, w, sizeof w};
    unsigned char buf[128];
    int64_t n = lm_value_encode(buf, sizeof buf, &v);
    assert_int_equal(n, 32 + 24);
    assert_memory_equal(buf, "LMV1", 4);
    assert_int_equal(buf[4], 1); /* version, little-endian */
    assert_int_equal(buf[6], LM_DT_F32);
    assert_int_equal(buf[7], 2);
    assert_int_equal(buf[8], 7); /* rank */
    assert_int_equal(buf[12], 2);
    assert_int_equal(buf[16], 3);
    assert_int_equal(buf[20], 1); /* unused dims are 1 */
    assert_int_equal(buf[28], 24);
    lm_value d;
    assert_int_equal(lm_value_decode(&d, buf, (size_t)n, NULL), 0);
    assert_int_equal(d.dims[1], 3);
    assert_memory_equal(d.data, w, sizeof w);
    /* Truncated or tampered values are refused. */
    lm_err e = {0};
    assert_int_equal(lm_value_decode(&d, buf, (size_t)n - 1, &e), LM_EFORMAT);
    buf[0] = 'X';
    assert_int_equal(lm_value_decode(&d, buf, (size_t)n, &e), LM_EFORMAT);
    assert_int_equal(lm_value_encode(buf, 40, &v), -28 /* -ENOSPC */);
}

static void test_store_commit_get_foreach(void **state)
{
    (void)state;
    lm_store *s = NULL;
    lm_err e = {0};
    assert_int_equal(lm_store_open(&s, dir, 0, &e), 0);
    lm_batch *b = NULL;
    assert_int_equal(lm_batch_create(&b), 0);
    float lat[512];
    for (int i = 0; i < 512; i++) {
        lat[i] = (float)i;
    }
    lm_value v = {LM_DT_F32, 2, 0, {1, 512, 1, 1}, lat, sizeof lat};
    assert_int_equal(lm_batch_put(b, LM_DB_LATENT, "b/2.jpg", &v), 0);
    assert_int_equal(lm_batch_put(b, LM_DB_LATENT, "a/1.jpg", &v), 0);
    assert_int_equal(lm_batch_put_json(b, LM_DB_META, "a/1.jpg", "{\"status\":\"ok\"}", 0), 0);
    assert_int_equal(lm_store_commit(s, b, &e), 0);
    lm_store_close(s);

    assert_int_equal(lm_store_open(&s, dir, 1, &e), 0);
    size_t n = 0;
    assert_int_equal(lm_store_count(s, LM_DB_LATENT, &n, &e), 0);
    assert_int_equal(n, 2);
    lm_value got;
    assert_int_equal(lm_store_get(s, LM_DB_LATENT, "a/1.jpg", &got, &e), 0);
    assert_int_equal(got.dims[1], 512);
    assert_memory_equal(got.data, lat, sizeof lat);
    assert_int_equal(lm_store_get(s, LM_DB_LATENT, "zzz", &got, &e), 1);
    lm_store_close(s);
    lm_batch_free(b);
}

/* Records far larger than the initial 64 MiB map: the store must grow the map
 * and replay the batch, and every record must be readable afterwards. */
static void test_store_grows_map(void **state)
{
    (void)state;
    lm_store *s = NULL;
    lm_err e = {0};
    assert_int_equal(lm_store_open(&s, dir, 0, &e), 0);
    lm_batch *b = NULL;
    assert_int_equal(lm_batch_create(&b), 0);
    size_t n = 1 << 20; /* 4 MiB per record, 40 records = 160 MiB */
    float *big = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        big[i] = (float)(i % 977);
    }
    lm_value v = {LM_DT_F32, 1, 0, {(uint32_t)n, 1, 1, 1}, big, n * sizeof(float)};
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "big/%02d", i);
        assert_int_equal(lm_batch_put(b, LM_DB_PIXELS, key, &v), 0);
    }
    int rc = lm_store_commit(s, b, &e);
    if (rc != 0) {
        fail_msg("commit: %s", e.msg);
    }
    size_t cnt = 0;
    assert_int_equal(lm_store_count(s, LM_DB_PIXELS, &cnt, &e), 0);
    assert_int_equal(cnt, 40);
    lm_value got;
    assert_int_equal(lm_store_get(s, LM_DB_PIXELS, "big/39", &got, &e), 0);
    assert_memory_equal(got.data, big, n * sizeof(float));
    free(big);
    lm_batch_free(b);
    lm_store_close(s);
}

/* Disk full (injected ENOSPC at the commit) writes nothing: the earlier
 * commit survives intact and the failed batch is absent. */
static void test_store_disk_full_is_atomic(void **state)
{
    (void)state;
    lm_store *s = NULL;
    lm_err e = {0};
    assert_int_equal(lm_store_open(&s, dir, 0, &e), 0);
    lm_batch *b = NULL;
    assert_int_equal(lm_batch_create(&b), 0);
    assert_int_equal(lm_batch_put_json(b, LM_DB_META, "keep", "{}", 0), 0);
    assert_int_equal(lm_store_commit(s, b, &e), 0);
    lm_batch_clear(b);
    assert_int_equal(lm_batch_put_json(b, LM_DB_META, "lost1", "{}", 0), 0);
    assert_int_equal(lm_batch_put_json(b, LM_DB_META, "lost2", "{}", 0), 0);
    setenv("LATENTMILL_FAULT", "write:ENOSPC:1", 1);
    int rc = lm_store_commit(s, b, &e);
    unsetenv("LATENTMILL_FAULT");
    assert_int_equal(rc, -28);
    assert_non_null(strstr(e.msg, dir));
    lm_value got;
    assert_int_equal(lm_store_get(s, LM_DB_META, "keep", &got, &e), 0);
    assert_int_equal(lm_store_get(s, LM_DB_META, "lost1", &got, &e), 1);
    assert_int_equal(lm_store_get(s, LM_DB_META, "lost2", &got, &e), 1);
    lm_batch_free(b);
    lm_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_roundtrip_and_layout),
        cmocka_unit_test_setup_teardown(test_store_commit_get_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_grows_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_disk_full_is_atomic, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
