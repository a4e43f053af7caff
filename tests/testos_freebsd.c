// SPDX-License-Identifier: MIT
/*
 * tests/testos.h on FreeBSD: sysctl(3) where Linux has /proc (FreeBSD
 * mounts no procfs by default, and /dev/fd lists only 0-2 without
 * fdescfs), and procctl(2) for the parent-death signal.
 */
#include <sys/types.h>
#include <sys/procctl.h>
#include <sys/sysctl.h>
#include <sys/user.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testos.h"

/*
 * The records behind @mib, in a buffer the caller frees; NULL on failure.
 * The list may grow between the size query and the read: leave room, and
 * start over if it still did not fit.
 */
static void *sysctl_records(const int *mib, unsigned int miblen, size_t *len)
{
	void *buf;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		if (sysctl(mib, miblen, NULL, len, NULL, 0))
			return NULL;
		*len += *len / 4 + 4096;
		buf = malloc(*len);
		if (!buf)
			return NULL;
		if (!sysctl(mib, miblen, buf, len, NULL, 0))
			return buf;
		free(buf);
		if (errno != ENOMEM)
			return NULL;
	}
	return NULL;
}

int testos_self_exe(char *buf, size_t size)
{
	const int mib[] = { CTL_KERN, KERN_PROC, KERN_PROC_PATHNAME, -1 };

	if (sysctl(mib, 4, buf, &size, NULL, 0))
		return -errno;
	return 0;
}

int testos_count_fds(void)
{
	const int mib[] = { CTL_KERN, KERN_PROC, KERN_PROC_NFDS, 0 };
	int n;
	size_t len = sizeof(n);

	return sysctl(mib, 4, &n, &len, NULL, 0) ? -1 : n;
}

/* One struct kinfo_proc per thread. */
int testos_count_threads(void)
{
	const int mib[] = { CTL_KERN, KERN_PROC,
			    KERN_PROC_PID | KERN_PROC_INC_THREAD, (int)getpid() };
	struct kinfo_proc *kp;
	size_t len;
	int n = -1;

	kp = sysctl_records(mib, 4, &len);
	if (kp && len >= sizeof(*kp) &&
	    kp->ki_structsize == (int)sizeof(*kp))
		n = (int)(len / sizeof(*kp));
	free(kp);
	return n;
}

/* CSE's named objects (posixshmcontrol ls): struct kinfo_file records. */
int testos_count_shm(void)
{
	struct kinfo_file *kf;
	int mib[CTL_MAXNAME];
	size_t miblen = CTL_MAXNAME, len;
	char *buf, *p;
	int n = 0;

	if (sysctlnametomib("kern.ipc.posix_shm_list", mib, &miblen))
		return -1;
	buf = sysctl_records(mib, (unsigned int)miblen, &len);
	if (!buf)
		return -1;
	for (p = buf; p < buf + len; p += kf->kf_structsize) {
		kf = (struct kinfo_file *)(void *)p;
		if (kf->kf_structsize <= 0 ||
		    (size_t)kf->kf_structsize > (size_t)(buf + len - p)) {
			n = -1;
			break;
		}
		/* shm_open() names start with '/' */
		n += !strncmp(kf->kf_path, "/" TESTOS_SHM_PREFIX,
			      strlen("/" TESTOS_SHM_PREFIX));
	}
	free(buf);
	return n;
}

/*
 * The kernel marks a mapping of any POSIX shm object, memfds included,
 * with KVME_FLAG_POSIXSHM; nothing else in a test process maps one.
 */
int testos_count_chunk_maps(void)
{
	const int mib[] = { CTL_KERN, KERN_PROC, KERN_PROC_VMMAP, (int)getpid() };
	struct kinfo_vmentry *kve;
	char *buf, *p;
	size_t len;
	int n = 0;

	buf = sysctl_records(mib, 4, &len);
	if (!buf)
		return -1;
	for (p = buf; p < buf + len; p += kve->kve_structsize) {
		kve = (struct kinfo_vmentry *)(void *)p;
		if (kve->kve_structsize <= 0 ||
		    (size_t)kve->kve_structsize > (size_t)(buf + len - p)) {
			n = -1;
			break;
		}
		n += (kve->kve_flags & KVME_FLAG_POSIXSHM) != 0;
	}
	free(buf);
	return n;
}

void testos_die_with_parent(int sig)
{
	procctl(P_PID, 0, PROC_PDEATHSIG_CTL, &sig);
}
