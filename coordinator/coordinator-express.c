/* SPDX-License-Identifier: MIT */
/*
 * EXPRESS executions in memory (see coordinator-express.h for the design):
 * the table of executions, their timers, the commits applied without Redis,
 * the history events published to <prefix>logs and the end.
 */

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "coordinator-express.h"
#include "coordinator-work.h"
#include "json-writer.h"
#include "log.h"

struct ExpressExec {
        Manager *m;
        char *exec_id; /* the key of Manager.express */
        char *arn;     /* "imgflow:express:<exec_id>:<run id>" */
        char *run_id;
        StoreExecState st; /* the document; empty while lent to a Work */
        bool lent;
        char *reply_to; /* "<events topic>:<partition>" of its tasks */
        char *topic;    /* the start's offset, done at the end */
        int32_t partition;
        int64_t offset;
        bool sync;
        char *request_id; /* sync: answered at the end */
        StoreLogLevel log_level;
        bool log_data;
        GHashTable *timers; /* timer id -> ExpressTimer */
        size_t definition_bytes;
        size_t peak_bytes; /* the largest the document has been (express_memory_bytes()) */
};

typedef struct ExpressTimer {
        ExpressExec *x;
        char *timer_id;
        sd_event_source *source;
} ExpressTimer;

static void express_timer_free(void *p) {
        ExpressTimer *t = p;

        if (!t)
                return;
        sd_event_source_disable_unref(t->source);
        free(t->timer_id);
        free(t);
}

void express_exec_free(void *p) {
        ExpressExec *x = p;

        if (!x)
                return;
        if (x->timers)
                g_hash_table_destroy(x->timers);
        store_exec_state_done(&x->st);
        free(x->exec_id);
        free(x->arn);
        free(x->run_id);
        free(x->reply_to);
        free(x->topic);
        free(x->request_id);
        free(x);
}

/* The held partitions of the jobs topic (new list), or NULL. */
static rd_kafka_topic_partition_list_t *jobs_partitions(Manager *m) {
        rd_kafka_topic_partition_list_t *jobs;

        if (!m->consumer)
                return NULL;
        jobs = rd_kafka_topic_partition_list_new((int) m->n_held_jobs);
        for (size_t i = 0; i < m->n_held_jobs; i++)
                if (m->held_jobs[i])
                        rd_kafka_topic_partition_list_add(jobs, m->topic_jobs, (int32_t) i);
        return jobs;
}

/* At most [coordinator] express_max_in_flight executions here: past it
 * the jobs topic's partitions pause (no more starts) until half of them
 * ended. Never the whole consumer: the executions' results come through it.
 * The bound is the queue in front of the workers: every execution started
 * dispatches its first Task at once, so a burst of starts is a burst of
 * Tasks that the workers take in turn (docs/express.md, "Cost"). */
static void express_backpressure(Manager *m) {
        size_t n = g_hash_table_size(m->express), max = m->express_max_in_flight;
        rd_kafka_topic_partition_list_t *jobs;

        if (n < max && !(m->express_paused && n <= max / 2))
                return;
        jobs = jobs_partitions(m);
        if (!jobs)
                return;
        if (n >= max) {
                if (kafka_consumer_pause(m->consumer, jobs) >= 0)
                        m->express_paused = true;
        } else if (kafka_consumer_resume(m->consumer, jobs) >= 0)
                m->express_paused = false;
        rd_kafka_topic_partition_list_destroy(jobs);
}

char *express_reply_to(Manager *m, int32_t partition) {
        int32_t chosen = -1;

        if (partition >= 0 && (size_t) partition < m->n_held_events && m->held_events[partition])
                chosen = partition;
        for (size_t i = 0; chosen < 0 && i < m->n_held_events; i++)
                if (m->held_events[i])
                        chosen = (int32_t) i;
        return chosen < 0 ? NULL : xasprintf("%s:%" PRIi32, m->topic_events, chosen);
}

#define HELD_PARTITIONS_MAX 65536

static void held_set(bool **held, size_t *n, int32_t partition, bool on) {
        if (partition < 0 || partition >= HELD_PARTITIONS_MAX)
                return;
        if ((size_t) partition >= *n) {
                if (!on)
                        return;
                *held = xrealloc(*held, (size_t) (partition + 1) * sizeof(bool));
                memset(*held + *n, 0, ((size_t) partition + 1 - *n) * sizeof(bool));
                *n = (size_t) partition + 1;
        }
        (*held)[partition] = on;
}

void express_on_rebalance(Manager *m, bool assigned, const rd_kafka_topic_partition_list_t *partitions) {
        for (int i = 0; partitions && i < partitions->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &partitions->elems[i];
                if (streq(p->topic, m->topic_jobs))
                        held_set(&m->held_jobs, &m->n_held_jobs, p->partition, assigned);
                else if (streq(p->topic, m->topic_events))
                        held_set(&m->held_events, &m->n_held_events, p->partition, assigned);
        }
}

bool express_has(Manager *m, const char *exec_id) {
        return g_hash_table_lookup(m->express, exec_id) != NULL;
}

bool express_take_state(Manager *m, const char *exec_id, StoreExecState *ret, const char **ret_reply_to) {
        ExpressExec *x = g_hash_table_lookup(m->express, exec_id);

        if (!x || x->lent)
                return false;
        store_exec_state_done(ret);
        *ret = x->st;
        x->st = (StoreExecState){};
        x->lent = true;
        *ret_reply_to = x->reply_to;
        return true;
}

void express_return_state(Manager *m, const char *exec_id, StoreExecState *st) {
        ExpressExec *x = g_hash_table_lookup(m->express, exec_id);

        if (!x || !x->lent) {
                store_exec_state_done(st);
                return;
        }
        x->st = *st;
        *st = (StoreExecState){};
        x->lent = false;
}

/* ---- timers ---- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ExpressTimer *t = userdata;
        ExpressExec *x = t->x;
        Manager *m = x->m;
        _cleanup_free_ char *buf = NULL;
        size_t len;
        int r;

        r = proto_encode_timer_fired(&(ProtoTimerFired){.execution_id = x->exec_id, .timer_id = t->timer_id},
                                     &m->limits, &buf, &len);
        /* Forgotten before the event runs: it may end the execution. */
        g_hash_table_steal(x->timers, t->timer_id);
        express_timer_free(t);
        manager_count(m, COUNTER_TIMERS);
        if (r >= 0)
                work_internal(m, buf, len);
        return 0;
}

static void timer_add(ExpressExec *x, const char *timer_id, int64_t due_ms) {
        ExpressTimer *t = xmalloc(sizeof *t);
        int r;

        *t = (ExpressTimer){.x = x, .timer_id = xstrdup(timer_id)};
        r = sd_event_add_time(x->m->event, &t->source, CLOCK_REALTIME,
                              due_ms > 0 ? (uint64_t) due_ms * 1000 : 0, /* accuracy= */ 1000, on_timer, t);
        if (r < 0) {
                log_struct_exec_errno(LOG_ERR, r, x->exec_id, NULL, NULL, "Cannot arm timer %s: %m",
                                      timer_id);
                express_timer_free(t);
                return;
        }
        g_hash_table_replace(x->timers, t->timer_id, t);
}

/* ---- logs ---- */

/* A history event as a log record of Step Functions' format: {"id",
 * "type", "details", "previous_event_id", "event_timestamp",
 * "execution_arn"}; without execution data, no input or output. */
static void log_event(ExpressExec *x, const StoreHistoryEvent *h) {
        _cleanup_json_ json_t *ev = json_loadb(h->text, h->len, 0, NULL), *rec = NULL;
        _cleanup_free_ char *text = NULL, *id = NULL, *prev = NULL;
        const char *type = json_string_value(json_object_get(ev, "type")), *key;
        json_t *details = NULL, *v;

        if (!type || !store_log_level_includes(x->log_level, type))
                return;
        json_object_foreach (ev, key, v) {
                size_t n = strlen(key);
                if (n > 12 && streq(key + n - 12, "EventDetails"))
                        details = v;
        }
        details = details ? json_deep_copy(details) : json_object();
        if (!x->log_data) {
                static const char *const data[] = {"input",      "output", "inputDetails", "outputDetails",
                                                   "parameters", "result", "resultDetails"};
                for (size_t i = 0; i < ELEMENTSOF(data); i++)
                        json_object_del(details, data[i]);
        }
        id = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(ev, "id")));
        prev = xasprintf("%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(ev, "previousEventId")));
        rec = json_pack("{s:s, s:s, s:o, s:s, s:O, s:s}", "id", id, "type", type, "details", details,
                        "previous_event_id", prev, "event_timestamp",
                        json_object_get(ev, "timestamp") ?: json_null(), "execution_arn", x->arn);
        if (!rec)
                return;
        text = json_writer_dumps(rec);
        if (text)
                manager_produce(x->m, x->m->topic_logs, x->exec_id, x->exec_id, text, NULL);
}

/* ---- commits ---- */

uint64_t express_memory_bytes(size_t definition_bytes, size_t peak_document_bytes) {
        return EXPRESS_MEMORY_BASE_BYTES + definition_bytes + peak_document_bytes;
}

uint64_t express_billed_mb(uint64_t memory_bytes) {
        uint64_t step = (uint64_t) EXPRESS_BILLED_MB_STEP * EXPRESS_MB;

        return (memory_bytes + step - 1) / step * EXPRESS_BILLED_MB_STEP;
}

/* The size of v as compact JSON, without writing it: strings and keys as
 * they are (no escapes), numbers at most 20 characters. A walk of the
 * document, cheaper than dumping it. */
static size_t json_size(json_t *v) {
        const char *key;
        json_t *item;
        size_t n, i;

        switch (json_typeof(v)) {
        case JSON_OBJECT:
                n = 2;
                json_object_foreach (v, key, item)
                        n += strlen(key) + 4 + json_size(item);
                return n;
        case JSON_ARRAY:
                n = 2;
                json_array_foreach (v, i, item)
                        n += json_size(item) + 1;
                return n;
        case JSON_STRING:
                return json_string_length(v) + 2;
        case JSON_INTEGER:
        case JSON_REAL:
                return 20;
        default:
                return 5;
        }
}

/* After each commit: everything of the execution the coordinator holds
 * (input, variables, the states in flight with their inputs, Map and
 * Parallel branches and their results). */
static void measure(ExpressExec *x) {
        size_t n = x->st.doc ? json_size(x->st.doc) : 0;

        if (n > x->peak_bytes)
                x->peak_bytes = n;
}

static void respond_sync(ExpressExec *x, const StoreCommit *c) {
        _cleanup_(store_argv_done) StoreArgv a = {};
        _cleanup_free_ char *text = NULL;
        const char *output = NULL, *error = NULL, *cause = NULL;
        int64_t start = x->st.start_ms, billed;
        uint64_t memory = express_memory_bytes(x->definition_bytes, x->peak_bytes);
        size_t len;

        for (size_t i = 0; i + 1 < c->fields.n; i += 2) {
                const char *f = c->fields.v[i], *v = c->fields.v[i + 1];
                if (streq(f, "output"))
                        output = v;
                else if (streq(f, "error"))
                        error = v;
                else if (streq(f, "cause"))
                        cause = v;
        }
        billed = c->stop_ms - start;
        billed = billed <= 0 ? EXPRESS_BILLED_MS_STEP
                             : (billed + EXPRESS_BILLED_MS_STEP - 1) / EXPRESS_BILLED_MS_STEP *
                                       EXPRESS_BILLED_MS_STEP;
        ProtoResponse r = {
                .request = PROTO_START_SYNC_EXECUTION,
                .request_id = x->request_id,
                .execution_id = x->exec_id,
                .run_id = x->run_id,
                .date_ms = start,
                .status = c->status,
                .output = output,
                .exec_error = error,
                .exec_cause = cause,
                .stop_ms = c->stop_ms,
                .billed_ms = billed,
                .billed_mb = (int64_t) express_billed_mb(memory),
        };
        if (proto_encode_response(&r, &text, &len) < 0 ||
            store_response_put_argv(x->request_id, text, &a) < 0 ||
            manager_command(x->m, &a, NULL, NULL) < 0)
                log_struct_exec(LOG_WARNING, x->exec_id, NULL, NULL, "Cannot store the answer to %s",
                                x->request_id);
}

/* The answer of an asynchronous StartExecution that the commit holds. */
static void respond_start(ExpressExec *x, const StoreCommit *c) {
        _cleanup_(store_argv_done) StoreArgv a = {};

        if (c->response.n < 3)
                return;
        store_argv_adds(&a, "SET");
        store_argv_adds(&a, c->response.v[0]);
        store_argv_adds(&a, c->response.v[1]);
        store_argv_adds(&a, "EX");
        store_argv_adds(&a, c->response.v[2]);
        store_argv_adds(&a, "NX");
        if (manager_command(x->m, &a, NULL, NULL) < 0)
                log_struct_exec(LOG_WARNING, x->exec_id, NULL, NULL, "Cannot store the answer to the start");
}

static void apply_commit(ExpressExec *x, StoreCommit *c) {
        Manager *m = x->m;

        for (size_t i = 0; i < c->n_history; i++)
                if (x->log_level != STORE_LOG_OFF)
                        log_event(x, &c->history[i]);
        for (size_t i = 0; i < c->timers_del.n; i++)
                g_hash_table_remove(x->timers, c->timers_del.v[i]);
        for (size_t i = 0; i + 1 < c->timers.n; i += 2)
                timer_add(x, c->timers.v[i], strtoll(c->timers.v[i + 1], NULL, 10));
        STORE_COMMIT_OUTBOX_FOREACH(c, e) {
                /* ExecutionStatusChanged is for STANDARD executions only. */
                if (!e->note.task_id)
                        continue;
                manager_note_dispatch(m, x->exec_id, e);
                _cleanup_free_ char *key = xasprintf("%s/%s", x->exec_id, e->note.task_id);
                manager_produce(m, e->topic, key, x->exec_id, e->payload, NULL);
        }
        if (!x->sync)
                respond_start(x, c);
}

void express_commit(Manager *m, const char *exec_id, StoreExecState *st, StoreCommit *commit) {
        _cleanup_commit_ StoreCommit *c = commit;
        ExpressExec *x = g_hash_table_lookup(m->express, exec_id);

        if (!x || !x->lent) {
                /* Dropped meanwhile (a rebalance): it runs again elsewhere. */
                store_exec_state_done(st);
                return;
        }
        manager_count(m, COUNTER_COMMITS);
        st->version++;
        if (c->status && !streq_ptr(st->status, c->status)) {
                free(st->status);
                st->status = xstrdup(c->status);
        }
        x->st = *st;
        *st = (StoreExecState){};
        x->lent = false;
        measure(x);
        apply_commit(x, c);
        if (c->stop_ms <= 0)
                return;

        m->n_finished++;
        if (m->m_executions && c->status)
                (void) metric_counter_inc(m->m_executions, (const char *const[]){c->status});
        log_struct_exec(LOG_INFO, x->exec_id, NULL, NULL,
                        "Express execution %s %s (memory %" PRIu64 " bytes, document at most %zu)",
                        x->exec_id, c->status ?: "?",
                        express_memory_bytes(x->definition_bytes, x->peak_bytes), x->peak_bytes);
        if (x->sync)
                respond_sync(x, c);
        if (x->topic && m->consumer)
                (void) kafka_consumer_done(m->consumer, x->topic, x->partition, x->offset);
        g_hash_table_remove(m->express, exec_id); /* frees x */
        express_backpressure(m);
        work_express_unpark(m, /* all= */ false);
}

void express_start(Manager *m, const char *exec_id, const char *run_id, StoreExecState *st,
                   StoreCommit *commit, char *reply_to, char *topic, int32_t partition, int64_t offset,
                   const AslMachine *machine, bool sync, const char *request_id) {
        ExpressExec *x = xmalloc(sizeof *x);

        *x = (ExpressExec){
                .m = m,
                .exec_id = xstrdup(exec_id),
                .arn = xasprintf("imgflow:express:%s:%s", exec_id, run_id),
                .run_id = xstrdup(run_id),
                .lent = true,
                .reply_to = reply_to,
                .topic = topic,
                .partition = partition,
                .offset = offset,
                .sync = sync,
                .request_id = request_id ? xstrdup(request_id) : NULL,
                .log_level = (StoreLogLevel) machine->log_level,
                .log_data = machine->log_execution_data,
                .definition_bytes = machine->definition_bytes,
                .timers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, express_timer_free),
        };
        g_hash_table_replace(m->express, x->exec_id, x);
        express_backpressure(m);
        manager_count(m, COUNTER_STARTED);
        if (m->m_executions)
                (void) metric_counter_inc(m->m_executions, (const char *const[]){"RUNNING"});
        log_struct_exec(LOG_INFO, x->exec_id, NULL, NULL,
                        "Started express execution %s (run %s, results to %s)", x->exec_id, x->run_id,
                        x->reply_to);
        express_commit(m, x->exec_id, st, commit);
}

void express_drop_all(Manager *m) {
        guint n = g_hash_table_size(m->express);

        if (n == 0)
                return;
        log_info("Partitions revoked: %u express executions dropped (they run again from their start)", n);
        g_hash_table_remove_all(m->express);
        m->express_paused = false; /* the partitions go; new ones are not paused */
        work_express_unpark(m, /* all= */ true);
}
