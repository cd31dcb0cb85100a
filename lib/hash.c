/* SPDX-License-Identifier: MIT */
/*
 * MD5 (RFC 1321), SHA-1 and the SHA-2 family (FIPS 180-4), one-shot; see
 * hash.h.
 *
 * Each algorithm has a block function; a shared driver (HashCtx) feeds
 * whole blocks straight from the input, keeps a partial block between
 * updates and pads the tail (length in bits, little-endian for MD5,
 * big-endian for the SHAs). SHA-384 is SHA-512 with other initial values,
 * truncated to 48 bytes. HMAC (RFC 2104) is two passes of the driver.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "format.h"
#include "hash.h"

#define ROL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define ROR64(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

static uint32_t load_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint32_t load_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

static uint64_t load_be64(const uint8_t *p) {
        return (uint64_t) load_be32(p) << 32 | load_be32(p + 4);
}

/* ---- MD5 ---- */

static const uint32_t md5_k[64] = {
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
        0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
        0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
        0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
        0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
        0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
        0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t md5_r[64] = {
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
        5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static void md5_block(void *state, const uint8_t *b) {
        uint32_t *h = state, w[16], a = h[0], bb = h[1], c = h[2], d = h[3];

        for (int i = 0; i < 16; i++)
                w[i] = load_le32(b + 4 * i);
        for (int i = 0; i < 64; i++) {
                uint32_t f;
                int g;
                if (i < 16) {
                        f = (bb & c) | (~bb & d);
                        g = i;
                } else if (i < 32) {
                        f = (d & bb) | (~d & c);
                        g = (5 * i + 1) % 16;
                } else if (i < 48) {
                        f = bb ^ c ^ d;
                        g = (3 * i + 5) % 16;
                } else {
                        f = c ^ (bb | ~d);
                        g = (7 * i) % 16;
                }
                uint32_t t = d;
                d = c;
                c = bb;
                bb = bb + ROL32(a + f + md5_k[i] + w[g], md5_r[i]);
                a = t;
        }
        h[0] += a;
        h[1] += bb;
        h[2] += c;
        h[3] += d;
}

/* ---- SHA-1 ---- */

static void sha1_block(void *state, const uint8_t *b) {
        uint32_t *h = state, w[80], a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];

        for (int i = 0; i < 16; i++)
                w[i] = load_be32(b + 4 * i);
        for (int i = 16; i < 80; i++)
                w[i] = ROL32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        for (int i = 0; i < 80; i++) {
                uint32_t f, k;
                if (i < 20) {
                        f = (bb & c) | (~bb & d);
                        k = 0x5a827999;
                } else if (i < 40) {
                        f = bb ^ c ^ d;
                        k = 0x6ed9eba1;
                } else if (i < 60) {
                        f = (bb & c) | (bb & d) | (c & d);
                        k = 0x8f1bbcdc;
                } else {
                        f = bb ^ c ^ d;
                        k = 0xca62c1d6;
                }
                uint32_t t = ROL32(a, 5) + f + e + k + w[i];
                e = d;
                d = c;
                c = ROL32(bb, 30);
                bb = a;
                a = t;
        }
        h[0] += a;
        h[1] += bb;
        h[2] += c;
        h[3] += d;
        h[4] += e;
}

/* ---- SHA-256 ---- */

static const uint32_t sha256_k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static void sha256_block(void *state, const uint8_t *b) {
        uint32_t *h = state, w[64], v[8];

        for (int i = 0; i < 16; i++)
                w[i] = load_be32(b + 4 * i);
        for (int i = 16; i < 64; i++) {
                uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
                uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        memcpy(v, h, sizeof(v));
        for (int i = 0; i < 64; i++) {
                uint32_t S1 = ROR32(v[4], 6) ^ ROR32(v[4], 11) ^ ROR32(v[4], 25);
                uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
                uint32_t t1 = v[7] + S1 + ch + sha256_k[i] + w[i];
                uint32_t S0 = ROR32(v[0], 2) ^ ROR32(v[0], 13) ^ ROR32(v[0], 22);
                uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
                uint32_t t2 = S0 + maj;
                memmove(v + 1, v, 7 * sizeof(uint32_t));
                v[4] += t1;
                v[0] = t1 + t2;
        }
        for (int i = 0; i < 8; i++)
                h[i] += v[i];
}

/* ---- SHA-512 / SHA-384 ---- */

static const uint64_t sha512_k[80] = {
        0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
        0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
        0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
        0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
        0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
        0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
        0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
        0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
        0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
        0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
        0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
        0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
        0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
        0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
        0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
        0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
        0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
        0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
        0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
        0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

static void sha512_block(void *state, const uint8_t *b) {
        uint64_t *h = state, w[80], v[8];

        for (int i = 0; i < 16; i++)
                w[i] = load_be64(b + 8 * i);
        for (int i = 16; i < 80; i++) {
                uint64_t s0 = ROR64(w[i - 15], 1) ^ ROR64(w[i - 15], 8) ^ (w[i - 15] >> 7);
                uint64_t s1 = ROR64(w[i - 2], 19) ^ ROR64(w[i - 2], 61) ^ (w[i - 2] >> 6);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        memcpy(v, h, sizeof(v));
        for (int i = 0; i < 80; i++) {
                uint64_t S1 = ROR64(v[4], 14) ^ ROR64(v[4], 18) ^ ROR64(v[4], 41);
                uint64_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
                uint64_t t1 = v[7] + S1 + ch + sha512_k[i] + w[i];
                uint64_t S0 = ROR64(v[0], 28) ^ ROR64(v[0], 34) ^ ROR64(v[0], 39);
                uint64_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
                uint64_t t2 = S0 + maj;
                memmove(v + 1, v, 7 * sizeof(uint64_t));
                v[4] += t1;
                v[0] = t1 + t2;
        }
        for (int i = 0; i < 8; i++)
                h[i] += v[i];
}

/* ---- driver ---- */

typedef struct HashInfo {
        const char *name;
        size_t block;         /* 64 or 128 bytes */
        size_t digest;        /* bytes of output */
        bool little_endian;   /* MD5 */
        size_t word;          /* 4 or 8 bytes per state word */
        void (*block_fn)(void *state, const uint8_t *b);
        uint64_t iv[8];
} HashInfo;

static const HashInfo hash_table[] = {
        [HASH_MD5] = { "MD5", 64, 16, true, 4, md5_block,
                           { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 } },
        [HASH_SHA1] = { "SHA-1", 64, 20, false, 4, sha1_block,
                            { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 } },
        [HASH_SHA256] = { "SHA-256", 64, 32, false, 4, sha256_block,
                              { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 } },
        [HASH_SHA384] = { "SHA-384", 128, 48, false, 8, sha512_block,
                              { 0xcbbb9d5dc1059ed8ULL, 0x629a292a367cd507ULL, 0x9159015a3070dd17ULL,
                                0x152fecd8f70e5939ULL, 0x67332667ffc00b31ULL, 0x8eb44a8768581511ULL,
                                0xdb0c2e0d64f98fa7ULL, 0x47b5481dbefa4fa4ULL } },
        [HASH_SHA512] = { "SHA-512", 128, 64, false, 8, sha512_block,
                              { 0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
                                0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                                0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL } },
};

int hash_from_name(const char *name, HashAlgorithm *ret) {
        if (!name)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(hash_table) / sizeof(hash_table[0]); i++)
                if (strcmp(hash_table[i].name, name) == 0) {
                        *ret = (HashAlgorithm) i;
                        return 0;
                }
        return -EINVAL;
}

/* A digest in progress: whole blocks go straight to the block function, the
 * rest waits in buf. */
typedef struct HashCtx {
        const HashInfo *h;
        uint32_t s32[8];
        uint64_t s64[8];
        uint8_t buf[128];
        size_t buf_n;
        uint64_t total;         /* bytes fed */
} HashCtx;

static void *ctx_state(HashCtx *c) {
        return c->h->word == 4 ? (void *) c->s32 : (void *) c->s64;
}

static void ctx_init(HashCtx *c, HashAlgorithm alg) {
        *c = (HashCtx) { .h = &hash_table[alg] };
        for (int i = 0; i < 8; i++) {
                c->s32[i] = (uint32_t) c->h->iv[i];
                c->s64[i] = c->h->iv[i];
        }
}

static void ctx_update(HashCtx *c, const void *data, size_t n) {
        const uint8_t *p = data;
        size_t block = c->h->block;

        c->total += n;
        if (c->buf_n > 0) {
                size_t take = block - c->buf_n < n ? block - c->buf_n : n;

                memcpy(c->buf + c->buf_n, p, take);
                c->buf_n += take;
                p += take;
                n -= take;
                if (c->buf_n < block)
                        return;
                c->h->block_fn(ctx_state(c), c->buf);
                c->buf_n = 0;
        }
        while (n >= block) {
                c->h->block_fn(ctx_state(c), p);
                p += block;
                n -= block;
        }
        if (n > 0)
                memcpy(c->buf, p, n);
        c->buf_n = n;
}

static size_t ctx_final(HashCtx *c, uint8_t *ret) {
        const HashInfo *h = c->h;
        uint8_t tail[256];
        size_t tail_n, len_bytes = h->block == 128 ? 16 : 8;
        uint64_t bits = c->total * 8;

        /* Pad: 0x80, zeros, then the length in bits. */
        memset(tail, 0, sizeof(tail));
        memcpy(tail, c->buf, c->buf_n);
        tail[c->buf_n] = 0x80;
        tail_n = c->buf_n + 1 + len_bytes <= h->block ? h->block : 2 * h->block;
        for (int i = 0; i < 8; i++) {
                uint8_t byte = (uint8_t) (bits >> (8 * i));
                if (h->little_endian)
                        tail[tail_n - len_bytes + (size_t) i] = byte;
                else
                        tail[tail_n - 1 - (size_t) i] = byte;
        }
        for (size_t off = 0; off < tail_n; off += h->block)
                h->block_fn(ctx_state(c), tail + off);

        for (size_t i = 0; i < h->digest; i++) {
                if (h->word == 4) {
                        uint32_t w = c->s32[i / 4];
                        ret[i] = h->little_endian ? (uint8_t) (w >> (8 * (i % 4)))
                                                  : (uint8_t) (w >> (8 * (3 - i % 4)));
                } else
                        ret[i] = (uint8_t) (c->s64[i / 8] >> (8 * (7 - i % 8)));
        }
        return h->digest;
}

size_t hash_digest(HashAlgorithm alg, const void *data, size_t n, uint8_t *ret) {
        HashCtx c;

        ctx_init(&c, alg);
        ctx_update(&c, data, n);
        return ctx_final(&c, ret);
}

size_t hash_hmac(HashAlgorithm alg, const void *key, size_t key_len, const void *data, size_t n,
                 uint8_t *ret) {
        const HashInfo *h = &hash_table[alg];
        uint8_t k[128] = {}, pad[128], inner[HASH_DIGEST_MAX];
        HashCtx c;

        /* RFC 2104: a key longer than a block is hashed first. */
        if (key_len > h->block)
                hash_digest(alg, key, key_len, k);
        else if (key_len > 0)
                memcpy(k, key, key_len);

        for (size_t i = 0; i < h->block; i++)
                pad[i] = k[i] ^ 0x36;
        ctx_init(&c, alg);
        ctx_update(&c, pad, h->block);
        ctx_update(&c, data, n);
        ctx_final(&c, inner);

        for (size_t i = 0; i < h->block; i++)
                pad[i] = k[i] ^ 0x5c;
        ctx_init(&c, alg);
        ctx_update(&c, pad, h->block);
        ctx_update(&c, inner, h->digest);
        return ctx_final(&c, ret);
}

bool hash_equal(const void *a, const void *b, size_t n) {
        const volatile uint8_t *x = a, *y = b;
        uint8_t d = 0;

        for (size_t i = 0; i < n; i++)
                d |= x[i] ^ y[i];
        return d == 0;
}

void hash_hex(HashAlgorithm alg, const void *data, size_t n, char *ret_hex) {
        uint8_t d[HASH_DIGEST_MAX];

        format_hex(d, hash_digest(alg, data, n, d), ret_hex);
}
