/* SPDX-License-Identifier: MIT */

/*
 * Storage: buckets are directory roots, keys are relative paths below them.
 *
 * Resolution is done in two steps. First the key is checked lexically (no
 * "..", no absolute keys, no empty components, no NUL), which already keeps
 * a plain path inside the root. Then the path is walked one component at a
 * time from the canonical root with lstat(): a component that is a symlink is
 * canonicalised with realpath() and must still lie under the root; a dangling
 * symlink is refused (a write through it would land wherever it points). The
 * first component that does not exist ends the walk: nothing below it can be
 * a symlink. The result is a canonical path, so later opens do not follow
 * links the check did not see (short of a concurrent rename race inside the
 * root, which only the bucket's owner can cause).
 *
 * Writes go to a temporary file in the target directory, are fsync'ed and
 * renamed into place, so readers see the old or the new object, never a
 * partial one, and a retried task overwrites its own output.
 */

#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "random.h"

typedef struct StorageBucket {
        char *name;
        char *root; /* canonical, no trailing slash (except "/") */
} StorageBucket;

struct Storage {
        StorageBucket *buckets;
        size_t n_buckets;
};

int storage_new(Storage **ret) {
        Storage *s;

        if (!ret)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

Storage *storage_free(Storage *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_buckets; i++) {
                free(s->buckets[i].name);
                free(s->buckets[i].root);
        }
        free(s->buckets);
        free(s);
        return NULL;
}

static bool bucket_name_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n > STORAGE_BUCKET_NAME_MAX || streq_ptr(name, ".") || streq_ptr(name, ".."))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static const StorageBucket *storage_find(const Storage *s, const char *bucket) {
        if (!s || !bucket)
                return NULL;
        for (size_t i = 0; i < s->n_buckets; i++)
                if (streq_ptr(s->buckets[i].name, bucket))
                        return &s->buckets[i];
        return NULL;
}

const char *storage_bucket_root(const Storage *s, const char *bucket) {
        const StorageBucket *b = storage_find(s, bucket);
        return b ? b->root : NULL;
}

int storage_add_bucket(Storage *s, const char *name, const char *root) {
        _cleanup_free_ char *real = NULL, *name_copy = NULL;
        StorageBucket *nb;
        struct stat st;

        if (!s || !root || !bucket_name_valid(name))
                return -EINVAL;
        if (storage_find(s, name))
                return -EEXIST;
        if (s->n_buckets >= STORAGE_MAX_BUCKETS)
                return -E2BIG;
        real = realpath(root, NULL);
        if (!real)
                return -errno;
        if (stat(real, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        name_copy = strdup(name);
        if (!name_copy)
                return -ENOMEM;
        nb = realloc(s->buckets, (s->n_buckets + 1) * sizeof(*nb));
        if (!nb)
                return -ENOMEM;
        s->buckets = nb;
        s->buckets[s->n_buckets++] = (StorageBucket) {
                .name = TAKE_PTR(name_copy),
                .root = TAKE_PTR(real),
        };
        return 0;
}

int storage_check_key(const char *key, size_t key_len, TaskFailure *f) {
        const char *p, *end;

        if (!key || key_len == 0)
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey", "key is empty");
        if (key_len > STORAGE_KEY_MAX)
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey",
                                        "key is longer than %d bytes", STORAGE_KEY_MAX);
        if (memchr(key, '\0', key_len))
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey", "key contains a NUL byte");
        if (key[0] == '/')
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey", "key is absolute");

        p = key;
        end = key + key_len;
        while (p <= end) {
                const char *slash = memchr(p, '/', (size_t) (end - p));
                size_t n = (slash ? slash : end) - p;

                if (n == 0)
                        return task_failure_set(f, -EINVAL, "Storage.InvalidKey",
                                                "key has an empty path component");
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return task_failure_set(f, -EINVAL, "Storage.InvalidKey",
                                                "key has a '.' or '..' component");
                if (n > NAME_MAX)
                        return task_failure_set(f, -EINVAL, "Storage.InvalidKey",
                                                "key component longer than %d bytes", NAME_MAX);
                if (!slash)
                        break;
                p = slash + 1;
        }
        return 0;
}

static bool path_under(const char *path, const char *root) {
        size_t n = strlen(root);

        if (n == 1 && root[0] == '/')
                return path[0] == '/';
        return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int errno_to_failure(TaskFailure *f, int r, const char *what, const char *bucket, const char *key) {
        const char *name;

        switch (-r) {
        case ENOENT:
        case ENOTDIR:
                name = "Storage.NotFound";
                break;
        case EACCES:
        case EPERM:
        case ELOOP:
                name = "Storage.AccessDenied";
                break;
        case ENAMETOOLONG:
                name = "Storage.InvalidKey";
                break;
        default:
                name = "Storage.IOError";
        }
        return task_failure_set(f, r, name, "%s %s/%s: %s", what, bucket, key, strerror(-r));
}

int storage_resolve_n(Storage *s, const char *bucket, const char *key, size_t key_len,
                      char **ret_path, TaskFailure *f) {
        _cleanup_free_ char *cur = NULL;
        const StorageBucket *b;
        const char *p, *end;
        bool exists = true;
        int r;

        if (!s || !ret_path)
                return -EINVAL;
        b = storage_find(s, bucket);
        if (!b)
                return task_failure_set(f, -ENOENT, "Storage.NotFound", "no such bucket: %s",
                                        bucket ? bucket : "(null)");
        r = storage_check_key(key, key_len, f);
        if (r < 0)
                return r;

        cur = strdup(b->root);
        if (!cur)
                return -ENOMEM;

        p = key;
        end = key + key_len;
        for (;;) {
                const char *slash = memchr(p, '/', (size_t) (end - p));
                size_t n = (slash ? slash : end) - p;
                _cleanup_free_ char *next = NULL;
                struct stat st;

                if (asprintf(&next, "%s%s%.*s", cur, streq_ptr(cur, "/") ? "" : "/", (int) n, p) < 0)
                        return -ENOMEM;

                if (exists) {
                        if (lstat(next, &st) < 0) {
                                if (errno != ENOENT && errno != ENOTDIR)
                                        return errno_to_failure(f, -errno, "cannot resolve", bucket, key);
                                exists = false;
                        } else if (S_ISLNK(st.st_mode)) {
                                _cleanup_free_ char *real = realpath(next, NULL);
                                if (!real)
                                        return task_failure_set(f, -EACCES, "Storage.AccessDenied",
                                                                "%s/%s: dangling or looping symlink", bucket, key);
                                if (!path_under(real, b->root))
                                        return task_failure_set(f, -EACCES, "Storage.AccessDenied",
                                                                "%s/%s: symlink leads out of the bucket", bucket, key);
                                free(next);
                                next = TAKE_PTR(real);
                        }
                }
                free(cur);
                cur = TAKE_PTR(next);
                if (!slash)
                        break;
                p = slash + 1;
        }

        /* Defence in depth: the lexical check and the walk guarantee this. */
        if (!path_under(cur, b->root))
                return task_failure_set(f, -EACCES, "Storage.AccessDenied", "%s/%s: outside the bucket", bucket, key);

        *ret_path = TAKE_PTR(cur);
        return 0;
}

int storage_resolve(Storage *s, const char *bucket, const char *key, char **ret_path, TaskFailure *f) {
        return storage_resolve_n(s, bucket, key, key ? strlen(key) : 0, ret_path, f);
}

int storage_read(Storage *s, const char *bucket, const char *key, size_t max_size,
                 void **ret_data, size_t *ret_size, TaskFailure *f) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t have = 0;
        int r;

        if (!ret_data || !ret_size)
                return -EINVAL;
        r = storage_resolve(s, bucket, key, &path, f);
        if (r < 0)
                return r;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno_to_failure(f, -errno, "cannot open", bucket, key);
        if (fstat(fd, &st) < 0)
                return errno_to_failure(f, -errno, "cannot stat", bucket, key);
        if (!S_ISREG(st.st_mode))
                return task_failure_set(f, -ENOENT, "Storage.NotFound", "%s/%s: not a regular file", bucket, key);
        if ((uint64_t) st.st_size > max_size)
                return task_failure_set(f, -EFBIG, "Storage.TooLarge", "%s/%s: %lld bytes, limit %zu",
                                        bucket, key, (long long) st.st_size, max_size);

        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (have < (size_t) st.st_size) {
                ssize_t k = read(fd, buf + have, (size_t) st.st_size - have);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno_to_failure(f, -errno, "cannot read", bucket, key);
                }
                if (k == 0)
                        break; /* shrank meanwhile: return what is there */
                have += (size_t) k;
        }
        buf[have] = '\0';
        *ret_data = TAKE_PTR(buf);
        *ret_size = have;
        return 0;
}

/* mkdir -p for the directories between root and the parent of path. path is
 * canonical and under root (storage_resolve_n), so existing components are
 * real directories and new ones are created below the root only. */
static int mkdir_parents_under(const char *root, const char *path) {
        _cleanup_free_ char *buf = strdup(path);
        size_t rootlen = strlen(root);
        char *p;

        if (!buf)
                return -ENOMEM;
        p = buf + (rootlen == 1 ? 1 : rootlen + 1);
        for (;;) {
                char *slash = strchr(p, '/');
                if (!slash)
                        return 0;
                *slash = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
                p = slash + 1;
        }
}

int storage_write_atomic(Storage *s, const char *bucket, const char *key,
                         const void *data, size_t size, char **ret_path, TaskFailure *f) {
        _cleanup_free_ char *path = NULL, *tmp = NULL, *dir = NULL;
        _cleanup_close_ int fd = -1, dfd = -1;
        int anon = -1;          /* == fd while the file is unnamed */
        const char *base;
        const char *p = data;
        size_t left = size;
        int r;

        if (!data && size > 0)
                return -EINVAL;
        r = storage_resolve(s, bucket, key, &path, f);
        if (r < 0)
                return r;

        r = mkdir_parents_under(storage_bucket_root(s, bucket), path);
        if (r < 0)
                return errno_to_failure(f, r, "cannot create directories for", bucket, key);

        base = strrchr(path, '/');
        dir = strndup(path, (size_t) (base - path));
        if (!dir)
                return -ENOMEM;
        base++;
        /* Keep the temporary name within NAME_MAX. */
        if (asprintf(&tmp, "%s/.%.200s.tmp-XXXXXX", dir[0] ? dir : "", base) < 0)
                return -ENOMEM;

        /* Write into an unnamed O_TMPFILE where the filesystem has it: a
         * worker killed while writing then leaves nothing behind. The file
         * gets its temporary name only after fsync, just before the rename.
         * Elsewhere, fall back to a named temporary file. */
        anon = open(dir[0] ? dir : "/", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (anon >= 0)
                fd = anon;
        else {
                fd = mkostemp(tmp, O_CLOEXEC);
                if (fd < 0)
                        return errno_to_failure(f, -errno, "cannot create temporary file for", bucket, key);
                if (fchmod(fd, 0644) < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        while (left > 0) {
                ssize_t k = write(fd, p, left);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                p += k;
                left -= (size_t) k;
        }
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (anon >= 0) {
                char proc[64];

                /* Give it the temporary name now (linkat() cannot replace an
                 * existing key; rename() below does, atomically). */
                snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
                for (unsigned i = 0;; i++) {
                        static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
                        unsigned char rnd[6];

                        if (random_bytes(rnd, sizeof rnd) < 0) {
                                r = -EIO;
                                goto fail;
                        }
                        for (size_t k = 0; k < sizeof rnd; k++)
                                tmp[strlen(tmp) - 6 + k] = digits[rnd[k] % 36];
                        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) >= 0)
                                break;
                        if (errno != EEXIST || i >= 16) {
                                r = -errno;
                                goto fail;
                        }
                }
                anon = -1;
        }
        if (close(TAKE_FD(fd)) < 0) {
                r = -errno;
                goto fail;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);

        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;

fail:
        if (anon < 0)
                (void) unlink(tmp);
        return errno_to_failure(f, r, "cannot write", bucket, key);
}
