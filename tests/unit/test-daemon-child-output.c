/* SPDX-License-Identifier: MIT */
/* Tests of daemon/child-output: a child's answer, its failure, the output
 * limit, and the read end staying open until child_output_free() while a
 * sibling child holds the same pipe (the epoll entry of a closed fd outlives
 * its watcher: the console's layout and thumbnail children). */

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "child-output.h"
#include "test.h"

static int say_hello(void *arg, int fd) {
        (void) arg;
        return child_output_write(fd, "hello", 5) < 0 ? 1 : 0;
}

static int fail_quietly(void *arg, int fd) {
        (void) arg;
        (void) fd;
        return 3;
}

static int write_much(void *arg, int fd) {
        static char block[65536];

        (void) arg;
        for (int i = 0; i < 64; i++)
                if (child_output_write(fd, block, sizeof block) < 0)
                        return 1;
        return 0;
}

/* Holds every descriptor fork() gave it (the sibling's pipe among them)
 * until its own pipe's reader goes. */
static int linger(void *arg, int fd) {
        (void) arg;
        (void) fd;
        sleep(10);
        return 0;
}

/* Reads c until it ends, waiting on its fd; returns the end's answer. */
static int read_to_end(ChildOutput *c) {
        for (int i = 0; i < 1000; i++) {
                struct pollfd p = {.fd = child_output_fd(c), .events = POLLIN};
                int r;

                (void) poll(&p, 1, 100);
                r = child_output_read(c);
                if (r != 0)
                        return r;
        }
        return -ETIME;
}

TEST(answer) {
        ChildOutput *c = NULL;
        size_t len;
        char *out;

        ASSERT_INT_EQ(child_output_start(say_hello, NULL, 1 << 20, &c), 0);
        ASSERT_INT_EQ(read_to_end(c), 1);
        ASSERT_INT_EQ(child_output_read(c), 1); /* the same answer again */
        out = child_output_take(c, &len);
        ASSERT_TRUE(len == 5 && strcmp(out, "hello") == 0);
        free(out);
        child_output_free(c);
}

TEST(failure_and_limit) {
        ChildOutput *c = NULL;

        ASSERT_INT_EQ(child_output_start(fail_quietly, NULL, 1 << 20, &c), 0);
        ASSERT_INT_EQ(read_to_end(c), -EPROTO);
        ASSERT_INT_EQ(child_output_read(c), -EPROTO);
        child_output_free(c);

        ASSERT_INT_EQ(child_output_start(write_much, NULL, 1 << 20, &c), 0);
        ASSERT_INT_EQ(read_to_end(c), -EFBIG);
        child_output_free(c); /* kills and reaps the writer */
}

TEST(fd_open_until_free_with_a_sibling) {
        ChildOutput *a = NULL, *b = NULL;
        struct epoll_event ev = {.events = EPOLLIN}, got;
        int ep = epoll_create1(EPOLL_CLOEXEC);

        ASSERT_TRUE(ep >= 0);
        ASSERT_INT_EQ(child_output_start(say_hello, NULL, 1 << 20, &a), 0);
        /* b is forked while a's read end is open: it holds that pipe too */
        ASSERT_INT_EQ(child_output_start(linger, NULL, 1 << 20, &b), 0);
        ev.data.ptr = a;
        ASSERT_INT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, child_output_fd(a), &ev), 0);
        ASSERT_INT_EQ(read_to_end(a), 1);
        /* what a watcher does when the answer is in: leave epoll, then free */
        ASSERT_INT_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, child_output_fd(a), NULL), 0);
        child_output_free(a);
        /* nothing left in epoll for the freed reader, though b keeps the pipe */
        ASSERT_INT_EQ(epoll_wait(ep, &got, 1, 100), 0);
        child_output_free(b); /* kills the lingering sibling */
        close(ep);
}
