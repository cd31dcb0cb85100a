/* SPDX-License-Identifier: MIT */
/*
 * The AWS JSON 1.0 protocol (see aws-json.h): errors, the body, typed
 * members with AWS's messages, ARNs, timestamps and page tokens.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "aws-json.h"
#include "format.h"
#include "proto.h"

int aws_error_set(AwsError *e, const char *name, const char *fmt, ...) {
        va_list ap;

        free(e->message);
        e->name = name;
        va_start(ap, fmt);
        e->message = xvasprintf(fmt, ap);
        va_end(ap);
        return -EINVAL;
}

void aws_error_done(AwsError *e) {
        free(e->message);
        *e = (AwsError){};
}

/* Errors that AWS does not answer with 400 (the model's httpError, the
 * common errors). */
static const struct {
        const char *name;
        unsigned status;
} statuses[] = {
        {"InternalFailure", 500},
        {"ServiceUnavailable", 503},
        {"ConflictException", 409},
        {"ResourceNotFound", 404},
        {"ServiceQuotaExceededException", 402},
        {"RequestEntityTooLarge", 413},
};

unsigned aws_error_status(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(statuses); i++)
                if (streq(statuses[i].name, name))
                        return statuses[i].status;
        return 400;
}

char *aws_error_body(const char *name, const char *message, size_t *ret_len) {
        _cleanup_json_ json_t *o = json_pack("{s:s, s:s}", "__type", name, "message", strempty(message));
        char *s = json_dumps(o, JSON_COMPACT);

        if (!s)
                abort();
        *ret_len = strlen(s);
        return s;
}

const char *aws_target_operation(const char *target) {
        size_t n = strlen(AWS_TARGET_PREFIX);

        if (!target || strncmp(target, AWS_TARGET_PREFIX, n) != 0 || !target[n])
                return NULL;
        return target + n;
}

int aws_body_parse(const void *buf, size_t len, json_t **ret, AwsError *e) {
        json_error_t je;
        json_t *j;

        if (len == 0) {
                *ret = json_object();
                return 0;
        }
        if (proto_scan_depth(buf, len, AWS_BODY_DEPTH_MAX) > AWS_BODY_DEPTH_MAX)
                return aws_error_set(e, "SerializationException",
                                     "The request body is nested deeper than %d levels", AWS_BODY_DEPTH_MAX);
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!j)
                return aws_error_set(e, "SerializationException", "The request body is not valid JSON: %s",
                                     je.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return aws_error_set(e, "SerializationException", "The request body must be a JSON object");
        }
        *ret = j;
        return 0;
}

size_t aws_string_length(const char *s) {
        size_t n = 0;

        if (!proto_utf8_is_valid(s, strlen(s)))
                return strlen(s);
        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        n++;
        return n;
}

static const json_t *member(const json_t *body, const char *field) {
        const json_t *v = json_object_get(body, field);
        return json_is_null(v) ? NULL : v;
}

static int missing(AwsError *e, const char *field) {
        return aws_error_set(
                e, "ValidationException",
                "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member "
                "must not be null",
                field);
}

int aws_get_string(const json_t *body, const char *field, bool required, size_t min, size_t max,
                   const char **ret, AwsError *e) {
        const json_t *v = member(body, field);
        size_t n;

        if (!v) {
                if (required)
                        return missing(e, field);
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return aws_error_set(e, "SerializationException", "Member '%s' must be a string", field);
        n = aws_string_length(json_string_value(v));
        if (n < min)
                return aws_error_set(
                        e, "ValidationException",
                        "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                        "Member must have length greater than or equal to %zu",
                        field, min);
        if (n > max)
                return aws_error_set(
                        e, "ValidationException",
                        "1 validation error detected: Value at '%s' failed to satisfy constraint: "
                        "Member must have length less than or equal to %zu",
                        field, max);
        *ret = json_string_value(v);
        return 0;
}

int aws_get_int(const json_t *body, const char *field, int64_t min, int64_t max, int64_t def, int64_t *ret,
                AwsError *e) {
        const json_t *v = member(body, field);
        int64_t i;

        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v))
                return aws_error_set(e, "SerializationException", "Member '%s' must be an integer", field);
        i = json_integer_value(v);
        if (i < min)
                return aws_error_set(e, "ValidationException",
                                     "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
                                     "constraint: Member must have value greater than or equal to %lld",
                                     (long long) i, field, (long long) min);
        if (i > max)
                return aws_error_set(e, "ValidationException",
                                     "1 validation error detected: Value '%lld' at '%s' failed to satisfy "
                                     "constraint: Member must have value less than or equal to %lld",
                                     (long long) i, field, (long long) max);
        *ret = i;
        return 0;
}

int aws_get_bool(const json_t *body, const char *field, bool def, bool *ret, AwsError *e) {
        const json_t *v = member(body, field);

        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_boolean(v))
                return aws_error_set(e, "SerializationException", "Member '%s' must be a boolean", field);
        *ret = json_is_true(v);
        return 0;
}

int aws_get_enum(const json_t *body, const char *field, const char *const *values, const char **ret,
                 AwsError *e) {
        _cleanup_free_ char *set = NULL;
        const char *s;
        int k;

        k = aws_get_string(body, field, /* required= */ false, 0, SIZE_MAX, &s, e);
        if (k < 0)
                return k;
        if (!s) {
                *ret = NULL;
                return 0;
        }
        for (size_t i = 0; values[i]; i++)
                if (streq(values[i], s)) {
                        *ret = values[i];
                        return 0;
                }
        set = xstrdup("");
        for (size_t i = 0; values[i]; i++) {
                char *n = xasprintf("%s%s%s", set, i ? ", " : "", values[i]);
                free(set);
                set = n;
        }
        return aws_error_set(
                e, "ValidationException",
                "1 validation error detected: Value '%.256s' at '%s' failed to satisfy constraint: "
                "Member must satisfy enum value set: [%s]",
                s, field, set);
}

char *aws_arn(const char *region, const char *account, const char *type, const char *rest) {
        return xasprintf("arn:aws:states:%s:%s:%s:%s", region, account, type, rest);
}

int aws_arn_parse(const char *arn, const char *region, const char *account, const char *type,
                  char **ret_rest, AwsError *e) {
        _cleanup_free_ char *prefix = xasprintf("arn:aws:states:%s:%s:%s:", region, account, type);
        size_t n = strlen(prefix);

        if (!arn || strncmp(arn, prefix, n) != 0 || !arn[n])
                return aws_error_set(e, "InvalidArn", "Invalid Arn: '%.2048s'", strempty(arn));
        *ret_rest = xstrdup(arn + n);
        return 0;
}

json_t *aws_timestamp(int64_t ms) {
        json_t *j = json_real((double) ms / 1000.0);

        if (!j)
                abort();
        return j;
}

char *aws_page_token_encode(const char *kind, const char *cursor) {
        _cleanup_free_ char *plain = xasprintf("%s:%s", kind, cursor);
        size_t n = strlen(plain);

        return format_hex(plain, n, xmalloc(2 * n + 1));
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int aws_page_token_decode(const char *token, const char *kind, char **ret_cursor, AwsError *e) {
        size_t n = token ? strlen(token) : 0, k = strlen(kind);
        _cleanup_free_ char *plain = NULL;

        if (n == 0 || n > AWS_PAGE_TOKEN_MAX || n % 2)
                goto invalid;
        plain = xmalloc(n / 2 + 1);
        for (size_t i = 0; i < n / 2; i++) {
                int hi = hexval(token[2 * i]), lo = hexval(token[2 * i + 1]);
                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                        goto invalid;
                plain[i] = (char) (hi << 4 | lo);
        }
        plain[n / 2] = 0;
        if (strncmp(plain, kind, k) != 0 || plain[k] != ':')
                goto invalid;
        *ret_cursor = xstrdup(plain + k + 1);
        return 0;
invalid:
        return aws_error_set(e, "InvalidToken", "Invalid Token: '%.256s'", strempty(token));
}
