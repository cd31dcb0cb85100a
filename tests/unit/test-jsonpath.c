/* SPDX-License-Identifier: MIT */
#include "test.h"
#include "asl-jsonpath.h"

/* The classic Goessner/Jayway example document. */
static const char store_json[] =
        "{\"store\":{"
        "\"book\":["
        "{\"category\":\"reference\",\"author\":\"Nigel Rees\",\"title\":\"Sayings of the Century\",\"price\":8.95},"
        "{\"category\":\"fiction\",\"author\":\"Evelyn Waugh\",\"title\":\"Sword of Honour\",\"price\":12.99},"
        "{\"category\":\"fiction\",\"author\":\"Herman Melville\",\"title\":\"Moby Dick\",\"isbn\":\"0-553-21311-3\",\"price\":8.99},"
        "{\"category\":\"fiction\",\"author\":\"J. R. R. Tolkien\",\"title\":\"The Lord of the Rings\",\"isbn\":\"0-395-19395-8\",\"price\":22.99}"
        "],"
        "\"bicycle\":{\"color\":\"red\",\"price\":19.95}"
        "},"
        "\"expensive\":10,"
        "\"a b\":{\"it's\":1,\"x.y\":2},"
        "\"nums\":[0,1,2,3,4,5,6,7,8,9],"
        "\"tag\":\"x\"}";

static json_t *load(const char *s) {
        json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
        if (!v)
                abort();
        return v;
}

/* Evaluate and compare with expected JSON text; returns nothing, asserts. */
#define EXPECT_EVAL(doc, path, expected)                                \
        do {                                                            \
                json_t *r_ = NULL;                                      \
                int rc_ = jsonpath_eval((doc), (path), &r_);            \
                if (rc_ != 0)                                           \
                        TEST_FAIL_("jsonpath_eval(%s) = %d", (path), rc_); \
                ASSERT_JSON_EQ(r_, (expected));                         \
                json_decref(r_);                                        \
        } while (0)

#define EXPECT_EVAL_ERR(doc, path, err)                                 \
        do {                                                            \
                json_t *r_ = NULL;                                      \
                ASSERT_INT_EQ(jsonpath_eval((doc), (path), &r_), (err)); \
                ASSERT_NULL(r_);                                        \
        } while (0)

#define EXPECT_KIND(path, kind)                                         \
        do {                                                            \
                const char *p_ = (path);                                \
                char *m_ = NULL;                                        \
                JsonPathKind k_ = jsonpath_check(p_, &m_);              \
                if (k_ != (kind))                                       \
                        TEST_FAIL_("jsonpath_check(%s) = %d, expected %d (%s)", p_ ? p_ : "(null)", \
                                   k_, (kind), m_ ? m_ : "");           \
                if (k_ == JSONPATH_INVALID && !m_)                      \
                        TEST_FAIL_("no message for invalid %s", p_ ? p_ : "(null)"); \
                if (k_ != JSONPATH_INVALID && m_)                       \
                        TEST_FAIL_("message for valid %s", p_ ? p_ : "(null)"); \
                free(m_);                                               \
        } while (0)

TEST(check_reference_paths) {
        EXPECT_KIND("$", JSONPATH_REFERENCE);
        EXPECT_KIND("$.a", JSONPATH_REFERENCE);
        EXPECT_KIND("$.a.b.c", JSONPATH_REFERENCE);
        EXPECT_KIND("$['a b']", JSONPATH_REFERENCE);
        EXPECT_KIND("$[\"a b\"]", JSONPATH_REFERENCE);
        EXPECT_KIND("$.a[0]", JSONPATH_REFERENCE);
        EXPECT_KIND("$[0][1].x", JSONPATH_REFERENCE);
        EXPECT_KIND("$.detail-type", JSONPATH_REFERENCE);
        EXPECT_KIND("$.a_b$c", JSONPATH_REFERENCE);
        EXPECT_KIND("$.0", JSONPATH_REFERENCE);
        EXPECT_KIND("$.ünïcödé", JSONPATH_REFERENCE);
}

TEST(check_query_paths) {
        EXPECT_KIND("$.a[-1]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[*]", JSONPATH_QUERY);
        EXPECT_KIND("$.*", JSONPATH_QUERY);
        EXPECT_KIND("$.a.*.b", JSONPATH_QUERY);
        EXPECT_KIND("$.a[1:3]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[::2]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[-2:]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[:-1]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[::-1]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[0,2]", JSONPATH_QUERY);
        EXPECT_KIND("$['a','b']", JSONPATH_QUERY);
        EXPECT_KIND("$[ 'a' , 'b' ]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(@.x > 1)]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(@.price < 10 && @.tag == 'x')]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(@.isbn)]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(!@.isbn)]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?((@.x == 1 || @.y != \"z\") && !(@.z >= 2))]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(@.x == $.y)]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(@ > 1)]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(@.x == true || @.x == false || @.x == null)]", JSONPATH_QUERY);
        EXPECT_KIND("$.a[?(@.x <= -1.5e3)]", JSONPATH_QUERY);
        EXPECT_KIND("$..name", JSONPATH_QUERY);
        EXPECT_KIND("$..*", JSONPATH_QUERY);
        EXPECT_KIND("$..[0]", JSONPATH_QUERY);
        EXPECT_KIND("$..['a']", JSONPATH_QUERY);
        EXPECT_KIND("$..book[?(@.price < 10)].title", JSONPATH_QUERY);
}

TEST(check_invalid_paths) {
        EXPECT_KIND(NULL, JSONPATH_INVALID);
        EXPECT_KIND("", JSONPATH_INVALID);
        EXPECT_KIND("a.b", JSONPATH_INVALID);
        EXPECT_KIND("$.", JSONPATH_INVALID);
        EXPECT_KIND("$..", JSONPATH_INVALID);
        EXPECT_KIND("$.a.", JSONPATH_INVALID);
        EXPECT_KIND("$a", JSONPATH_INVALID);
        EXPECT_KIND("$[", JSONPATH_INVALID);
        EXPECT_KIND("$[]", JSONPATH_INVALID);
        EXPECT_KIND("$[0", JSONPATH_INVALID);
        EXPECT_KIND("$['a", JSONPATH_INVALID);
        EXPECT_KIND("$['a'", JSONPATH_INVALID);
        EXPECT_KIND("$['a\\", JSONPATH_INVALID);
        EXPECT_KIND("$[a]", JSONPATH_INVALID);
        EXPECT_KIND("$[-]", JSONPATH_INVALID);
        EXPECT_KIND("$[1:2:0]", JSONPATH_INVALID);
        EXPECT_KIND("$[0,]", JSONPATH_INVALID);
        EXPECT_KIND("$[99999999999999999999]", JSONPATH_INVALID);
        EXPECT_KIND("$.a*", JSONPATH_INVALID);
        EXPECT_KIND("$.a b", JSONPATH_INVALID);
        EXPECT_KIND("$.a.length()", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@.x]", JSONPATH_INVALID);
        EXPECT_KIND("$[?@.x]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@.x ==)]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(1)]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@.x =~ /a/)]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@.x == 'a)]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@[*] == 1)]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@..x)]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@.x && )]", JSONPATH_INVALID);
        EXPECT_KIND("$[?(@.x))]", JSONPATH_INVALID);
        EXPECT_KIND("$.a\x01", JSONPATH_INVALID);
        EXPECT_KIND("$.[", JSONPATH_INVALID);
        EXPECT_KIND("$.[]", JSONPATH_INVALID);
        EXPECT_KIND("$...[0]", JSONPATH_INVALID);

        /* Messages say what and where. */
        char *m = NULL;
        ASSERT_INT_EQ(jsonpath_check("$.a[0", &m), JSONPATH_INVALID);
        ASSERT_NOT_NULL(strstr(m, "$.a[0"));
        ASSERT_NOT_NULL(strstr(m, "expected ']'"));
        free(m);
        m = NULL;
        ASSERT_INT_EQ(jsonpath_check("foo", &m), JSONPATH_INVALID);
        ASSERT_NOT_NULL(strstr(m, "must start with '$'"));
        free(m);
        m = NULL;
        ASSERT_INT_EQ(jsonpath_check("$.a.length()", &m), JSONPATH_INVALID);
        ASSERT_NOT_NULL(strstr(m, "not supported"));
        free(m);
        /* No message requested: no leak, still invalid. */
        ASSERT_INT_EQ(jsonpath_check("$[", NULL), JSONPATH_INVALID);
}

TEST(check_length_limit) {
        char *p = malloc(ASL_MAX_PATH_LENGTH + 2), *m = NULL;
        size_t k = 1;

        p[0] = '$';
        while (k + 2 <= ASL_MAX_PATH_LENGTH - 1) {
                memcpy(p + k, ".a", 2);
                k += 2;
        }
        while (k < ASL_MAX_PATH_LENGTH)
                p[k++] = 'b';
        p[k] = 0;
        ASSERT_INT_EQ(strlen(p), ASL_MAX_PATH_LENGTH);
        EXPECT_KIND(p, JSONPATH_REFERENCE);
        strcat(p, "c");
        ASSERT_INT_EQ(jsonpath_check(p, &m), JSONPATH_INVALID);
        ASSERT_NOT_NULL(strstr(m, "longer than"));
        free(m);
        free(p);
}

TEST(check_filter_nesting_limit) {
        char p[512];
        size_t k = 0;

        k += (size_t) sprintf(p + k, "$[?(");
        for (int i = 0; i < JSONPATH_MAX_FILTER_NESTING + 5; i++)
                p[k++] = '!';
        k += (size_t) sprintf(p + k, "@.x)]");
        EXPECT_KIND(p, JSONPATH_INVALID);
        EXPECT_KIND("$[?(!!!@.x)]", JSONPATH_QUERY);
}

TEST(reference_check_helper) {
        char *m = NULL;

        ASSERT_INT_EQ(jsonpath_check_reference("$.a[0].b", &m), 0);
        ASSERT_NULL(m);
        ASSERT_INT_EQ(jsonpath_check_reference("$.a[-1]", &m), -EINVAL);
        ASSERT_NOT_NULL(strstr(m, "not a reference path"));
        free(m);
        m = NULL;
        ASSERT_INT_EQ(jsonpath_check_reference("$.a[*]", &m), -EINVAL);
        free(m);
        m = NULL;
        ASSERT_INT_EQ(jsonpath_check_reference("$.a[", &m), -EINVAL);
        ASSERT_NOT_NULL(strstr(m, "invalid JSONPath"));
        free(m);
        ASSERT_INT_EQ(jsonpath_check_reference("$..a", NULL), -EINVAL);
}

TEST(definite) {
        ASSERT_TRUE(jsonpath_is_definite("$"));
        ASSERT_TRUE(jsonpath_is_definite("$.a.b[0]['c d']"));
        ASSERT_TRUE(jsonpath_is_definite("$.a[-1]"));
        ASSERT_FALSE(jsonpath_is_definite("$.a[*]"));
        ASSERT_FALSE(jsonpath_is_definite("$.*"));
        ASSERT_FALSE(jsonpath_is_definite("$.a[0:1]"));
        ASSERT_FALSE(jsonpath_is_definite("$.a[0,1]"));
        ASSERT_TRUE(jsonpath_is_definite("$['a','b']"));     /* Jayway: merged leaf */
        ASSERT_TRUE(jsonpath_is_definite("$.x[0]['a','b']"));
        ASSERT_FALSE(jsonpath_is_definite("$['a','b'].c"));  /* not a leaf: iterates */
        ASSERT_FALSE(jsonpath_is_definite("$..['a','b']"));
        ASSERT_FALSE(jsonpath_is_definite("$.a[?(@.b)]"));
        ASSERT_FALSE(jsonpath_is_definite("$..a"));
        ASSERT_FALSE(jsonpath_is_definite("$..[0]"));
        ASSERT_FALSE(jsonpath_is_definite("$["));
        ASSERT_FALSE(jsonpath_is_definite(NULL));
}

TEST(eval_definite) {
        json_t *d = load(store_json);

        EXPECT_EVAL(d, "$.expensive", "10");
        EXPECT_EVAL(d, "$.store.bicycle", "{\"color\":\"red\",\"price\":19.95}");
        EXPECT_EVAL(d, "$.store.book[0].author", "\"Nigel Rees\"");
        EXPECT_EVAL(d, "$['store']['book'][1]['title']", "\"Sword of Honour\"");
        EXPECT_EVAL(d, "$[\"store\"].bicycle[\"color\"]", "\"red\"");
        EXPECT_EVAL(d, "$['a b']['x.y']", "2");
        EXPECT_EVAL(d, "$[\"a b\"][\"it's\"]", "1");
        /* A backslash in a bracket name is part of the name (eval_bracket_names_literal). */
        EXPECT_EVAL_ERR(d, "$['a b']['it\\'s']", -ENOENT);
        EXPECT_EVAL_ERR(d, "$['a b']['x\\u002ey']", -ENOENT);
        EXPECT_EVAL(d, "$.store.book[-1].title", "\"The Lord of the Rings\"");
        EXPECT_EVAL(d, "$.nums[-10]", "0");
        EXPECT_EVAL(d, "$.nums[ 3 ]", "3");

        /* $ is the document itself (the same value, a new reference). */
        json_t *r = NULL;
        ASSERT_INT_EQ(jsonpath_eval(d, "$", &r), 0);
        ASSERT_TRUE(r == d);
        json_decref(r);

        /* Missing things are -ENOENT for definite paths. */
        EXPECT_EVAL_ERR(d, "$.nope", -ENOENT);
        EXPECT_EVAL_ERR(d, "$.store.nope.deeper", -ENOENT);
        EXPECT_EVAL_ERR(d, "$.store.book[4]", -ENOENT);
        EXPECT_EVAL_ERR(d, "$.nums[-11]", -ENOENT);
        EXPECT_EVAL_ERR(d, "$.expensive.x", -ENOENT);  /* name on a number */
        EXPECT_EVAL_ERR(d, "$.store[0]", -ENOENT);     /* index on an object */
        EXPECT_EVAL_ERR(d, "$.nums.x", -ENOENT);       /* name on an array */
        EXPECT_EVAL_ERR(d, "$.a[", -EINVAL);
        EXPECT_EVAL_ERR(d, "nope", -EINVAL);
        json_decref(d);

        /* A scalar root. */
        d = load("42");
        EXPECT_EVAL(d, "$", "42");
        EXPECT_EVAL_ERR(d, "$.a", -ENOENT);
        EXPECT_EVAL(d, "$.*", "[]");
        json_decref(d);
}

/* A dot before a bracket is accepted, as Jayway reads the token after a dot
 * whatever it is: "$.[0]" is "$[0]", "$..[0]" a descent. */
TEST(dot_before_bracket) {
        json_t *d = load(store_json);

        EXPECT_KIND("$.[0]", JSONPATH_REFERENCE);
        EXPECT_KIND("$.Snapshots.[0].State", JSONPATH_REFERENCE);
        EXPECT_KIND("$.['a b']", JSONPATH_REFERENCE);
        EXPECT_KIND("$.[?(@.OU > 0)]", JSONPATH_QUERY);
        EXPECT_KIND("$.[*].['bucket', 'key']", JSONPATH_QUERY);
        EXPECT_KIND("$.[-1]", JSONPATH_QUERY);
        EXPECT_KIND("$..[0]", JSONPATH_QUERY);
        ASSERT_TRUE(jsonpath_is_definite("$.a.[0].b"));

        EXPECT_EVAL(d, "$.store.book.[0].author", "\"Nigel Rees\"");
        EXPECT_EVAL(d, "$.store.book.[-1].title", "\"The Lord of the Rings\"");
        EXPECT_EVAL(d, "$.['a b'].['x.y']", "2");
        EXPECT_EVAL(d, "$.store.book.[?(@.price > 20)].title", "[\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$.store.book.[0:2].['title', 'price']",
                    "[{\"title\":\"Sayings of the Century\",\"price\":8.95},"
                    "{\"title\":\"Sword of Honour\",\"price\":12.99}]");
        EXPECT_EVAL(d, "$.store.bicycle.['color', 'price']", "{\"color\":\"red\",\"price\":19.95}");
        EXPECT_EVAL(d, "$.nums.[1:3]", "[1,2]");
        json_decref(d);

        d = load("[{\"OU\":1,\"n\":\"a\"},{\"OU\":0,\"n\":\"b\"}]");
        EXPECT_EVAL(d, "$.[0]", "{\"OU\":1,\"n\":\"a\"}");
        EXPECT_EVAL(d, "$.[?(@.OU > 0)]", "[{\"OU\":1,\"n\":\"a\"}]");
        EXPECT_EVAL(d, "$.[*].['n']", "[\"a\",\"b\"]");
        json_decref(d);

        /* ResultPath takes it too. */
        json_t *root = load("{\"Snapshots\":[{\"State\":\"old\"}]}");
        ASSERT_INT_EQ(jsonpath_set(&root, "$.Snapshots.[0].State", json_string("new")), 0);
        ASSERT_JSON_EQ(root, "{\"Snapshots\":[{\"State\":\"new\"}]}");
        json_decref(root);
}

/* A backslash in a quoted bracket name keeps the next character from ending
 * the name, and both stay in it (the Jayway version Step Functions runs does
 * not unescape): $['a\\"b'] names the key a\\"b, not a\"b. */
TEST(eval_bracket_names_literal) {
        json_t *d = json_object();

        json_object_set_new(d, "a\\\\\"b", json_integer(1));  /* a\\"b */
        json_object_set_new(d, "a\\\"b", json_integer(2));    /* a\"b */
        json_object_set_new(d, "a\"b", json_integer(3));      /* a"b */
        json_object_set_new(d, "it\\'s", json_integer(4));    /* it\'s */
        json_object_set_new(d, "x\\u002ey", json_integer(5)); /* x\u002ey */
        json_object_set_new(d, "x.y", json_integer(6));

        EXPECT_EVAL(d, "$['a\\\\\"b']", "1");
        EXPECT_EVAL(d, "$['a\\\"b']", "2");
        EXPECT_EVAL(d, "$[\"a\\\"b\"]", "2");
        EXPECT_EVAL(d, "$['a\"b']", "3");
        EXPECT_EVAL(d, "$['it\\'s']", "4");
        EXPECT_EVAL(d, "$['x\\u002ey']", "5");
        EXPECT_EVAL(d, "$['x\\u002ey','x.y']", "{\"x\\\\u002ey\":5,\"x.y\":6}");
        EXPECT_KIND("$['\\u12']", JSONPATH_REFERENCE);
        EXPECT_KIND("$['\\ud800']", JSONPATH_REFERENCE);
        EXPECT_KIND("$['a\\']", JSONPATH_INVALID); /* the quote is escaped: unterminated */
        /* Filter string literals still decode their escapes. */
        EXPECT_EVAL(d, "$[?(@['a\"b'] == 3)]",
                    "[{\"a\\\\\\\\\\\"b\":1,\"a\\\\\\\"b\":2,\"a\\\"b\":3,"
                    "\"it\\\\'s\":4,\"x\\\\u002ey\":5,\"x.y\":6}]");
        json_decref(d);

        json_t *root = json_object();
        ASSERT_INT_EQ(jsonpath_set(&root, "$['a\\b']", json_integer(7)), 0);
        ASSERT_NOT_NULL(json_object_get(root, "a\\b"));
        json_decref(root);
}

/* Why a definite path does not resolve, in Jayway's words (Step Functions quotes them). */
TEST(eval_why) {
        json_t *d = load("{\"a\":{\"b\":1},\"l\":[1,2],\"n\":5}"), *r = NULL;
        static const struct {
                const char *path, *why;
        } cases[] = {
                {"$.x", "No results for path: $['x']"},
                {"$.a.x", "No results for path: $['a']['x']"},
                {"$.no.x", "Missing property in path $['no']"},
                {"$[\"a\"].x.y", "Missing property in path $['a']['x']"},
                {"$.l[5]", "No results for path: $['l'][5]"},
                {"$.l[-3].z", "Missing property in path $['l'][-3]"},
                {"$.n.z",
                 "Expected to find an object with property ['z'] in path $['n'] but found 'number'"},
                {"$.l.z", "Expected to find an object with property ['z'] in path $['l'] but found 'array'"},
                {"$.n['y','z']",
                 "Expected to find an object with property ['y', 'z'] in path $['n'] but found 'number'"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char *why = NULL;

                ASSERT_INT_EQ(jsonpath_eval_why(d, cases[i].path, &r, &why), -ENOENT);
                ASSERT_STR_EQ(why, cases[i].why);
                free(why);
        }
        /* Found, or an indefinite path: no reason. */
        char *why = NULL;
        ASSERT_INT_EQ(jsonpath_eval_why(d, "$.a.b", &r, &why), 0);
        ASSERT_NULL(why);
        json_decref(r);
        ASSERT_INT_EQ(jsonpath_eval_why(d, "$.nope[*]", &r, &why), 0);
        ASSERT_NULL(why);
        json_decref(r);
        json_decref(d);
}

TEST(eval_wildcards) {
        json_t *d = load(store_json);

        EXPECT_EVAL(d, "$.store.book[*].author",
                    "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
        EXPECT_EVAL(d, "$.store.book.*.price", "[8.95,12.99,8.99,22.99]");
        EXPECT_EVAL(d, "$.store.bicycle.*", "[\"red\",19.95]");
        EXPECT_EVAL(d, "$.store.bicycle[*]", "[\"red\",19.95]");
        EXPECT_EVAL(d, "$.store.*.color", "[\"red\"]");        /* missing leaves are skipped */
        EXPECT_EVAL(d, "$.store.book[*].isbn", "[\"0-553-21311-3\",\"0-395-19395-8\"]");
        EXPECT_EVAL(d, "$.expensive.*", "[]");
        EXPECT_EVAL(d, "$.nope[*]", "[]");                      /* indefinite never -ENOENT */
        json_decref(d);
}

TEST(eval_slices) {
        json_t *d = load(store_json);

        EXPECT_EVAL(d, "$.nums[1:3]", "[1,2]");
        EXPECT_EVAL(d, "$.nums[:2]", "[0,1]");
        EXPECT_EVAL(d, "$.nums[8:]", "[8,9]");
        EXPECT_EVAL(d, "$.nums[-2:]", "[8,9]");
        EXPECT_EVAL(d, "$.nums[:-8]", "[0,1]");
        EXPECT_EVAL(d, "$.nums[::3]", "[0,3,6,9]");
        EXPECT_EVAL(d, "$.nums[1:8:2]", "[1,3,5,7]");
        EXPECT_EVAL(d, "$.nums[::-3]", "[9,6,3,0]");
        EXPECT_EVAL(d, "$.nums[5:1:-2]", "[5,3]");
        EXPECT_EVAL(d, "$.nums[-1:-4:-1]", "[9,8,7]");
        EXPECT_EVAL(d, "$.nums[:]", "[0,1,2,3,4,5,6,7,8,9]");
        EXPECT_EVAL(d, "$.nums[100:]", "[]");
        EXPECT_EVAL(d, "$.nums[-100:2]", "[0,1]");
        EXPECT_EVAL(d, "$.nums[3:1]", "[]");
        EXPECT_EVAL(d, "$.nums[100:0:-4]", "[9,5,1]");
        EXPECT_EVAL(d, "$.store.book[:2].price", "[8.95,12.99]");
        EXPECT_EVAL(d, "$.store[0:1]", "[]"); /* slice on an object */
        json_decref(d);
}

TEST(eval_unions) {
        json_t *d = load(store_json);

        EXPECT_EVAL(d, "$.nums[0,2,-1]", "[0,2,9]");
        EXPECT_EVAL(d, "$.nums[1,100,3]", "[1,3]");
        EXPECT_EVAL(d, "$.store.book[0,1].title", "[\"Sayings of the Century\",\"Sword of Honour\"]");
        /* A name union as the last step merges (Jayway). */
        EXPECT_EVAL(d, "$.store.bicycle['color','price']", "{\"color\":\"red\",\"price\":19.95}");
        EXPECT_EVAL(d, "$.store.bicycle['price','nope','color']", "{\"price\":19.95,\"color\":\"red\"}");
        EXPECT_EVAL(d, "$['expensive','tag']", "{\"expensive\":10,\"tag\":\"x\"}");
        EXPECT_EVAL(d, "$['nope1','nope2']", "{}");
        EXPECT_EVAL_ERR(d, "$.nums['a','b']", -ENOENT);
        EXPECT_EVAL_ERR(d, "$.nope['a','b']", -ENOENT);
        EXPECT_EVAL(d, "$.store.book[0:2]['title','price']",
                    "[{\"title\":\"Sayings of the Century\",\"price\":8.95},"
                    "{\"title\":\"Sword of Honour\",\"price\":12.99}]");
        EXPECT_EVAL(d, "$.store[*]['color','nope']", "[{\"color\":\"red\"}]");
        /* Elsewhere a name union iterates. */
        EXPECT_EVAL(d, "$['store','nope'].bicycle.color", "[\"red\"]");
        EXPECT_EVAL(d, "$..['color','author']",
                    "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\",\"red\"]");
        json_decref(d);
}

TEST(eval_filters) {
        json_t *d = load(store_json);

        EXPECT_EVAL(d, "$.store.book[?(@.price < 10)].title", "[\"Sayings of the Century\",\"Moby Dick\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.price <= 8.99)].price", "[8.95,8.99]");
        EXPECT_EVAL(d, "$.store.book[?(@.price > 20)].title", "[\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.price >= 22.99)].title", "[\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.isbn)].title", "[\"Moby Dick\",\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$.store.book[?(!@.isbn)].title", "[\"Sayings of the Century\",\"Sword of Honour\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.category == 'reference')].author", "[\"Nigel Rees\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.category != \"fiction\")].author", "[\"Nigel Rees\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.price < 10 && @.category == 'fiction')].title", "[\"Moby Dick\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.price > 20 || @.category == 'reference')].title",
                    "[\"Sayings of the Century\",\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$.store.book[?(!(@.price > 20 || @.category == 'reference'))].title",
                    "[\"Sword of Honour\",\"Moby Dick\"]");
        /* Comparison with another path (root and current). */
        EXPECT_EVAL(d, "$.store.book[?(@.price > $.expensive)].title",
                    "[\"Sword of Honour\",\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.price < $.store.bicycle.price && @.price > $.expensive)].title",
                    "[\"Sword of Honour\"]");
        EXPECT_EVAL(d, "$.nums[?(@ >= 7)]", "[7,8,9]");
        EXPECT_EVAL(d, "$.nums[?(@ == 3.0)]", "[3]");       /* numbers compare by value */
        EXPECT_EVAL(d, "$.nums[?(@ == '3')]", "[]");        /* no type coercion */
        EXPECT_EVAL(d, "$.nums[?(@ < 'z')]", "[]");
        EXPECT_EVAL(d, "$.store.book[?(@.author > 'I')].author", "[\"Nigel Rees\",\"J. R. R. Tolkien\"]");
        /* Missing operands: only != holds. */
        EXPECT_EVAL(d, "$.store.book[?(@.isbn == 'x')]", "[]");
        EXPECT_EVAL(d, "$.store.book[?(@.isbn != '0-553-21311-3')].title",
                    "[\"Sayings of the Century\",\"Sword of Honour\",\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$.store.book[?(@.nope < 1)]", "[]");
        /* Filter on an object tests the object itself (Jayway). */
        EXPECT_EVAL(d, "$.store.bicycle[?(@.color == 'red')].price", "[19.95]");
        EXPECT_EVAL(d, "$.store.bicycle[?(@.color == 'blue')]", "[]");
        EXPECT_EVAL(d, "$.expensive[?(@ > 1)]", "[]");
        json_decref(d);

        d = load("{\"a\":[{\"v\":true},{\"v\":false},{\"v\":null},{\"v\":[1]},{\"w\":1},{\"v\":{\"k\":1}}]}");
        EXPECT_EVAL(d, "$.a[?(@.v == true)]", "[{\"v\":true}]");
        EXPECT_EVAL(d, "$.a[?(@.v == false)]", "[{\"v\":false}]");
        EXPECT_EVAL(d, "$.a[?(@.v == null)]", "[{\"v\":null}]");
        EXPECT_EVAL(d, "$.a[?(@.v)]", "[{\"v\":true},{\"v\":false},{\"v\":null},{\"v\":[1]},{\"v\":{\"k\":1}}]");
        EXPECT_EVAL(d, "$.a[?(@.v[0] == 1)]", "[{\"v\":[1]}]");
        EXPECT_EVAL(d, "$.a[?(@['v']['k'])]", "[{\"v\":{\"k\":1}}]");
        EXPECT_EVAL(d, "$.a[?(@.v > 0)]", "[]");
        json_decref(d);
}

TEST(eval_descent) {
        json_t *d = load(store_json);

        EXPECT_EVAL(d, "$..author",
                    "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\",\"J. R. R. Tolkien\"]");
        EXPECT_EVAL(d, "$.store..price", "[8.95,12.99,8.99,22.99,19.95]");
        EXPECT_EVAL(d, "$..book[2].title", "[\"Moby Dick\"]");
        EXPECT_EVAL(d, "$..book[-1:].title", "[\"The Lord of the Rings\"]");
        EXPECT_EVAL(d, "$..book[0,1].price", "[8.95,12.99]");
        EXPECT_EVAL(d, "$..book[?(@.isbn)].isbn", "[\"0-553-21311-3\",\"0-395-19395-8\"]");
        EXPECT_EVAL(d, "$..[?(@.price < 9)].title", "[\"Sayings of the Century\",\"Moby Dick\"]");
        EXPECT_EVAL(d, "$..['color']", "[\"red\"]");
        EXPECT_EVAL(d, "$..nope", "[]");
        json_decref(d);

        d = load("{\"a\":{\"b\":1,\"c\":[{\"b\":2},[3,{\"b\":4}]]},\"b\":5}");
        /* Pre-order: a node's own match before its descendants'. */
        EXPECT_EVAL(d, "$..b", "[5,1,2,4]");
        EXPECT_EVAL(d, "$..*",
                    "[{\"b\":1,\"c\":[{\"b\":2},[3,{\"b\":4}]]},5,1,[{\"b\":2},[3,{\"b\":4}]],"
                    "{\"b\":2},[3,{\"b\":4}],2,3,{\"b\":4},4]");
        EXPECT_EVAL(d, "$..[0]", "[{\"b\":2},3]");
        EXPECT_EVAL(d, "$.a..[1]", "[[3,{\"b\":4}],{\"b\":4}]");
        EXPECT_EVAL(d, "$..[?(@ == 3)]", "[3]");
        json_decref(d);
}

TEST(eval_limits) {
        /* 100,001 matches of one step -> -E2BIG; 100,000 is fine. */
        json_t *big = json_array();
        for (int i = 0; i < JSONPATH_MAX_RESULTS; i++)
                json_array_append_new(big, json_integer(i));
        json_t *r = NULL;
        ASSERT_INT_EQ(jsonpath_eval(big, "$[*]", &r), 0);
        ASSERT_INT_EQ(json_array_size(r), JSONPATH_MAX_RESULTS);
        json_decref(r);
        r = NULL;
        json_array_append_new(big, json_integer(-1));
        EXPECT_EVAL_ERR(big, "$[*]", -E2BIG);
        EXPECT_EVAL_ERR(big, "$..*", -E2BIG);
        EXPECT_EVAL(big, "$[0:3]", "[0,1,2]");
        json_decref(big);

        /* Products of wildcards blow past the limit, not memory. */
        json_t *row = json_array();
        for (int i = 0; i < 400; i++)
                json_array_append_new(row, json_integer(i));
        json_t *grid = json_array();
        for (int i = 0; i < 400; i++)
                json_array_append(grid, row);
        json_decref(row);
        EXPECT_EVAL_ERR(grid, "$[*][*]", -E2BIG);
        json_decref(grid);

        /* Work is bounded too: a long index union over many nodes that
         * matches nothing still stops at JSONPATH_MAX_WORK. */
        json_t *empties = json_array();
        for (int i = 0; i < 60000; i++)
                json_array_append_new(empties, json_array());
        char upath[1024] = "$[*][";
        for (int i = 0; i < 200; i++)
                strcat(upath, i ? ",1" : "1");
        strcat(upath, "]");
        EXPECT_EVAL_ERR(empties, upath, -E2BIG);
        EXPECT_EVAL(empties, "$[*][1,2]", "[]");
        json_decref(empties);

        /* Descent deeper than JSONPATH_MAX_DEPTH. */
        json_t *deep = json_integer(1);
        for (int i = 0; i < JSONPATH_MAX_DEPTH + 10; i++) {
                json_t *a = json_array();
                json_array_append_new(a, deep);
                deep = a;
        }
        EXPECT_EVAL_ERR(deep, "$..x", -E2BIG);
        EXPECT_EVAL_ERR(deep, "$[0][0][0][1]", -ENOENT);
        json_decref(deep);
}

TEST(eval_limits_definite_missing) {
        json_t *deep = load("[[[1]]]");
        EXPECT_EVAL_ERR(deep, "$[0][0][1]", -ENOENT);
        EXPECT_EVAL(deep, "$[0][0][0]", "1");
        json_decref(deep);
}

/* ---- ResultPath ---- */

#define EXPECT_SET(doc_text, path, value_text, expected)                \
        do {                                                            \
                json_t *d_ = load(doc_text);                            \
                int rc_ = jsonpath_set(&d_, (path), load(value_text));  \
                if (rc_ != 0)                                           \
                        TEST_FAIL_("jsonpath_set(%s) = %d", (path), rc_); \
                ASSERT_JSON_EQ(d_, (expected));                         \
                json_decref(d_);                                        \
        } while (0)

#define EXPECT_SET_ERR(doc_text, path, value_text, err)                 \
        do {                                                            \
                json_t *d_ = load(doc_text), *orig_ = load(doc_text);   \
                ASSERT_INT_EQ(jsonpath_set(&d_, (path), load(value_text)), (err)); \
                ASSERT_TRUE(json_equal(d_, orig_)); /* unchanged */     \
                json_decref(d_);                                        \
                json_decref(orig_);                                     \
        } while (0)

TEST(set_result_path) {
        EXPECT_SET("{\"a\":1}", "$", "{\"r\":2}", "{\"r\":2}");
        EXPECT_SET("\"scalar\"", "$", "[1]", "[1]");
        EXPECT_SET("{\"a\":1}", "$.r", "2", "{\"a\":1,\"r\":2}");
        EXPECT_SET("{\"a\":1}", "$.a", "2", "{\"a\":2}");
        EXPECT_SET("{\"a\":1}", "$.x.y.z", "true", "{\"a\":1,\"x\":{\"y\":{\"z\":true}}}");
        EXPECT_SET("{\"x\":{\"k\":0}}", "$.x.y", "1", "{\"x\":{\"k\":0,\"y\":1}}");
        EXPECT_SET("{\"a\":[1,2,3]}", "$.a[1]", "\"b\"", "{\"a\":[1,\"b\",3]}");
        EXPECT_SET("{\"a\":[{},{}]}", "$.a[1].n.m", "1", "{\"a\":[{},{\"n\":{\"m\":1}}]}");
        EXPECT_SET("[[0,1]]", "$[0][1]", "9", "[[0,9]]");
        EXPECT_SET("{}", "$['a b']['c.d']", "1", "{\"a b\":{\"c.d\":1}}");
        /* Backslashes stay in the name (eval_bracket_names_literal). */
        EXPECT_SET("{}", "$['tab\\there\\n\\u00e9']", "1", "{\"tab\\\\there\\\\n\\\\u00e9\":1}");
        /* AWS docs example: ResultPath "$.taskresult". */
        EXPECT_SET("{\"comment\":\"This is a test of the input and output of a Task state.\","
                   "\"details\":\"Default example\",\"who\":\"AWS Step Functions\"}",
                   "$.taskresult", "\"Hello, AWS Step Functions!\"",
                   "{\"comment\":\"This is a test of the input and output of a Task state.\","
                   "\"details\":\"Default example\",\"who\":\"AWS Step Functions\","
                   "\"taskresult\":\"Hello, AWS Step Functions!\"}");
}

TEST(set_errors) {
        EXPECT_SET_ERR("{\"a\":1}", "$.a.b", "2", -ENOTDIR);      /* intermediate scalar */
        EXPECT_SET_ERR("{\"a\":\"s\"}", "$.a.b.c", "2", -ENOTDIR);
        EXPECT_SET_ERR("[1]", "$.a", "2", -ENOTDIR);              /* name on an array */
        EXPECT_SET_ERR("7", "$.a", "2", -ENOTDIR);                /* scalar root */
        EXPECT_SET_ERR("{\"a\":{}}", "$.a[0]", "2", -ENOTDIR);    /* index on an object */
        EXPECT_SET_ERR("{\"a\":[1]}", "$.a[1]", "2", -ENOTDIR);   /* missing element */
        EXPECT_SET_ERR("{}", "$.a[0]", "2", -ENOTDIR);            /* cannot create arrays */
        EXPECT_SET_ERR("{}", "$.a[0].b", "2", -ENOTDIR);
        EXPECT_SET_ERR("{\"a\":[1]}", "$.a[-1]", "2", -EINVAL);   /* negative index */
        EXPECT_SET_ERR("{\"a\":[1]}", "$.a[*]", "2", -EINVAL);    /* query */
        EXPECT_SET_ERR("{}", "$..a", "2", -EINVAL);
        EXPECT_SET_ERR("{}", "$.", "2", -EINVAL);
        EXPECT_SET_ERR("{}", "a", "2", -EINVAL);
        EXPECT_SET_ERR("{}", "$['\xff']", "2", -EINVAL);         /* key not UTF-8 */
        /* NULL arguments: value is still consumed. */
        ASSERT_INT_EQ(jsonpath_set(NULL, "$", json_true()), -EINVAL);
}

TEST(set_does_not_touch_shared_values) {
        json_t *shared = load("{\"inner\":{\"k\":1}}");
        json_t *doc = json_object();
        json_object_set(doc, "s", shared);           /* doc.s is shared with `shared` */
        json_t *alias = json_incref(doc);            /* and doc itself is shared too */

        ASSERT_INT_EQ(jsonpath_set(&doc, "$.s.inner.new", json_integer(5)), 0);
        ASSERT_JSON_EQ(doc, "{\"s\":{\"inner\":{\"k\":1,\"new\":5}}}");
        ASSERT_JSON_EQ(shared, "{\"inner\":{\"k\":1}}");
        ASSERT_JSON_EQ(alias, "{\"s\":{\"inner\":{\"k\":1}}}");
        ASSERT_TRUE(doc != alias);
        json_decref(doc);
        json_decref(alias);
        json_decref(shared);
}

/* Regression cases found by fuzzing are collected here. */
TEST(fuzz_regressions) {
        json_t *d = load("{\"a\":[1,{\"b\":[2]}]}");
        static const char *const paths[] = {
                "$[?(@",
                "$[?(",
                "$[?(!",
                "$[?((((",
                "$[?(@.a==",
                "$[?(@.a=='\\",
                "$[?(@.a==\"",
                "$[?(@[",
                "$[?(@['",
                "$[?(-",
                "$[?(1e",
                "$[?(tru)]",
                "$[::",
                "$[1:2:",
                "$[-9223372036854775808]",
                "$[9007199254740993]",
                "$..[::-1]",
                "$..[?(@)]",
                "$[?(@ == $)]",
                "$[?(@ != @)]",
                "$.a[?(@.b[0] == 2)].b[-1]",
        };
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                json_t *r = NULL;
                char *m = NULL;
                (void) jsonpath_check(paths[i], &m);
                free(m);
                if (jsonpath_eval(d, paths[i], &r) == 0)
                        json_decref(r);
        }
        EXPECT_EVAL(d, "$.a[?(@.b[0] == 2)].b[-1]", "[2]");
        EXPECT_EVAL(d, "$..[?(@ == $)]", "[{\"a\":[1,{\"b\":[2]}]}]");
        json_decref(d);
}
