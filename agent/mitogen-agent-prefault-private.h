/* mitogen-agent-prefault-private.h — what the agent's page prefault needs
 *
 * Used by mitogen-agent-entry.c (before glibc's start-up) and
 * mitogen-agent-main.c (a constructor): a C library's headers from before
 * Linux 5.14 lack the advice; such a kernel refuses it, and the faults
 * happen as before.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#pragma once

#include <sys/mman.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
