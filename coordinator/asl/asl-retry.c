/* SPDX-License-Identifier: MIT */
#include "asl-retry.h"
