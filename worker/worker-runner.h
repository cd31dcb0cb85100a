/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * One task in the worker daemon, from the Kafka message that carried it to
 * the event that reports it (TaskSucceeded / TaskFailed).
 *
 *   loop:   worker_task_new()             decoded Task + where it came from
 *           worker_task_expired()?        past deadlineMs: drop and commit
 *           worker_pool_submit()
 *   thread: worker_task_run()             look at the deadline again, run
 *                                         the operation, keep output/failure
 *   loop:   worker_task_encode_result()   the event to publish (key =
 *                                         execution id), then after the
 *                                         delivery report: commit, free
 *
 * A WorkerTask is touched by one thread at a time: the loop until it is
 * submitted, the pool thread while it runs, the loop again once the pool
 * hands it back. The only field both may touch at once is `cancel`.
 *
 * Logging: worker_task_log() adds the structured fields EXECUTION_ID,
 * STATE_NAME, TASK_ID, IMAGE_KEY, OPERATION and ATTEMPT to the entry.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "image-ops.h"
#include "proto.h"
#include "task-failure.h"

typedef enum WorkerTaskOutcome {
        WORKER_TASK_PENDING,   /* not run yet */
        WORKER_TASK_SUCCEEDED, /* output set */
        WORKER_TASK_FAILED,    /* failure set */
        WORKER_TASK_EXPIRED,   /* past its deadline when taken (not run), or its operation
                                * stopped at the deadline (-ETIME): not reported */
        _WORKER_TASK_OUTCOME_MAX,
} WorkerTaskOutcome;

typedef struct WorkerTask WorkerTask;

/* Everything a pool thread needs to run tasks; borrowed, read-only while
 * threads run. */
typedef struct WorkerRunEnv {
        Storage *storage;
        const OpLimits *limits;
        void *userdata; /* passed to operations as OpContext.userdata */
} WorkerRunEnv;

struct WorkerTask {
        ProtoMessage *msg;     /* owned; a PROTO_TASK */
        const ProtoTask *task; /* = &msg->task */
        char *topic;           /* owned: where the task came from */
        int32_t partition;
        int64_t offset;

        const Operation *op;      /* borrowed (constant table); NULL = unknown */
        char *image_key;          /* owned, for logs: input.key / input.source.key ... */
        size_t message_bytes;     /* size of the Task message (metrics) */
        uint64_t image_bytes_in;  /* size of the input image file, if any (metrics) */
        uint64_t image_bytes_out; /* "size" of a written output, if any (metrics) */

        uint64_t received_usec; /* CLOCK_MONOTONIC */
        uint64_t started_usec, finished_usec;
        int64_t started_at_ms, finished_at_ms; /* epoch */

        atomic_bool cancel; /* set by the loop (drain timeout) */
        WorkerTaskOutcome outcome;
        json_t *output;      /* owned, when SUCCEEDED */
        TaskFailure failure; /* owned, when FAILED */

        /* Loop-side bookkeeping of the daemon (worker.c). */
        sd_event_source *heartbeat; /* owned, may be NULL */
        bool running;               /* submitted to the pool and not handed back */
        bool revoked;               /* its partition went away: do not commit */
        bool delivering;            /* result produced, waiting for its delivery report */
        void *manager;              /* borrowed back-pointer */
        WorkerTask *next, *prev;    /* the daemon's list of live tasks */
};

/* Takes ownership of m (a decoded PROTO_TASK) on success; copies topic.
 * Looks up the operation among extra[0..n_extra) and the built-in ones.
 * Returns 0, -EINVAL (not a Task), -ENOMEM. */
int worker_task_new(ProtoMessage *m, const char *topic, int32_t partition, int64_t offset,
                    const Operation *extra, size_t n_extra, WorkerTask **ret);
/* Frees everything it owns (disables and unrefs the heartbeat source).
 * Accepts NULL; returns NULL. */
WorkerTask *worker_task_free(WorkerTask *t);
static inline void worker_task_freep(WorkerTask **t) {
        worker_task_free(*t);
}

/* Whether the task is past its deadlineMs at now_ms (epoch); 0 = none. */
bool worker_task_expired(const WorkerTask *t, int64_t now_ms);

/* Runs the task (on a pool thread). Sets outcome and output or failure.
 * An unknown operation fails with Worker.UnknownOperation. */
void worker_task_run(WorkerTask *t, const WorkerRunEnv *env);

/* Mark the task finished from the loop: output is stolen. */
void worker_task_succeed(WorkerTask *t, json_t *output);
void worker_task_fail(WorkerTask *t, const char *error, const char *cause_fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Operation name for labels ("unknown" when none was given). Borrowed. */
const char *worker_task_operation(const WorkerTask *t);

/* The OpContext of the task (all pointers borrowed from t and limits). */
OpContext worker_task_context(const WorkerTask *t, const OpLimits *limits);

/*
 * The event reporting a finished task: TaskSucceeded (output, startedAtMs,
 * finishedAtMs) or TaskFailed (error, cause); worker_id borrowed, may be
 * NULL. An output too large for the payload limit turns into TaskFailed
 * States.DataLimitExceeded. *ret_buf: new string. -EINVAL when the task is
 * not finished (PENDING or EXPIRED).
 */
int worker_task_encode_result(const WorkerTask *t, const char *worker_id, const ProtoLimits *lim,
                              char **ret_buf, size_t *ret_len);
/* A TaskHeartbeat with startedAtMs once a pool thread started the task
 * (any thread may call it while the task runs). */
int worker_task_encode_heartbeat(const WorkerTask *t, const char *worker_id, char **ret_buf,
                                 size_t *ret_len);
/* When a pool thread started the task (epoch ms), 0 while it is queued. */
int64_t worker_task_started_at_ms(const WorkerTask *t);

/* Log with the task's structured fields. */
void worker_task_log_internal(int level, int error, const WorkerTask *t, const char *file, int line,
                              const char *func, const char *format, ...)
        __attribute__((format(printf, 7, 8)));
#define worker_task_log(level, t, ...)                                                                      \
        worker_task_log_internal((level), 0, (t), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define worker_task_log_errno(level, error, t, ...)                                                         \
        worker_task_log_internal((level), (error), (t), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* The result name of an outcome for metrics: "succeeded", "failed", "expired". */
const char *worker_task_outcome_to_string(WorkerTaskOutcome o);
