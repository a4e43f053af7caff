// SPDX-License-Identifier: MIT
/*
 * Hostile user space against /dev/cse: invalid and random ioctls, bad
 * pointers, bad offsets, bad mmaps.  Every call must fail cleanly (the VM
 * test then checks the kernel log for any Oops, BUG or WARN), and an honest
 * client must still be served afterwards.
 *   test-dev-fuzz [--server ID] [CASE...]   (default ID: kconf-inline)
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cse/os.h>

#include "../ktap.h"
#include "peer.h"

static const char *server_id = "kconf-inline";

static int dev_open(void)
{
	return open(CSE_DEV_PATH, O_RDWR | O_CLOEXEC);
}

/* ioctl() must fail, with @want if nonzero. */
#define FAILS(fd, cmd, arg, want)						\
	do {									\
		int r_ = ioctl(fd, cmd, arg);					\
		KTAP_CHECK(r_ < 0 && (!(want) || errno == (want)),		\
			   "%s: got %d errno %d, want errno %d", #cmd, r_,	\
			   r_ < 0 ? errno : 0, (int)(want));			\
	} while (0)

static int connected(int *fd)
{
	struct cse_dev_connect c = { 0 };

	*fd = dev_open();
	if (*fd < 0)
		return -errno;
	strcpy(c.server_id, server_id);
	return ioctl(*fd, CSE_DEV_CONNECT, &c) ? -errno : 0;
}

static int test_invalid_ioctls(const struct ktap_case *tc)
{
	struct cse_dev_connect c = { 0 };
	struct cse_dev_chunk ch = { 0 };
	struct cse_dev_msg m = { 0 };
	struct cse_dev_word w = { 0 };
	char buf[64];
	void *p;
	int fd;

	(void)tc;
	fd = dev_open();
	if (fd < 0)
		return ktap_skip("no /dev/cse here (the module is not loaded)");
	/* Nothing works before CONNECT. */
	m.buf = (uintptr_t)buf;
	m.len = 16;
	FAILS(fd, CSE_DEV_SEND, &m, ENOTCONN);
	FAILS(fd, CSE_DEV_RECV, &m, ENOTCONN);
	ch.size = 4096;
	FAILS(fd, CSE_DEV_CHUNK, &ch, ENOTCONN);
	FAILS(fd, CSE_DEV_WAIT, &w, EINVAL);
	FAILS(fd, CSE_DEV_WAKE, &w, EINVAL);
	FAILS(fd, CSE_DEV_SHUTDOWN, NULL, ENOTCONN);
	KTAP_CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED,
		   "mmap without a chunk");
	/* Bad pointers and bad structs. */
	FAILS(fd, CSE_DEV_CONNECT, NULL, EFAULT);
	FAILS(fd, CSE_DEV_CONNECT, (void *)1, EFAULT);
	FAILS(fd, CSE_DEV_CONNECT, (void *)(uintptr_t)0xffffffff81000000ULL, EFAULT);
	memset(c.server_id, 'x', sizeof(c.server_id));	/* no NUL */
	FAILS(fd, CSE_DEV_CONNECT, &c, EINVAL);
	memset(&c, 0, sizeof(c));
	strcpy(c.server_id, server_id);
	c.resv[1] = 1;
	FAILS(fd, CSE_DEV_CONNECT, &c, EINVAL);
	c.resv[1] = 0;
	c.flags = 0x80;
	FAILS(fd, CSE_DEV_CONNECT, &c, EINVAL);
	c.flags = 0;
	strcpy(c.server_id, "no-such-kernel-server");
	FAILS(fd, CSE_DEV_CONNECT, &c, ENOENT);
	strcpy(c.server_id, "bad/name");
	FAILS(fd, CSE_DEV_CONNECT, &c, EINVAL);
	FAILS(fd, _IOW(CSE_DEV_IOC_MAGIC, 99, int), buf, ENOTTY);
	FAILS(fd, 0x12345678, buf, ENOTTY);
	close(fd);

	KTAP_CHECK(!connected(&fd), "connect to %s", server_id);
	FAILS(fd, CSE_DEV_CONNECT, &c, EISCONN);
	ch.size = 0;
	FAILS(fd, CSE_DEV_CHUNK, &ch, EINVAL);
	ch.size = CSE_MAX_CHUNK + 1;
	FAILS(fd, CSE_DEV_CHUNK, &ch, EINVAL);
	ch.size = 8192;
	KTAP_CHECK(!ioctl(fd, CSE_DEV_CHUNK, &ch), "chunk");
	FAILS(fd, CSE_DEV_CHUNK, &ch, EEXIST);
	KTAP_CHECK(mmap(NULL, 3 * 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED,
		   "mmap larger than the chunk");
	KTAP_CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096) == MAP_FAILED,
		   "mmap at an offset");
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	KTAP_CHECK(p != MAP_FAILED, "mmap of the chunk");
	m.len = 0;
	FAILS(fd, CSE_DEV_SEND, &m, EINVAL);
	m.len = CSE_OS_CTL_MSG_MAX + 1;
	FAILS(fd, CSE_DEV_SEND, &m, EMSGSIZE);
	m.len = 16;
	m.buf = 1;
	FAILS(fd, CSE_DEV_SEND, &m, EFAULT);
	m.buf = (uintptr_t)buf;
	m.flags = 0x4;
	FAILS(fd, CSE_DEV_SEND, &m, EINVAL);
	w.offset = 2;
	FAILS(fd, CSE_DEV_WAIT, &w, EINVAL);
	w.offset = 8192;
	FAILS(fd, CSE_DEV_WAKE, &w, EINVAL);
	w.offset = 0xfffffffc;
	FAILS(fd, CSE_DEV_WAIT, &w, EINVAL);
	w.offset = 0;
	w.expected = 0x12345;	/* differs from the word: returns at once */
	KTAP_CHECK(!ioctl(fd, CSE_DEV_WAIT, &w), "wait on a changed word");
	w.expected = *(volatile __u32 *)p;
	w.timeout_ns = 1000000;
	FAILS(fd, CSE_DEV_WAIT, &w, ETIMEDOUT);
	/* A garbage HELLO with the chunk: refused, then the server hangs up. */
	memset(buf, 0x5a, sizeof(buf));
	m.flags = CSE_DEV_MSG_CHUNK;
	m.len = 48;
	KTAP_CHECK(!ioctl(fd, CSE_DEV_SEND, &m), "send garbage hello");
	m.flags = 0;
	m.len = sizeof(buf);
	{
		struct cse_wire_welcome wl;
		int n = ioctl(fd, CSE_DEV_RECV, &m);

		memcpy(&wl, buf, sizeof(wl));
		KTAP_CHECK(n == 0 || (n == (int)sizeof(wl) && wl.status < 0),
			   "garbage hello accepted (%d, status %d)", n, wl.status);
		KTAP_CHECK(ioctl(fd, CSE_DEV_RECV, &m) == 0, "server did not hang up");
	}
	munmap(p, 8192);
	close(fd);
	return 0;
}

static short poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 10) == 1 ? p.revents : 0;
}

/* K-U: a user server's listener file, misused every way but the right one. */
static int test_listener_ioctls(const struct ktap_case *tc)
{
	struct cse_dev_connect c = { 0 };
	struct cse_dev_chunk ch = { .size = 4096 };
	struct cse_dev_msg m = { 0 };
	char buf[64];
	int fd, fd2;

	(void)tc;
	fd = dev_open();
	if (fd < 0)
		return ktap_skip("no /dev/cse here (the module is not loaded)");
	FAILS(fd, CSE_DEV_ACCEPT, NULL, EINVAL);	/* not a listener */
	KTAP_CHECK(poll_now(fd) & POLLERR, "poll before setup: %#x", poll_now(fd));
	FAILS(fd, CSE_DEV_LISTEN, NULL, EFAULT);
	memset(c.server_id, 'y', sizeof(c.server_id));
	FAILS(fd, CSE_DEV_LISTEN, &c, EINVAL);
	memset(&c, 0, sizeof(c));
	strcpy(c.server_id, "fuzz-listener");
	c.resv0 = 7;
	FAILS(fd, CSE_DEV_LISTEN, &c, EINVAL);
	c.resv0 = 0;
	c.flags = CSE_DEV_LISTEN_TCP;	/* without a port */
	FAILS(fd, CSE_DEV_LISTEN, &c, EINVAL);
	c.flags = 0;
	c.tcp_port = 4000;		/* a port without the flag */
	FAILS(fd, CSE_DEV_LISTEN, &c, EINVAL);
	c.tcp_port = 0;
	c.flags = 0x40;
	FAILS(fd, CSE_DEV_LISTEN, &c, EINVAL);
	c.flags = 0;
	strcpy(c.server_id, server_id);	/* a kernel server has it */
	FAILS(fd, CSE_DEV_LISTEN, &c, EADDRINUSE);
	strcpy(c.server_id, "fuzz-listener");
	KTAP_CHECK(!ioctl(fd, CSE_DEV_LISTEN, &c), "listen: %s", strerror(errno));
	FAILS(fd, CSE_DEV_LISTEN, &c, EISCONN);
	FAILS(fd, CSE_DEV_CONNECT, &c, EISCONN);
	fd2 = dev_open();
	FAILS(fd2, CSE_DEV_LISTEN, &c, EADDRINUSE);	/* one listener per id */
	close(fd2);
	FAILS(fd, CSE_DEV_ACCEPT, NULL, EAGAIN);	/* nobody waits */
	FAILS(fd, CSE_DEV_CONN_INFO, buf, EINVAL);	/* not a connection */
	KTAP_CHECK(poll_now(fd) == 0, "idle listener polls %#x", poll_now(fd));
	m.buf = (uintptr_t)buf;
	m.len = sizeof(buf);
	FAILS(fd, CSE_DEV_SEND, &m, EINVAL);
	FAILS(fd, CSE_DEV_RECV, &m, EINVAL);
	FAILS(fd, CSE_DEV_SHUTDOWN, NULL, EINVAL);
	FAILS(fd, CSE_DEV_CHUNK, &ch, EINVAL);
	KTAP_CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED,
		   "mmap of a listener");
	close(fd);
	/* Closing unregistered the id: it can be listened on again. */
	fd = dev_open();
	KTAP_CHECK(!ioctl(fd, CSE_DEV_LISTEN, &c), "listen again: %s", strerror(errno));
	close(fd);

	/* A client file: no ACCEPT, and RECV's out-only fields must come in zero. */
	KTAP_CHECK(!connected(&fd), "connect to %s", server_id);
	FAILS(fd, CSE_DEV_ACCEPT, NULL, EINVAL);
	FAILS(fd, CSE_DEV_CONN_INFO, buf, EINVAL);	/* a client's, not a server end */
	FAILS(fd, CSE_DEV_LISTEN, &c, EISCONN);
	m.chunk_size = 4096;
	FAILS(fd, CSE_DEV_RECV, &m, EINVAL);
	m.chunk_size = 0;
	m.resv = 1;
	FAILS(fd, CSE_DEV_RECV, &m, EINVAL);
	close(fd);
	return 0;
}

/* What descriptor @fd of this process is ("/dev/cse", "socket:[N]"), or false. */
static bool fd_target(int fd, char *target, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, size - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return true;
}

/* The /dev/cse file of this process's one U-K connection, or -1. */
static int dev_fd_of_client(void)
{
	char target[64];
	int fd;

	for (fd = 3; fd < 1024; fd++)
		if (fd_target(fd, target, sizeof(target)) && !strcmp(target, CSE_DEV_PATH))
			return fd;
	return -1;
}

static int call(int fd, struct cse_dev_call *k, __u32 code, __u32 flags,
		const void *in, __u32 in_len, void *out, __u32 out_len)
{
	memset(k, 0, sizeof(*k));
	k->input = (uintptr_t)in;
	k->output = (uintptr_t)out;
	k->input_code = code;
	k->flags = flags;
	k->input_len = in_len;
	k->output_len = out_len;
	return ioctl(fd, CSE_DEV_CALL, k) ? -errno : 0;
}

#define CALL_FAILS(fd, k, want)							\
	do {									\
		int r_ = ioctl(fd, CSE_DEV_CALL, k);				\
		KTAP_CHECK(r_ < 0 && errno == (want),				\
			   "CALL: got %d errno %d, want errno %d", r_,		\
			   r_ < 0 ? errno : 0, (int)(want));			\
	} while (0)

/* A worker's CALL interrupted by a signal (see test_call_ioctls). */
static struct {
	int fd;
	int ret;
	__u32 slept;
	__u64 wall_ns, cpu_ns;
} sig_call;

static void on_usr1(int sig)
{
	(void)sig;
}

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

static void *sig_call_main(void *arg)
{
	__u32 ms = 600;
	struct cse_dev_call k;
	__u64 w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);

	(void)arg;
	sig_call.ret = call(sig_call.fd, &k, CONF_SLEEP, CSE_SLOT_F_WORKER, &ms, 4,
			    &sig_call.slept, 4);
	sig_call.cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	sig_call.wall_ns = clock_ns(CLOCK_MONOTONIC) - w0;
	return NULL;
}

/* The backup path in one ioctl: honest calls work, every bad one fails. */
static int test_call_ioctls(const struct ktap_case *tc)
{
	static __u8 in[70000], out[70000];
	struct cse_dev_connect cn = { 0 };
	struct cse_dev_call k;
	struct cse_client *c;
	__u32 marks[2], i;
	void *ro;
	int fd, raw;

	(void)tc;
	raw = dev_open();
	if (raw < 0)
		return ktap_skip("no /dev/cse here (the module is not loaded)");
	KTAP_CHECK(call(raw, &k, CONF_ECHO, 0, in, 4, out, 4) == -ENOTCONN,
		   "CALL before CONNECT");
	strcpy(cn.server_id, server_id);
	KTAP_CHECK(!ioctl(raw, CSE_DEV_CONNECT, &cn), "connect");
	/* Connected but no HELLO: the server has not accepted it yet. */
	KTAP_CHECK(call(raw, &k, CONF_ECHO, 0, in, 4, out, 4) == -EOPNOTSUPP,
		   "CALL before the server accepted the client");
	close(raw);

	KTAP_CHECK(!peer_connect(server_id, NULL, &c), "connect to %s", server_id);
	fd = dev_fd_of_client();
	KTAP_CHECK(fd >= 0, "no /dev/cse descriptor in /proc/self/fd");

	/* Honest calls: inline echo, a worker's large fill, prepared output. */
	for (i = 0; i < sizeof(in); i++)
		in[i] = (__u8)(i * 31 + 7);
	memset(out, 0, sizeof(out));
	KTAP_CHECK(!call(fd, &k, CONF_ECHO, CSE_SLOT_F_INLINE, in, 1000, out, 1000),
		   "echo: %s", strerror(errno));
	KTAP_CHECK(k.output_status == CONF_STATUS_OK && k.output_len_actual == 1000 &&
		   !memcmp(in, out, 1000), "echo: status %d len %u", k.output_status,
		   k.output_len_actual);
	KTAP_CHECK(!call(fd, &k, CONF_FILL, CSE_SLOT_F_WORKER, NULL, 0, out, sizeof(out)),
		   "fill: %s", strerror(errno));
	KTAP_CHECK(k.output_len_actual == sizeof(out), "fill len %u", k.output_len_actual);
	for (i = 0; i < sizeof(out); i++)
		KTAP_CHECK(out[i] == conf_pattern(CONF_FILL, i), "fill differs at %u", i);
	marks[0] = CONF_MARK_IN;
	memset(out, 0, 8);
	memcpy(out, &(__u32){ CONF_MARK_OUT }, 4);
	KTAP_CHECK(!call(fd, &k, CONF_ORDER, CSE_WIRE_F_OUTPUT_INIT, marks, 4, out, 8),
		   "order: %s", strerror(errno));
	memcpy(&marks[1], out, 4);
	KTAP_CHECK(k.output_status == CONF_STATUS_OK && marks[1] == CONF_MARK_EXEC,
		   "the server did not see the prepared output area (status %d)",
		   k.output_status);
	/* Without OUTPUT_INIT the server sees zeros, not the caller's bytes. */
	KTAP_CHECK(!call(fd, &k, CONF_ORDER, 0, marks, 4, out, 8), "order");
	KTAP_CHECK(k.output_status == CONF_STATUS_BAD_ORDER, "status %d", k.output_status);
	KTAP_CHECK(!call(fd, &k, CONF_ECHO, 0, NULL, 0, NULL, 0) &&
		   k.output_len_actual == 0, "empty call");
	KTAP_CHECK(!call(fd, &k, 0xdead, 0, NULL, 0, NULL, 0) &&
		   k.output_status == CONF_STATUS_UNKNOWN, "unknown code");

	/*
	 * A signal while a worker runs the command: the call still waits for
	 * it (the command is running; the caller's buffers are in use) and
	 * returns its result, sleeping meanwhile rather than spinning.
	 */
	{
		struct sigaction sa = { .sa_handler = on_usr1 };
		pthread_t t;

		sigaction(SIGUSR1, &sa, NULL);
		sig_call.fd = fd;
		KTAP_CHECK(!pthread_create(&t, NULL, sig_call_main, NULL), "thread");
		cse_sleep_ms(150);
		pthread_kill(t, SIGUSR1);
		pthread_join(t, NULL);
		KTAP_CHECK(sig_call.ret == 0 && sig_call.slept == 600,
			   "signalled call: %s, slept %u", strerror(-sig_call.ret),
			   sig_call.slept);
		KTAP_CHECK(sig_call.cpu_ns * 4 < sig_call.wall_ns,
			   "the signalled caller spun: %llu ns of CPU in %llu ns",
			   (unsigned long long)sig_call.cpu_ns,
			   (unsigned long long)sig_call.wall_ns);
	}

	/* Bad structs. */
	call(fd, &k, CONF_ECHO, 0, in, 4, out, 4);
	k.flags = CSE_SLOT_F_SYNC;
	CALL_FAILS(fd, &k, EINVAL);
	k.flags = CSE_SLOT_F_INLINE | CSE_SLOT_F_WORKER;
	CALL_FAILS(fd, &k, EINVAL);
	k.flags = 1U << 9;
	CALL_FAILS(fd, &k, EINVAL);
	k.flags = 0;
	k.output_len_actual = 4;	/* out-only fields come in zero */
	CALL_FAILS(fd, &k, EINVAL);
	k.output_len_actual = 0;
	k.output_status = -1;
	CALL_FAILS(fd, &k, EINVAL);
	k.output_status = 0;
	k.resv = 1;
	CALL_FAILS(fd, &k, EINVAL);
	k.resv = 0;
	k.slot_off = 4096;	/* an offset belongs to slot calls only */
	CALL_FAILS(fd, &k, EINVAL);
	k.slot_off = 0;
	k.input_len = CSE_MAX_BACKUP + 1;
	CALL_FAILS(fd, &k, EMSGSIZE);
	k.input_len = 4;
	k.output_len = 0xffffffff;
	CALL_FAILS(fd, &k, EMSGSIZE);
	FAILS(fd, CSE_DEV_CALL, NULL, EFAULT);
	FAILS(fd, CSE_DEV_CALL, (void *)(uintptr_t)0xffffffff81000000ULL, EFAULT);
	/* Bad addresses: in, prepared out, and an output nobody may write. */
	KTAP_CHECK(call(fd, &k, CONF_ECHO, 0, (void *)1, 16, out, 16) == -EFAULT, "in at 1");
	KTAP_CHECK(call(fd, &k, CONF_ECHO, 0, (void *)(uintptr_t)0xffffffff81000000ULL,
			16, out, 16) == -EFAULT, "in at a kernel address");
	KTAP_CHECK(call(fd, &k, CONF_ECHO, CSE_WIRE_F_OUTPUT_INIT, in, 16, (void *)8,
			16) == -EFAULT, "prepared out at 8");
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KTAP_CHECK(ro != MAP_FAILED, "mmap");
	KTAP_CHECK(call(fd, &k, CONF_ECHO, 0, in, 16, ro, 16) == -EFAULT,
		   "output into read-only memory");
	munmap(ro, 4096);
	/* Input and output overlapping the same bytes: copied, so harmless. */
	memcpy(out, in, 64);
	KTAP_CHECK(!call(fd, &k, CONF_ECHO, 0, out, 64, out + 32, 64) &&
		   !memcmp(out + 32, in, 64), "overlapping in and out");

	/* Random calls, from a random-but-safe set of codes (no CONF_SLEEP). */
	srandom(99);
	for (i = 0; i < 3000; i++) {
		static const __u32 codes[] = { CONF_ECHO, CONF_ORDER, CONF_STATS,
					       CONF_THREAD, CONF_FILL, 0, 77 };
		struct cse_dev_call r;
		__u32 j;

		for (j = 0; j < sizeof(r) / 4; j++)
			((__u32 *)&r)[j] = (__u32)random();
		r.input_code = codes[random() % 7];
		if (random() % 4)
			r.input_len %= sizeof(in) + 1;
		if (random() % 4)
			r.output_len %= sizeof(out) + 1;
		/* Our buffers only where they are long enough: the rest is ours too. */
		if (r.input_len <= sizeof(in) && random() % 2)
			r.input = (uintptr_t)in;
		if (r.output_len <= sizeof(out) && random() % 2)
			r.output = (uintptr_t)out;
		if (random() % 2)
			r.flags &= CSE_SLOT_F_INLINE | CSE_SLOT_F_WORKER |
				   CSE_WIRE_F_OUTPUT_INIT;
		if (random() % 2)
			r.slot_off = 0;
		if (random() % 2) {
			r.output_len_actual = 0;
			r.output_status = 0;
			r.resv = 0;
		}
		ioctl(fd, CSE_DEV_CALL, &r);
	}
	/* Still served, through the library too. */
	for (i = 0; i < 20; i++)
		KTAP_CHECK(!echo_once(c, i % 2 ? CSE_EXEC_WORKER : 0, i), "echo %u", i);
	/* Once the channel is shut, calls fail as peer death. */
	KTAP_CHECK(!ioctl(fd, CSE_DEV_SHUTDOWN), "shutdown");
	KTAP_CHECK(call(fd, &k, CONF_ECHO, 0, in, 4, out, 4) == -EPIPE,
		   "CALL after SHUTDOWN: %s", strerror(errno));
	cse_client_deinit(c);
	return 0;
}

/* ---- CSE_DEV_CALL_F_SLOT: a command already in a slot, run in the ioctl ---- */

/* The client's chunk, mapped a second time from its device file. */
struct slot_map {
	char *base;
	size_t size;
	struct cse_chunk_hdr hdr;	/* as the client wrote it (read once) */
};

static int slot_map(int fd, struct slot_map *m)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	memcpy(&m->hdr, p, sizeof(m->hdr));
	munmap(p, 4096);
	m->size = m->hdr.chunk_size;
	p = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->base = p;
	return 0;
}

static __u32 slot_off_of(const struct slot_map *m, __u32 idx)
{
	return m->hdr.slots_off + idx * m->hdr.slot_size;
}

static struct cse_slot_hdr *slot_at(const struct slot_map *m, __u32 off)
{
	return (struct cse_slot_hdr *)(m->base + off);
}

/* Write a command into the slot at @off (header and input). */
static void slot_fill(const struct slot_map *m, __u32 off, __u32 code, __u32 flags,
		      const void *in, __u32 in_len, __u32 out_len)
{
	struct cse_slot_hdr *h = slot_at(m, off);

	memset(h, 0, sizeof(*h));
	h->input_code = code;
	h->flags = flags;
	h->input_len = in_len;
	h->output_len = out_len;
	h->output_status = -77;
	h->output_len_actual = 0xdead;
	if (in_len)
		memcpy(h + 1, in, in_len);
}

static void *slot_out_area(const struct slot_map *m, __u32 off)
{
	return (char *)(slot_at(m, off) + 1) + m->hdr.slot_input_size;
}

static int slot_call(int fd, __u32 off, struct cse_dev_call *k)
{
	memset(k, 0, sizeof(*k));
	k->flags = CSE_DEV_CALL_F_SLOT;
	k->slot_off = off;
	return ioctl(fd, CSE_DEV_CALL, k) ? -errno : 0;
}

/* A thread rewriting a slot header's lengths while calls name that slot. */
static struct {
	struct cse_slot_hdr *h;
	__u32 stop;
	__u32 in_size;
} scribble;

static void *scribble_main(void *arg)
{
	__u32 i = 0;

	(void)arg;
	while (!__atomic_load_n(&scribble.stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(&scribble.h->input_len, i & 1 ? 0xfffffff0U : 16,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&scribble.h->output_len, i & 2 ? scribble.in_size * 4 : 16,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&scribble.h->flags, i & 4 ? CSE_SLOT_F_INLINE | CSE_SLOT_F_WORKER :
				 CSE_SLOT_F_INLINE, __ATOMIC_RELAXED);
		i++;
	}
	return NULL;
}

/* An inline CONF_THREAD slot call from another thread (alive meanwhile). */
static struct {
	int fd;
	const struct slot_map *m;
	__u32 off;
	__u64 tid;
} other_call;

static void *other_call_main(void *arg)
{
	struct cse_dev_call k;

	(void)arg;
	slot_fill(other_call.m, other_call.off, CONF_THREAD, CSE_SLOT_F_INLINE, NULL, 0, 8);
	if (!slot_call(other_call.fd, other_call.off, &k))
		memcpy(&other_call.tid, slot_out_area(other_call.m, other_call.off), 8);
	return NULL;
}

/*
 * Slot calls: honest ones run on the caller's thread (INLINE) or a worker
 * with the results in the slot header; a hostile offset, header or struct
 * fails that call alone with EINVAL; a header rewritten during the call is
 * read once; and the connection still serves afterwards.
 */
static int test_slot_call_ioctls(const struct ktap_case *tc)
{
	struct cse_dev_connect cn = { 0 };
	struct cse_dev_call k;
	struct slot_map m;
	struct cse_client *c;
	__u8 in[256];
	__u64 tid;
	__u32 off, last, i, bad_offs[8];
	pthread_t t;
	int fd, raw, ok, einval;

	(void)tc;
	raw = dev_open();
	if (raw < 0)
		return ktap_skip("no /dev/cse here (the module is not loaded)");
	KTAP_CHECK(slot_call(raw, 4096, &k) == -ENOTCONN, "slot CALL before CONNECT");
	strcpy(cn.server_id, server_id);
	KTAP_CHECK(!ioctl(raw, CSE_DEV_CONNECT, &cn), "connect");
	KTAP_CHECK(slot_call(raw, 4096, &k) == -EOPNOTSUPP,
		   "slot CALL before the server accepted the client: %s", strerror(errno));
	close(raw);

	KTAP_CHECK(!peer_connect(server_id, NULL, &c), "connect to %s", server_id);
	fd = dev_fd_of_client();
	KTAP_CHECK(fd >= 0, "no /dev/cse descriptor in /proc/self/fd");
	KTAP_CHECK(!slot_map(fd, &m), "map the chunk again");
	KTAP_CHECK(m.hdr.nslots >= 2 && m.hdr.slot_input_size >= sizeof(in), "geometry");
	/* The library's client is idle: its last slots are ours meanwhile. */
	off = slot_off_of(&m, m.hdr.nslots - 1);
	last = off;

	/* Honest: an inline echo, results in the header, the struct untouched. */
	for (i = 0; i < sizeof(in); i++)
		in[i] = (__u8)(i * 13 + 1);
	slot_fill(&m, off, CONF_ECHO, CSE_SLOT_F_SYNC | CSE_SLOT_F_INLINE, in, 200, 200);
	memset(slot_out_area(&m, off), 0, 200);
	KTAP_CHECK(!slot_call(fd, off, &k), "echo: %s", strerror(errno));
	KTAP_CHECK(slot_at(&m, off)->output_status == CONF_STATUS_OK &&
		   slot_at(&m, off)->output_len_actual == 200 &&
		   !memcmp(slot_out_area(&m, off), in, 200), "echo: status %d len %u",
		   slot_at(&m, off)->output_status, slot_at(&m, off)->output_len_actual);
	KTAP_CHECK(k.output_len_actual == 0 && k.output_status == 0,
		   "a slot call wrote its struct back");
	/*
	 * INLINE runs on the calling thread (the kernel names it its own way:
	 * the same id every time from this thread, another from another
	 * thread that is alive meanwhile); WORKER elsewhere.
	 */
	slot_fill(&m, off, CONF_THREAD, CSE_SLOT_F_INLINE, NULL, 0, 8);
	KTAP_CHECK(!slot_call(fd, off, &k), "thread: %s", strerror(errno));
	memcpy(&tid, slot_out_area(&m, off), 8);
	other_call.fd = fd;
	other_call.m = &m;
	other_call.off = slot_off_of(&m, m.hdr.nslots - 2);
	KTAP_CHECK(!pthread_create(&t, NULL, other_call_main, NULL), "thread");
	pthread_join(t, NULL);
	KTAP_CHECK(other_call.tid && other_call.tid != tid,
		   "two threads' inline calls ran on one thread (%llu)", (unsigned long long)tid);
	slot_fill(&m, off, CONF_THREAD, CSE_SLOT_F_INLINE, NULL, 0, 8);
	KTAP_CHECK(!slot_call(fd, off, &k), "thread: %s", strerror(errno));
	KTAP_CHECK(!memcmp(&tid, slot_out_area(&m, off), 8), "one thread's calls moved");
	slot_fill(&m, off, CONF_THREAD, CSE_SLOT_F_WORKER, NULL, 0, 8);
	KTAP_CHECK(!slot_call(fd, off, &k), "thread: %s", strerror(errno));
	KTAP_CHECK(memcmp(&tid, slot_out_area(&m, off), 8), "a worker call ran on the caller's thread");
	/* The worker's large fill, into the whole output area. */
	slot_fill(&m, off, CONF_FILL, CSE_SLOT_F_WORKER, NULL, 0, m.hdr.slot_output_size);
	KTAP_CHECK(!slot_call(fd, off, &k) &&
		   slot_at(&m, off)->output_len_actual == m.hdr.slot_output_size, "fill");
	for (i = 0; i < m.hdr.slot_output_size; i++)
		KTAP_CHECK(((__u8 *)slot_out_area(&m, off))[i] == conf_pattern(CONF_FILL, i),
			   "fill differs at %u", i);

	/* Hostile offsets: every one fails with EINVAL and nothing runs. */
	slot_fill(&m, off, CONF_ECHO, CSE_SLOT_F_INLINE, in, 16, 16);
	bad_offs[0] = 0;
	bad_offs[1] = off + 4;				/* inside a slot */
	bad_offs[2] = m.hdr.slots_off - 64;		/* a FIFO */
	bad_offs[3] = last + m.hdr.slot_size;		/* past the last slot */
	bad_offs[4] = (__u32)m.size;
	bad_offs[5] = 0xffffffc0U;
	bad_offs[6] = m.hdr.cs_fifo_off;
	bad_offs[7] = off - 1;
	for (i = 0; i < 8; i++)
		KTAP_CHECK(slot_call(fd, bad_offs[i], &k) == -EINVAL, "offset %#x: %s",
			   bad_offs[i], strerror(errno));
	KTAP_CHECK(slot_at(&m, off)->output_len_actual == 0xdead,
		   "a refused call wrote results");
	/* Hostile headers. */
	slot_fill(&m, off, CONF_ECHO, CSE_SLOT_F_INLINE | CSE_SLOT_F_WORKER, in, 16, 16);
	KTAP_CHECK(slot_call(fd, off, &k) == -EINVAL, "inline and worker");
	slot_fill(&m, off, CONF_ECHO, CSE_SLOT_F_LAST, in, 16, 16);
	KTAP_CHECK(slot_call(fd, off, &k) == -EINVAL, "an unknown slot flag");
	slot_fill(&m, off, CONF_ECHO, 0, in, 16, 16);
	slot_at(&m, off)->input_len = m.hdr.slot_input_size + 1;
	KTAP_CHECK(slot_call(fd, off, &k) == -EINVAL, "input longer than its area");
	slot_at(&m, off)->input_len = 16;
	slot_at(&m, off)->output_len = 0xffffffffU;
	KTAP_CHECK(slot_call(fd, off, &k) == -EINVAL, "output longer than its area");
	slot_at(&m, off)->output_len = 16;
	/* Hostile structs: a slot call carries the offset and nothing else. */
	memset(&k, 0, sizeof(k));
	k.slot_off = off;
	k.flags = CSE_DEV_CALL_F_SLOT | CSE_SLOT_F_INLINE;
	CALL_FAILS(fd, &k, EINVAL);
	k.flags = CSE_DEV_CALL_F_SLOT;
	k.input = (uintptr_t)in;
	CALL_FAILS(fd, &k, EINVAL);
	k.input = 0;
	k.input_code = CONF_ECHO;
	CALL_FAILS(fd, &k, EINVAL);
	k.input_code = 0;
	k.output_len = 16;
	CALL_FAILS(fd, &k, EINVAL);
	k.output_len = 0;
	k.resv = 1;
	CALL_FAILS(fd, &k, EINVAL);
	k.resv = 0;
	k.output_status = 1;
	CALL_FAILS(fd, &k, EINVAL);
	k.output_status = 0;
	KTAP_CHECK(!ioctl(fd, CSE_DEV_CALL, &k), "the same call, honest again: %s",
		   strerror(errno));

	/*
	 * The header rewritten while calls run: each one either runs what it
	 * read once (16 bytes echoed, inline) or fails; never more.
	 */
	slot_fill(&m, off, CONF_ECHO, CSE_SLOT_F_INLINE, in, 16, 16);
	scribble.h = slot_at(&m, off);
	scribble.in_size = m.hdr.slot_input_size;
	scribble.stop = 0;
	KTAP_CHECK(!pthread_create(&t, NULL, scribble_main, NULL), "scribbler");
	ok = einval = 0;
	for (i = 0; i < 3000; i++) {
		int r = slot_call(fd, off, &k);

		ok += !r;
		einval += r == -EINVAL;
		KTAP_CHECK(!r || r == -EINVAL, "call %u: %s", i, strerror(-r));
		KTAP_CHECK(r || scribble.h->output_len_actual == 16, "call %u wrote %u bytes", i,
			   scribble.h->output_len_actual);
	}
	__atomic_store_n(&scribble.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	ktap_diag("scribbled header: %d calls ran, %d refused", ok, einval);

	/* Random offsets and random headers. */
	srandom(4242);
	for (i = 0; i < 3000; i++) {
		__u32 *w = (__u32 *)slot_at(&m, off), j;

		for (j = 0; j < sizeof(struct cse_slot_hdr) / 4; j++)
			w[j] = (__u32)random();
		if (random() % 2)
			slot_at(&m, off)->input_code = random() % 2 ? CONF_ECHO : CONF_FILL;
		if (random() % 2)
			slot_at(&m, off)->flags &= CSE_SLOT_F_LAST - 1;
		if (random() % 2) {
			slot_at(&m, off)->input_len %= m.hdr.slot_input_size + 1;
			slot_at(&m, off)->output_len %= m.hdr.slot_output_size + 1;
		}
		slot_call(fd, random() % 4 ? off : (__u32)random() % (__u32)(m.size + 8192), &k);
	}
	/* Still served: slot calls, and the library's own commands. */
	slot_fill(&m, off, CONF_ECHO, CSE_SLOT_F_WORKER, in, 64, 64);
	KTAP_CHECK(!slot_call(fd, off, &k) && !memcmp(slot_out_area(&m, off), in, 64),
		   "echo after the hostile calls");
	for (i = 0; i < 20; i++)
		KTAP_CHECK(!echo_once(c, i % 2 ? CSE_EXEC_WORKER : 0, i), "echo %u", i);
	/* Once the channel is shut, slot calls fail as peer death. */
	KTAP_CHECK(!ioctl(fd, CSE_DEV_SHUTDOWN), "shutdown");
	slot_fill(&m, off, CONF_ECHO, 0, in, 4, 4);
	KTAP_CHECK(slot_call(fd, off, &k) == -EPIPE, "slot CALL after SHUTDOWN: %s",
		   strerror(errno));
	munmap(m.base, m.size);
	cse_client_deinit(c);
	return 0;
}

/* ---- CSE_DEV_CALL_F_SLOTS: many slots in one call ---- */

static int slots_call(int fd, const __u32 *offs, __u32 len)
{
	struct cse_dev_call k = {
		.input = (uintptr_t)offs,
		.input_len = len,
		.flags = CSE_DEV_CALL_F_SLOTS,
	};
	int r = ioctl(fd, CSE_DEV_CALL, &k);

	return r < 0 ? -errno : r;
}

/* A thread rewriting a batch's offsets while calls read them. */
static struct {
	__u32 *offs;
	__u32 good, bad;
	__u32 stop;
} flip;

static void *flip_main(void *arg)
{
	__u32 i = 0;

	(void)arg;
	while (!__atomic_load_n(&flip.stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(&flip.offs[i % 3], i & 8 ? flip.bad : flip.good,
				 __ATOMIC_RELAXED);
		i++;
	}
	return NULL;
}

/*
 * Batched slot calls: the honest ones run every slot in order (inline on
 * the caller's thread) and return how many ran; a bad offset or header
 * stops the batch there (EINVAL when it is the first); a bad struct or
 * array fails it whole; an array rewritten during the call is read once.
 */
static int test_slots_call_ioctls(const struct ktap_case *tc)
{
	struct cse_dev_call k;
	struct slot_map m;
	struct cse_client *c;
	__u32 offs[CSE_DEV_CALL_MAX_SLOTS + 1], i, n;
	__u8 in[64];
	__u64 tid, tids[3];
	pthread_t t;
	int fd, r, ran[4] = { 0 };

	(void)tc;
	fd = dev_open();
	if (fd < 0)
		return ktap_skip("no /dev/cse here (the module is not loaded)");
	close(fd);
	KTAP_CHECK(!peer_connect(server_id, NULL, &c), "connect to %s", server_id);
	fd = dev_fd_of_client();
	KTAP_CHECK(fd >= 0, "no /dev/cse descriptor in /proc/self/fd");
	KTAP_CHECK(!slot_map(fd, &m), "map the chunk again");
	KTAP_CHECK(m.hdr.nslots >= 4, "geometry: %u slots", m.hdr.nslots);
	/* The library's client is idle: its last three slots are ours. */
	for (i = 0; i < 3; i++)
		offs[i] = slot_off_of(&m, m.hdr.nslots - 1 - i);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (__u8)(i * 7 + 3);

	/* Honest: three echoes, each with its own input, in one call. */
	for (i = 0; i < 3; i++) {
		in[0] = (__u8)i;
		slot_fill(&m, offs[i], CONF_ECHO, CSE_SLOT_F_SYNC | CSE_SLOT_F_INLINE, in,
			  16 + i, 16 + i);
	}
	KTAP_CHECK(slots_call(fd, offs, 12) == 3, "three echoes: %s", strerror(errno));
	for (i = 0; i < 3; i++) {
		in[0] = (__u8)i;
		KTAP_CHECK(slot_at(&m, offs[i])->output_status == CONF_STATUS_OK &&
			   slot_at(&m, offs[i])->output_len_actual == 16 + i &&
			   !memcmp(slot_out_area(&m, offs[i]), in, 16 + i),
			   "echo %u: status %d, %u bytes", i, slot_at(&m, offs[i])->output_status,
			   slot_at(&m, offs[i])->output_len_actual);
	}
	/* Inline: every slot on the caller's own thread, as one slot call. */
	slot_fill(&m, offs[0], CONF_THREAD, CSE_SLOT_F_INLINE, NULL, 0, 8);
	KTAP_CHECK(!slot_call(fd, offs[0], &k), "thread: %s", strerror(errno));
	memcpy(&tid, slot_out_area(&m, offs[0]), 8);
	for (i = 0; i < 3; i++)
		slot_fill(&m, offs[i], CONF_THREAD, CSE_SLOT_F_INLINE, NULL, 0, 8);
	KTAP_CHECK(slots_call(fd, offs, 12) == 3, "threads: %s", strerror(errno));
	for (i = 0; i < 3; i++)
		memcpy(&tids[i], slot_out_area(&m, offs[i]), 8);
	KTAP_CHECK(tids[0] == tid && tids[1] == tid && tids[2] == tid,
		   "inline slots of one call ran on %llu, %llu, %llu; the caller is %llu",
		   (unsigned long long)tids[0], (unsigned long long)tids[1],
		   (unsigned long long)tids[2], (unsigned long long)tid);
	/* The same slot twice runs twice (it is the caller's to name). */
	offs[1] = offs[0];
	slot_fill(&m, offs[0], CONF_ECHO, CSE_SLOT_F_INLINE, in, 8, 8);
	KTAP_CHECK(slots_call(fd, offs, 8) == 2, "one slot twice: %s", strerror(errno));
	offs[1] = slot_off_of(&m, m.hdr.nslots - 2);

	/* A bad offset, then a bad header, in the middle: the batch stops there. */
	for (i = 0; i < 3; i++)
		slot_fill(&m, offs[i], CONF_ECHO, CSE_SLOT_F_INLINE, in, 4, 4);
	n = offs[1];
	offs[1] = n + 4;
	KTAP_CHECK(slots_call(fd, offs, 12) == 1, "a bad second offset");
	KTAP_CHECK(slot_at(&m, offs[0])->output_len_actual == 4 &&
		   slot_at(&m, offs[2])->output_len_actual == 0xdead,
		   "around a bad offset: %u and %u bytes", slot_at(&m, offs[0])->output_len_actual,
		   slot_at(&m, offs[2])->output_len_actual);
	offs[1] = n;
	slot_fill(&m, offs[0], CONF_ECHO, CSE_SLOT_F_INLINE, in, 4, 4);
	slot_fill(&m, offs[1], CONF_ECHO, CSE_SLOT_F_INLINE | CSE_SLOT_F_WORKER, in, 4, 4);
	KTAP_CHECK(slots_call(fd, offs, 12) == 1, "a bad second header");
	KTAP_CHECK(slot_at(&m, offs[2])->output_len_actual == 0xdead,
		   "the slot after a bad header ran");
	KTAP_CHECK(slots_call(fd, offs + 1, 8) == -EINVAL, "a bad first header");
	KTAP_CHECK(slot_at(&m, offs[2])->output_len_actual == 0xdead,
		   "the slot after a bad first header ran");

	/* Bad structs and arrays fail whole. */
	for (i = 0; i < 3; i++)
		slot_fill(&m, offs[i], CONF_ECHO, CSE_SLOT_F_INLINE, in, 4, 4);
	KTAP_CHECK(slots_call(fd, offs, 0) == -EINVAL, "no slots");
	KTAP_CHECK(slots_call(fd, offs, 6) == -EINVAL, "a length not of offsets");
	for (i = 0; i <= CSE_DEV_CALL_MAX_SLOTS; i++)
		offs[i] = offs[i % 3];
	KTAP_CHECK(slots_call(fd, offs, (CSE_DEV_CALL_MAX_SLOTS + 1) * 4) == -EINVAL,
		   "more than CSE_DEV_CALL_MAX_SLOTS");
	KTAP_CHECK(slots_call(fd, offs, CSE_DEV_CALL_MAX_SLOTS * 4) ==
		   (int)CSE_DEV_CALL_MAX_SLOTS, "CSE_DEV_CALL_MAX_SLOTS: %s", strerror(errno));
	KTAP_CHECK(slots_call(fd, NULL, 4) == -EFAULT, "a NULL array");
	KTAP_CHECK(slots_call(fd, (const __u32 *)(uintptr_t)8, 4) == -EFAULT,
		   "an array at a bad address");
	memset(&k, 0, sizeof(k));
	k.input = (uintptr_t)offs;
	k.input_len = 4;
	k.flags = CSE_DEV_CALL_F_SLOTS | CSE_DEV_CALL_F_SLOT;
	CALL_FAILS(fd, &k, EINVAL);
	k.flags = CSE_DEV_CALL_F_SLOTS | CSE_SLOT_F_INLINE;
	CALL_FAILS(fd, &k, EINVAL);
	k.flags = CSE_DEV_CALL_F_SLOTS;
	k.slot_off = offs[0];
	CALL_FAILS(fd, &k, EINVAL);
	k.slot_off = 0;
	k.output = (uintptr_t)in;
	CALL_FAILS(fd, &k, EINVAL);
	k.output = 0;
	k.output_len = 4;
	CALL_FAILS(fd, &k, EINVAL);
	k.output_len = 0;
	k.input_code = CONF_ECHO;
	CALL_FAILS(fd, &k, EINVAL);
	k.input_code = 0;
	k.resv = 1;
	CALL_FAILS(fd, &k, EINVAL);
	k.resv = 0;
	KTAP_CHECK(ioctl(fd, CSE_DEV_CALL, &k) == 1, "the same call, honest again: %s",
		   strerror(errno));

	/* The array rewritten during calls: read once, each call all or part. */
	for (i = 0; i < 3; i++) {
		offs[i] = slot_off_of(&m, m.hdr.nslots - 1 - i);
		slot_fill(&m, offs[i], CONF_ECHO, CSE_SLOT_F_INLINE, in, 4, 4);
	}
	flip.offs = offs;
	flip.good = offs[0];
	flip.bad = offs[0] + 8;
	flip.stop = 0;
	KTAP_CHECK(!pthread_create(&t, NULL, flip_main, NULL), "flipper");
	for (i = 0; i < 3000; i++) {
		r = slots_call(fd, offs, 12);
		KTAP_CHECK(r == -EINVAL || (r >= 1 && r <= 3), "call %u: %d", i, r);
		ran[r < 0 ? 0 : r]++;
	}
	__atomic_store_n(&flip.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	ktap_diag("offsets rewritten during calls: %d refused, %d/%d/%d ran 1/2/3",
		  ran[0], ran[1], ran[2], ran[3]);

	/* Random arrays of random offsets. */
	srandom(4343);
	for (i = 0; i < 3000; i++) {
		__u32 j, len = (__u32)random() % (CSE_DEV_CALL_MAX_SLOTS * 4 + 8);

		for (j = 0; j <= CSE_DEV_CALL_MAX_SLOTS; j++)
			offs[j] = random() % 2 ? slot_off_of(&m, m.hdr.nslots - 1 - j % 3) :
				  (__u32)random() % (__u32)(m.size + 8192);
		for (j = 0; j < 3; j++)
			slot_fill(&m, slot_off_of(&m, m.hdr.nslots - 1 - j), CONF_ECHO,
				  CSE_SLOT_F_INLINE, in, 4, 4);
		r = slots_call(fd, offs, len);
		KTAP_CHECK(r == -EINVAL || (r >= 1 && (__u32)r <= len / 4), "random %u: %d", i, r);
	}
	/* Still served, by calls and by the library's own commands. */
	for (i = 0; i < 3; i++) {
		offs[i] = slot_off_of(&m, m.hdr.nslots - 1 - i);
		slot_fill(&m, offs[i], CONF_ECHO, CSE_SLOT_F_WORKER, in, 64, 64);
	}
	KTAP_CHECK(slots_call(fd, offs, 12) == 3 &&
		   !memcmp(slot_out_area(&m, offs[2]), in, 64), "echoes after the hostile calls");
	for (i = 0; i < 20; i++)
		KTAP_CHECK(!echo_once(c, i % 2 ? CSE_EXEC_WORKER : 0, i), "echo %u", i);
	KTAP_CHECK(!ioctl(fd, CSE_DEV_SHUTDOWN), "shutdown");
	KTAP_CHECK(slots_call(fd, offs, 12) == -EPIPE, "batched CALL after SHUTDOWN: %s",
		   strerror(errno));
	munmap(m.base, m.size);
	cse_client_deinit(c);
	return 0;
}

/* The port of this process's one listening TCP socket on 127.0.0.1, or 0. */
static unsigned int own_loopback_listen_port(void)
{
	char target[64], line[256];
	unsigned long inodes[64], inode;
	unsigned int n = 0, i, port, state, found = 0;
	FILE *f;
	int fd;

	for (fd = 0; fd < 1024 && n < 64; fd++)
		if (fd_target(fd, target, sizeof(target)) &&
		    sscanf(target, "socket:[%lu]", &inode) == 1)
			inodes[n++] = inode;
	f = fopen("/proc/self/net/tcp", "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*u: 0100007F:%X %*X:%*X %X %*X:%*X %*X:%*X %*X %*u %*u %lu",
			   &port, &state, &inode) != 3 || state != 0x0A)
			continue;
		for (i = 0; i < n; i++)
			if (inodes[i] == inode)
				found = port;
	}
	fclose(f);
	return found;
}

static int tcp_connect_loopback(unsigned int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		close(fd);
		return -1;
	}
	return fd;
}

#define STRANGERS	20
#define PENDING_MAX	8	/* TCP_PENDING_MAX in platforms/posix/ctl.c */

/*
 * K-U: strangers on a user server's loopback backup port (anyone local can
 * connect there) must neither stall the server's control thread nor pile
 * up: idle ones beyond a few are dropped, liars at once.
 */
static int test_tcp_strangers(const struct ktap_case *tc)
{
	int idle[STRANGERS], liars[3], fd, i, dropped = 0, fds_before;
	__u64 wrong = 0x0123456789abcdefULL, t0;
	struct cse_server *srv;
	struct cse_client *c;
	unsigned int port;
	char id[64], b;

	(void)tc;
	fd = dev_open();
	if (fd < 0)
		return ktap_skip("no /dev/cse here (the module is not loaded)");
	close(fd);
	snprintf(id, sizeof(id), "fuzz-tcp-%d", (int)getpid());
	KTAP_CHECK(!cse_server_init(), "server init");
	KTAP_CHECK(!cse_server_create(&srv, id, &conf_server_ops, NULL), "server create");
	port = own_loopback_listen_port();
	KTAP_CHECK(port, "the server has no loopback backup port");
	fds_before = testos_count_fds();

	for (i = 0; i < STRANGERS; i++) {
		idle[i] = tcp_connect_loopback(port);
		KTAP_CHECK(idle[i] >= 0, "stranger %d: %s", i, strerror(errno));
	}
	for (i = 0; i < 3; i++) {
		liars[i] = tcp_connect_loopback(port);
		KTAP_CHECK(liars[i] >= 0, "liar %d", i);
	}
	KTAP_CHECK(send(liars[0], &wrong, sizeof(wrong), 0) == sizeof(wrong), "wrong token");
	KTAP_CHECK(send(liars[1], "abc", 3, 0) == 3, "short token");
	shutdown(liars[2], SHUT_WR);	/* nothing, then end-of-file */

	/* The control thread is free: a user client connects and is served. */
	t0 = cse_now_ms();
	KTAP_CHECK(!peer_connect(id, NULL, &c), "connect past the strangers");
	KTAP_CHECK(!echo_once(c, 0, 42), "echo past the strangers");
	KTAP_CHECK(cse_now_ms() - t0 < 5000, "the strangers held the server for %llu ms",
		   (unsigned long long)(cse_now_ms() - t0));
	cse_client_deinit(c);

	/*
	 * Liars are closed at once, though they came after all the idle
	 * strangers: the control thread never waited on one.  Of the idle,
	 * all but PENDING_MAX are dropped.
	 */
	for (i = 0; i < 3; i++) {
		struct pollfd p = { .fd = liars[i], .events = POLLIN };

		KTAP_CHECK(poll(&p, 1, 5000) == 1 && recv(liars[i], &b, 1, 0) <= 0,
			   "liar %d was not disconnected", i);
	}
	t0 = cse_now_ms();
	while (dropped < STRANGERS - PENDING_MAX && cse_now_ms() - t0 < 5000) {
		dropped = 0;
		for (i = 0; i < STRANGERS; i++) {
			struct pollfd p = { .fd = idle[i], .events = POLLIN };

			dropped += poll(&p, 1, 0) == 1;
		}
		cse_sleep_ms(10);
	}
	KTAP_CHECK(dropped >= STRANGERS - PENDING_MAX, "only %d of %d idle strangers dropped",
		   dropped, STRANGERS);
	/*
	 * The user client's connection above closes on the server's side
	 * after its deinit returned (slowly under TCG): give it time, not
	 * room, so that a server keeping more than PENDING_MAX still fails.
	 */
	t0 = cse_now_ms();
	while (testos_count_fds() > fds_before + STRANGERS + 3 + PENDING_MAX &&
	       cse_now_ms() - t0 < 5000)
		cse_sleep_ms(10);
	KTAP_CHECK(testos_count_fds() <= fds_before + STRANGERS + 3 + PENDING_MAX,
		   "the server holds more than %d waiting connections", PENDING_MAX);
	for (i = 0; i < STRANGERS; i++)
		close(idle[i]);
	for (i = 0; i < 3; i++)
		close(liars[i]);
	cse_server_destroy(srv);
	cse_server_deinit();
	return 0;
}

static int test_random_ioctls(const struct ktap_case *tc)
{
	static const unsigned long cmds[] = {
		CSE_DEV_CONNECT, CSE_DEV_CHUNK, CSE_DEV_SEND, CSE_DEV_RECV,
		CSE_DEV_SHUTDOWN, CSE_DEV_WAIT, CSE_DEV_WAKE, CSE_DEV_LISTEN,
		CSE_DEV_ACCEPT, CSE_DEV_CONN_INFO, CSE_DEV_CALL,
	};
	__u8 arg[128], junk[256];
	struct cse_client *c;
	int fd, i, k;

	(void)tc;
	fd = dev_open();
	if (fd < 0)
		return ktap_skip("no /dev/cse here (the module is not loaded)");
	close(fd);
	srandom(1234);
	for (k = 0; k < 50; k++) {
		KTAP_CHECK(!connected(&fd), "connect");
		for (i = 0; i < 400; i++) {
			unsigned long cmd = cmds[random() % (sizeof(cmds) / sizeof(cmds[0]))];
			size_t j;

			for (j = 0; j < sizeof(arg); j++)
				arg[j] = (__u8)random();
			for (j = 0; j < sizeof(junk); j++)
				junk[j] = (__u8)random();
			if (cmd == CSE_DEV_SEND || cmd == CSE_DEV_RECV) {
				struct cse_dev_msg *m = (void *)arg;

				/* Half the time a real buffer, so the kernel goes deeper. */
				if (random() & 1)
					m->buf = (uintptr_t)junk;
				m->len %= sizeof(junk);
				if (cmd == CSE_DEV_RECV)
					continue;	/* would wait for a reply that never comes */
			}
			if (cmd == CSE_DEV_WAIT) {
				struct cse_dev_word *w = (void *)arg;

				w->timeout_ns = 1000;	/* never block the test */
			}
			if (cmd == CSE_DEV_SHUTDOWN)
				continue;
			ioctl(fd, cmd, random() % 16 ? (void *)arg : (void *)(uintptr_t)random());
		}
		close(fd);
	}
	/* The kernel server still serves an honest client. */
	KTAP_CHECK(!peer_connect(server_id, NULL, &c), "honest connect");
	for (i = 0; i < 20; i++)
		KTAP_CHECK(!echo_once(c, i % 2 ? CSE_EXEC_WORKER : 0, (__u32)i), "echo %d", i);
	cse_client_deinit(c);
	return 0;
}

static const struct ktap_case cases[] = {
	{ "invalid_ioctls", test_invalid_ioctls, 60, NULL },
	{ "listener_ioctls", test_listener_ioctls, 60, NULL },
	{ "call_ioctls", test_call_ioctls, 120, NULL },
	{ "slot_call_ioctls", test_slot_call_ioctls, 180, NULL },
	{ "slots_call_ioctls", test_slots_call_ioctls, 180, NULL },
	{ "tcp_strangers", test_tcp_strangers, 60, NULL },
	{ "random_ioctls", test_random_ioctls, 120, NULL },
};

int main(int argc, char **argv)
{
	const char *id = ktap_option(&argc, &argv, "--server");

	if (id)
		server_id = id;
	return ktap_main(argc, argv, cases, KTAP_COUNT(cases));
}
