/* SPDX-License-Identifier: MIT */

/*
 * libvips boundary: opening untrusted images, translating libvips errors to
 * task failures, and encoding results. See image-vips.h.
 *
 * libvips keeps one process-wide error buffer. Every failing call here is
 * followed immediately by image_vips_fail(), which copies the message out and
 * clears the buffer; with several worker threads, a message may still carry
 * another thread's text, which is harmless (it only ends up in a cause).
 */

#include "image-vips.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"

typedef int (*ImageLoadFn)(const char *filename, VipsImage **out, ...);

/* The allow-list. vips_foreign_find_load() names the class that sniffed the
 * file; only these classes are used, and each is called directly. */
static const struct {
        const char *klass;
        const char *nick;
        const char *format;
        ImageLoadFn load;
} loaders[] = {
        { "VipsForeignLoadJpegFile",  "jpegload", "jpeg", vips_jpegload },
        { "VipsForeignLoadPngFile",   "pngload",  "png",  vips_pngload },
        { "VipsForeignLoadSpngFile",  "pngload",  "png",  vips_pngload },
        { "VipsForeignLoadWebpFile",  "webpload", "webp", vips_webpload },
        { "VipsForeignLoadNsgifFile", "gifload",  "gif",  vips_gifload },
        { "VipsForeignLoadTiffFile",  "tiffload", "tiff", vips_tiffload },
        { "VipsForeignLoadHeifFile",  "heifload", "heif", vips_heifload },
};

static const struct {
        const char *format;
        const char *ext;
        const char *saver; /* operation nickname */
} savers[] = {
        { "jpeg", "jpg",  "jpegsave_buffer" },
        { "png",  "png",  "pngsave_buffer" },
        { "webp", "webp", "webpsave_buffer" },
        { "gif",  "gif",  "gifsave_buffer" },
        { "tiff", "tif",  "tiffsave_buffer" },
        { "heif", "heic", "heifsave_buffer" },
        { "avif", "avif", "heifsave_buffer" },
};

static void cause_tidy(char *s) {
        size_t n;

        for (char *p = s; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                        *p = ' ';
        n = strlen(s);
        while (n > 0 && s[n - 1] == ' ')
                s[--n] = '\0';
}

/* Replace every occurrence of `path` in *s by `display` (both borrowed), so
 * that causes show bucket/key rather than server paths. */
static void cause_replace(char **s, const char *path, const char *display) {
        size_t pl;
        GString *out;
        const char *p, *hit;

        if (!*s || !path || !display || !(pl = strlen(path)))
                return;
        out = g_string_new(NULL);
        p = *s;
        while ((hit = strstr(p, path))) {
                g_string_append_len(out, p, hit - p);
                g_string_append(out, display);
                p = hit + pl;
        }
        g_string_append(out, p);
        g_free(*s);
        *s = g_string_free(out, FALSE);
}

static int image_vips_fail_display(TaskFailure *f, const char *error, const char *what,
                                   const char *path, const char *display) {
        char *msg = vips_error_buffer_copy(); /* copies and clears */

        if (msg) {
                cause_replace(&msg, path, display);
                cause_tidy(msg);
        }
        task_failure_set(f, -EIO, error, "%s: %s", what, msg && *msg ? msg : "libvips error");
        g_free(msg);
        return -EIO;
}

int image_vips_fail(TaskFailure *f, const char *error, const char *what) {
        return image_vips_fail_display(f, error, what, NULL, NULL);
}

bool image_vips_format_allowed(const char *format) {
        for (size_t i = 0; i < ELEMENTSOF(loaders); i++)
                if (streq_ptr(loaders[i].format, format))
                        return vips_type_find("VipsOperation", loaders[i].nick) != 0;
        return false;
}

const char *image_vips_format_extension(const char *format) {
        for (size_t i = 0; i < ELEMENTSOF(savers); i++)
                if (streq_ptr(savers[i].format, format))
                        return savers[i].ext;
        return NULL;
}

bool image_vips_can_save(const char *format) {
        for (size_t i = 0; i < ELEMENTSOF(savers); i++)
                if (streq_ptr(savers[i].format, format))
                        return vips_type_find("VipsOperation", savers[i].saver) != 0;
        return false;
}

int image_vips_open(Storage *s, const char *bucket, const char *key, size_t key_len,
                    const OpLimits *l, unsigned flags, VipsImage **ret_image,
                    ImageHeader *ret_hdr, char **ret_path, TaskFailure *f) {
        _cleanup_free_ char *path = NULL, *display = NULL;
        _cleanup_image_ VipsImage *img = NULL;
        OpLimits defaults;
        ImageHeader h = {};
        const char *klass;
        size_t li;
        struct stat st;
        uint64_t pixels, bytes;
        int r;

        if (!l) {
                op_limits_init_default(&defaults);
                l = &defaults;
        }

        r = storage_resolve_n(s, bucket, key, key_len, &path, f);
        if (r < 0)
                return r;
        if (asprintf(&display, "%s/%s", bucket, key) < 0)
                return -ENOMEM;

        if (stat(path, &st) < 0) {
                r = -errno;
                if (r == -ENOENT || r == -ENOTDIR)
                        return task_failure_set(f, r, "Storage.NotFound", "%s: no such object", display);
                if (r == -EACCES || r == -EPERM)
                        return task_failure_set(f, r, "Storage.AccessDenied", "%s: %s", display, strerror(-r));
                return task_failure_set(f, r, "Storage.IOError", "%s: %s", display, strerror(-r));
        }
        if (!S_ISREG(st.st_mode))
                return task_failure_set(f, -ENOENT, "Storage.NotFound", "%s: not a regular file", display);
        if (st.st_size == 0)
                return task_failure_set(f, -EINVAL, "Image.Invalid", "%s: empty file", display);
        if ((uint64_t) st.st_size > l->max_input_bytes)
                return task_failure_set(f, -EFBIG, "Image.TooLarge", "%s: %llu bytes, limit %llu", display,
                                        (unsigned long long) st.st_size,
                                        (unsigned long long) l->max_input_bytes);

        /* Sniff the format from the bytes (untrusted loaders are blocked
         * process-wide by image_ops_init()), then allow-list the result. */
        klass = vips_foreign_find_load(path);
        if (!klass) {
                vips_error_clear();
                return task_failure_set(f, -EMEDIUMTYPE, "Image.Unsupported",
                                        "%s: not an image in a supported format", display);
        }
        for (li = 0; li < ELEMENTSOF(loaders); li++)
                if (streq_ptr(loaders[li].klass, klass))
                        break;
        if (li >= ELEMENTSOF(loaders))
                return task_failure_set(f, -EMEDIUMTYPE, "Image.Unsupported",
                                        "%s: format not allowed (%s)", display, klass);

        /* Header only: pixels are decoded later, on demand. */
        if (loaders[li].load(path, &img,
                             "access", (flags & IMAGE_OPEN_SEQUENTIAL) ? VIPS_ACCESS_SEQUENTIAL : VIPS_ACCESS_RANDOM,
                             "fail_on", (flags & IMAGE_OPEN_STRICT) ? VIPS_FAIL_ON_WARNING : VIPS_FAIL_ON_ERROR,
                             NULL) < 0)
                return image_vips_fail_display(f, "Image.Invalid", "cannot read image header", path, display);

        h.format = loaders[li].format;
        h.loader = loaders[li].nick;
        h.width = vips_image_get_width(img);
        h.height = vips_image_get_height(img);
        h.bands = vips_image_get_bands(img);
        h.pages = vips_image_get_n_pages(img);
        h.has_alpha = vips_image_hasalpha(img);
        h.orientation = vips_image_get_orientation(img);
        h.size = (uint64_t) st.st_size;
        h.space = vips_enum_nick(VIPS_TYPE_INTERPRETATION, vips_image_get_interpretation(img));
        if (!h.space)
                h.space = "unknown";

        if (h.width <= 0 || h.height <= 0)
                return task_failure_set(f, -EINVAL, "Image.Invalid", "%s: bad dimensions", display);
        pixels = (uint64_t) h.width * (uint64_t) h.height;
        if (pixels > l->max_pixels)
                return task_failure_set(f, -EFBIG, "Image.TooLarge", "%s: %dx%d = %llu pixels, limit %llu",
                                        display, h.width, h.height, (unsigned long long) pixels,
                                        (unsigned long long) l->max_pixels);
        bytes = pixels * (uint64_t) h.bands * vips_format_sizeof(vips_image_get_format(img));
        if (bytes > l->max_memory_bytes)
                return task_failure_set(f, -EFBIG, "Image.TooLarge",
                                        "%s: decoding needs %llu bytes, budget %llu", display,
                                        (unsigned long long) bytes, (unsigned long long) l->max_memory_bytes);

        if (flags & IMAGE_OPEN_AUTOROTATE) {
                VipsImage *out;
                if (vips_autorot(img, &out, NULL) < 0)
                        return image_vips_fail_display(f, "Image.Invalid", "cannot auto-rotate", path, display);
                image_vips_replace(&img, out);
        }

        if ((flags & IMAGE_OPEN_TO_SRGB) && vips_image_get_typeof(img, VIPS_META_ICC_NAME)) {
                VipsImage *out;
                if (vips_icc_transform(img, &out, "srgb", "embedded", TRUE,
                                       "intent", VIPS_INTENT_RELATIVE, NULL) < 0) {
                        /* A broken profile: carry on as if there were none. */
                        vips_error_clear();
                        if (vips_copy(img, &out, NULL) < 0)
                                return image_vips_fail(f, "Image.Invalid", "cannot copy image");
                        vips_image_remove(out, VIPS_META_ICC_NAME);
                }
                image_vips_replace(&img, out);
        }

        if (ret_path)
                *ret_path = TAKE_PTR(path);
        if (ret_hdr)
                *ret_hdr = h;
        *ret_image = TAKE_PTR(img);
        return 0;
}

int image_vips_prepare_for_save(VipsImage *in, const char *format, VipsImage **ret_out, TaskFailure *f) {
        _cleanup_image_ VipsImage *img = NULL;
        VipsInterpretation interp = vips_image_get_interpretation(in);
        VipsInterpretation target;
        VipsImage *out;
        int colour_bands;

        img = in;
        g_object_ref(img);

        colour_bands = vips_image_get_bands(img) - (vips_image_hasalpha(img) ? 1 : 0);
        target = (colour_bands <= 1 || interp == VIPS_INTERPRETATION_B_W || interp == VIPS_INTERPRETATION_GREY16) &&
                                 colour_bands < 3
                         ? VIPS_INTERPRETATION_B_W
                         : VIPS_INTERPRETATION_sRGB;

        if (interp != target) {
                if (vips_colourspace_issupported(img)) {
                        if (vips_colourspace(img, &out, target, NULL) < 0)
                                return image_vips_fail(f, "Image.Invalid", "cannot convert colour space");
                } else if (vips_copy(img, &out, "interpretation", target, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot convert colour space");
                image_vips_replace(&img, out);
        }

        if (streq_ptr(format, "jpeg") && vips_image_hasalpha(img)) {
                int n = vips_image_get_bands(img) - 1;
                VipsArrayDouble *bg = n >= 3 ? vips_array_double_newv(3, 255.0, 255.0, 255.0)
                                             : vips_array_double_newv(1, 255.0);
                int r = vips_flatten(img, &out, "background", bg, NULL);
                vips_area_unref(VIPS_AREA(bg));
                if (r < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot flatten alpha");
                image_vips_replace(&img, out);
        }

        if (vips_image_get_format(img) != VIPS_FORMAT_UCHAR) {
                if (vips_cast_uchar(img, &out, NULL) < 0)
                        return image_vips_fail(f, "Image.Invalid", "cannot convert to 8 bits");
                image_vips_replace(&img, out);
        }

        *ret_out = TAKE_PTR(img);
        return 0;
}

int image_vips_save_buffer(VipsImage *in, const ImageSaveOptions *o, void **ret_buf, size_t *ret_len,
                           TaskFailure *f) {
        _cleanup_image_ VipsImage *img = NULL;
        const char *fmt = o->format;
        gboolean strip = !o->keep_metadata;
        void *buf = NULL;
        size_t len = 0;
        int r;

        if (!image_vips_can_save(fmt))
                return task_failure_set(f, -EMEDIUMTYPE, "Image.Unsupported",
                                        "no encoder for format %s in this libvips", fmt ? fmt : "(null)");

        r = image_vips_prepare_for_save(in, fmt, &img, f);
        if (r < 0)
                return r;

        if (streq_ptr(fmt, "jpeg"))
                r = vips_jpegsave_buffer(img, &buf, &len,
                                         "Q", o->quality > 0 ? o->quality : 80,
                                         "interlace", (gboolean) o->progressive,
                                         "optimize_coding", (gboolean) o->optimize_coding,
                                         "strip", strip, NULL);
        else if (streq_ptr(fmt, "png")) {
                if (o->palette)
                        r = vips_pngsave_buffer(img, &buf, &len,
                                                "compression", o->compression >= 0 ? o->compression : 6,
                                                "interlace", (gboolean) o->progressive,
                                                "palette", TRUE,
                                                "Q", o->quality > 0 ? o->quality : 100,
                                                "effort", o->effort > 0 ? MIN(o->effort, 10) : 7,
                                                "strip", strip, NULL);
                else
                        r = vips_pngsave_buffer(img, &buf, &len,
                                                "compression", o->compression >= 0 ? o->compression : 6,
                                                "interlace", (gboolean) o->progressive,
                                                "strip", strip, NULL);
        } else if (streq_ptr(fmt, "webp"))
                r = vips_webpsave_buffer(img, &buf, &len,
                                         "Q", o->quality > 0 ? o->quality : 75,
                                         "lossless", (gboolean) o->lossless,
                                         "effort", o->effort >= 0 ? MIN(o->effort, 6) : 4,
                                         "strip", strip, NULL);
        else if (streq_ptr(fmt, "gif"))
                r = vips_gifsave_buffer(img, &buf, &len,
                                        "effort", o->effort > 0 ? MIN(o->effort, 10) : 7,
                                        "strip", strip, NULL);
        else if (streq_ptr(fmt, "tiff"))
                r = vips_tiffsave_buffer(img, &buf, &len,
                                         "compression", VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE,
                                         "strip", strip, NULL);
        else if (streq_ptr(fmt, "heif") || streq_ptr(fmt, "avif")) {
                r = vips_heifsave_buffer(img, &buf, &len,
                                         "Q", o->quality > 0 ? o->quality : 50,
                                         "lossless", (gboolean) o->lossless,
                                         "compression", streq_ptr(fmt, "avif") ? VIPS_FOREIGN_HEIF_COMPRESSION_AV1
                                                                               : VIPS_FOREIGN_HEIF_COMPRESSION_HEVC,
                                         "effort", o->effort >= 0 ? MIN(o->effort, 9) : 4,
                                         "strip", strip, NULL);
                if (r < 0) {
                        /* heifsave exists but the codec plugin may not. */
                        const char *msg = vips_error_buffer();
                        if (msg && (strstr(msg, "nsupported") || strstr(msg, "codec") || strstr(msg, "encoder")))
                                return image_vips_fail(f, "Image.Unsupported", "cannot encode");
                }
        } else
                return task_failure_set(f, -EMEDIUMTYPE, "Image.Unsupported", "unknown format %s", fmt);

        if (r < 0) {
                g_free(buf);
                return image_vips_fail(f, "Image.Invalid", "cannot process image");
        }
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}
