/* SPDX-License-Identifier: MIT */
/*
 * Offset tracker. Per (topic, partition): a sorted array of in-flight
 * offsets with a done flag each, and `head`, the index of the first entry
 * still present. Messages arrive in offset order, so begin() appends; done()
 * finds the entry by binary search, marks it, and when it is the first one
 * pops the finished prefix: the committable offset is then the first
 * remaining entry, or one past the last popped one. Compacted when more than
 * half of the array is popped. Partitions are found by a linear scan with a
 * one-entry cache: a consumer holds few partitions.
 */

#include <stdint.h>

#include "offsets.h"

typedef struct OffsetEntry {
        int64_t offset;
        bool done;
} OffsetEntry;

typedef struct PartitionOffsets {
        char *topic;
        int32_t partition;
        OffsetEntry *e;
        size_t head, n, cap; /* live entries are e[head..n) */
        int64_t next_commit; /* one past the highest popped; -1 if none */
} PartitionOffsets;

struct OffsetTracker {
        PartitionOffsets *p;
        size_t n_p, cap_p;
        size_t last; /* cache: index of the last partition used */
};

int offsets_new(OffsetTracker **ret) {
        OffsetTracker *t = calloc(1, sizeof(OffsetTracker));
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

static void partition_clear(PartitionOffsets *po) {
        free(po->topic);
        free(po->e);
}

OffsetTracker *offsets_free(OffsetTracker *t) {
        if (!t)
                return NULL;
        offsets_clear(t);
        free(t->p);
        free(t);
        return NULL;
}

static PartitionOffsets *find(const OffsetTracker *t, const char *topic, int32_t partition) {
        if (t->last < t->n_p && t->p[t->last].partition == partition && streq(t->p[t->last].topic, topic))
                return &t->p[t->last];
        for (size_t i = 0; i < t->n_p; i++)
                if (t->p[i].partition == partition && streq(t->p[i].topic, topic)) {
                        ((OffsetTracker *) t)->last = i;
                        return &t->p[i];
                }
        return NULL;
}

/* Index of the first live entry with offset >= o. */
static size_t lower_bound(const PartitionOffsets *po, int64_t o) {
        size_t lo = po->head, hi = po->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (po->e[mid].offset < o)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int offsets_begin(OffsetTracker *t, const char *topic, int32_t partition, int64_t offset) {
        PartitionOffsets *po;
        size_t i;

        if (!t || !topic || partition < 0 || offset < 0)
                return -EINVAL;

        po = find(t, topic, partition);
        if (!po) {
                if (t->n_p >= OFFSETS_PARTITIONS_MAX)
                        return -E2BIG;
                if (t->n_p == t->cap_p) {
                        size_t nc = t->cap_p ? t->cap_p * 2 : 8;
                        PartitionOffsets *np = realloc(t->p, nc * sizeof(PartitionOffsets));
                        if (!np)
                                return -ENOMEM;
                        t->p = np;
                        t->cap_p = nc;
                }
                char *tp = strdup(topic);
                if (!tp)
                        return -ENOMEM;
                t->p[t->n_p] = (PartitionOffsets) { .topic = tp, .partition = partition, .next_commit = -1 };
                t->last = t->n_p;
                po = &t->p[t->n_p++];
        }

        if (po->n - po->head >= OFFSETS_IN_FLIGHT_MAX)
                return -E2BIG;

        i = lower_bound(po, offset);
        if (i < po->n && po->e[i].offset == offset)
                return -EEXIST;

        /* Compact popped entries away, or grow. */
        if (po->head > 0 && (po->n == po->cap || po->head > po->n / 2)) {
                memmove(po->e, po->e + po->head, (po->n - po->head) * sizeof(OffsetEntry));
                po->n -= po->head;
                i -= po->head;
                po->head = 0;
        }
        if (po->n == po->cap) {
                size_t nc = po->cap ? po->cap * 2 : 64;
                OffsetEntry *ne = realloc(po->e, nc * sizeof(OffsetEntry));
                if (!ne)
                        return -ENOMEM;
                po->e = ne;
                po->cap = nc;
        }
        if (i < po->n)
                memmove(po->e + i + 1, po->e + i, (po->n - i) * sizeof(OffsetEntry));
        po->e[i] = (OffsetEntry) { .offset = offset, .done = false };
        po->n++;
        return 0;
}

int offsets_done(OffsetTracker *t, const char *topic, int32_t partition, int64_t offset,
                 int64_t *ret_commit) {
        PartitionOffsets *po;
        size_t i;

        if (!t || !topic)
                return -EINVAL;
        po = find(t, topic, partition);
        if (!po)
                return -ENOENT;
        i = lower_bound(po, offset);
        if (i >= po->n || po->e[i].offset != offset || po->e[i].done)
                return -ENOENT;
        po->e[i].done = true;
        if (i != po->head)
                return 0;

        while (po->head < po->n && po->e[po->head].done) {
                po->next_commit = po->e[po->head].offset + 1;
                po->head++;
        }
        if (po->head == po->n)
                po->head = po->n = 0;
        if (ret_commit)
                *ret_commit = po->head < po->n ? po->e[po->head].offset : po->next_commit;
        return 1;
}

void offsets_forget(OffsetTracker *t, const char *topic, int32_t partition) {
        PartitionOffsets *po;

        if (!t)
                return;
        po = find(t, topic, partition);
        if (!po)
                return;
        partition_clear(po);
        *po = t->p[--t->n_p];
        t->last = 0;
}

void offsets_clear(OffsetTracker *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n_p; i++)
                partition_clear(&t->p[i]);
        t->n_p = 0;
        t->last = 0;
}

size_t offsets_in_flight(const OffsetTracker *t, const char *topic, int32_t partition) {
        const PartitionOffsets *po;
        size_t n = 0;

        if (!t)
                return 0;
        po = find(t, topic, partition);
        if (!po)
                return 0;
        for (size_t i = po->head; i < po->n; i++)
                n += !po->e[i].done;
        return n;
}

size_t offsets_in_flight_total(const OffsetTracker *t) {
        size_t n = 0;

        if (!t)
                return 0;
        for (size_t p = 0; p < t->n_p; p++)
                for (size_t i = t->p[p].head; i < t->p[p].n; i++)
                        n += !t->p[p].e[i].done;
        return n;
}

int offsets_committable(const OffsetTracker *t, const char *topic, int32_t partition,
                        int64_t *ret_commit) {
        const PartitionOffsets *po;

        if (!t)
                return -EINVAL;
        po = find(t, topic, partition);
        if (!po)
                return -ENOENT;
        if (po->head < po->n) {
                *ret_commit = po->e[po->head].offset;
                return 0;
        }
        if (po->next_commit < 0)
                return -ENOENT;
        *ret_commit = po->next_commit;
        return 0;
}
