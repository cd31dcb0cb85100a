/* SPDX-License-Identifier: MIT */
#include "asl-choice.h"
