/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The transition function.
 *
 * An execution is a JSON document (owned by the caller, stored by the
 * coordinator in Redis, kept in memory by `imgflow run`). Given the machine,
 * that document, one event and an environment (time, randomness, limits),
 * asl_exec_handle() changes the document and appends effects for the caller
 * to carry out. There is no I/O in here.
 *
 *   events:  START, TASK_SUCCEEDED, TASK_FAILED, TASK_HEARTBEAT, TIMER_FIRED, STOP,
 *            UPDATE_MAP_RUN (a running Map Run's MaxConcurrency and tolerance),
 *            REDRIVE (a FAILED, TIMED_OUT or ABORTED execution continues from
 *            the states that did not succeed: see asl_exec_redrivable()),
 *            CHILD_ENDED (a distributed Map's child execution ended)
 *   effects: DISPATCH_TASK, CANCEL_TASK, SCHEDULE_TIMER (upsert by id),
 *            CANCEL_TIMER, HISTORY (one Step Functions history event), FINISHED,
 *            MAP_RUN (a distributed Map's Map Run record changed),
 *            START_CHILD, STOP_CHILD (a distributed Map's child executions)
 *
 * Child executions. With AslEnv.map_child_executions, a distributed Map
 * whose ExecutionType is STANDARD runs each child (an item or a batch) as
 * an execution of its own: START_CHILD names it (a name derived from the
 * Map Run id and the child's index, so the same slot always gets the
 * same name), the parent keeps only its running
 * children ({name: {index, input, start}}) and the counts, and CHILD_ENDED
 * brings its end back once (an end for a child the parent no longer counts
 * as running is stale). A child's document is made by asl_exec_new() with
 * AslExecInfo.machine (the ItemProcessor's JSON pointer) and .map_child.
 * The parent failing, stopping or timing out stops its running children
 * (STOP_CHILD); a redrive of the parent redrives the failed and stopped
 * ones (START_CHILD with `redrive`), as Step Functions redrives a Map
 * Run's STANDARD children, and their ends count only with that redrive
 * count.
 *
 * Every task attempt gets a unique task id; a result for a task id that is
 * no longer pending (timed out, cancelled, already applied) is stale:
 * asl_exec_handle() returns 1 and changes nothing. Same for timers.
 *
 * Effects are structs (AslEffect below), one member of the union per type;
 * their strings and JSON values are owned by the effect and freed by
 * asl_effects_clear(). A caller may take one over (TAKE_PTR) and leave
 * NULL behind. History events are text: the compact JSON of {"id",
 * "previousEventId", "timestamp", "type", "<type>EventDetails"?} with the
 * keys in that order, which the store keeps as it is. Details are named as
 * GetExecutionHistory names them: every <Type>StateEntered/Exited uses
 * "stateEnteredEventDetails" / "stateExitedEventDetails" {"name",
 * "input"/"output" (JSON text)}; the others lower-case the type
 * ("taskFailedEventDetails").
 */

#include "asl-definition.h"

typedef enum AslEventType {
        ASL_EVENT_START,
        ASL_EVENT_TASK_SUCCEEDED,
        ASL_EVENT_TASK_FAILED,
        ASL_EVENT_TASK_HEARTBEAT,
        ASL_EVENT_TIMER_FIRED,
        ASL_EVENT_STOP,
        ASL_EVENT_REDRIVE,
        ASL_EVENT_UPDATE_MAP_RUN,
        ASL_EVENT_CHILD_ENDED,
        _ASL_EVENT_MAX,
} AslEventType;

typedef struct AslEvent {
        AslEventType type;
        const char *task_id;    /* TASK_*: the task id of DISPATCH_TASK */
        const char *token;      /* TASK_*: optional; if set must equal the task's token */
        json_t *output;         /* TASK_SUCCEEDED: borrowed */
        const char *error;      /* TASK_FAILED, STOP (optional) */
        const char *cause;      /* TASK_FAILED, STOP (optional) */
        const char *timer_id;   /* TIMER_FIRED */
        bool started;           /* TASK_*: sent by the worker that runs the task: its
                                 * TaskStarted is recorded first, once */
        const char *worker;     /* started: the worker's name, or NULL */
        int64_t started_ms;     /* started: when the worker started it (epoch ms), 0 = now */
        /* UPDATE_MAP_RUN (UpdateMapRun): the run, and what changes (each
         * only when its set_ flag is true) */
        const char *map_run_arn;
        bool set_max_concurrency, set_tolerated_count, set_tolerated_percentage;
        int64_t max_concurrency;     /* 0 = as many as distributed mode allows */
        int64_t tolerated_count;     /* >= 0 */
        double tolerated_percentage; /* 0..100 */
        /* CHILD_ENDED: the child execution's name (START_CHILD's), its
         * status (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), and output (on
         * success) or error and cause */
        const char *child;
        const char *status;
        int64_t child_redrives; /* the child's redriveCount when it ended */
        bool child_unstarted;   /* FAILED before it existed (its start could not be sent):
                                 * a redrive starts it again instead of redriving it */
} AslEvent;

typedef enum AslEffectType {
        ASL_EFFECT_DISPATCH_TASK,
        ASL_EFFECT_CANCEL_TASK,
        ASL_EFFECT_SCHEDULE_TIMER,
        ASL_EFFECT_CANCEL_TIMER,
        ASL_EFFECT_HISTORY,
        ASL_EFFECT_FINISHED,
        ASL_EFFECT_MAP_RUN,
        ASL_EFFECT_START_CHILD,
        ASL_EFFECT_STOP_CHILD,
        _ASL_EFFECT_MAX,
} AslEffectType;

/* DISPATCH_TASK: run a task attempt. */
typedef struct AslDispatch {
        char *task_id;             /* unique per attempt: results name it */
        char *state;               /* the Task state */
        char *resource;            /* its Resource ("" when none) */
        json_t *input;             /* the effective parameters */
        int64_t attempt;           /* retries so far */
        int64_t timeout_seconds;   /* 0 = none */
        int64_t deadline_ms;       /* when the timeout fires; 0 = none */
        int64_t heartbeat_seconds; /* 0 = none */
        char *token;               /* .waitForTaskToken resources and activities, else NULL */
        char *index_path;          /* the Parallel branch and Map iteration indices from
                                    * the top level down, joined by '.': "2", "1.0";
                                    * NULL at the top level */
} AslDispatch;

/* CANCEL_TASK: a task attempt that is no longer wanted. */
typedef struct AslCancelTask {
        char *task_id;
        char *token; /* its task token, or NULL */
} AslCancelTask;

/* SCHEDULE_TIMER (an upsert by id), CANCEL_TIMER (timer_id only). */
typedef struct AslTimer {
        char *timer_id;
        int64_t due_ms;
        const char *kind; /* "wait", "retry", "timeout", "heartbeat", "execution_timeout"
                           * (a constant string) */
} AslTimer;

/* HISTORY: one history event's text (see above). */
typedef struct AslHistory {
        char *text; /* NUL-terminated, valid UTF-8 */
        size_t len;
} AslHistory;

/* FINISHED: the execution ended. */
typedef struct AslFinished {
        const char *status; /* "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED" (a constant string) */
        json_t *output;     /* SUCCEEDED: the output; else NULL */
        char *error;        /* otherwise: may be NULL */
        char *cause;        /* may be NULL */
} AslFinished;

/*
 * MAP_RUN: a distributed Map's Map Run record changed. `set` holds the
 * record's fields that this call changed, each a string or an integer:
 * on creation "mapRunArn", "executionArn", "stateName", "startDate" (epoch
 * ms), "maxConcurrency", "toleratedFailurePercentage",
 * "toleratedFailureCount", "redriveCount"; "status" (RUNNING, SUCCEEDED,
 * FAILED, ABORTED) and "stopDate" when it changes; and the raw counters
 * every time: items "total" (read so far), "next" (started), "done",
 * "failed", "aborted", "resultsWritten", "pendingRedrive"; child
 * executions "children", "childRunning", "childDone", "childFailed",
 * "childAborted", "childResultsWritten", "childPendingRedrive". The
 * record's AWS counts (DescribeMapRun) derive from these. `failure`: a
 * failed child's record {"index", "items", "error", "cause" (at most
 * ASL_MAP_RUN_CAUSE_MAX bytes), "date", "input"?} to append, or NULL.
 */
#define ASL_MAP_RUN_CAUSE_MAX 2048
typedef struct AslMapRun {
        char *run_id;    /* the last part of the ARN, a UUID */
        bool created;    /* the run started with this call */
        json_t *set;     /* owned */
        json_t *failure; /* owned, or NULL */
} AslMapRun;

/* START_CHILD: start a distributed Map's child execution (idempotent by
 * name); STOP_CHILD (name only): stop one that runs. */
typedef struct AslChild {
        char *name;        /* the child execution's name */
        char *machine;     /* the ItemProcessor's JSON pointer in the definition */
        char *map_run_arn; /* the Map Run it belongs to */
        json_t *input;     /* its input */
        int64_t index;     /* the child's index in the run */
        int64_t items;     /* START_CHILD: the items it processes (1, or its batch's) */
        int64_t redrive;   /* START_CHILD: 0 = start it; n > 0: its n-th redrive (RedriveExecution
                            * of the child, which ended unsuccessfully or was stopped) */
} AslChild;

typedef struct AslEffect {
        AslEffectType type;
        union {
                AslDispatch dispatch;      /* DISPATCH_TASK */
                AslCancelTask cancel_task; /* CANCEL_TASK */
                AslTimer timer;            /* SCHEDULE_TIMER, CANCEL_TIMER */
                AslHistory history;        /* HISTORY */
                AslFinished finished;      /* FINISHED */
                AslMapRun map_run;         /* MAP_RUN */
                AslChild child;            /* START_CHILD, STOP_CHILD */
        };
} AslEffect;

typedef struct AslEffects {
        AslEffect *items;
        size_t n;
        size_t allocated;
} AslEffects;

/* Frees every effect's members and the array. */
void asl_effects_clear(AslEffects *fx);
/* Frees a dispatch's members (for a caller that took one over); d is
 * zeroed. */
void asl_dispatch_done(AslDispatch *d);
const char *asl_effect_type_to_string(AslEffectType t);

typedef struct AslExecInfo {
        const char *execution_id;       /* e.g. arn-like "imgflow:execution:<machine>:<name>" */
        const char *execution_name;
        const char *state_machine_id;
        const char *state_machine_name;
        const char *role_arn; /* $$.Execution.RoleArn; NULL = "imgflow:role:<state_machine_name>" */
        json_t *input;                  /* borrowed; NULL = {} */
        /* A distributed Map's child execution: the sub-machine it runs (a
         * JSON pointer, NULL = the whole definition) and
         * {"parent": execution id, "mapRunArn", "index"} (borrowed, kept in
         * the document: asl_exec_map_child()) */
        const char *machine;
        json_t *map_child;
} AslExecInfo;

/*
 * Create the document of a new execution (status RUNNING, nothing entered
 * yet). Then call asl_exec_handle() with ASL_EVENT_START. Returns 0 and
 * *ret_exec (new reference), or -EINVAL with err set when the input is
 * over the payload limit or too deep (States.Runtime).
 */
int asl_exec_new(const AslMachine *m, const AslExecInfo *info, const AslEnv *env,
                 json_t **ret_exec, AslError *err);

/*
 * Apply one event. Returns 0 when applied, 1 when stale (document
 * unchanged, no effects), -EINVAL when the event is malformed or the
 * execution already finished (err says why), -EBADMSG when the document is
 * not an execution document.
 */
int asl_exec_handle(const AslMachine *m, json_t *exec, const AslEvent *ev,
                    const AslEnv *env, AslEffects *fx, AslError *err);

/* "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED". Borrowed. */
const char *asl_exec_status(json_t *exec);

/*
 * Whether REDRIVE may apply to the document now: 0, or -EINVAL with err
 * set to ("ExecutionNotRedrivable", Step Functions' reason: "Execution is
 * SUCCEEDED and cannot be redriven", ...): its status, the redrive window
 * (ASL_REDRIVE_WINDOW_MS after it stopped, by env's clock), the history
 * limit of env, and that it kept states to continue from. env may be NULL
 * (no window, the default limit).
 */
#define ASL_REDRIVE_WINDOW_MS (14LL * 24 * 3600 * 1000)
int asl_exec_redrivable(json_t *exec, const AslEnv *env, AslError *err);

/* A child execution's {"parent", "mapRunArn", "index"} (borrowed), or NULL. */
json_t *asl_exec_map_child(json_t *exec);

/* Times the execution was redriven (0 when never). */
int64_t asl_exec_redrive_count(json_t *exec);

/* Map progress summed over all running Map states (for `start-execution --wait`). */
void asl_exec_map_progress(json_t *exec, size_t *ret_done, size_t *ret_total);
