/* SPDX-License-Identifier: MIT */
/*
 * storage.list (storage-ops.h): storage_list_next() until the page is
 * full, then one more entry to tell whether the listing goes on.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json-writer.h"
#include "macro.h"
#include "params.h"
#include "storage-ops.h"

const ParamSpec storage_ops_list_params[] = {
        {"bucket", PARAM_STRING, true, RANGE(1, 255)},
        {"prefix", PARAM_STRING, RANGE(0, 1024)},
        {"startAfter", PARAM_STRING, RANGE(0, 1024)},
        {"maxKeys", PARAM_INTEGER, RANGE(1, STORAGE_LIST_MAX_KEYS)},
        {},
};

int storage_ops_list(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        const char *prefix = params_str(params, "prefix", NULL),
                   *after = params_str(params, "startAfter", NULL);
        json_int_t max_keys = params_int(params, "maxKeys", STORAGE_LIST_MAX_KEYS);
        _cleanup_storage_list_ StorageList *l = NULL;
        _cleanup_json_ json_t *items = json_array();
        size_t bytes = 2;
        bool more = false;
        int r;

        if (!items)
                return -ENOMEM;
        r = storage_list_new(s, params_str(params, "bucket", ""), prefix && *prefix ? prefix : NULL,
                             after && *after ? after : NULL, &l, f);
        if (r < 0)
                return r;
        for (;;) {
                char etag[STORAGE_ETAG_MAX + 3];
                StorageEntry e;
                json_t *item;
                size_t n;

                if (op_context_cancelled(ctx))
                        return task_failure_set(f, -ECANCELED, "Task.Cancelled", "cancelled while listing");
                r = storage_list_next(l, &e, f);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if ((json_int_t) json_array_size(items) >= max_keys) {
                        more = true;
                        break;
                }
                /* Etag in quotes as S3 sends it (the listing's reader strips
                 * them), LastModified in seconds since the epoch and
                 * StorageClass, as Step Functions gives them (imgflow
                 * buckets have one class) */
                snprintf(etag, sizeof etag, e.etag && *e.etag ? "\"%s\"" : "%s", e.etag ? e.etag : "");
                item = json_pack("{s:s, s:I, s:s, s:I, s:s}", "Key", e.key, "Size", (json_int_t) e.size,
                                 "Etag", etag, "LastModified", (json_int_t) (e.mtime_ms / 1000),
                                 "StorageClass", "STANDARD");
                if (!item)
                        return task_failure_set(f, -EINVAL, "Storage.InvalidKey",
                                                "a key is not valid UTF-8");
                n = json_writer_size(item) + 1;
                if (bytes + n > STORAGE_LIST_MAX_BYTES && json_array_size(items) > 0) {
                        json_decref(item);
                        more = true;
                        break;
                }
                bytes += n;
                json_array_append_new(items, item);
        }
        *ret = json_pack("{s:O, s:b}", "Items", items, "More", more);
        return *ret ? 0 : -ENOMEM;
}

const ParamSpec storage_ops_put_params[] = {
        {"bucket", PARAM_STRING, true, RANGE(1, STORAGE_BUCKET_NAME_MAX)},
        {"key", PARAM_STRING, true, RANGE(1, STORAGE_KEY_MAX)},
        {"body", PARAM_STRING, true, RANGE(0, STORAGE_PUT_MAX_BYTES)},
        {},
};

int storage_ops_put(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        const char *bucket = params_str(params, "bucket", ""), *key = params_str(params, "key", "");
        json_t *body = json_object_get(params, "body");
        int r;

        r = storage_write_atomic(s, bucket, key, json_string_value(body), json_string_length(body), NULL, f);
        if (r < 0)
                return r;
        *ret = json_pack("{s:s, s:I}", "Key", key, "Size", (json_int_t) json_string_length(body));
        return *ret ? 0 : -ENOMEM;
}
