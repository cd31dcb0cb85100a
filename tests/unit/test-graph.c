/* SPDX-License-Identifier: MIT */
/*
 * graph/: history -> what happened to each state, definition -> DOT -> SVG.
 * The histories are the events imgflow's engine writes (as `imgflow run
 * --history` prints them), written out here so that each case shows the
 * sequence it is about; tests/integration/test-render.sh renders real runs.
 */

#include <errno.h>

#include "alloc-util.h"
#include "graph.h"
#include "macro.h"
#include "test.h"

static json_t *load(const char *text) {
        json_error_t e;
        json_t *j = json_loads(text, 0, &e);
        if (!j)
                fprintf(stderr, "bad test JSON: %s\n", e.text);
        return j;
}

static const char *status_of(json_t *summary, const char *state) {
        return json_string_value(
                json_object_get(json_object_get(json_object_get(summary, "states"), state), "status"));
}

static json_int_t int_of(json_t *summary, const char *state, const char *key) {
        return json_integer_value(
                json_object_get(json_object_get(json_object_get(summary, "states"), state), key));
}

static const char *str_of(json_t *summary, const char *state, const char *key) {
        return json_string_value(
                json_object_get(json_object_get(json_object_get(summary, "states"), state), key));
}

/* Validate -> Choice -> Parallel(Resize with Retry, Filter) -> Done, a
 * Catch on the Parallel to Notify -> Failed. */
static const char *pipeline =
        "{\"StartAt\":\"Validate\",\"States\":{"
        "\"Validate\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:Validate\","
        "\"Next\":\"Ok?\"},"
        "\"Ok?\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.ok\",\"BooleanEquals\":true,\"Next\":"
        "\"Process\"}],"
        "\"Default\":\"Notify\"},"
        "\"Process\":{\"Type\":\"Parallel\",\"Branches\":["
        "{\"StartAt\":\"Resize\",\"States\":{\"Resize\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::"
        "lambda:invoke\","
        "\"Retry\":[{\"ErrorEquals\":[\"Lambda.TooManyRequestsException\"],\"MaxAttempts\":2}],\"End\":true}"
        "}},"
        "{\"StartAt\":\"Filter\",\"States\":{\"Filter\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::"
        "lambda:invoke\",\"End\":true}}}],"
        "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"ResultPath\":\"$.error\",\"Next\":\"Notify\"}],"
        "\"Next\":\"Done\"},"
        "\"Notify\":{\"Type\":\"Pass\",\"Next\":\"Failed\"},"
        "\"Failed\":{\"Type\":\"Fail\",\"Error\":\"Pipeline.Failed\",\"Cause\":\"see the history\"},"
        "\"Done\":{\"Type\":\"Succeed\"}}}";

#define EV(id, type, rest)                                                                                  \
        "{\"id\":" #id ",\"previousEventId\":0,\"timestamp\":\"2026-12-05T06:00:00.000Z\",\"type\":\"" type \
        "\"" rest "}\n"
#define ENTER(id, type, name)                                                                               \
        EV(id, type "StateEntered", ",\"stateEnteredEventDetails\":{\"name\":\"" name "\",\"input\":\"{}\"}")
#define EXIT(id, type, name)                                                                                \
        EV(id, type "StateExited",                                                                          \
           ",\"stateExitedEventDetails\":{\"name\":\"" name "\",\"output\":\"{\\\"n\\\":" #id "}\"}")
#define VALIDATE(id, what, rest)                                                                            \
        EV(id, "LambdaFunction" what, ",\"lambdaFunction" what "EventDetails\":{\"x\":0" rest "}")
#define INVOKE(id, what)                                                                                    \
        EV(id, "Task" what,                                                                                 \
           ",\"task" what "EventDetails\":{\"resourceType\":\"lambda\",\"resource\":\"invoke\"}")
#define THROTTLED(id)                                                                                       \
        EV(id, "TaskFailed",                                                                                \
           ",\"taskFailedEventDetails\":{\"resourceType\":\"lambda\",\"resource\":\"invoke\",\"error\":"    \
           "\"Lambda.TooManyRequestsException\",\"cause\":\"Rate exceeded\"}")

/* Resize throttled three times (two retries), the Parallel fails, the Catch
 * goes to Notify, the execution ends in the Fail state. Filter finished
 * before: succeeded. The failure of Filter's sibling and the two task
 * scheduled on the same resource are interleaved as the engine writes them. */
/* clang-format off */
static const char *caught_history =
        EV(1, "ExecutionStarted", "")
        ENTER(2, "Task", "Validate")
        VALIDATE(3, "Scheduled", ",\"resource\":\"arn:aws:lambda:us-east-1:1:function:Validate\"")
        VALIDATE(4, "Succeeded", ",\"output\":\"{}\"")
        EXIT(5, "Task", "Validate")
        ENTER(6, "Choice", "Ok?")
        EXIT(7, "Choice", "Ok?")
        ENTER(8, "Parallel", "Process")
        EV(9, "ParallelStateStarted", "")
        ENTER(10, "Task", "Resize")
        INVOKE(11, "Scheduled")
        ENTER(12, "Task", "Filter")
        INVOKE(13, "Scheduled")
        INVOKE(14, "Started")
        THROTTLED(15)
        INVOKE(16, "Succeeded")
        EXIT(17, "Task", "Filter")
        INVOKE(18, "Scheduled")
        THROTTLED(19)
        INVOKE(20, "Scheduled")
        THROTTLED(21)
        EV(22, "ParallelStateFailed", "")
        EXIT(23, "Parallel", "Process")
        ENTER(24, "Pass", "Notify")
        EXIT(25, "Pass", "Notify")
        ENTER(26, "Fail", "Failed")
        EV(27, "ExecutionFailed", ",\"executionFailedEventDetails\":{\"error\":\"Pipeline.Failed\",\"cause\":\"see the history\"}");
/* clang-format on */

TEST(caught_parallel_and_failed_branch) {
        _cleanup_json_ json_t *def = load(pipeline), *events = NULL, *s = NULL;
        _cleanup_free_ char *why = NULL;

        ASSERT_INT_EQ(graph_history_parse(caught_history, strlen(caught_history), &events, &why), 0);
        ASSERT_INT_EQ(json_array_size(events), 27);
        ASSERT_INT_EQ(graph_states(def, events, &s), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(s, "execution")), "FAILED");
        ASSERT_STR_EQ(status_of(s, "Validate"), GRAPH_STATUS_SUCCEEDED);
        ASSERT_STR_EQ(status_of(s, "Ok?"), GRAPH_STATUS_SUCCEEDED);
        ASSERT_STR_EQ(status_of(s, "Process"), GRAPH_STATUS_CAUGHT);
        ASSERT_STR_EQ(str_of(s, "Process", "error"), "Lambda.TooManyRequestsException");
        ASSERT_STR_EQ(status_of(s, "Resize"), GRAPH_STATUS_FAILED);
        ASSERT_INT_EQ(int_of(s, "Resize", "retries"), 2);
        ASSERT_STR_EQ(str_of(s, "Resize", "error"), "Lambda.TooManyRequestsException");
        ASSERT_STR_EQ(str_of(s, "Resize", "cause"), "Rate exceeded");
        ASSERT_STR_EQ(status_of(s, "Filter"), GRAPH_STATUS_SUCCEEDED);
        ASSERT_INT_EQ(int_of(s, "Filter", "retries"), 0);
        ASSERT_STR_EQ(str_of(s, "Filter", "output"), "{\"n\":17}");
        ASSERT_STR_EQ(status_of(s, "Notify"), GRAPH_STATUS_SUCCEEDED);
        ASSERT_STR_EQ(status_of(s, "Failed"), GRAPH_STATUS_FAILED);
        ASSERT_STR_EQ(str_of(s, "Failed", "error"), "Pipeline.Failed");
        ASSERT_STR_EQ(status_of(s, "Done"), GRAPH_STATUS_NOT_REACHED);
}

/* The same run cut after event 18: Resize is being retried, Filter is done. */
TEST(running) {
        _cleanup_json_ json_t *def = load(pipeline), *all = NULL, *events = json_array(), *s = NULL;
        _cleanup_free_ char *why = NULL;

        ASSERT_INT_EQ(graph_history_parse(caught_history, strlen(caught_history), &all, &why), 0);
        for (size_t i = 0; i < 18; i++)
                json_array_append(events, json_array_get(all, i));
        ASSERT_INT_EQ(graph_states(def, events, &s), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(s, "execution")), "RUNNING");
        ASSERT_STR_EQ(status_of(s, "Process"), GRAPH_STATUS_RUNNING);
        ASSERT_STR_EQ(status_of(s, "Resize"), GRAPH_STATUS_RUNNING);
        ASSERT_INT_EQ(int_of(s, "Resize", "retries"), 1);
        ASSERT_STR_EQ(status_of(s, "Filter"), GRAPH_STATUS_SUCCEEDED);
        ASSERT_STR_EQ(status_of(s, "Notify"), GRAPH_STATUS_NOT_REACHED);
}

/* A retried failure that then succeeds is not caught; a stop aborts what ran. */
TEST(retried_then_stopped) {
        /* clang-format off */
        static const char *h =
                EV(1, "ExecutionStarted", "")
                ENTER(2, "Task", "Validate")
                VALIDATE(3, "Scheduled", ",\"resource\":\"arn:aws:lambda:us-east-1:1:function:Validate\"")
                VALIDATE(4, "Failed", ",\"error\":\"Lambda.ServiceException\"")
                VALIDATE(5, "Scheduled", ",\"resource\":\"arn:aws:lambda:us-east-1:1:function:Validate\"")
                VALIDATE(6, "Succeeded", ",\"output\":\"{}\"")
                EXIT(7, "Task", "Validate")
                ENTER(8, "Choice", "Ok?")
                EXIT(9, "Choice", "Ok?")
                ENTER(10, "Parallel", "Process")
                ENTER(11, "Task", "Resize")
                INVOKE(12, "Scheduled")
                EV(13, "ExecutionAborted", "");
        /* clang-format on */
        _cleanup_json_ json_t *def = load(pipeline), *events = NULL, *s = NULL;
        _cleanup_free_ char *why = NULL;

        ASSERT_INT_EQ(graph_history_parse(h, strlen(h), &events, &why), 0);
        ASSERT_INT_EQ(graph_states(def, events, &s), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(s, "execution")), "ABORTED");
        ASSERT_STR_EQ(status_of(s, "Validate"), GRAPH_STATUS_SUCCEEDED);
        ASSERT_INT_EQ(int_of(s, "Validate", "retries"), 1);
        ASSERT_STR_EQ(status_of(s, "Process"), GRAPH_STATUS_ABORTED);
        ASSERT_STR_EQ(status_of(s, "Resize"), GRAPH_STATUS_ABORTED);
        ASSERT_STR_EQ(status_of(s, "Filter"), GRAPH_STATUS_NOT_REACHED);
}

TEST(history_forms) {
        _cleanup_json_ json_t *a = NULL, *b = NULL, *c = NULL;
        _cleanup_free_ char *why = NULL, *why2 = NULL, *why3 = NULL, *why4 = NULL;
        const char *doc = "{\"events\":[{\"id\":1,\"type\":\"ExecutionStarted\"}]}";
        const char *arr =
                "[{\"id\":1,\"type\":\"ExecutionStarted\"},{\"id\":2,\"type\":\"ExecutionSucceeded\"}]";
        const char *lines =
                "imgflow: something\n{\"id\":1,\"type\":\"ExecutionStarted\"}\n{\"Error\":\"X\"}\n";
        json_t *d = NULL;

        ASSERT_INT_EQ(graph_history_parse(doc, strlen(doc), &a, &why), 0);
        ASSERT_INT_EQ(json_array_size(a), 1);
        ASSERT_INT_EQ(graph_history_parse(arr, strlen(arr), &b, &why), 0);
        ASSERT_INT_EQ(json_array_size(b), 2);
        ASSERT_INT_EQ(graph_history_parse(lines, strlen(lines), &c, &why), 0);
        ASSERT_INT_EQ(json_array_size(c), 1);
        ASSERT_INT_EQ(graph_history_parse("{\"id\":1,\"type\"", 15, &d, &why2), -EINVAL);
        ASSERT_NOT_NULL(strstr(why2, "line 1"));
        ASSERT_INT_EQ(graph_history_parse("[1]", 3, &d, &why3), -EINVAL);
        ASSERT_INT_EQ(graph_history_parse("nothing\n", 8, &d, &why4), -EINVAL);
        ASSERT_STR_EQ(why4, "no history events in it");
}

/* DOT: a node per state with its status class and colour, the edges of
 * Choice rules, Default, Catch and Retry labelled, the Parallel's branches
 * as clusters; and Graphviz lays it out as SVG with the same classes. */
TEST(dot_and_svg) {
        _cleanup_json_ json_t *def = load(pipeline), *events = NULL, *s = NULL;
        _cleanup_free_ char *why = NULL, *dot = NULL, *svg = NULL;
        size_t len = 0;

        ASSERT_INT_EQ(graph_history_parse(caught_history, strlen(caught_history), &events, &why), 0);
        ASSERT_INT_EQ(graph_states(def, events, &s), 0);
        ASSERT_INT_EQ(graph_dot(def, s, &dot), 0);
        ASSERT_NOT_NULL(strstr(dot, "label=\"$.ok BooleanEquals true\""));
        ASSERT_NOT_NULL(strstr(dot, "label=\"Default\""));
        ASSERT_NOT_NULL(strstr(dot, "label=\"Catch: States.ALL\""));
        ASSERT_NOT_NULL(strstr(dot, "label=\"Retry x2: Lambda.TooManyRequestsException\""));
        ASSERT_NOT_NULL(strstr(dot, "subgraph cluster_n2 {"));
        ASSERT_NOT_NULL(strstr(dot, "label=\"Branch 2\""));

        ASSERT_INT_EQ(graph_svg(dot, 10000, &svg, &len), 0);
        ASSERT_INT_EQ(strlen(svg), len);
        ASSERT_NOT_NULL(strstr(svg, "<svg"));
        ASSERT_NOT_NULL(strstr(svg, "id=\"state&#45;Resize\" class=\"node state failed\""));
        ASSERT_NOT_NULL(strstr(svg, "id=\"state&#45;Process\" class=\"node state caught\""));
        ASSERT_NOT_NULL(strstr(svg, "id=\"state&#45;Filter\" class=\"node state succeeded\""));
        ASSERT_NOT_NULL(strstr(svg, "id=\"state&#45;Done\" class=\"node state not&#45;reached\""));
        ASSERT_NOT_NULL(strstr(svg, "fill=\"#ffcdd2\"")); /* failed */
        ASSERT_NOT_NULL(strstr(svg, "fill=\"#ffe0b2\"")); /* caught */
        ASSERT_NOT_NULL(strstr(svg, "<title>cluster_n2</title>"));
        ASSERT_NOT_NULL(strstr(svg, ">Catch: States.ALL</text>"));
}

/* A name that Graphviz would read as its escapes, and quotes, stays the
 * name; without a history everything is not reached. */
TEST(dot_escapes) {
        _cleanup_json_ json_t *def = load("{\"StartAt\":\"a\\\\N \\\"b\\\"\",\"States\":{\"a\\\\N "
                                          "\\\"b\\\"\":{\"Type\":\"Succeed\"}}}");
        _cleanup_free_ char *dot = NULL, *svg = NULL;
        size_t len;

        ASSERT_INT_EQ(graph_dot(def, NULL, &dot), 0);
        ASSERT_NOT_NULL(strstr(dot, "label=\"a\\\\N \\\"b\\\"\\nSucceed\""));
        ASSERT_INT_EQ(graph_svg(dot, 10000, &svg, &len), 0);
        ASSERT_NOT_NULL(strstr(svg, "a\\N &quot;b&quot;"));
        ASSERT_NOT_NULL(strstr(svg, "class=\"node state not&#45;reached\""));
}

/* A layout past its deadline is killed: -ETIME, nothing returned. */
TEST(layout_deadline) {
        _cleanup_json_ json_t *def = load(pipeline);
        _cleanup_free_ char *dot = NULL;
        char *svg = NULL;
        size_t len = 0;

        ASSERT_INT_EQ(graph_dot(def, NULL, &dot), 0);
        ASSERT_INT_EQ(graph_svg(dot, 0, &svg, &len), -ETIME);
        ASSERT_NULL(svg);
        ASSERT_INT_EQ(graph_svg("digraph {", 10000, &svg, &len), -EINVAL);
        ASSERT_NULL(svg);
}

TEST(too_many_states) {
        _cleanup_json_ json_t *def = json_pack("{s:s, s:o}", "StartAt", "s0", "States", json_object()),
                              *s = NULL;
        _cleanup_free_ char *dot = NULL;

        for (int i = 0; i <= GRAPH_MAX_STATES; i++) {
                char name[32];
                snprintf(name, sizeof name, "s%d", i);
                json_object_set_new(json_object_get(def, "States"), name,
                                    json_pack("{s:s}", "Type", "Succeed"));
        }
        ASSERT_INT_EQ(graph_states(def, NULL, &s), -E2BIG);
        ASSERT_INT_EQ(graph_dot(def, NULL, &dot), -E2BIG);
}
