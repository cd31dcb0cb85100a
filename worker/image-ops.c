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
 * Output keys: a retried task overwrites its own output, so the key of an
 * image-writing task that names no "output" is derived from the task:
 *
 *     <outputPrefix|"processed">/<execution name>/<state>/<input key minus ext>.<ext>
 */

#include "image-ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters.h"
#include "geometry.h"
#include "image-vips.h"
#include "inspect.h"
#include "macro.h"
#include "params.h"
#include "pipeline.h"
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
        r = op->fn(s, params, ctx, &result, f);
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

/* Copy s into a single key component: [A-Za-z0-9._-], others become '_'. */
static void key_component(const char *s, const char *fallback, char *out, size_t outsz) {
        size_t n = 0;

        if (!s || !*s)
                s = fallback;
        for (; *s && n + 1 < outsz && n < 100; s++) {
                char c = *s;
                out[n++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '.' || c == '_' || c == '-')
                                   ? c
                                   : '_';
        }
        out[n] = '\0';
        if (n == 0 || strspn(out, ".") == n)
                snprintf(out, outsz, "_");
}

int image_ops_output_location(json_t *params, const OpContext *ctx, const char *in_bucket,
                              const char *in_key, const char *ext, char **ret_bucket, char **ret_key) {
        json_t *loc = json_object_get(params, "output");
        _cleanup_free_ char *prefix = NULL, *stem = NULL;
        const char *base, *dot;
        char exec[128], state[128];

        if (json_is_object(loc)) {
                *ret_bucket = strdup(json_string_value(json_object_get(loc, "bucket")));
                *ret_key = strdup(json_string_value(json_object_get(loc, "key")));
        } else {
                *ret_bucket = strdup(params_str(params, "outputBucket", in_bucket));
                prefix = strdup(params_str(params, "outputPrefix", "processed"));
                if (!prefix)
                        return -ENOMEM;
                for (size_t n = strlen(prefix); n > 0 && prefix[n - 1] == '/'; n--)
                        prefix[n - 1] = '\0';
                key_component(ctx ? (ctx->execution_name ? ctx->execution_name : ctx->execution_id) : NULL,
                              "local", exec, sizeof(exec));
                key_component(ctx ? ctx->state_name : NULL, "task", state, sizeof(state));
                base = strrchr(in_key, '/');
                base = base ? base + 1 : in_key;
                dot = strrchr(base, '.');
                stem = strndup(in_key, dot && dot != base ? (size_t) (dot - in_key) : strlen(in_key));
                if (!stem)
                        return -ENOMEM;
                if (asprintf(ret_key, "%s/%s/%s/%s.%s", prefix, exec, state, stem, ext) < 0)
                        *ret_key = NULL;
        }
        if (!*ret_bucket || !*ret_key) {
                free(*ret_bucket);
                free(*ret_key);
                *ret_bucket = *ret_key = NULL;
                return -ENOMEM;
        }
        return 0;
}
