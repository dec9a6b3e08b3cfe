/*
 * node.h - a worker rank: runs the per-item pipeline of stages over chunks of
 * the plan and commits each chunk to the rank's LMDB shard in one transaction.
 *
 * Data flow position: coordinator/ hands chunks to node/; node/ reads item
 * bytes through datasets/ (ds_reader), runs the configured stages (decode,
 * resize, and the stages of later modules: align, faces, invert) and writes
 * records with shared/lm_store. A chunk is either wholly committed or not at
 * all; per-item failures are data (a "failed" meta record with the reason),
 * while an environmental failure (disk full, broken shard) fails the chunk.
 */
#ifndef NODE_H
#define NODE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "datasets/ds_plan.h"
#include "models/invert.h"
#include "shared/lm_err.h"
#include "shared/lm_img.h"
#include "shared/lm_job.h"
#include "shared/lm_store.h"

#define NODE_MAX_STAGES 8
#define NODE_MAX_THREADS 64

/* [invert] section of a job file (read by node/stage_invert.c; used by the invert stage). */
typedef struct node_invert_config {
    char generator[4096];  /* generator .safetensors, resolved against the job file */
    inv_params params;     /* space, steps, lr, noise, weights, early stopping */
    int batch;             /* images optimised together (1) */
    uint64_t seed;         /* per-item RNG seed = mix(seed, key) */
    int w_avg_samples;     /* 10000 */
    int init_nn;           /* init = nn: start from the nearest bank sample (else w_avg) */
    int bank_size;         /* samples in the nn bank (1000) */
    char recon_dir[4096];  /* reconstruction PNGs ("" = none) */
    int recon_every;       /* a PNG for items whose plan index is a multiple (0: none) */
} node_invert_config;

/* [node] section of a job file. */
typedef struct node_config {
    int resolution;        /* output size of the resize stage (square), default 256 */
    int keep_pixels;       /* store resized pixels in the pixels db, default true */
    int64_t max_pixels;    /* decode limit against decompression bombs */
    int threads;           /* OpenMP threads per rank (0: library default) */
    int item_threads;      /* items of a chunk processed in parallel (0: auto = the
                            * cores when the run is one process, else 1) */
    char models[512];      /* face models directory ("" : $LATENTMILL_MODELS, models/face-api) */
    int det_size;          /* faces stage: detector input size (0: 416) */
    int nstages;
    char stages[NODE_MAX_STAGES][32]; /* e.g. decode, resize */
    node_invert_config invert;        /* [invert] */
} node_config;

/* Read [node] (stages, resolution, keep_pixels, max_pixels, threads). */
int node_config_from_job(node_config *cfg, lm_job *job, lm_err *err);

/* What flows through the stages for one item. */
typedef struct node_item {
    uint32_t index;      /* plan index */
    ds_item plan;        /* key, location, extra data */
    void *bytes;         /* raw file bytes (NULL for stages that need none) */
    size_t len;
    lm_image img;        /* decoded image */
    lm_image out;        /* image after resize/align */
    cJSON *meta;         /* stages add fields; written to the meta db */
    uint32_t rank;
    int have_lmk;        /* lmk holds 68 landmarks in it->img's pixel coordinates */
    double lmk[68][2];   /* from the dataset or the faces stage */
} node_item;

/* A stage. process returns 0 (ok), NODE_ITEM_FAILED (the item failed; the
 * reason is in err and is recorded, the job goes on) or a negative code (an
 * environmental failure: the chunk fails). */
#define NODE_ITEM_FAILED 1
typedef struct node_stage_ops {
    const char *name;
    int needs_bytes;
    int thread_safe;    /* process may run on several items at once */
    int (*create)(void **state, const node_config *cfg, lm_err *err);
    int (*process)(void *state, node_item *it, lm_batch *batch, lm_err *err);
    void (*destroy)(void *state);
} node_stage_ops;

/* The stage registry (node/stages.c): NULL if unknown. */
const node_stage_ops *node_stage_find(const char *name);
/* Comma-separated names of all stages, for messages and --help. */
const char *node_stage_names(void);

typedef struct node_ctx node_ctx;

typedef struct node_chunk_stats {
    uint32_t ok, failed;
    double seconds;
} node_chunk_stats;

/* Open the shard at shard_dir and create the stages. OUT *out (node_free). */
int node_create(node_ctx **out, const node_config *cfg, const ds_plan *plan,
                const char *shard_dir, uint32_t rank, lm_err *err);
void node_free(node_ctx *n);

/* Run the stages over the items and commit them in one transaction. Returns 0
 * when committed (stats filled) or a negative code when nothing was. */
int node_process_chunk(node_ctx *n, const uint32_t *index, uint32_t count,
                       node_chunk_stats *stats, lm_err *err);

/* Called between items (e.g. to run rank 0's event loop in single-process
 * mode, so signals and progress are handled during long chunks). */
void node_set_tick(node_ctx *n, void (*tick)(void *user), void *user);

#endif
