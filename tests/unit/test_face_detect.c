/*
 * test_face_detect.c - tiny_face_detector (input 416, score threshold 0.5)
 * and ssd_mobilenetv1 (min confidence 0.5, max 100) against face-api 1.7.15
 * goldens (tests/golden/faceapi/NAME.json, detectors.*) on the identical
 * decoded pixels.
 *
 * Tolerances: same number of faces; per face |score diff| <= 1e-5 and every
 * box coordinate within 0.005 px (measured: <= 6e-5 px and 2e-7 in score;
 * float32 summation order differs from TF.js, so not bit-exact; a wrong
 * anchor, padding or resize moves boxes by pixels). This is far inside the
 * issue's IoU >= 0.98. messi5 has no tiny-detector face at
 * 416 in face-api (zero detections is the expected, successful result); the
 * SSD finds it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "models/fdet.h"
#include "models/fdet_ssd.h"
#include "tests/unit/face_golden.h"

static fdet_model *model;
static fdet_ssd_model *ssd;

static void check_one(const fg_case *cp, const char *det)
{
    const fg_case c = *cp;
    const char *name = c.name;
    fdet_box boxes[16];
    int n = -1;
    lm_err e = {0};
    int rc = det[0] == 't' ? fdet_detect(model, c.rgb, c.W, c.H, 416, 0.5f, boxes, 16, &n, &e)
                           : fdet_ssd_detect(ssd, c.rgb, c.W, c.H, 0.5f, 100, boxes, 16, &n, &e);
    assert_int_equal(rc, 0);
    const cJSON *dets = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c.g, "detectors"), det), "detections");
    int ne = cJSON_GetArraySize(dets);
    fprintf(stderr, "%s %s: %d faces (face-api %d)\n", name, det, n, ne);
    assert_int_equal(n, ne);
    for (int i = 0; i < n; i++) {
        const cJSON *d = cJSON_GetArrayItem(dets, i);
        const cJSON *b = cJSON_GetObjectItem(d, "box");
        double ex[4] = {fg_num(b, "x"), fg_num(b, "y"), fg_num(b, "width"), fg_num(b, "height")};
        double got[4] = {boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h};
        double md = 0;
        for (int k = 0; k < 4; k++) {
            md = fmax(md, fabs(ex[k] - got[k]));
        }
        double ds = fabs(fg_num(d, "score") - boxes[i].score);
        fprintf(stderr,
                "  face %d: box (%.3f %.3f %.3f %.3f) expected (%.3f %.3f %.3f %.3f), max "
                "diff %.2g px (tol 0.005); score %.6f diff %.2g (tol 1e-5)\n",
                i, got[0], got[1], got[2], got[3], ex[0], ex[1], ex[2], ex[3], md, boxes[i].score,
                ds);
        assert_true(md <= 0.005);
        assert_true(ds <= 1e-5);
    }
}

static void check_image(const char *name, const char *file)
{
    fg_case c;
    assert_int_equal(fg_case_load(&c, name, file), 0);
    check_one(&c, "tiny_face_detector");
    check_one(&c, "ssd_mobilenetv1");
    fg_case_fini(&c);
}

static void test_astronaut(void **s)
{
    (void)s;
    check_image("astronaut", "astronaut.png");
}

static void test_two_people(void **s)
{
    (void)s;
    check_image("two_people", "two_people.jpg");
}

static void test_obama_small(void **s)
{
    (void)s;
    check_image("obama_small", "obama_small.jpg");
}

static void test_obama_240p(void **s)
{
    (void)s;
    check_image("obama-240p", "obama-240p.jpg");
}

static void test_partial_face(void **s)
{
    (void)s;
    check_image("obama_partial_face", "obama_partial_face.jpg");
}

static void test_no_face(void **s)
{
    (void)s;
    check_image("messi5", "messi5.jpg");
}

static void test_bad_size(void **s)
{
    (void)s;
    uint8_t px[3 * 4] = {0};
    fdet_box b[1];
    int n = 7;
    lm_err e = {0};
    assert_int_equal(fdet_detect(model, px, 2, 2, 100, 0.5f, b, 1, &n, &e), LM_ECONFIG);
    assert_int_equal(n, 0);
    /* A 1x1 image is valid input: no face. */
    assert_int_equal(fdet_detect(model, px, 1, 1, 416, 0.5f, b, 1, &n, &e), 0);
    assert_int_equal(n, 0);
}

static void test_rgba(void **s)
{
    (void)s;
    check_image("obama2_rgba", "obama2_rgba.png");
}

int main(void)
{
    fg_require_models();
    lm_err e = {0};
    if (fdet_model_load(&model, NULL, &e) != 0 || fdet_ssd_model_load(&ssd, NULL, &e) != 0) {
        fprintf(stderr, "load: %s\n", e.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_astronaut),  cmocka_unit_test(test_rgba),
        cmocka_unit_test(test_two_people), cmocka_unit_test(test_obama_small),
        cmocka_unit_test(test_obama_240p), cmocka_unit_test(test_partial_face),
        cmocka_unit_test(test_no_face),    cmocka_unit_test(test_bad_size),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fdet_model_free(model);
    fdet_ssd_model_free(ssd);
    return rc;
}
