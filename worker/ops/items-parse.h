/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The item formats of a distributed Map's ItemReader over an object (JSON,
 * JSONL, CSV: storage-items.h says how Step Functions reads each), parsed
 * from a part of the object: only the records the part holds whole are
 * taken, and the caller reads on from where the parser stopped. No I/O, so
 * that the parser is unit-tested and fuzzed alone (tests/fuzz/fuzz-items.c).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task-failure.h"

#define STORAGE_ITEMS_MAX_BYTES (192 * 1024) /* a page's JSON */
#define STORAGE_ITEMS_HEADER_MAX (10 * 1024) /* a CSV header row, as Step Functions */

typedef struct ItemsFormat {
        enum { ITEMS_JSON, ITEMS_JSONL, ITEMS_CSV } type;
        char delimiter; /* CSV */
} ItemsFormat;

typedef enum ItemsStop {
        ITEMS_STOP_MORE, /* the part ends inside a record (or holds none): read on */
        ITEMS_STOP_FULL, /* the page is full */
        ITEMS_STOP_DONE, /* no items after the consumed bytes */
} ItemsStop;

/* The items of buf[0, n), which starts at byte `offset` of the object
 * (at_end: buf reaches the object's end), appended to items (borrowed)
 * until max_items, or until their JSON would pass STORAGE_ITEMS_MAX_BYTES
 * (*bytes: the page's JSON so far, updated). *ret_consumed: the bytes used
 * (complete records only), *ret_stop: why it stopped. CSV: headers
 * (borrowed) may be NULL only at offset 0: the first row is then read into
 * *ret_headers (new). 0, or < 0 with f filled (Storage.InvalidContent with
 * the byte, Storage.TooLarge for one item over the page's bytes). */
int items_parse(const ItemsFormat *fmt, const char *buf, size_t n, uint64_t offset, bool at_end,
                json_t *headers, json_t **ret_headers, json_t *items, size_t max_items, size_t *bytes,
                size_t *ret_consumed, ItemsStop *ret_stop, TaskFailure *f);
