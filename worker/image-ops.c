/* SPDX-License-Identifier: MIT */

/*
 * The operation table and the image operations.
 *
 * Every image operation has the same shape: open the input through
 * image_vips_open() (allow-listed loader, limits checked from the header),
 * apply a list of steps to the one decoded image, encode once, and write the
 * result with storage_write_atomic() to a key derived from the execution, the
 * state and the input key, so that a retried task overwrites its own output:
 *
 *     <outputPrefix|"processed">/<execution name>/<state>/<input key minus ext>.<ext>
 *
 * unless the task names "output": {"bucket", "key"} itself. image.resize,
 * image.crop, ... are pipelines of one step whose parameters are the task's
 * parameters; image.pipeline validates each step against that step's schema.
 * Steps and filters are tables too (StepDef, FilterDef).
 *
 * Parameters are checked from the declarative schema (ParamSpec) before an
 * operation runs; failures name the field ("steps[1].width: ...").
 *
 * Layering: this file knows nothing of Kafka or the daemon; the daemon adds
 * its own operations (e.g. "notify") through image_ops_run()'s extra table.
 */

#include "image-ops.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image-vips.h"
#include "macro.h"

/* ---- limits and init ---------------------------------------------------- */

/* Loader subtrees left usable after blocking every loader. */
static const char *const allowed_loader_classes[] = {
        "VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadWebp",
        "VipsForeignLoadNsgif", "VipsForeignLoadTiff", "VipsForeignLoadHeif",
};

/* Process-wide, written once under pthread_once. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_concurrency = 1;
static int init_result = 0;

/* libvips reports decoder warnings ("error in tile", "not enough data") with
 * g_warning(). Hostile images can produce them by the thousand, and each
 * failure already reaches the task's result as a cause, so they are dropped
 * (set IMGFLOW_VIPS_WARNINGS=1 to see them while debugging). */
static void vips_log_drop(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer userdata) {
}

static void image_ops_init_once(void) {
        const char *e = getenv("IMGFLOW_VIPS_WARNINGS");

        if (!e || !streq_ptr(e, "1"))
                g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
                                  vips_log_drop, NULL);
        if (VIPS_INIT("imgflow-worker") != 0) {
                vips_error_clear();
                init_result = -EIO;
                return;
        }
        /* Untrusted loaders (SVG, PDF, matrix, FITS, ...) off; then every
         * loader off except the allow-listed ones. */
        vips_block_untrusted_set(TRUE);
        vips_operation_block_set("VipsForeignLoad", TRUE);
        for (size_t i = 0; i < ELEMENTSOF(allowed_loader_classes); i++)
                vips_operation_block_set(allowed_loader_classes[i], FALSE);
        vips_cache_set_max(0);
        vips_cache_set_max_mem(0);
        vips_cache_set_max_files(0);
        vips_concurrency_set(init_concurrency);
}

int image_ops_init(int concurrency) {
        /* Only the first call's value is used (pthread_once). */
        if (concurrency > 0 && concurrency <= 64)
                init_concurrency = concurrency;
        pthread_once(&init_once, image_ops_init_once);
        return init_result;
}

bool image_ops_have_heif_save(void) {
        return vips_type_find("VipsOperation", "heifsave") != 0;
}

/* ---- parameter schema --------------------------------------------------- */

static int param_fail(TaskFailure *f, const char *prefix, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int param_fail(TaskFailure *f, const char *prefix, const char *name, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        return task_failure_set(f, -EINVAL, "Params.Invalid", "%s%s: %s", prefix ? prefix : "", name, msg);
}

static bool json_is_integral(json_t *v) {
        if (json_is_integer(v))
                return true;
        if (json_is_real(v)) {
                double d = json_real_value(v);
                return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
        }
        return false;
}

static int check_value(const ParamSpec *p, json_t *v, const char *prefix, TaskFailure *f) {
        switch (p->type) {
        case PARAM_STRING: {
                size_t n;
                if (!json_is_string(v))
                        return param_fail(f, prefix, p->name, "must be a string");
                n = json_string_length(v);
                if (memchr(json_string_value(v), '\0', n))
                        return param_fail(f, prefix, p->name, "must not contain NUL");
                if (p->has_range && (n < p->min || n > p->max))
                        return param_fail(f, prefix, p->name, "length must be between %g and %g", p->min, p->max);
                if (p->enums) {
                        for (const char *const *e = p->enums; *e; e++)
                                if (streq_ptr(*e, json_string_value(v)))
                                        return 0;
                        _cleanup_free_ char *list = NULL;
                        size_t len = 0;
                        for (const char *const *e = p->enums; *e; e++)
                                len += strlen(*e) + 2;
                        list = calloc(1, len + 1);
                        if (!list)
                                return -ENOMEM;
                        for (const char *const *e = p->enums; *e; e++) {
                                if (e != p->enums)
                                        strcat(list, ", ");
                                strcat(list, *e);
                        }
                        return param_fail(f, prefix, p->name, "must be one of %s", list);
                }
                return 0;
        }
        case PARAM_INTEGER:
                if (!json_is_integral(v))
                        return param_fail(f, prefix, p->name, "must be an integer");
                if (p->has_range && (json_number_value(v) < p->min || json_number_value(v) > p->max))
                        return param_fail(f, prefix, p->name, "must be between %g and %g", p->min, p->max);
                return 0;
        case PARAM_NUMBER:
                if (!json_is_number(v) || !isfinite(json_number_value(v)))
                        return param_fail(f, prefix, p->name, "must be a number");
                if (p->has_range && (json_number_value(v) < p->min || json_number_value(v) > p->max))
                        return param_fail(f, prefix, p->name, "must be between %g and %g", p->min, p->max);
                return 0;
        case PARAM_BOOLEAN:
                if (!json_is_boolean(v))
                        return param_fail(f, prefix, p->name, "must be true or false");
                return 0;
        case PARAM_OBJECT:
                if (!json_is_object(v))
                        return param_fail(f, prefix, p->name, "must be an object");
                return 0;
        case PARAM_ARRAY:
                if (!json_is_array(v))
                        return param_fail(f, prefix, p->name, "must be an array");
                if (p->has_range && (json_array_size(v) < p->min || json_array_size(v) > p->max))
                        return param_fail(f, prefix, p->name, "must have between %g and %g items", p->min, p->max);
                return 0;
        case PARAM_LOCATION: {
                json_t *b = json_object_get(v, "bucket"), *k = json_object_get(v, "key");
                if (!json_is_object(v) || !json_is_string(b) || !json_is_string(k))
                        return param_fail(f, prefix, p->name, "must be {\"bucket\": string, \"key\": string}");
                return 0;
        }
        case PARAM_COLOR: {
                size_t i;
                json_t *c;
                if (!json_is_array(v) || json_array_size(v) < 3 || json_array_size(v) > 4)
                        return param_fail(f, prefix, p->name, "must be [r, g, b] or [r, g, b, alpha]");
                json_array_foreach (v, i, c)
                        if (!json_is_number(c) || json_number_value(c) < 0 || json_number_value(c) > 255)
                                return param_fail(f, prefix, p->name, "colour values must be numbers 0..255");
                return 0;
        }
        case PARAM_ANY:
                return 0;
        }
        return param_fail(f, prefix, p->name, "bad schema");
}

static int validate_object(const ParamSpec *specs, json_t *obj, const char *prefix, TaskFailure *f) {
        if (!specs)
                return 0;
        if (!json_is_object(obj))
                return task_failure_set(f, -EINVAL, "Params.Invalid", "%s: parameters must be an object",
                                        prefix && *prefix ? prefix : "(input)");
        for (const ParamSpec *p = specs; p->name; p++) {
                json_t *v = json_object_get(obj, p->name);
                int r;

                if (!v || json_is_null(v)) {
                        if (p->required)
                                return param_fail(f, prefix, p->name, "is required");
                        continue;
                }
                r = check_value(p, v, prefix, f);
                if (r < 0)
                        return r;
        }
        return 0;
}

int image_ops_validate_params(const Operation *op, json_t *params, TaskFailure *f) {
        if (!op)
                return -EINVAL;
        return validate_object(op->params, params, "", f);
}

/* Typed getters; the schema has already checked types. */
static json_int_t p_int(json_t *o, const char *k, json_int_t def) {
        json_t *v = json_object_get(o, k);
        return json_is_number(v) ? (json_int_t) json_number_value(v) : def;
}
static double p_num(json_t *o, const char *k, double def) {
        json_t *v = json_object_get(o, k);
        return json_is_number(v) ? json_number_value(v) : def;
}
static bool p_bool(json_t *o, const char *k, bool def) {
        json_t *v = json_object_get(o, k);
        return json_is_boolean(v) ? json_is_true(v) : def;
}
static const char *p_str(json_t *o, const char *k, const char *def) {
        json_t *v = json_object_get(o, k);
        return json_is_string(v) ? json_string_value(v) : def;
}
static bool p_has(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        return v && !json_is_null(v);
}

/* Colour param -> n doubles (pads with def, alpha defaults to 255). */
static void p_color(json_t *o, const char *k, const double def[4], double out[4]) {
        json_t *v = json_object_get(o, k);
        for (size_t i = 0; i < 4; i++)
                out[i] = def[i];
        if (json_is_array(v)) {
                out[3] = 255;
                for (size_t i = 0; i < json_array_size(v) && i < 4; i++)
                        out[i] = json_number_value(json_array_get(v, i));
        }
}

/* ---- common parameter blocks -------------------------------------------- */

static const char *const formats_out[] = { "jpeg", "png", "webp", "gif", "tiff", "heif", "avif", NULL };
static const char *const fits[] = { "cover", "contain", "fill", "inside", "outside", NULL };
static const char *const positions[] = { "centre", "center", "attention", "entropy", NULL };
static const char *const strategies[] = { "attention", "entropy", "centre", "center", NULL };
static const char *const directions[] = { "horizontal", "vertical", "both", NULL };
static const char *const gravities[] = { "north", "northeast", "east", "southeast", "south", "southwest",
                                         "west", "northwest", "centre", "center", NULL };

#define RANGE(lo, hi) .has_range = true, .min = (lo), .max = (hi)

#define PARAMS_INPUT                                                        \
        { "bucket", PARAM_STRING, RANGE(1, STORAGE_BUCKET_NAME_MAX) },      \
        { "key", PARAM_STRING, RANGE(1, STORAGE_KEY_MAX) },                 \
        { "input", PARAM_LOCATION }

#define PARAMS_OUTPUT                                                       \
        { "output", PARAM_LOCATION },                                       \
        { "outputBucket", PARAM_STRING, RANGE(1, STORAGE_BUCKET_NAME_MAX) },\
        { "outputPrefix", PARAM_STRING, RANGE(1, 512) },                    \
        { "format", PARAM_STRING, .enums = formats_out },                   \
        { "quality", PARAM_INTEGER, RANGE(1, 100) },                        \
        { "progressive", PARAM_BOOLEAN },                                   \
        { "optimizeCoding", PARAM_BOOLEAN },                                \
        { "palette", PARAM_BOOLEAN },                                       \
        { "compression", PARAM_INTEGER, RANGE(0, 9) },                      \
        { "lossless", PARAM_BOOLEAN },                                      \
        { "effort", PARAM_INTEGER, RANGE(0, 10) },                          \
        { "keepMetadata", PARAM_BOOLEAN }

#define PARAMS_RESIZE                                                       \
        { "width", PARAM_INTEGER, RANGE(1, OP_LIMITS_DEFAULT_MAX_DIMENSION) },  \
        { "height", PARAM_INTEGER, RANGE(1, OP_LIMITS_DEFAULT_MAX_DIMENSION) }, \
        { "fit", PARAM_STRING, .enums = fits },                             \
        { "position", PARAM_STRING, .enums = positions },                   \
        { "withoutEnlargement", PARAM_BOOLEAN },                            \
        { "background", PARAM_COLOR }

#define PARAMS_CROP                                                         \
        { "left", PARAM_INTEGER, RANGE(0, VIPS_MAX_COORD) },                \
        { "top", PARAM_INTEGER, RANGE(0, VIPS_MAX_COORD) },                 \
        { "width", PARAM_INTEGER, true, RANGE(1, VIPS_MAX_COORD) },         \
        { "height", PARAM_INTEGER, true, RANGE(1, VIPS_MAX_COORD) },        \
        { "strategy", PARAM_STRING, .enums = strategies }

#define PARAMS_ROTATE                                                       \
        { "angle", PARAM_NUMBER, true, RANGE(-3600, 3600) },                \
        { "background", PARAM_COLOR }

#define PARAMS_FLIP                                                         \
        { "direction", PARAM_STRING, true, .enums = directions }

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

/* ---- steps -------------------------------------------------------------- */

typedef struct StepCtx {
        Storage *storage;
        const OpContext *ctx;
        const OpLimits *limits;
        const char *src_path; /* set for the first step only: shrink-on-load */
} StepCtx;

typedef int (*StepFunction)(StepCtx *sc, VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f);

typedef struct StepDef {
        const char *name;
        const ParamSpec *params;
        StepFunction fn;
} StepDef;

/* Make sure an image is sRGB (3 colour bands, alpha kept). */
static int ensure_srgb(VipsImage *in, VipsImage **ret_out, TaskFailure *f) {
        VipsInterpretation interp = vips_image_get_interpretation(in);
        if (interp == VIPS_INTERPRETATION_sRGB && vips_image_get_bands(in) >= 3) {
                g_object_ref(in);
                *ret_out = in;
                return 0;
        }
        if (vips_colourspace_issupported(in) && interp != VIPS_INTERPRETATION_MULTIBAND) {
                if (vips_colourspace(in, ret_out, VIPS_INTERPRETATION_sRGB, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot convert to sRGB");
                return 0;
        }
        if (vips_image_get_bands(in) < 3) {
                /* Unknown 1/2-band: treat as grey. */
                _cleanup_image_ VipsImage *g = NULL;
                if (vips_copy(in, &g, "interpretation", VIPS_INTERPRETATION_B_W, NULL) < 0 ||
                    vips_colourspace(g, ret_out, VIPS_INTERPRETATION_sRGB, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot convert to sRGB");
                return 0;
        }
        if (vips_copy(in, ret_out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot convert to sRGB");
        return 0;
}

/* A background array with one value per band of `img`. */
static VipsArrayDouble *background_for(VipsImage *img, const double c[4]) {
        int bands = vips_image_get_bands(img);
        double v[4];
        bool alpha = vips_image_hasalpha(img);
        int colour = bands - (alpha ? 1 : 0);

        if (bands > 4)
                bands = 4;
        for (int i = 0; i < colour && i < 3; i++)
                v[i] = colour >= 3 ? c[i] : (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]);
        if (alpha)
                v[bands - 1] = c[3];
        return vips_array_double_new(v, bands);
}

static int thumbnail_any(StepCtx *sc, VipsImage *in, int w, int h, VipsSize size, VipsInteresting crop,
                         VipsImage **ret_out, TaskFailure *f) {
        int r;

        if (sc->src_path)
                r = vips_thumbnail(sc->src_path, ret_out, w, "height", h, "size", size, "crop", crop,
                                   "fail_on", VIPS_FAIL_ON_ERROR, NULL);
        else
                r = vips_thumbnail_image(in, ret_out, w, "height", h, "size", size, "crop", crop, NULL);
        if (r < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot resize");
        return 0;
}

static int step_resize(StepCtx *sc, VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        _cleanup_image_ VipsImage *img = NULL;
        const char *fit = p_str(p, "fit", "cover"), *pos = p_str(p, "position", "centre");
        bool has_w = p_has(p, "width"), has_h = p_has(p, "height");
        int w = (int) p_int(p, "width", 0), h = (int) p_int(p, "height", 0);
        bool no_enlarge = p_bool(p, "withoutEnlargement", true);
        VipsSize size = no_enlarge ? VIPS_SIZE_DOWN : VIPS_SIZE_BOTH;
        VipsInteresting interesting = streq_ptr(pos, "attention") ? VIPS_INTERESTING_ATTENTION
                                      : streq_ptr(pos, "entropy") ? VIPS_INTERESTING_ENTROPY
                                                                  : VIPS_INTERESTING_CENTRE;
        int r;

        if (!has_w && !has_h)
                return task_failure_set(f, -EINVAL, "Params.Invalid", "width: width or height is required");
        if ((has_w && (uint32_t) w > sc->limits->max_dimension) || (has_h && (uint32_t) h > sc->limits->max_dimension))
                return task_failure_set(f, -EINVAL, "Params.Invalid", "%s: larger than the limit %u",
                                        has_w && (uint32_t) w > sc->limits->max_dimension ? "width" : "height",
                                        sc->limits->max_dimension);

        if (!has_w || !has_h) {
                /* One dimension: keep the aspect ratio, whatever the fit. */
                return thumbnail_any(sc, in, has_w ? w : VIPS_MAX_COORD, has_h ? h : VIPS_MAX_COORD, size,
                                     VIPS_INTERESTING_NONE, ret_out, f);
        }

        if (streq_ptr(fit, "cover"))
                return thumbnail_any(sc, in, w, h, size, interesting, ret_out, f);
        if (streq_ptr(fit, "fill"))
                return thumbnail_any(sc, in, w, h, VIPS_SIZE_FORCE, VIPS_INTERESTING_NONE, ret_out, f);
        if (streq_ptr(fit, "inside"))
                return thumbnail_any(sc, in, w, h, size, VIPS_INTERESTING_NONE, ret_out, f);
        if (streq_ptr(fit, "outside")) {
                double iw = vips_image_get_width(in), ih = vips_image_get_height(in);
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
                return thumbnail_any(sc, in, tw, th, VIPS_SIZE_FORCE, VIPS_INTERESTING_NONE, ret_out, f);
        }

        /* contain: fit inside, then letterbox to exactly w x h. */
        {
                static const double black[4] = { 0, 0, 0, 255 };
                double bg[4];
                VipsArrayDouble *bga;
                VipsImage *out;

                r = thumbnail_any(sc, in, w, h, size, VIPS_INTERESTING_NONE, &img, f);
                if (r < 0)
                        return r;
                p_color(p, "background", black, bg);
                if (vips_image_hasalpha(img) && !p_has(p, "background"))
                        bg[3] = 0;
                if (bg[3] < 255 && !vips_image_hasalpha(img)) {
                        if (vips_addalpha(img, &out, NULL) < 0)
                                return image_vips_fail(f, "Image.Invalid", "cannot add alpha");
                        image_vips_replace(&img, out);
                }
                bga = background_for(img, bg);
                r = vips_gravity(img, ret_out, VIPS_COMPASS_DIRECTION_CENTRE, w, h,
                                 "extend", VIPS_EXTEND_BACKGROUND, "background", bga, NULL);
                vips_area_unref(VIPS_AREA(bga));
                if (r < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot embed");
                return 0;
        }
}

static int step_crop(StepCtx *sc, VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        int iw = vips_image_get_width(in), ih = vips_image_get_height(in);
        int w = (int) p_int(p, "width", 1), h = (int) p_int(p, "height", 1);
        const char *strategy = p_str(p, "strategy", NULL);

        if (strategy) {
                VipsInteresting i = streq_ptr(strategy, "attention") ? VIPS_INTERESTING_ATTENTION
                                    : streq_ptr(strategy, "entropy") ? VIPS_INTERESTING_ENTROPY
                                                                     : VIPS_INTERESTING_CENTRE;
                if (vips_smartcrop(in, ret_out, MIN(w, iw), MIN(h, ih), "interesting", i, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot crop");
                return 0;
        } else {
                json_int_t l = p_int(p, "left", 0), t = p_int(p, "top", 0);
                if (l + w > iw || t + h > ih)
                        return task_failure_set(f, -EINVAL, "Params.Invalid",
                                                "width: crop area %lldx%lld+%lld+%lld is outside the %dx%d image",
                                                (long long) w, (long long) h, (long long) l, (long long) t, iw, ih);
                if (vips_extract_area(in, ret_out, (int) l, (int) t, w, h, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot crop");
                return 0;
        }
}

static int step_rotate(StepCtx *sc, VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        static const double black[4] = { 0, 0, 0, 255 };
        double angle = fmod(p_num(p, "angle", 0), 360.0);
        _cleanup_image_ VipsImage *img = NULL;
        VipsArrayDouble *bga;
        double bg[4];
        int r;

        if (angle < 0)
                angle += 360.0;
        if (angle == 0 || angle == 90 || angle == 180 || angle == 270) {
                VipsAngle a = angle == 90 ? VIPS_ANGLE_D90 : angle == 180 ? VIPS_ANGLE_D180
                              : angle == 270 ? VIPS_ANGLE_D270 : VIPS_ANGLE_D0;
                if (vips_rot(in, ret_out, a, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot rotate");
                return 0;
        }

        img = in;
        g_object_ref(img);
        p_color(p, "background", black, bg);
        if (bg[3] < 255 && !vips_image_hasalpha(img)) {
                VipsImage *out;
                if (vips_addalpha(img, &out, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot add alpha");
                image_vips_replace(&img, out);
        }
        bga = background_for(img, bg);
        r = vips_rotate(img, ret_out, angle, "background", bga, NULL);
        vips_area_unref(VIPS_AREA(bga));
        if (r < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot rotate");
        if ((uint64_t) vips_image_get_width(*ret_out) > sc->limits->max_dimension * 2ull ||
            (uint64_t) vips_image_get_height(*ret_out) > sc->limits->max_dimension * 2ull) {
                g_object_unref(*ret_out);
                *ret_out = NULL;
                return task_failure_set(f, -EFBIG, "Image.TooLarge", "rotated image too large");
        }
        return 0;
}

static int step_flip(StepCtx *sc, VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        const char *d = p_str(p, "direction", "horizontal");

        if (streq_ptr(d, "both")) {
                if (vips_rot(in, ret_out, VIPS_ANGLE_D180, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot flip");
                return 0;
        }
        if (vips_flip(in, ret_out, streq_ptr(d, "vertical") ? VIPS_DIRECTION_VERTICAL : VIPS_DIRECTION_HORIZONTAL,
                      NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot flip");
        return 0;
}

/* ---- filters ------------------------------------------------------------ */

typedef int (*FilterFunction)(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f);

typedef struct FilterDef {
        const char *name;
        const ParamSpec *params; /* besides "type" */
        FilterFunction fn;
} FilterDef;

/* out = a * in + b on the colour bands, alpha untouched. */
static int linear_colour(VipsImage *in, double a, double b, VipsImage **ret_out, TaskFailure *f) {
        int bands = vips_image_get_bands(in);
        bool alpha = vips_image_hasalpha(in);
        double av[16], bv[16];

        if (bands > 16)
                return task_failure_set(f, -EINVAL, "Image.Unsupported", "too many bands (%d)", bands);
        for (int i = 0; i < bands; i++) {
                bool is_alpha = alpha && i == bands - 1;
                av[i] = is_alpha ? 1.0 : a;
                bv[i] = is_alpha ? 0.0 : b;
        }
        if (vips_linear(in, ret_out, av, bv, bands, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot apply linear filter");
        return 0;
}

static int filter_grayscale(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        if (vips_colourspace(in, ret_out, VIPS_INTERPRETATION_B_W, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot convert to grayscale");
        return 0;
}

static int filter_blur(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        if (vips_gaussblur(in, ret_out, p_num(p, "sigma", 2.0), NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot blur");
        return 0;
}

static int filter_sharpen(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        if (p_bool(p, "kernel", false)) {
                /* The classic 3x3 sharpen kernel, on colour bands only. */
                _cleanup_image_ VipsImage *mask = vips_image_new_matrixv(3, 3,
                        0.0, -1.0, 0.0,
                        -1.0, 5.0, -1.0,
                        0.0, -1.0, 0.0);
                _cleanup_image_ VipsImage *colour = NULL, *alpha = NULL, *conv = NULL;
                int bands = vips_image_get_bands(in);
                bool has_alpha = vips_image_hasalpha(in);

                if (!mask)
                        return image_vips_fail(f, "Image.Invalid", "cannot make kernel");
                if (has_alpha) {
                        if (vips_extract_band(in, &colour, 0, "n", bands - 1, NULL) < 0 ||
                            vips_extract_band(in, &alpha, bands - 1, NULL) < 0)
                                return image_vips_fail(f, "Image.Invalid", "cannot split alpha");
                } else {
                        colour = in;
                        g_object_ref(colour);
                }
                if (vips_conv(colour, &conv, mask, "precision", VIPS_PRECISION_INTEGER, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot sharpen");
                if (has_alpha) {
                        if (vips_bandjoin2(conv, alpha, ret_out, NULL) < 0)
                                return image_vips_fail(f, "Image.Invalid", "cannot join alpha");
                } else
                        *ret_out = TAKE_PTR(conv);
                return 0;
        }
        if (vips_sharpen(in, ret_out, "sigma", p_num(p, "sigma", 1.0), NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot sharpen");
        return 0;
}

static int filter_sepia(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        static const double m[3][3] = {
                { 0.393, 0.769, 0.189 },
                { 0.349, 0.686, 0.168 },
                { 0.272, 0.534, 0.131 },
        };
        _cleanup_image_ VipsImage *img = NULL, *mat = NULL;
        int bands, r;

        r = ensure_srgb(in, &img, f);
        if (r < 0)
                return r;
        bands = vips_image_get_bands(img);
        mat = vips_image_new_matrix(bands, bands);
        if (!mat)
                return image_vips_fail(f, "Image.Invalid", "cannot make matrix");
        for (int y = 0; y < bands; y++)
                for (int x = 0; x < bands; x++)
                        *VIPS_MATRIX(mat, x, y) = (y < 3 && x < 3) ? m[y][x] : (x == y ? 1.0 : 0.0);
        if (vips_recomb(img, ret_out, mat, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot apply sepia");
        return 0;
}

static int filter_brightness(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        return linear_colour(in, p_num(p, "value", 1.0), 0.0, ret_out, f);
}

static int filter_contrast(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        double c = p_num(p, "value", 1.0);
        return linear_colour(in, c, 128.0 * (1.0 - c), ret_out, f);
}

static int filter_saturation(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        _cleanup_image_ VipsImage *srgb = NULL, *lch = NULL, *scaled = NULL;
        double s = p_num(p, "value", 1.0);
        double a[16], b[16];
        int bands, r;

        r = ensure_srgb(in, &srgb, f);
        if (r < 0)
                return r;
        if (vips_colourspace(srgb, &lch, VIPS_INTERPRETATION_LCH, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot convert to LCh");
        bands = vips_image_get_bands(lch);
        if (bands > 16)
                return task_failure_set(f, -EINVAL, "Image.Unsupported", "too many bands (%d)", bands);
        for (int i = 0; i < bands; i++) {
                a[i] = i == 1 ? s : 1.0;
                b[i] = 0.0;
        }
        if (vips_linear(lch, &scaled, a, b, bands, NULL) < 0 ||
            vips_colourspace(scaled, ret_out, VIPS_INTERPRETATION_sRGB, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot change saturation");
        return 0;
}

static int filter_tint(VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        static const double white[4] = { 255, 255, 255, 255 };
        _cleanup_image_ VipsImage *grey = NULL, *lum = NULL, *alpha = NULL, *rgb = NULL, *tinted = NULL;
        double c[4], a[3], b[3] = { 0, 0, 0 };
        VipsImage *three[3];

        p_color(p, "color", white, c);
        if (vips_colourspace(in, &grey, VIPS_INTERPRETATION_B_W, NULL) < 0 ||
            vips_extract_band(grey, &lum, 0, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot tint");
        if (vips_image_hasalpha(grey) && vips_extract_band(grey, &alpha, vips_image_get_bands(grey) - 1, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot tint");
        three[0] = three[1] = three[2] = lum;
        for (int i = 0; i < 3; i++)
                a[i] = c[i] / 255.0;
        if (vips_bandjoin(three, &rgb, 3, NULL) < 0 || vips_linear(rgb, &tinted, a, b, 3, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot tint");
        if (alpha) {
                _cleanup_image_ VipsImage *joined = NULL;
                if (vips_bandjoin2(tinted, alpha, &joined, NULL) < 0 ||
                    vips_copy(joined, ret_out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot tint");
        } else if (vips_copy(tinted, ret_out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot tint");
        return 0;
}

static const ParamSpec filter_params_blur[] = { { "sigma", PARAM_NUMBER, RANGE(0.3, 100) }, {} };
static const ParamSpec filter_params_sharpen[] = {
        { "sigma", PARAM_NUMBER, RANGE(0.3, 10) },
        { "kernel", PARAM_BOOLEAN },
        {},
};
static const ParamSpec filter_params_value[] = { { "value", PARAM_NUMBER, true, RANGE(0, 10) }, {} };
static const ParamSpec filter_params_tint[] = { { "color", PARAM_COLOR, true }, {} };
static const ParamSpec filter_params_none[] = { {} };

static const FilterDef filter_table[] = {
        { "grayscale", filter_params_none, filter_grayscale },
        { "greyscale", filter_params_none, filter_grayscale },
        { "blur", filter_params_blur, filter_blur },
        { "sharpen", filter_params_sharpen, filter_sharpen },
        { "sepia", filter_params_none, filter_sepia },
        { "brightness", filter_params_value, filter_brightness },
        { "contrast", filter_params_value, filter_contrast },
        { "saturation", filter_params_value, filter_saturation },
        { "tint", filter_params_tint, filter_tint },
};

static const FilterDef *filter_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(filter_table); i++)
                if (streq_ptr(filter_table[i].name, name))
                        return &filter_table[i];
        return NULL;
}

/* A filter item is "name" or {"type": "name", ...params}. */
static int filter_item_check(json_t *item, const char *prefix, size_t idx, const FilterDef **ret_def, TaskFailure *f) {
        char where[128];
        const char *name = json_is_string(item) ? json_string_value(item) : p_str(item, "type", NULL);
        const FilterDef *def;

        snprintf(where, sizeof(where), "%sfilters[%zu]", prefix, idx);
        if (!name)
                return task_failure_set(f, -EINVAL, "Params.Invalid",
                                        "%s: must be a filter name or an object with \"type\"", where);
        def = filter_find(name);
        if (!def)
                return task_failure_set(f, -EINVAL, "Params.Invalid", "%s: unknown filter \"%.64s\"", where, name);
        if (json_is_object(item)) {
                strncat(where, ".", sizeof(where) - strlen(where) - 1);
                int r = validate_object(def->params, item, where, f);
                if (r < 0)
                        return r;
        }
        *ret_def = def;
        return 0;
}

static int filters_check(json_t *p, const char *prefix, TaskFailure *f) {
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

static int step_filter(StepCtx *sc, VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        _cleanup_image_ VipsImage *img = NULL;
        json_t *filters = json_object_get(p, "filters"), *item;
        size_t i;

        img = in;
        g_object_ref(img);
        json_array_foreach (filters, i, item) {
                const FilterDef *def;
                VipsImage *out = NULL;
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

static int watermark_overlay_text(json_t *p, int base_w, VipsImage **ret_out, TaskFailure *f) {
        static const double white[4] = { 255, 255, 255, 255 };
        _cleanup_image_ VipsImage *mask = NULL, *rgb0 = NULL, *rgb = NULL, *alpha = NULL, *alpha8 = NULL, *joined = NULL;
        _cleanup_free_ char *font = NULL;
        int size = (int) p_int(p, "fontSize", MAX(12, base_w / 25));
        double c[4], opacity = p_num(p, "opacity", 0.5);

        p_color(p, "color", white, c);
        if (asprintf(&font, "%s %d", p_str(p, "font", "sans bold"), size) < 0)
                return -ENOMEM;
        if (vips_text(&mask, p_str(p, "text", ""), "font", font, "dpi", 72, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot render text");
        rgb0 = vips_image_new_from_image(mask, c, 3);
        if (!rgb0)
                return image_vips_fail(f, "Image.Invalid", "cannot render text");
        if (vips_cast_uchar(rgb0, &rgb, NULL) < 0 ||
            vips_linear1(mask, &alpha, opacity * c[3] / 255.0, 0, NULL) < 0 ||
            vips_cast_uchar(alpha, &alpha8, NULL) < 0 ||
            vips_bandjoin2(rgb, alpha8, &joined, NULL) < 0 ||
            vips_copy(joined, ret_out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot render text");
        return 0;
}

static int watermark_overlay_image(StepCtx *sc, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        _cleanup_image_ VipsImage *img = NULL, *srgb = NULL, *withalpha = NULL, *faded = NULL;
        json_t *loc = json_object_get(p, "image");
        json_t *k = json_object_get(loc, "key");
        double opacity = p_num(p, "opacity", 0.5);
        double a[4] = { 1, 1, 1, opacity }, b[4] = { 0, 0, 0, 0 };
        int r;

        r = image_vips_open(sc->storage, p_str(loc, "bucket", ""), json_string_value(k), json_string_length(k),
                            sc->limits, IMAGE_OPEN_AUTOROTATE | IMAGE_OPEN_TO_SRGB, &img, NULL, NULL, f);
        if (r < 0)
                return r;
        r = image_vips_prepare_for_save(img, "png", &srgb, f);
        if (r < 0)
                return r;
        image_vips_replace(&img, TAKE_PTR(srgb));
        r = ensure_srgb(img, &srgb, f);
        if (r < 0)
                return r;
        if (!vips_image_hasalpha(srgb)) {
                if (vips_addalpha(srgb, &withalpha, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot add alpha");
        } else {
                withalpha = srgb;
                g_object_ref(withalpha);
        }
        if (vips_image_get_bands(withalpha) != 4)
                return task_failure_set(f, -EINVAL, "Image.Unsupported", "watermark image must be RGB(A)");
        if (vips_linear(withalpha, &faded, a, b, 4, NULL) < 0 || vips_cast_uchar(faded, ret_out, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot apply opacity");
        return 0;
}

static int step_watermark(StepCtx *sc, VipsImage *in, json_t *p, VipsImage **ret_out, TaskFailure *f) {
        _cleanup_image_ VipsImage *base = NULL, *overlay = NULL, *composed = NULL;
        const char *g = p_str(p, "gravity", "southeast");
        int margin = (int) p_int(p, "margin", 10);
        bool base_alpha;
        int bw, bh, ow, oh, x, y, r;
        double avail_w, avail_h, scale = 1.0;

        if (p_has(p, "image") == p_has(p, "text"))
                return task_failure_set(f, -EINVAL, "Params.Invalid", "image: exactly one of image or text is required");

        r = ensure_srgb(in, &base, f);
        if (r < 0)
                return r;
        bw = vips_image_get_width(base);
        bh = vips_image_get_height(base);
        base_alpha = vips_image_hasalpha(base);

        r = p_has(p, "text") ? watermark_overlay_text(p, bw, &overlay, f) : watermark_overlay_image(sc, p, &overlay, f);
        if (r < 0)
                return r;

        ow = vips_image_get_width(overlay);
        oh = vips_image_get_height(overlay);
        avail_w = MAX(1, bw - 2 * margin);
        avail_h = MAX(1, bh - 2 * margin);
        if (p_has(p, "scale"))
                scale = p_num(p, "scale", 1.0) * bw / ow;
        if (ow * scale > avail_w)
                scale = avail_w / ow;
        if (oh * scale > avail_h)
                scale = avail_h / oh;
        if (fabs(scale - 1.0) > 1e-6) {
                VipsImage *out;
                if (vips_resize(overlay, &out, scale, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot scale watermark");
                image_vips_replace(&overlay, out);
                ow = vips_image_get_width(overlay);
                oh = vips_image_get_height(overlay);
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
        x = MAX(0, MIN(x, bw - ow));
        y = MAX(0, MIN(y, bh - oh));

        if (vips_composite2(base, overlay, &composed, VIPS_BLEND_MODE_OVER, "x", x, "y", y, NULL) < 0)
                return image_vips_fail(f, "Image.Invalid", "cannot composite watermark");
        if (!base_alpha && vips_image_get_bands(composed) == 4) {
                if (vips_extract_band(composed, ret_out, 0, "n", 3, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot drop alpha");
        } else
                *ret_out = TAKE_PTR(composed);
        return 0;
}

static const ParamSpec step_params_resize[] = { PARAMS_RESIZE, {} };
static const ParamSpec step_params_crop[] = { PARAMS_CROP, {} };
static const ParamSpec step_params_rotate[] = { PARAMS_ROTATE, {} };
static const ParamSpec step_params_flip[] = { PARAMS_FLIP, {} };
static const ParamSpec step_params_filter[] = { PARAMS_FILTER, {} };
static const ParamSpec step_params_watermark[] = { PARAMS_WATERMARK, {} };

static const StepDef step_table[] = {
        { "resize", step_params_resize, step_resize },
        { "thumbnail", step_params_resize, step_resize },
        { "crop", step_params_crop, step_crop },
        { "rotate", step_params_rotate, step_rotate },
        { "flip", step_params_flip, step_flip },
        { "filter", step_params_filter, step_filter },
        { "watermark", step_params_watermark, step_watermark },
};

static const StepDef *step_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(step_table); i++)
                if (streq_ptr(step_table[i].name, name))
                        return &step_table[i];
        return NULL;
}

/* Schema checks that do not fit the declarative table. */
static int step_check_extra(const StepDef *def, json_t *p, const char *prefix, TaskFailure *f) {
        if (def->fn == step_filter)
                return filters_check(p, prefix, f);
        if (def->fn == step_watermark && p_has(p, "image") == p_has(p, "text"))
                return param_fail(f, prefix, "image", "exactly one of image or text is required");
        if (def->fn == step_resize && !p_has(p, "width") && !p_has(p, "height"))
                return param_fail(f, prefix, "width", "width or height is required");
        return 0;
}

/* ---- input, output, save ------------------------------------------------ */

typedef struct InputRef {
        const char *bucket;
        const char *key;
        size_t key_len;
} InputRef;

static int input_get(json_t *params, InputRef *ret, TaskFailure *f) {
        json_t *loc = json_object_get(params, "input");
        json_t *b, *k;

        if (!json_is_object(loc))
                loc = params;
        b = json_object_get(loc, "bucket");
        k = json_object_get(loc, "key");
        if (!json_is_string(b) || !json_is_string(k))
                return task_failure_set(f, -EINVAL, "Params.Invalid",
                                        "input: {\"bucket\", \"key\"} (or \"input\": {...}) is required");
        *ret = (InputRef) { json_string_value(b), json_string_value(k), json_string_length(k) };
        return 0;
}

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

static int output_get(json_t *params, const OpContext *ctx, const InputRef *in, const char *ext,
                      char **ret_bucket, char **ret_key) {
        json_t *loc = json_object_get(params, "output");
        _cleanup_free_ char *prefix = NULL, *stem = NULL;
        const char *base, *dot;
        char exec[128], state[128];

        if (json_is_object(loc)) {
                *ret_bucket = strdup(json_string_value(json_object_get(loc, "bucket")));
                *ret_key = strdup(json_string_value(json_object_get(loc, "key")));
        } else {
                *ret_bucket = strdup(p_str(params, "outputBucket", in->bucket));
                prefix = strdup(p_str(params, "outputPrefix", "processed"));
                if (!prefix)
                        return -ENOMEM;
                for (size_t n = strlen(prefix); n > 0 && prefix[n - 1] == '/'; n--)
                        prefix[n - 1] = '\0';
                key_component(ctx ? (ctx->execution_name ? ctx->execution_name : ctx->execution_id) : NULL,
                              "local", exec, sizeof(exec));
                key_component(ctx ? ctx->state_name : NULL, "task", state, sizeof(state));
                base = strrchr(in->key, '/');
                base = base ? base + 1 : in->key;
                dot = strrchr(base, '.');
                stem = strndup(in->key, dot && dot != base ? (size_t) (dot - in->key) : strlen(in->key));
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

static void save_options_from(json_t *p, const char *format, bool optimize, ImageSaveOptions *o) {
        *o = (ImageSaveOptions) {
                .format = format,
                .quality = (int) p_int(p, "quality", optimize ? 80 : 0),
                .progressive = p_bool(p, "progressive", optimize && streq_ptr(format, "jpeg")),
                .optimize_coding = p_bool(p, "optimizeCoding", true),
                .palette = p_bool(p, "palette", false),
                .compression = (int) p_int(p, "compression", optimize ? 9 : -1),
                .lossless = p_bool(p, "lossless", false),
                .effort = (int) p_int(p, "effort", -1),
                .keep_metadata = p_bool(p, "keepMetadata", false),
        };
}

typedef struct StepRun {
        const StepDef *def;
        json_t *params; /* borrowed */
} StepRun;

static bool cancelled(const OpContext *ctx) {
        return ctx && ctx->cancel && atomic_load(ctx->cancel);
}

/* Open the input, run the steps, encode once, write atomically. */
static int image_run_steps(Storage *s, json_t *params, const OpContext *ctx, const StepRun *steps, size_t n_steps,
                           bool optimize, json_t **ret_result, TaskFailure *f) {
        _cleanup_image_ VipsImage *img = NULL;
        _cleanup_free_ char *path = NULL, *out_bucket = NULL, *out_key = NULL;
        OpLimits defaults;
        const OpLimits *l = ctx && ctx->limits ? ctx->limits : NULL;
        ImageHeader hdr;
        ImageSaveOptions so;
        InputRef in;
        const char *format;
        void *buf = NULL;
        size_t len = 0;
        uint64_t pixels;
        int r;

        if (!l) {
                op_limits_init_default(&defaults);
                l = &defaults;
        }
        r = input_get(params, &in, f);
        if (r < 0)
                return r;

        r = image_vips_open(s, in.bucket, in.key, in.key_len, l, IMAGE_OPEN_AUTOROTATE | IMAGE_OPEN_TO_SRGB, &img,
                            &hdr, &path, f);
        if (r < 0)
                return r;

        format = p_str(params, "format", hdr.format);
        if (!p_has(params, "format") && !image_vips_can_save(format))
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
                        .src_path = i == 0 && (streq_ptr(hdr.format, "jpeg") || streq_ptr(hdr.format, "webp") ||
                                               streq_ptr(hdr.format, "heif"))
                                            ? path
                                            : NULL,
                };
                VipsImage *out = NULL;

                if (cancelled(ctx))
                        return task_failure_set(f, -ECANCELED, "Task.Cancelled", "cancelled");
                r = steps[i].def->fn(&sc, img, steps[i].params, &out, f);
                if (r < 0)
                        return r;
                image_vips_replace(&img, out);
        }

        pixels = (uint64_t) vips_image_get_width(img) * (uint64_t) vips_image_get_height(img);
        if (pixels > l->max_pixels)
                return task_failure_set(f, -EFBIG, "Image.TooLarge", "output %dx%d over the pixel limit %llu",
                                        vips_image_get_width(img), vips_image_get_height(img),
                                        (unsigned long long) l->max_pixels);

        save_options_from(params, format, optimize, &so);
        r = image_vips_save_buffer(img, &so, &buf, &len, f);
        if (r < 0)
                return r;

        r = output_get(params, ctx, &in, image_vips_format_extension(format), &out_bucket, &out_key);
        if (r >= 0)
                r = storage_write_atomic(s, out_bucket, out_key, buf, len, NULL, f);
        g_free(buf);
        if (r < 0)
                return r;

        *ret_result = json_pack("{s:s, s:s, s:i, s:i, s:s, s:I}",
                                "bucket", out_bucket, "key", out_key,
                                "width", vips_image_get_width(img), "height", vips_image_get_height(img),
                                "format", format, "size", (json_int_t) len);
        return *ret_result ? 0 : -ENOMEM;
}

/* ---- operations --------------------------------------------------------- */

static int op_single_step(const char *step, Storage *s, json_t *params, const OpContext *ctx, json_t **ret,
                          TaskFailure *f) {
        StepRun run = { step_find(step), params };
        int r = step_check_extra(run.def, params, "", f);
        if (r < 0)
                return r;
        return image_run_steps(s, params, ctx, &run, 1, false, ret, f);
}

static int op_resize(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return op_single_step("resize", s, params, ctx, ret, f);
}

static int op_thumbnail(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        _cleanup_json_ json_t *p = json_copy(params);
        if (!p)
                return -ENOMEM;
        if (!p_has(p, "width") && !p_has(p, "height")) {
                json_object_set_new(p, "width", json_integer(200));
                json_object_set_new(p, "height", json_integer(200));
        }
        return op_single_step("thumbnail", s, p, ctx, ret, f);
}

static int op_crop(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return op_single_step("crop", s, params, ctx, ret, f);
}
static int op_rotate(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return op_single_step("rotate", s, params, ctx, ret, f);
}
static int op_flip(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return op_single_step("flip", s, params, ctx, ret, f);
}
static int op_filter(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return op_single_step("filter", s, params, ctx, ret, f);
}
static int op_watermark(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return op_single_step("watermark", s, params, ctx, ret, f);
}

static int op_convert(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return image_run_steps(s, params, ctx, NULL, 0, false, ret, f);
}
static int op_optimize(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        return image_run_steps(s, params, ctx, NULL, 0, true, ret, f);
}

#define PIPELINE_MAX_STEPS 32

static int op_pipeline(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        json_t *steps = json_object_get(params, "steps"), *item;
        StepRun runs[PIPELINE_MAX_STEPS];
        size_t i;

        /* Also checked by the schema; the array below depends on it. */
        if (!json_is_array(steps) || json_array_size(steps) < 1 || json_array_size(steps) > PIPELINE_MAX_STEPS)
                return task_failure_set(f, -EINVAL, "Params.Invalid", "steps: must have between 1 and %d items",
                                        PIPELINE_MAX_STEPS);

        json_array_foreach (steps, i, item) {
                char prefix[64];
                const char *name = p_str(item, "op", p_str(item, "type", NULL));
                const StepDef *def;
                int r;

                snprintf(prefix, sizeof(prefix), "steps[%zu].", i);
                if (!json_is_object(item) || !name)
                        return task_failure_set(f, -EINVAL, "Params.Invalid",
                                                "steps[%zu]: must be an object with \"op\"", i);
                def = step_find(name);
                if (!def)
                        return task_failure_set(f, -EINVAL, "Params.Invalid", "steps[%zu].op: unknown step \"%.64s\"",
                                                i, name);
                r = validate_object(def->params, item, prefix, f);
                if (r < 0)
                        return r;
                r = step_check_extra(def, item, prefix, f);
                if (r < 0)
                        return r;
                runs[i] = (StepRun) { def, item };
        }
        return image_run_steps(s, params, ctx, runs, json_array_size(steps), false, ret, f);
}

static json_t *header_json(const ImageHeader *h) {
        return json_pack("{s:s, s:i, s:i, s:i, s:b, s:i, s:I, s:s, s:i}",
                         "format", h->format, "width", h->width, "height", h->height, "bands", h->bands,
                         "hasAlpha", h->has_alpha, "orientation", h->orientation, "size", (json_int_t) h->size,
                         "space", h->space, "pages", h->pages);
}

static bool in_string_array(json_t *arr, const char *s) {
        size_t i;
        json_t *v;
        json_array_foreach (arr, i, v)
                if (json_is_string(v) && streq_ptr(json_string_value(v), s))
                        return true;
        return false;
}

static int op_validate(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        _cleanup_task_failure_ TaskFailure vf = TASK_FAILURE_NULL;
        _cleanup_image_ VipsImage *img = NULL;
        _cleanup_json_ json_t *meta = NULL;
        OpLimits lim;
        ImageHeader h;
        InputRef in;
        bool deep, strict = p_bool(params, "strict", false);
        int r;

        if (ctx && ctx->limits)
                lim = *ctx->limits;
        else
                op_limits_init_default(&lim);
        if (p_has(params, "maxPixels"))
                lim.max_pixels = MIN(lim.max_pixels, (uint64_t) p_int(params, "maxPixels", 0));
        if (p_has(params, "maxBytes"))
                lim.max_input_bytes = MIN(lim.max_input_bytes, (uint64_t) p_int(params, "maxBytes", 0));

        r = input_get(params, &in, f);
        if (r < 0)
                return r;
        r = image_vips_open(s, in.bucket, in.key, in.key_len, &lim,
                            IMAGE_OPEN_SEQUENTIAL | (strict ? IMAGE_OPEN_STRICT : 0), &img, &h, NULL, &vf);
        if (r >= 0) {
                json_t *formats = json_object_get(params, "formats");
                if (formats && !in_string_array(formats, h.format))
                        task_failure_set(&vf, -EMEDIUMTYPE, "Image.Unsupported", "format %s is not allowed", h.format);
                else if (h.width < p_int(params, "minWidth", 1) || h.height < p_int(params, "minHeight", 1))
                        task_failure_set(&vf, -EINVAL, "Image.Invalid", "%dx%d is smaller than the minimum",
                                         h.width, h.height);
                else if ((p_has(params, "maxWidth") && h.width > p_int(params, "maxWidth", 0)) ||
                         (p_has(params, "maxHeight") && h.height > p_int(params, "maxHeight", 0)))
                        task_failure_set(&vf, -EFBIG, "Image.TooLarge", "%dx%d is larger than the maximum",
                                         h.width, h.height);
                else {
                        deep = p_bool(params, "deep", true);
                        if (deep) {
                                double avg;
                                /* A full sequential decode: finds truncated or
                                 * corrupt pixel data the header does not show. */
                                if (vips_avg(img, &avg, NULL) < 0)
                                        image_vips_fail(&vf, "Image.Invalid", "image data is corrupt or truncated");
                        }
                }
        }
        if (!task_failure_is_set(&vf) && r < 0)
                return r;
        if (task_failure_is_set(&vf)) {
                if (streq_ptr(vf.error, "Storage.NotFound") || streq_ptr(vf.error, "Storage.AccessDenied") ||
                    streq_ptr(vf.error, "Storage.InvalidKey") || streq_ptr(vf.error, "Storage.IOError") ||
                    p_bool(params, "failOnInvalid", false)) {
                        task_failure_set(f, -EINVAL, vf.error, "%s", vf.cause ? vf.cause : "");
                        return -EINVAL;
                }
                *ret = json_pack("{s:b, s:s, s:s}", "isValid", 0, "error", vf.error, "reason",
                                 vf.cause ? vf.cause : vf.error);
                return *ret ? 0 : -ENOMEM;
        }
        meta = header_json(&h);
        if (!meta)
                return -ENOMEM;
        *ret = json_pack("{s:b, s:O}", "isValid", 1, "metadata", meta);
        return *ret ? 0 : -ENOMEM;
}

/* "Canon (Canon, ASCII, 6 components, 6 bytes)" -> "Canon". */
static json_t *exif_string(VipsImage *img, const char *field) {
        const char *v = NULL;
        const char *cut;

        if (vips_image_get_typeof(img, field) == 0 || vips_image_get_string(img, field, &v) < 0 || !v) {
                vips_error_clear();
                return NULL;
        }
        cut = strstr(v, " (");
        return json_stringn(v, cut ? (size_t) (cut - v) : strlen(v));
}

static json_t *or_null(json_t *v) {
        return v ? v : json_null();
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* The 'desc' tag of an ICC profile (v2 'desc' or v4 'mluc'), ASCII only. */
static json_t *icc_description(const uint8_t *d, size_t n) {
        char out[256];
        size_t count, o = 0;

        if (n < 132)
                return NULL;
        count = be32(d + 128);
        for (size_t i = 0; i < count && i < 256; i++) {
                size_t e = 132 + 12 * i, toff, tsz;
                uint32_t type;

                if (e + 12 > n)
                        return NULL;
                if (be32(d + e) != 0x64657363) /* 'desc' */
                        continue;
                toff = be32(d + e + 4);
                tsz = be32(d + e + 8);
                if (toff > n || tsz > n - toff || tsz < 16)
                        return NULL;
                type = be32(d + toff);
                if (type == 0x64657363) { /* 'desc': uint32 length + ASCII */
                        size_t len = be32(d + toff + 8);
                        if (len > tsz - 12)
                                len = tsz - 12;
                        for (size_t k = 0; k < len && o < sizeof(out) - 1 && d[toff + 12 + k]; k++) {
                                uint8_t c = d[toff + 12 + k];
                                out[o++] = c >= 32 && c < 127 ? (char) c : '?';
                        }
                } else if (type == 0x6d6c7563) { /* 'mluc': records of UTF-16BE */
                        size_t slen, soff;
                        if (be32(d + toff + 8) < 1 || tsz < 28)
                                return NULL;
                        slen = be32(d + toff + 16 + 4);
                        soff = be32(d + toff + 16 + 8);
                        if (soff > tsz || slen > tsz - soff)
                                return NULL;
                        for (size_t k = 0; k + 1 < slen && o < sizeof(out) - 1; k += 2) {
                                unsigned c = (unsigned) d[toff + soff + k] << 8 | d[toff + soff + k + 1];
                                if (!c)
                                        break;
                                out[o++] = c >= 32 && c < 127 ? (char) c : '?';
                        }
                } else
                        return NULL;
                return json_stringn(out, o);
        }
        return NULL;
}

static int op_metadata(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        _cleanup_image_ VipsImage *img = NULL;
        _cleanup_json_ json_t *res = NULL, *exif = NULL;
        const void *icc = NULL;
        size_t icc_len = 0;
        ImageHeader h;
        InputRef in;
        int r;

        r = input_get(params, &in, f);
        if (r < 0)
                return r;
        r = image_vips_open(s, in.bucket, in.key, in.key_len, ctx ? ctx->limits : NULL, IMAGE_OPEN_SEQUENTIAL, &img,
                            &h, NULL, f);
        if (r < 0)
                return r;
        res = header_json(&h);
        exif = json_object();
        if (!res || !exif)
                return -ENOMEM;
        json_object_set_new(exif, "orientation", json_integer(h.orientation));
        json_object_set_new(exif, "make", or_null(exif_string(img, "exif-ifd0-Make")));
        json_object_set_new(exif, "model", or_null(exif_string(img, "exif-ifd0-Model")));
        json_object_set_new(exif, "software", or_null(exif_string(img, "exif-ifd0-Software")));
        {
                json_t *date = exif_string(img, "exif-ifd2-DateTimeOriginal");
                if (!date)
                        date = exif_string(img, "exif-ifd0-DateTime");
                json_object_set_new(exif, "dateTime", or_null(date));
        }
        json_object_set_new(res, "hasExif", json_boolean(vips_image_get_typeof(img, VIPS_META_EXIF_NAME) != 0));
        json_object_set_new(res, "exif", TAKE_PTR(exif));
        json_object_set_new(res, "hasXmp", json_boolean(vips_image_get_typeof(img, VIPS_META_XMP_NAME) != 0));
        json_object_set_new(res, "hasIptc", json_boolean(vips_image_get_typeof(img, VIPS_META_IPTC_NAME) != 0));
        if (vips_image_get_typeof(img, VIPS_META_ICC_NAME) &&
            vips_image_get_blob(img, VIPS_META_ICC_NAME, &icc, &icc_len) == 0) {
                json_t *desc = icc_description(icc, icc_len);
                json_object_set_new(res, "icc", json_pack("{s:o, s:I}", "description", desc ? desc : json_null(),
                                                          "size", (json_int_t) icc_len));
        } else {
                vips_error_clear();
                json_object_set_new(res, "icc", json_null());
        }
        *ret = TAKE_PTR(res);
        return 0;
}

static int op_echo(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        *ret = params ? json_deep_copy(params) : json_null();
        return *ret ? 0 : -ENOMEM;
}

static int op_sleep(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        OpLimits defaults;
        const OpLimits *l = ctx && ctx->limits ? ctx->limits : NULL;
        json_int_t ms = p_int(params, "ms", 0), left;

        if (!l) {
                op_limits_init_default(&defaults);
                l = &defaults;
        }
        if (ms > (json_int_t) l->max_sleep_ms)
                return task_failure_set(f, -EINVAL, "Params.Invalid", "ms: must be at most %u", l->max_sleep_ms);
        for (left = ms; left > 0;) {
                json_int_t slice = MIN(left, 10);
                struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) slice * 1000000L };
                if (cancelled(ctx))
                        return task_failure_set(f, -ECANCELED, "Task.Cancelled", "cancelled after %lld ms",
                                                (long long) (ms - left));
                nanosleep(&ts, NULL);
                left -= slice;
        }
        *ret = json_pack("{s:I}", "slept", ms);
        return *ret ? 0 : -ENOMEM;
}

static int op_fail(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        unsigned attempt = ctx && ctx->attempt ? ctx->attempt : 1;

        if (!p_has(params, "failAttempts") || attempt <= (json_int_t) p_int(params, "failAttempts", 0))
                return task_failure_set(f, -EIO, p_str(params, "error", "Test.Failure"), "%s",
                                        p_str(params, "cause", "test.fail"));
        *ret = json_pack("{s:i, s:b}", "attempt", (int) attempt, "succeeded", 1);
        return *ret ? 0 : -ENOMEM;
}

/* ---- the table ---------------------------------------------------------- */

static const ParamSpec params_validate[] = {
        PARAMS_INPUT,
        { "deep", PARAM_BOOLEAN },
        { "strict", PARAM_BOOLEAN },
        { "failOnInvalid", PARAM_BOOLEAN },
        { "formats", PARAM_ARRAY, RANGE(1, 8) },
        { "maxPixels", PARAM_INTEGER, RANGE(1, 1e12) },
        { "maxBytes", PARAM_INTEGER, RANGE(1, 1e12) },
        { "minWidth", PARAM_INTEGER, RANGE(1, VIPS_MAX_COORD) },
        { "minHeight", PARAM_INTEGER, RANGE(1, VIPS_MAX_COORD) },
        { "maxWidth", PARAM_INTEGER, RANGE(1, VIPS_MAX_COORD) },
        { "maxHeight", PARAM_INTEGER, RANGE(1, VIPS_MAX_COORD) },
        {},
};
static const ParamSpec params_metadata[] = { PARAMS_INPUT, {} };
static const ParamSpec params_resize[] = { PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_RESIZE, {} };
static const ParamSpec params_crop[] = { PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_CROP, {} };
static const ParamSpec params_rotate[] = { PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_ROTATE, {} };
static const ParamSpec params_flip[] = { PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_FLIP, {} };
static const ParamSpec params_filter[] = { PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_FILTER, {} };
static const ParamSpec params_watermark[] = { PARAMS_INPUT, PARAMS_OUTPUT, PARAMS_WATERMARK, {} };
static const ParamSpec params_convert[] = {
        PARAMS_INPUT, PARAMS_OUTPUT,
        { "format", PARAM_STRING, true, .enums = formats_out }, /* here also required */
        {},
};
static const ParamSpec params_optimize[] = { PARAMS_INPUT, PARAMS_OUTPUT, {} };
static const ParamSpec params_pipeline[] = {
        PARAMS_INPUT, PARAMS_OUTPUT,
        { "steps", PARAM_ARRAY, true, RANGE(1, PIPELINE_MAX_STEPS) },
        {},
};
static const ParamSpec params_sleep[] = { { "ms", PARAM_INTEGER, true, RANGE(0, 3600000) }, {} };
static const ParamSpec params_fail[] = {
        { "error", PARAM_STRING, RANGE(1, 256) },
        { "cause", PARAM_STRING, RANGE(0, 1024) },
        { "failAttempts", PARAM_INTEGER, RANGE(0, 1000) },
        {},
};

static const Operation op_table[] = {
        { "image.validate", params_validate, op_validate, "check an image from its header (and a full decode)" },
        { "image.metadata", params_metadata, op_metadata, "header fields, EXIF, XMP and ICC information" },
        { "image.resize", params_resize, op_resize, "resize with fit cover/contain/fill/inside/outside" },
        { "image.thumbnail", params_resize, op_thumbnail, "resize, default 200x200 cover" },
        { "image.crop", params_crop, op_crop, "crop a rectangle, or smart crop" },
        { "image.rotate", params_rotate, op_rotate, "rotate by any angle" },
        { "image.flip", params_flip, op_flip, "mirror horizontally or vertically" },
        { "image.filter", params_filter, op_filter, "apply a list of filters" },
        { "image.watermark", params_watermark, op_watermark, "overlay an image or text" },
        { "image.convert", params_convert, op_convert, "re-encode to another format" },
        { "image.optimize", params_optimize, op_optimize, "re-encode smaller, metadata stripped" },
        { "image.pipeline", params_pipeline, op_pipeline, "several steps on one decode, one save" },
        { "test.echo", NULL, op_echo, "return the input" },
        { "test.sleep", params_sleep, op_sleep, "sleep ms milliseconds" },
        { "test.fail", params_fail, op_fail, "fail (optionally only the first N attempts)" },
};

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

int image_ops_run(const char *name, const Operation *extra, size_t n_extra, Storage *s,
                  json_t *params, const OpContext *ctx, json_t **ret_result, TaskFailure *f) {
        const Operation *op = image_ops_find(name, extra, n_extra);
        json_t *result = NULL;
        int r;

        if (!ret_result)
                return -EINVAL;
        if (!op)
                return task_failure_set(f, -ENOENT, "Operation.Unknown", "no operation named \"%.100s\"",
                                        name ? name : "(null)");
        r = image_ops_validate_params(op, params, f);
        if (r < 0)
                return r;
        if (!op->fn)
                return task_failure_set(f, -EOPNOTSUPP, "Operation.Unknown",
                                        "operation \"%s\" is not run by image_ops_run()", op->name);
        r = op->fn(s, params, ctx, &result, f);
        if (r < 0) {
                json_decref(result);
                if (!task_failure_is_set(f))
                        task_failure_set(f, r, "States.TaskFailed", "%s: %s", op->name, strerror(-r));
                return r;
        }
        *ret_result = result ? result : json_null();
        return 0;
}
