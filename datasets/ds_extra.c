/* ds_extra.c - encode/decode of the plan's per-item extra record (ds_extra.h). */
#include "datasets/ds_extra.h"

#include <string.h>

void ds_extra_init(ds_extra *x)
{
    memset(x, 0, sizeof *x);
    x->identity = -1;
    x->split = DS_SPLIT_NONE;
}

size_t ds_extra_size(const ds_extra *x)
{
    return DS_EXTRA_HEAD + 4 * (size_t)x->nlabels + 8 * (size_t)x->npoints + x->json_len;
}

static void put32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void ds_extra_encode(const ds_extra *x, void *buf)
{
    unsigned char *b = buf;
    memcpy(b, DS_EXTRA_MAGIC, 4);
    b[4] = (unsigned char)x->nlabels;
    b[5] = (unsigned char)(x->nlabels >> 8);
    b[6] = (unsigned char)x->npoints;
    b[7] = (unsigned char)(x->npoints >> 8);
    put32(b + 8, (uint32_t)x->identity);
    b[12] = (unsigned char)x->lmk_kind;
    b[13] = (unsigned char)x->split;
    b[14] = (unsigned char)x->flags;
    b[15] = 0;
    put32(b + 16, (uint32_t)x->json_len);
    unsigned char *q = b + DS_EXTRA_HEAD;
    for (int i = 0; i < x->nlabels; i++, q += 4) {
        put32(q, (uint32_t)x->labels[i]);
    }
    for (int i = 0; i < 2 * x->npoints; i++, q += 4) {
        uint32_t u;
        memcpy(&u, &x->pts[i], 4);
        put32(q, u);
    }
    if (x->json_len > 0) {
        memcpy(q, x->json, x->json_len);
    }
}

int ds_extra_decode(ds_extra *x, const void *buf, size_t len, lm_err *err)
{
    const unsigned char *b = buf;
    ds_extra_init(x);
    if (buf == NULL || len < DS_EXTRA_HEAD || memcmp(b, DS_EXTRA_MAGIC, 4) != 0) {
        return lm_err_set(err, LM_EFORMAT, "item extra data is not an LMX1 record");
    }
    x->nlabels = b[4] | b[5] << 8;
    x->npoints = b[6] | b[7] << 8;
    x->identity = (int32_t)get32(b + 8);
    x->lmk_kind = b[12];
    x->split = b[13];
    x->flags = b[14];
    x->json_len = get32(b + 16);
    if (x->nlabels > DS_MAX_LABELS || x->npoints > DS_MAX_POINTS ||
        DS_EXTRA_HEAD + 4 * (size_t)x->nlabels + 8 * (size_t)x->npoints + x->json_len != len) {
        return lm_err_set(err, LM_EFORMAT, "item extra record has inconsistent sizes "
                          "(%d labels, %d points, %zu json bytes in %zu bytes)",
                          x->nlabels, x->npoints, x->json_len, len);
    }
    const unsigned char *q = b + DS_EXTRA_HEAD;
    for (int i = 0; i < x->nlabels; i++, q += 4) {
        x->labels[i] = (int32_t)get32(q);
    }
    for (int i = 0; i < 2 * x->npoints; i++, q += 4) {
        uint32_t u = get32(q);
        memcpy(&x->pts[i], &u, 4);
    }
    x->json = x->json_len > 0 ? (const char *)q : NULL;
    return 0;
}
