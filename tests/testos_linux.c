// SPDX-License-Identifier: MIT
/* tests/testos.h on Linux: /proc, /dev/shm and prctl. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "testos.h"

/*
 * Entries of a directory, "." and ".." aside, whose name starts with
 * @prefix and that @keep (NULL: all) accepts; -1 if it cannot be read.
 */
static int count_dir(const char *path, const char *prefix,
		     bool (*keep)(const char *name))
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' &&
		     !strncmp(e->d_name, prefix, strlen(prefix)) &&
		     (!keep || keep(e->d_name));
	closedir(d);
	return n;
}

/* PF_EXITING in /proc/<pid>/task/<tid>/stat's flags (include/linux/sched.h). */
#define TASK_PF_EXITING	0x4U

/* Is thread @tid of this process still running (not past do_exit's start)? */
static bool task_alive(const char *tid)
{
	char path[64], buf[512], *p;
	unsigned long flags = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return false;	/* gone meanwhile */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name in parentheses may hold anything: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return true;
	return !(flags & TASK_PF_EXITING);
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
	int n = count_dir("/proc/self/fd", "", NULL);

	/* opendir itself holds one fd while counting */
	return n < 0 ? n : n - 1;
}

int testos_count_threads(void)
{
	return count_dir("/proc/self/task", "", task_alive);
}

int testos_count_shm(void)
{
	return count_dir("/dev/shm", TESTOS_SHM_PREFIX, NULL);
}

int testos_count_chunk_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "memfd:cse") || strstr(line, "/dev/shm/" TESTOS_SHM_PREFIX);
	fclose(f);
	return n;
}

void testos_die_with_parent(int sig)
{
	prctl(PR_SET_PDEATHSIG, sig);
}
