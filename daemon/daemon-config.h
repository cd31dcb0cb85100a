/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one start-up and reload path of the configuration, for
 * imgflow-coordinator, imgflow-worker and the imgflow command alike.
 *
 * Where the values come from, later ones winning:
 *   1. the file: --config PATH; else $IMGFLOW_CONFIG when it is set and not
 *      empty; else config_default_path() when that file exists; else none
 *      (the defaults of config_keys[]);
 *   1b. systemd credentials: with $CREDENTIALS_DIRECTORY set (LoadCredential=
 *      in the unit), each file of daemon_config_secrets[] found there sets
 *      its key (a trailing newline dropped), so secrets need not be in a
 *      file every user or every service can read (docs/security.md);
 *   2. the IMGFLOW_* environment (config_load_env(); daemon/config.h);
 *   3. the command line's flags (--redis, --log-level, --threads, ...), in
 *      the order they were given.
 * Every value is checked where it is set (daemon/config.c), so a bad one is
 * an error at start naming the file and line, the variable or the flag.
 *
 * Reload (SIGHUP, daemons only): daemon_config_reload() reads the file that
 * was chosen at start again, then the environment, then the same flags, so
 * a flag keeps winning over the file as it did at start. What changes
 * without a restart is applied: the log level here, and what a daemon takes
 * from the configuration it is handed back (the coordinator's [resources]).
 * Everything else (threads, buckets, Kafka and Redis settings, the log
 * target) needs a restart; a file that no longer loads changes nothing
 * (logged).
 *
 *   DaemonConfigArgs args = {};            (parse argv into it)
 *   args.config_path = optarg;             (--config)
 *   daemon_config_args_add(&args, "--redis", "redis", "address", optarg);
 *   r = daemon_config_load(&args, environ, &config, &error);
 *   r = daemon_config_apply_log(config);   (daemons)
 *   ... on SIGHUP: daemon_config_reload(&args, environ);
 *   daemon_config_args_done(&args);
 *
 * Layering: daemon/ (config.c and log.c); no I/O besides reading the file.
 */

#include <stddef.h>

#include "config.h"

#define DAEMON_CONFIG_FLAGS_MAX 64
/* A credential file is at most this many bytes. */
#define DAEMON_CONFIG_CREDENTIAL_MAX 4096

/* The secret keys, and the systemd credential that may give each. */
typedef struct DaemonConfigSecret {
        const char *credential; /* "redis-password" */
        const char *section, *key;
} DaemonConfigSecret;

/* Terminated by an entry with credential NULL. */
extern const DaemonConfigSecret daemon_config_secrets[];

/* One configuration value given on the command line (strings owned). */
typedef struct DaemonConfigFlag {
        char *name; /* the option, for messages ("--redis") */
        char *section, *key, *value;
} DaemonConfigFlag;

typedef struct DaemonConfigArgs {
        const char *config_path; /* --config (borrowed, from argv); NULL = not given */
        DaemonConfigFlag flags[DAEMON_CONFIG_FLAGS_MAX];
        size_t n_flags;
        char *path;    /* the file daemon_config_load() chose (owned); NULL = none */
        bool resolved; /* path is chosen: a reload reads the same file */
} DaemonConfigArgs;

/* A flag: section.key = value, applied after the file and the environment
 * (all copied). -E2BIG past DAEMON_CONFIG_FLAGS_MAX flags. */
int daemon_config_args_add(DaemonConfigArgs *a, const char *name, const char *section, const char *key,
                           const char *value);
/* Frees the flags and the chosen path; a is empty again. */
void daemon_config_args_done(DaemonConfigArgs *a);

/* The file the rules above choose from config_path, env ($IMGFLOW_CONFIG)
 * and the default path, or NULL. Borrowed from a, env or a constant. */
const char *daemon_config_choose_path(const DaemonConfigArgs *a, char *const *env);

/*
 * Load the configuration in the order above. env: a NULL-terminated
 * "NAME=value" array (environ; borrowed), which also gives $IMGFLOW_CONFIG.
 * The first time, the file is chosen and kept in a->path; later calls read
 * that same file. Returns 0 and *ret (new), or -errno and *ret_error (new:
 * the file and line, the variable or the flag, and what is wrong).
 */
int daemon_config_load(DaemonConfigArgs *a, char *const *env, Config **ret, char **ret_error);

/* Applies imgflow.log_target and imgflow.log_level. */
int daemon_config_apply_log(const Config *c);

/* SIGHUP: load again (daemon_config_load() with the same a) and apply what
 * can change without a restart; logs what it did ("Reloaded: log level
 * debug") or why nothing changed. With ret_config, the configuration just
 * loaded (new) for the daemon's own part of the reload. 0, or -errno when
 * the file no longer loads (*ret_config untouched). */
int daemon_config_reload(DaemonConfigArgs *a, char *const *env, Config **ret_config);

/* The --check-config line: "<path>: configuration is valid." ("(no file)"
 * when none was read), on stdout. */
void daemon_config_print_valid(const DaemonConfigArgs *a);

/*
 * --check-config's warnings about secrets (logged, not errors): the file
 * chosen in a is readable by every user (mode o+r) and sets a secret
 * itself; or, with redis_allowed false (workers), c holds a Redis password
 * although the program never talks to Redis. Returns how many warnings.
 */
int daemon_config_warn_secrets(const DaemonConfigArgs *a, const Config *c, bool redis_allowed);
