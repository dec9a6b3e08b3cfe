/*
 * cmd_lookalike.c - `latentmill lookalike`: the nearest (and farthest)
 * identities and images of a face in an index built by the reduce phase
 * (reduce/index.h). Thin driver: parse, describe the face (models/faces.h:
 * detector, 68 landmarks, 128-D descriptor of the largest face), search,
 * print, optionally draw a PNG strip of the query face and its matches.
 */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/faces.h"
#include "reduce/index.h"
#include "shared/lm_img.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: latentmill lookalike --index DIR (IMAGE | --descriptor FILE.npy | --vector "
            "V1,V2,...)\n"
            "                            [-k N] [--farthest] [--level identity|image|both]\n"
            "                            [--nprobe N] [--json] [--strip OUT.png [--images DIR]]\n"
            "                            [--models DIR]\n\n"
            "Nearest identities and images of a face in an index written by the reduce phase\n"
            "(OUTDIR/index/: images.lmi, identities.lmi, names.tsv).\n\n"
            "  --index DIR          OUTDIR or OUTDIR/index\n"
            "  IMAGE                a JPEG/PNG photo: the largest face is detected and described\n"
            "                       with face-api's networks (exit 2 if there is no face)\n"
            "  --descriptor F.npy   float32/float64 .npy of shape (D,) or (N, D): N queries\n"
            "  --vector V1,V2,...   one descriptor written out (D comma-separated numbers)\n"
            "  -k N                 results per list (default 5)\n"
            "  --farthest           also list the k farthest (the booth's \"bad news\")\n"
            "  --level L            identity, image or both (default both; identity needs\n"
            "                       identities.lmi)\n"
            "  --nprobe N           IVF lists to scan (default 16)\n"
            "  --json               one JSON document on stdout instead of text\n"
            "  --strip OUT.png      IMAGE queries: a PNG strip of the query face and its k\n"
            "                       nearest images (160 px tiles; faces cropped when found)\n"
            "  --images DIR         where the matched images' keys are found (default: the\n"
            "                       keys as paths from the current directory)\n"
            "  --models DIR         face-api model directory (default $LATENTMILL_MODELS, else\n"
            "                       models/face-api; `make models`)\n\n"
            "Distances: Euclidean for l2 indexes (face-api convention: < 0.6 is usually the\n"
            "same person), inner product for ip indexes. Identity entries are means of\n"
            "L2-normalised descriptors and are searched with the normalised query.\n"
            "Exit status: 0 ok, 1 failure (missing models, unreadable index), 2 bad usage or\n"
            "input (no face, other descriptor size).\n");
}

enum { TILE = 160 };

/* Copy the crop r of img (clipped) scaled to a TILE x TILE tile at column col
 * of strip. */
static int strip_put(lm_image *strip, int col, const lm_image *img, faces_rect r, lm_err *err)
{
    if (r.x < 0) {
        r.w += r.x;
        r.x = 0;
    }
    if (r.y < 0) {
        r.h += r.y;
        r.y = 0;
    }
    if (r.x + r.w > img->w) {
        r.w = img->w - r.x;
    }
    if (r.y + r.h > img->h) {
        r.h = img->h - r.y;
    }
    if (r.w <= 0 || r.h <= 0) {
        return 0;
    }
    lm_image crop = {.w = r.w, .h = r.h, .c = 3, .px = malloc((size_t)r.w * (size_t)r.h * 3)};
    lm_image tile = {0};
    if (crop.px == NULL) {
        return lm_err_set(err, -ENOMEM, "strip: out of memory");
    }
    for (int y = 0; y < r.h; y++) {
        memcpy(crop.px + (size_t)y * (size_t)r.w * 3,
               img->px + ((size_t)(r.y + y) * (size_t)img->w + (size_t)r.x) * 3, (size_t)r.w * 3);
    }
    int rc = lm_img_resize(&tile, &crop, TILE, TILE, err);
    if (rc == 0) {
        for (int y = 0; y < TILE; y++) {
            memcpy(strip->px + ((size_t)y * (size_t)strip->w + (size_t)col * TILE) * 3,
                   tile.px + (size_t)y * TILE * 3, TILE * 3);
        }
    }
    lm_img_fini(&crop);
    lm_img_fini(&tile);
    return rc;
}

/* A square around the largest face of img (detector only), else the centre
 * square of the image. */
static faces_rect face_square(const faces_ctx *fc, const lm_image *img)
{
    faces_face f[8];
    int n = 0;
    lm_err e = {0};
    if (faces_detect(fc, img, 0, f, 8, &n, &e) == 0 && n > 0) {
        const faces_face *b = &f[faces_largest(f, n < 8 ? n : 8)];
        int side = b->det_crop.w > b->det_crop.h ? b->det_crop.w : b->det_crop.h;
        return (faces_rect){b->det_crop.x + b->det_crop.w / 2 - side / 2,
                            b->det_crop.y + b->det_crop.h / 2 - side / 2, side, side};
    }
    int side = img->w < img->h ? img->w : img->h;
    return (faces_rect){(img->w - side) / 2, (img->h - side) / 2, side, side};
}

static int parse_vector(const char *s, float **out, int *dim)
{
    size_t cap = 16, n = 0;
    float *v = malloc(cap * sizeof *v);
    const char *p = s;
    while (v != NULL && *p != '\0') {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno != 0) {
            free(v);
            return -1;
        }
        if (n == cap) {
            cap *= 2;
            float *nv = realloc(v, cap * sizeof *v);
            if (nv == NULL) {
                free(v);
                return -1;
            }
            v = nv;
        }
        v[n++] = (float)x;
        p = end;
        while (*p == ' ') {
            p++;
        }
        if (*p == ',') {
            p++;
        } else if (*p != '\0') {
            free(v);
            return -1;
        }
    }
    if (v == NULL || n == 0) {
        free(v);
        return -1;
    }
    *out = v;
    *dim = (int)n;
    return 0;
}

typedef struct lk_list {
    const char *title;
    const knn_index *ix;
    int identity; /* entries are identities */
    int farthest;
    int64_t *ids;
    float *dist;
} lk_list;

static const char *entry_label(const lk_list *L, int64_t id, const knn_names *nm, char *buf,
                               size_t cap)
{
    int32_t lab = knn_index_label(L->ix, id);
    const char *name = lab >= 0 ? knn_names_get(nm, lab) : NULL;
    size_t l = 0;
    if (!L->identity) {
        l = (size_t)snprintf(buf, cap, "%s", knn_index_key(L->ix, id));
        if (l >= cap) {
            return buf;
        }
    }
    if (lab >= 0) {
        snprintf(buf + l, cap - l, "%sidentity %d%s%s%s", L->identity ? "" : "  (", lab,
                 name ? "  " : "", name ? name : "", L->identity ? "" : ")");
    }
    return buf;
}

int cmd_lookalike(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return LM_EXIT_OK;
    }
    const char *index_dir = NULL, *desc = NULL, *vec = NULL, *image = NULL, *strip = NULL;
    const char *models = NULL, *images_dir = NULL;
    const char *level = "both";
    long k = 5, nprobe = 0;
    int farthest = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--index") == 0 && has_val) {
            index_dir = argv[++i];
        } else if (strcmp(a, "--descriptor") == 0 && has_val) {
            desc = argv[++i];
        } else if (strcmp(a, "--vector") == 0 && has_val) {
            vec = argv[++i];
        } else if ((strcmp(a, "-k") == 0 || strcmp(a, "--k") == 0) && has_val) {
            char *end;
            k = strtol(argv[++i], &end, 10);
            if (*end != '\0' || k < 1 || k > 10000) {
                fprintf(stderr, "lookalike: -k must be an integer in 1..10000\n");
                return LM_EXIT_USAGE;
            }
        } else if (strcmp(a, "--nprobe") == 0 && has_val) {
            char *end;
            nprobe = strtol(argv[++i], &end, 10);
            if (*end != '\0' || nprobe < 1) {
                fprintf(stderr, "lookalike: --nprobe must be a positive integer\n");
                return LM_EXIT_USAGE;
            }
        } else if (strcmp(a, "--level") == 0 && has_val) {
            level = argv[++i];
            if (strcmp(level, "identity") != 0 && strcmp(level, "image") != 0 &&
                strcmp(level, "both") != 0) {
                fprintf(stderr, "lookalike: --level must be identity, image or both\n");
                return LM_EXIT_USAGE;
            }
        } else if (strcmp(a, "--farthest") == 0) {
            farthest = 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--strip") == 0 && has_val) {
            strip = argv[++i];
        } else if (strcmp(a, "--models") == 0 && has_val) {
            models = argv[++i];
        } else if (strcmp(a, "--images") == 0 && has_val) {
            images_dir = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "lookalike: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return LM_EXIT_USAGE;
        } else if (image == NULL) {
            image = a;
        } else {
            fprintf(stderr, "lookalike: more than one IMAGE given ('%s')\n", a);
            return LM_EXIT_USAGE;
        }
    }
    if (index_dir == NULL || (image == NULL) + (desc == NULL) + (vec == NULL) != 2) {
        fprintf(stderr, "lookalike: need --index DIR and exactly one of IMAGE, --descriptor, "
                        "--vector\n\n");
        usage(stderr);
        return LM_EXIT_USAGE;
    }
    if (strip != NULL && image == NULL) {
        fprintf(stderr, "lookalike: --strip needs an IMAGE query (the strip starts with the "
                        "query face)\n");
        return LM_EXIT_USAGE;
    }

    int rc = LM_EXIT_OK;
    lm_err e = {0};
    float *q = NULL;
    size_t nq = 1;
    int dim = 0;
    knn_index *img = NULL, *ids = NULL;
    knn_names *nm = NULL;
    lk_list lists[4];
    int nlists = 0;
    cJSON *doc = NULL;
    char dir[4096], path[4200];
    faces_ctx *fc = NULL;
    lm_image qimg = {0};
    faces_face qface;

    if (desc != NULL) {
        int r = knn_npy_read_f32(desc, &q, &nq, &dim, &e);
        if (r != 0) {
            fprintf(stderr, "lookalike: %s\n", lm_err_msg(&e, r));
            return r == LM_EMISSING || r == LM_EFORMAT ? LM_EXIT_USAGE : LM_EXIT_FAIL;
        }
    } else if (vec != NULL) {
        if (parse_vector(vec, &q, &dim) != 0) {
            fprintf(stderr, "lookalike: --vector: expected comma-separated numbers\n");
            return LM_EXIT_USAGE;
        }
    } else {
        /* IMAGE: detect, landmarks, descriptor of the largest face. */
        int r = lm_img_load(&qimg, image, 0, &e);
        if (r != 0) {
            fprintf(stderr, "lookalike: %s\n", lm_err_msg(&e, r));
            rc = r == LM_EFORMAT || r == LM_ETOOBIG || r == -ENOENT ? LM_EXIT_USAGE
                                                                     : LM_EXIT_FAIL;
            goto done;
        }
        r = faces_ctx_create(&fc, models, FACES_DETECTOR | FACES_LANDMARKS | FACES_DESCRIPTOR,
                             &e);
        if (r != 0) {
            fprintf(stderr, "lookalike: %s\n", lm_err_msg(&e, r));
            rc = LM_EXIT_FAIL;
            goto done;
        }
        faces_face f[16];
        int n = 0;
        r = faces_detect(fc, &qimg, 0, f, 16, &n, &e);
        if (r == 0 && n == 0) {
            fprintf(stderr, "lookalike: %s: no face found (%dx%d image)\n", image, qimg.w,
                    qimg.h);
            rc = LM_EXIT_USAGE;
            goto done;
        }
        if (r == 0) {
            qface = f[faces_largest(f, n < 16 ? n : 16)];
            r = faces_analyze(fc, &qimg, &qface, &e);
        }
        if (r != 0) {
            fprintf(stderr, "lookalike: %s: %s\n", image, lm_err_msg(&e, r));
            rc = r == LM_ENOFACE ? LM_EXIT_USAGE : LM_EXIT_FAIL;
            goto done;
        }
        if (n > 1) {
            fprintf(stderr, "lookalike: %s: %d faces, using the largest\n", image, n);
        }
        q = malloc(FREC_DIM * sizeof *q);
        if (q == NULL) {
            fprintf(stderr, "lookalike: out of memory\n");
            rc = LM_EXIT_FAIL;
            goto done;
        }
        memcpy(q, qface.desc, FREC_DIM * sizeof *q);
        dim = FREC_DIM;
        nq = 1;
    }
    /* OUTDIR or OUTDIR/index. */
    snprintf(dir, sizeof dir, "%s/index", index_dir);
    snprintf(path, sizeof path, "%s/images.lmi", dir);
    if (access(path, F_OK) != 0) {
        snprintf(dir, sizeof dir, "%s", index_dir);
    }
    int want_img = strcmp(level, "identity") != 0, want_id = strcmp(level, "image") != 0;
    if (want_img) {
        snprintf(path, sizeof path, "%s/images.lmi", dir);
        int r = knn_index_load(&img, path, 0, &e);
        if (r != 0) {
            fprintf(stderr, "lookalike: %s\n", lm_err_msg(&e, r));
            rc = r == LM_EMISSING ? LM_EXIT_USAGE : LM_EXIT_FAIL;
            goto done;
        }
    }
    if (want_id) {
        snprintf(path, sizeof path, "%s/identities.lmi", dir);
        int r = knn_index_load(&ids, path, 0, &e);
        if (r == LM_EMISSING && strcmp(level, "both") == 0) {
            ids = NULL; /* an index without identities: images only */
        } else if (r != 0) {
            fprintf(stderr, "lookalike: %s\n", lm_err_msg(&e, r));
            rc = r == LM_EMISSING ? LM_EXIT_USAGE : LM_EXIT_FAIL;
            goto done;
        }
        snprintf(path, sizeof path, "%s/names.tsv", dir);
        if (ids != NULL && access(path, F_OK) == 0) {
            r = knn_names_load(&nm, path, &e);
            if (r != 0) {
                fprintf(stderr, "lookalike: %s\n", lm_err_msg(&e, r));
                rc = LM_EXIT_FAIL;
                goto done;
            }
        }
    }
    const knn_index *any = img ? img : ids;
    if (any == NULL) {
        fprintf(stderr, "lookalike: no index found in %s\n", dir);
        rc = LM_EXIT_USAGE;
        goto done;
    }
    if (dim != knn_index_dim(any)) {
        fprintf(stderr,
                "lookalike: %s: descriptor size %d, but the index in %s holds %d-D descriptors\n",
                desc ? desc : vec ? "--vector" : image, dim, dir, knn_index_dim(any));
        rc = LM_EXIT_USAGE;
        goto done;
    }
    for (int f = 0; f <= farthest; f++) {
        if (ids) {
            lists[nlists++] = (lk_list){f ? "farthest identities" : "nearest identities", ids, 1,
                                        f, NULL, NULL};
        }
        if (img) {
            lists[nlists++] =
                (lk_list){f ? "farthest images" : "nearest images", img, 0, f, NULL, NULL};
        }
    }
    for (int l = 0; l < nlists; l++) {
        lists[l].ids = malloc(nq * (size_t)k * sizeof *lists[l].ids);
        lists[l].dist = malloc(nq * (size_t)k * sizeof *lists[l].dist);
        if (!lists[l].ids || !lists[l].dist) {
            fprintf(stderr, "lookalike: out of memory\n");
            rc = LM_EXIT_FAIL;
            nlists = l + 1;
            goto done;
        }
        knn_search_params p = {.k = (int)k, .farthest = lists[l].farthest, .nprobe = (int)nprobe};
        int r = knn_index_search(lists[l].ix, q, nq, &p, lists[l].ids, lists[l].dist, &e);
        if (r != 0) {
            fprintf(stderr, "lookalike: %s\n", lm_err_msg(&e, r));
            rc = r == LM_ENUMERIC ? LM_EXIT_USAGE : LM_EXIT_FAIL;
            nlists = l + 1;
            goto done;
        }
    }
    const char *dname = knn_index_metric(any) == KNN_METRIC_L2 ? "distance" : "similarity";
    if (json) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "index", dir);
        cJSON_AddStringToObject(doc, "metric", knn_index_metric(any) == KNN_METRIC_L2 ? "l2"
                                                                                    : "ip");
        cJSON *qa = cJSON_AddArrayToObject(doc, "queries");
        for (size_t i = 0; i < nq; i++) {
            cJSON *qo = cJSON_CreateObject();
            cJSON_AddItemToArray(qa, qo);
            for (int l = 0; l < nlists; l++) {
                char key[64];
                snprintf(key, sizeof key, "%s_%s", lists[l].farthest ? "farthest" : "nearest",
                         lists[l].identity ? "identities" : "images");
                cJSON *arr = cJSON_AddArrayToObject(qo, key);
                for (long j = 0; j < k; j++) {
                    int64_t id = lists[l].ids[i * (size_t)k + (size_t)j];
                    if (id < 0) {
                        break;
                    }
                    cJSON *o = cJSON_CreateObject();
                    int32_t lab = knn_index_label(lists[l].ix, id);
                    if (!lists[l].identity) {
                        cJSON_AddStringToObject(o, "key", knn_index_key(lists[l].ix, id));
                    }
                    if (lab >= 0) {
                        cJSON_AddNumberToObject(o, "identity", lab);
                        const char *name = knn_names_get(nm, lab);
                        if (name) {
                            cJSON_AddStringToObject(o, "name", name);
                        }
                    }
                    cJSON_AddNumberToObject(o, dname, lists[l].dist[i * (size_t)k + (size_t)j]);
                    cJSON_AddItemToArray(arr, o);
                }
            }
        }
        char *txt = cJSON_Print(doc);
        if (txt == NULL) {
            fprintf(stderr, "lookalike: out of memory printing JSON\n");
            rc = LM_EXIT_FAIL;
            goto done;
        }
        printf("%s\n", txt);
        free(txt);
    } else {
        for (size_t i = 0; i < nq; i++) {
            if (nq > 1) {
                printf("%squery %zu\n", i ? "\n" : "", i);
            }
            for (int l = 0; l < nlists; l++) {
                printf("%s (%s", lists[l].title, dname);
                if (knn_index_kind(lists[l].ix) == KNN_KIND_IVF) {
                    printf(", ivf nlist %d nprobe %ld", knn_index_nlist(lists[l].ix),
                           nprobe ? nprobe : (long)KNN_DEFAULT_NPROBE);
                }
                printf("):\n");
                for (long j = 0; j < k; j++) {
                    int64_t id = lists[l].ids[i * (size_t)k + (size_t)j];
                    if (id < 0) {
                        break;
                    }
                    char buf[1024];
                    printf("  %2ld. %8.4f  %s\n", j + 1,
                           (double)lists[l].dist[i * (size_t)k + (size_t)j],
                           entry_label(&lists[l], id, nm, buf, sizeof buf));
                }
            }
        }
    }
    if (strip != NULL) {
        const lk_list *L = NULL;
        for (int l = 0; l < nlists; l++) {
            if (!lists[l].identity && !lists[l].farthest) {
                L = &lists[l];
            }
        }
        if (L == NULL) {
            fprintf(stderr, "lookalike: --strip needs the image-level index (images.lmi)\n");
            rc = LM_EXIT_USAGE;
            goto done;
        }
        int m = 0;
        while (m < k && L->ids[m] >= 0) {
            m++;
        }
        lm_image st = {.w = TILE * (1 + m), .h = TILE, .c = 3};
        st.px = calloc((size_t)st.w * TILE * 3, 1);
        if (st.px == NULL) {
            fprintf(stderr, "lookalike: out of memory\n");
            rc = LM_EXIT_FAIL;
            goto done;
        }
        memset(st.px, 96, (size_t)st.w * TILE * 3); /* grey where a match is unreadable */
        int side = qface.det_crop.w > qface.det_crop.h ? qface.det_crop.w : qface.det_crop.h;
        faces_rect qr = {qface.det_crop.x + qface.det_crop.w / 2 - side / 2,
                         qface.det_crop.y + qface.det_crop.h / 2 - side / 2, side, side};
        int r = strip_put(&st, 0, &qimg, qr, &e);
        for (int j = 0; r == 0 && j < m; j++) {
            const char *key = knn_index_key(L->ix, L->ids[j]);
            char ip[4200];
            snprintf(ip, sizeof ip, "%s%s%s", images_dir ? images_dir : "",
                     images_dir ? "/" : "", key);
            lm_image mi = {0};
            lm_err me = {0};
            int lr = lm_img_load(&mi, ip, 0, &me);
            if (lr != 0) {
                fprintf(stderr, "lookalike: strip: match %d: %s (grey tile)\n", j + 1,
                        lm_err_msg(&me, lr));
                continue;
            }
            r = strip_put(&st, 1 + j, &mi, face_square(fc, &mi), &e);
            lm_img_fini(&mi);
        }
        if (r == 0) {
            r = lm_img_save_png(strip, &st, &e);
        }
        lm_img_fini(&st);
        if (r != 0) {
            fprintf(stderr, "lookalike: strip: %s\n", lm_err_msg(&e, r));
            rc = LM_EXIT_FAIL;
            goto done;
        }
        fprintf(stderr, "lookalike: wrote %s (query + %d matches)\n", strip, m);
    }
done:
    for (int l = 0; l < nlists; l++) {
        free(lists[l].ids);
        free(lists[l].dist);
    }
    cJSON_Delete(doc);
    knn_names_free(nm);
    knn_index_close(img);
    knn_index_close(ids);
    faces_ctx_free(fc);
    lm_img_fini(&qimg);
    free(q);
    return rc;
}
