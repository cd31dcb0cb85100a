/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A fast compact JSON serializer for jansson values: the text is byte for
 * byte what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) of jansson 2.14
 * returns (keys in insertion order, jansson's string escaping and "%.17g"
 * reals), written into one growing buffer instead of through a callback per
 * fragment. JSON_SORT_KEYS, JSON_ENSURE_ASCII, indentation and the other
 * flags are not supported: keep json_dumps() where they are needed.
 *
 * Differences from json_dumps(): none in the text. The walk is not recursive,
 * so values nested deeper than jansson's stack allows are dumped too; a
 * cyclic value is refused (NULL) like jansson does, after a walk a few times
 * the cycle's length.
 *
 * Only jansson and libc: proto/ links this file without the engine.
 */

#include <stddef.h>

#include <jansson.h>

/* A new NUL-terminated string (free() it), or NULL when v is NULL, cyclic,
 * holds a string that is not valid UTF-8 (json_stringn_nocheck), or on OOM:
 * exactly when json_dumps() returns NULL. v is borrowed. */
char *asl_json_dumps(const json_t *v);

/* The same, and the length without the NUL in *ret_len (if not NULL; left
 * untouched on failure). The text never holds a NUL byte, and it is valid
 * UTF-8: json_stringn_nocheck() may take it. */
char *asl_json_dumpn(const json_t *v, size_t *ret_len);

/*
 * Writing a JSON text piece by piece into one growing buffer: the pieces are
 * written exactly as asl_json_dumpn() writes them, so a caller can emit an
 * object without building it (proto's messages). Errors stick: after the
 * first one the writes do nothing and asl_json_writer_finish() fails.
 *
 *   AslJsonWriter w = {};
 *   asl_json_writer_raw(&w, "{\"a\":", 5);
 *   asl_json_writer_value(&w, v);
 *   ...
 *   text = asl_json_writer_finish(&w, &len);   (NULL: w.error says why)
 */
typedef struct AslJsonWriter {
        char *buf;
        size_t len, allocated;
        int error;      /* 0, -ENOMEM, -EILSEQ (not UTF-8), -ELOOP (cyclic) */
} AslJsonWriter;

/* n bytes as they are. */
void asl_json_writer_raw(AslJsonWriter *w, const char *s, size_t n);
/* A string value: quoted and escaped; not valid UTF-8 is an error. */
void asl_json_writer_string(AslJsonWriter *w, const char *s, size_t n);
void asl_json_writer_integer(AslJsonWriter *w, json_int_t v);
/* Any value (borrowed), as asl_json_dumpn() writes it. */
void asl_json_writer_value(AslJsonWriter *w, const json_t *v);
/* The text, NUL-terminated (free() it), its length in *ret_len (if not NULL);
 * or NULL after an error. Either way w is empty again. */
char *asl_json_writer_finish(AslJsonWriter *w, size_t *ret_len);

/* The length of asl_json_dumps(v) without building it: 0 for NULL, SIZE_MAX
 * where asl_json_dumps() would return NULL (except for OOM, which cannot
 * happen here). */
size_t asl_json_size(const json_t *v);

/* Depth of a JSON value (scalars are 1). Stops counting past `limit`, so the
 * recursion is at most limit + 1 deep. */
size_t asl_json_depth(const json_t *v, size_t limit);

/* The length of the valid UTF-8 sequence at p (lead byte >= 0x80, avail
 * bytes from p), or 0 if it is not one: no overlong forms, no surrogates, at
 * most U+10FFFF (jansson's rules). */
size_t asl_utf8_sequence(const unsigned char *p, size_t avail);
