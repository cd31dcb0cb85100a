/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The description of an ICC profile, for image.metadata: the 'desc' tag of
 * the profile's tag table, as an ICC v2 'desc' (ASCII) or v4 'mluc' (the
 * first record, UTF-16BE) element; other characters than printable ASCII
 * become '?', at most 255 of them.
 *
 * The bytes are untrusted (embedded in an uploaded image): every offset and
 * length is checked against n before it is used, and the work is bounded
 * (at most 256 tag entries looked at). tests/fuzz/fuzz-icc.c fuzzes it.
 * Written here rather than taken from LittleCMS (cmsGetProfileInfoASCII()
 * reads the same tag): libvips links LittleCMS internally, but the worker
 * does not, and opening a whole profile to read one string is more code
 * than the 50 lines below.
 */

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A new JSON string, or NULL when the profile has no readable 'desc' tag
 * (or is too short, or malformed). data: n bytes, borrowed. */
json_t *icc_description(const uint8_t *data, size_t n);
