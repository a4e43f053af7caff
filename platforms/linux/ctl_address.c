// SPDX-License-Identifier: MIT
/*
 * Linux: an abstract socket name, "\0cse.<server_id>".  It disappears with
 * the last socket bound to it, so a dead server never leaves a stale name,
 * and no directory has to exist or be cleaned.  Abstract names are scoped to
 * the network namespace: client and server must share one.
 */
#include <stddef.h>

#include "posix.h"

#define CTL_PREFIX "cse."

int cse_os_ctl_address(const char *server_id, struct sockaddr_un *sa,
		       socklen_t *len)
{
	size_t plen = sizeof(CTL_PREFIX) - 1;
	size_t idlen = strlen(server_id);

	/* Leading NUL, prefix, id; no terminator: the length delimits it. */
	if (1 + plen + idlen > sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	sa->sun_family = AF_UNIX;
	sa->sun_path[0] = '\0';
	memcpy(sa->sun_path + 1, CTL_PREFIX, plen);
	memcpy(sa->sun_path + 1 + plen, server_id, idlen);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + plen +
			   idlen);
	return 0;
}
