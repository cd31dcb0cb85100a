/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for coordinator/asl/asl-json.c: whatever jansson loads,
 * asl_json_dumps() writes byte for byte what json_dumps(JSON_COMPACT |
 * JSON_ENCODE_ANY) writes, and asl_json_size() is its length.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asl-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *v = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        char *want, *got;
        size_t len = 0;

        if (!v)
                return 0;
        want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        got = asl_json_dumpn(v, &len);
        if (!want != !got)
                abort();
        if (want && (strcmp(want, got) != 0 || len != strlen(want) || asl_json_size(v) != len))
                abort();
        free(got);
        free(want);
        json_decref(v);
        return 0;
}
