// SPDX-License-Identifier: MIT
/*
 * The user-space starter's half of struct conf_env: peers are real
 * processes (the cse-conf-helper binary) started with posix_spawn, so that
 * killing one is a real SIGKILL of a real peer, and no process forks while
 * it has threads (which ThreadSanitizer cannot follow).  Everything else a
 * scenario needs is env.h's, the same in the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../ktap.h"
#include "../test_spawn.h"
#include "../testos.h"
#include "uu_world.h"

char uu_helper_path[4096];

#define MAX_PEERS 8

static struct {
	char id[CSE_SERVER_ID_MAX];
	pid_t pid;
} peers[MAX_PEERS];

/*
 * The peers are cse-conf-helper beside us, unless $CSE_CONF_HELPER names
 * another program with its command line (the Python binding's conformance
 * server, tests/pycse/conf_server.py, so the scenarios run against it).
 */
#define UU_HELPER_ENV "CSE_CONF_HELPER"

void uu_world_init(const char *argv0)
{
	const char *helper = getenv(UU_HELPER_ENV);
	char self[4096];
	char *slash;

	if (helper && *helper) {
		snprintf(uu_helper_path, sizeof(uu_helper_path), "%s", helper);
		return;
	}
	if (testos_self_exe(self, sizeof(self)))
		snprintf(self, sizeof(self), "%s", argv0);
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(self, ".");
	/* Beside us (tests/), or one level up (tests/unit/). */
	snprintf(uu_helper_path, sizeof(uu_helper_path), "%s/cse-conf-helper", self);
	if (access(uu_helper_path, X_OK))
		snprintf(uu_helper_path, sizeof(uu_helper_path),
			 "%s/../cse-conf-helper", self);
}

/* Spawn the helper; with @stdout_fd >= 0, its stdout goes there. */
static int spawn_helper(const char *const *args, int *pid, int stdout_fd)
{
	posix_spawn_file_actions_t fa;
	char *argv[8];
	pid_t p;
	int i, ret;

	argv[0] = uu_helper_path;
	for (i = 0; args[i] && i < 6; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	ret = posix_spawn_file_actions_init(&fa);
	if (ret)
		return -ret;
	if (stdout_fd >= 0)
		ret = posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDOUT_FILENO);
	if (!ret)
		ret = test_spawn(&p, uu_helper_path, &fa, argv);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		return -ret;
	*pid = p;
	return 0;
}

int uu_spawn_helper(const char *const *args, int *pid)
{
	return spawn_helper(args, pid, -1);
}

static int env_spawn_server(struct conf_env *env, const char *id)
{
	const char *args[] = { "server", id, NULL };
	int i, pid, ret;

	(void)env;
	for (i = 0; i < MAX_PEERS && peers[i].pid; i++)
		;
	if (i == MAX_PEERS)
		return -ENOSPC;
	ret = uu_spawn_helper(args, &pid);
	if (ret)
		return ret;
	snprintf(peers[i].id, sizeof(peers[i].id), "%s", id);
	peers[i].pid = pid;
	return 0;
}

static int env_kill_server(struct conf_env *env, const char *id)
{
	int i;

	(void)env;
	for (i = 0; i < MAX_PEERS; i++) {
		if (peers[i].pid && !strcmp(peers[i].id, id)) {
			kill(peers[i].pid, SIGKILL);
			waitpid(peers[i].pid, NULL, 0);
			peers[i].pid = 0;
			return 0;
		}
	}
	return -ENOENT;
}

static int env_spawn_doomed_client(struct conf_env *env, const char *server_id,
				   __u32 submit, unsigned int sleep_ms,
				   unsigned int kill_after_ms)
{
	char ms[16];
	const char *args[] = { "doomed-client", server_id, ms,
			       submit == CSE_SUBMIT_CALL ? "call" : NULL, NULL };
	int pid, ret;

	struct pollfd pfd = { .events = POLLIN };
	int fds[2];
	char line[64];

	(void)env;
	snprintf(ms, sizeof(ms), "%u", sleep_ms);
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	ret = spawn_helper(args, &pid, fds[1]);
	close(fds[1]);
	if (ret) {
		close(fds[0]);
		return ret;
	}
	/*
	 * Start the clock when it has connected and is about to issue its
	 * command (it says so on stdout), not at spawn: on a slow machine (a
	 * VM under TCG) starting and connecting alone can take longer than
	 * @kill_after_ms, and a client killed before it connected tests nothing.
	 */
	pfd.fd = fds[0];
	if (poll(&pfd, 1, 20000) == 1)
		ret = read(fds[0], line, sizeof(line)) > 0 ? 0 : -EPIPE;
	else
		ret = -ETIMEDOUT;
	close(fds[0]);
	if (!ret)
		cse_sleep_ms(kill_after_ms);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return ret;
}

void uu_env_init(struct conf_env *env, const char *server_id,
		 const char *worker_server_id, const char *spare_server_id)
{
	memset(env, 0, sizeof(*env));
	env->server_id = server_id;
	env->worker_server_id = worker_server_id;
	env->spare_server_id = spare_server_id;
	env->spawn_server = env_spawn_server;
	env->kill_server = env_kill_server;
	env->spawn_doomed_client = env_spawn_doomed_client;
	env->sync_backup = CSE_BACKUP_MSG;
}
