/* SPDX-License-Identifier: MIT */
/* lib/format: hex, UUIDs and counts as text. */

#include <stdint.h>

#include "format.h"
#include "test.h"

TEST(hex) {
        static const uint8_t b[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
        char s[2 * sizeof b + 1];

        ASSERT_STR_EQ(format_hex(b, sizeof b, s), "00017f80abff");
        ASSERT_STR_EQ(format_hex(b, 0, s), "");
}

TEST(uuid) {
        uint8_t b[16];
        char s[FORMAT_UUID_MAX];

        for (size_t i = 0; i < sizeof b; i++)
                b[i] = (uint8_t) (0xf0 + i);
        ASSERT_STR_EQ(format_uuid(b, s), "f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff");
        uuid_set_version(b, 4);
        ASSERT_STR_EQ(format_uuid(b, s), "f0f1f2f3-f4f5-46f7-b8f9-fafbfcfdfeff");
        uuid_set_version(b, 5);
        ASSERT_STR_EQ(format_uuid(b, s), "f0f1f2f3-f4f5-56f7-b8f9-fafbfcfdfeff");
        memset(b, 0, sizeof b);
        uuid_set_version(b, 4);
        ASSERT_STR_EQ(format_uuid(b, s), "00000000-0000-4000-8000-000000000000");
}

TEST(count) {
        char s[FORMAT_COUNT_MAX];

        ASSERT_STR_EQ(format_count(0, s), "0");
        ASSERT_STR_EQ(format_count(999, s), "999");
        ASSERT_STR_EQ(format_count(1000, s), "1,000");
        ASSERT_STR_EQ(format_count(1204, s), "1,204");
        ASSERT_STR_EQ(format_count(123456789, s), "123,456,789");
        ASSERT_STR_EQ(format_count(UINT64_MAX, s), "18,446,744,073,709,551,615");
}
