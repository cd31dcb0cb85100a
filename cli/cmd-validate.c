/* SPDX-License-Identifier: MIT */
/*
 * imgflow validate-state-machine-definition [--type STANDARD|EXPRESS] FILE
 *
 * The type picks the rules, as the type of ValidateStateMachineDefinition
 * does: EXPRESS also refuses what Express workflows cannot run.
 */

#include <getopt.h>
#include <string.h>

#include "asl-definition.h"
#include "cli.h"

int verb_validate_definition(const Verb *verb, int argc, char *argv[]) {
        enum { ARG_TYPE = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "type", required_argument, NULL, ARG_TYPE },
                {},
        };
        _cleanup_machine_ AslMachine *m = NULL;
        _cleanup_free_ char *text = NULL;
        AslMachineType type = ASL_MACHINE_STANDARD;
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
                default:
                        cli_verb_help(verb, stderr);
                        return CLI_EXIT_USAGE;
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
