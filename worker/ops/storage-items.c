/* SPDX-License-Identifier: MIT */
/*
 * storage.items (storage-items.h): the object is read a part at a time from
 * the page's offset; the parser takes the complete records of each part and
 * says where it stopped, so a record cut by the part's end is read again,
 * whole, with the next part (a part grows until it holds one record, up to
 * STORAGE_ITEMS_RECORD_MAX); items-parse.c parses.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "json-writer.h"
#include "macro.h"
#include "params.h"
#include "items-manifest.h"
#include "storage-items.h"

static const char *const input_types[] = {"JSON", "JSONL", "CSV", "MANIFEST", NULL};
static const char *const delimiters[] = {"COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB", NULL};
static const char delimiter_chars[] = {',', '|', ';', ' ', '\t'};

const ParamSpec storage_ops_items_params[] = {
        {"bucket", PARAM_STRING, true, RANGE(1, STORAGE_BUCKET_NAME_MAX)},
        {"key", PARAM_STRING, true, RANGE(1, STORAGE_KEY_MAX)},
        {"inputType", PARAM_STRING, true, .enums = input_types},
        {"offset", PARAM_INTEGER, RANGE(0, 1e15)},
        {"maxItems", PARAM_INTEGER, RANGE(1, STORAGE_ITEMS_MAX)},
        {"csvHeaders", PARAM_ARRAY, RANGE(1, 10000)},
        {"csvDelimiter", PARAM_STRING, .enums = delimiters},
        {"file", PARAM_INTEGER, RANGE(0, MANIFEST_MAX_FILES)},
        {},
};

typedef struct ReadBucket {
        Storage *storage;
        const char *bucket;
        const OpContext *ctx;
} ReadBucket;

static int read_bucket(void *userdata, const char *key, uint64_t offset, size_t length, void **ret_data,
                       size_t *ret_n, uint64_t *ret_size, TaskFailure *f) {
        ReadBucket *rb = userdata;

        if (op_context_cancelled(rb->ctx))
                return task_failure_set(f, -ECANCELED, "Task.Cancelled", "cancelled while reading items");
        return storage_read_range(rb->storage, rb->bucket, key, strlen(key), offset, length, ret_data, ret_n,
                                  ret_size, f);
}

/* InputType MANIFEST: the manifest is read whole (up to MANIFEST_MAX_BYTES)
 * for each page, then the data files from the page's file and offset. */
static int items_manifest(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        const char *bucket = params_str(params, "bucket", ""), *key = params_str(params, "key", "");
        ReadBucket rb = {.storage = s, .bucket = bucket, .ctx = ctx};
        _cleanup_json_ json_t *schema = NULL, *files = NULL, *items = json_array();
        size_t max_items = (size_t) params_int(params, "maxItems", STORAGE_ITEMS_MAX), bytes = 2, n = 0;
        size_t file = (size_t) params_int(params, "file", 0);
        uint64_t pos = (uint64_t) params_int(params, "offset", 0), size = 0;
        _cleanup_free_ void *data = NULL;
        int r;

        if (!items)
                return -ENOMEM;
        r = storage_read_range(s, bucket, key, strlen(key), 0, MANIFEST_MAX_BYTES + 1, &data, &n, &size, f);
        if (r < 0)
                return r;
        if (size > MANIFEST_MAX_BYTES)
                return task_failure_set(f, -EFBIG, "Storage.TooLarge",
                                        "the manifest %s is %" PRIu64 " bytes, over %d", key, size,
                                        MANIFEST_MAX_BYTES);
        r = manifest_parse(data, n, &schema, &files, f);
        if (r < 0)
                return r;
        while (file < json_array_size(files) && json_array_size(items) < max_items) {
                uint64_t next = 0;
                bool done = false;

                r = manifest_read_file(read_bucket, &rb, json_string_value(json_array_get(files, file)), pos,
                                       schema, items, max_items, &bytes, &next, &done, f);
                if (r < 0)
                        return r;
                if (!done) {
                        pos = next;
                        break;
                }
                file++;
                pos = 0;
        }
        *ret = json_pack("{s:O, s:b, s:I, s:I}", "Items", items, "More", file < json_array_size(files),
                         "Next", (json_int_t) pos, "File", (json_int_t) file);
        return *ret ? 0 : -ENOMEM;
}

int storage_ops_items(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        const char *bucket = params_str(params, "bucket", ""), *key = params_str(params, "key", "");
        const char *type = params_str(params, "inputType", "JSON"),
                   *delim = params_str(params, "csvDelimiter", "COMMA");
        json_t *given = json_object_get(params, "csvHeaders");
        _cleanup_json_ json_t *items = json_array(), *read_headers = NULL;
        size_t max_items = (size_t) params_int(params, "maxItems", STORAGE_ITEMS_MAX), bytes = 2;
        uint64_t pos = (uint64_t) params_int(params, "offset", 0);
        size_t want = STORAGE_ITEMS_CHUNK;
        ItemsFormat fmt = {.type = streq(type, "JSONL") ? ITEMS_JSONL
                                   : streq(type, "CSV") ? ITEMS_CSV
                                                        : ITEMS_JSON,
                           .delimiter = ','};
        bool done = false;
        size_t i;
        json_t *h;

        if (!items)
                return -ENOMEM;
        if (streq(type, "MANIFEST"))
                return items_manifest(s, params, ctx, ret, f);
        for (i = 0; delimiters[i]; i++)
                if (streq(delim, delimiters[i]))
                        fmt.delimiter = delimiter_chars[i];
        json_array_foreach (given, i, h)
                if (!json_is_string(h))
                        return params_fail(f, "", "csvHeaders", "must be an array of strings");
        if (fmt.type == ITEMS_CSV && !given && pos > 0)
                return params_fail(f, "", "csvHeaders", "needed past the first row (offset %" PRIu64 ")",
                                   pos);
        while (!done && json_array_size(items) < max_items) {
                _cleanup_free_ void *data = NULL;
                size_t n = 0, consumed = 0;
                uint64_t size = 0;
                ItemsStop stop = ITEMS_STOP_MORE;
                int r;

                if (op_context_cancelled(ctx))
                        return task_failure_set(f, -ECANCELED, "Task.Cancelled",
                                                "cancelled while reading items");
                r = storage_read_range(s, bucket, key, strlen(key), pos, want, &data, &n, &size, f);
                if (r < 0)
                        return r;
                r = items_parse(&fmt, data, n, pos, pos + n >= size, given ? given : read_headers,
                                given || read_headers ? NULL : &read_headers, items, max_items, &bytes,
                                &consumed, &stop, f);
                if (r < 0)
                        return r;
                pos += consumed;
                done = stop == ITEMS_STOP_DONE;
                if (stop == ITEMS_STOP_FULL)
                        break;
                if (stop == ITEMS_STOP_MORE && consumed == 0) {
                        if (want >= STORAGE_ITEMS_RECORD_MAX)
                                return task_failure_set(f, -EFBIG, "Storage.TooLarge",
                                                        "the item at byte %" PRIu64
                                                        " of %s is over %d bytes",
                                                        pos, key, STORAGE_ITEMS_RECORD_MAX);
                        want *= 2;
                } else
                        want = STORAGE_ITEMS_CHUNK;
        }
        *ret = json_pack("{s:O, s:b, s:I}", "Items", items, "More", !done, "Next", (json_int_t) pos);
        if (*ret && read_headers)
                json_object_set(*ret, "Headers", read_headers);
        return *ret ? 0 : -ENOMEM;
}
