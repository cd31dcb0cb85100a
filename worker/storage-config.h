/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Buckets from the configuration ([buckets] and [s3], docs/configuration.md):
 *
 *     [buckets]
 *     photos = /srv/images/photos       a directory bucket
 *     archive = s3://imgflow-archive    an S3 bucket, with the [s3] settings
 *
 * S3 settings follow AWS's conventions where the configuration leaves them
 * empty (the order of the AWS SDKs):
 *
 *   credentials  s3.access_key_id + s3.secret_access_key (+ s3.session_token),
 *                else $AWS_ACCESS_KEY_ID + $AWS_SECRET_ACCESS_KEY
 *                (+ $AWS_SESSION_TOKEN), else the profile (s3.profile, else
 *                $AWS_PROFILE, else "default") of the shared credentials file
 *                (s3.credentials_file, else $AWS_SHARED_CREDENTIALS_FILE,
 *                else ~/.aws/credentials): aws_access_key_id,
 *                aws_secret_access_key, aws_session_token
 *   region       s3.region, else $AWS_REGION, else $AWS_DEFAULT_REGION, else
 *                us-east-1
 *   endpoint     s3.endpoint, else $AWS_ENDPOINT_URL_S3, else
 *                $AWS_ENDPOINT_URL, else https://s3.<region>.amazonaws.com
 *
 * The credentials file is read once, at start (and on a reload that builds a
 * new Storage); it is untrusted text only in that it may be large or odd:
 * at most 1 MiB, lines of at most 8 KiB.
 */

#include "config.h"
#include "storage.h"

#define STORAGE_CREDENTIALS_FILE_MAX (1024 * 1024)

/* Where an S3 bucket's credentials came from (for the log). */
typedef enum StorageCredentialSource {
        STORAGE_CREDENTIALS_CONFIG,
        STORAGE_CREDENTIALS_ENV,
        STORAGE_CREDENTIALS_FILE,
} StorageCredentialSource;

/* The [s3] settings with AWS's conventions applied (see above), into *o;
 * the strings it points to are owned by *ret_strings (free with strv_free)
 * or borrowed from c and env. env: NULL-terminated "NAME=value" (environ).
 * Returns 0, or -EINVAL / -ENOENT with *ret_error (new) when no credentials
 * are found or the credentials file cannot be read. */
int storage_s3_options_from_config(const Config *c, char *const *env, StorageS3Options *o,
                                   char ***ret_strings, StorageCredentialSource *ret_source,
                                   char **ret_error);

/* Add every bucket of [buckets] to s. Returns 0, or < 0 with *ret_error (new)
 * naming the bucket. The [s3] settings are resolved only when a bucket is an
 * S3 bucket. */
int storage_add_from_config(Storage *s, const Config *c, char *const *env, char **ret_error);

/* The value "s3://<bucket>" of an S3 bucket: its name, borrowed from value,
 * or NULL for a directory. */
const char *storage_config_s3_bucket(const char *value);
