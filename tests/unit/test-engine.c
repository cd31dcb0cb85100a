/* SPDX-License-Identifier: MIT */
/*
 * The transition function, driven with synthetic events. Definitions are
 * written with ' for " to keep them readable. Between events the execution
 * document is serialized and parsed again, as the coordinator stores it in
 * Redis, so every test also checks that the document is self-contained.
 */
#include "test.h"
#include "asl-engine.h"
#include "asl-retry.h"

/* ---- harness ---- */

/* The character Q() turns into '"': JSONata tests use '`', their
 * expressions have strings in single quotes. */
static char q_char = '\'';

static json_t *Q(const char *text) {
        char *s = strdup(text);
        json_error_t e;
        json_t *v;

        for (char *p = s; *p; p++)
                if (*p == q_char)
                        *p = '"';
        v = json_loads(s, JSON_DECODE_ANY, &e);
        if (!v) {
                fprintf(stderr, "bad JSON in test: %s: %s\n", s, e.text);
                abort();
        }
        free(s);
        return v;
}

static void fixed_random(void *userdata, void *buf, size_t n) {
        /* a counter-based stream, reproducible */
        unsigned *ctr = userdata;
        for (size_t i = 0; i < n; i++)
                ((uint8_t *) buf)[i] = (uint8_t) (0x5a + 7 * (*ctr)++);
}

static void half_random(void *userdata, void *buf, size_t n) {
        /* u64 = 1 << 63 -> asl_env_random_double() == 0.5 */
        uint64_t v = (uint64_t) 1 << 63;
        memset(buf, 0, n);
        memcpy(buf, &v, n < sizeof v ? n : sizeof v);
}

typedef struct H {
        AslMachine *m;
        json_t *exec;
        AslEnv env;
        unsigned ctr;
        AslEffects fx;
        json_t *views;          /* the effects of the last call as JSON (effect_view()) */
        json_t *history;        /* all HISTORY effects so far */
        json_t *finished;       /* FINISHED as JSON, or NULL */
        int r;
} H;

static void set_int(json_t *o, const char *key, int64_t v) {
        if (v > 0)
                json_object_set_new(o, key, json_integer(v));
}

static void set_str(json_t *o, const char *key, const char *v) {
        if (v)
                json_object_set_new(o, key, json_string(v));
}

/* An effect as a JSON object named as the assertions below read it
 * ("task_id", "timer_id", "due_ms", ...). New reference. */
static json_t *effect_view(const AslEffect *e) {
        json_t *o = json_object();

        switch (e->type) {
        case ASL_EFFECT_DISPATCH_TASK:
                set_str(o, "task_id", e->dispatch.task_id);
                set_str(o, "state", e->dispatch.state);
                set_str(o, "resource", e->dispatch.resource);
                json_object_set(o, "input", e->dispatch.input);
                json_object_set_new(o, "attempt", json_integer(e->dispatch.attempt));
                set_int(o, "timeout_seconds", e->dispatch.timeout_seconds);
                set_int(o, "deadline_ms", e->dispatch.deadline_ms);
                set_int(o, "heartbeat_seconds", e->dispatch.heartbeat_seconds);
                set_str(o, "token", e->dispatch.token);
                set_str(o, "index_path", e->dispatch.index_path);
                break;
        case ASL_EFFECT_CANCEL_TASK:
                set_str(o, "task_id", e->cancel_task.task_id);
                set_str(o, "token", e->cancel_task.token);
                break;
        case ASL_EFFECT_SCHEDULE_TIMER:
                set_str(o, "kind", e->timer.kind);
                json_object_set_new(o, "due_ms", json_integer(e->timer.due_ms));
                /* fall through */
        case ASL_EFFECT_CANCEL_TIMER:
                set_str(o, "timer_id", e->timer.timer_id);
                break;
        case ASL_EFFECT_HISTORY:
                json_decref(o);
                ASSERT_INT_EQ(strlen(e->history.text), e->history.len);
                return json_stringn(e->history.text, e->history.len);
        case ASL_EFFECT_FINISHED:
                set_str(o, "status", e->finished.status);
                if (e->finished.output)
                        json_object_set(o, "output", e->finished.output);
                set_str(o, "error", e->finished.error);
                set_str(o, "cause", e->finished.cause);
                break;
        case ASL_EFFECT_MAP_RUN:
                set_str(o, "run_id", e->map_run.run_id);
                json_object_set_new(o, "created", json_boolean(e->map_run.created));
                json_object_set(o, "set", e->map_run.set);
                if (e->map_run.failure)
                        json_object_set(o, "failure", e->map_run.failure);
                break;
        case ASL_EFFECT_START_CHILD:
        case ASL_EFFECT_STOP_CHILD:
                set_str(o, "name", e->child.name);
                set_str(o, "machine", e->child.machine);
                set_str(o, "map_run_arn", e->child.map_run_arn);
                if (e->child.input)
                        json_object_set(o, "input", e->child.input);
                json_object_set_new(o, "index", json_integer(e->child.index));
                json_object_set_new(o, "items", json_integer(e->child.items));
                json_object_set_new(o, "redrive", json_integer(e->child.redrive));
                break;
        default:
                abort();
        }
        return o;
}

static void h_views(H *h) {
        json_decref(h->views);
        h->views = json_array();
        for (size_t i = 0; i < h->fx.n; i++)
                json_array_append_new(h->views, effect_view(&h->fx.items[i]));
}

static void h_collect(H *h) {
        h_views(h);
        for (size_t i = 0; i < h->fx.n; i++) {
                if (h->fx.items[i].type == ASL_EFFECT_HISTORY) {
                        /* the event's text, compact, keys in Step Functions' order */
                        const char *text = h->fx.items[i].history.text;
                        json_t *ev;
                        char *again;

                        ASSERT_NOT_NULL(text);
                        ev = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
                        ASSERT_NOT_NULL(ev);
                        again = json_writer_dumps(ev);
                        ASSERT_STR_EQ(again, text);
                        free(again);
                        json_array_append_new(h->history, ev);
                }
                if (h->fx.items[i].type == ASL_EFFECT_FINISHED) {
                        if (h->finished)
                                abort(); /* twice */
                        h->finished = json_incref(json_array_get(h->views, i));
                }
        }
}

/* Serialize and reload the document, as the coordinator's store would. */
static void h_roundtrip(H *h) {
        char *s = json_dumps(h->exec, JSON_COMPACT);
        json_decref(h->exec);
        h->exec = json_loads(s, 0, NULL);
        free(s);
}

static int h_event(H *h, AslEvent ev) {
        AslError e = {};

        asl_effects_clear(&h->fx);
        h_roundtrip(h);
        h->r = asl_exec_handle(h->m, h->exec, &ev, &h->env, &h->fx, &e);
        if (h->r < 0 && getenv("TEST_VERBOSE"))
                fprintf(stderr, "  handle: %d %s %s\n", h->r, e.error, e.cause);
        asl_error_clear(&e);
        h_collect(h);
        return h->r;
}

static void h_init(H *h, const char *def, const char *input) {
        AslDiag d = {};
        json_t *dj = Q(def), *in = input ? Q(input) : NULL;
        char *text = json_dumps(dj, 0);
        AslError e = {};
        int r;

        *h = (H) { .env = { .now_ms = 1700000000000LL, .random = fixed_random }, .history = json_array() };
        h->env.random_userdata = &h->ctr;
        r = asl_machine_parse(text, strlen(text), &h->m, &d);
        if (r < 0) {
                for (size_t i = 0; i < d.n; i++)
                        fprintf(stderr, "  definition: %s: %s\n", d.entries[i].pointer, d.entries[i].message);
                abort();
        }
        asl_diag_clear(&d);
        free(text);
        json_decref(dj);
        r = asl_exec_new(h->m, &(AslExecInfo) { .execution_id = "imgflow:execution:test:e1",
                                                 .execution_name = "e1",
                                                 .state_machine_id = "imgflow:stateMachine:test",
                                                 .state_machine_name = "test", .input = in },
                         &h->env, &h->exec, &e);
        if (r < 0)
                abort();
        json_decref(in);
}

static void h_start(H *h, const char *def, const char *input) {
        h_init(h, def, input);
        h_event(h, (AslEvent) { .type = ASL_EVENT_START });
}

static void h_done(H *h) {
        asl_effects_clear(&h->fx);
        json_decref(h->exec);
        json_decref(h->history);
        json_decref(h->finished);
        json_decref(h->views);
        asl_machine_free(h->m);
}

/* The i-th effect of a type in the last call (its view, borrowed), or NULL. */
static json_t *fx_nth(H *h, AslEffectType t, size_t nth) {
        for (size_t i = 0; i < h->fx.n; i++)
                if (h->fx.items[i].type == t && nth-- == 0)
                        return json_array_get(h->views, i);
        return NULL;
}

static size_t fx_count(H *h, AslEffectType t) {
        size_t n = 0;
        for (size_t i = 0; i < h->fx.n; i++)
                n += h->fx.items[i].type == t;
        return n;
}

static const char *S(json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

/* Copy of a string field (effects die with the next call). */
static char *task_id_of(json_t *dispatch) {
        return strdup(S(dispatch, "task_id"));
}

static int h_succeed(H *h, const char *task_id, const char *output) {
        json_t *o = Q(output);
        int r = h_event(h, (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = task_id, .output = o });
        json_decref(o);
        return r;
}

static int h_fail(H *h, const char *task_id, const char *error, const char *cause) {
        return h_event(h, (AslEvent) { .type = ASL_EVENT_TASK_FAILED, .task_id = task_id, .error = error, .cause = cause });
}

static int h_timer(H *h, const char *timer_id) {
        return h_event(h, (AslEvent) { .type = ASL_EVENT_TIMER_FIRED, .timer_id = timer_id });
}

/* Comma-joined history types. */
static char *history_types(H *h) {
        size_t i;
        json_t *ev;
        char *s = strdup("");

        json_array_foreach(h->history, i, ev) {
                char *n;
                if (asprintf(&n, "%s%s%s", s, i ? "," : "", S(ev, "type")) < 0)
                        abort();
                free(s);
                s = n;
        }
        return s;
}

static bool history_has(H *h, const char *type) {
        size_t i;
        json_t *ev;
        json_array_foreach(h->history, i, ev)
                if (streq(S(ev, "type"), type))
                        return true;
        return false;
}

/* ---- tests ---- */

TEST(pass_chain_and_history) {
        H h;
        h_start(&h, "{'StartAt':'A','States':{"
                    "'A':{'Type':'Pass','Result':{'x':1},'ResultPath':'$.a','Next':'B'},"
                    "'B':{'Type':'Pass','Parameters':{'sum.$':'$.a.x','name.$':'$$.Execution.Name',"
                    "'state.$':'$$.State.Name'},'End':true}}}",
                "{'in':true}");
        ASSERT_INT_EQ(h.r, 0);
        ASSERT_NOT_NULL(h.finished);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"sum\":1,\"name\":\"e1\",\"state\":\"B\"}");
        ASSERT_STR_EQ(asl_exec_status(h.exec), "SUCCEEDED");

        char *types = history_types(&h);
        ASSERT_STR_EQ(types, "ExecutionStarted,PassStateEntered,PassStateExited,PassStateEntered,"
                             "PassStateExited,ExecutionSucceeded");
        free(types);
        /* ids sequential, previousEventId chained, AWS detail names */
        json_t *ev = json_array_get(h.history, 2);
        ASSERT_INT_EQ(json_integer_value(json_object_get(ev, "id")), 3);
        ASSERT_INT_EQ(json_integer_value(json_object_get(ev, "previousEventId")), 2);
        ASSERT_STR_EQ(S(json_object_get(ev, "stateExitedEventDetails"), "name"), "A");
        ASSERT_STR_EQ(S(json_object_get(ev, "stateExitedEventDetails"), "output"), "{\"in\":true,\"a\":{\"x\":1}}");
        ASSERT_NOT_NULL(json_object_get(json_array_get(h.history, 0), "executionStartedEventDetails"));
        ASSERT_TRUE(strstr(S(json_array_get(h.history, 0), "timestamp"), "2023-11-14T") != NULL);

        /* a finished execution rejects further events */
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_STOP }), -EINVAL);
        h_done(&h);
}

TEST(numbers_shortest_in_history) {
        H h;
        h_start(&h,
                "{'StartAt':'A','States':{'A':{'Type':'Pass','Result':{'x':1.1,'y':[0.1,2.5e-7,1e300]},"
                "'ResultPath':'$.r','End':true}}}",
                "{'in':0.3}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_STR_EQ(
                S(json_object_get(json_array_get(h.history, 0), "executionStartedEventDetails"), "input"),
                "{\"in\":0.3}");
        ASSERT_STR_EQ(S(json_object_get(json_array_get(h.history, 2), "stateExitedEventDetails"), "output"),
                      "{\"in\":0.3,\"r\":{\"x\":1.1,\"y\":[0.1,2.5e-7,1e300]}}");
        h_done(&h);
}

TEST(map_legacy_iterator_with_processor_config) {
        H h;
        h_start(&h,
                "{'StartAt':'M','States':{'M':{'Type':'Map','ItemsPath':'$.xs',"
                "'Iterator':{'ProcessorConfig':{'Mode':'INLINE'},'StartAt':'P','States':{"
                "'P':{'Type':'Pass','Parameters':{'v.$':'$'},'End':true}}},'End':true}}}",
                "{'xs':[1,2]}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[{\"v\":1},{\"v\":2}]");
        h_done(&h);
}

/* Runtime errors carry Step Functions' causes: "An error occurred while executing the state '<name>'
 * (entered at the event id #<n>). <detail>". */
TEST(runtime_error_causes) {
        static const struct {
                const char *b, *input, *cause;
        } cases[] = {
                {"'Parameters':{'v.$':'$.p'}", "{'q':1}",
                 "An error occurred while executing the state 'B' (entered at the event id #4). The "
                 "JSONPath '$.p' "
                 "specified for the field 'v.$' could not be found in the input '{\"q\":1}'"},
                {"'InputPath':'$.x'", "{'q':1}",
                 "An error occurred while executing the state 'B' (entered at the event id #4). Invalid "
                 "path '$.x' : "
                 "No results for path: $['x']"},
                {"'OutputPath':'$.no.x'", "{'q':1}",
                 "An error occurred while executing the state 'B' (entered at the event id #4). Invalid "
                 "path "
                 "'$.no.x' : Missing property in path $['no']"},
                {"'Parameters':{'v.$':'States.Array($.nope)'}", "{'other':1}",
                 "An error occurred while executing the state 'B' (entered at the event id #4). The "
                 "function "
                 "'States.Array($.nope)' had the following error: The JsonPath argument for the field "
                 "'$.nope' "
                 "could not be found in the input '{\"other\":1}'"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char def[512];
                H h;

                snprintf(def, sizeof def,
                         "{'StartAt':'A','States':{'A':{'Type':'Pass','Next':'B'},'B':{'Type':'Pass',%s,'"
                         "End':true}}}",
                         cases[i].b);
                h_start(&h, def, cases[i].input);
                ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
                ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
                ASSERT_STR_EQ(S(h.finished, "cause"), cases[i].cause);
                h_done(&h);
        }
}

/* A path a Task's Parameters names that is not in the input is States.Runtime there too (AWS does not raise
 * States.ParameterPathFailure), and no Catch handles it. */
TEST(parameters_missing_path_is_runtime) {
        H h;

        h_start(&h,
                "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','Parameters':{'address.$':'$."
                "application.address'},"
                "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],'End':true},'C':{'Type':'Pass','End':"
                "true}}}",
                "{'flagged':false}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        ASSERT_STR_EQ(S(h.finished, "cause"),
                      "An error occurred while executing the state 'T' (entered at the event id "
                      "#2). The JSONPath '$.application.address' specified for the field "
                      "'address.$' could not be found in the input '{\"flagged\":false}'");
        h_done(&h);
}

/* Wait: SecondsPath must be a non-negative integer, the delay at most a year; each error States.Runtime with
 * Step Functions' text. */
TEST(wait_runtime_errors) {
        static const struct {
                const char *wait, *input, *detail;
        } cases[] = {
                {"'SecondsPath':'$.x'", "{'x':1.5}",
                 "The SecondsPath parameter cannot be parsed as a long value: $.x == 1.5"},
                {"'SecondsPath':'$.x'", "{'x':'10'}",
                 "The SecondsPath parameter cannot be parsed as a long value: $.x == 10"},
                {"'SecondsPath':'$.x'", "{'x':-1}",
                 "The SecondsPath parameter references a negative value: $.x == -1"},
                {"'SecondsPath':'$.x'", "{'y':1}", "Invalid path '$.x' : No results for path: $['x']"},
                {"'SecondsPath':'$.x'", "{'x':31536001}", "Wait state delay is too long"},
                {"'Seconds':99999999", "{}", "Wait state delay is too long"},
                {"'Timestamp':'2030-01-01T00:00:00Z'", "{}", "Wait state delay is too long"},
                {"'TimestampPath':'$.t'", "{'t':'2030-01-01T00:00:00Z'}", "Wait state delay is too long"},
                {"'TimestampPath':'$.t'", "{'t':'tomorrow'}",
                 "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time "
                 "format "
                 "string: $.t == tomorrow"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char def[512], cause[512];
                H h;

                snprintf(def, sizeof def, "{'StartAt':'W','States':{'W':{'Type':'Wait',%s,'End':true}}}",
                         cases[i].wait);
                snprintf(cause, sizeof cause,
                         "An error occurred while executing the state 'W' (entered at the event id #2). %s",
                         cases[i].detail);
                h_start(&h, def, cases[i].input);
                ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_SCHEDULE_TIMER), 0);
                ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
                ASSERT_STR_EQ(S(h.finished, "cause"), cause);
                h_done(&h);
        }

        /* A year exactly, and 0, still wait. */
        H h;
        h_start(&h, "{'StartAt':'W','States':{'W':{'Type':'Wait','SecondsPath':'$.x','End':true}}}",
                "{'x':31536000}");
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(
                json_integer_value(json_object_get(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "due_ms")),
                1700000000000LL + 31536000000LL);
        h_done(&h);
        h_start(&h,
                "{'StartAt':'W','States':{'W':{'Type':'Wait','SecondsPath':'$$.Execution.Input.x','End':"
                "true}}}",
                "{'x':0}");
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_SCHEDULE_TIMER), 1);
        h_done(&h);
}

/* A Task result over the payload limit fails the task with States.DataLimitExceeded, reported as a
 * TaskFailed (not a TaskSucceeded), which a States.ALL Catcher catches (as Step Functions does). */
#define BIG_STRING                                                                                          \
        "01234567890123456789012345678901234567890123456789012345678901234567890123456789"                  \
        "01234567890123456789012345678901234567890123456789012345678901234567890123456789"                  \
        "0123456789012345678901234567890123456789"
#define BIG_RESULT "{'x':'" BIG_STRING "'}"

TEST(task_result_over_limit_is_a_task_failure) {
        H h;

        h_init(&h,
               "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'arn:aws:states:::lambda:invoke',"
               "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],'End':true},'C':{'Type':'Pass','End':"
               "true}}}",
               "{}");
        h.env.max_payload_bytes = 200;
        h_event(&h, (AslEvent){.type = ASL_EVENT_START});
        char *tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, tid, BIG_RESULT), 0);
        free(tid);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"Error\":\"States.DataLimitExceeded\",\"Cause\":\"The state/task 'lambda' "
                       "returned a result "
                       "with a size exceeding the maximum number of bytes service limit.\"}");
        ASSERT_FALSE(history_has(&h, "TaskSucceeded"));
        char *types = history_types(&h);
        ASSERT_STR_EQ(types, "ExecutionStarted,TaskStateEntered,TaskScheduled,TaskFailed,TaskStateExited,"
                             "PassStateEntered,PassStateExited,ExecutionSucceeded");
        free(types);
        json_t *failed = json_object_get(json_array_get(h.history, 3), "taskFailedEventDetails");
        ASSERT_STR_EQ(S(failed, "error"), "States.DataLimitExceeded");
        ASSERT_STR_EQ(S(failed, "resourceType"), "lambda");
        h_done(&h);

        /* A Retry on States.ALL retries it too; a state's own output over the limit stays terminal for
         * States.ALL. */
        h_init(&h,
               "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r',"
               "'Retry':[{'ErrorEquals':['States.ALL'],'MaxAttempts':1}],'End':true}}}",
               "{}");
        h.env.max_payload_bytes = 200;
        h_event(&h, (AslEvent){.type = ASL_EVENT_START});
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, tid, BIG_RESULT), 0);
        free(tid);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_SCHEDULE_TIMER), 1);
        h_done(&h);

        h_init(&h,
               "{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':[{'StartAt':'X','States':{'X':{'"
               "Type':'Pass',"
               "'Result':'" BIG_STRING "','End':true}}}],"
               "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],'End':true},'C':{'Type':'Pass','End':"
               "true}}}",
               "{}");
        h.env.max_payload_bytes = 200;
        h_event(&h, (AslEvent){.type = ASL_EVENT_START});
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.DataLimitExceeded");
        h_done(&h);
        h_init(&h,
               "{'StartAt':'X','States':{'X':{'Type':'Pass',"
               "'Result':'" BIG_STRING "','End':true}}}",
               "{}");
        h.env.max_payload_bytes = 200;
        h_event(&h, (AslEvent){.type = ASL_EVENT_START});
        ASSERT_STR_EQ(S(h.finished, "error"), "States.DataLimitExceeded");
        ASSERT_STR_EQ(S(h.finished, "cause"),
                      "The state/task 'X' returned a result with a size exceeding the maximum "
                      "number of bytes service limit.");
        h_done(&h);
}

/* "$$" and "$$.Execution.Input" as InputPath / OutputPath: the context object and the execution input. */
TEST(context_object_as_input_and_output_path) {
        H h;

        h_start(&h,
                "{'StartAt':'A','States':{'A':{'Type':'Pass','Result':{'r':1},'ResultPath':'$.res','Next':'"
                "B'},"
                "'B':{'Type':'Pass','InputPath':'$$.Execution.Input','Next':'C'},"
                "'C':{'Type':'Pass','InputPath':'$$','OutputPath':'$.State','End':true}}}",
                "{'orig':true}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"Name\":\"C\",\"EnteredTime\":\"2023-11-14T22:13:20.000Z\","
                       "\"RetryCount\":0}");
        ASSERT_STR_EQ(S(json_object_get(json_array_get(h.history, 4), "stateExitedEventDetails"), "output"),
                      "{\"orig\":true}");
        h_done(&h);

        h_start(&h,
                "{'StartAt':'W','States':{'W':{'Type':'Wait','Seconds':0,'OutputPath':'$$.Execution.Input','"
                "End':true}}}",
                "{'orig':2}");
        char *timer = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        h_timer(&h, timer);
        free(timer);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"orig\":2}");
        h_done(&h);
}

/* $$.Execution.RoleArn: the execution's role, given when it starts (the coordinator's
 * execution_role_arn), else derived from the state machine's name. */
TEST(context_role_arn) {
        H h;

        h_start(&h,
                "{'StartAt':'A','States':{'A':{'Type':'Pass','Parameters':{'r.$':'$$.Execution.RoleArn'},'"
                "End':true}}}",
                "{}");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"r\":\"imgflow:role:test\"}");
        h_done(&h);

        /* given at start */
        h_init(&h,
               "{'StartAt':'A','States':{'A':{'Type':'Pass','Parameters':{'r.$':'$$.Execution.RoleArn',"
               "'e.$':'$$.Execution'},'End':true}}}",
               "{}");
        json_decref(h.exec);
        h.exec = NULL;
        AslError e = {};
        ASSERT_INT_EQ(asl_exec_new(h.m,
                                   &(AslExecInfo){.execution_id = "x",
                                                  .execution_name = "n",
                                                  .state_machine_name = "sm",
                                                  .role_arn = "arn:aws:iam::123456789012:role/R"},
                                   &h.env, &h.exec, &e),
                      0);
        h_event(&h, (AslEvent){.type = ASL_EVENT_START});
        ASSERT_STR_EQ(S(json_object_get(h.finished, "output"), "r"), "arn:aws:iam::123456789012:role/R");
        ASSERT_STR_EQ(S(json_object_get(json_object_get(h.finished, "output"), "e"), "RoleArn"),
                      "arn:aws:iam::123456789012:role/R");
        h_done(&h);

        /* a document written before roleArn was kept: derived */
        h_init(&h,
               "{'StartAt':'W','States':{'W':{'Type':'Wait','Seconds':1,'Next':'A'},"
               "'A':{'Type':'Pass','Parameters':{'r.$':'$$.Execution.RoleArn'},'End':true}}}",
               "{}");
        h_event(&h, (AslEvent){.type = ASL_EVENT_START});
        json_object_del(json_object_get(h.exec, "execution"), "roleArn");
        char *timer = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        h_timer(&h, timer);
        free(timer);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"r\":\"imgflow:role:test\"}");
        h_done(&h);
}

TEST(task_dispatch_result_and_stale) {
        H h;
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'arn:aws:lambda:us-east-1:1:function:F',"
                    "'InputPath':'$.img','Parameters':{'key.$':'$.key','fixed':2},"
                    "'ResultSelector':{'w.$':'$.Payload.width'},'ResultPath':'$.result','OutputPath':'$.result',"
                    "'End':true}}}",
                "{'img':{'key':'cat.jpg'}}");
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_STR_EQ(S(d, "resource"), "arn:aws:lambda:us-east-1:1:function:F");
        ASSERT_STR_EQ(S(d, "state"), "T");
        ASSERT_JSON_EQ(json_object_get(d, "input"), "{\"key\":\"cat.jpg\",\"fixed\":2}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "attempt")), 0);
        ASSERT_NULL(json_object_get(d, "token"));
        ASSERT_NULL(json_object_get(d, "index_path")); /* top level */
        char *tid = task_id_of(d);
        ASSERT_TRUE(history_has(&h, "LambdaFunctionScheduled")); /* a bare Lambda ARN */
        /* 128 random bits: a task id cannot be guessed */
        ASSERT_INT_EQ(strlen(tid), 32);
        ASSERT_INT_EQ(strspn(tid, "0123456789abcdef"), 32);

        /* unknown task: stale, no effects, document unchanged; so are
         * forged results for the small ids a counter would give */
        char *before = json_dumps(h.exec, JSON_SORT_KEYS);
        ASSERT_INT_EQ(h_succeed(&h, "999", "{}"), 1);
        ASSERT_INT_EQ(h.fx.n, 0);
        for (int i = 0; i <= 3; i++) {
                char forged[8];
                snprintf(forged, sizeof forged, "%d", i);
                ASSERT_INT_EQ(h_succeed(&h, forged, "{'forged':true}"), 1);
                ASSERT_INT_EQ(h.fx.n, 0);
                ASSERT_NULL(h.finished);
        }
        char *after = json_dumps(h.exec, JSON_SORT_KEYS);
        ASSERT_STR_EQ(before, after);
        free(before);
        free(after);

        ASSERT_INT_EQ(h_succeed(&h, tid, "{'Payload':{'width':640}}"), 0);
        ASSERT_NOT_NULL(h.finished);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"w\":640}");
        ASSERT_TRUE(history_has(&h, "LambdaFunctionSucceeded"));
        ASSERT_TRUE(history_has(&h, "TaskStateExited"));
        free(tid);
        h_done(&h);

        /* duplicate delivery of a result while the execution goes on */
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','Next':'U'},"
                    "'U':{'Type':'Task','Resource':'r','End':true}}}", "{}");
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, tid, "{'n':1}"), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        char *tid2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_FALSE(streq(tid, tid2));
        ASSERT_INT_EQ(h_succeed(&h, tid, "{'n':1}"), 1);
        ASSERT_INT_EQ(h_fail(&h, tid, "X", "y"), 1);
        ASSERT_INT_EQ(h_succeed(&h, tid2, "{'n':2}"), 0);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"n\":2}");
        free(tid);
        free(tid2);
        h_done(&h);
}

TEST(retry_backoff_max_delay_and_exhaustion) {
        H h;
        char *tid;
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r',"
                    "'Parameters':{'rc.$':'$$.State.RetryCount'},"
                    "'Retry':[{'ErrorEquals':['Other'],'MaxAttempts':5},"
                    "{'ErrorEquals':['Image.Transient'],'IntervalSeconds':2,'BackoffRate':3,'MaxAttempts':3,"
                    "'MaxDelaySeconds':10}],'End':true}}}", "{}");
        const long long delays[] = { 2000, 6000, 10000 };
        for (int i = 0; i < 3; i++) {
                json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
                ASSERT_NOT_NULL(d);
                ASSERT_INT_EQ(json_integer_value(json_object_get(d, "attempt")), i);
                ASSERT_JSON_EQ(json_object_get(d, "input"), i == 0 ? "{\"rc\":0}" : i == 1 ? "{\"rc\":1}" : "{\"rc\":2}");
                tid = task_id_of(d);
                ASSERT_INT_EQ(h_fail(&h, tid, "Image.Transient", "flaky"), 0);
                free(tid);
                ASSERT_NULL(h.finished);
                json_t *t = fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0);
                ASSERT_NOT_NULL(t);
                ASSERT_STR_EQ(S(t, "kind"), "retry");
                ASSERT_INT_EQ(json_integer_value(json_object_get(t, "due_ms")) - h.env.now_ms, delays[i]);
                ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
                char *timer = strdup(S(t, "timer_id"));
                h.env.now_ms += delays[i];
                ASSERT_INT_EQ(h_timer(&h, timer), 0);
                /* firing the same timer again is stale */
                char *saved = strdup(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "task_id"));
                ASSERT_INT_EQ(h_timer(&h, timer), 1);
                free(timer);
                /* restore the dispatch of the real firing for the next round */
                asl_effects_clear(&h.fx);
                h.fx.items = calloc(1, sizeof(AslEffect));
                h.fx.n = h.fx.allocated = 1;
                h.fx.items[0] = (AslEffect){ASL_EFFECT_DISPATCH_TASK,
                                            .dispatch = {.task_id = saved,
                                                         .attempt = i + 1,
                                                         .input = json_pack("{s:i}", "rc", i + 1)}};
                h_views(&h);
        }
        /* 4th failure: exhausted, no catch -> FAILED with the task's error */
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, tid, "Image.Transient", "still flaky"), 0);
        free(tid);
        ASSERT_NOT_NULL(h.finished);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "Image.Transient");
        ASSERT_STR_EQ(S(h.finished, "cause"), "still flaky");
        ASSERT_TRUE(history_has(&h, "ExecutionFailed"));
        h_done(&h);
}

TEST(retry_arithmetic_and_matching) {
        AslEnv env = { .random = half_random };
        json_t *r = Q("{'ErrorEquals':['States.ALL'],'IntervalSeconds':4,'BackoffRate':2.0}");

        ASSERT_INT_EQ(retry_delay_ms(r, 0, &env), 4000);
        ASSERT_INT_EQ(retry_delay_ms(r, 1, &env), 8000);
        ASSERT_INT_EQ(retry_delay_ms(r, 3, &env), 32000);
        json_object_set_new(r, "MaxDelaySeconds", json_integer(20));
        ASSERT_INT_EQ(retry_delay_ms(r, 3, &env), 20000);
        json_object_set_new(r, "JitterStrategy", json_string("FULL"));
        /* uniform in [0, 8000] with a draw of 0.5 */
        ASSERT_INT_EQ(retry_delay_ms(r, 1, &env), 4000);
        json_decref(r);
        /* defaults: 1 s, rate 2 */
        r = Q("{'ErrorEquals':['States.ALL']}");
        ASSERT_INT_EQ(retry_delay_ms(r, 2, &env), 4000);
        json_decref(r);

        json_t *all = Q("['States.ALL']"), *tf = Q("['States.TaskFailed']"), *ex = Q("['A.B','C']");
        ASSERT_TRUE(retry_error_matches(all, "Image.Invalid", false));
        ASSERT_TRUE(retry_error_matches(all, "States.Timeout", false));
        ASSERT_FALSE(retry_error_matches(all, "States.Runtime", false));
        ASSERT_FALSE(retry_error_matches(all, "States.DataLimitExceeded", false));
        /* A Task's failure is matched by States.ALL, a result over the limit too; States.Runtime never. */
        ASSERT_TRUE(retry_error_matches(all, "States.DataLimitExceeded", true));
        ASSERT_FALSE(retry_error_matches(all, "States.Runtime", true));
        ASSERT_TRUE(retry_error_matches(tf, "Image.Invalid", false));
        ASSERT_TRUE(retry_error_matches(tf, "States.HeartbeatTimeout", false));
        ASSERT_FALSE(retry_error_matches(tf, "States.Timeout", false));
        ASSERT_TRUE(retry_error_matches(ex, "C", false));
        ASSERT_FALSE(retry_error_matches(ex, "A", false));
        json_decref(all);
        json_decref(tf);
        json_decref(ex);

        /* first matching retrier decides, even when exhausted */
        json_t *retriers = Q("[{'ErrorEquals':['X'],'MaxAttempts':1},{'ErrorEquals':['States.ALL'],'MaxAttempts':5}]");
        json_t *counts = json_array();
        int64_t delay;
        size_t idx;
        ASSERT_INT_EQ(retry_decide(retriers, counts, "X", false, &env, &delay, &idx), 1);
        ASSERT_INT_EQ(idx, 0);
        ASSERT_INT_EQ(delay, 1000);
        ASSERT_INT_EQ(retry_decide(retriers, counts, "X", false, &env, &delay, &idx), 0);
        ASSERT_INT_EQ(retry_decide(retriers, counts, "Y", false, &env, &delay, &idx), 1);
        ASSERT_INT_EQ(idx, 1);
        ASSERT_JSON_EQ(counts, "[1,1]");
        json_decref(counts);
        json_decref(retriers);
}

TEST(max_attempts_zero_goes_to_catch_with_result_path) {
        H h;
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r',"
                    "'Retry':[{'ErrorEquals':['States.ALL'],'MaxAttempts':0}],"
                    "'Catch':[{'ErrorEquals':['Nope'],'Next':'Bad'},{'ErrorEquals':['States.TaskFailed'],"
                    "'ResultPath':'$.err','Next':'Handler'}],'Next':'Bad'},"
                    "'Handler':{'Type':'Pass','End':true},'Bad':{'Type':'Fail','Error':'Wrong'}}}",
                "{'key':'k'}");
        char *tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, tid, "Image.Invalid", "not an image"), 0);
        free(tid);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_SCHEDULE_TIMER), 0);
        ASSERT_NOT_NULL(h.finished);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"key\":\"k\",\"err\":{\"Error\":\"Image.Invalid\",\"Cause\":\"not an image\"}}");
        char *types = history_types(&h);
        ASSERT_TRUE(strstr(types, "TaskFailed,TaskStateExited,PassStateEntered") != NULL);
        free(types);
        h_done(&h);
}

TEST(parallel_results_in_order_and_failure_cancels_siblings) {
        const char *def =
                "{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
                "{'StartAt':'A','States':{'A':{'Type':'Task','Resource':'ra','End':true}}},"
                "{'StartAt':'B','States':{'B':{'Type':'Task','Resource':'rb','TimeoutSeconds':30,'End':true}}},"
                "{'StartAt':'C','States':{'C':{'Type':'Pass','Result':'c','End':true}}}],"
                "'ResultPath':'$.branches','Catch':[{'ErrorEquals':['States.ALL'],'Next':'Caught'}],'End':true},"
                "'Caught':{'Type':'Pass','End':true}}}";
        H h;
        h_start(&h, def, "{'v':1}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        char *ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *tb = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1), "input"), "{\"v\":1}");
        ASSERT_TRUE(history_has(&h, "ParallelStateStarted"));
        /* finish out of order: results keep branch order */
        ASSERT_INT_EQ(h_succeed(&h, tb, "'b'"), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(h_succeed(&h, ta, "'a'"), 0);
        ASSERT_NOT_NULL(h.finished);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"v\":1,\"branches\":[\"a\",\"b\",\"c\"]}");
        ASSERT_TRUE(history_has(&h, "ParallelStateSucceeded"));
        free(ta);
        free(tb);
        h_done(&h);

        /* branch A fails: B's task and its timeout timer are cancelled, Catch applies */
        h_start(&h, def, "{'v':1}");
        ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        tb = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        char *tb_timer = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        ASSERT_INT_EQ(h_fail(&h, ta, "Boom", "a broke"), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_CANCEL_TASK, 0), "task_id"), tb);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TIMER), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_CANCEL_TIMER, 0), "timer_id"), tb_timer);
        ASSERT_TRUE(history_has(&h, "ParallelStateFailed"));
        ASSERT_NOT_NULL(h.finished);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"Error\":\"Boom\",\"Cause\":\"a broke\"}");
        free(ta);
        free(tb);
        free(tb_timer);
        h_done(&h);

        /* the late result of a cancelled sibling is stale */
        h_start(&h, "{'StartAt':'P','States':{'P':{'Type':'Parallel','End':true,'Branches':["
                    "{'StartAt':'A','States':{'A':{'Type':'Task','Resource':'ra','End':true}}},"
                    "{'StartAt':'B','States':{'B':{'Type':'Task','Resource':'rb','Next':'B2'},"
                    "'B2':{'Type':'Task','Resource':'rb','End':true}}}]}}}", "{}");
        ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        tb = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, tb, "{}"), 0);
        char *tb2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, ta, "Boom", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "Boom");
        ASSERT_INT_EQ(h_succeed(&h, tb2, "{}"), -EINVAL); /* execution finished */
        free(ta);
        free(tb);
        free(tb2);
        h_done(&h);
}

TEST(parallel_state_retry) {
        H h;
        h_start(&h, "{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
                    "{'StartAt':'A','States':{'A':{'Type':'Task','Resource':'ra','End':true}}}],"
                    "'Retry':[{'ErrorEquals':['Boom'],'IntervalSeconds':1,'MaxAttempts':1}],'End':true}}}", "{}");
        char *ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, ta, "Boom", NULL), 0);
        free(ta);
        json_t *t = fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0);
        ASSERT_STR_EQ(S(t, "kind"), "retry");
        char *timer = strdup(S(t, "timer_id"));
        ASSERT_INT_EQ(h_timer(&h, timer), 0);
        free(timer);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, ta, "'ok'"), 0);
        free(ta);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"ok\"]");
        h_done(&h);
}

#define MAP_DEF                                                                                         \
        "{'StartAt':'M','States':{'M':{'Type':'Map','ItemsPath':'$.items','MaxConcurrency':2,"             \
        "'ItemSelector':{'i.$':'$$.Map.Item.Index','v.$':'$$.Map.Item.Value','tag.$':'$.tag'},"           \
        "'ItemProcessor':{'StartAt':'W','States':{'W':{'Type':'Task','Resource':'work','End':true}}},"    \
        "%s'End':true}}}"

static void map_start(H *h, const char *extra, const char *input) {
        char *def;
        if (asprintf(&def, MAP_DEF, extra) < 0)
                abort();
        h_start(h, def, input);
        free(def);
}

TEST(map_max_concurrency_results_in_order) {
        H h;
        json_t *pending = json_array(); /* task ids outstanding */
        size_t max_seen = 0, dispatched = 0;

        map_start(&h, "", "{'items':['a','b','c','d','e'],'tag':'T'}");
        for (;;) {
                for (size_t i = 0; i < fx_count(&h, ASL_EFFECT_DISPATCH_TASK); i++) {
                        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, i);
                        json_t *in = json_object_get(d, "input");
                        char want[32];
                        ASSERT_INT_EQ(json_integer_value(json_object_get(in, "i")), dispatched);
                        ASSERT_STR_EQ(S(in, "tag"), "T");
                        /* the iteration's $$.Map.Item.Index */
                        snprintf(want, sizeof(want), "%zu", dispatched);
                        ASSERT_STR_EQ(S(d, "index_path"), want);
                        json_array_append_new(pending, json_string(S(d, "task_id")));
                        dispatched++;
                }
                if (json_array_size(pending) > max_seen)
                        max_seen = json_array_size(pending);
                ASSERT_TRUE(json_array_size(pending) <= 2);
                /* the document never holds more than 2 iteration frames (+ root) */
                ASSERT_TRUE(json_object_size(json_object_get(h.exec, "frames")) <= 3);
                if (h.finished || json_array_size(pending) == 0)
                        break;
                /* complete the NEWEST first, to scramble completion order */
                size_t last = json_array_size(pending) - 1;
                char *tid = strdup(json_string_value(json_array_get(pending, last)));
                json_array_remove(pending, last);
                char *out;
                if (asprintf(&out, "'r%s'", tid) < 0)
                        abort();
                /* progress is visible for describe */
                size_t done, total;
                asl_exec_map_progress(h.exec, &done, &total);
                ASSERT_INT_EQ(total, 5);
                ASSERT_INT_EQ(h_succeed(&h, tid, "{}"), 0);
                free(out);
                free(tid);
        }
        ASSERT_INT_EQ(max_seen, 2);
        ASSERT_INT_EQ(dispatched, 5);
        ASSERT_NOT_NULL(h.finished);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_INT_EQ(json_array_size(json_object_get(h.finished, "output")), 5);
        h_done(&h);
        json_decref(pending);

        /* results in item order with distinguishable outputs */
        map_start(&h, "", "{'items':[10,20,30],'tag':'T'}");
        char *t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, t1, "'second'"), 0);
        char *t2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t2, "'third'"), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(h_succeed(&h, t0, "'first'"), 0);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"first\",\"second\",\"third\"]");
        char *types = history_types(&h);
        ASSERT_TRUE(strstr(types, "MapStateEntered,MapStateStarted,MapIterationStarted,MapIterationStarted,TaskStateEntered") != NULL);
        ASSERT_TRUE(strstr(types, "MapIterationSucceeded") != NULL);
        ASSERT_TRUE(strstr(types, "MapStateSucceeded,MapStateExited,ExecutionSucceeded") != NULL);
        free(types);
        free(t0);
        free(t1);
        free(t2);
        h_done(&h);
}

TEST(map_empty_and_inline_pass) {
        H h;
        map_start(&h, "", "{'items':[],'tag':'T'}");
        ASSERT_NOT_NULL(h.finished);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[]");
        h_done(&h);

        /* 300 Pass iterations with default concurrency complete in one call */
        h_start(&h, "{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'StartAt':'P','States':{"
                    "'P':{'Type':'Pass','End':true}}},'End':true}}}", NULL);
        h_done(&h);
        json_t *items = json_array();
        for (int i = 0; i < 300; i++)
                json_array_append_new(items, json_integer(i));
        char *in = json_dumps(items, 0);
        h_start(&h, "{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'StartAt':'P','States':{"
                    "'P':{'Type':'Pass','End':true}}},'End':true}}}", in);
        ASSERT_NOT_NULL(h.finished);
        ASSERT_TRUE(json_equal(json_object_get(h.finished, "output"), items));
        free(in);
        json_decref(items);
        h_done(&h);

        /* ItemsPath not an array -> States.Runtime */
        map_start(&h, "", "{'items':{'a':1},'tag':'T'}");
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        h_done(&h);
}

TEST(map_tolerated_failures) {
        H h;
        /* 1 of 3 failing is tolerated with ToleratedFailureCount 1 */
        map_start(&h, "'ToleratedFailureCount':1,", "{'items':[1,2,3],'tag':'T'}");
        char *t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_fail(&h, t0, "Image.Invalid", "bad"), 0);
        ASSERT_TRUE(history_has(&h, "MapIterationFailed"));
        char *t2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t1, "2"), 0);
        ASSERT_INT_EQ(h_succeed(&h, t2, "3"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "[{\"Error\":\"Image.Invalid\",\"Cause\":\"bad\"},2,3]");
        free(t0);
        free(t1);
        free(t2);
        h_done(&h);

        /* 2 failures exceed it: the Map fails and cancels what still runs */
        map_start(&h, "'ToleratedFailureCount':1,", "{'items':[1,2,3,4],'tag':'T'}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_fail(&h, t0, "E", NULL), 0);
        t2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t1, "E", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_CANCEL_TASK, 0), "task_id"), t2);
        ASSERT_TRUE(history_has(&h, "MapIterationAborted"));
        ASSERT_TRUE(history_has(&h, "MapStateFailed"));
        free(t0);
        free(t1);
        free(t2);
        h_done(&h);

        /* percentage: 1 of 4 = 25% <= 25% tolerated */
        map_start(&h, "'ToleratedFailurePercentage':25,", "{'items':[1,2,3,4],'tag':'T'}");
        for (int k = 0; k < 4; k++) {
                char *t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
                if (k == 0)
                        ASSERT_INT_EQ(h_fail(&h, t, "E", NULL), 0);
                else
                        ASSERT_INT_EQ(h_succeed(&h, t, "1"), 0);
                free(t);
                if (k < 3 && !fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0)) {
                        /* the other running one: complete it via the document */
                        const char *id;
                        json_t *v;
                        json_object_foreach(json_object_get(h.exec, "tasks"), id, v) {
                                char *tt = strdup(id);
                                ASSERT_INT_EQ(h_succeed(&h, tt, "1"), 0);
                                free(tt);
                                k++;
                                break;
                        }
                }
        }
        ASSERT_NOT_NULL(h.finished);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        h_done(&h);

        /* no tolerance configured: the iteration's own error fails the Map */
        map_start(&h, "", "{'items':[1,2],'tag':'T'}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t0, "Image.Invalid", "bad"), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "Image.Invalid");
        free(t0);
        h_done(&h);
}

TEST(task_timeout_and_heartbeat) {
        H h;
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','TimeoutSeconds':5,"
                    "'HeartbeatSeconds':2,'Catch':[{'ErrorEquals':['States.Timeout'],'Next':'TO'},"
                    "{'ErrorEquals':['States.TaskFailed'],'Next':'HB'}],'End':true},"
                    "'TO':{'Type':'Pass','Result':'timeout','End':true},"
                    "'HB':{'Type':'Pass','Result':'heartbeat','End':true}}}", "{}");
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "timeout_seconds")), 5);
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "heartbeat_seconds")), 2);
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "deadline_ms")), h.env.now_ms + 5000);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_SCHEDULE_TIMER), 2);
        char *tid = task_id_of(d);
        char *to_timer = NULL, *hb_timer = NULL;
        for (int i = 0; i < 2; i++) {
                json_t *t = fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, i);
                if (streq(S(t, "kind"), "timeout")) {
                        to_timer = strdup(S(t, "timer_id"));
                        ASSERT_INT_EQ(json_integer_value(json_object_get(t, "due_ms")), h.env.now_ms + 5000);
                } else {
                        ASSERT_STR_EQ(S(t, "kind"), "heartbeat");
                        hb_timer = strdup(S(t, "timer_id"));
                }
        }
        ASSERT_NOT_NULL(to_timer);
        ASSERT_NOT_NULL(hb_timer);

        /* a heartbeat pushes the heartbeat timer (same id) */
        h.env.now_ms += 1500;
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_HEARTBEAT, .task_id = tid }), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_SCHEDULE_TIMER), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"), hb_timer);
        ASSERT_INT_EQ(json_integer_value(json_object_get(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "due_ms")),
                      h.env.now_ms + 2000);

        /* the timeout fires: States.Timeout, the task is cancelled, heartbeat timer dropped */
        h.env.now_ms += 3500;
        ASSERT_INT_EQ(h_timer(&h, to_timer), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TIMER), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_CANCEL_TIMER, 0), "timer_id"), hb_timer);
        ASSERT_TRUE(history_has(&h, "TaskTimedOut"));
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "\"timeout\"");
        /* the late result is stale */
        h_done(&h);

        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','TimeoutSeconds':5,"
                    "'HeartbeatSeconds':2,'Catch':[{'ErrorEquals':['States.Timeout'],'Next':'TO'},"
                    "{'ErrorEquals':['States.TaskFailed'],'ResultPath':'$.e','Next':'HB'}],'Next':'TO'},"
                    "'TO':{'Type':'Pass','Result':'timeout','End':true},"
                    "'HB':{'Type':'Pass','End':true}}}", "{}");
        free(tid);
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        free(hb_timer);
        hb_timer = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 1), "timer_id"));
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 1), "kind"), "heartbeat");
        /* a heartbeat at 1.9 s moves the timer to 3.9 s; a firing of the old
         * due time (claimed just before the heartbeat) keeps the task alive */
        h.env.now_ms += 1900;
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_HEARTBEAT, .task_id = tid }), 0);
        h.env.now_ms += 150;
        ASSERT_INT_EQ(h_timer(&h, hb_timer), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_SCHEDULE_TIMER), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"), hb_timer);
        ASSERT_FALSE(history_has(&h, "TaskTimedOut"));
        /* no heartbeat since: at the moved due time it times out */
        h.env.now_ms += 1850;
        ASSERT_INT_EQ(h_timer(&h, hb_timer), 0);
        ASSERT_STR_EQ(S(json_object_get(json_object_get(h.finished, "output"), "e"), "Error"),
                      "States.HeartbeatTimeout");
        free(tid);
        free(to_timer);
        free(hb_timer);
        h_done(&h);

        /* TimeoutSecondsPath */
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','TimeoutSecondsPath':'$.t',"
                    "'End':true}}}", "{'t':7}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "timeout_seconds")), 7);
        h_done(&h);
}

TEST(wait_choice_succeed_fail) {
        H h;
        const char *def =
                "{'StartAt':'W','States':{"
                "'W':{'Type':'Wait','SecondsPath':'$.delay','Next':'C'},"
                "'C':{'Type':'Choice','Choices':[{'Variable':'$.n','NumericGreaterThan':10,'Next':'Big'},"
                "{'Variable':'$.n','NumericLessThan':0,'Next':'Neg'}],'Default':'Small'},"
                "'Big':{'Type':'Succeed','OutputPath':'$.n'},"
                "'Small':{'Type':'Fail','Error':'TooSmall','Cause':'n too small'},"
                "'Neg':{'Type':'Fail','ErrorPath':'$.err','CausePath':'$.why'}}}";
        h_start(&h, def, "{'delay':30,'n':42}");
        json_t *t = fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0);
        ASSERT_STR_EQ(S(t, "kind"), "wait");
        ASSERT_INT_EQ(json_integer_value(json_object_get(t, "due_ms")), h.env.now_ms + 30000);
        char *timer = strdup(S(t, "timer_id"));
        ASSERT_INT_EQ(h_timer(&h, "nope"), 1);
        h.env.now_ms += 30000;
        ASSERT_INT_EQ(h_timer(&h, timer), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "42");
        char *types = history_types(&h);
        ASSERT_STR_EQ(types, "ExecutionStarted,WaitStateEntered,WaitStateExited,ChoiceStateEntered,ChoiceStateExited,"
                             "SucceedStateEntered,SucceedStateExited,ExecutionSucceeded");
        free(types);
        free(timer);
        h_done(&h);

        h_start(&h, def, "{'delay':0,'n':3}");
        timer = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        ASSERT_INT_EQ(h_timer(&h, timer), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "TooSmall");
        ASSERT_STR_EQ(S(h.finished, "cause"), "n too small");
        ASSERT_TRUE(history_has(&h, "FailStateEntered"));
        free(timer);
        h_done(&h);

        h_start(&h, def, "{'delay':0,'n':-1,'err':'Neg.Error','why':'negative'}");
        timer = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        ASSERT_INT_EQ(h_timer(&h, timer), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "Neg.Error");
        ASSERT_STR_EQ(S(h.finished, "cause"), "negative");
        free(timer);
        h_done(&h);

        /* no rule matches, no Default: States.NoChoiceMatched */
        h_start(&h, "{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Variable':'$.n',"
                    "'NumericEquals':1,'Next':'S'}]},'S':{'Type':'Succeed'}}}", "{'n':2}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.NoChoiceMatched");
        h_done(&h);

        /* Wait Timestamp in the past still goes through a timer, due now or earlier */
        h_start(&h, "{'StartAt':'W','States':{'W':{'Type':'Wait','Timestamp':'2016-03-14T01:59:00Z','End':true}}}", "{}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "due_ms")),
                      1457920740000LL);
        h_done(&h);
}

TEST(stop_cancels_everything) {
        H h;
        h_start(&h, "{'StartAt':'P','States':{'P':{'Type':'Parallel','End':true,'Branches':["
                    "{'StartAt':'A','States':{'A':{'Type':'Task','Resource':'r','HeartbeatSeconds':5,'End':true}}},"
                    "{'StartAt':'W','States':{'W':{'Type':'Wait','Seconds':100,'End':true}}}]}}}", "{}");
        char *ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_STOP, .error = "User", .cause = "stopped" }), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "ABORTED");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TIMER), 2);
        ASSERT_TRUE(history_has(&h, "ExecutionAborted"));
        ASSERT_STR_EQ(asl_exec_status(h.exec), "ABORTED");
        ASSERT_INT_EQ(h_succeed(&h, ta, "{}"), -EINVAL);
        free(ta);
        h_done(&h);
}

TEST(execution_timeout) {
        H h;
        h_start(&h, "{'TimeoutSeconds':60,'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','End':true}}}", "{}");
        json_t *t = fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0);
        ASSERT_STR_EQ(S(t, "kind"), "execution_timeout");
        ASSERT_INT_EQ(json_integer_value(json_object_get(t, "due_ms")), h.env.now_ms + 60000);
        char *timer = strdup(S(t, "timer_id"));
        ASSERT_INT_EQ(h_timer(&h, timer), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "TIMED_OUT");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Timeout");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1);
        ASSERT_TRUE(history_has(&h, "ExecutionTimedOut"));
        free(timer);
        h_done(&h);
}

TEST(wait_for_task_token) {
        H h;
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'arn:aws:states:::sqs:sendMessage.waitForTaskToken',"
                    "'Parameters':{'token.$':'$$.Task.Token'},'End':true}}}", "{}");
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        const char *token = S(d, "token");
        ASSERT_NOT_NULL(token);
        ASSERT_INT_EQ(strlen(token), 32);
        ASSERT_STR_EQ(S(json_object_get(d, "input"), "token"), token);
        char *tok = strdup(token), *tid = task_id_of(d);
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid,
                                               .token = "00000000000000000000000000000000", .output = json_null() }),
                      -EINVAL);
        ASSERT_NULL(h.finished);
        /* the invoked function's own result, or a forged result naming the task
         * id, does not close a callback task: only its token does */
        json_t *forged = Q("{'forged':true}");
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid,
                                               .output = forged }), 1);
        json_decref(forged);
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_HEARTBEAT, .task_id = tid }), 1);
        ASSERT_NULL(h.finished);
        json_t *o = Q("{'ok':1}");
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .token = tok,
                                               .output = o }), 0);
        json_decref(o);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"ok\":1}");
        free(tok);
        free(tid);
        h_done(&h);
}

static const char *loop_def =
        "{'StartAt':'A','States':{'A':{'Type':'Pass','Next':'B'},'B':{'Type':'Choice','Choices':["
        "{'Variable':'$.stop','IsPresent':true,'Next':'Done'}],'Default':'A'},'Done':{'Type':'Succeed'}}}";

TEST(limits_history_budget_payload_map_items) {
        H h;
        /* an endless Pass loop: the history limit ends it */
        h_init(&h, loop_def, "{}");
        h.env.max_history_events = 50;
        h_event(&h, (AslEvent) { .type = ASL_EVENT_START });
        ASSERT_INT_EQ(h.r, 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "history limit") != NULL);
        ASSERT_INT_EQ(json_array_size(h.history), 50);
        ASSERT_STR_EQ(S(json_array_get(h.history, 49), "type"), "ExecutionFailed");
        h_done(&h);

        /* with a huge history limit the per-call step budget ends it */
        h_init(&h, loop_def, "{}");
        h.env.max_history_events = 100000000;
        h_event(&h, (AslEvent) { .type = ASL_EVENT_START });
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "budget") != NULL);
        h_done(&h);

        /* execution input over the payload limit */
        {
                AslMachine *m = NULL;
                AslDiag d = {};
                const char *text = "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true}}}";
                AslEnv env = { .max_payload_bytes = 10 };
                json_t *in = Q("{'data':'0123456789'}"), *exec = NULL;
                AslError e = {};
                ASSERT_INT_EQ(asl_machine_parse(text, strlen(text), &m, &d), 0);
                ASSERT_INT_EQ(asl_exec_new(m, &(AslExecInfo) { .input = in }, &env, &exec, &e), -EINVAL);
                ASSERT_NULL(exec);
                ASSERT_NOT_NULL(e.error);
                asl_error_clear(&e);
                json_decref(in);
                asl_machine_free(m);
        }

        /* a task result over the limit: States.DataLimitExceeded, by name first */
        h_init(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','Catch':["
                   "{'ErrorEquals':['States.DataLimitExceeded'],'Next':'Big'},"
                   "{'ErrorEquals':['States.ALL'],'Next':'All'}],'End':true},"
                   "'All':{'Type':'Fail','Error':'All'},'Big':{'Type':'Pass','Result':'big','End':true}}}", "{}");
        h.env.max_payload_bytes = 64;
        h_event(&h, (AslEvent) { .type = ASL_EVENT_START });
        char *tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, tid, "{'x':'0123456789012345678901234567890123456789012345678901234567890123456789'}"), 0);
        free(tid);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "\"big\"");
        h_done(&h);

        /* without a Catch the execution fails with it */
        h_init(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','End':true}}}", "{}");
        h.env.max_payload_bytes = 64;
        h_event(&h, (AslEvent) { .type = ASL_EVENT_START });
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, tid, "{'x':'0123456789012345678901234567890123456789012345678901234567890123456789'}"), 0);
        free(tid);
        ASSERT_STR_EQ(S(h.finished, "error"), "States.DataLimitExceeded");
        ASSERT_STR_EQ(S(h.finished, "cause"),
                      "The state/task 'r' returned a result with a size exceeding the maximum "
                      "number of bytes service limit.");
        h_done(&h);

        /* too many Map items */
        json_t *items = json_array();
        for (int i = 0; i <= ASL_MAX_MAP_ITEMS; i++)
                json_array_append_new(items, json_integer(0));
        json_t *input = json_pack("{s:o}", "items", items);
        char *text = json_dumps(input, JSON_COMPACT);
        h_init(&h, "{'StartAt':'M','States':{'M':{'Type':'Map','ItemsPath':'$.items','ItemProcessor':"
                   "{'StartAt':'P','States':{'P':{'Type':'Pass','End':true}}},'End':true}}}", text);
        h_event(&h, (AslEvent) { .type = ASL_EVENT_START });
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "limit") != NULL);
        free(text);
        json_decref(input);
        h_done(&h);
}

TEST(malformed_events_and_documents) {
        H h;
        AslError e = {};
        h_init(&h, "{'StartAt':'A','States':{'A':{'Type':'Pass','End':true}}}", "{}");
        /* events before START are rejected */
        ASSERT_INT_EQ(h_timer(&h, "1"), -EINVAL);
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_START }), 0);
        json_t *bad = json_object();
        AslEffects fx = {};
        ASSERT_INT_EQ(asl_exec_handle(h.m, bad, &(AslEvent) { .type = ASL_EVENT_START }, &h.env, &fx, &e), -EBADMSG);
        ASSERT_INT_EQ(fx.n, 0);
        json_decref(bad);
        asl_error_clear(&e);
        h_done(&h);
}

TEST(nested_parallel_in_map_with_iteration_retry) {
        H h;
        /* each iteration: a Parallel of a Task (retried once) and a Pass */
        h_start(&h, "{'StartAt':'M','States':{'M':{'Type':'Map','MaxConcurrencyPath':'$.mc','ItemsPath':'$.items',"
                    "'ItemProcessor':{'StartAt':'P','States':{'P':{'Type':'Parallel','End':true,'Branches':["
                    "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','End':true,"
                    "'Retry':[{'ErrorEquals':['Flaky'],'MaxAttempts':1}]}}},"
                    "{'StartAt':'X','States':{'X':{'Type':'Pass','Result':'x','End':true}}}]}}},'End':true}}}",
                "{'mc':1,'items':[1,2]}");
        /* MaxConcurrencyPath 1: one task at a time */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        char *t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"), "1");
        /* iteration 0 of M, branch 0 of P */
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "index_path"), "0.0");
        ASSERT_INT_EQ(h_fail(&h, t, "Flaky", NULL), 0);
        free(t);
        char *timer = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        h.env.now_ms += 1000;
        ASSERT_INT_EQ(h_timer(&h, timer), 0);
        free(timer);
        t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(json_integer_value(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "attempt")), 1);
        /* the retry runs at the same place */
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "index_path"), "0.0");
        ASSERT_INT_EQ(h_succeed(&h, t, "'one'"), 0);
        free(t);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"), "2");
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "index_path"), "1.0");
        t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t, "'two'"), 0);
        free(t);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[[\"one\",\"x\"],[\"two\",\"x\"]]");
        /* finished child frames are gone */
        ASSERT_INT_EQ(json_object_size(json_object_get(h.exec, "frames")), 0);
        h_done(&h);
}

TEST(map_state_retry_and_item_selector_failure) {
        H h;
        /* the Map itself is retried when an iteration fails */
        h_start(&h, "{'StartAt':'M','States':{'M':{'Type':'Map','ItemProcessor':{'StartAt':'T','States':{"
                    "'T':{'Type':'Task','Resource':'r','End':true}}},"
                    "'Retry':[{'ErrorEquals':['E'],'IntervalSeconds':3,'MaxAttempts':1}],'End':true}}}", "[1,2]");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        char *t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_fail(&h, t0, "E", NULL), 0);
        /* the other iteration is cancelled, the Map waits 3 s and starts over */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_CANCEL_TASK, 0), "task_id"), t1);
        json_t *tm = fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0);
        ASSERT_STR_EQ(S(tm, "kind"), "retry");
        ASSERT_INT_EQ(json_integer_value(json_object_get(tm, "due_ms")) - h.env.now_ms, 3000);
        char *timer = strdup(S(tm, "timer_id"));
        ASSERT_INT_EQ(h_succeed(&h, t1, "1"), 1);
        ASSERT_INT_EQ(h_timer(&h, timer), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        free(t0);
        free(t1);
        free(timer);
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, t0, "'a'"), 0);
        ASSERT_INT_EQ(h_succeed(&h, t1, "'b'"), 0);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"a\",\"b\"]");
        free(t0);
        free(t1);
        h_done(&h);

        /* an ItemSelector path that does not exist: the Map fails with
         * States.Runtime, which no Catch handles (as Step Functions) */
        h_start(&h,
                "{'StartAt':'M','States':{'M':{'Type':'Map','ItemSelector':{'x.$':'$$.Map.Item.Value."
                "missing'},"
                "'ItemProcessor':{'StartAt':'P','States':{'P':{'Type':'Pass','End':true}}},"
                "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],'End':true},"
                "'C':{'Type':'Pass','End':true}}}",
                "[{'a':1}]");
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        ASSERT_STR_EQ(S(h.finished, "cause"),
                      "An error occurred while executing the state 'M' (entered at the event "
                      "id #2). The JSONPath '$$.Map.Item.Value.missing' specified for the "
                      "field 'x.$' could not be found in the input '[{\"a\":1}]'");
        h_done(&h);
}

TEST(runtime_errors_are_not_caught) {
        H h;
        /* A Parameters path not found in a branch is States.Runtime: the Parallel's States.ALL does not
         * catch it ... */
        h_start(&h, "{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
                    "{'StartAt':'X','States':{'X':{'Type':'Pass','Parameters':{'a.$':'$.nope'},'End':true}}}],"
                    "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],'End':true},'C':{'Type':'Pass','End':true}}}", "{}");
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        h_done(&h);
        /* ... nor an InputPath not found */
        h_start(&h, "{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
                    "{'StartAt':'X','States':{'X':{'Type':'Pass','InputPath':'$.nope','End':true}}}],"
                    "'Retry':[{'ErrorEquals':['States.ALL']}],"
                    "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'C'}],'End':true},'C':{'Type':'Pass','End':true}}}", "{}");
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        h_done(&h);

        /* ResultPathMatchFailure of a Task is catchable */
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','ResultPath':'$.s.x',"
                    "'Catch':[{'ErrorEquals':['States.ResultPathMatchFailure'],'ResultPath':'$.err','Next':'C'}],'End':true},"
                    "'C':{'Type':'Pass','End':true}}}", "{'s':'str'}");
        char *t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t, "1"), 0);
        free(t);
        ASSERT_STR_EQ(S(json_object_get(json_object_get(h.finished, "output"), "err"), "Error"),
                      "States.ResultPathMatchFailure");
        h_done(&h);
}

TEST(history_details_and_context) {
        H h;
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'arn:aws:states:::lambda:invoke',"
                    "'Parameters':{'FunctionName':'F','Payload':{'exec.$':'$$.Execution.Id','sm.$':'$$.StateMachine.Name',"
                    "'entered.$':'$$.State.EnteredTime','in.$':'$$.Execution.Input.k'}},'TimeoutSeconds':9,'End':true}}}",
                "{'k':'v'}");
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_JSON_EQ(json_object_get(json_object_get(d, "input"), "Payload"),
                       "{\"exec\":\"imgflow:execution:test:e1\",\"sm\":\"test\",\"entered\":\"2023-11-14T22:"
                       "13:20.000Z\",\"in\":\"v\"}");
        json_t *sched = NULL;
        size_t i;
        json_t *ev;
        json_array_foreach(h.history, i, ev)
                if (streq(S(ev, "type"), "TaskScheduled"))
                        sched = json_object_get(ev, "taskScheduledEventDetails");
        ASSERT_NOT_NULL(sched);
        ASSERT_STR_EQ(S(sched, "resourceType"), "lambda");
        ASSERT_STR_EQ(S(sched, "resource"), "invoke");
        ASSERT_INT_EQ(json_integer_value(json_object_get(sched, "timeoutInSeconds")), 9);
        ASSERT_TRUE(strstr(S(sched, "parameters"), "\"FunctionName\":\"F\"") != NULL);
        char *t = task_id_of(d);
        ASSERT_INT_EQ(h_fail(&h, t, "Lambda.Unknown", "boom"), 0);
        free(t);
        json_t *failed = NULL;
        json_array_foreach(h.history, i, ev)
                if (streq(S(ev, "type"), "TaskFailed"))
                        failed = json_object_get(ev, "taskFailedEventDetails");
        ASSERT_STR_EQ(S(failed, "error"), "Lambda.Unknown");
        ASSERT_STR_EQ(S(failed, "cause"), "boom");
        ev = json_array_get(h.history, json_array_size(h.history) - 1);
        ASSERT_STR_EQ(S(ev, "type"), "ExecutionFailed");
        ASSERT_STR_EQ(S(json_object_get(ev, "executionFailedEventDetails"), "error"), "Lambda.Unknown");
        ASSERT_STR_EQ(asl_effect_type_to_string(ASL_EFFECT_DISPATCH_TASK), "DISPATCH_TASK");
        ASSERT_NULL(asl_effect_type_to_string(_ASL_EFFECT_MAX));
        h_done(&h);
}

static json_t *event_of(H *h, const char *type);

/* The details of the first event of a type, or NULL. */
static json_t *details_of(H *h, const char *type, const char *key) {
        size_t i;
        json_t *ev;

        json_array_foreach (h->history, i, ev)
                if (streq(S(ev, "type"), type))
                        return json_object_get(ev, key);
        return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

/* A .waitForTaskToken task: the invoking worker's own messages record
 * TaskStarted (naming the worker) and, with its result, TaskSubmitted (the
 * invocation's output), once each, as Step Functions records the service's
 * answer before it waits; the task stays open until its token answers. */
TEST(wait_for_task_token_started_and_submitted) {
        H h;
        char *types;
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'arn:aws:states:::sqs:sendMessage.waitForTaskToken',"
                    "'Parameters':{'token.$':'$$.Task.Token'},'End':true}}}", "{}");
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        char *tok = strdup(S(d, "token")), *tid = task_id_of(d);
        json_t *sent = Q("{'MessageId':'m-1'}");

        /* a heartbeat while the task is still queued at the worker: nothing */
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_HEARTBEAT, .task_id = tid,
                                               .worker = "host:2" }), 1);
        h.env.now_ms += 1000;
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .output = sent,
                                               .started = true, .worker = "host:2",
                                               .started_ms = h.env.now_ms - 300 }), 0);
        ASSERT_NULL(h.finished);
        types = history_types(&h);
        ASSERT_TRUE(ends_with(types, "TaskScheduled,TaskStarted,TaskSubmitted"));
        free(types);
        ASSERT_JSON_EQ(details_of(&h, "TaskStarted", "taskStartedEventDetails"),
                       "{\"resourceType\":\"sqs\",\"resource\":\"sendMessage.waitForTaskToken\",\"workerName\":\"host:2\"}");
        ASSERT_JSON_EQ(details_of(&h, "TaskSubmitted", "taskSubmittedEventDetails"),
                       "{\"resourceType\":\"sqs\",\"resource\":\"sendMessage.waitForTaskToken\","
                       "\"output\":\"{\\\"MessageId\\\":\\\"m-1\\\"}\",\"outputDetails\":{\"truncated\":false}}");
        /* once each: the same result again, or a later heartbeat, records nothing */
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .output = sent,
                                               .started = true, .worker = "host:2" }), 1);
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_HEARTBEAT, .task_id = tid, .started = true,
                                               .worker = "host:2" }), 1);
        json_decref(sent);
        /* the token closes it */
        json_t *o = Q("{'ok':1}");
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .token = tok,
                                               .output = o }), 0);
        json_decref(o);
        types = history_types(&h);
        ASSERT_TRUE(ends_with(types, "TaskSucceeded,TaskStateExited,ExecutionSucceeded"));
        free(types);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"ok\":1}");
        free(tok);
        free(tid);
        h_done(&h);
}

/* A Task whose Resource is a Lambda function's ARN records Step Functions'
 * LambdaFunction* events with their details; any other Resource Task*
 * events. The worker's result records TaskStarted first, with the worker
 * and the time it started the task. */
TEST(lambda_function_events_and_task_started) {
        H h;
        json_t *d, *ev;
        char *tid, *types;
        json_t *o;

        h_start(&h,
                "{'StartAt':'L','States':{'L':{'Type':'Task','Resource':"
                "'arn:aws:lambda:us-east-1:123456789012:function:Resize','TimeoutSeconds':30,"
                "'Retry':[{'ErrorEquals':['Img.Bad','States.Timeout'],'IntervalSeconds':1}],'Next':'T'},"
                "'T':{'Type':'Task','Resource':'imgflow:image.optimize','End':true}}}",
                "{'key':'a.jpg'}");
        d = details_of(&h, "LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails");
        ASSERT_NOT_NULL(d);
        ASSERT_STR_EQ(S(d, "resource"), "arn:aws:lambda:us-east-1:123456789012:function:Resize");
        ASSERT_STR_EQ(S(d, "input"), "{\"key\":\"a.jpg\"}");
        ASSERT_JSON_EQ(json_object_get(d, "inputDetails"), "{\"truncated\":false}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "timeoutInSeconds")), 30);
        ASSERT_NULL(json_object_get(d, "resourceType"));
        ASSERT_NULL(json_object_get(d, "parameters"));

        /* the worker fails it: LambdaFunctionStarted (started 400 ms after
         * the scheduling), LambdaFunctionFailed, then the retry */
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        json_array_clear(h.history);
        h.env.now_ms += 1000;
        h_event(&h, (AslEvent){.type = ASL_EVENT_TASK_FAILED,
                               .task_id = tid,
                               .error = "Img.Bad",
                               .cause = "c",
                               .started = true,
                               .worker = "host:1",
                               .started_ms = h.env.now_ms - 600});
        ASSERT_INT_EQ(h.r, 0);
        types = history_types(&h);
        ASSERT_STR_EQ(types, "LambdaFunctionStarted,LambdaFunctionFailed");
        free(types);
        ev = json_array_get(h.history, 0);
        ASSERT_STR_EQ(S(ev, "timestamp"), "2023-11-14T22:13:20.400Z");
        ASSERT_STR_EQ(S(json_object_get(ev, "lambdaFunctionStartedEventDetails"), "workerName"), "host:1");
        d = details_of(&h, "LambdaFunctionFailed", "lambdaFunctionFailedEventDetails");
        ASSERT_JSON_EQ(d, "{\"error\":\"Img.Bad\",\"cause\":\"c\"}");
        free(tid);

        /* the retry times out: LambdaFunctionTimedOut; a result without a
         * worker (no name, no start time) records LambdaFunctionStarted
         * without details, stamped now */
        h_timer(&h, S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        json_array_clear(h.history);
        h_timer(&h, S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        types = history_types(&h);
        ASSERT_STR_EQ(types, "LambdaFunctionTimedOut");
        free(types);
        d = details_of(&h, "LambdaFunctionTimedOut", "lambdaFunctionTimedOutEventDetails");
        ASSERT_JSON_EQ(d, "{\"error\":\"States.Timeout\",\"cause\":\"The task did not finish within "
                          "TimeoutSeconds\"}");
        json_array_clear(h.history);
        h_timer(&h, S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        h.env.now_ms += 2000;
        o = Q("{'Payload':1}");
        h_event(&h,
                (AslEvent){.type = ASL_EVENT_TASK_SUCCEEDED, .task_id = tid, .output = o, .started = true});
        json_decref(o);
        ASSERT_INT_EQ(h.r, 0);
        ev = event_of(&h, "LambdaFunctionStarted");
        ASSERT_NOT_NULL(ev);
        ASSERT_NULL(json_object_get(ev, "lambdaFunctionStartedEventDetails"));
        ASSERT_STR_EQ(S(ev, "timestamp"), "2023-11-14T22:13:23.000Z");
        d = details_of(&h, "LambdaFunctionSucceeded", "lambdaFunctionSucceededEventDetails");
        ASSERT_JSON_EQ(d, "{\"output\":\"{\\\"Payload\\\":1}\",\"outputDetails\":{\"truncated\":false}}");
        ASSERT_FALSE(history_has(&h, "TaskSucceeded"));
        free(tid);

        /* the next Task (not a Lambda ARN): Task* events; a heartbeat from
         * its worker records TaskStarted once, the result does not again;
         * a start time before the scheduling is taken as the scheduling */
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        d = details_of(&h, "TaskScheduled", "taskScheduledEventDetails");
        ASSERT_STR_EQ(S(d, "resource"), "imgflow:image.optimize");
        json_array_clear(h.history);
        h_event(&h, (AslEvent){.type = ASL_EVENT_TASK_HEARTBEAT,
                               .task_id = tid,
                               .started = true,
                               .worker = "host:2",
                               .started_ms = 1});
        ASSERT_INT_EQ(h.r, 0);
        types = history_types(&h);
        ASSERT_STR_EQ(types, "TaskStarted");
        free(types);
        ev = json_array_get(h.history, 0);
        ASSERT_STR_EQ(S(ev, "timestamp"), "2023-11-14T22:13:23.000Z");
        ASSERT_JSON_EQ(json_object_get(ev, "taskStartedEventDetails"),
                       "{\"resourceType\":\"task\",\"resource\":\"imgflow:image.optimize\",\"workerName\":"
                       "\"host:2\"}");
        json_array_clear(h.history);
        o = Q("{}");
        h_event(&h, (AslEvent){.type = ASL_EVENT_TASK_SUCCEEDED,
                               .task_id = tid,
                               .output = o,
                               .started = true,
                               .worker = "host:2"});
        json_decref(o);
        types = history_types(&h);
        ASSERT_STR_EQ(types, "TaskSucceeded,TaskStateExited,ExecutionSucceeded");
        free(types);
        free(tid);
        h_done(&h);

        /* results that do not come from a worker (a failure to dispatch, a
         * callback) record no TaskStarted */
        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','End':true}}}", "{}");
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, tid, "States.TaskFailed", "no mapping"), 0);
        ASSERT_FALSE(history_has(&h, "TaskStarted"));
        ASSERT_TRUE(history_has(&h, "TaskFailed"));
        free(tid);
        h_done(&h);
}

TEST(stop_during_map) {
        H h;
        map_start(&h, "", "{'items':[1,2,3,4],'tag':'T'}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        size_t done, total;
        asl_exec_map_progress(h.exec, &done, &total);
        ASSERT_INT_EQ(done, 0);
        ASSERT_INT_EQ(total, 4);
        ASSERT_INT_EQ(h_event(&h, (AslEvent) { .type = ASL_EVENT_STOP }), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 2);
        ASSERT_STR_EQ(S(h.finished, "status"), "ABORTED");
        ASSERT_INT_EQ(json_object_size(json_object_get(h.exec, "tasks")), 0);
        ASSERT_INT_EQ(json_object_size(json_object_get(h.exec, "frames")), 0);
        h_done(&h);
}

/* Keep a mirror of pending tasks and timers from the effects of the last call. */
static void mirror_effects(H *h, json_t *tasks, json_t *timers) {
        for (size_t i = 0; i < h->fx.n; i++) {
                json_t *d = json_array_get(h->views, i);
                switch (h->fx.items[i].type) {
                case ASL_EFFECT_DISPATCH_TASK:
                        json_object_set_new(tasks, S(d, "task_id"), json_true());
                        break;
                case ASL_EFFECT_CANCEL_TASK:
                        ASSERT_NOT_NULL(json_object_get(tasks, S(d, "task_id")));
                        json_object_del(tasks, S(d, "task_id"));
                        break;
                case ASL_EFFECT_SCHEDULE_TIMER:
                        json_object_set_new(timers, S(d, "timer_id"), json_true());
                        break;
                case ASL_EFFECT_CANCEL_TIMER:
                        ASSERT_NOT_NULL(json_object_get(timers, S(d, "timer_id")));
                        json_object_del(timers, S(d, "timer_id"));
                        break;
                default:
                        break;
                }
        }
        asl_effects_clear(&h->fx);
}

/* Random event sequences against a machine with every kind of nesting:
 * return codes stay in {0, 1}, pending work in the document matches what
 * the effects announced, and the execution always finishes. */
TEST(random_event_sequences) {
        const char *def =
                "{'TimeoutSeconds':100000,'StartAt':'M','States':{"
                "'M':{'Type':'Map','MaxConcurrency':3,'ToleratedFailurePercentage':50,"
                "'ItemSelector':{'i.$':'$$.Map.Item.Index'},"
                "'ItemProcessor':{'StartAt':'P','States':{'P':{'Type':'Parallel','Branches':["
                "{'StartAt':'T1','States':{'T1':{'Type':'Task','Resource':'r1','TimeoutSeconds':50,'HeartbeatSeconds':10,"
                "'Retry':[{'ErrorEquals':['Flaky'],'MaxAttempts':2,'JitterStrategy':'FULL'}],'End':true}}},"
                "{'StartAt':'W','States':{'W':{'Type':'Wait','Seconds':1,'Next':'T2'},"
                "'T2':{'Type':'Task','Resource':'r2','End':true}}}],"
                "'Catch':[{'ErrorEquals':['E1'],'ResultPath':'$.caught','Next':'Caught'}],'End':true},"
                "'Caught':{'Type':'Pass','End':true}}},"
                "'Retry':[{'ErrorEquals':['States.ExceedToleratedFailureThreshold'],'MaxAttempts':1}],"
                "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'Failed'}],'Next':'Done'},"
                "'Done':{'Type':'Succeed'},'Failed':{'Type':'Fail','Error':'MapFailed'}}}";
        static const char *const errors[] = { "E1", "Flaky", "Other", "States.Timeout" };
        unsigned finished_runs = 0, succeeded = 0;

        for (unsigned seed = 1; seed <= 40; seed++) {
                H h;
                json_t *tasks = json_object(), *timers = json_object();
                unsigned rnd = seed * 2654435761u;

                h_start(&h, def, "[1,2,3,4,5,6]");
                for (unsigned step = 0; step < 4000; step++) {
                        mirror_effects(&h, tasks, timers);
                        if (h.finished)
                                break;
                        /* the document agrees with the effects */
                        ASSERT_INT_EQ(json_object_size(json_object_get(h.exec, "tasks")), json_object_size(tasks));
                        ASSERT_INT_EQ(json_object_size(json_object_get(h.exec, "timers")), json_object_size(timers));
                        ASSERT_TRUE(json_object_size(tasks) <= 6);

                        rnd = rnd * 1103515245u + 12345u;
                        unsigned pick = (rnd >> 8) % 100, which = rnd >> 16;
                        json_t *from = (pick < 70 && json_object_size(tasks)) || !json_object_size(timers) ? tasks : timers;
                        const char *id = NULL, *k;
                        json_t *v;
                        size_t n = json_object_size(from), j = 0;
                        json_object_foreach(from, k, v)
                                if (j++ == (n ? which % n : 0))
                                        id = k;
                        if (!id)
                                break; /* nothing pending: would be a bug, caught below */
                        char *cid = strdup(id);
                        int r;
                        if (from == timers) {
                                json_object_del(timers, cid);
                                h.env.now_ms += 1000;
                                r = h_timer(&h, cid);
                                ASSERT_INT_EQ(r, 0);
                        } else if (pick < 35) {
                                json_object_del(tasks, cid);
                                r = h_succeed(&h, cid, "{'ok':true}");
                                ASSERT_INT_EQ(r, 0);
                                mirror_effects(&h, tasks, timers);
                                /* a duplicate delivery is stale */
                                ASSERT_INT_EQ(h_succeed(&h, cid, "{}"), h.finished ? -EINVAL : 1);
                        } else if (pick < 60) {
                                json_object_del(tasks, cid);
                                r = h_fail(&h, cid, errors[which % 4], "random");
                                ASSERT_INT_EQ(r, 0);
                        } else {
                                r = h_event(&h, (AslEvent) { .type = ASL_EVENT_TASK_HEARTBEAT, .task_id = cid });
                                ASSERT_INT_EQ(r, 0);
                        }
                        free(cid);
                }
                ASSERT_NOT_NULL(h.finished);
                finished_runs++;
                succeeded += streq(S(h.finished, "status"), "SUCCEEDED");
                json_decref(tasks);
                json_decref(timers);
                h_done(&h);
        }
        ASSERT_INT_EQ(finished_runs, 40);
        /* both outcomes happen: the sequences really explore failures */
        if (getenv("TEST_VERBOSE"))
                fprintf(stderr, "  %u of 40 succeeded\n", succeeded);
        ASSERT_TRUE(succeeded > 0 && succeeded < 40);
}

/* ---- JSONata states and workflow variables ---- */

/* h_start with definitions and inputs written with ` for " (JSONata's
 * strings are in single quotes). */
static void hq_start(H *h, const char *def, const char *input) {
        q_char = '`';
        h_start(h, def, input);
        q_char = '\'';
}

static int hq_succeed(H *h, const char *task_id, const char *output) {
        int r;

        q_char = '`';
        r = h_succeed(h, task_id, output);
        q_char = '\'';
        return r;
}

/* The first history event of a type, or NULL. */
static json_t *event_of(H *h, const char *type) {
        size_t i;
        json_t *ev;

        json_array_foreach (h->history, i, ev)
                if (streq(S(ev, "type"), type))
                        return ev;
        return NULL;
}

TEST(jsonata_pass_task_output_assign) {
        H h;
        json_t *d, *ev;
        char *tid;

        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{"
                 "`A`:{`Type`:`Pass`,`Assign`:{`n`:`{% $states.input.n %}`,`label`:`fixed`},"
                 "`Output`:{`twice`:`{% $states.input.n * 2 %}`},`Next`:`T`},"
                 "`T`:{`Type`:`Task`,`Resource`:`r`,`Arguments`:{`sum`:`{% $states.input.twice + $n %}`,"
                 "`label`:`{% $label %}`,`name`:`{% $states.context.Execution.Name %}`},"
                 "`TimeoutSeconds`:`{% $n * 10 %}`,"
                 "`Output`:{`got`:`{% $states.result.v %}`,`in`:`{% $states.input %}`,`label`:`{% $label "
                 "%}`},"
                 "`Assign`:{`last`:`{% $states.result.v %}`},`End`:true}}}",
                 "{`n`:3}");
        ASSERT_INT_EQ(h.r, 0);
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_NOT_NULL(d);
        ASSERT_JSON_EQ(json_object_get(d, "input"), "{\"sum\":9,\"label\":\"fixed\",\"name\":\"e1\"}");
        ASSERT_INT_EQ(json_integer_value(json_object_get(d, "timeout_seconds")), 30);
        /* the Pass state's exit carries its assignments as GetExecutionHistory shows them */
        ev = event_of(&h, "PassStateExited");
        d = json_object_get(ev, "stateExitedEventDetails");
        ASSERT_STR_EQ(S(d, "output"), "{\"twice\":6}");
        ASSERT_JSON_EQ(json_object_get(d, "assignedVariables"), "{\"n\":\"3\",\"label\":\"\\\"fixed\\\"\"}");
        ASSERT_JSON_EQ(json_object_get(d, "assignedVariablesDetails"), "{\"truncated\":false}");

        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(hq_succeed(&h, tid, "{`v`:42}"), 0);
        free(tid);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        /* $label was assigned before the document was stored and read back (h_event round-trips it) */
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"got\":42,\"in\":{\"twice\":6},\"label\":\"fixed\"}");
        ev = event_of(&h, "TaskStateExited");
        ASSERT_JSON_EQ(json_object_get(json_object_get(ev, "stateExitedEventDetails"), "assignedVariables"),
                       "{\"last\":\"42\"}");
        h_done(&h);
}

/* All expressions of one Assign (and the state's Output) see the values from before the state. */
TEST(assign_sees_values_from_before) {
        H h;

        hq_start(
                &h,
                "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{"
                "`A`:{`Type`:`Pass`,`Assign`:{`x`:1,`y`:2},`Next`:`B`},"
                "`B`:{`Type`:`Pass`,`Assign`:{`x`:`{% $y %}`,`y`:`{% $x %}`},"
                "`Output`:{`x`:`{% $x %}`,`y`:`{% $y %}`},`Next`:`C`},"
                "`C`:{`Type`:`Pass`,`Output`:{`x`:`{% $x %}`,`y`:`{% $y %}`,`before`:`{% $states.input %}`},"
                "`End`:true}}}",
                "{}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"x\":2,\"y\":1,\"before\":{\"x\":1,\"y\":2}}");
        h_done(&h);

        /* JSONPath: Assign's "$" is the state's result; OutputPath reads the old values */
        hq_start(&h,
                 "{`StartAt`:`S0`,`States`:{"
                 "`S0`:{`Type`:`Pass`,`Result`:{`theQuestion`:`why`},`Assign`:{`question.$`:`$.theQuestion`,"
                 "`answer`:42},`Next`:`S1`},"
                 "`S1`:{`Type`:`Pass`,`InputPath`:`$answer`,`ResultPath`:`$.theAnswer`,`OutputPath`:`$"
                 "answer`,"
                 "`Assign`:{`answer`:`later`},`Next`:`S2`},"
                 "`S2`:{`Type`:`Pass`,`Parameters`:{`a.$`:`$answer`,`q.$`:`$question`,`f.$`:"
                 "`States.Format('{} {}', $question, $answer)`},`End`:true}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"a\":\"later\",\"q\":\"why\",\"f\":\"why later\"}");
        ASSERT_STR_EQ(S(json_object_get(json_array_get(h.history, 4), "stateExitedEventDetails"), "output"),
                      "42");
        h_done(&h);
}

/* JSONPath states read variables in InputPath, Parameters, intrinsics, Choice rules, *Path fields, and
 * assign on Choice rules, Default and catchers. */
TEST(jsonpath_variables) {
        H h;
        char *tid;

        h_start(&h,
                "{'StartAt':'S','States':{"
                "'S':{'Type':'Pass','Assign':{'limit':10,'wait':0,'items':[1,2]},'Next':'C'},"
                "'C':{'Type':'Choice','Choices':[{'Variable':'$.v','NumericGreaterThanPath':'$limit','Next':"
                "'Big',"
                "'Assign':{'kind':'big'}}],'Default':'W','Assign':{'kind.$':'$.v'}},"
                "'Big':{'Type':'Succeed'},"
                "'W':{'Type':'Wait','SecondsPath':'$wait','Next':'M'},"
                "'M':{'Type':'Map','ItemsPath':'$items','ItemSelector':{'i.$':'$$.Map.Item.Value','k.$':'$"
                "kind'},"
                "'ItemProcessor':{'StartAt':'P','States':{'P':{'Type':'Pass','End':true}}},'ResultPath':'$."
                "m',"
                "'Next':'T'},"
                "'T':{'Type':'Task','Resource':'r','Parameters':{'k.$':'$kind','m.$':'$.m'},"
                "'Catch':[{'ErrorEquals':['States.ALL'],'Next':'F','ResultPath':'$.err','Assign':{'error.$':"
                "'$.Error'}}],"
                "'End':true},"
                "'F':{'Type':'Pass','Parameters':{'e.$':'$error','k.$':'$kind'},'End':true}}}",
                "{'v':5}");
        ASSERT_INT_EQ(h.r, 0);
        /* the Wait of 0 s: its timer */
        ASSERT_NOT_NULL(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0));
        tid = strdup(S(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "timer_id"));
        h_timer(&h, tid);
        free(tid);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"k\":5,\"m\":[{\"i\":1,\"k\":5},{\"i\":2,\"k\":5}]}");
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        h_fail(&h, tid, "Boom", "bad");
        free(tid);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"e\":\"Boom\",\"k\":5}");
        /* the catcher's assignment is on the Task's exit */
        ASSERT_JSON_EQ(
                json_object_get(json_object_get(event_of(&h, "TaskStateExited"), "stateExitedEventDetails"),
                                "assignedVariables"),
                "{\"error\":\"\\\"Boom\\\"\"}");
        /* the Default's assignment on the Choice's exit */
        ASSERT_JSON_EQ(json_object_get(
                               json_object_get(event_of(&h, "ChoiceStateExited"), "stateExitedEventDetails"),
                               "assignedVariables"),
                       "{\"kind\":\"5\"}");
        h_done(&h);

        /* a rule's Assign when it matches */
        h_start(&h,
                "{'StartAt':'S','States':{'S':{'Type':'Pass','Assign':{'limit':1},'Next':'C'},"
                "'C':{'Type':'Choice','Choices':[{'Variable':'$.v','NumericGreaterThanPath':'$limit','Next':"
                "'E',"
                "'Assign':{'kind':'big'}}],'Default':'E','Assign':{'kind':'small'}},"
                "'E':{'Type':'Pass','Parameters':{'k.$':'$kind'},'End':true}}}",
                "{'v':5}");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"k\":\"big\"}");
        h_done(&h);

        /* a variable that is not defined: States.Runtime, as a path that does not resolve */
        h_start(&h, "{'StartAt':'P','States':{'P':{'Type':'Pass','InputPath':'$nope','End':true}}}", "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        ASSERT_STR_EQ(S(h.finished, "cause"),
                      "An error occurred while executing the state 'P' (entered at the "
                      "event id #2). Invalid path '$nope' : Variable 'nope' is not defined");
        h_done(&h);
}

/* Scopes: a Map iteration and a Parallel branch read the outer variables and have their own; those die with
 * the iteration or branch, whose output is its only way out. */
TEST(variable_scopes) {
        H h;

        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{"
                 "`A`:{`Type`:`Pass`,`Assign`:{`bias`:100},`Next`:`M`},"
                 "`M`:{`Type`:`Map`,`Items`:`{% [1,2,3] %}`,`MaxConcurrency`:`{% 1 %}`,"
                 "`ItemProcessor`:{`StartAt`:`I1`,`States`:{"
                 "`I1`:{`Type`:`Pass`,`Assign`:{`mine`:`{% $states.input + $bias %}`},`Next`:`I2`},"
                 "`I2`:{`Type`:`Pass`,`Output`:`{% $mine %}`,`End`:true}}},"
                 "`Assign`:{`results`:`{% $states.result %}`},`Next`:`P`},"
                 "`P`:{`Type`:`Parallel`,`Arguments`:{`r`:`{% $results %}`},`Branches`:["
                 "{`StartAt`:`B1`,`States`:{`B1`:{`Type`:`Pass`,`Assign`:{`b`:1},"
                 "`Output`:`{% $sum($states.input.r) + $bias %}`,`End`:true}}},"
                 "{`StartAt`:`B2`,`States`:{`B2`:{`Type`:`Pass`,`Assign`:{`b`:2},`Next`:`B3`},"
                 "`B3`:{`Type`:`Pass`,`Output`:`{% $b * $bias %}`,`End`:true}}}],"
                 "`Next`:`Z`},"
                 "`Z`:{`Type`:`Pass`,`Output`:{`p`:`{% $states.input %}`,`mine`:`{% $exists($mine) %}`,"
                 "`b`:`{% $exists($b) %}`,`results`:`{% $results %}`},`End`:true}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"p\":[406,200],\"mine\":false,\"b\":false,\"results\":[101,102,103]}");
        h_done(&h);
}

/* An expression that returns nothing, or fails: States.QueryEvaluationError with Step Functions' causes, and
 * an EvaluationFailed event naming the field. */
TEST(query_evaluation_errors) {
        static const struct {
                const char *state, *location, *cause;
        } cases[] = {
                {"`Output`:`{% $doesNotExist %}`", "Output",
                 "The JSONata expression '$doesNotExist' specified for the field 'Output' returned nothing "
                 "(undefined)."},
                {"`Output`:{`result`:[1,{`x`:`{% $states.input.nope %}`}]}", "Output/result[1]/x",
                 "The JSONata expression '$states.input.nope' specified for the field 'Output/result[1]/x' "
                 "returned nothing (undefined)."},
                {"`Assign`:{`result`:`{% $doesNotExist %}`}", "Assign/result",
                 "The JSONata expression '$doesNotExist' specified for the field 'Assign/result' returned "
                 "nothing (undefined)."},
                {"`Output`:`{% $sum(['a']) %}`", "Output",
                 "The JSONata expression '$sum(['a'])' specified for the field 'Output' threw an error "
                 "during "
                 "evaluation. T0412: Argument 1 of function sum must be an array of numbers"},
                {"`Output`:`{% $eval('1') %}`", "Output",
                 "The JSONata expression '$eval('1')' specified for the field 'Output' threw an error "
                 "during "
                 "evaluation. D3175: The $eval() function is not supported in Step Functions"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char def[1024], *cause;
                json_t *d;
                H h;

                snprintf(def, sizeof def,
                         "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{`A`:{`Type`:`Pass`,`Next`:`B`},"
                         "`B`:{`Type`:`Pass`,%s,`End`:true}}}",
                         cases[i].state);
                hq_start(&h, def, "{}");
                ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
                ASSERT_STR_EQ(S(h.finished, "error"), "States.QueryEvaluationError");
                if (asprintf(&cause,
                             "An error occurred while executing the state 'B' (entered at the event id #4). "
                             "%s",
                             cases[i].cause) < 0)
                        abort();
                ASSERT_STR_EQ(S(h.finished, "cause"), cause);
                d = json_object_get(event_of(&h, "EvaluationFailed"), "evaluationFailedEventDetails");
                ASSERT_NOT_NULL(d);
                ASSERT_STR_EQ(S(d, "error"), "States.QueryEvaluationError");
                ASSERT_STR_EQ(S(d, "cause"), S(h.finished, "cause"));
                ASSERT_STR_EQ(S(d, "location"), cases[i].location);
                ASSERT_STR_EQ(S(d, "state"), "B");
                free(cause);
                h_done(&h);
        }
}

/* States.QueryEvaluationError is an error like others: Retry and Catch; a JSONata catcher's Output and
 * Assign read $states.errorOutput. */
TEST(jsonata_catch) {
        H h;
        json_t *d;

        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{"
                 "`A`:{`Type`:`Task`,`Resource`:`r`,`Arguments`:`{% $states.input.nope %}`,"
                 "`Catch`:[{`ErrorEquals`:[`States.QueryEvaluationError`],`Next`:`B`,"
                 "`Output`:{`caught`:`{% $states.errorOutput.Error %}`,`in`:`{% $states.input %}`},"
                 "`Assign`:{`why`:`{% $states.errorOutput.Cause %}`}}],`End`:true},"
                 "`B`:{`Type`:`Pass`,`Output`:{`o`:`{% $states.input %}`,`w`:`{% $substring($why, 0, 40) "
                 "%}`},"
                 "`End`:true}}}",
                 "{`x`:1}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"o\":{\"caught\":\"States.QueryEvaluationError\",\"in\":{\"x\":1}},"
                       "\"w\":\"An error occurred while executing the st\"}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        d = json_object_get(event_of(&h, "TaskStateExited"), "stateExitedEventDetails");
        ASSERT_NOT_NULL(json_object_get(json_object_get(d, "assignedVariables"), "why"));
        ASSERT_NOT_NULL(event_of(&h, "EvaluationFailed"));
        h_done(&h);

        /* without Output the state's output is the error output; a task's failure */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{"
                 "`A`:{`Type`:`Task`,`Resource`:`r`,`Catch`:[{`ErrorEquals`:[`States.ALL`],`Next`:`B`}],`"
                 "End`:true},"
                 "`B`:{`Type`:`Succeed`}}}",
                 "{}");
        char *tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        h_fail(&h, tid, "Img.Bad", "no");
        free(tid);
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"Error\":\"Img.Bad\",\"Cause\":\"no\"}");
        h_done(&h);

        /* a catcher whose own Output fails ends the execution with that error */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{"
                 "`A`:{`Type`:`Task`,`Resource`:`r`,`Catch`:[{`ErrorEquals`:[`States.ALL`],`Next`:`B`,"
                 "`Output`:`{% $nothing %}`}],`End`:true},`B`:{`Type`:`Succeed`}}}",
                 "{}");
        tid = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        h_fail(&h, tid, "Img.Bad", "no");
        free(tid);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.QueryEvaluationError");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "'Catch[0]/Output' returned nothing") != NULL);
        h_done(&h);
}

TEST(jsonata_choice_wait_fail) {
        H h;

        static const char *choice =
                "{`QueryLanguage`:`JSONata`,`StartAt`:`C`,`States`:{"
                "`C`:{`Type`:`Choice`,`Choices`:["
                "{`Condition`:`{% $states.input.n > 10 %}`,`Next`:`Big`,`Output`:{`size`:`big`},"
                "`Assign`:{`n`:`{% $states.input.n %}`}},"
                "{`Condition`:`{% $states.input.n = 0 %}`,`Next`:`Zero`}],"
                "`Default`:`Small`,`Output`:{`size`:`small`},`Assign`:{`n`:-1}},"
                "`Big`:{`Type`:`Pass`,`Output`:{`o`:`{% $states.input %}`,`n`:`{% $n %}`},`End`:true},"
                "`Zero`:{`Type`:`Succeed`},"
                "`Small`:{`Type`:`Pass`,`Output`:{`o`:`{% $states.input %}`,`n`:`{% $n %}`},`End`:true}}}";
        hq_start(&h, choice, "{`n`:11}");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"o\":{\"size\":\"big\"},\"n\":11}");
        h_done(&h);
        hq_start(&h, choice, "{`n`:3}");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"o\":{\"size\":\"small\"},\"n\":-1}");
        h_done(&h);
        hq_start(&h, choice, "{`n`:0}");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"n\":0}");
        h_done(&h);
        /* a condition that is not a boolean */
        hq_start(&h, choice, "{`n`:`x`}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.QueryEvaluationError");
        ASSERT_STR_EQ(S(json_object_get(event_of(&h, "EvaluationFailed"), "evaluationFailedEventDetails"),
                        "location"),
                      "Choices[0]/Condition");
        h_done(&h);
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`C`,`States`:{`C`:{`Type`:`Choice`,`Choices`:["
                 "{`Condition`:`{% 1 + 1 %}`,`Next`:`Z`}]},`Z`:{`Type`:`Succeed`}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.QueryEvaluationError");
        ASSERT_TRUE(strstr(S(h.finished, "cause"),
                           "returned an unexpected result type. Expected a boolean, but was: 2"));
        h_done(&h);
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`C`,`States`:{`C`:{`Type`:`Choice`,`Choices`:["
                 "{`Condition`:false,`Next`:`Z`}]},`Z`:{`Type`:`Succeed`}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.NoChoiceMatched");
        h_done(&h);

        /* Wait: Seconds and Timestamp from expressions; Output and Assign after the wait */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`W`,`States`:{`W`:{`Type`:`Wait`,"
                 "`Seconds`:`{% $states.input.s * 60 %}`,`Output`:{`waited`:true},`End`:true}}}",
                 "{`s`:2}");
        ASSERT_INT_EQ(
                json_integer_value(json_object_get(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "due_ms")),
                1700000000000LL + 120000);
        h_done(&h);
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`W`,`States`:{`W`:{`Type`:`Wait`,"
                 "`Timestamp`:`{% $fromMillis($millis() + 5000) %}`,`End`:true}}}",
                 "{}");
        ASSERT_INT_EQ(
                json_integer_value(json_object_get(fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0), "due_ms")),
                1700000005000LL);
        h_done(&h);
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`W`,`States`:{`W`:{`Type`:`Wait`,"
                 "`Seconds`:`{% -1 %}`,`End`:true}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.QueryEvaluationError");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "Seconds must be between 0 and 99999999 but was: -1"));
        h_done(&h);

        /* Fail: Error and Cause from expressions */
        hq_start(
                &h,
                "{`QueryLanguage`:`JSONata`,`StartAt`:`F`,`States`:{`F`:{`Type`:`Fail`,"
                "`Error`:`{% 'Custom.' & $states.input.kind %}`,`Cause`:`{% $string($states.input.n) %}`}}}",
                "{`kind`:`Oops`,`n`:7}");
        ASSERT_STR_EQ(S(h.finished, "error"), "Custom.Oops");
        ASSERT_STR_EQ(S(h.finished, "cause"), "7");
        h_done(&h);
}

TEST(jsonata_map_and_parallel) {
        H h;

        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`M`,`States`:{`M`:{`Type`:`Map`,"
                 "`Items`:`{% $states.input.list[$ > 1] %}`,"
                 "`ItemSelector`:{`v`:`{% $states.context.Map.Item.Value %}`,"
                 "`i`:`{% $states.context.Map.Item.Index %}`,`all`:`{% $count($states.input.list) %}`},"
                 "`MaxConcurrency`:`{% 2 %}`,`ToleratedFailureCount`:`{% 0 %}`,"
                 "`ItemProcessor`:{`StartAt`:`P`,`States`:{`P`:{`Type`:`Pass`,`End`:true}}},"
                 "`Output`:{`n`:`{% $count($states.result) %}`,`r`:`{% $states.result %}`},`End`:true}}}",
                 "{`list`:[1,2,3]}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "{\"n\":2,\"r\":[{\"v\":2,\"i\":0,\"all\":3},{\"v\":3,\"i\":1,\"all\":3}]}");
        h_done(&h);
        /* Items that is not an array */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`M`,`States`:{`M`:{`Type`:`Map`,`Items`:`{% 5 %}`,"
                 "`ItemProcessor`:{`StartAt`:`P`,`States`:{`P`:{`Type`:`Pass`,`End`:true}}},`End`:true}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.QueryEvaluationError");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "field 'Items' returned an unexpected result type"));
        h_done(&h);
        /* a literal Items array, and the input as items without Items */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`M`,`States`:{`M`:{`Type`:`Map`,`Items`:[`a`,`b`],"
                 "`ItemProcessor`:{`StartAt`:`P`,`States`:{`P`:{`Type`:`Pass`,`End`:true}}},`Next`:`N`},"
                 "`N`:{`Type`:`Map`,`ItemProcessor`:{`StartAt`:`Q`,`States`:{`Q`:{`Type`:`Pass`,"
                 "`Output`:`{% $uppercase($states.input) %}`,`End`:true}}},`End`:true}}}",
                 "{}");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"A\",\"B\"]");
        h_done(&h);
}

/* Time and randomness come from the engine's environment: $now(), $millis(), $random(), $uuid() are the same
 * for the same environment. */
TEST(jsonata_time_and_randomness_from_env) {
        static const char *def =
                "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{`A`:{`Type`:`Pass`,`Output`:{"
                "`now`:`{% $now() %}`,`ms`:`{% $millis() %}`,`r`:`{% $random() %}`,`u`:`{% $uuid() %}`,"
                "`seeded`:`{% $random(7) = $random(7) %}`},`End`:true}}}";
        H a, b;
        json_t *o;

        hq_start(&a, def, "{}");
        hq_start(&b, def, "{}");
        o = json_object_get(a.finished, "output");
        ASSERT_STR_EQ(S(o, "now"), "2023-11-14T22:13:20.000Z");
        ASSERT_INT_EQ(json_integer_value(json_object_get(o, "ms")), 1700000000000LL);
        ASSERT_TRUE(json_is_true(json_object_get(o, "seeded")));
        ASSERT_TRUE(json_equal(o, json_object_get(b.finished, "output")));
        h_done(&a);
        h_done(&b);
}

/* A variable holds at most 256 KiB, one Assign at most 256 KiB, an execution's variables at most 10 MiB:
 * States.DataLimitExceeded. */
TEST(variable_limits) {
        H h;

        /* one variable of 300,000 characters */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{`A`:{`Type`:`Pass`,"
                 "`Assign`:{`big`:`{% $pad('', 300000, 'x') %}`},`End`:true}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.DataLimitExceeded");
        ASSERT_STR_EQ(S(h.finished, "cause"),
                      "The value assigned to the variable 'big' has a size of 300002 bytes, "
                      "exceeding the maximum of 262144 bytes for a variable");
        h_done(&h);
        /* two of 150,000 in one Assign */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{`A`:{`Type`:`Pass`,"
                 "`Assign`:{`a`:`{% $pad('', 150000, 'x') %}`,`b`:`{% $pad('', 150000, 'y') "
                 "%}`},`End`:true}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.DataLimitExceeded");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "of one Assign have a size of 300004 bytes"));
        h_done(&h);
        /* variables of 250,000 bytes, one state each: past 10 MiB at the 42nd */
        {
                char def[16384];
                size_t k = 0;

                k += (size_t) snprintf(def + k, sizeof def - k,
                                       "{`QueryLanguage`:`JSONata`,`StartAt`:`S0`,`States`:{");
                for (int i = 0; i < 45; i++) {
                        char next[32];

                        if (i < 44)
                                snprintf(next, sizeof next, "`Next`:`S%d`", i + 1);
                        else
                                snprintf(next, sizeof next, "`End`:true");
                        k += (size_t) snprintf(
                                def + k, sizeof def - k,
                                "%s`S%d`:{`Type`:`Pass`,`Assign`:{`v%d`:`{%% $pad('', 249998, 'x') %%}`},"
                                "`Output`:{},%s}",
                                i ? "," : "", i, i, next);
                }
                snprintf(def + k, sizeof def - k, "}}");
                hq_start(&h, def, "{}");
                ASSERT_STR_EQ(S(h.finished, "error"), "States.DataLimitExceeded");
                ASSERT_STR_EQ(S(h.finished, "cause"),
                              "The variables of the execution would have a size of 10500000 "
                              "bytes, exceeding the maximum of 10485760 bytes");
                ASSERT_STR_EQ(
                        S(json_object_get(event_of(&h, "PassStateEntered"), "stateEnteredEventDetails"),
                          "name"),
                        "S0");
                h_done(&h);
        }
        /* replacing a variable counts its new size, not both */
        hq_start(&h,
                 "{`QueryLanguage`:`JSONata`,`StartAt`:`A`,`States`:{"
                 "`A`:{`Type`:`Pass`,`Assign`:{`v`:`{% $pad('', 200000, 'x') %}`},`Next`:`B`},"
                 "`B`:{`Type`:`Pass`,`Assign`:{`v`:`{% $pad('', 200000, 'y') %}`},`End`:true}}}",
                 "{}");
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        h_done(&h);
}

/* ---- distributed Map (its semantics; the children run as frames) ---- */

#define DMAP_DEF                                                                                            \
        "{'StartAt':'M','States':{'M':{'Type':'Map','ItemsPath':'$.items',"                                 \
        "'ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED','ExecutionType':'STANDARD'},"             \
        "'StartAt':'W','States':{'W':{'Type':'Task','Resource':'work','End':true}}},"                       \
        "%s'End':true}}}"

static void dmap_start(H *h, const char *extra, const char *input) {
        char *def;
        if (asprintf(&def, DMAP_DEF, extra) < 0)
                abort();
        h_start(h, def, input);
        free(def);
}

/* Answer every dispatched task with its input (echo), until none is left. */
static void dmap_echo_all(H *h, size_t *ret_dispatched) {
        json_t *pending = json_array();

        for (;;) {
                for (size_t i = 0; i < fx_count(h, ASL_EFFECT_DISPATCH_TASK); i++) {
                        json_t *d = fx_nth(h, ASL_EFFECT_DISPATCH_TASK, i);
                        json_array_append_new(
                                pending, json_pack("[sO]", S(d, "task_id"), json_object_get(d, "input")));
                        (*ret_dispatched)++;
                }
                if (h->finished || json_array_size(pending) == 0)
                        break;
                json_t *t = json_incref(json_array_get(pending, 0));
                json_array_remove(pending, 0);
                char *out = json_dumps(json_array_get(t, 1), JSON_COMPACT | JSON_ENCODE_ANY);
                /* h_succeed reads single-quoted text: the echo has none */
                ASSERT_INT_EQ(h_succeed(h, json_string_value(json_array_get(t, 0)), out), 0);
                free(out);
                json_decref(t);
        }
        json_decref(pending);
}

TEST(distributed_map_items_selector_and_run_events) {
        H h;
        size_t n = 0;

        dmap_start(&h,
                   "'Label':'thumbs','MaxConcurrency':2,"
                   "'ItemSelector':{'i.$':'$$.Map.Item.Index','v.$':'$$.Map.Item.Value'},",
                   "{'items':['a','b','c']}");
        /* no MapIteration* or MapStateStarted in the parent: a Map Run */
        char *types = history_types(&h);
        ASSERT_STR_EQ(types, "ExecutionStarted,MapStateEntered,MapRunStarted");
        free(types);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        {
                json_t *ev = NULL;
                size_t i;
                json_array_foreach (h.history, i, ev)
                        if (streq(S(ev, "type"), "MapRunStarted"))
                                break;
                const char *arn = S(json_object_get(ev, "mapRunStartedEventDetails"), "mapRunArn");
                ASSERT_NOT_NULL(arn);
                ASSERT_TRUE(strncmp(arn, "imgflow:mapRun:test/thumbs:", 27) == 0);
        }
        dmap_echo_all(&h, &n);
        ASSERT_INT_EQ(n, 3);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "[{\"i\":0,\"v\":\"a\"},{\"i\":1,\"v\":\"b\"},{\"i\":2,\"v\":\"c\"}]");
        /* the children's events are theirs, not the parent's (as in Step Functions,
         * where each child is an execution of its own) */
        types = history_types(&h);
        ASSERT_STR_EQ(types, "ExecutionStarted,MapStateEntered,MapRunStarted,MapRunSucceeded,MapStateExited,"
                             "ExecutionSucceeded");
        free(types);
        h_done(&h);
}

TEST(distributed_map_item_batcher) {
        H h;
        size_t n = 0;

        /* 7 items in batches of at most 3: 3 children, each {"BatchInput", "Items"} */
        dmap_start(&h,
                   "'ItemBatcher':{'MaxItemsPerBatch':3,'BatchInput':{'run.$':'$.run'}},"
                   "'ItemSelector':{'x.$':'$$.Map.Item.Value'},",
                   "{'items':[1,2,3,4,5,6,7],'run':'R'}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 3);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"BatchInput\":{\"run\":\"R\"},\"Items\":[{\"x\":1},{\"x\":2},{\"x\":3}]}");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 2), "input"),
                       "{\"BatchInput\":{\"run\":\"R\"},\"Items\":[{\"x\":7}]}");
        {
                size_t done, total;
                asl_exec_map_progress(h.exec, &done, &total);
                ASSERT_INT_EQ(total, 7);
                ASSERT_INT_EQ(done, 0);
        }
        dmap_echo_all(&h, &n);
        ASSERT_INT_EQ(n, 3);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        /* one result per child execution, not per item */
        ASSERT_INT_EQ(json_array_size(json_object_get(h.finished, "output")), 3);
        h_done(&h);

        /* by bytes: {"Items":[...]} of at most 30 bytes; items are 10 bytes ("aaaaaaaa") */
        n = 0;
        dmap_start(&h, "'ItemBatcher':{'MaxInputBytesPerBatchPath':'$.max'},",
                   "{'items':['aaaaaaaa','bbbbbbbb','cccccccc','dddddddd'],'max':30}");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"Items\":[\"aaaaaaaa\"]}");
        dmap_echo_all(&h, &n);
        ASSERT_INT_EQ(n, 4);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        h_done(&h);

        /* {"Items":[]} is 12 bytes and each item 10: two per batch under 33 */
        n = 0;
        dmap_start(&h, "'ItemBatcher':{'MaxInputBytesPerBatch':33},",
                   "{'items':['aaaaaaaa','bbbbbbbb','cccccccc']}");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"Items\":[\"aaaaaaaa\",\"bbbbbbbb\"]}");
        dmap_echo_all(&h, &n);
        ASSERT_INT_EQ(n, 2);
        h_done(&h);

        /* an item that fits no batch fails the Map with States.Runtime */
        dmap_start(&h, "'ItemBatcher':{'MaxInputBytesPerBatch':15},", "{'items':['aaaaaaaa']}");
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.Runtime");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "MaxInputBytesPerBatch (15)") != NULL);
        ASSERT_TRUE(history_has(&h, "MapRunFailed"));
        h_done(&h);
}

TEST(distributed_map_tolerated_failures) {
        H h;

        /* no tolerance: one failed child fails the Map Run with the threshold error */
        dmap_start(&h, "", "{'items':[1,2]}");
        char *t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_fail(&h, t0, "Image.Invalid", "bad"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_CANCEL_TASK, 0), "task_id"), t1);
        ASSERT_TRUE(history_has(&h, "MapRunFailed"));
        ASSERT_TRUE(!history_has(&h, "MapIterationAborted") && !history_has(&h, "MapStateFailed"));
        free(t0);
        free(t1);
        h_done(&h);

        /* a failed batch counts all its items: 2 items of 4 failed = 50% > 40% */
        dmap_start(&h, "'ToleratedFailurePercentage':40,'ItemBatcher':{'MaxItemsPerBatch':2},",
                   "{'items':[1,2,3,4]}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t0, "E", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        free(t0);
        h_done(&h);

        /* ... and at 50% it is tolerated; the failed child's result is its error */
        dmap_start(&h, "'ToleratedFailurePercentage':50,'ItemBatcher':{'MaxItemsPerBatch':2},",
                   "{'items':[1,2,3,4]}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_fail(&h, t0, "E", "c"), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(h_succeed(&h, t1, "'ok'"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[{\"Error\":\"E\",\"Cause\":\"c\"},\"ok\"]");
        free(t0);
        free(t1);
        h_done(&h);
}

TEST(distributed_map_jsonata) {
        H h;
        size_t n = 0;

        h_start(&h,
                "{'QueryLanguage':'JSONata','StartAt':'M','States':{'M':{'Type':'Map',"
                "'Items':'{% $states.input.xs %}',"
                "'ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED','ExecutionType':'EXPRESS'},"
                "'StartAt':'W','States':{'W':{'Type':'Task','Resource':'work','End':true}}},"
                "'ItemBatcher':{'MaxItemsPerBatch':'{% $states.input.k %}','BatchInput':{'n':'{% "
                "$count($states.input.xs) %}'}},"
                "'ItemSelector':{'v':'{% $states.context.Map.Item.Value * 10 %}'},"
                "'End':true}}}",
                "{'xs':[1,2,3],'k':2}");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"BatchInput\":{\"n\":3},\"Items\":[{\"v\":10},{\"v\":20}]}");
        dmap_echo_all(&h, &n);
        ASSERT_INT_EQ(n, 2);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        h_done(&h);
}

/* ---- redrive ---- */

/* REDRIVE; err's name and text in *ret_error (new, "" when none). */
static int h_redrive(H *h, char **ret_error) {
        AslError e = {};

        json_decref(h->finished);
        h->finished = NULL;
        asl_effects_clear(&h->fx);
        h_roundtrip(h);
        h->r = asl_exec_handle(h->m, h->exec, &(AslEvent){.type = ASL_EVENT_REDRIVE}, &h->env, &h->fx, &e);
        if (ret_error && asprintf(ret_error, "%s: %s", e.error ? e.error : "", e.cause ? e.cause : "") < 0)
                abort();
        asl_error_clear(&e);
        h_collect(h);
        return h->r;
}

/* The types of the history events since the last ExecutionRedriven. */
static char *history_since_redrive(H *h) {
        char *all = history_types(h), *p = strstr(all, "ExecutionRedriven"), *s;

        ASSERT_NOT_NULL(p);
        s = strdup(p);
        free(all);
        return s;
}

/* The seed's shape: a failed Task after a Parallel continues from that Task
 * with the same input and variables; the branches are not run again. */
TEST(redrive_continues_from_the_failed_task) {
        H h;
        char *why = NULL;

        h_start(&h,
                "{'StartAt':'A','States':{"
                "'A':{'Type':'Pass','Assign':{'x':5},'Next':'P'},"
                "'P':{'Type':'Parallel','ResultPath':'$.processed','Next':'O','Branches':["
                "{'StartAt':'R','States':{'R':{'Type':'Task','Resource':'resize','End':true}}},"
                "{'StartAt':'F','States':{'F':{'Type':'Task','Resource':'filter','End':true}}}]},"
                "'O':{'Type':'Task','Resource':'optimize','Parameters':{'p.$':'$.processed','x.$':'$x',"
                "'rc.$':'$$.Execution.RedriveCount','ex.$':'$$.Execution'},'ResultPath':'$.optimized',"
                "'Next':'N'},"
                "'N':{'Type':'Task','Resource':'notify','End':true}}}",
                "{'key':'k'}");
        char *tr = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *tf = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, tr, "'r'"), 0);
        ASSERT_INT_EQ(h_succeed(&h, tf, "'f'"), 0);
        json_t *o = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_STR_EQ(S(o, "state"), "O");
        ASSERT_NULL(json_object_get(json_object_get(json_object_get(o, "input"), "ex"), "RedriveTime"));
        json_object_del(json_object_get(o, "input"), "ex");
        ASSERT_JSON_EQ(json_object_get(o, "input"), "{\"p\":[\"r\",\"f\"],\"x\":5,\"rc\":0}");
        char *to = task_id_of(o);

        /* running: not redrivable */
        ASSERT_INT_EQ(h_redrive(&h, &why), -EINVAL);
        ASSERT_STR_EQ(why, "ExecutionNotRedrivable: Execution is RUNNING and cannot be redriven");
        free(why);

        ASSERT_INT_EQ(h_fail(&h, to, "Storage.NotFound", "no such bucket: optimized"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_INT_EQ(asl_exec_redrivable(h.exec, &h.env, NULL), 0);
        ASSERT_INT_EQ(asl_exec_redrive_count(h.exec), 0);

        h.env.now_ms += 60000;
        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        ASSERT_STR_EQ(asl_exec_status(h.exec), "RUNNING");
        ASSERT_INT_EQ(asl_exec_redrive_count(h.exec), 1);
        ASSERT_NULL(json_object_get(h.exec, "error"));
        json_t *ev = json_array_get(h.views, 0);
        ASSERT_TRUE(strstr(json_string_value(ev),
                           "\"type\":\"ExecutionRedriven\","
                           "\"executionRedrivenEventDetails\":{\"redriveCount\":1}}") != NULL);
        /* only O again, with its input and the variable as they were */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        o = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_STR_EQ(S(o, "state"), "O");
        /* $$.Execution.RedriveTime: when it was redriven */
        ASSERT_STR_EQ(S(json_object_get(json_object_get(o, "input"), "ex"), "RedriveTime"),
                      "2023-11-14T22:14:20.000Z");
        json_object_del(json_object_get(o, "input"), "ex");
        ASSERT_JSON_EQ(json_object_get(o, "input"), "{\"p\":[\"r\",\"f\"],\"x\":5,\"rc\":1}");
        free(to);
        to = task_id_of(o);
        ASSERT_INT_EQ(h_succeed(&h, to, "'o'"), 0);
        char *tn = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, tn, "{'sent':true}"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        char *since = history_since_redrive(&h);
        ASSERT_STR_EQ(since,
                      "ExecutionRedriven,TaskStateEntered,TaskScheduled,TaskSucceeded,TaskStateExited,"
                      "TaskStateEntered,TaskScheduled,TaskSucceeded,TaskStateExited,ExecutionSucceeded");
        /* succeeded: nothing more to redrive */
        ASSERT_INT_EQ(h_redrive(&h, &why), -EINVAL);
        ASSERT_STR_EQ(why, "ExecutionNotRedrivable: Execution is SUCCEEDED and cannot be redriven");
        ASSERT_NULL(json_object_get(h.exec, "redrive"));
        free(why);
        free(since);
        free(tr);
        free(tf);
        free(to);
        free(tn);
        h_done(&h);
}

/* A failed branch and the branch it aborted run again; the one that
 * succeeded keeps its result. */
TEST(redrive_parallel_reruns_failed_and_aborted_branches) {
        H h;

        h_start(&h,
                "{'StartAt':'P','States':{'P':{'Type':'Parallel','End':true,'Branches':["
                "{'StartAt':'A','States':{'A':{'Type':'Task','Resource':'ra','End':true}}},"
                "{'StartAt':'B0','States':{'B0':{'Type':'Pass','Result':'b0','Next':'B'},"
                "'B':{'Type':'Task','Resource':'rb','End':true}}},"
                "{'StartAt':'C','States':{'C':{'Type':'Task','Resource':'rc','End':true}}}]}}}",
                "{}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 3);
        /* A and C at once, B after its Pass */
        char *ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1), "state"), "C");
        char *tc = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, tc, "'c'"), 0);
        ASSERT_INT_EQ(h_fail(&h, ta, "Boom", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");

        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "state"), "A");
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1), "state"), "B");
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "index_path"), "0");
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1), "index_path"), "1");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1), "input"), "\"b0\"");
        free(ta);
        ta = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *tb = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, tb, "'b'"), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(h_succeed(&h, ta, "'a'"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"a\",\"b\",\"c\"]");

        /* it may fail and be redriven again */
        free(ta);
        free(tb);
        free(tc);
        h_done(&h);
}

/* A Map runs the iteration that failed, the ones it aborted and the ones
 * it had not started; finished ones keep their results. */
TEST(redrive_map_reruns_only_unsuccessful_iterations) {
        H h;

        map_start(&h, "", "{'items':[0,1,2,3],'tag':'T'}");
        char *t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, t0, "'r0'"), 0);
        char *t2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t1, "E", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");

        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        /* iteration 1 (failed) and 2 (aborted) again, at MaxConcurrency 2 */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"i\":1,\"v\":1,\"tag\":\"T\"}");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1), "input"),
                       "{\"i\":2,\"v\":2,\"tag\":\"T\"}");
        free(t1);
        free(t2);
        t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        t2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, t1, "'r1'"), 0);
        char *t3 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"i\":3,\"v\":3,\"tag\":\"T\"}");
        ASSERT_INT_EQ(h_succeed(&h, t2, "'r2'"), 0);
        ASSERT_INT_EQ(h_succeed(&h, t3, "'r3'"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"r0\",\"r1\",\"r2\",\"r3\"]");
        free(t0);
        free(t1);
        free(t2);
        free(t3);
        h_done(&h);

        /* tolerated failures from earlier events run again too */
        map_start(&h, "'ToleratedFailureCount':1,'MaxConcurrency':1,", "{'items':[0,1,2],'tag':'T'}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t0, "E", NULL), 0);
        t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t1, "E", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"i\":1,\"v\":1,\"tag\":\"T\"}");
        free(t1);
        t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t1, "'r1'"), 0);
        free(t0);
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"i\":0,\"v\":0,\"tag\":\"T\"}");
        ASSERT_INT_EQ(h_succeed(&h, t0, "'r0'"), 0);
        t2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t2, "'r2'"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"r0\",\"r1\",\"r2\"]");
        free(t0);
        free(t1);
        free(t2);
        h_done(&h);
}

/* An error a Catch handled is not where a redrive starts: the state the
 * execution failed in is (here a Fail state, which fails again). A stopped
 * execution continues with the Task it was waiting for, and the
 * execution's timeout starts again. */
TEST(redrive_after_catch_and_after_stop) {
        H h;

        h_start(&h,
                "{'StartAt':'T','States':{"
                "'T':{'Type':'Task','Resource':'r','Catch':[{'ErrorEquals':['States.ALL'],'Next':'F'}],"
                "'End':true},'F':{'Type':'Fail','Error':'Failed','Cause':'it failed'}}}",
                "{}");
        char *t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t, "Boom", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "Failed");
        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        char *since = history_since_redrive(&h);
        ASSERT_STR_EQ(since, "ExecutionRedriven,FailStateEntered,ExecutionFailed");
        free(since);
        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        ASSERT_INT_EQ(asl_exec_redrive_count(h.exec), 2);
        free(t);
        h_done(&h);

        h_start(&h,
                "{'TimeoutSeconds':60,'StartAt':'W','States':{"
                "'W':{'Type':'Pass','Next':'T'},'T':{'Type':'Task','Resource':'r','End':true}}}",
                "{'a':1}");
        t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_event(&h, (AslEvent){.type = ASL_EVENT_STOP, .error = "User"}), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "ABORTED");
        h.env.now_ms += 1000;
        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "state"), "T");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"), "{\"a\":1}");
        json_t *timer = fx_nth(&h, ASL_EFFECT_SCHEDULE_TIMER, 0);
        ASSERT_STR_EQ(S(timer, "kind"), "execution_timeout");
        ASSERT_INT_EQ(json_integer_value(json_object_get(timer, "due_ms")), h.env.now_ms + 60000);
        /* the old task's late result is stale */
        ASSERT_INT_EQ(h_succeed(&h, t, "{}"), 1);
        free(t);
        h_done(&h);
}

/* The history limit: no room for a redrive's events. */
TEST(redrive_refused_at_the_history_limit) {
        H h;
        char *why = NULL;

        h_init(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','End':true}}}", "{}");
        h.env.max_history_events = 8;
        h_event(&h, (AslEvent){.type = ASL_EVENT_START});
        char *t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t, "E", NULL), 0);
        /* ExecutionStarted, TaskStateEntered, TaskScheduled, TaskFailed,
         * ExecutionFailed: 5, and 3 more fit in 8 */
        ASSERT_INT_EQ(asl_exec_redrivable(h.exec, &h.env, NULL), 0);
        h.env.max_history_events = 7;
        ASSERT_INT_EQ(h_redrive(&h, &why), -EINVAL);
        ASSERT_STR_EQ(why, "ExecutionNotRedrivable: Execution history event limit exceeded");
        free(why);
        free(t);
        h_done(&h);
}

/* Fourteen days after it stopped, an execution is no longer redrivable. */
TEST(redrive_window) {
        H h;
        char *why = NULL;

        h_start(&h, "{'StartAt':'T','States':{'T':{'Type':'Task','Resource':'r','End':true}}}", "{}");
        char *t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t, "E", NULL), 0);
        h.env.now_ms += ASL_REDRIVE_WINDOW_MS;
        ASSERT_INT_EQ(asl_exec_redrivable(h.exec, &h.env, NULL), 0);
        h.env.now_ms += 1;
        ASSERT_INT_EQ(h_redrive(&h, &why), -EINVAL);
        ASSERT_STR_EQ(why, "ExecutionNotRedrivable: Execution redrivable period exceeded");
        ASSERT_STR_EQ(asl_exec_status(h.exec), "FAILED");
        free(why);
        free(t);
        h_done(&h);
}

/* A distributed Map's redrive runs only its failed and pending children
 * (batches here): the ones that succeeded keep their results. */
TEST(redrive_distributed_map_children) {
        H h;
        size_t n = 0;

        dmap_start(&h, "'MaxConcurrency':2,'ItemBatcher':{'MaxItemsPerBatch':2},", "{'items':[1,2,3,4,5,6,7,8]}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        char *t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, t0, "'b0'"), 0);
        /* batch 2 started; batch 1 fails: the Map Run fails, batch 2 is aborted, batch 3 never ran */
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"Items\":[5,6]}");
        ASSERT_INT_EQ(h_fail(&h, t1, "E", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_TRUE(history_has(&h, "MapRunFailed"));

        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        /* batches 1 and 2 again (MaxConcurrency 2); not batch 0 */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "input"),
                       "{\"Items\":[3,4]}");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1), "input"),
                       "{\"Items\":[5,6]}");
        dmap_echo_all(&h, &n);
        ASSERT_INT_EQ(n, 3); /* batches 1, 2 and then 3 */
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "[\"b0\",{\"Items\":[3,4]},{\"Items\":[5,6]},{\"Items\":[7,8]}]");
        free(t0);
        free(t1);
        h_done(&h);
}

/* ItemReader (s3:listObjectsV2): pages from storage.list, one at a time. */
#define READER_DEF(extra)                                                                                   \
        "{'StartAt':'M','States':{'M':{'Type':'Map','MaxConcurrency':3,"                                    \
        "'ItemReader':{'Resource':'arn:aws:states:::s3:listObjectsV2',"                                     \
        "'Parameters':{'Bucket.$':'$.bucket','Prefix':'raw/'}" extra "},"                                   \
        "'ItemSelector':{'key.$':'$$.Map.Item.Value.Key','i.$':'$$.Map.Item.Index'},"                       \
        "'ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED','ExecutionType':'EXPRESS'},"              \
        "'StartAt':'W','States':{'W':{'Type':'Task','Resource':'work','End':true}}},'End':true}}}"

/* A storage.list page of keys k<from>..k<to-1>. */
static char *reader_page(int from, int to, bool more) {
        json_t *items = json_array();
        for (int i = from; i < to; i++) {
                char key[32];
                snprintf(key, sizeof key, "raw/k%03d", i);
                json_array_append_new(items,
                                      json_pack("{s:s, s:i, s:s}", "Key", key, "Size", i, "Etag", "\"e\""));
        }
        json_t *o = json_pack("{s:o, s:b}", "Items", items, "More", more);
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

TEST(distributed_map_item_reader_pages) {
        H h;
        char *page, *reader;

        h_start(&h, READER_DEF(""), "{'bucket':'photos'}");
        /* only the first page is asked for */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_STR_EQ(S(d, "resource"), "imgflow:storage.list");
        ASSERT_JSON_EQ(json_object_get(d, "input"),
                       "{\"bucket\":\"photos\",\"prefix\":\"raw/\",\"maxKeys\":200}");
        reader = task_id_of(d);
        page = reader_page(0, 4, true);
        ASSERT_INT_EQ(h_succeed(&h, reader, page), 0);
        free(page);
        free(reader);
        /* 3 children (MaxConcurrency), their input through the ItemSelector */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 3);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 2), "input"),
                       "{\"key\":\"raw/k002\",\"i\":2}");
        char *c0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *c1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        char *c2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 2));
        ASSERT_INT_EQ(h_succeed(&h, c0, "0"), 0);
        /* the 4th item starts and, the page used up, the next page is asked for after raw/k003 */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        /* (the page is asked for while the child's state is still queued) */
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        char *c3 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_STR_EQ(S(d, "resource"), "imgflow:storage.list");
        ASSERT_STR_EQ(S(json_object_get(d, "input"), "startAfter"), "raw/k003");
        reader = task_id_of(d);
        /* a stale or repeated page changes nothing */
        page = reader_page(4, 6, false);
        ASSERT_INT_EQ(h_succeed(&h, reader, page), 0);
        ASSERT_INT_EQ(h_succeed(&h, reader, page), 1);
        free(page);
        free(reader);
        /* the document holds the last page only */
        json_t *frame0 = NULL;
        const char *fid;
        json_t *f;
        json_object_foreach (json_object_get(h.exec, "frames"), fid, f)
                if (json_object_get(f, "children"))
                        frame0 = f;
        ASSERT_INT_EQ(json_array_size(json_object_get(json_object_get(frame0, "children"), "items")), 2);
        const char *outs[] = {c1, c2, c3};
        for (int i = 0; i < 3; i++)
                ASSERT_INT_EQ(h_succeed(&h, outs[i], "1"), 0);
        /* items 4 and 5 */
        for (int guard = 0; !h.finished && guard < 10; guard++) {
                const char *id;
                json_t *v;
                json_object_foreach (json_object_get(h.exec, "tasks"), id, v) {
                        char *tt = strdup(id);
                        ASSERT_INT_EQ(h_succeed(&h, tt, "2"), 0);
                        free(tt);
                        break;
                }
        }
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[0,1,1,1,2,2]");
        free(c0);
        free(c1);
        free(c2);
        free(c3);
        h_done(&h);
}

TEST(distributed_map_item_reader_max_items_and_failures) {
        H h;
        char *page, *reader;

        /* MaxItems 2: a page of 2 asked for, the listing cut there */
        h_start(&h, READER_DEF(",'ReaderConfig':{'MaxItems':2}"), "{'bucket':'photos'}");

        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_INT_EQ(json_integer_value(json_object_get(json_object_get(d, "input"), "maxKeys")), 2);
        reader = task_id_of(d);
        page = reader_page(0, 2, true);
        ASSERT_INT_EQ(h_succeed(&h, reader, page), 0);
        free(page);
        free(reader);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        for (int i = 0; i < 2; i++) {
                const char *id;
                json_t *v;
                json_object_foreach (json_object_get(h.exec, "tasks"), id, v) {
                        char *tt = strdup(id);
                        ASSERT_INT_EQ(h_succeed(&h, tt, "1"), 0);
                        free(tt);
                        break;
                }
        }
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[1,1]");
        h_done(&h);

        /* the listing fails: States.ItemReaderFailed, which Catch can take */
        h_start(&h, READER_DEF(""), "{'bucket':'photos'}");
        reader = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, reader, "Storage.NoSuchBucket", "no bucket photos"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ItemReaderFailed");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "Storage.NoSuchBucket: no bucket photos") != NULL);
        ASSERT_TRUE(history_has(&h, "MapRunFailed"));
        free(reader);
        h_done(&h);

        /* a Bucket that is not a string */
        h_start(&h, READER_DEF(""), "{'bucket':7}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ItemReaderFailed");
        h_done(&h);

        /* a child failing while a page is asked for cancels the page's task */
        h_start(&h, READER_DEF(""), "{'bucket':'photos'}");
        reader = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        page = reader_page(0, 1, true);
        ASSERT_INT_EQ(h_succeed(&h, reader, page), 0);
        free(page);
        free(reader);
        reader = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *c0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "resource"), "imgflow:storage.list");
        ASSERT_INT_EQ(h_fail(&h, c0, "E", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_CANCEL_TASK, 0), "task_id"), reader);
        ASSERT_NULL(json_object_get(json_object_get(h.exec, "tasks"), reader));
        free(c0);
        free(reader);
        h_done(&h);
}

/* ItemReader (s3:getObject): pages of an object's items from storage.items,
 * each from the byte where the last one stopped; a CSV header row read by
 * the first page goes with the next ones. */
#define OBJECT_READER_DEF(config, params)                                                                   \
        "{'StartAt':'M','States':{'M':{'Type':'Map','MaxConcurrency':2,"                                    \
        "'ItemReader':{'Resource':'arn:aws:states:::s3:getObject',"                                         \
        "'ReaderConfig':" config ",'Parameters':" params "},"                                               \
        "'ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED','ExecutionType':'EXPRESS'},"              \
        "'StartAt':'W','States':{'W':{'Type':'Pass','End':true}}},'End':true}}}"

TEST(distributed_map_item_reader_object) {
        H h;
        char *reader;

        h_start(&h,
                OBJECT_READER_DEF("{'InputType':'CSV','CSVHeaderLocation':'FIRST_ROW','CSVDelimiter':'PIPE',"
                                  "'MaxItems':3}",
                                  "{'Bucket':'data','Key.$':'$.key'}"),
                "{'key':'in/rows.csv'}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_STR_EQ(S(d, "resource"), "imgflow:storage.items");
        ASSERT_JSON_EQ(json_object_get(d, "input"),
                       "{\"bucket\":\"data\",\"key\":\"in/rows.csv\",\"inputType\":\"CSV\",\"offset\":0,"
                       "\"maxItems\":3,\"csvDelimiter\":\"PIPE\"}");
        reader = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, reader,
                                "{\"Items\":[{\"a\":\"1\"},{\"a\":\"2\"}],\"More\":true,\"Next\":40,"
                                "\"Headers\":[\"a\"]}"),
                      0);
        free(reader);
        /* both children run (Pass states: done at once), then the next page from byte 40 with the header */
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_NOT_NULL(d);
        ASSERT_STR_EQ(S(d, "resource"), "imgflow:storage.items");
        ASSERT_JSON_EQ(json_object_get(d, "input"),
                       "{\"bucket\":\"data\",\"key\":\"in/rows.csv\",\"inputType\":\"CSV\",\"offset\":40,"
                       "\"maxItems\":1,\"csvHeaders\":[\"a\"],\"csvDelimiter\":\"PIPE\"}");
        reader = task_id_of(d);
        /* MaxItems 3: the reader stops at the third item whatever More says */
        ASSERT_INT_EQ(h_succeed(&h, reader, "{\"Items\":[{\"a\":\"3\"}],\"More\":true,\"Next\":50}"), 0);
        free(reader);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[{\"a\":\"1\"},{\"a\":\"2\"},{\"a\":\"3\"}]");
        ASSERT_TRUE(history_has(&h, "MapRunSucceeded"));
        h_done(&h);

        /* GIVEN headers go with every page; a failed read names the object */
        h_start(&h,
                OBJECT_READER_DEF("{'InputType':'CSV','CSVHeaderLocation':'GIVEN','CSVHeaders':['x','y']}",
                                  "{'Bucket':'data','Key':'k.csv'}"),
                "{}");
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_JSON_EQ(json_object_get(json_object_get(d, "input"), "csvHeaders"), "[\"x\",\"y\"]");
        reader = task_id_of(d);
        ASSERT_INT_EQ(
                h_fail(&h, reader, "Storage.InvalidContent", "at byte 7: a quoted field is not closed"), 0);
        free(reader);
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ItemReaderFailed");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "ItemReader's object") != NULL);
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "Storage.InvalidContent: at byte 7") != NULL);
        h_done(&h);

        /* JSON and JSONL need no more; an empty object's one page ends the Map */
        h_start(&h, OBJECT_READER_DEF("{'InputType':'JSONL'}", "{'Bucket':'data','Key':'k.jsonl'}"), "{}");
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_NULL(json_object_get(json_object_get(d, "input"), "csvHeaders"));
        reader = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, reader, "{\"Items\":[],\"More\":false,\"Next\":0}"), 0);
        free(reader);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[]");
        h_done(&h);

        /* an S3 Inventory (ManifestType S3_INVENTORY, no InputType): the page
         * says which data file and byte the next one starts at */
        h_start(&h, OBJECT_READER_DEF("{'ManifestType':'S3_INVENTORY'}", "{'Bucket':'data','Key':'inv/manifest.json'}"),
                "{}");
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_JSON_EQ(json_object_get(d, "input"),
                       "{\"bucket\":\"data\",\"key\":\"inv/manifest.json\",\"inputType\":\"MANIFEST\","
                       "\"offset\":0,\"maxItems\":200}");
        reader = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, reader,
                                "{\"Items\":[{\"Bucket\":\"b\",\"Key\":\"k1\"},{\"Bucket\":\"b\",\"Key\":\"k2\"}],"
                                "\"More\":true,\"Next\":22,\"File\":1}"),
                      0);
        free(reader);
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_JSON_EQ(json_object_get(d, "input"),
                       "{\"bucket\":\"data\",\"key\":\"inv/manifest.json\",\"inputType\":\"MANIFEST\","
                       "\"offset\":22,\"maxItems\":200,\"file\":1}");
        reader = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, reader,
                                "{\"Items\":[{\"Bucket\":\"b\",\"Key\":\"k3\"}],\"More\":false,\"Next\":0,"
                                "\"File\":2}"),
                      0);
        free(reader);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_INT_EQ(json_array_size(json_object_get(h.finished, "output")), 3);
        ASSERT_STR_EQ(S(json_array_get(json_object_get(h.finished, "output"), 2), "Key"), "k3");
        h_done(&h);

        /* a VersionId cannot be honoured: States.ItemReaderFailed */
        h_start(&h,
                OBJECT_READER_DEF("{'InputType':'JSON'}",
                                  "{'Bucket':'data','Key':'k.json','VersionId':'v1'}"),
                "{}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ItemReaderFailed");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "VersionId") != NULL);
        h_done(&h);
}

/* ResultWriter: WriterConfig alone reshapes the output; with Resource the
 * records go to the bucket as SUCCEEDED_n/FAILED_n files and a manifest,
 * written by storage.put tasks one after the other, and the output says
 * where. */
/* The task id of the dispatch whose input's key ends with suffix, or NULL (new). */
static char *put_of(H *h, const char *suffix, json_t **ret_in) {
        for (size_t i = 0; i < fx_count(h, ASL_EFFECT_DISPATCH_TASK); i++) {
                json_t *d = fx_nth(h, ASL_EFFECT_DISPATCH_TASK, i);
                const char *key = S(json_object_get(d, "input"), "key");

                if (key && strlen(key) >= strlen(suffix) && streq(key + strlen(key) - strlen(suffix), suffix)) {
                        if (ret_in)
                                *ret_in = json_object_get(d, "input");
                        return task_id_of(d);
                }
        }
        return NULL;
}

/* The storage.put of the result file ending in SUFFIX holds N records, the
 * first named FIRST; it is then answered as written. */
static void put_file_written(H *h, const char *suffix, size_t n, const char *first) {
        json_t *in, *recs;
        char *w = put_of(h, suffix, &in);

        ASSERT_NOT_NULL(w);
        recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_INT_EQ(json_array_size(recs), n);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Name"), first);
        json_decref(recs);
        ASSERT_INT_EQ(h_succeed(h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
}

static bool exec_mentions(H *h, const char *text) {
        char *doc = json_dumps(h->exec, JSON_COMPACT);
        bool found = strstr(doc, text) != NULL;

        free(doc);
        return found;
}

/* Exporting, successes leave the document in files while the Map runs:
 * SUCCEEDED_0, _1 ... each written by its storage.put as soon as a file's
 * worth (records or bytes) has gathered; the end writes the rest and the
 * manifest, which waits for the writes in flight and lists every file. */
TEST(distributed_map_result_writer_early_files) {
        H h;
        char *t[6], *w, *f0, *f1;
        json_t *in, *recs, *m, *files;

        /* a bound of 2 records a file */
        dmap_start(&h,
                   "'ToleratedFailureCount':1,'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject',"
                   "'Parameters':{'Bucket':'out','Prefix':'runs'}},",
                   "{'items':[0,1,2,3,4,5]}");
        h.env.writer_file_records = 2;
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 6);
        for (int i = 0; i < 6; i++)
                t[i] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, (size_t) i));
        ASSERT_INT_EQ(h_succeed(&h, t[0], "{'out':'result-0'}"), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        ASSERT_TRUE(exec_mentions(&h, "result-0"));
        ASSERT_INT_EQ(h_succeed(&h, t[1], "{'out':'result-1'}"), 0);
        /* the file is asked for in the commit that drops its records */
        f0 = put_of(&h, "/SUCCEEDED_0.json", &in);
        ASSERT_NOT_NULL(f0);
        ASSERT_STR_EQ(S(in, "bucket"), "out");
        ASSERT_TRUE(strncmp(S(in, "key"), "runs/", 5) == 0);
        recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_INT_EQ(json_array_size(recs), 2);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Name"), "0");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Status"), "SUCCEEDED");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Output"), "{\"out\":\"result-0\"}");
        ASSERT_STR_EQ(S(json_array_get(recs, 1), "Name"), "1");
        json_decref(recs);
        ASSERT_FALSE(exec_mentions(&h, "result-0"));
        ASSERT_FALSE(exec_mentions(&h, "result-1"));
        /* nor any trace of them: the results array now starts at item 2 */
        ASSERT_TRUE(exec_mentions(&h, "\"resultsBase\":2"));
        ASSERT_INT_EQ(h_succeed(&h, t[2], "{'out':'result-2'}"), 0);
        ASSERT_INT_EQ(h_succeed(&h, t[3], "{'out':'result-3'}"), 0);
        f1 = put_of(&h, "/SUCCEEDED_1.json", &in);
        ASSERT_NOT_NULL(f1);
        ASSERT_TRUE(exec_mentions(&h, "\"resultsBase\":4"));
        recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_INT_EQ(json_array_size(recs), 2);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Name"), "2");
        json_decref(recs);
        ASSERT_INT_EQ(h_succeed(&h, f0, "{'Key':'x','Size':1}"), 0);
        ASSERT_INT_EQ(h_succeed(&h, t[4], "{'out':'result-4'}"), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        /* a failure stays to the end (a redrive replaces it) */
        ASSERT_INT_EQ(h_fail(&h, t[5], "Boom", "it broke"), 0);
        ASSERT_NULL(h.finished);
        put_file_written(&h, "/SUCCEEDED_2.json", 1, "4");
        put_file_written(&h, "/FAILED_0.json", 1, "5");
        /* SUCCEEDED_1 is still being written: the manifest waits for it */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(h_succeed(&h, f1, "{'Key':'x','Size':1}"), 0);
        w = put_of(&h, "/manifest.json", &in);
        ASSERT_NOT_NULL(w);
        m = json_loads(S(in, "body"), 0, NULL);
        files = json_object_get(m, "ResultFiles");
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "SUCCEEDED")), 3);
        for (size_t i = 0; i < 3; i++) {
                json_t *f = json_array_get(json_object_get(files, "SUCCEEDED"), i);
                char suffix[48];

                snprintf(suffix, sizeof suffix, "/SUCCEEDED_%zu.json", i);
                ASSERT_TRUE(strstr(S(f, "Key"), suffix) != NULL);
                ASSERT_TRUE(json_integer_value(json_object_get(f, "Size")) > 10);
        }
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "FAILED")), 1);
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "PENDING")), 0);
        json_decref(m);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_TRUE(history_has(&h, "MapRunSucceeded"));
        for (int i = 0; i < 6; i++)
                free(t[i]);
        free(f0);
        free(f1);
        h_done(&h);

        /* the byte bound alone: records of ~20 KB, four to a file */
        {
                char *big = malloc(20100), *out;
                char *tb[10];
                size_t nfiles = 0;

                memset(big, 'x', 20000);
                big[20000] = '\0';
                dmap_start(&h,
                           "'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject',"
                           "'Parameters':{'Bucket':'out'}},",
                           "{'items':[0,1,2,3,4,5,6,7,8,9]}");
                for (int i = 0; i < 10; i++)
                        tb[i] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, (size_t) i));
                for (int i = 0; i < 10; i++) {
                        if (asprintf(&out, "{'n':%d,'o':'%s'}", i, big) < 0)
                                abort();
                        ASSERT_INT_EQ(h_succeed(&h, tb[i], out), 0);
                        free(out);
                        w = put_of(&h, "/SUCCEEDED_0.json", &in);
                        if (!w)
                                w = put_of(&h, "/SUCCEEDED_1.json", &in);
                        if (w && i < 9) { /* a file written while the Map runs */
                                recs = json_loads(S(in, "body"), 0, NULL);
                                ASSERT_INT_EQ(json_array_size(recs), 4);
                                ASSERT_TRUE(strlen(S(in, "body")) < 192 * 1024);
                                json_decref(recs);
                                ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
                                nfiles++;
                        }
                        free(w);
                        free(tb[i]);
                }
                ASSERT_INT_EQ(nfiles, 2); /* after the 5th and the 9th success */
                w = put_of(&h, "/SUCCEEDED_2.json", &in);
                ASSERT_NOT_NULL(w);
                recs = json_loads(S(in, "body"), 0, NULL);
                ASSERT_INT_EQ(json_array_size(recs), 2);
                json_decref(recs);
                ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
                free(w);
                w = put_of(&h, "/manifest.json", &in);
                ASSERT_NOT_NULL(w);
                m = json_loads(S(in, "body"), 0, NULL);
                ASSERT_INT_EQ(json_array_size(json_object_get(json_object_get(m, "ResultFiles"), "SUCCEEDED")), 3);
                json_decref(m);
                ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
                free(w);
                ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
                free(big);
                h_done(&h);
        }

        /* a file written while the Map runs that fails: States.ResultWriterFailed */
        dmap_start(&h,
                   "'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject','Parameters':{'Bucket':'out'}},",
                   "{'items':[0,1,2]}");
        h.env.writer_file_records = 1;
        t[0] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t[0], "{'out':'result-0'}"), 0);
        w = put_of(&h, "/SUCCEEDED_0.json", NULL);
        ASSERT_NOT_NULL(w);
        ASSERT_INT_EQ(h_fail(&h, w, "Storage.Failed", "disk full"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ResultWriterFailed");
        free(w);
        free(t[0]);
        h_done(&h);
}

TEST(distributed_map_result_writer) {
        H h;

        /* FLATTEN: arrays from the children spread into one */
        dmap_start(&h, "'ResultWriter':{'WriterConfig':{'Transformation':'FLATTEN'}},",
                   "{'items':[1,2]}");
        char *t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, t0, "[1,'a']"), 0);
        ASSERT_INT_EQ(h_succeed(&h, t1, "{'b':2}"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[1,\"a\",{\"b\":2}]");
        free(t0);
        free(t1);
        h_done(&h);

        /* export: one success, one tolerated failure */
        dmap_start(&h,
                   "'ToleratedFailureCount':1,'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject',"
                   "'Parameters':{'Bucket':'out','Prefix.$':'$.prefix'}},",
                   "{'items':[{'n':1},{'n':2}],'prefix':'runs'}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));
        ASSERT_INT_EQ(h_succeed(&h, t0, "{'ok':true}"), 0);
        ASSERT_INT_EQ(h_fail(&h, t1, "Boom", "it broke"), 0);
        ASSERT_NULL(h.finished);
        /* SUCCEEDED_0.json: Step Functions' records (NONE by default) */
        json_t *d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        ASSERT_STR_EQ(S(d, "resource"), "imgflow:storage.put");
        json_t *in = json_object_get(d, "input");
        ASSERT_STR_EQ(S(in, "bucket"), "out");
        const char *key = S(in, "key");
        ASSERT_TRUE(strncmp(key, "runs/", 5) == 0 && strstr(key, "/SUCCEEDED_0.json") != NULL);
        json_t *recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_INT_EQ(json_array_size(recs), 1);
        json_t *r0 = json_array_get(recs, 0);
        ASSERT_STR_EQ(S(r0, "Status"), "SUCCEEDED");
        ASSERT_STR_EQ(S(r0, "Name"), "0");
        ASSERT_STR_EQ(S(r0, "Input"), "{\"n\":1}");
        ASSERT_STR_EQ(S(r0, "Output"), "{\"ok\":true}");
        ASSERT_NOT_NULL(S(r0, "StartDate"));
        ASSERT_NOT_NULL(S(r0, "StopDate"));
        json_decref(recs);
        char *w = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        /* FAILED_0.json */
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        in = json_object_get(d, "input");
        ASSERT_TRUE(strstr(S(in, "key"), "/FAILED_0.json") != NULL);
        recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Status"), "FAILED");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Error"), "Boom");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Cause"), "it broke");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Input"), "{\"n\":2}");
        json_decref(recs);
        w = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        /* the manifest, then the output */
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        in = json_object_get(d, "input");
        char *manifest_key = strdup(S(in, "key"));
        ASSERT_TRUE(strncmp(manifest_key, "runs/", 5) == 0 && strstr(manifest_key, "/manifest.json") != NULL);
        json_t *m = json_loads(S(in, "body"), 0, NULL);
        ASSERT_STR_EQ(S(m, "DestinationBucket"), "out");
        ASSERT_TRUE(strstr(S(m, "MapRunArn"), ":mapRun:") != NULL);
        json_t *files = json_object_get(m, "ResultFiles");
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "SUCCEEDED")), 1);
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "FAILED")), 1);
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "PENDING")), 0);
        ASSERT_TRUE(json_integer_value(json_object_get(json_array_get(json_object_get(files, "SUCCEEDED"), 0),
                                                       "Size")) > 10);
        /* the run's id is the last part of its ARN and the files' folder */
        const char *arn = S(m, "MapRunArn");
        ASSERT_TRUE(strstr(manifest_key, strrchr(arn, ':') + 1) != NULL);
        json_decref(m);
        w = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        json_t *out = json_object_get(h.finished, "output");
        ASSERT_STR_EQ(S(json_object_get(out, "ResultWriterDetails"), "Bucket"), "out");
        ASSERT_STR_EQ(S(json_object_get(out, "ResultWriterDetails"), "Key"), manifest_key);
        ASSERT_TRUE(strstr(S(out, "MapRunArn"), ":mapRun:") != NULL);
        ASSERT_TRUE(history_has(&h, "MapRunSucceeded"));
        free(manifest_key);
        free(t0);
        free(t1);
        h_done(&h);

        /* a write that fails: States.ResultWriterFailed */
        dmap_start(&h,
                   "'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject','Parameters':{'Bucket':'out'},"
                   "'WriterConfig':{'Transformation':'COMPACT','OutputType':'JSONL'}},",
                   "{'items':[1]}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t0, "{'v':1}"), 0);
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        /* COMPACT, JSONL: the outputs, one a line; no Prefix: the run's folder at the top */
        ASSERT_STR_EQ(S(json_object_get(d, "input"), "body"), "{\"v\":1}\n");
        ASSERT_TRUE(strchr(S(json_object_get(d, "input"), "key"), '/') ==
                    strrchr(S(json_object_get(d, "input"), "key"), '/'));
        w = task_id_of(d);
        ASSERT_INT_EQ(h_fail(&h, w, "Storage.AccessDenied", "no"), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ResultWriterFailed");
        ASSERT_TRUE(strstr(S(h.finished, "cause"), "Storage.AccessDenied: no") != NULL);
        free(w);
        free(t0);
        h_done(&h);

        /* a Bucket that is not a string: States.ResultWriterFailed before any child */
        dmap_start(&h,
                   "'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject','Parameters':{'Bucket.$':'$.b'}},",
                   "{'items':[1],'b':7}");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ResultWriterFailed");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        h_done(&h);
}

/* Stopping the execution aborts a running Map Run (MapRunAborted), and a
 * Parallel branch failing aborts the Map Run of its sibling. */
TEST(distributed_map_aborted) {
        H h;
        char *types;

        dmap_start(&h, "", "{'items':[1,2,3]}");
        ASSERT_INT_EQ(h_event(&h, (AslEvent){.type = ASL_EVENT_STOP}), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "ABORTED");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 3);
        types = history_types(&h);
        ASSERT_STR_EQ(types,
                      "ExecutionStarted,MapStateEntered,MapRunStarted,MapRunAborted,ExecutionAborted");
        free(types);
        h_done(&h);

        h_start(&h,
                "{'StartAt':'P','States':{'P':{'Type':'Parallel','End':true,'Branches':["
                "{'StartAt':'F','States':{'F':{'Type':'Task','Resource':'f','End':true}}},"
                "{'StartAt':'M','States':{'M':{'Type':'Map','ItemsPath':'$.items','End':true,"
                "'ItemProcessor':{'ProcessorConfig':{'Mode':'DISTRIBUTED','ExecutionType':'STANDARD'},"
                "'StartAt':'W','States':{'W':{'Type':'Task','Resource':'work','End':true}}}}}}]}}}",
                "{'items':[1,2]}");
        char *f = NULL;
        for (size_t i = 0; i < fx_count(&h, ASL_EFFECT_DISPATCH_TASK); i++)
                if (streq(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, i), "resource"), "f"))
                        f = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, i));
        ASSERT_NOT_NULL(f);
        ASSERT_INT_EQ(h_fail(&h, f, "E", NULL), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "E");
        ASSERT_TRUE(history_has(&h, "MapRunAborted"));
        free(f);
        h_done(&h);
}

/* The Map Run record's fields as this call's MAP_RUN effects leave them
 * (later ones win), merged into *acc (new object on first use). */
static void map_run_merge(H *h, json_t **acc) {
        if (!*acc)
                *acc = json_object();
        for (size_t i = 0; i < fx_count(h, ASL_EFFECT_MAP_RUN); i++)
                json_object_update(*acc, json_object_get(fx_nth(h, ASL_EFFECT_MAP_RUN, i), "set"));
}

static json_int_t I(json_t *o, const char *k) {
        return json_integer_value(json_object_get(o, k));
}

TEST(distributed_map_run_record) {
        json_t *rec = NULL, *failure = NULL;
        char *t[4];
        H h;

        dmap_start(&h, "'Label':'thumbs','MaxConcurrency':2,'ToleratedFailureCount':1,",
                   "{'items':[1,2,3,4]}");
        /* created once, with its settings, in the call that started it */
        ASSERT_TRUE(json_is_true(json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, 0), "created")));
        for (size_t i = 1; i < fx_count(&h, ASL_EFFECT_MAP_RUN); i++)
                ASSERT_TRUE(!json_is_true(json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, i), "created")));
        map_run_merge(&h, &rec);
        ASSERT_TRUE(strncmp(S(rec, "mapRunArn"), "imgflow:mapRun:test/thumbs:", 27) == 0);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_MAP_RUN, 0), "run_id"), strrchr(S(rec, "mapRunArn"), ':') + 1);
        ASSERT_STR_EQ(S(rec, "executionArn"), "imgflow:execution:test:e1");
        ASSERT_STR_EQ(S(rec, "status"), "RUNNING");
        ASSERT_INT_EQ(I(rec, "startDate"), 1700000000000LL);
        ASSERT_INT_EQ(I(rec, "maxConcurrency"), 2);
        ASSERT_INT_EQ(I(rec, "toleratedFailureCount"), 1);
        ASSERT_INT_EQ(I(rec, "total"), 4);
        ASSERT_INT_EQ(I(rec, "next"), 2);
        ASSERT_INT_EQ(I(rec, "childRunning"), 2);
        ASSERT_INT_EQ(I(rec, "children"), 2);
        t[0] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        t[1] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));

        /* a child's event: one small update of the counters, not the settings */
        ASSERT_INT_EQ(h_succeed(&h, t[0], "'a'"), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_MAP_RUN), 1);
        ASSERT_NULL(json_object_get(json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, 0), "set"), "mapRunArn"));
        /* only the counters that moved: one child done, the next one started */
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, 0), "set"),
                       "{\"next\":3,\"done\":1,\"children\":3,\"childDone\":1}");
        map_run_merge(&h, &rec);
        ASSERT_INT_EQ(I(rec, "done"), 1);
        ASSERT_INT_EQ(I(rec, "childDone"), 1);
        ASSERT_INT_EQ(I(rec, "next"), 3);
        ASSERT_INT_EQ(I(rec, "childRunning"), 2);
        t[2] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));

        /* a failure within the tolerance: its record, with error and cause */
        h.env.now_ms += 1000;
        ASSERT_INT_EQ(h_fail(&h, t[1], "Image.Invalid", "not a JPEG"), 0);
        for (size_t i = 0; i < fx_count(&h, ASL_EFFECT_MAP_RUN); i++)
                if (json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, i), "failure"))
                        failure = json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, i), "failure");
        ASSERT_NOT_NULL(failure);
        ASSERT_JSON_EQ(failure,
                       "{\"index\":1,\"items\":1,\"error\":\"Image.Invalid\",\"date\":1700000001000,"
                       "\"cause\":\"not a JPEG\"}");
        map_run_merge(&h, &rec);
        ASSERT_INT_EQ(I(rec, "failed"), 1);
        ASSERT_INT_EQ(I(rec, "childFailed"), 1);
        t[3] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t[2], "'c'"), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(h_succeed(&h, t[3], "'d'"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        map_run_merge(&h, &rec);
        ASSERT_STR_EQ(S(rec, "status"), "SUCCEEDED");
        ASSERT_INT_EQ(I(rec, "stopDate"), 1700000001000LL);
        ASSERT_INT_EQ(I(rec, "done"), 3);
        ASSERT_INT_EQ(I(rec, "failed"), 1);
        ASSERT_INT_EQ(I(rec, "childRunning"), 0);
        ASSERT_INT_EQ(I(rec, "children"), 4);
        for (size_t i = 0; i < 4; i++)
                free(t[i]);
        json_decref(rec);
        h_done(&h);

        /* stopped: the running children's items are aborted */
        rec = NULL;
        dmap_start(&h, "'MaxConcurrency':2,", "{'items':[1,2,3]}");
        ASSERT_INT_EQ(h_event(&h, (AslEvent){.type = ASL_EVENT_STOP}), 0);
        map_run_merge(&h, &rec);
        ASSERT_STR_EQ(S(rec, "status"), "ABORTED");
        ASSERT_INT_EQ(I(rec, "aborted"), 2);
        ASSERT_INT_EQ(I(rec, "childAborted"), 2);
        ASSERT_INT_EQ(I(rec, "childRunning"), 0);
        json_decref(rec);
        h_done(&h);
}

TEST(distributed_map_update_map_run) {
        json_t *rec = NULL;
        char *arn, *t0;
        size_t n = 0;
        AslEvent up;
        H h;

        /* 5 items, one child at a time */
        dmap_start(&h, "'MaxConcurrency':1,", "{'items':[1,2,3,4,5]}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        map_run_merge(&h, &rec);
        arn = strdup(S(rec, "mapRunArn"));
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));

        /* raised to 3 while it runs: two more children start at once */
        up = (AslEvent){.type = ASL_EVENT_UPDATE_MAP_RUN,
                        .map_run_arn = arn,
                        .set_max_concurrency = true,
                        .max_concurrency = 3};
        ASSERT_INT_EQ(h_event(&h, up), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        map_run_merge(&h, &rec);
        ASSERT_INT_EQ(I(rec, "maxConcurrency"), 3);
        ASSERT_INT_EQ(I(rec, "childRunning"), 3);
        ASSERT_INT_EQ(I(rec, "next"), 3);
        {
                char *t1 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
                char *t2 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 1));

                /* and the run keeps to 3: one child ends, one starts */
                ASSERT_INT_EQ(h_succeed(&h, t0, "1"), 0);
                ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
                dmap_echo_all(&h, &n);
                ASSERT_NULL(h.finished);
                ASSERT_INT_EQ(h_succeed(&h, t1, "2"), 0);
                ASSERT_INT_EQ(h_succeed(&h, t2, "3"), 0);
                free(t1);
                free(t2);
        }
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_INT_EQ(json_array_size(json_object_get(h.finished, "output")), 5);
        /* a finished run cannot be updated */
        ASSERT_INT_EQ(h_event(&h, up), -EINVAL);
        free(t0);
        free(arn);
        json_decref(rec);
        h_done(&h);

        /* an unknown run of a running execution: ResourceNotFound */
        dmap_start(&h, "'MaxConcurrency':1,", "{'items':[1,2]}");
        up = (AslEvent){.type = ASL_EVENT_UPDATE_MAP_RUN,
                        .map_run_arn = "imgflow:mapRun:test/M:nope",
                        .set_max_concurrency = true,
                        .max_concurrency = 3};
        {
                AslError e = {};

                asl_effects_clear(&h.fx);
                ASSERT_INT_EQ(asl_exec_handle(h.m, h.exec, &up, &h.env, &h.fx, &e), -ENOENT);
                ASSERT_STR_EQ(e.error, "ResourceNotFound");
                asl_error_clear(&e);
        }
        h_done(&h);

        /* a tolerance lowered below the failures so far fails the run now */
        rec = NULL;
        dmap_start(&h, "'MaxConcurrency':2,'ToleratedFailureCount':5,", "{'items':[1,2,3,4]}");
        map_run_merge(&h, &rec);
        arn = strdup(S(rec, "mapRunArn"));
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t0, "E", NULL), 0);
        ASSERT_NULL(h.finished);
        up = (AslEvent){.type = ASL_EVENT_UPDATE_MAP_RUN,
                        .map_run_arn = arn,
                        .set_tolerated_count = true,
                        .tolerated_count = 0};
        ASSERT_INT_EQ(h_event(&h, up), 0);
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        map_run_merge(&h, &rec);
        ASSERT_STR_EQ(S(rec, "status"), "FAILED");
        ASSERT_INT_EQ(I(rec, "toleratedFailureCount"), 0);
        free(t0);
        free(arn);
        json_decref(rec);
        h_done(&h);
}

TEST(distributed_map_result_writer_failed_run) {
        json_t *rec = NULL, *d, *in, *recs, *m, *files;
        char *t0, *w;
        H h;

        /* 4 items, 2 at a time, no failure tolerated: the first failure fails
         * the run, after its results are written */
        dmap_start(&h,
                   "'MaxConcurrency':2,'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject',"
                   "'Parameters':{'Bucket':'out','Prefix':'runs'}},",
                   "{'items':[{'n':0},{'n':1},{'n':2},{'n':3}]}");
        t0 = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_fail(&h, t0, "Image.Invalid", "not a JPEG"), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_CANCEL_TASK), 1); /* the other running child stops */
        /* FAILED_0.json: the failed child's record */
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        in = json_object_get(d, "input");
        ASSERT_STR_EQ(S(d, "resource"), "imgflow:storage.put");
        ASSERT_TRUE(strstr(S(in, "key"), "/FAILED_0.json") != NULL);
        recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_INT_EQ(json_array_size(recs), 1);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Status"), "FAILED");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Name"), "0");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Error"), "Image.Invalid");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Cause"), "not a JPEG");
        json_decref(recs);
        w = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        /* PENDING_0.json: the child that was still running, stopped */
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        in = json_object_get(d, "input");
        ASSERT_TRUE(strstr(S(in, "key"), "/PENDING_0.json") != NULL);
        recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_INT_EQ(json_array_size(recs), 1);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Status"), "ABORTED");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Name"), "1");
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Input"), "{\"n\":1}");
        ASSERT_NOT_NULL(S(json_array_get(recs, 0), "StartDate"));
        ASSERT_NULL(json_object_get(json_array_get(recs, 0), "Output"));
        json_decref(recs);
        w = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        /* the manifest lists both; then the run fails with its error */
        d = fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0);
        in = json_object_get(d, "input");
        ASSERT_TRUE(strstr(S(in, "key"), "/manifest.json") != NULL);
        m = json_loads(S(in, "body"), 0, NULL);
        files = json_object_get(m, "ResultFiles");
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "SUCCEEDED")), 0);
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "FAILED")), 1);
        ASSERT_INT_EQ(json_array_size(json_object_get(files, "PENDING")), 1);
        ASSERT_TRUE(strstr(S(json_array_get(json_object_get(files, "PENDING"), 0), "Key"),
                           "/PENDING_0.json") != NULL);
        json_decref(m);
        ASSERT_NULL(h.finished);
        w = task_id_of(d);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        ASSERT_TRUE(history_has(&h, "MapRunFailed"));
        map_run_merge(&h, &rec);
        ASSERT_STR_EQ(S(rec, "status"), "FAILED");
        ASSERT_INT_EQ(I(rec, "resultsWritten"), 2);
        ASSERT_INT_EQ(I(rec, "childResultsWritten"), 2);
        ASSERT_INT_EQ(I(rec, "aborted"), 1);
        ASSERT_INT_EQ(I(rec, "childAborted"), 1);
        json_decref(rec);
        free(t0);

        /* redriven: the failed child and the stopped one run again, then the
         * two not started; the run exports again and succeeds */
        {
                size_t n = 0;

                ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
                ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
                dmap_echo_all(&h, &n);
                ASSERT_INT_EQ(n, 2 + 2 + 2); /* 4 children, SUCCEEDED_0.json, the manifest */
                ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
                ASSERT_NOT_NULL(
                        json_object_get(json_object_get(h.finished, "output"), "ResultWriterDetails"));
        }
        h_done(&h);
}

/* ---- a distributed Map's children as executions of their own ---- */

static void dmap_child_start(H *h, const char *extra, const char *input) {
        char *def;

        if (asprintf(&def, DMAP_DEF, extra) < 0)
                abort();
        h_init(h, def, input);
        h->env.map_child_executions = true;
        h_event(h, (AslEvent){.type = ASL_EVENT_START});
        free(def);
}

/* The name of START_CHILD i of the last call (new string). */
static char *child_of(H *h, size_t i) {
        json_t *c = fx_nth(h, ASL_EFFECT_START_CHILD, i);

        ASSERT_NOT_NULL(c);
        return strdup(S(c, "name"));
}

static int h_child_ended(H *h, const char *name, const char *status, const char *output, const char *error,
                         int64_t redrives) {
        json_t *o = output ? Q(output) : NULL;
        int r = h_event(h, (AslEvent){.type = ASL_EVENT_CHILD_ENDED,
                                      .child = name,
                                      .status = status,
                                      .output = o,
                                      .error = error,
                                      .cause = error ? "it failed" : NULL,
                                      .child_redrives = redrives});
        json_decref(o);
        return r;
}

TEST(distributed_map_child_executions) {
        json_t *children, *rec = NULL;
        char *c[4], *run_id;
        H h;

        dmap_child_start(&h, "'MaxConcurrency':2,'ToleratedFailureCount':1,", "{'items':[1,2,3,4]}");
        /* two children started as executions: no task of theirs in the parent */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 2);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 0);
        map_run_merge(&h, &rec);
        run_id = strdup(strrchr(S(rec, "mapRunArn"), ':') + 1);
        for (size_t i = 0; i < 2; i++) {
                json_t *sc = fx_nth(&h, ASL_EFFECT_START_CHILD, i);
                char *want;

                c[i] = child_of(&h, i);
                ASSERT_TRUE(asprintf(&want, "%s-%zu", run_id, i) > 0);
                ASSERT_STR_EQ(c[i], want);
                free(want);
                ASSERT_STR_EQ(S(sc, "machine"), "/States/M/ItemProcessor");
                ASSERT_STR_EQ(S(sc, "map_run_arn"), S(rec, "mapRunArn"));
                ASSERT_JSON_EQ(json_object_get(sc, "input"), i == 0 ? "1" : "2");
                ASSERT_INT_EQ(I(sc, "items"), 1);
                ASSERT_INT_EQ(I(sc, "redrive"), 0);
        }
        /* the parent keeps the running children and counts, no frames of theirs */
        ASSERT_INT_EQ(json_object_size(json_object_get(h.exec, "frames")), 1);
        children = json_object_get(json_object_get(json_object_get(h.exec, "frames"), "0"), "children");
        ASSERT_INT_EQ(json_object_size(json_object_get(children, "execs")), 2);
        ASSERT_INT_EQ(I(rec, "childRunning"), 2);

        /* one ends: the next starts, in the same call; the same end again is stale */
        ASSERT_INT_EQ(h_child_ended(&h, c[0], "SUCCEEDED", "'a'", NULL, 0), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 1);
        c[2] = child_of(&h, 0);
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_START_CHILD, 0), "input"), "3");
        ASSERT_JSON_EQ(json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, 0), "set"),
                       "{\"next\":3,\"done\":1,\"children\":3,\"childDone\":1}");
        ASSERT_INT_EQ(h_child_ended(&h, c[0], "SUCCEEDED", "'a'", NULL, 0), 1);
        ASSERT_INT_EQ(h_child_ended(&h, "no-such-child", "SUCCEEDED", "'x'", NULL, 0), 1);
        /* a failure within the tolerance: its record; the last one starts */
        ASSERT_INT_EQ(h_child_ended(&h, c[1], "FAILED", NULL, "Image.Invalid", 0), 0);
        ASSERT_NOT_NULL(json_object_get(fx_nth(&h, ASL_EFFECT_MAP_RUN, 0), "failure"));
        c[3] = child_of(&h, 0);
        ASSERT_INT_EQ(h_child_ended(&h, c[3], "SUCCEEDED", "'d'", NULL, 0), 0);
        ASSERT_NULL(h.finished);
        ASSERT_INT_EQ(h_child_ended(&h, c[2], "SUCCEEDED", "'c'", NULL, 0), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"),
                       "[\"a\",{\"Error\":\"Image.Invalid\",\"Cause\":\"it failed\"},\"c\",\"d\"]");
        /* no child's events in the parent's history */
        ASSERT_TRUE(!history_has(&h, "TaskScheduled"));
        for (size_t i = 0; i < 4; i++)
                free(c[i]);
        free(run_id);
        json_decref(rec);
        rec = NULL;
        h_done(&h);

        /* a result thrown away ("ResultPath": null) is not kept: the
         * parent's document does not grow with the items */
        dmap_child_start(&h, "'ResultPath':null,", "{'items':[1,2,3]}");
        for (size_t i = 0; i < 3; i++)
                c[i] = child_of(&h, i);
        ASSERT_INT_EQ(h_child_ended(&h, c[0], "SUCCEEDED", "{'big':'xxxxxxxxxxxxxxxx'}", NULL, 0), 0);
        ASSERT_INT_EQ(h_child_ended(&h, c[1], "SUCCEEDED", "{'big':'xxxxxxxxxxxxxxxx'}", NULL, 0), 0);
        children = json_object_get(json_object_get(json_object_get(h.exec, "frames"), "0"), "children");
        ASSERT_INT_EQ(json_array_size(json_object_get(children, "results")), 0);
        ASSERT_INT_EQ(h_child_ended(&h, c[2], "SUCCEEDED", "'c'", NULL, 0), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "{\"items\":[1,2,3]}");
        for (size_t i = 0; i < 3; i++)
                free(c[i]);
        h_done(&h);

        /* UpdateMapRun: more room starts more children at once */
        dmap_child_start(&h, "'MaxConcurrency':1,", "{'items':[1,2,3,4]}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 1);
        map_run_merge(&h, &rec);
        ASSERT_INT_EQ(h_event(&h, (AslEvent){.type = ASL_EVENT_UPDATE_MAP_RUN,
                                             .map_run_arn = S(rec, "mapRunArn"),
                                             .set_max_concurrency = true,
                                             .max_concurrency = 3}),
                      0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 2);
        json_decref(rec);
        rec = NULL;
        h_done(&h);

        /* a child that times out or is stopped fails its item */
        dmap_child_start(&h, "", "{'items':[1]}");
        c[0] = child_of(&h, 0);
        ASSERT_INT_EQ(h_child_ended(&h, c[0], "TIMED_OUT", NULL, NULL, 0), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        free(c[0]);
        h_done(&h);

        /* a ResultWriter's records name each child as Step Functions does */
        dmap_child_start(
                &h, "'ResultWriter':{'WriterConfig':{'Transformation':'NONE'}},'ToleratedFailureCount':1,",
                "{'items':[1,2]}");
        c[0] = child_of(&h, 0);
        c[1] = child_of(&h, 1);
        ASSERT_INT_EQ(h_child_ended(&h, c[0], "SUCCEEDED", "'a'", NULL, 0), 0);
        ASSERT_INT_EQ(h_child_ended(&h, c[1], "FAILED", NULL, "Image.Invalid", 0), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        {
                json_t *out = json_object_get(h.finished, "output"), *r0 = json_array_get(out, 0),
                       *r1 = json_array_get(out, 1);
                char *want;

                ASSERT_STR_EQ(S(r0, "Name"), c[0]);
                ASSERT_TRUE(asprintf(&want, "imgflow:execution:test/M:%s", c[0]) > 0);
                ASSERT_STR_EQ(S(r0, "ExecutionArn"), want);
                free(want);
                ASSERT_STR_EQ(S(r0, "StateMachineArn"), "imgflow:stateMachine:test/M");
                ASSERT_STR_EQ(S(r0, "Status"), "SUCCEEDED");
                ASSERT_STR_EQ(S(r0, "Output"), "\"a\"");
                ASSERT_STR_EQ(S(r0, "RedriveStatus"), "NOT_REDRIVABLE");
                ASSERT_INT_EQ(I(r0, "RedriveCount"), 0);
                ASSERT_STR_EQ(S(r1, "Status"), "FAILED");
                ASSERT_STR_EQ(S(r1, "Error"), "Image.Invalid");
                ASSERT_STR_EQ(S(r1, "RedriveStatus"), "REDRIVABLE");
        }
        free(c[0]);
        free(c[1]);
        h_done(&h);

        /* without child executions (imgflow run, EXPRESS children) they run inside */
        dmap_start(&h, "'MaxConcurrency':2,", "{'items':[1,2,3]}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 2);
        h_done(&h);

        /* batched: each child says how many items its batch holds (ListExecutions' itemCount) */
        dmap_child_start(&h, "'MaxConcurrency':2,'ItemBatcher':{'MaxItemsPerBatch':3},",
                         "{'items':[1,2,3,4,5]}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 2);
        ASSERT_INT_EQ(I(fx_nth(&h, ASL_EFFECT_START_CHILD, 0), "items"), 3);
        ASSERT_INT_EQ(I(fx_nth(&h, ASL_EFFECT_START_CHILD, 1), "items"), 2);
        h_done(&h);
}

TEST(distributed_map_child_stop_and_redrive) {
        char *c[3], *err = NULL;
        H h;

        dmap_child_start(&h, "'MaxConcurrency':2,", "{'items':[1,2,3]}");
        c[0] = child_of(&h, 0);
        c[1] = child_of(&h, 1);
        ASSERT_INT_EQ(h_child_ended(&h, c[0], "SUCCEEDED", "'a'", NULL, 0), 0);
        c[2] = child_of(&h, 0);
        /* the parent stopped: its running children are stopped with it */
        ASSERT_INT_EQ(h_event(&h, (AslEvent){.type = ASL_EVENT_STOP}), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "ABORTED");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_STOP_CHILD), 2);
        ASSERT_TRUE(history_has(&h, "MapRunAborted"));
        /* their ends come later, to a parent that counts them no more */
        ASSERT_TRUE(h_child_ended(&h, c[1], "ABORTED", NULL, NULL, 0) != 0);

        /* a redrive redrives the two children, under their names, not the one that succeeded */
        ASSERT_INT_EQ(h_redrive(&h, &err), 0);
        free(err);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 2);
        for (size_t i = 0; i < 2; i++) {
                json_t *sc = fx_nth(&h, ASL_EFFECT_START_CHILD, i);

                ASSERT_INT_EQ(I(sc, "redrive"), 1);
                ASSERT_TRUE(streq(S(sc, "name"), c[1]) || streq(S(sc, "name"), c[2]));
        }
        ASSERT_TRUE(history_has(&h, "MapRunRedriven"));
        {
                json_t *d = details_of(&h, "MapRunRedriven", "mapRunRedrivenEventDetails");

                ASSERT_INT_EQ(I(d, "redriveCount"), 1);
                ASSERT_TRUE(strncmp(S(d, "mapRunArn"), "imgflow:mapRun:test/M:", 22) == 0);
        }
        /* an end of the attempt before the redrive is stale; the redriven ones count */
        ASSERT_INT_EQ(h_child_ended(&h, c[1], "ABORTED", NULL, NULL, 0), 1);
        ASSERT_INT_EQ(h_child_ended(&h, c[1], "SUCCEEDED", "'b'", NULL, 1), 0);
        ASSERT_INT_EQ(h_child_ended(&h, c[2], "SUCCEEDED", "'c'", NULL, 1), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"a\",\"b\",\"c\"]");
        for (size_t i = 0; i < 3; i++)
                free(c[i]);
        h_done(&h);
}

TEST(distributed_map_child_never_started) {
        /* A child whose start could not be sent or was refused (its end says
         * unstarted) fails its item; a redrive of the parent starts it again
         * (StartExecution, redrive 0), as there is no execution to redrive. */
        char *c[2], *err = NULL;
        H h;

        dmap_child_start(&h, "'MaxConcurrency':2,", "{'items':[1,2]}");
        c[0] = child_of(&h, 0);
        c[1] = child_of(&h, 1);
        ASSERT_INT_EQ(h_event(&h, (AslEvent){.type = ASL_EVENT_CHILD_ENDED,
                                             .child = c[1],
                                             .status = "FAILED",
                                             .error = "States.DataLimitExceeded",
                                             .cause = "too large",
                                             .child_unstarted = true}),
                      0);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        ASSERT_INT_EQ(h_redrive(&h, &err), 0);
        free(err);
        /* child 0 was stopped with the Map Run: redriven; child 1 is started anew */
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_START_CHILD), 2);
        for (size_t i = 0; i < 2; i++) {
                json_t *sc = fx_nth(&h, ASL_EFFECT_START_CHILD, i);

                ASSERT_INT_EQ(I(sc, "redrive"), streq(S(sc, "name"), c[1]) ? 0 : 1);
        }
        ASSERT_INT_EQ(h_child_ended(&h, c[1], "SUCCEEDED", "'b'", NULL, 0), 0);
        ASSERT_INT_EQ(h_child_ended(&h, c[0], "SUCCEEDED", "'a'", NULL, 1), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "[\"a\",\"b\"]");
        free(c[0]);
        free(c[1]);
        h_done(&h);
}

TEST(distributed_map_child_document) {
        /* a child runs the ItemProcessor as an execution of its own, with its history */
        json_t *mc = json_pack("{s:s, s:s, s:i}", "parent", "test:e1", "mapRunArn",
                               "imgflow:mapRun:test/M:r", "index", 3);
        json_t *in = json_integer(5);
        AslError e = {};
        char *t;
        H h;

        dmap_start(&h, "", "{'items':[]}");
        h_done(&h);
        dmap_start(&h, "", "{'items':[]}");
        json_decref(h.exec);
        ASSERT_INT_EQ(asl_exec_new(h.m,
                                   &(AslExecInfo){.execution_id = "imgflow:execution:test/M:r-3",
                                                  .execution_name = "r-3",
                                                  .state_machine_id = "imgflow:stateMachine:test/M",
                                                  .state_machine_name = "test",
                                                  .input = in,
                                                  .machine = "/States/M/ItemProcessor",
                                                  .map_child = mc},
                                   &h.env, &h.exec, &e),
                      0);
        ASSERT_INT_EQ(asl_exec_new(h.m, &(AslExecInfo){.execution_name = "x", .machine = "/States/Nope"},
                                   &h.env, &(json_t *){NULL}, &e),
                      -EINVAL);
        asl_error_clear(&e);
        json_decref(h.history);
        h.history = json_array();
        json_decref(h.finished);
        h.finished = NULL;
        ASSERT_INT_EQ(h_event(&h, (AslEvent){.type = ASL_EVENT_START}), 0);
        ASSERT_JSON_EQ(asl_exec_map_child(h.exec),
                       "{\"parent\":\"test:e1\",\"mapRunArn\":\"imgflow:mapRun:test/M:r\",\"index\":3}");
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 1);
        ASSERT_STR_EQ(S(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0), "state"), "W");
        t = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, 0));
        ASSERT_INT_EQ(h_succeed(&h, t, "'done'"), 0);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_JSON_EQ(json_object_get(h.finished, "output"), "\"done\"");
        ASSERT_TRUE(history_has(&h, "ExecutionStarted"));
        ASSERT_TRUE(history_has(&h, "TaskStateEntered"));
        ASSERT_TRUE(history_has(&h, "ExecutionSucceeded"));
        free(t);
        json_decref(mc);
        json_decref(in);
        h_done(&h);
}
/* With child executions of their own, a child's end is where its record
 * leaves for a file. */
TEST(distributed_map_result_writer_early_files_children) {
        H h;
        char *c0, *c1, *w;
        json_t *in, *recs;

        dmap_child_start(&h,
                         "'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject',"
                         "'Parameters':{'Bucket':'out'}},",
                         "{'items':[0,1]}");
        h.env.writer_file_records = 1;
        c0 = child_of(&h, 0);
        c1 = child_of(&h, 1);
        ASSERT_INT_EQ(h_child_ended(&h, c0, "SUCCEEDED", "{'out':'result-0'}", NULL, 0), 0);
        w = put_of(&h, "/SUCCEEDED_0.json", &in);
        ASSERT_NOT_NULL(w);
        recs = json_loads(S(in, "body"), 0, NULL);
        ASSERT_INT_EQ(json_array_size(recs), 1);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Name"), c0);
        ASSERT_STR_EQ(S(json_array_get(recs, 0), "Output"), "{\"out\":\"result-0\"}");
        json_decref(recs);
        ASSERT_FALSE(exec_mentions(&h, "result-0"));
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        ASSERT_INT_EQ(h_child_ended(&h, c1, "SUCCEEDED", "{'out':'result-1'}", NULL, 0), 0);
        w = put_of(&h, "/SUCCEEDED_1.json", NULL);
        ASSERT_NOT_NULL(w);
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        w = put_of(&h, "/manifest.json", &in);
        ASSERT_NOT_NULL(w);
        {
                json_t *m = json_loads(S(in, "body"), 0, NULL);

                ASSERT_INT_EQ(json_array_size(json_object_get(json_object_get(m, "ResultFiles"), "SUCCEEDED")), 2);
                json_decref(m);
        }
        ASSERT_INT_EQ(h_succeed(&h, w, "{'Key':'x','Size':1}"), 0);
        free(w);
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        free(c0);
        free(c1);
        h_done(&h);
}


/* Answer every storage.put in the last call's effects and in the ones
 * they lead to, in order, keeping each file's body by key in bodies. */
static void puts_answer_all(H *h, json_t *bodies) {
        json_t *pending = json_array();

        for (;;) {
                for (size_t i = 0; i < fx_count(h, ASL_EFFECT_DISPATCH_TASK); i++) {
                        json_t *d = fx_nth(h, ASL_EFFECT_DISPATCH_TASK, i);

                        if (!streq(S(d, "resource"), "imgflow:storage.put"))
                                continue;
                        json_object_set(bodies, S(json_object_get(d, "input"), "key"),
                                        json_object_get(json_object_get(d, "input"), "body"));
                        json_array_append_new(pending, json_string(S(d, "task_id")));
                }
                if (json_array_size(pending) == 0)
                        break;
                char *id = strdup(json_string_value(json_array_get(pending, 0)));
                json_array_remove(pending, 0);
                ASSERT_INT_EQ(h_succeed(h, id, "{'Key':'x','Size':1}"), 0);
                free(id);
        }
        json_decref(pending);
}

/* The names of the records in the files a manifest lists of one status. */
static char *listed_names(json_t *bodies, const char *manifest_key, const char *status) {
        json_t *m = json_loads(json_string_value(json_object_get(bodies, manifest_key)), 0, NULL), *f;
        json_t *names = json_array();
        size_t i, k;
        char *s;

        ASSERT_NOT_NULL(m);
        json_array_foreach (json_object_get(json_object_get(m, "ResultFiles"), status), i, f) {
                json_t *recs = json_loads(json_string_value(json_object_get(bodies, S(f, "Key"))), 0, NULL), *r;

                ASSERT_NOT_NULL(recs);
                json_array_foreach (recs, k, r)
                        json_array_append_new(names, json_string(S(r, "Name")));
                json_decref(recs);
        }
        s = json_dumps(names, JSON_COMPACT);
        json_decref(names);
        json_decref(m);
        return s;
}

/* A failed run that wrote files while it ran, then redriven: its manifest
 * lists the early files and the end's (PENDING_0 for the children it
 * stopped); the redrive's new records go into new SUCCEEDED files and each
 * item has one record among the files the last manifest lists. */
TEST(distributed_map_result_writer_early_files_redrive) {
        H h;
        char *t[5], *s, *mk = NULL;
        json_t *bodies = json_object();
        const char *key;
        json_t *v;

        dmap_start(&h,
                   "'ResultWriter':{'Resource':'arn:aws:states:::s3:putObject','Parameters':{'Bucket':'out'}},",
                   "{'items':[0,1,2,3,4]}");
        h.env.writer_file_records = 2;
        for (int i = 0; i < 5; i++)
                t[i] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, (size_t) i));
        ASSERT_INT_EQ(h_succeed(&h, t[0], "{'out':0}"), 0);
        ASSERT_INT_EQ(h_succeed(&h, t[1], "{'out':1}"), 0);
        puts_answer_all(&h, bodies); /* SUCCEEDED_0 */
        ASSERT_INT_EQ(h_fail(&h, t[2], "Boom", "it broke"), 0);
        puts_answer_all(&h, bodies);
        ASSERT_STR_EQ(S(h.finished, "status"), "FAILED");
        ASSERT_STR_EQ(S(h.finished, "error"), "States.ExceedToleratedFailureThreshold");
        json_object_foreach (bodies, key, v)
                if (strstr(key, "/manifest.json"))
                        mk = strdup(key);
        ASSERT_NOT_NULL(mk);
        s = listed_names(bodies, mk, "SUCCEEDED");
        ASSERT_STR_EQ(s, "[\"0\",\"1\"]");
        free(s);
        s = listed_names(bodies, mk, "FAILED");
        ASSERT_STR_EQ(s, "[\"2\"]");
        free(s);
        s = listed_names(bodies, mk, "PENDING");
        ASSERT_STR_EQ(s, "[\"3\",\"4\"]");
        free(s);
        for (int i = 0; i < 5; i++)
                free(t[i]);

        /* the redrive runs 2, 3 and 4 again */
        json_object_clear(bodies);
        ASSERT_INT_EQ(h_redrive(&h, NULL), 0);
        ASSERT_INT_EQ(fx_count(&h, ASL_EFFECT_DISPATCH_TASK), 3);
        for (int i = 0; i < 3; i++)
                t[i] = task_id_of(fx_nth(&h, ASL_EFFECT_DISPATCH_TASK, (size_t) i));
        for (int i = 0; i < 3; i++) {
                ASSERT_INT_EQ(h_succeed(&h, t[i], "{'out':'again'}"), 0);
                puts_answer_all(&h, bodies);
                free(t[i]);
        }
        ASSERT_STR_EQ(S(h.finished, "status"), "SUCCEEDED");
        ASSERT_NOT_NULL(json_object_get(bodies, mk)); /* the same run, the same manifest */
        ASSERT_TRUE(strstr(json_string_value(json_object_get(bodies, mk)), "SUCCEEDED_1.json") != NULL);
        s = listed_names(bodies, mk, "FAILED");
        ASSERT_STR_EQ(s, "[]");
        free(s);
        s = listed_names(bodies, mk, "PENDING");
        ASSERT_STR_EQ(s, "[]");
        free(s);
        /* SUCCEEDED_0 (the first attempt's) is listed again, not rewritten */
        {
                json_t *m = json_loads(json_string_value(json_object_get(bodies, mk)), 0, NULL), *f;
                size_t i, n = 0;
                int seen[5] = {0};

                json_array_foreach (json_object_get(json_object_get(m, "ResultFiles"), "SUCCEEDED"), i, f) {
                        char suffix[48];

                        snprintf(suffix, sizeof suffix, "/SUCCEEDED_%zu.json", i);
                        ASSERT_TRUE(strstr(S(f, "Key"), suffix) != NULL);
                        if (i == 0) {
                                ASSERT_NULL(json_object_get(bodies, S(f, "Key")));
                                seen[0]++, seen[1]++, n += 2;
                                continue;
                        }
                        json_t *recs = json_loads(json_string_value(json_object_get(bodies, S(f, "Key"))), 0, NULL), *r;
                        size_t k;

                        ASSERT_NOT_NULL(recs);
                        json_array_foreach (recs, k, r) {
                                ASSERT_STR_EQ(S(r, "Status"), "SUCCEEDED");
                                ASSERT_STR_EQ(S(r, "Output"), "{\"out\":\"again\"}");
                                seen[atoi(S(r, "Name"))]++;
                                n++;
                        }
                        json_decref(recs);
                }
                ASSERT_INT_EQ(n, 5);
                for (int j = 0; j < 5; j++)
                        ASSERT_INT_EQ(seen[j], 1);
                json_decref(m);
        }
        free(mk);
        json_decref(bodies);
        h_done(&h);
}
