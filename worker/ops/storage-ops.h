/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * storage.list: one page of a bucket listing, for a distributed Map's
 * ItemReader (arn:aws:states:::s3:listObjectsV2). The coordinator never
 * lists a bucket itself: its event loop must not block on storage, and the
 * workers already hold the buckets' credentials and run storage calls on
 * their pool threads. The engine asks for one page at a time, so neither
 * side ever holds more than a page of a listing of any size.
 *
 * Parameters: bucket (required), prefix, startAfter (list the keys after
 * this one: where the previous page ended), maxKeys (1..1000, default
 * 1000). The page also stops before its JSON would pass 192 KiB, so it
 * always fits a task result.
 *
 * Result: {"Items": [{"Key", "Size", "Etag", "LastModified", "StorageClass"}
 * ...], "More": bool}: the items as Step Functions gives a listObjectsV2
 * reader's items (Etag as S3 quotes it, LastModified in seconds since the
 * epoch, StorageClass "STANDARD"), More true when keys remain after the
 * last one.
 * Failures: the Storage.* failures of storage.h.
 */

#include "image-ops.h"

#define STORAGE_LIST_MAX_KEYS 1000
#define STORAGE_LIST_MAX_BYTES (192 * 1024)

extern const ParamSpec storage_ops_list_params[];

int storage_ops_list(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);

/*
 * storage.put: write one object whole (storage_write_atomic(): readers see
 * the old or the new object, a retried write overwrites), for a distributed
 * Map's ResultWriter (arn:aws:states:::s3:putObject): the engine writes the
 * result files and the manifest through it, so the coordinator never blocks
 * on storage. Parameters: bucket, key, body (a string of at most 256 KiB,
 * written as it is). Result: {"Key", "Size"}.
 */
#define STORAGE_PUT_MAX_BYTES (256 * 1024)

extern const ParamSpec storage_ops_put_params[];

int storage_ops_put(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
