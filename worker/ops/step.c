/* SPDX-License-Identifier: MIT */

/*
 * Running steps: one decode, the steps, one encode, one atomic write (see
 * step.h).
 */

#include <errno.h>

#include "macro.h"
#include "params.h"
#include "step.h"

static void save_options_from(json_t *p, const char *format, bool optimize, ImageSaveOptions *o) {
        *o = (ImageSaveOptions){
                .format = format,
                .quality = (int) params_int(p, "quality", optimize ? 80 : 0),
                .progressive = params_bool(p, "progressive", optimize && streq_ptr(format, "jpeg")),
                .optimize_coding = params_bool(p, "optimizeCoding", true),
                .palette = params_bool(p, "palette", false),
                .compression = (int) params_int(p, "compression", optimize ? 9 : -1),
                .lossless = params_bool(p, "lossless", false),
                .effort = (int) params_int(p, "effort", -1),
                .keep_metadata = params_bool(p, "keepMetadata", false),
        };
}

int step_run(Storage *s, json_t *params, const OpContext *ctx, const StepRun *steps, size_t n_steps,
             bool optimize, json_t **ret_result, TaskFailure *f) {
        _cleanup_image_ Image *img = NULL;
        _cleanup_free_ char *path = NULL, *out_bucket = NULL, *out_key = NULL;
        OpLimits defaults;
        const OpLimits *l = op_context_limits(ctx, &defaults);
        ImageHeader hdr;
        ImageSaveOptions so;
        InputRef in;
        const char *format;
        void *buf = NULL;
        size_t len = 0;
        uint64_t pixels;
        int r;

        r = params_input(params, &in, f);
        if (r < 0)
                return r;

        bool sequential = n_steps > 0;
        for (size_t i = 0; i < n_steps; i++)
                sequential = sequential && steps[i].def->sequential;
        r = image_vips_open(s, in.bucket, in.key, in.key_len, l,
                            IMAGE_OPEN_AUTOROTATE | IMAGE_OPEN_TO_SRGB |
                                    (sequential ? IMAGE_OPEN_SEQUENTIAL : 0),
                            &img, &hdr, &path, f);
        if (r < 0)
                return r;

        format = params_str(params, "format", hdr.format);
        if (!params_has(params, "format") && !image_vips_can_save(format))
                format = "jpeg";
        if (!image_vips_can_save(format))
                return task_failure_set(f, -EMEDIUMTYPE, "Image.Unsupported",
                                        "format %s cannot be written by this worker", format);

        for (size_t i = 0; i < n_steps; i++) {
                StepCtx sc = {
                        .storage = s,
                        .ctx = ctx,
                        .limits = l,
                        /* Shrink-on-load when the first step resizes a
                         * format whose loader can shrink. The loader is
                         * allow-listed process-wide. */
                        .src_path =
                                i == 0 && (streq_ptr(hdr.format, "jpeg") || streq_ptr(hdr.format, "webp") ||
                                           streq_ptr(hdr.format, "heif"))
                                        ? path
                                        : NULL,
                };
                Image *out = NULL;

                if (op_context_cancelled(ctx))
                        return task_failure_set(f, -ECANCELED, "Task.Cancelled", "cancelled");
                r = steps[i].def->fn(&sc, img, steps[i].params, &out, f);
                if (r < 0)
                        return r;
                image_vips_replace(&img, out);
        }

        pixels = (uint64_t) image_vips_width(img) * (uint64_t) image_vips_height(img);
        if (pixels > l->max_pixels)
                return task_failure_set(f, -EFBIG, "Image.TooLarge",
                                        "output %dx%d over the pixel limit %llu", image_vips_width(img),
                                        image_vips_height(img), (unsigned long long) l->max_pixels);

        save_options_from(params, format, optimize, &so);
        r = image_vips_save_buffer(img, &so, &buf, &len, f);
        if (r < 0)
                return r;

        r = image_ops_output_location(params, ctx, in.bucket, in.key, image_vips_format_extension(format),
                                      &out_bucket, &out_key);
        if (r >= 0)
                r = storage_write_atomic(s, out_bucket, out_key, buf, len, NULL, f);
        image_vips_buffer_free(buf);
        if (r < 0)
                return r;

        *ret_result = json_pack("{s:s, s:s, s:i, s:i, s:s, s:I}", "bucket", out_bucket, "key", out_key,
                                "width", image_vips_width(img), "height", image_vips_height(img), "format",
                                format, "size", (json_int_t) len);
        return *ret_result ? 0 : -ENOMEM;
}

int step_run_one(const StepDef *def, Storage *s, json_t *params, const OpContext *ctx, json_t **ret_result,
                 TaskFailure *f) {
        StepRun run = {def, params};

        if (def->check) {
                int r = def->check(params, "", f);
                if (r < 0)
                        return r;
        }
        return step_run(s, params, ctx, &run, 1, false, ret_result, f);
}
