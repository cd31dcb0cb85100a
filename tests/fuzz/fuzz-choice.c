/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for Choice rules: validation and evaluation of a fuzzed
 * rule on a fuzzed input.
 *
 * Input: a rule (JSON), a newline, the state input (any JSON), optionally a
 * newline and the context object. If the input or context does not parse, a
 * small fixed document is used, so the rule is still evaluated.
 *
 * The rule is validated both as a nested rule (without "Next") and as a
 * top-level one. For a valid rule, invariants besides "no crash, no leak, no
 * UB, no hang":
 *   - evaluation returns 0, or -EINVAL with an error set;
 *   - it is deterministic (twice the same answer);
 *   - {"Not": r} is valid and answers the opposite of r (or fails alike);
 *   - {"And": [r, r]} and {"Or": [r, r]} are valid and answer as r does.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "asl-choice.h"

#define FUZZ_MAX_INPUT (64 * 1024)

static const char FALLBACK_INPUT[] =
        "{\"a\": 1, \"b\": \"x\", \"c\": [1, 2.5, \"s\"], \"d\": {\"e\": null}, \"bool\": true,"
        " \"t\": \"2020-01-01T00:00:00Z\"}";
static const char FALLBACK_CONTEXT[] =
        "{\"Execution\": {\"Id\": \"exec\", \"Input\": {\"a\": 2}}, \"State\": {\"Name\": \"S\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Outcome {
        int r;
        bool match;
} Outcome;

static Outcome eval(json_t *rule, json_t *input, json_t *context) {
        AslError err = {};
        Outcome o = {};

        o.r = choice_rule_eval(rule, input, &(AslRefs){.context = context, .vars = context}, &o.match, &err);
        if (o.r != 0 && o.r != -EINVAL)
                abort();
        if ((o.r < 0) != asl_error_isset(&err))
                abort(); /* an error exactly when it fails */
        asl_error_clear(&err);
        return o;
}

/* 1: valid, 0: invalid, -1: invalid only because it is nested too deeply
 * (wrapping a rule at the depth limit in Not/And/Or may do that). */
static int validity(json_t *rule, bool top_level) {
        AslDiag d = {};
        bool deep = false;
        int v;

        choice_rule_validate(rule, "/Choices/0", top_level, &d);
        for (size_t i = 0; i < d.n; i++) {
                if (!d.entries[i].pointer || !d.entries[i].message || !*d.entries[i].message)
                        abort(); /* every diagnostic says where and what */
                if (strstr(d.entries[i].message, "too deep"))
                        deep = true;
        }
        v = d.n == 0 ? 1 : deep ? -1 : 0;
        asl_diag_clear(&d);
        return v;
}

/* A wrapper around a valid rule must be valid too (unless too deep). */
static bool wrapper_valid(json_t *rule) {
        int v = validity(rule, /* top_level= */ true);
        if (v == 0)
                abort();
        return v > 0;
}

static void check_rule(json_t *nested, json_t *input, json_t *context) {
        json_t *top, *not_rule, *and_rule, *or_rule;
        Outcome a, b, n, x, y;

        if (validity(nested, /* top_level= */ false) <= 0)
                return;

        a = eval(nested, input, context);
        b = eval(nested, input, context);
        if (a.r != b.r || (a.r == 0 && a.match != b.match))
                abort(); /* deterministic */

        /* The same rule at the top level, with Next. */
        top = json_deep_copy(nested);
        json_object_set_new(top, "Next", json_string("N"));
        if (validity(top, /* top_level= */ true) <= 0)
                abort();
        x = eval(top, input, context);
        if (x.r != a.r || (a.r == 0 && x.match != a.match))
                abort();
        json_decref(top);

        not_rule = json_pack("{s:O, s:s}", "Not", nested, "Next", "N");
        if (wrapper_valid(not_rule)) {
                n = eval(not_rule, input, context);
                if (n.r != a.r || (a.r == 0 && n.match == a.match))
                        abort();
        }
        json_decref(not_rule);

        and_rule = json_pack("{s:[O, O], s:s}", "And", nested, nested, "Next", "N");
        or_rule = json_pack("{s:[O, O], s:s}", "Or", nested, nested, "Next", "N");
        if (wrapper_valid(and_rule) && wrapper_valid(or_rule)) {
                x = eval(and_rule, input, context);
                y = eval(or_rule, input, context);
                if (x.r != a.r || y.r != a.r || (a.r == 0 && (x.match != a.match || y.match != a.match)))
                        abort();
        }
        json_decref(and_rule);
        json_decref(or_rule);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data, *nl, *nl2;
        json_t *rule, *input = NULL, *context = NULL;
        size_t rule_len, rest_len;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        nl = memchr(p, '\n', size);
        rule_len = nl ? (size_t) (nl - p) : size;
        rule = json_loadb(p, rule_len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(rule)) {
                json_decref(rule);
                return 0;
        }
        if (nl) {
                const char *rest = nl + 1;
                rest_len = size - rule_len - 1;
                nl2 = memchr(rest, '\n', rest_len);
                input = json_loadb(rest, nl2 ? (size_t) (nl2 - rest) : rest_len,
                                   JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
                if (nl2)
                        context = json_loadb(nl2 + 1, rest_len - (size_t) (nl2 + 1 - rest),
                                             JSON_REJECT_DUPLICATES, NULL);
        }
        if (!input)
                input = json_loads(FALLBACK_INPUT, 0, NULL);
        if (!context)
                context = json_loads(FALLBACK_CONTEXT, 0, NULL);
        if (!input || !context)
                abort();

        /* As written (top level: it may carry Next), and without Next as a nested rule. */
        (void) validity(rule, true);
        (void) validity(rule, false);
        json_object_del(rule, "Next");
        check_rule(rule, input, context);

        json_decref(rule);
        json_decref(input);
        json_decref(context);
        return 0;
}
