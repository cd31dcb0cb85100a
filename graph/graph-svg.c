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

static int64_t mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int graph_svg(const char *dot, unsigned timeout_ms, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0;
        int64_t deadline = mono_ms() + timeout_ms;
        int fds[2], status = 0, r = 0;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
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
                layout_child(dot, fds[1]);
        }
        close(fds[1]);

        for (;;) {
                struct pollfd p = {.fd = fds[0], .events = POLLIN};
                int64_t left = deadline - mono_ms();
                ssize_t n;

                if (left <= 0) {
                        r = -ETIME;
                        break;
                }
                n = poll(&p, 1, (int) left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        continue;
                if (allocated - len < 65536) {
                        if (allocated >= GRAPH_SVG_MAX_BYTES) {
                                r = -EFBIG;
                                break;
                        }
                        allocated = allocated ? allocated * 2 : 262144;
                        buf = xrealloc(buf, allocated + 1);
                }
                n = read(fds[0], buf + len, allocated - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        close(fds[0]);
        if (r < 0)
                kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return r;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0)
                return -EINVAL;
        buf[len] = '\0';
        *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}
