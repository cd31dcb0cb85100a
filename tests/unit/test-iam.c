/* SPDX-License-Identifier: MIT */
/*
 * api/iam: wildcards in actions (any case) and in ARN segments, the order
 * of evaluation (an explicit Deny wins, default deny), NotAction and
 * NotResource, a statement given as an object, and every policy refused
 * when loaded.
 */

#include <string.h>

#include "alloc-util.h"
#include "iam.h"
#include "test.h"

static IamPolicy *load(const char *text) {
        _cleanup_json_ json_t *doc = json_loads(text, 0, NULL);
        _cleanup_free_ char *error = NULL;
        IamPolicy *p = NULL;

        if (!doc)
                TEST_FAIL_("not JSON: %s", text);
        if (iam_policy_parse(doc, &p, &error) < 0)
                TEST_FAIL_("refused: %s: %s", error, text);
        return p;
}

static void refused(const char *text, const char *message) {
        _cleanup_json_ json_t *doc = json_loads(text, 0, NULL);
        _cleanup_free_ char *error = NULL;
        IamPolicy *p = NULL;

        if (iam_policy_parse(doc, &p, &error) == 0) {
                iam_policy_free(p);
                TEST_FAIL_("accepted: %s", text);
        }
        if (!strstr(error, message))
                TEST_FAIL_("error '%s' lacks '%s'", error, message);
}

#define SM "arn:aws:states:us-east-1:123456789012:stateMachine:"
#define EX "arn:aws:states:us-east-1:123456789012:execution:"

TEST(match) {
        ASSERT_TRUE(iam_match("states:Send*", "states:SendTaskSuccess", true));
        ASSERT_TRUE(iam_match("states:send*", "states:SendTaskSuccess", true));
        ASSERT_FALSE(iam_match("states:send*", "states:SendTaskSuccess", false));
        ASSERT_TRUE(iam_match("states:*Execution", "states:StartExecution", true));
        ASSERT_FALSE(iam_match("states:*Execution", "states:ListExecutions", true));
        ASSERT_TRUE(iam_match("states:List?xecutions", "states:ListExecutions", true));
        ASSERT_TRUE(iam_match("*", "", false));
        ASSERT_TRUE(iam_match("a*b*c", "aXXbYYbZc", false));
        ASSERT_FALSE(iam_match("a*b*c", "aXXbYYbZ", false));
        ASSERT_TRUE(iam_match("**a", "a", false));

        ASSERT_TRUE(iam_resource_match("*", "*"));
        ASSERT_TRUE(iam_resource_match("*", SM "x"));
        ASSERT_FALSE(iam_resource_match(SM "*", "*"));
        ASSERT_TRUE(iam_resource_match(SM "image-*", SM "image-pipeline"));
        ASSERT_FALSE(iam_resource_match(SM "image-*", SM "other"));
        ASSERT_TRUE(iam_resource_match("arn:aws:states:*:*:stateMachine:*", SM "x"));
        ASSERT_TRUE(iam_resource_match("arn:aws:states:*:*:*", EX "sm:run-1"));
        ASSERT_TRUE(iam_resource_match(EX "sm:*", EX "sm:run-1"));
        ASSERT_FALSE(iam_resource_match(EX "sm:*", EX "sm2:run-1"));
        /* A '*' at the end of a segment goes on past ':'; inside one it does not. */
        ASSERT_TRUE(iam_resource_match("arn:aws:*", SM "x"));
        ASSERT_TRUE(iam_resource_match("arn:aws:states:*", EX "sm:run-1"));
        ASSERT_TRUE(iam_resource_match("arn:aws:*:*:*:*", SM "x"));
        ASSERT_FALSE(iam_resource_match("arn:aws:states:us-east-1:123456789012:state*x", SM "x"));
        ASSERT_FALSE(iam_resource_match("arn:aws:states:us-east-1:123456789012:?tateMachine?x", SM "x"));
        ASSERT_TRUE(iam_resource_match("arn:aws:states:us-east-1:123456789012:?tateMachine:?", SM "x"));
        ASSERT_FALSE(iam_resource_match("arn:aws:states:us-east-1:123456789012:stateMachine:?", SM "xy"));
        ASSERT_FALSE(iam_resource_match("arn:aws:states:us-east-1:123456789012:Statemachine:x", SM "x"));
}

TEST(evaluate) {
        _cleanup_(iam_policy_freep) IamPolicy *p = load(
                "{\"Version\": \"2012-10-17\", \"Statement\": ["
                " {\"Sid\": \"run\", \"Effect\": \"Allow\", \"Action\": [\"states:StartExecution\", "
                "\"states:Describe*\"],"
                "  \"Resource\": [\"" SM "image-*\", \"" EX "image-*:*\"]},"
                " {\"Effect\": \"Allow\", \"Action\": \"states:Send*\", \"Resource\": \"*\"},"
                " {\"Effect\": \"Deny\", \"Action\": \"states:*\", \"Resource\": \"" SM "image-secret\"}]}");

        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:StartExecution", SM "image-pipeline"), IAM_ALLOW);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:startexecution", SM "image-pipeline"), IAM_ALLOW);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:DescribeExecution", EX "image-pipeline:run-1"),
                      IAM_ALLOW);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:StartExecution", SM "other"), IAM_DENY_IMPLICIT);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:StopExecution", EX "image-pipeline:run-1"),
                      IAM_DENY_IMPLICIT);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:SendTaskSuccess", "*"), IAM_ALLOW);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:ListStateMachines", "*"), IAM_DENY_IMPLICIT);
        /* Allowed by the first statement, denied by the third: Deny wins. */
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:StartExecution", SM "image-secret"), IAM_DENY_EXPLICIT);
        ASSERT_INT_EQ(iam_policy_evaluate(NULL, "states:StartExecution", SM "x"), IAM_DENY_IMPLICIT);
}

TEST(not_elements) {
        _cleanup_(iam_policy_freep) IamPolicy *p =
                load("{\"Statement\": [{\"Effect\": \"Allow\", \"NotAction\": \"states:Delete*\", "
                     "\"Resource\": \"*\"},"
                     " {\"Effect\": \"Deny\", \"Action\": \"states:StartExecution\", \"NotResource\": \"" SM
                     "ok\"}]}");

        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:ListStateMachines", "*"), IAM_ALLOW);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:DeleteStateMachine", SM "ok"), IAM_DENY_IMPLICIT);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:StartExecution", SM "ok"), IAM_ALLOW);
        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:StartExecution", SM "other"), IAM_DENY_EXPLICIT);
}

TEST(single_statement_object) {
        _cleanup_(iam_policy_freep) IamPolicy *p = load(
                "{\"Version\": \"2008-10-17\", \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"*\", "
                "\"Resource\": \"*\"}}");

        ASSERT_INT_EQ(iam_policy_evaluate(p, "states:DeleteActivity", "arn:aws:states:r:1:activity:a"),
                      IAM_ALLOW);
}

TEST(refused) {
        refused("[]", "JSON object");
        refused("{\"Version\": \"2020-01-01\", \"Statement\": []}", "Version");
        refused("{\"Statement\": 1}", "Statement must be");
        refused("{\"Statement\": [{\"Effect\": \"Maybe\", \"Action\": \"*\", \"Resource\": \"*\"}]}",
                "Effect");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Resource\": \"*\"}]}", "Action and NotAction");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\", \"NotAction\": \"*\", "
                "\"Resource\": \"*\"}]}",
                "Action and NotAction");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\"}]}", "Resource and NotResource");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\", "
                "\"Condition\": {\"Bool\": {\"aws:SecureTransport\": \"true\"}}}]}",
                "Statement 0: Condition is not supported");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\", "
                "\"Principal\": \"*\"}]}",
                "Principal is not supported");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": [], \"Resource\": \"*\"}]}",
                "list of strings");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"StartExecution\", \"Resource\": "
                "\"*\"}]}",
                "'<service>:<action>'");
        refused("{\"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"" SM
                "${aws:username}\"}]}",
                "policy variables");
        refused("{\"Statement\": [], \"Other\": 1}", "Other is not supported");
}
