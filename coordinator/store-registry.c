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
        return store_sm_put_call_extra(name, definition, now_ms, update,
                                       &(StoreSmExtra){.role_arn = role_arn}, ret);
}

int store_sm_put_call_extra(const char *name, const char *definition, int64_t now_ms, bool update,
                            const StoreSmExtra *x, StoreCall *ret) {
        _cleanup_free_ char *key = NULL;
        const char *role_arn = x ? x->role_arn : NULL;

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
        store_argv_adds(&ret->args, x && x->type ? x->type : "");
        store_argv_adds(&ret->args, x && x->logging ? x->logging : "");
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

static int sm_put(redisContext *c, const char *name, const char *definition, int64_t now_ms, AslDiag *d,
                  bool update, const StoreSmExtra *x, unsigned *ret_version) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        _cleanup_free_ char *stored_type = NULL;
        AslMachineType type = ASL_MACHINE_STANDARD;
        AslMachine *m = NULL;
        int k;

        if (!store_name_is_valid(name))
                return -EINVAL;
        if (!definition || strlen(definition) > STORE_DEFINITION_MAX) {
                if (d)
                        asl_diag_add(d, "", "definition larger than %d bytes", STORE_DEFINITION_MAX);
                return -EINVAL;
        }
        if (update) {
                /* Validated with the rules of the machine's type. */
                _cleanup_free_ char *key = store_key_sm(name);
                _cleanup_reply_ redisReply *t = redisCommand(c, "HGET %s type", key);
                if (!t || t->type == REDIS_REPLY_ERROR)
                        return -EIO;
                if (t->type == REDIS_REPLY_STRING)
                        stored_type = xstrdup(t->str);
        }
        if (asl_machine_type_from_string(stored_type ?: (x && x->type ? x->type : "STANDARD"), &type) < 0)
                return -EINVAL;
        {
                AslDiag local = {};
                k = asl_machine_parse_type(definition, strlen(definition), type, &m, d ? d : &local);
                asl_diag_clear(&local);
                if (k < 0)
                        return -EINVAL;
                asl_machine_free(m);
        }

        k = store_sm_put_call_extra(name, definition, now_ms, update,
                                    &(StoreSmExtra){.role_arn = x ? x->role_arn : NULL,
                                                    .type = update || !x ? NULL : x->type,
                                                    .logging = x ? x->logging : NULL},
                                    &call);
        if (k < 0)
                return k;
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_sm_put_parse(r, ret_version, NULL);
}

int store_sm_create(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version) {
        return sm_put(c, name, definition, now_ms, d, /* update= */ false, NULL, ret_version);
}

int store_sm_put_extra(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                       bool update, const StoreSmExtra *x, AslDiag *d, unsigned *ret_version) {
        return sm_put(c, name, definition, now_ms, d, update, x, ret_version);
}

int store_sm_update(redisContext *c, const char *name, const char *definition, int64_t now_ms,
                    AslDiag *d, unsigned *ret_version) {
        return sm_put(c, name, definition, now_ms, d, /* update= */ true, NULL, ret_version);
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
        free(m->type);
        free(m->logging);
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
        const char *tag, *role, *type, *logging;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !(tag = elem(r, 0)))
                return -EBADMSG;
        if (streq(tag, "missing"))
                return -ENOENT;
        if (r->elements < 7 || r->element[1]->type != REDIS_REPLY_INTEGER || !elem(r, 6))
                return -EBADMSG;
        role = elem(r, 5);
        type = elem(r, 7);
        logging = elem(r, 8);
        *ret = (StoreMachine){
                .version = (unsigned) r->element[1]->integer,
                .latest_version = (unsigned) strtoul(elem(r, 2) ?: "0", NULL, 10),
                .created_ms = strtoll(elem(r, 3) ?: "0", NULL, 10),
                .updated_ms = strtoll(elem(r, 4) ?: "0", NULL, 10),
                .role_arn = role && *role ? xstrdup(role) : NULL,
                .definition = xstrndup(r->element[6]->str, r->element[6]->len),
                .type = xstrdup(type && *type ? type : "STANDARD"),
                .logging = logging && *logging ? xstrdup(logging) : NULL,
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
        json_object_set_new(*ret, "type", json_string(m.type));
        if (m.logging) {
                json_t *l = json_loads(m.logging, 0, NULL);
                if (l)
                        json_object_set_new(*ret, "loggingConfiguration", l);
        }
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
            (r->elements - 1) % 5 != 0)
                return -EBADMSG;
        a = json_array();
        for (size_t i = 1; i < r->elements; i += 5) {
                if (!elem(r, i) || !elem(r, i + 1) || !elem(r, i + 2) || !elem(r, i + 3) || !elem(r, i + 4))
                        return -EBADMSG;
                json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:s}", "name", elem(r, i), "latestVersion",
                                                   (json_int_t) strtoll(elem(r, i + 1), NULL, 10), "createdAt",
                                                   (json_int_t) strtoll(elem(r, i + 2), NULL, 10), "updatedAt",
                                                   (json_int_t) strtoll(elem(r, i + 3), NULL, 10), "type",
                                                   elem(r, i + 4)));
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

static const char *const log_levels[] = {
        [STORE_LOG_OFF] = "OFF",
        [STORE_LOG_FATAL] = "FATAL",
        [STORE_LOG_ERROR] = "ERROR",
        [STORE_LOG_ALL] = "ALL",
};

int store_sm_logging_check(const char *text, char **ret, const char **ret_cause) {
        _cleanup_json_ json_t *j = json_loads(text, 0, NULL), *out = NULL;
        json_t *level, *data, *dests, *v;
        const char *key, *lv;
        size_t i;

        if (!json_is_object(j))
                return *ret_cause = "the logging configuration is not a JSON object", -EINVAL;
        json_object_foreach (j, key, v)
                if (!streq(key, "level") && !streq(key, "includeExecutionData") &&
                    !streq(key, "destinations"))
                        return *ret_cause = "unknown field in the logging configuration", -EINVAL;
        level = json_object_get(j, "level");
        data = json_object_get(j, "includeExecutionData");
        dests = json_object_get(j, "destinations");
        lv = level ? json_string_value(level) : "OFF";
        for (i = 0; lv && i < ELEMENTSOF(log_levels); i++)
                if (streq(lv, log_levels[i]))
                        break;
        if (!lv || i == ELEMENTSOF(log_levels))
                return *ret_cause = "level must be one of ALL, ERROR, FATAL, OFF", -EINVAL;
        if (data && !json_is_boolean(data))
                return *ret_cause = "includeExecutionData must be a boolean", -EINVAL;
        if (dests && (!json_is_array(dests) || json_array_size(dests) > 1))
                return *ret_cause =
                               "Invalid Logging Configuration: Must specify exactly one Log Destination.",
                       -EINVAL;
        json_array_foreach (dests, i, v) {
                json_t *g = json_object_get(v, "cloudWatchLogsLogGroup");
                const char *arn = json_string_value(json_object_get(g, "logGroupArn"));
                if (!json_is_object(v) || json_object_size(v) != 1 || !json_is_object(g) || !arn ||
                    strncmp(arn, "arn:", 4) != 0 || strlen(arn) > 256)
                        return *ret_cause = "Invalid Logging Configuration: a destination is "
                                            "{\"cloudWatchLogsLogGroup\": {\"logGroupArn\": \"arn:...\"}}",
                               -EINVAL;
        }
        out = json_pack("{s:s, s:b, s:o}", "level", lv, "includeExecutionData", json_is_true(data),
                        "destinations", dests ? json_incref(dests) : json_array());
        *ret = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
        return *ret ? 0 : -ENOMEM;
}

void store_sm_logging_parse(const char *text, StoreLogLevel *ret_level, bool *ret_include_data) {
        _cleanup_json_ json_t *j = text ? json_loads(text, 0, NULL) : NULL;
        const char *lv = json_string_value(json_object_get(j, "level"));

        *ret_level = STORE_LOG_OFF;
        for (size_t i = 0; lv && i < ELEMENTSOF(log_levels); i++)
                if (streq(lv, log_levels[i]))
                        *ret_level = (StoreLogLevel) i;
        *ret_include_data = json_is_true(json_object_get(j, "includeExecutionData"));
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

bool store_log_level_includes(StoreLogLevel level, const char *type) {
        switch (level) {
        case STORE_LOG_ALL:
                return true;
        case STORE_LOG_ERROR:
                return ends_with(type, "Failed") || ends_with(type, "TimedOut") ||
                       ends_with(type, "Aborted") || streq(type, "FailStateEntered");
        case STORE_LOG_FATAL:
                return streq(type, "ExecutionFailed") || streq(type, "ExecutionTimedOut") ||
                       streq(type, "ExecutionAborted");
        default:
                return false;
        }
}
