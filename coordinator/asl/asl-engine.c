/* SPDX-License-Identifier: MIT */
/*
 * The transition function of the ASL engine (see asl-engine.h).
 *
 * The execution document (a JSON object, version 1) is everything needed
 * to resume an execution after a restart; the coordinator stores it as is:
 *
 *   {"v": 1,
 *    "status": "RUNNING"|"SUCCEEDED"|"FAILED"|"TIMED_OUT"|"ABORTED",
 *    "started": bool,                    START applied
 *    "execution": {"id", "name", "input", "startTime" (RFC 3339), "startMs",
 *                  "roleArn"},
 *    "stateMachine": {"id", "name"},
 *    "seq": n,                           counter for frame, task and timer ids
 *    "historyId": n,                     id of the last history event emitted
 *    "frames": {"<fid>": frame},         running (sub)machines; root is "0"
 *    "tasks": {"<task_id>": {"frame", "state", "resource", "token"?,
 *                            "timeoutTimer"?, "heartbeatTimer"?, "heartbeatMs"?}},
 *    "timers": {"<timer_id>": {"frame", "kind", "due_ms", "task"?}},
 *    "output"? | "error"?, "cause"?}     once finished
 *    "redrive"?: {"frames": {fid: frame}} once FAILED, TIMED_OUT or ABORTED:
 *                                        what REDRIVE continues from (below)
 *    "stopMs"?                          when it last finished
 *    "redriveCount"?, "redriveMs"?      after a REDRIVE
 *
 *   frame = {"machine": JSON pointer of the sub-machine ("" = top level,
 *                       "/States/P/Branches/0", "/States/M/ItemProcessor"),
 *            "parent"?: fid, "index"?: branch or iteration index,
 *            "state": current state name, "input": its raw input,
 *            "enteredMs", "enteredEventId" (its StateEntered event, which
 *            runtime error causes name), "retries": [attempts per
 *            retrier], "retryCount",
 *            "task"?: pending task id, "timer"?: pending wait/retry timer id,
 *            "choiceNext"?: transient, the Next chosen by a Choice,
 *            "children"?: Parallel/Map bookkeeping while they run:
 *               parallel: {"kind": "parallel", "live": {fid: index}, "results": [...]}
 *               map:      {"kind": "map", "live": {fid: index}, "results": [...],
 *                          "next", "running", "done", "failed", "total",
 *                          "max", "tolCount"?, "tolPct"?, "bytes"}}
 *               (a Map's items are not copied: they are recomputed from the
 *               frame's raw input with InputPath and ItemsPath.)
 *               An inline Map's "stored" and "storedNew" belong to the
 *               coordinator's store, which keeps its input and results
 *               outside the document's text (store-exec.c): the engine
 *               only appends the index of each result it sets to
 *               "storedNew" when that array is there.
 *
 * Ids (frames, tasks, timers) are decimal strings from one counter and are
 * never reused, so a result for a task that has gone away is recognised as
 * stale. Finished child frames are deleted and their output kept in the
 * parent's "results"; a Map keeps at most "max" iteration frames alive.
 *
 * Processing one event: the event handler makes its change and pushes
 * actions on a FIFO work queue (enter a state, a state produced output, a
 * state raised an error); the loop drains it. Nothing recurses through the
 * queue, so a long Map or a loop of Pass states cannot grow the C stack.
 * Each call has a step budget; exceeding it, or the history limit, fails
 * the execution with States.Runtime rather than looping forever.
 *
 * Redrive. A frame that ends unsuccessfully is not forgotten at once: the
 * frames dropped while an error travels up to the top (the failing frame,
 * the Parallel branches and Map iterations it aborts, with their parents'
 * "children" as they were) are collected in Ctx, and forgotten again when
 * a Catch handles the error. When the execution ends FAILED, TIMED_OUT or
 * ABORTED, those frames and the ones still open are kept in "redrive".
 * A REDRIVE puts them back: each frame without children enters its state
 * again with the input it had; a Parallel or Map keeps the results of the
 * branches and iterations that succeeded and waits for the restored ones,
 * (a Map also the iterations that failed earlier within its tolerance:
 * "failedFrames" of its children) and then starts the ones it had not.
 * Variables stay in their frames.
 *
 * Layering: no I/O here. Time and randomness come from AslEnv.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "asl-choice.h"
#include "asl-engine.h"
#include "json-writer.h"
#include "asl-jsonpath.h"
#include "asl-payload.h"
#include "asl-query.h"
#include "asl-retry.h"
#include "format.h"

#define ASL_MAX_STEPS_PER_CALL 200000
#define ASL_MAP_DEFAULT_CONCURRENCY 40
#define ASL_MAP_DISTRIBUTED_CONCURRENCY 10000 /* MaxConcurrency 0 in distributed mode, as AWS */
#define ASL_TOKEN_BYTES 16
#define ASL_TASK_ID_BYTES 16

typedef enum ActionKind {
        ACTION_ENTER,   /* enter state `name` in frame with input `value` */
        ACTION_OK,      /* the frame's current state produced `value` */
        ACTION_ERROR,   /* the frame's current state raised error/cause */
} ActionKind;

typedef struct Action {
        ActionKind kind;
        char *fid;
        char *name;
        json_t *value;
        json_t *assigned; /* OK: the variables the state assigns (name -> value), or NULL */
        char *error;
        char *cause;
        bool task_failure; /* ERROR: reported for a Task (asl-retry.h) */
} Action;

typedef struct Ctx {
        const AslMachine *m;
        json_t *exec;
        const AslEnv *env;
        AslEffects *fx;

        Action *queue;
        size_t head, n, allocated;
        size_t steps;
        bool finished;
        char *abort_cause;      /* history limit or step budget hit */
        json_t *dropped;        /* fid -> frame dropped on an error's way up (redrive) */
        json_t *dropped_children; /* fid -> its "children" when they were dropped */
        bool quiet;               /* the frame being run is a distributed Map's child:
                                   * its events are not the parent's (history()) */
        json_t *map_dirty;        /* fid -> true: distributed Maps whose counts changed
                                   * (map_run_flush()) */
} Ctx;

/* ---- small JSON helpers ---- */

static const char *jstr(json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

/* True if o[k] is the string v (false when absent: a damaged document
 * must not crash the engine). */
static bool jeq(json_t *o, const char *k, const char *v) {
        const char *s = jstr(o, k);
        return s && streq(s, v);
}

static json_int_t jint(json_t *o, const char *k) {
        return json_integer_value(json_object_get(o, k));
}

static char *json_text(json_t *v) {
        char *s = json_writer_dumps(v ? v : json_null());
        if (!s)
                abort();
        return s;
}

static json_t *json_text_new(json_t *v) {
        _cleanup_free_ char *s = json_text(v);
        return json_string(s);
}

/* ---- effects ---- */

void asl_dispatch_done(AslDispatch *d) {
        free(d->task_id);
        free(d->state);
        free(d->resource);
        json_decref(d->input);
        free(d->token);
        free(d->index_path);
        *d = (AslDispatch){};
}

static void effect_done(AslEffect *e) {
        switch (e->type) {
        case ASL_EFFECT_DISPATCH_TASK:
                asl_dispatch_done(&e->dispatch);
                break;
        case ASL_EFFECT_CANCEL_TASK:
                free(e->cancel_task.task_id);
                free(e->cancel_task.token);
                break;
        case ASL_EFFECT_SCHEDULE_TIMER:
        case ASL_EFFECT_CANCEL_TIMER:
                free(e->timer.timer_id);
                break;
        case ASL_EFFECT_HISTORY:
                free(e->history.text);
                break;
        case ASL_EFFECT_FINISHED:
                json_decref(e->finished.output);
                free(e->finished.error);
                free(e->finished.cause);
                break;
        case ASL_EFFECT_MAP_RUN:
                free(e->map_run.run_id);
                json_decref(e->map_run.set);
                json_decref(e->map_run.failure);
                break;
        case ASL_EFFECT_START_CHILD:
        case ASL_EFFECT_STOP_CHILD:
                free(e->child.name);
                free(e->child.machine);
                free(e->child.map_run_arn);
                json_decref(e->child.input);
                break;
        default:
                break;
        }
}

void asl_effects_clear(AslEffects *fx) {
        if (!fx)
                return;
        for (size_t i = 0; i < fx->n; i++)
                effect_done(&fx->items[i]);
        free(fx->items);
        *fx = (AslEffects) {};
}

const char *asl_effect_type_to_string(AslEffectType t) {
        static const char *const table[_ASL_EFFECT_MAX] = {
                [ASL_EFFECT_DISPATCH_TASK] = "DISPATCH_TASK",
                [ASL_EFFECT_CANCEL_TASK] = "CANCEL_TASK",
                [ASL_EFFECT_SCHEDULE_TIMER] = "SCHEDULE_TIMER",
                [ASL_EFFECT_CANCEL_TIMER] = "CANCEL_TIMER",
                [ASL_EFFECT_HISTORY] = "HISTORY",
                [ASL_EFFECT_FINISHED] = "FINISHED",
                [ASL_EFFECT_MAP_RUN] = "MAP_RUN",
                [ASL_EFFECT_START_CHILD] = "START_CHILD",
                [ASL_EFFECT_STOP_CHILD] = "STOP_CHILD",
        };
        return (unsigned) t < _ASL_EFFECT_MAX ? table[t] : NULL;
}

/* Appends e (its members now owned by the effects). */
static void fx_add(Ctx *c, AslEffect e) {
        AslEffects *fx = c->fx;

        if (fx->n >= fx->allocated) {
                fx->allocated = fx->allocated ? fx->allocated * 2 : 16;
                fx->items = xrealloc(fx->items, fx->allocated * sizeof(AslEffect));
        }
        fx->items[fx->n++] = e;
}

/* SCHEDULE_TIMER of id (copied); kind: a constant string. */
static void fx_schedule_timer(Ctx *c, const char *id, int64_t due_ms, const char *kind) {
        fx_add(c, (AslEffect){ASL_EFFECT_SCHEDULE_TIMER,
                              .timer = {.timer_id = xstrdup(id), .due_ms = due_ms, .kind = kind}});
}

/* ---- work queue ---- */

static void action_free(Action *a) {
        free(a->fid);
        free(a->name);
        json_decref(a->value);
        json_decref(a->assigned);
        free(a->error);
        free(a->cause);
        *a = (Action) {};
}

/* Takes ownership of value. */
static void push(Ctx *c, ActionKind kind, const char *fid, const char *name, json_t *value,
                 const char *error, const char *cause) {
        if (c->finished || c->abort_cause) {
                json_decref(value);
                return;
        }
        if (c->n >= c->allocated) {
                c->allocated = c->allocated ? c->allocated * 2 : 16;
                c->queue = xrealloc(c->queue, c->allocated * sizeof(Action));
        }
        c->queue[c->n++] = (Action) {
                .kind = kind,
                .fid = xstrdup(fid),
                .name = name ? xstrdup(name) : NULL,
                .value = value,
                .error = error ? xstrdup(error) : NULL,
                .cause = cause ? xstrdup(cause) : NULL,
        };
}

/* The frame's current state produced `value` and assigns `assigned` (both
 * taken; assigned may be NULL). */
static void push_ok(Ctx *c, const char *fid, json_t *value, json_t *assigned) {
        push(c, ACTION_OK, fid, NULL, value, NULL, NULL);
        if (c->n > 0 && !c->finished && !c->abort_cause && c->queue[c->n - 1].kind == ACTION_OK &&
            c->queue[c->n - 1].value == value)
                c->queue[c->n - 1].assigned = assigned;
        else
                json_decref(assigned);
}

/* A Task's failure: States.ALL catches even States.DataLimitExceeded then. */
static void push_task_error(Ctx *c, const char *fid, const char *error, const char *cause) {
        push(c, ACTION_ERROR, fid, NULL, NULL, error, cause);
        if (c->n > 0 && !c->finished && !c->abort_cause)
                c->queue[c->n - 1].task_failure = true;
}

static json_t *frame_get(Ctx *c, const char *fid);

/*
 * The cause of an error the engine raises while running the frame's current
 * state, in Step Functions' words (new string): States.Runtime and
 * States.QueryEvaluationError get "An error occurred while executing the state '<name>' (entered at the
 * event id
 * #<n>). " before the detail; States.DataLimitExceeded is "The state/task
 * '<name>' returned a result with a size exceeding the maximum number of
 * bytes service limit."; other errors keep their cause.
 */
static char *state_cause(Ctx *c, const char *fid, const char *error, const char *cause) {
        json_t *frame = frame_get(c, fid);
        const char *name = json_string_value(json_object_get(frame, "state"));
        json_t *entered = json_object_get(frame, "enteredEventId");

        if (!name || !error)
                return cause ? xstrdup(cause) : NULL;
        if (streq(error, "States.Runtime") || streq(error, "States.QueryEvaluationError")) {
                if (json_is_integer(entered))
                        return xasprintf(
                                "An error occurred while executing the state '%s' (entered at the event id "
                                "#%" JSON_INTEGER_FORMAT "). %s",
                                name, json_integer_value(entered), cause ? cause : "");
                return xasprintf("An error occurred while executing the state '%s'. %s", name,
                                 cause ? cause : "");
        }
        if (streq(error, "States.DataLimitExceeded"))
                return xasprintf(
                        "The state/task '%s' returned a result with a size exceeding the maximum number "
                        "of bytes service limit.",
                        name);
        return cause ? xstrdup(cause) : NULL;
}

/* An error the engine raises while running the frame's current state. */
static void raise_error(Ctx *c, const char *fid, const char *error, const char *cause) {
        _cleanup_free_ char *full = state_cause(c, fid, error, cause);

        push(c, ACTION_ERROR, fid, NULL, NULL, error, full);
}

static void push_error(Ctx *c, const char *fid, const AslError *e) {
        raise_error(c, fid, e->error ? e->error : "States.Runtime", e->cause);
}

static void queue_clear(Ctx *c) {
        for (size_t i = c->head; i < c->n; i++)
                action_free(&c->queue[i]);
        free(c->queue);
        c->queue = NULL;
        c->head = c->n = c->allocated = 0;
}

/* ---- document accessors ---- */

static json_t *frames(Ctx *c) {
        return json_object_get(c->exec, "frames");
}

static json_t *frame_get(Ctx *c, const char *fid) {
        return fid ? json_object_get(frames(c), fid) : NULL;
}

/* Whether frame fid runs inside a distributed Map's child (the child's
 * frames and theirs, not the Map's own frame). */
static bool frame_is_child_execution(Ctx *c, const char *fid) {
        json_t *f = frame_get(c, fid);

        for (size_t guard = 0; f && guard < 10000; guard++) {
                json_t *p = frame_get(c, jstr(f, "parent"));

                if (!p)
                        return false;
                if (json_is_true(json_object_get(json_object_get(p, "children"), "dist")))
                        return true;
                f = p;
        }
        return false;
}

static char *next_id(Ctx *c) {
        json_int_t seq = jint(c->exec, "seq") + 1;

        json_object_set_new(c->exec, "seq", json_integer(seq));
        return xasprintf("%" JSON_INTEGER_FORMAT, seq);
}

/* A dispatched task's id: hex of 128 random bits. The id alone answers a
 * task (TaskSucceeded names it), so it must not be guessable: a counter let
 * any writer of the events topic complete tasks 1, 2, 3... Each attempt is a
 * new task with a new id, so a result is accepted only for the live
 * attempt. NULL when the environment has no random source. */
static char *task_id_new(Ctx *c) {
        uint8_t b[ASL_TASK_ID_BYTES];
        char *id;

        if (!c->env->random)
                return NULL;
        c->env->random(c->env->random_userdata, b, sizeof b);
        id = format_hex(b, sizeof b, xmalloc(2 * sizeof b + 1));
        if (json_object_get(json_object_get(c->exec, "tasks"), id)) {
                /* Only a test's fixed "random" source repeats itself. */
                _cleanup_free_ char *seq = next_id(c), *old = id;
                id = xasprintf("%s-%s", old, seq);
        }
        return id;
}

static char *state_pointer(json_t *frame, const char *name) {
        _cleanup_free_ char *states = asl_pointer_join(jstr(frame, "machine"), "States");
        return asl_pointer_join(states, name);
}

static json_t *frame_machine(Ctx *c, json_t *frame) {
        return asl_machine_lookup(c->m, jstr(frame, "machine"));
}

static json_t *frame_state(Ctx *c, json_t *frame) {
        const char *name = jstr(frame, "state");

        if (!name)
                return NULL;
        return json_object_get(json_object_get(frame_machine(c, frame), "States"), name);
}

static const char *state_type(json_t *st) {
        const char *t = jstr(st, "Type");
        return t ? t : "Unknown";
}

/* ---- history ---- */

static bool is_terminal_event(const char *type) {
        return strncmp(type, "Execution", 9) == 0 && !streq(type, "ExecutionStarted");
}

/* The event's text, as json_writer_dumps() of {"id", "previousEventId",
 * "timestamp", "type", key?: details} would write it, without building that
 * object (this runs for every event of every execution). NULL only on OOM
 * or a details value that cannot be dumped. */
static char *history_text(json_int_t id, const char *ts, const char *type, const char *key, const json_t *details,
                          size_t *ret_len) {
        JsonWriter w = {};

        json_writer_raw(&w, "{\"id\":", 6);
        json_writer_integer(&w, id);
        json_writer_raw(&w, ",\"previousEventId\":", 19);
        json_writer_integer(&w, id - 1);
        json_writer_raw(&w, ",\"timestamp\":", 13);
        json_writer_string(&w, ts, strlen(ts));
        json_writer_raw(&w, ",\"type\":", 8);
        json_writer_string(&w, type, strlen(type));
        if (details) {
                json_writer_raw(&w, ",", 1);
                json_writer_string(&w, key, strlen(key));
                json_writer_raw(&w, ":", 1);
                json_writer_value(&w, details);
        }
        json_writer_raw(&w, "}", 1);
        return json_writer_finish(&w, ret_len);
}

/* A history event's details, or NULL without building them when the
 * environment asks for no history (their payloads are dumped as text). */
#define HISTORY_DETAILS(c, details) ((c)->env->no_history ? NULL : (details))

/* Takes ownership of details (may be NULL). The effect holds the event's
 * JSON text (see asl-engine.h). */
static void history_at(Ctx *c, const char *type, json_t *details, int64_t at_ms);

static void history(Ctx *c, const char *type, json_t *details) {
        history_at(c, type, details, c->env->now_ms);
}

/* As history(), with the event's timestamp at_ms. */
static void history_at(Ctx *c, const char *type, json_t *details, int64_t at_ms) {
        size_t max = c->env->max_history_events ? c->env->max_history_events : ASL_MAX_HISTORY_EVENTS_DEFAULT;
        json_int_t last = jint(c->exec, "historyId");
        _cleanup_free_ char *key = NULL, *text = NULL;
        char ts[64];
        size_t len;

        /* A distributed Map's children are executions of their own in Step
         * Functions: the parent's history has the Map Run's events, not
         * theirs (and a Map of any size stays within the history limit). */
        if (c->quiet && strncmp(type, "MapRun", 6) != 0 && !is_terminal_event(type)) {
                json_decref(details);
                return;
        }

        if (!is_terminal_event(type) && (size_t) last + 1 >= max) {
                /* keep the last slot for ExecutionFailed */
                json_decref(details);
                if (!c->abort_cause)
                        c->abort_cause = xasprintf("history limit of %zu events reached", max);
                return;
        }

        if (c->env->no_history) {
                /* Counted (enteredEventId refers to it), never written. */
                json_decref(details);
                json_object_set_new(c->exec, "historyId", json_integer(last + 1));
                return;
        }
        asl_format_timestamp(at_ms, ts, sizeof ts);
        if (details) {
                size_t tl = strlen(type);

                if (tl > 12 && streq(type + tl - 12, "StateEntered"))
                        key = xstrdup("stateEnteredEventDetails");
                else if (tl > 11 && streq(type + tl - 11, "StateExited"))
                        key = xstrdup("stateExitedEventDetails");
                else {
                        key = xasprintf("%sEventDetails", type);
                        key[0] = (char) (key[0] - 'A' + 'a');
                }
        }
        text = history_text(last + 1, ts, type, key, details, &len);
        if (!text)
                abort(); /* OOM: details hold only valid, acyclic values */
        json_decref(details);
        json_object_set_new(c->exec, "historyId", json_integer(last + 1));
        /* The text is valid UTF-8 without NUL bytes (json_writer_dumpn). */
        fx_add(c, (AslEffect){ASL_EFFECT_HISTORY, .history = {.text = TAKE_PTR(text), .len = len}});
}

static json_t *io_details(const char *name, const char *field, json_t *v) {
        json_t *d = json_object();

        if (name)
                json_object_set_new(d, "name", json_string(name));
        json_object_set_new(d, field, json_text_new(v));
        json_object_set_new(d, field[0] == 'i' ? "inputDetails" : "outputDetails",
                            json_pack("{s:b}", "truncated", 0));
        return d;
}

/* A <Type>StateExited event's details: name, output, and the variables the
 * state assigned as GetExecutionHistory shows them (each value as JSON
 * text). assigned borrowed, may be NULL. */
static json_t *exited_details(const char *name, json_t *output, json_t *assigned) {
        json_t *d = io_details(name, "output", output);

        if (json_object_size(assigned) > 0) {
                json_t *av = json_object();
                const char *k;
                json_t *v;

                json_object_foreach (assigned, k, v)
                        json_object_set_new(av, k, json_text_new(v));
                json_object_set_new(d, "assignedVariables", av);
                json_object_set_new(d, "assignedVariablesDetails", json_pack("{s:b}", "truncated", 0));
        }
        return d;
}

/* resourceType/resource as Step Functions reports them for a service
 * integration ARN ("arn:aws:states:::lambda:invoke" -> lambda / invoke);
 * anything else is reported whole. */
static json_t *resource_details(const char *resource) {
        const char *prefix = "arn:aws:states:::";

        if (resource && strncmp(resource, prefix, strlen(prefix)) == 0) {
                const char *rest = resource + strlen(prefix), *colon = strchr(rest, ':');
                if (colon) {
                        _cleanup_free_ char *type = xstrndup(rest, (size_t) (colon - rest));
                        return json_pack("{s:s, s:s}", "resourceType", type, "resource", colon + 1);
                }
        }
        if (resource && strncmp(resource, "arn:aws:lambda:", 15) == 0)
                return json_pack("{s:s, s:s}", "resourceType", "lambda", "resource", resource);
        return json_pack("{s:s, s:s}", "resourceType", "task", "resource", resource ? resource : "");
}

/*
 * A Task whose Resource is a Lambda function's ARN itself
 * (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]) records
 * Step Functions' LambdaFunction* events (LambdaFunctionScheduled, ...,
 * with lambdaFunction*EventDetails), every other Task the Task* events.
 */
static bool resource_is_lambda_function(const char *resource) {
        return resource && strncmp(resource, "arn:aws:lambda:", 15) == 0 && strstr(resource, ":function:");
}

typedef enum TaskEventKind {
        TASK_SCHEDULED,
        TASK_STARTED,
        TASK_SUCCEEDED,
        TASK_FAILED,
        TASK_TIMED_OUT,
        _TASK_EVENT_MAX,
} TaskEventKind;

static const char *const task_event_names[_TASK_EVENT_MAX][2] = {
        [TASK_SCHEDULED] = {"TaskScheduled", "LambdaFunctionScheduled"},
        [TASK_STARTED] = {"TaskStarted", "LambdaFunctionStarted"},
        [TASK_SUCCEEDED] = {"TaskSucceeded", "LambdaFunctionSucceeded"},
        [TASK_FAILED] = {"TaskFailed", "LambdaFunctionFailed"},
        [TASK_TIMED_OUT] = {"TaskTimedOut", "LambdaFunctionTimedOut"},
};

static const char *task_event_type(const char *resource, TaskEventKind kind) {
        return task_event_names[kind][resource_is_lambda_function(resource)];
}

/* The details every event of a task starts from: resourceType and
 * resource for Task* events, nothing for LambdaFunction* events (whose
 * Scheduled event names the function as "resource"). New reference. */
static json_t *task_event_details(const char *resource) {
        if (resource_is_lambda_function(resource))
                return json_object();
        return resource_details(resource);
}

/* ---- timers and tasks ---- */

/* kind: a constant string. */
static char *timer_schedule(Ctx *c, const char *fid, const char *kind, int64_t due_ms, const char *task_id) {
        char *id = next_id(c);
        json_t *t = json_pack("{s:s, s:s, s:I}", "frame", fid, "kind", kind, "due_ms", (json_int_t) due_ms);

        if (task_id)
                json_object_set_new(t, "task", json_string(task_id));
        json_object_set_new(json_object_get(c->exec, "timers"), id, t);
        fx_schedule_timer(c, id, due_ms, kind);
        return id;
}

static void timer_cancel(Ctx *c, const char *id) {
        json_t *timers = json_object_get(c->exec, "timers");

        if (!id || !json_object_get(timers, id))
                return;
        fx_add(c, (AslEffect){ASL_EFFECT_CANCEL_TIMER, .timer = {.timer_id = xstrdup(id)}});
        json_object_del(timers, id);
}

/* ---- the Map Run record (ASL_EFFECT_MAP_RUN) ----
 *
 * A distributed Map's record outlives its frame: the coordinator keeps it
 * in Redis, written in the same commit as the execution's events. This
 * call's changes to a run's counts are written once, at the end of the
 * call (map_run_flush()): the integers that moved (4 when a child ends and
 * the next starts), so the cost of a child's event does not grow with the
 * run. */

static bool children_dist(json_t *children) {
        return json_is_true(json_object_get(children, "dist"));
}

static const char *map_run_id(json_t *children) {
        const char *arn = jstr(children, "mapRunArn"), *p = arn ? strrchr(arn, ':') : NULL;

        return p && p[1] ? p + 1 : NULL;
}

/* The items a child (its frame or its execution's entry) processes: its
 * batch's, or 1. */
static json_int_t batch_items(json_t *child) {
        json_int_t n = jint(child, "batchItems");

        return n > 0 ? n : 1;
}

/* The run's raw counters (new object). */
static json_t *map_run_counts(json_t *children) {
        json_t *redo = json_object_get(children, "redoFrames"), *f;
        json_int_t redo_items = 0;
        const char *k;

        json_object_foreach (redo, k, f)
                redo_items += batch_items(f);
        json_object_foreach (json_object_get(children, "redoExecs"), k, f)
                redo_items += batch_items(f);
        return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total",
                         jint(children, "total"), "next", jint(children, "next"), "done",
                         jint(children, "done"), "failed", jint(children, "failed"), "pendingRedrive",
                         redo_items, "children", jint(children, "children"), "childRunning",
                         jint(children, "running"), "childDone", jint(children, "childDone"), "childFailed",
                         jint(children, "childFailed"), "childPendingRedrive",
                         (json_int_t) (json_object_size(redo) +
                                       json_object_size(json_object_get(children, "redoExecs"))));
}

/* Steals set and failure (may be NULL). */
static void map_run_effect(Ctx *c, json_t *children, json_t *set, json_t *failure, bool created) {
        const char *id = map_run_id(children);

        if (!id) {
                json_decref(set);
                json_decref(failure);
                return;
        }
        fx_add(c, (AslEffect){ASL_EFFECT_MAP_RUN, .map_run = {.run_id = xstrdup(id),
                                                              .created = created,
                                                              .set = set ? set : json_object(),
                                                              .failure = failure}});
}

/* The counts of the distributed Map of frame fid are about to change:
 * they are kept as they were, once per call. */
static void map_run_touch(Ctx *c, const char *fid, json_t *children) {
        if (!children_dist(children))
                return;
        if (!c->map_dirty)
                c->map_dirty = json_object();
        if (!json_object_get(c->map_dirty, fid))
                json_object_set_new(c->map_dirty, fid, map_run_counts(children));
}

/* The counts that changed in this call, once per run: a child's event
 * writes the few that moved (done, next, ...), not all of them. */
static void map_run_flush(Ctx *c) {
        const char *fid, *k;
        json_t *before, *v;

        json_object_foreach (c->map_dirty, fid, before) {
                json_t *children = json_object_get(frame_get(c, fid), "children");
                _cleanup_json_ json_t *now = NULL;
                json_t *set;

                if (!children_dist(children))
                        continue;
                now = map_run_counts(children);
                set = json_object();
                json_object_foreach (now, k, v)
                        if (!json_equal(v, json_object_get(before, k)))
                                json_object_set(set, k, v);
                if (json_object_size(set) > 0)
                        map_run_effect(c, children, set, NULL, false);
                else
                        json_decref(set);
        }
        json_decref(c->map_dirty);
        c->map_dirty = NULL;
}

/* The run of frame fid ends with history event `type` (MapRunSucceeded,
 * MapRunFailed, MapRunAborted; details stolen): the event, and the record's
 * status, stop date and final counts. A run that fails or is aborted
 * aborts its running children, as Step Functions does. */
static void map_run_end(Ctx *c, const char *fid, json_t *children, const char *type, json_t *details) {
        const char *status = streq(type, "MapRunSucceeded") ? "SUCCEEDED"
                             : streq(type, "MapRunFailed")  ? "FAILED"
                                                            : "ABORTED";
        json_t *set = map_run_counts(children);
        json_t *writer = json_object_get(children, "writer");

        history(c, type, details);
        if (!streq(status, "SUCCEEDED")) {
                json_int_t running =
                        jint(children, "next") - jint(children, "done") - jint(children, "failed");

                json_object_set_new(set, "aborted", json_integer(running > 0 ? running : 0));
                json_object_set_new(set, "childAborted", json_integer(jint(children, "running")));
                json_object_set_new(set, "childRunning", json_integer(0));
        }
        if (json_is_true(json_object_get(writer, "manifest")) || json_object_get(writer, "recordsWritten")) {
                json_object_set_new(set, "resultsWritten", json_integer(jint(writer, "recordsWritten")));
                json_object_set_new(set, "childResultsWritten",
                                    json_integer(jint(writer, "childRecordsWritten")));
        }
        json_object_set_new(set, "status", json_string(status));
        json_object_set_new(set, "stopDate", json_integer(c->env->now_ms));
        map_run_effect(c, children, set, NULL, false);
        if (c->map_dirty)
                json_object_del(c->map_dirty, fid);
}

/* A failed child's record for the run's list of failures (new). frame:
 * the child's frame, before it is cancelled. */
static json_t *map_run_failure(Ctx *c, json_t *frame, json_int_t idx, json_int_t items, const char *error,
                               const char *cause) {
        json_t *f = json_pack("{s:I, s:I, s:s, s:I}", "index", idx, "items", items > 0 ? items : 1, "error",
                              error ? error : "States.TaskFailed", "date", (json_int_t) c->env->now_ms);
        size_t n = cause ? strlen(cause) : 0;

        if (cause) {
                if (n > ASL_MAP_RUN_CAUSE_MAX) { /* cut at a character boundary */
                        n = ASL_MAP_RUN_CAUSE_MAX;
                        while (n > 0 && ((unsigned char) cause[n] & 0xc0) == 0x80)
                                n--;
                }
                json_object_set_new(f, "cause", json_stringn(cause, n));
        }
        if (json_object_get(frame, "itemInput"))
                json_object_set(f, "input", json_object_get(frame, "itemInput"));
        return f;
}

/* ---- child executions (asl-engine.h) ----
 *
 * A distributed Map whose children are executions of their own ("ext" in
 * its children bookkeeping) keeps, instead of their frames, "execs":
 * {name: {"index", "itemInput", "startMs", "batchItems"?}} of the running
 * ones; "failedExecs" (the same, by name) of those that failed or were
 * stopped, which a redrive starts again ("redoExecs") under new names. */

static bool children_ext(json_t *children) {
        return json_is_true(json_object_get(children, "ext"));
}

/* The name of child idx of the run: the run id and the index, so that a
 * replayed commit or a start delivered twice names the same execution.
 * New string. */
static char *child_name(json_t *children, json_int_t idx) {
        const char *id = map_run_id(children);

        return xasprintf("%s-%" JSON_INTEGER_FORMAT, id ? id : "", idx);
}

/* A ResultWriter's record of child execution `name` (entry, changed), as
 * Step Functions writes a child execution's: its Name, ExecutionArn and
 * StateMachineArn (of the run's "<machine>/<label>"), RedriveCount and
 * RedriveStatus. */
static void map_child_record(json_t *children, const char *name, json_t *child, json_t *entry) {
        const char *arn = jstr(children, "mapRunArn"), *run = arn ? strstr(arn, ":mapRun:") : NULL;
        const char *end = run ? strrchr(arn, ':') : NULL;
        _cleanup_free_ char *prefix = run ? xstrndup(arn, (size_t) (run - arn)) : xstrdup("imgflow");
        _cleanup_free_ char *label =
                run && end > run + 8 ? xstrndup(run + 8, (size_t) (end - run - 8)) : xstrdup("");
        const char *status = jstr(entry, "Status");

        json_object_set_new(entry, "Name", json_string(name));
        json_object_set_new(entry, "ExecutionArn", json_sprintf("%s:execution:%s:%s", prefix, label, name));
        json_object_set_new(entry, "StateMachineArn", json_sprintf("%s:stateMachine:%s", prefix, label));
        json_object_set_new(entry, "RedriveCount", json_integer(jint(child, "redrives")));
        if (status && streq(status, "SUCCEEDED")) {
                json_object_set_new(entry, "RedriveStatus", json_string("NOT_REDRIVABLE"));
                json_object_set_new(entry, "RedriveStatusReason",
                                    json_string("Execution is SUCCEEDED and cannot be redriven"));
        } else if (status && streq(status, "ABORTED") && !json_object_get(entry, "StopDate")) {
                json_object_set_new(entry, "RedriveStatus", json_string("NOT_REDRIVABLE"));
                json_object_set_new(entry, "RedriveStatusReason",
                                    json_string("Execution is RUNNING and cannot be redriven"));
        } else
                json_object_set_new(entry, "RedriveStatus", json_string("REDRIVABLE"));
}

/* Start child idx (entry: its record, stolen) of the Map of frame, or
 * redrive it (entry "redrives" > 0: Step Functions redrives a Map Run's
 * STANDARD children themselves, under the same name); mp: the
 * ItemProcessor's pointer. */
static void map_child_start(Ctx *c, json_t *children, json_t *entry, const char *mp) {
        json_int_t idx = jint(entry, "index");
        _cleanup_free_ char *name = child_name(children, idx);

        json_object_set_new(entry, "startMs", json_integer(c->env->now_ms));
        if (!json_object_get(children, "execs"))
                json_object_set_new(children, "execs", json_object());
        json_object_set_new(json_object_get(children, "execs"), name, entry);
        json_object_set_new(children, "running", json_integer(jint(children, "running") + 1));
        fx_add(c, (AslEffect){ASL_EFFECT_START_CHILD,
                              .child = {.name = xstrdup(name),
                                        .machine = xstrdup(mp),
                                        .map_run_arn = xstrdup(jstr(children, "mapRunArn") ?: ""),
                                        .input = json_incref(json_object_get(entry, "itemInput")),
                                        .index = idx,
                                        .items = batch_items(entry),
                                        .redrive = jint(entry, "redrives")}});
}

/* Stop every running child of the Map (the Map fails or is stopped with
 * the execution): each is kept to run again on a redrive. */
static void map_execs_stop(Ctx *c, json_t *children) {
        json_t *execs = json_object_get(children, "execs"), *entry;
        const char *name;

        if (!children_ext(children) || json_object_size(execs) == 0)
                return;
        if (!json_object_get(children, "failedExecs"))
                json_object_set_new(children, "failedExecs", json_object());
        json_object_foreach (execs, name, entry) {
                fx_add(c, (AslEffect){ASL_EFFECT_STOP_CHILD, .child = {.name = xstrdup(name)}});
                json_object_set(json_object_get(children, "failedExecs"), name, entry);
        }
        json_object_clear(execs);
}

/* ---- what a redrive continues from ---- */

static void dropped_frame(Ctx *c, const char *fid, json_t *frame) {
        if (!c->dropped)
                c->dropped = json_object();
        json_object_set(c->dropped, fid, frame);
}

static void dropped_children(Ctx *c, const char *fid, json_t *children) {
        if (!children)
                return;
        if (!c->dropped_children)
                c->dropped_children = json_object();
        json_object_set(c->dropped_children, fid, children);
}

/* A Catch handled the error: what it dropped on its way is not to be redriven. */
static void dropped_forget(Ctx *c) {
        json_decref(c->dropped);
        json_decref(c->dropped_children);
        c->dropped = c->dropped_children = NULL;
}

/* Forget a pending task: CANCEL_TASK if `notify`, and drop its timers. */
static void map_writer_collect(Ctx *c, const char *fid, json_t *frame, json_t *children, json_int_t idx);
static void map_writer_close_flushes(Ctx *c, json_t *children);

static void task_close(Ctx *c, const char *task_id, bool notify) {
        json_t *tasks = json_object_get(c->exec, "tasks");
        _cleanup_json_ json_t *t = json_incref(json_object_get(tasks, task_id));
        _cleanup_free_ char *id = xstrdup(task_id);
        json_t *frame;

        if (!t)
                return;
        if (notify)
                fx_add(c, (AslEffect){ASL_EFFECT_CANCEL_TASK,
                                      .cancel_task = {.task_id = xstrdup(id),
                                                      .token = jstr(t, "token") ? xstrdup(jstr(t, "token"))
                                                                                : NULL}});
        timer_cancel(c, jstr(t, "timeoutTimer"));
        timer_cancel(c, jstr(t, "heartbeatTimer"));
        json_object_del(tasks, id);

        frame = frame_get(c, jstr(t, "frame"));
        if (frame && jstr(frame, "task") && streq(jstr(frame, "task"), id))
                json_object_del(frame, "task");
}

/* Cancel everything a frame has pending, its children recursively, and
 * delete it. Recursion depth is bounded by the definition's nesting. */
static void frame_cancel(Ctx *c, const char *fid, bool map_aborted_events) {
        _cleanup_free_ char *id = xstrdup(fid);
        json_t *frame = frame_get(c, id), *children;

        if (!frame)
                return;
        if (jstr(frame, "task"))
                task_close(c, jstr(frame, "task"), /* notify= */ true);
        if (jstr(frame, "timer"))
                timer_cancel(c, jstr(frame, "timer"));

        children = json_object_get(frame, "children");
        if (children && json_is_true(json_object_get(children, "dist"))) {
                map_run_end(c, id, children, "MapRunAborted", NULL);
                map_execs_stop(c, children);
        }
        if (children && jstr(children, "readerTask"))
                task_close(c, jstr(children, "readerTask"), /* notify= */ true);
        if (children && jstr(children, "writerTask"))
                task_close(c, jstr(children, "writerTask"), /* notify= */ true);
        if (children)
                map_writer_close_flushes(c, children);
        if (children) {
                json_t *live = json_object_get(children, "live");
                const char *cid;
                json_t *idx;
                void *tmp;

                json_object_foreach_safe(live, tmp, cid, idx) {
                        if (map_aborted_events && jeq(children, "kind", "map") &&
                            !json_is_true(json_object_get(children, "dist")))
                                history(c, "MapIterationAborted",
                                        json_pack("{s:s, s:I}", "name", jstr(frame, "state"),
                                                  "index", json_integer_value(idx)));
                        frame_cancel(c, cid, map_aborted_events);
                }
        }
        dropped_frame(c, id, frame);
        json_object_del(frames(c), id);
}

/* ---- the context object $$ ---- */

/* The role ARN of an execution started without one (AslExecInfo.role_arn). */
static char *role_arn_derived(const char *state_machine_name) {
        return xasprintf("imgflow:role:%s", state_machine_name ? state_machine_name : "");
}

/* The context object whatever the state's strings mention (JSONata states
 * read it as $states.context). */
static json_t *context_build(Ctx *c, json_t *frame, const char *token) {
        json_t *ex = json_object_get(c->exec, "execution"), *sm = json_object_get(c->exec, "stateMachine");
        _cleanup_free_ char *role = NULL;
        char ts[64];
        json_t *ctx;

        asl_format_timestamp(jint(frame, "enteredMs"), ts, sizeof ts);
        /* A document from before roleArn was kept: the derived ARN. */
        role = jstr(ex, "roleArn") ? xstrdup(jstr(ex, "roleArn")) : role_arn_derived(jstr(sm, "name"));
        /* clang-format off */
        ctx = json_pack("{s:{s:O, s:O, s:O, s:s, s:O, s:I}, s:{s:s, s:s, s:I}, s:{s:O, s:O}}",
                        "Execution",
                        "Id", json_object_get(ex, "id"),
                        "Name", json_object_get(ex, "name"),
                        "Input", json_object_get(ex, "input"),
                        "RoleArn", role,
                        "StartTime", json_object_get(ex, "startTime"),
                        "RedriveCount", jint(c->exec, "redriveCount"),
                        "State",
                        "Name", jstr(frame, "state") ? jstr(frame, "state") : "",
                        "EnteredTime", ts,
                        "RetryCount", jint(frame, "retryCount"),
                        "StateMachine",
                        "Id", json_object_get(sm, "id"),
                        "Name", json_object_get(sm, "name"));
        /* clang-format on */
        if (!ctx)
                abort();
        if (json_object_get(c->exec, "redriveMs")) {
                /* Only once the execution was redriven, as in Step Functions. */
                char rt[64];

                asl_format_timestamp(jint(c->exec, "redriveMs"), rt, sizeof rt);
                json_object_set_new(json_object_get(ctx, "Execution"), "RedriveTime", json_string(rt));
        }
        if (token)
                json_object_set_new(ctx, "Task", json_pack("{s:s}", "Token", token));
        return ctx;
}

/* NULL when the frame's state never reads $$ (no string of it mentions
 * "$$"): building the object is a good part of running a state. */
static json_t *context_new(Ctx *c, json_t *frame, const char *token) {
        if (!asl_machine_state_uses_context(c->m, jstr(frame, "state")))
                return NULL;
        return context_build(c, frame, token);
}

/* ---- workflow variables ---- */

/*
 * Each frame (the top level, a Parallel branch, a Map iteration) holds the
 * variables its states assign: frame["vars"] (name -> value) and
 * frame["varsBytes"], their serialized size. A state reads its own frame's
 * and its ancestors' (the definition forbids an inner frame a name an outer
 * one assigns, so nothing is hidden); it writes only its own frame's. A
 * branch's or iteration's variables die with its frame: only its output
 * leaves it.
 */

/* The variables visible in `frame`: a new object, or NULL when there are none. */
static json_t *vars_visible(Ctx *c, json_t *frame) {
        json_t *out = NULL;
        size_t guard = 0;

        for (json_t *f = frame; f && guard++ < 10000; f = frame_get(c, jstr(f, "parent"))) {
                json_t *vars = json_object_get(f, "vars"), *v;
                const char *k;

                if (json_object_size(vars) == 0)
                        continue;
                if (!out)
                        out = json_object();
                json_object_foreach (vars, k, v)
                        if (!json_object_get(out, k))
                                json_object_set(out, k, v);
        }
        return out;
}

/* The serialized size of every variable of the execution. */
static size_t vars_total_bytes(Ctx *c) {
        const char *fid;
        json_t *f;
        size_t n = 0;

        json_object_foreach (frames(c), fid, f)
                n += (size_t) jint(f, "varsBytes");
        return n;
}

/*
 * The limits of an assignment, as Step Functions sets them: a variable holds
 * at most 256 KiB, one Assign at most 256 KiB in all, and the variables of an
 * execution at most 10 MiB. Past one: -E2BIG and States.DataLimitExceeded
 * (with a cause of its own, which state_fail() keeps).
 */
static int vars_check(Ctx *c, json_t *frame, json_t *assigned, AslError *e) {
        json_t *own = json_object_get(frame, "vars"), *v;
        size_t total = 0, now = vars_total_bytes(c), replaced = 0;
        const char *k;

        json_object_foreach (assigned, k, v) {
                size_t n = json_writer_size(v);

                if (n > ASL_MAX_VARIABLE_BYTES) {
                        asl_error_set(e, "States.DataLimitExceeded",
                                      "The value assigned to the variable '%s' has a size of %zu bytes, "
                                      "exceeding the maximum of %d bytes for a variable",
                                      k, n, ASL_MAX_VARIABLE_BYTES);
                        return -E2BIG;
                }
                total += n;
                if (json_object_get(own, k))
                        replaced += json_writer_size(json_object_get(own, k));
        }
        if (total > ASL_MAX_VARIABLE_BYTES) {
                asl_error_set(e, "States.DataLimitExceeded",
                              "The values of the variables of one Assign have a size of %zu bytes, "
                              "exceeding the maximum of %d bytes",
                              total, ASL_MAX_VARIABLE_BYTES);
                return -E2BIG;
        }
        if (now - (replaced < now ? replaced : now) + total > ASL_MAX_EXECUTION_VARIABLE_BYTES) {
                asl_error_set(e, "States.DataLimitExceeded",
                              "The variables of the execution would have a size of %zu bytes, exceeding "
                              "the maximum of %d bytes",
                              now - (replaced < now ? replaced : now) + total,
                              ASL_MAX_EXECUTION_VARIABLE_BYTES);
                return -E2BIG;
        }
        return 0;
}

/* Stores what a state of `frame` assigned (borrowed; checked before). */
static void vars_apply(json_t *frame, json_t *assigned) {
        json_t *vars, *v;
        json_int_t bytes;
        const char *k;

        if (!frame || json_object_size(assigned) == 0)
                return;
        vars = json_object_get(frame, "vars");
        if (!vars) {
                vars = json_object();
                json_object_set_new(frame, "vars", vars);
        }
        bytes = jint(frame, "varsBytes");
        json_object_foreach (assigned, k, v) {
                json_t *old = json_object_get(vars, k);

                if (old)
                        bytes -= (json_int_t) json_writer_size(old);
                bytes += (json_int_t) json_writer_size(v);
                json_object_set(vars, k, v);
        }
        json_object_set_new(frame, "varsBytes", json_integer(bytes > 0 ? bytes : 0));
}

/* ---- JSONata states ---- */

typedef struct QueryContext {
        Ctx *c;
        json_t *frame;
        const char *token; /* $states.context.Task.Token */
        json_t *map_item;  /* $states.context.Map: {"Item": {"Index", "Value"}} */
} QueryContext;

static json_t *query_make_context(void *userdata) {
        QueryContext *qc = userdata;
        json_t *ctx = context_build(qc->c, qc->frame, qc->token);

        if (qc->map_item)
                json_object_set(ctx, "Map", qc->map_item);
        return ctx;
}

/* Starts the evaluation of a JSONata state's fields: $states.input is the
 * frame's input, the variables those visible from the frame. */
static void query_init(Ctx *c, AslQuery *q, QueryContext *qc, json_t *frame, json_t *vars) {
        *qc = (QueryContext){.c = c, .frame = frame};
        *q = (AslQuery){
                .exprs = c->m->exprs,
                .input = json_object_get(frame, "input"),
                .make_context = query_make_context,
                .userdata = qc,
                .vars = vars,
                .env = c->env,
        };
}

/*
 * A JSONata evaluation failed: the EvaluationFailed event (error, cause,
 * location, state), then the error is raised for the state. The cause gets
 * Step Functions' "An error occurred while executing the state ..." prefix.
 */
static void raise_query_error(Ctx *c, const char *fid, const AslError *e, const char *location) {
        json_t *frame = frame_get(c, fid);
        const char *error = e->error ? e->error : "States.QueryEvaluationError";
        _cleanup_free_ char *cause = state_cause(c, fid, error, e->cause);

        if (location && streq(error, "States.QueryEvaluationError"))
                history(c, "EvaluationFailed",
                        json_pack("{s:s, s:s, s:s, s:s}", "error", error, "cause", cause ? cause : "",
                                  "location", location, "state",
                                  jstr(frame, "state") ? jstr(frame, "state") : ""));
        push(c, ACTION_ERROR, fid, NULL, NULL, error, cause);
}

/*
 * Output and Assign of a JSONata state, a matched Choice rule (prefix
 * "Choices[i]/") or a catcher ("Catch[i]/"): both evaluated with the same
 * $states and the variables from before the state. Output defaults to dflt.
 * 0 and *ret_out, *ret_assigned (new; NULL without Assign), or -EINVAL with e
 * and *ret_location set.
 */
static int query_output_assign(Ctx *c, AslQuery *q, json_t *frame, json_t *output, json_t *assign,
                               json_t *dflt, const char *prefix, json_t **ret_out, json_t **ret_assigned,
                               AslError *e, char **ret_location) {
        _cleanup_json_ json_t *out = NULL, *assigned = NULL;
        _cleanup_free_ char *fo = xasprintf("%sOutput", prefix), *fa = xasprintf("%sAssign", prefix);
        int r;

        if (output) {
                r = asl_query_template(q, output, fo, &out, e, ret_location);
                if (r < 0)
                        return r;
        } else
                out = json_incref(dflt ? dflt : json_null());
        if (assign) {
                r = asl_query_template(q, assign, fa, &assigned, e, ret_location);
                if (r < 0)
                        return r;
                r = vars_check(c, frame, assigned, e);
                if (r < 0)
                        return r;
        }
        r = payload_check_limits(out, c->env, "The state output", e);
        if (r < 0)
                return r;
        *ret_out = TAKE_PTR(out);
        *ret_assigned = TAKE_PTR(assigned);
        return 0;
}

/* A JSONata field that must be an integer in [min, max] (TimeoutSeconds,
 * Seconds, MaxConcurrency, ...): a literal or an expression. */
static int query_integer(AslQuery *q, json_t *value, const char *field, json_int_t min, json_int_t max,
                         json_int_t *ret, AslError *e, char **ret_location) {
        _cleanup_json_ json_t *v = NULL;
        int r;

        r = asl_query_eval(q, value, field, &v, e, ret_location);
        if (r < 0)
                return r;
        if (!json_is_number(v) || json_number_value(v) != (double) (json_int_t) json_number_value(v)) {
                _cleanup_free_ char *text = json_text(v);
                const char *expr = json_string_value(value);

                *ret_location = xstrdup(field);
                return asl_error_set(e, "States.QueryEvaluationError",
                                     "The %s field cannot be parsed as an integer: %s%s%s%s", field, text,
                                     expr ? " (from '" : "", expr ? expr : "", expr ? "')" : "");
        }
        if (json_number_value(v) < (double) min || json_number_value(v) > (double) max) {
                *ret_location = xstrdup(field);
                return asl_error_set(e, "States.QueryEvaluationError",
                                     "%s must be between %" JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT
                                     " but was: %" JSON_INTEGER_FORMAT,
                                     field, min, max, (json_int_t) json_number_value(v));
        }
        *ret = (json_int_t) json_number_value(v);
        return 0;
}

/* ---- finishing ---- */

/* A frame as a redrive puts it back (new): without what was pending. */
static json_t *redrive_frame_copy(json_t *f) {
        json_t *copy = json_copy(f);

        json_object_del(copy, "task");
        json_object_del(copy, "timer");
        json_object_del(copy, "choiceNext");
        return copy;
}

/* The execution ends unsuccessfully: keep the frames dropped on the
 * error's way up and those still open, with their children's bookkeeping
 * as it was, in "redrive". */
static void redrive_keep(Ctx *c) {
        json_t *keep = json_object(), *f;
        const char *fid;

        json_object_foreach (frames(c), fid, f)
                dropped_frame(c, fid, f);
        json_object_foreach (c->dropped, fid, f) {
                json_t *copy = redrive_frame_copy(f), *ch = json_object_get(c->dropped_children, fid);

                if (ch && !json_object_get(copy, "children"))
                        json_object_set_new(copy, "children", json_deep_copy(ch));
                else if (json_object_get(copy, "children"))
                        json_object_set_new(copy, "children",
                                            json_deep_copy(json_object_get(copy, "children")));
                if (jstr(copy, "state"))
                        json_object_set_new(keep, fid, copy);
                else
                        json_decref(copy);
        }
        json_object_set_new(c->exec, "redrive", json_pack("{s:o}", "frames", keep));
}

/* status: a constant string. */
static void finish(Ctx *c, const char *status, json_t *output, const char *error, const char *cause) {
        json_t *tasks = json_object_get(c->exec, "tasks"), *timers = json_object_get(c->exec, "timers");
        const char *id;
        json_t *v;
        void *tmp;

        if (c->finished)
                return;

        json_object_foreach_safe(tasks, tmp, id, v)
                task_close(c, id, /* notify= */ true);
        json_object_foreach_safe(timers, tmp, id, v)
                timer_cancel(c, id);
        /* A distributed Map still running: its Map Run is aborted with the
         * execution. */
        json_object_foreach (frames(c), id, v)
                if (json_is_true(json_object_get(json_object_get(v, "children"), "dist"))) {
                        map_run_end(c, id, json_object_get(v, "children"), "MapRunAborted", NULL);
                        map_execs_stop(c, json_object_get(v, "children"));
                }
        if (streq(status, "SUCCEEDED"))
                json_object_del(c->exec, "redrive");
        else
                redrive_keep(c);
        json_object_clear(frames(c));

        json_object_set_new(c->exec, "status", json_string(status));
        json_object_set_new(c->exec, "stopMs", json_integer(c->env->now_ms));
        if (streq(status, "SUCCEEDED")) {
                json_object_set(c->exec, "output", output);
                history(c, "ExecutionSucceeded", HISTORY_DETAILS(c, io_details(NULL, "output", output)));
                fx_add(c, (AslEffect){ASL_EFFECT_FINISHED,
                                      .finished = {.status = status, .output = json_incref(output)}});
        } else {
                json_t *d = json_object();

                if (error) {
                        json_object_set_new(c->exec, "error", json_string(error));
                        json_object_set_new(d, "error", json_string(error));
                }
                if (cause) {
                        json_object_set_new(c->exec, "cause", json_string(cause));
                        json_object_set_new(d, "cause", json_string(cause));
                }
                history(c, streq(status, "FAILED") ? "ExecutionFailed" :
                           streq(status, "TIMED_OUT") ? "ExecutionTimedOut" : "ExecutionAborted", d);
                fx_add(c, (AslEffect){ASL_EFFECT_FINISHED,
                                      .finished = {.status = status,
                                                   .error = error ? xstrdup(error) : NULL,
                                                   .cause = cause ? xstrdup(cause) : NULL}});
        }
        c->finished = true;
}

/* ---- frames finishing ---- */

static void state_result(Ctx *c, const char *fid, json_t *frame, json_t *st, json_t *result);

static void parallel_or_map_output(Ctx *c, const char *fid, json_t *frame, json_t *results) {
        bool quiet = c->quiet;

        c->quiet = frame_is_child_execution(c, fid);
        state_result(c, fid, frame, frame_state(c, frame), results);
        c->quiet = quiet;
}

static void map_fill(Ctx *c, const char *fid);
static void map_maybe_complete(Ctx *c, const char *fid);
static json_t *map_writer_entry(Ctx *c, json_t *child, json_int_t idx, json_t *output, const char *error,
                                const char *cause);

/* A Map's result at child index idx (steals v). A distributed Map's child
 * count is known only as batches are formed: the array grows. An export
 * that wrote the first results while the Map ran dropped them from the
 * array: it starts at index "resultsBase" (map_writer_flush()). */
static void map_results_set(json_t *children, json_int_t idx, json_t *v) {
        json_t *results = json_object_get(children, "results");

        idx -= jint(children, "resultsBase");
        if (!results || idx < 0 || json_is_true(json_object_get(children, "discard"))) {
                json_decref(v);
                return;
        }
        while (json_array_size(results) <= (size_t) idx)
                json_array_append_new(results, json_null());
        json_array_set_new(results, (size_t) idx, v);
        /* Kept by the store outside the document's text: it writes the
         * results set since its last commit (store_commit_set_doc_split()). */
        if (json_is_array(json_object_get(children, "storedNew")))
                json_array_append_new(json_object_get(children, "storedNew"), json_integer(idx));
}

/* The parent of frame fid: false for the top frame, else true with its id
 * (new string), fid's index in it, the parent frame and its "children"
 * (borrowed, may be NULL). */
static bool frame_parent(Ctx *c, const char *fid, char **ret_pid, json_int_t *ret_idx, json_t **ret_parent,
                         json_t **ret_children) {
        json_t *frame = frame_get(c, fid);

        if (!json_object_get(frame, "parent"))
                return false;
        *ret_pid = xstrdup(jstr(frame, "parent"));
        *ret_idx = jint(frame, "index");
        *ret_parent = frame_get(c, *ret_pid);
        *ret_children = json_object_get(*ret_parent, "children");
        return true;
}

static void map_iteration_done(Ctx *c, const char *pid, json_t *parent, json_t *children, json_int_t idx,
                               json_int_t batch, json_t *output);
static void map_iteration_failed(Ctx *c, const char *pid, json_t *parent, json_t *children, json_int_t idx,
                                 json_int_t batch, json_t *entry, const char *error, const char *cause);

static void frame_done(Ctx *c, const char *fid, json_t *output) {
        json_t *parent, *children, *frame = frame_get(c, fid);
        _cleanup_free_ char *pid = NULL;
        json_int_t idx;

        if (!frame_parent(c, fid, &pid, &idx, &parent, &children)) {
                finish(c, "SUCCEEDED", output, NULL, NULL);
                return;
        }
        json_int_t batch = jint(frame, "batchItems");

        json_object_del(json_object_get(children, "live"), fid);
        if (!children) {
                json_object_del(frames(c), fid);
                return;
        }

        map_results_set(children, idx,
                        json_object_get(children, "writer")
                                ? map_writer_entry(c, frame, idx, output, NULL, NULL)
                                : json_incref(output));
        json_object_del(frames(c), fid);
        if (!jeq(children, "kind", "parallel"))
                map_writer_collect(c, pid, parent, children, idx);

        if (jeq(children, "kind", "parallel")) {
                if (json_object_size(json_object_get(children, "live")) > 0)
                        return;
                _cleanup_json_ json_t *results = json_incref(json_object_get(children, "results"));
                json_object_del(parent, "children");
                history(c, "ParallelStateSucceeded", NULL);
                parallel_or_map_output(c, pid, parent, results);
                return;
        }

        map_iteration_done(c, pid, parent, children, idx, batch, output);
}

/* Iteration idx of the Map of frame pid (a batch of `batch` items in
 * distributed mode, 0: one item) succeeded with output; its result is set. */
static void map_iteration_done(Ctx *c, const char *pid, json_t *parent, json_t *children, json_int_t idx,
                               json_int_t batch, json_t *output) {
        map_run_touch(c, pid, children);
        if (!json_is_true(json_object_get(children, "dist")))
                history(c, "MapIterationSucceeded",
                        json_pack("{s:s, s:I}", "name", jstr(parent, "state"), "index", idx));
        json_object_set_new(children, "running", json_integer(jint(children, "running") - 1));
        json_object_set_new(children, "done",
                            json_integer(jint(children, "done") + (batch > 0 ? batch : 1)));
        json_object_set_new(children, "bytes", json_integer(jint(children, "bytes") + (json_int_t) json_writer_size(output)));
        if (json_is_true(json_object_get(children, "dist"))) {
                json_object_set_new(children, "childDone", json_integer(jint(children, "childDone") + 1));
                map_run_touch(c, pid, children);
        }
        map_fill(c, pid);
        map_maybe_complete(c, pid);
}

static void map_writer_start(Ctx *c, const char *fid, json_t *frame, json_t *children, json_t *results);

/*
 * A distributed Map whose ResultWriter exports fails only once its results
 * are written, as Step Functions writes a failed Map Run's results:
 * SUCCEEDED_n and FAILED_n of the children that ended, PENDING_n of those
 * still running (stopped now, "Status": "ABORTED"), then the manifest
 * (map_writer_start()); the run fails with the error it had when the
 * manifest is written (handle_writer_result()). Returns whether it took
 * over; not when the export itself failed or is under way.
 */
static bool map_fail_export(Ctx *c, const char *pid, json_t *parent, const char *error, const char *cause) {
        json_t *children = json_object_get(parent, "children"),
               *writer = json_object_get(children, "writer");
        json_t *live = json_object_get(children, "live"), *idx;
        _cleanup_json_ json_t *results = NULL;
        const char *cid;
        void *tmp;

        if (!json_is_true(json_object_get(children, "dist")) || !jstr(writer, "bucket") ||
            json_object_get(writer, "files") || json_object_get(children, "writerTask") ||
            json_is_true(json_object_get(children, "exportedOnFailure")) ||
            streq_ptr(error, "States.ResultWriterFailed"))
                return false;
        results = json_incref(json_object_get(children, "results"));
        if (!results)
                results = json_array();
        if (jstr(children, "readerTask"))
                task_close(c, jstr(children, "readerTask"), /* notify= */ true);
        json_object_del(children, "readerTask");
        json_object_foreach_safe (live, tmp, cid, idx) {
                json_t *entry =
                        map_writer_entry(c, frame_get(c, cid), json_integer_value(idx), NULL, NULL, NULL);

                json_object_set_new(entry, "Status", json_string("ABORTED"));
                json_object_del(entry, "StopDate");
                json_object_del(entry, "Output");
                json_object_del(entry, "OutputDetails");
                map_results_set(children, json_integer_value(idx), entry);
                {
                        /* a redrive runs it again, whole (as a failed child within the tolerance) */
                        json_t *copy = redrive_frame_copy(frame_get(c, cid));

                        json_object_del(copy, "children");
                        if (!json_object_get(children, "failedFrames"))
                                json_object_set_new(children, "failedFrames", json_object());
                        json_object_set_new(json_object_get(children, "failedFrames"), cid, copy);
                }
                frame_cancel(c, cid, /* map_aborted_events= */ false);
                json_object_del(live, cid);
        }
        {
                json_t *execs = json_object_get(children, "execs"), *ce;
                const char *name;

                json_object_foreach (execs, name, ce) {
                        json_t *entry = map_writer_entry(c, ce, jint(ce, "index"), NULL, NULL, NULL);

                        json_object_set_new(entry, "Status", json_string("ABORTED"));
                        json_object_del(entry, "StopDate");
                        json_object_del(entry, "Output");
                        json_object_del(entry, "OutputDetails");
                        map_child_record(children, name, ce, entry);
                        map_results_set(children, jint(ce, "index"), entry);
                }
                map_execs_stop(c, children);
        }
        json_object_set_new(children, "failError", json_string(error ? error : "States.TaskFailed"));
        if (cause)
                json_object_set_new(children, "failCause", json_string(cause));
        map_writer_start(c, pid, parent, children, json_object_get(children, "results"));
        return true;
}

static void map_fail(Ctx *c, const char *pid, json_t *parent, const char *error, const char *cause) {
        json_t *children = json_object_get(parent, "children");
        json_t *live = json_object_get(children, "live");
        const char *cid;
        json_t *idx;
        void *tmp;

        bool dist = json_is_true(json_object_get(children, "dist"));

        if (map_fail_export(c, pid, parent, error, cause))
                return;

        if (jstr(children, "readerTask"))
                task_close(c, jstr(children, "readerTask"), /* notify= */ true);
        if (jstr(children, "writerTask"))
                task_close(c, jstr(children, "writerTask"), /* notify= */ true);
        map_writer_close_flushes(c, children);
        json_object_foreach_safe(live, tmp, cid, idx) {
                if (!dist)
                        history(c, "MapIterationAborted",
                                json_pack("{s:s, s:I}", "name", jstr(parent, "state"), "index",
                                          json_integer_value(idx)));
                frame_cancel(c, cid, /* map_aborted_events= */ !dist);
        }
        if (dist) {
                map_run_end(c, pid, children, "MapRunFailed",
                            json_pack("{s:s?, s:s?}", "error", error, "cause", cause));
                map_execs_stop(c, children);
        } else
                history(c, "MapStateFailed", NULL);
        dropped_children(c, pid, children);
        json_object_del(parent, "children");
        push(c, ACTION_ERROR, pid, NULL, NULL, error, cause);
}

static void frame_fail(Ctx *c, const char *fid, const char *error, const char *cause) {
        _cleanup_json_ json_t *entry = NULL;
        json_t *parent, *children;
        _cleanup_free_ char *pid = NULL;
        json_int_t idx, batch;
        bool dist;

        if (!frame_parent(c, fid, &pid, &idx, &parent, &children)) {
                finish(c, "FAILED", NULL, error, cause);
                return;
        }
        batch = jint(frame_get(c, fid), "batchItems");
        dist = json_is_true(json_object_get(children, "dist"));
        /* a ResultWriter's record of the failed child, from its frame */
        entry = json_object_get(children, "writer")
                        ? map_writer_entry(c, frame_get(c, fid), idx, NULL,
                                           error ? error : "States.TaskFailed", cause)
                        : NULL;
        if (dist)
                map_run_effect(c, children, NULL,
                               map_run_failure(c, frame_get(c, fid), idx, batch, error, cause), false);
        frame_cancel(c, fid, /* map_aborted_events= */ false);
        json_object_del(json_object_get(children, "live"), fid);
        if (!children)
                return;

        if (jeq(children, "kind", "parallel")) {
                json_t *live = json_object_get(children, "live");
                const char *cid;
                json_t *v;
                void *tmp;

                json_object_foreach_safe(live, tmp, cid, v)
                        frame_cancel(c, cid, /* map_aborted_events= */ true);
                dropped_children(c, pid, children);
                json_object_del(parent, "children");
                history(c, "ParallelStateFailed", NULL);
                push(c, ACTION_ERROR, pid, NULL, NULL, error, cause);
                return;
        }

        /* map iteration (a child execution, in distributed mode: a batch of
         * items counts as that many failed items) */
        if (!dist)
                history(c, "MapIterationFailed",
                        json_pack("{s:s, s:I}", "name", jstr(parent, "state"), "index", idx));
        /* Within the tolerance the Map goes on: a redrive runs it again. */
        if (json_object_get(c->dropped, fid)) {
                json_t *copy = redrive_frame_copy(json_object_get(c->dropped, fid));

                /* What ran inside it is gone: it enters its state again whole. */
                json_object_del(copy, "children");
                if (!json_object_get(children, "failedFrames"))
                        json_object_set_new(children, "failedFrames", json_object());
                json_object_set_new(json_object_get(children, "failedFrames"), fid, copy);
        }
        map_iteration_failed(c, pid, parent, children, idx, batch,
                             entry ? TAKE_PTR(entry) : retry_error_output(error, cause), error, cause);
}

/* Iteration idx of the Map of frame pid failed: entry (stolen) is its
 * result; the tolerance decides whether the Map goes on. */
static void map_iteration_failed(Ctx *c, const char *pid, json_t *parent, json_t *children, json_int_t idx,
                                 json_int_t batch, json_t *entry, const char *error, const char *cause) {
        bool dist = json_is_true(json_object_get(children, "dist"));

        map_results_set(children, idx, entry);
        map_run_touch(c, pid, children);
        json_object_set_new(children, "running", json_integer(jint(children, "running") - 1));
        json_object_set_new(children, "failed",
                            json_integer(jint(children, "failed") + (batch > 0 ? batch : 1)));
        if (dist) {
                json_object_set_new(children, "childFailed",
                                    json_integer(jint(children, "childFailed") + 1));
                map_run_touch(c, pid, children);
        }
        {
                json_int_t failed = jint(children, "failed"), total = jint(children, "total");
                json_t *tc = json_object_get(children, "tolCount"), *tp = json_object_get(children, "tolPct");
                bool exceeded;

                if (!tc && !tp)
                        exceeded = true;
                else
                        exceeded = (tc && failed > json_integer_value(tc)) ||
                                   (tp && !json_is_true(json_object_get(children, "more")) &&
                                    (double) failed * 100.0 > json_number_value(tp) * (double) total);
                if (exceeded) {
                        /* A distributed Map's threshold is 0 failures by default:
                         * its Map Run fails with the threshold error. */
                        if (!tc && !tp && !dist)
                                map_fail(c, pid, parent, error, cause);
                        else
                                map_fail(c, pid, parent, "States.ExceedToleratedFailureThreshold",
                                         "The specified tolerated failure threshold was exceeded");
                        return;
                }
        }
        map_fill(c, pid);
        map_maybe_complete(c, pid);
}

/* ---- state entry and the state types ---- */

static void enter_state(Ctx *c, const char *fid, const char *name, json_t *input) {
        json_t *frame = frame_get(c, fid), *st;

        json_object_set_new(frame, "state", json_string(name));
        json_object_set(frame, "input", input);
        json_object_set_new(frame, "enteredMs", json_integer(c->env->now_ms));
        json_object_set_new(frame, "retries", json_array());
        json_object_set_new(frame, "retryCount", json_integer(0));
        json_object_del(frame, "choiceNext");

        st = frame_state(c, frame);
        if (!st) {
                raise_error(c, fid, "States.Runtime", "state not found in the definition");
                return;
        }
        _cleanup_free_ char *type = xasprintf("%sStateEntered", state_type(st));
        history(c, type, HISTORY_DETAILS(c, io_details(name, "input", input)));
        /* Runtime error causes name it, as Step Functions does. */
        json_object_set(frame, "enteredEventId", json_object_get(c->exec, "historyId"));
}

typedef void (*StateRunFn)(Ctx *c, const char *fid, json_t *frame, json_t *st);

/*
 * The state failed while producing its output: r and e from the step that
 * failed. A JSONata evaluation (location set) records EvaluationFailed; a
 * variable past its limit (-E2BIG) keeps its own cause; anything else gets
 * Step Functions' cause for the error (state_cause()).
 */
static void state_fail(Ctx *c, const char *fid, AslError *e, int r, const char *location) {
        if (r == -E2BIG)
                push(c, ACTION_ERROR, fid, NULL, NULL, e->error, e->cause);
        else if (location)
                raise_query_error(c, fid, e, location);
        else
                push_error(c, fid, e);
        asl_error_clear(e);
}

/* A JSONPath state's Assign, with `dollar` as "$". *ret NULL without one. */
static int jsonpath_assign(Ctx *c, json_t *frame, json_t *assign, json_t *dollar, const AslRefs *refs,
                           json_t **ret, AslError *e) {
        _cleanup_json_ json_t *assigned = NULL;
        int r;

        *ret = NULL;
        if (!assign)
                return 0;
        r = payload_assign(assign, dollar, refs, c->env, &assigned, e);
        if (r < 0)
                return r;
        r = vars_check(c, frame, assigned, e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(assigned);
        return 0;
}

/*
 * A JSONata state leaves with Output (default dflt) and Assign of its own
 * (prefix "") or of a matched Choice rule ("Choices[i]/"). result:
 * $states.result, or NULL.
 */
static void jsonata_exit(Ctx *c, const char *fid, json_t *frame, json_t *output, json_t *assign,
                         json_t *dflt, json_t *result, const char *prefix) {
        _cleanup_json_ json_t *vars = vars_visible(c, frame);
        _cleanup_free_ char *location = NULL;
        json_t *out = NULL, *assigned = NULL;
        QueryContext qc;
        AslQuery q;
        AslError e = {};
        int r;

        query_init(c, &q, &qc, frame, vars);
        q.result = result;
        r = query_output_assign(c, &q, frame, output, assign, dflt, prefix, &out, &assigned, &e, &location);
        asl_query_done(&q);
        if (r < 0) {
                state_fail(c, fid, &e, r, location);
                return;
        }
        push_ok(c, fid, out, assigned);
}

/* A JSONPath state leaves with `result` (its Result or effective input, a
 * Task's selected result): Assign (its "$" is the result), then ResultPath
 * and OutputPath. */
static void jsonpath_exit(Ctx *c, const char *fid, json_t *frame, json_t *st, json_t *result,
                          const AslRefs *refs) {
        _cleanup_json_ json_t *assigned = NULL;
        json_t *out = NULL;
        AslError e = {};
        int r;

        r = jsonpath_assign(c, frame, json_object_get(st, "Assign"), result, refs, &assigned, &e);
        if (r >= 0)
                r = payload_state_output(st, false, json_object_get(frame, "input"), result, refs, c->env,
                                         &out, &e);
        if (r < 0) {
                state_fail(c, fid, &e, r, NULL);
                return;
        }
        push_ok(c, fid, out, TAKE_PTR(assigned));
}

static void run_pass(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *context = NULL, *eff = NULL, *vars = NULL;
        json_t *input = json_object_get(frame, "input");
        AslError e = {};
        int r;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                jsonata_exit(c, fid, frame, json_object_get(st, "Output"), json_object_get(st, "Assign"),
                             input, NULL, "");
                return;
        }
        context = context_new(c, frame, NULL);
        vars = vars_visible(c, frame);
        AslRefs refs = {.context = context, .vars = vars};
        r = payload_effective_input(st, "Parameters", input, &refs, c->env, &eff, &e);
        if (r < 0) {
                state_fail(c, fid, &e, r, NULL);
                return;
        }
        jsonpath_exit(c, fid, frame, st, json_object_get(st, "Result") ? json_object_get(st, "Result") : eff,
                      &refs);
}

/*
 * A Task, Parallel or Map state has its result. JSONPath: ResultSelector,
 * then Assign (its "$" is the selected result), ResultPath and OutputPath.
 * JSONata: Output (default: the result) and Assign, with $states.result.
 */
static void state_result(Ctx *c, const char *fid, json_t *frame, json_t *st, json_t *result) {
        _cleanup_json_ json_t *context = NULL, *vars = NULL, *selected = NULL;
        json_t *sel;
        AslError e = {};

        if (asl_machine_state_is_jsonata(c->m, st)) {
                jsonata_exit(c, fid, frame, json_object_get(st, "Output"), json_object_get(st, "Assign"),
                             result, result, "");
                return;
        }
        context = context_new(c, frame, NULL);
        vars = vars_visible(c, frame);
        AslRefs refs = {.context = context, .vars = vars};
        sel = json_object_get(st, "ResultSelector");
        if (!sel)
                selected = json_incref(result);
        else if (payload_template(sel, result, &refs, c->env, &selected, &e) < 0) {
                state_fail(c, fid, &e, -EINVAL, NULL);
                return;
        }
        jsonpath_exit(c, fid, frame, st, selected, &refs);
}

/* A value as Step Functions quotes it after "==" in a cause: a string as
 * it is, anything else as JSON text. New string. */
static char *value_text(json_t *v) {
        return json_is_string(v) ? xstrdup(json_string_value(v)) : json_text(v);
}

/* Resolve X / XPath positive integer seconds. 0 = absent. */
static int seconds_field(json_t *st, const char *field, json_t *eff, json_t *raw, const AslRefs *refs,
                         long long *ret, AslError *e) {
        _cleanup_free_ char *pf = xasprintf("%sPath", field);
        json_t *v = json_object_get(st, field), *p = json_object_get(st, pf);
        _cleanup_json_ json_t *pv = NULL;

        *ret = 0;
        if (json_is_integer(v)) {
                *ret = json_integer_value(v);
                return 0;
        }
        if (!json_is_string(p))
                return 0;
        /* The effective input, else the raw input (earlier behaviour kept). */
        if (payload_select(eff, p, pf, refs, &pv, e) < 0 && payload_select(raw, p, pf, refs, &pv, NULL) < 0)
                return -EINVAL;
        asl_error_clear(e);
        if (!json_is_integer(pv) || json_integer_value(pv) <= 0 || json_integer_value(pv) > 99999999) {
                _cleanup_free_ char *text = value_text(pv);
                return asl_error_set(e, "States.Runtime",
                                     "The %s parameter must reference a positive integer: %s == %s", pf,
                                     json_string_value(p), text);
        }
        *ret = json_integer_value(pv);
        return 0;
}

static bool resource_waits_for_token(const char *resource) {
        const char *suffix = ".waitForTaskToken";
        size_t rl = resource ? strlen(resource) : 0, sl = strlen(suffix);

        return rl > sl && streq(resource + rl - sl, suffix);
}

/* A task token is issued for .waitForTaskToken resources and for
 * activities (arn:aws:states:<region>:<account>:activity:<name>), whose
 * workers answer with SendTaskSuccess/Failure/Heartbeat as in Step
 * Functions. */
static bool resource_wants_token(const char *resource) {
        return resource_waits_for_token(resource) ||
               (resource && strncmp(resource, "arn:aws:states:", 15) == 0 && strstr(resource, ":activity:"));
}

/* The Parallel branch and Map iteration indices from the top frame down to
 * fid, joined by '.' ("2", "1.0"): a new string, or NULL at the top level.
 * Bounded, so a damaged document cannot loop. */
static char *frame_index_path(Ctx *c, const char *fid) {
        _cleanup_free_ char *path = NULL;
        json_t *frame = frame_get(c, fid);

        for (size_t depth = 0; frame && json_object_get(frame, "parent") && depth < 1000; depth++) {
                char *p = path ? xasprintf("%" JSON_INTEGER_FORMAT ".%s", jint(frame, "index"), path)
                               : xasprintf("%" JSON_INTEGER_FORMAT, jint(frame, "index"));
                free(path);
                path = p;
                frame = frame_get(c, jstr(frame, "parent"));
        }
        return TAKE_PTR(path);
}

static void run_task(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        const char *resource = jstr(st, "Resource");
        _cleanup_free_ char *token = NULL, *task_id = NULL;
        _cleanup_json_ json_t *context = NULL, *eff = NULL, *vars = NULL;
        json_t *input = json_object_get(frame, "input"), *task, *sched;
        AslDispatch dispatch;
        long long timeout = 0, heartbeat = 0;
        AslError e = {};

        if (resource_wants_token(resource)) {
                uint8_t b[ASL_TOKEN_BYTES];

                if (!c->env->random) {
                        raise_error(c, fid, "States.Runtime", "no random source for a task token");
                        return;
                }
                c->env->random(c->env->random_userdata, b, sizeof b);
                token = format_hex(b, sizeof b, xmalloc(2 * sizeof b + 1));
        }
        vars = vars_visible(c, frame);
        if (asl_machine_state_is_jsonata(c->m, st)) {
                /* Arguments (default: the input), TimeoutSeconds and
                 * HeartbeatSeconds: literals or expressions */
                _cleanup_free_ char *location = NULL;
                json_t *a = json_object_get(st, "Arguments"), *t = json_object_get(st, "TimeoutSeconds"),
                       *h = json_object_get(st, "HeartbeatSeconds");
                json_int_t ti = 0, hi = 0;
                QueryContext qc;
                AslQuery q;
                int r = 0;

                query_init(c, &q, &qc, frame, vars);
                qc.token = token;
                if (a)
                        r = asl_query_template(&q, a, "Arguments", &eff, &e, &location);
                else
                        eff = json_incref(input);
                if (r >= 0 && t)
                        r = query_integer(&q, t, "TimeoutSeconds", 1, 99999999, &ti, &e, &location);
                if (r >= 0 && h)
                        r = query_integer(&q, h, "HeartbeatSeconds", 1, 99999999, &hi, &e, &location);
                if (r >= 0)
                        r = payload_check_limits(eff, c->env, "The payload produced by Arguments", &e);
                asl_query_done(&q);
                if (r < 0) {
                        state_fail(c, fid, &e, r, location);
                        return;
                }
                timeout = ti;
                heartbeat = hi;
        } else {
                context = context_new(c, frame, token);
                AslRefs refs = {.context = context, .vars = vars};

                if (payload_effective_input(st, "Parameters", input, &refs, c->env, &eff, &e) < 0 ||
                    seconds_field(st, "TimeoutSeconds", eff, input, &refs, &timeout, &e) < 0 ||
                    seconds_field(st, "HeartbeatSeconds", eff, input, &refs, &heartbeat, &e) < 0) {
                        push_error(c, fid, &e);
                        asl_error_clear(&e);
                        return;
                }
        }

        task_id = task_id_new(c);
        if (!task_id) {
                raise_error(c, fid, "States.Runtime", "no random source for a task id");
                return;
        }
        task = json_pack("{s:s, s:s, s:s}", "frame", fid, "state", jstr(frame, "state"),
                         "resource", resource ? resource : "");
        dispatch = (AslDispatch){
                .task_id = xstrdup(task_id),
                .state = xstrdup(jstr(frame, "state")),
                .resource = xstrdup(resource ? resource : ""),
                .input = json_incref(eff),
                .attempt = jint(frame, "retryCount"),
        };
        dispatch.index_path = frame_index_path(c, fid);
        json_object_set_new(task, "scheduledMs", json_integer(c->env->now_ms));
        if (resource_is_lambda_function(resource)) {
                sched = c->env->no_history ? json_object() : io_details(NULL, "input", eff);
                json_object_set_new(sched, "resource", json_string(resource));
        } else {
                sched = resource_details(resource);
                if (!c->env->no_history)
                        json_object_set_new(sched, "parameters", json_text_new(eff));
        }

        if (token) {
                json_object_set_new(task, "token", json_string(token));
                dispatch.token = xstrdup(token);
        }
        json_object_set_new(json_object_get(c->exec, "tasks"), task_id, task);
        json_object_set_new(frame, "task", json_string(task_id));

        if (timeout > 0) {
                int64_t due = c->env->now_ms + timeout * 1000;
                _cleanup_free_ char *tid = timer_schedule(c, fid, "timeout", due, task_id);

                json_object_set_new(task, "timeoutTimer", json_string(tid));
                dispatch.timeout_seconds = timeout;
                dispatch.deadline_ms = due;
                json_object_set_new(sched, "timeoutInSeconds", json_integer(timeout));
        }
        if (heartbeat > 0) {
                _cleanup_free_ char *tid = timer_schedule(c, fid, "heartbeat", c->env->now_ms + heartbeat * 1000, task_id);

                json_object_set_new(task, "heartbeatTimer", json_string(tid));
                json_object_set_new(task, "heartbeatMs", json_integer(heartbeat * 1000));
                dispatch.heartbeat_seconds = heartbeat;
                if (!resource_is_lambda_function(resource))
                        json_object_set_new(sched, "heartbeatInSeconds", json_integer(heartbeat));
        }

        history(c, task_event_type(resource, TASK_SCHEDULED), sched);
        fx_add(c, (AslEffect){ASL_EFFECT_DISPATCH_TASK, .dispatch = dispatch});
}

/* A JSONata field evaluated to a value of the wrong type: the cause. */
static int query_type_error(AslError *e, char **ret_location, json_t *value, const char *field,
                            const char *expected, json_t *got) {
        _cleanup_free_ char *text = json_text(got);
        const char *expr = NULL;
        size_t len = 0;

        free(*ret_location);
        *ret_location = xstrdup(field);
        if (json_is_string(value) &&
            asl_query_is_expression(json_string_value(value), json_string_length(value), &expr, &len))
                return asl_error_set(
                        e, "States.QueryEvaluationError",
                        "The JSONata expression '%.*s' specified for the field '%s' returned an "
                        "unexpected result type. Expected %s, but was: %s",
                        (int) len, expr, field, expected, text);
        return asl_error_set(e, "States.QueryEvaluationError", "The field '%s' must be %s, but was: %s",
                             field, expected, text);
}

/* A JSONata Choice: the first rule whose Condition is true; its Output and
 * Assign, or the state's own with Default. */
static void run_choice_jsonata(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *vars = vars_visible(c, frame);
        _cleanup_free_ char *location = NULL;
        json_t *input = json_object_get(frame, "input"), *rule, *matched = NULL;
        const char *next = NULL;
        QueryContext qc;
        AslQuery q;
        AslError e = {};
        size_t i = 0;
        int r = 0;

        query_init(c, &q, &qc, frame, vars);
        json_array_foreach (json_object_get(st, "Choices"), i, rule) {
                _cleanup_free_ char *field = xasprintf("Choices[%zu]/Condition", i);
                _cleanup_json_ json_t *cond = NULL;
                json_t *cv = json_object_get(rule, "Condition");

                r = asl_query_eval(&q, cv, field, &cond, &e, &location);
                if (r < 0)
                        break;
                if (!json_is_boolean(cond)) {
                        r = query_type_error(&e, &location, cv, field, "a boolean", cond);
                        break;
                }
                if (json_is_true(cond)) {
                        matched = rule;
                        next = jstr(rule, "Next");
                        break;
                }
        }
        if (r >= 0) {
                _cleanup_free_ char *prefix = matched ? xasprintf("Choices[%zu]/", i) : xstrdup("");
                json_t *src = matched ? matched : st, *out = NULL, *assigned = NULL;

                if (!next)
                        next = jstr(st, "Default");
                if (!next)
                        r = asl_error_set(&e, "States.NoChoiceMatched",
                                          "No Choice rule matched and no Default is set");
                else
                        r = query_output_assign(c, &q, frame, json_object_get(src, "Output"),
                                                json_object_get(src, "Assign"), input, prefix, &out,
                                                &assigned, &e, &location);
                if (r >= 0) {
                        asl_query_done(&q);
                        json_object_set_new(frame, "choiceNext", json_string(next));
                        push_ok(c, fid, out, assigned);
                        return;
                }
        }
        asl_query_done(&q);
        state_fail(c, fid, &e, r, location);
}

static void run_choice(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *context = NULL, *eff = NULL, *vars = NULL, *assigned = NULL;
        json_t *input = json_object_get(frame, "input"), *rule, *out = NULL, *assign;
        const char *next = NULL;
        AslError e = {};
        size_t i;
        int r;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                run_choice_jsonata(c, fid, frame, st);
                return;
        }
        context = context_new(c, frame, NULL);
        vars = vars_visible(c, frame);
        AslRefs refs = {.context = context, .vars = vars};
        assign = json_object_get(st, "Assign"); /* with Default */

        r = payload_select(input, json_object_get(st, "InputPath"), "InputPath", &refs, &eff, &e);
        if (r < 0)
                goto fail;

        json_array_foreach(json_object_get(st, "Choices"), i, rule) {
                bool match = false;

                r = choice_rule_eval(rule, eff, &refs, &match, &e);
                if (r < 0)
                        goto fail;
                if (match) {
                        next = jstr(rule, "Next");
                        assign = json_object_get(rule, "Assign");
                        break;
                }
        }
        if (!next)
                next = jstr(st, "Default");
        if (!next) {
                r = asl_error_set(&e, "States.NoChoiceMatched",
                                  "No Choice rule matched and no Default is set");
                goto fail;
        }
        r = jsonpath_assign(c, frame, assign, eff, &refs, &assigned, &e);
        if (r < 0)
                goto fail;
        r = payload_select(eff, json_object_get(st, "OutputPath"), "OutputPath", &refs, &out, &e);
        if (r < 0)
                goto fail;
        json_object_set_new(frame, "choiceNext", json_string(next));
        push_ok(c, fid, out, TAKE_PTR(assigned));
        return;
fail:
        state_fail(c, fid, &e, r, NULL);
}

/* The longest delay of a Wait state: one year, the longest a Standard
 * execution runs. */
#define ASL_MAX_WAIT_MS (365LL * 24 * 3600 * 1000)

/* The Wait's delay from SecondsPath's value, or the Step Functions error. */
static int wait_seconds_path(json_t *pv, const char *path, int64_t *ret_ms, AslError *e) {
        _cleanup_free_ char *text = value_text(pv);

        if (!json_is_integer(pv))
                return asl_error_set(e, "States.Runtime",
                                     "The SecondsPath parameter cannot be parsed as a long value: %s == %s",
                                     path, text);
        if (json_integer_value(pv) < 0)
                return asl_error_set(e, "States.Runtime",
                                     "The SecondsPath parameter references a negative value: %s == %s", path,
                                     text);
        *ret_ms = json_integer_value(pv) > ASL_MAX_WAIT_MS / 1000 ? ASL_MAX_WAIT_MS + 1
                                                                  : json_integer_value(pv) * 1000;
        return 0;
}

/* A JSONata Wait's due time: Seconds or Timestamp, literals or expressions. */
static int wait_due_jsonata(Ctx *c, json_t *frame, json_t *st, int64_t *ret_due, AslError *e,
                            char **ret_location) {
        _cleanup_json_ json_t *vars = vars_visible(c, frame), *ts = NULL;
        int64_t now = c->env->now_ms;
        json_t *v;
        QueryContext qc;
        AslQuery q;
        int r = 0;

        query_init(c, &q, &qc, frame, vars);
        if ((v = json_object_get(st, "Seconds"))) {
                json_int_t secs = 0;

                r = query_integer(&q, v, "Seconds", 0, 99999999, &secs, e, ret_location);
                if (r >= 0)
                        *ret_due = secs > ASL_MAX_WAIT_MS / 1000 ? now + ASL_MAX_WAIT_MS + 1
                                                                 : now + secs * 1000;
        } else if ((v = json_object_get(st, "Timestamp"))) {
                r = asl_query_eval(&q, v, "Timestamp", &ts, e, ret_location);
                if (r >= 0 &&
                    (!json_is_string(ts) || asl_parse_timestamp(json_string_value(ts), ret_due) < 0))
                        r = query_type_error(e, ret_location, v, "Timestamp",
                                             "an ISO-8601 extended offset date-time string", ts);
        }
        asl_query_done(&q);
        return r;
}

static void run_wait(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *context = NULL, *eff = NULL, *pv = NULL, *vars = NULL;
        _cleanup_free_ char *location = NULL;
        json_t *input = json_object_get(frame, "input"), *v;
        _cleanup_free_ char *tid = NULL;
        int64_t now = c->env->now_ms, due = now, delay = 0;
        AslError e = {};
        int r = 0;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                r = wait_due_jsonata(c, frame, st, &due, &e, &location);
                if (r < 0)
                        goto fail;
        } else {
                context = context_new(c, frame, NULL);
                vars = vars_visible(c, frame);
                AslRefs refs = {.context = context, .vars = vars};

                r = payload_select(input, json_object_get(st, "InputPath"), "InputPath", &refs, &eff, &e);
                if (r < 0)
                        goto fail;

                if ((v = json_object_get(st, "Seconds")))
                        due = json_integer_value(v) > ASL_MAX_WAIT_MS / 1000
                                      ? now + ASL_MAX_WAIT_MS + 1
                                      : now + json_integer_value(v) * 1000;
                else if ((v = json_object_get(st, "Timestamp"))) {
                        if (asl_parse_timestamp(json_string_value(v), &due) < 0) {
                                r = asl_error_set(&e, "States.Runtime", "Invalid Timestamp");
                                goto fail;
                        }
                } else if ((v = json_object_get(st, "SecondsPath"))) {
                        if ((r = payload_select(eff, v, "SecondsPath", &refs, &pv, &e)) < 0 ||
                            (r = wait_seconds_path(pv, json_string_value(v), &delay, &e)) < 0)
                                goto fail;
                        due = now + delay;
                } else if ((v = json_object_get(st, "TimestampPath"))) {
                        if ((r = payload_select(eff, v, "TimestampPath", &refs, &pv, &e)) < 0)
                                goto fail;
                        if (!json_is_string(pv) || asl_parse_timestamp(json_string_value(pv), &due) < 0) {
                                _cleanup_free_ char *text = value_text(pv);
                                r = asl_error_set(
                                        &e, "States.Runtime",
                                        "The TimestampPath parameter does not reference a valid ISO-8601 "
                                        "extended offset "
                                        "date-time format string: %s == %s",
                                        json_string_value(v), text);
                                goto fail;
                        }
                }
        }
        if (due - now > ASL_MAX_WAIT_MS) {
                r = asl_error_set(&e, "States.Runtime", "Wait state delay is too long");
                goto fail;
        }

        tid = timer_schedule(c, fid, "wait", due, NULL);
        json_object_set_new(frame, "timer", json_string(tid));
        return;
fail:
        state_fail(c, fid, &e, r, location);
}

/* A Wait state after its wait, and a Succeed state: InputPath, Assign (its
 * "$" is the effective input) and OutputPath; JSONata: Output and Assign. */
static void wait_done(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *context = NULL, *eff = NULL, *vars = NULL, *assigned = NULL;
        json_t *out = NULL;
        AslError e = {};
        int r;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                jsonata_exit(c, fid, frame, json_object_get(st, "Output"), json_object_get(st, "Assign"),
                             json_object_get(frame, "input"), NULL, "");
                return;
        }
        context = context_new(c, frame, NULL);
        vars = vars_visible(c, frame);
        AslRefs refs = {.context = context, .vars = vars};
        r = payload_select(json_object_get(frame, "input"), json_object_get(st, "InputPath"), "InputPath",
                           &refs, &eff, &e);
        if (r >= 0)
                r = jsonpath_assign(c, frame, json_object_get(st, "Assign"), eff, &refs, &assigned, &e);
        if (r >= 0)
                r = payload_select(eff, json_object_get(st, "OutputPath"), "OutputPath", &refs, &out, &e);
        if (r < 0) {
                state_fail(c, fid, &e, r, NULL);
                return;
        }
        push_ok(c, fid, out, TAKE_PTR(assigned));
}

static void run_succeed(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        wait_done(c, fid, frame, st);
}

/* A JSONata Fail state's Error and Cause: strings or expressions. */
static void run_fail_jsonata(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *vars = vars_visible(c, frame), *ev = NULL, *cv = NULL;
        _cleanup_free_ char *location = NULL;
        json_t *ef = json_object_get(st, "Error"), *cf = json_object_get(st, "Cause");
        QueryContext qc;
        AslQuery q;
        AslError e = {};
        int r = 0;

        query_init(c, &q, &qc, frame, vars);
        if (ef) {
                r = asl_query_eval(&q, ef, "Error", &ev, &e, &location);
                if (r >= 0 && !json_is_string(ev))
                        r = query_type_error(&e, &location, ef, "Error", "a string", ev);
        }
        if (r >= 0 && cf) {
                r = asl_query_eval(&q, cf, "Cause", &cv, &e, &location);
                if (r >= 0 && !json_is_string(cv))
                        r = query_type_error(&e, &location, cf, "Cause", "a string", cv);
        }
        asl_query_done(&q);
        if (r < 0) {
                state_fail(c, fid, &e, r, location);
                return;
        }
        push(c, ACTION_ERROR, fid, NULL, NULL, json_string_value(ev), json_string_value(cv));
}

static void run_fail(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *context = NULL, *ev = NULL, *cv = NULL, *vars = NULL;
        json_t *input = json_object_get(frame, "input");
        const char *error = jstr(st, "Error"), *cause = jstr(st, "Cause");
        AslError e = {};

        if (asl_machine_state_is_jsonata(c->m, st)) {
                run_fail_jsonata(c, fid, frame, st);
                return;
        }
        context = context_new(c, frame, NULL);
        vars = vars_visible(c, frame);
        AslRefs refs = {.context = context, .vars = vars};
        if (jstr(st, "ErrorPath")) {
                if (payload_eval_dollar(jstr(st, "ErrorPath"), "ErrorPath", input, &refs, c->env, &ev, &e) <
                    0)
                        goto fail;
                error = json_string_value(ev);
        }
        if (jstr(st, "CausePath")) {
                if (payload_eval_dollar(jstr(st, "CausePath"), "CausePath", input, &refs, c->env, &cv, &e) <
                    0)
                        goto fail;
                cause = json_string_value(cv);
        }
        /* A Fail state without Error fails with no error name (as AWS). */
        push(c, ACTION_ERROR, fid, NULL, NULL, error, cause);
        return;
fail:
        raise_error(c, fid, "States.Runtime", e.cause);
        asl_error_clear(&e);
}

static char *frame_new(Ctx *c, const char *machine, const char *parent, size_t index) {
        char *fid = next_id(c);

        json_object_set_new(frames(c), fid,
                            json_pack("{s:s, s:s, s:I, s:I, s:[], s:I}", "machine", machine,
                                      "parent", parent, "index", (json_int_t) index,
                                      "enteredMs", (json_int_t) c->env->now_ms, "retries",
                                      "retryCount", (json_int_t) 0));
        return fid;
}

static void run_parallel(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *context = NULL, *eff = NULL, *vars = vars_visible(c, frame);
        _cleanup_free_ char *sp = state_pointer(frame, jstr(frame, "state"));
        _cleanup_free_ char *bp = asl_pointer_join(sp, "Branches");
        json_t *branches = json_object_get(st, "Branches"), *children, *results, *branch;
        AslError e = {};
        size_t i;
        int r;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                _cleanup_free_ char *location = NULL;
                json_t *a = json_object_get(st, "Arguments");
                QueryContext qc;
                AslQuery q;

                query_init(c, &q, &qc, frame, vars);
                r = 0;
                if (a)
                        r = asl_query_template(&q, a, "Arguments", &eff, &e, &location);
                else
                        eff = json_incref(json_object_get(frame, "input"));
                if (r >= 0)
                        r = payload_check_limits(eff, c->env, "The payload produced by Arguments", &e);
                asl_query_done(&q);
                if (r < 0) {
                        state_fail(c, fid, &e, r, location);
                        return;
                }
        } else {
                context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};

                r = payload_effective_input(st, "Parameters", json_object_get(frame, "input"), &refs, c->env,
                                            &eff, &e);
                if (r < 0) {
                        state_fail(c, fid, &e, r, NULL);
                        return;
                }
        }

        results = json_array();
        for (i = 0; i < json_array_size(branches); i++)
                json_array_append_new(results, json_null());
        children = json_pack("{s:s, s:{}, s:o}", "kind", "parallel", "live", "results", results);
        json_object_set_new(frame, "children", children);
        history(c, "ParallelStateStarted", NULL);

        json_array_foreach(branches, i, branch) {
                _cleanup_free_ char *mp = asl_pointer_join_index(bp, i);
                _cleanup_free_ char *cid = frame_new(c, mp, fid, i);

                json_object_set_new(json_object_get(children, "live"), cid, json_integer((json_int_t) i));
                push(c, ACTION_ENTER, cid, jstr(branch, "StartAt"), json_incref(eff), NULL, NULL);
        }
}

static int int_or_path(json_t *st, const char *field, json_t *eff, const AslRefs *refs, bool *ret_set,
                       double *ret, AslError *e) {
        _cleanup_free_ char *pf = xasprintf("%sPath", field);
        json_t *v = json_object_get(st, field);
        _cleanup_json_ json_t *pv = NULL;

        *ret_set = false;
        if (json_is_number(v)) {
                *ret = json_number_value(v);
                *ret_set = true;
                return 0;
        }
        if (!jstr(st, pf))
                return 0;
        if (payload_select(eff, json_object_get(st, pf), pf, refs, &pv, e) < 0)
                return -EINVAL;
        if (!json_is_number(pv) || json_number_value(pv) < 0) {
                _cleanup_free_ char *text = value_text(pv);
                return asl_error_set(e, "States.Runtime",
                                     "The %s parameter must reference a non-negative number: %s == %s", pf,
                                     jstr(st, pf), text);
        }
        *ret = json_number_value(pv);
        *ret_set = true;
        return 0;
}

static int map_check_items(json_t *items, AslError *e) {
        if (!json_is_array(items))
                return asl_error_set(e, "States.Runtime",
                                     "Map state's ItemsPath does not reference an array");
        if (json_array_size(items) > ASL_MAX_MAP_ITEMS)
                return asl_error_set(e, "States.Runtime",
                                     "Map state has %zu items, more than the limit of %d",
                                     json_array_size(items), ASL_MAX_MAP_ITEMS);
        return 0;
}

/* The Map's effective input (after InputPath) and its items (after
 * ItemsPath), recomputed from the raw input whenever needed so that the
 * document does not hold them twice. A JSONata Map's items are the input, a
 * literal Items array, or what its Items expression gave (kept in the
 * children bookkeeping: an expression may not give the same twice). New
 * references. */
static int map_items(Ctx *c, json_t *frame, json_t *st, const AslRefs *refs, json_t **ret_eff,
                     json_t **ret_items, AslError *e) {
        _cleanup_json_ json_t *eff = NULL, *items = NULL;
        int r;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                json_t *kept = json_object_get(json_object_get(frame, "children"), "items");
                json_t *lit = json_object_get(st, "Items");

                eff = json_incref(json_object_get(frame, "input"));
                items = json_incref(kept ? kept : json_is_array(lit) ? lit : eff);
        } else {
                r = payload_select(json_object_get(frame, "input"), json_object_get(st, "InputPath"),
                                   "InputPath", refs, &eff, e);
                if (r < 0)
                        return r;
                if (json_object_get(st, "ItemsPath")) {
                        r = payload_select(eff, json_object_get(st, "ItemsPath"), "ItemsPath", refs, &items,
                                           e);
                        if (r < 0)
                                return r;
                } else
                        items = json_incref(eff);
        }
        r = map_check_items(items, e);
        if (r < 0)
                return r;
        *ret_eff = TAKE_PTR(eff);
        *ret_items = TAKE_PTR(items);
        return 0;
}

/* A JSONata Map's Items, MaxConcurrency and ToleratedFailure*: literals or
 * expressions. *ret_items is set (new) only for an Items expression. */
static int map_settings_jsonata(Ctx *c, json_t *frame, json_t *st, json_t *vars, json_t **ret_items,
                                double *mc, bool *tc_set, double *tc, bool *tp_set, double *tp, AslError *e,
                                char **ret_location) {
        json_t *v;
        QueryContext qc;
        AslQuery q;
        int r = 0;

        query_init(c, &q, &qc, frame, vars);
        v = json_object_get(st, "Items");
        if (asl_query_json_is_expression(v)) {
                r = asl_query_eval(&q, v, "Items", ret_items, e, ret_location);
                if (r >= 0 && !json_is_array(*ret_items))
                        r = query_type_error(e, ret_location, v, "Items", "an array", *ret_items);
        }
        if (r >= 0 && (v = json_object_get(st, "MaxConcurrency"))) {
                json_int_t x = 0;

                r = query_integer(&q, v, "MaxConcurrency", 0, 2147483647, &x, e, ret_location);
                *mc = (double) x;
        }
        if (r >= 0 && (v = json_object_get(st, "ToleratedFailureCount"))) {
                json_int_t x = 0;

                r = query_integer(&q, v, "ToleratedFailureCount", 0, 2147483647, &x, e, ret_location);
                *tc = (double) x;
                *tc_set = true;
        }
        if (r >= 0 && (v = json_object_get(st, "ToleratedFailurePercentage"))) {
                _cleanup_json_ json_t *x = NULL;

                r = asl_query_eval(&q, v, "ToleratedFailurePercentage", &x, e, ret_location);
                if (r >= 0 && (!json_is_number(x) || json_number_value(x) < 0 || json_number_value(x) > 100))
                        r = query_type_error(e, ret_location, v, "ToleratedFailurePercentage",
                                             "a number between 0 and 100", x);
                if (r >= 0) {
                        *tp = json_number_value(x);
                        *tp_set = true;
                }
        }
        asl_query_done(&q);
        return r;
}

/*
 * ItemReader with arn:aws:states:::s3:listObjectsV2: the listing is read a
 * page at a time by the worker operation storage.list (worker/ops/
 * storage-ops.h), dispatched like a Task's work under the Map's frame. The
 * children bookkeeping holds one page: "reader" {"bucket", "prefix",
 * "after" (the last key read), "maxItems"}, "items" (the page), "base" (the
 * index of its first item), "total" (items read so far), "more" (the
 * listing goes on) and "readerTask" while a page is asked for. The next
 * page is asked for once the children of this one are all started, so the
 * document never holds more than a page of a listing of any size.
 *
 * With arn:aws:states:::s3:getObject (ReaderConfig InputType JSON, JSONL or
 * CSV) the pages come from storage.items (worker/ops/storage-items.h) the
 * same way; the reader holds {"bucket", "key", "inputType", "offset" (the
 * byte where the next page starts), "headers" (CSVHeaders, or the first
 * row once read), "delimiter", "maxItems"} instead of the listing's place;
 * with InputType MANIFEST (an S3 Inventory) also "file", the manifest's
 * data file where the next page starts ("offset" is then a byte of its
 * text).
 */
#define ASL_READER_RESOURCE "imgflow:storage.list"
#define ASL_READER_OBJECT_RESOURCE "imgflow:storage.items"
#define ASL_READER_PAGE 200

/* A storage task of the Map itself (the ItemReader's or the ResultWriter's:
 * kind "reader" or "writer"), under its frame; in is stolen. The task's id
 * is kept as "<kind>Task" in the children bookkeeping. */
static void map_storage_task(Ctx *c, const char *fid, json_t *frame, json_t *children, const char *kind,
                             const char *resource, const char *task_id, json_t *in) {
        _cleanup_free_ char *key = xasprintf("%sTask", kind);

        json_object_set_new(json_object_get(c->exec, "tasks"), task_id,
                            json_pack("{s:s, s:s, s:s, s:b}", "frame", fid, "state", jstr(frame, "state"),
                                      "resource", resource, kind, 1));
        json_object_set_new(children, key, json_string(task_id));
        fx_add(c,
               (AslEffect){ASL_EFFECT_DISPATCH_TASK, .dispatch = {.task_id = xstrdup(task_id),
                                                                  .state = xstrdup(jstr(frame, "state")),
                                                                  .resource = xstrdup(resource),
                                                                  .input = in,
                                                                  .index_path = frame_index_path(c, fid)}});
}

static void map_reader_request(Ctx *c, const char *fid, json_t *frame, json_t *children) {
        json_t *reader = json_object_get(children, "reader"), *in;
        json_int_t max_items = jint(reader, "maxItems"), page = ASL_READER_PAGE;
        _cleanup_free_ char *task_id = task_id_new(c);
        const char *resource = jstr(reader, "key") ? ASL_READER_OBJECT_RESOURCE : ASL_READER_RESOURCE;

        if (!task_id) {
                map_fail(c, fid, frame, "States.Runtime", "no random source for a task id");
                return;
        }
        if (max_items > 0 && max_items - jint(children, "total") < page)
                page = max_items - jint(children, "total");
        if (jstr(reader, "key")) {
                in = json_pack("{s:O, s:O, s:O, s:I, s:I}", "bucket", json_object_get(reader, "bucket"),
                               "key", json_object_get(reader, "key"), "inputType",
                               json_object_get(reader, "inputType"), "offset", jint(reader, "offset"),
                               "maxItems", page);
                if (json_object_get(reader, "file"))
                        json_object_set(in, "file", json_object_get(reader, "file"));
                if (json_object_get(reader, "headers"))
                        json_object_set(in, "csvHeaders", json_object_get(reader, "headers"));
                if (jstr(reader, "delimiter"))
                        json_object_set(in, "csvDelimiter", json_object_get(reader, "delimiter"));
        } else {
                in = json_pack("{s:O, s:O, s:I}", "bucket", json_object_get(reader, "bucket"), "prefix",
                               json_object_get(reader, "prefix"), "maxKeys", page);
                if (jstr(reader, "after"))
                        json_object_set(in, "startAfter", json_object_get(reader, "after"));
        }
        map_storage_task(c, fid, frame, children, "reader", resource, task_id, in);
}

/* The reader's settings from ItemReader (its Parameters or Arguments and
 * ReaderConfig.MaxItems/MaxItemsPath) into the children bookkeeping. */
static int map_reader_settings(Ctx *c, json_t *frame, json_t *st, json_t *eff, json_t *vars,
                               json_t *children, AslError *e, char **ret_location) {
        json_t *ir = json_object_get(st, "ItemReader"), *config = json_object_get(ir, "ReaderConfig");
        _cleanup_json_ json_t *args = NULL;
        json_int_t max_items = 0;
        json_t *bucket, *prefix;
        int r = 0;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                QueryContext qc;
                AslQuery q;
                json_t *v;

                query_init(c, &q, &qc, frame, vars);
                if ((v = json_object_get(ir, "Arguments")))
                        r = asl_query_template(&q, v, "ItemReader.Arguments", &args, e, ret_location);
                if (r >= 0 && (v = json_object_get(config, "MaxItems")))
                        r = query_integer(&q, v, "ItemReader.ReaderConfig.MaxItems", 0, 100000000,
                                          &max_items, e, ret_location);
                asl_query_done(&q);
                if (r < 0)
                        return r;
        } else {
                _cleanup_json_ json_t *context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};
                bool set = false;
                double x = 0;

                if (json_object_get(ir, "Parameters") &&
                    (r = payload_template(json_object_get(ir, "Parameters"), eff, &refs, c->env, &args, e)) <
                            0)
                        return r;
                if (config && (r = int_or_path(config, "MaxItems", eff, &refs, &set, &x, e)) < 0)
                        return r;
                max_items = set ? (json_int_t) x : 0;
        }
        bucket = json_object_get(args, "Bucket");
        prefix = json_object_get(args, "Prefix");
        if (streq_ptr(jstr(ir, "Resource"), "arn:aws:states:::s3:getObject")) {
                json_t *key = json_object_get(args, "Key"), *type = json_object_get(config, "InputType");
                json_t *reader;

                if (!json_is_string(bucket) || json_string_length(bucket) == 0 || !json_is_string(key) ||
                    json_string_length(key) == 0)
                        return asl_error_set(e, "States.ItemReaderFailed",
                                             "The ItemReader's Bucket and Key must be non-empty strings");
                if (json_object_get(args, "VersionId"))
                        return asl_error_set(e, "States.ItemReaderFailed",
                                             "The ItemReader's VersionId is not supported: imgflow buckets "
                                             "keep one version of an object");
                if (!type && json_object_get(config, "ManifestType"))
                        type = json_string("MANIFEST"); /* S3_INVENTORY without InputType */
                else
                        json_incref(type);
                reader = json_pack("{s:O, s:O, s:o, s:I, s:I}", "bucket", bucket, "key", key, "inputType",
                                   type, "offset", (json_int_t) 0, "maxItems", max_items);
                if (streq_ptr(jstr(config, "CSVHeaderLocation"), "GIVEN"))
                        json_object_set(reader, "headers", json_object_get(config, "CSVHeaders"));
                if (json_object_get(config, "CSVDelimiter"))
                        json_object_set(reader, "delimiter", json_object_get(config, "CSVDelimiter"));
                json_object_set_new(children, "reader", reader);
        } else if (!json_is_string(bucket) || json_string_length(bucket) == 0 ||
                   (prefix && !json_is_string(prefix)))
                return asl_error_set(
                        e, "States.ItemReaderFailed",
                        "The ItemReader's Bucket must be a non-empty string and its Prefix a string");
        else
                json_object_set_new(children, "reader",
                                    json_pack("{s:O, s:s, s:I}", "bucket", bucket, "prefix",
                                              prefix ? json_string_value(prefix) : "", "maxItems",
                                              max_items));
        json_object_set_new(children, "items", json_array());
        json_object_set_new(children, "base", json_integer(0));
        json_object_set_new(children, "more", json_true());
        return 0;
}

/* A page from storage.list (output borrowed): the next items. */
static void map_reader_page(Ctx *c, const char *fid, json_t *frame, json_t *children, json_t *output) {
        json_t *page = json_object_get(output, "Items"), *more = json_object_get(output, "More"), *last;
        json_t *reader = json_object_get(children, "reader");
        json_int_t total = jint(children, "total"), max_items = jint(reader, "maxItems");
        _cleanup_json_ json_t *items = NULL;

        json_object_del(children, "readerTask");
        if (!json_is_array(page) || !json_is_boolean(more)) {
                _cleanup_free_ char *cause = state_cause(c, fid, "States.ItemReaderFailed",
                                                         "The ItemReader's page is not {\"Items\": [...], "
                                                         "\"More\": true|false}");
                map_fail(c, fid, frame, "States.ItemReaderFailed", cause);
                return;
        }
        items = json_deep_copy(page);
        if (max_items > 0 && total + (json_int_t) json_array_size(items) >= max_items) {
                while ((json_int_t) json_array_size(items) > max_items - total)
                        json_array_remove(items, json_array_size(items) - 1);
                more = json_false();
        }
        if (jstr(reader, "key")) {
                /* an object's page: where the next one starts, the header row read */
                if (json_is_integer(json_object_get(output, "Next")))
                        json_object_set(reader, "offset", json_object_get(output, "Next"));
                if (json_is_integer(json_object_get(output, "File")))
                        json_object_set(reader, "file", json_object_get(output, "File"));
                if (json_is_array(json_object_get(output, "Headers")))
                        json_object_set(reader, "headers", json_object_get(output, "Headers"));
        } else {
                last = json_array_get(items, json_array_size(items) - 1);
                if (jstr(last, "Key"))
                        json_object_set(reader, "after", json_object_get(last, "Key"));
        }
        json_object_set_new(children, "base", json_integer(total));
        json_object_set(children, "items", items);
        json_object_set_new(children, "total", json_integer(total + (json_int_t) json_array_size(items)));
        json_object_set_new(children, "more",
                            json_boolean(json_is_true(more) && json_array_size(items) > 0));
}

/* The Map Run's ARN, as AWS forms it from the execution's:
 * "arn:...:mapRun:<state machine>/<Label or state name>:<run id>" (the
 * execution id's ":execution:<machine>:<name>" part replaced); imgflow's
 * own ids ("imgflow:execution:...") get "imgflow:mapRun:...". */
static char *map_run_arn(Ctx *c, json_t *frame, json_t *st) {
        const char *id = jstr(json_object_get(c->exec, "execution"), "id");
        const char *sm = jstr(json_object_get(c->exec, "stateMachine"), "name");
        const char *label = jstr(st, "Label") ? jstr(st, "Label") : jstr(frame, "state");
        const char *at = id ? strstr(id, ":execution:") : NULL;
        _cleanup_free_ char *prefix = at ? xstrndup(id, (size_t) (at - id)) : xstrdup("imgflow");
        uint64_t a = c->env->random ? asl_env_random_u64(c->env) : (uint64_t) jint(c->exec, "seq");
        uint64_t b = c->env->random ? asl_env_random_u64(c->env) : (uint64_t) c->env->now_ms;

        return xasprintf("%s:mapRun:%s/%s:%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64
                         "-%012" PRIx64,
                         prefix, sm ? sm : "", label ? label : "", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         ((b >> 48) & 0x3fff) | 0x8000, b & UINT64_C(0xffffffffffff));
}

/*
 * ResultWriter: "writer" in the children bookkeeping holds the
 * transformation (NONE by default when the results are exported, COMPACT
 * without Resource, as Step Functions), the OutputType and, exporting, the
 * Bucket and Prefix. With a writer each child keeps its input and start
 * time ("itemInput", "startMs"), so that its entry can be Step Functions'
 * record of a child execution (map_writer_entry()). Exporting, the
 * successes' records leave for SUCCEEDED_n files while the Map runs, a
 * file's worth at a time (map_writer_flush()), so the document does not
 * grow with the items; the Map's completion writes the records left, then
 * the manifest, through the workers' storage.put, one at a time
 * (map_writer_next()), and the state's result is {"MapRunArn",
 * "ResultWriterDetails": {"Bucket", "Key"}}.
 */
#define ASL_WRITER_RESOURCE "imgflow:storage.put"
#define ASL_WRITER_FILE_BYTES (192 * 1024) /* a file's text, escaped, in one task's input */

static int map_writer_settings(Ctx *c, json_t *frame, json_t *st, json_t *eff, json_t *vars,
                               json_t *children, AslError *e, char **ret_location) {
        json_t *rw = json_object_get(st, "ResultWriter"), *config = json_object_get(rw, "WriterConfig");
        bool export = json_object_get(rw, "Resource") != NULL;
        const char *tr = jstr(config, "Transformation"), *type = jstr(config, "OutputType");
        _cleanup_json_ json_t *args = NULL;
        json_t *writer;
        int r = 0;

        writer = json_pack("{s:s, s:s}", "transformation",
                           tr       ? tr
                           : export ? "NONE"
                                    : "COMPACT",
                           "outputType", type ? type : "JSON");
        json_object_set_new(children, "writer", writer);
        if (!export)
                return 0;
        if (asl_machine_state_is_jsonata(c->m, st)) {
                QueryContext qc;
                AslQuery q;

                query_init(c, &q, &qc, frame, vars);
                if (json_object_get(rw, "Arguments"))
                        r = asl_query_template(&q, json_object_get(rw, "Arguments"),
                                               "ResultWriter.Arguments", &args, e, ret_location);
                asl_query_done(&q);
        } else if (json_object_get(rw, "Parameters")) {
                _cleanup_json_ json_t *context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};

                r = payload_template(json_object_get(rw, "Parameters"), eff, &refs, c->env, &args, e);
        }
        if (r < 0)
                return r;
        if (!json_is_string(json_object_get(args, "Bucket")) ||
            json_string_length(json_object_get(args, "Bucket")) == 0 ||
            (json_object_get(args, "Prefix") && !json_is_string(json_object_get(args, "Prefix"))))
                return asl_error_set(
                        e, "States.ResultWriterFailed",
                        "The ResultWriter's Bucket must be a non-empty string and its Prefix a string");
        json_object_set(writer, "bucket", json_object_get(args, "Bucket"));
        json_object_set_new(writer, "prefix", json_string(jstr(args, "Prefix") ? jstr(args, "Prefix") : ""));
        return 0;
}

/* Step Functions' record of a child execution in a ResultWriter's files
 * (new): its input and output as JSON text, status, dates, and for a
 * failure its error and cause. child: the child's frame (borrowed). */
static json_t *map_writer_entry(Ctx *c, json_t *child, json_int_t idx, json_t *output, const char *error,
                                const char *cause) {
        _cleanup_free_ char *in = json_writer_dumps(json_object_get(child, "itemInput"));
        _cleanup_free_ char *name = xasprintf("%" PRIi64, (int64_t) idx);
        char start[40], stop[40];
        json_t *entry;

        asl_format_timestamp(jint(child, "startMs"), start, sizeof start);
        asl_format_timestamp(c->env->now_ms, stop, sizeof stop);
        entry = json_pack("{s:s, s:s, s:{s:b}, s:s, s:s, s:s}", "Name", name, "Input", in ? in : "null",
                          "InputDetails", "Included", 1, "StartDate", start, "StopDate", stop, "Status",
                          error ? "FAILED" : "SUCCEEDED");
        if (error) {
                json_object_set_new(entry, "Error", json_string(error));
                if (cause)
                        json_object_set_new(entry, "Cause", json_string(cause));
        } else {
                _cleanup_free_ char *out = json_writer_dumps(output);

                json_object_set_new(entry, "Output", json_string(out ? out : "null"));
                json_object_set_new(entry, "OutputDetails", json_pack("{s:b}", "Included", 1));
        }
        return entry;
}

/* The Map's results as the writer's transformation gives them (new):
 * entries (results) are records; NONE keeps them, COMPACT takes each
 * success's output, FLATTEN also spreads an output that is an array; a
 * failure stays a record, as in Step Functions. */
static json_t *map_writer_transform(json_t *writer, json_t *results) {
        const char *tr = jstr(writer, "transformation");
        json_t *out = json_array(), *entry;
        size_t i;

        json_array_foreach (results, i, entry) {
                _cleanup_json_ json_t *v = NULL;

                if (json_is_false(entry))
                        continue; /* written while the Map ran (map_writer_flush()) */
                if (streq_ptr(tr, "NONE") || !jeq(entry, "Status", "SUCCEEDED") || !jstr(entry, "Output")) {
                        json_array_append(out, entry);
                        continue;
                }
                v = json_loads(jstr(entry, "Output"), JSON_DECODE_ANY, NULL);
                if (streq_ptr(tr, "FLATTEN") && json_is_array(v))
                        json_array_extend(out, v);
                else
                        json_array_append(out, v ? v : json_null());
        }
        return out;
}

/* The next file of an export, or the manifest after the last, as a
 * storage.put task; the Map ends once the manifest is written. */
static void map_writer_next(Ctx *c, const char *fid, json_t *frame, json_t *children) {
        json_t *writer = json_object_get(children, "writer"), *files = json_object_get(writer, "files");
        json_t *file = json_array_get(files, 0), *in;
        _cleanup_free_ char *task_id = task_id_new(c);

        if (!file && json_object_size(json_object_get(writer, "flushTasks")) > 0)
                return; /* the manifest waits for the files written while the Map ran */
        if (!task_id) {
                map_fail(c, fid, frame, "States.Runtime", "no random source for a task id");
                return;
        }
        if (file)
                in = json_pack("{s:O, s:O, s:O}", "bucket", json_object_get(writer, "bucket"), "key",
                               json_object_get(file, "Key"), "body", json_object_get(file, "body"));
        else {
                json_t *written = json_object_get(writer, "written");
                _cleanup_free_ char *manifest = NULL;
                _cleanup_json_ json_t *m = json_pack("{s:O, s:O, s:{s:O, s:O, s:O}}", "DestinationBucket",
                                                     json_object_get(writer, "bucket"), "MapRunArn",
                                                     json_object_get(children, "mapRunArn"), "ResultFiles",
                                                     "FAILED", json_object_get(written, "FAILED"), "PENDING",
                                                     json_object_get(written, "PENDING"), "SUCCEEDED",
                                                     json_object_get(written, "SUCCEEDED"));

                manifest = json_writer_dumps(m);
                in = json_pack("{s:O, s:O, s:s}", "bucket", json_object_get(writer, "bucket"), "key",
                               json_object_get(writer, "manifestKey"), "body", manifest ? manifest : "{}");
                json_object_set_new(writer, "manifest", json_true());
        }
        map_storage_task(c, fid, frame, children, "writer", ASL_WRITER_RESOURCE, task_id, in);
}

/* An export at the Map's end: the records split by status into files of
 * at most ASL_WRITER_FILE_BYTES (SUCCEEDED_0.json, SUCCEEDED_1.json, ...,
 * then FAILED_n, then PENDING_n: a failing run's children that had not
 * ended), under <Prefix>/<the Map Run's id>/, then the first file asked
 * for. The results leave the bookkeeping. */
static const char *writer_file_status(json_t *entry) {
        if (!json_is_object(entry) || !jstr(entry, "Status") || jeq(entry, "Status", "SUCCEEDED"))
                return "SUCCEEDED";
        return jeq(entry, "Status", "FAILED") ? "FAILED" : "PENDING";
}

/* The folder of a Map Run's result files: <Prefix>/<the run's id> (new). */
static char *writer_dir(json_t *children) {
        json_t *writer = json_object_get(children, "writer");
        const char *arn = jstr(children, "mapRunArn"), *prefix = jstr(writer, "prefix");
        const char *run_id = arn && strrchr(arn, ':') ? strrchr(arn, ':') + 1 : "run";

        return xasprintf("%s%s%s", prefix ? prefix : "",
                         prefix && *prefix && prefix[strlen(prefix) - 1] != '/' ? "/" : "", run_id);
}

/* A result file's text (new): chunk as a JSON array, or a record a line
 * for JSONL; bytes: the records' counted sizes (writer_entry_size()). */
static char *writer_file_body(json_t *chunk, bool jsonl, size_t bytes) {
        char *body;
        size_t k, len = 0;
        json_t *x;

        if (!jsonl)
                return json_writer_dumps(chunk);
        body = xmalloc(bytes + 1);
        json_array_foreach (chunk, k, x) {
                _cleanup_free_ char *line = json_writer_dumps(x);
                size_t ln = line ? strlen(line) : 0;

                if (len + ln + 1 > bytes)
                        break; /* cannot be: sizes were counted */
                if (line)
                        memcpy(body + len, line, ln);
                len += ln;
                body[len++] = '\n';
        }
        body[len] = '\0';
        return body;
}

/* A record's room in a file: escaped in the task's input, at worst doubled. */
static size_t writer_entry_size(json_t *entry) {
        return 2 * json_writer_size(entry) + 2;
}

static void map_writer_start(Ctx *c, const char *fid, json_t *frame, json_t *children, json_t *results) {
        static const char *const statuses[] = {"SUCCEEDED", "FAILED", "PENDING"};
        json_t *writer = json_object_get(children, "writer"), *files = json_array();
        bool jsonl = jeq(writer, "outputType", "JSONL");
        _cleanup_free_ char *dir = writer_dir(children);
        _cleanup_json_ json_t *all = map_writer_transform(writer, results);

        /* the records written while the Map ran count, and their files; the
         * ones queued for the next early file go into these */
        json_object_set_new(writer, "childRecordsWritten", json_integer(jint(writer, "earlyRecords")));
        json_object_del(writer, "queue");
        json_object_del(writer, "queueBytes");
        for (size_t s = 0; s < ELEMENTSOF(statuses); s++) {
                _cleanup_json_ json_t *chunk = json_array();
                size_t i, bytes = 0, n = s == 0 ? (size_t) jint(writer, "nextFile") : 0;
                size_t max_records = c->env->writer_file_records;
                json_t *entry;

                for (i = 0; i <= json_array_size(all); i++) {
                        size_t size = 0;

                        entry = json_array_get(all, i);
                        if (entry) {
                                /* a failing run's child that never started has no record */
                                if ((json_is_null(entry) && json_object_get(children, "failError")) ||
                                    !streq(writer_file_status(entry), statuses[s]))
                                        continue;
                                size = writer_entry_size(entry);
                                json_object_set_new(writer, "childRecordsWritten",
                                                    json_integer(jint(writer, "childRecordsWritten") + 1));
                        }
                        if (json_array_size(chunk) > 0 &&
                            (!entry || bytes + size > ASL_WRITER_FILE_BYTES ||
                             (max_records > 0 && json_array_size(chunk) >= max_records))) {
                                _cleanup_free_ char *body = writer_file_body(chunk, jsonl, bytes);
                                _cleanup_free_ char *key =
                                        xasprintf("%s/%s_%zu.json", dir, statuses[s], n++);

                                json_array_append_new(files,
                                                      json_pack("{s:s, s:s, s:s}", "Key", key, "status",
                                                                statuses[s], "body", body ? body : "[]"));
                                json_array_clear(chunk);
                                bytes = 0;
                        }
                        if (entry) {
                                json_array_append(chunk, entry);
                                bytes += size;
                        }
                }
        }
        /* the items whose results the files hold: every item started */
        json_object_set_new(writer, "recordsWritten",
                            json_integer(json_object_get(children, "failError")
                                                 ? jint(children, "next")
                                                 : jint(children, "done") + jint(children, "failed")));
        json_object_set_new(writer, "files", files);
        /* the files written while the Map ran come first (a copy: "early" stays) */
        json_object_set_new(writer, "written",
                            json_pack("{s:o, s:[], s:[]}", "SUCCEEDED",
                                      json_object_get(writer, "early")
                                              ? json_deep_copy(json_object_get(writer, "early"))
                                              : json_array(),
                                      "FAILED", "PENDING"));
        {
                _cleanup_free_ char *mk = xasprintf("%s/manifest.json", dir);
                json_object_set_new(writer, "manifestKey", json_string(mk));
        }
        if (!json_object_get(children, "failError"))
                json_object_del(children, "results");
        map_writer_next(c, fid, frame, children);
}

/*
 * Exporting, a success's record does not stay in the document until the
 * Map ends: map_writer_collect() queues its index, and once a file's worth
 * has gathered (ASL_WRITER_FILE_BYTES, or env->writer_file_records records)
 * map_writer_flush() writes SUCCEEDED_<n>.json through the same storage.put
 * as the end's writer, in the same commit that drops the records (each
 * becomes `false` in "results"), keeping only the file's Key and Size
 * ("early") for the manifest. Several such writes may be in flight
 * ("flushTasks"); the manifest waits for them. Failures stay in the
 * document to the end: a redrive runs their children again and a new
 * record replaces the old one, so no item has two records.
 */
static void map_writer_flush(Ctx *c, const char *fid, json_t *frame, json_t *children) {
        json_t *writer = json_object_get(children, "writer"), *queue = json_object_get(writer, "queue");
        json_t *results = json_object_get(children, "results"), *x, *tasks;
        _cleanup_free_ char *task_id = task_id_new(c), *dir = writer_dir(children), *key = NULL,
                            *body = NULL;
        _cleanup_json_ json_t *chunk = json_array();
        size_t i, bytes = 0;

        if (!task_id) {
                map_fail(c, fid, frame, "States.Runtime", "no random source for a task id");
                return;
        }
        json_array_foreach (queue, i, x) {
                size_t at = (size_t) (json_integer_value(x) - jint(children, "resultsBase"));
                _cleanup_json_ json_t *one = json_pack("[O]", json_array_get(results, at));
                _cleanup_json_ json_t *t = map_writer_transform(writer, one);
                json_t *e;
                size_t k;

                json_array_foreach (t, k, e)
                        bytes += writer_entry_size(e);
                json_array_extend(chunk, t);
                json_array_set_new(results, at, json_false());
        }
        key = xasprintf("%s/SUCCEEDED_%" JSON_INTEGER_FORMAT ".json", dir, jint(writer, "nextFile"));
        body = writer_file_body(chunk, jeq(writer, "outputType", "JSONL"), bytes);
        json_object_set_new(writer, "nextFile", json_integer(jint(writer, "nextFile") + 1));
        if (!json_object_get(writer, "early"))
                json_object_set_new(writer, "early", json_array());
        json_array_append_new(json_object_get(writer, "early"),
                              json_pack("{s:s, s:I}", "Key", key, "Size",
                                        (json_int_t) (body ? strlen(body) : 2)));
        json_object_set_new(writer, "earlyRecords",
                            json_integer(jint(writer, "earlyRecords") + (json_int_t) json_array_size(chunk)));
        json_object_set_new(writer, "queue", json_array());
        json_object_set_new(writer, "queueBytes", json_integer(0));
        /* the written results at the array's start leave it */
        {
                size_t drop = 0;

                while (json_is_false(json_array_get(results, drop)))
                        drop++;
                if (drop > 0) {
                        _cleanup_json_ json_t *rest = json_array();

                        for (size_t k = drop; k < json_array_size(results); k++)
                                json_array_append(rest, json_array_get(results, k));
                        json_array_clear(results);
                        json_array_extend(results, rest);
                        json_object_set_new(children, "resultsBase",
                                            json_integer(jint(children, "resultsBase") + (json_int_t) drop));
                }
        }
        if (!json_object_get(writer, "flushTasks"))
                json_object_set_new(writer, "flushTasks", json_object());
        json_object_set_new(json_object_get(writer, "flushTasks"), task_id, json_true());
        tasks = json_object_get(c->exec, "tasks");
        json_object_set_new(tasks, task_id,
                            json_pack("{s:s, s:s, s:s, s:b, s:b}", "frame", fid, "state", jstr(frame, "state"),
                                      "resource", ASL_WRITER_RESOURCE, "writer", 1, "flush", 1));
        fx_add(c, (AslEffect){ASL_EFFECT_DISPATCH_TASK,
                              .dispatch = {.task_id = xstrdup(task_id),
                                           .state = xstrdup(jstr(frame, "state")),
                                           .resource = xstrdup(ASL_WRITER_RESOURCE),
                                           .input = json_pack("{s:O, s:s, s:s}", "bucket",
                                                              json_object_get(writer, "bucket"), "key", key,
                                                              "body", body ? body : "[]"),
                                           .index_path = frame_index_path(c, fid)}});
}

/* The success of child idx of an exporting distributed Map, its record in
 * "results": queued for the next early file, written once a file's worth
 * has gathered (map_writer_flush()). */
static void map_writer_collect(Ctx *c, const char *fid, json_t *frame, json_t *children, json_int_t idx) {
        json_t *writer = json_object_get(children, "writer"), *results = json_object_get(children, "results");
        size_t max_records = c->env->writer_file_records, size = 0, k;
        _cleanup_json_ json_t *one = NULL, *t = NULL;
        json_t *e;

        json_int_t at = idx - jint(children, "resultsBase");

        if (!json_is_true(json_object_get(children, "dist")) || !jstr(writer, "bucket") ||
            json_object_get(writer, "files") || !results || at < 0 ||
            (size_t) at >= json_array_size(results) || !json_is_object(json_array_get(results, (size_t) at)))
                return;
        one = json_pack("[O]", json_array_get(results, (size_t) at));
        t = map_writer_transform(writer, one);
        json_array_foreach (t, k, e)
                size += writer_entry_size(e);
        if (json_array_size(json_object_get(writer, "queue")) > 0 &&
            (size_t) jint(writer, "queueBytes") + size > ASL_WRITER_FILE_BYTES)
                map_writer_flush(c, fid, frame, children);
        if (!json_object_get(writer, "queue"))
                json_object_set_new(writer, "queue", json_array());
        json_array_append_new(json_object_get(writer, "queue"), json_integer(idx));
        json_object_set_new(writer, "queueBytes", json_integer(jint(writer, "queueBytes") + (json_int_t) size));
        if (max_records > 0 && json_array_size(json_object_get(writer, "queue")) >= max_records)
                map_writer_flush(c, fid, frame, children);
}

/* A write of the export failed: the Map fails with States.ResultWriterFailed. */
static void map_writer_failed(Ctx *c, const AslEvent *ev, const char *fid, json_t *frame) {
        _cleanup_free_ char *why = xasprintf("Writing the Map Run's results failed: %s%s%s",
                                             ev->error && *ev->error ? ev->error : "States.TaskFailed",
                                             ev->cause ? ": " : "", ev->cause ? ev->cause : "");
        _cleanup_free_ char *cause = state_cause(c, fid, "States.ResultWriterFailed", why);

        map_fail(c, fid, frame, "States.ResultWriterFailed", cause);
}

/* A storage.put of a file written while the Map ran (map_writer_flush()). */
static int handle_flush_result(Ctx *c, const AslEvent *ev, const char *fid) {
        json_t *frame, *children, *writer, *flushing;

        task_close(c, ev->task_id, /* notify= */ false);
        frame = frame_get(c, fid);
        children = json_object_get(frame, "children");
        writer = json_object_get(children, "writer");
        flushing = json_object_get(writer, "flushTasks");
        if (!json_object_get(flushing, ev->task_id))
                return 1;
        json_object_del(flushing, ev->task_id);
        if (ev->type == ASL_EVENT_TASK_FAILED) {
                map_writer_failed(c, ev, fid, frame);
                return 0;
        }
        /* the end's files are written and the manifest waited for this one */
        if (json_object_size(flushing) == 0 && json_object_get(writer, "files") &&
            json_array_size(json_object_get(writer, "files")) == 0 && !json_object_get(children, "writerTask") &&
            !json_is_true(json_object_get(writer, "manifest")))
                map_writer_next(c, fid, frame, children);
        return 0;
}

/* Close the writes of files in flight (the Map ends otherwise). */
static void map_writer_close_flushes(Ctx *c, json_t *children) {
        json_t *flushing = json_object_get(json_object_get(children, "writer"), "flushTasks");
        const char *id;
        json_t *v;
        void *tmp;

        json_object_foreach_safe (flushing, tmp, id, v)
                task_close(c, id, /* notify= */ true);
        json_object_clear(flushing);
}

/* A storage.put of the export (output borrowed). */
static int handle_writer_result(Ctx *c, const AslEvent *ev, const char *fid) {
        json_t *frame, *children, *writer;

        task_close(c, ev->task_id, /* notify= */ false);
        frame = frame_get(c, fid);
        children = json_object_get(frame, "children");
        writer = json_object_get(children, "writer");
        if (!writer)
                return 1;
        json_object_del(children, "writerTask");
        if (ev->type == ASL_EVENT_TASK_FAILED) {
                map_writer_failed(c, ev, fid, frame);
                return 0;
        }
        if (json_is_true(json_object_get(writer, "manifest")) && jstr(children, "failError")) {
                /* a failing run's results are written: now it fails (a
                 * redrive of it exports again, from the results kept) */
                _cleanup_free_ char *error = xstrdup(jstr(children, "failError"));
                _cleanup_free_ char *cause =
                        jstr(children, "failCause") ? xstrdup(jstr(children, "failCause")) : NULL;

                json_object_del(children, "failError");
                json_object_del(children, "failCause");
                json_object_set_new(children, "exportedOnFailure", json_true());
                json_object_del(writer, "files");
                json_object_del(writer, "written");
                json_object_del(writer, "manifest");
                json_object_del(writer, "manifestKey");

                map_fail(c, fid, frame, error, cause);
                return 0;
        }
        if (json_is_true(json_object_get(writer, "manifest"))) {
                _cleanup_json_ json_t *result =
                        json_pack("{s:O, s:{s:O, s:O}}", "MapRunArn", json_object_get(children, "mapRunArn"),
                                  "ResultWriterDetails", "Bucket", json_object_get(writer, "bucket"), "Key",
                                  json_object_get(writer, "manifestKey"));

                json_incref(children);
                json_object_del(frame, "children");
                map_run_end(c, fid, children, "MapRunSucceeded", NULL);
                json_decref(children);
                parallel_or_map_output(c, fid, frame, result);
                return 0;
        }
        {
                json_t *files = json_object_get(writer, "files"), *file = json_array_get(files, 0);

                json_array_append_new(
                        json_object_get(json_object_get(writer, "written"), jstr(file, "status")),
                        json_pack("{s:O, s:I}", "Key", json_object_get(file, "Key"), "Size",
                                  (json_int_t) json_string_length(json_object_get(file, "body"))));
                json_array_remove(files, 0);
        }
        map_writer_next(c, fid, frame, children);
        return 0;
}

/*
 * A distributed Map's settings beyond an inline Map's: its ItemBatcher
 * (MaxItemsPerBatch, MaxInputBytesPerBatch, their Path forms or JSONata
 * expressions, and BatchInput, evaluated once) and its Map Run's ARN, into
 * the children bookkeeping.
 */
static int map_distributed_settings(Ctx *c, json_t *frame, json_t *st, json_t *eff, json_t *vars,
                                    json_t *children, AslError *e, char **ret_location) {
        json_t *batcher = json_object_get(st, "ItemBatcher");
        _cleanup_free_ char *arn = map_run_arn(c, frame, st);
        json_int_t max_items = 0, max_bytes = 0;
        _cleanup_json_ json_t *batch_input = NULL;
        int r = 0;

        json_object_set_new(children, "dist", json_true());
        json_object_set_new(children, "mapRunArn", json_string(arn));
        if (json_object_get(st, "ResultWriter") &&
            (r = map_writer_settings(c, frame, st, eff, vars, children, e, ret_location)) < 0)
                return r;
        if (!batcher)
                return 0;
        if (asl_machine_state_is_jsonata(c->m, st)) {
                json_t *v;
                QueryContext qc;
                AslQuery q;

                query_init(c, &q, &qc, frame, vars);
                if ((v = json_object_get(batcher, "MaxItemsPerBatch")))
                        r = query_integer(&q, v, "ItemBatcher.MaxItemsPerBatch", 1, 2147483647, &max_items,
                                          e, ret_location);
                if (r >= 0 && (v = json_object_get(batcher, "MaxInputBytesPerBatch")))
                        r = query_integer(&q, v, "ItemBatcher.MaxInputBytesPerBatch", 1, 262144, &max_bytes,
                                          e, ret_location);
                if (r >= 0 && (v = json_object_get(batcher, "BatchInput")))
                        r = asl_query_template(&q, v, "ItemBatcher.BatchInput", &batch_input, e,
                                               ret_location);
                asl_query_done(&q);
                if (r < 0)
                        return r;
        } else {
                _cleanup_json_ json_t *context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};
                bool set;
                double x;

                if ((r = int_or_path(batcher, "MaxItemsPerBatch", eff, &refs, &set, &x, e)) < 0)
                        return r;
                max_items = set ? (json_int_t) x : 0;
                if ((r = int_or_path(batcher, "MaxInputBytesPerBatch", eff, &refs, &set, &x, e)) < 0)
                        return r;
                max_bytes = set ? (json_int_t) x : 0;
                if (json_object_get(batcher, "BatchInput") &&
                    (r = payload_template(json_object_get(batcher, "BatchInput"), eff, &refs, c->env,
                                          &batch_input, e)) < 0)
                        return r;
        }
        /* Step Functions' limit on a batch whatever MaxInputBytesPerBatch says. */
        if (max_bytes <= 0 || max_bytes > 262144)
                max_bytes = 262144;
        json_object_set_new(children, "batchItems", json_integer(max_items));
        json_object_set_new(children, "batchBytes", json_integer(max_bytes));
        if (batch_input)
                json_object_set(children, "batchInput", batch_input);
        return 0;
}

static void run_map(Ctx *c, const char *fid, json_t *frame, json_t *st) {
        _cleanup_json_ json_t *context = NULL, *eff = NULL, *items = NULL, *vars = vars_visible(c, frame);
        _cleanup_json_ json_t *computed = NULL;
        _cleanup_free_ char *location = NULL;
        json_t *children, *results;
        double mc = 0, tc = 0, tp = 0;
        bool mc_set = false, tc_set = false, tp_set = false, dist;
        AslError e = {};
        size_t n;
        int r;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                r = map_settings_jsonata(c, frame, st, vars, &computed, &mc, &tc_set, &tc, &tp_set, &tp, &e,
                                         &location);
                if (r < 0)
                        goto fail;
                if (computed) {
                        r = map_check_items(computed, &e);
                        if (r < 0)
                                goto fail;
                        items = json_incref(computed);
                } else if (json_object_get(st, "ItemReader")) {
                        eff = json_incref(json_object_get(frame, "input"));
                        items = json_array();
                } else if ((r = map_items(c, frame, st, NULL, &eff, &items, &e)) < 0)
                        goto fail;
        } else {
                context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};

                if (json_object_get(st, "ItemReader")) {
                        /* the items come from the reader: InputPath only */
                        if ((r = payload_select(json_object_get(frame, "input"),
                                                json_object_get(st, "InputPath"), "InputPath", &refs, &eff,
                                                &e)) < 0)
                                goto fail;
                        items = json_array();
                } else if ((r = map_items(c, frame, st, &refs, &eff, &items, &e)) < 0)
                        goto fail;
                if ((r = int_or_path(st, "MaxConcurrency", eff, &refs, &mc_set, &mc, &e)) < 0 ||
                    (r = int_or_path(st, "ToleratedFailureCount", eff, &refs, &tc_set, &tc, &e)) < 0 ||
                    (r = int_or_path(st, "ToleratedFailurePercentage", eff, &refs, &tp_set, &tp, &e)) < 0)
                        goto fail;
        }
        n = json_array_size(items);
        dist = asl_map_is_distributed(st);
        json_int_t mc_configured = mc >= 1 ? (json_int_t) mc : 0;
        if (mc < 1)
                mc = dist ? ASL_MAP_DISTRIBUTED_CONCURRENCY : ASL_MAP_DEFAULT_CONCURRENCY;

        results = json_array();
        for (size_t i = 0; i < n && !dist; i++)
                json_array_append_new(results, json_null());
        children = json_pack("{s:s, s:{}, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                             "kind", "map", "live", "results", results,
                             "next", (json_int_t) 0, "running", (json_int_t) 0,
                             "done", (json_int_t) 0, "failed", (json_int_t) 0, "total", (json_int_t) n,
                             "max", (json_int_t) mc, "bytes", (json_int_t) 0);
        if (tc_set)
                json_object_set_new(children, "tolCount", json_integer((json_int_t) tc));
        if (tp_set)
                json_object_set_new(children, "tolPct", json_real(tp));
        if (computed)
                json_object_set(children, "items", computed);
        if (dist && (r = map_distributed_settings(c, frame, st, eff ? eff : json_object_get(frame, "input"),
                                                  vars, children, &e, &location)) < 0) {
                json_decref(children);
                goto fail;
        }
        if (dist && json_object_get(st, "ItemReader") &&
            (r = map_reader_settings(c, frame, st, eff ? eff : json_object_get(frame, "input"), vars,
                                     children, &e, &location)) < 0) {
                json_decref(children);
                goto fail;
        }
        /* A distributed Map whose result the state throws away ("ResultPath":
         * null, nothing else reading it) keeps no results array: its
         * document does not grow with the items (the byte count that the
         * payload limit checks is kept all the same). */
        if (dist && !asl_machine_state_is_jsonata(c->m, st) && json_object_get(st, "ResultPath") &&
            json_is_null(json_object_get(st, "ResultPath")) && !json_object_get(st, "ResultSelector") &&
            !json_object_get(st, "Assign") && !json_object_get(st, "ResultWriter"))
                json_object_set_new(children, "discard", json_true());
        if (dist && c->env->map_child_executions &&
            !streq_ptr(jstr(json_object_get(json_object_get(st, "ItemProcessor")
                                                    ?: json_object_get(st, "Iterator"),
                                            "ProcessorConfig"),
                            "ExecutionType"),
                       "EXPRESS"))
                json_object_set_new(children, "ext", json_true());
        json_object_set_new(frame, "children", children);

        if (dist) {
                json_t *set = map_run_counts(children);

                history(c, "MapRunStarted", json_pack("{s:s}", "mapRunArn", jstr(children, "mapRunArn")));
                json_object_update_new(
                        set, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:I, s:I}", "mapRunArn",
                                       jstr(children, "mapRunArn"), "executionArn",
                                       jstr(json_object_get(c->exec, "execution"), "id") ?: "", "stateName",
                                       jstr(frame, "state") ?: "", "status", "RUNNING", "startDate",
                                       (json_int_t) c->env->now_ms, "maxConcurrency", mc_configured,
                                       "toleratedFailurePercentage", tp_set ? tp : 0.0,
                                       "toleratedFailureCount", tc_set ? (json_int_t) tc : (json_int_t) 0,
                                       "redriveCount", jint(c->exec, "redriveCount")));
                map_run_effect(c, children, set, NULL, /* created= */ true);
        } else
                history(c, "MapStateStarted", json_pack("{s:I}", "length", (json_int_t) n));
        map_fill(c, fid);
        map_maybe_complete(c, fid);
        return;
fail:
        state_fail(c, fid, &e, r, location);
}

/* A JSONata Map's ItemSelector for item i: $states.input is the Map's
 * input, $states.context.Map.Item its index and value. */
static int map_item_jsonata(Ctx *c, json_t *frame, json_t *tmpl, json_int_t i, json_t *item, json_t **ret,
                            AslError *e, char **ret_location) {
        _cleanup_json_ json_t *vars = vars_visible(c, frame);
        _cleanup_json_ json_t *map = json_pack("{s:{s:I, s:O}}", "Item", "Index", i, "Value", item);
        QueryContext qc;
        AslQuery q;
        int r;

        query_init(c, &q, &qc, frame, vars);
        qc.map_item = map;
        r = asl_query_template(&q, tmpl, "ItemSelector", ret, e, ret_location);
        asl_query_done(&q);
        return r;
}

/* The input of item i (its value `item`): the ItemSelector's result, or
 * the item itself. 0 and *ret (new), or -1 after failing the Map. */
static int map_item_input(Ctx *c, const char *fid, json_t *frame, json_t *tmpl, bool jsonata, json_t *eff,
                          json_t *vars, json_int_t i, json_t *item, json_t **ret) {
        json_t *in = NULL;

        if (tmpl && jsonata) {
                _cleanup_free_ char *location = NULL;
                AslError e = {};

                if (map_item_jsonata(c, frame, tmpl, i, item, &in, &e, &location) < 0) {
                        _cleanup_free_ char *cause = state_cause(c, fid, e.error, e.cause);

                        if (location)
                                history(c, "EvaluationFailed",
                                        json_pack("{s:s, s:s, s:s, s:s}", "error", e.error, "cause",
                                                  cause ? cause : "", "location", location, "state",
                                                  jstr(frame, "state")));
                        map_fail(c, fid, frame, e.error, cause);
                        asl_error_clear(&e);
                        return -1;
                }
        } else if (tmpl) {
                _cleanup_json_ json_t *context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};
                AslError e = {};

                json_object_set_new(context, "Map",
                                    json_pack("{s:{s:I, s:O}}", "Item", "Index", i, "Value", item));
                if (payload_template(tmpl, eff, &refs, c->env, &in, &e) < 0) {
                        _cleanup_free_ char *cause = state_cause(c, fid, e.error, e.cause);
                        map_fail(c, fid, frame, e.error, cause);
                        asl_error_clear(&e);
                        return -1;
                }
        } else
                in = json_incref(item);
        *ret = in;
        return 0;
}

/*
 * The next batch of a distributed Map with an ItemBatcher: the items from
 * "next" on (each through the ItemSelector), up to MaxItemsPerBatch and as
 * long as the batch's JSON stays within MaxInputBytesPerBatch, as
 * {"BatchInput"?: ..., "Items": [...]}. An item that does not fit a batch
 * of its own fails the Map (States.Runtime). 0 with *ret (new) and
 * *ret_count, or -1 after failing the Map.
 */
static int map_batch(Ctx *c, const char *fid, json_t *frame, json_t *children, json_t *tmpl, bool jsonata,
                     json_t *eff, json_t *items, json_t *vars, json_t **ret, json_int_t *ret_count) {
        json_int_t next = jint(children, "next"), total = jint(children, "total");
        json_int_t max_items = jint(children, "batchItems"), max_bytes = jint(children, "batchBytes");
        _cleanup_json_ json_t *batch = json_object(), *list = json_array();
        json_t *bi = json_object_get(children, "batchInput");
        size_t bytes;
        json_int_t n = 0;

        if (bi)
                json_object_set(batch, "BatchInput", bi);
        json_object_set(batch, "Items", list);
        bytes = json_writer_size(batch);
        while (next + n < total && (max_items <= 0 || n < max_items)) {
                _cleanup_json_ json_t *in = NULL;
                size_t add;

                if (map_item_input(c, fid, frame, tmpl, jsonata, eff, vars, next + n,
                                   json_array_get(items, (size_t) (next + n - jint(children, "base"))),
                                   &in) < 0)
                        return -1;
                add = json_writer_size(in) + (n > 0 ? 1 : 0);
                if (bytes + add > (size_t) max_bytes) {
                        if (n > 0)
                                break;
                        _cleanup_free_ char *why = xasprintf(
                                "The item at index %" JSON_INTEGER_FORMAT
                                " does not fit a batch: with it the "
                                "batch input is %zu bytes, over MaxInputBytesPerBatch (%" JSON_INTEGER_FORMAT
                                ")",
                                next, bytes + add, max_bytes);
                        _cleanup_free_ char *cause = state_cause(c, fid, "States.Runtime", why);
                        map_fail(c, fid, frame, "States.Runtime", cause);
                        return -1;
                }
                bytes += add;
                json_array_append(list, in);
                n++;
        }
        *ret = TAKE_PTR(batch);
        *ret_count = n;
        return 0;
}

/* Iterations a redrive runs again (handle_redrive()): waiting for room. */
static bool map_redo_pending(json_t *children) {
        return json_object_size(json_object_get(children, "redoFrames")) > 0 ||
               json_object_size(json_object_get(children, "redoExecs")) > 0;
}

/* Start the redrive's iterations up to MaxConcurrency, before new ones:
 * each enters the state it failed in, with that state's input. */
static void map_redo_start(Ctx *c, const char *fid, json_t *frame, json_t *children) {
        json_t *redo = json_object_get(children, "redoFrames"), *cf;
        const char *cid;
        void *tmp;

        json_object_foreach_safe(redo, tmp, cid, cf) {
                if (c->abort_cause || jint(children, "running") >= jint(children, "max"))
                        break;
                json_object_set(frames(c), cid, cf);
                json_object_set_new(json_object_get(children, "live"), cid, json_integer(jint(cf, "index")));
                json_object_set_new(children, "running", json_integer(jint(children, "running") + 1));
                if (!json_is_true(json_object_get(children, "dist")))
                        history(c, "MapIterationStarted",
                                json_pack("{s:s, s:I}", "name", jstr(frame, "state"), "index", jint(cf, "index")));
                push(c, ACTION_ENTER, cid, jstr(cf, "state"), json_incref(json_object_get(cf, "input")), NULL,
                     NULL);
                json_object_del(redo, cid);
        }
        if (json_object_size(redo) == 0)
                json_object_del(children, "redoFrames");
        /* child executions: again, under their redrive's names */
        redo = json_object_get(children, "redoExecs");
        json_object_foreach_safe (redo, tmp, cid, cf) {
                json_t *proc = json_object_get(frame_state(c, frame), "ItemProcessor");
                _cleanup_free_ char *sp = state_pointer(frame, jstr(frame, "state"));
                _cleanup_free_ char *mp = asl_pointer_join(sp, proc ? "ItemProcessor" : "Iterator");

                json_t *entry;

                if (c->abort_cause || jint(children, "running") >= jint(children, "max"))
                        break;
                entry = json_deep_copy(cf);
                if (json_is_true(json_object_get(entry, "unstarted")))
                        json_object_del(entry, "unstarted"); /* started, not redriven */
                else
                        json_object_set_new(entry, "redrives", json_integer(jint(entry, "redrives") + 1));
                map_child_start(c, children, entry, mp);
                json_object_del(redo, cid);
        }
        if (json_object_size(redo) == 0)
                json_object_del(children, "redoExecs");
}

static void map_fill(Ctx *c, const char *fid) {
        /* launch iterations up to MaxConcurrency */
        json_t *frame = frame_get(c, fid), *st = frame_state(c, frame);
        json_t *children = json_object_get(frame, "children");
        json_t *tmpl = json_object_get(st, "ItemSelector") ? json_object_get(st, "ItemSelector")
                                                           : json_object_get(st, "Parameters");
        json_t *proc = json_object_get(st, "ItemProcessor") ? json_object_get(st, "ItemProcessor")
                                                            : json_object_get(st, "Iterator");
        _cleanup_free_ char *sp = state_pointer(frame, jstr(frame, "state"));
        _cleanup_free_ char *mp = asl_pointer_join(sp, json_object_get(st, "ItemProcessor") ? "ItemProcessor" : "Iterator");
        _cleanup_json_ json_t *eff = NULL, *items = NULL, *vars = NULL;
        bool jsonata = asl_machine_state_is_jsonata(c->m, st);

        if (!children)
                return;
        map_run_touch(c, fid, children);
        if (json_object_get(children, "reader") && jint(children, "next") >= jint(children, "total") &&
            json_is_true(json_object_get(children, "more")) && !json_object_get(children, "readerTask"))
                map_reader_request(c, fid, frame, children);
        if (!frame_get(c, fid) || !(children = json_object_get(frame, "children")) ||
            jint(children, "running") >= jint(children, "max") ||
            (jint(children, "next") >= jint(children, "total") && !map_redo_pending(children)))
                return;
        map_redo_start(c, fid, frame, children);
        vars = vars_visible(c, frame);
        if (json_object_get(children, "reader")) {
                /* the page read last; item i is items[i - base] */
                AslError e = {};

                items = json_incref(json_object_get(children, "items"));
                if (jsonata)
                        eff = json_incref(json_object_get(frame, "input"));
                else {
                        _cleanup_json_ json_t *context = context_new(c, frame, NULL);
                        AslRefs refs = {.context = context, .vars = vars};

                        if (payload_select(json_object_get(frame, "input"), json_object_get(st, "InputPath"),
                                           "InputPath", &refs, &eff, &e) < 0) {
                                _cleanup_free_ char *cause = state_cause(c, fid, e.error, e.cause);
                                map_fail(c, fid, frame, e.error, cause);
                                asl_error_clear(&e);
                                return;
                        }
                }
        } else {
                _cleanup_json_ json_t *context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};
                AslError e = {};

                if (map_items(c, frame, st, &refs, &eff, &items, &e) < 0 ||
                    json_array_size(items) != (size_t) jint(children, "total")) {
                        _cleanup_free_ char *cause = state_cause(c, fid, "States.Runtime",
                                                                 e.cause ? e.cause : "Map items changed");
                        map_fail(c, fid, frame, "States.Runtime", cause);
                        asl_error_clear(&e);
                        return;
                }
        }

        while (children && !c->abort_cause && jint(children, "running") < jint(children, "max") &&
               jint(children, "next") < jint(children, "total")) {
                json_int_t i = jint(children, "next"), child = i, count = 1;
                json_t *in = NULL;

                if (json_is_true(json_object_get(children, "dist"))) {
                        child = jint(children, "children");
                        if (json_object_get(children, "batchItems")) {
                                if (map_batch(c, fid, frame, children, tmpl, jsonata, eff, items, vars, &in,
                                              &count) < 0)
                                        return;
                        } else if (map_item_input(
                                           c, fid, frame, tmpl, jsonata, eff, vars, i,
                                           json_array_get(items, (size_t) (i - jint(children, "base"))),
                                           &in) < 0)
                                return;
                        json_object_set_new(children, "children", json_integer(child + 1));
                } else if (map_item_input(c, fid, frame, tmpl, jsonata, eff, vars, i,
                                          json_array_get(items, (size_t) i), &in) < 0)
                        return;

                if (children_ext(children)) {
                        json_t *entry = json_pack("{s:I, s:o}", "index", child, "itemInput", in);

                        if (count > 1 || json_object_get(children, "batchItems"))
                                json_object_set_new(entry, "batchItems", json_integer(count));
                        json_object_set_new(children, "next", json_integer(i + count));
                        map_child_start(c, children, entry, mp);
                        continue;
                }
                _cleanup_free_ char *cid = frame_new(c, mp, fid, (size_t) child);
                if (json_object_get(children, "writer")) {
                        json_object_set(frame_get(c, cid), "itemInput", in);
                        json_object_set_new(frame_get(c, cid), "startMs", json_integer(c->env->now_ms));
                }
                if (count > 1 || json_object_get(children, "batchItems"))
                        json_object_set_new(frame_get(c, cid), "batchItems", json_integer(count));
                json_object_set_new(json_object_get(children, "live"), cid, json_integer(child));
                json_object_set_new(children, "next", json_integer(i + count));
                json_object_set_new(children, "running", json_integer(jint(children, "running") + 1));
                if (!json_is_true(json_object_get(children, "dist")))
                        history(c, "MapIterationStarted",
                                json_pack("{s:s, s:I}", "name", jstr(frame, "state"), "index", i));
                push(c, ACTION_ENTER, cid, jstr(proc, "StartAt"), in, NULL, NULL);
        }
        if (children)
                map_run_touch(c, fid, children);
        if (children && json_object_get(children, "reader") &&
            jint(children, "next") >= jint(children, "total") &&
            json_is_true(json_object_get(children, "more")) && !json_object_get(children, "readerTask"))
                map_reader_request(c, fid, frame, children);
}

static void map_maybe_complete(Ctx *c, const char *fid) {
        json_t *frame = frame_get(c, fid), *children = json_object_get(frame, "children");
        size_t max = c->env->max_payload_bytes ? c->env->max_payload_bytes : ASL_MAX_PAYLOAD_BYTES_DEFAULT;

        if (!children || !jeq(children, "kind", "map"))
                return;
        if ((size_t) jint(children, "bytes") > max && !jstr(json_object_get(children, "writer"), "bucket")) {
                _cleanup_free_ char *cause = state_cause(c, fid, "States.DataLimitExceeded", NULL);
                map_fail(c, fid, frame, "States.DataLimitExceeded", cause);
                return;
        }
        if (jint(children, "running") > 0 || jint(children, "next") < jint(children, "total") ||
            map_redo_pending(children) || json_is_true(json_object_get(children, "more")) ||
            json_object_get(children, "readerTask"))
                return;
        /* A reader's total is known only now: the percentage against it. */
        if (json_object_get(children, "reader") && json_object_get(children, "tolPct") &&
            (double) jint(children, "failed") * 100.0 >
                    json_number_value(json_object_get(children, "tolPct")) *
                            (double) jint(children, "total")) {
                map_fail(c, fid, frame, "States.ExceedToleratedFailureThreshold",
                         "The specified tolerated failure threshold was exceeded");
                return;
        }

        _cleanup_json_ json_t *results = json_incref(json_object_get(children, "results"));
        bool dist = json_is_true(json_object_get(children, "dist"));
        json_t *writer = json_object_get(children, "writer");

        if (json_object_get(children, "writerTask") || json_object_get(writer, "files"))
                return; /* the export is being written */
        if (jstr(writer, "bucket")) {
                map_writer_start(c, fid, frame, children, results);
                return;
        }
        if (writer) {
                _cleanup_json_ json_t *transformed = map_writer_transform(writer, results);

                json_decref(results);
                results = TAKE_PTR(transformed);
        }
        json_incref(children);
        json_object_del(frame, "children");
        if (dist)
                map_run_end(c, fid, children, "MapRunSucceeded", NULL);
        else
                history(c, "MapStateSucceeded", NULL);
        json_decref(children);
        parallel_or_map_output(c, fid, frame, results);
}

typedef struct StateType {
        const char *name;
        StateRunFn run;
} StateType;

static const StateType state_types[] = {
        { "Pass", run_pass },
        { "Task", run_task },
        { "Choice", run_choice },
        { "Wait", run_wait },
        { "Succeed", run_succeed },
        { "Fail", run_fail },
        { "Parallel", run_parallel },
        { "Map", run_map },
};

static void run_state(Ctx *c, const char *fid) {
        json_t *frame = frame_get(c, fid), *st = frame_state(c, frame);
        const char *type = state_type(st);

        for (size_t i = 0; i < ELEMENTSOF(state_types); i++)
                if (streq(state_types[i].name, type)) {
                        state_types[i].run(c, fid, frame, st);
                        return;
                }
        raise_error(c, fid, "States.Runtime", "unknown state type");
}

/* The current state of the frame produced `output` (borrowed). */
static void state_ok(Ctx *c, const char *fid, json_t *output, json_t *assigned) {
        json_t *frame = frame_get(c, fid), *st = frame_state(c, frame);
        const char *type = state_type(st), *next;
        _cleanup_free_ char *ev = xasprintf("%sStateExited", type);

        history(c, ev, HISTORY_DETAILS(c, exited_details(jstr(frame, "state"), output, assigned)));
        vars_apply(frame, assigned);

        if (streq(type, "Choice"))
                next = jstr(frame, "choiceNext");
        else if (streq(type, "Succeed") || json_is_true(json_object_get(st, "End")))
                next = NULL;
        else
                next = jstr(st, "Next");

        if (next)
                push(c, ACTION_ENTER, fid, next, json_incref(output), NULL, NULL);
        else
                frame_done(c, fid, output);
}

/*
 * A catcher takes the error: its Assign and Output (JSONata: with
 * $states.errorOutput; JSONPath: Assign's "$" is the error output, then
 * ResultPath), the state's exit, and the catcher's Next. If they fail, the
 * frame fails with that error (no catcher catches its own failure).
 */
static void catch_error(Ctx *c, const char *fid, json_t *frame, json_t *st, json_t *catcher,
                        const char *error, const char *cause) {
        _cleanup_json_ json_t *eo = retry_error_output(error, cause), *out = NULL, *assigned = NULL;
        _cleanup_json_ json_t *vars = vars_visible(c, frame);
        _cleanup_free_ char *ev = xasprintf("%sStateExited", state_type(st)), *location = NULL;
        AslError e = {};
        int r;

        if (asl_machine_state_is_jsonata(c->m, st)) {
                _cleanup_free_ char *prefix = NULL;
                json_t *x;
                size_t i;
                QueryContext qc;
                AslQuery q;

                json_array_foreach (json_object_get(st, "Catch"), i, x)
                        if (x == catcher)
                                break;
                prefix = xasprintf("Catch[%zu]/", i);
                query_init(c, &q, &qc, frame, vars);
                q.error_output = eo;
                r = query_output_assign(c, &q, frame, json_object_get(catcher, "Output"),
                                        json_object_get(catcher, "Assign"), eo, prefix, &out, &assigned, &e,
                                        &location);
                asl_query_done(&q);
        } else {
                _cleanup_json_ json_t *context = context_new(c, frame, NULL);
                AslRefs refs = {.context = context, .vars = vars};

                r = jsonpath_assign(c, frame, json_object_get(catcher, "Assign"), eo, &refs, &assigned, &e);
                if (r >= 0)
                        r = payload_result_path(json_object_get(frame, "input"),
                                                json_object_get(catcher, "ResultPath"), eo, &out, &e);
        }
        if (r < 0) {
                _cleanup_free_ char *full =
                        r == -E2BIG ? xstrdup(e.cause) : state_cause(c, fid, e.error, e.cause);

                if (location)
                        history(c, "EvaluationFailed",
                                json_pack("{s:s, s:s, s:s, s:s}", "error", e.error, "cause",
                                          full ? full : "", "location", location, "state",
                                          jstr(frame, "state")));
                frame_fail(c, fid, e.error, full);
                asl_error_clear(&e);
                return;
        }
        history(c, ev, HISTORY_DETAILS(c, exited_details(jstr(frame, "state"), out, assigned)));
        vars_apply(frame, assigned);
        dropped_forget(c);
        push(c, ACTION_ENTER, fid, jstr(catcher, "Next"), TAKE_PTR(out), NULL, NULL);
}

/* The current state of the frame raised an error: Retry, Catch, or fail the frame. */
static void state_error(Ctx *c, const char *fid, const char *error, const char *cause, bool task_failure) {
        json_t *frame = frame_get(c, fid), *st = frame_state(c, frame), *catcher;
        int64_t delay;

        if (!retry_error_is_terminal(error) && st) {
                if (retry_decide(json_object_get(st, "Retry"), json_object_get(frame, "retries"), error,
                                 task_failure, c->env, &delay, NULL) > 0) {
                        _cleanup_free_ char *tid = timer_schedule(c, fid, "retry", c->env->now_ms + delay, NULL);

                        json_object_set_new(frame, "retryCount", json_integer(jint(frame, "retryCount") + 1));
                        json_object_set_new(frame, "timer", json_string(tid));
                        return;
                }
                catcher = retry_find_catcher(json_object_get(st, "Catch"), error, task_failure);
                if (catcher) {
                        catch_error(c, fid, frame, st, catcher, error, cause);
                        return;
                }
        }
        frame_fail(c, fid, error, cause);
}

static void run_queue(Ctx *c) {
        while (c->head < c->n && !c->finished && !c->abort_cause) {
                Action a = c->queue[c->head++];

                if (++c->steps > ASL_MAX_STEPS_PER_CALL) {
                        c->abort_cause = xstrdup("transition budget per event exceeded");
                        action_free(&a);
                        break;
                }
                if (frame_get(c, a.fid)) {
                        c->quiet = frame_is_child_execution(c, a.fid);
                        switch (a.kind) {
                        case ACTION_ENTER:
                                enter_state(c, a.fid, a.name, a.value);
                                if (!c->abort_cause && frame_state(c, frame_get(c, a.fid)))
                                        run_state(c, a.fid);
                                break;
                        case ACTION_OK:
                                state_ok(c, a.fid, a.value, a.assigned);
                                break;
                        case ACTION_ERROR:
                                state_error(c, a.fid, a.error, a.cause, a.task_failure);
                                break;
                        }
                }
                action_free(&a);
        }
        c->quiet = false;
        if (c->abort_cause && !c->finished)
                finish(c, "FAILED", NULL, "States.Runtime", c->abort_cause);
        queue_clear(c);
}

/* ---- public API ---- */

int asl_exec_new(const AslMachine *m, const AslExecInfo *info, const AslEnv *env,
                 json_t **ret_exec, AslError *err) {
        _cleanup_json_ json_t *input = info->input ? json_incref(info->input) : json_object();
        _cleanup_free_ char *role = NULL;
        char ts[64];
        json_t *exec;
        int r;

        r = payload_check_limits(input, env, "The execution input", err);
        if (r < 0) {
                if (err && err->error && !streq(err->error, "States.Runtime")) {
                        _cleanup_free_ char *cause = err->cause ? xstrdup(err->cause) : NULL;
                        asl_error_set(err, "States.Runtime", "%s", cause ? cause : "input too large");
                }
                return -EINVAL;
        }

        asl_format_timestamp(env->now_ms, ts, sizeof ts);
        role = info->role_arn ? xstrdup(info->role_arn) : role_arn_derived(info->state_machine_name);
        exec = json_pack("{s:i, s:s, s:b, s:{s:s, s:s, s:O, s:s, s:I, s:s}, s:{s:s, s:s}, s:I, s:I, s:{}, s:{}, s:{}}",
                         "v", 1, "status", "RUNNING", "started", 0,
                         "execution",
                         "id", info->execution_id ? info->execution_id : "",
                         "name", info->execution_name ? info->execution_name : "",
                         "input", input, "startTime", ts, "startMs", (json_int_t) env->now_ms, "roleArn", role,
                         "stateMachine",
                         "id", info->state_machine_id ? info->state_machine_id : "",
                         "name", info->state_machine_name ? info->state_machine_name : "",
                         "seq", (json_int_t) 0, "historyId", (json_int_t) 0,
                         "frames", "tasks", "timers");
        if (!exec)
                return asl_error_set(err, "States.Runtime", "cannot create the execution document");
        if (info->machine && *info->machine) {
                if (!json_is_object(asl_machine_lookup(m, info->machine))) {
                        json_decref(exec);
                        return asl_error_set(err, "States.Runtime", "no sub-machine at %s", info->machine);
                }
                json_object_set_new(exec, "machine", json_string(info->machine));
        }
        if (info->map_child)
                json_object_set(exec, "mapChild", info->map_child);
        *ret_exec = exec;
        return 0;
}

const char *asl_exec_status(json_t *exec) {
        return jstr(exec, "status");
}

void asl_exec_map_progress(json_t *exec, size_t *ret_done, size_t *ret_total) {
        size_t done = 0, total = 0;
        const char *fid;
        json_t *f;

        json_object_foreach(json_object_get(exec, "frames"), fid, f) {
                json_t *ch = json_object_get(f, "children");

                if (ch && jeq(ch, "kind", "map")) {
                        done += (size_t) (jint(ch, "done") + jint(ch, "failed"));
                        total += (size_t) jint(ch, "total");
                }
        }
        if (ret_done)
                *ret_done = done;
        if (ret_total)
                *ret_total = total;
}

static int handle_start(Ctx *c) {
        /* a child execution runs the sub-machine of "machine" */
        const char *root = jstr(c->exec, "machine") ?: "";
        json_t *def = *root ? asl_machine_lookup(c->m, root) : c->m->definition;
        json_t *ex = json_object_get(c->exec, "execution");
        json_t *to = *root ? NULL : json_object_get(def, "TimeoutSeconds");

        if (!def)
                return -EINVAL;
        json_object_set_new(c->exec, "started", json_true());
        history(c, "ExecutionStarted",
                HISTORY_DETAILS(c, io_details(NULL, "input", json_object_get(ex, "input"))));
        json_object_set_new(frames(c), "0",
                            json_pack("{s:s, s:I, s:[], s:I}", "machine", root, "enteredMs",
                                      (json_int_t) c->env->now_ms, "retries", "retryCount", (json_int_t) 0));
        if (json_is_integer(to) && json_integer_value(to) > 0)
                free(timer_schedule(c, "0", "execution_timeout",
                                    c->env->now_ms + json_integer_value(to) * 1000, NULL));
        push(c, ACTION_ENTER, "0", jstr(def, "StartAt"), json_incref(json_object_get(ex, "input")), NULL, NULL);
        return 0;
}

int64_t asl_exec_redrive_count(json_t *exec) {
        return jint(exec, "redriveCount");
}

int asl_exec_redrivable(json_t *exec, const AslEnv *env, AslError *err) {
        size_t max =
                env && env->max_history_events ? env->max_history_events : ASL_MAX_HISTORY_EVENTS_DEFAULT;
        const char *status = jstr(exec, "status");

        if (!status || streq(status, "RUNNING"))
                return asl_error_set(err, "ExecutionNotRedrivable",
                                     "Execution is RUNNING and cannot be redriven");
        if (streq(status, "SUCCEEDED"))
                return asl_error_set(err, "ExecutionNotRedrivable",
                                     "Execution is SUCCEEDED and cannot be redriven");
        if (env && json_object_get(exec, "stopMs") &&
            env->now_ms - jint(exec, "stopMs") > ASL_REDRIVE_WINDOW_MS)
                return asl_error_set(err, "ExecutionNotRedrivable", "Execution redrivable period exceeded");
        /* ExecutionRedriven, a state entered and the last event's slot. */
        if ((size_t) jint(exec, "historyId") + 3 > max)
                return asl_error_set(err, "ExecutionNotRedrivable",
                                     "Execution history event limit exceeded");
        if (json_object_size(json_object_get(json_object_get(exec, "redrive"), "frames")) == 0)
                return asl_error_set(err, "ExecutionNotRedrivable",
                                     "Execution was started before the launch of RedriveExecution");
        return 0;
}

static int fid_compare(const void *a, const void *b) {
        unsigned long long x = strtoull(*(const char *const *) a, NULL, 10);
        unsigned long long y = strtoull(*(const char *const *) b, NULL, 10);
        return x < y ? -1 : x > y;
}

/* REDRIVE: the frames kept by redrive_keep() come back; the ones without
 * children enter their state again, Parallel and Map states wait for
 * their restored children and a Map starts its failed iterations again. */
static int handle_redrive(Ctx *c, AslError *err) {
        _cleanup_json_ json_t *keep = NULL;
        _cleanup_free_ const char **fids = NULL;
        json_t *def = c->m->definition, *f;
        json_t *to = jstr(c->exec, "machine") ? NULL : json_object_get(def, "TimeoutSeconds");
        json_int_t count = jint(c->exec, "redriveCount") + 1;
        const char *fid;
        size_t n = 0;
        int r;

        r = asl_exec_redrivable(c->exec, c->env, err);
        if (r < 0)
                return r;
        keep = json_incref(json_object_get(json_object_get(c->exec, "redrive"), "frames"));
        json_object_del(c->exec, "redrive");
        json_object_set_new(c->exec, "status", json_string("RUNNING"));
        json_object_del(c->exec, "output");
        json_object_del(c->exec, "error");
        json_object_del(c->exec, "cause");
        json_object_del(c->exec, "stopMs");
        json_object_set_new(c->exec, "redriveCount", json_integer(count));
        json_object_set_new(c->exec, "redriveMs", json_integer(c->env->now_ms));
        history(c, "ExecutionRedriven", json_pack("{s:I}", "redriveCount", count));

        fids = xmalloc(sizeof *fids * (json_object_size(keep) + 1));
        json_object_foreach (keep, fid, f) {
                json_object_set(frames(c), fid, f);
                fids[n++] = fid;
        }
        qsort(fids, n, sizeof *fids, fid_compare);

        /* Parents wait for the children that came back: "live" and a
         * Map's counts are rebuilt. */
        for (size_t i = 0; i < n; i++) {
                json_t *ch = json_object_get(frame_get(c, fids[i]), "children");

                if (!ch)
                        continue;
                json_object_set_new(ch, "live", json_object());
                if (jeq(ch, "kind", "map")) {
                        _cleanup_json_ json_t *failed = json_incref(json_object_get(ch, "failedFrames"));
                        json_t *redo = json_object(), *cf;
                        const char *cid;

                        /* Iterations that failed before the last event start
                         * again as MaxConcurrency allows (map_fill()). */
                        _cleanup_json_ json_t *waiting = json_incref(json_object_get(ch, "redoFrames"));

                        json_object_del(ch, "failedFrames");
                        json_object_foreach (failed, cid, cf)
                                if (!json_object_get(keep, cid))
                                        json_object_set(redo, cid, cf);
                        /* ... and those a redrive before had not started yet */
                        json_object_foreach (waiting, cid, cf)
                                if (!json_object_get(keep, cid))
                                        json_object_set(redo, cid, cf);
                        json_object_set_new(ch, "redoFrames", redo);
                        if (children_ext(ch)) {
                                /* child executions that failed or were stopped are
                                 * redriven (map_redo_start()) */
                                json_t *execs = json_object();

                                json_object_update(execs, json_object_get(ch, "redoExecs"));
                                json_object_update(execs, json_object_get(ch, "failedExecs"));
                                json_object_update(execs, json_object_get(ch, "execs"));
                                json_object_del(ch, "failedExecs");
                                json_object_set_new(ch, "execs", json_object());
                                json_object_set_new(ch, "redoExecs", execs);
                        }
                        json_object_set_new(ch, "running", json_integer(0));
                        json_object_set_new(ch, "failed", json_integer(0));
                        json_object_set_new(ch, "childFailed", json_integer(0));
                        json_object_del(ch, "exportedOnFailure");
                        if (children_dist(ch)) {
                                /* The Map Run is redriven with the execution. */
                                json_int_t runs = jint(ch, "redriveCount") + 1;

                                json_t *set = map_run_counts(ch);

                                json_object_set_new(ch, "redriveCount", json_integer(runs));
                                history(c, "MapRunRedriven",
                                        json_pack("{s:s, s:I}", "mapRunArn", jstr(ch, "mapRunArn") ?: "",
                                                  "redriveCount", runs));
                                json_object_update_new(
                                        set, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "status", "RUNNING",
                                                       "stopDate", (json_int_t) 0, "redriveCount", runs,
                                                       "redriveDate", (json_int_t) c->env->now_ms, "aborted",
                                                       (json_int_t) 0, "childAborted", (json_int_t) 0));
                                map_run_effect(c, ch, set, NULL, false);
                                map_run_touch(c, fids[i], ch);
                        }
                }
        }
        for (size_t i = 0; i < n; i++) {
                json_t *frame = frame_get(c, fids[i]), *parent = frame_get(c, jstr(frame, "parent"));
                json_t *ch = json_object_get(parent, "children");

                if (!jstr(frame, "parent"))
                        continue;
                if (!ch) {
                        /* Its parent did not come back: nothing waits for it. */
                        json_object_del(frames(c), fids[i]);
                        continue;
                }
                json_object_set_new(json_object_get(ch, "live"), fids[i], json_integer(jint(frame, "index")));
                if (jeq(ch, "kind", "map"))
                        json_object_set_new(ch, "running", json_integer(jint(ch, "running") + 1));
        }
        if (json_is_integer(to) && json_integer_value(to) > 0)
                free(timer_schedule(c, "0", "execution_timeout",
                                    c->env->now_ms + json_integer_value(to) * 1000, NULL));
        for (size_t i = 0; i < n; i++) {
                json_t *frame = frame_get(c, fids[i]), *ch = json_object_get(frame, "children");

                if (!frame)
                        continue;
                if (ch && jeq(ch, "kind", "parallel") && json_object_size(json_object_get(ch, "live")) == 0) {
                        /* No branch of it came back: the Parallel runs again whole. */
                        json_object_del(frame, "children");
                        ch = NULL;
                }
                if (!ch) {
                        push(c, ACTION_ENTER, fids[i], jstr(frame, "state"),
                             json_incref(json_object_get(frame, "input")), NULL, NULL);
                        continue;
                }
                if (jeq(ch, "kind", "map")) {
                        map_fill(c, fids[i]);
                        map_maybe_complete(c, fids[i]);
                }
        }
        return 0;
}

/*
 * An event from the worker that runs a task (ev->started: its result,
 * failure or heartbeat): the task's TaskStarted (LambdaFunctionStarted) is
 * recorded once, before anything else of it, with the worker's name
 * (workerName, as Step Functions' ActivityStarted names its worker) and
 * the time the worker started it, between the task's scheduling and now.
 */
static void task_note_started(Ctx *c, json_t *t, const AslEvent *ev) {
        const char *resource = jstr(t, "resource");
        int64_t at = c->env->now_ms;
        json_t *details;

        if (!ev->started || json_is_true(json_object_get(t, "started")))
                return;
        json_object_set_new(t, "started", json_true());
        if (ev->started_ms > 0 && ev->started_ms < at)
                at = MAX_(ev->started_ms, (int64_t) jint(t, "scheduledMs"));
        details = task_event_details(resource);
        if (ev->worker)
                json_object_set_new(details, "workerName", json_string(ev->worker));
        if (json_object_size(details) == 0) /* LambdaFunctionStarted has no details in Step Functions */
                details = (json_decref(details), NULL);
        history_at(c, task_event_type(resource, TASK_STARTED), details, at);
}

/*
 * The worker's own messages about a .waitForTaskToken task, which only its
 * token closes: its first one records TaskStarted, and its result records
 * TaskSubmitted (the invocation's output, as Step Functions records the
 * service's answer before it waits for the token), once each. Returns
 * whether anything was recorded.
 */
static bool task_note_submitted(Ctx *c, json_t *t, const AslEvent *ev) {
        const char *resource = jstr(t, "resource");
        bool was_started = json_is_true(json_object_get(t, "started"));
        json_t *details, *result;
        size_t max;

        c->quiet = frame_is_child_execution(c, jstr(t, "frame"));
        task_note_started(c, t, ev);
        if (ev->type == ASL_EVENT_TASK_SUCCEEDED && ev->started && !json_is_true(json_object_get(t, "submitted"))) {
                json_object_set_new(t, "submitted", json_true());
                details = task_event_details(resource);
                result = ev->output ? ev->output : json_null();
                max = c->env->max_payload_bytes ? c->env->max_payload_bytes : ASL_MAX_PAYLOAD_BYTES_DEFAULT;
                if (json_writer_size(result) <= max)
                        json_object_set_new(details, "output", json_text_new(result));
                json_object_set_new(details, "outputDetails",
                                    json_pack("{s:b}", "truncated", json_writer_size(result) > max));
                history(c, "TaskSubmitted", details);
                return true;
        }
        return !was_started && json_is_true(json_object_get(t, "started"));
}

static json_t *task_lookup(Ctx *c, const AslEvent *ev, AslError *err, int *ret) {
        json_t *t;

        if (!ev->task_id) {
                *ret = asl_error_set(err, "States.Runtime", "event without task_id");
                return NULL;
        }
        t = json_object_get(json_object_get(c->exec, "tasks"), ev->task_id);
        if (!t) {
                *ret = 1;
                return NULL;
        }
        if (ev->token && (!jstr(t, "token") || !streq(jstr(t, "token"), ev->token))) {
                *ret = asl_error_set(err, "States.Runtime", "task token does not match task %s", ev->task_id);
                return NULL;
        }
        /* A .waitForTaskToken task is closed by its token only: as in Step
         * Functions, the invoked function's own result (or a message naming the
         * task id, which the worker holds) does not complete it, nor does
         * a heartbeat without the token. A failure of the invocation itself
         * still fails the task. (An activity's task has a token too, but
         * when [resources] maps its ARN to a pool, that pool's worker
         * answers by task id; apply.c refuses results by task id for the
         * tasks that wait in an activity's queue.) */
        if (jstr(t, "token") && !ev->token && ev->type != ASL_EVENT_TASK_FAILED &&
            resource_waits_for_token(jstr(t, "resource"))) {
                *ret = task_note_submitted(c, t, ev) ? 0 : 1;
                return NULL;
        }
        *ret = 0;
        return t;
}

/* A page of a distributed Map's ItemReader (map_reader_request()). */
static int handle_reader_result(Ctx *c, const AslEvent *ev, const char *fid) {
        json_t *frame, *children;

        task_close(c, ev->task_id, /* notify= */ false);
        frame = frame_get(c, fid);
        children = json_object_get(frame, "children");
        if (!children)
                return 1;
        if (ev->type == ASL_EVENT_TASK_FAILED) {
                _cleanup_free_ char *why =
                        xasprintf("Reading the %s failed: %s%s%s",
                                  jstr(json_object_get(children, "reader"), "key") ? "ItemReader's object"
                                                                                   : "bucket listing",
                                  ev->error && *ev->error ? ev->error : "States.TaskFailed",
                                  ev->cause ? ": " : "", ev->cause ? ev->cause : "");
                _cleanup_free_ char *cause = state_cause(c, fid, "States.ItemReaderFailed", why);

                json_object_del(children, "readerTask");
                map_fail(c, fid, frame, "States.ItemReaderFailed", cause);
                return 0;
        }
        map_run_touch(c, fid, children);
        map_reader_page(c, fid, frame, children, ev->output);
        map_fill(c, fid);
        map_maybe_complete(c, fid);
        return 0;
}

static int handle_task_result(Ctx *c, const AslEvent *ev, AslError *err) {
        _cleanup_free_ char *fid = NULL, *resource = NULL;
        json_t *t, *frame, *st, *details;
        int r;

        t = task_lookup(c, ev, err, &r);
        if (!t)
                return r;
        fid = xstrdup(jstr(t, "frame"));
        if (json_is_true(json_object_get(t, "reader")))
                return handle_reader_result(c, ev, fid);
        if (json_is_true(json_object_get(t, "flush")))
                return handle_flush_result(c, ev, fid);
        if (json_is_true(json_object_get(t, "writer")))
                return handle_writer_result(c, ev, fid);
        c->quiet = frame_is_child_execution(c, fid);
        resource = xstrdup(jstr(t, "resource") ?: "");
        task_note_started(c, t, ev);
        details = task_event_details(resource);
        task_close(c, ev->task_id, /* notify= */ false);
        frame = frame_get(c, fid);
        st = frame_state(c, frame);

        if (ev->type == ASL_EVENT_TASK_FAILED) {
                const char *error = ev->error && *ev->error ? ev->error : "States.TaskFailed";

                json_object_set_new(details, "error", json_string(error));
                if (ev->cause)
                        json_object_set_new(details, "cause", json_string(ev->cause));
                history(c, task_event_type(resource, TASK_FAILED), details);
                push_task_error(c, fid, error, ev->cause);
                return 0;
        }

        json_t *result = ev->output ? ev->output : json_null();
        size_t max = c->env->max_payload_bytes ? c->env->max_payload_bytes : ASL_MAX_PAYLOAD_BYTES_DEFAULT;
        AslError e = {};

        if (json_writer_size(result) > max) {
                /* A failure of the task, as Step Functions reports it: a
                 * TaskFailed that Retry and Catch (States.ALL too) handle. */
                const char *prefix = "arn:aws:states:::";
                _cleanup_free_ char *what = strncmp(resource, prefix, strlen(prefix)) == 0
                                                    ? xstrdup(jstr(details, "resourceType") ?: resource)
                                                    : xstrdup(resource);
                _cleanup_free_ char *cause =
                        xasprintf("The state/task '%s' returned a result with a size exceeding "
                                  "the maximum number of bytes service limit.",
                                  what);

                json_object_set_new(details, "error", json_string("States.DataLimitExceeded"));
                json_object_set_new(details, "cause", json_string(cause));
                history(c, task_event_type(resource, TASK_FAILED), details);
                push_task_error(c, fid, "States.DataLimitExceeded", cause);
                return 0;
        }
        if (!c->env->no_history)
                json_object_set_new(details, "output", json_text_new(result));
        if (resource_is_lambda_function(resource))
                json_object_set_new(details, "outputDetails", json_pack("{s:b}", "truncated", 0));
        history(c, task_event_type(resource, TASK_SUCCEEDED), details);
        if (payload_check_limits(result, c->env, "The task result", &e) < 0) {
                push_error(c, fid, &e);
                asl_error_clear(&e);
                return 0;
        }
        state_result(c, fid, frame, st, result);
        return 0;
}

static int handle_heartbeat(Ctx *c, const AslEvent *ev, AslError *err) {
        json_t *t, *timer;
        const char *tid;
        int r;

        t = task_lookup(c, ev, err, &r);
        if (!t)
                return r;
        c->quiet = frame_is_child_execution(c, jstr(t, "frame"));
        task_note_started(c, t, ev);
        tid = jstr(t, "heartbeatTimer");
        timer = json_object_get(json_object_get(c->exec, "timers"), tid ? tid : "");
        if (!timer)
                return 0;
        int64_t due = c->env->now_ms + jint(t, "heartbeatMs");
        json_object_set_new(timer, "due_ms", json_integer(due));
        fx_schedule_timer(c, tid, due, "heartbeat");
        return 0;
}

static int handle_timer(Ctx *c, const AslEvent *ev, AslError *err) {
        json_t *timers = json_object_get(c->exec, "timers"), *t, *frame;
        _cleanup_free_ char *fid = NULL, *kind = NULL, *task = NULL;

        if (!ev->timer_id)
                return asl_error_set(err, "States.Runtime", "timer event without timer_id");
        t = json_object_get(timers, ev->timer_id);
        if (!t)
                return 1;
        if (!jstr(t, "frame") || !jstr(t, "kind"))
                return -EBADMSG;
        /* A heartbeat moves its timer forward under the same id. If the timer
         * was claimed as due just before that heartbeat was applied, its firing
         * arrives early: keep the timer (schedule it again, the upsert is
         * idempotent) rather than timing out a task that is alive. */
        if (streq(jstr(t, "kind"), "heartbeat") && jint(t, "due_ms") > c->env->now_ms) {
                fx_schedule_timer(c, ev->timer_id, jint(t, "due_ms"), "heartbeat");
                return 0;
        }
        fid = xstrdup(jstr(t, "frame"));
        kind = xstrdup(jstr(t, "kind"));
        task = jstr(t, "task") ? xstrdup(jstr(t, "task")) : NULL;
        json_object_del(timers, ev->timer_id);
        frame = frame_get(c, fid);

        if (streq(kind, "execution_timeout")) {
                finish(c, "TIMED_OUT", NULL, "States.Timeout", "The execution timed out");
                return 0;
        }
        if (!frame)
                return 0;
        c->quiet = frame_is_child_execution(c, fid);

        if (streq(kind, "wait") || streq(kind, "retry")) {
                json_object_del(frame, "timer");
                if (streq(kind, "wait"))
                        wait_done(c, fid, frame, frame_state(c, frame));
                else
                        run_state(c, fid);
                return 0;
        }
        if (streq(kind, "timeout") || streq(kind, "heartbeat")) {
                json_t *tt = json_object_get(json_object_get(c->exec, "tasks"), task ? task : "");
                const char *error = streq(kind, "timeout") ? "States.Timeout" : "States.HeartbeatTimeout";
                const char *cause = streq(kind, "timeout") ? "The task did not finish within TimeoutSeconds"
                                                           : "The task did not send a heartbeat within HeartbeatSeconds";
                json_t *details = task_event_details(jstr(tt, "resource"));
                const char *type = task_event_type(jstr(tt, "resource"), TASK_TIMED_OUT);

                json_object_set_new(details, "error", json_string(error));
                json_object_set_new(details, "cause", json_string(cause));
                task_close(c, task, /* notify= */ true);
                history(c, type, details);
                push(c, ACTION_ERROR, fid, NULL, NULL, error, cause);
                return 0;
        }
        return 0;
}

/*
 * UpdateMapRun: a running distributed Map takes its new MaxConcurrency
 * (0: as many as distributed mode allows) and tolerated failures at once.
 * More room starts more children now; a threshold that the failures so far
 * exceed fails the run now, as the next failure would. The record gets
 * the new settings. An unknown or finished run: -ENOENT, err
 * ResourceNotFound.
 */
static int handle_update_map_run(Ctx *c, const AslEvent *ev, AslError *err) {
        json_t *frame, *children = NULL, *set;
        const char *fid = NULL;

        if (!ev->map_run_arn)
                return asl_error_set(err, "States.Runtime", "UpdateMapRun without a mapRunArn");
        json_object_foreach (frames(c), fid, frame) {
                json_t *ch = json_object_get(frame, "children");

                if (children_dist(ch) && jeq(ch, "mapRunArn", ev->map_run_arn)) {
                        children = ch;
                        break;
                }
        }
        if (!children) {
                asl_error_set(err, "ResourceNotFound", "Map Run is not running: %s", ev->map_run_arn);
                return -ENOENT;
        }
        _cleanup_free_ char *id = xstrdup(fid);

        map_run_touch(c, id, children);
        set = json_object();
        if (ev->set_max_concurrency) {
                json_int_t mc = ev->max_concurrency > 0 ? (json_int_t) ev->max_concurrency
                                                        : ASL_MAP_DISTRIBUTED_CONCURRENCY;

                json_object_set_new(children, "max", json_integer(mc));
                json_object_set_new(set, "maxConcurrency", json_integer(ev->max_concurrency));
        }
        if (ev->set_tolerated_count) {
                json_object_set_new(children, "tolCount", json_integer(ev->tolerated_count));
                json_object_set_new(set, "toleratedFailureCount", json_integer(ev->tolerated_count));
        }
        if (ev->set_tolerated_percentage) {
                json_object_set_new(children, "tolPct", json_real(ev->tolerated_percentage));
                json_object_set_new(set, "toleratedFailurePercentage", json_real(ev->tolerated_percentage));
        }
        map_run_effect(c, children, set, NULL, false);
        {
                json_int_t failed = jint(children, "failed"), total = jint(children, "total");
                json_t *tc = json_object_get(children, "tolCount"),
                       *tp = json_object_get(children, "tolPct");

                if ((ev->set_tolerated_count || ev->set_tolerated_percentage) &&
                    ((tc && failed > json_integer_value(tc)) ||
                     (tp && !json_is_true(json_object_get(children, "more")) &&
                      (double) failed * 100.0 > json_number_value(tp) * (double) total))) {
                        map_fail(c, id, frame, "States.ExceedToleratedFailureThreshold",
                                 "The specified tolerated failure threshold was exceeded");
                        return 0;
                }
        }
        map_run_touch(c, id, children);
        map_fill(c, id);
        map_maybe_complete(c, id);
        return 0;
}

/*
 * A child execution ended (CHILD_ENDED): the Map that counts it as running
 * takes its output, or its failure (a child that timed out or was stopped
 * fails with States.Timeout or States.Aborted when it names no error).
 * Returns 1 (stale) for a child that no Map counts as running.
 */
static int handle_child_ended(Ctx *c, const AslEvent *ev, AslError *err) {
        const char *fid;
        json_t *frame;

        if (!ev->child || !ev->status)
                return asl_error_set(err, "States.Runtime", "CHILD_ENDED without a child or a status");
        json_object_foreach (frames(c), fid, frame) {
                json_t *children = json_object_get(frame, "children");
                _cleanup_json_ json_t *entry =
                        json_incref(json_object_get(json_object_get(children, "execs"), ev->child));
                _cleanup_free_ char *id = NULL;
                json_int_t idx, batch;

                if (!entry || !children_ext(children))
                        continue;
                if (ev->child_redrives != jint(entry, "redrives"))
                        return 1; /* the end of the attempt before a redrive */
                id = xstrdup(fid);
                json_object_del(json_object_get(children, "execs"), ev->child);
                idx = jint(entry, "index");
                batch = jint(entry, "batchItems");
                if (streq(ev->status, "SUCCEEDED")) {
                        json_t *output = ev->output ? ev->output : json_null();

                        json_t *result = json_incref(output);

                        if (json_object_get(children, "writer")) {
                                json_decref(result);
                                result = map_writer_entry(c, entry, idx, output, NULL, NULL);
                                map_child_record(children, ev->child, entry, result);
                        }
                        map_results_set(children, idx, result);
                        map_writer_collect(c, id, frame, children, idx);
                        map_iteration_done(c, id, frame, children, idx, batch, output);
                } else {
                        const char *error = ev->error                        ? ev->error
                                            : streq(ev->status, "TIMED_OUT") ? "States.Timeout"
                                            : streq(ev->status, "ABORTED")   ? "States.Aborted"
                                                                             : "States.TaskFailed";
                        json_t *result = json_object_get(children, "writer")
                                                 ? map_writer_entry(c, entry, idx, NULL, error, ev->cause)
                                                 : retry_error_output(error, ev->cause);

                        if (json_object_get(children, "writer"))
                                map_child_record(children, ev->child, entry, result);

                        map_run_effect(c, children, NULL,
                                       map_run_failure(c, entry, idx, batch, error, ev->cause), false);
                        /* Within the tolerance the Map goes on: a redrive runs it
                         * again (starts it, if it never existed). */
                        if (ev->child_unstarted)
                                json_object_set_new(entry, "unstarted", json_true());
                        if (!json_object_get(children, "failedExecs"))
                                json_object_set_new(children, "failedExecs", json_object());
                        json_object_set(json_object_get(children, "failedExecs"), ev->child, entry);
                        map_iteration_failed(c, id, frame, children, idx, batch, result, error, ev->cause);
                }
                return 0;
        }
        return 1;
}

json_t *asl_exec_map_child(json_t *exec) {
        return json_object_get(exec, "mapChild");
}

int asl_exec_handle(const AslMachine *m, json_t *exec, const AslEvent *ev,
                    const AslEnv *env, AslEffects *fx, AslError *err) {
        Ctx c = { .m = m, .exec = exec, .env = env, .fx = fx };
        const char *status;
        int r = 0;

        if (!m || !exec || !ev || !env || !fx)
                return -EINVAL;
        if (!json_is_object(exec) || jint(exec, "v") != 1 || !json_is_object(json_object_get(exec, "frames")) ||
            !json_is_object(json_object_get(exec, "tasks")) || !json_is_object(json_object_get(exec, "timers")))
                return -EBADMSG;
        status = jstr(exec, "status");
        if (ev->type == ASL_EVENT_REDRIVE) {
                r = handle_redrive(&c, err);
                if (r == 0)
                        run_queue(&c);
                goto out;
        }
        if (!status || !streq(status, "RUNNING"))
                return asl_error_set(err, "States.Runtime", "the execution has already finished (%s)",
                                     status ? status : "?");
        if (ev->type != ASL_EVENT_START && !json_is_true(json_object_get(exec, "started")))
                return asl_error_set(err, "States.Runtime", "the execution has not been started");

        switch (ev->type) {
        case ASL_EVENT_START:
                if (json_is_true(json_object_get(exec, "started")))
                        return asl_error_set(err, "States.Runtime", "the execution has already been started");
                r = handle_start(&c);
                break;
        case ASL_EVENT_TASK_SUCCEEDED:
        case ASL_EVENT_TASK_FAILED:
                r = handle_task_result(&c, ev, err);
                break;
        case ASL_EVENT_TASK_HEARTBEAT:
                r = handle_heartbeat(&c, ev, err);
                break;
        case ASL_EVENT_TIMER_FIRED:
                r = handle_timer(&c, ev, err);
                break;
        case ASL_EVENT_STOP:
                finish(&c, "ABORTED", NULL, ev->error, ev->cause);
                break;
        case ASL_EVENT_UPDATE_MAP_RUN:
                r = handle_update_map_run(&c, ev, err);
                break;
        case ASL_EVENT_CHILD_ENDED:
                r = handle_child_ended(&c, ev, err);
                break;
        default:
                return asl_error_set(err, "States.Runtime", "unknown event type %d", (int) ev->type);
        }
        if (r == 0)
                run_queue(&c);
out:
        if (r == 0)
                map_run_flush(&c);
        json_decref(c.map_dirty);
        free(c.abort_cause);
        json_decref(c.dropped);
        json_decref(c.dropped_children);
        return r;
}
