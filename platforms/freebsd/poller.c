// SPDX-License-Identifier: MIT
/*
 * Poller over kqueue.  EVFILT_READ without EV_CLEAR is level-triggered, so
 * a channel that still has input (or has hung up: EV_EOF) is reported
 * again until it is drained or removed, as with epoll on Linux.  A kick is
 * an EVFILT_USER event, which lives in the kqueue itself (no descriptor):
 * EV_CLEAR resets it once a wait has collected it.  Its filter tells it
 * apart from the channels, so wait() drops it and reports only cookies.
 */
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>
#include <unistd.h>

#include "posix.h"

/* Events fetched per wait; more ready channels come on the next call. */
#define POLLER_BATCH 64
/* The kick's identifier (EVFILT_USER identifiers are not descriptors). */
#define POLLER_KICK_IDENT 0

struct cse_os_poller {
	int kq;
};

/* One change to the kqueue, applied now. */
static int poller_change(struct cse_os_poller *p, uintptr_t ident,
			 short filter, unsigned short flags, unsigned int fflags,
			 void *udata)
{
	struct kevent kev;

	EV_SET(&kev, ident, filter, flags, fflags, 0, udata);
	return kevent(p->kq, &kev, 1, NULL, 0, NULL) ? -errno : 0;
}

int cse_os_poller_create(struct cse_os_poller **out)
{
	struct cse_os_poller *p;
	int ret;

	p = cse_os_zalloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	/* FreeBSD 14: a kqueue closed on exec, with no window for a fork. */
	p->kq = kqueuex(KQUEUE_CLOEXEC);
	if (p->kq < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = poller_change(p, POLLER_KICK_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR,
			    0, p);
	if (ret)
		goto err_kq;
	*out = p;
	return 0;

err_kq:
	close(p->kq);
err_free:
	cse_os_free(p);
	return ret;
}

void cse_os_poller_destroy(struct cse_os_poller *p)
{
	if (!p)
		return;
	close(p->kq);
	cse_os_free(p);
}

/*
 * Unlike epoll, adding a descriptor that is already watched is no error:
 * kqueue updates the existing event (its cookie).  Nothing here adds one
 * twice.
 */
int cse_os_poller_watch_fd(struct cse_os_poller *p, int fd, void *cookie)
{
	return poller_change(p, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, cookie);
}

void cse_os_poller_unwatch_fd(struct cse_os_poller *p, int fd)
{
	poller_change(p, (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, NULL);
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
				cse_os_poller_unwatch_fd(p, fds[i]);
			cse_os_poller_unwatch_fd(p, cse_os_ctl_fd(c));
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
		cse_os_poller_unwatch_fd(p, fds[n]);
	return poller_change(p, (uintptr_t)cse_os_ctl_fd(c), EVFILT_READ,
			     EV_DELETE, 0, NULL);
}

int cse_os_poller_wait(struct cse_os_poller *p, void **cookies, int max,
		       int timeout_ms)
{
	struct kevent ev[POLLER_BATCH];
	struct timespec ts, *tsp = NULL;
	int i, n, count = 0;

	if (max <= 0)
		return -EINVAL;
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	n = kevent(p->kq, NULL, 0, ev, max < POLLER_BATCH ? max : POLLER_BATCH,
		   tsp);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (ev[i].filter == EVFILT_USER)
			continue;	/* a kick: EV_CLEAR has reset it */
		cookies[count++] = ev[i].udata;
	}
	return count;
}

void cse_os_poller_kick(struct cse_os_poller *p)
{
	/* Triggering an already triggered event is a no-op: one wake. */
	poller_change(p, POLLER_KICK_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, p);
}
