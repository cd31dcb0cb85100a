/* SPDX-License-Identifier: MIT */
/*
 * Runs a checkout of the JSONata test suite (groups/GROUP/CASE.json and
 * datasets/) against imgflow's JSONata module and prints, per group and in
 * total, how many cases pass:
 *
 *   jsonata-suite [-v] [-g GROUP] [--min-percent P] DIR
 *
 * A case passes when the expression compiles and evaluates to the expected
 * result (numbers compared as numbers; "unordered" arrays as multisets), to
 * no value where "undefinedResult" is set, or fails with the expected error
 * code ("code", or "error": {"code"}). "depth" sets the depth limit;
 * "timelimit" is not used (the step budget stands in for it). -v prints each
 * failing case. The exit status is 0 (the counts are the result).
 */

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonata.h"

static bool verbose;

static int cmpstr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static char **list_dir(const char *path, size_t *n) {
        DIR *d = opendir(path);
        char **names = NULL;
        struct dirent *de;

        *n = 0;
        if (!d)
                return NULL;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                names = realloc(names, (*n + 1) * sizeof(char *));
                names[(*n)++] = strdup(de->d_name);
        }
        closedir(d);
        qsort(names, *n, sizeof(char *), cmpstr);
        return names;
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t len = 0, cap = 0, r;

        if (!f)
                return NULL;
        do {
                if (len + 4096 + 1 > cap) {
                        cap = (cap + 4096) * 2;
                        buf = realloc(buf, cap);
                }
                r = fread(buf + len, 1, 4096, f);
                len += r;
        } while (r > 0);
        fclose(f);
        buf[len] = 0;
        return buf;
}

static bool equal(const json_t *a, const json_t *b, bool unordered);

static bool equal_unordered(const json_t *a, const json_t *b) {
        size_t n = json_array_size(a);
        bool *used;
        if (n != json_array_size(b))
                return false;
        used = calloc(n + 1, 1);
        for (size_t i = 0; i < n; i++) {
                bool found = false;
                for (size_t k = 0; k < n && !found; k++)
                        if (!used[k] && equal(json_array_get(a, i), json_array_get(b, k), false))
                                used[k] = found = true;
                if (!found) {
                        free(used);
                        return false;
                }
        }
        free(used);
        return true;
}

static bool equal(const json_t *a, const json_t *b, bool unordered) {
        if (json_is_number(a) && json_is_number(b)) {
                double x = json_number_value(a), y = json_number_value(b);
                return x == y || fabs(x - y) <= 1e-13 * fmax(fabs(x), fabs(y));
        }
        if (json_typeof(a) != json_typeof(b))
                return false;
        if (json_is_array(a)) {
                if (unordered)
                        return equal_unordered(a, b);
                if (json_array_size(a) != json_array_size(b))
                        return false;
                for (size_t i = 0; i < json_array_size(a); i++)
                        if (!equal(json_array_get(a, i), json_array_get(b, i), false))
                                return false;
                return true;
        }
        if (json_is_object(a)) {
                const char *k;
                json_t *v;
                if (json_object_size(a) != json_object_size(b))
                        return false;
                json_object_foreach ((json_t *) a, k, v) {
                        json_t *w = json_object_get(b, k);
                        if (!w || !equal(v, w, false))
                                return false;
                }
                return true;
        }
        return json_equal((json_t *) a, (json_t *) b);
}

static void fake_random(void *userdata, void *buf, size_t n) {
        uint64_t *state = userdata;
        unsigned char *b = buf;
        for (size_t i = 0; i < n; i++) {
                *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
                b[i] = (unsigned char) (*state >> 56);
        }
}

static bool run_case(const char *dir, const char *group, const char *name, json_t *c) {
        char path[4096];
        const char *expr = json_string_value(json_object_get(c, "expr"));
        char *expr_buf = NULL;
        json_t *data = NULL, *result = NULL;
        JsonataExpr *e = NULL;
        JsonataError err = {.position = -1};
        bool ok = false;
        static uint64_t rnd = 1;

        if (!expr) {
                const char *file = json_string_value(json_object_get(c, "expr-file"));
                if (!file)
                        return false;
                snprintf(path, sizeof(path), "%s/groups/%s/%s", dir, group, file);
                expr = expr_buf = read_file(path);
                if (!expr)
                        return false;
        }
        if (json_object_get(c, "data"))
                data = json_incref(json_object_get(c, "data"));
        else if (json_is_string(json_object_get(c, "dataset"))) {
                snprintf(path, sizeof(path), "%s/datasets/%s.json", dir,
                         json_string_value(json_object_get(c, "dataset")));
                data = json_load_file(path, JSON_DECODE_ANY, NULL);
        }

        json_t *bindings = json_object_get(c, "bindings");
        size_t nb = json_object_size(bindings), k = 0;
        JsonataVariable *vars = calloc(nb + 1, sizeof(JsonataVariable));
        const char *bk;
        json_t *bv;
        json_object_foreach (bindings, bk, bv) {
                vars[k++] = (JsonataVariable){.name = bk, .value = bv};
        }
        JsonataEnv env = {
                .now_ms = (int64_t) time(NULL) * 1000, .random = fake_random, .random_userdata = &rnd};
        JsonataContext ctx = {.variables = vars, .n_variables = nb, .env = &env};
        if (json_is_integer(json_object_get(c, "depth")))
                ctx.limits.max_depth = (size_t) json_integer_value(json_object_get(c, "depth"));
        ctx.limits.max_memory = 1u << 30;

        const char *want_code = json_string_value(json_object_get(c, "code"));
        if (!want_code)
                want_code = json_string_value(json_object_get(json_object_get(c, "error"), "code"));
        int r = jsonata_compile(expr, SIZE_MAX, &e, &err);
        if (r == 0)
                r = jsonata_evaluate(e, data, &ctx, &result, &err);
        if (want_code)
                ok = r < 0 && strcmp(err.code, want_code) == 0;
        else if (r < 0)
                ok = false;
        else if (json_is_true(json_object_get(c, "undefinedResult")))
                ok = result == NULL;
        else if (json_object_get(c, "result"))
                ok = result && equal(result, json_object_get(c, "result"),
                                     json_is_true(json_object_get(c, "unordered")));
        if (!ok && verbose) {
                char *got = result ? json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                char *want = json_dumps(json_object_get(c, "result"), JSON_ENCODE_ANY | JSON_COMPACT);
                printf("FAIL %s/%s: %s\n  got: %s%s%s%s\n  want: %s%s\n", group, name, expr,
                       got ? got : "(undefined)", r < 0 ? " error " : "", r < 0 ? err.code : "",
                       r < 0 && err.message ? err.message : "", want ? want : "",
                       want_code ? want_code : "");
                free(got);
                free(want);
        }
        jsonata_error_clear(&err);
        json_decref(result);
        json_decref(data);
        jsonata_expr_free(e);
        free(vars);
        free(expr_buf);
        return ok;
}

static int run_lines(void) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;

        while ((len = getline(&line, &cap, stdin)) > 0) {
                json_t *c = json_loadb(line, (size_t) len, 0, NULL), *out = json_object(), *r = NULL;
                JsonataExpr *e = NULL;
                JsonataError err = {.position = -1};
                JsonataEnv env = {.now_ms = 1700000000000LL};
                JsonataContext ctx = {.env = &env};
                const char *expr = json_string_value(json_object_get(c, "expr"));
                int rc = expr ? jsonata_compile(expr, SIZE_MAX, &e, &err) : -EINVAL;
                if (rc == 0)
                        rc = jsonata_evaluate(e, json_object_get(c, "data"), &ctx, &r, &err);
                if (rc < 0)
                        json_object_set_new(out, "code", json_string(err.code));
                else if (!r)
                        json_object_set_new(out, "undefined", json_true());
                else
                        json_object_set_new(out, "result", r);
                char *text = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
                printf("%s\n", text ? text : "{}");
                free(text);
                json_decref(out);
                json_decref(c);
                jsonata_expr_free(e);
                jsonata_error_clear(&err);
        }
        free(line);
        return 0;
}

int main(int argc, char **argv) {
        const char *only = NULL, *dir = NULL;
        double min_percent = -1;
        size_t total = 0, passed = 0, ngroups;
        char path[4096];

        if (argc == 2 && strcmp(argv[1], "--lines") == 0)
                return run_lines();
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-v") == 0)
                        verbose = true;
                else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc)
                        only = argv[++i];
                else if (strcmp(argv[i], "--min-percent") == 0 && i + 1 < argc)
                        min_percent = strtod(argv[++i], NULL);
                else
                        dir = argv[i];
        }
        if (!dir) {
                fprintf(stderr, "usage: %s [-v] [-g GROUP] [--min-percent P] SUITE-DIR\n", argv[0]);
                return 2;
        }
        snprintf(path, sizeof(path), "%s/groups", dir);
        char **groups = list_dir(path, &ngroups);
        if (!groups) {
                fprintf(stderr, "%s: no groups/ directory\n", dir);
                return min_percent >= 0 ? 77 : 2;
        }
        for (size_t g = 0; g < ngroups; g++) {
                size_t nfiles, gp = 0, gt = 0;
                if (only && strcmp(only, groups[g]) != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/groups/%s", dir, groups[g]);
                char **files = list_dir(path, &nfiles);
                for (size_t f = 0; f < nfiles; f++) {
                        size_t l = strlen(files[f]);
                        if (l < 5 || strcmp(files[f] + l - 5, ".json") != 0) {
                                free(files[f]);
                                continue;
                        }
                        snprintf(path, sizeof(path), "%s/groups/%s/%s", dir, groups[g], files[f]);
                        json_error_t jerr;
                        json_t *doc = json_load_file(path, JSON_DECODE_ANY, &jerr);
                        if (!doc) {
                                /* e.g. a lone surrogate (\ud800) that jansson refuses */
                                gt++;
                                if (verbose)
                                        printf("FAIL %s/%s: cannot load the case: %s\n", groups[g], files[f],
                                               jerr.text);
                        } else if (json_is_object(doc)) {
                                gt++;
                                gp += run_case(dir, groups[g], files[f], doc);
                        } else if (json_is_array(doc))
                                for (size_t i = 0; i < json_array_size(doc); i++) {
                                        char name[300];
                                        snprintf(name, sizeof(name), "%s[%zu]", files[f], i);
                                        gt++;
                                        gp += run_case(dir, groups[g], name, json_array_get(doc, i));
                                }
                        json_decref(doc);
                        free(files[f]);
                }
                free(files);
                printf("%-32s %4zu / %4zu\n", groups[g], gp, gt);
                passed += gp;
                total += gt;
                free(groups[g]);
        }
        free(groups);
        printf("total: %zu passed, %zu failed (%.1f%% of %zu cases)\n", passed, total - passed,
               total ? 100.0 * (double) passed / (double) total : 0.0, total);
        if (min_percent >= 0 && (total == 0 || 100.0 * (double) passed / (double) total < min_percent)) {
                fprintf(stderr, "fewer than %.1f%% of the cases pass\n", min_percent);
                return 1;
        }
        return 0;
}
