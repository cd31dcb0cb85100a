/* SPDX-License-Identifier: MIT */

/*
 * The ICC profile description reader (see inspect-icc.h).
 *
 * Layout (ICC.1:2010, 7.2 and 7.3): a 128-byte header, then the tag count
 * (uint32 big-endian) and 12-byte tag entries {signature, offset, size}; a
 * 'desc' element is {'desc', 4 reserved, uint32 ASCII length, ASCII...}, an
 * 'mluc' element {'mluc', 4 reserved, uint32 records, uint32 record size,
 * records of {language, country, uint32 length, uint32 offset}}, the
 * record's offset counted from the element's start.
 */

#include "inspect-icc.h"

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

json_t *icc_description(const uint8_t *d, size_t n) {
        char out[256];
        size_t count, o = 0;

        if (!d || n < 132)
                return NULL;
        count = be32(d + 128);
        for (size_t i = 0; i < count && i < 256; i++) {
                size_t e = 132 + 12 * i, toff, tsz;
                uint32_t type;

                if (e + 12 > n)
                        return NULL;
                if (be32(d + e) != 0x64657363) /* 'desc' */
                        continue;
                toff = be32(d + e + 4);
                tsz = be32(d + e + 8);
                if (toff > n || tsz > n - toff || tsz < 16)
                        return NULL;
                type = be32(d + toff);
                if (type == 0x64657363) { /* 'desc': uint32 length + ASCII */
                        size_t len = be32(d + toff + 8);
                        if (len > tsz - 12)
                                len = tsz - 12;
                        for (size_t k = 0; k < len && o < sizeof(out) - 1 && d[toff + 12 + k]; k++) {
                                uint8_t c = d[toff + 12 + k];
                                out[o++] = c >= 32 && c < 127 ? (char) c : '?';
                        }
                } else if (type == 0x6d6c7563) { /* 'mluc': records of UTF-16BE */
                        size_t slen, soff;
                        if (be32(d + toff + 8) < 1 || tsz < 28)
                                return NULL;
                        slen = be32(d + toff + 16 + 4);
                        soff = be32(d + toff + 16 + 8);
                        if (soff > tsz || slen > tsz - soff)
                                return NULL;
                        for (size_t k = 0; k + 1 < slen && o < sizeof(out) - 1; k += 2) {
                                unsigned c = (unsigned) d[toff + soff + k] << 8 | d[toff + soff + k + 1];
                                if (!c)
                                        break;
                                out[o++] = c >= 32 && c < 127 ? (char) c : '?';
                        }
                } else
                        return NULL;
                return json_stringn(out, o);
        }
        return NULL;
}
