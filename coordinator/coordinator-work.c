/* SPDX-License-Identifier: MIT */
/*
 * A consumed message's way through the coordinator (coordinator-work.h):
 * Work, the per-execution queues, the token lookup of callbacks, the check
 * of a MapChildEnded against its child's own record, and the
 * load -> apply -> commit -> respond pipeline. Every Redis reply comes
 * back here; a missing reply (Redis away) runs the step again after
 * RETRY_DELAY_USEC.
 */

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "coordinator-express.h"
#include "random.h"
#include "coordinator-outbox.h"
#include "coordinator-triggers.h"
#include "coordinator-work.h"
#include "format.h"
#include "hash.h"
#include "log.h"

#define CONFLICT_RETRIES_MAX 50
#define RETRY_DELAY_USEC (250 * 1000)
/* Empty execution queues kept before they are dropped together. */
#define QUEUES_IDLE_MAX 4096

typedef struct ExecQueue ExecQueue;
typedef struct Work Work;

/* One consumed message on its way through the store. */
struct Work {
        Manager *m;
        ExecQueue *q; /* NULL until queued */
        Work *next;
        char *topic; /* origin (owned); NULL = no offset to finish */
        int32_t partition;
        int64_t offset;
        ProtoMessage *msg; /* owned */
        char *exec_id;     /* owned */
        char *task_id;     /* SendTask*: from the token lookup */
        char *task_token;  /* SendTask* with an activity's delivery token: the task token it stands for */
        char *sm_name;     /* StartExecution */
        unsigned sm_version;
        char *exec_name;
        char *state_name; /* task results: the state of the task (from the document) */
        StoreExecState st;
        bool st_cached;    /* st came from the state cache, not from Redis */
        bool express;      /* st is lent by an EXPRESS execution (coordinator-express.h) */
        bool stop_unknown; /* StopExecution of no stored execution: is it an EXPRESS machine's? */
        bool child_checked; /* MapChildEnded: checked against the child's own record */
        bool child_unstarted; /* MapChildEnded: of a child whose start was refused */
        char *refused_error; /* a Map Run child's refused start: its error and cause */
        char *refused_cause;
        char *reply_to;    /* EXPRESS: its tasks' replyTo */
        unsigned conflicts;
        sd_event_source *retry; /* pending retry timer */
};

struct ExecQueue {
        char *exec_id; /* owned; the hash table key */
        Work *head, *tail;
        bool busy;
        bool idle; /* empty, left in the table until exec_queues_sweep() */
};

static void work_run(Work *w);
static void work_finish(Work *w);
static void queue_kick(Manager *m, ExecQueue *q);

static void work_free(Work *w) {
        if (!w)
                return;
        sd_event_source_disable_unref(w->retry);
        free(w->topic);
        proto_message_free(w->msg);
        free(w->exec_id);
        free(w->task_id);
        free(w->task_token);
        free(w->sm_name);
        free(w->exec_name);
        free(w->state_name);
        free(w->reply_to);
        free(w->refused_error);
        free(w->refused_cause);
        store_exec_state_done(&w->st);
        free(w);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Work *w = userdata;
        w->retry = sd_event_source_disable_unref(w->retry);
        work_run(w);
        return 0;
}

void work_express_unpark(Manager *m, bool all) {
        size_t held = g_hash_table_size(m->express);

        if (m->tearing_down)
                return; /* they are freed with the queues */
        while (!g_queue_is_empty(&m->express_parked) && (all || held < m->express_max_in_flight)) {
                Work *w = g_queue_pop_head(&m->express_parked);
                int r;

                held++;
                m->in_flight++;
                /* Deferred: the caller is in the middle of an execution's commit. */
                r = sd_event_add_time_relative(m->event, &w->retry, CLOCK_MONOTONIC, 0, 0, on_retry, w);
                if (r < 0) {
                        log_error_errno(r, "Failed to resume an express start: %m");
                        work_finish(w);
                }
        }
}

/* Redis was not there (disconnect, timeout): run the work again later. */
static void work_retry_later(Work *w) {
        int r;

        if (w->retry || w->m->tearing_down)
                return;
        r = sd_event_add_time_relative(w->m->event, &w->retry, CLOCK_MONOTONIC, RETRY_DELAY_USEC, 0,
                                       on_retry, w);
        if (r < 0) {
                log_error_errno(r, "Failed to arm a retry timer: %m");
                work_finish(w);
        }
}

static void work_finish(Work *w) {
        Manager *m = w->m;
        ExecQueue *q = w->q;

        if (w->express && w->st.doc)
                express_return_state(m, w->exec_id, &w->st);

        if (w->topic && m->consumer)
                (void) kafka_consumer_done(m->consumer, w->topic, w->partition, w->offset);
        if (q) {
                assert(q->head == w);
                q->head = w->next;
                if (!q->head)
                        q->tail = NULL;
                q->busy = false;
        }
        m->in_flight--;
        work_free(w);
        if (q) {
                if (q->head)
                        queue_kick(m, q);
                else {
                        q->idle = true;
                        if (++m->n_idle_queues >= QUEUES_IDLE_MAX)
                                exec_queues_sweep(m);
                }
        }
        manager_maybe_resume(m);
}

void exec_queue_free(void *p) {
        ExecQueue *q = p;
        free(q->exec_id);
        free(q);
}

static gboolean queue_is_idle(void *key, void *value, void *userdata) {
        return ((ExecQueue *) value)->idle;
}

/* Drop the empty queues. They are left in the table when they empty, and
 * dropped here in bulk: as a batch of events came and went, removing each
 * at once made the table shrink and grow again (a rehash and a large
 * realloc) every few events. */
void exec_queues_sweep(Manager *m) {
        if (m->n_idle_queues == 0)
                return;
        g_hash_table_foreach_remove(m->queues, queue_is_idle, NULL);
        m->n_idle_queues = 0;
}

static void queue_kick(Manager *m, ExecQueue *q) {
        if (q->busy || !q->head || m->tearing_down)
                return;
        q->busy = true;
        work_run(q->head);
}

static void work_enqueue(Work *w) {
        Manager *m = w->m;
        ExecQueue *q = g_hash_table_lookup(m->queues, w->exec_id);

        if (!q) {
                q = xmalloc(sizeof *q);
                *q = (ExecQueue){.exec_id = xstrdup(w->exec_id)};
                g_hash_table_insert(m->queues, q->exec_id, q);
        } else if (q->idle) {
                q->idle = false;
                m->n_idle_queues--;
        }
        w->q = q;
        if (q->tail)
                q->tail->next = w;
        else
                q->head = w;
        q->tail = w;
        queue_kick(m, q);
}

static void on_response_written(RedisConn *c, redisReply *reply, void *userdata) {
        work_finish(userdata);
}

/* Store the answer r to msg, when msg carries a request id (r's request
 * and request id are filled in here). Returns 0 when the command was sent
 * (cb follows), or -errno: nothing to answer, or not sent (logged). */
static int request_respond(Manager *m, const ProtoMessage *msg, ProtoResponse r, RedisReplyFn cb,
                           void *userdata) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_free_ char *text = NULL;
        size_t len;
        int k;

        r.request = msg->type;
        r.request_id = proto_message_request_id(msg);
        if (!r.request_id)
                return -ENOENT;
        k = proto_encode_response(&r, &text, &len);
        if (k >= 0)
                k = store_response_put_argv(r.request_id, text, &a);
        if (k < 0)
                return k;
        k = manager_command(m, &a, cb, userdata);
        if (k < 0)
                log_warning_errno(k, "Failed to store the response to %s: %m", r.request_id);
        return k;
}

/* Answer w's request (if it carries a request id), then finish the work. */
static void work_respond(Work *w, ProtoResponse r) {
        if (request_respond(w->m, w->msg, r, on_response_written, w) < 0)
                work_finish(w);
}

/* Answer w's request with an error and finish the work. */
static void work_refuse(Work *w, const char *error, const char *cause) {
        work_respond(w, (ProtoResponse){.error = error, .cause = cause});
}

/* Parse and cache a definition text of a machine of `type`, with the
 * machine's logging configuration (NULL: none). Returns the machine
 * (borrowed) or NULL. An EXPRESS machine's TimeoutSeconds is at most
 * [coordinator] express_duration_max (5 minutes, coordinator-express.h). */
static AslMachine *definition_add(Manager *m, const char *name, unsigned version, const char *text,
                                  size_t len, const char *type, const char *logging) {
        AslMachineType t = ASL_MACHINE_STANDARD;
        AslMachine *machine = NULL;
        AslDiag d = {};
        StoreLogLevel level;
        bool data;
        int r;

        if (type && asl_machine_type_from_string(type, &t) < 0) {
                log_error("Stored state machine %s has an unknown type %s", name, type);
                return NULL;
        }
        r = asl_machine_parse_type(text, len, t, &machine, &d);
        if (r < 0) {
                log_error("Stored definition %s:%u is invalid: %s: %s", name, version,
                          d.n ? d.entries[0].pointer : "", d.n ? d.entries[0].message : "");
                asl_diag_clear(&d);
                return NULL;
        }
        asl_diag_clear(&d);
        if (t == ASL_MACHINE_EXPRESS)
                apply_express_limit(machine, m->express_duration_max_sec);
        store_sm_logging_parse(logging, &level, &data);
        machine->log_level = (int) level;
        machine->log_execution_data = data;
        machine->definition_bytes = len;
        return machine_cache_put(m->machines, name, version, machine);
}

static void work_machine_ready(Work *w, AslMachine *machine);
static void callback_refuse(Work *w, const char *error, const char *cause);

static void on_definition(RedisConn *c, redisReply *reply, void *userdata) {
        _cleanup_(store_machine_done) StoreMachine sm = {};
        Work *w = userdata;
        AslMachine *machine;
        int r;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        r = store_sm_describe_parse(reply, &sm);
        if (r < 0) {
                if (r != -ENOENT)
                        log_error_errno(r, "Cannot read state machine %s:%u: %m", w->sm_name, w->sm_version);
                work_machine_ready(w, NULL);
                return;
        }
        machine = definition_add(w->m, w->sm_name, w->sm_version, sm.definition, strlen(sm.definition),
                                 sm.type, sm.logging);
        work_machine_ready(w, machine);
}

/* The definition with the machine's type and logging configuration. */
static void load_definition(Work *w) {
        _cleanup_(store_call_done) StoreCall call = {};
        int r;

        r = store_sm_describe_call(w->sm_name, w->sm_version, &call);
        if (r < 0) {
                work_machine_ready(w, NULL);
                return;
        }
        r = manager_eval(w->m, &call, on_definition, w);
        if (r < 0)
                work_retry_later(w);
}

static void on_latest_version(RedisConn *c, redisReply *reply, void *userdata) {
        Work *w = userdata;
        AslMachine *machine;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        if (reply->type != REDIS_REPLY_STRING) {
                work_machine_ready(w, NULL);
                return;
        }
        w->sm_version = (unsigned) strtoul(reply->str, NULL, 10);
        machine = machine_cache_get(w->m->machines, w->sm_name, w->sm_version);
        if (machine)
                work_machine_ready(w, machine);
        else
                load_definition(w);
}

/* Find the machine of w->sm_name:w->sm_version (0: latest) and continue
 * with work_machine_ready(). */
static void work_get_machine(Work *w) {
        AslMachine *machine;
        int r;

        if (w->sm_version == 0) {
                _cleanup_(store_argv_done) StoreArgv a = {};
                store_sm_latest_argv(w->sm_name, &a);
                r = manager_command(w->m, &a, on_latest_version, w);
                if (r < 0)
                        work_retry_later(w);
                return;
        }
        machine = machine_cache_get(w->m->machines, w->sm_name, w->sm_version);
        if (machine)
                work_machine_ready(w, machine);
        else
                load_definition(w);
}

/* A task result was committed: logs and metrics. */
static void note_task_result(Work *w) {
        Manager *m = w->m;

        switch (w->msg->type) {
        case PROTO_TASK_SUCCEEDED:
                /* A worker's own result of a .waitForTaskToken task: the
                 * task goes on waiting for its token (TaskSubmitted). */
                if (apply_task_open(w->st.doc, w->msg->task_succeeded.task_id))
                        break;
                manager_note_task_result(m, w->exec_id, w->state_name, w->msg->task_succeeded.task_id, true,
                                         NULL, NULL);
                break;
        case PROTO_TASK_FAILED:
                manager_note_task_result(m, w->exec_id, w->state_name, w->msg->task_failed.task_id, false,
                                         w->msg->task_failed.error, w->msg->task_failed.cause);
                break;
        case PROTO_SEND_TASK_SUCCESS:
        case PROTO_SEND_TASK_FAILURE:
                manager_note_task_result(
                        m, w->exec_id, w->state_name, w->task_id, w->msg->type == PROTO_SEND_TASK_SUCCESS,
                        w->msg->type == PROTO_SEND_TASK_FAILURE ? w->msg->send_task_failure.error : NULL,
                        w->msg->type == PROTO_SEND_TASK_FAILURE ? w->msg->send_task_failure.cause : NULL);
                break;
        default:
                break;
        }
}

typedef struct CommitCall {
        Work *w;
        StoreCommit *commit; /* owned */
} CommitCall;

static void on_committed(RedisConn *c, redisReply *reply, void *userdata) {
        CommitCall *cc = userdata;
        Work *w = cc->w;
        Manager *m = w->m;
        StoreCommitResult res;
        _cleanup_commit_ StoreCommit *commit = cc->commit;
        int r;

        free(cc);
        if (!reply) {
                work_retry_later(w);
                return;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
                log_struct_exec(LOG_ERR, w->exec_id, NULL, NULL, "exec_commit failed: %s", reply->str);
                work_retry_later(w);
                return;
        }
        r = store_commit_parse_reply(reply, &res);
        if (r < 0) {
                log_struct_exec_errno(LOG_ERR, r, w->exec_id, NULL, NULL,
                                      "Unexpected exec_commit reply: %m");
                work_finish(w);
                return;
        }
        switch (res.outcome) {
        case STORE_COMMIT_OK:
                manager_count(m, COUNTER_COMMITS);
                note_task_result(w);
                if (commit->expected_version == 0) {
                        manager_count(m, COUNTER_STARTED);
                        if (m->m_executions)
                                (void) metric_counter_inc(m->m_executions, (const char *const[]){"RUNNING"});
                        log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Started execution %s",
                                        w->exec_id);
                }
                if (commit->stop_ms > 0) {
                        m->n_finished++;
                        if (m->m_executions && commit->status)
                                (void) metric_counter_inc(m->m_executions,
                                                          (const char *const[]){commit->status});
                        log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Execution %s %s", w->exec_id,
                                        commit->status);
                }
                outbox_produce(m, w->exec_id, commit);
                (void) state_cache_put(m->states, w->exec_id, &w->st, commit, res.version);
                work_finish(w);
                return;
        case STORE_COMMIT_CONFLICT:
                manager_count(m, COUNTER_CONFLICTS);
                if (++w->conflicts > CONFLICT_RETRIES_MAX) {
                        log_struct_exec(LOG_ERR, w->exec_id, NULL, NULL,
                                        "Giving up an event after %u version conflicts", w->conflicts);
                        work_finish(w);
                        return;
                }
                store_exec_state_done(&w->st);
                work_run(w);
                return;
        case STORE_COMMIT_MISSING:
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL, "Execution disappeared; event dropped");
                work_finish(w);
                return;
        case STORE_COMMIT_EXISTS:
                work_respond(w, (ProtoResponse){.execution_id = w->exec_id, .date_ms = res.start_ms});
                return;
        case STORE_COMMIT_ALREADY:
                work_refuse(w, "ExecutionAlreadyExists",
                            "an execution with this name exists with a different input or is closed");
                return;
        }
        work_finish(w);
}

static void work_commit(Work *w, StoreCommit *commit) {
        _cleanup_(store_call_done) StoreCall call = {};
        CommitCall *cc;
        int r;

        r = store_commit_call(commit, &call);
        if (r < 0) {
                store_commit_free(commit);
                log_struct_exec_errno(LOG_ERR, r, w->exec_id, NULL, NULL, "Cannot build the commit: %m");
                work_finish(w);
                return;
        }
        cc = xmalloc(sizeof *cc);
        *cc = (CommitCall){w, commit};
        r = manager_eval(w->m, &call, on_committed, cc);
        if (r == -E2BIG) {
                /* Sending it again would fail again: say so, answer and
                 * drop the event rather than retry it forever. Reached only
                 * with a [coordinator] history_limit near REDIS_ARGS_MAX. */
                log_struct_exec(LOG_ERR, w->exec_id, NULL, NULL,
                                "Cannot commit %zu history events and %zu messages: over the %d arguments "
                                "of one Redis command; event dropped",
                                commit->n_history, commit->n_outbox, REDIS_ARGS_MAX);
                store_commit_free(commit);
                free(cc);
                work_refuse(w, "States.Runtime", "the transition's commit is over the Redis command limit");
        } else if (r < 0) {
                store_commit_free(commit);
                free(cc);
                work_retry_later(w);
        }
}

static bool event_from_message(Work *w, AslEvent *ev) {
        ProtoMessage *msg = w->msg;

        *ev = (AslEvent){};
        switch (msg->type) {
        case PROTO_TASK_SUCCEEDED:
                ev->type = ASL_EVENT_TASK_SUCCEEDED;
                ev->task_id = msg->task_succeeded.task_id;
                ev->output = msg->task_succeeded.output;
                ev->started = true;
                ev->worker = msg->task_succeeded.worker_id;
                ev->started_ms = msg->task_succeeded.started_at_ms;
                return true;
        case PROTO_TASK_FAILED:
                ev->type = ASL_EVENT_TASK_FAILED;
                ev->task_id = msg->task_failed.task_id;
                ev->error = msg->task_failed.error;
                ev->cause = msg->task_failed.cause;
                ev->started = true;
                ev->worker = msg->task_failed.worker_id;
                ev->started_ms = msg->task_failed.started_at_ms;
                return true;
        case PROTO_TASK_HEARTBEAT:
                ev->type = ASL_EVENT_TASK_HEARTBEAT;
                ev->task_id = msg->task_heartbeat.task_id;
                /* A task still queued at the worker has not started. */
                ev->started = msg->task_heartbeat.started_at_ms > 0;
                ev->worker = msg->task_heartbeat.worker_id;
                ev->started_ms = msg->task_heartbeat.started_at_ms;
                return true;
        case PROTO_TIMER_FIRED:
                ev->type = ASL_EVENT_TIMER_FIRED;
                ev->timer_id = msg->timer_fired.timer_id;
                return true;
        case PROTO_STOP_EXECUTION:
                ev->type = ASL_EVENT_STOP;
                ev->error = msg->stop_execution.error;
                ev->cause = msg->stop_execution.cause;
                return true;
        case PROTO_UPDATE_MAP_RUN: {
                ProtoUpdateMapRun *u = &msg->update_map_run;

                ev->type = ASL_EVENT_UPDATE_MAP_RUN;
                ev->map_run_arn = u->map_run_arn;
                ev->set_max_concurrency = u->max_concurrency != NULL;
                ev->max_concurrency = json_integer_value(u->max_concurrency);
                ev->set_tolerated_count = u->tolerated_failure_count != NULL;
                ev->tolerated_count = json_integer_value(u->tolerated_failure_count);
                ev->set_tolerated_percentage = u->tolerated_failure_percentage != NULL;
                ev->tolerated_percentage = json_number_value(u->tolerated_failure_percentage);
                return true;
        }
        case PROTO_MAP_CHILD_ENDED: {
                ProtoMapChildEnded *x = &msg->map_child_ended;

                ev->type = ASL_EVENT_CHILD_ENDED;
                ev->child = x->child_name;
                ev->status = x->status;
                ev->output = x->output;
                ev->error = x->error;
                ev->cause = x->cause;
                ev->child_redrives = x->redrive_count;
                ev->child_unstarted = w->child_unstarted;
                return true;
        }
        case PROTO_SEND_TASK_SUCCESS:
                ev->type = ASL_EVENT_TASK_SUCCEEDED;
                ev->task_id = w->task_id;
                ev->token = w->task_token ? w->task_token : msg->send_task_success.task_token;
                ev->output = msg->send_task_success.output;
                return true;
        case PROTO_SEND_TASK_FAILURE:
                ev->type = ASL_EVENT_TASK_FAILED;
                ev->task_id = w->task_id;
                ev->token = w->task_token ? w->task_token : msg->send_task_failure.task_token;
                ev->error = msg->send_task_failure.error;
                ev->cause = msg->send_task_failure.cause;
                return true;
        case PROTO_SEND_TASK_HEARTBEAT:
                ev->type = ASL_EVENT_TASK_HEARTBEAT;
                ev->task_id = w->task_id;
                ev->token = w->task_token ? w->task_token : msg->send_task_heartbeat.task_token;
                return true;
        default:
                return false;
        }
}

/* StartExecution or StartSyncExecution of an EXPRESS machine: the
 * execution lives in memory (coordinator-express.h) and takes the start's
 * offset, done when it ends. */
static void work_start_express(Work *w, AslMachine *machine) {
        Manager *m = w->m;
        ProtoStartExecution *s = &w->msg->start_execution;
        bool sync = w->msg->type == PROTO_START_SYNC_EXECUTION;
        AslEnv env = manager_env(m);
        ApplyConfig cfg = m->apply;
        AslError err = {};
        StoreCommit *commit = NULL;
        json_t *doc = NULL;
        char *reply_to, run_id[FORMAT_UUID_MAX];
        uint8_t run_bytes[16];
        int r;

        if (express_has(m, w->exec_id)) {
                work_refuse(w, "ExecutionAlreadyExists", "an express execution with this name is running");
                return;
        }
        if (g_hash_table_size(m->express) >= m->express_max_in_flight) {
                /* Full: the start waits for an execution to end
                 * (work_express_unpark()), out of in_flight, since the
                 * results the running ones wait for must still come in. */
                g_queue_push_tail(&m->express_parked, w);
                m->in_flight--;
                manager_maybe_resume(m);
                return;
        }
        reply_to = w->topic ? express_reply_to(m, w->partition) : NULL;
        if (!reply_to) {
                /* No partition of the events topic here (yet): the
                 * assignment comes with the next rebalance. */
                log_struct_exec(
                        LOG_INFO, w->exec_id, NULL, NULL,
                        "No events partition held for an express execution's results; starting later");
                work_retry_later(w);
                return;
        }
        /* Step Functions names an Express execution by a run id too
         * ("express:<machine>:<name>:<run id>"): a name may run twice. */
        random_fill(NULL, run_bytes, sizeof run_bytes);
        uuid_set_version(run_bytes, 4);
        format_uuid(run_bytes, run_id);
        cfg.run_id = run_id;
        cfg.reply_to = reply_to;
        cfg.in_memory = true;
        env.no_history = machine->log_level == STORE_LOG_OFF;
        env.map_child_executions = false; /* an EXPRESS parent's children run in it */
        r = apply_start(&cfg, machine, w->sm_name, w->sm_version, w->exec_name, s->input,
                        sync ? NULL : s->request_id, &env, &commit, &doc, &err);
        if (r < 0) {
                free(reply_to);
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL, "Cannot start: %s: %s", err.error ?: "",
                                err.cause ?: "");
                work_refuse(w, err.error ?: "InvalidExecutionInput", err.cause);
                asl_error_clear(&err);
                return;
        }
        StoreExecState st = {
                .doc = doc,
                .version = 0,
                .state_machine = xstrdup(w->sm_name),
                .sm_version = w->sm_version,
                .status = xstrdup("RUNNING"),
                .name = xstrdup(w->exec_name),
                .start_ms = env.now_ms,
        };
        /* The offset goes with the execution: this Work finishes without it. */
        express_start(m, w->exec_id, run_id, &st, commit, reply_to, TAKE_PTR(w->topic), w->partition,
                      w->offset, machine, sync, s->request_id);
        work_finish(w);
}

/*
 * A child execution that will not run (its start refused) or not run again
 * (its redrive refused, and it is not running): its end as it stands goes
 * to its parent, which would otherwise wait for it (MapChildEnded, as the
 * child's own final commit publishes it, apply.c).
 */
static void child_report(Work *w, const char *parent, const char *map_run_arn, const char *status,
                         json_t *output, const char *error, const char *cause, int64_t start_ms,
                         int64_t redrives) {
        const char *colon = strchr(w->exec_id, ':');
        _cleanup_free_ char *buf = NULL;
        size_t len;
        ProtoMapChildEnded x = {
                .execution_id = parent,
                .child_name = colon ? colon + 1 : w->exec_id,
                .map_run_arn = map_run_arn,
                .status = status,
                .output = output,
                .error = error,
                .cause = cause,
                .start_date = start_ms,
                .stop_date = manager_env(w->m).now_ms,
                .redrive_count = redrives,
        };

        if (!parent || !map_run_arn || proto_encode_map_child_ended(&x, &w->m->limits, &buf, &len) < 0)
                return;
        log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Child execution %s reported %s to %s", w->exec_id,
                        status, parent);
        manager_produce(w->m, w->m->topic_jobs, parent, w->exec_id, buf, NULL);
}

/* A refused redrive of a Map Run's child that has ended: its end again. */
static void child_redrive_refused(Work *w) {
        json_t *mc = asl_exec_map_child(w->st.doc), *doc = w->st.doc;

        if (!mc || !w->st.status || streq(w->st.status, "RUNNING"))
                return;
        child_report(w, json_string_value(json_object_get(mc, "parent")),
                     json_string_value(json_object_get(mc, "mapRunArn")), w->st.status,
                     json_object_get(doc, "output"), json_string_value(json_object_get(doc, "error")),
                     json_string_value(json_object_get(doc, "cause")), w->st.start_ms,
                     apply_child_redrive_attempt(w->msg->redrive_execution.client_token));
}

static void on_child_refusal_kept(RedisConn *c, redisReply *reply, void *userdata) {
        Work *w = userdata;
        ProtoStartExecution *s = &w->msg->start_execution;

        if (!reply || reply->type == REDIS_REPLY_ERROR) {
                work_retry_later(w);
                return;
        }
        child_report(w, s->parent_execution_id, s->map_run_arn, "FAILED", NULL, w->refused_error,
                     w->refused_cause, manager_env(w->m).now_ms, 0);
        work_refuse(w, w->refused_error, w->refused_cause);
}

/*
 * A Map Run child's start refused: its refusal is kept in Redis first
 * (store_child_refused_set_argv()), then its end goes to its parent, which
 * checks it there (a child with no record of its own). A Redis error
 * retries the whole start.
 */
static void child_start_refused(Work *w) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        ProtoStartExecution *s = &w->msg->start_execution;
        int r;

        r = store_child_refused_set_argv(w->exec_id, s->parent_execution_id, s->map_run_arn ?: "",
                                         w->m->apply.retention_sec, &a);
        if (r < 0) {
                work_refuse(w, w->refused_error, w->refused_cause);
                return;
        }
        r = manager_command(w->m, &a, on_child_refusal_kept, w);
        if (r < 0)
                work_retry_later(w);
}

static void work_machine_ready(Work *w, AslMachine *machine) {
        Manager *m = w->m;
        AslEnv env = manager_env(m);
        AslError err = {};
        StoreCommit *commit = NULL;
        int r;

        if (w->stop_unknown) {
                if (machine && machine->type == ASL_MACHINE_EXPRESS)
                        work_refuse(w, "InvalidArn", EXPRESS_STOP_REFUSED);
                else
                        work_refuse(w, "ExecutionDoesNotExist", w->exec_id);
                return;
        }
        if (!machine) {
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL,
                                "State machine %s (version %u) not found", w->sm_name, w->sm_version);
                if (w->msg->type == PROTO_REDRIVE_EXECUTION)
                        /* Its definition version is gone with the machine. */
                        work_refuse(w, "ExecutionNotRedrivable", "State machine is in DELETING status");
                else
                        work_refuse(w, "StateMachineDoesNotExist", w->sm_name);
                return;
        }

        if (w->msg->type == PROTO_START_SYNC_EXECUTION && machine->type != ASL_MACHINE_EXPRESS) {
                work_refuse(w, "StateMachineTypeNotSupported",
                            "StartSyncExecution is not available for STANDARD workflows");
                return;
        }
        if (machine->type == ASL_MACHINE_EXPRESS &&
            (w->msg->type == PROTO_START_EXECUTION || w->msg->type == PROTO_START_SYNC_EXECUTION)) {
                work_start_express(w, machine);
                return;
        }
        if (w->msg->type == PROTO_START_EXECUTION) {
                ProtoStartExecution *s = &w->msg->start_execution;
                json_t *doc = NULL;

                if (s->parent_execution_id)
                        r = apply_start_child(&m->apply, machine, w->sm_name, w->sm_version, w->exec_name,
                                              s->input,
                                              &(ApplyChild){.parent = s->parent_execution_id,
                                                            .map_run_arn = s->map_run_arn,
                                                            .item_processor = s->item_processor,
                                                            .index = s->child_index,
                                                            .item_count = s->item_count},
                                              s->request_id, &env, &commit, &doc, &err);
                else
                        r = apply_start(&m->apply, machine, w->sm_name, w->sm_version, w->exec_name,
                                        s->input, s->request_id, &env, &commit, &doc, &err);
                if (r < 0) {
                        log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL, "Cannot start: %s: %s",
                                        err.error ?: "", err.cause ?: "");
                        if (s->parent_execution_id) {
                                free(w->refused_error);
                                free(w->refused_cause);
                                w->refused_error = xstrdup(err.error ?: "States.Runtime");
                                w->refused_cause = err.cause ? xstrdup(err.cause) : NULL;
                                asl_error_clear(&err);
                                child_start_refused(w);
                                return;
                        }
                        work_refuse(w, err.error ?: "InvalidExecutionInput", err.cause);
                        asl_error_clear(&err);
                        return;
                }
                /* The state as created: kept after the commit (state_cache_put()),
                 * so the first task's result needs no load from Redis. */
                store_exec_state_done(&w->st);
                w->st = (StoreExecState){
                        .doc = doc,
                        .state_machine = xstrdup(w->sm_name),
                        .sm_version = w->sm_version,
                        .status = xstrdup("RUNNING"),
                        .name = xstrdup(w->exec_name),
                        .start_ms = env.now_ms,
                };
                work_commit(w, commit);
                return;
        }

        if (w->msg->type == PROTO_REDRIVE_EXECUTION) {
                r = apply_redrive(&m->apply, machine, &w->st, w->exec_id,
                                  w->msg->redrive_execution.client_token,
                                  w->msg->redrive_execution.request_id, &env, &commit, &err);
                if (r < 0) {
                        log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Redrive refused: %s: %s",
                                        err.error ?: "", err.cause ?: "");
                        child_redrive_refused(w);
                        work_refuse(w, err.error ?: "ExecutionNotRedrivable", err.cause);
                        asl_error_clear(&err);
                        return;
                }
                log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL,
                                "Redriving execution %s (redrive %" PRIi64 ")", w->exec_id,
                                asl_exec_redrive_count(w->st.doc));
                /* Kept in the state cache after the commit: it runs again. */
                free(w->st.status);
                w->st.status = xstrdup(asl_exec_status(w->st.doc) ?: "RUNNING");
                work_commit(w, commit);
                return;
        }

        AslEvent ev;
        const char *request_id = proto_message_request_id(w->msg);
        if (!event_from_message(w, &ev)) {
                work_finish(w);
                return;
        }
        if (ev.task_id) {
                /* The document changes in apply_event(): copy the task's state now. */
                json_t *task = json_object_get(json_object_get(w->st.doc, "tasks"), ev.task_id);
                const char *state = json_string_value(json_object_get(task, "state"));
                free(w->state_name);
                w->state_name = state ? xstrdup(state) : NULL;
        }
        ApplyConfig cfg = m->apply;
        cfg.reply_to = w->reply_to;
        /* EXPRESS: nothing goes to Redis, and the history only to the logs
         * topic, if the machine's logging level wants it. */
        cfg.in_memory = w->express;
        env.no_history = w->express && machine->log_level == STORE_LOG_OFF;
        env.map_child_executions = !w->express;
        r = apply_event(&cfg, machine, &w->st, w->exec_id, &ev, request_id, &env, &commit, &err);
        if (r != 0 && w->st_cached) {
                /* The cached state may be behind Redis (another coordinator
                 * had the partition meanwhile): decide on the stored one. */
                asl_error_clear(&err);
                store_exec_state_done(&w->st);
                w->st_cached = false;
                work_run(w);
                return;
        }
        if (r != 0) {
                if (r < 0)
                        log_struct_exec(LOG_DEBUG, w->exec_id, w->state_name, ev.task_id,
                                        "Event not applied: %s: %s", err.error ?: "", err.cause ?: "");
                manager_count(m, COUNTER_STALE);
                if (w->msg->type == PROTO_STOP_EXECUTION)
                        work_refuse(w, "ExecutionNotRunning", w->exec_id);
                else if (w->msg->type == PROTO_UPDATE_MAP_RUN)
                        work_refuse(w, "ResourceNotFound",
                                    r < 0 && err.cause ? err.cause : "the Map Run is not running");
                else if (proto_type_is_callback(w->msg->type))
                        callback_refuse(w, "TaskDoesNotExist", "the task is closed");
                else
                        work_finish(w);
                asl_error_clear(&err);
                return;
        }
        if (w->express) {
                note_task_result(w);
                express_commit(m, w->exec_id, &w->st, commit);
                work_finish(w);
                return;
        }
        work_commit(w, commit);
}

static void work_state_ready(Work *w);

/* A StopExecution of an execution that is not in Redis: an EXPRESS
 * machine's execution (running here, on another coordinator, or ended) is
 * refused as Step Functions refuses an Express execution's ARN, whichever
 * coordinator the stop reached; any other is ExecutionDoesNotExist. The
 * machine is the execution id's first part (store_exec_id()). */
static void work_stop_unknown(Work *w) {
        const char *colon = strchr(w->exec_id, ':');

        if (!colon) {
                work_refuse(w, "ExecutionDoesNotExist", w->exec_id);
                return;
        }
        free(w->sm_name);
        w->sm_name = xstrndup(w->exec_id, colon - w->exec_id);
        w->sm_version = 0;
        w->stop_unknown = true;
        work_get_machine(w);
}

static void on_loaded(RedisConn *c, redisReply *reply, void *userdata) {
        Work *w = userdata;
        int r;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        store_exec_state_done(&w->st);
        r = store_exec_load_parse(reply, &w->st);
        if (r == -ENOENT) {
                log_struct_exec(LOG_INFO, w->exec_id, NULL, NULL, "Event for an unknown execution dropped");
                if (w->msg->type == PROTO_STOP_EXECUTION)
                        work_stop_unknown(w);
                else if (w->msg->type == PROTO_REDRIVE_EXECUTION)
                        work_refuse(w, "ExecutionDoesNotExist", w->exec_id);
                else if (w->msg->type == PROTO_UPDATE_MAP_RUN)
                        work_refuse(w, "ResourceNotFound", w->msg->update_map_run.map_run_arn);
                else if (proto_type_is_callback(w->msg->type))
                        callback_refuse(w, "TaskDoesNotExist", "the task is closed");
                else
                        work_finish(w);
                return;
        }
        if (r < 0) {
                log_struct_exec_errno(LOG_ERR, r, w->exec_id, NULL, NULL, "Cannot load the execution: %m");
                work_finish(w);
                return;
        }
        w->st_cached = false;
        work_state_ready(w);
}

/* w->st holds the execution (read from Redis or from the state cache). */
static void work_state_ready(Work *w) {
        if (w->msg->type == PROTO_REDRIVE_EXECUTION && w->express) {
                work_refuse(w, "ExecutionNotRedrivable", "Express executions cannot be redriven");
                return;
        }
        if (w->msg->type == PROTO_REDRIVE_EXECUTION) {
                int64_t date;

                /* A retried request: the answer it had (apply.h). */
                if (apply_redrive_replay(w->st.doc, w->msg->redrive_execution.client_token,
                                         manager_env(w->m).now_ms, &date)) {
                        work_respond(w, (ProtoResponse){.execution_id = w->exec_id, .date_ms = date});
                        return;
                }
                /* A Map Run's child is redriven with its parent (which sends its
                 * own token, apply_child_redrive_attempt()), not on its own. */
                if (asl_exec_map_child(w->st.doc) &&
                    apply_child_redrive_attempt(w->msg->redrive_execution.client_token) == 0) {
                        work_refuse(w, "ExecutionNotRedrivable",
                                    "A child execution of a Map Run is redriven by redriving its parent");
                        return;
                }
                /* The engine decides (asl_exec_redrivable()) on the document;
                 * a RUNNING one is refused with Step Functions' reason. */
                if (streq(w->st.status, "RUNNING")) {
                        work_refuse(w, "ExecutionNotRedrivable",
                                    "Execution is RUNNING and cannot be redriven");
                        return;
                }
        } else if (!streq(w->st.status, "RUNNING")) {
                manager_count(w->m, COUNTER_STALE);
                if (w->msg->type == PROTO_STOP_EXECUTION)
                        work_refuse(w, "ExecutionNotRunning", w->exec_id);
                else if (proto_type_is_callback(w->msg->type))
                        callback_refuse(w, "TaskDoesNotExist", "the task is closed");
                else
                        work_finish(w);
                return;
        }
        free(w->sm_name);
        w->sm_name = xstrdup(w->st.state_machine);
        w->sm_version = w->st.sm_version;
        if (w->sm_version == 0) {
                work_finish(w);
                return;
        }
        work_get_machine(w);
}

static void work_lookup_token(Work *w);
static void work_check_child(Work *w);

static void work_run(Work *w) {
        if (!w->exec_id) {
                /* A callback whose token lookup must be retried. */
                work_lookup_token(w);
                return;
        }
        if (w->msg->type == PROTO_MAP_CHILD_ENDED && !w->child_checked) {
                work_check_child(w);
                return;
        }
        if (w->msg->type == PROTO_START_EXECUTION || w->msg->type == PROTO_START_SYNC_EXECUTION) {
                work_get_machine(w);
                return;
        }

        _cleanup_(store_argv_done) StoreArgv a = {};
        const char *reply_to;
        int r;

        if (w->stop_unknown) {
                /* A retry of the machine's lookup. */
                work_get_machine(w);
                return;
        }
        if (w->express) {
                /* Run again (a retry) with the state it holds. */
                work_state_ready(w);
                return;
        }
        if (w->msg->type == PROTO_STOP_EXECUTION && express_has(w->m, w->exec_id)) {
                work_refuse(w, "InvalidArn", EXPRESS_STOP_REFUSED);
                return;
        }
        if (express_take_state(w->m, w->exec_id, &w->st, &reply_to)) {
                w->express = true;
                w->reply_to = xstrdup(reply_to);
                work_state_ready(w);
                return;
        }

        if (state_cache_take(w->m->states, w->exec_id, &w->st)) {
                w->st_cached = true;
                work_state_ready(w);
                return;
        }
        store_exec_load_argv(w->exec_id, &a);
        r = manager_command(w->m, &a, on_loaded, w);
        if (r < 0)
                work_retry_later(w);
}

/* Tokens are secrets: logs show their first 8 characters only. */
static void callback_refuse(Work *w, const char *error, const char *cause) {
        log_info("Callback %s with task token %.8s... refused: %s",
                 proto_type_to_string(w->msg->type) ?: "?", proto_message_task_token(w->msg), error);
        work_refuse(w, error, cause);
}

static void on_token(RedisConn *c, redisReply *reply, void *userdata) {
        _cleanup_(store_token_record_done) StoreTokenRecord t = {};
        Work *w = userdata;
        int r;

        if (!reply) {
                work_retry_later(w);
                return;
        }
        r = store_token_parse_record(reply, &t);
        if (r >= 0 && t.closed) {
                callback_refuse(w, t.closed,
                                streq(t.closed, "TaskTimedOut") ? "the task has timed out"
                                                                : "the task is closed");
                return;
        }
        if (r >= 0 && t.alias_of && !w->task_token) {
                /* An activity's delivery token (store-activities.c): the
                 * answer is the task token's (live, timed out, closed). */
                w->task_token = TAKE_PTR(t.alias_of);
                work_lookup_token(w);
                return;
        }
        if (r < 0 || t.alias_of) {
                /* The same answer whether or not the execution exists. */
                callback_refuse(w, "InvalidToken", "invalid task token");
                return;
        }
        w->exec_id = TAKE_PTR(t.exec_id);
        w->task_id = TAKE_PTR(t.task_id);
        work_enqueue(w);
}

/* Before a token callback is queued: token -> (exec id, task id); an
 * activity's delivery token -> its task token -> (exec id, task id). */
static void work_lookup_token(Work *w) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        int r;

        r = store_token_lookup_argv(w->task_token ? w->task_token : proto_message_task_token(w->msg), &a);
        if (r >= 0)
                r = manager_command(w->m, &a, on_token, w);
        if (r < 0)
                work_retry_later(w);
}

/*
 * MapChildEnded comes on the jobs topic, which producers write too: the
 * child's own record in Redis, which only coordinators write, decides. A
 * child that exists must have ended (not RUNNING), under this parent and
 * Map Run, with the status the message says (or SUCCEEDED, when the message
 * is its States.DataLimitExceeded failure: the output was too large for
 * the message); a SUCCEEDED child's output is taken from its record. A
 * child with no record can only be reported FAILED, and only when its
 * start was refused (work_check_refusal()). Anything else changes nothing
 * and is logged.
 * Returns NULL, or why the message is refused.
 */
static const char *child_end_refusal(ProtoMessage *msg, const char *parent, const StoreChildRecord *rec) {
        ProtoMapChildEnded *x = &msg->map_child_ended;
        json_t *out;

        if (!rec->status)
                return streq(x->status, "FAILED") && !x->output ? NULL : "the child execution does not exist";
        if (!rec->parent || !streq(rec->parent, parent) || !rec->map_run_arn ||
            !streq(rec->map_run_arn, x->map_run_arn))
                return "the child execution belongs to another parent or Map Run";
        if (streq(rec->status, "RUNNING"))
                return "the child execution is RUNNING";
        if (streq(x->status, "FAILED") && streq_ptr(x->error, "States.DataLimitExceeded") &&
            streq(rec->status, "SUCCEEDED"))
                return NULL;
        if (!streq(rec->status, x->status))
                return "the child execution ended with another status";
        if (!streq(rec->status, "SUCCEEDED"))
                return NULL;
        out = rec->output ? json_loads(rec->output, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : json_null();
        if (!out)
                return "the child execution's output is not JSON";
        json_object_set_new(msg->root, "output", out);
        x->output = out;
        return NULL;
}

static void work_check_refusal(Work *w);

static void on_child_record(RedisConn *c, redisReply *reply, void *userdata) {
        _cleanup_(store_child_record_done) StoreChildRecord rec = {};
        Work *w = userdata;
        ProtoMapChildEnded *x = &w->msg->map_child_ended;
        const char *why;

        if (!reply || store_child_record_parse(reply, &rec) < 0) {
                work_retry_later(w);
                return;
        }
        why = child_end_refusal(w->msg, w->exec_id, &rec);
        if (!why && !rec.status) {
                /* no record: only a refused start, whose refusal is kept */
                work_check_refusal(w);
                return;
        }
        if (why) {
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL,
                                "MapChildEnded of child %s (%s) refused: %s", x->child_name, x->status, why);
                work_finish(w);
                return;
        }
        w->child_checked = true;
        work_run(w);
}

/* The child execution id a MapChildEnded names: the child runs the
 * parent's state machine, "<machine>:<child name>". NULL when the name is
 * not an execution's. */
static char *child_exec_id(Work *w) {
        const char *colon = strchr(w->exec_id, ':');
        _cleanup_free_ char *sm = xstrndup(w->exec_id, colon ? (size_t) (colon - w->exec_id) : 0);

        return store_exec_id(sm, w->msg->map_child_ended.child_name);
}

static void on_child_refusal(RedisConn *c, redisReply *reply, void *userdata) {
        Work *w = userdata;
        ProtoMapChildEnded *x = &w->msg->map_child_ended;
        int r = store_child_refused_parse(reply, w->exec_id, x->map_run_arn);

        if (r < 0) {
                work_retry_later(w);
                return;
        }
        if (r == 0) {
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL,
                                "MapChildEnded of child %s (%s) refused: the child execution does not exist",
                                x->child_name, x->status);
                work_finish(w);
                return;
        }
        w->child_checked = true;
        w->child_unstarted = true;
        work_run(w);
}

/* A FAILED end of a child with no record: its start must have been refused
 * (child_start_refused()), for this parent and Map Run. */
static void work_check_refusal(Work *w) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_free_ char *child = child_exec_id(w);

        if (!child || store_child_refused_get_argv(child, &a) < 0 ||
            manager_command(w->m, &a, on_child_refusal, w) < 0)
                work_retry_later(w);
}

/* MapChildEnded: the child's record first (child_end_refusal()). */
static void work_check_child(Work *w) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_free_ char *child = child_exec_id(w);
        int r;

        if (!child) {
                log_struct_exec(LOG_WARNING, w->exec_id, NULL, NULL,
                                "MapChildEnded of child %s refused: not an execution name",
                                w->msg->map_child_ended.child_name);
                work_finish(w);
                return;
        }
        store_child_record_argv(child, &a);
        r = manager_command(w->m, &a, on_child_record, w);
        if (r < 0)
                work_retry_later(w);
}

/* A deterministic execution name for a StartExecution without one: the
 * same message redelivered starts the same execution. */
static char *derived_name(const KafkaMessage *km) {
        _cleanup_free_ char *s = xasprintf("%s/%" PRIi32 "/%" PRIi64, km->topic, km->partition, km->offset);
        uint8_t d[HASH_DIGEST_MAX];
        char uuid[FORMAT_UUID_MAX];

        hash_digest(HASH_SHA1, s, strlen(s), d);
        uuid_set_version(d, 5);
        return xstrdup(format_uuid(d, uuid));
}

/* Each topic takes only its own message kinds (docs/messages.md, "Topics"):
 * <prefix>jobs the requests that start, stop and redrive executions, which only
 * producers may write; <prefix>events task results, callbacks and timer
 * firings, which workers write too. A worker (it parses untrusted images)
 * therefore cannot start or stop an execution, and with Kafka ACLs per role
 * (docs/security.md) a producer cannot forge a task result. */
static bool topic_accepts(Manager *m, const char *topic, ProtoType type) {
        switch (type) {
        case PROTO_START_EXECUTION:
        case PROTO_START_SYNC_EXECUTION:
        case PROTO_STOP_EXECUTION:
        case PROTO_REDRIVE_EXECUTION:
        case PROTO_UPDATE_MAP_RUN:
        case PROTO_MAP_CHILD_ENDED:
                return streq(topic, m->topic_jobs);
        case PROTO_TASK_SUCCEEDED:
        case PROTO_TASK_FAILED:
        case PROTO_TASK_HEARTBEAT:
        case PROTO_SEND_TASK_SUCCESS:
        case PROTO_SEND_TASK_FAILURE:
        case PROTO_SEND_TASK_HEARTBEAT:
        case PROTO_TIMER_FIRED:
                return streq(topic, m->topic_events);
        default:
                return true; /* refused below as not for the coordinator at all */
        }
}

int work_on_message(KafkaConsumer *k, const KafkaMessage *km, void *userdata) {
        Manager *m = userdata;
        _cleanup_free_ char *reason = NULL;
        ProtoMessage *msg = NULL;
        Work *w;
        int r;

        if (m->topic_triggers && streq(km->topic, m->topic_triggers))
                return triggers_on_message(m, km);

        r = proto_decode(km->payload, km->len, &m->limits, &msg, &reason);
        if (r < 0) {
                dead_letters_publish(m->dead_letters, km, reason ? reason : "undecodable message");
                return 0;
        }
        if (!topic_accepts(m, km->topic, msg->type)) {
                _cleanup_free_ char *why = xasprintf("message type %s is not accepted on %s",
                                                     proto_type_to_string(msg->type) ?: "?", km->topic);
                proto_message_free(msg);
                dead_letters_publish(m->dead_letters, km, why);
                return 0;
        }

        w = xmalloc(sizeof *w);
        *w = (Work){
                .m = m,
                .topic = xstrdup(km->topic),
                .partition = km->partition,
                .offset = km->offset,
                .msg = msg,
        };

        switch (msg->type) {
        case PROTO_START_EXECUTION:
        case PROTO_START_SYNC_EXECUTION: {
                ProtoStartExecution *s = &msg->start_execution;
                r = store_sm_ref_parse(s->state_machine, &w->sm_name, &w->sm_version);
                if (r < 0) {
                        /* Refused before it became work: answered without waiting for the reply. */
                        (void) request_respond(
                                m, msg,
                                (ProtoResponse){.error = "InvalidArn",
                                                .cause = "invalid state machine name or version"},
                                NULL, NULL);
                        work_free(w);
                        dead_letters_publish(m->dead_letters, km, "invalid stateMachine name");
                        return 0;
                }
                w->exec_name = s->name ? xstrdup(s->name) : derived_name(km);
                w->exec_id = store_exec_id(w->sm_name, w->exec_name);
                if (!w->exec_id) {
                        (void) request_respond(
                                m, msg,
                                (ProtoResponse){.error = "InvalidName",
                                                .cause = "an execution name has 1 to 80 characters, "
                                                         "without whitespace, ':', '|', '{' or '}'"},
                                NULL, NULL);
                        work_free(w);
                        dead_letters_publish(m->dead_letters, km, "invalid execution name");
                        return 0;
                }
                break;
        }
        case PROTO_STOP_EXECUTION:
        case PROTO_REDRIVE_EXECUTION:
        case PROTO_UPDATE_MAP_RUN:
        case PROTO_MAP_CHILD_ENDED:
        case PROTO_TASK_SUCCEEDED:
        case PROTO_TASK_FAILED:
        case PROTO_TASK_HEARTBEAT:
        case PROTO_TIMER_FIRED: {
                const char *id = proto_message_execution_id(msg);
                if ((msg->type == PROTO_STOP_EXECUTION || msg->type == PROTO_REDRIVE_EXECUTION) &&
                    store_exec_arn_is_express(id)) {
                        /* An EXPRESS execution's ARN: Step Functions' answer. */
                        (void) request_respond(
                                m, msg,
                                (ProtoResponse){.error = "InvalidArn", .cause = STORE_EXPRESS_ARN_REFUSED},
                                NULL, NULL);
                        work_free(w);
                        return 0;
                }
                w->exec_id = id ? store_exec_id_normalize(id) : NULL;
                if (!w->exec_id) {
                        work_free(w);
                        dead_letters_publish(m->dead_letters, km, "invalid executionId");
                        return 0;
                }
                break;
        }
        case PROTO_SEND_TASK_SUCCESS:
        case PROTO_SEND_TASK_FAILURE:
        case PROTO_SEND_TASK_HEARTBEAT:
                if (strlen(proto_message_task_token(msg)) > STORE_TOKEN_MAX) {
                        work_free(w);
                        dead_letters_publish(m->dead_letters, km, "invalid taskToken");
                        return 0;
                }
                break;
        default: {
                _cleanup_free_ char *why = xasprintf("message type %s is not for the coordinator",
                                                     proto_type_to_string(msg->type) ?: "?");
                work_free(w);
                dead_letters_publish(m->dead_letters, km, why);
                return 0;
        }
        }

        m->in_flight++;
        if (!m->paused && m->in_flight >= m->max_in_flight) {
                if (kafka_consumer_pause(m->consumer, NULL) >= 0)
                        m->paused = true;
        }
        if (!w->exec_id)
                work_lookup_token(w);
        else
                work_enqueue(w);
        return 0;
}

void exec_queues_free_works(Manager *m) {
        GHashTableIter it;
        void *v;

        g_hash_table_iter_init(&it, m->queues);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                ExecQueue *q = v;
                for (Work *w = q->head, *n; w; w = n) {
                        n = w->next;
                        work_free(w);
                }
                q->head = q->tail = NULL;
        }
}

void work_internal(Manager *m, const char *payload, size_t len) {
        _cleanup_free_ char *reason = NULL;
        ProtoMessage *msg = NULL;
        const char *id;
        Work *w;

        if (proto_decode(payload, len, &m->limits, &msg, &reason) < 0) {
                log_error("Cannot decode an internal event: %s", reason ?: "?");
                return;
        }
        id = proto_message_execution_id(msg);
        w = xmalloc(sizeof *w);
        *w = (Work){
                .m = m,
                .msg = msg,
                .exec_id = id ? store_exec_id_normalize(id) : NULL,
        };
        if (!w->exec_id) {
                work_free(w);
                return;
        }
        m->in_flight++;
        work_enqueue(w);
}
