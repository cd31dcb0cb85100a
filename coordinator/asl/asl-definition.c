/* SPDX-License-Identifier: MIT */
/*
 * Definition parsing and validation (JSONPath query language).
 *
 * Two tables drive the checks (STYLE 11):
 *   state_fields[]  every field a state may have, with a check of its value
 *                   on its own (type, range, path syntax, sub-structure);
 *   state_types[]   the eight state types, each with the set of fields it
 *                   allows and a function for the rules that tie fields
 *                   together (X vs XPath, Wait's exactly-one, Heartbeat <
 *                   Timeout, Map's ItemProcessor vs Iterator, ...).
 * A machine (the top level, a Parallel branch, a Map's ItemProcessor or
 * Iterator) is then checked as a graph: StartAt and every Next/Default/Catch
 * target must name a state of the same machine, every state must be
 * reachable from StartAt, and some state must end the machine.
 *
 * Every problem is reported as a diagnostic with the JSON pointer of the
 * offending field; validation goes on after an error so one run reports
 * them all. Sizes the author controls are bounded: definition bytes, JSON
 * depth (checked first, so the recursive checks below are bounded too),
 * number of states, state name length.
 *
 * No I/O here: this is part of the pure engine (coordinator/asl/).
 */

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "asl-choice.h"
#include "asl-definition.h"
#include "asl-intrinsics.h"
#include "asl-jsonpath.h"
#include "asl-query.h"

#define ASL_MAX_SECONDS 99999999
#define ASL_MAX_RETRY_DELAY_SECONDS 31622400
#define ASL_MAX_INT32 2147483647
#define ASL_MAX_STATE_NAME 80   /* characters, as Step Functions */

typedef enum MachineKind {
        MACHINE_TOP,
        MACHINE_BRANCH,
        MACHINE_ITEM_PROCESSOR,
        MACHINE_ITERATOR,
} MachineKind;

#define ASL_MAX_VARIABLE_NAME 80 /* characters, as Step Functions */

/* The variables a machine's states assign (the top level, a Parallel
 * branch, a Map iteration): visible there and in the machines inside. */
typedef struct VarScope {
        struct VarScope *parent;
        json_t *names; /* name -> true */
} VarScope;

/* What $states holds where an expression runs. */
#define STATES_RESULT 0x1       /* $states.result: Output and Assign of Task, Parallel, Map */
#define STATES_ERROR_OUTPUT 0x2 /* $states.errorOutput: Output and Assign of a catcher */

typedef struct Validator {
        AslDiag *d;
        AslMachineType type;    /* STANDARD or EXPRESS: the rules applied */
        size_t n_states;        /* all states seen so far, nested ones included */
        bool too_many;          /* ASL_MAX_STATES exceeded (reported once) */
        json_t *names;          /* state name -> pointer of its first definition */
        bool machine_jsonata;   /* the top-level QueryLanguage is JSONata */
        bool jsonata;           /* the state being checked is a JSONata state */
        unsigned states_fields; /* STATES_*: what the field being checked may read */
        VarScope *scope;        /* the innermost machine's variables */
        AslExprCache *exprs;    /* compiled expressions go here (NULL: freed) */
        pcre2_code *name_re;    /* variable names (compiled on first use) */
} Validator;

static void validate_machine(Validator *v, json_t *m, const char *pointer, MachineKind kind);

/* ---- small value checks ---------------------------------------------- */

static bool check_int(Validator *v, json_t *value, const char *pointer, json_int_t min, json_int_t max) {
        json_int_t i;

        if (!json_is_integer(value)) {
                asl_diag_add(v->d, pointer, "must be an integer");
                return false;
        }
        i = json_integer_value(value);
        if (i < min) {
                asl_diag_add(v->d, pointer, "must be >= %lld", (long long) min);
                return false;
        }
        if (i > max) {
                asl_diag_add(v->d, pointer, "must be <= %lld", (long long) max);
                return false;
        }
        return true;
}

/* Length in Unicode characters of UTF-8 text (jansson has checked it). */
static size_t utf8_length(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xC0) != 0x80)
                        n++;
        return n;
}

/* ---- workflow variables ---------------------------------------------- */

/*
 * A variable name follows Unicode's identifier rules (UAX #31, as Step
 * Functions documents them): an ID_Start character, then ID_Continue
 * characters; at most 80 characters. PCRE2 knows the Unicode properties.
 */
static bool variable_name_valid(Validator *v, const char *name) {
        static const char pattern[] =
                "^[\\p{L}\\p{Nl}\\x{1885}\\x{1886}\\x{2118}\\x{212E}\\x{309B}\\x{309C}]"
                "[\\p{L}\\p{Nl}\\p{Mn}\\p{Mc}\\p{Nd}\\p{Pc}\\x{1885}\\x{1886}\\x{2118}\\x{212E}"
                "\\x{309B}\\x{309C}\\x{00B7}\\x{0387}\\x{1369}-\\x{1371}\\x{19DA}]*$";
        pcre2_match_data *md;
        size_t n = 0;
        int rc, e;
        PCRE2_SIZE off;

        for (const char *p = name; *p; p++)
                if (((unsigned char) *p & 0xC0) != 0x80)
                        n++;
        if (n == 0 || n > ASL_MAX_VARIABLE_NAME)
                return false;
        if (!v->name_re) {
                v->name_re = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED,
                                           PCRE2_UTF | PCRE2_UCP, &e, &off, NULL);
                if (!v->name_re)
                        abort();
        }
        md = pcre2_match_data_create_from_pattern(v->name_re, NULL);
        if (!md)
                abort();
        rc = pcre2_match(v->name_re, (PCRE2_SPTR) name, strlen(name), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return rc >= 0;
}

static bool scope_has(const VarScope *s, const char *name) {
        for (; s; s = s->parent)
                if (json_object_get(s->names, name))
                        return true;
        return false;
}

/* A reference to a variable that no state of this machine or of those
 * around it assigns: a warning, as Step Functions gives it (the variable may
 * still come from somewhere the check cannot see). */
static void check_variable_reference(Validator *v, const char *name, const char *pointer) {
        if (!scope_has(v->scope, name))
                asl_diag_warn(v->d, pointer, "Variable '%s' is possibly not defined.", name);
}

/* A path of a JSONPath Choice rule (Variable, a *Path operand). */
static void check_variable_path(void *userdata, const char *path, const char *pointer) {
        _cleanup_free_ char *name = NULL;

        if (asl_path_root(path, &name, NULL) == ASL_PATH_VARIABLE)
                check_variable_reference(userdata, name, pointer);
}

/* The variables a JSONPath state's intrinsic call reads ("$name" outside
 * quoted strings), checked as references. */
static void check_intrinsic_variables(Validator *v, const char *s, const char *pointer) {
        char quote = 0;

        for (size_t i = 0; s[i]; i++) {
                if (quote) {
                        if (s[i] == '\\' && s[i + 1])
                                i++;
                        else if (s[i] == quote)
                                quote = 0;
                        continue;
                }
                if (s[i] == '\'')
                        quote = s[i];
                else if (s[i] == '$' && s[i + 1] && s[i + 1] != '$' && s[i + 1] != '.' && s[i + 1] != '[' &&
                         (i == 0 || s[i - 1] != '$')) {
                        size_t n = strcspn(s + i + 1, ".[,) \t\r\n");
                        _cleanup_free_ char *name = xstrndup(s + i + 1, n);

                        check_variable_reference(v, name, pointer);
                        i += n;
                }
        }
}

/*
 * A path into the input ("$..."), the context object ("$$...", if
 * allow_context) or a workflow variable ("$name...", if allow_variables).
 * With reference_only, wildcards/filters/... are rejected.
 */
static bool check_path_string_vars(Validator *v, json_t *value, const char *pointer, bool reference_only,
                                   bool allow_context, bool allow_variables) {
        _cleanup_free_ char *msg = NULL, *name = NULL, *rel = NULL;
        const char *s;
        JsonPathKind k;
        AslPathRoot root;

        if (!json_is_string(value)) {
                asl_diag_add(v->d, pointer, "must be a string (a JSONPath starting with '$')");
                return false;
        }
        s = json_string_value(value);
        if (s[0] != '$') {
                asl_diag_add(v->d, pointer, "must be a JSONPath starting with '$'");
                return false;
        }
        root = asl_path_root(s, &name, &rel);
        if (root == ASL_PATH_CONTEXT && !allow_context) {
                asl_diag_add(v->d, pointer,
                             "must be a path into the input ('$...'), not the context object");
                return false;
        }
        if (root == ASL_PATH_VARIABLE) {
                if (!allow_variables) {
                        asl_diag_add(v->d, pointer,
                                     "must be a path into the input ('$...'), not a variable");
                        return false;
                }
                check_variable_reference(v, name, pointer);
        }
        k = jsonpath_check(rel, &msg);
        if (k == JSONPATH_INVALID) {
                asl_diag_add(v->d, pointer, "invalid JSONPath: %s", msg ? msg : "syntax error");
                return false;
        }
        if (k != JSONPATH_REFERENCE && reference_only) {
                asl_diag_add(v->d, pointer, "must be a reference path (no wildcards, slices, unions, filters or '..')");
                return false;
        }
        return true;
}

static bool check_path_string(Validator *v, json_t *value, const char *pointer, bool reference_only,
                              bool allow_context) {
        return check_path_string_vars(v, value, pointer, reference_only, allow_context,
                                      /* allow_variables= */ true);
}

/* The value of a "key.$" field: a path ($ or $$) or an intrinsic call. */
static void check_dynamic_value(Validator *v, json_t *value, const char *pointer) {
        _cleanup_free_ char *msg = NULL;
        const char *s;

        if (!json_is_string(value)) {
                asl_diag_add(v->d, pointer, "the value of a field ending in '.$' must be a string (a JSONPath or an intrinsic function call)");
                return;
        }
        s = json_string_value(value);
        if (s[0] == '$') {
                check_path_string(v, value, pointer, /* reference_only= */ false, /* allow_context= */ true);
                return;
        }
        if (!intrinsic_is_call(s)) {
                asl_diag_add(v->d, pointer,
                             "the value of a field ending in '.$' must be a JSONPath ('$...', '$$...', "
                             "'$variable...') or an intrinsic function call ('States.Format(...)')");
                return;
        }
        if (intrinsic_check(s, &msg) < 0)
                asl_diag_add(v->d, pointer, "invalid intrinsic function call: %s", msg ? msg : "syntax error");
        else
                check_intrinsic_variables(v, s, pointer);
}

static bool ends_with_dollar(const char *key, size_t *ret_stem) {
        size_t l = strlen(key);

        if (l < 2 || key[l - 2] != '.' || key[l - 1] != '$')
                return false;
        *ret_stem = l - 2;
        return true;
}

/* Payload template values: objects and arrays are walked, keys ending in
 * ".$" checked. */
static void check_template_value(Validator *v, json_t *value, const char *pointer) {
        if (json_is_object(value)) {
                const char *key;
                json_t *c;

                json_object_foreach(value, key, c) {
                        _cleanup_free_ char *p = asl_pointer_join(pointer, key);
                        size_t stem;

                        if (ends_with_dollar(key, &stem)) {
                                _cleanup_free_ char *plain = xstrndup(key, stem);

                                if (json_object_get(value, plain))
                                        asl_diag_add(v->d, p, "both \"%s\" and \"%s\" are given", plain, key);
                                check_dynamic_value(v, c, p);
                        } else
                                check_template_value(v, c, p);
                }
        } else if (json_is_array(value)) {
                size_t i;
                json_t *c;

                json_array_foreach(value, i, c) {
                        _cleanup_free_ char *p = asl_pointer_join_index(pointer, i);
                        check_template_value(v, c, p);
                }
        }
}

/* Checks ErrorEquals of retrier/catcher number `index` of `count`. */
static void check_error_equals(Validator *v, json_t *value, const char *pointer,
                               size_t index, size_t count, const char *what) {
        size_t i;
        json_t *e;

        if (!json_is_array(value) || json_array_size(value) == 0) {
                asl_diag_add(v->d, pointer, "must be a non-empty array of error names");
                return;
        }
        json_array_foreach(value, i, e) {
                _cleanup_free_ char *p = asl_pointer_join_index(pointer, i);

                if (!json_is_string(e) || json_string_length(e) == 0) {
                        asl_diag_add(v->d, p, "must be a non-empty string (an error name)");
                        continue;
                }
                if (streq(json_string_value(e), "States.ALL")) {
                        if (json_array_size(value) != 1)
                                asl_diag_add(v->d, p, "States.ALL must appear alone in ErrorEquals");
                        if (index + 1 != count)
                                asl_diag_add(v->d, p, "States.ALL may only appear in the last %s", what);
                }
        }
}

/* ---- JSONata expressions --------------------------------------------- */

/*
 * A "{% ... %}" string: compiled (kept in v->exprs when the machine is being
 * built) and its references checked as Step Functions checks them: no $$, no
 * field names read from a top-level context (JSONata states have none: the
 * input is $states.input), $states.result and $states.errorOutput only where
 * they exist, and variables that some state may have assigned (a warning).
 * Any other string is a literal.
 */
static void check_expression(Validator *v, json_t *value, const char *pointer) {
        JsonataError err = {.position = -1};
        JsonataReferences refs = {};
        JsonataExpr *e = NULL;
        bool uses_states = false, uses_context = false;
        const char *text;
        size_t len;

        if (!json_is_string(value) ||
            !asl_query_is_expression(json_string_value(value), json_string_length(value), &text, &len))
                return;
        if (jsonata_compile(text, len, &e, &err) < 0) {
                asl_diag_add(v->d, pointer, "Invalid JSONata expression: %s: %s", err.code,
                             err.message ? err.message : "syntax error");
                jsonata_error_clear(&err);
                return;
        }
        if (jsonata_expr_references(e, &refs) < 0)
                abort();
        for (size_t i = 0; i < refs.n_variables; i++) {
                const char *name = refs.variables[i].variable, *member = refs.variables[i].member;

                if (streq(name, "$"))
                        asl_diag_add(v->d, pointer, "Reference to '$$' is not supported.");
                else if (streq(name, "states")) {
                        uses_states = true;
                        if (!member || streq(member, "context"))
                                uses_context = true;
                        else if (streq(member, "input"))
                                ;
                        else if (streq(member, "result") && (v->states_fields & STATES_RESULT))
                                ;
                        else if (streq(member, "errorOutput") && (v->states_fields & STATES_ERROR_OUTPUT))
                                ;
                        else
                                asl_diag_add(v->d, pointer, "Field '$states.%s' does not exist.", member);
                } else if (!jsonata_function_exists(name, asl_query_libraries, asl_query_n_libraries))
                        check_variable_reference(v, name, pointer);
        }
        for (size_t i = 0; i < refs.n_names; i++)
                asl_diag_add(v->d, pointer, "Reference to '%s' at the top level is not supported.",
                             refs.names[i]);
        jsonata_references_clear(&refs);

        if (v->exprs)
                asl_expr_cache_put(v->exprs, (AslExpr){
                                                     .key = value,
                                                     .expr = e,
                                                     .text = xstrndup(text, len),
                                                     .uses_states = uses_states,
                                                     .uses_context = uses_context,
                                             });
        else
                jsonata_expr_free(e);
}

/* Any JSON value of a JSONata field: its strings may be expressions. Depth is
 * bounded by the definition's (checked first). */
static void check_jsonata_value(Validator *v, json_t *value, const char *pointer) {
        const char *key;
        json_t *c;
        size_t i;

        switch (json_typeof(value)) {
        case JSON_STRING:
                check_expression(v, value, pointer);
                break;
        case JSON_OBJECT:
                json_object_foreach (value, key, c) {
                        _cleanup_free_ char *p = asl_pointer_join(pointer, key);
                        check_jsonata_value(v, c, p);
                }
                break;
        case JSON_ARRAY:
                json_array_foreach (value, i, c) {
                        _cleanup_free_ char *p = asl_pointer_join_index(pointer, i);
                        check_jsonata_value(v, c, p);
                }
                break;
        default:
                break;
        }
}

/* In a JSONata state, a field that takes a value of its own (a number, a
 * timestamp, a string) may be an expression instead: true if it is one (it is
 * then checked here). */
static bool jsonata_expression_field(Validator *v, json_t *value, const char *pointer) {
        if (!v->jsonata || !asl_query_json_is_expression(value))
                return false;
        check_expression(v, value, pointer);
        return true;
}

/* ---- field checks ---------------------------------------------------- */

typedef void (*FieldCheckFn)(Validator *v, json_t *value, const char *pointer);

static void check_string(Validator *v, json_t *value, const char *pointer) {
        if (!json_is_string(value))
                asl_diag_add(v->d, pointer, "must be a string");
}

static void check_nonempty_string(Validator *v, json_t *value, const char *pointer) {
        if (!json_is_string(value) || json_string_length(value) == 0)
                asl_diag_add(v->d, pointer, "must be a non-empty string");
}

static void check_any(Validator *v, json_t *value, const char *pointer) {
}

static void check_query_language(Validator *v, json_t *value, const char *pointer) {
        if (json_is_string(value) &&
            (streq(json_string_value(value), "JSONPath") || streq(json_string_value(value), "JSONata")))
                return;
        asl_diag_add(v->d, pointer, "must be \"JSONPath\" or \"JSONata\"");
}

static void check_boolean(Validator *v, json_t *value, const char *pointer) {
        if (!json_is_boolean(value))
                asl_diag_add(v->d, pointer, "must be a boolean");
}

static void check_io_path(Validator *v, json_t *value, const char *pointer) {
        if (json_is_null(value))
                return;
        check_path_string(v, value, pointer, /* reference_only= */ false, /* allow_context= */ true);
}

static void check_result_path(Validator *v, json_t *value, const char *pointer) {
        if (json_is_null(value))
                return;
        check_path_string_vars(v, value, pointer, /* reference_only= */ true, /* allow_context= */ false,
                               /* allow_variables= */ false);
}

static void check_reference_path(Validator *v, json_t *value, const char *pointer) {
        check_path_string(v, value, pointer, /* reference_only= */ true, /* allow_context= */ true);
}

static void check_path_or_intrinsic(Validator *v, json_t *value, const char *pointer) {
        if (json_is_string(value) && json_string_value(value)[0] != '$') {
                _cleanup_free_ char *msg = NULL;

                if (!intrinsic_is_call(json_string_value(value)))
                        asl_diag_add(v->d, pointer, "must be a JSONPath or an intrinsic function call");
                else if (intrinsic_check(json_string_value(value), &msg) < 0)
                        asl_diag_add(v->d, pointer, "invalid intrinsic function call: %s", msg ? msg : "syntax error");
                else
                        check_intrinsic_variables(v, json_string_value(value), pointer);
                return;
        }
        check_reference_path(v, value, pointer);
}

static void check_template(Validator *v, json_t *value, const char *pointer) {
        if (!json_is_object(value)) {
                asl_diag_add(v->d, pointer, "must be an object (a payload template)");
                return;
        }
        check_template_value(v, value, pointer);
}

static void check_timeout(Validator *v, json_t *value, const char *pointer) {
        if (!jsonata_expression_field(v, value, pointer))
                check_int(v, value, pointer, 1, ASL_MAX_SECONDS);
}

static void check_wait_seconds(Validator *v, json_t *value, const char *pointer) {
        if (!jsonata_expression_field(v, value, pointer))
                check_int(v, value, pointer, 0, ASL_MAX_SECONDS);
}

static void check_timestamp(Validator *v, json_t *value, const char *pointer) {
        int64_t ms;

        if (jsonata_expression_field(v, value, pointer))
                return;
        if (!json_is_string(value) || asl_parse_timestamp(json_string_value(value), &ms) < 0)
                asl_diag_add(v->d, pointer, "must be an RFC 3339 timestamp such as \"2016-03-14T01:59:00Z\"");
}

static void check_count(Validator *v, json_t *value, const char *pointer) {
        if (!jsonata_expression_field(v, value, pointer))
                check_int(v, value, pointer, 0, ASL_MAX_INT32);
}

static void check_percentage(Validator *v, json_t *value, const char *pointer) {
        double x;

        if (jsonata_expression_field(v, value, pointer))
                return;
        if (!json_is_number(value)) {
                asl_diag_add(v->d, pointer, "must be a number");
                return;
        }
        x = json_number_value(value);
        if (!(x >= 0.0 && x <= 100.0))
                asl_diag_add(v->d, pointer, "must be between 0 and 100");
}

/* A field of a retrier or catcher other than ErrorEquals and Comment:
 * false if the object has no such field. */
typedef bool (*ListFieldCheckFn)(Validator *v, const char *key, json_t *f, const char *pointer);

/*
 * Retry and Catch: an array of objects, each a <what> ("retrier",
 * "catcher") with the required fields, ErrorEquals, Comment and the fields
 * check_field knows.
 */
static void check_object_list(Validator *v, json_t *value, const char *pointer, const char *what,
                              const char *const *required, ListFieldCheckFn check_field) {
        size_t i, n;
        json_t *o;

        if (!json_is_array(value)) {
                asl_diag_add(v->d, pointer, "must be an array of %ss", what);
                return;
        }
        n = json_array_size(value);
        json_array_foreach(value, i, o) {
                _cleanup_free_ char *p = asl_pointer_join_index(pointer, i);
                const char *key;
                json_t *f;

                if (!json_is_object(o)) {
                        asl_diag_add(v->d, p, "a %s must be an object", what);
                        continue;
                }
                for (size_t k = 0; required[k]; k++)
                        if (!json_object_get(o, required[k]))
                                asl_diag_add(v->d, p, "a %s needs %s", what, required[k]);
                json_object_foreach(o, key, f) {
                        _cleanup_free_ char *pf = asl_pointer_join(p, key);

                        if (streq(key, "ErrorEquals"))
                                check_error_equals(v, f, pf, i, n, what);
                        else if (streq(key, "Comment"))
                                check_string(v, f, pf);
                        else if (!check_field(v, key, f, pf))
                                asl_diag_add(v->d, pf, "unknown field in a %s", what);
                }
        }
}

static bool check_retrier_field(Validator *v, const char *key, json_t *f, const char *pf) {
        if (streq(key, "IntervalSeconds"))
                check_int(v, f, pf, 1, ASL_MAX_SECONDS);
        else if (streq(key, "MaxAttempts"))
                check_int(v, f, pf, 0, ASL_MAX_SECONDS);
        else if (streq(key, "BackoffRate")) {
                if (!json_is_number(f))
                        asl_diag_add(v->d, pf, "must be a number");
                else if (!(json_number_value(f) >= 1.0))
                        asl_diag_add(v->d, pf, "must be >= 1.0");
                else if (json_number_value(f) > (double) ASL_MAX_SECONDS)
                        asl_diag_add(v->d, pf, "must be <= %d", ASL_MAX_SECONDS);
        } else if (streq(key, "MaxDelaySeconds"))
                check_int(v, f, pf, 1, ASL_MAX_RETRY_DELAY_SECONDS);
        else if (streq(key, "JitterStrategy")) {
                if (!json_is_string(f) ||
                    (!streq(json_string_value(f), "FULL") && !streq(json_string_value(f), "NONE")))
                        asl_diag_add(v->d, pf, "must be \"FULL\" or \"NONE\"");
        } else
                return false;
        return true;
}

static void check_retry(Validator *v, json_t *value, const char *pointer) {
        static const char *const required[] = { "ErrorEquals", NULL };

        check_object_list(v, value, pointer, "retrier", required, check_retrier_field);
}

static void check_assign(Validator *v, json_t *value, const char *pointer);

static bool check_catcher_field(Validator *v, const char *key, json_t *f, const char *pf) {
        unsigned saved = v->states_fields;

        if (streq(key, "Next"))
                check_nonempty_string(v, f, pf); /* existence: check_transitions() */
        else if (streq(key, "ResultPath") && !v->jsonata)
                check_result_path(v, f, pf);
        else if (streq(key, "Output") && v->jsonata) {
                v->states_fields = STATES_ERROR_OUTPUT;
                check_jsonata_value(v, f, pf);
        } else if (streq(key, "Assign")) {
                v->states_fields = STATES_ERROR_OUTPUT;
                check_assign(v, f, pf);
        } else if (streq(key, "ResultPath") || streq(key, "Output"))
                asl_diag_add(
                        v->d, pf,
                        "The QueryLanguage is set to '%s', but field '%s' is only supported for the '%s' "
                        "QueryLanguage%s",
                        v->jsonata ? "JSONata" : "JSONPath", key, v->jsonata ? "JSONPath" : "JSONata",
                        v->jsonata ? "; use Output" : "");
        else
                return false;
        v->states_fields = saved;
        return true;
}

static void check_catch(Validator *v, json_t *value, const char *pointer) {
        static const char *const required[] = { "ErrorEquals", "Next", NULL };

        check_object_list(v, value, pointer, "catcher", required, check_catcher_field);
}

/* A JSONata choice rule: Condition (true, false or an expression), Next, and
 * the Assign and Output used when the rule matches. */
static void check_jsonata_choice_rule(Validator *v, json_t *rule, const char *pointer) {
        const char *key;
        json_t *f;

        if (!json_is_object(rule)) {
                asl_diag_add(v->d, pointer, "a choice rule must be an object");
                return;
        }
        if (!json_object_get(rule, "Condition"))
                asl_diag_add(v->d, pointer, "a choice rule needs Condition");
        if (!json_object_get(rule, "Next"))
                asl_diag_add(v->d, pointer, "a top-level choice rule needs Next");
        json_object_foreach (rule, key, f) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);

                if (streq(key, "Condition")) {
                        if (!json_is_boolean(f) && !jsonata_expression_field(v, f, p))
                                asl_diag_add(
                                        v->d, p,
                                        "must be true, false or a JSONata expression (\"{%% ... %%}\")");
                } else if (streq(key, "Next")) {
                        if (!json_is_string(f))
                                asl_diag_add(v->d, p, "must be a string (a state name)");
                } else if (streq(key, "Comment"))
                        check_string(v, f, p);
                else if (streq(key, "Output"))
                        check_jsonata_value(v, f, p);
                else if (streq(key, "Assign"))
                        check_assign(v, f, p);
                else if (streq(key, "Variable") || streq(key, "And") || streq(key, "Or") ||
                         streq(key, "Not") || choice_is_operator(key))
                        asl_diag_add(v->d, p,
                                     "The QueryLanguage is set to 'JSONata', but field '%s' is only "
                                     "supported for "
                                     "the 'JSONPath' QueryLanguage; use Condition",
                                     key);
                else
                        asl_diag_add(v->d, p, "unknown field in a choice rule");
        }
}

static void check_choices(Validator *v, json_t *value, const char *pointer) {
        size_t i;
        json_t *c;

        if (!json_is_array(value) || json_array_size(value) == 0) {
                asl_diag_add(v->d, pointer, "must be a non-empty array of choice rules");
                return;
        }
        json_array_foreach(value, i, c) {
                _cleanup_free_ char *p = asl_pointer_join_index(pointer, i);

                if (v->jsonata) {
                        check_jsonata_choice_rule(v, c, p);
                        continue;
                }
                choice_rule_validate(c, p, /* top_level= */ true, v->d);
                /* the paths' variables and the rule's Assign */
                choice_rule_foreach_path(c, p, check_variable_path, v);
                if (json_is_object(c) && json_object_get(c, "Assign")) {
                        _cleanup_free_ char *pa = asl_pointer_join(p, "Assign");
                        check_assign(v, json_object_get(c, "Assign"), pa);
                }
        }
}

static void check_branches(Validator *v, json_t *value, const char *pointer) {
        size_t i;
        json_t *b;

        if (!json_is_array(value) || json_array_size(value) == 0) {
                asl_diag_add(v->d, pointer, "must be a non-empty array of branches");
                return;
        }
        json_array_foreach(value, i, b) {
                _cleanup_free_ char *p = asl_pointer_join_index(pointer, i);
                validate_machine(v, b, p, MACHINE_BRANCH);
        }
}

/* The processor's ProcessorConfig.ExecutionType "EXPRESS": its states are
 * checked with an Express machine's rules (the child executions of a
 * distributed Map are Express executions then). */
static void check_processor(Validator *v, json_t *value, const char *pointer, MachineKind kind) {
        json_t *et = json_object_get(json_object_get(value, "ProcessorConfig"), "ExecutionType");
        AslMachineType saved = v->type;

        if (json_is_string(et) && streq(json_string_value(et), "EXPRESS"))
                v->type = ASL_MACHINE_EXPRESS;
        validate_machine(v, value, pointer, kind);
        v->type = saved;
}

static void check_item_processor(Validator *v, json_t *value, const char *pointer) {
        check_processor(v, value, pointer, MACHINE_ITEM_PROCESSOR);
}

static void check_iterator(Validator *v, json_t *value, const char *pointer) {
        check_processor(v, value, pointer, MACHINE_ITERATOR);
}

/* ---- the distributed Map's fields ------------------------------------ */

static void check_selector(Validator *v, json_t *value, const char *pointer);
static void check_exclusive(Validator *v, json_t *state, const char *pointer, const char *a, const char *b);

#define ASL_MAX_READER_ITEMS 100000000   /* ReaderConfig.MaxItems, as Step Functions */
#define ASL_MAX_BATCH_BYTES (256 * 1024) /* ItemBatcher.MaxInputBytesPerBatch */
#define ASL_MAX_LABEL 40                 /* Label characters */

/* `value` is a string equal to one of the NULL-terminated `allowed`; else
 * says which it must be. */
static bool check_enum(Validator *v, json_t *value, const char *pointer, const char *const *allowed) {
        char buf[256] = "";
        size_t n = 0;

        for (size_t i = 0; allowed[i]; i++) {
                if (json_is_string(value) && streq(json_string_value(value), allowed[i]))
                        return true;
                n += (size_t) snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s\"%s\"",
                                       i == 0           ? ""
                                       : allowed[i + 1] ? ", "
                                                        : " or ",
                                       allowed[i]);
        }
        asl_diag_add(v->d, pointer, "must be %s", buf);
        return false;
}

/* A number field of ItemReader or ItemBatcher: an integer in [min, max], or
 * an expression in a JSONata state. */
static void check_int_field(Validator *v, json_t *value, const char *pointer, json_int_t min,
                            json_int_t max) {
        if (!jsonata_expression_field(v, value, pointer))
                check_int(v, value, pointer, min, max);
}

/* Parameters (JSONPath) or Arguments (JSONata) of ItemReader and
 * ResultWriter: the S3 request's fields, each a string or (JSONPath) a
 * path with ".$" or (JSONata) an expression. `required` names the fields
 * that must be there. */
static void check_s3_arguments(Validator *v, json_t *holder, const char *pointer, const char *const *known,
                               const char *const *required) {
        const char *field = v->jsonata ? "Arguments" : "Parameters";
        const char *other = v->jsonata ? "Parameters" : "Arguments";
        json_t *args = json_object_get(holder, field);
        _cleanup_free_ char *p = asl_pointer_join(pointer, field);
        const char *key;
        json_t *f;

        if (json_object_get(holder, other)) {
                _cleanup_free_ char *po = asl_pointer_join(pointer, other);
                asl_diag_add(v->d, po, "not allowed in a %s state; use %s",
                             v->jsonata ? "JSONata" : "JSONPath", field);
        }
        if (!args) {
                if (required[0])
                        asl_diag_add(v->d, pointer, "needs %s with %s", field, required[0]);
                return;
        }
        if (v->jsonata && asl_query_json_is_expression(args)) {
                check_jsonata_value(v, args, p);
                return;
        }
        if (!json_is_object(args)) {
                asl_diag_add(v->d, p, "must be an object");
                return;
        }
        for (size_t i = 0; required[i]; i++) {
                _cleanup_free_ char *dollar = xasprintf("%s.$", required[i]);

                if (!json_object_get(args, required[i]) && (v->jsonata || !json_object_get(args, dollar)))
                        asl_diag_add(v->d, p, "needs %s", required[i]);
        }
        json_object_foreach (args, key, f) {
                _cleanup_free_ char *pf = asl_pointer_join(p, key);
                size_t stem = strlen(key);
                bool found = false;

                if (!v->jsonata && stem > 2 && streq(key + stem - 2, ".$"))
                        stem -= 2;
                for (size_t i = 0; known[i] && !found; i++)
                        found = strlen(known[i]) == stem && strncmp(known[i], key, stem) == 0;
                if (!found) {
                        asl_diag_add(v->d, pf, "unknown field");
                        continue;
                }
                if (stem != strlen(key)) {
                        _cleanup_json_ json_t *one = json_pack("{sO}", key, f);
                        check_template_value(v, one, p);
                } else if (!jsonata_expression_field(v, f, pf))
                        check_nonempty_string(v, f, pf);
        }
}

static void check_reader_config(Validator *v, json_t *config, const char *pointer, bool listing) {
        static const char *const input_types[] = {"CSV", "JSON", "JSONL", "MANIFEST", NULL};
        static const char *const header_locations[] = {"FIRST_ROW", "GIVEN", NULL};
        static const char *const delimiters[] = {"COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB", NULL};
        static const char *const manifest_types[] = {"S3_INVENTORY", NULL};
        json_t *it = json_object_get(config, "InputType"),
               *loc = json_object_get(config, "CSVHeaderLocation");
        bool csv = json_is_string(it) && streq(json_string_value(it), "CSV");
        const char *key;
        json_t *f;

        if (!json_is_object(config)) {
                asl_diag_add(v->d, pointer, "must be an object");
                return;
        }
        if (!listing && !it && !json_object_get(config, "ManifestType"))
                asl_diag_add(v->d, pointer, "needs InputType (with the s3:getObject resource)");
        json_object_foreach (config, key, f) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);

                if (streq(key, "InputType")) {
                        if (listing)
                                asl_diag_add(v->d, p, "not allowed with the s3:listObjectsV2 resource");
                        else
                                check_enum(v, f, p, input_types);
                } else if (streq(key, "CSVHeaderLocation") || streq(key, "CSVHeaders") ||
                           streq(key, "CSVDelimiter")) {
                        if (!csv) {
                                asl_diag_add(v->d, p, "only allowed with InputType \"CSV\"");
                                continue;
                        }
                        if (streq(key, "CSVHeaderLocation"))
                                check_enum(v, f, p, header_locations);
                        else if (streq(key, "CSVDelimiter"))
                                check_enum(v, f, p, delimiters);
                        else if (!json_is_string(loc) || !streq(json_string_value(loc), "GIVEN"))
                                asl_diag_add(v->d, p, "only allowed with CSVHeaderLocation \"GIVEN\"");
                        else {
                                size_t i;
                                json_t *h;

                                if (!json_is_array(f) || json_array_size(f) == 0)
                                        asl_diag_add(v->d, p, "must be a non-empty array of strings");
                                json_array_foreach (f, i, h) {
                                        _cleanup_free_ char *ph = asl_pointer_join_index(p, i);
                                        check_string(v, h, ph);
                                }
                        }
                } else if (streq(key, "ManifestType")) {
                        /* S3_INVENTORY: InputType MANIFEST, or none (CSV inventories) */
                        if (listing)
                                asl_diag_add(v->d, p, "not allowed with the s3:listObjectsV2 resource");
                        else if (it && !(json_is_string(it) && streq(json_string_value(it), "MANIFEST")))
                                asl_diag_add(v->d, p,
                                             "only allowed with InputType \"MANIFEST\" or without InputType");
                        else
                                check_enum(v, f, p, manifest_types);
                } else if (streq(key, "MaxItems"))
                        check_int_field(v, f, p, 0, ASL_MAX_READER_ITEMS);
                else if (streq(key, "MaxItemsPath") && !v->jsonata)
                        check_reference_path(v, f, p);
                else
                        asl_diag_add(v->d, p, "unknown field");
        }
        if (csv && json_is_string(loc) && streq(json_string_value(loc), "GIVEN") &&
            !json_object_get(config, "CSVHeaders"))
                asl_diag_add(v->d, pointer, "needs CSVHeaders with CSVHeaderLocation \"GIVEN\"");
        if (json_object_get(config, "MaxItems") && json_object_get(config, "MaxItemsPath")) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, "MaxItemsPath");
                asl_diag_add(v->d, p, "MaxItems and MaxItemsPath are mutually exclusive");
        }
}

/* ItemReader: where a distributed Map reads its items (a bucket listing,
 * or a JSON, JSONL, CSV or manifest object). */
static void check_item_reader(Validator *v, json_t *value, const char *pointer) {
        static const char *const resources[] = {"arn:aws:states:::s3:getObject",
                                                "arn:aws:states:::s3:listObjectsV2", NULL};
        static const char *const list_known[] = {"Bucket", "Prefix", NULL};
        static const char *const get_known[] = {"Bucket", "Key", "VersionId", NULL};
        static const char *const list_required[] = {"Bucket", NULL};
        static const char *const get_required[] = {"Bucket", "Key", NULL};
        json_t *res = json_object_get(value, "Resource");
        _cleanup_free_ char *pr = asl_pointer_join(pointer, "Resource");
        bool listing;
        const char *key;
        json_t *f;

        if (!json_is_object(value)) {
                asl_diag_add(v->d, pointer, "must be an object with Resource");
                return;
        }
        if (!res) {
                asl_diag_add(v->d, pointer, "needs Resource");
                return;
        }
        if (!check_enum(v, res, pr, resources))
                return;
        listing = streq(json_string_value(res), resources[1]);
        json_object_foreach (value, key, f) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);

                if (streq(key, "ReaderConfig"))
                        check_reader_config(v, f, p, listing);
                else if (!streq(key, "Resource") && !streq(key, "Parameters") && !streq(key, "Arguments"))
                        asl_diag_add(v->d, p, "unknown field");
        }
        if (!listing && !json_object_get(value, "ReaderConfig"))
                asl_diag_add(v->d, pointer,
                             "needs ReaderConfig with InputType (with the s3:getObject resource)");
        check_s3_arguments(v, value, pointer, listing ? list_known : get_known,
                           listing ? list_required : get_required);
}

/* ItemBatcher: items grouped into batches, one child execution each. */
static void check_item_batcher(Validator *v, json_t *value, const char *pointer) {
        const char *key;
        json_t *f;

        if (!json_is_object(value)) {
                asl_diag_add(v->d, pointer, "must be an object");
                return;
        }
        json_object_foreach (value, key, f) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);

                if (streq(key, "MaxItemsPerBatch"))
                        check_int_field(v, f, p, 1, ASL_MAX_INT32);
                else if (streq(key, "MaxInputBytesPerBatch"))
                        check_int_field(v, f, p, 1, ASL_MAX_BATCH_BYTES);
                else if (!v->jsonata &&
                         (streq(key, "MaxItemsPerBatchPath") || streq(key, "MaxInputBytesPerBatchPath")))
                        check_reference_path(v, f, p);
                else if (streq(key, "BatchInput"))
                        check_selector(v, f, p);
                else
                        asl_diag_add(v->d, p, "unknown field");
        }
        if (!json_object_get(value, "MaxItemsPerBatch") &&
            !json_object_get(value, "MaxInputBytesPerBatch") &&
            !json_object_get(value, "MaxItemsPerBatchPath") &&
            !json_object_get(value, "MaxInputBytesPerBatchPath"))
                asl_diag_add(v->d, pointer, "needs MaxItemsPerBatch or MaxInputBytesPerBatch%s",
                             v->jsonata ? "" : " (or their Path forms)");
        check_exclusive(v, value, pointer, "MaxItemsPerBatch", "MaxItemsPerBatchPath");
        check_exclusive(v, value, pointer, "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath");
}

/* ResultWriter: the Map Run's results written to a bucket (a manifest and
 * the SUCCEEDED/FAILED/PENDING files), or only reshaped (WriterConfig). */
static void check_result_writer(Validator *v, json_t *value, const char *pointer) {
        static const char *const resources[] = {"arn:aws:states:::s3:putObject", NULL};
        static const char *const known[] = {"Bucket", "Prefix", NULL};
        static const char *const required[] = {"Bucket", NULL};
        static const char *const output_types[] = {"JSON", "JSONL", NULL};
        static const char *const transformations[] = {"NONE", "COMPACT", "FLATTEN", NULL};
        json_t *res = json_object_get(value, "Resource");
        const char *key;
        json_t *f;

        if (!json_is_object(value)) {
                asl_diag_add(v->d, pointer, "must be an object");
                return;
        }
        if (!res && !json_object_get(value, "WriterConfig")) {
                asl_diag_add(v->d, pointer, "needs Resource or WriterConfig");
                return;
        }
        json_object_foreach (value, key, f) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);

                if (streq(key, "Resource"))
                        check_enum(v, f, p, resources);
                else if (streq(key, "WriterConfig")) {
                        const char *k;
                        json_t *w;

                        if (!json_is_object(f)) {
                                asl_diag_add(v->d, p, "must be an object");
                                continue;
                        }
                        json_object_foreach (f, k, w) {
                                _cleanup_free_ char *pw = asl_pointer_join(p, k);

                                if (streq(k, "OutputType"))
                                        check_enum(v, w, pw, output_types);
                                else if (streq(k, "Transformation"))
                                        check_enum(v, w, pw, transformations);
                                else
                                        asl_diag_add(v->d, pw, "unknown field");
                        }
                        /* Step Functions documents WriterConfig alone with OutputType
                         * JSON (the state's output); JSON Lines only go to a bucket. */
                        if (!res && json_is_string(json_object_get(f, "OutputType")) &&
                            streq(json_string_value(json_object_get(f, "OutputType")), "JSONL"))
                                asl_diag_add(v->d, p,
                                             "OutputType JSONL needs Resource (the results go to a bucket)");
                } else if (!streq(key, "Parameters") && !streq(key, "Arguments"))
                        asl_diag_add(v->d, p, "unknown field");
        }
        if (res)
                check_s3_arguments(v, value, pointer, known, required);
        else if (json_object_get(value, "Parameters") || json_object_get(value, "Arguments")) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, v->jsonata ? "Arguments" : "Parameters");
                asl_diag_add(v->d, p, "only allowed with Resource");
        }
}

/* Label: 1 to 40 characters, none of them whitespace, a control character
 * or one of Step Functions' reserved ones (it goes into the Map Run's ARN
 * and the child executions' names). */
static void check_label(Validator *v, json_t *value, const char *pointer) {
        const char *s = json_string_value(value);

        if (!s) {
                asl_diag_add(v->d, pointer, "must be a string");
                return;
        }
        if (utf8_length(s) == 0 || utf8_length(s) > ASL_MAX_LABEL) {
                asl_diag_add(v->d, pointer, "must be 1 to %d characters long", ASL_MAX_LABEL);
                return;
        }
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c <= 0x20 || *c == 0x7f || strchr("<>{}[]?*\"#%\\^|~`$&,;:/", *c)) {
                        asl_diag_add(v->d, pointer,
                                     "must not contain whitespace, control characters or any of "
                                     "< > { } [ ] ? * \" # %% \\ ^ | ~ ` $ & , ; : /");
                        return;
                }
}

/*
 * Assign: an object of variable names and values. In a JSONata state every
 * string may be an expression; in a JSONPath state a name ending in ".$"
 * takes a path or an intrinsic call, and objects inside are templates as in
 * Parameters. The names themselves are checked once per machine, where they
 * are collected (collect_assigned()).
 */
static void check_assign(Validator *v, json_t *value, const char *pointer) {
        if (!json_is_object(value)) {
                asl_diag_add(v->d, pointer, "must be an object of variable names and values");
                return;
        }
        if (v->jsonata)
                check_jsonata_value(v, value, pointer);
        else
                check_template_value(v, value, pointer);
}

static void check_output(Validator *v, json_t *value, const char *pointer) {
        check_jsonata_value(v, value, pointer);
}

/* Arguments (and a JSONata state's Credentials): an object or an expression. */
static void check_arguments(Validator *v, json_t *value, const char *pointer) {
        if (!json_is_object(value) && !asl_query_json_is_expression(value)) {
                asl_diag_add(v->d, pointer, "must be an object or a JSONata expression (\"{%% ... %%}\")");
                return;
        }
        check_jsonata_value(v, value, pointer);
}

static void check_items(Validator *v, json_t *value, const char *pointer) {
        if (!json_is_array(value) && !asl_query_json_is_expression(value)) {
                asl_diag_add(v->d, pointer, "must be an array or a JSONata expression (\"{%% ... %%}\")");
                return;
        }
        check_jsonata_value(v, value, pointer);
}

/* ItemSelector and Credentials: a template in a JSONPath state, Arguments'
 * rules in a JSONata one. */
static void check_selector(Validator *v, json_t *value, const char *pointer) {
        if (v->jsonata)
                check_arguments(v, value, pointer);
        else
                check_template(v, value, pointer);
}

/* Error and Cause. */
static void check_fail_string(Validator *v, json_t *value, const char *pointer) {
        if (!jsonata_expression_field(v, value, pointer))
                check_string(v, value, pointer);
}

/* ---- the field table ------------------------------------------------- */

typedef enum FieldId {
        F_TYPE,
        F_COMMENT,
        F_QUERY_LANGUAGE,
        F_NEXT,
        F_END,
        F_INPUT_PATH,
        F_OUTPUT_PATH,
        F_RESULT_PATH,
        F_PARAMETERS,
        F_RESULT_SELECTOR,
        F_RESULT,
        F_RETRY,
        F_CATCH,
        F_RESOURCE,
        F_TIMEOUT_SECONDS,
        F_TIMEOUT_SECONDS_PATH,
        F_HEARTBEAT_SECONDS,
        F_HEARTBEAT_SECONDS_PATH,
        F_CREDENTIALS,
        F_CHOICES,
        F_DEFAULT,
        F_SECONDS,
        F_TIMESTAMP,
        F_SECONDS_PATH,
        F_TIMESTAMP_PATH,
        F_ERROR,
        F_ERROR_PATH,
        F_CAUSE,
        F_CAUSE_PATH,
        F_BRANCHES,
        F_ITEM_PROCESSOR,
        F_ITERATOR,
        F_ITEMS_PATH,
        F_ITEM_SELECTOR,
        F_MAX_CONCURRENCY,
        F_MAX_CONCURRENCY_PATH,
        F_TOLERATED_FAILURE_COUNT,
        F_TOLERATED_FAILURE_COUNT_PATH,
        F_TOLERATED_FAILURE_PERCENTAGE,
        F_TOLERATED_FAILURE_PERCENTAGE_PATH,
        F_ITEM_READER,
        F_RESULT_WRITER,
        F_ITEM_BATCHER,
        F_LABEL,
        F_ASSIGN,
        F_ARGUMENTS,
        F_OUTPUT,
        F_ITEMS,
        _F_MAX,
} FieldId;

/* Which query language a field belongs to. */
#define LANG_BOTH 0
#define LANG_JSONPATH 1
#define LANG_JSONATA 2

typedef struct StateField {
        const char *name;
        FieldCheckFn check;     /* NULL: checked by the caller (Type) */
        uint8_t lang;           /* LANG_* */
        const char *instead;    /* LANG_JSONPATH: what a JSONata state writes instead */
} StateField;

static const StateField state_fields[_F_MAX] = {
        [F_TYPE] = {"Type", NULL},
        [F_COMMENT] = {"Comment", check_string},
        [F_QUERY_LANGUAGE] = {"QueryLanguage", check_query_language},
        [F_NEXT] = {"Next", check_nonempty_string},
        [F_END] = {"End", check_boolean},
        [F_INPUT_PATH] = {"InputPath", check_io_path, LANG_JSONPATH,
                          "Arguments or Output, with $states.input"},
        [F_OUTPUT_PATH] = {"OutputPath", check_io_path, LANG_JSONPATH, "Output"},
        [F_RESULT_PATH] = {"ResultPath", check_result_path, LANG_JSONPATH,
                           "Output, with $states.input and $states.result"},
        [F_PARAMETERS] = {"Parameters", check_template, LANG_JSONPATH,
                          "Arguments (ItemSelector in a Map state)"},
        [F_RESULT_SELECTOR] = {"ResultSelector", check_template, LANG_JSONPATH,
                               "Output, with $states.result"},
        [F_RESULT] = {"Result", check_any, LANG_JSONPATH, "Output"},
        [F_RETRY] = {"Retry", check_retry},
        [F_CATCH] = {"Catch", check_catch},
        [F_RESOURCE] = {"Resource", check_nonempty_string},
        [F_TIMEOUT_SECONDS] = {"TimeoutSeconds", check_timeout},
        [F_TIMEOUT_SECONDS_PATH] = {"TimeoutSecondsPath", check_reference_path, LANG_JSONPATH,
                                    "TimeoutSeconds with a JSONata expression"},
        [F_HEARTBEAT_SECONDS] = {"HeartbeatSeconds", check_timeout},
        [F_HEARTBEAT_SECONDS_PATH] = {"HeartbeatSecondsPath", check_reference_path, LANG_JSONPATH,
                                      "HeartbeatSeconds with a JSONata expression"},
        [F_CREDENTIALS] = {"Credentials", check_selector},
        [F_CHOICES] = {"Choices", check_choices},
        [F_DEFAULT] = {"Default", check_nonempty_string},
        [F_SECONDS] = {"Seconds", check_wait_seconds},
        [F_TIMESTAMP] = {"Timestamp", check_timestamp},
        [F_SECONDS_PATH] = {"SecondsPath", check_reference_path, LANG_JSONPATH,
                            "Seconds with a JSONata expression"},
        [F_TIMESTAMP_PATH] = {"TimestampPath", check_reference_path, LANG_JSONPATH,
                              "Timestamp with a JSONata expression"},
        [F_ERROR] = {"Error", check_fail_string},
        [F_ERROR_PATH] = {"ErrorPath", check_path_or_intrinsic, LANG_JSONPATH,
                          "Error with a JSONata expression"},
        [F_CAUSE] = {"Cause", check_fail_string},
        [F_CAUSE_PATH] = {"CausePath", check_path_or_intrinsic, LANG_JSONPATH,
                          "Cause with a JSONata expression"},
        [F_BRANCHES] = {"Branches", check_branches},
        [F_ITEM_PROCESSOR] = {"ItemProcessor", check_item_processor},
        [F_ITERATOR] = {"Iterator", check_iterator},
        [F_ITEMS_PATH] = {"ItemsPath", check_reference_path, LANG_JSONPATH, "Items"},
        [F_ITEM_SELECTOR] = {"ItemSelector", check_selector},
        [F_MAX_CONCURRENCY] = {"MaxConcurrency", check_count},
        [F_MAX_CONCURRENCY_PATH] = {"MaxConcurrencyPath", check_reference_path, LANG_JSONPATH,
                                    "MaxConcurrency with a JSONata expression"},
        [F_TOLERATED_FAILURE_COUNT] = {"ToleratedFailureCount", check_count},
        [F_TOLERATED_FAILURE_COUNT_PATH] = {"ToleratedFailureCountPath", check_reference_path, LANG_JSONPATH,
                                            "ToleratedFailureCount with a JSONata expression"},
        [F_TOLERATED_FAILURE_PERCENTAGE] = {"ToleratedFailurePercentage", check_percentage},
        [F_TOLERATED_FAILURE_PERCENTAGE_PATH] = {"ToleratedFailurePercentagePath", check_reference_path,
                                                 LANG_JSONPATH,
                                                 "ToleratedFailurePercentage with a JSONata expression"},
        [F_ITEM_READER] = {"ItemReader", check_item_reader},
        [F_RESULT_WRITER] = {"ResultWriter", check_result_writer},
        [F_ITEM_BATCHER] = {"ItemBatcher", check_item_batcher},
        [F_LABEL] = {"Label", check_label},
        [F_ASSIGN] = {"Assign", check_assign},
        [F_ARGUMENTS] = {"Arguments", check_arguments, LANG_JSONATA},
        [F_OUTPUT] = {"Output", check_output, LANG_JSONATA},
        [F_ITEMS] = {"Items", check_items, LANG_JSONATA},
};

static int state_field_find(const char *name) {
        for (int i = 0; i < _F_MAX; i++)
                if (streq(state_fields[i].name, name))
                        return i;
        return -1;
}

/* ---- cross-field rules per state type -------------------------------- */

static void check_exclusive(Validator *v, json_t *state, const char *pointer, const char *a, const char *b) {
        if (json_object_get(state, a) && json_object_get(state, b)) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, b);
                asl_diag_add(v->d, p, "%s and %s are mutually exclusive", a, b);
        }
}

static void require_field(Validator *v, json_t *state, const char *pointer, const char *name, const char *type) {
        if (!json_object_get(state, name))
                asl_diag_add(v->d, pointer, "a %s state needs %s", type, name);
}

/* Whether `resource` ends in `pattern` (".sync", ".waitForTaskToken"),
 * optionally followed by a version (".sync:2"). */
static bool resource_has_pattern(const char *resource, const char *pattern) {
        const char *p = strstr(resource, pattern);

        for (; p; p = strstr(p + 1, pattern)) {
                const char *e = p + strlen(pattern);

                if (*e == ':' && e[1]) {
                        e++;
                        while (*e >= '0' && *e <= '9')
                                e++;
                }
                if (*e == 0)
                        return true;
        }
        return false;
}

/* "arn:<partition>:lambda:...": a Lambda function, invoked the legacy way. */
static bool is_lambda_arn(const char *r) {
        const char *p = strncmp(r, "arn:", 4) == 0 ? strchr(r + 4, ':') : NULL;

        return p && strncmp(p + 1, "lambda:", 7) == 0;
}

/* Express workflows run Request Response integrations only, and no
 * activities; Step Functions' messages. */
static void check_express_resource(Validator *v, json_t *resource, const char *pointer) {
        static const char *const patterns[] = { ".sync", ".waitForTaskToken" };
        const char *r = json_string_value(resource);
        _cleanup_free_ char *p = NULL;

        if (v->type != ASL_MACHINE_EXPRESS || !r)
                return;
        p = asl_pointer_join(pointer, "Resource");
        /* Any integration (imgflow's own "imgflow:pool:x.waitForTaskToken"
         * too: the engine reads the suffix on any resource); not a Lambda
         * function's ARN, whose name may hold anything. */
        for (size_t i = 0; i < ELEMENTSOF(patterns) && !is_lambda_arn(r); i++)
                if (resource_has_pattern(r, patterns[i])) {
                        asl_diag_add(v->d, p, "Express state machine does not support '%s' service integration",
                                     patterns[i]);
                        return;
                }
        if (strncmp(r, "arn:", 4) == 0 && strstr(r, ":states:") && strstr(r, ":activity:"))
                asl_diag_add(v->d, p, "Express state machine does not support Activity ARN");
}

static void validate_task(Validator *v, json_t *state, const char *pointer) {
        json_t *t = json_object_get(state, "TimeoutSeconds");
        json_t *h = json_object_get(state, "HeartbeatSeconds");

        check_express_resource(v, json_object_get(state, "Resource"), pointer);

        require_field(v, state, pointer, "Resource", "Task");
        check_exclusive(v, state, pointer, "TimeoutSeconds", "TimeoutSecondsPath");
        check_exclusive(v, state, pointer, "HeartbeatSeconds", "HeartbeatSecondsPath");
        if (json_is_integer(t) && json_is_integer(h) &&
            json_integer_value(h) >= json_integer_value(t)) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, "HeartbeatSeconds");
                asl_diag_add(v->d, p, "must be smaller than TimeoutSeconds (%lld)",
                             (long long) json_integer_value(t));
        }
}

static void validate_choice(Validator *v, json_t *state, const char *pointer) {
        require_field(v, state, pointer, "Choices", "Choice");
}

static void validate_wait(Validator *v, json_t *state, const char *pointer) {
        static const char *const kinds[] = { "Seconds", "Timestamp", "SecondsPath", "TimestampPath" };
        const char *first = NULL;

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                if (!json_object_get(state, kinds[i]))
                        continue;
                if (first) {
                        _cleanup_free_ char *p = asl_pointer_join(pointer, kinds[i]);
                        asl_diag_add(v->d, p, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath (already has %s)", first);
                } else
                        first = kinds[i];
        }
        if (!first)
                asl_diag_add(v->d, pointer, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath");
}

static void validate_fail(Validator *v, json_t *state, const char *pointer) {
        check_exclusive(v, state, pointer, "Error", "ErrorPath");
        check_exclusive(v, state, pointer, "Cause", "CausePath");
}

static void validate_parallel(Validator *v, json_t *state, const char *pointer) {
        require_field(v, state, pointer, "Branches", "Parallel");
}

/* Whether a Map state runs in distributed mode (its ItemProcessor's
 * ProcessorConfig says Mode "DISTRIBUTED"). */
bool asl_map_is_distributed(json_t *state) {
        json_t *proc = json_object_get(state, "ItemProcessor");
        json_t *mode;

        if (!proc)
                proc = json_object_get(state, "Iterator");
        mode = json_object_get(json_object_get(proc, "ProcessorConfig"), "Mode");
        return json_is_string(mode) && streq(json_string_value(mode), "DISTRIBUTED");
}

static void validate_map(Validator *v, json_t *state, const char *pointer) {
        static const char *const distributed_only[] = {"ItemReader", "ItemBatcher", "ResultWriter"};

        if (!asl_map_is_distributed(state))
                for (size_t i = 0; i < ELEMENTSOF(distributed_only); i++)
                        if (json_object_get(state, distributed_only[i])) {
                                _cleanup_free_ char *p = asl_pointer_join(pointer, distributed_only[i]);
                                asl_diag_add(v->d, p,
                                             "only allowed in a distributed Map (ItemProcessor's "
                                             "ProcessorConfig with Mode \"DISTRIBUTED\")");
                        }
        if (json_object_get(state, "ItemReader") &&
            (json_object_get(state, "ItemsPath") || json_object_get(state, "Items"))) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, "ItemReader");
                asl_diag_add(v->d, p, "ItemReader and %s are mutually exclusive",
                             json_object_get(state, "Items") ? "Items" : "ItemsPath");
        }
        if (!json_object_get(state, "ItemProcessor") && !json_object_get(state, "Iterator"))
                asl_diag_add(v->d, pointer, "a Map state needs ItemProcessor (or the older Iterator)");
        check_exclusive(v, state, pointer, "ItemProcessor", "Iterator");
        check_exclusive(v, state, pointer, "ItemSelector", "Parameters");
        check_exclusive(v, state, pointer, "MaxConcurrency", "MaxConcurrencyPath");
        check_exclusive(v, state, pointer, "ToleratedFailureCount", "ToleratedFailureCountPath");
        check_exclusive(v, state, pointer, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath");
}

/* ---- the state type table -------------------------------------------- */

#define F(x) (UINT64_C(1) << (F_##x))
#define F_COMMON (F(TYPE) | F(COMMENT) | F(QUERY_LANGUAGE))
#define F_IO (F(INPUT_PATH) | F(OUTPUT_PATH))
#define F_FLOW (F(NEXT) | F(END))

typedef struct StateType {
        const char *name;
        uint64_t fields;        /* bit set of FieldId */
        bool has_transition;    /* needs Next xor End: true */
        bool terminal;          /* always ends the machine (Succeed, Fail) */
        void (*validate)(Validator *v, json_t *state, const char *pointer);
} StateType;

static const StateType state_types[] = {
        {"Pass",
         F_COMMON | F_IO | F_FLOW | F(RESULT_PATH) | F(PARAMETERS) | F(RESULT) | F(ASSIGN) | F(OUTPUT), true,
         false, NULL},
        {"Task",
         F_COMMON | F_IO | F_FLOW | F(RESULT_PATH) | F(PARAMETERS) | F(RESULT_SELECTOR) | F(RETRY) |
                 F(CATCH) | F(RESOURCE) | F(TIMEOUT_SECONDS) | F(TIMEOUT_SECONDS_PATH) |
                 F(HEARTBEAT_SECONDS) | F(HEARTBEAT_SECONDS_PATH) | F(CREDENTIALS) | F(ASSIGN) |
                 F(ARGUMENTS) | F(OUTPUT),
         true, false, validate_task},
        {"Choice", F_COMMON | F_IO | F(CHOICES) | F(DEFAULT) | F(ASSIGN) | F(OUTPUT), false, false,
         validate_choice},
        {"Wait",
         F_COMMON | F_IO | F_FLOW | F(SECONDS) | F(TIMESTAMP) | F(SECONDS_PATH) | F(TIMESTAMP_PATH) |
                 F(ASSIGN) | F(OUTPUT),
         true, false, validate_wait},
        {"Succeed", F_COMMON | F_IO | F(OUTPUT), false, true, NULL},
        {"Fail", F_COMMON | F(ERROR) | F(ERROR_PATH) | F(CAUSE) | F(CAUSE_PATH), false, true, validate_fail},
        {"Parallel",
         F_COMMON | F_IO | F_FLOW | F(RESULT_PATH) | F(PARAMETERS) | F(RESULT_SELECTOR) | F(RETRY) |
                 F(CATCH) | F(BRANCHES) | F(ASSIGN) | F(ARGUMENTS) | F(OUTPUT),
         true, false, validate_parallel},
        {"Map",
         F_COMMON | F_IO | F_FLOW | F(RESULT_PATH) | F(PARAMETERS) | F(RESULT_SELECTOR) | F(RETRY) |
                 F(CATCH) | F(ITEM_PROCESSOR) | F(ITERATOR) | F(ITEMS_PATH) | F(ITEM_SELECTOR) | F(ASSIGN) |
                 F(OUTPUT) | F(ITEMS) | F(MAX_CONCURRENCY) | F(MAX_CONCURRENCY_PATH) |
                 F(TOLERATED_FAILURE_COUNT) | F(TOLERATED_FAILURE_COUNT_PATH) |
                 F(TOLERATED_FAILURE_PERCENTAGE) | F(TOLERATED_FAILURE_PERCENTAGE_PATH) | F(ITEM_READER) |
                 F(RESULT_WRITER) | F(ITEM_BATCHER) | F(LABEL),
         true, false, validate_map},
};

static const StateType *state_type_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(state_types); i++)
                if (streq(state_types[i].name, name))
                        return &state_types[i];
        return NULL;
}

/* ---- states ---------------------------------------------------------- */

/* A state's query language: its own QueryLanguage, else the state
 * machine's (not an enclosing Map's or Parallel's). Any value other than
 * "JSONPath" is JSONata, as Step Functions reads it (and is reported). */
static bool state_is_jsonata(bool machine_jsonata, json_t *state) {
        json_t *ql = json_object_get(state, "QueryLanguage");

        if (!ql)
                return machine_jsonata;
        return !(json_is_string(ql) && streq(json_string_value(ql), "JSONPath"));
}

static void validate_state(Validator *v, json_t *state, const char *pointer) {
        const StateType *t;
        json_t *type, *value, *next, *end, *ql;
        const char *key;
        bool saved_jsonata = v->jsonata;

        if (!json_is_object(state)) {
                asl_diag_add(v->d, pointer, "a state must be an object");
                return;
        }
        type = json_object_get(state, "Type");
        if (!type) {
                asl_diag_add(v->d, pointer, "a state needs Type");
                return;
        }
        if (!json_is_string(type) || !(t = state_type_find(json_string_value(type)))) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, "Type");
                asl_diag_add(v->d, p, "must be one of Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map");
                return;
        }

        v->jsonata = state_is_jsonata(v->machine_jsonata, state);
        ql = json_object_get(state, "QueryLanguage");
        if (v->machine_jsonata && json_is_string(ql) && streq(json_string_value(ql), "JSONPath"))
                asl_diag_add(
                        v->d, pointer,
                        "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine");

        json_object_foreach(state, key, value) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);
                int f = state_field_find(key);
                uint8_t lang;

                if (f < 0) {
                        asl_diag_add(v->d, p, "unknown field");
                        continue;
                }
                if (!(t->fields & (UINT64_C(1) << f))) {
                        asl_diag_add(v->d, p, "not allowed in a %s state", t->name);
                        continue;
                }
                lang = state_fields[f].lang;
                if (lang == LANG_JSONPATH && v->jsonata) {
                        asl_diag_add(v->d, pointer,
                                     "The QueryLanguage is set to 'JSONata', but field '%s' is only "
                                     "supported for the "
                                     "'JSONPath' QueryLanguage; use %s",
                                     key, state_fields[f].instead);
                        continue;
                }
                if (lang == LANG_JSONATA && !v->jsonata) {
                        asl_diag_add(v->d, pointer,
                                     "The QueryLanguage is set to 'JSONPath', but field '%s' is only "
                                     "supported for the "
                                     "'JSONata' QueryLanguage",
                                     key);
                        continue;
                }
                /* $states.result: in the Output and Assign of the states that have a result */
                v->states_fields = (f == F_OUTPUT || f == F_ASSIGN) &&
                                                   (streq(t->name, "Task") || streq(t->name, "Parallel") ||
                                                    streq(t->name, "Map"))
                                           ? STATES_RESULT
                                           : 0;
                if (state_fields[f].check)
                        state_fields[f].check(v, value, p);
                v->jsonata = state_is_jsonata(v->machine_jsonata, state); /* nested machines change it */
                v->states_fields = 0;
        }

        if (t->validate)
                t->validate(v, state, pointer);

        if (t->has_transition) {
                next = json_object_get(state, "Next");
                end = json_object_get(state, "End");
                if (next && json_is_true(end)) {
                        _cleanup_free_ char *p = asl_pointer_join(pointer, "End");
                        asl_diag_add(v->d, p, "Next and End are mutually exclusive");
                } else if (!next && !json_is_true(end))
                        asl_diag_add(v->d, pointer, "a %s state needs Next or \"End\": true", t->name);
        }
        v->jsonata = saved_jsonata;
}

static bool state_is_terminal(json_t *state) {
        json_t *type = json_object_get(state, "Type");
        const StateType *t;

        if (!json_is_string(type) || !(t = state_type_find(json_string_value(type))))
                return false;
        return t->terminal || (t->has_transition && json_is_true(json_object_get(state, "End")));
}

/* ---- machines -------------------------------------------------------- */

/* Calls fn for every transition target of a state: Next, Default,
 * Choices[i].Next, Catch[i].Next, with the pointer of the naming field. */
typedef void (*TargetFn)(void *userdata, json_t *target, const char *pointer);

static void state_foreach_target(json_t *state, const char *pointer, TargetFn fn, void *userdata) {
        static const char *const lists[] = { "Choices", "Catch" };
        static const char *const direct[] = { "Next", "Default" };

        for (size_t k = 0; k < ELEMENTSOF(direct); k++) {
                json_t *n = json_object_get(state, direct[k]);
                if (n) {
                        _cleanup_free_ char *p = asl_pointer_join(pointer, direct[k]);
                        fn(userdata, n, p);
                }
        }
        for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
                json_t *a = json_object_get(state, lists[k]), *e;
                size_t i;

                if (!json_is_array(a))
                        continue;
                json_array_foreach(a, i, e) {
                        json_t *n = json_is_object(e) ? json_object_get(e, "Next") : NULL;
                        if (n) {
                                _cleanup_free_ char *pl = asl_pointer_join(pointer, lists[k]);
                                _cleanup_free_ char *pi = asl_pointer_join_index(pl, i);
                                _cleanup_free_ char *p = asl_pointer_join(pi, "Next");
                                fn(userdata, n, p);
                        }
                }
        }
}

typedef struct TargetCheck {
        Validator *v;
        json_t *states;
        const char *scope;
} TargetCheck;

static void target_check(void *userdata, json_t *target, const char *pointer) {
        TargetCheck *tc = userdata;

        if (!json_is_string(target))
                return; /* already reported */
        if (!json_object_get(tc->states, json_string_value(target)))
                asl_diag_add(tc->v->d, pointer, "no state named \"%s\" in this %s",
                             json_string_value(target), tc->scope);
}

typedef struct Reach {
        json_t *states;
        json_t *seen;           /* name -> true */
        json_t *queue;          /* names to visit */
} Reach;

static void reach_add(void *userdata, json_t *target, const char *pointer) {
        Reach *r = userdata;
        const char *name;

        if (!json_is_string(target))
                return;
        name = json_string_value(target);
        if (!json_object_get(r->states, name) || json_object_get(r->seen, name))
                return;
        json_object_set_new(r->seen, name, json_true());
        json_array_append(r->queue, target);
}

static void check_reachability(Validator *v, json_t *states, const char *start, const char *states_pointer) {
        _cleanup_json_ json_t *seen = json_object(), *queue = json_array(), *s = json_string(start);
        Reach r = { .states = states, .seen = seen, .queue = queue };
        const char *name;
        json_t *state;

        if (!seen || !queue || !s)
                abort();
        reach_add(&r, s, "");
        for (size_t i = 0; i < json_array_size(queue); i++) {
                const char *n = json_string_value(json_array_get(queue, i));
                state_foreach_target(json_object_get(states, n), "", reach_add, &r);
        }
        json_object_foreach(states, name, state) {
                if (!json_object_get(seen, name)) {
                        _cleanup_free_ char *p = asl_pointer_join(states_pointer, name);
                        asl_diag_add(v->d, p, "state is not reachable from StartAt");
                }
        }
}

static void check_processor_config(Validator *v, json_t *config, const char *pointer) {
        const char *key;
        json_t *f;
        json_t *mode;

        if (!json_is_object(config)) {
                asl_diag_add(v->d, pointer, "must be an object");
                return;
        }
        mode = json_object_get(config, "Mode");
        json_object_foreach(config, key, f) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);

                if (streq(key, "Mode")) {
                        static const char *const modes[] = {"INLINE", "DISTRIBUTED", NULL};

                        check_enum(v, f, p, modes);
                } else if (streq(key, "ExecutionType")) {
                        static const char *const types[] = {"STANDARD", "EXPRESS", NULL};

                        if (!json_is_string(mode) || !streq(json_string_value(mode), "DISTRIBUTED"))
                                asl_diag_add(v->d, p, "only allowed with Mode \"DISTRIBUTED\"");
                        else
                                check_enum(v, f, p, types);
                } else
                        asl_diag_add(v->d, p, "unknown field");
        }
        if (json_is_string(mode) && streq(json_string_value(mode), "DISTRIBUTED") &&
            !json_object_get(config, "ExecutionType"))
                asl_diag_add(v->d, pointer,
                             "needs ExecutionType (\"STANDARD\" or \"EXPRESS\") with Mode \"DISTRIBUTED\"");
}

static const char *machine_scope(MachineKind kind) {
        switch (kind) {
        case MACHINE_BRANCH:
                return "branch (Next may not leave a Parallel branch)";
        case MACHINE_ITEM_PROCESSOR:
        case MACHINE_ITERATOR:
                return "Map iteration (Next may not leave a Map's ItemProcessor)";
        default:
                return "state machine";
        }
}

/* The variables of one Assign: each name valid, not $states, and not
 * assigned in a machine around this one (Step Functions forbids an inner
 * scope the names of the outer ones, so a reference always means one
 * variable). */
static void collect_assign(Validator *v, json_t *assign, const char *pointer, bool jsonata, json_t *names) {
        const char *key;
        json_t *value;

        if (!json_is_object(assign))
                return; /* reported by check_assign() */
        json_object_foreach (assign, key, value) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key), *name = NULL;
                size_t stem;

                if (!jsonata && ends_with_dollar(key, &stem)) {
                        name = xstrndup(key, stem);
                        if (json_object_get(assign, name)) {
                                asl_diag_add(v->d, p, "both \"%s\" and \"%s\" are given", name, key);
                                continue;
                        }
                } else
                        name = xstrdup(key);
                if (streq(name, "states"))
                        asl_diag_add(v->d, p,
                                     "The variable name 'states' is reserved: $states holds the state's "
                                     "input, result and context");
                else if (!variable_name_valid(v, name))
                        asl_diag_add(
                                v->d, p,
                                "Invalid variable name '%s': a variable name is 1 to %d characters, a "
                                "letter "
                                "first, then letters, digits, combining marks or connector punctuation (_)",
                                name, ASL_MAX_VARIABLE_NAME);
                else if (scope_has(v->scope, name))
                        asl_diag_add(v->d, p,
                                     "The variable name '%s' was already defined in a parent scope.", name);
                json_object_set_new(names, name, json_true());
        }
}

/* Every variable the states of one machine assign: in their Assign, their
 * Choice rules' and their catchers'. */
static json_t *collect_assigned(Validator *v, json_t *states, const char *states_pointer) {
        json_t *names = json_object(), *st;
        const char *name;

        if (!names)
                abort();
        json_object_foreach (states, name, st) {
                _cleanup_free_ char *ps = asl_pointer_join(states_pointer, name);
                bool jsonata = state_is_jsonata(v->machine_jsonata, st);
                static const char *const lists[] = {"Choices", "Catch"};

                if (!json_is_object(st))
                        continue;
                if (json_object_get(st, "Assign")) {
                        _cleanup_free_ char *pa = asl_pointer_join(ps, "Assign");
                        collect_assign(v, json_object_get(st, "Assign"), pa, jsonata, names);
                }
                for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
                        json_t *a = json_object_get(st, lists[k]), *e;
                        size_t i;

                        if (!json_is_array(a))
                                continue;
                        json_array_foreach (a, i, e) {
                                _cleanup_free_ char *pl = asl_pointer_join(ps, lists[k]);
                                _cleanup_free_ char *pi = asl_pointer_join_index(pl, i);
                                _cleanup_free_ char *pa = asl_pointer_join(pi, "Assign");

                                if (json_is_object(e) && json_object_get(e, "Assign"))
                                        collect_assign(v, json_object_get(e, "Assign"), pa, jsonata, names);
                        }
                }
        }
        return names;
}

static void validate_machine(Validator *v, json_t *m, const char *pointer, MachineKind kind) {
        _cleanup_free_ char *p_states = asl_pointer_join(pointer, "States");
        _cleanup_free_ char *p_start = asl_pointer_join(pointer, "StartAt");
        json_t *states, *start, *value;
        const char *key;
        bool any_terminal = false, states_ok;

        if (!json_is_object(m)) {
                asl_diag_add(v->d, pointer, kind == MACHINE_TOP ? "a state machine definition must be a JSON object" : "must be an object with StartAt and States");
                return;
        }

        json_object_foreach(m, key, value) {
                _cleanup_free_ char *p = asl_pointer_join(pointer, key);

                if (streq(key, "StartAt") || streq(key, "States"))
                        continue;
                if (streq(key, "Comment"))
                        check_string(v, value, p);
                else if (kind == MACHINE_TOP && streq(key, "Version")) {
                        if (!json_is_string(value))
                                asl_diag_add(v->d, p, "must be a string");
                } else if (kind == MACHINE_TOP && streq(key, "TimeoutSeconds"))
                        check_timeout(v, value, p);
                else if (kind == MACHINE_TOP && streq(key, "QueryLanguage"))
                        check_query_language(v, value, p);
                else if ((kind == MACHINE_ITEM_PROCESSOR || kind == MACHINE_ITERATOR) &&
                         streq(key, "ProcessorConfig"))
                        /* The legacy Iterator too: AWS runs {"Mode": "INLINE"} there. */
                        check_processor_config(v, value, p);
                else
                        asl_diag_add(v->d, p, "unknown field");
        }

        start = json_object_get(m, "StartAt");
        states = json_object_get(m, "States");
        if (!start)
                asl_diag_add(v->d, pointer, "needs StartAt");
        else if (!json_is_string(start))
                asl_diag_add(v->d, p_start, "must be a string (a state name)");
        if (!states) {
                asl_diag_add(v->d, pointer, "needs States");
                return;
        }
        if (!json_is_object(states) || json_object_size(states) == 0) {
                asl_diag_add(v->d, p_states, "must be a non-empty object of states");
                return;
        }

        /* the variables this machine's states assign: its scope */
        VarScope scope = {.parent = v->scope, .names = collect_assigned(v, states, p_states)};
        v->scope = &scope;

        states_ok = true;
        json_object_foreach(states, key, value) {
                _cleanup_free_ char *p = asl_pointer_join(p_states, key);
                json_t *prev;

                if (v->too_many)
                        break;
                if (++v->n_states > ASL_MAX_STATES) {
                        asl_diag_add(v->d, p, "too many states (limit %d)", ASL_MAX_STATES);
                        v->too_many = true;
                        break;
                }
                if (key[0] == 0 || utf8_length(key) > ASL_MAX_STATE_NAME)
                        asl_diag_add_code(v->d, ASL_DIAG_INVALID_STATE_NAME, p,
                                          "a state name must be 1 to %d characters long", ASL_MAX_STATE_NAME);
                prev = json_object_get(v->names, key);
                if (prev)
                        asl_diag_add_code(v->d, ASL_DIAG_DUPLICATE_STATE_NAME, p,
                                          "state name \"%s\" is already used at %s: state names must be unique in the whole state machine",
                                          key, json_string_value(prev));
                else
                        json_object_set_new(v->names, key, json_string(p));
                validate_state(v, value, p);
                any_terminal = any_terminal || state_is_terminal(value);
        }
        v->scope = scope.parent;
        json_decref(scope.names);
        if (v->too_many)
                return;

        /* The graph. */
        TargetCheck tc = { .v = v, .states = states, .scope = machine_scope(kind) };
        json_object_foreach(states, key, value) {
                _cleanup_free_ char *p = asl_pointer_join(p_states, key);

                if (json_is_object(value))
                        state_foreach_target(value, p, target_check, &tc);
        }

        if (json_is_string(start)) {
                if (!json_object_get(states, json_string_value(start))) {
                        asl_diag_add(v->d, p_start, "no state named \"%s\" in this %s",
                                     json_string_value(start), machine_scope(kind));
                        states_ok = false;
                }
        } else
                states_ok = false;
        if (states_ok)
                check_reachability(v, states, json_string_value(start), p_states);
        if (!any_terminal)
                asl_diag_add_code(v->d, ASL_DIAG_MISSING_END_STATE, p_states,
                                  "no terminal state: some state must be a Succeed or Fail state or have \"End\": true");
}

const char *asl_machine_type_to_string(AslMachineType t) {
        static const char *const table[_ASL_MACHINE_TYPE_MAX] = {
                [ASL_MACHINE_STANDARD] = "STANDARD",
                [ASL_MACHINE_EXPRESS] = "EXPRESS",
        };
        return (unsigned) t < _ASL_MACHINE_TYPE_MAX ? table[t] : NULL;
}

int asl_machine_type_from_string(const char *s, AslMachineType *ret) {
        for (unsigned t = 0; s && t < _ASL_MACHINE_TYPE_MAX; t++)
                if (streq(s, asl_machine_type_to_string((AslMachineType) t))) {
                        *ret = (AslMachineType) t;
                        return 0;
                }
        return -EINVAL;
}

/* Validates; the JSONata expressions are kept in exprs if not NULL. */
static int definition_validate(json_t *definition, AslMachineType type, AslDiag *d, AslExprCache *exprs) {
        _cleanup_json_ json_t *names = json_object();
        AslDiag local = {};
        Validator v = {
                .d = d ? d : &local,
                .type = type,
                .names = names,
                .exprs = exprs,
        };
        size_t before = v.d->n;
        json_t *ql;

        if (!names)
                abort();
        if (!asl_machine_type_to_string(type)) {
                asl_diag_add(v.d, "", "unknown state machine type %d", (int) type);
                asl_diag_clear(&local);
                return -EINVAL;
        }
        if (!definition) {
                asl_diag_add(v.d, "", "no definition");
                asl_diag_clear(&local);
                return -EINVAL;
        }
        if (json_depth(definition, ASL_MAX_JSON_DEPTH + 1) > ASL_MAX_JSON_DEPTH)
                asl_diag_add(v.d, "", "nested too deeply (limit %d levels)", ASL_MAX_JSON_DEPTH);
        else {
                ql = json_object_get(definition, "QueryLanguage");
                v.machine_jsonata = json_is_string(ql) && streq(json_string_value(ql), "JSONata");
                validate_machine(&v, definition, "", MACHINE_TOP);
        }

        bool bad = v.d->n > before;
        asl_diag_clear(&local);
        pcre2_code_free(v.name_re);
        return bad ? -EINVAL : 0;
}

int asl_definition_validate(json_t *definition, AslDiag *d) {
        return definition_validate(definition, ASL_MACHINE_STANDARD, d, NULL);
}

int asl_definition_validate_type(json_t *definition, AslMachineType type, AslDiag *d) {
        return definition_validate(definition, type, d, NULL);
}

/* ---- parse, wrap, look up -------------------------------------------- */

int asl_machine_parse(const char *text, size_t len, AslMachine **ret, AslDiag *d) {
        return asl_machine_parse_type(text, len, ASL_MACHINE_STANDARD, ret, d);
}

int asl_machine_parse_type(const char *text, size_t len, AslMachineType type, AslMachine **ret, AslDiag *d) {
        _cleanup_json_ json_t *definition = NULL;
        json_error_t jerr;

        if (!text || !ret)
                return -EINVAL;
        if (len > ASL_MAX_DEFINITION_BYTES) {
                asl_diag_add(d, "", "definition too large: %zu bytes (limit %d)", len, ASL_MAX_DEFINITION_BYTES);
                return -EINVAL;
        }
        definition = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!definition) {
                asl_diag_add(d, "", "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
                return -EINVAL;
        }
        return asl_machine_new_type(definition, type, ret, d);
}

static bool mentions_context(json_t *v) {
        const char *k;
        json_t *x;
        size_t i;

        switch (json_typeof(v)) {
        case JSON_STRING:
                return memmem(json_string_value(v), json_string_length(v), "$$", 2) != NULL;
        case JSON_OBJECT:
                json_object_foreach(v, k, x)
                        if (mentions_context(x))
                                return true;
                return false;
        case JSON_ARRAY:
                json_array_foreach(v, i, x)
                        if (mentions_context(x))
                                return true;
                return false;
        default:
                return false;
        }
}

/* Collect the states of `machine` (and of its branches and item
 * processors: state names are unique machine-wide) that mention "$$". A
 * Parallel or Map state counts its nested states' strings too: an
 * overestimate only builds a context that is not read. */
static void collect_context_states(json_t *machine, json_t *out) {
        const char *name;
        json_t *st, *b;
        size_t i;

        json_object_foreach(json_object_get(machine, "States"), name, st) {
                if (mentions_context(st))
                        json_object_set_new(out, name, json_true());
                json_array_foreach(json_object_get(st, "Branches"), i, b)
                        collect_context_states(b, out);
                collect_context_states(json_object_get(st, "ItemProcessor"), out);
                collect_context_states(json_object_get(st, "Iterator"), out);
        }
}

bool asl_machine_state_uses_context(const AslMachine *m, const char *state) {
        return !m || !m->context_states || !state || json_object_get(m->context_states, state);
}

int asl_machine_new(json_t *definition, AslMachine **ret, AslDiag *d) {
        return asl_machine_new_type(definition, ASL_MACHINE_STANDARD, ret, d);
}

int asl_machine_new_type(json_t *definition, AslMachineType type, AslMachine **ret, AslDiag *d) {
        AslExprCache exprs = {};
        AslMachine *m;
        json_t *ql;
        int r;

        if (!ret)
                return -EINVAL;
        r = definition_validate(definition, type, d, &exprs);
        if (r < 0) {
                asl_expr_cache_clear(&exprs);
                return r;
        }
        m = xmalloc(sizeof(*m));
        *m = (AslMachine){};
        m->definition = json_incref(definition);
        m->type = type;
        m->context_states = json_object();
        collect_context_states(definition, m->context_states);
        m->exprs = xmalloc(sizeof(AslExprCache));
        *m->exprs = exprs;
        ql = json_object_get(definition, "QueryLanguage");
        m->jsonata = json_is_string(ql) && streq(json_string_value(ql), "JSONata");
        *ret = m;
        return 0;
}

AslMachine *asl_machine_free(AslMachine *m) {
        if (!m)
                return NULL;
        asl_expr_cache_clear(m->exprs);
        free(m->exprs);
        json_decref(m->definition);
        json_decref(m->context_states);
        free(m);
        return NULL;
}

bool asl_machine_state_is_jsonata(const AslMachine *m, json_t *state) {
        return state_is_jsonata(m && m->jsonata, state);
}

json_t *asl_json_pointer_get(json_t *root, const char *pointer) {
        const char *p = pointer;
        json_t *cur = root;

        if (!root || !pointer)
                return NULL;
        if (*p == 0)
                return root;
        if (*p != '/')
                return NULL;
        while (*p == '/') {
                const char *end = strchrnul(p + 1, '/');
                size_t n = (size_t) (end - (p + 1)), k = 0;
                _cleanup_free_ char *tok = xmalloc(n + 1);

                for (const char *q = p + 1; q < end; q++) {
                        if (*q == '~') {
                                if (q + 1 < end && q[1] == '0')
                                        tok[k++] = '~';
                                else if (q + 1 < end && q[1] == '1')
                                        tok[k++] = '/';
                                else
                                        return NULL;
                                q++;
                        } else
                                tok[k++] = *q;
                }
                tok[k] = 0;

                if (json_is_object(cur))
                        cur = json_object_get(cur, tok);
                else if (json_is_array(cur)) {
                        size_t idx = 0;

                        if (k == 0 || (k > 1 && tok[0] == '0') || k > 9)
                                return NULL;
                        for (size_t i = 0; i < k; i++) {
                                if (tok[i] < '0' || tok[i] > '9')
                                        return NULL;
                                idx = idx * 10 + (size_t) (tok[i] - '0');
                        }
                        cur = json_array_get(cur, idx);
                } else
                        return NULL;
                if (!cur)
                        return NULL;
                p = end;
        }
        return cur;
}

json_t *asl_machine_lookup(const AslMachine *m, const char *pointer) {
        json_t *sub;

        if (!m)
                return NULL;
        sub = asl_json_pointer_get(m->definition, pointer);
        if (!json_is_object(sub) || !json_is_object(json_object_get(sub, "States")) ||
            !json_is_string(json_object_get(sub, "StartAt")))
                return NULL;
        return sub;
}
