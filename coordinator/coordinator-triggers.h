/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The coordinator's part of triggers (triggers.h): with
 * coordinator.s3_events_topic set, the coordinators' consumer group also
 * reads that topic, and every S3 event notification on it becomes a
 * StartExecution job per matching rule, produced to <prefix>jobs (keyed by
 * the execution id). The notification's offset is finished once the broker
 * has acknowledged every job it made, so a crash before that delivers it
 * again, and the derived names make the second start a no-op: each object
 * version starts one execution. Counted in
 * imgflow_coordinator_trigger_{starts,unmatched,ignored}_total.
 */

#include "coordinator-manager.h"

/* The rules, bucket aliases and topic from the configuration (logged when
 * refused). Returns 0 (m->triggers NULL when the topic is not set) or < 0. */
int triggers_setup(Manager *m);
/* A message of the notifications topic. */
int triggers_on_message(Manager *m, const KafkaMessage *km);
/* The delivery report of a job it produced (pd: PENDING_TRIGGER; freed). */
void triggers_delivered(Manager *m, Pending *pd, int error, const char *errstr);
/* --check-config: the same checks as triggers_setup(), without a Manager. */
int triggers_check_config(const Config *c);
