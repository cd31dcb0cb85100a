/* SPDX-License-Identifier: MIT */
/*
 * imgflow-coordinator: advances executions.
 *
 * One sd-event loop (STYLE 9) drives a Kafka consumer (group
 * [coordinator] group, topics <prefix>jobs and <prefix>events), a Kafka
 * producer and an asynchronous Redis connection, all owned by the manager
 * (coordinator-manager.h lists the files and what each holds). This file
 * is the daemon skeleton (STYLE 3): the command line, the configuration
 * (daemon/daemon-config.h), --check-config, the state machines of
 * [coordinator] state_machines registered before the loop starts, and
 * run(): build the manager, start it, run the loop, flush, free.
 *
 * Following one message: coordinator-work.h (consume, queue, load, apply,
 * commit, respond), coordinator-outbox.h (produce, delivery reports),
 * coordinator-timers.h (Wait states, retries and timeouts).
 *
 * Layering: uses coordinator/asl (engine), the store, proto/ and daemon/.
 */

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "coordinator-manager.h"
#include "coordinator-triggers.h"
#include "imgflow-config.h"
#include "log.h"
#include "service.h"

/*
 * [coordinator] state_machines: register every <name>.asl.json of the
 * directory (create, or a new version when the definition changed). Runs
 * once before the event loop starts, on a blocking connection. Errors are
 * logged; a definition that does not validate is skipped.
 */
#define STATE_MACHINE_FILE_MAX (1024 * 1024)

static int register_file(redisContext *ctx, const Resources *res, const char *dir, const char *file) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
        _cleanup_free_ char *name = xstrdup(file), *text = NULL;
        _cleanup_json_ json_t *definition = NULL;
        bool valid = false;
        AslDiag d = {};
        unsigned version = 0;
        FILE *f;
        size_t n;
        int r;

        name[strlen(name) - strlen(".asl.json")] = 0;
        f = fopen(path, "re");
        if (!f)
                return log_error_errno(-errno, "Failed to open %s: %m", path);
        text = xmalloc(STATE_MACHINE_FILE_MAX + 1);
        n = fread(text, 1, STATE_MACHINE_FILE_MAX + 1, f);
        fclose(f);
        if (n > STATE_MACHINE_FILE_MAX)
                return log_error_errno(-EFBIG, "%s: larger than %d bytes", path, STATE_MACHINE_FILE_MAX);
        text[n] = 0;

        /* A Task whose Resource maps to nothing is refused here, as
         * create-state-machine refuses it, not when an execution gets there. */
        definition = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (definition) {
                AslDiag v = {};
                valid = asl_definition_validate(definition, &v) >= 0;
                asl_diag_clear(&v);
        }
        if (valid && resources_check_definition(res, definition, &d) < 0)
                r = -EINVAL;
        else
                r = store_sm_create(ctx, name, text, now_ms(CLOCK_REALTIME), &d, &version);
        if (r == -EEXIST)
                r = store_sm_update(ctx, name, text, now_ms(CLOCK_REALTIME), &d, &version);
        if (r == -EINVAL) {
                for (size_t i = 0; i < d.n; i++)
                        log_error("%s: %s: %s", path, d.entries[i].pointer, d.entries[i].message);
                if (d.n == 0)
                        log_error("%s: invalid state machine name \"%s\"", path, name);
        } else if (r < 0)
                log_error_errno(r, "Failed to register %s: %m", path);
        else
                log_info("State machine %s version %u (%s)", name, version, path);
        asl_diag_clear(&d);
        return r;
}

static void register_state_machines(const Config *config, const Resources *res) {
        const char *dir = config_get_string(config, "coordinator", "state_machines");
        _cleanup_free_ char *error = NULL;
        redisContext *ctx = NULL;
        struct dirent **entries = NULL;
        int n, r;

        if (isempty(dir))
                return;
        r = redis_sync_connect(config, &ctx, &error);
        if (r < 0) {
                log_error_errno(r, "State machines of %s not registered: Redis: %s", dir, error ?: "");
                return;
        }
        n = scandir(dir, &entries, NULL, alphasort);
        if (n < 0)
                log_error_errno(-errno, "Failed to read %s: %m", dir);
        for (int i = 0; i < n; i++) {
                const char *f = entries[i]->d_name;
                size_t len = strlen(f);

                if (len > strlen(".asl.json") && streq(f + len - strlen(".asl.json"), ".asl.json"))
                        (void) register_file(ctx, res, dir, f);
                free(entries[i]);
        }
        free(entries);
        if (n > 0 && redis_sync_wait(ctx, config, &error) < 0)
                log_warning("State machines of %s registered, but %s", dir, error ?: "WAIT failed");
        redisFree(ctx);
}

/* --check-config: what manager_new() and manager_start() would refuse,
 * without connecting to Kafka or Redis. Returns 0 or -EINVAL (logged). */
static int check_config(const Config *config) {
        _cleanup_(resources_freep) Resources *res = NULL;
        _cleanup_free_ char *topic = NULL, *host = NULL, *path = NULL, *error = NULL;
        const char *prefix = config_get_string(config, "imgflow", "topic_prefix");
        int port, r;

        if (proto_topic_name(prefix, PROTO_TOPIC_JOBS, NULL, &topic) < 0)
                return log_error_errno(-EINVAL, "Invalid imgflow.topic_prefix \"%s\"", prefix);
        r = manager_resources_from_config(config, /* check= */ true, &res);
        if (r < 0)
                return r;
        r = metrics_check_address(config_get_string(config, "coordinator", "metrics_listen"), &error);
        if (r < 0 && !isempty(config_get_string(config, "coordinator", "metrics_listen")))
                return log_error_errno(r, "%sInvalid coordinator.metrics_listen \"%s\": %s",
                                       config_where(config, "coordinator", "metrics_listen"),
                                       config_get_string(config, "coordinator", "metrics_listen"),
                                       error ?: "out of memory");
        free(error);
        error = NULL;
        r = triggers_check_config(config);
        if (r < 0)
                return r;
        r = redis_parse_address(config_get_string(config, "redis", "address"), &host, &port, &path);
        if (r < 0)
                return log_error_errno(-EINVAL, "%sInvalid redis.address \"%s\"",
                                       config_where(config, "redis", "address"),
                                       config_get_string(config, "redis", "address"));
        r = redis_check_config(config);
        if (r < 0)
                return r;
        if (config_get_bool(config, "redis", "tls"))
                return log_error_errno(-EINVAL,
                                       "%sredis.tls = true is not supported (hiredis 0.14 has no TLS)",
                                       config_where(config, "redis", "tls"));
        for (size_t i = 0; i < 2; i++) {
                rd_kafka_conf_t *conf = NULL;

                r = kafka_conf_from_config(config, i == 0 ? "producer" : "consumer", NULL, &conf, &error);
                if (r < 0)
                        return log_error_errno(r, "%s", error ?: "Invalid Kafka property");
                rd_kafka_conf_destroy(conf);
        }
        return 0;
}

static void help(void) {
        printf("imgflow-coordinator [OPTIONS]\n\n"
               "Advances imgflow executions: consumes jobs and events from Kafka,\n"
               "keeps execution state in Redis, dispatches tasks.\n\n"
               "  -c --config=PATH          configuration file (default $IMGFLOW_CONFIG, else %s)\n"
               "     --check-config         check the configuration (file, environment, flags)\n"
               "                            and exit: 0 if it is valid\n"
               "     --kafka-bootstrap=LIST Kafka bootstrap servers\n"
               "     --redis=ADDRESS        Redis address (host:port or unix:/path)\n"
               "     --log-level=LEVEL      log level\n"
               "     --log-target=TARGET    auto, journal, console\n"
               "  -h --help                 this help\n"
               "     --version              print the version and exit\n",
               config_default_path());
}

static int run(int argc, char **argv) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"kafka-bootstrap", required_argument, NULL, 'k'},
                {"redis", required_argument, NULL, 'r'},
                {"log-level", required_argument, NULL, 'l'},
                {"log-target", required_argument, NULL, 'T'},
                {"check-config", no_argument, NULL, 'C'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {},
        };
        _cleanup_(daemon_config_args_done) DaemonConfigArgs args = {};
        _cleanup_config_ Config *config = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *error = NULL;
        extern char **environ;
        bool check = false;
        int r, c;

        log_setup("imgflow-coordinator");
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case 'c':
                        args.config_path = optarg;
                        break;
                case 'k':
                        r = daemon_config_args_add(&args, "--kafka-bootstrap", "kafka", "bootstrap.servers",
                                                   optarg);
                        break;
                case 'r':
                        r = daemon_config_args_add(&args, "--redis", "redis", "address", optarg);
                        break;
                case 'l':
                        r = daemon_config_args_add(&args, "--log-level", "imgflow", "log_level", optarg);
                        break;
                case 'T':
                        r = daemon_config_args_add(&args, "--log-target", "imgflow", "log_target", optarg);
                        break;
                case 'V':
                        printf("imgflow-coordinator %s\n", IMGFLOW_VERSION);
                        return 0;
                case 'C':
                        check = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
                if (r < 0)
                        return log_error_errno(r, "Too many options: %m");
        }

        r = daemon_config_load(&args, environ, &config, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "Failed to load the configuration");
        r = daemon_config_apply_log(config);
        if (r < 0)
                return log_error_errno(r, "Failed to set up logging: %m");
        if (check) {
                r = check_config(config);
                if (r < 0)
                        return r;
                (void) daemon_config_warn_secrets(&args, config, /* redis_allowed= */ true);
                daemon_config_print_valid(&args);
                return 0;
        }

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = manager_new(e, config, &args, &m);
        if (r < 0)
                return r;
        register_state_machines(config, m->resources);
        r = service_setup(e, manager_stop, manager_reload, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signals: %m");
        r = manager_start(m);
        if (r < 0)
                return r;
        (void) service_notify_status("Connecting to Kafka and Redis");

        r = sd_event_loop(e);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

        /* Drained: flush what is produced (delivery reports ack outbox items
         * and timers), then leave the group, committing offsets. */
        manager_flush(m);
        m = manager_free(TAKE_PTR(m));
        log_info("Stopped");
        return r < 0 ? r : 0;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
