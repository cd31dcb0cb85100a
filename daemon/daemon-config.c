/* SPDX-License-Identifier: MIT */
/*
 * The start-up and reload path of the configuration (daemon-config.h): the
 * file, systemd credentials, the environment and the flags, in that order,
 * for every program.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "daemon-config.h"
#include "log.h"

const DaemonConfigSecret daemon_config_secrets[] = {
        {"redis-password", "redis", "password"},
        {"kafka-sasl-password", "kafka", "sasl.password"},
        {"kafka-ssl-key-password", "kafka", "ssl.key.password"},
        {"s3-secret-access-key", "s3", "secret_access_key"},
        {"s3-session-token", "s3", "session_token"},
        {},
};

static void flag_done(DaemonConfigFlag *f) {
        free(f->name);
        free(f->section);
        free(f->key);
        free(f->value);
        *f = (DaemonConfigFlag){};
}

int daemon_config_args_add(DaemonConfigArgs *a, const char *name, const char *section, const char *key,
                           const char *value) {
        DaemonConfigFlag f = {
                .name = strdup(name),
                .section = strdup(section),
                .key = strdup(key),
                .value = strdup(value),
        };

        if (a->n_flags >= DAEMON_CONFIG_FLAGS_MAX) {
                flag_done(&f);
                return -E2BIG;
        }
        if (!f.name || !f.section || !f.key || !f.value) {
                flag_done(&f);
                return -ENOMEM;
        }
        a->flags[a->n_flags++] = f;
        return 0;
}

void daemon_config_args_done(DaemonConfigArgs *a) {
        for (size_t i = 0; i < a->n_flags; i++)
                flag_done(&a->flags[i]);
        free(a->path);
        *a = (DaemonConfigArgs){};
}

/* *ret_error = a new message (NULL when out of memory); returns r. */
static int error_set(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int error_set(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

static const char *env_get(char *const *env, const char *name) {
        size_t n = strlen(name);

        for (; env && *env; env++)
                if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
                        return *env + n + 1;
        return NULL;
}

const char *daemon_config_choose_path(const DaemonConfigArgs *a, char *const *env) {
        const char *path = env_get(env, "IMGFLOW_CONFIG");

        if (a->config_path)
                return a->config_path;
        if (!isempty(path))
                return path;
        if (access(config_default_path(), F_OK) == 0)
                return config_default_path();
        return NULL;
}

/* The credentials of daemon_config_secrets[] that dir holds (none when dir
 * is NULL or empty). */
static int load_credentials(Config *c, const char *dir, char **ret_error) {
        if (isempty(dir))
                return 0;
        for (const DaemonConfigSecret *s = daemon_config_secrets; s->credential; s++) {
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, s->credential), *error = NULL;
                char buf[DAEMON_CONFIG_CREDENTIAL_MAX + 1];
                ssize_t n;
                int fd, r;

                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        if (errno == ENOENT)
                                continue;
                        return error_set(ret_error, -errno, "credential %s: %s", path, strerror(errno));
                }
                n = read(fd, buf, sizeof buf);
                r = n < 0 ? -errno : 0;
                close(fd);
                if (r < 0)
                        return error_set(ret_error, r, "credential %s: %s", path, strerror(-r));
                if ((size_t) n > DAEMON_CONFIG_CREDENTIAL_MAX)
                        return error_set(ret_error, -E2BIG, "credential %s: over %d bytes", path,
                                         DAEMON_CONFIG_CREDENTIAL_MAX);
                if (n > 0 && buf[n - 1] == '\n')
                        n--;
                if (n > 0 && buf[n - 1] == '\r')
                        n--;
                if (memchr(buf, '\0', (size_t) n) || memchr(buf, '\n', (size_t) n))
                        return error_set(ret_error, -EINVAL, "credential %s: one line of text expected",
                                         path);
                buf[n] = '\0';
                r = config_set(c, s->section, s->key, buf, &error);
                if (r < 0)
                        return error_set(ret_error, r, "credential %s: %s", path, error ?: strerror(-r));
        }
        return 0;
}

int daemon_config_load(DaemonConfigArgs *a, char *const *env, Config **ret, char **ret_error) {
        _cleanup_config_ Config *c = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!a->resolved) {
                const char *path = daemon_config_choose_path(a, env);

                a->path = path ? strdup(path) : NULL;
                if (path && !a->path)
                        return error_set(ret_error, -ENOMEM, "out of memory");
                a->resolved = true;
        }
        r = config_new(&c);
        if (r < 0)
                return error_set(ret_error, r, "cannot create the configuration: %s", strerror(-r));
        if (a->path) {
                r = config_load_file(c, a->path, &error);
                if (r < 0)
                        return error ? (*ret_error = TAKE_PTR(error), r)
                                     : error_set(ret_error, r, "%s: %s", a->path, strerror(-r));
        }
        r = load_credentials(c, env_get(env, "CREDENTIALS_DIRECTORY"), ret_error);
        if (r < 0)
                return r;
        r = config_load_env(c, env, &error);
        if (r < 0)
                return error ? (*ret_error = TAKE_PTR(error), r)
                             : error_set(ret_error, r, "environment: %s", strerror(-r));
        for (size_t i = 0; i < a->n_flags; i++) {
                const DaemonConfigFlag *f = &a->flags[i];

                r = config_set_from(c, f->section, f->key, f->value, f->name, &error);
                if (r < 0) /* the message starts with the flag's name */
                        return error ? (*ret_error = TAKE_PTR(error), r)
                                     : error_set(ret_error, r, "%s: %s", f->name, strerror(-r));
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int daemon_config_apply_log(const Config *c) {
        int r = log_set_target_from_string(config_get_string(c, "imgflow", "log_target"));
        if (r >= 0)
                r = log_set_max_level_from_string(config_get_string(c, "imgflow", "log_level"));
        return r;
}

int daemon_config_reload(DaemonConfigArgs *a, char *const *env, Config **ret_config) {
        _cleanup_config_ Config *c = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = daemon_config_load(a, env, &c, &error);
        if (r < 0)
                return log_error_errno(r, "Reload failed, nothing changed: %s", error ?: "");
        r = log_set_max_level_from_string(config_get_string(c, "imgflow", "log_level"));
        if (r < 0)
                log_error_errno(r, "Reload: cannot apply imgflow.log_level: %m");
        else
                log_notice("Reloaded: log level %s", config_get_string(c, "imgflow", "log_level"));
        if (ret_config)
                *ret_config = TAKE_PTR(c);
        return 0;
}

void daemon_config_print_valid(const DaemonConfigArgs *a) {
        printf("%s: configuration is valid.\n", a->path ?: "(no file)");
}

int daemon_config_warn_secrets(const DaemonConfigArgs *a, const Config *c, bool redis_allowed) {
        int n = 0;

        if (a->path) {
                _cleanup_config_ Config *file = NULL;
                _cleanup_free_ char *error = NULL;
                struct stat st;

                if (stat(a->path, &st) == 0 && (st.st_mode & S_IROTH) && config_new(&file) >= 0 &&
                    (config_set_quiet(file, true), config_load_file(file, a->path, &error)) >= 0)
                        for (const DaemonConfigSecret *s = daemon_config_secrets; s->credential; s++) {
                                if (isempty(config_get_raw(file, s->section, s->key)))
                                        continue;
                                log_warning("%s is readable by every user (mode %04o) and holds %s.%s: "
                                            "make it 0640 for the service's group, or give the secret as "
                                            "the systemd credential \"%s\" (docs/security.md).",
                                            a->path, (unsigned) (st.st_mode & 07777), s->section, s->key,
                                            s->credential);
                                n++;
                        }
        }
        if (!redis_allowed && !isempty(config_get_string(c, "redis", "password"))) {
                log_warning("redis.password is set, but this program never talks to Redis and should not "
                            "hold its credentials: give it a file without them (docs/security.md).");
                n++;
        }
        return n;
}
