/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Resource mapping: the Resource of a Task state -> an operation and the
 * topic it is dispatched on, so an existing Step Functions definition runs
 * unchanged once its Lambda functions are mapped ([resources] in the
 * configuration: `ValidateImage = image.validate`, `Notify = pool:notifier`).
 *
 *   imgflow:<op>                                   op on <prefix>tasks
 *   imgflow:pool:<pool>                            <prefix>tasks.<pool>
 *   arn:aws:states:<r>:<a>:activity:<name>         the activity's queue in Redis, for
 *                                                  GetActivityTask callers (imgflow-api),
 *                                                  unless [resources] maps the ARN
 *   arn:aws:lambda:<r>:<a>:function:<Name>[:alias] the mapping of the full ARN
 *                                                  or of <Name>
 *   arn:aws:states:::lambda:invoke                 FunctionName of the input,
 *                                                  mapped as above; Payload is
 *                                                  the task input
 *
 * A target is an operation ("image.validate": <prefix>tasks) or
 * "pool:<pool>" (<prefix>tasks.<pool>, operation = the function name).
 * The suffix .waitForTaskToken is stripped and noted; .sync is stripped.
 *
 * No I/O; the coordinator fills a table at start and builds a new one on
 * SIGHUP, which replaces the old (coordinator-manager.c).
 */

#include <stdbool.h>

#include <jansson.h>

#include "asl-util.h"

#define RESOURCES_MAX 4096
#define RESOURCE_NAME_MAX 2048

typedef struct Resources Resources;

int resources_new(Resources **ret);
Resources *resources_free(Resources *r);
static inline void resources_freep(Resources **r) {
        resources_free(*r);
}

/* Adds name -> target (both copied). -EINVAL for an empty name or target
 * or a target that is not an operation name or "pool:<pool>"; -E2BIG past
 * RESOURCES_MAX. A later add of the same name replaces the earlier one. */
int resources_add(Resources *r, const char *name, const char *target);

/* The number of names mapped. */
size_t resources_count(const Resources *r);

/* Why resources_add() would refuse this target, in words (new string), or
 * NULL when it is a valid target. */
char *resources_target_problem(const char *target);

typedef struct ResourceTarget {
        char *operation;     /* new: the operation the worker runs */
        char *pool;          /* new, NULL: the default tasks topic */
        bool wait_for_token; /* the Resource ended in .waitForTaskToken */
        char *activity;      /* new: an activity's name, for its queue (pool and operation NULL) */
        json_t *input;       /* new reference: the task input (Payload for lambda:invoke) */
} ResourceTarget;

void resource_target_done(ResourceTarget *t);

/* Whether a Task with this Resource goes to an activity's queue (an
 * activity ARN that [resources] does not map). */
bool resources_is_activity_queue(const Resources *r, const char *resource);

/*
 * Resolve a Resource with the task's effective input (borrowed). Returns 0
 * and *ret, or -ENOENT with *ret_cause (new string, "no mapping for
 * resource ...") when the resource cannot be mapped: the task then fails
 * with States.TaskFailed.
 */
int resources_resolve(const Resources *r, const char *resource, json_t *input, ResourceTarget *ret,
                      char **ret_cause);

/*
 * At create-state-machine and update-state-machine (the CLI, imgflow-api,
 * [coordinator] state_machines): every Task state of the definition
 * (borrowed; a valid one, in Parallel branches and Map processors too)
 * whose Resource maps to nothing with this table, as resources_resolve()
 * would find when the task runs, gets a diagnostic at its
 * /States/<name>/Resource naming the state and the resource. A
 * lambda:invoke Task is checked when its FunctionName is in the
 * definition (not FunctionName.$ or an expression). Returns 0, or -EINVAL
 * when it added any.
 */
int resources_check_definition(const Resources *r, json_t *definition, AslDiag *d);
