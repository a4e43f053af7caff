// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include "posix.h"

void *cse_os_zalloc(size_t size)
{
	/* calloc(0) may return NULL or a unique pointer: ask for one byte. */
	return calloc(1, size ? size : 1);
}

void cse_os_free(void *p)
{
	free(p);
}
