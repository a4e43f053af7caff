// SPDX-License-Identifier: MIT
/*
 * A deliberately misbehaving client.  It connects like any client, then
 * writes what an honest client never would into the shared chunk or the
 * control channel.  The server (a real separate process) must drop or fail
 * that client only, and keep serving an honest client alongside.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "../ktap.h"
#include "client.h"
#include "peer.h"
#include "posix.h"

static const char *argv0;
static char id[64];
static int server_pid;		/* 0: a server we did not start (--server) */
static const char *external_id;
static struct cse_client *good, *bad;

static int setup(void)
{
	if (external_id) {
		snprintf(id, sizeof(id), "%s", external_id);
	} else {
		snprintf(id, sizeof(id), "hostile-%d", (int)getpid());
		if (peer_server(argv0, id, &server_pid))
			return -1;
	}
	if (peer_connect(id, NULL, &good) || peer_connect(id, NULL, &bad))
		return -1;
	return echo_once(good, 0, 1) || echo_once(bad, 0, 2) ? -1 : 0;
}

/*
 * The honest client keeps working, the server process lives on, and the
 * server's handlers saw the contract kept while it dropped the bad client:
 * no exec after (or during) its close, one close (the conformance server's
 * counters; the bad client's backup commands race its disconnection).
 */
static int server_unharmed(const char *what)
{
	struct conf_stats st;
	struct cse_exec x = {
		.input_code = CONF_STATS,
		.output_buffer_base = &st,
		.output_buffer_len = sizeof(st),
	};
	int i;

	for (i = 0; i < 50; i++)
		KTAP_CHECK(!echo_once(good, i % 2 ? CSE_EXEC_WORKER : 0, (__u32)i + 10),
			   "%s: honest client broken", what);
	KTAP_CHECK(!server_pid || kill(server_pid, 0) == 0, "%s: server process died", what);
	KTAP_CHECK(!cse_execute(good, &x) && x.output_buffer_len_actual == sizeof(st),
		   "%s: CONF_STATS failed", what);
	KTAP_CHECK(!st.exec_after_close && !st.close_while_running && !st.double_close,
		   "%s: server handlers saw %u execs after close, %u closes during an exec, "
		   "%u double closes", what, st.exec_after_close, st.close_while_running,
		   st.double_close);
	return 0;
}

static void server_done(void)
{
	if (server_pid)
		peer_kill(server_pid);
}

/* The bad client must end up disconnected; the good one keeps working. */
static int verdict(const char *what)
{
	__u64 deadline = cse_now_ms() + 5000;
	int ret = 0;

	while (cse_now_ms() < deadline) {
		ret = echo_once(bad, CSE_EXEC_FORCE_BACKUP, 3);
		if (ret == -ECONNRESET)
			break;
		cse_sleep_ms(5);
	}
	KTAP_CHECK(ret == -ECONNRESET, "%s: server kept the bad client (%s)", what,
		   cse_strerror(ret));
	if (server_unharmed(what))
		return 1;
	cse_client_deinit(bad);
	cse_client_deinit(good);
	server_done();
	return 0;
}

static struct cse_slot_hdr *bad_slot(__u32 idx)
{
	return cse_client_slot(bad, idx);
}

static int test_garbage_offsets(const struct ktap_case *tc)
{
	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	/* Not a slot boundary, then past the chunk, then inside the header. */
	cse_fifo_push(&bad->cs, bad->g.slots_off + 8);
	cse_fifo_push(&bad->cs, 0xfffffff0U);
	cse_fifo_push(&bad->cs, 64);
	return verdict("garbage offsets");
}

static int test_bad_lengths(const struct ktap_case *tc)
{
	struct cse_slot_hdr *h;

	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	h = bad_slot(5);
	h->input_code = CONF_ECHO;
	h->input_len = 0x7fffffff;
	h->output_len = 16;
	cse_fifo_push(&bad->cs, cse_geom_slot_off(&bad->g, 5));
	return verdict("input_len out of range");
}

static int test_bad_output_len(const struct ktap_case *tc)
{
	struct cse_slot_hdr *h;

	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	h = bad_slot(6);
	h->input_code = CONF_FILL;
	h->input_len = 0;
	h->output_len = bad->g.slot_output_size + 4096;
	cse_fifo_push(&bad->cs, cse_geom_slot_off(&bad->g, 6));
	return verdict("output_len out of range");
}

static int test_bad_flags(const struct ktap_case *tc)
{
	struct cse_slot_hdr *h;

	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	h = bad_slot(7);
	h->input_code = CONF_ECHO;
	h->flags = 0xffff0000U;
	cse_fifo_push(&bad->cs, cse_geom_slot_off(&bad->g, 7));
	return verdict("unknown slot flags");
}

/* Corrupt the chunk header after the handshake: the server keeps its copy. */
static int test_corrupt_chunk_header(const struct ktap_case *tc)
{
	struct cse_chunk_hdr *h;
	int i;

	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	h = (struct cse_chunk_hdr *)bad->base;
	h->magic = 0;
	h->nslots = 0xffffffffU;
	h->slots_off = 0xffffff00U;
	h->slot_size = 1;
	for (i = 0; i < 20; i++)
		KTAP_CHECK(!echo_once(bad, 0, (__u32)i), "server used the header again");
	/* Then break the protocol for real. */
	cse_fifo_push(&bad->cs, 1);
	return verdict("corrupt header");
}

/*
 * Scribble random bytes over FIFOs and slots while pushing random offsets.
 * What happens to the bad client depends on the dice (a garbage FIFO entry
 * mostly reads as "nothing published yet", so its commands may just never
 * run); the server must survive, keep serving, and let the bad client go.
 */
static int test_random_scribble(const struct ktap_case *tc)
{
	__u32 *words;
	size_t nwords, nfifo, i;
	int round;

	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	srandom((unsigned int)getpid());
	words = (__u32 *)(bad->base + bad->g.cs_fifo_off);
	nwords = (bad->g.chunk_size - bad->g.cs_fifo_off) / 4;
	nfifo = (bad->g.slots_off - bad->g.cs_fifo_off) / 4;
	for (round = 0; round < 200; round++) {
		/* Half over the FIFOs (small, so every word gets hit), half anywhere. */
		for (i = 0; i < 64; i++)
			cse_store(&words[(size_t)random() % (i % 2 ? nwords : nfifo)],
				  (__u32)random());
		cse_store(&words[(size_t)random() % nwords],
			  cse_geom_slot_off(&bad->g, (__u32)random() % bad->g.nslots));
		cse_fifo_kick(&bad->cs);
		bad->cs.ring(bad->cs.ring_arg);	/* read it, even if parked */
	}
	if (server_unharmed("random scribble"))
		return 1;
	cse_client_deinit(bad);
	if (server_unharmed("random scribble, bad client gone"))
		return 1;
	cse_client_deinit(good);
	server_done();
	return 0;
}

/* Garbage on the control channel before and after the handshake. */
static int test_garbage_control(const struct ktap_case *tc)
{
	struct cse_os_ctl *raw;
	__u8 junk[300];
	size_t i;

	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (__u8)random();
	KTAP_CHECK(!cse_os_ctl_connect(id, &raw), "raw connect");
	cse_os_ctl_send(raw, junk, sizeof(junk), NULL, 0, NULL);
	cse_os_ctl_close(raw);
	KTAP_CHECK(!cse_os_ctl_connect(id, &raw), "raw connect");
	cse_os_ctl_send(raw, junk, 48, NULL, 0, NULL);	/* HELLO-sized, no chunk */
	cse_os_ctl_close(raw);
	/* A backup request announcing more data than it sends, then EOF. */
	{
		struct cse_wire_backup_req r = {
			.hdr.type = CSE_WIRE_BACKUP_REQ,
			.input_len = 1 << 20,
			.output_len = 16,
		};
		cse_os_ctl_send(bad->ctl, &r, sizeof(r), junk, 100, NULL);
	}
	return verdict("garbage on the control channel");
}

/*
 * A chunk the client could still shrink (an unsealed memfd) would let it
 * crash the server with SIGBUS: the backends that seal theirs (linux,
 * freebsd) must refuse it.
 */
static int test_unsealed_chunk(const struct ktap_case *tc)
{
#ifdef MFD_ALLOW_SEALING	/* memfd_create(): Linux, FreeBSD 13+ */
	struct cse_wire_hello hello = { .hdr.type = CSE_WIRE_HELLO };
	struct cse_os_ctl *raw;
	struct cse_os_shm *shm;
	struct cse_geom g;
	char reply[64];
	int fd;

	(void)tc;
	if (!CSE_TEST_SEALED_SHM)
		return ktap_skip("the emulated backend cannot seal shared memory");
	if (external_id)
		return ktap_skip("a kernel server allocates the chunk itself");
	KTAP_CHECK(!setup(), "setup");
	KTAP_CHECK(!cse_geom_compute(4, 64, 64, &g), "geometry");
	fd = memfd_create("cse-unsealed", MFD_CLOEXEC);
	KTAP_CHECK(fd >= 0 && !ftruncate(fd, g.chunk_size), "memfd");
	KTAP_CHECK(!cse_posix_shm_map(fd, g.chunk_size, &shm), "map");
	KTAP_CHECK(!cse_chunk_format(cse_os_shm_addr(shm), &g), "format");
	hello.abi_version = CSE_ABI_VERSION;
	hello.chunk_size = g.chunk_size;
	hello.nslots = 4;
	hello.slot_input_size = 64;
	hello.slot_output_size = 64;
	KTAP_CHECK(!cse_os_ctl_connect(id, &raw), "raw connect");
	KTAP_CHECK(!cse_os_ctl_send(raw, &hello, sizeof(hello), NULL, 0, shm), "send");
	/* Refused: the server hangs up without a WELCOME. */
	KTAP_CHECK(cse_os_ctl_recv(raw, reply, sizeof(reply), NULL) <= 0,
		   "server accepted an unsealed chunk");
	cse_os_ctl_close(raw);
	cse_os_shm_destroy(shm);
	cse_os_ctl_shutdown(bad->ctl);	/* the verdict wants bad disconnected */
	return verdict("unsealed chunk");
#else
	(void)tc;
	return ktap_skip("no memfd_create() on this system");
#endif
}

/* Live connections at the server (opens - closes), as its own stats say. */
static int server_live(__u32 *live)
{
	struct conf_stats st;
	struct cse_exec x = {
		.input_code = CONF_STATS,
		.output_buffer_base = &st,
		.output_buffer_len = sizeof(st),
	};

	if (cse_execute(good, &x) || x.output_status_code ||
	    x.output_buffer_len_actual != sizeof(st))
		return -1;
	*live = st.opens - st.closes;
	return 0;
}

/* Wait up to @ms for the server to count @want live connections. */
static bool server_live_is(__u32 want, unsigned int ms, __u32 *live)
{
	__u64 deadline = cse_now_ms() + ms;

	do {
		if (!server_live(live) && *live == want)
			return true;
		cse_sleep_ms(10);
	} while (cse_now_ms() < deadline);
	return false;
}

static __u32 reset_stop;

/* Undo every wake-up the server sends its reader of the bad client. */
static void *reset_wake_seq(void *arg)
{
	(void)arg;
	while (!cse_load_acquire(&reset_stop))
		cse_store(&bad->cs.hdr->wake_seq, 0);
	return NULL;
}

/*
 * The bad client writes its CS FIFO's wake_seq back to 0 over and over,
 * hangs up, and keeps writing: every kick that tells the server's reader
 * to stop is undone before the reader can see it.  A peer
 * must never cancel the server's own wake-up: close_handler still runs
 * (on the emulated backend the reader polled the word alone and slept
 * forever, with its thread, fds and mapping).
 */
static int test_wake_seq_reset(const struct ktap_case *tc)
{
	pthread_t th;
	__u32 live;
	bool ok;

	(void)tc;
	KTAP_CHECK(!setup(), "setup");
	/* Earlier cases' clients of a shared server must be gone first. */
	KTAP_CHECK(server_live_is(2, 10000, &live), "%u live connections, want 2", live);
	cse_sleep_ms(50);	/* let the reader fall asleep */
	KTAP_CHECK(!pthread_create(&th, NULL, reset_wake_seq, NULL), "thread");
	cse_sleep_ms(20);
	cse_os_ctl_shutdown(bad->ctl);
	/* Still undoing every kick while the server must close the connection. */
	ok = server_live_is(1, 5000, &live);
	cse_store_release(&reset_stop, 1);
	pthread_join(th, NULL);
	KTAP_CHECK(ok, "the hung-up client's connection never closed (%u live)", live);
	if (server_unharmed("wake_seq reset"))
		return 1;
	cse_client_deinit(bad);
	cse_client_deinit(good);
	server_done();
	return 0;
}

static const struct ktap_case cases[] = {
	{ "garbage_offsets", test_garbage_offsets, 30, NULL },
	{ "bad_input_len", test_bad_lengths, 30, NULL },
	{ "bad_output_len", test_bad_output_len, 30, NULL },
	{ "bad_flags", test_bad_flags, 30, NULL },
	{ "corrupt_chunk_header", test_corrupt_chunk_header, 30, NULL },
	{ "random_scribble", test_random_scribble, 60, NULL },
	{ "garbage_control", test_garbage_control, 30, NULL },
	{ "unsealed_chunk", test_unsealed_chunk, 30, NULL },
	{ "wake_seq_reset", test_wake_seq_reset, 30, NULL },
};

/* test-hostile [--server ID] [CASE...]: --server attacks a running server. */
int main(int argc, char **argv)
{
	argv0 = argv[0];
	external_id = ktap_option(&argc, &argv, "--server");
	return ktap_main(argc, argv, cases, KTAP_COUNT(cases));
}
