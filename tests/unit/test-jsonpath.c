/* SPDX-License-Identifier: MIT */
#include "test.h"
#include "asl-jsonpath.h"
