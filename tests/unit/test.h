/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A tiny test harness: TEST(name) { ... } registers a test; ASSERT_* abort
 * the current test with file:line and the values. main() runs all tests (or
 * those whose name contains argv[1]) and exits non-zero if any failed.
 * Include this in exactly one .c per test binary.
 */

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TestCase {
        const char *name;
        void (*fn)(void);
} TestCase;

static TestCase test_cases_[1024];
static size_t test_n_;
static jmp_buf test_jmp_;
static int test_failed_now_;

#define TEST(name)                                                      \
        static void test_##name(void);                                  \
        __attribute__((constructor)) static void test_reg_##name(void) {\
                if (test_n_ < sizeof(test_cases_) / sizeof(test_cases_[0])) \
                        test_cases_[test_n_++] = (TestCase) { #name, test_##name }; \
        }                                                               \
        static void test_##name(void)

#define TEST_FAIL_(...)                                                 \
        do {                                                            \
                fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);       \
                fprintf(stderr, __VA_ARGS__);                           \
                fputc('\n', stderr);                                    \
                test_failed_now_ = 1;                                   \
                longjmp(test_jmp_, 1);                                  \
        } while (0)

#define ASSERT_TRUE(x)                                                  \
        do { if (!(x)) TEST_FAIL_("expected true: %s", #x); } while (0)
#define ASSERT_FALSE(x)                                                 \
        do { if (x) TEST_FAIL_("expected false: %s", #x); } while (0)
#define ASSERT_INT_EQ(a, b)                                             \
        do {                                                            \
                long long a_ = (long long) (a), b_ = (long long) (b);   \
                if (a_ != b_)                                           \
                        TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_); \
        } while (0)
#define ASSERT_DBL_EQ(a, b)                                             \
        do {                                                            \
                double a_ = (a), b_ = (b);                              \
                if (fabs(a_ - b_) > 1e-9 * (fabs(a_) + fabs(b_) + 1))   \
                        TEST_FAIL_("%s == %s: %g != %g", #a, #b, a_, b_); \
        } while (0)
#define ASSERT_STR_EQ(a, b)                                             \
        do {                                                            \
                const char *a_ = (a), *b_ = (b);                        \
                if (!a_ || !b_ || strcmp(a_, b_) != 0)                  \
                        TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, \
                                   a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
        } while (0)
#define ASSERT_NULL(x)                                                  \
        do { if ((x) != NULL) TEST_FAIL_("expected NULL: %s", #x); } while (0)
#define ASSERT_NOT_NULL(x)                                              \
        do { if ((x) == NULL) TEST_FAIL_("expected non-NULL: %s", #x); } while (0)

/* Compare a json_t (borrowed) with expected JSON text (parsed, so key order
 * and spacing do not matter). */
#include <jansson.h>
#define ASSERT_JSON_EQ(actual, expected_text)                           \
        do {                                                            \
                json_t *e_ = json_loads((expected_text), JSON_DECODE_ANY, NULL); \
                json_t *a_ = (actual);                                  \
                if (!e_)                                                \
                        TEST_FAIL_("bad expected JSON: %s", (expected_text)); \
                if (!a_ || !json_equal(a_, e_)) {                       \
                        char *s_ = a_ ? json_dumps(a_, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL; \
                        json_decref(e_);                                \
                        TEST_FAIL_("%s: got %s, expected %s", #actual,  \
                                   s_ ? s_ : "(null)", (expected_text)); \
                }                                                       \
                json_decref(e_);                                        \
        } while (0)

int main(int argc, char **argv) {
        volatile size_t failed = 0, ran = 0;

        for (volatile size_t i = 0; i < test_n_; i++) {
                if (argc > 1 && !strstr(test_cases_[i].name, argv[1]))
                        continue;
                ran++;
                test_failed_now_ = 0;
                if (setjmp(test_jmp_) == 0)
                        test_cases_[i].fn();
                fprintf(stderr, "%s %s\n", test_failed_now_ ? "FAIL" : "ok  ", test_cases_[i].name);
                if (test_failed_now_)
                        failed++;
        }
        fprintf(stderr, "%zu tests, %zu failed\n", ran, failed);
        return failed ? 1 : (ran ? 0 : 77);
}
