/* SPDX-License-Identifier: MIT */
/*
 * What a compiled expression refers to from outside itself (see
 * jsonata_expr_references() in jsonata.h), found by one walk of the tree
 * with a chain of scopes:
 *
 *   - a block opens a scope, and `$x := ...` binds $x in the current scope
 *     after its right side is walked (so `$x := $x + 1` reads the outer $x);
 *   - a lambda opens a scope holding its parameters;
 *   - the focus (`@$v`) and index (`#$v`) variables of a path's steps are
 *     bound in a scope of that path.
 *
 * A variable not bound on the way up is free. Names read from the input at
 * the top level are those the top-level input is searched for: the first
 * step of a path evaluated in the top-level context. Predicates, sort terms,
 * group-by pairs, later steps and transforms run against other values, so
 * nothing in them is a top-level name; a lambda body keeps the context it
 * was defined in, as the reference evaluates it.
 *
 * Results are sorted and deduplicated at the end (qsort), so a long
 * expression costs n log n, not n^2. The recursion follows the parsed tree,
 * whose depth the parser bounds (JSONATA_MAX_TREE_DEPTH).
 */

#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "jsonata-internal.h"

typedef struct Scope {
        struct Scope *parent;
        const char **names;
        size_t n, cap;
} Scope;

typedef struct Walk {
        JsonataReference *vars;
        size_t n_vars, cap_vars;
        char **names;
        size_t n_names, cap_names;
} Walk;

static void scope_add(Scope *s, const char *name) {
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 8;
                s->names = xrealloc(s->names, s->cap * sizeof(char *));
        }
        s->names[s->n++] = name;
}

static bool scope_has(const Scope *s, const char *name) {
        for (; s; s = s->parent)
                for (size_t i = 0; i < s->n; i++)
                        if (strcmp(s->names[i], name) == 0)
                                return true;
        return false;
}

static void scope_done(Scope *s) {
        free(s->names);
}

static void add_variable(Walk *w, const char *name, const char *member, size_t mlen) {
        if (w->n_vars == w->cap_vars) {
                w->cap_vars = w->cap_vars ? w->cap_vars * 2 : 8;
                w->vars = xrealloc(w->vars, w->cap_vars * sizeof(JsonataReference));
        }
        w->vars[w->n_vars++] = (JsonataReference){
                .variable = xstrdup(name),
                .member = member ? xstrndup(member, mlen) : NULL,
        };
}

static void add_name(Walk *w, const char *name, size_t len) {
        if (w->n_names == w->cap_names) {
                w->cap_names = w->cap_names ? w->cap_names * 2 : 8;
                w->names = xrealloc(w->names, w->cap_names * sizeof(char *));
        }
        w->names[w->n_names++] = xstrndup(name, len);
}

static void walk(Walk *w, const JnNode *n, Scope *scope, bool top);

/* A variable node; member is the name the next path step reads from it. */
static void walk_variable(Walk *w, const JnNode *n, Scope *scope, const JnNode *next) {
        if (n->vlen == 0 || scope_has(scope, n->value))
                return; /* `$`, the context, or bound inside */
        if (next && next->type == N_NAME)
                add_variable(w, n->value, next->value, next->vlen);
        else
                add_variable(w, n->value, NULL, 0);
}

static void walk_list(Walk *w, const JnNodeList *l, Scope *scope, bool top) {
        for (size_t i = 0; i < l->n; i++)
                walk(w, l->items[i], scope, top);
}

/* What every node may carry besides its own children. */
static void walk_decorations(Walk *w, const JnNode *n, Scope *scope) {
        for (size_t i = 0; i < n->n_stages; i++)
                if (n->stages[i].expr)
                        walk(w, n->stages[i].expr, scope, false);
        for (size_t i = 0; i < n->n_predicate; i++)
                walk(w, n->predicate[i], scope, false);
        if (n->group)
                for (size_t i = 0; i < 2 * n->group->n_pairs; i++)
                        walk(w, n->group->pairs[i], scope, false);
}

static void walk_path(Walk *w, const JnNode *n, Scope *scope, bool top) {
        Scope ps = {.parent = scope};

        /* focus and index variables are visible to the whole path */
        for (size_t i = 0; i < n->list.n; i++) {
                const JnNode *step = n->list.items[i];
                if (step->focus)
                        scope_add(&ps, step->focus);
                if (step->index)
                        scope_add(&ps, step->index);
                for (size_t s = 0; s < step->n_stages; s++)
                        if (step->stages[s].is_index && step->stages[s].var)
                                scope_add(&ps, step->stages[s].var);
        }
        for (size_t i = 0; i < n->list.n; i++) {
                const JnNode *step = n->list.items[i];

                if (i == 0 && step->type == N_VARIABLE) {
                        walk_variable(w, step, &ps, n->list.n > 1 ? n->list.items[1] : NULL);
                        walk_decorations(w, step, &ps);
                } else if (i == 0)
                        walk(w, step, &ps, top);
                else
                        walk(w, step, &ps, false);
        }
        if (n->group)
                for (size_t i = 0; i < 2 * n->group->n_pairs; i++)
                        walk(w, n->group->pairs[i], &ps, false);
        for (size_t i = 0; i < n->n_predicate; i++)
                walk(w, n->predicate[i], &ps, false);
        scope_done(&ps);
}

static void walk(Walk *w, const JnNode *n, Scope *scope, bool top) {
        if (!n)
                return;
        switch (n->type) {
        case N_PATH:
                walk_path(w, n, scope, top);
                return; /* its group and predicates are walked there */
        case N_NAME:
                if (top)
                        add_name(w, n->value, n->vlen);
                break;
        case N_VARIABLE:
                walk_variable(w, n, scope, NULL);
                break;
        case N_BINARY:
        case N_COALESCE:
        case N_APPLY:
                walk(w, n->lhs, scope, top);
                walk(w, n->rhs, scope, top);
                break;
        case N_UNARY_MINUS:
                walk(w, n->expr, scope, top);
                break;
        case N_ARRAY:
                walk_list(w, &n->list, scope, top);
                break;
        case N_OBJECT:
                for (size_t i = 0; i < 2 * n->n_pairs; i++)
                        walk(w, n->pairs[i], scope, top);
                break;
        case N_CONDITION:
                walk(w, n->expr, scope, top);
                if (n->then != n->expr)
                        walk(w, n->then, scope, top);
                walk(w, n->els, scope, top);
                break;
        case N_BLOCK: {
                Scope bs = {.parent = scope};
                walk_list(w, &n->list, &bs, top);
                scope_done(&bs);
                break;
        }
        case N_BIND:
                walk(w, n->rhs, scope, top);
                scope_add(scope, n->value);
                break;
        case N_FUNCTION:
        case N_PARTIAL:
                walk(w, n->procedure, scope, top);
                walk_list(w, &n->list, scope, top);
                break;
        case N_LAMBDA: {
                Scope ls = {.parent = scope};
                for (size_t i = 0; i < n->list.n; i++)
                        if (n->list.items[i]->type == N_VARIABLE)
                                scope_add(&ls, n->list.items[i]->value);
                walk(w, n->body, &ls, top);
                scope_done(&ls);
                break;
        }
        case N_TRANSFORM:
                walk(w, n->pattern, scope, false);
                walk(w, n->update, scope, false);
                walk(w, n->del, scope, false);
                break;
        case N_SORT:
                for (size_t i = 0; i < n->n_terms; i++)
                        walk(w, n->terms[i].expr, scope, false);
                break;
        default:
                break;
        }
        walk_decorations(w, n, scope);
}

static int cmp_str(const char *a, const char *b) {
        return a ? (b ? strcmp(a, b) : 1) : (b ? -1 : 0);
}

static int cmp_ref(const void *a, const void *b) {
        const JsonataReference *x = a, *y = b;
        int r = strcmp(x->variable, y->variable);
        return r ? r : cmp_str(x->member, y->member);
}

static int cmp_name(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int jsonata_expr_references(const JsonataExpr *e, JsonataReferences *ret) {
        Walk w = {};
        Scope top = {};
        size_t k;

        if (!e || !ret)
                return -EINVAL;
        walk(&w, e->root, &top, true);
        scope_done(&top);

        if (w.n_vars > 1)
                qsort(w.vars, w.n_vars, sizeof(JsonataReference), cmp_ref);
        k = 0;
        for (size_t i = 0; i < w.n_vars; i++) {
                if (k > 0 && cmp_ref(&w.vars[k - 1], &w.vars[i]) == 0) {
                        free(w.vars[i].variable);
                        free(w.vars[i].member);
                        continue;
                }
                w.vars[k++] = w.vars[i];
        }
        w.n_vars = k;

        if (w.n_names > 1)
                qsort(w.names, w.n_names, sizeof(char *), cmp_name);
        k = 0;
        for (size_t i = 0; i < w.n_names; i++) {
                if (k > 0 && strcmp(w.names[k - 1], w.names[i]) == 0) {
                        free(w.names[i]);
                        continue;
                }
                w.names[k++] = w.names[i];
        }
        w.n_names = k;

        *ret = (JsonataReferences){
                .variables = w.vars,
                .n_variables = w.n_vars,
                .names = w.names,
                .n_names = w.n_names,
        };
        return 0;
}

void jsonata_references_clear(JsonataReferences *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_variables; i++) {
                free(r->variables[i].variable);
                free(r->variables[i].member);
        }
        free(r->variables);
        for (size_t i = 0; i < r->n_names; i++)
                free(r->names[i]);
        free(r->names);
        *r = (JsonataReferences){};
}

bool jsonata_references_has_variable(const JsonataReferences *r, const char *name) {
        for (size_t i = 0; r && i < r->n_variables; i++)
                if (strcmp(r->variables[i].variable, name) == 0)
                        return true;
        return false;
}

bool jsonata_function_exists(const char *name, const JsonataLibrary *const *libraries, size_t n_libraries) {
        if (!name)
                return false;
        if (jn_library_find(&jn_std_library, name))
                return true;
        for (size_t i = 0; i < n_libraries; i++)
                if (libraries[i] && jn_library_find(libraries[i], name))
                        return true;
        return false;
}
