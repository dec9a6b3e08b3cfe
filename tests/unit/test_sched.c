/* test_sched.c - guided self-scheduling and tail backups (coordinator/coord_sched). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_sched.h"

static uint32_t *iota(size_t n)
{
    uint32_t *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = (uint32_t)(i * 3 + 1); /* arbitrary, non-contiguous plan indices */
    }
    return v;
}

/* Chunks shrink as the job drains and never leave [min, max]; every item is
 * handed out exactly once in order. */
static void test_guided_sizes_shrink(void **state)
{
    (void)state;
    size_t n = 10000;
    uint32_t *todo = iota(n);
    coord_sched *s = NULL;
    coord_sched_config cfg = {8, 2000, 0};
    assert_int_equal(coord_sched_create(&s, todo, n, 4, &cfg), 0);
    coord_chunk c;
    size_t seen = 0;
    uint32_t prev = UINT32_MAX;
    int first = 1;
    while (coord_sched_next(s, (int)(seen % 4), 0.0, &c) == COORD_NEXT_CHUNK) {
        if (first) {
            assert_int_equal(c.count, 1250); /* 10000 / (2 * 4) */
            first = 0;
        }
        assert_true(c.count <= prev);
        assert_true(c.count >= 8 || seen + c.count == n);
        for (uint32_t i = 0; i < c.count; i++) {
            assert_int_equal(c.index[i], todo[seen + i]);
        }
        seen += c.count;
        prev = c.count;
        assert_int_equal(coord_sched_complete(s, c.id, (int)((seen - c.count) % 4)), 1);
    }
    assert_int_equal(seen, n);
    assert_int_equal(coord_sched_done_items(s), n);
    assert_int_equal(coord_sched_next(s, 0, 0.0, &c), COORD_NEXT_FINISHED);
    coord_sched_free(s);
    free(todo);
}

/* At the tail an idle worker gets a backup of the oldest chunk held by
 * another worker; the first completion wins, the second is a duplicate. */
static void test_backup_first_wins(void **state)
{
    (void)state;
    uint32_t *todo = iota(20);
    coord_sched *s = NULL;
    coord_sched_config cfg = {10, 10, 1};
    assert_int_equal(coord_sched_create(&s, todo, 20, 2, &cfg), 0);
    coord_chunk a, b, bk;
    assert_int_equal(coord_sched_next(s, 0, 1.0, &a), COORD_NEXT_CHUNK);
    assert_int_equal(coord_sched_next(s, 1, 2.0, &b), COORD_NEXT_CHUNK);
    assert_int_equal(coord_sched_complete(s, b.id, 1), 1);
    /* worker 1 is idle: it gets a backup copy of worker 0's chunk */
    assert_int_equal(coord_sched_next(s, 1, 3.0, &bk), COORD_NEXT_CHUNK);
    assert_true(bk.is_backup);
    assert_int_equal(bk.id, a.id);
    /* nothing more for worker 1 until something changes */
    coord_chunk none;
    assert_int_equal(coord_sched_next(s, 1, 4.0, &none), COORD_NEXT_WAIT);
    assert_int_equal(coord_sched_complete(s, bk.id, 1), 1);  /* backup wins */
    assert_int_equal(coord_sched_complete(s, a.id, 0), 0);   /* original is a duplicate */
    assert_int_equal(coord_sched_done_items(s), 20);
    assert_int_equal(coord_sched_next(s, 0, 5.0, &none), COORD_NEXT_FINISHED);
    coord_sched_free(s);
    free(todo);
}

/* A retired worker's chunk goes back to the pool and is handed out again. */
static void test_retire_requeues(void **state)
{
    (void)state;
    uint32_t *todo = iota(8);
    coord_sched *s = NULL;
    coord_sched_config cfg = {4, 4, 0};
    assert_int_equal(coord_sched_create(&s, todo, 8, 2, &cfg), 0);
    coord_chunk a, b, again;
    assert_int_equal(coord_sched_next(s, 0, 0, &a), COORD_NEXT_CHUNK);
    assert_int_equal(coord_sched_next(s, 1, 0, &b), COORD_NEXT_CHUNK);
    coord_sched_retire(s, 0);
    assert_int_equal(coord_sched_complete(s, b.id, 1), 1);
    assert_int_equal(coord_sched_next(s, 1, 0, &again), COORD_NEXT_CHUNK);
    assert_int_equal(again.id, a.id);
    assert_int_equal(coord_sched_next(s, 0, 0, &b), COORD_NEXT_WAIT); /* retired */
    assert_int_equal(coord_sched_complete(s, again.id, 1), 1);
    assert_int_equal(coord_sched_done_items(s), 8);
    coord_sched_free(s);
    free(todo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guided_sizes_shrink),
        cmocka_unit_test(test_backup_first_wins),
        cmocka_unit_test(test_retire_requeues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
