/* SPDX-License-Identifier: MIT */
/*
 * Timers (coordinator-timers.h): the claim runs every [coordinator]
 * timer_interval, at most one claim in flight, and again at once after a
 * full batch; TimerFired goes to the events topic keyed by the execution
 * id, so the coordinator that owns the execution applies it. A member that
 * names no execution is dropped from the claimed set.
 */

#include "clock.h"
#include "coordinator-timers.h"
#include "log.h"

static void on_claimed(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;
        _cleanup_json_ json_t *members = NULL;
        json_t *v;
        size_t i;

        m->claiming = false;
        if (!reply || store_timers_claim_parse(reply, &members) < 0)
                return;
        json_array_foreach (members, i, v) {
                _cleanup_free_ char *exec_id = NULL, *timer_id = NULL, *buf = NULL;
                size_t len;
                const char *member = json_string_value(v);

                if (store_timer_member_split(member, &exec_id, &timer_id) < 0) {
                        _cleanup_(store_argv_done) StoreArgv a = {};
                        store_timers_ack_argv(member, &a);
                        (void) manager_command(m, &a, NULL, NULL);
                        continue;
                }
                ProtoTimerFired t = {.execution_id = exec_id, .timer_id = timer_id};
                if (proto_encode_timer_fired(&t, &m->limits, &buf, &len) < 0)
                        continue;
                manager_produce(m, m->topic_events, exec_id, exec_id, buf,
                                pending_new(PENDING_TIMER, member, NULL));
        }
        /* A full batch: more may be due; claim again right away. */
        if (json_array_size(members) >= m->timer_batch && m->t_claim)
                (void) sd_event_source_set_time_relative(m->t_claim, 0);
}

static int on_claim_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_(store_call_done) StoreCall call = {};

        (void) sd_event_source_set_time_relative(s, (uint64_t) m->timer_interval_usec);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->stopping || m->claiming || !redis_conn_is_connected(m->redis))
                return 0;
        store_timers_claim_call(now_ms(CLOCK_REALTIME), TIMER_LEASE_MS, m->timer_batch, &call);
        if (manager_eval(m, &call, on_claimed, m) >= 0)
                m->claiming = true;
        return 0;
}

static int on_reclaim_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_(store_call_done) StoreCall call = {};
        int64_t now = now_ms(CLOCK_REALTIME), cutoff = now;

        /* A lease expires TIMER_LEASE_MS after its claim: a catch-up takes
         * those claimed more than RECLAIM_CATCHUP_MS ago. */
        if (m->reclaim_catchup > 0) {
                cutoff += TIMER_LEASE_MS - RECLAIM_CATCHUP_MS;
                m->reclaim_catchup--;
        }
        (void) sd_event_source_set_time_relative(s, m->reclaim_catchup > 0 ? RECLAIM_CATCHUP_MS * 1000
                                                                           : RECLAIM_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->stopping || !redis_conn_is_connected(m->redis))
                return 0;
        store_timers_reclaim_before_call(cutoff, now, 1000, &call);
        (void) manager_eval(m, &call, NULL, NULL);
        return 0;
}

void timers_delivered(Manager *m, const char *member, int error, const char *errstr) {
        _cleanup_(store_argv_done) StoreArgv a = {};

        if (error != 0) {
                log_warning("TimerFired delivery failed (%s); the lease will expire", errstr ?: "");
                return;
        }
        store_timers_ack_argv(member, &a);
        (void) manager_command(m, &a, NULL, NULL);
        manager_count(m, COUNTER_TIMERS);
}

int timers_start(Manager *m) {
        int r;

        r = sd_event_add_time_relative(m->event, &m->t_claim, CLOCK_MONOTONIC,
                                       (uint64_t) m->timer_interval_usec, 0, on_claim_timer, m);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &m->t_reclaim, CLOCK_MONOTONIC, RECLAIM_USEC, 0,
                                               on_reclaim_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the timer claim timers: %m");
        return 0;
}

void timers_reclaim_catchup(Manager *m) {
        if (!m->t_reclaim)
                return;
        m->reclaim_catchup = 2;
        (void) sd_event_source_set_time_relative(m->t_reclaim, 0);
        (void) sd_event_source_set_enabled(m->t_reclaim, SD_EVENT_ON);
}

void timers_stop(Manager *m) {
        m->t_claim = sd_event_source_disable_unref(m->t_claim);
        m->t_reclaim = sd_event_source_disable_unref(m->t_reclaim);
}
