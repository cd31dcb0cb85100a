/* SPDX-License-Identifier: MIT */
/*
 * The state machine registry: definitions are validated with
 * asl_machine_parse() before they are stored; every update is a new
 * version (imgflow:sm:<name>:v<N>), so a running execution keeps the
 * version it started with. One Lua script (sm_put) makes create/update
 * atomic; deletion lets the version texts expire after the retention so
 * running executions can still finish.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "asl-definition.h"
#include "store.h"

#define STORE_DEFINITION_MAX (1024 * 1024)

int store_sm_ref_parse(const char *ref, char **ret_name, unsigned *ret_version) {
        const char *colon;
        char *name, *end;
        unsigned long v = 0;

        if (!ref)
                return -EINVAL;
        colon = strrchr(ref, ':');
        if (colon) {
                errno = 0;
                v = strtoul(colon + 1, &end, 10);
                if (errno || *end || end == colon + 1 || v == 0 || v > UINT32_MAX)
                        return -EINVAL;
                name = xstrndup(ref, colon - ref);
        } else
                name = xstrdup(ref);
        if (!store_name_is_valid(name)) {
                free(name);
                return -EINVAL;
        }
        *ret_name = name;
        *ret_version = (unsigned) v;
        return 0;
}

static int sm_put(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                  AslDiag *d, const char *mode, unsigned *ret_version) {
        _cleanup_(store_call_done) StoreCall call = { .script = STORE_SCRIPT_SM_PUT };
        _cleanup_reply_ redisReply *r = NULL;
        _cleanup_free_ char *key = NULL;
        AslMachine *m = NULL;
        const char *tag;
        int k;

        if (!store_name_is_valid(name))
                return -EINVAL;
        if (!definition || strlen(definition) > STORE_DEFINITION_MAX) {
                if (d)
                        asl_diag_add(d, "", "definition larger than %d bytes", STORE_DEFINITION_MAX);
                return -EINVAL;
        }
        {
                AslDiag local = {};
                k = asl_machine_parse(definition, strlen(definition), &m, d ? d : &local);
                asl_diag_clear(&local);
                if (k < 0)
                        return -EINVAL;
                asl_machine_free(m);
        }

        key = store_key_sm(name);
        store_argv_adds(&call.keys, key);
        store_argv_adds(&call.keys, STORE_KEY_SMS);
        store_argv_adds(&call.args, name);
        store_argv_adds(&call.args, definition);
        store_argv_addf(&call.args, "%" PRIi64, now_ms);
        store_argv_adds(&call.args, mode);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        tag = r->element[0]->str;
        if (streq(tag, "exists"))
                return -EEXIST;
        if (streq(tag, "missing"))
                return -ENOENT;
        if (ret_version)
                *ret_version = (unsigned) r->element[1]->integer;
        return 0;
}

int store_sm_create(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version) {
        return sm_put(c, name, definition, now_ms, d, "create", ret_version);
}

int store_sm_update(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version) {
        return sm_put(c, name, definition, now_ms, d, "update", ret_version);
}

void store_sm_latest_argv(const char *name, StoreArgv *ret) {
        _cleanup_free_ char *key = store_key_sm(name);

        store_argv_adds(ret, "HGET");
        store_argv_adds(ret, key);
        store_argv_adds(ret, "latestVersion");
}

void store_sm_definition_argv(const char *name, unsigned version, StoreArgv *ret) {
        _cleanup_free_ char *key = store_key_sm_version(name, version);

        store_argv_adds(ret, "GET");
        store_argv_adds(ret, key);
}

static int latest_version(redisContext *c, const char *name, unsigned *ret) {
        _cleanup_free_ char *key = store_key_sm(name);
        _cleanup_reply_ redisReply *r = redisCommand(c, "HGET %s latestVersion", key);
        int k;

        k = store_reply_string(r);
        if (k < 0)
                return k;
        *ret = (unsigned) strtoul(r->str, NULL, 10);
        return 0;
}

int store_sm_get_definition(redisContext *c, const char *name, unsigned version, char **ret_text,
                            unsigned *ret_version) {
        _cleanup_free_ char *key = NULL;
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        if (!store_name_is_valid(name))
                return -EINVAL;
        if (version == 0) {
                k = latest_version(c, name, &version);
                if (k < 0)
                        return k;
        }
        key = store_key_sm_version(name, version);
        r = redisCommand(c, "GET %s", key);
        k = store_reply_string(r);
        if (k < 0)
                return k;
        *ret_text = xstrdup(r->str);
        if (ret_version)
                *ret_version = version;
        return 0;
}

static json_t *sm_summary(redisContext *c, const char *name, int *ret_error) {
        _cleanup_free_ char *key = store_key_sm(name);
        _cleanup_reply_ redisReply *r =
                redisCommand(c, "HMGET %s latestVersion createdAt updatedAt", key);

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
                *ret_error = -EIO;
                return NULL;
        }
        if (r->element[0]->type != REDIS_REPLY_STRING) {
                *ret_error = -ENOENT;
                return NULL;
        }
        return json_pack("{s:s, s:I, s:I, s:I}", "name", name, "latestVersion",
                         (json_int_t) strtoll(r->element[0]->str, NULL, 10), "createdAt",
                         (json_int_t) (r->element[1]->type == REDIS_REPLY_STRING
                                               ? strtoll(r->element[1]->str, NULL, 10) : 0),
                         "updatedAt",
                         (json_int_t) (r->element[2]->type == REDIS_REPLY_STRING
                                               ? strtoll(r->element[2]->str, NULL, 10) : 0));
}

int store_sm_describe(redisContext *c, const char *name, unsigned version, json_t **ret) {
        _cleanup_json_ json_t *o = NULL, *def = NULL;
        _cleanup_free_ char *text = NULL;
        unsigned v;
        int k = 0;

        if (!store_name_is_valid(name))
                return -EINVAL;
        o = sm_summary(c, name, &k);
        if (!o)
                return k;
        k = store_sm_get_definition(c, name, version, &text, &v);
        if (k < 0)
                return k;
        def = json_loads(text, 0, NULL);
        json_object_set_new(o, "version", json_integer(v));
        json_object_set(o, "definition", def ? def : json_null());
        *ret = TAKE_PTR(o);
        return 0;
}

static int cmp_name(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int store_sm_list(redisContext *c, json_t **ret) {
        _cleanup_reply_ redisReply *r = redisCommand(c, "SMEMBERS %s", STORE_KEY_SMS);
        _cleanup_json_ json_t *a = json_array();
        _cleanup_free_ const char **names = NULL;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY)
                return -EBADMSG;
        names = xmalloc((r->elements + 1) * sizeof(char *));
        for (size_t i = 0; i < r->elements; i++)
                names[i] = r->element[i]->str ? r->element[i]->str : "";
        qsort(names, r->elements, sizeof(char *), cmp_name);
        for (size_t i = 0; i < r->elements && i < 10000; i++) {
                int k = 0;
                json_t *o = sm_summary(c, names[i], &k);
                if (!o) {
                        if (k == -ENOENT)
                                continue;
                        return k;
                }
                json_array_append_new(a, o);
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int store_sm_delete(redisContext *c, const char *name, int64_t retention_sec) {
        _cleanup_(store_call_done) StoreCall call = { .script = STORE_SCRIPT_SM_DELETE };
        _cleanup_reply_ redisReply *r = NULL;
        _cleanup_free_ char *key = NULL;
        int k;

        if (!store_name_is_valid(name))
                return -EINVAL;
        key = store_key_sm(name);
        store_argv_adds(&call.keys, key);
        store_argv_adds(&call.keys, STORE_KEY_SMS);
        store_argv_adds(&call.args, name);
        store_argv_addf(&call.args, "%" PRIi64,
                        retention_sec > 0 ? retention_sec : (int64_t) STORE_RETENTION_SEC_DEFAULT);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        if (r->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        return r->integer ? 0 : -ENOENT;
}
