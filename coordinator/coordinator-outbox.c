/* SPDX-License-Identifier: MIT */
/*
 * The outbox (coordinator-outbox.h): a commit's messages are produced, and
 * the item of each message the broker acknowledged is deleted from Redis;
 * the deletions of one loop iteration go in one call (an sd-event defer
 * source of low priority, so that it runs after the iteration's other
 * events), or sooner at OUTBOX_ACK_BATCH_MAX items. The sweep sends again
 * the items of executions whose outbox is older than OUTBOX_REDISPATCH_MS,
 * and, right after each partition assignment and once more a little later,
 * those older than OUTBOX_CATCHUP_MS: a coordinator SIGKILLed between its commit and the
 * broker's acknowledgement leaves items that no delivery report will
 * delete, and its executions would otherwise wait 10 s more than the
 * handover (seen in tests/integration/chaos/failover.py: 10.8 s against
 * about 1 s). A message may so be produced twice; workers and the engine see the
 * duplicate as stale.
 *
 * Keys: a task message is keyed by "<execution id>/<task id>", so the
 * tasks of one execution (the branches of a Parallel, the items of a Map)
 * and the last executions of a batch spread over every partition of the
 * pool's topic, and so over its workers; keyed by the execution id, all of
 * an execution's tasks went to one worker, and at the end of a batch one
 * worker idled while the other finished (docs/benchmarks.md). Nothing on
 * the tasks topic needs the order of one execution: each task is answered
 * on its own, by task id. All other messages keep the execution id, so the
 * events of one execution still reach the one coordinator that owns it.
 * coordinator.task_key = execution keys tasks by the execution id again
 * (one worker reads every file of an execution: its page cache), for
 * comparison (tests/bench/bench-spread.sh).
 */

#include <assert.h>
#include <string.h>

#include "clock.h"
#include "coordinator-outbox.h"
#include "coordinator-triggers.h"
#include "coordinator-timers.h"
#include "log.h"

/* The Kafka key of an outbox item (see above): "<execution id>/<task id>"
 * for a task ("task:<id>", apply.c); "<kind>><key>" for a distributed Map's
 * messages about its children (apply.c): the child's id (its start, stop
 * and redrive) or the parent's (the child's end); else the execution id.
 * New string. */
static char *outbox_key(const Manager *m, const char *exec_id, const char *item_id) {
        static const char task_prefix[] = "task:";
        const char *gt = item_id ? strchr(item_id, '>') : NULL;

        if (gt && gt[1])
                return xstrdup(gt + 1);

        if (!m->task_key_execution && item_id &&
            strncmp(item_id, task_prefix, sizeof(task_prefix) - 1) == 0 && item_id[sizeof(task_prefix) - 1])
                return xasprintf("%s/%s", exec_id, item_id + sizeof(task_prefix) - 1);
        return xstrdup(exec_id);
}

void outbox_produce(Manager *m, const char *exec_id, const StoreCommit *c) {
        STORE_COMMIT_OUTBOX_FOREACH(c, e) {
                if (e->note.task_id)
                        manager_note_dispatch(m, exec_id, e);
                _cleanup_free_ char *key = outbox_key(m, exec_id, e->item_id);

                manager_produce(m, e->topic, key, exec_id, e->payload,
                                pending_new(PENDING_OUTBOX, exec_id, e->item_id));
        }
}

static void on_acked(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;

        assert(m->acks_in_flight > 0);
        m->acks_in_flight--;
        /* Not deleted (Redis away): the sweeper sends the items again. */
        if (reply && reply->type == REDIS_REPLY_ERROR)
                log_warning("outbox_ack failed: %s", reply->str);
}

static void acks_flush(Manager *m) {
        if (store_outbox_ack_count(&m->acks) == 0)
                return;
        if (manager_eval(m, &m->acks, on_acked, m) >= 0)
                m->acks_in_flight++;
        /* The vectors keep their room for the next batch: growing them
         * again each time went through realloc()'s slow path. */
        store_call_clear(&m->acks);
        (void) sd_event_source_set_enabled(m->ack_flush, SD_EVENT_OFF);
}

static int on_ack_flush(sd_event_source *s, void *userdata) {
        acks_flush(userdata);
        return 0;
}

static void ack_outbox(Manager *m, const char *exec_id, const char *item_id) {
        store_outbox_ack_add(&m->acks, exec_id, item_id);
        if (store_outbox_ack_count(&m->acks) >= OUTBOX_ACK_BATCH_MAX || !m->ack_flush)
                acks_flush(m);
        else
                (void) sd_event_source_set_enabled(m->ack_flush, SD_EVENT_ONESHOT);
}

void outbox_on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic,
                        int32_t partition, int64_t offset, void *msg_opaque, void *userdata) {
        Manager *m = userdata;
        Pending *pd = msg_opaque;

        if (!pd || dead_letters_delivered(m->dead_letters, topic, msg_opaque, error, errstr))
                return;
        manager_pending_delivered(m, pd);
        switch (pd->kind) {
        case PENDING_OUTBOX:
                if (error == 0)
                        ack_outbox(m, pd->a, pd->b);
                else
                        log_struct_exec(LOG_WARNING, pd->a, NULL, NULL,
                                        "Delivery of %s to %s failed (%s); the outbox keeps it",
                                        pd->b ?: "?", topic, errstr ?: "");
                break;
        case PENDING_TIMER:
                timers_delivered(m, pd->a, error, errstr);
                break;
        case PENDING_TRIGGER:
                triggers_delivered(m, pd, error, errstr); /* frees pd */
                return;
        }
        pending_free(pd);
}

static void on_swept(RedisConn *c, redisReply *reply, void *userdata) {
        Manager *m = userdata;
        StoreOutboxItem *items = NULL;
        size_t n = 0;

        if (!reply || store_outbox_sweep_parse(reply, &items, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                log_struct_exec(LOG_INFO, items[i].exec_id, NULL, NULL, "Re-sending unacknowledged %s",
                                items[i].item_id);
                manager_count(m, COUNTER_REDISPATCHED);
                _cleanup_free_ char *key = outbox_key(m, items[i].exec_id, items[i].item_id);

                manager_produce(m, items[i].topic, key, items[i].exec_id, items[i].payload,
                                pending_new(PENDING_OUTBOX, items[i].exec_id, items[i].item_id));
        }
        store_outbox_items_free(items, n);
}

static int on_sweep_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        _cleanup_(store_call_done) StoreCall call = {};
        int64_t now = now_ms(CLOCK_REALTIME);

        int64_t age = m->sweep_catchup > 0 ? OUTBOX_CATCHUP_MS : OUTBOX_REDISPATCH_MS;

        if (m->sweep_catchup > 0)
                m->sweep_catchup--;
        (void) sd_event_source_set_time_relative(s, m->sweep_catchup > 0 ? OUTBOX_CATCHUP_MS * 1000
                                                                         : OUTBOX_SWEEP_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (m->stopping || !redis_conn_is_connected(m->redis))
                return 0;
        store_outbox_sweep_call(now - age, now, 100, &call);
        (void) manager_eval(m, &call, on_swept, m);
        return 0;
}

void outbox_sweep_catchup(Manager *m) {
        if (!m->t_sweep)
                return;
        m->sweep_catchup = 2;
        (void) sd_event_source_set_time_relative(m->t_sweep, 0);
        (void) sd_event_source_set_enabled(m->t_sweep, SD_EVENT_ON);
}

int outbox_start(Manager *m) {
        int r;

        r = dead_letters_new(m->event, m->producer, m->consumer, m->topic_dlq, &m->dead_letters);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the dead-letter publisher: %m");
        dead_letters_set_metric(m->dead_letters, m->metric[COUNTER_DLQ]);
        r = sd_event_add_time_relative(m->event, &m->t_sweep, CLOCK_MONOTONIC, OUTBOX_SWEEP_USEC, 0,
                                       on_sweep_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the outbox sweep timer: %m");
        /* After the iteration's other events, so that one call deletes all
         * the items whose delivery reports came meanwhile. */
        r = sd_event_add_defer(m->event, &m->ack_flush, on_ack_flush, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->ack_flush, SD_EVENT_PRIORITY_NORMAL + 10);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->ack_flush, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to add the outbox ack source: %m");
        return 0;
}

bool outbox_idle(const Manager *m) {
        return store_outbox_ack_count(&m->acks) == 0 && m->acks_in_flight == 0 &&
               dead_letters_pending(m->dead_letters) == 0;
}

void outbox_stop(Manager *m) {
        m->t_sweep = sd_event_source_disable_unref(m->t_sweep);
        m->ack_flush = sd_event_source_disable_unref(m->ack_flush);
        m->dead_letters = dead_letters_free(m->dead_letters);
        store_call_done(&m->acks);
}
