/* SPDX-License-Identifier: MIT */

/* Tests for worker/storage.c: key checks, symlink escapes, reads, atomic writes. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "storage.h"
#include "test.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void rm_rf(const char *dir) {
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const char *content) {
        FILE *fp = fopen(path, "w");
        ASSERT_NOT_NULL(fp);
        fputs(content, fp);
        fclose(fp);
}

typedef struct Fixture {
        char tmp[64];
        char root[128];    /* bucket "photos" */
        char outside[128]; /* not a bucket */
        Storage *s;
} Fixture;

static void fixture_setup(Fixture *fx) {
        char p[256];

        snprintf(fx->tmp, sizeof(fx->tmp), "/tmp/imgflow-storage-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(fx->tmp));
        snprintf(fx->root, sizeof(fx->root), "%s/root", fx->tmp);
        snprintf(fx->outside, sizeof(fx->outside), "%s/outside", fx->tmp);
        ASSERT_INT_EQ(mkdir(fx->root, 0755), 0);
        ASSERT_INT_EQ(mkdir(fx->outside, 0755), 0);
        snprintf(p, sizeof(p), "%s/raw", fx->root);
        ASSERT_INT_EQ(mkdir(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/raw/cat.jpg", fx->root);
        write_file(p, "meow");
        snprintf(p, sizeof(p), "%s/secret", fx->outside);
        write_file(p, "secret");
        ASSERT_INT_EQ(storage_new(&fx->s), 0);
        ASSERT_INT_EQ(storage_add_bucket(fx->s, "photos", fx->root), 0);
}

static void fixture_teardown(Fixture *fx) {
        storage_free(fx->s);
        rm_rf(fx->tmp);
}

static void expect_failure(Storage *s, const char *bucket, const char *key, size_t len, const char *error) {
        TaskFailure f = TASK_FAILURE_NULL;
        char *path = NULL;
        int r = storage_resolve_n(s, bucket, key, len, &path, &f);
        if (r >= 0 || !f.error || strcmp(f.error, error) != 0)
                fprintf(stderr, "  key \"%.*s\": r=%d error=%s cause=%s\n", (int) len, key, r,
                        f.error ? f.error : "(none)", f.cause ? f.cause : "");
        ASSERT_TRUE(r < 0);
        ASSERT_NULL(path);
        ASSERT_STR_EQ(f.error, error);
        task_failure_clear(&f);
}

TEST(add_bucket_rules) {
        Fixture fx;
        fixture_setup(&fx);
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "photos", fx.root), -EEXIST);
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "", fx.root), -EINVAL);
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "..", fx.root), -EINVAL);
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "a/b", fx.root), -EINVAL);
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "nope", "/nonexistent/dir/x"), -ENOENT);
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "file", "/etc/hostname"), -ENOTDIR);
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "other", fx.outside), 0);
        ASSERT_NOT_NULL(storage_bucket_root(fx.s, "other"));
        ASSERT_NULL(storage_bucket_root(fx.s, "missing"));
        fixture_teardown(&fx);
}

TEST(resolve_plain_key) {
        Fixture fx;
        TaskFailure f = TASK_FAILURE_NULL;
        char *path = NULL, *expect = NULL, *real_root;

        fixture_setup(&fx);
        real_root = realpath(fx.root, NULL);
        ASSERT_INT_EQ(storage_resolve(fx.s, "photos", "raw/cat.jpg", &path, &f), 0);
        ASSERT_TRUE(asprintf(&expect, "%s/raw/cat.jpg", real_root) > 0);
        ASSERT_STR_EQ(path, expect);
        free(path);
        free(expect);
        /* Need not exist (for writes). */
        ASSERT_INT_EQ(storage_resolve(fx.s, "photos", "new/dir/x.png", &path, &f), 0);
        ASSERT_TRUE(asprintf(&expect, "%s/new/dir/x.png", real_root) > 0);
        ASSERT_STR_EQ(path, expect);
        ASSERT_NULL(f.error);
        free(path);
        free(expect);
        free(real_root);
        fixture_teardown(&fx);
}

TEST(resolve_refuses_bad_keys) {
        Fixture fx;
        static const char *bad[] = {
                "../x",
                "/etc/passwd",
                "a/../../x",
                "..",
                ".",
                "./a",
                "a/.",
                "a//b",
                "a/",
                "",
                "raw/../../outside/secret",
        };
        char longkey[STORAGE_KEY_MAX + 2];

        fixture_setup(&fx);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                expect_failure(fx.s, "photos", bad[i], strlen(bad[i]), "Storage.InvalidKey");
        /* A NUL byte hidden inside the key (JSON strings can carry one). */
        expect_failure(fx.s, "photos", "raw/cat.jpg\0../../x", 19, "Storage.InvalidKey");
        memset(longkey, 'a', sizeof(longkey) - 1);
        longkey[sizeof(longkey) - 1] = '\0';
        expect_failure(fx.s, "photos", longkey, strlen(longkey), "Storage.InvalidKey");
        expect_failure(fx.s, "nosuchbucket", "raw/cat.jpg", 11, "Storage.NotFound");
        expect_failure(fx.s, NULL, "raw/cat.jpg", 11, "Storage.NotFound");
        fixture_teardown(&fx);
}

TEST(resolve_refuses_symlink_escapes) {
        Fixture fx;
        char link[256], target[256];
        TaskFailure f = TASK_FAILURE_NULL;
        char *path = NULL;

        fixture_setup(&fx);
        /* A directory symlink leading out of the root. */
        snprintf(link, sizeof(link), "%s/out", fx.root);
        ASSERT_INT_EQ(symlink(fx.outside, link), 0);
        expect_failure(fx.s, "photos", "out/secret", 10, "Storage.AccessDenied");
        expect_failure(fx.s, "photos", "out/newfile", 11, "Storage.AccessDenied");
        /* A file symlink to an absolute path outside. */
        snprintf(link, sizeof(link), "%s/passwd", fx.root);
        ASSERT_INT_EQ(symlink("/etc/passwd", link), 0);
        expect_failure(fx.s, "photos", "passwd", 6, "Storage.AccessDenied");
        /* A relative symlink climbing out. */
        snprintf(link, sizeof(link), "%s/raw/up", fx.root);
        ASSERT_INT_EQ(symlink("../../outside/secret", link), 0);
        expect_failure(fx.s, "photos", "raw/up", 6, "Storage.AccessDenied");
        /* A dangling symlink (a write would follow it). */
        snprintf(link, sizeof(link), "%s/dangling", fx.root);
        snprintf(target, sizeof(target), "%s/not-yet", fx.outside);
        ASSERT_INT_EQ(symlink(target, link), 0);
        expect_failure(fx.s, "photos", "dangling", 8, "Storage.AccessDenied");
        /* A symlink inside the root is fine and resolves canonically. */
        snprintf(link, sizeof(link), "%s/alias", fx.root);
        ASSERT_INT_EQ(symlink("raw", link), 0);
        ASSERT_INT_EQ(storage_resolve(fx.s, "photos", "alias/cat.jpg", &path, &f), 0);
        ASSERT_TRUE(strstr(path, "/root/raw/cat.jpg") != NULL);
        free(path);
        fixture_teardown(&fx);
}

TEST(read_object) {
        Fixture fx;
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size = 0;

        fixture_setup(&fx);
        ASSERT_INT_EQ(storage_read(fx.s, "photos", "raw/cat.jpg", 1024, &data, &size, &f), 0);
        ASSERT_INT_EQ(size, 4);
        ASSERT_STR_EQ((char *) data, "meow");
        free(data);
        data = NULL;

        ASSERT_INT_EQ(storage_read(fx.s, "photos", "raw/dog.jpg", 1024, &data, &size, &f), -ENOENT);
        ASSERT_STR_EQ(f.error, "Storage.NotFound");
        ASSERT_INT_EQ(storage_read(fx.s, "photos", "raw/cat.jpg", 3, &data, &size, &f), -EFBIG);
        ASSERT_STR_EQ(f.error, "Storage.TooLarge");
        ASSERT_INT_EQ(storage_read(fx.s, "photos", "raw", 1024, &data, &size, &f), -ENOENT);
        ASSERT_STR_EQ(f.error, "Storage.NotFound");
        ASSERT_TRUE(storage_read(fx.s, "photos", "../outside/secret", 1024, &data, &size, &f) < 0);
        ASSERT_STR_EQ(f.error, "Storage.InvalidKey");
        ASSERT_NULL(data);
        task_failure_clear(&f);
        fixture_teardown(&fx);
}

static size_t count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

TEST(write_atomic_creates_and_overwrites) {
        Fixture fx;
        TaskFailure f = TASK_FAILURE_NULL;
        char *path = NULL, dir[256];
        void *data = NULL;
        size_t size;
        struct stat st;

        fixture_setup(&fx);
        ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", "processed/exec-1/Resize/cat.jpg", "first", 5,
                                           &path, &f),
                      0);
        ASSERT_NOT_NULL(path);
        ASSERT_INT_EQ(stat(path, &st), 0);
        ASSERT_INT_EQ(st.st_size, 5);
        ASSERT_INT_EQ(st.st_mode & 0777, 0644);
        free(path);
        /* A retry overwrites, and leaves no temporary files behind. */
        ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", "processed/exec-1/Resize/cat.jpg", "second!", 7,
                                           NULL, &f),
                      0);
        ASSERT_INT_EQ(storage_read(fx.s, "photos", "processed/exec-1/Resize/cat.jpg", 100, &data, &size, &f),
                      0);
        ASSERT_INT_EQ(size, 7);
        ASSERT_STR_EQ((char *) data, "second!");
        free(data);
        snprintf(dir, sizeof(dir), "%s/processed/exec-1/Resize", fx.root);
        ASSERT_INT_EQ(count_entries(dir), 1);
        /* Empty objects are fine. */
        ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", "empty", "", 0, NULL, &f), 0);
        ASSERT_NULL(f.error);
        fixture_teardown(&fx);
}

/* A writer killed in the middle of a write leaves nothing in the bucket: the
 * data goes to an unnamed O_TMPFILE that gets a name only once complete. */
TEST(write_atomic_killed_writer_leaves_nothing) {
        Fixture fx;
        char dir[256];
        int killed = 0;

        fixture_setup(&fx);
        snprintf(dir, sizeof(dir), "%s/processed", fx.root);
        ASSERT_INT_EQ(mkdir(dir, 0755), 0);
        {
                /* Is O_TMPFILE supported here? If not, the named fallback is expected. */
                int t = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
                if (t < 0) {
                        fprintf(stderr, "  (no O_TMPFILE on this filesystem: skipped)\n");
                        fixture_teardown(&fx);
                        return;
                }
                close(t);
        }
        for (size_t mib = 256; mib <= 1024 && !killed; mib *= 2) {
                pid_t pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0) {
                        TaskFailure f = TASK_FAILURE_NULL;
                        size_t n = mib << 20;
                        char *big = malloc(n);
                        if (!big)
                                _exit(3);
                        memset(big, 'x', n);
                        kill(getpid(), SIGSTOP); /* ready: the parent lets it go */
                        _exit(storage_write_atomic(fx.s, "photos", "processed/big.bin", big, n, NULL, &f) < 0
                                      ? 1
                                      : 0);
                }
                int status;
                ASSERT_INT_EQ(waitpid(pid, &status, WUNTRACED), pid);
                ASSERT_TRUE(WIFSTOPPED(status));
                kill(pid, SIGCONT);
                usleep(20 * 1000);
                kill(pid, SIGKILL);
                ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
                killed = WIFSIGNALED(status);
                if (!killed)
                        (void) unlink(strcat(strcpy((char[300]){}, dir), "/big.bin"));
        }
        ASSERT_TRUE(killed);
        ASSERT_INT_EQ(count_entries(dir), 0);
        fixture_teardown(&fx);
}

TEST(write_atomic_refuses_escapes) {
        Fixture fx;
        TaskFailure f = TASK_FAILURE_NULL;
        char link[256], p[256];
        void *data = NULL;
        size_t size;

        fixture_setup(&fx);
        snprintf(link, sizeof(link), "%s/out", fx.root);
        ASSERT_INT_EQ(symlink(fx.outside, link), 0);
        ASSERT_TRUE(storage_write_atomic(fx.s, "photos", "out/secret", "pwned", 5, NULL, &f) < 0);
        ASSERT_STR_EQ(f.error, "Storage.AccessDenied");
        ASSERT_TRUE(storage_write_atomic(fx.s, "photos", "../outside/secret", "pwned", 5, NULL, &f) < 0);
        ASSERT_STR_EQ(f.error, "Storage.InvalidKey");
        ASSERT_TRUE(storage_write_atomic(fx.s, "photos", "/tmp/x", "pwned", 5, NULL, &f) < 0);
        ASSERT_STR_EQ(f.error, "Storage.InvalidKey");
        /* The outside file is untouched and nothing new appeared there. */
        ASSERT_INT_EQ(storage_add_bucket(fx.s, "outside", fx.outside), 0);
        ASSERT_INT_EQ(storage_read(fx.s, "outside", "secret", 100, &data, &size, &f), 0);
        ASSERT_STR_EQ((char *) data, "secret");
        free(data);
        ASSERT_INT_EQ(count_entries(fx.outside), 1);
        /* Writing below a regular file fails cleanly. */
        ASSERT_TRUE(storage_write_atomic(fx.s, "photos", "raw/cat.jpg/x", "x", 1, NULL, &f) < 0);
        ASSERT_NOT_NULL(f.error);
        snprintf(p, sizeof(p), "%s/raw/cat.jpg", fx.root);
        ASSERT_INT_EQ(access(p, F_OK), 0);
        task_failure_clear(&f);
        fixture_teardown(&fx);
}

TEST(task_failure_values) {
        TaskFailure f = TASK_FAILURE_NULL;
        ASSERT_FALSE(task_failure_is_set(&f));
        ASSERT_INT_EQ(task_failure_set(&f, -EINVAL, "Params.Invalid", "width: %s", "bad"), -EINVAL);
        ASSERT_STR_EQ(f.error, "Params.Invalid");
        ASSERT_STR_EQ(f.cause, "width: bad");
        ASSERT_INT_EQ(task_failure_set(&f, -EIO, "Image.Invalid", NULL), -EIO);
        ASSERT_STR_EQ(f.error, "Image.Invalid");
        ASSERT_NULL(f.cause);
        ASSERT_INT_EQ(task_failure_set(NULL, -EIO, "X", "y"), -EIO);
        task_failure_clear(&f);
        ASSERT_NULL(f.error);
        task_failure_clear(NULL);
}

static void list_all(Storage *s, const char *prefix, const char *start_after, char *out, size_t n) {
        StorageList *l = NULL;
        TaskFailure f = TASK_FAILURE_NULL;
        StorageEntry e;
        int r;

        out[0] = '\0';
        ASSERT_INT_EQ(storage_list_new(s, "photos", prefix, start_after, &l, &f), 0);
        while ((r = storage_list_next(l, &e, &f)) > 0) {
                strncat(out, e.key, n - strlen(out) - 2);
                strcat(out, " ");
        }
        ASSERT_INT_EQ(r, 0);
        storage_list_free(l);
}

TEST(list_in_s3_order) {
        Fixture fx;
        TaskFailure f = TASK_FAILURE_NULL;
        char out[1024], p[256];
        const char *keys[] = {"a/c", "a-b", "a0", "a/b/z", "b", "raw/dog.jpg", "z/.hidden"};

        fixture_setup(&fx);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", keys[i], "x", 1, NULL, &f), 0);
        /* A writer's temporary file, an empty directory and a symlink are no objects. */
        snprintf(p, sizeof p, "%s/raw/.cat.jpg.tmp-abcdef", fx.root);
        write_file(p, "partial");
        snprintf(p, sizeof p, "%s/empty", fx.root);
        ASSERT_INT_EQ(mkdir(p, 0755), 0);
        snprintf(p, sizeof p, "%s/link", fx.root);
        ASSERT_INT_EQ(symlink(fx.outside, p), 0);

        /* '-' (0x2d) < '/' (0x2f) < '0' (0x30): "a-b" < "a/b/z" < "a/c" < "a0". */
        list_all(fx.s, NULL, NULL, out, sizeof out);
        ASSERT_STR_EQ(out, "a-b a/b/z a/c a0 b raw/cat.jpg raw/dog.jpg z/.hidden ");
        list_all(fx.s, "a/", NULL, out, sizeof out);
        ASSERT_STR_EQ(out, "a/b/z a/c ");
        list_all(fx.s, "a", "a/b/z", out, sizeof out);
        ASSERT_STR_EQ(out, "a/c a0 ");
        list_all(fx.s, "raw/c", NULL, out, sizeof out);
        ASSERT_STR_EQ(out, "raw/cat.jpg ");
        list_all(fx.s, NULL, "raw/cat.jpg", out, sizeof out);
        ASSERT_STR_EQ(out, "raw/dog.jpg z/.hidden ");
        list_all(fx.s, "nothing", NULL, out, sizeof out);
        ASSERT_STR_EQ(out, "");

        StorageObjectInfo info;
        ASSERT_INT_EQ(storage_head(fx.s, "photos", "raw/cat.jpg", 11, &info, &f), 0);
        ASSERT_INT_EQ(info.size, 4);
        ASSERT_TRUE(info.mtime_ms > 0);
        ASSERT_INT_EQ(storage_head(fx.s, "photos", "raw", 3, &info, &f), -ENOENT);
        ASSERT_STR_EQ(f.error, "Storage.NotFound");
        task_failure_clear(&f);
        fixture_teardown(&fx);
}

/* storage_read_range() on one object: parts, the end, past it, an empty
 * object; and a listing's LastModified (mtime_ms). test-storage-s3.c checks
 * the same over S3. */
static void expect_range(Storage *s, const char *key, uint64_t offset, size_t length, const char *want,
                         uint64_t want_total) {
        TaskFailure f = TASK_FAILURE_NULL;
        void *data = NULL;
        size_t size = 0;
        uint64_t total = 12345;

        ASSERT_INT_EQ(
                storage_read_range(s, "photos", key, strlen(key), offset, length, &data, &size, &total, &f),
                0);
        ASSERT_INT_EQ(size, strlen(want));
        ASSERT_STR_EQ((char *) data, want);
        ASSERT_INT_EQ(total, want_total);
        free(data);
}

TEST(read_range_and_listing_times) {
        Fixture fx;
        TaskFailure f = TASK_FAILURE_NULL;
        StorageList *l = NULL;
        StorageEntry e;
        void *data = NULL;
        size_t size;
        int64_t now_ms = (int64_t) time(NULL) * 1000;

        fixture_setup(&fx);
        ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", "m/ten.txt", "0123456789", 10, NULL, &f), 0);
        ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", "m/empty", "", 0, NULL, &f), 0);
        expect_range(fx.s, "m/ten.txt", 0, 4, "0123", 10);
        expect_range(fx.s, "m/ten.txt", 4, 4, "4567", 10);
        expect_range(fx.s, "m/ten.txt", 8, 4, "89", 10);
        expect_range(fx.s, "m/ten.txt", 10, 4, "", 10);
        expect_range(fx.s, "m/ten.txt", 1000, 4, "", 10);
        expect_range(fx.s, "m/empty", 0, 4, "", 0);
        ASSERT_INT_EQ(storage_read_range(fx.s, "photos", "m/none", 6, 0, 4, &data, &size, NULL, &f),
                      -ENOENT);
        ASSERT_STR_EQ(f.error, "Storage.NotFound");
        task_failure_clear(&f);
        ASSERT_INT_EQ(storage_read_range(fx.s, "photos", "../x", 4, 0, 4, &data, &size, NULL, &f), -EINVAL);
        ASSERT_STR_EQ(f.error, "Storage.InvalidKey");
        task_failure_clear(&f);

        ASSERT_INT_EQ(storage_list_new(fx.s, "photos", "m/", NULL, &l, &f), 0);
        ASSERT_INT_EQ(storage_list_next(l, &e, &f), 1);
        ASSERT_STR_EQ(e.key, "m/empty");
        ASSERT_TRUE(e.mtime_ms > now_ms - 60000 && e.mtime_ms < now_ms + 60000);
        storage_list_free(l);
        fixture_teardown(&fx);
}

TEST(key_limit_is_s3s) {
        Fixture fx;
        TaskFailure f = TASK_FAILURE_NULL;
        char key[STORAGE_KEY_MAX + 2];

        fixture_setup(&fx);
        memset(key, 'k', sizeof key);
        for (size_t i = 200; i < sizeof key; i += 201)
                key[i] = '/';
        key[STORAGE_KEY_MAX] = '\0';
        ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", key, "x", 1, NULL, &f), 0);
        key[STORAGE_KEY_MAX] = 'k';
        key[STORAGE_KEY_MAX + 1] = '\0';
        ASSERT_INT_EQ(storage_write_atomic(fx.s, "photos", key, "x", 1, NULL, &f), -EINVAL);
        ASSERT_STR_EQ(f.error, "Storage.InvalidKey");
        ASSERT_NOT_NULL(strstr(f.cause, "1024"));
        task_failure_clear(&f);
        fixture_teardown(&fx);
}
