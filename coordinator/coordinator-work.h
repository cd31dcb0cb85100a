/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A consumed message's way through the coordinator (coordinator-work.c):
 *
 *   work_on_message()  decode (undecodable -> <prefix>dlq); a Work per
 *                      message; SendTask* first look their token up
 *                      (token -> execution id, task id)
 *   exec queue         per execution at most one Work is applied at a time;
 *                      the rest wait in memory (bounded: the consumer is
 *                      paused when too many messages are in flight)
 *   work_run()         StartExecution: resolve the definition (cached per
 *                      name:version) and apply_start(); other events: HMGET
 *                      the document (or take it from the state cache) and
 *                      apply_event()
 *   commit             one Lua script, a compare-and-set on the version; on
 *                      conflict the document is reloaded and the event
 *                      applied again (stale events change nothing)
 *   respond            the answer to a request with a requestId
 *   finish             the message's offset is done (Kafka commits up to
 *                      the lowest unfinished one) and the next Work of the
 *                      execution runs
 */

#include "coordinator-manager.h"
#include "kafka.h"

/* The consumer's message callback (userdata: the Manager). */
int work_on_message(KafkaConsumer *k, const KafkaMessage *km, void *userdata);

/* An event made here (an EXPRESS execution's timer): decoded like a
 * consumed message, queued with the execution's others, no offset. */
void work_internal(Manager *m, const char *payload, size_t len);

/* The destroy function of Manager.queues' values. */
void exec_queue_free(void *p);
/* Drop the empty queues (they are left in the table when they empty). */
void exec_queues_sweep(Manager *m);
/* Teardown: free the Works still queued (after a shutdown timeout). */
void exec_queues_free_works(Manager *m);

/* An EXPRESS execution ended or all were dropped (all = true): the EXPRESS
 * starts parked past [coordinator] express_max_in_flight run again, one
 * per free place (all of them when all), on the next turn of the loop. */
void work_express_unpark(Manager *m, bool all);
