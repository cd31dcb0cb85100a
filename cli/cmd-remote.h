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
#include "config.h"
#include "proto.h"
#include "store.h"

#define CLI_REQUEST_TIMEOUT_DEFAULT 30 /* seconds a request may take (acknowledgement and answer) */

#define CLI_REMOTE_HELP                                                                                     \
        "\n"                                                                                                \
        "Connection (defaults from $IMGFLOW_CONFIG or /etc/imgflow/imgflow.conf if it\n"                    \
        "exists, then IMGFLOW_REDIS_ADDRESS, IMGFLOW_KAFKA_BOOTSTRAP_SERVERS, ...):\n"                      \
        "  --config FILE          configuration file\n"                                                     \
        "  --redis HOST:PORT      Redis address ([redis] address)\n"                                        \
        "  --kafka-bootstrap LIST Kafka bootstrap servers, HOST:PORT[,...] ([kafka]\n"                     \
        "                         bootstrap.servers; --kafka is the same)\n"                               \
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
/* After a change written to Redis, before saying it was made: with
 * [redis] wait_replicas, WAIT until that many replicas have it
 * (redis_sync_wait()). 0, or -errno with the reason printed. */
int cli_remote_wait(CliRemote *r);
/* The configuration the connection was opened with (borrowed). */
const Config *cli_remote_config(CliRemote *r);
const ProtoLimits *cli_remote_limits(CliRemote *r);
/* [coordinator] retention in seconds (how long definitions of a deleted
 * machine and finished executions are kept). */
int64_t cli_remote_retention_sec(CliRemote *r);

/* Send one message (borrowed) to <prefix><topic> and wait until the broker
 * acknowledged it, at most timeout_sec (0 = default; message.timeout.ms may
 * end it sooner). Errors printed, naming the brokers and librdkafka's last
 * error about them; -errno (-ETIMEDOUT at the deadline). */
int cli_remote_produce(CliRemote *r, ProtoTopic topic, const char *key, const char *buf, size_t len,
                       unsigned timeout_sec);

/* Poll imgflow:response:{request_id} until it is there or timeout_sec (0 =
 * default) passed: 0 and *ret (new reference), -ETIMEDOUT or -EIO (printed). */
int cli_remote_wait_response(CliRemote *r, const char *request_id, unsigned timeout_sec, json_t **ret);

/* Send a request (borrowed buf) to <prefix><topic> and wait for the answer
 * to request_id, as cli_remote_produce() and cli_remote_wait_response(),
 * both within one deadline of timeout_sec (0 = default) from now. An
 * answer without "ok":true is printed as an AWS error of operation. Returns
 * CLI_EXIT_OK and, if ret, the answer in *ret (new reference), or
 * CLI_EXIT_FAILED (printed). */
int cli_remote_request(CliRemote *r, ProtoTopic topic, const char *key, const char *buf, size_t len,
                       const char *request_id, unsigned timeout_sec, const char *operation, json_t **ret);

/* New strings: 128 random bits as hex; a random (v4) UUID. */
char *cli_request_id_new(void);
char *cli_uuid_new(void);

/* "An error occurred (<error>) when calling the <operation> operation: <cause>"
 * on stderr; returns CLI_EXIT_FAILED. */
int cli_aws_error(const char *operation, const char *error, const char *cause);

/* StopExecution's and SendTaskFailure's error (at most CLI_ERROR_MAX bytes)
 * and cause (CLI_CAUSE_MAX): CLI_CONTINUE, or a ValidationException worded
 * as the service (and imgflow-api) words it, exit CLI_EXIT_FAILED. */
#define CLI_ERROR_MAX 256
#define CLI_CAUSE_MAX 32768
int cli_check_error_cause(const char *operation, const char *error, const char *cause);
/* A store error (-EIO ...) on stderr; returns CLI_EXIT_FAILED. remote may be NULL. */
int cli_store_error(const char *operation, int r, CliRemote *remote);

/* Print JSON on stdout, indented. j borrowed. */
void cli_print_json(const json_t *j);
/* Every history event of the execution arn ("<sm>:<name>" or
 * imgflow:execution:<sm>:<name>), as GetExecutionHistory: CLI_EXIT_OK and
 * *ret (new array), or the exit code (message printed). In cmd-executions.c. */
int cli_exec_history(CliRemote *remote, const char *arn, json_t **ret);

/* "2026-11-28T21:15:14.123Z" (new reference). */
json_t *cli_date(int64_t ms);
/* ARNs (new strings): imgflow:stateMachine:<name>, imgflow:execution:<sm>:<name>. */
char *cli_sm_arn(const char *name);
char *cli_exec_arn(const char *exec_id);

/*
 * A verb's options are a table (STYLE 11): each stores its value into a field
 * of the verb's own argument struct, found by offsetof().
 */
typedef enum CliOptionType {
        CLI_OPTION_STRING, /* const char *, borrowed from argv */
        CLI_OPTION_FLAG,   /* bool, set to true; the option takes no value */
        CLI_OPTION_UINT,   /* unsigned in min..max */
        CLI_OPTION_CHOICE, /* const char *, one of choices */
} CliOptionType;

typedef struct CliOption {
        const char *name; /* the long option, without "--" */
        CliOptionType type;
        size_t offset;                /* of the field in the verb's argument struct */
        unsigned min, max;            /* CLI_OPTION_UINT */
        const char *expected;         /* CLI_OPTION_UINT: what the error says is expected;
                                       * NULL = "a number in <min>..<max>" */
        const char *const *choices;   /* CLI_OPTION_CHOICE: NULL-terminated */
} CliOption;

#define CLI_CONTINUE (-1)
/*
 * getopt_long over the common options (into *remote), --help and options
 * (terminated by {}, may be NULL; into *args). Returns CLI_CONTINUE when the
 * verb should run, or the exit code (0 after --help, 2 for bad usage,
 * message printed).
 */
int cli_parse_options(const Verb *verb, int argc, char *argv[], const CliOption *options,
                      CliRemoteArgs *remote, void *args);
/* "imgflow VERB: OPTION is required" on stderr; returns CLI_EXIT_USAGE. */
int cli_missing_option(const Verb *verb, const char *option);
