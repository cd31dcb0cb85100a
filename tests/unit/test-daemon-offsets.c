/* SPDX-License-Identifier: MIT */
/* Tests of daemon/offsets: commits never pass an unfinished message. */

#include "offsets.h"
#include "test.h"

#define T "imgflow.tasks"

TEST(in_order) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c = -1;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 5), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 5, &c), 1);
        ASSERT_INT_EQ(c, 6);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 6), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 6, &c), 1);
        ASSERT_INT_EQ(c, 7);
        ASSERT_INT_EQ(offsets_in_flight(t, T, 0), 0);
        ASSERT_INT_EQ(offsets_committable(t, T, 0, &c), 0);
        ASSERT_INT_EQ(c, 7);
}

TEST(out_of_order_holds_back_commit) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c = -1;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        for (int64_t o = 10; o < 15; o++)
                ASSERT_INT_EQ(offsets_begin(t, T, 3, o), 0);
        ASSERT_INT_EQ(offsets_in_flight(t, T, 3), 5);
        /* 11, 12 and 14 finish first: 10 is still running */
        ASSERT_INT_EQ(offsets_done(t, T, 3, 11, &c), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 3, 12, &c), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 3, 14, &c), 0);
        ASSERT_INT_EQ(offsets_committable(t, T, 3, &c), 0);
        ASSERT_INT_EQ(c, 10);
        ASSERT_INT_EQ(offsets_in_flight(t, T, 3), 2);
        /* 10 finishes: commit jumps to 13 (lowest unfinished) */
        ASSERT_INT_EQ(offsets_done(t, T, 3, 10, &c), 1);
        ASSERT_INT_EQ(c, 13);
        ASSERT_INT_EQ(offsets_done(t, T, 3, 13, &c), 1);
        ASSERT_INT_EQ(c, 15);
        ASSERT_INT_EQ(offsets_in_flight_total(t), 0);
}

TEST(gaps_in_offsets) {
        /* compaction / transaction markers: offsets are not contiguous */
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c = -1;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 100), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 107), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 230), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 100, &c), 1);
        ASSERT_INT_EQ(c, 107);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 230, &c), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 107, &c), 1);
        ASSERT_INT_EQ(c, 231);
}

TEST(partitions_are_independent) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c = -1;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 1), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 1, 1), 0);
        ASSERT_INT_EQ(offsets_begin(t, "imgflow.events", 0, 1), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 2), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 1, 1, &c), 1);
        ASSERT_INT_EQ(c, 2);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 2, &c), 0);
        ASSERT_INT_EQ(offsets_done(t, "imgflow.events", 0, 1, &c), 1);
        ASSERT_INT_EQ(c, 2);
        ASSERT_INT_EQ(offsets_in_flight_total(t), 1);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 1, &c), 1);
        ASSERT_INT_EQ(c, 3);
}

TEST(errors) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c = 42;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 1, &c), -ENOENT);
        ASSERT_INT_EQ(c, 42); /* untouched on failure */
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 1), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 1), -EEXIST);
        ASSERT_INT_EQ(offsets_begin(t, T, -1, 1), -EINVAL);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, -5), -EINVAL);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 2, &c), -ENOENT);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 1, &c), 1);
        /* done twice */
        ASSERT_INT_EQ(offsets_done(t, T, 0, 1, &c), -ENOENT);
        ASSERT_INT_EQ(offsets_committable(t, "nope", 0, &c), -ENOENT);
}

TEST(double_done_while_blocked) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 1), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 2), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 2, &c), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 2, &c), -ENOENT);
}

TEST(forget_revoked_partition) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c = -1;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 1), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 2), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 1, 9), 0);
        offsets_forget(t, T, 0);
        ASSERT_INT_EQ(offsets_in_flight(t, T, 0), 0);
        /* a message of the revoked partition finishing later commits nothing */
        ASSERT_INT_EQ(offsets_done(t, T, 0, 1, &c), -ENOENT);
        ASSERT_INT_EQ(offsets_done(t, T, 1, 9, &c), 1);
        ASSERT_INT_EQ(c, 10);
        /* reassigned later: starts afresh from redelivered offsets */
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 1), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 1, &c), 1);
        ASSERT_INT_EQ(c, 2);
        offsets_clear(t);
        ASSERT_INT_EQ(offsets_in_flight_total(t), 0);
        ASSERT_INT_EQ(offsets_done(t, T, 1, 9, &c), -ENOENT);
}

TEST(redelivered_lower_offset_inserted_sorted) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 5), 0);
        ASSERT_INT_EQ(offsets_begin(t, T, 0, 3), 0); /* seek back */
        ASSERT_INT_EQ(offsets_done(t, T, 0, 5, &c), 0);
        ASSERT_INT_EQ(offsets_committable(t, T, 0, &c), 0);
        ASSERT_INT_EQ(c, 3);
        ASSERT_INT_EQ(offsets_done(t, T, 0, 3, &c), 1);
        ASSERT_INT_EQ(c, 6);
}

/* Random order against a simple model: the commit is always the lowest
 * unfinished offset and never passes one. */
TEST(random_model) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        enum { N = 5000 };
        static bool done[N];
        static int order[N];
        unsigned seed = 12345;
        int64_t c, last = -1;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        for (int i = 0; i < N; i++) {
                ASSERT_INT_EQ(offsets_begin(t, T, 7, 1000 + i), 0);
                order[i] = i;
        }
        for (int i = N - 1; i > 0; i--) {
                seed = seed * 1103515245 + 12345;
                int j = (int) ((seed >> 8) % (unsigned) (i + 1));
                int tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
        }
        for (int k = 0; k < N; k++) {
                int i = order[k], lowest = 0;
                int r = offsets_done(t, T, 7, 1000 + i, &c);
                done[i] = true;
                while (lowest < N && done[lowest])
                        lowest++;
                ASSERT_TRUE(r == 0 || r == 1);
                if (r == 1) {
                        ASSERT_INT_EQ(c, 1000 + lowest);
                        ASSERT_TRUE(c > last);
                        last = c;
                }
                ASSERT_INT_EQ(offsets_committable(t, T, 7, &c), 0);
                ASSERT_INT_EQ(c, 1000 + lowest);
                ASSERT_INT_EQ(offsets_in_flight(t, T, 7), N - k - 1);
        }
        ASSERT_INT_EQ(last, 1000 + N);
}

/* Many messages through a window: exercises the compaction of the array. */
TEST(sliding_window) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        int64_t c;

        ASSERT_INT_EQ(offsets_new(&t), 0);
        for (int64_t o = 0; o < 100000; o++) {
                ASSERT_INT_EQ(offsets_begin(t, T, 0, o), 0);
                if (o >= 50) {
                        /* finish the one 50 behind, and keep offset 0... no: finish in order */
                        ASSERT_INT_EQ(offsets_done(t, T, 0, o - 50, &c), 1);
                        ASSERT_INT_EQ(c, o - 49);
                }
        }
        ASSERT_INT_EQ(offsets_in_flight(t, T, 0), 50);
}

TEST(partition_limit) {
        _cleanup_(offsets_freep) OffsetTracker *t = NULL;
        ASSERT_INT_EQ(offsets_new(&t), 0);
        for (int p = 0; p < OFFSETS_PARTITIONS_MAX; p++)
                if (offsets_begin(t, T, p, 0) != 0)
                        TEST_FAIL_("begin of partition %d failed", p);
        ASSERT_INT_EQ(offsets_begin(t, T, OFFSETS_PARTITIONS_MAX, 0), -E2BIG);
}
