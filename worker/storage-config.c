/* SPDX-License-Identifier: MIT */

/*
 * Buckets from the configuration, and S3 settings by AWS's conventions (see
 * storage-config.h for the order). The shared credentials file is an ini
 * file AWS's tools write ([profile] sections, "key = value", '#' and ';'
 * comments); this reads the three keys imgflow needs from one section and
 * ignores the rest, as the SDKs do. Written here: daemon/config.c's parser
 * refuses unknown keys by design, and no Debian library reads this format.
 */

#include "storage-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

#define CREDENTIALS_LINE_MAX 8192

static const char *env_get(char *const *env, const char *name) {
        size_t n = strlen(name);

        for (char *const *e = env; e && *e; e++)
                if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
                        return (*e)[n + 1] ? *e + n + 1 : NULL;
        return NULL;
}

const char *storage_config_s3_bucket(const char *value) {
        if (!value || strncmp(value, "s3://", 5) != 0)
                return NULL;
        return value + 5;
}

static char *trim(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
                *--e = '\0';
        return s;
}

/* The keys of [profile] in the credentials file at path into ret[0..2]
 * (aws_access_key_id, aws_secret_access_key, aws_session_token; new strings
 * or NULL). 0 when the file was read (the profile may be missing), -errno. */
static int credentials_file_read(const char *path, const char *profile, char *ret[3]) {
        static const char *const keys[3] = {"aws_access_key_id", "aws_secret_access_key",
                                            "aws_session_token"};
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *text = NULL;
        struct stat st;
        bool in = false;
        size_t have = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size > STORAGE_CREDENTIALS_FILE_MAX)
                return -EFBIG;
        text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        while (have < (size_t) st.st_size) {
                ssize_t k = read(fd, text + have, (size_t) st.st_size - have);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                have += (size_t) k;
        }
        text[have] = '\0';

        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strlen(line) > CREDENTIALS_LINE_MAX)
                        return -E2BIG;
                char *l = trim(line);
                if (!*l || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        char *end = strchr(l, ']');
                        if (!end)
                                continue;
                        *end = '\0';
                        char *name = trim(l + 1);
                        /* ~/.aws/config writes "[profile x]"; accept it here too. */
                        if (strncmp(name, "profile ", 8) == 0)
                                name = trim(name + 8);
                        in = streq(name, profile);
                        continue;
                }
                if (!in)
                        continue;
                char *eq = strchr(l, '=');
                if (!eq)
                        continue;
                *eq = '\0';
                char *k = trim(l), *v = trim(eq + 1);
                for (size_t i = 0; i < 3; i++)
                        if (streq(k, keys[i]) && *v) {
                                free(ret[i]);
                                ret[i] = strdup(v);
                                if (!ret[i])
                                        return -ENOMEM;
                        }
        }
        return 0;
}

static int strv_push(char ***l, size_t *n, char *s) {
        char **nl;

        if (!s)
                return -ENOMEM;
        nl = realloc(*l, (*n + 2) * sizeof(char *));
        if (!nl) {
                free(s);
                return -ENOMEM;
        }
        nl[(*n)++] = s;
        nl[*n] = NULL;
        *l = nl;
        return 0;
}

static int fail(char **ret_error, int r, const char *fmt, const char *a, const char *b) {
        if (ret_error) {
                _cleanup_free_ char *m = NULL;
                /* Two string arguments at most; the format is ours. */
                if (asprintf(&m, "%s%s%s%s", fmt, a ? a : "", b ? ": " : "", b ? b : "") < 0)
                        m = NULL;
                *ret_error = TAKE_PTR(m);
        }
        return r;
}

int storage_s3_options_from_config(const Config *c, char *const *env, StorageS3Options *o,
                                   char ***ret_strings, StorageCredentialSource *ret_source,
                                   char **ret_error) {
        _cleanup_strv_free_ char **owned = NULL;
        size_t n_owned = 0;
        const char *v, *addressing;
        StorageCredentialSource source;
        int r;

        storage_s3_options_init(o);

        v = config_get_string(c, "s3", "region");
        if (isempty(v))
                v = env_get(env, "AWS_REGION");
        if (isempty(v))
                v = env_get(env, "AWS_DEFAULT_REGION");
        if (!isempty(v))
                o->region = v;

        v = config_get_string(c, "s3", "endpoint");
        if (isempty(v))
                v = env_get(env, "AWS_ENDPOINT_URL_S3");
        if (isempty(v))
                v = env_get(env, "AWS_ENDPOINT_URL");
        o->endpoint = isempty(v) ? NULL : v;

        addressing = config_get_string(c, "s3", "addressing");
        if (streq(addressing, "path"))
                o->path_style = true;
        else if (streq(addressing, "virtual"))
                o->path_style = false;
        else
                return fail(ret_error, -EINVAL, "s3.addressing must be path or virtual, not ", addressing,
                            NULL);

        o->verify_tls = config_get_bool(c, "s3", "verify_tls");
        v = config_get_string(c, "s3", "ca_file");
        o->ca_file = isempty(v) ? NULL : v;
        o->multipart_threshold = config_get_size(c, "s3", "multipart_threshold");
        o->part_size = config_get_size(c, "s3", "part_size");
        o->max_attempts = (unsigned) config_get_int(c, "s3", "max_attempts");
        o->timeout_ms = config_get_duration_ms(c, "s3", "timeout");
        o->connect_timeout_ms = config_get_duration_ms(c, "s3", "connect_timeout");

        /* Credentials: the configuration, the environment, the file. A
         * source counts only when it has both the key id and the secret. */
        if (!isempty(config_get_string(c, "s3", "access_key_id")) &&
            !isempty(config_get_string(c, "s3", "secret_access_key"))) {
                o->access_key_id = config_get_string(c, "s3", "access_key_id");
                o->secret_access_key = config_get_string(c, "s3", "secret_access_key");
                v = config_get_string(c, "s3", "session_token");
                o->session_token = isempty(v) ? NULL : v;
                source = STORAGE_CREDENTIALS_CONFIG;
        } else if (env_get(env, "AWS_ACCESS_KEY_ID") && env_get(env, "AWS_SECRET_ACCESS_KEY")) {
                o->access_key_id = env_get(env, "AWS_ACCESS_KEY_ID");
                o->secret_access_key = env_get(env, "AWS_SECRET_ACCESS_KEY");
                o->session_token = env_get(env, "AWS_SESSION_TOKEN");
                source = STORAGE_CREDENTIALS_ENV;
        } else {
                _cleanup_free_ char *path = NULL;
                char *keys[3] = {};
                const char *profile = config_get_string(c, "s3", "profile");

                if (isempty(profile))
                        profile = env_get(env, "AWS_PROFILE");
                if (isempty(profile))
                        profile = "default";
                v = config_get_string(c, "s3", "credentials_file");
                if (isempty(v))
                        v = env_get(env, "AWS_SHARED_CREDENTIALS_FILE");
                if (!isempty(v))
                        path = strdup(v);
                else if (env_get(env, "HOME") &&
                         asprintf(&path, "%s/.aws/credentials", env_get(env, "HOME")) < 0)
                        path = NULL;
                if (!path)
                        return fail(ret_error, -ENOENT,
                                    "no S3 credentials: set s3.access_key_id and s3.secret_access_key, "
                                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a credentials file",
                                    NULL, NULL);
                r = credentials_file_read(path, profile, keys);
                if (r < 0) {
                        for (size_t i = 0; i < 3; i++)
                                free(keys[i]);
                        return fail(ret_error, r == -ENOMEM ? r : -ENOENT,
                                    "no S3 credentials in the configuration or the environment, and cannot "
                                    "read the credentials file ",
                                    path, strerror(-r));
                }
                if (!keys[0] || !keys[1]) {
                        for (size_t i = 0; i < 3; i++)
                                free(keys[i]);
                        return fail(ret_error, -ENOENT,
                                    "no S3 credentials in the configuration, the environment, or profile ",
                                    profile, path);
                }
                o->access_key_id = keys[0];
                o->secret_access_key = keys[1];
                o->session_token = keys[2];
                for (size_t i = 0; i < 3; i++)
                        if (keys[i] && strv_push(&owned, &n_owned, keys[i]) < 0) {
                                for (size_t j = i + 1; j < 3; j++)
                                        free(keys[j]);
                                return -ENOMEM;
                        }
                source = STORAGE_CREDENTIALS_FILE;
        }
        if (ret_source)
                *ret_source = source;
        *ret_strings = TAKE_PTR(owned);
        return 0;
}

typedef struct AddCtx {
        Storage *s;
        const Config *c;
        char *const *env;
        char **error;
        bool have_s3;
        StorageS3Options o;
        char **strings;
} AddCtx;

static int add_one(const char *name, const char *value, void *userdata) {
        AddCtx *a = userdata;
        const char *remote = storage_config_s3_bucket(value);
        _cleanup_free_ char *err = NULL;
        int r;

        if (!remote) {
                r = storage_add_bucket(a->s, name, value);
                if (r < 0 && a->error &&
                    asprintf(a->error, "%sbucket %s = %s: %s", config_where(a->c, "buckets", name), name, value,
                             r == -ENOENT    ? "the directory does not exist"
                             : r == -ENOTDIR ? "not a directory"
                                             : strerror(-r)) < 0)
                        *a->error = NULL;
                return r;
        }
        if (!a->have_s3) {
                r = storage_s3_options_from_config(a->c, a->env, &a->o, &a->strings, NULL, &err);
                if (r < 0) {
                        if (a->error && asprintf(a->error, "%sbucket %s = %s: %s", config_where(a->c, "buckets", name),
                                                 name, value, strempty(err)) < 0)
                                *a->error = NULL;
                        return r;
                }
                a->have_s3 = true;
        }
        r = storage_add_s3_bucket(a->s, name, remote, &a->o, &err);
        if (r < 0 && a->error &&
            asprintf(a->error, "%sbucket %s = %s: %s", config_where(a->c, "buckets", name), name, value,
                     err ? err : strerror(-r)) < 0)
                *a->error = NULL;
        return r;
}

int storage_add_from_config(Storage *s, const Config *c, char *const *env, char **ret_error) {
        AddCtx a = {.s = s, .c = c, .env = env, .error = ret_error};
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = config_foreach_in_section(c, "buckets", add_one, &a);
        strv_free(a.strings);
        return r;
}
