/* SPDX-License-Identifier: MIT */
/*
 * Thread pool with an eventfd back to the loop (see worker-pool.h).
 *
 * One mutex guards two FIFO lists of small nodes: `queued` (waiting for a
 * thread) and `finished` (waiting for the loop). A thread sleeps on `cond`
 * while nothing is queued. When a thread finishes an item it appends it to
 * `finished` and, if the list was empty, writes 1 to the eventfd; the loop
 * reads the eventfd (resetting it) and takes the whole list under the lock,
 * then calls done() without the lock held (done() may submit again).
 *
 * Neither the condition signal nor the eventfd write happens under the
 * lock: a thread woken while the waker still holds it would only block on
 * the mutex again (a second switch), and a write is a system call. A
 * submit signals only when a thread is idle: with every thread busy, the
 * next one to finish takes the item without sleeping.
 *
 * Nodes are allocated on submit and freed when the item is handed back, so
 * the pool's memory is bounded by WORKER_POOL_QUEUE_MAX + threads.
 */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "worker-pool.h"

typedef struct PoolNode PoolNode;
struct PoolNode {
        void *item;
        PoolNode *next;
};

typedef struct PoolList {
        PoolNode *head, *tail;
        size_t n;
} PoolList;

struct WorkerPool {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        PoolList queued;   /* guarded by lock */
        PoolList finished; /* guarded by lock */
        size_t running;    /* guarded by lock */
        unsigned idle;     /* guarded by lock; threads waiting on cond */
        bool stopping;     /* guarded by lock */

        int event_fd;
        WorkerPoolRunFn run;
        WorkerPoolItemFn done, drop;
        void *userdata;

        unsigned n_threads; /* started */
        pthread_t *threads;
        int n_exited; /* guarded by lock; threads that left their loop */
};

static void pool_list_append(PoolList *l, PoolNode *n) {
        n->next = NULL;
        if (l->tail)
                l->tail->next = n;
        else
                l->head = n;
        l->tail = n;
        l->n++;
}

static PoolNode *pool_list_pop(PoolList *l) {
        PoolNode *n = l->head;
        if (!n)
                return NULL;
        l->head = n->next;
        if (!l->head)
                l->tail = NULL;
        l->n--;
        n->next = NULL;
        return n;
}

/* Moves the whole list out: *l becomes empty. */
static PoolList pool_list_take(PoolList *l) {
        PoolList r = *l;
        *l = (PoolList){};
        return r;
}

static void pool_signal_fd(WorkerPool *p) {
        uint64_t one = 1;
        ssize_t k;
        do
                k = write(p->event_fd, &one, sizeof(one));
        while (k < 0 && errno == EINTR);
        /* EAGAIN means the counter is saturated: still readable. Nothing
         * else can fail on a valid eventfd. */
}

static void *pool_thread(void *arg) {
        WorkerPool *p = arg;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->stopping && !p->queued.head) {
                        p->idle++;
                        pthread_cond_wait(&p->cond, &p->lock);
                        p->idle--;
                }
                if (p->stopping)
                        break;

                PoolNode *n = pool_list_pop(&p->queued);
                p->running++;
                pthread_mutex_unlock(&p->lock);

                p->run(n->item, p->userdata);

                pthread_mutex_lock(&p->lock);
                p->running--;
                bool was_empty = !p->finished.head;
                pool_list_append(&p->finished, n);
                if (was_empty) {
                        /* The loop empties `finished` only after reading the
                         * eventfd, so a write outside the lock is not lost. */
                        pthread_mutex_unlock(&p->lock);
                        pool_signal_fd(p);
                        pthread_mutex_lock(&p->lock);
                }
        }
        p->n_exited++;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int worker_pool_new(unsigned n_threads, WorkerPoolRunFn run, WorkerPoolItemFn done, WorkerPoolItemFn drop,
                    void *userdata, WorkerPool **ret) {
        if (n_threads < 1 || n_threads > WORKER_POOL_THREADS_MAX || !run || !done || !drop || !ret)
                return -EINVAL;

        WorkerPool *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->run = run;
        p->done = done;
        p->drop = drop;
        p->userdata = userdata;
        p->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->event_fd < 0) {
                int r = -errno;
                free(p);
                return r;
        }
        p->threads = calloc(n_threads, sizeof(pthread_t));
        if (!p->threads) {
                close(p->event_fd);
                free(p);
                return -ENOMEM;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);

        for (unsigned i = 0; i < n_threads; i++) {
                int r = pthread_create(&p->threads[i], NULL, pool_thread, p);
                if (r != 0) {
                        worker_pool_free(p, 0);
                        return -r;
                }
                p->n_threads++;
        }

        *ret = p;
        return 0;
}

static void pool_drop_list(WorkerPool *p, PoolList *l) {
        PoolNode *n;
        while ((n = pool_list_pop(l))) {
                p->drop(n->item, p->userdata);
                free(n);
        }
}

WorkerPool *worker_pool_free(WorkerPool *p, uint64_t join_timeout_ms) {
        if (!p)
                return NULL;

        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->cond);

        bool all_exited = true;
        if (join_timeout_ms > 0) {
                struct timespec deadline;
                clock_gettime(CLOCK_REALTIME, &deadline);
                deadline.tv_sec += (time_t) (join_timeout_ms / 1000);
                deadline.tv_nsec += (long) (join_timeout_ms % 1000) * 1000000L;
                if (deadline.tv_nsec >= 1000000000L) {
                        deadline.tv_sec++;
                        deadline.tv_nsec -= 1000000000L;
                }
                while (p->n_exited < (int) p->n_threads)
                        if (pthread_cond_timedwait(&p->cond, &p->lock, &deadline) == ETIMEDOUT)
                                break;
                all_exited = p->n_exited == (int) p->n_threads;
        }
        pthread_mutex_unlock(&p->lock);

        if (!all_exited) {
                /* A thread is stuck in an item: leave it (and the pool, which
                 * it still references) behind. The caller is exiting. */
                for (unsigned i = 0; i < p->n_threads; i++)
                        pthread_detach(p->threads[i]);
                return NULL;
        }

        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);

        pool_drop_list(p, &p->queued);
        pool_drop_list(p, &p->finished);

        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        close(p->event_fd);
        free(p->threads);
        free(p);
        return NULL;
}

int worker_pool_get_fd(const WorkerPool *p) {
        return p->event_fd;
}

int worker_pool_submit(WorkerPool *p, void *item) {
        PoolNode *n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->item = item;

        pthread_mutex_lock(&p->lock);
        if (p->stopping || p->queued.n >= WORKER_POOL_QUEUE_MAX) {
                int r = p->stopping ? -ESHUTDOWN : -EAGAIN;
                pthread_mutex_unlock(&p->lock);
                free(n);
                return r;
        }
        pool_list_append(&p->queued, n);
        bool wake = p->idle > 0;
        pthread_mutex_unlock(&p->lock);
        if (wake)
                pthread_cond_signal(&p->cond);
        return 0;
}

size_t worker_pool_dispatch(WorkerPool *p) {
        uint64_t v;
        ssize_t k;
        do
                k = read(p->event_fd, &v, sizeof(v));
        while (k < 0 && errno == EINTR);

        pthread_mutex_lock(&p->lock);
        PoolList l = pool_list_take(&p->finished);
        pthread_mutex_unlock(&p->lock);

        size_t count = 0;
        PoolNode *n;
        while ((n = pool_list_pop(&l))) {
                void *item = n->item;
                free(n);
                p->done(item, p->userdata);
                count++;
        }
        return count;
}

size_t worker_pool_cancel_queued(WorkerPool *p, WorkerPoolMatchFn match, WorkerPoolItemFn cb,
                                 void *cb_userdata) {
        PoolList removed = {};

        pthread_mutex_lock(&p->lock);
        PoolList keep = {};
        PoolNode *n;
        while ((n = pool_list_pop(&p->queued))) {
                if (!match || match(n->item, cb_userdata))
                        pool_list_append(&removed, n);
                else
                        pool_list_append(&keep, n);
        }
        p->queued = keep;
        pthread_mutex_unlock(&p->lock);

        size_t count = 0;
        while ((n = pool_list_pop(&removed))) {
                void *item = n->item;
                free(n);
                if (cb)
                        cb(item, cb_userdata);
                else
                        p->drop(item, p->userdata);
                count++;
        }
        return count;
}

static size_t pool_count(WorkerPool *p, const size_t *field) {
        pthread_mutex_lock(&p->lock);
        size_t v = *field;
        pthread_mutex_unlock(&p->lock);
        return v;
}

size_t worker_pool_queued(WorkerPool *p) {
        return pool_count(p, &p->queued.n);
}

size_t worker_pool_running(WorkerPool *p) {
        return pool_count(p, &p->running);
}

size_t worker_pool_finished(WorkerPool *p) {
        return pool_count(p, &p->finished.n);
}

unsigned worker_pool_threads(const WorkerPool *p) {
        return p->n_threads;
}
