/* SPDX-License-Identifier: MIT */
#include "test.h"
#include "asl-definition.h"
