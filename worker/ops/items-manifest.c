/* SPDX-License-Identifier: MIT */
/*
 * The S3 Inventory reader (items-manifest.h): jansson reads the manifest,
 * zlib (inflate with gzip headers, 15 + 16 window bits) the data files,
 * items-parse.c their CSV rows with the schema as the header.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "alloc-util.h"
#include "items-manifest.h"
#include "items-parse.h"
#include "macro.h"

#define MANIFEST_RECORD_MAX (256 * 1024) /* one row's text, as storage.items's records */
#define MANIFEST_KEY_MAX 1024

#define invalid(f, ...) task_failure_set((f), -EINVAL, "Storage.InvalidContent", __VA_ARGS__)

int manifest_parse(const char *buf, size_t n, json_t **ret_schema, json_t **ret_files, TaskFailure *f) {
        _cleanup_json_ json_t *m = NULL, *schema = json_array(), *files = json_array();
        json_t *fs, *list, *fmt, *e;
        const char *p, *end;
        bool has_key = false;
        json_error_t err;
        size_t i;

        if (!schema || !files)
                return -ENOMEM;
        m = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
        if (!m)
                return task_failure_set(f, -EINVAL, "Storage.InvalidContent",
                                        "the manifest is not JSON: %s (line %d, column %d)", err.text,
                                        err.line, err.column);
        if (!json_is_object(m))
                return invalid(f, "the manifest is not a JSON object");
        fmt = json_object_get(m, "fileFormat");
        if (fmt && !(json_is_string(fmt) && strcasecmp(json_string_value(fmt), "CSV") == 0))
                return invalid(f, "the manifest's fileFormat is %s: only CSV inventories are read",
                               json_is_string(fmt) ? json_string_value(fmt) : "not a string");
        fs = json_object_get(m, "fileSchema");
        if (!json_is_string(fs) || json_string_length(fs) == 0)
                return invalid(f, "the manifest has no fileSchema (a string)");
        if (json_string_length(fs) > STORAGE_ITEMS_HEADER_MAX)
                return invalid(f, "the manifest's fileSchema is over 10 KiB");
        /* "Bucket, Key, Size": names separated by commas, blanks around them dropped */
        for (p = json_string_value(fs);; p = end + 1) {
                const char *s = p, *t;

                end = strchrnul(p, ',');
                while (s < end && (*s == ' ' || *s == '\t'))
                        s++;
                for (t = end; t > s && (t[-1] == ' ' || t[-1] == '\t');)
                        t--;
                if (t == s)
                        return invalid(f, "the manifest's fileSchema has an empty column name: \"%s\"",
                                       json_string_value(fs));
                if ((size_t) (t - s) == 3 && memcmp(s, "Key", 3) == 0)
                        has_key = true;
                if (json_array_append_new(schema, json_stringn(s, (size_t) (t - s))) < 0)
                        return -ENOMEM;
                if (!*end)
                        break;
        }
        if (!has_key)
                return invalid(f, "the manifest's fileSchema has no Key column: \"%s\"",
                               json_string_value(fs));
        list = json_object_get(m, "files");
        if (!json_is_array(list))
                return invalid(f, "the manifest has no files array");
        if (json_array_size(list) > MANIFEST_MAX_FILES)
                return task_failure_set(f, -EFBIG, "Storage.TooLarge",
                                        "the manifest lists %zu files, over %d", json_array_size(list),
                                        MANIFEST_MAX_FILES);
        json_array_foreach (list, i, e) {
                json_t *k = json_object_get(e, "key");

                if (!json_is_string(k) || json_string_length(k) == 0 ||
                    json_string_length(k) > MANIFEST_KEY_MAX)
                        return task_failure_set(f, -EINVAL, "Storage.InvalidContent",
                                                "the manifest's files[%zu] has no key (a string of 1 to "
                                                "%d bytes)",
                                                i, MANIFEST_KEY_MAX);
                json_array_append(files, k);
        }
        *ret_schema = TAKE_PTR(schema);
        *ret_files = TAKE_PTR(files);
        return 0;
}

/* A data file's text, inflated a part at a time. */
typedef struct Inflater {
        z_stream z;
        bool ready;
        ItemsReadFn read;
        void *userdata;
        const char *key;
        void *in;         /* the compressed part that z reads */
        uint64_t in_pos;  /* the next compressed byte to read */
        uint64_t in_size; /* the file's size, known after the first read */
        bool end;         /* the last gzip member has ended */
} Inflater;

static void inflater_done(Inflater *g) {
        if (g->ready)
                inflateEnd(&g->z);
        free(g->in);
}

/* Up to cap bytes of text into out: *ret_n (less only at the end). */
static int inflater_read(Inflater *g, char *out, size_t cap, size_t *ret_n, TaskFailure *f) {
        size_t produced = 0;

        while (produced < cap && !g->end) {
                int r;

                if (g->z.avail_in == 0) {
                        size_t n = 0;
                        void *data = NULL;

                        if (g->ready && g->in_pos >= g->in_size)
                                return task_failure_set(f, -EINVAL, "Storage.InvalidContent",
                                                        "the gzip data ends before its stream does "
                                                        "(%" PRIu64 " bytes)",
                                                        g->in_size);
                        r = g->read(g->userdata, g->key, g->in_pos, MANIFEST_CHUNK, &data, &n, &g->in_size,
                                    f);
                        if (r < 0)
                                return r;
                        free(g->in);
                        g->in = data;
                        if (n == 0) {
                                if (g->in_pos == 0)
                                        return task_failure_set(f, -EINVAL, "Storage.InvalidContent",
                                                                "the object is empty, not gzip data");
                                return task_failure_set(f, -EINVAL, "Storage.InvalidContent",
                                                        "the gzip data ends before its stream does "
                                                        "(%" PRIu64 " bytes)",
                                                        g->in_pos);
                        }
                        if (!g->ready) {
                                if (inflateInit2(&g->z, 15 + 16) != Z_OK)
                                        return -ENOMEM;
                                g->ready = true;
                        }
                        g->z.next_in = g->in;
                        g->z.avail_in = (uInt) n;
                        g->in_pos += n;
                }
                g->z.next_out = (Bytef *) out + produced;
                g->z.avail_out = (uInt) (cap - produced);
                r = inflate(&g->z, Z_NO_FLUSH);
                produced = cap - g->z.avail_out;
                if (r == Z_STREAM_END) {
                        if (g->z.avail_in == 0 && g->in_pos >= g->in_size)
                                g->end = true;
                        else if (inflateReset(&g->z) != Z_OK) /* another gzip member */
                                return -ENOMEM;
                } else if (r == Z_MEM_ERROR)
                        return -ENOMEM;
                else if (r != Z_OK && r != Z_BUF_ERROR)
                        return task_failure_set(f, -EINVAL, "Storage.InvalidContent",
                                                "not gzip data, or corrupt near its byte %" PRIu64 ": %s",
                                                g->in_pos - g->z.avail_in,
                                                g->z.msg ? g->z.msg : "inflate failed");
        }
        *ret_n = produced;
        return 0;
}

/* The failure in f, its cause prefixed with the data file's key. */
static int name_file(TaskFailure *f, int r, const char *key) {
        _cleanup_free_ char *error = NULL, *cause = NULL;

        if (!task_failure_is_set(f))
                return r;
        error = xstrdup(f->error);
        cause = xstrdup(f->cause ? f->cause : "");
        return task_failure_set(f, r, error, "the manifest's data file %s: %s", key, cause);
}

static int read_file(Inflater *g, uint64_t offset, json_t *schema, json_t *items, size_t max_items,
                     size_t *bytes, uint64_t *ret_next, bool *ret_done, TaskFailure *f) {
        _cleanup_free_ char *buf = xmalloc(MANIFEST_RECORD_MAX + MANIFEST_CHUNK);
        ItemsFormat fmt = {.type = ITEMS_CSV, .delimiter = ','};
        size_t len = 0, want = MANIFEST_CHUNK;
        uint64_t pos = offset;
        int r;

        for (uint64_t skip = offset; skip > 0;) { /* the text before the page */
                size_t n = 0;

                r = inflater_read(g, buf, skip < MANIFEST_CHUNK ? (size_t) skip : MANIFEST_CHUNK, &n, f);
                if (r < 0)
                        return r;
                if (n == 0)
                        return task_failure_set(
                                f, -EINVAL, "Storage.InvalidContent",
                                "the text ends before byte %" PRIu64 " where the page starts", offset);
                skip -= n;
        }
        *ret_done = false;
        for (;;) {
                size_t consumed = 0, n = 0;
                ItemsStop stop = ITEMS_STOP_MORE;

                if (len < want) {
                        r = inflater_read(g, buf + len, want - len, &n, f);
                        if (r < 0)
                                return r;
                        len += n;
                }
                r = items_parse(&fmt, buf, len, pos, g->end, schema, NULL, items, max_items, bytes,
                                &consumed, &stop, f);
                if (r < 0)
                        return r;
                memmove(buf, buf + consumed, len - consumed);
                len -= consumed;
                pos += consumed;
                if (stop == ITEMS_STOP_DONE) {
                        *ret_done = true;
                        break;
                }
                if (stop == ITEMS_STOP_FULL)
                        break;
                if (consumed == 0) {
                        if (g->end)
                                return task_failure_set(f, -EINVAL, "Storage.InvalidContent",
                                                        "at byte %" PRIu64 ": a row that does not end", pos);
                        if (want >= MANIFEST_RECORD_MAX)
                                return task_failure_set(f, -EFBIG, "Storage.TooLarge",
                                                        "the row at byte %" PRIu64 " is over %d bytes", pos,
                                                        MANIFEST_RECORD_MAX);
                        want *= 2;
                } else
                        want = MANIFEST_CHUNK;
        }
        *ret_next = pos;
        return 0;
}

int manifest_read_file(ItemsReadFn read, void *userdata, const char *key, uint64_t offset, json_t *schema,
                       json_t *items, size_t max_items, size_t *bytes, uint64_t *ret_next, bool *ret_done,
                       TaskFailure *f) {
        Inflater g = {.read = read, .userdata = userdata, .key = key};
        int r = read_file(&g, offset, schema, items, max_items, bytes, ret_next, ret_done, f);

        inflater_done(&g);
        return r < 0 ? name_file(f, r, key) : 0;
}
