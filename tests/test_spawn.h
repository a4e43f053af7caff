/* SPDX-License-Identifier: MIT */
/*
 * posix_spawn for the test programs, through an emulator when the runner
 * names one.  A build for another architecture runs under qemu-user without
 * binfmt_misc (registering it would change the user's machine), so the
 * kernel cannot exec our helpers by themselves: the runner sets
 * $CSE_TEST_EXEC_WRAPPER to the emulator (/usr/bin/qemu-aarch64), and
 * QEMU_LD_PREFIX reaches it through the environment.
 */
#ifndef CSE_TEST_TEST_SPAWN_H
#define CSE_TEST_TEST_SPAWN_H

#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>

#define TEST_SPAWN_WRAPPER_ENV "CSE_TEST_EXEC_WRAPPER"
#define TEST_SPAWN_MAX_ARGS 16

extern char **environ;

/* Does the runner run this program under an emulator (qemu-user)? */
static inline bool test_under_emulator(void)
{
	const char *wrapper = getenv(TEST_SPAWN_WRAPPER_ENV);

	return wrapper && *wrapper;
}

/* posix_spawn(@pid, @path, @fa, NULL, @argv, environ), or the same under
 * the wrapper; returns 0 or a positive error number, as posix_spawn does. */
static inline int test_spawn(pid_t *pid, const char *path,
			     const posix_spawn_file_actions_t *fa,
			     char *const argv[])
{
	const char *wrapper = getenv(TEST_SPAWN_WRAPPER_ENV);
	char *wrapped[TEST_SPAWN_MAX_ARGS + 2];
	int i;

	if (!wrapper || !*wrapper)
		return posix_spawn(pid, path, fa, NULL, argv, environ);
	wrapped[0] = (char *)wrapper;
	wrapped[1] = (char *)path;	/* the emulator's program; argv[0] is dropped */
	for (i = 1; argv[i]; i++) {
		if (i > TEST_SPAWN_MAX_ARGS)
			return E2BIG;
		wrapped[i + 1] = argv[i];
	}
	wrapped[i + 1] = NULL;
	return posix_spawn(pid, wrapper, fa, NULL, wrapped, environ);
}

#endif /* CSE_TEST_TEST_SPAWN_H */
