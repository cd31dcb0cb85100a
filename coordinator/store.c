/* SPDX-License-Identifier: MIT */
/*
 * Store basics: names and keys, argument vectors, running a script call on
 * a synchronous hiredis context, and the exec_commit builder/parser.
 *
 * The commit builder collects everything one event changes, as rows of
 * plain strings, and writes them as the JSON "ops" document (string leaves
 * only) that the exec_commit script applies atomically together with the
 * version check. A jansson tree per commit, built and copied and freed,
 * cost more allocations than the rest of an event's store work. The bulky
 * strings (history events, outbox messages) travel as script arguments of
 * their own, not inside ops: escaping JSON text into another JSON string,
 * and cjson decoding it again in Redis, was most of the cost of a commit.
 */

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json-writer.h"
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
        return xasprintf("imgflow:{%s}:exec", exec_id);
}
char *store_key_history(const char *exec_id) {
        return xasprintf("imgflow:{%s}:history", exec_id);
}
char *store_key_outbox(const char *exec_id) {
        return xasprintf("imgflow:{%s}:outbox", exec_id);
}
char *store_key_tokens(const char *exec_id) {
        return xasprintf("imgflow:{%s}:tokens", exec_id);
}
char *store_key_exec_timers(const char *exec_id) {
        return xasprintf("imgflow:{%s}:timers", exec_id);
}
char *store_key_sm(const char *name) {
        return xasprintf("imgflow:sm:%s", name);
}
char *store_key_sm_version(const char *name, unsigned version) {
        return xasprintf("imgflow:sm:%s:v%u", name, version);
}
char *store_key_token(const char *token) {
        return xasprintf("imgflow:token:%s", token);
}
char *store_key_response(const char *request_id) {
        return xasprintf("imgflow:response:{%s}", request_id);
}

char *store_exec_id(const char *state_machine, const char *name) {
        if (!store_name_is_valid(state_machine) || !store_name_is_valid(name))
                return NULL;
        return xasprintf("%s:%s", state_machine, name);
}

bool store_exec_arn_is_express(const char *id) {
        return id && strncmp(id, STORE_EXPRESS_ARN_PREFIX, strlen(STORE_EXPRESS_ARN_PREFIX)) == 0;
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
        sm = xstrndup(id, colon - id);
        /* a Map Run's child: "<machine>/<label>:<name>" (its ARN's form) */
        if (strchr(sm, '/'))
                *strchr(sm, '/') = '\0';
        return store_exec_id(sm, colon + 1);
}

/* ---- argv ---- */

void store_argv_reserve(StoreArgv *a, size_t n) {
        if (n <= a->allocated)
                return;
        a->allocated = n;
        a->argv = xrealloc(a->argv, n * sizeof(char *));
        a->lens = xrealloc(a->lens, n * sizeof(size_t));
        a->borrowed = xrealloc(a->borrowed, n * sizeof(bool));
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
        char *copy = xmalloc(len + 1);

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

int store_reply_string(const redisReply *r) {
        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type == REDIS_REPLY_NIL)
                return -ENOENT;
        if (r->type != REDIS_REPLY_STRING)
                return -EBADMSG;
        return 0;
}

int store_command_sync(redisContext *c, const StoreArgv *a, redisReply **ret) {
        redisReply *r = redisCommandArgv(c, (int) a->n, (const char **) a->argv, a->lens);

        if (!r)
                return -EIO;
        if (r->type == REDIS_REPLY_ERROR) {
                freeReplyObject(r);
                return -EIO;
        }
        *ret = r;
        return 0;
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
        argv = xmalloc(n * sizeof(char *));
        lens = xmalloc(n * sizeof(size_t));
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

static void rows_push(StoreRows *r, char *s) {
        if (r->n >= r->allocated) {
                r->allocated = r->allocated ? r->allocated * 2 : 4;
                r->v = xrealloc(r->v, r->allocated * sizeof(char *));
        }
        r->v[r->n++] = s;
}

static void rows_add(StoreRows *r, size_t width, ...) {
        va_list ap;

        va_start(ap, width);
        for (size_t i = 0; i < width; i++) {
                const char *s = va_arg(ap, const char *);
                rows_push(r, xstrdup(s ? s : ""));
        }
        va_end(ap);
}

static void rows_clear(StoreRows *r) {
        for (size_t i = 0; i < r->n; i++)
                free(r->v[i]);
        r->n = 0;
}

static void rows_done(StoreRows *r) {
        rows_clear(r);
        free(r->v);
        *r = (StoreRows) {};
}

/* Drop the rows whose first string is id: a later add cancels an earlier
 * delete of the same id and vice versa, so the order the script applies
 * adds and deletes in does not matter. */
static void rows_drop_id(StoreRows *r, size_t width, const char *id) {
        for (size_t i = r->n; i >= width; i -= width) {
                size_t row = i - width;

                if (!streq(r->v[row], id))
                        continue;
                for (size_t k = 0; k < width; k++)
                        free(r->v[row + k]);
                memmove(r->v + row, r->v + i, (r->n - i) * sizeof(char *));
                r->n -= width;
        }
}

static char *dup_int(int64_t v) {
        return xasprintf("%" PRIi64, v);
}

static void commit_changed(StoreCommit *c) {
        json_decref(c->ops_view);
        c->ops_view = NULL;
}

int store_commit_new(const char *exec_id, uint64_t expected_version, int64_t now_ms,
                     StoreCommit **ret) {
        StoreCommit *c;

        if (!exec_id)
                return -EINVAL;
        c = xmalloc(sizeof *c);
        *c = (StoreCommit) {
                .exec_id = xstrdup(exec_id),
                .expected_version = expected_version,
                .now_ms = now_ms,
                .history_cap = STORE_HISTORY_CAP_DEFAULT,
                .retention_sec = STORE_RETENTION_SEC_DEFAULT,
        };
        *ret = c;
        return 0;
}

static void outbox_entry_done(StoreOutboxEntry *e) {
        free(e->item_id);
        free(e->value);
        free(e->strings);
}

/* Drop the outbox entries of item_id. */
static void outbox_drop(StoreCommit *c, const char *item_id) {
        size_t k = 0;

        for (size_t i = 0; i < c->n_outbox; i++)
                if (streq(c->outbox[i].item_id, item_id))
                        outbox_entry_done(&c->outbox[i]);
                else
                        c->outbox[k++] = c->outbox[i];
        c->n_outbox = k;
}

StoreCommit *store_commit_free(StoreCommit *c) {
        if (!c)
                return NULL;
        free(c->exec_id);
        free(c->doc);
        free(c->status);
        free(c->child_of);
        rows_done(&c->create);
        rows_done(&c->fields);
        rows_done(&c->outbox_del);
        rows_done(&c->fields_del);
        rows_done(&c->timers);
        rows_done(&c->timers_del);
        rows_done(&c->tokens);
        rows_done(&c->close_tasks);
        rows_done(&c->tombstones);
        rows_done(&c->response);
        for (size_t i = 0; i < c->n_outbox; i++)
                outbox_entry_done(&c->outbox[i]);
        free(c->outbox);
        rows_done(&c->activities);
        rows_done(&c->map_runs_new);
        rows_done(&c->map_run_fields);
        rows_done(&c->map_run_failures);
        for (size_t i = 0; i < c->n_history; i++)
                free(c->history[i].text);
        free(c->history);
        json_decref(c->ops_view);
        free(c);
        return NULL;
}

void store_commit_set_doc(StoreCommit *c, const json_t *doc, const char *status) {
        free(c->doc);
        c->doc = json_writer_dumps(doc);
        if (!c->doc)
                abort();
        free(c->status);
        c->status = xstrdup(status);
}

void store_commit_set_create(StoreCommit *c, const char *state_machine, unsigned sm_version,
                             const char *name, const json_t *input, int64_t start_ms) {
        _cleanup_free_ char *in = input ? json_dumps(input, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)
                                        : xstrdup("{}");
        _cleanup_free_ char *version = xasprintf("%u", sm_version), *start = dup_int(start_ms);

        rows_clear(&c->create);
        rows_add(&c->create, 5, state_machine, version, name, in, start);
        commit_changed(c);
}

void store_commit_set_map_child(StoreCommit *c, const char *run_id, const char *parent,
                                const char *map_run_arn, int64_t item_count) {
        free(c->child_of);
        c->child_of = xstrdup(run_id);
        rows_add(&c->fields, 2, "parent", parent);
        rows_add(&c->fields, 2, "mapRunArn", map_run_arn);
        if (item_count > 0) {
                char n[24];

                snprintf(n, sizeof n, "%" PRId64, item_count);
                rows_add(&c->fields, 2, "itemCount", n);
        }
        commit_changed(c);
}

void store_commit_del_field(StoreCommit *c, const char *field) {
        rows_add(&c->fields_del, 1, field);
        commit_changed(c);
}

void store_commit_set_field(StoreCommit *c, const char *field, const char *value) {
        rows_add(&c->fields, 2, field, value);
        commit_changed(c);
}

void store_commit_take_history(StoreCommit *c, char *text, size_t len) {
        if (c->n_history >= c->allocated_history) {
                c->allocated_history = c->allocated_history ? c->allocated_history * 2 : 4;
                c->history = xrealloc(c->history, c->allocated_history * sizeof(StoreHistoryEvent));
        }
        c->history[c->n_history++] = (StoreHistoryEvent){text, len};
        commit_changed(c);
}

/* Copies the strings (NULL stays NULL) one after the other into one block;
 * *ret[i] points at each copy. */
static char *strings_pack(const char *const *in, const char **ret, size_t n) {
        size_t total = 0, at = 0;
        char *block;

        for (size_t i = 0; i < n; i++)
                total += in[i] ? strlen(in[i]) + 1 : 0;
        block = xmalloc(total);
        for (size_t i = 0; i < n; i++) {
                size_t l = in[i] ? strlen(in[i]) + 1 : 0;

                ret[i] = in[i] ? memcpy(block + at, in[i], l) : NULL;
                at += l;
        }
        return block;
}

void store_commit_add_outbox(StoreCommit *c, const char *item_id, const char *topic, const char *payload,
                             const StoreOutboxNote *note) {
        const StoreOutboxNote none = {};
        const char *in[] = {topic, (note ?: &none)->task_id, (note ?: &none)->state,
                            (note ?: &none)->operation, (note ?: &none)->image_key};
        const char *out[ELEMENTSOF(in)];
        size_t tl = strlen(topic), pl = strlen(payload);
        StoreOutboxEntry e = {
                .item_id = xstrdup(item_id),
                .value = xmalloc(tl + 1 + pl + 1),
                .len = tl + 1 + pl,
        };

        rows_drop_id(&c->outbox_del, 1, item_id);
        memcpy(e.value, topic, tl);
        e.value[tl] = '\n';
        memcpy(e.value + tl + 1, payload, pl + 1);
        e.payload = e.value + tl + 1;
        e.strings = strings_pack(in, out, ELEMENTSOF(in));
        e.topic = out[0];
        e.note = (StoreOutboxNote){out[1], out[2], out[3], out[4]};
        if (c->n_outbox >= c->allocated_outbox) {
                c->allocated_outbox = c->allocated_outbox ? c->allocated_outbox * 2 : 4;
                c->outbox = xrealloc(c->outbox, c->allocated_outbox * sizeof(StoreOutboxEntry));
        }
        c->outbox[c->n_outbox++] = e;
        commit_changed(c);
}

void store_commit_del_outbox(StoreCommit *c, const char *item_id) {
        outbox_drop(c, item_id);
        rows_add(&c->outbox_del, 1, item_id);
        commit_changed(c);
}

void store_commit_add_timer(StoreCommit *c, const char *timer_id, int64_t due_ms) {
        rows_drop_id(&c->timers_del, 1, timer_id);
        rows_drop_id(&c->timers, 2, timer_id);
        rows_push(&c->timers, xstrdup(timer_id));
        rows_push(&c->timers, dup_int(due_ms));
        commit_changed(c);
}

void store_commit_del_timer(StoreCommit *c, const char *timer_id) {
        rows_drop_id(&c->timers, 2, timer_id);
        rows_add(&c->timers_del, 1, timer_id);
        commit_changed(c);
}

/* The record behind imgflow:token:<token>: {"executionId","taskId"}, and
 * "closed" once the task closed ("" if a string is not UTF-8; the ops
 * writer then fails the call on that same string). */
static char *token_record(const StoreCommit *c, const char *task_id, const char *closed) {
        JsonWriter w = {};

        json_writer_raw(&w, "{\"executionId\":", 15);
        json_writer_string(&w, c->exec_id, strlen(c->exec_id));
        json_writer_raw(&w, ",\"taskId\":", 10);
        json_writer_string(&w, task_id, strlen(task_id));
        if (closed) {
                json_writer_raw(&w, ",\"closed\":", 10);
                json_writer_string(&w, closed, strlen(closed));
        }
        json_writer_raw(&w, "}", 1);
        return json_writer_finish(&w, NULL) ?: xstrdup("");
}

void store_commit_add_token(StoreCommit *c, const char *task_id, const char *token) {
        task_id = task_id ?: "";
        rows_push(&c->tokens, xstrdup(task_id));
        rows_push(&c->tokens, xstrdup(token ? token : ""));
        rows_push(&c->tokens, token_record(c, task_id, NULL));
        commit_changed(c);
}

void store_commit_close_task(StoreCommit *c, const char *task_id) {
        rows_add(&c->close_tasks, 1, task_id);
        commit_changed(c);
}

void store_commit_add_activity_task(StoreCommit *c, const char *activity, const char *token,
                                    const char *message) {
        rows_push(&c->activities, xstrdup(activity));
        rows_push(&c->activities, xasprintf("%s\n%s", token, message));
        commit_changed(c);
}

void store_commit_add_token_tombstone(StoreCommit *c, const char *task_id, const char *token,
                                      const char *error, int64_t ttl_sec) {
        _cleanup_free_ char *vs = token_record(c, task_id ?: "", error ?: "TaskDoesNotExist"),
                            *ttl = dup_int(ttl_sec > 0 ? ttl_sec : (int64_t) STORE_RETENTION_SEC_DEFAULT);

        rows_add(&c->tombstones, 3, token, vs, ttl);
        commit_changed(c);
}

void store_commit_set_response(StoreCommit *c, const char *request_id, const char *response) {
        _cleanup_free_ char *key = store_key_response(request_id), *ttl = dup_int(STORE_RESPONSE_TTL_SEC);

        rows_clear(&c->response);
        rows_add(&c->response, 3, key, response, ttl);
        commit_changed(c);
}

void store_commit_set_reopen(StoreCommit *c) {
        c->reopen = true;
        commit_changed(c);
}

void store_commit_add_map_run(StoreCommit *c, const char *run_id) {
        rows_add(&c->map_runs_new, 1, run_id);
        commit_changed(c);
}

void store_commit_set_map_run_field(StoreCommit *c, const char *run_id, const char *field,
                                    const char *value) {
        rows_add(&c->map_run_fields, 3, run_id, field, value);
        commit_changed(c);
}

void store_commit_add_map_run_failure(StoreCommit *c, const char *run_id, const char *record) {
        rows_add(&c->map_run_failures, 2, run_id, record);
        commit_changed(c);
}

void store_commit_set_terminal(StoreCommit *c, int64_t stop_ms, int64_t retention_sec) {
        c->stop_ms = stop_ms;
        c->retention_sec = retention_sec > 0 ? retention_sec : STORE_RETENTION_SEC_DEFAULT;
        c->terminal = true;
        commit_changed(c);
}

/* ---- the ops document ---- */

static void put_key(JsonWriter *w, const char *key) {
        json_writer_raw(w, ",\"", 2);
        json_writer_raw(w, key, strlen(key));
        json_writer_raw(w, "\":", 2);
}

static void put_str(JsonWriter *w, const char *s) {
        json_writer_string(w, s, strlen(s));
}

/* "key":[...] of r's rows: a row of one as a string, wider rows as arrays;
 * nothing for no rows, or only the first `columns` strings of each row. */
static void put_rows(JsonWriter *w, const char *key, const StoreRows *r, size_t width,
                     size_t columns) {
        if (r->n == 0)
                return;
        put_key(w, key);
        json_writer_raw(w, "[", 1);
        for (size_t i = 0; i < r->n; i += width) {
                if (i > 0)
                        json_writer_raw(w, ",", 1);
                if (columns > 1)
                        json_writer_raw(w, "[", 1);
                for (size_t k = 0; k < columns; k++) {
                        if (k > 0)
                                json_writer_raw(w, ",", 1);
                        put_str(w, r->v[i + k]);
                }
                if (columns > 1)
                        json_writer_raw(w, "]", 1);
        }
        json_writer_raw(w, "]", 1);
}

/* The members every form of the ops shares, after "{" and before the
 * history and outbox. */
static void put_common(JsonWriter *w, const StoreCommit *c) {
        static const char *const create_keys[] = { "stateMachine", "smVersion", "name", "input", "startDate" };

        json_writer_raw(w, "\"execId\":", 9);
        put_str(w, c->exec_id);
        put_key(w, "now");
        json_writer_raw(w, "\"", 1);
        json_writer_integer(w, c->now_ms);
        json_writer_raw(w, "\"", 1);
        if (c->create.n == ELEMENTSOF(create_keys)) {
                put_key(w, "create");
                for (size_t i = 0; i < ELEMENTSOF(create_keys); i++) {
                        json_writer_raw(w, i ? ",\"" : "{\"", 2);
                        json_writer_raw(w, create_keys[i], strlen(create_keys[i]));
                        json_writer_raw(w, "\":", 2);
                        put_str(w, c->create.v[i]);
                }
                json_writer_raw(w, "}", 1);
        }
        if (c->child_of) {
                put_key(w, "childOf");
                put_str(w, c->child_of);
        }
        put_rows(w, "fields", &c->fields, 2, 2);
        put_rows(w, "fieldsDel", &c->fields_del, 1, 1);
        put_rows(w, "outboxDel", &c->outbox_del, 1, 1);
        put_rows(w, "timers", &c->timers, 2, 2);
        put_rows(w, "timersDel", &c->timers_del, 1, 1);
        put_rows(w, "tokens", &c->tokens, 3, 3);
        put_rows(w, "closeTasks", &c->close_tasks, 1, 1);
        put_rows(w, "tombstones", &c->tombstones, 3, 3);
        put_rows(w, "response", &c->response, 1, 1); /* one row, as a flat [key, value, ttl] */
        put_rows(w, "mapRunsNew", &c->map_runs_new, 1, 1);
        put_rows(w, "mapRunFields", &c->map_run_fields, 3, 3);
        put_rows(w, "mapRunFailures", &c->map_run_failures, 2, 2);
        if (c->reopen) {
                put_key(w, "reopen");
                json_writer_raw(w, "\"1\"", 3);
        }
        if (c->terminal) {
                put_key(w, "terminal");
                json_writer_raw(w, "{\"stopDate\":\"", 13);
                json_writer_integer(w, c->stop_ms);
                json_writer_raw(w, "\",\"retention\":\"", 15);
                json_writer_integer(w, c->retention_sec);
                json_writer_raw(w, "\"}", 2);
        }
}

json_t *store_commit_ops(StoreCommit *c) {
        JsonWriter w = {};
        _cleanup_free_ char *text = NULL;
        json_t *ops, *history, *outbox;

        if (c->ops_view)
                return c->ops_view;
        json_writer_raw(&w, "{", 1);
        put_common(&w, c);
        json_writer_raw(&w, "}", 1);
        text = json_writer_finish(&w, NULL);
        ops = text ? json_loads(text, 0, NULL) : NULL;
        if (!ops)
                return NULL;
        if (c->n_history > 0) {
                history = json_array();
                for (size_t i = 0; i < c->n_history; i++)
                        json_array_append_new(history, json_stringn(c->history[i].text, c->history[i].len));
                json_object_set_new(ops, "history", history);
        }
        if (c->activities.n > 0) {
                json_t *act = json_array();
                for (size_t i = 0; i + 1 < c->activities.n; i += 2)
                        json_array_append_new(act, json_pack("[s,s]", c->activities.v[i], c->activities.v[i + 1]));
                json_object_set_new(ops, "activities", act);
        }
        if (c->n_outbox > 0) {
                outbox = json_array();
                STORE_COMMIT_OUTBOX_FOREACH(c, e)
                json_array_append_new(outbox, json_pack("[s,s%]", e->item_id, e->value, e->len));
                json_object_set_new(ops, "outbox", outbox);
        }
        return c->ops_view = ops;
}

int store_commit_call(const StoreCommit *c, StoreCall *ret) {
        StoreCall call = { .script = STORE_SCRIPT_EXEC_COMMIT };
        char *(*const keyfn[])(const char *) = {
                store_key_exec, store_key_history, store_key_outbox,
                store_key_tokens, store_key_exec_timers,
        };
        JsonWriter w = {};
        char *ops, *version;
        size_t len;

        if (!c->doc || !c->status)
                return -EINVAL;
        if (c->expected_version == 0 && c->create.n == 0)
                return -EINVAL;

        /* On the wire: ops without the history events and with only the ids
         * of the outbox items; the events, then the items' values, follow
         * the document as ARGV[4...] (docs/redis.md). */
        json_writer_raw(&w, "{", 1);
        put_common(&w, c);
        if (c->n_outbox > 0) {
                put_key(&w, "outbox");
                for (size_t i = 0; i < c->n_outbox; i++) {
                        json_writer_raw(&w, i ? "," : "[", 1);
                        put_str(&w, c->outbox[i].item_id);
                }
                json_writer_raw(&w, "]", 1);
        }
        put_rows(&w, "activities", &c->activities, 2, 1);
        put_key(&w, "historyN");
        json_writer_raw(&w, "\"", 1);
        json_writer_integer(&w, (json_int_t) c->n_history);
        json_writer_raw(&w, "\"", 1);
        put_key(&w, "status");
        put_str(&w, c->status);
        put_key(&w, "historyCap");
        json_writer_raw(&w, "\"", 1);
        json_writer_integer(&w, c->history_cap ? c->history_cap : STORE_HISTORY_CAP_DEFAULT);
        json_writer_raw(&w, "\"}", 2);
        ops = json_writer_finish(&w, &len);
        if (!ops)
                return w.error == -ENOMEM ? -ENOMEM : -EILSEQ;

        /* This runs for every event: the vectors are sized once, and the
         * commit's own strings are borrowed, not copied (the call is sent
         * before the commit is freed). */
        store_argv_reserve(&call.keys, ELEMENTSOF(keyfn) + 5);
        store_argv_reserve(&call.args, 3 + c->n_history + c->n_outbox + c->activities.n / 2);
        for (size_t i = 0; i < ELEMENTSOF(keyfn); i++) {
                char *k = keyfn[i](c->exec_id);
                store_argv_take(&call.keys, k, strlen(k));
        }
        store_argv_borrow(&call.keys, STORE_KEY_EXECUTIONS, strlen(STORE_KEY_EXECUTIONS));
        store_argv_borrow(&call.keys, STORE_KEY_TIMERS, strlen(STORE_KEY_TIMERS));
        store_argv_borrow(&call.keys, STORE_KEY_TIMERS_CLAIMED, strlen(STORE_KEY_TIMERS_CLAIMED));
        store_argv_borrow(&call.keys, STORE_KEY_OUTBOX_PENDING, strlen(STORE_KEY_OUTBOX_PENDING));
        store_argv_borrow(&call.keys, STORE_KEY_RUNNING, strlen(STORE_KEY_RUNNING));
        version = dup_int((int64_t) c->expected_version);
        store_argv_take(&call.args, version, strlen(version));
        store_argv_take(&call.args, ops, len);
        store_argv_borrow(&call.args, c->doc, strlen(c->doc));
        for (size_t i = 0; i < c->n_history; i++)
                store_argv_borrow(&call.args, c->history[i].text, c->history[i].len);
        for (size_t i = 0; i < c->n_outbox; i++)
                store_argv_borrow(&call.args, c->outbox[i].value, c->outbox[i].len);
        for (size_t i = 1; i < c->activities.n; i += 2)
                store_argv_borrow(&call.args, c->activities.v[i], strlen(c->activities.v[i]));
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
