/* SPDX-License-Identifier: MIT */
/* lib/parse: the value syntax of imgflow.conf (bool, int, duration, size). */

#include <stdint.h>

#include "parse.h"
#include "test.h"

TEST(parsers) {
        uint64_t u;
        int64_t i;
        bool b;

        ASSERT_INT_EQ(parse_duration_ms("500ms", &u), 0);
        ASSERT_INT_EQ(u, 500);
        ASSERT_INT_EQ(parse_duration_ms("30", &u), 0);
        ASSERT_INT_EQ(u, 30000);
        ASSERT_INT_EQ(parse_duration_ms("2m", &u), 0);
        ASSERT_INT_EQ(u, 120000);
        ASSERT_INT_EQ(parse_duration_ms("5min", &u), 0);
        ASSERT_INT_EQ(u, 300000);
        ASSERT_INT_EQ(parse_duration_ms("1d2h", &u), 0);
        ASSERT_INT_EQ(u, 26ULL * 3600 * 1000);
        ASSERT_INT_EQ(parse_duration_ms("1w", &u), 0);
        ASSERT_INT_EQ(u, 7ULL * 86400 * 1000);
        ASSERT_INT_EQ(parse_duration_ms("1s500ms", &u), 0);
        ASSERT_INT_EQ(u, 1500);
        ASSERT_TRUE(parse_duration_ms("", &u) < 0);
        ASSERT_TRUE(parse_duration_ms("s", &u) < 0);
        ASSERT_TRUE(parse_duration_ms("-1s", &u) < 0);
        ASSERT_TRUE(parse_duration_ms("1sec", &u) < 0);
        ASSERT_TRUE(parse_duration_ms("99999999999999999999999d", &u) < 0);

        ASSERT_INT_EQ(parse_size("0", &u), 0);
        ASSERT_INT_EQ(u, 0);
        ASSERT_INT_EQ(parse_size("256KiB", &u), 0);
        ASSERT_INT_EQ(u, 262144);
        ASSERT_INT_EQ(parse_size("1K", &u), 0);
        ASSERT_INT_EQ(u, 1024);
        ASSERT_INT_EQ(parse_size("1KB", &u), 0);
        ASSERT_INT_EQ(u, 1000);
        ASSERT_INT_EQ(parse_size("2 GiB", &u), 0);
        ASSERT_INT_EQ(u, 2ULL << 30);
        ASSERT_INT_EQ(parse_size("100B", &u), 0);
        ASSERT_INT_EQ(u, 100);
        ASSERT_TRUE(parse_size("1.5M", &u) < 0);
        ASSERT_TRUE(parse_size("-1", &u) < 0);
        ASSERT_TRUE(parse_size("99999999999TiB", &u) < 0);

        ASSERT_INT_EQ(parse_bool("On", &b), 0);
        ASSERT_TRUE(b);
        ASSERT_INT_EQ(parse_bool("no", &b), 0);
        ASSERT_FALSE(b);
        ASSERT_TRUE(parse_bool("2", &b) < 0);

        ASSERT_INT_EQ(parse_int("-42", &i), 0);
        ASSERT_INT_EQ(i, -42);
        ASSERT_TRUE(parse_int("4 2", &i) < 0);
        ASSERT_TRUE(parse_int("", &i) < 0);
}
