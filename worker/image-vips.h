/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The libvips boundary of the worker (STYLE 5): the only place that turns
 * libvips's "-1 + global error buffer" into task failures, and the only way
 * operations open untrusted images and encode results.
 *
 * Opening an image (image_vips_open) is where the untrusted-input rules live:
 * the file's size is checked, its format is sniffed from its bytes
 * (vips_foreign_find_load) and must map to an allow-listed loader, that
 * loader (and only it) reads the header, and the pixel, byte and memory
 * limits are checked from the header before any pixel is decoded.
 *
 * Internal to worker/: image-ops.c is the user. It includes this header;
 * this one does not include image-ops.h (the limits: op-limits.h).
 */

#include <stdbool.h>
#include <stdint.h>
#include <vips/vips.h>

#include "op-limits.h"
#include "storage.h"
#include "task-failure.h"

static inline void image_vips_unrefp(VipsImage **p) {
        if (*p)
                g_object_unref(*p);
}
#define _cleanup_image_ __attribute__((cleanup(image_vips_unrefp)))

/* Replace *p (an owned image reference, may be NULL) with next (stolen). */
static inline void image_vips_replace(VipsImage **p, VipsImage *next) {
        if (*p)
                g_object_unref(*p);
        *p = next;
}

/* Copy libvips's error buffer into f as `error` with cause "<what>: <vips
 * message>", then clear the buffer. Returns -EIO. */
int image_vips_fail(TaskFailure *f, const char *error, const char *what);

typedef struct ImageHeader {
        const char *format;  /* static: "jpeg", "png", "webp", "gif", "tiff", "heif" */
        const char *loader;  /* static: libvips loader nickname, e.g. "jpegload" */
        int width, height, bands, pages;
        bool has_alpha;
        int orientation;     /* EXIF orientation 1..8 (1 if none) */
        uint64_t size;       /* bytes of the file */
        const char *space;   /* static: interpretation nickname, e.g. "srgb" */
} ImageHeader;

enum {
        IMAGE_OPEN_SEQUENTIAL = 1 << 0, /* VIPS_ACCESS_SEQUENTIAL (default random) */
        IMAGE_OPEN_AUTOROTATE = 1 << 1, /* apply and drop the EXIF orientation */
        IMAGE_OPEN_TO_SRGB    = 1 << 2, /* import an embedded ICC profile to sRGB */
        IMAGE_OPEN_STRICT     = 1 << 3, /* fail on warnings too (default: errors/truncation) */
};

/* Open bucket/key (key of key_len bytes) as an image. Limits: l (borrowed).
 * *ret_image: new reference (pixels are decoded lazily, when used);
 * *ret_hdr: filled from the header (before autorotation). ret_path
 * (optional): new string, the resolved file path. */
int image_vips_open(Storage *s, const char *bucket, const char *key, size_t key_len,
                    const OpLimits *l, unsigned flags, VipsImage **ret_image,
                    ImageHeader *ret_hdr, char **ret_path, TaskFailure *f);

/* Whether a named format may be loaded here, and its loader exists. */
bool image_vips_format_allowed(const char *format);

/* Encoding. format: "jpeg", "png", "webp", "gif", "tiff", "heif", "avif". */
typedef struct ImageSaveOptions {
        const char *format;
        int quality;            /* 1..100; 0 = encoder default */
        bool progressive;       /* jpeg: progressive; png/gif: interlace */
        bool optimize_coding;   /* jpeg */
        bool palette;           /* png: quantise to a palette */
        int compression;        /* png: 0..9, -1 = default */
        bool lossless;          /* webp, heif/avif */
        int effort;             /* webp 0..6, avif/heif 0..9, png/gif 1..10; -1 = default */
        bool keep_metadata;     /* false: strip EXIF/XMP/IPTC/ICC */
} ImageSaveOptions;

/* File extension (without dot) for a format, or NULL. */
const char *image_vips_format_extension(const char *format);

/* Whether this libvips can encode the format. */
bool image_vips_can_save(const char *format);

/* Convert to an 8-bit sRGB (or grey) image ready for an encoder, flattening
 * alpha for JPEG. in is borrowed, *ret_out is a new reference. */
int image_vips_prepare_for_save(VipsImage *in, const char *format, VipsImage **ret_out, TaskFailure *f);

/* Encode (prepare first). *ret_buf: new, release with g_free(). Decode
 * errors of a lazily read input surface here as Image.Invalid. */
int image_vips_save_buffer(VipsImage *in, const ImageSaveOptions *o, void **ret_buf, size_t *ret_len,
                           TaskFailure *f);
