/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Logging of the daemons (systemd's log.c, in miniature).
 *
 * Two targets: the journal (sd_journal_send, with structured fields such as
 * EXECUTION_ID, STATE_NAME, TASK_ID, so `journalctl EXECUTION_ID=...` shows
 * one execution across services), or readable lines on stderr:
 *
 *     INFO   Dispatched task execution_id=... state_name=Resize task_id=...
 *
 * log_setup() picks the journal when stderr is connected to it (the
 * JOURNAL_STREAM device:inode matches stderr, as under systemd) and stderr
 * otherwise; log_set_target() overrides (e.g. from --log-target=journal).
 *
 * The state (target, maximum level, identifier) is file-static, set once at
 * startup by main()/run() before any thread starts: it is the process's log
 * target, like its stderr, not mutable application state. Logging functions
 * only read it and are safe to call from any thread.
 *
 * IMGFLOW_LOG_TIME=1 starts each console line with the wall-clock time
 * ("2026-01-31 12:00:00.123 INFO   ..."), read by log_setup(), for logs kept in files.
 *
 * Levels are syslog's (LOG_ERR ... LOG_DEBUG). Every log_*() returns
 * -abs(error) (0 when no error was given), so one can write
 *     return log_error_errno(r, "Failed to open %s: %m", path);
 * `%m` expands to strerror(abs(error)) of the error passed, not of errno.
 */

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if stderr is the journal, else console */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_CONSOLE, /* stderr */
} LogTarget;

/* Sets the identifier (SYSLOG_IDENTIFIER=, borrowed: pass a string literal or
 * argv[0] that outlives the process's logging), resolves LOG_TARGET_AUTO and
 * reads IMGFLOW_LOG_LEVEL (a level name) if set. Returns 0 (never fails: an
 * unknown IMGFLOW_LOG_LEVEL is reported and ignored). */
int log_setup(const char *ident);

void log_set_target(LogTarget target);
LogTarget log_get_target(void); /* never LOG_TARGET_AUTO after log_setup() */
/* "journal", "console"/"stderr", "auto" -> 0, else -EINVAL. */
int log_set_target_from_string(const char *s);

void log_set_max_level(int level);
int log_get_max_level(void);
/* "debug", "info", "notice", "warning", "err"/"error", "crit", "alert",
 * "emerg" or a number 0..7 -> the level, else -EINVAL. */
int log_level_from_string(const char *s);
/* Sets the maximum level from a name (e.g. the value of imgflow.log_level). */
int log_set_max_level_from_string(const char *s);

/* The implementation behind the macros below. `fields` is an optional
 * NULL-terminated array of "KEY=value" strings (borrowed) added to the
 * journal entry (and appended as key=value on the console). */
int log_internalv(int level, int error, const char *const *fields,
                  const char *file, int line, const char *func,
                  const char *format, va_list ap) _printf_(7, 0);
int log_internal(int level, int error, const char *const *fields,
                 const char *file, int line, const char *func,
                 const char *format, ...) _printf_(7, 8);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)

/* Structured: arbitrary "KEY=value" fields (NULL-terminated array, borrowed),
 * e.g. { "IMAGE_KEY=raw/cat.jpg", "BUCKET=photos", NULL }. Keys must be
 * journal field names: upper-case letters, digits and '_'. */
#define log_fields(level, fields, ...) \
        log_internal((level), 0, (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_fields_errno(level, error, fields, ...) \
        log_internal((level), (error), (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Structured, for one execution: adds EXECUTION_ID=, STATE_NAME=, TASK_ID=
 * (each omitted when NULL; all borrowed). */
int log_struct_exec_internal(int level, int error, const char *exec_id, const char *state_name,
                             const char *task_id, const char *file, int line, const char *func,
                             const char *format, ...) _printf_(9, 10);
#define log_struct_exec(level, exec_id, state_name, task_id, ...)                      \
        log_struct_exec_internal((level), 0, (exec_id), (state_name), (task_id),        \
                                 __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_struct_exec_errno(level, error, exec_id, state_name, task_id, ...)         \
        log_struct_exec_internal((level), (error), (exec_id), (state_name), (task_id),  \
                                 __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Maximum length of one formatted message; longer ones are truncated. */
#define LOG_MESSAGE_MAX 8192
/* Maximum number of extra fields per entry. */
#define LOG_FIELDS_MAX 32
