/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Offset tracker: which offsets of each (topic, partition) are in flight,
 * so a consumer that finishes messages out of order (a worker's thread
 * pool) commits only up to the lowest unfinished one. At-least-once without
 * head-of-line blocking: a slow message holds back the commit, never the
 * processing of the messages behind it.
 *
 *   offsets_begin(t, "imgflow.tasks", 3, 10);
 *   offsets_begin(t, "imgflow.tasks", 3, 11);
 *   offsets_done(t, "imgflow.tasks", 3, 11, &c);  -> 0 (10 still running)
 *   offsets_done(t, "imgflow.tasks", 3, 10, &c);  -> 1, c = 12
 *
 * The committed value is Kafka's: the offset of the next message to consume.
 * Offsets need not be contiguous (compaction, transaction markers). Not
 * thread-safe: use it from the event-loop thread.
 */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Limits (STYLE 12). */
#define OFFSETS_PARTITIONS_MAX 65536       /* tracked (topic, partition) pairs */
#define OFFSETS_IN_FLIGHT_MAX (1024 * 1024) /* in-flight offsets per partition */

typedef struct OffsetTracker OffsetTracker;

int offsets_new(OffsetTracker **ret);
/* Accepts NULL; returns NULL. */
OffsetTracker *offsets_free(OffsetTracker *t);
static inline void offsets_freep(OffsetTracker **t) {
        offsets_free(*t);
}

/* A message was received and is now in flight. topic is copied.
 * Returns 0, -EEXIST if that offset is already in flight, -EINVAL for a
 * negative offset or partition, -E2BIG past the limits, -ENOMEM. */
int offsets_begin(OffsetTracker *t, const char *topic, int32_t partition, int64_t offset);

/*
 * The message is finished (succeeded, failed, or sent to the DLQ). Returns
 * 1 and stores in *ret_commit (if not NULL) the offset to commit when the
 * committable offset advanced, 0 when it did not (a lower offset is still in
 * flight), -ENOENT when the offset is not in flight (for instance its
 * partition was revoked and forgotten meanwhile: do not commit).
 */
int offsets_done(OffsetTracker *t, const char *topic, int32_t partition, int64_t offset,
                 int64_t *ret_commit);

/* Forget a partition (revoked or lost); later offsets_done() on it -> -ENOENT. */
void offsets_forget(OffsetTracker *t, const char *topic, int32_t partition);
/* Forget all partitions. */
void offsets_clear(OffsetTracker *t);

/* In-flight count of one partition / of all partitions. */
size_t offsets_in_flight(const OffsetTracker *t, const char *topic, int32_t partition);
size_t offsets_in_flight_total(const OffsetTracker *t);

/* The offset that may be committed for the partition now (lowest in flight,
 * or one past the highest finished); -ENOENT if nothing was tracked since
 * the partition was assigned/forgotten. */
int offsets_committable(const OffsetTracker *t, const char *topic, int32_t partition,
                        int64_t *ret_commit);
