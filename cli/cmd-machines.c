/* SPDX-License-Identifier: MIT */
/*
 * State machine verbs: create-state-machine, update-state-machine,
 * describe-state-machine, list-state-machines, delete-state-machine.
 *
 * They work on the registry in Redis directly (coordinator/store): a
 * definition is validated here first (errors printed as
 * validate-state-machine-definition prints them) and again by the store.
 * Coordinators read new versions from Redis when an execution starts.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "asl-definition.h"
#include "cli.h"
#include "clock.h"
#include "cmd-remote.h"
#include "config.h"
#include "resources.h"

typedef struct MachineArgs {
        const char *name;
        const char *definition;
        const char *role_arn;
        const char *type;
        const char *logging;
        unsigned version;
} MachineArgs;

static const char *const machine_types[] = { "STANDARD", "EXPRESS", NULL };

#define OPTION_NAME { "name", CLI_OPTION_STRING, offsetof(MachineArgs, name) }
#define OPTION_DEFINITION { "definition", CLI_OPTION_STRING, offsetof(MachineArgs, definition) }
#define OPTION_VERSION                                                                                       \
        {                                                                                                    \
                "version", CLI_OPTION_UINT, offsetof(MachineArgs, version), .min = 1, .max = UINT32_MAX,     \
                .expected = "a version number >= 1"                                                          \
        }

/* Read and validate a definition; errors printed. Returns an exit code or
 * CLI_CONTINUE. As the AWS CLI: the definition's JSON itself, or
 * file://PATH; a plain PATH is read too. */
static int read_definition(const char *path, char **ret_text) {
        _cleanup_machine_ AslMachine *m = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (path[strspn(path, " \t\r\n")] == '{') {
                text = xstrdup(path);
                len = strlen(text);
                if (len > ASL_MAX_DEFINITION_BYTES) {
                        fprintf(stderr, "imgflow: --definition: larger than the definition size limit (1 MiB)\n");
                        return CLI_EXIT_USAGE;
                }
        } else {
                if (strncmp(path, "file://", 7) == 0)
                        path += 7;
                r = cli_read_definition(path, &text, &len);
                if (r < 0)
                        return CLI_EXIT_USAGE;
        }
        r = cli_machine_parse(text, len, stderr, &m);
        if (r < 0)
                return CLI_EXIT_FAILED;
        *ret_text = TAKE_PTR(text);
        return CLI_CONTINUE;
}

static int check_name(const char *operation, const char *name) {
        if (store_name_is_valid(name))
                return CLI_CONTINUE;
        return cli_aws_error(operation, "InvalidName",
                             "a name has 1..80 characters, no whitespace, control characters or any of "
                             "< > { } [ ] ? * \" # % \\ ^ | ~ ` $ & , ; : /");
}

/*
 * Options, --name (and, if ret_text, --definition: read and validated into
 * *ret_text, a new string), then the connection in *ret_remote. Returns
 * CLI_CONTINUE or the exit code (message printed).
 */
static int machine_open(const Verb *verb, int argc, char *argv[], const CliOption *options,
                        const char *operation, MachineArgs *a, char **ret_text, CliRemote **ret_remote) {
        CliRemoteArgs ra = {};
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, a);
        if (r != CLI_CONTINUE)
                return r;
        if (!a->name)
                return cli_missing_option(verb, "--name");
        if (ret_text && !a->definition)
                return cli_missing_option(verb, "--definition");
        r = check_name(operation, a->name);
        if (r != CLI_CONTINUE)
                return r;
        if (ret_text) {
                r = read_definition(a->definition, ret_text);
                if (r != CLI_CONTINUE)
                        return r;
        }
        if (cli_remote_open(&ra, /* need_kafka= */ false, ret_remote) < 0)
                return CLI_EXIT_FAILED;
        return CLI_CONTINUE;
}

static int add_resource(const char *key, const char *value, void *userdata) {
        (void) resources_add(userdata, key, value);
        return 0;
}

/* A Task whose Resource maps to nothing with the configuration's
 * [resources] (the coordinators' mapping: one file for every host) is
 * refused now, as imgflow-api refuses it, not when an execution gets
 * there. Returns CLI_CONTINUE or the exit code (message printed). */
static int check_resources(CliRemote *remote, const char *operation, const char *type, const char *text) {
        _cleanup_(resources_freep) Resources *res = NULL;
        _cleanup_json_ json_t *definition = json_loads(text, 0, NULL);
        _cleanup_free_ char *cause = NULL;
        AslMachineType t = ASL_MACHINE_STANDARD;
        AslDiag d = {};
        int r;

        /* A definition that is invalid for its type is the store's to
         * refuse, with the rule it breaks. */
        if (type)
                (void) asl_machine_type_from_string(type, &t);
        if (!definition || asl_definition_validate_type(definition, t, &d) < 0) {
                asl_diag_clear(&d);
                return CLI_CONTINUE;
        }
        asl_diag_clear(&d);
        (void) resources_new(&res);
        (void) config_foreach_in_section(cli_remote_config(remote), "resources", add_resource, res);
        if (resources_check_definition(res, definition, &d) >= 0)
                return CLI_CONTINUE;
        for (size_t i = 1; i < d.n; i++)
                fprintf(stderr, "%s: %s\n", d.entries[i].pointer, d.entries[i].message);
        cause = xasprintf("Invalid State Machine Definition: '%s: %s'%s", d.entries[0].pointer,
                          d.entries[0].message, d.n > 1 ? " (and the states above)" : "");
        r = cli_aws_error(operation, "InvalidDefinition", cause);
        asl_diag_clear(&d);
        return r;
}

static int put(const Verb *verb, int argc, char *argv[], bool update) {
        static const CliOption options[] = {
                OPTION_NAME,
                OPTION_DEFINITION,
                {"role-arn", CLI_OPTION_STRING, offsetof(MachineArgs, role_arn)},
                {"type", CLI_OPTION_CHOICE, offsetof(MachineArgs, type), .choices = machine_types},
                {"logging-configuration", CLI_OPTION_STRING, offsetof(MachineArgs, logging)},
                {},
        };
        const char *operation = update ? "UpdateStateMachine" : "CreateStateMachine";
        _cleanup_free_ char *logging = NULL;
        const char *cause;
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *out = NULL;
        _cleanup_free_ char *text = NULL, *arn = NULL, *varn = NULL;
        MachineArgs a = {};
        AslDiag d = {};
        unsigned version = 0;
        int64_t now = now_ms(CLOCK_REALTIME);
        int r;

        r = machine_open(verb, argc, argv, options, operation, &a, &text, &remote);
        if (r != CLI_CONTINUE)
                return r;
        if (update && a.type)
                return cli_aws_error(operation, "ValidationException", "--type is given at creation only");
        if (a.role_arn && (strncmp(a.role_arn, "arn:", 4) != 0 || strlen(a.role_arn) > 256))
                return cli_aws_error(operation, "InvalidArn", "Invalid Arn: the role ARN must start with arn:");

        r = check_resources(remote, operation, a.type, text);
        if (r != CLI_CONTINUE)
                return r;
        if (a.logging && store_sm_logging_check(a.logging, &logging, &cause) < 0)
                return cli_aws_error(operation, "InvalidLoggingConfiguration", cause);

        r = store_sm_put_extra(cli_remote_redis(remote), a.name, text, now, update,
                               &(StoreSmExtra){.type = a.type, .logging = logging}, &d, &version);
        if (r == -EINVAL) {
                cli_print_diag(stderr, &d);
                asl_diag_clear(&d);
                return CLI_EXIT_FAILED;
        }
        asl_diag_clear(&d);
        if (r == -EEXIST)
                return cli_aws_error(operation, "StateMachineAlreadyExists",
                                     "a state machine with this name and another definition exists; "
                                     "use update-state-machine");
        if (r == -ENOENT)
                return cli_aws_error(operation, "StateMachineDoesNotExist", a.name);
        if (r < 0)
                return cli_store_error(operation, r, remote);
        if (a.role_arn) {
                /* Kept with the machine, as imgflow-api keeps it ($$.Execution.RoleArn). */
                _cleanup_(store_call_done) StoreCall call = {};
                _cleanup_reply_ redisReply *reply = NULL;
                store_sm_set_role_call(a.name, a.role_arn, &call);
                r = store_call_sync(cli_remote_redis(remote), &call, &reply, NULL, 0);
                if (r >= 0)
                        r = store_sm_set_role_parse(reply);
                if (r < 0)
                        return cli_store_error(operation, r, remote);
        }
        if (cli_remote_wait(remote) < 0)
                return CLI_EXIT_FAILED;

        arn = cli_sm_arn(a.name);
        varn = xasprintf("%s:%u", arn, version);
        if (update)
                out = json_pack("{s:o, s:s, s:s}", "updateDate", cli_date(now), "stateMachineArn", arn,
                                "stateMachineVersionArn", varn);
        else
                out = json_pack("{s:s, s:o, s:s}", "stateMachineArn", arn, "creationDate", cli_date(now),
                                "stateMachineVersionArn", varn);
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_create_state_machine(const Verb *verb, int argc, char *argv[]) {
        return put(verb, argc, argv, /* update= */ false);
}

int verb_update_state_machine(const Verb *verb, int argc, char *argv[]) {
        return put(verb, argc, argv, /* update= */ true);
}

static int64_t jint(const json_t *o, const char *key) {
        return json_integer_value(json_object_get(o, key));
}

int verb_describe_state_machine(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION_NAME,
                OPTION_VERSION,
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *sm = NULL, *out = NULL;
        _cleanup_free_ char *text = NULL, *arn = NULL, *varn = NULL;
        MachineArgs a = {};
        unsigned version;
        int r;

        r = machine_open(verb, argc, argv, options, "DescribeStateMachine", &a, /* ret_text= */ NULL, &remote);
        if (r != CLI_CONTINUE)
                return r;

        r = store_sm_describe(cli_remote_redis(remote), a.name, a.version, &sm);
        if (r >= 0)
                r = store_sm_get_definition(cli_remote_redis(remote), a.name, a.version, &text, &version);
        if (r == -ENOENT)
                return cli_aws_error("DescribeStateMachine", "StateMachineDoesNotExist",
                                     a.version ? "no such state machine or version" : a.name);
        if (r < 0)
                return cli_store_error("DescribeStateMachine", r, remote);

        arn = cli_sm_arn(a.name);
        varn = xasprintf("%s:%u", arn, version);
        out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:I}", "stateMachineArn", arn,
                        "stateMachineVersionArn", varn, "name", a.name, "status", "ACTIVE", "definition",
                        text, "type", json_string_value(json_object_get(sm, "type")) ?: "STANDARD",
                        "creationDate", cli_date(jint(sm, "createdAt")), "updateDate",
                        cli_date(jint(sm, "updatedAt")), "version", (json_int_t) version, "latestVersion",
                        (json_int_t) jint(sm, "latestVersion"));
        if (json_string_value(json_object_get(sm, "roleArn")))
                json_object_set(out, "roleArn", json_object_get(sm, "roleArn"));
        if (json_object_get(sm, "loggingConfiguration"))
                json_object_set(out, "loggingConfiguration", json_object_get(sm, "loggingConfiguration"));
        else
                json_object_set_new(out, "loggingConfiguration",
                                    json_pack("{s:s, s:b}", "level", "OFF", "includeExecutionData", false));
        cli_print_json(out);
        return CLI_EXIT_OK;
}

typedef struct ListArgs {
        const char *next_token;
        unsigned max_results;
} ListArgs;

/* One page of the registry after `after` (NULL: from the first name): its
 * items appended to items, *ret_more whether more follow. */
static int list_page(CliRemote *remote, const char *after, unsigned limit, json_t *items, bool *ret_more) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *reply = NULL;
        _cleanup_json_ json_t *list = NULL;
        size_t i;
        json_t *sm;
        int r;

        store_sm_list_call(after, limit, &call);
        r = store_call_sync(cli_remote_redis(remote), &call, &reply, NULL, 0);
        if (r >= 0)
                r = store_sm_list_parse(reply, &list, ret_more);
        if (r < 0)
                return r;
        json_array_foreach (list, i, sm) {
                const char *name = json_string_value(json_object_get(sm, "name"));
                _cleanup_free_ char *arn = cli_sm_arn(name ? name : "");

                json_array_append_new(items,
                                      json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}", "stateMachineArn", arn,
                                                "name", name ? name : "", "type",
                                                json_string_value(json_object_get(sm, "type")) ?: "STANDARD",
                                                "creationDate",
                                                cli_date(jint(sm, "createdAt")), "updateDate",
                                                cli_date(jint(sm, "updatedAt")), "latestVersion",
                                                (json_int_t) jint(sm, "latestVersion")));
        }
        if (json_array_size(list) == 0)
                *ret_more = false;
        return 0;
}

int verb_list_state_machines(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                {"next-token", CLI_OPTION_STRING, offsetof(ListArgs, next_token)},
                {"max-results", CLI_OPTION_UINT, offsetof(ListArgs, max_results), .min = 1,
                 .max = STORE_LIST_LIMIT_MAX},
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        _cleanup_json_ json_t *out = NULL, *items = json_array();
        _cleanup_free_ char *after = NULL;
        CliRemoteArgs ra = {};
        ListArgs a = {};
        bool more = false;
        int r;

        r = cli_parse_options(verb, argc, argv, options, &ra, &a);
        if (r != CLI_CONTINUE)
                return r;
        /* The token is the last name of the page before: names sort, so a
         * machine created or deleted between pages shifts nothing. */
        if (a.next_token && !store_name_is_valid(a.next_token))
                return cli_aws_error("ListStateMachines", "InvalidToken",
                                     "Invalid Token: not a token list-state-machines printed");
        if (cli_remote_open(&ra, /* need_kafka= */ false, &remote) < 0)
                return CLI_EXIT_FAILED;

        /* As the AWS CLI: without --max-results or --next-token every page,
         * so every machine; with them one page and its nextToken. */
        after = a.next_token ? xstrdup(a.next_token) : NULL;
        do {
                r = list_page(remote, after, a.max_results ?: STORE_LIST_LIMIT_MAX, items, &more);
                if (r < 0)
                        return cli_store_error("ListStateMachines", r, remote);
                free(after);
                after = more ? xstrdup(json_string_value(json_object_get(
                                       json_array_get(items, json_array_size(items) - 1), "name")))
                             : NULL;
        } while (more && !a.max_results && !a.next_token);

        out = json_pack("{s:O}", "stateMachines", items);
        if (more && after)
                json_object_set_new(out, "nextToken", json_string(after));
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_delete_state_machine(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                OPTION_NAME,
                {},
        };
        _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
        MachineArgs a = {};
        int r;

        r = machine_open(verb, argc, argv, options, "DeleteStateMachine", &a, /* ret_text= */ NULL, &remote);
        if (r != CLI_CONTINUE)
                return r;
        r = store_sm_delete(cli_remote_redis(remote), a.name, cli_remote_retention_sec(remote));
        if (r == -ENOENT)
                return cli_aws_error("DeleteStateMachine", "StateMachineDoesNotExist", a.name);
        if (r < 0)
                return cli_store_error("DeleteStateMachine", r, remote);
        if (cli_remote_wait(remote) < 0)
                return CLI_EXIT_FAILED;
        return CLI_EXIT_OK;
}
