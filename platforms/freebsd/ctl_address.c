// SPDX-License-Identifier: MIT
/*
 * FreeBSD: a socket file (posix/ctl_file.c), as FreeBSD has no abstract
 * socket names.  Unlike Linux's abstract names a socket file outlives a
 * server killed with SIGKILL; ctl.c finds such a file stale (nobody
 * accepts on it) and replaces it.
 */
#include "posix.h"

int cse_os_ctl_address(const char *server_id, struct sockaddr_un *sa,
		       socklen_t *len)
{
	return cse_posix_ctl_file_address(server_id, sa, len);
}
