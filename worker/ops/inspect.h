/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Inspecting an image without writing one: image.validate (header checks,
 * then a full decode) and image.metadata (header fields, EXIF, XMP, IPTC and
 * the ICC profile's description, inspect-icc.h).
 */

#include "image-ops.h"

extern const ParamSpec inspect_validate_params[];
extern const ParamSpec inspect_metadata_params[];

/* An invalid image is a result ({"isValid": false, "error", "reason"}),
 * not a failure, unless failOnInvalid; storage errors are failures. */
int inspect_validate(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
int inspect_metadata(Storage *s, json_t *params, const OpContext *ctx, json_t **ret, TaskFailure *f);
