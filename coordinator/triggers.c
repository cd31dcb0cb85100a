/* SPDX-License-Identifier: MIT */

/*
 * Triggers (see triggers.h): rules, S3 event records, derived names. Pure.
 *
 * Matching is a scan of the rules for every record: a deployment has a
 * handful of rules (at most TRIGGERS_RULES_MAX), and a record is matched
 * against each one's bucket, prefix and suffix with memcmp, so there is
 * nothing to gain from an index.
 */

#include "triggers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "format.h"
#include "hash.h"
#include "json-writer.h"
#include "macro.h"

typedef struct TriggerRule {
        char *name, *bucket, *prefix, *suffix, *state_machine;
} TriggerRule;

typedef struct BucketAlias {
        char *remote, *local;
} BucketAlias;

struct Triggers {
        TriggerRule *rules;
        size_t n_rules;
        BucketAlias *aliases;
        size_t n_aliases;
        bool plain_keys;
};

void triggers_set_plain_keys(Triggers *t, bool plain) {
        t->plain_keys = plain;
}

int triggers_new(Triggers **ret) {
        *ret = xmalloc(sizeof(Triggers));
        **ret = (Triggers){};
        return 0;
}

static void rule_done(TriggerRule *r) {
        free(r->name);
        free(r->bucket);
        free(r->prefix);
        free(r->suffix);
        free(r->state_machine);
}

Triggers *triggers_free(Triggers *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rules; i++)
                rule_done(&t->rules[i]);
        free(t->rules);
        for (size_t i = 0; i < t->n_aliases; i++) {
                free(t->aliases[i].remote);
                free(t->aliases[i].local);
        }
        free(t->aliases);
        free(t);
        return NULL;
}

size_t triggers_n_rules(const Triggers *t) {
        return t ? t->n_rules : 0;
}

int triggers_add_rule(Triggers *t, const char *name, const char *spec, char **ret_error) {
        _cleanup_free_ char *copy = xstrdup(spec);
        TriggerRule r = {};
        char *save = NULL;

        if (t->n_rules >= TRIGGERS_RULES_MAX) {
                *ret_error = xasprintf("more than %d trigger rules", TRIGGERS_RULES_MAX);
                return -E2BIG;
        }
        for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
                char *eq = strchr(tok, '=');
                char **field = NULL;

                if (eq) {
                        *eq = '\0';
                        if (streq(tok, "bucket"))
                                field = &r.bucket;
                        else if (streq(tok, "prefix"))
                                field = &r.prefix;
                        else if (streq(tok, "suffix"))
                                field = &r.suffix;
                        else if (streq(tok, "state_machine"))
                                field = &r.state_machine;
                }
                if (!field || *field) {
                        *ret_error = xasprintf("trigger %s: %s \"%s\" (expected bucket=, prefix=, suffix=, "
                                               "state_machine=, each once)",
                                               name, field ? "repeated" : "unknown word", tok);
                        rule_done(&r);
                        return -EINVAL;
                }
                *field = xstrdup(eq + 1);
        }
        if (isempty(r.bucket) || isempty(r.state_machine)) {
                *ret_error = xasprintf("trigger %s: bucket= and state_machine= are required", name);
                rule_done(&r);
                return -EINVAL;
        }
        if ((r.prefix && strlen(r.prefix) > TRIGGERS_KEY_MAX) ||
            (r.suffix && strlen(r.suffix) > TRIGGERS_KEY_MAX)) {
                *ret_error = xasprintf("trigger %s: prefix or suffix longer than %d bytes", name,
                                       TRIGGERS_KEY_MAX);
                rule_done(&r);
                return -EINVAL;
        }
        r.name = xstrdup(name);
        t->rules = xrealloc(t->rules, (t->n_rules + 1) * sizeof(*t->rules));
        t->rules[t->n_rules++] = r;
        return 0;
}

int triggers_add_bucket_alias(Triggers *t, const char *remote, const char *local) {
        t->aliases = xrealloc(t->aliases, (t->n_aliases + 1) * sizeof(*t->aliases));
        t->aliases[t->n_aliases++] = (BucketAlias){xstrdup(remote), xstrdup(local)};
        return 0;
}

static const char *local_bucket(const Triggers *t, const char *remote) {
        for (size_t i = 0; i < t->n_aliases; i++)
                if (streq(t->aliases[i].remote, remote))
                        return t->aliases[i].local;
        return remote;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int trigger_key_decode(const char *in, char **ret, size_t *ret_len) {
        size_t n = strlen(in), o = 0;
        _cleanup_free_ char *out = xmalloc(n + 1);

        for (size_t i = 0; i < n; i++) {
                if (in[i] == '+')
                        out[o++] = ' ';
                else if (in[i] == '%') {
                        int hi, lo;
                        if (i + 2 >= n)
                                return -EINVAL;
                        hi = hexval(in[i + 1]);
                        lo = hexval(in[i + 2]);
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EINVAL;
                        out[o++] = (char) (hi * 16 + lo);
                        i += 2;
                } else
                        out[o++] = in[i];
        }
        out[o] = '\0';
        *ret_len = o;
        *ret = TAKE_PTR(out);
        return 0;
}

void trigger_execution_name(const char *bucket, const char *key, size_t key_len, const char *etag,
                            char ret[static TRIGGER_NAME_MAX + 1]) {
        const char *base = key, *slash;
        size_t blen, o = 0, n1 = strlen(bucket) + 1, n3 = strlen(etag) + 1;
        _cleanup_free_ char *buf = xmalloc(n1 + key_len + 1 + n3);
        char hex[HASH_HEX_MAX];

        while ((slash = memchr(base, '/', key_len - (size_t) (base - key))))
                base = slash + 1;
        blen = key_len - (size_t) (base - key);
        for (size_t i = 0; i < blen && o < 40; i++) {
                char c = base[i];
                ret[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                           c == '.' || c == '_' || c == '-'
                                   ? c
                                   : '_';
        }
        if (o > 0)
                ret[o++] = '-';

        memcpy(buf, bucket, n1);
        memcpy(buf + n1, key, key_len);
        buf[n1 + key_len] = '\0';
        memcpy(buf + n1 + key_len + 1, etag, n3);
        hash_hex(HASH_SHA256, buf, n1 + key_len + 1 + n3, hex);
        memcpy(ret + o, hex, 20);
        ret[o + 20] = '\0';
}

/* S3 keys are UTF-8; a decoded key that is not (its %XX escapes can spell
 * any bytes) would be no JSON string, and no key of any service. */
static bool utf8_valid(const char *s, size_t n) {
        for (size_t i = 0; i < n;) {
                size_t k = (unsigned char) s[i] < 0x80 ? 1
                                                       : utf8_sequence((const unsigned char *) s + i, n - i);
                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}

static bool has_affix(const char *key, size_t n, const char *prefix, const char *suffix) {
        size_t p = prefix ? strlen(prefix) : 0, s = suffix ? strlen(suffix) : 0;
        return n >= p && n >= s && (p == 0 || memcmp(key, prefix, p) == 0) &&
               (s == 0 || memcmp(key + n - s, suffix, s) == 0);
}

static void add_start(TriggerMatch *m, const TriggerRule *r, const char *bucket, const char *key,
                      size_t key_len, json_int_t size, const char *etag) {
        TriggerStart *s;

        m->starts = xrealloc(m->starts, (m->n_starts + 1) * sizeof(*m->starts));
        s = &m->starts[m->n_starts++];
        *s = (TriggerStart){.state_machine = xstrdup(r->state_machine), .rule = xstrdup(r->name)};
        trigger_execution_name(bucket, key, key_len, etag, s->name);
        s->input = json_pack("{s:s, s:s%, s:I, s:s}", "bucket", bucket, "key", key, key_len, "size", size,
                             "eTag", etag);
        if (!s->input)
                abort();
}

void trigger_match_done(TriggerMatch *m) {
        for (size_t i = 0; i < m->n_starts; i++) {
                free(m->starts[i].state_machine);
                free(m->starts[i].rule);
                json_decref(m->starts[i].input);
        }
        free(m->starts);
        *m = (TriggerMatch){};
}

static int bad(char **ret_error, size_t i, const char *what) {
        *ret_error = xasprintf("Records[%zu]: %s", i, what);
        return -EBADMSG;
}

int triggers_match(const Triggers *t, const char *payload, size_t len, TriggerMatch *ret, char **ret_error) {
        json_error_t jerr;
        json_t *doc, *records, *rec;
        TriggerMatch m = {};
        size_t i;
        int r = 0;

        *ret = (TriggerMatch){};
        doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc || !json_is_object(doc)) {
                *ret_error = xasprintf("not a JSON object: %s", doc ? "another value" : jerr.text);
                json_decref(doc);
                return -EBADMSG;
        }
        records = json_object_get(doc, "Records");
        if (!records) {
                /* S3's s3:TestEvent, and anything else without records. */
                ret->n_ignored = 1;
                json_decref(doc);
                return 0;
        }
        if (!json_is_array(records) || json_array_size(records) > TRIGGERS_RECORDS_MAX) {
                *ret_error =
                        xasprintf("Records must be an array of at most %d records", TRIGGERS_RECORDS_MAX);
                json_decref(doc);
                return -EBADMSG;
        }
        json_array_foreach (records, i, rec) {
                const char *event = json_string_value(json_object_get(rec, "eventName"));
                json_t *s3 = json_object_get(rec, "s3");
                json_t *obj = json_object_get(s3, "object");
                const char *bucket =
                        json_string_value(json_object_get(json_object_get(s3, "bucket"), "name"));
                const char *raw_key = json_string_value(json_object_get(obj, "key"));
                json_t *size = json_object_get(obj, "size");
                const char *etag = json_string_value(json_object_get(obj, "eTag"));
                _cleanup_free_ char *key = NULL, *etag_clean = NULL;
                size_t key_len, el;
                bool matched = false;

                if (!json_is_object(rec) || !event) {
                        r = bad(ret_error, i, "not a record with an eventName");
                        break;
                }
                if (strncmp(event, "s3:", 3) == 0)
                        event += 3;
                if (strncmp(event, "ObjectCreated:", 14) != 0) {
                        m.n_ignored++;
                        continue;
                }
                if (!bucket || !raw_key || !*raw_key) {
                        r = bad(ret_error, i, "s3.bucket.name and s3.object.key are required");
                        break;
                }
                if (t->plain_keys) {
                        key = xstrdup(raw_key);
                        key_len = strlen(key);
                }
                if (strlen(raw_key) > 3 * TRIGGERS_KEY_MAX ||
                    (!t->plain_keys && trigger_key_decode(raw_key, &key, &key_len) < 0) ||
                    key_len > TRIGGERS_KEY_MAX) {
                        r = bad(ret_error, i,
                                "s3.object.key is not a URL-encoded key of at most 1024 bytes");
                        break;
                }
                if (!utf8_valid(key, key_len)) {
                        r = bad(ret_error, i, "s3.object.key is not UTF-8");
                        break;
                }
                if (size && !json_is_integer(size)) {
                        r = bad(ret_error, i, "s3.object.size is not an integer");
                        break;
                }
                /* The eTag without quotes (some stores keep them). */
                etag_clean = xstrdup(strempty(etag));
                el = strlen(etag_clean);
                if (el >= 2 && etag_clean[0] == '"' && etag_clean[el - 1] == '"') {
                        memmove(etag_clean, etag_clean + 1, el - 2);
                        etag_clean[el - 2] = '\0';
                }
                if (strlen(etag_clean) > TRIGGERS_ETAG_MAX) {
                        r = bad(ret_error, i, "s3.object.eTag is too long");
                        break;
                }
                m.n_created++;
                const char *local = local_bucket(t, bucket);
                for (size_t k = 0; k < t->n_rules; k++) {
                        const TriggerRule *rule = &t->rules[k];
                        if (!streq(rule->bucket, local) ||
                            !has_affix(key, key_len, rule->prefix, rule->suffix))
                                continue;
                        add_start(&m, rule, local, key, key_len, size ? json_integer_value(size) : 0,
                                  etag_clean);
                        matched = true;
                }
                if (!matched)
                        m.n_unmatched++;
        }
        json_decref(doc);
        if (r < 0) {
                trigger_match_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}
