/*
 * face_golden.h - helpers shared by the face-network golden tests
 * (tests/unit/test_face_*.c): image loading (shared/lm_img.h), SHA-256 of decoded pixels (to prove
 * we feed the exact RGB the goldens were made from), golden JSON access, comparisons that print the
 * first mismatches and the max error, and the SKIP (exit 77) when the face models are not
 * installed.
 *
 * Goldens: tests/golden/faceapi/<image>.json, copied from face-api 1.7.15 on
 * TF.js 4.22 (cpu backend) runs of the reference harness; JPEG ones come from
 * its libjpeg-turbo (djpeg) decoded pixels. Photos: tests/fixtures/faces/
 * (SOURCES.md).
 */
#ifndef FACE_GOLDEN_H
#define FACE_GOLDEN_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/faces_prep.h"
#include "shared/lm_img.h"

#define FG_FIXTURES "tests/fixtures/faces/"
#define FG_GOLDEN "tests/golden/faceapi/"

/* ---- SHA-256 (FIPS 180-4), for the pixel digests recorded in the goldens ---- */
static const uint32_t fg_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define FG_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static inline void fg_sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], a[8];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = FG_ROR(w[i - 15], 7) ^ FG_ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = FG_ROR(w[i - 2], 17) ^ FG_ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(a, h, sizeof a);
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = FG_ROR(a[4], 6) ^ FG_ROR(a[4], 11) ^ FG_ROR(a[4], 25);
        uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
        uint32_t t1 = a[7] + S1 + ch + fg_k[i] + w[i];
        uint32_t S0 = FG_ROR(a[0], 2) ^ FG_ROR(a[0], 13) ^ FG_ROR(a[0], 22);
        uint32_t mj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);
        uint32_t t2 = S0 + mj;
        memmove(a + 1, a, 7 * sizeof *a);
        a[4] += t1;
        a[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) {
        h[i] += a[i];
    }
}

static inline void fg_sha256_hex(const uint8_t *d, size_t n, char hex[65])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        fg_sha256_block(h, d + i);
    }
    uint8_t tail[128] = {0};
    size_t r = n - i;
    memcpy(tail, d + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++) {
        tail[tl - 1 - k] = (uint8_t)(bits >> (8 * k));
    }
    fg_sha256_block(h, tail);
    if (tl == 128) {
        fg_sha256_block(h, tail + 64);
    }
    for (int k = 0; k < 8; k++) {
        snprintf(hex + 8 * k, 9, "%08x", h[k]);
    }
}

/* ---- files ---- */
static inline unsigned char *fg_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        *len = (size_t)n;
    }
    return b;
}

static inline cJSON *fg_golden(const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, FG_GOLDEN "%s.json", name);
    unsigned char *b = fg_read(path, &len);
    cJSON *j = b ? cJSON_ParseWithLength((const char *)b, len) : NULL;
    free(b);
    return j;
}

/* A golden photo: pixels, size and the golden JSON; pixel digest checked. */
typedef struct fg_case {
    const char *name;
    uint8_t *rgb;
    int W, H;
    cJSON *g;
    lm_image im;
} fg_case;

static inline int fg_case_load(fg_case *c, const char *name, const char *file)
{
    char path[512], hex[65];
    memset(c, 0, sizeof *c);
    c->name = name;
    snprintf(path, sizeof path, FG_FIXTURES "%s", file);
    lm_err e = {0};
    if (lm_img_load(&c->im, path, 0, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    c->rgb = c->im.px;
    c->W = c->im.w;
    c->H = c->im.h;
    c->g = fg_golden(name);
    if (!c->rgb || !c->g) {
        fprintf(stderr, "%s: cannot load image or golden\n", name);
        return -1;
    }
    fg_sha256_hex(c->rgb, (size_t)c->W * c->H * 3, hex);
    const cJSON *im = cJSON_GetObjectItem(c->g, "image");
    const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(im, "rgb_sha256"));
    if (!want || strcmp(want, hex) != 0) {
        fprintf(stderr, "%s: decoded RGB sha256 %s differs from the golden's %s\n", name, hex,
                want ? want : "(none)");
        return -1;
    }
    return 0;
}

static inline void fg_case_fini(fg_case *c)
{
    lm_img_fini(&c->im);
    cJSON_Delete(c->g);
}

static inline double fg_num(const cJSON *o, const char *k)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k));
}

static inline faces_rect fg_rect(const cJSON *o)
{
    faces_rect r = {(int)fg_num(o, "x"), (int)fg_num(o, "y"), (int)fg_num(o, "width"),
                    (int)fg_num(o, "height")};
    return r;
}

/* Compare n values; prints the first 5 mismatches and the max error; returns
 * the max abs error. */
static inline double fg_compare(const char *what, const cJSON *expect, const float *got, int n,
                                double tol)
{
    double mx = 0.0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double e = cJSON_GetNumberValue(cJSON_GetArrayItem(expect, i));
        double d = fabs(e - got[i]);
        if (!(d <= tol) && bad++ < 5) {
            fprintf(stderr, "  %s[%d]: expected %.7g got %.7g (diff %.3g)\n", what, i, e, got[i],
                    d);
        }
        if (!(d <= mx)) {
            mx = d;
        }
    }
    fprintf(stderr, "  %s: max abs error %.3g over %d values (tolerance %.3g)%s\n", what, mx, n,
            tol, bad ? " FAIL" : "");
    return mx;
}

/* Exit 77 (SKIP) when the face-api weights are not installed. */
static inline void fg_require_models(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/face_recognition_model.bin", faces_models_dir(NULL));
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("SKIP: face models missing, run make models (looked for %s)\n", path);
        exit(77);
    }
}

#endif
