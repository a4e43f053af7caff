/* SPDX-License-Identifier: MIT */
/*
 * Helpers for tests that need a real peer process: a conformance server
 * started from cse-conf-helper, and counts of the resources a process
 * holds (fds, threads, /dev/shm entries) to prove nothing leaks.
 */
#ifndef CSE_TESTS_PEER_H
#define CSE_TESTS_PEER_H

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "../conformance/uu_world.h"

/* Entries of @path not starting with '.', and starting with @prefix. */
static inline int count_dir(const char *path, const char *prefix)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' &&
		     !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

/* PF_EXITING in /proc/<pid>/task/<tid>/stat's flags (include/linux/sched.h). */
#define TASK_PF_EXITING	0x4U

/* Is thread @tid of this process on its way out (past do_exit's start)? */
static inline bool task_exiting(const char *tid)
{
	char path[64], buf[512], *p;
	unsigned long flags = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return true;	/* gone meanwhile */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name in parentheses may hold anything: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & TASK_PF_EXITING;
}

/*
 * Threads of this process, not counting those already exiting: a thread
 * pthread_join() has returned for stays listed until the kernel has torn
 * it down, which on a slow (TCG) guest is long enough to be counted, and
 * a baseline that counted it would later see a thread "vanish".
 */
static inline int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' && !task_exiting(e->d_name);
	closedir(d);
	return n;
}

/* The names of the emulated backend's POSIX shm regions start so. */
#define CSE_SHM_PREFIX	"cse."

/* Mappings of CSE chunks (memfd or POSIX shm) in this process. */
static inline int count_chunk_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "memfd:cse") || strstr(line, "/dev/shm/" CSE_SHM_PREFIX);
	fclose(f);
	return n;
}

struct res_count {
	int fds;
	int threads;
	int shm;
	int maps;
};

static inline void *res_noop(void *arg)
{
	return arg;
}

/*
 * Counts now.  The first thread a process creates may also start a
 * sanitizer runtime thread, so start and join one before counting.
 */
static inline struct res_count res_now(void)
{
	static bool warm;
	pthread_t t;

	if (!warm && !pthread_create(&t, NULL, res_noop, NULL)) {
		pthread_join(t, NULL);
		warm = true;
	}
	{
	struct res_count r = {
		/* opendir itself holds one fd while counting */
		.fds = count_dir("/proc/self/fd", "") - 1,
		.threads = count_threads(),
		/* CSE's own only (platforms/emulated/shm.c): the host has others */
		.shm = count_dir("/dev/shm", CSE_SHM_PREFIX),
		.maps = count_chunk_maps(),
	};
	return r;
	}
}

/* Wait up to @ms for the counts to come back to @base (threads exit late). */
static inline bool res_settle(const struct res_count *base, unsigned int ms,
			      struct res_count *now)
{
	for (;;) {
		*now = res_now();
		if (now->fds == base->fds && now->threads == base->threads &&
		    now->shm == base->shm && now->maps == base->maps)
			return true;
		if (!ms--)
			return false;
		uu_sleep_ms(1);
	}
}

/* Start a conformance server process named @id; connect with retries. */
static inline int peer_server(const char *argv0, const char *id, int *pid)
{
	const char *args[] = { "server", id, NULL };

	uu_world_init(argv0);
	return uu_spawn_helper(args, pid);
}

static inline int peer_connect(const char *id, const struct cse_client_opts *o,
			       struct cse_client **c)
{
	__u64 deadline = uu_now_ms() + 5000;
	int ret;

	while ((ret = cse_client_init(c, id, o)) == -ENOENT && uu_now_ms() < deadline)
		uu_sleep_ms(5);
	return ret;
}

static inline void peer_kill(int pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static inline int echo_once(struct cse_client *c, __u32 flags, __u32 v)
{
	struct cse_exec x = {
		.input_code = CONF_ECHO,
		.flags = flags,
		.input_buffer_base = &v,
		.input_buffer_len = sizeof(v),
	};
	__u32 out = 0;
	int ret;

	x.output_buffer_base = &out;
	x.output_buffer_len = sizeof(out);
	ret = cse_execute(c, &x);
	if (ret)
		return ret;
	return (x.output_buffer_len_actual == sizeof(v) && out == v) ? 0 : -EPROTO;
}

#endif /* CSE_TESTS_PEER_H */
