/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * State machine definitions: parse and validate (the JSONPath and JSONata
 * query languages, workflow variables).
 *
 * The validated definition stays a JSON document; the engine reads fields
 * straight from it (it is trusted once validated). The state types are a
 * table of {name, allowed fields, validate function} (STYLE 11).
 *
 * Validation rejects what AWS rejects, each error with the JSON pointer of
 * the offending field: unknown/missing fields, unknown state types, missing
 * Next/End (or both), Next naming a missing state, unreachable states,
 * States.ALL not alone and last in Retry/Catch ErrorEquals, Choice without
 * Choices, bad numbers (BackoffRate < 1.0, IntervalSeconds < 1, MaxAttempts
 * < 0, ToleratedFailurePercentage outside 0..100, ...), both X and XPath
 * given, invalid JSONPaths and intrinsic calls, Parallel/Map sub-machines
 * (recursively, with their own StartAt/States; Next may not leave a branch).
 *
 * A state machine has a type, as in Step Functions: STANDARD (the default)
 * or EXPRESS. The validator applies the rules of each; EXPRESS refuses what
 * Express workflows cannot run, each at the Task's Resource with Step
 * Functions' message: Run a Job ('.sync'), Wait for Callback
 * ('.waitForTaskToken') and activities.
 *
 * QueryLanguage: a state is JSONata when its QueryLanguage says so or, without
 * one, when the state machine's does; a JSONata machine has no JSONPath
 * states. Each language has its own fields (JSONata: Arguments, Output,
 * Items, Condition; JSONPath: InputPath, Parameters, ResultSelector,
 * ResultPath, OutputPath, Result, ItemsPath and the *Path fields), and a
 * field of the other language is refused naming what to write instead.
 * JSONata "{% %}" strings are compiled (asl_machine_new() keeps them) and
 * their references checked: no $$, no top-level field names, $states.result
 * and $states.errorOutput only where they exist.
 *
 * Variables (Assign on states, Choice rules and catchers): names as Step
 * Functions allows them (Unicode identifiers, at most 80 characters, not
 * "states"), and a machine inside a Parallel or Map may not assign a name
 * that a machine around it assigns. A reference to a variable that no state
 * in scope assigns is a warning (AslDiag.warnings), not an error, as in Step
 * Functions.
 */

#include "asl-util.h"

/* Largest definition text asl_machine_parse() accepts (as Step Functions: 1 MiB). */
#define ASL_MAX_DEFINITION_BYTES (1024 * 1024)

typedef enum AslMachineType {
        ASL_MACHINE_STANDARD,
        ASL_MACHINE_EXPRESS,
        _ASL_MACHINE_TYPE_MAX,
} AslMachineType;

/* "STANDARD", "EXPRESS" (static); NULL past the end. */
const char *asl_machine_type_to_string(AslMachineType t);
/* From "STANDARD" or "EXPRESS" (exactly, as the Step Functions API spells
 * them): 0 and *ret, or -EINVAL. */
int asl_machine_type_from_string(const char *s, AslMachineType *ret);

typedef struct AslExprCache AslExprCache;

typedef struct AslMachine {
        json_t *definition;     /* owned, validated */
        AslMachineType type;    /* the rules it was validated against */
        json_t *context_states; /* owned: name -> true for each state whose fields
                                 * mention "$$" (may read the context object) */
        AslExprCache *exprs;    /* owned: the compiled JSONata expressions (asl-query.h) */
        bool jsonata;           /* the top-level QueryLanguage is JSONata */
        /* The caller's notes about the machine, never read by the engine:
         * the coordinator keeps its loggingConfiguration here. */
        int log_level;
        bool log_execution_data;
        size_t definition_bytes; /* the stored definition text's length */
} AslMachine;

/* True if `state` (a state object of m's definition) is a JSONata state:
 * its QueryLanguage, else the state machine's. */
bool asl_machine_state_is_jsonata(const AslMachine *m, json_t *state);

/* True if `state` is a Map state in distributed mode: its ItemProcessor's
 * (or Iterator's) ProcessorConfig has Mode "DISTRIBUTED". */
bool asl_map_is_distributed(json_t *state);

/* True if the state named `state` may read the context object ($$): one of
 * its strings mentions "$$". A state that does not needs no context built. */
bool asl_machine_state_uses_context(const AslMachine *m, const char *state);

/* Validate a parsed definition for a state machine of the given type;
 * diagnostics to d. Returns 0 if valid, -EINVAL otherwise. `definition` is
 * borrowed. */
int asl_definition_validate_type(json_t *definition, AslMachineType type, AslDiag *d);
/* The same for a STANDARD state machine. */
int asl_definition_validate(json_t *definition, AslDiag *d);

/*
 * Parse JSON text (len bytes, need not be NUL-terminated) and validate it.
 * On success 0 and *ret (new, free with asl_machine_free). On failure
 * -EINVAL and diagnostics in d (a JSON syntax error is one diagnostic at
 * pointer "" with line/column).
 */
int asl_machine_parse(const char *text, size_t len, AslMachine **ret, AslDiag *d);
/* The same for a state machine of the given type (asl_machine_parse():
 * STANDARD). */
int asl_machine_parse_type(const char *text, size_t len, AslMachineType type, AslMachine **ret, AslDiag *d);

/* Wrap a parsed definition (takes a new reference); it is validated again,
 * so a definition read back from storage is never trusted blindly. */
int asl_machine_new(json_t *definition, AslMachine **ret, AslDiag *d);
int asl_machine_new_type(json_t *definition, AslMachineType type, AslMachine **ret, AslDiag *d);

AslMachine *asl_machine_free(AslMachine *m);
static inline void asl_machine_freep(AslMachine **m) {
        asl_machine_free(*m);
}
#define _cleanup_machine_ _cleanup_(asl_machine_freep)

/*
 * The sub-machine (object with StartAt and States) at JSON pointer `pointer`
 * inside the definition ("" = the top level). Borrowed. NULL if absent.
 */
json_t *asl_machine_lookup(const AslMachine *m, const char *pointer);

/*
 * RFC 6901 JSON pointer resolution ("~0" = '~', "~1" = '/'; "" = root;
 * array tokens are decimal indexes without leading zeros). Returns a
 * borrowed reference into `root`, or NULL if absent or malformed.
 */
json_t *asl_json_pointer_get(json_t *root, const char *pointer);
