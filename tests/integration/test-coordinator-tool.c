/* SPDX-License-Identifier: MIT */
/*
 * Store helper of the coordinator's integration test, using the store
 * library on a synchronous hiredis connection (as the CLI does):
 *
 *   test-coordinator-tool PORT register NAME FILE
 *   test-coordinator-tool PORT wait EXEC_ID TIMEOUT_SEC
 *        waits until the execution is not RUNNING; prints
 *        "<status> <output or error, compact JSON with sorted keys>"
 *   test-coordinator-tool PORT count-history EXEC_ID TYPE
 *        prints how many history events have that type
 *   test-coordinator-tool PORT response REQUEST_ID TIMEOUT_SEC
 *        prints the stored response (compact, sorted keys)
 *   test-coordinator-tool PORT wait-all TIMEOUT_SEC EXEC_ID...
 *        waits until none is RUNNING; prints "<status> <id>" per execution
 *   test-coordinator-tool PORT start-no-dispatch SM NAME INPUT
 *        starts an execution in the store exactly as the coordinator does
 *        (apply_start + exec_commit) but produces nothing: what a
 *        coordinator killed between its commit and the dispatch leaves
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "store.h"

/* The engine's random source (task ids, tokens). */
static void tool_random(void *userdata, void *buf, size_t n) {
        if (getrandom(buf, n, 0) != (ssize_t) n)
                abort();
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t n = 0;

        if (!f)
                return NULL;
        if (getdelim(&buf, &n, '\0', f) < 0) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

static char *dump(json_t *j) {
        return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : strdup("null");
}

static double now_sec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *exec_status(redisContext *c, const char *id, json_t **ret) {
        json_t *j = NULL;
        if (store_exec_describe(c, id, &j) < 0)
                return NULL;
        *ret = j;
        return json_string_value(json_object_get(j, "status"));
}

static int run(redisContext *c, int argc, char **argv) {
        int r;

        if (strcmp(argv[2], "register") == 0 && argc == 5) {
                char *text = read_file(argv[4]);
                AslDiag d = {};
                unsigned v = 0;

                if (!text)
                        return 1;
                r = store_sm_create(c, argv[3], text, 0, &d, &v);
                free(text);
                if (r < 0) {
                        fprintf(stderr, "register %s: %s %s %s\n", argv[3], strerror(-r),
                                d.n ? d.entries[0].pointer : "", d.n ? d.entries[0].message : "");
                        asl_diag_clear(&d);
                        return 1;
                }
                printf("%u\n", v);
                return 0;
        }

        if (strcmp(argv[2], "start-no-dispatch") == 0 && argc == 6) {
                char *text = NULL;
                unsigned v = 0;
                AslMachine *m = NULL;
                AslDiag d = {};
                AslError err = {};
                AslEnv env = { .now_ms = (int64_t) time(NULL) * 1000, .random = tool_random };
                ApplyConfig cfg = {};
                StoreCommit *commit = NULL;
                StoreCommitResult res;
                json_t *input = json_loads(argv[5], 0, NULL);

                r = store_sm_get_definition(c, argv[3], 0, &text, &v);
                if (r >= 0)
                        r = asl_machine_parse(text, strlen(text), &m, &d);
                if (r >= 0)
                        r = apply_start(&cfg, m, argv[3], v, argv[4], input, NULL, &env, &commit, NULL, &err);
                if (r >= 0)
                        r = store_commit_sync(c, commit, &res);
                if (r >= 0 && res.outcome == STORE_COMMIT_OK)
                        printf("%s\n", commit->exec_id);
                else
                        r = -EIO;
                store_commit_free(commit);
                asl_machine_free(m);
                asl_diag_clear(&d);
                asl_error_clear(&err);
                json_decref(input);
                free(text);
                return r < 0 ? 1 : 0;
        }

        if (strcmp(argv[2], "wait") == 0 && argc == 5) {
                double deadline = now_sec() + atof(argv[4]);
                for (;;) {
                        json_t *j = NULL;
                        const char *st = exec_status(c, argv[3], &j);
                        if (st && strcmp(st, "RUNNING") != 0) {
                                json_t *o = json_object_get(j, "output");
                                char *s;
                                if (!o)
                                        o = json_object_get(j, "error");
                                s = dump(o);
                                printf("%s %s\n", st, s);
                                if (json_object_get(j, "cause"))
                                        fprintf(stderr, "%s: cause: %s\n", argv[3],
                                                json_string_value(json_object_get(j, "cause")));
                                free(s);
                                json_decref(j);
                                return 0;
                        }
                        json_decref(j);
                        if (now_sec() > deadline) {
                                printf("TIMEOUT\n");
                                return 1;
                        }
                        usleep(50 * 1000);
                }
        }

        if (strcmp(argv[2], "wait-all") == 0 && argc >= 5) {
                double deadline = now_sec() + atof(argv[3]);
                int bad = 0;
                for (int i = 4; i < argc; i++) {
                        for (;;) {
                                json_t *j = NULL;
                                const char *st = exec_status(c, argv[i], &j);
                                if (st && strcmp(st, "RUNNING") != 0) {
                                        printf("%s %s\n", st, argv[i]);
                                        json_decref(j);
                                        break;
                                }
                                json_decref(j);
                                if (now_sec() > deadline) {
                                        printf("TIMEOUT %s\n", argv[i]);
                                        bad = 1;
                                        break;
                                }
                                usleep(50 * 1000);
                        }
                }
                return bad;
        }

        if (strcmp(argv[2], "count-history") == 0 && argc == 5) {
                json_t *h = NULL, *e;
                size_t i, n = 0;
                if (store_exec_history(c, argv[3], 0, 1000, false, &h) < 0)
                        return 1;
                json_array_foreach(h, i, e) {
                        const char *t = json_string_value(json_object_get(e, "type"));
                        if (t && strcmp(t, argv[4]) == 0)
                                n++;
                }
                printf("%zu\n", n);
                json_decref(h);
                return 0;
        }

        if (strcmp(argv[2], "response") == 0 && argc == 5) {
                double deadline = now_sec() + atof(argv[4]);
                json_t *j = NULL;
                while ((r = store_response_get(c, argv[3], &j)) == -ENOENT && now_sec() < deadline)
                        usleep(50 * 1000);
                if (r < 0) {
                        printf("NONE\n");
                        return 1;
                }
                char *s = dump(j);
                printf("%s\n", s);
                free(s);
                json_decref(j);
                return 0;
        }
        return 2;
}

int main(int argc, char **argv) {
        redisContext *c;
        int r;

        if (argc < 4)
                return 2;
        c = redisConnect("127.0.0.1", atoi(argv[1]));
        if (!c || c->err) {
                fprintf(stderr, "cannot connect to redis\n");
                return 1;
        }
        r = run(c, argc, argv);
        redisFree(c);
        return r;
}
