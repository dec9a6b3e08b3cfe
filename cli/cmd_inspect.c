/* cmd_inspect.c - `latentmill inspect OUTDIR|SHARD`: counts, runs, per-rank
 * throughput and failures with their reasons. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "coordinator/coord_results.h"
#include "shared/lm_io.h"
#include "shared/lm_store.h"

static const char *usage_text =
    "usage: latentmill inspect OUTDIR|SHARD_DIR [--failures N | --all-failures]\n"
    "\n"
    "OUTDIR: items done/total/failed, one line per run with per-rank items, busy time\n"
    "and items/s, then the failed items with stage and reason (first 20 unless told).\n"
    "SHARD_DIR (an LMDB shard, OUTDIR/shards/run*-rank*): records per database.\n"
    "Exit status: 0, or 2 when the directory is neither.\n";

static int inspect_shard(const char *dir)
{
    lm_store *s = NULL;
    lm_err err = {0};
    if (lm_store_open(&s, dir, 1, &err) != 0) {
        fprintf(stderr, "latentmill inspect: %s\n", err.msg);
        return LM_EXIT_USAGE;
    }
    printf("shard %s\n", dir);
    for (int db = 0; db < LM_DB_COUNT; db++) {
        size_t n = 0;
        if (lm_store_count(s, (enum lm_db)db, &n, &err) == 0 && n > 0) {
            printf("  %-8s %zu records\n", lm_db_name((enum lm_db)db), n);
        }
    }
    lm_store_close(s);
    return LM_EXIT_OK;
}

static void print_runs(const char *outdir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/runs", outdir);
    struct dirent **ents = NULL;
    int n = scandir(path, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        char file[PATH_MAX + 256];
        snprintf(file, sizeof file, "%s/%s", path, ents[i]->d_name);
        void *txt = NULL;
        size_t len = 0;
        cJSON *j = NULL;
        if (strstr(ents[i]->d_name, ".json") != NULL && lm_io_read_file(file, &txt, &len, NULL) == 0) {
            j = cJSON_Parse(txt);
        }
        free(txt);
        free(ents[i]);
        if (j == NULL) {
            continue;
        }
        double secs = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "seconds"));
        double done = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "done"));
        printf("run %d: %s, %d ranks, %.0f items (%.0f failed) in %.2fs = %.1f items/s\n",
               (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "run")),
               cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")),
               (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "ranks")), done,
               cJSON_GetNumberValue(cJSON_GetObjectItem(j, "failed")), secs,
               secs > 0 ? done / secs : 0.0);
        cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "per_rank"))
        {
            double ok = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "ok"));
            double fl = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "failed"));
            double busy = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "busy_seconds"));
            double ch = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "chunks"));
            if (ch == 0) {
                continue;
            }
            printf("  rank %d: %.0f chunks, %.0f ok, %.0f failed, %.0f duplicate chunks, busy "
                   "%.2fs, %.1f items/s\n",
                   (int)cJSON_GetNumberValue(cJSON_GetObjectItem(r, "rank")), ch, ok, fl,
                   cJSON_GetNumberValue(cJSON_GetObjectItem(r, "duplicate_chunks")), busy,
                   busy > 0 ? (ok + fl) / busy : 0.0);
        }
        cJSON_Delete(j);
    }
    free(ents);
}

int cmd_inspect(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return LM_EXIT_OK;
    }
    const char *dir = NULL;
    long max_fail = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--failures") == 0 && i + 1 < argc) {
            max_fail = atol(argv[++i]);
        } else if (strcmp(argv[i], "--all-failures") == 0) {
            max_fail = -1;
        } else if (argv[i][0] == '-' || dir != NULL) {
            fputs(usage_text, stderr);
            return LM_EXIT_USAGE;
        } else {
            dir = argv[i];
        }
    }
    if (dir == NULL) {
        fputs(usage_text, stderr);
        return LM_EXIT_USAGE;
    }
    char probe[PATH_MAX];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/data.mdb", dir);
    if (stat(probe, &st) == 0) {
        return inspect_shard(dir);
    }
    lm_err err = {0};
    coord_results *res = NULL;
    if (coord_results_open(&res, dir, &err) != 0) {
        fprintf(stderr, "latentmill inspect: %s\n", err.msg);
        return LM_EXIT_USAGE;
    }
    const ds_plan *plan = coord_results_plan(res);
    size_t total = coord_results_total(res), done = 0, failed = 0, missing = 0;
    printf("output %s\ndataset %s (%zu items)\n", dir, ds_plan_root(plan), total);
    print_runs(dir);
    long shown = 0;
    for (size_t i = 0; i < total; i++) {
        if (coord_results_done(res, i)->run == UINT32_MAX) {
            continue;
        }
        done++;
        lm_value v;
        int rc = coord_results_get(res, i, LM_DB_META, &v, &err);
        if (rc != 0) {
            missing++;
            continue;
        }
        cJSON *m = cJSON_ParseWithLength(v.data, v.nbytes);
        const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(m, "status"));
        if (status != NULL && strcmp(status, "failed") == 0) {
            failed++;
            if (max_fail < 0 || shown < max_fail) {
                ds_item it;
                ds_plan_item(plan, i, &it);
                if (shown == 0) {
                    printf("failures:\n");
                }
                printf("  %s\t%s\t%s\n", it.key,
                       cJSON_GetStringValue(cJSON_GetObjectItem(m, "stage")),
                       cJSON_GetStringValue(cJSON_GetObjectItem(m, "reason")));
                shown++;
            }
        }
        cJSON_Delete(m);
    }
    if ((long)failed > shown) {
        printf("  ... %zu more (--all-failures)\n", failed - (size_t)shown);
    }
    printf("items: %zu/%zu done, %zu ok, %zu failed, %zu to do\n", done, total, done - failed - missing,
           failed, total - done);
    if (missing > 0) {
        printf("warning: %zu done items have no meta record in their shard\n", missing);
    }
    coord_results_close(res);
    return LM_EXIT_OK;
}
