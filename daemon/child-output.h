/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Run a function in a child process and collect what it writes, for work
 * that must not run in a daemon's own process or block its loop: Graphviz's
 * layout (graph/graph-svg.c: its time is not bounded by its input's size)
 * and the console's thumbnails (api/console-thumbnail.c: libvips on an
 * uploaded image). The child gets its own address space, so a crash or a
 * runaway there is the caller's error value, and the caller kills it at its
 * deadline.
 *
 *   child_output_start(fn, arg, &c)   forks; the child runs fn(arg, fd),
 *                                     which writes its answer to fd and
 *                                     returns an exit status (0 = success)
 *   child_output_fd(c)                readable when there is output or the
 *                                     child closed its end (watch it)
 *   child_output_read(c)              0 = more to come, 1 = done with exit
 *                                     status 0 and some output, < 0 failed
 *                                     (-EPROTO: the child failed or wrote
 *                                     nothing, -EFBIG: past max_bytes); the
 *                                     same answer again once ended
 *   (the fd stays open until child_output_free(): drop the io source that
 *   watches it first)
 *   child_output_take(c, &len)        the output (new, NUL-terminated)
 *   child_output_free(c)              kills a child still running, reaps it
 *
 * fork() of a threaded process (librdkafka's threads): the child calls only
 * fn, which must not need those threads, and leaves with _exit().
 */

#include <stddef.h>

typedef struct ChildOutput ChildOutput;
typedef int (*ChildOutputFn)(void *arg, int fd);

int child_output_start(ChildOutputFn fn, void *arg, size_t max_bytes, ChildOutput **ret);
int child_output_fd(const ChildOutput *c);
int child_output_read(ChildOutput *c);
char *child_output_take(ChildOutput *c, size_t *ret_len);
ChildOutput *child_output_free(ChildOutput *c);
static inline void child_output_freep(ChildOutput **c) {
        child_output_free(*c);
}

/* Write all of buf to fd (in the child): 0 or -errno. */
int child_output_write(int fd, const void *buf, size_t len);
