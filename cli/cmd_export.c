/* cmd_export.c - `latentmill export OUTDIR --npy`: the winning records of
 * every done item as .npy arrays in plan order, with keys.txt. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "coordinator/coord_results.h"
#include "shared/lm_io.h"
#include "shared/lm_npy.h"

static const char *usage_text =
    "usage: latentmill export OUTDIR --npy [-o DIR] [--db NAME[,NAME...]]\n"
    "\n"
    "Writes, into DIR (default OUTDIR/export):\n"
    "  keys.txt          the keys of the items that finished ok, in plan order\n"
    "  latents.npy       float32 [N, 1, w_dim] or [N, num_ws, w_dim]   (latent db)\n"
    "  embeddings.npy    float32 [N, 128]                              (embed db)\n"
    "  scores.npy        float32 [N, S]                                (scores db)\n"
    "  labels.npy        int32   [N, L]                                (labels db)\n"
    "  pixels.npy        uint8   [N, H, W, 3]                          (pixels db)\n"
    "  matches.npy       the kNN join results                          (matches db)\n"
    "  failures.tsv      key, stage and reason of every failed item\n"
    "Row i of every array belongs to line i of keys.txt. A database that only some\n"
    "ok items have gets its own NAME.keys.txt. Only each item's journaled (winning)\n"
    "record is exported, so duplicates from backups or killed runs never appear.\n"
    "  --db LIST   only these databases (latent, embed, scores, labels, pixels, matches)\n"
    "Exit status: 0, 1 on I/O failure, 2 bad usage or not an output directory.\n";

static const char *file_of(int db)
{
    switch (db) {
    case LM_DB_LATENT: return "latents";
    case LM_DB_EMBED: return "embeddings";
    case LM_DB_SCORES: return "scores";
    case LM_DB_LABELS: return "labels";
    case LM_DB_PIXELS: return "pixels";
    case LM_DB_MATCHES: return "matches";
    default: return NULL;
    }
}

static const char *descr_of(enum lm_dtype dt)
{
    switch (dt) {
    case LM_DT_F32: return "<f4";
    case LM_DT_U8: return "|u1";
    case LM_DT_I32: return "<i4";
    case LM_DT_F64: return "<f8";
    default: return NULL;
    }
}

static int export_db(coord_results *res, const char *dir, int db, const char *ok_mask,
                     size_t nok, lm_err *err)
{
    size_t total = coord_results_total(res);
    lm_npy_writer w;
    int open = 0, rc = 0;
    lm_value first = {0};
    uint32_t shape[4] = {0};
    FILE *keys = NULL;
    size_t rows = 0;
    char path[PATH_MAX], kpath[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.npy", dir, file_of(db));
    snprintf(kpath, sizeof kpath, "%s/%s.keys.txt", dir, file_of(db));
    keys = fopen(kpath, "w");
    if (keys == NULL) {
        return lm_err_set(err, -errno, "%s: %s", kpath, strerror(errno));
    }
    for (size_t i = 0; i < total && rc == 0; i++) {
        if (!ok_mask[i]) {
            continue;
        }
        lm_value v;
        rc = coord_results_get(res, i, (enum lm_db)db, &v, err);
        if (rc == 1) {
            rc = 0;
            continue;
        }
        if (rc != 0) {
            break;
        }
        ds_item it;
        ds_plan_item(coord_results_plan(res), i, &it);
        if (!open) {
            const char *descr = descr_of(v.dtype);
            if (descr == NULL) {
                break; /* JSON-valued databases are not arrays */
            }
            uint64_t rs[4];
            for (int d = 0; d < v.ndim; d++) {
                rs[d] = v.dims[d];
                shape[d] = v.dims[d];
            }
            first = v;
            rc = lm_npy_open(&w, path, descr, lm_dtype_size(v.dtype), rs, v.ndim, err);
            if (rc != 0) {
                break;
            }
            open = 1;
        } else if (v.dtype != first.dtype || v.ndim != first.ndim ||
                   memcmp(v.dims, shape, sizeof(uint32_t) * (size_t)v.ndim) != 0) {
            rc = lm_err_set(err, LM_EFORMAT, "%s: record of %s has another shape or type than "
                            "the first one; cannot stack into one array", lm_db_name(db), it.key);
            break;
        }
        rc = lm_npy_append(&w, v.data, err);
        fprintf(keys, "%s\n", it.key);
        rows++;
    }
    fclose(keys);
    if (open && rc == 0) {
        rc = lm_npy_close(&w, err);
        if (rc == 0) {
            printf("%s: %zu rows\n", path, rows);
        }
    } else if (open) {
        lm_npy_abort(&w);
    }
    if (rc != 0 || rows == nok || rows == 0) {
        remove(kpath); /* same rows as keys.txt (or nothing written) */
    } else {
        printf("%s: %zu of %zu ok items have a %s record\n", kpath, rows, nok, lm_db_name(db));
    }
    return rc;
}

int cmd_export(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char *outdir = NULL, *dest = NULL, *dbs = NULL;
    int npy = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--npy") == 0) {
            npy = 1;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            dest = argv[++i];
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            dbs = argv[++i];
        } else if (argv[i][0] == '-' || outdir != NULL) {
            fputs(usage_text, stderr);
            return LM_EXIT_USAGE;
        } else {
            outdir = argv[i];
        }
    }
    if (outdir == NULL || !npy) {
        fputs(usage_text, stderr);
        return LM_EXIT_USAGE;
    }
    int want[LM_DB_COUNT] = {0};
    if (dbs != NULL) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", dbs);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int id = lm_db_from_name(t);
            if (id < 0 || file_of(id) == NULL) {
                fprintf(stderr, "latentmill export: unknown database '%s'\n", t);
                return LM_EXIT_USAGE;
            }
            want[id] = 1;
        }
    } else {
        for (int d = 0; d < LM_DB_COUNT; d++) {
            want[d] = file_of(d) != NULL;
        }
    }
    lm_err err = {0};
    coord_results *res = NULL;
    if (coord_results_open(&res, outdir, &err) != 0) {
        fprintf(stderr, "latentmill export: %s\n", err.msg);
        return LM_EXIT_USAGE;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dest != NULL ? dest : outdir);
    if (dest == NULL) {
        strncat(dir, "/export", sizeof dir - strlen(dir) - 1);
    }
    int rc = lm_io_mkdirs(dir, &err);
    size_t total = coord_results_total(res), nok = 0, nfail = 0;
    char *ok = calloc(total ? total : 1, 1);
    char kpath[PATH_MAX + 16], fpath[PATH_MAX + 16];
    snprintf(kpath, sizeof kpath, "%s/keys.txt", dir);
    snprintf(fpath, sizeof fpath, "%s/failures.tsv", dir);
    FILE *kf = rc == 0 ? fopen(kpath, "w") : NULL;
    FILE *ff = rc == 0 ? fopen(fpath, "w") : NULL;
    if (rc == 0 && (kf == NULL || ff == NULL || ok == NULL)) {
        rc = lm_err_set(&err, -errno, "%s: cannot write: %s", dir, strerror(errno));
    }
    for (size_t i = 0; i < total && rc == 0; i++) {
        lm_value v;
        int g = coord_results_get(res, i, LM_DB_META, &v, &err);
        if (g == 1) {
            continue;
        }
        if (g < 0) {
            rc = g;
            break;
        }
        ds_item it;
        ds_plan_item(coord_results_plan(res), i, &it);
        cJSON *m = cJSON_ParseWithLength(v.data, v.nbytes);
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(m, "status"));
        if (status != NULL && strcmp(status, "ok") == 0) {
            ok[i] = 1;
            nok++;
            fprintf(kf, "%s\n", it.key);
        } else {
            nfail++;
            fprintf(ff, "%s\t%s\t%s\n", it.key,
                    cJSON_GetStringValue(cJSON_GetObjectItem(m, "stage")),
                    cJSON_GetStringValue(cJSON_GetObjectItem(m, "reason")));
        }
        cJSON_Delete(m);
    }
    if (kf != NULL && fclose(kf) != 0 && rc == 0) {
        rc = lm_err_set(&err, -errno, "%s: %s", kpath, strerror(errno));
    }
    if (ff != NULL && fclose(ff) != 0 && rc == 0) {
        rc = lm_err_set(&err, -errno, "%s: %s", fpath, strerror(errno));
    }
    if (rc == 0) {
        printf("%s: %zu keys (%zu failed items in failures.tsv)\n", kpath, nok, nfail);
    }
    for (int d = 0; d < LM_DB_COUNT && rc == 0; d++) {
        if (want[d]) {
            rc = export_db(res, dir, d, ok, nok, &err);
        }
    }
    free(ok);
    coord_results_close(res);
    if (rc != 0) {
        fprintf(stderr, "latentmill export: %s\n", lm_err_msg(&err, rc));
        return LM_EXIT_FAIL;
    }
    return LM_EXIT_OK;
}
