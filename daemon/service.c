/* SPDX-License-Identifier: MIT */
/*
 * Daemon skeleton helpers: signals through sd-event, watchdog, sd_notify.
 * See service.h. The signal sources are floating (owned by the loop); their
 * small state lives in one allocation freed with the last source.
 */

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "service.h"

typedef struct ServiceSignals {
        ServiceStopFn on_stop;
        ServiceReloadFn on_reload;
        void *userdata;
        bool stopping;
        unsigned refs;
} ServiceSignals;

static void signals_unref(void *p) {
        ServiceSignals *s = p;
        if (s && --s->refs == 0)
                free(s);
}

static int on_stop_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        ServiceSignals *s = userdata;
        sd_event *e = sd_event_source_get_event(src);

        if (s->stopping || !s->on_stop) {
                log_notice("Received %s%s, exiting now.", strsignal((int) si->ssi_signo),
                           s->stopping ? " again" : "");
                return sd_event_exit(e, 0);
        }
        s->stopping = true;
        log_notice("Received %s, stopping gracefully.", strsignal((int) si->ssi_signo));
        (void) service_notify_stopping();
        s->on_stop(s->userdata);
        return 0;
}

static int on_hup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        ServiceSignals *s = userdata;

        if (!s->on_reload) {
                log_info("Received SIGHUP, nothing to reload.");
                return 0;
        }
        log_info("Received SIGHUP, reloading.");
        (void) service_notify_reloading();
        s->on_reload(s->userdata);
        (void) sd_notify(0, "READY=1");
        return 0;
}

int service_setup(sd_event *e, ServiceStopFn on_stop, ServiceReloadFn on_reload, void *userdata) {
        static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
        ServiceSignals *s;
        sigset_t mask;
        int r;

        if (!e)
                return -EINVAL;

        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaddset(&mask, sigs[i]);
        r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
        if (r != 0)
                return log_error_errno(r, "Failed to block signals: %m");

        s = calloc(1, sizeof(ServiceSignals));
        if (!s)
                return -ENOMEM;
        *s = (ServiceSignals) { .on_stop = on_stop, .on_reload = on_reload, .userdata = userdata };

        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                sd_event_source *src = NULL;

                r = sd_event_add_signal(e, &src, sigs[i], sigs[i] == SIGHUP ? on_hup : on_stop_signal, s);
                if (r < 0) {
                        if (s->refs == 0)
                                free(s);
                        return log_error_errno(r, "Failed to watch signal %s: %m", strsignal(sigs[i]));
                }
                s->refs++;
                (void) sd_event_source_set_destroy_callback(src, signals_unref);
                (void) sd_event_source_set_floating(src, true);
                sd_event_source_unref(src);
        }

        r = sd_event_set_watchdog(e, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");
        return 0;
}

int service_notify_ready(void) {
        return sd_notifyf(0, "READY=1\nMAINPID=%lu", (unsigned long) getpid());
}

int service_notify_status(const char *format, ...) {
        char buf[256 + 8];
        va_list ap;

        memcpy(buf, "STATUS=", 7);
        va_start(ap, format);
        vsnprintf(buf + 7, sizeof(buf) - 7, format, ap);
        va_end(ap);
        return sd_notify(0, buf);
}

int service_notify_stopping(void) {
        return sd_notify(0, "STOPPING=1");
}

int service_notify_reloading(void) {
        return sd_notify(0, "RELOADING=1");
}
