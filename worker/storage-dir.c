/* SPDX-License-Identifier: MIT */

/*
 * Directory buckets: a bucket is a directory root, keys are relative paths
 * below it.
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
 *
 * Listing walks the tree depth first, one directory's names at a time,
 * sorted so that keys come out in S3's order: a directory "a" is compared as
 * "a/" ("a-b" < "a/c" < "a0"). Symlinks are not followed, the writer's
 * temporary files (".<name>.tmp-XXXXXX") are skipped, and a directory is
 * entered only when its keys can match the prefix and follow start_after.
 */

#include <dirent.h>
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
#include "storage-backend.h"

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

int storage_dir_resolve(const StorageBucket *b, const char *key, size_t key_len, char **ret_path,
                        TaskFailure *f) {
        _cleanup_free_ char *cur = NULL;
        const char *bucket = b->name;
        const char *p, *end;
        bool exists = true;
        int r;

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
                                                                "%s/%s: dangling or looping symlink", bucket,
                                                                key);
                                if (!path_under(real, b->root))
                                        return task_failure_set(f, -EACCES, "Storage.AccessDenied",
                                                                "%s/%s: symlink leads out of the bucket",
                                                                bucket, key);
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
                return task_failure_set(f, -EACCES, "Storage.AccessDenied", "%s/%s: outside the bucket",
                                        bucket, key);

        *ret_path = TAKE_PTR(cur);
        return 0;
}

/* Reads up to length bytes from offset of a regular file; whole: the whole
 * file, and one over length bytes is Storage.TooLarge. The file's size into
 * *ret_object_size (optional). */
static int read_part(const StorageBucket *b, const char *key, size_t key_len, uint64_t offset, size_t length,
                     bool whole, void **ret_data, size_t *ret_size, uint64_t *ret_object_size,
                     TaskFailure *f) {
        const char *bucket = b->name;
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t have = 0, want = 0;
        int r;

        r = storage_dir_resolve(b, key, key_len, &path, f);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno_to_failure(f, -errno, "cannot open", bucket, key);
        if (fstat(fd, &st) < 0)
                return errno_to_failure(f, -errno, "cannot stat", bucket, key);
        if (!S_ISREG(st.st_mode))
                return task_failure_set(f, -ENOENT, "Storage.NotFound", "%s/%s: not a regular file", bucket,
                                        key);
        if (whole && (uint64_t) st.st_size > length)
                return task_failure_set(f, -EFBIG, "Storage.TooLarge", "%s/%s: %lld bytes, limit %zu",
                                        bucket, key, (long long) st.st_size, length);
        if (offset < (uint64_t) st.st_size)
                want = (size_t) MIN_((uint64_t) length, (uint64_t) st.st_size - offset);
        buf = malloc(want + 1);
        if (!buf)
                return -ENOMEM;
        while (have < want) {
                ssize_t k = pread(fd, buf + have, want - have, (off_t) (offset + have));
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
        if (ret_object_size)
                *ret_object_size = (uint64_t) st.st_size;
        return 0;
}

int storage_dir_read(const StorageBucket *b, const char *key, size_t max_size, void **ret_data,
                     size_t *ret_size, TaskFailure *f) {
        return read_part(b, key, strlen(key), 0, max_size, true, ret_data, ret_size, NULL, f);
}

int storage_dir_read_range(const StorageBucket *b, const char *key, size_t key_len, uint64_t offset,
                           size_t length, void **ret_data, size_t *ret_size, uint64_t *ret_object_size,
                           TaskFailure *f) {
        return read_part(b, key, key_len, offset, length, false, ret_data, ret_size, ret_object_size, f);
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

int storage_dir_write(const StorageBucket *b, const char *key, const void *data, size_t size,
                      char **ret_path, TaskFailure *f) {
        const char *bucket = b->name;
        _cleanup_free_ char *path = NULL, *tmp = NULL, *dir = NULL;
        _cleanup_close_ int fd = -1, dfd = -1;
        int anon = -1; /* == fd while the file is unnamed */
        const char *base;
        const char *p = data;
        size_t left = size;
        int r;

        r = storage_dir_resolve(b, key, strlen(key), &path, f);
        if (r < 0)
                return r;

        r = mkdir_parents_under(b->root, path);
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

/* The canonical path and stat of a regular file, or the failure. */
static int stat_object(const StorageBucket *b, const char *key, size_t key_len, char **ret_path,
                       struct stat *ret_st, TaskFailure *f) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = storage_dir_resolve(b, key, key_len, &path, f);
        if (r < 0)
                return r;
        if (stat(path, ret_st) < 0)
                return errno_to_failure(f, -errno, "cannot stat", b->name, key);
        if (!S_ISREG(ret_st->st_mode))
                return task_failure_set(f, -ENOENT, "Storage.NotFound", "%s/%s: not a regular file", b->name,
                                        key);
        *ret_path = TAKE_PTR(path);
        return 0;
}

int storage_dir_head(const StorageBucket *b, const char *key, size_t key_len, StorageObjectInfo *ret,
                     TaskFailure *f) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int r;

        r = stat_object(b, key, key_len, &path, &st, f);
        if (r < 0)
                return r;
        *ret = (StorageObjectInfo){
                .size = (uint64_t) st.st_size,
                .mtime_ms = (int64_t) st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000,
        };
        return 0;
}

int storage_dir_fetch(const StorageBucket *b, const char *key, size_t key_len, uint64_t max_size,
                      StorageObject *ret, TaskFailure *f) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int r;

        r = stat_object(b, key, key_len, &path, &st, f);
        if (r < 0)
                return r;
        if ((uint64_t) st.st_size > max_size)
                return task_failure_set(f, -EFBIG, "Storage.TooLarge", "%s/%s: %lld bytes, limit %llu",
                                        b->name, key, (long long) st.st_size, (unsigned long long) max_size);
        *ret = (StorageObject){.path = TAKE_PTR(path), .size = (size_t) st.st_size};
        return 0;
}

/* ---- listing ------------------------------------------------------------- */

#define WALK_DEPTH_MAX 256

typedef struct WalkName {
        char *name; /* with a trailing '/' for a directory */
        bool dir;
} WalkName;

typedef struct WalkFrame {
        char *rel; /* key prefix of this directory: "" or "a/b/" */
        WalkName *names;
        size_t n, next;
} WalkFrame;

struct StorageDirWalk {
        const StorageBucket *b;
        char *prefix, *start_after;
        WalkFrame frames[WALK_DEPTH_MAX];
        size_t depth;
        char *key; /* the last entry's key */
};

static int name_cmp(const void *a, const void *b) {
        return strcmp(((const WalkName *) a)->name, ((const WalkName *) b)->name);
}

static bool is_temp_name(const char *n) {
        /* ".<base>.tmp-XXXXXX", as storage_dir_write() names them. */
        const char *t = strstr(n, ".tmp-");
        return n[0] == '.' && t && strlen(t) == 11;
}

/* Whether keys under `rel` (a directory prefix, "a/b/") can match w's
 * prefix: one must start with the other. */
static bool dir_may_match(const StorageDirWalk *w, const char *rel) {
        size_t a = strlen(rel), p = strlen(w->prefix);
        return strncmp(rel, w->prefix, MIN_(a, p)) == 0;
}

static int frame_open(StorageDirWalk *w, const char *rel, TaskFailure *f) {
        _cleanup_free_ char *dir = NULL;
        WalkFrame *fr;
        DIR *d;
        struct dirent *de;

        if (w->depth >= WALK_DEPTH_MAX)
                return task_failure_set(f, -ELOOP, "Storage.IOError", "%s/%s: directories nested too deep",
                                        w->b->name, rel);
        if (asprintf(&dir, "%s/%s", streq(w->b->root, "/") ? "" : w->b->root, rel) < 0)
                return -ENOMEM;
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0; /* gone meanwhile: nothing under it */
                return errno_to_failure(f, -errno, "cannot list", w->b->name, rel);
        }
        fr = &w->frames[w->depth];
        *fr = (WalkFrame){.rel = strdup(rel)};
        if (!fr->rel) {
                closedir(d);
                return -ENOMEM;
        }
        w->depth++;
        while ((errno = 0, de = readdir(d))) {
                WalkName *nn;
                bool isdir;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || is_temp_name(de->d_name))
                        continue;
                if (de->d_type == DT_DIR)
                        isdir = true;
                else if (de->d_type == DT_REG)
                        isdir = false;
                else if (de->d_type == DT_UNKNOWN &&
                         fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                         (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
                        isdir = S_ISDIR(st.st_mode);
                else
                        continue; /* symlinks, devices, sockets: not objects */
                nn = realloc(fr->names, (fr->n + 1) * sizeof(*nn));
                if (!nn) {
                        closedir(d);
                        return -ENOMEM;
                }
                fr->names = nn;
                if (asprintf(&fr->names[fr->n].name, "%s%s", de->d_name, isdir ? "/" : "") < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                fr->names[fr->n++].dir = isdir;
        }
        closedir(d);
        /* An empty directory has no array at all: qsort() must not see NULL. */
        if (fr->n > 1)
                qsort(fr->names, fr->n, sizeof(*fr->names), name_cmp);
        return 0;
}

static void frame_close(WalkFrame *fr) {
        for (size_t i = 0; i < fr->n; i++)
                free(fr->names[i].name);
        free(fr->names);
        free(fr->rel);
        *fr = (WalkFrame){};
}

StorageDirWalk *storage_dir_walk_free(StorageDirWalk *w) {
        if (!w)
                return NULL;
        while (w->depth > 0)
                frame_close(&w->frames[--w->depth]);
        free(w->prefix);
        free(w->start_after);
        free(w->key);
        free(w);
        return NULL;
}

int storage_dir_walk_new(const StorageBucket *b, const char *prefix, const char *start_after,
                         StorageDirWalk **ret, TaskFailure *f) {
        StorageDirWalk *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        w->b = b;
        w->prefix = strdup(strempty(prefix));
        w->start_after = strdup(strempty(start_after));
        if (!w->prefix || !w->start_after) {
                storage_dir_walk_free(w);
                return -ENOMEM;
        }
        r = frame_open(w, "", f);
        if (r < 0) {
                storage_dir_walk_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

int storage_dir_walk_next(StorageDirWalk *w, StorageEntry *ret, TaskFailure *f) {
        while (w->depth > 0) {
                WalkFrame *fr = &w->frames[w->depth - 1];
                _cleanup_free_ char *key = NULL;
                WalkName *nm;
                int r;

                if (fr->next >= fr->n) {
                        frame_close(fr);
                        w->depth--;
                        continue;
                }
                nm = &fr->names[fr->next++];
                if (asprintf(&key, "%s%s", fr->rel, nm->name) < 0)
                        return -ENOMEM;
                if (nm->dir) {
                        /* Every key below starts with "key"; skip the
                         * directory when none can follow start_after or
                         * match the prefix. */
                        size_t kl = strlen(key);
                        if (!dir_may_match(w, key))
                                continue;
                        if (w->start_after[0] && strncmp(key, w->start_after, kl) < 0 &&
                            strncmp(key, w->start_after, MIN_(kl, strlen(w->start_after))) != 0)
                                continue;
                        if (strlen(key) > STORAGE_KEY_MAX)
                                continue;
                        r = frame_open(w, key, f);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (strncmp(key, w->prefix, strlen(w->prefix)) != 0)
                        continue;
                if (w->start_after[0] && strcmp(key, w->start_after) <= 0)
                        continue;
                if (strlen(key) > STORAGE_KEY_MAX)
                        continue;

                struct stat st;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", streq(w->b->root, "/") ? "" : w->b->root, key) < 0)
                        return -ENOMEM;
                if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue; /* gone or replaced meanwhile */
                free(w->key);
                w->key = TAKE_PTR(key);
                *ret = (StorageEntry){.key = w->key,
                                      .size = (uint64_t) st.st_size,
                                      .etag = "",
                                      .mtime_ms = (int64_t) st.st_mtim.tv_sec * 1000 +
                                                  st.st_mtim.tv_nsec / 1000000};
                return 1;
        }
        return 0;
}
