/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Values as imgflow.conf, IMGFLOW_* variables and command-line flags write
 * them (docs/configuration.md). The whole string must be the value; each
 * returns 0, or -EINVAL (not such a value) / -ERANGE (too large), with *ret
 * untouched on failure.
 *
 *   bool      true/false, yes/no, on/off, 1/0 (any case)
 *   int       a decimal int64 ("-42"; no spaces, no '+' needed)
 *   duration  "500ms", "30s", "5m" or "5min", "2h", "7d", "1w" and
 *             combinations ("1h30m"); a bare number is seconds; in ms
 *   size      "4096", "256KiB" or "256K" (1024), "1MB" (10^6), up to TiB/TB;
 *             a space may come before the unit; in bytes
 */

#include <stdbool.h>
#include <stdint.h>

int parse_bool(const char *s, bool *ret);
int parse_int(const char *s, int64_t *ret);
int parse_duration_ms(const char *s, uint64_t *ret);
int parse_size(const char *s, uint64_t *ret);
