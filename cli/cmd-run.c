/* SPDX-License-Identifier: MIT */
/*
 * imgflow run: execute a definition in this process.
 *
 * A tiny runtime around the engine: pending tasks are a FIFO, timers a map
 * of id -> due time. Tasks complete at once with the mocked result (Step
 * Functions Local MockConfigFile format) or, without a mock, with their
 * input. When no task is pending the earliest timer fires; the clock jumps
 * to its due time (or, with --real-time, we sleep until then).
 *
 * Mock lookup: StateMachines.<machine>.TestCases.<case>.<state> names a
 * response in MockedResponses; its keys are call numbers of that state in
 * this run, "0" or an inclusive range "1-2", each {"Return": value} or
 * {"Throw": {"Error", "Cause"}}. A call number past every key reuses the
 * response with the highest key.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asl-definition.h"
#include "asl-engine.h"
#include "cli.h"
#include "clock.h"
#include "cmd-remote.h"
#include "random.h"

/* Bound on engine events in one run (each one is at least one history
 * event, so the history limit normally stops a runaway first). */
#define RUN_MAX_EVENTS 10000000

typedef struct Runner {
        AslMachine *machine;
        json_t *exec;
        AslEnv env;
        AslDispatch *tasks; /* pending tasks, FIFO (taken over from the effects) */
        size_t n_tasks, allocated_tasks;
        json_t *timers;         /* timer_id -> due_ms */
        json_t *calls;          /* state name -> calls so far */
        json_t *test_case;      /* borrowed from mocks: state -> response name */
        json_t *responses;      /* borrowed from mocks: MockedResponses */
        AslFinished finished;   /* status NULL until FINISHED (taken over) */
        bool history;
        bool real_time;
} Runner;

static void runner_drop_task(Runner *run, size_t k) {
        asl_dispatch_done(&run->tasks[k]);
        memmove(run->tasks + k, run->tasks + k + 1, (run->n_tasks - k - 1) * sizeof *run->tasks);
        run->n_tasks--;
}

static void runner_apply_effects(Runner *run, AslEffects *fx) {
        for (size_t i = 0; i < fx->n; i++) {
                AslEffect *e = &fx->items[i];

                switch (e->type) {
                case ASL_EFFECT_DISPATCH_TASK:
                        if (run->n_tasks >= run->allocated_tasks) {
                                run->allocated_tasks = run->allocated_tasks ? run->allocated_tasks * 2 : 16;
                                run->tasks = xrealloc(run->tasks, run->allocated_tasks * sizeof *run->tasks);
                        }
                        run->tasks[run->n_tasks++] = e->dispatch;
                        e->dispatch = (AslDispatch){};
                        break;
                case ASL_EFFECT_CANCEL_TASK:
                        for (size_t k = 0; k < run->n_tasks; k++)
                                if (streq(run->tasks[k].task_id, e->cancel_task.task_id)) {
                                        runner_drop_task(run, k);
                                        break;
                                }
                        break;
                case ASL_EFFECT_SCHEDULE_TIMER:
                        json_object_set_new(run->timers, e->timer.timer_id, json_integer(e->timer.due_ms));
                        break;
                case ASL_EFFECT_CANCEL_TIMER:
                        json_object_del(run->timers, e->timer.timer_id);
                        break;
                case ASL_EFFECT_HISTORY:
                        if (run->history)
                                fprintf(stderr, "%s\n", e->history.text);
                        break;
                case ASL_EFFECT_FINISHED:
                        run->finished = e->finished;
                        e->finished = (AslFinished){};
                        break;
                default:
                        break;
                }
        }
}

/* Apply one event; 0 (also for a stale event) or exit code on an engine error. */
static int runner_event(Runner *run, const AslEvent *ev) {
        AslEffects fx = {};
        AslError e = {};
        int r;

        if (run->real_time)
                run->env.now_ms = now_ms(CLOCK_REALTIME);
        r = asl_exec_handle(run->machine, run->exec, ev, &run->env, &fx, &e);
        if (r < 0) {
                fprintf(stderr, "imgflow: engine error: %s: %s\n", e.error ? e.error : "?", e.cause ? e.cause : "");
                asl_error_clear(&e);
                asl_effects_clear(&fx);
                return CLI_EXIT_FAILED;
        }
        runner_apply_effects(run, &fx);
        asl_effects_clear(&fx);
        return 0;
}

/* Parse a mock key: "N" or an inclusive range "A-B". */
static bool mock_key_parse(const char *key, long *ret_lo, long *ret_hi) {
        char *end;
        long lo, hi;

        lo = strtol(key, &end, 10);
        if (end == key || lo < 0)
                return false;
        hi = lo;
        if (*end == '-') {
                const char *p = end + 1;
                hi = strtol(p, &end, 10);
                if (end == p || hi < lo)
                        return false;
        }
        if (*end)
                return false;
        *ret_lo = lo;
        *ret_hi = hi;
        return true;
}

/* The mocked response for this call of `state` (borrowed), or NULL. */
static json_t *mock_response(Runner *run, const char *state) {
        const char *rname = json_string_value(json_object_get(run->test_case, state));
        json_t *resp, *v, *last = NULL;
        long n, best_hi = -1;
        const char *key;

        n = (long) json_integer_value(json_object_get(run->calls, state));
        json_object_set_new(run->calls, state, json_integer(n + 1));
        if (!rname)
                return NULL;
        resp = json_object_get(run->responses, rname);
        json_object_foreach(resp, key, v) {
                long lo, hi;

                if (!mock_key_parse(key, &lo, &hi))
                        continue;
                if (n >= lo && n <= hi)
                        return v;
                if (hi > best_hi) {
                        best_hi = hi;
                        last = v;
                }
        }
        return last;
}

static int runner_run_task(Runner *run) {
        _cleanup_(asl_dispatch_done) AslDispatch d = run->tasks[0];
        /* A mocked .waitForTaskToken task answers as its callback would: with the token. */
        const char *task_id = d.task_id, *token = d.token;
        json_t *m;

        memmove(run->tasks, run->tasks + 1, (run->n_tasks - 1) * sizeof *run->tasks);
        run->n_tasks--;
        m = mock_response(run, d.state);
        if (m && json_object_get(m, "Throw")) {
                json_t *t = json_object_get(m, "Throw");
                /* The mock is the worker that ran it: TaskStarted first. */
                return runner_event(run, &(AslEvent){
                                                 .type = ASL_EVENT_TASK_FAILED,
                                                 .task_id = task_id,
                                                 .token = token,
                                                 .started = true,
                                                 .error = json_string_value(json_object_get(t, "Error")),
                                                 .cause = json_string_value(json_object_get(t, "Cause")),
                                         });
        }
        return runner_event(run,
                            &(AslEvent){
                                    .type = ASL_EVENT_TASK_SUCCEEDED,
                                    .task_id = task_id,
                                    .token = token,
                                    .started = true,
                                    .output = m ? json_object_get(m, "Return") ? json_object_get(m, "Return")
                                                                               : json_null()
                                                : d.input,
                            });
}

static int runner_fire_timer(Runner *run) {
        const char *id, *best = NULL;
        int64_t best_due = 0;
        json_t *v;

        json_object_foreach(run->timers, id, v) {
                int64_t due = json_integer_value(v);
                /* earliest first; ties by the older (smaller) id */
                if (!best || due < best_due ||
                    (due == best_due && strtoll(id, NULL, 10) < strtoll(best, NULL, 10))) {
                        best = id;
                        best_due = due;
                }
        }
        _cleanup_free_ char *tid = xstrdup(best);
        json_object_del(run->timers, tid);

        if (run->real_time) {
                int64_t now = now_ms(CLOCK_REALTIME);
                if (best_due > now) {
                        struct timespec ts = { .tv_sec = (best_due - now) / 1000,
                                               .tv_nsec = (long) ((best_due - now) % 1000) * 1000000 };
                        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                                ;
                }
        } else if (best_due > run->env.now_ms)
                run->env.now_ms = best_due;

        return runner_event(run, &(AslEvent) { .type = ASL_EVENT_TIMER_FIRED, .timer_id = tid });
}

static char *machine_name_from_path(const char *path) {
        const char *base = strrchr(path, '/');
        size_t n;
        char *s;

        base = base ? base + 1 : path;
        s = xstrdup(base);
        n = strlen(s);
        if (n > 9 && streq(s + n - 9, ".asl.json"))
                s[n - 9] = 0;
        else if (n > 5 && streq(s + n - 5, ".json"))
                s[n - 5] = 0;
        return s;
}

static json_t *load_json_file(const char *path, const char *what) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = cli_read_file(path, 64 * 1024 * 1024, &text, &len);
        if (r < 0) {
                fprintf(stderr, "imgflow: cannot read %s %s: %s\n", what, path, strerror(-r));
                return NULL;
        }
        return cli_parse_json(text, len, what);
}

static void print_json_line(json_t *v) {
        char *s = json_writer_dumps(v);

        if (s)
                printf("%s\n", s);
        free(s);
}

int verb_run(const Verb *verb, int argc, char *argv[]) {
        enum { ARG_INPUT = 0x100, ARG_INPUT_FILE, ARG_MOCK, ARG_CASE, ARG_NAME, ARG_HISTORY, ARG_REAL_TIME, ARG_MAX_HISTORY };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "input", required_argument, NULL, ARG_INPUT },
                { "input-file", required_argument, NULL, ARG_INPUT_FILE },
                { "mock-config", required_argument, NULL, ARG_MOCK },
                { "test-case", required_argument, NULL, ARG_CASE },
                { "name", required_argument, NULL, ARG_NAME },
                { "history", no_argument, NULL, ARG_HISTORY },
                { "real-time", no_argument, NULL, ARG_REAL_TIME },
                { "max-history-events", required_argument, NULL, ARG_MAX_HISTORY },
                {},
        };
        const char *input_text = NULL, *input_file = NULL, *mock_file = NULL, *test_case = NULL, *name = NULL;
        _cleanup_free_ char *text = NULL, *machine_name = NULL, *exec_name = NULL, *exec_id = NULL, *sm_id = NULL;
        _cleanup_json_ json_t *input = NULL, *mocks = NULL;
        size_t max_history = 0;
        Runner run = {};
        AslDiag d = {};
        AslError e = {};
        size_t len;
        int c, r, ret = CLI_EXIT_FAILED;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        cli_verb_help(verb, stdout);
                        return CLI_EXIT_OK;
                case ARG_INPUT:
                        input_text = optarg;
                        break;
                case ARG_INPUT_FILE:
                        input_file = optarg;
                        break;
                case ARG_MOCK:
                        mock_file = optarg;
                        break;
                case ARG_CASE:
                        test_case = optarg;
                        break;
                case ARG_NAME:
                        name = optarg;
                        break;
                case ARG_HISTORY:
                        run.history = true;
                        break;
                case ARG_REAL_TIME:
                        run.real_time = true;
                        break;
                case ARG_MAX_HISTORY: {
                        char *end;
                        unsigned long long v = strtoull(optarg, &end, 10);
                        if (end == optarg || *end || v == 0 || v > 100000000) {
                                fprintf(stderr, "imgflow: --max-history-events must be 1..100000000\n");
                                return CLI_EXIT_USAGE;
                        }
                        max_history = (size_t) v;
                        break;
                }
                default:
                        cli_verb_help(verb, stderr);
                        return CLI_EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                cli_verb_help(verb, stderr);
                return CLI_EXIT_USAGE;
        }
        if (input_text && input_file) {
                fprintf(stderr, "imgflow: --input and --input-file exclude each other\n");
                return CLI_EXIT_USAGE;
        }
        if (!!mock_file != !!test_case) {
                fprintf(stderr, "imgflow: --mock-config and --test-case go together\n");
                return CLI_EXIT_USAGE;
        }

        r = cli_read_definition(argv[optind], &text, &len);
        if (r < 0)
                return CLI_EXIT_USAGE;
        r = asl_machine_parse(text, len, &run.machine, &d);
        if (r < 0) {
                fprintf(stderr, "imgflow: invalid definition %s:\n", argv[optind]);
                cli_print_diag(stderr, &d);
                asl_diag_clear(&d);
                return CLI_EXIT_USAGE;
        }
        cli_print_warnings(stderr, &d);
        asl_diag_clear(&d);

        if (input_text)
                input = cli_parse_json(input_text, strlen(input_text), "--input");
        else if (input_file)
                input = load_json_file(input_file, "input file");
        else
                input = json_object();
        if (!input) {
                ret = CLI_EXIT_USAGE;
                goto finish;
        }

        machine_name = name ? xstrdup(name) : machine_name_from_path(argv[optind]);
        if (mock_file) {
                json_t *sm;

                mocks = load_json_file(mock_file, "mock config");
                if (!mocks) {
                        ret = CLI_EXIT_USAGE;
                        goto finish;
                }
                sm = json_object_get(json_object_get(mocks, "StateMachines"), machine_name);
                if (!sm) {
                        fprintf(stderr, "imgflow: %s has no state machine '%s' (use --name)\n", mock_file, machine_name);
                        ret = CLI_EXIT_USAGE;
                        goto finish;
                }
                run.test_case = json_object_get(json_object_get(sm, "TestCases"), test_case);
                if (!json_is_object(run.test_case)) {
                        fprintf(stderr, "imgflow: %s has no test case '%s' for '%s'\n", mock_file, test_case, machine_name);
                        ret = CLI_EXIT_USAGE;
                        goto finish;
                }
                run.responses = json_object_get(mocks, "MockedResponses");
        }

        run.env = (AslEnv){
                .now_ms = now_ms(CLOCK_REALTIME), .random = random_fill, .max_history_events = max_history};
        run.timers = json_object();
        run.calls = json_object();
        exec_name = cli_uuid_new();
        sm_id = xasprintf("imgflow:stateMachine:%s", machine_name);
        exec_id = xasprintf("imgflow:execution:%s:%s", machine_name, exec_name);

        r = asl_exec_new(run.machine, &(AslExecInfo) { .execution_id = exec_id, .execution_name = exec_name,
                                                       .state_machine_id = sm_id,
                                                       .state_machine_name = machine_name, .input = input },
                         &run.env, &run.exec, &e);
        if (r < 0) {
                json_t *err = json_pack("{s:s, s:s}", "Error", e.error ? e.error : "States.Runtime",
                                        "Cause", e.cause ? e.cause : "");
                print_json_line(err);
                json_decref(err);
                asl_error_clear(&e);
                ret = CLI_EXIT_FAILED;
                goto finish;
        }

        r = runner_event(&run, &(AslEvent) { .type = ASL_EVENT_START });
        for (size_t n = 0; r == 0 && !run.finished.status; n++) {
                if (n >= RUN_MAX_EVENTS) {
                        fprintf(stderr, "imgflow: more than %d events, giving up\n", RUN_MAX_EVENTS);
                        r = CLI_EXIT_FAILED;
                        break;
                }
                if (run.n_tasks > 0)
                        r = runner_run_task(&run);
                else if (json_object_size(run.timers) > 0)
                        r = runner_fire_timer(&run);
                else {
                        fprintf(stderr, "imgflow: the execution is stuck: nothing pending\n");
                        r = CLI_EXIT_FAILED;
                }
        }
        if (r != 0 || !run.finished.status) {
                ret = CLI_EXIT_FAILED;
                goto finish;
        }

        if (streq(run.finished.status, "SUCCEEDED")) {
                print_json_line(run.finished.output);
                ret = CLI_EXIT_OK;
        } else {
                json_t *err = json_object();

                json_object_set_new(err, "Error",
                                    run.finished.error ? json_string(run.finished.error) : json_null());
                json_object_set_new(err, "Cause",
                                    run.finished.cause ? json_string(run.finished.cause) : json_null());
                print_json_line(err);
                json_decref(err);
                ret = CLI_EXIT_FAILED;
        }

finish:
        fflush(stdout);
        asl_machine_free(run.machine);
        json_decref(run.exec);
        for (size_t i = 0; i < run.n_tasks; i++)
                asl_dispatch_done(&run.tasks[i]);
        free(run.tasks);
        json_decref(run.timers);
        json_decref(run.calls);
        json_decref(run.finished.output);
        free(run.finished.error);
        free(run.finished.cause);
        return ret;
}
