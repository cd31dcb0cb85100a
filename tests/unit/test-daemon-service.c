/* SPDX-License-Identifier: MIT */
/* Tests of daemon/service: SIGTERM -> graceful stop callback, a second
 * SIGTERM exits the loop, SIGHUP -> reload; sd_notify messages reach
 * NOTIFY_SOCKET (a datagram socket of the test) and are no-ops without it. */

#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "service.h"
#include "test.h"

typedef struct Counts {
        int stops, reloads;
} Counts;

static void on_stop(void *userdata) {
        ((Counts *) userdata)->stops++;
}

static void on_reload(void *userdata) {
        ((Counts *) userdata)->reloads++;
}

static int raise_later(sd_event_source *s, uint64_t usec, void *userdata) {
        kill(getpid(), (int) (intptr_t) userdata);
        return 0;
}

static int exit_later(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), 42);
}

TEST(signals) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Counts c = {};

        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(service_setup(e, on_stop, on_reload, &c), 0);

        /* SIGHUP -> reload; SIGTERM -> on_stop once; the loop keeps running
         * (the daemon drains) until something exits it. */
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10000, 0, raise_later,
                                                 (void *) (intptr_t) SIGHUP), 0);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 50000, 0, raise_later,
                                                 (void *) (intptr_t) SIGTERM), 0);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 300000, 0, exit_later, NULL), 0);
        ASSERT_INT_EQ(sd_event_loop(e), 42);
        ASSERT_INT_EQ(c.reloads, 1);
        ASSERT_INT_EQ(c.stops, 1);
}

TEST(second_sigterm_exits) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Counts c = {};

        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(service_setup(e, on_stop, NULL, &c), 0);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10000, 0, raise_later,
                                                 (void *) (intptr_t) SIGINT), 0);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 60000, 0, raise_later,
                                                 (void *) (intptr_t) SIGTERM), 0);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 5000000, 0, exit_later, NULL), 0);
        ASSERT_INT_EQ(sd_event_loop(e), 0); /* exited by the second signal, not the 5 s timer */
        ASSERT_INT_EQ(c.stops, 1);
}

TEST(no_stop_callback_exits_at_once) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;

        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(service_setup(e, NULL, NULL, NULL), 0);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10000, 0, raise_later,
                                                 (void *) (intptr_t) SIGTERM), 0);
        ASSERT_INT_EQ(sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 5000000, 0, exit_later, NULL), 0);
        ASSERT_INT_EQ(sd_event_loop(e), 0);
}

TEST(notify) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[512];
        ssize_t n;
        int fd;

        unsetenv("NOTIFY_SOCKET");
        ASSERT_INT_EQ(service_notify_ready(), 0); /* no-op */

        snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/test-daemon-service-%d.sock", (int) getpid());
        unlink(sa.sun_path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(fd >= 0);
        ASSERT_INT_EQ(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        setenv("NOTIFY_SOCKET", sa.sun_path, 1);

        ASSERT_TRUE(service_notify_ready() > 0);
        n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        ASSERT_TRUE(n > 0);
        buf[n] = '\0';
        ASSERT_TRUE(strncmp(buf, "READY=1\nMAINPID=", 16) == 0);

        ASSERT_TRUE(service_notify_status("Processing %d events", 7) > 0);
        n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        ASSERT_TRUE(n > 0);
        buf[n] = '\0';
        ASSERT_STR_EQ(buf, "STATUS=Processing 7 events");

        ASSERT_TRUE(service_notify_stopping() > 0);
        n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        buf[n > 0 ? n : 0] = '\0';
        ASSERT_STR_EQ(buf, "STOPPING=1");

        unsetenv("NOTIFY_SOCKET");
        close(fd);
        unlink(sa.sun_path);
}

__attribute__((constructor)) static void setup(void) {
        log_set_target(LOG_TARGET_CONSOLE);
}
