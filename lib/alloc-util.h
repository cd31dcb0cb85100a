/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Allocators that cannot fail, and imgflow's one out-of-memory rule.
 *
 * Out of memory, by layer (arrows point down: cli, api -> coordinator,
 * worker -> daemon -> proto -> lib; coordinator/asl -> lib):
 *
 *   lib/          Its functions do not decide: they return NULL or -ENOMEM
 *                 (the JSON writer, the formatters). The x*() functions below
 *                 are the one exception, and abort by definition.
 *   proto/, daemon/, worker/
 *                 Return -ENOMEM (or NULL) and never call x*(). proto/ and
 *                 daemon/ are linked by every program, so the program
 *                 decides; the worker allocates in proportion to untrusted
 *                 images and messages, so a failed allocation fails that
 *                 task or that message, and the tasks beside it go on.
 *   coordinator/asl/, coordinator/, api/, cli/
 *                 Use x*() (and abort() where jansson returns NULL): the
 *                 engine's transition either completes or never happened;
 *                 the coordinator's only state that matters is in Redis,
 *                 changed by one atomic commit per event, so a crash loses
 *                 nothing (the event is redelivered, systemd restarts the
 *                 daemon) while an -ENOMEM threaded through every JSON step
 *                 would be code that never runs in a test; imgflow-api keeps
 *                 no state (a request in flight fails and its client
 *                 retries; an activity task it held goes back when its lease
 *                 expires); the CLI is one command. Sizes these layers
 *                 allocate from untrusted input are bounded before (payload,
 *                 depth, history, request size limits).
 *
 * xmalloc(0) and xrealloc(p, 0) return a unique pointer (1 byte), never NULL.
 */

#include <stdarg.h>
#include <stddef.h>

#include "macro.h"

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
/* NULL is copied as "". */
char *xstrdup(const char *s);
/* At most n bytes of s, NUL-terminated. */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);
