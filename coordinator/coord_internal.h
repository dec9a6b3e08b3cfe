/*
 * coord_internal.h - declarations shared inside coordinator/ only.
 */
#ifndef COORD_INTERNAL_H
#define COORD_INTERNAL_H

#include "datasets/ds_plan.h"
#include "shared/lm_err.h"

/* Write OUTDIR/labels.json describing the labels db's columns for a dataset
 * kind (and the CSV header for folders/archives with labels). Nothing is
 * written when the kind has no label columns. Errors: -errno naming the file. */
int coord_labels_write(const char *outdir, enum ds_kind kind, const char *csv_path, lm_err *err);

#endif
