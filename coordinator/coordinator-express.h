/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * EXPRESS executions (coordinator-express.c): kept in the memory of the
 * coordinator that consumed their start, never written to Redis per state.
 *
 *   start     the start's Work applies START as for a STANDARD execution,
 *             then hands its offset over to the ExpressExec: the offset is
 *             done (Kafka commits past it) only when the execution has
 *             ended, so a coordinator that dies meanwhile leaves the start
 *             to be consumed again and the execution runs again from the
 *             start (at least once, as Step Functions promises for Express)
 *   tasks     carry replyTo, "<events topic>:<partition>", a partition of
 *             the events topic this coordinator holds (the start's own
 *             number when held: the range assignor gives one consumer the
 *             same numbers of both topics when their counts are equal);
 *             the worker produces the result and heartbeats there, not by
 *             the execution's key, so they reach this coordinator
 *   events    a result or timer of the execution takes the document from
 *             here (express_take_state()), runs the same apply step as a
 *             STANDARD one and gives the commit to express_commit() instead
 *             of Redis: timers become sd-event timers, Task messages are
 *             produced, history events go to <prefix>logs as the machine's
 *             loggingConfiguration says (nothing at OFF). The apply step
 *             skips what only a stored execution needs (ApplyConfig.in_memory:
 *             the document's text, ExecutionStatusChanged, task tokens) and,
 *             at OFF, the history events' texts and details (AslEnv.no_history)
 *   end       the offset is done; a StartSyncExecution is answered (the
 *             store's response key, as every answer) with the status,
 *             output or error and cause, dates and billing details
 *   bound     at most [coordinator] express_max_in_flight executions: past it
 *             the jobs topic's partitions pause until half have ended (not
 *             the whole consumer, which brings their results), and a start
 *             already consumed waits, parked out of in_flight, until one
 *             ends (work_express_unpark()). Every execution started puts
 *             its first Task in front of the workers at once: the bound is
 *             that queue (a burst of 1,000 starts made EXPRESS's dispatch
 *             latency tail, docs/express.md, "Cost")
 *   rebalance every partition is revoked (the eager range protocol): all
 *             executions are dropped and run again by whoever gets the
 *             starts' partitions
 *
 * The 5 minutes of an Express execution: a definition loaded for an
 * EXPRESS machine gets TimeoutSeconds 300 unless it has a smaller one, so
 * the engine's execution timeout ends it with States.Timeout.
 */

#include "coordinator-manager.h"

#define EXPRESS_DURATION_MAX_SEC PROTO_EXPRESS_DURATION_MAX_SEC
/* The billing of Step Functions: duration in 100 ms steps (at least 100),
 * memory in 64 MB steps (at least 64). */
#define EXPRESS_BILLED_MS_STEP 100
#define EXPRESS_BILLED_MB_STEP 64
/* Step Functions' estimate of an Express execution's memory (its pricing
 * page): 50 MB + the definition's size + the execution data held at once
 * (every Map iteration's and Parallel branch's payload); MB as that page
 * counts them, 1,000 KB of 1,000 bytes. */
#define EXPRESS_MB ((uint64_t) 1000 * 1000)
#define EXPRESS_MEMORY_BASE_BYTES (50 * EXPRESS_MB)

/* The memory of an execution: the base, the definition's bytes and the
 * largest its document (compact JSON) has been. */
uint64_t express_memory_bytes(size_t definition_bytes, size_t peak_document_bytes);
/* billedMemoryUsedInMB: memory_bytes rounded up to 64 MB steps. */
uint64_t express_billed_mb(uint64_t memory_bytes);
/* StopExecution of an Express execution: Step Functions' InvalidArn for
 * an Express execution's ARN ("express:..."), which no operation on
 * executions accepts (DescribeExecution, GetExecutionHistory,
 * RedriveExecution, DescribeStateMachineForExecution alike). */
#define EXPRESS_STOP_REFUSED STORE_EXPRESS_ARN_REFUSED

typedef struct ExpressExec ExpressExec;

/* The destroy function of Manager.express's values. */
void express_exec_free(void *p);

/* The replyTo of a new execution whose start came from jobs partition
 * `partition`: a new string, or NULL when this coordinator holds no
 * partition of the events topic (yet). */
char *express_reply_to(Manager *m, int32_t partition);

/*
 * A new execution, after apply_start() built its first commit; run_id
 * (copied) makes its ARN "imgflow:express:<exec_id>:<run_id>". Takes st
 * (moved), commit, reply_to and the origin topic (the start's offset, done
 * at the end); request_id (copied) is answered at the end when sync. The
 * commit is applied as express_commit() does.
 */
void express_start(Manager *m, const char *exec_id, const char *run_id, StoreExecState *st,
                   StoreCommit *commit, char *reply_to, char *topic, int32_t partition, int64_t offset,
                   const AslMachine *machine, bool sync, const char *request_id);

/* Whether exec_id runs here as an EXPRESS execution. */
bool express_has(Manager *m, const char *exec_id);
/* Lend the execution's state to the Work applying an event: true and *ret
 * (moved), false when there is no such execution or its state is lent. */
bool express_take_state(Manager *m, const char *exec_id, StoreExecState *ret, const char **ret_reply_to);
/* Give it back unchanged (the event changed nothing). Dropped when the
 * execution is gone meanwhile (a rebalance). */
void express_return_state(Manager *m, const char *exec_id, StoreExecState *st);
/* The commit of an event (taken) on the state lent (moved back): timers,
 * tasks, logs, and the end. */
void express_commit(Manager *m, const char *exec_id, StoreExecState *st, StoreCommit *commit);

/* The rebalance callback's partitions (borrowed), assigned or going:
 * which of the jobs and events topics this coordinator holds. */
void express_on_rebalance(Manager *m, bool assigned, const rd_kafka_topic_partition_list_t *partitions);

/* Partitions were revoked or lost: every execution is dropped (its start
 * is consumed again by the partition's next owner). */
void express_drop_all(Manager *m);
