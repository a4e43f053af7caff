// SPDX-License-Identifier: MIT
/*
 * A deliberately misbehaving server.  The client treats the chunk and the
 * control channel as hostile too: a server that pushes garbage offsets,
 * writes impossible slot states or lengths, or answers the handshake with
 * nonsense must cost the client a clean error, never a crash, an overrun
 * or a hang; every command still completes exactly once.
 *
 * The server is a real separate process: this binary re-spawned with
 * "--serve ID MODE", using the runtime's internals to cheat.
 */
#include <stdlib.h>

#include <cse/atomic.h>

#include "../ktap.h"
#include "../test_spawn.h"
#include "fifo.h"
#include "peer.h"
#include "server.h"

enum { MODE_SC_GARBAGE = 1, MODE_BAD_STATE, MODE_UNDO_DEATH };

#define CODE_CHEAT 77

/* ---- the hostile server (child process) ---- */

static int mode;

static struct {
	__u32 *state;
	__u32 *sc_wake_seq;
	__u32 stop;
} undo;

/* Write back what the client writes when it sees us die. */
static void *undo_main(void *arg)
{
	(void)arg;
	while (!cse_load_acquire(&undo.stop)) {
		cse_store(undo.state, CSE_SLOT_SUBMITTED);
		cse_store(undo.sc_wake_seq, 0);
	}
	return NULL;
}

/*
 * Hang up on the client in the middle of its synchronous command, and keep
 * writing its slot back to SUBMITTED (the client's own PEER_DEAD undone)
 * and its SC FIFO's wake_seq back to 0 (its own kicks undone).
 */
static void undo_death(struct cse_conn *conn, struct cse_slot_hdr *h)
{
	pthread_t th;

	undo.state = &h->state;
	undo.sc_wake_seq = &conn->sc.hdr->wake_seq;
	if (pthread_create(&th, NULL, undo_main, NULL))
		return;
	cse_sleep_ms(20);
	cse_os_ctl_shutdown(conn->ctl);
	cse_sleep_ms(3000);
	cse_store_release(&undo.stop, 1);
	pthread_join(th, NULL);
}

static void cheat_exec(struct cse_conn *conn, void *user_context, __u32 code,
		       const void *in, size_t in_len, void *out, size_t out_len,
		       size_t *out_len_actual, int *status)
{
	/* The slot header sits right before the input area. */
	struct cse_slot_hdr *h = (struct cse_slot_hdr *)in - 1;

	(void)user_context;
	(void)out;
	*status = 0;
	*out_len_actual = in_len < out_len ? in_len : out_len;
	memcpy(out, in, *out_len_actual);
	if (code != CODE_CHEAT)
		return;
	if (mode == MODE_UNDO_DEATH) {
		undo_death(conn, h);
		return;
	}
	if (mode == MODE_SC_GARBAGE) {
		/* Offsets that are no slot's: past the end, unaligned, header. */
		cse_fifo_push(&conn->sc, conn->g.chunk_size + 64);
		cse_fifo_push(&conn->sc, conn->g.slots_off + 4);
	} else {
		/* An impossible state and a length past the output area. */
		cse_store(&h->output_len_actual, 0xfffffff0U);
		cse_store_release(&h->state, 0x77);
		cse_os_wake(conn->cs.sync, &h->state);
		cse_sleep_ms(200);
	}
}

static int serve(const char *id, const char *m)
{
	const struct cse_server_ops ops = { .exec_handler = cheat_exec };
	struct cse_server *s;

	mode = !strcmp(m, "sc-garbage") ? MODE_SC_GARBAGE :
	       !strcmp(m, "undo-death") ? MODE_UNDO_DEATH : MODE_BAD_STATE;
	if (cse_server_init() || cse_server_create(&s, id, &ops, NULL))
		return 1;
	cse_sleep_ms(60000);	/* killed by the test */
	return 0;
}

/* ---- the client (the test) ---- */

static char self[4096];

static int spawn_server(const char *id, const char *m, int *pid)
{
	char *argv[] = { self, "--serve", (char *)id, (char *)m, NULL };

	return test_spawn(pid, self, NULL, argv) ? -1 : 0;
}

static struct {
	struct cse_exec x[4];
	__u32 in[4], out[4];
	__u32 completions[4];
	int results[4];
} as;

static void as_done(struct cse_exec *x, void *ctx)
{
	(void)ctx;
	as.results[x - as.x] = x->result;
	cse_fetch_add(&as.completions[x - as.x], 1);
}

static int test_sc_garbage(const struct ktap_case *tc)
{
	struct res_count base = res_now(), now;
	struct cse_client *c;
	char id[64];
	int pid, i, ret;

	(void)tc;
	snprintf(id, sizeof(id), "evil-sc-%d", (int)getpid());
	KTAP_CHECK(!spawn_server(id, "sc-garbage", &pid), "spawn");
	KTAP_CHECK(!peer_connect(id, NULL, &c), "connect");
	KTAP_CHECK(!echo_once(c, 0, 5), "an honest command first");
	for (i = 0; i < 4; i++) {
		as.in[i] = (__u32)i;
		as.x[i].input_code = i == 0 ? CODE_CHEAT : CONF_ECHO;
		as.x[i].input_buffer_base = &as.in[i];
		as.x[i].input_buffer_len = 4;
		as.x[i].output_buffer_base = &as.out[i];
		as.x[i].output_buffer_len = 4;
		as.x[i].completion = as_done;
		ret = cse_execute(c, &as.x[i]);
		/*
		 * The client may have caught the lie of command 0 already: then
		 * the command fails at once and its completion never runs.
		 */
		KTAP_CHECK(!ret || (i > 0 && ret == -ECONNRESET), "execute %d: %d", i, ret);
		if (ret)
			cse_fetch_add(&as.completions[i], 1);
	}
	for (i = 0; i < 3000 && (cse_load_acquire(&as.completions[0]) +
				 cse_load_acquire(&as.completions[1]) +
				 cse_load_acquire(&as.completions[2]) +
				 cse_load_acquire(&as.completions[3])) < 4; i++)
		cse_sleep_ms(1);
	for (i = 0; i < 4; i++)
		KTAP_CHECK(as.completions[i] == 1, "command %d completed %u times", i,
			   as.completions[i]);
	/* The client dropped the lying server: later commands fail fast. */
	KTAP_CHECK(echo_once(c, 0, 6) == -ECONNRESET, "still talking to the liar");
	cse_client_deinit(c);
	peer_kill(pid);
	KTAP_CHECK(res_settle(&base, 2000, &now), "leaked: fds %d->%d threads %d->%d",
		   base.fds, now.fds, base.threads, now.threads);
	return 0;
}

static int test_bad_state(const struct ktap_case *tc)
{
	struct cse_client *c;
	struct cse_exec x = { .input_code = CODE_CHEAT };
	__u32 in = 9, out[4] = { 0, 0xa5a5a5a5, 0xa5a5a5a5, 0xa5a5a5a5 };
	char id[64];
	int pid, ret;

	(void)tc;
	snprintf(id, sizeof(id), "evil-state-%d", (int)getpid());
	KTAP_CHECK(!spawn_server(id, "bad-state", &pid), "spawn");
	KTAP_CHECK(!peer_connect(id, NULL, &c), "connect");
	x.input_buffer_base = &in;
	x.input_buffer_len = sizeof(in);
	x.output_buffer_base = out;
	x.output_buffer_len = sizeof(out[0]);	/* the client accepts 4 bytes */
	ret = cse_execute(c, &x);
	KTAP_CHECK(ret == -EPROTO && x.result == -EPROTO, "got %s", cse_strerror(ret));
	KTAP_CHECK(x.output_buffer_len_actual == 0, "a bogus length was passed on");
	KTAP_CHECK(out[1] == 0xa5a5a5a5 && out[2] == 0xa5a5a5a5,
		   "the client wrote past its output buffer");
	cse_client_deinit(c);
	peer_kill(pid);
	return 0;
}

/*
 * The server hangs up during a synchronous command and writes the slot
 * back to SUBMITTED: our own dead flag decides, the caller gets
 * -ECONNRESET at once, and the client comes apart without hanging.
 */
static int test_undo_death(const struct ktap_case *tc)
{
	struct res_count base = res_now(), now;
	struct cse_client *c;
	struct cse_exec x = { .input_code = CODE_CHEAT };
	__u32 in = 9, out = 0;
	__u64 t0, ms;
	char id[64];
	int pid, ret;

	(void)tc;
	snprintf(id, sizeof(id), "evil-undo-%d", (int)getpid());
	KTAP_CHECK(!spawn_server(id, "undo-death", &pid), "spawn");
	KTAP_CHECK(!peer_connect(id, NULL, &c), "connect");
	x.input_buffer_base = &in;
	x.input_buffer_len = sizeof(in);
	x.output_buffer_base = &out;
	x.output_buffer_len = sizeof(out);
	t0 = cse_now_ms();
	ret = cse_execute(c, &x);
	ms = cse_now_ms() - t0;
	KTAP_CHECK(ret == -ECONNRESET && x.result == -ECONNRESET, "got %s, result %s",
		   cse_strerror(ret), cse_strerror(x.result));
	/* The server writes the slot back for 3 s: we must not wait for it. */
	KTAP_CHECK(ms < 2000, "the caller woke after %llu ms", (unsigned long long)ms);
	cse_client_deinit(c);
	peer_kill(pid);
	KTAP_CHECK(res_settle(&base, 2000, &now), "leaked: fds %d->%d threads %d->%d",
		   base.fds, now.fds, base.threads, now.threads);
	return 0;
}

/* A "server" that answers the handshake with garbage. */
static void *fake_server(void *arg)
{
	struct cse_os_ctl *l = arg, *conn = NULL;
	char buf[256];
	int i;

	for (i = 0; i < 2000 && cse_os_ctl_accept(l, &conn); i++)
		cse_sleep_ms(1);
	if (!conn)
		return NULL;
	cse_os_ctl_recv(conn, buf, sizeof(buf), NULL);
	memset(buf, 0x6b, sizeof(buf));
	cse_os_ctl_send(conn, buf, 32, NULL, 0, NULL);
	cse_sleep_ms(100);
	cse_os_ctl_close(conn);
	return NULL;
}

static int test_garbage_welcome(const struct ktap_case *tc)
{
	struct res_count base = res_now(), now;
	struct cse_os_ctl *l;
	struct cse_client *c = NULL;
	pthread_t th;
	char id[64];
	int ret;

	(void)tc;
	snprintf(id, sizeof(id), "evil-hello-%d", (int)getpid());
	KTAP_CHECK(!cse_os_ctl_listen(id, &l), "listen");
	pthread_create(&th, NULL, fake_server, l);
	ret = cse_client_init(&c, id, NULL);
	pthread_join(th, NULL);
	cse_os_ctl_close(l);
	KTAP_CHECK(ret == -EPROTO && !c, "garbage welcome gave %s", cse_strerror(ret));
	KTAP_CHECK(res_settle(&base, 2000, &now), "leaked: fds %d->%d threads %d->%d",
		   base.fds, now.fds, base.threads, now.threads);
	return 0;
}

static const struct ktap_case cases[] = {
	{ "sc_fifo_garbage", test_sc_garbage, 30, NULL },
	{ "bad_slot_state", test_bad_state, 30, NULL },
	{ "garbage_welcome", test_garbage_welcome, 30, NULL },
	{ "undo_death", test_undo_death, 30, NULL },
};

int main(int argc, char **argv)
{
	if (testos_self_exe(self, sizeof(self)))
		snprintf(self, sizeof(self), "%s", argv[0]);
	if (argc == 4 && !strcmp(argv[1], "--serve"))
		return serve(argv[2], argv[3]);
	return ktap_main(argc, argv, cases, KTAP_COUNT(cases));
}
