/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * JSONata in states (QueryLanguage "JSONata"): the "{% ... %}" strings of a
 * definition, compiled once per definition, and their evaluation.
 *
 * A string value anywhere in a JSONata field (Arguments, Output, Assign,
 * Items, ItemSelector, Condition, Seconds, Timestamp, Error, Cause,
 * TimeoutSeconds, HeartbeatSeconds, MaxConcurrency, ToleratedFailure*) is an
 * expression when it starts with "{%" and ends with "%}"; any other string
 * is itself. The validator compiles every expression (AslExprCache, keyed by
 * the address of the string in the definition, which the machine owns and
 * never changes), so evaluation never parses.
 *
 * Evaluation (AslQuery) binds the reserved $states ({"input", "result"?,
 * "errorOutput"?, "context"}) and the workflow variables, with the engine's
 * time and randomness and the functions AWS adds ($eval refused), in one
 * JSONata session per state step: each variable is converted once however
 * many expressions read it. Failures are States.QueryEvaluationError with
 * Step Functions' causes:
 *
 *   The JSONata expression '<expr>' specified for the field '<field>'
 *   returned nothing (undefined).
 *   The JSONata expression '<expr>' specified for the field '<field>' threw
 *   an error during evaluation. <code>: <message>
 *
 * where <field> names the place in the state ("Output/a/b[0]", "Assign/x",
 * "Choices[1]/Condition"); the same text is the location of the
 * EvaluationFailed history event.
 */

#include "asl-util.h"
#include "jsonata.h"

/* True if s is a "{% ... %}" string; *ret_expr / *ret_len: the expression
 * inside, without the delimiters and the white space around it. */
bool asl_query_is_expression(const char *s, size_t len, const char **ret_expr, size_t *ret_len);
static inline bool asl_query_json_is_expression(const json_t *v) {
        return json_is_string(v) &&
               asl_query_is_expression(json_string_value(v), json_string_length(v), NULL, NULL);
}

/* One compiled expression of a definition. */
typedef struct AslExpr {
        const json_t *key; /* the string in the definition (borrowed) */
        JsonataExpr *expr; /* owned */
        char *text;        /* owned: the expression as causes quote it */
        bool uses_states;  /* reads $states */
        bool uses_context; /* may read $states.context (or all of $states) */
} AslExpr;

typedef struct AslExprCache {
        AslExpr *slots; /* open addressing; key NULL = empty */
        size_t n, cap;
} AslExprCache;

/* Takes ownership of e->expr and e->text. */
void asl_expr_cache_put(AslExprCache *c, AslExpr e);
/* NULL if the string was not compiled. */
const AslExpr *asl_expr_cache_get(const AslExprCache *c, const json_t *key);
void asl_expr_cache_clear(AslExprCache *c);

/* The JSONata functions of JSONata states: the standard library and AWS's. */
extern const JsonataLibrary *const asl_query_libraries[];
extern const size_t asl_query_n_libraries;

/*
 * The evaluation of one state step. Fill in the fields, then call
 * asl_query_eval() / asl_query_template() any number of times, and
 * asl_query_done() at the end. All json_t pointers borrowed.
 */
typedef struct AslQuery {
        const AslExprCache *exprs;
        json_t *input;                           /* $states.input */
        json_t *result;                          /* $states.result, or NULL */
        json_t *error_output;                    /* $states.errorOutput, or NULL */
        json_t *context;                         /* $states.context; NULL = build it with make_context */
        json_t *(*make_context)(void *userdata); /* returns a new reference */
        void *userdata;
        json_t *vars; /* visible workflow variables name -> value, or NULL */
        const AslEnv *env;

        /* private */
        json_t *states;
        JsonataVariable *bindings;
        size_t n_bindings;
        JsonataEnv jenv;
        JsonataContext jctx;
        JsonataSession *session;
} AslQuery;

/*
 * Evaluates the definition string `value` (borrowed; an expression or not)
 * for the field named `field`. 0 and *ret (new reference; a non-expression
 * is returned as it is), or -EINVAL with err set (States.QueryEvaluationError)
 * and *ret_location (new string) set to the field. An expression that
 * returns nothing (undefined) is an error, as in Step Functions, also inside
 * an object or array.
 */
int asl_query_eval(AslQuery *q, json_t *value, const char *field, json_t **ret, AslError *err,
                   char **ret_location);

/*
 * Walks a JSONata field's value (objects and arrays recursively) and
 * evaluates every expression in it: fields named "Output/a/b[0]". Same
 * returns as asl_query_eval().
 */
int asl_query_template(AslQuery *q, json_t *value, const char *field, json_t **ret, AslError *err,
                       char **ret_location);

void asl_query_done(AslQuery *q);
