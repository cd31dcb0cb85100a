/* SPDX-License-Identifier: MIT */
/*
 * Input/output processing, with the examples of the Step Functions
 * developer guide ("Input and Output Processing").
 */
#include "test.h"
#include "asl-payload.h"

/* The context object as the refs a path reads. */
#define R(c) (&(AslRefs){.context = (c)})

static json_t *J(const char *text) {
        json_error_t e;
        json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
        if (!v) {
                fprintf(stderr, "bad JSON in test: %s: %s\n", text, e.text);
                abort();
        }
        return v;
}

static const AslEnv env0 = { .now_ms = 0 };

TEST(input_path_aws_example) {
        json_t *in = J("{\"comment\":\"Example for InputPath.\",\"dataset1\":{\"val1\":1,\"val2\":2,\"val3\":3},"
                       "\"dataset2\":{\"val1\":\"a\",\"val2\":\"b\",\"val3\":\"c\"}}");
        json_t *p = json_string("$.dataset2"), *out = NULL, *nul = json_null();
        AslError e = {};

        ASSERT_INT_EQ(payload_select(in, p, "InputPath", NULL, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"val1\":\"a\",\"val2\":\"b\",\"val3\":\"c\"}");
        json_decref(out);

        /* absent: unchanged; null: {} */
        ASSERT_INT_EQ(payload_select(in, NULL, "InputPath", NULL, &out, &e), 0);
        ASSERT_TRUE(json_equal(out, in));
        json_decref(out);
        ASSERT_INT_EQ(payload_select(in, nul, "InputPath", NULL, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{}");
        json_decref(out);

        /* a path that does not exist: States.Runtime */
        json_t *missing = json_string("$.nope");
        ASSERT_INT_EQ(payload_select(in, missing, "InputPath", NULL, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        asl_error_clear(&e);
        json_decref(missing);
        json_decref(nul);
        json_decref(p);
        json_decref(in);
}

/* The causes are Step Functions' (Jayway's messages, paths normalized). */
TEST(select_missing_path_causes) {
        json_t *in = J("{\"a\":{\"b\":1},\"l\":[1,2],\"n\":5}");
        static const struct {
                const char *path, *cause;
        } cases[] = {
                {"$.x", "Invalid path '$.x' : No results for path: $['x']"},
                {"$.a.x", "Invalid path '$.a.x' : No results for path: $['a']['x']"},
                {"$.no.x", "Invalid path '$.no.x' : Missing property in path $['no']"},
                {"$.no.x.y", "Invalid path '$.no.x.y' : Missing property in path $['no']"},
                {"$['a'].x.y", "Invalid path '$['a'].x.y' : Missing property in path $['a']['x']"},
                {"$.l[5]", "Invalid path '$.l[5]' : No results for path: $['l'][5]"},
                {"$.l[5].z", "Invalid path '$.l[5].z' : Missing property in path $['l'][5]"},
                {"$.n.z",
                 "Invalid path '$.n.z' : Expected to find an object with property ['z'] in path $['n'] "
                 "but found 'number'"},
                {"$.n['y','z']",
                 "Invalid path '$.n['y','z']' : Expected to find an object with property ['y', 'z'] "
                 "in path $['n'] but found 'number'"},
                {"$.no['y','z']", "Invalid path '$.no['y','z']' : Missing property in path $['no']"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                json_t *p = json_string(cases[i].path), *out = NULL;
                AslError e = {};

                ASSERT_INT_EQ(payload_select(in, p, "OutputPath", NULL, &out, &e), -EINVAL);
                ASSERT_STR_EQ(e.error, "States.Runtime");
                ASSERT_STR_EQ(e.cause, cases[i].cause);
                asl_error_clear(&e);
                json_decref(p);
        }
        json_decref(in);
}

/* "$$" and "$$.Execution.Input" as InputPath/OutputPath: the context object and the execution input. */
TEST(select_context_paths) {
        json_t *in = J("{\"a\":1}"),
               *ctx = J("{\"Execution\":{\"Input\":{\"orig\":true}},\"State\":{\"Name\":\"S\"}}");
        json_t *all = json_string("$$"), *input = json_string("$$.Execution.Input"),
               *nope = json_string("$$.Nope");
        json_t *out = NULL;
        AslError e = {};

        ASSERT_INT_EQ(payload_select(in, all, "InputPath", R(ctx), &out, &e), 0);
        ASSERT_TRUE(json_equal(out, ctx));
        json_decref(out);
        ASSERT_INT_EQ(payload_select(in, input, "OutputPath", R(ctx), &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"orig\":true}");
        json_decref(out);
        ASSERT_INT_EQ(payload_select(in, nope, "InputPath", R(ctx), &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.cause, "Invalid path '$$.Nope' : No results for path: $['Nope']");
        asl_error_clear(&e);
        ASSERT_INT_EQ(payload_select(in, all, "InputPath", NULL, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        asl_error_clear(&e);

        /* The whole pipeline reads them too. */
        json_t *state =
                J("{\"Type\":\"Pass\",\"InputPath\":\"$$.Execution.Input\",\"OutputPath\":\"$$.State\"}");
        ASSERT_INT_EQ(payload_effective_input(state, "Parameters", in, R(ctx), &env0, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"orig\":true}");
        json_decref(out);
        ASSERT_INT_EQ(payload_state_output(state, false, in, in, R(ctx), &env0, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"Name\":\"S\"}");
        json_decref(out);
        json_decref(state);
        json_decref(all);
        json_decref(input);
        json_decref(nope);
        json_decref(ctx);
        json_decref(in);
}

TEST(parameters_aws_example) {
        json_t *in = J("{\"comment\":\"Example for Parameters.\",\"product\":{\"details\":{\"color\":\"blue\","
                       "\"size\":\"small\",\"material\":\"cotton\"},\"availability\":\"in stock\",\"sku\":\"2317\",\"cost\":\"$23\"}}");
        json_t *tmpl = J("{\"comment\":\"Selecting what I care about.\",\"MyDetails\":{\"size.$\":\"$.product.details.size\","
                         "\"exists.$\":\"$.product.availability\",\"StaticValue\":\"foo\"}}");
        json_t *out = NULL;
        AslError e = {};

        ASSERT_INT_EQ(payload_template(tmpl, in, NULL, &env0, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"comment\":\"Selecting what I care about.\",\"MyDetails\":{\"size\":\"small\","
                            "\"exists\":\"in stock\",\"StaticValue\":\"foo\"}}");
        json_decref(out);
        json_decref(tmpl);
        json_decref(in);
}

TEST(template_context_arrays_intrinsics) {
        json_t *in = J("{\"name\":\"cat.jpg\",\"sizes\":[1,2]}");
        json_t *ctx = J("{\"Execution\":{\"Id\":\"exec-1\"},\"Map\":{\"Item\":{\"Index\":3,\"Value\":\"v\"}}}");
        json_t *tmpl = J("{\"id.$\":\"$$.Execution.Id\",\"idx.$\":\"$$.Map.Item.Index\","
                         "\"list\":[{\"n.$\":\"$.name\"},\"lit\",{\"deep\":{\"s.$\":\"$.sizes[1]\"}}],"
                         "\"msg.$\":\"States.Format('Hello, {}', $.name)\",\"whole.$\":\"$\"}");
        json_t *out = NULL;
        AslError e = {};

        ASSERT_INT_EQ(payload_template(tmpl, in, R(ctx), &env0, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"id\":\"exec-1\",\"idx\":3,\"list\":[{\"n\":\"cat.jpg\"},\"lit\",{\"deep\":{\"s\":2}}],"
                            "\"msg\":\"Hello, cat.jpg\",\"whole\":{\"name\":\"cat.jpg\",\"sizes\":[1,2]}}");
        json_decref(out);
        json_decref(tmpl);

        /* missing path -> States.Runtime, in Step Functions' words (never ParameterPathFailure) */
        tmpl = J("{\"x\":{\"y.$\":\"$.missing\"}}");
        ASSERT_INT_EQ(payload_template(tmpl, in, R(ctx), &env0, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        ASSERT_STR_EQ(e.cause,
                      "The JSONPath '$.missing' specified for the field 'y.$' could not be found in the "
                      "input '{\"name\":\"cat.jpg\",\"sizes\":[1,2]}'");
        asl_error_clear(&e);
        json_decref(tmpl);

        /* missing context path too */
        tmpl = J("{\"t.$\":\"$$.Task.Token\"}");
        ASSERT_INT_EQ(payload_template(tmpl, in, R(ctx), &env0, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        ASSERT_STR_EQ(e.cause,
                      "The JSONPath '$$.Task.Token' specified for the field 't.$' could not be found in the "
                      "input '{\"name\":\"cat.jpg\",\"sizes\":[1,2]}'");
        asl_error_clear(&e);
        json_decref(tmpl);

        /* a path an intrinsic reads: States.Runtime naming the whole expression */
        tmpl = J("{\"v.$\":\"States.Format('{}', States.Format('{}', $.nope))\"}");
        ASSERT_INT_EQ(payload_template(tmpl, in, R(ctx), &env0, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        ASSERT_STR_EQ(e.cause,
                      "The function 'States.Format('{}', States.Format('{}', $.nope))' had the following "
                      "error: The JsonPath argument for the field '$.nope' could not be found in the input "
                      "'{\"name\":\"cat.jpg\",\"sizes\":[1,2]}'");
        asl_error_clear(&e);
        json_decref(tmpl);

        /* intrinsic failure */
        tmpl = J("{\"x.$\":\"States.StringToJson($.name)\"}");
        ASSERT_INT_EQ(payload_template(tmpl, in, R(ctx), &env0, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.IntrinsicFailure");
        asl_error_clear(&e);
        json_decref(tmpl);

        json_decref(ctx);
        json_decref(in);
}

TEST(result_selector_aws_example) {
        json_t *result = J("{\"resourceType\":\"elasticmapreduce\",\"resource\":\"createCluster.sync\",\"output\":"
                           "{\"SdkHttpMetadata\":{\"HttpStatusCode\":200},\"SdkResponseMetadata\":{\"RequestId\":\"1234\"},"
                           "\"ClusterId\":\"AKIAIOSFODNN7EXAMPLE\"}}");
        json_t *state = J("{\"Type\":\"Task\",\"ResultSelector\":{\"ClusterId.$\":\"$.output.ClusterId\","
                          "\"ResourceType.$\":\"$.resourceType\"},\"ResultPath\":\"$.EMROutput\"}");
        json_t *in = J("{\"cluster\":\"c\"}"), *out = NULL;
        AslError e = {};

        ASSERT_INT_EQ(payload_state_output(state, true, in, result, NULL, &env0, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"cluster\":\"c\",\"EMROutput\":{\"ClusterId\":\"AKIAIOSFODNN7EXAMPLE\","
                            "\"ResourceType\":\"elasticmapreduce\"}}");
        json_decref(out);
        /* without use_selector (Pass) the selector is ignored */
        ASSERT_INT_EQ(payload_state_output(state, false, in, result, NULL, &env0, &out, &e), 0);
        ASSERT_JSON_EQ(json_object_get(json_object_get(out, "EMROutput"), "resource"), "\"createCluster.sync\"");
        json_decref(out);
        json_decref(in);
        json_decref(state);
        json_decref(result);
}

TEST(result_path_aws_examples) {
        json_t *in = J("{\"comment\":\"This is a test of the input and output of a Task state.\","
                       "\"details\":\"Default example\",\"who\":\"AWS Step Functions\"}");
        json_t *result = json_string("Hello, AWS Step Functions!");
        json_t *p, *out = NULL;
        AslError e = {};

        /* default $: the result replaces the input */
        ASSERT_INT_EQ(payload_result_path(in, NULL, result, &out, &e), 0);
        ASSERT_JSON_EQ(out, "\"Hello, AWS Step Functions!\"");
        json_decref(out);

        p = json_string("$.taskresult");
        ASSERT_INT_EQ(payload_result_path(in, p, result, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"comment\":\"This is a test of the input and output of a Task state.\","
                            "\"details\":\"Default example\",\"who\":\"AWS Step Functions\","
                            "\"taskresult\":\"Hello, AWS Step Functions!\"}");
        json_decref(out);
        json_decref(p);
        /* the input is not modified */
        ASSERT_TRUE(json_object_get(in, "taskresult") == NULL);

        p = json_null();
        ASSERT_INT_EQ(payload_result_path(in, p, result, &out, &e), 0);
        ASSERT_TRUE(json_equal(out, in));
        json_decref(out);
        json_decref(p);

        p = json_string("$.strings.lambdaresult");
        ASSERT_INT_EQ(payload_result_path(in, p, result, &out, &e), 0);
        ASSERT_JSON_EQ(json_object_get(out, "strings"), "{\"lambdaresult\":\"Hello, AWS Step Functions!\"}");
        json_decref(out);
        json_decref(p);

        /* into a string: States.ResultPathMatchFailure */
        p = json_string("$.who.x");
        ASSERT_INT_EQ(payload_result_path(in, p, result, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.ResultPathMatchFailure");
        asl_error_clear(&e);
        json_decref(p);

        json_decref(result);
        json_decref(in);
}

TEST(output_path_aws_example) {
        /* InputPath $.lambda, result merged at $.data.lambdaresult into the RAW
         * input, then OutputPath $.data */
        json_t *in = J("{\"comment\":\"An input comment.\",\"data\":{\"val1\":23,\"val2\":17},\"extra\":\"foo\","
                       "\"lambda\":{\"who\":\"AWS Step Functions\"}}");
        json_t *state = J("{\"Type\":\"Task\",\"InputPath\":\"$.lambda\",\"ResultPath\":\"$.data.lambdaresult\","
                          "\"OutputPath\":\"$.data\"}");
        json_t *eff = NULL, *out = NULL, *result;
        AslError e = {};

        ASSERT_INT_EQ(payload_effective_input(state, "Parameters", in, NULL, &env0, &eff, &e), 0);
        ASSERT_JSON_EQ(eff, "{\"who\":\"AWS Step Functions\"}");
        result = json_sprintf("Hello, %s!", json_string_value(json_object_get(eff, "who")));
        ASSERT_INT_EQ(payload_state_output(state, true, in, result, NULL, &env0, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{\"val1\":23,\"val2\":17,\"lambdaresult\":\"Hello, AWS Step Functions!\"}");
        json_decref(out);
        json_decref(result);
        json_decref(eff);

        /* OutputPath null -> {} ; missing -> States.Runtime */
        json_object_set_new(state, "OutputPath", json_null());
        ASSERT_INT_EQ(payload_state_output(state, true, in, in, NULL, &env0, &out, &e), 0);
        ASSERT_JSON_EQ(out, "{}");
        json_decref(out);
        json_object_set_new(state, "OutputPath", json_string("$.none"));
        ASSERT_INT_EQ(payload_state_output(state, true, in, in, NULL, &env0, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        asl_error_clear(&e);

        json_decref(state);
        json_decref(in);
}

TEST(limits) {
        AslEnv small = { .max_payload_bytes = 32 };
        json_t *big = J("{\"data\":\"0123456789012345678901234567890123456789\"}");
        json_t *state = J("{\"Type\":\"Pass\"}"), *out = NULL, *deep, *cur;
        AslError e = {};

        ASSERT_INT_EQ(payload_check_limits(big, &small, "x", &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.DataLimitExceeded");
        asl_error_clear(&e);
        ASSERT_INT_EQ(payload_check_limits(big, &env0, "x", &e), 0);
        ASSERT_INT_EQ(payload_state_output(state, false, big, big, NULL, &small, &out, &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.DataLimitExceeded");
        asl_error_clear(&e);

        deep = json_array();
        cur = deep;
        for (int i = 0; i < ASL_MAX_JSON_DEPTH + 5; i++) {
                json_t *n = json_array();
                json_array_append_new(cur, n);
                cur = n;
        }
        ASSERT_INT_EQ(payload_check_limits(deep, &env0, "x", &e), -EINVAL);
        ASSERT_STR_EQ(e.error, "States.Runtime");
        asl_error_clear(&e);

        json_decref(deep);
        json_decref(state);
        json_decref(big);
}
