/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The graph of a state machine, as the console and `imgflow render` draw
 * it: states as nodes, Next / Choice rules / Default / Catch edges, Retry as
 * labelled loops, Parallel branches and Map processors as nested boxes
 * (Graphviz clusters), each state coloured by what happened to it in one
 * execution.
 *
 * Three steps, each usable alone:
 *
 *   graph_states()  an execution's history events -> what happened to each
 *                   state ({"<name>": {"status", "entered", "retries",
 *                   "input", "output", "error", "cause"}}) and the
 *                   execution's status. Pure, no I/O.
 *   graph_dot()     a definition (+ that summary) -> the graph in the DOT
 *                   language. Pure, no I/O.
 *   graph_svg()     DOT -> SVG, laid out by Graphviz's libgvc ("dot").
 *
 * Statuses (GRAPH_STATUS_*, also the SVG class of the node): not-reached,
 * running, succeeded, caught (it failed and a Catch took over), failed,
 * aborted (it was running when its Parallel branch, Map iteration or the
 * execution stopped without it having failed).
 *
 * Which Task a task event belongs to: imgflow's history events chain
 * previousEventId one by one (id - 1), not causally, and TaskScheduled /
 * TaskSucceeded / TaskFailed (LambdaFunction* for a Lambda function ARN)
 * do not name their state (as in Step Functions).
 * A TaskScheduled goes to the open Task state (entered, not exited) whose
 * Resource gives the event's resourceType/resource and that has the fewest
 * tasks in flight, the earliest entered first; a task's end goes to the
 * earliest scheduled task in flight with the same resource. Two concurrent
 * states on one Resource may so swap a retry between them; the states'
 * own Entered/Exited events, which name the state, are exact.
 *
 * Limits: a definition of more than GRAPH_MAX_STATES states is -E2BIG (the
 * layout's time grows faster than linearly), and a layout has a deadline
 * (graph_svg()); history events are read in one pass.
 */

#include <stddef.h>

#include <jansson.h>

#define GRAPH_MAX_STATES 500

#define GRAPH_STATUS_NOT_REACHED "not-reached"
#define GRAPH_STATUS_RUNNING "running"
#define GRAPH_STATUS_SUCCEEDED "succeeded"
#define GRAPH_STATUS_CAUGHT "caught"
#define GRAPH_STATUS_FAILED "failed"
#define GRAPH_STATUS_ABORTED "aborted"

/*
 * Read history events from text: a GetExecutionHistory answer ({"events":
 * [...]}), a JSON array of events, or one event a line as `imgflow run
 * --history` writes them (lines that are not JSON objects with a "type" are
 * skipped: the run's output, messages). 0 and *ret (new array, in id
 * order), or -EINVAL with *ret_why (new string) naming what is wrong.
 */
int graph_history_parse(const char *text, size_t len, json_t **ret, char **ret_why);

/*
 * What happened to each state of definition (borrowed, a definition that
 * asl_machine_parse() accepted) in the execution whose events (borrowed
 * array, NULL = none) are given: {"execution": "RUNNING" | "SUCCEEDED" |
 * "FAILED" | "TIMED_OUT" | "ABORTED" | "NOT_STARTED", "states": {"<name>":
 * {"status", "type", "entered", "retries", "input"?, "output"?, "error"?,
 * "cause"?}}} where input/output are the last visit's JSON text and
 * error/cause the last failure seen. 0 and *ret (new), -E2BIG over
 * GRAPH_MAX_STATES.
 */
int graph_states(json_t *definition, json_t *events, json_t **ret);

/*
 * The DOT text of definition (borrowed), coloured by summary (borrowed, what
 * graph_states() made; NULL = nothing ran, every state not-reached). Each
 * state's node has id "state-<name>" and class "state <status>" in the SVG.
 * 0 and *ret (new string), -E2BIG over GRAPH_MAX_STATES.
 */
int graph_dot(json_t *definition, json_t *summary, char **ret);

/*
 * Lay out DOT text with Graphviz and render it as SVG, in a child process
 * given at most timeout_ms (graph-svg.c says why): 0 and *ret (new
 * NUL-terminated string, free()) and *ret_len; -ETIME when the layout took
 * longer (the child is killed), -EINVAL when Graphviz did not read the text
 * or failed, -EFBIG past GRAPH_SVG_MAX_BYTES, or another -errno (fork, pipe).
 * Blocks the calling thread until then.
 */
#define GRAPH_SVG_MAX_BYTES (64u * 1024 * 1024)
#define GRAPH_LAYOUT_TIMEOUT_MS_DEFAULT 10000
int graph_svg(const char *dot, unsigned timeout_ms, char **ret, size_t *ret_len);

/*
 * The same layout for an event loop, on daemon/child-output.h:
 * graph_layout_start() forks the child (new object in *ret); watch
 * child_output_fd() and call graph_layout_read() on each wakeup: 0 = more
 * to come, 1 = done (take the SVG with child_output_take()), -EINVAL (the
 * layout failed), -EFBIG, -errno. child_output_free() kills a child still
 * running (the caller's deadline) and reaps it.
 */
#include "child-output.h"
typedef ChildOutput GraphLayout;
int graph_layout_start(const char *dot, GraphLayout **ret);
int graph_layout_read(GraphLayout *l);
