/* SPDX-License-Identifier: MIT */
/*
 * The apply step (coordinator/apply.c): engine effects -> the operations
 * of one exec_commit. Pure: no Redis needed; the commit's ops document is
 * checked directly.
 */

#include <inttypes.h>
#include <string.h>

#include "apply.h"
#include "test.h"

static void fake_random(void *userdata, void *buf, size_t n) {
        unsigned *counter = userdata;
        unsigned char *p = buf;
        for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char) ((*counter)++ * 31 + 7);
}

static unsigned rnd;

static AslEnv env_at(int64_t ms) {
        return (AslEnv) { .now_ms = ms, .random = fake_random, .random_userdata = &rnd };
}

static AslMachine *machine(const char *text) {
        AslMachine *m = NULL;
        AslDiag d = {};
        int r = asl_machine_parse(text, strlen(text), &m, &d);
        if (r < 0 && d.n)
                fprintf(stderr, "%s: %s\n", d.entries[0].pointer, d.entries[0].message);
        asl_diag_clear(&d);
        ASSERT_INT_EQ(r, 0);
        return m;
}

/* The outbox item with that prefix ("task:", "notify:SUCCEEDED"): its topic
 * and decoded payload (new reference), or NULL. */
static json_t *outbox_find(StoreCommit *c, const char *prefix, char **ret_topic) {
        json_t *item;
        size_t i;

        json_array_foreach(json_object_get(store_commit_ops(c), "outbox"), i, item) {
                const char *id = json_string_value(json_array_get(item, 0));
                const char *v = json_string_value(json_array_get(item, 1));
                char *topic = NULL, *payload = NULL;
                json_t *j;

                if (strncmp(id, prefix, strlen(prefix)) != 0)
                        continue;
                ASSERT_INT_EQ(store_outbox_value_split(v, strlen(v), &topic, &payload), 0);
                j = json_loads(payload, 0, NULL);
                free(payload);
                if (ret_topic)
                        *ret_topic = topic;
                else
                        free(topic);
                return j;
        }
        return NULL;
}

static StoreExecState state_after(StoreCommit *c, json_t *doc, const char *name, int64_t start) {
        return (StoreExecState) {
                .doc = json_incref(doc),
                .version = c->expected_version + 1,
                .state_machine = strdup("sm"),
                .sm_version = 1,
                .status = strdup(c->status),
                .name = strdup(name),
                .start_ms = start,
        };
}

static json_t *doc_of(StoreCommit *c) {
        return json_loads(c->doc, 0, NULL);
}

static const char task_def[] =
        "{\"StartAt\":\"Resize\",\"States\":{\"Resize\":{\"Type\":\"Task\","
        "\"Resource\":\"imgflow:image.resize\","
        "\"Retry\":[{\"ErrorEquals\":[\"Image.Busy\"],\"IntervalSeconds\":2,\"MaxAttempts\":1}],"
        "\"End\":true}}}";

TEST(start_retry_succeed) {
        _cleanup_machine_ AslMachine *m = machine(task_def);
        ApplyConfig cfg = { .retention_sec = 100 };
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *input = json_pack("{s:i}", "width", 64), *task, *doc, *n;
        char *topic = NULL;
        StoreExecState st;
        const char *task_id;
        char *tid0;

        json_t *created = NULL;
        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "run", input, "req-1", &env, &c, &created, &err), 0);
        ASSERT_INT_EQ(c->expected_version, 0);
        {
                /* The document handed back is the one the commit stores. */
                char *text = json_writer_dumps(created);
                ASSERT_STR_EQ(text, c->doc);
                free(text);
                json_decref(created);
        }
        ASSERT_STR_EQ(c->exec_id, "sm:run");
        ASSERT_STR_EQ(c->status, "RUNNING");
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(store_commit_ops(c), "create"), "input")), "{\"width\":64}");
        ASSERT_NOT_NULL(json_object_get(store_commit_ops(c), "response"));

        n = outbox_find(c, "notify:RUNNING", &topic);
        ASSERT_NOT_NULL(n);
        ASSERT_STR_EQ(topic, "imgflow.notifications");
        ASSERT_STR_EQ(json_string_value(json_object_get(n, "id")), "sm:run#RUNNING");
        free(topic);
        json_decref(n);

        task = outbox_find(c, "task:", &topic);
        ASSERT_NOT_NULL(task);
        ASSERT_STR_EQ(topic, "imgflow.tasks");
        free(topic);
        ASSERT_STR_EQ(json_string_value(json_object_get(task, "type")), "Task");
        ASSERT_STR_EQ(json_string_value(json_object_get(task, "executionId")), "sm:run");
        ASSERT_STR_EQ(json_string_value(json_object_get(task, "operation")), "image.resize");
        ASSERT_STR_EQ(json_string_value(json_object_get(task, "resource")), "imgflow:image.resize");
        ASSERT_STR_EQ(json_string_value(json_object_get(task, "state")), "Resize");
        ASSERT_INT_EQ(json_integer_value(json_object_get(task, "attempt")), 0);
        ASSERT_JSON_EQ(json_object_get(task, "input"), "{\"width\":64}");
        task_id = json_string_value(json_object_get(task, "taskId"));
        ASSERT_NOT_NULL(task_id);
        tid0 = strdup(task_id);
        json_decref(task);

        /* Attempt 0 fails with a retryable error: a retry timer, the task closed. */
        doc = doc_of(c);
        st = state_after(c, doc, "run", 1000);
        store_commit_free(c);
        c = NULL;
        env = env_at(2000);
        AslEvent failed = { .type = ASL_EVENT_TASK_FAILED, .task_id = tid0, .error = "Image.Busy", .cause = "busy" };
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:run", &failed, NULL, &env, &c, &err), 0);
        ASSERT_INT_EQ(c->expected_version, 1);
        ASSERT_INT_EQ(json_array_size(json_object_get(store_commit_ops(c), "timers")), 1);
        ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(store_commit_ops(c), "closeTasks"), 0)), tid0);
        ASSERT_INT_EQ(atoll(json_string_value(json_array_get(json_array_get(json_object_get(store_commit_ops(c), "timers"), 0), 1))), 4000);
        const char *timer_id = json_string_value(json_array_get(json_array_get(json_object_get(store_commit_ops(c), "timers"), 0), 0));
        char *tmr = strdup(timer_id);
        ASSERT_NULL(outbox_find(c, "task:", NULL));

        /* The same failure again: stale, nothing to commit. */
        json_decref(doc);
        doc = doc_of(c);
        store_exec_state_done(&st);
        st = state_after(c, doc, "run", 1000);
        store_commit_free(c);
        c = NULL;
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:run", &failed, NULL, &env, &c, &err), 1);
        ASSERT_NULL(c);
        asl_error_clear(&err);

        /* The timer fires: attempt 1 is dispatched. */
        env = env_at(4000);
        AslEvent fired = { .type = ASL_EVENT_TIMER_FIRED, .timer_id = tmr };
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:run", &fired, NULL, &env, &c, &err), 0);
        task = outbox_find(c, "task:", NULL);
        ASSERT_NOT_NULL(task);
        ASSERT_INT_EQ(json_integer_value(json_object_get(task, "attempt")), 1);
        char *tid1 = strdup(json_string_value(json_object_get(task, "taskId")));
        ASSERT_FALSE(streq(tid0, tid1));
        json_decref(task);

        /* Success: terminal, output stored, notification, retention. */
        json_decref(doc);
        doc = doc_of(c);
        store_exec_state_done(&st);
        st = state_after(c, doc, "run", 1000);
        store_commit_free(c);
        c = NULL;
        env = env_at(5000);
        json_t *out = json_pack("{s:s}", "key", "out/cat.jpg");
        AslEvent ok = { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid1, .output = out };
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:run", &ok, NULL, &env, &c, &err), 0);
        ASSERT_STR_EQ(c->status, "SUCCEEDED");
        ASSERT_INT_EQ(c->stop_ms, 5000);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(store_commit_ops(c), "terminal"), "retention")), "100");
        n = outbox_find(c, "notify:SUCCEEDED", NULL);
        ASSERT_NOT_NULL(n);
        ASSERT_JSON_EQ(json_object_get(n, "output"), "{\"key\":\"out/cat.jpg\"}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(n, "startDate")), 1000);
        json_decref(n);
        ASSERT_TRUE(json_array_size(json_object_get(store_commit_ops(c), "history")) > 0);

        /* A late duplicate of the result after the end: nothing. */
        json_decref(doc);
        doc = doc_of(c);
        store_exec_state_done(&st);
        st = state_after(c, doc, "run", 1000);
        store_commit_free(c);
        c = NULL;
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:run", &ok, NULL, &env, &c, &err), 1);
        ASSERT_NULL(c);

        asl_error_clear(&err);
        store_exec_state_done(&st);
        json_decref(doc);
        json_decref(out);
        json_decref(input);
        free(tid0);
        free(tid1);
        free(tmr);
}

TEST(unmapped_resource_fails_the_task) {
        _cleanup_machine_ AslMachine *m = machine(
                "{\"StartAt\":\"Call\",\"States\":{\"Call\":{\"Type\":\"Task\","
                "\"Resource\":\"arn:aws:lambda:us-east-1:1:function:Nope\",\"End\":true}}}");
        ApplyConfig cfg = {};
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *n;

        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "um", NULL, NULL, &env, &c, NULL, &err), 0);
        ASSERT_STR_EQ(c->status, "FAILED");
        ASSERT_NULL(outbox_find(c, "task:", NULL));
        n = outbox_find(c, "notify:FAILED", NULL);
        ASSERT_NOT_NULL(n);
        ASSERT_STR_EQ(json_string_value(json_object_get(n, "error")), "States.TaskFailed");
        ASSERT_TRUE(strstr(json_string_value(json_object_get(n, "cause")), "no mapping for resource") != NULL);
        json_decref(n);
        store_commit_free(c);
}

/* The configured execution role reaches $$.Execution.RoleArn; without one it is derived. */
TEST(execution_role_arn) {
        _cleanup_machine_ AslMachine *m =
                machine("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\","
                        "\"Parameters\":{\"role.$\":\"$$.Execution.RoleArn\"},\"End\":true}}}");
        ApplyConfig cfg = {.role_arn = "arn:aws:iam::123456789012:role/imgflow"};
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *doc;

        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "r1", NULL, NULL, &env, &c, NULL, &err), 0);
        doc = doc_of(c);
        ASSERT_JSON_EQ(json_object_get(doc, "output"),
                       "{\"role\":\"arn:aws:iam::123456789012:role/imgflow\"}");
        json_decref(doc);
        store_commit_free(c);

        cfg.role_arn = NULL;
        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "r2", NULL, NULL, &env, &c, NULL, &err), 0);
        doc = doc_of(c);
        ASSERT_JSON_EQ(json_object_get(doc, "output"), "{\"role\":\"imgflow:role:sm\"}");
        json_decref(doc);
        store_commit_free(c);
}

TEST(pools_lambda_and_tokens) {
        _cleanup_machine_ AslMachine *m = machine(
                "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":["
                "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"Resource\":"
                "\"arn:aws:lambda:us-east-1:1:function:Notify\",\"End\":true}}},"
                "{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Task\",\"Resource\":"
                "\"imgflow:pool:approvers.waitForTaskToken\",\"End\":true}}}]}}}");
        _cleanup_(resources_freep) Resources *res = NULL;
        ApplyConfig cfg = { .topic_prefix = "x." };
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *item;
        size_t i;
        int pool_tasks = 0, token_tasks = 0;

        ASSERT_INT_EQ(resources_new(&res), 0);
        ASSERT_INT_EQ(resources_add(res, "Notify", "pool:notifier"), 0);
        cfg.resources = res;
        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "pl", NULL, NULL, &env, &c, NULL, &err), 0);
        json_array_foreach(json_object_get(store_commit_ops(c), "outbox"), i, item) {
                const char *v = json_string_value(json_array_get(item, 1));
                char *topic = NULL, *payload = NULL;
                json_t *t;

                if (strncmp(json_string_value(json_array_get(item, 0)), "task:", 5) != 0)
                        continue;
                ASSERT_INT_EQ(store_outbox_value_split(v, strlen(v), &topic, &payload), 0);
                t = json_loads(payload, 0, NULL);
                if (streq(topic, "x.tasks.notifier")) {
                        ASSERT_STR_EQ(json_string_value(json_object_get(t, "operation")), "Notify");
                        /* Branch 0 of P: the Task message says where it runs. */
                        ASSERT_STR_EQ(json_string_value(json_object_get(t, "indexPath")), "0");
                        pool_tasks++;
                } else {
                        ASSERT_STR_EQ(topic, "x.tasks.approvers");
                        ASSERT_STR_EQ(json_string_value(json_object_get(t, "indexPath")), "1");
                        const char *tok = json_string_value(json_object_get(t, "taskToken"));
                        ASSERT_NOT_NULL(tok);
                        ASSERT_TRUE(strlen(tok) >= 22);
                        /* The token is registered in the same commit. */
                        json_t *tk = json_array_get(json_object_get(store_commit_ops(c), "tokens"), 0);
                        ASSERT_STR_EQ(json_string_value(json_array_get(tk, 1)), tok);
                        ASSERT_STR_EQ(json_string_value(json_array_get(tk, 0)),
                                      json_string_value(json_object_get(t, "taskId")));
                        token_tasks++;
                }
                json_decref(t);
                free(topic);
                free(payload);
        }
        ASSERT_INT_EQ(pool_tasks, 1);
        ASSERT_INT_EQ(token_tasks, 1);
        store_commit_free(c);
}

/* The token of a task, from the commit's "tokens" op (borrowed) and its task id. */
static const char *commit_token(StoreCommit *c, const char **ret_task_id) {
        json_t *tk = json_array_get(json_object_get(store_commit_ops(c), "tokens"), 0);

        if (ret_task_id)
                *ret_task_id = json_string_value(json_array_get(tk, 0));
        return json_string_value(json_array_get(tk, 1));
}

/* A timer of the document by kind ("heartbeat", "retry"); new string or NULL. */
static char *doc_timer(json_t *doc, const char *kind) {
        const char *id;
        json_t *t;

        json_object_foreach(json_object_get(doc, "timers"), id, t)
                if (streq(json_string_value(json_object_get(t, "kind")) ?: "", kind))
                        return strdup(id);
        return NULL;
}

/* Closed tasks leave a record of their token: TaskTimedOut for the attempt
 * whose heartbeat ran out, TaskDoesNotExist once a callback closed it; a
 * callback with a request id gets its response in the same commit. */
TEST(callback_token_records_and_responses) {
        _cleanup_machine_ AslMachine *m = machine(
                "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Task\","
                "\"Resource\":\"imgflow:pool:r.waitForTaskToken\",\"TimeoutSeconds\":100,"
                "\"HeartbeatSeconds\":5,\"Retry\":[{\"ErrorEquals\":[\"States.HeartbeatTimeout\"],"
                "\"IntervalSeconds\":1,\"MaxAttempts\":1}],\"End\":true}}}");
        ApplyConfig cfg = { .retention_sec = 100 };
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        StoreExecState st;
        json_t *doc, *rec, *ts;
        char *t0, *task0, *t1, *task1, *timer;
        const char *s, *id;

        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "hb", NULL, NULL, &env, &c, NULL, &err), 0);
        s = commit_token(c, &id);
        ASSERT_NOT_NULL(s);
        ASSERT_INT_EQ(strlen(s), 32); /* 128 bits */
        t0 = strdup(s);
        task0 = strdup(id);
        ASSERT_NULL(json_object_get(store_commit_ops(c), "tombstones"));

        /* The heartbeat runs out: the attempt's token is recorded as timed out. */
        doc = doc_of(c);
        timer = doc_timer(doc, "heartbeat");
        ASSERT_NOT_NULL(timer);
        st = state_after(c, doc, "hb", 1000);
        store_commit_free(c);
        c = NULL;
        env = env_at(6000);
        AslEvent fired = { .type = ASL_EVENT_TIMER_FIRED, .timer_id = timer };
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:hb", &fired, NULL, &env, &c, &err), 0);
        ts = json_object_get(store_commit_ops(c), "tombstones");
        ASSERT_INT_EQ(json_array_size(ts), 1);
        ASSERT_STR_EQ(json_string_value(json_array_get(json_array_get(ts, 0), 0)), t0);
        ASSERT_STR_EQ(json_string_value(json_array_get(json_array_get(ts, 0), 2)), "100");
        rec = json_loads(json_string_value(json_array_get(json_array_get(ts, 0), 1)), 0, NULL);
        ASSERT_STR_EQ(json_string_value(json_object_get(rec, "closed")), "TaskTimedOut");
        ASSERT_STR_EQ(json_string_value(json_object_get(rec, "executionId")), "sm:hb");
        ASSERT_STR_EQ(json_string_value(json_object_get(rec, "taskId")), task0);
        json_decref(rec);
        free(timer);
        json_decref(doc);
        store_exec_state_done(&st);

        /* The retry: a new attempt with a new token. */
        doc = doc_of(c);
        timer = doc_timer(doc, "retry");
        ASSERT_NOT_NULL(timer);
        st = state_after(c, doc, "hb", 1000);
        store_commit_free(c);
        c = NULL;
        env = env_at(7000);
        fired.timer_id = timer;
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:hb", &fired, NULL, &env, &c, &err), 0);
        s = commit_token(c, &id);
        ASSERT_NOT_NULL(s);
        ASSERT_TRUE(!streq(s, t0));
        t1 = strdup(s);
        task1 = strdup(id);
        ASSERT_NULL(json_object_get(store_commit_ops(c), "tombstones"));
        free(timer);
        json_decref(doc);
        store_exec_state_done(&st);

        /* The old token does not complete the new attempt. */
        doc = doc_of(c);
        st = state_after(c, doc, "hb", 1000);
        AslEvent stale = { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = task1, .token = t0, .output = json_object() };
        StoreCommit *none = NULL;
        ASSERT_TRUE(apply_event(&cfg, m, &st, "sm:hb", &stale, "rq-0", &env, &none, &err) != 0);
        ASSERT_NULL(none);
        asl_error_clear(&err);
        json_decref(stale.output);
        store_exec_state_done(&st);

        /* SendTaskSuccess with the new token: closed, recorded, answered. */
        st = state_after(c, doc, "hb", 1000);
        store_commit_free(c);
        c = NULL;
        AslEvent ok = { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = task1, .token = t1, .output = json_object() };
        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:hb", &ok, "rq-1", &env, &c, &err), 0);
        ASSERT_STR_EQ(c->status, "SUCCEEDED");
        ts = json_object_get(store_commit_ops(c), "tombstones");
        ASSERT_INT_EQ(json_array_size(ts), 1);
        ASSERT_STR_EQ(json_string_value(json_array_get(json_array_get(ts, 0), 0)), t1);
        rec = json_loads(json_string_value(json_array_get(json_array_get(ts, 0), 1)), 0, NULL);
        ASSERT_STR_EQ(json_string_value(json_object_get(rec, "closed")), "TaskDoesNotExist");
        json_decref(rec);
        rec = json_loads(json_string_value(json_array_get(json_object_get(store_commit_ops(c), "response"), 1)), 0, NULL);
        ASSERT_STR_EQ(json_string_value(json_object_get(rec, "type")), "SendTaskSuccessResponse");
        ASSERT_TRUE(json_is_true(json_object_get(rec, "ok")));
        ASSERT_STR_EQ(json_string_value(json_object_get(rec, "requestId")), "rq-1");
        json_decref(rec);
        json_decref(ok.output);
        json_decref(doc);
        store_exec_state_done(&st);
        store_commit_free(c);
        free(t0);
        free(t1);
        free(task0);
        free(task1);
}

/* A Task on an activity: a token is issued as for .waitForTaskToken, and
 * the task goes to the activity's queue in the same commit, not to Kafka;
 * its worker answers with the token. With the ARN mapped to a pool the
 * task goes to that pool, whose worker may answer by task id. */
TEST(activity_tasks) {
        _cleanup_machine_ AslMachine *m = machine(
                "{\"StartAt\":\"Ask\",\"States\":{\"Ask\":{\"Type\":\"Task\","
                "\"Resource\":\"arn:aws:states:us-east-1:123456789012:activity:review\","
                "\"Parameters\":{\"q.$\":\"$.q\"},\"End\":true}}}");
        _cleanup_(resources_freep) Resources *res = NULL;
        _cleanup_json_ json_t *input = json_pack("{s:s}", "q", "ok?");
        ApplyConfig cfg = { .topic_prefix = "x." };
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        StoreExecState st;
        json_t *act, *msg, *doc;
        const char *token, *task_id, *item, *nl;

        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "ac", input, NULL, &env, &c, NULL, &err), 0);
        ASSERT_NULL(outbox_find(c, "task:", NULL));
        act = json_object_get(store_commit_ops(c), "activities");
        ASSERT_INT_EQ(json_array_size(act), 1);
        ASSERT_STR_EQ(json_string_value(json_array_get(json_array_get(act, 0), 0)), "review");
        token = commit_token(c, &task_id);
        ASSERT_NOT_NULL(token);
        item = json_string_value(json_array_get(json_array_get(act, 0), 1));
        nl = strchr(item, '\n');
        ASSERT_NOT_NULL(nl);
        ASSERT_INT_EQ((size_t) (nl - item), strlen(token));
        ASSERT_TRUE(strncmp(item, token, strlen(token)) == 0);
        msg = json_loads(nl + 1, 0, NULL);
        ASSERT_STR_EQ(json_string_value(json_object_get(msg, "taskToken")), token);
        ASSERT_STR_EQ(json_string_value(json_object_get(msg, "operation")), "review");
        ASSERT_JSON_EQ(json_object_get(msg, "input"), "{\"q\":\"ok?\"}");
        json_decref(msg);

        /* A result by task id alone does not complete it; with the token it does. */
        doc = doc_of(c);
        st = state_after(c, doc, "ac", 1000);
        {
                _cleanup_free_ char *tok = strdup(token), *tid = strdup(task_id);
                AslEvent by_id = { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .output = json_object() };
                AslEvent by_token = { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .token = tok,
                                      .output = json_object() };
                StoreCommit *none = NULL;

                store_commit_free(c);
                c = NULL;
                ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:ac", &by_id, NULL, &env, &none, &err), 1);
                ASSERT_NULL(none);
                ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:ac", &by_token, NULL, &env, &c, &err), 0);
                ASSERT_STR_EQ(c->status, "SUCCEEDED");
                json_decref(by_id.output);
                json_decref(by_token.output);
        }
        store_exec_state_done(&st);
        json_decref(doc);
        store_commit_free(c);
        c = NULL;

        /* Mapped to a pool: the pool's topic, and a result by task id counts. */
        ASSERT_INT_EQ(resources_new(&res), 0);
        ASSERT_INT_EQ(resources_add(res, "arn:aws:states:us-east-1:123456789012:activity:review", "pool:people"), 0);
        cfg.resources = res;
        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "ap", input, NULL, &env, &c, NULL, &err), 0);
        ASSERT_NULL(json_object_get(store_commit_ops(c), "activities"));
        {
                char *topic = NULL;
                json_t *t = outbox_find(c, "task:", &topic);
                const char *tid;

                ASSERT_NOT_NULL(t);
                ASSERT_STR_EQ(topic, "x.tasks.people");
                free(topic);
                doc = doc_of(c);
                st = state_after(c, doc, "ap", 1000);
                tid = json_string_value(json_object_get(t, "taskId"));
                AslEvent by_id = { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .output = json_object() };
                store_commit_free(c);
                c = NULL;
                ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:ap", &by_id, NULL, &env, &c, &err), 0);
                ASSERT_STR_EQ(c->status, "SUCCEEDED");
                json_decref(by_id.output);
                json_decref(t);
                store_exec_state_done(&st);
                json_decref(doc);
        }
        store_commit_free(c);
}

/* The ops text exec_commit gets (docs/redis.md): adds and deletes of the
 * same id cancel, the history and the outbox values travel as arguments of
 * their own, and a string that is not UTF-8 fails the call. */
TEST(commit_call_ops_text) {
        _cleanup_json_ json_t *doc = json_pack("{s:s}", "status", "RUNNING");
        _cleanup_(store_call_done) StoreCall call = {};
        StoreCommit *c = NULL;

        ASSERT_INT_EQ(store_commit_new("sm:a", 3, 1234, &c), 0);
        store_commit_set_doc(c, doc, "RUNNING");
        store_commit_add_outbox(c, "task:1", "t", "{\"n\":1}", NULL);
        store_commit_add_outbox(c, "task:2", "t", "{\"n\":2}", NULL);
        store_commit_del_outbox(c, "task:1");
        store_commit_del_outbox(c, "task:9");
        store_commit_add_outbox(c, "task:9", "t", "{\"n\":9}", NULL);
        store_commit_add_timer(c, "w-1", 500);
        store_commit_add_timer(c, "w-1", 700);
        store_commit_add_timer(c, "w-2", 800);
        store_commit_del_timer(c, "w-2");
        store_commit_add_token(c, "t\"1", "tok");
        store_commit_close_task(c, "t0");
        store_commit_set_field(c, "error", "E");
        store_commit_take_history(c, strdup("{\"type\":\"x\"}"), 12);
        store_commit_set_terminal(c, 2000, 60);
        ASSERT_INT_EQ(store_commit_call(c, &call), 0);
        ASSERT_INT_EQ(call.keys.n, 10);
        ASSERT_INT_EQ(call.args.n, 6);
        ASSERT_STR_EQ(call.args.argv[0], "3");
        ASSERT_STR_EQ(call.args.argv[1],
                      "{\"execId\":\"sm:a\",\"now\":\"1234\",\"fields\":[[\"error\",\"E\"]],"
                      "\"outboxDel\":[\"task:1\"],\"timers\":[[\"w-1\",\"700\"]],\"timersDel\":[\"w-2\"],"
                      "\"tokens\":[[\"t\\\"1\",\"tok\",\"{\\\"executionId\\\":\\\"sm:a\\\",\\\"taskId\\\":\\\"t\\\\\\\"1\\\"}\"]],"
                      "\"closeTasks\":[\"t0\"],\"terminal\":{\"stopDate\":\"2000\",\"retention\":\"60\"},"
                      "\"outbox\":[\"task:2\",\"task:9\"],\"historyN\":\"1\",\"status\":\"RUNNING\","
                      "\"historyCap\":\"25000\"}");
        ASSERT_STR_EQ(call.args.argv[2], "{\"status\":\"RUNNING\"}");
        ASSERT_STR_EQ(call.args.argv[3], "{\"type\":\"x\"}");
        ASSERT_STR_EQ(call.args.argv[4], "t\n{\"n\":2}");
        ASSERT_STR_EQ(call.args.argv[5], "t\n{\"n\":9}");
        /* The same, as a JSON tree with everything in it. */
        ASSERT_INT_EQ(json_array_size(json_object_get(store_commit_ops(c), "outbox")), 2);
        ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(store_commit_ops(c), "history"), 0)),
                      "{\"type\":\"x\"}");
        store_call_done(&call);

        /* A version 0 commit needs its create. */
        store_commit_free(c);
        ASSERT_INT_EQ(store_commit_new("sm:b", 0, 1, &c), 0);
        store_commit_set_doc(c, doc, "RUNNING");
        ASSERT_INT_EQ(store_commit_call(c, &call), -EINVAL);
        store_commit_set_create(c, "sm", 2, "b", doc, 1);
        ASSERT_INT_EQ(store_commit_call(c, &call), 0);
        ASSERT_NOT_NULL(strstr(call.args.argv[1], "\"create\":{\"stateMachine\":\"sm\",\"smVersion\":\"2\","
                                                  "\"name\":\"b\",\"input\":\"{\\\"status\\\":\\\"RUNNING\\\"}\","
                                                  "\"startDate\":\"1\"}"));
        store_call_done(&call);

        /* Not UTF-8: a clear error, not a wrong document. */
        store_commit_close_task(c, "bad\xff");
        ASSERT_INT_EQ(store_commit_call(c, &call), -EILSEQ);
        store_commit_free(c);
}

/* RedriveExecution: the commit reopens the execution, counts the redrive,
 * publishes RUNNING under an id of its own, dispatches the failed Task
 * again and answers the request; a refusal builds no commit. */
TEST(redrive) {
        _cleanup_machine_ AslMachine *m = machine(task_def);
        ApplyConfig cfg = {.retention_sec = 100};
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *doc, *task, *n, *ops, *resp;
        StoreExecState st;
        char *tid;

        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "rd", NULL, NULL, &env, &c, NULL, &err), 0);
        task = outbox_find(c, "task:", NULL);
        tid = strdup(json_string_value(json_object_get(task, "taskId")));
        json_decref(task);
        doc = doc_of(c);
        st = state_after(c, doc, "rd", 1000);
        json_decref(doc);
        store_commit_free(c);
        c = NULL;

        /* running: the engine refuses */
        ASSERT_INT_EQ(apply_redrive(&cfg, m, &st, "sm:rd", NULL, "req-r0", &env, &c, &err), -EINVAL);
        ASSERT_STR_EQ(err.error, "ExecutionNotRedrivable");
        ASSERT_NULL(c);
        asl_error_clear(&err);

        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:rd",
                                  &(AslEvent){.type = ASL_EVENT_TASK_FAILED,
                                              .task_id = tid,
                                              .error = "Storage.NotFound"},
                                  NULL, &env, &c, &err),
                      0);
        ASSERT_STR_EQ(c->status, "FAILED");
        ASSERT_NOT_NULL(json_object_get(store_commit_ops(c), "terminal"));
        doc = doc_of(c);
        store_exec_state_done(&st);
        st = state_after(c, doc, "rd", 1000);
        json_decref(doc);
        store_commit_free(c);
        c = NULL;

        env = env_at(5000);
        ASSERT_INT_EQ(apply_redrive(&cfg, m, &st, "sm:rd", "tok-1", "req-r1", &env, &c, &err), 0);
        {
                /* The clientToken answers again as it did, for 15 minutes. */
                int64_t date = 0;

                ASSERT_TRUE(apply_redrive_replay(st.doc, "tok-1", 5000 + 15 * 60 * 1000, &date));
                ASSERT_INT_EQ(date, 5000);
                ASSERT_FALSE(apply_redrive_replay(st.doc, "tok-1", 5001 + 15 * 60 * 1000, &date));
                ASSERT_FALSE(apply_redrive_replay(st.doc, "tok-2", 5000, &date));
                ASSERT_FALSE(apply_redrive_replay(st.doc, NULL, 5000, &date));
        }
        ASSERT_STR_EQ(c->status, "RUNNING");
        ops = store_commit_ops(c);
        ASSERT_STR_EQ(json_string_value(json_object_get(ops, "reopen")), "1");
        ASSERT_NULL(json_object_get(ops, "terminal"));
        ASSERT_JSON_EQ(json_object_get(ops, "fields"),
                       "[[\"redriveCount\",\"1\"],[\"redriveDate\",\"5000\"]]");
        n = outbox_find(c, "notify:RUNNING:1", NULL);
        ASSERT_NOT_NULL(n);
        ASSERT_STR_EQ(json_string_value(json_object_get(n, "id")), "sm:rd#RUNNING#1");
        json_decref(n);
        task = outbox_find(c, "task:", NULL);
        ASSERT_NOT_NULL(task);
        ASSERT_STR_EQ(json_string_value(json_object_get(task, "state")), "Resize");
        ASSERT_FALSE(streq(json_string_value(json_object_get(task, "taskId")), tid));
        json_decref(task);
        resp = json_loads(json_string_value(json_array_get(json_object_get(ops, "response"), 1)), 0, NULL);
        ASSERT_JSON_EQ(resp, "{\"v\":1,\"type\":\"RedriveExecutionResponse\",\"requestId\":\"req-r1\","
                             "\"ok\":true,\"executionId\":\"sm:rd\",\"redriveDate\":5000}");
        json_decref(resp);
        ASSERT_STR_EQ(st.status, "FAILED"); /* the caller updates its copy */
        store_commit_free(c);
        store_exec_state_done(&st);
        free(tid);
}

/* The last 10 clientTokens of successful redrives are kept, no more. */
TEST(redrive_tokens_kept) {
        _cleanup_machine_ AslMachine *m = machine(task_def);
        ApplyConfig cfg = {.retention_sec = 100};
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *doc, *task;
        StoreExecState st;
        int64_t date;

        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "rt", NULL, NULL, &env, &c, NULL, &err), 0);
        doc = doc_of(c);
        st = state_after(c, doc, "rt", 1000);
        json_decref(doc);
        for (int i = 0; i < 11; i++) {
                char tok[16];

                task = outbox_find(c, "task:", NULL);
                char *tid = strdup(json_string_value(json_object_get(task, "taskId")));
                json_decref(task);
                store_commit_free(c);
                c = NULL;
                env = env_at(2000 + i * 10);
                ASSERT_INT_EQ(
                        apply_event(&cfg, m, &st, "sm:rt",
                                    &(AslEvent){.type = ASL_EVENT_TASK_FAILED, .task_id = tid, .error = "E"},
                                    NULL, &env, &c, &err),
                        0);
                free(tid);
                free(st.status);
                st.status = strdup(c->status);
                ASSERT_STR_EQ(st.status, "FAILED");
                store_commit_free(c);
                c = NULL;
                snprintf(tok, sizeof tok, "t%d", i);
                env = env_at(2005 + i * 10);
                ASSERT_INT_EQ(apply_redrive(&cfg, m, &st, "sm:rt", tok, NULL, &env, &c, &err), 0);
                free(st.status);
                st.status = strdup("RUNNING");
        }
        ASSERT_FALSE(apply_redrive_replay(st.doc, "t0", 3000, &date));
        ASSERT_TRUE(apply_redrive_replay(st.doc, "t1", 3000, &date));
        ASSERT_INT_EQ(date, 2015);
        ASSERT_TRUE(apply_redrive_replay(st.doc, "t10", 3000, &date));
        ASSERT_INT_EQ(date, 2105);
        store_commit_free(c);
        store_exec_state_done(&st);
}

/* An EXPRESS machine runs at most 5 minutes: TimeoutSeconds 300 unless
 * smaller, and its start schedules the execution's timeout that far. */
TEST(express_limit) {
        static const char *const defs[] = {
                "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"Next\":\"W\"},"
                "\"W\":{\"Type\":\"Wait\",\"Seconds\":1000,\"End\":true}}}",
                "{\"TimeoutSeconds\":1000,\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1000,"
                "\"End\":true}}}",
                "{\"TimeoutSeconds\":2,\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1000,"
                "\"End\":true}}}",
        };
        static const int64_t want[] = {300, 300, 2};

        for (size_t i = 0; i < ELEMENTSOF(defs); i++) {
                AslMachine *m = machine(defs[i]);
                AslEnv env = env_at(1000000);
                ApplyConfig cfg = {};
                StoreCommit *c = NULL;
                AslError err = {};
                int64_t due = INT64_MAX;

                apply_express_limit(m, 300);
                ASSERT_INT_EQ(json_integer_value(json_object_get(m->definition, "TimeoutSeconds")), want[i]);
                ASSERT_INT_EQ(apply_start(&cfg, m, "x", 1, "e1", NULL, NULL, &env, &c, NULL, &err), 0);
                ASSERT_INT_EQ(c->timers.n, 4); /* the execution's timeout and the Wait */
                for (size_t k = 0; k + 1 < c->timers.n; k += 2)
                        due = MIN_(due, strtoll(c->timers.v[k + 1], NULL, 10));
                /* The first timer is the execution's timeout: the Wait's 1000 s is cut short. */
                ASSERT_INT_EQ(due, 1000000 + want[i] * 1000);
                store_commit_free(c);
                asl_machine_free(m);
        }
}

/* An EXPRESS execution logging OFF (ApplyConfig.in_memory, AslEnv.no_history):
 * the same run as with a history, without the history's texts, the
 * document's text or the ExecutionStatusChanged notifications; the events
 * are still counted. */
TEST(in_memory_no_history) {
        static const char def[] = "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"Resource\":"
                                  "\"imgflow:test.echo\",\"Next\":\"B\"},\"B\":{\"Type\":\"Task\",\"Resource\":"
                                  "\"imgflow:test.echo\",\"End\":true}}}";
        json_int_t events[2] = {};
        char *outputs[2] = {};

        for (int quiet = 0; quiet < 2; quiet++) {
                _cleanup_machine_ AslMachine *m = machine(def);
                ApplyConfig cfg = {.in_memory = quiet};
                AslEnv env = env_at(1000);
                AslError err = {};
                StoreCommit *c = NULL;
                json_t *doc = NULL, *input = json_pack("{s:i}", "n", 7), *task;
                StoreExecState st;
                size_t n_history = 0;

                env.no_history = quiet;
                ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "run", input, NULL, &env, &c, &doc, &err), 0);
                json_decref(input);
                ASSERT_TRUE(quiet ? !c->doc : c->doc != NULL);
                ASSERT_STR_EQ(c->status, "RUNNING");
                n_history += c->n_history;
                task = outbox_find(c, "notify:RUNNING", NULL);
                ASSERT_TRUE(quiet ? !task : task != NULL);
                json_decref(task);
                for (int step = 0; step < 2; step++) {
                        task = outbox_find(c, "task:", NULL);
                        ASSERT_NOT_NULL(task);
                        st = state_after(c, doc, "run", 1000);
                        json_decref(doc);
                        AslEvent ev = {.type = ASL_EVENT_TASK_SUCCEEDED,
                                       .task_id = json_string_value(json_object_get(task, "taskId")),
                                       .output = json_object_get(task, "input")};
                        store_commit_free(c);
                        c = NULL;
                        env.now_ms += 100;
                        ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:run", &ev, NULL, &env, &c, &err), 0);
                        json_decref(task);
                        doc = json_incref(st.doc);
                        store_exec_state_done(&st);
                        n_history += c->n_history;
                }
                ASSERT_STR_EQ(c->status, "SUCCEEDED");
                ASSERT_TRUE(c->stop_ms > 0);
                task = outbox_find(c, "notify:SUCCEEDED", NULL);
                ASSERT_TRUE(quiet ? !task : task != NULL);
                json_decref(task);
                ASSERT_TRUE(quiet ? n_history == 0 : n_history > 0);
                events[quiet] = json_integer_value(json_object_get(doc, "historyId"));
                for (size_t i = 0; i + 1 < c->fields.n; i += 2)
                        if (streq(c->fields.v[i], "output"))
                                outputs[quiet] = strdup(c->fields.v[i + 1]);
                if (!quiet)
                        ASSERT_INT_EQ((json_int_t) n_history, events[0]);
                store_commit_free(c);
                json_decref(doc);
        }
        ASSERT_TRUE(events[0] > 0);
        ASSERT_INT_EQ(events[1], events[0]);
        ASSERT_NOT_NULL(outputs[0]);
        ASSERT_STR_EQ(outputs[1], outputs[0]);
        free(outputs[0]);
        free(outputs[1]);
}

static const char dmap_def[] =
        "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"Label\":\"L\","
        "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"},"
        "\"StartAt\":\"R\",\"States\":{\"R\":{\"Type\":\"Task\",\"Resource\":\"imgflow:image.resize\","
        "\"End\":true}}},"
        "\"End\":true}}}";

TEST(map_child_executions) {
        /* the parent's commit starts its children through the outbox (keyed
         * by the child, on the jobs topic); a child's commit is listed under
         * its run; its final commit tells the parent (keyed by the parent) */
        _cleanup_machine_ AslMachine *m = machine(dmap_def);
        ApplyConfig cfg = {.retention_sec = 100};
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *input = json_pack("{s:[i,i]}", "items", 1, 2), *start, *doc, *ended, *ops, *task;
        char *topic = NULL, *name = NULL, *run_arn = NULL, *tid = NULL;
        StoreExecState st;

        env.map_child_executions = true;
        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "p", input, NULL, &env, &c, NULL, &err), 0);
        ASSERT_NULL(outbox_find(c, "task:", NULL));
        start = outbox_find(c, "child>sm:", &topic);
        ASSERT_NOT_NULL(start);
        ASSERT_STR_EQ(topic, "imgflow.jobs");
        free(topic);
        ASSERT_STR_EQ(json_string_value(json_object_get(start, "type")), "StartExecution");
        ASSERT_STR_EQ(json_string_value(json_object_get(start, "stateMachine")), "sm:1");
        ASSERT_STR_EQ(json_string_value(json_object_get(start, "parentExecutionId")), "sm:p");
        ASSERT_STR_EQ(json_string_value(json_object_get(start, "itemProcessor")), "/States/M/ItemProcessor");
        ASSERT_JSON_EQ(json_object_get(start, "input"), "1");
        ASSERT_INT_EQ(json_integer_value(json_object_get(start, "itemCount")), 1);
        name = strdup(json_string_value(json_object_get(start, "name")));
        run_arn = strdup(json_string_value(json_object_get(start, "mapRunArn")));
        ASSERT_TRUE(strncmp(run_arn, "imgflow:mapRun:sm/L:", 20) == 0);
        json_decref(start);
        store_commit_free(c);
        c = NULL;

        /* the child: its own execution, listed under the run */
        ASSERT_INT_EQ(apply_start_child(&cfg, m, "sm", 1, name,
                                        json_array_get(json_object_get(input, "items"), 0),
                                        &(ApplyChild){.parent = "sm:p",
                                                      .map_run_arn = run_arn,
                                                      .item_processor = "/States/M/ItemProcessor",
                                                      .item_count = 3},
                                        NULL, &env, &c, NULL, &err),
                      0);
        ops = store_commit_ops(c);
        ASSERT_STR_EQ(json_string_value(json_object_get(ops, "childOf")), strrchr(run_arn, ':') + 1);
        {
                /* its item count, kept in its hash (ListExecutions' itemCount) */
                json_t *f;
                size_t i;
                bool found = false;

                json_array_foreach (json_object_get(ops, "fields"), i, f)
                        found |= streq(json_string_value(json_array_get(f, 0)), "itemCount") &&
                                 streq(json_string_value(json_array_get(f, 1)), "3");
                ASSERT_TRUE(found);
        }
        task = outbox_find(c, "task:", NULL);
        ASSERT_NOT_NULL(task);
        tid = strdup(json_string_value(json_object_get(task, "taskId")));
        json_decref(task);
        doc = doc_of(c);
        {
                char *want = NULL;

                ASSERT_TRUE(asprintf(&want, "imgflow:execution:sm/L:%s", name) > 0);
                ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(doc, "execution"), "id")),
                              want);
                free(want);
        }
        st = state_after(c, doc, name, 1000);
        store_commit_free(c);
        c = NULL;
        env = env_at(2000);
        {
                json_t *out = json_string("small.jpg");

                ASSERT_INT_EQ(
                        apply_event(
                                &cfg, m, &st, "sm:child",
                                &(AslEvent){.type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .output = out},
                                NULL, &env, &c, &err),
                        0);
                json_decref(out);
        }
        ended = outbox_find(c, "ended>sm:p", &topic);
        ASSERT_NOT_NULL(ended);
        ASSERT_STR_EQ(topic, "imgflow.jobs");
        ASSERT_STR_EQ(json_string_value(json_object_get(ended, "type")), "MapChildEnded");
        ASSERT_STR_EQ(json_string_value(json_object_get(ended, "executionId")), "sm:p");
        ASSERT_STR_EQ(json_string_value(json_object_get(ended, "childName")), name);
        ASSERT_STR_EQ(json_string_value(json_object_get(ended, "status")), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(ended, "output"), "\"small.jpg\"");
        json_decref(ended);
        free(topic);
        store_commit_free(c);
        store_exec_state_done(&st);
        json_decref(doc);
        json_decref(input);
        free(name);
        free(run_arn);
        free(tid);
}

TEST(map_child_too_large_to_start) {
        /* A child whose StartExecution would be over the message limit cannot
         * be started: its item fails at once (States.DataLimitExceeded, within
         * the tolerance the Map goes on) instead of the parent waiting for a
         * child that never comes; a redrive starts it again, as it never ran. */
        static const char def[] =
                "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\","
                "\"Label\":\"L\",\"ToleratedFailureCount\":1,"
                "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"},"
                "\"StartAt\":\"R\",\"States\":{\"R\":{\"Type\":\"Task\",\"Resource\":\"imgflow:image.resize\","
                "\"End\":true}}},\"End\":true}}}";
        _cleanup_machine_ AslMachine *m = machine(def);
        ProtoLimits lim = {.max_payload_bytes = 2048};
        ApplyConfig cfg = {.retention_sec = 100, .limits = &lim};
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        char big[3001];
        json_t *input, *doc, *children, *failed, *ops, *rec, *start;
        const char *name;
        size_t n_children = 0, i;
        json_t *item;

        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        input = json_pack("{s:[i,s]}", "items", 1, big);
        env.map_child_executions = true;
        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "p", input, NULL, &env, &c, NULL, &err), 0);
        /* child 0 is started, child 1 is not */
        json_array_foreach (json_object_get(store_commit_ops(c), "outbox"), i, item)
                n_children += strncmp(json_string_value(json_array_get(item, 0)), "child>", 6) == 0;
        ASSERT_INT_EQ(n_children, 1);
        start = outbox_find(c, "child>", NULL);
        ASSERT_JSON_EQ(json_object_get(start, "input"), "1");
        json_decref(start);
        doc = doc_of(c);
        ASSERT_STR_EQ(json_string_value(json_object_get(doc, "status")), "RUNNING");
        children = json_object_get(json_object_get(json_object_get(doc, "frames"), "0"), "children");
        ASSERT_INT_EQ(json_integer_value(json_object_get(children, "failed")), 1);
        failed = json_object_get(children, "failedExecs");
        ASSERT_INT_EQ(json_object_size(failed), 1);
        json_object_foreach (failed, name, item) {
                ASSERT_TRUE(strlen(name) > 2 && streq(name + strlen(name) - 2, "-1"));
                ASSERT_TRUE(json_is_true(json_object_get(item, "unstarted")));
        }
        /* the Map Run's record of the failure names the error */
        ops = store_commit_ops(c);
        rec = json_array_get(json_array_get(json_object_get(ops, "mapRunFailures"), 0), 1);
        ASSERT_NOT_NULL(rec);
        {
                json_t *r = json_loads(json_string_value(rec), 0, NULL);

                ASSERT_STR_EQ(json_string_value(json_object_get(r, "error")), "States.DataLimitExceeded");
                ASSERT_TRUE(strstr(json_string_value(json_object_get(r, "cause")),
                                   "exceeds the maximum of 2048 bytes") != NULL);
                json_decref(r);
        }
        json_decref(doc);
        store_commit_free(c);
        json_decref(input);
}

/* ---- an inline Map's input and results outside the document's text ---- */

/* The execution's hash as Redis would hold it after the commit c. */
static void hash_apply(json_t *hash, StoreCommit *c) {
        json_t *ops = store_commit_ops(c), *create = json_object_get(ops, "create"), *row;
        size_t i;

        if (create)
                json_object_set(hash, "input", json_object_get(create, "input"));
        json_array_foreach (json_object_get(ops, "fields"), i, row)
                json_object_set(hash, json_string_value(json_array_get(row, 0)), json_array_get(row, 1));
        json_object_set_new(hash, "doc", json_string(c->doc));
        json_object_set_new(hash, "version", json_sprintf("%" PRIu64, c->expected_version + 1));
        json_object_set_new(hash, "status", json_string(c->status));
        json_object_set_new(hash, "stateMachine", json_string("sm"));
        json_object_set_new(hash, "smVersion", json_string("1"));
        json_object_set_new(hash, "name", json_string("big"));
        json_object_set_new(hash, "startDate", json_string("1000"));
}

/* The HGETALL of that hash, loaded as the coordinator loads it. */
static StoreExecState hash_load(json_t *hash) {
        size_t n = 2 * json_object_size(hash), i = 0;
        redisReply r = {.type = REDIS_REPLY_ARRAY, .elements = n}, *e = calloc(n, sizeof(redisReply));
        redisReply **v = calloc(n, sizeof(redisReply *));
        StoreExecState st = {};
        const char *k;
        json_t *x;

        json_object_foreach (hash, k, x) {
                e[i] = (redisReply){.type = REDIS_REPLY_STRING, .str = (char *) k, .len = strlen(k)};
                e[i + 1] = (redisReply){.type = REDIS_REPLY_STRING,
                                        .str = (char *) json_string_value(x),
                                        .len = json_string_length(x)};
                v[i] = &e[i];
                v[i + 1] = &e[i + 1];
                i += 2;
        }
        r.element = v;
        ASSERT_INT_EQ(store_exec_load_parse(&r, &st), 0);
        free(v);
        free(e);
        return st;
}

static const char inline_map_def[] =
        "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\","
        "\"MaxConcurrency\":2,"
        "\"ItemProcessor\":{\"StartAt\":\"R\",\"States\":{\"R\":{\"Type\":\"Task\","
        "\"Resource\":\"imgflow:image.resize\",\"End\":true}}},\"End\":true}}}";

TEST(inline_map_kept_outside_the_text) {
        /* Each commit writes the results set since the last one; the text
         * stays the same size; a load gives back the document the engine
         * has in memory; the output is every result in order. */
        _cleanup_machine_ AslMachine *m = machine(inline_map_def);
        ApplyConfig cfg = {.retention_sec = 100};
        AslEnv env = env_at(1000);
        AslError err = {};
        StoreCommit *c = NULL;
        json_t *input = json_pack("{s:[]}", "items"), *hash = json_object(), *mem = NULL, *out;
        json_t *want = json_array();
        char *tasks[64];
        json_t *task_inputs[64];
        size_t n_tasks = 0, len3 = 0, done = 0;
        StoreExecState st = {};

        for (int i = 0; i < 40; i++) {
                json_array_append_new(json_object_get(input, "items"), json_pack("{s:i}", "n", i));
                json_array_append_new(want, json_pack("{s:i}", "m", i));
        }
        ASSERT_INT_EQ(apply_start(&cfg, m, "sm", 1, "big", input, NULL, &env, &c, &mem, &err), 0);
        for (;;) {
                json_t *ops = store_commit_ops(c), *item, *row;
                size_t i, kept = 0;

                /* only what this event finished is written */
                json_array_foreach (json_object_get(ops, "fields"), i, row) {
                        const char *f = json_string_value(json_array_get(row, 0));

                        if (strncmp(f, "mapres:", 7) == 0)
                                kept++;
                        if (strncmp(f, "mapin:", 6) == 0)
                                ASSERT_INT_EQ(done, 0);
                }
                ASSERT_TRUE(kept <= 1);
                hash_apply(hash, c);
                json_array_foreach (json_object_get(ops, "outbox"), i, item) {
                        const char *id = json_string_value(json_array_get(item, 0));
                        const char *v = json_string_value(json_array_get(item, 1));
                        char *topic = NULL, *payload = NULL;
                        json_t *t;

                        if (strncmp(id, "task:", 5) != 0)
                                continue;
                        ASSERT_INT_EQ(store_outbox_value_split(v, strlen(v), &topic, &payload), 0);
                        t = json_loads(payload, 0, NULL);
                        ASSERT_TRUE(n_tasks < 64);
                        tasks[n_tasks] = strdup(json_string_value(json_object_get(t, "taskId")));
                        task_inputs[n_tasks++] = json_incref(json_object_get(t, "input"));
                        json_decref(t);
                        free(topic);
                        free(payload);
                }
                if (!streq(c->status, "RUNNING"))
                        break;
                /* neither the items nor a result in the text */
                ASSERT_NULL(strstr(c->doc, "\"m\":"));
                ASSERT_NULL(strstr(c->doc, "{\"n\":0},{\"n\":1}"));
                if (done == 3)
                        len3 = strlen(c->doc);
                if (done == 30)
                        ASSERT_TRUE(strlen(c->doc) <= len3 + 32);

                /* a load gives back the document the engine has in memory */
                store_exec_state_done(&st);
                st = hash_load(hash);
                ASSERT_TRUE(json_equal(mem, st.doc));
                /* every other event runs on the loaded document, the others
                 * on the one in memory (the coordinator's cache) */
                if (done % 2 == 1) {
                        json_decref(st.doc);
                        st.doc = json_incref(mem);
                }
                json_decref(mem);
                mem = json_incref(st.doc);
                store_commit_free(c);
                c = NULL;
                ASSERT_TRUE(n_tasks > 0);
                n_tasks--;
                out = json_pack("{s:I}", "m",
                                json_integer_value(json_object_get(task_inputs[n_tasks], "n")));
                env = env_at(2000 + (int64_t) done);
                ASSERT_INT_EQ(apply_event(&cfg, m, &st, "sm:big",
                                          &(AslEvent){.type = ASL_EVENT_TASK_SUCCEEDED,
                                                      .task_id = tasks[n_tasks],
                                                      .output = out},
                                          NULL, &env, &c, &err),
                              0);
                json_decref(out);
                json_decref(task_inputs[n_tasks]);
                free(tasks[n_tasks]);
                done++;
        }
        ASSERT_STR_EQ(c->status, "SUCCEEDED");
        ASSERT_INT_EQ(done, 40);
        {
                json_t *o = json_loads(json_string_value(json_object_get(hash, "output")), 0, NULL);

                ASSERT_TRUE(json_equal(o, want));
                json_decref(o);
        }
        store_commit_free(c);
        store_exec_state_done(&st);
        json_decref(mem);
        json_decref(hash);
        json_decref(input);
        json_decref(want);
}
