/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * AWS SAM / CloudFormation templates, YAML or JSON, read into a JSON value
 * (jansson), the way CloudFormation reads them: the short-form tags of the
 * intrinsic functions become their long form (`!Ref X` -> {"Ref": "X"},
 * `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]}, `!Sub s` -> {"Fn::Sub": s},
 * `!Join`, `!Select`, `!Split`, `!FindInMap`, `!If`, `!Equals`, `!Not`,
 * `!And`, `!Or`, `!Base64`, `!Cidr`, `!GetAZs`, `!ImportValue`,
 * `!Transform` likewise; `!Condition X` -> {"Condition": "X"}); plain
 * scalars are typed as YAML 1.1 core scalars (null, true/false, integers,
 * floats, else strings); quoted ones are strings.
 *
 * The template is untrusted input (a file from anywhere): it is limited in
 * bytes (SAM_TEMPLATE_MAX, CloudFormation's 1 MB), nesting depth and node
 * count; anchors and aliases are refused (CloudFormation refuses them too,
 * and an alias bomb cannot expand here); a mapping key must be a scalar and
 * appear once; an unknown `!Tag` is an error. Tested by
 * tests/fuzz/fuzz-sam-template.c.
 */

#include <stddef.h>

#include <jansson.h>

#define SAM_TEMPLATE_MAX (1024 * 1024)
#define SAM_TEMPLATE_DEPTH_MAX 64
#define SAM_TEMPLATE_NODES_MAX 200000

/* Reads text[0..len) (YAML, or JSON when it starts with '{'). *ret: a new
 * reference. -EINVAL with *ret_error (new string: line, column, what);
 * -E2BIG over a limit (also with *ret_error); -ENOMEM. */
int sam_template_parse(const char *text, size_t len, json_t **ret, char **ret_error);
