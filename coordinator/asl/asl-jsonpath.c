/* SPDX-License-Identifier: MIT */
/*
 * JSONPath for the States Language (JSONPath query language, Jayway flavour).
 *
 * Design: a path string is parsed once per call into a small list of steps
 * (JsonPathStep): a name, an index, a wildcard, a slice, a union of names or
 * indexes, or a filter; each step may carry the "descent" flag (`..`).
 * Filters are a tiny expression tree (||, &&, !, comparisons, existence) whose
 * operands are literals or definite paths relative to `@` or `$`.
 *
 * Evaluation keeps a list of borrowed json_t pointers (the current matches)
 * and applies one step after the other. A definite path (only names and
 * single indexes, no descent) yields the value itself or -ENOENT; any other
 * path yields an array of all matches, as Jayway does. As in Jayway, a union
 * of names as the LAST step (`$.a['x','y']`) merges the properties that exist
 * into one object, and counts as definite.
 *
 * Limits (STYLE 12): path length ASL_MAX_PATH_LENGTH; filter nesting
 * JSONPATH_MAX_FILTER_NESTING; matches per step JSONPATH_MAX_RESULTS; nodes
 * visited per evaluation JSONPATH_MAX_WORK; descent depth JSONPATH_MAX_DEPTH.
 * Going past an evaluation limit is -E2BIG.
 *
 * No I/O, no global mutable state.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "asl-jsonpath.h"

typedef enum StepType {
        STEP_NAME,
        STEP_INDEX,
        STEP_WILDCARD,
        STEP_SLICE,
        STEP_NAMES,
        STEP_INDEXES,
        STEP_FILTER,
} StepType;

typedef enum FilterType {
        FILTER_OR,
        FILTER_AND,
        FILTER_NOT,
        FILTER_EXISTS,
        FILTER_CMP,
} FilterType;

typedef enum CmpOp {
        CMP_EQ,
        CMP_NE,
        CMP_LT,
        CMP_LE,
        CMP_GT,
        CMP_GE,
} CmpOp;

typedef struct JsonPath JsonPath;

typedef enum OperandType {
        OPERAND_CURRENT, /* @... */
        OPERAND_ROOT,    /* $... */
        OPERAND_VALUE,   /* literal */
} OperandType;

typedef struct FilterOperand {
        OperandType type;
        JsonPath *path;  /* CURRENT / ROOT: owned; definite */
        json_t *value;   /* VALUE: owned */
} FilterOperand;

typedef struct FilterExpr FilterExpr;
struct FilterExpr {
        FilterType type;
        CmpOp op;
        FilterExpr *a, *b;      /* OR/AND: both, NOT: a */
        FilterOperand left, right; /* EXISTS: left, CMP: both */
};

typedef struct JsonPathStep {
        StepType type;
        bool descent;
        char *name;                     /* NAME */
        int64_t index;                  /* INDEX */
        char **names;                   /* NAMES */
        int64_t *indexes;               /* INDEXES */
        size_t n_items;                 /* NAMES / INDEXES */
        bool has_start, has_end;        /* SLICE */
        int64_t start, end, step;       /* SLICE */
        FilterExpr *filter;             /* FILTER */
        size_t filter_cost;             /* FILTER: number of expression nodes */
} JsonPathStep;

struct JsonPath {
        JsonPathStep *steps;
        size_t n_steps;
};

#define JSONPATH_MAX_INDEX ((int64_t) 1 << 53)
#define PATH_ECHO_MAX 200 /* characters of a path quoted in a message */

static void filter_free(FilterExpr *f);
static void path_free(JsonPath *p);

static void operand_done(FilterOperand *o) {
        path_free(o->path);
        json_decref(o->value);
}

static void filter_free(FilterExpr *f) {
        if (!f)
                return;
        filter_free(f->a);
        filter_free(f->b);
        operand_done(&f->left);
        operand_done(&f->right);
        free(f);
}

static void step_done(JsonPathStep *s) {
        free(s->name);
        for (size_t i = 0; s->names && i < s->n_items; i++)
                free(s->names[i]);
        free(s->names);
        free(s->indexes);
        filter_free(s->filter);
}

static void path_free(JsonPath *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_steps; i++)
                step_done(&p->steps[i]);
        free(p->steps);
        free(p);
}

static void path_freep(JsonPath **p) {
        path_free(*p);
}
#define _cleanup_path_ _cleanup_(path_freep)

/* ------------------------------------------------------------------------ */
/* Parser */

typedef struct Parser {
        const char *s;
        size_t pos;
        unsigned nesting;
        char *error; /* first error, owned */
} Parser;

/* The first error, at the current position: -EINVAL. */
#define parser_fail(p, ...) asl_parse_fail(&(p)->error, (p)->pos, __VA_ARGS__)

static char peek(Parser *p) {
        return p->s[p->pos];
}

static void skip_ws(Parser *p) {
        p->pos = asl_skip_ws(p->s, p->pos);
}

static bool is_name_char(char c) {
        if ((unsigned char) c < 0x20 || c == 0x7f)
                return false;
        return !strchr(".[]()'\"*,?@ <>=!&|", c);
}

static int step_append(JsonPath *path, const JsonPathStep *s) {
        path->steps = xrealloc(path->steps, (path->n_steps + 1) * sizeof(JsonPathStep));
        path->steps[path->n_steps++] = *s;
        return 0;
}

static int parse_int(Parser *p, int64_t *ret) {
        bool neg = false;
        int64_t v = 0;

        if (peek(p) == '-') {
                neg = true;
                p->pos++;
        }
        if (peek(p) < '0' || peek(p) > '9')
                return parser_fail(p, "expected a number");
        while (peek(p) >= '0' && peek(p) <= '9') {
                v = v * 10 + (peek(p) - '0');
                if (v > JSONPATH_MAX_INDEX)
                        return parser_fail(p, "index too large");
                p->pos++;
        }
        *ret = neg ? -v : v;
        return 0;
}

/*
 * A quoted string ('...' or "..."). A backslash escapes the next character.
 * With `literal` (bracket names, as in the Jayway version Step Functions
 * runs), the escape only keeps that character from ending the string: the
 * name holds the backslash and the character as written ($['a\\"b'] names
 * the key a\\"b). Otherwise (string literals in filters) the escape is
 * decoded the Java way.
 */
static int parse_quoted(Parser *p, bool literal, char **ret) {
        char q = peek(p);
        size_t start, k = 0;
        char *buf;

        if (q != '\'' && q != '"')
                return parser_fail(p, "expected a quoted name");
        p->pos++;
        start = p->pos;
        buf = xmalloc(strlen(p->s + start) + 1);
        for (;;) {
                char c = peek(p);
                if (!c) {
                        free(buf);
                        p->pos = start - 1;
                        return parser_fail(p, "unterminated string");
                }
                p->pos++;
                if (c == q)
                        break;
                if (c == '\\') {
                        c = peek(p);
                        if (!c) {
                                free(buf);
                                return parser_fail(p, "unterminated escape in string");
                        }
                        p->pos++;
                        if (literal) {
                                buf[k++] = '\\';
                                buf[k++] = c;
                                continue;
                        }
                        /* Java-style escapes, as Jayway unescapes them;
                         * any other escaped character stands for itself. */
                        switch (c) {
                        case 'n': c = '\n'; break;
                        case 't': c = '\t'; break;
                        case 'r': c = '\r'; break;
                        case 'b': c = '\b'; break;
                        case 'f': c = '\f'; break;
                        case 'u': {
                                unsigned cp = 0;
                                for (int i = 0; i < 4; i++) {
                                        char h = peek(p);
                                        int d = h >= '0' && h <= '9' ? h - '0' :
                                                h >= 'a' && h <= 'f' ? h - 'a' + 10 :
                                                h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                                        if (d < 0) {
                                                free(buf);
                                                return parser_fail(p, "expected 4 hex digits after \\u");
                                        }
                                        cp = cp << 4 | (unsigned) d;
                                        p->pos++;
                                }
                                if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
                                        free(buf);
                                        return parser_fail(p, "unsupported \\u escape (NUL or surrogate)");
                                }
                                if (cp < 0x80)
                                        buf[k++] = (char) cp;
                                else if (cp < 0x800) {
                                        buf[k++] = (char) (0xc0 | cp >> 6);
                                        buf[k++] = (char) (0x80 | (cp & 0x3f));
                                } else {
                                        buf[k++] = (char) (0xe0 | cp >> 12);
                                        buf[k++] = (char) (0x80 | ((cp >> 6) & 0x3f));
                                        buf[k++] = (char) (0x80 | (cp & 0x3f));
                                }
                                continue;
                        }
                        default: break;
                        }
                }
                buf[k++] = c;
        }
        buf[k] = 0;
        *ret = buf;
        return 0;
}

static int parse_steps(Parser *p, JsonPath *path, bool in_filter);
static int parse_filter_or(Parser *p, FilterExpr **ret);

static int parse_operand(Parser *p, FilterOperand *ret) {
        char c;
        int r;

        skip_ws(p);
        c = peek(p);
        if (c == '@' || c == '$') {
                JsonPath *sub = xmalloc(sizeof(JsonPath));
                *sub = (JsonPath) {};
                p->pos++;
                r = parse_steps(p, sub, /* in_filter= */ true);
                if (r < 0) {
                        path_free(sub);
                        return r;
                }
                for (size_t i = 0; i < sub->n_steps; i++)
                        if (sub->steps[i].descent ||
                            (sub->steps[i].type != STEP_NAME && sub->steps[i].type != STEP_INDEX)) {
                                path_free(sub);
                                return parser_fail(p, "paths inside a filter must be definite (names and indexes only)");
                        }
                *ret = (FilterOperand) { .type = c == '@' ? OPERAND_CURRENT : OPERAND_ROOT, .path = sub };
                return 0;
        }
        if (c == '\'' || c == '"') {
                _cleanup_free_ char *s = NULL;
                r = parse_quoted(p, /* literal= */ false, &s);
                if (r < 0)
                        return r;
                json_t *v = json_string(s);
                if (!v)
                        return parser_fail(p, "string is not valid UTF-8");
                *ret = (FilterOperand) { .type = OPERAND_VALUE, .value = v };
                return 0;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
                const char *start = p->s + p->pos;
                char *end;
                bool real = false;
                size_t i = 0;

                if (start[i] == '-')
                        i++;
                if (start[i] < '0' || start[i] > '9')
                        return parser_fail(p, "expected a number");
                while (start[i] >= '0' && start[i] <= '9')
                        i++;
                if (start[i] == '.' || start[i] == 'e' || start[i] == 'E')
                        real = true;
                if (real) {
                        double d = strtod(start, &end);
                        if (end == start)
                                return parser_fail(p, "bad number");
                        p->pos += (size_t) (end - start);
                        *ret = (FilterOperand) { .type = OPERAND_VALUE, .value = json_real(d) };
                } else {
                        errno = 0;
                        long long ll = strtoll(start, &end, 10);
                        if (errno != 0)
                                return parser_fail(p, "number out of range");
                        p->pos += (size_t) (end - start);
                        *ret = (FilterOperand) { .type = OPERAND_VALUE, .value = json_integer(ll) };
                }
                if (!ret->value)
                        return parser_fail(p, "bad number");
                return 0;
        }
        static const struct {
                const char *word;
                json_t *(*make)(void);
        } words[] = {
                { "true", json_true },
                { "false", json_false },
                { "null", json_null },
        };
        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                size_t l = strlen(words[i].word);
                if (strncmp(p->s + p->pos, words[i].word, l) == 0 && !is_name_char(p->s[p->pos + l])) {
                        p->pos += l;
                        *ret = (FilterOperand) { .type = OPERAND_VALUE, .value = words[i].make() };
                        return 0;
                }
        }
        if (strncmp(p->s + p->pos, "=~", 2) == 0)
                return parser_fail(p, "regular expressions are not supported in filters");
        return parser_fail(p, "expected @path, $path, a number, a quoted string, true, false or null in filter");
}

static int parse_cmp_op(Parser *p, CmpOp *ret) {
        static const struct {
                const char *s;
                CmpOp op;
        } ops[] = {
                { "==", CMP_EQ }, { "!=", CMP_NE }, { "<=", CMP_LE },
                { ">=", CMP_GE }, { "<", CMP_LT },  { ">", CMP_GT },
        };

        skip_ws(p);
        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (strncmp(p->s + p->pos, ops[i].s, strlen(ops[i].s)) == 0) {
                        p->pos += strlen(ops[i].s);
                        *ret = ops[i].op;
                        return 1;
                }
        return 0;
}

static size_t filter_count(const FilterExpr *f) {
        if (!f)
                return 0;
        return 1 + filter_count(f->a) + filter_count(f->b) + (f->left.path ? f->left.path->n_steps : 0) +
               (f->right.path ? f->right.path->n_steps : 0);
}

static FilterExpr *filter_new(FilterType t) {
        FilterExpr *f = xmalloc(sizeof(FilterExpr));
        *f = (FilterExpr) { .type = t };
        return f;
}

static int parse_filter_unary(Parser *p, FilterExpr **ret) {
        FilterExpr *f = NULL;
        int r;

        skip_ws(p);
        if (++p->nesting > JSONPATH_MAX_FILTER_NESTING) {
                p->nesting--;
                return parser_fail(p, "filter expression nested too deeply");
        }
        if (peek(p) == '!' && p->s[p->pos + 1] != '=') {
                p->pos++;
                f = filter_new(FILTER_NOT);
                r = parse_filter_unary(p, &f->a);
        } else if (peek(p) == '(') {
                p->pos++;
                r = parse_filter_or(p, &f);
                if (r >= 0) {
                        skip_ws(p);
                        if (peek(p) != ')') {
                                filter_free(f);
                                f = NULL;
                                r = parser_fail(p, "expected ')' in filter");
                        } else
                                p->pos++;
                }
        } else {
                CmpOp op;
                f = filter_new(FILTER_EXISTS);
                r = parse_operand(p, &f->left);
                if (r >= 0) {
                        if (parse_cmp_op(p, &op)) {
                                f->type = FILTER_CMP;
                                f->op = op;
                                r = parse_operand(p, &f->right);
                        } else if (f->left.type == OPERAND_VALUE)
                                r = parser_fail(p, "expected a comparison operator (==, !=, <, <=, >, >=)");
                }
        }
        p->nesting--;
        if (r < 0) {
                filter_free(f);
                return r;
        }
        *ret = f;
        return 0;
}

/* operand { op operand }, left-associative: FILTER_AND over unary terms,
 * FILTER_OR over && terms. */
static int parse_filter_binary(Parser *p, const char *op, FilterType type,
                               int (*parse_term)(Parser *p, FilterExpr **ret), FilterExpr **ret) {
        FilterExpr *f = NULL;
        int r;

        r = parse_term(p, &f);
        if (r < 0)
                return r;
        for (;;) {
                skip_ws(p);
                if (strncmp(p->s + p->pos, op, 2) != 0)
                        break;
                p->pos += 2;
                FilterExpr *n = filter_new(type);
                n->a = f;
                f = n;
                r = parse_term(p, &n->b);
                if (r < 0) {
                        filter_free(f);
                        return r;
                }
        }
        *ret = f;
        return 0;
}

static int parse_filter_and(Parser *p, FilterExpr **ret) {
        return parse_filter_binary(p, "&&", FILTER_AND, parse_filter_unary, ret);
}

static int parse_filter_or(Parser *p, FilterExpr **ret) {
        return parse_filter_binary(p, "||", FILTER_OR, parse_filter_and, ret);
}

/* After '[': wildcard, quoted names, indexes, slice or filter, up to ']'. */
static int parse_bracket(Parser *p, JsonPathStep *s) {
        int r;

        skip_ws(p);
        if (peek(p) == '*') {
                p->pos++;
                s->type = STEP_WILDCARD;
        } else if (peek(p) == '\'' || peek(p) == '"') {
                for (;;) {
                        char *name;
                        r = parse_quoted(p, /* literal= */ true, &name);
                        if (r < 0)
                                return r;
                        s->names = xrealloc(s->names, (s->n_items + 1) * sizeof(char *));
                        s->names[s->n_items++] = name;
                        skip_ws(p);
                        if (peek(p) != ',')
                                break;
                        p->pos++;
                        skip_ws(p);
                }
                if (s->n_items == 1) {
                        s->type = STEP_NAME;
                        s->name = s->names[0];
                        free(s->names);
                        s->names = NULL;
                        s->n_items = 0;
                } else
                        s->type = STEP_NAMES;
        } else if (peek(p) == '?') {
                p->pos++;
                skip_ws(p);
                if (peek(p) != '(')
                        return parser_fail(p, "expected '(' after '?' in filter");
                p->pos++;
                s->type = STEP_FILTER;
                r = parse_filter_or(p, &s->filter);
                if (r < 0)
                        return r;
                s->filter_cost = filter_count(s->filter);
                skip_ws(p);
                if (peek(p) != ')')
                        return parser_fail(p, "expected ')' to close the filter");
                p->pos++;
        } else if (peek(p) == ':' || peek(p) == '-' || (peek(p) >= '0' && peek(p) <= '9')) {
                int64_t v;
                bool have_first = peek(p) != ':';

                if (have_first) {
                        r = parse_int(p, &v);
                        if (r < 0)
                                return r;
                        skip_ws(p);
                }
                if (peek(p) == ':') {
                        s->type = STEP_SLICE;
                        s->step = 1;
                        if (have_first) {
                                s->has_start = true;
                                s->start = v;
                        }
                        p->pos++;
                        skip_ws(p);
                        if (peek(p) == '-' || (peek(p) >= '0' && peek(p) <= '9')) {
                                r = parse_int(p, &s->end);
                                if (r < 0)
                                        return r;
                                s->has_end = true;
                                skip_ws(p);
                        }
                        if (peek(p) == ':') {
                                p->pos++;
                                skip_ws(p);
                                if (peek(p) == '-' || (peek(p) >= '0' && peek(p) <= '9')) {
                                        r = parse_int(p, &s->step);
                                        if (r < 0)
                                                return r;
                                        if (s->step == 0)
                                                return parser_fail(p, "slice step must not be 0");
                                        skip_ws(p);
                                }
                        }
                } else {
                        s->indexes = xmalloc(sizeof(int64_t));
                        s->indexes[0] = v;
                        s->n_items = 1;
                        while (peek(p) == ',') {
                                p->pos++;
                                skip_ws(p);
                                r = parse_int(p, &v);
                                if (r < 0)
                                        return r;
                                s->indexes = xrealloc(s->indexes, (s->n_items + 1) * sizeof(int64_t));
                                s->indexes[s->n_items++] = v;
                                skip_ws(p);
                        }
                        if (s->n_items == 1) {
                                s->type = STEP_INDEX;
                                s->index = s->indexes[0];
                                free(s->indexes);
                                s->indexes = NULL;
                                s->n_items = 0;
                        } else
                                s->type = STEP_INDEXES;
                }
        } else if (peek(p) == ']')
                return parser_fail(p, "empty brackets");
        else
                return parser_fail(p, "expected '*', a quoted name, an index, a slice or a filter after '['");

        skip_ws(p);
        if (peek(p) != ']')
                return parser_fail(p, "expected ']'");
        p->pos++;
        return 0;
}

/*
 * Steps after the leading '$' or '@'. At the top level the whole string must
 * be consumed; inside a filter, parsing stops at the first character that
 * cannot continue a path.
 */
static int parse_steps(Parser *p, JsonPath *path, bool in_filter) {
        int r;

        for (;;) {
                JsonPathStep s = {};
                char c = peek(p);

                if (c == 0)
                        return 0;
                if (c == '.') {
                        p->pos++;
                        if (peek(p) == '.') {
                                s.descent = true;
                                p->pos++;
                        }
                        /* Jayway reads the token after a dot whatever it is,
                         * so "$.[0]" is "$[0]" and "$..[0]" a descent. */
                        if (peek(p) == '[') {
                                p->pos++;
                                r = parse_bracket(p, &s);
                                if (r < 0) {
                                        step_done(&s);
                                        return r;
                                }
                                step_append(path, &s);
                                continue;
                        }
                        if (peek(p) == '*') {
                                p->pos++;
                                s.type = STEP_WILDCARD;
                                step_append(path, &s);
                                continue;
                        }
                        size_t start = p->pos;
                        while (is_name_char(peek(p)))
                                p->pos++;
                        if (p->pos == start) {
                                if (peek(p) == 0)
                                        return parser_fail(p, "path must not end with '.'");
                                return parser_fail(p, "expected a name after '.'");
                        }
                        if (peek(p) == '(')
                                return parser_fail(p, "functions such as %.*s() are not supported",
                                                   (int) (p->pos - start), p->s + start);
                        s.type = STEP_NAME;
                        s.name = xstrndup(p->s + start, p->pos - start);
                        step_append(path, &s);
                } else if (c == '[') {
                        p->pos++;
                        r = parse_bracket(p, &s);
                        if (r < 0) {
                                step_done(&s);
                                return r;
                        }
                        step_append(path, &s);
                } else if (in_filter)
                        return 0;
                else
                        return parser_fail(p, "unexpected character '%c'", c);
        }
}

static int path_parse(const char *s, JsonPath **ret, char **ret_msg) {
        _cleanup_path_ JsonPath *path = NULL;
        Parser p = { .s = s };
        int r;

        if (!s) {
                if (ret_msg)
                        *ret_msg = xstrdup("path is missing");
                return -EINVAL;
        }
        if (strlen(s) > ASL_MAX_PATH_LENGTH) {
                if (ret_msg)
                        *ret_msg = xasprintf("path is longer than %d characters", ASL_MAX_PATH_LENGTH);
                return -EINVAL;
        }
        if (s[0] != '$') {
                if (ret_msg)
                        *ret_msg = xasprintf("path '%.*s%s' must start with '$'", PATH_ECHO_MAX, s,
                                             strlen(s) > PATH_ECHO_MAX ? "..." : "");
                return -EINVAL;
        }
        path = xmalloc(sizeof(JsonPath));
        *path = (JsonPath) {};
        p.pos = 1;
        r = parse_steps(&p, path, /* in_filter= */ false);
        if (r < 0) {
                if (ret_msg)
                        *ret_msg = xasprintf("invalid JSONPath '%.*s%s': %s", PATH_ECHO_MAX, s,
                                             strlen(s) > PATH_ECHO_MAX ? "..." : "",
                                             p.error ? p.error : "syntax error");
                free(p.error);
                return r;
        }
        free(p.error);
        *ret = TAKE_PTR(path);
        return 0;
}

/* A union of names as the last step merges the named properties into one
 * object (Jayway's "multi property merge"): definite. Elsewhere it iterates. */
static bool step_is_merge(const JsonPath *path, size_t i) {
        return i + 1 == path->n_steps && path->steps[i].type == STEP_NAMES && !path->steps[i].descent;
}

static bool path_is_definite(const JsonPath *path) {
        for (size_t i = 0; i < path->n_steps; i++) {
                if (step_is_merge(path, i))
                        continue;
                if (path->steps[i].descent ||
                    (path->steps[i].type != STEP_NAME && path->steps[i].type != STEP_INDEX))
                        return false;
        }
        return true;
}

static bool path_is_reference(const JsonPath *path) {
        for (size_t i = 0; i < path->n_steps; i++) {
                const JsonPathStep *s = &path->steps[i];
                if (s->descent || (s->type != STEP_NAME && s->type != STEP_INDEX))
                        return false;
                if (s->type == STEP_INDEX && s->index < 0)
                        return false;
        }
        return true;
}

JsonPathKind jsonpath_check(const char *path, char **ret_msg) {
        _cleanup_path_ JsonPath *p = NULL;

        if (path_parse(path, &p, ret_msg) < 0)
                return JSONPATH_INVALID;
        return path_is_reference(p) ? JSONPATH_REFERENCE : JSONPATH_QUERY;
}

bool jsonpath_is_definite(const char *path) {
        _cleanup_path_ JsonPath *p = NULL;

        if (path_parse(path, &p, NULL) < 0)
                return false;
        return path_is_definite(p);
}

/* ------------------------------------------------------------------------ */
/* Evaluation */

typedef struct NodeList {
        json_t **v; /* borrowed */
        size_t n, allocated;
} NodeList;

typedef struct EvalCtx {
        json_t *root;
        size_t work;
} EvalCtx;

static void nodelist_done(NodeList *l) {
        free(l->v);
        *l = (NodeList) {};
}

static int nodelist_add(NodeList *l, json_t *v) {
        if (l->n >= JSONPATH_MAX_RESULTS)
                return -E2BIG;
        if (l->n >= l->allocated) {
                l->allocated = l->allocated ? l->allocated * 2 : 8;
                l->v = xrealloc(l->v, l->allocated * sizeof(json_t *));
        }
        l->v[l->n++] = v;
        return 0;
}

static int eval_work_n(EvalCtx *c, size_t n) {
        c->work += n;
        if (c->work > JSONPATH_MAX_WORK)
                return -E2BIG;
        return 0;
}

static int eval_work(EvalCtx *c) {
        return eval_work_n(c, 1);
}

/* The merged object of the named properties that exist (new reference). */
static json_t *merge_names(const JsonPathStep *s, json_t *object) {
        json_t *m = json_object(), *v;

        if (!m)
                abort();
        for (size_t i = 0; i < s->n_items; i++)
                if ((v = json_object_get(object, s->names[i])))
                        if (json_object_set(m, s->names[i], v) < 0)
                                abort();
        return m;
}

/* Definite lookup (names and indexes only); NULL if missing. */
static json_t *lookup_definite_n(const JsonPath *path, size_t n_steps, json_t *v) {
        for (size_t i = 0; v && i < n_steps; i++) {
                const JsonPathStep *s = &path->steps[i];
                if (s->type == STEP_NAME)
                        v = json_is_object(v) ? json_object_get(v, s->name) : NULL;
                else {
                        int64_t idx = s->index;
                        if (!json_is_array(v))
                                return NULL;
                        if (idx < 0)
                                idx += (int64_t) json_array_size(v);
                        v = idx >= 0 ? json_array_get(v, (size_t) idx) : NULL;
                }
        }
        return v;
}

static json_t *lookup_definite(const JsonPath *path, json_t *v) {
        return lookup_definite_n(path, path->n_steps, v);
}

static json_t *operand_value(const EvalCtx *c, const FilterOperand *o, json_t *current) {
        switch (o->type) {
        case OPERAND_CURRENT:
                return lookup_definite(o->path, current);
        case OPERAND_ROOT:
                return lookup_definite(o->path, c->root);
        case OPERAND_VALUE:
                return o->value;
        }
        return NULL;
}

static bool values_equal(json_t *a, json_t *b) {
        if (json_is_number(a) && json_is_number(b))
                return json_number_value(a) == json_number_value(b);
        return json_equal(a, b);
}

static bool filter_match(const EvalCtx *c, const FilterExpr *f, json_t *current) {
        switch (f->type) {
        case FILTER_OR:
                return filter_match(c, f->a, current) || filter_match(c, f->b, current);
        case FILTER_AND:
                return filter_match(c, f->a, current) && filter_match(c, f->b, current);
        case FILTER_NOT:
                return !filter_match(c, f->a, current);
        case FILTER_EXISTS:
                return operand_value(c, &f->left, current) != NULL;
        case FILTER_CMP: {
                json_t *l = operand_value(c, &f->left, current), *r = operand_value(c, &f->right, current);
                int cmp;

                if (f->op == CMP_EQ)
                        return l && r && values_equal(l, r);
                if (f->op == CMP_NE)
                        return !(l && r && values_equal(l, r));
                if (!l || !r)
                        return false;
                if (json_is_number(l) && json_is_number(r)) {
                        double a = json_number_value(l), b = json_number_value(r);
                        cmp = a < b ? -1 : a > b ? 1 : 0;
                } else if (json_is_string(l) && json_is_string(r))
                        cmp = strcmp(json_string_value(l), json_string_value(r));
                else
                        return false;
                switch (f->op) {
                case CMP_LT:
                        return cmp < 0;
                case CMP_LE:
                        return cmp <= 0;
                case CMP_GT:
                        return cmp > 0;
                case CMP_GE:
                        return cmp >= 0;
                default:
                        return false;
                }
        }
        }
        return false;
}

static int add_index(NodeList *out, json_t *array, int64_t idx) {
        int64_t n = (int64_t) json_array_size(array);

        if (idx < 0)
                idx += n;
        if (idx < 0 || idx >= n)
                return 0;
        return nodelist_add(out, json_array_get(array, (size_t) idx));
}

static int apply_slice(const JsonPathStep *s, json_t *array, NodeList *out) {
        int64_t n = (int64_t) json_array_size(array), start, end, i;
        int r;

        if (s->step > 0) {
                start = s->has_start ? s->start : 0;
                end = s->has_end ? s->end : n;
                if (start < 0)
                        start += n;
                if (end < 0)
                        end += n;
                start = start < 0 ? 0 : start > n ? n : start;
                end = end < 0 ? 0 : end > n ? n : end;
                for (i = start; i < end; i += s->step) {
                        r = nodelist_add(out, json_array_get(array, (size_t) i));
                        if (r < 0)
                                return r;
                }
        } else {
                start = s->has_start ? s->start : n - 1;
                end = s->has_end ? s->end : -n - 1;
                if (start < 0)
                        start += n;
                if (end < 0)
                        end += n;
                start = start < -1 ? -1 : start > n - 1 ? n - 1 : start;
                end = end < -1 ? -1 : end > n - 1 ? n - 1 : end;
                for (i = start; i > end; i += s->step) {
                        r = nodelist_add(out, json_array_get(array, (size_t) i));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Apply one step (ignoring its descent flag) to one node. */
static int apply_step_here(EvalCtx *c, const JsonPathStep *s, json_t *node, NodeList *out, bool in_descent) {
        const char *key;
        json_t *child;
        size_t i;
        int r;

        switch (s->type) {
        case STEP_NAME:
                if (json_is_object(node) && (child = json_object_get(node, s->name)))
                        return nodelist_add(out, child);
                return 0;
        case STEP_NAMES:
                if (!json_is_object(node))
                        return 0;
                r = eval_work_n(c, s->n_items);
                if (r < 0)
                        return r;
                for (i = 0; i < s->n_items; i++)
                        if ((child = json_object_get(node, s->names[i]))) {
                                r = nodelist_add(out, child);
                                if (r < 0)
                                        return r;
                        }
                return 0;
        case STEP_INDEX:
                return json_is_array(node) ? add_index(out, node, s->index) : 0;
        case STEP_INDEXES:
                if (!json_is_array(node))
                        return 0;
                r = eval_work_n(c, s->n_items);
                if (r < 0)
                        return r;
                for (i = 0; i < s->n_items; i++) {
                        r = add_index(out, node, s->indexes[i]);
                        if (r < 0)
                                return r;
                }
                return 0;
        case STEP_WILDCARD:
                if (json_is_object(node)) {
                        json_object_foreach(node, key, child) {
                                r = nodelist_add(out, child);
                                if (r < 0)
                                        return r;
                        }
                } else if (json_is_array(node)) {
                        json_array_foreach(node, i, child) {
                                r = nodelist_add(out, child);
                                if (r < 0)
                                        return r;
                        }
                }
                return 0;
        case STEP_SLICE:
                return json_is_array(node) ? apply_slice(s, node, out) : 0;
        case STEP_FILTER:
                /* Jayway: an array filters its elements, an object tests
                 * itself. During descent every non-array node is tested
                 * once, as the walk visits array elements anyway. */
                if (json_is_array(node)) {
                        if (in_descent)
                                return 0;
                        json_array_foreach(node, i, child) {
                                r = eval_work_n(c, s->filter_cost);
                                if (r < 0)
                                        return r;
                                if (filter_match(c, s->filter, child)) {
                                        r = nodelist_add(out, child);
                                        if (r < 0)
                                                return r;
                                }
                        }
                        return 0;
                }
                if (!in_descent && !json_is_object(node))
                        return 0;
                r = eval_work_n(c, s->filter_cost);
                if (r < 0)
                        return r;
                if (filter_match(c, s->filter, node))
                        return nodelist_add(out, node);
                return 0;
        }
        return 0;
}

static int apply_descent(EvalCtx *c, const JsonPathStep *s, json_t *node, NodeList *out, unsigned depth) {
        const char *key;
        json_t *child;
        size_t i;
        int r;

        if (depth > JSONPATH_MAX_DEPTH)
                return -E2BIG;
        r = eval_work(c);
        if (r < 0)
                return r;
        r = apply_step_here(c, s, node, out, /* in_descent= */ true);
        if (r < 0)
                return r;
        if (json_is_object(node)) {
                json_object_foreach(node, key, child) {
                        r = apply_descent(c, s, child, out, depth + 1);
                        if (r < 0)
                                return r;
                }
        } else if (json_is_array(node)) {
                json_array_foreach(node, i, child) {
                        r = apply_descent(c, s, child, out, depth + 1);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int eval_indefinite(EvalCtx *c, const JsonPath *path, json_t *root, json_t **ret) {
        NodeList cur = {}, next = {};
        int r = 0;

        nodelist_add(&cur, root);
        for (size_t i = 0; i < path->n_steps && r >= 0; i++) {
                const JsonPathStep *s = &path->steps[i];

                if (step_is_merge(path, i)) {
                        /* Leaf union of names: one merged object per object node. */
                        json_t *a = json_array();
                        if (!a)
                                abort();
                        for (size_t j = 0; j < cur.n && r >= 0; j++) {
                                r = eval_work_n(c, s->n_items);
                                if (r >= 0 && json_is_object(cur.v[j]))
                                        if (json_array_append_new(a, merge_names(s, cur.v[j])) < 0)
                                                abort();
                        }
                        nodelist_done(&cur);
                        if (r < 0) {
                                json_decref(a);
                                return r;
                        }
                        *ret = a;
                        return 0;
                }
                for (size_t j = 0; j < cur.n && r >= 0; j++) {
                        r = eval_work(c);
                        if (r < 0)
                                break;
                        if (s->descent)
                                r = apply_descent(c, s, cur.v[j], &next, 0);
                        else
                                r = apply_step_here(c, s, cur.v[j], &next, /* in_descent= */ false);
                }
                nodelist_done(&cur);
                cur = next;
                next = (NodeList) {};
        }
        if (r < 0) {
                nodelist_done(&cur);
                nodelist_done(&next);
                return r;
        }

        json_t *a = json_array();
        if (!a)
                abort();
        for (size_t j = 0; j < cur.n; j++)
                if (json_array_append(a, cur.v[j]) < 0)
                        abort();
        nodelist_done(&cur);
        *ret = a;
        return 0;
}

/* Jayway's normalized form of the first n steps (names and indexes):
 * "$['a'][0]". New string. */
static char *normalized_path(const JsonPath *path, size_t n) {
        char *s = xstrdup("$");

        for (size_t i = 0; i < n; i++) {
                const JsonPathStep *st = &path->steps[i];
                char *t;

                if (st->type == STEP_NAME)
                        t = xasprintf("%s['%s']", s, st->name);
                else if (st->type == STEP_NAMES) {
                        t = xasprintf("%s[", s);
                        for (size_t k = 0; k < st->n_items; k++) {
                                char *u = xasprintf("%s%s'%s'", t, k ? ", " : "", st->names[k]);
                                free(t);
                                t = u;
                        }
                        free(s);
                        s = t;
                        t = xasprintf("%s]", s);
                } else
                        t = xasprintf("%s[%" PRId64 "]", s, st->index);
                free(s);
                s = t;
        }
        return s;
}

static const char *json_type_word(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        default:
                return "null";
        }
}

/*
 * Why the definite path does not resolve in root, as Jayway says it: the
 * step that fails is the last one ("No results for path: $['a']['x']") or
 * one before it ("Missing property in path $['a']"); a name looked up in
 * something that is not an object says what it found instead. New string.
 */
static char *definite_miss_why(const JsonPath *path, json_t *root) {
        _cleanup_free_ char *full = normalized_path(path, path->n_steps);
        json_t *v = root;

        for (size_t i = 0; i < path->n_steps; i++) {
                const JsonPathStep *st = &path->steps[i];
                bool last = i + 1 == path->n_steps;
                json_t *next = NULL;

                if (st->type == STEP_NAME || st->type == STEP_NAMES) {
                        if (!json_is_object(v)) {
                                _cleanup_free_ char *here = normalized_path(path, i);
                                _cleanup_free_ char *prop = normalized_path(path, i + 1);
                                return xasprintf("Expected to find an object with property %s in path %s "
                                                 "but found '%s'",
                                                 prop + strlen(here), here, json_type_word(v));
                        }
                        if (st->type == STEP_NAMES)
                                return NULL; /* a merge as the last step always resolves */
                        next = json_object_get(v, st->name);
                } else if (json_is_array(v)) {
                        int64_t idx = st->index < 0 ? st->index + (int64_t) json_array_size(v) : st->index;
                        next = idx >= 0 ? json_array_get(v, (size_t) idx) : NULL;
                }
                if (!next) {
                        if (last)
                                return xasprintf("No results for path: %s", full);
                        _cleanup_free_ char *upto = normalized_path(path, i + 1);
                        return xasprintf("Missing property in path %s", upto);
                }
                v = next;
        }
        return NULL;
}

int jsonpath_eval_why(json_t *root, const char *path, json_t **ret, char **ret_why) {
        _cleanup_path_ JsonPath *p = NULL;
        EvalCtx c = { .root = root };
        json_t *v;
        int r;

        if (!root || !ret)
                return -EINVAL;
        r = path_parse(path, &p, NULL);
        if (r < 0)
                return r;
        if (path_is_definite(p)) {
                bool merge = p->n_steps > 0 && step_is_merge(p, p->n_steps - 1);

                v = lookup_definite_n(p, merge ? p->n_steps - 1 : p->n_steps, root);
                if (merge && v && !json_is_object(v))
                        v = NULL;
                if (!v) {
                        if (ret_why)
                                *ret_why = definite_miss_why(p, root);
                        return -ENOENT;
                }
                *ret = merge ? merge_names(&p->steps[p->n_steps - 1], v) : json_incref(v);
                return 0;
        }
        return eval_indefinite(&c, p, root, ret);
}

int jsonpath_eval(json_t *root, const char *path, json_t **ret) {
        return jsonpath_eval_why(root, path, ret, NULL);
}

int jsonpath_check_reference(const char *path, char **ret_msg) {
        _cleanup_free_ char *msg = NULL;
        JsonPathKind k;

        k = jsonpath_check(path, &msg);
        if (k == JSONPATH_REFERENCE)
                return 0;
        if (ret_msg)
                *ret_msg = k == JSONPATH_INVALID
                        ? TAKE_PTR(msg)
                        : xasprintf("'%s' is not a reference path (only names and non-negative "
                                    "indexes are allowed: no wildcards, slices, unions, filters, "
                                    "recursive descent or negative indexes)", path);
        return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* ResultPath */

/* Make sure the container *slot points to is not shared, so we may modify it. */
static json_t *unshare(json_t *v) {
        json_t *copy;

        if (v->refcount <= 1)
                return v;
        copy = json_copy(v);
        if (!copy)
                abort();
        return copy;
}

int jsonpath_set(json_t **root, const char *path, json_t *value) {
        _cleanup_path_ JsonPath *p = NULL;
        _cleanup_json_ json_t *val = value;
        json_t *parent;
        int r;

        if (!root || !*root || !value)
                return -EINVAL;
        r = path_parse(path, &p, NULL);
        if (r < 0)
                return r;
        if (!path_is_reference(p))
                return -EINVAL;

        if (p->n_steps == 0) {
                json_decref(*root);
                *root = TAKE_PTR(val);
                return 0;
        }

        /* Check the whole way first, so a failure leaves *root untouched:
         * every existing intermediate must be a container of the right
         * kind, array elements must exist, and only names can be created. */
        json_t *v = *root;
        for (size_t i = 0; i < p->n_steps; i++) {
                const JsonPathStep *s = &p->steps[i];

                if (s->type == STEP_NAME) {
                        json_t *k = json_string(s->name);
                        if (!k)
                                return -EINVAL; /* not valid UTF-8 */
                        json_decref(k);
                }
                if (!v) {
                        if (s->type != STEP_NAME)
                                return -ENOTDIR;
                        continue;
                }
                if (s->type == STEP_NAME) {
                        if (!json_is_object(v))
                                return -ENOTDIR;
                        v = json_object_get(v, s->name);
                } else {
                        if (!json_is_array(v) || (size_t) s->index >= json_array_size(v))
                                return -ENOTDIR;
                        v = json_array_get(v, (size_t) s->index);
                }
        }

        json_t *u = unshare(*root);
        if (u != *root) {
                json_decref(*root);
                *root = u;
        }
        parent = *root;
        for (size_t i = 0; i < p->n_steps; i++) {
                const JsonPathStep *s = &p->steps[i];
                bool last = i + 1 == p->n_steps;
                json_t *child;

                if (s->type == STEP_NAME) {
                        if (last) {
                                if (json_object_set_new(parent, s->name, TAKE_PTR(val)) < 0)
                                        return -EINVAL; /* not valid UTF-8 key */
                                return 0;
                        }
                        child = json_object_get(parent, s->name);
                        if (!child) {
                                child = json_object();
                                if (!child)
                                        abort();
                                if (json_object_set_new(parent, s->name, child) < 0)
                                        return -EINVAL;
                        } else {
                                json_t *c2 = unshare(child);
                                if (c2 != child) {
                                        json_object_set_new(parent, s->name, c2);
                                        child = c2;
                                }
                        }
                } else {
                        if (last) {
                                if (json_array_set_new(parent, (size_t) s->index, TAKE_PTR(val)) < 0)
                                        return -EINVAL;
                                return 0;
                        }
                        child = json_array_get(parent, (size_t) s->index);
                        json_t *c2 = unshare(child);
                        if (c2 != child) {
                                json_array_set_new(parent, (size_t) s->index, c2);
                                child = c2;
                        }
                }
                parent = child;
        }
        return 0;
}
