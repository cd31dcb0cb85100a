/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The JSONata functions that AWS Step Functions adds for JSONata states, as
 * a library the ASL layer turns on per evaluation:
 *
 *   const JsonataLibrary *libs[] = { &jsonata_aws_library };
 *   JsonataContext ctx = { .libraries = libs, .n_libraries = 1, ... };
 *
 *   $partition(array, size)       chunks of size items (the last may be shorter)
 *   $range(start, end[, step])    start, start+step, ... up to end inclusive
 *   $hash(string, algorithm)      hex digest: MD5, SHA-1, SHA-256, SHA-384, SHA-512
 *   $random([seed])               0 <= n < 1; the same seed gives the same number
 *   $uuid()                       a version 4 UUID from the environment's randomness
 *   $parse(string)                the JSON value the string holds
 *   $eval(...)                    refused, as AWS refuses it
 *
 * Their limits are those of the matching intrinsic functions
 * (States.ArrayRange: ASL_MAX_ARRAY_RANGE_ITEMS items; States.Hash: 10,000
 * characters). Errors carry the codes listed in docs/jsonata.md (D3170 and
 * up); the ASL layer reports every one as States.QueryEvaluationError.
 */

#include "jsonata.h"

extern const JsonataLibrary jsonata_aws_library;
