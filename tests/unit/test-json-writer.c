/* SPDX-License-Identifier: MIT */
/*
 * lib/json-writer: imgflow's canonical JSON against golden bytes. Each rule
 * of json-writer.h has hand-written cases with the exact text expected;
 * generated strings are checked against a plain reference escaper written
 * from the rules; 20,000 random documents against the SHA-256 of all their
 * texts. Every text must also read back (jansson) to an equal value and
 * write again to the same bytes.
 *
 * A deliberate change of a rule changes the golden bytes here: a failure
 * prints the text written as a C literal, ready to paste.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "hash.h"
#include "macro.h"
#include "json-writer.h"
#include "test.h"

/* Prints s[0..n) as a C string literal. */
static void print_literal(const char *s, size_t n) {
        fputc('"', stderr);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '"' || c == '\\')
                        fprintf(stderr, "\\%c", c);
                else if (c >= 0x20 && c < 0x7f)
                        fputc(c, stderr);
                else
                        fprintf(stderr, "\\x%02x\"\"", c);
        }
        fputs("\"\n", stderr);
}

/* Whether some key of v holds a NUL byte: jansson does not read such a key
 * back, so such texts are checked against golden bytes only. */
static bool has_nul_key(const json_t *v) {
        const char *k;
        json_t *c;
        size_t i;

        if (json_is_object(v)) {
                void *it;
                for (it = json_object_iter((json_t *) v); it; it = json_object_iter_next((json_t *) v, it)) {
                        k = json_object_iter_key(it);
                        if (strlen(k) != json_object_iter_key_len(it) || has_nul_key(json_object_iter_value(it)))
                                return true;
                }
        } else if (json_is_array(v))
                json_array_foreach(v, i, c)
                        if (has_nul_key(c))
                                return true;
        return false;
}

/* v read back from text is equal to v, and is written again as text. */
static bool reads_back(const json_t *v, const char *text, size_t len) {
        json_t *back = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        size_t len2 = 0;
        char *again = back ? json_writer_dumpn(back, &len2) : NULL;
        bool ok = back && json_equal(back, v) && again && len2 == len && memcmp(again, text, len) == 0;

        free(again);
        json_decref(back);
        return ok;
}

/* json_writer_dumpn(v) is golden[0..golden_len) (golden NULL: the writer
 * refuses v), json_writer_size() agrees, and the text reads back unless
 * the value holds a key that is not UTF-8. Takes a reference to v. */
static bool text_is(json_t *v, const char *golden, size_t golden_len, bool read_back) {
        size_t len = 0;
        char *got = json_writer_dumpn(v, &len);
        bool ok;

        if (!golden)
                ok = !got && json_writer_size(v) == (v ? SIZE_MAX : 0);
        else
                ok = got && len == golden_len && memcmp(got, golden, len) == 0 && strlen(got) == len &&
                     json_writer_size(v) == len && (!read_back || reads_back(v, got, len));
        if (!ok) {
                fprintf(stderr, "  want: ");
                if (golden)
                        print_literal(golden, golden_len);
                else
                        fprintf(stderr, "NULL\n");
                fprintf(stderr, "  got:  ");
                if (got)
                        print_literal(got, len);
                else
                        fprintf(stderr, "NULL\n");
        }
        free(got);
        json_decref(v);
        return ok;
}
#define TEXT_IS(v, golden) text_is((v), (golden), sizeof(golden) - 1, true)
#define REFUSED(v) text_is((v), NULL, 0, false)

/* The string rules of json-writer.h, written plainly: s[0..n) quoted. */
static size_t reference_string(const char *s, size_t n, char *out) {
        size_t k = 0;

        out[k++] = '"';
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                                : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
                if (esc) {
                        memcpy(out + k, esc, 2);
                        k += 2;
                } else if (c < 0x20)
                        k += (size_t) sprintf(out + k, "\\u%04X", c);
                else
                        out[k++] = (char) c;
        }
        out[k++] = '"';
        return k;
}

/* A string value of s[0..n) (valid UTF-8) is written as the reference says. */
static bool string_as_reference(const char *s, size_t n) {
        char want[6 * 256 + 2];

        if (n > 256)
                return false;
        return text_is(json_stringn(s, n), want, reference_string(s, n, want), true);
}

TEST(scalars) {
        ASSERT_TRUE(TEXT_IS(json_null(), "null"));
        ASSERT_TRUE(TEXT_IS(json_true(), "true"));
        ASSERT_TRUE(TEXT_IS(json_false(), "false"));
        ASSERT_TRUE(TEXT_IS(json_integer(0), "0"));
        ASSERT_TRUE(TEXT_IS(json_integer(-1), "-1"));
        ASSERT_TRUE(TEXT_IS(json_integer(9), "9"));
        ASSERT_TRUE(TEXT_IS(json_integer(10), "10"));
        ASSERT_TRUE(TEXT_IS(json_integer(99), "99"));
        ASSERT_TRUE(TEXT_IS(json_integer(100), "100"));
        ASSERT_TRUE(TEXT_IS(json_integer(-1000), "-1000"));
        ASSERT_TRUE(TEXT_IS(json_integer(INT64_MAX), "9223372036854775807"));
        ASSERT_TRUE(TEXT_IS(json_integer(INT64_MIN), "-9223372036854775808"));
        ASSERT_TRUE(TEXT_IS(json_integer(INT64_MIN + 1), "-9223372036854775807"));
        ASSERT_TRUE(TEXT_IS(json_string(""), "\"\""));
        ASSERT_TRUE(TEXT_IS(json_string("plain"), "\"plain\""));
        ASSERT_TRUE(TEXT_IS(json_array(), "[]"));
        ASSERT_TRUE(TEXT_IS(json_object(), "{}"));
}

TEST(reals) {
        /* The shortest digits that read back, laid out as "%.17g" would: '.' always, ".0" when
         * neither '.' nor 'e', exponent without '+' and leading zeros. */
        ASSERT_TRUE(TEXT_IS(json_real(0.0), "0.0"));
        ASSERT_TRUE(TEXT_IS(json_real(-0.0), "-0.0"));
        ASSERT_TRUE(TEXT_IS(json_real(0.1), "0.1"));
        ASSERT_TRUE(TEXT_IS(json_real(1.1), "1.1"));
        ASSERT_TRUE(TEXT_IS(json_real(0.1 + 0.2), "0.30000000000000004"));
        ASSERT_TRUE(TEXT_IS(json_real(0.5), "0.5"));
        ASSERT_TRUE(TEXT_IS(json_real(1.0), "1.0"));
        ASSERT_TRUE(TEXT_IS(json_real(-1.0), "-1.0"));
        ASSERT_TRUE(TEXT_IS(json_real(100.0), "100.0"));
        ASSERT_TRUE(TEXT_IS(json_real(3.14), "3.14"));
        ASSERT_TRUE(TEXT_IS(json_real(-2.5), "-2.5"));
        ASSERT_TRUE(TEXT_IS(json_real(1e300), "1e300"));
        ASSERT_TRUE(TEXT_IS(json_real(-1e300), "-1e300"));
        ASSERT_TRUE(TEXT_IS(json_real(5e-324), "5e-324"));
        ASSERT_TRUE(TEXT_IS(json_real(DBL_MIN), "2.2250738585072014e-308"));
        ASSERT_TRUE(TEXT_IS(json_real(DBL_MAX), "1.7976931348623157e308"));
        ASSERT_TRUE(TEXT_IS(json_real(-DBL_MAX), "-1.7976931348623157e308"));
        ASSERT_TRUE(TEXT_IS(json_real(123456789012345678.0), "1.2345678901234568e17"));
        ASSERT_TRUE(TEXT_IS(json_real(1e15), "1000000000000000.0"));
        ASSERT_TRUE(TEXT_IS(json_real(1e16), "10000000000000000.0"));
        ASSERT_TRUE(TEXT_IS(json_real(12345678901234567.0), "12345678901234568.0"));
        ASSERT_TRUE(TEXT_IS(json_real(1e17), "1e17"));
        ASSERT_TRUE(TEXT_IS(json_real(1.5e17), "1.5e17"));
        ASSERT_TRUE(TEXT_IS(json_real(1e21), "1e21"));
        ASSERT_TRUE(TEXT_IS(json_real(1e22), "1e22"));
        ASSERT_TRUE(TEXT_IS(json_real(1e23), "1e23"));
        ASSERT_TRUE(TEXT_IS(json_real(1e-4), "0.0001"));
        ASSERT_TRUE(TEXT_IS(json_real(-1.25e-4), "-0.000125"));
        ASSERT_TRUE(TEXT_IS(json_real(1e-5), "1e-5"));
        ASSERT_TRUE(TEXT_IS(json_real(1.5e-7), "1.5e-7"));
        ASSERT_TRUE(TEXT_IS(json_real(2.5e-300), "2.5e-300"));
        ASSERT_TRUE(TEXT_IS(json_real(12345.678), "12345.678"));
        ASSERT_TRUE(TEXT_IS(json_real(1.0 / 3.0), "0.3333333333333333"));
        ASSERT_TRUE(TEXT_IS(json_real(2.0 / 3.0), "0.6666666666666666"));
        ASSERT_TRUE(TEXT_IS(json_real(9007199254740993.0), "9007199254740992.0"));
        ASSERT_TRUE(TEXT_IS(json_real(4294967296.0), "4294967296.0"));
        ASSERT_TRUE(TEXT_IS(json_real(0.1 * 3), "0.30000000000000004"));
        ASSERT_TRUE(TEXT_IS(json_real(100.0 / 3.0), "33.333333333333336"));
}

/* The shortest digits, found plainly: the first precision from 1 up whose "%.*e" reads back. */
static size_t reference_digits(double v, char *digits, int *ret_exp10) {
        char e[40];
        size_t n = 0;

        for (int prec = 1; prec <= 17; prec++) {
                snprintf(e, sizeof e, "%.*e", prec - 1, v);
                if (strtod(e, NULL) == v)
                        break;
        }
        for (const char *p = e; *p && *p != 'e'; p++)
                if (*p >= '0' && *p <= '9')
                        digits[n++] = *p;
        while (n > 1 && digits[n - 1] == '0')
                n--;
        *ret_exp10 = atoi(strchr(e, 'e') + 1);
        return n;
}

/* Random doubles (any finite bit pattern, and short decimals): the text reads back as the same
 * double and holds exactly the reference's shortest digits. */
TEST(reals_shortest) {
        uint64_t s = 0x9e3779b97f4a7c15ULL;

        for (int i = 0; i < 200000; i++) {
                char text[JSON_WRITER_REAL_MAX], want[20], got[24];
                size_t nw, ng = 0;
                int exp10;
                double d;

                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                if (i % 8 == 1)
                        d = (double) (s % 100000) * 5e-324; /* subnormals */
                else if (i % 2) {
                        memcpy(&d, &s, sizeof d);
                        if (!isfinite(d))
                                continue;
                } else
                        d = (double) (int64_t) (s % 2000001) / (double) (1 + s % 997) * (i % 4 ? 1 : 1e-9);
                ASSERT_TRUE(json_writer_format_real(d, text) < JSON_WRITER_REAL_MAX);
                ASSERT_TRUE(strtod(text, NULL) == d && signbit(strtod(text, NULL)) == signbit(d));
                nw = reference_digits(d, want, &exp10);
                for (const char *p = text; *p && *p != 'e'; p++)
                        if (*p >= '0' && *p <= '9' && (ng > 0 || *p != '0'))
                                got[ng++] = *p;
                while (ng > nw && got[ng - 1] == '0')
                        ng--;
                if (d == 0)
                        ng = nw = 0;
                if (ng != nw || memcmp(got, want, nw) != 0)
                        TEST_FAIL_("%.17g written as %s, shortest digits are %.*s", d, text, (int) nw, want);
        }
}

TEST(string_escapes) {
        char all[256];

        /* Every byte below 0x80, one string each and all together. */
        for (int c = 1; c < 0x80; c++) {
                char one[2] = { (char) c, 0 };
                ASSERT_TRUE(string_as_reference(one, 1));
                all[c - 1] = (char) c;
        }
        ASSERT_TRUE(string_as_reference(all, 0x7f));
        ASSERT_TRUE(TEXT_IS(json_string("\"\\/\b\f\n\r\t\x01\x1f\x7f"), "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001F\x7f\""));
        ASSERT_TRUE(TEXT_IS(json_string("line\u2028sep\u2029para"), "\"line\u2028sep\u2029para\""));
        ASSERT_TRUE(TEXT_IS(json_string("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"),
                            "\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\""));
        ASSERT_TRUE(TEXT_IS(json_stringn("a\0b", 3), "\"a\\u0000b\""));
        ASSERT_TRUE(TEXT_IS(json_stringn("\0", 1), "\"\\u0000\""));
        ASSERT_TRUE(string_as_reference("\0\0\0\0\0\0\0\0\0\0", 10));
        ASSERT_TRUE(TEXT_IS(json_string("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\""));
        /* Clean runs of every length around the 8-byte word. */
        for (size_t n = 0; n < 40; n++) {
                char buf[64];
                for (size_t at = 0; at <= n; at++) {
                        memset(buf, 'x', n);
                        if (at < n)
                                buf[at] = '"';
                        ASSERT_TRUE(string_as_reference(buf, n));
                }
        }
}

/* Strings that are not valid UTF-8 can only be made with the _nocheck
 * functions: as a value they fail the text; as a key the text goes on. */
TEST(invalid_utf8) {
        static const char *const bad[] = {
                "\xff", "\x80", "a\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                "\xf5\x80\x80\x80", "\xc3", "ab\xe2\x82", "\"q\"\xf0\x9f\x98", "x\ny\xfe", "long clean run \xc3(",
        };
        /* The key is written up to its last escape before the bad byte (and
         * without its closing quote), as jansson 2.14 did. */
        static const char *const objects[] = {
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
                "{\"\\\"q\\\":1,\"next\":\"ok\"}",
                "{\"x\\n:1,\"next\":\"ok\"}",
                "{\":1,\"next\":\"ok\"}",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                json_t *o = json_object(), *a = json_array();

                ASSERT_TRUE(REFUSED(json_string_nocheck(bad[i])));
                json_array_append_new(a, json_string_nocheck(bad[i]));
                ASSERT_TRUE(REFUSED(a));
                json_object_set_new_nocheck(o, bad[i], json_integer(1));
                json_object_set_new(o, "next", json_string("ok"));
                ASSERT_TRUE(text_is(o, objects[i], strlen(objects[i]), /* read_back= */ false));
        }
}

TEST(objects) {
        json_t *o = json_object();

        /* Insertion order, also after a delete and a re-insert. */
        json_object_set_new(o, "z", json_integer(1));
        json_object_set_new(o, "a", json_integer(2));
        json_object_set_new(o, "m", json_object());
        json_object_set_new(o, "e", json_array());
        json_object_del(o, "z");
        json_object_set_new(o, "z", json_integer(3));
        json_object_set_new(o, "a", json_integer(4)); /* replaced in place */
        json_object_setn_new(o, "k\0ey", 4, json_null());
        json_object_set_new(o, "esc\"aped\n", json_true());
        /* (jansson reads no key with a NUL byte back: not read back.) */
        static const char want[] = "{\"a\":4,\"m\":{},\"e\":[],\"z\":3,\"k\\u0000ey\":null,\"esc\\\"aped\\n\":true}";
        ASSERT_TRUE(text_is(o, want, sizeof want - 1, /* read_back= */ false));

        ASSERT_TRUE(TEXT_IS(json_loads("[[], {}, [[]], [{}], {\"a\": []}, [1, [2, [3]]], {\"a\": {\"b\": {}}}]", 0, NULL),
                            "[[],{},[[]],[{}],{\"a\":[]},[1,[2,[3]]],{\"a\":{\"b\":{}}}]"));
}

TEST(null_and_cycles) {
        ASSERT_NULL(json_writer_dumps(NULL));
        ASSERT_INT_EQ(json_writer_size(NULL), 0);

        /* a -> b -> a, and a longer cycle below a tree. */
        json_t *a = json_array(), *b = json_object();
        json_array_append_new(a, json_integer(1));
        json_array_append(a, b);
        json_object_set(b, "a", a);
        ASSERT_NULL(json_writer_dumps(a));
        ASSERT_INT_EQ(json_writer_size(a), SIZE_MAX);
        json_object_del(b, "a"); /* break it */
        ASSERT_TRUE(TEXT_IS(json_incref(a), "[1,{}]"));
        json_decref(a);
        json_decref(b);

        for (size_t start = 0; start < 40; start += 3)
                for (size_t period = 2; period < 70; period += 5) { /* 1: jansson refuses to make a value its own child */
                        json_t *root = json_array(), *cur = root, *loop_at = NULL, *first;

                        for (size_t i = 0; i < start + period; i++) {
                                json_t *next = i % 2 ? json_array() : json_object();
                                if (i == start)
                                        loop_at = next;
                                if (json_is_array(cur)) {
                                        json_array_append_new(cur, json_string("sib"));
                                        json_array_append_new(cur, next);
                                } else
                                        json_object_set_new(cur, "k", next);
                                cur = next;
                        }
                        first = loop_at;
                        if (json_is_array(cur))
                                json_array_append(cur, first);
                        else
                                json_object_set(cur, "k", first);
                        ASSERT_NULL(json_writer_dumps(root));
                        ASSERT_INT_EQ(json_writer_size(root), SIZE_MAX);
                        /* Break the cycle so everything is freed. */
                        if (json_is_array(cur))
                                json_array_remove(cur, json_array_size(cur) - 1);
                        else
                                json_object_del(cur, "k");
                        json_decref(root);
                }

        /* A DAG (a value shared twice) is not a cycle. */
        json_t *shared = json_pack("{s:[i,i]}", "x", 1, 2);
        ASSERT_TRUE(TEXT_IS(json_pack("[O,O,{s:O}]", shared, shared, "again", shared),
                            "[{\"x\":[1,2]},{\"x\":[1,2]},{\"again\":{\"x\":[1,2]}}]"));
        json_decref(shared);
}

TEST(deep_nesting) {
        /* Deeper than the inline frames of the walk: [0,{"k":[1,{"k":...}]}]. */
        enum { NEST = 5000 };
        json_t *root = json_array(), *cur = root;
        size_t len, k = 0;
        char *want = malloc(16 * NEST), *got;

        ASSERT_NOT_NULL(want);
        for (int i = 0; i < NEST; i++) {
                json_t *next = i % 2 ? json_array() : json_object();
                if (json_is_array(cur)) {
                        json_array_append_new(cur, json_integer(i));
                        json_array_append_new(cur, next);
                        k += (size_t) sprintf(want + k, "[%d,", i);
                } else {
                        json_object_set_new(cur, "k", next);
                        k += (size_t) sprintf(want + k, "{\"k\":");
                }
                cur = next;
        }
        k += (size_t) sprintf(want + k, "%s", json_is_array(cur) ? "[]" : "{}");
        for (int i = NEST - 1; i >= 0; i--)
                want[k++] = i % 2 ? '}' : ']';
        got = json_writer_dumpn(root, &len);
        ASSERT_NOT_NULL(got);
        ASSERT_INT_EQ(len, k);
        ASSERT_TRUE(memcmp(got, want, k) == 0);
        ASSERT_INT_EQ(json_writer_size(root), k);
        free(got);
        free(want);
        json_decref(root);

        /* Far deeper than jansson's recursion copes with: the right text and length. */
        enum { DEEP = 200000 };
        json_t **nodes = malloc(DEEP * sizeof(json_t *));
        ASSERT_NOT_NULL(nodes);
        nodes[0] = json_array();
        for (int i = 1; i < DEEP; i++) {
                nodes[i] = json_array();
                json_array_append_new(nodes[i - 1], nodes[i]);
        }
        len = 0;
        char *s = json_writer_dumpn(nodes[0], &len);
        ASSERT_NOT_NULL(s);
        ASSERT_INT_EQ(len, 2 * DEEP);
        ASSERT_INT_EQ(s[DEEP - 1], '[');
        ASSERT_INT_EQ(s[DEEP], ']');
        ASSERT_INT_EQ(json_writer_size(nodes[0]), len);
        free(s);
        /* json_decref() recurses too: take it apart from the bottom. */
        for (int i = DEEP - 1; i > 0; i--)
                json_array_clear(nodes[i - 1]);
        json_decref(nodes[0]);
        free(nodes);
}

/* ---- random documents ---- */

typedef struct Rng {
        uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r) {
        /* splitmix64 */
        uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static size_t rng_below(Rng *r, size_t n) {
        return (size_t) (rng_next(r) % n);
}

/* Appends the UTF-8 encoding of cp (valid code points only). */
static size_t utf8_put(char *p, uint32_t cp) {
        if (cp < 0x80) {
                p[0] = (char) cp;
                return 1;
        }
        if (cp < 0x800) {
                p[0] = (char) (0xc0 | (cp >> 6));
                p[1] = (char) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                p[0] = (char) (0xe0 | (cp >> 12));
                p[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                p[2] = (char) (0x80 | (cp & 0x3f));
                return 3;
        }
        p[0] = (char) (0xf0 | (cp >> 18));
        p[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        p[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        p[3] = (char) (0x80 | (cp & 0x3f));
        return 4;
}

/* Random bytes: runs of clean ASCII, any single byte 0x00-0x7f, and valid
 * multi-byte UTF-8 (U+0080-U+10FFFF without surrogates, incl. U+2028). Fills
 * buf (>= 4 * max + 4 bytes), returns the length. */
static size_t random_text(Rng *r, char *buf, size_t max) {
        size_t n = rng_below(r, max + 1), len = 0;
        static const uint32_t special[] = { 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff, 0x2028, 0x2029,
                                            0xd7ff, 0xe000, 0xfeff, 0xe9 };

        for (size_t i = 0; i < n; i++) {
                switch (rng_below(r, 6)) {
                case 0:
                case 1:
                        buf[len++] = (char) ('a' + rng_below(r, 26));
                        break;
                case 2:
                        buf[len++] = (char) rng_below(r, 0x80); /* NUL too: json_stringn */
                        break;
                case 3: {
                        uint32_t cp;
                        do
                                cp = 0x80 + (uint32_t) rng_below(r, 0x110000 - 0x80);
                        while (cp >= 0xd800 && cp <= 0xdfff);
                        len += utf8_put(buf + len, cp);
                        break;
                }
                case 4:
                        len += utf8_put(buf + len, special[rng_below(r, sizeof(special) / sizeof(special[0]))]);
                        break;
                default: {
                        static const char pick[] = "\"\\/\b\f\n\r\t\x7f {}[]:,";
                        buf[len++] = pick[rng_below(r, sizeof(pick) - 1)];
                        break;
                }
                }
        }
        return len;
}

static double random_real(Rng *r) {
        static const double picks[] = { 0.1, 1e300, -0.0, 5e-324, 1.0, 100.0, 123456789012345678.0, 0.0,
                                        -2.5, 1e-7, 1e17, 1e16, DBL_MAX, DBL_MIN };
        uint64_t bits;
        double d;

        /* One draw per statement: the order of two in one expression is the
         * compiler's, and the golden digest needs the same documents. */
        switch (rng_below(r, 4)) {
        case 0:
                return picks[rng_below(r, sizeof(picks) / sizeof(picks[0]))];
        case 1:
                d = (double) (int64_t) rng_next(r);
                return d / (double) (1 + rng_below(r, 1000000));
        case 2:
                return (double) (int32_t) rng_next(r);
        default:
                /* Any finite bit pattern. */
                do {
                        bits = rng_next(r);
                        memcpy(&d, &bits, sizeof(d));
                } while (!isfinite(d));
                return d;
        }
}

static json_int_t random_integer(Rng *r) {
        static const json_int_t picks[] = { 0, 1, -1, 9, 10, 99, 100, INT64_MAX, INT64_MIN, INT64_MAX - 1,
                                            INT64_MIN + 1, 1000000000000000000LL, -999999999999999999LL };

        json_int_t v;

        switch (rng_below(r, 3)) {
        case 0:
                return picks[rng_below(r, sizeof(picks) / sizeof(picks[0]))];
        case 1:
                v = (json_int_t) rng_next(r);
                return v >> rng_below(r, 64);
        default:
                return (json_int_t) rng_below(r, 2000) - 1000;
        }
}

static json_t *random_value(Rng *r, int depth) {
        char buf[4 * 64 + 4];
        /* Half containers while depth is left. */
        size_t kind = depth > 0 && rng_below(r, 2) ? 7 + rng_below(r, 2) : rng_below(r, 7);

        switch (kind) {
        case 0:
                return json_null();
        case 1:
                return json_boolean(rng_below(r, 2));
        case 2:
                return json_integer(random_integer(r));
        case 3:
                return json_real(random_real(r));
        case 4:
        case 5:
        case 6: {
                size_t len = random_text(r, buf, 64);
                return json_stringn(buf, len);
        }
        case 7: {
                json_t *a = json_array();
                for (size_t i = rng_below(r, 8); i > 0; i--)
                        json_array_append_new(a, random_value(r, depth - 1));
                return a;
        }
        default: {
                json_t *o = json_object();
                for (size_t i = rng_below(r, 8); i > 0; i--) {
                        size_t len = random_text(r, buf, 12);
                        json_object_setn_new(o, buf, len, random_value(r, depth - 1));
                        if (rng_below(r, 8) == 0 && json_object_size(o) > 0)
                                json_object_del(o, json_object_iter_key(json_object_iter(o)));
                }
                return o;
        }
        }
}

/* The SHA-256 of the texts of the 20,000 documents below, one after the
 * other: golden bytes for every rule at once. */
#define RANDOM_DOCUMENTS_SHA256 "2c1479935ea960455413a466a0ac77efa8c435da42487d52a9c4b87e785fcf40"

TEST(random_documents) {
        Rng r = { .s = 20240607 };
        size_t total = 0, allocated = 1 << 20;
        char *all = malloc(allocated), hex[HASH_HEX_MAX];

        ASSERT_NOT_NULL(all);
        for (int i = 0; i < 20000; i++) {
                json_t *v = random_value(&r, (int) rng_below(&r, 7));
                size_t len = 0;
                char *text = json_writer_dumpn(v, &len);

                if (!text || json_writer_size(v) != len || (!has_nul_key(v) && !reads_back(v, text, len)))
                        TEST_FAIL_("random document %d: not written, or not read back the same", i);
                while (allocated - total < len) {
                        allocated *= 2;
                        all = realloc(all, allocated);
                        ASSERT_NOT_NULL(all);
                }
                memcpy(all + total, text, len);
                total += len;
                free(text);
                json_decref(v);
        }
        hash_hex(HASH_SHA256, all, total, hex);
        free(all);
        if (!streq(hex, RANDOM_DOCUMENTS_SHA256))
                TEST_FAIL_("SHA-256 of the texts: %s, golden " RANDOM_DOCUMENTS_SHA256, hex);
}

/* Every single byte 0x01-0xff inside a string, with clean neighbours: as a
 * value and as a key, as the reference says (UTF-8 lead and continuation
 * bytes alone are not UTF-8: refused as values; as keys written up to the
 * bad byte). */
TEST(every_byte) {
        for (int c = 1; c < 0x100; c++) {
                char buf[] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', (char) c, 'h', 0 };
                char want[64];
                json_t *o = json_object();
                size_t k;

                json_object_set_new_nocheck(o, buf, json_string_nocheck(buf + 7));
                if (c < 0x80) {
                        ASSERT_TRUE(string_as_reference(buf, 9));
                        want[0] = '{';
                        k = 1 + reference_string(buf, 9, want + 1);
                        want[k++] = ':';
                        k += reference_string(buf + 7, 2, want + k);
                        want[k++] = '}';
                        ASSERT_TRUE(text_is(o, want, k, true));
                } else {
                        ASSERT_TRUE(REFUSED(json_string_nocheck(buf)));
                        ASSERT_TRUE(REFUSED(o));
                }
        }
}

TEST(writer) {
        /* Pieces written one by one give the text of the object they make. */
        json_t *list = json_pack("[s, i, f, {s: b}]", "x\n\"y\"", 7, 0.5, "k", 1);
        JsonWriter w = {};
        char *got;
        size_t len = 0;

        json_writer_raw(&w, "{", 1);
        json_writer_string(&w, "name", 4);
        json_writer_raw(&w, ":", 1);
        json_writer_string(&w, "caf\xc3\xa9\t", 6);
        json_writer_raw(&w, ",\"n\":", 5);
        json_writer_integer(&w, -12345678901LL);
        json_writer_raw(&w, ",\"list\":", 8);
        json_writer_value(&w, list);
        json_writer_raw(&w, "}", 1);
        got = json_writer_finish(&w, &len);
        ASSERT_NOT_NULL(got);
        ASSERT_STR_EQ(got, "{\"name\":\"caf\xc3\xa9\\t\",\"n\":-12345678901,\"list\":[\"x\\n\\\"y\\\"\",7,0.5,{\"k\":true}]}");
        ASSERT_INT_EQ(len, strlen(got));
        ASSERT_NULL(w.buf);
        free(got);

        /* A string that is not UTF-8 fails the text, and the error sticks. */
        json_writer_raw(&w, "[", 1);
        json_writer_string(&w, "a\xff", 2);
        ASSERT_INT_EQ(w.error, -EILSEQ);
        json_writer_raw(&w, "]", 1);
        ASSERT_NULL(json_writer_finish(&w, &len));
        ASSERT_INT_EQ(w.error, -EILSEQ);
        ASSERT_NULL(w.buf);

        /* A cycle inside a value fails it too. */
        w = (JsonWriter) {};
        json_t *a = json_array(), *b = json_object();
        json_array_append(a, b);
        json_object_set(b, "a", a);
        json_writer_value(&w, a);
        ASSERT_NULL(json_writer_finish(&w, NULL));
        ASSERT_INT_EQ(w.error, -ELOOP);
        json_object_del(b, "a");
        json_decref(a);
        json_decref(b);

        json_decref(list);
}
