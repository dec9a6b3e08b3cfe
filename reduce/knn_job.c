/*
 * knn_job.c - the [index] section of a job file -> knn_config (index.h).
 * Kept apart from the index code so that embedders of the query API do not
 * link the job-file module.
 */
#include "reduce/index.h"

#include <stdio.h>

#include "shared/lm_job.h"

int knn_config_from_job(knn_config *cfg, struct lm_job *job, lm_err *err)
{
    static const char *const kinds[] = {"exact", "ivf", NULL};
    static const char *const metrics[] = {"l2", "ip", NULL};
    const char *sec = "index";
    int rc, v;
    long l;
    knn_config_init(cfg);
    if ((rc = lm_job_get_enum(job, sec, "type", kinds, 0, &v, err)) < 0) {
        return rc;
    }
    cfg->kind = v == 1 ? KNN_KIND_IVF : KNN_KIND_EXACT;
    if ((rc = lm_job_get_enum(job, sec, "metric", metrics, 0, &v, err)) < 0) {
        return rc;
    }
    cfg->metric = v == 1 ? KNN_METRIC_IP : KNN_METRIC_L2;
    if ((rc = lm_job_get_int(job, sec, "nlist", 0, 0, 1 << 20, &l, err)) < 0) {
        return rc;
    }
    cfg->nlist = (int)l;
    if ((rc = lm_job_get_int(job, sec, "nprobe", KNN_DEFAULT_NPROBE, 1, 1 << 20, &l, err)) < 0) {
        return rc;
    }
    cfg->nprobe = (int)l;
    if ((rc = lm_job_get_int(job, sec, "kmeans_iters", KNN_DEFAULT_NITER, 1, 1000, &l, err)) <
        0) {
        return rc;
    }
    cfg->niter = (int)l;
    if ((rc = lm_job_get_int(job, sec, "kmeans_max_points_per_list", KNN_DEFAULT_MAX_PER_LIST, 1,
                             1 << 20, &l, err)) < 0) {
        return rc;
    }
    cfg->max_per_list = (int)l;
    if ((rc = lm_job_get_int(job, sec, "seed", 1234, 0, 2147483647L, &l, err)) < 0) {
        return rc;
    }
    cfg->seed = (uint64_t)l;
    if ((rc = lm_job_get_int(job, sec, "k", KNN_DEFAULT_K, 1, 1000, &l, err)) < 0) {
        return rc;
    }
    cfg->k = (int)l;
    if ((rc = lm_job_get_bool(job, sec, "precompute", 0, &cfg->precompute, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_bool(job, sec, "exclude_self", 1, &cfg->exclude_self, err)) < 0) {
        return rc;
    }
    if ((rc = lm_job_get_bool(job, sec, "identities", 1, &cfg->identities, err)) < 0) {
        return rc;
    }
    const char *names = NULL;
    if ((rc = lm_job_get_str(job, sec, "names", "", &names, err)) < 0) {
        return rc;
    }
    if (snprintf(cfg->names, sizeof cfg->names, "%s", names) >= (int)sizeof cfg->names) {
        return lm_err_set(err, LM_ECONFIG, "%s: [index] names: path too long",
                          lm_job_path(job));
    }
    return 0;
}
