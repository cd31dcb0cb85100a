/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for the S3 response reader (worker/s3-xml.c): any bytes
 * as the body of an S3 answer, fed whole and again in chunks cut where the
 * first byte says. Invariants: both feeds agree (a chunk boundary changes
 * nothing), every kept string fits the limits (S3_XML_TEXT_MAX), at most
 * S3_XML_ENTRIES_MAX entries, every entry has a key, and an error leaves the
 * parser refusing more input.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s) {
        if (s && strlen(s) > S3_XML_TEXT_MAX)
                abort();
}

static int run(const uint8_t *data, size_t size, size_t chunk, S3Xml *x) {
        int r = 0;

        if (s3_xml_init(x) < 0)
                abort();
        if (chunk == 0)
                return s3_xml_parse(x, data, size);
        for (size_t off = 0; off < size && r >= 0; off += chunk)
                r = s3_xml_feed(x, data + off, size - off < chunk ? size - off : chunk, false);
        if (r >= 0)
                r = s3_xml_feed(x, NULL, 0, true);
        return r;
}

static void same(const char *a, const char *b) {
        if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        S3Xml a, b;
        size_t chunk;
        int ra, rb;

        if (size < 1)
                return 0;
        chunk = (size_t) data[0] % 64 + 1;
        data++;
        size--;

        ra = run(data, size, 0, &a);
        rb = run(data, size, chunk, &b);
        if ((ra < 0) != (rb < 0))
                abort();
        if (ra < 0 && s3_xml_feed(&a, "<", 1, false) != ra)
                abort();
        if (ra >= 0) {
                if (a.kind != b.kind || a.truncated != b.truncated || a.n_entries != b.n_entries)
                        abort();
                same(a.code, b.code);
                same(a.message, b.message);
                same(a.next_token, b.next_token);
                same(a.upload_id, b.upload_id);
                same(a.etag, b.etag);
                check_str(a.code);
                check_str(a.message);
                check_str(a.request_id);
                check_str(a.next_token);
                check_str(a.upload_id);
                check_str(a.etag);
                if (a.n_entries > S3_XML_ENTRIES_MAX)
                        abort();
                for (size_t i = 0; i < a.n_entries; i++) {
                        if (!a.entries[i].key)
                                abort();
                        check_str(a.entries[i].key);
                        check_str(a.entries[i].etag);
                        same(a.entries[i].key, b.entries[i].key);
                        if (a.entries[i].size != b.entries[i].size)
                                abort();
                }
        }
        s3_xml_done(&a);
        s3_xml_done(&b);
        return 0;
}
