/*
 * lm_msg.h - the MPI message layer: the only module that calls MPI
 * point-to-point. Messages are fixed-width little-endian records with their
 * tags in one enum; the coordinator <-> node protocol is:
 *
 *   node -> 0   LM_TAG_REQUEST  report of the previous chunk (if any) + "give me work"
 *   0 -> node   LM_TAG_WORK     a chunk: id and the plan indices of its items
 *   0 -> node   LM_TAG_DONE     no more work: the node closes its shard and returns
 *
 * Rank 0 never blocks in a receive (lm_msg_poll is non-blocking; the
 * coordinator sleeps with a back-off between polls), so it does not steal a
 * core from a worker on a small machine.
 */
#ifndef LM_MSG_H
#define LM_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

enum lm_msg_tag { LM_TAG_REQUEST = 101, LM_TAG_WORK = 102, LM_TAG_DONE = 103 };

enum {
    LM_REPORT_HAS_CHUNK = 1, /* chunk_id/ok/failed describe a finished chunk */
    LM_REPORT_CHUNK_FAILED = 2, /* environmental failure: nothing was committed */
    LM_REPORT_STOPPING = 4,  /* the node got a stop signal: send it no more work */
};

#define LM_MSG_NO_CHUNK UINT32_MAX

typedef struct lm_report {
    uint32_t flags;
    uint32_t chunk_id;
    uint32_t items_ok, items_failed; /* of that chunk */
    double busy_seconds;             /* time spent in that chunk */
    char reason[200];                /* for LM_REPORT_CHUNK_FAILED */
} lm_report;

typedef struct lm_work {
    uint32_t chunk_id;
    uint32_t count;
    uint32_t *index; /* count plan indices; owned by the caller */
} lm_work;

/* Node side (blocking). Errors: LM_EMPI. */
int lm_msg_send_request(const lm_report *r, lm_err *err);
/* Receive WORK or DONE from rank 0. Returns LM_TAG_WORK (w filled; w->index
 * is grown with realloc, *cap tracks its capacity) or LM_TAG_DONE. */
int lm_msg_recv_work(lm_work *w, size_t *cap, lm_err *err);

/* Coordinator side (non-blocking). Returns 1 and fills *src and *r when a request
 * was waiting, 0 when none. */
int lm_msg_poll_request(int *src, lm_report *r, lm_err *err);
int lm_msg_send_work(int dst, const lm_work *w, lm_err *err);
int lm_msg_send_done(int dst, lm_err *err);

#endif
