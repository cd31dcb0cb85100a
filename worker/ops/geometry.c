/* SPDX-License-Identifier: MIT */

/*
 * The geometry steps (see geometry.h): what each fit, position and angle
 * means, in terms of the libvips boundary's primitives (image-vips.h).
 *
 * Resize fits, as sharp names them: cover (fill w x h, crop the rest, the
 * crop chosen by "position"), contain (fit inside, letterbox to exactly
 * w x h), fill (stretch), inside (fit inside), outside (cover w x h without
 * cropping). With one dimension the aspect ratio is kept whatever the fit.
 */

#include <errno.h>
#include <math.h>

#include "geometry.h"
#include "macro.h"
#include "params.h"

static const char *const fits[] = {"cover", "contain", "fill", "inside", "outside", NULL};
static const char *const positions[] = {"centre", "center", "attention", "entropy", NULL};
static const char *const strategies[] = {"attention", "entropy", "centre", "center", NULL};
static const char *const directions[] = {"horizontal", "vertical", "both", NULL};

/* clang-format off */
#define PARAMS_RESIZE                                                       \
        { "width", PARAM_INTEGER, RANGE(1, OP_LIMITS_DEFAULT_MAX_DIMENSION) },  \
        { "height", PARAM_INTEGER, RANGE(1, OP_LIMITS_DEFAULT_MAX_DIMENSION) }, \
        { "fit", PARAM_STRING, .enums = fits },                             \
        { "position", PARAM_STRING, .enums = positions },                   \
        { "withoutEnlargement", PARAM_BOOLEAN },                            \
        { "background", PARAM_COLOR }

#define PARAMS_CROP                                                         \
        { "left", PARAM_INTEGER, RANGE(0, IMAGE_VIPS_MAX_COORD) },          \
        { "top", PARAM_INTEGER, RANGE(0, IMAGE_VIPS_MAX_COORD) },           \
        { "width", PARAM_INTEGER, true, RANGE(1, IMAGE_VIPS_MAX_COORD) },   \
        { "height", PARAM_INTEGER, true, RANGE(1, IMAGE_VIPS_MAX_COORD) },  \
        { "strategy", PARAM_STRING, .enums = strategies }

#define PARAMS_ROTATE                                                       \
        { "angle", PARAM_NUMBER, true, RANGE(-3600, 3600) },                \
        { "background", PARAM_COLOR }

#define PARAMS_FLIP                                                         \
        { "direction", PARAM_STRING, true, .enums = directions }
/* clang-format on */

static ImageInteresting interesting_of(const char *s) {
        return streq_ptr(s, "attention") ? IMAGE_INTERESTING_ATTENTION
               : streq_ptr(s, "entropy") ? IMAGE_INTERESTING_ENTROPY
                                         : IMAGE_INTERESTING_CENTRE;
}

static int thumbnail(StepCtx *sc, Image *in, int w, int h, ImageSize size, ImageInteresting crop,
                     Image **ret_out, TaskFailure *f) {
        return image_vips_thumbnail(in, sc->src_path, w, h, size, crop, ret_out, f);
}

static int step_resize(StepCtx *sc, Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        const char *fit = params_str(p, "fit", "cover");
        bool has_w = params_has(p, "width"), has_h = params_has(p, "height");
        int w = (int) params_int(p, "width", 0), h = (int) params_int(p, "height", 0);
        bool no_enlarge = params_bool(p, "withoutEnlargement", true);
        ImageSize size = no_enlarge ? IMAGE_SIZE_DOWN : IMAGE_SIZE_BOTH;
        uint32_t max = sc->limits->max_dimension;

        if (!has_w && !has_h)
                return task_failure_set(f, -EINVAL, "Params.Invalid", "width: width or height is required");
        if ((has_w && (uint32_t) w > max) || (has_h && (uint32_t) h > max))
                return task_failure_set(f, -EINVAL, "Params.Invalid", "%s: larger than the limit %u",
                                        has_w && (uint32_t) w > max ? "width" : "height", max);

        if (!has_w || !has_h)
                /* One dimension: keep the aspect ratio, whatever the fit. */
                return thumbnail(sc, in, has_w ? w : IMAGE_VIPS_MAX_COORD, has_h ? h : IMAGE_VIPS_MAX_COORD,
                                 size, IMAGE_INTERESTING_NONE, ret_out, f);

        if (streq_ptr(fit, "cover"))
                return thumbnail(sc, in, w, h, size, interesting_of(params_str(p, "position", "centre")),
                                 ret_out, f);
        if (streq_ptr(fit, "fill"))
                return thumbnail(sc, in, w, h, IMAGE_SIZE_FORCE, IMAGE_INTERESTING_NONE, ret_out, f);
        if (streq_ptr(fit, "inside"))
                return thumbnail(sc, in, w, h, size, IMAGE_INTERESTING_NONE, ret_out, f);
        if (streq_ptr(fit, "outside")) {
                double iw = image_vips_width(in), ih = image_vips_height(in);
                double scale = fmax(w / iw, h / ih);
                int tw, th;
                if (no_enlarge && scale > 1.0)
                        scale = 1.0;
                tw = (int) fmax(1, lround(iw * scale));
                th = (int) fmax(1, lround(ih * scale));
                if (no_enlarge || scale <= 1.0) {
                        tw = (int) fmin(tw, iw);
                        th = (int) fmin(th, ih);
                }
                return thumbnail(sc, in, tw, th, IMAGE_SIZE_FORCE, IMAGE_INTERESTING_NONE, ret_out, f);
        }

        /* contain: fit inside, then letterbox to exactly w x h; transparent
         * by default when the image has alpha. */
        static const double black[4] = {0, 0, 0, 255};
        _cleanup_image_ Image *img = NULL;
        double bg[4];
        int r;

        r = thumbnail(sc, in, w, h, size, IMAGE_INTERESTING_NONE, &img, f);
        if (r < 0)
                return r;
        params_color(p, "background", black, bg);
        if (image_vips_has_alpha(img) && !params_has(p, "background"))
                bg[3] = 0;
        return image_vips_embed_centre(img, w, h, bg, ret_out, f);
}

static int check_resize(json_t *p, const char *prefix, TaskFailure *f) {
        if (!params_has(p, "width") && !params_has(p, "height"))
                return params_fail(f, prefix, "width", "width or height is required");
        return 0;
}

static int step_crop(StepCtx *sc, Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        int iw = image_vips_width(in), ih = image_vips_height(in);
        int w = (int) params_int(p, "width", 1), h = (int) params_int(p, "height", 1);
        const char *strategy = params_str(p, "strategy", NULL);
        json_int_t l, t;

        if (strategy)
                return image_vips_smartcrop(in, MIN_(w, iw), MIN_(h, ih), interesting_of(strategy), ret_out,
                                            f);
        l = params_int(p, "left", 0);
        t = params_int(p, "top", 0);
        if (l + w > iw || t + h > ih)
                return task_failure_set(f, -EINVAL, "Params.Invalid",
                                        "width: crop area %lldx%lld+%lld+%lld is outside the %dx%d image",
                                        (long long) w, (long long) h, (long long) l, (long long) t, iw, ih);
        return image_vips_extract_area(in, (int) l, (int) t, w, h, ret_out, f);
}

static int step_rotate(StepCtx *sc, Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        static const double black[4] = {0, 0, 0, 255};
        _cleanup_image_ Image *out = NULL;
        double angle = fmod(params_num(p, "angle", 0), 360.0);
        double bg[4];
        int r;

        if (angle < 0)
                angle += 360.0;
        params_color(p, "background", black, bg);
        r = image_vips_rotate(in, angle, bg, &out, f);
        if (r < 0)
                return r;
        if (angle != 0 && angle != 90 && angle != 180 && angle != 270 &&
            ((uint64_t) image_vips_width(out) > sc->limits->max_dimension * 2ull ||
             (uint64_t) image_vips_height(out) > sc->limits->max_dimension * 2ull))
                return task_failure_set(f, -EFBIG, "Image.TooLarge", "rotated image too large");
        *ret_out = TAKE_PTR(out);
        return 0;
}

static int step_flip(StepCtx *sc, Image *in, json_t *p, Image **ret_out, TaskFailure *f) {
        const char *d = params_str(p, "direction", "horizontal");

        return image_vips_flip(in,
                               streq_ptr(d, "both")       ? IMAGE_FLIP_BOTH
                               : streq_ptr(d, "vertical") ? IMAGE_FLIP_VERTICAL
                                                          : IMAGE_FLIP_HORIZONTAL,
                               ret_out, f);
}

/* ---- the steps and the operations --------------------------------------- */

static const ParamSpec step_params_resize[] = {PARAMS_RESIZE, {}};
static const ParamSpec step_params_crop[] = {PARAMS_CROP, {}};
static const ParamSpec step_params_rotate[] = {PARAMS_ROTATE, {}};
static const ParamSpec step_params_flip[] = {PARAMS_FLIP, {}};

const StepDef geometry_step_resize = {"resize", step_params_resize, step_resize, check_resize};
const StepDef geometry_step_thumbnail = {"thumbnail", step_params_resize, step_resize, check_resize};
const StepDef geometry_step_crop = {"crop", step_params_crop, step_crop, NULL};
const StepDef geometry_step_rotate = {"rotate", step_params_rotate, step_rotate, NULL};
const StepDef geometry_step_flip = {"flip", step_params_flip, step_flip, NULL};

const ParamSpec geometry_resize_params[] = {PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_RESIZE, {}};
const ParamSpec geometry_crop_params[] = {PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_CROP, {}};
const ParamSpec geometry_rotate_params[] = {PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_ROTATE, {}};
const ParamSpec geometry_flip_params[] = {PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_FLIP, {}};

int geometry_resize(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run_one(&geometry_step_resize, s, params, ctx, ret, f);
}

int geometry_thumbnail(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        _cleanup_json_ json_t *p = json_copy(params);

        if (!p)
                return -ENOMEM;
        if (!params_has(p, "width") && !params_has(p, "height")) {
                json_object_set_new(p, "width", json_integer(200));
                json_object_set_new(p, "height", json_integer(200));
        }
        return step_run_one(&geometry_step_thumbnail, s, p, ctx, ret, f);
}

int geometry_crop(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run_one(&geometry_step_crop, s, params, ctx, ret, f);
}

int geometry_rotate(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run_one(&geometry_step_rotate, s, params, ctx, ret, f);
}

int geometry_flip(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return step_run_one(&geometry_step_flip, s, params, ctx, ret, f);
}
