/* SPDX-License-Identifier: MIT */
/*
 * DOT -> SVG with Graphviz's libgvc: the boundary file of that library
 * (STYLE 5).
 *
 * The layout runs in a child process, which writes the SVG into a pipe and
 * exits; the caller waits at most timeout_ms and kills it after that. A
 * layout's time is not bounded by the number of states alone: 150 Choice
 * states whose rules jump far ahead took Graphviz over five minutes with
 * its default effort (network simplex and crossing minimisation without
 * limits), so graph_dot() sets nslimit, nslimit1 and mclimit (4 s for that
 * graph) and this deadline bounds the rest. The child also keeps a
 * Graphviz crash and Graphviz's own global state (its error level, the
 * plugin list) out of the caller.
 *
 * Why server-side Graphviz and not a layout library in the browser:
 * docs/console.md ("The graph").
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include "alloc-util.h"
#include "child-output.h"
#include "graph.h"
#include "macro.h"

/* In the child: lay out and write the SVG to fd. Exit status 0 or 1. */
static int layout_child(void *arg, int fd) {
        const char *dot = arg;
        GVC_t *gvc;
        Agraph_t *g;
        char *data = NULL;
        unsigned len = 0;

        agseterr(AGMAX); /* a syntax error is the caller's -EINVAL, not a message */
        gvc = gvContext();
        g = gvc ? agmemread(dot) : NULL;
        if (!g || gvLayout(gvc, g, "dot") != 0 || gvRenderData(gvc, g, "svg", &data, &len) != 0 || !data)
                return 1;
        return child_output_write(fd, data, len) < 0 ? 1 : 0;
}

int graph_layout_start(const char *dot, GraphLayout **ret) {
        return child_output_start(layout_child, (void *) dot, GRAPH_SVG_MAX_BYTES, ret);
}

int graph_layout_read(GraphLayout *l) {
        int r = child_output_read(l);
        return r == -EPROTO ? -EINVAL : r;
}

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int graph_svg(const char *dot, unsigned timeout_ms, char **ret, size_t *ret_len) {
        _cleanup_(child_output_freep) GraphLayout *l = NULL;
        int64_t deadline = mono_ms() + timeout_ms;
        int r;

        r = graph_layout_start(dot, &l);
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd p = {.fd = child_output_fd(l), .events = POLLIN};
                int64_t left = deadline - mono_ms();

                if (left <= 0)
                        return -ETIME;
                if (poll(&p, 1, (int) left) < 0 && errno != EINTR)
                        return -errno;
                r = graph_layout_read(l);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
        }
        *ret = child_output_take(l, ret_len);
        return 0;
}
