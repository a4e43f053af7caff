// SPDX-License-Identifier: MIT
/*
 * The user-space half of CSE_MODULE() (cse/module.h): a module's main().
 * The kernel half is module_init/module_exit, all in the header.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <cse/cse.h>
#include <cse/module.h>

static void usage(FILE *f, const char *prog, const char *description)
{
	fprintf(f, "usage: %s [SERVER_ID [OPTIONS]]\n%s\n", prog,
		description ? description : "");
}

int cse_module_main(int argc, char **argv, cse_module_start_fn start,
		    cse_module_stop_fn stop, const char *description)
{
	const char *prog = argc > 0 ? argv[0] : "cse-module";
	sigset_t set;
	int ret, sig;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout, prog, description);
		return 0;
	}
	if (argc > 3) {
		usage(stderr, prog, description);
		return 2;
	}
	/*
	 * Blocked before any thread starts, so every thread inherits the
	 * mask and sigwait() below is the only taker: the module's stop then
	 * runs on this thread, in order, never in a signal handler.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ret = start(argc > 1 ? argv[1] : NULL, argc > 2 ? argv[2] : NULL);
	if (ret < 0) {
		fprintf(stderr, "%s: %s\n", prog, cse_strerror(ret));
		return 1;
	}
	if (ret != CSE_MODULE_DONE) {
		do {
			ret = sigwait(&set, &sig);
		} while (ret == EINTR);
	}
	stop();
	return 0;
}
