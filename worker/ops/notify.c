/* SPDX-License-Identifier: MIT */
/*
 * The `notify` operation: build the Notification message (see notify.h).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "notify.h"

static const ParamSpec notify_params[] = {
        {.name = "topic", .type = PARAM_STRING, .has_range = true, .min = 1, .max = PROTO_MAX_TOPIC_BYTES},
        {.name = "id", .type = PARAM_STRING, .has_range = true, .min = 1, .max = PROTO_MAX_ID_BYTES},
        {},
};

static const Operation notify_table[] = {
        {
                .name = OP_NOTIFY_NAME,
                .params = notify_params,
                .fn = NULL, /* runs on the event loop: it only produces a message */
                .summary = "Publish the input as a Notification to <prefix>notifications or params.topic",
        },
};

const Operation *op_notify_table(size_t *ret_n) {
        if (ret_n)
                *ret_n = sizeof(notify_table) / sizeof(notify_table[0]);
        return notify_table;
}

static bool topic_is_legal(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n > PROTO_MAX_TOPIC_BYTES || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '_' || *p == '-'))
                        return false;
        return true;
}

/* Whether topic is one the system itself consumes (jobs, tasks[.pool],
 * events, dlq under the prefix). */
static bool topic_is_reserved(const char *prefix, const char *topic) {
        size_t pl = strlen(prefix);
        if (strncmp(topic, prefix, pl) != 0)
                return false;
        const char *rest = topic + pl;
        return streq(rest, "jobs") || streq(rest, "events") || streq(rest, "dlq") || streq(rest, "tasks") ||
               strncmp(rest, "tasks.", 6) == 0;
}

int op_notify_topics_new(const char *value, const char *prefix, char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        int r;

        if (!prefix)
                prefix = PROTO_TOPIC_PREFIX_DEFAULT;
        l = calloc(OP_NOTIFY_TOPICS_MAX + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (const char *p = value ? value : "";;) {
                size_t len;

                p += strspn(p, " \t,");
                if (!*p)
                        break;
                len = strcspn(p, " \t,");
                if (n >= OP_NOTIFY_TOPICS_MAX) {
                        if (ret_error &&
                            asprintf(ret_error, "more than %d topics", OP_NOTIFY_TOPICS_MAX) < 0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
                l[n] = strndup(p, len);
                if (!l[n])
                        return -ENOMEM;
                if (!topic_is_legal(l[n]) || topic_is_reserved(prefix, l[n])) {
                        if (ret_error &&
                            asprintf(
                                    ret_error, "\"%s\" is %s", l[n],
                                    topic_is_legal(l[n])
                                            ? "one of imgflow's own topics"
                                            : "not a Kafka topic name ([A-Za-z0-9._-], at most 249 bytes)") <
                                    0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
                n++;
                p += len;
        }
        if (n == 0) {
                r = proto_topic_name(prefix, PROTO_TOPIC_NOTIFICATIONS, NULL, &l[0]);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static bool topic_is_allowed(char *const *allowed, const char *topic) {
        for (char *const *a = allowed; a && *a; a++)
                if (streq(*a, topic))
                        return true;
        return false;
}

/* "a, b, c" (at most about 200 bytes, then "..."): for causes. */
static void topics_join(char *const *allowed, char *buf, size_t size) {
        size_t o = 0;

        buf[0] = '\0';
        for (char *const *a = allowed; a && *a; a++) {
                int k = snprintf(buf + o, size - o, "%s%s", a == allowed ? "" : ", ", *a);
                if (k < 0 || (size_t) k >= size - o) {
                        snprintf(buf + (size > 4 ? size - 4 : 0), size > 4 ? 4 : size, "...");
                        return;
                }
                o += (size_t) k;
        }
}

int op_notify_build(const ProtoTask *task, const char *prefix, char *const *allowed, const ProtoLimits *lim,
                    char **ret_topic, char **ret_buf, size_t *ret_len, char **ret_id, TaskFailure *f) {
        _cleanup_strv_free_ char **defaults = NULL;

        if (!prefix)
                prefix = PROTO_TOPIC_PREFIX_DEFAULT;

        json_t *input = task->input;
        json_t *t = json_is_object(input) ? json_object_get(input, "topic") : NULL;
        char *topic = NULL;
        int r;

        if (!allowed) {
                r = op_notify_topics_new(NULL, prefix, &defaults, NULL);
                if (r < 0)
                        return task_failure_set(f, r, r == -ENOMEM ? "States.Runtime" : "Params.Invalid",
                                                "bad topic prefix %s", prefix);
                allowed = defaults;
        }

        if (t && !json_is_null(t)) {
                if (!json_is_string(t) || !topic_is_legal(json_string_value(t)))
                        return task_failure_set(
                                f, -EINVAL, "Params.Invalid",
                                "topic: must be a Kafka topic name ([A-Za-z0-9._-], at most %d bytes)",
                                PROTO_MAX_TOPIC_BYTES);
                if (topic_is_reserved(prefix, json_string_value(t)))
                        return task_failure_set(f, -EPERM, "Params.Invalid",
                                                "topic: %s is one of imgflow's own topics",
                                                json_string_value(t));
                topic = strdup(json_string_value(t));
                if (!topic)
                        return task_failure_set(f, -ENOMEM, "States.Runtime", "out of memory");
        } else {
                r = proto_topic_name(prefix, PROTO_TOPIC_NOTIFICATIONS, NULL, &topic);
                if (r < 0)
                        return task_failure_set(f, r, "Params.Invalid", "bad topic prefix %s", prefix);
        }
        if (!topic_is_allowed(allowed, topic)) {
                char list[256];
                topics_join(allowed, list, sizeof(list));
                r = task_failure_set(
                        f, -EPERM, "Params.Invalid",
                        "topic: %s is not one this worker may publish to (worker.notify_topics: %s)", topic,
                        list);
                free(topic);
                return r;
        }

        json_t *msg = json_is_object(input) ? json_copy(input) : json_object();
        char *id = NULL;
        if (!msg)
                goto oom;
        if (!json_is_object(input) && json_object_set(msg, "message", input ? input : json_null()) < 0)
                goto oom;
        json_object_del(msg, "topic");

        json_t *given = json_object_get(msg, "id");
        if (json_is_string(given) && json_string_length(given) > 0 &&
            json_string_length(given) <= PROTO_MAX_ID_BYTES)
                id = strdup(json_string_value(given));
        else if (asprintf(&id, "%s#%s", task->execution_id ? task->execution_id : "",
                          task->task_id ? task->task_id : "") < 0)
                id = NULL;
        if (!id)
                goto oom;

        if (json_object_set_new(msg, "v", json_integer(PROTO_VERSION)) < 0 ||
            json_object_set_new(msg, "type", json_string("Notification")) < 0 ||
            json_object_set_new(msg, "id", json_string(id)) < 0)
                goto oom;
        if (!json_is_string(json_object_get(msg, "executionId")) && task->execution_id &&
            json_object_set_new(msg, "executionId", json_string(task->execution_id)) < 0)
                goto oom;

        size_t max =
                lim && lim->max_payload_bytes ? lim->max_payload_bytes : PROTO_MAX_PAYLOAD_BYTES_DEFAULT;
        char *buf = json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
        json_decref(msg);
        msg = NULL;
        if (!buf)
                goto oom;
        size_t len = strlen(buf);
        if (len > max) {
                free(buf);
                free(id);
                free(topic);
                return task_failure_set(f, -E2BIG, "States.DataLimitExceeded",
                                        "The notification is %zu bytes, over the limit of %zu", len, max);
        }

        *ret_topic = topic;
        *ret_buf = buf;
        *ret_len = len;
        *ret_id = id;
        return 0;

oom:
        json_decref(msg);
        free(id);
        free(topic);
        return task_failure_set(f, -ENOMEM, "States.Runtime", "out of memory");
}

json_t *op_notify_result(const char *id, const char *topic) {
        return json_pack("{s:s, s:s}", "MessageId", id, "Topic", topic);
}
