// SPDX-License-Identifier: MIT
/*
 * A flood: N asynchronous commands issued without waiting for any, to a
 * server process on a worker pool; the slots fill and the rest take the
 * backup path.  Each must complete exactly once, with its own echo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cse/atomic.h>

#include "stress.h"

#define FLOOD_SLOTS	1024
#define FLOOD_WAIT_MS	120000

struct flood_cmd {
	struct cse_exec x;
	__u32 in, out, done;
};

static void flood_done(struct cse_exec *x, void *ctx)
{
	struct flood_cmd *cmd = (struct flood_cmd *)x;
	unsigned long *bad = ctx;

	if (x->result || x->output_status_code || cmd->out != cmd->in)
		__atomic_fetch_add(bad, 1, __ATOMIC_RELAXED);
	cse_fetch_add(&cmd->done, 1);
}

int stress_flood(const char *argv0, unsigned long commands, unsigned int seed)
{
	struct cse_client_opts o = { .nslots = FLOOD_SLOTS };
	struct stress_counts n = { .iterations = 1 };
	const char *args[] = { "server", NULL, "--worker", NULL };
	struct flood_cmd *cmds = calloc(commands, sizeof(*cmds));
	unsigned long i, done, issued = 0;
	unsigned int rng = seed;
	struct cse_client *c;
	__u64 deadline;
	char id[64];
	int pid, ret;

	snprintf(id, sizeof(id), "stress-f-%d", (int)getpid());
	args[1] = id;
	(void)argv0;		/* uu_world_init() has found the helper */
	if (!cmds || uu_spawn_helper(args, &pid) || peer_connect(id, &o, &c)) {
		n.crashes++;
		stress_print("flood", &n, seed);
		return 1;
	}
	for (i = 0; i < commands; i++) {
		struct flood_cmd *cmd = &cmds[i];

		cmd->in = stress_rand(&rng);
		cmd->x.input_code = CONF_ECHO;
		cmd->x.input_buffer_base = &cmd->in;
		cmd->x.input_buffer_len = sizeof(cmd->in);
		cmd->x.output_buffer_base = &cmd->out;
		cmd->x.output_buffer_len = sizeof(cmd->out);
		cmd->x.completion = flood_done;
		cmd->x.completion_context = &n.bad;
		ret = cse_execute(c, &cmd->x);
		if (ret)
			n.bad++;	/* a live server: every command is issued */
		else
			issued++;
	}
	deadline = cse_now_ms() + FLOOD_WAIT_MS;
	do {
		done = 0;
		for (i = 0; i < commands; i++)
			done += cse_load_acquire(&cmds[i].done) != 0;
		if (done == issued)
			break;
		cse_sleep_ms(10);
	} while (cse_now_ms() < deadline);
	for (i = 0; i < commands; i++) {
		__u32 d = cse_load_acquire(&cmds[i].done);

		n.duplicated += d > 1;
		n.commands += d == 1;
	}
	n.lost = issued - done;
	if (kill(pid, 0))
		n.crashes++;
	cse_client_deinit(c);
	peer_kill(pid);
	free(cmds);
	stress_print("flood", &n, seed);
	return stress_clean(&n) ? 0 : 1;
}
