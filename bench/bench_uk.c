// SPDX-License-Identifier: MIT
/*
 * bench-uk: user-to-kernel round trips, inside a VM with cse.ko and a
 * kernel conformance server loaded.  Side by side, in one run:
 *   ioctl         a bare ioctl into cse.ko (CSE_DEV_WAKE on a word)
 *   io_uring_nop  an io_uring NOP submitted and reaped (liburing)
 *   cse_uk_spin   a synchronous 64 B CSE command to the kernel server
 *   cse_uk_nospin the same, never spinning (sleep/wake through ioctls)
 *   cse_uk_call   the same in one ioctl that runs the handler on the
 *                 caller's thread (CSE_SUBMIT_CALL, INLINE): no FIFO, no wake
 *   cse_uk_call_raw  that ioctl alone, issued by hand on the same client's
 *                 connection (the slot header and 64 B written, the ioctl,
 *                 the 64 B read back): cse_uk_call minus this is what the
 *                 library adds in user space, this minus ioctl the kernel
 * and the backup path, 4 KiB each way, forced past the slots:
 *   cse_uk_backup_call  synchronous: the whole command in one CALL ioctl
 *   cse_uk_backup_msg   asynchronous, its completion awaited: SEND and RECV
 *                       ioctls and the client's control thread, which is
 *                       the path every backup command took before CALL
 * and throughput, BATCH commands in flight, issued all at once and reaped
 * before the next round (case uk_batch_tput, ops_per_s from the wall time,
 * p50/p99 of a round's time):
 *   io_uring_nop_batch32  32 NOP SQEs, one io_uring_submit_and_wait()
 *   cse_uk_async32      32 asynchronous 64 B commands, one cse_execute()
 *                       each (a FIFO publication and wake check each)
 *   cse_uk_async_batch32  the same 32 in one cse_execute_batch(): one FIFO
 *                       burst and at most one wake (an ioctl) for all
 *   cse_uk_batch32      32 synchronous inline 64 B commands in one
 *                       cse_execute_batch() of a CSE_SUBMIT_CALL client:
 *                       one CSE_DEV_CALL that runs all 32 and returns with
 *                       their results, as io_uring_submit_and_wait() does
 * One JSON record per line, the schema of bench-baselines.
 *   bench-uk SERVER_ID ITERS
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#ifdef CSE_HAVE_LIBURING
#include <liburing.h>
#endif

#include <cse/cse.h>

#include "bench_util.h"

#define CODE_ECHO 1	/* the conformance server's echo */
#define CODE_THREAD 5	/* the conformance server's: the thread running exec */
#define BACKUP_PAYLOAD 4096
#define BATCH 32

static void emit_sized(const char *cas, const char *mech, unsigned int payload,
		       uint64_t *lat, unsigned long n)
{
	uint64_t total = 0;
	unsigned long i;

	for (i = 0; i < n; i++)
		total += lat[i];
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("{\"case\":\"%s\",\"mechanism\":\"%s\",\"payload\":%u,\"inflight\":1,"
	       "\"p50_ns\":%llu,\"p99_ns\":%llu,\"ops_per_s\":%.0f}\n", cas, mech, payload,
	       (unsigned long long)percentile(lat, n, 0.5),
	       (unsigned long long)percentile(lat, n, 0.99),
	       total ? 1e9 * (double)n / (double)total : 0.0);
	fflush(stdout);
}

static void emit(const char *cas, const char *mech, uint64_t *lat, unsigned long n)
{
	emit_sized(cas, mech, 64, lat, n);
}

static int bench_ioctl(const char *id, uint64_t *lat, unsigned long n)
{
	struct cse_dev_connect c = { 0 };
	struct cse_dev_chunk ch = { .size = 4096 };
	struct cse_dev_word w = { 0 };
	unsigned long i;
	uint64_t t0;
	int fd = open(CSE_DEV_PATH, O_RDWR | O_CLOEXEC);

	snprintf(c.server_id, sizeof(c.server_id), "%s", id);
	if (fd < 0 || ioctl(fd, CSE_DEV_CONNECT, &c) || ioctl(fd, CSE_DEV_CHUNK, &ch)) {
		perror("bench-uk: /dev/cse");
		return -1;
	}
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		ioctl(fd, CSE_DEV_WAKE, &w);
		lat[i] = now_ns() - t0;
	}
	close(fd);
	emit("uk_sync_rtt", "ioctl", lat, n);
	return 0;
}

static int bench_uring(uint64_t *lat, unsigned long n)
{
#ifdef CSE_HAVE_LIBURING
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	unsigned long i;
	uint64_t t0;

	if (io_uring_queue_init(8, &ring, 0)) {
		fprintf(stderr, "bench-uk: io_uring unavailable\n");
		return 0;
	}
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		io_uring_prep_nop(io_uring_get_sqe(&ring));
		io_uring_submit_and_wait(&ring, 1);
		io_uring_wait_cqe(&ring, &cqe);
		io_uring_cqe_seen(&ring, cqe);
		lat[i] = now_ns() - t0;
	}
	io_uring_queue_exit(&ring);
	emit("uk_sync_rtt", "io_uring_nop", lat, n);
#else
	(void)lat;
	(void)n;
	fprintf(stderr, "bench-uk: built without liburing\n");
#endif
	return 0;
}

static void emit_tput(const char *mech, uint64_t *lat, unsigned long rounds,
		      uint64_t wall_ns)
{
	qsort(lat, rounds, sizeof(*lat), cmp_u64);
	printf("{\"case\":\"uk_batch_tput\",\"mechanism\":\"%s\",\"payload\":64,"
	       "\"inflight\":%d,\"p50_ns\":%llu,\"p99_ns\":%llu,\"ops_per_s\":%.0f}\n",
	       mech, BATCH, (unsigned long long)percentile(lat, rounds, 0.5),
	       (unsigned long long)percentile(lat, rounds, 0.99),
	       wall_ns ? 1e9 * (double)(rounds * BATCH) / (double)wall_ns : 0.0);
	fflush(stdout);
}

static int bench_uring_batch(uint64_t *lat, unsigned long rounds)
{
#ifdef CSE_HAVE_LIBURING
	struct io_uring_cqe *cqes[BATCH];
	struct io_uring ring;
	unsigned long r;
	uint64_t t0, start;
	unsigned i, got;

	if (io_uring_queue_init(BATCH, &ring, 0)) {
		fprintf(stderr, "bench-uk: io_uring unavailable\n");
		return 0;
	}
	start = now_ns();
	for (r = 0; r < rounds; r++) {
		t0 = now_ns();
		for (i = 0; i < BATCH; i++)
			io_uring_prep_nop(io_uring_get_sqe(&ring));
		if (io_uring_submit_and_wait(&ring, BATCH) != BATCH)
			return -1;
		for (got = 0; got < BATCH;)
			got += io_uring_peek_batch_cqe(&ring, cqes, BATCH - got);
		io_uring_cq_advance(&ring, BATCH);
		lat[r] = now_ns() - t0;
	}
	emit_tput("io_uring_nop_batch32", lat, rounds, now_ns() - start);
	io_uring_queue_exit(&ring);
#else
	(void)lat;
	(void)rounds;
#endif
	return 0;
}

static struct {
	struct cse_exec x[BATCH];
	struct cse_exec *xs[BATCH];
	char in[BATCH][64], out[BATCH][64];
	uint32_t done;
	uint32_t bad;
} tb;

static void tput_done(struct cse_exec *x, void *ctx)
{
	(void)ctx;
	if (x->result || x->backup || x->output_buffer_len_actual != 64 ||
	    memcmp(tb.in[x - tb.x], tb.out[x - tb.x], 64))
		__atomic_fetch_add(&tb.bad, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&tb.done, 1, __ATOMIC_RELEASE);
}

enum batch_mode {
	ASYNC_EACH,		/* cse_uk_async32 */
	ASYNC_BATCH,		/* cse_uk_async_batch32 */
	SYNC_CALL_BATCH,	/* cse_uk_batch32 */
};

static const char *const batch_mech[] = {
	[ASYNC_EACH] = "cse_uk_async32",
	[ASYNC_BATCH] = "cse_uk_async_batch32",
	[SYNC_CALL_BATCH] = "cse_uk_batch32",
};

/* Round @r's BATCH echoes: each of them right, or how many were not. */
static unsigned int batch_bad(void)
{
	unsigned int i, bad = 0;

	for (i = 0; i < BATCH; i++)
		bad += tb.x[i].result || tb.x[i].backup ||
		       tb.x[i].output_buffer_len_actual != 64 ||
		       memcmp(tb.in[i], tb.out[i], 64);
	return bad;
}

/* BATCH echoes per round, issued as @mode says and all awaited. */
static int bench_cse_batch(const char *id, enum batch_mode mode, uint64_t *lat,
			   unsigned long rounds)
{
	struct cse_client_opts o = { .submit = CSE_SUBMIT_CALL };
	int sync = mode == SYNC_CALL_BATCH;
	struct cse_client *c;
	unsigned long r;
	uint64_t t0, start;
	unsigned i;
	int ret;

	ret = cse_client_init(&c, id, sync ? &o : NULL);
	if (ret) {
		fprintf(stderr, "bench-uk: connect %s: %s\n", id, cse_strerror(ret));
		return -1;
	}
	for (i = 0; i < BATCH; i++) {
		memset(tb.in[i], (int)i + 1, 64);
		tb.xs[i] = &tb.x[i];
	}
	tb.bad = 0;
	start = now_ns();
	for (r = 0; r < rounds; r++) {
		t0 = now_ns();
		__atomic_store_n(&tb.done, 0, __ATOMIC_RELAXED);
		for (i = 0; i < BATCH; i++) {
			memset(&tb.x[i], 0, sizeof(tb.x[i]));
			tb.x[i].input_code = CODE_ECHO;
			tb.x[i].input_buffer_base = tb.in[i];
			tb.x[i].input_buffer_len = 64;
			tb.x[i].output_buffer_base = tb.out[i];
			tb.x[i].output_buffer_len = 64;
			if (sync)
				tb.x[i].flags = CSE_EXEC_INLINE;
			else
				tb.x[i].completion = tput_done;
		}
		if (mode == ASYNC_EACH) {
			for (i = 0, ret = 0; i < BATCH && !ret; i++)
				ret = cse_execute(c, &tb.x[i]);
		} else {
			ret = cse_execute_batch(c, tb.xs, BATCH);
			ret = ret == BATCH ? 0 : ret < 0 ? ret : -EIO;
		}
		/* Asynchronous: the completions run on the client's SC FIFO reader. */
		while (!sync && !ret && __atomic_load_n(&tb.done, __ATOMIC_ACQUIRE) < BATCH)
			sched_yield();
		lat[r] = now_ns() - t0;
		if (sync)
			tb.bad = batch_bad();
		if (ret || tb.bad) {
			fprintf(stderr, "bench-uk: %s round %lu: %s, %u bad\n", batch_mech[mode],
				r, cse_strerror(ret), tb.bad);
			return -1;
		}
	}
	emit_tput(batch_mech[mode], lat, rounds, now_ns() - start);
	cse_client_deinit(c);
	return 0;
}

static void echo_done(struct cse_exec *x, void *done)
{
	(void)x;
	__atomic_store_n((uint32_t *)done, 1, __ATOMIC_RELEASE);
}

/*
 * @n echoes of @len bytes to @id, each timed from execute to its result;
 * @async: with a completion, awaited.  Each must take the path @backup.
 */
static int bench_echo(const char *id, const struct cse_client_opts *o, __u32 flags,
		      int async, size_t len, int backup, uint64_t *lat, unsigned long n)
{
	static char in[BACKUP_PAYLOAD], out[BACKUP_PAYLOAD];
	struct cse_client *c;
	struct cse_exec x;
	uint32_t done;
	unsigned long i;
	uint64_t t0;
	int ret;

	ret = cse_client_init(&c, id, o);
	if (ret) {
		fprintf(stderr, "bench-uk: connect %s: %s\n", id, cse_strerror(ret));
		return -1;
	}
	memset(in, 7, len);
	for (i = 0; i < n; i++) {
		memset(&x, 0, sizeof(x));
		x.input_code = CODE_ECHO;
		x.flags = flags;
		x.input_buffer_base = in;
		x.input_buffer_len = len;
		x.output_buffer_base = out;
		x.output_buffer_len = len;
		done = 0;
		if (async) {
			x.completion = echo_done;
			x.completion_context = &done;
		}
		t0 = now_ns();
		ret = cse_execute(c, &x);
		/* The completion runs on the client's control thread. */
		while (async && !ret && !__atomic_load_n(&done, __ATOMIC_ACQUIRE))
			sched_yield();
		lat[i] = now_ns() - t0;
		if (ret || x.result || x.backup != backup ||
		    x.output_buffer_len_actual != len || memcmp(in, out, len)) {
			fprintf(stderr, "bench-uk: bad echo: %s, path %d\n",
				cse_strerror(ret ? ret : x.result), x.backup);
			return -1;
		}
	}
	cse_client_deinit(c);
	return 0;
}

/* The thread an inline command ran on, as the kernel names it (its pid). */
static uint64_t inline_thread(struct cse_client *c)
{
	uint64_t tid = 0;
	struct cse_exec x = {
		.input_code = CODE_THREAD,
		.flags = CSE_EXEC_INLINE,
		.output_buffer_base = &tid,
		.output_buffer_len = sizeof(tid),
	};

	return cse_execute(c, &x) ? 0 : tid;
}

/*
 * CSE_SUBMIT_CALL: checked first to run on this very thread (else the
 * client fell back to the FIFO, and the figure would be the wrong one):
 * two connections' inline commands run on one thread, the caller's, where
 * through the FIFO each would run on its own connection's reader.
 */
static int bench_call(const char *id, uint64_t *lat, unsigned long n)
{
	struct cse_client_opts o = { .submit = CSE_SUBMIT_CALL };
	struct cse_client *c[2];
	uint64_t tid[2] = { 0, 1 };

	if (cse_client_init(&c[0], id, &o))
		return -1;
	if (!cse_client_init(&c[1], id, &o)) {
		tid[0] = inline_thread(c[0]);
		tid[1] = inline_thread(c[1]);
		cse_client_deinit(c[1]);
	}
	cse_client_deinit(c[0]);
	if (!tid[0] || tid[0] != tid[1]) {
		fprintf(stderr, "bench-uk: CSE_SUBMIT_CALL did not run on the caller's thread\n");
		return -1;
	}
	if (bench_echo(id, &o, CSE_EXEC_INLINE, 0, 64, 0, lat, n))
		return -1;
	emit("uk_sync_rtt", "cse_uk_call", lat, n);
	return 0;
}

/* The /dev/cse file of this process's one U-K connection, or -1. */
static int dev_fd_of_client(void)
{
	char path[64], target[64];
	ssize_t len;
	int fd;

	for (fd = 3; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (!strcmp(target, CSE_DEV_PATH))
			return fd;
	}
	return -1;
}

/*
 * The slot call by hand: the library's client connects (and stays idle),
 * its chunk is mapped a second time, and each round trip writes a slot's
 * header and 64 B input, issues CSE_DEV_CALL_F_SLOT and reads the output.
 */
static int bench_call_raw(const char *id, uint64_t *lat, unsigned long n)
{
	struct cse_client *c;
	struct cse_chunk_hdr hdr;
	struct cse_dev_call k;
	struct cse_slot_hdr *h;
	static char in[64], out[64];
	unsigned long i;
	char *base, *slot_in;
	uint64_t t0;
	void *p;
	int fd, ret = -1;

	if (cse_client_init(&c, id, NULL))
		return -1;
	fd = dev_fd_of_client();
	p = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out;
	memcpy(&hdr, p, sizeof(hdr));
	munmap(p, 4096);
	p = mmap(NULL, hdr.chunk_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out;
	base = p;
	h = (struct cse_slot_hdr *)(base + hdr.slots_off);
	slot_in = (char *)(h + 1);
	memset(in, 3, sizeof(in));
	for (i = 0; i < n; i++) {
		t0 = now_ns();
		h->input_code = CODE_ECHO;
		h->flags = CSE_SLOT_F_SYNC | CSE_SLOT_F_INLINE;
		h->input_len = sizeof(in);
		h->output_len = sizeof(out);
		memcpy(slot_in, in, sizeof(in));
		memset(&k, 0, sizeof(k));
		k.flags = CSE_DEV_CALL_F_SLOT;
		k.slot_off = hdr.slots_off;
		if (ioctl(fd, CSE_DEV_CALL, &k) || h->output_len_actual != sizeof(out))
			goto unmap;
		memcpy(out, slot_in + hdr.slot_input_size, sizeof(out));
		lat[i] = now_ns() - t0;
	}
	emit("uk_sync_rtt", "cse_uk_call_raw", lat, n);
	ret = 0;
unmap:
	munmap(p, hdr.chunk_size);
out:
	if (ret)
		perror("bench-uk: raw slot call");
	cse_client_deinit(c);
	return ret;
}

static int bench_cse(const char *id, int spin, uint64_t *lat, unsigned long n)
{
	struct cse_client_opts o = { .spin_ns = spin ? 0 : -1 };

	if (bench_echo(id, &o, 0, 0, 64, 0, lat, n))
		return -1;
	emit("uk_sync_rtt", spin ? "cse_uk_spin" : "cse_uk_nospin", lat, n);
	return 0;
}

/* A forced backup echo; @async: as messages, its completion awaited. */
static int bench_backup(const char *id, int async, uint64_t *lat, unsigned long n)
{
	if (bench_echo(id, NULL, CSE_EXEC_FORCE_BACKUP, async, BACKUP_PAYLOAD,
		       async ? CSE_BACKUP_MSG : CSE_BACKUP_CALL, lat, n))
		return -1;
	emit_sized("uk_backup_rtt", async ? "cse_uk_backup_msg" : "cse_uk_backup_call",
		   BACKUP_PAYLOAD, lat, n);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n;
	uint64_t *lat;

	if (argc != 3) {
		fprintf(stderr, "usage: bench-uk SERVER_ID ITERS\n");
		return 2;
	}
	n = parse_ul("bench-uk", argv[2], "iters");
	lat = calloc(n ? n : 1, sizeof(*lat));
	if (!lat || !n)
		return 2;
	if (bench_ioctl(argv[1], lat, n) || bench_call(argv[1], lat, n) ||
	    bench_call_raw(argv[1], lat, n) || bench_uring(lat, n) ||
	    bench_cse(argv[1], 1, lat, n) || bench_cse(argv[1], 0, lat, n) ||
	    bench_backup(argv[1], 0, lat, n) || bench_backup(argv[1], 1, lat, n) ||
	    bench_uring_batch(lat, n / BATCH + 1) ||
	    bench_cse_batch(argv[1], ASYNC_EACH, lat, n / BATCH + 1) ||
	    bench_cse_batch(argv[1], ASYNC_BATCH, lat, n / BATCH + 1) ||
	    bench_cse_batch(argv[1], SYNC_CALL_BATCH, lat, n / BATCH + 1))
		return 1;
	free(lat);
	return 0;
}
