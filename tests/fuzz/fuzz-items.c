/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the item parsers of a distributed Map's ItemReader
 * over an object (worker/ops/items-parse.c): any bytes as a JSON, JSONL or
 * CSV object (the first byte chooses the format, the delimiter, the page
 * size and the part size), read page by page once whole and once a part
 * at a time, as storage.items reads an object. Invariants: both reads agree
 * (the same items, or both fail): a part's end never changes an item; a
 * page never holds more than its items or bytes; the parser always moves
 * on or says why not.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "items-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every item, in order (new), or NULL when the parser failed. */
static json_t *read_all(const ItemsFormat *fmt, const char *buf, size_t len, size_t chunk, size_t page) {
        json_t *all = json_array(), *headers = NULL;
        size_t want = chunk;
        uint64_t pos = 0;

        for (;;) {
                size_t n = pos + want > len ? len - pos : want, bytes = 2, consumed = 0;
                json_t *items = json_array(), *read = NULL;
                ItemsStop stop = ITEMS_STOP_MORE;
                TaskFailure f = TASK_FAILURE_NULL;
                int r = items_parse(fmt, buf + pos, n, pos, pos + n >= len, headers, headers ? NULL : &read,
                                    items, page, &bytes, &consumed, &stop, &f);

                task_failure_clear(&f);
                if (r < 0) {
                        json_decref(read);
                        json_decref(items);
                        json_decref(all);
                        json_decref(headers);
                        return NULL;
                }
                if (read) {
                        if (headers || fmt->type != ITEMS_CSV)
                                abort();
                        headers = read;
                }
                if (json_array_size(items) > page || bytes > STORAGE_ITEMS_MAX_BYTES || consumed > n)
                        abort();
                json_array_extend(all, items);
                json_decref(items);
                pos += consumed;
                if (stop == ITEMS_STOP_DONE)
                        break;
                if (stop == ITEMS_STOP_MORE && consumed == 0) {
                        if (pos + n >= len) /* at the end, the parser must finish or fail */
                                abort();
                        want *= 2;
                } else
                        want = chunk;
        }
        json_decref(headers);
        return all;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char delimiters[] = {',', '|', ';', ' ', '\t'};
        ItemsFormat fmt;
        json_t *a, *b;

        if (size < 1 || size > 65536)
                return 0;
        fmt.type = data[0] % 3 == 0 ? ITEMS_JSON : data[0] % 3 == 1 ? ITEMS_JSONL : ITEMS_CSV;
        fmt.delimiter = delimiters[(data[0] / 3) % 5];
        size_t page = (size_t) (data[0] / 15) % 4 + 1, chunk = (size_t) (data[0] >> 4) + 1;

        a = read_all(&fmt, (const char *) data + 1, size - 1, size, 1000);
        b = read_all(&fmt, (const char *) data + 1, size - 1, chunk, page);
        if ((a == NULL) != (b == NULL) || (a && !json_equal(a, b)))
                abort();
        json_decref(a);
        json_decref(b);
        return 0;
}
