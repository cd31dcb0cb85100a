/* SPDX-License-Identifier: MIT */
/*
 * The Redis store against a real redis-server, started here on 127.0.0.1
 * and a free port (skipped with 77 when redis-server is not installed),
 * killed by pid at the end: the registry, exec_commit's compare-and-set,
 * idempotent create, timers claim/lease/reclaim, the history cap, retention
 * EXPIRE, the outbox, task tokens and responses.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static pid_t redis_pid = -1;
static redisContext *rc;
static char redis_dir[] = "/tmp/imgflow-test-store-XXXXXX";

static int free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) < 0 ||
            getsockname(fd, (struct sockaddr *) &a, &len) < 0)
                abort();
        port = ntohs(a.sin_port);
        close(fd);
        return port;
}

static void redis_stop(void) {
        if (rc)
                redisFree(rc);
        rc = NULL;
        if (redis_pid > 0) {
                kill(redis_pid, SIGTERM);
                waitpid(redis_pid, NULL, 0);
                redis_pid = -1;
                rmdir(redis_dir);
        }
}

static bool redis_start(void) {
        char port_s[16];
        int port;

        if (access("/usr/bin/redis-server", X_OK) < 0 && system("command -v redis-server >/dev/null 2>&1") != 0)
                return false;
        if (!mkdtemp(redis_dir))
                return false;
        port = free_port();
        snprintf(port_s, sizeof port_s, "%d", port);
        redis_pid = fork();
        if (redis_pid < 0)
                return false;
        if (redis_pid == 0) {
                int fd = open("/dev/null", O_WRONLY);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        close(fd);
                }
                execlp("redis-server", "redis-server", "--port", port_s, "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", redis_dir, "--loglevel",
                       "warning", (char *) NULL);
                _exit(127);
        }
        atexit(redis_stop);
        for (int i = 0; i < 100; i++) {
                struct timeval tv = { 1, 0 };
                rc = redisConnectWithTimeout("127.0.0.1", port, tv);
                if (rc && !rc->err)
                        return true;
                if (rc)
                        redisFree(rc);
                rc = NULL;
                usleep(50 * 1000);
        }
        return false;
}

static redisContext *redis(void) {
        static bool tried;
        if (!tried) {
                tried = true;
                if (!redis_start()) {
                        fprintf(stderr, "redis-server not available: skipping\n");
                        exit(77);
                }
        }
        ASSERT_NOT_NULL(rc);
        return rc;
}

static long long cmd_int(const char *fmt, const char *arg) {
        redisReply *r = redisCommand(redis(), fmt, arg);
        long long v;

        ASSERT_NOT_NULL(r);
        ASSERT_INT_EQ(r->type, REDIS_REPLY_INTEGER);
        v = r->integer;
        freeReplyObject(r);
        return v;
}

/* An event as the engine hands it to the store: its compact text. Takes ev. */
static void add_event(StoreCommit *k, json_t *ev) {
        char *s = json_dumps(ev, JSON_COMPACT);

        store_commit_take_history(k, s, strlen(s));
        json_decref(ev);
}

static const char pass_def[] =
        "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true}}}";
static const char pass_def2[] =
        "{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Pass\",\"Result\":1,\"End\":true}}}";

TEST(names) {
        ASSERT_TRUE(store_name_is_valid("photo-pipeline_1"));
        ASSERT_FALSE(store_name_is_valid(""));
        ASSERT_FALSE(store_name_is_valid("a:b"));
        ASSERT_FALSE(store_name_is_valid("a b"));
        ASSERT_FALSE(store_name_is_valid("a|b"));
        ASSERT_FALSE(store_name_is_valid("a{b}"));
        char long_name[100];
        memset(long_name, 'x', 81);
        long_name[81] = 0;
        ASSERT_FALSE(store_name_is_valid(long_name));

        _cleanup_free_ char *id = store_exec_id("sm", "run1");
        ASSERT_STR_EQ(id, "sm:run1");
        _cleanup_free_ char *n = store_exec_id_normalize("imgflow:execution:sm:run1");
        ASSERT_STR_EQ(n, "sm:run1");
        ASSERT_NULL(store_exec_id("sm", "a:b"));

        _cleanup_free_ char *name = NULL;
        unsigned v = 9;
        ASSERT_INT_EQ(store_sm_ref_parse("pipe", &name, &v), 0);
        ASSERT_STR_EQ(name, "pipe");
        ASSERT_INT_EQ(v, 0);
        free(TAKE_PTR(name));
        ASSERT_INT_EQ(store_sm_ref_parse("pipe:3", &name, &v), 0);
        ASSERT_INT_EQ(v, 3);
        ASSERT_INT_EQ(store_sm_ref_parse("pipe:x", &name, &v), -EINVAL);
}

static char *argv_joined(const StoreArgv *a) {
        char *s = xstrdup("");
        for (size_t i = 0; i < a->n; i++) {
                char *n = xasprintf("%s%s%s", s, i ? " " : "", a->argv[i]);
                free(s);
                s = n;
        }
        return s;
}

/* The plain commands the coordinator sends are built here, not by hand. */
TEST(command_shapes) {
        _cleanup_(store_argv_done) StoreArgv put = {}, get = {}, count = {}, bad = {};
        _cleanup_free_ char *put_s = NULL, *get_s = NULL, *count_s = NULL;
        char long_id[STORE_REQUEST_ID_MAX + 2];

        ASSERT_INT_EQ(store_response_put_argv("r-1", "{\"ok\":true}", &put), 0);
        put_s = argv_joined(&put);
        ASSERT_STR_EQ(put_s, "SET imgflow:response:{r-1} {\"ok\":true} EX 300 NX");
        memset(long_id, 'r', sizeof long_id - 1);
        long_id[sizeof long_id - 1] = 0;
        ASSERT_INT_EQ(store_response_put_argv(long_id, "{}", &bad), -EINVAL);
        ASSERT_INT_EQ(store_response_put_argv("", "{}", &bad), -EINVAL);
        ASSERT_INT_EQ(store_response_put_argv(NULL, "{}", &bad), -EINVAL);
        long_id[STORE_REQUEST_ID_MAX] = 0; /* exactly the limit: answered */
        ASSERT_INT_EQ(store_response_put_argv(long_id, "{}", &bad), 0);

        ASSERT_INT_EQ(store_token_lookup_argv("0123abcd", &get), 0);
        get_s = argv_joined(&get);
        ASSERT_STR_EQ(get_s, "GET imgflow:token:0123abcd");
        ASSERT_INT_EQ(store_token_lookup_argv("", &get), -EINVAL);
        ASSERT_INT_EQ(store_token_lookup_argv(NULL, &get), -EINVAL);

        store_exec_running_count_argv(&count);
        count_s = argv_joined(&count);
        ASSERT_STR_EQ(count_s, "SCARD imgflow:running");
}

TEST(registry) {
        redisContext *c = redis();
        unsigned v = 0;
        AslDiag d = {};
        json_t *j = NULL;
        _cleanup_free_ char *text = NULL;

        ASSERT_INT_EQ(store_sm_create(c, "reg", pass_def, 1000, &d, &v), 0);
        ASSERT_INT_EQ(v, 1);
        /* Same definition again: idempotent. */
        ASSERT_INT_EQ(store_sm_create(c, "reg", pass_def, 1001, &d, &v), 0);
        ASSERT_INT_EQ(v, 1);
        ASSERT_INT_EQ(store_sm_create(c, "reg", pass_def2, 1002, &d, &v), -EEXIST);
        ASSERT_INT_EQ(store_sm_update(c, "reg", pass_def2, 2000, &d, &v), 0);
        ASSERT_INT_EQ(v, 2);
        ASSERT_INT_EQ(store_sm_update(c, "nope", pass_def2, 2000, &d, &v), -ENOENT);

        /* Invalid definitions are refused with diagnostics and not stored. */
        ASSERT_INT_EQ(store_sm_create(c, "bad", "{\"StartAt\":\"X\",\"States\":{}}", 1, &d, &v), -EINVAL);
        ASSERT_TRUE(d.n > 0);
        asl_diag_clear(&d);
        ASSERT_INT_EQ(store_sm_create(c, "bad", "{not json", 1, &d, &v), -EINVAL);
        asl_diag_clear(&d);
        ASSERT_INT_EQ(store_sm_create(c, "a:b", pass_def, 1, &d, &v), -EINVAL);

        ASSERT_INT_EQ(store_sm_get_definition(c, "reg", 1, &text, &v), 0);
        ASSERT_STR_EQ(text, pass_def);
        free(TAKE_PTR(text));
        ASSERT_INT_EQ(store_sm_get_definition(c, "reg", 0, &text, &v), 0);
        ASSERT_STR_EQ(text, pass_def2);
        ASSERT_INT_EQ(v, 2);

        ASSERT_INT_EQ(store_sm_describe(c, "reg", 0, &j), 0);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "latestVersion")), 2);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "createdAt")), 1000);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "updatedAt")), 2000);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(j, "definition"), "StartAt")), "B");
        json_decref(j);

        ASSERT_INT_EQ(store_sm_describe(c, "reg", 0, &j), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(j, "type")), "STANDARD");
        ASSERT_NULL(json_object_get(j, "loggingConfiguration"));
        json_decref(j);

        /* EXPRESS: kept at creation with the logging configuration; its
         * rules apply to updates; the same definition as another type is
         * another machine. */
        {
                static const char cb_def[] =
                        "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\","
                        "\"Resource\":\"arn:aws:states:::sqs:sendMessage.waitForTaskToken\","
                        "\"End\":true}}}";
                _cleanup_free_ char *logging = NULL;
                const char *cause = NULL;

                ASSERT_INT_EQ(store_sm_logging_check("{\"level\":\"ERROR\"}", &logging, &cause), 0);
                ASSERT_STR_EQ(logging,
                              "{\"destinations\":[],\"includeExecutionData\":false,\"level\":\"ERROR\"}");
                ASSERT_INT_EQ(store_sm_put_extra(c, "xreg", pass_def, 3000, false,
                                                 &(StoreSmExtra){.type = "EXPRESS", .logging = logging}, &d,
                                                 &v),
                              0);
                ASSERT_INT_EQ(store_sm_describe(c, "xreg", 0, &j), 0);
                ASSERT_STR_EQ(json_string_value(json_object_get(j, "type")), "EXPRESS");
                ASSERT_STR_EQ(json_string_value(
                                      json_object_get(json_object_get(j, "loggingConfiguration"), "level")),
                              "ERROR");
                json_decref(j);
                ASSERT_INT_EQ(
                        store_sm_put_extra(c, "xreg", pass_def, 3001, false, &(StoreSmExtra){}, &d, &v),
                        -EEXIST);
                ASSERT_INT_EQ(store_sm_update(c, "xreg", cb_def, 3002, &d, &v), -EINVAL);
                ASSERT_TRUE(d.n > 0);
                asl_diag_clear(&d);
                ASSERT_INT_EQ(store_sm_update(c, "reg", cb_def, 3003, &d, &v), 0);
                ASSERT_INT_EQ(store_sm_logging_check("{\"level\":\"LOUD\"}", &text, &cause), -EINVAL);
                ASSERT_INT_EQ(store_sm_logging_check("{\"level\":\"ALL\",\"destinations\":[{},{}]}", &text,
                                                     &cause),
                              -EINVAL);
                ASSERT_INT_EQ(store_sm_logging_check("[]", &text, &cause), -EINVAL);
                ASSERT_TRUE(store_log_level_includes(STORE_LOG_ERROR, "TaskFailed"));
                ASSERT_TRUE(store_log_level_includes(STORE_LOG_ERROR, "FailStateEntered"));
                ASSERT_FALSE(store_log_level_includes(STORE_LOG_ERROR, "TaskSucceeded"));
                ASSERT_TRUE(store_log_level_includes(STORE_LOG_FATAL, "ExecutionTimedOut"));
                ASSERT_FALSE(store_log_level_includes(STORE_LOG_FATAL, "TaskFailed"));
                ASSERT_FALSE(store_log_level_includes(STORE_LOG_OFF, "ExecutionFailed"));
                ASSERT_TRUE(store_log_level_includes(STORE_LOG_ALL, "PassStateEntered"));
        }

        ASSERT_INT_EQ(store_sm_create(c, "areg", pass_def, 1, &d, &v), 0);
        ASSERT_INT_EQ(store_sm_list(c, &j), 0);
        ASSERT_TRUE(json_array_size(j) >= 2);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(j, 0), "name")), "areg");
        json_decref(j);

        ASSERT_INT_EQ(store_sm_delete(c, "areg", 60), 0);
        ASSERT_INT_EQ(store_sm_delete(c, "areg", 60), -ENOENT);
        ASSERT_INT_EQ(store_sm_describe(c, "areg", 0, &j), -ENOENT);
        /* Version texts stay for running executions, with a TTL. */
        long long ttl = cmd_int("TTL %s", "imgflow:sm:areg:v1");
        ASSERT_TRUE(ttl > 0 && ttl <= 60);
        asl_diag_clear(&d);
}

static StoreCommit *new_create(const char *sm, const char *name, const char *input_text, int64_t now) {
        StoreCommit *c = NULL;
        _cleanup_free_ char *id = store_exec_id(sm, name);
        json_t *input = json_loads(input_text, 0, NULL);
        json_t *doc = json_pack("{s:s}", "n", "0");

        ASSERT_INT_EQ(store_commit_new(id, 0, now, &c), 0);
        store_commit_set_create(c, sm, 1, name, input, now);
        store_commit_set_doc(c, doc, "RUNNING");
        json_decref(input);
        json_decref(doc);
        return c;
}

static StoreCommit *new_update(const char *id, uint64_t expected, const char *docval, int64_t now) {
        StoreCommit *c = NULL;
        json_t *doc = json_pack("{s:s}", "n", docval);

        ASSERT_INT_EQ(store_commit_new(id, expected, now, &c), 0);
        store_commit_set_doc(c, doc, "RUNNING");
        json_decref(doc);
        return c;
}

static void set_doc(StoreCommit *k, const char *status) {
        json_t *doc = json_object();
        store_commit_set_doc(k, doc, status);
        json_decref(doc);
}

TEST(commit_cas) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreExecState st = {};
        StoreCommit *k;

        k = new_create("sm", "cas", "{\"a\":1}", 5000);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        ASSERT_INT_EQ(res.version, 1);
        store_commit_free(k);

        ASSERT_INT_EQ(store_exec_load_sync(c, "sm:cas", &st), 0);
        ASSERT_INT_EQ(st.version, 1);
        ASSERT_STR_EQ(st.state_machine, "sm");
        ASSERT_STR_EQ(st.name, "cas");
        ASSERT_STR_EQ(st.status, "RUNNING");
        ASSERT_INT_EQ(st.start_ms, 5000);
        ASSERT_JSON_EQ(st.doc, "{\"n\":\"0\"}");
        store_exec_state_done(&st);

        /* Two writers that both loaded version 1: the second one loses. */
        k = new_update("sm:cas", 1, "first", 5001);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        ASSERT_INT_EQ(res.version, 2);
        store_commit_free(k);

        k = new_update("sm:cas", 1, "second", 5002);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_CONFLICT);
        ASSERT_INT_EQ(res.version, 2);
        store_commit_free(k);

        ASSERT_INT_EQ(store_exec_load_sync(c, "sm:cas", &st), 0);
        ASSERT_JSON_EQ(st.doc, "{\"n\":\"first\"}");
        ASSERT_INT_EQ(st.version, 2);
        store_exec_state_done(&st);

        k = new_update("sm:missing", 1, "x", 5003);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_MISSING);
        store_commit_free(k);
        ASSERT_INT_EQ(store_exec_load_sync(c, "sm:missing", &st), -ENOENT);
}

TEST(create_idempotent) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;

        k = new_create("sm", "idem", "{\"b\":2,\"a\":1}", 6000);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);
        /* A RUNNING execution is in the running set (what the coordinator counts). */
        ASSERT_INT_EQ(cmd_int("SISMEMBER " STORE_KEY_RUNNING " %s", "sm:idem"), 1);

        /* Same input (key order does not matter), still RUNNING: existing. */
        k = new_create("sm", "idem", "{\"a\":1,\"b\":2}", 6001);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_EXISTS);
        ASSERT_INT_EQ(res.start_ms, 6000);
        store_commit_free(k);

        /* Different input: ExecutionAlreadyExists. */
        k = new_create("sm", "idem", "{\"a\":2}", 6002);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_ALREADY);
        store_commit_free(k);

        /* Finished: the same input is refused too. */
        k = new_update("sm:idem", 1, "done", 6003);
        set_doc(k, "SUCCEEDED");
        store_commit_set_terminal(k, 6003, 100);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);
        ASSERT_INT_EQ(cmd_int("SISMEMBER " STORE_KEY_RUNNING " %s", "sm:idem"), 0);
        k = new_create("sm", "idem", "{\"a\":1,\"b\":2}", 6004);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_ALREADY);
        store_commit_free(k);
}

TEST(timers) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        json_t *a = NULL;
        long long n = -1;
        _cleanup_free_ char *e = NULL, *t = NULL;

        redisReply *r = redisCommand(c, "DEL %s %s", STORE_KEY_TIMERS, STORE_KEY_TIMERS_CLAIMED);
        freeReplyObject(r);

        k = new_create("sm", "tim", "{}", 10000);
        store_commit_add_timer(k, "wait-1", 10500);
        store_commit_add_timer(k, "retry-2", 20000);
        store_commit_add_timer(k, "gone-3", 10100);
        store_commit_del_timer(k, "gone-3");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);

        /* Nothing due yet. */
        ASSERT_INT_EQ(store_timers_claim_sync(c, 10400, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 0);
        json_decref(a);

        /* Due: claimed once, with a lease. */
        ASSERT_INT_EQ(store_timers_claim_sync(c, 11000, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 1);
        ASSERT_STR_EQ(json_string_value(json_array_get(a, 0)), "sm:tim|wait-1");
        ASSERT_INT_EQ(store_timer_member_split(json_string_value(json_array_get(a, 0)), &e, &t), 0);
        ASSERT_STR_EQ(e, "sm:tim");
        ASSERT_STR_EQ(t, "wait-1");
        json_decref(a);
        ASSERT_INT_EQ(store_timers_claim_sync(c, 11001, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 0);
        json_decref(a);

        /* The claimer dies: before the lease expires nothing comes back ... */
        ASSERT_INT_EQ(store_timers_reclaim_sync(c, 11500, 100, &n), 0);
        ASSERT_INT_EQ(n, 0);
        /* ... unless a catch-up (partitions changed hands) takes leases
         * claimed long enough ago: due again now, not at the cutoff ... */
        {
                _cleanup_(store_call_done) StoreCall call = {};
                _cleanup_reply_ redisReply *rr = NULL;

                store_timers_reclaim_before_call(11500 + 1000 - 400, 11500, 100, &call);
                ASSERT_INT_EQ(store_call_sync(c, &call, &rr, NULL, 0), 0);
                ASSERT_INT_EQ(rr->integer, 1);
        }
        ASSERT_INT_EQ(store_timers_claim_sync(c, 11501, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 1);
        json_decref(a);
        /* ... after, the timer is due again and another claimer gets it. */
        ASSERT_INT_EQ(store_timers_reclaim_sync(c, 12502, 100, &n), 0);
        ASSERT_INT_EQ(n, 1);
        ASSERT_INT_EQ(store_timers_claim_sync(c, 12503, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 1);
        json_decref(a);

        /* Acked after the broker took TimerFired: gone for good. */
        {
                _cleanup_(store_argv_done) StoreArgv av = {};
                store_timers_ack_argv("sm:tim|wait-1", &av);
                r = redisCommandArgv(c, (int) av.n, (const char **) av.argv, av.lens);
                ASSERT_INT_EQ(r->integer, 1);
                freeReplyObject(r);
        }
        ASSERT_INT_EQ(store_timers_reclaim_sync(c, 99999, 100, &n), 0);
        ASSERT_INT_EQ(n, 0);

        /* Claimed, then rescheduled by a commit (heartbeat): the claim is void
         * and the new due time counts. */
        ASSERT_INT_EQ(store_timers_claim_sync(c, 20000, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 1);
        json_decref(a);
        k = new_update("sm:tim", 1, "hb", 20001);
        store_commit_add_timer(k, "retry-2", 30000);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);
        ASSERT_INT_EQ(store_timers_reclaim_sync(c, 25000, 100, &n), 0);
        ASSERT_INT_EQ(n, 0);
        ASSERT_INT_EQ(store_timers_claim_sync(c, 25000, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 0);
        json_decref(a);

        /* Cancelled by a commit: never fires. */
        k = new_update("sm:tim", 2, "cancel", 20002);
        store_commit_del_timer(k, "retry-2");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        ASSERT_INT_EQ(store_timers_claim_sync(c, 99999, 1000, 10, &a), 0);
        ASSERT_INT_EQ(json_array_size(a), 0);
        json_decref(a);
}

TEST(history_cap) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        json_t *h = NULL;

        k = new_create("sm", "hist", "{}", 1);
        k->history_cap = 5;
        for (int i = 1; i <= 8; i++) {
                json_t *ev = json_pack("{s:i, s:s}", "id", i, "type", "PassStateEntered");
                add_event(k, ev);
        }
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        ASSERT_INT_EQ(cmd_int("LLEN %s", "imgflow:{sm:hist}:history"), 5);

        ASSERT_INT_EQ(store_exec_history(c, "sm:hist", 0, 0, false, &h), 0);
        ASSERT_INT_EQ(json_array_size(h), 5);
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(h, 0), "id")), 4);
        json_decref(h);
        ASSERT_INT_EQ(store_exec_history(c, "sm:hist", 0, 2, true, &h), 0);
        ASSERT_INT_EQ(json_array_size(h), 2);
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(h, 0), "id")), 8);
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(h, 1), "id")), 7);
        json_decref(h);
        ASSERT_INT_EQ(store_exec_history(c, "sm:nohist", 0, 0, false, &h), -ENOENT);
}

TEST(retention_and_tokens) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        _cleanup_free_ char *e = NULL, *t = NULL;
        json_t *j = NULL;

        k = new_create("sm", "ret", "{\"x\":1}", 100);
        store_commit_add_token(k, "task-1", "tok-aaaa");
        store_commit_add_token(k, "task-2", "tok-bbbb");
        store_commit_add_timer(k, "hb-1", 100000);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);

        ASSERT_INT_EQ(store_token_lookup(c, "tok-aaaa", &e, &t), 0);
        ASSERT_STR_EQ(e, "sm:ret");
        ASSERT_STR_EQ(t, "task-1");
        free(TAKE_PTR(e));
        free(TAKE_PTR(t));

        /* A task closes: its token dies. */
        k = new_update("sm:ret", 1, "closed", 200);
        store_commit_close_task(k, "task-1");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        ASSERT_INT_EQ(store_token_lookup(c, "tok-aaaa", &e, &t), -ENOENT);
        ASSERT_INT_EQ(store_token_lookup(c, "tok-bbbb", &e, &t), 0);
        free(TAKE_PTR(e));
        free(TAKE_PTR(t));

        /* No TTL while running. */
        ASSERT_INT_EQ(cmd_int("TTL %s", "imgflow:{sm:ret}:exec"), -1);

        /* Terminal: all keys expire after the retention, tokens and timers go. */
        k = new_update("sm:ret", 2, "end", 300);
        set_doc(k, "SUCCEEDED");
        store_commit_set_field(k, "output", "{\"y\":2}");
        {
                json_t *ev = json_pack("{s:i}", "id", 1);
                add_event(k, ev);
        }
        store_commit_set_terminal(k, 300, 50);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);
        long long ttl = cmd_int("TTL %s", "imgflow:{sm:ret}:exec");
        ASSERT_TRUE(ttl > 0 && ttl <= 50);
        ttl = cmd_int("TTL %s", "imgflow:{sm:ret}:history");
        ASSERT_TRUE(ttl > 0 && ttl <= 50);
        ASSERT_INT_EQ(store_token_lookup(c, "tok-bbbb", &e, &t), -ENOENT);
        ASSERT_INT_EQ(cmd_int("EXISTS %s", "imgflow:{sm:ret}:tokens"), 0);
        {
                redisReply *r = redisCommand(c, "ZSCORE %s sm:ret|hb-1", STORE_KEY_TIMERS);
                ASSERT_INT_EQ(r->type, REDIS_REPLY_NIL);
                freeReplyObject(r);
        }

        ASSERT_INT_EQ(store_exec_describe(c, "sm:ret", &j), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(j, "status")), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(j, "input"), "{\"x\":1}");
        ASSERT_JSON_EQ(json_object_get(j, "output"), "{\"y\":2}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "startDate")), 100);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "stopDate")), 300);
        json_decref(j);

        /* Expired executions drop out of the listing. */
        redisReply *r = redisCommand(c, "DEL imgflow:{sm:ret}:exec");
        freeReplyObject(r);
        ASSERT_INT_EQ(store_exec_list(c, "sm", NULL, 1000, &j), 0);
        for (size_t i = 0; i < json_array_size(j); i++)
                ASSERT_FALSE(streq(json_string_value(json_object_get(json_array_get(j, i), "executionId")), "sm:ret"));
        json_decref(j);
        ASSERT_INT_EQ(store_exec_describe(c, "sm:ret", &j), -ENOENT);
}

/* History events and outbox values are script arguments of their own
 * (ARGV[4...]): more events than one RPUSH chunk (1000) and outbox items in
 * the same commit all land where they belong, in order, byte for byte. */
TEST(history_and_outbox_arguments) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        json_t *h = NULL;
        redisReply *r;

        k = new_create("sm", "args", "{}", 2000000000000); /* far from the outbox test's sweeps */
        k->history_cap = 5000;
        for (int i = 1; i <= 2500; i++) {
                json_t *ev = json_pack("{s:i, s:s, s:s}", "id", i, "type", "PassStateEntered", "q", "\"x\"");
                add_event(k, ev);
        }
        store_commit_add_outbox(k, "task:a", "imgflow.tasks", "{\"input\":{\"key\":\"a \\\"b\\\"\"}}", NULL);
        store_commit_add_outbox(k, "task:b", "imgflow.tasks.gpu", "", NULL);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);

        ASSERT_INT_EQ(cmd_int("LLEN %s", "imgflow:{sm:args}:history"), 2500);
        r = redisCommand(c, "LRANGE %s 0 -1", "imgflow:{sm:args}:history");
        ASSERT_NOT_NULL(r);
        ASSERT_INT_EQ(r->type, REDIS_REPLY_ARRAY);
        ASSERT_INT_EQ(r->elements, 2500);
        for (size_t i = 0; i < r->elements; i++) {
                h = json_loads(r->element[i]->str, 0, NULL);
                ASSERT_NOT_NULL(h);
                ASSERT_INT_EQ(json_integer_value(json_object_get(h, "id")), (long long) i + 1);
                ASSERT_STR_EQ(json_string_value(json_object_get(h, "q")), "\"x\"");
                json_decref(h);
        }
        freeReplyObject(r);

        r = redisCommand(c, "HGET %s %s", "imgflow:{sm:args}:outbox", "task:a");
        ASSERT_NOT_NULL(r);
        ASSERT_INT_EQ(r->type, REDIS_REPLY_STRING);
        ASSERT_STR_EQ(r->str, "imgflow.tasks\n{\"input\":{\"key\":\"a \\\"b\\\"\"}}");
        freeReplyObject(r);
        r = redisCommand(c, "HGET %s %s", "imgflow:{sm:args}:outbox", "task:b");
        ASSERT_NOT_NULL(r);
        ASSERT_INT_EQ(r->type, REDIS_REPLY_STRING);
        ASSERT_STR_EQ(r->str, "imgflow.tasks.gpu\n");
        freeReplyObject(r);
}

TEST(outbox) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        StoreOutboxItem *items = NULL;
        size_t n = 0;

        k = new_create("sm", "out", "{}", 1000);
        store_commit_add_outbox(k, "task:1", "imgflow.tasks", "{\"type\":\"Task\"}", NULL);
        store_commit_add_outbox(k, "task:2", "imgflow.tasks.gpu", "{\"type\":\"Task\",\"n\":2}", NULL);
        store_commit_add_outbox(k, "task:3", "imgflow.tasks", "x", NULL);
        store_commit_del_outbox(k, "task:3");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);

        /* Too recent for the sweeper. */
        {
                _cleanup_(store_call_done) StoreCall call = {};
                _cleanup_reply_ redisReply *r = NULL;
                store_outbox_sweep_call(999, 5000, 10, &call);
                ASSERT_INT_EQ(store_call_sync(c, &call, &r, NULL, 0), 0);
                ASSERT_INT_EQ(store_outbox_sweep_parse(r, &items, &n), 0);
                ASSERT_INT_EQ(n, 0);
                store_outbox_items_free(items, n);
        }
        /* Old enough: both items come back, the score is bumped. */
        {
                _cleanup_(store_call_done) StoreCall call = {};
                _cleanup_reply_ redisReply *r = NULL;
                store_outbox_sweep_call(1000, 5000, 10, &call);
                ASSERT_INT_EQ(store_call_sync(c, &call, &r, NULL, 0), 0);
                ASSERT_INT_EQ(store_outbox_sweep_parse(r, &items, &n), 0);
                ASSERT_INT_EQ(n, 2);
                for (size_t i = 0; i < n; i++) {
                        ASSERT_STR_EQ(items[i].exec_id, "sm:out");
                        if (streq(items[i].item_id, "task:2")) {
                                ASSERT_STR_EQ(items[i].topic, "imgflow.tasks.gpu");
                                ASSERT_STR_EQ(items[i].payload, "{\"type\":\"Task\",\"n\":2}");
                        } else
                                ASSERT_STR_EQ(items[i].item_id, "task:1");
                }
                store_outbox_items_free(items, n);
        }
        {
                _cleanup_(store_call_done) StoreCall call = {};
                _cleanup_reply_ redisReply *r = NULL;
                store_outbox_sweep_call(1000, 6000, 10, &call);
                ASSERT_INT_EQ(store_call_sync(c, &call, &r, NULL, 0), 0);
                ASSERT_INT_EQ(r->elements, 0);
        }
        /* Acks: pending goes when the last item is acked; one call acks
         * items of several executions, an unknown item counts 0. One call
         * is cleared and filled again, as the coordinator does. */
        _cleanup_(store_call_done) StoreCall acks = {};
        {
                _cleanup_reply_ redisReply *r = NULL;
                store_outbox_ack_add(&acks, "sm:out", "task:1");
                ASSERT_INT_EQ(store_outbox_ack_count(&acks), 1);
                ASSERT_INT_EQ(store_call_sync(c, &acks, &r, NULL, 0), 0);
                ASSERT_INT_EQ(r->integer, 1);
                store_call_clear(&acks);
                ASSERT_INT_EQ(store_outbox_ack_count(&acks), 0);
        }
        {
                redisReply *r = redisCommand(c, "ZSCORE %s sm:out", STORE_KEY_OUTBOX_PENDING);
                ASSERT_INT_EQ(r->type, REDIS_REPLY_STRING); /* task:2 still there */
                freeReplyObject(r);
        }
        {
                _cleanup_reply_ redisReply *r = NULL;
                store_outbox_ack_add(&acks, "sm:out", "task:2");
                store_outbox_ack_add(&acks, "sm:other", "task:9");
                store_outbox_ack_add(&acks, "sm:out", "task:1");
                ASSERT_INT_EQ(store_outbox_ack_count(&acks), 3);
                ASSERT_INT_EQ(store_call_sync(c, &acks, &r, NULL, 0), 0);
                ASSERT_INT_EQ(r->integer, 1);
        }
        ASSERT_INT_EQ(cmd_int("EXISTS %s", "imgflow:{sm:out}:outbox"), 0);
        {
                redisReply *r = redisCommand(c, "ZSCORE %s sm:out", STORE_KEY_OUTBOX_PENDING);
                ASSERT_INT_EQ(r->type, REDIS_REPLY_NIL);
                freeReplyObject(r);
        }
}

TEST(responses) {
        redisContext *c = redis();
        json_t *j = NULL;

        ASSERT_INT_EQ(store_response_get(c, "req-1", &j), -ENOENT);
        ASSERT_INT_EQ(store_response_put(c, "req-1", "{\"ok\":true}"), 0);
        ASSERT_INT_EQ(store_response_put(c, "req-1", "{\"ok\":false}"), 0); /* NX: first answer stays */
        ASSERT_INT_EQ(store_response_get(c, "req-1", &j), 0);
        ASSERT_JSON_EQ(j, "{\"ok\":true}");
        long long ttl = cmd_int("TTL %s", "imgflow:response:{req-1}");
        ASSERT_TRUE(ttl > 0 && ttl <= STORE_RESPONSE_TTL_SEC);
        json_decref(j);
}

/* Runs a call on the test's server; the reply is the caller's. */
static redisReply *run_call(StoreCall *call) {
        redisReply *r = NULL;
        char err[256] = "";

        if (store_call_sync(redis(), call, &r, err, sizeof err) < 0)
                TEST_FAIL_("script %s: %s", store_script(call->script)->name, err);
        store_call_done(call);
        return r;
}

static redisReply *run_argv(StoreArgv *a) {
        redisReply *r = NULL;

        ASSERT_INT_EQ(store_command_sync(redis(), a, &r), 0);
        store_argv_done(a);
        return r;
}

TEST(registry_pages) {
        redisContext *c = redis();
        StoreCall call = {};
        StoreMachine m = {};
        redisReply *r;
        json_t *items = NULL;
        AslDiag d = {};
        unsigned v;
        int64_t created = 0;
        bool more;

        ASSERT_INT_EQ(store_sm_create(c, "pg-a", pass_def, 10, &d, &v), 0);
        ASSERT_INT_EQ(store_sm_create(c, "pg-b", pass_def, 20, &d, &v), 0);
        ASSERT_INT_EQ(store_sm_create(c, "pg-c", pass_def, 30, &d, &v), 0);

        /* Pages by name after a cursor. */
        store_sm_list_call("pg-", 2, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_list_parse(r, &items, &more), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(json_array_size(items), 2);
        ASSERT_TRUE(more);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "name")), "pg-a");
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 1), "name")), "pg-b");
        json_decref(items);
        store_sm_list_call("pg-b", 2, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_list_parse(r, &items, &more), 0);
        freeReplyObject(r);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "name")), "pg-c");
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(items, 0), "createdAt")), 30);
        json_decref(items);

        /* Create with a role: the creation date comes back, also when the
         * same definition is created again. */
        ASSERT_INT_EQ(store_sm_put_call("pg-role", pass_def, 40, false, "arn:aws:iam::1:role/r", &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_put_parse(r, &v, &created), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(created, 40);
        ASSERT_INT_EQ(store_sm_put_call("pg-role", pass_def, 50, false, NULL, &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_put_parse(r, &v, &created), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(created, 40);
        ASSERT_INT_EQ(v, 1);

        ASSERT_INT_EQ(store_sm_describe_call("pg-role", 0, &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_describe_parse(r, &m), 0);
        freeReplyObject(r);
        ASSERT_STR_EQ(m.role_arn, "arn:aws:iam::1:role/r");
        ASSERT_STR_EQ(m.definition, pass_def);
        ASSERT_INT_EQ(m.version, 1);
        ASSERT_INT_EQ(m.latest_version, 1);
        store_machine_done(&m);

        store_sm_set_role_call("pg-role", "arn:aws:iam::1:role/other", &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_set_role_parse(r), 0);
        freeReplyObject(r);
        store_sm_set_role_call("pg-none", "arn:aws:iam::1:role/other", &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_set_role_parse(r), -ENOENT);
        freeReplyObject(r);
        ASSERT_INT_EQ(cmd_int("EXISTS %s", "imgflow:sm:pg-none"), 0);

        /* A deleted machine: its version is still there, latest 0. */
        ASSERT_INT_EQ(store_sm_delete(c, "pg-role", 60), 0);
        ASSERT_INT_EQ(store_sm_describe_call("pg-role", 1, &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_describe_parse(r, &m), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(m.latest_version, 0);
        ASSERT_STR_EQ(m.definition, pass_def);
        store_machine_done(&m);
        ASSERT_INT_EQ(store_sm_describe_call("pg-role", 0, &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_sm_describe_parse(r, &m), -ENOENT);
        freeReplyObject(r);
        asl_diag_clear(&d);
}

TEST(history_pages) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCall call = {};
        StoreCommit *k;
        redisReply *r;
        json_t *h = NULL;
        uint64_t next;

        k = new_create("sm", "hpage", "{}", 1);
        k->history_cap = 6;
        for (int i = 1; i <= 9; i++)
                add_event(k, json_pack("{s:i, s:s}", "id", i, "type", "PassStateEntered"));
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        /* Kept: 4..9. */

#define PAGE(start, limit, reverse, first, n, want_next)                                              \
        do {                                                                                          \
                store_exec_history_call("sm:hpage", start, limit, reverse, &call);                    \
                r = run_call(&call);                                                                  \
                ASSERT_INT_EQ(store_exec_history_parse(r, limit, reverse, &h, &next), 0);             \
                freeReplyObject(r);                                                                   \
                ASSERT_INT_EQ(json_array_size(h), n);                                                 \
                if (n > 0)                                                                            \
                        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(h, 0), "id")), \
                                      first);                                                         \
                ASSERT_INT_EQ(next, want_next);                                                       \
                json_decref(h);                                                                       \
        } while (0)

        PAGE(0, 4, false, 4, 4, 8);
        PAGE(8, 4, false, 8, 2, 0);
        PAGE(1, 2, false, 4, 2, 6); /* trimmed meanwhile: from the oldest kept */
        PAGE(0, 4, true, 9, 4, 5);
        PAGE(5, 4, true, 5, 2, 0);
        PAGE(0, 6, true, 9, 6, 0);
        PAGE(0, 0, false, 4, 6, 0); /* 0 = the most */
#undef PAGE

        store_exec_history_call("sm:nohpage", 0, 10, false, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_exec_history_parse(r, 10, false, &h, &next), -ENOENT);
        freeReplyObject(r);
}

static void exec_at(const char *sm, const char *name, int64_t start, const char *status) {
        StoreCommitResult res;
        StoreCommit *k = new_create(sm, name, "{}", start);

        set_doc(k, status);
        ASSERT_INT_EQ(store_commit_sync(redis(), k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);
}

/* Every execution of the filter, page by page (limit each); the names in
 * order, comma-separated. */
static char *list_all(const StoreExecFilter *f, size_t limit, size_t scan) {
        _cleanup_free_ char *cursor = NULL;
        char *out = xstrdup("");
        StoreCall call = {};

        for (int pages = 0; pages < 100; pages++) {
                json_t *items = NULL, *it;
                char *next = NULL;
                redisReply *r;
                size_t i;

                store_exec_list_call(f, cursor, limit, scan, &call);
                r = run_call(&call);
                ASSERT_INT_EQ(store_exec_list_parse(r, &items, &next), 0);
                freeReplyObject(r);
                ASSERT_TRUE(json_array_size(items) <= limit);
                json_array_foreach (items, i, it) {
                        char *s = xasprintf("%s%s%s", out, *out ? "," : "",
                                            json_string_value(json_object_get(it, "name")));
                        free(out);
                        out = s;
                }
                json_decref(items);
                free(cursor);
                cursor = next;
                if (!cursor)
                        break;
        }
        return out;
}

TEST(execution_pages) {
        StoreExecFilter f = { .state_machine = "lp", .machine_must_exist = true };
        StoreCall call = {};
        AslDiag d = {};
        redisReply *r;
        json_t *items = NULL;
        char *cursor = NULL, *all;
        unsigned v;

        ASSERT_INT_EQ(store_sm_create(redis(), "lp", pass_def, 1, &d, &v), 0);
        /* Three with the same start ms: the cursor keeps them apart. */
        exec_at("lp", "e1", 1000, "SUCCEEDED");
        exec_at("lp", "e2", 2000, "RUNNING");
        exec_at("lp", "e3", 2000, "SUCCEEDED");
        exec_at("lp", "e4", 2000, "RUNNING");
        exec_at("lp", "e5", 3000, "FAILED");
        exec_at("other", "x1", 2500, "RUNNING");

        all = list_all(&f, 100, 10000);
        ASSERT_STR_EQ(all, "e5,e4,e3,e2,e1");
        free(all);
        for (size_t limit = 1; limit <= 3; limit++) {
                all = list_all(&f, limit, 10000);
                ASSERT_STR_EQ(all, "e5,e4,e3,e2,e1");
                free(all);
        }
        /* A scan bound smaller than the index: pages end early, none lost. */
        all = list_all(&f, 100, 2);
        ASSERT_STR_EQ(all, "e5,e4,e3,e2,e1");
        free(all);
        f.status = "RUNNING";
        all = list_all(&f, 1, 10000);
        ASSERT_STR_EQ(all, "e4,e2");
        free(all);
        f.status = NULL;
        f.version = 2; /* new_create starts version 1 */
        all = list_all(&f, 10, 10000);
        ASSERT_STR_EQ(all, "");
        free(all);

        f = (StoreExecFilter) { .state_machine = "nope", .machine_must_exist = true };
        store_exec_list_call(&f, NULL, 10, 10000, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_exec_list_parse(r, &items, &cursor), -ENOENT);
        freeReplyObject(r);
        asl_diag_clear(&d);
}

TEST(activities) {
        StoreCall call = {};
        StoreArgv a = {};
        StoreCommitResult res;
        StoreCommit *k;
        redisReply *r;
        json_t *items = NULL;
        char *msg = NULL, *exec = NULL, *task = NULL, *closed = NULL;
        int64_t created;
        bool more;

        ASSERT_TRUE(streq(store_activity_name_of_arn("arn:aws:states:us-east-1:1:activity:review"), "review"));
        ASSERT_TRUE(store_activity_name_of_arn("arn:aws:states:us-east-1:1:activity:a/b") == NULL);
        ASSERT_TRUE(store_activity_name_of_arn("arn:aws:lambda:us-east-1:1:activity:x") == NULL);

        /* The registry: create is idempotent by name. */
        ASSERT_INT_EQ(store_activity_create_call("review", 111, &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_create_parse(r, &created), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(created, 111);
        ASSERT_INT_EQ(store_activity_create_call("review", 222, &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_create_parse(r, &created), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(created, 111);
        ASSERT_INT_EQ(store_activity_create_call("approve", 333, &call), 0);
        freeReplyObject(run_call(&call));
        store_activity_list_call(NULL, 1, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_list_parse(r, &items, &more), 0);
        freeReplyObject(r);
        ASSERT_TRUE(more);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "name")), "approve");
        json_decref(items);
        store_activity_list_call("approve", 10, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_list_parse(r, &items, &more), 0);
        freeReplyObject(r);
        ASSERT_FALSE(more);
        ASSERT_INT_EQ(json_array_size(items), 1);
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(items, 0), "createdAt")), 111);
        json_decref(items);
        ASSERT_INT_EQ(store_activity_describe_argv("approve", &a), 0);
        r = run_argv(&a);
        ASSERT_INT_EQ(store_activity_describe_parse(r, &created), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(created, 333);
        ASSERT_INT_EQ(store_activity_delete_call("approve", &call), 0);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_delete_parse(r), 0);
        freeReplyObject(r);
        ASSERT_INT_EQ(store_activity_describe_argv("approve", &a), 0);
        r = run_argv(&a);
        ASSERT_INT_EQ(store_activity_describe_parse(r, &created), -ENOENT);
        freeReplyObject(r);

        /* Two tasks queued by a commit, each with its token. */
        k = new_create("act", "run", "{}", 1);
        store_commit_add_token(k, "t1", "token1");
        store_commit_add_activity_task(k, "review", "token1", "{\"n\":1}");
        store_commit_add_token(k, "t2", "token2");
        store_commit_add_activity_task(k, "review", "token2", "{\"n\":2}");
        ASSERT_INT_EQ(store_commit_sync(redis(), k, &res), 0);
        store_commit_free(k);
        ASSERT_INT_EQ(cmd_int("LLEN %s", "imgflow:activity:review:tasks"), 2);

        /* Claim: the oldest, under a delivery token that stands for its token. */
        store_activity_claim_call("review", "d1", 10000, 60, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_claim_parse(r, &msg), 0);
        freeReplyObject(r);
        ASSERT_STR_EQ(msg, "{\"n\":1}");
        free(msg);
        r = redisCommand(redis(), "GET imgflow:token:d1");
        {
                StoreTokenRecord t = {};
                ASSERT_INT_EQ(store_token_parse_record(r, &t), 0);
                ASSERT_STR_EQ(t.exec_id, "act:run");
                ASSERT_STR_EQ(t.task_id, "t1");
                ASSERT_STR_EQ(t.alias_of, "token1");
                ASSERT_TRUE(t.closed == NULL);
                store_token_record_done(&t);
        }
        freeReplyObject(r);
        ASSERT_INT_EQ(cmd_int("ZCARD %s", STORE_KEY_ACTIVITY_LEASES), 1);

        /* Delivered: the lease ends, the delivery token stays live. */
        store_activity_settle_call("review", "d1", true, &call);
        freeReplyObject(run_call(&call));
        ASSERT_INT_EQ(cmd_int("ZCARD %s", STORE_KEY_ACTIVITY_LEASES), 0);
        ASSERT_INT_EQ(cmd_int("EXISTS %s", "imgflow:token:d1"), 1);

        /* Not delivered: back in front, the delivery token gone. */
        store_activity_claim_call("review", "d2", 10000, 60, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_claim_parse(r, &msg), 0);
        freeReplyObject(r);
        ASSERT_STR_EQ(msg, "{\"n\":2}");
        free(msg);
        store_activity_settle_call("review", "d2", false, &call);
        freeReplyObject(run_call(&call));
        ASSERT_INT_EQ(cmd_int("EXISTS %s", "imgflow:token:d2"), 0);
        ASSERT_INT_EQ(cmd_int("LLEN %s", "imgflow:activity:review:tasks"), 1);

        /* A lease that expires (its API process died): the task goes back,
         * the delivery token that may have reached a caller is closed. */
        store_activity_claim_call("review", "d3", 5000, 60, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_claim_parse(r, &msg), 0);
        freeReplyObject(r);
        free(msg);
        store_activity_reclaim_call(4999, 100, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(r->integer, 0);
        freeReplyObject(r);
        store_activity_reclaim_call(5000, 100, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(r->integer, 1);
        freeReplyObject(r);
        ASSERT_INT_EQ(cmd_int("LLEN %s", "imgflow:activity:review:tasks"), 1);
        r = redisCommand(redis(), "GET imgflow:token:d3");
        ASSERT_INT_EQ(store_token_parse_full(r, &exec, &task, &closed), -ESTALE);
        ASSERT_STR_EQ(closed, "TaskDoesNotExist");
        freeReplyObject(r);
        free(exec);
        free(task);
        free(closed);
        ASSERT_TRUE(cmd_int("TTL %s", "imgflow:token:d3") > 0);

        /* A task whose token closed meanwhile (it timed out) is dropped. */
        k = new_update("act:run", 1, "x", 2);
        store_commit_close_task(k, "t2");
        ASSERT_INT_EQ(store_commit_sync(redis(), k, &res), 0);
        store_commit_free(k);
        store_activity_claim_call("review", "d4", 10000, 60, &call);
        r = run_call(&call);
        ASSERT_INT_EQ(store_activity_claim_parse(r, &msg), -ENOENT);
        freeReplyObject(r);
        ASSERT_INT_EQ(cmd_int("LLEN %s", "imgflow:activity:review:tasks"), 0);
        ASSERT_INT_EQ(cmd_int("EXISTS %s", "imgflow:token:d4"), 0);
}

/* A redrive's commit reopens a finished execution: RUNNING again, in the
 * running set, its keys no longer expiring, stopDate, output, error and
 * cause gone, redriveCount and redriveDate in DescribeExecution. */
TEST(reopen) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        json_t *j = NULL;

        k = new_create("sm", "again", "{}", 100);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        k = new_update("sm:again", 1, "end", 300);
        set_doc(k, "FAILED");
        store_commit_set_field(k, "error", "Storage.NotFound");
        store_commit_set_field(k, "cause", "no such bucket");
        add_event(k, json_pack("{s:i}", "id", 1));
        store_commit_set_terminal(k, 300, 50);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        ASSERT_TRUE(cmd_int("TTL %s", "imgflow:{sm:again}:exec") > 0);
        ASSERT_INT_EQ(cmd_int("SISMEMBER " STORE_KEY_RUNNING " %s", "sm:again"), 0);
        ASSERT_INT_EQ(store_exec_describe(c, "sm:again", &j), 0);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "redriveCount")), 0);
        ASSERT_NULL(json_object_get(j, "redriveDate"));
        /* a document that kept no states to continue from */
        ASSERT_STR_EQ(json_string_value(json_object_get(j, "redriveStatus")), "NOT_REDRIVABLE");
        json_decref(j);

        k = new_update("sm:again", 2, "redriven", 400);
        store_commit_set_reopen(k);
        store_commit_set_field(k, "redriveCount", "1");
        store_commit_set_field(k, "redriveDate", "400");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);
        ASSERT_INT_EQ(cmd_int("TTL %s", "imgflow:{sm:again}:exec"), -1);
        ASSERT_INT_EQ(cmd_int("TTL %s", "imgflow:{sm:again}:history"), -1);
        ASSERT_INT_EQ(cmd_int("SISMEMBER " STORE_KEY_RUNNING " %s", "sm:again"), 1);
        ASSERT_INT_EQ(store_exec_describe(c, "sm:again", &j), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(j, "status")), "RUNNING");
        ASSERT_NULL(json_object_get(j, "stopDate"));
        ASSERT_NULL(json_object_get(j, "error"));
        ASSERT_NULL(json_object_get(j, "cause"));
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "redriveCount")), 1);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "redriveDate")), 400);
        json_decref(j);

        /* ListExecutions: the redrive fields, and its redriveFilter */
        for (int redriven = 0; redriven < 2; redriven++) {
                StoreExecFilter f = {.state_machine = "sm",
                                     .redrive = redriven ? "REDRIVEN" : "NOT_REDRIVEN"};
                _cleanup_(store_call_done) StoreCall call = {};
                _cleanup_free_ char *cursor = NULL;
                redisReply *r = NULL;
                json_t *it;
                size_t i, found = 0;

                store_exec_list_call(&f, NULL, 1000, 10000, &call);
                ASSERT_INT_EQ(store_call_sync(c, &call, &r, NULL, 0), 0);
                ASSERT_INT_EQ(store_exec_list_parse(r, &j, &cursor), 0);
                freeReplyObject(r);
                ASSERT_TRUE(json_array_size(j) > 0);
                json_array_foreach (j, i, it) {
                        ASSERT_INT_EQ(json_integer_value(json_object_get(it, "redriveCount")) > 0, redriven);
                        if (streq(json_string_value(json_object_get(it, "executionId")), "sm:again")) {
                                found++;
                                ASSERT_INT_EQ(json_integer_value(json_object_get(it, "redriveDate")), 400);
                        }
                }
                ASSERT_INT_EQ(found, (size_t) redriven);
                json_decref(j);
        }
}

TEST(map_runs) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        json_t *d = NULL, *items = NULL, *failures = NULL;
        bool more = true;
        long long ttl;
        redisReply *r;
        const char *id = "0a1b2c3d-0000-4000-8000-00000000abcd";
        const char *arn = "imgflow:mapRun:sm/thumbs:0a1b2c3d-0000-4000-8000-00000000abcd";

        ASSERT_NULL(store_map_run_id_from_arn("imgflow:mapRun:sm:0a1b"));
        ASSERT_NULL(store_map_run_id_from_arn("imgflow:execution:sm:x"));
        ASSERT_NULL(store_map_run_id_from_arn("imgflow:mapRun:sm/thumbs:{x}"));
        {
                _cleanup_free_ char *got = store_map_run_id_from_arn(arn);
                _cleanup_free_ char *sm = store_map_run_state_machine_arn(arn);

                ASSERT_STR_EQ(got, id);
                ASSERT_STR_EQ(sm, "imgflow:stateMachine:sm/thumbs");
        }

        /* created with the execution's commit */
        k = new_create("sm", "mr", "{}", 1000);
        store_commit_add_map_run(k, id);
        store_commit_set_map_run_field(k, id, "mapRunArn", arn);
        store_commit_set_map_run_field(k, id, "executionArn", "imgflow:execution:sm:mr");
        store_commit_set_map_run_field(k, id, "status", "RUNNING");
        store_commit_set_map_run_field(k, id, "startDate", "1000");
        store_commit_set_map_run_field(k, id, "maxConcurrency", "2");
        store_commit_set_map_run_field(k, id, "toleratedFailurePercentage", "12.5");
        store_commit_set_map_run_field(k, id, "total", "10");
        store_commit_set_map_run_field(k, id, "next", "2");
        store_commit_set_map_run_field(k, id, "children", "2");
        store_commit_set_map_run_field(k, id, "childRunning", "2");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);

        /* a child's event: counters only, the later value of a field wins */
        k = new_update("sm:mr", 1, "x", 2000);
        store_commit_set_map_run_field(k, id, "next", "3");
        store_commit_set_map_run_field(k, id, "failed", "1");
        store_commit_set_map_run_field(k, id, "childFailed", "1");
        store_commit_set_map_run_field(k, id, "next", "4");
        store_commit_add_map_run_failure(
                k, id, "{\"index\":1,\"items\":1,\"error\":\"E\",\"cause\":\"c\",\"date\":2000}");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);

        /* a commit that loses the compare-and-set changes no record */
        k = new_update("sm:mr", 1, "stale", 2001);
        store_commit_set_map_run_field(k, id, "next", "9");
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_CONFLICT);
        store_commit_free(k);

        ASSERT_INT_EQ(store_map_run_describe_sync(c, id, &d), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(d, "executionId")), "sm:mr");
        ASSERT_STR_EQ(json_string_value(json_object_get(d, "mapRunArn")), arn);
        ASSERT_STR_EQ(json_string_value(json_object_get(d, "status")), "RUNNING");
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "maxConcurrency")), 2);
        ASSERT_TRUE(json_real_value(json_object_get(d, "toleratedFailurePercentage")) == 12.5);
        ASSERT_NULL(json_object_get(d, "stopDate"));
        ASSERT_JSON_EQ(
                json_object_get(d, "itemCounts"),
                "{\"pending\":6,\"running\":3,\"succeeded\":0,\"failed\":1,\"timedOut\":0,\"aborted\":0,"
                "\"total\":10,\"resultsWritten\":0,\"failuresNotRedrivable\":0,\"pendingRedrive\":0}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_object_get(d, "executionCounts"), "failed")),
                      1);
        json_decref(d);

        ASSERT_INT_EQ(store_map_run_list_sync(c, "sm:mr", 0, 10, &items, &more), 0);
        ASSERT_INT_EQ(json_array_size(items), 1);
        ASSERT_TRUE(!more);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, 0), "mapRunArn")), arn);
        json_decref(items);
        ASSERT_INT_EQ(store_map_run_list_sync(c, "sm:none", 0, 10, &items, &more), -ENOENT);

        ASSERT_INT_EQ(store_map_run_failures_sync(c, id, 0, 10, &failures), 0);
        ASSERT_JSON_EQ(failures,
                       "[{\"index\":1,\"items\":1,\"error\":\"E\",\"cause\":\"c\",\"date\":2000}]");
        json_decref(failures);
        ASSERT_INT_EQ(store_map_run_describe_sync(c, "ffff", &d), -ENOENT);

        /* terminal: the record expires with the execution */
        k = new_update("sm:mr", 2, "done", 3000);
        store_commit_set_map_run_field(k, id, "status", "SUCCEEDED");
        store_commit_set_map_run_field(k, id, "stopDate", "3000");
        store_commit_set_terminal(k, 3000, 60);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        ASSERT_INT_EQ(res.outcome, STORE_COMMIT_OK);
        store_commit_free(k);
        ASSERT_INT_EQ(store_map_run_describe_sync(c, id, &d), 0);
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "stopDate")), 3000);
        json_decref(d);
        r = redisCommand(c, "TTL imgflow:{sm:mr}:maprun:%s", id);
        ttl = r->integer;
        freeReplyObject(r);
        ASSERT_TRUE(ttl > 0 && ttl <= 60);
        r = redisCommand(c, "TTL imgflow:maprun:%s", id);
        ttl = r->integer;
        freeReplyObject(r);
        ASSERT_TRUE(ttl > 0 && ttl <= 60);
}

TEST(map_run_children) {
        redisContext *c = redis();
        StoreCommitResult res;
        StoreCommit *k;
        json_t *items = NULL, *d = NULL;
        char *cursor = NULL;
        long long ttl;
        redisReply *r;
        const char *id = "0a1b2c3d-0000-4000-8000-00000000beef";
        const char *arn = "imgflow:mapRun:sm/thumbs:0a1b2c3d-0000-4000-8000-00000000beef";
        _cleanup_(store_call_done) StoreCall call = {};

        /* the parent and its run */
        k = new_create("sm", "parent", "{}", 1000);
        store_commit_add_map_run(k, id);
        store_commit_set_map_run_field(k, id, "mapRunArn", arn);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        /* three children: each created once, listed under the run */
        for (int i = 0; i < 3; i++) {
                char name[64];

                snprintf(name, sizeof name, "%s-%d", id, i);
                for (int again = 0; again < 2; again++) {
                        k = new_create("sm", name, "{}", 2000 + i);
                        store_commit_set_map_child(k, id, "sm:parent", arn, i == 2 ? 4 : 0);
                        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
                        /* a start delivered twice makes no second child */
                        ASSERT_INT_EQ(res.outcome, again ? STORE_COMMIT_EXISTS : STORE_COMMIT_OK);
                        store_commit_free(k);
                }
        }
        {
                _cleanup_free_ char *child = NULL;

                ASSERT_TRUE(asprintf(&child, "sm:%s-1", id) > 0);
                _cleanup_json_ json_t *doc = json_object();

                k = new_update(child, 1, "x", 3000);
                store_commit_set_doc(k, doc, "SUCCEEDED");
                store_commit_set_terminal(k, 3000, 60);
                ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
                store_commit_free(k);
                ASSERT_INT_EQ(store_exec_describe(c, child, &d), 0);
                ASSERT_STR_EQ(json_string_value(json_object_get(d, "mapRunArn")), arn);
                ASSERT_STR_EQ(json_string_value(json_object_get(d, "parentExecutionId")), "sm:parent");
                json_decref(d);
                /* its record, as a MapChildEnded naming it is checked against; none for a
                 * child that does not exist */
                for (int missing = 0; missing < 2; missing++) {
                        _cleanup_(store_argv_done) StoreArgv a = {};
                        _cleanup_(store_child_record_done) StoreChildRecord rec = {};
                        redisReply *rr;

                        ASSERT_INT_EQ(store_child_record_argv(missing ? "sm:no-such-child" : child, &a), 0);
                        rr = redisCommandArgv(c, (int) a.n, (const char **) a.argv, a.lens);
                        ASSERT_INT_EQ(store_child_record_parse(rr, &rec), 0);
                        freeReplyObject(rr);
                        if (missing) {
                                ASSERT_NULL(rec.status);
                                ASSERT_NULL(rec.parent);
                                continue;
                        }
                        ASSERT_STR_EQ(rec.status, "SUCCEEDED");
                        ASSERT_STR_EQ(rec.parent, "sm:parent");
                        ASSERT_STR_EQ(rec.map_run_arn, arn);
                }
                /* a refused start's refusal: kept for its parent and run only, with a TTL */
                {
                        _cleanup_(store_argv_done) StoreArgv set = {}, get = {}, none = {};
                        _cleanup_free_ char *key = store_key_child_refused("sm:refused-child");
                        redisReply *rr;

                        ASSERT_INT_EQ(store_child_refused_set_argv("sm:refused-child", "sm:parent", arn, 60, &set),
                                      0);
                        rr = redisCommandArgv(c, (int) set.n, (const char **) set.argv, set.lens);
                        ASSERT_TRUE(rr && rr->type == REDIS_REPLY_STATUS);
                        freeReplyObject(rr);
                        rr = redisCommand(c, "TTL %s", key);
                        ASSERT_TRUE(rr && rr->type == REDIS_REPLY_INTEGER && rr->integer > 0 && rr->integer <= 60);
                        freeReplyObject(rr);
                        ASSERT_INT_EQ(store_child_refused_get_argv("sm:refused-child", &get), 0);
                        rr = redisCommandArgv(c, (int) get.n, (const char **) get.argv, get.lens);
                        ASSERT_INT_EQ(store_child_refused_parse(rr, "sm:parent", arn), 1);
                        ASSERT_INT_EQ(store_child_refused_parse(rr, "sm:other", arn), 0);
                        ASSERT_INT_EQ(store_child_refused_parse(rr, "sm:parent", "arn:other"), 0);
                        ASSERT_INT_EQ(store_child_refused_parse(rr, "sm:paren", arn), 0);
                        freeReplyObject(rr);
                        ASSERT_INT_EQ(store_child_refused_get_argv(child, &none), 0);
                        rr = redisCommandArgv(c, (int) none.n, (const char **) none.argv, none.lens);
                        ASSERT_INT_EQ(store_child_refused_parse(rr, "sm:parent", arn), 0);
                        freeReplyObject(rr);
                        ASSERT_TRUE(store_child_refused_set_argv("sm:x", "bad\nparent", arn, 60, &none) < 0);
                }
        }
        /* ListExecutions by mapRunArn: newest first, by status, in pages */
        store_exec_list_call(&(StoreExecFilter){.map_run = id}, NULL, 2, 0, &call);
        ASSERT_INT_EQ(store_call_sync(c, &call, &r, NULL, 0), 0);
        ASSERT_INT_EQ(store_exec_list_parse(r, &items, &cursor), 0);
        freeReplyObject(r);
        store_call_done(&call);
        ASSERT_INT_EQ(json_array_size(items), 2);
        ASSERT_TRUE(strstr(json_string_value(json_object_get(json_array_get(items, 0), "name")), "-2") !=
                    NULL);
        /* the item count a child keeps (ListExecutions' itemCount); none unless said */
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_array_get(items, 0), "itemCount")), 4);
        ASSERT_NULL(json_object_get(json_array_get(items, 1), "itemCount"));
        ASSERT_NOT_NULL(cursor);
        json_decref(items);
        store_exec_list_call(&(StoreExecFilter){.map_run = id}, cursor, 2, 0, &call);
        free(cursor);
        cursor = NULL;
        ASSERT_INT_EQ(store_call_sync(c, &call, &r, NULL, 0), 0);
        ASSERT_INT_EQ(store_exec_list_parse(r, &items, &cursor), 0);
        freeReplyObject(r);
        store_call_done(&call);
        ASSERT_INT_EQ(json_array_size(items), 1);
        ASSERT_NULL(cursor);
        json_decref(items);
        store_exec_list_call(&(StoreExecFilter){.map_run = id, .status = "SUCCEEDED"}, NULL, 10, 0, &call);
        ASSERT_INT_EQ(store_call_sync(c, &call, &r, NULL, 0), 0);
        ASSERT_INT_EQ(store_exec_list_parse(r, &items, &cursor), 0);
        freeReplyObject(r);
        store_call_done(&call);
        ASSERT_INT_EQ(json_array_size(items), 1);
        json_decref(items);
        /* ... and not under the state machine */
        ASSERT_INT_EQ(store_exec_list(c, "sm", NULL, 100, &items), 0);
        for (size_t i = 0; i < json_array_size(items); i++)
                ASSERT_TRUE(strstr(json_string_value(json_object_get(json_array_get(items, i), "name")),
                                   id) == NULL);
        json_decref(items);
        /* the run's list expires with the parent */
        k = new_update("sm:parent", 1, "done", 4000);
        store_commit_set_terminal(k, 4000, 60);
        ASSERT_INT_EQ(store_commit_sync(c, k, &res), 0);
        store_commit_free(k);
        r = redisCommand(c, "TTL imgflow:maprun:%s:executions", id);
        ttl = r->integer;
        freeReplyObject(r);
        ASSERT_TRUE(ttl > 0 && ttl <= 60);
}
