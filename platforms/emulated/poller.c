// SPDX-License-Identifier: MIT
/*
 * Poller over poll().  The watched set is an array under a mutex; wait()
 * polls a snapshot of it, so add() and del() from another thread never
 * touch what poll() is reading.  They kick the poller (a self-pipe, always
 * in the snapshot) so a sleeping wait() returns and the next one sees the
 * new set.  Before reporting, wait() checks each ready entry is still
 * watched, so a channel removed during the poll is not reported.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "posix.h"

struct poller_entry {
	int fd;
	void *cookie;
};

struct cse_os_poller {
	pthread_mutex_t lock;
	struct poller_entry *v;		/* watched channels */
	size_t n, cap;
	int kick[2];			/* self-pipe: read end, write end */
};

int cse_os_poller_create(struct cse_os_poller **out)
{
	struct cse_os_poller *p;
	int ret;

	p = cse_os_zalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	ret = -pthread_mutex_init(&p->lock, NULL);
	if (ret)
		goto err_free;
	/* pipe2() is POSIX.1-2024; non-blocking so kick and drain never stall. */
	if (pipe2(p->kick, O_CLOEXEC | O_NONBLOCK)) {
		ret = -errno;
		goto err_mutex;
	}
	*out = p;
	return 0;

err_mutex:
	pthread_mutex_destroy(&p->lock);
err_free:
	cse_os_free(p);
	return ret;
}

void cse_os_poller_destroy(struct cse_os_poller *p)
{
	if (!p)
		return;
	close(p->kick[0]);
	close(p->kick[1]);
	pthread_mutex_destroy(&p->lock);
	free(p->v);
	cse_os_free(p);
}

/* Index of @fd in the watched set, or -1.  Called with the lock held. */
static long poller_find(const struct cse_os_poller *p, int fd)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->v[i].fd == fd)
			return (long)i;
	}
	return -1;
}

int cse_os_poller_add(struct cse_os_poller *p, struct cse_os_ctl *c,
		      void *cookie)
{
	int fd = cse_os_ctl_fd(c);
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	if (poller_find(p, fd) >= 0) {
		ret = -EEXIST;		/* as epoll */
		goto out;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		struct poller_entry *v = realloc(p->v, cap * sizeof(*v));

		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n].fd = fd;
	p->v[p->n].cookie = cookie;
	p->n++;
out:
	pthread_mutex_unlock(&p->lock);
	if (!ret)
		cse_os_poller_kick(p);
	return ret;
}

int cse_os_poller_del(struct cse_os_poller *p, struct cse_os_ctl *c)
{
	long i;

	pthread_mutex_lock(&p->lock);
	i = poller_find(p, cse_os_ctl_fd(c));
	if (i >= 0)
		p->v[i] = p->v[--p->n];	/* order does not matter */
	pthread_mutex_unlock(&p->lock);
	if (i < 0)
		return -ENOENT;
	cse_os_poller_kick(p);
	return 0;
}

static void poller_drain(struct cse_os_poller *p)
{
	char buf[64];

	while (read(p->kick[0], buf, sizeof(buf)) > 0)
		;
}

/* Still watched with the same cookie?  Called with the lock held. */
static bool poller_watched(const struct cse_os_poller *p, int fd, void *cookie)
{
	long i = poller_find(p, fd);

	return i >= 0 && p->v[i].cookie == cookie;
}

int cse_os_poller_wait(struct cse_os_poller *p, void **cookies, int max,
		       int timeout_ms)
{
	struct pollfd *pfd;
	void **snap;
	size_t n, i;
	int ret, count = 0;

	if (max <= 0)
		return -EINVAL;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	pfd = malloc((n + 1) * sizeof(*pfd));
	snap = malloc((n + 1) * sizeof(*snap));
	if (!pfd || !snap) {
		pthread_mutex_unlock(&p->lock);
		ret = -ENOMEM;
		goto out;
	}
	pfd[0].fd = p->kick[0];
	pfd[0].events = POLLIN;
	for (i = 0; i < n; i++) {
		pfd[i + 1].fd = p->v[i].fd;
		pfd[i + 1].events = POLLIN;	/* POLLHUP always comes */
		snap[i + 1] = p->v[i].cookie;
	}
	pthread_mutex_unlock(&p->lock);

	ret = poll(pfd, (nfds_t)(n + 1), timeout_ms);
	if (ret < 0) {
		ret = errno == EINTR ? 0 : -errno;
		goto out;
	}
	if (pfd[0].revents)
		poller_drain(p);

	pthread_mutex_lock(&p->lock);
	for (i = 1; i <= n && count < max; i++) {
		if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
			continue;
		if (poller_watched(p, pfd[i].fd, snap[i]))
			cookies[count++] = snap[i];
	}
	pthread_mutex_unlock(&p->lock);
	ret = count;
out:
	free(pfd);
	free(snap);
	return ret;
}

/*
 * Only channels with a kernel peer have more than one descriptor, and this
 * backend has none (dev.c): nothing ever asks for a second one.
 */
int cse_os_poller_watch_fd(struct cse_os_poller *p, int fd, void *cookie)
{
	(void)p;
	(void)fd;
	(void)cookie;
	return -EOPNOTSUPP;
}

void cse_os_poller_unwatch_fd(struct cse_os_poller *p, int fd)
{
	(void)p;
	(void)fd;
}

void cse_os_poller_kick(struct cse_os_poller *p)
{
	ssize_t r;

	/* EAGAIN: the pipe is full, so a kick is pending anyway. */
	r = write(p->kick[1], "", 1);
	(void)r;
}
