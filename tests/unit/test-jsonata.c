/* SPDX-License-Identifier: MIT */
/*
 * JSONata: every operator and every function of the standard library and of
 * the AWS table, errors with their codes, the limits, and the API (compile
 * once, evaluate many times; variables; time and randomness from the
 * environment). The cases are a table; a meta-test checks that each
 * function of both libraries appears in at least one case.
 */

#include "test.h"
#include "jsonata-aws.h"
#include "jsonata-internal.h"

static void fake_random(void *userdata, void *buf, size_t n) {
        uint64_t *state = userdata;
        uint8_t *b = buf;
        for (size_t i = 0; i < n; i++) {
                *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
                b[i] = (uint8_t) (*state >> 56);
        }
}

typedef struct Case {
        const char *expr;
        const char *input;  /* JSON text or NULL */
        const char *result; /* JSON text, NULL for undefined */
        const char *code;   /* expected error code instead */
} Case;

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define OK(e, in, out)                                                                                      \
        { e, in, out, NULL }
#define ERR(e, in, c)                                                                                       \
        { e, in, NULL, c }

static const char *const data = "{\"Account\":{\"Name\":\"Firefly\",\"Order\":["
                                "{\"id\":\"o1\",\"Product\":[{\"n\":\"Hat\",\"p\":34.45,\"q\":2},{\"n\":"
                                "\"Tie\",\"p\":21.67,\"q\":1}]},"
                                "{\"id\":\"o2\",\"Product\":[{\"n\":\"Hat\",\"p\":34.45,\"q\":4},{\"n\":"
                                "\"Cap\",\"p\":107.99,\"q\":1}]}]}}";

static const Case cases[] = {
        /* literals, paths, sequences and flattening */
        OK("42", NULL, "42"),
        OK("-1.5e2", NULL, "-150"),
        OK("\"a\\u00e9\\n\"", NULL, "\"a\\u00e9\\n\""),
        OK("true and null = null", NULL, "true"),
        OK("Account.Name", "DATA", "\"Firefly\""),
        OK("Account.Order.id", "DATA", "[\"o1\",\"o2\"]"),
        OK("Account.Order.Product.n", "DATA", "[\"Hat\",\"Tie\",\"Hat\",\"Cap\"]"),
        OK("Account.Order[0].Product[1].n", "DATA", "\"Tie\""),
        OK("Account.Order.Product[0].n", "DATA", "[\"Hat\",\"Hat\"]"),
        OK("(Account.Order.Product)[0].n", "DATA", "\"Hat\""),
        OK("Account.Order.Product[p > 50].n", "DATA", "\"Cap\""),
        OK("Account.Order.Product[-1].n", "DATA", "[\"Tie\",\"Cap\"]"),
        OK("Account.Order[id='o2'].Product.n[]", "DATA", "[\"Hat\",\"Cap\"]"),
        OK("Account.`Name`", "DATA", "\"Firefly\""),
        OK("Account.Missing", "DATA", NULL),
        OK("$.a", "{\"a\":[1,[2,3]]}", "[1,[2,3]]"),
        OK("a.b", "{\"a\":[{\"b\":[1]},{\"b\":[2,3]}]}", "[1,2,3]"),
        OK("[1,2,3][1]", NULL, "2"),
        OK("[[1,2],[3]].$", NULL, "[1,2,3]"),
        OK("[[1,2],[3]]", NULL, "[[1,2],[3]]"),
        OK("Account.*", "{\"Account\":{\"a\":1,\"b\":[2,3]}}", "[1,2,3]"),
        OK("a.* / 2", "{\"a\":{\"b\":4}}", "2"),
        OK("**.q", "DATA", "[2,1,4,1]"),
        OK("$$.Account.Name", "DATA", "\"Firefly\""),
        /* arithmetic, comparison, boolean, string, range, membership */
        OK("1 + 2 * 3 - 4 / 2", NULL, "5"),
        OK("7 % 3", NULL, "1"),
        OK("-(3)", NULL, "-3"),
        OK("2 < 3 and 3 <= 3 and 4 > 3 and 4 >= 4", NULL, "true"),
        OK("'a' < 'b'", NULL, "true"),
        OK("1 = 1 and 1 != 2", NULL, "true"),
        OK("[1,{\"a\":2}] = [1,{\"a\":2}]", NULL, "true"),
        OK("false or true", NULL, "true"),
        OK("'a' & 1 & true & null & [1]", NULL, "\"a1truenull[1]\""),
        OK("[1..4]", NULL, "[1,2,3,4]"),
        OK("[1, 3..4]", NULL, "[1,3,4]"),
        OK("3 in [1,2,3]", NULL, "true"),
        OK("'x' in 'x'", NULL, "true"),
        OK("nothing + 1", NULL, NULL),
        OK("0.1 + 0.2", NULL, "0.30000000000000004"),
        ERR("'s' - 1", NULL, "T2001"),
        ERR("1 - 's'", NULL, "T2002"),
        ERR("1 < 'a'", NULL, "T2009"),
        ERR("{} < 1", NULL, "T2010"),
        ERR("[1.5..2]", NULL, "T2003"),
        ERR("[1..'x']", NULL, "T2004"),
        ERR("-'a'", NULL, "D1002"),
        ERR("[1..20000000]", NULL, "D2014"),
        /* conditionals, default and coalescing */
        OK("1 > 2 ? 'a' : 'b'", NULL, "\"b\""),
        OK("false ? 1", NULL, NULL),
        OK("x ?: 'd'", "{\"x\":0}", "\"d\""),
        OK("x ?? 'd'", "{\"x\":0}", "0"),
        OK("y ?? 'd'", "{\"x\":0}", "\"d\""),
        OK("-2 ?? a.b^(>c).d", NULL, "-2"),
        OK("0 ?: a.b^(>c).d", "{\"a\":{\"b\":[{\"c\":1,\"d\":5}]}}", "5"),
        /* blocks, variables, lambdas, closures, partial application, chaining */
        OK("($a := 2; $b := 3; $a * $b)", NULL, "6"),
        OK("($f := function($x){ $x * 2 }; $f(4))", NULL, "8"),
        OK("($f := λ($x){ $x + 1 }; $f(1))", NULL, "2"),
        OK("($add := function($x){ function($y){ $x + $y } }; $add(2)(3))", NULL, "5"),
        OK("($f := function($a, $b){ $a - $b }; $g := $f(?, 1); $g(10))", NULL, "9"),
        OK("($s := $substring(?, 0, 2); $s('hello'))", NULL, "\"he\""),
        OK("'hello' ~> $uppercase()", NULL, "\"HELLO\""),
        OK("($f := $uppercase ~> $trim; $f(' ab '))", NULL, "\"AB\""),
        OK("[1,2] ~> $map(function($v){ $v * 10 })", NULL, "[10,20]"),
        OK("(function($n){ $n < 2 ? $n : 0 })(1)", NULL, "1"),
        OK("($fact := function($n, $acc){ $n <= 1 ? $acc : $fact($n - 1, $n * $acc) }; $fact(170, 1) > "
           "1e300)",
           NULL, "true"),
        OK("function($x)<n:n>{ $x + 1 }(2)", NULL, "3"),
        ERR("function($x)<n:n>{ $x }('a')", NULL, "T0410"),
        ERR("($x := 1; $x())", NULL, "T1006"),
        ERR("foo := 1", NULL, "S0212"),
        ERR("1 ~> 2", NULL, "T2006"),
        ERR("$x(?)", NULL, "T1008"),
        /* focus, index and parent binding, order-by, grouping */
        OK("Account.Order@$o.$o.Product[p > 100].{'o': $o.id, 'n': n}", "DATA",
           "{\"o\":\"o2\",\"n\":\"Cap\"}"),
        OK("Account.Order.Product#$i[$i = 1].n", "DATA", "[\"Tie\",\"Cap\"]"),
        OK("Account.Order.Product.{'n': n, 'order': %.id}", "DATA",
           "[{\"n\":\"Hat\",\"order\":\"o1\"},{\"n\":\"Tie\",\"order\":\"o1\"},{\"n\":\"Hat\",\"order\":"
           "\"o2\"},"
           "{\"n\":\"Cap\",\"order\":\"o2\"}]"),
        OK("Account.Order.Product^(>p, n).n", "DATA", "[\"Cap\",\"Hat\",\"Hat\",\"Tie\"]"),
        OK("Account.Order.Product{n: $sum(q)}", "DATA", "{\"Hat\":6,\"Tie\":1,\"Cap\":1}"),
        OK("{'a': 1, 'b': [1,2]}", NULL, "{\"a\":1,\"b\":[1,2]}"),
        ERR("{1: 2}", NULL, "T1003"),
        ERR("{'a': 1, 'a': 2}", NULL, "D1009"),
        ERR("%.a", NULL, "S0217"),
        /* transform */
        OK("$ ~> |Product|{'total': p * q}, ['p']|", "{\"Product\":{\"p\":2,\"q\":3}}",
           "{\"Product\":{\"q\":3,\"total\":6}}"),
        ERR("$ ~> |a|5|", "{\"a\":{}}", "T2011"),
        ERR("$ ~> |a|{}, 5|", "{\"a\":{}}", "T2012"),
        /* regular expressions */
        OK("$match('ababbabbb', /a(b+)/).groups", NULL, "[\"b\",\"bb\",\"bbb\"]"),
        OK("$contains('Hello', /l+/)", NULL, "true"),
        OK("$replace('John Smith', /(\\w+)\\s(\\w+)/, '$2, $1')", NULL, "\"Smith, John\""),
        OK("$split('a1b22c', /[0-9]+/)", NULL, "[\"a\",\"b\",\"c\"]"),
        OK("'ABC' ~> $contains(/b/i)", NULL, "true"),
        OK("$replace('abc', /b/, function($m){ $uppercase($m.match) })", NULL, "\"aBc\""),
        ERR("$replace('abc', /x*/, '-')", NULL, "D1004"),
        ERR("//", NULL, "S0301"),
        /* strings */
        OK("$string(1/3)", NULL, "\"0.333333333333333\""),
        OK("$string({'a':[1,true]}, true)", NULL, "\"{\\n  \\\"a\\\": [\\n    1,\\n    true\\n  ]\\n}\""),
        OK("$length('héllo')", NULL, "5"),
        OK("$substring('hello', -3, 2)", NULL, "\"ll\""),
        OK("$substringBefore('a-b', '-') & $substringAfter('a-b', '-')", NULL, "\"ab\""),
        OK("$uppercase('aé') & $lowercase('AÉ')", NULL, "\"AÉaé\""),
        OK("$trim('  a \\n b  ')", NULL, "\"a b\""),
        OK("$pad('x', 3, '#') & $pad('x', -3)", NULL, "\"x##  x\""),
        OK("$join(['a','b'], ',')", NULL, "\"a,b\""),
        OK("$split('a,b,c', ',', 2)", NULL, "[\"a\",\"b\"]"),
        OK("$replace('aaa', 'a', 'b', 2)", NULL, "\"bba\""),
        OK("$contains('abc', 'bc')", NULL, "true"),
        OK("$base64encode('héllo') ~> $base64decode()", NULL, "\"héllo\""),
        OK("$encodeUrlComponent('a b&c') & ' ' & $encodeUrl('http://x/a b?q=1')", NULL,
           "\"a%20b%26c http://x/a%20b?q=1\""),
        OK("$decodeUrlComponent('a%20b%26') & $decodeUrl('%20%26')", NULL, "\"a b& %26\""),
        ERR("$decodeUrl('%E0%A4%A')", NULL, "D3140"),
        ERR("$string(1/0)", NULL, "D3001"),
        /* numbers */
        OK("$number('0x1F') + $number('1e2') + $number(true)", NULL, "132"),
        OK("[$floor(1.5), $ceil(1.2), $abs(-2), $sqrt(9), $power(2, 10)]", NULL, "[1,2,2,3,1024]"),
        OK("[$round(2.5), $round(3.5), $round(1.255, 2), $round(1250, -2)]", NULL, "[2,4,1.26,1200]"),
        OK("[$round(1, 2.5)]", NULL, "[null]"),
        ERR("$power(2, nothing)", NULL, "D3061"),
        OK("$formatNumber(1234.5678, '#,##0.00')", NULL, "\"1,234.57\""),
        OK("$formatNumber(0.25, '#%')", NULL, "\"25%\""),
        OK("$formatNumber(12345, '0.0e0')", NULL, "\"1.2e4\""),
        OK("$formatBase(255, 16) & ' ' & $formatBase(-5, 2)", NULL, "\"ff -101\""),
        OK("$formatInteger(1234, '#,##0') & ' ' & $formatInteger(12, 'w') & ' ' & $formatInteger(14, 'I')",
           NULL, "\"1,234 twelve XIV\""),
        OK("$formatInteger(3, '1;o') & $formatInteger(28, 'a')", NULL, "\"3rdab\""),
        OK("$formatInteger(3, '#,##0.00')", NULL, "\",.03\""),
        OK("[$parseInteger('1,234', '#,##0'), $parseInteger('twelve', 'w'), $parseInteger('XIV', 'I')]",
           NULL, "[1234,12,14]"),
        OK("$random() >= 0", NULL, "true"),
        ERR("$number('abc')", NULL, "D3030"),
        ERR("$sqrt(-1)", NULL, "D3060"),
        ERR("$power(10, 400)", NULL, "D3061"),
        ERR("$formatBase(1, 99)", NULL, "D3100"),
        ERR("$formatNumber(1, '#.#.#')", NULL, "D3081"),
        ERR("$formatInteger(1, '#')", NULL, "D3130"),
        /* aggregation */
        OK("[$sum([1,2,3]), $count([1,2]), $max([1,5]), $min([4,2]), $average([1,2,3])]", NULL,
           "[6,2,5,2,2]"),
        OK("$count(nothing)", NULL, "0"),
        ERR("$sum(['a'])", NULL, "T0412"),
        /* boolean */
        OK("[$boolean(''), $boolean('a'), $boolean([]), $boolean({'a':1}), $not(0), $exists(x)]",
           "{\"x\":null}", "[false,true,false,true,true,true]"),
        /* arrays */
        OK("$append([1,2], 3)", NULL, "[1,2,3]"),
        OK("$reverse([1,2,3])", NULL, "[3,2,1]"),
        OK("$sort([3,1,2])", NULL, "[1,2,3]"),
        OK("$sort(['b','a'], function($a, $b){ $a < $b })", NULL, "[\"b\",\"a\"]"),
        OK("$count($shuffle([1,2,3,4]))", NULL, "4"),
        OK("$distinct([1,1,{'a':1},{'a':1}])", NULL, "[1,{\"a\":1}]"),
        OK("$zip([1,2,3], ['a','b'])", NULL, "[[1,\"a\"],[2,\"b\"]]"),
        ERR("$sort([1,'a'])", NULL, "D3070"),
        /* objects */
        OK("$keys({'a':1,'b':2})", NULL, "[\"a\",\"b\"]"),
        OK("$lookup({'a':1}, 'a')", NULL, "1"),
        OK("$spread({'a':1,'b':2})", NULL, "[{\"a\":1},{\"b\":2}]"),
        OK("$merge([{'a':1},{'b':2},{'a':3}])", NULL, "{\"a\":3,\"b\":2}"),
        OK("$each({'a':1,'b':2}, function($v, $k){ $k & $v })", NULL, "[\"a1\",\"b2\"]"),
        OK("$sift({'a':1,'b':2}, function($v){ $v > 1 })", NULL, "{\"b\":2}"),
        OK("[$type(1), $type('a'), $type(null), $type([]), $type({}), $type(true), $type($type)]", NULL,
           "[\"number\",\"string\",\"null\",\"array\",\"object\",\"boolean\",\"function\"]"),
        OK("($o := {'a':{'b':1}}; $c := $clone($o); $c = $o)", NULL, "true"),
        ERR("$error('boom')", NULL, "D3137"),
        ERR("$assert(1 = 2, 'nope')", NULL, "D3141"),
        OK("$assert(true)", NULL, NULL),
        /* higher order */
        OK("$map([1,2,3], function($v, $i){ $v * $i })", NULL, "[0,2,6]"),
        OK("$filter([1,2,3,4], function($v){ $v % 2 = 0 })", NULL, "[2,4]"),
        OK("$reduce([1,2,3,4], function($a, $b){ $a + $b }, 10)", NULL, "20"),
        OK("$single([1,2,3], function($v){ $v = 2 })", NULL, "2"),
        ERR("$single([1,2,3], function($v){ $v > 1 })", NULL, "D3138"),
        ERR("$single([1,2,3], function($v){ $v > 5 })", NULL, "D3139"),
        ERR("$reduce([1,2], function($a){ $a })", NULL, "D3050"),
        /* $eval */
        OK("$eval('1 + 2')", NULL, "3"),
        OK("$eval('a', {'a': 5})", NULL, "5"),
        ERR("$eval('1 +')", NULL, "D3120"),
        ERR("$eval('$error()')", NULL, "D3121"),
        /* date and time (the environment's clock is 1700000000000) */
        OK("$millis()", NULL, "1700000000000"),
        OK("$now()", NULL, "\"2023-11-14T22:13:20.000Z\""),
        OK("$now('[Y0001]-[M01]-[D01]', '+0100')", NULL, "\"2023-11-14\""),
        OK("$fromMillis(0)", NULL, "\"1970-01-01T00:00:00.000Z\""),
        OK("$fromMillis(1521801216617, '[FNn], [D1o] [MNn] [Y] [h]:[m01] [P]')", NULL,
           "\"Friday, 23rd March 2018 10:33 am\""),
        OK("$fromMillis(1104537600000, '[X0001]-W[W01]-[F1]')", NULL, "\"2004-W53-6\""),
        OK("$toMillis('2018-03-23T10:33:36.617Z')", NULL, "1521801216617"),
        OK("$toMillis('23/03/2018', '[D]/[M]/[Y]')", NULL, "1521763200000"),
        ERR("$toMillis('yesterday')", NULL, "D3110"),
        ERR("$fromMillis(0, '[Q]')", NULL, "D3132"),
        ERR("$fromMillis(0, '[Y')", NULL, "D3135"),
        ERR("$fromMillis(0, '[fn]')", NULL, "D3133"),
        ERR("$fromMillis(1e300)", NULL, "D3001"),
        ERR("$fromMillis(0, '[Y]', '+99999999999999999999')", NULL, "D3001"),
        ERR("$formatInteger(4 % 0, 'w')", NULL, "D3001"),
        OK("$formatInteger(1, nothing) & $formatNumber(1, nothing) & $parseInteger('1', nothing)", NULL,
           "\"\""),
        /* syntax errors */
        ERR("(1", NULL, "S0203"),
        ERR("1 2", NULL, "S0201"),
        ERR("'abc", NULL, "S0101"),
        ERR("`abc", NULL, "S0105"),
        ERR("/* x", NULL, "S0106"),
        ERR("'\\q'", NULL, "S0103"),
        ERR("'\\u12'", NULL, "S0104"),
        ERR("1e999", NULL, "S0102"),
        ERR("[1,2", NULL, "S0203"),
        ERR("a.1", NULL, "S0213"),
        ERR("a@1", NULL, "S0214"),
        ERR("function(a){1}", NULL, "S0208"),
        OK("and", NULL, NULL),
        ERR(")", NULL, "S0211"),
        ERR("/abc", NULL, "S0302"),
        ERR("/a{2,1}/", NULL, "S0303"),
};

static uint64_t rnd_state = 7;
static const JsonataEnv env = {
        .now_ms = 1700000000000LL, .random = fake_random, .random_userdata = &rnd_state};

static int run(const char *expr, const char *input, const JsonataContext *ctx, json_t **ret,
               JsonataError *err) {
        JsonataExpr *e = NULL;
        json_t *in = NULL;
        int r;

        if (input)
                in = json_loads(strcmp(input, "DATA") == 0 ? data : input, JSON_DECODE_ANY, NULL);
        r = jsonata_compile(expr, SIZE_MAX, &e, err);
        if (r == 0)
                r = jsonata_evaluate(e, in, ctx, ret, err);
        jsonata_expr_free(e);
        json_decref(in);
        return r;
}

TEST(table) {
        for (size_t i = 0; i < ELEMENTS(cases); i++) {
                const Case *c = &cases[i];
                JsonataContext ctx = {.env = &env};
                JsonataError err = {.position = -1};
                json_t *r = NULL;
                int rc = run(c->expr, c->input, &ctx, &r, &err);
                if (c->code) {
                        if (rc >= 0)
                                TEST_FAIL_("%s: expected error %s, got a value", c->expr, c->code);
                        if (strcmp(err.code, c->code) != 0)
                                TEST_FAIL_("%s: expected %s, got %s (%s)", c->expr, c->code, err.code,
                                           err.message);
                        ASSERT_NOT_NULL(err.message);
                } else {
                        if (rc < 0)
                                TEST_FAIL_("%s: error %s %s", c->expr, err.code, err.message);
                        if (!c->result) {
                                if (r)
                                        TEST_FAIL_("%s: expected undefined", c->expr);
                        } else
                                ASSERT_JSON_EQ(r, c->result);
                }
                json_decref(r);
                jsonata_error_clear(&err);
        }
}

static bool mentioned(const char *name) {
        char pat[64];
        snprintf(pat, sizeof(pat), "$%s", name);
        for (size_t i = 0; i < ELEMENTS(cases); i++)
                if (strstr(cases[i].expr, pat))
                        return true;
        return false;
}

static const char *const aws_cases[][3] = {
        {"$partition([1,2,3,4,5], 2)", "[[1,2],[3,4],[5]]", NULL},
        {"$range(0, 10, 2)", "[0,2,4,6,8,10]", NULL},
        {"$range(5, 1, -2)", "[5,3,1]", NULL},
        {"$range(1, 3)", "[1,2,3]", NULL},
        {"$hash('input data', 'SHA-256')",
         "\"b56d2f4b7ba1e4da5b36a0b28f7da73b3df3ee1f2d40f7b1b3a6c6a5f6ef3c8e\"", "hash"},
        {"$hash('abc', 'MD5')", "\"900150983cd24fb0d6963f7d28e17f72\"", NULL},
        {"$random(42) = $random(42) and $random(42) != $random(43)", "true", NULL},
        {"$uuid() ~> $contains(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)",
         "true", NULL},
        {"$parse('{\"a\": [1, \"x\"]}')", "{\"a\":[1,\"x\"]}", NULL},
        {"$partition([1], 0)", NULL, "D3170"},
        {"$range(0, 5000)", NULL, "D3171"},
        {"$hash('a', 'SHA-3')", NULL, "D3172"},
        {"$random(1.5)", NULL, "D3173"},
        {"$parse('{')", NULL, "D3174"},
        {"$eval('1')", NULL, "D3175"},
};

TEST(aws_functions) {
        const JsonataLibrary *libs[] = {&jsonata_aws_library};
        JsonataContext ctx = {.env = &env, .libraries = libs, .n_libraries = 1};
        for (size_t i = 0; i < ELEMENTS(aws_cases); i++) {
                JsonataError err = {.position = -1};
                json_t *r = NULL;
                int rc = run(aws_cases[i][0], NULL, &ctx, &r, &err);
                if (aws_cases[i][1] == NULL) {
                        if (rc >= 0)
                                TEST_FAIL_("%s: expected %s", aws_cases[i][0], aws_cases[i][2]);
                        ASSERT_STR_EQ(err.code, aws_cases[i][2]);
                } else if (aws_cases[i][2] && strcmp(aws_cases[i][2], "hash") == 0) {
                        ASSERT_INT_EQ(rc, 0);
                        ASSERT_TRUE(json_is_string(r) && strlen(json_string_value(r)) == 64);
                } else {
                        if (rc < 0)
                                TEST_FAIL_("%s: %s %s", aws_cases[i][0], err.code, err.message);
                        ASSERT_JSON_EQ(r, aws_cases[i][1]);
                }
                json_decref(r);
                jsonata_error_clear(&err);
        }
        /* without the library, $partition is not a function */
        JsonataContext plain = {.env = &env};
        JsonataError err = {.position = -1};
        json_t *r = NULL;
        ASSERT_TRUE(run("$partition([1], 1)", NULL, &plain, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "T1006");
        jsonata_error_clear(&err);
}

TEST(every_function_has_a_case) {
        for (size_t i = 0; i < jn_std_library.n; i++)
                if (!mentioned(jn_std_library.functions[i].name))
                        TEST_FAIL_("no case for $%s", jn_std_library.functions[i].name);
        for (size_t i = 0; i < jsonata_aws_library.n; i++) {
                bool found = false;
                char pat[64];
                snprintf(pat, sizeof(pat), "$%s(", jsonata_aws_library.functions[i].name);
                for (size_t k = 0; k < ELEMENTS(aws_cases); k++)
                        found = found || strstr(aws_cases[k][0], pat);
                if (!found)
                        TEST_FAIL_("no case for AWS $%s", jsonata_aws_library.functions[i].name);
        }
}

TEST(compile_once_evaluate_many_with_variables) {
        JsonataExpr *e = NULL;
        JsonataError err = {.position = -1};
        ASSERT_INT_EQ(jsonata_compile("$states.input.n * $factor", SIZE_MAX, &e, &err), 0);
        for (int i = 0; i < 3; i++) {
                json_t *states = json_pack("{s:{s:i}}", "input", "n", i);
                json_t *factor = json_integer(10);
                JsonataVariable vars[] = {{"states", states}, {"factor", factor}};
                JsonataContext ctx = {.variables = vars, .n_variables = 2};
                json_t *r = NULL;
                ASSERT_INT_EQ(jsonata_evaluate(e, NULL, &ctx, &r, &err), 0);
                ASSERT_INT_EQ(json_integer_value(r), i * 10);
                json_decref(r);
                json_decref(states);
                json_decref(factor);
        }
        /* a variable hides a function of the same name */
        json_t *one = json_integer(1);
        JsonataVariable v = {"sum", one};
        JsonataContext ctx = {.variables = &v, .n_variables = 1};
        json_t *r = NULL;
        JsonataExpr *e2 = NULL;
        ASSERT_INT_EQ(jsonata_compile("$sum", SIZE_MAX, &e2, &err), 0);
        ASSERT_INT_EQ(jsonata_evaluate(e2, NULL, &ctx, &r, &err), 0);
        ASSERT_JSON_EQ(r, "1");
        json_decref(r);
        json_decref(one);
        jsonata_expr_free(e);
        jsonata_expr_free(e2);
}

TEST(session) {
        json_t *states = json_pack("{s:{s:[i,i,i]}}", "input", "a", 1, 2, 3);
        JsonataVariable vars[] = {{"states", states}};
        JsonataContext ctx = {.variables = vars, .n_variables = 1, .env = &env};
        JsonataSession *s = NULL;
        JsonataExpr *sum = NULL, *bind = NULL, *bad = NULL, *x = NULL, *keep = NULL;
        JsonataError err = {.position = -1};
        json_t *r = NULL;

        ASSERT_INT_EQ(jsonata_session_new(&ctx, &s), 0);
        ASSERT_INT_EQ(jsonata_compile("$sum($states.input.a)", SIZE_MAX, &sum, &err), 0);
        ASSERT_INT_EQ(jsonata_compile("$x := 5", SIZE_MAX, &bind, &err), 0);
        ASSERT_INT_EQ(jsonata_compile("$x", SIZE_MAX, &x, &err), 0);
        ASSERT_INT_EQ(jsonata_compile("$states.input.a[]", SIZE_MAX, &keep, &err), 0);
        ASSERT_INT_EQ(jsonata_compile("$states.input.a + 1", SIZE_MAX, &bad, &err), 0);
        for (int i = 0; i < 3; i++) {
                ASSERT_INT_EQ(jsonata_session_evaluate(s, sum, NULL, &r, &err), 0);
                ASSERT_JSON_EQ(r, "6");
                json_decref(r);
                r = NULL;
                /* a top-level binding stays in its evaluation */
                ASSERT_INT_EQ(jsonata_session_evaluate(s, bind, NULL, &r, &err), 0);
                json_decref(r);
                r = NULL;
                ASSERT_INT_EQ(jsonata_session_evaluate(s, x, NULL, &r, &err), 0);
                ASSERT_NULL(r);
                /* an error leaves the session usable */
                ASSERT_TRUE(jsonata_session_evaluate(s, bad, NULL, &r, &err) < 0);
                ASSERT_STR_EQ(err.code, "T2001");
                jsonata_error_clear(&err);
                ASSERT_INT_EQ(jsonata_session_evaluate(s, keep, NULL, &r, &err), 0);
                ASSERT_JSON_EQ(r, "[1,2,3]");
                json_decref(r);
                r = NULL;
                /* the input is per evaluation */
                json_t *in = json_pack("{s:i}", "v", i);
                JsonataExpr *v = NULL;
                ASSERT_INT_EQ(jsonata_compile("v", SIZE_MAX, &v, &err), 0);
                ASSERT_INT_EQ(jsonata_session_evaluate(s, v, in, &r, &err), 0);
                ASSERT_INT_EQ(json_integer_value(r), i);
                json_decref(r);
                r = NULL;
                json_decref(in);
                jsonata_expr_free(v);
        }
        jsonata_session_free(s);
        jsonata_expr_free(sum);
        jsonata_expr_free(bind);
        jsonata_expr_free(x);
        jsonata_expr_free(keep);
        jsonata_expr_free(bad);
        json_decref(states);
}

TEST(no_randomness_without_environment) {
        JsonataError err = {.position = -1};
        json_t *r = NULL;
        JsonataContext ctx = {};
        ASSERT_TRUE(run("$random()", NULL, &ctx, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "D3150");
        jsonata_error_clear(&err);
}

TEST(error_position_and_token) {
        JsonataError err = {.position = -1};
        json_t *r = NULL;
        JsonataContext ctx = {};
        ASSERT_TRUE(run("1 + 'a'", NULL, &ctx, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "T2002");
        ASSERT_STR_EQ(err.token, "+");
        ASSERT_STR_EQ(err.message, "The right side of the + operator must evaluate to a number");
        ASSERT_TRUE(err.position > 0);
        jsonata_error_clear(&err);
}

TEST(limits) {
        JsonataError err = {.position = -1};
        json_t *r = NULL;
        /* depth */
        JsonataContext ctx = {.limits = {.max_depth = 50}};
        ASSERT_TRUE(run("($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100))", NULL, &ctx, &r,
                        &err) < 0);
        ASSERT_STR_EQ(err.code, "U1001");
        jsonata_error_clear(&err);
        /* tail calls do not count against the depth */
        ASSERT_INT_EQ(
                run("($f := function($n){ $n = 0 ? 'done' : $f($n - 1) }; $f(1000))", NULL, &ctx, &r, &err),
                0);
        ASSERT_JSON_EQ(r, "\"done\"");
        json_decref(r);
        r = NULL;
        /* steps: an endless tail loop */
        JsonataContext steps = {.limits = {.max_steps = 100000}};
        ASSERT_TRUE(run("($f := function(){ $f() }; $f())", NULL, &steps, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "U1001");
        jsonata_error_clear(&err);
        /* memory */
        JsonataContext mem = {.limits = {.max_memory = 1 << 20}};
        ASSERT_TRUE(run("$count([1..1000000])", NULL, &mem, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "U1002");
        jsonata_error_clear(&err);
        ASSERT_TRUE(run("($s := 'xxxxxxxxxxxxxxxx'; $reduce([1..20], function($a, $i){ $a & $a }, $s))",
                        NULL, &mem, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "U1002");
        jsonata_error_clear(&err);
        /* regex backtracking */
        ASSERT_TRUE(run("$match('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab', /(a+)+$/)", NULL, &ctx, &r,
                        &err) < 0);
        ASSERT_STR_EQ(err.code, "U1001");
        jsonata_error_clear(&err);
        /* values nested deeper than JSONATA_MAX_VALUE_DEPTH, built by a tail loop */
        ASSERT_TRUE(run("($mk := function($v, $n){ $n = 0 ? $v : $mk({'a': $v}, $n - 1) }; $mk(1, 5000))",
                        NULL, &ctx, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "U1001");
        jsonata_error_clear(&err);
        ASSERT_TRUE(run("($mk := function($v, $n){ $n = 0 ? $v : $mk({'a': $v}, $n - 1) }; $mk(1, 5000) = "
                        "$mk(1, 5000))",
                        NULL, &ctx, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "U1001");
        jsonata_error_clear(&err);
        /* and functions: a partial of a partial of ... */
        ASSERT_TRUE(
                run("($mk := function($f, $n){ $n = 0 ? $f : $mk($f(?), $n - 1) }; $mk($string, 5000)(1))",
                    NULL, &ctx, &r, &err) < 0);
        ASSERT_STR_EQ(err.code, "U1001");
        jsonata_error_clear(&err);
        /* a chain of operators nests the tree without nesting the syntax */
        char *chain = malloc(2 * JSONATA_MAX_TREE_DEPTH + 8);
        size_t c = 0;
        for (int i = 0; i < JSONATA_MAX_TREE_DEPTH; i++) {
                chain[c++] = '1';
                chain[c++] = '+';
        }
        chain[c++] = '1';
        chain[c] = 0;
        JsonataExpr *e = NULL;
        ASSERT_TRUE(jsonata_compile(chain, SIZE_MAX, &e, &err) < 0);
        ASSERT_STR_EQ(err.code, "S0002");
        jsonata_error_clear(&err);
        free(chain);
        /* syntax nesting and length */
        char deep[2 * JSONATA_MAX_NESTING + 10];
        size_t k = 0;
        for (int i = 0; i < JSONATA_MAX_NESTING + 2; i++)
                deep[k++] = '(';
        deep[k] = 0;
        ASSERT_TRUE(jsonata_compile(deep, SIZE_MAX, &e, &err) < 0);
        ASSERT_STR_EQ(err.code, "S0002");
        jsonata_error_clear(&err);
        char *big = malloc(JSONATA_MAX_EXPRESSION_LENGTH + 2);
        memset(big, '1', JSONATA_MAX_EXPRESSION_LENGTH + 1);
        big[JSONATA_MAX_EXPRESSION_LENGTH + 1] = 0;
        ASSERT_TRUE(jsonata_compile(big, SIZE_MAX, &e, &err) < 0);
        ASSERT_STR_EQ(err.code, "S0001");
        jsonata_error_clear(&err);
        free(big);
}

TEST(number_formatting) {
        static const struct {
                double d;
                const char *s;
        } t[] = {
                {0, "0"},
                {-0.0, "0"},
                {1, "1"},
                {-1.5, "-1.5"},
                {0.1, "0.1"},
                {1e21, "1e+21"},
                {1e20, "100000000000000000000"},
                {1e-7, "1e-7"},
                {0.000001, "0.000001"},
                {123.456, "123.456"},
                {5e-324, "5e-324"},
                {1.7976931348623157e308, "1.7976931348623157e+308"},
                {0.30000000000000004, "0.30000000000000004"},
        };
        char buf[40];
        for (size_t i = 0; i < ELEMENTS(t); i++) {
                jsonata_format_number(t[i].d, buf, sizeof(buf));
                ASSERT_STR_EQ(buf, t[i].s);
        }
}

/* "var.member" and "var" entries, then "|", then the names, joined by ' '. */
static char *refs_text(const char *text) {
        JsonataExpr *e = NULL;
        JsonataError err = {.position = -1};
        JsonataReferences r = {};
        static char buf[1024];
        size_t len = 0;

        if (jsonata_compile(text, SIZE_MAX, &e, &err) < 0 || jsonata_expr_references(e, &r) < 0)
                abort();
        buf[0] = 0;
        for (size_t i = 0; i < r.n_variables; i++)
                len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s%s%s%s", len ? " " : "",
                                         r.variables[i].variable, r.variables[i].member ? "." : "",
                                         r.variables[i].member ? r.variables[i].member : "");
        len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s|", len ? " " : "");
        for (size_t i = 0; i < r.n_names; i++)
                len += (size_t) snprintf(buf + len, sizeof(buf) - len, " %s", r.names[i]);
        jsonata_references_clear(&r);
        jsonata_expr_free(e);
        return buf;
}

TEST(references) {
        static const char *const refs[][2] = {
                {"$states.input.a + $x", "states.input x |"},
                {"$states", "states |"},
                {"$states.result.b and $states.input", "states.input states.result |"},
                {"$sum($states.input.items.price)", "states.input sum |"},
                {"($y := $x + 1; $y * $y)", "x |"},
                {"($x := $x + 1; $x)", "x |"},
                {"function($a, $b){ $a + $b + $c }(1, 2)", "c |"},
                {"$map($states.input.a, function($v){ $v * $k })", "k map states.input |"},
                {"phone.number", "| phone"},
                {"items[price > 3].name", "| items"},
                {"$states.input.items[value > $limit]", "limit states.input |"},
                {"{'a': total, 'b': $v}", "v | total"},
                {"$$.a", "$.a |"},
                {"$.a", "|"},
                {"a.b@$o.c#$i[$i > 0].{'x': $o}", "| a"},
                {"items^(price)", "| items"},
                {"$map([1,2], function($x){ b })", "map | b"},
                {"$x ~> $f()", "f x |"},
                {"x ? y : z", "| x y z"},
                {"'literal'", "|"},
                {"$random()", "random |"},
        };
        for (size_t i = 0; i < ELEMENTS(refs); i++) {
                const char *got = refs_text(refs[i][0]);
                if (strcmp(got, refs[i][1]) != 0)
                        TEST_FAIL_("%s: got \"%s\", expected \"%s\"", refs[i][0], got, refs[i][1]);
        }
        const JsonataLibrary *libs[] = {&jsonata_aws_library};
        ASSERT_TRUE(jsonata_function_exists("sum", NULL, 0));
        ASSERT_FALSE(jsonata_function_exists("uuid", NULL, 0));
        ASSERT_TRUE(jsonata_function_exists("uuid", libs, 1));
        ASSERT_FALSE(jsonata_function_exists("states", libs, 1));
        ASSERT_INT_EQ(jsonata_expr_references(NULL, NULL) < 0, true);
}
