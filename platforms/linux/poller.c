// SPDX-License-Identifier: MIT
/*
 * Poller over epoll.  Level-triggered, so a channel that still has input
 * (or has hung up) is reported again until it is drained or removed.  A kick
 * is an eventfd registered with the poller itself as its cookie: no user
 * cookie can be that pointer, so wait() can drain it and not report it.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "posix.h"

/* Events fetched per wait; more ready channels come on the next call. */
#define POLLER_BATCH 64

struct cse_os_poller {
	int epfd;
	int kickfd;
};

int cse_os_poller_create(struct cse_os_poller **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct cse_os_poller *p;
	int ret;

	p = cse_os_zalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		ret = -errno;
		goto err_free;
	}
	p->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->kickfd < 0) {
		ret = -errno;
		goto err_epoll;
	}
	ev.data.ptr = p;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->kickfd, &ev)) {
		ret = -errno;
		goto err_kick;
	}
	*out = p;
	return 0;

err_kick:
	close(p->kickfd);
err_epoll:
	close(p->epfd);
err_free:
	cse_os_free(p);
	return ret;
}

void cse_os_poller_destroy(struct cse_os_poller *p)
{
	if (!p)
		return;
	close(p->kickfd);
	close(p->epfd);
	cse_os_free(p);
}

int cse_os_poller_watch_fd(struct cse_os_poller *p, int fd, void *cookie)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLHUP,
		.data.ptr = cookie,
	};

	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

void cse_os_poller_unwatch_fd(struct cse_os_poller *p, int fd)
{
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* A channel may be several descriptors (cse_os_ctl_extra_fds), one cookie. */
int cse_os_poller_add(struct cse_os_poller *p, struct cse_os_ctl *c,
		      void *cookie)
{
	int fds[2], n = cse_os_ctl_extra_fds(c, fds), i, ret;

	ret = cse_os_poller_watch_fd(p, cse_os_ctl_fd(c), cookie);
	for (i = 0; !ret && i < n; i++) {
		ret = cse_os_poller_watch_fd(p, fds[i], cookie);
		if (ret) {
			while (i--)
				epoll_ctl(p->epfd, EPOLL_CTL_DEL, fds[i], NULL);
			epoll_ctl(p->epfd, EPOLL_CTL_DEL, cse_os_ctl_fd(c), NULL);
		}
	}
	if (!ret)
		cse_os_ctl_polled(c, p, cookie);
	return ret;
}

int cse_os_poller_del(struct cse_os_poller *p, struct cse_os_ctl *c)
{
	int fds[2], n = cse_os_ctl_extra_fds(c, fds);

	cse_os_ctl_polled(c, NULL, NULL);
	while (n--)
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, fds[n], NULL);
	if (epoll_ctl(p->epfd, EPOLL_CTL_DEL, cse_os_ctl_fd(c), NULL))
		return -errno;
	return 0;
}

int cse_os_poller_wait(struct cse_os_poller *p, void **cookies, int max,
		       int timeout_ms)
{
	struct epoll_event ev[POLLER_BATCH];
	int i, n, count = 0;
	__u64 val;

	if (max <= 0)
		return -EINVAL;
	n = epoll_wait(p->epfd, ev, max < POLLER_BATCH ? max : POLLER_BATCH,
		       timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (ev[i].data.ptr == p) {
			/* Reset the counter; EAGAIN: another wait drained it. */
			ssize_t r = read(p->kickfd, &val, sizeof(val));

			(void)r;
			continue;
		}
		cookies[count++] = ev[i].data.ptr;
	}
	return count;
}

void cse_os_poller_kick(struct cse_os_poller *p)
{
	__u64 one = 1;
	ssize_t r;

	/* EAGAIN only when the counter is saturated: a kick is pending. */
	r = write(p->kickfd, &one, sizeof(one));
	(void)r;
}
