// SPDX-License-Identifier: MIT
/*
 * cse-conformance: the conformance run of a user-space client.  Starts two
 * conformance servers (inline and worker by default) as separate processes,
 * or uses the kernel's (--kernel-servers, for U-K), then runs every
 * scenario in its own forked child and prints KTAP.
 *   cse-conformance [--list] [--kernel-servers INLINE_ID WORKER_ID] [SCENARIO...]
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "../ktap.h"
#include "uu_world.h"

static char server_id[64], worker_server_id[64], spare_server_id[64];
static bool kernel_servers;

/* Servers we did not start (a kernel's): we cannot start one to kill. */
static int no_spawn(struct conf_env *env, const char *id)
{
	(void)env;
	(void)id;
	return -EOPNOTSUPP;
}

/* In the case's own child process (ktap.h). */
static int run_scenario(const struct ktap_case *c)
{
	const struct conf_scenario *s = c->data;
	struct conf_env env;
	int ret;

	/*
	 * The scenarios' diagnostics are cse_log() lines, which user space
	 * writes to stderr: into the KTAP output with them, between this
	 * case's start and its result line, as the kernel log has them.
	 */
	dup2(STDOUT_FILENO, STDERR_FILENO);
	uu_env_init(&env, server_id, worker_server_id, spare_server_id);
	if (kernel_servers) {
		env.spawn_server = no_spawn;
		env.sync_backup = CSE_BACKUP_CALL;
	}
	ret = s->run(&env);
	if (ret == CONF_SKIP)
		return ktap_skip(env.skip_reason);
	return ret;
}

/*
 * Until @id accepts a client: then its signals are blocked and a SIGTERM
 * stops it cleanly (one sent while it still started would kill it, and a
 * run of one short scenario is over that soon).
 */
static int wait_for_server(const char *id)
{
	__u64 deadline = cse_now_ms() + 10000;
	struct cse_client *c;
	int ret;

	while ((ret = cse_client_init(&c, id, NULL)) == -ENOENT && cse_now_ms() < deadline)
		cse_sleep_ms(5);
	if (!ret)
		cse_client_deinit(c);
	return ret;
}

int main(int argc, char **argv)
{
	static struct ktap_case cases[64];
	const char *srv[] = { "server", server_id, NULL };
	const char *wsrv[] = { "server", worker_server_id, "--worker", NULL };
	int pids[2] = { 0, 0 };
	unsigned int i;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < conf_nscenarios && i < 64; i++) {
		cases[i].name = conf_scenarios[i].name;
		cases[i].fn = run_scenario;
		cases[i].timeout_s = conf_scenarios[i].timeout_s;
		cases[i].data = &conf_scenarios[i];
	}
	if (argc > 1 && !strcmp(argv[1], "--list"))
		return ktap_main(argc, argv, cases, i);

	uu_world_init(argv[0]);
	snprintf(spare_server_id, sizeof(spare_server_id), "conf-%d-spare",
		 (int)getpid());
	if (argc > 3 && !strcmp(argv[1], "--kernel-servers")) {
		kernel_servers = true;
		snprintf(server_id, sizeof(server_id), "%s", argv[2]);
		snprintf(worker_server_id, sizeof(worker_server_id), "%s", argv[3]);
		argv[3] = argv[0];
		return ktap_main(argc - 3, argv + 3, cases, i);
	}
	snprintf(server_id, sizeof(server_id), "conf-%d-inline", (int)getpid());
	snprintf(worker_server_id, sizeof(worker_server_id), "conf-%d-worker",
		 (int)getpid());
	if (uu_spawn_helper(srv, &pids[0]) || uu_spawn_helper(wsrv, &pids[1]) ||
	    wait_for_server(server_id) || wait_for_server(worker_server_id)) {
		fprintf(stderr, "cannot start %s\n", uu_helper_path);
		ret = 2;
		goto out;
	}
	ret = ktap_main(argc, argv, cases, i);
out:
	/*
	 * The servers must exit cleanly when asked: a crash or a sanitizer
	 * report in a server fails the run even if every scenario passed.
	 */
	for (i = 0; i < 2; i++) {
		int status = 0;

		if (!pids[i])
			continue;
		kill(pids[i], SIGTERM);
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "cse-conformance: server %s exited abnormally (status %#x)\n",
				i ? worker_server_id : server_id, status);
			ret = ret ? ret : 3;
		}
	}
	return ret;
}
