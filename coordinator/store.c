/* SPDX-License-Identifier: MIT */
/*
 * Store basics: names and keys, argument vectors, running a script call on
 * a synchronous hiredis context, and the exec_commit builder/parser.
 *
 * The commit builder collects everything one event changes into a JSON
 * "ops" document (string leaves only) that the exec_commit script applies
 * atomically together with the version check. The bulky strings (history
 * events, outbox messages) travel as script arguments of their own, not
 * inside ops: escaping JSON text into another JSON string, and cjson
 * decoding it again in Redis, was most of the cost of a commit.
 */

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

bool store_name_is_valid(const char *name) {
        static const char forbidden[] = "<>{}[]?*\"#%\\^|~`$&,;:/";
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n > STORE_NAME_MAX)
                return false;
        for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
                if (*p <= 0x20 || *p == 0x7f)
                        return false;
                if (strchr(forbidden, *p))
                        return false;
        }
        return true;
}

char *store_key_exec(const char *exec_id) {
        return asl_xasprintf("imgflow:{%s}:exec", exec_id);
}
char *store_key_history(const char *exec_id) {
        return asl_xasprintf("imgflow:{%s}:history", exec_id);
}
char *store_key_outbox(const char *exec_id) {
        return asl_xasprintf("imgflow:{%s}:outbox", exec_id);
}
char *store_key_tokens(const char *exec_id) {
        return asl_xasprintf("imgflow:{%s}:tokens", exec_id);
}
char *store_key_exec_timers(const char *exec_id) {
        return asl_xasprintf("imgflow:{%s}:timers", exec_id);
}
char *store_key_sm(const char *name) {
        return asl_xasprintf("imgflow:sm:%s", name);
}
char *store_key_sm_version(const char *name, unsigned version) {
        return asl_xasprintf("imgflow:sm:%s:v%u", name, version);
}
char *store_key_token(const char *token) {
        return asl_xasprintf("imgflow:token:%s", token);
}
char *store_key_response(const char *request_id) {
        return asl_xasprintf("imgflow:response:{%s}", request_id);
}

char *store_exec_id(const char *state_machine, const char *name) {
        if (!store_name_is_valid(state_machine) || !store_name_is_valid(name))
                return NULL;
        return asl_xasprintf("%s:%s", state_machine, name);
}

char *store_exec_id_normalize(const char *id) {
        static const char arn_prefix[] = "imgflow:execution:";
        const char *colon;
        _cleanup_free_ char *sm = NULL;

        if (!id)
                return NULL;
        if (strncmp(id, arn_prefix, strlen(arn_prefix)) == 0)
                id += strlen(arn_prefix);
        colon = strchr(id, ':');
        if (!colon)
                return NULL;
        sm = strndup(id, colon - id);
        if (!sm)
                abort();
        return store_exec_id(sm, colon + 1);
}

/* ---- argv ---- */

void store_argv_reserve(StoreArgv *a, size_t n) {
        if (n <= a->allocated)
                return;
        a->allocated = n;
        a->argv = asl_xrealloc(a->argv, n * sizeof(char *));
        a->lens = asl_xrealloc(a->lens, n * sizeof(size_t));
        a->borrowed = asl_xrealloc(a->borrowed, n * sizeof(bool));
}

static void argv_push(StoreArgv *a, char *s, size_t len, bool borrowed) {
        if (a->n >= a->allocated)
                store_argv_reserve(a, a->allocated ? a->allocated * 2 : 8);
        a->argv[a->n] = s;
        a->lens[a->n] = len;
        a->borrowed[a->n] = borrowed;
        a->n++;
}

void store_argv_add(StoreArgv *a, const char *s, size_t len) {
        char *copy = asl_xmalloc(len + 1);

        memcpy(copy, s, len);
        copy[len] = 0;
        argv_push(a, copy, len, false);
}

void store_argv_take(StoreArgv *a, char *s, size_t len) {
        argv_push(a, s, len, false);
}

void store_argv_borrow(StoreArgv *a, const char *s, size_t len) {
        argv_push(a, (char *) s, len, true);
}

void store_argv_adds(StoreArgv *a, const char *s) {
        store_argv_add(a, s, strlen(s));
}

void store_argv_addf(StoreArgv *a, const char *fmt, ...) {
        va_list ap;
        char *s;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                abort();
        store_argv_add(a, s, (size_t) n);
        free(s);
}

void store_argv_clear(StoreArgv *a) {
        for (size_t i = 0; i < a->n; i++)
                if (!a->borrowed[i])
                        free(a->argv[i]);
        a->n = 0;
}

void store_argv_done(StoreArgv *a) {
        store_argv_clear(a);
        free(a->argv);
        free(a->lens);
        free(a->borrowed);
        *a = (StoreArgv) {};
}

void store_call_done(StoreCall *call) {
        store_argv_done(&call->keys);
        store_argv_done(&call->args);
}

void store_call_clear(StoreCall *call) {
        store_argv_clear(&call->keys);
        store_argv_clear(&call->args);
}

int store_call_sync(redisContext *c, const StoreCall *call, redisReply **ret, char *errbuf,
                    size_t errbuf_size) {
        const StoreScript *s = store_script(call->script);
        size_t n = 3 + call->keys.n + call->args.n, k = 0;
        _cleanup_free_ const char **argv = NULL;
        _cleanup_free_ size_t *lens = NULL;
        char nkeys[32];
        redisReply *r;

        if (!s)
                return -EINVAL;
        argv = asl_xmalloc(n * sizeof(char *));
        lens = asl_xmalloc(n * sizeof(size_t));
        snprintf(nkeys, sizeof nkeys, "%zu", call->keys.n);
        argv[k] = "EVAL", lens[k++] = 4;
        argv[k] = s->source, lens[k++] = strlen(s->source);
        argv[k] = nkeys, lens[k++] = strlen(nkeys);
        for (size_t i = 0; i < call->keys.n; i++)
                argv[k] = call->keys.argv[i], lens[k++] = call->keys.lens[i];
        for (size_t i = 0; i < call->args.n; i++)
                argv[k] = call->args.argv[i], lens[k++] = call->args.lens[i];

        r = redisCommandArgv(c, (int) n, argv, lens);
        if (!r) {
                if (errbuf)
                        snprintf(errbuf, errbuf_size, "%s", c->errstr);
                return -EIO;
        }
        if (r->type == REDIS_REPLY_ERROR) {
                if (errbuf)
                        snprintf(errbuf, errbuf_size, "%s: %s", s->name, r->str);
                freeReplyObject(r);
                return -EIO;
        }
        *ret = r;
        return 0;
}

/* ---- commits ---- */

static json_t *ops_array(json_t *ops, const char *key) {
        json_t *a = json_object_get(ops, key);
        if (!a) {
                a = json_array();
                json_object_set_new(ops, key, a);
        }
        return a;
}

static json_t *json_strf(const char *fmt, ...) _printf_(1, 2);
static json_t *json_strf(const char *fmt, ...) {
        va_list ap;
        char *s;
        json_t *j;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        j = json_string(s);
        free(s);
        return j;
}

/* The text of json_dumps(v, JSON_COMPACT): NULL for anything but an object
 * or an array. */
static char *dump_compact(const json_t *v) {
        return json_is_object(v) || json_is_array(v) ? asl_json_dumps(v) : NULL;
}

static json_t *json_str_or_empty(const char *s) {
        json_t *j = json_string(s ? s : "");
        return j ? j : json_string("");
}

int store_commit_new(const char *exec_id, uint64_t expected_version, int64_t now_ms,
                     StoreCommit **ret) {
        StoreCommit *c;

        if (!exec_id)
                return -EINVAL;
        c = asl_xmalloc(sizeof *c);
        *c = (StoreCommit) {
                .exec_id = asl_xstrdup(exec_id),
                .expected_version = expected_version,
                .now_ms = now_ms,
                .history_cap = STORE_HISTORY_CAP_DEFAULT,
                .retention_sec = STORE_RETENTION_SEC_DEFAULT,
                .ops = json_object(),
        };
        json_object_set_new(c->ops, "execId", json_string(exec_id));
        json_object_set_new(c->ops, "now", json_strf("%" PRIi64, now_ms));
        *ret = c;
        return 0;
}

StoreCommit *store_commit_free(StoreCommit *c) {
        if (!c)
                return NULL;
        free(c->exec_id);
        free(c->doc);
        free(c->status);
        json_decref(c->ops);
        free(c);
        return NULL;
}

void store_commit_set_doc(StoreCommit *c, const json_t *doc, const char *status) {
        free(c->doc);
        c->doc = asl_json_dumps(doc);
        if (!c->doc)
                abort();
        free(c->status);
        c->status = asl_xstrdup(status);
}

void store_commit_set_create(StoreCommit *c, const char *state_machine, unsigned sm_version,
                             const char *name, const json_t *input, int64_t start_ms) {
        json_t *o = json_object();
        char *in = input ? json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                         : asl_xstrdup("{}");

        json_object_set_new(o, "stateMachine", json_str_or_empty(state_machine));
        json_object_set_new(o, "smVersion", json_strf("%u", sm_version));
        json_object_set_new(o, "name", json_str_or_empty(name));
        json_object_set_new(o, "input", json_str_or_empty(in));
        json_object_set_new(o, "startDate", json_strf("%" PRIi64, start_ms));
        json_object_set_new(c->ops, "create", o);
        free(in);
}

static void pair_add(json_t *a, json_t *x, json_t *y) {
        json_t *p = json_array();
        json_array_append_new(p, x);
        json_array_append_new(p, y);
        json_array_append_new(a, p);
}

void store_commit_set_field(StoreCommit *c, const char *field, const char *value) {
        pair_add(ops_array(c->ops, "fields"), json_str_or_empty(field), json_str_or_empty(value));
}

void store_commit_add_history(StoreCommit *c, json_t *text) {
        assert(json_is_string(text));
        json_array_append(ops_array(c->ops, "history"), text);
}

/* Drop entries equal to id (strings, or pairs whose first element is id):
 * a later add cancels an earlier delete of the same id and vice versa, so
 * the order the script applies adds and deletes in does not matter. */
static void ops_drop_id(json_t *ops, const char *key, const char *id) {
        json_t *a = json_object_get(ops, key);

        for (size_t i = json_array_size(a); i-- > 0;) {
                json_t *e = json_array_get(a, i);
                const char *s = json_is_array(e) ? json_string_value(json_array_get(e, 0))
                                                 : json_string_value(e);
                if (s && streq(s, id))
                        json_array_remove(a, i);
        }
}

void store_commit_add_outbox(StoreCommit *c, const char *item_id, const char *topic,
                             const char *payload) {
        ops_drop_id(c->ops, "outboxDel", item_id);
        pair_add(ops_array(c->ops, "outbox"), json_str_or_empty(item_id),
                 json_strf("%s\n%s", topic, payload));
}

void store_commit_del_outbox(StoreCommit *c, const char *item_id) {
        ops_drop_id(c->ops, "outbox", item_id);
        json_array_append_new(ops_array(c->ops, "outboxDel"), json_str_or_empty(item_id));
}

void store_commit_add_timer(StoreCommit *c, const char *timer_id, int64_t due_ms) {
        ops_drop_id(c->ops, "timersDel", timer_id);
        ops_drop_id(c->ops, "timers", timer_id);
        pair_add(ops_array(c->ops, "timers"), json_str_or_empty(timer_id),
                 json_strf("%" PRIi64, due_ms));
}

void store_commit_del_timer(StoreCommit *c, const char *timer_id) {
        ops_drop_id(c->ops, "timers", timer_id);
        json_array_append_new(ops_array(c->ops, "timersDel"), json_str_or_empty(timer_id));
}

void store_commit_add_token(StoreCommit *c, const char *task_id, const char *token) {
        json_t *t = json_array();
        json_t *v = json_pack("{s:s, s:s}", "executionId", c->exec_id, "taskId", task_id);
        char *vs = dump_compact(v);

        json_array_append_new(t, json_str_or_empty(task_id));
        json_array_append_new(t, json_str_or_empty(token));
        json_array_append_new(t, json_str_or_empty(vs));
        json_array_append_new(ops_array(c->ops, "tokens"), t);
        free(vs);
        json_decref(v);
}

void store_commit_close_task(StoreCommit *c, const char *task_id) {
        json_array_append_new(ops_array(c->ops, "closeTasks"), json_str_or_empty(task_id));
}

void store_commit_add_token_tombstone(StoreCommit *c, const char *task_id, const char *token,
                                      const char *error, int64_t ttl_sec) {
        json_t *v = json_pack("{s:s, s:s, s:s}", "executionId", c->exec_id, "taskId",
                              task_id ? task_id : "", "closed", error ? error : "TaskDoesNotExist");
        char *vs = dump_compact(v);
        json_t *t = json_array();

        json_array_append_new(t, json_str_or_empty(token));
        json_array_append_new(t, json_str_or_empty(vs));
        json_array_append_new(t, json_strf("%" PRIi64, ttl_sec > 0 ? ttl_sec
                                                                   : (int64_t) STORE_RETENTION_SEC_DEFAULT));
        json_array_append_new(ops_array(c->ops, "tombstones"), t);
        free(vs);
        json_decref(v);
}

void store_commit_set_response(StoreCommit *c, const char *request_id, const json_t *response) {
        json_t *r = json_array();
        char *key = store_key_response(request_id);
        char *v = dump_compact(response);

        json_array_append_new(r, json_str_or_empty(key));
        json_array_append_new(r, json_str_or_empty(v));
        json_array_append_new(r, json_strf("%d", STORE_RESPONSE_TTL_SEC));
        json_object_set_new(c->ops, "response", r);
        free(key);
        free(v);
}

void store_commit_set_terminal(StoreCommit *c, int64_t stop_ms, int64_t retention_sec) {
        c->stop_ms = stop_ms;
        c->retention_sec = retention_sec > 0 ? retention_sec : STORE_RETENTION_SEC_DEFAULT;
        json_object_set_new(c->ops, "terminal",
                            json_pack("{s:o, s:o}", "stopDate", json_strf("%" PRIi64, stop_ms),
                                      "retention", json_strf("%" PRIi64, c->retention_sec)));
}

int store_commit_call(const StoreCommit *c, StoreCall *ret) {
        StoreCall call = { .script = STORE_SCRIPT_EXEC_COMMIT };
        char *(*const keyfn[])(const char *) = {
                store_key_exec, store_key_history, store_key_outbox,
                store_key_tokens, store_key_exec_timers,
        };
        _cleanup_free_ char *ops = NULL;
        _cleanup_json_ json_t *wire = NULL;
        json_t *history, *outbox, *ids, *item;
        size_t idx;

        if (!c->doc || !c->status)
                return -EINVAL;
        if (c->expected_version == 0 && !json_object_get(c->ops, "create"))
                return -EINVAL;

        json_object_set_new(c->ops, "status", json_string(c->status));
        json_object_set_new(c->ops, "historyCap",
                            json_strf("%u", c->history_cap ? c->history_cap : STORE_HISTORY_CAP_DEFAULT));

        /* On the wire: ops without the history events and with only the ids
         * of the outbox items; the events, then the items' values, follow
         * the document as ARGV[4...] (docs/redis.md). */
        history = json_object_get(c->ops, "history");
        outbox = json_object_get(c->ops, "outbox");
        wire = json_copy(c->ops); /* shallow */
        if (!wire)
                abort();
        json_object_del(wire, "history");
        json_object_set_new(wire, "historyN", json_strf("%zu", json_array_size(history)));
        ids = json_array();
        json_array_foreach(outbox, idx, item)
                json_array_append(ids, json_array_get(item, 0));
        json_object_set_new(wire, "outbox", ids);
        ops = dump_compact(wire);
        if (!ops)
                abort();

        /* This runs for every event: the vectors are sized once, and the
         * commit's own strings are borrowed, not copied (the call is sent
         * before the commit is freed). */
        store_argv_reserve(&call.keys, ELEMENTSOF(keyfn) + 5);
        store_argv_reserve(&call.args, 3 + json_array_size(history) + json_array_size(outbox));
        for (size_t i = 0; i < ELEMENTSOF(keyfn); i++) {
                char *k = keyfn[i](c->exec_id);
                store_argv_take(&call.keys, k, strlen(k));
        }
        store_argv_borrow(&call.keys, STORE_KEY_EXECUTIONS, strlen(STORE_KEY_EXECUTIONS));
        store_argv_borrow(&call.keys, STORE_KEY_TIMERS, strlen(STORE_KEY_TIMERS));
        store_argv_borrow(&call.keys, STORE_KEY_TIMERS_CLAIMED, strlen(STORE_KEY_TIMERS_CLAIMED));
        store_argv_borrow(&call.keys, STORE_KEY_OUTBOX_PENDING, strlen(STORE_KEY_OUTBOX_PENDING));
        store_argv_borrow(&call.keys, STORE_KEY_RUNNING, strlen(STORE_KEY_RUNNING));
        store_argv_addf(&call.args, "%" PRIu64, c->expected_version);
        store_argv_take(&call.args, ops, strlen(ops));
        ops = NULL;
        store_argv_borrow(&call.args, c->doc, strlen(c->doc));
        json_array_foreach(history, idx, item)
                store_argv_borrow(&call.args, json_string_value(item) ?: "", json_string_length(item));
        json_array_foreach(outbox, idx, item) {
                json_t *v = json_array_get(item, 1);
                store_argv_borrow(&call.args, json_string_value(v) ?: "", json_string_length(v));
        }
        *ret = call;
        return 0;
}

int store_commit_parse_reply(const redisReply *r, StoreCommitResult *ret) {
        const char *tag;
        long long v;

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->elements > 3 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_INTEGER)
                return -EBADMSG;
        tag = r->element[0]->str;
        v = r->element[1]->integer;
        if (streq(tag, "ok"))
                *ret = (StoreCommitResult) { STORE_COMMIT_OK, (uint64_t) v };
        else if (streq(tag, "conflict"))
                *ret = (StoreCommitResult) { STORE_COMMIT_CONFLICT, (uint64_t) v };
        else if (streq(tag, "missing"))
                *ret = (StoreCommitResult) { STORE_COMMIT_MISSING, 0 };
        else if (streq(tag, "exists"))
                *ret = (StoreCommitResult) {
                        v ? STORE_COMMIT_EXISTS : STORE_COMMIT_ALREADY, 0,
                        r->elements == 3 && r->element[2]->type == REDIS_REPLY_INTEGER
                                ? r->element[2]->integer : 0,
                };
        else
                return -EBADMSG;
        return 0;
}

int store_commit_sync(redisContext *ctx, const StoreCommit *c, StoreCommitResult *ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        k = store_commit_call(c, &call);
        if (k < 0)
                return k;
        k = store_call_sync(ctx, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_commit_parse_reply(r, ret);
}
