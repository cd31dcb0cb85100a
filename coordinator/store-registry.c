/* SPDX-License-Identifier: MIT */
/*
 * The state machine registry: definitions are validated with
 * asl_machine_parse() before they are stored; every update is a new
 * version (imgflow:sm:<name>:v<N>), so a running execution keeps the
 * version it started with. One Lua script (sm_put) makes create/update
 * atomic; deletion lets the version texts expire after the retention so
 * running executions can still finish. Describing a version (sm_describe)
 * and a page of machines by name (sm_list) are one script each. Every
 * operation is a builder and a parser (imgflow-api runs them on its
 * asynchronous connection), and the CLI's synchronous functions run the
 * same.
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

int store_sm_put_call(const char *name, const char *definition, int64_t now_ms, bool update,
                      const char *role_arn, StoreCall *ret) {
        _cleanup_free_ char *key = NULL;

        if (!store_name_is_valid(name) || !definition || strlen(definition) > STORE_DEFINITION_MAX)
                return -EINVAL;
        *ret = (StoreCall) { .script = STORE_SCRIPT_SM_PUT };
        key = store_key_sm(name);
        store_argv_adds(&ret->keys, key);
        store_argv_adds(&ret->keys, STORE_KEY_SMS);
        store_argv_adds(&ret->args, name);
        store_argv_adds(&ret->args, definition);
        store_argv_addf(&ret->args, "%" PRIi64, now_ms);
        store_argv_adds(&ret->args, update ? "update" : "create");
        store_argv_adds(&ret->args, role_arn ? role_arn : "");
        return 0;
}

int store_sm_put_parse(const redisReply *r, unsigned *ret_version, int64_t *ret_created_ms) {
        const char *tag;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        tag = r->element[0]->str;
        if (streq(tag, "exists"))
                return -EEXIST;
        if (streq(tag, "missing"))
                return -ENOENT;
        if (ret_version)
                *ret_version = (unsigned) r->element[1]->integer;
        if (ret_created_ms)
                *ret_created_ms = r->elements > 2 && r->element[2]->type == REDIS_REPLY_STRING
                                          ? strtoll(r->element[2]->str, NULL, 10)
                                          : 0;
        return 0;
}

static int sm_put(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                  AslDiag *d, bool update, unsigned *ret_version) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        AslMachine *m = NULL;
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

        k = store_sm_put_call(name, definition, now_ms, update, /* role_arn= */ NULL, &call);
        if (k < 0)
                return k;
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_sm_put_parse(r, ret_version, NULL);
}

int store_sm_create(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version) {
        return sm_put(c, name, definition, now_ms, d, /* update= */ false, ret_version);
}

int store_sm_update(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version) {
        return sm_put(c, name, definition, now_ms, d, /* update= */ true, ret_version);
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

void store_machine_done(StoreMachine *m) {
        free(m->role_arn);
        free(m->definition);
        *m = (StoreMachine) {};
}

int store_sm_describe_call(const char *name, unsigned version, StoreCall *ret) {
        _cleanup_free_ char *key = NULL;

        if (!store_name_is_valid(name))
                return -EINVAL;
        *ret = (StoreCall) { .script = STORE_SCRIPT_SM_DESCRIBE };
        key = store_key_sm(name);
        store_argv_adds(&ret->keys, key);
        store_argv_addf(&ret->args, "%u", version);
        return 0;
}

static const char *elem(const redisReply *r, size_t i) {
        if (i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
                return NULL;
        return r->element[i]->str;
}

int store_sm_describe_parse(const redisReply *r, StoreMachine *ret) {
        const char *tag, *role;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !(tag = elem(r, 0)))
                return -EBADMSG;
        if (streq(tag, "missing"))
                return -ENOENT;
        if (r->elements != 7 || r->element[1]->type != REDIS_REPLY_INTEGER || !elem(r, 6))
                return -EBADMSG;
        role = elem(r, 5);
        *ret = (StoreMachine) {
                .version = (unsigned) r->element[1]->integer,
                .latest_version = (unsigned) strtoul(elem(r, 2) ?: "0", NULL, 10),
                .created_ms = strtoll(elem(r, 3) ?: "0", NULL, 10),
                .updated_ms = strtoll(elem(r, 4) ?: "0", NULL, 10),
                .role_arn = role && *role ? xstrdup(role) : NULL,
                .definition = xstrndup(r->element[6]->str, r->element[6]->len),
        };
        return 0;
}

static int sm_describe_sync(redisContext *c, const char *name, unsigned version, StoreMachine *ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        k = store_sm_describe_call(name, version, &call);
        if (k < 0)
                return k;
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_sm_describe_parse(r, ret);
}

int store_sm_get_definition(redisContext *c, const char *name, unsigned version, char **ret_text,
                            unsigned *ret_version) {
        _cleanup_(store_machine_done) StoreMachine m = {};
        int k;

        k = sm_describe_sync(c, name, version, &m);
        if (k < 0)
                return k;
        *ret_text = TAKE_PTR(m.definition);
        if (ret_version)
                *ret_version = m.version;
        return 0;
}

int store_sm_describe(redisContext *c, const char *name, unsigned version, json_t **ret) {
        _cleanup_(store_machine_done) StoreMachine m = {};
        json_t *def;
        int k;

        k = sm_describe_sync(c, name, version, &m);
        if (k < 0)
                return k;
        if (m.latest_version == 0)
                return -ENOENT; /* deleted: its versions only serve running executions */
        def = json_loads(m.definition, 0, NULL);
        *ret = json_pack("{s:s, s:I, s:I, s:o, s:I, s:I}", "name", name, "version", (json_int_t) m.version,
                         "latestVersion", (json_int_t) m.latest_version, "definition", def ? def : json_null(),
                         "createdAt", (json_int_t) m.created_ms, "updatedAt", (json_int_t) m.updated_ms);
        if (m.role_arn)
                json_object_set_new(*ret, "roleArn", json_string(m.role_arn));
        return 0;
}

void store_sm_list_call(const char *after, size_t limit, StoreCall *ret) {
        *ret = (StoreCall) { .script = STORE_SCRIPT_SM_LIST };
        store_argv_adds(&ret->keys, STORE_KEY_SMS);
        store_argv_adds(&ret->args, after ? after : "");
        store_argv_addf(&ret->args, "%zu", limit);
}

int store_sm_list_parse(const redisReply *r, json_t **ret_items, bool *ret_more) {
        _cleanup_json_ json_t *a = NULL;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_INTEGER ||
            (r->elements - 1) % 4 != 0)
                return -EBADMSG;
        a = json_array();
        for (size_t i = 1; i < r->elements; i += 4) {
                if (!elem(r, i) || !elem(r, i + 1) || !elem(r, i + 2) || !elem(r, i + 3))
                        return -EBADMSG;
                json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I}", "name", elem(r, i), "latestVersion",
                                                   (json_int_t) strtoll(elem(r, i + 1), NULL, 10), "createdAt",
                                                   (json_int_t) strtoll(elem(r, i + 2), NULL, 10), "updatedAt",
                                                   (json_int_t) strtoll(elem(r, i + 3), NULL, 10)));
        }
        *ret_items = TAKE_PTR(a);
        if (ret_more)
                *ret_more = r->element[0]->integer != 0;
        return 0;
}

int store_sm_list(redisContext *c, json_t **ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_sm_list_call(NULL, 10000, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_sm_list_parse(r, ret, NULL);
}

void store_sm_set_role_call(const char *name, const char *role_arn, StoreCall *ret) {
        _cleanup_free_ char *key = store_key_sm(name);

        *ret = (StoreCall) { .script = STORE_SCRIPT_SM_SET_ROLE };
        store_argv_adds(&ret->keys, key);
        store_argv_adds(&ret->args, role_arn);
}

int store_sm_set_role_parse(const redisReply *r) {
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        return r->integer ? 0 : -ENOENT;
}

int store_sm_delete_call(const char *name, int64_t retention_sec, StoreCall *ret) {
        _cleanup_free_ char *key = NULL;

        if (!store_name_is_valid(name))
                return -EINVAL;
        *ret = (StoreCall) { .script = STORE_SCRIPT_SM_DELETE };
        key = store_key_sm(name);
        store_argv_adds(&ret->keys, key);
        store_argv_adds(&ret->keys, STORE_KEY_SMS);
        store_argv_adds(&ret->args, name);
        store_argv_addf(&ret->args, "%" PRIi64,
                        retention_sec > 0 ? retention_sec : (int64_t) STORE_RETENTION_SEC_DEFAULT);
        return 0;
}

int store_sm_delete_parse(const redisReply *r) {
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        return r->integer ? 0 : -ENOENT;
}

int store_sm_delete(redisContext *c, const char *name, int64_t retention_sec) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        k = store_sm_delete_call(name, retention_sec, &call);
        if (k < 0)
                return k;
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_sm_delete_parse(r);
}
