/* SPDX-License-Identifier: MIT */
/* Server internals, shared by the server's files only. */
#ifndef CSE_SERVER_H
#define CSE_SERVER_H

#include <cse/cse.h>
#include <cse/os.h>

#include "chunk.h"
#include "fifo.h"

struct cse_backup_job;

struct cse_conn {
	struct cse_conn *next;
	struct cse_server *s;
	struct cse_os_ctl *ctl;
	struct cse_os_mutex *send_lock;
	struct cse_os_shm *shm;
	char *base;
	struct cse_geom g;		/* our own copy, validated once */
	struct cse_fifo cs;
	struct cse_fifo sc;
	void *user_context;
	/* A backup command still arriving, message by message (control thread) */
	struct cse_backup_job *rx;

	bool open;			/* handshake done, open_handler ran */
	bool polled;			/* ctl is in the server's poller */
	__u32 dead;			/* stop serving: EOF, destroy or bad peer */
	__u32 inflight;			/* exec handlers queued or running off its turn */
	__u32 putting;			/* cse_conn_inflight_put() calls still touching it */
	__u32 sched;			/* CONN_*: its turns on the workers (server_conn.c) */
	__u32 resched;			/* the pool could not take a turn: retry */
	__u32 closed;			/* close_handler claimed */
	__u32 finished;			/* close_handler ran: the control thread frees it */
};

struct cse_server {
	char server_id[CSE_SERVER_ID_MAX];
	struct cse_server_ops ops;
	struct cse_server_opts opts;
	__s32 spin_ns;

	struct cse_os_ctl *listener;
	struct cse_os_poller *poller;
	struct cse_os_pool *pool;
	struct cse_os_thread *ctl_thread;
	struct cse_os_mutex *lock;	/* conns */
	struct cse_conn *conns;
	__u32 stop;
	__u32 queued;			/* connections waiting for a worker */
	__u32 spinning;			/* a worker spins on an idle connection */
	bool starved;			/* out of descriptors (control thread) */
};

/* server_conn.c */
int cse_conn_start(struct cse_conn *conn, const void *hello, long len,
		   struct cse_os_shm *shm);
void cse_conn_stop(struct cse_conn *conn);
/* After cse_conn_stop(): wait for a worker to close the connection. */
void cse_conn_wait_finished(struct cse_conn *conn);
/* A worker serves the connection soon (a doorbell, a stop, a last put). */
void cse_conn_schedule(struct cse_conn *conn);
void cse_conn_retry(struct cse_conn *conn);
/*
 * No turn queued or running and no in-flight put still touching it: with
 * finished, the connection may be freed.
 */
bool cse_conn_idle(struct cse_conn *conn);
void cse_conn_free(struct cse_conn *conn);
/* Answer the client's hello with @err (its cse_client_init() returns it). */
void cse_conn_refuse(struct cse_conn *conn, int err);
void cse_conn_inflight_put(struct cse_conn *conn);
bool cse_conn_use_worker(struct cse_conn *conn, __u32 flags);
void cse_conn_exec(struct cse_conn *conn, __u32 code, const void *in,
		   __u32 in_len, void *out, __u32 out_len, __u32 *actual,
		   int *status);

/* server_backup.c */
/*
 * A backup command's first message; when more of it is to come, conn->rx
 * holds it and cse_conn_backup_more() takes each next message (one per
 * call: the control thread calls it when the channel is readable, and
 * never waits for the rest).  Nonzero: drop the client.
 */
int cse_conn_backup_request(struct cse_conn *conn, const void *msg, long len);
int cse_conn_backup_more(struct cse_conn *conn);
/* Free a command that never arrived whole. */
void cse_conn_backup_drop(struct cse_conn *conn);
/* One whole command in a call from the client (cse_os_ctl_serve_calls()). */
int cse_conn_call(void *arg, struct cse_os_call *call);
/* The slot command a CSE_DEV_CALL_F_SLOT call names, as a call on its areas. */
int cse_conn_slot_call(struct cse_conn *conn, __u32 off, struct cse_os_call *call,
		       struct cse_slot_hdr **hdr);
/*
 * A CSE_WIRE_SUBMIT on the control channel; nonzero: drop the client.
 * It runs on a worker whatever its flags (never on the control thread).
 */
int cse_conn_submit(struct cse_conn *conn, const void *msg, long len);

#endif /* CSE_SERVER_H */
