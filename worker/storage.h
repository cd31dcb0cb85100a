/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Storage: named buckets, addressed with the S3 event shape
 * {"bucket": "photos", "key": "raw/cat.jpg"}. A bucket is one of
 *
 *   a directory   a directory root on this host (storage-dir.c)
 *   S3            a bucket of an S3-compatible service, over HTTP(S) with
 *                 libcurl and SigV4 (storage-s3.c)
 *
 * and every function below works on both, so the worker's operations, the
 * coordinator's ItemReader and imgflow-watch use one interface. This module
 * (libimgflow_storage) links lib/, daemon/ (randomness, clocks), libcurl and
 * expat, never libvips, so the coordinator can link it.
 *
 * Keys are untrusted. Every bucket refuses (Storage.InvalidKey) an empty key,
 * one longer than STORAGE_KEY_MAX bytes (S3's limit), or one with a NUL byte.
 * A directory bucket also refuses an absolute key, an empty component ("a//b",
 * trailing "/"), a "." / ".." component or a component longer than NAME_MAX;
 * a key whose resolution leaves the bucket root through a symlink is refused
 * with Storage.AccessDenied.
 *
 * Failures are task failures (task-failure.h), by name:
 *   Storage.NotFound      no such bucket or key (S3 NoSuchKey, NoSuchBucket, 404)
 *   Storage.AccessDenied  permission or credentials (S3 AccessDenied,
 *                         SignatureDoesNotMatch, InvalidAccessKeyId,
 *                         InvalidToken, ExpiredToken, AllAccessDisabled,
 *                         AccountProblem, versitygw's XAdminUserNotFound,
 *                         401, 403), a symlink out of the root
 *   Storage.InvalidKey    see above (S3 KeyTooLongError)
 *   Storage.TooLarge      an object over the reader's byte limit (checked before
 *                         its body is read), S3 EntityTooLarge
 *   Storage.IOError       anything else: file system errors, an S3 service
 *                         still failing (5xx, SlowDown) after its retries, a
 *                         connection that cannot be made, a malformed answer
 *
 * Threads: a Storage is set up (storage_new, storage_add_*) from one thread,
 * then any function may be called from any thread at once. S3 requests block
 * the calling thread (retries sleep in it): call them from worker threads,
 * never from an event loop.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task-failure.h"

#define STORAGE_KEY_MAX 1024
#define STORAGE_BUCKET_NAME_MAX 63
#define STORAGE_MAX_BUCKETS 256
#define STORAGE_ETAG_MAX 128

typedef struct Storage Storage;

typedef enum StorageKind {
        STORAGE_DIRECTORY,
        STORAGE_S3,
} StorageKind;

/* Settings of an S3 bucket. Strings are borrowed by storage_add_s3_bucket()
 * and copied. Defaults come from storage_s3_options_init(). */
typedef struct StorageS3Options {
        const char *endpoint;      /* "http://127.0.0.1:7070"; NULL/"": https://s3.<region>.amazonaws.com */
        const char *region;        /* "us-east-1" */
        bool path_style;           /* <endpoint>/<bucket>/<key>, else <bucket>.<host>/<key> */
        const char *access_key_id; /* required */
        const char *secret_access_key; /* required */
        const char *session_token;     /* optional (temporary credentials) */
        bool verify_tls;               /* default true */
        const char *ca_file;           /* optional CA bundle */
        uint64_t multipart_threshold;  /* PutObject up to this size, multipart above (default 16 MiB) */
        uint64_t part_size;            /* multipart part size (default 8 MiB, at least 5 MiB) */
        unsigned max_attempts;         /* tries of one request (default 5) */
        uint64_t retry_base_ms;        /* first backoff cap (default 100 ms) */
        uint64_t retry_max_ms;         /* largest backoff cap (default 5 s) */
        uint64_t timeout_ms;           /* whole request (default 60 s) */
        uint64_t connect_timeout_ms;   /* connect (default 5 s) */
} StorageS3Options;

void storage_s3_options_init(StorageS3Options *o);

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

/* Map bucket `name` to the S3 bucket `remote` (NULL: the same name) of the
 * service `o` describes. Checks the settings, not the service (no request is
 * made): -EINVAL for a bad name, endpoint or missing credentials (*ret_error,
 * optional, gets a new message), else as storage_add_bucket(). */
int storage_add_s3_bucket(Storage *s, const char *name, const char *remote, const StorageS3Options *o,
                          char **ret_error);

/* Whether the bucket exists, and its kind. */
bool storage_has_bucket(const Storage *s, const char *bucket);
StorageKind storage_bucket_kind(const Storage *s, const char *bucket);

/* Canonical root of a directory bucket (borrowed, lives as long as s), or
 * NULL (no such bucket, or an S3 bucket). */
const char *storage_bucket_root(const Storage *s, const char *bucket);

/* Check a key lexically (no file system or network access) with the rules of
 * a directory bucket, the stricter set. key_len is the key's real length, so
 * that an embedded NUL (possible in JSON strings) is detected. Returns 0 or
 * -EINVAL and fills f with Storage.InvalidKey. */
int storage_check_key(const char *key, size_t key_len, TaskFailure *f);

/* Directory buckets only: resolve bucket/key to a canonical absolute path
 * under the bucket's root (*ret_path: new string, caller frees). The object
 * need not exist (for writes), but a symlink anywhere on the way that leads
 * out of the root, or a dangling symlink, is refused. An S3 bucket gives
 * -EOPNOTSUPP with Storage.IOError. */
int storage_resolve_n(Storage *s, const char *bucket, const char *key, size_t key_len, char **ret_path,
                      TaskFailure *f);
int storage_resolve(Storage *s, const char *bucket, const char *key, char **ret_path, TaskFailure *f);

/* What HeadObject tells. */
typedef struct StorageObjectInfo {
        uint64_t size;
        char etag[STORAGE_ETAG_MAX + 1]; /* without quotes; "" when unknown (directories) */
        int64_t mtime_ms;                /* 0 when unknown */
} StorageObjectInfo;

int storage_head(Storage *s, const char *bucket, const char *key, size_t key_len, StorageObjectInfo *ret,
                 TaskFailure *f);

/* An object to read: a directory bucket hands out the canonical path of the
 * file (nothing is read); an S3 bucket downloads the body into memory, into
 * one buffer of the size the answer's Content-Length announced (the limit is
 * checked from it before the body is read). Exactly one of path and data is
 * set. storage_object_done() frees it; data may be taken (set it to NULL). */
typedef struct StorageObject {
        char *path;
        void *data;
        size_t size;
} StorageObject;

int storage_fetch(Storage *s, const char *bucket, const char *key, size_t key_len, uint64_t max_size,
                  StorageObject *ret, TaskFailure *f);
void storage_object_done(StorageObject *o);

/* Read a whole object into *ret_data (new, malloc'd, NUL-terminated for
 * convenience; *ret_size excludes the NUL). Objects larger than max_size fail
 * with Storage.TooLarge (-EFBIG). */
int storage_read(Storage *s, const char *bucket, const char *key, size_t max_size, void **ret_data,
                 size_t *ret_size, TaskFailure *f);

/* Read the bytes [offset, offset + length) of an object, fewer at its end,
 * none from an offset at or past it: for readers that go through a large
 * object a part at a time and keep only their position (a distributed Map's
 * JSONL or CSV manifest). *ret_data: new, malloc'd, NUL-terminated (*ret_size
 * excludes the NUL); *ret_object_size (optional): the whole object's size.
 * S3: GetObject with a Range header (answers 206, or 416 past the end);
 * directory: pread. length is also the memory limit of the call. */
int storage_read_range(Storage *s, const char *bucket, const char *key, size_t key_len, uint64_t offset,
                       size_t length, void **ret_data, size_t *ret_size, uint64_t *ret_object_size,
                       TaskFailure *f);

/* Write an object so that readers see the old or the new one, never a part,
 * and a retried write overwrites. Directory: temporary file, fsync, rename,
 * fsync the directory (parents created, mode 0755). S3: PutObject with a
 * Content-MD5 the service checks, or a multipart upload (each part with its
 * Content-MD5) above the bucket's multipart_threshold. data is borrowed.
 * *ret_path (optional, new) receives the final path of a directory bucket,
 * NULL for S3. */
int storage_write_atomic(Storage *s, const char *bucket, const char *key, const void *data, size_t size,
                         char **ret_path, TaskFailure *f);

/* Listing, in the order of S3 (keys by their UTF-8 bytes), one page at a time:
 * ListObjectsV2 with continuation tokens for S3, a walk that holds one
 * directory's names at a time for directories (the atomic writer's temporary
 * files are skipped). Memory does not grow with the bucket. */
typedef struct StorageList StorageList;

typedef struct StorageEntry {
        const char *key; /* borrowed until the next call */
        uint64_t size;
        const char *etag; /* borrowed; "" when unknown */
        int64_t mtime_ms; /* LastModified (S3) or the file's mtime, ms since the epoch; 0 when unknown */
} StorageEntry;

/* prefix and start_after (both optional, borrowed) as in ListObjectsV2: keys
 * that start with prefix and sort after start_after. */
int storage_list_new(Storage *s, const char *bucket, const char *prefix, const char *start_after,
                     StorageList **ret, TaskFailure *f);
/* 1 with *ret filled, 0 at the end, < 0 with f filled. */
int storage_list_next(StorageList *l, StorageEntry *ret, TaskFailure *f);
StorageList *storage_list_free(StorageList *l);
static inline void storage_list_freep(StorageList **l) {
        storage_list_free(*l);
}
#define _cleanup_storage_list_ __attribute__((cleanup(storage_list_freep)))
