/* SPDX-License-Identifier: MIT */

/*
 * Integration test of imgflow-mock-kafka (deploy/mock-kafka.c): start it as a
 * child process (path in $IMGFLOW_MOCK_KAFKA), check its CLI and command
 * protocol, and check that real librdkafka clients work against it:
 *   - topics and partition counts as asked for;
 *   - a consumer group of two consumers shares the partitions and together
 *     receives all 100 messages;
 *   - with an idempotent producer (acks=all), taking a broker down and up
 *     while producing loses and duplicates nothing;
 *   - injected request errors are retried.
 * Every test starts its own mock cluster and stops it (by pid); the whole
 * binary is bounded by alarm(), and the children die with it (PDEATHSIG).
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "../unit/test.h"

#define N_MESSAGES 100

typedef struct MockKafka {
        pid_t pid;
        int in_fd;  /* its stdin (commands), -1 if none */
        int out_fd; /* its stdout (BOOTSTRAP, answers) */
        char bootstrap[1100];
        char buf[4096];
        size_t used;
} MockKafka;

/* The mock of the running test, stopped at exit if a test failed midway. */
static MockKafka *running_mock;

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *mock_path(void) {
        const char *p = getenv("IMGFLOW_MOCK_KAFKA");
        return p && *p ? p : "imgflow-mock-kafka";
}

/* Reads one line of the mock's stdout within timeout_ms. 0, or -ETIMEDOUT, -EPIPE. */
static int mock_read_line(MockKafka *m, char *line, size_t size, int timeout_ms) {
        int64_t deadline = now_ms() + timeout_ms;

        for (;;) {
                char *nl = memchr(m->buf, '\n', m->used);
                struct pollfd p = {.fd = m->out_fd, .events = POLLIN};
                int64_t left;
                ssize_t k;

                if (nl) {
                        size_t len = (size_t) (nl - m->buf);
                        snprintf(line, size, "%.*s", (int) len, m->buf);
                        memmove(m->buf, nl + 1, m->used - len - 1);
                        m->used -= len + 1;
                        return 0;
                }
                left = deadline - now_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) left) <= 0)
                        continue;
                k = read(m->out_fd, m->buf + m->used, sizeof m->buf - 1 - m->used);
                if (k <= 0)
                        return -EPIPE;
                m->used += (size_t) k;
        }
}

/* Starts the mock with the given extra arguments (NULL-terminated). */
static int mock_start(MockKafka *m, const char *const *args, bool with_stdin) {
        int in[2], out[2];
        char line[1100];
        const char *argv[16];
        size_t n = 0;
        int r;

        memset(m, 0, sizeof *m);
        m->in_fd = -1;
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
                return -errno;

        argv[n++] = mock_path();
        for (; args && *args && n < 15; args++)
                argv[n++] = *args;
        argv[n] = NULL;

        m->pid = fork();
        if (m->pid < 0)
                return -errno;
        if (m->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (with_stdin)
                        dup2(in[0], STDIN_FILENO);
                else {
                        int null = open("/dev/null", O_RDONLY);
                        dup2(null, STDIN_FILENO);
                }
                dup2(out[1], STDOUT_FILENO);
                execvp(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(in[0]);
        close(out[1]);
        if (with_stdin)
                m->in_fd = in[1];
        else
                close(in[1]);
        m->out_fd = out[0];
        running_mock = m;

        r = mock_read_line(m, line, sizeof line, 10000);
        if (r < 0)
                return r;
        if (strncmp(line, "BOOTSTRAP=", 10) != 0)
                return -EBADMSG;
        snprintf(m->bootstrap, sizeof m->bootstrap, "%s", line + 10);
        return 0;
}

/* Sends a command, returns the answer line in `answer`. */
static int mock_command(MockKafka *m, const char *cmd, char *answer, size_t size) {
        char line[256];
        int n = snprintf(line, sizeof line, "%s\n", cmd);

        if (write(m->in_fd, line, (size_t) n) != n)
                return -EPIPE;
        return mock_read_line(m, answer, size, 10000);
}

#define ASSERT_COMMAND_OK(m, cmd)                                                                           \
        do {                                                                                                \
                char answer_[256] = "";                                                                     \
                ASSERT_INT_EQ(mock_command((m), (cmd), answer_, sizeof answer_), 0);                        \
                ASSERT_STR_EQ(answer_, "ok");                                                               \
        } while (0)

/* Waits up to timeout_ms for the child to exit; returns its wait status or -ETIMEDOUT. */
static int wait_exit(pid_t pid, int timeout_ms) {
        int64_t deadline = now_ms() + timeout_ms;
        int status;

        while (now_ms() < deadline) {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid)
                        return status;
                if (r < 0)
                        return -errno;
                usleep(20000);
        }
        return -ETIMEDOUT;
}

/* Stops the mock: SIGTERM to its pid, SIGKILL if it does not exit. Returns
 * the wait status. */
static int mock_stop(MockKafka *m) {
        int status = -1;

        if (m->pid > 0) {
                kill(m->pid, SIGTERM);
                status = wait_exit(m->pid, 10000);
                if (status == -ETIMEDOUT) {
                        kill(m->pid, SIGKILL);
                        status = wait_exit(m->pid, 5000);
                }
                m->pid = 0;
        }
        if (m->in_fd >= 0)
                close(m->in_fd);
        if (m->out_fd > 0)
                close(m->out_fd);
        m->in_fd = m->out_fd = -1;
        if (running_mock == m)
                running_mock = NULL;
        return status;
}

__attribute__((destructor)) static void stop_leftover_mock(void) {
        if (running_mock && running_mock->pid > 0)
                kill(running_mock->pid, SIGKILL);
}

__attribute__((constructor)) static void bound_runtime(void) {
        alarm(58); /* the children go with us (PDEATHSIG) */
}

/* ---- librdkafka clients ---- */

typedef struct Delivery {
        int ok;
        int failed;
        char last_error[256];
} Delivery;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
        Delivery *d = opaque;

        if (msg->err) {
                d->failed++;
                snprintf(d->last_error, sizeof d->last_error, "%s", rd_kafka_err2str(msg->err));
        } else
                d->ok++;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
        char errstr[256];
        if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "conf %s=%s: %s\n", k, v, errstr);
                abort();
        }
}

static rd_kafka_t *producer_new(const char *bootstrap, Delivery *d) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char errstr[256];
        rd_kafka_t *rk;

        set(conf, "bootstrap.servers", bootstrap);
        set(conf, "enable.idempotence", "true"); /* implies acks=all */
        set(conf, "acks", "all");
        set(conf, "linger.ms", "5");
        set(conf, "message.timeout.ms", "45000");
        set(conf, "reconnect.backoff.max.ms", "500"); /* quick return of a broker that was down */
        set(conf, "log_level", "3");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        rd_kafka_conf_set_opaque(conf, d);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!rk) {
                fprintf(stderr, "producer: %s\n", errstr);
                abort();
        }
        return rk;
}

/* Produces message i (value "i", key "exec-i") to `partition` (or by key
 * with RD_KAFKA_PARTITION_UA). */
static int produce_to(rd_kafka_t *rk, const char *topic, int32_t partition, int i) {
        char key[32], value[64];
        rd_kafka_resp_err_t e;

        snprintf(key, sizeof key, "exec-%d", i);
        snprintf(value, sizeof value, "%d", i);
        e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, strlen(value)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        rd_kafka_poll(rk, 0);
        return e ? -EIO : 0;
}

static int produce(rd_kafka_t *rk, const char *topic, int i) {
        return produce_to(rk, topic, RD_KAFKA_PARTITION_UA, i);
}

static rd_kafka_t *consumer_new(const char *bootstrap, const char *group, const char *topic) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *topics;
        char errstr[256];
        rd_kafka_t *rk;

        set(conf, "bootstrap.servers", bootstrap);
        set(conf, "group.id", group);
        set(conf, "auto.offset.reset", "earliest");
        set(conf, "session.timeout.ms", "6000");
        set(conf, "heartbeat.interval.ms", "300");
        set(conf, "reconnect.backoff.max.ms", "500");
        set(conf, "log_level", "3");
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
        if (!rk) {
                fprintf(stderr, "consumer: %s\n", errstr);
                abort();
        }
        rd_kafka_poll_set_consumer(rk);
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
        if (rd_kafka_subscribe(rk, topics)) {
                fprintf(stderr, "subscribe failed\n");
                abort();
        }
        rd_kafka_topic_partition_list_destroy(topics);
        return rk;
}

static int assignment_size(rd_kafka_t *rk) {
        rd_kafka_topic_partition_list_t *a = NULL;
        int n;

        if (rd_kafka_assignment(rk, &a))
                return -1;
        n = a->cnt;
        rd_kafka_topic_partition_list_destroy(a);
        return n;
}

/* Polls both consumers until each has `each` partitions assigned (or 30 s). */
static void wait_balanced(rd_kafka_t **cs, int each) {
        int64_t deadline = now_ms() + 30000;

        while (now_ms() < deadline && !(assignment_size(cs[0]) == each && assignment_size(cs[1]) == each))
                for (int i = 0; i < 2; i++) {
                        rd_kafka_message_t *msg = rd_kafka_consumer_poll(cs[i], 50);
                        if (msg)
                                rd_kafka_message_destroy(msg);
                }
}

/* Value of a test message (0..N_MESSAGES-1) or -1. */
static int message_value(const rd_kafka_message_t *msg) {
        char v[16];
        int i;

        if (msg->err || msg->len == 0 || msg->len >= sizeof v)
                return -1;
        memcpy(v, msg->payload, msg->len);
        v[msg->len] = '\0';
        i = atoi(v);
        return i >= 0 && i < N_MESSAGES ? i : -1;
}

/* Polls the consumers round-robin for at least min_ms and until `want`
 * distinct messages were seen or timeout_ms passed. seen and distinct carry over
 * between calls; counts[i] (messages of consumer i) and *total (duplicates
 * included) are added to. */
static void consume(rd_kafka_t **cs, size_t n, bool *seen, int *distinct, int want, int min_ms,
                    int timeout_ms, int *counts, int *total) {
        int64_t start = now_ms();

        while (now_ms() - start < timeout_ms && (*distinct < want || now_ms() - start < min_ms))
                for (size_t i = 0; i < n; i++) {
                        rd_kafka_message_t *msg = rd_kafka_consumer_poll(cs[i], 20);
                        int v;

                        if (!msg)
                                continue;
                        v = message_value(msg);
                        if (v >= 0) {
                                (*total)++;
                                counts[i]++;
                                if (!seen[v]) {
                                        seen[v] = true;
                                        (*distinct)++;
                                }
                        }
                        rd_kafka_message_destroy(msg);
                }
}

/* All N_MESSAGES: returns the distinct count; then polls a little longer so
 * that a duplicate, if any, shows in *ret_total. */
static int consume_all(rd_kafka_t **cs, size_t n, int timeout_ms, int *counts, int *ret_total) {
        bool seen[N_MESSAGES] = {};
        int distinct = 0, total = 0;

        consume(cs, n, seen, &distinct, N_MESSAGES, 0, timeout_ms, counts, &total);
        consume(cs, n, seen, &distinct, 0, 300, 300, counts, &total);
        *ret_total = total;
        return distinct;
}

static int topic_partitions(const char *bootstrap, const char *topic) {
        Delivery d = {};
        rd_kafka_t *rk = producer_new(bootstrap, &d);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
        int n = -1;

        if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        n = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(t);
        rd_kafka_destroy(rk);
        return n;
}

/* ---- tests ---- */

TEST(cli_topics_and_bootstrap) {
        static const char *const args[] = {"--brokers",     "2",        "--partitions", "3", "--topics",
                                           "extra:7,plain", "--prefix", "acme.",        NULL};
        MockKafka m;
        int status;

        ASSERT_INT_EQ(mock_start(&m, args, true), 0);
        /* Two brokers, both on loopback. */
        {
                char copy[sizeof m.bootstrap], *save = NULL;
                int n = 0;
                snprintf(copy, sizeof copy, "%s", m.bootstrap);
                for (char *b = strtok_r(copy, ",", &save); b; b = strtok_r(NULL, ",", &save), n++)
                        ASSERT_TRUE(strncmp(b, "127.0.0.1:", 10) == 0);
                ASSERT_INT_EQ(n, 2);
        }
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "acme.jobs"), 3);
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "acme.tasks"), 3);
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "acme.events"), 3);
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "acme.notifications"), 3);
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "acme.dlq"), 3);
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "extra"), 7);
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "plain"), 3);

        ASSERT_COMMAND_OK(&m, "topic later 5");
        ASSERT_INT_EQ(topic_partitions(m.bootstrap, "later"), 5);

        /* Commands answer ok or error: ... */
        {
                char a[256];
                ASSERT_INT_EQ(mock_command(&m, "down 3", a, sizeof a), 0);
                ASSERT_TRUE(strncmp(a, "error: ", 7) == 0);
                ASSERT_INT_EQ(mock_command(&m, "error NoSuchApi 1 1", a, sizeof a), 0);
                ASSERT_TRUE(strncmp(a, "error: ", 7) == 0);
                ASSERT_INT_EQ(mock_command(&m, "topic bad/name 1", a, sizeof a), 0);
                ASSERT_TRUE(strncmp(a, "error: ", 7) == 0);
                ASSERT_INT_EQ(mock_command(&m, "frobnicate", a, sizeof a), 0);
                ASSERT_TRUE(strncmp(a, "error: ", 7) == 0);
        }
        ASSERT_COMMAND_OK(&m, "error Produce 2 NOT_LEADER_FOR_PARTITION");
        ASSERT_COMMAND_OK(&m, "error Produce 0 0"); /* count 0 clears */
        ASSERT_COMMAND_OK(&m, "rtt 1 0");
        ASSERT_COMMAND_OK(&m, "leader extra 0 2");
        ASSERT_COMMAND_OK(&m, "coordinator group some-group 1");

        /* quit: answers ok and exits 0. */
        ASSERT_COMMAND_OK(&m, "quit");
        status = wait_exit(m.pid, 10000);
        ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        m.pid = 0;
        mock_stop(&m);
}

TEST(cli_exit_paths) {
        static const char *const no_stdin[] = {"--no-stdin", "--brokers", "1", NULL};
        static const char *const bad[] = {"--brokers", "0", NULL};
        MockKafka m;
        int status;

        /* stdin at EOF (/dev/null): exits 0 at once. */
        ASSERT_INT_EQ(mock_start(&m, NULL, false), 0);
        status = wait_exit(m.pid, 10000);
        ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        m.pid = 0;
        mock_stop(&m);

        /* --no-stdin: keeps running with stdin at EOF; SIGTERM exits 0. */
        ASSERT_INT_EQ(mock_start(&m, no_stdin, false), 0);
        usleep(300000);
        ASSERT_INT_EQ(waitpid(m.pid, &status, WNOHANG), 0);
        status = mock_stop(&m);
        ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* Bad options: exit 2, no BOOTSTRAP line. */
        ASSERT_INT_EQ(mock_start(&m, bad, false), -EPIPE);
        status = wait_exit(m.pid, 10000);
        ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 2);
        m.pid = 0;
        mock_stop(&m);
}

TEST(control_fifo) {
        char dir[] = "/tmp/imgflow-mock-kafka-XXXXXX", fifo[64], answer[256];
        const char *args[] = {"--control-fifo", fifo, NULL};
        MockKafka m;
        int fd, status;

        ASSERT_NOT_NULL(mkdtemp(dir));
        snprintf(fifo, sizeof fifo, "%s/control", dir);
        ASSERT_INT_EQ(mock_start(&m, args, false), 0);

        /* Two writers one after the other: the FIFO does not end with the first. */
        for (int i = 0; i < 2; i++) {
                fd = open(fifo, O_WRONLY | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                ASSERT_INT_EQ(write(fd, i ? "up 2\n" : "down 2\n", i ? 5 : 7), i ? 5 : 7);
                close(fd);
                ASSERT_INT_EQ(mock_read_line(&m, answer, sizeof answer, 10000), 0);
                ASSERT_STR_EQ(answer, "ok");
        }
        fd = open(fifo, O_WRONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_INT_EQ(write(fd, "quit\n", 5), 5);
        close(fd);
        ASSERT_INT_EQ(mock_read_line(&m, answer, sizeof answer, 10000), 0);
        ASSERT_STR_EQ(answer, "ok");
        status = wait_exit(m.pid, 10000);
        ASSERT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        m.pid = 0;
        mock_stop(&m);
        unlink(fifo);
        rmdir(dir);
}

TEST(consumer_group_two_consumers) {
        MockKafka m;
        Delivery d = {};
        rd_kafka_t *cs[2], *p;
        int counts[2] = {}, total = 0, distinct;

        ASSERT_INT_EQ(mock_start(&m, NULL, true), 0);
        cs[0] = consumer_new(m.bootstrap, "group-a", "imgflow.events");
        cs[1] = consumer_new(m.bootstrap, "group-a", "imgflow.events");

        /* Wait until the group has balanced: 2 of the 4 partitions each. */
        wait_balanced(cs, 2);
        ASSERT_INT_EQ(assignment_size(cs[0]), 2);
        ASSERT_INT_EQ(assignment_size(cs[1]), 2);

        p = producer_new(m.bootstrap, &d);
        for (int i = 0; i < N_MESSAGES; i++)
                ASSERT_INT_EQ(produce(p, "imgflow.events", i), 0);
        ASSERT_INT_EQ(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
        ASSERT_INT_EQ(d.ok, N_MESSAGES);
        rd_kafka_destroy(p);

        distinct = consume_all(cs, 2, 30000, counts, &total);
        ASSERT_INT_EQ(distinct, N_MESSAGES);
        ASSERT_INT_EQ(total, N_MESSAGES);
        /* Both members got a share. */
        ASSERT_TRUE(counts[0] > 0);
        ASSERT_TRUE(counts[1] > 0);
        fprintf(stderr, "  consumer shares: %d + %d\n", counts[0], counts[1]);

        for (int i = 0; i < 2; i++) {
                rd_kafka_consumer_close(cs[i]);
                rd_kafka_destroy(cs[i]);
        }
        ASSERT_INT_EQ(mock_stop(&m), 0);
}

TEST(broker_down_and_up_while_producing) {
        MockKafka m;
        Delivery d = {};
        rd_kafka_t *p, *c;
        int counts[1] = {}, total = 0, distinct;
        int64_t t0;

        ASSERT_INT_EQ(mock_start(&m, NULL, true), 0);
        ASSERT_COMMAND_OK(&m, "topic flaky 6");
        /* Partition p is led by broker p % 3 + 1: broker 2 leads 1 and 4. */
        for (int part = 0; part < 6; part++) {
                char cmd[64];
                snprintf(cmd, sizeof cmd, "leader flaky %d %d", part, part % 3 + 1);
                ASSERT_COMMAND_OK(&m, cmd);
        }

        p = producer_new(m.bootstrap, &d);
        for (int i = 0; i < N_MESSAGES / 2; i++)
                ASSERT_INT_EQ(produce_to(p, "flaky", i % 6, i), 0);
        ASSERT_INT_EQ(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

        ASSERT_COMMAND_OK(&m, "down 2");
        for (int i = N_MESSAGES / 2; i < N_MESSAGES; i++)
                ASSERT_INT_EQ(produce_to(p, "flaky", i % 6, i), 0);
        /* While broker 2 is down, what it leads cannot be delivered. */
        t0 = now_ms();
        while (now_ms() - t0 < 2000)
                rd_kafka_poll(p, 100);
        fprintf(stderr, "  delivered while broker 2 down: %d of %d\n", d.ok, N_MESSAGES);
        ASSERT_TRUE(d.ok < N_MESSAGES);
        ASSERT_INT_EQ(d.failed, 0);
        ASSERT_COMMAND_OK(&m, "up 2");
        ASSERT_INT_EQ(rd_kafka_flush(p, 40000), RD_KAFKA_RESP_ERR_NO_ERROR);
        if (d.failed)
                fprintf(stderr, "  last delivery error: %s\n", d.last_error);
        ASSERT_INT_EQ(d.failed, 0);
        ASSERT_INT_EQ(d.ok, N_MESSAGES);
        rd_kafka_destroy(p);

        /* All there, once each. */
        c = consumer_new(m.bootstrap, "group-b", "flaky");
        distinct = consume_all(&c, 1, 30000, counts, &total);
        ASSERT_INT_EQ(distinct, N_MESSAGES);
        ASSERT_INT_EQ(total, N_MESSAGES);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        ASSERT_INT_EQ(mock_stop(&m), 0);
}

TEST(injected_produce_errors_are_retried) {
        MockKafka m;
        Delivery d = {};
        rd_kafka_t *p;

        ASSERT_INT_EQ(mock_start(&m, NULL, true), 0);
        ASSERT_COMMAND_OK(&m, "error Produce 3 NOT_LEADER_FOR_PARTITION");
        p = producer_new(m.bootstrap, &d);
        for (int i = 0; i < 10; i++)
                ASSERT_INT_EQ(produce(p, "imgflow.tasks", i), 0);
        ASSERT_INT_EQ(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
        ASSERT_INT_EQ(d.failed, 0);
        ASSERT_INT_EQ(d.ok, 10);
        rd_kafka_destroy(p);
        ASSERT_INT_EQ(mock_stop(&m), 0);
}

TEST(consumer_group_survives_each_broker_down) {
        /* Every broker (so also the group coordinator and some partition
         * leaders) goes down for a while in turn, while we produce and the
         * group consumes; in the end every message has arrived. */
        MockKafka m;
        Delivery d = {};
        rd_kafka_t *cs[2], *p;
        int counts[2] = {}, total = 0, distinct = 0, next = 0, during;
        bool seen[N_MESSAGES] = {};

        ASSERT_INT_EQ(mock_start(&m, NULL, true), 0);
        cs[0] = consumer_new(m.bootstrap, "group-c", "imgflow.tasks");
        cs[1] = consumer_new(m.bootstrap, "group-c", "imgflow.tasks");
        wait_balanced(cs, 2);
        ASSERT_INT_EQ(assignment_size(cs[0]), 2);
        p = producer_new(m.bootstrap, &d);

        for (int broker = 1; broker <= 3; broker++) {
                char cmd[32];

                snprintf(cmd, sizeof cmd, "down %d", broker);
                ASSERT_COMMAND_OK(&m, cmd);
                for (int k = 0; k < 25; k++)
                        ASSERT_INT_EQ(produce(p, "imgflow.tasks", next++), 0);
                rd_kafka_poll(p, 0);
                consume(cs, 2, seen, &distinct, N_MESSAGES, 1500, 1500, counts, &total);
                snprintf(cmd, sizeof cmd, "up %d", broker);
                ASSERT_COMMAND_OK(&m, cmd);
        }
        during = distinct;
        while (next < N_MESSAGES)
                ASSERT_INT_EQ(produce(p, "imgflow.tasks", next++), 0);
        ASSERT_INT_EQ(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
        ASSERT_INT_EQ(d.ok, N_MESSAGES);
        ASSERT_INT_EQ(d.failed, 0);
        rd_kafka_destroy(p);

        /* At-least-once: after a rebalance the group may deliver again, so
         * count distinct messages. */
        consume(cs, 2, seen, &distinct, N_MESSAGES, 0, 30000, counts, &total);
        fprintf(stderr, "  consumed during the outages: %d; in the end %d distinct, %d total (%d + %d)\n",
                during, distinct, total, counts[0], counts[1]);
        ASSERT_INT_EQ(distinct, N_MESSAGES);
        for (int i = 0; i < 2; i++) {
                rd_kafka_consumer_close(cs[i]);
                rd_kafka_destroy(cs[i]);
        }
        ASSERT_INT_EQ(mock_stop(&m), 0);
}

TEST(committed_offsets_survive_a_restart) {
        /* A group member commits what it processed, leaves; a new member of
         * the same group starts after the commit, not from the beginning. */
        MockKafka m;
        Delivery d = {};
        rd_kafka_t *p, *c;
        int counts[1] = {}, total = 0, distinct = 0;
        bool seen[N_MESSAGES] = {};

        ASSERT_INT_EQ(mock_start(&m, NULL, true), 0);
        p = producer_new(m.bootstrap, &d);
        for (int i = 0; i < 60; i++)
                ASSERT_INT_EQ(produce(p, "imgflow.jobs", i), 0);
        ASSERT_INT_EQ(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);

        c = consumer_new(m.bootstrap, "group-d", "imgflow.jobs");
        consume(&c, 1, seen, &distinct, 60, 0, 30000, counts, &total);
        ASSERT_INT_EQ(distinct, 60);
        ASSERT_INT_EQ(rd_kafka_commit(c, NULL, /* async= */ 0), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);

        for (int i = 60; i < N_MESSAGES; i++)
                ASSERT_INT_EQ(produce(p, "imgflow.jobs", i), 0);
        ASSERT_INT_EQ(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_destroy(p);

        c = consumer_new(m.bootstrap, "group-d", "imgflow.jobs");
        memset(seen, 0, sizeof seen);
        distinct = total = 0;
        consume(&c, 1, seen, &distinct, N_MESSAGES - 60, 500, 30000, counts, &total);
        ASSERT_INT_EQ(distinct, N_MESSAGES - 60);
        ASSERT_INT_EQ(total, N_MESSAGES - 60);
        for (int i = 0; i < 60; i++)
                ASSERT_FALSE(seen[i]);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
        ASSERT_INT_EQ(mock_stop(&m), 0);
}
