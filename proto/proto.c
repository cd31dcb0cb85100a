/* SPDX-License-Identifier: MIT */

/*
 * Decoding and encoding of imgflow messages, driven by the schema tables of
 * proto-schema.c.
 *
 * Decoding order (cheapest and most dangerous checks first):
 *   1. size:  len > max_payload_bytes                      -> -E2BIG
 *   2. depth: proto_scan_depth() on the raw bytes, so that a deeply nested
 *             payload never reaches jansson's recursive parser -> -E2BIG
 *   3. parse: json_loadb(), duplicate keys rejected          -> -EBADMSG
 *   4. envelope: an object with "v": 1 and a known "type"
 *   5. fields: each schema field: presence, JSON type, length, range, and the
 *              depth of "input"/"output" values
 *   6. cross-field checks of the type (DeadLetter: payload xor payloadBase64)
 *
 * The decoded message keeps the parsed object (`root`); its string and json_t
 * fields point into it, so nothing is copied.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-writer.h"
#include "macro.h"
#include "proto-schema.h"
#include "proto.h"

#define _cleanup_message_ _cleanup_(proto_message_freep)

/* Quoted input in reasons is cut to this many bytes. */
#define REASON_QUOTE_MAX 64

static void limits_resolve(const ProtoLimits *lim, size_t *ret_payload, size_t *ret_depth) {
        size_t payload =
                lim && lim->max_payload_bytes ? lim->max_payload_bytes : PROTO_MAX_PAYLOAD_BYTES_DEFAULT;
        size_t depth = lim && lim->max_depth ? lim->max_depth : PROTO_MAX_DEPTH_DEFAULT;

        if (depth > PROTO_MAX_DEPTH_CAP)
                depth = PROTO_MAX_DEPTH_CAP;
        *ret_payload = payload;
        *ret_depth = depth;
}

/* Sets *ret_reason (if wanted) and returns r, so callers can `return reason(...)`. */
static int reason(char **ret_reason, int r, const char *fmt, ...) _printf_(3, 4);
static int reason(char **ret_reason, int r, const char *fmt, ...) {
        va_list ap;

        if (!ret_reason)
                return r;
        va_start(ap, fmt);
        if (vasprintf(ret_reason, fmt, ap) < 0)
                *ret_reason = NULL;
        va_end(ap);
        return r;
}

/* Copies untrusted text for a reason string: printable ASCII only, cut to
 * REASON_QUOTE_MAX bytes with "..." appended. buf must hold REASON_QUOTE_MAX + 4. */
static const char *quote(const char *s, char *buf) {
        size_t i;

        for (i = 0; s[i] && i < REASON_QUOTE_MAX; i++)
                buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        if (s[i]) {
                memcpy(buf + i, "...", 3);
                i += 3;
        }
        buf[i] = '\0';
        return buf;
}

const char *proto_type_to_string(ProtoType t) {
        if (t < 0 || t >= _PROTO_TYPE_MAX)
                return NULL;
        return proto_schemas[t].name;
}

ProtoType proto_type_from_string(const char *s) {
        if (!s)
                return _PROTO_TYPE_INVALID;
        for (size_t i = 0; i < _PROTO_TYPE_MAX; i++)
                if (strcmp(proto_schemas[i].name, s) == 0)
                        return proto_schemas[i].type;
        return _PROTO_TYPE_INVALID;
}

bool proto_utf8_is_valid(const void *buf, size_t len) {
        const unsigned char *s = buf;
        size_t i = 0;

        while (i < len) {
                size_t n;

                if (s[i] == 0)
                        return false;
                if (s[i] < 0x80) {
                        i++;
                        continue;
                }
                n = utf8_sequence(s + i, len - i);
                if (n == 0)
                        return false;
                i += n;
        }
        return true;
}

size_t proto_scan_depth(const void *buf, size_t len, size_t limit) {
        const unsigned char *s = buf;
        bool in_string = false, escape = false;
        size_t depth = 0, max = 0;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = s[i];

                if (in_string) {
                        if (escape)
                                escape = false;
                        else if (c == '\\')
                                escape = true;
                        else if (c == '"')
                                in_string = false;
                        continue;
                }
                switch (c) {
                case '"':
                        in_string = true;
                        break;
                case '[':
                case '{':
                        depth++;
                        if (depth > max) {
                                max = depth;
                                if (max > limit)
                                        return max;
                        }
                        break;
                case ']':
                case '}':
                        if (depth > 0)
                                depth--;
                        break;
                }
        }
        return max;
}

static void *field_ptr(ProtoMessage *m, const ProtoField *f) {
        return (char *) m + f->offset;
}

static const void *field_cptr(const ProtoMessage *m, const ProtoField *f) {
        return (const char *) m + f->offset;
}

static bool one_of(const char *const *values, const char *s) {
        for (; *values; values++)
                if (strcmp(*values, s) == 0)
                        return true;
        return false;
}

static int one_of_list(const char *const *values, char *buf, size_t size) {
        size_t n = 0;

        buf[0] = '\0';
        for (; *values; values++) {
                int k = snprintf(buf + n, size - n, "%s%s", n ? ", " : "", *values);
                if (k < 0 || (size_t) k >= size - n)
                        return -ENOBUFS;
                n += k;
        }
        return 0;
}

static int decode_field(ProtoMessage *m, json_t *root, const ProtoField *f, size_t max_depth,
                        char **ret_reason) {
        json_t *v = json_object_get(root, f->name);

        if (!v || (json_is_null(v) && f->kind != PROTO_FIELD_ANY && !f->required)) {
                if (f->required)
                        return reason(ret_reason, -EBADMSG, "missing field '%s'", f->name);
                if (f->default_object) {
                        _cleanup_json_ json_t *o = json_object();
                        if (!o || json_object_set(root, f->name, o) < 0)
                                return -ENOMEM;
                        *(json_t **) field_ptr(m, f) = o; /* borrowed from root */
                }
                return 0;
        }

        switch (f->kind) {
        case PROTO_FIELD_STRING: {
                const char *s;
                size_t len;

                if (!json_is_string(v))
                        return reason(ret_reason, -EBADMSG, "field '%s': expected string", f->name);
                s = json_string_value(v);
                len = json_string_length(v);
                if (strlen(s) != len) /* only with JSON_ALLOW_NUL, which we do not use */
                        return reason(ret_reason, -EBADMSG, "field '%s': contains a NUL character", f->name);
                if (f->nonempty && len == 0)
                        return reason(ret_reason, -EBADMSG, "field '%s': must not be empty", f->name);
                if (f->max_length > 0 && len > f->max_length)
                        return reason(ret_reason, -EBADMSG, "field '%s': longer than %zu bytes", f->name,
                                      f->max_length);
                if (f->one_of && !one_of(f->one_of, s)) {
                        char list[256];
                        if (one_of_list(f->one_of, list, sizeof list) < 0)
                                list[0] = '\0';
                        return reason(ret_reason, -EBADMSG, "field '%s': must be one of %s", f->name, list);
                }
                *(const char **) field_ptr(m, f) = s;
                return 0;
        }
        case PROTO_FIELD_INT: {
                json_int_t i;

                if (!json_is_integer(v))
                        return reason(ret_reason, -EBADMSG, "field '%s': expected integer", f->name);
                i = json_integer_value(v);
                if (i < f->min)
                        return reason(ret_reason, -EBADMSG, "field '%s': must be >= %" PRId64, f->name,
                                      f->min);
                *(int64_t *) field_ptr(m, f) = i;
                return 0;
        }
        case PROTO_FIELD_BOOL:
                if (!json_is_boolean(v))
                        return reason(ret_reason, -EBADMSG, "field '%s': expected boolean", f->name);
                *(bool *) field_ptr(m, f) = json_is_true(v);
                return 0;
        case PROTO_FIELD_ANY:
                if (json_depth(v, max_depth) > max_depth)
                        return reason(ret_reason, -E2BIG, "field '%s': nested deeper than %zu levels",
                                      f->name, max_depth);
                *(json_t **) field_ptr(m, f) = v; /* borrowed from root */
                return 0;
        }
        return -EINVAL;
}

int proto_decode(const void *buf, size_t len, const ProtoLimits *lim, ProtoMessage **ret,
                 char **ret_reason) {
        _cleanup_message_ ProtoMessage *m = NULL;
        size_t max_payload, max_depth;
        const ProtoSchema *schema;
        json_error_t jerr;
        json_t *root, *v, *t;
        char q[REASON_QUOTE_MAX + 4];
        ProtoType type;
        int r;

        if (!ret || (!buf && len > 0))
                return -EINVAL;
        limits_resolve(lim, &max_payload, &max_depth);

        if (len == 0) /* also a Kafka message with a null value */
                return reason(ret_reason, -EBADMSG, "empty message");
        if (len > max_payload)
                return reason(ret_reason, -E2BIG, "payload is %zu bytes, over the limit of %zu", len,
                              max_payload);
        /* The envelope object is one level above "input"/"output". */
        if (proto_scan_depth(buf, len, max_depth + 1) > max_depth + 1)
                return reason(ret_reason, -E2BIG, "nested deeper than %zu levels", max_depth);

        root = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return reason(ret_reason, -EBADMSG, "not JSON: %s (line %d, column %d)", jerr.text,
                              jerr.line, jerr.column);

        m = calloc(1, sizeof *m);
        if (!m) {
                json_decref(root);
                return -ENOMEM;
        }
        m->root = root;

        if (!json_is_object(root))
                return reason(ret_reason, -EBADMSG, "not a JSON object");

        v = json_object_get(root, "v");
        if (!v)
                return reason(ret_reason, -EBADMSG, "missing field 'v'");
        if (!json_is_integer(v))
                return reason(ret_reason, -EBADMSG, "field 'v': expected integer");
        if (json_integer_value(v) != PROTO_VERSION)
                return reason(ret_reason, -EPROTONOSUPPORT,
                              "unsupported version %" JSON_INTEGER_FORMAT " (this build reads version %d)",
                              json_integer_value(v), PROTO_VERSION);

        t = json_object_get(root, "type");
        if (!t)
                return reason(ret_reason, -EBADMSG, "missing field 'type'");
        if (!json_is_string(t))
                return reason(ret_reason, -EBADMSG, "field 'type': expected string");
        type = proto_type_from_string(json_string_value(t));
        if (type < 0)
                return reason(ret_reason, -EBADMSG, "unknown type '%s'", quote(json_string_value(t), q));
        m->type = type;
        schema = &proto_schemas[type];

        for (size_t i = 0; i < schema->n_fields; i++) {
                r = decode_field(m, root, &schema->fields[i], max_depth, ret_reason);
                if (r < 0)
                        return r;
        }
        if (json_depth(root, max_depth + 1) > max_depth + 1)
                return reason(ret_reason, -E2BIG, "nested deeper than %zu levels", max_depth);
        if (type == PROTO_NOTIFICATION)
                m->notification.body = root;
        if (schema->check) {
                const char *why = schema->check(m);
                if (why)
                        return reason(ret_reason, -EBADMSG, "%s", why);
        }

        *ret = TAKE_PTR(m);
        return 0;
}

ProtoMessage *proto_message_free(ProtoMessage *m) {
        if (!m)
                return NULL;
        json_decref(m->root);
        free(m);
        return NULL;
}

/* Whether field f of m goes into the text: 1 yes, 0 left out (absent,
 * false, zero), or why it cannot be encoded. */
static int field_check(const ProtoMessage *m, const ProtoField *f, size_t max_depth) {
        switch (f->kind) {
        case PROTO_FIELD_STRING: {
                const char *s = *(const char *const *) field_cptr(m, f);
                size_t len;

                if (!s)
                        return f->required ? -EINVAL : 0;
                len = strlen(s);
                if (!proto_utf8_is_valid(s, len))
                        return -EINVAL;
                if (f->nonempty && len == 0)
                        return -EINVAL;
                if (f->max_length > 0 && len > f->max_length)
                        return -ENAMETOOLONG;
                if (f->one_of && !one_of(f->one_of, s))
                        return -EINVAL;
                return 1;
        }
        case PROTO_FIELD_INT: {
                int64_t i = *(const int64_t *) field_cptr(m, f);

                if (i < f->min)
                        return -EINVAL;
                return f->required || i != 0;
        }
        case PROTO_FIELD_BOOL:
                return *(const bool *) field_cptr(m, f);
        case PROTO_FIELD_ANY: {
                json_t *j = *(json_t *const *) field_cptr(m, f);

                if (!j)
                        return f->default_object ? 1 : f->required ? -EINVAL : 0;
                if (json_depth(j, max_depth) > max_depth)
                        return -E2BIG;
                return 1;
        }
        }
        return -EINVAL;
}

static int encode_field(const ProtoMessage *m, json_t *o, const ProtoField *f, size_t max_depth) {
        json_t *v = NULL;
        int r;

        r = field_check(m, f, max_depth);
        if (r <= 0)
                return r;
        switch (f->kind) {
        case PROTO_FIELD_STRING: {
                const char *s = *(const char *const *) field_cptr(m, f);

                v = json_stringn_nocheck(s, strlen(s)); /* field_check() checked it */
                break;
        }
        case PROTO_FIELD_INT:
                v = json_integer(*(const int64_t *) field_cptr(m, f));
                break;
        case PROTO_FIELD_BOOL:
                v = json_true();
                break;
        case PROTO_FIELD_ANY: {
                json_t *j = *(json_t *const *) field_cptr(m, f);

                v = j ? json_incref(j) : json_object();
                break;
        }
        }
        if (!v)
                return -ENOMEM;
        if (json_object_set_new(o, f->name, v) < 0)
                return -ENOMEM;
        return 0;
}

/* ExecutionStatusChanged: the dedup id follows from the other fields. *src
 * is m, or *copy with the computed id (*ret_id, to free) when m has none. */
static int message_with_id(const ProtoMessage *m, ProtoMessage *copy, char **ret_id,
                           const ProtoMessage **src) {
        int r;

        *src = m;
        if (m->type != PROTO_EXECUTION_STATUS_CHANGED || m->execution_status_changed.id)
                return 0;
        r = proto_notification_id(m->execution_status_changed.execution_id,
                                  m->execution_status_changed.status, ret_id);
        if (r < 0)
                return r;
        *copy = *m;
        copy->execution_status_changed.id = *ret_id;
        *src = copy;
        return 0;
}

int proto_encode_json(const ProtoMessage *m, const ProtoLimits *lim, json_t **ret) {
        _cleanup_json_ json_t *o = NULL;
        _cleanup_free_ char *computed_id = NULL;
        const ProtoMessage *src = m;
        ProtoMessage copy;
        size_t max_payload, max_depth;
        const ProtoSchema *schema;
        int r;

        if (!m || !ret || m->type < 0 || m->type >= _PROTO_TYPE_MAX)
                return -EINVAL;
        limits_resolve(lim, &max_payload, &max_depth);
        schema = &proto_schemas[m->type];

        r = message_with_id(m, &copy, &computed_id, &src);
        if (r < 0)
                return r;

        o = json_object();
        if (!o)
                return -ENOMEM;
        if (json_object_set_new(o, "v", json_integer(PROTO_VERSION)) < 0 ||
            json_object_set_new(o, "type", json_string(schema->name)) < 0)
                return -ENOMEM;
        if (m->type == PROTO_NOTIFICATION && m->notification.body) {
                json_t *body = m->notification.body, *v;
                const char *k;

                if (!json_is_object(body))
                        return -EINVAL;
                if (json_depth(body, max_depth + 1) > max_depth + 1)
                        return -E2BIG;
                json_object_foreach (body, k, v)
                        if (strcmp(k, "v") != 0 && strcmp(k, "type") != 0 && json_object_set(o, k, v) < 0)
                                return -ENOMEM;
        }
        for (size_t i = 0; i < schema->n_fields; i++) {
                r = encode_field(src, o, &schema->fields[i], max_depth);
                if (r < 0)
                        return r;
        }
        if (schema->check && schema->check(src))
                return -EINVAL;

        *ret = TAKE_PTR(o);
        return 0;
}

/* encode_field(), written straight into the text: the same bytes as the
 * object's dump. */
static int write_field(const ProtoMessage *m, JsonWriter *w, const ProtoField *f, size_t max_depth) {
        int r;

        r = field_check(m, f, max_depth);
        if (r <= 0)
                return r;
        json_writer_raw(w, ",", 1);
        json_writer_string(w, f->name, strlen(f->name));
        json_writer_raw(w, ":", 1);
        switch (f->kind) {
        case PROTO_FIELD_STRING: {
                const char *s = *(const char *const *) field_cptr(m, f);

                json_writer_string(w, s, strlen(s));
                break;
        }
        case PROTO_FIELD_INT:
                json_writer_integer(w, *(const int64_t *) field_cptr(m, f));
                break;
        case PROTO_FIELD_BOOL:
                json_writer_raw(w, "true", 4);
                break;
        case PROTO_FIELD_ANY: {
                json_t *j = *(json_t *const *) field_cptr(m, f);

                if (j)
                        json_writer_value(w, j);
                else
                        json_writer_raw(w, "{}", 2);
                break;
        }
        }
        return 0;
}

/* proto_encode_json() and its dump in one pass, without the object. A
 * Notification with a body (its members merged in) takes the object path. */
static int encode_text(const ProtoMessage *m, size_t max_depth, char **ret, size_t *ret_len) {
        _cleanup_free_ char *computed_id = NULL;
        const ProtoMessage *src = m;
        const ProtoSchema *schema = &proto_schemas[m->type];
        JsonWriter w = {};
        ProtoMessage copy;
        char *s;
        int r;

        r = message_with_id(m, &copy, &computed_id, &src);
        if (r < 0)
                return r;
        json_writer_raw(&w, "{\"v\":", 5);
        json_writer_integer(&w, PROTO_VERSION);
        json_writer_raw(&w, ",\"type\":", 8);
        json_writer_string(&w, schema->name, strlen(schema->name));
        for (size_t i = 0; i < schema->n_fields; i++) {
                r = write_field(src, &w, &schema->fields[i], max_depth);
                if (r < 0) {
                        free(json_writer_finish(&w, NULL));
                        return r;
                }
        }
        if (schema->check && schema->check(src)) {
                free(json_writer_finish(&w, NULL));
                return -EINVAL;
        }
        json_writer_raw(&w, "}", 1);
        s = json_writer_finish(&w, ret_len);
        if (!s)
                return -ENOMEM; /* as when the object's dump failed */
        *ret = s;
        return 0;
}

int proto_encode(const ProtoMessage *m, const ProtoLimits *lim, char **ret_buf, size_t *ret_len) {
        _cleanup_json_ json_t *o = NULL;
        size_t max_payload, max_depth, len;
        char *s;
        int r;

        if (!ret_buf)
                return -EINVAL;
        if (!m || m->type < 0 || m->type >= _PROTO_TYPE_MAX)
                return -EINVAL;
        limits_resolve(lim, &max_payload, &max_depth);

        if (m->type == PROTO_NOTIFICATION && m->notification.body) {
                r = proto_encode_json(m, lim, &o);
                if (r < 0)
                        return r;
                /* The text of json_dumps(o, JSON_COMPACT), faster. */
                s = json_writer_dumpn(o, &len);
                if (!s)
                        return -ENOMEM;
        } else {
                r = encode_text(m, max_depth, &s, &len);
                if (r < 0)
                        return r;
        }
        if (len > max_payload) {
                free(s);
                return -E2BIG;
        }
        *ret_buf = s;
        if (ret_len)
                *ret_len = len;
        return 0;
}

#define DEFINE_ENCODER(fn, T, enum_value, member)                                                           \
        int fn(const T *x, const ProtoLimits *lim, char **ret_buf, size_t *ret_len) {                       \
                ProtoMessage m = {.type = (enum_value)};                                                    \
                if (!x)                                                                                     \
                        return -EINVAL;                                                                     \
                m.member = *x;                                                                              \
                return proto_encode(&m, lim, ret_buf, ret_len);                                             \
        }

DEFINE_ENCODER(proto_encode_start_execution, ProtoStartExecution, PROTO_START_EXECUTION, start_execution)
DEFINE_ENCODER(proto_encode_stop_execution, ProtoStopExecution, PROTO_STOP_EXECUTION, stop_execution)
DEFINE_ENCODER(proto_encode_start_sync_execution, ProtoStartExecution, PROTO_START_SYNC_EXECUTION,
               start_execution)
DEFINE_ENCODER(proto_encode_redrive_execution, ProtoRedriveExecution, PROTO_REDRIVE_EXECUTION,
               redrive_execution)
DEFINE_ENCODER(proto_encode_update_map_run, ProtoUpdateMapRun, PROTO_UPDATE_MAP_RUN, update_map_run)
DEFINE_ENCODER(proto_encode_map_child_ended, ProtoMapChildEnded, PROTO_MAP_CHILD_ENDED, map_child_ended)
DEFINE_ENCODER(proto_encode_task, ProtoTask, PROTO_TASK, task)
DEFINE_ENCODER(proto_encode_task_succeeded, ProtoTaskSucceeded, PROTO_TASK_SUCCEEDED, task_succeeded)
DEFINE_ENCODER(proto_encode_task_failed, ProtoTaskFailed, PROTO_TASK_FAILED, task_failed)
DEFINE_ENCODER(proto_encode_task_heartbeat, ProtoTaskHeartbeat, PROTO_TASK_HEARTBEAT, task_heartbeat)
DEFINE_ENCODER(proto_encode_send_task_success, ProtoSendTaskSuccess, PROTO_SEND_TASK_SUCCESS,
               send_task_success)
DEFINE_ENCODER(proto_encode_send_task_failure, ProtoSendTaskFailure, PROTO_SEND_TASK_FAILURE,
               send_task_failure)
DEFINE_ENCODER(proto_encode_send_task_heartbeat, ProtoSendTaskHeartbeat, PROTO_SEND_TASK_HEARTBEAT,
               send_task_heartbeat)
DEFINE_ENCODER(proto_encode_timer_fired, ProtoTimerFired, PROTO_TIMER_FIRED, timer_fired)
DEFINE_ENCODER(proto_encode_execution_status_changed, ProtoExecutionStatusChanged,
               PROTO_EXECUTION_STATUS_CHANGED, execution_status_changed)
DEFINE_ENCODER(proto_encode_notification, ProtoNotification, PROTO_NOTIFICATION, notification)
DEFINE_ENCODER(proto_encode_dead_letter_message, ProtoDeadLetter, PROTO_DEAD_LETTER, dead_letter)

/* ---- dead letters ---- */

static char *base64_encode(const void *buf, size_t len) {
        static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *s = buf;
        char *out, *p;

        out = malloc(4 * ((len + 2) / 3) + 1);
        if (!out)
                return NULL;
        p = out;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t n = (uint32_t) s[i] << 16;
                if (i + 1 < len)
                        n |= (uint32_t) s[i + 1] << 8;
                if (i + 2 < len)
                        n |= s[i + 2];
                *p++ = table[(n >> 18) & 63];
                *p++ = table[(n >> 12) & 63];
                *p++ = i + 1 < len ? table[(n >> 6) & 63] : '=';
                *p++ = i + 2 < len ? table[n & 63] : '=';
        }
        *p = '\0';
        return out;
}

/* Length of the longest prefix of s[0..len) that is at most max bytes and
 * does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const unsigned char *s, size_t len, size_t max) {
        size_t n;

        if (len <= max)
                return len;
        n = max;
        /* Back off continuation bytes, then the lead byte of the cut sequence. */
        for (size_t k = 0; k < 4 && n > 0 && (s[n] & 0xc0) == 0x80; k++)
                n--;
        return n;
}

/* A valid-UTF-8 copy of untrusted text: invalid bytes and NULs become '?',
 * cut to at most max bytes. New string or NULL on OOM. */
static char *utf8_sanitize(const char *s, size_t max) {
        const unsigned char *u = (const unsigned char *) (s ? s : "");
        size_t len = strlen((const char *) u), o = 0;
        char *out;

        out = malloc((len < max ? len : max) + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < len && o < max;) {
                size_t n = u[i] < 0x80 ? 1 : u[i] >= 0xf0 ? 4 : u[i] >= 0xe0 ? 3 : 2;

                if (i + n <= len && proto_utf8_is_valid(u + i, n)) {
                        if (o + n > max)
                                break;
                        memcpy(out + o, u + i, n);
                        o += n;
                        i += n;
                } else {
                        out[o++] = '?';
                        i++;
                }
        }
        out[o] = '\0';
        return out;
}

static char *bytes_dup(const void *p, size_t n) {
        char *d = malloc(n ? n : 1);

        if (d && n)
                memcpy(d, p, n);
        return d;
}

static bool is_hex_digit(unsigned char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alnum(unsigned char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Mask buf[from, to) past its first PROTO_SECRET_SHOWN bytes. */
static void mask_span(char *buf, size_t from, size_t to) {
        for (size_t i = from + PROTO_SECRET_SHOWN; i < to; i++)
                buf[i] = '*';
}

void proto_mask_secrets(char *buf, size_t len) {
        static const char field[] = "\"taskToken\"";
        const unsigned char *u = (const unsigned char *) buf;
        size_t i, j;

        if (!buf)
                return;
        /* The values of "taskToken", whatever their shape. */
        for (i = 0; i + sizeof field - 1 <= len; i++) {
                if (memcmp(buf + i, field, sizeof field - 1) != 0)
                        continue;
                j = i + sizeof field - 1;
                while (j < len && (u[j] == ' ' || u[j] == '\t' || u[j] == '\n' || u[j] == '\r'))
                        j++;
                if (j >= len || u[j] != ':')
                        continue;
                j++;
                while (j < len && (u[j] == ' ' || u[j] == '\t' || u[j] == '\n' || u[j] == '\r'))
                        j++;
                if (j >= len || u[j] != '"')
                        continue;
                size_t start = ++j;
                while (j < len && u[j] != '"')
                        j += u[j] == '\\' ? 2 : 1;
                if (j > len)
                        j = len;
                mask_span(buf, start, j);
                i = j;
        }
        /* Anything shaped like a token or a task id (imgflow's are hex of
         * 128 random bits), wherever a workflow put it: a run of at least
         * PROTO_SECRET_HEX_MIN hex digits between non-alphanumerics. */
        for (i = 0; i < len; i = j + 1) {
                for (j = i; j < len && is_hex_digit(u[j]); j++)
                        ;
                if (j - i >= PROTO_SECRET_HEX_MIN && (i == 0 || !is_alnum(u[i - 1])) &&
                    (j == len || !is_alnum(u[j])))
                        mask_span(buf, i, j);
        }
}

int proto_encode_dead_letter(const char *reason_text, const char *topic, int32_t partition, int64_t offset,
                             const void *key, size_t key_len, const void *payload, size_t payload_len,
                             char **ret_buf, size_t *ret_len) {
        _cleanup_free_ char *reason_s = NULL, *topic_s = NULL, *key_s = NULL, *key_b64 = NULL,
                            *payload_s = NULL, *payload_b64 = NULL, *key_m = NULL, *payload_m = NULL;
        ProtoDeadLetter d = {
                .partition = partition,
                .offset = offset,
                .payload_length = (int64_t) payload_len,
        };
        size_t cut;
        int r;

        if (!ret_buf || (!key && key_len > 0) || (!payload && payload_len > 0))
                return -EINVAL;

        reason_s =
                utf8_sanitize(reason_text && *reason_text ? reason_text : "unknown", PROTO_MAX_REASON_BYTES);
        topic_s = utf8_sanitize(topic, PROTO_MAX_TOPIC_BYTES);
        if (!reason_s || !topic_s)
                return -ENOMEM;
        proto_mask_secrets(reason_s, strlen(reason_s));

        /* Tokens are masked in copies of the key and of what is kept of the
         * payload (with a margin, so that a token across the cut is seen
         * whole): a dead letter must not hand a live token to its readers. */
        if (key && key_len > 0) {
                key_m = bytes_dup(key, key_len);
                if (!key_m)
                        return -ENOMEM;
                proto_mask_secrets(key_m, key_len);
                key = key_m;
        }
        if (payload && payload_len > 0) {
                size_t keep = payload_len < PROTO_DLQ_MAX_PAYLOAD_BYTES + PROTO_MAX_ID_BYTES
                                      ? payload_len
                                      : PROTO_DLQ_MAX_PAYLOAD_BYTES + PROTO_MAX_ID_BYTES;
                payload_m = bytes_dup(payload, keep);
                if (!payload_m)
                        return -ENOMEM;
                proto_mask_secrets(payload_m, keep);
                payload = payload_m;
        }
        d.reason = reason_s;
        d.topic = topic_s;

        if (key && key_len > 0) {
                cut = key_len > PROTO_DLQ_MAX_KEY_BYTES ? PROTO_DLQ_MAX_KEY_BYTES : key_len;
                if (cut == key_len && proto_utf8_is_valid(key, key_len)) {
                        key_s = strndup(key, key_len);
                        d.key = key_s;
                } else {
                        key_b64 = base64_encode(key, cut);
                        d.key_base64 = key_b64;
                }
                if (!d.key && !d.key_base64)
                        return -ENOMEM;
        }

        d.truncated = payload_len > PROTO_DLQ_MAX_PAYLOAD_BYTES;
        cut = utf8_cut(payload ? payload : "", payload_len, PROTO_DLQ_MAX_PAYLOAD_BYTES);
        if (proto_utf8_is_valid(payload ? payload : "", cut)) {
                payload_s = strndup(payload ? payload : "", cut);
                if (!payload_s)
                        return -ENOMEM;
                d.payload = payload_s;
                r = proto_encode_dead_letter_message(&d, NULL, ret_buf, ret_len);
                if (r != -E2BIG) /* JSON escaping can make text up to 6x larger */
                        return r;
                d.payload = NULL;
        }

        cut = payload_len > PROTO_DLQ_MAX_PAYLOAD_BYTES ? PROTO_DLQ_MAX_PAYLOAD_BYTES : payload_len;
        payload_b64 = base64_encode(payload ? payload : "", cut);
        if (!payload_b64)
                return -ENOMEM;
        d.payload_base64 = payload_b64;
        return proto_encode_dead_letter_message(&d, NULL, ret_buf, ret_len);
}

/* ---- small helpers ---- */

bool proto_execution_status_is_valid(const char *status) {
        return status && one_of(proto_execution_statuses, status);
}

int proto_notification_id(const char *execution_id, const char *status, char **ret) {
        char *s;

        if (!execution_id || !*execution_id || !proto_execution_status_is_valid(status) || !ret)
                return -EINVAL;
        if (asprintf(&s, "%s#%s", execution_id, status) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

const char *proto_message_execution_id(const ProtoMessage *m) {
        if (!m)
                return NULL;
        switch (m->type) {
        case PROTO_STOP_EXECUTION:
                return m->stop_execution.execution_id;
        case PROTO_REDRIVE_EXECUTION:
                return m->redrive_execution.execution_id;
        case PROTO_UPDATE_MAP_RUN:
                return m->update_map_run.execution_id;
        case PROTO_MAP_CHILD_ENDED:
                return m->map_child_ended.execution_id;
        case PROTO_TASK:
                return m->task.execution_id;
        case PROTO_TASK_SUCCEEDED:
                return m->task_succeeded.execution_id;
        case PROTO_TASK_FAILED:
                return m->task_failed.execution_id;
        case PROTO_TASK_HEARTBEAT:
                return m->task_heartbeat.execution_id;
        case PROTO_TIMER_FIRED:
                return m->timer_fired.execution_id;
        case PROTO_EXECUTION_STATUS_CHANGED:
                return m->execution_status_changed.execution_id;
        case PROTO_NOTIFICATION:
                return m->notification.execution_id;
        default:
                return NULL;
        }
}

const char *proto_message_key(const ProtoMessage *m) {
        if (!m)
                return NULL;
        switch (m->type) {
        case PROTO_START_EXECUTION:
                return m->start_execution.name;
        case PROTO_SEND_TASK_SUCCESS:
                return m->send_task_success.task_token;
        case PROTO_SEND_TASK_FAILURE:
                return m->send_task_failure.task_token;
        case PROTO_SEND_TASK_HEARTBEAT:
                return m->send_task_heartbeat.task_token;
        case PROTO_DEAD_LETTER:
                return m->dead_letter.key;
        default:
                return proto_message_execution_id(m);
        }
}

/* ---- requests and answers ---- */

static const ProtoSchema *schema_of(ProtoType t) {
        return (unsigned) t < _PROTO_TYPE_MAX ? &proto_schemas[t] : NULL;
}

static const ProtoField *schema_field(const ProtoSchema *s, const char *name) {
        for (size_t i = 0; s && i < s->n_fields; i++)
                if (streq(s->fields[i].name, name))
                        return &s->fields[i];
        return NULL;
}

/* The string field `name` of m, or NULL. */
static const char *message_string(const ProtoMessage *m, const char *name) {
        const ProtoField *f = m ? schema_field(schema_of(m->type), name) : NULL;

        if (!f || f->kind != PROTO_FIELD_STRING)
                return NULL;
        return *(const char *const *) field_cptr(m, f);
}

const char *proto_message_request_id(const ProtoMessage *m) {
        return m && proto_response_type(m->type) ? message_string(m, "requestId") : NULL;
}

const char *proto_message_task_token(const ProtoMessage *m) {
        return message_string(m, "taskToken");
}

bool proto_type_is_callback(ProtoType t) {
        const ProtoField *f = schema_field(schema_of(t), "taskToken");
        return proto_response_type(t) && f && f->required;
}

const char *proto_response_type(ProtoType t) {
        const ProtoSchema *s = schema_of(t);
        return s ? s->response : NULL;
}

static void write_member(JsonWriter *w, const char *key, const char *value) {
        json_writer_raw(w, ",\"", 2);
        json_writer_raw(w, key, strlen(key));
        json_writer_raw(w, "\":", 2);
        json_writer_string(w, value, strlen(value));
}

int proto_encode_response(const ProtoResponse *r, char **ret_buf, size_t *ret_len) {
        const char *type = r ? proto_response_type(r->request) : NULL;
        JsonWriter w = {};
        char *text;

        if (!type || isempty(r->request_id) || (!r->error && isempty(r->execution_id)))
                return -EINVAL;
        json_writer_raw(&w, "{\"v\":1", 6);
        write_member(&w, "type", type);
        write_member(&w, "requestId", r->request_id);
        if (r->error) {
                json_writer_raw(&w, ",\"ok\":false", 11);
                write_member(&w, "error", r->error);
                write_member(&w, "cause", r->cause ?: "");
        } else {
                json_writer_raw(&w, ",\"ok\":true", 10);
                write_member(&w, "executionId", r->execution_id);
                if (r->request == PROTO_START_EXECUTION || r->request == PROTO_START_SYNC_EXECUTION) {
                        _cleanup_free_ char *arn = NULL;

                        if ((r->run_id ? asprintf(&arn, "imgflow:express:%s:%s", r->execution_id, r->run_id)
                                       : asprintf(&arn, "imgflow:execution:%s", r->execution_id)) < 0) {
                                free(json_writer_finish(&w, NULL));
                                return -ENOMEM;
                        }
                        write_member(&w, "executionArn", arn);
                        json_writer_raw(&w, ",\"startDate\":", 13);
                        json_writer_integer(&w, r->date_ms);
                }
                if (r->request == PROTO_START_SYNC_EXECUTION) {
                        json_writer_raw(&w, ",\"stopDate\":", 12);
                        json_writer_integer(&w, r->stop_ms);
                        write_member(&w, "status", r->status ?: "FAILED");
                        if (r->output)
                                write_member(&w, "output", r->output);
                        if (r->exec_error)
                                write_member(&w, "error", r->exec_error);
                        if (r->exec_cause)
                                write_member(&w, "cause", r->exec_cause);
                        json_writer_raw(&w, ",\"billedDurationInMilliseconds\":", 32);
                        json_writer_integer(&w, r->billed_ms);
                        json_writer_raw(&w, ",\"billedMemoryUsedInMB\":", 24);
                        json_writer_integer(&w, r->billed_mb);
                } else if (r->request == PROTO_STOP_EXECUTION) {
                        json_writer_raw(&w, ",\"stopDate\":", 12);
                        json_writer_integer(&w, r->date_ms);
                } else if (r->request == PROTO_REDRIVE_EXECUTION) {
                        json_writer_raw(&w, ",\"redriveDate\":", 15);
                        json_writer_integer(&w, r->date_ms);
                }
        }
        json_writer_raw(&w, "}", 1);
        text = json_writer_finish(&w, ret_len);
        if (!text)
                return w.error == -ENOMEM ? -ENOMEM : -EINVAL;
        *ret_buf = text;
        return 0;
}

static const char *const topic_names[_PROTO_TOPIC_MAX] = {
        [PROTO_TOPIC_JOBS] = "jobs",     [PROTO_TOPIC_TASKS] = "tasks",
        [PROTO_TOPIC_EVENTS] = "events", [PROTO_TOPIC_NOTIFICATIONS] = "notifications",
        [PROTO_TOPIC_DLQ] = "dlq",       [PROTO_TOPIC_LOGS] = "logs",
};

static bool topic_chars_valid(const char *s) {
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      *s == '.' || *s == '_' || *s == '-'))
                        return false;
        return true;
}

int proto_reply_to_parse(const char *s, char **ret_topic, int32_t *ret_partition) {
        const char *colon = s ? strrchr(s, ':') : NULL;
        _cleanup_free_ char *topic = NULL;
        char *end;
        long long p;

        if (!colon || colon == s || (size_t) (colon - s) > PROTO_MAX_TOPIC_BYTES || colon[1] < '0' ||
            colon[1] > '9')
                return -EINVAL;
        errno = 0;
        p = strtoll(colon + 1, &end, 10);
        if (errno || *end || p < 0 || p > INT32_MAX)
                return -EINVAL;
        topic = strndup(s, colon - s);
        if (!topic)
                return -ENOMEM;
        if (!topic_chars_valid(topic))
                return -EINVAL;
        if (ret_topic)
                *ret_topic = TAKE_PTR(topic);
        if (ret_partition)
                *ret_partition = (int32_t) p;
        return 0;
}

const char *const proto_worker_operations[] = {
        "image.validate", "image.metadata", "image.resize",  "image.thumbnail", "image.crop",
        "image.rotate",   "image.flip",     "image.filter",  "image.watermark", "image.convert",
        "image.optimize", "image.pipeline", "storage.list",  "storage.put",     "storage.items",
        "test.echo",      "test.sleep",     "test.fail",     "notify",          NULL,
};

bool proto_worker_operation_is_known(const char *name) {
        for (size_t i = 0; name && proto_worker_operations[i]; i++)
                if (strcmp(proto_worker_operations[i], name) == 0)
                        return true;
        return false;
}

int proto_topic_name(const char *prefix, ProtoTopic topic, const char *pool, char **ret) {
        char *s;
        int n;

        if (!ret || topic < 0 || topic >= _PROTO_TOPIC_MAX)
                return -EINVAL;
        if (!prefix)
                prefix = PROTO_TOPIC_PREFIX_DEFAULT;
        if (pool && (topic != PROTO_TOPIC_TASKS || !*pool))
                return -EINVAL;
        if (!topic_chars_valid(prefix) || (pool && !topic_chars_valid(pool)))
                return -EINVAL;
        n = asprintf(&s, "%s%s%s%s", prefix, topic_names[topic], pool ? "." : "", pool ? pool : "");
        if (n < 0)
                return -ENOMEM;
        if ((size_t) n > PROTO_MAX_TOPIC_BYTES || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
                free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}
