/* SPDX-License-Identifier: MIT */
/* Tests of daemon/sha1 against the FIPS 180 test vectors and the SHA1 that
 * Redis computes for a script (SCRIPT LOAD "return 1"). */

#include "sha1.h"
#include "test.h"

TEST(vectors) {
        char hex[41];

        sha1_hex("", 0, hex);
        ASSERT_STR_EQ(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        sha1_hex("abc", 3, hex);
        ASSERT_STR_EQ(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
        const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        sha1_hex(s, strlen(s), hex);
        ASSERT_STR_EQ(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        /* Redis: SCRIPT LOAD "return 1" */
        sha1_hex("return 1", 8, hex);
        ASSERT_STR_EQ(hex, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST(million_a_incremental) {
        Sha1 s;
        uint8_t d[20];
        char chunk[1000];
        static const uint8_t expect[20] = {
                0x34, 0xaa, 0x97, 0x3c, 0xd4, 0xc4, 0xda, 0xa4, 0xf6, 0x1e,
                0xeb, 0x2b, 0xdb, 0xad, 0x27, 0x31, 0x65, 0x34, 0x01, 0x6f,
        };

        memset(chunk, 'a', sizeof(chunk));
        sha1_init(&s);
        /* uneven chunk sizes cross the 64-byte block boundary everywhere */
        for (size_t left = 1000000, k = 1; left > 0; k = k % 997 + 1) {
                size_t n = k < left ? k : left;
                sha1_update(&s, chunk, n);
                left -= n;
        }
        sha1_final(&s, d);
        ASSERT_TRUE(memcmp(d, expect, 20) == 0);
}
