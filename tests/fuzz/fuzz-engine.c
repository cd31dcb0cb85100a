/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the transition function driven by arbitrary event
 * sequences.
 *
 * The first byte picks one of a few built-in definitions (every state type,
 * nested Parallel/Map, Retry/Catch, timeouts, heartbeats, task tokens,
 * JSONata states, workflow variables in both query languages, distributed
 * Maps with batches and with a bucket listing's pages), the
 * second an execution input; every following pair of bytes is one event:
 * complete/fail/heartbeat a pending task (or a stale or unknown one), fire a
 * pending timer (or a stale one), or STOP, with the clock moving forward.
 * Between events the document is serialized and parsed again, as the
 * coordinator stores it. The second byte's high bit runs it without a
 * history (AslEnv.no_history, an EXPRESS execution logging OFF); its bit
 * 0x40 runs a STANDARD distributed Map's children as executions of their
 * own (AslEnv.map_child_executions): an event byte with 0x40 set (and 0x80
 * clear) then ends one of them (CHILD_ENDED, any status, sometimes with a
 * wrong redrive count), or a child no one started.
 * Invariants besides "no crash, no leak, no UB":
 *   - asl_exec_handle() returns 0 or 1 while the execution runs, and
 *     -EINVAL with an error set once it has finished;
 *   - a stale event produces no effect;
 *   - the pending tasks and timers of the document are exactly those the
 *     effects announced (DISPATCH/SCHEDULE minus CANCEL and applied ones);
 *   - FINISHED comes exactly once, and then the status is not RUNNING;
 *   - without a history, no HISTORY effect;
 *   - a child is started only while it is not running (a second start is
 *     a redrive of one that ended), and an end for a child that is not
 *     running, or from before its last redrive, is stale.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "asl-engine.h"

static const char *const definitions[] = {
        /* nested Map / Parallel / Retry / Catch / timers */
        "{\"TimeoutSeconds\":1000,\"StartAt\":\"M\",\"States\":{"
        "\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"MaxConcurrency\":2,"
        "\"ToleratedFailurePercentage\":40,"
        "\"ItemSelector\":{\"i.$\":\"$$.Map.Item.Index\",\"v.$\":\"$$.Map.Item.Value\"},"
        "\"ItemProcessor\":{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"Branches\":["
        "{\"StartAt\":\"T1\",\"States\":{\"T1\":{\"Type\":\"Task\",\"Resource\":\"r1\",\"TimeoutSeconds\":"
        "50,"
        "\"HeartbeatSeconds\":10,\"ResultSelector\":{\"x.$\":\"$.x\"},"
        "\"Retry\":[{\"ErrorEquals\":[\"Flaky\"],\"MaxAttempts\":2,\"JitterStrategy\":\"FULL\"}],\"End\":"
        "true}}},"
        "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1,\"Next\":\"T2\"},"
        "\"T2\":{\"Type\":\"Task\",\"Resource\":\"r2\",\"ResultPath\":\"$.r\",\"End\":true}}}],"
        "\"Catch\":[{\"ErrorEquals\":[\"E1\"],\"ResultPath\":\"$.caught\",\"Next\":\"Caught\"}],\"End\":"
        "true},"
        "\"Caught\":{\"Type\":\"Pass\",\"End\":true}}},"
        "\"Retry\":[{\"ErrorEquals\":[\"States.ExceedToleratedFailureThreshold\"],\"MaxAttempts\":1}],"
        "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"Failed\"}],\"Next\":\"C\"},"
        "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$[0]\",\"IsPresent\":true,\"Next\":"
        "\"Done\"}],"
        "\"Default\":\"Failed\"},"
        "\"Done\":{\"Type\":\"Succeed\"},\"Failed\":{\"Type\":\"Fail\",\"Error\":\"MapFailed\"}}}",

        /* task tokens, paths for timeouts and waits, Fail with paths */
        "{\"StartAt\":\"T\",\"States\":{"
        "\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::sqs:sendMessage.waitForTaskToken\","
        "\"Parameters\":{\"token.$\":\"$$.Task.Token\",\"in.$\":\"$\"},\"TimeoutSecondsPath\":\"$.t\","
        "\"Catch\":[{\"ErrorEquals\":[\"States.TaskFailed\"],\"ResultPath\":\"$.e\",\"Next\":\"W\"}],"
        "\"Next\":\"W\"},"
        "\"W\":{\"Type\":\"Wait\",\"SecondsPath\":\"$.t\",\"Next\":\"F\"},"
        "\"F\":{\"Type\":\"Fail\",\"ErrorPath\":\"$.err\",\"CausePath\":\"$.cause\"}}}",

        /* a loop of Pass/Choice around a Task (history limit, step budget) */
        "{\"StartAt\":\"A\",\"States\":{"
        "\"A\":{\"Type\":\"Pass\",\"Parameters\":{\"n.$\":\"States.MathAdd($.n, "
        "1)\",\"k.$\":\"$.k\"},\"Next\":\"B\"},"
        "\"B\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.n\",\"NumericGreaterThan\":30,\"Next\":"
        "\"T\"}],"
        "\"Default\":\"A\"},"
        "\"T\":{\"Type\":\"Task\",\"Resource\":\"r\",\"OutputPath\":\"$.out\",\"Next\":\"S\"},"
        "\"S\":{\"Type\":\"Succeed\"}}}",

        /* Parallel failure cancelling siblings, caught, then a Map over an empty or odd input */
        "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"Branches\":["
        "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"Resource\":\"a\",\"End\":true}}},"
        "{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Task\",\"Resource\":\"b\",\"HeartbeatSeconds\":3,"
        "\"End\":true}}},"
        "{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Wait\",\"Seconds\":5,\"End\":true}}}],"
        "\"ResultPath\":\"$.p\",\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"ResultPath\":\"$.err\","
        "\"Next\":\"M\"}],"
        "\"Next\":\"M\"},"
        "\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"ItemProcessor\":{\"StartAt\":\"X\",\"States\":{"
        "\"X\":{\"Type\":\"Task\",\"Resource\":\"x\",\"End\":true}}},\"End\":true}}}",

        /* JSONata states: Arguments, Output, Assign, Choice conditions, Map Items and ItemSelector, Wait and
         * timeouts from expressions, a catcher with $states.errorOutput, variables read in a Map */
        "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{"
        "\"A\":{\"Type\":\"Pass\",\"Assign\":{\"n\":\"{% $count($states.input.items) %}\",\"k\":\"{% "
        "$states.input.k %}\"},"
        "\"Next\":\"T\"},"
        "\"T\":{\"Type\":\"Task\",\"Resource\":\"r\",\"Arguments\":{\"n\":\"{% $n %}\",\"id\":\"{% "
        "$states.context.Execution.Id %}\"},"
        "\"TimeoutSeconds\":\"{% $n + 5 %}\",\"HeartbeatSeconds\":2,"
        "\"Output\":\"{% $states.result %}\",\"Assign\":{\"r\":\"{% $states.result %}\"},"
        "\"Retry\":[{\"ErrorEquals\":[\"Flaky\"],\"MaxAttempts\":1}],"
        "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"W\",\"Output\":\"{% $states.errorOutput "
        "%}\","
        "\"Assign\":{\"e\":\"{% $states.errorOutput.Error %}\"}}],\"Next\":\"C\"},"
        "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Condition\":\"{% $type($r) = 'object' and $exists($r.x) "
        "%}\","
        "\"Next\":\"M\",\"Assign\":{\"x\":\"{% $r.x %}\"}}],\"Default\":\"W\",\"Output\":{\"d\":true}},"
        "\"W\":{\"Type\":\"Wait\",\"Seconds\":\"{% $n %}\",\"Next\":\"M\"},"
        "\"M\":{\"Type\":\"Map\",\"Items\":\"{% $states.input.items ? $states.input.items : [1] %}\","
        "\"ItemSelector\":{\"v\":\"{% $states.context.Map.Item.Value %}\",\"k\":\"{% $k %}\"},"
        "\"MaxConcurrency\":\"{% 2 %}\",\"ItemProcessor\":{\"StartAt\":\"I\",\"States\":{"
        "\"I\":{\"Type\":\"Task\",\"Resource\":\"i\",\"Assign\":{\"inner\":\"{% $states.result %}\"},"
        "\"Output\":\"{% $string($inner) & $string($n) %}\",\"End\":true}}},"
        "\"Output\":{\"all\":\"{% $states.result %}\",\"n\":\"{% $n %}\"},\"Next\":\"F\"},"
        "\"F\":{\"Type\":\"Fail\",\"Error\":\"{% 'E.' & $string($n) %}\",\"Cause\":\"{% "
        "$string($states.input) %}\"}}}",

        /* JSONPath states with variables: Assign on states, rules, Default and catchers; $name in paths,
         * templates, intrinsics and Choice rules; a Parallel reading outer variables */
        "{\"StartAt\":\"A\",\"States\":{"
        "\"A\":{\"Type\":\"Pass\",\"Assign\":{\"limit\":2,\"items.$\":\"$.items\",\"t.$\":\"$.t\"},\"Next\":"
        "\"P\"},"
        "\"P\":{\"Type\":\"Parallel\",\"Branches\":["
        "{\"StartAt\":\"B1\",\"States\":{\"B1\":{\"Type\":\"Task\",\"Resource\":\"b\",\"Parameters\":{\"l.$"
        "\":\"$limit\"},"
        "\"Assign\":{\"mine.$\":\"$\"},\"End\":true}}},"
        "{\"StartAt\":\"B2\",\"States\":{\"B2\":{\"Type\":\"Wait\",\"SecondsPath\":\"$limit\",\"End\":true}}"
        "}],"
        "\"ResultSelector\":{\"first.$\":\"$[0]\"},\"Assign\":{\"sel.$\":\"$.first\"},"
        "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"C\",\"ResultPath\":\"$.err\",\"Assign\":{"
        "\"err.$\":\"$.Error\"}}],"
        "\"Next\":\"C\"},"
        "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.n\",\"NumericGreaterThanPath\":\"$"
        "limit\",\"Next\":\"T\","
        "\"Assign\":{\"big\":true}}],\"Default\":\"T\",\"Assign\":{\"big\":false}},"
        "\"T\":{\"Type\":\"Task\",\"Resource\":\"t\",\"TimeoutSecondsPath\":\"$t\",\"Parameters\":{"
        "\"f.$\":\"States.Format('{}-{}', $big, "
        "$limit)\",\"items.$\":\"$items\"},\"OutputPath\":\"$big\",\"End\":true}}}",
        /* distributed Map: items from the input in batches, tolerated failures, a retried child */
        "{\"StartAt\":\"D\",\"States\":{\"D\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\","
        "\"MaxConcurrency\":2,"
        "\"ToleratedFailureCount\":1,\"ItemBatcher\":{\"MaxItemsPerBatch\":2,\"MaxInputBytesPerBatch\":40,"
        "\"BatchInput\":{\"k.$\":\"$.k\"}},\"ItemSelector\":{\"i.$\":\"$$.Map.Item.Index\"},"
        "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"},"
        "\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"r\",\"TimeoutSeconds\":20,"
        "\"Retry\":[{\"ErrorEquals\":[\"Flaky\"],\"MaxAttempts\":1}],\"End\":true}}},"
        "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"F\"}],\"End\":true},"
        "\"F\":{\"Type\":\"Pass\",\"End\":true}}}",
        /* distributed Map over a bucket listing (pages answered by the outputs below) */
        "{\"StartAt\":\"L\",\"States\":{\"L\":{\"Type\":\"Map\",\"MaxConcurrency\":2,"
        "\"ToleratedFailurePercentage\":30,\"ItemReader\":{\"Resource\":\"arn:aws:states:::s3:"
        "listObjectsV2\","
        "\"Parameters\":{\"Bucket\":\"b\",\"Prefix.$\":\"$.k\"},\"ReaderConfig\":{\"MaxItems\":5}},"
        "\"ItemSelector\":{\"key.$\":\"$$.Map.Item.Value.Key\"},"
        "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"EXPRESS\"},"
        "\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"r\",\"End\":true}}},"
        "\"Retry\":[{\"ErrorEquals\":[\"States.ItemReaderFailed\"],\"MaxAttempts\":1}],\"End\":true}}}",
        /* distributed Map over a CSV object (pages with Next and Headers below), its results
         * exported (files and a manifest written by tasks), or a failed write caught */
        "{\"StartAt\":\"O\",\"States\":{\"O\":{\"Type\":\"Map\",\"MaxConcurrency\":2,"
        "\"ToleratedFailureCount\":2,\"ItemReader\":{\"Resource\":\"arn:aws:states:::s3:getObject\","
        "\"Parameters\":{\"Bucket\":\"b\",\"Key.$\":\"$.k\"},\"ReaderConfig\":{\"InputType\":\"CSV\","
        "\"CSVHeaderLocation\":\"FIRST_ROW\",\"MaxItems\":6}},"
        "\"ResultWriter\":{\"Resource\":\"arn:aws:states:::s3:putObject\",\"Parameters\":{\"Bucket\":\"o\","
        "\"Prefix\":\"p/\"},\"WriterConfig\":{\"Transformation\":\"FLATTEN\",\"OutputType\":\"JSONL\"}},"
        "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"EXPRESS\"},"
        "\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"r\",\"End\":true}}},"
        "\"Catch\":[{\"ErrorEquals\":[\"States.ResultWriterFailed\"],\"Next\":\"P\"}],\"End\":true},"
        "\"P\":{\"Type\":\"Pass\",\"End\":true}}}",
        /* a distributed Map's STANDARD children as executions of their own (the
         * second byte's 0x40), records of a WriterConfig, caught and retried */
        "{\"StartAt\":\"X\",\"States\":{\"X\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\","
        "\"MaxConcurrency\":2,"
        "\"ToleratedFailureCount\":1,\"ResultWriter\":{\"WriterConfig\":{\"Transformation\":\"NONE\"}},"
        "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"},"
        "\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"r\",\"End\":true}}},"
        "\"Retry\":[{\"ErrorEquals\":[\"States.ExceedToleratedFailureThreshold\"],\"MaxAttempts\":1}],"
        "\"Catch\":[{\"ErrorEquals\":[\"States.Timeout\"],\"Next\":\"Y\"}],\"Next\":\"Y\"},"
        "\"Y\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"ResultPath\":null,"
        "\"ToleratedFailurePercentage\":50,"
        "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"},"
        "\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1,\"End\":true}}},\"End\":true}}"
        "}",
};

static const char *const inputs[] = {
        "{\"items\":[1,2,3],\"t\":5,\"n\":0,\"k\":\"v\",\"err\":\"E\",\"cause\":\"c\"}",
        "{\"items\":[],\"t\":1,\"n\":25,\"k\":[1,{\"a\":null}]}",
        "{\"items\":{\"not\":\"an array\"},\"t\":-1,\"n\":\"x\"}",
        "{}",
        "[1,2,3]",
        "{\"items\":[{\"a\":1},{\"a\":2},{\"a\":3},{\"a\":4},{\"a\":5}],\"t\":0,\"n\":31,\"err\":1}",
};

static const char *const outputs[] = {
        "{\"x\":1,\"out\":2}", "null", "[1,2,3]", "{\"out\":{\"deep\":[[[[1]]]]}}", "\"s\"", "{}",
        /* pages of a bucket listing (storage.list) */
        "{\"Items\":[{\"Key\":\"a\",\"Size\":1},{\"Key\":\"b\",\"Size\":2},{\"Key\":\"c\"}],\"More\":true}",
        "{\"Items\":[{\"Key\":\"d\"}],\"More\":false}",
        /* pages of an object's items (storage.items) */
        "{\"Items\":[{\"a\":\"1\"},{\"a\":\"2\"}],\"More\":true,\"Next\":12,\"Headers\":[\"a\"]}",
        "{\"Items\":[{\"a\":\"3\"}],\"More\":false,\"Next\":15}",
};

static const char *const errors[] = {
        "Flaky", "E1", "States.Timeout", "States.TaskFailed", "States.Runtime", "Other", NULL,
};

static void random_bytes(void *userdata, void *buf, size_t n) {
        unsigned *s = userdata;
        for (size_t i = 0; i < n; i++) {
                *s = *s * 1103515245u + 12345u;
                ((uint8_t *) buf)[i] = (uint8_t) (*s >> 16);
        }
}

/* Pick the k-th key of an object (borrowed), NULL if empty. */
static const char *nth_key(json_t *o, unsigned k) {
        size_t n = json_object_size(o), i = 0;
        const char *key;
        json_t *v;

        if (n == 0)
                return NULL;
        k %= (unsigned) n;
        json_object_foreach(o, key, v)
                if (i++ == k)
                        return key;
        return NULL;
}

#define check(x)                                                                        \
        do {                                                                            \
                if (!(x)) {                                                             \
                        fprintf(stderr, "fuzz-engine.c:%d: invariant failed: %s\n", __LINE__, #x); \
                        abort();                                                        \
                }                                                                       \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_json_ json_t *tasks = json_object(), *timers = json_object(), *in = NULL, *exec = NULL;
        _cleanup_json_ json_t *kids = json_object(); /* running children: name -> redrive count */
        AslMachine *m = NULL;
        AslDiag d = {};
        AslError err = {};
        unsigned seed = 1;
        AslEnv env = { .now_ms = 1700000000000LL, .random = random_bytes, .random_userdata = &seed,
                       .max_history_events = 400, .max_payload_bytes = 4096 };
        bool finished = false;
        const char *def;

        if (size < 2)
                return 0;
        def = definitions[data[0] % (sizeof definitions / sizeof definitions[0])];
        if (asl_machine_parse(def, strlen(def), &m, &d) < 0)
                abort(); /* the built-in definitions are valid */
        asl_diag_clear(&d);
        in = json_loads(inputs[data[1] % (sizeof inputs / sizeof inputs[0])], JSON_DECODE_ANY, NULL);
        env.no_history = data[1] & 0x80;
        env.map_child_executions = data[1] & 0x40;
        check(asl_exec_new(m, &(AslExecInfo) { .execution_id = "x", .execution_name = "x", .input = in },
                           &env, &exec, &err) == 0);

        for (size_t pos = 1; pos + 1 <= size; pos += 2) {
                uint8_t op = data[pos], arg = pos + 1 < size ? data[pos + 1] : 0;
                AslEvent ev = { .type = ASL_EVENT_START };
                _cleanup_free_ char *id = NULL;
                _cleanup_json_ json_t *out = NULL;
                AslEffects fx = {};
                int r, redrivable;

                _cleanup_free_ char *kid = NULL;
                bool kid_running = false;
                int64_t kid_redrives = 0;

                if (pos > 1 && env.map_child_executions && (op & 0xc0) == 0x40) {
                        /* a child ends: one that runs, or an unknown one */
                        static const char *const statuses[] = {"SUCCEEDED", "FAILED", "TIMED_OUT",
                                                               "ABORTED"};
                        const char *k = nth_key(kids, arg);

                        kid = k && (arg & 0x20) == 0 ? xstrdup(k) : xasprintf("nobody-%u", arg);
                        kid_running = json_object_get(kids, kid) != NULL;
                        kid_redrives = json_integer_value(json_object_get(kids, kid));
                        if (arg & 0x10)
                                kid_redrives++; /* from another attempt */
                        out = json_loads(outputs[arg % (sizeof outputs / sizeof outputs[0])],
                                         JSON_DECODE_ANY, NULL);
                        ev = (AslEvent){.type = ASL_EVENT_CHILD_ENDED,
                                        .child = kid,
                                        .status = statuses[(arg >> 2) % 4],
                                        .output = out,
                                        .error = arg & 2 ? errors[arg % (sizeof errors / sizeof errors[0])]
                                                         : NULL,
                                        .cause = "c",
                                        .child_redrives = kid_redrives};
                        env.now_ms += 1000;
                } else if (pos > 1) { /* the first round is START */
                        unsigned kind = op % 8;
                        json_t *from = kind < 5 ? tasks : timers;
                        const char *k = nth_key(from, arg);

                        id = k ? xstrdup(k) : xasprintf("%u", arg); /* unknown ids too */
                        if (op & 0x80)
                                id = (free(id), xasprintf("%u", arg)); /* stale or unknown */
                        env.now_ms += (op >> 3) % 4 * 1000;
                        switch (kind) {
                        case 0:
                        case 1:
                                out = json_loads(outputs[arg % (sizeof outputs / sizeof outputs[0])], JSON_DECODE_ANY, NULL);
                                ev = (AslEvent) { .type = ASL_EVENT_TASK_SUCCEEDED, .task_id = id, .output = out };
                                break;
                        case 2:
                        case 3:
                                ev = (AslEvent) { .type = ASL_EVENT_TASK_FAILED, .task_id = id,
                                                  .error = errors[arg % (sizeof errors / sizeof errors[0])], .cause = "c" };
                                break;
                        case 4:
                                ev = (AslEvent) { .type = ASL_EVENT_TASK_HEARTBEAT, .task_id = id };
                                break;
                        }
                        if (kind <= 4 && (arg & 1)) {
                                /* from the worker: TaskStarted first, at a start time
                                 * anywhere around now */
                                ev.started = true;
                                ev.worker = (arg & 2) ? "host:1" : NULL;
                                ev.started_ms = env.now_ms - (int64_t) (arg % 7) * 500 + 1000;
                        }
                        switch (kind) {
                        case 0 ... 4:
                                break;
                        case 5:
                        case 6:
                                ev = (AslEvent) { .type = ASL_EVENT_TIMER_FIRED, .timer_id = id };
                                break;
                        default:
                                if (finished && arg % 4 == 1) {
                                        ev = (AslEvent){.type = ASL_EVENT_REDRIVE};
                                        break;
                                }
                                if (arg % 16 != 0)
                                        continue; /* STOP only now and then */
                                ev = (AslEvent) { .type = ASL_EVENT_STOP, .error = "Stopped" };
                                break;
                        }
                }

                /* as stored in Redis */
                char *text = json_dumps(exec, JSON_COMPACT);
                json_decref(exec);
                exec = json_loads(text, 0, NULL);
                free(text);
                check(exec != NULL);

                redrivable = ev.type == ASL_EVENT_REDRIVE ? asl_exec_redrivable(exec, &env, NULL) : 0;
                r = asl_exec_handle(m, exec, &ev, &env, &fx, &err);
                if (ev.type == ASL_EVENT_REDRIVE) {
                        /* what asl_exec_redrivable() said; a redriven execution runs again */
                        check(r == redrivable);
                        if (r == 0)
                                finished = false;
                        else
                                check(asl_error_isset(&err) && fx.n == 0);
                } else if (finished) {
                        check(r == -EINVAL && asl_error_isset(&err) && fx.n == 0);
                } else {
                        if (r != 0 && r != 1)
                                fprintf(stderr, "r=%d %s: %s (event %d)\n", r, err.error, err.cause, (int) ev.type);
                        check(r == 0 || r == 1);
                        if (r == 1)
                                check(fx.n == 0);
                }
                asl_error_clear(&err);

                if (r == 0 && ev.type == ASL_EVENT_TASK_SUCCEEDED) {
                        json_t *open = json_object_get(json_object_get(exec, "tasks"), id);
                        const char *res = open ? json_string_value(json_object_get(open, "resource")) : NULL;

                        /* Only a .waitForTaskToken task outlives its worker's own
                         * result (TaskSubmitted): its token closes it. */
                        check(!open || (!ev.token && res && strstr(res, ".waitForTaskToken")));
                        if (!open)
                                json_object_del(tasks, id);
                }
                if (r == 0 && ev.type == ASL_EVENT_TASK_FAILED)
                        json_object_del(tasks, id);
                if (r == 0 && ev.type == ASL_EVENT_TIMER_FIRED)
                        json_object_del(timers, id);
                if (ev.type == ASL_EVENT_CHILD_ENDED && !finished) {
                        /* only the end of a running child's last attempt counts */
                        if (!kid_running || (arg & 0x10))
                                check(r == 1);
                        if (r == 0)
                                json_object_del(kids, kid);
                }

                for (size_t i = 0; i < fx.n; i++) {
                        const AslEffect *e = &fx.items[i];
                        const char *tid = e->type == ASL_EFFECT_DISPATCH_TASK ? e->dispatch.task_id
                                          : e->type == ASL_EFFECT_CANCEL_TASK ? e->cancel_task.task_id
                                                                              : NULL;
                        const char *mid =
                                e->type == ASL_EFFECT_SCHEDULE_TIMER || e->type == ASL_EFFECT_CANCEL_TIMER
                                        ? e->timer.timer_id
                                        : NULL;

                        switch (e->type) {
                        case ASL_EFFECT_DISPATCH_TASK:
                                check(tid && !json_object_get(tasks, tid));
                                json_object_set_new(tasks, tid, json_true());
                                break;
                        case ASL_EFFECT_CANCEL_TASK:
                                check(tid && json_object_get(tasks, tid));
                                json_object_del(tasks, tid);
                                break;
                        case ASL_EFFECT_SCHEDULE_TIMER:
                                check(mid != NULL);
                                json_object_set_new(timers, mid, json_true());
                                break;
                        case ASL_EFFECT_CANCEL_TIMER:
                                check(mid && json_object_get(timers, mid));
                                json_object_del(timers, mid);
                                break;
                        case ASL_EFFECT_FINISHED:
                                check(!finished);
                                finished = true;
                                break;
                        case ASL_EFFECT_HISTORY:
                                check(!env.no_history);
                                break;
                        case ASL_EFFECT_START_CHILD:
                                check(env.map_child_executions && e->child.name && e->child.machine);
                                /* a slot starts once; again only as a redrive */
                                check(!json_object_get(kids, e->child.name) || e->child.redrive > 0);
                                json_object_set_new(kids, e->child.name, json_integer(e->child.redrive));
                                break;
                        case ASL_EFFECT_STOP_CHILD:
                                check(e->child.name && json_object_get(kids, e->child.name));
                                break;
                        default:
                                break;
                        }
                }
                asl_effects_clear(&fx);

                check(json_object_size(json_object_get(exec, "tasks")) == json_object_size(tasks));
                check(json_object_size(json_object_get(exec, "timers")) == json_object_size(timers));
                check(finished == !streq(asl_exec_status(exec), "RUNNING"));
        }

        asl_machine_free(m);
        return 0;
}
