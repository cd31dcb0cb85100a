/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The Redis store of imgflow: key names, the Lua scripts, argument vectors
 * and reply parsing shared by the synchronous API (the CLI, tests) and the
 * coordinator daemon's asynchronous connection. docs/redis.md describes
 * the schema; this header is its code.
 *
 *   imgflow:sms                        set of state machine names
 *   imgflow:sm:<name>                  hash {name, latestVersion, createdAt, updatedAt}
 *   imgflow:sm:<name>:v<N>             definition text of version N
 *   imgflow:{<execId>}:exec            hash {doc, version, status, stateMachine, smVersion,
 *                                      name, input, startDate, stopDate, output, error, cause}
 *   imgflow:{<execId>}:history         list of history events (JSON), capped with LTRIM
 *   imgflow:{<execId>}:outbox          hash itemId -> "<topic>\n<payload>" (not yet acked)
 *   imgflow:{<execId>}:tokens          hash taskId -> task token
 *   imgflow:{<execId>}:timers          set of timer ids of the execution
 *   imgflow:executions                 zset execId, score = start ms
 *   imgflow:timers                     zset "<execId>|<timerId>", score = due ms
 *   imgflow:timers:claimed             zset "<execId>|<timerId>", score = lease expiry ms
 *   imgflow:outbox-pending             zset execId, score = last dispatch attempt ms
 *   imgflow:token:<token>              {"executionId","taskId"} of a live task token;
 *                                      + "closed": error once the task closed (EX retention)
 *   imgflow:response:{<requestId>}     answer to a StartExecution/StopExecution/SendTask* (EX 300)
 *   imgflow:{<execId>}:mapruns         list of the execution's Map Run ids (UUIDs), in start order
 *   imgflow:{<execId>}:maprun:<runId>  hash: the Map Run record (store-maprun.c)
 *   imgflow:{<execId>}:maprun:<runId>:failures  list of failed children's records (JSON),
 *                                      the first STORE_MAP_RUN_FAILURES_MAX
 *   imgflow:maprun:<runId>             the execution id of a Map Run (DescribeMapRun by ARN)
 *   imgflow:maprun:<runId>:executions  zset of the run's child execution ids, score = start ms
 *   imgflow:{<execId>}:refused         "<parent>\n<mapRunArn>" of a Map Run child whose start
 *                                      was refused (EX retention)
 *
 * An execution id is "<stateMachine>:<executionName>". Names are checked by
 * store_name_is_valid(), so an id never contains '|', '{', '}' or spaces.
 *
 * Files, one per thing kept: store.c (names, argument vectors, commits),
 * store-scripts.c (the Lua scripts), store-exec.c (execution reads),
 * store-registry.c (definitions), store-timers.c, store-outbox.c,
 * store-tokens.c (task tokens), store-responses.c (answers to requests),
 * store-maprun.c (Map Run records).
 *
 * Layering: links hiredis, jansson and coordinator/asl (definition parse,
 * helpers); no Kafka, no event loop. The synchronous functions block; the
 * daemon calls only the builders/parsers from its event loop.
 *
 * Errors: 0 or -errno. -ENOENT missing, -EEXIST already exists, -EINVAL bad
 * name or definition, -EIO Redis error (connection, script error),
 * -EBADMSG unexpected reply shape, -ESTALE version conflict.
 */

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "asl-util.h"

#define STORE_NAME_MAX 80
#define STORE_REQUEST_ID_MAX 128
#define STORE_RESPONSE_TTL_SEC 300
#define STORE_HISTORY_CAP_DEFAULT 25000
#define STORE_RETENTION_SEC_DEFAULT (7 * 24 * 3600)
#define STORE_LIST_LIMIT_MAX 1000
#define STORE_MAP_RUN_FAILURES_MAX 1000 /* exec_commit has the number too */

/* A name of a state machine or an execution: 1..80 bytes, no whitespace,
 * control characters or any of  < > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /  */
bool store_name_is_valid(const char *name);

/* Key names; all return new strings (abort on OOM). */
char *store_key_exec(const char *exec_id);
char *store_key_history(const char *exec_id);
char *store_key_outbox(const char *exec_id);
char *store_key_tokens(const char *exec_id);
char *store_key_exec_timers(const char *exec_id);
char *store_key_sm(const char *name);
char *store_key_sm_version(const char *name, unsigned version);
char *store_key_token(const char *token);
char *store_key_response(const char *request_id);
#define STORE_KEY_SMS "imgflow:sms"
#define STORE_KEY_EXECUTIONS "imgflow:executions"
#define STORE_KEY_TIMERS "imgflow:timers"
#define STORE_KEY_TIMERS_CLAIMED "imgflow:timers:claimed"
#define STORE_KEY_OUTBOX_PENDING "imgflow:outbox-pending"
#define STORE_KEY_RUNNING "imgflow:running"     /* set of RUNNING execution ids */

/* "<sm>:<name>" (new string) or NULL when a name is invalid. */
char *store_exec_id(const char *state_machine, const char *name);
/* Accepts "<sm>:<name>" or the ARN-like "imgflow:execution:<sm>:<name>"
 * (a Map Run's child: "<sm>/<label>:<name>", the label dropped);
 * returns the plain id (new string) or NULL if malformed. */
char *store_exec_id_normalize(const char *id);
/* An EXPRESS execution's ARN, "imgflow:express:<sm>:<name>:<run id>" (what
 * its start answers, as Step Functions' "express:" ARNs): no operation on
 * an execution takes it; each refuses it with InvalidArn and this text,
 * Step Functions' own, whether the execution runs or has ended. */
#define STORE_EXPRESS_ARN_PREFIX "imgflow:express:"
#define STORE_EXPRESS_ARN_REFUSED "Invalid Arn: 'Resource type not valid in this context: express'"
bool store_exec_arn_is_express(const char *id);

/* ---- argument vectors and scripts ---------------------------------------- */

typedef struct StoreArgv {
        char **argv;            /* strings, owned unless borrowed[i] */
        size_t *lens;
        bool *borrowed;
        size_t n, allocated;
} StoreArgv;

/* Room for n arguments in all, at once (no growing one by one). */
void store_argv_reserve(StoreArgv *a, size_t n);
/* A copy of s. */
void store_argv_add(StoreArgv *a, const char *s, size_t len);
/* s itself (malloc()ed, len bytes and a NUL): the vector frees it. */
void store_argv_take(StoreArgv *a, char *s, size_t len);
/* s itself, not freed: it must outlive every use of the vector. */
void store_argv_borrow(StoreArgv *a, const char *s, size_t len);
void store_argv_adds(StoreArgv *a, const char *s);
void store_argv_addf(StoreArgv *a, const char *fmt, ...) _printf_(2, 3);
/* No arguments, the room kept (for a vector filled again and again). */
void store_argv_clear(StoreArgv *a);
void store_argv_done(StoreArgv *a);

typedef enum StoreScriptId {
        STORE_SCRIPT_EXEC_COMMIT,
        STORE_SCRIPT_SM_PUT,
        STORE_SCRIPT_SM_DELETE,
        STORE_SCRIPT_TIMERS_CLAIM,
        STORE_SCRIPT_TIMERS_RECLAIM,
        STORE_SCRIPT_OUTBOX_SWEEP,
        STORE_SCRIPT_OUTBOX_ACK,
        STORE_SCRIPT_SM_DESCRIBE,
        STORE_SCRIPT_SM_LIST,
        STORE_SCRIPT_SM_SET_ROLE,
        STORE_SCRIPT_EXEC_HISTORY,
        STORE_SCRIPT_EXEC_LIST,
        STORE_SCRIPT_ACTIVITY_CREATE,
        STORE_SCRIPT_ACTIVITY_LIST,
        STORE_SCRIPT_ACTIVITY_DELETE,
        STORE_SCRIPT_ACTIVITY_CLAIM,
        STORE_SCRIPT_ACTIVITY_SETTLE,
        STORE_SCRIPT_ACTIVITY_RECLAIM,
        STORE_SCRIPT_MAP_RUN_DESCRIBE,
        STORE_SCRIPT_MAP_RUN_LIST,
        STORE_SCRIPT_MAP_RUN_FAILURES,
        _STORE_SCRIPT_MAX,
} StoreScriptId;

typedef struct StoreScript {
        const char *name;
        const char *source;
} StoreScript;

/* The constant table of Lua scripts. Borrowed. */
const StoreScript *store_script(StoreScriptId id);

/*
 * A script call: keys and args (both owned). Run it synchronously with
 * store_call_sync(), or hand script/keys/args to the daemon's async
 * redis_eval().
 */
typedef struct StoreCall {
        StoreScriptId script;
        StoreArgv keys;
        StoreArgv args;
} StoreCall;

void store_call_done(StoreCall *call);
/* Its arguments gone, their room kept. */
void store_call_clear(StoreCall *call);

/* A reply that should be a string: 0, or -EIO (no reply, an ERROR reply),
 * -ENOENT (nil), -EBADMSG (another type). */
int store_reply_string(const redisReply *r);

/* Run a plain command (blocking): 0 and *ret (new reply), or -EIO for a
 * connection error or an ERROR reply. */
int store_command_sync(redisContext *c, const StoreArgv *a, redisReply **ret);

/* Run a call with EVAL (blocking). Returns 0 and *ret (new reply,
 * freeReplyObject) or -EIO (the Redis message copied into errbuf if given).
 * A reply of type ERROR is returned as -EIO. */
int store_call_sync(redisContext *c, const StoreCall *call, redisReply **ret,
                    char *errbuf, size_t errbuf_size);

static inline void store_reply_freep(redisReply **r) {
        if (*r)
                freeReplyObject(*r);
}
#define _cleanup_reply_ _cleanup_(store_reply_freep)

/* ---- execution commits (store.c) ------------------------------------------- */

/*
 * One change to an execution: the compare-and-set of exec_commit. Build it
 * with the store_commit_* functions, then store_commit_call() gives the
 * script call. expected_version 0 creates the execution (exec_create
 * semantics: same input and RUNNING -> "exists", otherwise "already").
 */
/* Rows of a fixed number of owned strings, stored flat: row i is
 * v[i * width ...]; n counts strings. */
typedef struct StoreRows {
        char **v;
        size_t n, allocated;
} StoreRows;

/* What the coordinator's logs and metrics say about a Task message it
 * dispatches (borrowed when given, copied into the commit). */
typedef struct StoreOutboxNote {
        const char *task_id, *state, *operation;
        const char *image_key; /* the input's image, or NULL */
} StoreOutboxNote;

/* A message the commit puts in the outbox, to be produced after it. Only
 * item_id and value go to Redis. */
typedef struct StoreOutboxEntry {
        char *item_id;
        char *value;          /* "<topic>\n<payload>" */
        size_t len;           /* of value */
        const char *topic;    /* NUL-terminated, in `strings` */
        const char *payload;  /* value + the topic's length + 1 */
        StoreOutboxNote note; /* all NULL but for Task messages; in `strings` */
        char *strings;        /* one block for topic and note */
} StoreOutboxEntry;

typedef struct StoreHistoryEvent {
        char *text; /* owned: the event's compact JSON, as the engine wrote it */
        size_t len;
} StoreHistoryEvent;

typedef struct StoreCommit {
        char *exec_id;
        uint64_t expected_version;
        char *doc;              /* serialized engine document */
        size_t kept_bytes;      /* what store_commit_set_doc_split() kept out of doc's text */
        char *status;
        int64_t now_ms;
        int64_t stop_ms;        /* > 0 when terminal */
        unsigned history_cap;
        int64_t retention_sec;
        bool terminal;
        bool reopen; /* a redrive: RUNNING again (store_commit_set_reopen()) */
        /* What the script's ARGV[2] ("ops", docs/redis.md) is written from;
         * kept as plain strings, not a JSON tree, as this runs per event. */
        StoreRows create;       /* 0 or 1 row: stateMachine, smVersion, name, input, startDate */
        StoreRows fields;       /* field, value */
        StoreRows fields_del;   /* field (removed before fields are set) */
        StoreRows outbox_del;   /* item id */
        StoreRows timers;       /* timer id, due (ms, decimal) */
        StoreRows timers_del;   /* timer id */
        StoreRows tokens;       /* task id, token, {"executionId","taskId"} */
        StoreRows close_tasks;  /* task id */
        StoreRows tombstones;   /* token, record, ttl (s, decimal) */
        StoreRows response;     /* 0 or 1 row: key, value, ttl (s, decimal) */
        StoreRows activities;   /* activity name, "<task token>\n<Task message>" */
        StoreRows map_runs_new; /* run id */
        StoreRows map_run_fields;   /* run id, field, value */
        StoreRows map_run_failures; /* run id, record (JSON text) */
        char *child_of;             /* create: a Map Run's child execution: the run id (its index
                                     * imgflow:maprun:<run>:executions, not imgflow:executions) */
        StoreOutboxEntry *outbox;
        size_t n_outbox, allocated_outbox;
        StoreHistoryEvent *history;
        size_t n_history, allocated_history;
        json_t *ops_view;       /* store_commit_ops() */
} StoreCommit;

/* e: a const StoreOutboxEntry * over the commit's outbox, in order. */
#define STORE_COMMIT_OUTBOX_FOREACH(c, e)                                                                   \
        for (const StoreOutboxEntry *e = (c)->outbox; e < (c)->outbox + (c)->n_outbox; e++)

int store_commit_new(const char *exec_id, uint64_t expected_version, int64_t now_ms,
                     StoreCommit **ret);
StoreCommit *store_commit_free(StoreCommit *c);
static inline void store_commit_freep(StoreCommit **c) {
        store_commit_free(*c);
}
#define _cleanup_commit_ _cleanup_(store_commit_freep)

/* The new document (borrowed, serialized now) and its status. */
void store_commit_set_doc(StoreCommit *c, const json_t *doc, const char *status);
/* Fields of the create (version 0): input is serialized compactly with sorted keys. */
void store_commit_set_create(StoreCommit *c, const char *state_machine, unsigned sm_version,
                             const char *name, const json_t *input, int64_t start_ms);
/* The execution created is a child of Map Run run_id (of execution parent,
 * ARN map_run_arn): its hash keeps "parent" and "mapRunArn", and it is
 * listed in imgflow:maprun:<run_id>:executions instead of
 * imgflow:executions (ListExecutions by mapRunArn, not by state machine).
 * item_count > 0: the items it processes, kept as "itemCount" (ListExecutions'
 * itemCount). */
void store_commit_set_map_child(StoreCommit *c, const char *run_id, const char *parent,
                                const char *map_run_arn, int64_t item_count);
/* Extra exec hash fields (output, error, cause, stopDate ...). */
void store_commit_set_field(StoreCommit *c, const char *field, const char *value);
/* An exec hash field removed. */
void store_commit_del_field(StoreCommit *c, const char *field);
/* A history event's compact text, as the engine's HISTORY effect holds
 * it: kept as it is. Takes text (malloc()ed, len bytes and a NUL). */
void store_commit_take_history(StoreCommit *c, char *text, size_t len);
/* A message for the outbox; note: NULL, or what logs and metrics say of a
 * Task message (copied; not written to Redis). */
void store_commit_add_outbox(StoreCommit *c, const char *item_id, const char *topic, const char *payload,
                             const StoreOutboxNote *note);
void store_commit_del_outbox(StoreCommit *c, const char *item_id);
void store_commit_add_timer(StoreCommit *c, const char *timer_id, int64_t due_ms);
void store_commit_del_timer(StoreCommit *c, const char *timer_id);
void store_commit_add_token(StoreCommit *c, const char *task_id, const char *token);
void store_commit_close_task(StoreCommit *c, const char *task_id);
/* A task for the GetActivityTask callers of an activity: appended to
 * imgflow:activity:<name>:tasks in the commit (token: the task's, which
 * store_commit_add_token() registers too). */
void store_commit_add_activity_task(StoreCommit *c, const char *activity, const char *token,
                                    const char *message);
/* Leave a record of a closed task's token, so that a late callback gets the
 * right answer: imgflow:token:<token> = {"executionId","taskId","closed":error}
 * (error "TaskTimedOut" or "TaskDoesNotExist") for ttl_sec (0 = the
 * retention). Written after the task is closed, in the same commit. */
void store_commit_add_token_tombstone(StoreCommit *c, const char *task_id, const char *token,
                                      const char *error, int64_t ttl_sec);
/* Store an answer (its text, proto_encode_response()) at
 * imgflow:response:{request_id} (SET NX EX ttl) on success. */
void store_commit_set_response(StoreCommit *c, const char *request_id, const char *response);
/* A finished execution runs again (RedriveExecution): back in
 * imgflow:running, its keys kept (PERSIST), stopDate, output, error and
 * cause removed; before the commit's fields and a terminal of its own. */
void store_commit_set_reopen(StoreCommit *c);
/* A Map Run of the execution starts: its id joins imgflow:{id}:mapruns and
 * imgflow:maprun:<run id> names the execution. */
void store_commit_add_map_run(StoreCommit *c, const char *run_id);
/* A field of the run's record (HSET): a few per event, never the whole record. */
void store_commit_set_map_run_field(StoreCommit *c, const char *run_id, const char *field,
                                    const char *value);
/* A failed child's record (JSON text), kept while the run has fewer than
 * STORE_MAP_RUN_FAILURES_MAX. */
void store_commit_add_map_run_failure(StoreCommit *c, const char *run_id, const char *record);
/* Terminal: stop date, drop tokens/timers, EXPIRE all keys after retention. */
void store_commit_set_terminal(StoreCommit *c, int64_t stop_ms, int64_t retention_sec);

/* The call borrows c's document, history events and outbox values: send
 * it (or drop it) before c is freed. -EILSEQ: a string of the ops is not
 * valid UTF-8. */
int store_commit_call(const StoreCommit *c, StoreCall *ret);

/* The ops as a JSON object, with the history events and the outbox items'
 * values in full: {"execId","now","create":{...},"fields":[[f,v]],
 * "history":[...],"outbox":[[id,value]],"outboxDel":[id],"timers":[[id,due]],
 * "timersDel":[id],"tokens":[[task,token,value]],"closeTasks":[task],
 * "tombstones":[[token,value,ttl]],"response":[key,value,ttl],
 * "terminal":{"stopDate","retention"}}, only the members in use. For tests
 * and diagnostics; borrowed, valid until c changes or is freed. */
json_t *store_commit_ops(StoreCommit *c);

typedef enum StoreCommitOutcome {
        STORE_COMMIT_OK,        /* version = the new version */
        STORE_COMMIT_CONFLICT,  /* version = the current version; reload and retry */
        STORE_COMMIT_MISSING,   /* no such execution (expected_version > 0) */
        STORE_COMMIT_EXISTS,    /* create: same input and RUNNING: idempotent success */
        STORE_COMMIT_ALREADY,   /* create: different input or closed: ExecutionAlreadyExists */
} StoreCommitOutcome;

typedef struct StoreCommitResult {
        StoreCommitOutcome outcome;
        uint64_t version;
        int64_t start_ms;       /* EXISTS/ALREADY: start date of the existing execution */
} StoreCommitResult;

int store_commit_parse_reply(const redisReply *r, StoreCommitResult *ret);
int store_commit_sync(redisContext *ctx, const StoreCommit *c, StoreCommitResult *ret);

/* ---- Map Runs: reads (store-maprun.c) ------------------------------------- */

/* A run id: the UUID that ends a Map Run's ARN (hex digits and '-'). */
bool store_map_run_id_is_valid(const char *run_id);
/* The run id of "<prefix>:mapRun:<machine>/<label>:<run id>" (new), or NULL
 * when the ARN is not of that form. */
char *store_map_run_id_from_arn(const char *arn);
/* "<prefix>:stateMachine:<machine>/<label>" of a Map Run's ARN (new), as
 * ListMapRuns names it, or NULL. */
char *store_map_run_state_machine_arn(const char *map_run_arn);
/* DescribeMapRun's object (new) from the record's fields (an object of
 * strings): "mapRunArn", "executionArn", "status", "startDate", "stopDate"?,
 * "maxConcurrency", "toleratedFailurePercentage", "toleratedFailureCount",
 * "itemCounts", "executionCounts", "redriveCount", "redriveDate"?,
 * "stateName"? (dates: epoch ms). */
json_t *store_map_run_from_fields(json_t *fields);
/* DescribeMapRun: the record of run_id, with "executionId" (the plain
 * execution id) added. -ENOENT when there is none (expired or never). */
void store_map_run_describe_call(const char *run_id, StoreCall *ret);
int store_map_run_describe_parse(const redisReply *r, json_t **ret);
int store_map_run_describe_sync(redisContext *c, const char *run_id, json_t **ret);
/* ListMapRuns: the runs of an execution in start order, from offset, at most
 * limit, each as store_map_run_from_fields() gives it; *ret_more when
 * there are more. -ENOENT when the execution does not exist. */
void store_map_run_list_call(const char *exec_id, size_t offset, size_t limit, StoreCall *ret);
int store_map_run_list_parse(const redisReply *r, json_t **ret_items, bool *ret_more);
int store_map_run_list_sync(redisContext *c, const char *exec_id, size_t offset, size_t limit,
                            json_t **ret_items, bool *ret_more);
/* The run's failed children (the first STORE_MAP_RUN_FAILURES_MAX): an
 * array of {"index", "items", "error", "cause"?, "date", "input"?}, from
 * offset, at most limit. -ENOENT when the run is unknown. */
void store_map_run_failures_call(const char *run_id, size_t offset, size_t limit, StoreCall *ret);
int store_map_run_failures_parse(const redisReply *r, json_t **ret);
int store_map_run_failures_sync(redisContext *c, const char *run_id, size_t offset, size_t limit,
                                json_t **ret);

/* A Map Run child's own record, against which its parent's coordinator
 * checks a MapChildEnded naming it (coordinator-work.c): the fields of its
 * exec hash, each NULL when absent; all NULL when the child does not exist
 * (never created, or expired). */
typedef struct StoreChildRecord {
        char *status;
        char *parent;      /* the parent's execution id */
        char *map_run_arn;
        char *output;      /* JSON text (SUCCEEDED) */
} StoreChildRecord;
int store_child_record_argv(const char *exec_id, StoreArgv *ret);
int store_child_record_parse(const redisReply *r, StoreChildRecord *ret);
void store_child_record_done(StoreChildRecord *r);

/* A Map Run child whose start was refused has no record: its refusal is
 * kept instead (imgflow:{<childId>}:refused = "<parent>\n<mapRunArn>", EX
 * retention), written before its MapChildEnded FAILED is sent, so that the
 * parent's coordinator can tell that end from a forged one. SET / GET;
 * the parse returns 1 when the refusal is kept for that parent and run, 0
 * when not, <0 on an error reply. */
char *store_key_child_refused(const char *exec_id);
int store_child_refused_set_argv(const char *exec_id, const char *parent, const char *map_run_arn,
                                 int64_t retention_sec, StoreArgv *ret);
int store_child_refused_get_argv(const char *exec_id, StoreArgv *ret);
int store_child_refused_parse(const redisReply *r, const char *parent, const char *map_run_arn);

/* ---- executions: reads (store-exec.c) -------------------------------------- */

/*
 * The document and version of an execution, for the coordinator to apply
 * an event on. HMGET exec doc version stateMachine smVersion status name startDate.
 */
typedef struct StoreExecState {
        json_t *doc;            /* owned */
        uint64_t version;
        char *state_machine;
        unsigned sm_version;
        char *status;
        char *name;             /* execution name */
        int64_t start_ms;
} StoreExecState;

void store_exec_state_done(StoreExecState *s);
/* Argument vector of the HGETALL (a plain command, not a script): the
 * hash holds what store_commit_set_doc_split() kept outside the text. */
void store_exec_load_argv(const char *exec_id, StoreArgv *ret);
/* As store_commit_set_doc(), with an inline Map's input and results and
 * the execution's input kept outside the text (store-exec.c): only the
 * results set since the last commit are written. doc is borrowed and
 * given back as it was, but for the store's "stored"/"storedNew" marks in
 * its Map frames' "children" (kept there for the next commit). */
void store_commit_set_doc_split(StoreCommit *c, json_t *doc, const char *status);
/* Drops those marks, so that the next commit writes each kept part anew
 * (after a redrive, which puts back frames as they were). */
void store_doc_split_forget(json_t *doc);
/* The kept Map runs of doc: {tag: number of results}. New reference. */
json_t *store_doc_split_tags(json_t *doc);
/* The fields of every run of `before` (store_doc_split_tags()) that doc no
 * longer keeps (its Map ended, failed or was put back by a redrive) are
 * removed by c. */
void store_commit_split_drop(StoreCommit *c, json_t *before, json_t *doc);
/* SCARD of imgflow:running (the executions RUNNING; exec_commit keeps the
 * set): an integer reply, O(1) in Redis. */
void store_exec_running_count_argv(StoreArgv *ret);
/* -ENOENT when the execution does not exist. */
int store_exec_load_parse(const redisReply *r, StoreExecState *ret);
int store_exec_load_sync(redisContext *c, const char *exec_id, StoreExecState *ret);

/* DescribeExecution: {"executionId","executionArn","stateMachine","stateMachineVersion",
 * "name","status","startDate","stopDate"?,"input","output"?,"error"?,"cause"?,
 * "mapProgress"?: {"done","total"}, "redriveCount", "redriveDate"?,
 * "redriveStatus", "redriveStatusReason"?}. Dates are epoch ms. New
 * reference. The redrive status is asl_exec_redrivable()'s answer on the
 * stored document at the time of the read (the real-time clock). */
int store_exec_describe(redisContext *c, const char *exec_id, json_t **ret);
/* GetExecutionHistory: array of events, from `offset`, at most `limit`
 * (0 = 1000), newest first when reverse. New reference. */
int store_exec_history(redisContext *c, const char *exec_id, size_t offset, size_t limit,
                       bool reverse, json_t **ret);
/* ListExecutions, newest first: array of {"executionId","stateMachine","name","status",
 * "startDate","stopDate"?}. Filters may be NULL. limit 0 = 100, max 1000.
 * Expired executions are dropped from the index as they are met. */
int store_exec_list(redisContext *c, const char *state_machine, const char *status,
                    size_t limit, json_t **ret);
/* The same reads as calls for an asynchronous connection (imgflow-api):
 * a builder, then a parser of its reply. */
void store_exec_describe_argv(const char *exec_id, StoreArgv *ret);
/* -ENOENT when the execution does not exist; the shape of store_exec_describe(). */
int store_exec_describe_parse(const redisReply *r, const char *exec_id, json_t **ret);

/* A page of history events by id: from start_id (0 = the first event, or
 * the last when reverse), at most limit (1..1000). */
void store_exec_history_call(const char *exec_id, uint64_t start_id, size_t limit, bool reverse,
                             StoreCall *ret);
/* The events (new reference: an array of objects, newest first when
 * reverse) and where the next page starts (0: no more). -ENOENT when the
 * execution does not exist. */
int store_exec_history_parse(const redisReply *r, size_t limit, bool reverse, json_t **ret_events,
                             uint64_t *ret_next_id);

typedef struct StoreExecFilter {
        const char *state_machine;      /* NULL = any */
        unsigned version;               /* 0 = any */
        const char *status;             /* NULL = any */
        bool machine_must_exist;        /* -ENOENT for an unknown state_machine */
        const char *redrive;            /* NULL = any, "REDRIVEN" (redriveCount > 0), "NOT_REDRIVEN" */
        bool refuse_express;            /* -EPROTOTYPE for an EXPRESS state_machine (Step Functions'
                                         * ListExecutions: StateMachineTypeNotSupported) */
        const char *map_run;            /* a Map Run id: its child executions (not NULL: the
                                         * other filters but status are ignored) */
} StoreExecFilter;

#define STORE_TYPE_NOT_SUPPORTED "This operation is not supported by this type of state machine"

/* A page of executions, newest first: at most limit, looking at no more
 * than scan_max index entries; cursor NULL = from the newest. */
void store_exec_list_call(const StoreExecFilter *f, const char *cursor, size_t limit, size_t scan_max,
                          StoreCall *ret);
/* Items (new reference) as store_exec_list() gives them, plus
 * "stateMachineVersion", "redriveCount" and "redriveDate"?; *ret_cursor a new string where the next page
 * starts, NULL when this was the last. -ENOENT: no such machine (machine_must_exist);
 * -EPROTOTYPE: an EXPRESS machine (refuse_express). */
int store_exec_list_parse(const redisReply *r, json_t **ret_items, char **ret_cursor);

/* ---- task tokens (store-tokens.c) ----------------------------------------- */

#define STORE_TOKEN_MAX 1024 /* bytes of a task token a request may name */

/* GET imgflow:token:<token>: -EINVAL for a NULL, empty or too long token. */
int store_token_lookup_argv(const char *token, StoreArgv *ret);
/* Its reply: 0 and the ids (new strings) of a live token; -ENOENT if the
 * token is unknown or dead (closed). */
int store_token_parse(const redisReply *r, char **ret_exec_id, char **ret_task_id);
/* The same, telling dead tokens apart: 0 and the ids of a live token;
 * -ESTALE and the ids plus *ret_closed_error (new: "TaskTimedOut",
 * "TaskDoesNotExist") for the record of a closed task; -ENOENT for a token
 * that was never issued or whose record expired. */
int store_token_parse_full(const redisReply *r, char **ret_exec_id, char **ret_task_id,
                           char **ret_closed_error);
/* Both at once, blocking (the CLI, tests). */
int store_token_lookup(redisContext *c, const char *token, char **ret_exec_id, char **ret_task_id);

/* A record in full: an activity's delivery token (store-activities.c) is
 * an alias: its record names the task token in "token". */
typedef struct StoreTokenRecord {
        char *exec_id;
        char *task_id;
        char *closed;           /* "TaskTimedOut", "TaskDoesNotExist"; NULL while live */
        char *alias_of;         /* the task token this one stands for; NULL for a task token */
} StoreTokenRecord;

void store_token_record_done(StoreTokenRecord *t);
/* 0, or -ENOENT for a token never issued (or expired), -EBADMSG. */
int store_token_parse_record(const redisReply *r, StoreTokenRecord *ret);

/* ---- responses (store-responses.c) ----------------------------------------- */

/* SET imgflow:response:{<requestId>} <response> EX STORE_RESPONSE_TTL_SEC NX
 * (the first answer stays). response: the answer's text (borrowed, copied
 * into the vector). -EINVAL for a request id that gets no answer (NULL,
 * empty, over STORE_REQUEST_ID_MAX). */
int store_response_put_argv(const char *request_id, const char *response, StoreArgv *ret);
/* The same, blocking. */
int store_response_put(redisContext *c, const char *request_id, const char *response);
/* The answer to a request (new reference), -ENOENT when not there (yet). */
int store_response_get(redisContext *c, const char *request_id, json_t **ret);

/* ---- state machine registry (store-registry.c) ----------------------------- */

/* Validate with asl_machine_parse and store a new version. create: -EEXIST if
 * the machine exists with a different latest definition (same definition:
 * success, version = the existing one). update: -ENOENT if absent. -EINVAL
 * with diagnostics in d when invalid. */
int store_sm_create(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version);
int store_sm_update(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version);
/* The extras of CreateStateMachine and UpdateStateMachine: the type (kept
 * at creation; NULL = STANDARD; an update validates with the stored type)
 * and the logging configuration's JSON (NULL = none / unchanged). */
typedef struct StoreSmExtra {
        const char *role_arn;
        const char *type;
        const char *logging;
} StoreSmExtra;
/* A loggingConfiguration as CreateStateMachine takes it ({"level": ALL |
 * ERROR | FATAL | OFF, "includeExecutionData": bool, "destinations": [at most
 * one {"cloudWatchLogsLogGroup": {"logGroupArn"}}]}): 0 and *ret (the
 * normalized JSON text, new string: every field present), or -EINVAL and
 * *ret_cause (static) saying what is wrong (Step Functions'
 * InvalidLoggingConfiguration). text borrowed. */
int store_sm_logging_check(const char *text, char **ret, const char **ret_cause);
/* The level and includeExecutionData of a normalized configuration (NULL:
 * OFF, false). */
typedef enum StoreLogLevel {
        STORE_LOG_OFF,
        STORE_LOG_FATAL,
        STORE_LOG_ERROR,
        STORE_LOG_ALL,
} StoreLogLevel;
void store_sm_logging_parse(const char *text, StoreLogLevel *ret_level, bool *ret_include_data);
/* Whether a history event of this type is logged at this level: ALL every
 * one, ERROR the failed, timed out and aborted events (and
 * FailStateEntered), FATAL ExecutionFailed, ExecutionTimedOut and
 * ExecutionAborted, OFF none. */
bool store_log_level_includes(StoreLogLevel level, const char *event_type);
int store_sm_put_extra(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                       bool update, const StoreSmExtra *x, AslDiag *d, unsigned *ret_version);
/* {"name","version","latestVersion","definition": <JSON>,"createdAt","updatedAt","roleArn"?,"type",
 *  "loggingConfiguration"?}
 * version 0 = latest. New reference. */
int store_sm_describe(redisContext *c, const char *name, unsigned version, json_t **ret);
/* Definition text (new string) of name:version (0 = latest) and the version. */
int store_sm_get_definition(redisContext *c, const char *name, unsigned version,
                            char **ret_text, unsigned *ret_version);
/* Array of {"name","latestVersion","createdAt","updatedAt","type"}, sorted by name. */
int store_sm_list(redisContext *c, json_t **ret);
/* Removes the machine; version texts expire after retention_sec so running
 * executions can finish. -ENOENT if absent. */
int store_sm_delete(redisContext *c, const char *name, int64_t retention_sec);

/* The same as calls for an asynchronous connection (imgflow-api). The
 * definition must have been validated (asl_machine_parse) before. role_arn
 * may be NULL. -EINVAL for a bad name or a definition over 1 MiB. */
int store_sm_put_call(const char *name, const char *definition, int64_t now_ms, bool update,
                      const char *role_arn, StoreCall *ret);
/* The same with the type and the logging configuration (x may be NULL). */
int store_sm_put_call_extra(const char *name, const char *definition, int64_t now_ms, bool update,
                            const StoreSmExtra *x, StoreCall *ret);
/* 0, the version stored and the machine's creation date (ms); -EEXIST
 * (create: another definition is there), -ENOENT (update: no such
 * machine). Either output may be NULL. */
int store_sm_put_parse(const redisReply *r, unsigned *ret_version, int64_t *ret_created_ms);

typedef struct StoreMachine {
        unsigned version;
        unsigned latest_version;        /* 0: the machine is deleted (its versions stay a while) */
        int64_t created_ms, updated_ms;
        char *role_arn;                 /* NULL when none was given */
        char *definition;
        char *type;    /* "STANDARD" or "EXPRESS" (a machine of old: STANDARD) */
        char *logging; /* the loggingConfiguration's JSON, or NULL */
} StoreMachine;

void store_machine_done(StoreMachine *m);
int store_sm_describe_call(const char *name, unsigned version, StoreCall *ret);
/* -ENOENT when the machine or the version does not exist. */
int store_sm_describe_parse(const redisReply *r, StoreMachine *ret);
/* Machines after `after` (NULL = from the start) by name, at most limit. */
void store_sm_list_call(const char *after, size_t limit, StoreCall *ret);
/* Array (new) of {"name","latestVersion","createdAt","updatedAt"}; *ret_more
 * when there are more after them. */
int store_sm_list_parse(const redisReply *r, json_t **ret_items, bool *ret_more);
/* Keep role_arn with an existing machine (no new version). */
void store_sm_set_role_call(const char *name, const char *role_arn, StoreCall *ret);
/* 0, or -ENOENT when there is no such machine. */
int store_sm_set_role_parse(const redisReply *r);
int store_sm_delete_call(const char *name, int64_t retention_sec, StoreCall *ret);
/* 0, or -ENOENT when there was no such machine. */
int store_sm_delete_parse(const redisReply *r);

/* Builders for the daemon: GET of the latest version / a version. */
void store_sm_latest_argv(const char *name, StoreArgv *ret);
void store_sm_definition_argv(const char *name, unsigned version, StoreArgv *ret);

/* "<stateMachine>" or "<stateMachine>:<version>" -> name (new) and version (0 = latest). */
int store_sm_ref_parse(const char *ref, char **ret_name, unsigned *ret_version);

/* ---- activities (store-activities.c) --------------------------------------- */

/*
 *   imgflow:activities                 zset of activity names (score 0: by name)
 *   imgflow:activity:<name>            hash {name, createdAt}
 *   imgflow:activity:<name>:tasks      list of "<task token>\n<Task message>", oldest first
 *   imgflow:activity-leases            zset "<name>|<delivery token>", score = lease expiry ms
 *   imgflow:activity-leased            hash delivery token -> the leased item
 */
#define STORE_KEY_ACTIVITIES "imgflow:activities"
#define STORE_KEY_ACTIVITY_LEASES "imgflow:activity-leases"
#define STORE_KEY_ACTIVITY_LEASED "imgflow:activity-leased"
#define STORE_ACTIVITY_CLAIM_SKIP 100 /* dead items one claim may drop */

char *store_key_activity(const char *name);
char *store_key_activity_tasks(const char *name);

/* "arn:aws:states:<region>:<account>:activity:<name>" -> name (borrowed
 * from arn), NULL when arn is not an activity ARN with a valid name. */
const char *store_activity_name_of_arn(const char *arn);

int store_activity_create_call(const char *name, int64_t now_ms, StoreCall *ret);
/* The creation date (ms): the existing one when it was there. */
int store_activity_create_parse(const redisReply *r, int64_t *ret_created_ms);
/* HGET of the creation date. */
int store_activity_describe_argv(const char *name, StoreArgv *ret);
/* -ENOENT when there is no such activity. */
int store_activity_describe_parse(const redisReply *r, int64_t *ret_created_ms);
void store_activity_list_call(const char *after, size_t limit, StoreCall *ret);
/* Array (new) of {"name","createdAt"}; *ret_more when there are more. */
int store_activity_list_parse(const redisReply *r, json_t **ret_items, bool *ret_more);
int store_activity_delete_call(const char *name, StoreCall *ret);
int store_activity_delete_parse(const redisReply *r);

/* The next live task of an activity for a GetActivityTask caller, under a
 * new delivery token (see activity_claim in store-scripts.c). */
void store_activity_claim_call(const char *name, const char *delivery_token, int64_t lease_until_ms,
                               int64_t record_ttl_sec, StoreCall *ret);
/* 0 and the Task message (new string); -ENOENT when there is none. */
int store_activity_claim_parse(const redisReply *r, char **ret_message);
/* The end of a lease: delivered (the caller has it) or not (back to the queue). */
void store_activity_settle_call(const char *name, const char *delivery_token, bool delivered, StoreCall *ret);
/* Leases whose expiry passed: their tasks go back, their tokens close. */
void store_activity_reclaim_call(int64_t now_ms, unsigned limit, StoreCall *ret);

/* ---- timers (store-timers.c) ----------------------------------------------- */

/* Claim due timers: move them to the claimed set with a lease. Reply: array
 * of members "<execId>|<timerId>". */
void store_timers_claim_call(int64_t now_ms, int64_t lease_ms, unsigned limit, StoreCall *ret);
/* Move claimed timers whose lease expired back (ZADD NX, due now). Reply: count. */
void store_timers_reclaim_call(int64_t now_ms, unsigned limit, StoreCall *ret);
/* The same for the leases that expire up to cutoff_ms (later than now_ms:
 * leases still running, claimed long enough ago), due again at now_ms. */
void store_timers_reclaim_before_call(int64_t cutoff_ms, int64_t now_ms, unsigned limit, StoreCall *ret);
/* ZREM imgflow:timers:claimed member (plain command) after the broker acked. */
void store_timers_ack_argv(const char *member, StoreArgv *ret);
/* Split a member into exec id and timer id (both new). -EINVAL if malformed. */
int store_timer_member_split(const char *member, char **ret_exec_id, char **ret_timer_id);
/* Parse a claim reply: array of members (new reference, array of strings). */
int store_timers_claim_parse(const redisReply *r, json_t **ret);

int store_timers_claim_sync(redisContext *c, int64_t now_ms, int64_t lease_ms, unsigned limit,
                            json_t **ret);
int store_timers_reclaim_sync(redisContext *c, int64_t now_ms, unsigned limit, long long *ret);

/* ---- outbox (store-outbox.c) ----------------------------------------------- */

/* Executions whose outbox is older than cutoff_ms: their score is bumped to
 * now_ms and their items returned. Reply: [execId, [itemId, value, ...], ...]. */
void store_outbox_sweep_call(int64_t cutoff_ms, int64_t now_ms, unsigned limit, StoreCall *ret);
/* Add one item the broker acked to call (zero-initialized before the first
 * add): running it deletes each item, and an execution's pending entry with
 * its last item. Reply: how many of the items were there. */
void store_outbox_ack_add(StoreCall *call, const char *exec_id, const char *item_id);
size_t store_outbox_ack_count(const StoreCall *call);

typedef struct StoreOutboxItem {
        char *exec_id;
        char *item_id;
        char *topic;
        char *payload;
} StoreOutboxItem;

/* Split a stored value "<topic>\n<payload>". */
int store_outbox_value_split(const char *value, size_t len, char **ret_topic, char **ret_payload);
/* Parse a sweep reply into *ret (array of n items, free with store_outbox_items_free). */
int store_outbox_sweep_parse(const redisReply *r, StoreOutboxItem **ret, size_t *ret_n);
void store_outbox_items_free(StoreOutboxItem *items, size_t n);
