/* SPDX-License-Identifier: MIT */
/*
 * The definitions and state caches (coordinator-cache.h): GLib hash tables
 * with a bound, emptied whole when it is reached (an LRU would cost a list
 * update per event for a cache whose misses cost one Redis read).
 */

#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "coordinator-cache.h"

struct MachineCache {
        GHashTable *machines; /* "name:version" -> AslMachine */
        size_t max;
};

static void machine_free_cb(void *p) {
        asl_machine_free(p);
}

MachineCache *machine_cache_new(size_t max) {
        MachineCache *c = xmalloc(sizeof *c);

        *c = (MachineCache){
                .machines = g_hash_table_new_full(g_str_hash, g_str_equal, free, machine_free_cb),
                .max = max ?: 1,
        };
        return c;
}

MachineCache *machine_cache_free(MachineCache *c) {
        if (!c)
                return NULL;
        g_hash_table_destroy(c->machines);
        free(c);
        return NULL;
}

AslMachine *machine_cache_get(MachineCache *c, const char *name, unsigned version) {
        char key[STORE_NAME_MAX + 16];

        if (snprintf(key, sizeof key, "%s:%u", name, version) >= (int) sizeof key)
                return NULL;
        return g_hash_table_lookup(c->machines, key);
}

AslMachine *machine_cache_put(MachineCache *c, const char *name, unsigned version, AslMachine *machine) {
        if (g_hash_table_size(c->machines) >= c->max)
                g_hash_table_remove_all(c->machines);
        g_hash_table_replace(c->machines, xasprintf("%s:%u", name, version), machine);
        return machine;
}

size_t machine_cache_size(const MachineCache *c) {
        return g_hash_table_size(c->machines);
}

typedef struct CachedState {
        StoreExecState st; /* owned */
        size_t bytes;      /* of the serialized document */
} CachedState;

struct StateCache {
        GHashTable *states; /* exec id -> CachedState */
        size_t bytes;       /* documents' bytes in states */
        size_t max_entries, max_bytes;
};

static void cached_state_free(void *p) {
        CachedState *cs = p;
        if (!cs)
                return;
        store_exec_state_done(&cs->st);
        free(cs);
}

StateCache *state_cache_new(size_t max_entries, size_t max_bytes) {
        StateCache *c = xmalloc(sizeof *c);

        *c = (StateCache){
                .states = g_hash_table_new_full(g_str_hash, g_str_equal, free, cached_state_free),
                .max_entries = max_entries ?: 1,
                .max_bytes = max_bytes,
        };
        return c;
}

StateCache *state_cache_free(StateCache *c) {
        if (!c)
                return NULL;
        g_hash_table_destroy(c->states);
        free(c);
        return NULL;
}

void state_cache_clear(StateCache *c) {
        g_hash_table_remove_all(c->states);
        c->bytes = 0;
}

bool state_cache_take(StateCache *c, const char *exec_id, StoreExecState *ret) {
        void *key, *value;
        CachedState *cs;

        if (!g_hash_table_steal_extended(c->states, exec_id, &key, &value))
                return false;
        free(key);
        cs = value;
        c->bytes -= MIN_(c->bytes, cs->bytes);
        store_exec_state_done(ret);
        *ret = cs->st;
        free(cs);
        return true;
}

bool state_cache_put(StateCache *c, const char *exec_id, StoreExecState *st, const StoreCommit *commit,
                     uint64_t version) {
        size_t bytes = (commit->doc ? strlen(commit->doc) : 0) + commit->kept_bytes;
        CachedState *cs, *old;

        if (!st->doc || commit->stop_ms > 0 || !streq_ptr(commit->status, "RUNNING") ||
            bytes > c->max_bytes / 16)
                return false;
        if (g_hash_table_size(c->states) >= c->max_entries || c->bytes + bytes > c->max_bytes)
                state_cache_clear(c);
        cs = xmalloc(sizeof *cs);
        *cs = (CachedState){.st = *st, .bytes = bytes};
        cs->st.version = version;
        *st = (StoreExecState){};
        old = g_hash_table_lookup(c->states, exec_id);
        if (old) /* its bytes go with it */
                c->bytes -= MIN_(c->bytes, old->bytes);
        g_hash_table_replace(c->states, xstrdup(exec_id), cs);
        c->bytes += bytes;
        return true;
}

size_t state_cache_size(const StateCache *c) {
        return g_hash_table_size(c->states);
}

size_t state_cache_bytes(const StateCache *c) {
        return c->bytes;
}
