/* SPDX-License-Identifier: MIT */
/*
 * The control channel's parts, one file per transport, and what they
 * share (platforms/posix/ only):
 *
 *   ctl.c       the channel itself: the os.h entry points, which pick the
 *               transport of each end
 *   ctl_unix.c  AF_UNIX SOCK_SEQPACKET sockets: user clients of user servers
 *   ctl_dev.c   /dev/cse: kernel servers' user clients (U-K) and kernel
 *               clients of user servers (K-U)
 *   ctl_tcp.c   the loopback TCP connections K-U backup commands take
 *
 * and the poller, per backend (platforms/<backend>/poller.c).
 */
#ifndef CSE_POSIX_CTL_INT_H
#define CSE_POSIX_CTL_INT_H

#include <sys/stat.h>

#include "posix.h"

/*
 * TCP backup connections whose token has not come yet, per listener, and
 * how long one may take: the kernel sends it right after connecting, so
 * only a stranger waits, and a stranger must not hold resources long.
 */
#define TCP_PENDING_MAX		8
#define TCP_TOKEN_WAIT_NS	1000000000ULL

struct tcp_pending {
	int fd;
	__u64 deadline_ns;
};

struct cse_os_ctl {
	int fd;
	int dev_fd;		/* listener: its /dev/cse registration, or -1 */
	/*
	 * Listener: a descriptor held in reserve (/dev/null), given up for a
	 * moment to accept and refuse a client when the process is out of
	 * them (cse_os_ctl_reject()); else -1.
	 */
	int spare_fd;
	/*
	 * Listener: its loopback TCP socket for kernel clients' backup
	 * connections; a kernel client's connection: that connection, once
	 * the kernel opened it.  Else -1.
	 */
	int tcp_fd;
	__u64 token;		/* a kernel client's connection: its name on TCP */
	/* Listener: accepted TCP connections still to name their connection */
	struct tcp_pending pending[TCP_PENDING_MAX];
	unsigned int npending;
	struct cse_os_ctl *next_kconn;	/* kconns list */
	struct cse_os_poller *poller;	/* where a late tcp_fd must join */
	void *cookie;
	bool kernel_peer;	/* fd is /dev/cse: the peer is in the kernel */
	bool unlink_path;	/* a listener that owns a socket file */
	dev_t dev;		/* that file, so close() removes only ours */
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path) + 1];
};

/* ctl.c: wrap @fd; closes it on failure. */
int cse_ctl_new(int fd, struct cse_os_ctl **out);

/* ctl_unix.c */
int cse_ctl_unix_addr(const char *server_id, struct sockaddr_un *sa,
		      socklen_t *len);
bool cse_ctl_unix_addr_is_file(const struct sockaddr_un *sa);
int cse_ctl_unix_socket(int flags);
void cse_ctl_unix_size_buffers(int fd);
/* Bind and listen on @server_id's address; the socket file is noted in @c. */
int cse_ctl_unix_listen(const char *server_id, struct cse_os_ctl **out);
/* A user client; -EAGAIN when none waits. */
int cse_ctl_unix_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out);
/* -ECONNREFUSED or -ENOENT: no user server has the id. */
int cse_ctl_unix_connect(const char *server_id, struct cse_os_ctl **out);
int cse_ctl_unix_send(struct cse_os_ctl *c, const void *a, size_t a_len,
		      const void *b, size_t b_len, struct cse_os_shm *shm);
long cse_ctl_unix_recv(struct cse_os_ctl *c, void *buf, size_t cap,
		       struct cse_os_shm **shm);
int cse_ctl_unix_reject(struct cse_os_ctl *listener, const void *msg, size_t len);

/* ctl_dev.c */
int cse_ctl_dev_listen(struct cse_os_ctl *c, const char *server_id);
/* A kernel client; -EAGAIN when none waits. */
int cse_ctl_dev_accept(struct cse_os_ctl *listener, struct cse_os_ctl **out);
int cse_ctl_dev_connect(const char *server_id, struct cse_os_ctl **out);
long cse_ctl_dev_recv(struct cse_os_ctl *c, void *buf, size_t cap,
		      struct cse_os_shm **shm);
void cse_ctl_kconn_add(struct cse_os_ctl *c);
void cse_ctl_kconn_del(struct cse_os_ctl *c);
bool cse_ctl_kconn_attach(int fd, __u64 token);

/* ctl_tcp.c */
int cse_ctl_tcp_listener(unsigned int *port);
void cse_ctl_tcp_accept(struct cse_os_ctl *l);
int cse_ctl_tcp_send_frame(int fd, const void *a, size_t a_len, const void *b,
			   size_t b_len);
long cse_ctl_tcp_recv_frame(int fd, void *buf, size_t cap);

#endif /* CSE_POSIX_CTL_INT_H */
