/*
 * lm_seeds.h - seed lists on the command line: "0-15", "1,5,9-12", "303".
 *
 * Items are separated by commas; an item is a decimal number N or an inclusive
 * range A-B with A <= B. Every value must lie in 0..4294967295 (what NumPy's
 * RandomState accepts). Order and repeats are kept as written. No signs,
 * spaces, hex or empty items.
 */
#ifndef LM_SEEDS_H
#define LM_SEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

/* Largest number of seeds one list may expand to. */
#define LM_SEEDS_MAX ((size_t)1 << 20)

/* Parse spec. OUT *seeds (free()), *n >= 1.
 * Errors: LM_ECONFIG (the message quotes the list and the bad item),
 * LM_ETOOBIG (more than LM_SEEDS_MAX seeds), -ENOMEM. */
int lm_seeds_parse(const char *spec, uint32_t **seeds, size_t *n, lm_err *err);

#endif
