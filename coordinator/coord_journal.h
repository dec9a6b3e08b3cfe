/*
 * coord_journal.h - rank 0's journal of committed chunks (OUTDIR/journal.bin).
 *
 * A chunk counts as done only after its node committed the LMDB transaction
 * and rank 0 appended (and fsync'ed) its record here. Records are
 * self-checking and appended only, so a crash can at worst leave a torn last
 * record, which the loader ignores (that chunk is simply redone).
 *
 * Record (little-endian): u32 magic "LMJ1", u32 run, u32 rank, u32 count,
 * u32 indices[count], u32 crc32 of everything before it.
 * The winner of each item is (run, rank): its records live in the shard
 * OUTDIR/shards/run<run>-rank<rank>/.
 */
#ifndef COORD_JOURNAL_H
#define COORD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

typedef struct coord_journal coord_journal;

/* Item state after replaying the journal. */
typedef struct coord_done {
    uint32_t run;  /* UINT32_MAX: not done */
    uint32_t rank;
} coord_done;

/* Read path (missing file: nothing done) into done[nitems]. Records naming an
 * index >= nitems are a corrupt journal: LM_EFORMAT. A torn tail is dropped
 * with a warning and the file is truncated to its last good record. */
int coord_journal_replay(const char *path, size_t nitems, coord_done *done, uint32_t *max_run,
                         lm_err *err);

/* The same, read-only: a torn tail is ignored but left in place (for readers
 * that may run while rank 0 appends). */
int coord_journal_read(const char *path, size_t nitems, coord_done *done, uint32_t *max_run,
                       lm_err *err);

/* Open for appending. OUT *out (coord_journal_close). */
int coord_journal_open(coord_journal **out, const char *path, lm_err *err);
void coord_journal_close(coord_journal *j);
/* Append one chunk and fsync. Errors: -errno (e.g. -ENOSPC), message names the file. */
int coord_journal_append(coord_journal *j, uint32_t run, uint32_t rank, const uint32_t *index,
                         uint32_t count, lm_err *err);

#endif
