/* SPDX-License-Identifier: MIT */
/*
 * The item parsers (items-parse.h). The JSON array is not parsed whole: a
 * scan finds each element's end (strings and nesting followed) and jansson
 * parses that element alone, so an array of any length is read in bounded
 * memory, as JSONL and CSV are. The CSV rules are Step Functions' own
 * (backslash escapes, short and long rows), which no CSV library on Debian
 * implements, hence the small scanner here.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "items-parse.h"
#include "json-writer.h"
#include "macro.h"

static bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int invalid(TaskFailure *f, uint64_t at, const char *what) {
        return task_failure_set(f, -EINVAL, "Storage.InvalidContent", "at byte %" PRIu64 ": %s", at, what);
}

/* Append item (stolen) unless the page is full: 1 appended, 0 full. */
static int page_add(json_t *items, json_t *item, size_t max_items, size_t *bytes, uint64_t at,
                    TaskFailure *f) {
        size_t n;

        if (!item)
                return -ENOMEM;
        n = json_writer_size(item) + 1;
        if (json_array_size(items) >= max_items ||
            (*bytes + n > STORAGE_ITEMS_MAX_BYTES && json_array_size(items) > 0)) {
                json_decref(item);
                return 0;
        }
        if (*bytes + n > STORAGE_ITEMS_MAX_BYTES) {
                json_decref(item);
                return task_failure_set(f, -EFBIG, "Storage.TooLarge",
                                        "the item at byte %" PRIu64 " is %zu bytes as JSON, over %d", at, n,
                                        STORAGE_ITEMS_MAX_BYTES);
        }
        *bytes += n;
        json_array_append_new(items, item);
        return 1;
}

static int parse_value(const char *p, size_t len, uint64_t at, json_t **ret, TaskFailure *f) {
        json_error_t err;
        json_t *v = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

        if (!v) {
                _cleanup_free_ char *why =
                        xasprintf("the item is not JSON: %s (its byte %d)", err.text, err.position);
                return invalid(f, at, why);
        }
        *ret = v;
        return 0;
}

/* The end of the JSON value that starts at buf[i]: the ',' or ']' after it
 * at nesting 0 (not consumed), or n when the buffer ends first. */
static size_t json_element_end(const char *buf, size_t n, size_t i) {
        bool in_string = false;
        size_t depth = 0;

        for (; i < n; i++) {
                char c = buf[i];

                if (in_string) {
                        if (c == '\\')
                                i++;
                        else if (c == '"')
                                in_string = false;
                } else if (c == '"')
                        in_string = true;
                else if (c == '[' || c == '{')
                        depth++;
                else if ((c == ']' || c == '}') && depth > 0)
                        depth--;
                else if (depth == 0 && (c == ',' || c == ']'))
                        return i;
        }
        return n;
}

static int parse_json(const char *buf, size_t n, uint64_t offset, bool at_end, json_t *items,
                      size_t max_items, size_t *bytes, size_t *ret_consumed, ItemsStop *ret_stop,
                      TaskFailure *f) {
        size_t i = 0, done = 0;

        if (offset == 0) {
                if (n < 3 && !at_end && memcmp(buf, "\xEF\xBB\xBF", n) == 0) {
                        *ret_consumed = 0; /* perhaps a byte order mark: read on */
                        *ret_stop = ITEMS_STOP_MORE;
                        return 0;
                }
                if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
                        i = 3;
                while (i < n && is_ws(buf[i]))
                        i++;
                if (i == n) {
                        if (at_end)
                                return invalid(f, offset + i, "not a JSON array (the object is empty)");
                        *ret_consumed = 0;
                        *ret_stop = ITEMS_STOP_MORE;
                        return 0;
                }
                if (buf[i] != '[')
                        return invalid(f, offset + i, "not a JSON array (InputType JSON reads one array)");
                i++;
                while (i < n && is_ws(buf[i]))
                        i++;
                if (i < n && buf[i] == ']') {
                        *ret_consumed = n;
                        *ret_stop = ITEMS_STOP_DONE;
                        return 0;
                }
                goto element;
        }
        for (;;) {
                size_t end;
                json_t *v;
                int r;

                done = i;
                while (i < n && is_ws(buf[i]))
                        i++;
                if (i == n)
                        break;
                if (buf[i] == ']') {
                        *ret_consumed = n;
                        *ret_stop = ITEMS_STOP_DONE;
                        return 0;
                }
                if (buf[i] != ',')
                        return invalid(f, offset + i, "expected ',' or ']' after an element of the array");
                i++;
        element:
                end = json_element_end(buf, n, i);
                if (end == n)
                        break;
                r = parse_value(buf + i, end - i, offset + i, &v, f);
                if (r < 0)
                        return r;
                r = page_add(items, v, max_items, bytes, offset + i, f);
                if (r < 0)
                        return r;
                if (r == 0) {
                        *ret_consumed = done;
                        *ret_stop = ITEMS_STOP_FULL;
                        return 0;
                }
                i = end;
        }
        if (at_end)
                return invalid(f, offset + n, "the JSON array ends without ']'");
        *ret_consumed = done;
        *ret_stop = ITEMS_STOP_MORE;
        return 0;
}

static int parse_jsonl(const char *buf, size_t n, uint64_t offset, bool at_end, json_t *items,
                       size_t max_items, size_t *bytes, size_t *ret_consumed, ItemsStop *ret_stop,
                       TaskFailure *f) {
        size_t i = 0;

        if (offset == 0 && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
                i = 3;
        while (i < n) {
                const char *nl = memchr(buf + i, '\n', n - i);
                size_t end = nl ? (size_t) (nl - buf) : n, next = nl ? end + 1 : n, s = i;
                json_t *v;
                int r;

                if (!nl && !at_end) {
                        *ret_consumed = i;
                        *ret_stop = ITEMS_STOP_MORE;
                        return 0;
                }
                while (s < end && is_ws(buf[s]))
                        s++;
                if (s == end) { /* an empty line */
                        i = next;
                        continue;
                }
                r = parse_value(buf + s, end - s, offset + s, &v, f);
                if (r < 0)
                        return r;
                r = page_add(items, v, max_items, bytes, offset + s, f);
                if (r < 0)
                        return r;
                if (r == 0) {
                        *ret_consumed = i;
                        *ret_stop = ITEMS_STOP_FULL;
                        return 0;
                }
                i = next;
        }
        *ret_consumed = n;
        *ret_stop = at_end ? ITEMS_STOP_DONE : ITEMS_STOP_MORE;
        return 0;
}

/* A growing field. */
typedef struct Field {
        char *p;
        size_t len, cap;
} Field;

static void field_add(Field *fl, char c) {
        if (fl->len + 1 >= fl->cap) {
                fl->cap = fl->cap ? fl->cap * 2 : 64;
                fl->p = xrealloc(fl->p, fl->cap);
        }
        fl->p[fl->len++] = c;
}

/* A field, UTF-8 checked, into fields (the record starts at byte at). */
static int field_push(json_t *fields, Field *fl, uint64_t at, TaskFailure *f) {
        json_t *s = json_stringn(fl->p ? fl->p : "", fl->len);

        fl->len = 0;
        if (!s)
                return invalid(f, at, "a field of the record is not UTF-8");
        return json_array_append_new(fields, s) == 0 ? 0 : -ENOMEM;
}

/* One CSV record from buf[i]: 1 with *ret_fields (new) and *ret_next, 0 when
 * the buffer ends inside it (not at the object's end) or holds none. */
static int csv_record(const char *buf, size_t n, size_t i, bool at_end, char delim, uint64_t offset,
                      json_t **ret_fields, size_t *ret_next, TaskFailure *f) {
        _cleanup_json_ json_t *fields = json_array();
        _cleanup_free_ char *mem = NULL;
        Field fl = {};
        bool quoted = false, started = false;
        size_t j;
        int r = 0;

        for (j = i; j < n; j++) {
                char c = buf[j];

                if (c == '\\') { /* escapes the next character; dropped before any other */
                        if (j + 1 == n) {
                                if (!at_end)
                                        break;
                                continue; /* a backslash that ends the object is dropped */
                        }
                        field_add(&fl, buf[++j]);
                        started = true;
                } else if (quoted) {
                        if (c != '"')
                                field_add(&fl, c);
                        else if (j + 1 == n && !at_end)
                                break;
                        else if (j + 1 < n && buf[j + 1] == '"')
                                field_add(&fl, buf[++j]);
                        else
                                quoted = false;
                } else if (c == '"' && !started) {
                        quoted = started = true;
                } else if (c == delim) {
                        if ((r = field_push(fields, &fl, offset + i, f)) < 0)
                                goto out;
                        started = false;
                } else if (c == '\n' || (c == '\r' && j + 1 < n && buf[j + 1] == '\n')) {
                        if ((r = field_push(fields, &fl, offset + i, f)) < 0)
                                goto out;
                        *ret_next = j + (c == '\r' ? 2 : 1);
                        *ret_fields = TAKE_PTR(fields);
                        r = 1;
                        goto out;
                } else if (c == '\r' && j + 1 == n && !at_end) {
                        break;
                } else {
                        field_add(&fl, c);
                        started = true;
                }
        }
        if (j < n || !at_end)
                goto out; /* cut by the buffer's end: read on */
        if (quoted) {
                r = invalid(f, offset + i, "a quoted field is not closed before the end of the object");
                goto out;
        }
        if (j == i)
                goto out; /* nothing after the last record */
        if ((r = field_push(fields, &fl, offset + i, f)) < 0)
                goto out;
        *ret_next = n;
        *ret_fields = TAKE_PTR(fields);
        r = 1;
out:
        mem = fl.p;
        return r;
}

static int parse_csv(const char *buf, size_t n, uint64_t offset, bool at_end, char delim, json_t *headers,
                     json_t **ret_headers, json_t *items, size_t max_items, size_t *bytes,
                     size_t *ret_consumed, ItemsStop *ret_stop, TaskFailure *f) {
        size_t i = 0;

        if (offset == 0 && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
                i = 3;
        while (i < n) {
                _cleanup_json_ json_t *fields = NULL;
                json_t *item, *h;
                size_t next = 0, k;
                int r;

                r = csv_record(buf, n, i, at_end, delim, offset, &fields, &next, f);
                if (r < 0)
                        return r;
                if (r == 0) {
                        if (!headers && n - i > STORAGE_ITEMS_HEADER_MAX)
                                return invalid(f, offset + i, "the CSV header row is over 10 KiB");
                        break;
                }
                if (json_array_size(fields) == 1 && json_string_length(json_array_get(fields, 0)) == 0 &&
                    next - i <= 2) { /* an empty line */
                        i = next;
                        continue;
                }
                if (!headers) {
                        if (next - i > STORAGE_ITEMS_HEADER_MAX)
                                return invalid(f, offset + i, "the CSV header row is over 10 KiB");
                        *ret_headers = headers = TAKE_PTR(fields);
                        i = next;
                        continue;
                }
                item = json_object();
                if (!item)
                        return -ENOMEM;
                json_array_foreach (headers, k, h) {
                        json_t *v = json_array_get(fields, k);

                        if (json_object_set_new(item, json_string_value(h),
                                                v ? json_incref(v) : json_string("")) < 0) {
                                json_decref(item);
                                return -ENOMEM;
                        }
                }
                r = page_add(items, item, max_items, bytes, offset + i, f);
                if (r < 0)
                        return r;
                if (r == 0) {
                        *ret_consumed = i;
                        *ret_stop = ITEMS_STOP_FULL;
                        return 0;
                }
                i = next;
        }
        *ret_consumed = i;
        *ret_stop = at_end && i == n ? ITEMS_STOP_DONE : ITEMS_STOP_MORE;
        if (at_end && i < n) /* only an unreadable rest: cannot be */
                *ret_stop = ITEMS_STOP_DONE;
        return 0;
}

int items_parse(const ItemsFormat *fmt, const char *buf, size_t n, uint64_t offset, bool at_end,
                json_t *headers, json_t **ret_headers, json_t *items, size_t max_items, size_t *bytes,
                size_t *ret_consumed, ItemsStop *ret_stop, TaskFailure *f) {
        switch (fmt->type) {
        case ITEMS_JSON:
                return parse_json(buf, n, offset, at_end, items, max_items, bytes, ret_consumed, ret_stop,
                                  f);
        case ITEMS_JSONL:
                return parse_jsonl(buf, n, offset, at_end, items, max_items, bytes, ret_consumed, ret_stop,
                                   f);
        default:
                return parse_csv(buf, n, offset, at_end, fmt->delimiter, headers, ret_headers, items,
                                 max_items, bytes, ret_consumed, ret_stop, f);
        }
}
