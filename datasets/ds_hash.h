/*
 * ds_hash.h - MD5 and SHA-256 (RFC 1321, FIPS 180-4), streaming, for the
 * checksums datasets are published with (FFHQ file_md5, CelebA MD5s, a
 * user-given sha256 for `fetch`).
 */
#ifndef DS_HASH_H
#define DS_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct ds_md5 {
    uint32_t h[4];
    uint64_t n;
    unsigned char buf[64];
} ds_md5;

typedef struct ds_sha256 {
    uint32_t h[8];
    uint64_t n;
    unsigned char buf[64];
} ds_sha256;

void ds_md5_init(ds_md5 *c);
void ds_md5_update(ds_md5 *c, const void *data, size_t len);
void ds_md5_final(ds_md5 *c, unsigned char out[16]);

void ds_sha256_init(ds_sha256 *c);
void ds_sha256_update(ds_sha256 *c, const void *data, size_t len);
void ds_sha256_final(ds_sha256 *c, unsigned char out[32]);

/* Lower-case hex of n bytes into out (2n+1 chars). */
void ds_hex(const unsigned char *d, size_t n, char *out);

#endif
