/* SPDX-License-Identifier: MIT */
#include "asl-definition.h"
