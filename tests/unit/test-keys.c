/* SPDX-License-Identifier: MIT */
/*
 * api/keys: the access keys file, its lookups, and every refusal (naming
 * the key, never its secret).
 */

#include <string.h>

#include "alloc-util.h"
#include "keys.h"
#include "test.h"

#define POLICY "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"states:*\", \"Resource\": \"*\"}}"

static void refused(const char *text, const char *message) {
        _cleanup_free_ char *error = NULL;
        KeySet *k = NULL;

        if (keys_parse(text, strlen(text), &k, &error) == 0) {
                keys_free(k);
                TEST_FAIL_("accepted: %s", text);
        }
        if (!strstr(error, message))
                TEST_FAIL_("error '%s' lacks '%s'", error, message);
        if (strstr(error, "verysecretvalue0"))
                TEST_FAIL_("the error shows a secret: %s", error);
}

TEST(parse_and_find) {
        static const char text[] = "{\"keys\": ["
                                   " {\"accessKeyId\": \"AKIAZZZZZZZZZZZZZZZ2\", \"secretAccessKey\": "
                                   "\"verysecretvalue02\", \"policy\": " POLICY "},"
                                   " {\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": "
                                   "\"verysecretvalue01\", \"user\": \"ci-bot\","
                                   "  \"policy\": " POLICY "}]}";
        _cleanup_(keys_freep) KeySet *k = NULL;
        _cleanup_free_ char *error = NULL;
        const ApiKey *key;

        ASSERT_INT_EQ(keys_parse(text, strlen(text), &k, &error), 0);
        ASSERT_INT_EQ(keys_count(k), 2);
        key = keys_find(k, "AKIAAAAAAAAAAAAAAAA1");
        ASSERT_TRUE(key != NULL);
        ASSERT_STR_EQ(key->secret, "verysecretvalue01");
        ASSERT_STR_EQ(key->user, "ci-bot");
        ASSERT_INT_EQ(iam_policy_evaluate(key->policy, "states:StartExecution", "*"), IAM_ALLOW);
        key = keys_find(k, "AKIAZZZZZZZZZZZZZZZ2");
        ASSERT_STR_EQ(key->user, "AKIAZZZZZZZZZZZZZZZ2");
        ASSERT_TRUE(keys_find(k, "AKIAUNKNOWNUNKNOWN00") == NULL);
        ASSERT_TRUE(keys_find(k, NULL) == NULL);
}

TEST(refused) {
        refused("[]", "expected {\"keys\"");
        refused("{\"keys\": {}}", "expected {\"keys\"");
        refused("{\"keys\": [1]}", "key 0: expected an object");
        refused("{\"keys\": [{\"accessKeyId\": \"short\", \"secretAccessKey\": \"verysecretvalue01\", "
                "\"policy\": " POLICY "}]}",
                "key 0: accessKeyId");
        refused("{\"keys\": [{\"accessKeyId\": \"akiaaaaaaaaaaaaaaaa1\", \"secretAccessKey\": "
                "\"verysecretvalue01\", \"policy\": " POLICY "}]}",
                "key 0: accessKeyId");
        refused("{\"keys\": [{\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": \"short\", "
                "\"policy\": " POLICY "}]}",
                "key AKIAAAAAAAAAAAAAAAA1: secretAccessKey must have 16..1024");
        refused("{\"keys\": [{\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": "
                "\"verysecretvalue01\"}]}",
                "no policy");
        refused("{\"keys\": [{\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": "
                "\"verysecretvalue01\", "
                "\"policy\": {\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": "
                "\"*\", \"Condition\": {}}}}]}",
                "key AKIAAAAAAAAAAAAAAAA1: policy: Statement 0: Condition is not supported");
        refused("{\"keys\": [{\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": "
                "\"verysecretvalue01\", "
                "\"user\": \"a b\", \"policy\": " POLICY "}]}",
                "user must have");
        refused("{\"keys\": [{\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": "
                "\"verysecretvalue01\", "
                "\"extra\": 1, \"policy\": " POLICY "}]}",
                "unknown field extra");
        refused("{\"keys\": [{\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": "
                "\"verysecretvalue01\", \"policy\": " POLICY "},"
                " {\"accessKeyId\": \"AKIAAAAAAAAAAAAAAAA1\", \"secretAccessKey\": \"verysecretvalue02\", "
                "\"policy\": " POLICY "}]}",
                "appears twice");
        refused("{\"keys\": [", "not JSON");
}
