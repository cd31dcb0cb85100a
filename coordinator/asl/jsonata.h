/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * JSONata: the query and transformation language of Step Functions' JSONata
 * states, as a pure module (no I/O, no clock, no randomness of its own).
 *
 * An expression is compiled once (jsonata_compile) into an immutable tree that
 * can be evaluated any number of times, also from several threads at once:
 *
 *   JsonataExpr *e = NULL;
 *   JsonataError err = {};
 *   if (jsonata_compile("$sum(items.price)", SIZE_MAX, &e, &err) < 0)
 *           ... err.code is "S0201" & co, err.message the text ...
 *   JsonataContext ctx = { .env = &env };            (limits 0 = defaults)
 *   json_t *result = NULL;
 *   if (jsonata_evaluate(e, input, &ctx, &result, &err) < 0)
 *           ... err.code is "T2001", "D3137", "U1001" ...
 *   (result == NULL means JSONata's "undefined": no value)
 *   jsonata_error_clear(&err); json_decref(result); jsonata_expr_free(e);
 *
 * Errors are values: JSONata's error code, its message, the position in the
 * expression (a byte offset; the reference counts UTF-16 units) and the token
 * when known. The ASL layer maps any of them to States.QueryEvaluationError.
 *
 * Variables ($name) come in as bindings (JsonataVariable, without the '$'),
 * e.g. $states and the workflow variables; a binding hides a function of the
 * same name. Extra function tables (JsonataLibrary, e.g. jsonata_aws_library
 * from jsonata-aws.h) are turned on per evaluation.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct JsonataExpr JsonataExpr;
typedef struct JsonataLibrary JsonataLibrary;

typedef struct JsonataError {
        char code[8];     /* "T2001"; "" when no error */
        char *message;    /* owned */
        char *token;      /* owned, may be NULL */
        int64_t position; /* -1 if unknown */
} JsonataError;

void jsonata_error_clear(JsonataError *e);

/* Time and randomness, from the caller. now_ms: ms since the epoch; it stays
 * the same through one evaluation, as JSONata's $now() does. random: n random
 * bytes (NULL: $random() & co fail with D3150). */
typedef struct JsonataEnv {
        int64_t now_ms;
        void (*random)(void *userdata, void *buf, size_t n);
        void *random_userdata;
} JsonataEnv;

/* Limits of one evaluation; 0 means the default. */
#define JSONATA_DEFAULT_MAX_DEPTH 500          /* nested evaluations (U1001) */
#define JSONATA_DEFAULT_MAX_STEPS 10000000     /* evaluation steps (U1001) */
#define JSONATA_DEFAULT_MAX_MEMORY (64u << 20) /* bytes of values (U1002) */
/* Compile-time limits. */
#define JSONATA_MAX_EXPRESSION_LENGTH (1u << 20) /* bytes (S0001) */
#define JSONATA_MAX_NESTING 200                  /* syntax nesting (S0002) */
#define JSONATA_MAX_TREE_DEPTH 1000              /* depth of the parsed tree, e.g. 1+1+...+1 (S0002) */
/* Values nested deeper than this (built by a loop, say) cannot be printed,
 * compared, copied or returned: U1001 instead of a C stack overflow. */
#define JSONATA_MAX_VALUE_DEPTH 1000

typedef struct JsonataLimits {
        size_t max_depth;
        uint64_t max_steps;
        size_t max_memory;
} JsonataLimits;

typedef struct JsonataVariable {
        const char *name;    /* without the '$' */
        const json_t *value; /* borrowed; NULL binds "undefined" */
} JsonataVariable;

typedef struct JsonataContext {
        const JsonataVariable *variables;
        size_t n_variables;
        const JsonataEnv *env; /* may be NULL: time 0, no randomness */
        JsonataLimits limits;
        const JsonataLibrary *const *libraries; /* extra functions, searched first */
        size_t n_libraries;
} JsonataContext;

/* Compiles len bytes of text (SIZE_MAX: up to the NUL). On success *ret is a
 * new expression; on failure -EINVAL and err is set (S0xxx codes). */
int jsonata_compile(const char *text, size_t len, JsonataExpr **ret, JsonataError *err);
/* Accepts NULL, returns NULL. */
JsonataExpr *jsonata_expr_free(JsonataExpr *e);

/* Evaluates e against input (borrowed; NULL is "undefined"). On success 0 and
 * *ret is a new reference, or NULL when the result is undefined. On failure
 * -EINVAL with err set (its code says which: T/D codes from the language, U1001
 * depth or step limit, U1002 memory limit); *ret untouched. */
int jsonata_evaluate(const JsonataExpr *e, const json_t *input, const JsonataContext *ctx, json_t **ret,
                     JsonataError *err);

/*
 * A session evaluates several expressions with one context (a state's
 * Arguments, Output and Assign against the same $states): the variables are
 * converted once, on first use, and all values live until the session is
 * freed. Each evaluation has its own step and depth budget; the memory limit
 * is for the whole session. ctx (and everything it points to) is borrowed and
 * must outlive the session. Not for use by two threads at once.
 *
 * jsonata_evaluate() is a session of one evaluation.
 */
typedef struct JsonataSession JsonataSession;

/* 0, or -ENOMEM when the memory limit is too small to start. */
int jsonata_session_new(const JsonataContext *ctx, JsonataSession **ret);
/* As jsonata_evaluate(), within the session. */
int jsonata_session_evaluate(JsonataSession *s, const JsonataExpr *e, const json_t *input, json_t **ret,
                             JsonataError *err);
/* Accepts NULL, returns NULL. */
JsonataSession *jsonata_session_free(JsonataSession *s);

/*
 * What an expression refers to from outside itself, for checks before it runs
 * (the ASL validator's checks of $states, variables and top-level names):
 *
 *   variables  its free variables (without the '$'; "$" for $$), each with the
 *              name the expression reads from it right away, if any:
 *              `$states.input.x` gives {"states", "input"}, `$sum(a)` gives
 *              {"sum", NULL} (a function is a variable too: see
 *              jsonata_function_exists()). Variables bound inside (`:=`, lambda
 *              parameters, `@$v`, `#$v`) are not free where they are bound.
 *   names      field names read from the input at the top level: the first
 *              step of a path evaluated in the top-level context (`phone` in
 *              `phone.number`, not `number`, nor names in predicates, sort
 *              terms, group-by pairs or transforms).
 *
 * Both sorted and without duplicates. All strings owned by the struct; free
 * with jsonata_references_clear(). Returns 0, or -EINVAL for NULL arguments.
 */
typedef struct JsonataReference {
        char *variable;
        char *member; /* may be NULL */
} JsonataReference;

typedef struct JsonataReferences {
        JsonataReference *variables;
        size_t n_variables;
        char **names;
        size_t n_names;
} JsonataReferences;

int jsonata_expr_references(const JsonataExpr *e, JsonataReferences *ret);
void jsonata_references_clear(JsonataReferences *r);
/* True if the variable (without '$') is among r's free variables. */
bool jsonata_references_has_variable(const JsonataReferences *r, const char *name);
/* True if name (without '$') is a function of the standard library or of one
 * of the libraries. */
bool jsonata_function_exists(const char *name, const JsonataLibrary *const *libraries, size_t n_libraries);

/* Formats a number as JavaScript's Number.prototype.toString() does (shortest
 * text that reads back as the same double); buf >= 32 bytes. */
void jsonata_format_number(double d, char *buf, size_t size);
