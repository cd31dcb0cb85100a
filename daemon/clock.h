/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The clocks of the daemons and the CLI: the one copy of now_usec() and
 * now_ms(). Reading a clock is I/O of a kind, so this lives in daemon/, never
 * in lib/ or coordinator/asl/ (the engine gets its time through AslEnv).
 *
 *   CLOCK_MONOTONIC  timeouts, latencies, deadlines
 *   CLOCK_REALTIME   timestamps that leave the process (history events,
 *                    startedAtMs, dispatchedAtMs, the engine's AslEnv.now_ms)
 */

#include <stdint.h>
#include <time.h>

static inline uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

static inline int64_t now_ms(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
