/* SPDX-License-Identifier: MIT */
/*
 * What the verbs that talk to a running system share: the configuration
 * (--config FILE, the environment, --redis/--kafka-bootstrap flags), a synchronous
 * Redis connection (the store's read API), a plain librdkafka producer that
 * sends one message and flushes, waiting for the coordinator's answer at
 * imgflow:response:{<requestId>}, AWS-style errors and the JSON output.
 *
 * The CLI is not a daemon: every call here blocks, each with a bound.
 */

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <systemd/sd-id128.h>

#include "cli.h"
#include "cmd-remote.h"
#include "clock.h"
#include "config.h"
#include "daemon-config.h"
#include "format.h"
#include "kafka.h"
#include "random.h"
#include "redis.h"

struct CliRemote {
        Config *config;
        redisContext *redis;
        char reason[128]; /* redis_reason()'s text */
        rd_kafka_t *producer;
        ProtoLimits limits;
        char kafka_error[512]; /* librdkafka's last error that names a broker */
        bool kafka_all_down;   /* every broker refused or dropped the connection */
};

CliRemote *cli_remote_free(CliRemote *r) {
        if (!r)
                return NULL;
        if (r->producer) {
                rd_kafka_flush(r->producer, 1000);
                rd_kafka_destroy(r->producer);
        }
        if (r->redis)
                redisFree(r->redis);
        config_free(r->config);
        free(r);
        return NULL;
}

/* The configuration as both daemons load theirs (daemon/daemon-config.h):
 * --config, else $IMGFLOW_CONFIG, else the default file; the environment;
 * then --redis and --kafka-bootstrap. Errors printed. */
static int load_config(const CliRemoteArgs *a, Config **ret) {
        _cleanup_(daemon_config_args_done) DaemonConfigArgs args = {.config_path = a->config_path};
        _cleanup_free_ char *error = NULL;
        extern char **environ;
        int r = 0;

        if (a->redis)
                r = daemon_config_args_add(&args, "--redis", "redis", "address", a->redis);
        if (r >= 0 && a->kafka)
                r = daemon_config_args_add(&args, "--kafka-bootstrap", "kafka", "bootstrap.servers", a->kafka);
        if (r >= 0)
                r = daemon_config_load(&args, environ, ret, &error);
        if (r < 0)
                fprintf(stderr, "imgflow: %s\n", error ?: strerror(-r));
        return r;
}

/* Delivery report: the error of our one message, through the opaque. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        rd_kafka_resp_err_t *err = m->_private;

        if (err)
                *err = m->err;
}

/* librdkafka logs its connection trouble; the verb reports the outcome itself. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        if (level <= 3 && getenv("IMGFLOW_CLI_KAFKA_DEBUG"))
                fprintf(stderr, "rdkafka %s: %s\n", fac, buf);
}

/* Keeps the last error that says what went wrong with a broker ("Connect to
 * ipv4#127.0.0.1:9092 failed: Connection refused"), for the message of a
 * request that got no acknowledgement. "All brokers are down" only counts
 * when nothing better came. Served by rd_kafka_flush(), on this thread. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        CliRemote *r = opaque;

        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                r->kafka_all_down = true;
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && r->kafka_error[0])
                return;
        snprintf(r->kafka_error, sizeof r->kafka_error, "%s", reason);
}

static int producer_new(CliRemote *remote, const Config *config, rd_kafka_t **ret) {
        /* Idempotent like the daemons' producers (docs/configuration.md). */
        static const char *const defaults[] = {
                "client.id", "imgflow-cli",        "enable.idempotence", "true", "acks", "all", "linger.ms",
                "0",         "message.timeout.ms", "10000",              NULL,
        };
        _cleanup_(rd_kafka_conf_destroyp) rd_kafka_conf_t *conf = NULL;
        _cleanup_free_ char *error = NULL;
        char errstr[512];
        rd_kafka_t *rk;
        int r;

        r = kafka_conf_from_config(config, "producer", defaults, &conf, &error);
        if (r < 0) {
                fprintf(stderr, "imgflow: %s\n", error ? error : strerror(-r));
                return r;
        }
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_log_cb(conf, on_log);
        rd_kafka_conf_set_error_cb(conf, on_error);
        rd_kafka_conf_set_opaque(conf, remote);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!rk) {
                fprintf(stderr, "imgflow: cannot create a Kafka producer: %s\n", errstr);
                return -EINVAL;
        }
        conf = NULL; /* owned by rk now */
        *ret = rk;
        return 0;
}

int cli_remote_open(const CliRemoteArgs *a, bool need_kafka, CliRemote **ret) {
        _cleanup_(cli_remote_freep) CliRemote *r = NULL;
        _cleanup_free_ char *error = NULL;
        int k;

        r = xmalloc(sizeof *r);
        *r = (CliRemote){};
        k = load_config(a, &r->config);
        if (k < 0)
                return k;
        r->limits.max_payload_bytes = config_get_size(r->config, "imgflow", "payload_limit");
        k = redis_sync_connect(r->config, &r->redis, &error);
        if (k < 0) {
                /* The message names the address once, and what went wrong in words. */
                fprintf(stderr, "imgflow: %s\n", error ?: strerror(-k));
                return k;
        }
        if (need_kafka) {
                k = producer_new(r, r->config, &r->producer);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

const Config *cli_remote_config(CliRemote *r) {
        return r->config;
}

redisContext *cli_remote_redis(CliRemote *r) {
        return r->redis;
}

int cli_remote_wait(CliRemote *r) {
        _cleanup_free_ char *error = NULL;
        int k = redis_sync_wait(r->redis, r->config, &error);

        if (k < 0)
                fprintf(stderr, "imgflow: %s\n", error ?: strerror(-k));
        return k;
}

const ProtoLimits *cli_remote_limits(CliRemote *r) {
        return &r->limits;
}

/* " (<librdkafka's last broker error>)", or "". */
static const char *kafka_error_suffix(CliRemote *r, char *buf, size_t size) {
        if (!r->kafka_error[0])
                return "";
        snprintf(buf, size, " (%s)", r->kafka_error);
        return buf;
}

static int produce_until(CliRemote *r, ProtoTopic topic, const char *key, const char *buf, size_t len,
                         int64_t deadline_ms, unsigned timeout_sec) {
        _cleanup_free_ char *name = NULL;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__IN_PROGRESS, e;
        const char *brokers;
        char why[600];
        int k;

        if (!r->producer)
                return -EINVAL;
        k = proto_topic_name(config_get_string(r->config, "imgflow", "topic_prefix"), topic, NULL, &name);
        if (k < 0) {
                fprintf(stderr, "imgflow: invalid topic prefix '%s'\n",
                        config_get_string(r->config, "imgflow", "topic_prefix"));
                return k;
        }
        e = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(name), RD_KAFKA_V_VALUE((void *) buf, len),
                              RD_KAFKA_V_KEY((void *) key, key ? strlen(key) : 0),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&err),
                              RD_KAFKA_V_END);
        if (e) {
                fprintf(stderr, "imgflow: cannot send to %s: %s\n", name, rd_kafka_err2str(e));
                return kafka_errno(e);
        }
        /* Flush serves the delivery report (and the error callback) until
         * the request's deadline; message.timeout.ms may end it sooner, and
         * so does every broker refusing the connection: a CLI says so at
         * once rather than retrying for the whole deadline. */
        for (;;) {
                int64_t left = deadline_ms - now_ms(CLOCK_MONOTONIC);
                if (err != RD_KAFKA_RESP_ERR__IN_PROGRESS || left <= 0 || r->kafka_all_down)
                        break;
                rd_kafka_flush(r->producer, (int) MIN_(left, 100));
        }
        brokers = config_get_raw(r->config, "kafka", "bootstrap.servers") ?: "127.0.0.1:9092";
        if (err == RD_KAFKA_RESP_ERR__IN_PROGRESS && r->kafka_all_down) {
                fprintf(stderr, "imgflow: cannot connect to Kafka at %s: %s\n", brokers,
                        r->kafka_error[0] ? r->kafka_error : "all brokers are down");
                rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(r->producer, 0);
                return -ECONNREFUSED;
        }
        if (err == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
                fprintf(stderr, "imgflow: no acknowledgement from Kafka at %s for %s within %u s%s\n",
                        brokers, name, timeout_sec, kafka_error_suffix(r, why, sizeof why));
                /* The opaque points into this frame: drop the message before
                 * returning, without waiting for a broker that does not answer. */
                rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(r->producer, 0);
                return -ETIMEDOUT;
        }
        if (err) {
                fprintf(stderr, "imgflow: cannot send to %s (Kafka at %s): %s%s\n", name, brokers,
                        rd_kafka_err2str(err), kafka_error_suffix(r, why, sizeof why));
                return kafka_errno(err);
        }
        return 0;
}

int cli_remote_produce(CliRemote *r, ProtoTopic topic, const char *key, const char *buf, size_t len,
                       unsigned timeout_sec) {
        if (timeout_sec == 0)
                timeout_sec = CLI_REQUEST_TIMEOUT_DEFAULT;
        return produce_until(r, topic, key, buf, len, now_ms(CLOCK_MONOTONIC) + (int64_t) timeout_sec * 1000,
                             timeout_sec);
}

char *cli_request_id_new(void) {
        uint8_t b[16];

        random_fill(NULL, b, sizeof b);
        return format_hex(b, sizeof b, xmalloc(2 * sizeof b + 1));
}

char *cli_uuid_new(void) {
        char s[FORMAT_UUID_MAX];
        sd_id128_t id;

        /* A random (v4) UUID. */
        if (sd_id128_randomize(&id) < 0)
                abort();
        return xstrdup(format_uuid(id.bytes, s));
}

static const char *redis_address(const CliRemote *r) {
        return config_get_string(r->config, "redis", "address");
}

/* What went wrong on the connection, in words (a borrowed or static string). */
static const char *redis_reason(CliRemote *r, int k) {
        if (!r->redis || !r->redis->errstr[0])
                return strerror(-k);
        return redis_error_text(r->redis->err, r->redis->errstr,
                                config_get_duration_ms(r->config, "redis", "timeout"), r->reason,
                                sizeof(r->reason));
}

static int wait_response_until(CliRemote *r, const char *request_id, int64_t deadline, unsigned timeout_sec,
                               json_t **ret) {
        unsigned delay_ms = 20;

        for (;;) {
                int k = store_response_get(r->redis, request_id, ret);
                if (k != -ENOENT) {
                        if (k < 0)
                                fprintf(stderr, "imgflow: cannot read the answer from Redis at %s: %s\n",
                                        redis_address(r), redis_reason(r, k));
                        return k;
                }
                int64_t left = deadline - now_ms(CLOCK_MONOTONIC);
                if (left <= 0) {
                        fprintf(stderr,
                                "imgflow: no answer from a coordinator within %u s (request %s); "
                                "is imgflow-coordinator running?\n",
                                timeout_sec, request_id);
                        return -ETIMEDOUT;
                }
                usleep((useconds_t) MIN_((int64_t) delay_ms, left) * 1000);
                if (delay_ms < 200)
                        delay_ms *= 2;
        }
}

int cli_remote_wait_response(CliRemote *r, const char *request_id, unsigned timeout_sec, json_t **ret) {
        if (timeout_sec == 0)
                timeout_sec = CLI_REQUEST_TIMEOUT_DEFAULT;
        return wait_response_until(r, request_id, now_ms(CLOCK_MONOTONIC) + (int64_t) timeout_sec * 1000,
                                   timeout_sec, ret);
}

int cli_remote_request(CliRemote *r, ProtoTopic topic, const char *key, const char *buf, size_t len,
                       const char *request_id, unsigned timeout_sec, const char *operation, json_t **ret) {
        _cleanup_json_ json_t *resp = NULL;
        int64_t deadline;

        /* One deadline for the whole request: the broker's acknowledgement
         * and the coordinator's answer. */
        if (timeout_sec == 0)
                timeout_sec = CLI_REQUEST_TIMEOUT_DEFAULT;
        deadline = now_ms(CLOCK_MONOTONIC) + (int64_t) timeout_sec * 1000;
        if (produce_until(r, topic, key, buf, len, deadline, timeout_sec) < 0)
                return CLI_EXIT_FAILED;
        if (wait_response_until(r, request_id, deadline, timeout_sec, &resp) < 0)
                return CLI_EXIT_FAILED;
        if (!json_is_true(json_object_get(resp, "ok")))
                return cli_aws_error(operation,
                                     json_string_value(json_object_get(resp, "error")) ?: "InternalError",
                                     json_string_value(json_object_get(resp, "cause")));
        if (ret)
                *ret = TAKE_PTR(resp);
        return CLI_EXIT_OK;
}

int cli_aws_error(const char *operation, const char *error, const char *cause) {
        fprintf(stderr, "An error occurred (%s) when calling the %s operation%s%s\n", error, operation,
                cause && *cause ? ": " : "", cause && *cause ? cause : "");
        return CLI_EXIT_FAILED;
}

int cli_check_error_cause(const char *operation, const char *error, const char *cause) {
        _cleanup_free_ char *text = NULL;
        const char *field = error && strlen(error) > CLI_ERROR_MAX   ? "error"
                            : cause && strlen(cause) > CLI_CAUSE_MAX ? "cause"
                                                                     : NULL;

        if (!field)
                return CLI_CONTINUE;
        text = xasprintf(
                "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must "
                "have length less than or equal to %d",
                field, streq(field, "error") ? CLI_ERROR_MAX : CLI_CAUSE_MAX);
        return cli_aws_error(operation, "ValidationException", text);
}

int cli_store_error(const char *operation, int r, CliRemote *remote) {
        if ((r == -EIO || r == -EBADMSG) && remote)
                fprintf(stderr, "imgflow: %s: Redis at %s: %s\n", operation, redis_address(remote),
                        redis_reason(remote, r));
        else if (r == -EIO || r == -EBADMSG)
                fprintf(stderr, "imgflow: %s: Redis error: %s\n", operation, strerror(-r));
        else
                fprintf(stderr, "imgflow: %s: %s\n", operation, strerror(-r));
        return CLI_EXIT_FAILED;
}

void cli_print_json(const json_t *j) {
        _cleanup_free_ char *s = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

        if (s)
                printf("%s\n", s);
        fflush(stdout);
}

json_t *cli_date(int64_t ms) {
        char buf[64];

        asl_format_timestamp(ms, buf, sizeof buf);
        return json_string(buf);
}

char *cli_sm_arn(const char *name) {
        return xasprintf("imgflow:stateMachine:%s", name);
}

char *cli_exec_arn(const char *exec_id) {
        return xasprintf("imgflow:execution:%s", exec_id);
}

/* The options every remote verb has, into CliRemoteArgs. */
static const CliOption remote_options[] = {
        { "config", CLI_OPTION_STRING, offsetof(CliRemoteArgs, config_path) },
        { "redis", CLI_OPTION_STRING, offsetof(CliRemoteArgs, redis) },
        { "kafka-bootstrap", CLI_OPTION_STRING, offsetof(CliRemoteArgs, kafka) },
        /* the earlier name, kept: the daemons' flag is --kafka-bootstrap */
        { "kafka", CLI_OPTION_STRING, offsetof(CliRemoteArgs, kafka) },
        { "request-timeout", CLI_OPTION_UINT, offsetof(CliRemoteArgs, request_timeout_sec),
          .min = 1, .max = 3600, .expected = "seconds (1..3600)" },
        {},
};

static int option_uint(const CliOption *o, const char *arg, unsigned *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        v = strtoul(arg, &end, 10);
        if (errno || end == arg || *end || v < o->min || v > o->max) {
                if (o->expected)
                        fprintf(stderr, "imgflow: --%s: expected %s, got '%s'\n", o->name, o->expected, arg);
                else
                        fprintf(stderr, "imgflow: --%s: expected a number in %u..%u, got '%s'\n", o->name,
                                o->min, o->max, arg);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

static int option_choice(const CliOption *o, const char *arg) {
        for (size_t i = 0; o->choices[i]; i++)
                if (streq(arg, o->choices[i]))
                        return 0;
        fprintf(stderr, "imgflow: --%s: one of ", o->name);
        for (size_t i = 0; o->choices[i]; i++)
                fprintf(stderr, "%s%s", i > 0 ? ", " : "", o->choices[i]);
        fprintf(stderr, ", got '%s'\n", arg);
        return -EINVAL;
}

/* Store arg into the field o names in args: 0 or -EINVAL (printed). */
static int option_store(const CliOption *o, void *args, const char *arg) {
        void *field = (char *) args + o->offset;

        switch (o->type) {
        case CLI_OPTION_STRING:
                *(const char **) field = arg;
                return 0;
        case CLI_OPTION_FLAG:
                *(bool *) field = true;
                return 0;
        case CLI_OPTION_UINT:
                return option_uint(o, arg, field);
        case CLI_OPTION_CHOICE:
                if (option_choice(o, arg) < 0)
                        return -EINVAL;
                *(const char **) field = arg;
                return 0;
        }
        return -EINVAL;
}

#define OPTIONS_MAX 64

int cli_parse_options(const Verb *verb, int argc, char *argv[], const CliOption *options,
                      CliRemoteArgs *remote, void *args) {
        /* getopt_long's val is the index into these (above any short option). */
        enum { OPTION_VAL_BASE = 0x1000 };
        const CliOption *table[OPTIONS_MAX];
        void *target[OPTIONS_MAX];
        struct option all[OPTIONS_MAX + 2];
        size_t n = 0;
        int c;

        for (size_t i = 0; remote_options[i].name; i++) {
                table[n] = &remote_options[i];
                target[n++] = remote;
        }
        for (size_t i = 0; options && options[i].name && n < OPTIONS_MAX; i++) {
                table[n] = &options[i];
                target[n++] = args;
        }
        for (size_t i = 0; i < n; i++) {
                size_t first = 0;

                /* Aliases of one field share a value, so that getopt_long does
                 * not call their common prefix ambiguous. */
                while (target[first] != target[i] || table[first]->offset != table[i]->offset)
                        first++;
                all[i] = (struct option){
                        .name = table[i]->name,
                        .has_arg = table[i]->type == CLI_OPTION_FLAG ? no_argument : required_argument,
                        .val = OPTION_VAL_BASE + (int) first,
                };
        }
        all[n] = (struct option){ .name = "help", .has_arg = no_argument, .val = 'h' };
        all[n + 1] = (struct option){};

        optind = 1;
        opterr = 1;
        while ((c = getopt_long(argc, argv, "h", all, NULL)) >= 0) {
                if (c == 'h') {
                        cli_verb_help(verb, stdout);
                        return CLI_EXIT_OK;
                }
                if (c < OPTION_VAL_BASE || c >= OPTION_VAL_BASE + (int) n) {
                        fprintf(stderr, "Run `imgflow %s --help` for the options.\n", verb->name);
                        return CLI_EXIT_USAGE;
                }
                if (option_store(table[c - OPTION_VAL_BASE], target[c - OPTION_VAL_BASE], optarg) < 0)
                        return CLI_EXIT_USAGE;
        }
        if (optind < argc) {
                fprintf(stderr, "imgflow %s: unexpected argument '%s'\n", verb->name, argv[optind]);
                return CLI_EXIT_USAGE;
        }
        return CLI_CONTINUE;
}

int cli_missing_option(const Verb *verb, const char *option) {
        fprintf(stderr, "imgflow %s: %s is required\nRun `imgflow %s --help` for the options.\n", verb->name,
                option, verb->name);
        return CLI_EXIT_USAGE;
}

int64_t cli_remote_retention_sec(CliRemote *r) {
        return (int64_t) (config_get_duration_ms(r->config, "coordinator", "retention") / 1000);
}
