/*
 * internal.h - declarations shared inside node/ only: the stages defined in
 * their own files (node/stage_<name>.c) and registered in node/stages.c.
 */
#ifndef NODE_INTERNAL_H
#define NODE_INTERNAL_H

#include "node/node.h"

extern const node_stage_ops node_stage_faces; /* stage_faces.c */
/* node/stage_labels.c: dataset labels, identity, landmarks -> labels db + meta */
int node_labels_process(void *state, node_item *it, lm_batch *batch, lm_err *err);
/* node/stage_align.c: FFHQ-recipe alignment to [node] resolution (stage_align.c) */
int node_align_create(void **state, const node_config *cfg, lm_err *err);
int node_align_process(void *state, node_item *it, lm_batch *batch, lm_err *err);
void node_align_destroy(void *state);

#endif
