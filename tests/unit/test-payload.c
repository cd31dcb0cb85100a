/* SPDX-License-Identifier: MIT */
#include "test.h"
#include "asl-payload.h"
