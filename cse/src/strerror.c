// SPDX-License-Identifier: MIT
/* Names for CSE return values, identical in user space and the kernel. */
#include <cse/cse.h>
#include <cse/os.h>

const char *cse_strerror(int err)
{
	switch (err) {
	case 0:			return "success";
	case -EINVAL:		return "invalid argument";
	case -ENOMEM:		return "out of memory";
	case -ENOENT:		return "no such server";
	case -EADDRINUSE:	return "server id already in use";
	case -ECONNREFUSED:	return "server refused the connection";
	case -ECONNRESET:	return "peer died or disconnected";
	case -EPIPE:		return "peer closed the channel";
	case -EPROTO:		return "protocol violation by the peer";
	case -EPROTONOSUPPORT:	return "peer speaks another ABI version";
	case -ENOEXEC:		return "peer uses the other byte order";
	case -EMSGSIZE:		return "command too large";
	case -ETIMEDOUT:	return "timed out";
	case -EAGAIN:		return "no free command slot";
	case -EOPNOTSUPP:	return "not supported on this platform";
	case -EPERM:		return "operation not permitted";
	case -ENAMETOOLONG:	return "name too long";
	case -EMFILE:		return "too many open files (process limit)";
	case -ENFILE:		return "too many open files (system limit)";
	default:		return "unknown error";
	}
}
