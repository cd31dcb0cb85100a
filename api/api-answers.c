/* SPDX-License-Identifier: MIT */
/*
 * Requests for the coordinators, as the CLI sends them (cli/cmd-remote.c),
 * without blocking: the message is produced (acks=all), and once the broker
 * has it the call waits for the coordinator that applies it to write its
 * answer to imgflow:response:{<requestId>} (SET NX EX 300, docs/redis.md).
 *
 * Waiting costs no Redis command per call: every ANSWER_POLL_USEC one MGET
 * asks for the answers of up to ANSWER_BATCH_MAX waiting calls, oldest
 * first; the waiters it asked for go to the end of the line, so with more
 * than a batch waiting each is asked for in turn. Waiters are found again
 * by request id (a hash table), so a call that went away meanwhile is
 * simply not found. A waiter whose deadline ([api] request_timeout) passed
 * is answered ServiceUnavailable when its turn comes.
 *
 * Why polling and not Redis keyspace notifications or a PUBLISH from the
 * coordinator: the answer key is written inside the coordinator's commit
 * script, the notifications would need a second (subscriber) connection in
 * every API process and CONFIG SET on the server, and a poll every few
 * milliseconds of a batch is one cheap command (docs/benchmarks.md has
 * what it costs a StartExecution).
 */

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "api-internal.h"
#include "clock.h"
#include "log.h"

#define ANSWER_POLL_USEC (5 * 1000)
#define ANSWER_BATCH_MAX 256

struct ApiWaiter {
        ApiCall *c;
        char *request_id;
        char *key; /* imgflow:response:{<request id>} */
        uint64_t deadline_usec;
        uint64_t timeout_usec; /* 0 = [api] request_timeout */
        ApiAnswerFn fn;
        bool linked; /* in the line and the table */
        ApiWaiter *prev, *next;
};

struct ApiAnswers {
        ApiWaiter *head, *tail;
        GHashTable *by_id; /* request id (borrowed from the waiter) -> waiter */
        sd_event_source *timer;
        bool polling; /* an MGET is out */
};

static void line_append(ApiAnswers *a, ApiWaiter *w) {
        w->next = NULL;
        w->prev = a->tail;
        if (a->tail)
                a->tail->next = w;
        else
                a->head = w;
        a->tail = w;
}

static void line_remove(ApiAnswers *a, ApiWaiter *w) {
        if (w->prev)
                w->prev->next = w->next;
        else
                a->head = w->next;
        if (w->next)
                w->next->prev = w->prev;
        else
                a->tail = w->prev;
        w->prev = w->next = NULL;
}

static void waiter_unlink(ApiManager *m, ApiWaiter *w) {
        if (!w->linked)
                return;
        line_remove(m->answers, w);
        g_hash_table_remove(m->answers->by_id, w->request_id);
        w->linked = false;
        m->n_waiters--;
}

static void waiter_free(ApiWaiter *w) {
        free(w->request_id);
        free(w->key);
        free(w);
}

void api_waiter_drop(ApiCall *c) {
        ApiWaiter *w = c->waiter;

        if (!w)
                return;
        c->waiter = NULL;
        waiter_unlink(c->m, w);
        waiter_free(w);
}

static void arm(ApiManager *m) {
        ApiAnswers *a = m->answers;

        if (a->polling || !a->head || m->n_waiters == 0)
                return;
        if (sd_event_source_get_enabled(a->timer, NULL) > 0)
                return;
        (void) sd_event_source_set_time_relative(a->timer, ANSWER_POLL_USEC);
        (void) sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
}

/* The waiter's call gets its answer (or its timeout): the wait is over. */
static void finish(ApiManager *m, ApiWaiter *w, json_t *answer) {
        ApiCall *c = w->c;
        ApiAnswerFn fn = w->fn;

        api_waiter_drop(c);
        if (!api_call_alive(c))
                return;
        if (!answer) {
                api_fail(c, "ServiceUnavailable",
                         "No coordinator answered within %" PRIu64 " s; is imgflow-coordinator running?",
                         (w->timeout_usec ?: m->request_timeout_usec) / 1000000);
                return;
        }
        fn(c, answer);
}

typedef struct Batch {
        ApiManager *m;
        char **ids;
        size_t n;
} Batch;

static void batch_free(Batch *b) {
        for (size_t i = 0; i < b->n; i++)
                free(b->ids[i]);
        free(b->ids);
        free(b);
}

static void on_answers(RedisConn *conn, redisReply *reply, void *userdata) {
        Batch *b = userdata;
        ApiManager *m = b->m;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        m->answers->polling = false;
        if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == b->n) {
                for (size_t i = 0; i < b->n; i++) {
                        ApiWaiter *w = g_hash_table_lookup(m->answers->by_id, b->ids[i]);
                        redisReply *e = reply->element[i];
                        _cleanup_json_ json_t *answer = NULL;

                        if (!w)
                                continue; /* the call went away meanwhile */
                        if (e->type == REDIS_REPLY_STRING)
                                answer = json_loadb(e->str, e->len, 0, NULL);
                        if (answer)
                                finish(m, w, answer);
                        else if (now >= w->deadline_usec)
                                finish(m, w, NULL);
                }
        } else if (reply && reply->type == REDIS_REPLY_ERROR)
                log_warning("Reading coordinators' answers failed: %s", reply->str);
        batch_free(b);
        arm(m);
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        ApiManager *m = userdata;
        ApiAnswers *a = m->answers;
        _cleanup_(store_argv_done) StoreArgv argv = {};
        Batch *b;
        size_t n = MIN_(m->n_waiters, (size_t) ANSWER_BATCH_MAX);
        int r;

        if (n == 0)
                return 0;
        b = xmalloc(sizeof *b);
        *b = (Batch){.m = m, .ids = xmalloc(n * sizeof(char *))};
        store_argv_reserve(&argv, n + 1);
        store_argv_adds(&argv, "MGET");
        for (size_t i = 0; i < n && a->head; i++) {
                ApiWaiter *w = a->head;

                store_argv_borrow(&argv, w->key, strlen(w->key));
                b->ids[b->n++] = xstrdup(w->request_id);
                /* To the end of the line: the next batch asks for others. */
                line_remove(a, w);
                line_append(a, w);
        }
        r = redis_command_argv(m->redis, on_answers, b, (int) argv.n, (const char **) argv.argv, argv.lens);
        if (r < 0) {
                batch_free(b);
                /* Not connected: the deadlines still count. */
                for (ApiWaiter *w = a->head, *next; w; w = next) {
                        next = w->next;
                        if (now_usec(CLOCK_MONOTONIC) >= w->deadline_usec)
                                finish(m, w, NULL);
                }
                (void) sd_event_source_set_time_relative(a->timer, 100 * 1000);
                (void) sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
                return 0;
        }
        a->polling = true;
        return 0;
}

void api_coordinator_request(ApiCall *c, ProtoTopic topic, const char *key, const char *buf, size_t len,
                             const char *request_id, ApiAnswerFn fn) {
        api_coordinator_request_timeout(c, topic, key, buf, len, request_id, 0, fn);
}

void api_coordinator_request_timeout(ApiCall *c, ProtoTopic topic, const char *key, const char *buf, size_t len,
                                     const char *request_id, uint64_t timeout_usec, ApiAnswerFn fn) {
        ApiManager *m = c->m;
        _cleanup_free_ char *name = NULL;
        ApiWaiter *w;
        int r;

        if (proto_topic_name(m->topic_prefix, topic, NULL, &name) < 0)
                return api_fail(c, "InternalFailure", "Invalid topic prefix");
        w = xmalloc(sizeof *w);
        *w = (ApiWaiter){
                .c = c,
                .request_id = xstrdup(request_id),
                .key = store_key_response(request_id),
                .fn = fn,
                .timeout_usec = timeout_usec,
        };
        api_waiter_drop(c);
        c->waiter = w;
        r = kafka_produce(m->producer, name, key, buf, len, c);
        if (r < 0) {
                api_waiter_drop(c);
                return api_fail(c, "ServiceUnavailable", "Cannot send to Kafka (%s): %s", name,
                                strerror(-r));
        }
        c->busy = true;
}

void api_on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic, int32_t partition,
                     int64_t offset, void *msg_opaque, void *userdata) {
        ApiManager *m = userdata;
        ApiCall *c = msg_opaque;
        ApiWaiter *w;

        if (!api_call_alive(c))
                return;
        w = c->waiter;
        if (error < 0 || !w) {
                api_waiter_drop(c);
                api_fail(c, "ServiceUnavailable", "Kafka did not take the request (%s): %s", strempty(topic),
                         strempty(errstr));
                return;
        }
        /* In Kafka: wait for the coordinator's answer. */
        w->deadline_usec = now_usec(CLOCK_MONOTONIC) + (w->timeout_usec ?: m->request_timeout_usec);
        w->linked = true;
        line_append(m->answers, w);
        g_hash_table_insert(m->answers->by_id, w->request_id, w);
        m->n_waiters++;
        c->busy = true;
        arm(m);
}

int api_answers_start(ApiManager *m) {
        int r;

        m->answers = xmalloc(sizeof(ApiAnswers));
        *m->answers = (ApiAnswers){.by_id = g_hash_table_new(g_str_hash, g_str_equal)};
        /* An accuracy of 1 ms: 0 would be sd-event's default of 250 ms, which
         * let the 5 ms poll fire up to 250 ms late and held every answer. */
        r = sd_event_add_time(m->event, &m->answers->timer, CLOCK_MONOTONIC, UINT64_MAX,
                              API_TIMER_ACCURACY_USEC, on_poll, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the answer timer: %m");
        (void) sd_event_source_set_enabled(m->answers->timer, SD_EVENT_OFF);
        return 0;
}

/* The waiters belong to their calls, which go before this. */
void api_answers_free(ApiManager *m) {
        if (!m->answers)
                return;
        sd_event_source_disable_unref(m->answers->timer);
        g_hash_table_destroy(m->answers->by_id);
        free(m->answers);
        m->answers = NULL;
}
