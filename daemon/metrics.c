/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exporter. See metrics.h.
 *
 * The registry is a list of metrics, each with a list of series (one per
 * distinct label values, linear search: sets are small by design). The
 * HTTP side is a minimal HTTP/1.0 server on sd-event: accept4 non-blocking,
 * read the request head (at most METRICS_REQUEST_MAX bytes, within
 * METRICS_REQUEST_TIMEOUT_MS of the accept), render, write it out as the
 * socket accepts it (within METRICS_CLIENT_TIMEOUT_MS of the request),
 * close.
 *
 * Idle connections must not lock scrapes out: at most METRICS_CLIENTS_MAX
 * connections at a time and METRICS_CLIENTS_PER_PEER from one address. A
 * new connection past either bound takes the place of the oldest one that
 * has not sent its request yet (of that address, or of all), and is refused
 * only when every connection concerned is already being answered. A scraper
 * sends its request at once, so a flood of idle connections (300 of them
 * made both daemons refuse every scrape until they timed out) delays it by
 * nothing; each idle one is closed after the request timeout anyway. The
 * listen backlog is SOMAXCONN: with a short one, a burst of connections
 * that the loop had not accepted yet filled it, and the kernel dropped the
 * scraper's SYN (a 1 s retransmit later it got in).
 */

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "metrics.h"

typedef enum MetricType { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } MetricType;

typedef struct Series {
        char **values; /* n_labels strings */
        double value;  /* counter, gauge */
        uint64_t *buckets; /* histogram: per bucket (not cumulative), n_bounds + 1 */
        double sum;
        uint64_t count;
} Series;

struct Metric {
        Metrics *owner;
        char *name, *help;
        MetricType type;
        char *labels[METRICS_LABELS_MAX];
        size_t n_labels;
        double *bounds;
        size_t n_bounds;
        Series *series;
        size_t n_series;
};

/* A peer's address without the port (IPv4-mapped IPv6 as IPv4). */
typedef struct PeerAddr {
        uint8_t bytes[16];
        uint8_t len; /* 4, 16, or 0 (unknown: never matches) */
} PeerAddr;

typedef struct Client Client;
struct Client {
        Metrics *owner;
        int fd;
        PeerAddr peer;
        sd_event_source *io, *timer;
        char req[METRICS_REQUEST_MAX];
        size_t req_len;
        char *resp;
        size_t resp_len, resp_off;
        Client *prev, *next;
};

struct Metrics {
        Metric **m;
        size_t n;
        Metric *dropped; /* imgflow_metrics_series_dropped_total */
        sd_event *event;
        int listen_fd;
        int port;
        sd_event_source *listen_src;
        Client *clients;
        size_t n_clients;
        bool process;              /* metrics_add_process(): the process_* series */
        double process_start_time; /* seconds since the epoch */
};

static const char *const type_names[] = { "counter", "gauge", "histogram" };

static Metric *metric_free(Metric *mt) {
        if (!mt)
                return NULL;
        for (size_t s = 0; s < mt->n_series; s++) {
                for (size_t i = 0; i < mt->n_labels; i++)
                        free(mt->series[s].values[i]);
                free(mt->series[s].values);
                free(mt->series[s].buckets);
        }
        free(mt->series);
        for (size_t i = 0; i < mt->n_labels; i++)
                free(mt->labels[i]);
        free(mt->bounds);
        free(mt->name);
        free(mt->help);
        free(mt);
        return NULL;
}

static void client_free(Client *c);

int metrics_new(Metrics **ret) {
        Metrics *m;
        int r;

        m = calloc(1, sizeof(Metrics));
        if (!m)
                return -ENOMEM;
        m->listen_fd = -1;
        m->port = -ENOTCONN;
        r = metrics_add_counter(m, "imgflow_metrics_series_dropped_total",
                                "Metric updates dropped because a metric had too many series.",
                                NULL, &m->dropped);
        if (r < 0) {
                metrics_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Metrics *metrics_free(Metrics *m) {
        if (!m)
                return NULL;
        while (m->clients)
                client_free(m->clients);
        sd_event_source_disable_unref(m->listen_src);
        if (m->listen_fd >= 0)
                close(m->listen_fd);
        sd_event_unref(m->event);
        for (size_t i = 0; i < m->n; i++)
                metric_free(m->m[i]);
        free(m->m);
        free(m);
        return NULL;
}

static bool name_ok(const char *s, bool label) {
        if (!s || !*s || strlen(s) > 200)
                return false;
        if (!(isalpha((unsigned char) s[0]) || s[0] == '_' || (!label && s[0] == ':')))
                return false;
        for (const char *p = s; *p; p++)
                if (!(isalnum((unsigned char) *p) || *p == '_' || (!label && *p == ':')))
                        return false;
        return true;
}

static int metric_add(Metrics *m, MetricType type, const char *name, const char *help,
                      const char *const *label_names, const double *bounds, size_t n_bounds,
                      Metric **ret) {
        Metric *mt;

        if (!m || !name_ok(name, false) || !help)
                return -EINVAL;
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->m[i]->name, name))
                        return -EEXIST;
        mt = calloc(1, sizeof(Metric));
        if (!mt)
                return -ENOMEM;
        mt->owner = m;
        mt->type = type;
        mt->name = strdup(name);
        mt->help = strdup(help);
        if (!mt->name || !mt->help)
                goto oom;
        for (size_t i = 0; label_names && label_names[i]; i++) {
                if (i >= METRICS_LABELS_MAX || !name_ok(label_names[i], true) ||
                    (type == METRIC_HISTOGRAM && streq(label_names[i], "le"))) {
                        metric_free(mt);
                        return -EINVAL;
                }
                mt->labels[i] = strdup(label_names[i]);
                if (!mt->labels[i])
                        goto oom;
                mt->n_labels++;
        }
        if (type == METRIC_HISTOGRAM) {
                if (n_bounds == 0 || n_bounds > METRICS_BUCKETS_MAX || !bounds) {
                        metric_free(mt);
                        return -EINVAL;
                }
                for (size_t i = 1; i < n_bounds; i++)
                        if (!(bounds[i] > bounds[i - 1])) {
                                metric_free(mt);
                                return -EINVAL;
                        }
                mt->bounds = malloc(n_bounds * sizeof(double));
                if (!mt->bounds)
                        goto oom;
                memcpy(mt->bounds, bounds, n_bounds * sizeof(double));
                mt->n_bounds = n_bounds;
        }
        Metric **nm = realloc(m->m, (m->n + 1) * sizeof(Metric *));
        if (!nm)
                goto oom;
        m->m = nm;
        m->m[m->n++] = mt;
        if (ret)
                *ret = mt;
        return 0;
oom:
        metric_free(mt);
        return -ENOMEM;
}

int metrics_add_counter(Metrics *m, const char *name, const char *help,
                        const char *const *label_names, Metric **ret) {
        return metric_add(m, METRIC_COUNTER, name, help, label_names, NULL, 0, ret);
}

int metrics_add_gauge(Metrics *m, const char *name, const char *help,
                      const char *const *label_names, Metric **ret) {
        return metric_add(m, METRIC_GAUGE, name, help, label_names, NULL, 0, ret);
}

int metrics_add_histogram(Metrics *m, const char *name, const char *help,
                          const char *const *label_names, const double *buckets,
                          size_t n_buckets, Metric **ret) {
        return metric_add(m, METRIC_HISTOGRAM, name, help, label_names, buckets, n_buckets, ret);
}

/* Finds or creates the series; NULL on limit (counted) or OOM. */
static Series *series_get(Metric *mt, const char *const *values) {
        for (size_t s = 0; s < mt->n_series; s++) {
                bool eq = true;
                for (size_t i = 0; i < mt->n_labels && eq; i++)
                        eq = streq(mt->series[s].values[i], values[i] ? values[i] : "");
                if (eq)
                        return &mt->series[s];
        }
        if (mt->n_series >= METRICS_SERIES_MAX) {
                if (mt != mt->owner->dropped)
                        (void) metric_counter_add(mt->owner->dropped, NULL, 1);
                return NULL;
        }
        Series *ns = realloc(mt->series, (mt->n_series + 1) * sizeof(Series));
        if (!ns)
                return NULL;
        mt->series = ns;
        Series *s = &mt->series[mt->n_series];
        *s = (Series) {};
        s->values = calloc(mt->n_labels ? mt->n_labels : 1, sizeof(char *));
        if (!s->values)
                return NULL;
        for (size_t i = 0; i < mt->n_labels; i++) {
                s->values[i] = strdup(values[i] ? values[i] : "");
                if (!s->values[i])
                        goto fail;
        }
        if (mt->type == METRIC_HISTOGRAM) {
                s->buckets = calloc(mt->n_bounds + 1, sizeof(uint64_t));
                if (!s->buckets)
                        goto fail;
        }
        mt->n_series++;
        return s;
fail:
        for (size_t i = 0; i < mt->n_labels; i++)
                free(s->values[i]);
        free(s->values);
        return NULL;
}

static int update(Metric *mt, MetricType type, const char *const *values, Series **ret) {
        Series *s;

        if (!mt || mt->type != type)
                return -EINVAL;
        if (mt->n_labels > 0 && !values)
                return -EINVAL;
        s = series_get(mt, values);
        if (!s)
                return mt->n_series >= METRICS_SERIES_MAX ? -E2BIG : -ENOMEM;
        *ret = s;
        return 0;
}

int metric_counter_add(Metric *mt, const char *const *label_values, double v) {
        Series *s;
        int r;

        if (!(v >= 0))
                return -EINVAL;
        r = update(mt, METRIC_COUNTER, label_values, &s);
        if (r < 0)
                return r;
        s->value += v;
        return 0;
}

int metric_gauge_set(Metric *mt, const char *const *label_values, double v) {
        Series *s;
        int r = update(mt, METRIC_GAUGE, label_values, &s);
        if (r < 0)
                return r;
        s->value = v;
        return 0;
}

int metric_gauge_add(Metric *mt, const char *const *label_values, double v) {
        Series *s;
        int r = update(mt, METRIC_GAUGE, label_values, &s);
        if (r < 0)
                return r;
        s->value += v;
        return 0;
}

int metric_histogram_observe(Metric *mt, const char *const *label_values, double v) {
        Series *s;
        size_t i;
        int r = update(mt, METRIC_HISTOGRAM, label_values, &s);
        if (r < 0)
                return r;
        for (i = 0; i < mt->n_bounds; i++)
                if (v <= mt->bounds[i])
                        break;
        s->buckets[i]++;
        s->sum += v;
        s->count++;
        return 0;
}

/* ---------------------------------------------------------------- render */

static void put_double(FILE *f, double v) {
        char buf[64];

        if (isnan(v)) {
                fputs("NaN", f);
                return;
        }
        if (isinf(v)) {
                fputs(v > 0 ? "+Inf" : "-Inf", f);
                return;
        }
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
                snprintf(buf, sizeof(buf), "%.17g", v);
        fputs(buf, f);
}

static void put_escaped(FILE *f, const char *s, bool quote) {
        for (; *s; s++) {
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else if (quote && *s == '"')
                        fputs("\\\"", f);
                else
                        fputc(*s, f);
        }
}

/* {a="x",b="y"[,le="..."]} or nothing */
static void put_labels(FILE *f, const Metric *mt, const Series *s, const char *le) {
        if (mt->n_labels == 0 && !le)
                return;
        fputc('{', f);
        for (size_t i = 0; i < mt->n_labels; i++) {
                fprintf(f, "%s%s=\"", i ? "," : "", mt->labels[i]);
                put_escaped(f, s->values[i], true);
                fputc('"', f);
        }
        if (le)
                fprintf(f, "%sle=\"%s\"", mt->n_labels ? "," : "", le);
        fputc('}', f);
}

/* ------------------------------------------------------------ process_* */

/* The process's start (seconds since the epoch): its start time in clock
 * ticks after boot (/proc/self/stat, field 22) plus the boot time (btime
 * of /proc/stat). 0 when /proc cannot tell. */
static double process_start_time(void) {
        char buf[4096], *p;
        unsigned long long ticks = 0, btime = 0;
        long hz = sysconf(_SC_CLK_TCK);
        size_t n;
        FILE *f;

        f = fopen("/proc/self/stat", "re");
        if (!f)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the command name may hold spaces */
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                         &ticks) != 1)
                return 0;
        f = fopen("/proc/stat", "re");
        if (!f)
                return 0;
        while (fgets(buf, sizeof(buf), f))
                if (sscanf(buf, "btime %llu", &btime) == 1)
                        break;
        fclose(f);
        if (btime == 0 || hz <= 0)
                return 0;
        return (double) btime + (double) ticks / (double) hz;
}

int metrics_add_process(Metrics *m, const char *version) {
        Metric *info = NULL;
        int r;

        if (!m || !version)
                return -EINVAL;
        r = metrics_add_gauge(m, "imgflow_build_info", "The version of imgflow this program was built from (always 1).",
                              (const char *const[]){"version", NULL}, &info);
        if (r < 0)
                return r;
        r = metric_gauge_set(info, (const char *const[]){version}, 1);
        if (r < 0)
                return r;
        m->process = true;
        m->process_start_time = process_start_time();
        return 0;
}

/* The series every Prometheus client library exports for its process
 * (the names and meanings of client_golang's and client_python's), read
 * when scraped. */
static void put_process(FILE *f, const Metrics *m) {
        struct rusage ru;
        struct rlimit rl;
        unsigned long long vsize = 0, rss = 0;
        long page = sysconf(_SC_PAGESIZE);
        FILE *sf;
        DIR *d;

        if (getrusage(RUSAGE_SELF, &ru) == 0) {
                fputs("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                      "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ",
                      f);
                put_double(f, (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
                                      (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6);
                fputc('\n', f);
        }
        sf = fopen("/proc/self/statm", "re");
        if (sf) {
                if (fscanf(sf, "%llu %llu", &vsize, &rss) == 2 && page > 0) {
                        fprintf(f,
                                "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                                "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n"
                                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                                "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
                                vsize * (unsigned long long) page, rss * (unsigned long long) page);
                }
                fclose(sf);
        }
        if (m->process_start_time > 0) {
                fputs("# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                      "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ",
                      f);
                put_double(f, m->process_start_time);
                fputc('\n', f);
        }
        d = opendir("/proc/self/fd");
        if (d) {
                unsigned long n = 0;
                struct dirent *de;
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.')
                                n++;
                closedir(d);
                fprintf(f,
                        "# HELP process_open_fds Number of open file descriptors.\n"
                        "# TYPE process_open_fds gauge\nprocess_open_fds %lu\n",
                        n > 0 ? n - 1 : 0); /* less the directory's own */
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
                fprintf(f,
                        "# HELP process_max_fds Maximum number of open file descriptors.\n"
                        "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n",
                        (unsigned long long) rl.rlim_cur);
}

int metrics_render(Metrics *m, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < m->n; i++) {
                const Metric *mt = m->m[i];

                fprintf(f, "# HELP %s ", mt->name);
                put_escaped(f, mt->help, false);
                fprintf(f, "\n# TYPE %s %s\n", mt->name, type_names[mt->type]);

                if (mt->n_series == 0 && mt->n_labels == 0) {
                        /* an unlabelled metric exists from the start */
                        if (mt->type == METRIC_HISTOGRAM) {
                                fprintf(f, "%s_bucket{le=\"+Inf\"} 0\n%s_sum 0\n%s_count 0\n",
                                        mt->name, mt->name, mt->name);
                        } else
                                fprintf(f, "%s 0\n", mt->name);
                        continue;
                }
                for (size_t s = 0; s < mt->n_series; s++) {
                        const Series *se = &mt->series[s];

                        if (mt->type != METRIC_HISTOGRAM) {
                                fputs(mt->name, f);
                                put_labels(f, mt, se, NULL);
                                fputc(' ', f);
                                put_double(f, se->value);
                                fputc('\n', f);
                                continue;
                        }
                        uint64_t cum = 0;
                        for (size_t b = 0; b <= mt->n_bounds; b++) {
                                char le[64];
                                cum += se->buckets[b];
                                if (b < mt->n_bounds) {
                                        FILE *lf = fmemopen(le, sizeof(le), "w");
                                        if (!lf)
                                                continue;
                                        put_double(lf, mt->bounds[b]);
                                        fclose(lf);
                                } else
                                        strcpy(le, "+Inf");
                                fprintf(f, "%s_bucket", mt->name);
                                put_labels(f, mt, se, le);
                                fprintf(f, " %llu\n", (unsigned long long) cum);
                        }
                        fprintf(f, "%s_sum", mt->name);
                        put_labels(f, mt, se, NULL);
                        fputc(' ', f);
                        put_double(f, se->sum);
                        fprintf(f, "\n%s_count", mt->name);
                        put_labels(f, mt, se, NULL);
                        fprintf(f, " %llu\n", (unsigned long long) se->count);
                }
        }
        if (m->process)
                put_process(f, m);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* ------------------------------------------------------------------ HTTP */

static void client_free(Client *c) {
        Metrics *m;

        if (!c)
                return;
        m = c->owner;
        if (c->prev)
                c->prev->next = c->next;
        else
                m->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        m->n_clients--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        if (c->fd >= 0)
                close(c->fd);
        free(c->resp);
        free(c);
}

static int client_respond(Client *c, const char *status, const char *ctype, const char *body,
                          size_t body_len, bool head_only) {
        char *resp = NULL;
        int n, r;

        n = asprintf(&resp,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, ctype, body_len);
        if (n < 0)
                return -ENOMEM;
        if (!head_only && body_len > 0) {
                char *nr = realloc(resp, (size_t) n + body_len);
                if (!nr) {
                        free(resp);
                        return -ENOMEM;
                }
                resp = nr;
                memcpy(resp + n, body, body_len);
                n += (int) body_len;
        }
        c->resp = resp;
        c->resp_len = (size_t) n;
        c->resp_off = 0;
        /* From now on the deadline is for writing the answer out. */
        r = sd_event_source_set_time_relative(c->timer, METRICS_CLIENT_TIMEOUT_MS * 1000ULL);
        if (r < 0)
                return r;
        return sd_event_source_set_io_events(c->io, EPOLLOUT);
}

static int client_handle_request(Client *c) {
        char method[16] = "", path[256] = "";
        const char *text = "Not Found\n";
        bool head;

        if (sscanf(c->req, "%15s %255s", method, path) != 2)
                return client_respond(c, "400 Bad Request", "text/plain", "Bad Request\n", 12, false);
        head = streq(method, "HEAD");
        if (!streq(method, "GET") && !head)
                return client_respond(c, "405 Method Not Allowed", "text/plain",
                                      "Method Not Allowed\n", 19, false);
        char *q = strchr(path, '?');
        if (q)
                *q = '\0';
        if (streq(path, "/metrics")) {
                _cleanup_free_ char *body = NULL;
                size_t len = 0;
                int r = metrics_render(c->owner, &body, &len);
                if (r < 0)
                        return r;
                return client_respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
                                      body, len, head);
        }
        return client_respond(c, "404 Not Found", "text/plain", text, strlen(text), head);
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;
        ssize_t n;

        if (c->resp) {
                while (c->resp_off < c->resp_len) {
                        n = send(fd, c->resp + c->resp_off, c->resp_len - c->resp_off, MSG_NOSIGNAL);
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        return 0;
                                client_free(c);
                                return 0;
                        }
                        c->resp_off += (size_t) n;
                }
                client_free(c);
                return 0;
        }

        for (;;) {
                if (c->req_len >= sizeof(c->req) - 1) {
                        (void) client_respond(c, "431 Request Header Fields Too Large", "text/plain",
                                              "Request Too Large\n", 17, false);
                        return 0;
                }
                n = recv(fd, c->req + c->req_len, sizeof(c->req) - 1 - c->req_len, 0);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        client_free(c);
                        return 0;
                }
                if (n == 0) {
                        client_free(c);
                        return 0;
                }
                c->req_len += (size_t) n;
                c->req[c->req_len] = '\0';
                if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
                        if (client_handle_request(c) < 0)
                                client_free(c);
                        return 0;
                }
        }
}

static int on_client_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        client_free(userdata);
        return 0;
}

static PeerAddr peer_addr(const struct sockaddr_storage *ss, socklen_t len) {
        static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };
        PeerAddr p = {};

        if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                memcpy(p.bytes, &((const struct sockaddr_in *) ss)->sin_addr, 4);
                p.len = 4;
        } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                const uint8_t *a = ((const struct sockaddr_in6 *) ss)->sin6_addr.s6_addr;
                if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
                        memcpy(p.bytes, a + 12, 4);
                        p.len = 4;
                } else {
                        memcpy(p.bytes, a, 16);
                        p.len = 16;
                }
        }
        return p;
}

static bool peer_eq(const PeerAddr *a, const PeerAddr *b) {
        return a->len > 0 && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* Makes room for a connection from `peer` (see the top of the file): false
 * when it must be refused. The list is newest first: the last match is the
 * oldest. */
static bool make_room(Metrics *m, const PeerAddr *peer) {
        Client *oldest_idle = NULL, *oldest_idle_of_peer = NULL;
        size_t of_peer = 0;

        for (Client *c = m->clients; c; c = c->next) {
                bool same = peer_eq(&c->peer, peer);
                of_peer += same;
                if (!c->resp) {
                        oldest_idle = c;
                        if (same)
                                oldest_idle_of_peer = c;
                }
        }
        if (of_peer >= METRICS_CLIENTS_PER_PEER) {
                if (!oldest_idle_of_peer)
                        return false;
                client_free(oldest_idle_of_peer);
        } else if (m->n_clients >= METRICS_CLIENTS_MAX) {
                if (!oldest_idle)
                        return false;
                client_free(oldest_idle);
        }
        return true;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Metrics *m = userdata;

        for (;;) {
                struct sockaddr_storage ss;
                socklen_t sslen = sizeof(ss);
                int cfd = accept4(fd, (struct sockaddr *) &ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
                PeerAddr peer;
                Client *c;
                int r;

                if (cfd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(errno, "Metrics: accept failed: %m");
                        return 0;
                }
                peer = peer_addr(&ss, sslen);
                if (!make_room(m, &peer)) {
                        close(cfd);
                        continue;
                }
                c = calloc(1, sizeof(Client));
                if (!c) {
                        close(cfd);
                        return 0;
                }
                c->owner = m;
                c->fd = cfd;
                c->peer = peer;
                c->next = m->clients;
                if (m->clients)
                        m->clients->prev = c;
                m->clients = c;
                m->n_clients++;
                r = sd_event_add_io(m->event, &c->io, cfd, EPOLLIN, on_client_io, c);
                if (r >= 0)
                        r = sd_event_add_time_relative(m->event, &c->timer, CLOCK_MONOTONIC,
                                                       METRICS_REQUEST_TIMEOUT_MS * 1000ULL, 0,
                                                       on_client_timeout, c);
                if (r < 0) {
                        client_free(c);
                        return 0;
                }
        }
}

/* host:port or [v6]:port -> the addresses to bind (freeaddrinfo()), or
 * -EINVAL with *ret_reason (new) saying what is wrong. */
static int resolve(const char *address, struct addrinfo **ret, char **ret_reason) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
        _cleanup_free_ char *host = NULL;
        const char *port;
        char *end;
        long n;
        int r;

        if (address[0] == '[') {
                const char *close = strchr(address, ']');
                if (!close || close[1] != ':')
                        return (*ret_reason = strdup("expected [IPv6 address]:port")) ? -EINVAL : -ENOMEM;
                host = strndup(address + 1, (size_t) (close - address - 1));
                port = close + 2;
        } else {
                const char *colon = strrchr(address, ':');
                if (!colon)
                        return (*ret_reason = strdup("expected host:port")) ? -EINVAL : -ENOMEM;
                host = strndup(address, (size_t) (colon - address));
                port = colon + 1;
        }
        if (!host)
                return -ENOMEM;
        errno = 0;
        n = strtol(port, &end, 10);
        if (!*port || *end || errno || n < 0 || n > 65535)
                return asprintf(ret_reason, "the port \"%s\" is not a number from 0 to 65535", port) < 0 ? -ENOMEM
                                                                                                        : -EINVAL;
        r = getaddrinfo(*host ? host : NULL, port, &hints, ret);
        if (r != 0)
                return asprintf(ret_reason, "the host \"%s\": %s", host, gai_strerror(r)) < 0 ? -ENOMEM : -EINVAL;
        return 0;
}

int metrics_check_address(const char *address, char **ret_reason) {
        struct addrinfo *ai = NULL;
        int r;

        *ret_reason = NULL;
        if (!address)
                return -EINVAL;
        r = resolve(address, &ai, ret_reason);
        if (r >= 0)
                freeaddrinfo(ai);
        return r;
}

int metrics_listen(Metrics *m, sd_event *e, const char *address) {
        _cleanup_free_ char *reason = NULL;
        struct addrinfo *ai = NULL;
        _cleanup_close_ int fd = -1;
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
                struct sockaddr_storage ss;
        } sa;
        socklen_t salen = sizeof(sa);
        int r, one = 1;

        if (!m || !e || !address)
                return -EINVAL;
        if (m->listen_fd >= 0)
                return -EBUSY;

        r = resolve(address, &ai, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return log_error_errno(r, "Bad metrics address \"%s\": %s", address, reason);

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return log_error_errno(r, "Failed to create metrics socket: %m");
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                freeaddrinfo(ai);
                return log_error_errno(r, "Failed to listen on %s: %m", address);
        }
        freeaddrinfo(ai);

        if (getsockname(fd, &sa.sa, &salen) < 0)
                return -errno;
        m->port = ntohs(sa.sa.sa_family == AF_INET6 ? sa.in6.sin6_port : sa.in.sin_port);

        r = sd_event_add_io(e, &m->listen_src, fd, EPOLLIN, on_accept, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch metrics socket: %m");
        m->event = sd_event_ref(e);
        m->listen_fd = TAKE_FD(fd);
        log_info("Serving metrics on http://%s/metrics (port %d)", address, m->port);
        return 0;
}

int metrics_port(const Metrics *m) {
        return m ? m->port : -EINVAL;
}
