/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * storage.items: one page of the items of an object, for a distributed Map's
 * ItemReader with arn:aws:states:::s3:getObject (ReaderConfig InputType
 * JSON, JSONL or CSV). Like storage.list (storage-ops.h), the coordinator
 * never reads the object itself: the engine asks the workers for a page at
 * a time and keeps only where the next page starts (a byte offset), so
 * neither side ever holds more than a page of an object of any size. The
 * object is read with storage_read_range(), a part of 64 KiB at a time.
 *
 * Parameters: bucket, key (required), inputType ("JSON", "JSONL", "CSV" or
 * "MANIFEST", required), offset (the byte where the page starts: 0, or a
 * page's Next), file (MANIFEST: the data file where the page starts, 0 or a
 * page's File),
 * maxItems (1..1000, default 1000), and for CSV: csvHeaders (the column
 * names: CSVHeaderLocation GIVEN, or the first row that an earlier page
 * returned), csvDelimiter (COMMA, PIPE, SEMICOLON, SPACE or TAB; default
 * COMMA). A CSV page at offset 0 without csvHeaders reads the first row
 * as the header (FIRST_ROW).
 *
 * Result: {"Items": [...], "More": bool, "Next": byte offset of the next
 * page, "Headers": [...] (only when this page read the header row),
 * "File": the data file of the next page (MANIFEST only)}. The
 * page also stops before its JSON would pass 192 KiB, so it fits a task
 * result; one item over that fails.
 *
 * The formats, as Step Functions reads them:
 * - JSON: the object is one array; each element is an item.
 * - JSONL: each non-empty line is a JSON value, an item.
 * - CSV: each record is an object of strings keyed by the header; fields in
 *   double quotes may hold the delimiter and newlines, "" is a quote, a
 *   backslash escapes a backslash, a quote or the delimiter and is dropped
 *   before any other character; a row with fewer fields than the header
 *   gets empty strings, one with more has the extra fields skipped. Empty
 *   lines are skipped. A header row is at most 10 KiB.
 * - MANIFEST: an S3 Inventory manifest.json (items-manifest.h): each row of
 *   its gzip-compressed CSV data files is an item keyed by its fileSchema;
 *   offset is then a byte of the data file's text.
 * A UTF-8 byte order mark at the start is skipped. Content that does not
 * parse fails with Storage.InvalidContent naming the byte offset.
 */

#include "image-ops.h"
#include "items-parse.h"

#define STORAGE_ITEMS_MAX 1000
#define STORAGE_ITEMS_CHUNK (64 * 1024)
#define STORAGE_ITEMS_RECORD_MAX (256 * 1024) /* one item's bytes in the object */

extern const ParamSpec storage_ops_items_params[];

int storage_ops_items(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
