/* SPDX-License-Identifier: MIT */
/*
 * SAM / CloudFormation templates to JSON (see sam-template.h).
 *
 * libyaml's event parser (Debian's libyaml) reads the YAML; this file only
 * builds the JSON value from the events with an explicit stack (no
 * recursion: the depth is limited, not the C stack), and types the scalars.
 * JSON templates go to jansson directly (duplicate keys refused, as
 * CloudFormation refuses them).
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "alloc-util.h"
#include "macro.h"
#include "sam-template.h"

/* Short-form tags and their long form. */
static const struct {
        const char *tag;
        const char *key;
} short_tags[] = {
        {"!Ref", "Ref"},
        {"!Condition", "Condition"},
        {"!GetAtt", "Fn::GetAtt"},
        {"!Sub", "Fn::Sub"},
        {"!Join", "Fn::Join"},
        {"!Select", "Fn::Select"},
        {"!Split", "Fn::Split"},
        {"!FindInMap", "Fn::FindInMap"},
        {"!If", "Fn::If"},
        {"!Equals", "Fn::Equals"},
        {"!Not", "Fn::Not"},
        {"!And", "Fn::And"},
        {"!Or", "Fn::Or"},
        {"!Base64", "Fn::Base64"},
        {"!Cidr", "Fn::Cidr"},
        {"!GetAZs", "Fn::GetAZs"},
        {"!ImportValue", "Fn::ImportValue"},
        {"!Transform", "Fn::Transform"},
        {"!Length", "Fn::Length"},
        {"!ToJsonString", "Fn::ToJsonString"},
};

/* The long-form key of a tag; "" for the standard tags that change nothing
 * here (!!str etc. are handled by the caller); NULL for an unknown tag. */
static const char *tag_key(const char *tag) {
        for (size_t i = 0; i < ELEMENTSOF(short_tags); i++)
                if (streq(short_tags[i].tag, tag))
                        return short_tags[i].key;
        return NULL;
}

static bool is_std_tag(const char *tag, const char *name) {
        return strncmp(tag, "tag:yaml.org,2002:", 18) == 0 && streq(tag + 18, name);
}

/* YAML 1.1 core typing of a plain scalar. New reference. */
static json_t *plain_scalar(const char *s, size_t len) {
        if (len == 0 || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL"))
                return json_null();
        if (streq(s, "true") || streq(s, "True") || streq(s, "TRUE"))
                return json_true();
        if (streq(s, "false") || streq(s, "False") || streq(s, "FALSE"))
                return json_false();
        if (strlen(s) == len && len <= 40) {
                char *end = NULL;
                const char *digits = s + (s[0] == '-' || s[0] == '+');
                if (*digits >= '0' && *digits <= '9') {
                        errno = 0;
                        long long v = strtoll(s, &end, 10);
                        /* a leading 0 is octal in YAML 1.1: keep those as strings */
                        if (end && *end == 0 && errno == 0 && !(digits[0] == '0' && digits[1]))
                                return json_integer(v);
                        errno = 0;
                        double d = strtod(s, &end);
                        if (end && *end == 0 && errno == 0 && isfinite(d) && strpbrk(s, ".eE") &&
                            !strpbrk(s, "xXnNiI"))
                                return json_real(d);
                }
        }
        return json_stringn(s, len);
}

typedef struct Frame {
        json_t *value;   /* object or array being filled */
        char *key;       /* mapping: the key waiting for its value */
        const char *tag; /* long-form key to wrap the finished value in, or NULL */
        size_t line;
} Frame;

typedef struct Builder {
        Frame stack[SAM_TEMPLATE_DEPTH_MAX + 1];
        size_t depth;
        size_t nodes;
        json_t *root;
        char *error;
} Builder;

static int builder_fail(Builder *b, const yaml_event_t *ev, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int builder_fail(Builder *b, const yaml_event_t *ev, const char *fmt, ...) {
        va_list ap;
        char *msg = NULL;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!b->error)
                b->error = xasprintf("line %zu, column %zu: %s", ev ? ev->start_mark.line + 1 : 0,
                                     ev ? ev->start_mark.column + 1 : 0, msg ? msg : "invalid");
        free(msg);
        return -EINVAL;
}

/* Wraps v (stolen) in {key: v} when tag says so. New reference or NULL. */
static json_t *wrap(json_t *v, const char *key) {
        if (!key || !v)
                return v;
        if (streq(key, "Fn::GetAtt") && json_is_string(v)) {
                /* !GetAtt Resource.Attribute (the attribute may hold dots) */
                const char *s = json_string_value(v);
                const char *dot = strchr(s, '.');
                json_t *a = dot ? json_pack("[s#, s]", s, (int) (dot - s), dot + 1) : json_pack("[O]", v);
                json_decref(v);
                v = a;
                if (!v)
                        return NULL;
        }
        json_t *o = json_object();
        if (!o || json_object_set_new(o, key, v) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* Adds v (stolen) to the current container, or makes it the root. */
static int builder_add(Builder *b, const yaml_event_t *ev, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (++b->nodes > SAM_TEMPLATE_NODES_MAX) {
                json_decref(v);
                builder_fail(b, ev, "more than %d values", SAM_TEMPLATE_NODES_MAX);
                return -E2BIG;
        }
        if (b->depth == 0) {
                if (b->root) {
                        json_decref(v);
                        return builder_fail(b, ev, "more than one document");
                }
                b->root = v;
                return 0;
        }
        Frame *f = &b->stack[b->depth - 1];
        if (json_is_array(f->value))
                return json_array_append_new(f->value, v) < 0 ? -ENOMEM : 0;
        if (!f->key) {
                /* a key: scalars only */
                if (!json_is_string(v) && !json_is_integer(v) && !json_is_real(v) && !json_is_boolean(v) &&
                    !json_is_null(v)) {
                        json_decref(v);
                        return builder_fail(b, ev, "a mapping key must be a scalar");
                }
                if (json_is_string(v))
                        f->key = xstrndup(json_string_value(v), json_string_length(v));
                else {
                        char *k = json_dumps(v, JSON_ENCODE_ANY);
                        f->key = k ? k : xstrdup("");
                }
                json_decref(v);
                if (json_object_get(f->value, f->key))
                        return builder_fail(b, ev, "duplicate key \"%.100s\"", f->key);
                return 0;
        }
        int r = json_object_set_new(f->value, f->key, v) < 0 ? -ENOMEM : 0;
        free(f->key);
        f->key = NULL;
        return r;
}

static int builder_push(Builder *b, const yaml_event_t *ev, json_t *container, const char *tag) {
        if (!container)
                return -ENOMEM;
        if (b->depth >= SAM_TEMPLATE_DEPTH_MAX) {
                json_decref(container);
                builder_fail(b, ev, "nested more than %d levels", SAM_TEMPLATE_DEPTH_MAX);
                return -E2BIG;
        }
        b->stack[b->depth++] = (Frame){.value = container, .key = NULL, .tag = tag};
        return 0;
}

static int builder_pop(Builder *b, const yaml_event_t *ev) {
        Frame f = b->stack[--b->depth];
        free(f.key);
        return builder_add(b, ev, wrap(f.value, f.tag));
}

/* The long-form key of an event's tag: NULL for none or a standard one;
 * *ret_unknown set for a tag we do not know. */
static const char *event_tag(const yaml_char_t *tag, bool *ret_unknown, bool *ret_str) {
        *ret_unknown = false;
        *ret_str = false;
        if (!tag)
                return NULL;
        const char *t = (const char *) tag;
        if (is_std_tag(t, "str")) {
                *ret_str = true;
                return NULL;
        }
        if (is_std_tag(t, "map") || is_std_tag(t, "seq") || is_std_tag(t, "int") || is_std_tag(t, "float") ||
            is_std_tag(t, "bool") || is_std_tag(t, "null"))
                return NULL;
        const char *k = tag_key(t);
        if (!k)
                *ret_unknown = true;
        return k;
}

static void builder_done(Builder *b) {
        while (b->depth > 0) {
                Frame *f = &b->stack[--b->depth];
                free(f->key);
                json_decref(f->value);
        }
        json_decref(b->root);
        b->root = NULL;
}

static int parse_yaml(const char *text, size_t len, json_t **ret, char **ret_error) {
        yaml_parser_t parser;
        Builder b = {};
        bool done = false;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
        while (!done && r >= 0) {
                yaml_event_t ev;
                if (!yaml_parser_parse(&parser, &ev)) {
                        b.error = xasprintf("line %zu, column %zu: %s%s%s", parser.problem_mark.line + 1,
                                            parser.problem_mark.column + 1,
                                            parser.problem ? parser.problem : "invalid YAML",
                                            parser.context ? " " : "", parser.context ? parser.context : "");
                        r = -EINVAL;
                        break;
                }
                bool unknown = false, str = false;
                const char *key = NULL;
                switch (ev.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_ALIAS_EVENT:
                        r = builder_fail(&b, &ev, "YAML aliases (*%s) are not supported",
                                         ev.data.alias.anchor ? (const char *) ev.data.alias.anchor : "");
                        break;
                case YAML_SCALAR_EVENT: {
                        if (ev.data.scalar.anchor) {
                                r = builder_fail(&b, &ev, "YAML anchors (&%s) are not supported",
                                                 (const char *) ev.data.scalar.anchor);
                                break;
                        }
                        key = event_tag(ev.data.scalar.tag, &unknown, &str);
                        if (unknown) {
                                r = builder_fail(&b, &ev, "unknown tag %.64s",
                                                 (const char *) ev.data.scalar.tag);
                                break;
                        }
                        const char *s = (const char *) ev.data.scalar.value;
                        size_t n = ev.data.scalar.length;
                        /* "\0" in a double-quoted scalar: JSON templates refuse
                         * \u0000 too (jansson), and no ASL or Lambda field holds one */
                        if (memchr(s, 0, n)) {
                                r = builder_fail(&b, &ev, "a string holds a NUL character (\\0)");
                                break;
                        }
                        json_t *v = (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !str && !key)
                                            ? plain_scalar(s, n)
                                            : json_stringn(s, n);
                        if (key && streq(key, "Fn::GetAZs") && n == 0) {
                                json_decref(v);
                                v = json_string("");
                        }
                        r = builder_add(&b, &ev, wrap(v, key));
                        break;
                }
                case YAML_SEQUENCE_START_EVENT:
                case YAML_MAPPING_START_EVENT: {
                        bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
                        const yaml_char_t *anchor =
                                seq ? ev.data.sequence_start.anchor : ev.data.mapping_start.anchor;
                        if (anchor) {
                                r = builder_fail(&b, &ev, "YAML anchors (&%s) are not supported",
                                                 (const char *) anchor);
                                break;
                        }
                        key = event_tag(seq ? ev.data.sequence_start.tag : ev.data.mapping_start.tag,
                                        &unknown, &str);
                        if (unknown) {
                                r = builder_fail(&b, &ev, "unknown tag %.64s",
                                                 (const char *) (seq ? ev.data.sequence_start.tag
                                                                     : ev.data.mapping_start.tag));
                                break;
                        }
                        if (b.depth == 0 && b.root) {
                                r = builder_fail(&b, &ev, "more than one document");
                                break;
                        }
                        r = builder_push(&b, &ev, seq ? json_array() : json_object(), key);
                        break;
                }
                case YAML_SEQUENCE_END_EVENT:
                case YAML_MAPPING_END_EVENT:
                        r = builder_pop(&b, &ev);
                        break;
                default:
                        break;
                }
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&parser);
        if (r < 0) {
                *ret_error = b.error ? b.error : xstrdup(r == -ENOMEM ? "out of memory" : "invalid YAML");
                b.error = NULL;
                builder_done(&b);
                return r;
        }
        free(b.error);
        if (!b.root || !json_is_object(b.root)) {
                builder_done(&b);
                *ret_error = xstrdup("the template is not a mapping");
                return -EINVAL;
        }
        *ret = b.root;
        return 0;
}

int sam_template_parse(const char *text, size_t len, json_t **ret, char **ret_error) {
        if (len > SAM_TEMPLATE_MAX) {
                *ret_error =
                        xasprintf("the template has %zu bytes, over the limit of %d", len, SAM_TEMPLATE_MAX);
                return -E2BIG;
        }
        size_t i = 0;
        while (i < len && strchr(" \t\r\n", text[i]))
                i++;
        if (i < len && text[i] == '{') {
                json_error_t e;
                json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
                if (!v) {
                        *ret_error = xasprintf("line %d, column %d: %s", e.line, e.column, e.text);
                        return -EINVAL;
                }
                *ret = v;
                return 0;
        }
        return parse_yaml(text, len, ret, ret_error);
}
