/* SPDX-License-Identifier: MIT */
/*
 * The dead-letter publisher (dead-letter.h): one envelope per refused
 * message, its offset done once the broker has the envelope.
 */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dead-letter.h"
#include "log.h"
#include "proto.h"

typedef struct DeadLetter DeadLetter;

struct DeadLetter {
        DeadLetters *owner;
        char *src_topic; /* the message it replaces */
        int32_t partition;
        int64_t offset;
        char *key, *buf; /* what is produced */
        size_t len;
        sd_event_source *retry;
        DeadLetter *prev, *next;
};

struct DeadLetters {
        sd_event *event;
        KafkaProducer *producer;
        KafkaConsumer *consumer;
        char *topic;
        Metric *metric;
        DeadLetter *letters;
        size_t n_letters;
        uint64_t n_delivered;
        bool draining;
};

static void letter_free(DeadLetter *l) {
        DeadLetters *d = l->owner;

        if (l->prev)
                l->prev->next = l->next;
        else
                d->letters = l->next;
        if (l->next)
                l->next->prev = l->prev;
        d->n_letters--;
        sd_event_source_disable_unref(l->retry);
        free(l->src_topic);
        free(l->key);
        free(l->buf);
        free(l);
}

/* Finished: the original's offset is done (unless the letter was lost
 * while draining), and the letter goes. */
static void letter_finish(DeadLetter *l, bool done) {
        DeadLetters *d = l->owner;

        if (done && d->consumer) {
                int r = kafka_consumer_done(d->consumer, l->src_topic, l->partition, l->offset);
                if (r < 0 && r != -ENOENT)
                        log_warning_errno(r, "Failed to commit after a dead letter: %m");
        }
        letter_free(l);
}

/* Produce failures that no retry mends. */
static bool error_is_permanent(int error) {
        return error == -EMSGSIZE || error == -ENOENT || error == -EINVAL;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

/* Produce l again in DEAD_LETTER_RETRY_USEC. */
static int letter_retry_later(DeadLetter *l) {
        int r;

        if (l->retry) {
                r = sd_event_source_set_time_relative(l->retry, DEAD_LETTER_RETRY_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
                return r;
        }
        return sd_event_add_time_relative(l->owner->event, &l->retry, CLOCK_MONOTONIC,
                                          DEAD_LETTER_RETRY_USEC,
                                          /* accuracy= */ 0, on_retry, l);
}

/* Produce l: 0 when a delivery report will follow or a retry is armed,
 * else -errno (l not produced, nothing armed). */
static int letter_produce(DeadLetter *l) {
        DeadLetters *d = l->owner;
        int r;

        r = kafka_produce(d->producer, d->topic, l->key, l->buf, l->len, l);
        if (r >= 0 || error_is_permanent(r) || d->draining)
                return r;
        log_warning_errno(r, "Failed to produce a dead letter to %s, trying again in 1 s: %m", d->topic);
        return letter_retry_later(l);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        DeadLetter *l = userdata;
        int r = letter_produce(l);

        if (r < 0) {
                log_error_errno(r, "Dead letter for %s/%" PRIi32 "@%" PRIi64 " lost: %m", l->src_topic,
                                l->partition, l->offset);
                letter_finish(l, /* done= */ !l->owner->draining);
        }
        return 0;
}

int dead_letters_new(sd_event *e, KafkaProducer *producer, KafkaConsumer *consumer, const char *topic,
                     DeadLetters **ret) {
        DeadLetters *d = calloc(1, sizeof *d);

        if (!d)
                return -ENOMEM;
        *d = (DeadLetters){
                .event = e,
                .producer = producer,
                .consumer = consumer,
                .topic = strdup(topic),
        };
        if (!d->topic) {
                free(d);
                return -ENOMEM;
        }
        *ret = d;
        return 0;
}

DeadLetters *dead_letters_free(DeadLetters *d) {
        if (!d)
                return NULL;
        while (d->letters)
                letter_free(d->letters);
        free(d->topic);
        free(d);
        return NULL;
}

void dead_letters_set_metric(DeadLetters *d, Metric *counter) {
        d->metric = counter;
}

/* No letter for km (out of memory, the only way building one fails): its
 * offset is done, or it would hold back the partition's commits. */
static void log_oom_and_finish(DeadLetters *d, const KafkaMessage *km) {
        log_error_errno(-ENOMEM, "Failed to build a dead letter for %s/%" PRIi32 "@%" PRIi64 ": %m",
                        km->topic, km->partition, km->offset);
        if (d->consumer)
                (void) kafka_consumer_done(d->consumer, km->topic, km->partition, km->offset);
}

void dead_letters_publish(DeadLetters *d, const KafkaMessage *km, const char *reason) {
        _cleanup_free_ char *buf = NULL;
        DeadLetter *l;
        size_t len;
        int r;

        log_warning("Dead-lettering %s/%" PRIi32 "@%" PRIi64 ": %s", km->topic, km->partition, km->offset,
                    reason);
        r = proto_encode_dead_letter(reason, km->topic, km->partition, km->offset, km->key, km->key_len,
                                     km->payload, km->len, &buf, &len);
        if (r < 0) {
                log_oom_and_finish(d, km);
                return;
        }
        l = calloc(1, sizeof *l);
        if (!l) {
                log_oom_and_finish(d, km);
                return;
        }
        *l = (DeadLetter){
                .owner = d,
                .src_topic = strdup(km->topic),
                .partition = km->partition,
                .offset = km->offset,
                /* A key with a NUL byte is cut there. */
                .key = km->key ? strndup(km->key, km->key_len) : NULL,
                .buf = TAKE_PTR(buf),
                .len = len,
                .next = d->letters,
        };
        if (!l->src_topic || (km->key && !l->key)) {
                free(l->src_topic);
                free(l->key);
                free(l->buf);
                free(l);
                log_oom_and_finish(d, km);
                return;
        }
        if (d->letters)
                d->letters->prev = l;
        d->letters = l;
        d->n_letters++;
        r = letter_produce(l);
        if (r < 0) {
                log_error_errno(r, "Failed to produce a dead letter to %s: %m", d->topic);
                letter_finish(l, /* done= */ true);
        }
}

bool dead_letters_delivered(DeadLetters *d, const char *topic, void *msg_opaque, int error,
                            const char *errstr) {
        DeadLetter *l = msg_opaque;

        if (!d || !l || !topic || !streq(topic, d->topic))
                return false;
        if (error < 0 && !error_is_permanent(error) && !d->draining) {
                log_warning("Delivery of a dead letter to %s failed (%s), producing it again in 1 s.",
                            d->topic, errstr ?: "?");
                if (letter_retry_later(l) >= 0)
                        return true;
        }
        if (error < 0)
                log_error("Dead letter for %s/%" PRIi32 "@%" PRIi64 " lost: %s%s.", l->src_topic,
                          l->partition, l->offset, errstr ?: "?", d->draining ? "" : "; committing anyway");
        else {
                d->n_delivered++;
                if (d->metric)
                        (void) metric_counter_inc(d->metric, NULL);
        }
        letter_finish(l, /* done= */ error >= 0 || !d->draining);
        return true;
}

void dead_letters_drain(DeadLetters *d) {
        d->draining = true;
        for (DeadLetter *l = d->letters, *n; l; l = n) {
                n = l->next;
                if (l->retry && sd_event_source_get_enabled(l->retry, NULL) > 0)
                        letter_finish(l, /* done= */ false);
        }
}

size_t dead_letters_pending(const DeadLetters *d) {
        return d ? d->n_letters : 0;
}

uint64_t dead_letters_count(const DeadLetters *d) {
        return d ? d->n_delivered : 0;
}
