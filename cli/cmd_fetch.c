/* cmd_fetch.c - `latentmill fetch`: download CelebA, FFHQ or any URL with
 * resume, retries, checksums and a progress line (datasets/ds_fetch.h). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "datasets/ds_fetch.h"
#include "shared/lm_io.h"

static const char *usage_text =
    "usage: latentmill fetch models [DIR]\n"
    "       latentmill fetch celeba|ffhq|URL... [-o DIR] [--sha256 HEX | --md5 HEX]\n"
    "                        [--what LIST] [--limit N] [--parallel N] [--retries N]\n"
    "                        [--backoff S] [--list] [-q]\n"
    "\n"
    "`fetch models [DIR]` installs the face-api weights (the same as `make models`:\n"
    "npm pack of the pinned @vladmandic/face-api, integrity digest checked, only\n"
    "model/ unpacked into DIR, else $LATENTMILL_MODELS, else models/face-api).\n"
    "\n"
    "Downloads with resume (DEST.part + HTTP Range), retries with exponential backoff\n"
    "on network errors and 5xx, size and checksum checks, several transfers at once,\n"
    "and Google Drive's download-confirmation page followed. A file appears under its\n"
    "final name only once it verified; a checksum mismatch removes the partial file.\n"
    "Rerunning the same command resumes and skips what is complete.\n"
    "\n"
    "  celeba   the official CelebA Google Drive files (ids and MD5s as published with\n"
    "           torchvision) into DIR/CelebA/{Img,Anno,Eval}/, the layout [dataset]\n"
    "           kind = celeba reads. --what images,anno (default both; the in-the-wild\n"
    "           7z volumes are not fetched: download them from the CelebA page,\n"
    "           mmlab.ie.cuhk.edu.hk/projects/CelebA.html)\n"
    "  ffhq     ffhq-dataset-v2.json and LICENSE.txt from the NVlabs Drive folder\n"
    "           (github.com/NVlabs/ffhq-dataset), then the per-image files it lists,\n"
    "           each checked against its file_md5: --what json|thumbnails|images|wild\n"
    "           (default json,thumbnails), --limit N first N images\n"
    "  URL      any http(s) URL, saved as DIR/<last path component>; --sha256/--md5\n"
    "           check it (one URL)\n"
    "  -o DIR        destination (default .)\n"
    "  --parallel N  transfers at once (default 4); --retries N (default 5);\n"
    "  --backoff S   first retry delay in seconds (default 1, doubled each retry)\n"
    "  --list        print what would be fetched (URL, destination, checksum) and stop\n"
    "Exit status: 0 all complete, 1 a download failed (each failure is named), 2 usage.\n";

/* torchvision's CelebA file list: Drive id, MD5, destination in the official tree. */
static const struct {
    const char *id, *md5, *path;
    int images;
} celeba_files[] = {
    {"0B7EVK8r0v71pZjFTYXZWM3FlRnM", "00d2c5bc6d35e252742224ab0c1e8fcb", "Img/img_align_celeba.zip", 1},
    {"0B7EVK8r0v71pblRyaVFSWGxPY0U", "75e246fa4810816ffd6ee81facbd244c", "Anno/list_attr_celeba.txt", 0},
    {"1_ee_0u7vcNLOfNLegJRHmolfH5ICW-XS", "32bd1bd63d3c78cd57e08160ec5ed1e2", "Anno/identity_CelebA.txt", 0},
    {"0B7EVK8r0v71pbThiMVRxWXZ4dU0", "00566efa6fedff7a56946cd1c10f1c16", "Anno/list_bbox_celeba.txt", 0},
    {"0B7EVK8r0v71pd0FJY3Blby1HUTQ", "cc24ecafdb5b50baae59b03474781f8c", "Anno/list_landmarks_align_celeba.txt", 0},
    {"0B7EVK8r0v71pTzJIdlJWdHczRlU", "063ee6ddb681f96bc9ca28c6febb9d1a", "Anno/list_landmarks_celeba.txt", 0},
    {"0B7EVK8r0v71pY0NSMzRuSXJEVkk", "d32c9cbf5e040fd4025c592c306e6668", "Eval/list_eval_partition.txt", 0},
};

#define DRIVE "https://drive.google.com/uc?export=download&id="
#define FFHQ_JSON_ID "16N0RV4fHI6joBuKbQAoG34V_cQk7vxSA"
#define FFHQ_JSON_MD5 "425ae20f06a4da1d4dc0f46d40ba5fd6"
#define FFHQ_JSON_SIZE 267793842
#define FFHQ_LICENSE_ID "1SHafCugkpMZzYhbgOz0zCuYiy-hb9lYX"
#define FFHQ_LICENSE_MD5 "724f3831aaecd61a84fe98500079abc2"

typedef struct list {
    ds_fetch_file *f;
    size_t n, cap;
} list;

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static int add(list *l, const char *url, const char *dest, const char *md5, const char *sha,
               int64_t size)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        ds_fetch_file *q = realloc(l->f, nc * sizeof *q);
        if (q == NULL) {
            return -ENOMEM;
        }
        l->f = q;
        l->cap = nc;
    }
    ds_fetch_file *f = &l->f[l->n++];
    memset(f, 0, sizeof *f);
    f->url = xstrdup(url);
    f->dest = xstrdup(dest);
    f->md5 = xstrdup(md5);
    f->sha256 = xstrdup(sha);
    f->size = size;
    return 0;
}

static void list_free(list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->f[i].url);
        free((char *)l->f[i].dest);
        free((char *)l->f[i].md5);
        free((char *)l->f[i].sha256);
    }
    free(l->f);
    memset(l, 0, sizeof *l);
}

static int has(const char *what, const char *w)
{
    char buf[256];
    snprintf(buf, sizeof buf, ",%s,", what);
    char key[64];
    snprintf(key, sizeof key, ",%s,", w);
    return strstr(buf, key) != NULL;
}

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789abcdefABCDEF", s[i])) {
            return 0;
        }
    }
    return 1;
}

static int run_list(list *l, const ds_fetch_opts *o, int show)
{
    if (show) {
        for (size_t i = 0; i < l->n; i++) {
            printf("%s\t%s\t%s\n", l->f[i].url, l->f[i].dest,
                   l->f[i].md5 ? l->f[i].md5 : l->f[i].sha256 ? l->f[i].sha256 : "-");
        }
        return LM_EXIT_OK;
    }
    lm_err err = {0};
    int rc = ds_fetch_run(l->f, l->n, o, &err);
    size_t ok = 0, skipped = 0;
    for (size_t i = 0; i < l->n; i++) {
        ds_fetch_file *f = &l->f[i];
        if (f->status != 0) {
            fprintf(stderr, "latentmill fetch: %s: %s\n", f->dest, f->msg);
        } else {
            ok++;
            skipped += f->skipped;
        }
    }
    printf("fetch: %zu of %zu files complete (%zu were already there)\n", ok, l->n, skipped);
    return rc == 0 ? LM_EXIT_OK : LM_EXIT_FAIL;
}

/* `fetch models [DIR]`: the face-api weights. The pinned version, its
 * integrity digest and the unpacking live once, in tools/fetch_models.sh
 * (also `make models`); this finds that script next to the binary (the
 * source tree's tools/, or share/latentmill/ after `make install`) and runs
 * it with an argument vector. */
static int fetch_models(const char *dest)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        fprintf(stderr, "latentmill fetch models: cannot locate the binary\n");
        return LM_EXIT_FAIL;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) {
        *slash = '\0';
    }
    const char *rel[] = {"/../tools/fetch_models.sh", "/../share/latentmill/fetch_models.sh"};
    char script[4200];
    for (int i = 0; i < 2; i++) {
        snprintf(script, sizeof script, "%s%s", self, rel[i]);
        if (access(script, R_OK) == 0) {
            char *args[] = {"bash", script, (char *)dest, NULL};
            if (dest == NULL) {
                args[2] = NULL;
            }
            pid_t pid;
            extern char **environ;
            if (posix_spawnp(&pid, "bash", NULL, NULL, args, environ) != 0) {
                fprintf(stderr, "latentmill fetch models: cannot run bash: %s\n", strerror(errno));
                return LM_EXIT_FAIL;
            }
            int st = 0;
            waitpid(pid, &st, 0);
            return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? LM_EXIT_OK : LM_EXIT_FAIL;
        }
    }
    fprintf(stderr, "latentmill fetch models: tools/fetch_models.sh not found next to %s "
                    "(run `make models` in the source tree)\n", self);
    return LM_EXIT_FAIL;
}

int cmd_fetch(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "models") == 0) {
        if (argc > 3 || (argc == 3 && argv[2][0] == '-')) {
            fprintf(stderr, "usage: latentmill fetch models [DIR]\n");
            return LM_EXIT_USAGE;
        }
        return fetch_models(argc == 3 ? argv[2] : NULL);
    }
    const char *dir = ".", *sha = NULL, *md5 = NULL, *what = NULL;
    long limit = 0;
    int show = 0, nt = 0;
    const char *targets[64];
    ds_fetch_opts o;
    ds_fetch_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-o") == 0 && v) {
            dir = v, i++;
        } else if (strcmp(a, "--sha256") == 0 && v && is_hex(v, 64)) {
            sha = v, i++;
        } else if (strcmp(a, "--md5") == 0 && v && is_hex(v, 32)) {
            md5 = v, i++;
        } else if (strcmp(a, "--what") == 0 && v) {
            what = v, i++;
        } else if (strcmp(a, "--limit") == 0 && v && atol(v) > 0) {
            limit = atol(v), i++;
        } else if (strcmp(a, "--parallel") == 0 && v && atoi(v) > 0 && atoi(v) <= 64) {
            o.parallel = atoi(v), i++;
        } else if (strcmp(a, "--retries") == 0 && v && atoi(v) >= 0) {
            o.retries = atoi(v), i++;
        } else if (strcmp(a, "--backoff") == 0 && v && atof(v) >= 0) {
            o.backoff_s = atof(v), i++;
        } else if (strcmp(a, "--list") == 0) {
            show = 1;
        } else if (strcmp(a, "-q") == 0) {
            o.progress = 0;
        } else if (a[0] != '-' && nt < 64) {
            targets[nt++] = a;
        } else {
            fprintf(stderr, "latentmill fetch: bad option '%s' (a checksum must be hex of the "
                    "right length; see --help)\n", a);
            return LM_EXIT_USAGE;
        }
    }
    if (nt == 0) {
        fputs(usage_text, stderr);
        return LM_EXIT_USAGE;
    }
    int nurls = 0;
    for (int t = 0; t < nt; t++) {
        nurls += strcmp(targets[t], "celeba") != 0 && strcmp(targets[t], "ffhq") != 0;
    }
    if ((sha || md5) && nurls != 1) {
        fprintf(stderr, "latentmill fetch: --sha256/--md5 need exactly one URL\n");
        return LM_EXIT_USAGE;
    }
    list l = {0};
    char path[PATH_MAX + 256], url[512];
    int rc = LM_EXIT_OK;
    for (int t = 0; t < nt && rc == LM_EXIT_OK; t++) {
        const char *tg = targets[t];
        if (strcmp(tg, "celeba") == 0) {
            const char *w = what ? what : "images,anno";
            for (size_t k = 0; k < sizeof celeba_files / sizeof celeba_files[0]; k++) {
                if (!has(w, celeba_files[k].images ? "images" : "anno")) {
                    continue;
                }
                snprintf(url, sizeof url, DRIVE "%s", celeba_files[k].id);
                snprintf(path, sizeof path, "%s/CelebA/%s", dir, celeba_files[k].path);
                add(&l, url, path, celeba_files[k].md5, NULL, -1);
            }
        } else if (strcmp(tg, "ffhq") == 0) {
            const char *w = what ? what : "json,thumbnails";
            char jpath[PATH_MAX + 64];
            snprintf(jpath, sizeof jpath, "%s/ffhq-dataset-v2.json", dir);
            list j = {0};
            add(&j, DRIVE FFHQ_JSON_ID, jpath, FFHQ_JSON_MD5, NULL, FFHQ_JSON_SIZE);
            snprintf(path, sizeof path, "%s/LICENSE.txt", dir);
            add(&j, DRIVE FFHQ_LICENSE_ID, path, FFHQ_LICENSE_MD5, NULL, 1610);
            if (show && !has(w, "thumbnails") && !has(w, "images") && !has(w, "wild")) {
                rc = run_list(&j, &o, 1);
                list_free(&j);
                continue;
            }
            rc = run_list(&j, &o, show && 0);
            list_free(&j);
            if (rc != LM_EXIT_OK) {
                break;
            }
            static const char *const parts[3][2] = {
                {"thumbnails", "thumbnail"}, {"images", "image"}, {"wild", "in_the_wild"}};
            void *buf = NULL;
            size_t len = 0;
            lm_err e = {0};
            if (lm_io_read_file(jpath, &buf, &len, &e) != 0) {
                fprintf(stderr, "latentmill fetch: %s\n", e.msg);
                rc = LM_EXIT_FAIL;
                break;
            }
            cJSON *js = cJSON_ParseWithLength(buf, len);
            free(buf);
            if (js == NULL) {
                fprintf(stderr, "latentmill fetch: %s: not valid JSON\n", jpath);
                rc = LM_EXIT_FAIL;
                break;
            }
            long count = 0;
            cJSON *ent;
            cJSON_ArrayForEach(ent, js)
            {
                if (limit > 0 && count >= limit) {
                    break;
                }
                count++;
                for (int p = 0; p < 3; p++) {
                    if (!has(w, parts[p][0])) {
                        continue;
                    }
                    cJSON *fo = cJSON_GetObjectItem(ent, parts[p][1]);
                    const char *u = cJSON_GetStringValue(cJSON_GetObjectItem(fo, "file_url"));
                    const char *fp = cJSON_GetStringValue(cJSON_GetObjectItem(fo, "file_path"));
                    const char *m5 = cJSON_GetStringValue(cJSON_GetObjectItem(fo, "file_md5"));
                    cJSON *fs = cJSON_GetObjectItem(fo, "file_size");
                    if (u == NULL || fp == NULL) {
                        fprintf(stderr, "latentmill fetch: %s: entry \"%s\" lacks %s.file_url "
                                "or file_path; skipped\n", jpath, ent->string, parts[p][1]);
                        continue;
                    }
                    snprintf(path, sizeof path, "%s/%s", dir, fp);
                    add(&l, u, path, m5, NULL, cJSON_IsNumber(fs) ? (int64_t)fs->valuedouble : -1);
                }
            }
            cJSON_Delete(js);
        } else {
            if (strncmp(tg, "http://", 7) != 0 && strncmp(tg, "https://", 8) != 0) {
                fprintf(stderr, "latentmill fetch: '%s' is not celeba, ffhq or an http(s) URL\n",
                        tg);
                rc = LM_EXIT_USAGE;
                break;
            }
            const char *b = strrchr(tg, '/');
            char name[256];
            snprintf(name, sizeof name, "%s", b && b[1] ? b + 1 : "download");
            name[strcspn(name, "?#")] = '\0';
            if (name[0] == '\0' || strcmp(name, "..") == 0 || strcmp(name, ".") == 0) {
                snprintf(name, sizeof name, "download");
            }
            snprintf(path, sizeof path, "%s/%s", dir, name);
            add(&l, tg, path, md5, sha, -1);
        }
    }
    if (rc == LM_EXIT_OK && l.n > 0) {
        rc = run_list(&l, &o, show);
    }
    list_free(&l);
    return rc;
}
