/* SPDX-License-Identifier: MIT */
/*
 * Activity operations: CreateActivity, DescribeActivity, ListActivities,
 * DeleteActivity, GetActivityTask.
 *
 * A Task state whose Resource is an activity ARN puts its task in the
 * activity's queue in Redis (the coordinator's commit, with the task's
 * token); GetActivityTask hands it to one caller (docs/api.md,
 * "Activities"):
 *
 *   1. claim: a script takes the oldest live task, leases it (for [api]
 *      activity_lease) under a new delivery token that stands for the task
 *      token, and returns it; the caller's answer is {"taskToken": <the
 *      delivery token>, "input": ...};
 *   2. settle: once libmicrohttpd says the answer was written completely,
 *      the lease ends ("ack"); if it could not be written (the caller went
 *      away), the task goes back to the front of its queue and the
 *      delivery token is dropped ("release");
 *   3. an API process that dies between 1 and 2 settles nothing: any API
 *      process's reclaim timer puts the task back once the lease expired
 *      and closes the delivery token, so the next caller gets the task
 *      under a new one and only that token can complete it.
 *
 * So a task is never lost while it waits or is being handed over, and at
 * most one caller holds a token that completes it.
 *
 * Waiting callers (a long poll of up to API_ACTIVITY_POLL_SEC, as Step
 * Functions holds them) wait per activity in arrival order; while an
 * activity has waiters, one claim for the first of them runs every [api]
 * activity_poll_interval, and at once again after a claim found a task.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "api-internal.h"
#include "clock.h"
#include "log.h"

#define WAITERS_PER_ACTIVITY_MAX 1000 /* GetActivityTask calls waiting per activity, per process */
#define RECLAIM_BATCH 100

typedef struct ActivityQueue ActivityQueue;
typedef struct Claim Claim;

typedef struct ActivityState {
        char *name;
        char *arn;
        int64_t now_ms;
        size_t limit;
        char *cursor;
        /* GetActivityTask */
        ActivityQueue *queue; /* while waiting */
        ApiCall *prev, *next; /* in queue->waiters */
        uint64_t deadline_usec;
        char *delivery_token; /* once a task was claimed for it */
} ActivityState;

struct ActivityQueue {
        ApiManager *m;
        char *name;
        ApiCall *head, *tail; /* waiters, oldest first */
        size_t n;
        Claim *claim; /* a claim that is out */
        sd_event_source *timer;
        ActivityQueue *prev, *next;
};

struct ApiActivities {
        ActivityQueue *queues;
        size_t n_waiting;
        uint64_t poll_usec;
        int64_t lease_ms;
        sd_event_source *t_reclaim;
        bool reclaiming, stopped;
};

static void activity_state_free(void *p);

static ActivityState *state_new(ApiCall *c) {
        ActivityState *s = xmalloc(sizeof *s);

        *s = (ActivityState){.now_ms = now_ms(CLOCK_REALTIME)};
        api_call_set_state(c, s, activity_state_free);
        return s;
}

static int parse_activity_arn(ApiCall *c, ActivityState *s, char **ret_resource, AwsError *e) {
        const char *arn;
        int k;

        if ((k = aws_get_string(c->input, "activityArn", true, 1, API_ARN_MAX, &arn, e)) < 0 ||
            (k = api_parse_activity_arn(c, arn, &s->name, e)) < 0)
                return k;
        s->arn = xstrdup(arn);
        *ret_resource = xstrdup(arn);
        return 0;
}

/* ---- CreateActivity ---- */

static int create_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ActivityState *s = state_new(c);
        const char *name;
        int k;

        if ((k = aws_get_string(c->input, "name", true, 1, API_NAME_MAX, &name, e)) < 0)
                return k;
        if (!store_name_is_valid(name))
                return aws_error_set(e, "InvalidName", "Invalid Name: '%s'", name);
        s->name = xstrdup(name);
        *ret_resource = api_activity_arn(c->m, name);
        return 0;
}

static void create_done(ApiCall *c, redisReply *reply) {
        ActivityState *s = c->state;
        _cleanup_free_ char *arn = api_activity_arn(c->m, s->name);
        int64_t created;
        int k;

        k = store_activity_create_parse(reply, &created);
        if (k < 0)
                return api_fail_store(c, k);
        api_reply(c, json_pack("{s:s, s:o}", "activityArn", arn, "creationDate", aws_timestamp(created)));
}

static void create_run(ApiCall *c) {
        ActivityState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        if (store_activity_create_call(s->name, s->now_ms, &call) < 0)
                return api_fail(c, "InvalidName", "Invalid Name: '%s'", s->name);
        (void) api_redis_eval(c, &call, create_done);
}

/* ---- DescribeActivity ---- */

static int describe_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        return parse_activity_arn(c, state_new(c), ret_resource, e);
}

static void describe_done(ApiCall *c, redisReply *reply) {
        ActivityState *s = c->state;
        int64_t created;
        int k;

        k = store_activity_describe_parse(reply, &created);
        if (k == -ENOENT)
                return api_fail(c, "ActivityDoesNotExist", "Activity Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        api_reply(c, json_pack("{s:s, s:s, s:o}", "activityArn", s->arn, "name", s->name, "creationDate",
                               aws_timestamp(created)));
}

static void describe_run(ApiCall *c) {
        ActivityState *s = c->state;
        _cleanup_(store_argv_done) StoreArgv a = {};

        if (store_activity_describe_argv(s->name, &a) < 0)
                return api_fail(c, "InvalidArn", "Invalid Arn: '%s'", s->arn);
        (void) api_redis_command(c, &a, describe_done);
}

/* ---- ListActivities ---- */

static int list_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ActivityState *s = state_new(c);
        int k;

        if ((k = api_get_page(c, "act", &s->limit, &s->cursor, e)) < 0)
                return k;
        *ret_resource = xstrdup("*");
        return 0;
}

static void list_done(ApiCall *c, redisReply *reply) {
        _cleanup_json_ json_t *items = NULL;
        json_t *list, *out, *it;
        bool more;
        size_t i;
        int k;

        k = store_activity_list_parse(reply, &items, &more);
        if (k < 0)
                return api_fail_store(c, k);
        list = json_array();
        json_array_foreach (items, i, it) {
                const char *name = json_string_value(json_object_get(it, "name"));
                _cleanup_free_ char *arn = api_activity_arn(c->m, name);

                json_array_append_new(
                        list,
                        json_pack("{s:s, s:s, s:o}", "activityArn", arn, "name", name, "creationDate",
                                  aws_timestamp(json_integer_value(json_object_get(it, "createdAt")))));
        }
        out = json_pack("{s:o}", "activities", list);
        if (more && json_array_size(items) > 0)
                api_set_next_token(out, "act",
                                   json_string_value(json_object_get(
                                           json_array_get(items, json_array_size(items) - 1), "name")));
        api_reply(c, out);
}

static void list_run(ApiCall *c) {
        ActivityState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        store_activity_list_call(s->cursor, s->limit, &call);
        (void) api_redis_eval(c, &call, list_done);
}

/* ---- DeleteActivity ---- */

static void delete_done(ApiCall *c, redisReply *reply) {
        int k = store_activity_delete_parse(reply);

        /* As Step Functions: deleting what is not there succeeds. */
        if (k < 0 && k != -ENOENT)
                return api_fail_store(c, k);
        api_reply(c, NULL);
}

static void delete_run(ApiCall *c) {
        ActivityState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        if (store_activity_delete_call(s->name, &call) < 0)
                return api_fail(c, "InvalidArn", "Invalid Arn: '%s'", s->arn);
        (void) api_redis_eval(c, &call, delete_done);
}

/* ---- GetActivityTask: the queues of waiting callers ---- */

struct Claim {
        ApiManager *m;
        ActivityQueue *q; /* NULL once the queue went */
        char *delivery_token;
};

static void queue_free(ActivityQueue *q) {
        ApiActivities *a = q->m->activities;

        if (q->claim)
                q->claim->q = NULL;
        if (q->prev)
                q->prev->next = q->next;
        else
                a->queues = q->next;
        if (q->next)
                q->next->prev = q->prev;
        sd_event_source_disable_unref(q->timer);
        free(q->name);
        free(q);
}

static void queue_remove(ActivityQueue *q, ApiCall *c) {
        ActivityState *s = c->state;
        ActivityState *ps = s->prev ? s->prev->state : NULL, *ns = s->next ? s->next->state : NULL;

        if (ps)
                ps->next = s->next;
        else
                q->head = s->next;
        if (ns)
                ns->prev = s->prev;
        else
                q->tail = s->prev;
        s->prev = s->next = NULL;
        s->queue = NULL;
        q->n--;
        q->m->activities->n_waiting--;
}

static void activity_state_free(void *p) {
        ActivityState *s = p;

        if (!s)
                return;
        /* A call that goes while it waits (the daemon stops) leaves its queue. */
        if (s->queue) {
                ActivityQueue *q = s->queue;
                for (ApiCall *c = q->head; c; c = ((ActivityState *) c->state)->next)
                        if (c->state == s) {
                                queue_remove(q, c);
                                break;
                        }
        }
        free(s->name);
        free(s->arn);
        free(s->cursor);
        free(s->delivery_token);
        free(s);
}

static void queue_arm(ActivityQueue *q, uint64_t usec) {
        (void) sd_event_source_set_time_relative(q->timer, usec);
        (void) sd_event_source_set_enabled(q->timer, SD_EVENT_ONESHOT);
}

/* "No task": an empty answer, as Step Functions gives after 60 s. */
static void answer_empty(ApiCall *c) {
        c->busy = false;
        api_reply(c, NULL);
}

/* Manager-level commands whose caller may be gone: the reply is logged. */
static void on_settled(RedisConn *conn, redisReply *reply, void *userdata) {
        if (!reply || reply->type == REDIS_REPLY_ERROR)
                log_warning(
                        "Settling an activity task's lease failed: %s (the lease expires and the task is "
                        "offered again)",
                        reply ? reply->str : "no answer");
}

static void settle(ApiManager *m, const char *name, const char *delivery_token, bool delivered) {
        _cleanup_(store_call_done) StoreCall call = {};

        store_activity_settle_call(name, delivery_token, delivered, &call);
        if (api_redis_eval_detached(m, &call, on_settled, NULL) < 0)
                log_warning(
                        "Cannot settle the lease of a task of activity %s: no Redis connection (it expires "
                        "and the task is offered again)",
                        name);
}

/* After the answer with the task: written completely, or not. */
static void on_task_sent(ApiCall *c, bool sent) {
        ActivityState *s = c->state;

        if (!s || !s->delivery_token)
                return;
        if (!sent)
                log_info("The answer of GetActivityTask %s (activity %s) was not written: the task goes "
                         "back to "
                         "its queue",
                         c->request_id, s->name);
        settle(c->m, s->name, s->delivery_token, sent);
}

static void queue_kick(ActivityQueue *q);

static void deliver(ApiCall *c, const char *delivery_token, const char *message) {
        ActivityState *s = c->state;
        _cleanup_json_ json_t *task = json_loads(message, 0, NULL);
        json_t *input = json_object_get(task, "input");

        s->delivery_token = xstrdup(delivery_token);
        c->on_sent = on_task_sent;
        log_debug("GetActivityTask %s: a task of activity %s (execution %s)", c->request_id, s->name,
                  json_string_value(json_object_get(task, "executionId")) ?: "?");
        api_reply(c, json_pack("{s:s, s:o}", "taskToken", delivery_token, "input",
                               input ? api_json_text(input) : json_string("{}")));
}

static void on_claimed(RedisConn *conn, redisReply *reply, void *userdata) {
        Claim *cl = userdata;
        ActivityQueue *q = cl->q;
        ApiManager *m = cl->m;
        _cleanup_free_ char *message = NULL;
        ApiCall *c = NULL;
        int k;

        k = store_activity_claim_parse(reply, &message);
        if (!q) {
                /* The queue went (the daemon stops) while the claim was out:
                 * the lease expires and another process offers the task. */
                free(cl->delivery_token);
                free(cl);
                return;
        }
        q->claim = NULL;
        if (k >= 0) {
                while (q->head && !c) {
                        c = q->head;
                        queue_remove(q, c);
                        if (!api_call_alive(c))
                                c = NULL;
                }
                if (c)
                        deliver(c, cl->delivery_token, message);
                else
                        /* Nobody waits any more: back in front at once. */
                        settle(m, q->name, cl->delivery_token, /* delivered= */ false);
        } else if (k != -ENOENT)
                log_warning("Claiming a task of activity %s failed: %s", q->name,
                            reply && reply->type == REDIS_REPLY_ERROR ? reply->str : strerror(-k));
        free(cl->delivery_token);
        free(cl);
        if (!q->head) {
                queue_free(q);
                return;
        }
        /* Found one: there may be more at once; else wait a poll interval. */
        if (k >= 0)
                queue_kick(q);
        else
                queue_arm(q, m->activities->poll_usec);
}

/* Claim a task for the first waiter (waiters past their deadline get
 * "no task" first). */
static void queue_kick(ActivityQueue *q) {
        ApiManager *m = q->m;
        ApiActivities *a = m->activities;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        _cleanup_(store_call_done) StoreCall call = {};
        Claim *cl;

        while (q->head && ((ActivityState *) q->head->state)->deadline_usec <= now) {
                ApiCall *c = q->head;
                queue_remove(q, c);
                if (api_call_alive(c))
                        answer_empty(c);
        }
        if (!q->head) {
                if (!q->claim)
                        queue_free(q);
                return;
        }
        if (q->claim)
                return;
        cl = xmalloc(sizeof *cl);
        *cl = (Claim){.m = m, .q = q, .delivery_token = api_random_hex()};
        store_activity_claim_call(q->name, cl->delivery_token, now_ms(CLOCK_REALTIME) + a->lease_ms,
                                  api_retention_sec(m), &call);
        if (api_redis_eval_detached(m, &call, on_claimed, cl) < 0) {
                free(cl->delivery_token);
                free(cl);
                queue_arm(q, a->poll_usec);
                return;
        }
        q->claim = cl;
}

static int on_queue_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        queue_kick(userdata);
        return 0;
}

static ActivityQueue *queue_get(ApiManager *m, const char *name) {
        ApiActivities *a = m->activities;
        ActivityQueue *q;

        for (q = a->queues; q; q = q->next)
                if (streq(q->name, name))
                        return q;
        q = xmalloc(sizeof *q);
        *q = (ActivityQueue){.m = m, .name = xstrdup(name), .next = a->queues};
        /* 1 ms accuracy: 0 would be sd-event's 250 ms on top of the poll interval. */
        if (sd_event_add_time(m->event, &q->timer, CLOCK_MONOTONIC, UINT64_MAX, API_TIMER_ACCURACY_USEC,
                              on_queue_timer, q) < 0)
                abort();
        (void) sd_event_source_set_enabled(q->timer, SD_EVENT_OFF);
        if (a->queues)
                a->queues->prev = q;
        a->queues = q;
        return q;
}

static int get_task_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        ActivityState *s = state_new(c);
        const char *worker;
        int k;

        if ((k = parse_activity_arn(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_string(c->input, "workerName", false, 1, API_NAME_MAX, &worker, e)) < 0)
                return k;
        return 0;
}

static void get_task_exists(ApiCall *c, redisReply *reply) {
        ActivityState *s = c->state;
        ApiActivities *a = c->m->activities;
        ActivityQueue *q;
        int64_t created;
        int k;

        k = store_activity_describe_parse(reply, &created);
        if (k == -ENOENT)
                return api_fail(c, "ActivityDoesNotExist", "Activity Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        if (a->stopped)
                return answer_empty(c);
        q = queue_get(c->m, s->name);
        if (q->n >= WAITERS_PER_ACTIVITY_MAX) {
                if (!q->head && !q->claim)
                        queue_free(q);
                return api_fail(c, "ActivityWorkerLimitExceeded",
                                "More than %d GetActivityTask calls wait for activity '%s' here",
                                WAITERS_PER_ACTIVITY_MAX, s->name);
        }
        s->deadline_usec = now_usec(CLOCK_MONOTONIC) + API_ACTIVITY_POLL_SEC * UINT64_C(1000000);
        s->queue = q;
        s->prev = q->tail;
        s->next = NULL;
        if (q->tail)
                ((ActivityState *) q->tail->state)->next = c;
        else
                q->head = c;
        q->tail = c;
        q->n++;
        a->n_waiting++;
        c->busy = true; /* until a task or the deadline */
        queue_kick(q);
}

static void get_task_run(ApiCall *c) {
        ActivityState *s = c->state;
        _cleanup_(store_argv_done) StoreArgv a = {};

        if (store_activity_describe_argv(s->name, &a) < 0)
                return api_fail(c, "InvalidArn", "Invalid Arn: '%s'", s->arn);
        (void) api_redis_command(c, &a, get_task_exists);
}

/* ---- the machinery ---- */

static void on_reclaimed(RedisConn *conn, redisReply *reply, void *userdata) {
        ApiManager *m = userdata;

        if (!m->activities)
                return;
        m->activities->reclaiming = false;
        if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
                log_notice("%lld activity tasks whose delivery was never settled went back to their queues",
                           reply->integer);
        else if (reply && reply->type == REDIS_REPLY_ERROR)
                log_warning("Reclaiming activity leases failed: %s", reply->str);
}

static int on_reclaim_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        ApiManager *m = userdata;
        ApiActivities *a = m->activities;
        _cleanup_(store_call_done) StoreCall call = {};

        if (!a->reclaiming && m->redis_up) {
                store_activity_reclaim_call(now_ms(CLOCK_REALTIME), RECLAIM_BATCH, &call);
                if (api_redis_eval_detached(m, &call, on_reclaimed, m) >= 0)
                        a->reclaiming = true;
        }
        (void) sd_event_source_set_time_relative(src, MAX_(1000 * 1000, (uint64_t) a->lease_ms * 1000 / 2));
        return 0;
}

int api_activities_start(ApiManager *m) {
        ApiActivities *a = xmalloc(sizeof *a);
        int r;

        *a = (ApiActivities){
                .poll_usec =
                        MAX_(config_get_duration_ms(api_config(m), "api", "activity_poll_interval"), 1) *
                        1000,
                .lease_ms =
                        (int64_t) MAX_(config_get_duration_ms(api_config(m), "api", "activity_lease"), 1000),
        };
        m->activities = a;
        r = sd_event_add_time_relative(m->event, &a->t_reclaim, CLOCK_MONOTONIC, 1000 * 1000, 0,
                                       on_reclaim_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the activity lease timer: %m");
        (void) sd_event_source_set_enabled(a->t_reclaim, SD_EVENT_ON);
        return 0;
}

void api_activities_stop(ApiManager *m) {
        ApiActivities *a = m->activities;

        if (!a)
                return;
        a->stopped = true;
        /* Every waiting call gets "no task" now; claims that are out find
         * nobody and put their task back. */
        for (ActivityQueue *q = a->queues; q; q = q->next)
                while (q->head) {
                        ApiCall *c = q->head;
                        queue_remove(q, c);
                        if (api_call_alive(c))
                                answer_empty(c);
                }
}

void api_activities_free(ApiManager *m) {
        ApiActivities *a = m->activities;

        if (!a)
                return;
        api_activities_stop(m);
        while (a->queues)
                queue_free(a->queues); /* a claim still out finds no queue */
        sd_event_source_disable_unref(a->t_reclaim);
        free(a);
        m->activities = NULL;
}

size_t api_activities_waiting(const ApiManager *m) {
        return m->activities ? m->activities->n_waiting : 0;
}

const ApiOp api_op_create_activity = {"CreateActivity", create_parse, create_run};
const ApiOp api_op_describe_activity = {"DescribeActivity", describe_parse, describe_run};
const ApiOp api_op_list_activities = {"ListActivities", list_parse, list_run};
const ApiOp api_op_delete_activity = {"DeleteActivity", describe_parse, delete_run};
const ApiOp api_op_get_activity_task = {"GetActivityTask", get_task_parse, get_task_run};
