/* SPDX-License-Identifier: MIT */
/*
 * The access keys file (see keys.h): parsed once at start (and on SIGHUP),
 * kept sorted by key id for a binary search per request. Secrets are wiped
 * when the set is freed.
 */

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "alloc-util.h"
#include "keys.h"

struct KeySet {
        ApiKey *keys;
        size_t n;
};

static void key_done(ApiKey *k) {
        free(k->access_key_id);
        if (k->secret) {
                explicit_bzero(k->secret, strlen(k->secret));
                free(k->secret);
        }
        free(k->user);
        iam_policy_free(k->policy);
        *k = (ApiKey){};
}

KeySet *keys_free(KeySet *k) {
        if (!k)
                return NULL;
        for (size_t i = 0; i < k->n; i++)
                key_done(&k->keys[i]);
        free(k->keys);
        free(k);
        return NULL;
}

static int keys_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int keys_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        free(*ret_error);
        *ret_error = xvasprintf(fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool key_id_valid(const char *s) {
        size_t n = strlen(s);

        if (n < 16 || n > 128)
                return false;
        for (; *s; s++)
                if (!isupper((unsigned char) *s) && !isdigit((unsigned char) *s))
                        return false;
        return true;
}

static bool user_valid(const char *s) {
        size_t n = strlen(s);

        if (n < 1 || n > 64)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("+=,.@_-", *s))
                        return false;
        return true;
}

static int cmp_key(const void *a, const void *b) {
        return strcmp(((const ApiKey *) a)->access_key_id, ((const ApiKey *) b)->access_key_id);
}

int keys_parse(const char *text, size_t len, KeySet **ret, char **ret_error) {
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_(keys_freep) KeySet *set = NULL;
        json_error_t je;
        json_t *list, *e;
        size_t i;

        if (len > KEYS_FILE_MAX)
                return keys_error(ret_error, "larger than %d bytes", KEYS_FILE_MAX);
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc)
                return keys_error(ret_error, "not JSON: %s (line %d)", je.text, je.line);
        list = json_object_get(doc, "keys");
        if (!json_is_object(doc) || !json_is_array(list))
                return keys_error(ret_error, "expected {\"keys\": [...]}");
        if (json_array_size(list) > KEYS_MAX)
                return keys_error(ret_error, "more than %d keys", KEYS_MAX);

        set = xmalloc(sizeof *set);
        *set = (KeySet){.keys = xmalloc((json_array_size(list) + 1) * sizeof(ApiKey))};
        json_array_foreach (list, i, e) {
                const char *id = json_string_value(json_object_get(e, "accessKeyId"));
                const char *secret = json_string_value(json_object_get(e, "secretAccessKey"));
                const char *user = json_string_value(json_object_get(e, "user"));
                json_t *policy = json_object_get(e, "policy");
                _cleanup_free_ char *perr = NULL;
                ApiKey k = {};
                const char *field;
                json_t *v;

                if (!json_is_object(e))
                        return keys_error(ret_error, "key %zu: expected an object", i);
                json_object_foreach (e, field, v)
                        if (!streq(field, "accessKeyId") && !streq(field, "secretAccessKey") &&
                            !streq(field, "user") && !streq(field, "policy"))
                                return keys_error(ret_error, "key %zu: unknown field %s", i, field);
                if (!id || !key_id_valid(id))
                        return keys_error(ret_error,
                                          "key %zu: accessKeyId must have 16..128 characters A-Z, 0-9", i);
                if (!secret || strlen(secret) < 16 || strlen(secret) > 1024)
                        return keys_error(ret_error, "key %s: secretAccessKey must have 16..1024 characters",
                                          id);
                if (json_object_get(e, "user") && (!user || !user_valid(user)))
                        return keys_error(
                                ret_error,
                                "key %s: user must have 1..64 characters: letters, digits, +=,.@_-", id);
                if (!policy)
                        return keys_error(ret_error, "key %s: no policy (nothing would be allowed)", id);
                if (iam_policy_parse(policy, &k.policy, &perr) < 0)
                        return keys_error(ret_error, "key %s: policy: %s", id, perr);
                k.access_key_id = xstrdup(id);
                k.secret = xstrdup(secret);
                k.user = xstrdup(user ? user : id);
                set->keys[set->n++] = k;
        }
        qsort(set->keys, set->n, sizeof(ApiKey), cmp_key);
        for (i = 1; i < set->n; i++)
                if (streq(set->keys[i - 1].access_key_id, set->keys[i].access_key_id))
                        return keys_error(ret_error, "key %s appears twice", set->keys[i].access_key_id);
        *ret = TAKE_PTR(set);
        return 0;
}

const ApiKey *keys_find(const KeySet *k, const char *access_key_id) {
        ApiKey probe = {.access_key_id = (char *) access_key_id};

        if (!k || !access_key_id)
                return NULL;
        return bsearch(&probe, k->keys, k->n, sizeof(ApiKey), cmp_key);
}

size_t keys_count(const KeySet *k) {
        return k ? k->n : 0;
}
