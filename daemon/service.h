/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The daemon skeleton helpers (STYLE 3, systemd):
 *
 *   static int run(int argc, char **argv) {
 *           _cleanup_(sd_event_unrefp) sd_event *e = NULL;
 *           ... sd_event_default(&e); manager_new(e, ...); ...
 *           r = service_setup(e, manager_stop, manager_reload, m);
 *           ... start ...
 *           service_notify_ready();
 *           r = sd_event_loop(e);
 *           service_notify_stopping();
 *           return r;
 *   }
 *
 * SIGTERM/SIGINT call on_stop once (graceful: stop consuming, drain, then
 * sd_event_exit()); a second SIGTERM/SIGINT exits the loop at once
 * (sd_event_exit(e, 0)). SIGHUP calls on_reload. The signals are blocked in
 * the calling thread (do this before starting threads so they inherit the
 * mask) and delivered through signalfd sources. The watchdog is enabled
 * (sd_event_set_watchdog: pings WATCHDOG=1 when WatchdogSec= is set).
 *
 * All sd_notify calls are no-ops without NOTIFY_SOCKET.
 */

#include <systemd/sd-event.h>

#include "macro.h"

typedef void (*ServiceStopFn)(void *userdata);
typedef void (*ServiceReloadFn)(void *userdata);

/* on_stop NULL: the first signal exits the loop. on_reload NULL: SIGHUP is
 * logged and ignored. Returns 0 or -errno. The sources are floating: they
 * live as long as the event loop. */
int service_setup(sd_event *e, ServiceStopFn on_stop, ServiceReloadFn on_reload, void *userdata);

/* READY=1 (+ MAINPID=). */
int service_notify_ready(void);
/* STATUS=<formatted text> (truncated to 256 bytes). */
int service_notify_status(const char *format, ...) _printf_(1, 2);
/* STOPPING=1. */
int service_notify_stopping(void);
/* RELOADING=1 / READY=1 after a reload. */
int service_notify_reloading(void);
