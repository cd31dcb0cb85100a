/* SPDX-License-Identifier: MIT */
/*
 * Task execution and reporting (see worker-runner.h).
 *
 * worker_task_run() is the only function here that runs on a pool thread; it
 * reads the task (borrowed from the decoded message, which nobody changes
 * while it runs), runs the operation through image_ops_run() (the same path
 * as the operations' tests: parameters validated, then the function) and
 * stores the outcome in the task. Everything else runs on the loop thread.
 *
 * Failure names (what ASL Retry/Catch match on):
 *   Worker.UnknownOperation   the task names no operation this worker knows
 *   States.DataLimitExceeded  the output does not fit in a message
 *   States.TaskFailed         an operation failed without naming a failure
 *   anything the operation reported (Image.Invalid, Storage.NotFound, ...)
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "worker-runner.h"

/* The image key a task is about, for logs: the first string found at one of
 * the usual places of the input. */
static const char *task_find_image_key(json_t *input) {
        static const char *const paths[][3] = {
                {"key", NULL, NULL},    {"source", "key", NULL},     {"image", "key", NULL},
                {"input", "key", NULL}, {"detail", "object", "key"}, /* an S3 event via EventBridge */
        };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                json_t *v = input;
                for (size_t j = 0; j < 3 && paths[i][j] && v; j++)
                        v = json_is_object(v) ? json_object_get(v, paths[i][j]) : NULL;
                if (json_is_string(v))
                        return json_string_value(v);
        }
        return NULL;
}

int worker_task_new(ProtoMessage *m, const char *topic, int32_t partition, int64_t offset,
                    const Operation *extra, size_t n_extra, WorkerTask **ret) {
        if (!m || m->type != PROTO_TASK || !topic || !ret)
                return -EINVAL;

        WorkerTask *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->topic = strdup(topic);
        const char *key = task_find_image_key(m->task.input);
        if (key)
                t->image_key = strndup(key, 256);
        if (!t->topic || (key && !t->image_key)) {
                free(t->topic);
                free(t->image_key);
                free(t);
                return -ENOMEM;
        }
        t->msg = m;
        t->task = &m->task;
        t->partition = partition;
        t->offset = offset;
        t->op = m->task.operation ? image_ops_find(m->task.operation, extra, n_extra) : NULL;
        t->received_usec = now_usec(CLOCK_MONOTONIC);
        atomic_init(&t->cancel, false);
        t->outcome = WORKER_TASK_PENDING;
        *ret = t;
        return 0;
}

WorkerTask *worker_task_free(WorkerTask *t) {
        if (!t)
                return NULL;
        if (t->heartbeat) {
                sd_event_source_set_enabled(t->heartbeat, SD_EVENT_OFF);
                sd_event_source_unref(t->heartbeat);
        }
        proto_message_free(t->msg);
        free(t->topic);
        free(t->image_key);
        json_decref(t->output);
        task_failure_clear(&t->failure);
        free(t);
        return NULL;
}

bool worker_task_expired(const WorkerTask *t, int64_t now_ms) {
        return t->task->deadline_ms > 0 && now_ms >= t->task->deadline_ms;
}

const char *worker_task_operation(const WorkerTask *t) {
        return t->task->operation ? t->task->operation : "unknown";
}

OpContext worker_task_context(const WorkerTask *t, const OpLimits *limits) {
        /* Task.attempt counts retries from 0; OpContext.attempt from 1. */
        int64_t a = t->task->attempt;
        return (OpContext){
                .execution_id = t->task->execution_id,
                .execution_name = t->task->execution_name,
                .state_name = t->task->state,
                .index_path = t->task->index_path,
                .task_id = t->task->task_id,
                .attempt = a < 0                       ? 1u
                           : a >= (int64_t) UINT32_MAX ? UINT32_MAX
                                                       : (unsigned) a + 1u,
                .limits = limits,
                .cancel = &t->cancel,
                .resource = t->task->resource,
                .deadline_ms = t->task->deadline_ms,
        };
}

void worker_task_succeed(WorkerTask *t, json_t *output) {
        json_decref(t->output);
        task_failure_clear(&t->failure);
        t->output = output ? output : json_null();
        t->outcome = WORKER_TASK_SUCCEEDED;
        if (!t->finished_at_ms) {
                t->finished_usec = now_usec(CLOCK_MONOTONIC);
                t->finished_at_ms = (int64_t) (now_usec(CLOCK_REALTIME) / 1000);
        }
}

void worker_task_fail(WorkerTask *t, const char *error, const char *cause_fmt, ...) {
        va_list ap;
        va_start(ap, cause_fmt);
        task_failure_setv(&t->failure, -EIO, error, cause_fmt, ap);
        va_end(ap);
        json_decref(t->output);
        t->output = NULL;
        t->outcome = WORKER_TASK_FAILED;
        if (!t->finished_at_ms) {
                t->finished_usec = now_usec(CLOCK_MONOTONIC);
                t->finished_at_ms = (int64_t) (now_usec(CLOCK_REALTIME) / 1000);
        }
}

/* Size of the task's input image ({"bucket","key"} at the top or under
 * "input"), for metrics; 0 when there is none or it cannot be read (the
 * operation reports that itself). */
static uint64_t task_input_bytes(Storage *s, json_t *params) {
        json_t *loc = json_object_get(params, "input");
        if (!json_is_object(loc))
                loc = params;
        json_t *b = json_object_get(loc, "bucket"), *k = json_object_get(loc, "key");
        if (!s || !json_is_string(b) || !json_is_string(k))
                return 0;

        TaskFailure f = TASK_FAILURE_NULL;
        char *path = NULL;
        struct stat st;
        uint64_t n = 0;
        if (storage_resolve_n(s, json_string_value(b), json_string_value(k), json_string_length(k), &path,
                              &f) >= 0 &&
            stat(path, &st) >= 0 && S_ISREG(st.st_mode))
                n = (uint64_t) st.st_size;
        free(path);
        task_failure_clear(&f);
        return n;
}

/* "size" of an output the operation wrote ({"bucket","key","size"}). */
static uint64_t task_output_bytes(json_t *out) {
        json_t *size = json_object_get(out, "size");
        if (json_is_string(json_object_get(out, "bucket")) && json_is_string(json_object_get(out, "key")) &&
            json_is_integer(size) && json_integer_value(size) > 0)
                return (uint64_t) json_integer_value(size);
        return 0;
}

void worker_task_run(WorkerTask *t, const WorkerRunEnv *env) {
        t->started_usec = now_usec(CLOCK_MONOTONIC);
        /* Read by the loop's heartbeats while the task runs. */
        __atomic_store_n(&t->started_at_ms, (int64_t) (now_usec(CLOCK_REALTIME) / 1000), __ATOMIC_RELEASE);

        if (worker_task_expired(t, t->started_at_ms)) {
                t->outcome = WORKER_TASK_EXPIRED;
                t->finished_usec = t->started_usec;
                t->finished_at_ms = t->started_at_ms;
                return;
        }

        if (!t->op) {
                worker_task_fail(t, "Worker.UnknownOperation", "No operation '%s' on this worker",
                                 worker_task_operation(t));
                return;
        }

        if (json_is_object(t->task->input))
                t->image_bytes_in = task_input_bytes(env->storage, t->task->input);

        OpContext ctx = worker_task_context(t, env->limits);
        ctx.userdata = env->userdata;
        TaskFailure f = TASK_FAILURE_NULL;
        json_t *out = NULL;
        int r = image_ops_run(t->op, env->storage, t->task->input, &ctx, &out, &f);

        t->finished_usec = now_usec(CLOCK_MONOTONIC);
        t->finished_at_ms = (int64_t) (now_usec(CLOCK_REALTIME) / 1000);
        if (r < 0) {
                /* image_ops_run() names every failure (States.TaskFailed
                 * when the operation did not). */
                task_failure_clear(&t->failure);
                t->failure = f;
                /* Stopped at the task's deadline: the coordinator times the
                 * task out (States.Timeout) and an answer would race it. */
                t->outcome = r == -ETIME && worker_task_expired(t, t->finished_at_ms) ? WORKER_TASK_EXPIRED
                                                                                      : WORKER_TASK_FAILED;
                return;
        }
        task_failure_clear(&f);
        worker_task_succeed(t, out);
        t->image_bytes_out = task_output_bytes(t->output);
}

int worker_task_encode_result(const WorkerTask *t, const char *worker_id, const ProtoLimits *lim,
                              char **ret_buf, size_t *ret_len) {
        const ProtoTask *task = t->task;

        if (t->outcome == WORKER_TASK_SUCCEEDED) {
                ProtoTaskSucceeded s = {
                        .execution_id = task->execution_id,
                        .task_id = task->task_id,
                        .attempt = task->attempt,
                        .output = t->output,
                        .worker_id = worker_id,
                        .started_at_ms = t->started_at_ms,
                        .finished_at_ms = t->finished_at_ms,
                };
                int r = proto_encode_task_succeeded(&s, lim, ret_buf, ret_len);
                if (r != -E2BIG)
                        return r;
                ProtoTaskFailed tf = {
                        .execution_id = task->execution_id,
                        .task_id = task->task_id,
                        .attempt = task->attempt,
                        .error = "States.DataLimitExceeded",
                        .cause = "The task output exceeds the maximum message size or depth",
                        .worker_id = worker_id,
                        .started_at_ms = t->started_at_ms,
                };
                return proto_encode_task_failed(&tf, lim, ret_buf, ret_len);
        }

        if (t->outcome == WORKER_TASK_FAILED) {
                ProtoTaskFailed tf = {
                        .execution_id = task->execution_id,
                        .task_id = task->task_id,
                        .attempt = task->attempt,
                        .error = t->failure.error ? t->failure.error : "States.TaskFailed",
                        .cause = t->failure.cause ? t->failure.cause : "",
                        .worker_id = worker_id,
                        .started_at_ms = t->started_at_ms,
                };
                return proto_encode_task_failed(&tf, lim, ret_buf, ret_len);
        }

        return -EINVAL;
}

int64_t worker_task_started_at_ms(const WorkerTask *t) {
        return __atomic_load_n(&t->started_at_ms, __ATOMIC_ACQUIRE);
}

int worker_task_encode_heartbeat(const WorkerTask *t, const char *worker_id, char **ret_buf,
                                 size_t *ret_len) {
        ProtoTaskHeartbeat h = {
                .execution_id = t->task->execution_id,
                .task_id = t->task->task_id,
                .attempt = t->task->attempt,
                .worker_id = worker_id,
                .started_at_ms = worker_task_started_at_ms(t),
        };
        return proto_encode_task_heartbeat(&h, NULL, ret_buf, ret_len);
}

void worker_task_log_internal(int level, int error, const WorkerTask *t, const char *file, int line,
                              const char *func, const char *format, ...) {
        if (level > log_get_max_level())
                return;

        char exec[PROTO_MAX_ID_BYTES + 16], state[PROTO_MAX_ID_BYTES + 16], task_id[PROTO_MAX_ID_BYTES + 16],
                image[300], op[PROTO_MAX_ID_BYTES + 16], attempt[32];
        const char *fields[8];
        size_t n = 0;
        const ProtoTask *task = t->task;

        if (task->execution_id) {
                snprintf(exec, sizeof(exec), "EXECUTION_ID=%s", task->execution_id);
                fields[n++] = exec;
        }
        if (task->state) {
                snprintf(state, sizeof(state), "STATE_NAME=%s", task->state);
                fields[n++] = state;
        }
        if (task->task_id) {
                snprintf(task_id, sizeof(task_id), "TASK_ID=%s", task->task_id);
                fields[n++] = task_id;
        }
        if (t->image_key) {
                snprintf(image, sizeof(image), "IMAGE_KEY=%s", t->image_key);
                fields[n++] = image;
        }
        snprintf(op, sizeof(op), "OPERATION=%s", worker_task_operation(t));
        fields[n++] = op;
        snprintf(attempt, sizeof(attempt), "ATTEMPT=%" PRIi64, task->attempt);
        fields[n++] = attempt;
        fields[n] = NULL;

        va_list ap;
        va_start(ap, format);
        log_internalv(level, error, fields, file, line, func, format, ap);
        va_end(ap);
}

const char *worker_task_outcome_to_string(WorkerTaskOutcome o) {
        static const char *const names[_WORKER_TASK_OUTCOME_MAX] = {
                [WORKER_TASK_PENDING] = "pending",
                [WORKER_TASK_SUCCEEDED] = "succeeded",
                [WORKER_TASK_FAILED] = "failed",
                [WORKER_TASK_EXPIRED] = "expired",
        };
        return o >= 0 && o < _WORKER_TASK_OUTCOME_MAX ? names[o] : "unknown";
}
