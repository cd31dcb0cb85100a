/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * JSONPath as the States Language uses it.
 *
 * Reference paths (InputPath, ResultPath, OutputPath, Choice Variable, *Path
 * fields, ErrorPath/CausePath): `$`, `$.a.b`, `$['a b']`, `$.a[0]`, `$.a[-1]`
 * is NOT allowed (AWS rejects negative indexes in reference paths).
 * Query forms accepted in Parameters/ItemSelector/ResultSelector `.$` values
 * and in InputPath/OutputPath: wildcards `.*` `[*]`, slices `[1:3]` `[::2]`
 * `[-2:]`, unions `[0,2]` `['a','b']`, filters `[?(@.x > 1)]` (==, !=, <, <=,
 * >, >=, &&, ||, !, and existence `[?(@.x)]`), recursive descent `..name`
 * `..*`, `.length()` is not supported (AWS does not support it).
 *
 * Semantics follow Jayway JsonPath as AWS uses it: a definite path (no
 * wildcard, slice, union, filter or descent) yields the single value; an
 * indefinite path yields a JSON array of all matches (possibly empty).
 * Like Jayway, a union of names as the last step (`$.a['x','y']`) is
 * definite and yields one object holding the named properties that exist.
 * Filters: an array filters its elements; an object tests itself. Missing
 * operands make a comparison false, except != which is then true.
 *
 * Syntax as Jayway reads it: a dot may come before a bracket (`$.[0]`,
 * `$.a.[*].['x','y']`, `$..[0]`); in a quoted bracket name a backslash only
 * keeps the next character from ending the name and stays in it
 * (`$['a\\"b']` names the key `a\\"b`), while string literals in filters
 * decode Java escapes.
 *
 * Paths starting with `$$` are evaluated by callers against the context
 * object (strip one `$`). This module only sees `$...`.
 */

#include "asl-util.h"

/* Evaluation limits (going past one is -E2BIG). */
#define JSONPATH_MAX_RESULTS 100000          /* matches after any one step */
#define JSONPATH_MAX_WORK 10000000           /* nodes visited per evaluation */
#define JSONPATH_MAX_DEPTH 1024              /* recursive descent depth */
#define JSONPATH_MAX_FILTER_NESTING 32       /* ( and ! nesting in a filter */

typedef enum JsonPathKind {
        JSONPATH_INVALID = -1,
        JSONPATH_REFERENCE,     /* definite, only names and non-negative indexes */
        JSONPATH_QUERY,         /* any form above; may be definite or not */
} JsonPathKind;

/*
 * Syntax check. Returns JSONPATH_REFERENCE if `path` is a valid reference
 * path, JSONPATH_QUERY if it is a valid (non-reference) query path, or
 * JSONPATH_INVALID with *ret_msg (new string, may be NULL if ret_msg NULL)
 * saying what is wrong. Length limited to ASL_MAX_PATH_LENGTH.
 */
JsonPathKind jsonpath_check(const char *path, char **ret_msg);

/* True if the path yields a single value (no wildcard/slice/index union/filter/
 * descent; a name union only as the last step). False for invalid paths. */
bool jsonpath_is_definite(const char *path);

/*
 * Evaluate `path` against `root` (borrowed).
 * Returns 0 and *ret = NEW reference on success.
 *   - definite path: the value; -ENOENT if it does not exist.
 *   - indefinite path: a new array of matches (deep-shared refs), never -ENOENT.
 * -EINVAL if the path is syntactically invalid.
 * -E2BIG if evaluation exceeds internal limits (result count / depth).
 */
int jsonpath_eval(json_t *root, const char *path, json_t **ret);

/*
 * The same; when a definite path does not resolve (-ENOENT) and ret_why is
 * not NULL, *ret_why (new string, or NULL) says why as Jayway says it, the
 * text Step Functions quotes in its errors: "No results for path:
 * $['a']['x']" when the last step finds nothing, "Missing property in path
 * $['a']" when a step before it does, "Expected to find an object with
 * property ['x'] in path $['a'] but found 'number'" for a name looked up in
 * something else. Paths are in Jayway's normalized form.
 */
int jsonpath_eval_why(json_t *root, const char *path, json_t **ret, char **ret_why);

/*
 * ResultPath semantics: put `value` at reference path `path` inside *root.
 * Takes ownership of `value` (steals the reference), also on failure.
 *   `$`         -> *root is replaced by value (old root decref'd)
 *   `$.a.b`     -> intermediate objects created as needed
 *   `$.a[2]`    -> the array element must exist; it is replaced
 * *root may be replaced (e.g. when it is not an object and path is `$`).
 * Returns 0, -EINVAL for an invalid path (or one that is not a reference
 * path), or -ENOTDIR when an existing intermediate value is not an
 * object/array of the kind the path needs, or an array element does not
 * exist (both: States.ResultPathMatchFailure). On failure *root is unchanged.
 * Containers on the way that are shared (refcount > 1) are copied before
 * they are modified, so values shared with other documents are never changed.
 * *root must be a value this caller owns exclusively (copy before if shared).
 */
int jsonpath_set(json_t **root, const char *path, json_t *value);

/*
 * Convenience for validators: 0 if `path` is a reference path, else -EINVAL
 * and *ret_msg (new string, if ret_msg is not NULL) saying why.
 */
int jsonpath_check_reference(const char *path, char **ret_msg);
