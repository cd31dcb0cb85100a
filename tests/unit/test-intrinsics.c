/* SPDX-License-Identifier: MIT */
#include <ctype.h>

#include "test.h"
#include "asl-intrinsics.h"

/* A deterministic "random" source: an LCG over the userdata state. */
static void fake_random(void *userdata, void *buf, size_t n) {
        uint64_t *state = userdata;
        uint8_t *b = buf;

        for (size_t i = 0; i < n; i++) {
                *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
                b[i] = (uint8_t) (*state >> 56);
        }
}

static uint64_t rnd_state = 42;
static const AslEnv test_env = {
        .now_ms = 0,
        .random = fake_random,
        .random_userdata = &rnd_state,
};

static json_t *load(const char *s) {
        json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
        if (!v)
                abort();
        return v;
}

/* Evaluate with the given input (JSON text, NULL for none) and context. */
static int eval_env(const char *expr, const char *input, const char *context, const AslEnv *env,
                    json_t **ret, AslError *err) {
        json_t *in = input ? load(input) : NULL, *ctx = context ? load(context) : NULL;
        int r = intrinsic_eval(expr, in, &(AslRefs){.context = ctx}, env, ret, err);
        json_decref(in);
        json_decref(ctx);
        return r;
}

#define EXPECT_CALL_CTX(expr, input, context, expected)                 \
        do {                                                            \
                json_t *r_ = NULL;                                      \
                AslError err_ = {};                                       \
                if (eval_env((expr), (input), (context), &test_env, &r_, &err_) != 0) \
                        TEST_FAIL_("%s failed: %s: %s", (expr), err_.error, err_.cause); \
                ASSERT_JSON_EQ(r_, (expected));                         \
                json_decref(r_);                                        \
                asl_error_clear(&err_);                                   \
        } while (0)
#define EXPECT_CALL(expr, input, expected) EXPECT_CALL_CTX(expr, input, NULL, expected)

#define EXPECT_FAIL_ENV(expr, input, env, causerr_part)                   \
        do {                                                            \
                json_t *r_ = NULL;                                      \
                AslError err_ = {};                                       \
                ASSERT_INT_EQ(eval_env((expr), (input), NULL, (env), &r_, &err_), -EINVAL); \
                ASSERT_NULL(r_);                                        \
                ASSERT_STR_EQ(err_.error, "States.IntrinsicFailure");     \
                if (!err_.cause || !strstr(err_.cause, (causerr_part)))       \
                        TEST_FAIL_("%s: cause \"%s\" lacks \"%s\"", (expr), \
                                   err_.cause ? err_.cause : "(null)", (causerr_part)); \
                asl_error_clear(&err_);                                   \
        } while (0)
#define EXPECT_FAIL(expr, input, causerr_part) EXPECT_FAIL_ENV(expr, input, &test_env, causerr_part)

#define EXPECT_CHECK_OK(expr)                                           \
        do {                                                            \
                char *m_ = NULL;                                        \
                if (intrinsic_check((expr), &m_) != 0)                  \
                        TEST_FAIL_("check(%s): %s", (expr), m_ ? m_ : "(no message)"); \
                ASSERT_NULL(m_);                                        \
        } while (0)

#define EXPECT_CHECK_BAD(expr, msg_part)                                \
        do {                                                            \
                const char *x_ = (expr);                                \
                char *m_ = NULL;                                        \
                if (intrinsic_check(x_, &m_) != -EINVAL)                \
                        TEST_FAIL_("check(%s) succeeded", x_ ? x_ : "(null)"); \
                if (!m_ || !strstr(m_, (msg_part)))                     \
                        TEST_FAIL_("check(%s): message \"%s\" lacks \"%s\"", x_ ? x_ : "(null)", \
                                   m_ ? m_ : "(null)", (msg_part));     \
                free(m_);                                               \
        } while (0)

TEST(table) {
        static const char *const names[] = {
                "States.Format", "States.StringToJson", "States.JsonToString", "States.Array",
                "States.ArrayPartition", "States.ArrayContains", "States.ArrayRange",
                "States.ArrayGetItem", "States.ArrayLength", "States.ArrayUnique",
                "States.Base64Encode", "States.Base64Decode", "States.Hash", "States.JsonMerge",
                "States.MathRandom", "States.MathAdd", "States.StringSplit", "States.UUID",
        };
        ASSERT_INT_EQ(intrinsic_n_functions(), 18);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                bool found = false;
                for (size_t j = 0; j < intrinsic_n_functions(); j++)
                        found = found || streq(intrinsic_function_name(j), names[i]);
                ASSERT_TRUE(found);
        }
        ASSERT_NULL(intrinsic_function_name(18));
}

TEST(is_call) {
        ASSERT_TRUE(intrinsic_is_call("States.Format('x')"));
        ASSERT_TRUE(intrinsic_is_call("States.UUID()"));
        ASSERT_TRUE(intrinsic_is_call("States.Nope(1)")); /* looks like one; check says unknown */
        ASSERT_FALSE(intrinsic_is_call("$.a"));
        ASSERT_FALSE(intrinsic_is_call("States."));
        ASSERT_FALSE(intrinsic_is_call("States.Format"));
        ASSERT_FALSE(intrinsic_is_call("states.Format('x')"));
        ASSERT_FALSE(intrinsic_is_call(" States.Format('x')"));
        ASSERT_FALSE(intrinsic_is_call(NULL));
}

TEST(check_valid) {
        EXPECT_CHECK_OK("States.UUID()");
        EXPECT_CHECK_OK("States.UUID( )");
        EXPECT_CHECK_OK("States.Array()");
        EXPECT_CHECK_OK("States.Array(1, -2.5, 1e3, 'x', true, false, null, $, $$, $.a, $$.Execution.Id)");
        EXPECT_CHECK_OK("States.Array($.a[0], $['b c'], $.d[?(@.x == 'a,b)')], $..e, $.f[1:2])");
        EXPECT_CHECK_OK("States.Format('Hello, my name is {}.', $.name)");
        EXPECT_CHECK_OK("States.Format('\\{\\} \\' \\\\ {}', 1)");
        EXPECT_CHECK_OK("States.Format($.template, 1, 2, 3)"); /* count known only at run time */
        EXPECT_CHECK_OK("  States.MathAdd ( 1 , 2 )  ");
        EXPECT_CHECK_OK("States.MathRandom(1, 10)");
        EXPECT_CHECK_OK("States.MathRandom(1, 10, 3)");
        EXPECT_CHECK_OK("States.JsonMerge($.a, $.b, false)");
        EXPECT_CHECK_OK("States.Hash($.x, 'SHA-512')");
        EXPECT_CHECK_OK("States.Hash($.x, $.alg)");
        EXPECT_CHECK_OK("States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem("
                        "States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem("
                        "States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), "
                        "'.'), 1))");
}

TEST(check_invalid) {
        EXPECT_CHECK_BAD(NULL, "missing");
        EXPECT_CHECK_BAD("", "expected an intrinsic function name");
        EXPECT_CHECK_BAD("$.a", "expected an intrinsic function name");
        EXPECT_CHECK_BAD("States.Nope(1)", "unknown intrinsic function 'States.Nope'");
        EXPECT_CHECK_BAD("States.format('x')", "unknown intrinsic function");
        EXPECT_CHECK_BAD("States.UUID", "expected '('");
        EXPECT_CHECK_BAD("States.UUID(", "expected an argument");
        EXPECT_CHECK_BAD("States.Array(1,)", "expected an argument");
        EXPECT_CHECK_BAD("States.Array(1 2)", "expected ',' or ')'");
        EXPECT_CHECK_BAD("States.Array(1", "expected ',' or ')'");
        EXPECT_CHECK_BAD("States.UUID() x", "unexpected text after the call");
        EXPECT_CHECK_BAD("States.UUID()States.UUID()", "unexpected text after the call");
        EXPECT_CHECK_BAD("States.Array('abc)", "unterminated string literal");
        EXPECT_CHECK_BAD("States.Array('abc\\", "unterminated");
        EXPECT_CHECK_BAD("States.Array(\"abc\")", "single quotes");
        EXPECT_CHECK_BAD("States.Array(abc)", "unexpected character 'a'");
        EXPECT_CHECK_BAD("States.Array(truex)", "unexpected character 't'");
        EXPECT_CHECK_BAD("States.Array(1.)", "digits after '.'");
        EXPECT_CHECK_BAD("States.Array(1e)", "exponent");
        EXPECT_CHECK_BAD("States.Array(-)", "expected a number");
        EXPECT_CHECK_BAD("States.Array(99999999999999999999)", "out of range");
        EXPECT_CHECK_BAD("States.Array(1e999)", "out of range");
        EXPECT_CHECK_BAD("States.Array($.a[)", "invalid JSONPath");
        EXPECT_CHECK_BAD("States.Array($$.)", "invalid JSONPath");
        EXPECT_CHECK_BAD("States.Array($a..)", "invalid JSONPath");
        /* Arity, from the table. */
        EXPECT_CHECK_BAD("States.UUID(1)", "States.UUID takes 0 argument(s), got 1");
        EXPECT_CHECK_BAD("States.MathAdd(1)", "States.MathAdd takes 2 argument(s), got 1");
        EXPECT_CHECK_BAD("States.MathRandom(1)", "States.MathRandom takes 2 to 3 arguments, got 1");
        EXPECT_CHECK_BAD("States.MathRandom(1, 2, 3, 4)", "2 to 3 arguments");
        EXPECT_CHECK_BAD("States.Format()", "States.Format takes at least 1 argument(s), got 0");
        EXPECT_CHECK_BAD("States.StringToJson()", "takes 1 argument(s), got 0");
        EXPECT_CHECK_BAD("States.JsonMerge($.a, $.b)", "takes 3 argument(s)");
        EXPECT_CHECK_BAD("States.ArrayRange(1, 2)", "takes 3 argument(s)");
        /* Static checks on literal arguments. */
        EXPECT_CHECK_BAD("States.Format('{} {}', $.a)", "2 placeholder(s) but 1 argument(s)");
        EXPECT_CHECK_BAD("States.Format('\\{}', $.a)", "0 placeholder(s) but 1 argument(s)");
        EXPECT_CHECK_BAD("States.Hash($.a, 'SHA-2')", "unknown algorithm 'SHA-2'");
        EXPECT_CHECK_BAD("States.JsonMerge($.a, $.b, true)", "must be false");
        EXPECT_CHECK_BAD("States.Array(States.Format('{}'))", "1 placeholder(s) but 0");
        /* Nesting limit. */
        char buf[1024] = "";
        for (int i = 0; i < ASL_MAX_INTRINSIC_NESTING; i++)
                strcat(buf, "States.Array(");
        strcat(buf, "1");
        for (int i = 0; i < ASL_MAX_INTRINSIC_NESTING; i++)
                strcat(buf, ")");
        EXPECT_CHECK_OK(buf);
        char buf2[1100] = "States.Array(";
        strcat(buf2, buf);
        strcat(buf2, ")");
        EXPECT_CHECK_BAD(buf2, "nested more than");
        /* Length limit. */
        char *big = malloc(INTRINSIC_MAX_LENGTH + 64);
        strcpy(big, "States.Array('");
        size_t k = strlen(big);
        while (k < INTRINSIC_MAX_LENGTH + 10)
                big[k++] = 'x';
        strcpy(big + k, "')");
        EXPECT_CHECK_BAD(big, "longer than");
        free(big);
        /* Without a message pointer. */
        ASSERT_INT_EQ(intrinsic_check("States.Nope()", NULL), -EINVAL);
}

/* In string literals only \\' \\{ \\} \\\\ are escapes: Step Functions refuses \\" and any other. */
TEST(check_literal_escapes) {
        EXPECT_CHECK_OK("States.Format('it\\'s \\{\\} \\\\ {}', 1)");
        EXPECT_CHECK_BAD("States.Format('say \\\"hi\\\"')", "invalid escape '\\\"'");
        EXPECT_CHECK_BAD("States.Array('a\\nb')", "invalid escape '\\n'");
        EXPECT_CHECK_BAD("States.Array('\\u0041')", "invalid escape '\\u'");
        /* A double quote itself is fine. */
        EXPECT_CALL("States.Format('say \"{}\"', 'hi')", "{}", "\"say \\\"hi\\\"\"");
}

TEST(syntax_error_at_eval) {
        EXPECT_FAIL("States.Nope()", "{}", "unknown intrinsic function");
}

TEST(paths) {
        EXPECT_CALL("States.Array($)", "{\"a\":1}", "[{\"a\":1}]");
        EXPECT_CALL("States.Array($.a, $['b c'], $.d[1])", "{\"a\":1,\"b c\":2,\"d\":[3,4]}", "[1,2,4]");
        EXPECT_CALL("States.Array($.d[*])", "{\"d\":[3,4]}", "[[3,4]]");
        EXPECT_CALL("States.Array($.d[?(@ > 3)])", "{\"d\":[3,4]}", "[[4]]");
        EXPECT_CALL("States.Array($.d[?(@.x == 'a,b)')].y)",
                    "{\"d\":[{\"x\":\"a,b)\",\"y\":1},{\"x\":\"c\",\"y\":2}]}", "[[1]]");
        EXPECT_CALL_CTX("States.Format('{}/{}', $$.Execution.Id, $.k)", "{\"k\":\"v\"}",
                        "{\"Execution\":{\"Id\":\"exec-1\"}}", "\"exec-1/v\"");
        EXPECT_CALL_CTX("States.Array($$)", "{}", "{\"c\":1}", "[{\"c\":1}]");
        EXPECT_FAIL("States.Array($$.nope)", "{}", "no context object");
        EXPECT_FAIL("States.Array($.a)", NULL, "no input");
}

/* A path argument that does not resolve is States.Runtime, the cause naming the whole expression (as Step
 * Functions). */
TEST(missing_path_is_runtime) {
        static const struct {
                const char *expr, *input, *cause;
        } cases[] = {
                {"States.Array($.nope)", "{\"other\":1}",
                 "The function 'States.Array($.nope)' had the following error: The JsonPath argument for "
                 "the field "
                 "'$.nope' could not be found in the input '{\"other\":1}'"},
                {"States.Format('{}', States.ArrayLength($.nope))", "{}",
                 "The function 'States.Format('{}', States.ArrayLength($.nope))' had the following error: "
                 "The "
                 "JsonPath argument for the field '$.nope' could not be found in the input '{}'"},
                {"States.Format('{}', $.items[5])", "{\"items\":[1,2]}",
                 "The function 'States.Format('{}', $.items[5])' had the following error: The JsonPath "
                 "argument for "
                 "the field '$.items[5]' could not be found in the input '{\"items\":[1,2]}'"},
                {"States.Array($$.Nope)", "{}",
                 "The function 'States.Array($$.Nope)' had the following error: The JsonPath argument for "
                 "the field "
                 "'$$.Nope' could not be found in the input '{\"Execution\":{}}'"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *r = NULL;
                AslError e = {};

                ASSERT_INT_EQ(
                        eval_env(cases[i].expr, cases[i].input, "{\"Execution\":{}}", &test_env, &r, &e),
                        -EINVAL);
                ASSERT_NULL(r);
                ASSERT_STR_EQ(e.error, "States.Runtime");
                ASSERT_STR_EQ(e.cause, cases[i].cause);
                asl_error_clear(&e);
        }
        /* A present null is no miss. */
        EXPECT_CALL("States.Format('{}', $.nul)", "{\"nul\":null}", "\"null\"");
}

TEST(format) {
        /* AWS documentation example. */
        EXPECT_CALL("States.Format('Hello, my name is {}.', $.name)", "{\"name\":\"Arnav\"}",
                    "\"Hello, my name is Arnav.\"");
        EXPECT_CALL("States.Format('Welcome to {} {}\\'s playlist.', $.firstName, $.lastName)",
                    "{\"firstName\":\"John\",\"lastName\":\"Doe\"}", "\"Welcome to John Doe's playlist.\"");
        EXPECT_CALL("States.Format('no placeholders')", "{}", "\"no placeholders\"");
        EXPECT_CALL("States.Format('')", "{}", "\"\"");
        EXPECT_CALL("States.Format('{}{}{}{}{}', 1, -2.5, true, false, null)", "{}", "\"1-2.5truefalsenull\"");
        EXPECT_CALL("States.Format('{} {} {}', 0.1, 1e21, 1.0)", "{}", "\"0.1 1e+21 1\"");
        EXPECT_CALL("States.Format('{}', $.n)", "{\"n\":1234567890123}", "\"1234567890123\"");
        /* Escapes: \{ \} are braces, \' a quote, \\ a backslash. */
        EXPECT_CALL("States.Format('\\{\\} is not a placeholder, {} is', 'this')", "{}",
                    "\"{} is not a placeholder, this is\"");
        EXPECT_CALL("States.Format('back\\\\slash {}', 1)", "{}", "\"back\\\\slash 1\"");
        EXPECT_CALL("States.Format('a { b } c')", "{}", "\"a { b } c\"");
        /* The template may come from a path; then it has no escapes. */
        EXPECT_CALL("States.Format($.t, $.v)", "{\"t\":\"x={} \\\\{\",\"v\":7}", "\"x=7 \\\\{\"");
        EXPECT_FAIL("States.Format($.t, 1)", "{\"t\":\"{} {}\"}", "more placeholders than the 1 argument(s)");
        EXPECT_FAIL("States.Format($.t, 1, 2)", "{\"t\":\"{}\"}", "2 argument(s) given but the format string has 1");
        EXPECT_FAIL("States.Format($.t)", "{\"t\":5}", "argument 1 must be a string, got a number");
        EXPECT_FAIL("States.Format($.t)", "{\"t\":5}", "States.Format: ");
}

/* Objects and arrays render as Java prints a Map or a List. */
TEST(format_objects_java_style) {
        EXPECT_CALL("States.Format('{}', $.o)", "{\"o\":{\"Arg1\":1,\"Arg2\":[]}}", "\"{Arg1=1, Arg2=[]}\"");
        EXPECT_CALL_CTX(
                "States.Format('{}', $$.StateMachine)", "{}",
                "{\"StateMachine\":{\"Id\":\"arn:aws:states:us-east-1:1:stateMachine:sm\",\"Name\":\"sm\"}}",
                "\"{Id=arn:aws:states:us-east-1:1:stateMachine:sm, Name=sm}\"");
        EXPECT_CALL("States.Format('a {} b', $.o)", "{\"o\":[1,\"x y\",null,true,2.5,{\"k\":[{}]}]}",
                    "\"a [1, x y, null, true, 2.5, {k=[{}]}] b\"");
        EXPECT_CALL("States.Format('{}{}', $.o, $.e)", "{\"o\":{},\"e\":[]}", "\"{}[]\"");
        EXPECT_CALL("States.Format('{}', States.Array(1, 'two'))", "{}", "\"[1, two]\"");
}

TEST(string_to_json_and_back) {
        /* AWS documentation examples. */
        EXPECT_CALL("States.StringToJson($.escapedJsonString)", "{\"escapedJsonString\":\"{\\\"foo\\\": \\\"bar\\\"}\"}",
                    "{\"foo\":\"bar\"}");
        EXPECT_CALL("States.JsonToString($.unescapedJson)", "{\"unescapedJson\":{\"foo\":\"bar\"}}",
                    "\"{\\\"foo\\\":\\\"bar\\\"}\"");
        EXPECT_CALL("States.StringToJson('[1, 2.5, null]')", "{}", "[1,2.5,null]");
        EXPECT_CALL("States.StringToJson(' 42 ')", "{}", "42");
        EXPECT_CALL("States.StringToJson('\"s\"')", "{}", "\"s\"");
        EXPECT_CALL("States.JsonToString($.a)", "{\"a\":[1,\"x\",null,{\"b\":true}]}",
                    "\"[1,\\\"x\\\",null,{\\\"b\\\":true}]\"");
        EXPECT_CALL("States.JsonToString('x')", "{}", "\"\\\"x\\\"\"");
        EXPECT_CALL("States.JsonToString(7)", "{}", "\"7\"");
        /* Numbers in their shortest round-trip form, as Step Functions prints them. */
        EXPECT_CALL("States.JsonToString($.a)", "{\"a\":{\"x\":1.1,\"y\":[0.1,-2.5,1e300,3]}}",
                    "\"{\\\"x\\\":1.1,\\\"y\\\":[0.1,-2.5,1e300,3]}\"");
        EXPECT_CALL("States.JsonToString(1.1)", "{}", "\"1.1\"");
        /* Round trip keeps key order. */
        EXPECT_CALL("States.StringToJson(States.JsonToString($))", "{\"z\":1,\"a\":{\"m\":[2]}}",
                    "{\"z\":1,\"a\":{\"m\":[2]}}");
        EXPECT_FAIL("States.StringToJson('{nope')", "{}", "not valid JSON");
        /* An empty or blank string is null. */
        EXPECT_CALL("States.StringToJson('')", "{}", "null");
        EXPECT_CALL("States.StringToJson('  ')", "{}", "null");
        EXPECT_CALL("States.StringToJson($.s)", "{\"s\":\" \\t\\r\\n\"}", "null");
        EXPECT_FAIL("States.StringToJson(' x ')", "{}", "not valid JSON");
        EXPECT_FAIL("States.StringToJson($.a)", "{\"a\":1}", "must be a string, got a number");
        char deep[300] = "States.StringToJson('";
        for (int i = 0; i < ASL_MAX_JSON_DEPTH + 2; i++)
                strcat(deep, "[");
        for (int i = 0; i < ASL_MAX_JSON_DEPTH + 2; i++)
                strcat(deep, "]");
        strcat(deep, "')");
        EXPECT_FAIL(deep, "{}", "nested deeper");
}

TEST(array) {
        /* AWS documentation example. */
        EXPECT_CALL("States.Array($.Id)", "{\"Id\":123456}", "[123456]");
        EXPECT_CALL("States.Array()", "{}", "[]");
        EXPECT_CALL("States.Array('a', 1, States.Array(2, 3), $.o)", "{\"o\":{\"k\":null}}",
                    "[\"a\",1,[2,3],{\"k\":null}]");
}

TEST(array_partition) {
        /* AWS documentation example. */
        EXPECT_CALL("States.ArrayPartition($.inputArray, 4)", "{\"inputArray\":[1,2,3,4,5,6,7,8,9]}",
                    "[[1,2,3,4],[5,6,7,8],[9]]");
        EXPECT_CALL("States.ArrayPartition($.a, 3)", "{\"a\":[1,2,3,4,5,6]}", "[[1,2,3],[4,5,6]]");
        EXPECT_CALL("States.ArrayPartition($.a, 10)", "{\"a\":[1,2]}", "[[1,2]]");
        EXPECT_CALL("States.ArrayPartition($.a, 1)", "{\"a\":[1,2]}", "[[1],[2]]");
        EXPECT_CALL("States.ArrayPartition($.a, 2)", "{\"a\":[]}", "[]");
        EXPECT_FAIL("States.ArrayPartition($.a, 0)", "{\"a\":[1]}", "greater than 0");
        EXPECT_FAIL("States.ArrayPartition($.a, -1)", "{\"a\":[1]}", "greater than 0");
        EXPECT_FAIL("States.ArrayPartition($.a, 'x')", "{\"a\":[1]}", "argument 2 must be an integer");
        EXPECT_FAIL("States.ArrayPartition($.a, 2)", "{\"a\":{}}", "argument 1 must be an array, got an object");
        EXPECT_FAIL("States.ArrayPartition($.a, 3000000000)", "{\"a\":[1]}", "between -2147483648 and 2147483647");
}

TEST(array_contains) {
        /* AWS documentation example. */
        EXPECT_CALL("States.ArrayContains($.inputArray, $.lookingFor)",
                    "{\"inputArray\":[1,2,3,4,5,6,7,8,9],\"lookingFor\":5}", "true");
        EXPECT_CALL("States.ArrayContains($.a, 10)", "{\"a\":[1,2,3]}", "false");
        EXPECT_CALL("States.ArrayContains($.a, 2.0)", "{\"a\":[1,2,3]}", "true");
        EXPECT_CALL("States.ArrayContains($.a, '2')", "{\"a\":[1,2,3]}", "false");
        EXPECT_CALL("States.ArrayContains($.a, $.o)", "{\"a\":[{\"x\":[1,{\"y\":2}]}],\"o\":{\"x\":[1.0,{\"y\":2}]}}",
                    "true");
        EXPECT_CALL("States.ArrayContains($.a, $.o)", "{\"a\":[{\"x\":1,\"z\":2}],\"o\":{\"x\":1}}", "false");
        EXPECT_CALL("States.ArrayContains($.a, null)", "{\"a\":[null]}", "true");
        EXPECT_CALL("States.ArrayContains($.a, null)", "{\"a\":[]}", "false");
        EXPECT_FAIL("States.ArrayContains('x', 1)", "{}", "must be an array, got a string");
}

TEST(array_range) {
        /* AWS documentation example. */
        EXPECT_CALL("States.ArrayRange(1, 9, 2)", "{}", "[1,3,5,7,9]");
        EXPECT_CALL("States.ArrayRange(1, 10, 2)", "{}", "[1,3,5,7,9]");
        EXPECT_CALL("States.ArrayRange(0, 0, 1)", "{}", "[0]");
        EXPECT_CALL("States.ArrayRange(5, 1, -2)", "{}", "[5,3,1]");
        EXPECT_CALL("States.ArrayRange(5, 1, 1)", "{}", "[]");
        EXPECT_CALL("States.ArrayRange(1, 5, -1)", "{}", "[]");
        EXPECT_CALL("States.ArrayRange($.s, $.e, $.st)", "{\"s\":-2,\"e\":2,\"st\":2}", "[-2,0,2]");
        EXPECT_CALL("States.ArrayRange(1.4, 2.6, 1)", "{}", "[1,2,3]"); /* rounded */
        json_t *r = NULL;
        AslError e = {};
        ASSERT_INT_EQ(eval_env("States.ArrayRange(0, 999, 1)", "{}", NULL, &test_env, &r, &e), 0);
        ASSERT_INT_EQ(json_array_size(r), 1000);
        json_decref(r);
        EXPECT_FAIL("States.ArrayRange(0, 1000, 1)", "{}", "1001 items, at most 1000");
        EXPECT_FAIL("States.ArrayRange(-2147483648, 2147483647, 1)", "{}", "at most 1000");
        EXPECT_FAIL("States.ArrayRange(1, 9, 0)", "{}", "step must not be 0");
        EXPECT_FAIL("States.ArrayRange('1', 9, 1)", "{}", "argument 1 must be an integer, got a string");
        EXPECT_FAIL("States.ArrayRange(1, null, 1)", "{}", "argument 2 must be an integer, got null");
}

TEST(array_get_item_and_length) {
        /* AWS documentation examples. */
        EXPECT_CALL("States.ArrayGetItem($.inputArray, $.index)",
                    "{\"inputArray\":[1,2,3,4,5,6,7,8,9],\"index\":5}", "6");
        EXPECT_CALL("States.ArrayLength($.inputArray)", "{\"inputArray\":[1,2,3,4,5,6,7,8,9]}", "9");
        EXPECT_CALL("States.ArrayLength($.a)", "{\"a\":[]}", "0");
        EXPECT_CALL("States.ArrayGetItem($.a, 0)", "{\"a\":[{\"k\":1}]}", "{\"k\":1}");
        EXPECT_FAIL("States.ArrayGetItem($.a, 1)", "{\"a\":[1]}", "index 1 is out of bounds for an array of length 1");
        EXPECT_FAIL("States.ArrayGetItem($.a, -1)", "{\"a\":[1]}", "out of bounds");
        EXPECT_FAIL("States.ArrayGetItem($.a, true)", "{\"a\":[1]}", "must be an integer, got a boolean");
        EXPECT_FAIL("States.ArrayLength($.a)", "{\"a\":\"xyz\"}", "must be an array, got a string");
}

TEST(array_unique) {
        /* AWS documentation example. */
        EXPECT_CALL("States.ArrayUnique($.inputArray)", "{\"inputArray\":[1,2,3,3,3,3,3,3,4]}", "[1,2,3,4]");
        EXPECT_CALL("States.ArrayUnique($.a)", "{\"a\":[\"b\",\"a\",\"b\",null,null,true]}", "[\"b\",\"a\",null,true]");
        /* Objects are equal regardless of key order; the first one is kept. */
        EXPECT_CALL("States.ArrayUnique($.a)", "{\"a\":[{\"x\":1,\"y\":2},{\"y\":2,\"x\":1},[1],[1]]}",
                    "[{\"x\":1,\"y\":2},[1]]");
        EXPECT_CALL("States.ArrayUnique($.a)", "{\"a\":[]}", "[]");
        EXPECT_FAIL("States.ArrayUnique(1)", "{}", "must be an array");
}

TEST(base64) {
        /* AWS documentation examples. */
        EXPECT_CALL("States.Base64Encode($.input)", "{\"input\":\"Data to encode\"}", "\"RGF0YSB0byBlbmNvZGU=\"");
        EXPECT_CALL("States.Base64Decode($.base64)", "{\"base64\":\"RGVjb2RlZCBkYXRh\"}", "\"Decoded data\"");
        EXPECT_CALL("States.Base64Encode('')", "{}", "\"\"");
        EXPECT_CALL("States.Base64Encode('f')", "{}", "\"Zg==\"");
        EXPECT_CALL("States.Base64Encode('fo')", "{}", "\"Zm8=\"");
        EXPECT_CALL("States.Base64Encode('foo')", "{}", "\"Zm9v\"");
        EXPECT_CALL("States.Base64Encode('\xc3\xa9')", "{}", "\"w6k=\"");
        EXPECT_CALL("States.Base64Decode('Zg==')", "{}", "\"f\"");
        EXPECT_CALL("States.Base64Decode('Zm8=')", "{}", "\"fo\"");
        EXPECT_CALL("States.Base64Decode('Zm8')", "{}", "\"fo\""); /* padding optional */
        EXPECT_CALL("States.Base64Decode('')", "{}", "\"\"");
        EXPECT_CALL("States.Base64Decode(States.Base64Encode('round trip +/?'))", "{}", "\"round trip +/?\"");
        EXPECT_FAIL("States.Base64Decode('Zm9!')", "{}", "bad character");
        EXPECT_FAIL("States.Base64Decode('Z')", "{}", "bad length");
        EXPECT_FAIL("States.Base64Decode('Zm=v')", "{}", "bad character");
        EXPECT_FAIL("States.Base64Decode('Zm9===')", "{}", "bad");
        EXPECT_FAIL("States.Base64Decode('/w==')", "{}", "not valid UTF-8");
        EXPECT_FAIL("States.Base64Encode(1)", "{}", "must be a string, got a number");

        /* 10,000 characters is the limit (characters, not bytes). */
        char *in = malloc(12000 * 2 + 64);
        strcpy(in, "{\"s\":\"");
        size_t k = strlen(in);
        for (int i = 0; i < 10000; i++) {
                memcpy(in + k, "\xc3\xa9", 2);
                k += 2;
        }
        strcpy(in + k, "\"}");
        json_t *r = NULL;
        AslError e = {};
        ASSERT_INT_EQ(eval_env("States.Base64Encode($.s)", in, NULL, &test_env, &r, &e), 0);
        json_decref(r);
        strcpy(in + k, "x\"}");
        EXPECT_FAIL("States.Base64Encode($.s)", in, "longer than 10000 characters");
        EXPECT_FAIL("States.Base64Decode($.s)", in, "longer than 10000 characters");
        free(in);
}

TEST(hash) {
        static const char *const algs[] = { "MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512" };
        static const char *const input_data_digests[] = {
                "812f45842bc6d66ee14572ce20db8e86",
                "aaff4a450a104cd177d28d18d74485e8cae074b7",
                "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
                "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562",
                "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4",
        };

        /* AWS documentation example. */
        EXPECT_CALL("States.Hash($.Data, $.Algorithm)", "{\"Data\":\"input data\",\"Algorithm\":\"SHA-1\"}",
                    "\"aaff4a450a104cd177d28d18d74485e8cae074b7\"");
        /* Each name picks its algorithm (the digests themselves: test-hash). */
        for (size_t a = 0; a < ELEMENTSOF(algs); a++) {
                json_t *in = json_pack("{s:s, s:s}", "d", "input data", "a", algs[a]), *r = NULL;
                AslError e = {};
                ASSERT_INT_EQ(intrinsic_eval("States.Hash($.d, $.a)", in, NULL, &test_env, &r, &e), 0);
                ASSERT_STR_EQ(json_string_value(r), input_data_digests[a]);
                json_decref(r);
                json_decref(in);
        }
        EXPECT_FAIL("States.Hash('x', $.a)", "{\"a\":\"sha-1\"}", "unknown algorithm 'sha-1'");
        EXPECT_FAIL("States.Hash('x', $.a)", "{\"a\":\"CRC32\"}", "unknown algorithm");
        EXPECT_FAIL("States.Hash($.d, 'MD5')", "{\"d\":{}}", "argument 1 must be a string");
        EXPECT_FAIL("States.Hash('x', 1)", "{}", "argument 2 must be a string");
        char *in = malloc(10100);
        strcpy(in, "{\"s\":\"");
        size_t k = strlen(in);
        memset(in + k, 'q', 10001);
        strcpy(in + k + 10001, "\"}");
        EXPECT_FAIL("States.Hash($.s, 'MD5')", in, "longer than 10000 characters");
        free(in);
}

TEST(json_merge) {
        /* AWS documentation example (shallow merge). */
        EXPECT_CALL("States.JsonMerge($.json1, $.json2, false)",
                    "{\"json1\":{\"a\":{\"a1\":1,\"a2\":2},\"b\":2},\"json2\":{\"a\":{\"a3\":1,\"a4\":2},\"c\":3}}",
                    "{\"a\":{\"a3\":1,\"a4\":2},\"b\":2,\"c\":3}");
        EXPECT_CALL("States.JsonMerge($.x, $.y, $.f)", "{\"x\":{},\"y\":{\"k\":1},\"f\":false}", "{\"k\":1}");
        EXPECT_FAIL("States.JsonMerge($.x, $.y, $.f)", "{\"x\":{},\"y\":{},\"f\":true}", "deep merge is not supported");
        EXPECT_FAIL("States.JsonMerge($.x, $.y, $.f)", "{\"x\":{},\"y\":{},\"f\":0}", "argument 3 must be a boolean");
        EXPECT_FAIL("States.JsonMerge($.x, $.y, false)", "{\"x\":[],\"y\":{}}", "argument 1 must be an object, got an array");
        EXPECT_FAIL("States.JsonMerge($.x, $.y, false)", "{\"x\":{},\"y\":\"s\"}", "argument 2 must be an object");

        /* The inputs are not modified. */
        json_t *in = load("{\"x\":{\"a\":1},\"y\":{\"a\":2}}"), *r = NULL;
        AslError e = {};
        ASSERT_INT_EQ(intrinsic_eval("States.JsonMerge($.x, $.y, false)", in, NULL, &test_env, &r, &e), 0);
        ASSERT_JSON_EQ(r, "{\"a\":2}");
        ASSERT_JSON_EQ(in, "{\"x\":{\"a\":1},\"y\":{\"a\":2}}");
        json_decref(r);
        json_decref(in);
}

TEST(math_random) {
        json_t *r1 = NULL, *r2 = NULL;
        AslError e = {};

        /* With a seed: deterministic, within [start, end). */
        ASSERT_INT_EQ(eval_env("States.MathRandom(1, 999, 1234)", "{}", NULL, &test_env, &r1, &e), 0);
        ASSERT_INT_EQ(eval_env("States.MathRandom($.s, $.e, $.seed)", "{\"s\":1,\"e\":999,\"seed\":1234}", NULL,
                               &test_env, &r2, &e), 0);
        ASSERT_TRUE(json_is_integer(r1));
        ASSERT_TRUE(json_equal(r1, r2));
        ASSERT_TRUE(json_integer_value(r1) >= 1 && json_integer_value(r1) < 999);
        json_decref(r1);
        json_decref(r2);
        /* Different seeds spread out. */
        bool differ = false;
        for (int s = 0; s < 10 && !differ; s++) {
                char expr[64];
                snprintf(expr, sizeof expr, "States.MathRandom(0, 1000000, %d)", s);
                r1 = NULL;
                ASSERT_INT_EQ(eval_env(expr, "{}", NULL, &test_env, &r1, &e), 0);
                differ = json_integer_value(r1) != 0 && json_integer_value(r1) != 1;
                json_decref(r1);
        }
        ASSERT_TRUE(differ);

        /* Without a seed: from env->random; every value in range, both ends seen. */
        bool seen[3] = {};
        for (int i = 0; i < 200; i++) {
                r1 = NULL;
                ASSERT_INT_EQ(eval_env("States.MathRandom(-1, 2)", "{}", NULL, &test_env, &r1, &e), 0);
                json_int_t v = json_integer_value(r1);
                ASSERT_TRUE(v >= -1 && v < 2);
                seen[v + 1] = true;
                json_decref(r1);
        }
        ASSERT_TRUE(seen[0] && seen[1] && seen[2]);

        EXPECT_FAIL("States.MathRandom(5, 5)", "{}", "must be greater than the start");
        EXPECT_FAIL("States.MathRandom(5, 1)", "{}", "must be greater than the start");
        EXPECT_FAIL("States.MathRandom('a', 1)", "{}", "argument 1 must be an integer");
        EXPECT_FAIL("States.MathRandom(1, 5, 'x')", "{}", "argument 3 must be an integer");
        EXPECT_FAIL_ENV("States.MathRandom(1, 5)", "{}", NULL, "no source of randomness");
        /* A seed needs no randomness source. */
        r1 = NULL;
        ASSERT_INT_EQ(eval_env("States.MathRandom(1, 5, 7)", "{}", NULL, NULL, &r1, &e), 0);
        json_decref(r1);
}

TEST(math_add) {
        /* AWS documentation example. */
        EXPECT_CALL("States.MathAdd($.value1, $.step)", "{\"value1\":111,\"step\":-1}", "110");
        EXPECT_CALL("States.MathAdd(2147483647, 2147483647)", "{}", "4294967294");
        /* Non-integers are rounded as Java's Math.round: halves up. */
        EXPECT_CALL("States.MathAdd(1.6, 1)", "{}", "3");
        EXPECT_CALL("States.MathAdd(-1.49, -1.5)", "{}", "-2");
        EXPECT_CALL("States.MathAdd(-0.5, 0.5)", "{}", "1");
        EXPECT_CALL("States.MathAdd(-2.5, 0)", "{}", "-2");
        EXPECT_CALL("States.MathAdd(-1.5, 0)", "{}", "-1");
        EXPECT_CALL("States.MathAdd($.a, $.b)", "{\"a\":1.49,\"b\":1.5}", "3");
        EXPECT_CALL("States.MathAdd($.a, $.b)", "{\"a\":1.5,\"b\":1.51}", "4");
        EXPECT_CALL("States.MathAdd(0.49999999999999994, 0)", "{}", "0");
        EXPECT_FAIL("States.MathAdd(2147483648, 1)", "{}", "between -2147483648 and 2147483647");
        EXPECT_FAIL("States.MathAdd(1, '1')", "{}", "argument 2 must be an integer, got a string");
        EXPECT_FAIL("States.MathAdd($.a, 1)", "{\"a\":[1]}", "argument 1 must be an integer, got an array");
}

TEST(string_split) {
        /* AWS documentation examples. */
        EXPECT_CALL("States.StringSplit($.inputString, $.splitter)", "{\"inputString\":\"1,2,3,4,5\",\"splitter\":\",\"}",
                    "[\"1\",\"2\",\"3\",\"4\",\"5\"]");
        EXPECT_CALL("States.StringSplit($.inputString, $.splitter)",
                    "{\"inputString\":\"This.is+a,test=string\",\"splitter\":\".+,=\"}",
                    "[\"This\",\"is\",\"a\",\"test\",\"string\"]");
        EXPECT_CALL("States.StringSplit('1,2,3,4,5', ',')", "{}", "[\"1\",\"2\",\"3\",\"4\",\"5\"]");
        EXPECT_CALL("States.StringSplit(',,a,,b,', ',')", "{}", "[\"a\",\"b\"]");
        EXPECT_CALL("States.StringSplit('abc', ',')", "{}", "[\"abc\"]");
        EXPECT_CALL("States.StringSplit('', ',')", "{}", "[]");
        EXPECT_CALL("States.StringSplit('a\xe2\x98\x83" "b\xc3\xa9" "c', '\xe2\x98\x83')", "{}",
                    "[\"a\",\"b\xc3\xa9" "c\"]");
        EXPECT_CALL("States.StringSplit('a\\'b', '\\'')", "{}", "[\"a\",\"b\"]");
        EXPECT_FAIL("States.StringSplit('abc', '')", "{}", "delimiter must not be empty");
        EXPECT_FAIL("States.StringSplit(1, ',')", "{}", "argument 1 must be a string");
        EXPECT_FAIL("States.StringSplit('a', 1)", "{}", "argument 2 must be a string");
}

static bool is_uuid_v4(const char *s) {
        if (!s || strlen(s) != 36)
                return false;
        for (int i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!isxdigit((unsigned char) s[i]) || isupper((unsigned char) s[i]))
                        return false;
        }
        return s[14] == '4' && strchr("89ab", s[19]);
}

TEST(uuid) {
        json_t *a = NULL, *b = NULL;
        AslError e = {};

        ASSERT_INT_EQ(eval_env("States.UUID()", "{}", NULL, &test_env, &a, &e), 0);
        ASSERT_INT_EQ(eval_env("States.UUID()", "{}", NULL, &test_env, &b, &e), 0);
        ASSERT_TRUE(is_uuid_v4(json_string_value(a)));
        ASSERT_TRUE(is_uuid_v4(json_string_value(b)));
        ASSERT_FALSE(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        /* Deterministic given the randomness source. */
        uint64_t s1 = 7, s2 = 7;
        AslEnv e1 = { .random = fake_random, .random_userdata = &s1 };
        AslEnv e2 = { .random = fake_random, .random_userdata = &s2 };
        a = b = NULL;
        ASSERT_INT_EQ(intrinsic_eval("States.UUID()", NULL, NULL, &e1, &a, &e), 0);
        ASSERT_INT_EQ(intrinsic_eval("States.UUID()", NULL, NULL, &e2, &b, &e), 0);
        ASSERT_TRUE(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        EXPECT_FAIL_ENV("States.UUID()", "{}", NULL, "no source of randomness");
}

TEST(nested_calls) {
        /* AWS documentation: nine nested intrinsics (with a matching format string). */
        EXPECT_CALL("States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem("
                    "States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem("
                    "States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), "
                    "'.'), 1))",
                    "{\"ImageRecipe\":{\"Arn\":\"arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/test-recipe/1.0.0\"}}",
                    "\"1.0\"");
        EXPECT_CALL("States.ArrayLength(States.ArrayUnique(States.Array(1, 1, 2)))", "{}", "2");
        EXPECT_CALL("States.MathAdd(States.ArrayLength($.a), States.ArrayGetItem($.a, 0))", "{\"a\":[10,20]}", "12");
}

TEST(size_limits) {
        /* Every value produced is at most the payload limit: nested doubling fails early. */
        AslEnv small = { .random = fake_random, .random_userdata = &rnd_state, .max_payload_bytes = 100 };
        char *expr = xstrdup("'0123456789'");
        for (int i = 0; i < 6; i++) {
                char *n = xasprintf("States.Format('{}{}', %s, %s)", expr, expr);
                free(expr);
                expr = n;
        }
        EXPECT_FAIL_ENV(expr, "{}", &small, "result is longer than 100 bytes");
        free(expr);
        EXPECT_FAIL_ENV("States.JsonToString(States.JsonToString($))",
                        "{\"a\":\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\\\"\"}",
                        &small, "States.JsonToString: result is longer than 100 bytes");
        EXPECT_FAIL_ENV("States.Array($.a, $.a)", "{\"a\":\"0123456789012345678901234567890123456789012345678\"}",
                        &small, "larger than 100 bytes");
        EXPECT_FAIL_ENV("States.Array($)", "{\"a\":\"0123456789012345678901234567890123456789012345678"
                        "01234567890123456789012345678901234567890123456789\"}", &small,
                        "The value of JSONPath '$' is larger than 100 bytes");
        char arr[2048] = "";
        for (int i = 0; i < 12; i++)
                strcat(arr, "States.Array(");
        strcat(arr, "$");
        for (int i = 0; i < 12; i++)
                strcat(arr, ", $)");
        EXPECT_FAIL_ENV(arr, "{\"k\":\"v\"}", &small, "larger than 100 bytes");
}

/* Regression cases found by fuzzing are collected here. */
TEST(fuzz_regressions) {
        static const char *const exprs[] = {
                "States.Array($[?((((",
                "States.Array($[?(@.a == ')'])",
                "States.Array($['a\\",
                "States.Array($[",
                "States.Format('\\",
                "States.Format('{\\}', 1)",
                "States.Array(-",
                "States.Array(1e+)",
                "States.Array(States.",
                "States.Array(States.Array(",
        };
        for (size_t i = 0; i < ELEMENTSOF(exprs); i++) {
                json_t *in = load("{\"a\":[1,2]}"), *r = NULL;
                AslError e = {};
                char *m = NULL;
                (void) intrinsic_check(exprs[i], &m);
                free(m);
                if (intrinsic_eval(exprs[i], in, &(AslRefs){.context = in}, &test_env, &r, &e) == 0)
                        json_decref(r);
                asl_error_clear(&e);
                json_decref(in);
        }
}

/* Workflow variables as arguments: "$name" and paths into them. */
TEST(variables) {
        json_t *in = load("{\"a\":1}"), *vars = load("{\"x\":{\"k\":[5,6]},\"s\":\"str\"}"), *r = NULL;
        AslRefs refs = {.vars = vars};
        AslError e = {};

        ASSERT_INT_EQ(intrinsic_eval("States.Array($x, $x.k[1], $s, $.a)", in, &refs, &test_env, &r, &e), 0);
        ASSERT_JSON_EQ(r, "[{\"k\":[5,6]},6,\"str\",1]");
        json_decref(r);
        ASSERT_INT_EQ(intrinsic_eval("States.Format('{}-{}', $s, $x.k[0])", in, &refs, &test_env, &r, &e),
                      0);
        ASSERT_JSON_EQ(r, "\"str-5\"");
        json_decref(r);
        /* a variable that is not defined, or a path into it that does not resolve: States.Runtime */
        ASSERT_INT_EQ(intrinsic_eval("States.Array($nope)", in, &refs, &test_env, &r, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        ASSERT_STR_EQ(e.cause,
                      "The function 'States.Array($nope)' had the following error: The JsonPath argument "
                      "for the field '$nope' could not be found in the input '{\"a\":1}'");
        asl_error_clear(&e);
        ASSERT_INT_EQ(intrinsic_eval("States.Array($x.nope)", in, NULL, &test_env, &r, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        asl_error_clear(&e);
        json_decref(vars);
        json_decref(in);
}
