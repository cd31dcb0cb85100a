/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Shared by the verbs that talk to a running system (cmd-machines.c,
 * cmd-executions.c, cmd-callbacks.c): configuration, the synchronous Redis
 * connection, a one-shot Kafka producer, request/response, AWS-style errors
 * and JSON output. Everything blocks (the CLI is not a daemon), each wait
 * with a bound.
 *
 * Layering: the CLI may link hiredis (through coordinator/store) and
 * daemon/ (config, redis_sync_connect, the Kafka configuration).
 */

#include <stdbool.h>
#include <stdint.h>

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "cli.h"
#include "proto.h"
#include "store.h"

#define CLI_REQUEST_TIMEOUT_DEFAULT 30 /* seconds to wait for a coordinator's answer */

/* getopt_long values of the common options (above any short option). */
enum {
        CLI_OPT_CONFIG = 0x1000,
        CLI_OPT_REDIS,
        CLI_OPT_KAFKA,
        CLI_OPT_REQUEST_TIMEOUT,
        CLI_OPT_FIRST_VERB_OPTION, /* verbs number their own long options from here */
};

/* clang-format off */
#define CLI_REMOTE_LONG_OPTIONS                                                  \
        { "config", required_argument, NULL, CLI_OPT_CONFIG },                   \
        { "redis", required_argument, NULL, CLI_OPT_REDIS },                     \
        { "kafka", required_argument, NULL, CLI_OPT_KAFKA },                     \
        { "request-timeout", required_argument, NULL, CLI_OPT_REQUEST_TIMEOUT }
/* clang-format on */

#define CLI_REMOTE_HELP                                                                                     \
        "\n"                                                                                                \
        "Connection (defaults from $IMGFLOW_CONFIG or /etc/imgflow/imgflow.conf if it\n"                    \
        "exists, then IMGFLOW_REDIS_ADDRESS, IMGFLOW_KAFKA_BOOTSTRAP_SERVERS, ...):\n"                      \
        "  --config FILE          configuration file\n"                                                     \
        "  --redis HOST:PORT      Redis address ([redis] address)\n"                                        \
        "  --kafka HOST:PORT      Kafka bootstrap servers ([kafka] bootstrap.servers)\n"                    \
        "  --request-timeout S    wait at most S seconds for a coordinator's answer\n"                      \
        "                         (default 30)\n"                                                           \
        "  -h, --help             show this help\n"

/* Borrowed strings from argv. */
typedef struct CliRemoteArgs {
        const char *config_path;
        const char *redis;
        const char *kafka;
        unsigned request_timeout_sec; /* 0 = CLI_REQUEST_TIMEOUT_DEFAULT */
} CliRemoteArgs;

/* Handle a common option: 1 if it was one, 0 if not, -EINVAL (message
 * printed) for a bad value. */
int cli_remote_option(CliRemoteArgs *a, int c, const char *arg);

typedef struct CliRemote CliRemote;

/* Load the configuration, connect to Redis and, if need_kafka, create a
 * producer. Errors are printed on stderr. New object in *ret. */
int cli_remote_open(const CliRemoteArgs *a, bool need_kafka, CliRemote **ret);
CliRemote *cli_remote_free(CliRemote *r);
static inline void cli_remote_freep(CliRemote **r) {
        cli_remote_free(*r);
}

/* Borrowed. */
redisContext *cli_remote_redis(CliRemote *r);
const ProtoLimits *cli_remote_limits(CliRemote *r);
/* [coordinator] retention in seconds (how long definitions of a deleted
 * machine and finished executions are kept). */
int64_t cli_remote_retention_sec(CliRemote *r);

/* Send one message (borrowed) to <prefix><topic> and wait until the broker
 * acknowledged it. Errors printed; -errno. */
int cli_remote_produce(CliRemote *r, ProtoTopic topic, const char *key, const char *buf, size_t len);

/* Poll imgflow:response:{request_id} until it is there or timeout_sec (0 =
 * default) passed: 0 and *ret (new reference), -ETIMEDOUT or -EIO (printed). */
int cli_remote_wait_response(CliRemote *r, const char *request_id, unsigned timeout_sec, json_t **ret);

/* New strings: 128 random bits as hex; a random (v4) UUID. */
char *cli_request_id_new(void);
char *cli_uuid_new(void);

/* "An error occurred (<error>) when calling the <operation> operation: <cause>"
 * on stderr; returns CLI_EXIT_FAILED. */
int cli_aws_error(const char *operation, const char *error, const char *cause);
/* A store error (-EIO ...) on stderr; returns CLI_EXIT_FAILED. remote may be NULL. */
int cli_store_error(const char *operation, int r, CliRemote *remote);

/* Print JSON on stdout, indented. j borrowed. */
void cli_print_json(const json_t *j);
/* "2026-11-28T21:15:14.123Z" (new reference). */
json_t *cli_date(int64_t ms);
/* ARNs (new strings): imgflow:stateMachine:<name>, imgflow:execution:<sm>:<name>. */
char *cli_sm_arn(const char *name);
char *cli_exec_arn(const char *exec_id);

/* A verb's own option: 0, or -EINVAL after printing why. */
typedef int (*CliOptionFn)(int c, const char *arg, void *userdata);

#define CLI_CONTINUE (-1)
/*
 * getopt_long over the common options, --help and verb_options (terminated
 * by {}; their values from CLI_OPT_FIRST_VERB_OPTION up). Returns
 * CLI_CONTINUE when the verb should run, or the exit code (0 after --help,
 * 2 for bad usage, message printed).
 */
int cli_parse_options(const Verb *verb, int argc, char *argv[], const struct option *verb_options,
                      CliRemoteArgs *remote, CliOptionFn fn, void *userdata);
/* "imgflow VERB: OPTION is required" on stderr; returns CLI_EXIT_USAGE. */
int cli_missing_option(const Verb *verb, const char *option);
