/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Storage: named buckets mapped to directory roots, addressed with the S3
 * event shape {"bucket": "photos", "key": "raw/cat.jpg"}.
 *
 * Keys are untrusted. A key is refused (Storage.InvalidKey) when it is empty,
 * longer than STORAGE_KEY_MAX, absolute, contains a NUL byte, an empty
 * component ("a//b", trailing "/"), or a "." / ".." component. A key whose
 * resolution leaves the bucket root through a symlink is refused with
 * Storage.AccessDenied. Paths handed out are canonical (symlinks resolved).
 *
 * Failures are task failures (task-failure.h): Storage.NotFound (no such
 * bucket or key), Storage.AccessDenied, Storage.InvalidKey, Storage.IOError,
 * Storage.TooLarge (storage_read over its limit).
 *
 * A Storage is read-only after setup: storage_new + storage_add_bucket from
 * one thread, then any function may be called from any thread.
 */

#include <stddef.h>

#include "task-failure.h"

#define STORAGE_KEY_MAX 1024
#define STORAGE_BUCKET_NAME_MAX 63
#define STORAGE_MAX_BUCKETS 256

typedef struct Storage Storage;

int storage_new(Storage **ret);
/* Frees everything; accepts NULL; returns NULL. */
Storage *storage_free(Storage *s);
static inline void storage_freep(Storage **s) {
        storage_free(*s);
}
#define _cleanup_storage_ __attribute__((cleanup(storage_freep)))

/* Map bucket `name` (1..63 chars of [A-Za-z0-9._-], not "." or "..") to the
 * existing directory `root` (both borrowed, copied). Returns -EINVAL for a bad
 * name, -EEXIST if the bucket exists, -ENOTDIR/-ENOENT/... if root is not a
 * usable directory, -E2BIG past STORAGE_MAX_BUCKETS. */
int storage_add_bucket(Storage *s, const char *name, const char *root);

/* Canonical root of a bucket (borrowed, lives as long as s), or NULL. */
const char *storage_bucket_root(const Storage *s, const char *bucket);

/* Check a key lexically (no file system access). key_len is the key's real
 * length, so that an embedded NUL (possible in JSON strings) is detected.
 * Returns 0 or -EINVAL and fills f with Storage.InvalidKey. */
int storage_check_key(const char *key, size_t key_len, TaskFailure *f);

/* Resolve bucket/key to a canonical absolute path under the bucket's root
 * (*ret_path: new string, caller frees). The object need not exist (for
 * writes), but a symlink anywhere on the way that leads out of the root, or
 * a dangling symlink, is refused. */
int storage_resolve_n(Storage *s, const char *bucket, const char *key, size_t key_len,
                      char **ret_path, TaskFailure *f);
int storage_resolve(Storage *s, const char *bucket, const char *key, char **ret_path, TaskFailure *f);

/* Read a whole object (regular files only) into *ret_data (new, malloc'd,
 * NUL-terminated for convenience; *ret_size excludes the NUL). Objects larger
 * than max_size fail with Storage.TooLarge (-EFBIG). */
int storage_read(Storage *s, const char *bucket, const char *key, size_t max_size,
                 void **ret_data, size_t *ret_size, TaskFailure *f);

/* Write an object atomically: create missing parent directories under the
 * root (mode 0755), write to a temporary name in the same directory, fsync,
 * rename over bucket/key, fsync the directory. A retried write overwrites.
 * data is borrowed. *ret_path (optional, new) receives the final path. */
int storage_write_atomic(Storage *s, const char *bucket, const char *key,
                         const void *data, size_t size, char **ret_path, TaskFailure *f);
