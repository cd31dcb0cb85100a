/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: graph/ on a history file as `imgflow render --history`
 * reads it, and on any definition the validator accepts.
 *
 * The bytes before the first NUL are a definition: when asl_machine_parse()
 * accepts it, it is the one drawn, else a fixed pipeline (Choice,
 * Parallel, Map, Retry, Catch) is. The bytes after it are a history
 * (graph_history_parse()). Invariants besides "no crash, no leak, no UB":
 *   - graph_states() succeeds on any parsed history, gives every state of
 *     the definition one of the six statuses and never more retries than
 *     TaskScheduled events;
 *   - graph_dot()'s text is read back by Graphviz (agmemread), so no state
 *     name, Choice rule or error list breaks out of its quoted string;
 *   - with no NUL, the whole input is the history.
 * Layout (gvLayout) is left out: its time, not its correctness, is what a
 * large definition changes, and GRAPH_MAX_STATES bounds that.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>

#include "asl-definition.h"
#include "graph.h"

static const char PIPELINE[] =
        "{\"StartAt\":\"V\",\"States\":{"
        "\"V\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:V\",\"Next\":\"C\","
        "\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"]}],\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],"
        "\"Next\":\"F\"}]},"
        "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.ok\",\"BooleanEquals\":true,\"Next\":"
        "\"P\"}],\"Default\":\"F\"},"
        "\"P\":{\"Type\":\"Parallel\",\"Next\":\"M\",\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":"
        "\"F\"}],\"Branches\":["
        "{\"StartAt\":\"R\",\"States\":{\"R\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:"
        "invoke\",\"End\":true}}},"
        "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:"
        "invoke\",\"End\":true}}}]},"
        "\"M\":{\"Type\":\"Map\",\"Next\":\"D\",\"ItemProcessor\":{\"StartAt\":\"T\",\"States\":{"
        "\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\",\"End\":true}}}},"
        "\"F\":{\"Type\":\"Fail\",\"Error\":\"E\"},\"D\":{\"Type\":\"Succeed\"}}}";

static void silence(void) {
        static int done;
        if (!done) {
                agseterr(AGMAX); /* Graphviz's syntax messages would flood the output */
                done = 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *nul = memchr(data, 0, size);
        const char *htext = nul ? nul + 1 : (const char *) data;
        size_t hlen = nul ? size - (size_t) (nul + 1 - (const char *) data) : size;
        json_t *def = NULL, *events = NULL, *summary = NULL, *st;
        AslMachine *m = NULL;
        AslDiag d = {};
        char *why = NULL, *dot = NULL;
        const char *name;
        size_t scheduled = 0, i;
        json_t *e;

        silence();
        if (nul && asl_machine_parse((const char *) data, (size_t) (nul - (const char *) data), &m, &d) == 0)
                def = json_loadb((const char *) data, (size_t) (nul - (const char *) data), 0, NULL);
        asl_machine_free(m);
        asl_diag_clear(&d);
        if (!def)
                def = json_loads(PIPELINE, 0, NULL);
        if (!def)
                abort();

        if (graph_history_parse(htext, hlen, &events, &why) < 0) {
                if (!why)
                        abort();
                free(why);
                events = NULL;
        }
        json_array_foreach (events, i, e)
                if (strcmp(json_string_value(json_object_get(e, "type")), "TaskScheduled") == 0)
                        scheduled++;

        if (graph_states(def, events, &summary) == 0) {
                json_object_foreach (json_object_get(summary, "states"), name, st) {
                        const char *s = json_string_value(json_object_get(st, "status"));
                        if (!s || (strcmp(s, GRAPH_STATUS_NOT_REACHED) && strcmp(s, GRAPH_STATUS_RUNNING) &&
                                   strcmp(s, GRAPH_STATUS_SUCCEEDED) && strcmp(s, GRAPH_STATUS_CAUGHT) &&
                                   strcmp(s, GRAPH_STATUS_FAILED) && strcmp(s, GRAPH_STATUS_ABORTED)))
                                abort();
                        if ((size_t) json_integer_value(json_object_get(st, "retries")) > scheduled)
                                abort();
                }
                if (graph_dot(def, summary, &dot) == 0) {
                        Agraph_t *g = agmemread(dot);
                        if (!g)
                                abort();
                        agclose(g);
                }
        }
        free(dot);
        json_decref(summary);
        json_decref(events);
        json_decref(def);
        return 0;
}
