/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Timers of the coordinator (coordinator-timers.c): every [coordinator]
 * timer_interval the due members of imgflow:timers are claimed with a
 * lease, TimerFired is produced to the events topic keyed by the execution
 * id, and the claim is removed once the broker acknowledged it; expired
 * leases are reclaimed periodically (a coordinator killed after claiming
 * loses nothing).
 */

#include "coordinator-manager.h"

#define TIMER_LEASE_MS 30000
#define RECLAIM_USEC (5 * 1000 * 1000)
/* After a partition assignment, two reclaims (at once and this much later)
 * of the leases taken more than this long ago: a coordinator SIGKILLed between its claim and
 * the broker's acknowledgement (often enough, with Wait states firing every
 * second) would otherwise hold its timers for TIMER_LEASE_MS (seen: 30.9 s
 * of stall in tests/integration/chaos/failover.py). */
#define RECLAIM_CATCHUP_MS 1000

/* The claim and reclaim timers. */
int timers_start(Manager *m);
/* The delivery report of a TimerFired (member borrowed). */
void timers_delivered(Manager *m, const char *member, int error, const char *errstr);
void timers_stop(Manager *m);
/* The partitions changed hands: reclaim leases older than
 * RECLAIM_CATCHUP_MS now and RECLAIM_CATCHUP_MS from now. A live peer's
 * claim so reclaimed fires twice; the engine drops the second. */
void timers_reclaim_catchup(Manager *m);
