/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for JSONata evaluation, with the AWS functions on.
 *
 * Input: an expression, a newline, then a JSON document (if it does not
 * parse, a small fixed one is used). The expression is compiled once and
 * evaluated twice with tight limits (depth, steps, memory) and a fixed clock
 * and random source: both runs must agree (the evaluator is deterministic),
 * an error must carry a code and a message, and nothing may crash, leak or
 * hang.
 */

#include <stdlib.h>
#include <string.h>

#include "jsonata-aws.h"
#include "jsonata.h"

#define FUZZ_MAX_INPUT (16 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_random(void *userdata, void *buf, size_t n) {
        uint64_t *s = userdata;
        uint8_t *b = buf;
        for (size_t i = 0; i < n; i++) {
                *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
                b[i] = (uint8_t) (*s >> 56);
        }
}

static int eval_once(const JsonataExpr *e, json_t *doc, json_t **ret, JsonataError *err) {
        uint64_t state = 1;
        JsonataEnv env = {.now_ms = 1700000000000LL, .random = fuzz_random, .random_userdata = &state};
        const JsonataLibrary *libs[] = {&jsonata_aws_library};
        json_t *var = json_pack("{s:i,s:[i,i]}", "n", 1, "a", 1, 2);
        JsonataVariable vars[] = {{"v", var}};
        JsonataContext ctx = {
                .variables = vars,
                .n_variables = 1,
                .env = &env,
                .limits = {.max_depth = 100, .max_steps = 20000, .max_memory = 4u << 20},
                .libraries = libs,
                .n_libraries = 1,
        };
        int r = jsonata_evaluate(e, doc, &ctx, ret, err);
        json_decref(var);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *nl;
        size_t elen;
        json_t *doc = NULL;
        JsonataExpr *e = NULL;
        JsonataError err = {.position = -1};

        if (size > FUZZ_MAX_INPUT)
                return 0;
        nl = memchr(data, '\n', size);
        elen = nl ? (size_t) (nl - (const char *) data) : size;
        if (nl)
                doc = json_loadb(nl + 1, size - elen - 1, JSON_DECODE_ANY, NULL);
        if (!doc)
                doc = json_pack("{s:[{s:i,s:s},{s:i,s:s}],s:{s:b}}", "items", "p", 3, "n", "a", "p", 5, "n",
                                "b", "o", "x", 1);
        if (jsonata_compile((const char *) data, elen, &e, &err) == 0) {
                json_t *r1 = NULL, *r2 = NULL;
                JsonataError e2 = {.position = -1};
                int a = eval_once(e, doc, &r1, &err);
                int b = eval_once(e, doc, &r2, &e2);
                if (a != b)
                        abort();
                if (a < 0 && (!err.code[0] || !err.message || strcmp(err.code, e2.code) != 0))
                        abort();
                if (a == 0 && (r1 == NULL) != (r2 == NULL))
                        abort();
                if (a == 0 && r1) {
                        /* the texts, not json_equal(): keys may hold NUL bytes */
                        char *t1 = json_dumps(r1, JSON_ENCODE_ANY | JSON_COMPACT);
                        char *t2 = json_dumps(r2, JSON_ENCODE_ANY | JSON_COMPACT);
                        if (!t1 || !t2 || strcmp(t1, t2) != 0)
                                abort();
                        free(t1);
                        free(t2);
                }
                json_decref(r1);
                json_decref(r2);
                jsonata_error_clear(&e2);
        }
        jsonata_error_clear(&err);
        jsonata_expr_free(e);
        json_decref(doc);
        return 0;
}
