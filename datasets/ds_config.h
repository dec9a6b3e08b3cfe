/*
 * ds_config.h - the [dataset] section of a job file.
 *
 *   path         required: a folder, an archive, or a named dataset's root
 *   kind         auto | folder | archive | celeba | ffhq | ckplus   (auto)
 *   name         key prefix (default: base name of path)
 *   limit        keep only the first N items (0: all)
 *   labels       folder/archive: CSV of integer labels, header file,label1,...
 *   annotations  celeba/ffhq/ckplus: where the label files are (default: searched)
 *   images       celeba: aligned | wild; ffhq: aligned | thumbnails | wild
 *   split        all | train | val | test   (celeba, ffhq)
 *   frames       ckplus: all | policy | labelled  (policy: first + last K frames)
 *   peak_frames  ckplus: K, the last K frames carry the sequence's emotion (3)
 *   strict       a malformed label row fails planning (default false: warn, skip)
 * Relative paths are resolved against the job file's directory.
 */
#ifndef DS_CONFIG_H
#define DS_CONFIG_H

#include "datasets/ds_plan.h"
#include "shared/lm_err.h"
#include "shared/lm_job.h"

typedef struct ds_job_config {
    ds_source_config src; /* src.path etc. point into this struct or the job */
    char *path, *labels, *annotations;
} ds_job_config;

/* Read [dataset]. Errors: LM_ECONFIG naming file and line. */
int ds_config_from_job(ds_job_config *c, lm_job *job, lm_err *err);
void ds_config_fini(ds_job_config *c);

#endif
