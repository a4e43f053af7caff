/* SPDX-License-Identifier: MIT */
/* Client internals, shared by the client's files only. */
#ifndef CSE_CLIENT_H
#define CSE_CLIENT_H

#include <cse/cse.h>
#include <cse/os.h>

#include "chunk.h"
#include "fifo.h"

/* Private tracking of one slot; never in shared memory. */
struct cse_cmd {
	struct cse_exec *x;
	__u32 off;
	__u32 seq;
	/*
	 * 1 in flight, 2 claimed by the control thread, 3 filled by
	 * cse_execute_batch() and not yet published: still the issuer's
	 * alone (the control thread's death handling passes it by).
	 */
	__u32 busy;
	bool sync;
};

/* A command on the backup path, waiting for its reply. */
struct cse_backup {
	struct cse_backup *next;
	__u64 id;
	struct cse_exec *x;
	char *in_area;			/* one buffer: input area, then output area */
	char *out_area;
	__u32 done;			/* word a synchronous caller waits on */
	__u32 sent;			/* the issuer (or the sender) is done with it */
	struct cse_backup *qnext;	/* send queue (asynchronous commands) */
};

struct cse_client {
	char server_id[CSE_SERVER_ID_MAX];
	struct cse_client_opts opts;
	__s32 spin_ns;

	struct cse_os_ctl *ctl;
	struct cse_os_mutex *send_lock;
	struct cse_os_shm *shm;
	char *base;
	struct cse_geom g;
	struct cse_fifo cs;
	struct cse_fifo sc;

	struct cse_cmd *cmds;		/* nslots */
	struct cse_os_mutex *lock;	/* free slots, backups */
	__u32 *free_stack;
	__u32 nfree;
	__u32 cached_slot;		/* one more free slot: index + 1, or 0 (client_exec.c) */
	__u32 free_seq;			/* bumped when a slot frees (CSE_SLOTS_WAIT) */
	__u32 free_waiters;		/* threads sleeping on free_seq */
	struct cse_backup *backups;
	__u64 next_backup_id;
	/*
	 * Asynchronous backup commands wait here for the sender thread, so
	 * their issuer never blocks on a server that reads slowly.  Under
	 * lock; the thread starts with the first such command.
	 */
	struct cse_backup *sendq, **sendq_tail;
	struct cse_os_thread *sender;
	__u32 sendq_seq;		/* bumped when a command is queued */
	__u32 sender_stop;		/* under lock: queue nothing more */

	struct cse_os_thread *scm_thread;	/* SC FIFO reader (seed: SCM) */
	struct cse_os_thread *ctl_thread;	/* control channel reader (seed: PMT) */
	__u32 scm_stop;
	__u32 scm_done;			/* the SCM thread has left its loop */
	__u32 dead;			/* the server is gone: fail fast */
	__u32 closing;			/* cse_client_deinit(): no peer-death notice */
	__u32 no_call;			/* CSE_SUBMIT_CALL: the server takes no calls */
	__u32 no_call_batch;		/* ... or none that runs many slots */
	struct cse_os_event *event;	/* cse_client_event_fd(), made on demand */
};

static inline struct cse_slot_hdr *cse_client_slot(struct cse_client *c,
						   __u32 idx)
{
	return (struct cse_slot_hdr *)(c->base + cse_geom_slot_off(&c->g, idx));
}

/*
 * cse_execute_batch(): asynchronous commands in their slots, not yet in
 * the CS FIFO.  At most this many go out per doorbell (on the stack: it
 * must stay small for the kernel's).
 */
#define CSE_BATCH_DOORBELL	64U
/* A synchronous batch's doorbell to a kernel server is one call. */
CSE_STATIC_ASSERT(CSE_BATCH_DOORBELL <= CSE_DEV_CALL_MAX_SLOTS,
		  "a doorbell's slots fit one CSE_DEV_CALL");

#define CSE_CMD_BATCHED		3U

struct cse_batch {
	__u32 n;
	/* Every command synchronous: the doorbell waits for them all. */
	bool sync;
	/* Slot indexes; made offsets in place only to be published. */
	__u32 slot[CSE_BATCH_DOORBELL];
};

/* client_exec.c */
int cse_client_exec_slot(struct cse_client *c, struct cse_exec *x);
/*
 * Fill a free slot with @x and add it to @b (published when @b is full);
 * -EAGAIN when no slot is free right now, or what the prepare step
 * returned.  Flush publishes what @b holds, with at most one wake.
 */
int cse_client_batch_slot(struct cse_client *c, struct cse_batch *b,
			  struct cse_exec *x);
void cse_client_batch_flush(struct cse_client *c, struct cse_batch *b);
void cse_client_complete_slot(struct cse_client *c, __u32 idx, int result);
void cse_client_scm_main(void *arg);
void cse_client_fail_slots(struct cse_client *c);
void cse_client_stop_scm(struct cse_client *c);
void cse_client_drain_sync(struct cse_client *c);

/* client_backup.c */
int cse_client_exec_backup(struct cse_client *c, struct cse_exec *x);
int cse_client_backup_reply(struct cse_client *c, const void *msg, long len);
void cse_client_fail_backups(struct cse_client *c);
void cse_client_stop_sender(struct cse_client *c);

/* Copies done when the caller gave no prepare/post callback (seed defaults). */
int cse_exec_prepare(struct cse_exec *x, void *in_area, void *out_area);
void cse_exec_post(struct cse_exec *x, void *in_area, void *out_area);
bool cse_client_is_dead(struct cse_client *c);

#endif /* CSE_CLIENT_H */
