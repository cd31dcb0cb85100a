/* SPDX-License-Identifier: MIT */
/*
 * Executions in the store: loading the document for the coordinator,
 * counting the running ones, and the reads of imgflow-api and the CLI
 * (DescribeExecution, GetExecutionHistory, ListExecutions), each as a
 * builder and a parser for the API's asynchronous connection, which the
 * CLI's synchronous functions run too.
 *
 * DescribeExecution is one HMGET; a page of history (by event id) and a
 * page of executions (with a cursor of score and id) are one script each
 * (exec_history, exec_list in store-scripts.c), so a page is consistent
 * and costs one round trip. Every write goes through exec_commit
 * (store.c, store-scripts.c).
 *
 * An inline Map's input and results are not in the document's text. The
 * text was rewritten whole on every commit, and a Map frame held every
 * finished iteration's result (and the items, twice: the execution's
 * input and the frame's), so each event of a Map cost O(items done).
 * store_commit_set_doc_split() writes the execution's input never again
 * (the hash's "input" field has it), a Map frame's input once, as the hash
 * field "mapin:<tag>", and each result once, as it is set, as
 * "mapres:<tag>:<index>" (the engine lists the indices set since the last
 * commit in the frame's "children"."storedNew"). The tag ("<frame
 * id>.<version of the commit that first wrote it>", in "children"."stored")
 * names one Map state's run, so a later Map in the same frame, or a
 * redrive, writes fields of its own. The fields are in the execution's
 * hash: the same commit writes them, under the same compare-and-set, and
 * they expire with it. Loading (HGETALL) puts them back into the document,
 * so the engine sees the document it wrote.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <errno.h>

#include "asl-engine.h"
#include "asl-util.h"
#include "json-writer.h"
#include "store.h"

void store_exec_state_done(StoreExecState *s) {
        json_decref(s->doc);
        free(s->state_machine);
        free(s->status);
        free(s->name);
        *s = (StoreExecState) {};
}

void store_exec_load_argv(const char *exec_id, StoreArgv *ret) {
        _cleanup_free_ char *key = store_key_exec(exec_id);

        store_argv_adds(ret, "HGETALL");
        store_argv_adds(ret, key);
}

#define KEPT_INPUT "mapin:"
#define KEPT_RESULT "mapres:"

/* A Map frame's "children" whose input and results the store keeps
 * outside the text: an inline Map (not distributed, no ItemReader, no
 * ResultWriter: those have results of their own making). */
static bool split_eligible(json_t *frame, json_t *ch) {
        json_t *results = json_object_get(ch, "results");

        return json_is_object(ch) && streq_ptr(json_string_value(json_object_get(ch, "kind")), "map") &&
               !json_is_true(json_object_get(ch, "dist")) && !json_object_get(ch, "reader") &&
               !json_object_get(ch, "writer") && !json_object_get(ch, "resultsBase") &&
               (!results || json_is_array(results)) && json_object_get(frame, "input");
}

static void set_kept_result(StoreCommit *c, const char *tag, size_t idx, json_t *v) {
        _cleanup_free_ char *field = xasprintf(KEPT_RESULT "%s:%zu", tag, idx);
        _cleanup_free_ char *text = json_writer_dumps(v ? v : json_null());

        if (!text)
                abort();
        store_commit_set_field(c, field, text);
}

typedef struct Detached {
        json_t *frame, *children; /* borrowed */
        json_t *input, *results;  /* owned while detached */
} Detached;

void store_commit_set_doc_split(StoreCommit *c, json_t *doc, const char *status) {
        json_t *frames = json_object_get(doc, "frames"), *ex = json_object_get(doc, "execution"), *f;
        _cleanup_free_ Detached *d = xmalloc((json_object_size(frames) + 1) * sizeof(Detached));
        json_t *exin = json_incref(json_object_get(ex, "input"));
        size_t n = 0;
        const char *fid;

        c->kept_bytes = 0;
        json_object_foreach (frames, fid, f) {
                json_t *ch = json_object_get(f, "children"), *stored, *fresh, *results, *x;
                const char *tag;
                size_t i;

                if (!split_eligible(f, ch))
                        continue;
                results = json_object_get(ch, "results");
                stored = json_object_get(ch, "stored");
                fresh = json_object_get(ch, "storedNew");
                if (!json_is_string(json_object_get(stored, "tag")) || !json_is_array(fresh)) {
                        /* First commit of this Map's run: its input, and
                         * every result it has so far. */
                        _cleanup_free_ char *t = xasprintf("%s.%" PRIu64, fid, c->expected_version + 1);
                        _cleanup_free_ char *field = xasprintf(KEPT_INPUT "%s", t);
                        _cleanup_free_ char *text = json_writer_dumps(json_object_get(f, "input"));

                        if (!text)
                                abort();
                        store_commit_set_field(c, field, text);
                        stored = json_pack("{s:s, s:I, s:I}", "tag", t, "n",
                                           (json_int_t) (results ? json_array_size(results) : 0), "bytes",
                                           (json_int_t) strlen(text));
                        json_object_set_new(ch, "stored", stored);
                        json_array_foreach (results, i, x)
                                if (!json_is_null(x))
                                        set_kept_result(c, t, i, x);
                        json_object_set_new(ch, "storedNew", json_array());
                } else {
                        tag = json_string_value(json_object_get(stored, "tag"));
                        json_array_foreach (fresh, i, x) {
                                json_int_t idx = json_integer_value(x);

                                if (idx >= 0 && (size_t) idx < json_array_size(results))
                                        set_kept_result(c, tag, (size_t) idx,
                                                        json_array_get(results, (size_t) idx));
                        }
                        json_array_clear(fresh);
                }
                c->kept_bytes += (size_t) json_integer_value(json_object_get(stored, "bytes")) +
                                 (size_t) json_integer_value(json_object_get(ch, "bytes"));
                /* Out of the text: replaced in place (the members keep
                 * their order), put back after the dump. */
                d[n] = (Detached){.frame = f,
                                  .children = ch,
                                  .input = json_incref(json_object_get(f, "input")),
                                  .results = json_incref(results)};
                json_object_set_new(f, "input", json_null());
                if (results)
                        json_object_set_new(ch, "results", json_null());
                n++;
        }
        if (n == 0)
                json_decref(TAKE_PTR(exin)); /* nothing grows: the text as it was */
        if (exin) {
                json_object_set_new(ex, "input", json_null());
                json_object_set_new(doc, "inputKept", json_true());
        }
        store_commit_set_doc(c, doc, status);
        if (exin) {
                json_object_del(doc, "inputKept");
                json_object_set_new(ex, "input", exin);
        }
        for (size_t i = 0; i < n; i++) {
                json_object_set_new(d[i].frame, "input", d[i].input);
                if (d[i].results)
                        json_object_set_new(d[i].children, "results", d[i].results);
        }
}

void store_doc_split_forget(json_t *doc) {
        json_t *f;
        const char *fid;

        json_object_foreach (json_object_get(doc, "frames"), fid, f) {
                json_object_del(json_object_get(f, "children"), "stored");
                json_object_del(json_object_get(f, "children"), "storedNew");
        }
}

json_t *store_doc_split_tags(json_t *doc) {
        json_t *tags = json_object(), *f;
        const char *fid;

        json_object_foreach (json_object_get(doc, "frames"), fid, f) {
                json_t *ch = json_object_get(f, "children"), *stored = json_object_get(ch, "stored");
                const char *tag = json_string_value(json_object_get(stored, "tag"));
                json_int_t n = json_integer_value(json_object_get(stored, "n"));

                if (!tag)
                        continue;
                if (json_array_size(json_object_get(ch, "results")) > (size_t) n)
                        n = (json_int_t) json_array_size(json_object_get(ch, "results"));
                json_object_set_new(tags, tag, json_integer(n));
        }
        return tags;
}

void store_commit_split_drop(StoreCommit *c, json_t *before, json_t *doc) {
        _cleanup_json_ json_t *now = NULL;
        const char *tag;
        json_t *n;

        if (json_object_size(before) == 0)
                return;
        now = store_doc_split_tags(doc);
        json_object_foreach (before, tag, n) {
                _cleanup_free_ char *field = NULL;

                if (json_object_get(now, tag))
                        continue;
                field = xasprintf(KEPT_INPUT "%s", tag);
                store_commit_del_field(c, field);
                for (json_int_t i = 0; i < json_integer_value(n); i++) {
                        _cleanup_free_ char *r = xasprintf(KEPT_RESULT "%s:%" JSON_INTEGER_FORMAT, tag, i);

                        store_commit_del_field(c, r);
                }
        }
}

/* The reply's value of field `name` (an HGETALL array), or NULL. */
static const redisReply *hash_get(const redisReply *r, const char *name) {
        for (size_t i = 0; i + 1 < r->elements; i += 2)
                if (r->element[i]->type == REDIS_REPLY_STRING && streq(r->element[i]->str, name) &&
                    r->element[i + 1]->type == REDIS_REPLY_STRING)
                        return r->element[i + 1];
        return NULL;
}

static json_t *reply_json(const redisReply *v) {
        return v ? json_loadb(v->str, v->len, JSON_DECODE_ANY, NULL) : NULL;
}

/* Puts back what store_commit_set_doc_split() kept outside the text:
 * -EBADMSG when a field is missing or not JSON. */
static int doc_join(json_t *doc, const redisReply *r) {
        _cleanup_json_ json_t *tags = json_object();
        json_t *frames = json_object_get(doc, "frames"), *f;
        const char *fid;

        if (json_is_true(json_object_get(doc, "inputKept"))) {
                json_t *in = reply_json(hash_get(r, "input"));

                if (!in)
                        return -EBADMSG;
                json_object_set_new(json_object_get(doc, "execution"), "input", in);
                json_object_del(doc, "inputKept");
        }
        json_object_foreach (frames, fid, f) {
                json_t *ch = json_object_get(f, "children");
                json_t *stored = json_object_get(ch, "stored");
                const char *tag = json_string_value(json_object_get(stored, "tag"));

                if (!tag)
                        continue;
                json_object_set(tags, tag, f);
                if (json_is_null(json_object_get(ch, "results"))) {
                        json_t *results = json_array();

                        for (json_int_t i = 0; i < json_integer_value(json_object_get(stored, "n")); i++)
                                json_array_append_new(results, json_null());
                        json_object_set_new(ch, "results", results);
                }
                json_object_del(f, "input");
        }
        if (json_object_size(tags) == 0)
                return 0;
        for (size_t i = 0; i + 1 < r->elements; i += 2) {
                const redisReply *k = r->element[i], *v = r->element[i + 1];
                _cleanup_free_ char *tag = NULL;
                json_t *frame, *x;
                const char *colon;
                char *end;

                if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
                        continue;
                if (strncmp(k->str, KEPT_INPUT, strlen(KEPT_INPUT)) == 0) {
                        frame = json_object_get(tags, k->str + strlen(KEPT_INPUT));
                        if (!frame)
                                continue;
                        if (!(x = reply_json(v)))
                                return -EBADMSG;
                        json_object_set_new(frame, "input", x);
                } else if (strncmp(k->str, KEPT_RESULT, strlen(KEPT_RESULT)) == 0 &&
                           (colon = strrchr(k->str, ':')) && colon > k->str + strlen(KEPT_RESULT)) {
                        const char *t = k->str + strlen(KEPT_RESULT);
                        unsigned long long idx;
                        json_t *results;

                        tag = xstrndup(t, (size_t) (colon - t));
                        frame = json_object_get(tags, tag);
                        if (!frame)
                                continue;
                        errno = 0;
                        idx = strtoull(colon + 1, &end, 10);
                        if (errno || *end || idx > (unsigned long long) ASL_MAX_MAP_ITEMS)
                                return -EBADMSG;
                        if (!(x = reply_json(v)))
                                return -EBADMSG;
                        results = json_object_get(json_object_get(frame, "children"), "results");
                        while (json_array_size(results) <= (size_t) idx)
                                json_array_append_new(results, json_null());
                        json_array_set_new(results, (size_t) idx, x);
                }
        }
        json_object_foreach (frames, fid, f)
                if (json_object_get(tags, json_string_value(json_object_get(
                                                  json_object_get(json_object_get(f, "children"), "stored"),
                                                  "tag"))) &&
                    !json_object_get(f, "input"))
                        return -EBADMSG;
        return 0;
}

static const char *elem_str(const redisReply *r, size_t i) {
        if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
                return NULL;
        if (r->element[i]->type != REDIS_REPLY_STRING)
                return NULL;
        return r->element[i]->str;
}

int store_exec_load_parse(const redisReply *r, StoreExecState *ret) {
        const redisReply *doc, *version, *sm, *smv, *status, *name, *start;
        _cleanup_json_ json_t *j = NULL;
        int k;

        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2)
                return -EBADMSG;
        doc = hash_get(r, "doc");
        version = hash_get(r, "version");
        sm = hash_get(r, "stateMachine");
        smv = hash_get(r, "smVersion");
        status = hash_get(r, "status");
        name = hash_get(r, "name");
        start = hash_get(r, "startDate");
        if (!doc || !version)
                return -ENOENT;
        j = json_loadb(doc->str, doc->len, JSON_DECODE_ANY, NULL);
        if (!j)
                return -EBADMSG;
        k = doc_join(j, r);
        if (k < 0)
                return k;
        *ret = (StoreExecState){
                .doc = TAKE_PTR(j),
                .version = strtoull(version->str, NULL, 10),
                .state_machine = xstrdup(sm ? sm->str : ""),
                .sm_version = smv ? (unsigned) strtoul(smv->str, NULL, 10) : 0,
                .status = xstrdup(status ? status->str : ""),
                .name = xstrdup(name ? name->str : ""),
                .start_ms = start ? strtoll(start->str, NULL, 10) : 0,
        };
        return 0;
}

int store_exec_load_sync(redisContext *c, const char *exec_id, StoreExecState *ret) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        store_exec_load_argv(exec_id, &a);
        k = store_command_sync(c, &a, &r);
        if (k < 0)
                return k;
        return store_exec_load_parse(r, ret);
}

void store_exec_running_count_argv(StoreArgv *ret) {
        store_argv_adds(ret, "SCARD");
        store_argv_adds(ret, STORE_KEY_RUNNING);
}

static json_t *json_from_text(const char *s, size_t len) {
        json_t *j = json_loadb(s, len, JSON_DECODE_ANY, NULL);
        return j ? j : json_stringn(s, len);
}

static void set_ms(json_t *o, const char *key, const char *value) {
        if (value && *value)
                json_object_set_new(o, key, json_integer(strtoll(value, NULL, 10)));
}

static const char *const describe_fields[] = {
        "stateMachine", "smVersion", "name", "status",       "startDate",   "stopDate",  "input",  "output",
        "error",        "cause",     "doc",  "redriveCount", "redriveDate", "mapRunArn", "parent",
};

/* The redrive fields of DescribeExecution, from the stored document. */
static void describe_redrive(json_t *o, json_t *doc) {
        struct timespec ts;
        AslEnv env = {};
        AslError e = {};

        /* The window is measured when the answer is read. */
        clock_gettime(CLOCK_REALTIME, &ts);
        env.now_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (!doc) {
                json_object_set_new(o, "redriveStatus", json_string("NOT_REDRIVABLE"));
                return;
        }
        if (asl_exec_redrivable(doc, &env, &e) == 0)
                json_object_set_new(o, "redriveStatus", json_string("REDRIVABLE"));
        else {
                json_object_set_new(o, "redriveStatus", json_string("NOT_REDRIVABLE"));
                json_object_set_new(o, "redriveStatusReason", json_string(e.cause ? e.cause : ""));
        }
        asl_error_clear(&e);
}

void store_exec_describe_argv(const char *exec_id, StoreArgv *ret) {
        _cleanup_free_ char *key = store_key_exec(exec_id);

        store_argv_reserve(ret, 2 + ELEMENTSOF(describe_fields));
        store_argv_adds(ret, "HMGET");
        store_argv_adds(ret, key);
        for (size_t i = 0; i < ELEMENTSOF(describe_fields); i++)
                store_argv_adds(ret, describe_fields[i]);
}

int store_exec_describe_parse(const redisReply *r, const char *exec_id, json_t **ret) {
        _cleanup_free_ char *arn = NULL;
        _cleanup_json_ json_t *o = NULL;
        const char *v;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != ELEMENTSOF(describe_fields))
                return -EBADMSG;
        if (!elem_str(r, 3))
                return -ENOENT;

        arn = xasprintf("imgflow:execution:%s", exec_id);
        o = json_pack("{s:s, s:s}", "executionId", exec_id, "executionArn", arn);
        json_object_set_new(o, "stateMachine", json_string(elem_str(r, 0) ?: ""));
        v = elem_str(r, 1);
        json_object_set_new(o, "stateMachineVersion", json_integer(v ? strtoll(v, NULL, 10) : 0));
        json_object_set_new(o, "name", json_string(elem_str(r, 2) ?: ""));
        json_object_set_new(o, "status", json_string(elem_str(r, 3)));
        set_ms(o, "startDate", elem_str(r, 4));
        set_ms(o, "stopDate", elem_str(r, 5));
        if ((v = elem_str(r, 6)))
                json_object_set_new(o, "input", json_from_text(v, r->element[6]->len));
        if ((v = elem_str(r, 7)))
                json_object_set_new(o, "output", json_from_text(v, r->element[7]->len));
        if ((v = elem_str(r, 8)))
                json_object_set_new(o, "error", json_string(v));
        if ((v = elem_str(r, 9)))
                json_object_set_new(o, "cause", json_string(v));
        if ((v = elem_str(r, 13))) {
                /* a Map Run's child: its ARN and state machine are the run's
                 * "<machine>/<label>" */
                _cleanup_free_ char *sm = store_map_run_state_machine_arn(v);
                const char *label = sm ? strchr(sm, ':') : NULL;

                label = label ? strchr(label + 1, ':') : NULL;
                if (label) {
                        _cleanup_free_ char *earn =
                                xasprintf("imgflow:execution:%s:%s", label + 1, elem_str(r, 2) ?: "");

                        json_object_set_new(o, "executionArn", json_string(earn));
                        json_object_set_new(o, "stateMachineArn", json_string(sm));
                }
                json_object_set_new(o, "mapRunArn", json_string(v));
        }
        if ((v = elem_str(r, 14)))
                json_object_set_new(o, "parentExecutionId", json_string(v));
        v = elem_str(r, 11);
        json_object_set_new(o, "redriveCount", json_integer(v ? strtoll(v, NULL, 10) : 0));
        set_ms(o, "redriveDate", elem_str(r, 12));
        {
                _cleanup_json_ json_t *doc = NULL;
                size_t done = 0, total = 0;

                if ((v = elem_str(r, 10)))
                        doc = json_loadb(v, r->element[10]->len, 0, NULL);
                if (doc)
                        asl_exec_map_progress(doc, &done, &total);
                if (total > 0)
                        json_object_set_new(o, "mapProgress",
                                            json_pack("{s:I, s:I}", "done", (json_int_t) done,
                                                      "total", (json_int_t) total));
                describe_redrive(o, doc);
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int store_exec_describe(redisContext *c, const char *exec_id, json_t **ret) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_reply_ redisReply *r = NULL;
        int k;

        if (!exec_id)
                return -EINVAL;
        store_exec_describe_argv(exec_id, &a);
        k = store_command_sync(c, &a, &r);
        if (k < 0)
                return k;
        return store_exec_describe_parse(r, exec_id, ret);
}

void store_exec_history_call(const char *exec_id, uint64_t start_id, size_t limit, bool reverse,
                             StoreCall *ret) {
        _cleanup_free_ char *hist = store_key_history(exec_id), *exec = store_key_exec(exec_id);

        if (limit == 0 || limit > STORE_LIST_LIMIT_MAX)
                limit = STORE_LIST_LIMIT_MAX;
        *ret = (StoreCall) { .script = STORE_SCRIPT_EXEC_HISTORY };
        store_argv_adds(&ret->keys, hist);
        store_argv_adds(&ret->keys, exec);
        store_argv_addf(&ret->args, "%" PRIu64, start_id);
        store_argv_addf(&ret->args, "%zu", limit);
        store_argv_adds(&ret->args, reverse ? "1" : "0");
}

int store_exec_history_parse(const redisReply *r, size_t limit, bool reverse, json_t **ret_events,
                             uint64_t *ret_next_id) {
        _cleanup_json_ json_t *a = NULL;
        size_t n;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !elem_str(r, 0))
                return -EBADMSG;
        if (streq(elem_str(r, 0), "missing"))
                return -ENOENT;
        if (limit == 0 || limit > STORE_LIST_LIMIT_MAX)
                limit = STORE_LIST_LIMIT_MAX;
        n = r->elements - 1; /* up to limit + 1, oldest first */
        a = json_array();
        *ret_next_id = 0;
        for (size_t i = 0; i < n; i++) {
                /* Forward: the first `limit`, the extra one is the next page.
                 * Reverse: from the newest down; the oldest is the extra. */
                size_t k = reverse ? n - i : i + 1;
                const redisReply *e = r->element[k];
                json_t *ev;

                if (e->type != REDIS_REPLY_STRING)
                        return -EBADMSG;
                ev = json_from_text(e->str, e->len);
                if (json_array_size(a) == limit) {
                        json_int_t id = json_integer_value(json_object_get(ev, "id"));
                        *ret_next_id = id > 0 ? (uint64_t) id : 0;
                        json_decref(ev);
                        break;
                }
                json_array_append_new(a, ev);
        }
        *ret_events = TAKE_PTR(a);
        return 0;
}

int store_exec_history(redisContext *c, const char *exec_id, size_t offset, size_t limit,
                       bool reverse, json_t **ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        uint64_t next;
        int k;

        if (!exec_id || offset != 0)
                return -EINVAL;
        store_exec_history_call(exec_id, 0, limit, reverse, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_exec_history_parse(r, limit, reverse, ret, &next);
}

void store_exec_list_call(const StoreExecFilter *f, const char *cursor, size_t limit, size_t scan_max,
                          StoreCall *ret) {
        const char *bar = cursor ? strchr(cursor, '|') : NULL;

        if (limit == 0)
                limit = 100;
        if (limit > STORE_LIST_LIMIT_MAX)
                limit = STORE_LIST_LIMIT_MAX;
        *ret = (StoreCall) { .script = STORE_SCRIPT_EXEC_LIST };
        if (f && f->map_run) {
                store_argv_addf(&ret->keys, "imgflow:maprun:%s:executions", f->map_run);
                store_argv_adds(&ret->args, "");
        } else {
                store_argv_adds(&ret->keys, STORE_KEY_EXECUTIONS);
                store_argv_adds(&ret->args, f && f->state_machine ? f->state_machine : "");
        }
        if (f && f->version > 0 && !f->map_run)
                store_argv_addf(&ret->args, "%u", f->version);
        else
                store_argv_adds(&ret->args, "");
        store_argv_adds(&ret->args, f && f->status ? f->status : "");
        if (bar) {
                store_argv_add(&ret->args, cursor, (size_t) (bar - cursor));
                store_argv_adds(&ret->args, bar + 1);
        } else {
                store_argv_adds(&ret->args, "");
                store_argv_adds(&ret->args, "");
        }
        store_argv_addf(&ret->args, "%zu", limit);
        store_argv_addf(&ret->args, "%zu", scan_max ? scan_max : 10000);
        store_argv_adds(&ret->args, f && f->machine_must_exist ? "1" : "0");
        store_argv_adds(&ret->args, f && f->redrive ? f->redrive : "");
        store_argv_adds(&ret->args, f && f->refuse_express ? "1" : "0");
}

int store_exec_list_parse(const redisReply *r, json_t **ret_items, char **ret_cursor) {
        _cleanup_json_ json_t *a = NULL;
        const redisReply *items;
        const char *tag;

        if (!r || r->type == REDIS_REPLY_ERROR)
                return -EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !(tag = elem_str(r, 0)))
                return -EBADMSG;
        if (streq(tag, "missing"))
                return -ENOENT;
        if (streq(tag, "express"))
                return -EPROTOTYPE;
        if (r->elements != 4 || r->element[1]->type != REDIS_REPLY_ARRAY || r->element[1]->elements % 10)
                return -EBADMSG;
        items = r->element[1];
        a = json_array();
        for (size_t i = 0; i < items->elements; i += 10) {
                json_t *o;

                for (size_t k = 0; k < 10; k++)
                        if (!elem_str(items, i + k))
                                return -EBADMSG;
                o = json_pack("{s:s, s:s, s:s, s:s}", "executionId", elem_str(items, i), "stateMachine",
                              elem_str(items, i + 1), "name", elem_str(items, i + 2), "status",
                              elem_str(items, i + 3));
                set_ms(o, "startDate", elem_str(items, i + 4));
                set_ms(o, "stopDate", elem_str(items, i + 5));
                json_object_set_new(o, "stateMachineVersion",
                                    json_integer(strtoll(elem_str(items, i + 6), NULL, 10)));
                json_object_set_new(o, "redriveCount",
                                    json_integer(strtoll(elem_str(items, i + 7), NULL, 10)));
                set_ms(o, "redriveDate", elem_str(items, i + 8));
                if (*elem_str(items, i + 9))
                        json_object_set_new(o, "itemCount",
                                            json_integer(strtoll(elem_str(items, i + 9), NULL, 10)));
                json_array_append_new(a, o);
        }
        *ret_cursor = NULL;
        if (streq(tag, "more") && elem_str(r, 2) && *elem_str(r, 2) && elem_str(r, 3))
                *ret_cursor = xasprintf("%s|%s", elem_str(r, 2), elem_str(r, 3));
        *ret_items = TAKE_PTR(a);
        return 0;
}

int store_exec_list(redisContext *c, const char *state_machine, const char *status, size_t limit,
                    json_t **ret) {
        _cleanup_(store_call_done) StoreCall call = {};
        _cleanup_reply_ redisReply *r = NULL;
        _cleanup_free_ char *cursor = NULL;
        StoreExecFilter f = { .state_machine = state_machine, .status = status };
        int k;

        store_exec_list_call(&f, NULL, limit, 10000, &call);
        k = store_call_sync(c, &call, &r, NULL, 0);
        if (k < 0)
                return k;
        return store_exec_list_parse(r, ret, &cursor);
}
