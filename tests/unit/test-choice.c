/* SPDX-License-Identifier: MIT */
#include "test.h"
#include "asl-choice.h"
