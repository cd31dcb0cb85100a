/* SPDX-License-Identifier: MIT */

/* Tests for coordinator/triggers.c: rules, S3 event records, derived names. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "test.h"
#include "triggers.h"

static Triggers *rules(void) {
        Triggers *t = NULL;
        char *err = NULL;

        ASSERT_INT_EQ(triggers_new(&t), 0);
        ASSERT_INT_EQ(triggers_add_rule(t, "jpegs",
                                        "bucket=photos prefix=raw/ suffix=.jpg state_machine=pipeline",
                                        &err),
                      0);
        ASSERT_INT_EQ(triggers_add_rule(t, "all-archive", "state_machine=archiver bucket=archive", &err), 0);
        ASSERT_INT_EQ(triggers_add_bucket_alias(t, "acme-archive", "archive"), 0);
        return t;
}

#define RECORD_FMT                                                                                          \
        "{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"eventName\":\"%s\","                        \
        "\"s3\":{\"bucket\":{\"name\":\"%s\"},\"object\":{\"key\":\"%s\",\"size\":%d,\"eTag\":\"%s\","      \
        "\"sequencer\":\"0055AED6DCD90281E5\"}}}"

static int match(Triggers *t, const char *event, const char *bucket, const char *key, const char *etag,
                 TriggerMatch *m) {
        char msg[4096], rec[2048];
        char *err = NULL;

        snprintf(rec, sizeof rec, RECORD_FMT, event, bucket, key, 1234, etag);
        snprintf(msg, sizeof msg, "{\"Records\":[%s]}", rec);
        int r = triggers_match(t, msg, strlen(msg), m, &err);
        if (r < 0)
                fprintf(stderr, "  %s\n", err);
        free(err);
        return r;
}

TEST(rules_are_checked) {
        Triggers *t = NULL;
        char *err = NULL;

        ASSERT_INT_EQ(triggers_new(&t), 0);
        ASSERT_INT_EQ(triggers_add_rule(t, "a", "bucket=photos", &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "state_machine="));
        free(err);
        ASSERT_INT_EQ(triggers_add_rule(t, "b", "bucket=photos state_machine=x colour=red", &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "colour"));
        free(err);
        ASSERT_INT_EQ(triggers_add_rule(t, "c", "bucket=a bucket=b state_machine=x", &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "repeated"));
        free(err);
        ASSERT_INT_EQ(triggers_n_rules(t), 0);
        for (int i = 0; i < TRIGGERS_RULES_MAX; i++)
                ASSERT_INT_EQ(triggers_add_rule(t, "r", "bucket=a state_machine=x", &err), 0);
        ASSERT_INT_EQ(triggers_add_rule(t, "r", "bucket=a state_machine=x", &err), -E2BIG);
        free(err);
        triggers_free(t);
}

TEST(matching_by_bucket_prefix_suffix) {
        Triggers *t = rules();
        TriggerMatch m;

        ASSERT_INT_EQ(match(t, "ObjectCreated:Put", "photos", "raw/cat.jpg",
                            "9b2cf535f27731c974343645a3985328", &m),
                      0);
        ASSERT_INT_EQ(m.n_starts, 1);
        ASSERT_STR_EQ(m.starts[0].state_machine, "pipeline");
        ASSERT_STR_EQ(m.starts[0].rule, "jpegs");
        ASSERT_JSON_EQ(m.starts[0].input, "{\"bucket\":\"photos\",\"key\":\"raw/cat.jpg\",\"size\":1234,"
                                          "\"eTag\":\"9b2cf535f27731c974343645a3985328\"}");
        trigger_match_done(&m);

        /* Wrong suffix, wrong prefix, other bucket: unmatched, counted. */
        ASSERT_INT_EQ(match(t, "ObjectCreated:Put", "photos", "raw/cat.png", "e", &m), 0);
        ASSERT_INT_EQ(m.n_starts, 0);
        ASSERT_INT_EQ(m.n_unmatched, 1);
        trigger_match_done(&m);
        ASSERT_INT_EQ(match(t, "ObjectCreated:Put", "photos", "processed/x/cat.jpg", "e", &m), 0);
        ASSERT_INT_EQ(m.n_unmatched, 1);
        trigger_match_done(&m);
        ASSERT_INT_EQ(match(t, "ObjectCreated:Put", "elsewhere", "raw/cat.jpg", "e", &m), 0);
        ASSERT_INT_EQ(m.n_unmatched, 1);
        trigger_match_done(&m);

        /* The service's bucket name maps to imgflow's ([buckets] archive = s3://acme-archive). */
        ASSERT_INT_EQ(match(t, "s3:ObjectCreated:CompleteMultipartUpload", "acme-archive", "x",
                            "\\\"abc-2\\\"", &m),
                      0);
        ASSERT_INT_EQ(m.n_starts, 1);
        ASSERT_STR_EQ(json_string_value(json_object_get(m.starts[0].input, "bucket")), "archive");
        ASSERT_STR_EQ(json_string_value(json_object_get(m.starts[0].input, "eTag")), "abc-2");
        trigger_match_done(&m);

        /* Removals are ignored, not unmatched. */
        ASSERT_INT_EQ(match(t, "ObjectRemoved:Delete", "photos", "raw/cat.jpg", "e", &m), 0);
        ASSERT_INT_EQ(m.n_starts, 0);
        ASSERT_INT_EQ(m.n_ignored, 1);
        ASSERT_INT_EQ(m.n_unmatched, 0);
        trigger_match_done(&m);
        triggers_free(t);
}

TEST(keys_are_url_decoded) {
        Triggers *t = rules();
        TriggerMatch m;
        char *k = NULL;
        size_t n;

        ASSERT_INT_EQ(match(t, "ObjectCreated:Put", "photos", "raw/my+cat%2B1%C3%A9.jpg", "e", &m), 0);
        ASSERT_INT_EQ(m.n_starts, 1);
        ASSERT_STR_EQ(json_string_value(json_object_get(m.starts[0].input, "key")),
                      "raw/my cat+1\xc3\xa9.jpg");
        trigger_match_done(&m);

        /* A store that writes keys as they are (coordinator.s3_events_keys = plain). */
        triggers_set_plain_keys(t, true);
        ASSERT_INT_EQ(match(t, "ObjectCreated:Put", "photos", "raw/a b+c%41.jpg", "e", &m), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(m.starts[0].input, "key")), "raw/a b+c%41.jpg");
        trigger_match_done(&m);
        triggers_set_plain_keys(t, false);

        ASSERT_INT_EQ(trigger_key_decode("a%2", &k, &n), -EINVAL);
        ASSERT_INT_EQ(trigger_key_decode("a%zz", &k, &n), -EINVAL);
        ASSERT_INT_EQ(trigger_key_decode("a%00b", &k, &n), -EINVAL);
        ASSERT_INT_EQ(match(t, "ObjectCreated:Put", "photos", "raw/%zz.jpg", "e", &m), -EBADMSG);
        /* Escapes that spell no UTF-8 (a lone continuation byte, an overlong
         * '/', a surrogate, a cut sequence): refused, not a crash. */
        static const char *const not_utf8[] = {"raw/%A9.jpg", "raw/%C0%AF.jpg", "raw/%ED%A0%80.jpg",
                                               "raw/%E2%82.jpg"};
        for (size_t i = 0; i < ELEMENTSOF(not_utf8); i++) {
                char *err = NULL, msg[512];
                snprintf(msg, sizeof msg, "{\"Records\":[" RECORD_FMT "]}", "ObjectCreated:Put", "photos",
                         not_utf8[i], 1, "e");
                ASSERT_INT_EQ(triggers_match(t, msg, strlen(msg), &m, &err), -EBADMSG);
                ASSERT_NOT_NULL(strstr(err, "not UTF-8"));
                free(err);
        }
        triggers_free(t);
}

TEST(names_are_derived_from_bucket_key_and_etag) {
        char a[TRIGGER_NAME_MAX + 1], b[TRIGGER_NAME_MAX + 1], c[TRIGGER_NAME_MAX + 1];
        char longkey[600];

        trigger_execution_name("photos", "raw/cat.jpg", 11, "etag1", a);
        trigger_execution_name("photos", "raw/cat.jpg", 11, "etag1", b);
        ASSERT_STR_EQ(a, b);
        ASSERT_TRUE(strncmp(a, "cat.jpg-", 8) == 0);
        ASSERT_INT_EQ(strlen(a), 8 + 20);
        /* A new upload (another eTag), another key or bucket: another name. */
        trigger_execution_name("photos", "raw/cat.jpg", 11, "etag2", c);
        ASSERT_TRUE(strcmp(a, c) != 0);
        trigger_execution_name("photos", "raw2/cat.jpg", 12, "etag1", c);
        ASSERT_TRUE(strcmp(a, c) != 0);
        trigger_execution_name("photo", "sraw/cat.jpg", 12, "etag1", c);
        ASSERT_TRUE(strcmp(a, c) != 0);

        /* Any key gives a valid Step Functions name. */
        memset(longkey, 'x', sizeof longkey);
        memcpy(longkey + 10, " {}:|<>$&,;\x01\xc3\xa9", 14);
        trigger_execution_name("b", longkey, sizeof longkey, "", c);
        ASSERT_TRUE(strlen(c) <= TRIGGER_NAME_MAX);
        for (const char *p = c; *p; p++)
                ASSERT_TRUE(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                                   *p) != NULL);
        trigger_execution_name("b", "dir/", 4, "", c);
        ASSERT_INT_EQ(strlen(c), 20);
}

TEST(messages_that_are_not_events) {
        Triggers *t = rules();
        TriggerMatch m;
        char *err = NULL;
        const char *test_event =
                "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"photos\"}";
        char big[20000];

        ASSERT_INT_EQ(triggers_match(t, test_event, strlen(test_event), &m, &err), 0);
        ASSERT_INT_EQ(m.n_ignored, 1);
        ASSERT_INT_EQ(m.n_starts, 0);
        trigger_match_done(&m);

        ASSERT_INT_EQ(triggers_match(t, "[1]", 3, &m, &err), -EBADMSG);
        free(err);
        ASSERT_INT_EQ(triggers_match(t, "{\"Records\":{}}", 14, &m, &err), -EBADMSG);
        free(err);
        ASSERT_INT_EQ(triggers_match(t, "{\"Records\":[{\"s3\":{}}]}", 23, &m, &err), -EBADMSG);
        free(err);
        const char *nokey = "{\"Records\":[{\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{"
                            "\"name\":\"photos\"}}}]}";
        ASSERT_INT_EQ(triggers_match(t, nokey, strlen(nokey), &m, &err), -EBADMSG);
        ASSERT_NOT_NULL(strstr(err, "Records[0]"));
        free(err);

        /* More records than TRIGGERS_RECORDS_MAX. */
        size_t n = (size_t) snprintf(big, sizeof big, "{\"Records\":[");
        for (int i = 0; i <= TRIGGERS_RECORDS_MAX; i++)
                n += (size_t) snprintf(big + n, sizeof big - n, "%s{\"eventName\":\"x\"}", i ? "," : "");
        snprintf(big + n, sizeof big - n, "]}");
        ASSERT_INT_EQ(triggers_match(t, big, strlen(big), &m, &err), -EBADMSG);
        free(err);
        triggers_free(t);
}
