/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The worker daemon (worker.c) as a program skeleton that more than one
 * executable runs: imgflow-worker (the built-in image operations) and
 * imgflow-lambda (Lambda handlers in runtime processes, lambda/). Both
 * consume a pool's tasks topic, run each task's operation on the thread
 * pool and report TaskSucceeded / TaskFailed the same way (docs/
 * worker-protocol.md); a WorkerFlavor says what differs: the program's
 * name, the configuration section of its pool and metrics keys, and the
 * operations it serves.
 *
 * The flavor's setup() runs once in manager_new() on the loop thread; it
 * returns a table of operations (borrowed until teardown()) that is searched
 * for each task's operation, and a userdata pointer that every operation's
 * OpContext carries (ctx->userdata) on the pool threads.
 */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "image-ops.h"

typedef struct WorkerFlavor {
        const char *program;     /* "imgflow-worker": logs, --version */
        const char *description; /* the help's first lines */
        const char *section;     /* config section of pool, group, id, metrics_listen */
        const char *pool_option; /* help text of --pool */
        const char *threads_option; /* help text of --threads */
        bool builtin_ops;        /* serve the built-in image operations and notify */

        /* Optional. c borrowed; *ret_ops borrowed until teardown(userdata);
         * *ret_threads: pool threads to start (0 = worker.threads). Returns 0
         * or a negative errno (logged). */
        int (*setup)(const Config *c, void **ret_userdata, const Operation **ret_ops, size_t *ret_n,
                     unsigned *ret_threads);
        /* Optional: after the pool's threads are joined. Accepts NULL. */
        void (*teardown)(void *userdata);
        /* Optional, for --check-config: the flavor's own keys. */
        int (*check_config)(const Config *c);
} WorkerFlavor;

/* Parses argv, loads the configuration and runs the daemon until SIGTERM.
 * Returns the process's exit status. */
int worker_daemon_main(int argc, char **argv, const WorkerFlavor *flavor);
