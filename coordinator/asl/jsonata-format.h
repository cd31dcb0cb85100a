/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Shared by jsonata-format.c and jsonata-datetime.c: strings as code point
 * arrays, and the integer pictures of $formatInteger that the date/time
 * pictures use for their numeric components.
 */

#include "jsonata-internal.h"

typedef struct Cp {
        uint32_t *c;
        size_t n, cap;
} Cp;

void cp_push(JnEval *ev, Cp *s, uint32_t c);
Cp cp_from(JnEval *ev, const char *s, size_t len);
Cp cp_sub(Cp s, size_t from, size_t to);
ssize_t cp_index(Cp s, uint32_t c, size_t from);
ssize_t cp_last(Cp s, uint32_t c);
JnValue *cp_value(JnEval *ev, Cp s);
void cp_append(JnEval *ev, Cp *d, Cp s);
void cp_insert(JnEval *ev, Cp *s, size_t at, uint32_t c);

enum { F_DECIMAL, F_LETTERS, F_ROMAN, F_WORDS, F_SEQUENCE };
enum { C_LOWER, C_UPPER, C_TITLE };

typedef struct IntFormat {
        int primary, tcase;
        bool ordinal;
        uint32_t zero;
        size_t mandatory, optional;
        bool regular;
        size_t regular_pos;
        uint32_t regular_char;
        struct {
                size_t position;
                uint32_t c;
        } seps[32];
        size_t nseps;
        Cp token;
} IntFormat;

IntFormat *jn_analyse_integer_picture(JnEval *ev, Cp picture);
JnValue *jn_format_integer(JnEval *ev, double value, const IntFormat *f);
JnValue *jn_parse_integer(JnEval *ev, JnValue *v, const IntFormat *f);
void jn_words_regex(JnBuf *b);
