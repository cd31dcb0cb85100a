/* SPDX-License-Identifier: MIT */
/*
 * plain-loop: the benchmark's baseline. The seed pipeline's image work done
 * in one process with libvips and no orchestration at all:
 *
 *   plain-loop IN_DIR OUT_DIR THREADS [same-checks]
 *
 * For every *.jpg in IN_DIR, on a pool of THREADS threads (libvips
 * concurrency 1 per image, operation cache off, as in imgflow-worker):
 *
 *   validate   header + one full sequential decode (vips_avg)
 *   resize     vips_thumbnail 800x600 cover (shrink-on-load), JPEG q80, stripped
 *   filter     grayscale + the 3x3 sharpen kernel, JPEG q80, stripped
 *   optimize   the resized image re-encoded: JPEG q80 progressive, stripped
 *
 * With "same-checks", the loop does what imgflow's operations do since
 * they were made cheaper: validate decodes the JPEG at 1/8 scale (every
 * scan still entropy-decoded; worker/image-vips.c) and the filter reads its
 * input sequentially. The benchmark reports against both loops.
 *
 * Every output is written like the worker writes it: a temporary file in
 * the target directory, fsync, rename, fsync of the directory. Prints one
 * line of JSON: {"images", "failed", "seconds", "imagesPerSecond", "threads"}.
 * Exit status 1 if any image failed.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vips/vips.h>

typedef struct Job {
        const char *in_dir, *out_dir;
        bool same_checks;
        char *name; /* owned */
} Job;

typedef struct Totals {
        GMutex lock;
        unsigned done, failed;
} Totals;

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* tmp + fsync + rename + fsync(dir), as storage_write_atomic() does. */
static int write_atomic(const char *dir, const char *name, const void *buf, size_t len) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autofree char *tmp = g_strdup_printf("%s/.%s.tmp%lu", dir, name, (unsigned long) pthread_self());
        const char *p = buf;
        int fd, dfd;

        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        close(fd);
                        unlink(tmp);
                        return -EIO;
                }
                p += n;
                len -= (size_t) n;
        }
        if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
                unlink(tmp);
                return -EIO;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
                (void) fsync(dfd);
                close(dfd);
        }
        return 0;
}

static int save_jpeg(VipsImage *img, const char *dir, const char *name, gboolean progressive) {
        void *buf = NULL;
        size_t len = 0;
        int r;

        if (vips_jpegsave_buffer(img, &buf, &len, "Q", 80, "interlace", progressive, "optimize_coding", TRUE,
                                 "strip", TRUE, NULL) < 0)
                return -EIO;
        r = write_atomic(dir, name, buf, len);
        g_free(buf);
        return r;
}

/* Header with the loader the worker uses, then EXIF orientation applied. */
static int open_image(const char *path, VipsAccess access, VipsImage **ret) {
        VipsImage *img = NULL, *rot = NULL;

        if (vips_jpegload(path, &img, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, NULL) < 0)
                return -EIO;
        if (vips_autorot(img, &rot, NULL) < 0) {
                g_object_unref(img);
                return -EIO;
        }
        g_object_unref(img);
        *ret = rot;
        return 0;
}

static int process_one(const Job *j) {
        char *in = g_build_filename(j->in_dir, j->name, NULL);
        char *dir_resize = g_build_filename(j->out_dir, "resize", NULL);
        char *dir_filter = g_build_filename(j->out_dir, "filter", NULL);
        char *dir_opt = g_build_filename(j->out_dir, "optimize", NULL);
        char *resized = g_build_filename(dir_resize, j->name, NULL);
        VipsImage *img = NULL, *t1 = NULL, *t2 = NULL, *mask = NULL;
        double avg;
        int r = -EIO;

        /* validate */
        if (vips_jpegload(in, &img, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR,
                          "shrink", j->same_checks ? 8 : 1, NULL) < 0 ||
            vips_avg(img, &avg, NULL) < 0)
                goto out;
        g_clear_object(&img);

        /* resize: header (as image_vips_open), then thumbnail from the file */
        if (open_image(in, VIPS_ACCESS_RANDOM, &img) < 0 ||
            vips_thumbnail(in, &t1, 800, "height", 600, "size", VIPS_SIZE_DOWN, "crop",
                           VIPS_INTERESTING_CENTRE, "fail_on", VIPS_FAIL_ON_ERROR, NULL) < 0 ||
            save_jpeg(t1, dir_resize, j->name, FALSE) < 0)
                goto out;
        g_clear_object(&img);
        g_clear_object(&t1);

        /* filter: grayscale, then the 3x3 sharpen kernel */
        mask = vips_image_new_matrixv(3, 3, 0.0, -1.0, 0.0, -1.0, 5.0, -1.0, 0.0, -1.0, 0.0);
        if (!mask ||
            open_image(in, j->same_checks ? VIPS_ACCESS_SEQUENTIAL : VIPS_ACCESS_RANDOM, &img) < 0 ||
            vips_colourspace(img, &t1, VIPS_INTERPRETATION_B_W, NULL) < 0 ||
            vips_conv(t1, &t2, mask, "precision", VIPS_PRECISION_INTEGER, NULL) < 0)
                goto out;
        g_clear_object(&t1);
        if (vips_cast_uchar(t2, &t1, NULL) < 0 || save_jpeg(t1, dir_filter, j->name, FALSE) < 0)
                goto out;
        g_clear_object(&img);
        g_clear_object(&t1);
        g_clear_object(&t2);

        /* optimize the resized image */
        if (open_image(resized, VIPS_ACCESS_RANDOM, &img) < 0 || save_jpeg(img, dir_opt, j->name, TRUE) < 0)
                goto out;
        r = 0;
out:
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", j->name, vips_error_buffer());
                vips_error_clear();
        }
        g_clear_object(&img);
        g_clear_object(&t1);
        g_clear_object(&t2);
        g_clear_object(&mask);
        g_free(in);
        g_free(dir_resize);
        g_free(dir_filter);
        g_free(dir_opt);
        g_free(resized);
        return r;
}

static void run_job(gpointer data, gpointer user) {
        Job *j = data;
        Totals *t = user;
        int r = process_one(j);

        g_mutex_lock(&t->lock);
        t->done++;
        if (r < 0)
                t->failed++;
        g_mutex_unlock(&t->lock);
        free(j->name);
        free(j);
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(int argc, char **argv) {
        const char *sub[] = {"resize", "filter", "optimize"};
        char **names = NULL;
        size_t n = 0;
        Totals totals = {};
        GThreadPool *pool;
        struct dirent *de;
        DIR *d;
        int threads;
        double t0, secs;

        if (argc < 4 || argc > 5 || atoi(argv[3]) < 1 ||
            (argc == 5 && strcmp(argv[4], "same-checks") != 0)) {
                fprintf(stderr, "usage: %s IN_DIR OUT_DIR THREADS [same-checks]\n", argv[0]);
                return 2;
        }
        threads = atoi(argv[3]);
        if (VIPS_INIT(argv[0]))
                vips_error_exit(NULL);
        vips_concurrency_set(1);
        vips_cache_set_max(0);
        vips_cache_set_max_mem(0);
        vips_cache_set_max_files(0);

        for (size_t i = 0; i < 3; i++) {
                g_autofree char *path = g_build_filename(argv[2], sub[i], NULL);
                if (g_mkdir_with_parents(path, 0755) < 0) {
                        perror(path);
                        return 1;
                }
        }
        d = opendir(argv[1]);
        if (!d) {
                perror(argv[1]);
                return 1;
        }
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l > 4 && strcmp(de->d_name + l - 4, ".jpg") == 0) {
                        names = realloc(names, (n + 1) * sizeof *names);
                        if (!names)
                                return 1;
                        names[n++] = strdup(de->d_name);
                }
        }
        closedir(d);
        if (n > 0)
                qsort(names, n, sizeof *names, name_cmp);

        g_mutex_init(&totals.lock);
        t0 = now_sec();
        pool = g_thread_pool_new(run_job, &totals, threads, TRUE, NULL);
        for (size_t i = 0; i < n; i++) {
                Job *j = malloc(sizeof *j);
                if (!j)
                        return 1;
                *j = (Job){argv[1], argv[2], argc == 5, names[i]};
                g_thread_pool_push(pool, j, NULL);
        }
        g_thread_pool_free(pool, FALSE, TRUE); /* waits for every job */
        secs = now_sec() - t0;
        free(names);

        printf("{\"images\": %zu, \"failed\": %u, \"seconds\": %.3f, \"imagesPerSecond\": %.3f, "
               "\"threads\": %d}\n",
               n, totals.failed, secs, secs > 0 ? (double) n / secs : 0.0, threads);
        vips_shutdown();
        return totals.failed ? 1 : 0;
}
