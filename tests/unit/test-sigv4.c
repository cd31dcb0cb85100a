/* SPDX-License-Identifier: MIT */
/*
 * api/sigv4 against botocore's signer (the table comes from
 * tests/unit/sigv4-vectors.py): each request verifies with the secret and
 * fails with another one or with a changed body, header or target; our own
 * signer gives botocore's header; and every refusal of sigv4_parse() with
 * its AWS error name and message.
 */

#include <string.h>

#include "alloc-util.h"
#include "sigv4.h"
#include "test.h"

#define KEY "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define WHEN 1440938160 /* 20150830T123600Z */

typedef struct Vector {
        const char *method, *path, *service;
        Sigv4Pair headers[8];
        Sigv4Pair query[8];
        const char *body;
        const char *signed_headers;
        const char *authorization;
} Vector;

static const Vector vectors[] = {
        {
                "POST",
                "/",
                "states",
                {{"Host", "localhost:8083"},
                 {"Content-Type", "application/x-amz-json-1.0"},
                 {"X-Amz-Target", "AWSStepFunctions.StartExecution"},
                 {"X-Amz-Date", "20150830T123600Z"}},
                {},
                "{\"stateMachineArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:x\",\"input\":\"{"
                "}\"}",
                "content-type;host;x-amz-date;x-amz-target",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                "Signature=ebfe551f31014320f4a3d218487371c81e469cefd5aef704523c242314f5cf9f",
        },
        {
                "POST",
                "/",
                "states",
                {{"Host", "localhost:8083"},
                 {"Content-Type", "application/x-amz-json-1.0"},
                 {"X-Amz-Target", "AWSStepFunctions.ListStateMachines"},
                 {"My-Header", "  a   b \x09"
                               " c  "},
                 {"X-Amz-Date", "20150830T123600Z"}},
                {},
                "{}",
                "content-type;host;my-header;x-amz-date;x-amz-target",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws4_request, "
                "SignedHeaders=content-type;host;my-header;x-amz-date;x-amz-target, "
                "Signature=2f8e0521b59af4e7280c3e24c75f7bcaf2df2551a8d32a58e11d0f9471430eef",
        },
        {
                "GET",
                "/",
                "service",
                {{"Host", "localhost:8083"}, {"X-Amz-Target", "x"}, {"X-Amz-Date", "20150830T123600Z"}},
                {{"A", "/~+"}, {"a", "x y"}, {"b", "2"}},
                "",
                "host;x-amz-date;x-amz-target",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                "SignedHeaders=host;x-amz-date;x-amz-target, "
                "Signature=aac9d817ab4adc24214bad704eca36e1c6d5559804f05984b2640ed73e0a637c",
        },
        {
                "POST",
                "/./foo/../bar/",
                "states",
                {{"Host", "localhost:8083"}, {"X-Amz-Target", "x"}, {"X-Amz-Date", "20150830T123600Z"}},
                {},
                "caf\xc3"
                "\xa9"
                " \xc3"
                "\xbc"
                "",
                "host;x-amz-date;x-amz-target",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws4_request, "
                "SignedHeaders=host;x-amz-date;x-amz-target, "
                "Signature=3a5a2cded2b2666306bf686e6791f032a701bea46fd25fb683c385b6629379ed",
        },
        {
                "POST",
                "/",
                "states",
                {{"Host", "localhost:8083"},
                 {"X-Amz-Target", "AWSStepFunctions.SendTaskSuccess"},
                 {"Content-Type", "application/x-amz-json-1.0"},
                 {"X-Amz-Date", "20150830T123600Z"}},
                {},
                "",
                "content-type;host;x-amz-date;x-amz-target",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                "Signature=9f365ac691fb4cdc524d55a782ad2dee5ee6109c5d52b3cec988dabe3b8d7883",
        },
};

/* The vector's request with its Authorization header added (headers copied
 * into h, which must have room for 10). */
static Sigv4Request request(const Vector *v, Sigv4Pair *h, const char *authorization) {
        size_t n = 0, nq = 0;

        while (n < 8 && v->headers[n].name) {
                h[n] = v->headers[n];
                n++;
        }
        if (authorization)
                h[n++] = (Sigv4Pair){"Authorization", authorization};
        while (nq < 8 && v->query[nq].name)
                nq++;
        return (Sigv4Request){
                .method = v->method,
                .path = v->path,
                .headers = h,
                .n_headers = n,
                .query = v->query,
                .n_query = nq,
                .body = v->body,
                .body_len = strlen(v->body),
        };
}

TEST(botocore_vectors) {
        for (size_t i = 0; i < ELEMENTSOF(vectors); i++) {
                const Vector *v = &vectors[i];
                Sigv4Pair h[10];
                Sigv4Request r = request(v, h, v->authorization);
                Sigv4Auth a = {};
                Sigv4Failure f = {};

                if (sigv4_parse(&r, "us-east-1", v->service, WHEN + 60, &a, &f) < 0)
                        TEST_FAIL_("vector %zu: parse: %s: %s", i, f.error, f.message);
                ASSERT_STR_EQ(a.access_key_id, KEY);
                ASSERT_STR_EQ(a.signed_headers, v->signed_headers);
                if (sigv4_verify(&a, &r, SECRET, &f) < 0)
                        TEST_FAIL_("vector %zu: verify: %s: %s", i, f.error, f.message);
                ASSERT_TRUE(sigv4_verify(&a, &r, "another secret", &f) < 0);
                ASSERT_STR_EQ(f.error, "InvalidSignatureException");
                sigv4_failure_done(&f);

                /* A changed body, or a changed value of a signed header. */
                r.body_len = r.body_len ? r.body_len - 1 : 0;
                if (strlen(v->body) > 0) {
                        ASSERT_TRUE(sigv4_verify(&a, &r, SECRET, &f) < 0);
                        sigv4_failure_done(&f);
                }
                r.body_len = strlen(v->body);
                for (size_t j = 0; j < r.n_headers; j++)
                        if (strcasecmp(h[j].name, "X-Amz-Target") == 0)
                                h[j].value = "AWSStepFunctions.DeleteStateMachine";
                ASSERT_TRUE(sigv4_verify(&a, &r, SECRET, &f) < 0);
                sigv4_failure_done(&f);
                sigv4_auth_done(&a);

                /* Our signer writes what botocore wrote. */
                {
                        Sigv4Request plain = request(v, h, NULL);
                        _cleanup_free_ char *mine = sigv4_sign(&plain, KEY, SECRET, "us-east-1", v->service,
                                                               "20150830T123600Z", v->signed_headers);
                        ASSERT_STR_EQ(mine, v->authorization);
                }
        }
}

/* sigv4_parse() of vector 0 with its headers replaced. */
static void expect_refusal(const char *authorization, const char *date, const char *extra_name,
                           const char *extra_value, int64_t now, const char *error, const char *message) {
        Sigv4Pair h[8] = {
                {"Host", "localhost:8083"},
                {"X-Amz-Target", "AWSStepFunctions.StartExecution"},
        };
        size_t n = 2;
        Sigv4Request r = {.method = "POST", .path = "/", .headers = h, .body = "{}", .body_len = 2};
        Sigv4Auth a = {};
        Sigv4Failure f = {};

        if (authorization)
                h[n++] = (Sigv4Pair){"Authorization", authorization};
        if (date)
                h[n++] = (Sigv4Pair){"X-Amz-Date", date};
        if (extra_name)
                h[n++] = (Sigv4Pair){extra_name, extra_value};
        r.n_headers = n;
        if (sigv4_parse(&r, "us-east-1", "states", now, &a, &f) == 0)
                TEST_FAIL_("accepted: %s", strempty(authorization));
        ASSERT_STR_EQ(f.error, error);
        if (!strstr(f.message, message))
                TEST_FAIL_("message '%s' lacks '%s'", f.message, message);
        sigv4_failure_done(&f);
}

#define GOOD_CRED "Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws4_request"
#define GOOD_SH "SignedHeaders=host;x-amz-date;x-amz-target"
#define GOOD_SIG "Signature=ebfe551f31014320f4a3d218487371c81e469cefd5aef704523c242314f5cf9f"
#define GOOD "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG

TEST(refusals) {
        expect_refusal(NULL, "20150830T123600Z", NULL, NULL, WHEN, "MissingAuthenticationTokenException",
                       "Missing Authentication Token");
        expect_refusal("AWS4-HMAC-SHA1 " GOOD_CRED ", " GOOD_SH ", " GOOD_SIG, "20150830T123600Z", NULL,
                       NULL, WHEN, "IncompleteSignatureException", "Unsupported AWS 'algorithm'");
        expect_refusal("AWS4-HMAC-SHA256 " GOOD_SH ", " GOOD_SIG, "20150830T123600Z", NULL, NULL, WHEN,
                       "IncompleteSignatureException", "requires 'Credential' parameter");
        expect_refusal("AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH, "20150830T123600Z", NULL, NULL, WHEN,
                       "IncompleteSignatureException", "requires 'Signature' parameter");
        expect_refusal(GOOD, NULL, NULL, NULL, WHEN, "IncompleteSignatureException",
                       "either a 'X-Amz-Date' or a 'Date' header");
        expect_refusal(GOOD, "2015-08-30T12:36:00Z", NULL, NULL, WHEN, "IncompleteSignatureException",
                       "ISO-8601 'basic format'");
        expect_refusal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/states, " GOOD_SH
                       ", " GOOD_SIG,
                       "20150830T123600Z", NULL, NULL, WHEN, "IncompleteSignatureException",
                       "exactly 5 slash-delimited elements");
        expect_refusal("AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=x-amz-date;host, " GOOD_SIG,
                       "20150830T123600Z", NULL, NULL, WHEN, "IncompleteSignatureException", "in order");
        expect_refusal("AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=XYZ", "20150830T123600Z",
                       NULL, NULL, WHEN, "IncompleteSignatureException", "64 lower-case hexadecimal digits");
        expect_refusal(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/states/aws4_request, " GOOD_SH
                ", " GOOD_SIG,
                "20150830T123600Z", NULL, NULL, WHEN, "InvalidSignatureException",
                "Credential should be scoped to a valid region, not 'eu-west-1'");
        expect_refusal("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, " GOOD_SH
                       ", " GOOD_SIG,
                       "20150830T123600Z", NULL, NULL, WHEN, "InvalidSignatureException",
                       "scoped to correct service: 'states'");
        expect_refusal(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/states/aws3_request, " GOOD_SH
                ", " GOOD_SIG,
                "20150830T123600Z", NULL, NULL, WHEN, "InvalidSignatureException", "valid terminator");
        expect_refusal(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/states/aws4_request, " GOOD_SH
                ", " GOOD_SIG,
                "20150830T123600Z", NULL, NULL, WHEN, "InvalidSignatureException",
                "Date in Credential scope does not match");
        expect_refusal("AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;x-amz-date, " GOOD_SIG,
                       "20150830T123600Z", NULL, NULL, WHEN, "InvalidSignatureException",
                       "'X-Amz-Target' must be a 'SignedHeader'");
        expect_refusal(GOOD, "20150830T123600Z", NULL, NULL, WHEN + 301, "InvalidSignatureException",
                       "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
                       "(20150830T124101Z - 5 min.)");
        expect_refusal(GOOD, "20150830T123600Z", NULL, NULL, WHEN - 301, "InvalidSignatureException",
                       "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z "
                       "(20150830T123059Z + 5 min.)");
        expect_refusal(GOOD, "20150830T123600Z", "X-Amz-Security-Token", "FQoGZXIvYXdzE", WHEN,
                       "UnrecognizedClientException", "security token included in the request is invalid");
}

TEST(skew_limits_inclusive) {
        Sigv4Pair h[] = {
                {"Host", "h"},
                {"X-Amz-Target", "t"},
                {"X-Amz-Date", "20150830T123600Z"},
                {"Authorization", GOOD},
        };
        Sigv4Request r = {.method = "POST", .path = "/", .headers = h, .n_headers = 4};
        Sigv4Auth a = {};
        Sigv4Failure f = {};

        ASSERT_INT_EQ(sigv4_parse(&r, "us-east-1", "states", WHEN + 300, &a, &f), 0);
        sigv4_auth_done(&a);
        ASSERT_INT_EQ(sigv4_parse(&r, "us-east-1", "states", WHEN - 300, &a, &f), 0);
        ASSERT_INT_EQ(a.time_sec, WHEN);
        sigv4_auth_done(&a);
}

TEST(content_sha256) {
        const Vector *v = &vectors[0];
        Sigv4Pair h[11];
        Sigv4Request r = request(v, h, v->authorization);
        Sigv4Auth a = {};
        Sigv4Failure f = {};

        h[r.n_headers++] = (Sigv4Pair){"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"};
        ASSERT_INT_EQ(sigv4_parse(&r, "us-east-1", "states", WHEN, &a, &f), 0);
        ASSERT_TRUE(sigv4_verify(&a, &r, SECRET, &f) < 0);
        ASSERT_TRUE(strstr(f.message, "x-amz-content-sha256") != NULL);
        sigv4_failure_done(&f);
        sigv4_auth_done(&a);
}

TEST(date_header) {
        /* No X-Amz-Date: the Date header, which then need not be signed. */
        Sigv4Pair h[4] = {
                {"Host", "localhost:8083"},
                {"X-Amz-Target", "x"},
                {"Date", "Sun, 30 Aug 2015 12:36:00 GMT"},
        };
        Sigv4Request r = {
                .method = "POST", .path = "/", .headers = h, .n_headers = 3, .body = "", .body_len = 0};
        _cleanup_free_ char *auth = sigv4_sign(&r, KEY, SECRET, "us-east-1", "states", "20150830T123600Z",
                                               "date;host;x-amz-target");
        Sigv4Auth a = {};
        Sigv4Failure f = {};

        h[r.n_headers++] = (Sigv4Pair){"Authorization", auth};
        ASSERT_INT_EQ(sigv4_parse(&r, "us-east-1", "states", WHEN, &a, &f), 0);
        ASSERT_STR_EQ(a.amz_date, "20150830T123600Z");
        ASSERT_INT_EQ(sigv4_verify(&a, &r, SECRET, &f), 0);
        sigv4_auth_done(&a);
}

TEST(amz_date) {
        int64_t t;
        char s[17];

        ASSERT_INT_EQ(sigv4_parse_amz_date("20150830T123600Z", &t), 0);
        ASSERT_INT_EQ(t, WHEN);
        sigv4_format_amz_date(t, s);
        ASSERT_STR_EQ(s, "20150830T123600Z");
        ASSERT_TRUE(sigv4_parse_amz_date("20150830T123600", &t) < 0);
        ASSERT_TRUE(sigv4_parse_amz_date("20151330T123600Z", &t) < 0);
        ASSERT_TRUE(sigv4_parse_amz_date("2015083OT123600Z", &t) < 0);
        ASSERT_TRUE(sigv4_parse_amz_date(NULL, &t) < 0);
}
