/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "test.h"
#include "asl-util.h"

TEST(timestamp_roundtrip) {
        int64_t ms;
        char buf[64];

        ASSERT_INT_EQ(asl_parse_timestamp("2016-03-14T01:59:00Z", &ms), 0);
        ASSERT_INT_EQ(ms, 1457920740000LL);
        asl_format_timestamp(ms, buf, sizeof buf);
        ASSERT_STR_EQ(buf, "2016-03-14T01:59:00.000Z");
        ASSERT_INT_EQ(asl_parse_timestamp("2016-03-14T03:59:00.5+02:00", &ms), 0);
        ASSERT_INT_EQ(ms, 1457920740500LL);
        ASSERT_INT_EQ(asl_parse_timestamp("2016-02-30T01:59:00Z", &ms), -EINVAL);
        ASSERT_INT_EQ(asl_parse_timestamp("2016-03-14 01:59:00Z", &ms), -EINVAL);
        ASSERT_INT_EQ(asl_parse_timestamp("2016-03-14T01:59:00", &ms), -EINVAL);
        ASSERT_INT_EQ(asl_parse_timestamp("", &ms), -EINVAL);
}

/* The hand-made formatter against gmtime_r over many instants, leap days,
 * the epoch, negative times and the year 9999. */
TEST(timestamp_format_matches_gmtime) {
        const int64_t fixed[] = { 0, -1, -999, -1000, -1001, 951782400000LL /* 2000-02-29 */,
                                  4107542399999LL /* 2100-02-28T23:59:59.999 */, 253402300799999LL,
                                  -62167219200000LL /* year 0 */, 1457920740123LL };
        uint64_t x = 88172645463325252ULL;
        char buf[64], want[64];

        for (size_t i = 0; i < ELEMENTSOF(fixed) + 200000; i++) {
                int64_t ms;
                if (i < ELEMENTSOF(fixed))
                        ms = fixed[i];
                else {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        ms = (int64_t) (x % 253402300800000ULL) - (i % 4 == 0 ? 62167219200000LL : 0);
                }
                time_t t = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
                struct tm tm;
                gmtime_r(&t, &tm);
                snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (int) (ms - (int64_t) t * 1000));
                asl_format_timestamp(ms, buf, sizeof buf);
                ASSERT_STR_EQ(buf, want);
        }
        asl_format_timestamp(0, buf, sizeof buf);
        ASSERT_STR_EQ(buf, "1970-01-01T00:00:00.000Z");
        asl_format_timestamp(-1, buf, sizeof buf);
        ASSERT_STR_EQ(buf, "1969-12-31T23:59:59.999Z");
}

TEST(pointer_escape) {
        char *p = asl_pointer_join("/States", "a/b~c");
        ASSERT_STR_EQ(p, "/States/a~1b~0c");
        free(p);
        p = asl_pointer_join_index("/States/X/Retry", 3);
        ASSERT_STR_EQ(p, "/States/X/Retry/3");
        free(p);
}

TEST(depth_and_size) {
        json_t *v = json_loads("{\"a\":[1,{\"b\":2}]}", 0, NULL);
        ASSERT_INT_EQ(json_depth(v, 64), 4);
        ASSERT_INT_EQ(json_writer_size(v), strlen("{\"a\":[1,{\"b\":2}]}"));
        json_decref(v);
}

TEST(error_value) {
        AslError e = {};
        ASSERT_INT_EQ(asl_error_set(&e, "States.Runtime", "bad %d", 7), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        ASSERT_STR_EQ(e.cause, "bad 7");
        asl_error_clear(&e);
        ASSERT_NULL(e.error);
}
