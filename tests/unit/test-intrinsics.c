/* SPDX-License-Identifier: MIT */
#include "test.h"
#include "asl-intrinsics.h"
