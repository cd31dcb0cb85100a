/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Choice rules: the comparison operators (a table of {name, operand type,
 * is-path, function}), And/Or/Not, the type tests, and validation of a rule
 * tree at definition time.
 *
 * Operators: StringEquals, StringLessThan, StringGreaterThan,
 * StringLessThanEquals, StringGreaterThanEquals, StringMatches,
 * NumericEquals, NumericLessThan, NumericGreaterThan, NumericLessThanEquals,
 * NumericGreaterThanEquals, BooleanEquals, TimestampEquals,
 * TimestampLessThan, TimestampGreaterThan, TimestampLessThanEquals,
 * TimestampGreaterThanEquals, each also as <Name>Path (operand is a reference
 * path into the input, or $$ context); IsNull, IsPresent, IsNumeric,
 * IsString, IsBoolean, IsTimestamp.
 *
 * AWS semantics: a comparison whose Variable is missing raises
 * States.Runtime ("Invalid path ... : The choice state's condition path
 * references an invalid value") except under IsPresent; a type mismatch
 * (e.g. NumericEquals on a string) is simply false.
 */

#include "asl-util.h"

/*
 * Validate one top-level rule (an element of Choices; requires Next) or a
 * nested rule (inside And/Or/Not; must not have Next). `pointer` is the JSON
 * pointer of the rule. Adds diagnostics to d.
 */
void choice_rule_validate(json_t *rule, const char *pointer, bool top_level, AslDiag *d);

/*
 * Evaluate a validated rule (JSONPath). input and refs (the context object
 * and the variables, may be NULL) borrowed. 0 and *ret_match, or -EINVAL
 * with err set (States.Runtime for a missing Variable).
 */
int choice_rule_eval(json_t *rule, json_t *input, const AslRefs *refs, bool *ret_match, AslError *err);

/* True for a comparison operator's name or And, Or, Not. */
bool choice_is_operator(const char *name);

/* Calls fn for every path of a rule tree (Variable and *Path operands, in
 * And/Or/Not too) with the JSON pointer of its field. Bounded like
 * validation. */
typedef void (*ChoicePathFn)(void *userdata, const char *path, const char *pointer);
void choice_rule_foreach_path(json_t *rule, const char *pointer, ChoicePathFn fn, void *userdata);

/* StringMatches: `*` matches any run of characters, `\*` a literal star,
 * `\\` a literal backslash. */
bool choice_string_matches(const char *s, const char *pattern);
