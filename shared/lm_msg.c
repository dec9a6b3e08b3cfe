/* lm_msg.c - fixed-width coordinator <-> node messages over MPI (see lm_msg.h). */
#include "shared/lm_msg.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_BYTES (4 * 4 + 8 + 200)

static void w32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}
static uint32_t r32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int mpi_fail(lm_err *err, int mrc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(mrc, s, &n);
    return lm_err_set(err, LM_EMPI, "MPI %s: %s", what, s);
}

int lm_msg_send_request(const lm_report *r, lm_err *err)
{
    unsigned char b[REPORT_BYTES];
    w32(b, r->flags);
    w32(b + 4, r->chunk_id);
    w32(b + 8, r->items_ok);
    w32(b + 12, r->items_failed);
    memcpy(b + 16, &r->busy_seconds, 8); /* IEEE double, little-endian hosts */
    memcpy(b + 24, r->reason, 200);
    b[24 + 199] = 0;
    int mrc = MPI_Send(b, REPORT_BYTES, MPI_BYTE, 0, LM_TAG_REQUEST, MPI_COMM_WORLD);
    return mrc == MPI_SUCCESS ? 0 : mpi_fail(err, mrc, "send request");
}

int lm_msg_recv_work(lm_work *w, size_t *cap, lm_err *err)
{
    MPI_Status st;
    int mrc = MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    if (mrc != MPI_SUCCESS) {
        return mpi_fail(err, mrc, "probe");
    }
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b == NULL) {
        return lm_err_set(err, -12, "out of memory for a %d-byte message", n);
    }
    mrc = MPI_Recv(b, n, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (mrc != MPI_SUCCESS) {
        free(b);
        return mpi_fail(err, mrc, "receive work");
    }
    int rc = st.MPI_TAG;
    if (st.MPI_TAG == LM_TAG_WORK) {
        if (n < 8) {
            free(b);
            return lm_err_set(err, LM_EMPI, "short work message (%d bytes)", n);
        }
        w->chunk_id = r32(b);
        w->count = r32(b + 4);
        if ((size_t)n != 8 + 4 * (size_t)w->count) {
            free(b);
            return lm_err_set(err, LM_EMPI, "work message of %d bytes for %u items", n, w->count);
        }
        if (w->count > *cap) {
            uint32_t *p = realloc(w->index, w->count * sizeof *p);
            if (p == NULL) {
                free(b);
                return lm_err_set(err, -12, "out of memory");
            }
            w->index = p;
            *cap = w->count;
        }
        for (uint32_t i = 0; i < w->count; i++) {
            w->index[i] = r32(b + 8 + 4 * i);
        }
    } else if (st.MPI_TAG != LM_TAG_DONE) {
        rc = lm_err_set(err, LM_EMPI, "unexpected message tag %d from rank 0", st.MPI_TAG);
    }
    free(b);
    return rc;
}

int lm_msg_poll_request(int *src, lm_report *r, lm_err *err)
{
    int flag = 0;
    MPI_Status st;
    int mrc = MPI_Iprobe(MPI_ANY_SOURCE, LM_TAG_REQUEST, MPI_COMM_WORLD, &flag, &st);
    if (mrc != MPI_SUCCESS) {
        return mpi_fail(err, mrc, "iprobe");
    }
    if (!flag) {
        return 0;
    }
    unsigned char b[REPORT_BYTES];
    mrc = MPI_Recv(b, REPORT_BYTES, MPI_BYTE, st.MPI_SOURCE, LM_TAG_REQUEST, MPI_COMM_WORLD,
                   MPI_STATUS_IGNORE);
    if (mrc != MPI_SUCCESS) {
        return mpi_fail(err, mrc, "receive request");
    }
    *src = st.MPI_SOURCE;
    r->flags = r32(b);
    r->chunk_id = r32(b + 4);
    r->items_ok = r32(b + 8);
    r->items_failed = r32(b + 12);
    memcpy(&r->busy_seconds, b + 16, 8);
    memcpy(r->reason, b + 24, 200);
    r->reason[199] = 0;
    return 1;
}

int lm_msg_send_work(int dst, const lm_work *w, lm_err *err)
{
    size_t n = 8 + 4 * (size_t)w->count;
    unsigned char *b = malloc(n);
    if (b == NULL) {
        return lm_err_set(err, -12, "out of memory");
    }
    w32(b, w->chunk_id);
    w32(b + 4, w->count);
    for (uint32_t i = 0; i < w->count; i++) {
        w32(b + 8 + 4 * i, w->index[i]);
    }
    int mrc = MPI_Send(b, (int)n, MPI_BYTE, dst, LM_TAG_WORK, MPI_COMM_WORLD);
    free(b);
    return mrc == MPI_SUCCESS ? 0 : mpi_fail(err, mrc, "send work");
}

int lm_msg_send_done(int dst, lm_err *err)
{
    int mrc = MPI_Send(NULL, 0, MPI_BYTE, dst, LM_TAG_DONE, MPI_COMM_WORLD);
    return mrc == MPI_SUCCESS ? 0 : mpi_fail(err, mrc, "send done");
}
