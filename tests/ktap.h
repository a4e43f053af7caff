/* SPDX-License-Identifier: MIT */
/*
 * A small kselftest-style harness for user-space C tests: every case runs
 * in its own forked child with a timeout, and the results are printed as
 * KTAP.  `prog --list` prints the case names, `prog NAME...` runs only
 * those.  A case returns 0 (pass), KTAP_SKIP after ktap_skip(), or fails
 * (any other return, a crash, or the timeout).
 */
#ifndef CSE_TESTS_KTAP_H
#define CSE_TESTS_KTAP_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KTAP_SKIP 4

struct ktap_case {
	const char *name;
	int (*fn)(const struct ktap_case *c);
	unsigned int timeout_s;		/* 0: 30 s */
	const void *data;		/* for fn's own use */
};

/* One descriptor for the whole program (weak: this header is in several files). */
__attribute__((weak)) int ktap_skip_fd = -1;

/* Diagnostic line, shown with the case's result. */
static inline __attribute__((format(printf, 1, 2))) void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
}

/* Record why the case skips; return KTAP_SKIP from the case afterwards. */
static inline int ktap_skip(const char *why)
{
	if (ktap_skip_fd >= 0 && write(ktap_skip_fd, why, strlen(why)) < 0)
		return KTAP_SKIP;
	return KTAP_SKIP;
}

#define KTAP_CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			ktap_diag("%s:%d: check failed: %s", __FILE__,	\
				  __LINE__, #cond);			\
			ktap_diag(__VA_ARGS__);				\
			return 1;					\
		}							\
	} while (0)

static inline int ktap_wait_child(pid_t pid, unsigned int timeout_s,
				  int *status)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((unsigned int)(t.tv_sec - t0.tv_sec) >= timeout_s) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return 1;
		}
		usleep(2000);
	}
}

static inline int ktap_run_one(const struct ktap_case *c, int num)
{
	char why[256] = "";
	int pfd[2], status = 0, timed_out;
	unsigned int timeout = c->timeout_s ? c->timeout_s : 30;
	pid_t pid;
	ssize_t n;

	if (pipe(pfd))
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* Own process group, so a timeout also kills helpers it spawned. */
		setpgid(0, 0);
		close(pfd[0]);
		ktap_skip_fd = pfd[1];
		exit(c->fn(c));
	}
	close(pfd[1]);
	timed_out = ktap_wait_child(pid, timeout, &status);
	/* Reap helper processes the case left behind in its group. */
	kill(-pid, SIGKILL);
	n = read(pfd[0], why, sizeof(why) - 1);
	close(pfd[0]);
	why[n > 0 ? n : 0] = '\0';

	if (timed_out) {
		printf("not ok %d %s # TIMEOUT after %u s\n", num, c->name, timeout);
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == KTAP_SKIP) {
		printf("ok %d %s # SKIP %s\n", num, c->name, why);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok %d %s\n", num, c->name);
		return 0;
	}
	if (WIFSIGNALED(status))
		printf("not ok %d %s # killed by signal %d\n", num, c->name,
		       WTERMSIG(status));
	else
		printf("not ok %d %s # exit %d\n", num, c->name,
		       WEXITSTATUS(status));
	return 1;
}

static inline int ktap_main(int argc, char **argv, const struct ktap_case *cases,
			    size_t n)
{
	size_t i, planned = 0;
	int a, failed = 0, num = 0;

	if (argc > 1 && !strcmp(argv[1], "--list")) {
		for (i = 0; i < n; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	for (i = 0; i < n; i++) {
		bool want = argc < 2;

		for (a = 1; a < argc && !want; a++)
			want = !strcmp(argv[a], cases[i].name);
		planned += want;
	}
	printf("KTAP version 1\n1..%zu\n", planned);
	for (i = 0; i < n; i++) {
		bool want = argc < 2;

		for (a = 1; a < argc && !want; a++)
			want = !strcmp(argv[a], cases[i].name);
		if (want)
			failed += ktap_run_one(&cases[i], ++num);
	}
	fflush(stdout);
	return failed ? 1 : 0;
}

#define KTAP_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Take "NAME VALUE" off the front of the arguments; VALUE, or NULL. */
static inline const char *ktap_option(int *argc, char ***argv, const char *name)
{
	const char *v;

	if (*argc < 3 || strcmp((*argv)[1], name))
		return NULL;
	v = (*argv)[2];
	(*argv)[2] = (*argv)[0];	/* keep the program name first */
	*argc -= 2;
	*argv += 2;
	return v;
}

#endif /* CSE_TESTS_KTAP_H */
