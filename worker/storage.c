/* SPDX-License-Identifier: MIT */

/*
 * Storage: the bucket table, the key rules every bucket shares, and the
 * dispatch to the two backends (storage-dir.c, storage-s3.c). See storage.h.
 *
 * Key rules: every bucket refuses an empty key, a key over 1,024 bytes (S3's
 * limit, so an object name that works in a directory bucket works in S3 too)
 * and a NUL byte; a directory bucket adds the path rules of
 * storage_check_key(). An S3 key may hold any other byte, "a//b" and "../x"
 * included: S3 gives them no meaning.
 */

#include "storage.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "macro.h"
#include "storage-backend.h"

struct Storage {
        StorageBucket *buckets;
        size_t n_buckets;
};

struct StorageList {
        StorageKind kind;
        StorageDirWalk *walk; /* directory */

        /* S3: the current page, and where the next one starts. */
        StorageBucket *b;
        char *prefix, *start_after, *token;
        S3XmlEntry *page;
        size_t n, next;
        bool more;
        bool started;
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
                free(s->buckets[i].remote);
                s3_client_free(s->buckets[i].s3);
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

static StorageBucket *storage_find(const Storage *s, const char *bucket) {
        if (!s || !bucket)
                return NULL;
        for (size_t i = 0; i < s->n_buckets; i++)
                if (streq_ptr(s->buckets[i].name, bucket))
                        return &s->buckets[i];
        return NULL;
}

bool storage_has_bucket(const Storage *s, const char *bucket) {
        return storage_find(s, bucket) != NULL;
}

StorageKind storage_bucket_kind(const Storage *s, const char *bucket) {
        StorageBucket *b = storage_find(s, bucket);
        return b ? b->kind : STORAGE_DIRECTORY;
}

const char *storage_bucket_root(const Storage *s, const char *bucket) {
        const StorageBucket *b = storage_find(s, bucket);
        return b && b->kind == STORAGE_DIRECTORY ? b->root : NULL;
}

static int bucket_append(Storage *s, StorageBucket *nb) {
        StorageBucket *n = realloc(s->buckets, (s->n_buckets + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        s->buckets = n;
        s->buckets[s->n_buckets++] = *nb;
        return 0;
}

int storage_add_bucket(Storage *s, const char *name, const char *root) {
        _cleanup_free_ char *real = NULL, *name_copy = NULL;
        struct stat st;
        int r;

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
        r = bucket_append(s, &(StorageBucket){.name = name_copy, .kind = STORAGE_DIRECTORY, .root = real});
        if (r < 0)
                return r;
        name_copy = real = NULL;
        return 0;
}

int storage_add_s3_bucket(Storage *s, const char *name, const char *remote, const StorageS3Options *o,
                          char **ret_error) {
        _cleanup_free_ char *name_copy = NULL, *remote_copy = NULL;
        S3Client *c = NULL;
        int r;

        if (!s || !o || !bucket_name_valid(name))
                return -EINVAL;
        if (!remote)
                remote = name;
        /* S3's bucket names are 3..63 of [a-z0-9.-]; services that allow
         * more (upper case, '_') exist, so only what a URL needs is checked. */
        if (!bucket_name_valid(remote)) {
                if (ret_error && asprintf(ret_error, "bad S3 bucket name \"%s\"", remote) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        if (storage_find(s, name))
                return -EEXIST;
        if (s->n_buckets >= STORAGE_MAX_BUCKETS)
                return -E2BIG;
        name_copy = strdup(name);
        remote_copy = strdup(remote);
        if (!name_copy || !remote_copy)
                return -ENOMEM;
        r = s3_client_new(o, &c, ret_error);
        if (r < 0)
                return r;
        r = bucket_append(
                s, &(StorageBucket){.name = name_copy, .kind = STORAGE_S3, .s3 = c, .remote = remote_copy});
        if (r < 0) {
                s3_client_free(c);
                return r;
        }
        name_copy = remote_copy = NULL;
        return 0;
}

/* The rules of every bucket. */
static int check_key_common(const char *key, size_t key_len, TaskFailure *f) {
        if (!key || key_len == 0)
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey", "key is empty");
        if (key_len > STORAGE_KEY_MAX)
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey", "key is longer than %d bytes",
                                        STORAGE_KEY_MAX);
        if (memchr(key, '\0', key_len))
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey", "key contains a NUL byte");
        return 0;
}

int storage_check_key(const char *key, size_t key_len, TaskFailure *f) {
        const char *p, *end;
        int r;

        r = check_key_common(key, key_len, f);
        if (r < 0)
                return r;
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

/* The bucket, or Storage.NotFound. */
static int bucket_get(Storage *s, const char *bucket, StorageBucket **ret, TaskFailure *f) {
        StorageBucket *b = storage_find(s, bucket);
        if (!b)
                return task_failure_set(f, -ENOENT, "Storage.NotFound", "no such bucket: %s",
                                        bucket ? bucket : "(null)");
        *ret = b;
        return 0;
}

/* The bucket of an object operation; for an S3 bucket the key is checked
 * here (a directory bucket checks it as it resolves it). */
static int bucket_for_key(Storage *s, const char *bucket, const char *key, size_t key_len,
                          StorageBucket **ret, TaskFailure *f) {
        int r = bucket_get(s, bucket, ret, f);
        if (r < 0 || (*ret)->kind == STORAGE_DIRECTORY)
                return r;
        return check_key_common(key, key_len, f);
}

int storage_resolve_n(Storage *s, const char *bucket, const char *key, size_t key_len, char **ret_path,
                      TaskFailure *f) {
        StorageBucket *b = NULL;
        int r;

        if (!s || !ret_path)
                return -EINVAL;
        r = bucket_get(s, bucket, &b, f);
        if (r < 0)
                return r;
        if (b->kind != STORAGE_DIRECTORY)
                return task_failure_set(f, -EOPNOTSUPP, "Storage.IOError",
                                        "%s is an S3 bucket, not a directory", bucket);
        return storage_dir_resolve(b, key, key_len, ret_path, f);
}

int storage_resolve(Storage *s, const char *bucket, const char *key, char **ret_path, TaskFailure *f) {
        return storage_resolve_n(s, bucket, key, key ? strlen(key) : 0, ret_path, f);
}

int storage_head(Storage *s, const char *bucket, const char *key, size_t key_len, StorageObjectInfo *ret,
                 TaskFailure *f) {
        StorageBucket *b = NULL;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = bucket_for_key(s, bucket, key, key_len, &b, f);
        if (r < 0)
                return r;
        if (b->kind == STORAGE_DIRECTORY)
                return storage_dir_head(b, key, key_len, ret, f);
        return s3_head(b->s3, b->remote, key, key_len, ret, f);
}

int storage_fetch(Storage *s, const char *bucket, const char *key, size_t key_len, uint64_t max_size,
                  StorageObject *ret, TaskFailure *f) {
        StorageBucket *b = NULL;
        void *data = NULL;
        size_t size = 0;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = bucket_for_key(s, bucket, key, key_len, &b, f);
        if (r < 0)
                return r;
        if (b->kind == STORAGE_DIRECTORY)
                return storage_dir_fetch(b, key, key_len, max_size, ret, f);
        r = s3_get(b->s3, b->remote, key, key_len, max_size, &data, &size, f);
        if (r < 0)
                return r;
        *ret = (StorageObject){.data = data, .size = size};
        return 0;
}

void storage_object_done(StorageObject *o) {
        if (!o)
                return;
        free(o->path);
        free(o->data);
        *o = (StorageObject){};
}

int storage_read(Storage *s, const char *bucket, const char *key, size_t max_size, void **ret_data,
                 size_t *ret_size, TaskFailure *f) {
        StorageBucket *b = NULL;
        int r;

        if (!s || !ret_data || !ret_size)
                return -EINVAL;
        r = bucket_for_key(s, bucket, key, key ? strlen(key) : 0, &b, f);
        if (r < 0)
                return r;
        if (b->kind == STORAGE_DIRECTORY)
                return storage_dir_read(b, key, max_size, ret_data, ret_size, f);
        return s3_get(b->s3, b->remote, key, strlen(key), max_size, ret_data, ret_size, f);
}

int storage_read_range(Storage *s, const char *bucket, const char *key, size_t key_len, uint64_t offset,
                       size_t length, void **ret_data, size_t *ret_size, uint64_t *ret_object_size,
                       TaskFailure *f) {
        StorageBucket *b = NULL;
        int r;

        if (!s || !ret_data || !ret_size || length == 0)
                return -EINVAL;
        r = bucket_for_key(s, bucket, key, key_len, &b, f);
        if (r < 0)
                return r;
        if (b->kind == STORAGE_DIRECTORY)
                return storage_dir_read_range(b, key, key_len, offset, length, ret_data, ret_size,
                                              ret_object_size, f);
        return s3_get_range(b->s3, b->remote, key, key_len, offset, length, ret_data, ret_size,
                            ret_object_size, f);
}

int storage_write_atomic(Storage *s, const char *bucket, const char *key, const void *data, size_t size,
                         char **ret_path, TaskFailure *f) {
        StorageBucket *b = NULL;
        int r;

        if (!s || (!data && size > 0))
                return -EINVAL;
        r = bucket_for_key(s, bucket, key, key ? strlen(key) : 0, &b, f);
        if (r < 0)
                return r;
        if (b->kind == STORAGE_DIRECTORY)
                return storage_dir_write(b, key, data, size, ret_path, f);
        r = s3_put(b->s3, b->remote, key, strlen(key), data, size, f);
        if (r >= 0 && ret_path)
                *ret_path = NULL;
        return r;
}

/* ---- listing ------------------------------------------------------------- */

StorageList *storage_list_free(StorageList *l) {
        if (!l)
                return NULL;
        storage_dir_walk_free(l->walk);
        free(l->prefix);
        free(l->start_after);
        free(l->token);
        s3_xml_entries_free(l->page, l->n);
        free(l);
        return NULL;
}

int storage_list_new(Storage *s, const char *bucket, const char *prefix, const char *start_after,
                     StorageList **ret, TaskFailure *f) {
        StorageList *l;
        StorageBucket *b = NULL;
        int r;

        if (!s || !ret)
                return -EINVAL;
        if ((prefix && strlen(prefix) > STORAGE_KEY_MAX) ||
            (start_after && strlen(start_after) > STORAGE_KEY_MAX))
                return task_failure_set(f, -EINVAL, "Storage.InvalidKey",
                                        "prefix or start key longer than %d bytes", STORAGE_KEY_MAX);
        r = bucket_get(s, bucket, &b, f);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->kind = b->kind;
        l->b = b;
        if (b->kind == STORAGE_DIRECTORY) {
                r = storage_dir_walk_new(b, prefix, start_after, &l->walk, f);
                if (r < 0) {
                        storage_list_free(l);
                        return r;
                }
        } else {
                l->prefix = strdup(strempty(prefix));
                l->start_after = strdup(strempty(start_after));
                if (!l->prefix || !l->start_after) {
                        storage_list_free(l);
                        return -ENOMEM;
                }
                l->more = true;
        }
        *ret = l;
        return 0;
}

/* ListObjectsV2's LastModified, "2026-12-05T01:02:03.456Z" (ISO 8601 in
 * UTC, the fraction optional), in ms since the epoch; 0 when it is not one. */
static int64_t iso8601_ms(const char *s) {
        struct tm tm = {};
        int n = 0, ms = 0;

        if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                         &tm.tm_min, &tm.tm_sec, &n) != 6)
                return 0;
        s += n;
        if (*s == '.') {
                int digits = 0;
                for (s++; *s >= '0' && *s <= '9'; s++, digits++)
                        if (digits < 3)
                                ms = ms * 10 + (*s - '0');
                for (; digits < 3; digits++)
                        ms *= 10;
        }
        if (!streq(s, "Z"))
                return 0;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm);
        return t < 0 ? 0 : (int64_t) t * 1000 + ms;
}

int storage_list_next(StorageList *l, StorageEntry *ret, TaskFailure *f) {
        if (!l || !ret)
                return -EINVAL;
        if (l->kind == STORAGE_DIRECTORY)
                return storage_dir_walk_next(l->walk, ret, f);

        while (l->next >= l->n) {
                S3Xml x = {};
                int r;

                if (!l->more)
                        return 0;
                s3_xml_entries_free(l->page, l->n);
                l->page = NULL;
                l->n = l->next = 0;
                r = s3_list_page(l->b->s3, l->b->remote, l->prefix, l->start_after, l->token,
                                 S3_XML_ENTRIES_MAX, &x, f);
                if (r < 0)
                        return r;
                l->page = s3_xml_take_entries(&x, &l->n);
                l->more = x.truncated;
                free(l->token);
                l->token = TAKE_PTR(x.next_token);
                s3_xml_done(&x);
        }
        S3XmlEntry *e = &l->page[l->next++];
        *ret = (StorageEntry){.key = e->key,
                              .size = e->size,
                              .etag = strempty(e->etag),
                              .mtime_ms = iso8601_ms(e->last_modified)};
        return 1;
}
