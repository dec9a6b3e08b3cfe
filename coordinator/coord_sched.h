/*
 * coord_sched.h - the chunk scheduler of rank 0: guided self-scheduling with
 * backup copies at the tail. Pure bookkeeping (no MPI, no I/O), so it is unit
 * tested directly.
 *
 * Items still to do are handed out in plan order. A chunk's size is
 * ceil(unassigned / (2 * workers)), clamped to [min_chunk, max_chunk], so
 * chunks shrink as the job drains and a slow image or slow rank cannot leave
 * the others idle for long (Polychronopoulos & Kuck's guided self-scheduling).
 * When nothing is unassigned, an idle worker gets a backup copy of the oldest
 * outstanding chunk held by another worker (at most one backup per chunk); the
 * first completion wins and the second is reported as a duplicate.
 */
#ifndef COORD_SCHED_H
#define COORD_SCHED_H

#include <stddef.h>
#include <stdint.h>

typedef struct coord_sched coord_sched;

typedef struct coord_sched_config {
    size_t min_chunk, max_chunk; /* defaults 4 and 1024 when 0 */
    int backups;                 /* hand out backup copies at the tail */
} coord_sched_config;

typedef struct coord_chunk {
    uint32_t id;
    uint32_t count;
    const uint32_t *index; /* plan indices, valid until the chunk completes or is requeued */
    int is_backup;
} coord_chunk;

/* todo: the plan indices still to do, in order (copied). nworkers >= 1. */
int coord_sched_create(coord_sched **out, const uint32_t *todo, size_t ntodo, int nworkers,
                       const coord_sched_config *cfg);
void coord_sched_free(coord_sched *s);

enum { COORD_NEXT_CHUNK = 1, COORD_NEXT_WAIT = 0, COORD_NEXT_FINISHED = -1 };
/* Next chunk for a worker (0-based worker id): COORD_NEXT_CHUNK (*out filled),
 * COORD_NEXT_WAIT (nothing for this worker now, but chunks are outstanding),
 * COORD_NEXT_FINISHED (every item is done). Returns -ENOMEM on allocation failure. */
int coord_sched_next(coord_sched *s, int worker, double now, coord_chunk *out);

/* A worker committed chunk id. Returns 1 if this is the first completion (the
 * winner: journal it), 0 for a duplicate or unknown chunk. */
int coord_sched_complete(coord_sched *s, uint32_t id, int worker);

/* A worker gave a chunk back without committing (environmental failure or
 * stop): it returns to the pool unless another copy is still running. */
void coord_sched_requeue(coord_sched *s, uint32_t id, int worker);

/* Stop handing out work to this worker; requeue what it holds. */
void coord_sched_retire(coord_sched *s, int worker);

size_t coord_sched_done_items(const coord_sched *s);
size_t coord_sched_total_items(const coord_sched *s);
size_t coord_sched_outstanding(const coord_sched *s); /* chunks held by workers */
/* The plan indices of a chunk (valid until the next call that changes s). */
const uint32_t *coord_sched_chunk_items(const coord_sched *s, uint32_t id, uint32_t *count);

#endif
