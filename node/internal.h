/*
 * internal.h - declarations shared inside node/ only: the stages defined in
 * their own files (node/stage_<name>.c) and registered in node/stages.c.
 */
#ifndef NODE_INTERNAL_H
#define NODE_INTERNAL_H

#include "node/node.h"

/* node/stage_invert.c: the `invert` stage and the [invert] job section. */
int node_invert_create(void **state, const node_config *cfg, lm_err *err);
int node_invert_process(void *state, node_item *it, lm_batch *batch, lm_err *err);
void node_invert_destroy(void *state);
int node_invert_config_read(node_invert_config *cfg, lm_job *job, lm_err *err);
int node_invert_group_size(void *state);
int node_invert_process_many(void *state, node_item **its, int n, int *rcs, lm_err *errs,
                             lm_batch *batch, lm_err *err);

/* Grouped entry points (node/stages.c): a stage listed here gets the items of a serial
 * chunk in groups of group_size(state) (> 1) through process_many instead of one by one.
 * rcs[i]/errs[i]: 0 or NODE_ITEM_FAILED with the reason per item; a negative return
 * fails the chunk. */
typedef struct node_batch_ops {
    const char *name;
    int (*group_size)(void *state);
    int (*process_many)(void *state, node_item **its, int n, int *rcs, lm_err *errs,
                        lm_batch *batch, lm_err *err);
} node_batch_ops;
const node_batch_ops *node_batch_find(const char *name);
extern const node_stage_ops node_stage_faces; /* stage_faces.c */
/* node/stage_labels.c: dataset labels, identity, landmarks -> labels db + meta */
int node_labels_process(void *state, node_item *it, lm_batch *batch, lm_err *err);
extern const node_stage_ops node_stage_align; /* stage_align.c: FFHQ-recipe alignment */

#endif
