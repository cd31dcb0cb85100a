/* SPDX-License-Identifier: MIT */
/* A function's output from a child process (child-output.h). */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "child-output.h"
#include "macro.h"

struct ChildOutput {
        pid_t pid;  /* 0 once reaped */
        int fd;     /* the pipe's read end, until child_output_free() */
        int result; /* child_output_read()'s answer once the child has ended, else 0 */
        char *buf;
        size_t len, allocated, max;
};

int child_output_write(int fd, const void *buf, size_t len) {
        size_t done = 0;

        while (done < len) {
                ssize_t n = write(fd, (const char *) buf + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                done += (size_t) n;
        }
        return 0;
}

int child_output_start(ChildOutputFn fn, void *arg, size_t max_bytes, ChildOutput **ret) {
        ChildOutput *c;
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
                (void) fcntl(fds[1], F_SETFL, 0); /* the child writes blocking */
                _exit(fn(arg, fds[1]));
        }
        close(fds[1]);
        c = xmalloc(sizeof *c);
        *c = (ChildOutput){.pid = pid, .fd = fds[0], .max = max_bytes};
        *ret = c;
        return 0;
}

int child_output_fd(const ChildOutput *c) {
        return c->fd;
}

int child_output_read(ChildOutput *c) {
        if (c->result != 0)
                return c->result;
        for (;;) {
                ssize_t n;

                if (c->allocated - c->len < 65536) {
                        if (c->allocated >= c->max)
                                return -EFBIG;
                        c->allocated = c->allocated ? c->allocated * 2 : 262144;
                        c->buf = xrealloc(c->buf, c->allocated + 1);
                }
                n = read(c->fd, c->buf + c->len, c->allocated - c->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        int status = 0;

                        /* It closed its end: it is exiting. The read end stays
                         * open until child_output_free(), after the caller's
                         * io source has left epoll: closed here, under that
                         * source, the epoll entry would outlive it whenever
                         * another child forked meanwhile holds the same pipe
                         * (fork() copies every descriptor), and the loop would
                         * get the pipe's end for a freed source. */
                        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        c->pid = 0;
                        c->result = WIFEXITED(status) && WEXITSTATUS(status) == 0 && c->len > 0 ? 1 : -EPROTO;
                        return c->result;
                }
                c->len += (size_t) n;
        }
}

char *child_output_take(ChildOutput *c, size_t *ret_len) {
        char *out = TAKE_PTR(c->buf);

        if (!out)
                out = xmalloc(1);
        out[c->len] = '\0';
        *ret_len = c->len;
        c->len = c->allocated = 0;
        return out;
}

ChildOutput *child_output_free(ChildOutput *c) {
        if (!c)
                return NULL;
        if (c->fd >= 0)
                close(c->fd);
        if (c->pid > 0) {
                kill(c->pid, SIGKILL);
                while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        free(c->buf);
        free(c);
        return NULL;
}
