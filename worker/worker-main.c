/* SPDX-License-Identifier: MIT */
/* imgflow-worker: the worker daemon (worker.c) with the built-in image
 * operations and notify. */

#include "worker-daemon.h"

static const WorkerFlavor worker_flavor = {
        .program = "imgflow-worker",
        .description = "Run imgflow tasks: consume <prefix>tasks[.<pool>], run image operations on a\n"
                       "thread pool, publish the results to <prefix>events.",
        .section = "worker",
        .pool_option = "Serve <prefix>tasks.NAME (worker.pool)",
        .threads_option = "Image threads (worker.threads; 0 = CPUs)",
        .builtin_ops = true,
};

int main(int argc, char **argv) {
        return worker_daemon_main(argc, argv, &worker_flavor);
}
