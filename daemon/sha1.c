/* SPDX-License-Identifier: MIT */
/* SHA-1 (FIPS 180-4), small and portable; see sha1.h. */

#include <string.h>

#include "sha1.h"

static uint32_t rol(uint32_t x, unsigned n) {
        return (x << n) | (x >> (32 - n));
}

static void sha1_block(Sha1 *s, const uint8_t b[64]) {
        uint32_t w[80], a, bb, c, d, e, t;

        for (int i = 0; i < 16; i++)
                w[i] = (uint32_t) b[4 * i] << 24 | (uint32_t) b[4 * i + 1] << 16 |
                       (uint32_t) b[4 * i + 2] << 8 | (uint32_t) b[4 * i + 3];
        for (int i = 16; i < 80; i++)
                w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);

        a = s->h[0], bb = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
        for (int i = 0; i < 80; i++) {
                uint32_t f, k;
                if (i < 20)
                        f = (bb & c) | (~bb & d), k = 0x5A827999;
                else if (i < 40)
                        f = bb ^ c ^ d, k = 0x6ED9EBA1;
                else if (i < 60)
                        f = (bb & c) | (bb & d) | (c & d), k = 0x8F1BBCDC;
                else
                        f = bb ^ c ^ d, k = 0xCA62C1D6;
                t = rol(a, 5) + f + e + k + w[i];
                e = d, d = c, c = rol(bb, 30), bb = a, a = t;
        }
        s->h[0] += a, s->h[1] += bb, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

void sha1_init(Sha1 *s) {
        *s = (Sha1) { .h = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 } };
}

void sha1_update(Sha1 *s, const void *data, size_t len) {
        const uint8_t *p = data;

        s->len += len;
        while (len > 0) {
                size_t n = 64 - s->buf_len;
                if (n > len)
                        n = len;
                memcpy(s->buf + s->buf_len, p, n);
                s->buf_len += n, p += n, len -= n;
                if (s->buf_len == 64) {
                        sha1_block(s, s->buf);
                        s->buf_len = 0;
                }
        }
}

void sha1_final(Sha1 *s, uint8_t ret[20]) {
        uint64_t bits = s->len * 8;
        uint8_t pad = 0x80, zero = 0, lenb[8];

        sha1_update(s, &pad, 1);
        while (s->buf_len != 56)
                sha1_update(s, &zero, 1);
        for (int i = 0; i < 8; i++)
                lenb[i] = (uint8_t) (bits >> (56 - 8 * i));
        sha1_update(s, lenb, 8);
        for (int i = 0; i < 5; i++) {
                ret[4 * i] = (uint8_t) (s->h[i] >> 24);
                ret[4 * i + 1] = (uint8_t) (s->h[i] >> 16);
                ret[4 * i + 2] = (uint8_t) (s->h[i] >> 8);
                ret[4 * i + 3] = (uint8_t) s->h[i];
        }
}

void sha1_hex(const void *data, size_t len, char ret[41]) {
        static const char hex[] = "0123456789abcdef";
        uint8_t d[20];
        Sha1 s;

        sha1_init(&s);
        sha1_update(&s, data, len);
        sha1_final(&s, d);
        for (int i = 0; i < 20; i++) {
                ret[2 * i] = hex[d[i] >> 4];
                ret[2 * i + 1] = hex[d[i] & 15];
        }
        ret[40] = '\0';
}
