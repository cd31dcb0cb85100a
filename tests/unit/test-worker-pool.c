/* SPDX-License-Identifier: MIT */
/*
 * worker-pool: items run on threads, come back through the eventfd on the
 * caller's thread, queued items can be cancelled, free() hands back what is
 * left, and a stuck thread does not hang free() past its timeout.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "worker-pool.h"

typedef struct Item {
        int id;
        atomic_bool ran;
        bool done, dropped;
        pthread_t done_thread;
        pthread_t run_thread;
} Item;

typedef struct Gate {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool open;
        int waiting;
} Gate;

typedef struct Ctx {
        Gate gate;
        int n_done, n_dropped;
        int done_order[64];
} Ctx;

static void gate_wait(Gate *g) {
        pthread_mutex_lock(&g->lock);
        g->waiting++;
        pthread_cond_broadcast(&g->cond);
        while (!g->open)
                pthread_cond_wait(&g->cond, &g->lock);
        g->waiting--;
        pthread_mutex_unlock(&g->lock);
}

static void gate_open(Gate *g) {
        pthread_mutex_lock(&g->lock);
        g->open = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
}

/* Wait until n threads sit in the gate (bounded: 5 s). */
static bool gate_wait_for(Gate *g, int n) {
        for (int i = 0; i < 5000; i++) {
                pthread_mutex_lock(&g->lock);
                int w = g->waiting;
                pthread_mutex_unlock(&g->lock);
                if (w >= n)
                        return true;
                usleep(1000);
        }
        return false;
}

static void run_item(void *item, void *userdata) {
        Ctx *c = userdata;
        Item *it = item;
        it->run_thread = pthread_self();
        gate_wait(&c->gate);
        atomic_store(&it->ran, true);
}

static void done_item(void *item, void *userdata) {
        Ctx *c = userdata;
        Item *it = item;
        it->done = true;
        it->done_thread = pthread_self();
        if (c->n_done < 64)
                c->done_order[c->n_done] = it->id;
        c->n_done++;
}

static void drop_item(void *item, void *userdata) {
        Ctx *c = userdata;
        Item *it = item;
        it->dropped = true;
        c->n_dropped++;
}

static void ctx_init(Ctx *c, bool open) {
        *c = (Ctx){};
        pthread_mutex_init(&c->gate.lock, NULL);
        pthread_cond_init(&c->gate.cond, NULL);
        c->gate.open = open;
}

/* Poll the fd and dispatch until `want` items came back (bounded: 5 s). */
static void pump(WorkerPool *p, Ctx *c, int want) {
        for (int i = 0; i < 500 && c->n_done < want; i++) {
                struct pollfd pfd = {.fd = worker_pool_get_fd(p), .events = POLLIN};
                if (poll(&pfd, 1, 10) > 0)
                        worker_pool_dispatch(p);
        }
}

TEST(runs_items_and_reports_on_the_loop_thread) {
        Ctx c;
        ctx_init(&c, true);
        WorkerPool *p = NULL;
        ASSERT_INT_EQ(worker_pool_new(3, run_item, done_item, drop_item, &c, &p), 0);
        ASSERT_INT_EQ(worker_pool_threads(p), 3);

        Item items[20] = {};
        for (int i = 0; i < 20; i++) {
                items[i].id = i;
                ASSERT_INT_EQ(worker_pool_submit(p, &items[i]), 0);
        }
        pump(p, &c, 20);
        ASSERT_INT_EQ(c.n_done, 20);
        for (int i = 0; i < 20; i++) {
                ASSERT_TRUE(atomic_load(&items[i].ran));
                ASSERT_TRUE(items[i].done);
                ASSERT_TRUE(pthread_equal(items[i].done_thread, pthread_self()));
                ASSERT_FALSE(pthread_equal(items[i].run_thread, pthread_self()));
        }
        ASSERT_INT_EQ(worker_pool_queued(p), 0);
        ASSERT_INT_EQ(worker_pool_running(p), 0);
        ASSERT_INT_EQ(worker_pool_finished(p), 0);
        worker_pool_free(p, 0);
        ASSERT_INT_EQ(c.n_dropped, 0);
}

static bool match_odd(void *item, void *userdata) {
        return ((Item *) item)->id % 2 == 1;
}

TEST(cancel_queued_takes_back_only_what_did_not_start) {
        Ctx c;
        ctx_init(&c, false);
        WorkerPool *p = NULL;
        ASSERT_INT_EQ(worker_pool_new(2, run_item, done_item, drop_item, &c, &p), 0);

        Item items[10] = {};
        for (int i = 0; i < 10; i++) {
                items[i].id = i;
                ASSERT_INT_EQ(worker_pool_submit(p, &items[i]), 0);
        }
        /* Items 0 and 1 are running (blocked in the gate), 8 are queued. */
        ASSERT_TRUE(gate_wait_for(&c.gate, 2));
        ASSERT_INT_EQ(worker_pool_running(p), 2);
        ASSERT_INT_EQ(worker_pool_queued(p), 8);

        /* Odd ones among the queued (3, 5, 7, 9); 1 runs and stays. */
        ASSERT_INT_EQ(worker_pool_cancel_queued(p, match_odd, NULL, NULL), 4);
        ASSERT_INT_EQ(c.n_dropped, 4);
        ASSERT_TRUE(items[3].dropped && items[5].dropped && items[7].dropped && items[9].dropped);
        ASSERT_FALSE(items[1].dropped);
        ASSERT_INT_EQ(worker_pool_queued(p), 4);

        gate_open(&c.gate);
        pump(p, &c, 6);
        ASSERT_INT_EQ(c.n_done, 6);
        for (int i = 0; i < 10; i++)
                ASSERT_INT_EQ(atomic_load(&items[i].ran), i % 2 == 0 || i == 1);
        worker_pool_free(p, 0);
        ASSERT_INT_EQ(c.n_dropped, 4);
}

TEST(free_hands_back_queued_and_undispatched_items) {
        Ctx c;
        ctx_init(&c, false);
        WorkerPool *p = NULL;
        ASSERT_INT_EQ(worker_pool_new(1, run_item, done_item, drop_item, &c, &p), 0);

        Item items[4] = {};
        for (int i = 0; i < 4; i++) {
                items[i].id = i;
                ASSERT_INT_EQ(worker_pool_submit(p, &items[i]), 0);
        }
        ASSERT_TRUE(gate_wait_for(&c.gate, 1));
        gate_open(&c.gate);
        /* The running item finishes; it, and whatever else got done, was
         * never dispatched: free() hands all four back via drop. */
        worker_pool_free(p, 0);
        ASSERT_INT_EQ(c.n_done, 0);
        ASSERT_INT_EQ(c.n_dropped, 4);
        ASSERT_TRUE(atomic_load(&items[0].ran));
}

TEST(free_does_not_wait_forever_for_a_stuck_thread) {
        static Ctx c;                /* the stuck thread keeps using it after the test */
        static WorkerPool *p = NULL; /* left behind on purpose: keep it reachable */
        ctx_init(&c, false);
        ASSERT_INT_EQ(worker_pool_new(1, run_item, done_item, drop_item, &c, &p), 0);
        static Item item = {.id = 1};
        ASSERT_INT_EQ(worker_pool_submit(p, &item), 0);
        ASSERT_TRUE(gate_wait_for(&c.gate, 1));

        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        worker_pool_free(p, 200);
        clock_gettime(CLOCK_MONOTONIC, &b);
        long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
        ASSERT_TRUE(ms >= 150 && ms < 3000);
        ASSERT_FALSE(item.dropped);
        gate_open(&c.gate); /* let it go; it exits on its own */
        usleep(50 * 1000);
}

TEST(rejects_bad_arguments_and_submit_after_stop) {
        Ctx c;
        ctx_init(&c, true);
        WorkerPool *p = NULL;
        ASSERT_INT_EQ(worker_pool_new(0, run_item, done_item, drop_item, &c, &p), -EINVAL);
        ASSERT_INT_EQ(worker_pool_new(WORKER_POOL_THREADS_MAX + 1, run_item, done_item, drop_item, &c, &p),
                      -EINVAL);
        ASSERT_INT_EQ(worker_pool_new(1, NULL, done_item, drop_item, &c, &p), -EINVAL);
        ASSERT_TRUE(p == NULL);
}
