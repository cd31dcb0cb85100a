/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * imgflow's canonical JSON: the one way every part of imgflow writes a JSON
 * text (execution documents, history events, commit ops, every message), so
 * the same value always gives the same bytes. Written into one growing
 * buffer, without a callback per fragment (~6x faster than json_dumps()).
 *
 * The canonical form (tests/unit/test-json-writer.c holds golden bytes of
 * each rule):
 *   - compact: no white space outside strings;
 *   - object members in insertion order (json_object_iter), keys with NUL
 *     bytes too;
 *   - strings: '"' and '\\' escaped, \b \f \n \r \t, other bytes below
 *     0x20 as \u00XX (upper-case hex); 0x7f, '/', U+2028/U+2029 and all
 *     other UTF-8 as it is. A string value that is not valid UTF-8 fails
 *     the text; a key that is not valid UTF-8 is written up to its last
 *     escape before the bad byte and the text goes on;
 *   - integers as "%lld"; reals in their shortest round-trip form: the
 *     fewest significant digits that read back as the same double (1.1 is
 *     "1.1", not "1.1000000000000001"), laid out as "%.17g" lays out digits
 *     (scientific below 1e-4 and from 1e17), '.' as the decimal point, ".0"
 *     added when there is neither '.' nor 'e', the exponent without '+' and
 *     leading zeros ("1e300"). This is what Step Functions prints (Java's
 *     shortest-digit doubles), in the layout imgflow always had.
 * Every text reads back (json_loadb) to a value equal to the one written,
 * and writing that again gives the same bytes (the unit test and fuzz-json
 * check both). The rules were those of json_dumps(v, JSON_COMPACT |
 * JSON_ENCODE_ANY) of jansson 2.14 when this writer replaced it (reals then
 * were "%.17g"), but the
 * contract is the rules and the golden bytes, not jansson's printer: a
 * change of a rule is a change of the golden bytes, made on purpose.
 * JSON_SORT_KEYS, JSON_ENSURE_ASCII, indentation and the other json_dumps()
 * flags are not offered: keep json_dumps() where they are needed.
 *
 * The walk is not recursive, so values nested deeper than jansson's own
 * recursion allows are written too; a cyclic value is refused (NULL), after
 * a walk a few times the cycle's length.
 *
 * Out of memory: NULL or w->error = -ENOMEM (lib/alloc-util.h); never aborts.
 */

#include <stddef.h>

#include <jansson.h>

/* A new NUL-terminated string (free() it), or NULL when v is NULL, cyclic,
 * holds a string that is not valid UTF-8 (json_stringn_nocheck), or on OOM.
 * v is borrowed. */
char *json_writer_dumps(const json_t *v);

/* The same, and the length without the NUL in *ret_len (if not NULL; left
 * untouched on failure). The text never holds a NUL byte, and it is valid
 * UTF-8: json_stringn_nocheck() may take it. */
char *json_writer_dumpn(const json_t *v, size_t *ret_len);

/*
 * Writing a JSON text piece by piece into one growing buffer: the pieces are
 * written exactly as json_writer_dumpn() writes them, so a caller can emit an
 * object without building it (proto's messages). Errors stick: after the
 * first one the writes do nothing and json_writer_finish() fails.
 *
 *   JsonWriter w = {};
 *   json_writer_raw(&w, "{\"a\":", 5);
 *   json_writer_value(&w, v);
 *   ...
 *   text = json_writer_finish(&w, &len);   (NULL: w.error says why)
 */
typedef struct JsonWriter {
        char *buf;
        size_t len, allocated;
        int error;      /* 0, -ENOMEM, -EILSEQ (not UTF-8), -ELOOP (cyclic) */
} JsonWriter;

/* n bytes as they are. */
void json_writer_raw(JsonWriter *w, const char *s, size_t n);
/* A string value: quoted and escaped; not valid UTF-8 is an error. */
void json_writer_string(JsonWriter *w, const char *s, size_t n);
void json_writer_integer(JsonWriter *w, json_int_t v);
/* Any value (borrowed), as json_writer_dumpn() writes it. */
void json_writer_value(JsonWriter *w, const json_t *v);
/* The text, NUL-terminated (free() it), its length in *ret_len (if not NULL);
 * or NULL after an error. Either way w is empty again. */
char *json_writer_finish(JsonWriter *w, size_t *ret_len);

/* A real as the canonical form writes it, into buf (at least
 * JSON_WRITER_REAL_MAX bytes, NUL-terminated). Returns the length. v must be
 * finite (jansson holds no other reals). */
#define JSON_WRITER_REAL_MAX 32
size_t json_writer_format_real(double v, char *buf);

/* The length of json_writer_dumps(v) without building it: 0 for NULL, SIZE_MAX
 * where json_writer_dumps() would return NULL (except for OOM, which cannot
 * happen here). */
size_t json_writer_size(const json_t *v);

/* Depth of a JSON value (scalars are 1). Stops counting past `limit`, so the
 * recursion is at most limit + 1 deep. */
size_t json_depth(const json_t *v, size_t limit);

/* The length of the valid UTF-8 sequence at p (lead byte >= 0x80, avail
 * bytes from p), or 0 if it is not one: no overlong forms, no surrogates, at
 * most U+10FFFF (jansson's rules). */
size_t utf8_sequence(const unsigned char *p, size_t avail);
