// SPDX-License-Identifier: MIT
/*
 * The binding's C side: the client handle, which Python may close while other
 * threads use it, and a synchronous call.
 *
 * User-space code for the platforms the binding runs on (POSIX threads),
 * not part of the portable core: it may call the OS.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_cse_py_int.h"

/*
 * The runtime's threads must never take a signal meant for Python: Python
 * runs its handlers on the main thread, which a signal delivered to a C
 * thread would not wake.  Threads inherit the mask of their creator, so
 * block everything while the runtime starts its threads.
 */
void cpy_signals_block(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

void cpy_signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- client handle ---- */

void cpy_client_leave(struct cpy_client *w)
{
	if (!cpy_ld(&w->closing)) {
		__atomic_fetch_sub(&w->users, 1, __ATOMIC_SEQ_CST);
		return;
	}
	pthread_mutex_lock(&w->lock);
	__atomic_fetch_sub(&w->users, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&w->left);
	pthread_mutex_unlock(&w->lock);
}

int cpy_client_enter(struct cpy_client *w)
{
	__atomic_fetch_add(&w->users, 1, __ATOMIC_SEQ_CST);
	if (cpy_ld(&w->closing)) {
		cpy_client_leave(w);
		return -EBADF;
	}
	return 0;
}

#define CPY_CLOSE_RECHECK_NS	1000000ULL

int cpy_client_open(struct cpy_client **out, const char *server_id,
		    uint32_t nslots, uint32_t slot_input_size,
		    uint32_t slot_output_size, uint32_t slot_policy,
		    int32_t spin_ns, uint32_t submit)
{
	struct cse_client_opts o = {
		.nslots = nslots,
		.slot_input_size = slot_input_size,
		.slot_output_size = slot_output_size,
		.slot_policy = slot_policy,
		.spin_ns = spin_ns,
		.submit = submit,
	};
	struct cpy_client *w;
	sigset_t old;
	int ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	ret = -pthread_mutex_init(&w->lock, NULL);
	if (!ret)
		ret = -pthread_cond_init(&w->left, NULL);
	if (ret) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return ret;
	}
	cpy_signals_block(&old);
	ret = cse_client_init(&w->c, server_id, &o);
	cpy_signals_restore(&old);
	if (ret) {
		pthread_cond_destroy(&w->left);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

/*
 * Disconnect: wait for threads inside a call, then complete everything
 * still in flight (cse_client_deinit).  The handle itself stays valid
 * (every later call fails with -EBADF) until cpy_client_free(), which
 * Python runs only once nothing can pass it in any more.
 */
void cpy_client_close(struct cpy_client *w)
{
	struct timespec ts;

	if (!w || __atomic_exchange_n(&w->closing, 1, __ATOMIC_SEQ_CST) || !w->c)
		return;
	pthread_mutex_lock(&w->lock);
	while (cpy_ld(&w->users)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)CPY_CLOSE_RECHECK_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->left, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	cse_client_deinit(w->c);	/* completes what is still in flight */
	w->c = NULL;
}

/*
 * In a child made by fork(): the handle's runtime threads did not come
 * along, and its connection is the parent's.  Refuse every later call
 * (-EBADF), and let cpy_client_close() leave the runtime alone.
 */
void cpy_client_forget(struct cpy_client *w)
{
	if (w) {
		__atomic_store_n(&w->closing, 1, __ATOMIC_SEQ_CST);
		w->c = NULL;
	}
}

void cpy_client_free(struct cpy_client *w)
{
	if (!w)
		return;
	cpy_client_close(w);
	pthread_cond_destroy(&w->left);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int64_t cpy_call(struct cpy_client *w, uint32_t code, uint32_t flags,
		 const char *in, size_t in_len, char *out, size_t out_len,
		 int64_t *info)
{
	struct cse_exec x;
	int ret;

	ret = cpy_client_enter(w);
	if (ret) {
		*info = cpy_pack_failed(ret);
		return -1;
	}
	memset(&x, 0, sizeof(x));
	x.input_code = code;
	x.flags = flags;
	x.input_buffer_base = in;
	x.input_buffer_len = in_len;
	x.output_buffer_base = out;
	x.output_buffer_len = out_len;
	ret = cse_execute(w->c, &x);
	cpy_client_leave(w);
	if (ret) {
		*info = cpy_pack_failed(ret);
		return -1;
	}
	if (!x.output_status_code && !x.backup)
		return (int64_t)x.output_buffer_len_actual;
	*info = cpy_pack_served(&x);
	return -1;
}

