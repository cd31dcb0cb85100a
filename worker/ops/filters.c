/* SPDX-License-Identifier: MIT */

/*
 * The filter and watermark steps (see filters.h). What each filter means is
 * here (its parameters, the sepia matrix, the sharpen kernel); the pixel work
 * is the libvips boundary's (image-vips.h).
 */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "filters.h"
#include "macro.h"
#include "params.h"

static const char *const gravities[] = {"north", "northeast", "east",   "southeast", "south", "southwest",
                                        "west",  "northwest", "centre", "center",    NULL};

/* clang-format off */
#define PARAMS_FILTER                                                       \
        { "filters", PARAM_ARRAY, true, RANGE(1, 32) }

#define PARAMS_WATERMARK                                                    \
        { "image", PARAM_LOCATION },                                        \
        { "text", PARAM_STRING, RANGE(1, 1000) },                           \
        { "font", PARAM_STRING, RANGE(1, 200) },                            \
        { "fontSize", PARAM_INTEGER, RANGE(4, 2000) },                      \
        { "color", PARAM_COLOR },                                           \
        { "gravity", PARAM_STRING, .enums = gravities },                    \
        { "opacity", PARAM_NUMBER, RANGE(0, 1) },                           \
        { "margin", PARAM_INTEGER, RANGE(0, 10000) },                       \
        { "scale", PARAM_NUMBER, RANGE(0.01, 1) }
/* clang-format on */

/* ---- filters ------------------------------------------------------------ */

/* p: the filter's object, or NULL when it was given by name only. */
typedef int (*FilterFunction)(Image *in, json_t *p, Image **ret_out, TaskFailure *f);

typedef struct FilterDef {
        const char *name;
        const ParamSpec *params; /* besides "type" */
        FilterFunction fn;
} FilterDef;

static int filter_grayscale(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        return image_vips_grayscale(in, ret_out, f);
}

static int filter_blur(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        return image_vips_blur(in, params_num(p, "sigma", 2.0), ret_out, f);
}

static int filter_sharpen(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        /* The classic 3x3 sharpen kernel, on colour bands only. */
        /* clang-format off */
        static const double kernel[9] = {
                 0.0, -1.0,  0.0,
                -1.0,  5.0, -1.0,
                 0.0, -1.0,  0.0,
        };
        /* clang-format on */

        if (params_bool(p, "kernel", false))
                return image_vips_sharpen_kernel(in, kernel, ret_out, f);
        return image_vips_sharpen(in, params_num(p, "sigma", 1.0), ret_out, f);
}

static int filter_sepia(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        /* clang-format off */
        static const double m[9] = {
                0.393, 0.769, 0.189,
                0.349, 0.686, 0.168,
                0.272, 0.534, 0.131,
        };
        /* clang-format on */
        return image_vips_sepia(in, m, ret_out, f);
}

static int filter_brightness(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        return image_vips_linear_colour(in, params_num(p, "value", 1.0), 0.0, ret_out, f);
}

static int filter_contrast(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        double c = params_num(p, "value", 1.0);
        return image_vips_linear_colour(in, c, 128.0 * (1.0 - c), ret_out, f);
}

static int filter_saturation(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        return image_vips_saturation(in, params_num(p, "value", 1.0), ret_out, f);
}

static int filter_tint(Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        static const double white[4] = {255, 255, 255, 255};
        double c[4];

        params_color(p, "color", white, c);
        return image_vips_tint(in, c, ret_out, f);
}

static const ParamSpec filter_params_blur[] = {{"sigma", PARAM_NUMBER, RANGE(0.3, 100)}, {}};
static const ParamSpec filter_params_sharpen[] = {
        {"sigma", PARAM_NUMBER, RANGE(0.3, 10)},
        {"kernel", PARAM_BOOLEAN},
        {},
};
static const ParamSpec filter_params_value[] = {{"value", PARAM_NUMBER, true, RANGE(0, 10)}, {}};
static const ParamSpec filter_params_tint[] = {{"color", PARAM_COLOR, true}, {}};
static const ParamSpec filter_params_none[] = {{}};

static const FilterDef filter_table[] = {
        {"grayscale", filter_params_none, filter_grayscale},
        {"greyscale", filter_params_none, filter_grayscale},
        {"blur", filter_params_blur, filter_blur},
        {"sharpen", filter_params_sharpen, filter_sharpen},
        {"sepia", filter_params_none, filter_sepia},
        {"brightness", filter_params_value, filter_brightness},
        {"contrast", filter_params_value, filter_contrast},
        {"saturation", filter_params_value, filter_saturation},
        {"tint", filter_params_tint, filter_tint},
};

static const FilterDef *filter_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(filter_table); i++)
                if (streq_ptr(filter_table[i].name, name))
                        return &filter_table[i];
        return NULL;
}

/* A filter item is "name" or {"type": "name", ...params}. */
static int filter_item_check(json_t *item, const char *prefix, size_t idx, const FilterDef **ret_def,
                             TaskFailure *f) {
        char where[128];
        const char *name = json_is_string(item) ? json_string_value(item) : params_str(item, "type", NULL);
        const FilterDef *def;

        snprintf(where, sizeof(where), "%sfilters[%zu]", prefix, idx);
        if (!name)
                return task_failure_set(f, -EINVAL, "Params.Invalid",
                                        "%s: must be a filter name or an object with \"type\"", where);
        def = filter_find(name);
        if (!def)
                return task_failure_set(f, -EINVAL, "Params.Invalid", "%s: unknown filter \"%.64s\"", where,
                                        name);
        if (json_is_object(item)) {
                strncat(where, ".", sizeof(where) - strlen(where) - 1);
                int r = params_validate(def->params, item, where, f);
                if (r < 0)
                        return r;
        }
        *ret_def = def;
        return 0;
}

static int check_filter(json_t *p, const char *prefix, TaskFailure *f) {
        json_t *filters = json_object_get(p, "filters"), *item;
        size_t i;

        json_array_foreach (filters, i, item) {
                const FilterDef *def;
                int r = filter_item_check(item, prefix, i, &def, f);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int step_filter(StepCtx *sc, Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        _cleanup_image_ Image *img = image_vips_ref(in);
        json_t *filters = json_object_get(p, "filters"), *item;
        size_t i;

        json_array_foreach (filters, i, item) {
                const FilterDef *def;
                Image *out = NULL;
                int r;

                r = filter_item_check(item, "", i, &def, f);
                if (r < 0)
                        return r;
                r = def->fn(img, json_is_object(item) ? item : NULL, &out, f);
                if (r < 0)
                        return r;
                image_vips_replace(&img, out);
        }
        *ret_out = TAKE_PTR(img);
        return 0;
}

/* ---- watermark ---------------------------------------------------------- */

static int watermark_overlay_text(json_t *p, int base_w, Image **ret_out, TaskFailure *f) {
        static const double white[4] = {255, 255, 255, 255};
        _cleanup_free_ char *font = NULL;
        int size = (int) params_int(p, "fontSize", MAX_(12, base_w / 25));
        double c[4];

        params_color(p, "color", white, c);
        if (asprintf(&font, "%s %d", params_str(p, "font", "sans bold"), size) < 0)
                return -ENOMEM;
        return image_vips_watermark_text(params_str(p, "text", ""), font, c, params_num(p, "opacity", 0.5),
                                         ret_out, f);
}

static int watermark_overlay_image(StepCtx *sc, json_t *p, Image **ret_out, TaskFailure *f) {
        _cleanup_image_ Image *img = NULL;
        json_t *loc = json_object_get(p, "image");
        json_t *k = json_object_get(loc, "key");
        int r;

        r = image_vips_open(sc->storage, params_str(loc, "bucket", ""), json_string_value(k),
                            json_string_length(k), sc->limits, IMAGE_OPEN_AUTOROTATE | IMAGE_OPEN_TO_SRGB,
                            &img, NULL, NULL, f);
        if (r < 0)
                return r;
        return image_vips_watermark_image(img, params_num(p, "opacity", 0.5), ret_out, f);
}

static int step_watermark(StepCtx *sc, Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        _cleanup_image_ Image *base = NULL, *overlay = NULL;
        const char *g = params_str(p, "gravity", "southeast");
        int margin = (int) params_int(p, "margin", 10);
        int bw, bh, ow, oh, x, y, r;
        double avail_w, avail_h, scale = 1.0;

        if (params_has(p, "image") == params_has(p, "text"))
                return task_failure_set(f, -EINVAL, "Params.Invalid",
                                        "image: exactly one of image or text is required");

        r = image_vips_to_srgb(in, &base, f);
        if (r < 0)
                return r;
        bw = image_vips_width(base);
        bh = image_vips_height(base);

        r = params_has(p, "text") ? watermark_overlay_text(p, bw, &overlay, f)
                                  : watermark_overlay_image(sc, p, &overlay, f);
        if (r < 0)
                return r;

        ow = image_vips_width(overlay);
        oh = image_vips_height(overlay);
        avail_w = MAX_(1, bw - 2 * margin);
        avail_h = MAX_(1, bh - 2 * margin);
        if (params_has(p, "scale"))
                scale = params_num(p, "scale", 1.0) * bw / ow;
        if (ow * scale > avail_w)
                scale = avail_w / ow;
        if (oh * scale > avail_h)
                scale = avail_h / oh;
        if (fabs(scale - 1.0) > 1e-6) {
                Image *out;
                r = image_vips_watermark_scale(overlay, scale, &out, f);
                if (r < 0)
                        return r;
                image_vips_replace(&overlay, out);
                ow = image_vips_width(overlay);
                oh = image_vips_height(overlay);
        }

        x = (bw - ow) / 2;
        y = (bh - oh) / 2;
        if (strstr(g, "west"))
                x = margin;
        if (strstr(g, "east"))
                x = bw - ow - margin;
        if (strstr(g, "north"))
                y = margin;
        if (strstr(g, "south"))
                y = bh - oh - margin;
        x = MAX_(0, MIN_(x, bw - ow));
        y = MAX_(0, MIN_(y, bh - oh));

        return image_vips_watermark_compose(base, overlay, x, y, image_vips_has_alpha(base), ret_out, f);
}

static int check_watermark(json_t *p, const char *prefix, TaskFailure *f) {
        if (params_has(p, "image") == params_has(p, "text"))
                return params_fail(f, prefix, "image", "exactly one of image or text is required");
        return 0;
}

/* ---- the steps and the operations --------------------------------------- */

static const ParamSpec step_params_filter[] = {PARAMS_FILTER, {}};
static const ParamSpec step_params_watermark[] = {PARAMS_WATERMARK, {}};

const StepDef filters_step_filter = {"filter", step_params_filter, step_filter, check_filter,
                                     .sequential = true};
const StepDef filters_step_watermark = {"watermark", step_params_watermark, step_watermark, check_watermark};

const ParamSpec filters_filter_params[] = {PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_FILTER, {}};
const ParamSpec filters_watermark_params[] = {PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_WATERMARK, {}};

int filters_filter(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run_one(&filters_step_filter, s, params, ctx, ret, f);
}

int filters_watermark(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run_one(&filters_step_watermark, s, params, ctx, ret, f);
}
