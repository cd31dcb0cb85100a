/* SPDX-License-Identifier: MIT */
#include "test.h"
#include "asl-engine.h"
