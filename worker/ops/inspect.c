/* SPDX-License-Identifier: MIT */

/*
 * image.validate and image.metadata (see inspect.h).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-vips.h"
#include "inspect-icc.h"
#include "inspect.h"
#include "macro.h"
#include "params.h"

const ParamSpec inspect_validate_params[] = {
        PARAMS_INPUT,
        {"deep", PARAM_BOOLEAN},
        {"strict", PARAM_BOOLEAN},
        {"failOnInvalid", PARAM_BOOLEAN},
        {"formats", PARAM_ARRAY, RANGE(1, 8)},
        {"maxPixels", PARAM_INTEGER, RANGE(1, 1e12)},
        {"maxBytes", PARAM_INTEGER, RANGE(1, 1e12)},
        {"minWidth", PARAM_INTEGER, RANGE(1, IMAGE_VIPS_MAX_COORD)},
        {"minHeight", PARAM_INTEGER, RANGE(1, IMAGE_VIPS_MAX_COORD)},
        {"maxWidth", PARAM_INTEGER, RANGE(1, IMAGE_VIPS_MAX_COORD)},
        {"maxHeight", PARAM_INTEGER, RANGE(1, IMAGE_VIPS_MAX_COORD)},
        {},
};

const ParamSpec inspect_metadata_params[] = {PARAMS_INPUT, {}};

static json_t *header_json(const ImageHeader *h) {
        return json_pack("{s:s, s:i, s:i, s:i, s:b, s:i, s:I, s:s, s:i}", "format", h->format, "width",
                         h->width, "height", h->height, "bands", h->bands, "hasAlpha", h->has_alpha,
                         "orientation", h->orientation, "size", (json_int_t) h->size, "space", h->space,
                         "pages", h->pages);
}

static bool in_string_array(json_t *arr, const char *s) {
        size_t i;
        json_t *v;
        json_array_foreach (arr, i, v)
                if (json_is_string(v) && streq_ptr(json_string_value(v), s))
                        return true;
        return false;
}

int inspect_validate(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        _cleanup_task_failure_ TaskFailure vf = TASK_FAILURE_NULL;
        _cleanup_image_ Image *img = NULL;
        _cleanup_json_ json_t *meta = NULL;
        OpLimits lim;
        ImageHeader h;
        InputRef in;
        bool strict = params_bool(params, "strict", false);
        unsigned flags = IMAGE_OPEN_SEQUENTIAL | (strict ? IMAGE_OPEN_STRICT : 0);
        _cleanup_free_ char *path = NULL, *display = NULL;
        int r;

        if (ctx && ctx->limits)
                lim = *ctx->limits;
        else
                op_limits_init_default(&lim);
        if (params_has(params, "maxPixels"))
                lim.max_pixels = MIN_(lim.max_pixels, (uint64_t) params_int(params, "maxPixels", 0));
        if (params_has(params, "maxBytes"))
                lim.max_input_bytes =
                        MIN_(lim.max_input_bytes, (uint64_t) params_int(params, "maxBytes", 0));

        r = params_input(params, &in, f);
        if (r < 0)
                return r;
        r = image_vips_open(s, in.bucket, in.key, in.key_len, &lim, flags, &img, &h, &path, &vf);
        if (r >= 0) {
                json_t *formats = json_object_get(params, "formats");
                if (formats && !in_string_array(formats, h.format))
                        task_failure_set(&vf, -EMEDIUMTYPE, "Image.Unsupported", "format %s is not allowed",
                                         h.format);
                else if (h.width < params_int(params, "minWidth", 1) ||
                         h.height < params_int(params, "minHeight", 1))
                        task_failure_set(&vf, -EINVAL, "Image.Invalid", "%dx%d is smaller than the minimum",
                                         h.width, h.height);
                else if ((params_has(params, "maxWidth") && h.width > params_int(params, "maxWidth", 0)) ||
                         (params_has(params, "maxHeight") && h.height > params_int(params, "maxHeight", 0)))
                        task_failure_set(&vf, -EFBIG, "Image.TooLarge", "%dx%d is larger than the maximum",
                                         h.width, h.height);
                else if (params_bool(params, "deep", true)) {
                        /* Every byte of pixel data read once: finds truncated
                         * or corrupt data the header does not show. */
                        if (asprintf(&display, "%s/%.*s", in.bucket, (int) in.key_len, in.key) < 0)
                                return -ENOMEM;
                        (void) image_vips_decode_all(img, path, display, &h, flags, &vf);
                }
        }
        if (!task_failure_is_set(&vf) && r < 0)
                return r;
        if (task_failure_is_set(&vf)) {
                if (streq_ptr(vf.error, "Storage.NotFound") || streq_ptr(vf.error, "Storage.AccessDenied") ||
                    streq_ptr(vf.error, "Storage.InvalidKey") || streq_ptr(vf.error, "Storage.IOError") ||
                    params_bool(params, "failOnInvalid", false)) {
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

/* "Canon (Canon, ASCII, 6 components, 6 bytes)" -> "Canon"; NULL when absent. */
static json_t *exif_string(Image *img, const char *field) {
        _cleanup_free_ char *v = image_vips_get_string(img, field);
        const char *cut;

        if (!v)
                return NULL;
        cut = strstr(v, " (");
        return json_stringn(v, cut ? (size_t) (cut - v) : strlen(v));
}

static json_t *or_null(json_t *v) {
        return v ? v : json_null();
}

int inspect_metadata(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f) {
        _cleanup_image_ Image *img = NULL;
        _cleanup_json_ json_t *res = NULL, *exif = NULL;
        const void *icc = NULL;
        size_t icc_len = 0;
        ImageHeader h;
        InputRef in;
        json_t *date;
        int r;

        r = params_input(params, &in, f);
        if (r < 0)
                return r;
        r = image_vips_open(s, in.bucket, in.key, in.key_len, ctx ? ctx->limits : NULL,
                            IMAGE_OPEN_SEQUENTIAL, &img, &h, NULL, f);
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
        date = exif_string(img, "exif-ifd2-DateTimeOriginal");
        if (!date)
                date = exif_string(img, "exif-ifd0-DateTime");
        json_object_set_new(exif, "dateTime", or_null(date));
        json_object_set_new(res, "hasExif", json_boolean(image_vips_has_meta(img, IMAGE_META_EXIF)));
        json_object_set_new(res, "exif", TAKE_PTR(exif));
        json_object_set_new(res, "hasXmp", json_boolean(image_vips_has_meta(img, IMAGE_META_XMP)));
        json_object_set_new(res, "hasIptc", json_boolean(image_vips_has_meta(img, IMAGE_META_IPTC)));
        if (image_vips_icc_profile(img, &icc, &icc_len)) {
                json_t *desc = icc_description(icc, icc_len);
                json_object_set_new(res, "icc",
                                    json_pack("{s:o, s:I}", "description", desc ? desc : json_null(), "size",
                                              (json_int_t) icc_len));
        } else
                json_object_set_new(res, "icc", json_null());
        *ret = TAKE_PTR(res);
        return 0;
}
