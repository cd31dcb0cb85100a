/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The libvips boundary of the worker (STYLE 5): image-vips.c is the only file
 * that includes <vips/vips.h> or calls libvips (meson builds it alone with
 * libvips; the operations in worker/ops/ are built without libvips's headers,
 * so a call from there does not compile). It starts libvips with its loaders
 * blocked, opens untrusted images, runs the pixel primitives the operations
 * are made of, encodes results, and turns libvips's "-1 + global error
 * buffer" into task failures right where a call failed.
 *
 * An Image is libvips's VipsImage, opaque here. Every function that makes an
 * image returns a new reference in *ret (untouched on failure); images passed
 * in are borrowed. Release with image_vips_unref() or _cleanup_image_.
 * Failures are Image.Invalid unless said otherwise, with a cause of the form
 * "<what>: <libvips message>".
 *
 * Opening an image (image_vips_open) is where the untrusted-input rules live:
 * the file's size is checked, its format is sniffed from its bytes
 * (vips_foreign_find_load) and must map to an allow-listed loader, that
 * loader (and only it) reads the header, and the pixel, byte and memory
 * limits are checked from the header before any pixel is decoded.
 *
 * Thread-safe after image_vips_init(): images are not shared between tasks.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op-limits.h"
#include "storage.h"
#include "task-failure.h"

typedef struct _VipsImage Image;

/* libvips's largest coordinate (VIPS_MAX_COORD), for parameter ranges. */
#define IMAGE_VIPS_MAX_COORD 10000000

/* ---- process ------------------------------------------------------------ */

/* Once per process (later calls return the first result): starts libvips,
 * blocks its untrusted loaders and then every loader but the allow-listed
 * ones, turns off the operation cache, sets libvips's threads per operation
 * (concurrency 1..64; other values mean 1) and drops libvips's decoder
 * warnings unless IMGFLOW_VIPS_WARNINGS=1. Returns 0 or -EIO. */
int image_vips_init(int concurrency);

/* Whether this libvips has a HEIF/AVIF encoder (heifsave). */
bool image_vips_have_heif_save(void);

/* ---- references and header fields --------------------------------------- */

Image *image_vips_ref(Image *img);
/* Accepts NULL; returns NULL. */
Image *image_vips_unref(Image *img);
static inline void image_vips_unrefp(Image **p) {
        image_vips_unref(*p);
}
#define _cleanup_image_ __attribute__((cleanup(image_vips_unrefp)))

/* Replace *p (an owned reference, may be NULL) with next (stolen). */
static inline void image_vips_replace(Image **p, Image *next) {
        image_vips_unref(*p);
        *p = next;
}

int image_vips_width(Image *img);
int image_vips_height(Image *img);
int image_vips_bands(Image *img);
bool image_vips_has_alpha(Image *img);

/* ---- opening ------------------------------------------------------------ */

typedef struct ImageHeader {
        const char *format; /* static: "jpeg", "png", "webp", "gif", "tiff", "heif" */
        const char *loader; /* static: libvips loader nickname, e.g. "jpegload" */
        int width, height, bands, pages;
        bool has_alpha;
        int orientation;   /* EXIF orientation 1..8 (1 if none) */
        uint64_t size;     /* bytes of the file */
        const char *space; /* static: interpretation nickname, e.g. "srgb" */
} ImageHeader;

enum {
        IMAGE_OPEN_SEQUENTIAL = 1 << 0, /* VIPS_ACCESS_SEQUENTIAL (default random; with AUTOROTATE, random
                                         * when the image must be turned) */
        IMAGE_OPEN_AUTOROTATE = 1 << 1, /* apply and drop the EXIF orientation */
        IMAGE_OPEN_TO_SRGB = 1 << 2,    /* import an embedded ICC profile to sRGB */
        IMAGE_OPEN_STRICT = 1 << 3,     /* fail on warnings too (default: errors/truncation) */
};

/* Open bucket/key (key of key_len bytes) as an image. Limits: l (borrowed;
 * NULL = defaults). *ret_image: new reference (pixels are decoded lazily,
 * when used); *ret_hdr (optional): filled from the header (before
 * autorotation); *ret_path (optional): new string, the resolved file path of
 * a directory bucket's object, NULL for an S3 object (read from memory).
 * Failures: Storage.*, Image.Invalid, Image.TooLarge, Image.Unsupported. */
int image_vips_open(Storage *s, const char *bucket, const char *key, size_t key_len, const OpLimits *l,
                    unsigned flags, Image **ret_image, ImageHeader *ret_hdr, char **ret_path,
                    TaskFailure *f);

/* Whether a named format may be loaded here, and its loader exists. */
bool image_vips_format_allowed(const char *format);

/* Read every byte of pixel data once, sequentially, as a decode does: finds
 * truncated or corrupt pixel data that the header does not show ("image data
 * is corrupt or truncated"), failing on what `flags` (IMAGE_OPEN_STRICT) says.
 * img: the image image_vips_open() gave, opened without AUTOROTATE or
 * TO_SRGB (borrowed); path: its file, or NULL for an object read into memory;
 * h its header; display what causes name instead of path. A JPEG is decoded
 * again from the file or the object's bytes at 1/8 scale (see image-vips.c);
 * every other format through img. */
int image_vips_decode_all(Image *img, const char *path, const char *display, const ImageHeader *h,
                          unsigned flags, TaskFailure *f);

/* ---- metadata ----------------------------------------------------------- */

typedef enum ImageMeta {
        IMAGE_META_EXIF,
        IMAGE_META_XMP,
        IMAGE_META_IPTC,
        IMAGE_META_ICC,
} ImageMeta;

/* Whether the image carries that metadata block. */
bool image_vips_has_meta(Image *img, ImageMeta m);

/* A string field of the image (e.g. "exif-ifd0-Make") as libvips gives it:
 * a new string, or NULL when absent. */
char *image_vips_get_string(Image *img, const char *field);

/* The embedded ICC profile: borrowed bytes valid while img lives; false when
 * there is none. */
bool image_vips_icc_profile(Image *img, const void **ret_data, size_t *ret_len);

/* ---- pixel primitives --------------------------------------------------- */

typedef enum ImageSize {
        IMAGE_SIZE_DOWN,  /* only shrink */
        IMAGE_SIZE_BOTH,  /* shrink or enlarge */
        IMAGE_SIZE_FORCE, /* exactly w x h, aspect ratio not kept */
} ImageSize;

typedef enum ImageInteresting {
        IMAGE_INTERESTING_NONE,
        IMAGE_INTERESTING_CENTRE,
        IMAGE_INTERESTING_ATTENTION,
        IMAGE_INTERESTING_ENTROPY,
} ImageInteresting;

typedef enum ImageFlip {
        IMAGE_FLIP_HORIZONTAL,
        IMAGE_FLIP_VERTICAL,
        IMAGE_FLIP_BOTH,
} ImageFlip;

/* Resize into w x h (libvips's thumbnail; crop says what a cover keeps).
 * src_path (optional): read the pixels again from that file, so a loader
 * that can shrink on load does ("cannot resize"). */
int image_vips_thumbnail(Image *in, const char *src_path, int w, int h, ImageSize size,
                         ImageInteresting crop, Image **ret, TaskFailure *f);

/* Centre in a w x h canvas filled with bg (r, g, b, alpha 0..255); an alpha
 * band is added when bg is not opaque ("cannot embed"). */
int image_vips_embed_centre(Image *in, int w, int h, const double bg[4], Image **ret, TaskFailure *f);

/* The w x h area at left, top ("cannot crop"). */
int image_vips_extract_area(Image *in, int left, int top, int w, int h, Image **ret, TaskFailure *f);
/* The most interesting w x h area ("cannot crop"). */
int image_vips_smartcrop(Image *in, int w, int h, ImageInteresting i, Image **ret, TaskFailure *f);

/* Rotate clockwise by angle in [0, 360): right angles exactly, others
 * onto a bg canvas (alpha added when bg is not opaque) ("cannot rotate"). */
int image_vips_rotate(Image *in, double angle, const double bg[4], Image **ret, TaskFailure *f);
int image_vips_flip(Image *in, ImageFlip d, Image **ret, TaskFailure *f);

/* 3 colour bands in sRGB (alpha kept) ("cannot convert to sRGB"). */
int image_vips_to_srgb(Image *in, Image **ret, TaskFailure *f);

/* Filters: out = a * in + b on the colour bands (alpha untouched); the
 * others as named. */
int image_vips_linear_colour(Image *in, double a, double b, Image **ret, TaskFailure *f);
int image_vips_grayscale(Image *in, Image **ret, TaskFailure *f);
int image_vips_blur(Image *in, double sigma, Image **ret, TaskFailure *f);
int image_vips_sharpen(Image *in, double sigma, Image **ret, TaskFailure *f);
/* Convolve the colour bands with a 3x3 integer kernel (row by row). */
int image_vips_sharpen_kernel(Image *in, const double k[9], Image **ret, TaskFailure *f);
/* The colour bands of the sRGB image times the 3x3 matrix m (row by row). */
int image_vips_sepia(Image *in, const double m[9], Image **ret, TaskFailure *f);
/* Chroma (LCh) times s. */
int image_vips_saturation(Image *in, double s, Image **ret, TaskFailure *f);
/* Luminance times colour c (r, g, b 0..255), as sRGB; alpha kept. */
int image_vips_tint(Image *in, const double c[3], Image **ret, TaskFailure *f);

/* Watermarks: an RGBA overlay of text in font ("sans bold 24") and colour c
 * (alpha c[3]) at opacity ("cannot render text"); an RGBA overlay of img at
 * opacity; the overlay scaled ("cannot scale watermark"); base with overlay
 * composited at x, y, an alpha band kept only if keep_alpha. */
int image_vips_watermark_text(const char *text, const char *font, const double c[4], double opacity,
                              Image **ret, TaskFailure *f);
int image_vips_watermark_image(Image *img, double opacity, Image **ret, TaskFailure *f);
int image_vips_watermark_scale(Image *in, double scale, Image **ret, TaskFailure *f);
int image_vips_watermark_compose(Image *base, Image *overlay, int x, int y, bool keep_alpha, Image **ret,
                                 TaskFailure *f);

/* ---- encoding ----------------------------------------------------------- */

/* The largest whole-image coefficient buffer a JPEG encoder may keep for
 * progressive or optimize_coding; above it both are off (image-vips.c). */
#define IMAGE_JPEG_WHOLE_BUFFER_MAX (64ULL * 1024 * 1024)

/* format: "jpeg", "png", "webp", "gif", "tiff", "heif", "avif". */
typedef struct ImageSaveOptions {
        const char *format;
        int quality;          /* 1..100; 0 = encoder default */
        bool progressive;     /* jpeg: progressive (see IMAGE_JPEG_WHOLE_BUFFER_MAX); png/gif: interlace */
        bool optimize_coding; /* jpeg (see IMAGE_JPEG_WHOLE_BUFFER_MAX) */
        bool palette;         /* png: quantise to a palette */
        int compression;      /* png: 0..9, -1 = default */
        bool lossless;        /* webp, heif/avif */
        int effort;           /* webp 0..6, avif/heif 0..9, png/gif 1..10; -1 = default */
        bool keep_metadata;   /* false: strip EXIF/XMP/IPTC/ICC */
} ImageSaveOptions;

/* File extension (without dot) for a format, or NULL. */
const char *image_vips_format_extension(const char *format);

/* Whether this libvips can encode the format. */
bool image_vips_can_save(const char *format);

/* Convert to an 8-bit sRGB (or grey) image ready for an encoder, flattening
 * alpha for JPEG. */
int image_vips_prepare_for_save(Image *in, const char *format, Image **ret_out, TaskFailure *f);

/* Prepare and encode. *ret_buf: new, release with image_vips_buffer_free().
 * Decode errors of a lazily read input surface here as Image.Invalid; a
 * format without an encoder is Image.Unsupported. */
int image_vips_save_buffer(Image *in, const ImageSaveOptions *o, void **ret_buf, size_t *ret_len,
                           TaskFailure *f);
void image_vips_buffer_free(void *buf);
