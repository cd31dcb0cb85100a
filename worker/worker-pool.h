/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The worker's thread pool (STYLE 10: never block the loop).
 *
 * The event-loop thread submits items (opaque pointers); N threads take
 * them in FIFO order and call run(item) on them; a finished item is put on
 * the "finished" list and the pool's eventfd becomes readable. The loop
 * watches that fd (worker_pool_get_fd) and calls worker_pool_dispatch(),
 * which hands each finished item back, on the loop thread, to done().
 *
 * Items still queued (not started) can be taken back with
 * worker_pool_cancel_queued() (a rebalance revoked their partition, or the
 * daemon is stopping): they are handed to the caller's callback and never
 * run. A running item cannot be taken back; the caller may ask it to stop
 * through its own cancel flag.
 *
 * Ownership: the pool never frees an item. An item belongs to the pool from
 * worker_pool_submit() until it is handed back through done() or a cancel
 * callback; worker_pool_free() hands queued and finished-but-undispatched
 * items to the `drop` callback given to worker_pool_new().
 *
 * Thread-safety: every function except the run callback is for the one
 * thread that owns the pool (the event-loop thread). run() is called on a
 * pool thread and must not touch loop state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORKER_POOL_THREADS_MAX 256
#define WORKER_POOL_QUEUE_MAX 65536 /* queued items; submit fails with -EAGAIN past it */

typedef struct WorkerPool WorkerPool;

/* Runs on a pool thread. */
typedef void (*WorkerPoolRunFn)(void *item, void *userdata);
/* Runs on the loop thread: a finished item (done), a cancelled or dropped
 * one (drop). Takes the item back. */
typedef void (*WorkerPoolItemFn)(void *item, void *userdata);
/* Predicate for worker_pool_cancel_queued(). */
typedef bool (*WorkerPoolMatchFn)(void *item, void *userdata);

/* Starts n_threads (1..WORKER_POOL_THREADS_MAX) threads. userdata is
 * borrowed and passed to every callback. Returns 0, -EINVAL, -ENOMEM, or the
 * -errno of eventfd()/pthread_create(). */
int worker_pool_new(unsigned n_threads, WorkerPoolRunFn run, WorkerPoolItemFn done, WorkerPoolItemFn drop,
                    void *userdata, WorkerPool **ret);

/*
 * Stops the pool: the threads finish the item they run (if any) and exit;
 * queued items are not started. Waits for the threads at most until
 * join_timeout_ms (0 = without limit); a thread still running then is left
 * behind (detached; the process is about to exit) and its item is leaked on
 * purpose, since it may still be touched. Queued and finished items are
 * handed to drop(). Accepts NULL; returns NULL.
 */
WorkerPool *worker_pool_free(WorkerPool *p, uint64_t join_timeout_ms);

/* The pool's eventfd: readable when finished items wait for dispatch. */
int worker_pool_get_fd(const WorkerPool *p);

/* Queue an item (owned by the pool until handed back). -EAGAIN when the
 * queue holds WORKER_POOL_QUEUE_MAX items, -ESHUTDOWN after stop, -ENOMEM. */
int worker_pool_submit(WorkerPool *p, void *item);

/* Hands every finished item to done(), in the order they finished; clears
 * the eventfd. Returns the number handed back. */
size_t worker_pool_dispatch(WorkerPool *p);

/* Removes every queued item for which match(item) is true (match NULL: all)
 * and hands it to cb (NULL: to drop()). Returns the number removed. */
size_t worker_pool_cancel_queued(WorkerPool *p, WorkerPoolMatchFn match, WorkerPoolItemFn cb,
                                 void *cb_userdata);

/* Counts (a snapshot): queued and not started; running now; finished and
 * not yet dispatched. */
size_t worker_pool_queued(WorkerPool *p);
size_t worker_pool_running(WorkerPool *p);
size_t worker_pool_finished(WorkerPool *p);
unsigned worker_pool_threads(const WorkerPool *p);

static inline void worker_pool_freep(WorkerPool **p) {
        worker_pool_free(*p, 0);
}
