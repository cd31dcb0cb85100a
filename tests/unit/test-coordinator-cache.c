/* SPDX-License-Identifier: MIT */
/*
 * The coordinator's definitions and state caches (coordinator-cache.h):
 * what they keep, what they refuse, their bounds, and that a state taken
 * out is moved (and gone from the cache).
 */

#include "coordinator-cache.h"
#include "test.h"

static AslMachine *machine(const char *state) {
        _cleanup_free_ char *text = xasprintf(
                "{\"StartAt\":\"%s\",\"States\":{\"%s\":{\"Type\":\"Pass\",\"End\":true}}}", state, state);
        AslMachine *m = NULL;
        AslDiag d = {};

        ASSERT_INT_EQ(asl_machine_parse(text, strlen(text), &m, &d), 0);
        asl_diag_clear(&d);
        return m;
}

TEST(machines_by_name_and_version) {
        MachineCache *c = machine_cache_new(10);
        AslMachine *a1 = machine("A"), *a2 = machine("B"), *b1 = machine("C");

        ASSERT_NULL(machine_cache_get(c, "a", 1));
        ASSERT_TRUE(machine_cache_put(c, "a", 1, a1) == a1);
        ASSERT_TRUE(machine_cache_put(c, "a", 2, a2) == a2);
        ASSERT_TRUE(machine_cache_put(c, "b", 1, b1) == b1);
        ASSERT_TRUE(machine_cache_get(c, "a", 1) == a1);
        ASSERT_TRUE(machine_cache_get(c, "a", 2) == a2);
        ASSERT_TRUE(machine_cache_get(c, "b", 1) == b1);
        ASSERT_NULL(machine_cache_get(c, "b", 2));
        ASSERT_NULL(machine_cache_get(c, "a", 0));
        ASSERT_INT_EQ(machine_cache_size(c), 3);

        /* A name past any stored name's length is simply not there. */
        char long_name[STORE_NAME_MAX + 40];
        memset(long_name, 'n', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = 0;
        ASSERT_NULL(machine_cache_get(c, long_name, 1));

        /* The same key again: replaced (the old machine freed; ASan checks). */
        AslMachine *a1b = machine("D");
        ASSERT_TRUE(machine_cache_put(c, "a", 1, a1b) == a1b);
        ASSERT_TRUE(machine_cache_get(c, "a", 1) == a1b);
        ASSERT_INT_EQ(machine_cache_size(c), 3);
        machine_cache_free(c);
}

TEST(machines_emptied_at_the_bound) {
        MachineCache *c = machine_cache_new(3);

        for (unsigned v = 1; v <= 3; v++)
                machine_cache_put(c, "m", v, machine("A"));
        ASSERT_INT_EQ(machine_cache_size(c), 3);
        /* The fourth empties the cache and stays. */
        AslMachine *m4 = machine("B");
        machine_cache_put(c, "m", 4, m4);
        ASSERT_INT_EQ(machine_cache_size(c), 1);
        ASSERT_NULL(machine_cache_get(c, "m", 1));
        ASSERT_TRUE(machine_cache_get(c, "m", 4) == m4);
        machine_cache_free(c);
        ASSERT_NULL(machine_cache_free(NULL));
}

/* A state as the coordinator holds it after a commit, and that commit. */
static StoreExecState state(const char *doc_text) {
        return (StoreExecState){
                .doc = json_loads(doc_text, 0, NULL),
                .state_machine = xstrdup("sm"),
                .sm_version = 1,
                .status = xstrdup("RUNNING"),
                .name = xstrdup("e"),
                .start_ms = 5,
        };
}

static StoreCommit *commit_of(const StoreExecState *st, const char *status, bool terminal) {
        StoreCommit *c = NULL;

        ASSERT_INT_EQ(store_commit_new("sm:e", 1, 10, &c), 0);
        store_commit_set_doc(c, st->doc, status);
        if (terminal)
                store_commit_set_terminal(c, 20, 60);
        return c;
}

TEST(states_kept_while_running_and_moved_out) {
        StateCache *c = state_cache_new(10, 1 << 20);
        StoreExecState st = state("{\"v\":1,\"status\":\"RUNNING\"}"), out = {};
        _cleanup_commit_ StoreCommit *k = commit_of(&st, "RUNNING", false);
        json_t *doc = st.doc;

        ASSERT_TRUE(state_cache_put(c, "sm:e", &st, k, 7));
        ASSERT_NULL(st.doc); /* moved */
        ASSERT_INT_EQ(state_cache_size(c), 1);
        ASSERT_INT_EQ(state_cache_bytes(c), strlen(k->doc));

        out = state("{}"); /* what the Work held before is freed */
        ASSERT_TRUE(state_cache_take(c, "sm:e", &out));
        ASSERT_TRUE(out.doc == doc);
        ASSERT_INT_EQ(out.version, 7);
        ASSERT_STR_EQ(out.state_machine, "sm");
        ASSERT_INT_EQ(state_cache_size(c), 0);
        ASSERT_INT_EQ(state_cache_bytes(c), 0);
        /* Taken once: the next event reads Redis. */
        ASSERT_FALSE(state_cache_take(c, "sm:e", &out));
        ASSERT_TRUE(out.doc == doc);
        store_exec_state_done(&out);
        state_cache_free(c);
}

TEST(states_not_kept) {
        StateCache *c = state_cache_new(10, 16 * 100);
        StoreExecState st = state("{\"status\":\"SUCCEEDED\"}");
        StoreCommit *k;

        /* finished */
        k = commit_of(&st, "SUCCEEDED", true);
        ASSERT_FALSE(state_cache_put(c, "sm:e", &st, k, 2));
        ASSERT_NOT_NULL(st.doc); /* left with the caller */
        store_commit_free(k);
        /* terminal even if the status says otherwise */
        k = commit_of(&st, "RUNNING", true);
        ASSERT_FALSE(state_cache_put(c, "sm:e", &st, k, 2));
        store_commit_free(k);
        /* no document in hand */
        k = commit_of(&st, "RUNNING", false);
        store_exec_state_done(&st);
        ASSERT_FALSE(state_cache_put(c, "sm:e", &st, k, 2));
        store_commit_free(k);
        /* a document over a 16th of the byte bound (100 here) */
        char big[200];
        snprintf(big, sizeof big, "{\"pad\":\"%0100d\"}", 0);
        st = state(big);
        k = commit_of(&st, "RUNNING", false);
        ASSERT_FALSE(state_cache_put(c, "sm:e", &st, k, 2));
        store_commit_free(k);
        store_exec_state_done(&st);
        ASSERT_INT_EQ(state_cache_size(c), 0);
        state_cache_free(c);
}

static void put(StateCache *c, const char *id, const char *doc) {
        StoreExecState st = state(doc);
        _cleanup_commit_ StoreCommit *k = commit_of(&st, "RUNNING", false);

        ASSERT_TRUE(state_cache_put(c, id, &st, k, 1));
}

TEST(states_emptied_at_the_bounds) {
        StateCache *c = state_cache_new(3, 1 << 20);
        StoreExecState out = {};

        put(c, "a", "{}");
        put(c, "b", "{}");
        put(c, "c", "{}");
        ASSERT_INT_EQ(state_cache_size(c), 3);
        put(c, "d", "{}"); /* entries bound: emptied, then kept */
        ASSERT_INT_EQ(state_cache_size(c), 1);
        ASSERT_FALSE(state_cache_take(c, "a", &out));
        ASSERT_TRUE(state_cache_take(c, "d", &out));
        store_exec_state_done(&out);
        state_cache_free(c);

        /* bytes bound: 16 x 20 = 320 bytes; documents of 16 bytes */
        c = state_cache_new(100, 320);
        for (int i = 0; i < 20; i++) {
                char id[8];
                snprintf(id, sizeof id, "e%d", i);
                put(c, id, "{\"x\":\"12345678\"}");
        }
        ASSERT_INT_EQ(state_cache_size(c), 20);
        ASSERT_INT_EQ(state_cache_bytes(c), 320);
        put(c, "e20", "{\"x\":\"12345678\"}"); /* would pass 320: emptied first */
        ASSERT_INT_EQ(state_cache_size(c), 1);
        ASSERT_INT_EQ(state_cache_bytes(c), 16);
        /* The same execution again replaces its entry and its bytes. */
        put(c, "e20", "{\"x\":\"1234567890\"}");
        ASSERT_INT_EQ(state_cache_size(c), 1);
        ASSERT_INT_EQ(state_cache_bytes(c), 18);
        state_cache_clear(c);
        ASSERT_INT_EQ(state_cache_size(c), 0);
        ASSERT_INT_EQ(state_cache_bytes(c), 0);
        state_cache_free(c);
        ASSERT_NULL(state_cache_free(NULL));
}
