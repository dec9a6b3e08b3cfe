/*
 * coord_results.h - a read-only view of a job's results: which items are done
 * and in which shard the winning copy of each lives (plan + journal), with
 * lookups into the shards. Used by `inspect`, `export` and the reduce phase,
 * and safe to use while a run is writing (LMDB readers never block writers).
 *
 * Duplicates (a backup copy of a chunk that lost the race, or records a killed
 * run committed but never journaled) stay in their shards but are invisible
 * here: only the journaled winner of each item is reported.
 */
#ifndef COORD_RESULTS_H
#define COORD_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "coordinator/coord_journal.h"
#include "datasets/ds_plan.h"
#include "shared/lm_err.h"
#include "shared/lm_store.h"

typedef struct coord_results coord_results;

/* Open OUTDIR. OUT *out (coord_results_close). Errors: -ENOENT when there is
 * no plan (not a latentmill output dir, or nothing ran yet), LM_EFORMAT. */
int coord_results_open(coord_results **out, const char *outdir, lm_err *err);
void coord_results_close(coord_results *r);

const ds_plan *coord_results_plan(const coord_results *r);
size_t coord_results_total(const coord_results *r);
/* Winner of item i, or done->run == UINT32_MAX when not done. */
const coord_done *coord_results_done(const coord_results *r, size_t i);

/* Fetch item i's record from db in its winning shard: 0 found (*v valid until
 * the next call), 1 absent or item not done, negative on error. */
int coord_results_get(coord_results *r, size_t i, enum lm_db db, lm_value *v, lm_err *err);

/* Shard directory of (run, rank) into buf; run UINT32_MAX names the reduce
 * phase's shard of that rank (kNN join matches, found by coord_results_get
 * for LM_DB_MATCHES). */
void coord_results_shard_path(const coord_results *r, uint32_t run, uint32_t rank, char *buf,
                              size_t cap);

#endif
