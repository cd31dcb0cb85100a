/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A tiny Prometheus exporter (text format 0.0.4) on sd-event.
 *
 * A registry of counters, gauges and histograms, each with a fixed small set
 * of label names; a series per distinct set of label values (at most
 * METRICS_SERIES_MAX per metric; further ones are dropped and counted in
 * imgflow_metrics_series_dropped_total). metrics_listen() serves GET /metrics
 * on a TCP address with non-blocking accept/read/write: HTTP/1.0 answer, then
 * close; requests are limited in size and time; anything else is 404 (405
 * for a method other than GET/HEAD). Connections are bounded in number, in
 * total and per peer address; past a bound a new connection replaces the
 * oldest one still waiting for its request, so idle connections cannot lock
 * a scraper out.
 *
 * Not thread-safe: update metrics from the event-loop thread (worker threads
 * report results through the loop anyway).
 */

#include <stddef.h>

#include <systemd/sd-event.h>

#include "macro.h"

#define METRICS_LABELS_MAX 8
#define METRICS_SERIES_MAX 1024
#define METRICS_BUCKETS_MAX 32
#define METRICS_REQUEST_MAX 8192      /* bytes of an HTTP request head */
#define METRICS_CLIENTS_MAX 64        /* concurrent connections */
#define METRICS_CLIENTS_PER_PEER 8    /* concurrent connections from one address */
#define METRICS_REQUEST_TIMEOUT_MS 2000 /* accept -> whole request head */
#define METRICS_CLIENT_TIMEOUT_MS 5000  /* request -> answer written out */

typedef struct Metrics Metrics;
typedef struct Metric Metric;

int metrics_new(Metrics **ret);
/* Closes the listener and connections. Accepts NULL; returns NULL. */
Metrics *metrics_free(Metrics *m);
static inline void metrics_freep(Metrics **m) {
        metrics_free(*m);
}

/*
 * Registers a metric. name: [a-zA-Z_:][a-zA-Z0-9_:]* (counters should end in
 * _total); help: one line; label_names: NULL-terminated (or NULL for none),
 * at most METRICS_LABELS_MAX, all copied. *ret is borrowed: it lives as long
 * as the registry. -EEXIST for a duplicate name, -EINVAL for a bad name.
 */
int metrics_add_counter(Metrics *m, const char *name, const char *help,
                        const char *const *label_names, Metric **ret);
int metrics_add_gauge(Metrics *m, const char *name, const char *help,
                      const char *const *label_names, Metric **ret);
/* buckets: n_buckets increasing upper bounds (+Inf is implicit). */
int metrics_add_histogram(Metrics *m, const char *name, const char *help,
                          const char *const *label_names, const double *buckets,
                          size_t n_buckets, Metric **ret);

/*
 * Updates. label_values: as many as the metric has label names (NULL when
 * it has none); copied when a new series is created. Return 0, -EINVAL (wrong
 * kind, negative counter increment), -E2BIG (series limit).
 */
int metric_counter_add(Metric *mt, const char *const *label_values, double v);
static inline int metric_counter_inc(Metric *mt, const char *const *label_values) {
        return metric_counter_add(mt, label_values, 1);
}
int metric_gauge_set(Metric *mt, const char *const *label_values, double v);
int metric_gauge_add(Metric *mt, const char *const *label_values, double v);
int metric_histogram_observe(Metric *mt, const char *const *label_values, double v);

/* imgflow_build_info{version} 1 and, at every render, the process_*
 * series of Prometheus's client libraries (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_start_time_seconds, process_open_fds, process_max_fds), read from
 * getrusage() and /proc/self. Each daemon calls it once. */
int metrics_add_process(Metrics *m, const char *version);

/* The exposition text of all metrics, in registration order. New string. */
int metrics_render(Metrics *m, char **ret, size_t *ret_len);

/* Listens on "host:port" ("127.0.0.1:9464", "[::1]:9464", ":9464" = all
 * addresses; port 0 picks a free one). May be called once. */
int metrics_listen(Metrics *m, sd_event *e, const char *address);
/* Whether metrics_listen() could use the address (host:port, [v6]:port;
 * the host resolved as it will be, nothing bound). 0, or -EINVAL with
 * *ret_reason (new) saying what is wrong in words; -ENOMEM. */
int metrics_check_address(const char *address, char **ret_reason);
/* The port actually bound (after metrics_listen), or -ENOTCONN. */
int metrics_port(const Metrics *m);
