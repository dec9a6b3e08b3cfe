/*
 * bank_job.c - the [bank] section of a job file -> bank_config (keys and
 * defaults documented at bank_config_from_job in bank.h and in the README (Direction banks)).
 */
#include "reduce/bank.h"

#include <stdlib.h>
#include <string.h>

#include "shared/lm_job.h"

#define SEC "bank"

/* "a, b ,c" -> names; "all" -> *all = 1; "none" -> empty list, *all = 0. */
static int parse_list(lm_job *job, const char *key, int *all, int *n, char (*names)[BANK_NAME_LEN],
                      int cap, lm_err *err)
{
    const char *v = NULL;
    int rc = lm_job_get_str(job, SEC, key, NULL, &v, err);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1 || v == NULL) {
        return 0; /* absent: keep the default */
    }
    if (strcmp(v, "all") == 0) {
        if (all != NULL) {
            *all = 1;
        }
        *n = 0;
        return 0;
    }
    if (all != NULL) {
        *all = 0;
    }
    *n = 0;
    if (strcmp(v, "none") == 0) {
        return 0;
    }
    const char *p = v;
    while (*p != '\0') {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len == 0 || len >= BANK_NAME_LEN || *n >= cap) {
            return lm_err_set(err, LM_ECONFIG,
                              "%s: [bank] %s = '%s': empty or too long name, or more than %d",
                              lm_job_path(job), key, v, cap);
        }
        memcpy(names[*n], p, len);
        names[*n][len] = '\0';
        (*n)++;
        if (!c) {
            break;
        }
        p = c + 1;
    }
    return 0;
}

int bank_config_from_job(bank_config *cfg, lm_job *job, lm_err *err)
{
    int rc;
    if ((rc = parse_list(job, "spaces", NULL, &cfg->n_spaces, cfg->spaces, BANK_MAX_SPACES,
                         err)) < 0 ||
        (rc = parse_list(job, "attributes", &cfg->all_attributes, &cfg->n_attributes,
                         cfg->attributes, BANK_MAX_NAMES, err)) < 0 ||
        (rc = parse_list(job, "emotions", &cfg->all_emotions, &cfg->n_emotions, cfg->emotions,
                         BANK_MAX_NAMES, err)) < 0) {
        return rc;
    }
    const char *c = NULL;
    rc = lm_job_get_str(job, SEC, "C", "auto", &c, err);
    if (rc < 0) {
        return rc;
    }
    if (strcmp(c, "auto") == 0) {
        cfg->C = 0.0;
    } else {
        char *end = NULL;
        double v = strtod(c, &end);
        if (end == c || *end != '\0' || !(v > 0.0) || v > 1e12) {
            return lm_err_set(err, LM_ECONFIG, "%s: [bank] C = '%s': auto or a positive number",
                              lm_job_path(job), c);
        }
        cfg->C = v;
    }
    long lv = 0;
    int bv = 0;
    if ((rc = lm_job_get_double(job, SEC, "c_min", cfg->c_min, 0.0, 1e12, &cfg->c_min, err)) < 0 ||
        (rc = lm_job_get_double(job, SEC, "c_max", cfg->c_max, 1e-12, 1e12, &cfg->c_max, err)) < 0 ||
        (rc = lm_job_get_double(job, SEC, "c_factor", cfg->c_factor, 1.01, 1e6, &cfg->c_factor,
                                err)) < 0 ||
        (rc = lm_job_get_int(job, SEC, "patience", cfg->patience, 0, 64, &lv, err)) < 0) {
        return rc;
    }
    cfg->patience = (int)lv;
    if ((rc = lm_job_get_double(job, SEC, "ratio", cfg->ratio, 1e-9, 1e12, &cfg->ratio, err)) < 0 ||
        (rc = lm_job_get_double(job, SEC, "val_split", cfg->val_split, 0.0, 0.99, &cfg->val_split,
                                err)) < 0 ||
        (rc = lm_job_get_bool(job, SEC, "balance", cfg->balance, &bv, err)) < 0) {
        return rc;
    }
    cfg->balance = bv;
    if ((rc = lm_job_get_int(job, SEC, "seed", (long)cfg->seed, 0, 2147483647L, &lv, err)) < 0) {
        return rc;
    }
    cfg->seed = (uint64_t)lv;
    if ((rc = lm_job_get_double(job, SEC, "eps", cfg->eps, 1e-12, 1.0, &cfg->eps, err)) < 0 ||
        (rc = lm_job_get_double(job, SEC, "bias", cfg->bias, 0.0, 1e6, &cfg->bias, err)) < 0 ||
        (rc = lm_job_get_double(job, SEC, "task_mem_mb", cfg->task_mem_mb, 1.0, 1e9,
                                &cfg->task_mem_mb, err)) < 0) {
        return rc;
    }
    static const char *const par[] = {"auto", "tasks", "data", NULL};
    int pi = 0;
    if ((rc = lm_job_get_enum(job, SEC, "parallel", par, (int)cfg->parallel, &pi, err)) < 0) {
        return rc;
    }
    cfg->parallel = (enum bank_parallel)pi;
    const char *conds = NULL;
    rc = lm_job_get_str(job, SEC, "conditions", NULL, &conds, err);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0 && conds != NULL) {
        rc = bank_conditions_parse(cfg, conds, err);
        if (rc != 0) {
            return lm_err_prefix(err, "%s: [bank] conditions: ", lm_job_path(job));
        }
    }
    return 0;
}
