/* SPDX-License-Identifier: MIT */
/*
 * Resource mapping: Task Resource -> operation and pool (coordinator/resources.c).
 */

#include "asl-util.h"
#include "resources.h"
#include "test.h"

static Resources *table(void) {
        Resources *r = NULL;

        ASSERT_INT_EQ(resources_new(&r), 0);
        ASSERT_INT_EQ(resources_add(r, "ValidateImage", "image.validate"), 0);
        ASSERT_INT_EQ(resources_add(r, "Notify", "pool:notifier"), 0);
        ASSERT_INT_EQ(resources_add(r, "arn:aws:lambda:eu-west-1:1:function:Gpu", "pool:gpu"), 0);
        return r;
}

TEST(add_validates) {
        _cleanup_(resources_freep) Resources *r = table();

        ASSERT_INT_EQ(resources_add(r, "", "image.resize"), -EINVAL);
        ASSERT_INT_EQ(resources_add(r, "X", ""), -EINVAL);
        ASSERT_INT_EQ(resources_add(r, "X", "pool:"), -EINVAL);
        ASSERT_INT_EQ(resources_add(r, "X", "bad op"), -EINVAL);
        ASSERT_INT_EQ(resources_add(r, "X", "pool:a/b"), -EINVAL);
        /* Replacing an entry. */
        ASSERT_INT_EQ(resources_add(r, "ValidateImage", "image.info"), 0);

        ResourceTarget t = {};
        _cleanup_free_ char *cause = NULL;
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:lambda:us-east-1:123:function:ValidateImage", NULL, &t, &cause), 0);
        ASSERT_STR_EQ(t.operation, "image.info");
        resource_target_done(&t);
}

TEST(imgflow_resources) {
        _cleanup_(resources_freep) Resources *r = table();
        _cleanup_free_ char *cause = NULL;
        json_t *input = json_pack("{s:i}", "w", 100);
        ResourceTarget t = {};

        ASSERT_INT_EQ(resources_resolve(r, "imgflow:image.resize", input, &t, &cause), 0);
        ASSERT_STR_EQ(t.operation, "image.resize");
        ASSERT_NULL(t.pool);
        ASSERT_FALSE(t.wait_for_token);
        ASSERT_JSON_EQ(t.input, "{\"w\":100}");
        resource_target_done(&t);

        ASSERT_INT_EQ(resources_resolve(r, "imgflow:pool:gpu", input, &t, &cause), 0);
        ASSERT_STR_EQ(t.pool, "gpu");
        resource_target_done(&t);

        ASSERT_INT_EQ(resources_resolve(r, "imgflow:pool:approvers.waitForTaskToken", input, &t, &cause), 0);
        ASSERT_STR_EQ(t.pool, "approvers");
        ASSERT_TRUE(t.wait_for_token);
        resource_target_done(&t);

        /* An activity: its queue, for GetActivityTask callers. */
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:states:us-east-1:123:activity:review", input, &t, &cause), 0);
        ASSERT_STR_EQ(t.activity, "review");
        ASSERT_NULL(t.pool);
        ASSERT_NULL(t.operation);
        resource_target_done(&t);
        /* ... unless [resources] maps the ARN. */
        ASSERT_INT_EQ(resources_add(r, "arn:aws:states:us-east-1:123:activity:resize", "pool:gpu"), 0);
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:states:us-east-1:123:activity:resize", input, &t, &cause), 0);
        ASSERT_NULL(t.activity);
        ASSERT_STR_EQ(t.pool, "gpu");
        ASSERT_STR_EQ(t.operation, "resize");
        resource_target_done(&t);
        json_decref(input);
}

TEST(lambda) {
        _cleanup_(resources_freep) Resources *r = table();
        _cleanup_free_ char *cause = NULL;
        ResourceTarget t = {};

        /* By function name, with and without an alias. */
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:lambda:us-east-1:123456789012:function:ValidateImage", NULL, &t, &cause), 0);
        ASSERT_STR_EQ(t.operation, "image.validate");
        ASSERT_NULL(t.pool);
        ASSERT_JSON_EQ(t.input, "{}");
        resource_target_done(&t);
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:lambda:us-east-1:123456789012:function:Notify:prod", NULL, &t, &cause), 0);
        ASSERT_STR_EQ(t.pool, "notifier");
        ASSERT_STR_EQ(t.operation, "Notify");
        resource_target_done(&t);
        /* By the full ARN. */
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:lambda:eu-west-1:1:function:Gpu", NULL, &t, &cause), 0);
        ASSERT_STR_EQ(t.pool, "gpu");
        ASSERT_STR_EQ(t.operation, "Gpu");
        resource_target_done(&t);

        /* lambda:invoke: FunctionName (name or ARN) and Payload. */
        json_t *in = json_pack("{s:s, s:{s:i}}", "FunctionName", "ValidateImage", "Payload", "x", 1);
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:states:::lambda:invoke", in, &t, &cause), 0);
        ASSERT_STR_EQ(t.operation, "image.validate");
        ASSERT_JSON_EQ(t.input, "{\"x\":1}");
        resource_target_done(&t);
        json_decref(in);
        in = json_pack("{s:s}", "FunctionName", "arn:aws:lambda:us-east-1:1:function:Notify:$LATEST");
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:states:::lambda:invoke.waitForTaskToken", in, &t, &cause), 0);
        ASSERT_STR_EQ(t.pool, "notifier");
        ASSERT_TRUE(t.wait_for_token);
        ASSERT_JSON_EQ(t.input, "{}");
        resource_target_done(&t);
        json_decref(in);
}

TEST(unmapped) {
        _cleanup_(resources_freep) Resources *r = table();
        ResourceTarget t = {};
        char *cause = NULL;

        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:lambda:us-east-1:1:function:Nope", NULL, &t, &cause), -ENOENT);
        ASSERT_TRUE(strstr(cause, "no mapping for resource arn:aws:lambda:us-east-1:1:function:Nope") != NULL);
        free(cause);
        cause = NULL;

        json_t *in = json_pack("{s:s}", "FunctionName", "Nope");
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:states:::lambda:invoke", in, &t, &cause), -ENOENT);
        ASSERT_TRUE(strstr(cause, "no mapping for resource") != NULL);
        free(cause);
        cause = NULL;
        json_decref(in);

        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:states:::lambda:invoke", NULL, &t, &cause), -ENOENT);
        free(cause);
        cause = NULL;
        ASSERT_INT_EQ(resources_resolve(r, "arn:aws:states:::sqs:sendMessage", NULL, &t, &cause), -ENOENT);
        free(cause);
        cause = NULL;
        ASSERT_INT_EQ(resources_resolve(r, "imgflow:bad op", NULL, &t, &cause), -ENOENT);
        free(cause);
}

/* create-state-machine's check: every Task whose Resource maps to nothing
 * is named, at any depth, with its state and resource; what maps (or is
 * known only when the task runs) passes. */
TEST(check_definition) {
        _cleanup_(resources_freep) Resources *r = table();
        _cleanup_json_ json_t *ok = NULL, *bad = NULL;
        AslDiag d = {};

        ok = json_loads(
                "{\"StartAt\":\"V\",\"States\":{"
                "\"V\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:"
                "ValidateImage\",\"Next\":\"P\"},"
                "\"P\":{\"Type\":\"Parallel\",\"Next\":\"M\",\"Branches\":[{\"StartAt\":\"A\",\"States\":{"
                "\"A\":{\"Type\":\"Task\",\"Resource\":\"imgflow:image.resize\",\"Next\":\"B\"},"
                "\"B\":{\"Type\":\"Task\",\"Resource\":\"imgflow:pool:gpu\",\"Next\":\"C\"},"
                "\"C\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\","
                "\"Parameters\":{\"FunctionName\":\"Notify\"},\"Next\":\"D\"},"
                "\"D\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke.waitForTaskToken\","
                "\"Parameters\":{\"FunctionName.$\":\"$.fn\"},\"End\":true}}}]},"
                "\"M\":{\"Type\":\"Map\",\"End\":true,\"ItemProcessor\":{\"StartAt\":\"E\",\"States\":{"
                "\"E\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:us-east-1:1:activity:review\","
                "\"End\":true}}}}}}",
                0, NULL);
        ASSERT_NOT_NULL(ok);
        ASSERT_INT_EQ(resources_check_definition(r, ok, &d), 0);
        ASSERT_INT_EQ(d.n, 0);

        bad = json_loads(
                "{\"StartAt\":\"V\",\"States\":{"
                "\"V\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:1:function:Unknown\","
                "\"Next\":\"P\"},"
                "\"P\":{\"Type\":\"Parallel\",\"Next\":\"M\",\"Branches\":[{\"StartAt\":\"A\",\"States\":{"
                "\"A\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::sns:publish\",\"End\":true}}}]},"
                "\"M\":{\"Type\":\"Map\",\"End\":true,\"Iterator\":{\"StartAt\":\"C\",\"States\":{"
                "\"C\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\","
                "\"Arguments\":{\"FunctionName\":\"Nope\"},\"End\":true}}}}}}",
                0, NULL);
        ASSERT_NOT_NULL(bad);
        ASSERT_INT_EQ(resources_check_definition(r, bad, &d), -EINVAL);
        ASSERT_INT_EQ(d.n, 3);
        for (size_t i = 0; i < d.n; i++) {
                const char *p = d.entries[i].pointer, *msg = d.entries[i].message;
                if (streq(p, "/States/V/Resource"))
                        ASSERT_TRUE(
                                strstr(msg,
                                       "State 'V': Resource 'arn:aws:lambda:us-east-1:1:function:Unknown' "
                                       "maps to nothing") == msg);
                else if (streq(p, "/States/P/Branches/0/States/A/Resource"))
                        ASSERT_TRUE(strstr(msg, "State 'A': Resource 'arn:aws:states:::sns:publish' maps to "
                                                "nothing") == msg);
                else {
                        ASSERT_STR_EQ(p, "/States/M/Iterator/States/C/Resource");
                        ASSERT_TRUE(strstr(msg, "State 'C': FunctionName 'Nope' of Resource "
                                                "'arn:aws:states:::lambda:invoke' maps to nothing") == msg);
                }
        }
        asl_diag_clear(&d);
}
