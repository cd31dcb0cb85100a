/* SPDX-License-Identifier: MIT */
/*
 * imgflow validate-state-machine-definition [--type STANDARD|EXPRESS] FILE
 * imgflow validate-state-machine-definition --definition JSON|file://PATH [--type T]
 *
 * The type picks the rules, as the type of ValidateStateMachineDefinition
 * does: EXPRESS also refuses what Express workflows cannot run. With FILE
 * the errors are lines "<pointer>: <message>" (exit 1); with the AWS CLI's
 * --definition the answer is ValidateStateMachineDefinition's
 * {"result", "diagnostics", "truncated"}, as imgflow-api gives it (exit 0,
 * as the AWS CLI: the result says OK or FAIL).
 */

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "asl-definition.h"
#include "cli.h"
#include "cmd-remote.h"

static const char *pointer_or_root(const AslDiagEntry *e) {
        return e->pointer[0] ? e->pointer : "(root)";
}

/* ValidateStateMachineDefinition's answer: JSON that does not parse is
 * INVALID_JSON_DESCRIPTION, the validator's errors their code
 * (asl_diag_code(): SCHEMA_VALIDATION_FAILED unless Step Functions names
 * the rule) with their location, its warnings WARNING diagnostics. */
static int validate_aws(const char *text, size_t len, AslMachineType type) {
        _cleanup_machine_ AslMachine *m = NULL;
        _cleanup_json_ json_t *diagnostics = json_array(), *out = NULL, *probe = NULL;
        json_error_t je;
        AslDiag d = {};
        int r;

        probe = json_loadb(text, len, JSON_DECODE_ANY, &je);
        if (!probe) {
                _cleanup_free_ char *msg = xasprintf("line %d, column %d: %s", je.line, je.column, je.text);
                json_array_append_new(diagnostics, json_pack("{s:s, s:s, s:s}", "severity", "ERROR", "code",
                                                             "INVALID_JSON_DESCRIPTION", "message", msg));
                out = json_pack("{s:s, s:O, s:b}", "result", "FAIL", "diagnostics", diagnostics, "truncated", 0);
                cli_print_json(out);
                return CLI_EXIT_OK;
        }
        r = asl_machine_parse_type(text, len, type, &m, &d);
        for (size_t i = 0; i < d.n; i++)
                json_array_append_new(diagnostics, json_pack("{s:s, s:s, s:s, s:s}", "severity", "ERROR", "code",
                                                             asl_diag_code(&d.entries[i]), "message",
                                                             d.entries[i].message, "location",
                                                             pointer_or_root(&d.entries[i])));
        if (r < 0 && d.n == 0)
                json_array_append_new(diagnostics, json_pack("{s:s, s:s, s:s}", "severity", "ERROR", "code",
                                                             "SCHEMA_VALIDATION_FAILED", "message",
                                                             "invalid definition"));
        for (size_t i = 0; i < d.n_warnings; i++)
                json_array_append_new(diagnostics, json_pack("{s:s, s:s, s:s, s:s}", "severity", "WARNING", "code",
                                                             "VARIABLE_POSSIBLY_UNDEFINED", "message",
                                                             d.warnings[i].message, "location",
                                                             pointer_or_root(&d.warnings[i])));
        asl_diag_clear(&d);
        out = json_pack("{s:s, s:O, s:b}", "result", r < 0 ? "FAIL" : "OK", "diagnostics", diagnostics,
                        "truncated", 0);
        cli_print_json(out);
        return CLI_EXIT_OK;
}

int verb_validate_definition(const Verb *verb, int argc, char *argv[]) {
        enum { ARG_TYPE = 0x100, ARG_DEFINITION };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "type", required_argument, NULL, ARG_TYPE },
                { "definition", required_argument, NULL, ARG_DEFINITION },
                {},
        };
        _cleanup_machine_ AslMachine *m = NULL;
        _cleanup_free_ char *text = NULL;
        AslMachineType type = ASL_MACHINE_STANDARD;
        const char *definition = NULL;
        AslDiag d = {};
        size_t len;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        cli_verb_help(verb, stdout);
                        return CLI_EXIT_OK;
                case ARG_TYPE:
                        if (asl_machine_type_from_string(optarg, &type) < 0) {
                                fprintf(stderr, "imgflow: --type must be STANDARD or EXPRESS, not \"%s\"\n",
                                        optarg);
                                return CLI_EXIT_USAGE;
                        }
                        break;
                case ARG_DEFINITION:
                        definition = optarg;
                        break;
                default:
                        cli_verb_help(verb, stderr);
                        return CLI_EXIT_USAGE;
                }
        if (definition) {
                if (optind != argc) {
                        cli_verb_help(verb, stderr);
                        return CLI_EXIT_USAGE;
                }
                if (strncmp(definition, "file://", 7) == 0) {
                        r = cli_read_definition(definition + 7, &text, &len);
                        if (r < 0)
                                return CLI_EXIT_USAGE;
                } else {
                        text = xstrdup(definition);
                        len = strlen(text);
                }
                return validate_aws(text, len, type);
        }
        if (optind + 1 != argc) {
                cli_verb_help(verb, stderr);
                return CLI_EXIT_USAGE;
        }

        r = cli_read_definition(argv[optind], &text, &len);
        if (r < 0)
                return CLI_EXIT_USAGE;

        r = asl_machine_parse_type(text, len, type, &m, &d);
        cli_print_warnings(stdout, &d);
        if (r < 0) {
                cli_print_diag(stdout, &d);
                asl_diag_clear(&d);
                return CLI_EXIT_FAILED;
        }
        asl_diag_clear(&d);
        printf("OK\n");
        return CLI_EXIT_OK;
}
