/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The access keys of imgflow-api: who may call it, with which secret, and
 * what each may do (an IAM identity policy per key). The file is JSON:
 *
 *   {"keys": [
 *     {"accessKeyId": "AKIAIMGFLOWCI0000001",
 *      "secretAccessKey": "...",
 *      "user": "ci",
 *      "policy": {"Version": "2012-10-17",
 *                 "Statement": [{"Effect": "Allow",
 *                                "Action": ["states:StartExecution", "states:Describe*"],
 *                                "Resource": "arn:aws:states:*:*:stateMachine:image-*"}]}}
 *   ]}
 *
 * accessKeyId: 16..128 characters [A-Z0-9] (as IAM's); secretAccessKey: at
 * least 16 characters; user (optional, default the key id): the name in
 * "arn:aws:iam::<account>:user/<user>" that AccessDeniedException names;
 * policy: iam.h. A key id may appear once. Everything else is refused with
 * a message naming the key (never its secret).
 *
 * Parsing is pure (the text comes in); the daemon reads the file, and
 * refuses one that others than its owner may read (api.c).
 */

#include <stddef.h>

#include "iam.h"

#define KEYS_MAX 10000
#define KEYS_FILE_MAX (16 * 1024 * 1024)

typedef struct ApiKey {
        char *access_key_id;
        char *secret;
        char *user;
        IamPolicy *policy;
} ApiKey;

typedef struct KeySet KeySet;

/* 0 and *ret (new), or -EINVAL and *ret_error (new string). */
int keys_parse(const char *text, size_t len, KeySet **ret, char **ret_error);
KeySet *keys_free(KeySet *k);
static inline void keys_freep(KeySet **k) {
        keys_free(*k);
}
/* Borrowed, NULL when unknown. */
const ApiKey *keys_find(const KeySet *k, const char *access_key_id);
size_t keys_count(const KeySet *k);
