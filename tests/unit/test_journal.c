/* test_journal.c - the chunk journal (coordinator/coord_journal) and the plan
 * file (datasets/ds_plan): round trips, torn tails, corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/coord_journal.h"
#include "datasets/ds_plan.h"
#include "shared/lm_io.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lm-test-journal-XXXXXX");
    return mkdtemp(dir) == NULL;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void test_journal_replay_and_torn_tail(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/journal.bin", dir);
    coord_journal *j = NULL;
    assert_int_equal(coord_journal_open(&j, path, NULL), 0);
    uint32_t a[] = {0, 1, 2}, b[] = {5, 6}, c[] = {1, 9};
    assert_int_equal(coord_journal_append(j, 1, 1, a, 3, NULL), 0);
    assert_int_equal(coord_journal_append(j, 1, 2, b, 2, NULL), 0);
    assert_int_equal(coord_journal_append(j, 2, 3, c, 2, NULL), 0); /* item 1 again: first wins */
    coord_journal_close(j);
    coord_done done[10];
    uint32_t max_run = 0;
    assert_int_equal(coord_journal_replay(path, 10, done, &max_run, NULL), 0);
    assert_int_equal(max_run, 2);
    assert_int_equal(done[1].run, 1);
    assert_int_equal(done[1].rank, 1);
    assert_int_equal(done[6].rank, 2);
    assert_int_equal(done[9].run, 2);
    assert_int_equal(done[3].run, UINT32_MAX);
    /* Cut the last record in half: it is dropped (item 9 not done) and the
     * file is truncated so later appends stay readable. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 5), 0);
    assert_int_equal(coord_journal_replay(path, 10, done, &max_run, NULL), 0);
    assert_int_equal(done[9].run, UINT32_MAX);
    assert_int_equal(done[6].run, 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 2 * 4 * 4 + (3 + 2) * 4 + 2 * 4);
    assert_int_equal(coord_journal_open(&j, path, NULL), 0);
    assert_int_equal(coord_journal_append(j, 3, 1, c, 2, NULL), 0);
    coord_journal_close(j);
    assert_int_equal(coord_journal_replay(path, 10, done, &max_run, NULL), 0);
    assert_int_equal(done[9].run, 3);
    /* A record naming an item beyond the plan is a corrupt journal. */
    lm_err e = {0};
    assert_int_equal(coord_journal_replay(path, 8, done, &max_run, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "journal.bin"));
    /* A flipped byte fails the CRC: replay stops before that record. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc(0x7f, f);
    fclose(f);
    assert_int_equal(coord_journal_read(path, 10, done, &max_run, NULL), 0);
    assert_int_equal(done[0].run, UINT32_MAX);
}

static void test_journal_disk_full_keeps_journal_readable(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/j2.bin", dir);
    coord_journal *j = NULL;
    uint32_t a[] = {0, 1};
    assert_int_equal(coord_journal_open(&j, path, NULL), 0);
    assert_int_equal(coord_journal_append(j, 1, 0, a, 2, NULL), 0);
    setenv("LATENTMILL_FAULT", "write:ENOSPC:1", 1);
    lm_err e = {0};
    assert_int_equal(coord_journal_append(j, 1, 0, a, 2, &e), -28);
    unsetenv("LATENTMILL_FAULT");
    assert_non_null(strstr(e.msg, "j2.bin"));
    coord_journal_close(j);
    coord_done done[2];
    uint32_t max_run;
    assert_int_equal(coord_journal_replay(path, 2, done, &max_run, NULL), 0);
    assert_int_equal(done[1].run, 1);
}

static void test_plan_roundtrip_and_corruption(void **state)
{
    (void)state;
    char sub[300], path[400];
    snprintf(sub, sizeof sub, "%s/data/a", dir);
    assert_int_equal(lm_io_mkdirs(sub, NULL), 0);
    const char *names[] = {"data/a/2.jpg", "data/a/1.jpg", "data/b.png", "data/.hidden"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        assert_int_equal(lm_io_write_file_atomic(path, "x", 1, NULL), 0);
    }
    snprintf(path, sizeof path, "%s/data", dir);
    ds_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = path;
    cfg.name = "set";
    ds_plan *p = NULL;
    assert_int_equal(ds_plan_build(&p, &cfg, NULL), 0);
    assert_int_equal(ds_plan_count(p), 3); /* hidden file left out */
    ds_item it;
    ds_plan_item(p, 0, &it);
    assert_string_equal(it.key, "set/a/1.jpg"); /* sorted walk */
    ds_plan_item(p, 2, &it);
    assert_string_equal(it.key, "set/b.png");
    snprintf(path, sizeof path, "%s/plan.bin", dir);
    assert_int_equal(ds_plan_save(p, path, NULL), 0);
    ds_plan *q = NULL;
    assert_int_equal(ds_plan_load(&q, path, NULL), 0);
    assert_int_equal(ds_plan_count(q), 3);
    ds_plan_item(q, 1, &it);
    assert_string_equal(it.key, "set/a/2.jpg");
    assert_string_equal(ds_plan_root(q), ds_plan_root(p));
    ds_plan_free(q);
    /* Truncated and foreign files are refused with the file named. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 3), 0);
    lm_err e = {0};
    assert_int_equal(ds_plan_load(&q, path, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "plan.bin"));
    assert_int_equal(lm_io_write_file_atomic(path, "not a plan at all, really not", 29, NULL), 0);
    assert_int_equal(ds_plan_load(&q, path, &e), LM_EFORMAT);
    assert_non_null(strstr(e.msg, "not a latentmill plan"));
    ds_plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_replay_and_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_disk_full_keeps_journal_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_roundtrip_and_corruption, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
