/* SPDX-License-Identifier: MIT */
/*
 * JSONata parser: a Pratt (top-down operator precedence) parser with the
 * reference implementation's binding powers, then the reference's second
 * pass over the tree (process()): '.' chains become paths of steps,
 * predicates become stages of their step, focus (@), index (#), order-by (^)
 * and group-by ({}) decorate the step they follow, and each parent operator
 * (%) is resolved to the step whose context it names (an "ancestor" slot
 * that the evaluator binds like a variable). Lambda bodies get the
 * tail-call marks (a call in tail position becomes a thunk).
 *
 * The tree and everything in it lives in the expression's arena; regular
 * expressions are compiled here, once, with PCRE2 (jsonata-regex.c says why
 * PCRE2 and matches them).
 *
 * Limits: the text's length (JSONATA_MAX_EXPRESSION_LENGTH, S0001) and the
 * nesting of the syntax (JSONATA_MAX_NESTING, S0002), which also bounds the
 * recursion of the second pass.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "jsonata-internal.h"

typedef struct Parser {
        JnLexer lx;
        JnToken tok;
        JnCompileError *ce;
        JsonataExpr *ex;
        int depth;
        int ancestor_label;
        int ancestor_index;
        JnNode **ancestry;
        size_t n_ancestry, cap_ancestry;
} Parser;

static void *palloc(Parser *p, size_t n) {
        void *m = jn_arena_alloc(&p->ex->arena, n);
        if (!m)
                abort();
        memset(m, 0, n);
        return m;
}

/* A new array of `cap` elements of `size` bytes, the first n copied from old. */
static void *grow(Parser *p, const void *old, size_t n, size_t cap, size_t size) {
        void *m = palloc(p, cap * size);
        if (n)
                memcpy(m, old, n * size);
        return m;
}

static JnNode *node_new(Parser *p, JnNodeType type, int64_t position) {
        JnNode *n = palloc(p, sizeof(JnNode));
        n->type = type;
        n->position = position;
        return n;
}

static void list_push(Parser *p, JnNodeList *l, JnNode *n) {
        if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 4;
                l->items = grow(p, l->items, l->n, l->cap, sizeof(JnNode *));
        }
        l->items[l->n++] = n;
}

_Noreturn void jn_compile_fail(JnCompileError *ce, const char *code, int64_t position, const char *token,
                               const char *value) {
        JsonataError *e = ce->err;
        static const struct {
                const char *code, *text;
        } messages[] = {
                {"S0001", "Expression is longer than the limit"},
                {"S0002", "Expression nests deeper than the limit"},
                {"S0101", "String literal must be terminated by a matching quote"},
                {"S0102", "Number out of range: %t"},
                {"S0103", "Unsupported escape sequence: \\%t"},
                {"S0104", "The escape sequence \\u must be followed by 4 hex digits"},
                {"S0105", "Quoted property name must be terminated with a backquote (`)"},
                {"S0106", "Comment has no closing tag"},
                {"S0201", "Syntax error: %t"},
                {"S0202", "Expected %v, got %t"},
                {"S0203", "Expected %v before end of expression"},
                {"S0204", "Unknown operator: %t"},
                {"S0205", "Unexpected token: %t"},
                {"S0207", "Unexpected end of expression"},
                {"S0208", "Parameter %v of function definition must be a variable name (start with $)"},
                {"S0209", "A predicate cannot follow a grouping expression in a step"},
                {"S0210", "Each step can only have one grouping expression"},
                {"S0211", "The symbol %t cannot be used as a unary operator"},
                {"S0212", "The left side of := must be a variable name (start with $)"},
                {"S0213", "The literal value %v cannot be used as a step within a path expression"},
                {"S0214", "The right side of %t must be a variable name (start with $)"},
                {"S0215", "A context variable binding must precede any predicates on a step"},
                {"S0216", "A context variable binding must precede the 'order-by' clause on a step"},
                {"S0217", "The object representing the 'parent' cannot be derived from this expression"},
                {"S0301", "Empty regular expressions are not allowed"},
                {"S0302", "No terminating / in regular expression"},
                {"S0303", "Invalid regular expression: %v"},
                {"S0401", "Type parameters can only be applied to functions and arrays"},
                {"S0402", "Choice groups containing parameterized types are not supported"},
        };
        const char *text = "Syntax error";
        char buf[512];
        size_t n = 0;

        for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
                if (strcmp(messages[i].code, code) == 0)
                        text = messages[i].text;
        for (const char *c = text; *c && n + 1 < sizeof(buf); c++) {
                if (c[0] == '%' && (c[1] == 't' || c[1] == 'v')) {
                        const char *s = c[1] == 't' ? token : value;
                        int w = snprintf(buf + n, sizeof(buf) - n, "%s", s ? s : "");
                        n = w < 0 ? n : (size_t) w + n >= sizeof(buf) ? sizeof(buf) - 1 : n + (size_t) w;
                        c++;
                } else
                        buf[n++] = *c;
        }
        buf[n] = 0;
        jsonata_error_clear(e);
        snprintf(e->code, sizeof(e->code), "%s", code);
        e->message = xstrdup(buf);
        e->token = token ? xstrdup(token) : NULL;
        e->position = position;
        longjmp(ce->jmp, 1);
}

static _Noreturn void fail(Parser *p, const char *code, const char *token, const char *value) {
        jn_compile_fail(p->ce, code, p->tok.position, token, value);
}

static void next(Parser *p) {
        jn_lexer_next(&p->lx, &p->tok, p->ce);
        if (p->tok.type == T_OP && (strcmp(p->tok.s, "!") == 0 || strcmp(p->tok.s, "~") == 0))
                fail(p, "S0204", p->tok.s, NULL);
}

static bool is_op(Parser *p, const char *op) {
        return p->tok.type == T_OP && strcmp(p->tok.s, op) == 0;
}

static const char *tok_text(Parser *p) {
        switch (p->tok.type) {
        case T_END:
                return "(end)";
        case T_NUMBER:
        case T_OP:
        case T_NAME:
        case T_VARIABLE:
        case T_STRING:
                return p->tok.s;
        case T_VALUE:
                return p->tok.value == 1 ? "true" : p->tok.value == 0 ? "false" : "null";
        case T_REGEX:
                return p->tok.regex_src;
        }
        return "";
}

static void expect(Parser *p, const char *op) {
        if (!is_op(p, op)) {
                if (p->tok.type == T_END)
                        fail(p, "S0203", NULL, op);
                fail(p, "S0202", tok_text(p), op);
        }
        next(p);
}

static int lbp(Parser *p) {
        static const struct {
                const char *op;
                int bp;
        } table[] = {
                {".", 75},  {"[", 80},   {"{", 70},  {"(", 80},  {"@", 80},  {"#", 80},  {"?", 20},
                {"+", 50},  {"-", 50},   {"*", 60},  {"/", 60},  {"%", 60},  {"=", 40},  {"<", 40},
                {">", 40},  {"^", 40},   {"!=", 40}, {"<=", 40}, {">=", 40}, {"~>", 40}, {"?:", 40},
                {"??", 40}, {"and", 30}, {"or", 25}, {"in", 40}, {"&", 50},  {":=", 10},
        };
        if (p->tok.type != T_OP)
                return 0;
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(table[i].op, p->tok.s) == 0)
                        return table[i].bp;
        return 0;
}

static JnNode *expression(Parser *p, int rbp);

static JnNode *parse_object_pairs(Parser *p, JnNode *n) {
        /* current token is the one after '{' */
        size_t cap = 0;
        if (!is_op(p, "}")) {
                for (;;) {
                        JnNode *k = expression(p, 0);
                        expect(p, ":");
                        JnNode *v = expression(p, 0);
                        if (n->n_pairs * 2 + 2 > cap) {
                                cap = cap ? cap * 2 : 8;
                                n->pairs = grow(p, n->pairs, n->n_pairs * 2, cap, sizeof(JnNode *));
                        }
                        n->pairs[n->n_pairs * 2] = k;
                        n->pairs[n->n_pairs * 2 + 1] = v;
                        n->n_pairs++;
                        if (!is_op(p, ","))
                                break;
                        next(p);
                }
        }
        expect(p, "}");
        return n;
}

static void compile_regex(Parser *p, JnNode *n, const char *src, const char *flags) {
        uint32_t opts = PCRE2_UTF | PCRE2_ALT_BSUX | PCRE2_MATCH_UNSET_BACKREF | PCRE2_DOLLAR_ENDONLY;
        int errcode;
        PCRE2_SIZE erroff;

        if (strchr(flags, 'i'))
                opts |= PCRE2_CASELESS;
        if (strchr(flags, 'm'))
                opts |= PCRE2_MULTILINE;
        n->regex = pcre2_compile((PCRE2_SPTR) src, PCRE2_ZERO_TERMINATED, opts, &errcode, &erroff, NULL);
        if (!n->regex) {
                char msg[256];
                pcre2_get_error_message(errcode, (PCRE2_UCHAR *) msg, sizeof(msg));
                fail(p, "S0303", src, msg);
        }
        /* owned by the expression */
        JsonataExpr *ex = p->ex;
        ex->regexes = xrealloc(ex->regexes, (ex->n_regexes + 1) * sizeof(pcre2_code *));
        ex->regexes[ex->n_regexes++] = n->regex;
        n->regex_src = src;
}

static JnNode *nud(Parser *p) {
        JnToken t = p->tok;
        JnNode *n;

        switch (t.type) {
        case T_END:
                fail(p, "S0207", NULL, NULL);
        case T_NAME:
        case T_VARIABLE:
        case T_STRING:
                next(p);
                n = node_new(p,
                             t.type == T_NAME       ? N_NAME
                             : t.type == T_VARIABLE ? N_VARIABLE
                                                    : N_STRING,
                             t.position);
                n->value = t.s;
                n->vlen = t.len;
                return n;
        case T_NUMBER:
                next(p);
                n = node_new(p, N_NUMBER, t.position);
                n->num = t.num;
                n->value = t.s;
                return n;
        case T_VALUE:
                next(p);
                n = node_new(p, N_VALUE, t.position);
                n->num = t.value;
                return n;
        case T_REGEX:
                n = node_new(p, N_REGEX, t.position);
                compile_regex(p, n, t.regex_src, t.regex_flags);
                next(p);
                return n;
        case T_OP:
                break;
        }

        const char *op = t.s;
        if (strcmp(op, "and") == 0 || strcmp(op, "or") == 0 || strcmp(op, "in") == 0) {
                next(p);
                n = node_new(p, N_NAME, t.position);
                n->value = op;
                n->vlen = strlen(op);
                return n;
        }
        if (strcmp(op, "-") == 0) {
                next(p);
                n = node_new(p, N_UNARY_MINUS, t.position);
                n->expr = expression(p, 70);
                return n;
        }
        /* *, ** and % as operands: a '/' after them divides */
        if (strcmp(op, "*") == 0) {
                p->lx.prev_type = T_NAME;
                next(p);
                return node_new(p, N_WILDCARD, t.position);
        }
        if (strcmp(op, "**") == 0) {
                p->lx.prev_type = T_NAME;
                next(p);
                return node_new(p, N_DESCENDANT, t.position);
        }
        if (strcmp(op, "%") == 0) {
                p->lx.prev_type = T_NAME;
                next(p);
                return node_new(p, N_PARENT, t.position);
        }
        if (strcmp(op, "(") == 0) {
                next(p);
                n = node_new(p, N_BLOCK, t.position);
                while (!is_op(p, ")")) {
                        list_push(p, &n->list, expression(p, 0));
                        if (!is_op(p, ";"))
                                break;
                        next(p);
                }
                expect(p, ")");
                return n;
        }
        if (strcmp(op, "[") == 0) {
                next(p);
                n = node_new(p, N_ARRAY, t.position);
                if (!is_op(p, "]")) {
                        for (;;) {
                                JnNode *item = expression(p, 0);
                                if (is_op(p, "..")) {
                                        JnNode *r = node_new(p, N_BINARY, p->tok.position);
                                        r->op = OP_RANGE;
                                        r->value = "..";
                                        r->lhs = item;
                                        next(p);
                                        r->rhs = expression(p, 0);
                                        item = r;
                                }
                                list_push(p, &n->list, item);
                                if (!is_op(p, ","))
                                        break;
                                next(p);
                        }
                }
                expect(p, "]");
                return n;
        }
        if (strcmp(op, "{") == 0) {
                next(p);
                n = node_new(p, N_OBJECT, t.position);
                return parse_object_pairs(p, n);
        }
        if (strcmp(op, "|") == 0) {
                next(p);
                n = node_new(p, N_TRANSFORM, t.position);
                n->pattern = expression(p, 0);
                expect(p, "|");
                n->update = expression(p, 0);
                if (is_op(p, ",")) {
                        next(p);
                        n->del = expression(p, 0);
                }
                expect(p, "|");
                return n;
        }
        fail(p, "S0211", op, NULL);
}

static JnBinOp binop(const char *op) {
        static const struct {
                const char *s;
                JnBinOp op;
        } t[] = {
                {"+", OP_ADD}, {"-", OP_SUB},    {"*", OP_MUL},   {"/", OP_DIV}, {"%", OP_MOD},
                {"=", OP_EQ},  {"!=", OP_NE},    {"<", OP_LT},    {"<=", OP_LE}, {">", OP_GT},
                {">=", OP_GE}, {"&", OP_CONCAT}, {"and", OP_AND}, {"or", OP_OR}, {"in", OP_IN},
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                if (strcmp(t[i].s, op) == 0)
                        return t[i].op;
        return OP_ADD;
}

static void parse_signature(Parser *p, JnNode *n) {
        /* the current token is '<'; read the raw text up to the matching '>' */
        JnLexer *lx = &p->lx;
        int depth = 1;
        size_t start = lx->pos;
        char *sig;
        size_t k = 0;
        const char *code = NULL;

        while (lx->pos < lx->len && depth > 0) {
                char c = lx->src[lx->pos];
                if (c == '{' && depth > 0)
                        break;
                if (c == '>')
                        depth--;
                else if (c == '<')
                        depth++;
                lx->pos++;
        }
        if (depth != 0) {
                lx->pos = lx->len;
                next(p);
                expect(p, ">");
        }
        sig = palloc(p, lx->pos - start + 2);
        sig[k++] = '<';
        for (size_t i = start; i < lx->pos; i++)
                if (lx->src[i] != ' ' && lx->src[i] != '\t' && lx->src[i] != '\n' && lx->src[i] != '\r')
                        sig[k++] = lx->src[i];
        sig[k] = 0;
        lx->prev_type = T_OP;
        lx->prev_op = ">";
        n->sig = jn_signature_parse(&p->ex->arena, sig, k, &code);
        if (!n->sig)
                fail(p, code, NULL, sig);
        next(p);
}

static JnNode *led(Parser *p, JnNode *left) {
        JnToken t = p->tok;
        const char *op = t.s;
        JnNode *n;
        int bp = lbp(p);

        next(p);
        if (strcmp(op, ".") == 0) {
                n = node_new(p, N_DOT, t.position);
                n->lhs = left;
                n->rhs = expression(p, bp);
                return n;
        }
        if (strcmp(op, "(") == 0) {
                n = node_new(p, N_FUNCTION, t.position);
                n->procedure = left;
                if (!is_op(p, ")")) {
                        for (;;) {
                                if (is_op(p, "?")) {
                                        n->type = N_PARTIAL;
                                        list_push(p, &n->list, node_new(p, N_PLACEHOLDER, p->tok.position));
                                        next(p);
                                } else
                                        list_push(p, &n->list, expression(p, 0));
                                if (!is_op(p, ","))
                                        break;
                                next(p);
                        }
                }
                expect(p, ")");
                if (left->type == N_NAME &&
                    (strcmp(left->value, "function") == 0 || strcmp(left->value, "\xce\xbb") == 0)) {
                        for (size_t i = 0; i < n->list.n; i++)
                                if (n->list.items[i]->type != N_VARIABLE) {
                                        char v[24];
                                        snprintf(v, sizeof(v), "%zu", i + 1);
                                        jn_compile_fail(p->ce, "S0208", n->list.items[i]->position,
                                                        n->list.items[i]->value, v);
                                }
                        n->type = N_LAMBDA;
                        if (is_op(p, "<"))
                                parse_signature(p, n);
                        expect(p, "{");
                        n->body = expression(p, 0);
                        expect(p, "}");
                }
                return n;
        }
        if (strcmp(op, "[") == 0) {
                if (is_op(p, "]")) {
                        JnNode *step = left;
                        while (step && step->type == N_PREDICATE)
                                step = step->lhs;
                        step->keep_array = true;
                        next(p);
                        return left;
                }
                n = node_new(p, N_PREDICATE, t.position);
                n->lhs = left;
                n->rhs = expression(p, 0);
                expect(p, "]");
                return n;
        }
        if (strcmp(op, "{") == 0) {
                n = node_new(p, N_GROUP, t.position);
                n->lhs = left;
                return parse_object_pairs(p, n);
        }
        if (strcmp(op, "^") == 0) {
                size_t cap = 0;
                n = node_new(p, N_ORDERBY, t.position);
                n->lhs = left;
                expect(p, "(");
                for (;;) {
                        bool desc = false;
                        if (is_op(p, "<"))
                                next(p);
                        else if (is_op(p, ">")) {
                                desc = true;
                                next(p);
                        }
                        if (n->n_terms == cap) {
                                cap = cap ? cap * 2 : 4;
                                n->terms = grow(p, n->terms, n->n_terms, cap, sizeof(JnSortTerm));
                        }
                        n->terms[n->n_terms].descending = desc;
                        n->terms[n->n_terms].expr = expression(p, 0);
                        n->n_terms++;
                        if (!is_op(p, ","))
                                break;
                        next(p);
                }
                expect(p, ")");
                return n;
        }
        if (strcmp(op, ":=") == 0) {
                if (left->type != N_VARIABLE)
                        jn_compile_fail(p->ce, "S0212", left->position, left->value, NULL);
                n = node_new(p, N_BIND, t.position);
                n->lhs = left;
                n->rhs = expression(p, 10 - 1);
                return n;
        }
        if (strcmp(op, "@") == 0 || strcmp(op, "#") == 0) {
                n = node_new(p, op[0] == '@' ? N_FOCUS : N_INDEX, t.position);
                n->lhs = left;
                n->rhs = expression(p, 80);
                if (n->rhs->type != N_VARIABLE)
                        jn_compile_fail(p->ce, "S0214", n->rhs->position, op, NULL);
                return n;
        }
        if (strcmp(op, "?") == 0) {
                n = node_new(p, N_CONDITION, t.position);
                n->expr = left;
                n->then = expression(p, 0);
                if (is_op(p, ":")) {
                        next(p);
                        n->els = expression(p, 0);
                }
                return n;
        }
        /* the right side of ?: and ?? extends as far as it can, as a
         * conditional's branches do */
        if (strcmp(op, "?:") == 0) {
                n = node_new(p, N_CONDITION, t.position);
                n->expr = left;
                n->then = left;
                n->els = expression(p, 0);
                return n;
        }
        if (strcmp(op, "??") == 0) {
                n = node_new(p, N_COALESCE, t.position);
                n->lhs = left;
                n->rhs = expression(p, 0);
                return n;
        }
        if (strcmp(op, "~>") == 0) {
                n = node_new(p, N_APPLY, t.position);
                n->lhs = left;
                n->rhs = expression(p, bp);
                return n;
        }
        n = node_new(p, N_BINARY, t.position);
        n->op = binop(op);
        n->value = op;
        n->lhs = left;
        n->rhs = expression(p, bp);
        return n;
}

static int child_depth(const JnNode *c) {
        return c ? c->depth : 0;
}

/* The height of n from its children's (set when they were parsed), so that
 * the second pass and the evaluator never recurse deeper than
 * JSONATA_MAX_TREE_DEPTH: a chain such as 1+1+...+1 nests without nesting
 * the syntax. */
static void set_depth(Parser *p, JnNode *n) {
        const JnNode *kids[] = {n->lhs,       n->rhs,  n->expr,    n->then,   n->els,
                                n->procedure, n->body, n->pattern, n->update, n->del};
        int d = 0;
        for (size_t i = 0; i < sizeof(kids) / sizeof(kids[0]); i++)
                d = child_depth(kids[i]) > d ? child_depth(kids[i]) : d;
        for (size_t i = 0; i < n->list.n; i++)
                d = child_depth(n->list.items[i]) > d ? child_depth(n->list.items[i]) : d;
        for (size_t i = 0; i < 2 * n->n_pairs; i++)
                d = child_depth(n->pairs[i]) > d ? child_depth(n->pairs[i]) : d;
        for (size_t i = 0; i < n->n_terms; i++)
                d = child_depth(n->terms[i].expr) > d ? child_depth(n->terms[i].expr) : d;
        n->depth = d + 2; /* + 1, and 1 for a node made without set_depth in between */
        if (n->depth > JSONATA_MAX_TREE_DEPTH)
                jn_compile_fail(p->ce, "S0002", n->position, NULL, NULL);
}

static JnNode *expression(Parser *p, int rbp) {
        JnNode *left;

        if (++p->depth > JSONATA_MAX_NESTING)
                fail(p, "S0002", NULL, NULL);
        left = nud(p);
        set_depth(p, left);
        while (rbp < lbp(p)) {
                left = led(p, left);
                set_depth(p, left);
        }
        p->depth--;
        return left;
}

/* ------------------------------------------------------------------------ */
/* The second pass */

static void seeking_push(Parser *p, JnNode *n, JnSlot *s) {
        n->seeking = grow(p, n->seeking, n->n_seeking, n->n_seeking + 1, sizeof(JnSlot *));
        n->seeking[n->n_seeking++] = s;
}

static void push_ancestry(Parser *p, JnNode *result, JnNode *value) {
        if (!value)
                return;
        if (value->n_seeking > 0 || value->type == N_PARENT) {
                for (size_t i = 0; i < value->n_seeking; i++)
                        seeking_push(p, result, value->seeking[i]);
                if (value->type == N_PARENT)
                        seeking_push(p, result, value->slot);
        }
}

static JnSlot *seek_parent(Parser *p, JnNode *node, JnSlot *slot) {
        switch (node->type) {
        case N_NAME:
        case N_WILDCARD:
                slot->level--;
                if (slot->level == 0) {
                        if (!node->ancestor)
                                node->ancestor = slot;
                        else {
                                /* reuse the existing label */
                                memcpy(p->ancestry[slot->index]->slot->label, node->ancestor->label,
                                       sizeof(slot->label));
                                node->ancestor = slot;
                        }
                        node->tuple = true;
                }
                break;
        case N_PARENT:
                slot->level++;
                break;
        case N_BLOCK:
                if (node->list.n > 0) {
                        node->tuple = true;
                        slot = seek_parent(p, node->list.items[node->list.n - 1], slot);
                }
                break;
        case N_PATH: {
                node->tuple = true;
                ssize_t index = (ssize_t) node->list.n - 1;
                slot = seek_parent(p, node->list.items[index--], slot);
                while (slot->level > 0 && index >= 0)
                        slot = seek_parent(p, node->list.items[index--], slot);
                break;
        }
        default:
                jn_compile_fail(p->ce, "S0217", node->position, NULL, NULL);
        }
        return slot;
}

static void resolve_ancestry(Parser *p, JnNode *path) {
        ssize_t index = (ssize_t) path->list.n - 1;
        JnNode *laststep = path->list.items[index];
        size_t n_slots = laststep->n_seeking + (laststep->type == N_PARENT ? 1 : 0);
        JnSlot **slots = palloc(p, (n_slots + 1) * sizeof(JnSlot *));

        if (laststep->n_seeking)
                memcpy(slots, laststep->seeking, laststep->n_seeking * sizeof(JnSlot *));
        if (laststep->type == N_PARENT)
                slots[laststep->n_seeking] = laststep->slot;
        for (size_t is = 0; is < n_slots; is++) {
                JnSlot *slot = slots[is];
                index = (ssize_t) path->list.n - 2;
                while (slot->level > 0) {
                        if (index < 0) {
                                seeking_push(p, path, slot);
                                break;
                        }
                        JnNode *step = path->list.items[index--];
                        while (index >= 0 && step->focus && path->list.items[index]->focus)
                                step = path->list.items[index--];
                        slot = seek_parent(p, step, slot);
                }
        }
}

static void add_stage(Parser *p, JnNode *step, bool is_index, JnNode *expr, const char *var) {
        step->stages = grow(p, step->stages, step->n_stages, step->n_stages + 1, sizeof(JnStage));
        step->stages[step->n_stages++] = (JnStage){.is_index = is_index, .expr = expr, .var = var};
}

static void predicates_to_stages(Parser *p, JnNode *n) {
        for (size_t i = 0; i < n->n_predicate; i++)
                add_stage(p, n, false, n->predicate[i], NULL);
        n->predicate = NULL;
        n->n_predicate = 0;
}

static JnNode *tail_call_optimize(Parser *p, JnNode *e) {
        if (e->type == N_FUNCTION && e->n_predicate == 0 && e->n_stages == 0 && !e->group) {
                JnNode *thunk = node_new(p, N_LAMBDA, e->position);
                thunk->thunk = true;
                thunk->body = e;
                return thunk;
        }
        if (e->type == N_CONDITION) {
                e->then = tail_call_optimize(p, e->then);
                if (e->els)
                        e->els = tail_call_optimize(p, e->els);
        } else if (e->type == N_BLOCK && e->list.n > 0)
                e->list.items[e->list.n - 1] = tail_call_optimize(p, e->list.items[e->list.n - 1]);
        return e;
}

static JnNode *process(Parser *p, JnNode *e);

static JnNode *make_path(Parser *p, JnNode *step) {
        JnNode *path = node_new(p, N_PATH, step->position);
        list_push(p, &path->list, step);
        return path;
}

static JnNode *process(Parser *p, JnNode *e) {
        JnNode *result = e, *step;

        switch (e->type) {
        case N_DOT: {
                JnNode *lstep = process(p, e->lhs);
                if (lstep->type == N_PATH)
                        result = lstep;
                else
                        result = make_path(p, lstep);
                result->position = e->position;
                if (lstep->type == N_PARENT)
                        seeking_push(p, result, lstep->slot);
                JnNode *rest = process(p, e->rhs);
                if (rest->type == N_PATH)
                        for (size_t i = 0; i < rest->list.n; i++)
                                list_push(p, &result->list, rest->list.items[i]);
                else {
                        predicates_to_stages(p, rest);
                        list_push(p, &result->list, rest);
                }
                for (size_t i = 0; i < result->list.n; i++) {
                        JnNode *s = result->list.items[i];
                        if (s->type == N_NUMBER || s->type == N_VALUE) {
                                char v[64];
                                if (s->type == N_NUMBER)
                                        jsonata_format_number(s->num, v, sizeof(v));
                                else
                                        snprintf(v, sizeof(v), "%s",
                                                 s->num == 1   ? "true"
                                                 : s->num == 0 ? "false"
                                                               : "null");
                                jn_compile_fail(p->ce, "S0213", s->position, NULL, v);
                        }
                        if (s->type == N_STRING)
                                s->type = N_NAME;
                        if (s->keep_array)
                                result->keep_singleton = true;
                }
                JnNode *first = result->list.items[0], *last = result->list.items[result->list.n - 1];
                if (first->type == N_ARRAY)
                        first->consarray = true;
                if (last->type == N_ARRAY)
                        last->consarray = true;
                resolve_ancestry(p, result);
                break;
        }
        case N_PREDICATE: {
                result = process(p, e->lhs);
                step = result;
                bool stages = false;
                if (result->type == N_PATH) {
                        step = result->list.items[result->list.n - 1];
                        stages = true;
                }
                if (step->group)
                        jn_compile_fail(p->ce, "S0209", e->position, NULL, NULL);
                JnNode *pred = process(p, e->rhs);
                if (pred->n_seeking > 0) {
                        for (size_t i = 0; i < pred->n_seeking; i++) {
                                JnSlot *slot = pred->seeking[i];
                                if (slot->level == 1)
                                        seek_parent(p, step, slot);
                                else
                                        slot->level--;
                        }
                        push_ancestry(p, step, pred);
                }
                if (stages)
                        add_stage(p, step, false, pred, NULL);
                else {
                        step->predicate = grow(p, step->predicate, step->n_predicate, step->n_predicate + 1,
                                               sizeof(JnNode *));
                        step->predicate[step->n_predicate++] = pred;
                }
                break;
        }
        case N_GROUP: {
                result = process(p, e->lhs);
                if (result->group)
                        jn_compile_fail(p->ce, "S0210", e->position, NULL, NULL);
                JnNode *g = node_new(p, N_OBJECT, e->position);
                g->pairs = e->pairs;
                g->n_pairs = e->n_pairs;
                for (size_t i = 0; i < 2 * g->n_pairs; i++)
                        g->pairs[i] = process(p, g->pairs[i]);
                result->group = g;
                break;
        }
        case N_ORDERBY: {
                result = process(p, e->lhs);
                if (result->type != N_PATH)
                        result = make_path(p, result);
                JnNode *sort = node_new(p, N_SORT, e->position);
                sort->terms = e->terms;
                sort->n_terms = e->n_terms;
                for (size_t i = 0; i < sort->n_terms; i++) {
                        sort->terms[i].expr = process(p, sort->terms[i].expr);
                        push_ancestry(p, sort, sort->terms[i].expr);
                }
                list_push(p, &result->list, sort);
                resolve_ancestry(p, result);
                break;
        }
        case N_BIND:
                e->lhs = process(p, e->lhs);
                e->rhs = process(p, e->rhs);
                e->value = e->lhs->value;
                push_ancestry(p, e, e->rhs);
                break;
        case N_FOCUS: {
                result = process(p, e->lhs);
                step = result;
                if (result->type == N_PATH)
                        step = result->list.items[result->list.n - 1];
                if (step->n_stages > 0 || step->n_predicate > 0)
                        jn_compile_fail(p->ce, "S0215", e->position, NULL, NULL);
                if (step->type == N_SORT)
                        jn_compile_fail(p->ce, "S0216", e->position, NULL, NULL);
                if (e->keep_array)
                        step->keep_array = true;
                step->focus = e->rhs->value;
                step->tuple = true;
                break;
        }
        case N_INDEX: {
                result = process(p, e->lhs);
                step = result;
                if (result->type == N_PATH)
                        step = result->list.items[result->list.n - 1];
                else {
                        result = make_path(p, result);
                        predicates_to_stages(p, step);
                }
                if (step->n_stages == 0)
                        step->index = e->rhs->value;
                else
                        add_stage(p, step, true, NULL, e->rhs->value);
                step->tuple = true;
                break;
        }
        case N_APPLY:
                e->lhs = process(p, e->lhs);
                e->rhs = process(p, e->rhs);
                e->keep_array = e->lhs->keep_array || e->rhs->keep_array;
                break;
        case N_BINARY:
        case N_COALESCE:
                e->lhs = process(p, e->lhs);
                e->rhs = process(p, e->rhs);
                push_ancestry(p, e, e->lhs);
                push_ancestry(p, e, e->rhs);
                break;
        case N_UNARY_MINUS:
                e->expr = process(p, e->expr);
                if (e->expr->type == N_NUMBER) {
                        result = e->expr;
                        result->num = -result->num;
                } else
                        push_ancestry(p, e, e->expr);
                break;
        case N_ARRAY:
                for (size_t i = 0; i < e->list.n; i++) {
                        e->list.items[i] = process(p, e->list.items[i]);
                        push_ancestry(p, e, e->list.items[i]);
                }
                break;
        case N_OBJECT:
                for (size_t i = 0; i < 2 * e->n_pairs; i++) {
                        e->pairs[i] = process(p, e->pairs[i]);
                        push_ancestry(p, e, e->pairs[i]);
                }
                break;
        case N_FUNCTION:
        case N_PARTIAL:
                for (size_t i = 0; i < e->list.n; i++) {
                        e->list.items[i] = process(p, e->list.items[i]);
                        push_ancestry(p, e, e->list.items[i]);
                }
                e->procedure = process(p, e->procedure);
                break;
        case N_LAMBDA: {
                JnNode *body = process(p, e->body);
                e->body = tail_call_optimize(p, body);
                break;
        }
        case N_CONDITION: {
                JnNode *cond = process(p, e->expr);
                JnNode *then = e->then == e->expr ? cond : process(p, e->then);
                e->expr = cond;
                push_ancestry(p, e, cond);
                e->then = then;
                if (then != cond)
                        push_ancestry(p, e, then);
                if (e->els) {
                        e->els = process(p, e->els);
                        push_ancestry(p, e, e->els);
                }
                break;
        }
        case N_TRANSFORM:
                e->pattern = process(p, e->pattern);
                e->update = process(p, e->update);
                if (e->del)
                        e->del = process(p, e->del);
                break;
        case N_BLOCK:
                for (size_t i = 0; i < e->list.n; i++) {
                        JnNode *part = process(p, e->list.items[i]);
                        e->list.items[i] = part;
                        push_ancestry(p, e, part);
                        if (part->consarray || (part->type == N_PATH && part->list.items[0]->consarray))
                                e->consarray = true;
                }
                break;
        case N_NAME:
                result = make_path(p, e);
                if (e->keep_array)
                        result->keep_singleton = true;
                break;
        case N_PARENT: {
                JnSlot *slot = palloc(p, sizeof(JnSlot));
                snprintf(slot->label, sizeof(slot->label), "!%d", p->ancestor_label++);
                slot->level = 1;
                slot->index = p->ancestor_index++;
                e->slot = slot;
                if (p->n_ancestry == p->cap_ancestry) {
                        p->cap_ancestry = p->cap_ancestry ? p->cap_ancestry * 2 : 8;
                        p->ancestry = grow(p, p->ancestry, p->n_ancestry, p->cap_ancestry, sizeof(JnNode *));
                }
                p->ancestry[p->n_ancestry++] = e;
                break;
        }
        default:
                break;
        }
        if (e->keep_array)
                result->keep_array = true;
        return result;
}

/* Everything that may fail, after the setjmp in jsonata_compile(). */
static void compile_inner(JnCompileError *ce, JsonataExpr *ex, const char *text, size_t len) {
        Parser *p;

        if (len > JSONATA_MAX_EXPRESSION_LENGTH)
                jn_compile_fail(ce, "S0001", 0, NULL, NULL);
        p = jn_arena_alloc(&ex->arena, sizeof(Parser));
        if (!p)
                abort();
        *p = (Parser){
                .lx = {.src = text, .len = len, .arena = &ex->arena, .prev_type = T_OP},
                .ce = ce,
                .ex = ex,
        };
        next(p);
        JnNode *ast = expression(p, 0);
        if (p->tok.type != T_END)
                fail(p, "S0201", tok_text(p), NULL);
        ast = process(p, ast);
        if (ast->type == N_PARENT || ast->n_seeking > 0)
                jn_compile_fail(ce, "S0217", ast->position, NULL, NULL);
        ex->root = ast;
}

int jsonata_compile(const char *text, size_t len, JsonataExpr **ret, JsonataError *err) {
        JsonataError dummy = {};
        JnCompileError ce = {.err = err ? err : &dummy};
        JsonataExpr *ex = xmalloc(sizeof(JsonataExpr));

        *ex = (JsonataExpr){};
        if (setjmp(ce.jmp)) {
                jsonata_expr_free(ex);
                jsonata_error_clear(&dummy);
                return -EINVAL;
        }
        compile_inner(&ce, ex, text, len == SIZE_MAX ? strlen(text) : len);
        *ret = ex;
        return 0;
}

JsonataExpr *jsonata_expr_free(JsonataExpr *e) {
        if (!e)
                return NULL;
        for (size_t i = 0; i < e->n_regexes; i++)
                pcre2_code_free(e->regexes[i]);
        free(e->regexes);
        jn_arena_free(&e->arena);
        free(e);
        return NULL;
}

void jsonata_error_clear(JsonataError *e) {
        if (!e)
                return;
        free(e->message);
        free(e->token);
        *e = (JsonataError){.position = -1};
}
