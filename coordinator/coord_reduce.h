/*
 * coord_reduce.h - the reduce phase driver: loads each rank's share of the
 * job's results from the shards (only journaled, ok items) and hands them to
 * reduce/ — the direction bank (reduce/bank.h, [bank] section) and the
 * embedding index with its kNN join (reduce/index.h, [index] section).
 *
 * Rows are split over ranks by plan index (rank r takes the r-th of `size`
 * equal blocks of the plan), so no rank reads everything.
 *
 * What is loaded:
 *   bank   latents (latent db): f32 [1, w_dim] gives space "w"; [num_ws, w_dim]
 *          gives "wplus" (flattened, layer-major) and "w" (mean over layers).
 *          Label columns: the scores db (faces stage: neutral, happy, sad,
 *          angry, fearful, disgusted, surprised, age, male) as classifier
 *          scores, and the labels db (int32 per item) with the column names
 *          and kinds of OUTDIR/labels.json when present:
 *            {"columns":[{"name":"Smiling","kind":"binary"},
 *                        {"name":"emotion","kind":"class","classes":["neutral",...]}]}
 *          (binary: +1/-1, 0 = missing; class: 0..n-1, negative = missing);
 *          without it, columns are named label0, label1, ... and are binary.
 *   index  descriptors (embed db), item keys, identity from meta "identity"
 *          (an integer; -1 or absent = unknown).
 * The kNN join writes its matches to per-rank shards OUTDIR/shards/reduce-rankNNNN/,
 * which `export` reads for the matches database.
 */
#ifndef COORD_REDUCE_H
#define COORD_REDUCE_H

#include "reduce/bank.h"
#include "reduce/index.h"
#include "shared/lm_err.h"
#include "shared/lm_job.h"

typedef struct coord_reduce_cfg {
    int have_bank, have_index;
    bank_config bank;
    knn_config index;
} coord_reduce_cfg;

/* Read [bank] and [index] when present (validated at start-up, before any map
 * work). Errors: LM_ECONFIG naming file and line. */
int coord_reduce_config(coord_reduce_cfg *cfg, lm_job *job, lm_err *err);

/* Run the configured reduce tasks over OUTDIR. Collective over MPI_COMM_WORLD;
 * returns the same code on every rank. */
int coord_reduce_run(const coord_reduce_cfg *cfg, const char *outdir, lm_err *err);

#endif
