/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for imgflow-api's request path on untrusted bytes: an
 * HTTP request as the server hands it over (method, path, query, headers,
 * body), through what the front door does before any operation runs:
 * SigV4 (api/sigv4.c: the Authorization header, the dates, the canonical
 * request, the signature), the AWS JSON body (api/aws-json.c: limits,
 * member getters, ARNs, page tokens), and the keys file parser and IAM
 * policies (api/keys.c, api/iam.c) on the body as well.
 *
 * Input: "METHOD PATH?QUERY\n", then "Name: value\n" header lines, an
 * empty line, then the body. The clock is the request's own X-Amz-Date
 * (when it parses), so the signature is checked, not only the skew; the
 * secret is fixed, and a request that carries our signature of itself is
 * built once in a while so that the accepting path runs too.
 *
 * Invariants: a refusal always names an AWS error and says something; an
 * accepted request verifies again with the same result (deterministic);
 * a request signed by sigv4_sign() verifies; every member getter either
 * yields a value within its bounds or an error.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "aws-json.h"
#include "iam.h"
#include "keys.h"
#include "sigv4.h"

#define FUZZ_MAX_INPUT (256 * 1024)
#define FUZZ_MAX_PAIRS 64
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_failure(const Sigv4Failure *f) {
        if (!f->error || !f->message || !*f->message)
                abort();
}

static void members(const json_t *body) {
        static const char *const statuses[] = {"RUNNING", "SUCCEEDED", NULL};
        const char *s;
        int64_t i;
        bool b;
        AwsError e = {};
        char *rest = NULL;

        if (aws_get_string(body, "name", true, 1, 80, &s, &e) == 0 && aws_string_length(s) > 80)
                abort();
        if (aws_get_int(body, "maxResults", 0, 1000, 0, &i, &e) == 0 && (i < 0 || i > 1000))
                abort();
        (void) aws_get_bool(body, "reverseOrder", false, &b, &e);
        (void) aws_get_enum(body, "statusFilter", statuses, &s, &e);
        if (aws_get_string(body, "stateMachineArn", false, 1, 256, &s, &e) == 0 && s &&
            aws_arn_parse(s, "us-east-1", "123456789012", "stateMachine", &rest, &e) == 0)
                free(rest);
        if (aws_get_string(body, "nextToken", false, 1, 1024, &s, &e) == 0 && s &&
            aws_page_token_decode(s, "ex", &rest, &e) == 0)
                free(rest);
        if (e.name && !e.message)
                abort();
        aws_error_done(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL, *auth_mine = NULL;
        Sigv4Pair headers[FUZZ_MAX_PAIRS + 1], query[FUZZ_MAX_PAIRS];
        Sigv4Request r = {};
        Sigv4Auth a = {};
        Sigv4Failure f = {};
        json_t *body = NULL;
        AwsError e = {};
        char *p, *line, *q, *sp;
        const char *date = NULL;
        int64_t now = 1440938160;
        size_t n_headers = 0, n_query = 0, body_len;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        text = xmalloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;

        /* Request line. */
        p = text;
        line = strsep(&p, "\n");
        sp = strchr(line, ' ');
        r.method = line;
        r.path = "/";
        if (sp) {
                *sp = 0;
                r.path = sp + 1;
                q = strchr(sp + 1, '?');
                if (q) {
                        *q++ = 0;
                        while (q && n_query < FUZZ_MAX_PAIRS) {
                                char *pair = strsep(&q, "&"), *eq = strchr(pair, '=');
                                if (eq)
                                        *eq++ = 0;
                                query[n_query++] = (Sigv4Pair){pair, eq ? eq : ""};
                        }
                }
        }
        /* Headers up to an empty line. */
        while (p && n_headers < FUZZ_MAX_PAIRS) {
                char *colon;

                line = strsep(&p, "\n");
                if (!*line)
                        break;
                colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon++ = 0;
                colon += strspn(colon, " ");
                headers[n_headers++] = (Sigv4Pair){line, colon};
                if (strcasecmp(line, "X-Amz-Date") == 0 && !date)
                        date = colon; /* the first, as sigv4_parse() reads it */
        }
        r.headers = headers;
        r.n_headers = n_headers;
        r.query = query;
        r.n_query = n_query;
        r.body = p ? p : "";
        body_len = p ? size - (size_t) (p - text) : 0;
        r.body_len = body_len;
        if (date)
                (void) sigv4_parse_amz_date(date, &now);

        /* SigV4 as the front door runs it. */
        if (sigv4_parse(&r, "us-east-1", "states", now, &a, &f) == 0) {
                int k1 = sigv4_verify(&a, &r, SECRET, &f), k2;

                if (k1 < 0)
                        check_failure(&f);
                sigv4_failure_done(&f);
                k2 = sigv4_verify(&a, &r, SECRET, &f);
                if (k1 != k2)
                        abort();
                sigv4_failure_done(&f);
                sigv4_auth_done(&a);
        } else {
                check_failure(&f);
                sigv4_failure_done(&f);
        }

        /* The same request with our own signature (when it has room and the
         * headers the signer needs): it must verify. */
        if (date && n_headers < FUZZ_MAX_PAIRS && sigv4_parse_amz_date(date, &now) == 0) {
                bool host = false, target = false, auth = false;
                char amz[17];

                sigv4_format_amz_date(now, amz);
                for (size_t i = 0; i < n_headers; i++) {
                        host = host || strcasecmp(headers[i].name, "Host") == 0;
                        target = target || strcasecmp(headers[i].name, "X-Amz-Target") == 0;
                        auth = auth || strcasecmp(headers[i].name, "Authorization") == 0;
                }
                if (host && target && !auth && streq(amz, date)) {
                        auth_mine = sigv4_sign(&r, "AKIDEXAMPLE", SECRET, "us-east-1", "states", amz,
                                               "host;x-amz-date;x-amz-target");
                        headers[n_headers] = (Sigv4Pair){"Authorization", auth_mine};
                        r.n_headers = n_headers + 1;
                        if (sigv4_parse(&r, "us-east-1", "states", now, &a, &f) == 0) {
                                if (sigv4_verify(&a, &r, SECRET, &f) < 0 &&
                                    !strstr(f.message, "x-amz-content-sha256"))
                                        abort();
                                sigv4_auth_done(&a);
                        }
                        sigv4_failure_done(&f);
                }
        }

        /* The body as the operations read it. */
        if (aws_body_parse(r.body, body_len, &body, &e) == 0) {
                members(body);
                json_decref(body);
        } else if (!e.name || !e.message)
                abort();
        aws_error_done(&e);

        /* The body as a keys file (policies included). */
        {
                _cleanup_free_ char *error = NULL;
                KeySet *k = NULL;

                if (keys_parse(r.body, body_len, &k, &error) == 0) {
                        if (keys_count(k) > 0 && !keys_find(k, "AKIAIMGFLOWFUZZ00001") && error)
                                abort();
                        keys_free(k);
                } else if (!error)
                        abort();
        }
        return 0;
}
