/* SPDX-License-Identifier: MIT */
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
        ASSERT_INT_EQ(asl_json_depth(v, 64), 4);
        ASSERT_INT_EQ(asl_json_size(v), strlen("{\"a\":[1,{\"b\":2}]}"));
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
