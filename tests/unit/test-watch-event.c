/* SPDX-License-Identifier: MIT */

/* Tests for watch/watch-event.c: imgflow-watch's notifications read back by
 * the coordinator's triggers (the same format both ways), keys, the journal. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "test.h"
#include "triggers.h"
#include "watch-event.h"

TEST(event_round_trip_through_triggers) {
        const char *key = "raw/my cat+1%\xc3\xa9.jpg";
        _cleanup_free_ char *ev = watch_event_json("photos", key, 1234, "9b2cf535f27731c974343645a3985328",
                                                   1764896400123456789ull, 1764896401234);
        Triggers *t = NULL;
        TriggerMatch m;
        char *err = NULL, name[TRIGGER_NAME_MAX + 1];

        ASSERT_NOT_NULL(strstr(ev, "\"eventName\":\"ObjectCreated:Put\""));
        ASSERT_NOT_NULL(strstr(ev, "\"key\":\"raw/my+cat%2B1%25%C3%A9.jpg\""));
        ASSERT_NOT_NULL(strstr(ev, "\"eventTime\":\"2025-12-05T01:00:01.234Z\""));
        ASSERT_INT_EQ(triggers_new(&t), 0);
        ASSERT_INT_EQ(triggers_add_rule(t, "r", "bucket=photos prefix=raw/ state_machine=sm", &err), 0);
        ASSERT_INT_EQ(triggers_match(t, ev, strlen(ev), &m, &err), 0);
        ASSERT_INT_EQ(m.n_starts, 1);
        ASSERT_STR_EQ(json_string_value(json_object_get(m.starts[0].input, "key")), key);
        ASSERT_INT_EQ(json_integer_value(json_object_get(m.starts[0].input, "size")), 1234);
        trigger_execution_name("photos", key, strlen(key), "9b2cf535f27731c974343645a3985328", name);
        ASSERT_STR_EQ(m.starts[0].name, name);
        trigger_match_done(&m);
        triggers_free(t);
}

static char *sequencer_of(const char *ev) {
        json_t *j = json_loads(ev, 0, NULL);
        const char *seq = NULL;
        char *r;

        ASSERT_NOT_NULL(j);
        ASSERT_INT_EQ(json_unpack(j, "{s:[{s:{s:{s:s}}}]}", "Records", "s3", "object", "sequencer", &seq),
                      0);
        r = strdup(seq);
        json_decref(j);
        return r;
}

/* S3's sequencer: of two events of one key, the later one has the greater
 * hexadecimal value (S3 says to compare them as such, the shorter padded
 * with zeros on the left; ours are all of one length). */
TEST(sequencer_orders_the_events_of_a_key) {
        _cleanup_free_ char *e1 =
                watch_event_json("photos", "raw/a.jpg", 5000, "aa", 1764896400123456789ull, 1);
        _cleanup_free_ char *e2 =
                watch_event_json("photos", "raw/a.jpg", 10, "bb", 1764896400123456790ull, 2);
        _cleanup_free_ char *s1 = sequencer_of(e1), *s2 = sequencer_of(e2);

        ASSERT_INT_EQ(strlen(s1), strlen(s2));
        ASSERT_TRUE(strspn(s1, "0123456789ABCDEF") == strlen(s1));
        ASSERT_TRUE(strcmp(s2, s1) > 0);
}

TEST(journal_lines) {
        _cleanup_free_ char *line = watch_journal_line("a b/c\nd.jpg", 77, 123456789, "abc");
        char *key = NULL, *etag = NULL;
        uint64_t size, mtime;

        ASSERT_STR_EQ(line, "77 123456789 abc a+b/c%0Ad.jpg\n");
        line[strlen(line) - 1] = '\0';
        ASSERT_INT_EQ(watch_journal_parse(line, &key, &size, &mtime, &etag), 0);
        ASSERT_STR_EQ(key, "a b/c\nd.jpg");
        ASSERT_INT_EQ(size, 77);
        ASSERT_INT_EQ(mtime, 123456789);
        ASSERT_STR_EQ(etag, "abc");
        free(key);
        free(etag);
        /* A torn line. */
        ASSERT_INT_EQ(watch_journal_parse("77 1234", &key, &size, &mtime, &etag), -EINVAL);
        ASSERT_INT_EQ(watch_journal_parse("77 1234 abc a%2", &key, &size, &mtime, &etag), -EINVAL);
}

TEST(ignored_keys) {
        char *ignore[] = {"processed/", "tmp/", NULL};

        ASSERT_TRUE(watch_key_ignored("processed/x/Resize/raw/cat.1234abcd.jpg", ignore));
        ASSERT_TRUE(watch_key_ignored("tmp/a", ignore));
        ASSERT_TRUE(watch_key_ignored("raw/.cat.jpg.tmp-a1b2c3", ignore));
        ASSERT_FALSE(watch_key_ignored("raw/cat.jpg", ignore));
        ASSERT_FALSE(watch_key_ignored("raw/.hidden.jpg", ignore));
        ASSERT_FALSE(watch_key_ignored("processedx/a", ignore));
}
