/* SPDX-License-Identifier: MIT */
#pragma once

/* The web console under /console/ (console.c says what it serves). */

#include <stdint.h>

#include "api.h"
#include "console-session.h"
#include "keys.h"

typedef struct ConsoleFile ConsoleFile;

/* A new random secret for the sessions of this process. */
void console_secret_init(uint8_t secret[static CONSOLE_SECRET_BYTES]);

/* Answer a request whose path starts with /console. */
void console_request(ApiCall *c);

/* GET /console/thumbnail for a signed-in key (console-thumbnail.c). */
void console_thumbnail(ApiCall *c, const ApiKey *key);
