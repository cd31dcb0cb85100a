/* SPDX-License-Identifier: MIT */
/*
 * The hiredis sd-event adapter (daemon/redis) against a real redis-server
 * that this test starts on 127.0.0.1 and a free port (and kills by pid at
 * the end): AUTH + SELECT, commands, scripts (EVALSHA with the EVAL
 * fallback, our SHA1 equals Redis's), command timeouts, the server killed
 * and restarted (pending commands get NULL, then reconnect), the sync
 * helpers, refused settings. Exit 77 (skipped) without redis-server.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/test.h"
#include "log.h"
#include "redis.h"

#define PASSWORD "s3cret pass"

static pid_t server_pid = -1;
static int server_port;
static char redis_server[256];

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static bool find_redis_server(void) {
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = strdup(path ? path : "/usr/bin:/usr/sbin");
        char *save = NULL;

        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(redis_server, sizeof(redis_server), "%s/redis-server", d);
                if (access(redis_server, X_OK) == 0)
                        return true;
        }
        return false;
}

static int free_port(void) {
        struct sockaddr_in sa = {.sin_family = AF_INET};
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port;

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0) {
                close(fd);
                return -1;
        }
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

static bool port_open(int port) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        bool ok;

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

/* SIGKILL to a child this test started, reaped (bounded: 5 s). */
static void child_stop(pid_t *pid) {
        if (*pid <= 0)
                return;
        kill(*pid, SIGKILL);
        for (int i = 0; i < 500; i++) {
                if (waitpid(*pid, NULL, WNOHANG) == *pid)
                        break;
                usleep(10000);
        }
        *pid = -1;
}

/* redis-server with argv (stdout to /dev/null) in *pid, then ready()
 * polled every 10 ms for at most ms; false if it exited first. */
static bool child_start(char *const argv[], bool (*ready)(void), int ms, pid_t *pid) {
        pid_t p = fork();

        if (p < 0)
                return false;
        if (p == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, STDOUT_FILENO);
                execv(redis_server, argv);
                _exit(127);
        }
        *pid = p;
        for (int i = 0; i < ms / 10; i++) {
                if (ready())
                        return true;
                if (waitpid(p, NULL, WNOHANG) == p) {
                        *pid = -1;
                        return false;
                }
                usleep(10000);
        }
        return false;
}

static void server_stop(void) {
        child_stop(&server_pid);
}

static bool server_up(void) {
        return port_open(server_port);
}

static bool server_start(void) {
        char port[16];

        snprintf(port, sizeof(port), "%d", server_port);
        return child_start((char *const[]){"redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                                           "", "--appendonly", "no", "--requirepass", PASSWORD,
                                           "--enable-debug-command", "yes", "--dir", "/tmp", NULL},
                           server_up, 5000, &server_pid);
}

static void ensure_server(void) {
        if (server_pid > 0)
                return;
        if (server_port == 0) {
                server_port = free_port();
                atexit(server_stop);
        }
        if (!server_start())
                TEST_FAIL_("could not start %s on port %d", redis_server, server_port);
}

static Config *make_config(const char *password, const char *username, const char *timeout) {
        Config *c = NULL;
        char addr[64];

        snprintf(addr, sizeof(addr), "127.0.0.1:%d", server_port);
        if (config_new(&c) < 0 || config_set(c, "redis", "address", addr, NULL) < 0 ||
            config_set(c, "redis", "password", password, NULL) < 0 ||
            config_set(c, "redis", "username", username, NULL) < 0 ||
            config_set(c, "redis", "db", "3", NULL) < 0 ||
            config_set(c, "redis", "timeout", timeout, NULL) < 0)
                return NULL;
        return c;
}

/* ---- state collected by the callbacks */

typedef struct State {
        int connects, disconnects;
        char last_error[256];
        int replies;
        int null_replies;
        int type;
        long long integer;
        char str[512];
        size_t elements;
        char elem[4][64];
        size_t elem_len[4];
} State;

static void on_state(RedisConn *c, bool connected, const char *error, void *userdata) {
        State *s = userdata;
        if (connected)
                s->connects++;
        else {
                s->disconnects++;
                snprintf(s->last_error, sizeof(s->last_error), "%s", error ? error : "");
        }
}

static void on_reply(RedisConn *c, redisReply *r, void *userdata) {
        State *s = userdata;
        s->replies++;
        if (!r) {
                s->null_replies++;
                s->type = -1;
                return;
        }
        s->type = r->type;
        s->integer = r->integer;
        s->str[0] = '\0';
        if (r->str)
                snprintf(s->str, sizeof(s->str), "%.*s", (int) r->len, r->str);
        s->elements = r->elements;
        for (size_t i = 0; i < r->elements && i < 4; i++) {
                s->elem_len[i] = r->element[i]->str ? r->element[i]->len : 0;
                memcpy(s->elem[i], r->element[i]->str ? r->element[i]->str : "",
                       MIN_(s->elem_len[i], sizeof(s->elem[i]) - 1));
                s->elem[i][MIN_(s->elem_len[i], sizeof(s->elem[i]) - 1)] = '\0';
        }
}

/* Runs the loop until *counter reaches target or timeout_ms passes. */
static bool run_until(sd_event *e, const int *counter, int target, uint64_t timeout_ms) {
        uint64_t end = now_ms() + timeout_ms;
        while (*counter < target) {
                if (now_ms() > end)
                        return false;
                if (sd_event_run(e, 50 * 1000) < 0)
                        return false;
        }
        return true;
}

TEST(commands_auth_select) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        State s = {};

        ensure_server();
        cfg = make_config(PASSWORD, "", "2s");
        ASSERT_NOT_NULL(cfg);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);

        /* queued during connect: runs after AUTH and SELECT */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "SET %s %b", "k1", "v\0x", (size_t) 3), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 1, 5000));
        ASSERT_INT_EQ(s.connects, 1);
        ASSERT_INT_EQ(s.type, REDIS_REPLY_STATUS);
        ASSERT_STR_EQ(s.str, "OK");
        ASSERT_TRUE(redis_conn_is_connected(c));

        const char *argv[] = {"GET", "k1"};
        ASSERT_INT_EQ(redis_command_argv(c, on_reply, &s, 2, argv, NULL), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 2, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_STRING);
        ASSERT_TRUE(memcmp(s.str, "v", 2) == 0);

        /* SELECT 3 happened */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "CLIENT INFO"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 3, 5000));
        ASSERT_TRUE(strstr(s.str, " db=3 ") != NULL);

        /* error replies are replies */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "NOSUCHCOMMAND"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 4, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ERROR);

        /* many pipelined commands, replies in order */
        for (int i = 0; i < 1000; i++)
                ASSERT_INT_EQ(redis_command(c, on_reply, &s, "INCR counter"), 0);
        ASSERT_TRUE(redis_conn_pending(c) > 0);
        ASSERT_TRUE(run_until(e, &s.replies, 1004, 10000));
        ASSERT_INT_EQ(s.integer, 1000);
        ASSERT_INT_EQ(redis_conn_pending(c), 0);
        ASSERT_INT_EQ(s.null_replies, 0);
}

TEST(auth_with_username) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        State s = {};

        ensure_server();
        cfg = make_config(PASSWORD, "default", "2s");
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "ACL WHOAMI"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 1, 5000));
        ASSERT_STR_EQ(s.str, "default");
}

TEST(wrong_password_drops) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        State s = {};

        ensure_server();
        cfg = make_config("wrong", "", "2s");
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_TRUE(run_until(e, &s.disconnects, 1, 5000));
        ASSERT_TRUE(strstr(s.last_error, "WRONGPASS") != NULL || strstr(s.last_error, "invalid") != NULL);
}

static const char *script_src = "return {KEYS[1], ARGV[1], tostring(#ARGV)}";

TEST(scripts_evalsha_and_fallback) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        RedisScript script = {};
        State s = {};

        ensure_server();
        redis_script_init(&script, script_src);
        /* Scripts, not timeouts (command_timeout_then_reconnect): the 16 MiB
         * command below took over 2 s under ASan on a loaded machine, and a
         * timed-out command drops the connection. */
        cfg = make_config(PASSWORD, "", "60s");
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);

        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "SCRIPT FLUSH"), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "CONFIG RESETSTAT"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 2, 5000));

        const char *args[] = {"key{x}", "arg\0bin", "two"};
        const size_t lens[] = {6, 7, 3};
        /* not loaded: EVALSHA -> NOSCRIPT -> EVAL, transparently */
        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 3, args, lens), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 3, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ARRAY);
        ASSERT_INT_EQ(s.elements, 3);
        ASSERT_STR_EQ(s.elem[0], "key{x}");
        ASSERT_STR_EQ(s.elem[1], "arg"); /* binary-safe: "arg\0bin" */
        ASSERT_STR_EQ(s.elem[2], "2");

        /* our SHA1 is Redis's */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "SCRIPT LOAD %s", script_src), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 4, 5000));
        ASSERT_STR_EQ(s.str, script.sha);

        /* loaded now: EVALSHA only */
        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 2, args, NULL), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 5, 5000));
        ASSERT_STR_EQ(s.elem[2], "1");
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "INFO commandstats"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 6, 5000));
        ASSERT_TRUE(strstr(s.str, "cmdstat_eval:calls=1,") != NULL);
        ASSERT_TRUE(strstr(s.str, "cmdstat_evalsha:calls=2,") != NULL);

        /* a script error is an error reply, not NULL */
        RedisScript bad;
        redis_script_init(&bad, "return redis.call('NOPE')");
        ASSERT_INT_EQ(redis_eval(c, &bad, on_reply, &s, 0, 0, NULL, NULL), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 7, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ERROR);
        ASSERT_INT_EQ(redis_eval(c, &bad, on_reply, &s, 2, 1, args, NULL), -EINVAL);

        /* Many arguments (past the on-stack vector), binary ones, through
         * NOSCRIPT -> EVAL again. */
        const char *many[100];
        size_t many_lens[100];
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = "k\r\n\0x", many_lens[i] = i == 1 ? 5 : 6;
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "SCRIPT FLUSH"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 8, 5000));
        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 100, many, many_lens), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 9, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ARRAY);
        ASSERT_INT_EQ(s.elements, 3);
        ASSERT_INT_EQ(s.elem_len[0], 6);
        ASSERT_TRUE(memcmp(s.elem[0], "k\r\n\0x", 6) == 0);
        ASSERT_INT_EQ(s.elem_len[1], 5);
        ASSERT_STR_EQ(s.elem[2], "99");

        /* Lengths of several digits and an empty argument. */
        static char big[12345];
        memset(big, 'b', sizeof big);
        const char *odd[] = {"key{x}", big, ""};
        const size_t odd_lens[] = {6, sizeof big, 0};
        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 3, odd, odd_lens), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 10, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ARRAY);
        ASSERT_INT_EQ(s.elem_len[1], sizeof big);
        ASSERT_TRUE(memcmp(s.elem[1], big, sizeof s.elem[1] - 1) == 0); /* (kept: the first 63) */
        ASSERT_STR_EQ(s.elem[2], "2");

        /* Entries are kept and reused: a short command in the long one's
         * entry, through NOSCRIPT -> EVAL too, then more in flight at once
         * than are kept, each with its own arguments. */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "SCRIPT FLUSH"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 11, 5000));
        const char *one[] = {"k{y}", "z"};
        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 2, one, NULL), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 12, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ARRAY);
        ASSERT_STR_EQ(s.elem[0], "k{y}");
        ASSERT_STR_EQ(s.elem[1], "z");
        ASSERT_STR_EQ(s.elem[2], "1");
        for (int round = 0; round < 2; round++) {
                char nums[50][16];
                for (int i = 0; i < 50; i++) {
                        const char *a[] = {"k{z}", nums[i], big};
                        const size_t l[] = {4, (size_t) snprintf(nums[i], sizeof nums[i], "%d", i),
                                            (size_t) (i % 7) * 1000};
                        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 3, a, l), 0);
                }
                ASSERT_TRUE(run_until(e, &s.replies, 12 + 50 * (round + 1), 5000));
                ASSERT_INT_EQ(s.type, REDIS_REPLY_ARRAY);
                ASSERT_STR_EQ(s.elem[1], "49");
                ASSERT_INT_EQ(s.elem_len[2], 1);
        }

        /* A command larger than the socket takes at once: written in parts,
         * then a short one after it on the same buffer. */
        size_t huge_len = 16U * 1024U * 1024U;
        char *huge = malloc(huge_len);
        ASSERT_NOT_NULL(huge);
        memset(huge, 'h', huge_len);
        huge[huge_len - 1] = 'e';
        const char *h[] = {"k{h}", huge};
        const size_t hl[] = {4, huge_len};
        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 2, h, hl), 0);
        ASSERT_INT_EQ(redis_eval(c, &script, on_reply, &s, 1, 2, one, NULL), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 114, 60000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ARRAY);
        ASSERT_STR_EQ(s.elem[1], "z");
        free(huge);
}

TEST(command_timeout_then_reconnect) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        State s = {};

        ensure_server();
        cfg = make_config(PASSWORD, "", "500ms");
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_TRUE(run_until(e, &s.connects, 1, 5000));

        uint64_t start = now_ms();
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "DEBUG SLEEP 2"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 1, 5000));
        ASSERT_INT_EQ(s.null_replies, 1); /* timed out */
        ASSERT_TRUE(now_ms() - start < 1800);
        ASSERT_TRUE(s.disconnects >= 1);
        ASSERT_TRUE(strstr(s.last_error, "did not answer within 500 ms") != NULL);

        /* reconnects by itself once the server answers again */
        ASSERT_TRUE(run_until(e, &s.connects, 2, 10000));
        int before = s.replies;
        for (int tries = 0; tries < 50; tries++) {
                if (redis_command(c, on_reply, &s, "PING") == 0) {
                        ASSERT_TRUE(run_until(e, &s.replies, before + 1, 5000));
                        if (s.type == REDIS_REPLY_STATUS)
                                break;
                        before = s.replies;
                } else
                        run_until(e, &s.connects, s.connects + 1, 1000);
        }
        ASSERT_STR_EQ(s.str, "PONG");
}

/* A server that refuses a command for now, without running it (here BUSY:
 * a script past its time limit; LOADING after a restart is the same case),
 * gives the caller NULL, as a lost command: the caller runs it again
 * rather than take the error for the answer. Other errors stay replies. */
TEST(refused_for_now_is_lost) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(redisFreep) redisContext *busy = NULL, *ctl = NULL;
        _cleanup_free_ char *err = NULL;
        redisReply *r;
        State s = {};

        ensure_server();
        cfg = make_config(PASSWORD, "", "5s");
        ASSERT_NOT_NULL(cfg);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "SET refused-key here"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 1, 5000));
        ASSERT_STR_EQ(s.str, "OK");

        /* a script that runs until killed, past a 50 ms limit */
        ASSERT_INT_EQ(redis_sync_connect(cfg, &ctl, &err), 0);
        r = redisCommand(ctl, "CONFIG SET lua-time-limit 50");
        ASSERT_NOT_NULL(r);
        freeReplyObject(r);
        ASSERT_INT_EQ(redis_sync_connect(cfg, &busy, &err), 0);
        ASSERT_INT_EQ(redisAppendCommand(busy, "EVAL %s 0", "while true do end"), REDIS_OK);
        int done = 0;
        while (!done)
                ASSERT_INT_EQ(redisBufferWrite(busy, &done), REDIS_OK);
        /* until the script is past its limit: the server answers BUSY */
        bool is_busy = false;
        for (uint64_t end = now_ms() + 10000; !is_busy && now_ms() < end;) {
                r = redisCommand(ctl, "PING");
                ASSERT_NOT_NULL(r);
                is_busy = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSY ", 5) == 0;
                freeReplyObject(r);
                if (!is_busy)
                        usleep(20 * 1000);
        }
        ASSERT_TRUE(is_busy);

        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "GET refused-key"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 2, 5000));
        ASSERT_INT_EQ(s.null_replies, 1); /* BUSY: not an answer */
        ASSERT_TRUE(redis_conn_is_connected(c));

        r = redisCommand(ctl, "SCRIPT KILL");
        ASSERT_NOT_NULL(r);
        ASSERT_INT_EQ(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
        /* SCRIPT KILL answers before the script has unwound: BUSY until then */
        bool pong = false;
        for (uint64_t end = now_ms() + 10000; !pong && now_ms() < end;) {
                r = redisCommand(ctl, "PING");
                ASSERT_NOT_NULL(r);
                pong = r->type == REDIS_REPLY_STATUS;
                freeReplyObject(r);
                if (!pong)
                        usleep(20 * 1000);
        }
        ASSERT_TRUE(pong);
        r = redisCommand(ctl, "CONFIG SET lua-time-limit 5000");
        freeReplyObject(r);

        /* the same connection answers again; other errors are replies */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "GET refused-key"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 3, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_STRING);
        ASSERT_STR_EQ(s.str, "here");
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "NOSUCHCOMMAND"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 4, 5000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_ERROR);
        ASSERT_INT_EQ(s.null_replies, 1);
        ASSERT_INT_EQ(s.disconnects, 0);
}

TEST(server_killed_and_restarted) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        State s = {};

        ensure_server();
        cfg = make_config(PASSWORD, "", "30s");
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_TRUE(run_until(e, &s.connects, 1, 5000));

        /* a command waiting forever when the server dies gets NULL */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "BLPOP nothing-here 0"), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "PING"), 0);
        sd_event_run(e, 100 * 1000);
        server_stop();
        ASSERT_TRUE(run_until(e, &s.replies, 2, 5000));
        ASSERT_INT_EQ(s.null_replies, 2);
        ASSERT_TRUE(s.disconnects >= 1);
        ASSERT_FALSE(redis_conn_is_connected(c));

        /* while down, commands are refused or answered with NULL: never hang */
        int r = redis_command(c, on_reply, &s, "PING");
        ASSERT_TRUE(r == 0 || r == -ENOTCONN);

        ASSERT_TRUE(server_start());
        ASSERT_TRUE(run_until(e, &s.connects, 2, 10000));
        int before = s.replies;
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "CLIENT INFO"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, before + 1, 5000));
        ASSERT_TRUE(strstr(s.str, " db=3 ") != NULL); /* SELECT again after reconnect */
}

TEST(free_with_pending_commands) {
        _cleanup_config_ Config *cfg = NULL;
        RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        State s = {};

        ensure_server();
        cfg = make_config(PASSWORD, "", "5s");
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_TRUE(run_until(e, &s.connects, 1, 5000));
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "BLPOP nothing-here 0"), 0);
        sd_event_run(e, 50 * 1000);
        c = redis_conn_free(c);
        ASSERT_INT_EQ(s.replies, 1);
        ASSERT_INT_EQ(s.null_replies, 1);
}

TEST(sync_helpers) {
        _cleanup_config_ Config *cfg = NULL, *bad = NULL;
        _cleanup_(redisFreep) redisContext *ctx = NULL;
        _cleanup_free_ char *err = NULL;
        RedisScript script;

        ensure_server();
        redis_script_init(&script, script_src);
        cfg = make_config(PASSWORD, "", "2s");
        ASSERT_INT_EQ(redis_sync_connect(cfg, &ctx, &err), 0);
        redisReply *r = redisCommand(ctx, "SCRIPT FLUSH");
        freeReplyObject(r);
        const char *args[] = {"k", "a"};
        _cleanup_redis_reply_ redisReply *r1 = redis_sync_eval(ctx, &script, 1, 2, args, NULL);
        ASSERT_NOT_NULL(r1);
        ASSERT_INT_EQ(r1->type, REDIS_REPLY_ARRAY);
        ASSERT_STR_EQ(r1->element[0]->str, "k");
        _cleanup_redis_reply_ redisReply *r2 = redis_sync_eval(ctx, &script, 1, 2, args, NULL);
        ASSERT_NOT_NULL(r2);
        ASSERT_STR_EQ(r2->element[1]->str, "a");
        _cleanup_redis_reply_ redisReply *r3 = redisCommand(ctx, "CLIENT INFO");
        ASSERT_TRUE(strstr(r3->str, " db=3 ") != NULL);

        /* A wrong password and a missing one are named as Redis names them. */
        bad = make_config("wrong", "", "2s");
        redisContext *ctx2 = NULL;
        ASSERT_INT_EQ(redis_sync_connect(bad, &ctx2, &err), -EACCES);
        ASSERT_NULL(ctx2);
        ASSERT_TRUE(strstr(err, "WRONGPASS") != NULL);
        ASSERT_TRUE(strstr(err, "redis.password") != NULL);
        bad = config_free(bad);
        bad = make_config("", "", "2s");
        ASSERT_INT_EQ(redis_sync_connect(bad, &ctx2, &err), -EACCES);
        ASSERT_NULL(ctx2);
        ASSERT_TRUE(strstr(err, "NOAUTH") != NULL);
        ASSERT_TRUE(strstr(err, "redis.password") != NULL);
}

/* ---- a replica of the server, for redis.wait_replicas */

static pid_t replica_pid = -1;
static int replica_port;

static void replica_stop(void) {
        child_stop(&replica_pid);
}

/* The master's INFO replication names one replica online. */
static bool replica_online(void) {
        _cleanup_config_ Config *cfg = make_config(PASSWORD, "", "2s");
        _cleanup_(redisFreep) redisContext *ctx = NULL;
        _cleanup_free_ char *err = NULL;

        if (!cfg || redis_sync_connect(cfg, &ctx, &err) < 0)
                return false;
        _cleanup_redis_reply_ redisReply *r = redisCommand(ctx, "INFO replication");
        return r && r->type == REDIS_REPLY_STRING && strstr(r->str, "state=online") != NULL;
}

static bool replica_start(void) {
        char port[16], master[16];

        replica_port = free_port();
        snprintf(port, sizeof(port), "%d", replica_port);
        snprintf(master, sizeof(master), "%d", server_port);
        atexit(replica_stop);
        /* 15 s: the first sync, under load */
        return child_start((char *const[]){"redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
                                           "", "--appendonly", "no", "--replicaof", "127.0.0.1", master,
                                           "--masterauth", PASSWORD, "--dir", "/tmp", NULL},
                           replica_online, 15000, &replica_pid);
}

TEST(wait_replicas_holds_replies) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(redisFreep) redisContext *ctx = NULL;
        _cleanup_free_ char *err = NULL;
        State s = {};

        ensure_server();
        ASSERT_TRUE(replica_start());
        cfg = make_config(PASSWORD, "", "20s");
        ASSERT_INT_EQ(config_set(cfg, "redis", "wait_replicas", "1", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "redis", "wait_timeout", "200ms", NULL), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_TRUE(run_until(e, &s.connects, 1, 5000));

        /* The replica acknowledges: replies come, in order. */
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "SET wait-key 1"), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "INCR wait-key"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 2, 10000));
        ASSERT_INT_EQ(s.type, REDIS_REPLY_INTEGER);
        ASSERT_INT_EQ(s.integer, 2);
        ASSERT_INT_EQ(redis_conn_wait_shortfalls(c), 0);

        /* The replica stopped: the write is made on the master, but its
         * reply is held (WAIT again and again) until the replica has it. */
        ASSERT_INT_EQ(kill(replica_pid, SIGSTOP), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "INCR wait-key"), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "PING"), 0);
        uint64_t end = now_ms() + 1500;
        while (now_ms() < end)
                sd_event_run(e, 50 * 1000);
        ASSERT_INT_EQ(s.replies, 2);
        ASSERT_TRUE(redis_conn_wait_shortfalls(c) >= 2);
        ASSERT_TRUE(redis_conn_is_connected(c));

        /* The sync helper says so too, within redis.timeout. */
        _cleanup_config_ Config *quick = make_config(PASSWORD, "", "1s");
        ASSERT_INT_EQ(config_set(quick, "redis", "wait_replicas", "1", NULL), 0);
        ASSERT_INT_EQ(config_set(quick, "redis", "wait_timeout", "300ms", NULL), 0);
        ASSERT_INT_EQ(redis_sync_connect(quick, &ctx, &err), 0);
        ASSERT_INT_EQ(redis_sync_wait(ctx, quick, &err), -ETIMEDOUT);
        ASSERT_TRUE(strstr(err, "Redis replicas behind: 0 of 1") != NULL);

        ASSERT_INT_EQ(kill(replica_pid, SIGCONT), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 4, 15000));
        ASSERT_INT_EQ(s.null_replies, 0);
        ASSERT_INT_EQ(s.type, REDIS_REPLY_STATUS);
        ASSERT_STR_EQ(s.str, "PONG");
        ASSERT_INT_EQ(redis_sync_wait(ctx, quick, &err), 0);

        /* The master lost: held replies are lost with it (NULL), not delivered. */
        ASSERT_INT_EQ(kill(replica_pid, SIGSTOP), 0);
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "INCR wait-key"), 0);
        end = now_ms() + 600;
        while (now_ms() < end)
                sd_event_run(e, 50 * 1000);
        ASSERT_INT_EQ(s.replies, 4);
        server_stop();
        ASSERT_TRUE(run_until(e, &s.replies, 5, 10000));
        ASSERT_INT_EQ(s.null_replies, 1);
        (void) kill(replica_pid, SIGCONT);
        replica_stop();
        c = redis_conn_free(c);
        ensure_server();
}

/* ---- a Sentinel watching the server, for redis.sentinels */

static pid_t sentinel_pid = -1;
static int sentinel_port;
static char sentinel_dir[64];

static void sentinel_stop(void) {
        char path[128];

        child_stop(&sentinel_pid);
        if (!sentinel_dir[0])
                return;
        snprintf(path, sizeof path, "%s/sentinel.conf", sentinel_dir);
        unlink(path);
        rmdir(sentinel_dir);
        sentinel_dir[0] = '\0';
}

/* The Sentinel names the server as the master of "imgflow". */
static bool sentinel_knows(void) {
        struct timeval tv = {.tv_sec = 1};
        _cleanup_(redisFreep) redisContext *ctx = redisConnectWithTimeout("127.0.0.1", sentinel_port, tv);

        if (!ctx || ctx->err)
                return false;
        _cleanup_redis_reply_ redisReply *r = redisCommand(ctx, "SENTINEL get-master-addr-by-name imgflow");
        return r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               atoi(r->element[1]->str) == server_port;
}

static bool sentinel_start(void) {
        char path[128];
        FILE *f;

        snprintf(sentinel_dir, sizeof sentinel_dir, "/tmp/imgflow-sentinel-XXXXXX");
        if (!mkdtemp(sentinel_dir)) {
                sentinel_dir[0] = '\0';
                return false;
        }
        atexit(sentinel_stop);
        sentinel_port = free_port();
        snprintf(path, sizeof path, "%s/sentinel.conf", sentinel_dir);
        f = fopen(path, "we");
        if (!f)
                return false;
        fprintf(f,
                "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
                "sentinel monitor imgflow 127.0.0.1 %d 1\nsentinel auth-pass imgflow \"%s\"\n",
                sentinel_port, sentinel_dir, server_port, PASSWORD);
        fclose(f);
        return child_start((char *const[]){"redis-server", path, "--sentinel", NULL}, sentinel_knows, 15000,
                           &sentinel_pid);
}

TEST(sentinel_names_the_master) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(redis_conn_freep) RedisConn *c = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(redisFreep) redisContext *ctx = NULL;
        _cleanup_free_ char *err = NULL;
        char list[64];
        State s = {};

        ensure_server();
        ASSERT_TRUE(sentinel_start());
        cfg = make_config(PASSWORD, "", "5s");
        /* redis.address leads nowhere, the first Sentinel is not there:
         * the second one names the master. */
        snprintf(list, sizeof list, "127.0.0.1:%d, 127.0.0.1:%d", free_port(), sentinel_port);
        ASSERT_INT_EQ(config_set(cfg, "redis", "address", "127.0.0.1:1", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "redis", "sentinels", list, NULL), 0);
        ASSERT_INT_EQ(redis_check_config(cfg), 0);
        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_TRUE(run_until(e, &s.connects, 1, 10000));
        ASSERT_INT_EQ(redis_command(c, on_reply, &s, "CLIENT INFO"), 0);
        ASSERT_TRUE(run_until(e, &s.replies, 1, 5000));
        ASSERT_TRUE(strstr(s.str, " db=3 ") != NULL);
        ASSERT_INT_EQ(redis_sync_connect(cfg, &ctx, &err), 0);
        c = redis_conn_free(c);

        /* A name no Sentinel knows: a failed attempt that says so. */
        ASSERT_INT_EQ(config_set(cfg, "redis", "master_name", "nobody", NULL), 0);
        s = (State){};
        ASSERT_INT_EQ(redis_conn_new(e, cfg, on_state, &s, &c), 0);
        ASSERT_TRUE(run_until(e, &s.disconnects, 1, 10000));
        ASSERT_INT_EQ(s.connects, 0);
        ASSERT_TRUE(strstr(s.last_error, "no Sentinel of redis.sentinels named the master nobody") != NULL);
        ASSERT_TRUE(strstr(s.last_error, "does not know a master named") != NULL);
        redisFree(TAKE_PTR(ctx));
        ASSERT_INT_EQ(redis_sync_connect(cfg, &ctx, &err), -EHOSTUNREACH);
        ASSERT_TRUE(strstr(err, "no Sentinel of redis.sentinels named the master nobody") != NULL);

        ASSERT_INT_EQ(config_set(cfg, "redis", "sentinels", "127.0.0.1:70000", NULL), 0);
        ASSERT_INT_EQ(redis_check_config(cfg), -EINVAL);
        sentinel_stop();
}

TEST(refused_settings) {
        _cleanup_config_ Config *cfg = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *err = NULL;
        RedisConn *c = NULL;
        redisContext *ctx = NULL;

        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(config_new(&cfg), 0);
        ASSERT_INT_EQ(config_set(cfg, "redis", "tls", "true", NULL), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, NULL, NULL, &c), -EINVAL);
        ASSERT_NULL(c);
        ASSERT_INT_EQ(redis_sync_connect(cfg, &ctx, &err), -EINVAL);
        ASSERT_TRUE(strstr(err, "stunnel") != NULL);
        ASSERT_INT_EQ(config_set(cfg, "redis", "tls", "false", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "redis", "address", "host:port", NULL), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, NULL, NULL, &c), -EINVAL);
        ASSERT_INT_EQ(config_set(cfg, "redis", "address", "127.0.0.1:1", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "redis", "wait_replicas", "1", NULL), 0);
        ASSERT_INT_EQ(config_set(cfg, "redis", "wait_timeout", "0", NULL), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, NULL, NULL, &c), -EINVAL);
        ASSERT_INT_EQ(config_set(cfg, "redis", "wait_replicas", "2000", NULL), 0);
        ASSERT_INT_EQ(redis_conn_new(e, cfg, NULL, NULL, &c), -EINVAL);
}

TEST(parse_address) {
        _cleanup_free_ char *h = NULL, *p = NULL;
        int port;

        ASSERT_INT_EQ(redis_parse_address("10.1.2.3:7000", &h, &port, &p), 0);
        ASSERT_STR_EQ(h, "10.1.2.3");
        ASSERT_INT_EQ(port, 7000);
        ASSERT_NULL(p);
        free(h);
        h = NULL;
        ASSERT_INT_EQ(redis_parse_address("redis.internal", &h, &port, &p), 0);
        ASSERT_INT_EQ(port, 6379);
        free(h);
        h = NULL;
        ASSERT_INT_EQ(redis_parse_address("[::1]:6380", &h, &port, &p), 0);
        ASSERT_STR_EQ(h, "::1");
        ASSERT_INT_EQ(port, 6380);
        free(h);
        h = NULL;
        ASSERT_INT_EQ(redis_parse_address("unix:/run/redis/redis.sock", &h, &port, &p), 0);
        ASSERT_NULL(h);
        ASSERT_STR_EQ(p, "/run/redis/redis.sock");
        ASSERT_INT_EQ(redis_parse_address("::1", &h, &port, &p), -EINVAL);
        ASSERT_INT_EQ(redis_parse_address("h:0", &h, &port, &p), -EINVAL);
        ASSERT_INT_EQ(redis_parse_address("h:70000", &h, &port, &p), -EINVAL);
        ASSERT_INT_EQ(redis_parse_address("", &h, &port, &p), -EINVAL);
        ASSERT_INT_EQ(redis_parse_address("unix:", &h, &port, &p), -EINVAL);
}

__attribute__((constructor)) static void check_redis(void) {
        signal(SIGPIPE, SIG_IGN);
        log_set_target(LOG_TARGET_CONSOLE);
        if (!find_redis_server()) {
                fprintf(stderr, "redis-server not found: skipped\n");
                exit(77);
        }
}
