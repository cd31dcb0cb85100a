/* SPDX-License-Identifier: MIT */
/*
 * The graph of a state machine: history -> per-state summary, definition ->
 * DOT (graph.h says what and why). Pure: no I/O, no clock.
 *
 * Both steps walk the definition into one flat table of states (Node), the
 * top-level states first and each Parallel branch / Map processor's states
 * after their container, every node knowing its container (parent), so a
 * failed Parallel or Map iteration can close what ran inside it. State
 * names are unique in the whole machine (the validator insists), so one
 * name -> index object finds a state from any event.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "graph.h"
#include "macro.h"

#define GRAPH_SPLINES_MAX_STATES 40
#define RULE_LABEL_MAX 60 /* bytes of a Choice rule or Catch label before "..." */

typedef struct Node {
        const char *name; /* borrowed from the definition */
        const char *type;
        json_t *state;    /* borrowed */
        int parent;       /* index of the Parallel / Map around it, -1 at the top */
        int branch;       /* which branch of the parent */
        const char *kind; /* Task: "Task" or "LambdaFunction", the prefix of its events' types */
        json_t *rdetails; /* Task: {"resourceType"?, "resource"} its events carry (new) */
        /* what happened */
        unsigned entered, open, pending_err, succeeded, caught, failed, aborted, scheduled, in_flight;
        uint64_t last_enter;
        const char *input, *output, *error, *cause; /* borrowed from the events / definition */
} Node;

typedef struct Graph {
        Node *nodes;
        size_t n, allocated;
        json_t *index; /* name -> integer index */
} Graph;

static void graph_done(Graph *g) {
        for (size_t i = 0; i < g->n; i++)
                json_decref(g->nodes[i].rdetails);
        free(g->nodes);
        json_decref(g->index);
        *g = (Graph){};
}

static int graph_walk(Graph *g, json_t *machine, int parent, int branch);

/* What a Task's history events say of its Resource, as the engine writes
 * them (asl-engine.c, resource_details() and task_event_type()): a Lambda
 * function ARN gives LambdaFunction* events, the Scheduled one naming the
 * function as "resource"; a service integration "arn:aws:states:::<type>:
 * <rest>" gives Task* events with resourceType <type> and resource <rest>;
 * anything else Task* events with resourceType "task" and the whole text. */
static void task_details(const char *resource, Node *x) {
        const char *prefix = "arn:aws:states:::", *colon;

        x->kind = "Task";
        if (!resource)
                resource = "";
        if (strncmp(resource, "arn:aws:lambda:", 15) == 0 && strstr(resource, ":function:")) {
                x->kind = "LambdaFunction";
                x->rdetails = json_pack("{s:s}", "resource", resource);
        } else if (strncmp(resource, prefix, strlen(prefix)) == 0 &&
                   (colon = strchr(resource + strlen(prefix), ':'))) {
                _cleanup_free_ char *type =
                        xstrndup(resource + strlen(prefix), (size_t) (colon - resource) - strlen(prefix));
                x->rdetails = json_pack("{s:s, s:s}", "resourceType", type, "resource", colon + 1);
        } else
                x->rdetails = json_pack("{s:s, s:s}", "resourceType", "task", "resource", resource);
}

static int graph_add(Graph *g, const char *name, json_t *st, int parent, int branch) {
        const char *type = json_string_value(json_object_get(st, "Type"));
        size_t k;

        if (g->n >= GRAPH_MAX_STATES)
                return -E2BIG;
        if (g->n >= g->allocated) {
                g->allocated = g->allocated ? g->allocated * 2 : 32;
                g->nodes = xrealloc(g->nodes, g->allocated * sizeof *g->nodes);
        }
        k = g->n++;
        g->nodes[k] = (Node){
                .name = name,
                .type = type ? type : "Unknown",
                .state = st,
                .parent = parent,
                .branch = branch,
        };
        if (streq(g->nodes[k].type, "Task"))
                task_details(json_string_value(json_object_get(st, "Resource")), &g->nodes[k]);
        if (streq(g->nodes[k].type, "Fail")) {
                g->nodes[k].error = json_string_value(json_object_get(st, "Error"));
                g->nodes[k].cause = json_string_value(json_object_get(st, "Cause"));
        }
        if (!json_object_get(g->index, name))
                json_object_set_new(g->index, name, json_integer((json_int_t) k));

        if (streq(g->nodes[k].type, "Parallel")) {
                json_t *b;
                size_t i;
                json_array_foreach (json_object_get(st, "Branches"), i, b) {
                        int r = graph_walk(g, b, (int) k, (int) i);
                        if (r < 0)
                                return r;
                }
        } else if (streq(g->nodes[k].type, "Map")) {
                json_t *p = json_object_get(st, "ItemProcessor") ?: json_object_get(st, "Iterator");
                if (p)
                        return graph_walk(g, p, (int) k, 0);
        }
        return 0;
}

static int graph_walk(Graph *g, json_t *machine, int parent, int branch) {
        const char *name;
        json_t *st;
        int r;

        json_object_foreach (json_object_get(machine, "States"), name, st) {
                r = graph_add(g, name, st, parent, branch);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int graph_load(Graph *g, json_t *definition) {
        int r;

        *g = (Graph){.index = json_object()};
        r = graph_walk(g, definition, -1, 0);
        if (r < 0)
                graph_done(g);
        return r;
}

static Node *graph_find(Graph *g, const char *name) {
        json_t *v = name ? json_object_get(g->index, name) : NULL;
        return v ? &g->nodes[json_integer_value(v)] : NULL;
}

static bool node_inside(const Graph *g, size_t k, size_t container) {
        for (int p = g->nodes[k].parent; p >= 0; p = g->nodes[p].parent)
                if ((size_t) p == container)
                        return true;
        return false;
}

/* ---- history ---- */

int graph_history_parse(const char *text, size_t len, json_t **ret, char **ret_why) {
        _cleanup_json_ json_t *events = NULL;
        json_error_t jerr;
        size_t i = 0;

        while (i < len && strchr(" \t\r\n", text[i]))
                i++;
        if (i < len && text[i] == '[') {
                events = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
                if (!events) {
                        *ret_why = xasprintf("line %d: %s", jerr.line, jerr.text);
                        return -EINVAL;
                }
        } else {
                /* one document {"events": [...]}, or one event a line */
                _cleanup_json_ json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
                if (doc && json_is_array(json_object_get(doc, "events")))
                        events = json_incref(json_object_get(doc, "events"));
                else {
                        size_t start = 0, line = 0;
                        events = json_array();
                        while (start < len) {
                                const char *nl = memchr(text + start, '\n', len - start);
                                size_t end = nl ? (size_t) (nl - text) : len;
                                line++;
                                if (end > start && text[start] == '{') {
                                        json_t *e = json_loadb(text + start, end - start,
                                                               JSON_REJECT_DUPLICATES, &jerr);
                                        if (!e) {
                                                *ret_why = xasprintf("line %zu: %s", line, jerr.text);
                                                return -EINVAL;
                                        }
                                        if (json_is_string(json_object_get(e, "type")))
                                                json_array_append_new(events, e);
                                        else
                                                json_decref(e);
                                }
                                start = end + 1;
                        }
                }
        }
        for (size_t k = 0; k < json_array_size(events); k++)
                if (!json_is_object(json_array_get(events, k)) ||
                    !json_is_string(json_object_get(json_array_get(events, k), "type"))) {
                        *ret_why = xasprintf("event %zu is not an object with a \"type\"", k);
                        return -EINVAL;
                }
        if (json_array_size(events) == 0) {
                *ret_why = xstrdup("no history events in it");
                return -EINVAL;
        }
        *ret = TAKE_PTR(events);
        return 0;
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

/* The details object of an event: "<type with a lower-case first letter>EventDetails". */
static json_t *event_details(json_t *e, const char *type) {
        char key[128];

        if (has_suffix(type, "StateEntered"))
                return json_object_get(e, "stateEnteredEventDetails");
        if (has_suffix(type, "StateExited"))
                return json_object_get(e, "stateExitedEventDetails");
        if (strlen(type) + sizeof "EventDetails" > sizeof key || !type[0])
                return NULL;
        snprintf(key, sizeof key, "%c%sEventDetails",
                 type[0] >= 'A' && type[0] <= 'Z' ? type[0] - 'A' + 'a' : type[0], type + 1);
        return json_object_get(e, key);
}

static const char *jstr(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* The kind of a task event ("Task", "LambdaFunction", "Activity"; NULL
 * for another event) and, in *ret_what, the rest of its type. */
static const char *task_kind(const char *type, const char **ret_what) {
        static const char *const kinds[] = {"LambdaFunction", "Activity", "Task"};

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (strncmp(type, kinds[i], strlen(kinds[i])) == 0) {
                        *ret_what = type + strlen(kinds[i]);
                        return kinds[i];
                }
        return NULL;
}

/* Whether a task event of kind with details d can be node x's: an
 * Activity's events any Task's, else the same kind of events, and the
 * resourceType and resource d names (if it names them) are x's. */
static bool task_matches(const Node *x, const char *kind, json_t *d) {
        const char *rt = jstr(d, "resourceType"), *r = jstr(d, "resource");

        if (!x->kind)
                return false;
        if (streq(kind, "Activity"))
                return true;
        return streq(x->kind, kind) && (!rt || streq(rt, strempty(jstr(x->rdetails, "resourceType")))) &&
               (!r || streq(r, strempty(jstr(x->rdetails, "resource"))));
}

/* Close the open visits of every state inside container: failed when a
 * failure was seen in them, else aborted. Returns the last error seen. */
static Node *close_inside(Graph *g, size_t container) {
        Node *err = NULL;

        for (size_t k = 0; k < g->n; k++) {
                Node *x = &g->nodes[k];
                if (!x->open || !node_inside(g, k, container))
                        continue;
                if (x->pending_err) {
                        x->failed += x->pending_err;
                        err = x;
                }
                x->aborted += x->open - MIN_(x->open, x->pending_err);
                x->open = x->pending_err = x->in_flight = 0;
        }
        return err;
}

/* The most recently entered open state of this type. */
static Node *latest_open(Graph *g, const char *type) {
        Node *best = NULL;
        for (size_t k = 0; k < g->n; k++)
                if (g->nodes[k].open && streq(g->nodes[k].type, type) &&
                    (!best || g->nodes[k].last_enter > best->last_enter))
                        best = &g->nodes[k];
        return best;
}

typedef struct Flight {
        size_t *items; /* node index of each task in flight, oldest first */
        size_t n, allocated;
} Flight;

static void flight_push(Flight *f, size_t k) {
        if (f->n >= f->allocated) {
                f->allocated = f->allocated ? f->allocated * 2 : 16;
                f->items = xrealloc(f->items, f->allocated * sizeof *f->items);
        }
        f->items[f->n++] = k;
}

/* The node of the oldest task in flight that the event can be, taken off
 * the list; NULL when none. */
static Node *flight_pop(Flight *f, Graph *g, const char *kind, json_t *d) {
        for (size_t i = 0; i < f->n; i++) {
                Node *x = &g->nodes[f->items[i]];
                if (!x->in_flight || !task_matches(x, kind, d))
                        continue;
                memmove(f->items + i, f->items + i + 1, (f->n - i - 1) * sizeof *f->items);
                f->n--;
                x->in_flight--;
                return x;
        }
        return NULL;
}

static void task_event(Graph *g, Flight *f, const char *kind, const char *what, json_t *d) {
        Node *x = NULL;

        if (streq(what, "Scheduled")) {
                for (size_t k = 0; k < g->n; k++) {
                        Node *c = &g->nodes[k];
                        if (!c->open || !task_matches(c, kind, d))
                                continue;
                        if (!x || c->in_flight < x->in_flight ||
                            (c->in_flight == x->in_flight && c->last_enter < x->last_enter))
                                x = c;
                }
                if (!x)
                        return;
                x->scheduled++;
                x->in_flight++;
                /* a failure followed by another attempt was retried, not caught */
                if (x->pending_err)
                        x->pending_err--;
                flight_push(f, (size_t) (x - g->nodes));
                return;
        }
        if (!streq(what, "Succeeded") && !streq(what, "Failed") && !streq(what, "TimedOut") &&
            !streq(what, "StartFailed") && !streq(what, "SubmitFailed") && !streq(what, "ScheduleFailed"))
                return; /* Started, Submitted, Heartbeat... */
        /* the details of an end name no resource for LambdaFunction* events */
        x = flight_pop(f, g, kind, streq(kind, "Task") ? d : NULL);
        if (!x || streq(what, "Succeeded"))
                return;
        if (x->pending_err < x->open)
                x->pending_err++;
        x->error = jstr(d, "error") ?: (streq(what, "TimedOut") ? "States.Timeout" : "States.TaskFailed");
        x->cause = jstr(d, "cause");
}

static void container_failed(Graph *g, Node *c, bool whole) {
        Node *err;

        if (!c)
                return;
        err = close_inside(g, (size_t) (c - g->nodes));
        if (err) {
                c->error = err->error;
                c->cause = err->cause;
        }
        if (whole && c->pending_err < c->open)
                c->pending_err++;
}

int graph_states(json_t *definition, json_t *events, json_t **ret) {
        _cleanup_json_ json_t *out = NULL, *states = NULL;
        const char *exec = "NOT_STARTED";
        Flight f = {};
        Graph g;
        json_t *e;
        size_t i;
        int r;

        r = graph_load(&g, definition);
        if (r < 0)
                return r;

        json_array_foreach (events, i, e) {
                const char *type = jstr(e, "type");
                json_t *d;
                Node *x;

                if (!type)
                        continue;
                d = event_details(e, type);
                if (has_suffix(type, "StateEntered")) {
                        x = graph_find(&g, jstr(d, "name"));
                        if (!x)
                                continue;
                        x->entered++;
                        x->open++;
                        x->last_enter = i + 1;
                        x->input = jstr(d, "input");
                        if (streq(type, "FailStateEntered")) {
                                x->open--;
                                x->failed++;
                        }
                } else if (has_suffix(type, "StateExited")) {
                        x = graph_find(&g, jstr(d, "name"));
                        if (!x)
                                continue;
                        x->output = jstr(d, "output");
                        if (x->open)
                                x->open--;
                        if (x->pending_err) {
                                x->pending_err--;
                                x->caught++;
                        } else
                                x->succeeded++;
                } else if (streq(type, "ExecutionStarted") || streq(type, "ExecutionRedriven")) {
                        exec = "RUNNING";
                        if (streq(type, "ExecutionRedriven"))
                                for (size_t k = 0; k < g.n; k++)
                                        g.nodes[k].failed = g.nodes[k].aborted = 0;
                } else if (strncmp(type, "Execution", 9) == 0) {
                        bool failed = !streq(type, "ExecutionSucceeded") && !streq(type, "ExecutionAborted");
                        exec = streq(type, "ExecutionSucceeded")  ? "SUCCEEDED"
                               : streq(type, "ExecutionFailed")   ? "FAILED"
                               : streq(type, "ExecutionTimedOut") ? "TIMED_OUT"
                               : streq(type, "ExecutionAborted")  ? "ABORTED"
                                                                  : exec;
                        for (size_t k = 0; k < g.n; k++) {
                                Node *y = &g.nodes[k];
                                if (!y->open)
                                        continue;
                                if (failed || y->pending_err)
                                        y->failed += y->open;
                                else
                                        y->aborted += y->open;
                                if (failed && !y->error && d) {
                                        y->error = jstr(d, "error");
                                        y->cause = jstr(d, "cause");
                                }
                                y->open = y->pending_err = y->in_flight = 0;
                        }
                        f.n = 0;
                } else if (streq(type, "ParallelStateFailed"))
                        container_failed(&g, latest_open(&g, "Parallel"), true);
                else if (streq(type, "MapStateFailed") || streq(type, "MapStateAborted"))
                        container_failed(&g, latest_open(&g, "Map"), true);
                else if (streq(type, "MapIterationFailed") || streq(type, "MapIterationAborted")) {
                        /* one iteration's states: those inside with a failure */
                        x = graph_find(&g, jstr(d, "name"));
                        for (size_t k = 0; x && k < g.n; k++) {
                                Node *y = &g.nodes[k];
                                if (y->open && y->pending_err &&
                                    node_inside(&g, k, (size_t) (x - g.nodes))) {
                                        y->open--;
                                        y->pending_err--;
                                        y->failed++;
                                        x->error = y->error;
                                        x->cause = y->cause;
                                }
                        }
                } else {
                        const char *what, *kind = task_kind(type, &what);
                        if (kind)
                                task_event(&g, &f, kind, what, d);
                }
        }

        states = json_object();
        for (size_t k = 0; k < g.n; k++) {
                Node *x = &g.nodes[k];
                const char *status = x->open && streq(exec, "RUNNING")           ? GRAPH_STATUS_RUNNING
                                     : x->failed                                 ? GRAPH_STATUS_FAILED
                                     : x->aborted && !x->succeeded && !x->caught ? GRAPH_STATUS_ABORTED
                                     : x->caught                                 ? GRAPH_STATUS_CAUGHT
                                     : x->succeeded                              ? GRAPH_STATUS_SUCCEEDED
                                     : x->entered                                ? GRAPH_STATUS_RUNNING
                                                                                 : GRAPH_STATUS_NOT_REACHED;
                json_t *s =
                        json_pack("{s:s, s:s, s:I, s:I}", "status", status, "type", x->type, "entered",
                                  (json_int_t) x->entered, "retries",
                                  (json_int_t) (x->scheduled > x->entered ? x->scheduled - x->entered : 0));
                if (x->input)
                        json_object_set_new(s, "input", json_string(x->input));
                if (x->output)
                        json_object_set_new(s, "output", json_string(x->output));
                if (x->error && (x->failed || x->caught || x->entered))
                        json_object_set_new(s, "error", json_string(x->error));
                if (x->cause && (x->failed || x->caught || x->entered))
                        json_object_set_new(s, "cause", json_string(x->cause));
                json_object_set_new(states, x->name, s);
        }
        out = json_pack("{s:s, s:O}", "execution", exec, "states", states);
        free(f.items);
        graph_done(&g);
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- DOT ---- */

static const struct {
        const char *status, *fill, *line;
} colours[] = {
        {GRAPH_STATUS_NOT_REACHED, "#f5f5f5", "#9e9e9e"}, {GRAPH_STATUS_RUNNING, "#bbdefb", "#1565c0"},
        {GRAPH_STATUS_SUCCEEDED, "#c8e6c9", "#2e7d32"},   {GRAPH_STATUS_CAUGHT, "#ffe0b2", "#ef6c00"},
        {GRAPH_STATUS_FAILED, "#ffcdd2", "#c62828"},      {GRAPH_STATUS_ABORTED, "#e0e0e0", "#616161"},
};

/* A DOT quoted string: " and \ escaped (Graphviz would read \N, \G, \l
 * ... in a label as its own escapes), newlines as \n. */
static void dot_string(FILE *out, const char *s) {
        fputc('"', out);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', out);
                if (*s == '\n')
                        fputs("\\n", out);
                else if (*s != '\r')
                        fputc(*s, out);
        }
        fputc('"', out);
}

/* Cut s at RULE_LABEL_MAX bytes (not inside a UTF-8 sequence), "..." after. New string. */
static char *label_cut(const char *s) {
        size_t n = strlen(s);

        if (n <= RULE_LABEL_MAX)
                return xstrdup(s);
        n = RULE_LABEL_MAX;
        while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
                n--;
        return xasprintf("%.*s...", (int) n, s);
}

/* A Choice rule in a few words: its JSONata Condition, or "Variable Op
 * value", And/Or/Not by their parts' count. New string. */
static char *rule_text(json_t *rule, unsigned depth) {
        const char *key, *cond = jstr(rule, "Condition");
        json_t *v;

        if (cond)
                return xstrdup(cond);
        if (json_is_array(json_object_get(rule, "And")))
                return xasprintf("And (%zu rules)", json_array_size(json_object_get(rule, "And")));
        if (json_is_array(json_object_get(rule, "Or")))
                return xasprintf("Or (%zu rules)", json_array_size(json_object_get(rule, "Or")));
        if (json_is_object(json_object_get(rule, "Not"))) {
                _cleanup_free_ char *inner =
                        depth < 4 ? rule_text(json_object_get(rule, "Not"), depth + 1) : xstrdup("...");
                return xasprintf("Not %s", inner);
        }
        json_object_foreach (rule, key, v) {
                _cleanup_free_ char *value = NULL;
                if (streq(key, "Variable") || streq(key, "Next") || streq(key, "Comment") ||
                    streq(key, "Assign") || streq(key, "Output"))
                        continue;
                value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                return xasprintf("%s %s %s", strempty(jstr(rule, "Variable")), key, strempty(value));
        }
        return xstrdup("?");
}

static void dot_edge(FILE *out, Graph *g, size_t from, const char *to, const char *label,
                     const char *attrs) {
        Node *t = graph_find(g, to);

        if (!t)
                return;
        fprintf(out, "  n%zu -> n%zu [", from, (size_t) (t - g->nodes));
        if (label) {
                _cleanup_free_ char *cut = label_cut(label);
                fputs("label=", out);
                dot_string(out, cut);
                fputs(", ", out);
        }
        fprintf(out, "%s];\n", attrs ? attrs : "");
}

static char *errors_text(json_t *list) {
        _cleanup_free_ char *s = NULL;
        json_t *v;
        size_t i;

        json_array_foreach (list, i, v) {
                char *t = xasprintf("%s%s%s", s ? s : "", s ? ", " : "", strempty(json_string_value(v)));
                free(s);
                s = t;
        }
        return s ? TAKE_PTR(s) : xstrdup("");
}

static void dot_node(FILE *out, Graph *g, size_t k, json_t *summary) {
        Node *x = &g->nodes[k];
        const char *status = jstr(json_object_get(json_object_get(summary, "states"), x->name), "status");
        _cleanup_free_ char *id = xasprintf("state-%s", x->name), *label = NULL, *cls = NULL;
        size_t c = 0;

        if (!status)
                status = GRAPH_STATUS_NOT_REACHED;
        for (size_t i = 0; i < ELEMENTSOF(colours); i++)
                if (streq(colours[i].status, status))
                        c = i;
        label = xasprintf("%s\n%s", x->name, x->type);
        cls = xasprintf("state %s", status);
        fprintf(out, "  n%zu [id=", k);
        dot_string(out, id);
        fputs(", label=", out);
        dot_string(out, label);
        fputs(", tooltip=", out);
        dot_string(out, x->name);
        fprintf(out, ", class=\"%s\", fillcolor=\"%s\", color=\"%s\"%s];\n", cls, colours[c].fill,
                colours[c].line, streq(x->type, "Choice") ? ", shape=box, style=\"filled,diagonals\"" : "");
}

/* The nodes of one scope (parent, branch), containers as clusters. */
static void dot_scope(FILE *out, Graph *g, int parent, int branch, json_t *summary) {
        for (size_t k = 0; k < g->n; k++) {
                Node *x = &g->nodes[k];
                bool par, map;

                if (x->parent != parent || x->branch != branch)
                        continue;
                par = streq(x->type, "Parallel");
                map = streq(x->type, "Map");
                if (!par && !map) {
                        dot_node(out, g, k, summary);
                        continue;
                }
                fprintf(out, "subgraph cluster_n%zu {\n  label=", k);
                dot_string(out, x->name);
                fputs("; style=\"rounded\"; color=\"#607d8b\";\n", out);
                dot_node(out, g, k, summary);
                if (par) {
                        size_t nb = json_array_size(json_object_get(x->state, "Branches"));
                        for (size_t b = 0; b < nb; b++) {
                                fprintf(out,
                                        "subgraph cluster_n%zu_%zu {\n  label=\"Branch %zu\"; style=dashed; "
                                        "color=\"#90a4ae\";\n",
                                        k, b, b + 1);
                                dot_scope(out, g, (int) k, (int) b, summary);
                                fputs("}\n", out);
                        }
                } else {
                        fprintf(out,
                                "subgraph cluster_n%zu_0 {\n  label=\"Item processor\"; style=dashed; "
                                "color=\"#90a4ae\";\n",
                                k);
                        dot_scope(out, g, (int) k, 0, summary);
                        fputs("}\n", out);
                }
                fputs("}\n", out);
        }
}

static void dot_edges(FILE *out, Graph *g, size_t k) {
        Node *x = &g->nodes[k];
        json_t *v;
        size_t i;

        if (x->parent < 0 && (json_is_true(json_object_get(x->state, "End")) || streq(x->type, "Succeed") ||
                              streq(x->type, "Fail")))
                fprintf(out, "  n%zu -> end;\n", k);
        if (jstr(x->state, "Next"))
                dot_edge(out, g, k, jstr(x->state, "Next"), NULL, NULL);
        json_array_foreach (json_object_get(x->state, "Choices"), i, v) {
                _cleanup_free_ char *t = rule_text(v, 0);
                dot_edge(out, g, k, jstr(v, "Next"), t, "class=\"choice\"");
        }
        if (jstr(x->state, "Default"))
                dot_edge(out, g, k, jstr(x->state, "Default"), "Default", "class=\"default\", style=dashed");
        json_array_foreach (json_object_get(x->state, "Catch"), i, v) {
                _cleanup_free_ char *errs = errors_text(json_object_get(v, "ErrorEquals")),
                                    *t = xasprintf("Catch: %s", errs);
                dot_edge(out, g, k, jstr(v, "Next"), t,
                         "class=\"catch\", style=dashed, color=\"#c62828\", fontcolor=\"#c62828\"");
        }
        json_array_foreach (json_object_get(x->state, "Retry"), i, v) {
                json_t *errors = json_object_get(v, "ErrorEquals"), *max = json_object_get(v, "MaxAttempts");
                size_t more = json_array_size(errors) > 1 ? json_array_size(errors) - 1 : 0;
                _cleanup_free_ char *t = NULL, *extra = more ? xasprintf(" +%zu", more) : xstrdup("");

                /* the first error only: a loop's label sits beside its node */
                t = xasprintf("Retry x%lld: %s%s", max ? (long long) json_integer_value(max) : 3LL,
                              strempty(json_string_value(json_array_get(errors, 0))), extra);
                dot_edge(out, g, k, x->name, t,
                         "class=\"retry\", style=dotted, color=\"#ef6c00\", fontcolor=\"#ef6c00\"");
        }
        if (streq(x->type, "Parallel")) {
                json_array_foreach (json_object_get(x->state, "Branches"), i, v)
                        dot_edge(out, g, k, jstr(v, "StartAt"), NULL, "class=\"branch\", style=dotted");
        } else if (streq(x->type, "Map")) {
                json_t *p =
                        json_object_get(x->state, "ItemProcessor") ?: json_object_get(x->state, "Iterator");
                dot_edge(out, g, k, jstr(p, "StartAt"), NULL, "class=\"branch\", style=dotted");
        }
}

int graph_dot(json_t *definition, json_t *summary, char **ret) {
        _cleanup_free_ char *buf = NULL;
        const char *exec = jstr(summary, "execution");
        size_t len = 0;
        FILE *out;
        Graph g;
        Node *start;
        int r;

        r = graph_load(&g, definition);
        if (r < 0)
                return r;
        out = open_memstream(&buf, &len);
        if (!out) {
                graph_done(&g);
                return -ENOMEM;
        }
        fputs("digraph machine {\n"
              "  graph [rankdir=TB, fontname=\"sans-serif\", fontsize=11, nodesep=0.4, ranksep=0.45,\n"
              "         nslimit=2, nslimit1=2, mclimit=0.2];\n"
              "  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11, "
              "penwidth=1.5];\n"
              "  edge [fontname=\"sans-serif\", fontsize=9, color=\"#546e7a\"];\n",
              out);
        fprintf(out,
                "  start [id=\"start\", class=\"start\", label=\"Start\", shape=circle, style=filled, "
                "fillcolor=\"#eceff1\", fontsize=9];\n"
                "  end [id=\"end\", class=\"end%s\", label=\"End\", shape=doublecircle, style=filled, "
                "fillcolor=\"%s\", fontsize=9];\n",
                exec && !streq(exec, "RUNNING") && !streq(exec, "NOT_STARTED") ? " finished" : "",
                exec && streq(exec, "SUCCEEDED")                              ? "#c8e6c9"
                : exec && (streq(exec, "FAILED") || streq(exec, "TIMED_OUT")) ? "#ffcdd2"
                                                                              : "#eceff1");
        /* Spline routing is what takes Graphviz minutes on a large tangled
         * graph (graph-svg.c); straight edges past GRAPH_SPLINES_MAX_STATES. */
        if (g.n > GRAPH_SPLINES_MAX_STATES)
                fputs("  graph [splines=line];\n", out);
        dot_scope(out, &g, -1, 0, summary);
        start = graph_find(&g, jstr(definition, "StartAt"));
        if (start)
                fprintf(out, "  start -> n%zu;\n", (size_t) (start - g.nodes));
        for (size_t k = 0; k < g.n; k++)
                dot_edges(out, &g, k);
        fputs("}\n", out);
        graph_done(&g);
        if (fclose(out) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}
