/* SPDX-License-Identifier: MIT */

/*
 * imgflow-watch: S3 event notifications for directory buckets.
 *
 * An S3-compatible store tells the coordinators that an object was created
 * by publishing a notification to Kafka; a directory bucket has no server
 * to do that, so this small service watches the bucket's directory tree
 * with inotify (on the sd-event loop) and publishes the same notification
 * (watch-event.h) to coordinator.s3_events_topic when a file is complete:
 *
 *   IN_CLOSE_WRITE  a file written in place was closed (cp, a plain write)
 *   IN_MOVED_TO     a file was renamed into place (mv, rsync, the workers'
 *                   atomic writes)
 *   IN_CREATE / IN_MOVED_TO of a directory: watched from then on, and
 *                   scanned (files may have landed before the watch)
 *   IN_Q_OVERFLOW   the kernel dropped events: everything is scanned again
 *
 * Keys under watch.ignore_prefixes (the workers' outputs: processed/ by
 * default) and the atomic writer's temporary files are not published.
 *
 * Restarts lose nothing and repeat nothing: every published object
 * (key, size, mtime, eTag) is appended to a journal in watch.state_dir once
 * the broker has acknowledged its notification, and at start the watches
 * are set up first and then the whole tree is scanned: a file that is not
 * in the journal with the same size and mtime is published. A file whose
 * mtime is younger than watch.settle may still be being written: it is
 * looked at again after watch.settle (its IN_CLOSE_WRITE, if it comes,
 * publishes it first). A crash between the acknowledgement and the journal
 * write publishes that file again; its eTag (the MD5 of its content, as S3
 * computes it for a single PUT) makes it the same execution, which the
 * coordinator starts once.
 *
 * Everything runs on the loop thread; reading a file for its MD5 is the
 * one blocking step (files up to watch.etag_max_bytes; larger ones get an
 * eTag from their size and mtime).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-event.h>

#include "imgflow-config.h"

#include "alloc-util.h"
#include "clock.h"
#include "config.h"
#include "daemon-config.h"
#include "format.h"
#include "hash.h"
#include "kafka.h"
#include "log.h"
#include "macro.h"
#include "service.h"
#include "storage-config.h"
#include "storage.h"
#include "watch-event.h"

#define INOTIFY_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

typedef struct WatchBucket {
        char *name, *root;
        FILE *journal;
        GHashTable *published; /* key -> "size mtime_ns" of what was published (or is in flight) */
} WatchBucket;

typedef struct WatchDir {
        WatchBucket *b;
        char *rel; /* "" or "a/b/" */
} WatchDir;

typedef struct Publish {
        WatchBucket *b;
        char *key, *etag;
        uint64_t size, mtime_ns;
        char *payload;
} Publish;

typedef struct Manager {
        sd_event *event;
        Config *config;
        Storage *storage;
        KafkaProducer *producer;
        char *topic;
        char **ignore;
        uint64_t settle_usec, etag_max;
        WatchBucket *buckets;
        size_t n_buckets;
        int inotify_fd;
        sd_event_source *inotify_source, *settle_timer, *status_timer;
        GHashTable *dirs; /* wd -> WatchDir */
        uint64_t n_published, n_acked, n_deferred;
        bool stopping;
} Manager;

static void watch_dir_free(void *p) {
        WatchDir *d = p;
        free(d->rel);
        free(d);
}

static void publish_free(Publish *p) {
        free(p->key);
        free(p->etag);
        free(p->payload);
        free(p);
}

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        if (m->producer) {
                (void) kafka_producer_flush(m->producer, 5000);
                m->producer = kafka_producer_free(m->producer);
        }
        sd_event_source_unref(m->inotify_source);
        sd_event_source_unref(m->settle_timer);
        sd_event_source_unref(m->status_timer);
        if (m->inotify_fd >= 0)
                close(m->inotify_fd);
        if (m->dirs)
                g_hash_table_destroy(m->dirs);
        for (size_t i = 0; i < m->n_buckets; i++) {
                free(m->buckets[i].name);
                free(m->buckets[i].root);
                if (m->buckets[i].journal)
                        fclose(m->buckets[i].journal);
                if (m->buckets[i].published)
                        g_hash_table_destroy(m->buckets[i].published);
        }
        free(m->buckets);
        storage_free(m->storage);
        strv_free(m->ignore);
        free(m->topic);
        sd_event_unref(m->event);
        config_free(m->config);
        free(m);
        return NULL;
}

static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* ---- publishing ---------------------------------------------------------- */

static char *stamp(uint64_t size, uint64_t mtime_ns) {
        return xasprintf("%" PRIu64 " %" PRIu64, size, mtime_ns);
}

static void on_delivery(KafkaProducer *p, int error, const char *errstr, const char *topic,
                        int32_t partition, int64_t offset, void *msg_opaque, void *userdata) {
        Manager *m = userdata;
        Publish *pb = msg_opaque;
        _cleanup_free_ char *line = NULL;

        if (!pb)
                return;
        if (error != 0) {
                log_warning("Notification of %s/%s not delivered (%s); sending it again", pb->b->name,
                            pb->key, strempty(errstr));
                if (!m->stopping &&
                    kafka_produce(m->producer, m->topic, pb->key, pb->payload, strlen(pb->payload), pb) >= 0)
                        return;
                g_hash_table_remove(pb->b->published, pb->key); /* the next scan tries again */
                publish_free(pb);
                return;
        }
        line = watch_journal_line(pb->key, pb->size, pb->mtime_ns, pb->etag);
        if (fputs(line, pb->b->journal) < 0 || fflush(pb->b->journal) != 0)
                log_warning("Cannot write the journal of bucket %s: %m (a restart publishes %s again)",
                            pb->b->name, pb->key);
        m->n_acked++;
        publish_free(pb);
}

/* The eTag of a file: the MD5 of its content (as S3's for a single PUT), or
 * for a file over etag_max "<size hex>-<mtime hex>". */
static int file_etag(Manager *m, WatchBucket *b, const char *key, const struct stat *st, char **ret) {
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size = 0;
        char hex[HASH_HEX_MAX];
        int r;

        if ((uint64_t) st->st_size > m->etag_max) {
                *ret = xasprintf("%" PRIx64 "-%" PRIx64, (uint64_t) st->st_size,
                                 (uint64_t) st->st_mtim.tv_sec * 1000000000u +
                                         (uint64_t) st->st_mtim.tv_nsec);
                return 0;
        }
        r = storage_read(m->storage, b->name, key, m->etag_max, &data, &size, &f);
        if (r < 0) {
                log_debug("Cannot read %s/%s: %s", b->name, key, strempty(f.cause));
                task_failure_clear(&f);
                return r;
        }
        hash_hex(HASH_MD5, data, size, hex);
        free(data);
        *ret = xstrdup(hex);
        return 0;
}

/* Publish bucket/key if it is a complete regular file not published yet in
 * this version. defer: a file younger than settle waits for the timer. */
static void consider(Manager *m, WatchBucket *b, const char *key, bool from_scan) {
        _cleanup_free_ char *path = xasprintf("%s/%s", b->root, key), *st_s = NULL, *etag = NULL;
        const char *old;
        struct stat st;
        uint64_t mtime_ns;
        Publish *pb;
        int r;

        if (watch_key_ignored(key, m->ignore) || strlen(key) > STORAGE_KEY_MAX)
                return;
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        if (!g_utf8_validate(key, -1, NULL)) {
                /* S3 keys are UTF-8: no bucket can hold this name. */
                log_warning("%s/%s: the file name is not UTF-8, which no S3 key can be: not published",
                            b->name, key);
                return;
        }
        mtime_ns = (uint64_t) st.st_mtim.tv_sec * 1000000000u + (uint64_t) st.st_mtim.tv_nsec;
        st_s = stamp((uint64_t) st.st_size, mtime_ns);
        old = g_hash_table_lookup(b->published, key);
        if (old && streq(old, st_s))
                return;
        if (from_scan && now_usec(CLOCK_REALTIME) < mtime_ns / 1000 + m->settle_usec) {
                /* Maybe still being written: look again after settle. */
                m->n_deferred++;
                (void) sd_event_source_set_time_relative(m->settle_timer, m->settle_usec);
                (void) sd_event_source_set_enabled(m->settle_timer, SD_EVENT_ONESHOT);
                return;
        }
        r = file_etag(m, b, key, &st, &etag);
        if (r < 0)
                return;
        pb = xmalloc(sizeof *pb);
        *pb = (Publish){.b = b,
                        .key = xstrdup(key),
                        .etag = TAKE_PTR(etag),
                        .size = (uint64_t) st.st_size,
                        .mtime_ns = mtime_ns};
        pb->payload = watch_event_json(b->name, key, pb->size, pb->etag, mtime_ns, now_ms(CLOCK_REALTIME));
        r = kafka_produce(m->producer, m->topic, key, pb->payload, strlen(pb->payload), pb);
        if (r < 0) {
                log_warning_errno(r,
                                  "Cannot publish the notification of %s/%s: %m (a later scan tries again)",
                                  b->name, key);
                publish_free(pb);
                return;
        }
        g_hash_table_replace(b->published, xstrdup(key), TAKE_PTR(st_s));
        m->n_published++;
        log_debug("Published %s/%s (%" PRIu64 " bytes)", b->name, key, (uint64_t) st.st_size);
}

/* ---- watches and scans --------------------------------------------------- */

static int add_watch(Manager *m, WatchBucket *b, const char *rel) {
        _cleanup_free_ char *path = xasprintf("%s/%s", b->root, rel);
        WatchDir *d;
        int wd;

        wd = inotify_add_watch(m->inotify_fd, path, INOTIFY_MASK);
        if (wd < 0) {
                if (errno == ENOSPC)
                        return log_error_errno(-errno,
                                               "Cannot watch %s: out of inotify watches "
                                               "(fs.inotify.max_user_watches)",
                                               path);
                return -errno; /* gone meanwhile */
        }
        d = xmalloc(sizeof *d);
        *d = (WatchDir){.b = b, .rel = xstrdup(rel)};
        g_hash_table_replace(m->dirs, GINT_TO_POINTER(wd), d);
        return 0;
}

/* Watch rel and every directory below it (ignored prefixes too: a key
 * prefix may start inside a directory name), then publish the files of the
 * tree that need it. */
static void scan(Manager *m, WatchBucket *b, const char *rel) {
        _cleanup_free_ char *dir = xasprintf("%s/%s", b->root, rel);
        DIR *d;
        struct dirent *de;

        if (add_watch(m, b, rel) < 0)
                return;
        d = opendir(dir);
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *key = NULL;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                key = xasprintf("%s%s", rel, de->d_name);
                if (de->d_type == DT_DIR) {
                        _cleanup_free_ char *sub = xasprintf("%s/", key);
                        if (strlen(sub) <= STORAGE_KEY_MAX)
                                scan(m, b, sub);
                } else if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN)
                        consider(m, b, key, /* from_scan= */ true);
        }
        closedir(d);
}

static void scan_all(Manager *m) {
        for (size_t i = 0; i < m->n_buckets; i++)
                scan(m, &m->buckets[i], "");
}

static int on_settle(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        /* Re-scan: the watches exist already (replaced, same wd). */
        scan_all(m);
        return 0;
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return log_error_errno(-errno, "Reading inotify events failed: %m");
                }
                for (char *p = buf; p < buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *) p;
                        WatchDir *d = g_hash_table_lookup(m->dirs, GINT_TO_POINTER(ev->wd));
                        p += sizeof(*ev) + ev->len;

                        if (ev->mask & IN_Q_OVERFLOW) {
                                log_warning("inotify queue overflow: scanning every bucket");
                                scan_all(m);
                                continue;
                        }
                        if (ev->mask & IN_IGNORED) {
                                g_hash_table_remove(m->dirs, GINT_TO_POINTER(ev->wd));
                                continue;
                        }
                        if (!d || ev->len == 0)
                                continue;
                        _cleanup_free_ char *key = xasprintf("%s%s", d->rel, ev->name);
                        if (ev->mask & IN_ISDIR) {
                                if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
                                        _cleanup_free_ char *sub = xasprintf("%s/", key);
                                        scan(m, d->b, sub);
                                }
                                continue;
                        }
                        if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
                                consider(m, d->b, key, /* from_scan= */ false);
                }
        }
}

static int on_status(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        (void) service_notify_status("%" PRIu64 " published, %" PRIu64
                                     " acknowledged, %u director(ies) watched",
                                     m->n_published, m->n_acked, g_hash_table_size(m->dirs));
        return sd_event_source_set_time_relative(s, 5 * 1000000);
}

/* ---- set-up --------------------------------------------------------------- */

static int journal_open(Manager *m, WatchBucket *b, const char *state_dir) {
        _cleanup_free_ char *path = xasprintf("%s/%s.published", state_dir, b->name);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        FILE *f;

        b->published = g_hash_table_new_full(g_str_hash, g_str_equal, free, free);
        f = fopen(path, "a+e");
        if (!f)
                return log_error_errno(-errno, "Cannot open the journal %s: %m", path);
        rewind(f);
        while ((n = getline(&line, &cap, f)) > 0) {
                char *key = NULL, *etag = NULL;
                uint64_t size, mtime;
                if (line[n - 1] == '\n')
                        line[n - 1] = '\0';
                if (watch_journal_parse(line, &key, &size, &mtime, &etag) < 0)
                        continue; /* a torn last line */
                g_hash_table_replace(b->published, key, stamp(size, mtime));
                free(etag);
        }
        free(line);
        b->journal = f;
        log_info("Bucket %s = %s: %u object(s) published before", b->name, b->root,
                 g_hash_table_size(b->published));
        return 0;
}

static char **split_words(const char *s) {
        _cleanup_free_ char *copy = xstrdup(s);
        char **l = xmalloc(sizeof(char *));
        size_t n = 0;
        char *save = NULL;

        l[0] = NULL;
        for (char *t = strtok_r(copy, " ,\t", &save); t; t = strtok_r(NULL, " ,\t", &save)) {
                l = xrealloc(l, (n + 2) * sizeof(char *));
                l[n++] = xstrdup(t);
                l[n] = NULL;
        }
        return l;
}

static int add_bucket(Manager *m, const char *name, const char *state_dir) {
        const char *root = storage_bucket_root(m->storage, name);
        WatchBucket *b;

        if (!root)
                return log_error_errno(-EINVAL, "watch.buckets: %s is not a directory bucket", name);
        m->buckets = xrealloc(m->buckets, (m->n_buckets + 1) * sizeof(*m->buckets));
        b = &m->buckets[m->n_buckets++];
        *b = (WatchBucket){.name = xstrdup(name), .root = xstrdup(root)};
        return journal_open(m, b, state_dir);
}

typedef struct BucketWalk {
        Manager *m;
        const char *state_dir;
        int r;
} BucketWalk;

static int add_dir_bucket(const char *key, const char *value, void *userdata) {
        BucketWalk *w = userdata;
        if (storage_bucket_kind(w->m->storage, key) != STORAGE_DIRECTORY)
                return 0;
        return add_bucket(w->m, key, w->state_dir);
}

static int manager_new(sd_event *e, Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = xmalloc(sizeof(Manager));
        _cleanup_free_ char *error = NULL;
        const char *state_dir, *names;
        int r;

        *m = (Manager){.event = sd_event_ref(e), .config = config, .inotify_fd = -1};
        m->dirs = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, watch_dir_free);
        m->topic = xstrdup(config_get_string(config, "coordinator", "s3_events_topic"));
        if (isempty(m->topic))
                return log_error_errno(-EINVAL, "coordinator.s3_events_topic is empty: nowhere to publish");
        m->ignore = split_words(config_get_string(config, "watch", "ignore_prefixes"));
        m->settle_usec = config_get_duration_ms(config, "watch", "settle") * 1000;
        m->etag_max = config_get_size(config, "watch", "etag_max_bytes");
        state_dir = config_get_string(config, "watch", "state_dir");
        if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(-errno, "Cannot create watch.state_dir %s: %m", state_dir);

        r = storage_new(&m->storage);
        if (r < 0)
                return log_error_errno(-ENOMEM, "Out of memory.");
        r = storage_add_from_config(m->storage, config, environ, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to add %s", error ? error : "buckets");
        names = config_get_string(config, "watch", "buckets");
        if (isempty(names)) {
                BucketWalk w = {m, state_dir, 0};
                r = config_foreach_in_section(config, "buckets", add_dir_bucket, &w);
        } else {
                _cleanup_strv_free_ char **l = split_words(names);
                r = 0;
                for (char **n = l; *n && r >= 0; n++)
                        r = add_bucket(m, *n, state_dir);
        }
        if (r < 0)
                return r;
        if (m->n_buckets == 0)
                return log_error_errno(-EINVAL, "No directory bucket to watch ([buckets], watch.buckets)");

        m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (m->inotify_fd < 0)
                return log_error_errno(-errno, "inotify_init1 failed: %m");
        r = sd_event_add_io(e, &m->inotify_source, m->inotify_fd, EPOLLIN, on_inotify, m);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &m->settle_timer, CLOCK_MONOTONIC, m->settle_usec, 0,
                                               on_settle, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->settle_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &m->status_timer, CLOCK_MONOTONIC, 1000000, 0, on_status,
                                               m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the event sources: %m");
        r = kafka_producer_new(e, config, on_delivery, m, &m->producer);
        if (r < 0)
                return log_error_errno(r, "Failed to create the Kafka producer: %m");
        *ret = TAKE_PTR(m);
        return 0;
}

static void on_stop(void *userdata) {
        Manager *m = *(Manager **) userdata;
        if (m)
                m->stopping = true;
        (void) sd_event_exit(m ? m->event : NULL, 0);
}

static void help(void) {
        printf("imgflow-watch [OPTIONS...]\n\n"
               "Publishes S3 event notifications (ObjectCreated:Put) for files written into\n"
               "directory buckets, to coordinator.s3_events_topic.\n\n"
               "  -h --help                 Show this help\n"
               "     --version              Show the version\n"
               "  -c --config=FILE          Configuration file (default %s)\n"
               "     --kafka-bootstrap=LIST Kafka bootstrap servers\n"
               "     --log-level=LEVEL      Log level\n"
               "     --log-target=TARGET    auto, journal, console\n"
               "     --check-config         Check the configuration and exit\n",
               config_default_path());
}

static int run(int argc, char **argv) {
        enum { ARG_VERSION = 0x100, ARG_LOG_LEVEL, ARG_LOG_TARGET, ARG_KAFKA, ARG_CHECK_CONFIG };
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {"config", required_argument, NULL, 'c'},
                {"kafka-bootstrap", required_argument, NULL, ARG_KAFKA},
                {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
                {"log-target", required_argument, NULL, ARG_LOG_TARGET},
                {"check-config", no_argument, NULL, ARG_CHECK_CONFIG},
                {},
        };
        _cleanup_(daemon_config_args_done) DaemonConfigArgs args = {};
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *error = NULL;
        Config *config = NULL;
        bool check = false;
        int c, r;

        log_setup("imgflow-watch");
        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("imgflow-watch %s\n", IMGFLOW_VERSION);
                        return 0;
                case 'c':
                        args.config_path = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        if (daemon_config_args_add(&args, "--log-level", "imgflow", "log_level", optarg) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        break;
                case ARG_LOG_TARGET:
                        if (daemon_config_args_add(&args, "--log-target", "imgflow", "log_target", optarg) <
                            0)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        break;
                case ARG_KAFKA:
                        if (daemon_config_args_add(&args, "--kafka-bootstrap", "kafka", "bootstrap.servers",
                                                   optarg) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        break;
                case ARG_CHECK_CONFIG:
                        check = true;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument \"%s\".", argv[optind]);
        r = daemon_config_load(&args, environ, &config, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ? error : "Failed to load the configuration");
        r = daemon_config_apply_log(config);
        if (r < 0) {
                config_free(config);
                return log_error_errno(r, "Failed to set up logging: %m");
        }
        if (check) {
                /* Buckets and topic as manager_new() takes them, without
                 * Kafka and without the state directory. */
                _cleanup_storage_ Storage *s = NULL;
                int k = storage_new(&s);
                if (k >= 0)
                        k = storage_add_from_config(s, config, environ, &error);
                if (k >= 0 && isempty(config_get_string(config, "coordinator", "s3_events_topic")))
                        k = log_error_errno(-EINVAL, "coordinator.s3_events_topic is empty");
                else if (k < 0)
                        log_error("Invalid %s", error ? error : "buckets");
                config_free(config);
                return k < 0 ? k : 0;
        }

        r = sd_event_default(&e);
        if (r < 0) {
                config_free(config);
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        }
        r = service_setup(e, on_stop, NULL, &m);
        if (r < 0) {
                config_free(config);
                return log_error_errno(r, "Failed to set up signals and the watchdog: %m");
        }
        r = manager_new(e, config, &m);
        if (r < 0)
                return r;
        /* Watches first, then the scan: a file that lands meanwhile is seen
         * by one or the other (or both: published once). */
        scan_all(m);
        log_info("Watching %zu bucket(s), %u director(ies); publishing to %s", m->n_buckets,
                 g_hash_table_size(m->dirs), m->topic);
        (void) service_notify_ready();
        r = sd_event_loop(e);
        (void) service_notify_stopping();
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        log_info("Stopped: %" PRIu64 " published, %" PRIu64 " acknowledged", m->n_published, m->n_acked);
        return 0;
}

int main(int argc, char **argv) {
        return run(argc, argv) < 0 ? 1 : 0;
}
