/* SPDX-License-Identifier: MIT */
#include "asl-engine.h"
