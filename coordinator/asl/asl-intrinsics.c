/* SPDX-License-Identifier: MIT */
#include "asl-intrinsics.h"
