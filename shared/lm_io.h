/*
 * lm_io.h - POSIX file I/O wrapped once (mfu_io): whole-file reads, atomic
 * writes (temp file + fsync + rename + directory fsync), appends with fsync,
 * bounded retry on EINTR, and a fault-injection switch for tests.
 *
 * Fault injection (SQLite's test_vfs idea): when the environment variable
 * LATENTMILL_FAULT is "write:ENOSPC:N" (or EIO), the N-th and every later
 * write through this module fails with that errno, so "disk full mid-commit"
 * is a deterministic test. Unset, it costs one branch.
 */
#ifndef LM_IO_H
#define LM_IO_H

#include <stddef.h>

#include "shared/lm_err.h"

/* Read a whole file. OUT *buf (free()), *len. Errors: -errno naming the path. */
int lm_io_read_file(const char *path, void **buf, size_t *len, lm_err *err);
/* Write path atomically: readers see the old or the new content, never half. */
int lm_io_write_file_atomic(const char *path, const void *buf, size_t len, lm_err *err);
/* Write all of buf to fd (retries short writes and EINTR). */
int lm_io_write_all(int fd, const void *buf, size_t len, const char *what, lm_err *err);
/* mkdir -p. */
int lm_io_mkdirs(const char *path, lm_err *err);
/* The injected errno for the next write, or 0 (used by lm_store for LMDB). */
int lm_io_fault_check(void);

#endif
