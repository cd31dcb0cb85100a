/* SPDX-License-Identifier: MIT */
/*
 * api/aws-json: the error shape and statuses, X-Amz-Target, the body's
 * limits, member getters with AWS's messages, ARNs against the configured
 * region and account, timestamps and page tokens.
 */

#include <string.h>

#include "alloc-util.h"
#include "aws-json.h"
#include "test.h"

TEST(errors) {
        _cleanup_free_ char *body = NULL;
        _cleanup_json_ json_t *j = NULL;
        size_t len;

        ASSERT_INT_EQ(aws_error_status("ExecutionDoesNotExist"), 400);
        ASSERT_INT_EQ(aws_error_status("AccessDeniedException"), 400);
        ASSERT_INT_EQ(aws_error_status("ServiceUnavailable"), 503);
        ASSERT_INT_EQ(aws_error_status("InternalFailure"), 500);
        ASSERT_INT_EQ(aws_error_status("RequestEntityTooLarge"), 413);
        body = aws_error_body("InvalidArn", "Invalid Arn: 'x\"y'", &len);
        ASSERT_INT_EQ(len, strlen(body));
        j = json_loads(body, 0, NULL);
        ASSERT_STR_EQ(json_string_value(json_object_get(j, "__type")), "InvalidArn");
        ASSERT_STR_EQ(json_string_value(json_object_get(j, "message")), "Invalid Arn: 'x\"y'");
}

TEST(target) {
        ASSERT_STR_EQ(aws_target_operation("AWSStepFunctions.StartExecution"), "StartExecution");
        ASSERT_TRUE(aws_target_operation("AWSStepFunctions.") == NULL);
        ASSERT_TRUE(aws_target_operation("DynamoDB_20120810.GetItem") == NULL);
        ASSERT_TRUE(aws_target_operation(NULL) == NULL);
}

static void body_refused(const char *text, const char *message) {
        AwsError e = {};
        json_t *j = NULL;

        ASSERT_TRUE(aws_body_parse(text, strlen(text), &j, &e) < 0);
        ASSERT_STR_EQ(e.name, "SerializationException");
        if (!strstr(e.message, message))
                TEST_FAIL_("'%s' lacks '%s'", e.message, message);
        aws_error_done(&e);
}

TEST(body) {
        AwsError e = {};
        json_t *j = NULL;
        char deep[200];

        ASSERT_INT_EQ(aws_body_parse("", 0, &j, &e), 0);
        ASSERT_TRUE(json_is_object(j) && json_object_size(j) == 0);
        json_decref(j);
        ASSERT_INT_EQ(aws_body_parse("{\"a\":1}", 7, &j, &e), 0);
        json_decref(j);
        body_refused("[1]", "must be a JSON object");
        body_refused("{\"a\":", "not valid JSON");
        body_refused("{\"a\":1,\"a\":2}", "not valid JSON");
        body_refused("{\"a\":\"\\u0000\"}", "not valid JSON");
        memset(deep, '[', sizeof deep - 1);
        deep[0] = '{';
        deep[sizeof deep - 1] = 0;
        body_refused(deep, "nested deeper than 16");
}

TEST(members) {
        _cleanup_json_ json_t *b =
                json_loads("{\"s\":\"caf\\u00e9\",\"n\":5,\"t\":true,\"z\":null,\"e\":\"RUNNING\","
                           "\"x\":\"x\"}",
                           0, NULL);
        const char *s;
        int64_t i;
        bool v;
        AwsError e = {};

        ASSERT_INT_EQ(aws_get_string(b, "s", true, 1, 4, &s, &e), 0);
        ASSERT_STR_EQ(s, "café"); /* 4 characters, 5 bytes */
        ASSERT_TRUE(aws_get_string(b, "s", true, 1, 3, &s, &e) < 0);
        ASSERT_STR_EQ(e.name, "ValidationException");
        ASSERT_STR_EQ(e.message,
                      "1 validation error detected: Value at 's' failed to satisfy constraint: Member "
                      "must have length less than or equal to 3");
        ASSERT_TRUE(aws_get_string(b, "missing", true, 1, 3, &s, &e) < 0);
        ASSERT_STR_EQ(e.message, "1 validation error detected: Value null at 'missing' failed to satisfy "
                                 "constraint: Member must not be null");
        ASSERT_TRUE(aws_get_string(b, "z", true, 1, 3, &s, &e) < 0); /* null is absent */
        ASSERT_INT_EQ(aws_get_string(b, "z", false, 1, 3, &s, &e), 0);
        ASSERT_TRUE(s == NULL);
        ASSERT_TRUE(aws_get_string(b, "n", true, 1, 3, &s, &e) < 0);
        ASSERT_STR_EQ(e.name, "SerializationException");

        ASSERT_INT_EQ(aws_get_int(b, "n", 0, 1000, 0, &i, &e), 0);
        ASSERT_INT_EQ(i, 5);
        ASSERT_INT_EQ(aws_get_int(b, "absent", 0, 1000, 100, &i, &e), 0);
        ASSERT_INT_EQ(i, 100);
        ASSERT_TRUE(aws_get_int(b, "n", 0, 4, 0, &i, &e) < 0);
        ASSERT_STR_EQ(e.message,
                      "1 validation error detected: Value '5' at 'n' failed to satisfy constraint: "
                      "Member must have value less than or equal to 4");
        ASSERT_TRUE(aws_get_int(b, "s", 0, 4, 0, &i, &e) < 0);
        ASSERT_STR_EQ(e.name, "SerializationException");

        ASSERT_INT_EQ(aws_get_bool(b, "t", false, &v, &e), 0);
        ASSERT_TRUE(v);
        ASSERT_INT_EQ(aws_get_bool(b, "absent", true, &v, &e), 0);
        ASSERT_TRUE(v);
        ASSERT_TRUE(aws_get_bool(b, "n", true, &v, &e) < 0);

        {
                static const char *const st[] = {"RUNNING", "SUCCEEDED", NULL};
                ASSERT_INT_EQ(aws_get_enum(b, "e", st, &s, &e), 0);
                ASSERT_STR_EQ(s, "RUNNING");
                ASSERT_TRUE(aws_get_enum(b, "x", st, &s, &e) < 0);
                ASSERT_STR_EQ(e.message,
                              "1 validation error detected: Value 'x' at 'x' failed to satisfy "
                              "constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED]");
        }
        aws_error_done(&e);
}

TEST(arns) {
        _cleanup_free_ char *arn = aws_arn("eu-west-1", "111122223333", "stateMachine", "pipeline");
        char *rest = NULL;
        AwsError e = {};

        ASSERT_STR_EQ(arn, "arn:aws:states:eu-west-1:111122223333:stateMachine:pipeline");
        ASSERT_INT_EQ(aws_arn_parse(arn, "eu-west-1", "111122223333", "stateMachine", &rest, &e), 0);
        ASSERT_STR_EQ(rest, "pipeline");
        free(rest);
        ASSERT_TRUE(aws_arn_parse(arn, "us-east-1", "111122223333", "stateMachine", &rest, &e) < 0);
        ASSERT_STR_EQ(e.name, "InvalidArn");
        ASSERT_STR_EQ(e.message,
                      "Invalid Arn: 'arn:aws:states:eu-west-1:111122223333:stateMachine:pipeline'");
        ASSERT_TRUE(aws_arn_parse(arn, "eu-west-1", "999999999999", "stateMachine", &rest, &e) < 0);
        ASSERT_TRUE(aws_arn_parse(arn, "eu-west-1", "111122223333", "activity", &rest, &e) < 0);
        ASSERT_TRUE(aws_arn_parse("arn:aws:states:eu-west-1:111122223333:stateMachine:", "eu-west-1",
                                  "111122223333", "stateMachine", &rest, &e) < 0);
        ASSERT_TRUE(aws_arn_parse(NULL, "eu-west-1", "111122223333", "stateMachine", &rest, &e) < 0);
        aws_error_done(&e);
}

TEST(timestamps) {
        _cleanup_json_ json_t *t = aws_timestamp(1733356800123);

        ASSERT_TRUE(json_is_real(t));
        ASSERT_DBL_EQ(json_real_value(t), 1733356800.123);
}

TEST(page_tokens) {
        _cleanup_free_ char *t = aws_page_token_encode("ex", "1733356800123|sm:run-1");
        char *cursor = NULL;
        AwsError e = {};

        ASSERT_INT_EQ(aws_page_token_decode(t, "ex", &cursor, &e), 0);
        ASSERT_STR_EQ(cursor, "1733356800123|sm:run-1");
        free(cursor);
        /* Another operation's token, garbage, odd length, a NUL, too long. */
        ASSERT_TRUE(aws_page_token_decode(t, "hist", &cursor, &e) < 0);
        ASSERT_STR_EQ(e.name, "InvalidToken");
        ASSERT_TRUE(aws_page_token_decode("zz", "ex", &cursor, &e) < 0);
        ASSERT_TRUE(aws_page_token_decode("657", "ex", &cursor, &e) < 0);
        ASSERT_TRUE(aws_page_token_decode("6578003a", "ex", &cursor, &e) < 0);
        {
                char big[AWS_PAGE_TOKEN_MAX + 3];
                memset(big, 'a', sizeof big - 1);
                big[sizeof big - 1] = 0;
                ASSERT_TRUE(aws_page_token_decode(big, "ex", &cursor, &e) < 0);
        }
        aws_error_done(&e);
}
