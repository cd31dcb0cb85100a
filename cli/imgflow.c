/* SPDX-License-Identifier: MIT */
/*
 * imgflow: the command line. main() only finds the verb in the table and
 * runs it; every verb lives in a cmd-*.c file (see cli.h for how to add one).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "imgflow-config.h"

static const Verb verbs[] = {
        {
                .name = "validate-state-machine-definition",
                .run = verb_validate_definition,
                .summary = "check an Amazon States Language definition",
                .help = "imgflow validate-state-machine-definition FILE\n"
                        "\n"
                        "Validates the state machine definition in FILE. Prints OK and exits 0,\n"
                        "or prints one error per line as `<JSON pointer>: <message>` and exits 1.\n"
                        "Exits 2 when FILE cannot be read.\n",
        },
        {
                .name = "run",
                .run = verb_run,
                .summary = "run a state machine in-process, with mocked Task results",
                .help = "imgflow run FILE [OPTIONS]\n"
                        "\n"
                        "Runs the definition in FILE in this process, on a virtual clock (Wait\n"
                        "states, retries and timeouts take no time). Task results come from a\n"
                        "Step Functions Local mock configuration; a Task without a mock returns\n"
                        "its input. Prints the output as one line of JSON and exits 0, or prints\n"
                        "{\"Error\":...,\"Cause\":...} and exits 1. Exits 2 for an invalid definition\n"
                        "or bad arguments.\n"
                        "\n"
                        "  --input JSON          execution input (default {})\n"
                        "  --input-file FILE     read the execution input from FILE\n"
                        "  --mock-config FILE    a Step Functions Local MockConfigFile\n"
                        "  --test-case NAME      the test case of this state machine to use\n"
                        "  --name NAME           state machine name (default: FILE without\n"
                        "                        .asl.json/.json), used to find the test case\n"
                        "  --history             print the execution history to stderr, one\n"
                        "                        JSON event per line\n"
                        "  --real-time           really wait for timers instead of jumping the clock\n"
                        "  --max-history-events N  fail the execution past N history events\n"
                        "                        (default 25000, as Step Functions)\n"
                        "  -h, --help            show this help\n",
        },
};

void cli_verb_help(const Verb *verb, FILE *f) {
        fputs("Usage: ", f);
        fputs(verb->help, f);
}

static void usage(FILE *f) {
        fprintf(f, "Usage: imgflow VERB [ARGS...]\n\nVerbs:\n");
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                fprintf(f, "  %-36s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\nRun `imgflow VERB --help` for the options of one verb.\n");
}

int cli_read_file(const char *path, size_t max_bytes, char **ret, size_t *ret_len) {
        size_t n = 0, allocated = 0;
        char *buf = NULL;
        int fd, r = 0;

        fd = streq(path, "-") ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t k;

                if (n + 4096 + 1 > allocated) {
                        char *p;

                        allocated = allocated ? allocated * 2 : 65536;
                        p = realloc(buf, allocated);
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = p;
                }
                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_bytes) {
                        r = -EFBIG;
                        break;
                }
        }
        if (fd != STDIN_FILENO)
                close(fd);
        if (r < 0) {
                free(buf);
                return r;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = 0;
        *ret = buf;
        if (ret_len)
                *ret_len = n;
        return 0;
}

json_t *cli_parse_json(const char *text, size_t len, const char *what) {
        json_error_t e;
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &e);

        if (!v)
                fprintf(stderr, "imgflow: %s is not valid JSON: line %d column %d: %s\n",
                        what, e.line, e.column, e.text);
        return v;
}

int main(int argc, char *argv[]) {
        if (argc < 2) {
                usage(stderr);
                return CLI_EXIT_USAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                if (argc > 2)
                        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                                if (streq(verbs[i].name, argv[2])) {
                                        cli_verb_help(&verbs[i], stdout);
                                        return CLI_EXIT_OK;
                                }
                usage(stdout);
                return CLI_EXIT_OK;
        }
        if (streq(argv[1], "--version")) {
                printf("imgflow %s\n", IMGFLOW_VERSION);
                return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                if (streq(verbs[i].name, argv[1]))
                        return verbs[i].run(&verbs[i], argc - 1, argv + 1);

        fprintf(stderr, "imgflow: unknown verb '%s'\n\n", argv[1]);
        usage(stderr);
        return CLI_EXIT_USAGE;
}
