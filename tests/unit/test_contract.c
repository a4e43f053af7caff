// SPDX-License-Identifier: MIT
/*
 * The API's contract at its edges, as cse.h states it: what cse_execute()
 * and cse_client_init() return on each error path, that the return value
 * and x->result always agree, that peer death is always -ECONNRESET, and
 * that an asynchronous execute never blocks its caller.
 *
 * Servers are real peers: cse-conf-helper processes, this binary re-spawned
 * as "--serve ID MODE", or (to stop time at one instant of a server's
 * death) a raw control channel driven by hand.
 */
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <cse/atomic.h>

#include "../ktap.h"
#include "peer.h"
#include "posix.h"

extern char **environ;

static const char *argv0;
static char self[4096];

/* Sentinel: a field the runtime must overwrite. */
#define UNSET	12345

/* ---- a server stopped at the instant it died ---- */

/*
 * Accept one client and welcome it, then shut down our receiving side: the
 * client's sends now fail (as to a server that just died), while its
 * control thread has not seen end-of-file yet.  Closes when told.
 */
static struct {
	struct cse_os_ctl *listener;
	__u32 go_away;
} half;

static void *half_dead_server(void *arg)
{
	struct cse_wire_welcome w = { .hdr.type = CSE_WIRE_WELCOME };
	struct cse_os_ctl *conn = NULL;
	struct cse_os_shm *shm = NULL;
	char buf[256];
	int i;

	(void)arg;
	for (i = 0; i < 2000 && cse_os_ctl_accept(half.listener, &conn); i++)
		uu_sleep_ms(1);
	if (!conn)
		return NULL;
	cse_os_ctl_recv(conn, buf, sizeof(buf), &shm);
	cse_os_ctl_send(conn, &w, sizeof(w), NULL, 0, NULL);
	shutdown(cse_os_ctl_fd(conn), SHUT_RD);
	while (!cse_load_acquire(&half.go_away))
		uu_sleep_ms(1);
	cse_os_ctl_close(conn);
	if (shm)
		cse_os_shm_destroy(shm);
	return NULL;
}

static __u32 completions;

static void count_completion(struct cse_exec *x, void *ctx)
{
	(void)x;
	(void)ctx;
	cse_fetch_add(&completions, 1);
}

static void echo_exec(struct cse_exec *x, __u32 flags, __u32 *in, __u32 *out)
{
	memset(x, 0, sizeof(*x));
	x->input_code = CONF_ECHO;
	x->flags = flags;
	x->input_buffer_base = in;
	x->input_buffer_len = sizeof(*in);
	x->output_buffer_base = out;
	x->output_buffer_len = sizeof(*out);
	x->result = UNSET;
}

/*
 * A backup command racing the server's death: its send fails before the
 * control thread sees end-of-file.  Peer death is -ECONNRESET (never the
 * socket's -EPIPE), synchronous or not, and x->result says the same.
 */
static int test_backup_racing_death(const struct ktap_case *tc)
{
	struct cse_client *c;
	struct cse_exec x;
	__u32 in = 1, out;
	pthread_t th;
	char id[64];
	int ret;

	(void)tc;
	snprintf(id, sizeof(id), "contract-half-%d", (int)getpid());
	KTAP_CHECK(!cse_os_ctl_listen(id, &half.listener), "listen");
	KTAP_CHECK(!pthread_create(&th, NULL, half_dead_server, NULL), "thread");
	ret = cse_client_init(&c, id, NULL);
	KTAP_CHECK(!ret, "connect: %s", cse_strerror(ret));

	echo_exec(&x, CSE_EXEC_FORCE_BACKUP, &in, &out);
	ret = cse_execute(c, &x);
	KTAP_CHECK(ret == -ECONNRESET && x.result == ret,
		   "sync backup: returned %s, x.result %d", cse_strerror(ret), x.result);

	echo_exec(&x, CSE_EXEC_FORCE_BACKUP, &in, &out);
	x.completion = count_completion;
	ret = cse_execute(c, &x);
	KTAP_CHECK(ret == -ECONNRESET && x.result == ret,
		   "async backup: returned %s, x.result %d", cse_strerror(ret), x.result);
	uu_sleep_ms(50);
	KTAP_CHECK(!cse_load_acquire(&completions),
		   "a command that was not issued completed");

	cse_store_release(&half.go_away, 1);
	pthread_join(th, NULL);
	cse_client_deinit(c);
	cse_os_ctl_close(half.listener);
	return 0;
}

/*
 * After the server died, every execute fails fast, and x->result agrees
 * with the return value, slot or backup, synchronous or not.
 */
static int test_result_after_death(const struct ktap_case *tc)
{
	static const __u32 flags[] = { 0, CSE_EXEC_WORKER, CSE_EXEC_FORCE_BACKUP };
	struct cse_client *c;
	struct cse_exec x;
	__u32 in = 2, out;
	char id[64];
	unsigned int i, async;
	int pid, ret;

	(void)tc;
	snprintf(id, sizeof(id), "contract-dead-%d", (int)getpid());
	KTAP_CHECK(!peer_server(argv0, id, &pid), "spawn");
	KTAP_CHECK(!peer_connect(id, NULL, &c), "connect");
	KTAP_CHECK(!echo_once(c, 0, 1), "echo");
	peer_kill(pid);
	/* The control thread sees the end-of-file soon; wait for it. */
	for (i = 0; i < 5000 && echo_once(c, 0, 1) != -ECONNRESET; i++)
		uu_sleep_ms(1);
	for (async = 0; async < 2; async++) {
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			echo_exec(&x, flags[i], &in, &out);
			if (async)
				x.completion = count_completion;
			ret = cse_execute(c, &x);
			KTAP_CHECK(ret == -ECONNRESET && x.result == ret,
				   "%s flags %#x: returned %s, x.result %d",
				   async ? "async" : "sync", flags[i], cse_strerror(ret),
				   x.result);
		}
	}
	uu_sleep_ms(50);
	KTAP_CHECK(!cse_load_acquire(&completions), "a failed execute completed");
	cse_client_deinit(c);
	return 0;
}

static const struct ktap_case cases[] = {
	{ "backup_racing_death", test_backup_racing_death, 30, NULL },
	{ "result_after_death", test_result_after_death, 30, NULL },
};

int main(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	argv0 = argv[0];
	if (n > 0)
		self[n] = '\0';
	return ktap_main(argc, argv, cases, KTAP_COUNT(cases));
}
