/* SPDX-License-Identifier: MIT */
#include "asl-jsonpath.h"
