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
