/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A task failure is a value (STYLE 6): an error name that ASL Retry/Catch
 * match on ("Image.Invalid", "Storage.NotFound", "Params.Invalid", ...) and a
 * human-readable cause. Worker functions return 0 or -errno and, when the
 * failure is something the task should report, fill a TaskFailure that the
 * caller owns. The strings are owned by the TaskFailure.
 */

#include <stdarg.h>

typedef struct TaskFailure {
        char *error; /* owned; NULL = no failure recorded */
        char *cause; /* owned; may be NULL */
} TaskFailure;

#define TASK_FAILURE_NULL ((TaskFailure) { NULL, NULL })

/* Longest cause kept (bytes); longer causes are truncated. */
#define TASK_FAILURE_CAUSE_MAX 1024

/* Record a failure in *f (may be NULL: then nothing is recorded), replacing
 * any earlier one. Returns r unchanged, so that a caller can write
 * `return task_failure_set(f, -EINVAL, "Params.Invalid", "width: ...");`.
 * The cause is truncated to TASK_FAILURE_CAUSE_MAX bytes. */
int task_failure_set(TaskFailure *f, int r, const char *error, const char *cause_fmt, ...)
        __attribute__((format(printf, 4, 5)));
int task_failure_setv(TaskFailure *f, int r, const char *error, const char *cause_fmt, va_list ap)
        __attribute__((format(printf, 4, 0)));

/* Free the strings and reset to empty. Accepts NULL. */
void task_failure_clear(TaskFailure *f);

/* True when a failure has been recorded. */
static inline int task_failure_is_set(const TaskFailure *f) {
        return f && f->error;
}

static inline void task_failure_clearp(TaskFailure *f) {
        task_failure_clear(f);
}
#define _cleanup_task_failure_ __attribute__((cleanup(task_failure_clearp)))
