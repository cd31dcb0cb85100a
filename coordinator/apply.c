/* SPDX-License-Identifier: MIT */
/*
 * The apply step (see apply.h): engine effects -> one StoreCommit.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "apply.h"
#include "json-writer.h"

#define APPLY_ROUNDS_MAX 1000   /* synthetic failures fed back per event */

typedef struct ApplyRun {
        const ApplyConfig *cfg;
        const AslMachine *m;
        const AslEnv *env;
        json_t *doc;            /* borrowed */
        StoreCommit *commit;    /* borrowed */
        const char *exec_id, *name, *state_machine;
        unsigned sm_version;
        int64_t start_ms;
        int64_t redrives; /* the execution's redriveCount (its notifications' ids) */
        bool finished;
        /* What an effect could not do, fed back to the engine as a failure
         * (run_event()): a task that could not be dispatched (TASK_FAILED),
         * a child execution whose StartExecution could not be written
         * (CHILD_ENDED FAILED: it never starts) */
        struct ApplyFailure {
                bool child;
                char *id, *error, *cause;
        } *failures;
        size_t n_failures;
} ApplyRun;

static void run_done(ApplyRun *r) {
        for (size_t i = 0; i < r->n_failures; i++) {
                free(r->failures[i].id);
                free(r->failures[i].error);
                free(r->failures[i].cause);
        }
        free(r->failures);
        r->failures = NULL;
        r->n_failures = 0;
}

static const char *jstr(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* The answer to a request that this commit stores (nothing without a
 * request id). */
static void set_response_run(StoreCommit *c, ProtoType request, const char *request_id, const char *exec_id,
                             const char *run_id, int64_t date_ms) {
        _cleanup_free_ char *text = NULL;
        size_t len;

        if (!request_id)
                return;
        if (proto_encode_response(&(ProtoResponse){.request = request,
                                                   .request_id = request_id,
                                                   .execution_id = exec_id,
                                                   .run_id = run_id,
                                                   .date_ms = date_ms},
                                  &text, &len) >= 0)
                store_commit_set_response(c, request_id, text);
}

static void set_response(StoreCommit *c, ProtoType request, const char *request_id, const char *exec_id,
                         int64_t date_ms) {
        set_response_run(c, request, request_id, exec_id, NULL, date_ms);
}

/* The document's text for Redis and the status; in memory only the
 * status (the caller keeps the document itself). */
static void commit_doc(const ApplyConfig *cfg, StoreCommit *c, json_t *doc) {
        const char *status = asl_exec_status(doc) ?: "RUNNING";

        if (!cfg->in_memory) {
                store_commit_set_doc_split(c, doc, status);
                return;
        }
        free(c->status);
        c->status = xstrdup(status);
}

static void add_notification(ApplyRun *r, const char *status, int64_t stop_ms, json_t *output,
                             const char *error, const char *cause) {
        int64_t redrives = r->redrives;
        /* A redriven execution's statuses come again: a dedup id of their own. */
        _cleanup_free_ char *id =
                redrives > 0 ? xasprintf("%s#%s#%" PRIi64, r->exec_id, status, redrives) : NULL;
        ProtoExecutionStatusChanged n = {
                .id = id,
                .execution_id = r->exec_id,
                .execution_name = r->name,
                .state_machine = r->state_machine,
                .status = status,
                .start_date = r->start_ms,
                .stop_date = stop_ms,
                .output = output,
                .error = error,
                .cause = cause,
        };
        _cleanup_free_ char *buf = NULL, *topic = NULL, *item = NULL;
        size_t len;
        int k;

        if (r->cfg->in_memory) /* ExecutionStatusChanged is for STANDARD executions */
                return;
        k = proto_encode_execution_status_changed(&n, r->cfg->limits, &buf, &len);
        if (k == -E2BIG && output) {
                /* Output too large for a notification: send it without. */
                n.output = NULL;
                k = proto_encode_execution_status_changed(&n, r->cfg->limits, &buf, &len);
        }
        if (k < 0)
                return;
        if (proto_topic_name(r->cfg->topic_prefix, PROTO_TOPIC_NOTIFICATIONS, NULL, &topic) < 0)
                return;
        item = redrives > 0 ? xasprintf("notify:%s:%" PRIi64, status, redrives)
                            : xasprintf("notify:%s", status);
        store_commit_add_outbox(r->commit, item, topic, buf, NULL);
}

/* A failure to feed back: of child execution `id` (else of task `id`);
 * cause is taken over. */
static void note_failure(ApplyRun *r, bool child, const char *id, const char *error, char *cause) {
        r->failures = xrealloc(r->failures, (r->n_failures + 1) * sizeof(*r->failures));
        r->failures[r->n_failures++] = (struct ApplyFailure){
                .child = child, .id = xstrdup(id), .error = xstrdup(error), .cause = cause};
}

static void note_failed(ApplyRun *r, const char *task_id, const char *cause) {
        note_failure(r, false, task_id, "States.TaskFailed", xstrdup(cause));
}

/* The image a task's input names, for logs and metrics: its "key", or
 * that of a wrapped "input" (Lambda-style payloads). Borrowed, or NULL. */
static const char *image_key(json_t *input) {
        return json_string_value(json_object_get(input, "key"))
                       ?: json_string_value(json_object_get(json_object_get(input, "input"), "key"));
}

static void dispatch_task(ApplyRun *r, const AslDispatch *d) {
        _cleanup_(resource_target_done) ResourceTarget t = {};
        _cleanup_free_ char *cause = NULL, *topic = NULL, *buf = NULL, *item = NULL;
        size_t len;
        int k;

        k = resources_resolve(r->cfg->resources, d->resource, d->input, &t, &cause);
        if (k < 0) {
                note_failed(r, d->task_id, cause);
                return;
        }
        if (!t.activity)
                k = proto_topic_name(r->cfg->topic_prefix, PROTO_TOPIC_TASKS, t.pool, &topic);
        if (k < 0) {
                _cleanup_free_ char *c = xasprintf("invalid task topic for pool %s of resource %s",
                                                   t.pool ? t.pool : "", d->resource);
                note_failed(r, d->task_id, c);
                return;
        }

        ProtoTask msg = {
                .execution_id = r->exec_id,
                .execution_name = r->name,
                .state_machine = r->state_machine,
                .state = d->state,
                .task_id = d->task_id,
                .attempt = d->attempt,
                .resource = d->resource,
                .operation = t.activity ? t.activity : t.operation,
                .input = t.input,
                .deadline_ms = d->deadline_ms,
                .heartbeat_seconds = d->heartbeat_seconds,
                .task_token = d->token,
                .dispatched_at_ms = r->env->now_ms,
                .index_path = d->index_path,
                .reply_to = r->cfg->reply_to,
        };
        k = proto_encode_task(&msg, r->cfg->limits, &buf, &len);
        if (k < 0) {
                _cleanup_free_ char *c = xasprintf("cannot encode the task message: %s",
                                                   strerror(-k));
                note_failed(r, d->task_id, c);
                return;
        }
        if (t.activity) {
                /* For GetActivityTask callers: queued in Redis by this very
                 * commit, with the token that opens the task. */
                if (!msg.task_token) {
                        note_failed(r, d->task_id, "an activity task without a task token");
                        return;
                }
                store_commit_add_activity_task(r->commit, t.activity, msg.task_token, buf);
                store_commit_add_token(r->commit, d->task_id, msg.task_token);
                return;
        }
        item = xasprintf("task:%s", d->task_id);
        store_commit_add_outbox(r->commit, item, topic, buf,
                                &(StoreOutboxNote){.task_id = d->task_id,
                                                   .state = d->state,
                                                   .operation = t.operation,
                                                   .image_key = image_key(t.input)});
        if (msg.task_token)
                store_commit_add_token(r->commit, d->task_id, msg.task_token);
}

static void child_ended(ApplyRun *r, const AslFinished *f);

static void finished(ApplyRun *r, const AslFinished *f) {
        if (f->output) {
                _cleanup_free_ char *s = json_writer_dumps(f->output);
                store_commit_set_field(r->commit, "output", s ? s : "null");
        }
        if (f->error)
                store_commit_set_field(r->commit, "error", f->error);
        if (f->cause)
                store_commit_set_field(r->commit, "cause", f->cause);
        store_commit_set_terminal(r->commit, r->env->now_ms, r->cfg->retention_sec);
        add_notification(r, f->status, r->env->now_ms, f->output, f->error, f->cause);
        if (asl_exec_map_child(r->doc) && !r->cfg->in_memory)
                child_ended(r, f);
        r->finished = true;
}

/* The Map Run id: the last part of its ARN. Borrowed. */
static const char *map_run_id(const char *arn) {
        const char *p = arn ? strrchr(arn, ':') : NULL;

        return p ? p + 1 : NULL;
}

/* A child's outbox item: "<kind>><key>", the Kafka key after the '>'
 * (coordinator-outbox.c), as execution names cannot hold '>'. */
static void add_keyed(ApplyRun *r, const char *kind, const char *key, ProtoTopic t, const char *payload) {
        _cleanup_free_ char *topic = NULL, *item = xasprintf("%s>%s", kind, key);

        if (proto_topic_name(r->cfg->topic_prefix, t, NULL, &topic) < 0)
                return;
        store_commit_add_outbox(r->commit, item, topic, payload, NULL);
}

/* START_CHILD: a StartExecution of the child, keyed by its id, on the
 * jobs topic; STOP_CHILD: its StopExecution. */
static void child_message(ApplyRun *r, const AslEffect *e) {
        _cleanup_free_ char *id = store_exec_id(r->state_machine, e->child.name), *buf = NULL, *sm = NULL;
        size_t len;
        int k;

        if (!id)
                return;
        if (e->type == ASL_EFFECT_STOP_CHILD) {
                k = proto_encode_stop_execution(
                        &(ProtoStopExecution){.execution_id = id,
                                              .error = "States.Aborted",
                                              .cause = "The Map Run of the parent execution ended"},
                        r->cfg->limits, &buf, &len);
                if (k >= 0)
                        add_keyed(r, "stop", id, PROTO_TOPIC_JOBS, buf);
                return;
        }
        if (e->child.redrive > 0) {
                /* the same request each time this redrive is sent: answered once */
                _cleanup_free_ char *token =
                        xasprintf(APPLY_CHILD_REDRIVE_TOKEN "%" PRIi64, e->child.redrive);

                k = proto_encode_redrive_execution(
                        &(ProtoRedriveExecution){.execution_id = id, .client_token = token}, r->cfg->limits,
                        &buf, &len);
                if (k >= 0)
                        add_keyed(r, "redrive", id, PROTO_TOPIC_JOBS, buf);
                return;
        }
        sm = xasprintf("%s:%u", r->state_machine, r->sm_version);
        k = proto_encode_start_execution(&(ProtoStartExecution){.state_machine = sm,
                                                                .name = e->child.name,
                                                                .input = e->child.input,
                                                                .parent_execution_id = r->exec_id,
                                                                .map_run_arn = e->child.map_run_arn,
                                                                .item_processor = e->child.machine,
                                                                .child_index = e->child.index,
                                                                .item_count = e->child.items},
                                         r->cfg->limits, &buf, &len);
        if (k >= 0)
                add_keyed(r, "child", id, PROTO_TOPIC_JOBS, buf);
        else if (k == -E2BIG) {
                /* Its item fails (run_event()): a child that cannot be
                 * started must not be waited for. */
                size_t max = r->cfg->limits && r->cfg->limits->max_payload_bytes
                                     ? r->cfg->limits->max_payload_bytes
                                     : PROTO_MAX_PAYLOAD_BYTES_DEFAULT;
                note_failure(r, true, e->child.name, "States.DataLimitExceeded",
                                  xasprintf("The child execution input has a size of %zu bytes; with its "
                                            "StartExecution message it exceeds the maximum of %zu bytes, "
                                            "or is nested deeper than %d levels",
                                            json_writer_size(e->child.input), max, PROTO_MAX_DEPTH_DEFAULT));
        } else
                note_failure(r, true, e->child.name, "States.Runtime",
                                  xasprintf("The StartExecution of the child execution could not be "
                                            "written: %s", strerror(-k)));
}

/* A child execution ended: MapChildEnded to its parent, keyed by the
 * parent (an output too large for the message fails the child's entry
 * with States.DataLimitExceeded). */
static void child_ended(ApplyRun *r, const AslFinished *f) {
        json_t *mc = asl_exec_map_child(r->doc);
        const char *parent = jstr(mc, "parent");
        _cleanup_free_ char *buf = NULL;
        size_t len;
        ProtoMapChildEnded x = {
                .execution_id = parent,
                .child_name = r->name,
                .map_run_arn = jstr(mc, "mapRunArn"),
                .status = f->status,
                .output = f->output,
                .error = f->error,
                .cause = f->cause,
                .start_date = r->start_ms,
                .stop_date = r->env->now_ms,
                .redrive_count = json_integer_value(json_object_get(mc, "attempt")),
        };
        int k;

        if (!parent || !x.map_run_arn)
                return;
        k = proto_encode_map_child_ended(&x, r->cfg->limits, &buf, &len);
        if (k == -E2BIG) {
                x.status = "FAILED";
                x.output = NULL;
                x.error = "States.DataLimitExceeded";
                x.cause = "The child execution's output is too large for its parent";
                k = proto_encode_map_child_ended(&x, r->cfg->limits, &buf, &len);
        }
        if (k >= 0)
                add_keyed(r, "ended", parent, PROTO_TOPIC_JOBS, buf);
}

/* A Map Run record's changes: its fields as strings, HSET by the commit. */
static void map_run(ApplyRun *r, const AslMapRun *m) {
        const char *field;
        json_t *v;

        if (m->created)
                store_commit_add_map_run(r->commit, m->run_id);
        json_object_foreach (m->set, field, v) {
                char buf[64];

                if (json_is_string(v))
                        store_commit_set_map_run_field(r->commit, m->run_id, field, json_string_value(v));
                else if (json_is_integer(v)) {
                        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                        store_commit_set_map_run_field(r->commit, m->run_id, field, buf);
                } else if (json_is_real(v)) {
                        snprintf(buf, sizeof buf, "%.10g", json_real_value(v));
                        store_commit_set_map_run_field(r->commit, m->run_id, field, buf);
                }
        }
        if (m->failure) {
                _cleanup_free_ char *text = json_writer_dumps(m->failure);

                if (text)
                        store_commit_add_map_run_failure(r->commit, m->run_id, text);
        }
}

/* The effects become the commit's operations; history texts are taken
 * over by the commit. */
static void apply_effects(ApplyRun *r, AslEffects *fx) {
        for (size_t i = 0; i < fx->n; i++) {
                AslEffect *e = &fx->items[i];

                switch (e->type) {
                case ASL_EFFECT_DISPATCH_TASK:
                        dispatch_task(r, &e->dispatch);
                        break;
                case ASL_EFFECT_CANCEL_TASK: {
                        _cleanup_free_ char *item = xasprintf("task:%s", e->cancel_task.task_id);
                        store_commit_del_outbox(r->commit, item);
                        store_commit_close_task(r->commit, e->cancel_task.task_id);
                        break;
                }
                case ASL_EFFECT_SCHEDULE_TIMER:
                        store_commit_add_timer(r->commit, e->timer.timer_id, e->timer.due_ms);
                        break;
                case ASL_EFFECT_CANCEL_TIMER:
                        store_commit_del_timer(r->commit, e->timer.timer_id);
                        break;
                case ASL_EFFECT_HISTORY:
                        store_commit_take_history(r->commit, TAKE_PTR(e->history.text), e->history.len);
                        break;
                case ASL_EFFECT_FINISHED:
                        finished(r, &e->finished);
                        break;
                case ASL_EFFECT_MAP_RUN:
                        map_run(r, &e->map_run);
                        break;
                case ASL_EFFECT_START_CHILD:
                case ASL_EFFECT_STOP_CHILD:
                        child_message(r, e);
                        break;
                default:
                        break;
                }
        }
}

/* A synthetic event (a failure the apply found): handled and applied,
 * an error of it ignored (the execution may have ended meanwhile). */
static void feed_back(ApplyRun *r, const AslEvent *f) {
        AslEffects fx = {};
        AslError e = {};

        if (asl_exec_handle(r->m, r->doc, f, r->env, &fx, &e) == 0)
                apply_effects(r, &fx);
        asl_effects_clear(&fx);
        asl_error_clear(&e);
}

/* Handle ev, then feed back a TASK_FAILED for every task that could not be
 * dispatched, and a CHILD_ENDED FAILED for every child execution that
 * could not be started. Returns what asl_exec_handle returned for ev. */
static int run_event(ApplyRun *r, const AslEvent *ev, AslError *err) {
        AslEffects fx = {};
        int k;

        k = asl_exec_handle(r->m, r->doc, ev, r->env, &fx, err);
        if (k != 0) {
                asl_effects_clear(&fx);
                return k;
        }
        apply_effects(r, &fx);
        asl_effects_clear(&fx);

        for (unsigned round = 0; r->n_failures > 0 && round < APPLY_ROUNDS_MAX; round++) {
                /* taken over: the feedback may add more for the next round */
                ApplyRun was = *r;

                r->failures = NULL;
                r->n_failures = 0;
                for (size_t i = 0; i < was.n_failures; i++) {
                        const struct ApplyFailure *f = &was.failures[i];

                        feed_back(r, f->child ? &(AslEvent){.type = ASL_EVENT_CHILD_ENDED,
                                                            .child = f->id,
                                                            .status = "FAILED",
                                                            .error = f->error,
                                                            .cause = f->cause,
                                                            .child_unstarted = true}
                                              : &(AslEvent){.type = ASL_EVENT_TASK_FAILED,
                                                            .task_id = f->id,
                                                            .error = f->error,
                                                            .cause = f->cause});
                }
                run_done(&was);
        }
        run_done(r);
        return 0;
}

static int start(const ApplyConfig *cfg, const AslMachine *m, const char *state_machine, unsigned sm_version,
                 const char *name, json_t *input, const ApplyChild *child, const char *request_id,
                 const AslEnv *env, StoreCommit **ret, json_t **ret_doc, AslError *err) {
        _cleanup_free_ char *exec_id = NULL, *arn = NULL, *sm_arn = NULL;
        _cleanup_json_ json_t *doc = NULL, *map_child = NULL;
        _cleanup_commit_ StoreCommit *c = NULL;
        ApplyRun r;
        int k;

        exec_id = store_exec_id(state_machine, name);
        if (!exec_id)
                return asl_error_set(err, "InvalidName", "invalid execution or state machine name");
        if (child) {
                /* "<machine>/<label>": the part of the Map Run's ARN before its id */
                const char *run = child->map_run_arn ? strstr(child->map_run_arn, ":mapRun:") : NULL;
                const char *end = run ? strrchr(child->map_run_arn, ':') : NULL;
                _cleanup_free_ char *sm_label = run && end > run + 8
                                                        ? xstrndup(run + 8, (size_t) (end - run - 8))
                                                        : xstrdup(state_machine);

                if (!map_run_id(child->map_run_arn) || !child->parent || !child->item_processor)
                        return asl_error_set(err, "InvalidArn", "invalid Map Run of a child execution");
                arn = xasprintf("imgflow:execution:%s:%s", sm_label, name);
                sm_arn = xasprintf("imgflow:stateMachine:%s", sm_label);
                map_child = json_pack("{s:s, s:s, s:I}", "parent", child->parent, "mapRunArn",
                                      child->map_run_arn, "index", (json_int_t) child->index);
        } else {
                arn = cfg->run_id ? xasprintf("imgflow:express:%s:%s", exec_id, cfg->run_id)
                                  : xasprintf("imgflow:execution:%s", exec_id);
                sm_arn = xasprintf("imgflow:stateMachine:%s", state_machine);
        }

        AslExecInfo info = {
                .execution_id = arn,
                .execution_name = name,
                .state_machine_id = sm_arn,
                .state_machine_name = state_machine,
                .role_arn = cfg->role_arn,
                .input = input,
                .machine = child ? child->item_processor : NULL,
                .map_child = map_child,
        };
        k = asl_exec_new(m, &info, env, &doc, err);
        if (k < 0)
                return k;

        k = store_commit_new(exec_id, 0, env->now_ms, &c);
        if (k < 0)
                return k;
        c->history_cap = cfg->history_cap;
        store_commit_set_create(c, state_machine, sm_version, name, input, env->now_ms);
        if (child)
                store_commit_set_map_child(c, map_run_id(child->map_run_arn), child->parent,
                                           child->map_run_arn, child->item_count);

        r = (ApplyRun){
                .cfg = cfg,
                .m = m,
                .env = env,
                .doc = doc,
                .commit = c,
                .exec_id = exec_id,
                .name = name,
                .state_machine = state_machine,
                .sm_version = sm_version,
                .start_ms = env->now_ms,
        };
        add_notification(&r, "RUNNING", 0, NULL, NULL, NULL);
        k = run_event(&r, &(AslEvent) { .type = ASL_EVENT_START }, err);
        if (k < 0)
                return k;
        if (k > 0)
                return asl_error_set(err, "States.Runtime", "start event was not applied");

        commit_doc(cfg, c, doc);
        set_response_run(c, PROTO_START_EXECUTION, request_id, exec_id, cfg->run_id, env->now_ms);
        *ret = TAKE_PTR(c);
        if (ret_doc)
                *ret_doc = TAKE_PTR(doc);
        return 0;
}

int apply_start(const ApplyConfig *cfg, const AslMachine *m, const char *state_machine, unsigned sm_version,
                const char *name, json_t *input, const char *request_id, const AslEnv *env,
                StoreCommit **ret, json_t **ret_doc, AslError *err) {
        return start(cfg, m, state_machine, sm_version, name, input, NULL, request_id, env, ret, ret_doc,
                     err);
}

int apply_start_child(const ApplyConfig *cfg, const AslMachine *m, const char *state_machine,
                      unsigned sm_version, const char *name, json_t *input, const ApplyChild *child,
                      const char *request_id, const AslEnv *env, StoreCommit **ret, json_t **ret_doc,
                      AslError *err) {
        return start(cfg, m, state_machine, sm_version, name, input, child, request_id, env, ret, ret_doc,
                     err);
}

int64_t apply_child_redrive_attempt(const char *client_token) {
        size_t n = strlen(APPLY_CHILD_REDRIVE_TOKEN);

        if (!client_token || strncmp(client_token, APPLY_CHILD_REDRIVE_TOKEN, n) != 0)
                return 0;
        return strtoll(client_token + n, NULL, 10);
}

bool apply_redrive_replay(json_t *doc, const char *client_token, int64_t now_ms, int64_t *ret_date) {
        json_t *t;
        size_t i;

        if (!client_token)
                return false;
        json_array_foreach (json_object_get(doc, "redriveTokens"), i, t)
                if (streq_ptr(jstr(t, "token"), client_token) &&
                    now_ms - json_integer_value(json_object_get(t, "ms")) <= APPLY_REDRIVE_TOKEN_MS) {
                        *ret_date = json_integer_value(json_object_get(t, "ms"));
                        return true;
                }
        return false;
}

/* Keep the token of a redrive that was applied: the last
 * APPLY_REDRIVE_TOKENS_MAX of them. */
static void redrive_token_keep(json_t *doc, const char *client_token, int64_t now_ms) {
        json_t *tokens = json_object_get(doc, "redriveTokens");

        if (!client_token)
                return;
        if (!json_is_array(tokens)) {
                tokens = json_array();
                json_object_set_new(doc, "redriveTokens", tokens);
        }
        json_array_append_new(tokens,
                              json_pack("{s:s, s:I}", "token", client_token, "ms", (json_int_t) now_ms));
        while (json_array_size(tokens) > APPLY_REDRIVE_TOKENS_MAX)
                json_array_remove(tokens, 0);
}

/* A commit on an existing execution's version, and the run that fills it. */
static int run_open(ApplyRun *r, const ApplyConfig *cfg, const AslMachine *m, const StoreExecState *st,
                    const char *exec_id, int64_t redrives, const AslEnv *env, StoreCommit **ret_c) {
        int k;

        k = store_commit_new(exec_id, st->version, env->now_ms, ret_c);
        if (k < 0)
                return k;
        (*ret_c)->history_cap = cfg->history_cap;
        *r = (ApplyRun){
                .cfg = cfg,
                .m = m,
                .env = env,
                .doc = st->doc,
                .commit = *ret_c,
                .exec_id = exec_id,
                .name = st->name,
                .state_machine = st->state_machine,
                .sm_version = st->sm_version,
                .start_ms = st->start_ms,
                .redrives = redrives,
        };
        return 0;
}

int apply_redrive(const ApplyConfig *cfg, const AslMachine *m, StoreExecState *st, const char *exec_id,
                  const char *client_token, const char *request_id, const AslEnv *env, StoreCommit **ret,
                  AslError *err) {
        _cleanup_commit_ StoreCommit *c = NULL;
        _cleanup_json_ json_t *kept = NULL;
        ApplyRun r;
        int k;

        if (!st->doc || !exec_id)
                return -EINVAL;
        k = run_open(&r, cfg, m, st, exec_id, asl_exec_redrive_count(st->doc) + 1, env, &c);
        if (k < 0)
                return k;
        k = asl_exec_redrivable(st->doc, env, err);
        if (k < 0)
                return k;
        kept = store_doc_split_tags(st->doc);
        /* RUNNING again, before whatever the redrive's first steps end in. */
        add_notification(&r, "RUNNING", 0, NULL, NULL, NULL);
        k = run_event(&r, &(AslEvent){.type = ASL_EVENT_REDRIVE}, err);
        if (k != 0)
                return k < 0 ? k : -EINVAL;

        redrive_token_keep(st->doc, client_token, env->now_ms);
        {
                /* A Map Run's child redriven by its parent: the parent's attempt
                 * (the token's number), which its end names (child_ended()). */
                json_t *mc = asl_exec_map_child(st->doc);
                int64_t n = apply_child_redrive_attempt(client_token);

                if (mc && n > 0)
                        json_object_set_new(mc, "attempt", json_integer(n));
        }
        store_commit_set_reopen(c);
        {
                _cleanup_free_ char *count = xasprintf("%" PRIi64, asl_exec_redrive_count(st->doc));
                _cleanup_free_ char *date = xasprintf("%" PRIi64, env->now_ms);

                store_commit_set_field(c, "redriveCount", count);
                store_commit_set_field(c, "redriveDate", date);
        }
        /* The frames put back are written anew, with tags of their own. */
        store_doc_split_forget(st->doc);
        store_commit_split_drop(c, kept, st->doc);
        store_commit_set_doc_split(c, st->doc, asl_exec_status(st->doc) ?: "RUNNING");
        set_response(c, PROTO_REDRIVE_EXECUTION, request_id, exec_id, env->now_ms);
        *ret = TAKE_PTR(c);
        return 0;
}

/* A Task state with Resource arn:aws:states:::lambda:invoke gets the Invoke
 * API's response in Step Functions, with the function's result under
 * "Payload" (so definitions select "$.Payload..."). A worker answers with the
 * bare result: wrap it. Callbacks by task token are passed on as sent.
 * Returns a new reference, or NULL when ev needs no wrapping. */
static json_t *lambda_invoke_response(json_t *doc, const AslEvent *ev) {
        json_t *task;
        const char *resource;

        if (ev->type != ASL_EVENT_TASK_SUCCEEDED || ev->token || !ev->task_id || !ev->output)
                return NULL;
        task = json_object_get(json_object_get(doc, "tasks"), ev->task_id);
        resource = jstr(task, "resource");
        if (!resource || !streq(resource, "arn:aws:states:::lambda:invoke"))
                return NULL;
        return json_pack("{s:s, s:O, s:i}", "ExecutedVersion", "$LATEST", "Payload", ev->output,
                         "StatusCode", 200);
}

/* Task tokens of the open tasks of doc: {task id: token}. New reference. */
static json_t *open_task_tokens(json_t *doc) {
        json_t *tokens = json_object(), *t;
        const char *id;

        json_object_foreach(json_object_get(doc, "tasks"), id, t)
                if (jstr(t, "token"))
                        json_object_set_new(tokens, id, json_string(jstr(t, "token")));
        return tokens;
}

/* A result that names an activity's queued task by its id alone: only its
 * token completes it (as in Step Functions); a worker of a pool the ARN is
 * mapped to answers by task id, and the engine takes that. */
static bool activity_result_without_token(const ApplyConfig *cfg, json_t *doc, const AslEvent *ev) {
        json_t *task;

        if (ev->token || !ev->task_id || ev->type == ASL_EVENT_TASK_FAILED ||
            (ev->type != ASL_EVENT_TASK_SUCCEEDED && ev->type != ASL_EVENT_TASK_HEARTBEAT))
                return false;
        task = json_object_get(json_object_get(doc, "tasks"), ev->task_id);
        return task && resources_is_activity_queue(cfg->resources, jstr(task, "resource"));
}

/* The task a TIMER_FIRED times out (task or heartbeat timeout), or NULL. Borrowed. */
static const char *timed_out_task(json_t *doc, const AslEvent *ev) {
        json_t *t;

        if (ev->type != ASL_EVENT_TIMER_FIRED || !ev->timer_id)
                return NULL;
        t = json_object_get(json_object_get(doc, "timers"), ev->timer_id);
        if (!jstr(t, "kind") || !(streq(jstr(t, "kind"), "timeout") || streq(jstr(t, "kind"), "heartbeat")))
                return NULL;
        return jstr(t, "task");
}

/* Every token of `before` whose task is no longer open gets a tombstone, so
 * a late SendTask* is told TaskTimedOut or TaskDoesNotExist, not InvalidToken. */
static void add_token_tombstones(const ApplyConfig *cfg, StoreCommit *c, json_t *before,
                                 json_t *doc, const char *timed_out) {
        json_t *tasks = json_object_get(doc, "tasks"), *token;
        const char *id;

        json_object_foreach(before, id, token)
                if (!json_object_get(tasks, id))
                        store_commit_add_token_tombstone(c, id, json_string_value(token),
                                                         timed_out && streq(timed_out, id)
                                                                 ? "TaskTimedOut" : "TaskDoesNotExist",
                                                         cfg->retention_sec);
}

bool apply_task_open(json_t *doc, const char *task_id) {
        return task_id && json_object_get(json_object_get(doc, "tasks"), task_id);
}

/* The callback whose answer ev gives (an event with a token). */
static ProtoType callback_type(AslEventType t) {
        switch (t) {
        case ASL_EVENT_TASK_SUCCEEDED:
                return PROTO_SEND_TASK_SUCCESS;
        case ASL_EVENT_TASK_FAILED:
                return PROTO_SEND_TASK_FAILURE;
        default:
                return PROTO_SEND_TASK_HEARTBEAT;
        }
}

int apply_event(const ApplyConfig *cfg, const AslMachine *m, StoreExecState *st,
                const char *exec_id, const AslEvent *ev, const char *request_id,
                const AslEnv *env, StoreCommit **ret, AslError *err) {
        _cleanup_commit_ StoreCommit *c = NULL;
        _cleanup_json_ json_t *tokens_before = NULL;
        _cleanup_free_ char *timed_out = NULL;
        _cleanup_json_ json_t *invoke_response = NULL, *kept = NULL;
        AslEvent wrapped;
        ApplyRun r;
        int k;

        if (!st->doc || !exec_id)
                return -EINVAL;
        invoke_response = lambda_invoke_response(st->doc, ev);
        if (invoke_response) {
                wrapped = *ev;
                wrapped.output = invoke_response;
                ev = &wrapped;
        }
        if (st->status && *st->status && !streq(st->status, "RUNNING"))
                return 1; /* finished: every late event is stale */
        if (activity_result_without_token(cfg, st->doc, ev))
                return 1;

        k = run_open(&r, cfg, m, st, exec_id, asl_exec_redrive_count(st->doc), env, &c);
        if (k < 0)
                return k;
        /* In memory there are no task tokens (EXPRESS has no callbacks). */
        if (!cfg->in_memory)
                tokens_before = open_task_tokens(st->doc);
        if (timed_out_task(st->doc, ev))
                timed_out = xstrdup(timed_out_task(st->doc, ev));
        if (!cfg->in_memory)
                kept = store_doc_split_tags(st->doc);
        k = run_event(&r, ev, err);
        if (k != 0)
                return k;
        if (kept)
                store_commit_split_drop(c, kept, st->doc);
        if (tokens_before)
                add_token_tombstones(cfg, c, tokens_before, st->doc, timed_out);

        if (ev->task_id && (ev->type == ASL_EVENT_TASK_SUCCEEDED || ev->type == ASL_EVENT_TASK_FAILED)) {
                _cleanup_free_ char *item = xasprintf("task:%s", ev->task_id);
                /* A .waitForTaskToken task stays open after its worker's own
                 * result (TaskSubmitted): its token closes it. */
                if (!apply_task_open(st->doc, ev->task_id))
                        store_commit_close_task(c, ev->task_id);
                /* The result is in: no reason to dispatch it again. */
                store_commit_del_outbox(c, item);
        }
        commit_doc(cfg, c, st->doc);
        if (ev->type == ASL_EVENT_STOP)
                set_response(c, PROTO_STOP_EXECUTION, request_id, exec_id, env->now_ms);
        else if (ev->type == ASL_EVENT_UPDATE_MAP_RUN)
                set_response(c, PROTO_UPDATE_MAP_RUN, request_id, exec_id, 0);
        else if (ev->token) /* SendTaskSuccess/Failure/Heartbeat by task token: accepted */
                set_response(c, callback_type(ev->type), request_id, exec_id, 0);
        *ret = TAKE_PTR(c);
        return 0;
}

void apply_express_limit(AslMachine *m, int64_t max_sec) {
        json_t *to = json_object_get(m->definition, "TimeoutSeconds");

        if (!json_is_integer(to) || json_integer_value(to) > max_sec)
                json_object_set_new(m->definition, "TimeoutSeconds", json_integer(max_sec));
}
