/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The apply step: one event on one execution -> one StoreCommit.
 *
 * It runs the engine (asl_exec_handle) and turns its effects into the
 * operations of the exec_commit script: DISPATCH_TASK -> a Task message in
 * the outbox (topic from the resource mapping; a task token registered), or
 * for an activity's Task in the activity's queue (store-activities.c),
 * CANCEL_TASK -> the outbox item dropped and the task closed,
 * SCHEDULE/CANCEL_TIMER -> imgflow:timers, HISTORY -> the history list,
 * FINISHED -> status, output/error/cause, retention, and an
 * ExecutionStatusChanged notification (also one for RUNNING at start).
 *
 * A task whose Resource has no mapping fails at once with States.TaskFailed
 * (a synthetic TASK_FAILED fed back into the engine within the same commit),
 * so Retry/Catch of the definition apply to it.
 *
 * No I/O: the caller loads the document, runs the commit (sync or async)
 * and produces the outbox after the commit succeeded. Used by the daemon
 * and by the tests.
 */

#include "asl-engine.h"
#include "proto.h"
#include "resources.h"
#include "store.h"

typedef struct ApplyConfig {
        const Resources *resources;     /* borrowed; NULL = only imgflow:* resources */
        const char *topic_prefix;       /* borrowed; NULL = "imgflow." */
        int64_t retention_sec;          /* 0 = STORE_RETENTION_SEC_DEFAULT */
        unsigned history_cap;           /* 0 = STORE_HISTORY_CAP_DEFAULT */
        const ProtoLimits *limits;      /* borrowed; NULL = defaults */
        const char *role_arn;           /* borrowed: $$.Execution.RoleArn; NULL = derived (AslExecInfo) */
        const char *reply_to;           /* borrowed: the Task messages' replyTo (EXPRESS); NULL = none */
        bool in_memory;                 /* EXPRESS: the commit is applied in memory, not stored: no
                                         * document text, no ExecutionStatusChanged, no task tokens */
        const char *run_id;             /* borrowed: an EXPRESS start's run id: $$.Execution.Id and
                                         * the answer's executionArn are "imgflow:express:<id>:<run id>" */
} ApplyConfig;

/*
 * StartExecution: a new document, START applied, the create commit
 * (expected version 0) with the RUNNING notification and, when request_id
 * is set, the StartExecutionResponse (proto_encode_response()). input borrowed
 * (NULL = {}). -EINVAL with err set when the input is rejected. With
 * ret_doc, also the new document (a new reference; it is what the commit
 * stores), for a caller that keeps the state after the commit.
 */
int apply_start(const ApplyConfig *cfg, const AslMachine *m, const char *state_machine,
                unsigned sm_version, const char *name, json_t *input, const char *request_id,
                const AslEnv *env, StoreCommit **ret, json_t **ret_doc, AslError *err);

/*
 * A distributed Map's child execution (asl-engine.h, "Child executions"):
 * apply_start() of the ItemProcessor at `item_processor`, the document and
 * the execution's hash naming its parent and Map Run, listed under the
 * run (store_commit_set_map_child()). The commit is idempotent as any
 * start of a name is.
 */
typedef struct ApplyChild {
        const char *parent;         /* the parent's execution id */
        const char *map_run_arn;    /* its Map Run */
        const char *item_processor; /* JSON pointer */
        int64_t index;
        int64_t item_count; /* the items it processes (0: not said, as 1) */
} ApplyChild;
int apply_start_child(const ApplyConfig *cfg, const AslMachine *m, const char *state_machine,
                      unsigned sm_version, const char *name, json_t *input, const ApplyChild *child,
                      const char *request_id, const AslEnv *env, StoreCommit **ret, json_t **ret_doc,
                      AslError *err);

/* A parent redrives its child with the clientToken "map-run-redrive-<n>"
 * (its n-th redrive of that child): n, or 0 for any other token. */
#define APPLY_CHILD_REDRIVE_TOKEN "map-run-redrive-"
int64_t apply_child_redrive_attempt(const char *client_token);

/*
 * RedriveExecution on a loaded execution that ended unsuccessfully
 * (st->doc is modified; client_token, when given, is kept with it for
 * apply_redrive_replay()): the commit reopens it (RUNNING again, kept from
 * expiring, stopDate, output, error and cause gone), sets redriveCount and
 * redriveDate, publishes RUNNING and stores the RedriveExecutionResponse.
 * -EINVAL with err set (ExecutionNotRedrivable and Step Functions' reason)
 * when the engine refuses; the caller answers that.
 */
int apply_redrive(const ApplyConfig *cfg, const AslMachine *m, StoreExecState *st, const char *exec_id,
                  const char *client_token, const char *request_id, const AslEnv *env, StoreCommit **ret,
                  AslError *err);

/*
 * Step Functions answers a RedriveExecution whose clientToken is one of the
 * last 10 of the execution's successful redrives, within 15 minutes of it,
 * as it answered then. apply_redrive() keeps the tokens in the document;
 * this says whether client_token (NULL: no) is one, and *ret_date the
 * redrive date to answer with.
 */
#define APPLY_REDRIVE_TOKENS_MAX 10
#define APPLY_REDRIVE_TOKEN_MS (15 * 60 * 1000)
bool apply_redrive_replay(json_t *doc, const char *client_token, int64_t now_ms, int64_t *ret_date);

/* Whether doc has the task open: a .waitForTaskToken task stays open after
 * its worker's own result, until its token answers. */
bool apply_task_open(json_t *doc, const char *task_id);

/*
 * Any other event on a loaded execution (st borrowed; st->doc is modified).
 * Returns 0 and *ret (the commit, expected version st->version), 1 when the
 * event is stale or the execution already finished (nothing to write), or
 * a negative errno with err set (malformed event or document).
 * request_id: for StopExecution and SendTask* (events with a token), the
 * response to store.
 */
int apply_event(const ApplyConfig *cfg, const AslMachine *m, StoreExecState *st, const char *exec_id,
                const AslEvent *ev, const char *request_id, const AslEnv *env, StoreCommit **ret,
                AslError *err);

/*
 * An EXPRESS machine runs at most max_sec (Step Functions: 5 minutes): its
 * definition's TimeoutSeconds becomes max_sec unless it has a smaller one,
 * so the engine's execution timeout ends it (TIMED_OUT, States.Timeout).
 * m is changed in place (the caller's copy, before it is cached).
 */
void apply_express_limit(AslMachine *m, int64_t max_sec);
