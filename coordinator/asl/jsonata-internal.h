/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Internals of the JSONata module, shared by its files:
 *
 *   jsonata-lexer.c      tokens
 *   jsonata-parser.c     Pratt parser to an AST, then the reference's
 *                        post-processing (paths, stages, ancestry for %)
 *   jsonata-value.c      the arena, values, JSON in and out, equality, numbers
 *   jsonata-error.c      error messages, the longjmp out, the step budget
 *   jsonata-eval.c       the evaluator
 *   jsonata-regex.c      regular expressions (PCRE2) and matcher objects
 *   jsonata-signature.c  function signatures ("<s-nn?:s>")
 *   jsonata-functions.c, jsonata-strings.c, jsonata-format.c,
 *   jsonata-datetime.c   the function library
 *   jsonata-aws.c        the functions AWS adds
 *
 * Memory: every value made during one evaluation lives in that evaluation's
 * arena (JnArena) and dies with it; the AST lives in the expression's own
 * arena. Errors unwind with longjmp to jsonata_evaluate()/jsonata_compile(),
 * which is safe because nothing outside the arenas is allocated in between
 * (PCRE2 allocates its match data from the arena too).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "jsonata.h"

/* ------------------------------------------------------------------------ */
/* Arena */

typedef struct JnChunk JnChunk;
typedef struct JnArena {
        JnChunk *chunks;
        char *pos, *end;
        size_t used;  /* bytes handed out, counted against limit */
        size_t limit; /* 0 = none */
        size_t chunk; /* size of the last chunk */
        bool over;    /* limit exceeded */
} JnArena;

/* NULL if the limit would be exceeded (arena->over set); aborts on OOM. */
void *jn_arena_alloc(JnArena *a, size_t n);
void jn_arena_free(JnArena *a);

/* ------------------------------------------------------------------------ */
/* Values. NULL is JSONata's "undefined". */

typedef enum JnType {
        JN_NULL = 1,
        JN_BOOL,
        JN_NUMBER,
        JN_STRING,
        JN_ARRAY,
        JN_OBJECT,
        JN_FUNCTION,
} JnType;

/* Array flags */
#define JN_SEQUENCE 0x01
#define JN_KEEP_SINGLETON 0x02
#define JN_CONS 0x04
#define JN_OUTER_WRAPPER 0x08
#define JN_TUPLE_STREAM 0x10

typedef struct JnValue JnValue;
typedef struct JnObject JnObject;
typedef struct JnFunction JnFunction;
typedef struct JnNode JnNode;
typedef struct JnFrame JnFrame;
typedef struct JnEval JnEval;

typedef struct JnArray {
        JnValue **items;
        size_t n, cap;
} JnArray;

struct JnValue {
        uint8_t type;
        uint8_t flags;
        union {
                bool b;
                double num;
                struct {
                        const char *s;
                        size_t len;
                } str;
                JnArray arr;
                JnObject *obj;
                JnFunction *fn;
        };
};

struct JnObject {
        size_t n, cap;
        const char **keys;
        size_t *klens;
        JnValue **vals;
        uint32_t *index; /* open addressing, index_cap slots of (i + 1), or NULL */
        size_t index_cap;
};

/* ------------------------------------------------------------------------ */
/* Functions */

typedef JnValue *(*JnNativeFn)(JnEval *ev, JnValue **args, size_t n, JnValue *focus);

typedef struct JnSignature JnSignature;

typedef struct JnNative {
        const char *name;      /* without '$' */
        const char *signature; /* "<s-nn?:s>", or NULL for none */
        JnNativeFn fn;
        int arity; /* what $map & co pass (the reference's function length) */
} JnNative;

struct JsonataLibrary {
        const JnNative *functions;
        size_t n;
};

typedef enum JnFnKind {
        JN_FN_NATIVE,
        JN_FN_LAMBDA,
        JN_FN_PARTIAL, /* a function with some arguments bound */
        JN_FN_REGEX,
        JN_FN_TRANSFORM,
        JN_FN_CHAIN, /* f ~> g */
} JnFnKind;

struct JnFunction {
        JnFnKind kind;
        const JnNative *native; /* NATIVE */
        const JnSignature *sig; /* NATIVE (parsed), LAMBDA (optional) */
        const JnNode *node;     /* LAMBDA, REGEX, TRANSFORM */
        JnFrame *frame;         /* LAMBDA, TRANSFORM: the closure */
        JnValue *input;         /* LAMBDA: the context where it was defined */
        JnValue **bound;        /* PARTIAL: args (NULL = hole unless bound_set) */
        bool *is_hole;
        size_t n_bound;
        JnValue *target; /* PARTIAL: the function; CHAIN: first */
        JnValue *second; /* CHAIN */
        bool thunk;      /* LAMBDA: tail call */
};

/* ------------------------------------------------------------------------ */
/* Signatures */

typedef struct JnSigParam {
        char types[12];  /* allowed symbols: s n b l o a f m(missing) */
        char type;       /* the type letter, '(' for a choice */
        char quant;      /* 0, '?', '+' */
        bool context;    /* '-': use the focus when missing */
        char subtype[8]; /* a<...> / f<...> */
} JnSigParam;

struct JnSignature {
        JnSigParam params[12];
        size_t n;
};

/* Parses a signature; NULL and *code set ("S0401", "S0402") on failure. */
JnSignature *jn_signature_parse(JnArena *a, const char *s, size_t len, const char **code);
/* Validates (and fixes up) args; errors via jn_throw. Returns the new args. */
JnValue **jn_signature_validate(JnEval *ev, const JnSignature *sig, JnValue **args, size_t *n,
                                JnValue *focus, const char *name);

/* ------------------------------------------------------------------------ */
/* AST */

typedef enum JnNodeType {
        N_PATH,
        N_BINARY,
        N_UNARY_MINUS,
        N_ARRAY,  /* [ ... ] constructor */
        N_OBJECT, /* { ... } constructor (also group-by's pairs) */
        N_NAME,
        N_STRING,
        N_NUMBER,
        N_VALUE, /* true / false / null */
        N_WILDCARD,
        N_DESCENDANT,
        N_PARENT,
        N_CONDITION,
        N_BLOCK,
        N_BIND,
        N_REGEX,
        N_FUNCTION, /* call */
        N_PARTIAL,
        N_VARIABLE,
        N_LAMBDA,
        N_APPLY, /* ~> */
        N_TRANSFORM,
        N_SORT,
        N_COALESCE,    /* ?? */
        N_PLACEHOLDER, /* ? in a partial application */
        /* only during parsing */
        N_DOT,
        N_PREDICATE, /* lhs[rhs] */
        N_GROUP,     /* lhs{...} */
        N_ORDERBY,   /* lhs^(...) */
        N_FOCUS,     /* lhs@$v */
        N_INDEX,     /* lhs#$v */
        N_OPERATOR,  /* and/or/in used as a name */
} JnNodeType;

typedef enum JnBinOp {
        OP_ADD,
        OP_SUB,
        OP_MUL,
        OP_DIV,
        OP_MOD,
        OP_EQ,
        OP_NE,
        OP_LT,
        OP_LE,
        OP_GT,
        OP_GE,
        OP_CONCAT,
        OP_AND,
        OP_OR,
        OP_IN,
        OP_RANGE,
} JnBinOp;

typedef struct JnSlot {
        char label[16];
        int level;
        int index;
} JnSlot;

typedef struct JnNodeList {
        JnNode **items;
        size_t n, cap;
} JnNodeList;

typedef struct JnStage {
        bool is_index;   /* else filter */
        JnNode *expr;    /* filter */
        const char *var; /* index */
} JnStage;

typedef struct JnSortTerm {
        JnNode *expr;
        bool descending;
} JnSortTerm;

struct JnNode {
        JnNodeType type;
        int64_t position;
        const char *value; /* NAME, STRING, VARIABLE, BIND (var), op token text */
        size_t vlen;
        double num;       /* NUMBER */
        JnValue *literal; /* STRING / NUMBER / VALUE: the value */
        JnBinOp op;
        JnNode *lhs, *rhs;  /* BINARY, APPLY, COALESCE, BIND, (parse-time) */
        JnNode *expr;       /* UNARY_MINUS; CONDITION: condition */
        JnNode *then, *els; /* CONDITION */
        JnNodeList list;    /* PATH steps, ARRAY items, BLOCK exprs, call args, lambda params */
        JnNode **pairs;     /* OBJECT: keys and values, 2n */
        size_t n_pairs;
        JnNode *procedure;              /* FUNCTION, PARTIAL */
        JnNode *body;                   /* LAMBDA */
        JnSignature *sig;               /* LAMBDA */
        JnNode *pattern, *update, *del; /* TRANSFORM */
        JnSortTerm *terms;              /* SORT / ORDERBY */
        size_t n_terms;
        pcre2_code *regex; /* REGEX */
        const char *regex_src;
        uint32_t regex_flags;
        bool thunk; /* LAMBDA */
        /* path step decorations */
        JnStage *stages; /* STAGES on a step */
        size_t n_stages;
        JnNode **predicate; /* predicates on a non-step expression */
        size_t n_predicate;
        JnNode *group;     /* OBJECT node: group-by */
        const char *focus; /* @$v */
        const char *index; /* #$v */
        JnSlot *ancestor;  /* label bound to the parent */
        JnSlot *slot;      /* PARENT */
        JnSlot **seeking;  /* slots looking for their parent */
        size_t n_seeking;
        bool tuple;
        bool keep_array;
        bool keep_singleton;
        bool consarray;
        int depth; /* parse time: height of the tree below, bounded */
};

struct JsonataExpr {
        JnArena arena;
        JnNode *root;
        pcre2_code **regexes;
        size_t n_regexes;
        int64_t position; /* scratch for the parser */
};

/* Lexer */
typedef enum JnTokType {
        T_END,
        T_OP,
        T_NAME,
        T_VARIABLE,
        T_STRING,
        T_NUMBER,
        T_VALUE,
        T_REGEX,
} JnTokType;

typedef struct JnToken {
        JnTokType type;
        const char *s; /* OP: the operator; NAME/VARIABLE/STRING: decoded text */
        size_t len;
        double num;
        int value;             /* VALUE: 0 false 1 true 2 null */
        const char *regex_src; /* REGEX */
        const char *regex_flags;
        int64_t position; /* end position, as the reference reports */
} JnToken;

typedef struct JnLexer {
        const char *src;
        size_t len, pos;
        JnArena *arena;
        JnTokType prev_type;
        const char *prev_op;
} JnLexer;

/* Errors during compilation carry position and token. */
typedef struct JnCompileError {
        jmp_buf jmp;
        JsonataError *err;
} JnCompileError;

void jn_lexer_next(JnLexer *lx, JnToken *t, JnCompileError *ce);
_Noreturn void jn_compile_fail(JnCompileError *ce, const char *code, int64_t position, const char *token,
                               const char *value);

/* ------------------------------------------------------------------------ */
/* Evaluation */

typedef struct JnBinding {
        const char *name;
        JnValue *value;
} JnBinding;

struct JnFrame {
        JnFrame *parent;
        JnBinding *b;
        size_t n, cap;
};

struct JnEval {
        JnArena arena;
        jmp_buf jmp;
        JsonataError *err;
        const JsonataContext *ctx;
        JsonataEnv env;
        size_t max_depth;
        uint64_t max_steps;
        size_t depth;
        uint64_t steps;
        JnFrame *root; /* the session's: variables and functions, looked up once */
        JnFrame *top;  /* this evaluation's: "$" and top-level bindings */
        const JsonataLibrary *const *libraries;
        size_t n_libraries;
        pcre2_general_context *pcre_gctx;
        const JnNode *current; /* for positions in errors */
        size_t fn_nesting;     /* partial applications and chains being applied */
        JsonataExpr **evals;   /* compiled by $eval, freed at the end */
        size_t n_evals;
};

/* Errors: code, then "key", value pairs are folded into the message. */
_Noreturn void jn_throw(JnEval *ev, const char *code, const char *token, const JnValue *value,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
_Noreturn void jn_throw_arg(JnEval *ev, const char *code, const char *token, const JnValue *value, int index,
                            const char *type);
_Noreturn void jn_throw_code2(JnEval *ev, const char *code, const char *token, const JnValue *v,
                              const JnValue *v2);
_Noreturn void jn_throw_code(JnEval *ev, const char *code, const char *token, const JnValue *value);
void jn_step(JnEval *ev, uint64_t n);

/* Values (arena-allocated) */
JnValue *jn_null(void);
JnValue *jn_bool(bool b);
JnValue *jn_number(JnEval *ev, double d);
JnValue *jn_string(JnEval *ev, const char *s, size_t len); /* copies */
JnValue *jn_string_nocopy(JnEval *ev, const char *s, size_t len);
JnValue *jn_cstring(JnEval *ev, const char *s);
JnValue *jn_array(JnEval *ev, size_t cap);
JnValue *jn_sequence(JnEval *ev);
JnValue *jn_object(JnEval *ev);
JnValue *jn_function(JnEval *ev, JnFnKind kind);
void jn_array_push(JnEval *ev, JnValue *arr, JnValue *v);
JnValue *jn_object_get(const JnValue *obj, const char *key, size_t klen);
void jn_object_set(JnEval *ev, JnValue *obj, const char *key, size_t klen, JnValue *v);
void jn_object_del(JnValue *obj, const char *key, size_t klen);
void *jn_alloc(JnEval *ev, size_t n);
char *jn_strndup(JnEval *ev, const char *s, size_t n);
char *jn_printf(JnEval *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool jn_is_array(const JnValue *v) {
        return v && v->type == JN_ARRAY;
}
static inline bool jn_is_sequence(const JnValue *v) {
        return v && v->type == JN_ARRAY && (v->flags & JN_SEQUENCE);
}
static inline bool jn_is_number(const JnValue *v) {
        return v && v->type == JN_NUMBER;
}
static inline bool jn_is_string(const JnValue *v) {
        return v && v->type == JN_STRING;
}
static inline bool jn_is_object(const JnValue *v) {
        return v && v->type == JN_OBJECT;
}
static inline bool jn_is_function(const JnValue *v) {
        return v && v->type == JN_FUNCTION;
}

JnValue *jn_from_json(JnEval *ev, const json_t *j);
JnValue *jn_from_json_copy(JnEval *ev, const json_t *j);
/* A new jansson value, or NULL for undefined. Functions become absent (in
 * objects) or null (in arrays), as JSON.stringify does. */
json_t *jn_to_json(const JnValue *v);
/* Nesting depth of v (scalars 1), counted up to limit + 1 at most. */
size_t jn_value_depth(const JnValue *v, size_t limit);
/* U1001 when depth is past JSONATA_MAX_VALUE_DEPTH. */
void jn_check_depth(JnEval *ev, size_t depth);
bool jn_deep_equal(JnEval *ev, const JnValue *a, const JnValue *b);
/* JSON.stringify as $string does (numbers to 15 significant digits). */
JnValue *jn_stringify(JnEval *ev, const JnValue *v, bool pretty);
/* Appends (the reference's fn.append). */
JnValue *jn_append(JnEval *ev, JnValue *a, JnValue *b);
/* JavaScript truthiness as $boolean: NULL for undefined. */
int jn_boolean(const JnValue *v); /* -1 undefined, 0, 1 */
JnValue *jn_deep_clone(JnEval *ev, const JnValue *v);
/* A sequence of the array's items (flattened one level as the reference does). */
JnValue *jn_flatten(JnEval *ev, JnValue *v, JnValue *into);
const char *jn_type_name(const JnValue *v);
size_t jn_utf8_length(const char *s, size_t len);

/* Evaluator */
JnValue *jn_eval(JnEval *ev, const JnNode *n, JnValue *input, JnFrame *frame);
JnValue *jn_apply(JnEval *ev, JnValue *fn, JnValue **args, size_t n, JnValue *focus);
int jn_function_arity(const JnValue *fn);
JnFrame *jn_frame_new(JnEval *ev, JnFrame *parent);
void jn_frame_bind(JnEval *ev, JnFrame *f, const char *name, JnValue *v);
JnValue *jn_frame_lookup(JnEval *ev, JnFrame *f, const char *name, bool *found);
/* Calls a function with (value, index, array) as much as its arity takes. */
JnValue *jn_apply_hof(JnEval *ev, JnValue *fn, JnValue *v, JnValue *index, JnValue *arr);

/* Regex: matches of a regex value against a string from a byte offset. */
typedef struct JnMatch {
        size_t start, end; /* byte offsets */
        size_t n_groups;
        size_t *gstart, *gend; /* (size_t)-1 when the group did not take part */
} JnMatch;
bool jn_regex_exec(JnEval *ev, const JnValue *re, const char *s, size_t len, size_t from, JnMatch *m);
/* A regex value called as a function: the first match object, or NULL. */
JnValue *jn_regex_call(JnEval *ev, JnValue *re, JnValue *str);
/* PCRE2's allocations from the evaluation's arena. */
pcre2_general_context *jn_regex_context(JnEval *ev);
/* Calls a matcher that may be a user function (returns the reference's
 * {match,start,end,groups,next} objects) or a regex; NULL when no match. */
JnValue *jn_regex_result(JnEval *ev, const char *s, size_t len, const JnMatch *m);

/* Libraries */
extern const JsonataLibrary jn_std_library;
const JnNative *jn_library_find(const JsonataLibrary *lib, const char *name);
const JnSignature *jn_native_signature(JnEval *ev, const JnNative *nat);

/* Shared helpers of the function library */
double jn_round_half_even(double d, int precision);
JnValue *jn_fn_format_number(JnEval *ev, JnValue **a, size_t n, JnValue *focus);
JnValue *jn_fn_format_integer(JnEval *ev, JnValue **a, size_t n, JnValue *focus);
JnValue *jn_fn_parse_integer(JnEval *ev, JnValue **a, size_t n, JnValue *focus);
JnValue *jn_fn_from_millis(JnEval *ev, JnValue **a, size_t n, JnValue *focus);
JnValue *jn_fn_to_millis(JnEval *ev, JnValue **a, size_t n, JnValue *focus);
JnValue *jn_fn_now(JnEval *ev, JnValue **a, size_t n, JnValue *focus);
JnValue *jn_eval_text(JnEval *ev, const char *text, size_t len, JnValue *input);
JnValue *jn_lookup(JnEval *ev, JnValue *input, const char *key, size_t klen);
JnValue *jn_sort(JnEval *ev, JnValue *arr, JnValue *fn, bool natural);
uint64_t jn_random_u64(JnEval *ev);
double jn_random_double(JnEval *ev);

/* A string builder in the arena. */
typedef struct JnBuf {
        JnEval *ev;
        char *s;
        size_t len, cap;
} JnBuf;
void jn_buf_put(JnBuf *b, const char *s, size_t n);
void jn_buf_puts(JnBuf *b, const char *s);
void jn_buf_putc(JnBuf *b, char c);
void jn_buf_printf(JnBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jn_buf_utf8(JnBuf *b, uint32_t cp);
/* The UTF-8 bytes of cp into out; returns their number. */
size_t jn_utf8_encode(char out[4], uint32_t cp);
/* 0-15 for a hex digit, else -1. */
int jn_hex_value(char c);
JnValue *jn_buf_value(JnBuf *b);

/* UTF-8 decoding: the code point at s[*i] (advances *i); invalid bytes decode
 * as themselves (0x80..0xFF) one at a time. */
uint32_t jn_utf8_next(const char *s, size_t len, size_t *i);
