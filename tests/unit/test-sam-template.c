/* SPDX-License-Identifier: MIT */
/* cli/sam-template: SAM / CloudFormation templates (YAML or JSON) to JSON. */

#include <string.h>

#include "sam-template.h"
#include "test.h"

/* Parses text; returns the template (new reference) or NULL with *err set. */
static json_t *parse(const char *text, size_t len, char **err) {
        json_t *v = NULL;
        *err = NULL;
        int r = sam_template_parse(text, len, &v, err);
        if (r < 0) {
                ASSERT_TRUE(!v && *err);
                return NULL;
        }
        ASSERT_TRUE(v && !*err);
        return v;
}

static void refused(const char *text, size_t len, const char *message) {
        char *err;
        json_t *v = parse(text, len, &err);
        if (v) {
                json_decref(v);
                TEST_FAIL_("accepted: %s", text);
        }
        if (!strstr(err, message))
                TEST_FAIL_("%s: error \"%s\" does not hold \"%s\"", text, err, message);
        free(err);
}

TEST(yaml_short_forms) {
        static const char text[] = "Resources:\n"
                                   "  M:\n"
                                   "    Type: AWS::Serverless::StateMachine\n"
                                   "    Properties:\n"
                                   "      Role: !GetAtt Role.Arn\n"
                                   "      Name: !Sub '${AWS::StackName}-m'\n"
                                   "      Tags: [!Ref T, 3, 1.5, true, ~, '07', 07]\n";
        char *err;
        json_t *v = parse(text, strlen(text), &err);
        ASSERT_TRUE(v);
        json_t *want = json_loads("{\"Resources\": {\"M\": {\"Type\": \"AWS::Serverless::StateMachine\", "
                                  "\"Properties\": {\"Role\": {\"Fn::GetAtt\": [\"Role\", \"Arn\"]}, "
                                  "\"Name\": {\"Fn::Sub\": \"${AWS::StackName}-m\"}, "
                                  "\"Tags\": [{\"Ref\": \"T\"}, 3, 1.5, true, null, \"07\", \"07\"]}}}}",
                                  0, NULL);
        ASSERT_TRUE(want);
        ASSERT_TRUE(json_equal(v, want));
        json_decref(want);
        json_decref(v);
}

TEST(json) {
        static const char text[] = " {\"Resources\": {}}";
        char *err;
        json_t *v = parse(text, strlen(text), &err);
        ASSERT_TRUE(v && json_is_object(json_object_get(v, "Resources")));
        json_decref(v);
        refused("{\"a\": 1, \"a\": 2}", 16, "duplicate");
        refused("{\"a\": \"x\\u0000y\"}", 17, "NUL");
}

TEST(yaml_refused) {
        refused("a: &x 1\nb: *x\n", 14, "anchors");
        refused("a: !Bogus 1\n", 12, "unknown tag !Bogus");
        refused("a: 1\na: 2\n", 10, "duplicate key \"a\"");
        refused("- 1\n", 4, "not a mapping");
        refused("a: [1\n", 6, "line ");
        /* a NUL in a double-quoted scalar, as a value and as a key: JSON has
         * none either, and a key would be cut short at it */
        refused("a: \"x\\0y\"\n", 10, "line 1, column 4: a string holds a NUL character");
        refused("\"k\\0z\": 1\n", 10, "NUL character");
}

TEST(yaml_limits) {
        /* SAM_TEMPLATE_DEPTH_MAX levels, the root's included, pass; one more is refused */
        size_t n = SAM_TEMPLATE_DEPTH_MAX;
        char *text = malloc(4 * n + 16);
        ASSERT_TRUE(text);
        for (int extra = 0; extra <= 1; extra++) {
                size_t len = 0;
                len += (size_t) sprintf(text + len, "a: ");
                for (size_t i = 0; i < n - 1 + (size_t) extra; i++)
                        text[len++] = '[';
                text[len++] = '1';
                for (size_t i = 0; i < n - 1 + (size_t) extra; i++)
                        text[len++] = ']';
                text[len] = 0;
                char *err;
                json_t *v = parse(text, len, &err);
                if (extra) {
                        ASSERT_TRUE(!v && strstr(err, "nested more than 64 levels"));
                        free(err);
                } else {
                        ASSERT_TRUE(v);
                        json_decref(v);
                }
        }
        free(text);

        char *big = malloc(SAM_TEMPLATE_MAX + 2);
        ASSERT_TRUE(big);
        memset(big, ' ', SAM_TEMPLATE_MAX + 1);
        big[SAM_TEMPLATE_MAX + 1] = 0;
        refused(big, SAM_TEMPLATE_MAX + 1, "over the limit of 1048576");
        free(big);
}
