/*
 * ds_fetch.h - HTTP(S) downloads with libcurl (multi interface): several
 * transfers at once, resume with Range from DEST.part, retries with
 * exponential backoff on network errors and 5xx/429, per-file size and
 * MD5/SHA-256 checks, Google Drive's "can't scan for viruses" confirmation
 * page followed automatically, and a progress line on stderr.
 *
 * A file is written as DEST.part and renamed to DEST only after its size and
 * checksum verified, so a partial or corrupt download never looks complete.
 * A DEST that already exists (and verifies, when a checksum is given) is
 * skipped. A checksum mismatch deletes DEST.part (so a rerun does not resume
 * from bad bytes) and fails that file; 4xx answers fail at once; network
 * errors and 5xx are retried, resuming from what DEST.part already holds.
 */
#ifndef DS_FETCH_H
#define DS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "shared/lm_err.h"

typedef struct ds_fetch_file {
    const char *url;
    const char *dest;   /* final path; parent directories are created */
    const char *md5;    /* 32 hex chars or NULL */
    const char *sha256; /* 64 hex chars or NULL */
    int64_t size;       /* expected bytes, or -1 */
    /* results */
    int status;         /* 0 ok, <0 failed (see msg) */
    int skipped;        /* already complete */
    int attempts;
    int64_t resumed_from; /* bytes kept from an earlier .part at the last start */
    char msg[256];
} ds_fetch_file;

typedef struct ds_fetch_opts {
    int parallel;       /* transfers at once (default 4) */
    int retries;        /* retries per file after the first attempt (default 5) */
    double backoff_s;   /* first retry delay, doubled each time (default 1) */
    long connect_timeout_s; /* default 30 */
    long stall_s;       /* abort a transfer slower than 1 byte/s for this long (default 60) */
    int progress;       /* 0 none, 1 progress line on stderr */
} ds_fetch_opts;

void ds_fetch_opts_default(ds_fetch_opts *o);

/* Download every file. Returns 0 when all are complete, otherwise LM_EFORMAT
 * (checksum), -EIO or another negative code of the first failure; each file's
 * status/msg says what happened to it. */
int ds_fetch_run(ds_fetch_file *files, size_t n, const ds_fetch_opts *o, lm_err *err);

/* Verify a file's MD5 / SHA-256 (hex, either may be NULL). 0 ok, LM_EFORMAT
 * mismatch (message has both digests), -errno. */
int ds_fetch_verify(const char *path, const char *md5, const char *sha256, lm_err *err);

#endif
