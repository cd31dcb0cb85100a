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
 * The topic (the input's "topic", or <prefix>notifications) must be one of
 * the worker's allow-list, worker.notify_topics (by default
 * <prefix>notifications only), and never one of the system's own topics
 * (<prefix>jobs, <prefix>tasks*, <prefix>events, <prefix>dlq): a task (or a
 * definition that passes its input through) can neither inject work or
 * results nor write to another deployment's or Kafka's own topics
 * (otherdeploy.jobs, __consumer_offsets). Failures: Params.Invalid (a topic
 * that is not a topic name, one of imgflow's own, or not allowed),
 * States.DataLimitExceeded (message too large).
 */

#include <stddef.h>

#include "image-ops.h"
#include "proto.h"
#include "task-failure.h"

#define OP_NOTIFY_NAME "notify"

/* A one-entry table for image_ops_find(): {"notify", params, fn = NULL}. The
 * NULL fn says "runs on the loop". */
const Operation *op_notify_table(size_t *ret_n);

/* Most topics in worker.notify_topics. */
#define OP_NOTIFY_TOPICS_MAX 64

/*
 * The allow-list from the value of worker.notify_topics (value and prefix
 * borrowed; prefix NULL = "imgflow."): topic names separated by spaces or
 * commas; empty: <prefix>notifications. *ret: a new NULL-terminated list
 * (strv_free()). -EINVAL with *ret_error (new string) naming the entry that
 * is not a topic name or is one of imgflow's own topics, or when there are
 * more than OP_NOTIFY_TOPICS_MAX; -ENOMEM.
 */
int op_notify_topics_new(const char *value, const char *prefix, char ***ret, char **ret_error);

/*
 * Builds the notification for a task. task, prefix (NULL = "imgflow.") and
 * allowed (from op_notify_topics_new(); NULL = <prefix>notifications only)
 * borrowed; lim may be NULL. On success: *ret_topic, *ret_buf (the JSON
 * payload, NUL-terminated) and *ret_id are new strings, *ret_len the payload
 * length. On failure returns -errno and fills f.
 */
int op_notify_build(const ProtoTask *task, const char *prefix, char *const *allowed, const ProtoLimits *lim,
                    char **ret_topic, char **ret_buf, size_t *ret_len, char **ret_id, TaskFailure *f);

/* The task output once the message was delivered: new reference. */
json_t *op_notify_result(const char *id, const char *topic);
