/* test_job.c - job-file parsing and validation (shared/lm_job). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "shared/lm_job.h"

static const char *good = "# a job\n"
                          "[job]\n"
                          "name = demo\n"
                          "out = /tmp/x\n"
                          "\n"
                          "[dataset]\n"
                          "kind = folder\n"
                          "path = imgs\n"
                          "[node]\n"
                          "resolution = 64\n"
                          "threads = 2\n"
                          "keep_pixels = yes\n";

static void test_typed_getters(void **state)
{
    (void)state;
    lm_job *job = NULL;
    lm_err e = {0};
    assert_int_equal(lm_job_parse(&job, good, "t.ini", &e), 0);
    const char *s = NULL;
    assert_int_equal(lm_job_get_str(job, "job", "name", NULL, &s, &e), 0);
    assert_string_equal(s, "demo");
    long v = 0;
    assert_int_equal(lm_job_get_int(job, "node", "resolution", 256, 4, 4096, &v, &e), 0);
    assert_int_equal(v, 64);
    assert_int_equal(lm_job_get_int(job, "node", "absent", 5, 0, 9, &v, &e), 1);
    assert_int_equal(v, 5);
    int b = 0;
    assert_int_equal(lm_job_get_bool(job, "node", "keep_pixels", 0, &b, &e), 0);
    assert_true(b);
    static const char *const kinds[] = {"folder", "zip", NULL};
    int k = -1;
    assert_int_equal(lm_job_get_enum(job, "dataset", "kind", kinds, 1, &k, &e), 0);
    assert_int_equal(k, 0);
    /* Unread keys are reported with file and line. */
    assert_int_equal(lm_job_check_unused(job, &e), LM_ECONFIG);
    assert_non_null(strstr(e.msg, "t.ini:4"));
    assert_non_null(strstr(e.msg, "'out'"));
    assert_int_equal(lm_job_get_str(job, "job", "out", NULL, &s, &e), 0);
    assert_int_equal(lm_job_get_str(job, "dataset", "path", NULL, &s, &e), 0);
    assert_int_equal(lm_job_get_int(job, "node", "threads", 1, 1, 64, &v, &e), 0);
    assert_int_equal(lm_job_check_unused(job, &e), 0);
    lm_job_free(job);
}

static void test_bad_values_name_line(void **state)
{
    (void)state;
    lm_job *job = NULL;
    lm_err e = {0};
    const char *txt = "[node]\nresolution = big\nthreads = 999\nflag = maybe\n[bogus]\n";
    assert_int_equal(lm_job_parse(&job, txt, "bad.ini", &e), 0);
    long v = 0;
    assert_int_equal(lm_job_get_int(job, "node", "resolution", 1, 1, 10, &v, &e), LM_ECONFIG);
    assert_non_null(strstr(e.msg, "bad.ini:2"));
    assert_non_null(strstr(e.msg, "not an integer"));
    assert_int_equal(lm_job_get_int(job, "node", "threads", 1, 1, 64, &v, &e), LM_ECONFIG);
    assert_non_null(strstr(e.msg, "bad.ini:3"));
    int b;
    assert_int_equal(lm_job_get_bool(job, "node", "flag", 0, &b, &e), LM_ECONFIG);
    assert_non_null(strstr(e.msg, "bad.ini:4"));
    assert_int_equal(lm_job_check_unused(job, &e), LM_ECONFIG);
    assert_non_null(strstr(e.msg, "bad.ini:5: unknown section [bogus]"));
    lm_job_free(job);
}

static void test_syntax_and_duplicates(void **state)
{
    (void)state;
    lm_job *job = NULL;
    lm_err e = {0};
    assert_int_equal(lm_job_parse(&job, "[job]\nname = a\nthis line is wrong\n", "s.ini", &e),
                     LM_ECONFIG);
    assert_non_null(strstr(e.msg, "s.ini:3"));
    assert_null(job);
    assert_int_equal(lm_job_parse(&job, "[job]\nname = a\nname = b\n", "d.ini", &e), LM_ECONFIG);
    assert_non_null(strstr(e.msg, "d.ini:3"));
    assert_non_null(strstr(e.msg, "twice"));
    assert_int_equal(lm_job_load(&job, "/nonexistent/job.ini", &e), -2);
    assert_non_null(strstr(e.msg, "/nonexistent/job.ini"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_bad_values_name_line),
        cmocka_unit_test(test_syntax_and_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
