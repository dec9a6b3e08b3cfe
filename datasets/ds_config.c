/* ds_config.c - the [dataset] section of a job file (see ds_config.h). */
#include "datasets/ds_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *resolve(const char *job_path, const char *p)
{
    if (p[0] == '/') {
        return strdup(p);
    }
    const char *slash = strrchr(job_path, '/');
    size_t dl = slash ? (size_t)(slash - job_path) : 1;
    const char *dir = slash ? job_path : ".";
    if (slash == job_path) {
        dl = 1; /* "/x.ini" */
    }
    size_t n = dl + strlen(p) + 2;
    char *out = malloc(n);
    if (out != NULL) {
        snprintf(out, n, "%.*s/%s", (int)dl, dir, p);
    }
    return out;
}

void ds_config_fini(ds_job_config *c)
{
    free(c->path);
    free(c->labels);
    free(c->annotations);
    memset(c, 0, sizeof *c);
}

int ds_config_from_job(ds_job_config *c, lm_job *job, lm_err *err)
{
    memset(c, 0, sizeof *c);
    const char *jp = lm_job_path(job);
    static const char *const kinds[] = {"auto", "folder", "archive", "celeba", "ffhq", "ckplus",
                                        NULL};
    static const char *const splits[] = {"all", "train", "val", "test", NULL};
    static const char *const frames[] = {"all", "policy", "labelled", NULL};
    const char *s = NULL;
    long v = 0;
    int rc;
    if ((rc = lm_job_get_enum(job, "dataset", "kind", kinds, 0, &c->src.kind, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_str(job, "dataset", "path", NULL, &s, err)) != 0) {
        return rc < 0 ? rc : lm_err_set(err, LM_ECONFIG, "%s: [dataset] path is required", jp);
    }
    c->path = resolve(jp, s);
    if ((rc = lm_job_get_str(job, "dataset", "name", NULL, &c->src.name, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_int(job, "dataset", "limit", 0, 0, LONG_MAX, &v, err)) < 0) {
        return rc;
    }
    c->src.limit = (size_t)v;
    if ((rc = lm_job_get_str(job, "dataset", "labels", NULL, &s, err)) < 0) {
        return rc;
    }
    if (rc == 0) {
        c->labels = resolve(jp, s);
    }
    if ((rc = lm_job_get_str(job, "dataset", "annotations", NULL, &s, err)) < 0) {
        return rc;
    }
    if (rc == 0) {
        c->annotations = resolve(jp, s);
    }
    if ((rc = lm_job_get_str(job, "dataset", "images", NULL, &c->src.images, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_enum(job, "dataset", "split", splits, 0, &c->src.split, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_enum(job, "dataset", "frames", frames, 0, &c->src.frames, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_int(job, "dataset", "peak_frames", 3, 1, 1000, &v, err)) < 0) {
        return rc;
    }
    c->src.peak_frames = (int)v;
    if ((rc = lm_job_get_bool(job, "dataset", "strict", 0, &c->src.strict, err)) < 0) {
        return rc;
    }
    if (c->path == NULL) {
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    c->src.path = c->path;
    c->src.labels = c->labels;
    c->src.annotations = c->annotations;
    int k = c->src.kind;
    if (c->labels != NULL && k != DS_KIND_AUTO && k != DS_KIND_FOLDER && k != DS_KIND_ARCHIVE) {
        return lm_err_set(err, LM_ECONFIG, "%s: [dataset] labels = CSV is for kind = folder or "
                          "archive; %s reads its own label files", jp, kinds[k]);
    }
    if (c->src.images != NULL && k != DS_KIND_CELEBA && k != DS_KIND_FFHQ) {
        return lm_err_set(err, LM_ECONFIG, "%s: [dataset] images is for kind = celeba or ffhq",
                          jp);
    }
    struct stat st;
    if ((k == DS_KIND_FOLDER || k == DS_KIND_ARCHIVE) && stat(c->path, &st) == 0 &&
        (k == DS_KIND_FOLDER) != !!S_ISDIR(st.st_mode)) {
        return lm_err_set(err, LM_ECONFIG, "%s: [dataset] kind = %s but %s is %s", jp, kinds[k],
                          c->path, S_ISDIR(st.st_mode) ? "a folder" : "a file");
    }
    return 0;
}
