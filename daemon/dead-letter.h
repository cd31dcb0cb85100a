/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The dead-letter publisher of both daemons. A consumed message that cannot
 * be handled (undecodable, not for this daemon, refused) goes to
 * <prefix>dlq in a DeadLetter envelope (proto_encode_dead_letter(): the
 * reason, where it came from, its key and payload), keyed by its original
 * key (cut at a NUL byte), as docs/messages.md says. Its offset is done
 * only once the broker acknowledged the dead letter, so a dead letter is
 * never lost before the message it replaces is committed.
 *
 * A produce or a delivery that failed for a reason that may pass (the
 * local queue full, a broker away, a timeout) is tried again after
 * DEAD_LETTER_RETRY_USEC; one that cannot succeed (too large, no such
 * topic) is logged and the offset is done anyway, so one poison message
 * never holds back its partition's commits. Once the daemon drains
 * (SIGTERM) there are no more retries, and a letter lost then leaves its
 * offset unfinished: the message is read again after the restart.
 *
 * Delivery reports: the publisher produces with its own msg_opaque; the
 * daemon's delivery callback hands every report to
 * dead_letters_delivered() first, which takes the ones for <prefix>dlq.
 * Nothing else a daemon produces goes to that topic (the coordinator
 * produces tasks, notifications and timer events; the worker's notify
 * operation refuses imgflow's own topics), so the topic says whose report
 * it is.
 *
 * One object per daemon, on its event loop; not thread-safe.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "kafka.h"
#include "metrics.h"

#define DEAD_LETTER_RETRY_USEC (1000 * 1000)

typedef struct DeadLetters DeadLetters;

/* topic: <prefix>dlq (copied). e, producer and consumer are borrowed and
 * must outlive the publisher (free it first). */
int dead_letters_new(sd_event *e, KafkaProducer *producer, KafkaConsumer *consumer, const char *topic,
                     DeadLetters **ret);
/* Letters still in flight are forgotten: their offsets stay unfinished.
 * Accepts NULL; returns NULL. */
DeadLetters *dead_letters_free(DeadLetters *d);

/* A counter to increment for every dead letter the broker acknowledged
 * (borrowed; NULL = none). */
void dead_letters_set_metric(DeadLetters *d, Metric *counter);

/* Send km (borrowed; its offset in flight in the consumer) to the dead
 * letters, because of `reason`. Logged. When no letter can be built or
 * produced for good, km's offset is done at once. */
void dead_letters_publish(DeadLetters *d, const KafkaMessage *km, const char *reason);

/* The producer's delivery report (arguments as KafkaDeliveryFn's): true
 * when it was a dead letter's (handled here), false for the daemon's own. */
bool dead_letters_delivered(DeadLetters *d, const char *topic, void *msg_opaque, int error,
                            const char *errstr);

/* The daemon stops: no more retries; letters waiting for one are dropped,
 * their offsets unfinished. */
void dead_letters_drain(DeadLetters *d);

/* Letters produced or waiting for a retry, not yet finished. */
size_t dead_letters_pending(const DeadLetters *d);
/* Dead letters the broker acknowledged. */
uint64_t dead_letters_count(const DeadLetters *d);
