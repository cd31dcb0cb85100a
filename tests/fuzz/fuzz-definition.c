/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: definition parsing and validation, then Choice
 * evaluation.
 *
 * Any bytes go to asl_machine_parse(). Invariants checked besides "no
 * crash, no leak, no UB":
 *   - it returns 0 exactly when it reports no diagnostics;
 *   - every diagnostic's pointer resolves in the document (when the bytes
 *     are JSON at all), so messages always point at something real;
 *   - a valid definition's sub-machines are found by asl_machine_lookup();
 *   - EXPRESS rules only add to STANDARD's: what is valid as EXPRESS is
 *     valid as STANDARD, and its diagnostics point at something real too.
 * For a valid definition, every rule of every Choice state (in every
 * branch and Map iteration) is evaluated against a fixed input and context.
 * StringMatches gets the raw bytes as pattern and subject too, and is
 * checked against a plain backtracking matcher on short inputs.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "asl-choice.h"
#include "asl-definition.h"

static const char INPUT[] =
        "{\"a\": 1, \"b\": \"x\", \"c\": [1, 2.5, \"s\"], \"d\": {\"e\": null}, \"bool\": true,"
        " \"t\": \"2020-01-01T00:00:00Z\", \"u\": \"2020-01-01T01:00:00+01:00\", \"n\": null}";
static const char CONTEXT[] =
        "{\"Execution\": {\"Id\": \"exec\", \"Input\": {\"a\": 2}}, \"State\": {\"Name\": \"S\"},"
        " \"Map\": {\"Item\": {\"Index\": 0, \"Value\": \"v\"}}}";

static void walk_machine(AslMachine *m, json_t *machine, const char *pointer,
                         json_t *input, json_t *context, unsigned depth);

static void eval_choices(json_t *state, json_t *input, json_t *context) {
        json_t *choices = json_object_get(state, "Choices"), *rule;
        size_t i;

        json_array_foreach(choices, i, rule) {
                AslError err = {};
                bool match = false;
                int r = choice_rule_eval(rule, input, &(AslRefs){.context = context}, &match, &err);

                /* An error always names States.Runtime, never nothing. */
                if (r < 0 && !asl_error_isset(&err))
                        abort();
                asl_error_clear(&err);
        }
}

static void walk_machine(AslMachine *m, json_t *machine, const char *pointer,
                         json_t *input, json_t *context, unsigned depth) {
        json_t *states = json_object_get(machine, "States"), *state;
        const char *name;

        if (depth > ASL_MAX_JSON_DEPTH || asl_machine_lookup(m, pointer) != machine)
                abort();
        json_object_foreach(states, name, state) {
                const char *type = json_string_value(json_object_get(state, "Type"));
                _cleanup_free_ char *sp = NULL, *ps = asl_pointer_join(pointer, "States");

                sp = asl_pointer_join(ps, name);
                if (!type)
                        abort();
                if (streq(type, "Choice"))
                        eval_choices(state, input, context);
                else if (streq(type, "Parallel")) {
                        json_t *branches = json_object_get(state, "Branches"), *b;
                        _cleanup_free_ char *pb = asl_pointer_join(sp, "Branches");
                        size_t i;

                        json_array_foreach(branches, i, b) {
                                _cleanup_free_ char *pi = asl_pointer_join_index(pb, i);
                                walk_machine(m, b, pi, input, context, depth + 1);
                        }
                } else if (streq(type, "Map")) {
                        const char *f = json_object_get(state, "ItemProcessor") ? "ItemProcessor" : "Iterator";
                        _cleanup_free_ char *pf = asl_pointer_join(sp, f);

                        walk_machine(m, json_object_get(state, f), pf, input, context, depth + 1);
                }
        }
}

/* The textbook dynamic programme over (subject, pattern token) positions,
 * as the reference for short inputs (< 64 bytes each). */
static bool reference_matches(const char *s, const char *p) {
        bool star[64], ok[65][65] = {};
        char lit[64];
        size_t n = strlen(s), k = 0;

        for (; *p; p++, k++) {
                star[k] = *p == '*';
                if (*p == '\\' && (p[1] == '*' || p[1] == '\\'))
                        p++;
                lit[k] = *p;
        }
        /* ok[i][j]: s[i..] matches tokens j.. */
        ok[n][k] = true;
        for (size_t j = k; j-- > 0;)
                ok[n][j] = star[j] && ok[n][j + 1];
        for (size_t i = n; i-- > 0;)
                for (size_t j = k; j-- > 0;)
                        ok[i][j] = star[j] ? (ok[i][j + 1] || ok[i + 1][j])
                                           : (s[i] == lit[j] && ok[i + 1][j + 1]);
        return ok[0][0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AslMachine *m = NULL;
        AslDiag d = {};
        int r;

        r = asl_machine_parse((const char *) data, size, &m, &d);
        if ((r == 0) != (d.n == 0))
                abort();

        if (r < 0 && size <= ASL_MAX_DEFINITION_BYTES) {
                json_t *doc = json_loadb((const char *) data, size,
                                         JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
                for (size_t i = 0; doc && i < d.n; i++)
                        if (!asl_json_pointer_get(doc, d.entries[i].pointer)) {
                                fprintf(stderr, "diagnostic points nowhere: '%s': %s\n",
                                        d.entries[i].pointer, d.entries[i].message);
                                abort();
                        }
                json_decref(doc);
        }
        asl_diag_clear(&d);

        {
                AslMachine *x = NULL;
                int rx = asl_machine_parse_type((const char *) data, size, ASL_MACHINE_EXPRESS, &x, &d);

                if ((rx == 0) != (d.n == 0) || (rx == 0 && r < 0))
                        abort();
                asl_machine_free(x);
                asl_diag_clear(&d);
        }

        if (r == 0) {
                json_t *input = json_loads(INPUT, 0, NULL), *context = json_loads(CONTEXT, 0, NULL);

                if (!input || !context)
                        abort();
                walk_machine(m, m->definition, "", input, context, 0);
                json_decref(input);
                json_decref(context);
                asl_machine_free(m);
        }

        /* StringMatches on raw bytes: first line is the pattern, the rest the subject. */
        if (size < 4096) {
                char buf[4097];
                char *nl;

                memcpy(buf, data, size);
                buf[size] = 0;
                nl = strchr(buf, '\n');
                if (nl) {
                        *nl = 0;
                        bool match = choice_string_matches(nl + 1, buf);

                        if (size < 64 && match != reference_matches(nl + 1, buf)) {
                                fprintf(stderr, "StringMatches('%s', '%s') = %d\n", nl + 1, buf, match);
                                abort();
                        }
                }
        }
        return 0;
}
