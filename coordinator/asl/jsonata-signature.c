/* SPDX-License-Identifier: MIT */
/*
 * Function signatures ("<s-nn?:s>") as the reference implementation reads
 * and checks them. The reference turns a signature into a regular
 * expression over one letter per argument (s n b l o a f, m for a missing
 * value) and matches the arguments' letters against it; here each parameter
 * is a set of letters with a quantifier (one, '?', '+', or '-': "the focus
 * when missing"), matched by a small backtracking matcher. The result is
 * the same, including which argument the T0410 error names.
 */

#include <stdio.h>
#include <string.h>

#include "jsonata-internal.h"

JnSignature *jn_signature_parse(JnArena *a, const char *s, size_t len, const char **code) {
        JnSignature *sig = jn_arena_alloc(a, sizeof(JnSignature));
        JnSigParam *prev = NULL;

        if (!sig)
                return NULL;
        memset(sig, 0, sizeof(*sig));
        for (size_t pos = 1; pos < len; pos++) {
                char c = s[pos];
                if (c == ':' || c == '>')
                        break;
                JnSigParam *p =
                        sig->n < sizeof(sig->params) / sizeof(sig->params[0]) ? &sig->params[sig->n] : NULL;
                switch (c) {
                case 's':
                case 'n':
                case 'b':
                case 'l':
                case 'o':
                case 'a':
                case 'f':
                case 'j':
                case 'x':
                        if (!p) {
                                *code = "S0401";
                                return NULL;
                        }
                        p->type = c;
                        if (c == 'a' || c == 'x')
                                snprintf(p->types, sizeof(p->types), "asnblfom");
                        else if (c == 'j')
                                snprintf(p->types, sizeof(p->types), "asnblom");
                        else if (c == 'f')
                                snprintf(p->types, sizeof(p->types), "f");
                        else
                                snprintf(p->types, sizeof(p->types), "%cm", c);
                        prev = p;
                        sig->n++;
                        break;
                case '-':
                        if (prev)
                                prev->context = true;
                        break;
                case '?':
                case '+':
                        if (prev)
                                prev->quant = c;
                        break;
                case '(': {
                        size_t end = pos + 1;
                        while (end < len && s[end] != ')')
                                end++;
                        if (memchr(s + pos, '<', end - pos)) {
                                *code = "S0402";
                                return NULL;
                        }
                        if (!p || end - pos > sizeof(p->types) - 2) {
                                *code = "S0401";
                                return NULL;
                        }
                        p->type = '(';
                        snprintf(p->types, sizeof(p->types), "%.*sm", (int) (end - pos - 1), s + pos + 1);
                        pos = end;
                        prev = p;
                        sig->n++;
                        break;
                }
                case '<': {
                        int depth = 1;
                        size_t end = pos + 1;
                        while (end < len && depth > 0) {
                                if (s[end] == '<')
                                        depth++;
                                else if (s[end] == '>')
                                        depth--;
                                if (depth > 0)
                                        end++;
                        }
                        if (!prev || (prev->type != 'a' && prev->type != 'f')) {
                                *code = "S0401";
                                return NULL;
                        }
                        snprintf(prev->subtype, sizeof(prev->subtype), "%.*s", (int) (end - pos - 1),
                                 s + pos + 1);
                        pos = end;
                        break;
                }
                default:
                        break;
                }
        }
        return sig;
}

static char symbol_of(const JnValue *v) {
        if (!v)
                return 'm';
        switch ((JnType) v->type) {
        case JN_FUNCTION:
                return 'f';
        case JN_STRING:
                return 's';
        case JN_NUMBER:
                return 'n';
        case JN_BOOL:
                return 'b';
        case JN_NULL:
                return 'l';
        case JN_ARRAY:
                return 'a';
        case JN_OBJECT:
                return 'o';
        }
        return 'm';
}

static bool in_class(const JnSigParam *p, char c) {
        return c && strchr(p->types, c) != NULL;
}

/* Matches params[i..] against sym[pos..]; lens[] receives each parameter's
 * match length. anchored: the whole string must be used. */
static bool match_from(const JnSignature *sig, size_t i, const char *sym, size_t pos, size_t len,
                       size_t *lens, size_t nparams, bool anchored, size_t *end) {
        if (i == nparams) {
                if (anchored && pos != len)
                        return false;
                *end = pos;
                return true;
        }
        const JnSigParam *p = &sig->params[i];
        size_t max = 0;
        while (pos + max < len && in_class(p, sym[pos + max]) && (max == 0 || p->quant == '+'))
                max++;
        bool optional = p->quant == '?' || p->context;
        for (ssize_t k = (ssize_t) max; k >= (optional ? 0 : 1); k--) {
                lens[i] = (size_t) k;
                if (match_from(sig, i + 1, sym, pos + (size_t) k, len, lens, nparams, anchored, end))
                        return true;
        }
        return false;
}

static const char *array_type_name(const char *subtype) {
        switch (subtype[0]) {
        case 'a':
                return "arrays";
        case 'b':
                return "booleans";
        case 'f':
                return "functions";
        case 'n':
                return "numbers";
        case 'o':
                return "objects";
        case 's':
                return "strings";
        }
        return subtype;
}

JnValue **jn_signature_validate(JnEval *ev, const JnSignature *sig, JnValue **args, size_t *n,
                                JnValue *focus, const char *name) {
        size_t nargs = *n;
        char *sym = jn_alloc(ev, nargs + 1);
        size_t lens[16], end;

        for (size_t i = 0; i < nargs; i++)
                sym[i] = symbol_of(args[i]);
        sym[nargs] = 0;
        if (!match_from(sig, 0, sym, 0, nargs, lens, sig->n, true, &end)) {
                size_t good = 0;
                for (size_t k = 1; k <= sig->n; k++) {
                        if (!match_from(sig, 0, sym, 0, nargs, lens, k, false, &end))
                                break;
                        good = end;
                }
                jn_throw_arg(ev, "T0410", name, good < nargs ? args[good] : NULL, (int) good + 1, NULL);
        }
        JnValue **out = jn_alloc(ev, (sig->n + nargs + 1) * sizeof(JnValue *));
        size_t nout = 0, ai = 0;
        for (size_t i = 0; i < sig->n; i++) {
                const JnSigParam *p = &sig->params[i];
                if (lens[i] == 0) {
                        if (p->context) {
                                if (!in_class(p, symbol_of(focus)))
                                        jn_throw_arg(ev, "T0411", name, focus, (int) ai + 1, NULL);
                                out[nout++] = focus;
                        } else {
                                out[nout++] = ai < nargs ? args[ai] : NULL;
                                ai++;
                        }
                        continue;
                }
                for (size_t k = 0; k < lens[i]; k++) {
                        JnValue *arg = args[ai];
                        char single = sym[ai];
                        if (p->type == 'a') {
                                if (single == 'm')
                                        arg = NULL;
                                else {
                                        bool ok = true;
                                        if (p->subtype[0]) {
                                                if (single != 'a' &&
                                                    !(lens[i] == 1 && single == p->subtype[0] &&
                                                      p->subtype[1] == 0))
                                                        ok = false;
                                                else if (single == 'a' && arg->arr.n > 0) {
                                                        char it = symbol_of(arg->arr.items[0]);
                                                        if (it != p->subtype[0])
                                                                ok = false;
                                                        for (size_t x = 1; ok && x < arg->arr.n; x++)
                                                                if (symbol_of(arg->arr.items[x]) != it)
                                                                        ok = false;
                                                }
                                                if (!ok)
                                                        jn_throw_arg(ev, "T0412", name, arg, (int) ai + 1,
                                                                     array_type_name(p->subtype));
                                        }
                                        if (single != 'a') {
                                                JnValue *w = jn_array(ev, 1);
                                                jn_array_push(ev, w, arg);
                                                arg = w;
                                        }
                                }
                        }
                        out[nout++] = arg;
                        ai++;
                }
        }
        *n = nout;
        return out;
}
