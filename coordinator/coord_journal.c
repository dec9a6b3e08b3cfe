/* coord_journal.c - append-only journal of committed chunks (see coord_journal.h). */
#include "coordinator/coord_journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "shared/lm_io.h"
#include "shared/lm_log.h"

#define J_MAGIC 0x314A4D4Cu /* "LMJ1" little-endian */

struct coord_journal {
    int fd;
    char *path;
};

/* CRC-32 (zlib's) of a journal record. */
static uint32_t record_crc(const void *data, size_t len)
{
    return (uint32_t)crc32(0L, data, (uInt)len);
}

static uint32_t r32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static void w32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}

static int replay(const char *path, size_t nitems, coord_done *done, uint32_t *max_run,
                  int repair, lm_err *err)
{
    for (size_t i = 0; i < nitems; i++) {
        done[i].run = UINT32_MAX;
        done[i].rank = 0;
    }
    *max_run = 0;
    void *buf = NULL;
    size_t len = 0;
    int rc = lm_io_read_file(path, &buf, &len, err);
    if (rc == -ENOENT) {
        if (err != NULL) {
            err->msg[0] = '\0';
        }
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    const unsigned char *b = buf;
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 20 || r32(b + pos) != J_MAGIC) {
            break;
        }
        uint32_t count = r32(b + pos + 12);
        size_t rec = 16 + 4 * (size_t)count + 4;
        if (count > nitems || len - pos < rec) {
            break;
        }
        if (record_crc(b + pos, rec - 4) != r32(b + pos + rec - 4)) {
            break;
        }
        uint32_t run = r32(b + pos + 4), rank = r32(b + pos + 8);
        for (uint32_t i = 0; i < count; i++) {
            uint32_t idx = r32(b + pos + 16 + 4 * i);
            if (idx >= nitems) {
                free(buf);
                return lm_err_set(err, LM_EFORMAT,
                                  "%s: record at byte %zu names item %u but the plan has %zu",
                                  path, pos, idx, nitems);
            }
            if (done[idx].run == UINT32_MAX) { /* first commit wins */
                done[idx].run = run;
                done[idx].rank = rank;
            }
        }
        if (run > *max_run) {
            *max_run = run;
        }
        pos += rec;
    }
    if (pos < len && repair) {
        lm_log(LM_LOG_WARN, "%s: dropping a torn record at byte %zu (%zu bytes); those items "
               "will be redone", path, pos, len - pos);
        if (truncate(path, (off_t)pos) != 0) {
            rc = lm_err_set(err, -errno, "%s: truncate: %s", path, strerror(errno));
        }
    }
    free(buf);
    return rc;
}

int coord_journal_replay(const char *path, size_t nitems, coord_done *done, uint32_t *max_run,
                         lm_err *err)
{
    return replay(path, nitems, done, max_run, 1, err);
}

int coord_journal_read(const char *path, size_t nitems, coord_done *done, uint32_t *max_run,
                       lm_err *err)
{
    return replay(path, nitems, done, max_run, 0, err);
}

int coord_journal_open(coord_journal **out, const char *path, lm_err *err)
{
    *out = NULL;
    coord_journal *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return lm_err_set(err, -ENOMEM, "out of memory");
    }
    j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0) {
        int rc = lm_err_set(err, -errno, "%s: %s", path, strerror(errno));
        free(j->path);
        free(j);
        return rc;
    }
    *out = j;
    return 0;
}

void coord_journal_close(coord_journal *j)
{
    if (j != NULL) {
        if (j->fd >= 0) {
            close(j->fd);
        }
        free(j->path);
        free(j);
    }
}

int coord_journal_append(coord_journal *j, uint32_t run, uint32_t rank, const uint32_t *index,
                         uint32_t count, lm_err *err)
{
    size_t n = 16 + 4 * (size_t)count + 4;
    unsigned char *b = malloc(n);
    if (b == NULL) {
        return lm_err_set(err, -ENOMEM, "%s: out of memory", j->path);
    }
    w32(b, J_MAGIC);
    w32(b + 4, run);
    w32(b + 8, rank);
    w32(b + 12, count);
    for (uint32_t i = 0; i < count; i++) {
        w32(b + 16 + 4 * i, index[i]);
    }
    w32(b + n - 4, record_crc(b, n - 4));
    off_t before = lseek(j->fd, 0, SEEK_END);
    int rc = lm_io_write_all(j->fd, b, n, j->path, err);
    free(b);
    if (rc == 0 && fdatasync(j->fd) != 0) {
        rc = lm_err_set(err, -errno, "%s: fsync: %s", j->path, strerror(errno));
    }
    if (rc != 0 && before >= 0 && ftruncate(j->fd, before) != 0) {
        /* Could not even cut the torn record: replay will drop it. */
        lm_log(LM_LOG_WARN, "%s: cannot remove a partial record: %s", j->path, strerror(errno));
    }
    return rc;
}
