/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Input and output processing of a state, in the order AWS applies it
 * (JSONPath query language):
 *
 *   raw input -> InputPath -> Parameters / ItemSelector  = effective input
 *   task result -> ResultSelector -> ResultPath (merged into the RAW input)
 *               -> OutputPath                            = state output
 *
 * Field values are passed as they appear in the definition (borrowed
 * json_t *, NULL = field absent):
 *   InputPath/OutputPath: absent -> value unchanged; null -> {}; a path ->
 *     its value ("$$..." reads the context object: "$$" is all of it,
 *     "$$.Execution.Input" the execution input; "$name..." the workflow
 *     variable name, "$name.a" a part of it); a path that does not exist
 *     -> States.Runtime "Invalid path '$.x' : No results for path: $['x']"
 *     (the Jayway message of jsonpath_eval_why()).
 *   ResultPath: absent -> "$" (the result replaces the input); null -> the
 *     result is discarded and the raw input kept; a reference path -> the
 *     result is set there in a copy of the raw input (intermediate objects
 *     created); impossible -> States.ResultPathMatchFailure.
 *   Templates (Parameters, ItemSelector, ResultSelector): objects and arrays
 *     are copied recursively; a key ending in ".$" loses the suffix and its
 *     string value is evaluated: "$$..." against the context object, "$..."
 *     against the input, "States.X(...)" as an intrinsic call. A path that
 *     does not exist -> States.Runtime "The JSONPath '$.p' specified for the
 *     field 'v.$' could not be found in the input '<input>'", in every state
 *     type, as Step Functions raises it (it never shows
 *     States.ParameterPathFailure there); an intrinsic failure ->
 *     States.IntrinsicFailure (a path an intrinsic reads that does not
 *     exist: States.Runtime, see asl-intrinsics.h).
 *   Every result is checked against env->max_payload_bytes
 *     (States.DataLimitExceeded) and ASL_MAX_JSON_DEPTH (States.Runtime).
 *
 * The causes are the detail Step Functions gives; the engine puts "An error
 * occurred while executing the state '<name>' (entered at the event id
 * #<n>). " before those of States.Runtime.
 *
 * All functions: 0 and *ret = NEW reference, or -EINVAL with err set (the
 * ASL error name and a cause). Inputs are borrowed and never modified.
 */

#include "asl-util.h"

/* InputPath / OutputPath / ItemsPath-style selection. `field` names the field
 * for error messages ("InputPath"); refs (may be NULL) is what "$$..." and
 * "$name..." read. */
int payload_select(json_t *value, json_t *path, const char *field, const AslRefs *refs, json_t **ret,
                   AslError *err);

/* Parameters / ItemSelector / ResultSelector / a JSONPath state's Assign.
 * refs may be NULL (no context object, no variables). */
int payload_template(json_t *tmpl, json_t *input, const AslRefs *refs, const AslEnv *env, json_t **ret,
                     AslError *err);

/* A JSONPath state's Assign: the template evaluated with `input` as "$"
 * (names ending in ".$" lose the suffix), without the payload size check:
 * the engine checks the variables' own limits. */
int payload_assign(json_t *assign, json_t *input, const AslRefs *refs, const AslEnv *env, json_t **ret,
                   AslError *err);

/* ResultPath. raw_input and result borrowed. */
int payload_result_path(json_t *raw_input, json_t *path, json_t *result, json_t **ret, AslError *err);

/* Size/depth limits for one payload. `what` names it in the cause. */
int payload_check_limits(json_t *v, const AslEnv *env, const char *what, AslError *err);

/*
 * Whole pipelines on a state definition object `state` (borrowed):
 *
 * payload_effective_input(): InputPath, then the template in field
 *   `template_field` ("Parameters", "ItemSelector", or NULL for none).
 * payload_state_output(): ResultSelector (only if `use_selector`), then
 *   ResultPath into raw_input, then OutputPath, then limits.
 */
int payload_effective_input(json_t *state, const char *template_field, json_t *raw_input,
                            const AslRefs *refs, const AslEnv *env, json_t **ret, AslError *err);
int payload_state_output(json_t *state, bool use_selector, json_t *raw_input, json_t *result,
                         const AslRefs *refs, const AslEnv *env, json_t **ret, AslError *err);

/* Evaluate one ".$" value: "$$..." (context), "$..." (input) or an
 * intrinsic. `field` names it in errors ("v.$", "ErrorPath"). Errors as for
 * templates. */
int payload_eval_dollar(const char *expr, const char *field, json_t *input, const AslRefs *refs,
                        const AslEnv *env, json_t **ret, AslError *err);

/* The input as causes quote it: its canonical JSON text. New string. */
char *payload_input_text(json_t *input);
