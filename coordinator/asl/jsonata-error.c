/* SPDX-License-Identifier: MIT */
/*
 * Evaluation errors: the reference implementation's messages by code (with
 * the token and values filled in), the longjmp back to the evaluation's
 * entry, and the step budget. An error's value is written in a message only
 * as a string or number, so building the message never needs a deep walk.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "jsonata-internal.h"

static const struct {
        const char *code, *text;
} messages[] = {
        {"T0410", "Argument %i of function %t does not match function signature"},
        {"T0411", "Context value is not a compatible type with argument %i of function %t"},
        {"T0412", "Argument %i of function %t must be an array of %y"},
        {"D1001", "Number out of range: %v"},
        {"D1002", "Cannot negate a non-numeric value: %v"},
        {"T1003", "Key in object structure must evaluate to a string; got: %v"},
        {"D1004", "Regular expression matches zero length string"},
        {"T1005", "Attempted to invoke a non-function. Did you mean ${%t}?"},
        {"T1006", "Attempted to invoke a non-function"},
        {"T1007", "Attempted to partially apply a non-function. Did you mean ${%t}?"},
        {"T1008", "Attempted to partially apply a non-function"},
        {"D1009", "Multiple key definitions evaluate to same key: %v"},
        {"T1010", "The matcher function argument passed to function %t does not return the correct object "
                  "structure"},
        {"T2001", "The left side of the %t operator must evaluate to a number"},
        {"T2002", "The right side of the %t operator must evaluate to a number"},
        {"T2003", "The left side of the range operator (..) must evaluate to an integer"},
        {"T2004", "The right side of the range operator (..) must evaluate to an integer"},
        {"T2006", "The right side of the function application operator ~> must be a function"},
        {"T2007", "Type mismatch when comparing values %v and %w in order-by clause"},
        {"T2008", "The expressions within an order-by clause must evaluate to numeric or string values"},
        {"T2009", "The values %v and %w either side of operator %t must be of the same data type"},
        {"T2010", "The expressions either side of operator %t must evaluate to numeric or string values"},
        {"T2011", "The insert/update clause of the transform expression must evaluate to an object: %v"},
        {"T2012", "The delete clause of the transform expression must evaluate to a string or array of "
                  "strings: %v"},
        {"T2013", "The transform expression clones the input object using the $clone() function.  This has "
                  "been overridden in the current scope by a non-function."},
        {"D2014", "The size of the sequence allocated by the range operator (..) must not exceed 1e7.  "
                  "Attempted to allocate %v."},
        {"D3001", "Attempting to invoke string function on Infinity or NaN"},
        {"D3010", "Second argument of replace function cannot be an empty string"},
        {"D3011", "Fourth argument of replace function must evaluate to a positive number"},
        {"D3012", "Attempted to replace a matched string with a non-string value"},
        {"D3020", "Third argument of split function must evaluate to a positive number"},
        {"D3030", "Unable to cast value to a number: %v"},
        {"D3040", "Third argument of match function must evaluate to a positive number"},
        {"D3050", "The second argument of reduce function must be a function with at least two arguments"},
        {"D3060", "The sqrt function cannot be applied to a negative number: %v"},
        {"D3061", "The power function has resulted in a value that cannot be represented as a JSON number: "
                  "base=%v, exponent=%w"},
        {"D3070", "The single argument form of the sort function can only be applied to an array of strings "
                  "or an array of numbers.  Use the second argument to specify a comparison function"},
        {"D3100", "The radix of the formatBase function must be between 2 and 36.  It was given %v"},
        {"D3110", "The argument of the toMillis function must be an ISO 8601 formatted timestamp. Given %v"},
        {"D3120", "Syntax error in expression passed to function eval: %v"},
        {"D3121", "Dynamic error evaluating the expression passed to function eval: %v"},
        {"D3137", "%v"},
        {"D3138", "The $single() function expected exactly 1 matching result.  Instead it matched more."},
        {"D3139", "The $single() function expected exactly 1 matching result.  Instead it matched 0."},
        {"D3141", "%v"},
};

static void message_value(JnEval *ev, JnBuf *b, const JnValue *v) {
        if (!v) {
                jn_buf_puts(b, "undefined");
                return;
        }
        if (v->type == JN_STRING)
                jn_buf_put(b, v->str.s, v->str.len);
        else if (v->type == JN_FUNCTION)
                jn_buf_puts(b, "function");
        else if (v->type == JN_NUMBER) {
                char num[40];
                jsonata_format_number(v->num, num, sizeof(num));
                jn_buf_puts(b, num);
        } else if (v->type == JN_ARRAY || v->type == JN_OBJECT)
                jn_buf_puts(b, v->type == JN_ARRAY ? "array" : "object");
        else {
                JnValue *s = jn_stringify(ev, v, false);
                jn_buf_put(b, s->str.s, s->str.len);
        }
}

static _Noreturn void throw_error(JnEval *ev, const char *code, const char *token, const char *text) {
        JsonataError *e = ev->err;
        jsonata_error_clear(e);
        snprintf(e->code, sizeof(e->code), "%s", code);
        e->message = xstrdup(text);
        e->token = token ? xstrdup(token) : NULL;
        e->position = ev->current ? ev->current->position : -1;
        longjmp(ev->jmp, 1);
}

/* The message from the table with %t token, %v value, %w value2, %i index,
 * %y type. Values are limited to a few hundred bytes in a message. */
static _Noreturn void throw_fmt(JnEval *ev, const char *code, const char *token, const JnValue *v,
                                const JnValue *v2, int index, const char *type) {
        const char *text = NULL;
        char out[1024];
        size_t n = 0;

        ev->arena.limit = 0; /* the message may need memory after U1002 */
        for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
                if (strcmp(messages[i].code, code) == 0)
                        text = messages[i].text;
        if (!text)
                text = code;
        for (const char *c = text; *c && n + 1 < sizeof(out); c++) {
                JnBuf b = {.ev = ev};
                if (c[0] != '%') {
                        out[n++] = *c;
                        continue;
                }
                c++;
                switch (*c) {
                case 't':
                        jn_buf_puts(&b, token ? token : "");
                        break;
                case 'v':
                        message_value(ev, &b, v);
                        break;
                case 'w':
                        message_value(ev, &b, v2);
                        break;
                case 'i':
                        jn_buf_printf(&b, "%d", index);
                        break;
                case 'y':
                        jn_buf_puts(&b, type ? type : "");
                        break;
                }
                size_t l = b.len < 300 ? b.len : 300;
                if (n + l + 1 > sizeof(out))
                        l = sizeof(out) - n - 1;
                memcpy(out + n, b.s ? b.s : "", l);
                n += l;
        }
        out[n] = 0;
        throw_error(ev, code, token, out);
}

void jn_throw_code2(JnEval *ev, const char *code, const char *token, const JnValue *v, const JnValue *v2) {
        throw_fmt(ev, code, token, v, v2, 0, NULL);
}

void jn_throw_code(JnEval *ev, const char *code, const char *token, const JnValue *value) {
        throw_fmt(ev, code, token, value, NULL, 0, NULL);
}

void jn_throw(JnEval *ev, const char *code, const char *token, const JnValue *value, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        (void) value;
        ev->arena.limit = 0;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        throw_error(ev, code, token, buf);
}

/* Used by the signature checks. */
void jn_throw_arg(JnEval *ev, const char *code, const char *token, const JnValue *value, int index,
                  const char *type) {
        throw_fmt(ev, code, token, value, NULL, index, type);
}

void jn_step(JnEval *ev, uint64_t n) {
        ev->steps += n;
        if (ev->steps > ev->max_steps)
                jn_throw(ev, "U1001", NULL, NULL,
                         "Expression evaluation timeout: it took more than the limit of %llu steps",
                         (unsigned long long) ev->max_steps);
}
