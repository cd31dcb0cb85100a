/* SPDX-License-Identifier: MIT */
/*
 * Choice rules: every operator (with the examples of the Step Functions
 * guide), And/Or/Not, the type tests, missing-Variable and type-mismatch
 * semantics, StringMatches, and definition-time validation with pointers.
 */
#include <string.h>

#include "test.h"
#include "asl-choice.h"

static const char *const INPUT =
        "{\"foo\": 1, \"bar\": 2.5, \"s\": \"MyString\", \"b\": true, \"n\": null,"
        " \"t\": \"2016-03-14T01:59:00Z\", \"t2\": \"2016-03-14T03:59:00+02:00\","
        " \"file\": \"log-2024-01.txt\", \"arr\": [1, 2, 3], \"obj\": {\"x\": \"y\"},"
        " \"one\": 1.0, \"big\": 10, \"str10\": \"10\", \"bad_ts\": \"yesterday\"}";

static const char *const CONTEXT =
        "{\"Execution\": {\"Id\": \"exec-1\", \"Input\": {\"limit\": 3}}, \"State\": {\"Name\": \"C\"}}";

/* 1 = match, 0 = no match, -1 = error (err filled). */
static int eval_with(const char *rule_text, const char *input_text, AslError *err) {
        json_t *rule = json_loads(rule_text, 0, NULL);
        json_t *input = json_loads(input_text, JSON_DECODE_ANY, NULL);
        json_t *context = json_loads(CONTEXT, 0, NULL);
        bool m = false;
        int r;

        if (!rule || !input || !context) {
                fprintf(stderr, "bad test JSON: %s\n", rule_text);
                abort();
        }
        r = choice_rule_eval(rule, input, &(AslRefs){.context = context}, &m, err);
        json_decref(rule);
        json_decref(input);
        json_decref(context);
        return r < 0 ? -1 : m ? 1 : 0;
}

static int eval(const char *rule_text) {
        AslError err = {};
        int r = eval_with(rule_text, INPUT, &err);

        if (r < 0)
                fprintf(stderr, "  eval error: %s: %s\n", err.error, err.cause ? err.cause : "");
        asl_error_clear(&err);
        return r;
}

/* Validates a rule; returns the number of diagnostics, and the first one's
 * pointer/message in the buffers. */
static size_t validate(const char *rule_text, bool top, char *ret_pointer, char *ret_message) {
        json_t *rule = json_loads(rule_text, JSON_DECODE_ANY, NULL);
        AslDiag d = {};
        size_t n;

        if (!rule) {
                fprintf(stderr, "bad test JSON: %s\n", rule_text);
                abort();
        }
        choice_rule_validate(rule, "/States/C/Choices/0", top, &d);
        n = d.n;
        ret_pointer[0] = ret_message[0] = 0;
        if (n > 0) {
                snprintf(ret_pointer, 256, "%s", d.entries[0].pointer);
                snprintf(ret_message, 256, "%s", d.entries[0].message);
        }
        for (size_t i = 0; i < d.n; i++)
                fprintf(stderr, "    diag: %s: %s\n", d.entries[i].pointer, d.entries[i].message);
        asl_diag_clear(&d);
        json_decref(rule);
        return n;
}

#define ASSERT_VALID(rule, top)                                                 \
        do {                                                                    \
                char p_[256], m_[256];                                          \
                ASSERT_INT_EQ(validate((rule), (top), p_, m_), 0);              \
        } while (0)

#define ASSERT_INVALID(rule, top, pointer)                                      \
        do {                                                                    \
                char p_[256], m_[256];                                          \
                ASSERT_TRUE(validate((rule), (top), p_, m_) > 0);               \
                ASSERT_STR_EQ(p_, (pointer));                                   \
        } while (0)

/* ---- StringMatches ---------------------------------------------------- */

TEST(string_matches_wildcards) {
        ASSERT_TRUE(choice_string_matches("log-2024.txt", "log-*.txt"));
        ASSERT_TRUE(choice_string_matches("log-.txt", "log-*.txt"));
        ASSERT_FALSE(choice_string_matches("log-2024.txt.gz", "log-*.txt"));
        ASSERT_FALSE(choice_string_matches("xlog-1.txt", "log-*.txt"));
        ASSERT_TRUE(choice_string_matches("", "*"));
        ASSERT_TRUE(choice_string_matches("anything", "*"));
        ASSERT_TRUE(choice_string_matches("", ""));
        ASSERT_FALSE(choice_string_matches("a", ""));
        ASSERT_FALSE(choice_string_matches("", "a"));
        ASSERT_TRUE(choice_string_matches("abc", "abc"));
        ASSERT_FALSE(choice_string_matches("abd", "abc"));
        ASSERT_TRUE(choice_string_matches("a-b-c", "*-*-*"));
        ASSERT_TRUE(choice_string_matches("aaa", "a*a*a"));
        ASSERT_FALSE(choice_string_matches("aa", "a*a*a"));
        ASSERT_TRUE(choice_string_matches("mississippi", "m*iss*ppi"));
        ASSERT_TRUE(choice_string_matches("abcabcabd", "*abd"));
        ASSERT_TRUE(choice_string_matches("ab", "**a**b**"));
        /* Backtracking must stay polynomial: this finishes instantly. */
        ASSERT_FALSE(choice_string_matches("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                           "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"));
        ASSERT_FALSE(choice_string_matches(NULL, "*"));
}

TEST(string_matches_escapes) {
        /* `\*` is a literal star, `\\` a literal backslash. */
        ASSERT_TRUE(choice_string_matches("a*b", "a\\*b"));
        ASSERT_FALSE(choice_string_matches("axb", "a\\*b"));
        ASSERT_TRUE(choice_string_matches("a\\b", "a\\\\b"));
        ASSERT_FALSE(choice_string_matches("a\\\\b", "a\\\\b"));
        ASSERT_TRUE(choice_string_matches("a\\xyz", "a\\\\*"));
        ASSERT_TRUE(choice_string_matches("x*", "*\\*"));
        ASSERT_FALSE(choice_string_matches("xy", "*\\*"));
        /* A backslash before anything else, or at the end, is itself. */
        ASSERT_TRUE(choice_string_matches("a\\n", "a\\n"));
        ASSERT_TRUE(choice_string_matches("a\\", "a\\"));
}

/* ---- comparisons (needs JSONPath evaluation) -------------------------- */

TEST(string_operators) {
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringEquals\": \"MyString\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringEquals\": \"mystring\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringGreaterThan\": \"MyStr\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringGreaterThan\": \"MyStringABC\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringLessThan\": \"MyStringABC\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringLessThan\": \"MyString\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringLessThanEquals\": \"MyString\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringGreaterThanEquals\": \"MyString\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringGreaterThanEquals\": \"Z\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.file\", \"StringMatches\": \"log-*.txt\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.file\", \"StringMatches\": \"log-*.csv\"}"), 0);
        /* Type mismatch is false, not an error. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"StringEquals\": \"1\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"StringMatches\": \"*\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.n\", \"StringLessThan\": \"z\"}"), 0);
}

TEST(numeric_operators) {
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericEquals\": 1}"), 1);
        /* Integers and reals compare as numbers. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericEquals\": 1.0}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.one\", \"NumericEquals\": 1}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericEquals\": 2}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericLessThan\": 3}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericLessThan\": 2.5}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericGreaterThan\": 2}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericGreaterThan\": 2.5}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericLessThanEquals\": 2.5}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericGreaterThanEquals\": 2.5}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericGreaterThanEquals\": 2.6}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.big\", \"NumericGreaterThan\": 9}"), 1);
        /* A numeric string is not a number. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.str10\", \"NumericEquals\": 10}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.b\", \"NumericEquals\": 1}"), 0);
}

TEST(boolean_operators) {
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.b\", \"BooleanEquals\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.b\", \"BooleanEquals\": false}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"BooleanEquals\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.b\", \"BooleanEqualsPath\": \"$.b\"}"), 1);
}

TEST(timestamp_operators) {
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampEquals\": \"2016-03-14T01:59:00Z\"}"), 1);
        /* Same instant written with an offset. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t2\", \"TimestampEquals\": \"2016-03-14T01:59:00Z\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampEquals\": \"2016-03-14T01:59:01Z\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampLessThan\": \"2016-03-14T01:59:00.001Z\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampGreaterThan\": \"2001-01-01T12:00:00Z\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampGreaterThan\": \"2016-03-14T01:59:00Z\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampLessThanEquals\": \"2016-03-14T01:59:00Z\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampGreaterThanEquals\": \"2016-03-14T02:00:00Z\"}"), 0);
        /* Not a timestamp: false. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bad_ts\", \"TimestampLessThan\": \"2016-03-14T01:59:00Z\"}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"TimestampEquals\": \"2016-03-14T01:59:00Z\"}"), 0);
}

TEST(path_operators) {
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericLessThanPath\": \"$.bar\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericEqualsPath\": \"$.one\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"NumericGreaterThanEqualsPath\": \"$.foo\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringEqualsPath\": \"$.s\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"StringLessThanPath\": \"$.file\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampEqualsPath\": \"$.t2\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"TimestampLessThanPath\": \"$.t2\"}"), 0);
        /* Operand from the context object. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericLessThanPath\": \"$$.Execution.Input.limit\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$$.State.Name\", \"StringEquals\": \"C\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$$.Execution.Id\", \"StringEqualsPath\": \"$.s\"}"), 0);
        /* Operand of the wrong type: false. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericEqualsPath\": \"$.s\"}"), 0);
}

TEST(path_operand_missing_is_runtime_error) {
        AslError err = {};

        ASSERT_INT_EQ(eval_with("{\"Variable\": \"$.foo\", \"NumericEqualsPath\": \"$.nope\"}", INPUT, &err), -1);
        ASSERT_STR_EQ(err.error, "States.Runtime");
        asl_error_clear(&err);
}

TEST(type_tests) {
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.n\", \"IsNull\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"IsNull\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"IsNull\": false}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"IsPresent\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.n\", \"IsPresent\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.missing\", \"IsPresent\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.missing\", \"IsPresent\": false}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.arr[7]\", \"IsPresent\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bar\", \"IsNumeric\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"IsNumeric\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.str10\", \"IsNumeric\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.str10\", \"IsNumeric\": false}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"IsString\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.obj\", \"IsString\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.b\", \"IsBoolean\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.s\", \"IsBoolean\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.t\", \"IsTimestamp\": true}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.bad_ts\", \"IsTimestamp\": true}"), 0);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"IsTimestamp\": false}"), 1);
}

TEST(missing_variable_is_runtime_error) {
        AslError err = {};

        ASSERT_INT_EQ(eval_with("{\"Variable\": \"$.missing\", \"StringEquals\": \"x\"}", INPUT, &err), -1);
        ASSERT_STR_EQ(err.error, "States.Runtime");
        ASSERT_NOT_NULL(err.cause);
        ASSERT_TRUE(strstr(err.cause, "$.missing") != NULL);
        asl_error_clear(&err);

        /* Type tests other than IsPresent raise it too. */
        ASSERT_INT_EQ(eval_with("{\"Variable\": \"$.missing\", \"IsNull\": true}", INPUT, &err), -1);
        ASSERT_STR_EQ(err.error, "States.Runtime");
        asl_error_clear(&err);

        /* Missing context field. */
        ASSERT_INT_EQ(eval_with("{\"Variable\": \"$$.Nope\", \"IsNull\": false}", INPUT, &err), -1);
        ASSERT_STR_EQ(err.error, "States.Runtime");
        asl_error_clear(&err);
}

TEST(and_or_not) {
        /* The guide's example: IsPresent guards the comparison. */
        ASSERT_INT_EQ(eval("{\"And\": [{\"Variable\": \"$.missing\", \"IsPresent\": true},"
                           " {\"Variable\": \"$.missing\", \"StringEquals\": \"foo\"}]}"), 0);
        ASSERT_INT_EQ(eval("{\"And\": [{\"Variable\": \"$.foo\", \"NumericGreaterThanEquals\": 0},"
                           " {\"Variable\": \"$.foo\", \"NumericLessThan\": 10}]}"), 1);
        ASSERT_INT_EQ(eval("{\"And\": [{\"Variable\": \"$.foo\", \"NumericGreaterThanEquals\": 0},"
                           " {\"Variable\": \"$.foo\", \"NumericLessThan\": 1}]}"), 0);
        ASSERT_INT_EQ(eval("{\"Or\": [{\"Variable\": \"$.s\", \"StringEquals\": \"a\"},"
                           " {\"Variable\": \"$.s\", \"StringEquals\": \"MyString\"}]}"), 1);
        ASSERT_INT_EQ(eval("{\"Or\": [{\"Variable\": \"$.s\", \"StringEquals\": \"a\"},"
                           " {\"Variable\": \"$.s\", \"StringEquals\": \"b\"}]}"), 0);
        /* Or stops at the first match: the missing Variable is never read. */
        ASSERT_INT_EQ(eval("{\"Or\": [{\"Variable\": \"$.foo\", \"NumericEquals\": 1},"
                           " {\"Variable\": \"$.missing\", \"NumericEquals\": 1}]}"), 1);
        ASSERT_INT_EQ(eval("{\"Not\": {\"Variable\": \"$.type\", \"IsPresent\": true}}"), 1);
        ASSERT_INT_EQ(eval("{\"Not\": {\"Variable\": \"$.s\", \"StringEquals\": \"MyString\"}}"), 0);
        /* The guide's nested example. */
        ASSERT_INT_EQ(eval("{\"Not\": {\"And\": [{\"Variable\": \"$.foo\", \"NumericGreaterThan\": 0},"
                           " {\"Or\": [{\"Variable\": \"$.b\", \"BooleanEquals\": false},"
                           " {\"Variable\": \"$.s\", \"StringMatches\": \"My*\"}]}]}}"), 0);
        /* Next and Comment on a top-level rule are ignored by evaluation. */
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.foo\", \"NumericEquals\": 1, \"Next\": \"X\", \"Comment\": \"c\"}"), 1);
}

TEST(error_in_and_propagates) {
        AslError err = {};

        ASSERT_INT_EQ(eval_with("{\"And\": [{\"Variable\": \"$.foo\", \"NumericEquals\": 1},"
                                " {\"Variable\": \"$.missing\", \"NumericEquals\": 1}]}", INPUT, &err), -1);
        ASSERT_STR_EQ(err.error, "States.Runtime");
        asl_error_clear(&err);
}

TEST(nested_variable_paths) {
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.obj.x\", \"StringEquals\": \"y\"}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$.arr[1]\", \"NumericEquals\": 2}"), 1);
        ASSERT_INT_EQ(eval("{\"Variable\": \"$['obj']['x']\", \"StringEquals\": \"y\"}"), 1);
        /* `$` itself: the whole input. */
        AslError err = {};
        ASSERT_INT_EQ(eval_with("{\"Variable\": \"$\", \"NumericEquals\": 42}", "42", &err), 1);
        asl_error_clear(&err);
}

TEST(eval_rejects_garbage_without_crashing) {
        AslError err = {};

        ASSERT_INT_EQ(eval_with("{}", INPUT, &err), -1);
        asl_error_clear(&err);
        ASSERT_INT_EQ(eval_with("{\"And\": []}", INPUT, &err), -1);
        asl_error_clear(&err);
        ASSERT_INT_EQ(eval_with("{\"Not\": 3}", INPUT, &err), -1);
        asl_error_clear(&err);
        ASSERT_INT_EQ(eval_with("{\"Variable\": 3, \"IsNull\": true}", INPUT, &err), -1);
        asl_error_clear(&err);
        ASSERT_INT_EQ(eval_with("{\"Variable\": \"$.foo\", \"IsNull\": 3}", INPUT, &err), -1);
        asl_error_clear(&err);
        ASSERT_INT_EQ(eval_with("{\"Variable\": \"$.foo\", \"NumericEqualsPath\": 3}", INPUT, &err), -1);
        asl_error_clear(&err);
}

TEST(eval_deep_nesting_is_bounded) {
        /* 200 levels of Not: refused, not a stack overflow. */
        char buf[8192] = "";
        size_t k = 0;
        AslError err = {};

        for (int i = 0; i < 200; i++)
                k += (size_t) snprintf(buf + k, sizeof(buf) - k, "{\"Not\": ");
        k += (size_t) snprintf(buf + k, sizeof(buf) - k, "{\"Variable\": \"$.foo\", \"IsPresent\": true}");
        for (int i = 0; i < 200; i++)
                buf[k++] = '}';
        buf[k] = 0;
        ASSERT_INT_EQ(eval_with(buf, INPUT, &err), -1);
        asl_error_clear(&err);
}

/* ---- validation ------------------------------------------------------- */

TEST(validate_good_rules) {
        ASSERT_VALID("{\"Variable\": \"$.foo\", \"NumericEquals\": 1, \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"Variable\": \"$.foo\", \"StringEquals\": \"x\", \"Next\": \"A\", \"Comment\": \"c\"}", true);
        ASSERT_VALID("{\"Variable\": \"$.foo\", \"NumericEquals\": 1}", false);
        ASSERT_VALID("{\"Variable\": \"$.t\", \"TimestampEquals\": \"2001-01-01T12:00:00Z\", \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"Variable\": \"$.t\", \"TimestampLessThanPath\": \"$.u\", \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"Variable\": \"$$.Execution.Id\", \"StringMatches\": \"arn:*\", \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"Variable\": \"$.a\", \"NumericLessThanPath\": \"$$.Execution.Input.max\", \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"Variable\": \"$.a\", \"IsPresent\": false, \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"Variable\": \"$.a\", \"BooleanEquals\": false, \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"And\": [{\"Variable\": \"$.a\", \"IsNull\": false},"
                     " {\"Not\": {\"Variable\": \"$.b\", \"NumericGreaterThan\": 2.5}}], \"Next\": \"A\"}", true);
        ASSERT_VALID("{\"Or\": [{\"Variable\": \"$.a[0].b\", \"IsString\": true}], \"Next\": \"A\"}", true);
}

TEST(validate_every_operator_name) {
        static const char *const ops[] = {
                "StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
                "StringGreaterThanEquals", "StringMatches",
        };
        static const char *const nums[] = {
                "NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals",
                "NumericGreaterThanEquals",
        };
        static const char *const ts[] = {
                "TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
                "TimestampLessThanEquals", "TimestampGreaterThanEquals",
        };
        static const char *const paths[] = {
                "StringEqualsPath", "StringLessThanPath", "StringGreaterThanPath",
                "StringLessThanEqualsPath", "StringGreaterThanEqualsPath",
                "NumericEqualsPath", "NumericLessThanPath", "NumericGreaterThanPath",
                "NumericLessThanEqualsPath", "NumericGreaterThanEqualsPath", "BooleanEqualsPath",
                "TimestampEqualsPath", "TimestampLessThanPath", "TimestampGreaterThanPath",
                "TimestampLessThanEqualsPath", "TimestampGreaterThanEqualsPath",
        };
        static const char *const tests[] = {
                "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp", "BooleanEquals",
        };
        char rule[256], p[256], m[256];

        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": \"x\"}", ops[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 0);
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": 1}", ops[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 1);
        }
        for (size_t i = 0; i < ELEMENTSOF(nums); i++) {
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": -1.5}", nums[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 0);
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": \"1\"}", nums[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 1);
        }
        for (size_t i = 0; i < ELEMENTSOF(ts); i++) {
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": \"2020-02-29T00:00:00.5+01:00\"}", ts[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 0);
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": \"2021-02-29T00:00:00Z\"}", ts[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 1);
        }
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": \"$.b\"}", paths[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 0);
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": \"b\"}", paths[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 1);
        }
        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": true}", tests[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 0);
                snprintf(rule, sizeof(rule), "{\"Variable\": \"$.a\", \"%s\": \"true\"}", tests[i]);
                ASSERT_INT_EQ(validate(rule, false, p, m), 1);
        }
}

TEST(validate_operand_types) {
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEquals\": \"1\", \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/NumericEquals");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"TimestampEquals\": \"yesterday\", \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/TimestampEquals");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"TimestampEquals\": 12, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/TimestampEquals");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"StringMatches\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/StringMatches");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"BooleanEquals\": \"true\", \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/BooleanEquals");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"IsNull\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/IsNull");
        /* *Path operands must be reference paths. */
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEqualsPath\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/NumericEqualsPath");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"StringEqualsPath\": \"foo\", \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/StringEqualsPath");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"StringEqualsPath\": \"$.b[*]\", \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/StringEqualsPath");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"StringEqualsPath\": \"$.[\", \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/StringEqualsPath");
}

TEST(validate_variable) {
        ASSERT_INVALID("{\"NumericEquals\": 1, \"Next\": \"A\"}", true, "/States/C/Choices/0");
        ASSERT_INVALID("{\"Variable\": 5, \"NumericEquals\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/Variable");
        ASSERT_INVALID("{\"Variable\": \"foo\", \"NumericEquals\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/Variable");
        ASSERT_INVALID("{\"Variable\": \"$.a..b\", \"NumericEquals\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/Variable");
        ASSERT_INVALID("{\"Variable\": \"$.a[?(@.x > 1)]\", \"NumericEquals\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/Variable");
        /* Variable belongs to comparisons, not to And/Or/Not. */
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"Not\": {\"Variable\": \"$.a\", \"IsNull\": true}, \"Next\": \"A\"}",
                       true, "/States/C/Choices/0/Variable");
}

TEST(validate_operator_count) {
        char p[256], m[256];

        ASSERT_INVALID("{\"Variable\": \"$.a\", \"Next\": \"A\"}", true, "/States/C/Choices/0");
        ASSERT_TRUE(validate("{\"Variable\": \"$.a\", \"Next\": \"A\"}", true, p, m) == 1);
        ASSERT_TRUE(strstr(m, "operator") != NULL);
        /* Two operators: the second one is pointed at. */
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEquals\": 1, \"NumericLessThan\": 3, \"Next\": \"A\"}",
                       true, "/States/C/Choices/0/NumericLessThan");
        ASSERT_INVALID("{\"And\": [{\"Variable\": \"$.a\", \"IsNull\": true}],"
                       " \"Or\": [{\"Variable\": \"$.a\", \"IsNull\": true}], \"Next\": \"A\"}",
                       true, "/States/C/Choices/0/Or");
}

TEST(validate_next_placement) {
        /* Top-level rules need Next. */
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEquals\": 1}", true, "/States/C/Choices/0");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEquals\": 1, \"Next\": 3}", true,
                       "/States/C/Choices/0/Next");
        /* Nested rules may not have it. */
        ASSERT_INVALID("{\"And\": [{\"Variable\": \"$.a\", \"IsNull\": true, \"Next\": \"B\"}], \"Next\": \"A\"}",
                       true, "/States/C/Choices/0/And/0/Next");
        ASSERT_INVALID("{\"Not\": {\"Variable\": \"$.a\", \"IsNull\": true, \"Next\": \"B\"}, \"Next\": \"A\"}",
                       true, "/States/C/Choices/0/Not/Next");
}

TEST(validate_logical) {
        ASSERT_INVALID("{\"And\": [], \"Next\": \"A\"}", true, "/States/C/Choices/0/And");
        ASSERT_INVALID("{\"Or\": {}, \"Next\": \"A\"}", true, "/States/C/Choices/0/Or");
        ASSERT_INVALID("{\"Not\": [{\"Variable\": \"$.a\", \"IsNull\": true}], \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/Not");
        ASSERT_INVALID("{\"Or\": [{\"Variable\": \"$.a\", \"IsNull\": true}, 3], \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/Or/1");
        ASSERT_INVALID("{\"Or\": [{\"Variable\": \"$.a\", \"IsNull\": true},"
                       " {\"And\": [{\"Variable\": \"$.b\", \"NumericEquals\": \"x\"}]}], \"Next\": \"A\"}",
                       true, "/States/C/Choices/0/Or/1/And/0/NumericEquals");
}

TEST(validate_unknown_fields) {
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEquals\": 1, \"Next\": \"A\", \"Foo\": 1}", true,
                       "/States/C/Choices/0/Foo");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEqual\": 1, \"Next\": \"A\"}", true,
                       "/States/C/Choices/0/NumericEqual");
        ASSERT_INVALID("{\"Variable\": \"$.a\", \"NumericEquals\": 1, \"Next\": \"A\", \"Comment\": 7}", true,
                       "/States/C/Choices/0/Comment");
        ASSERT_INVALID("3", true, "/States/C/Choices/0");
}

TEST(validate_deep_nesting_is_bounded) {
        char buf[8192] = "";
        size_t k = 0;
        AslDiag d = {};
        json_t *rule;

        for (int i = 0; i < 200; i++)
                k += (size_t) snprintf(buf + k, sizeof(buf) - k, "{\"Not\": ");
        k += (size_t) snprintf(buf + k, sizeof(buf) - k, "{\"Variable\": \"$.foo\", \"IsPresent\": true}");
        for (int i = 0; i < 200; i++)
                buf[k++] = '}';
        buf[k] = 0;
        rule = json_loads(buf, 0, NULL);
        ASSERT_NOT_NULL(rule);
        choice_rule_validate(rule, "", false, &d);
        ASSERT_TRUE(d.n >= 1);
        asl_diag_clear(&d);
        json_decref(rule);
}

/* The Choice state of the States Language specification / the guide:
 * rules are tried in order, the first match wins. */
static const char *first_match(const char *input_text, AslError *err) {
        static const char *const rules[] = {
                "{\"Not\": {\"Variable\": \"$.type\", \"StringEquals\": \"Private\"}, \"Next\": \"Public\"}",
                "{\"Variable\": \"$.value\", \"NumericEquals\": 0, \"Next\": \"ValueIsZero\"}",
                "{\"And\": [{\"Variable\": \"$.value\", \"NumericGreaterThanEquals\": 20},"
                " {\"Variable\": \"$.value\", \"NumericLessThan\": 30}], \"Next\": \"ValueInTwenties\"}",
        };
        static const char *const next[] = { "Public", "ValueIsZero", "ValueInTwenties" };

        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                int r = eval_with(rules[i], input_text, err);
                if (r < 0)
                        return "error";
                if (r > 0)
                        return next[i];
        }
        return "DefaultState";
}

TEST(guide_choice_state) {
        AslError err = {};

        ASSERT_STR_EQ(first_match("{\"type\": \"Public\", \"value\": 0}", &err), "Public");
        ASSERT_STR_EQ(first_match("{\"type\": \"Private\", \"value\": 0}", &err), "ValueIsZero");
        ASSERT_STR_EQ(first_match("{\"type\": \"Private\", \"value\": 25}", &err), "ValueInTwenties");
        ASSERT_STR_EQ(first_match("{\"type\": \"Private\", \"value\": 30}", &err), "DefaultState");
        ASSERT_STR_EQ(first_match("{\"type\": \"Private\", \"value\": 19.999}", &err), "DefaultState");
        /* No "value": the second rule cannot be evaluated. */
        ASSERT_STR_EQ(first_match("{\"type\": \"Private\"}", &err), "error");
        ASSERT_STR_EQ(err.error, "States.Runtime");
        ASSERT_TRUE(strstr(err.cause, "$.value") != NULL);
        asl_error_clear(&err);
}

TEST(string_matches_is_linear) {
        /* A subject and a pattern as large as a payload and a definition:
         * a backtracking matcher would take minutes here. */
        size_t n = 200000;
        char *s = malloc(n + 1), *p = malloc(n + 2);

        ASSERT_NOT_NULL(s);
        ASSERT_NOT_NULL(p);
        memset(s, 'a', n);
        s[n] = 0;
        for (size_t i = 0; i < n / 2; i += 2) {
                p[i] = '*';
                p[i + 1] = 'a';
        }
        p[n / 2] = 'b';
        p[n / 2 + 1] = 0;
        ASSERT_FALSE(choice_string_matches(s, p));
        p[n / 2] = '*';
        ASSERT_TRUE(choice_string_matches(s, p));
        free(s);
        free(p);
}
