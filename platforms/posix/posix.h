/* SPDX-License-Identifier: MIT */
/*
 * What the POSIX files in platforms/posix/ and the per-backend files share.
 * Private to the platform layer: the portable core sees only <cse/os.h>.
 */
#ifndef CSE_POSIX_H
#define CSE_POSIX_H

#include <sys/socket.h>
#include <sys/un.h>

#include <cse/os.h>

/*
 * Fill @sa and @len with the control-channel address of @server_id, already
 * validated by the caller.  Per backend: an abstract name on Linux, a socket
 * file elsewhere (its sun_path[0] != '\0' tells ctl.c to clean it up).
 */
int cse_os_ctl_address(const char *server_id, struct sockaddr_un *sa,
		       socklen_t *len);
/* A socket file in a directory private to the user (posix/ctl_file.c). */
int cse_posix_ctl_file_address(const char *server_id, struct sockaddr_un *sa,
			       socklen_t *len);

/* The socket (or /dev/cse file) behind a control channel. */
int cse_os_ctl_fd(const struct cse_os_ctl *c);
/*
 * The channel's other descriptors, which a poller watches too, with the
 * channel's cookie: a listener's registration with the kernel (a /dev/cse
 * file that polls readable when a kernel client waits) and its loopback TCP
 * socket for K-U backup connections; a kernel client's connection's TCP
 * backup socket.  Only backends whose dev.c can listen have any.  Returns
 * how many it wrote to @fds (at most 2).
 */
int cse_os_ctl_extra_fds(const struct cse_os_ctl *c, int fds[2]);
/* The poller calls this from add and del (@p NULL): a descriptor that
 * arrives later (a TCP backup connection) joins the same poller. */
void cse_os_ctl_polled(struct cse_os_ctl *c, struct cse_os_poller *p, void *cookie);
/* Watch one more descriptor for @cookie (per backend poller), or stop. */
int cse_os_poller_watch_fd(struct cse_os_poller *p, int fd, void *cookie);
void cse_os_poller_unwatch_fd(struct cse_os_poller *p, int fd);
/* Whether the channel goes to a kernel server through /dev/cse. */
bool cse_os_ctl_is_dev(const struct cse_os_ctl *c);

/*
 * The routes to and from the kernel (per backend, dev.c).  Linux goes
 * through /dev/cse; a backend without a kernel peer returns -ENOENT from
 * connect and listen.  @fd is the open device file of one connection.
 *
 * connect: a user client of a kernel server (U-K).  listen: register
 * @server_id for kernel clients (K-U); accept: one of them, -EAGAIN if none
 * waits.  recv: when the message brought the kernel client's chunk and
 * @shm is not NULL, the chunk is mapped into *@shm (else *@shm is NULL).
 */
int cse_os_dev_connect(const char *server_id, int *fd);
int cse_os_dev_listen(const char *server_id, unsigned int tcp_port, int *fd);
int cse_os_dev_accept(int listen_fd, int *fd);
/* The token a kernel client sends first on its TCP backup connection. */
int cse_os_dev_conn_token(int fd, __u64 *token);
int cse_os_dev_send(int fd, const void *a, size_t a_len, const void *b,
		    size_t b_len, bool with_chunk);
long cse_os_dev_recv(int fd, void *buf, size_t cap, struct cse_os_shm **shm);
void cse_os_dev_shutdown(int fd);
/* A client's whole backup command in one call (CSE_DEV_CALL). */
int cse_os_dev_call(int fd, struct cse_os_call *call);

/* The descriptor ctl.c passes to the peer with SCM_RIGHTS. */
int cse_os_shm_fd(const struct cse_os_shm *shm);

/*
 * Validate and map a region received from a peer (per backend).  Takes
 * ownership of @fd: it is closed on failure.
 */
int cse_os_shm_adopt(int fd, struct cse_os_shm **out);

/*
 * Map @size bytes of @fd shared and read-write, and wrap it (posix/shm_map.c,
 * used by the backends' create and adopt).  Takes ownership of @fd: it is
 * closed on failure and by cse_os_shm_destroy().
 */
int cse_posix_shm_map(int fd, size_t size, struct cse_os_shm **out);
/*
 * A new sealed memfd of @size bytes, mapped (posix/shm_memfd.c, for the
 * backends that have memfds and seals; its cse_os_shm_adopt() insists on
 * the seals).
 */
int cse_posix_memfd_create(size_t size, struct cse_os_shm **out);
/* The region at @addr goes away: drop any per-backend record of it. */
void cse_os_shm_forget(void *addr);
/*
 * Size of a region a peer sent: a regular file of 1..CSE_MAX_CHUNK bytes,
 * else -EINVAL.  Does not close @fd.
 */
int cse_posix_shm_peer_size(int fd, size_t *size);

#endif /* CSE_POSIX_H */
