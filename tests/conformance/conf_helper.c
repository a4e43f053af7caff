// SPDX-License-Identifier: MIT
/*
 * cse-conf-helper: the peers of the U-U conformance run.
 *   cse-conf-helper server ID [--worker]   serve until SIGTERM/SIGINT
 *   cse-conf-helper doomed-client ID MS [call]
 *                                          issue CONF_SLEEP(MS) (with
 *                                          CSE_SUBMIT_CALL) and wait to be
 *                                          killed mid-command
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testos.h"
#include "uu_world.h"

static int serve(const char *id, bool worker)
{
	struct cse_server_opts o = {
		.default_exec = worker ? CSE_EXEC_WORKER : CSE_EXEC_INLINE,
		.nworkers = 3,
	};
	struct cse_server *s;
	sigset_t set;
	int sig, ret;

	/* Block before any thread exists so every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ret = cse_server_init();
	if (!ret)
		ret = cse_server_create(&s, id, &conf_server_ops, &o);
	if (ret) {
		fprintf(stderr, "cse-conf-helper: server %s: %s\n", id, cse_strerror(ret));
		return 1;
	}
	sigwait(&set, &sig);
	cse_server_destroy(s);
	cse_server_deinit();
	return 0;
}

static int doomed_client(const char *id, unsigned int ms, bool call)
{
	struct cse_client_opts o = { .submit = call ? CSE_SUBMIT_CALL : CSE_SUBMIT_FIFO };
	struct cse_client *c;
	struct cse_exec x = { .input_code = CONF_SLEEP };
	__u32 in = ms, out;
	__u64 deadline = cse_now_ms() + 5000;
	int ret;

	while ((ret = cse_client_init(&c, id, &o)) == -ENOENT && cse_now_ms() < deadline)
		cse_sleep_ms(10);
	if (ret) {
		fprintf(stderr, "cse-conf-helper: connect %s: %s\n", id, cse_strerror(ret));
		return 1;
	}
	x.input_buffer_base = &in;
	x.input_buffer_len = sizeof(in);
	x.output_buffer_base = &out;
	x.output_buffer_len = sizeof(out);
	/* Tell whoever kills us that the command is on its way (a KTAP comment). */
	printf("# doomed client connected\n");
	fflush(stdout);
	cse_execute(c, &x);
	/* Still here: the killer was late.  Keep the connection open anyway. */
	cse_sleep_ms(60000);
	return 0;
}

int main(int argc, char **argv)
{
	/* Never outlive the test that started us. */
	testos_die_with_parent(SIGKILL);
	if (argc >= 3 && !strcmp(argv[1], "server"))
		return serve(argv[2], argc > 3 && !strcmp(argv[3], "--worker"));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "doomed-client"))
		return doomed_client(argv[2], (unsigned int)atoi(argv[3]),
				     argc == 5 && !strcmp(argv[4], "call"));
	fprintf(stderr, "usage: %s server ID [--worker] | doomed-client ID MS [call]\n",
		argv[0]);
	return 2;
}
