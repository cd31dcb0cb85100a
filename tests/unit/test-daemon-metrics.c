/* SPDX-License-Identifier: MIT */
/* Tests of daemon/metrics: the exposition text (parsed back line by line)
 * and the HTTP endpoint on 127.0.0.1 with an OS-chosen port. */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"
#include "test.h"

/* Finds the sample line `series` ("name{labels}") and returns its value;
 * NAN when absent. Checks every line is a comment or `series value`. */
static double sample(const char *text, const char *series) {
        double found = NAN;
        const char *p = text;

        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                char line[1024];

                if (len >= sizeof(line))
                        return NAN;
                memcpy(line, p, len);
                line[len] = '\0';
                p += len + (nl ? 1 : 0);
                if (line[0] == '#') {
                        if (strncmp(line, "# HELP ", 7) != 0 && strncmp(line, "# TYPE ", 7) != 0)
                                return NAN;
                        continue;
                }
                char *sp = strrchr(line, ' ');
                if (!sp)
                        return NAN; /* malformed */
                *sp = '\0';
                char *end;
                double v = strtod(sp + 1, &end);
                if (*end)
                        return NAN;
                if (streq(line, series))
                        found = v;
        }
        return found;
}

TEST(render_format) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        Metric *tasks, *inflight, *lat, *plain;
        _cleanup_free_ char *text = NULL;
        size_t len;
        static const char *const labels[] = { "operation", "result", NULL };
        static const double buckets[] = { 0.1, 1, 10 };

        ASSERT_INT_EQ(metrics_new(&m), 0);
        ASSERT_INT_EQ(metrics_add_counter(m, "imgflow_tasks_total", "Tasks run.", labels, &tasks), 0);
        ASSERT_INT_EQ(metrics_add_gauge(m, "imgflow_in_flight", "Tasks in flight.", NULL, &inflight), 0);
        ASSERT_INT_EQ(metrics_add_histogram(m, "imgflow_task_seconds", "Task duration.", labels + 1,
                                            buckets, 3, &lat), 0);
        ASSERT_INT_EQ(metrics_add_counter(m, "imgflow_plain_total", "Never touched.", NULL, &plain), 0);

        ASSERT_INT_EQ(metric_counter_inc(tasks, (const char *[]) { "image.resize", "ok" }), 0);
        ASSERT_INT_EQ(metric_counter_add(tasks, (const char *[]) { "image.resize", "ok" }, 2), 0);
        ASSERT_INT_EQ(metric_counter_inc(tasks, (const char *[]) { "image.validate", "Image.Invalid" }), 0);
        ASSERT_INT_EQ(metric_counter_add(tasks, (const char *[]) { "x", "y" }, -1), -EINVAL);
        ASSERT_INT_EQ(metric_gauge_set(inflight, NULL, 5), 0);
        ASSERT_INT_EQ(metric_gauge_add(inflight, NULL, -2), 0);
        ASSERT_INT_EQ(metric_gauge_set(tasks, NULL, 1), -EINVAL); /* wrong kind */
        ASSERT_INT_EQ(metric_histogram_observe(lat, (const char *[]) { "ok" }, 0.05), 0);
        ASSERT_INT_EQ(metric_histogram_observe(lat, (const char *[]) { "ok" }, 0.5), 0);
        ASSERT_INT_EQ(metric_histogram_observe(lat, (const char *[]) { "ok" }, 5), 0);
        ASSERT_INT_EQ(metric_histogram_observe(lat, (const char *[]) { "ok" }, 50), 0);

        ASSERT_INT_EQ(metrics_render(m, &text, &len), 0);
        ASSERT_INT_EQ(strlen(text), len);
        ASSERT_TRUE(strstr(text, "# TYPE imgflow_tasks_total counter\n") != NULL);
        ASSERT_TRUE(strstr(text, "# HELP imgflow_tasks_total Tasks run.\n") != NULL);
        ASSERT_TRUE(strstr(text, "# TYPE imgflow_task_seconds histogram\n") != NULL);
        ASSERT_TRUE(strstr(text, "# TYPE imgflow_in_flight gauge\n") != NULL);
        ASSERT_DBL_EQ(sample(text, "imgflow_tasks_total{operation=\"image.resize\",result=\"ok\"}"), 3);
        ASSERT_DBL_EQ(sample(text, "imgflow_tasks_total{operation=\"image.validate\",result=\"Image.Invalid\"}"), 1);
        ASSERT_DBL_EQ(sample(text, "imgflow_in_flight"), 3);
        ASSERT_DBL_EQ(sample(text, "imgflow_task_seconds_bucket{result=\"ok\",le=\"0.1\"}"), 1);
        ASSERT_DBL_EQ(sample(text, "imgflow_task_seconds_bucket{result=\"ok\",le=\"1\"}"), 2);
        ASSERT_DBL_EQ(sample(text, "imgflow_task_seconds_bucket{result=\"ok\",le=\"10\"}"), 3);
        ASSERT_DBL_EQ(sample(text, "imgflow_task_seconds_bucket{result=\"ok\",le=\"+Inf\"}"), 4);
        ASSERT_DBL_EQ(sample(text, "imgflow_task_seconds_sum{result=\"ok\"}"), 55.55);
        ASSERT_DBL_EQ(sample(text, "imgflow_task_seconds_count{result=\"ok\"}"), 4);
        ASSERT_DBL_EQ(sample(text, "imgflow_plain_total"), 0);
        ASSERT_TRUE(text[len - 1] == '\n');
}

TEST(label_escaping_and_validation) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        Metric *c;
        static const char *const labels[] = { "path", NULL };
        static const char *const bad_labels[] = { "1bad", NULL };
        static const char *const le[] = { "le", NULL };
        static const double b[] = { 1 };

        ASSERT_INT_EQ(metrics_new(&m), 0);
        ASSERT_INT_EQ(metrics_add_counter(m, "bad-name", "x", NULL, NULL), -EINVAL);
        ASSERT_INT_EQ(metrics_add_counter(m, "x_total", "x", bad_labels, NULL), -EINVAL);
        ASSERT_INT_EQ(metrics_add_histogram(m, "h", "x", le, b, 1, NULL), -EINVAL);
        ASSERT_INT_EQ(metrics_add_histogram(m, "h", "x", NULL, (double[]) { 2, 1 }, 2, NULL), -EINVAL);
        ASSERT_INT_EQ(metrics_add_counter(m, "x_total", "Help with \\ and\nnewline.", labels, &c), 0);
        ASSERT_INT_EQ(metrics_add_counter(m, "x_total", "dup", NULL, NULL), -EEXIST);
        ASSERT_INT_EQ(metric_counter_inc(c, (const char *[]) { "a\"b\\c\nd" }), 0);
        ASSERT_INT_EQ(metrics_render(m, &text, NULL), 0);
        ASSERT_TRUE(strstr(text, "x_total{path=\"a\\\"b\\\\c\\nd\"} 1\n") != NULL);
        ASSERT_TRUE(strstr(text, "# HELP x_total Help with \\\\ and\\nnewline.\n") != NULL);
}

TEST(series_limit) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        _cleanup_free_ char *text = NULL;
        Metric *c;
        static const char *const labels[] = { "id", NULL };
        char id[32];

        ASSERT_INT_EQ(metrics_new(&m), 0);
        ASSERT_INT_EQ(metrics_add_counter(m, "ids_total", "x", labels, &c), 0);
        for (int i = 0; i < METRICS_SERIES_MAX; i++) {
                snprintf(id, sizeof(id), "%d", i);
                ASSERT_INT_EQ(metric_counter_inc(c, (const char *[]) { id }), 0);
        }
        ASSERT_INT_EQ(metric_counter_inc(c, (const char *[]) { "one-too-many" }), -E2BIG);
        ASSERT_INT_EQ(metric_counter_inc(c, (const char *[]) { "0" }), 0); /* existing series fine */
        ASSERT_INT_EQ(metrics_render(m, &text, NULL), 0);
        ASSERT_DBL_EQ(sample(text, "imgflow_metrics_series_dropped_total"), 1);
        ASSERT_DBL_EQ(sample(text, "ids_total{id=\"0\"}"), 2);
}

/* ---- HTTP: the loop runs in the main thread; a client thread sends the
 * requests, keeps the responses, and tells the loop to quit through a pipe. */

static char *http(int port, const char *request) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        size_t n = 0, cap = 65536;
        char *buf = malloc(cap);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                free(buf);
                return NULL;
        }
        if (request)
                (void) !write(fd, request, strlen(request));
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                if (poll(&pfd, 1, 10000) <= 0)
                        break;
                ssize_t k = read(fd, buf + n, cap - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
        }
        close(fd);
        buf[n] = '\0';
        return buf;
}

enum { REQ_OK, REQ_OK10, REQ_ROOT, REQ_PREFIX, REQ_POST, REQ_HEAD, REQ_BIG, N_REQ };

typedef struct Client {
        int port;
        int quit_fd;
        char *resp[N_REQ];
} Client;

static void *client_thread(void *p) {
        Client *c = p;
        char *big = malloc(METRICS_REQUEST_MAX + 100);

        c->resp[REQ_OK] = http(c->port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        c->resp[REQ_OK10] = http(c->port, "GET /metrics?x=1 HTTP/1.0\n\n");
        c->resp[REQ_ROOT] = http(c->port, "GET / HTTP/1.0\r\n\r\n");
        c->resp[REQ_PREFIX] = http(c->port, "GET /metricsX HTTP/1.0\r\n\r\n");
        c->resp[REQ_POST] = http(c->port, "POST /metrics HTTP/1.0\r\n\r\n");
        c->resp[REQ_HEAD] = http(c->port, "HEAD /metrics HTTP/1.0\r\n\r\n");
        /* a request head larger than the limit is refused, not buffered forever */
        memset(big, 'a', METRICS_REQUEST_MAX + 99);
        big[METRICS_REQUEST_MAX + 99] = '\0';
        memcpy(big, "GET /", 5);
        c->resp[REQ_BIG] = http(c->port, big);
        free(big);
        (void) !write(c->quit_fd, "q", 1);
        return NULL;
}

static int on_quit(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(src), 0);
}

TEST(http_endpoint) {
        _cleanup_(metrics_freep) Metrics *m = NULL;
        sd_event *e = NULL;
        Client c = {};
        pthread_t th;
        Metric *hits;
        int pfd[2];

        ASSERT_INT_EQ(sd_event_new(&e), 0);
        ASSERT_INT_EQ(metrics_new(&m), 0);
        ASSERT_INT_EQ(metrics_add_counter(m, "hits_total", "Hits.", NULL, &hits), 0);
        ASSERT_INT_EQ(metric_counter_add(hits, NULL, 7), 0);
        ASSERT_INT_EQ(metrics_port(m), -ENOTCONN);
        ASSERT_INT_EQ(metrics_listen(m, e, "127.0.0.1:0"), 0);
        c.port = metrics_port(m);
        ASSERT_TRUE(c.port > 0);
        ASSERT_INT_EQ(metrics_listen(m, e, "127.0.0.1:0"), -EBUSY);

        ASSERT_INT_EQ(pipe(pfd), 0);
        c.quit_fd = pfd[1];
        ASSERT_INT_EQ(sd_event_add_io(e, NULL, pfd[0], EPOLLIN, on_quit, NULL), 0);
        ASSERT_INT_EQ(pthread_create(&th, NULL, client_thread, &c), 0);
        ASSERT_INT_EQ(sd_event_loop(e), 0);
        pthread_join(th, NULL);
        m = metrics_free(m);
        sd_event_unref(e);
        close(pfd[0]);
        close(pfd[1]);

        for (int i = 0; i < N_REQ; i++)
                ASSERT_NOT_NULL(c.resp[i]);
        const char *resp = c.resp[REQ_OK];
        ASSERT_TRUE(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0);
        ASSERT_TRUE(strstr(resp, "Content-Type: text/plain; version=0.0.4") != NULL);
        const char *body = strstr(resp, "\r\n\r\n");
        ASSERT_NOT_NULL(body);
        ASSERT_DBL_EQ(sample(body + 4, "hits_total"), 7);
        ASSERT_TRUE(strncmp(c.resp[REQ_OK10], "HTTP/1.0 200 OK\r\n", 17) == 0);
        ASSERT_TRUE(strncmp(c.resp[REQ_ROOT], "HTTP/1.0 404", 12) == 0);
        ASSERT_TRUE(strncmp(c.resp[REQ_PREFIX], "HTTP/1.0 404", 12) == 0);
        ASSERT_TRUE(strncmp(c.resp[REQ_POST], "HTTP/1.0 405", 12) == 0);
        ASSERT_TRUE(strncmp(c.resp[REQ_HEAD], "HTTP/1.0 200", 12) == 0);
        ASSERT_TRUE(strstr(c.resp[REQ_HEAD], "hits_total") == NULL);
        ASSERT_TRUE(strncmp(c.resp[REQ_BIG], "HTTP/1.0 431", 12) == 0);
        for (int i = 0; i < N_REQ; i++)
                free(c.resp[i]);
}
