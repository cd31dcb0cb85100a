/* SPDX-License-Identifier: MIT */
/* Tests of daemon/config: the key table, the file format, typed values,
 * refusals naming section.key and the line, environment overrides and the
 * pass-through sections. */

#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static Config *load(const char *text, int *ret_r, char **ret_err) {
        Config *c = NULL;
        ASSERT_INT_EQ(config_new(&c), 0);
        *ret_r = config_load_string(c, text, "test.conf", ret_err);
        return c;
}

TEST(defaults) {
        _cleanup_config_ Config *c = NULL;

        ASSERT_INT_EQ(config_new(&c), 0);
        ASSERT_STR_EQ(config_get_string(c, "imgflow", "topic_prefix"), "imgflow.");
        ASSERT_INT_EQ(config_get_size(c, "imgflow", "payload_limit"), 256 * 1024);
        ASSERT_STR_EQ(config_get_string(c, "coordinator", "group"), "imgflow-coordinators");
        ASSERT_INT_EQ(config_get_duration_ms(c, "coordinator", "retention"), 7ULL * 86400 * 1000);
        ASSERT_STR_EQ(config_get_string(c, "worker", "group"), "imgflow-workers");
        ASSERT_INT_EQ(config_get_int(c, "worker", "max_pixels"), 100000000);
        ASSERT_INT_EQ(config_get_int(c, "worker", "threads"), sysconf(_SC_NPROCESSORS_ONLN));
        ASSERT_STR_EQ(config_get_string(c, "worker", "pool"), "");
        ASSERT_STR_EQ(config_get_string(c, "redis", "address"), "127.0.0.1:6379");
        ASSERT_FALSE(config_get_bool(c, "redis", "tls"));
        ASSERT_INT_EQ(config_get_duration_ms(c, "redis", "timeout"), 5000);
        ASSERT_STR_EQ(config_get_raw(c, "kafka", "bootstrap.servers"), "127.0.0.1:9092");
        ASSERT_NULL(config_get_raw(c, "kafka", "security.protocol"));
}

TEST(every_table_default_is_valid) {
        /* Setting each default through the validator must succeed. */
        _cleanup_config_ Config *c = NULL;
        ASSERT_INT_EQ(config_new(&c), 0);
        for (size_t i = 0; config_keys[i].section; i++) {
                _cleanup_free_ char *err = NULL;
                ASSERT_NOT_NULL(config_keys[i].help);
                ASSERT_INT_EQ(config_set(c, config_keys[i].section, config_keys[i].key,
                                         config_keys[i].default_value, &err), 0);
        }
}

TEST(file_format) {
        _cleanup_free_ char *err = NULL;
        int r;
        _cleanup_config_ Config *c = load(
                "# a comment\n"
                "; another\n"
                "\n"
                "[imgflow]\n"
                "  topic_prefix   =   prod.imgflow.  \n"
                "payload_limit = 1MiB\n"
                "[worker]\n"
                "threads=3\n"
                "pool = gpu\n"
                "max_bytes = 10MB\n"
                "[redis]\n"
                "password = \"p#ss word\"\n"
                "tls = yes\n"
                "timeout = 1h30m\n",
                &r, &err);
        ASSERT_INT_EQ(r, 0);
        ASSERT_NULL(err);
        ASSERT_STR_EQ(config_get_string(c, "imgflow", "topic_prefix"), "prod.imgflow.");
        ASSERT_INT_EQ(config_get_size(c, "imgflow", "payload_limit"), 1024 * 1024);
        ASSERT_INT_EQ(config_get_int(c, "worker", "threads"), 3);
        ASSERT_STR_EQ(config_get_string(c, "worker", "pool"), "gpu");
        ASSERT_INT_EQ(config_get_size(c, "worker", "max_bytes"), 10 * 1000 * 1000);
        ASSERT_STR_EQ(config_get_string(c, "redis", "password"), "p#ss word");
        ASSERT_TRUE(config_get_bool(c, "redis", "tls"));
        ASSERT_INT_EQ(config_get_duration_ms(c, "redis", "timeout"), 5400000);

        _cleanup_free_ char *topic = NULL;
        ASSERT_INT_EQ(config_topic(c, "tasks.gpu", &topic), 0);
        ASSERT_STR_EQ(topic, "prod.imgflow.tasks.gpu");
}

TEST(unknown_key_refused_with_name_and_line) {
        _cleanup_free_ char *err = NULL;
        int r;
        _cleanup_config_ Config *c = load("[worker]\nthreads = 2\n\nthread = 4\n", &r, &err);
        ASSERT_INT_EQ(r, -EINVAL);
        ASSERT_NOT_NULL(err);
        ASSERT_TRUE(strstr(err, "worker.thread") != NULL);
        ASSERT_TRUE(strstr(err, "test.conf:4") != NULL);
}

TEST(unknown_section_refused) {
        _cleanup_free_ char *err = NULL;
        int r;
        _cleanup_config_ Config *c = load("[imgflow]\n[wokrer]\nthreads = 1\n", &r, &err);
        ASSERT_INT_EQ(r, -EINVAL);
        ASSERT_TRUE(strstr(err, "wokrer") != NULL);
        ASSERT_TRUE(strstr(err, "test.conf:2") != NULL);
}

TEST(key_outside_section_and_syntax) {
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL;
        int r;
        _cleanup_config_ Config *c1 = load("threads = 1\n", &r, &e1);
        ASSERT_INT_EQ(r, -EINVAL);
        ASSERT_TRUE(strstr(e1, "outside") != NULL);
        _cleanup_config_ Config *c2 = load("[worker]\nthreads\n", &r, &e2);
        ASSERT_INT_EQ(r, -EINVAL);
        ASSERT_TRUE(strstr(e2, "test.conf:2") != NULL);
        _cleanup_config_ Config *c3 = load("[worker\n", &r, &e3);
        ASSERT_INT_EQ(r, -EINVAL);
}

TEST(bad_values_refused_naming_key) {
        static const struct {
                const char *text, *name;
        } cases[] = {
                { "[worker]\nthreads = many\n", "worker.threads" },
                { "[worker]\nthreads = -1\n", "worker.threads" },
                { "[worker]\nmax_pixels = 12abc\n", "worker.max_pixels" },
                { "[redis]\ntls = maybe\n", "redis.tls" },
                { "[redis]\ntimeout = 5 parsecs\n", "redis.timeout" },
                { "[redis]\ntimeout = 5x\n", "redis.timeout" },
                { "[coordinator]\nretention = \n", "coordinator.retention" },
                { "[imgflow]\npayload_limit = 12 potatoes\n", "imgflow.payload_limit" },
                { "[imgflow]\nlog_level = loud\n", "imgflow.log_level" },
                { "[imgflow]\ntopic_prefix = a b\n", "imgflow.topic_prefix" },
                { "[worker]\npool = ../x\n", "worker.pool" },
                { "[redis]\ndb = 99999999999999999999\n", "redis.db" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *err = NULL;
                int r;
                _cleanup_config_ Config *c = load(cases[i].text, &r, &err);
                if (r != -EINVAL || !err || !strstr(err, cases[i].name) || !strstr(err, "test.conf:2"))
                        TEST_FAIL_("case %zu (%s): r=%d err=%s", i, cases[i].name, r, err ? err : "(null)");
        }
}

typedef struct Collected {
        char buf[2048];
} Collected;

static int collect(const char *key, const char *value, void *userdata) {
        Collected *c = userdata;
        size_t l = strlen(c->buf);
        snprintf(c->buf + l, sizeof(c->buf) - l, "%s=%s;", key, value);
        return 0;
}

static int stop_at_second(const char *key, const char *value, void *userdata) {
        int *n = userdata;
        return ++*n == 2 ? -ECANCELED : 0;
}

TEST(kafka_passthrough_any_key) {
        _cleanup_free_ char *err = NULL;
        int r;
        Collected col = { "" };
        _cleanup_config_ Config *c = load(
                "[kafka]\n"
                "bootstrap.servers = broker1:9093,broker2:9093\n"
                "security.protocol = SASL_SSL\n"
                "sasl.mechanisms = PLAIN\n"
                "some.future.property = x = y\n"
                "[kafka.producer]\n"
                "linger.ms = 5\n"
                "[kafka.consumer]\n"
                "session.timeout.ms = 10000\n",
                &r, &err);
        ASSERT_INT_EQ(r, 0);
        ASSERT_INT_EQ(config_foreach_in_section(c, "kafka", collect, &col), 0);
        ASSERT_STR_EQ(col.buf,
                      "bootstrap.servers=broker1:9093,broker2:9093;security.protocol=SASL_SSL;"
                      "sasl.mechanisms=PLAIN;some.future.property=x = y;");
        col.buf[0] = '\0';
        ASSERT_INT_EQ(config_foreach_in_section(c, "kafka.producer", collect, &col), 0);
        ASSERT_STR_EQ(col.buf, "linger.ms=5;");
        col.buf[0] = '\0';
        ASSERT_INT_EQ(config_foreach_in_section(c, "kafka.consumer", collect, &col), 0);
        ASSERT_STR_EQ(col.buf, "session.timeout.ms=10000;");

        int n = 0;
        ASSERT_INT_EQ(config_foreach_in_section(c, "kafka", stop_at_second, &n), -ECANCELED);
        ASSERT_INT_EQ(n, 2);
}

TEST(buckets_and_resources) {
        _cleanup_free_ char *err = NULL;
        int r;
        Collected col = { "" };
        _cleanup_config_ Config *c = load(
                "[buckets]\n"
                "photos = /srv/images/photos\n"
                "thumbs = /srv/images/thumbs\n"
                "[resources]\n"
                "ValidateImage = image.validate\n"
                "arn:aws:lambda:us-east-1:123456789012:function:Classify = pool:gpu\n",
                &r, &err);
        ASSERT_INT_EQ(r, 0);
        ASSERT_INT_EQ(config_foreach_in_section(c, "buckets", collect, &col), 0);
        ASSERT_STR_EQ(col.buf, "photos=/srv/images/photos;thumbs=/srv/images/thumbs;");
        ASSERT_STR_EQ(config_get_raw(c, "resources", "ValidateImage"), "image.validate");
        ASSERT_STR_EQ(config_get_raw(c, "resources",
                                     "arn:aws:lambda:us-east-1:123456789012:function:Classify"),
                      "pool:gpu");
}

TEST(fixed_section_foreach) {
        _cleanup_config_ Config *c = NULL;
        Collected col = { "" };
        ASSERT_INT_EQ(config_new(&c), 0);
        ASSERT_INT_EQ(config_foreach_in_section(c, "redis", collect, &col), 0);
        ASSERT_TRUE(strstr(col.buf, "address=127.0.0.1:6379;") != NULL);
        ASSERT_TRUE(strstr(col.buf, "db=0;") != NULL);
}

TEST(env_overrides) {
        _cleanup_free_ char *err = NULL;
        int r;
        _cleanup_config_ Config *c = load("[worker]\nthreads = 2\n[redis]\naddress = file:1\n", &r, &err);
        ASSERT_INT_EQ(r, 0);
        char *env[] = {
                "PATH=/usr/bin",
                "IMGFLOW_WORKER_THREADS=7",
                "IMGFLOW_REDIS_ADDRESS=unix:/run/redis.sock",
                "IMGFLOW_LOG_LEVEL=debug",
                "IMGFLOW_COORDINATOR_RETENTION=1d",
                "IMGFLOW_KAFKA_SECURITY_PROTOCOL=SASL_SSL",
                "IMGFLOW_KAFKA_PRODUCER_LINGER_MS=20",
                "IMGFLOW_BUCKETS_PHOTOS=/data/photos",
                "IMGFLOW_CONFIG=/etc/other.conf", /* not a key: ignored */
                NULL,
        };
        ASSERT_INT_EQ(config_load_env(c, env, &err), 0);
        ASSERT_INT_EQ(config_get_int(c, "worker", "threads"), 7);
        ASSERT_STR_EQ(config_get_string(c, "redis", "address"), "unix:/run/redis.sock");
        ASSERT_STR_EQ(config_get_string(c, "imgflow", "log_level"), "debug");
        ASSERT_INT_EQ(config_get_duration_ms(c, "coordinator", "retention"), 86400000);
        ASSERT_STR_EQ(config_get_raw(c, "kafka", "security.protocol"), "SASL_SSL");
        ASSERT_STR_EQ(config_get_raw(c, "kafka.producer", "linger.ms"), "20");
        ASSERT_NULL(config_get_raw(c, "kafka", "producer.linger.ms"));
        ASSERT_STR_EQ(config_get_raw(c, "buckets", "photos"), "/data/photos");
}

TEST(env_bad_value_refused) {
        _cleanup_config_ Config *c = NULL;
        _cleanup_free_ char *err = NULL;
        char *env[] = { "IMGFLOW_WORKER_MAX_PIXELS=lots", NULL };

        ASSERT_INT_EQ(config_new(&c), 0);
        ASSERT_INT_EQ(config_load_env(c, env, &err), -EINVAL);
        ASSERT_TRUE(strstr(err, "worker.max_pixels") != NULL);
        ASSERT_TRUE(strstr(err, "IMGFLOW_WORKER_MAX_PIXELS") != NULL);
}

TEST(config_set_for_cli_flags) {
        _cleanup_config_ Config *c = NULL;
        _cleanup_free_ char *err = NULL;

        ASSERT_INT_EQ(config_new(&c), 0);
        ASSERT_INT_EQ(config_set(c, "redis", "address", "10.0.0.1:7000", &err), 0);
        ASSERT_INT_EQ(config_set(c, "kafka", "bootstrap.servers", "k:9092", &err), 0);
        ASSERT_STR_EQ(config_get_string(c, "redis", "address"), "10.0.0.1:7000");
        ASSERT_STR_EQ(config_get_raw(c, "kafka", "bootstrap.servers"), "k:9092");
        ASSERT_INT_EQ(config_set(c, "redis", "nope", "1", &err), -EINVAL);
        ASSERT_TRUE(strstr(err, "redis.nope") != NULL);
        ASSERT_INT_EQ(config_set(c, "worker", "threads", "x", &err), -EINVAL);
        ASSERT_TRUE(strstr(err, "worker.threads") != NULL);
        /* the old value survives a refused set */
        ASSERT_INT_EQ(config_get_int(c, "worker", "threads"), sysconf(_SC_NPROCESSORS_ONLN));
}

TEST(load_file_and_limits) {
        char path[] = "/tmp/test-daemon-config-XXXXXX";
        _cleanup_config_ Config *c = NULL;
        _cleanup_free_ char *err = NULL;
        int fd = mkstemp(path);
        ASSERT_TRUE(fd >= 0);
        const char *text = "[coordinator]\nhistory_limit = 500\n";
        ASSERT_INT_EQ(write(fd, text, strlen(text)), (long) strlen(text));
        close(fd);

        ASSERT_INT_EQ(config_new(&c), 0);
        ASSERT_INT_EQ(config_load_file(c, path, &err), 0);
        ASSERT_INT_EQ(config_get_int(c, "coordinator", "history_limit"), 500);
        unlink(path);
        ASSERT_INT_EQ(config_load_file(c, path, &err), -ENOENT);
        ASSERT_TRUE(strstr(err, path) != NULL);

        /* a line over the limit */
        size_t n = CONFIG_LINE_MAX + 100;
        char *big = malloc(n + 32);
        strcpy(big, "[kafka]\nx = ");
        memset(big + strlen(big), 'a', n);
        big[12 + n] = '\0';
        ASSERT_TRUE(config_load_string(c, big, "big", &err) < 0);
        free(big);
        ASSERT_NOT_NULL(config_default_path());
}
