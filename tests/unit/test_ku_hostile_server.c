// SPDX-License-Identifier: MIT
/*
 * A hostile user server for kernel clients (K-U), speaking /dev/cse
 * directly: cse_conformance.ko (hostile_server=ID) connects to it round
 * after round, and this program answers each connection with one kind of
 * abuse, in an order both sides know:
 *   silent   hang up at once, no WELCOME
 *   garbage  a random message instead of a WELCOME, then hang up
 *   scribble a valid WELCOME, then random bytes over the whole chunk and
 *            wakes at random offsets, then hang up
 *   fifo     a valid WELCOME, then random (lap-tagged) offsets in the SC
 *            FIFO the kernel client reads, with wakes, then hang up
 *   tcp      a valid WELCOME; when the kernel client opens its loopback TCP
 *            backup connection, garbage frames on it, then hang up
 * The kernel client must see every command completed exactly once with an
 * error, and the kernel log must stay clean: the verdict is the module's.
 *   test-ku-hostile-server ID ROUNDS_PER_KIND
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cse/abi.h>

enum kind { SILENT, GARBAGE, SCRIBBLE, FIFO, TCP, KINDS };

static int tcp_lfd = -1;	/* our loopback listener for backup connections */

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int listen_on(const char *id)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct cse_dev_connect c = { 0 };
	socklen_t len = sizeof(sin);
	int fd = open(CSE_DEV_PATH, O_RDWR | O_CLOEXEC);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tcp_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (tcp_lfd < 0 || bind(tcp_lfd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(tcp_lfd, 64) || getsockname(tcp_lfd, (struct sockaddr *)&sin, &len)) {
		perror("test-ku-hostile-server: tcp");
		exit(1);
	}
	c.flags = CSE_DEV_LISTEN_TCP;
	c.tcp_port = ntohs(sin.sin_port);
	snprintf(c.server_id, sizeof(c.server_id), "%s", id);
	if (fd < 0 || ioctl(fd, CSE_DEV_LISTEN, &c)) {
		perror("test-ku-hostile-server: listen");
		exit(1);
	}
	return fd;
}

static int accept_one(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	if (poll(&p, 1, 60000) != 1) {
		fprintf(stderr, "test-ku-hostile-server: no kernel client came\n");
		exit(1);
	}
	fd = ioctl(lfd, CSE_DEV_ACCEPT);
	if (fd < 0) {
		perror("test-ku-hostile-server: accept");
		exit(1);
	}
	return fd;
}

static void send_msg(int fd, const void *buf, __u32 len)
{
	struct cse_dev_msg m = { .buf = (uintptr_t)buf, .len = len };

	ioctl(fd, CSE_DEV_SEND, &m);	/* the client may be gone already */
}

static void wake_at(int fd, __u32 off)
{
	struct cse_dev_word w = { .offset = off & ~3U };

	ioctl(fd, CSE_DEV_WAKE, &w);
}

/* Scribble for ~300 ms while the kernel client tries to use the chunk. */
static void abuse_chunk(int fd, __u8 *p, __u32 size, enum kind kind)
{
	const struct cse_chunk_hdr *h = (const void *)p;
	__u32 fifo = h->sc_fifo_off, end = h->slots_off, i, k;

	for (k = 0; k < 30; k++) {
		if (kind == SCRIBBLE) {
			for (i = 0; i < size; i += 4)
				*(volatile __u32 *)(p + i) = (__u32)random();
		} else if (fifo < end && end <= size) {
			for (i = fifo + sizeof(struct cse_fifo_hdr); i + 4 <= end; i += 4)
				*(volatile __u32 *)(p + i) = (__u32)random();
		}
		for (i = 0; i < 16; i++)
			wake_at(fd, (__u32)random() % size);
		sleep_ms(10);
	}
}

/* Earlier rounds' kernel clients opened backup connections too: drop them. */
static void drain_tcp(void)
{
	int s;

	while ((s = accept(tcp_lfd, NULL, NULL)) >= 0)
		close(s);
}

/* Garbage on the kernel client's backup connection, when it opens one. */
static void abuse_tcp(void)
{
	struct pollfd p = { .fd = tcp_lfd, .events = POLLIN };
	__u8 junk[64];
	__u64 token;
	int s, i;

	if (poll(&p, 1, 3000) != 1)
		return;
	s = accept(tcp_lfd, NULL, NULL);
	if (s < 0)
		return;
	if (recv(s, &token, sizeof(token), MSG_WAITALL) == (ssize_t)sizeof(token)) {
		for (i = 0; i < 8; i++) {
			size_t k;

			for (k = 0; k < sizeof(junk); k++)
				junk[k] = (__u8)random();
			if (send(s, junk, 1 + (size_t)random() % sizeof(junk), MSG_NOSIGNAL) < 0)
				break;
		}
	}
	sleep_ms(100);
	close(s);
}

static void serve_round(int fd, enum kind kind)
{
	struct cse_wire_welcome wl = { .hdr.type = CSE_WIRE_WELCOME };
	struct cse_dev_msg m;
	__u8 buf[256], junk[64];
	void *p;
	int n;

	memset(&m, 0, sizeof(m));
	m.buf = (uintptr_t)buf;
	m.len = sizeof(buf);
	n = ioctl(fd, CSE_DEV_RECV, &m);	/* the HELLO, with the chunk */
	if (n <= 0 || kind == SILENT)
		return;
	if (kind == GARBAGE) {
		for (n = 0; n < (int)sizeof(junk); n++)
			junk[n] = (__u8)random();
		send_msg(fd, junk, 1 + (__u32)random() % sizeof(junk));
		sleep_ms(100);
		return;
	}
	if (!(m.flags & CSE_DEV_MSG_CHUNK) || !m.chunk_size)
		return;
	p = mmap(NULL, m.chunk_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return;
	if (kind == TCP)
		drain_tcp();
	send_msg(fd, &wl, sizeof(wl));
	if (kind == TCP)
		abuse_tcp();
	else
		abuse_chunk(fd, p, m.chunk_size, kind);
	munmap(p, m.chunk_size);
}

int main(int argc, char **argv)
{
	int lfd, per_kind, k, r;

	if (argc != 3 || (per_kind = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: test-ku-hostile-server ID ROUNDS_PER_KIND\n");
		return 2;
	}
	srandom(4321);
	lfd = listen_on(argv[1]);
	for (k = 0; k < KINDS; k++) {
		for (r = 0; r < per_kind; r++) {
			int fd = accept_one(lfd);

			serve_round(fd, (enum kind)k);
			close(fd);	/* the server's death, as the kernel sees it */
		}
	}
	close(lfd);
	close(tcp_lfd);
	return 0;
}
