/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The coordinator's two caches, both only guesses that save a Redis round
 * trip and a JSON parse; neither is ever the truth.
 *
 * Definitions (MachineCache): "name:version" -> the parsed AslMachine. A
 * version's text never changes once stored, so an entry never goes stale;
 * at MACHINE_CACHE_MAX entries the cache is emptied and fills again.
 *
 * States (StateCache): execution id -> the document and version this
 * coordinator last committed, kept only while the execution runs, so the
 * next event of the execution skips the HMGET. The commit's
 * compare-and-set refuses a stale version, and the caller applies an event
 * that a cached state finds stale again to the document read from Redis.
 * Bounded by entries and by the documents' bytes (the cache is emptied when
 * either would be passed; one document over a 16th of the byte bound is not
 * kept); emptied on every rebalance by the caller (another coordinator may
 * change the executions of partitions that come or go).
 *
 * Pure: no I/O, no clock, no logging; one thread (the event loop).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asl-definition.h"
#include "store.h"

#define MACHINE_CACHE_MAX 1000
#define STATE_CACHE_MAX 10000                    /* executions in the state cache ... */
#define STATE_CACHE_BYTES_MAX (64 * 1024 * 1024) /* ... and their documents' bytes */

typedef struct MachineCache MachineCache;

MachineCache *machine_cache_new(size_t max);
/* Frees the cache and its machines. Accepts NULL; returns NULL. */
MachineCache *machine_cache_free(MachineCache *c);
/* The machine of name:version, or NULL. Borrowed: valid until the next
 * machine_cache_put() (which may empty the cache). */
AslMachine *machine_cache_get(MachineCache *c, const char *name, unsigned version);
/* Takes machine; returns it (borrowed, as above). */
AslMachine *machine_cache_put(MachineCache *c, const char *name, unsigned version, AslMachine *machine);
size_t machine_cache_size(const MachineCache *c);

typedef struct StateCache StateCache;

StateCache *state_cache_new(size_t max_entries, size_t max_bytes);
StateCache *state_cache_free(StateCache *c);
/* Moves the cached state of exec_id into *ret (freeing what *ret held)
 * and forgets it: true; false when there is none (*ret untouched). */
bool state_cache_take(StateCache *c, const char *exec_id, StoreExecState *ret);
/* After `commit` was accepted as `version`: keep *st (its doc is the
 * document the commit stored; moved out, *st is zeroed) when the execution
 * still runs and the document fits; otherwise leave *st alone. Returns
 * whether it was kept. */
bool state_cache_put(StateCache *c, const char *exec_id, StoreExecState *st, const StoreCommit *commit,
                     uint64_t version);
void state_cache_clear(StateCache *c);
size_t state_cache_size(const StateCache *c);
size_t state_cache_bytes(const StateCache *c);
