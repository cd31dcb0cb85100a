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

/* The claim and reclaim timers. */
int timers_start(Manager *m);
/* The delivery report of a TimerFired (member borrowed). */
void timers_delivered(Manager *m, const char *member, int error, const char *errstr);
void timers_stop(Manager *m);
