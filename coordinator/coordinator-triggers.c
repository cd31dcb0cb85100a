/* SPDX-License-Identifier: MIT */

/*
 * Notifications in, StartExecution jobs out (coordinator-triggers.h). A
 * message's jobs share one TriggerBatch that counts the deliveries still
 * outstanding; the last one finishes the notification's offset. A failed
 * delivery (librdkafka gave up after message.timeout.ms) is produced again.
 */

#include "coordinator-triggers.h"

#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "triggers.h"

typedef struct TriggerBatch {
        char *topic;
        int32_t partition;
        int64_t offset;
        unsigned left;
} TriggerBatch;

typedef struct AddCtx {
        Triggers *t;
        char *error;
} AddCtx;

static int add_rule(const char *key, const char *value, void *userdata) {
        AddCtx *a = userdata;
        return triggers_add_rule(a->t, key, value, &a->error);
}

static int add_alias(const char *key, const char *value, void *userdata) {
        AddCtx *a = userdata;
        /* archive = s3://acme-archive: events name acme-archive. */
        if (value && strncmp(value, "s3://", 5) == 0)
                return triggers_add_bucket_alias(a->t, value + 5, key);
        return 0;
}

static int triggers_from_config(const Config *c, Triggers **ret) {
        const char *keys = config_get_string(c, "coordinator", "s3_events_keys");
        AddCtx a = {};
        int r;

        if (!streq(keys, "encoded") && !streq(keys, "plain"))
                return log_error_errno(
                        -EINVAL, "coordinator.s3_events_keys must be encoded or plain, not \"%s\"", keys);
        (void) triggers_new(&a.t);
        triggers_set_plain_keys(a.t, streq(keys, "plain"));
        r = config_foreach_in_section(c, "triggers", add_rule, &a);
        if (r >= 0)
                r = config_foreach_in_section(c, "buckets", add_alias, &a);
        if (r < 0) {
                log_error_errno(r, "Invalid [triggers]: %s", a.error ? a.error : "bad rule");
                free(a.error);
                triggers_free(a.t);
                return r;
        }
        *ret = a.t;
        return 0;
}

int triggers_check_config(const Config *c) {
        Triggers *t = NULL;
        int r = triggers_from_config(c, &t);
        triggers_free(t);
        return r;
}

static int count_rule(const char *key, const char *value, void *userdata) {
        (*(size_t *) userdata)++;
        return 0;
}

int triggers_setup(Manager *m) {
        const char *topic = config_get_string(m->config, "coordinator", "s3_events_topic");
        int r;

        if (isempty(topic)) {
                size_t n = 0;
                (void) config_foreach_in_section(m->config, "triggers", count_rule, &n);
                if (n > 0)
                        log_warning("[triggers] has %zu rule(s) but coordinator.s3_events_topic is empty: "
                                    "none of them runs",
                                    n);
                return 0;
        }
        r = triggers_from_config(m->config, &m->triggers);
        if (r < 0)
                return r;
        m->topic_triggers = xstrdup(topic);
        log_info("Triggers: %zu rule(s) on the notifications of %s", triggers_n_rules(m->triggers), topic);
        return 0;
}

static void batch_done(Manager *m, TriggerBatch *b) {
        if (--b->left > 0)
                return;
        if (m->consumer)
                (void) kafka_consumer_done(m->consumer, b->topic, b->partition, b->offset);
        free(b->topic);
        free(b);
}

int triggers_on_message(Manager *m, const KafkaMessage *km) {
        _cleanup_free_ char *error = NULL;
        TriggerMatch match;
        TriggerBatch *b;
        int r;

        r = triggers_match(m->triggers, km->payload, km->len, &match, &error);
        if (r < 0) {
                _cleanup_free_ char *why = xasprintf("not an S3 event notification: %s", strempty(error));
                dead_letters_publish(m->dead_letters, km, why);
                return 0;
        }
        for (size_t i = 0; i < match.n_unmatched; i++)
                manager_count(m, COUNTER_TRIGGER_UNMATCHED);
        for (size_t i = 0; i < match.n_ignored; i++)
                manager_count(m, COUNTER_TRIGGER_IGNORED);

        b = xmalloc(sizeof *b);
        *b = (TriggerBatch){
                .topic = xstrdup(km->topic), .partition = km->partition, .offset = km->offset, .left = 1};
        for (size_t i = 0; i < match.n_starts; i++) {
                TriggerStart *s = &match.starts[i];
                ProtoStartExecution x = {
                        .state_machine = s->state_machine, .name = s->name, .input = s->input};
                _cleanup_free_ char *payload = NULL, *exec_id = store_exec_id(s->state_machine, s->name);
                size_t len;

                r = proto_encode_start_execution(&x, &m->limits, &payload, &len);
                if (r < 0 || !exec_id) {
                        log_warning("Trigger %s: cannot start %s for %s: %s", s->rule, s->name,
                                    json_string_value(json_object_get(s->input, "key")),
                                    r < 0 ? "the input is over the payload limit" : "invalid name");
                        continue;
                }
                log_struct_exec(LOG_INFO, exec_id, NULL, NULL, "Trigger %s: %s/%s starts %s", s->rule,
                                json_string_value(json_object_get(s->input, "bucket")),
                                json_string_value(json_object_get(s->input, "key")), exec_id);
                manager_count(m, COUNTER_TRIGGER_STARTS);
                Pending *pd = pending_new(PENDING_TRIGGER, payload, exec_id);
                pd->batch = b;
                b->left++;
                manager_produce(m, m->topic_jobs, exec_id, exec_id, payload, pd);
        }
        trigger_match_done(&match);
        batch_done(m, b); /* the message's own reference */
        return 0;
}

void triggers_delivered(Manager *m, Pending *pd, int error, const char *errstr) {
        TriggerBatch *b = pd->batch;

        if (error != 0 && !m->tearing_down) {
                log_struct_exec(LOG_WARNING, pd->b, NULL, NULL,
                                "Delivery of a triggered start to %s failed (%s); "
                                "sending it again",
                                m->topic_jobs, strempty(errstr));
                Pending *again = pending_new(PENDING_TRIGGER, pd->a, pd->b);
                again->batch = b;
                manager_produce(m, m->topic_jobs, pd->b, pd->b, pd->a, again);
                pending_free(pd);
                return;
        }
        batch_done(m, b);
        pending_free(pd);
}
