/* SPDX-License-Identifier: MIT */
/*
 * GET /console/thumbnail?bucket=B&key=K: a JPEG of at most
 * CONSOLE_THUMB_SIZE pixels a side of an image in a bucket, for the
 * console's state details (docs/console.md). Never the original: the image
 * is always scaled (libvips's thumbnail, shrink only) and re-encoded.
 *
 * Who may: a signed-in session whose key's policy allows s3:GetObject on
 * arn:aws:s3:::B/K (IAM's action and resource for reading that object).
 *
 * Where: in a child process (daemon/child-output.h) that opens the buckets
 * of the configuration's [buckets] and calls the worker's own image code
 * (worker/image-vips.c: the allow-listed loaders, untrusted ones blocked,
 * the pixel and byte limits from the header before decoding), so
 * imgflow-api's loop never waits for storage or libvips and a hostile image
 * costs at most a child, killed after CONSOLE_THUMB_TIMEOUT_MS. No worker
 * is involved and no thumbnail is stored or cached.
 */

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "alloc-util.h"
#include "api-internal.h"
#include "child-output.h"
#include "console.h"
#include "http.h"
#include "iam.h"
#include "image-vips.h"
#include "keys.h"
#include "log.h"
#include "storage-config.h"
#include "storage.h"

#define CONSOLE_THUMB_SIZE 320
#define CONSOLE_THUMB_TIMEOUT_MS 10000
#define CONSOLE_THUMB_MAX_BYTES (4u * 1024 * 1024)

typedef struct ThumbJob {
        const Config *config;
        const char *bucket, *key;
} ThumbJob;

/* In the child: the thumbnail's JPEG to fd, or a line "E <error>: <cause>"
 * and exit status 2 (so the parent can say 404 for a missing object). */
static int thumb_child(void *arg, int fd) {
        ThumbJob *j = arg;
        _cleanup_free_ char *error = NULL, *msg = NULL;
        Storage *s = NULL;
        Image *img = NULL, *small = NULL;
        TaskFailure f = {};
        void *buf = NULL;
        size_t len = 0;
        ImageSaveOptions o = {.format = "jpeg", .quality = 80, .compression = -1, .effort = -1};
        extern char **environ;

        if (storage_new(&s) < 0 || storage_add_from_config(s, j->config, environ, &error) < 0)
                return 1;
        if (image_vips_init(1) < 0)
                return 1;
        if (image_vips_open(s, j->bucket, j->key, strlen(j->key), NULL, IMAGE_OPEN_AUTOROTATE, &img, NULL,
                            NULL, &f) < 0 ||
            image_vips_thumbnail(img, NULL, CONSOLE_THUMB_SIZE, CONSOLE_THUMB_SIZE, IMAGE_SIZE_DOWN,
                                 IMAGE_INTERESTING_NONE, &small, &f) < 0 ||
            image_vips_save_buffer(small, &o, &buf, &len, &f) < 0) {
                msg = xasprintf("E %s: %s", f.error ? f.error : "Image.Invalid", f.cause ? f.cause : "");
                (void) child_output_write(fd, msg, strlen(msg));
                return 2;
        }
        return child_output_write(fd, buf, len) < 0 ? 1 : 0;
}

typedef struct Thumb {
        ApiCall *c;
        ChildOutput *child;
        sd_event_source *io, *timer;
} Thumb;

static void thumb_free(void *p) {
        Thumb *t = p;

        sd_event_source_disable_unref(t->io);
        sd_event_source_disable_unref(t->timer);
        child_output_free(t->child);
        free(t);
}

static void answer_error(ApiCall *c, unsigned status, const char *error, const char *message) {
        _cleanup_json_ json_t *o = json_pack("{s:s, s:s}", "__type", error, "message", message);
        char *s = json_dumps(o, JSON_COMPACT);
        const char *headers[] = {"Content-Type", "application/json", "Cache-Control", "no-store", NULL};

        if (!s)
                abort();
        (void) http_request_respond(c->req, status, headers, s, strlen(s));
}

static void thumb_done(Thumb *t, int r) {
        ApiCall *c = t->c;
        const char *headers[] = {"Content-Type",
                                 "image/jpeg",
                                 "Cache-Control",
                                 "private, max-age=60",
                                 "X-Content-Type-Options",
                                 "nosniff",
                                 NULL};
        char *out;
        size_t len;

        t->io = sd_event_source_disable_unref(t->io);
        t->timer = sd_event_source_disable_unref(t->timer);
        if (!api_call_alive(c))
                return;
        if (r == -ETIME)
                return answer_error(c, 503, "ThumbnailTimedOut", "The thumbnail took too long");
        if (r < 0) {
                out = child_output_take(t->child, &len);
                if (len > 2 && out[0] == 'E' && out[1] == ' ') {
                        bool missing =
                                strstr(out, "Storage.NotFound") || strstr(out, "Storage.NoSuchBucket");
                        answer_error(c, missing ? 404 : 422, missing ? "NotFound" : "NotAnImage", out + 2);
                } else
                        answer_error(c, 500, "ThumbnailFailed", "The thumbnail could not be made");
                free(out);
                return;
        }
        out = child_output_take(t->child, &len);
        c->m->n_ok++;
        (void) http_request_respond(c->req, 200, headers, out, len);
}

static int on_thumb_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Thumb *t = userdata;
        int r = child_output_read(t->child);

        if (r != 0)
                thumb_done(t, r);
        return 0;
}

static int on_thumb_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        thumb_done(userdata, -ETIME);
        return 0;
}

typedef struct Query {
        const char *bucket, *key;
} Query;

static int query_pair(const char *name, const char *value, void *userdata) {
        Query *q = userdata;

        if (streq(name, "bucket"))
                q->bucket = value;
        else if (streq(name, "key"))
                q->key = value;
        return 0;
}

void console_thumbnail(ApiCall *c, const ApiKey *key) {
        _cleanup_free_ char *resource = NULL;
        const char *problem = NULL;
        TaskFailure f = {};
        ThumbJob job;
        Query q = {};
        Thumb *t;
        int r;

        (void) http_request_foreach_query(c->req, query_pair, &q);
        if (console_thumbnail_resource(q.bucket, q.key, &resource, &problem) < 0)
                return answer_error(c, 400, "ValidationException", problem);
        if (storage_check_key(q.key, strlen(q.key), &f) < 0) {
                task_failure_clear(&f);
                return answer_error(c, 400, "ValidationException", "Invalid bucket or key");
        }
        if (iam_policy_evaluate(key->policy, "s3:GetObject", resource) != IAM_ALLOW) {
                log_warning("Console thumbnail of %s refused for access key %s", resource,
                            key->access_key_id);
                return answer_error(c, 403, "AccessDeniedException",
                                    "The access key's policy does not allow s3:GetObject on this object");
        }

        job = (ThumbJob){.config = api_config(c->m), .bucket = q.bucket, .key = q.key};
        t = xmalloc(sizeof *t);
        *t = (Thumb){.c = c};
        api_call_set_state(c, t, thumb_free);
        r = child_output_start(thumb_child, &job, CONSOLE_THUMB_MAX_BYTES, &t->child);
        if (r >= 0)
                r = sd_event_add_io(api_event(c->m), &t->io, child_output_fd(t->child), EPOLLIN, on_thumb_io,
                                    t);
        if (r >= 0)
                r = sd_event_add_time_relative(api_event(c->m), &t->timer, CLOCK_MONOTONIC,
                                               (uint64_t) CONSOLE_THUMB_TIMEOUT_MS * 1000,
                                               API_TIMER_ACCURACY_USEC, on_thumb_timer, t);
        if (r < 0) {
                log_warning("Console thumbnail not started: %s", strerror(-r));
                return answer_error(c, 500, "ThumbnailFailed", "The thumbnail could not start");
        }
        c->busy = true;
}
