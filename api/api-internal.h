/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The manager of imgflow-api, shared by api.c (the daemon and the front
 * door), api-answers.c (requests to the coordinators) and ops-activities.c.
 * The operations see it only through api.h.
 */

#include "api.h"
#include "console.h"
#include "daemon-config.h"
#include "resources.h"

/* A doubly linked list through `prev`/`next` members, head pointer. */
/* The accuracy of the API's short timers (0 would mean sd-event's default,
 * 250 ms, added to every poll interval). */
#define API_TIMER_ACCURACY_USEC 1000

#define LIST_PREPEND(head, item)                                                                            \
        do {                                                                                                \
                (item)->prev = NULL;                                                                        \
                (item)->next = (head);                                                                      \
                if (head)                                                                                   \
                        (head)->prev = (item);                                                              \
                (head) = (item);                                                                            \
        } while (0)
#define LIST_REMOVE(head, item)                                                                             \
        do {                                                                                                \
                if ((item)->prev)                                                                           \
                        (item)->prev->next = (item)->next;                                                  \
                else if ((head) == (item))                                                                  \
                        (head) = (item)->next;                                                              \
                if ((item)->next)                                                                           \
                        (item)->next->prev = (item)->prev;                                                  \
                (item)->prev = (item)->next = NULL;                                                         \
        } while (0)

typedef struct ApiActivities ApiActivities;
typedef struct ApiAnswers ApiAnswers;

struct ApiManager {
        sd_event *event;
        Config *config;                /* borrowed from run() */
        DaemonConfigArgs *config_args; /* borrowed from run(): SIGHUP reloads with them */
        HttpServer *http;
        RedisConn *redis;
        KafkaProducer *producer;
        rd_kafka_topic_t *topics[2]; /* jobs, events: held for metadata */
        RedisScript scripts[_STORE_SCRIPT_MAX];
        KeySet *keys;
        Resources *resources;                         /* [resources]: definitions are checked against it */
        uint8_t console_secret[CONSOLE_SECRET_BYTES]; /* signs console sessions (console.c) */
        bool allow_unauthenticated;
        bool tls;
        char *region, *account, *topic_prefix;
        ProtoLimits limits;
        size_t max_request_size;
        int64_t retention_sec;
        uint64_t request_timeout_usec;

        ApiCall *calls; /* every call alive */
        size_t n_calls;
        ApiAnswers *answers; /* api-answers.c */
        size_t n_waiters;
        ApiActivities *activities; /* ops-activities.c */

        bool stopping, redis_up, kafka_up, ready;
        uint64_t stop_deadline_usec;
        sd_event_source *t_status, *t_drain, *t_kafka;
        uint64_t n_requests, n_ok, n_failed, n_refused;
};

/* Run the operation X-Amz-Target names: the operation's name, the caller
 * (a SigV4 signature, unless signed_in: c->key_id already set by a console
 * session), the body, the operation's checks, the key's policy, then the
 * operation. Answers. */
void api_dispatch(ApiCall *c, const char *target, bool signed_in);
/* The same for an operation of no AWS target (the console's own reads):
 * its input, then the policy for "states:<op->name>", then the run. */
void api_dispatch_op(ApiCall *c, const ApiOp *op, bool signed_in);
/* A Map Run's failed children, for the console: named DescribeMapRun for
 * the policy (ops-maprun.c). */
extern const ApiOp api_op_map_run_failures;

/* A store script that no call waits for (the manager's own work, or a call
 * that may be gone when the reply comes): redis_evalv()'s returns. */
int api_redis_eval_detached(ApiManager *m, const StoreCall *call, RedisReplyFn fn, void *userdata);

/* api-answers.c: the coordinators' answers to requests sent over Kafka. */
int api_answers_start(ApiManager *m);
void api_answers_free(ApiManager *m);
/* The producer's delivery report (the msg opaque is the call). */
void api_on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic, int32_t partition,
                     int64_t offset, void *msg_opaque, void *userdata);
/* Forget the wait of a call that is freed. */
void api_waiter_drop(ApiCall *c);

/* ops-activities.c */
size_t api_activities_waiting(const ApiManager *m);
