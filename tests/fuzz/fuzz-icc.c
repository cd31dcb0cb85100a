/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the ICC profile reader of image.metadata
 * (worker/ops/inspect-icc.c): any bytes as an embedded profile. It reads
 * nothing outside the n bytes (ASan: the fuzzer's buffer is exactly n), and
 * a description is a string of at most 255 printable ASCII characters.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inspect-icc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_t *d = icc_description(data, size);
        const char *s;
        size_t n;

        if (!d)
                return 0;
        if (!json_is_string(d))
                abort();
        s = json_string_value(d);
        n = json_string_length(d);
        if (n > 255 || strlen(s) != n)
                abort();
        for (size_t i = 0; i < n; i++)
                if (s[i] < 32 || s[i] > 126)
                        abort();
        json_decref(d);
        return 0;
}
