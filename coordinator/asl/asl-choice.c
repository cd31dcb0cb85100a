/* SPDX-License-Identifier: MIT */
/*
 * Choice rules.
 *
 * Every comparison operator is one row of choice_operators[]: its name, the
 * kind of value it compares (string, number, boolean, timestamp) or that it
 * is a type test, whether its operand is a path ("<Name>Path") and the
 * relation it checks. Comparing then is: resolve the Variable, resolve the
 * operand (a literal, or a path evaluated like the Variable), and ask the
 * kind's compare function for a three-way result; a value of the wrong type
 * simply makes the rule false (AWS semantics).
 *
 * A Variable that does not resolve raises States.Runtime, except under
 * IsPresent, which is exactly the question "does it resolve". Paths that
 * start with "$$" are evaluated against the context object (one '$'
 * stripped), "$name..." against the workflow variable name, all others
 * against the state input.
 *
 * Validation (choice_rule_validate) and evaluation recurse through
 * And/Or/Not; both are bounded by ASL_MAX_JSON_DEPTH, so a hostile rule tree
 * cannot exhaust the stack even when called on an unchecked document.
 */

#include <math.h>
#include <string.h>

#include "asl-choice.h"
#include "asl-jsonpath.h"

typedef enum ChoiceKind {
        CHOICE_STRING,
        CHOICE_NUMBER,
        CHOICE_BOOLEAN,
        CHOICE_TIMESTAMP,
        CHOICE_TYPE_TEST,
} ChoiceKind;

typedef enum ChoiceRelation {
        REL_EQ,
        REL_LT,
        REL_GT,
        REL_LE,
        REL_GE,
        REL_MATCHES,            /* StringMatches */
        REL_IS_NULL,
        REL_IS_PRESENT,
        REL_IS_NUMERIC,
        REL_IS_STRING,
        REL_IS_BOOLEAN,
        REL_IS_TIMESTAMP,
} ChoiceRelation;

/*
 * Three-way comparison of the Variable's value `a` with the operand `b`:
 * 0 and *ret_cmp (<0, 0, >0), or -EDOM if either is not of the kind (the
 * rule is then false).
 */
typedef int (*ChoiceCompareFn)(json_t *a, json_t *b, int *ret_cmp);

typedef struct ChoiceOperator {
        const char *name;
        ChoiceKind kind;
        bool is_path;           /* operand is a reference path, not a literal */
        ChoiceRelation relation;
        ChoiceCompareFn compare; /* NULL for type tests and StringMatches */
} ChoiceOperator;

static int compare_strings(json_t *a, json_t *b, int *ret_cmp) {
        size_t la, lb;
        int c;

        if (!json_is_string(a) || !json_is_string(b))
                return -EDOM;
        la = json_string_length(a);
        lb = json_string_length(b);
        c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        if (c == 0)
                c = la < lb ? -1 : la > lb ? 1 : 0;
        *ret_cmp = c;
        return 0;
}

static int compare_numbers(json_t *a, json_t *b, int *ret_cmp) {
        double x, y;

        if (!json_is_number(a) || !json_is_number(b))
                return -EDOM;
        x = json_number_value(a);
        y = json_number_value(b);
        if (isnan(x) || isnan(y))
                return -EDOM;
        *ret_cmp = x < y ? -1 : x > y ? 1 : 0;
        return 0;
}

static int compare_booleans(json_t *a, json_t *b, int *ret_cmp) {
        if (!json_is_boolean(a) || !json_is_boolean(b))
                return -EDOM;
        *ret_cmp = json_is_true(a) == json_is_true(b) ? 0 : json_is_true(a) ? 1 : -1;
        return 0;
}

static int compare_timestamps(json_t *a, json_t *b, int *ret_cmp) {
        int64_t x, y;

        if (!json_is_string(a) || !json_is_string(b))
                return -EDOM;
        if (asl_parse_timestamp(json_string_value(a), &x) < 0 ||
            asl_parse_timestamp(json_string_value(b), &y) < 0)
                return -EDOM;
        *ret_cmp = x < y ? -1 : x > y ? 1 : 0;
        return 0;
}

#define CMP_OPS(prefix, kind, fn)                                                        \
        { prefix "Equals", kind, false, REL_EQ, fn },                                    \
        { prefix "LessThan", kind, false, REL_LT, fn },                                  \
        { prefix "GreaterThan", kind, false, REL_GT, fn },                               \
        { prefix "LessThanEquals", kind, false, REL_LE, fn },                            \
        { prefix "GreaterThanEquals", kind, false, REL_GE, fn },                         \
        { prefix "EqualsPath", kind, true, REL_EQ, fn },                                 \
        { prefix "LessThanPath", kind, true, REL_LT, fn },                               \
        { prefix "GreaterThanPath", kind, true, REL_GT, fn },                            \
        { prefix "LessThanEqualsPath", kind, true, REL_LE, fn },                         \
        { prefix "GreaterThanEqualsPath", kind, true, REL_GE, fn }

static const ChoiceOperator choice_operators[] = {
        CMP_OPS("String", CHOICE_STRING, compare_strings),
        { "StringMatches", CHOICE_STRING, false, REL_MATCHES, NULL },
        CMP_OPS("Numeric", CHOICE_NUMBER, compare_numbers),
        { "BooleanEquals", CHOICE_BOOLEAN, false, REL_EQ, compare_booleans },
        { "BooleanEqualsPath", CHOICE_BOOLEAN, true, REL_EQ, compare_booleans },
        CMP_OPS("Timestamp", CHOICE_TIMESTAMP, compare_timestamps),
        { "IsNull", CHOICE_TYPE_TEST, false, REL_IS_NULL, NULL },
        { "IsPresent", CHOICE_TYPE_TEST, false, REL_IS_PRESENT, NULL },
        { "IsNumeric", CHOICE_TYPE_TEST, false, REL_IS_NUMERIC, NULL },
        { "IsString", CHOICE_TYPE_TEST, false, REL_IS_STRING, NULL },
        { "IsBoolean", CHOICE_TYPE_TEST, false, REL_IS_BOOLEAN, NULL },
        { "IsTimestamp", CHOICE_TYPE_TEST, false, REL_IS_TIMESTAMP, NULL },
};

static const ChoiceOperator *choice_operator_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(choice_operators); i++)
                if (streq(choice_operators[i].name, name))
                        return &choice_operators[i];
        return NULL;
}

static bool is_logical(const char *name) {
        return streq(name, "And") || streq(name, "Or") || streq(name, "Not");
}

/* ---- StringMatches ---------------------------------------------------- */

/*
 * The pattern is split at its unescaped stars into literal segments
 * (escapes decoded): a*b\*c*d -> "a", "b*c", "d". Then the first
 * segment must be a prefix, the last a suffix, and the ones in between are
 * found left to right, each at its leftmost place after the previous one
 * (leftmost is always the best choice). With memmem() (two-way search) this
 * is linear in the lengths of s and pattern: both can be large (a payload,
 * a definition), so no backtracking.
 *
 * `\*` is a literal star, `\\` a literal backslash; a backslash before any
 * other byte (or at the end) stands for itself.
 */
bool choice_string_matches(const char *s, const char *pattern) {
        _cleanup_free_ char *lit = NULL;
        _cleanup_free_ size_t *starts = NULL;
        size_t slen, plen, nseg = 0, k = 0, pos, end, first_len, last_len;

        if (!s || !pattern)
                return false;
        slen = strlen(s);
        plen = strlen(pattern);
        lit = xmalloc(plen + 1);
        starts = xmalloc((plen + 2) * sizeof(size_t));

        /* starts[i] = offset of segment i in lit; starts[nseg] = end. */
        starts[nseg++] = 0;
        for (const char *p = pattern; *p; p++) {
                if (*p == '*')
                        starts[nseg++] = k;
                else if (*p == '\\' && (p[1] == '*' || p[1] == '\\'))
                        lit[k++] = *++p;
                else
                        lit[k++] = *p;
        }
        starts[nseg] = k;

#define SEG(i) (lit + starts[i])
#define SEGLEN(i) (starts[(i) + 1] - starts[i])
        if (nseg == 1)
                return slen == k && memcmp(s, lit, k) == 0;

        first_len = SEGLEN(0);
        last_len = SEGLEN(nseg - 1);
        if (first_len + last_len > slen ||
            memcmp(s, SEG(0), first_len) != 0 ||
            memcmp(s + slen - last_len, SEG(nseg - 1), last_len) != 0)
                return false;

        pos = first_len;
        end = slen - last_len;
        for (size_t i = 1; i + 1 < nseg; i++) {
                const char *found;

                if (SEGLEN(i) == 0)
                        continue;
                found = memmem(s + pos, end - pos, SEG(i), SEGLEN(i));
                if (!found)
                        return false;
                pos = (size_t) (found - s) + SEGLEN(i);
        }
        return true;
#undef SEG
#undef SEGLEN
}

/* ---- validation ------------------------------------------------------- */

/* Checks a Variable or *Path operand: a reference path into the input, the
 * context object ("$$...") or a workflow variable ("$name..."). NULL if
 * fine, else a new message. */
static char *choice_check_path(const char *path) {
        _cleanup_free_ char *msg = NULL, *rel = NULL;
        JsonPathKind k;

        if (path[0] != '$')
                return xstrdup("must be a reference path starting with '$'");
        asl_path_root(path, NULL, &rel);
        k = jsonpath_check(rel, &msg);
        if (k == JSONPATH_REFERENCE)
                return NULL;
        if (k == JSONPATH_QUERY)
                return xstrdup("must be a reference path (no wildcards, slices, unions, filters or '..')");
        return xasprintf("invalid path: %s", msg ? msg : "syntax error");
}

static void choice_validate_operand(const ChoiceOperator *op, json_t *value,
                                    const char *pointer, AslDiag *d) {
        if (op->is_path) {
                _cleanup_free_ char *msg = NULL;

                if (!json_is_string(value)) {
                        asl_diag_add(d, pointer, "must be a string (a reference path)");
                        return;
                }
                msg = choice_check_path(json_string_value(value));
                if (msg)
                        asl_diag_add(d, pointer, "%s", msg);
                return;
        }

        switch (op->kind) {
        case CHOICE_STRING:
                if (!json_is_string(value))
                        asl_diag_add(d, pointer, "must be a string");
                break;
        case CHOICE_NUMBER:
                if (!json_is_number(value))
                        asl_diag_add(d, pointer, "must be a number");
                break;
        case CHOICE_BOOLEAN:
        case CHOICE_TYPE_TEST:
                if (!json_is_boolean(value))
                        asl_diag_add(d, pointer, "must be a boolean");
                break;
        case CHOICE_TIMESTAMP: {
                int64_t ms;

                if (!json_is_string(value))
                        asl_diag_add(d, pointer, "must be a string (an RFC 3339 timestamp)");
                else if (asl_parse_timestamp(json_string_value(value), &ms) < 0)
                        asl_diag_add(d, pointer, "must be an RFC 3339 timestamp such as \"2016-03-14T01:59:00Z\"");
                break;
        }
        }
}

static void choice_rule_validate_internal(json_t *rule, const char *pointer, bool top_level,
                                          size_t depth, AslDiag *d) {
        const char *key, *op_key = NULL;
        json_t *v, *variable;
        const ChoiceOperator *op = NULL;
        bool logical = false;

        if (!json_is_object(rule)) {
                asl_diag_add(d, pointer, "a choice rule must be an object");
                return;
        }
        if (depth > ASL_MAX_JSON_DEPTH) {
                asl_diag_add(d, pointer, "choice rules nested too deeply (limit %d)", ASL_MAX_JSON_DEPTH);
                return;
        }

        /* First pass: find the operator and reject unknown fields. */
        json_object_foreach(rule, key, v) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);
                const ChoiceOperator *o = choice_operator_find(key);

                if (o || is_logical(key)) {
                        if (op_key) {
                                asl_diag_add(d, p, "a choice rule must have exactly one operator (already has %s)", op_key);
                                continue;
                        }
                        op_key = key;
                        op = o;
                        logical = !o;
                } else if (streq(key, "Next")) {
                        if (!top_level)
                                asl_diag_add(d, p, "Next is only allowed in a top-level choice rule, not inside And, Or or Not");
                        else if (!json_is_string(v))
                                asl_diag_add(d, p, "must be a string (a state name)");
                } else if (streq(key, "Comment")) {
                        if (!json_is_string(v))
                                asl_diag_add(d, p, "must be a string");
                } else if (streq(key, "Condition") || streq(key, "Output"))
                        asl_diag_add(d, p,
                                     "The QueryLanguage is set to 'JSONPath', but field '%s' is only "
                                     "supported for the 'JSONata' QueryLanguage",
                                     key);
                else if (streq(key, "Assign")) {
                        if (!top_level)
                                asl_diag_add(d, p,
                                             "Assign is only allowed in a top-level choice rule, not inside "
                                             "And, Or or Not");
                        /* its values: the definition's validator (asl-definition.c) */
                } else if (!streq(key, "Variable"))
                        asl_diag_add(d, p, "unknown field in a choice rule");
        }

        if (top_level && !json_object_get(rule, "Next"))
                asl_diag_add(d, pointer, "a top-level choice rule needs Next");

        variable = json_object_get(rule, "Variable");
        if (!op_key) {
                asl_diag_add(d, pointer, "a choice rule needs a comparison operator (e.g. StringEquals, NumericLessThan, IsPresent) or And, Or, Not");
                return;
        }

        if (logical) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, op_key);

                if (variable) {
                        _cleanup_free_ char *pv = asl_pointer_join(pointer, "Variable");
                        asl_diag_add(d, pv, "Variable is not allowed with %s", op_key);
                }
                v = json_object_get(rule, op_key);
                if (streq(op_key, "Not")) {
                        if (!json_is_object(v))
                                asl_diag_add(d, p, "must be an object (one choice rule)");
                        else
                                choice_rule_validate_internal(v, p, false, depth + 1, d);
                        return;
                }
                if (!json_is_array(v) || json_array_size(v) == 0) {
                        asl_diag_add(d, p, "must be a non-empty array of choice rules");
                        return;
                }
                for (size_t i = 0; i < json_array_size(v); i++) {
                        _cleanup_free_ char *pi = asl_pointer_join_index(p, i);
                        choice_rule_validate_internal(json_array_get(v, i), pi, false, depth + 1, d);
                }
                return;
        }

        if (!variable)
                asl_diag_add(d, pointer, "a comparison needs Variable");
        else {
                _cleanup_free_ char *pv = asl_pointer_join(pointer, "Variable");
                _cleanup_free_ char *msg = NULL;

                if (!json_is_string(variable))
                        asl_diag_add(d, pv, "must be a string (a reference path)");
                else if ((msg = choice_check_path(json_string_value(variable))))
                        asl_diag_add(d, pv, "%s", msg);
        }

        _cleanup_free_ char *po = asl_pointer_join(pointer, op_key);
        choice_validate_operand(op, json_object_get(rule, op_key), po, d);
}

void choice_rule_validate(json_t *rule, const char *pointer, bool top_level, AslDiag *d) {
        choice_rule_validate_internal(rule, pointer ? pointer : "", top_level, 0, d);
}

bool choice_is_operator(const char *name) {
        return name && (choice_operator_find(name) || is_logical(name));
}

static void foreach_path(json_t *rule, const char *pointer, size_t depth, ChoicePathFn fn, void *userdata) {
        const char *key;
        json_t *v;

        if (!json_is_object(rule) || depth > ASL_MAX_JSON_DEPTH)
                return;
        json_object_foreach (rule, key, v) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);
                const ChoiceOperator *op = choice_operator_find(key);

                if (streq(key, "Variable") || (op && op->is_path)) {
                        if (json_is_string(v))
                                fn(userdata, json_string_value(v), p);
                } else if (streq(key, "Not"))
                        foreach_path(v, p, depth + 1, fn, userdata);
                else if ((streq(key, "And") || streq(key, "Or")) && json_is_array(v))
                        for (size_t i = 0; i < json_array_size(v); i++) {
                                _cleanup_free_ char *pi = asl_pointer_join_index(p, i);
                                foreach_path(json_array_get(v, i), pi, depth + 1, fn, userdata);
                        }
        }
}

void choice_rule_foreach_path(json_t *rule, const char *pointer, ChoicePathFn fn, void *userdata) {
        foreach_path(rule, pointer ? pointer : "", 0, fn, userdata);
}

/* ---- evaluation ------------------------------------------------------- */

/* Resolves a reference path against the input, the context object or a
 * variable. 0 and a new reference, -ENOENT if it does not resolve, -EINVAL
 * if bad. */
static int choice_resolve(const char *path, json_t *input, const AslRefs *refs, json_t **ret) {
        return asl_path_eval(path, input, refs, ret, NULL);
}

static int choice_missing(AslError *err, const char *path) {
        return asl_error_set(err, "States.Runtime",
                             "Invalid path '%s': The choice state's condition path references an invalid value.",
                             path);
}

static bool type_test(ChoiceRelation rel, json_t *value) {
        int64_t ms;

        switch (rel) {
        case REL_IS_NULL:
                return json_is_null(value);
        case REL_IS_NUMERIC:
                return json_is_number(value);
        case REL_IS_STRING:
                return json_is_string(value);
        case REL_IS_BOOLEAN:
                return json_is_boolean(value);
        case REL_IS_TIMESTAMP:
                return json_is_string(value) && asl_parse_timestamp(json_string_value(value), &ms) >= 0;
        default:
                return false;
        }
}

static bool relation_holds(ChoiceRelation rel, int cmp) {
        switch (rel) {
        case REL_EQ:
                return cmp == 0;
        case REL_LT:
                return cmp < 0;
        case REL_GT:
                return cmp > 0;
        case REL_LE:
                return cmp <= 0;
        case REL_GE:
                return cmp >= 0;
        default:
                return false;
        }
}

static int choice_compare(json_t *rule, const char *op_key, const ChoiceOperator *op, json_t *input,
                          const AslRefs *refs, bool *ret_match, AslError *err) {
        json_t *vpath = json_object_get(rule, "Variable");
        json_t *operand = json_object_get(rule, op_key);
        _cleanup_json_ json_t *value = NULL, *resolved = NULL;
        const char *path;
        int r, cmp;

        if (!json_is_string(vpath))
                return asl_error_set(err, "States.Runtime", "Choice rule has no valid Variable");
        path = json_string_value(vpath);

        r = choice_resolve(path, input, refs, &value);
        if (op->relation == REL_IS_PRESENT) {
                if (r < 0 && r != -ENOENT)
                        return asl_error_set(err, "States.Runtime", "Invalid path '%s'", path);
                if (!json_is_boolean(operand))
                        return asl_error_set(err, "States.Runtime", "%s needs a boolean", op_key);
                *ret_match = (r >= 0) == json_is_true(operand);
                return 0;
        }
        if (r == -ENOENT)
                return choice_missing(err, path);
        if (r < 0)
                return asl_error_set(err, "States.Runtime", "Invalid path '%s'", path);

        if (op->kind == CHOICE_TYPE_TEST) {
                if (!json_is_boolean(operand))
                        return asl_error_set(err, "States.Runtime", "%s needs a boolean", op_key);
                *ret_match = type_test(op->relation, value) == json_is_true(operand);
                return 0;
        }

        if (op->is_path) {
                if (!json_is_string(operand))
                        return asl_error_set(err, "States.Runtime", "%s needs a path", op_key);
                r = choice_resolve(json_string_value(operand), input, refs, &resolved);
                if (r == -ENOENT)
                        return choice_missing(err, json_string_value(operand));
                if (r < 0)
                        return asl_error_set(err, "States.Runtime", "Invalid path '%s'", json_string_value(operand));
                operand = resolved;
        }

        if (op->relation == REL_MATCHES) {
                *ret_match = json_is_string(value) && json_is_string(operand) &&
                        choice_string_matches(json_string_value(value), json_string_value(operand));
                return 0;
        }

        r = op->compare(value, operand, &cmp);
        *ret_match = r >= 0 && relation_holds(op->relation, cmp);
        return 0;
}

static int choice_rule_eval_internal(json_t *rule, json_t *input, const AslRefs *refs, size_t depth,
                                     bool *ret_match, AslError *err) {
        const char *key;
        json_t *v;

        if (!json_is_object(rule))
                return asl_error_set(err, "States.Runtime", "Choice rule is not an object");
        if (depth > ASL_MAX_JSON_DEPTH)
                return asl_error_set(err, "States.Runtime", "Choice rules nested too deeply");

        json_object_foreach(rule, key, v) {
                const ChoiceOperator *op;

                if (streq(key, "And") || streq(key, "Or")) {
                        bool is_and = streq(key, "And");

                        if (!json_is_array(v) || json_array_size(v) == 0)
                                return asl_error_set(err, "States.Runtime", "%s needs a non-empty array", key);
                        /* Short-circuit, in order, like AWS. */
                        for (size_t i = 0; i < json_array_size(v); i++) {
                                bool m = false;
                                int r = choice_rule_eval_internal(json_array_get(v, i), input, refs,
                                                                  depth + 1, &m, err);
                                if (r < 0)
                                        return r;
                                if (m != is_and) {
                                        *ret_match = m;
                                        return 0;
                                }
                        }
                        *ret_match = is_and;
                        return 0;
                }
                if (streq(key, "Not")) {
                        bool m = false;
                        int r = choice_rule_eval_internal(v, input, refs, depth + 1, &m, err);
                        if (r < 0)
                                return r;
                        *ret_match = !m;
                        return 0;
                }
                op = choice_operator_find(key);
                if (op)
                        return choice_compare(rule, key, op, input, refs, ret_match, err);
        }
        return asl_error_set(err, "States.Runtime", "Choice rule has no operator");
}

int choice_rule_eval(json_t *rule, json_t *input, const AslRefs *refs, bool *ret_match, AslError *err) {
        bool m = false;
        int r;

        r = choice_rule_eval_internal(rule, input, refs, 0, &m, err);
        if (r < 0)
                return r;
        *ret_match = m;
        return 0;
}
