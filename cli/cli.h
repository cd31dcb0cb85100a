/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The `imgflow` command: a table of verbs (STYLE 11), one file per group of
 * verbs. To add a verb:
 *   1. write `int verb_<name>(const Verb *verb, int argc, char *argv[])` in
 *      cli/cmd-<group>.c (argv[0] is the verb name; parse options with
 *      getopt_long; on --help call cli_verb_help(verb, stdout) and return 0);
 *   2. declare it below;
 *   3. add {name, function, summary, help text} to `verbs[]` in cli/imgflow.c;
 *   4. add cmd-<group>.c to `imgflow_sources` in cli/meson.build.
 *
 * Exit codes: 0 success, 1 the operation failed (an execution failed, a
 * definition is invalid), 2 bad usage or unreadable input.
 */

#include <stdio.h>

#include <jansson.h>

#include "asl-definition.h"
#include "asl-util.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1
#define CLI_EXIT_USAGE 2

typedef struct Verb Verb;
typedef int (*VerbFunction)(const Verb *verb, int argc, char *argv[]);

struct Verb {
        const char *name;
        VerbFunction run;
        const char *summary;    /* one line, for `imgflow --help` */
        const char *help;       /* usage and options, for `imgflow VERB --help` */
};

void cli_verb_help(const Verb *verb, FILE *f);

/*
 * Read a whole file (at most max_bytes) into a new NUL-terminated buffer.
 * 0 and *ret / *ret_len, or -errno (-EFBIG when over max_bytes).
 */
int cli_read_file(const char *path, size_t max_bytes, char **ret, size_t *ret_len);

/* cli_read_file(), printing "imgflow: cannot read PATH: WHY" on stderr when
 * it fails (WHY is too_big for -EFBIG). 0 or -errno. */
int cli_read_file_or_warn(const char *path, size_t max_bytes, const char *too_big, char **ret, size_t *ret_len);

/* cli_read_file_or_warn() of a state machine definition: at most
 * ASL_MAX_DEFINITION_BYTES (1 MiB), the store's limit too. 0 or -errno. */
int cli_read_definition(const char *path, char **ret, size_t *ret_len);

/* A definition's diagnostics on f, one "<JSON pointer>: <message>" a line
 * ("(root)" for the empty pointer). d borrowed. */
void cli_print_diag(FILE *f, const AslDiag *d);
/* Its warnings (accepted, but probably wrong: a variable that is possibly
 * not defined), one "warning: <JSON pointer>: <message>" a line. */
void cli_print_warnings(FILE *f, const AslDiag *d);
/* asl_machine_parse() with the diagnostics and warnings printed on diag: 0
 * and *ret (new object), or -errno. */
int cli_machine_parse(const char *text, size_t len, FILE *diag, AslMachine **ret);

/* Parse JSON text (any value). New reference or NULL with a message on stderr
 * naming `what`. */
json_t *cli_parse_json(const char *text, size_t len, const char *what);

/* Verbs, grouped by file. */
int verb_run(const Verb *verb, int argc, char *argv[]);                       /* cmd-run.c */
int verb_import_sam(const Verb *verb, int argc, char *argv[]);                /* cmd-import-sam.c */
int verb_validate_definition(const Verb *verb, int argc, char *argv[]);       /* cmd-validate.c */
int verb_render(const Verb *verb, int argc, char *argv[]);                    /* cmd-render.c */
int verb_create_state_machine(const Verb *verb, int argc, char *argv[]);      /* cmd-machines.c */
int verb_update_state_machine(const Verb *verb, int argc, char *argv[]);
int verb_describe_state_machine(const Verb *verb, int argc, char *argv[]);
int verb_list_state_machines(const Verb *verb, int argc, char *argv[]);
int verb_delete_state_machine(const Verb *verb, int argc, char *argv[]);
int verb_start_execution(const Verb *verb, int argc, char *argv[]);           /* cmd-executions.c */
int verb_start_sync_execution(const Verb *verb, int argc, char *argv[]);
int verb_describe_execution(const Verb *verb, int argc, char *argv[]);
int verb_get_execution_history(const Verb *verb, int argc, char *argv[]);
int verb_list_executions(const Verb *verb, int argc, char *argv[]);
int verb_stop_execution(const Verb *verb, int argc, char *argv[]);
int verb_describe_map_run(const Verb *verb, int argc, char *argv[]); /* cmd-maprun.c */
int verb_list_map_runs(const Verb *verb, int argc, char *argv[]);
int verb_update_map_run(const Verb *verb, int argc, char *argv[]);
int verb_redrive_execution(const Verb *verb, int argc, char *argv[]);
int verb_send_task_success(const Verb *verb, int argc, char *argv[]);         /* cmd-callbacks.c */
int verb_send_task_failure(const Verb *verb, int argc, char *argv[]);
int verb_send_task_heartbeat(const Verb *verb, int argc, char *argv[]);
