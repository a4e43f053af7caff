/* SPDX-License-Identifier: MIT */
/*
 * CSE: one API for commands between code modules, whether each runs in user
 * space or in the kernel.  A client issues commands to a server named by a
 * server_id; the runtime moves them through shared-memory command slots and
 * two FIFOs of slot offsets, falls back to a backup path over the control
 * channel, and completes every issued command exactly once, with the
 * server's status or with a peer-death result.
 *
 * Every function returns 0 or a negative errno value; none sets errno.
 * This header compiles unchanged in user space and in a Linux kernel module.
 */
#ifndef CSE_H
#define CSE_H

#include <cse/abi.h>

/* errno values, bool and memcpy are part of the API's vocabulary in both worlds. */
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/stddef.h>
#include <linux/string.h>
#else
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A server_id is 1 to 63 ASCII letters (a-z, A-Z), digits (0-9), '.', '_'
 * or '-', NUL-terminated (CSE_SERVER_ID_MAX, 64 bytes with the NUL, in
 * abi.h); anything else is -EINVAL.  It becomes part of a socket or file
 * name, so no other character is allowed: no '/', no space, no NUL
 * inside.  cse_server_id_valid() (abi.h) is the check every door applies.
 */

struct cse_client;
struct cse_server;
struct cse_conn;
struct cse_exec;

/* struct cse_exec.flags */
/*
 * Where the server runs a slot command's exec_handler.  A backup command
 * (sent as messages), and a slot command submitted on the control channel
 * (CSE_SUBMIT_CTL), always runs on a worker: the server's control thread,
 * which accepts clients, shakes hands, reads backup messages and sees
 * clients die, runs no handler and never waits for one client, so a slow
 * handler delays only its own connection and the worker it holds.
 */
/*
 * A server's threads are one control thread and its worker pool, however
 * many clients it has.  INLINE: on the worker that took the command from
 * the connection's FIFO, in order, one at a time (no thread hop).
 * WORKER: handed to another worker, so the connection's next commands go
 * on meanwhile.
 */
#define CSE_EXEC_INLINE		(1U << 0)	/* server runs exec on its reader */
#define CSE_EXEC_WORKER		(1U << 1)	/* server runs exec on another worker */
#define CSE_EXEC_FORCE_BACKUP	(1U << 2)	/* use the backup path */
#define CSE_EXEC_LAST		(1U << 3)

/*
 * Client callbacks (seed: input/output prepare and post, completion).
 * input_data_area and output_data_area are where the command's data lives
 * while it travels: a slot in shared memory, or a private buffer on the
 * backup path.  A prepare callback that returns nonzero (-errno) fails the
 * execute before anything is sent; the command is then not issued and
 * gets no completion.  The post callbacks see the areas as the command
 * left them: input_post the input as the prepare step wrote it (in a slot,
 * memory the server could also write: an honest one does not), and
 * output_post the server's output_buffer_len_actual bytes.
 */
typedef int (*cse_input_prepare_fn)(struct cse_exec *x, void *input_data_area);
typedef int (*cse_output_prepare_fn)(struct cse_exec *x, void *output_data_area);
typedef void (*cse_input_post_fn)(struct cse_exec *x, void *input_data_area);
typedef void (*cse_output_post_fn)(struct cse_exec *x, void *output_data_area);
typedef void (*cse_completion_fn)(struct cse_exec *x, void *completion_context);
typedef void (*cse_peer_death_fn)(struct cse_client *c, void *context);

/*
 * One command, owned by the caller (like an io_uring SQE).  It must stay
 * valid until cse_execute() returns (synchronous) or until the completion
 * callback has been called (asynchronous).
 */
struct cse_exec {
	/* in */
	__u32 input_code;
	__u32 flags;			/* CSE_EXEC_* */
	const void *input_buffer_base;
	size_t input_buffer_len;
	void *output_buffer_base;
	size_t output_buffer_len;

	/*
	 * Optional callbacks.  Without input_prepare the runtime copies
	 * input_buffer_len bytes from input_buffer_base into the input data
	 * area; without output_post it copies output_buffer_len_actual bytes
	 * from the output data area to output_buffer_base.  Missing
	 * output_prepare and input_post do nothing.  A NULL completion makes
	 * cse_execute() synchronous.
	 */
	cse_input_prepare_fn input_prepare;
	cse_output_prepare_fn output_prepare;
	cse_input_post_fn input_post;
	cse_output_post_fn output_post;
	cse_completion_fn completion;
	void *completion_context;

	/* out */
	size_t output_buffer_len_actual;
	int output_status_code;		/* the server's status */
	/*
	 * 0 when the server ran the command; -ECONNRESET when the server died
	 * (or was destroyed, or the connection broke) first; -EPROTO when its
	 * reply was malformed.  Callbacks see it already set.  Whenever
	 * cse_execute() returns nonzero, it writes the same value here too.
	 */
	int result;
	int backup;			/* 0: a slot; else CSE_BACKUP_*, set for the post callbacks */

	/* runtime private */
	void *priv;
};

/*
 * struct cse_exec.backup: how a command that did not use a slot travelled.
 * A synchronous command to a kernel server (U-K, K-K) goes in one call that
 * returns with the result: an ioctl with the command at user addresses, or
 * a direct call.  Every other backup command, and all of them to a user
 * server, go as messages on the control channel (a socket, or the kernel's
 * loopback TCP connection for K-U).  An asynchronous one is queued and sent
 * by a runtime thread of the client (started with the first), so its
 * issuer never waits for a server that reads slowly.
 */
#define CSE_BACKUP_MSG		1
#define CSE_BACKUP_CALL		2

/* What cse_execute() does when every command slot is busy. */
enum cse_slot_policy {
	CSE_SLOTS_BACKUP = 0,		/* send the command on the backup path */
	CSE_SLOTS_WAIT = 1,		/* wait for a slot to become free */
};

/*
 * How a command in a slot reaches the server.  Either way the command data
 * stays in the shared slot and the reply comes back the same way.
 */
enum cse_submit {
	CSE_SUBMIT_FIFO = 0,		/* the slot's offset in the CS FIFO */
	/*
	 * The offset in a message on the control channel: to a kernel server
	 * it is passed in an ioctl (the seed's second U-K mode), to a user
	 * server it is a socket message.  The server's control thread hands
	 * the command to a worker, whatever its CSE_EXEC_* flag (it runs no
	 * handler itself).  Costs a system call per
	 * command, but needs no reader polling the FIFO.  The issuer sends
	 * the message itself, so an asynchronous execute to a user server
	 * can wait here, only while that server leaves hundreds of
	 * submissions unread (more than its socket buffers hold; the default
	 * 64 slots never get there).
	 */
	CSE_SUBMIT_CTL = 1,
	/*
	 * A synchronous command to a kernel server: the slot's offset in one
	 * call that runs the server's exec_handler and returns with the
	 * result (the seed's second U-K mode): an ioctl from user space, a
	 * direct call between kernel modules.  The handler runs on the
	 * caller's own thread for CSE_EXEC_INLINE (a worker for
	 * CSE_EXEC_WORKER; else the server's default): no FIFO, no wake-up,
	 * no copy.  Asynchronous commands, and every command to a user server
	 * (which takes no calls), go through the CS FIFO as with
	 * CSE_SUBMIT_FIFO.
	 */
	CSE_SUBMIT_CALL = 2,
};

/*
 * Slot geometry: 1..CSE_MAX_SLOTS (4096) slots, each with an input and an
 * output area of at most CSE_MAX_SLOT_AREA (1 MiB) bytes (rounded up to a
 * multiple of 8), all of it in at most CSE_MAX_CHUNK (256 MiB); beyond
 * that cse_client_init() returns -EINVAL.  A command whose input is longer
 * than the input area, or whose output_buffer_len is longer than the
 * output area, takes the backup path, up to CSE_MAX_BACKUP (64 MiB) each
 * way.
 */
struct cse_client_opts {
	__u32 nslots;			/* 0: 64 */
	__u32 slot_input_size;		/* 0: 4096 */
	__u32 slot_output_size;		/* 0: 4096 */
	__u32 slot_policy;		/* enum cse_slot_policy */
	__s32 spin_ns;			/* busy-wait before sleeping; <0: never spin, 0: default */
	__u32 submit;			/* enum cse_submit */
	__u32 resv[2];			/* must be zero */
	/*
	 * Optional: called once each time the server dies or hangs up (not
	 * for cse_client_deinit()), on the client's control thread, after
	 * every command in flight has completed with -ECONNRESET, so also
	 * when no command was in flight.  It must not call
	 * cse_client_reconnect() or cse_client_deinit() itself: hand that to
	 * another thread.
	 */
	cse_peer_death_fn on_peer_death;
	void *peer_death_context;
};

/**
 * cse_client_init() - connect to the server registered as @server_id.
 * @out: receives the client handle.
 * @server_id: NUL-terminated name, at most CSE_SERVER_ID_MAX bytes.
 * @opts: slot geometry and policies, or NULL for defaults.
 *
 * Creates the connection's shared chunk, hands it to the server, and returns
 * once the server has accepted it (its open_handler has run).
 * Return: 0; -ENOENT no such server; -EINVAL bad options or server_id;
 * -ENOMEM; -EMFILE/-ENFILE this process, or the server's, is out of file
 * descriptors (the server refuses at once, it never leaves the client
 * waiting); the negative errno the server's open_handler refused it with,
 * or -ECONNREFUSED when it refused with another nonzero value or hung up
 * without answering; -EPROTONOSUPPORT the server speaks another ABI
 * version; -EPROTO a malformed answer.
 */
int cse_client_init(struct cse_client **out, const char *server_id,
		    const struct cse_client_opts *opts);

/**
 * cse_execute() - issue one command.
 * @c: client handle.
 * @x: the command; see struct cse_exec.
 *
 * Order per command: input_prepare, output_prepare, (server exec),
 * input_post, output_post, completion.  Synchronous when x->completion is
 * NULL: returns after output_post with x->result also returned.  Otherwise
 * returns 0 once the command is issued and the post callbacks and the
 * completion run later, exactly once, on a runtime thread: the SC FIFO
 * reader for slot commands, the control thread for backup commands and
 * after peer death, so two completions may run at once.  A completion may
 * call cse_execute(); the runtime no longer touches @x once the completion
 * has been called.  Commands that do not fit a slot (see struct
 * cse_client_opts), or that find no free slot under CSE_SLOTS_BACKUP, take
 * the backup path with the same callbacks.
 * Return: 0 (or x->result when synchronous); -EINVAL @c or @x NULL, bad
 * flags or a NULL buffer with a length; -EMSGSIZE input or output longer
 * than CSE_MAX_BACKUP; -ECONNRESET the server is gone; -ENOMEM; -EAGAIN
 * no thread could start to send the client's first asynchronous backup
 * command (nothing was issued: try again); the nonzero return of a prepare
 * callback.  A nonzero return means the
 * command was not issued, or finished synchronously: no completion runs,
 * and x->result holds the same value.
 */
int cse_execute(struct cse_client *c, struct cse_exec *x);

/* The most commands one cse_execute_batch() call takes. */
#define CSE_MAX_BATCH	65536U

/**
 * cse_execute_batch() - issue many commands with one doorbell.
 * @c: client handle.
 * @xs: @n commands: each asynchronous (with a completion), or each
 *	synchronous (none has one).
 * @n: how many, 1..CSE_MAX_BATCH.
 *
 * Asynchronous commands: as cse_execute() on each command in order, except
 * that the commands that go through slots reach the server's CS FIFO
 * together: up to 64 at a time in one burst (one atomic claim, one store
 * each) followed by at most one wake-up of the server (for a kernel
 * server, one ioctl), where cse_execute() pays a full barrier, and maybe a
 * wake-up, per command.  A command that takes the backup path, or that
 * finds no free slot, is first preceded by the burst so far, so the server
 * sees the commands in order.  A CSE_SUBMIT_CTL client sends each command
 * in its own message (there is no FIFO burst to share).  When the server
 * dies during the call, the commands already in slots complete with
 * -ECONNRESET, some maybe on the calling thread before this returns.
 * Return: how many commands were issued, counted from xs[0]: each of those
 * gets its completion exactly once.  Fewer than @n: xs[ret] was not issued
 * (no completion) and its x->result says why, as cse_execute() would
 * return it (-EINVAL for a command without a completion; a NULL xs[ret]
 * has nothing to write to), and the commands after it were not looked
 * at.  When even xs[0] was not issued, its error instead: -EINVAL also
 * for @c or @xs NULL, @n out of range, or a NULL xs[0].
 *
 * Synchronous commands (xs[0] has no completion): every command runs, in
 * order, before this returns, up to 64 per doorbell, and each gets in
 * x->result what cse_execute() would have returned for it; one that
 * cannot start (a failing prepare callback, a bad command) does not stop
 * the others.  Through the FIFO the 64 go out in one burst and are then
 * waited for.  With CSE_SUBMIT_CALL to a kernel server they go in one
 * call (one CSE_DEV_CALL ioctl; a direct call between kernel modules) that
 * runs them all, each inline command on the calling thread, and returns
 * with their results: no FIFO, no wake-up.  A user server takes no calls:
 * there the FIFO carries them.
 * Return: @n; -EINVAL (nothing ran) for @c or @xs NULL, @n out of range,
 * a NULL command, or one with a completion among them.
 */
int cse_execute_batch(struct cse_client *c, struct cse_exec *const *xs,
		      unsigned int n);

/**
 * cse_client_event_fd() - a file descriptor for event loops (user space).
 * @c: client handle.
 *
 * It polls readable (POLLIN) from the moment the server is known gone (as
 * on_peer_death is called) until cse_client_reconnect() succeeds.  It
 * belongs to the client: do not read or close it.
 * Return: the descriptor; -EINVAL @c NULL; -EMFILE/-ENFILE; -ENOMEM;
 * -EOPNOTSUPP in the kernel.
 */
int cse_client_event_fd(struct cse_client *c);

/**
 * cse_client_reconnect() - connect again after the server died.
 * @c: client handle whose server is gone.
 *
 * Connects to whichever server now holds the same server_id (a restarted
 * one), with the same options; the client handle and its event_fd stay.
 * Commands issued before the death have all completed (-ECONNRESET).
 * No other call on @c may run meanwhile; not from on_peer_death.
 * Return: 0; -EISCONN the server is not gone; or what cse_client_init()
 * returns (-ENOENT: nobody serves the id yet; @c stays disconnected, and
 * a later call may try again).
 */
int cse_client_reconnect(struct cse_client *c);

/**
 * cse_client_deinit() - disconnect and free the client.
 * @c: client handle, or NULL.
 *
 * Commands still in flight complete with -ECONNRESET before it returns.
 * Must not be called from a completion callback.
 */
void cse_client_deinit(struct cse_client *c);

/* Server handlers (seed: open/exec/close). */
struct cse_server_ops {
	/*
	 * A client connected; set *user_context for the connection.  Return
	 * 0 to accept it, or a negative errno to refuse it: the client's
	 * cse_client_init() returns that value as it is (so pick one that
	 * says why, such as -EACCES or -EBUSY, rather than one the runtime
	 * returns for its own reasons, such as -ENOENT or -EPROTO).  Any
	 * other nonzero value (positive, or below -4095) refuses it with
	 * -ECONNREFUSED.  A refused client gets no close_handler.
	 */
	int (*open_handler)(struct cse_conn *conn, void **user_context);
	/*
	 * Run one command.  @in may be in memory the client can still write:
	 * treat it as untrusted input.  Write at most @out_len bytes to @out,
	 * set *out_len_actual and *status.  An *out_len_actual larger than
	 * @out_len is cut to @out_len and logged as a warning (stderr in user
	 * space, the kernel log in the kernel).
	 */
	void (*exec_handler)(struct cse_conn *conn, void *user_context,
			     __u32 input_code, const void *in, size_t in_len,
			     void *out, size_t out_len, size_t *out_len_actual,
			     int *status);
	/* The connection ended; no exec_handler runs for it afterwards. */
	void (*close_handler)(struct cse_conn *conn, void *user_context);
};

struct cse_server_opts {
	/*
	 * Worker pool size (1..256; 0: 2): the threads that serve every
	 * connection's FIFO and run every handler.  Handlers that block hold
	 * a worker each: give the pool as many as may block at once, plus one.
	 */
	__u32 nworkers;
	__u32 default_exec;		/* CSE_EXEC_INLINE or CSE_EXEC_WORKER; 0: inline */
	__s32 spin_ns;			/* as in struct cse_client_opts */
	__u32 resv[5];			/* must be zero */
};

/**
 * cse_server_init() - prepare the server side of the runtime.
 *
 * Call once before cse_server_create(); balanced by cse_server_deinit().
 * Return: 0 or -errno.
 */
int cse_server_init(void);

/**
 * cse_server_create() - register a server under @server_id.
 * @out: receives the server handle.
 * @server_id: NUL-terminated name, at most CSE_SERVER_ID_MAX bytes.
 * @ops: handlers; exec_handler is required.
 * @opts: worker pool and defaults, or NULL.
 * Return: 0; -EADDRINUSE the name is taken; -EINVAL; -ENOMEM.
 */
int cse_server_create(struct cse_server **out, const char *server_id,
		      const struct cse_server_ops *ops,
		      const struct cse_server_opts *opts);

/**
 * cse_server_destroy() - stop serving and free the server.
 * @s: server handle, or NULL.
 *
 * Hangs up on every client at once: each sees peer death, and every
 * command it has out completes with -ECONNRESET, including those whose
 * handler is still running.  Returns once those handlers have finished and
 * close_handler has run once per connection; commands not started never
 * run.  The server_id is free again.
 */
void cse_server_destroy(struct cse_server *s);

/**
 * cse_server_deinit() - release what cse_server_init() set up.
 */
void cse_server_deinit(void);

/**
 * cse_conn_server() - the server a connection belongs to.
 * @conn: connection passed to a handler.
 */
struct cse_server *cse_conn_server(struct cse_conn *conn);

/**
 * cse_strerror() - a short English name for a CSE return value.
 * @err: 0 or -errno returned by a CSE function.
 */
const char *cse_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* CSE_H */
