// SPDX-License-Identifier: MIT
/* tests/testos.h on Linux: /proc, /dev/shm and prctl. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "testos.h"

/* Entries of a directory, "." and ".." aside; -1 if it cannot be read. */
static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int testos_self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int testos_count_fds(void)
{
	int n = count_dir("/proc/self/fd");

	/* opendir itself holds one fd while counting */
	return n < 0 ? n : n - 1;
}

int testos_count_threads(void)
{
	return count_dir("/proc/self/task");
}

int testos_count_shm(void)
{
	return count_dir("/dev/shm");
}

int testos_count_chunk_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "memfd:cse") || strstr(line, "/dev/shm/cse");
	fclose(f);
	return n;
}

void testos_die_with_parent(int sig)
{
	prctl(PR_SET_PDEATHSIG, sig);
}
