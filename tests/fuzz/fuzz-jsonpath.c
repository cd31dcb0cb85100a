/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the JSONPath and intrinsic function modules.
 *
 * Input: an expression, a newline, then a JSON document (if the document
 * does not parse, a small fixed one is used so the expression is still
 * evaluated). An expression starting with "States." goes through
 * intrinsic_check/intrinsic_eval (input, context and variables are the document);
 * anything else through jsonpath_check, jsonpath_is_definite, jsonpath_eval
 * (and jsonpath_eval_why) and jsonpath_set. A few invariants between check
 * and eval are asserted.
 * Must never crash, leak or hang.
 */

#include <stdio.h>
#include <string.h>

#include "asl-intrinsics.h"
#include "asl-jsonpath.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_random(void *userdata, void *buf, size_t n) {
        uint64_t *s = userdata;
        uint8_t *b = buf;

        for (size_t i = 0; i < n; i++) {
                *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
                b[i] = (uint8_t) (*s >> 56);
        }
}

static void check_path(const char *expr, json_t *doc) {
        char *msg = NULL;
        json_t *r = NULL;
        JsonPathKind k;
        int rc;

        k = jsonpath_check(expr, &msg);
        if ((k == JSONPATH_INVALID) != (msg != NULL))
                abort(); /* a message exactly when invalid */
        free(msg);
        msg = NULL;
        if ((jsonpath_check_reference(expr, &msg) == 0) != (k == JSONPATH_REFERENCE))
                abort();
        free(msg);

        bool definite = jsonpath_is_definite(expr);
        if (k == JSONPATH_REFERENCE && !definite)
                abort();

        rc = jsonpath_eval(doc, expr, &r);
        if (k == JSONPATH_INVALID && rc != -EINVAL)
                abort();
        if (k != JSONPATH_INVALID && rc == -EINVAL)
                abort();
        if (rc == 0) {
                if (!r)
                        abort();
                if (!definite && !json_is_array(r))
                        abort(); /* indefinite paths always yield an array */
                json_decref(r);
        } else if (rc == -ENOENT && !definite)
                abort(); /* indefinite paths never -ENOENT */
        if (rc == -ENOENT) {
                /* ... and a definite miss always says why, in Jayway's words. */
                char *why = NULL;

                if (jsonpath_eval_why(doc, expr, &r, &why) != -ENOENT || !why ||
                    (strncmp(why, "No results for path: $", 22) != 0 && strncmp(why, "Missing property in path $", 26) != 0 &&
                     strncmp(why, "Expected to find an object with property ", 41) != 0))
                        abort();
                free(why);
        }

        json_t *copy = json_deep_copy(doc);
        if (!copy)
                return;
        rc = jsonpath_set(&copy, expr, json_string("fuzz"));
        if (rc == 0 && k != JSONPATH_REFERENCE)
                abort();
        if (rc == 0) {
                /* What was set can be read back. */
                r = NULL;
                if (jsonpath_eval(copy, expr, &r) != 0 || !json_is_string(r) || strcmp(json_string_value(r), "fuzz") != 0)
                        abort();
                json_decref(r);
        }
        json_decref(copy);
}

static void check_intrinsic(const char *expr, json_t *doc, uint64_t seed) {
        AslEnv env = { .random = fuzz_random, .random_userdata = &seed, .max_payload_bytes = 64 * 1024 };
        AslError err = {};
        char *msg = NULL;
        json_t *r = NULL;
        int c, rc;

        c = intrinsic_check(expr, &msg);
        if ((c < 0) != (msg != NULL))
                abort();
        free(msg);
        (void) intrinsic_is_call(expr);

        rc = intrinsic_eval(expr, doc, &(AslRefs){.context = doc, .vars = doc}, &env, &r, &err);
        if (rc == 0) {
                if (!r || asl_error_isset(&err))
                        abort();
                if (c < 0)
                        abort(); /* what check rejects never evaluates */
                json_decref(r);
        } else {
                /* IntrinsicFailure, or States.Runtime naming the whole
                 * expression for a path argument that does not resolve. */
                if (r || !err.error || !err.cause)
                        abort();
                if (strcmp(err.error, "States.IntrinsicFailure") != 0 &&
                    (strcmp(err.error, "States.Runtime") != 0 || strncmp(err.cause, "The function '", 14) != 0))
                        abort();
        }
        asl_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nl;
        char *expr;
        json_t *doc;
        uint64_t seed = 0;

        if (size > FUZZ_MAX_INPUT)
                return 0;
        nl = memchr(data, '\n', size);
        size_t elen = nl ? (size_t) (nl - data) : size;
        expr = strndup((const char *) data, elen);
        if (!expr)
                return 0;
        if (nl)
                doc = json_loadb((const char *) nl + 1, size - elen - 1, JSON_DECODE_ANY, NULL);
        else
                doc = NULL;
        if (!doc)
                doc = json_loads("{\"a\":[1,{\"b\":\"x\"},[2,3]],\"s\":\"t,u\",\"n\":3,\"o\":{\"k\":null}}", 0, NULL);
        for (size_t i = 0; i < size; i++)
                seed = seed * 31 + data[i];

        if (strncmp(expr, "States.", 7) == 0)
                check_intrinsic(expr, doc, seed);
        else
                check_path(expr, doc);

        json_decref(doc);
        free(expr);
        return 0;
}
