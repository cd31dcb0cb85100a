/* SPDX-License-Identifier: MIT */

/*
 * Tests for worker/ops/inspect-icc.c: the description of ICC v2 ('desc') and
 * v4 ('mluc') profiles, and malformed profiles refused without reading past
 * their end (the buffers are exactly the profile's size, for ASan).
 */

#include <stdlib.h>
#include <string.h>

#include "inspect-icc.h"
#include "test.h"

typedef struct Buf {
        uint8_t *d;
        size_t n;
} Buf;

static void put32(uint8_t *p, uint32_t v) {
        p[0] = v >> 24;
        p[1] = v >> 16;
        p[2] = v >> 8;
        p[3] = v;
}

/* A profile with one tag `sig` whose element is el[0..el_n). */
static Buf profile(const char *sig, const uint8_t *el, size_t el_n) {
        size_t off = 128 + 4 + 12;
        Buf b = {calloc(1, off + el_n), off + el_n};

        ASSERT_NOT_NULL(b.d);
        put32(b.d, (uint32_t) b.n);
        memcpy(b.d + 36, "acsp", 4);
        put32(b.d + 128, 1);
        memcpy(b.d + 132, sig, 4);
        put32(b.d + 136, (uint32_t) off);
        put32(b.d + 140, (uint32_t) el_n);
        memcpy(b.d + off, el, el_n);
        return b;
}

static Buf desc_profile(const char *text) {
        uint8_t el[128] = {'d', 'e', 's', 'c'};
        size_t len = strlen(text) + 1;

        put32(el + 8, (uint32_t) len);
        memcpy(el + 12, text, len);
        return profile("desc", el, sizeof(el));
}

static Buf mluc_profile(const char *ascii) {
        uint8_t el[128] = {'m', 'l', 'u', 'c'};
        size_t n = strlen(ascii);

        put32(el + 8, 1);
        put32(el + 12, 12);
        memcpy(el + 16, "enUS", 4);
        put32(el + 20, (uint32_t) (2 * n));
        put32(el + 24, 28);
        for (size_t i = 0; i < n; i++)
                el[28 + 2 * i + 1] = (uint8_t) ascii[i];
        return profile("desc", el, 28 + 2 * n);
}

static void assert_desc(Buf b, const char *want) {
        json_t *d = icc_description(b.d, b.n);
        if (want) {
                ASSERT_NOT_NULL(d);
                ASSERT_STR_EQ(json_string_value(d), want);
        } else
                ASSERT_NULL(d);
        json_decref(d);
        free(b.d);
}

TEST(v2_desc_and_v4_mluc) {
        assert_desc(desc_profile("sRGB IEC61966-2.1"), "sRGB IEC61966-2.1");
        assert_desc(mluc_profile("Display P3"), "Display P3");
        /* Other characters than printable ASCII become '?'. */
        assert_desc(desc_profile("caf\xc3\xa9\tx"), "caf???x");
}

TEST(malformed_profiles_have_no_description) {
        Buf b = desc_profile("x");

        /* Too short for a tag table. */
        assert_desc((Buf){memcpy(malloc(131), b.d, 131), 131}, NULL);
        /* The tag's element runs past the end. */
        put32(b.d + 140, (uint32_t) (b.n - 144 + 1));
        assert_desc(b, NULL);
        /* An offset past the end. */
        b = desc_profile("x");
        put32(b.d + 136, (uint32_t) b.n + 1);
        assert_desc(b, NULL);
        /* A count of tags larger than the table. */
        b = desc_profile("x");
        put32(b.d + 128, 1000000);
        memcpy(b.d + 132, "wtpt", 4);
        assert_desc(b, NULL);
        /* An mluc record past its element. */
        b = mluc_profile("abc");
        put32(b.d + 144 + 24, 1000);
        assert_desc(b, NULL);
        /* A 'desc' tag of another type. */
        b = desc_profile("x");
        memcpy(b.d + 144, "text", 4);
        assert_desc(b, NULL);
        ASSERT_NULL(icc_description(NULL, 0));
}

TEST(a_long_description_is_cut_at_255) {
        char text[400];
        uint8_t el[420] = {'d', 'e', 's', 'c'};
        json_t *d;
        Buf b;

        memset(text, 'a', sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        put32(el + 8, sizeof(text));
        memcpy(el + 12, text, sizeof(text));
        b = profile("desc", el, sizeof(el));
        d = icc_description(b.d, b.n);
        ASSERT_NOT_NULL(d);
        ASSERT_INT_EQ(json_string_length(d), 255);
        json_decref(d);
        free(b.d);
}
