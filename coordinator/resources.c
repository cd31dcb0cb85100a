/* SPDX-License-Identifier: MIT */
/*
 * Resource mapping (see resources.h). A small linear table: a few dozen
 * entries at most in practice, looked up once per dispatched task.
 */

#include <string.h>

#include "asl-util.h"
#include "resources.h"
#include "store.h"

typedef struct ResourceEntry {
        char *name;
        char *target;
} ResourceEntry;

struct Resources {
        ResourceEntry *entries;
        size_t n, allocated;
};

int resources_new(Resources **ret) {
        Resources *r = xmalloc(sizeof *r);
        *r = (Resources){};
        *ret = r;
        return 0;
}

Resources *resources_free(Resources *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n; i++) {
                free(r->entries[i].name);
                free(r->entries[i].target);
        }
        free(r->entries);
        free(r);
        return NULL;
}

static bool word_is_valid(const char *s) {
        if (!s || !*s || strlen(s) > 200)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                      strchr("._-", *s)))
                        return false;
        return true;
}

static bool target_is_valid(const char *t) {
        if (strncmp(t, "pool:", 5) == 0)
                return word_is_valid(t + 5);
        return word_is_valid(t);
}

char *resources_target_problem(const char *target) {
        static const char chars[] = "letters, digits, '.', '_' and '-', at most 200";

        if (!target || !*target)
                return xasprintf("no target: expected an operation (image.resize) or pool:<pool>");
        if (strncmp(target, "pool:", 5) == 0) {
                if (!target[5])
                        return xasprintf("\"pool:\" names no pool: expected pool:<pool>, the pool a worker "
                                         "serves with worker.pool");
                if (!word_is_valid(target + 5))
                        return xasprintf("the pool name \"%s\" is not a pool name (%s)", target + 5, chars);
                return NULL;
        }
        if (!word_is_valid(target))
                return xasprintf("\"%s\" is not an operation name (%s) or pool:<pool>", target, chars);
        return NULL;
}

size_t resources_count(const Resources *r) {
        return r ? r->n : 0;
}

int resources_add(Resources *r, const char *name, const char *target) {
        if (!name || !*name || strlen(name) > RESOURCE_NAME_MAX || !target || !target_is_valid(target))
                return -EINVAL;
        for (size_t i = 0; i < r->n; i++)
                if (streq(r->entries[i].name, name)) {
                        free(r->entries[i].target);
                        r->entries[i].target = xstrdup(target);
                        return 0;
                }
        if (r->n >= RESOURCES_MAX)
                return -E2BIG;
        if (r->n >= r->allocated) {
                r->allocated = r->allocated ? r->allocated * 2 : 16;
                r->entries = xrealloc(r->entries, r->allocated * sizeof(ResourceEntry));
        }
        r->entries[r->n++] = (ResourceEntry){xstrdup(name), xstrdup(target)};
        return 0;
}

static const char *lookup(const Resources *r, const char *name) {
        for (size_t i = 0; r && i < r->n; i++)
                if (streq(r->entries[i].name, name))
                        return r->entries[i].target;
        return NULL;
}

void resource_target_done(ResourceTarget *t) {
        free(t->operation);
        free(t->pool);
        free(t->activity);
        json_decref(t->input);
        *t = (ResourceTarget){};
}

static bool strip_suffix(char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        if (n > m && streq(s + n - m, suffix)) {
                s[n - m] = 0;
                return true;
        }
        return false;
}

static int from_target(const char *target, const char *function, ResourceTarget *t) {
        if (strncmp(target, "pool:", 5) == 0) {
                t->pool = xstrdup(target + 5);
                t->operation = xstrdup(function ? function : target + 5);
        } else
                t->operation = xstrdup(target);
        return 0;
}

/* A Lambda function name or ARN -> target, via the table. */
static int map_function(const Resources *r, const char *fn, ResourceTarget *t) {
        static const char lambda_arn[] = "arn:aws:lambda:";
        const char *target, *p;
        _cleanup_free_ char *name = NULL;

        target = lookup(r, fn);
        if (target) {
                /* The operation of a pool target is the function's short name. */
                p = strstr(fn, ":function:");
                name = xstrdup(p ? p + strlen(":function:") : fn);
                if ((p = strchr(name, ':')))
                        *(char *) p = 0;
                return from_target(target, name, t);
        }
        if (strncmp(fn, lambda_arn, strlen(lambda_arn)) == 0) {
                p = strstr(fn, ":function:");
                if (!p)
                        return -ENOENT;
                name = xstrdup(p + strlen(":function:"));
                target = lookup(r, name);
                if (!target && (p = strchr(name, ':'))) {
                        *(char *) p = 0; /* drop the alias or version */
                        target = lookup(r, name);
                }
                if (!target)
                        return -ENOENT;
                return from_target(target, name, t);
        }
        return -ENOENT;
}

bool resources_is_activity_queue(const Resources *r, const char *resource) {
        return store_activity_name_of_arn(resource) && !lookup(r, resource);
}

int resources_resolve(const Resources *r, const char *resource, json_t *input, ResourceTarget *ret,
                      char **ret_cause) {
        ResourceTarget t = {};
        _cleanup_free_ char *res = NULL;
        const char *p;
        int k = -ENOENT;

        if (!resource || strlen(resource) > RESOURCE_NAME_MAX) {
                *ret_cause = xstrdup("resource name too long");
                return -ENOENT;
        }
        res = xstrdup(resource);
        t.wait_for_token = strip_suffix(res, ".waitForTaskToken");
        if (!t.wait_for_token)
                (void) strip_suffix(res, ".sync");

        if (streq(res, "arn:aws:states:::lambda:invoke")) {
                const char *fn = json_string_value(json_object_get(input, "FunctionName"));
                json_t *payload = json_object_get(input, "Payload");

                if (fn)
                        k = map_function(r, fn, &t);
                if (k == 0)
                        t.input = payload ? json_incref(payload) : json_object();
                else {
                        resource_target_done(&t);
                        *ret_cause = xasprintf("no mapping for resource %s (FunctionName %s)", resource,
                                               fn ? fn : "missing");
                        return -ENOENT;
                }
        } else if (strncmp(res, "imgflow:pool:", 13) == 0 && word_is_valid(res + 13)) {
                t.pool = xstrdup(res + 13);
                t.operation = xstrdup(res + 13);
                k = 0;
        } else if (strncmp(res, "imgflow:", 8) == 0 && word_is_valid(res + 8)) {
                const char *target = lookup(r, res);
                if (target)
                        k = from_target(target, NULL, &t);
                else {
                        t.operation = xstrdup(res + 8);
                        k = 0;
                }
        } else if (strncmp(res, "arn:aws:states:", 15) == 0 && (p = strstr(res, ":activity:")) &&
                   word_is_valid(p + 10)) {
                const char *target = lookup(r, res);
                if (target)
                        k = from_target(target, p + 10, &t);
                else if (store_activity_name_of_arn(res)) {
                        t.activity = xstrdup(p + 10);
                        k = 0;
                } else
                        k = -ENOENT;
        } else
                k = map_function(r, res, &t);

        if (k < 0) {
                resource_target_done(&t);
                *ret_cause = xasprintf("no mapping for resource %s", resource);
                return -ENOENT;
        }
        if (!t.input)
                t.input = input ? json_incref(input) : json_object();
        *ret = t;
        return 0;
}

/* ---- checks at creation ---- */

/* The FunctionName a lambda:invoke Task gives in its definition, or NULL
 * when it is computed (FunctionName.$, a JSONata expression) or absent. */
static const char *static_function_name(json_t *state) {
        json_t *args = json_object_get(state, "Parameters") ?: json_object_get(state, "Arguments");
        const char *fn = json_string_value(json_object_get(args, "FunctionName"));

        if (!fn || strncmp(fn, "{%", 2) == 0)
                return NULL;
        return fn;
}

static void check_task(const Resources *r, const char *name, json_t *state, const char *pointer,
                       AslDiag *d) {
        const char *resource = json_string_value(json_object_get(state, "Resource"));
        _cleanup_(resource_target_done) ResourceTarget t = {};
        _cleanup_free_ char *cause = NULL, *p = NULL, *base = NULL;
        _cleanup_json_ json_t *input = NULL;
        const char *fn = NULL;

        if (!resource)
                return;
        base = xstrdup(resource);
        if (!strip_suffix(base, ".waitForTaskToken"))
                (void) strip_suffix(base, ".sync");
        if (streq(base, "arn:aws:states:::lambda:invoke")) {
                fn = static_function_name(state);
                if (!fn)
                        return; /* known only when the task runs */
                input = json_pack("{s:s}", "FunctionName", fn);
        }
        if (resources_resolve(r, resource, input, &t, &cause) == 0)
                return;
        p = asl_pointer_join(pointer, "Resource");
        if (fn)
                asl_diag_add(
                        d, p,
                        "State '%s': FunctionName '%s' of Resource '%s' maps to nothing: the [resources] "
                        "section of the configuration has no entry for it (an operation such as "
                        "image.resize, or pool:<pool>)",
                        name, fn, resource);
        else
                asl_diag_add(d, p,
                             "State '%s': Resource '%s' maps to nothing: the [resources] section of the "
                             "configuration has no entry for it%s (an operation such as image.resize, or "
                             "pool:<pool>); imgflow:<operation> and imgflow:pool:<pool> need none",
                             name, resource,
                             strncmp(resource, "arn:aws:lambda:", 15) == 0 ? " or for its function name"
                                                                           : "");
}

static void check_states(const Resources *r, json_t *scope, const char *pointer, unsigned depth,
                         AslDiag *d) {
        _cleanup_free_ char *sp = asl_pointer_join(pointer, "States");
        json_t *states = json_object_get(scope, "States"), *st;
        const char *name;

        if (!json_is_object(states) || depth > ASL_MAX_JSON_DEPTH)
                return;
        json_object_foreach (states, name, st) {
                _cleanup_free_ char *p = asl_pointer_join(sp, name);
                const char *type = json_string_value(json_object_get(st, "Type"));
                json_t *branch, *proc;
                size_t i;

                if (!type)
                        continue;
                if (streq(type, "Task"))
                        check_task(r, name, st, p, d);
                else if (streq(type, "Parallel"))
                        json_array_foreach (json_object_get(st, "Branches"), i, branch) {
                                _cleanup_free_ char *bp = asl_pointer_join(p, "Branches");
                                _cleanup_free_ char *ip = asl_pointer_join_index(bp, i);
                                check_states(r, branch, ip, depth + 1, d);
                        }
                else if (streq(type, "Map")) {
                        const char *field =
                                json_object_get(st, "ItemProcessor") ? "ItemProcessor" : "Iterator";
                        _cleanup_free_ char *ip = asl_pointer_join(p, field);

                        proc = json_object_get(st, field);
                        check_states(r, proc, ip, depth + 1, d);
                }
        }
}

int resources_check_definition(const Resources *r, json_t *definition, AslDiag *d) {
        size_t before = d->n;

        check_states(r, definition, "", 0, d);
        return d->n > before ? -EINVAL : 0;
}
