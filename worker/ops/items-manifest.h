/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * ItemReader InputType MANIFEST (ManifestType S3_INVENTORY): an S3 Inventory
 * manifest.json lists the inventory's data files (files[].key), CSV
 * compressed with gzip, whose columns its fileSchema names ("Bucket, Key,
 * Size, LastModifiedDate, ..."). Each row of each file, in the manifest's
 * order, is an item: an object of strings keyed by the schema's names
 * ({"Bucket": "photos", "Key": "raw/cat.jpg", "Size": "2048", ...}), as
 * Step Functions gives it. The data files have no header row; their
 * fields follow the CSV rules of items-parse.c.
 *
 * No I/O here: objects are read through an ItemsReadFn, so that the reader
 * is unit-tested and fuzzed alone (tests/fuzz/fuzz-items.c); storage.items
 * (storage-items.h) passes storage_read_range().
 *
 * A page starts at (file, offset): the data file's index in files[] and the
 * byte of its uncompressed text. A gzip stream cannot be entered in the
 * middle without the 32 KiB of text before that point, so a page inflates
 * its file from the start and drops the text before offset (zlib, 64 KiB of
 * compressed data and of text at a time): memory stays bounded whatever the
 * file's size, and the CPU a page costs grows with its place in the file.
 * The gzip trailers' CRC-32 and length are checked; concatenated gzip
 * members are read as one stream, as gzip(1) reads them.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task-failure.h"

#define MANIFEST_MAX_BYTES (1024 * 1024) /* manifest.json */
#define MANIFEST_MAX_FILES 20000         /* its files[] */
#define MANIFEST_CHUNK (64 * 1024)

/* Read up to length bytes of object key from offset: *ret_data (new, may
 * be NULL when *ret_n is 0), *ret_n, and the object's size *ret_size. 0, or
 * < 0 with f filled. */
typedef int (*ItemsReadFn)(void *userdata, const char *key, uint64_t offset, size_t length, void **ret_data,
                           size_t *ret_n, uint64_t *ret_size, TaskFailure *f);

/* The manifest buf[0, n): *ret_schema (new: the column names, an array of
 * strings, one of them "Key") and *ret_files (new: the data files' keys,
 * an array of strings). 0, or < 0 with f filled (Storage.InvalidContent
 * naming what is wrong: not JSON, no fileSchema, no Key column, a
 * fileFormat other than CSV, a file without a key). */
int manifest_parse(const char *buf, size_t n, json_t **ret_schema, json_t **ret_files, TaskFailure *f);

/* The items of data file key from byte offset of its text, appended to
 * items (borrowed) until max_items or STORAGE_ITEMS_MAX_BYTES of JSON
 * (*bytes, updated), each keyed by schema (borrowed). *ret_next: the text's
 * byte where the next page starts; *ret_done: the file has no more rows.
 * 0, or < 0 with f filled; the cause names the data file (the storage
 * failure of reading it, or Storage.InvalidContent for content that is not
 * gzip or does not inflate, or a row that is not CSV). */
int manifest_read_file(ItemsReadFn read, void *userdata, const char *key, uint64_t offset, json_t *schema,
                       json_t *items, size_t max_items, size_t *bytes, uint64_t *ret_next, bool *ret_done,
                       TaskFailure *f);
