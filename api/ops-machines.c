/* SPDX-License-Identifier: MIT */
/*
 * State machine operations: CreateStateMachine, DescribeStateMachine,
 * UpdateStateMachine, DeleteStateMachine, ListStateMachines,
 * DescribeStateMachineForExecution, ValidateStateMachineDefinition.
 *
 * The registry is the store's (coordinator/store-registry.c, the same as
 * `imgflow create-state-machine`): definitions are validated here with the
 * engine's parser (errors as InvalidDefinition naming the JSON pointer),
 * then written by the sm_put script; every create or update of the
 * definition is a new version, as with the CLI, and its version ARN is in
 * the answer (stateMachineVersionArn).
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "api.h"
#include "asl-definition.h"
#include "clock.h"
#include "resources.h"

#define VALIDATE_RESULTS_DEFAULT 100
#define VALIDATE_RESULTS_MAX 100

typedef struct MachineState {
        AslMachineType type; /* ValidateStateMachineDefinition */
        char *name;
        unsigned version;
        char *arn;              /* as given */
        const char *definition; /* borrowed from the input */
        const char *role_arn;   /* borrowed from the input */
        const char *sm_type;    /* CreateStateMachine's type, borrowed from the table; NULL = STANDARD */
        char *logging;          /* loggingConfiguration, normalized (store_sm_logging_check()) */
        size_t limit;
        bool warnings; /* ValidateStateMachineDefinition's severity WARNING */
        char *cursor;
        char *exec_id;
        int64_t now_ms;
} MachineState;

static void machine_state_free(void *p) {
        MachineState *s = p;

        if (!s)
                return;
        free(s->name);
        free(s->arn);
        free(s->cursor);
        free(s->exec_id);
        free(s->logging);
        free(s);
}

static MachineState *state_new(ApiCall *c) {
        MachineState *s = xmalloc(sizeof *s);

        *s = (MachineState){.now_ms = now_ms(CLOCK_REALTIME)};
        api_call_set_state(c, s, machine_state_free);
        return s;
}

static const char *diag_pointer(const AslDiagEntry *d) {
        return d->pointer[0] ? d->pointer : "(root)";
}

/* The engine's verdict on a definition, then the resource mapping's (a
 * Task whose Resource maps to nothing with [resources]): 0, or
 * InvalidDefinition naming the first error and how many more there are. */
static int check_definition_type(ApiCall *c, const char *definition, AslMachineType type, AwsError *e) {
        _cleanup_json_ json_t *j = NULL;
        AslDiag d = {};
        AslMachine *m = NULL;
        int k;

        k = asl_machine_parse_type(definition, strlen(definition), type, &m, &d);
        if (k >= 0) {
                asl_machine_free(m);
                asl_diag_clear(&d);
                j = json_loads(definition, 0, NULL);
                if (!j || resources_check_definition(api_resources(c->m), j, &d) >= 0)
                        return 0;
        }
        if (d.n == 0)
                aws_error_set(e, "InvalidDefinition",
                              "Invalid State Machine Definition: 'invalid definition'");
        else if (d.n == 1)
                aws_error_set(e, "InvalidDefinition", "Invalid State Machine Definition: '%s: %s'",
                              diag_pointer(&d.entries[0]), d.entries[0].message);
        else
                aws_error_set(e, "InvalidDefinition",
                              "Invalid State Machine Definition: '%s: %s' and %zu more",
                              diag_pointer(&d.entries[0]), d.entries[0].message, d.n - 1);
        asl_diag_clear(&d);
        return -EINVAL;
}

static int check_definition(ApiCall *c, const char *definition, AwsError *e) {
        return check_definition_type(c, definition, ASL_MACHINE_STANDARD, e);
}

/* loggingConfiguration (an object, optional): *ret its normalized text. */
static int check_logging(ApiCall *c, char **ret, AwsError *e) {
        json_t *l = json_object_get(c->input, "loggingConfiguration");
        _cleanup_free_ char *text = NULL;
        const char *cause = NULL;

        if (!l)
                return 0;
        text = json_dumps(l, JSON_COMPACT);
        if (!text || store_sm_logging_check(text, ret, &cause) < 0)
                return aws_error_set(e, "InvalidLoggingConfiguration", "%s",
                                     cause ?: "Invalid Logging Configuration");
        return 0;
}

static int check_role(const char *role_arn, AwsError *e) {
        if (role_arn && strncmp(role_arn, "arn:", 4) != 0)
                return aws_error_set(e, "InvalidArn", "Invalid Arn: '%.256s'", role_arn);
        return 0;
}

/* stateMachineArn of the input: the machine (and version) in s. */
static int parse_machine_arn(ApiCall *c, MachineState *s, char **ret_resource, AwsError *e) {
        const char *arn;
        int k;

        if ((k = aws_get_string(c->input, "stateMachineArn", true, 1, API_ARN_MAX, &arn, e)) < 0 ||
            (k = api_parse_sm_arn(c, arn, &s->name, &s->version, e)) < 0)
                return k;
        s->arn = xstrdup(arn);
        *ret_resource = xstrdup(arn);
        return 0;
}

/* ---- CreateStateMachine ---- */

static int create_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        static const char *const types[] = {"STANDARD", "EXPRESS", NULL};
        MachineState *s = state_new(c);
        const char *name, *type;
        int k;

        if ((k = aws_get_string(c->input, "name", true, 1, API_NAME_MAX, &name, e)) < 0 ||
            (k = aws_get_string(c->input, "definition", true, 1, API_DEFINITION_MAX, &s->definition, e)) <
                    0 ||
            (k = aws_get_string(c->input, "roleArn", true, 1, API_ARN_MAX, &s->role_arn, e)) < 0 ||
            (k = aws_get_enum(c->input, "type", types, &type, e)) < 0)
                return k;
        if (!store_name_is_valid(name))
                return aws_error_set(e, "InvalidName", "Invalid Name: '%s'", name);
        s->sm_type = type;
        if ((k = check_role(s->role_arn, e)) < 0 || (k = check_logging(c, &s->logging, e)) < 0 ||
            (k = check_definition_type(
                     c, s->definition,
                     type && streq(type, "EXPRESS") ? ASL_MACHINE_EXPRESS : ASL_MACHINE_STANDARD, e)) < 0)
                return k;
        s->name = xstrdup(name);
        *ret_resource = api_sm_arn(c->m, name);
        return 0;
}

static void create_done(ApiCall *c, redisReply *reply) {
        MachineState *s = c->state;
        _cleanup_free_ char *arn = api_sm_arn(c->m, s->name), *varn = NULL;
        unsigned version;
        int64_t created = 0;
        int k;

        k = store_sm_put_parse(reply, &version, &created);
        if (k == -EEXIST)
                return api_fail(c, "StateMachineAlreadyExists", "State Machine Already Exists: '%s'", arn);
        if (k < 0)
                return api_fail_store(c, k);
        varn = api_sm_version_arn(c->m, s->name, version);
        api_reply(c,
                  json_pack("{s:s, s:o, s:s}", "stateMachineArn", arn, "creationDate",
                            aws_timestamp(created ? created : s->now_ms), "stateMachineVersionArn", varn));
}

static void create_run(ApiCall *c) {
        MachineState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        if (store_sm_put_call_extra(s->name, s->definition, s->now_ms, /* update= */ false,
                                    &(StoreSmExtra){.role_arn = s->role_arn, .type = s->sm_type, .logging = s->logging},
                                    &call) < 0)
                return api_fail(c, "InvalidDefinition", "Invalid State Machine Definition: 'too large'");
        (void) api_redis_eval(c, &call, create_done);
}

/* ---- DescribeStateMachine ---- */

static int describe_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        return parse_machine_arn(c, state_new(c), ret_resource, e);
}

static void describe_done(ApiCall *c, redisReply *reply) {
        MachineState *s = c->state;
        _cleanup_(store_machine_done) StoreMachine sm = {};
        json_t *out;
        int k;

        k = store_sm_describe_parse(reply, &sm);
        if (k == -ENOENT || (k >= 0 && sm.latest_version == 0))
                return api_fail(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        out = json_pack("{s:s, s:s, s:s, s:s}", "stateMachineArn", s->arn, "name", s->name, "status",
                        "ACTIVE", "definition", sm.definition);
        if (sm.role_arn)
                json_object_set_new(out, "roleArn", json_string(sm.role_arn));
        json_object_set_new(out, "type", json_string(sm.type ?: "STANDARD"));
        json_object_set_new(out, "creationDate", aws_timestamp(sm.created_ms));
        if (sm.logging)
                json_object_set_new(out, "loggingConfiguration", json_loads(sm.logging, 0, NULL));
        else
                json_object_set_new(out, "loggingConfiguration",
                                    json_pack("{s:s, s:b}", "level", "OFF", "includeExecutionData", false));
        api_reply(c, out);
}

static void describe_run(ApiCall *c) {
        MachineState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        if (store_sm_describe_call(s->name, s->version, &call) < 0)
                return api_fail(c, "InvalidArn", "Invalid Arn: '%s'", s->arn);
        (void) api_redis_eval(c, &call, describe_done);
}

/* ---- UpdateStateMachine ---- */

static int update_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        MachineState *s = state_new(c);
        int k;

        if ((k = parse_machine_arn(c, s, ret_resource, e)) < 0 ||
            (k = aws_get_string(c->input, "definition", false, 1, API_DEFINITION_MAX, &s->definition, e)) <
                    0 ||
            (k = aws_get_string(c->input, "roleArn", false, 1, API_ARN_MAX, &s->role_arn, e)) < 0)
                return k;
        if (s->version > 0)
                return aws_error_set(e, "ValidationException",
                                     "A state machine version cannot be updated: '%s'", s->arn);
        if (!s->definition && !s->role_arn)
                return aws_error_set(e, "MissingRequiredParameter",
                                     "Either the definition or the roleArn must be specified");
        if ((k = check_role(s->role_arn, e)) < 0 ||
            (s->definition && (k = check_definition(c, s->definition, e)) < 0))
                return k;
        return 0;
}

static void update_done(ApiCall *c, redisReply *reply) {
        MachineState *s = c->state;
        _cleanup_free_ char *varn = NULL;
        unsigned version;
        int k;

        k = store_sm_put_parse(reply, &version, NULL);
        if (k == -ENOENT)
                return api_fail(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        varn = api_sm_version_arn(c->m, s->name, version);
        api_reply(c, json_pack("{s:o, s:s}", "updateDate", aws_timestamp(s->now_ms),
                               "stateMachineVersionArn", varn));
}

static void update_role_done(ApiCall *c, redisReply *reply) {
        MachineState *s = c->state;
        int k = store_sm_set_role_parse(reply);

        if (k == -ENOENT)
                return api_fail(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        api_reply(c, json_pack("{s:o}", "updateDate", aws_timestamp(s->now_ms)));
}

/* A new definition is validated with the rules of the machine's type
 * (EXPRESS: no '.sync', '.waitForTaskToken' or activities): read it first. */
static void update_typed(ApiCall *c, redisReply *reply) {
        MachineState *s = c->state;
        _cleanup_(store_machine_done) StoreMachine sm = {};
        _cleanup_(store_call_done) StoreCall call = {};
        AwsError e = {};
        int k;

        k = store_sm_describe_parse(reply, &sm);
        if (k >= 0 && streq_ptr(sm.type, "EXPRESS") &&
            check_definition_type(c, s->definition, ASL_MACHINE_EXPRESS, &e) < 0) {
                api_fail(c, e.name, "%s", e.message);
                aws_error_done(&e);
                return;
        }
        /* A missing machine: the put says StateMachineDoesNotExist. */
        if (store_sm_put_call(s->name, s->definition, s->now_ms, /* update= */ true, s->role_arn, &call) < 0)
                return api_fail(c, "InvalidDefinition", "Invalid State Machine Definition: 'too large'");
        (void) api_redis_eval(c, &call, update_done);
}

static void update_run(ApiCall *c) {
        MachineState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        if (s->definition) {
                if (store_sm_describe_call(s->name, 0, &call) >= 0) {
                        (void) api_redis_eval(c, &call, update_typed);
                        return;
                }
                if (store_sm_put_call(s->name, s->definition, s->now_ms, /* update= */ true, s->role_arn,
                                      &call) < 0)
                        return api_fail(c, "InvalidDefinition",
                                        "Invalid State Machine Definition: 'too large'");
                (void) api_redis_eval(c, &call, update_done);
                return;
        }
        /* Only the role: no new version. */
        store_sm_set_role_call(s->name, s->role_arn, &call);
        (void) api_redis_eval(c, &call, update_role_done);
}

/* ---- DeleteStateMachine ---- */

static int delete_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        MachineState *s = state_new(c);
        int k;

        if ((k = parse_machine_arn(c, s, ret_resource, e)) < 0)
                return k;
        if (s->version > 0)
                return aws_error_set(e, "ValidationException",
                                     "DeleteStateMachine takes a state machine, not a version: '%s'",
                                     s->arn);
        return 0;
}

static void delete_done(ApiCall *c, redisReply *reply) {
        int k = store_sm_delete_parse(reply);

        /* As Step Functions: deleting what is not there succeeds. */
        if (k < 0 && k != -ENOENT)
                return api_fail_store(c, k);
        api_reply(c, NULL);
}

static void delete_run(ApiCall *c) {
        MachineState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        if (store_sm_delete_call(s->name, api_retention_sec(c->m), &call) < 0)
                return api_fail(c, "InvalidArn", "Invalid Arn: '%s'", s->arn);
        (void) api_redis_eval(c, &call, delete_done);
}

/* ---- ListStateMachines ---- */

static int list_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        MachineState *s = state_new(c);
        int k;

        if ((k = api_get_page(c, "sm", &s->limit, &s->cursor, e)) < 0)
                return k;
        *ret_resource = xstrdup("*");
        return 0;
}

static void list_done(ApiCall *c, redisReply *reply) {
        _cleanup_json_ json_t *items = NULL;
        json_t *list, *out, *it;
        bool more = false;
        size_t i;
        int k;

        k = store_sm_list_parse(reply, &items, &more);
        if (k < 0)
                return api_fail_store(c, k);
        list = json_array();
        json_array_foreach (items, i, it) {
                const char *name = json_string_value(json_object_get(it, "name"));
                _cleanup_free_ char *arn = api_sm_arn(c->m, name);

                json_array_append_new(
                        list,
                        json_pack("{s:s, s:s, s:s, s:o}", "stateMachineArn", arn, "name", name, "type",
                                  json_string_value(json_object_get(it, "type")) ?: "STANDARD", "creationDate",
                                  aws_timestamp(json_integer_value(json_object_get(it, "createdAt")))));
        }
        out = json_pack("{s:o}", "stateMachines", list);
        if (more && json_array_size(items) > 0)
                api_set_next_token(out, "sm",
                                   json_string_value(json_object_get(
                                           json_array_get(items, json_array_size(items) - 1), "name")));
        api_reply(c, out);
}

static void list_run(ApiCall *c) {
        MachineState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};

        store_sm_list_call(s->cursor, s->limit, &call);
        (void) api_redis_eval(c, &call, list_done);
}

/* ---- DescribeStateMachineForExecution ---- */

static int for_execution_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        MachineState *s = state_new(c);
        const char *arn;
        int k;

        if ((k = aws_get_string(c->input, "executionArn", true, 1, API_ARN_MAX, &arn, e)) < 0 ||
            (k = api_parse_exec_arn(c, arn, &s->exec_id, e)) < 0)
                return k;
        s->arn = xstrdup(arn);
        *ret_resource = xstrdup(arn);
        return 0;
}

static void for_execution_machine(ApiCall *c, redisReply *reply) {
        MachineState *s = c->state;
        _cleanup_(store_machine_done) StoreMachine sm = {};
        _cleanup_free_ char *arn = NULL;
        json_t *out;
        int k;

        k = store_sm_describe_parse(reply, &sm);
        if (k == -ENOENT)
                return api_fail(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        arn = api_sm_arn(c->m, s->name);
        out = json_pack("{s:s, s:s, s:s}", "stateMachineArn", arn, "name", s->name, "definition",
                        sm.definition);
        if (sm.role_arn)
                json_object_set_new(out, "roleArn", json_string(sm.role_arn));
        json_object_set_new(out, "updateDate", aws_timestamp(sm.updated_ms ? sm.updated_ms : sm.created_ms));
        json_object_set_new(out, "revisionId", json_sprintf("%u", sm.version));
        api_reply(c, out);
}

static void for_execution_done(ApiCall *c, redisReply *reply) {
        MachineState *s = c->state;
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_json_ json_t *d = NULL;
        int k;

        k = store_exec_describe_parse(reply, s->exec_id, &d);
        if (k == -ENOENT)
                return api_fail(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", s->arn);
        if (k < 0)
                return api_fail_store(c, k);
        s->name = xstrdup(json_string_value(json_object_get(d, "stateMachine")) ?: "");
        s->version = (unsigned) json_integer_value(json_object_get(d, "stateMachineVersion"));
        if (store_sm_describe_call(s->name, s->version, &call) < 0)
                return api_fail_store(c, -EBADMSG);
        (void) api_redis_eval(c, &call, for_execution_machine);
}

static void for_execution_run(ApiCall *c) {
        MachineState *s = c->state;
        _cleanup_(store_argv_done) StoreArgv a = {};

        store_exec_describe_argv(s->exec_id, &a);
        (void) api_redis_command(c, &a, for_execution_done);
}

/* ---- ValidateStateMachineDefinition ---- */

static int validate_parse(ApiCall *c, char **ret_resource, AwsError *e) {
        static const char *const types[] = {"STANDARD", "EXPRESS", NULL};
        static const char *const severities[] = {"ERROR", "WARNING", NULL};
        MachineState *s = state_new(c);
        const char *type, *severity;
        int64_t max;
        int k;

        if ((k = aws_get_string(c->input, "definition", true, 1, API_DEFINITION_MAX, &s->definition, e)) <
                    0 ||
            (k = aws_get_enum(c->input, "type", types, &type, e)) < 0 ||
            (k = aws_get_enum(c->input, "severity", severities, &severity, e)) < 0 ||
            (k = aws_get_int(c->input, "maxResults", 0, VALIDATE_RESULTS_MAX, 0, &max, e)) < 0)
                return k;
        s->limit = max > 0 ? (size_t) max : VALIDATE_RESULTS_DEFAULT;
        s->warnings = streq_ptr(severity, "WARNING");
        if (type)
                (void) asl_machine_type_from_string(type, &s->type);
        *ret_resource = api_sm_arn(c->m, "*");
        return 0;
}

static void validate_run(ApiCall *c) {
        MachineState *s = c->state;
        AslDiag d = {};
        AslMachine *m = NULL;
        json_t *diagnostics = json_array();
        json_error_t je;
        json_t *probe;
        size_t total;
        int k;

        /* Not JSON at all is its own code, as in Step Functions. */
        probe = json_loads(s->definition, JSON_DECODE_ANY, &je);
        if (!probe) {
                json_array_append_new(diagnostics,
                                      json_pack("{s:s, s:s, s:s}", "severity", "ERROR", "code",
                                                "INVALID_JSON_DESCRIPTION", "message", je.text));
                return api_reply(c, json_pack("{s:s, s:o, s:b}", "result", "FAIL", "diagnostics",
                                              diagnostics, "truncated", 0));
        }
        json_decref(probe);

        k = asl_machine_parse_type(s->definition, strlen(s->definition), s->type, &m, &d);
        asl_machine_free(m);
        for (size_t i = 0; i < d.n && i < s->limit; i++)
                json_array_append_new(diagnostics,
                                      json_pack("{s:s, s:s, s:s, s:s}", "severity", "ERROR", "code",
                                                asl_diag_code(&d.entries[i]), "message", d.entries[i].message,
                                                "location", diag_pointer(&d.entries[i])));
        if (k < 0 && d.n == 0)
                json_array_append_new(diagnostics, json_pack("{s:s, s:s, s:s}", "severity", "ERROR", "code",
                                                             "SCHEMA_VALIDATION_FAILED", "message",
                                                             "invalid definition"));
        /* Severity WARNING adds the warnings (a variable that is possibly
         * not defined) after the errors, within the same maxResults. */
        total = d.n + (s->warnings ? d.n_warnings : 0);
        for (size_t i = 0; s->warnings && i < d.n_warnings && json_array_size(diagnostics) < s->limit; i++)
                json_array_append_new(diagnostics, json_pack("{s:s, s:s, s:s, s:s}", "severity", "WARNING",
                                                             "code", "VARIABLE_POSSIBLY_UNDEFINED",
                                                             "message", d.warnings[i].message, "location",
                                                             diag_pointer(&d.warnings[i])));
        api_reply(c, json_pack("{s:s, s:o, s:b}", "result", k < 0 ? "FAIL" : "OK", "diagnostics",
                               diagnostics, "truncated", total > s->limit));
        asl_diag_clear(&d);
}

/* ---- the table's entries ---- */

const ApiOp api_op_create_state_machine = {"CreateStateMachine", create_parse, create_run};
const ApiOp api_op_describe_state_machine = {"DescribeStateMachine", describe_parse, describe_run};
const ApiOp api_op_update_state_machine = {"UpdateStateMachine", update_parse, update_run};
const ApiOp api_op_delete_state_machine = {"DeleteStateMachine", delete_parse, delete_run};
const ApiOp api_op_list_state_machines = {"ListStateMachines", list_parse, list_run};
const ApiOp api_op_describe_state_machine_for_execution = {"DescribeStateMachineForExecution",
                                                           for_execution_parse, for_execution_run};
const ApiOp api_op_validate_state_machine_definition = {"ValidateStateMachineDefinition", validate_parse,
                                                        validate_run};
