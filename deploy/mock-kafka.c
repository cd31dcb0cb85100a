/* SPDX-License-Identifier: MIT */

/*
 * imgflow-mock-kafka: librdkafka's mock Kafka cluster as a separate process,
 * for tests and the local all-in-one stack (no Kafka broker package exists on
 * the build machines). It speaks the real Kafka protocol on loopback
 * (librdkafka binds every mock broker to 127.0.0.1 on a kernel-chosen port),
 * supports consumer groups, and can inject faults.
 *
 *   imgflow-mock-kafka [--brokers N] [--partitions M] [--topics a,b:P,...]
 *                      [--prefix imgflow.] [--no-stdin] [--control-fifo PATH]
 *
 * It creates the imgflow topics (<prefix>jobs, tasks, events, notifications,
 * dlq) with M partitions plus any --topics, prints `BOOTSTRAP=<host:port,...>`
 * as the first line on stdout, then reads commands, one per line, from stdin
 * (or from the FIFO given with --control-fifo; none with --no-stdin):
 *
 *   down <broker-id>                 take a broker down (connections closed)
 *   up <broker-id>                   bring it back
 *   topic <name> <partitions>        create a topic
 *   error <ApiKey> <count> <errcode> the next <count> requests of that kind
 *                                    fail with <errcode> (name or number)
 *   leader <topic> <partition> <broker-id>   move a partition's leader
 *   rtt <broker-id> <ms>             add round-trip latency to a broker
 *   coordinator <group|transaction> <key> <broker-id>
 *                                    pin a group's (or transactional id's)
 *                                    coordinator to a broker
 *   quit                             exit
 *
 * Each command is answered with one line on stdout: `ok` or `error: ...`.
 * It exits 0 on quit, SIGTERM, SIGINT, or end of stdin (not of a FIFO: the
 * FIFO is held open for writing too, so writers may come and go).
 *
 * Everything runs on the main thread: one poll() on a signalfd and the
 * command input. The mock cluster has its own thread inside librdkafka.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_BROKERS 64
#define MAX_PARTITIONS 1024
#define MAX_LINE 1024

typedef struct ApiKeyName {
        const char *name;
        int16_t key;
} ApiKeyName;

/* Kafka protocol request types (ApiKey), by their protocol names. */
static const ApiKeyName api_keys[] = {
        {"Produce", 0},
        {"Fetch", 1},
        {"ListOffsets", 2},
        {"Metadata", 3},
        {"OffsetCommit", 8},
        {"OffsetFetch", 9},
        {"FindCoordinator", 10},
        {"JoinGroup", 11},
        {"Heartbeat", 12},
        {"LeaveGroup", 13},
        {"SyncGroup", 14},
        {"DescribeGroups", 15},
        {"ListGroups", 16},
        {"SaslHandshake", 17},
        {"ApiVersions", 18},
        {"CreateTopics", 19},
        {"DeleteTopics", 20},
        {"DeleteRecords", 21},
        {"InitProducerId", 22},
        {"OffsetForLeaderEpoch", 23},
        {"AddPartitionsToTxn", 24},
        {"AddOffsetsToTxn", 25},
        {"EndTxn", 26},
        {"TxnOffsetCommit", 28},
        {"DescribeConfigs", 32},
        {"AlterConfigs", 33},
        {"SaslAuthenticate", 36},
        {"CreatePartitions", 37},
        {"DeleteGroups", 42},
        {"IncrementalAlterConfigs", 44},
        {"OffsetDelete", 47},
};

static const char *const imgflow_topics[] = {"jobs", "tasks", "events", "notifications", "dlq", "logs"};

typedef struct Options {
        int brokers;
        int partitions;
        const char *topics;
        const char *prefix;
        bool no_stdin;
        const char *control_fifo;
} Options;

typedef struct Mock {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;
        int brokers;
        int partitions;
} Mock;

static int parse_int(const char *s, long min, long max, int *ret) {
        char *end;
        long v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end || v < min || v > max)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

static int api_key_from_string(const char *s, int16_t *ret) {
        int k;

        for (size_t i = 0; i < sizeof api_keys / sizeof api_keys[0]; i++)
                if (strcasecmp(api_keys[i].name, s) == 0 ||
                    (strncasecmp(s, api_keys[i].name, strlen(api_keys[i].name)) == 0 &&
                     strcasecmp(s + strlen(api_keys[i].name), "Request") == 0)) {
                        *ret = api_keys[i].key;
                        return 0;
                }
        if (parse_int(s, 0, INT16_MAX, &k) == 0) {
                *ret = (int16_t) k;
                return 0;
        }
        return -EINVAL;
}

/* An error code by number or by name ("NOT_LEADER_FOR_PARTITION",
 * "RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION", "_TRANSPORT"). */
static int err_from_string(const char *s, rd_kafka_resp_err_t *ret) {
        const struct rd_kafka_err_desc *descs;
        size_t n;
        int k;

        if (parse_int(s, INT16_MIN, INT16_MAX, &k) == 0) {
                *ret = (rd_kafka_resp_err_t) k;
                return 0;
        }
        if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
                s += 18;
        rd_kafka_get_err_descs(&descs, &n);
        for (size_t i = 0; i < n; i++)
                if (descs[i].name && strcasecmp(descs[i].name, s) == 0) {
                        *ret = descs[i].code;
                        return 0;
                }
        return -EINVAL;
}

static bool topic_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 249 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '.' || *s == '_' || *s == '-'))
                        return false;
        return true;
}

static int create_topic(Mock *m, const char *name, int partitions, char *err, size_t errsize) {
        rd_kafka_resp_err_t e;
        int rf = m->brokers < 3 ? m->brokers : 3;

        if (!topic_name_valid(name)) {
                snprintf(err, errsize, "invalid topic name '%s'", name);
                return -EINVAL;
        }
        e = rd_kafka_mock_topic_create(m->mcluster, name, partitions, rf);
        if (e) {
                snprintf(err, errsize, "creating topic %s: %s", name, rd_kafka_err2str(e));
                return -EIO;
        }
        return 0;
}

/* "name" or "name:P". */
static int create_topic_spec(Mock *m, const char *spec, char *err, size_t errsize) {
        char name[256];
        const char *colon = strchr(spec, ':');
        int partitions = m->partitions;
        size_t n = colon ? (size_t) (colon - spec) : strlen(spec);

        if (n >= sizeof name) {
                snprintf(err, errsize, "topic name too long");
                return -EINVAL;
        }
        memcpy(name, spec, n);
        name[n] = '\0';
        if (colon && parse_int(colon + 1, 1, MAX_PARTITIONS, &partitions) < 0) {
                snprintf(err, errsize, "invalid partition count in '%s'", spec);
                return -EINVAL;
        }
        return create_topic(m, name, partitions, err, errsize);
}

/* Splits line into at most max words (in place). Returns the count. */
static int split(char *line, char **words, int max) {
        int n = 0;
        char *save = NULL;

        for (char *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
                if (n == max)
                        return max + 1;
                words[n++] = w;
        }
        return n;
}

/* Runs one command; writes the answer to stdout. Returns 1 on quit. */
static int run_command(Mock *m, char *line) {
        char *w[5], err[512] = "";
        rd_kafka_resp_err_t e;
        int n = split(line, w, 4), id, count, partition, ms;
        int16_t key;

        if (n == 0)
                return 0;
        if (strcmp(w[0], "quit") == 0 && n == 1) {
                printf("ok\n");
                fflush(stdout);
                return 1;
        } else if ((strcmp(w[0], "down") == 0 || strcmp(w[0], "up") == 0) && n == 2) {
                if (parse_int(w[1], 1, m->brokers, &id) < 0)
                        snprintf(err, sizeof err, "no broker '%s' (brokers are 1..%d)", w[1], m->brokers);
                else {
                        e = strcmp(w[0], "down") == 0 ? rd_kafka_mock_broker_set_down(m->mcluster, id)
                                                      : rd_kafka_mock_broker_set_up(m->mcluster, id);
                        if (e)
                                snprintf(err, sizeof err, "%s", rd_kafka_err2str(e));
                }
        } else if (strcmp(w[0], "topic") == 0 && n == 3) {
                if (parse_int(w[2], 1, MAX_PARTITIONS, &count) < 0)
                        snprintf(err, sizeof err, "invalid partition count '%s'", w[2]);
                else
                        (void) create_topic(m, w[1], count, err, sizeof err);
        } else if (strcmp(w[0], "error") == 0 && n == 4) {
                if (api_key_from_string(w[1], &key) < 0)
                        snprintf(err, sizeof err, "unknown ApiKey '%s'", w[1]);
                else if (parse_int(w[2], 0, 100000, &count) < 0)
                        snprintf(err, sizeof err, "invalid count '%s'", w[2]);
                else if (err_from_string(w[3], &e) < 0)
                        snprintf(err, sizeof err, "unknown error code '%s'", w[3]);
                else if (count == 0)
                        rd_kafka_mock_clear_request_errors(m->mcluster, key);
                else {
                        rd_kafka_resp_err_t *errs = calloc((size_t) count, sizeof *errs);
                        if (!errs)
                                snprintf(err, sizeof err, "out of memory");
                        else {
                                for (int i = 0; i < count; i++)
                                        errs[i] = e;
                                rd_kafka_mock_push_request_errors_array(m->mcluster, key, (size_t) count,
                                                                        errs);
                                free(errs);
                        }
                }
        } else if (strcmp(w[0], "leader") == 0 && n == 4) {
                if (parse_int(w[2], 0, MAX_PARTITIONS - 1, &partition) < 0 ||
                    parse_int(w[3], 1, m->brokers, &id) < 0)
                        snprintf(err, sizeof err, "usage: leader <topic> <partition> <broker-id>");
                else if ((e = rd_kafka_mock_partition_set_leader(m->mcluster, w[1], partition, id)))
                        snprintf(err, sizeof err, "%s", rd_kafka_err2str(e));
        } else if (strcmp(w[0], "rtt") == 0 && n == 3) {
                if (parse_int(w[1], 1, m->brokers, &id) < 0 || parse_int(w[2], 0, 600000, &ms) < 0)
                        snprintf(err, sizeof err, "usage: rtt <broker-id> <ms>");
                else if ((e = rd_kafka_mock_broker_set_rtt(m->mcluster, id, ms)))
                        snprintf(err, sizeof err, "%s", rd_kafka_err2str(e));
        } else if (strcmp(w[0], "coordinator") == 0 && n == 4) {
                if ((strcmp(w[1], "group") != 0 && strcmp(w[1], "transaction") != 0) ||
                    parse_int(w[3], 1, m->brokers, &id) < 0)
                        snprintf(err, sizeof err,
                                 "usage: coordinator <group|transaction> <key> <broker-id>");
                else if ((e = rd_kafka_mock_coordinator_set(m->mcluster, w[1], w[2], id)))
                        snprintf(err, sizeof err, "%s", rd_kafka_err2str(e));
        } else
                snprintf(err, sizeof err,
                         "unknown command (down, up, topic, error, leader, rtt, coordinator, quit)");

        if (err[0])
                printf("error: %s\n", err);
        else
                printf("ok\n");
        fflush(stdout);
        return 0;
}

static void usage(FILE *f) {
        fprintf(f, "Usage: imgflow-mock-kafka [OPTIONS]\n"
                   "Run librdkafka's mock Kafka cluster on 127.0.0.1 for tests and the local stack.\n\n"
                   "  --brokers N          number of brokers (default 3)\n"
                   "  --partitions M       partitions of the imgflow topics (default 4)\n"
                   "  --topics a,b:P,...   more topics (':P' sets the partition count)\n"
                   "  --prefix PREFIX      topic name prefix (default \"imgflow.\")\n"
                   "  --no-stdin           read no commands; run until SIGTERM/SIGINT\n"
                   "  --control-fifo PATH  read commands from this FIFO (created if missing)\n"
                   "  -h, --help           show this help\n\n"
                   "Prints BOOTSTRAP=<host:port,...> first, then answers each command with\n"
                   "'ok' or 'error: ...'. Commands: down <id>, up <id>, topic <name> <partitions>,\n"
                   "error <ApiKey> <count> <errcode>, leader <topic> <partition> <id>,\n"
                   "rtt <id> <ms>, coordinator <group|transaction> <key> <id>, quit.\n");
}

static int parse_options(int argc, char **argv, Options *o) {
        enum { OPT_NO_STDIN = 0x100, OPT_FIFO };
        static const struct option longopts[] = {
                {"brokers", required_argument, NULL, 'b'},
                {"partitions", required_argument, NULL, 'p'},
                {"topics", required_argument, NULL, 't'},
                {"prefix", required_argument, NULL, 'P'},
                {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
                {"control-fifo", required_argument, NULL, OPT_FIFO},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0)
                switch (c) {
                case 'b':
                        if (parse_int(optarg, 1, MAX_BROKERS, &o->brokers) < 0) {
                                fprintf(stderr, "--brokers: expected 1..%d\n", MAX_BROKERS);
                                return -EINVAL;
                        }
                        break;
                case 'p':
                        if (parse_int(optarg, 1, MAX_PARTITIONS, &o->partitions) < 0) {
                                fprintf(stderr, "--partitions: expected 1..%d\n", MAX_PARTITIONS);
                                return -EINVAL;
                        }
                        break;
                case 't':
                        o->topics = optarg;
                        break;
                case 'P':
                        o->prefix = optarg;
                        break;
                case OPT_NO_STDIN:
                        o->no_stdin = true;
                        break;
                case OPT_FIFO:
                        o->control_fifo = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        if (o->no_stdin && o->control_fifo) {
                fprintf(stderr, "--no-stdin and --control-fifo exclude each other\n");
                return -EINVAL;
        }
        return 0;
}

static int mock_start(Mock *m, const Options *o) {
        char errstr[512], err[512];
        rd_kafka_conf_t *conf;

        m->brokers = o->brokers;
        m->partitions = o->partitions;

        /* A plain producer handle hosts the mock cluster; it connects nowhere. */
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "client.id", "imgflow-mock-kafka", errstr, sizeof errstr) !=
                    RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "rdkafka config: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return -EINVAL;
        }
        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr); /* takes conf on success */
        if (!m->rk) {
                fprintf(stderr, "Failed to create the rdkafka handle: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return -EIO;
        }
        m->mcluster = rd_kafka_mock_cluster_new(m->rk, o->brokers);
        if (!m->mcluster) {
                fprintf(stderr, "Failed to create the mock cluster\n");
                return -EIO;
        }

        for (size_t i = 0; i < sizeof imgflow_topics / sizeof imgflow_topics[0]; i++) {
                char name[256];

                if ((size_t) snprintf(name, sizeof name, "%s%s", o->prefix, imgflow_topics[i]) >=
                            sizeof name ||
                    create_topic(m, name, o->partitions, err, sizeof err) < 0) {
                        fprintf(stderr, "%s\n", err[0] ? err : "prefix too long");
                        return -EINVAL;
                }
        }
        if (o->topics) {
                char *list = strdup(o->topics), *save = NULL;

                if (!list)
                        return -ENOMEM;
                for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
                        if (create_topic_spec(m, t, err, sizeof err) < 0) {
                                fprintf(stderr, "--topics: %s\n", err);
                                free(list);
                                return -EINVAL;
                        }
                free(list);
        }
        return 0;
}

static void mock_stop(Mock *m) {
        if (m->mcluster)
                rd_kafka_mock_cluster_destroy(m->mcluster);
        if (m->rk)
                rd_kafka_destroy(m->rk);
}

static int open_fifo(const char *path) {
        struct stat st;
        int fd;

        if (mkfifo(path, 0600) < 0 && errno != EEXIST) {
                fprintf(stderr, "Failed to create FIFO %s: %m\n", path);
                return -errno;
        }
        /* O_RDWR: we hold a writer ourselves, so the FIFO never reports EOF
         * when a writer closes; writers may come and go. */
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "Failed to open FIFO %s: %m\n", path);
                return -errno;
        }
        if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
                fprintf(stderr, "%s is not a FIFO\n", path);
                close(fd);
                return -EINVAL;
        }
        return fd;
}

/* The command loop: returns when told to quit, on a signal or on EOF. */
static int loop(Mock *m, int sfd, int cmd_fd) {
        char buf[MAX_LINE + 1];
        size_t used = 0;
        bool discarding = false;

        for (;;) {
                struct pollfd p[2] = {
                        {.fd = sfd, .events = POLLIN},
                        {.fd = cmd_fd, .events = POLLIN},
                };
                ssize_t k;

                if (poll(p, cmd_fd >= 0 ? 2 : 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof si) == sizeof si)
                                fprintf(stderr, "imgflow-mock-kafka: signal %u, exiting\n", si.ssi_signo);
                        return 0;
                }
                if (cmd_fd < 0 || !(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;

                k = read(cmd_fd, buf + used, MAX_LINE - used);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return 0; /* EOF on stdin */
                used += (size_t) k;

                for (;;) {
                        char *nl = memchr(buf, '\n', used);
                        size_t len;

                        if (!nl) {
                                if (used == MAX_LINE) { /* over-long line: drop it */
                                        used = 0;
                                        if (!discarding) {
                                                printf("error: line too long\n");
                                                fflush(stdout);
                                        }
                                        discarding = true;
                                }
                                break;
                        }
                        *nl = '\0';
                        len = (size_t) (nl - buf) + 1;
                        if (!discarding && run_command(m, buf) > 0)
                                return 0;
                        discarding = false;
                        memmove(buf, buf + len, used - len);
                        used -= len;
                }
        }
}

int main(int argc, char **argv) {
        Options o = {.brokers = 3, .partitions = 4, .prefix = "imgflow."};
        Mock m = {};
        sigset_t mask;
        int sfd, cmd_fd = -1, r;

        if (parse_options(argc, argv, &o) < 0)
                return 2;

        /* Block the exit signals before librdkafka starts threads, so they
         * inherit the mask and the signals arrive on our signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "signalfd: %m\n");
                return 1;
        }

        if (o.control_fifo) {
                cmd_fd = open_fifo(o.control_fifo);
                if (cmd_fd < 0)
                        return 1;
        } else if (!o.no_stdin)
                cmd_fd = STDIN_FILENO;

        r = mock_start(&m, &o);
        if (r < 0) {
                mock_stop(&m);
                return 1;
        }

        printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(m.mcluster));
        fflush(stdout);

        r = loop(&m, sfd, cmd_fd);
        if (r < 0)
                fprintf(stderr, "imgflow-mock-kafka: %s\n", strerror(-r));

        mock_stop(&m);
        if (cmd_fd >= 0 && cmd_fd != STDIN_FILENO)
                close(cmd_fd);
        close(sfd);
        return r < 0 ? 1 : 0;
}
