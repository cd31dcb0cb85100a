/* SPDX-License-Identifier: MIT */
/*
 * IAM identity policies (see iam.h). Written here: no Debian library
 * evaluates IAM policies, and the subset that identity policies of one
 * service need is a parser of a small JSON shape and a wildcard matcher.
 * A parsed policy is an array of statements, each with its patterns copied.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "alloc-util.h"
#include "iam.h"

typedef struct IamStatement {
        bool deny;
        bool not_action, not_resource;
        char **actions;
        size_t n_actions;
        char **resources;
        size_t n_resources;
} IamStatement;

struct IamPolicy {
        IamStatement *statements;
        size_t n;
};

static void strv_free_n(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

IamPolicy *iam_policy_free(IamPolicy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n; i++) {
                strv_free_n(p->statements[i].actions, p->statements[i].n_actions);
                strv_free_n(p->statements[i].resources, p->statements[i].n_resources);
        }
        free(p->statements);
        free(p);
        return NULL;
}

bool iam_match(const char *pattern, const char *s, bool ignore_case) {
        const char *star = NULL, *resume = NULL;

        /* The classic greedy matcher: on a mismatch go back to the last '*'
         * and let it take one more character. O(len(pattern) * len(s)). */
        while (*s) {
                char pc = *pattern, sc = *s;

                if (ignore_case) {
                        pc = (char) tolower((unsigned char) pc);
                        sc = (char) tolower((unsigned char) sc);
                }
                if (*pattern == '*') {
                        star = pattern++;
                        resume = s;
                } else if (*pattern == '?' || (*pattern && pc == sc)) {
                        pattern++;
                        s++;
                } else if (star) {
                        pattern = star + 1;
                        s = ++resume;
                } else
                        return false;
        }
        while (*pattern == '*')
                pattern++;
        return *pattern == 0;
}

bool iam_resource_match(const char *pattern, const char *resource) {
        size_t m = strlen(pattern);
        _cleanup_free_ bool *row = NULL, *next = NULL;

        if (streq(pattern, "*"))
                return true;

        /* Dynamic programming over the pattern, one character of the
         * resource at a time: row[j] = pattern[0..j) matches what was read.
         * A '*' that ends a segment (before ':' or at the end) takes any run;
         * another '*' and '?' stay within a segment (never take ':'). */
        row = xmalloc((m + 1) * sizeof(bool));
        next = xmalloc((m + 1) * sizeof(bool));
        row[0] = true;
        for (size_t j = 1; j <= m; j++)
                row[j] = row[j - 1] && pattern[j - 1] == '*';
        for (const char *r = resource; *r; r++) {
                next[0] = false;
                for (size_t j = 1; j <= m; j++) {
                        char pc = pattern[j - 1];

                        if (pc == '*') {
                                bool spans = pattern[j] == ':' || pattern[j] == 0;
                                next[j] = next[j - 1] || (row[j] && (spans || *r != ':'));
                        } else if (pc == '?')
                                next[j] = row[j - 1] && *r != ':';
                        else
                                next[j] = row[j - 1] && pc == *r;
                }
                memcpy(row, next, (m + 1) * sizeof(bool));
        }
        return row[m];
}

static int policy_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int policy_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        free(*ret_error);
        *ret_error = xvasprintf(fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* A string or a non-empty list of strings -> patterns. */
static int patterns(const json_t *v, size_t idx, const char *element, char ***ret, size_t *ret_n,
                    char **ret_error) {
        char **out;
        size_t n;

        if (json_is_string(v))
                n = 1;
        else if (json_is_array(v) && json_array_size(v) > 0)
                n = json_array_size(v);
        else
                return policy_error(ret_error, "Statement %zu: %s must be a string or a list of strings",
                                    idx, element);
        if (n > IAM_PATTERNS_MAX)
                return policy_error(ret_error, "Statement %zu: %s has more than %d entries", idx, element,
                                    IAM_PATTERNS_MAX);
        out = xmalloc(n * sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                const json_t *e = json_is_string(v) ? v : json_array_get(v, i);
                const char *s = json_string_value(e);

                if (!s || !*s || strlen(s) > IAM_PATTERN_MAX || strstr(s, "${")) {
                        strv_free_n(out, i);
                        return policy_error(
                                ret_error,
                                "Statement %zu: %s entries must be non-empty strings of at most %d "
                                "bytes without policy variables",
                                idx, element, IAM_PATTERN_MAX);
                }
                if (streq(element + (strncmp(element, "Not", 3) == 0 ? 3 : 0), "Action") && !streq(s, "*") &&
                    !strchr(s, ':')) {
                        strv_free_n(out, i);
                        return policy_error(ret_error,
                                            "Statement %zu: %s '%s' must be '*' or '<service>:<action>'",
                                            idx, element, s);
                }
                out[i] = xstrdup(s);
        }
        *ret = out;
        *ret_n = n;
        return 0;
}

static int statement_parse(const json_t *st, size_t idx, IamStatement *ret, char **ret_error) {
        static const char *const known[] = {"Sid",       "Effect",   "Action",
                                            "NotAction", "Resource", "NotResource"};
        const json_t *action, *not_action, *resource, *not_resource, *v;
        const char *effect, *key;
        IamStatement s = {};
        int k;

        if (!json_is_object(st))
                return policy_error(ret_error, "Statement %zu: must be an object", idx);
        json_object_foreach ((json_t *) st, key, v) {
                bool ok = false;

                for (size_t i = 0; i < ELEMENTSOF(known); i++)
                        ok = ok || streq(key, known[i]);
                if (!ok)
                        return policy_error(ret_error, "Statement %zu: %s is not supported", idx, key);
        }
        effect = json_string_value(json_object_get(st, "Effect"));
        if (!effect || (!streq(effect, "Allow") && !streq(effect, "Deny")))
                return policy_error(ret_error, "Statement %zu: Effect must be \"Allow\" or \"Deny\"", idx);
        v = json_object_get(st, "Sid");
        if (v && !json_is_string(v))
                return policy_error(ret_error, "Statement %zu: Sid must be a string", idx);

        action = json_object_get(st, "Action");
        not_action = json_object_get(st, "NotAction");
        resource = json_object_get(st, "Resource");
        not_resource = json_object_get(st, "NotResource");
        if (!action == !not_action)
                return policy_error(ret_error, "Statement %zu: needs exactly one of Action and NotAction",
                                    idx);
        if (!resource == !not_resource)
                return policy_error(ret_error,
                                    "Statement %zu: needs exactly one of Resource and NotResource", idx);

        s.deny = streq(effect, "Deny");
        s.not_action = !action;
        s.not_resource = !resource;
        k = patterns(action ?: not_action, idx, action ? "Action" : "NotAction", &s.actions, &s.n_actions,
                     ret_error);
        if (k < 0)
                return k;
        k = patterns(resource ?: not_resource, idx, resource ? "Resource" : "NotResource", &s.resources,
                     &s.n_resources, ret_error);
        if (k < 0) {
                strv_free_n(s.actions, s.n_actions);
                return k;
        }
        *ret = s;
        return 0;
}

int iam_policy_parse(const json_t *doc, IamPolicy **ret, char **ret_error) {
        IamPolicy *p;
        const json_t *statements, *v;
        const char *version, *key;
        size_t n;

        if (!json_is_object(doc))
                return policy_error(ret_error, "a policy is a JSON object");
        json_object_foreach ((json_t *) doc, key, v)
                if (!streq(key, "Version") && !streq(key, "Statement") && !streq(key, "Id"))
                        return policy_error(ret_error, "%s is not supported in a policy", key);
        version = json_string_value(json_object_get(doc, "Version"));
        if (json_object_get(doc, "Version") &&
            (!version || (!streq(version, "2012-10-17") && !streq(version, "2008-10-17"))))
                return policy_error(ret_error, "Version must be \"2012-10-17\" or \"2008-10-17\"");
        statements = json_object_get(doc, "Statement");
        if (json_is_object(statements))
                n = 1;
        else if (json_is_array(statements))
                n = json_array_size(statements);
        else
                return policy_error(ret_error, "Statement must be an object or a list of objects");
        if (n > IAM_STATEMENTS_MAX)
                return policy_error(ret_error, "more than %d statements", IAM_STATEMENTS_MAX);

        p = xmalloc(sizeof *p);
        *p = (IamPolicy){.statements = xmalloc((n + 1) * sizeof(IamStatement))};
        for (size_t i = 0; i < n; i++) {
                int k = statement_parse(json_is_object(statements) ? statements
                                                                   : json_array_get(statements, i),
                                        i, &p->statements[i], ret_error);
                if (k < 0) {
                        iam_policy_free(p);
                        return k;
                }
                p->n++;
        }
        *ret = p;
        return 0;
}

static bool any_match(char *const *patterns, size_t n, const char *s, bool action) {
        for (size_t i = 0; i < n; i++)
                if (action ? iam_match(patterns[i], s, /* ignore_case= */ true)
                           : iam_resource_match(patterns[i], s))
                        return true;
        return false;
}

IamDecision iam_policy_evaluate(const IamPolicy *p, const char *action, const char *resource) {
        bool allowed = false;

        for (size_t i = 0; p && i < p->n; i++) {
                const IamStatement *s = &p->statements[i];

                if (any_match(s->actions, s->n_actions, action, true) == s->not_action)
                        continue;
                if (any_match(s->resources, s->n_resources, resource, false) == s->not_resource)
                        continue;
                if (s->deny)
                        return IAM_DENY_EXPLICIT;
                allowed = true;
        }
        return allowed ? IAM_ALLOW : IAM_DENY_IMPLICIT;
}
