/* SPDX-License-Identifier: MIT */

/*
 * The operation table, the one run path, and output locations.
 *
 * The operations themselves are in worker/ops/, by family: params (the
 * schema checks), geometry, filters and pipeline (the image-writing
 * operations: one decode, steps, one encode, step.h), inspect (validate,
 * metadata) and test-ops. image-vips.c is the only file that talks to
 * libvips. The daemon adds its own operations (e.g. "notify") through
 * image_ops_find()'s extra table; this file knows nothing of Kafka.
 *
 * Output keys (image_ops_output_location(), the rule in image-ops.h and
 * docs/image-operations.md): an image-writing task that names no "output"
 * writes to a key derived from the task, unique per execution, state, place
 * in Parallel branches and Map iterations, input and output-changing
 * parameters, and the same for every retry of the task, so that a retry
 * overwrites its own output and nothing else:
 *
 *     processed/<execution>/<state>[@<indexPath>]/<original key minus ext>.<tag>.<ext>
 */

#include "image-ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters.h"
#include "geometry.h"
#include "hash.h"
#include "image-vips.h"
#include "inspect.h"
#include "macro.h"
#include "params.h"
#include "pipeline.h"
#include "storage-items.h"
#include "storage-ops.h"
#include "test-ops.h"

static const Operation op_table[] = {
        {"image.validate", inspect_validate_params, inspect_validate,
         "check an image from its header (and a full decode)"},
        {"image.metadata", inspect_metadata_params, inspect_metadata,
         "header fields, EXIF, XMP and ICC information"},
        {"image.resize", geometry_resize_params, geometry_resize,
         "resize with fit cover/contain/fill/inside/outside"},
        {"image.thumbnail", geometry_resize_params, geometry_thumbnail, "resize, default 200x200 cover"},
        {"image.crop", geometry_crop_params, geometry_crop, "crop a rectangle, or smart crop"},
        {"image.rotate", geometry_rotate_params, geometry_rotate, "rotate by any angle"},
        {"image.flip", geometry_flip_params, geometry_flip, "mirror horizontally or vertically"},
        {"image.filter", filters_filter_params, filters_filter, "apply a list of filters"},
        {"image.watermark", filters_watermark_params, filters_watermark, "overlay an image or text"},
        {"image.convert", pipeline_convert_params, pipeline_convert, "re-encode to another format"},
        {"image.optimize", pipeline_optimize_params, pipeline_optimize,
         "re-encode smaller, metadata stripped"},
        {"image.pipeline", pipeline_params, pipeline_run, "several steps on one decode, one save"},
        {"storage.list", storage_ops_list_params, storage_ops_list,
         "one page of a bucket listing (a distributed Map's ItemReader)"},
        {"storage.put", storage_ops_put_params, storage_ops_put,
         "write an object whole (a distributed Map's ResultWriter)"},
        {"storage.items", storage_ops_items_params, storage_ops_items,
         "one page of the items of a JSON, JSONL or CSV object (a distributed Map's ItemReader)"},
        {"test.echo", NULL, test_ops_echo, "return the input"},
        {"test.sleep", test_ops_sleep_params, test_ops_sleep, "sleep ms milliseconds"},
        {"test.fail", test_ops_fail_params, test_ops_fail, "fail (optionally only the first N attempts)"},
};

int image_ops_init(int concurrency) {
        return image_vips_init(concurrency);
}

bool image_ops_have_heif_save(void) {
        return image_vips_have_heif_save();
}

const Operation *image_ops_table(size_t *ret_n) {
        if (ret_n)
                *ret_n = ELEMENTSOF(op_table);
        return op_table;
}

const Operation *image_ops_find(const char *name, const Operation *extra, size_t n_extra) {
        if (!name)
                return NULL;
        for (size_t i = 0; extra && i < n_extra; i++)
                if (streq_ptr(extra[i].name, name))
                        return &extra[i];
        for (size_t i = 0; i < ELEMENTSOF(op_table); i++)
                if (streq_ptr(op_table[i].name, name))
                        return &op_table[i];
        return NULL;
}

int image_ops_validate_params(const Operation *op, json_t *params, TaskFailure *f) {
        if (!op)
                return -EINVAL;
        return params_validate(op->params, params, "", f);
}

int image_ops_run(const Operation *op, Storage *s, json_t *params, const OpContext *ctx, json_t **ret_result,
                  TaskFailure *f) {
        OpContext run_ctx = {};
        json_t *result = NULL;
        int r;

        if (!ret_result)
                return -EINVAL;
        if (!op || !op->fn)
                return task_failure_set(f, -EOPNOTSUPP, "Worker.UnknownOperation",
                                        "No operation '%s' on this worker",
                                        op && op->name ? op->name : "unknown");
        r = image_ops_validate_params(op, params, f);
        if (r < 0)
                return r;
        if (ctx)
                run_ctx = *ctx;
        run_ctx.op = op;
        r = op->fn(s, params, &run_ctx, &result, f);
        if (r < 0) {
                json_decref(result);
                if (!task_failure_is_set(f))
                        task_failure_set(f, r, "States.TaskFailed", "%s failed: %s", op->name, strerror(-r));
                return r;
        }
        *ret_result = result ? result : json_null();
        return 0;
}

/* ---- output locations --------------------------------------------------- */

/* Names longer than this are cut (AWS's limit on execution and state names). */
#define KEY_NAME_MAX 80
/* Hex digits of the hashes in a derived key. */
#define KEY_HASH_CHARS 8

static bool key_char_is_safe(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '-';
}

/* The first KEY_HASH_CHARS hex digits of the SHA-256 of s[0..n). */
static void key_hash(const char *s, size_t n, char ret[KEY_HASH_CHARS + 1]) {
        char hex[HASH_HEX_MAX];

        hash_hex(HASH_SHA256, s, n, hex);
        memcpy(ret, hex, KEY_HASH_CHARS);
        ret[KEY_HASH_CHARS] = '\0';
}

/* One key component for a name (fallback when it is NULL or empty): the
 * name itself when it is safe, else its reduction with '~' and a hash of
 * the whole name. '~' is never in a safe name, so the two kinds never meet,
 * and two names that reduce alike differ in their hashes. New string. */
static char *key_name(const char *name, const char *fallback) {
        size_t n, keep;
        bool safe;
        char *out, hash[KEY_HASH_CHARS + 1];

        if (isempty(name))
                name = fallback;
        n = strlen(name);
        safe = n <= KEY_NAME_MAX && !streq(name, ".") && !streq(name, "..");
        for (size_t i = 0; safe && i < n; i++)
                safe = key_char_is_safe(name[i]);
        if (safe)
                return strdup(name);

        keep = MIN_(n, (size_t) KEY_NAME_MAX);
        out = malloc(keep + 1 + KEY_HASH_CHARS + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < keep; i++)
                out[i] = key_char_is_safe(name[i]) ? name[i] : '_';
        key_hash(name, n, hash);
        out[keep] = '~';
        memcpy(out + keep + 1, hash, KEY_HASH_CHARS + 1);
        return out;
}

/* The tag: what the output is made of besides the names in the key. */
static int key_tag(const OpContext *ctx, json_t *params, const char *in_bucket, const char *in_key,
                   char ret[KEY_HASH_CHARS + 1]) {
        _cleanup_json_ json_t *what = json_object(), *used = json_object();
        _cleanup_free_ char *text = NULL;
        const ParamSpec *specs = ctx && ctx->op ? ctx->op->params : NULL;

        if (!what || !used)
                return -ENOMEM;
        if (specs) {
                for (const ParamSpec *p = specs; p->name; p++) {
                        json_t *v = json_object_get(params, p->name);
                        if (!p->where && v && !json_is_null(v) && json_object_set(used, p->name, v) < 0)
                                return -ENOMEM;
                }
        } else if (json_is_object(params)) {
                /* Without a schema: every member but the locations. */
                static const char *const where[] = {"bucket", "key",          "input",
                                                    "output", "outputBucket", "outputPrefix"};
                const char *k;
                json_t *v;
                json_object_foreach (params, k, v) {
                        bool skip = json_is_null(v);
                        for (size_t i = 0; !skip && i < ELEMENTSOF(where); i++)
                                skip = streq(k, where[i]);
                        if (!skip && json_object_set(used, k, v) < 0)
                                return -ENOMEM;
                }
        }
        if (json_object_set_new(what, "bucket", json_string(in_bucket)) < 0 ||
            json_object_set_new(what, "key", json_string(in_key)) < 0 ||
            json_object_set(what, "params", used) < 0)
                return -ENOMEM;
        /* Sorted keys: the same parameters in another order are the same output. */
        text = json_dumps(what, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        key_hash(text, strlen(text), ret);
        return 0;
}

static bool is_hex_tag(const char *s, size_t n) {
        if (n != KEY_HASH_CHARS)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static bool is_output_extension(const char *s) {
        for (const char *const *f = params_formats_out; *f; f++)
                if (streq_ptr(image_vips_format_extension(*f), s))
                        return true;
        return false;
}

/* When key is one that this execution (component exec) derived under prefix,
 * "<prefix>/<exec>/<state>/<stem>.<tag>.<ext>", its stem: the original
 * object's key minus extension (new string). Else NULL (also on OOM, which
 * only means the key nests). */
static char *derived_stem(const char *key, const char *prefix, const char *exec) {
        size_t pl = strlen(prefix), el = strlen(exec);
        const char *rest, *slash, *ext, *tag;

        if (strncmp(key, prefix, pl) != 0 || key[pl] != '/' || strncmp(key + pl + 1, exec, el) != 0 ||
            key[pl + 1 + el] != '/')
                return NULL;
        rest = key + pl + 1 + el + 1;
        slash = strchr(rest, '/');
        if (!slash || slash == rest)
                return NULL;
        rest = slash + 1;
        ext = strrchr(rest, '.');
        if (!ext || !is_output_extension(ext + 1))
                return NULL;
        tag = ext - KEY_HASH_CHARS - 1;
        if (tag <= rest || tag[0] != '.' || !is_hex_tag(tag + 1, KEY_HASH_CHARS))
                return NULL;
        return strndup(rest, (size_t) (tag - rest));
}

/* The key minus the extension of its last component (a leading dot is not
 * an extension). New string. */
static char *key_stem(const char *key) {
        const char *base = strrchr(key, '/'), *dot;

        base = base ? base + 1 : key;
        dot = strrchr(base, '.');
        return strndup(key, dot && dot != base ? (size_t) (dot - key) : strlen(key));
}

/* "@<index path>", with anything but digits and '.' made '_' (proto has
 * checked it already; this only keeps it one component); "" at the top. */
static char *key_index_path(const char *path) {
        char *out;
        size_t n;

        if (isempty(path))
                return strdup("");
        n = strlen(path);
        out = malloc(n + 2);
        if (!out)
                return NULL;
        out[0] = '@';
        for (size_t i = 0; i < n; i++)
                out[i + 1] = (path[i] >= '0' && path[i] <= '9') || path[i] == '.' ? path[i] : '_';
        out[n + 1] = '\0';
        return out;
}

int image_ops_output_location(json_t *params, const OpContext *ctx, const char *in_bucket,
                              const char *in_key, const char *ext, char **ret_bucket, char **ret_key) {
        json_t *loc = json_object_get(params, "output");
        _cleanup_free_ char *bucket = NULL, *key = NULL, *prefix = NULL, *exec = NULL, *state = NULL,
                            *path = NULL, *stem = NULL;
        char tag[KEY_HASH_CHARS + 1];
        int r;

        if (json_is_object(loc)) {
                bucket = strdup(json_string_value(json_object_get(loc, "bucket")));
                key = strdup(json_string_value(json_object_get(loc, "key")));
                if (!bucket || !key)
                        return -ENOMEM;
                *ret_bucket = TAKE_PTR(bucket);
                *ret_key = TAKE_PTR(key);
                return 0;
        }

        bucket = strdup(params_str(params, "outputBucket", in_bucket));
        prefix = strdup(params_str(params, "outputPrefix", "processed"));
        exec = key_name(ctx ? (ctx->execution_name ? ctx->execution_name : ctx->execution_id) : NULL,
                        "local");
        state = key_name(ctx ? ctx->state_name : NULL, "task");
        path = key_index_path(ctx ? ctx->index_path : NULL);
        if (!bucket || !prefix || !exec || !state || !path)
                return -ENOMEM;
        for (size_t n = strlen(prefix); n > 0 && prefix[n - 1] == '/'; n--)
                prefix[n - 1] = '\0';
        stem = derived_stem(in_key, prefix, exec);
        if (!stem)
                stem = key_stem(in_key);
        if (!stem)
                return -ENOMEM;
        r = key_tag(ctx, params, in_bucket, in_key, tag);
        if (r < 0)
                return r;
        if (asprintf(&key, "%s/%s/%s%s/%s.%s.%s", prefix, exec, state, path, stem, tag, ext) < 0)
                return -ENOMEM;
        *ret_bucket = TAKE_PTR(bucket);
        *ret_key = TAKE_PTR(key);
        return 0;
}
