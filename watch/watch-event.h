/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What imgflow-watch writes, without I/O: the S3 event notification of a
 * file that became an object of a directory bucket (the format Amazon S3
 * publishes, which the coordinator's triggers read), the URL encoding of
 * its key, and the lines of the journal that remembers what was published.
 *
 *   {"Records": [{"eventVersion": "2.1", "eventSource": "imgflow:watch",
 *     "eventTime": "2026-12-05T01:02:03.456Z", "eventName": "ObjectCreated:Put",
 *     "s3": {"s3SchemaVersion": "1.0", "configurationId": "imgflow-watch",
 *            "bucket": {"name": "photos", "arn": "arn:aws:s3:::photos"},
 *            "object": {"key": "raw/my+cat.jpg", "size": 1234,
 *                       "eTag": "<MD5 of the content>", "sequencer": "<hex>"}}}]}
 *
 * A journal line is "<size> <mtime ns> <eTag> <URL-encoded key>\n".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The key as S3 writes it in events: [A-Za-z0-9-._~/] as they are, a space
 * as '+', every other byte %XX. New string. */
char *watch_key_encode(const char *key);

/* The notification of one object (new string). time_ms: the event time. */
char *watch_event_json(const char *bucket, const char *key, uint64_t size, const char *etag,
                       uint64_t mtime_ns, int64_t time_ms);

/* A journal line (new string, with its newline). */
char *watch_journal_line(const char *key, uint64_t size, uint64_t mtime_ns, const char *etag);
/* Parse one journal line (without the newline) into its parts (*ret_key new,
 * decoded; *ret_etag new). -EINVAL for a line that is not one (a torn last
 * line after a crash). */
int watch_journal_parse(const char *line, char **ret_key, uint64_t *ret_size, uint64_t *ret_mtime_ns,
                        char **ret_etag);

/* Whether a key is one of the ignored prefixes (a NULL-terminated list), or
 * the temporary file of an atomic writer (".<name>.tmp-XXXXXX", as the
 * workers name theirs). */
bool watch_key_ignored(const char *key, char *const *ignore_prefixes);
