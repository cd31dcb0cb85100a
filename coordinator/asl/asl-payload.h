/* SPDX-License-Identifier: MIT */
#pragma once
#include "asl-util.h"
