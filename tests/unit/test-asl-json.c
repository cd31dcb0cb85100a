/* SPDX-License-Identifier: MIT */
/*
 * asl_json_dumps() against jansson's json_dumps(JSON_COMPACT | JSON_ENCODE_ANY):
 * hand-written edge cases, then many random documents from a seeded PRNG.
 */
#include <errno.h>
#include <float.h>
#include <stdint.h>

#include "test.h"
#include "asl-json.h"

#define JANSSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static bool streq_or_report(const char *want, const char *got) {
        if (strcmp(want, got) == 0)
                return true;
        fprintf(stderr, "  jansson: %s\n  asl:     %s\n", want, got);
        return false;
}

/* asl_json_dumps(v) == json_dumps(v), both NULL or the same bytes; and the
 * length and asl_json_size() agree. Takes a reference to v. */
static bool same_as_jansson(json_t *v) {
        char *want = json_dumps(v, JANSSON_FLAGS);
        size_t len = 0;
        char *got = asl_json_dumpn(v, &len);
        bool ok;

        if (!want || !got)
                ok = !want && !got && asl_json_size(v) == (v ? SIZE_MAX : 0);
        else
                ok = streq_or_report(want, got) && len == strlen(got) && asl_json_size(v) == len;
        free(want);
        free(got);
        json_decref(v);
        return ok;
}

TEST(scalars) {
        ASSERT_TRUE(same_as_jansson(json_null()));
        ASSERT_TRUE(same_as_jansson(json_true()));
        ASSERT_TRUE(same_as_jansson(json_false()));
        ASSERT_TRUE(same_as_jansson(json_integer(0)));
        ASSERT_TRUE(same_as_jansson(json_integer(-1)));
        ASSERT_TRUE(same_as_jansson(json_integer(9)));
        ASSERT_TRUE(same_as_jansson(json_integer(10)));
        ASSERT_TRUE(same_as_jansson(json_integer(99)));
        ASSERT_TRUE(same_as_jansson(json_integer(100)));
        ASSERT_TRUE(same_as_jansson(json_integer(-1000)));
        ASSERT_TRUE(same_as_jansson(json_integer(INT64_MAX)));
        ASSERT_TRUE(same_as_jansson(json_integer(INT64_MIN)));
        ASSERT_TRUE(same_as_jansson(json_integer(INT64_MIN + 1)));
        ASSERT_TRUE(same_as_jansson(json_string("")));
        ASSERT_TRUE(same_as_jansson(json_string("plain")));
        ASSERT_TRUE(same_as_jansson(json_array()));
        ASSERT_TRUE(same_as_jansson(json_object()));
}

TEST(reals) {
        static const double reals[] = {
                0.0, -0.0, 0.1, 0.5, 1.0, -1.0, 100.0, 3.14, 1e300, -1e300, 5e-324, DBL_MIN, DBL_MAX,
                -DBL_MAX, 123456789012345678.0, 1e15, 1e16, 1e17, 1e21, 1e22, 1e-4, 1e-5, 0.0001,
                1.5e-7, 2.5e-300, 12345.678, 1.0 / 3.0, 2.0 / 3.0, 9007199254740993.0, 4294967296.0,
        };

        for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
                ASSERT_TRUE(same_as_jansson(json_real(reals[i])));
                ASSERT_TRUE(same_as_jansson(json_real(-reals[i])));
        }
        /* The texts themselves, for the reader. */
        json_t *r = json_real(0.1);
        char *s = asl_json_dumps(r);
        ASSERT_STR_EQ(s, "0.10000000000000001");
        free(s);
        json_real_set(r, 1e300);
        s = asl_json_dumps(r);
        ASSERT_STR_EQ(s, "1.0000000000000001e300");
        free(s);
        json_real_set(r, 100.0);
        s = asl_json_dumps(r);
        ASSERT_STR_EQ(s, "100.0");
        free(s);
        json_real_set(r, -0.0);
        s = asl_json_dumps(r);
        ASSERT_STR_EQ(s, "-0.0");
        free(s);
        json_real_set(r, 1e-5);
        s = asl_json_dumps(r);
        ASSERT_STR_EQ(s, "1.0000000000000001e-5");
        free(s);
        json_decref(r);
}

TEST(string_escapes) {
        char all[256];

        /* Every byte below 0x80, one string each and all together. */
        for (int c = 1; c < 0x80; c++) {
                char one[2] = { (char) c, 0 };
                ASSERT_TRUE(same_as_jansson(json_string(one)));
                all[c - 1] = (char) c;
        }
        all[0x7f] = 0;
        ASSERT_TRUE(same_as_jansson(json_string(all)));

        ASSERT_TRUE(same_as_jansson(json_string("\"\\/\b\f\n\r\t\x01\x1f\x7f")));
        ASSERT_TRUE(same_as_jansson(json_string("line\u2028sep\u2029para")));
        ASSERT_TRUE(same_as_jansson(json_string("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf")));
        ASSERT_TRUE(same_as_jansson(json_stringn("a\0b", 3)));
        ASSERT_TRUE(same_as_jansson(json_stringn("\0", 1)));
        ASSERT_TRUE(same_as_jansson(json_stringn("\0\0\0\0\0\0\0\0\0\0", 10)));
        /* Clean runs of every length around the 8-byte word. */
        for (size_t n = 0; n < 40; n++) {
                char buf[64];
                for (size_t at = 0; at <= n; at++) {
                        memset(buf, 'x', n);
                        buf[n] = 0;
                        if (at < n)
                                buf[at] = '"';
                        ASSERT_TRUE(same_as_jansson(json_string(buf)));
                }
        }

        json_t *s = json_string("a\"b\\c\nd\x01");
        char *t = asl_json_dumps(s);
        ASSERT_STR_EQ(t, "\"a\\\"b\\\\c\\nd\\u0001\"");
        free(t);
        json_string_set(s, "\x1f\x7f/");
        t = asl_json_dumps(s);
        ASSERT_STR_EQ(t, "\"\\u001F\x7f/\"");
        free(t);
        json_decref(s);
}

/* Strings that are not valid UTF-8 can only be made with the _nocheck
 * functions: jansson refuses to dump them as values, and writes part of a
 * bad key and goes on. */
TEST(invalid_utf8) {
        static const char *const bad[] = {
                "\xff", "\x80", "a\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                "\xf5\x80\x80\x80", "\xc3", "ab\xe2\x82", "\"q\"\xf0\x9f\x98", "x\ny\xfe", "long clean run \xc3(",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                json_t *o = json_object(), *a = json_array();

                ASSERT_TRUE(same_as_jansson(json_string_nocheck(bad[i])));
                json_array_append_new(a, json_string_nocheck(bad[i]));
                ASSERT_TRUE(same_as_jansson(a));
                json_object_set_new_nocheck(o, bad[i], json_integer(1));
                json_object_set_new(o, "next", json_string("ok"));
                ASSERT_TRUE(same_as_jansson(o));
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

        char *s = asl_json_dumps(o);
        ASSERT_STR_EQ(s, "{\"a\":4,\"m\":{},\"e\":[],\"z\":3,\"k\\u0000ey\":null,\"esc\\\"aped\\n\":true}");
        free(s);
        ASSERT_TRUE(same_as_jansson(o));

        ASSERT_TRUE(same_as_jansson(json_pack("[[],{},[[]],[{}],{\"a\":[]},[1,[2,[3]]],{\"a\":{\"b\":{}}}]")));
}

TEST(null_and_cycles) {
        ASSERT_NULL(asl_json_dumps(NULL));
        ASSERT_INT_EQ(asl_json_size(NULL), 0);

        /* a -> b -> a, and a longer cycle below a tree. */
        json_t *a = json_array(), *b = json_object();
        json_array_append_new(a, json_integer(1));
        json_array_append(a, b);
        json_object_set(b, "a", a);
        ASSERT_NULL(asl_json_dumps(a));
        ASSERT_INT_EQ(asl_json_size(a), SIZE_MAX);
        ASSERT_NULL(json_dumps(a, JANSSON_FLAGS));
        json_object_del(b, "a"); /* break it */
        ASSERT_TRUE(same_as_jansson(json_incref(a)));
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
                        ASSERT_NULL(asl_json_dumps(root));
                        ASSERT_NULL(json_dumps(root, JANSSON_FLAGS));
                        ASSERT_INT_EQ(asl_json_size(root), SIZE_MAX);
                        /* Break the cycle so everything is freed. */
                        if (json_is_array(cur))
                                json_array_remove(cur, json_array_size(cur) - 1);
                        else
                                json_object_del(cur, "k");
                        json_decref(root);
                }

        /* A DAG (a value shared twice) is not a cycle. */
        json_t *shared = json_pack("{s:[i,i]}", "x", 1, 2);
        ASSERT_TRUE(same_as_jansson(json_pack("[O,O,{s:O}]", shared, shared, "again", shared)));
        json_decref(shared);
}

TEST(deep_nesting) {
        /* Deeper than the inline frames of the walk, within what jansson's
         * recursion manages. */
        json_t *root = json_array(), *cur = root;

        for (int i = 0; i < 5000; i++) {
                json_t *next = i % 2 ? json_array() : json_object();
                if (json_is_array(cur)) {
                        json_array_append_new(cur, json_integer(i));
                        json_array_append_new(cur, next);
                } else
                        json_object_set_new(cur, "k", next);
                cur = next;
        }
        ASSERT_TRUE(same_as_jansson(root));

        /* Far deeper, not compared with jansson (its recursion may not cope):
         * just no crash and the right length. */
        enum { DEEP = 200000 };
        json_t **nodes = malloc(DEEP * sizeof(json_t *));
        ASSERT_NOT_NULL(nodes);
        nodes[0] = json_array();
        for (int i = 1; i < DEEP; i++) {
                nodes[i] = json_array();
                json_array_append_new(nodes[i - 1], nodes[i]);
        }
        size_t len = 0;
        char *s = asl_json_dumpn(nodes[0], &len);
        ASSERT_NOT_NULL(s);
        ASSERT_INT_EQ(len, 2 * DEEP);
        ASSERT_INT_EQ(s[DEEP - 1], '[');
        ASSERT_INT_EQ(s[DEEP], ']');
        ASSERT_INT_EQ(asl_json_size(nodes[0]), len);
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

        switch (rng_below(r, 4)) {
        case 0:
                return picks[rng_below(r, sizeof(picks) / sizeof(picks[0]))];
        case 1:
                return (double) (int64_t) rng_next(r) / (double) (1 + rng_below(r, 1000000));
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

        switch (rng_below(r, 3)) {
        case 0:
                return picks[rng_below(r, sizeof(picks) / sizeof(picks[0]))];
        case 1:
                return (json_int_t) rng_next(r) >> rng_below(r, 64);
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

TEST(random_documents) {
        Rng r = { .s = 20240607 };

        for (int i = 0; i < 20000; i++) {
                json_t *v = random_value(&r, (int) rng_below(&r, 7));
                if (!same_as_jansson(v))
                        TEST_FAIL_("random document %d differs", i);
        }
}

/* Every single byte 0x01-0xff inside a string, with clean neighbours. */
TEST(every_byte) {
        for (int c = 1; c < 0x100; c++) {
                char buf[] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', (char) c, 'h', 0 };
                json_t *o = json_object();

                ASSERT_TRUE(same_as_jansson(json_string_nocheck(buf)));
                json_object_set_new_nocheck(o, buf, json_string_nocheck(buf + 7));
                ASSERT_TRUE(same_as_jansson(o));
        }
}

TEST(writer) {
        /* Pieces written one by one give the dump of the object they make. */
        json_t *list = json_pack("[s, i, f, {s: b}]", "x\n\"y\"", 7, 0.5, "k", 1);
        json_t *o = json_pack("{s: s, s: I, s: O}", "name", "caf\xc3\xa9\t", "n", (json_int_t) -12345678901LL,
                              "list", list);
        AslJsonWriter w = {};
        char *want, *got;
        size_t len = 0;

        asl_json_writer_raw(&w, "{", 1);
        asl_json_writer_string(&w, "name", 4);
        asl_json_writer_raw(&w, ":", 1);
        asl_json_writer_string(&w, "caf\xc3\xa9\t", 6);
        asl_json_writer_raw(&w, ",\"n\":", 5);
        asl_json_writer_integer(&w, -12345678901LL);
        asl_json_writer_raw(&w, ",\"list\":", 8);
        asl_json_writer_value(&w, list);
        asl_json_writer_raw(&w, "}", 1);
        got = asl_json_writer_finish(&w, &len);
        want = json_dumps(o, JANSSON_FLAGS);
        ASSERT_NOT_NULL(got);
        ASSERT_STR_EQ(got, want);
        ASSERT_INT_EQ(len, strlen(want));
        ASSERT_NULL(w.buf);
        free(got);
        free(want);

        /* A string that is not UTF-8 fails the text, and the error sticks. */
        asl_json_writer_raw(&w, "[", 1);
        asl_json_writer_string(&w, "a\xff", 2);
        ASSERT_INT_EQ(w.error, -EILSEQ);
        asl_json_writer_raw(&w, "]", 1);
        ASSERT_NULL(asl_json_writer_finish(&w, &len));
        ASSERT_INT_EQ(w.error, -EILSEQ);
        ASSERT_NULL(w.buf);

        /* A cycle inside a value fails it too. */
        w = (AslJsonWriter) {};
        json_t *a = json_array(), *b = json_object();
        json_array_append(a, b);
        json_object_set(b, "a", a);
        asl_json_writer_value(&w, a);
        ASSERT_NULL(asl_json_writer_finish(&w, NULL));
        ASSERT_INT_EQ(w.error, -ELOOP);
        json_object_del(b, "a");
        json_decref(a);
        json_decref(b);

        json_decref(list);
        json_decref(o);
}
