/* SPDX-License-Identifier: MIT */
/*
 * imgflow validate-state-machine-definition FILE
 */

#include <getopt.h>
#include <string.h>

#include "asl-definition.h"
#include "cli.h"

int verb_validate_definition(const Verb *verb, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_machine_ AslMachine *m = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        cli_verb_help(verb, stdout);
                        return CLI_EXIT_OK;
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

        r = cli_machine_parse(text, len, stdout, &m);
        if (r < 0)
                return CLI_EXIT_FAILED;
        printf("OK\n");
        return CLI_EXIT_OK;
}
