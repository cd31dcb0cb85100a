/* SPDX-License-Identifier: MIT */
/*
 * imgflow render: the graph of a definition as SVG (or DOT, or the
 * per-state summary as JSON), coloured by one execution's history when one
 * is given: from a file (`imgflow run --history` lines or a
 * get-execution-history answer) or from the store (--execution-arn). The
 * drawing is graph/'s, the same as the console's.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "cli.h"
#include "cmd-remote.h"
#include "graph.h"

/* A history file may hold 25,000 events of up to 256 KiB of input and output each;
 * past this size it is refused rather than read into memory. */
#define RENDER_HISTORY_MAX_BYTES (256u * 1024 * 1024)

typedef struct RenderArgs {
        const char *execution;
        const char *history;
        const char *output;
        const char *format;
} RenderArgs;

static const char *const render_formats[] = {"svg", "dot", "json", NULL};

static int write_out(const char *path, const char *buf, size_t len) {
        FILE *f = path && !streq(path, "-") ? fopen(path, "we") : stdout;

        if (!f) {
                fprintf(stderr, "imgflow render: cannot write %s: %m\n", path);
                return CLI_EXIT_USAGE;
        }
        if (fwrite(buf, 1, len, f) != len || (f != stdout ? fclose(f) : fflush(f)) != 0) {
                fprintf(stderr, "imgflow render: cannot write %s: %m\n", path ? path : "standard output");
                return CLI_EXIT_FAILED;
        }
        return CLI_EXIT_OK;
}

int verb_render(const Verb *verb, int argc, char *argv[]) {
        static const CliOption options[] = {
                {"execution-arn", CLI_OPTION_STRING, offsetof(RenderArgs, execution)},
                {"execution", CLI_OPTION_STRING, offsetof(RenderArgs, execution)},
                {"history", CLI_OPTION_STRING, offsetof(RenderArgs, history)},
                {"output", CLI_OPTION_STRING, offsetof(RenderArgs, output)},
                {"format", CLI_OPTION_CHOICE, offsetof(RenderArgs, format), .choices = render_formats},
                {},
        };
        _cleanup_free_ char *text = NULL, *dot = NULL, *svg = NULL, *why = NULL, **args = NULL;
        _cleanup_json_ json_t *definition = NULL, *events = NULL, *summary = NULL;
        _cleanup_(asl_machine_freep) AslMachine *machine = NULL;
        CliRemoteArgs ra = {};
        RenderArgs a = {};
        const char *file;
        size_t len, svg_len = 0;
        int n = 0, r;

        /* FILE first, then the options; -o is --output */
        args = xmalloc((size_t) (argc + 1) * sizeof *args);
        file = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
        for (int i = 0; i < argc; i++) {
                if (file && i == 1)
                        continue;
                args[n++] = streq(argv[i], "-o") ? (char *) "--output" : argv[i];
        }
        args[n] = NULL;
        r = cli_parse_options(verb, n, args, options, &ra, &a);
        if (r != CLI_CONTINUE)
                return r;
        if (!file) {
                fprintf(stderr,
                        "imgflow render: a definition FILE is required (imgflow render FILE [OPTIONS])\n");
                return CLI_EXIT_USAGE;
        }
        if (a.execution && a.history) {
                fprintf(stderr, "imgflow render: --execution-arn and --history exclude each other\n");
                return CLI_EXIT_USAGE;
        }

        if (cli_read_definition(file, &text, &len) < 0)
                return CLI_EXIT_USAGE;
        if (cli_machine_parse(text, len, stderr, &machine) < 0)
                return CLI_EXIT_FAILED;
        definition = cli_parse_json(text, len, file);
        if (!definition)
                return CLI_EXIT_USAGE;

        if (a.history) {
                _cleanup_free_ char *htext = NULL;
                size_t hlen;
                if (cli_read_file_or_warn(a.history, RENDER_HISTORY_MAX_BYTES, "over 256 MiB", &htext,
                                          &hlen) < 0)
                        return CLI_EXIT_USAGE;
                if (graph_history_parse(htext, hlen, &events, &why) < 0) {
                        fprintf(stderr, "imgflow render: %s: not a history: %s\n", a.history, why);
                        return CLI_EXIT_USAGE;
                }
        } else if (a.execution) {
                _cleanup_(cli_remote_freep) CliRemote *remote = NULL;
                if (cli_remote_open(&ra, /* need_kafka= */ false, &remote) < 0)
                        return CLI_EXIT_FAILED;
                r = cli_exec_history(remote, a.execution, &events);
                if (r != CLI_EXIT_OK)
                        return r;
        }

        r = graph_states(definition, events, &summary);
        if (r == -E2BIG) {
                fprintf(stderr, "imgflow render: %s has more than %d states, more than a drawing holds\n",
                        file, GRAPH_MAX_STATES);
                return CLI_EXIT_FAILED;
        }
        if (a.format && streq(a.format, "json")) {
                _cleanup_free_ char *out = json_dumps(summary, JSON_INDENT(2) | JSON_SORT_KEYS);
                _cleanup_free_ char *line = xasprintf("%s\n", out);
                return write_out(a.output, line, strlen(line));
        }
        r = graph_dot(definition, summary, &dot);
        if (r < 0) {
                fprintf(stderr, "imgflow render: cannot draw %s: %s\n", file, strerror(-r));
                return CLI_EXIT_FAILED;
        }
        if (a.format && streq(a.format, "dot"))
                return write_out(a.output, dot, strlen(dot));
        r = graph_svg(dot, GRAPH_LAYOUT_TIMEOUT_MS_DEFAULT, &svg, &svg_len);
        if (r < 0) {
                fprintf(stderr, "imgflow render: Graphviz could not lay out %s: %s\n", file,
                        r == -ETIME ? "it took longer than 10 s" : strerror(-r));
                return CLI_EXIT_FAILED;
        }
        return write_out(a.output, svg, svg_len);
}
