/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The 18 intrinsic functions of the States Language, a table of
 * {name, arity, function} (STYLE 11):
 *   States.Format, States.StringToJson, States.JsonToString, States.Array,
 *   States.ArrayPartition, States.ArrayContains, States.ArrayRange,
 *   States.ArrayGetItem, States.ArrayLength, States.ArrayUnique,
 *   States.Base64Encode, States.Base64Decode, States.Hash, States.JsonMerge,
 *   States.MathRandom, States.MathAdd, States.StringSplit, States.UUID.
 *
 * Arguments: string literals in single quotes (\' \{ \} \\ are the escapes;
 * any other, \" too, is refused as Step Functions refuses it),
 * numbers, true/false/null, JSONPaths ($.x, $$.x, $, $variable.x), nested calls.
 * Every failure is States.IntrinsicFailure (as AWS raises it), with a cause,
 * except a path argument that does not resolve: States.Runtime (see
 * intrinsic_eval()).
 * Limits as AWS: Base64 input 10,000 chars, Hash input 10,000 chars,
 * ArrayRange at most 1,000 items, nesting depth ASL_MAX_INTRINSIC_NESTING.
 *
 * Details where the AWS documentation leaves room:
 *   - integer arguments (ArrayRange, ArrayGetItem, ArrayPartition, MathAdd,
 *     MathRandom) are rounded as Java's Math.round (halves up: MathAdd(-1.5,
 *     0) is -1, as in Step Functions), range of int32;
 *   - States.MathRandom(start, end[, seed]) returns an integer in
 *     [start, end); with a seed the result depends only on the arguments,
 *     without one it comes from env->random (an error if there is none);
 *   - States.StringSplit splits on every character of the delimiter string
 *     and drops empty tokens;
 *   - States.Format: a literal template keeps its escapes (\{ is a brace),
 *     a template read from a path is used as it is; `{}` placeholders must
 *     match the argument count; an object or array argument is written as
 *     Java prints a Map or List ({"Arg1":1,"Arg2":[]} -> {Arg1=1, Arg2=[]});
 *   - States.StringToJson of an empty or blank string is null;
 *   - States.Hash hashes a string (its UTF-8 bytes), lowercase hex;
 *   - every value an expression produces or reads from a path is at most
 *     env->max_payload_bytes (default 256 KiB) serialized.
 */

#include "asl-util.h"

#define INTRINSIC_MAX_LENGTH (64 * 1024) /* characters of one expression */
#define INTRINSIC_MAX_ARGS 1000          /* arguments of one call */

/* True if the string looks like an intrinsic call ("States.Name(...)"). */
bool intrinsic_is_call(const char *s);

/* Syntax check (at definition validation time): 0, or -EINVAL and *ret_msg. */
int intrinsic_check(const char *expr, char **ret_msg);

/*
 * Evaluate `expr` with `input` as `$`, refs->context as `$$` and
 * refs->vars as the variables `$name` (all borrowed, refs may be NULL).
 * On success 0 and *ret = new reference. On failure
 * -EINVAL and err set to States.IntrinsicFailure, or, for a path argument
 * that does not resolve, States.Runtime as Step Functions raises it: "The
 * function 'States.Format('{}', $.nope)' had the following error: The
 * JsonPath argument for the field '$.nope' could not be found in the input
 * '{"other":1}'" (the whole expression, whatever call took the argument).
 */
int intrinsic_eval(const char *expr, json_t *input, const AslRefs *refs, const AslEnv *env, json_t **ret,
                   AslError *err);

/* The function table, for listings and tests: 18 entries, names borrowed
 * (static); intrinsic_function_name() returns NULL past the end. */
size_t intrinsic_n_functions(void);
const char *intrinsic_function_name(size_t i);
