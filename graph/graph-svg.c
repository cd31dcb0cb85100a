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
#include "graph.h"
#include "macro.h"

/* In the child: lay out and write the SVG to fd. Exit status 0 or 1. */
static _Noreturn void layout_child(const char *dot, int fd) {
        GVC_t *gvc;
        Agraph_t *g;
        char *data = NULL;
        unsigned len = 0;
        size_t done = 0;

        agseterr(AGMAX); /* a syntax error is the caller's -EINVAL, not a message */
        gvc = gvContext();
        g = gvc ? agmemread(dot) : NULL;
        if (!g || gvLayout(gvc, g, "dot") != 0 || gvRenderData(gvc, g, "svg", &data, &len) != 0 || !data)
                _exit(1);
        while (done < len) {
                ssize_t n = write(fd, data + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(1);
                done += (size_t) n;
        }
        _exit(0);
}

struct GraphLayout {
        pid_t pid; /* 0 once reaped */
        int fd;    /* the pipe's read end, -1 once closed */
        char *buf;
        size_t len, allocated;
};

int graph_layout_start(const char *dot, GraphLayout **ret) {
        GraphLayout *l;
        int fds[2], r;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(fds[0]);
                close(fds[1]);
                return r;
        }
        if (pid == 0) {
                close(fds[0]);
                /* the child writes blocking */
                (void) fcntl(fds[1], F_SETFL, 0);
                layout_child(dot, fds[1]);
        }
        close(fds[1]);
        l = xmalloc(sizeof *l);
        *l = (GraphLayout){.pid = pid, .fd = fds[0]};
        *ret = l;
        return 0;
}

int graph_layout_fd(const GraphLayout *l) {
        return l->fd;
}

/* Reap the child (it closed its end: it is exiting): 0 when it succeeded. */
static int layout_reap(GraphLayout *l) {
        int status = 0;

        while (waitpid(l->pid, &status, 0) < 0 && errno == EINTR)
                ;
        l->pid = 0;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 && l->len > 0 ? 0 : -EINVAL;
}

int graph_layout_read(GraphLayout *l) {
        for (;;) {
                ssize_t n;

                if (l->allocated - l->len < 65536) {
                        if (l->allocated >= GRAPH_SVG_MAX_BYTES)
                                return -EFBIG;
                        l->allocated = l->allocated ? l->allocated * 2 : 262144;
                        l->buf = xrealloc(l->buf, l->allocated + 1);
                }
                n = read(l->fd, l->buf + l->len, l->allocated - l->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        close(l->fd);
                        l->fd = -1;
                        return layout_reap(l) < 0 ? -EINVAL : 1;
                }
                l->len += (size_t) n;
        }
}

char *graph_layout_take(GraphLayout *l, size_t *ret_len) {
        char *svg = TAKE_PTR(l->buf);

        svg[l->len] = '\0';
        *ret_len = l->len;
        l->len = l->allocated = 0;
        return svg;
}

GraphLayout *graph_layout_free(GraphLayout *l) {
        if (!l)
                return NULL;
        if (l->fd >= 0)
                close(l->fd);
        if (l->pid > 0) {
                kill(l->pid, SIGKILL);
                while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        free(l->buf);
        free(l);
        return NULL;
}

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int graph_svg(const char *dot, unsigned timeout_ms, char **ret, size_t *ret_len) {
        _cleanup_(graph_layout_freep) GraphLayout *l = NULL;
        int64_t deadline = mono_ms() + timeout_ms;
        int r;

        r = graph_layout_start(dot, &l);
        if (r < 0)
                return r;
        for (;;) {
                struct pollfd p = {.fd = l->fd, .events = POLLIN};
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
        *ret = graph_layout_take(l, ret_len);
        return 0;
}
