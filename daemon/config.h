/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The configuration of all imgflow programs: one ini-like key file
 * (/etc/imgflow/imgflow.conf by default):
 *
 *     # comment
 *     [section]
 *     key = value
 *
 * Every key of the fixed sections is in a table (config_keys[]: section,
 * key, type, default, help), so an unknown key or a bad value is refused
 * with a message naming `section.key` and the file and line. Values are
 * typed: string, int, bool (true/false/yes/no/on/off/1/0), duration
 * ("500ms", "30s", "5m", "2h", "7d", combinations like "1h30m"; a bare
 * number is seconds) and size ("256KiB", "1M" = 1 MiB, "1MB" = 10^6, a bare
 * number is bytes).
 *
 * Pass-through sections accept any key and keep the value as a string:
 *   [kafka]            librdkafka properties, given to rd_kafka_conf_set()
 *                      unchanged (bootstrap.servers, security.protocol, ...)
 *   [kafka.producer]   properties only for producers (override [kafka])
 *   [kafka.consumer]   properties only for consumers (override [kafka])
 *   [buckets]          bucket name = directory root (photos = /srv/images/photos)
 *   [resources]        Lambda function name or ARN = operation or pool
 *                      (ValidateImage = image.validate,
 *                       arn:aws:lambda:...:function:X = pool:gpu)
 *
 * Environment overrides: IMGFLOW_<SECTION>_<KEY>, upper-cased, '.' and '-'
 * become '_' (IMGFLOW_REDIS_ADDRESS, IMGFLOW_KAFKA_PRODUCER_LINGER_MS). For
 * the [imgflow] section the short form IMGFLOW_<KEY> works too
 * (IMGFLOW_LOG_LEVEL). For pass-through sections the longest matching
 * section wins and the rest of the name, lower-cased with '_' -> '.', is the
 * key (IMGFLOW_KAFKA_SECURITY_PROTOCOL -> kafka.security.protocol; bucket
 * names: IMGFLOW_BUCKETS_PHOTOS -> buckets.photos). Variables that name no
 * key (IMGFLOW_CONFIG, ...) are ignored; a bad value of a known key is an
 * error.
 *
 * Precedence: defaults < file < environment < config_set() (CLI flags).
 *
 * A Config is not thread-safe; load it in main() and read it from the
 * event-loop thread (or hand copies of values to threads).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* <sysconfdir>/imgflow/imgflow.conf of the build ("/etc/imgflow/imgflow.conf"
 * for packages); a constant string. */
const char *config_default_path(void);

/* Limits on caller-controlled sizes (STYLE 12). */
#define CONFIG_FILE_MAX (1024 * 1024) /* bytes of one config file */
#define CONFIG_LINE_MAX 8192          /* bytes of one line */
#define CONFIG_ENTRIES_MAX 4096       /* pass-through entries in total */

typedef enum ConfigType {
        CONFIG_STRING,
        CONFIG_INT,
        CONFIG_BOOL,
        CONFIG_DURATION, /* read back in milliseconds */
        CONFIG_SIZE,     /* read back in bytes */
} ConfigType;

typedef struct ConfigKey {
        const char *section;
        const char *key;
        ConfigType type;
        const char *default_value; /* in config-file syntax */
        const char *help;
} ConfigKey;

/* The table of every known key (constant; terminated by {NULL}). */
extern const ConfigKey config_keys[];

/* Sections where any key is allowed (constant; NULL-terminated). */
extern const char *const config_passthrough_sections[];

typedef struct Config Config;

/* New config holding the defaults of config_keys[]. worker.threads defaults
 * to the number of online CPUs. */
int config_new(Config **ret);
/* A configuration read a second time (to look at the file alone) warns of
 * nothing the first load already warned of: quiet loads warn of nothing. */
void config_set_quiet(Config *c, bool quiet);
/* Accepts NULL; returns NULL. */
Config *config_free(Config *c);
static inline void config_freep(Config **c) {
        config_free(*c);
}
#define _cleanup_config_ _cleanup_(config_freep)

/*
 * Parses the file and applies its values on top of what is there. On error
 * returns -errno (-EINVAL for syntax, unknown key or bad value; -ENOENT,
 * -EACCES, -EFBIG ... for the file) and, when ret_error is not NULL, stores a
 * new malloc'd message ("imgflow.conf:12: unknown key worker.thread") that the
 * caller frees. The Config may be partly updated on error (callers exit).
 */
int config_load_file(Config *c, const char *path, char **ret_error);
/* Same for text in memory; `origin` names it in messages (borrowed). */
int config_load_string(Config *c, const char *text, const char *origin, char **ret_error);

/* Applies IMGFLOW_* variables of a NULL-terminated "NAME=value" array
 * (usually `environ`; borrowed). Errors as config_load_file(). */
int config_load_env(Config *c, char *const *env, char **ret_error);

/* Sets one value (CLI flags like --redis, --kafka-bootstrap). Validates as
 * the file does; copies section, key and value. */
int config_set(Config *c, const char *section, const char *key, const char *value,
               char **ret_error);

/* config_set(), remembering where the value came from: source names it in
 * config_where() ("--threads"). */
int config_set_from(Config *c, const char *section, const char *key, const char *value,
                    const char *source, char **ret_error);

/* Where the current value of section.key was set, as a message prefix:
 * "/etc/imgflow/imgflow.conf:12: ", "IMGFLOW_REDIS_ADDRESS: ", "--redis: ",
 * or "" for a default (never NULL; borrowed, valid until the key is set again).
 * Checks made after loading (--check-config) name the line with it. */
const char *config_where(const Config *c, const char *section, const char *key);

/*
 * Getters. section/key must name a key of config_keys[] with the matching
 * type (a programming error otherwise: assert). Strings are borrowed and
 * valid until the key is set again or the Config is freed; "" when empty.
 */
const char *config_get_string(const Config *c, const char *section, const char *key);
int64_t config_get_int(const Config *c, const char *section, const char *key);
bool config_get_bool(const Config *c, const char *section, const char *key);
uint64_t config_get_duration_ms(const Config *c, const char *section, const char *key);
uint64_t config_get_size(const Config *c, const char *section, const char *key);

/* Any section's value as a string (pass-through sections too); borrowed;
 * NULL when not set. */
const char *config_get_raw(const Config *c, const char *section, const char *key);

/*
 * Calls cb for each key set in `section` (pass-through sections; for fixed
 * sections, every key with its current value), in the order they were first
 * set. key and value are borrowed for the call. A negative return of cb
 * stops the walk and is returned; otherwise returns 0.
 */
typedef int (*ConfigForeachFn)(const char *key, const char *value, void *userdata);
int config_foreach_in_section(const Config *c, const char *section, ConfigForeachFn cb,
                              void *userdata);

/* Topic name: imgflow.topic_prefix + name ("jobs" -> "imgflow.jobs"); new string. */
int config_topic(const Config *c, const char *name, char **ret);

/* The value parsers of the loader are lib/parse.h's. */
