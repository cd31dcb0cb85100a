/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Triggers: S3 event notifications (the JSON that S3 and S3-compatible
 * stores publish for "an object was created", and imgflow-watch for
 * directory buckets) turned into StartExecution requests by rules of the
 * configuration. Pure: no I/O, no clock; the coordinator consumes the
 * notifications topic and sends what this returns (coordinator-triggers.c).
 *
 * A message is {"Records": [record, ...]}; a record that counts is
 *
 *   {"eventName": "ObjectCreated:Put" (or "s3:ObjectCreated:Put"),
 *    "s3": {"bucket": {"name": "photos"},
 *           "object": {"key": "raw/my+cat.jpg" (URL-encoded, '+' = space),
 *                      "size": 1234, "eTag": "9b2cf5...", "sequencer": "..."}}}
 *
 * Other event names (ObjectRemoved:*, ...) and messages without Records (S3's
 * s3:TestEvent) are ignored; a created object that no rule matches is
 * unmatched. Both are counted, neither is an error. A message that is not
 * such JSON is malformed (the coordinator sends it to the dead-letter topic).
 *
 * Rules ([triggers] in the configuration), one per line:
 *
 *     <rule name> = bucket=<bucket> [prefix=<prefix>] [suffix=<suffix>] state_machine=<name>
 *
 * <bucket> is imgflow's name of the bucket ([buckets]); a notification
 * names the service's bucket, which [buckets] maps back (archive =
 * s3://acme-archive: an event of acme-archive is of "archive"). Every rule
 * that matches a record starts one execution of its state machine, with the
 * input {"bucket", "key", "size", "eTag"} (the seed's shape, the key
 * decoded) and a name derived from bucket, key and eTag
 * (trigger_execution_name): a notification delivered twice names the same
 * execution (started once), a new upload of the key (a new eTag) a new one.
 *
 * Limits (untrusted input): TRIGGERS_RECORDS_MAX records per message, keys
 * of at most 1,024 bytes once decoded (S3's limit), TRIGGERS_RULES_MAX rules.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TRIGGERS_RULES_MAX 256
#define TRIGGERS_RECORDS_MAX 100
#define TRIGGERS_KEY_MAX 1024
#define TRIGGERS_ETAG_MAX 128
/* A Step Functions execution name: 1..80 characters. */
#define TRIGGER_NAME_MAX 80

typedef struct Triggers Triggers;

int triggers_new(Triggers **ret);
/* Accepts NULL; returns NULL. */
Triggers *triggers_free(Triggers *t);

/* Add rule `name` from its spec (both borrowed). -EINVAL with *ret_error
 * (new) for a bad spec; -E2BIG past TRIGGERS_RULES_MAX. */
int triggers_add_rule(Triggers *t, const char *name, const char *spec, char **ret_error);
/* Keys in notifications as they are rather than URL-encoded (some
 * S3-compatible stores, versitygw among them, write them so). */
void triggers_set_plain_keys(Triggers *t, bool plain);
/* Events of the service's bucket `remote` are of imgflow's bucket `local`. */
int triggers_add_bucket_alias(Triggers *t, const char *remote, const char *local);
size_t triggers_n_rules(const Triggers *t);

typedef struct TriggerStart {
        char *state_machine; /* owned */
        char *rule;          /* owned: the rule's name */
        char name[TRIGGER_NAME_MAX + 1];
        json_t *input; /* owned */
} TriggerStart;

typedef struct TriggerMatch {
        TriggerStart *starts;
        size_t n_starts;
        size_t n_created;   /* ObjectCreated records */
        size_t n_unmatched; /* ... that no rule matched */
        size_t n_ignored;   /* other records, test events */
} TriggerMatch;

/* Match one notification message (payload of len bytes, borrowed) against
 * the rules into *ret (free with trigger_match_done). 0, or -EBADMSG with
 * *ret_error (new) when the message is not an S3 event notification,
 * -ENOMEM. */
int triggers_match(const Triggers *t, const char *payload, size_t len, TriggerMatch *ret, char **ret_error);
void trigger_match_done(TriggerMatch *m);

/* The execution name of an object version: the key's last component
 * reduced to [A-Za-z0-9._-] and cut to 40 bytes, '-', and the first 20 hex
 * digits of the SHA-256 of bucket, key and eTag (each followed by a NUL).
 * Always a valid, deterministic name. */
void trigger_execution_name(const char *bucket, const char *key, size_t key_len, const char *etag,
                            char ret[static TRIGGER_NAME_MAX + 1]);

/* Decode an S3 event key ("%XX", '+' = space) into *ret (new, NUL-terminated;
 * *ret_len without the NUL). -EINVAL for a bad escape or an embedded NUL. */
int trigger_key_decode(const char *in, char **ret, size_t *ret_len);
