/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The outbox of the coordinator (coordinator-outbox.c). After a commit the
 * Task messages and notifications it stored are produced; each delivery
 * report deletes its item (many items in one call per loop iteration); a
 * sweeper sends again the items whose report never came (a coordinator
 * killed after its commit). The producer's delivery reports all come here:
 * dead letters go to the publisher (daemon/dead-letter.c), TimerFired
 * messages to coordinator-timers.c.
 */

#include "coordinator-manager.h"

#define OUTBOX_SWEEP_USEC (2 * 1000 * 1000)
#define OUTBOX_REDISPATCH_MS 10000
#define OUTBOX_ACK_BATCH_MAX 256 /* acked outbox items deleted in one call */
/* After a partition assignment (a peer may have died between its commit
 * and the broker's acknowledgement), two sweeps, at once and this much
 * later, of the items older than this: a killed coordinator's unsent tasks
 * move at the handover (or within this time of the kill, when the handover
 * came sooner), not OUTBOX_REDISPATCH_MS later. */
#define OUTBOX_CATCHUP_MS 1000

/* Produce the outbox of an accepted commit (c borrowed). */
void outbox_produce(Manager *m, const char *exec_id, const StoreCommit *c);
/* The producer's delivery callback (userdata: the Manager). */
void outbox_on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic,
                        int32_t partition, int64_t offset, void *msg_opaque, void *userdata);
/* The dead-letter publisher, the sweep timer and the ack source; after
 * the producer and the consumer exist. */
int outbox_start(Manager *m);
/* The partitions changed hands: sweep items older than OUTBOX_CATCHUP_MS
 * now and OUTBOX_CATCHUP_MS from now. */
void outbox_sweep_catchup(Manager *m);
/* No acked items waiting to be deleted, no deletion in flight, no dead
 * letter in flight. */
bool outbox_idle(const Manager *m);
/* Teardown, before the consumer and the producer go. */
void outbox_stop(Manager *m);
