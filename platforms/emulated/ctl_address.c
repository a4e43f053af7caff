// SPDX-License-Identifier: MIT
/*
 * Emulated: a socket file (posix/ctl_file.c).  Abstract socket names are
 * Linux only, and this backend must work on any POSIX system.
 */
#include "posix.h"

int cse_os_ctl_address(const char *server_id, struct sockaddr_un *sa,
		       socklen_t *len)
{
	return cse_posix_ctl_file_address(server_id, sa, len);
}
