/* SPDX-License-Identifier: MIT */
/*
 * Logging: journal or stderr. See log.h for the design; the state below is
 * the process's log target, set once at startup before threads start, and
 * only read afterwards (hence file-static, not part of any manager).
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* write_journal() sends CODE_FILE/CODE_LINE/CODE_FUNC of the caller itself;
 * without this, sd_journal_sendv() adds a second set naming this file. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"
#include "parse.h"

static LogTarget log_target = LOG_TARGET_AUTO;
static int log_max_level = LOG_INFO;
static const char *log_ident = NULL;
/* IMGFLOW_LOG_TIME=1: console lines start with the wall-clock time (as
 * SYSTEMD_LOG_TIME does), for logs written to files rather than the journal. */
static bool log_time = false;
/* sd_journal_send() drops messages silently when journald is not running;
 * then we write to stderr instead. Checked when the target is set. */
static bool journal_available = false;

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",         [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",       [LOG_DEBUG] = "debug",
};

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        if (streq(s, "error"))
                return LOG_ERR;
        if (streq(s, "warn"))
                return LOG_WARNING;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (level_names[i] && strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

void log_set_max_level(int level) {
        if (level >= LOG_EMERG && level <= LOG_DEBUG)
                log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_set_max_level_from_string(const char *s) {
        int l = log_level_from_string(s);
        if (l < 0)
                return l;
        log_set_max_level(l);
        return 0;
}

void log_set_target(LogTarget target) {
        if (target == LOG_TARGET_AUTO)
                target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
        if (target == LOG_TARGET_JOURNAL)
                journal_available = access(JOURNAL_SOCKET, W_OK) == 0;
        log_target = target;
}

LogTarget log_get_target(void) {
        if (log_target == LOG_TARGET_AUTO)
                return stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
        return log_target;
}

int log_set_target_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (streq(s, "journal"))
                log_set_target(LOG_TARGET_JOURNAL);
        else if (streq(s, "console") || streq(s, "stderr"))
                log_set_target(LOG_TARGET_CONSOLE);
        else if (streq(s, "auto"))
                log_set_target(LOG_TARGET_AUTO);
        else
                return -EINVAL;
        return 0;
}

int log_setup(const char *ident) {
        const char *e;

        log_ident = ident;
        if (log_target == LOG_TARGET_AUTO)
                log_set_target(LOG_TARGET_AUTO);

        e = getenv("IMGFLOW_LOG_LEVEL");
        if (e && *e && log_set_max_level_from_string(e) < 0)
                log_warning("Ignoring unknown IMGFLOW_LOG_LEVEL=%s", e);
        e = getenv("IMGFLOW_LOG_TIME");
        if (e && *e) {
                if (parse_bool(e, &log_time) < 0)
                        log_warning("Ignoring IMGFLOW_LOG_TIME=%s: not a boolean", e);
        }
        return 0;
}

static bool field_ok(const char *f) {
        const char *eq = strchr(f, '=');
        if (!eq || eq == f)
                return false;
        for (const char *p = f; p < eq; p++)
                if (!(isupper((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
                        return false;
        return true;
}

static void write_console(int level, const char *msg, const char *const *fields) {
        /* One fprintf per line fragment would interleave between threads;
         * build the line first, then write it with one call. */
        char line[LOG_MESSAGE_MAX + 1024];
        size_t n = 0;
        int k;

        static const char *const tags[] = {
                "EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG",
        };
        if (log_time) {
                struct timespec ts;
                struct tm tm;

                (void) clock_gettime(CLOCK_REALTIME, &ts);
                if (localtime_r(&ts.tv_sec, &tm))
                        n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
                k = snprintf(line + n, sizeof(line) - n, ".%03ld ", ts.tv_nsec / 1000000L);
                n = k < 0 ? n : n + (size_t) k;
        }
        k = snprintf(line + n, sizeof(line) - n, "%-6s %s", tags[level & 7], msg);
        n = k < 0 ? n : MIN_(n + (size_t) k, sizeof(line) - 1);
        for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++) {
                const char *eq = strchr(fields[i], '=');
                if (!eq)
                        continue;
                char key[64];
                size_t kl = MIN_((size_t) (eq - fields[i]), sizeof(key) - 1);
                for (size_t j = 0; j < kl; j++)
                        key[j] = (char) tolower((unsigned char) fields[i][j]);
                key[kl] = '\0';
                k = snprintf(line + n, sizeof(line) - n, " %s=%s", key, eq + 1);
                n = k < 0 ? n : MIN_(n + (size_t) k, sizeof(line) - 1);
        }
        if (n < sizeof(line) - 1)
                line[n++] = '\n';
        else
                line[sizeof(line) - 2] = '\n';
        fwrite(line, 1, n, stderr);
}

static void write_journal(int level, int error, const char *msg, const char *const *fields,
                          const char *file, int line, const char *func) {
        struct iovec iov[LOG_FIELDS_MAX + 8];
        char prio[32], codeline[32], codefile[512], codefunc[256], errnostr[32], ident[256];
        char *message = NULL;
        size_t n = 0;

        if (asprintf(&message, "MESSAGE=%s", msg) < 0)
                return;
        iov[n++] = (struct iovec) { message, strlen(message) };
        snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
        iov[n++] = (struct iovec) { prio, strlen(prio) };
        if (file) {
                snprintf(codefile, sizeof(codefile), "CODE_FILE=%s", file);
                iov[n++] = (struct iovec) { codefile, strlen(codefile) };
                snprintf(codeline, sizeof(codeline), "CODE_LINE=%d", line);
                iov[n++] = (struct iovec) { codeline, strlen(codeline) };
        }
        if (func) {
                snprintf(codefunc, sizeof(codefunc), "CODE_FUNC=%s", func);
                iov[n++] = (struct iovec) { codefunc, strlen(codefunc) };
        }
        if (error != 0) {
                snprintf(errnostr, sizeof(errnostr), "ERRNO=%d", abs(error));
                iov[n++] = (struct iovec) { errnostr, strlen(errnostr) };
        }
        if (log_ident) {
                snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", log_ident);
                iov[n++] = (struct iovec) { ident, strlen(ident) };
        }
        for (size_t i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++)
                if (field_ok(fields[i]))
                        iov[n++] = (struct iovec) { (void *) fields[i], strlen(fields[i]) };

        if (sd_journal_sendv(iov, (int) n) < 0)
                write_console(level, msg, fields); /* journal gone: still say it */
        free(message);
}

int log_internalv(int level, int error, const char *const *fields, const char *file, int line,
                  const char *func, const char *format, va_list ap) {
        char buf[LOG_MESSAGE_MAX];
        int saved = errno;

        if (error < 0)
                error = -error;
        if ((level & 7) > log_max_level)
                return -error;

        /* %m means the error passed in (glibc's printf reads errno). */
        errno = error;
        vsnprintf(buf, sizeof(buf), format, ap);

        if (log_get_target() == LOG_TARGET_JOURNAL && journal_available)
                write_journal(level & 7, error, buf, fields, file, line, func);
        else
                write_console(level & 7, buf, fields);

        errno = saved;
        return -error;
}

int log_internal(int level, int error, const char *const *fields, const char *file, int line,
                 const char *func, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_internalv(level, error, fields, file, line, func, format, ap);
        va_end(ap);
        return r;
}

int log_struct_exec_internal(int level, int error, const char *exec_id, const char *state_name,
                             const char *task_id, const char *file, int line, const char *func,
                             const char *format, ...) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        const char *fields[4];
        size_t n = 0;
        va_list ap;
        int r;

        if ((level & 7) > log_max_level)
                return error < 0 ? error : -error;

        if (exec_id) {
                if (asprintf(&a, "EXECUTION_ID=%s", exec_id) < 0)
                        a = NULL;
                else
                        fields[n++] = a;
        }
        if (state_name) {
                if (asprintf(&b, "STATE_NAME=%s", state_name) < 0)
                        b = NULL;
                else
                        fields[n++] = b;
        }
        if (task_id) {
                if (asprintf(&c, "TASK_ID=%s", task_id) < 0)
                        c = NULL;
                else
                        fields[n++] = c;
        }
        fields[n] = NULL;

        va_start(ap, format);
        r = log_internalv(level, error, fields, file, line, func, format, ap);
        va_end(ap);
        return r;
}
