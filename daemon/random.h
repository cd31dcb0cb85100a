/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Random bytes from the kernel (getrandom(2)): the one copy of the loop.
 * Randomness is I/O of a kind, so this lives in daemon/, never in lib/ or
 * coordinator/asl/ (the engine gets its randomness through AslEnv.random;
 * the daemons and the CLI hand it random_fill()).
 */

#include <stddef.h>

/* Fills buf with n random bytes; retries EINTR and short reads (getrandom
 * blocks only until the kernel's pool is first ready, at boot). Returns 0 or
 * -errno (-ENOSYS, -EFAULT: nothing a caller can fix). */
int random_bytes(void *buf, size_t n);

/* random_bytes() in the shape of AslEnv.random (userdata unused); aborts if
 * the kernel gives no random bytes, as the engine cannot go on without. */
void random_fill(void *userdata, void *buf, size_t n);
