/* SPDX-License-Identifier: MIT */
/*
 * Tests of daemon/daemon-config: where every program's configuration comes
 * from (--config > $IMGFLOW_CONFIG > the default file; then the
 * environment; then the flags), the log settings checked at load, and a
 * reload that reads the file chosen at start again with the same flags.
 * The programs themselves are run through the same rules in
 * tests/integration/test-config-precedence.sh.
 */

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "daemon-config.h"
#include "test.h"

static char dir[] = "/tmp/imgflow-test-config-load-XXXXXX";

/* A file in dir with `text`; the path is a new string. */
static char *file(const char *name, const char *text) {
        char *path = xasprintf("%s/%s", dir, name);
        FILE *f = fopen(path, "we");

        ASSERT_NOT_NULL(f);
        fputs(text, f);
        fclose(f);
        return path;
}

static const char *redis_of(const Config *c) {
        return config_get_string(c, "redis", "address");
}

static Config *load_ok(DaemonConfigArgs *a, char *const *env) {
        _cleanup_free_ char *error = NULL;
        Config *c = NULL;
        int r = daemon_config_load(a, env, &c, &error);

        if (r < 0)
                fprintf(stderr, "  load: %s\n", error ?: "?");
        ASSERT_INT_EQ(r, 0);
        return c;
}

static char *A, *B, *BAD;

static void remove_files(void) {
        const char *names[] = {"a.conf",
                               "b.conf",
                               "bad.conf",
                               "reload.conf",
                               "secret.conf",
                               "creds/redis-password",
                               "creds/kafka-sasl-password",
                               "creds"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", dir, names[i]);
                if (unlink(p) < 0)
                        (void) rmdir(p);
        }
        (void) rmdir(dir);
        free(A);
        free(B);
        free(BAD);
}

/* The files every test uses, made once. */
static void setup(void) {
        if (A)
                return;
        ASSERT_NOT_NULL(mkdtemp(dir));
        atexit(remove_files);
        A = file("a.conf", "[redis]\naddress = 127.0.0.1:1001\n");
        B = file("b.conf", "[redis]\naddress = 127.0.0.1:1002\n");
        BAD = file("bad.conf", "[redis]\nadress = 127.0.0.1:1003\n");
}

TEST(config_flag_beats_environment_variable) {
        _cleanup_free_ char *env_b = (setup(), xasprintf("IMGFLOW_CONFIG=%s", B));
        char *env[] = {env_b, NULL};
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};
        _cleanup_config_ Config *c = NULL;

        setup();
        a.config_path = A;
        c = load_ok(&a, env);
        ASSERT_STR_EQ(a.path, A);
        ASSERT_STR_EQ(redis_of(c), "127.0.0.1:1001");
}

TEST(environment_variable_beats_default) {
        _cleanup_free_ char *env_b = (setup(), xasprintf("IMGFLOW_CONFIG=%s", B));
        char *env[] = {"IMGFLOW_OTHER=1", env_b, NULL};
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};
        _cleanup_config_ Config *c = NULL;

        c = load_ok(&a, env);
        ASSERT_STR_EQ(a.path, B);
        ASSERT_STR_EQ(redis_of(c), "127.0.0.1:1002");
}

TEST(default_file_when_neither) {
        /* The default file is read when it exists, else none; an empty
         * $IMGFLOW_CONFIG counts as unset. */
        char *env[] = {"IMGFLOW_CONFIG=", NULL};
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};
        const char *want = access(config_default_path(), F_OK) == 0 ? config_default_path() : NULL;

        ASSERT_TRUE(streq_ptr(daemon_config_choose_path(&a, env), want));
        ASSERT_TRUE(streq_ptr(daemon_config_choose_path(&a, NULL), want));
        if (!want) {
                _cleanup_config_ Config *c = load_ok(&a, env);
                ASSERT_NULL(a.path);
                ASSERT_STR_EQ(redis_of(c), "127.0.0.1:6379");
        }
}

TEST(environment_beats_file_and_flags_beat_environment) {
        char *env[] = {"IMGFLOW_REDIS_ADDRESS=127.0.0.1:2001", "IMGFLOW_LOG_LEVEL=debug", NULL};
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};
        _cleanup_config_ Config *c = NULL, *c2 = NULL;

        setup();
        a.config_path = A;
        c = load_ok(&a, env);
        ASSERT_STR_EQ(redis_of(c), "127.0.0.1:2001");
        ASSERT_STR_EQ(config_get_string(c, "imgflow", "log_level"), "debug");

        daemon_config_args_done(&a);
        a = (DaemonConfigArgs){.config_path = A};
        ASSERT_INT_EQ(daemon_config_args_add(&a, "--redis", "redis", "address", "127.0.0.1:3001"), 0);
        ASSERT_INT_EQ(daemon_config_args_add(&a, "--log-level", "imgflow", "log_level", "notice"), 0);
        /* In the order given: the later flag wins. */
        ASSERT_INT_EQ(daemon_config_args_add(&a, "--redis", "redis", "address", "127.0.0.1:3002"), 0);
        c2 = load_ok(&a, env);
        ASSERT_STR_EQ(redis_of(c2), "127.0.0.1:3002");
        ASSERT_STR_EQ(config_get_string(c2, "imgflow", "log_level"), "notice");
}

TEST(credentials_beat_the_file_and_the_environment_beats_them) {
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};
        _cleanup_config_ Config *c = NULL, *c2 = NULL, *c3 = NULL;
        _cleanup_free_ char *creds = NULL, *secret = NULL, *cred_env = NULL, *p = NULL, *error = NULL;

        setup();
        secret = file("secret.conf", "[redis]\npassword = from-file\n[kafka]\nsasl.username = w\n");
        creds = xasprintf("%s/creds", dir);
        ASSERT_INT_EQ(mkdir(creds, 0700), 0);
        p = file("creds/redis-password", "from-credential\n");
        free(file("creds/kafka-sasl-password", "sasl-secret"));
        cred_env = xasprintf("CREDENTIALS_DIRECTORY=%s", creds);

        a.config_path = secret;
        c = load_ok(&a, (char *[]){cred_env, NULL});
        ASSERT_STR_EQ(config_get_string(c, "redis", "password"), "from-credential");
        ASSERT_STR_EQ(config_get_raw(c, "kafka", "sasl.password"), "sasl-secret");
        ASSERT_STR_EQ(config_get_raw(c, "kafka", "sasl.username"), "w");

        /* The environment still wins; without the directory, the file's. */
        c2 = load_ok(&a, (char *[]){cred_env, "IMGFLOW_REDIS_PASSWORD=from-env", NULL});
        ASSERT_STR_EQ(config_get_string(c2, "redis", "password"), "from-env");
        c3 = load_ok(&a, (char *[]){NULL});
        ASSERT_STR_EQ(config_get_string(c3, "redis", "password"), "from-file");
        config_free(c3);
        c3 = NULL;

        /* More than one line is refused, naming the credential. */
        free(file("creds/redis-password", "a\nb\n"));
        ASSERT_INT_EQ(daemon_config_load(&a, (char *[]){cred_env, NULL}, &c3, &error), -EINVAL);
        ASSERT_NOT_NULL(strstr(error, "creds/redis-password"));

        /* --check-config's warnings: a world-readable file with a secret in
         * it; a Redis password where Redis is not allowed. */
        ASSERT_INT_EQ(chmod(secret, 0644), 0);
        ASSERT_INT_EQ(daemon_config_warn_secrets(&a, c, /* redis_allowed= */ true), 1);
        ASSERT_INT_EQ(daemon_config_warn_secrets(&a, c, /* redis_allowed= */ false), 2);
        ASSERT_INT_EQ(chmod(secret, 0640), 0);
        ASSERT_INT_EQ(daemon_config_warn_secrets(&a, c, /* redis_allowed= */ true), 0);
        ASSERT_INT_EQ(chmod(secret, 0644), 0);
        daemon_config_args_done(&a);
        a = (DaemonConfigArgs){.config_path = A};
        c3 = load_ok(&a, (char *[]){NULL}); /* no secret in it: no warning */
        ASSERT_INT_EQ(chmod(A, 0644), 0);
        ASSERT_INT_EQ(daemon_config_warn_secrets(&a, c3, /* redis_allowed= */ false), 0);
}

TEST(errors_name_their_source) {
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
        char *env_bad[] = {"IMGFLOW_REDIS_TIMEOUT=soon", NULL};
        char *env_level[] = {"IMGFLOW_LOG_LEVEL=loud", NULL};
        Config *c = NULL;

        setup();
        a.config_path = BAD;

        ASSERT_INT_EQ(daemon_config_load(&a, NULL, &c, &e1), -EINVAL);
        ASSERT_NOT_NULL(strstr(e1, "bad.conf:2"));
        ASSERT_NOT_NULL(strstr(e1, "redis.adress"));
        ASSERT_NULL(c);

        daemon_config_args_done(&a);
        a = (DaemonConfigArgs){.config_path = A};
        ASSERT_INT_EQ(daemon_config_load(&a, env_bad, &c, &e2), -EINVAL);
        ASSERT_NOT_NULL(strstr(e2, "redis.timeout"));

        /* A level log.c does not know is refused where it was set, even
         * when a flag would set a good one later ... */
        ASSERT_INT_EQ(daemon_config_args_add(&a, "--log-level", "imgflow", "log_level", "info"), 0);
        ASSERT_INT_EQ(daemon_config_load(&a, env_level, &c, &e3), -EINVAL);
        ASSERT_NOT_NULL(strstr(e3, "IMGFLOW_LOG_LEVEL"));
        ASSERT_NOT_NULL(strstr(e3, "loud"));
        /* ... and a bad flag names itself. */
        ASSERT_INT_EQ(daemon_config_args_add(&a, "--threads", "worker", "threads", "many"), 0);
        ASSERT_INT_EQ(daemon_config_load(&a, NULL, &c, &e4), -EINVAL);
        ASSERT_NOT_NULL(strstr(e4, "--threads"));
        ASSERT_NULL(c);
}

TEST(reload_reads_the_file_chosen_at_start) {
        _cleanup_free_ char *path = (setup(), file("reload.conf", "[redis]\naddress = 127.0.0.1:4001\n"));
        _cleanup_free_ char *env_1 = xasprintf("IMGFLOW_CONFIG=%s", path),
                            *env_2 = xasprintf("IMGFLOW_CONFIG=%s", B);
        char *env[] = {env_1, NULL}, *env_later[] = {env_2, NULL};
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};
        _cleanup_config_ Config *c = NULL, *c2 = NULL;
        _cleanup_free_ char *changed = NULL;

        ASSERT_INT_EQ(daemon_config_args_add(&a, "--log-level", "imgflow", "log_level", "warning"), 0);
        c = load_ok(&a, env);
        ASSERT_STR_EQ(redis_of(c), "127.0.0.1:4001");

        changed = file("reload.conf", "[imgflow]\nlog_level = debug\n[redis]\naddress = 127.0.0.1:4002\n");
        /* The same file, whatever the environment says now; the flag still wins. */
        c2 = load_ok(&a, env_later);
        ASSERT_STR_EQ(a.path, path);
        ASSERT_STR_EQ(redis_of(c2), "127.0.0.1:4002");
        ASSERT_STR_EQ(config_get_string(c2, "imgflow", "log_level"), "warning");
}

TEST(too_many_flags) {
        _cleanup_(daemon_config_args_done) DaemonConfigArgs a = {};

        for (size_t i = 0; i < DAEMON_CONFIG_FLAGS_MAX; i++)
                ASSERT_INT_EQ(daemon_config_args_add(&a, "--threads", "worker", "threads", "1"), 0);
        ASSERT_INT_EQ(daemon_config_args_add(&a, "--threads", "worker", "threads", "1"), -E2BIG);
}
