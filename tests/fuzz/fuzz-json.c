/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for lib/json-writer.c: whatever jansson loads is written
 * (the writer refuses only what it must: nothing jansson loads is cyclic or
 * not UTF-8), json_writer_size() is the text's length, the text reads back
 * to an equal value, and writing that value again gives the same bytes.
 * (The golden bytes of each rule are in tests/unit/test-json-writer.c.)
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json-writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *v = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL), *back;
        size_t len = 0, len2 = 0;
        char *text, *again;

        if (!v)
                return 0;
        text = json_writer_dumpn(v, &len);
        if (!text || len != strlen(text) || json_writer_size(v) != len)
                abort();
        /* (jansson loads no key with a NUL byte, so every text reads back.) */
        back = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!back || !json_equal(back, v))
                abort();
        again = json_writer_dumpn(back, &len2);
        if (!again || len2 != len || memcmp(again, text, len) != 0)
                abort();
        free(again);
        json_decref(back);
        free(text);
        json_decref(v);
        return 0;
}
