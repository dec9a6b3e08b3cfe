/*
 * test_mt19937.c - shared/lm_mt19937 against NumPy's legacy RandomState
 * (tests/golden/mt19937/randomstate.txt, written by tools/mt19937_ref.py) and
 * against the published MT19937 check value; shared/lm_seeds list parsing.
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

#include "shared/lm_mt19937.h"
#include "shared/lm_seeds.h"

#define GOLDEN "tests/golden/mt19937/randomstate.txt"

/* The C++11 standard's check for std::mt19937 (default seed 5489): the 10000th
 * output is 4123659995; the first is 3499211612 (Matsumoto's mt19937ar.c). */
static void test_reference_values(void **state)
{
    (void)state;
    lm_mt19937 st;
    lm_mt19937_seed(&st, 5489u);
    uint32_t first = lm_mt19937_u32(&st), v = first;
    for (int i = 1; i < 10000; i++) {
        v = lm_mt19937_u32(&st);
    }
    if (first != 3499211612u || v != 4123659995u) {
        fail_msg("seed 5489: first %u (want 3499211612), 10000th %u (want 4123659995)", first, v);
    }
}

/* Split a line's numbers after the tag; returns the count. */
static int numbers(char *line, const char *tag, char **tok, int max)
{
    size_t tl = strlen(tag);
    if (strncmp(line, tag, tl) != 0 || line[tl] != ' ') {
        return -1;
    }
    int n = 0;
    for (char *t = strtok(line + tl, " \n"); t != NULL && n < max; t = strtok(NULL, " \n")) {
        tok[n++] = t;
    }
    return n;
}

static void test_numpy_golden(void **state)
{
    (void)state;
    FILE *f = fopen(GOLDEN, "r");
    if (f == NULL) {
        fail_msg("cannot open %s (run from the repository root)", GOLDEN);
    }
    char line[8192];
    char *tok[128];
    int seeds = 0, bad = 0;
    uint32_t seed = 0;
    double max_rel = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#') {
            continue;
        }
        if (strncmp(line, "seed ", 5) == 0) {
            seed = (uint32_t)strtoull(line + 5, NULL, 10);
            seeds++;
            continue;
        }
        lm_mt19937 st;
        lm_mt19937_seed(&st, seed);
        int n;
        if ((n = numbers(line, "u32", tok, 128)) > 0) {
            for (int i = 0; i < n; i++) {
                uint32_t want = (uint32_t)strtoull(tok[i], NULL, 10), got = lm_mt19937_u32(&st);
                if (got != want && bad++ < 10) {
                    print_error("seed %u u32[%d]: got %u want %u\n", seed, i, got, want);
                }
            }
        } else if ((n = numbers(line, "double", tok, 128)) > 0) {
            for (int i = 0; i < n; i++) {
                double want = strtod(tok[i], NULL), got = lm_mt19937_double(&st);
                if (got != want && bad++ < 10) {
                    print_error("seed %u double[%d]: got %.17g want %.17g\n", seed, i, got, want);
                }
            }
        } else if ((n = numbers(line, "randn", tok, 128)) > 0) {
            /* log/sqrt of another libm may differ in the last bit. */
            for (int i = 0; i < n; i++) {
                double want = strtod(tok[i], NULL), got = lm_mt19937_gauss(&st);
                double rel = fabs(got - want) / fmax(1.0, fabs(want));
                max_rel = fmax(max_rel, rel);
                if (rel > 1e-14 && bad++ < 10) {
                    print_error("seed %u randn[%d]: got %.17g want %.17g\n", seed, i, got, want);
                }
            }
        } else if ((n = numbers(line, "randn_f32", tok, 128)) > 0) {
            float z[128];
            lm_mt19937_randn_f32(z, (size_t)n, seed);
            for (int i = 0; i < n; i++) {
                uint32_t want = (uint32_t)strtoull(tok[i], NULL, 10), got;
                memcpy(&got, &z[i], 4);
                if (got != want && bad++ < 10) {
                    float wf;
                    memcpy(&wf, &want, 4);
                    print_error("seed %u z[%d]: got %.9g want %.9g\n", seed, i, (double)z[i],
                                (double)wf);
                }
            }
        } else {
            fail_msg("%s: unexpected line '%.40s'", GOLDEN, line);
        }
    }
    fclose(f);
    print_message("%d seeds, max relative error of randn %.3g, %d mismatches\n", seeds, max_rel,
                  bad);
    assert_true(seeds >= 8);
    assert_int_equal(bad, 0);
}

/* The cached second normal: after an odd number of draws the next one comes
 * from the cache and consumes no words. */
static void test_gauss_cache(void **state)
{
    (void)state;
    lm_mt19937 a, b;
    lm_mt19937_seed(&a, 7);
    lm_mt19937_seed(&b, 7);
    (void)lm_mt19937_gauss(&a);
    assert_true(a.has_gauss);
    int pos = a.pos;
    (void)lm_mt19937_gauss(&a);
    assert_int_equal(a.pos, pos);
    assert_false(a.has_gauss);
    float z[3];
    lm_mt19937_randn_f32(z, 3, 7);
    for (int i = 0; i < 3; i++) {
        assert_true(z[i] == (float)lm_mt19937_gauss(&b));
    }
}

static void expect_seeds(const char *spec, const uint32_t *want, size_t nwant)
{
    uint32_t *s = NULL;
    size_t n = 0;
    lm_err err = {0};
    int rc = lm_seeds_parse(spec, &s, &n, &err);
    if (rc != 0) {
        fail_msg("'%s': %s", spec, lm_err_msg(&err, rc));
    }
    if (n != nwant) {
        free(s);
        fail_msg("'%s': %zu seeds, want %zu", spec, n, nwant);
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != want[i]) {
            uint32_t got = s[i];
            free(s);
            fail_msg("'%s': seed[%zu] = %u, want %u", spec, i, got, want[i]);
        }
    }
    free(s);
}

static void expect_bad(const char *spec, int code, const char *fragment)
{
    uint32_t *s = NULL;
    size_t n = 0;
    lm_err err = {0};
    int rc = lm_seeds_parse(spec, &s, &n, &err);
    if (rc != code || s != NULL || strstr(err.msg, fragment) == NULL) {
        free(s);
        fail_msg("'%s': rc %d (want %d), message '%s' (want it to contain '%s')", spec, rc, code,
                 err.msg, fragment);
    }
}

static void test_seed_lists(void **state)
{
    (void)state;
    expect_seeds("0-3", (const uint32_t[]){0, 1, 2, 3}, 4);
    expect_seeds("1,5,9-12", (const uint32_t[]){1, 5, 9, 10, 11, 12}, 6);
    expect_seeds("303", (const uint32_t[]){303}, 1);
    expect_seeds("7-7,2", (const uint32_t[]){7, 2}, 2);
    expect_seeds("4294967294-4294967295", (const uint32_t[]){4294967294u, 4294967295u}, 2);
    uint32_t *s = NULL;
    size_t n = 0;
    assert_int_equal(lm_seeds_parse("0-1048575", &s, &n, NULL), 0);
    assert_int_equal(n, LM_SEEDS_MAX);
    assert_int_equal(s[n - 1], 1048575);
    free(s);

    expect_bad("", LM_ECONFIG, "empty seed list");
    expect_bad("1,,2", LM_ECONFIG, "empty item");
    expect_bad("1,", LM_ECONFIG, "empty item");
    expect_bad("5-3", LM_ECONFIG, "'5-3' runs backwards");
    expect_bad("-3", LM_ECONFIG, "bad item '-3'");
    expect_bad("1-", LM_ECONFIG, "bad item '1-'");
    expect_bad("a", LM_ECONFIG, "bad item 'a'");
    expect_bad("1 ,2", LM_ECONFIG, "bad item '1 '");
    expect_bad("0x10", LM_ECONFIG, "bad item '0x10'");
    expect_bad("1-2-3", LM_ECONFIG, "bad item '1-2-3'");
    expect_bad("4294967296", LM_ECONFIG, "bad item '4294967296'");
    expect_bad("0-1048576", LM_ETOOBIG, "more than 1048576 seeds");
    expect_bad("0-1048000,0-1000", LM_ETOOBIG, "more than");
    expect_bad("0-4294967295", LM_ETOOBIG, "more than");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_values),
        cmocka_unit_test(test_numpy_golden),
        cmocka_unit_test(test_gauss_cache),
        cmocka_unit_test(test_seed_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
