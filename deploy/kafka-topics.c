/* SPDX-License-Identifier: MIT */

/*
 * imgflow-kafka-topics: create imgflow's topics on a Kafka cluster with
 * librdkafka's admin API, then wait until every partition has a leader.
 *
 *   imgflow-kafka-topics --kafka-bootstrap HOST:PORT[,...] [--partitions N]
 *                        [--replication-factor R] [--config KEY=VALUE]...
 *                        [--timeout SECONDS] TOPIC[:PARTITIONS][,KEY=VALUE...]...
 *
 * --partitions and --replication-factor are the defaults of every TOPIC
 * (1 and the number of brokers up to 3); --config lines apply to every
 * topic, the ",KEY=VALUE" of one TOPIC to that topic only (e.g.
 * "imgflow.dlq:3,retention.ms=1209600000"). A topic that exists already is
 * left as it is (not an error: the local stack runs it on every start).
 * Exit 0 once every topic has all its partitions with a leader in the
 * cluster's metadata; 1 on an error or at the timeout (default 60 s), with
 * the reason on stderr.
 *
 * Security: --client KEY=VALUE passes a librdkafka property to the admin
 * connection (security.protocol, sasl.*, ssl.*). --acl PRINCIPAL=ROLE
 * creates the ACLs of one role of docs/security.md ("Kafka") for the topics
 * of --prefix (default "imgflow.") and the default consumer groups, after
 * the topics:
 *
 *   producer          write and describe <prefix>jobs (starts and stops)
 *   callbacks         write and describe <prefix>events (SendTask*)
 *   worker[:POOL]     read <prefix>tasks[.POOL] and the groups imgflow-workers*,
 *                     write <prefix>events, <prefix>dlq, <prefix>notifications
 *   coordinator       read, write and describe every <prefix>* topic, read
 *                     the groups imgflow-coordinators*
 *
 * e.g. --acl User:imgflow-worker=worker:gpu. Creating an ACL that exists
 * already is not an error.
 *
 * Why a program of its own: the Kafka distribution's kafka-topics.sh starts
 * a JVM (about 2 s of CPU per call on the machines the tests run on) and
 * needs the tools jars and their dependencies; the local stack and every
 * integration test create topics, so they use librdkafka, which every
 * imgflow host has already.
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "imgflow-config.h"
#include "parse.h"

#define MAX_TOPICS 64
#define MAX_CONFIGS 32
#define MAX_SPEC 512

typedef struct TopicSpec {
        char name[256];
        int partitions;
        int n_configs;
        char *config[MAX_CONFIGS]; /* "key=value", borrowed from argv or the spec copy */
        char buf[MAX_SPEC];
} TopicSpec;

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An int in [min, max] (lib/parse.h's syntax). */
static int parse_int_range(const char *s, long min, long max, int *ret) {
        int64_t v;
        int r = parse_int(s, &v);

        if (r < 0)
                return r;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

/* "name[:partitions][,key=value...]" into t; partitions 0 = the default. */
static int parse_spec(const char *s, TopicSpec *t) {
        char *comma, *colon, *p;

        memset(t, 0, sizeof *t);
        if (strlen(s) >= sizeof t->buf)
                return -ENAMETOOLONG;
        strcpy(t->buf, s);
        comma = strchr(t->buf, ',');
        if (comma)
                *comma = '\0';
        colon = strchr(t->buf, ':');
        if (colon) {
                *colon = '\0';
                if (parse_int_range(colon + 1, 1, 100000, &t->partitions) < 0)
                        return -EINVAL;
        }
        if (!*t->buf || strlen(t->buf) >= sizeof t->name)
                return -EINVAL;
        strcpy(t->name, t->buf);
        for (p = comma ? comma + 1 : NULL; p && *p;) {
                char *next = strchr(p, ',');

                if (next)
                        *next++ = '\0';
                if (!strchr(p, '=') || t->n_configs >= MAX_CONFIGS)
                        return -EINVAL;
                t->config[t->n_configs++] = p;
                p = next;
        }
        return 0;
}

static int set_config(rd_kafka_NewTopic_t *nt, char *kv, char *err, size_t errsize) {
        char *eq = strchr(kv, '=');
        rd_kafka_resp_err_t e;

        *eq = '\0';
        e = rd_kafka_NewTopic_set_config(nt, kv, eq + 1);
        *eq = '=';
        if (e) {
                snprintf(err, errsize, "%s: %s", kv, rd_kafka_err2str(e));
                return -EINVAL;
        }
        return 0;
}

/* Creates the topics; an existing topic is fine. */
static int create_topics(rd_kafka_t *rk, TopicSpec *topics, int n, int default_partitions, int rf,
                         char **configs, int n_configs, int timeout_ms) {
        rd_kafka_NewTopic_t *nt[MAX_TOPICS] = {0};
        rd_kafka_AdminOptions_t *opts = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **results;
        char err[512];
        size_t nres;
        int r = 0;

        for (int i = 0; i < n; i++) {
                nt[i] = rd_kafka_NewTopic_new(
                        topics[i].name, topics[i].partitions ? topics[i].partitions : default_partitions, rf,
                        err, sizeof err);
                if (!nt[i]) {
                        fprintf(stderr, "imgflow-kafka-topics: %s: %s\n", topics[i].name, err);
                        r = -EINVAL;
                        goto out;
                }
                for (int c = 0; c < n_configs; c++)
                        if (set_config(nt[i], configs[c], err, sizeof err) < 0)
                                goto bad_config;
                for (int c = 0; c < topics[i].n_configs; c++)
                        if (set_config(nt[i], topics[i].config[c], err, sizeof err) < 0)
                                goto bad_config;
                continue;
        bad_config:
                fprintf(stderr, "imgflow-kafka-topics: %s: %s\n", topics[i].name, err);
                r = -EINVAL;
                goto out;
        }

        q = rd_kafka_queue_new(rk);
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof err) ||
            rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, err, sizeof err)) {
                fprintf(stderr, "imgflow-kafka-topics: %s\n", err);
                r = -EINVAL;
                goto out;
        }
        rd_kafka_CreateTopics(rk, nt, n, opts, q);
        ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (!ev) {
                fprintf(stderr, "imgflow-kafka-topics: no answer to CreateTopics within %d ms\n",
                        timeout_ms);
                r = -ETIMEDOUT;
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                fprintf(stderr, "imgflow-kafka-topics: CreateTopics: %s\n", rd_kafka_event_error_string(ev));
                r = -EIO;
                goto out;
        }
        res = rd_kafka_event_CreateTopics_result(ev);
        results = rd_kafka_CreateTopics_result_topics(res, &nres);
        for (size_t i = 0; i < nres; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);

                if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                        continue;
                fprintf(stderr, "imgflow-kafka-topics: %s: %s\n", rd_kafka_topic_result_name(results[i]),
                        rd_kafka_topic_result_error_string(results[i]) ?: rd_kafka_err2str(e));
                r = -EIO;
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        if (q)
                rd_kafka_queue_destroy(q);
        for (int i = 0; i < n; i++)
                if (nt[i])
                        rd_kafka_NewTopic_destroy(nt[i]);
        return r;
}

/* 1 when every partition of every topic has a leader, 0 when not yet,
 * -errno on an error of the metadata request. */
static int topics_ready(rd_kafka_t *rk, TopicSpec *topics, int n, char *why, size_t whysize) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e;
        int ready = 1;

        e = rd_kafka_metadata(rk, /* all_topics= */ 1, NULL, &md, 5000);
        if (e) {
                snprintf(why, whysize, "metadata: %s", rd_kafka_err2str(e));
                return 0;
        }
        for (int i = 0; i < n && ready; i++) {
                const struct rd_kafka_metadata_topic *mt = NULL;

                for (int j = 0; j < md->topic_cnt; j++)
                        if (strcmp(md->topics[j].topic, topics[i].name) == 0)
                                mt = &md->topics[j];
                if (!mt || mt->err || mt->partition_cnt == 0) {
                        snprintf(why, whysize, "%.255s: %s", topics[i].name,
                                 mt && mt->err ? rd_kafka_err2str(mt->err) : "not in the metadata yet");
                        ready = 0;
                        break;
                }
                for (int p = 0; p < mt->partition_cnt; p++)
                        if (mt->partitions[p].err || mt->partitions[p].leader < 0) {
                                snprintf(why, whysize, "%.255s [%d]: no leader yet", topics[i].name, p);
                                ready = 0;
                                break;
                        }
        }
        rd_kafka_metadata_destroy(md);
        return ready;
}

static int count_brokers(rd_kafka_t *rk) {
        const struct rd_kafka_metadata *md = NULL;
        int n;

        if (rd_kafka_metadata(rk, 0, NULL, &md, 5000))
                return -EIO;
        n = md->broker_cnt;
        rd_kafka_metadata_destroy(md);
        return n;
}

#define MAX_ACLS 16
#define MAX_BINDINGS 256

typedef struct AclRule {
        rd_kafka_ResourceType_t type;
        rd_kafka_ResourcePatternType_t pattern;
        const char *suffix; /* appended to the prefix (topics) or the group name itself */
        bool pool;          /* the topic is <prefix>tasks[.POOL] */
        rd_kafka_AclOperation_t ops[3];
} AclRule;

#define TOPIC(p, sfx, ...)                                                                                  \
        {                                                                                                   \
                RD_KAFKA_RESOURCE_TOPIC, p, sfx, false, {                                                   \
                        __VA_ARGS__                                                                         \
                }                                                                                           \
        }
#define GROUP(name, ...)                                                                                    \
        {                                                                                                   \
                RD_KAFKA_RESOURCE_GROUP, RD_KAFKA_RESOURCE_PATTERN_PREFIXED, name, false, {                 \
                        __VA_ARGS__                                                                         \
                }                                                                                           \
        }
#define W RD_KAFKA_ACL_OPERATION_WRITE
#define R RD_KAFKA_ACL_OPERATION_READ
#define D RD_KAFKA_ACL_OPERATION_DESCRIBE
#define LIT RD_KAFKA_RESOURCE_PATTERN_LITERAL
#define PFX RD_KAFKA_RESOURCE_PATTERN_PREFIXED

static const struct {
        const char *role;
        AclRule rules[6];
} acl_roles[] = {
        {"producer", {TOPIC(LIT, "jobs", W, D)}},
        {"callbacks", {TOPIC(LIT, "events", W, D)}},
        {"worker",
         {{RD_KAFKA_RESOURCE_TOPIC, LIT, "tasks", true, {R, D}},
          GROUP("imgflow-workers", R),
          TOPIC(LIT, "events", W, D),
          TOPIC(LIT, "dlq", W, D),
          TOPIC(LIT, "notifications", W, D)}},
        {"coordinator", {TOPIC(PFX, "", R, W, D), GROUP("imgflow-coordinators", R)}},
};

/* The bindings of "PRINCIPAL=ROLE[:POOL]" added to b[*n]. */
static int acl_bindings(const char *spec, const char *prefix, rd_kafka_AclBinding_t **b, size_t *n) {
        char principal[256], role[64], name[512], err[512];
        const char *eq = strrchr(spec, '='), *pool;
        size_t k;

        if (!eq || eq == spec || (size_t) (eq - spec) >= sizeof principal || strlen(eq + 1) >= sizeof role)
                return -EINVAL;
        memcpy(principal, spec, (size_t) (eq - spec));
        principal[eq - spec] = '\0';
        strcpy(role, eq + 1);
        pool = strchr(role, ':');
        if (pool)
                *(char *) pool++ = '\0';
        for (k = 0; k < sizeof acl_roles / sizeof acl_roles[0]; k++)
                if (strcmp(acl_roles[k].role, role) == 0)
                        break;
        if (k == sizeof acl_roles / sizeof acl_roles[0] || (pool && (strcmp(role, "worker") != 0 || !*pool)))
                return -EINVAL;
        for (size_t i = 0; i < 6 && acl_roles[k].rules[i].suffix; i++) {
                const AclRule *rule = &acl_roles[k].rules[i];

                if (rule->type == RD_KAFKA_RESOURCE_GROUP)
                        snprintf(name, sizeof name, "%s", rule->suffix);
                else if (rule->pool && pool)
                        snprintf(name, sizeof name, "%s%s.%s", prefix, rule->suffix, pool);
                else
                        snprintf(name, sizeof name, "%s%s", prefix, rule->suffix);
                for (size_t o = 0; o < 3 && rule->ops[o]; o++) {
                        if (*n >= MAX_BINDINGS)
                                return -E2BIG;
                        b[*n] = rd_kafka_AclBinding_new(rule->type, name, rule->pattern, principal, "*",
                                                        rule->ops[o], RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
                                                        err, sizeof err);
                        if (!b[*n]) {
                                fprintf(stderr, "imgflow-kafka-topics: %s: %s\n", spec, err);
                                return -EINVAL;
                        }
                        (*n)++;
                }
        }
        return 0;
}

/* Creates the ACLs of specs (an existing one is fine). */
static int create_acls(rd_kafka_t *rk, char **specs, int n_specs, const char *prefix, int timeout_ms) {
        rd_kafka_AclBinding_t *b[MAX_BINDINGS];
        rd_kafka_AdminOptions_t *opts = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_acl_result_t **results;
        char err[512];
        size_t n = 0, nres;
        int r = 0;

        for (int i = 0; i < n_specs && r == 0; i++) {
                r = acl_bindings(specs[i], prefix, b, &n);
                if (r == -EINVAL)
                        fprintf(stderr,
                                "imgflow-kafka-topics: bad --acl '%s' (PRINCIPAL=producer, callbacks, "
                                "worker[:POOL] or coordinator)\n",
                                specs[i]);
        }
        if (r < 0 || n == 0)
                goto out;
        q = rd_kafka_queue_new(rk);
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEACLS);
        if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof err)) {
                fprintf(stderr, "imgflow-kafka-topics: %s\n", err);
                r = -EINVAL;
                goto out;
        }
        rd_kafka_CreateAcls(rk, b, n, opts, q);
        ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (!ev) {
                fprintf(stderr, "imgflow-kafka-topics: no answer to CreateAcls within %d ms\n", timeout_ms);
                r = -ETIMEDOUT;
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                fprintf(stderr, "imgflow-kafka-topics: CreateAcls: %s\n", rd_kafka_event_error_string(ev));
                r = -EIO;
                goto out;
        }
        results = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &nres);
        for (size_t i = 0; i < nres; i++) {
                const rd_kafka_error_t *e = rd_kafka_acl_result_error(results[i]);

                if (e) {
                        fprintf(stderr, "imgflow-kafka-topics: CreateAcls: %s\n", rd_kafka_error_string(e));
                        r = -EIO;
                }
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        if (q)
                rd_kafka_queue_destroy(q);
        for (size_t i = 0; i < n; i++)
                rd_kafka_AclBinding_destroy(b[i]);
        return r;
}

static void usage(FILE *f) {
        fputs("usage: imgflow-kafka-topics --kafka-bootstrap HOST:PORT[,...] [--partitions N]\n"
              "         [--replication-factor R] [--config KEY=VALUE]... [--timeout SECONDS]\n"
              "         [--client KEY=VALUE]... [--prefix PREFIX] [--acl PRINCIPAL=ROLE]...\n"
              "         TOPIC[:PARTITIONS][,KEY=VALUE...]...\n"
              "       imgflow-kafka-topics --help | --version\n"
              "--kafka-bootstrap is the daemons' flag for the brokers; --bootstrap is the same.\n",
              f);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"kafka-bootstrap", required_argument, NULL, 'b'},
                {"bootstrap", required_argument, NULL, 'b'},
                {"partitions", required_argument, NULL, 'p'},
                {"replication-factor", required_argument, NULL, 'r'},
                {"config", required_argument, NULL, 'c'},
                {"timeout", required_argument, NULL, 't'},
                {"client", required_argument, NULL, 'C'},
                {"acl", required_argument, NULL, 'a'},
                {"prefix", required_argument, NULL, 'P'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {},
        };
        static TopicSpec topics[MAX_TOPICS];
        char *configs[MAX_CONFIGS], *clients[MAX_CONFIGS], *acls[MAX_ACLS];
        const char *bootstrap = NULL, *prefix = "imgflow.";
        int n_clients = 0, n_acls = 0;
        int partitions = 1, rf = 0, timeout_s = 60, n_configs = 0, n = 0, c, r;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        char err[512], why[512] = "";
        int64_t deadline;

        while ((c = getopt_long(argc, argv, "b:p:r:c:t:C:a:P:h", options, NULL)) >= 0)
                switch (c) {
                case 'C':
                        if (!strchr(optarg, '=') || n_clients >= MAX_CONFIGS)
                                goto bad;
                        clients[n_clients++] = optarg;
                        break;
                case 'a':
                        if (!strchr(optarg, '=') || n_acls >= MAX_ACLS)
                                goto bad;
                        acls[n_acls++] = optarg;
                        break;
                case 'P':
                        prefix = optarg;
                        break;
                case 'b':
                        bootstrap = optarg;
                        break;
                case 'p':
                        if (parse_int_range(optarg, 1, 100000, &partitions) < 0)
                                goto bad;
                        break;
                case 'r':
                        if (parse_int_range(optarg, 1, 32, &rf) < 0)
                                goto bad;
                        break;
                case 'c':
                        if (!strchr(optarg, '=') || n_configs >= MAX_CONFIGS)
                                goto bad;
                        configs[n_configs++] = optarg;
                        break;
                case 't':
                        if (parse_int_range(optarg, 1, 3600, &timeout_s) < 0)
                                goto bad;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("imgflow-kafka-topics %s\n", IMGFLOW_VERSION);
                        return 0;
                default:
                        goto bad;
                }
        if (!bootstrap || optind >= argc || argc - optind > MAX_TOPICS)
                goto bad;
        for (int i = optind; i < argc; i++)
                if (parse_spec(argv[i], &topics[n++]) < 0) {
                        fprintf(stderr, "imgflow-kafka-topics: bad topic '%s'\n", argv[i]);
                        return 2;
                }

        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) != RD_KAFKA_CONF_OK) {
                fprintf(stderr, "imgflow-kafka-topics: %s\n", err);
                rd_kafka_conf_destroy(conf);
                return 2;
        }
        for (int i = 0; i < n_clients; i++) {
                char *eq = strchr(clients[i], '=');
                rd_kafka_conf_res_t cr;

                *eq = '\0';
                cr = rd_kafka_conf_set(conf, clients[i], eq + 1, err, sizeof err);
                *eq = '=';
                if (cr != RD_KAFKA_CONF_OK) {
                        fprintf(stderr, "imgflow-kafka-topics: --client %s: %s\n", clients[i], err);
                        rd_kafka_conf_destroy(conf);
                        return 2;
                }
        }
        rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (!rk) {
                fprintf(stderr, "imgflow-kafka-topics: %s\n", err);
                rd_kafka_conf_destroy(conf);
                return 1;
        }
        deadline = now_ms() + (int64_t) timeout_s * 1000;
        if (rf == 0) {
                int brokers = count_brokers(rk);

                if (brokers < 0) {
                        fprintf(stderr, "imgflow-kafka-topics: no metadata from %s\n", bootstrap);
                        rd_kafka_destroy(rk);
                        return 1;
                }
                rf = brokers < 3 ? brokers : 3;
        }
        r = create_topics(rk, topics, n, partitions, rf, configs, n_configs, timeout_s * 1000);
        if (r == 0 && n_acls > 0)
                r = create_acls(rk, acls, n_acls, prefix, timeout_s * 1000);
        while (r == 0 && (r = topics_ready(rk, topics, n, why, sizeof why)) == 0) {
                if (now_ms() > deadline) {
                        fprintf(stderr, "imgflow-kafka-topics: not ready after %d s: %s\n", timeout_s, why);
                        r = -ETIMEDOUT;
                        break;
                }
                usleep(50 * 1000);
        }
        rd_kafka_destroy(rk);
        return r > 0 ? 0 : 1;
bad:
        usage(stderr);
        return 2;
}
