/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inside the storage module: the bucket table entry and the two backends'
 * functions that storage.c dispatches to. Not for use outside storage*.c.
 */

#include "s3-xml.h"
#include "storage.h"

typedef struct S3Client S3Client;

typedef struct StorageBucket {
        char *name;
        StorageKind kind;
        char *root;   /* directory: canonical, no trailing slash (except "/") */
        S3Client *s3; /* S3: owned */
        char *remote; /* S3: the service's bucket name */
} StorageBucket;

/* ---- directories (storage-dir.c) ---------------------------------------- */

int storage_dir_resolve(const StorageBucket *b, const char *key, size_t key_len, char **ret_path,
                        TaskFailure *f);
int storage_dir_head(const StorageBucket *b, const char *key, size_t key_len, StorageObjectInfo *ret,
                     TaskFailure *f);
int storage_dir_fetch(const StorageBucket *b, const char *key, size_t key_len, uint64_t max_size,
                      StorageObject *ret, TaskFailure *f);
int storage_dir_read(const StorageBucket *b, const char *key, size_t max_size, void **ret_data,
                     size_t *ret_size, TaskFailure *f);
int storage_dir_read_range(const StorageBucket *b, const char *key, size_t key_len, uint64_t offset,
                           size_t length, void **ret_data, size_t *ret_size, uint64_t *ret_object_size,
                           TaskFailure *f);
int storage_dir_write(const StorageBucket *b, const char *key, const void *data, size_t size,
                      char **ret_path, TaskFailure *f);

typedef struct StorageDirWalk StorageDirWalk;
int storage_dir_walk_new(const StorageBucket *b, const char *prefix, const char *start_after,
                         StorageDirWalk **ret, TaskFailure *f);
int storage_dir_walk_next(StorageDirWalk *w, StorageEntry *ret, TaskFailure *f);
StorageDirWalk *storage_dir_walk_free(StorageDirWalk *w);

/* ---- S3 (storage-s3.c) --------------------------------------------------- */

int s3_client_new(const StorageS3Options *o, S3Client **ret, char **ret_error);
S3Client *s3_client_free(S3Client *c);

int s3_head(S3Client *c, const char *bucket, const char *key, size_t key_len, StorageObjectInfo *ret,
            TaskFailure *f);
/* GET into one malloc'd buffer (NUL-terminated; the NUL is not counted). */
int s3_get(S3Client *c, const char *bucket, const char *key, size_t key_len, uint64_t max_size,
           void **ret_data, size_t *ret_size, TaskFailure *f);
/* GET of the bytes [offset, offset + length), see storage_read_range(). */
int s3_get_range(S3Client *c, const char *bucket, const char *key, size_t key_len, uint64_t offset,
                 size_t length, void **ret_data, size_t *ret_size, uint64_t *ret_object_size,
                 TaskFailure *f);
int s3_put(S3Client *c, const char *bucket, const char *key, size_t key_len, const void *data, size_t size,
           TaskFailure *f);
/* One ListObjectsV2 page into *x (initialised here; caller s3_xml_done()s). */
int s3_list_page(S3Client *c, const char *bucket, const char *prefix, const char *start_after,
                 const char *token, unsigned max_keys, S3Xml *x, TaskFailure *f);
