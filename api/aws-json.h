/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The AWS JSON 1.0 protocol as Step Functions speaks it, without the HTTP:
 * what an AWS SDK sends (POST /, X-Amz-Target: AWSStepFunctions.<Operation>,
 * Content-Type: application/x-amz-json-1.0, a JSON object as the body) and
 * what it expects back (a JSON object; on error HTTP 4xx/5xx with
 * {"__type": "<ErrorName>", "message": "..."}). Pure: no I/O.
 *
 *   errors       AwsError (a name from the table and a message); the HTTP
 *                status of each name (aws_error_status: 400 unless the
 *                table says otherwise); the body
 *   the body     parsed with limits: AWS_BODY_DEPTH_MAX levels (the
 *                service's own shapes are shallow: execution input and
 *                output are JSON *text* inside strings), duplicate keys and
 *                non-objects refused (SerializationException)
 *   fields       typed getters that answer as AWS does: a wrong JSON type is
 *                a SerializationException, a missing member or a length or
 *                range outside the model's a ValidationException with
 *                AWS's "1 validation error detected: Value ... at 'field'
 *                failed to satisfy constraint: ..." text
 *   ARNs         arn:aws:states:<region>:<account>:<type>:<rest>, built and
 *                parsed against the configured region and account
 *                (InvalidArn otherwise)
 *   timestamps   numbers of seconds since the epoch (with milliseconds), as
 *                the SDKs read them
 *   page tokens  opaque nextToken strings: hex of "<kind>:<cursor>", refused
 *                (InvalidToken) when malformed or of another operation
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "macro.h"

#define AWS_TARGET_PREFIX "AWSStepFunctions."
#define AWS_CONTENT_TYPE "application/x-amz-json-1.0"
#define AWS_BODY_DEPTH_MAX 16
#define AWS_PAGE_TOKEN_MAX 1024 /* characters of a nextToken */

/* An error to answer with: name is a static string. */
typedef struct AwsError {
        const char *name;
        char *message; /* owned */
} AwsError;

/* Sets e (replacing what it held) and returns -EINVAL. */
int aws_error_set(AwsError *e, const char *name, const char *fmt, ...) _printf_(3, 4);
void aws_error_done(AwsError *e);

/* The HTTP status AWS answers name with. */
unsigned aws_error_status(const char *name);
/* {"__type": name, "message": message} (new string, length in *ret_len). */
char *aws_error_body(const char *name, const char *message, size_t *ret_len);

/* "AWSStepFunctions.StartExecution" -> "StartExecution" (borrowed from
 * target), NULL when the prefix is not there. */
const char *aws_target_operation(const char *target);

/* The request body: an empty body is {} (as the SDKs send for operations
 * without input); else one JSON object. New reference in *ret, or
 * SerializationException. */
int aws_body_parse(const void *buf, size_t len, json_t **ret, AwsError *e);

/* Member getters. A member that is absent or null counts as absent. */
/* String of min..max characters (Unicode code points, as AWS counts);
 * *ret borrowed from body, NULL when absent and not required. */
int aws_get_string(const json_t *body, const char *field, bool required, size_t min, size_t max,
                   const char **ret, AwsError *e);
/* Integer in min..max; def when absent. */
int aws_get_int(const json_t *body, const char *field, int64_t min, int64_t max, int64_t def, int64_t *ret,
                AwsError *e);
int aws_get_bool(const json_t *body, const char *field, bool def, bool *ret, AwsError *e);
/* One of values (NULL-terminated); *ret NULL when absent. */
int aws_get_enum(const json_t *body, const char *field, const char *const *values, const char **ret,
                 AwsError *e);

/* "arn:aws:states:<region>:<account>:<type>:<rest>" (new string). */
char *aws_arn(const char *region, const char *account, const char *type, const char *rest);
/* The <rest> of an ARN of that type (new string), or InvalidArn. */
int aws_arn_parse(const char *arn, const char *region, const char *account, const char *type,
                  char **ret_rest, AwsError *e);

/* ms since the epoch -> seconds as a JSON number (new reference). */
json_t *aws_timestamp(int64_t ms);

/* nextToken <-> cursor. encode: new string. decode: *ret_cursor new, or
 * InvalidToken. */
char *aws_page_token_encode(const char *kind, const char *cursor);
int aws_page_token_decode(const char *token, const char *kind, char **ret_cursor, AwsError *e);

/* The number of Unicode code points of valid UTF-8 s (bytes otherwise). */
size_t aws_string_length(const char *s);
