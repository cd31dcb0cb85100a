/* SPDX-License-Identifier: MIT */

/* Tests for worker/storage-config.c: buckets from [buckets], and the S3
 * settings and credentials by AWS's conventions (configuration, then the
 * environment, then the shared credentials file and profile). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "storage-config.h"
#include "test.h"

static Config *config_of(const char *text) {
        Config *c = NULL;
        char *err = NULL;

        ASSERT_INT_EQ(config_new(&c), 0);
        int r = config_load_string(c, text, "test.conf", &err);
        if (r < 0)
                fprintf(stderr, "  %s\n", err);
        ASSERT_INT_EQ(r, 0);
        return c;
}

static char creds_path[64];

static void write_credentials(const char *text) {
        snprintf(creds_path, sizeof creds_path, "/tmp/imgflow-creds-XXXXXX");
        int fd = mkstemp(creds_path);
        ASSERT_TRUE(fd >= 0);
        ASSERT_INT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

TEST(credentials_from_config_env_and_file) {
        StorageS3Options o;
        StorageCredentialSource src;
        char **strings = NULL, *err = NULL;
        char file_env[128];

        write_credentials(
                "# AWS CLI style\n[default]\naws_access_key_id = AKIDDEFAULT\n"
                "aws_secret_access_key = secretdefault\n\n[profile ci]\n"
                "aws_access_key_id=AKIDCI\naws_secret_access_key=secretci\naws_session_token = tok ci\n"
                "region = eu-west-3\n[empty]\naws_access_key_id = only-the-id\n");
        snprintf(file_env, sizeof file_env, "AWS_SHARED_CREDENTIALS_FILE=%s", creds_path);

        /* 1. The configuration wins over the environment. */
        Config *c = config_of("[s3]\naccess_key_id = AKIDCONF\nsecret_access_key = secretconf\n");
        char *env1[] = {"AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=secretenv", file_env, NULL};
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env1, &o, &strings, &src, &err), 0);
        ASSERT_INT_EQ(src, STORAGE_CREDENTIALS_CONFIG);
        ASSERT_STR_EQ(o.access_key_id, "AKIDCONF");
        ASSERT_NULL(o.session_token);
        strv_free(strings);
        config_free(c);

        /* 2. Then the environment (with its session token). */
        c = config_of("");
        char *env2[] = {"AWS_ACCESS_KEY_ID=AKIDENV", "AWS_SECRET_ACCESS_KEY=secretenv",
                        "AWS_SESSION_TOKEN=tokenv", file_env, NULL};
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env2, &o, &strings, &src, &err), 0);
        ASSERT_INT_EQ(src, STORAGE_CREDENTIALS_ENV);
        ASSERT_STR_EQ(o.access_key_id, "AKIDENV");
        ASSERT_STR_EQ(o.secret_access_key, "secretenv");
        ASSERT_STR_EQ(o.session_token, "tokenv");
        strv_free(strings);

        /* An id without a secret is no source: on to the file's default. */
        char *env3[] = {"AWS_ACCESS_KEY_ID=AKIDENV", file_env, NULL};
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env3, &o, &strings, &src, &err), 0);
        ASSERT_INT_EQ(src, STORAGE_CREDENTIALS_FILE);
        ASSERT_STR_EQ(o.access_key_id, "AKIDDEFAULT");
        ASSERT_STR_EQ(o.secret_access_key, "secretdefault");
        strv_free(strings);

        /* 3. $AWS_PROFILE picks the section ("[profile ci]" too). */
        char *env4[] = {"AWS_PROFILE=ci", file_env, NULL};
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env4, &o, &strings, &src, &err), 0);
        ASSERT_STR_EQ(o.access_key_id, "AKIDCI");
        ASSERT_STR_EQ(o.session_token, "tok ci");
        strv_free(strings);
        config_free(c);

        /* s3.profile wins over $AWS_PROFILE; a profile without a secret is
         * refused, naming it. */
        c = config_of("[s3]\nprofile = empty\n");
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env4, &o, &strings, &src, &err), -ENOENT);
        ASSERT_NOT_NULL(strstr(err, "empty"));
        free(err);
        err = NULL;
        config_free(c);

        /* No source at all. */
        c = config_of("[s3]\ncredentials_file = /nonexistent/credentials\n");
        char *env5[] = {NULL};
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env5, &o, &strings, &src, &err), -ENOENT);
        ASSERT_NOT_NULL(strstr(err, "/nonexistent/credentials"));
        free(err);
        config_free(c);
        unlink(creds_path);
}

TEST(region_endpoint_and_addressing) {
        StorageS3Options o;
        char **strings = NULL, *err = NULL;
        char *env[] = {"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", "AWS_DEFAULT_REGION=eu-central-1",
                       "AWS_ENDPOINT_URL=http://127.0.0.1:9000", NULL};
        char *env_r[] = {"AWS_ACCESS_KEY_ID=a",
                         "AWS_SECRET_ACCESS_KEY=b",
                         "AWS_REGION=ap-south-1",
                         "AWS_DEFAULT_REGION=eu-central-1",
                         "AWS_ENDPOINT_URL=http://x:1",
                         "AWS_ENDPOINT_URL_S3=http://s3only:2",
                         NULL};

        Config *c = config_of("");
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env, &o, &strings, NULL, &err), 0);
        ASSERT_STR_EQ(o.region, "eu-central-1");
        ASSERT_STR_EQ(o.endpoint, "http://127.0.0.1:9000");
        ASSERT_FALSE(o.path_style);
        ASSERT_TRUE(o.verify_tls);
        ASSERT_INT_EQ(o.multipart_threshold, 16u << 20);
        ASSERT_INT_EQ(o.max_attempts, 5);
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env_r, &o, &strings, NULL, &err), 0);
        ASSERT_STR_EQ(o.region, "ap-south-1");
        ASSERT_STR_EQ(o.endpoint, "http://s3only:2");
        config_free(c);

        c = config_of("[s3]\nregion = us-west-2\nendpoint = https://minio.example:9000\naddressing = path\n"
                      "verify_tls = false\nmultipart_threshold = 64MiB\nmax_attempts = 3\n");
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env_r, &o, &strings, NULL, &err), 0);
        ASSERT_STR_EQ(o.region, "us-west-2");
        ASSERT_STR_EQ(o.endpoint, "https://minio.example:9000");
        ASSERT_TRUE(o.path_style);
        ASSERT_FALSE(o.verify_tls);
        ASSERT_INT_EQ(o.multipart_threshold, 64u << 20);
        ASSERT_INT_EQ(o.max_attempts, 3);
        config_free(c);

        c = config_of("[s3]\naddressing = sideways\n");
        ASSERT_INT_EQ(storage_s3_options_from_config(c, env, &o, &strings, NULL, &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "sideways"));
        free(err);
        config_free(c);
}

TEST(buckets_from_config) {
        char dir[] = "/tmp/imgflow-bkt-XXXXXX", text[512], *err = NULL;
        char *env[] = {"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", NULL};
        char *noenv[] = {"HOME=/nonexistent", NULL};
        Storage *s = NULL;

        ASSERT_NOT_NULL(mkdtemp(dir));
        snprintf(text, sizeof text, "[buckets]\nphotos = %s\narchive = s3://imgflow-archive\n", dir);
        Config *c = config_of(text);
        ASSERT_INT_EQ(storage_new(&s), 0);
        ASSERT_INT_EQ(storage_add_from_config(s, c, env, &err), 0);
        ASSERT_INT_EQ(storage_bucket_kind(s, "photos"), STORAGE_DIRECTORY);
        ASSERT_INT_EQ(storage_bucket_kind(s, "archive"), STORAGE_S3);
        storage_free(s);

        /* An S3 bucket without credentials is refused, naming it; a
         * directory bucket needs none. */
        ASSERT_INT_EQ(storage_new(&s), 0);
        ASSERT_INT_EQ(storage_add_from_config(s, c, noenv, &err), -ENOENT);
        ASSERT_NOT_NULL(strstr(err, "archive = s3://imgflow-archive"));
        free(err);
        storage_free(s);
        config_free(c);

        c = config_of("[buckets]\nbad = s3://no/slashes\n");
        ASSERT_INT_EQ(storage_new(&s), 0);
        ASSERT_INT_EQ(storage_add_from_config(s, c, env, &err), -EINVAL);
        ASSERT_NOT_NULL(strstr(err, "bad = s3://no/slashes"));
        free(err);
        storage_free(s);
        config_free(c);
        rmdir(dir);
}
