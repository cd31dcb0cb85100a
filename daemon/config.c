/* SPDX-License-Identifier: MIT */
/*
 * The configuration: a key table, a tiny key-file parser, environment
 * overrides. See config.h for the format and the rules.
 *
 * Storage: one value slot per config_keys[] entry (strings as written, parsed
 * again on read; they were validated when set, so reading cannot fail), plus
 * an ordered list of (section, key, value) for the pass-through sections.
 */

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "imgflow-config.h"

#include "config.h"
#include "log.h"
#include "parse.h"

#define K(s, k, t, d, h) { s, k, t, d, h }

const ConfigKey config_keys[] = {
        K("imgflow", "topic_prefix", CONFIG_STRING, "imgflow.",
          "Prefix of every Kafka topic name (jobs, tasks, tasks.<pool>, events, notifications, dlq)."),
        K("imgflow", "payload_limit", CONFIG_SIZE, "256KiB",
          "Largest message payload accepted or produced (as in Step Functions)."),
        K("imgflow", "log_level", CONFIG_STRING, "info",
          "Maximum log level: emerg, alert, crit, err, warning, notice, info, debug."),
        K("imgflow", "log_target", CONFIG_STRING, "auto",
          "Where logs go: auto (journal when stderr is the journal), journal, console."),
        K("imgflow", "group_settle_timeout", CONFIG_DURATION, "60s",
          "A Kafka consumer without an assignment this long after joining or losing its partitions "
          "says so and joins its group again; 0 never."),

        K("coordinator", "group", CONFIG_STRING, "imgflow-coordinators",
          "Kafka consumer group of the coordinators."),
        K("coordinator", "history_limit", CONFIG_INT, "25000",
          "Most history events kept per execution."),
        K("coordinator", "execution_role_arn", CONFIG_STRING, "",
          "The role ARN executions report ($$.Execution.RoleArn); empty: imgflow:role:<state machine>."),
        K("coordinator", "retention", CONFIG_DURATION, "7d",
          "How long a finished execution (state, history) is kept in Redis."),
        K("coordinator", "metrics_listen", CONFIG_STRING, "",
          "Address of the Prometheus endpoint (\"127.0.0.1:9464\"); empty: off."),
        K("coordinator", "instance", CONFIG_STRING, "",
          "Name of this coordinator instance (logs, metrics, timer claims); empty: hostname:pid."),
        K("coordinator", "state_machines", CONFIG_STRING, "",
          "Directory of state machine definitions (<name>.asl.json) loaded at start; empty: none."),
        K("coordinator", "timer_interval", CONFIG_DURATION, "100ms",
          "How often due timers are claimed from Redis."),
        K("coordinator", "timer_batch", CONFIG_INT, "100",
          "Most timers claimed in one go."),
        K("coordinator", "max_in_flight", CONFIG_INT, "1000",
          "Most events being processed at once before the consumer pauses."),
        K("coordinator", "s3_events_topic", CONFIG_STRING, "",
          "Kafka topic of S3 event notifications that [triggers] rules turn into executions; empty: off."),
        K("coordinator", "s3_events_keys", CONFIG_STRING, "encoded",
          "How notifications write object keys: encoded (URL-encoded, as S3 does) or plain (as they are)."),
        K("coordinator", "task_key", CONFIG_STRING, "task",
          "Kafka key of task messages: task (<execution id>/<task id>: an execution's tasks spread over the "
          "pool) or execution (the execution id: all on one partition)."),
        K("coordinator", "express_max_in_flight", CONFIG_INT, "1000",
          "Most EXPRESS executions held in memory at once before the jobs topic's partitions pause (they "
          "resume below half)."),
        K("coordinator", "express_duration_max", CONFIG_DURATION, "300s",
          "Longest EXPRESS execution (States.Timeout past it): whole seconds, at most 300s (Step Functions' 5 "
          "minutes)."),
        K("coordinator", "result_file_records", CONFIG_INT, "0",
          "Most records in one SUCCEEDED_n file that a distributed Map's ResultWriter writes while the Map runs; "
          "0: a file holds up to about 96 KiB of records."),
        K("coordinator", "shutdown_timeout", CONFIG_DURATION, "30s",
          "How long a stopping coordinator waits for in-flight work."),

        K("worker", "group", CONFIG_STRING, "imgflow-workers",
          "Kafka consumer group of the workers."),
        K("worker", "threads", CONFIG_INT, "0",
          "Image threads; 0: the number of online CPUs."),
        K("worker", "pool", CONFIG_STRING, "",
          "Pool served: empty consumes <prefix>tasks, \"gpu\" consumes <prefix>tasks.gpu."),
        K("worker", "max_pixels", CONFIG_INT, "100000000",
          "Largest image (width x height) decoded; larger ones fail with Image.TooLarge."),
        K("worker", "max_bytes", CONFIG_SIZE, "100MiB",
          "Largest input file read."),
        K("worker", "memory_budget", CONFIG_SIZE, "0",
          "Memory budget of libvips's operation cache; 0: libvips default."),
        K("worker", "max_in_flight", CONFIG_INT, "0",
          "Most tasks received and not finished before the consumer pauses; 0: 4 x threads, at least 8."),
        K("worker", "heartbeat_interval", CONFIG_DURATION, "10s",
          "Interval of TaskHeartbeat events for running tasks that asked for heartbeats."),
        K("worker", "shutdown_timeout", CONFIG_DURATION, "30s",
          "How long a stopping worker lets running tasks finish."),
        K("worker", "metrics_listen", CONFIG_STRING, "",
          "Address of the Prometheus endpoint (\"127.0.0.1:9465\"); empty: off."),
        K("worker", "id", CONFIG_STRING, "",
          "Worker id reported in events; empty: hostname:pid."),
        K("worker", "notify_topics", CONFIG_STRING, "",
          "Topics the notify operation may publish to, separated by spaces or commas; empty: <prefix>notifications only."),

        K("lambda", "pool", CONFIG_STRING, "lambda",
          "Pool imgflow-lambda serves: it consumes <prefix>tasks.<pool>."),
        K("lambda", "group", CONFIG_STRING, "imgflow-workers",
          "Kafka consumer group of imgflow-lambda (imgflow-workers becomes imgflow-workers.<pool>)."),
        K("lambda", "id", CONFIG_STRING, "",
          "Worker id imgflow-lambda reports in events; empty: hostname:instance."),
        K("lambda", "metrics_listen", CONFIG_STRING, "",
          "Address of imgflow-lambda's Prometheus endpoint (\"127.0.0.1:9466\"); empty: off."),
        K("lambda", "functions", CONFIG_STRING, "/etc/imgflow/lambda-functions.json",
          "The functions imgflow-lambda runs (JSON; imgflow import-sam writes it)."),
        K("lambda", "python", CONFIG_STRING, "/usr/bin/python3",
          "Interpreter of the python3.* runtimes."),
        K("lambda", "node", CONFIG_STRING, "node",
          "Interpreter of the nodejs* runtimes."),
        K("lambda", "runtime_dir", CONFIG_STRING, "",
          "Directory of the runtime bootstraps (bootstrap.py, bootstrap.js); empty: the installed ones."),
        K("lambda", "s3_endpoint", CONFIG_STRING, "",
          "AWS_ENDPOINT_URL_S3 of the handlers; empty: s3.endpoint."),
        K("lambda", "sfn_endpoint", CONFIG_STRING, "",
          "AWS_ENDPOINT_URL_SFN of the handlers (imgflow-api); empty: http://<api.listen>."),
        K("lambda", "access_key_id", CONFIG_STRING, "",
          "AWS_ACCESS_KEY_ID of the handlers; empty: s3.access_key_id, else the daemon's $AWS_ACCESS_KEY_ID."),
        K("lambda", "secret_access_key", CONFIG_STRING, "",
          "AWS_SECRET_ACCESS_KEY of the handlers; empty: s3.secret_access_key, else the daemon's $AWS_SECRET_ACCESS_KEY."),
        K("lambda", "region", CONFIG_STRING, "",
          "AWS_REGION of the handlers and the region of function ARNs; empty: api.region."),

        K("s3", "endpoint", CONFIG_STRING, "",
          "S3 endpoint (http:// or https://); empty: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else https://s3.<region>.amazonaws.com."),
        K("s3", "region", CONFIG_STRING, "",
          "Region signed into requests; empty: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1."),
        K("s3", "addressing", CONFIG_STRING, "virtual",
          "path (<endpoint>/<bucket>/<key>) or virtual (<bucket>.<endpoint host>/<key>)."),
        K("s3", "access_key_id", CONFIG_STRING, "",
          "Access key id; empty: $AWS_ACCESS_KEY_ID, else the credentials file."),
        K("s3", "secret_access_key", CONFIG_STRING, "",
          "Secret access key; empty: $AWS_SECRET_ACCESS_KEY, else the credentials file."),
        K("s3", "session_token", CONFIG_STRING, "",
          "Session token of temporary credentials (with access_key_id); empty: none."),
        K("s3", "profile", CONFIG_STRING, "",
          "Profile of the credentials file; empty: $AWS_PROFILE, else default."),
        K("s3", "credentials_file", CONFIG_STRING, "",
          "Shared credentials file; empty: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials."),
        K("s3", "verify_tls", CONFIG_BOOL, "true",
          "Verify the server's TLS certificate and name."),
        K("s3", "ca_file", CONFIG_STRING, "",
          "CA bundle for TLS; empty: the system's."),
        K("s3", "multipart_threshold", CONFIG_SIZE, "16MiB",
          "Objects up to this size are written with one PutObject, larger ones as multipart uploads."),
        K("s3", "part_size", CONFIG_SIZE, "8MiB",
          "Part size of multipart uploads (at least 5MiB)."),
        K("s3", "max_attempts", CONFIG_INT, "5",
          "Tries of one request that fails with a connection error, a timeout, a 5xx, 429 or SlowDown (1..100)."),
        K("s3", "timeout", CONFIG_DURATION, "60s",
          "Longest time of one request."),
        K("s3", "connect_timeout", CONFIG_DURATION, "5s",
          "Longest time to connect."),

        K("api", "listen", CONFIG_STRING, "127.0.0.1:8083",
          "Address imgflow-api listens on: a numeric host:port ([v6]:port for IPv6)."),
        K("api", "region", CONFIG_STRING, "us-east-1",
          "Region in the ARNs the API gives and accepts, and in the SigV4 credential scope."),
        K("api", "account", CONFIG_STRING, "123456789012",
          "Account id (12 digits) in the ARNs the API gives and accepts."),
        K("api", "keys", CONFIG_STRING, "",
          "File of access keys and their IAM policies (readable by the service only); empty: none."),
        K("api", "allow_unauthenticated", CONFIG_BOOL, "false",
          "Serve requests without a signature (full access); only with a loopback listen address."),
        K("api", "tls_certificate", CONFIG_STRING, "",
          "PEM certificate (chain) file for HTTPS; empty: plain HTTP."),
        K("api", "tls_key", CONFIG_STRING, "",
          "PEM private key file for HTTPS."),
        K("api", "max_request_size", CONFIG_SIZE, "2MiB",
          "Largest request body; larger ones are refused without being read."),
        K("api", "max_header_size", CONFIG_SIZE, "64KiB",
          "Room for a request line and its headers, per connection."),
        K("api", "max_connections", CONFIG_INT, "1024",
          "Most open client connections."),
        K("api", "idle_timeout", CONFIG_DURATION, "90s",
          "A client connection without traffic for this long is closed."),
        K("api", "request_timeout", CONFIG_DURATION, "30s",
          "How long a request waits for a coordinator's answer before ServiceUnavailable."),
        K("api", "activity_lease", CONFIG_DURATION, "30s",
          "How long an activity task handed to an API process may wait for its delivery before it is offered again."),
        K("api", "activity_poll_interval", CONFIG_DURATION, "100ms",
          "How often waiting GetActivityTask calls look for a task."),
        K("watch", "buckets", CONFIG_STRING, "",
          "imgflow-watch: the directory buckets to watch, separated by spaces or commas; empty: every one."),
        K("watch", "ignore_prefixes", CONFIG_STRING, "processed/",
          "imgflow-watch: key prefixes never published (the workers' outputs), separated by spaces or commas."),
        K("watch", "state_dir", CONFIG_STRING, "/var/lib/imgflow-watch",
          "imgflow-watch: where the journal of published objects is kept (one file per bucket)."),
        K("watch", "settle", CONFIG_DURATION, "2s",
          "imgflow-watch: a file found by a scan younger than this is looked at again after it."),
        K("watch", "etag_max_bytes", CONFIG_SIZE, "100MiB",
          "imgflow-watch: files up to this size get the MD5 of their content as eTag, larger ones size and mtime."),

        K("redis", "address", CONFIG_STRING, "127.0.0.1:6379",
          "Redis server: host:port, [v6addr]:port or unix:/path/to/socket."),
        K("redis", "username", CONFIG_STRING, "",
          "ACL user name (AUTH user password); empty: AUTH password only."),
        K("redis", "password", CONFIG_STRING, "",
          "Password; empty: no AUTH."),
        K("redis", "db", CONFIG_INT, "0",
          "Database number (SELECT)."),
        K("redis", "tls", CONFIG_BOOL, "false",
          "Not supported by hiredis 0.14: true is refused; use stunnel or a TLS proxy."),
        K("redis", "timeout", CONFIG_DURATION, "5s",
          "Connect and command timeout."),
        K("redis", "sentinels", CONFIG_STRING, "",
          "Redis Sentinels (host:port, comma-separated): the master of redis.master_name is asked for at every connect, and redis.address is not used; empty: off."),
        K("redis", "master_name", CONFIG_STRING, "imgflow",
          "The master's name at the Sentinels (sentinel monitor <name> ...)."),
        K("redis", "wait_replicas", CONFIG_INT, "0",
          "After each batch of writes, WAIT until this many replicas have them before acting on the replies (0: off)."),
        K("redis", "wait_timeout", CONFIG_DURATION, "1s",
          "How long one WAIT waits for redis.wait_replicas; short of them, the replies stay held and WAIT is sent again."),
        { NULL, NULL, 0, NULL, NULL },
};

const char *const config_passthrough_sections[] = {
        "kafka", "kafka.producer", "kafka.consumer", "buckets", "resources", "triggers", NULL,
};

/* Pass-through values set by config_new(). */
static const char *const passthrough_defaults[] = {
        "kafka", "bootstrap.servers", "127.0.0.1:9092",
        NULL,
};

typedef struct ConfigEntry {
        char *section;
        char *key;
        char *value;
        char *where; /* config_where()'s answer, NULL: "" */
} ConfigEntry;

struct Config {
        char *values[ELEMENTSOF(config_keys) - 1];
        char *wheres[ELEMENTSOF(config_keys) - 1]; /* NULL: the default */
        ConfigEntry *entries;
        size_t n_entries;
        bool quiet; /* config_set_quiet(): no warnings while loading */
};

void config_set_quiet(Config *c, bool quiet) {
        c->quiet = quiet;
}

const char *config_default_path(void) {
        return IMGFLOW_SYSCONFDIR "/imgflow/imgflow.conf";
}

static int seterr(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int seterr(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                char *s = NULL;
                va_start(ap, fmt);
                if (vasprintf(&s, fmt, ap) < 0)
                        s = NULL;
                va_end(ap);
                free(*ret_error);
                *ret_error = s;
        }
        return r;
}

static ssize_t key_index(const char *section, const char *key) {
        for (size_t i = 0; config_keys[i].section; i++)
                if (streq(config_keys[i].section, section) && streq(config_keys[i].key, key))
                        return (ssize_t) i;
        return -1;
}

static bool section_is_passthrough(const char *section) {
        for (size_t i = 0; config_passthrough_sections[i]; i++)
                if (streq(config_passthrough_sections[i], section))
                        return true;
        return false;
}

static bool section_is_known(const char *section) {
        if (section_is_passthrough(section))
                return true;
        for (size_t i = 0; config_keys[i].section; i++)
                if (streq(config_keys[i].section, section))
                        return true;
        return false;
}

/* Validates a value for a table key; extra rules for a few keys. */
static int validate(size_t idx, const char *value, char **ret_error, const char *where) {
        const ConfigKey *k = &config_keys[idx];
        const char *expected = NULL;
        int64_t i;
        uint64_t u;
        bool b;

        switch (k->type) {
        case CONFIG_STRING:
                if (streq(k->section, "imgflow") && streq(k->key, "log_level")) {
                        if (log_level_from_string(value) < 0)
                                expected = "a log level (err, warning, notice, info, debug)";
                } else if (streq(k->section, "imgflow") && streq(k->key, "log_target")) {
                        if (!streq(value, "auto") && !streq(value, "journal") &&
                            !streq(value, "console") && !streq(value, "stderr"))
                                expected = "auto, journal or console";
                } else if (streq(k->section, "imgflow") && streq(k->key, "topic_prefix")) {
                        if (strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                                    strlen(value) || strlen(value) > 200)
                                expected = "letters, digits, '.', '_' and '-' (Kafka topic characters)";
                } else if (streq(k->section, "api") && streq(k->key, "region")) {
                        if (!*value || strlen(value) > 64 ||
                            strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(value))
                                expected = "a region name (lower-case letters, digits and '-')";
                } else if (streq(k->section, "api") && streq(k->key, "account")) {
                        if (strlen(value) != 12 || strspn(value, "0123456789") != 12)
                                expected = "an account id of 12 digits";
                } else if ((streq(k->section, "worker") || streq(k->section, "lambda")) &&
                           streq(k->key, "pool")) {
                        if (strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                                    strlen(value) || strlen(value) > 64)
                                expected = "a pool name (letters, digits, '_' and '-')";
                }
                break;
        case CONFIG_INT:
                if (parse_int(value, &i) < 0 || i < 0 || i > INT32_MAX)
                        expected = "a non-negative integer";
                break;
        case CONFIG_BOOL:
                if (parse_bool(value, &b) < 0)
                        expected = "a boolean (true/false, yes/no, on/off, 1/0)";
                break;
        case CONFIG_DURATION:
                if (parse_duration_ms(value, &u) < 0)
                        expected = "a duration like 500ms, 30s, 5m, 2h, 7d";
                break;
        case CONFIG_SIZE:
                if (parse_size(value, &u) < 0)
                        expected = "a size like 4096, 256KiB, 100MiB, 1GB";
                break;
        }
        if (expected)
                return seterr(ret_error, -EINVAL, "%sbad value for %s.%s: \"%s\" (expected %s)",
                              where, k->section, k->key, value, expected);
        return 0;
}

/* *w = a copy of where ("" -> NULL). */
static int where_set(char **w, const char *where) {
        char *n = NULL;

        if (where && *where && !(n = strdup(where)))
                return -ENOMEM;
        free(*w);
        *w = n;
        return 0;
}

static int set_internal(Config *c, const char *section, const char *key, const char *value,
                        const char *where, char **ret_error) {
        ssize_t idx;
        char *v;
        int r;

        idx = key_index(section, key);
        if (idx >= 0) {
                r = validate((size_t) idx, value, ret_error, where);
                if (r < 0)
                        return r;
                v = strdup(value);
                if (!v)
                        return -ENOMEM;
                free(c->values[idx]);
                c->values[idx] = v;
                return where_set(&c->wheres[idx], where);
        }

        if (!section_is_known(section))
                return seterr(ret_error, -EINVAL, "%sunknown section [%s]", where, section);
        if (!section_is_passthrough(section))
                return seterr(ret_error, -EINVAL, "%sunknown key %s.%s", where, section, key);
        if (!*key || strlen(key) > 256 || strpbrk(key, " \t="))
                return seterr(ret_error, -EINVAL, "%sbad key name \"%s\" in [%s]", where, key, section);
        if (strlen(value) > CONFIG_LINE_MAX)
                return seterr(ret_error, -E2BIG, "%svalue of %s.%s too long", where, section, key);

        for (size_t i = 0; i < c->n_entries; i++)
                if (streq(c->entries[i].section, section) && streq(c->entries[i].key, key)) {
                        v = strdup(value);
                        if (!v)
                                return -ENOMEM;
                        free(c->entries[i].value);
                        c->entries[i].value = v;
                        return where_set(&c->entries[i].where, where);
                }

        if (c->n_entries >= CONFIG_ENTRIES_MAX)
                return seterr(ret_error, -E2BIG, "%stoo many keys", where);
        ConfigEntry *ne = realloc(c->entries, (c->n_entries + 1) * sizeof(ConfigEntry));
        if (!ne)
                return -ENOMEM;
        c->entries = ne;
        ConfigEntry e = { strdup(section), strdup(key), strdup(value), NULL };
        if (!e.section || !e.key || !e.value || where_set(&e.where, where) < 0) {
                free(e.section);
                free(e.key);
                free(e.value);
                free(e.where);
                return -ENOMEM;
        }
        c->entries[c->n_entries++] = e;
        return 0;
}

int config_set(Config *c, const char *section, const char *key, const char *value,
               char **ret_error) {
        if (!c || !section || !key || !value)
                return -EINVAL;
        return set_internal(c, section, key, value, "", ret_error);
}

int config_set_from(Config *c, const char *section, const char *key, const char *value,
                    const char *source, char **ret_error) {
        _cleanup_free_ char *where = NULL;

        if (!c || !section || !key || !value)
                return -EINVAL;
        if (source && asprintf(&where, "%s: ", source) < 0)
                return -ENOMEM;
        return set_internal(c, section, key, value, where ?: "", ret_error);
}

const char *config_where(const Config *c, const char *section, const char *key) {
        ssize_t idx = key_index(section, key);

        if (!c)
                return "";
        if (idx >= 0)
                return c->wheres[idx] ?: "";
        for (size_t i = 0; i < c->n_entries; i++)
                if (streq(c->entries[i].section, section) && streq(c->entries[i].key, key))
                        return c->entries[i].where ?: "";
        return "";
}

/* -------------------------------------------------------------- lifecycle */

int config_new(Config **ret) {
        Config *c;
        int r;

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; config_keys[i].section; i++) {
                c->values[i] = strdup(config_keys[i].default_value);
                if (!c->values[i]) {
                        config_free(c);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; passthrough_defaults[i]; i += 3) {
                r = config_set(c, passthrough_defaults[i], passthrough_defaults[i + 1],
                               passthrough_defaults[i + 2], NULL);
                if (r < 0) {
                        config_free(c);
                        return r;
                }
        }
        *ret = c;
        return 0;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(c->values); i++) {
                free(c->values[i]);
                free(c->wheres[i]);
        }
        for (size_t i = 0; i < c->n_entries; i++) {
                free(c->entries[i].where);
                free(c->entries[i].section);
                free(c->entries[i].key);
                free(c->entries[i].value);
        }
        free(c->entries);
        free(c);
        return NULL;
}

/* ---------------------------------------------------------------- loading */

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = '\0';
        return s;
}

/* The same key twice in one file with different values: the later line
 * wins, as it always did, but say so with both lines (a copy-paste that
 * left the old value above is easy to miss). */
static void warn_repeated(const Config *c, const char *origin, unsigned line_no, const char *section,
                          const char *key, const char *value) {
        const char *before = config_where(c, section, key), *old = config_get_raw(c, section, key);
        size_t n = strlen(origin);
        unsigned line0;

        if (c->quiet || !old || streq(old, value) || strncmp(before, origin, n) != 0 || before[n] != ':' ||
            sscanf(before + n + 1, "%u", &line0) != 1)
                return;
        log_warning("%s:%u: %s.%s = \"%s\" repeats the key of line %u (%s.%s = \"%s\"); line %u wins",
                    origin, line_no, section, key, value, line0, section, key, old, line_no);
}

int config_load_string(Config *c, const char *text, const char *origin, char **ret_error) {
        _cleanup_free_ char *section = NULL, *copy = NULL;
        char where[512];
        unsigned line_no = 0;
        char *p, *nl;
        int r;

        if (!c || !text)
                return -EINVAL;
        if (!origin)
                origin = "(config)";
        if (strlen(text) > CONFIG_FILE_MAX)
                return seterr(ret_error, -EFBIG, "%s: larger than %d bytes", origin, CONFIG_FILE_MAX);
        copy = strdup(text);
        if (!copy)
                return -ENOMEM;

        for (p = copy; p; p = nl) {
                char *line, *eq;

                nl = strchr(p, '\n');
                if (nl)
                        *nl++ = '\0';
                line_no++;
                snprintf(where, sizeof(where), "%s:%u: ", origin, line_no);

                if (strlen(p) > CONFIG_LINE_MAX)
                        return seterr(ret_error, -E2BIG, "%sline too long", where);
                line = strip(p);
                if (!*line || *line == '#' || *line == ';')
                        continue;

                if (*line == '[') {
                        char *end = strchr(line, ']');
                        if (!end || strip(end + 1)[0] != '\0')
                                return seterr(ret_error, -EINVAL, "%sbad section header \"%s\"",
                                              where, line);
                        *end = '\0';
                        char *name = strip(line + 1);
                        if (!section_is_known(name))
                                return seterr(ret_error, -EINVAL, "%sunknown section [%s]", where, name);
                        free(section);
                        section = strdup(name);
                        if (!section)
                                return -ENOMEM;
                        continue;
                }

                eq = strchr(line, '=');
                if (!eq)
                        return seterr(ret_error, -EINVAL, "%sexpected \"key = value\", got \"%s\"",
                                      where, line);
                *eq = '\0';
                char *key = strip(line), *value = strip(eq + 1);
                size_t vl = strlen(value);
                if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
                        value[vl - 1] = '\0';
                        value++;
                }
                if (!*key)
                        return seterr(ret_error, -EINVAL, "%smissing key before '='", where);
                if (!section)
                        return seterr(ret_error, -EINVAL, "%skey \"%s\" outside of any [section]",
                                      where, key);
                warn_repeated(c, origin, line_no, section, key, value);
                r = set_internal(c, section, key, value, where, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_load_file(Config *c, const char *path, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        FILE *f;
        size_t n;
        struct stat st;

        f = fopen(path, "re");
        if (!f) {
                int r = -errno;
                return seterr(ret_error, r, "%s: %s", path, strerror(-r));
        }
        if (fstat(fileno(f), &st) == 0 && st.st_size > CONFIG_FILE_MAX) {
                fclose(f);
                return seterr(ret_error, -EFBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        }
        buf = malloc(CONFIG_FILE_MAX + 2);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
        if (ferror(f)) {
                fclose(f);
                return seterr(ret_error, -EIO, "%s: read error", path);
        }
        fclose(f);
        if (n > CONFIG_FILE_MAX)
                return seterr(ret_error, -EFBIG, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
        if (memchr(buf, '\0', n))
                return seterr(ret_error, -EINVAL, "%s: contains a NUL byte", path);
        buf[n] = '\0';
        return config_load_string(c, buf, path, ret_error);
}

/* "kafka.producer" -> "KAFKA_PRODUCER" (into buf). */
static void env_name(const char *s, char *buf, size_t size) {
        size_t i = 0;
        for (; *s && i + 1 < size; s++, i++)
                buf[i] = (*s == '.' || *s == '-') ? '_' : (char) toupper((unsigned char) *s);
        buf[i] = '\0';
}

int config_load_env(Config *c, char *const *env, char **ret_error) {
        int r;

        if (!c)
                return -EINVAL;
        for (size_t e = 0; env && env[e]; e++) {
                const char *var = env[e], *eq, *name, *value;
                char where[300], nbuf[256], ebuf[256];
                size_t nl;
                bool done = false;

                if (strncmp(var, "IMGFLOW_", 8) != 0)
                        continue;
                eq = strchr(var, '=');
                if (!eq)
                        continue;
                name = var + 8;
                nl = (size_t) (eq - name);
                value = eq + 1;
                if (nl == 0 || nl >= sizeof(nbuf))
                        continue;
                memcpy(nbuf, name, nl);
                nbuf[nl] = '\0';
                snprintf(where, sizeof(where), "IMGFLOW_%s: ", nbuf);

                /* Known keys: IMGFLOW_<SECTION>_<KEY>, or IMGFLOW_<KEY> for [imgflow]. */
                for (size_t i = 0; config_keys[i].section && !done; i++) {
                        char full[256];
                        size_t fl;
                        env_name(config_keys[i].section, full, sizeof(full) - 1);
                        fl = strlen(full);
                        full[fl++] = '_';
                        env_name(config_keys[i].key, full + fl, sizeof(full) - fl);
                        env_name(config_keys[i].key, ebuf, sizeof(ebuf));
                        if (streq(full, nbuf) ||
                            (streq(config_keys[i].section, "imgflow") && streq(ebuf, nbuf))) {
                                r = set_internal(c, config_keys[i].section, config_keys[i].key, value,
                                                 where, ret_error);
                                if (r < 0)
                                        return r;
                                done = true;
                        }
                }
                if (done)
                        continue;

                /* Pass-through: the longest matching section. */
                const char *best = NULL;
                size_t best_len = 0;
                for (size_t i = 0; config_passthrough_sections[i]; i++) {
                        size_t l;
                        env_name(config_passthrough_sections[i], ebuf, sizeof(ebuf));
                        l = strlen(ebuf);
                        if (strncmp(nbuf, ebuf, l) == 0 && nbuf[l] == '_' && nbuf[l + 1] &&
                            l > best_len) {
                                best = config_passthrough_sections[i];
                                best_len = l;
                        }
                }
                if (!best)
                        continue; /* not a config key (IMGFLOW_CONFIG, ...): ignored */

                char key[256];
                bool kafka = strncmp(best, "kafka", 5) == 0;
                size_t k = 0;
                for (const char *s = nbuf + best_len + 1; *s && k + 1 < sizeof(key); s++)
                        key[k++] = (kafka && *s == '_') ? '.' : (char) tolower((unsigned char) *s);
                key[k] = '\0';
                r = set_internal(c, best, key, value, where, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---------------------------------------------------------------- getters */

static const char *get_typed(const Config *c, const char *section, const char *key, ConfigType t) {
        ssize_t idx = key_index(section, key);

        assert(idx >= 0 && "unknown config key");
        assert(config_keys[idx].type == t && "config key read with the wrong type");
        if (idx < 0)
                return "";
        return c->values[idx];
}

const char *config_get_string(const Config *c, const char *section, const char *key) {
        return get_typed(c, section, key, CONFIG_STRING);
}

int64_t config_get_int(const Config *c, const char *section, const char *key) {
        int64_t v = 0;

        (void) parse_int(get_typed(c, section, key, CONFIG_INT), &v);
        if (v == 0 && streq(section, "worker") && streq(key, "threads")) {
                long n = sysconf(_SC_NPROCESSORS_ONLN);
                v = n > 0 ? n : 1;
        }
        return v;
}

bool config_get_bool(const Config *c, const char *section, const char *key) {
        bool v = false;

        (void) parse_bool(get_typed(c, section, key, CONFIG_BOOL), &v);
        return v;
}

uint64_t config_get_duration_ms(const Config *c, const char *section, const char *key) {
        uint64_t v = 0;

        (void) parse_duration_ms(get_typed(c, section, key, CONFIG_DURATION), &v);
        return v;
}

uint64_t config_get_size(const Config *c, const char *section, const char *key) {
        uint64_t v = 0;

        (void) parse_size(get_typed(c, section, key, CONFIG_SIZE), &v);
        return v;
}

const char *config_get_raw(const Config *c, const char *section, const char *key) {
        ssize_t idx = key_index(section, key);

        if (idx >= 0)
                return c->values[idx];
        for (size_t i = 0; i < c->n_entries; i++)
                if (streq(c->entries[i].section, section) && streq(c->entries[i].key, key))
                        return c->entries[i].value;
        return NULL;
}

int config_foreach_in_section(const Config *c, const char *section, ConfigForeachFn cb,
                              void *userdata) {
        int r;

        for (size_t i = 0; config_keys[i].section; i++)
                if (streq(config_keys[i].section, section)) {
                        r = cb(config_keys[i].key, c->values[i], userdata);
                        if (r < 0)
                                return r;
                }
        for (size_t i = 0; i < c->n_entries; i++)
                if (streq(c->entries[i].section, section)) {
                        r = cb(c->entries[i].key, c->entries[i].value, userdata);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int config_topic(const Config *c, const char *name, char **ret) {
        char *s;

        if (asprintf(&s, "%s%s", config_get_string(c, "imgflow", "topic_prefix"), name) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}
