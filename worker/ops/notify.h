/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The `notify` operation (the SNS Publish of the seed pipeline): publishes
 * the task input as {"v":1,"type":"Notification", ...} to
 * `<prefix>notifications`, or to the topic named by the input's "topic".
 *
 * It only produces a Kafka message, so the worker daemon runs it on its
 * event loop instead of a pool thread: op_notify_build() makes the message,
 * the daemon produces it, and once the broker acknowledged it the task
 * succeeds with {"MessageId": "<id>", "Topic": "<topic>"}.
 *
 * The message: the input object's members (or {"message": <input>} when the
 * input is not an object) without "topic", plus "v": 1, "type":
 * "Notification", "id" (the input's string "id" if any, else
 * "<executionId>#<taskId>", the same for every attempt so that a listener
 * can drop duplicates) and "executionId" (unless given). Kafka key = the
 * execution id.
 *
 * A "topic" must be a legal Kafka topic name and must not be one of the
 * system's own topics (<prefix>jobs, <prefix>tasks*, <prefix>events,
 * <prefix>dlq): a task cannot inject work or results. Failures:
 * Params.Invalid (bad topic), States.DataLimitExceeded (message too large).
 */

#include <stddef.h>

#include "image-ops.h"
#include "proto.h"
#include "task-failure.h"

#define OP_NOTIFY_NAME "notify"

/* A one-entry table for image_ops_find(): {"notify", params, fn = NULL}. The
 * NULL fn says "runs on the loop". */
const Operation *op_notify_table(size_t *ret_n);

/*
 * Builds the notification for a task. task and prefix (NULL = "imgflow.")
 * borrowed; lim may be NULL. On success: *ret_topic, *ret_buf (the JSON
 * payload, NUL-terminated) and *ret_id are new strings, *ret_len the payload
 * length. On failure returns -errno and fills f.
 */
int op_notify_build(const ProtoTask *task, const char *prefix, const ProtoLimits *lim, char **ret_topic,
                    char **ret_buf, size_t *ret_len, char **ret_id, TaskFailure *f);

/* The task output once the message was delivered: new reference. */
json_t *op_notify_result(const char *id, const char *topic);
