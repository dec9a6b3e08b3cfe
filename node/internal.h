/*
 * internal.h - declarations shared inside node/ only: the stages defined in
 * their own files (node/stage_<name>.c) and registered in node/stages.c.
 */
#ifndef NODE_INTERNAL_H
#define NODE_INTERNAL_H

#include "node/node.h"

#endif
