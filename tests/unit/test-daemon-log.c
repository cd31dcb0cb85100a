/* SPDX-License-Identifier: MIT */
/* Tests of daemon/log on the console target: line format, levels, %m of
 * the error passed, structured fields appended as key=value. */

#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

/* Runs fn with stderr redirected to a temporary file; returns what it wrote. */
static char *capture(void (*fn)(void)) {
        static char buf[16384];
        FILE *tmp = tmpfile();
        int saved = dup(STDERR_FILENO);
        size_t n;

        fflush(stderr);
        dup2(fileno(tmp), STDERR_FILENO);
        fn();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        rewind(tmp);
        n = fread(buf, 1, sizeof(buf) - 1, tmp);
        buf[n] = '\0';
        fclose(tmp);
        return buf;
}

static int ret_value;

static void emit_basic(void) {
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_INFO);
        log_info("hello %d", 42);
        log_debug("not shown");
        ret_value = log_error_errno(ENOENT, "Failed to open %s: %m", "/x");
}

TEST(console_format_and_errno) {
        char *out = capture(emit_basic);
        ASSERT_STR_EQ(out, "INFO   hello 42\nERROR  Failed to open /x: No such file or directory\n");
        ASSERT_INT_EQ(ret_value, -ENOENT);
}

static void emit_negative(void) {
        log_set_target(LOG_TARGET_CONSOLE);
        ret_value = log_warning_errno(-EACCES, "denied: %m");
}

TEST(negative_errno) {
        char *out = capture(emit_negative);
        ASSERT_STR_EQ(out, "WARN   denied: Permission denied\n");
        ASSERT_INT_EQ(ret_value, -EACCES);
}

static void emit_struct(void) {
        static const char *const fields[] = { "IMAGE_KEY=raw/cat.jpg", "BUCKET=photos", NULL };
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_DEBUG);
        log_struct_exec(LOG_INFO, "exec-1", "Resize", "t-9", "Dispatched %s", "task");
        log_struct_exec(LOG_NOTICE, "exec-2", NULL, NULL, "Started");
        log_fields(LOG_DEBUG, fields, "Loaded");
}

TEST(structured_fields) {
        char *out = capture(emit_struct);
        ASSERT_STR_EQ(out,
                      "INFO   Dispatched task execution_id=exec-1 state_name=Resize task_id=t-9\n"
                      "NOTICE Started execution_id=exec-2\n"
                      "DEBUG  Loaded image_key=raw/cat.jpg bucket=photos\n");
}

static void emit_filtered(void) {
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_WARNING);
        log_info("hidden");
        log_notice("hidden too");
        ret_value = log_info_errno(EIO, "hidden: %m");
        log_warning("shown");
}

TEST(max_level) {
        char *out = capture(emit_filtered);
        ASSERT_STR_EQ(out, "WARN   shown\n");
        ASSERT_INT_EQ(ret_value, -EIO); /* returned even when not shown */
}

TEST(level_names) {
        ASSERT_INT_EQ(log_level_from_string("debug"), LOG_DEBUG);
        ASSERT_INT_EQ(log_level_from_string("err"), LOG_ERR);
        ASSERT_INT_EQ(log_level_from_string("error"), LOG_ERR);
        ASSERT_INT_EQ(log_level_from_string("WARNING"), LOG_WARNING);
        ASSERT_INT_EQ(log_level_from_string("5"), LOG_NOTICE);
        ASSERT_INT_EQ(log_level_from_string("loud"), -EINVAL);
        ASSERT_INT_EQ(log_set_target_from_string("journal"), 0);
        ASSERT_INT_EQ(log_get_target(), LOG_TARGET_JOURNAL);
        ASSERT_INT_EQ(log_set_target_from_string("console"), 0);
        ASSERT_INT_EQ(log_get_target(), LOG_TARGET_CONSOLE);
        ASSERT_INT_EQ(log_set_target_from_string("syslog"), -EINVAL);
}

static void emit_env(void) {
        setenv("IMGFLOW_LOG_LEVEL", "debug", 1);
        log_set_max_level(LOG_INFO);
        log_set_target(LOG_TARGET_CONSOLE);
        log_setup("test");
        log_debug("dbg");
        unsetenv("IMGFLOW_LOG_LEVEL");
}

TEST(env_level) {
        char *out = capture(emit_env);
        ASSERT_STR_EQ(out, "DEBUG  dbg\n");
}

static void emit_time(void) {
        setenv("IMGFLOW_LOG_TIME", "yes", 1);
        log_set_target(LOG_TARGET_CONSOLE);
        log_setup("test");
        log_info("stamped");
        setenv("IMGFLOW_LOG_TIME", "0", 1);
        log_setup("test");
        log_info("plain");
        setenv("IMGFLOW_LOG_TIME", "sometimes", 1); /* not a boolean: warned, unchanged */
        log_setup("test");
        log_info("still plain");
        unsetenv("IMGFLOW_LOG_TIME");
}

TEST(env_time) {
        char *out = capture(emit_time);
        int y, mo, d, h, mi, s, ms, n = 0;

        /* "2026-11-29 09:36:57.094 INFO   stamped" */
        ASSERT_INT_EQ(sscanf(out, "%4d-%2d-%2d %2d:%2d:%2d.%3d INFO   stamped\n%n", &y, &mo, &d, &h, &mi, &s, &ms, &n),
                      7);
        ASSERT_TRUE(n == 39 && y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
        ASSERT_STR_EQ(out + n, "INFO   plain\nWARN   Ignoring IMGFLOW_LOG_TIME=sometimes: not a boolean\n"
                               "INFO   still plain\n");
}
