/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Small shared helpers of the ASL engine: cleanup attributes, error values
 * (task failures are values: an ASL error name and a cause), and the
 * diagnostics list that definition validation fills.
 *
 * The engine does no I/O: no files, no sockets, no clock, no randomness of
 * its own. Everything of that kind comes in through AslEnv.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "alloc-util.h"
#include "json-writer.h"
#include "macro.h"

/* Limits every caller-controlled size is checked against (STYLE 12). */
#define ASL_MAX_PAYLOAD_BYTES_DEFAULT (256 * 1024)
#define ASL_MAX_JSON_DEPTH 64
#define ASL_MAX_PATH_LENGTH 4096
#define ASL_MAX_HISTORY_EVENTS_DEFAULT 25000
#define ASL_MAX_STATES 10000
#define ASL_MAX_MAP_ITEMS 100000
#define ASL_MAX_INTRINSIC_NESTING 16
#define ASL_MAX_ARRAY_RANGE_ITEMS 1000
#define ASL_MAX_VARIABLE_BYTES (256 * 1024)                 /* one variable, and one Assign */
#define ASL_MAX_EXECUTION_VARIABLE_BYTES (10 * 1024 * 1024) /* all variables of an execution */

/*
 * An ASL runtime error: the name Retry/Catch match on ("States.Runtime",
 * "Image.Invalid", ...) and a human-readable cause. Both owned by the struct.
 */
typedef struct AslError {
        char *error;
        char *cause;
} AslError;

/* Sets error and cause (printf-style); replaces what was there. Returns -EINVAL
 * so callers can write `return asl_error_set(err, "States.Runtime", "...")`. */
int asl_error_set(AslError *e, const char *error, const char *fmt, ...) _printf_(3, 4);
int asl_error_setv(AslError *e, const char *error, const char *fmt, va_list ap) _printf_(3, 0);
void asl_error_clear(AslError *e);
static inline bool asl_error_isset(const AslError *e) {
        return e && e->error;
}

/*
 * Validation diagnostics: each a JSON pointer to the offending field
 * ("/States/Resize/Retry/0/BackoffRate") and a plain message.
 */
typedef struct AslDiagEntry {
        char *pointer;
        char *message;
        const char *code; /* Step Functions' diagnostic code where one names the
                           * rule (ASL_DIAG_*), NULL for SCHEMA_VALIDATION_FAILED */
} AslDiagEntry;

/* ValidateStateMachineDefinition's error codes for the rules they name. */
#define ASL_DIAG_SCHEMA "SCHEMA_VALIDATION_FAILED"
#define ASL_DIAG_MISSING_END_STATE "MISSING_END_STATE"
#define ASL_DIAG_DUPLICATE_STATE_NAME "DUPLICATE_STATE_NAME"
#define ASL_DIAG_INVALID_STATE_NAME "INVALID_STATE_NAME"

typedef struct AslDiag {
        AslDiagEntry *entries; /* errors: the definition is refused */
        size_t n;
        size_t allocated;
        AslDiagEntry *warnings; /* warnings: accepted, but probably wrong
                                 * (a variable that is possibly not defined) */
        size_t n_warnings;
        size_t allocated_warnings;
} AslDiag;

void asl_diag_add(AslDiag *d, const char *pointer, const char *fmt, ...) _printf_(3, 4);
/* An error with its code (a static string, ASL_DIAG_*). */
void asl_diag_add_code(AslDiag *d, const char *code, const char *pointer, const char *fmt, ...) _printf_(4, 5);
/* The code of an error: its own, or SCHEMA_VALIDATION_FAILED. */
const char *asl_diag_code(const AslDiagEntry *e);
void asl_diag_warn(AslDiag *d, const char *pointer, const char *fmt, ...) _printf_(3, 4);
void asl_diag_clear(AslDiag *d);

/*
 * What a JSONPath may read besides the state's input: the context object
 * ("$$...") and the workflow variables ("$name..."). Both borrowed, may be
 * NULL (no context object / no variables visible).
 */
typedef struct AslRefs {
        json_t *context;
        json_t *vars; /* name -> value */
} AslRefs;

typedef enum AslPathRoot {
        ASL_PATH_INPUT,    /* "$", "$.a", "$[0]" */
        ASL_PATH_CONTEXT,  /* "$$", "$$.Execution.Id" */
        ASL_PATH_VARIABLE, /* "$name", "$name.a", "$name[0]" */
} AslPathRoot;

/*
 * Which document a path ("$...") reads, and the JSONPath to evaluate from
 * there: *ret_rel is a new string ("$.a" for "$$.a" and for "$name.a"), and
 * for a variable *ret_name the name (new string). Either may be NULL.
 */
AslPathRoot asl_path_root(const char *path, char **ret_name, char **ret_rel);

/*
 * Evaluates a path against the input or refs (jsonpath_eval_why()): 0 and
 * *ret (new), -ENOENT when a definite path does not resolve or the variable
 * is not defined (*ret_why, if not NULL, says why: Jayway's text, or
 * "Variable 'x' is not defined"), -EINVAL for a bad path, -E2BIG past the
 * JSONPath limits.
 */
int asl_path_eval(const char *path, json_t *input, const AslRefs *refs, json_t **ret, char **ret_why);

/* JSON pointer building: returns a new string "<base>/<escaped token>" (RFC 6901
 * escaping of '~' and '/'). Never NULL (xmalloc). */
char *asl_pointer_join(const char *base, const char *token);
char *asl_pointer_join_index(const char *base, size_t index);

/* For the hand-written parsers (JSONPath, intrinsic functions). Keep the
 * first error only: if *error is NULL, set it to a new string "<message> (at
 * position <pos>)". Returns -EINVAL. */
int asl_parse_fail(char **error, size_t pos, const char *fmt, ...) _printf_(3, 4);
/* The position of the first character at or after s + pos that is not a
 * space, tab, CR or LF. */
size_t asl_skip_ws(const char *s, size_t pos);


/* json_writer_size() (serialized size in bytes, compact encoding) and
 * json_writer_dumps() are in lib/json-writer.h. */

/*
 * The environment of one engine call: everything that is not pure.
 * now_ms: wall time in milliseconds since the epoch (virtual in `imgflow run`).
 * random: fills buf with n random bytes (tokens, UUIDs, jitter, MathRandom).
 */
typedef struct AslEnv {
        int64_t now_ms;
        void (*random)(void *userdata, void *buf, size_t n);
        void *random_userdata;
        size_t max_payload_bytes;   /* 0 = ASL_MAX_PAYLOAD_BYTES_DEFAULT */
        size_t max_history_events;  /* 0 = ASL_MAX_HISTORY_EVENTS_DEFAULT */
        bool no_history;            /* nobody reads the history (an EXPRESS execution logging
                                     * OFF): events are counted, no HISTORY effects are made */
        bool map_child_executions;  /* a distributed Map with ExecutionType STANDARD runs its
                                     * children as executions of their own (START_CHILD,
                                     * CHILD_ENDED, asl-engine.h); false: inside the parent's
                                     * document (`imgflow run`, EXPRESS parents) */
        size_t writer_file_records; /* most records in one file a ResultWriter writes while its
                                     * Map runs; 0 = only the file's byte bound */
} AslEnv;

uint64_t asl_env_random_u64(const AslEnv *env);
/* Uniform double in [0, 1). */
double asl_env_random_double(const AslEnv *env);

/* ISO 8601 / RFC 3339 timestamps as ASL uses them. */
/* Formats ms since epoch as "2026-11-28T20:46:16.123Z" into buf (>= 32 bytes). */
void asl_format_timestamp(int64_t ms, char *buf, size_t size);
/* Parses an RFC 3339 timestamp (with 'Z' or an offset, optional fraction).
 * Returns 0 and ms since epoch, or -EINVAL. Accepts what AWS accepts for
 * TimestampEquals & co and Wait's Timestamp. */
int asl_parse_timestamp(const char *s, int64_t *ret_ms);
