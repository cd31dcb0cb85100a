/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the S3 Inventory reader of a distributed Map's
 * ItemReader (worker/ops/items-manifest.c). The input is a flags byte,
 * then a manifest.json up to the first NUL byte (parsed by
 * manifest_parse(); without a NUL, a fixed manifest), then the bytes of one
 * data file: raw (as gzip data: corrupt and truncated streams) or, with the
 * flags' low bit, compressed here first, as one or two gzip members (so that
 * the CSV rows behind the inflater are reached). The file is read page by
 * page, from (offset) as storage.items reads it, once in pages of 1,000 and
 * once in small pages with small object reads. Invariants: both reads agree
 * (the same items, or both fail), a page never holds more than its items
 * or bytes, the next page never starts before this one.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "items-manifest.h"
#include "items-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Object {
        const uint8_t *p;
        size_t n;
        size_t max_read; /* bytes a read returns at most */
} Object;

static int read_object(void *userdata, const char *key, uint64_t offset, size_t length, void **ret_data,
                       size_t *ret_n, uint64_t *ret_size, TaskFailure *f) {
        Object *o = userdata;
        size_t n;

        (void) key;
        if (offset > o->n)
                return task_failure_set(f, -EINVAL, "Storage.Invalid", "offset past the end");
        n = o->n - (size_t) offset;
        if (n > length)
                n = length;
        if (n > o->max_read)
                n = o->max_read;
        *ret_data = malloc(n ? n : 1);
        if (!*ret_data)
                return -ENOMEM;
        memcpy(*ret_data, o->p + offset, n);
        *ret_n = n;
        *ret_size = o->n;
        return 0;
}

/* Every item of the file (new), or NULL when a page failed. */
static json_t *read_all(Object *o, json_t *schema, size_t page) {
        json_t *all = json_array();
        uint64_t pos = 0;

        for (int guard = 0; guard < 100000; guard++) {
                json_t *items = json_array();
                TaskFailure f = TASK_FAILURE_NULL;
                size_t bytes = 2;
                uint64_t next = 0;
                bool done = false;
                int r = manifest_read_file(read_object, o, "data/f.csv.gz", pos, schema, items, page, &bytes,
                                           &next, &done, &f);

                if (r < 0) {
                        if (!task_failure_is_set(&f) && r != -ENOMEM)
                                abort(); /* every failure is named */
                        task_failure_clear(&f);
                        json_decref(items);
                        json_decref(all);
                        return NULL;
                }
                if (json_array_size(items) > page || bytes > STORAGE_ITEMS_MAX_BYTES || next < pos)
                        abort();
                if (!done && json_array_size(items) == 0)
                        abort(); /* a page that is not the last moves on */
                json_array_extend(all, items);
                json_decref(items);
                pos = next;
                if (done)
                        return all;
        }
        abort();
}

static void gzip_append(uint8_t **out, size_t *n, const uint8_t *p, size_t len) {
        z_stream z = {};
        size_t cap = compressBound((uLong) len) + 64;

        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                abort();
        *out = realloc(*out, *n + cap);
        z.next_in = (Bytef *) p;
        z.avail_in = (uInt) len;
        z.next_out = *out + *n;
        z.avail_out = (uInt) cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
                abort();
        *n += cap - z.avail_out;
        deflateEnd(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char fixed[] = "{\"fileFormat\":\"CSV\",\"fileSchema\":\"Bucket, Key, Size\","
                                    "\"files\":[{\"key\":\"data/f.csv.gz\"}]}";
        const uint8_t *rest, *nul;
        json_t *schema = NULL, *files = NULL, *a, *b;
        TaskFailure f = TASK_FAILURE_NULL;
        uint8_t *gz = NULL;
        size_t gzn = 0, n;
        Object o;

        if (size < 1 || size > 65536)
                return 0;
        rest = data + 1;
        n = size - 1;
        nul = memchr(rest, 0, n);
        if (nul) {
                int r = manifest_parse((const char *) rest, (size_t) (nul - rest), &schema, &files, &f);

                if (r < 0) {
                        if (!task_failure_is_set(&f))
                                abort();
                        task_failure_clear(&f);
                        return 0;
                }
                n -= (size_t) (nul - rest) + 1;
                rest = nul + 1;
        } else if (manifest_parse(fixed, sizeof fixed - 1, &schema, &files, &f) < 0)
                abort();
        json_decref(files);
        if (data[0] & 1) {
                size_t half = (data[0] & 2) ? n / 2 : n;

                gzip_append(&gz, &gzn, rest, half);
                if (half < n)
                        gzip_append(&gz, &gzn, rest + half, n - half);
                o = (Object){gz, gzn, SIZE_MAX};
        } else
                o = (Object){rest, n, SIZE_MAX};

        a = read_all(&o, schema, 1000);
        o.max_read = (size_t) (data[0] >> 4) + 1;
        b = read_all(&o, schema, (size_t) ((data[0] >> 2) & 3) + 1);
        if ((a == NULL) != (b == NULL) || (a && !json_equal(a, b)))
                abort();
        json_decref(a);
        json_decref(b);
        json_decref(schema);
        free(gz);
        return 0;
}
