// SPDX-License-Identifier: MIT
/*
 * Shared regions are sealed memfds, as on Linux (posix/shm_memfd.c, which
 * also adopts a peer's): FreeBSD has had memfd_create(3) (an anonymous
 * POSIX shm object, shm_open2(SHM_ANON)) and fcntl(2) seals since 13.0.
 *
 * A bare shm_open(SHM_ANON) object cannot be sealed (the kernel gives it
 * F_SEAL_SEAL from the start), so a peer of this backend would refuse it:
 * it is no fallback.  FreeBSD releases before 13 lack both memfd_create
 * and seals; this backend needs 14 (poller.c's kqueuex), and such a system
 * can use the emulated backend.
 */
#include "posix.h"

int cse_os_shm_create(struct cse_os_ctl *ctl, size_t size,
		      struct cse_os_shm **out)
{
	(void)ctl;	/* no kernel peer (posix/dev_none.c): every region is ours */
	return cse_posix_memfd_create(size, out);
}
