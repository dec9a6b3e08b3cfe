/*
 * test_lookalike.c - look-alike search on real photos (tests/fixtures/faces/):
 * with face-api's networks, two photos of the same person are each other's
 * nearest neighbour among the fixture faces. Needs the face models (`make
 * models`); without them it prints SKIP and exits 77.
 *
 *   test_lookalike               the unit test (run from the repository root)
 *   test_lookalike --build OUT   build OUT/index/ from the fixture faces (keys:
 *                                the photo path, "#<n>" for further faces;
 *                                identities as in photos[] below) for
 *                                tests/integration/test_lookalike.sh
 */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/faces.h"
#include "reduce/index.h"
#include "shared/lm_img.h"

#define FIX "tests/fixtures/faces/"

/* Identities per face in detection order (SOURCES.md of the fixtures): 1 Obama,
 * 2 Eileen Collins, 3 Messi (no face found), 4 Biden. two_people.jpg is Obama
 * (left, face 0) and Biden (right); obama_partial_face.jpg is cut through the
 * face at the image edge, so only its nearest neighbour is checked, not the
 * 0.6 threshold. */
static const struct {
    const char *file;
    int32_t identity[2];
    int partial;
} photos[] = {
    {FIX "obama-240p.jpg", {1, -1}, 0}, {FIX "obama_small.jpg", {1, -1}, 0},
    {FIX "obama_partial_face.jpg", {1, -1}, 1}, {FIX "two_people.jpg", {1, 4}, 0},
    {FIX "astronaut.png", {2, -1}, 0}, {FIX "messi5.jpg", {3, -1}, 0},
};
enum { NPHOTO = sizeof photos / sizeof photos[0], MAXF = 16 };

typedef struct face_set {
    size_t n;
    float desc[MAXF][FREC_DIM];
    char key[MAXF][256];
    int32_t ident[MAXF];
    int partial[MAXF];
} face_set;

static int describe_fixtures(face_set *fs, lm_err *e)
{
    faces_ctx *fc = NULL;
    int rc = faces_ctx_create(&fc, NULL, FACES_DETECTOR | FACES_LANDMARKS | FACES_DESCRIPTOR, e);
    if (rc != 0) {
        return rc;
    }
    fs->n = 0;
    for (int p = 0; p < NPHOTO && rc == 0; p++) {
        lm_image img = {0};
        rc = lm_img_load(&img, photos[p].file, 0, e);
        faces_face f[8];
        int n = 0;
        if (rc == 0) {
            rc = faces_detect(fc, &img, 0, f, 8, &n, e);
        }
        for (int i = 0; rc == 0 && i < n && i < 8 && fs->n < MAXF; i++) {
            rc = faces_analyze(fc, &img, &f[i], e);
            if (rc == 0) {
                memcpy(fs->desc[fs->n], f[i].desc, sizeof fs->desc[0]);
                if (i == 0) {
                    snprintf(fs->key[fs->n], sizeof fs->key[0], "%s", photos[p].file);
                } else {
                    snprintf(fs->key[fs->n], sizeof fs->key[0], "%s#%d", photos[p].file, i);
                }
                fs->ident[fs->n] = i < 2 ? photos[p].identity[i] : -1;
                fs->partial[fs->n] = photos[p].partial;
                fs->n++;
            }
        }
        lm_img_fini(&img);
    }
    faces_ctx_free(fc);
    return rc;
}

static int models_present(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/face_recognition_model.bin", faces_models_dir(NULL));
    struct stat st;
    return stat(path, &st) == 0;
}

static int build(const char *out)
{
    face_set fs;
    lm_err e = {0};
    int rc = describe_fixtures(&fs, &e);
    if (rc != 0) {
        fprintf(stderr, "describe: %s\n", lm_err_msg(&e, rc));
        return 1;
    }
    const char *keys[MAXF];
    for (size_t i = 0; i < fs.n; i++) {
        keys[i] = fs.key[i];
    }
    char names[2048];
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        perror(out);
        return 1;
    }
    if (snprintf(names, sizeof names, "%s/names_in.tsv", out) >= (int)sizeof names) {
        fprintf(stderr, "%s: path too long\n", out);
        return 1;
    }
    FILE *f = fopen(names, "w");
    if (f == NULL) {
        perror(names);
        return 1;
    }
    fprintf(f, "1\tBarack Obama\n2\tEileen Collins\n3\tLionel Messi\n4\tJoe Biden\n");
    fclose(f);
    knn_config cfg;
    knn_config_init(&cfg);
    snprintf(cfg.names, sizeof cfg.names, "%s", names);
    rc = knn_index_build(&cfg, &fs.desc[0][0], keys, fs.ident, fs.n, FREC_DIM, MPI_COMM_WORLD,
                         out, &e);
    if (rc != 0) {
        fprintf(stderr, "build: %s\n", lm_err_msg(&e, rc));
        return 1;
    }
    printf("built %s/index from %zu fixture faces\n", out, fs.n);
    return 0;
}

static int unit(void)
{
    if (!models_present()) {
        printf("SKIP: face models missing (%s), run make models\n", faces_models_dir(NULL));
        return 77;
    }
    face_set fs;
    lm_err e = {0};
    int rc = describe_fixtures(&fs, &e);
    if (rc != 0) {
        fprintf(stderr, "FAIL: describe: %s\n", lm_err_msg(&e, rc));
        return 1;
    }
    knn_index *ix = NULL;
    const char *keys[MAXF];
    for (size_t i = 0; i < fs.n; i++) {
        keys[i] = fs.key[i];
    }
    rc = knn_index_create(&ix, &fs.desc[0][0], fs.n, FREC_DIM, KNN_METRIC_L2, KNN_KIND_EXACT, keys,
                          fs.ident, NULL, 0, NULL, 0, &e);
    if (rc != 0) {
        fprintf(stderr, "FAIL: index: %s\n", lm_err_msg(&e, rc));
        return 1;
    }
    int fail = 0, obamas = 0;
    for (size_t i = 0; i < fs.n; i++) {
        int64_t id[3];
        float d[3];
        knn_search_params p = {.k = 3};
        if (knn_index_search(ix, fs.desc[i], 1, &p, id, d, &e) != 0) {
            fprintf(stderr, "FAIL: search: %s\n", e.msg);
            return 1;
        }
        /* id[0] is the photo itself (distance 0); id[1] its nearest other face. */
        printf("%-40s -> %-40s %.4f (next %.4f)\n", fs.key[i], fs.key[id[1]], (double)d[1],
               (double)d[2]);
        if (id[0] != (int64_t)i || d[0] > 1e-5f) {
            fprintf(stderr, "FAIL: %s is not its own nearest neighbour\n", fs.key[i]);
            fail = 1;
        }
        if (fs.ident[i] == 1) {
            obamas++;
            if (fs.ident[id[1]] != 1) {
                fprintf(stderr, "FAIL: nearest other face of %s is %s, not another Obama photo\n",
                        fs.key[i], fs.key[id[1]]);
                fail = 1;
            }
            if (!fs.partial[i] && !(d[1] < 0.6f)) {
                fprintf(stderr, "FAIL: %s: same person at distance %.4f >= 0.6\n", fs.key[i],
                        (double)d[1]);
                fail = 1;
            }
        }
    }
    if (obamas < 4) {
        fprintf(stderr, "FAIL: only %d Obama faces detected\n", obamas);
        fail = 1;
    }
    knn_index_close(ix);
    return fail;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rc;
    if (argc == 3 && strcmp(argv[1], "--build") == 0) {
        rc = build(argv[2]);
    } else {
        rc = unit();
    }
    MPI_Finalize();
    return rc;
}
