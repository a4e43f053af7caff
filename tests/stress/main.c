// SPDX-License-Identifier: MIT
/*
 * cse-stress: the standing fault-injection suite.
 *
 *   cse-stress lifecycle N SEED   N times: kill -9 the server or a client
 *                                 0-50 ms into a mix of commands
 *   cse-stress flood N SEED       N commands outstanding at once
 *   cse-stress hostile S SEED     S seconds of a client scribbling its FIFOs
 *                                 and slot headers beside an honest one
 *   cse-stress soak S SEED        S seconds of the mix; RSS, fds and
 *                                 threads of both sides sampled
 *   cse-stress slow N SEED        N rounds of a handler sleeping on a backup
 *                                 and on a CSE_SUBMIT_CTL command: another
 *                                 client's added p99, a death's detection
 *
 * Each prints one JSON line of counts and exits 0 only if every count is
 * zero (and the soak's RSS grew at most 64 KiB a minute).
 */
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

extern char **environ;

char stress_self[4096];

void stress_print(const char *part, const struct stress_counts *n, unsigned int seed)
{
	char slope[32] = "null", timed[96] = "";

	if (!strcmp(part, "soak"))
		snprintf(slope, sizeof(slope), "%.1f", n->rss_slope_kib_min);
	if (n->timed)
		snprintf(timed, sizeof(timed), ", \"p99_added_ms\": %.3f, \"death_ms\": %.1f",
			 n->p99_added_ms, n->death_ms);
	printf("{\"part\": \"%s\", \"seed\": %u, \"iterations\": %lu, \"commands\": %lu, "
	       "\"hangs\": %lu, \"lost\": %lu, \"duplicated\": %lu, \"bad\": %lu, "
	       "\"leaked_fds\": %lu, \"leaked_threads\": %lu, \"leaked_shm\": %lu, "
	       "\"crashes\": %lu, \"rss_slope_kib_min\": %s, \"rss_judged\": %s%s}\n",
	       part, seed, n->iterations, n->commands, n->hangs, n->lost, n->duplicated,
	       n->bad, n->leaked_fds, n->leaked_threads, n->leaked_shm, n->crashes,
	       slope, n->rss_judged ? "true" : "false", timed);
	fflush(stdout);
}

#define RSS_SLOPE_MAX_KIB_MIN	64.0

bool stress_clean(const struct stress_counts *n)
{
	return !n->hangs && !n->lost && !n->duplicated && !n->bad && !n->leaked_fds &&
	       !n->leaked_threads && !n->leaked_shm && !n->crashes &&
	       (!n->rss_judged || n->rss_slope_kib_min <= RSS_SLOPE_MAX_KIB_MIN);
}

static unsigned long excess(int now, int base)
{
	return now > base ? (unsigned long)(now - base) : 0;
}

void stress_leaks(struct stress_counts *n, const struct res_count *base)
{
	struct res_count settled = *base, now;	/* res_settle may lower its threads */

	if (res_settle(&settled, 3000, &now))
		return;
	n->leaked_fds += excess(now.fds, settled.fds);
	n->leaked_threads += excess(now.threads, settled.threads);
	n->leaked_shm += excess(now.shm, settled.shm) + excess(now.maps, settled.maps);
}

bool stress_join(pthread_t t, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return !pthread_timedjoin_np(t, NULL, &ts);
}

/* Entries of a /proc fd folder, "." and ".." aside; -1 if unreadable. */
static int count_fd_dir(const char *path)
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

int proc_sample(int pid, struct proc_sample *s)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), pid ? "/proc/%d/status" : "/proc/self/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -ENOENT;
	s->rss_kib = -1;
	s->threads = -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &s->rss_kib);
		sscanf(line, "Threads: %d", &s->threads);
	}
	fclose(f);
	snprintf(path, sizeof(path), pid ? "/proc/%d/fd" : "/proc/self/fd", pid);
	/* our own count includes the fd opendir holds while counting */
	s->fds = count_fd_dir(path) - (pid ? 0 : 1);
	return 0;
}

int stress_spawn_self(const char *const *args, int *pid, int stdout_fd)
{
	posix_spawn_file_actions_t fa;
	char *argv[8];
	int i, ret;

	argv[0] = stress_self;
	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	posix_spawn_file_actions_init(&fa);
	if (stdout_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDOUT_FILENO);
	ret = posix_spawn(pid, stress_self, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -ret;
}

static int usage(void)
{
	fprintf(stderr, "usage: cse-stress lifecycle N SEED | flood N SEED | "
			"hostile SECONDS SEED | soak SECONDS SEED | slow N SEED\n");
	return 2;
}

int main(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", stress_self, sizeof(stress_self) - 1);
	unsigned long count;
	unsigned int seed;

	if (n > 0)
		stress_self[n] = '\0';
	uu_world_init(argv[0]);
	if (argc == 4 && !strcmp(argv[1], "--mix"))
		return stress_mix_client(argv[2], (unsigned int)strtoul(argv[3], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "--honest"))
		return stress_honest_client(argv[2], (unsigned int)strtoul(argv[3], NULL, 0));
	if (argc != 4)
		return usage();
	count = strtoul(argv[2], NULL, 0);
	seed = (unsigned int)strtoul(argv[3], NULL, 0);
	if (!strcmp(argv[1], "lifecycle"))
		return stress_lifecycle(argv[0], count, seed);
	if (!strcmp(argv[1], "flood"))
		return stress_flood(argv[0], count, seed);
	if (!strcmp(argv[1], "hostile"))
		return stress_hostile(argv[0], (unsigned int)count, seed);
	if (!strcmp(argv[1], "soak"))
		return stress_soak(argv[0], (unsigned int)count, seed);
	if (!strcmp(argv[1], "slow"))
		return stress_slow(argv[0], count, seed);
	return usage();
}
