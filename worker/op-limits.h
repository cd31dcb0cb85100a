/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The limits of one image task, shared by the operations (image-ops.h) and
 * the libvips boundary (image-vips.h) without either including the other.
 */

#include <stdint.h>

/* Per-task limits; every caller-controlled size has one (STYLE 12). */
typedef struct OpLimits {
        uint64_t max_pixels;       /* width * height * pages of an input */
        uint64_t max_input_bytes;  /* size of an input file */
        uint64_t max_memory_bytes; /* width * height * bands * bytes per band */
        uint32_t max_dimension;    /* largest output width/height */
        uint32_t max_sleep_ms;     /* test.sleep */
} OpLimits;

#define OP_LIMITS_DEFAULT_MAX_PIXELS       UINT64_C(100000000)  /* 100 MP */
#define OP_LIMITS_DEFAULT_MAX_INPUT_BYTES  (UINT64_C(64) << 20) /* 64 MiB */
#define OP_LIMITS_DEFAULT_MAX_MEMORY_BYTES (UINT64_C(1) << 30)  /* 1 GiB */
#define OP_LIMITS_DEFAULT_MAX_DIMENSION    16384u
#define OP_LIMITS_DEFAULT_MAX_SLEEP_MS     60000u

/* Fill *l with the defaults above. */
static inline void op_limits_init_default(OpLimits *l) {
        *l = (OpLimits) {
                .max_pixels = OP_LIMITS_DEFAULT_MAX_PIXELS,
                .max_input_bytes = OP_LIMITS_DEFAULT_MAX_INPUT_BYTES,
                .max_memory_bytes = OP_LIMITS_DEFAULT_MAX_MEMORY_BYTES,
                .max_dimension = OP_LIMITS_DEFAULT_MAX_DIMENSION,
                .max_sleep_ms = OP_LIMITS_DEFAULT_MAX_SLEEP_MS,
        };
}
