/* SPDX-License-Identifier: MIT */
#include "asl-payload.h"
