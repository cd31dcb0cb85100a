/* SPDX-License-Identifier: MIT */
/* Hex, UUIDs and counts as text; see format.h. */

#include <inttypes.h>
#include <stdio.h>

#include "format.h"

static const char hex_digits[] = "0123456789abcdef";

char *format_hex(const void *p, size_t n, char *ret) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                ret[2 * i] = hex_digits[b[i] >> 4];
                ret[2 * i + 1] = hex_digits[b[i] & 15];
        }
        ret[2 * n] = '\0';
        return ret;
}

void uuid_set_version(uint8_t b[16], unsigned version) {
        b[6] = (uint8_t) ((b[6] & 0x0f) | ((version & 0x0f) << 4));
        b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
}

char *format_uuid(const uint8_t b[16], char ret[static FORMAT_UUID_MAX]) {
        char *o = ret;

        for (size_t i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *o++ = '-';
                *o++ = hex_digits[b[i] >> 4];
                *o++ = hex_digits[b[i] & 15];
        }
        *o = '\0';
        return ret;
}

const char *format_count(uint64_t n, char ret[static FORMAT_COUNT_MAX]) {
        char digits[24];
        int len = snprintf(digits, sizeof digits, "%" PRIu64, n);
        size_t k = 0;

        for (int i = 0; i < len; i++) {
                if (i > 0 && (len - i) % 3 == 0)
                        ret[k++] = ',';
                ret[k++] = digits[i];
        }
        ret[k] = '\0';
        return ret;
}

size_t format_base64(const void *p, size_t n, char *ret) {
        static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const uint8_t *b = p;
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) b[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t) b[i + 1] << 8;
                if (i + 2 < n)
                        v |= b[i + 2];
                ret[o++] = digits[(v >> 18) & 63];
                ret[o++] = digits[(v >> 12) & 63];
                ret[o++] = i + 1 < n ? digits[(v >> 6) & 63] : '=';
                ret[o++] = i + 2 < n ? digits[v & 63] : '=';
        }
        ret[o] = '\0';
        return o;
}
