/* SPDX-License-Identifier: MIT */
/*
 * Definition parsing and validation: every rule, positive and negative,
 * checking the JSON pointer (and for some the message) of the diagnostic;
 * the image pipeline of tests/data/definitions; JSON pointer lookup.
 */
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "asl-definition.h"

/* Parses and validates; returns the number of diagnostics (0 = valid). */
static size_t check(const char *text, AslDiag *d) {
        AslMachine *m = NULL;
        int r;

        asl_diag_clear(d);
        r = asl_machine_parse(text, strlen(text), &m, d);
        for (size_t i = 0; i < d->n; i++)
                fprintf(stderr, "    diag: %s: %s\n", d->entries[i].pointer, d->entries[i].message);
        if (r == 0 && d->n != 0) {
                fprintf(stderr, "  parse returned 0 but reported diagnostics\n");
                abort();
        }
        if (r < 0 && d->n == 0) {
                fprintf(stderr, "  parse failed without diagnostics\n");
                abort();
        }
        asl_machine_free(m);
        return d->n;
}

/* The diagnostic at `pointer` whose message contains `text` (NULL: any). */
static bool has(const AslDiag *d, const char *pointer, const char *text) {
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->entries[i].pointer, pointer) &&
                    (!text || strstr(d->entries[i].message, text)))
                        return true;
        return false;
}

#define ASSERT_VALID(text)                                                      \
        do {                                                                    \
                AslDiag d_ = {};                                                \
                size_t n_ = check((text), &d_);                                 \
                asl_diag_clear(&d_);                                            \
                ASSERT_INT_EQ(n_, 0);                                           \
        } while (0)

/* Invalid with exactly one diagnostic, at pointer, containing text. */
#define ASSERT_ONLY_DIAG(text, pointer, msg)                                                                \
        do {                                                                                                \
                AslDiag d_ = {};                                                                            \
                size_t n_ = check((text), &d_);                                                             \
                bool h_ = has(&d_, (pointer), (msg));                                                       \
                asl_diag_clear(&d_);                                                                        \
                ASSERT_INT_EQ(n_, 1);                                                                       \
                if (!h_)                                                                                    \
                        TEST_FAIL_("no diagnostic at %s containing \"%s\"", (pointer), (msg) ? (msg) : ""); \
        } while (0)

/* Invalid, with (at least) a diagnostic at pointer containing text. */
#define ASSERT_DIAG(text, pointer, msg)                                         \
        do {                                                                    \
                AslDiag d_ = {};                                                \
                check((text), &d_);                                             \
                bool h_ = has(&d_, (pointer), (msg));                           \
                asl_diag_clear(&d_);                                            \
                if (!h_)                                                        \
                        TEST_FAIL_("no diagnostic at %s containing \"%s\"", (pointer), (msg) ? (msg) : ""); \
        } while (0)

/* A one-state machine around a state body. */
#define ONE(state) "{\"StartAt\": \"S\", \"States\": {\"S\": " state "}}"
/* A Task with the given Resource, ending the machine. */
#define TASK_RES(res) ONE("{\"Type\": \"Task\", \"Resource\": \"" res "\", \"End\": true}")
/* A Task named T with the given extra fields, ending the machine. */
#define TASK(extra) ONE("{\"Type\": \"Task\", \"Resource\": \"arn:r\", \"End\": true" extra "}")

#define CHOICE(body) "{\"StartAt\": \"C\", \"States\": {\"C\": {\"Type\": \"Choice\"" body "}," \
        " \"A\": {\"Type\": \"Succeed\"}, \"B\": {\"Type\": \"Fail\"}}}"

/* The code of the diagnostic at pointer (asl_diag_code()), or NULL. */
static const char *code_at(const char *text, const char *pointer, char *buf, size_t n) {
        AslDiag d = {};
        const char *found = NULL;

        check(text, &d);
        for (size_t i = 0; i < d.n && !found; i++)
                if (streq(d.entries[i].pointer, pointer)) {
                        snprintf(buf, n, "%s", asl_diag_code(&d.entries[i]));
                        found = buf;
                }
        asl_diag_clear(&d);
        return found;
}

TEST(diagnostic_codes) {
        /* the rules Step Functions' ValidateStateMachineDefinition names */
        char buf[64];

        ASSERT_STR_EQ(code_at("{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"Next\": \"A\"}}}",
                              "/States", buf, sizeof buf),
                      "MISSING_END_STATE");
        ASSERT_STR_EQ(code_at("{\"StartAt\": \"\", \"States\": {\"\": {\"Type\": \"Succeed\"}}}", "/States/", buf,
                              sizeof buf),
                      "INVALID_STATE_NAME");
        ASSERT_STR_EQ(code_at("{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Parallel\", \"End\": true, "
                              "\"Branches\": [{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Succeed\"}}}]}}}",
                              "/States/P/Branches/0/States/P", buf, sizeof buf),
                      "DUPLICATE_STATE_NAME");
        /* the others: SCHEMA_VALIDATION_FAILED */
        ASSERT_STR_EQ(code_at("{\"StartAt\": \"X\", \"States\": {\"A\": {\"Type\": \"Succeed\"}}}", "/StartAt", buf,
                              sizeof buf),
                      "SCHEMA_VALIDATION_FAILED");
}

/* ---- top level -------------------------------------------------------- */

TEST(minimal_machines) {
        ASSERT_VALID(ONE("{\"Type\": \"Pass\", \"End\": true}"));
        ASSERT_VALID(ONE("{\"Type\": \"Succeed\"}"));
        ASSERT_VALID(ONE("{\"Type\": \"Fail\", \"Error\": \"E\", \"Cause\": \"c\"}"));
        ASSERT_VALID("{\"Comment\": \"c\", \"Version\": \"1.0\", \"TimeoutSeconds\": 60, \"QueryLanguage\": \"JSONPath\","
                     " \"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"Next\": \"B\"},"
                     " \"B\": {\"Type\": \"Pass\", \"Result\": {\"x\": [1, 2]}, \"ResultPath\": \"$.r\", \"End\": true}}}");
}

TEST(json_syntax_error) {
        AslDiag d = {};
        AslMachine *m = NULL;

        ASSERT_INT_EQ(asl_machine_parse("{\"StartAt\": \n  \"A\",,}", 21, &m, &d), -EINVAL);
        ASSERT_NULL(m);
        ASSERT_INT_EQ(d.n, 1);
        ASSERT_STR_EQ(d.entries[0].pointer, "");
        ASSERT_TRUE(strstr(d.entries[0].message, "line 2") != NULL);
        ASSERT_TRUE(strstr(d.entries[0].message, "column") != NULL);
        asl_diag_clear(&d);

        /* Not NUL-terminated: only len bytes are read. */
        const char text[] = "{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Succeed\"}}}garbage";
        ASSERT_INT_EQ(asl_machine_parse(text, sizeof(text) - 1 - 7, &m, &d), 0);
        ASSERT_NOT_NULL(m);
        m = asl_machine_free(m);

        /* Duplicate keys are ambiguous and rejected. */
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Succeed\"}, \"S\": {\"Type\": \"Pass\", \"End\": true}}}",
                    "", "duplicate");
        ASSERT_DIAG("", "", "invalid JSON");
}

TEST(top_level_fields) {
        ASSERT_DIAG("[1]", "", "must be a JSON object");
        ASSERT_DIAG("\"x\"", "", "must be a JSON object");
        ASSERT_DIAG("{\"States\": {\"S\": {\"Type\": \"Succeed\"}}}", "", "StartAt");
        ASSERT_DIAG("{\"StartAt\": \"S\"}", "", "States");
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": {}}", "/States", "non-empty");
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": []}", "/States", "non-empty");
        ASSERT_DIAG("{\"StartAt\": 1, \"States\": {\"S\": {\"Type\": \"Succeed\"}}}", "/StartAt", "string");
        ASSERT_DIAG("{\"StartAt\": \"X\", \"States\": {\"S\": {\"Type\": \"Succeed\"}}}", "/StartAt", "no state named \"X\"");
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Succeed\"}}, \"Foo\": 1}", "/Foo", "unknown field");
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Succeed\"}}, \"Version\": 1}", "/Version", "string");
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Succeed\"}}, \"Comment\": 1}", "/Comment", "string");
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Succeed\"}}, \"TimeoutSeconds\": 0}", "/TimeoutSeconds", ">= 1");
        ASSERT_DIAG("{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Succeed\"}}, \"TimeoutSeconds\": 1.5}", "/TimeoutSeconds", "integer");
}

/* Definitions written with ` for ", to keep them readable. New string. */
static char *bq(const char *text) {
        char *s = strdup(text);

        for (char *p = s; *p; p++)
                if (*p == '`')
                        *p = '"';
        return s;
}

/* Valid, and a warning at `pointer` containing `msg` (NULL pointer: none at all). */
static void expect_warning(const char *text, const char *pointer, const char *msg) {
        AslDiag d = {};
        char *t = bq(text);
        size_t n = check(t, &d);
        bool found = false;

        for (size_t i = 0; i < d.n_warnings; i++) {
                fprintf(stderr, "    warning: %s: %s\n", d.warnings[i].pointer, d.warnings[i].message);
                found = found || (pointer && streq(d.warnings[i].pointer, pointer) &&
                                  strstr(d.warnings[i].message, msg));
        }
        free(t);
        if (n != 0 || (pointer && !found) || (!pointer && d.n_warnings)) {
                asl_diag_clear(&d);
                TEST_FAIL_("expected valid with %s warning at %s \"%s\"", pointer ? "a" : "no",
                           pointer ? pointer : "-", msg ? msg : "");
        }
        asl_diag_clear(&d);
}

#define VALID_Q(text)                                                                                       \
        do {                                                                                                \
                char *t_ = bq(text);                                                                        \
                AslDiag d_ = {};                                                                            \
                size_t n_ = check(t_, &d_);                                                                 \
                asl_diag_clear(&d_);                                                                        \
                free(t_);                                                                                   \
                if (n_)                                                                                     \
                        TEST_FAIL_("expected valid: %s", (text));                                           \
        } while (0)
#define DIAG_Q(text, pointer, msg)                                                                          \
        do {                                                                                                \
                char *t_ = bq(text);                                                                        \
                AslDiag d_ = {};                                                                            \
                check(t_, &d_);                                                                             \
                bool h_ = has(&d_, (pointer), (msg));                                                       \
                asl_diag_clear(&d_);                                                                        \
                free(t_);                                                                                   \
                if (!h_)                                                                                    \
                        TEST_FAIL_("no diagnostic at %s containing \"%s\"", (pointer), (msg));              \
        } while (0)

/* A machine of one state S (JSONata machine when jsonata). */
#define ONE_Q(state) "{`StartAt`: `S`, `States`: {`S`: " state "}}"
#define ONE_JSONATA(state) "{`QueryLanguage`: `JSONata`, `StartAt`: `S`, `States`: {`S`: " state "}}"

TEST(query_language) {
        VALID_Q("{`QueryLanguage`: `JSONata`, `StartAt`: `S`, `States`: {`S`: {`Type`: `Succeed`}}}");
        VALID_Q("{`QueryLanguage`: `JSONPath`, `StartAt`: `S`, `States`: {`S`: {`Type`: `Succeed`}}}");
        DIAG_Q("{`QueryLanguage`: `XPath`, `StartAt`: `S`, `States`: {`S`: {`Type`: `Succeed`}}}",
               "/QueryLanguage", "must be \"JSONPath\" or \"JSONata\"");
        DIAG_Q(ONE_Q("{`Type`: `Succeed`, `QueryLanguage`: 1}"), "/States/S/QueryLanguage", "must be");
        /* a JSONPath machine may have JSONata states ... */
        VALID_Q(ONE_Q("{`Type`: `Pass`, `QueryLanguage`: `JSONata`, `Output`: `{% $states.input.a %}`, "
                      "`End`: true}"));
        VALID_Q(ONE_Q("{`Type`: `Succeed`, `QueryLanguage`: `JSONPath`}"));
        /* ... but a JSONata machine no JSONPath states */
        DIAG_Q(ONE_JSONATA("{`Type`: `Succeed`, `QueryLanguage`: `JSONPath`}"), "/States/S",
               "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine");
        /* QueryLanguage belongs to the state machine and its states, not to a branch or an ItemProcessor */
        DIAG_Q("{`StartAt`: `P`, `States`: {`P`: {`Type`: `Parallel`, `End`: true, `Branches`: "
               "[{`QueryLanguage`: "
               "`JSONata`, `StartAt`: `A`, `States`: {`A`: {`Type`: `Succeed`}}}]}}}",
               "/States/P/Branches/0/QueryLanguage", "unknown field");
        /* states in a Map or Parallel follow the state machine's language, not the enclosing state's */
        DIAG_Q("{`StartAt`: `M`, `States`: {`M`: {`Type`: `Map`, `QueryLanguage`: `JSONata`, `End`: true, "
               "`ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Pass`, `Output`: 1, `End`: "
               "true}}}}}}",
               "/States/M/ItemProcessor/States/I",
               "field 'Output' is only supported for the 'JSONata' QueryLanguage");
}

TEST(jsonata_fields) {
        /* JSONata-only fields in a JSONPath state */
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Output`: `{% $states.input %}`}"), "/States/S",
               "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the "
               "'JSONata' "
               "QueryLanguage");
        DIAG_Q(ONE_Q("{`Type`: `Task`, `Resource`: `r`, `End`: true, `Arguments`: {}}"), "/States/S",
               "field 'Arguments' is only supported for the 'JSONata'");
        DIAG_Q("{`StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: [{`Condition`: `{% true %}`, "
               "`Next`: `A`}]}, `A`: {`Type`: `Succeed`}}}",
               "/States/C/Choices/0/Condition", "field 'Condition' is only supported for the 'JSONata'");
        /* JSONPath-only fields in a JSONata state, naming what to write instead */
        static const char *const jsonpath_only[][3] = {
                {"{`Type`: `Pass`, `End`: true, `InputPath`: `$.a`}", "InputPath",
                 "use Arguments or Output"},
                {"{`Type`: `Pass`, `End`: true, `OutputPath`: `$.a`}", "OutputPath", "use Output"},
                {"{`Type`: `Pass`, `End`: true, `ResultPath`: `$.a`}", "ResultPath", "use Output"},
                {"{`Type`: `Pass`, `End`: true, `Parameters`: {}}", "Parameters", "use Arguments"},
                {"{`Type`: `Pass`, `End`: true, `Result`: {}}", "Result", "use Output"},
                {"{`Type`: `Task`, `Resource`: `r`, `End`: true, `ResultSelector`: {}}", "ResultSelector",
                 "use Output"},
                {"{`Type`: `Task`, `Resource`: `r`, `End`: true, `TimeoutSecondsPath`: `$.t`}",
                 "TimeoutSecondsPath", "use TimeoutSeconds"},
                {"{`Type`: `Task`, `Resource`: `r`, `End`: true, `HeartbeatSecondsPath`: `$.t`}",
                 "HeartbeatSecondsPath", "use HeartbeatSeconds"},
                {"{`Type`: `Wait`, `End`: true, `SecondsPath`: `$.t`}", "SecondsPath", "use Seconds"},
                {"{`Type`: `Wait`, `End`: true, `TimestampPath`: `$.t`}", "TimestampPath", "use Timestamp"},
                {"{`Type`: `Fail`, `ErrorPath`: `$.e`}", "ErrorPath", "use Error"},
                {"{`Type`: `Fail`, `CausePath`: `$.e`}", "CausePath", "use Cause"},
                {"{`Type`: `Map`, `End`: true, `ItemsPath`: `$.a`, `ItemProcessor`: {`StartAt`: `I`, "
                 "`States`: "
                 "{`I`: {`Type`: `Succeed`}}}}",
                 "ItemsPath", "use Items"},
                {"{`Type`: `Map`, `End`: true, `MaxConcurrencyPath`: `$.a`, `ItemProcessor`: {`StartAt`: "
                 "`I`, "
                 "`States`: {`I`: {`Type`: `Succeed`}}}}",
                 "MaxConcurrencyPath", "use MaxConcurrency"},
        };
        for (size_t i = 0; i < ELEMENTSOF(jsonpath_only); i++) {
                char msg[256], text[1024];

                snprintf(msg, sizeof msg,
                         "The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the "
                         "'JSONPath' QueryLanguage; %s",
                         jsonpath_only[i][1], jsonpath_only[i][2]);
                snprintf(text, sizeof text, ONE_JSONATA("%s"), jsonpath_only[i][0]);
                DIAG_Q(text, "/States/S", msg);
        }
        /* the fields of JSONata states */
        VALID_Q(ONE_JSONATA(
                "{`Type`: `Task`, `Resource`: `r`, `End`: true, `Arguments`: {`a`: `{% $states.input.a "
                "%}`, `b`: [1, `{% $x %}`], `c`: `plain`}, `Output`: `{% $states.result %}`, "
                "`TimeoutSeconds`: `{% 10 %}`, `HeartbeatSeconds`: 5, `Assign`: {`x`: 1}}"));
        VALID_Q(ONE_JSONATA(
                "{`Type`: `Task`, `Resource`: `r`, `End`: true, `Arguments`: `{% $states.input %}`}"));
        DIAG_Q(ONE_JSONATA("{`Type`: `Task`, `Resource`: `r`, `End`: true, `Arguments`: 5}"),
               "/States/S/Arguments", "must be an object or a JSONata expression");
        DIAG_Q(ONE_JSONATA("{`Type`: `Task`, `Resource`: `r`, `End`: true, `TimeoutSeconds`: `ten`}"),
               "/States/S/TimeoutSeconds", "integer");
        VALID_Q(ONE_JSONATA("{`Type`: `Wait`, `End`: true, `Seconds`: `{% $states.input.n %}`}"));
        VALID_Q(ONE_JSONATA("{`Type`: `Wait`, `End`: true, `Timestamp`: `{% $states.input.t %}`}"));
        DIAG_Q(ONE_JSONATA("{`Type`: `Wait`, `End`: true, `Timestamp`: `tomorrow`}"), "/States/S/Timestamp",
               "RFC 3339");
        VALID_Q(ONE_JSONATA("{`Type`: `Fail`, `Error`: `{% $states.input.e %}`, `Cause`: `literal`}"));
        DIAG_Q(ONE_JSONATA("{`Type`: `Fail`, `Output`: 1}"), "/States/S/Output",
               "not allowed in a Fail state");
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Arguments`: {}}"), "/States/S/Arguments",
               "not allowed in a Pass state");
        VALID_Q(ONE_JSONATA(
                "{`Type`: `Map`, `End`: true, `Items`: `{% $states.input.list %}`, `ItemSelector`: "
                "{`v`: `{% $states.context.Map.Item.Value %}`}, `MaxConcurrency`: `{% 2 %}`, "
                "`ToleratedFailureCount`: `{% 1 %}`, `ToleratedFailurePercentage`: 10, "
                "`ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Succeed`}}}}"));
        DIAG_Q(ONE_JSONATA(
                       "{`Type`: `Map`, `End`: true, `Items`: {`a`: 1}, `ItemProcessor`: {`StartAt`: `I`, "
                       "`States`: {`I`: {`Type`: `Succeed`}}}}"),
               "/States/S/Items", "must be an array or a JSONata expression");
        VALID_Q(ONE_JSONATA("{`Type`: `Parallel`, `End`: true, `Arguments`: {`x`: 1}, `Output`: `{% "
                            "$states.result[0] %}`, `Branches`: [{`StartAt`: `A`, `States`: {`A`: {`Type`: "
                            "`Succeed`}}}]}"));
        /* JSONata Choice rules: Condition, Next, Assign, Output */
        VALID_Q("{`QueryLanguage`: `JSONata`, `StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: "
                "[{`Condition`: `{% $states.input.n > 1 %}`, `Next`: `A`, `Output`: {`big`: true}, "
                "`Assign`: "
                "{`n`: `{% $states.input.n %}`}}, {`Condition`: false, `Next`: `A`}], `Default`: `A`, "
                "`Output`: `{% $states.input %}`}, `A`: {`Type`: `Succeed`}}}");
        DIAG_Q("{`QueryLanguage`: `JSONata`, `StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: "
               "[{`Variable`: `$.n`, `NumericEquals`: 1, `Next`: `A`}]}, `A`: {`Type`: `Succeed`}}}",
               "/States/C/Choices/0/Variable", "use Condition");
        DIAG_Q("{`QueryLanguage`: `JSONata`, `StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: "
               "[{`Next`: `A`}]}, `A`: {`Type`: `Succeed`}}}",
               "/States/C/Choices/0", "needs Condition");
        DIAG_Q("{`QueryLanguage`: `JSONata`, `StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: "
               "[{`Condition`: `yes`, `Next`: `A`}]}, `A`: {`Type`: `Succeed`}}}",
               "/States/C/Choices/0/Condition", "must be true, false or a JSONata expression");
        /* catchers: Output and Assign in JSONata, ResultPath in JSONPath */
        VALID_Q(ONE_JSONATA("{`Type`: `Task`, `Resource`: `r`, `End`: true, `Catch`: [{`ErrorEquals`: "
                            "[`States.ALL`], `Next`: `S`, `Output`: `{% $states.errorOutput %}`, `Assign`: "
                            "{`e`: `{% $states.errorOutput.Error %}`}}]}"));
        DIAG_Q(ONE_JSONATA("{`Type`: `Task`, `Resource`: `r`, `End`: true, `Catch`: [{`ErrorEquals`: "
                           "[`States.ALL`], `Next`: `S`, `ResultPath`: `$.e`}]}"),
               "/States/S/Catch/0/ResultPath", "use Output");
        DIAG_Q(ONE_Q("{`Type`: `Task`, `Resource`: `r`, `End`: true, `Catch`: [{`ErrorEquals`: "
                     "[`States.ALL`], "
                     "`Next`: `S`, `Output`: 1}]}"),
               "/States/S/Catch/0/Output", "only supported for the 'JSONata'");
}

TEST(jsonata_expressions) {
        /* compiled at validation: a syntax error is the definition's */
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: {`a`: [`{% 1 + %}`]}}"),
               "/States/S/Output/a/0", "Invalid JSONata expression: S0");
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: `{%%}`}"), "/States/S/Output",
               "Invalid JSONata expression");
        /* strings that are not wholly {% %} are literals */
        VALID_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: [`{% 1 +`, `x {% 1 %}`, `%}`]}"));
        /* references Step Functions refuses */
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: {`v`: `{% phone.number %}`}}"),
               "/States/S/Output/v", "Reference to 'phone' at the top level is not supported.");
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: `{% $$.a %}`}"), "/States/S/Output",
               "Reference to '$$' is not supported.");
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: `{% $states.result %}`}"),
               "/States/S/Output", "Field '$states.result' does not exist.");
        DIAG_Q(ONE_JSONATA("{`Type`: `Task`, `Resource`: `r`, `End`: true, `Arguments`: `{% $states.result "
                           "%}`}"),
               "/States/S/Arguments", "Field '$states.result' does not exist.");
        DIAG_Q(ONE_JSONATA("{`Type`: `Task`, `Resource`: `r`, `End`: true, `Output`: `{% "
                           "$states.errorOutput %}`}"),
               "/States/S/Output", "Field '$states.errorOutput' does not exist.");
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: `{% $states.inptu %}`}"),
               "/States/S/Output", "Field '$states.inptu' does not exist.");
        /* names in predicates, later steps and lambdas' parameters are fine */
        VALID_Q(ONE_JSONATA(
                "{`Type`: `Pass`, `End`: true, `Output`: `{% $states.input.items[price > 3].name ~> "
                "$map(function($v){ $uppercase($v) }) %}`}"));
        /* $states.context anywhere, $states.result in Output and Assign of Task/Parallel/Map */
        VALID_Q(ONE_JSONATA(
                "{`Type`: `Task`, `Resource`: `r`, `End`: true, `Arguments`: `{% "
                "$states.context.Execution.Id %}`, `Output`: `{% $states.result %}`, `Assign`: {`r`: "
                "`{% $states.result %}`}}"));
}

TEST(variables_validation) {
        /* names: Unicode identifiers up to 80 characters, not "states" */
        VALID_Q(ONE_Q(
                "{`Type`: `Pass`, `End`: true, `Assign`: {`x`: 1, `ßtraße`: 2, `a_1`: 3, `y.$`: `$.a`}}"));
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: {`1x`: 1}}"), "/States/S/Assign/1x",
               "Invalid variable name '1x'");
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: {`_x`: 1}}"), "/States/S/Assign/_x",
               "Invalid variable");
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: {`a-b`: 1}}"), "/States/S/Assign/a-b",
               "Invalid variable");
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: {`states`: 1}}"), "/States/S/Assign/states",
               "reserved");
        DIAG_Q(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Assign`: {`x.$`: 1}}"), "/States/S/Assign/x.$",
               "Invalid variable name 'x.$'");
        VALID_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: "
                      "{`a2345678901234567890123456789012345678901234567890"
                      "123456789012345678901234567890`: 1}}"));
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: "
                     "{`a2345678901234567890123456789012345678901234567890"
                     "1234567890123456789012345678901`: 1}}"),
               "/States/S/Assign/"
               "a23456789012345678901234567890123456789012345678901234567890123456789012345678901",
               "Invalid variable");
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: {`x`: 1, `x.$`: `$.a`}}"),
               "/States/S/Assign/x.$", "both");
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: [1]}"), "/States/S/Assign",
               "must be an object");
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `End`: true, `Assign`: {`x.$`: `nope`}}"), "/States/S/Assign/x.$",
               "must be a JSONPath");
        DIAG_Q(ONE_Q("{`Type`: `Succeed`, `Assign`: {`x`: 1}}"), "/States/S/Assign",
               "not allowed in a Succeed");
        DIAG_Q(ONE_Q("{`Type`: `Fail`, `Assign`: {`x`: 1}}"), "/States/S/Assign", "not allowed in a Fail");
        /* on Choice rules (top level only) and catchers */
        VALID_Q("{`StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$.a`, "
                "`IsPresent`: true, `Next`: `A`, `Assign`: {`r.$`: `$.a`}}], `Default`: `A`, `Assign`: "
                "{`d`: 1}}, "
                "`A`: {`Type`: `Succeed`}}}");
        DIAG_Q("{`StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: [{`Not`: {`Variable`: `$.a`, "
               "`IsPresent`: true, `Assign`: {`x`: 1}}, `Next`: `A`}]}, `A`: {`Type`: `Succeed`}}}",
               "/States/C/Choices/0/Not/Assign", "only allowed in a top-level choice rule");
        VALID_Q(ONE_Q(
                "{`Type`: `Task`, `Resource`: `r`, `End`: true, `Catch`: [{`ErrorEquals`: [`States.ALL`], "
                "`Next`: `S`, `Assign`: {`err.$`: `$.Error`}}]}"));
        /* an inner scope may not assign a name of an outer one */
        DIAG_Q("{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `Assign`: {`x`: 1}, `Next`: `M`}, `M`: "
               "{`Type`: "
               "`Map`, `End`: true, `ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Pass`, "
               "`End`: true, "
               "`Assign`: {`x`: 2}}}}}}}",
               "/States/M/ItemProcessor/States/I/Assign/x",
               "The variable name 'x' was already defined in a parent scope.");
        DIAG_Q("{`StartAt`: `P`, `States`: {`P`: {`Type`: `Parallel`, `End`: true, `Catch`: "
               "[{`ErrorEquals`: "
               "[`States.ALL`], `Next`: `F`, `Assign`: {`y`: 1}}], `Branches`: [{`StartAt`: `B`, `States`: "
               "{`B`: "
               "{`Type`: `Pass`, `End`: true, `Assign`: {`y`: 2}}}}]}, `F`: {`Type`: `Fail`}}}",
               "/States/P/Branches/0/States/B/Assign/y", "already defined in a parent scope");
        /* sibling scopes may use the same names */
        VALID_Q("{`StartAt`: `P`, `States`: {`P`: {`Type`: `Parallel`, `End`: true, `Branches`: "
                "[{`StartAt`: `B`, "
                "`States`: {`B`: {`Type`: `Pass`, `End`: true, `Assign`: {`y`: 2}}}}, {`StartAt`: `C`, "
                "`States`: "
                "{`C`: {`Type`: `Pass`, `End`: true, `Assign`: {`y`: 3}}}}]}}}");
}

TEST(variable_references) {
        /* JSONPath: $name in paths, templates, intrinsics and Choice rules */
        expect_warning(
                "{`StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `Assign`: {`x`: {`k`: 1}}, `Next`: `B`}, "
                "`B`: {`Type`: `Pass`, `InputPath`: `$x`, `Parameters`: {`a.$`: `$x.k`, `b.$`: "
                "`States.Format('{}', $x.k)`}, `End`: true}}}",
                NULL, NULL);
        expect_warning(ONE_Q("{`Type`: `Pass`, `InputPath`: `$nope`, `End`: true}"), "/States/S/InputPath",
                       "Variable 'nope' is possibly not defined.");
        expect_warning(
                ONE_Q("{`Type`: `Pass`, `Parameters`: {`a.$`: `States.Array($.a, $nope2, '$fake')`}, `End`: "
                      "true}"),
                "/States/S/Parameters/a.$", "Variable 'nope2' is possibly not defined.");
        expect_warning("{`StartAt`: `C`, `States`: {`C`: {`Type`: `Choice`, `Choices`: [{`Variable`: `$v`, "
                       "`StringEqualsPath`: `$w`, `Next`: `A`}]}, `A`: {`Type`: `Succeed`}}}",
                       "/States/C/Choices/0/StringEqualsPath", "Variable 'w' is possibly not defined.");
        /* ResultPath never reads a variable */
        DIAG_Q(ONE_Q("{`Type`: `Pass`, `ResultPath`: `$x`, `End`: true}"), "/States/S/ResultPath",
               "not a variable");
        /* JSONata: free variables that no state assigns and no function has */
        expect_warning(ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Output`: `{% $undefinedVar %}`}"),
                       "/States/S/Output", "Variable 'undefinedVar' is possibly not defined.");
        expect_warning(
                ONE_JSONATA("{`Type`: `Pass`, `End`: true, `Assign`: {`n`: 1}, `Output`: `{% ($y := 2; "
                            "$sum([$n, $y])) ~> $string() %}`}"),
                NULL, NULL);
        /* outer variables are visible inside a Map, the inner ones are not outside it */
        expect_warning(
                "{`QueryLanguage`: `JSONata`, `StartAt`: `A`, `States`: {`A`: {`Type`: `Pass`, `Assign`: "
                "{`outer`: 1}, `Next`: `M`}, `M`: {`Type`: `Map`, `Next`: `Z`, `Items`: [1], "
                "`ItemProcessor`: {`StartAt`: `I`, `States`: {`I`: {`Type`: `Pass`, `End`: true, `Assign`: "
                "{`inner`: `{% $outer %}`}}}}}, `Z`: {`Type`: `Pass`, `End`: true, `Output`: `{% $inner "
                "%}`}}}",
                "/States/Z/Output", "Variable 'inner' is possibly not defined.");
}

/* ---- states and transitions ------------------------------------------ */

TEST(state_type) {
        ASSERT_DIAG(ONE("{\"End\": true}"), "/States/S", "Type");
        ASSERT_DIAG(ONE("{\"Type\": \"Lambda\", \"End\": true}"), "/States/S/Type", "must be one of");
        ASSERT_DIAG(ONE("{\"Type\": 3}"), "/States/S/Type", "must be one of");
        ASSERT_DIAG(ONE("3"), "/States/S", "object");
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"End\": true, \"Colour\": 1}"), "/States/S/Colour", "unknown field");
}

TEST(next_and_end) {
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\"}"), "/States/S", "Next or \"End\": true");
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"End\": false}"), "/States/S", "Next or \"End\": true");
        ASSERT_DIAG("{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"Next\": \"B\", \"End\": true},"
                    " \"B\": {\"Type\": \"Succeed\"}}}", "/States/A/End", "mutually exclusive");
        ASSERT_VALID("{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"Next\": \"B\", \"End\": false},"
                     " \"B\": {\"Type\": \"Succeed\"}}}");
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"End\": \"yes\"}"), "/States/S/End", "boolean");
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"Next\": \"Nowhere\"}"), "/States/S/Next", "no state named \"Nowhere\"");
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"Next\": 4}"), "/States/S/Next", "string");
        /* Terminal states may not have Next or End. */
        ASSERT_DIAG("{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Succeed\", \"Next\": \"B\"},"
                    " \"B\": {\"Type\": \"Succeed\"}}}", "/States/A/Next", "not allowed in a Succeed state");
        ASSERT_DIAG(ONE("{\"Type\": \"Fail\", \"End\": true}"), "/States/S/End", "not allowed in a Fail state");
}

TEST(unreachable_states) {
        AslDiag d = {};

        check("{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"End\": true},"
              " \"Orphan\": {\"Type\": \"Pass\", \"Next\": \"A\"}, \"Lost\": {\"Type\": \"Succeed\"}}}", &d);
        ASSERT_INT_EQ(d.n, 2);
        ASSERT_TRUE(has(&d, "/States/Orphan", "not reachable"));
        ASSERT_TRUE(has(&d, "/States/Lost", "not reachable"));
        asl_diag_clear(&d);

        /* Reachable through Default, Choices and Catch. */
        ASSERT_VALID("{\"StartAt\": \"C\", \"States\": {"
                     "\"C\": {\"Type\": \"Choice\", \"Choices\": [{\"Variable\": \"$.a\", \"IsNull\": true, \"Next\": \"T\"}],"
                     " \"Default\": \"D\"},"
                     "\"T\": {\"Type\": \"Task\", \"Resource\": \"r\", \"Catch\": [{\"ErrorEquals\": [\"States.ALL\"], \"Next\": \"F\"}],"
                     " \"End\": true},"
                     "\"D\": {\"Type\": \"Succeed\"}, \"F\": {\"Type\": \"Fail\"}}}");
}

TEST(no_terminal_state) {
        ASSERT_DIAG("{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"Next\": \"B\"},"
                    " \"B\": {\"Type\": \"Pass\", \"Next\": \"A\"}}}", "/States", "no terminal state");
}

TEST(state_names) {
        char name[82], text[512];

        memset(name, 'n', 80);
        name[80] = 0;
        snprintf(text, sizeof(text), "{\"StartAt\": \"%s\", \"States\": {\"%s\": {\"Type\": \"Succeed\"}}}", name, name);
        ASSERT_VALID(text);
        name[80] = 'n';
        name[81] = 0;
        snprintf(text, sizeof(text), "{\"StartAt\": \"%s\", \"States\": {\"%s\": {\"Type\": \"Succeed\"}}}", name, name);
        char pointer[256];
        snprintf(pointer, sizeof(pointer), "/States/%s", name);
        ASSERT_DIAG(text, pointer, "80 characters");
        ASSERT_DIAG("{\"StartAt\": \"\", \"States\": {\"\": {\"Type\": \"Succeed\"}}}", "/States/", "1 to 80");
        /* 80 characters, not bytes: 80 two-byte characters are fine. */
        char wide[2 * 81 + 1] = "";
        for (int i = 0; i < 80; i++)
                strcat(wide, "\xc3\xa9");
        char wtext[1024];
        snprintf(wtext, sizeof(wtext), "{\"StartAt\": \"%s\", \"States\": {\"%s\": {\"Type\": \"Succeed\"}}}", wide, wide);
        ASSERT_VALID(wtext);
        strcat(wide, "\xc3\xa9");
        snprintf(wtext, sizeof(wtext), "{\"StartAt\": \"%s\", \"States\": {\"%s\": {\"Type\": \"Succeed\"}}}", wide, wide);
        snprintf(pointer, sizeof(pointer), "/States/%s", wide);
        ASSERT_DIAG(wtext, pointer, "1 to 80");
        /* Names with '/' and '~' are escaped in pointers (RFC 6901). */
        ASSERT_DIAG("{\"StartAt\": \"a/b~c\", \"States\": {\"a/b~c\": {\"Type\": \"Pass\"}}}", "/States/a~1b~0c", "Next or");
}

/* ---- Task ------------------------------------------------------------- */

TEST(task_fields) {
        ASSERT_VALID(TASK(", \"TimeoutSeconds\": 300, \"HeartbeatSeconds\": 60, \"Comment\": \"c\","
                          " \"InputPath\": \"$.in\", \"OutputPath\": \"$.out\", \"ResultPath\": \"$.r\","
                          " \"Parameters\": {\"a\": 1, \"b.$\": \"$.b\", \"c.$\": \"$$.Execution.Id\"},"
                          " \"ResultSelector\": {\"x.$\": \"$.Payload\"}, \"Credentials\": {\"RoleArn\": \"arn:role\"}"));
        ASSERT_VALID(TASK(", \"TimeoutSecondsPath\": \"$.t\", \"HeartbeatSecondsPath\": \"$.h\""));
        ASSERT_VALID(TASK(", \"InputPath\": null, \"OutputPath\": null, \"ResultPath\": null"));
        ASSERT_DIAG(ONE("{\"Type\": \"Task\", \"End\": true}"), "/States/S", "needs Resource");
        ASSERT_DIAG(ONE("{\"Type\": \"Task\", \"Resource\": \"\", \"End\": true}"), "/States/S/Resource", "non-empty");
        ASSERT_DIAG(ONE("{\"Type\": \"Task\", \"Resource\": 5, \"End\": true}"), "/States/S/Resource", "string");
        ASSERT_DIAG(TASK(", \"TimeoutSeconds\": 0"), "/States/S/TimeoutSeconds", "must be >= 1");
        ASSERT_DIAG(TASK(", \"TimeoutSeconds\": -3"), "/States/S/TimeoutSeconds", "must be >= 1");
        ASSERT_DIAG(TASK(", \"TimeoutSeconds\": \"10\""), "/States/S/TimeoutSeconds", "integer");
        ASSERT_DIAG(TASK(", \"TimeoutSeconds\": 100000000"), "/States/S/TimeoutSeconds", "<=");
        ASSERT_DIAG(TASK(", \"TimeoutSeconds\": 10, \"TimeoutSecondsPath\": \"$.t\""),
                    "/States/S/TimeoutSecondsPath", "mutually exclusive");
        ASSERT_DIAG(TASK(", \"HeartbeatSeconds\": 10, \"HeartbeatSecondsPath\": \"$.t\""),
                    "/States/S/HeartbeatSecondsPath", "mutually exclusive");
        ASSERT_DIAG(TASK(", \"TimeoutSeconds\": 10, \"HeartbeatSeconds\": 10"),
                    "/States/S/HeartbeatSeconds", "smaller than TimeoutSeconds");
        ASSERT_DIAG(TASK(", \"HeartbeatSeconds\": 0"), "/States/S/HeartbeatSeconds", ">= 1");
        ASSERT_DIAG(TASK(", \"TimeoutSecondsPath\": \"t\""), "/States/S/TimeoutSecondsPath", "'$'");
        ASSERT_DIAG(TASK(", \"TimeoutSecondsPath\": \"$.t[*]\""), "/States/S/TimeoutSecondsPath", "reference path");
        ASSERT_DIAG(TASK(", \"Credentials\": \"role\""), "/States/S/Credentials", "object");
        ASSERT_DIAG(TASK(", \"Result\": 1"), "/States/S/Result", "not allowed in a Task state");
        ASSERT_DIAG(TASK(", \"Seconds\": 1"), "/States/S/Seconds", "not allowed in a Task state");
}

TEST(paths) {
        /* InputPath/OutputPath accept query forms; ResultPath only reference paths into the input. */
        ASSERT_VALID(TASK(", \"InputPath\": \"$.items[?(@.size > 10)]\", \"OutputPath\": \"$..key\""));
        ASSERT_VALID(TASK(", \"InputPath\": \"$$.Execution.Input\""));
        ASSERT_DIAG(TASK(", \"InputPath\": \"items\""), "/States/S/InputPath", "'$'");
        ASSERT_DIAG(TASK(", \"InputPath\": 3"), "/States/S/InputPath", "string");
        ASSERT_DIAG(TASK(", \"OutputPath\": \"$.a[\""), "/States/S/OutputPath", "invalid JSONPath");
        ASSERT_DIAG(TASK(", \"ResultPath\": \"$.a[*]\""), "/States/S/ResultPath", "reference path");
        ASSERT_DIAG(TASK(", \"ResultPath\": \"$$.Execution\""), "/States/S/ResultPath", "context");
        ASSERT_DIAG(TASK(", \"ResultPath\": \"$.a[-1]\""), "/States/S/ResultPath", NULL);
}

/* Paths with a dot before a bracket, as real workflows write them and AWS (Jayway) accepts. */
TEST(paths_dot_before_bracket) {
        ASSERT_VALID(ONE("{\"Type\": \"Pass\", \"InputPath\": \"$.[0]\", \"End\": true}"));
        ASSERT_VALID(ONE("{\"Type\": \"Pass\", \"Parameters\": {\"s.$\": \"$.Snapshots.[0].State\","
                         " \"f.$\": \"$.[?(@.OU > 0)]\", \"u.$\": \"$.[*].['bucket', 'key']\"},"
                         " \"ResultPath\": \"$.r.[0]\", \"End\": true}"));
        ASSERT_VALID(ONE("{\"Type\": \"Map\", \"ItemsPath\": \"$.Items.[0].list\","
                         " \"ItemProcessor\": {\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Pass\", "
                         "\"End\": true}}},"
                         " \"End\": true}"));
        ASSERT_VALID(
                CHOICE(", \"Choices\": [{\"Variable\": \"$.[0].x\", \"IsPresent\": true, \"Next\": \"A\"}],"
                       " \"Default\": \"B\""));
        ASSERT_VALID(ONE(
                "{\"Type\": \"Pass\", \"Parameters\": {\"a.$\": \"States.Array($.[0])\"}, \"End\": true}"));
        ASSERT_VALID(
                ONE("{\"Type\": \"Pass\", \"Parameters\": {\"a.$\": \"$['a\\\\\\\"b']\"}, \"End\": true}"));
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"InputPath\": \"$.[\", \"End\": true}"),
                    "/States/S/InputPath", "invalid JSONPath");
}

/* Step Functions refuses escapes other than \\' \\{ \\} \\\\ in intrinsic string literals. */
TEST(intrinsic_literal_escapes) {
        ASSERT_VALID(ONE("{\"Type\": \"Pass\", \"Parameters\": {\"a.$\": \"States.Format('\\\\'{}\\\\'', "
                         "$.x)\"}, \"End\": true}"));
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"Parameters\": {\"a.$\": "
                        "\"States.Format('\\\\\\\"{}\\\\\\\"', $.x)\"}, \"End\": true}"),
                    "/States/S/Parameters/a.$", "invalid escape");
}

/* A state machine's type: EXPRESS refuses Run a Job (.sync), Wait for Callback (.waitForTaskToken) and
 * activities, at the Resource, with Step Functions' messages; STANDARD takes them. */
static size_t check_type(const char *text, AslMachineType type, AslDiag *d) {
        AslMachine *m = NULL;
        int r;

        asl_diag_clear(d);
        r = asl_machine_parse_type(text, strlen(text), type, &m, d);
        if ((r == 0) != (d->n == 0))
                abort();
        if (m && m->type != type)
                abort();
        asl_machine_free(m);
        return d->n;
}

TEST(express_rules) {
        static const struct {
                const char *resource, *message; /* NULL: valid in EXPRESS too */
        } cases[] = {
                { "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                  "Express state machine does not support '.waitForTaskToken' service integration" },
                { "arn:aws:states:::lambda:invoke.waitForTaskToken",
                  "Express state machine does not support '.waitForTaskToken' service integration" },
                { "arn:aws:states:::glue:startJobRun.sync",
                  "Express state machine does not support '.sync' service integration" },
                { "arn:aws:states:::states:startExecution.sync:2",
                  "Express state machine does not support '.sync' service integration" },
                { "arn:aws:states:us-east-1:123456789012:activity:review",
                  "Express state machine does not support Activity ARN" },
                { "arn:aws:states:::lambda:invoke", NULL },
                { "arn:aws:states:::states:startExecution", NULL },
                { "arn:aws:lambda:us-east-1:123456789012:function:resize.sync", NULL },
                { "imgflow:image.resize", NULL },
                { "imgflow:pool:reviewers.waitForTaskToken",
                  "Express state machine does not support '.waitForTaskToken' service integration" },
        };
        AslDiag d = {};

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char def[512];

                snprintf(def, sizeof def,
                         "{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Parallel\", \"Branches\": [{"
                         "\"StartAt\": \"T\", \"States\": {\"T\": {\"Type\": \"Task\", \"Resource\": \"%s\", "
                         "\"End\": true}}}], \"End\": true}}}",
                         cases[i].resource);
                ASSERT_INT_EQ(check_type(def, ASL_MACHINE_STANDARD, &d), 0);
                if (!cases[i].message) {
                        ASSERT_INT_EQ(check_type(def, ASL_MACHINE_EXPRESS, &d), 0);
                        continue;
                }
                ASSERT_INT_EQ(check_type(def, ASL_MACHINE_EXPRESS, &d), 1);
                ASSERT_STR_EQ(d.entries[0].pointer, "/States/P/Branches/0/States/T/Resource");
                ASSERT_STR_EQ(d.entries[0].message, cases[i].message);
        }
        asl_diag_clear(&d);

        /* asl_machine_parse() and asl_definition_validate() are STANDARD. */
        const char *wftt = TASK_RES("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
        ASSERT_VALID(wftt);
        json_t *j = json_loads(wftt, 0, NULL);
        ASSERT_INT_EQ(asl_definition_validate(j, NULL), 0);
        ASSERT_INT_EQ(asl_definition_validate_type(j, ASL_MACHINE_EXPRESS, NULL), -EINVAL);
        ASSERT_INT_EQ(asl_definition_validate_type(j, _ASL_MACHINE_TYPE_MAX, NULL), -EINVAL);
        json_decref(j);

        AslMachineType t;
        ASSERT_INT_EQ(asl_machine_type_from_string("EXPRESS", &t), 0);
        ASSERT_INT_EQ(t, ASL_MACHINE_EXPRESS);
        ASSERT_INT_EQ(asl_machine_type_from_string("STANDARD", &t), 0);
        ASSERT_INT_EQ(t, ASL_MACHINE_STANDARD);
        ASSERT_INT_EQ(asl_machine_type_from_string("express", &t), -EINVAL);
        ASSERT_INT_EQ(asl_machine_type_from_string(NULL, &t), -EINVAL);
        ASSERT_STR_EQ(asl_machine_type_to_string(ASL_MACHINE_EXPRESS), "EXPRESS");
        ASSERT_NULL(asl_machine_type_to_string(_ASL_MACHINE_TYPE_MAX));
}

TEST(payload_templates) {
        ASSERT_VALID(TASK(", \"Parameters\": {\"list\": [{\"a.$\": \"$.a\"}, 2], \"nested\": {\"b.$\": \"$.b[0]\"},"
                          " \"f.$\": \"States.Format('{} x', $.name)\", \"all.$\": \"$\", \"q.$\": \"$.items[*].id\","
                          " \"plain$\": \"not a path\"}"));
        ASSERT_DIAG(TASK(", \"Parameters\": {\"a.$\": \"a\"}"), "/States/S/Parameters/a.$", "JSONPath");
        ASSERT_DIAG(TASK(", \"Parameters\": {\"a.$\": 3}"), "/States/S/Parameters/a.$", "string");
        ASSERT_DIAG(TASK(", \"Parameters\": {\"a.$\": \"$.[\"}"), "/States/S/Parameters/a.$", "invalid JSONPath");
        ASSERT_DIAG(TASK(", \"Parameters\": {\"x\": {\"y\": [0, {\"a.$\": \"$$.[\"}]}}"),
                    "/States/S/Parameters/x/y/1/a.$", "invalid JSONPath");
        ASSERT_DIAG(TASK(", \"Parameters\": {\"a.$\": \"States.Nope(1)\"}"), "/States/S/Parameters/a.$", "intrinsic");
        ASSERT_DIAG(TASK(", \"Parameters\": {\"a.$\": \"States.Format('x'\"}"), "/States/S/Parameters/a.$", "intrinsic");
        ASSERT_DIAG(TASK(", \"Parameters\": {\"a\": 1, \"a.$\": \"$.a\"}"), "/States/S/Parameters/a.$", "both");
        ASSERT_DIAG(TASK(", \"Parameters\": [1]"), "/States/S/Parameters", "object");
        ASSERT_DIAG(TASK(", \"ResultSelector\": {\"r.$\": \"nope\"}"), "/States/S/ResultSelector/r.$", NULL);
}

/* ---- Retry and Catch -------------------------------------------------- */

TEST(retry) {
        AslDiag d = {};

        ASSERT_VALID(TASK(", \"Retry\": [{\"ErrorEquals\": [\"Image.Invalid\", \"States.Timeout\"], \"IntervalSeconds\": 1,"
                          " \"MaxAttempts\": 0, \"BackoffRate\": 1.0, \"MaxDelaySeconds\": 5, \"JitterStrategy\": \"FULL\","
                          " \"Comment\": \"c\"}, {\"ErrorEquals\": [\"States.ALL\"], \"BackoffRate\": 2, \"JitterStrategy\": \"NONE\"}]"));
        ASSERT_VALID(TASK(", \"Retry\": []"));

        /* The exact diagnostic of the design document. */
        check("{\"StartAt\": \"Resize\", \"States\": {\"Resize\": {\"Type\": \"Task\", \"Resource\": \"r\", \"End\": true,"
              " \"Retry\": [{\"ErrorEquals\": [\"States.ALL\"], \"BackoffRate\": 0.5}]}}}", &d);
        ASSERT_INT_EQ(d.n, 1);
        ASSERT_STR_EQ(d.entries[0].pointer, "/States/Resize/Retry/0/BackoffRate");
        ASSERT_STR_EQ(d.entries[0].message, "must be >= 1.0");
        asl_diag_clear(&d);

        ASSERT_DIAG(TASK(", \"Retry\": {}"), "/States/S/Retry", "array");
        ASSERT_DIAG(TASK(", \"Retry\": [3]"), "/States/S/Retry/0", "object");
        ASSERT_DIAG(TASK(", \"Retry\": [{}]"), "/States/S/Retry/0", "ErrorEquals");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": []}]"), "/States/S/Retry/0/ErrorEquals", "non-empty");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": \"States.ALL\"}]"), "/States/S/Retry/0/ErrorEquals", "array");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"\"]}]"), "/States/S/Retry/0/ErrorEquals/0", "non-empty");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [1]}]"), "/States/S/Retry/0/ErrorEquals/0", "string");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"States.Timeout\", \"States.ALL\"]}]"),
                    "/States/S/Retry/0/ErrorEquals/1", "alone");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"States.ALL\"]}, {\"ErrorEquals\": [\"X\"]}]"),
                    "/States/S/Retry/0/ErrorEquals/0", "last retrier");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"X\"], \"IntervalSeconds\": 0}]"),
                    "/States/S/Retry/0/IntervalSeconds", "must be >= 1");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"X\"], \"IntervalSeconds\": 1.5}]"),
                    "/States/S/Retry/0/IntervalSeconds", "integer");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"X\"], \"MaxAttempts\": -1}]"),
                    "/States/S/Retry/0/MaxAttempts", "must be >= 0");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"X\"], \"BackoffRate\": \"2\"}]"),
                    "/States/S/Retry/0/BackoffRate", "number");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"X\"], \"MaxDelaySeconds\": 0}]"),
                    "/States/S/Retry/0/MaxDelaySeconds", "must be >= 1");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"X\"], \"JitterStrategy\": \"HALF\"}]"),
                    "/States/S/Retry/0/JitterStrategy", "FULL");
        ASSERT_DIAG(TASK(", \"Retry\": [{\"ErrorEquals\": [\"X\"], \"Next\": \"S\"}]"),
                    "/States/S/Retry/0/Next", "unknown field");
}

TEST(catch) {
        ASSERT_VALID("{\"StartAt\": \"T\", \"States\": {\"T\": {\"Type\": \"Task\", \"Resource\": \"r\", \"End\": true,"
                     " \"Catch\": [{\"ErrorEquals\": [\"Image.Invalid\"], \"Next\": \"F\", \"ResultPath\": \"$.err\"},"
                     " {\"ErrorEquals\": [\"States.ALL\"], \"Next\": \"F\", \"ResultPath\": null, \"Comment\": \"c\"}]},"
                     " \"F\": {\"Type\": \"Fail\", \"ErrorPath\": \"$.err.Error\", \"CausePath\": \"$.err.Cause\"}}}");
        ASSERT_DIAG(TASK(", \"Catch\": [{\"ErrorEquals\": [\"X\"]}]"), "/States/S/Catch/0", "needs Next");
        ASSERT_DIAG(TASK(", \"Catch\": [{\"ErrorEquals\": [\"X\"], \"Next\": \"Nope\"}]"),
                    "/States/S/Catch/0/Next", "no state named \"Nope\"");
        ASSERT_DIAG(TASK(", \"Catch\": [{\"ErrorEquals\": [\"X\"], \"Next\": \"S\", \"ResultPath\": \"$.a[*]\"}]"),
                    "/States/S/Catch/0/ResultPath", "reference path");
        ASSERT_DIAG(TASK(", \"Catch\": [{\"ErrorEquals\": [\"States.ALL\"], \"Next\": \"S\"}, {\"ErrorEquals\": [\"X\"], \"Next\": \"S\"}]"),
                    "/States/S/Catch/0/ErrorEquals/0", "last catcher");
        ASSERT_DIAG(TASK(", \"Catch\": [{\"ErrorEquals\": [\"X\"], \"Next\": \"S\", \"MaxAttempts\": 1}]"),
                    "/States/S/Catch/0/MaxAttempts", "unknown field");
        ASSERT_DIAG(TASK(", \"Catch\": [{\"Next\": \"S\"}]"), "/States/S/Catch/0", "ErrorEquals");
}

/* ---- Choice, Wait, Succeed, Fail, Pass -------------------------------- */

TEST(choice_state) {
        ASSERT_VALID(CHOICE(", \"Choices\": [{\"Variable\": \"$.x\", \"NumericEquals\": 1, \"Next\": \"A\"}], \"Default\": \"B\","
                            " \"InputPath\": \"$\", \"OutputPath\": \"$\", \"Comment\": \"c\""));
        ASSERT_DIAG(CHOICE(", \"Default\": \"A\""), "/States/C", "needs Choices");
        ASSERT_DIAG(CHOICE(", \"Choices\": [], \"Default\": \"A\""), "/States/C/Choices", "non-empty");
        ASSERT_DIAG(CHOICE(", \"Choices\": [{\"Variable\": \"$.x\", \"IsNull\": true, \"Next\": \"A\"}], \"Default\": \"B\", \"Next\": \"A\""),
                    "/States/C/Next", "not allowed in a Choice state");
        ASSERT_DIAG(CHOICE(", \"Choices\": [{\"Variable\": \"$.x\", \"IsNull\": true, \"Next\": \"A\"}], \"Default\": \"B\", \"End\": true"),
                    "/States/C/End", "not allowed in a Choice state");
        ASSERT_DIAG(CHOICE(", \"Choices\": [{\"Variable\": \"$.x\", \"IsNull\": true, \"Next\": \"A\"}], \"Default\": \"B\", \"ResultPath\": \"$.r\""),
                    "/States/C/ResultPath", "not allowed in a Choice state");
        ASSERT_DIAG(CHOICE(", \"Choices\": [{\"Variable\": \"$.x\", \"IsNull\": true, \"Next\": \"A\"}], \"Default\": \"Z\""),
                    "/States/C/Default", "no state named \"Z\"");
        ASSERT_DIAG(CHOICE(", \"Choices\": [{\"Variable\": \"$.x\", \"IsNull\": true, \"Next\": \"A\"},"
                           " {\"Variable\": \"$.x\", \"IsNull\": false, \"Next\": \"Z\"}], \"Default\": \"B\""),
                    "/States/C/Choices/1/Next", "no state named \"Z\"");
        /* The rule validation is the Choice module's, with full pointers. */
        ASSERT_DIAG(CHOICE(", \"Choices\": [{\"Not\": {\"Variable\": \"$.x\", \"NumericEquals\": \"1\"}, \"Next\": \"A\"}], \"Default\": \"B\""),
                    "/States/C/Choices/0/Not/NumericEquals", "number");
        ASSERT_DIAG(CHOICE(", \"Choices\": [{\"Variable\": \"$.x\", \"IsNull\": true}], \"Default\": \"B\""),
                    "/States/C/Choices/0", "Next");
}

TEST(wait_state) {
        ASSERT_VALID(ONE("{\"Type\": \"Wait\", \"Seconds\": 0, \"End\": true}"));
        ASSERT_VALID(ONE("{\"Type\": \"Wait\", \"Timestamp\": \"2026-01-01T00:00:00Z\", \"End\": true}"));
        ASSERT_VALID(ONE("{\"Type\": \"Wait\", \"SecondsPath\": \"$.s\", \"End\": true}"));
        ASSERT_VALID(ONE("{\"Type\": \"Wait\", \"TimestampPath\": \"$.t\", \"End\": true}"));
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"End\": true}"), "/States/S", "exactly one of");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Seconds\": 1, \"SecondsPath\": \"$.s\", \"End\": true}"),
                    "/States/S/SecondsPath", "exactly one of");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Seconds\": 1, \"Timestamp\": \"2026-01-01T00:00:00Z\", \"End\": true}"),
                    "/States/S/Timestamp", "exactly one of");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Seconds\": -1, \"End\": true}"), "/States/S/Seconds", ">= 0");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Seconds\": 1.5, \"End\": true}"), "/States/S/Seconds", "integer");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Timestamp\": \"tomorrow\", \"End\": true}"), "/States/S/Timestamp", "RFC 3339");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Timestamp\": \"2026-13-01T00:00:00Z\", \"End\": true}"), "/States/S/Timestamp", "RFC 3339");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"SecondsPath\": \"s\", \"End\": true}"), "/States/S/SecondsPath", "'$'");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Seconds\": 1, \"End\": true, \"ResultPath\": \"$\"}"),
                    "/States/S/ResultPath", "not allowed in a Wait state");
        ASSERT_DIAG(ONE("{\"Type\": \"Wait\", \"Seconds\": 1}"), "/States/S", "Next or");
}

TEST(succeed_fail_pass) {
        ASSERT_VALID(ONE("{\"Type\": \"Succeed\", \"InputPath\": \"$.a\", \"OutputPath\": \"$.b\", \"Comment\": \"done\"}"));
        ASSERT_DIAG(ONE("{\"Type\": \"Succeed\", \"ResultPath\": \"$.a\"}"), "/States/S/ResultPath", "not allowed");
        ASSERT_DIAG(ONE("{\"Type\": \"Succeed\", \"End\": true}"), "/States/S/End", "not allowed");

        ASSERT_VALID(ONE("{\"Type\": \"Fail\"}"));
        ASSERT_VALID(ONE("{\"Type\": \"Fail\", \"ErrorPath\": \"$.e\", \"CausePath\": \"States.Format('bad {}', $.x)\"}"));
        ASSERT_DIAG(ONE("{\"Type\": \"Fail\", \"Error\": \"E\", \"ErrorPath\": \"$.e\"}"), "/States/S/ErrorPath", "mutually exclusive");
        ASSERT_DIAG(ONE("{\"Type\": \"Fail\", \"Cause\": \"c\", \"CausePath\": \"$.c\"}"), "/States/S/CausePath", "mutually exclusive");
        ASSERT_DIAG(ONE("{\"Type\": \"Fail\", \"Error\": 3}"), "/States/S/Error", "string");
        ASSERT_DIAG(ONE("{\"Type\": \"Fail\", \"ErrorPath\": \"e\"}"), "/States/S/ErrorPath", NULL);
        ASSERT_DIAG(ONE("{\"Type\": \"Fail\", \"CausePath\": \"States.Nope()\"}"), "/States/S/CausePath", "intrinsic");
        ASSERT_DIAG(ONE("{\"Type\": \"Fail\", \"InputPath\": \"$\"}"), "/States/S/InputPath", "not allowed in a Fail state");

        ASSERT_VALID(ONE("{\"Type\": \"Pass\", \"Result\": \"x\", \"ResultPath\": \"$.r\", \"Parameters\": {\"a.$\": \"$.b\"},"
                         " \"InputPath\": \"$\", \"OutputPath\": \"$\", \"End\": true}"));
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"End\": true, \"Retry\": []}"), "/States/S/Retry", "not allowed in a Pass state");
        ASSERT_DIAG(ONE("{\"Type\": \"Pass\", \"End\": true, \"ResultSelector\": {}}"), "/States/S/ResultSelector", "not allowed");
}

/* ---- Parallel --------------------------------------------------------- */

#define PARALLEL(branches, extra) "{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Parallel\", \"Branches\": " \
        branches ", \"Next\": \"Done\"" extra "}, \"Done\": {\"Type\": \"Succeed\"}}}"
#define BRANCH(name) "{\"StartAt\": \"" name "\", \"States\": {\"" name "\": {\"Type\": \"Pass\", \"End\": true}}}"

TEST(parallel_state) {
        ASSERT_VALID(PARALLEL("[" BRANCH("B1") ", " BRANCH("B2") "]",
                              ", \"ResultSelector\": {\"a.$\": \"$[0]\"}, \"ResultPath\": \"$.p\","
                              " \"Retry\": [{\"ErrorEquals\": [\"States.ALL\"]}],"
                              " \"Catch\": [{\"ErrorEquals\": [\"States.ALL\"], \"Next\": \"Done\"}]"));
        ASSERT_DIAG("{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Parallel\", \"End\": true}}}", "/States/P", "needs Branches");
        ASSERT_DIAG(PARALLEL("[]", ""), "/States/P/Branches", "non-empty");
        ASSERT_DIAG(PARALLEL("{}", ""), "/States/P/Branches", "non-empty");
        ASSERT_DIAG(PARALLEL("[3]", ""), "/States/P/Branches/0", "object");
        ASSERT_DIAG(PARALLEL("[{\"States\": {\"X\": {\"Type\": \"Succeed\"}}}]", ""), "/States/P/Branches/0", "StartAt");
        ASSERT_DIAG(PARALLEL("[{\"StartAt\": \"Y\", \"States\": {\"X\": {\"Type\": \"Succeed\"}}}]", ""),
                    "/States/P/Branches/0/StartAt", "no state named \"Y\"");
        /* Errors inside a branch carry the full pointer. */
        ASSERT_DIAG(PARALLEL("[" BRANCH("B1") ", {\"StartAt\": \"X\", \"States\": {\"X\": {\"Type\": \"Wait\", \"End\": true}}}]", ""),
                    "/States/P/Branches/1/States/X", "exactly one of");
        /* Next may not leave the branch, even to a state that exists outside. */
        ASSERT_DIAG(PARALLEL("[{\"StartAt\": \"X\", \"States\": {\"X\": {\"Type\": \"Pass\", \"Next\": \"Done\"}}}]", ""),
                    "/States/P/Branches/0/States/X/Next", "no state named \"Done\" in this branch");
        /* Unreachable inside a branch. */
        ASSERT_DIAG(PARALLEL("[{\"StartAt\": \"X\", \"States\": {\"X\": {\"Type\": \"Succeed\"}, \"Y\": {\"Type\": \"Succeed\"}}}]", ""),
                    "/States/P/Branches/0/States/Y", "not reachable");
        /* State names are unique in the whole machine. */
        ASSERT_DIAG(PARALLEL("[" BRANCH("B1") ", " BRANCH("B1") "]", ""),
                    "/States/P/Branches/1/States/B1", "already used at /States/P/Branches/0/States/B1");
        ASSERT_DIAG(PARALLEL("[" BRANCH("Done") "]", ""), "/States/Done", "already used");
        ASSERT_DIAG(PARALLEL("[{\"StartAt\": \"X\", \"States\": {\"X\": {\"Type\": \"Succeed\"}}, \"Version\": \"1\"}]", ""),
                    "/States/P/Branches/0/Version", "unknown field");
        ASSERT_DIAG(PARALLEL("[" BRANCH("B1") "]", ", \"ItemsPath\": \"$.x\""), "/States/P/ItemsPath", "not allowed in a Parallel state");
}

/* ---- Map -------------------------------------------------------------- */

#define PROC "{\"StartAt\": \"I\", \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"
#define MAP(extra) "{\"StartAt\": \"M\", \"States\": {\"M\": {\"Type\": \"Map\", \"End\": true" extra "}}}"

TEST(map_state) {
        ASSERT_VALID(MAP(", \"ItemProcessor\": " PROC ", \"ItemsPath\": \"$.items\", \"ItemSelector\": {\"v.$\": \"$$.Map.Item.Value\"},"
                         " \"MaxConcurrency\": 0, \"ToleratedFailureCount\": 2, \"ToleratedFailurePercentage\": 12.5,"
                         " \"ResultSelector\": {\"r.$\": \"$\"}, \"ResultPath\": \"$.out\", \"Label\": \"m\","
                         " \"Retry\": [{\"ErrorEquals\": [\"States.ALL\"]}]"));
        ASSERT_VALID(MAP(", \"ItemProcessor\": {\"ProcessorConfig\": {\"Mode\": \"INLINE\"}, \"StartAt\": \"I\","
                         " \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"));
        /* The legacy form. */
        ASSERT_VALID(MAP(", \"Iterator\": " PROC ", \"Parameters\": {\"i.$\": \"$$.Map.Item.Index\"}, \"MaxConcurrencyPath\": \"$.mc\","
                         " \"ToleratedFailureCountPath\": \"$.c\", \"ToleratedFailurePercentagePath\": \"$.p\""));
        ASSERT_DIAG(MAP(""), "/States/M", "needs ItemProcessor");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"Iterator\": " PROC), "/States/M/Iterator", "mutually exclusive");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": {\"ProcessorConfig\": {\"Mode\": \"DISTRIBUTED\"}, "
                        "\"StartAt\": \"I\","
                        " \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"),
                    "/States/M/ItemProcessor/ProcessorConfig", "needs ExecutionType");
        ASSERT_DIAG(
                MAP(", \"ItemProcessor\": {\"ProcessorConfig\": {\"Mode\": \"FAST\"}, \"StartAt\": \"I\","
                    " \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"),
                "/States/M/ItemProcessor/ProcessorConfig/Mode", "\"INLINE\" or \"DISTRIBUTED\"");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": {\"ProcessorConfig\": {\"Mode\": \"INLINE\", \"ExecutionType\": \"EXPRESS\"},"
                        " \"StartAt\": \"I\", \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"),
                    "/States/M/ItemProcessor/ProcessorConfig/ExecutionType", NULL);
        /* The legacy Iterator with an inline ProcessorConfig: AWS runs it. */
        ASSERT_VALID(MAP(", \"Iterator\": {\"ProcessorConfig\": {\"Mode\": \"INLINE\"}, \"StartAt\": \"I\","
                         " \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"));
        ASSERT_DIAG(MAP(", \"Iterator\": {\"ProcessorConfig\": {\"Nope\": 1}, \"StartAt\": \"I\","
                        " \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"),
                    "/States/M/Iterator/ProcessorConfig/Nope", "unknown field");
        /* The distributed Map's fields belong to distributed mode. */
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ItemReader\": {}"), "/States/M/ItemReader",
                    "only allowed in a distributed Map");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ResultWriter\": {}"), "/States/M/ResultWriter",
                    "only allowed in a distributed Map");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ItemBatcher\": {}"), "/States/M/ItemBatcher",
                    "only allowed in a distributed Map");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ItemSelector\": {}, \"Parameters\": {}"),
                    "/States/M/Parameters", "mutually exclusive");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"MaxConcurrency\": -1"), "/States/M/MaxConcurrency", ">= 0");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"MaxConcurrency\": 2, \"MaxConcurrencyPath\": \"$.m\""),
                    "/States/M/MaxConcurrencyPath", "mutually exclusive");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ToleratedFailureCount\": -2"), "/States/M/ToleratedFailureCount", ">= 0");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ToleratedFailureCount\": 1, \"ToleratedFailureCountPath\": \"$.c\""),
                    "/States/M/ToleratedFailureCountPath", "mutually exclusive");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ToleratedFailurePercentage\": 100.5"),
                    "/States/M/ToleratedFailurePercentage", "between 0 and 100");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ToleratedFailurePercentage\": -1"),
                    "/States/M/ToleratedFailurePercentage", "between 0 and 100");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ToleratedFailurePercentage\": 1, \"ToleratedFailurePercentagePath\": \"$.p\""),
                    "/States/M/ToleratedFailurePercentagePath", "mutually exclusive");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"ItemsPath\": \"$.items[*]\""), "/States/M/ItemsPath", "reference path");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": {\"StartAt\": \"I\", \"States\": {\"I\": {\"Type\": \"Pass\", \"Next\": \"M\"}}}"),
                    "/States/M/ItemProcessor/States/I/Next", "Map iteration");
        ASSERT_DIAG(MAP(", \"ItemProcessor\": " PROC ", \"Branches\": []"), "/States/M/Branches", "not allowed in a Map state");
}

/* ---- limits ----------------------------------------------------------- */

#define DPROC(type)                                                                                         \
        "{\"ProcessorConfig\": {\"Mode\": \"DISTRIBUTED\", \"ExecutionType\": \"" type "\"},"               \
        " \"StartAt\": \"I\", \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}"
#define DMAP(extra) MAP(", \"ItemProcessor\": " DPROC("STANDARD") extra)
#define LIST_READER                                                                                         \
        "{\"Resource\": \"arn:aws:states:::s3:listObjectsV2\", \"Parameters\": {\"Bucket\": \"photos\", "   \
        "\"Prefix\": \"raw/\"}}"

TEST(distributed_map) {
        /* The fields AWS documents, in both query languages. */
        ASSERT_VALID(DMAP(""));
        ASSERT_VALID(MAP(", \"ItemProcessor\": " DPROC("EXPRESS")));
        ASSERT_VALID(
                DMAP(", \"ItemReader\": " LIST_READER ", \"MaxConcurrency\": 1000, \"Label\": \"thumbs\","
                     " \"ItemSelector\": {\"key.$\": \"$$.Map.Item.Value.Key\", \"i.$\": "
                     "\"$$.Map.Item.Index\"},"
                     " \"ItemBatcher\": {\"MaxItemsPerBatch\": 100, \"MaxInputBytesPerBatch\": 262144,"
                     " \"BatchInput\": {\"run.$\": \"$$.Execution.Name\"}},"
                     " \"ToleratedFailurePercentage\": 5, \"ToleratedFailureCount\": 10,"
                     " \"ResultWriter\": {\"Resource\": \"arn:aws:states:::s3:putObject\","
                     " \"Parameters\": {\"Bucket\": \"out\", \"Prefix\": \"runs\"},"
                     " \"WriterConfig\": {\"OutputType\": \"JSONL\", \"Transformation\": \"COMPACT\"}}"));
        ASSERT_VALID(DMAP(", \"ItemReader\": " LIST_READER ", \"ItemBatcher\": {\"MaxItemsPerBatch\": 10}"));
        ASSERT_VALID(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                          " \"ReaderConfig\": {\"InputType\": \"CSV\", \"CSVHeaderLocation\": \"GIVEN\","
                          " \"CSVHeaders\": [\"a\", \"b\"], \"CSVDelimiter\": \"PIPE\", "
                          "\"MaxItemsPath\": \"$.n\"},"
                          " \"Parameters\": {\"Bucket.$\": \"$.bucket\", \"Key\": \"in.csv\", "
                          "\"VersionId\": \"v1\"}}"));
        /* an S3 Inventory: InputType MANIFEST, ManifestType S3_INVENTORY, or both */
        ASSERT_VALID(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                          " \"ReaderConfig\": {\"InputType\": \"MANIFEST\", \"MaxItems\": 100000000},"
                          " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"manifest.json\"}},"
                          " \"ItemBatcher\": {\"MaxItemsPerBatchPath\": \"$.batch\"}"));
        ASSERT_VALID(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                          " \"ReaderConfig\": {\"ManifestType\": \"S3_INVENTORY\"},"
                          " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"manifest.json\"}}"));
        ASSERT_VALID(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                          " \"ReaderConfig\": {\"InputType\": \"MANIFEST\", \"ManifestType\": \"S3_INVENTORY\"},"
                          " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"manifest.json\"}}"));
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"ReaderConfig\": {\"InputType\": \"CSV\", \"ManifestType\": \"S3_INVENTORY\"},"
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"m.json\"}}"),
                    "/States/M/ItemReader/ReaderConfig/ManifestType", "without InputType");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"ReaderConfig\": {\"ManifestType\": \"ATHENA_DATA\"},"
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"m.csv\"}}"),
                    "/States/M/ItemReader/ReaderConfig/ManifestType", "S3_INVENTORY");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:listObjectsV2\","
                         " \"ReaderConfig\": {\"ManifestType\": \"S3_INVENTORY\"},"
                         " \"Parameters\": {\"Bucket\": \"b\"}}"),
                    "/States/M/ItemReader/ReaderConfig/ManifestType", "not allowed with the s3:listObjectsV2");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"ReaderConfig\": {\"InputType\": \"MANIFEST\", \"CSVDelimiter\": \"PIPE\"},"
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"m.json\"}}"),
                    "/States/M/ItemReader/ReaderConfig/CSVDelimiter", "only allowed with InputType \"CSV\"");
        ASSERT_VALID(DMAP(", \"ResultWriter\": {\"WriterConfig\": {\"Transformation\": \"FLATTEN\"}}"));
        ASSERT_VALID(
                "{\"QueryLanguage\": \"JSONata\", \"StartAt\": \"M\", \"States\": {\"M\": {\"Type\": "
                "\"Map\","
                " \"End\": true, \"ItemProcessor\": " DPROC(
                        "EXPRESS") ","
                                   " \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                                   " \"ReaderConfig\": {\"InputType\": \"JSONL\", \"MaxItems\": \"{% "
                                   "$states.input.n %}\"},"
                                   " \"Arguments\": {\"Bucket\": \"{% $states.input.b %}\", \"Key\": "
                                   "\"items.jsonl\"}},"
                                   " \"ItemBatcher\": {\"MaxItemsPerBatch\": \"{% 10 %}\", \"BatchInput\": "
                                   "{\"x\": \"{% 1 %}\"}}}}}");

        /* ProcessorConfig */
        ASSERT_DIAG(MAP(", \"ItemProcessor\": {\"ProcessorConfig\": {\"Mode\": \"DISTRIBUTED\","
                        " \"ExecutionType\": \"FAST\"}, \"StartAt\": \"I\", \"States\": {\"I\": {\"Type\": "
                        "\"Pass\","
                        " \"End\": true}}}"),
                    "/States/M/ItemProcessor/ProcessorConfig/ExecutionType", "\"STANDARD\" or \"EXPRESS\"");
        /* EXPRESS children follow an Express machine's rules. */
        ASSERT_DIAG(MAP(", \"ItemProcessor\": {\"ProcessorConfig\": {\"Mode\": \"DISTRIBUTED\","
                        " \"ExecutionType\": \"EXPRESS\"}, \"StartAt\": \"I\", \"States\": {\"I\": "
                        "{\"Type\": \"Task\","
                        " \"Resource\": \"imgflow:pool:x.waitForTaskToken\", \"End\": true}}}"),
                    "/States/M/ItemProcessor/States/I/Resource", "Express state machine does not support");
        ASSERT_VALID(MAP(", \"ItemProcessor\": {\"ProcessorConfig\": {\"Mode\": \"DISTRIBUTED\","
                         " \"ExecutionType\": \"STANDARD\"}, \"StartAt\": \"I\", \"States\": {\"I\": "
                         "{\"Type\": \"Task\","
                         " \"Resource\": \"imgflow:pool:x.waitForTaskToken\", \"End\": true}}}"));

        /* ItemReader */
        ASSERT_DIAG(DMAP(", \"ItemReader\": {}"), "/States/M/ItemReader", "needs Resource");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:putObject\"}"),
                    "/States/M/ItemReader/Resource", "\"arn:aws:states:::s3:getObject\" or");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:listObjectsV2\"}"),
                    "/States/M/ItemReader", "needs Parameters with Bucket");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:listObjectsV2\","
                         " \"Parameters\": {\"Prefix\": \"p\"}}"),
                    "/States/M/ItemReader/Parameters", "needs Bucket");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:listObjectsV2\","
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"k\"}}"),
                    "/States/M/ItemReader/Parameters/Key", "unknown field");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:listObjectsV2\","
                         " \"Parameters\": {\"Bucket.$\": \"$.b[\"}}"),
                    "/States/M/ItemReader/Parameters/Bucket.$", NULL);
        ASSERT_DIAG(
                DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:listObjectsV2\","
                     " \"ReaderConfig\": {\"InputType\": \"JSON\"}, \"Parameters\": {\"Bucket\": \"b\"}}"),
                "/States/M/ItemReader/ReaderConfig/InputType", "not allowed with the s3:listObjectsV2");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"k\"}}"),
                    "/States/M/ItemReader", "needs ReaderConfig with InputType");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"ReaderConfig\": {\"InputType\": \"XML\"}, \"Parameters\": {\"Bucket\": \"b\", "
                         "\"Key\": \"k\"}}"),
                    "/States/M/ItemReader/ReaderConfig/InputType",
                    "\"CSV\", \"JSON\", \"JSONL\" or \"MANIFEST\"");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"ReaderConfig\": {\"InputType\": \"CSV\", \"CSVHeaderLocation\": \"GIVEN\"},"
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"k\"}}"),
                    "/States/M/ItemReader/ReaderConfig", "needs CSVHeaders");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"ReaderConfig\": {\"InputType\": \"JSON\", \"CSVDelimiter\": \"TAB\"},"
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"k\"}}"),
                    "/States/M/ItemReader/ReaderConfig/CSVDelimiter", "only allowed with InputType \"CSV\"");
        ASSERT_DIAG(DMAP(", \"ItemReader\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"ReaderConfig\": {\"InputType\": \"JSON\", \"MaxItems\": 100000001},"
                         " \"Parameters\": {\"Bucket\": \"b\", \"Key\": \"k\"}}"),
                    "/States/M/ItemReader/ReaderConfig/MaxItems", "<= 100000000");
        ASSERT_DIAG(DMAP(", \"ItemReader\": " LIST_READER ", \"ItemsPath\": \"$.x\""),
                    "/States/M/ItemReader", "ItemReader and ItemsPath are mutually exclusive");

        /* ItemBatcher */
        ASSERT_DIAG(DMAP(", \"ItemBatcher\": {}"), "/States/M/ItemBatcher",
                    "needs MaxItemsPerBatch or MaxInputBytesPerBatch");
        ASSERT_DIAG(DMAP(", \"ItemBatcher\": {\"MaxItemsPerBatch\": 0}"),
                    "/States/M/ItemBatcher/MaxItemsPerBatch", ">= 1");
        ASSERT_DIAG(DMAP(", \"ItemBatcher\": {\"MaxInputBytesPerBatch\": 262145}"),
                    "/States/M/ItemBatcher/MaxInputBytesPerBatch", "<= 262144");
        ASSERT_DIAG(DMAP(", \"ItemBatcher\": {\"MaxItemsPerBatch\": 2, \"MaxItemsPerBatchPath\": \"$.n\"}"),
                    "/States/M/ItemBatcher/MaxItemsPerBatchPath", "mutually exclusive");
        ASSERT_DIAG(DMAP(", \"ItemBatcher\": {\"MaxItemsPerBatch\": 2, \"BatchInput\": 3}"),
                    "/States/M/ItemBatcher/BatchInput", "must be an object");
        ASSERT_DIAG(DMAP(", \"ItemBatcher\": {\"MaxItemsPerBatch\": 2, \"Size\": 3}"),
                    "/States/M/ItemBatcher/Size", "unknown field");

        /* ResultWriter */
        ASSERT_DIAG(DMAP(", \"ResultWriter\": {}"), "/States/M/ResultWriter",
                    "needs Resource or WriterConfig");
        ASSERT_DIAG(DMAP(", \"ResultWriter\": {\"Resource\": \"arn:aws:states:::s3:getObject\","
                         " \"Parameters\": {\"Bucket\": \"b\"}}"),
                    "/States/M/ResultWriter/Resource", "\"arn:aws:states:::s3:putObject\"");
        ASSERT_DIAG(DMAP(", \"ResultWriter\": {\"Resource\": \"arn:aws:states:::s3:putObject\"}"),
                    "/States/M/ResultWriter", "needs Parameters with Bucket");
        ASSERT_DIAG(
                DMAP(", \"ResultWriter\": {\"Resource\": \"arn:aws:states:::s3:putObject\","
                     " \"Parameters\": {\"Bucket\": \"b\"}, \"WriterConfig\": {\"OutputType\": \"CSV\"}}"),
                "/States/M/ResultWriter/WriterConfig/OutputType", "\"JSON\" or \"JSONL\"");
        ASSERT_VALID(DMAP(", \"ResultWriter\": {\"WriterConfig\": {\"Transformation\": \"FLATTEN\", "
                          "\"OutputType\": \"JSON\"}}"));
        ASSERT_DIAG(DMAP(", \"ResultWriter\": {\"WriterConfig\": {\"OutputType\": \"JSONL\"}}"),
                    "/States/M/ResultWriter/WriterConfig", "OutputType JSONL needs Resource");

        /* Label */
        ASSERT_DIAG(DMAP(", \"Label\": \"a b\""), "/States/M/Label", "must not contain whitespace");
        ASSERT_DIAG(DMAP(", \"Label\": \"run:1\""), "/States/M/Label", "must not contain");
        ASSERT_DIAG(DMAP(", \"Label\": \"0123456789012345678901234567890123456789x\""), "/States/M/Label",
                    "1 to 40 characters");
}

TEST(limit_json_depth) {
        char buf[4096];
        size_t k = 0;

        k += (size_t) snprintf(buf + k, sizeof(buf) - k, "{\"StartAt\": \"S\", \"States\": {\"S\": {\"Type\": \"Pass\", \"End\": true, \"Result\": ");
        for (int i = 0; i < ASL_MAX_JSON_DEPTH; i++)
                buf[k++] = '[';
        for (int i = 0; i < ASL_MAX_JSON_DEPTH; i++)
                buf[k++] = ']';
        k += (size_t) snprintf(buf + k, sizeof(buf) - k, "}}}");
        ASSERT_DIAG(buf, "", "nested too deeply");

        /* Deep Choice nesting inside the limit is fine. */
        ASSERT_VALID(CHOICE(", \"Choices\": [{\"Not\": {\"Not\": {\"Not\": {\"Variable\": \"$.x\", \"IsNull\": true}}}, \"Next\": \"A\"}],"
                            " \"Default\": \"B\""));
}

TEST(limit_states) {
        /* ASL_MAX_STATES + 1 states in a chain. */
        size_t cap = (size_t) (ASL_MAX_STATES + 1) * 64 + 128, k = 0;
        char *buf = malloc(cap);
        AslDiag d = {};

        ASSERT_NOT_NULL(buf);
        k += (size_t) snprintf(buf + k, cap - k, "{\"StartAt\": \"s0\", \"States\": {");
        for (int i = 0; i <= ASL_MAX_STATES; i++) {
                if (i == ASL_MAX_STATES)
                        k += (size_t) snprintf(buf + k, cap - k, "\"s%d\": {\"Type\": \"Succeed\"}", i);
                else
                        k += (size_t) snprintf(buf + k, cap - k, "\"s%d\": {\"Type\": \"Pass\", \"Next\": \"s%d\"},", i, i + 1);
        }
        k += (size_t) snprintf(buf + k, cap - k, "}}");
        check(buf, &d);
        ASSERT_TRUE(d.n >= 1);
        ASSERT_TRUE(strstr(d.entries[0].message, "too many states") != NULL);
        asl_diag_clear(&d);
        free(buf);
}

TEST(limit_definition_bytes) {
        size_t n = ASL_MAX_DEFINITION_BYTES + 1;
        char *buf = malloc(n);
        AslMachine *m = NULL;
        AslDiag d = {};

        ASSERT_NOT_NULL(buf);
        memset(buf, ' ', n);
        ASSERT_INT_EQ(asl_machine_parse(buf, n, &m, &d), -EINVAL);
        ASSERT_INT_EQ(d.n, 1);
        ASSERT_TRUE(strstr(d.entries[0].message, "too large") != NULL);
        asl_diag_clear(&d);
        free(buf);
}

TEST(all_errors_reported) {
        AslDiag d = {};

        check("{\"StartAt\": \"T\", \"States\": {\"T\": {\"Type\": \"Task\", \"Resource\": \"r\", \"End\": true,"
              " \"TimeoutSeconds\": 0, \"Retry\": [{\"ErrorEquals\": [\"X\"], \"BackoffRate\": 0}],"
              " \"Catch\": [{\"ErrorEquals\": [\"X\"], \"Next\": \"Q\"}]}}}", &d);
        ASSERT_INT_EQ(d.n, 3);
        ASSERT_TRUE(has(&d, "/States/T/TimeoutSeconds", NULL));
        ASSERT_TRUE(has(&d, "/States/T/Retry/0/BackoffRate", "must be >= 1.0"));
        ASSERT_TRUE(has(&d, "/States/T/Catch/0/Next", NULL));
        asl_diag_clear(&d);
}

/* ---- the API around it ----------------------------------------------- */

TEST(validate_and_new) {
        json_t *def = json_loads(ONE("{\"Type\": \"Succeed\"}"), 0, NULL);
        json_t *bad = json_loads(ONE("{\"Type\": \"Succeed\", \"Next\": \"S\"}"), 0, NULL);
        AslMachine *m = NULL;
        AslDiag d = {};

        ASSERT_INT_EQ(asl_definition_validate(def, &d), 0);
        ASSERT_INT_EQ(d.n, 0);
        ASSERT_INT_EQ(asl_definition_validate(bad, NULL), -EINVAL);
        ASSERT_INT_EQ(asl_definition_validate(bad, &d), -EINVAL);
        ASSERT_TRUE(d.n > 0);
        asl_diag_clear(&d);

        ASSERT_INT_EQ(asl_machine_new(bad, &m, &d), -EINVAL);
        ASSERT_NULL(m);
        asl_diag_clear(&d);
        ASSERT_INT_EQ(asl_machine_new(def, &m, &d), 0);
        ASSERT_TRUE(m->definition == def);
        ASSERT_INT_EQ(def->refcount, 2);
        ASSERT_NULL(asl_machine_free(m));
        ASSERT_INT_EQ(def->refcount, 1);
        ASSERT_NULL(asl_machine_free(NULL));
        json_decref(def);
        json_decref(bad);
}

TEST(json_pointer_rfc6901) {
        /* The examples of RFC 6901, section 5. */
        json_t *doc = json_loads("{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2, \"e^f\": 3,"
                                 " \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7, \"m~n\": 8}", 0, NULL);

        ASSERT_NOT_NULL(doc);
        ASSERT_TRUE(asl_json_pointer_get(doc, "") == doc);
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/foo"), "[\"bar\", \"baz\"]");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/foo/0"), "\"bar\"");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/"), "0");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/a~1b"), "1");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/c%d"), "2");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/e^f"), "3");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/g|h"), "4");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/i\\j"), "5");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/k\"l"), "6");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/ "), "7");
        ASSERT_JSON_EQ(asl_json_pointer_get(doc, "/m~0n"), "8");
        /* Absent and malformed. */
        ASSERT_NULL(asl_json_pointer_get(doc, "/nope"));
        ASSERT_NULL(asl_json_pointer_get(doc, "foo"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/foo/2"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/foo/01"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/foo/-"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/foo/"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/foo/0/x"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/m~2n"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/m~"));
        ASSERT_NULL(asl_json_pointer_get(doc, "/foo/99999999999999999999"));
        ASSERT_NULL(asl_json_pointer_get(NULL, ""));
        json_decref(doc);
}

/* ---- the image pipeline ---------------------------------------------- */

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = n >= 0 ? malloc((size_t) n + 1) : NULL;
        if (!buf || fread(buf, 1, (size_t) n, f) != (size_t) n) {
                free(buf);
                fclose(f);
                return NULL;
        }
        buf[n] = 0;
        fclose(f);
        return buf;
}

static char *read_pipeline(void) {
        /* Found from the source file's location (__FILE__ is relative to the
         * build directory, where meson runs tests), or from the source or
         * build directory. */
        static const char *const rel = "data/definitions/image-pipeline.asl.json";
        const char *src = __FILE__, *slash = strrchr(src, '/');
        char path[4096];
        char *text;

        snprintf(path, sizeof(path), "%.*s/../%s", slash ? (int) (slash - src) : 1, slash ? src : ".", rel);
        if ((text = read_file(path)))
                return text;
        snprintf(path, sizeof(path), "tests/%s", rel);
        if ((text = read_file(path)))
                return text;
        snprintf(path, sizeof(path), "../tests/%s", rel);
        return read_file(path);
}

TEST(image_pipeline) {
        char *text = read_pipeline();
        AslMachine *m = NULL;
        AslDiag d = {};
        json_t *sub;

        ASSERT_NOT_NULL(text);
        ASSERT_INT_EQ(asl_machine_parse(text, strlen(text), &m, &d), 0);
        ASSERT_INT_EQ(d.n, 0);
        ASSERT_NOT_NULL(m);

        ASSERT_TRUE(asl_machine_lookup(m, "") == m->definition);
        sub = asl_machine_lookup(m, "/States/ProcessImage/Branches/0");
        ASSERT_NOT_NULL(sub);
        ASSERT_JSON_EQ(json_object_get(sub, "StartAt"), "\"ResizeAll\"");
        sub = asl_machine_lookup(m, "/States/ProcessImage/Branches/1");
        ASSERT_NOT_NULL(sub);
        ASSERT_JSON_EQ(json_object_get(sub, "StartAt"), "\"ApplyFilters\"");
        sub = asl_machine_lookup(m, "/States/ProcessImage/Branches/0/States/ResizeAll/ItemProcessor");
        ASSERT_NOT_NULL(sub);
        ASSERT_JSON_EQ(json_object_get(sub, "StartAt"), "\"Resize\"");
        /* Not a machine, or absent. */
        ASSERT_NULL(asl_machine_lookup(m, "/States/ProcessImage"));
        ASSERT_NULL(asl_machine_lookup(m, "/States/ProcessImage/Branches/2"));
        ASSERT_NULL(asl_machine_lookup(m, "/States"));
        ASSERT_NULL(asl_machine_lookup(m, "/Nope"));
        ASSERT_NULL(asl_machine_lookup(NULL, ""));
        m = asl_machine_free(m);

        /* Break it in the way the design document shows. */
        json_t *def = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(def);
        json_t *retry0 = json_array_get(json_object_get(json_object_get(json_object_get(def, "States"),
                                                                        "ValidateImage"), "Retry"), 0);
        json_object_set_new(retry0, "BackoffRate", json_real(0.5));
        ASSERT_INT_EQ(asl_definition_validate(def, &d), -EINVAL);
        ASSERT_INT_EQ(d.n, 1);
        ASSERT_STR_EQ(d.entries[0].pointer, "/States/ValidateImage/Retry/0/BackoffRate");
        ASSERT_STR_EQ(d.entries[0].message, "must be >= 1.0");
        asl_diag_clear(&d);
        json_decref(def);
        free(text);
}

TEST(lookup_iterator_and_escapes) {
        const char *text = "{\"StartAt\": \"a/b\", \"States\": {\"a/b\": {\"Type\": \"Map\", \"Iterator\": "
                PROC ", \"End\": true}}}";
        AslMachine *m = NULL;
        AslDiag d = {};

        ASSERT_INT_EQ(asl_machine_parse(text, strlen(text), &m, &d), 0);
        ASSERT_NOT_NULL(asl_machine_lookup(m, "/States/a~1b/Iterator"));
        ASSERT_NULL(asl_machine_lookup(m, "/States/a/b/Iterator"));
        ASSERT_NULL(asl_machine_lookup(m, "/States/a~1b/ItemProcessor"));
        asl_machine_free(m);
}

/* Which states may read $$: any string of the state mentioning "$$", in
 * branches and item processors too; a Parallel counts its branches. */
TEST(context_states) {
        const char *text =
                "{\"StartAt\": \"Plain\", \"States\": {"
                "\"Plain\": {\"Type\": \"Task\", \"Resource\": \"imgflow:x\", \"Next\": \"Ctx\"},"
                "\"Ctx\": {\"Type\": \"Task\", \"Resource\": \"imgflow:x\", \"Next\": \"Par\","
                "  \"Parameters\": {\"a\": {\"id.$\": \"States.Format('{}', $$.Execution.Id)\"}}},"
                "\"Par\": {\"Type\": \"Parallel\", \"Next\": \"Choose\", \"Branches\": [{\"StartAt\": \"B1\","
                "  \"States\": {\"B1\": {\"Type\": \"Pass\", \"Next\": \"B2\"},"
                "  \"B2\": {\"Type\": \"Pass\", \"Parameters\": {\"t.$\": \"$$.State.EnteredTime\"}, \"End\": true}}}]},"
                "\"Choose\": {\"Type\": \"Choice\", \"Default\": \"M\", \"Choices\": [{\"Variable\": "
                "  \"$$.Execution.Input.x\", \"IsPresent\": true, \"Next\": \"M\"}]},"
                "\"M\": {\"Type\": \"Map\", \"End\": true, \"ItemProcessor\": {\"StartAt\": \"I\","
                "  \"States\": {\"I\": {\"Type\": \"Pass\", \"End\": true}}}}}}";
        AslMachine *m = NULL;
        AslDiag d = {};

        ASSERT_INT_EQ(asl_machine_parse(text, strlen(text), &m, &d), 0);
        ASSERT_FALSE(asl_machine_state_uses_context(m, "Plain"));
        ASSERT_TRUE(asl_machine_state_uses_context(m, "Ctx"));
        ASSERT_TRUE(asl_machine_state_uses_context(m, "Par"));
        ASSERT_FALSE(asl_machine_state_uses_context(m, "B1"));
        ASSERT_TRUE(asl_machine_state_uses_context(m, "B2"));
        ASSERT_TRUE(asl_machine_state_uses_context(m, "Choose"));
        ASSERT_FALSE(asl_machine_state_uses_context(m, "M"));
        ASSERT_FALSE(asl_machine_state_uses_context(m, "I"));
        /* Not a state of the machine: nothing mentions $$; no machine: safe side. */
        ASSERT_FALSE(asl_machine_state_uses_context(m, "Nope"));
        ASSERT_TRUE(asl_machine_state_uses_context(NULL, "Plain"));
        asl_machine_free(m);
}
