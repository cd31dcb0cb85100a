/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for S3 event notifications (coordinator/triggers.c), what
 * the coordinator reads from coordinator.s3_events_topic (written by an S3
 * service, imgflow-watch or anyone who may write that topic): any bytes as a
 * message, matched against fixed rules, with keys URL-encoded or plain (the
 * first byte says which). Invariants: a refusal has a message; what matches
 * is within the limits (at most TRIGGERS_RECORDS_MAX records, names valid
 * execution names, derived from the input's bucket, key and eTag, inputs
 * with a bucket and a key of at most TRIGGERS_KEY_MAX bytes); matching twice
 * gives the same; imgflow-watch's event of a matched object reads back as
 * the same start. Also imgflow-watch's journal line parser on the bytes.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "triggers.h"
#include "watch-event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Triggers *rules(bool plain) {
        Triggers *t = NULL;

        if (triggers_new(&t) < 0 ||
            triggers_add_rule(t, "a", "bucket=photos prefix=raw/ state_machine=sm", NULL) < 0 ||
            triggers_add_rule(t, "b", "bucket=photos suffix=.jpg state_machine=jpeg", NULL) < 0 ||
            triggers_add_rule(t, "c", "bucket=other state_machine=sm2", NULL) < 0 ||
            triggers_add_bucket_alias(t, "acme-photos", "photos") < 0)
                abort();
        triggers_set_plain_keys(t, plain);
        return t;
}

static void check_start(const TriggerStart *s) {
        const char *bucket = json_string_value(json_object_get(s->input, "bucket"));
        const char *key = json_string_value(json_object_get(s->input, "key"));
        const char *etag = json_string_value(json_object_get(s->input, "eTag"));
        size_t key_len = json_string_length(json_object_get(s->input, "key"));
        char name[TRIGGER_NAME_MAX + 1];

        if (!bucket || !key || key_len == 0 || key_len > TRIGGERS_KEY_MAX || !s->state_machine || !s->rule)
                abort();
        if (strlen(s->name) == 0 || strlen(s->name) > TRIGGER_NAME_MAX ||
            strspn(s->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                    strlen(s->name))
                abort();
        trigger_execution_name(bucket, key, key_len, etag ? etag : "", name);
        if (strcmp(name, s->name) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Triggers *encoded, *plain;
        TriggerMatch a, b;
        char *err = NULL;
        const Triggers *t;
        int ra, rb;

        if (size < 1)
                return 0;
        if (!encoded) {
                encoded = rules(false);
                plain = rules(true);
        }
        t = data[0] & 1 ? plain : encoded;
        data++;
        size--;

        ra = triggers_match(t, (const char *) data, size, &a, &err);
        if (ra < 0) {
                if (ra != -EBADMSG && ra != -ENOMEM)
                        abort();
                if (ra == -EBADMSG && (!err || !*err))
                        abort();
                free(err);
                return 0;
        }
        if (err)
                abort();
        if (a.n_created > TRIGGERS_RECORDS_MAX || a.n_unmatched > a.n_created)
                abort();
        rb = triggers_match(t, (const char *) data, size, &b, NULL);
        if (rb < 0 || b.n_starts != a.n_starts || b.n_unmatched != a.n_unmatched ||
            b.n_ignored != a.n_ignored)
                abort();
        for (size_t i = 0; i < a.n_starts; i++) {
                check_start(&a.starts[i]);
                if (strcmp(a.starts[i].name, b.starts[i].name) != 0 ||
                    !json_equal(a.starts[i].input, b.starts[i].input))
                        abort();
        }
        /* imgflow-watch's event of the first start's object (it writes keys
         * URL-encoded) reads back as a start of the same name. */
        if (a.n_starts > 0 && t == encoded) {
                const TriggerStart *s = &a.starts[0];
                const char *bucket = json_string_value(json_object_get(s->input, "bucket"));
                const char *key = json_string_value(json_object_get(s->input, "key"));
                const char *etag = json_string_value(json_object_get(s->input, "eTag"));
                char *ev = watch_event_json(bucket, key, 1, etag, 0, 0);
                TriggerMatch w;

                if (triggers_match(t, ev, strlen(ev), &w, NULL) < 0 || w.n_starts == 0 ||
                    strcmp(w.starts[0].name, s->name) != 0)
                        abort();
                trigger_match_done(&w);
                free(ev);
        }
        trigger_match_done(&a);
        trigger_match_done(&b);

        /* The journal line parser of imgflow-watch on the same bytes. */
        {
                char *line = strndup((const char *) data, size), *key = NULL, *etag = NULL;
                uint64_t sz, mt;
                if (!line)
                        return 0;
                if (watch_journal_parse(line, &key, &sz, &mt, &etag) == 0) {
                        char *again = watch_journal_line(key, sz, mt, etag);
                        char *k2 = NULL, *e2 = NULL;
                        uint64_t s2, m2;
                        again[strlen(again) - 1] = '\0';
                        if (watch_journal_parse(again, &k2, &s2, &m2, &e2) != 0 || strcmp(k2, key) != 0 ||
                            strcmp(e2, etag) != 0 || s2 != sz || m2 != mt)
                                abort();
                        free(again);
                        free(k2);
                        free(e2);
                }
                free(key);
                free(etag);
                free(line);
        }
        return 0;
}
