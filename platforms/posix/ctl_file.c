// SPDX-License-Identifier: MIT
/*
 * A control address that is a socket file, for systems without Linux's
 * abstract socket names (the emulated and FreeBSD backends):
 * "$XDG_RUNTIME_DIR/cse/<id>.sock", or "/tmp/cse-<euid>/<id>.sock" without
 * XDG_RUNTIME_DIR.  Client and server must therefore agree on
 * XDG_RUNTIME_DIR.  The directory is private to the user: one that is not
 * (say, pre-created in /tmp by someone else to catch our sockets) is
 * refused.  ctl.c removes a stale file left by a dead server, and its own
 * on close.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix.h"

static int ctl_dir(char *dir, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(dir, size, "%s/cse", xdg);
	else
		n = snprintf(dir, size, "/tmp/cse-%lu",
			     (unsigned long)geteuid());
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077))
		return -EPERM;
	return 0;
}

int cse_posix_ctl_file_address(const char *server_id, struct sockaddr_un *sa,
			       socklen_t *len)
{
	char dir[sizeof(sa->sun_path)];
	int n, ret;

	ret = ctl_dir(dir, sizeof(dir));
	if (ret)
		return ret;
	/* sun_path is 108 bytes on Linux, 104 on the BSDs: sizeof decides. */
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s.sock", dir,
		     server_id);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	sa->sun_family = AF_UNIX;
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   (size_t)n + 1);
	return 0;
}
