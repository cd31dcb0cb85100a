/* SPDX-License-Identifier: MIT */
/*
 * Regular expressions of JSONata: matching with PCRE2, and the reference's
 * matcher objects ({match, start, end, groups, next}) that $match, $replace,
 * $split and $contains consume (a user's lambda may return them too).
 *
 * Why PCRE2: JSONata's regular expressions are JavaScript's, and no C library
 * implements ECMAScript regexes. PCRE2 (Debian's libpcre2-dev) is the closest
 * well-kept engine: the same Perl-derived syntax (classes, groups, named and
 * non-capturing groups, lookahead and lookbehind, lazy quantifiers, back
 * references), compiled (in jsonata-parser.c, once per expression) with
 * PCRE2_UTF, PCRE2_ALT_BSUX (\uXXXX as JavaScript reads it),
 * PCRE2_MATCH_UNSET_BACKREF and PCRE2_DOLLAR_ENDONLY so that escapes, unset
 * back references and '$' behave as in JavaScript. GLib's GRegex wraps the
 * same PCRE2 and would only add GLib to the engine; POSIX regex(3) lacks
 * lazy quantifiers, lookaround and \d-style classes. The differences that
 * remain are in docs/jsonata.md.
 *
 * Matching is bounded (match limit 1,000,000, depth limit 10,000: U1001
 * rather than catastrophic backtracking) and its memory comes from the
 * evaluation's arena through a PCRE2 general context, so a longjmp out of an
 * error leaks nothing.
 */

#include <string.h>

#include "jsonata-internal.h"

static void *pcre_arena_malloc(PCRE2_SIZE n, void *data) {
        JnEval *ev = data;
        return jn_arena_alloc(&ev->arena, n);
}

static void pcre_arena_free(void *p, void *data) {
        (void) p;
        (void) data;
}

bool jn_regex_exec(JnEval *ev, const JnValue *re, const char *s, size_t len, size_t from, JnMatch *m) {
        const JnNode *node = re->fn->node;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(node->regex, ev->pcre_gctx);
        pcre2_match_context *mc = pcre2_match_context_create(ev->pcre_gctx);
        int rc;

        if (!md || !mc)
                jn_throw(ev, "U1002", NULL, NULL, "Evaluation needs more than the memory limit");
        pcre2_set_match_limit(mc, 1000000);
        pcre2_set_depth_limit(mc, 10000);
        jn_step(ev, 1 + len / 64);
        if (from > len)
                return false;
        rc = pcre2_match(node->regex, (PCRE2_SPTR) s, len, from, 0, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH)
                return false;
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT)
                jn_throw(ev, "U1001", NULL, NULL, "Regular expression %s needs too many steps",
                         node->regex_src);
        if (rc == PCRE2_ERROR_NOMEMORY)
                jn_throw(ev, "U1002", NULL, NULL, "Evaluation needs more than the memory limit");
        if (rc < 0) {
                /* invalid UTF-8 in the subject and the like: no match */
                return false;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        uint32_t count = pcre2_get_ovector_count(md);
        m->start = ov[0];
        m->end = ov[1];
        m->n_groups = count > 0 ? count - 1 : 0;
        m->gstart = jn_alloc(ev, (m->n_groups + 1) * sizeof(size_t));
        m->gend = jn_alloc(ev, (m->n_groups + 1) * sizeof(size_t));
        for (size_t g = 0; g < m->n_groups; g++) {
                if (g + 1 < (size_t) rc && ov[2 * (g + 1)] != PCRE2_UNSET) {
                        m->gstart[g] = ov[2 * (g + 1)];
                        m->gend[g] = ov[2 * (g + 1) + 1];
                } else
                        m->gstart[g] = m->gend[g] = (size_t) -1;
        }
        return true;
}

/* The reference's matcher result: {match, start, end, groups, next}; next
 * is a native bound to the regex, the string and the end offset. */
static JnValue *regex_next_fn(JnEval *ev, JnValue **a, size_t n, JnValue *focus);

static const JnNative regex_next_native = {"next", NULL, regex_next_fn, 0};

static JnValue *regex_match_object(JnEval *ev, JnValue *re, JnValue *str, size_t from) {
        JnMatch m;
        if (!jn_regex_exec(ev, re, str->str.s, str->str.len, from, &m))
                return NULL;
        JnValue *r = jn_regex_result(ev, str->str.s, str->str.len, &m);
        /* next: a partial application of the hidden native to (re, str, end) */
        JnValue *nat = jn_function(ev, JN_FN_NATIVE);
        nat->fn->native = &regex_next_native;
        JnValue *next = jn_function(ev, JN_FN_PARTIAL);
        next->fn->target = nat;
        next->fn->n_bound = 3;
        next->fn->bound = jn_alloc(ev, 3 * sizeof(JnValue *));
        next->fn->is_hole = jn_alloc(ev, 3);
        next->fn->bound[0] = re;
        next->fn->bound[1] = str;
        next->fn->bound[2] = jn_number(ev, (double) m.end);
        memset(next->fn->is_hole, 0, 3);
        jn_object_set(ev, r, "next", 4, next);
        return r;
}

static JnValue *regex_next_fn(JnEval *ev, JnValue **a, size_t n, JnValue *focus) {
        JnValue *re = a[0], *str = a[1];
        size_t from = (size_t) a[2]->num;
        if (from >= str->str.len)
                return NULL;
        JnValue *r = regex_match_object(ev, re, str, from);
        if (r) {
                JnValue *mt = jn_object_get(r, "match", 5);
                if (mt && mt->str.len == 0)
                        jn_throw_code(ev, "D1004", NULL, NULL);
        }
        return r;
}

JnValue *jn_regex_result(JnEval *ev, const char *s, size_t len, const JnMatch *m) {
        JnValue *r = jn_object(ev);
        JnValue *groups = jn_array(ev, m->n_groups);
        size_t cstart = jn_utf8_length(s, m->start);
        size_t clen = jn_utf8_length(s + m->start, m->end - m->start);

        jn_object_set(ev, r, "match", 5, jn_string(ev, s + m->start, m->end - m->start));
        jn_object_set(ev, r, "start", 5, jn_number(ev, (double) cstart));
        jn_object_set(ev, r, "end", 3, jn_number(ev, (double) (cstart + clen)));
        for (size_t g = 0; g < m->n_groups; g++)
                jn_array_push(ev, groups,
                              m->gstart[g] == (size_t) -1
                                      ? jn_string(ev, "", 0)
                                      : jn_string(ev, s + m->gstart[g], m->gend[g] - m->gstart[g]));
        jn_object_set(ev, r, "groups", 6, groups);
        (void) len;
        return r;
}

JnValue *jn_regex_call(JnEval *ev, JnValue *re, JnValue *str) {
        if (!jn_is_string(str))
                return NULL;
        return regex_match_object(ev, re, str, 0);
}

pcre2_general_context *jn_regex_context(JnEval *ev) {
        return pcre2_general_context_create(pcre_arena_malloc, pcre_arena_free, ev);
}
