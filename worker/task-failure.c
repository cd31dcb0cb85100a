/* SPDX-License-Identifier: MIT */

/* Task failures as values: see task-failure.h. */

#include "task-failure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void task_failure_clear(TaskFailure *f) {
        if (!f)
                return;
        free(f->error);
        free(f->cause);
        f->error = f->cause = NULL;
}

int task_failure_setv(TaskFailure *f, int r, const char *error, const char *cause_fmt, va_list ap) {
        if (!f)
                return r;
        task_failure_clear(f);
        f->error = strdup(error ? error : "States.TaskFailed");
        if (cause_fmt) {
                char *c = NULL;
                if (vasprintf(&c, cause_fmt, ap) >= 0) {
                        if (strlen(c) > TASK_FAILURE_CAUSE_MAX)
                                c[TASK_FAILURE_CAUSE_MAX] = '\0';
                        f->cause = c;
                }
        }
        return r;
}

int task_failure_set(TaskFailure *f, int r, const char *error, const char *cause_fmt, ...) {
        va_list ap;
        va_start(ap, cause_fmt);
        r = task_failure_setv(f, r, error, cause_fmt, ap);
        va_end(ap);
        return r;
}
