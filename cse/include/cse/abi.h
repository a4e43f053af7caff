/* SPDX-License-Identifier: MIT */
/*
 * CSE shared-memory and control-channel layout.
 *
 * Everything here is seen by both peers, which may be a 32-bit process and a
 * 64-bit process (or kernel).  Fixed-width fields only, named reserved
 * fields that must be zero, and a static assertion on every offset and size
 * so a layout change is a build error, not a silent ABI break.
 *
 * Fields are in the host's byte order: the shared memory and the control
 * channel never leave the machine, so both peers normally agree.  They do
 * not when one is a program of the other byte order run under an emulator
 * (a big-endian s390x program under qemu-user on an x86 host): the
 * handshake sees the message type byte-swapped and both sides refuse with
 * -ENOEXEC (CSE_WIRE_OTHER_ENDIAN), never a generic protocol error.
 * Neither side trusts what the other wrote: every field is read once into a
 * local and bounds-checked before use.
 */
#ifndef CSE_ABI_H
#define CSE_ABI_H

#if defined(__KERNEL__) || defined(__linux__)
#include <linux/types.h>
#else
#include <stdint.h>
typedef uint8_t __u8;
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef int32_t __s32;
typedef int64_t __s64;
#endif

#define CSE_ABI_MAGIC		0x31455343U	/* "CSE1" */
#define CSE_ABI_VERSION		2U	/* 2: parked CS FIFO readers, CSE_WIRE_DOORBELL */
#define CSE_CACHELINE		64U

/*
 * A server_id: 1 to CSE_SERVER_ID_MAX - 1 letters (a-z, A-Z), digits, '.',
 * '_' or '-', then a NUL.  It becomes part of a socket or file name, so
 * no id may climb out of a directory ("../x"), hide a NUL, or collide
 * with another after escaping.  Every door that takes one (client, server,
 * control channel, /dev/cse) asks cse_server_id_valid(), which reads at
 * most CSE_SERVER_ID_MAX bytes: nonzero when @id is one.
 */
#define CSE_SERVER_ID_MAX	64	/* bytes, including the NUL */

static inline int cse_server_id_valid(const char *id)
{
	unsigned int i;
	char ch;

	if (!id)
		return 0;
	for (i = 0; i < CSE_SERVER_ID_MAX; i++) {
		ch = id[i];
		if (!ch)
			return i > 0;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 0;	/* no NUL within CSE_SERVER_ID_MAX bytes */
}

#ifdef __cplusplus
#define CSE_STATIC_ASSERT(e, m) static_assert(e, m)
#else
#define CSE_STATIC_ASSERT(e, m) _Static_assert(e, m)
#endif
#define CSE_ABI_OFFSET(t, f, o) \
	CSE_STATIC_ASSERT(__builtin_offsetof(t, f) == (o), #t "." #f " offset")
#define CSE_ABI_SIZE(t, s) CSE_STATIC_ASSERT(sizeof(t) == (s), #t " size")

/*
 * A chunk is one shared region per connection:
 *
 *   struct cse_chunk_hdr                         (256 bytes)
 *   CS FIFO: struct cse_fifo_hdr + __u32[cap]    client -> server offsets
 *   SC FIFO: struct cse_fifo_hdr + __u32[cap]    server -> client offsets
 *   nslots x (struct cse_slot_hdr + input area + output area)
 *
 * All offsets are from the chunk start and every section starts on a cache
 * line.  A FIFO entry is the chunk offset of a slot header (bits 0..28,
 * as CSE_MAX_CHUNK is 2^28) tagged in bits 29..31 with the writer's lap
 * around the ring (1..4), so an entry never needs clearing; offset 0 with
 * a valid tag is a position its writer gave back.
 */
struct cse_chunk_hdr {
	__u32 magic;		/* CSE_ABI_MAGIC */
	__u32 abi_version;	/* CSE_ABI_VERSION */
	__u32 chunk_size;	/* bytes in the whole region */
	__u32 nslots;
	__u32 fifo_capacity;	/* entries per FIFO, a power of two >= nslots */
	__u32 slot_size;	/* header + input area + output area, aligned */
	__u32 slot_input_size;
	__u32 slot_output_size;
	__u32 cs_fifo_off;
	__u32 sc_fifo_off;
	__u32 slots_off;
	__u32 flags;		/* must be zero */
	__u32 resv[4];		/* must be zero */
	/*
	 * Reserved for a backend's shared wait state.  No backend uses it
	 * today (futexes need none; the emulated backend polls, because a
	 * process-shared condvar does not survive a peer killed while
	 * waiting): it stays zero.
	 */
	__u8 os_area[192];
};
CSE_ABI_OFFSET(struct cse_chunk_hdr, magic, 0);
CSE_ABI_OFFSET(struct cse_chunk_hdr, abi_version, 4);
CSE_ABI_OFFSET(struct cse_chunk_hdr, chunk_size, 8);
CSE_ABI_OFFSET(struct cse_chunk_hdr, nslots, 12);
CSE_ABI_OFFSET(struct cse_chunk_hdr, fifo_capacity, 16);
CSE_ABI_OFFSET(struct cse_chunk_hdr, slot_size, 20);
CSE_ABI_OFFSET(struct cse_chunk_hdr, slot_input_size, 24);
CSE_ABI_OFFSET(struct cse_chunk_hdr, slot_output_size, 28);
CSE_ABI_OFFSET(struct cse_chunk_hdr, cs_fifo_off, 32);
CSE_ABI_OFFSET(struct cse_chunk_hdr, sc_fifo_off, 36);
CSE_ABI_OFFSET(struct cse_chunk_hdr, slots_off, 40);
CSE_ABI_OFFSET(struct cse_chunk_hdr, flags, 44);
CSE_ABI_OFFSET(struct cse_chunk_hdr, resv, 48);
CSE_ABI_OFFSET(struct cse_chunk_hdr, os_area, 64);
CSE_ABI_SIZE(struct cse_chunk_hdr, 256);

/*
 * FIFO header.  Writers (several client threads, or several server workers)
 * claim a position with an atomic increment of wpos and publish the offset
 * into that entry.  The single reader keeps its own read position and only
 * mirrors it into rpos for observers (when it goes to sleep), so a peer
 * scribbling over rpos cannot steer it.  wake_seq is the futex word a
 * sleeping reader waits on; writers bump it only while sleepers is nonzero,
 * so the fast path makes no system call.  The writer and reader halves
 * live on separate cache lines.
 *
 * A server's CS FIFO reader does not sleep on the FIFO: the server has a
 * few workers for all its connections, not a thread each.  It parks the
 * FIFO instead (sleepers = CSE_FIFO_PARKED) and the writer that finds it
 * parked takes the mark back (compare-and-swap to 0) and rings the
 * server's doorbell: one CSE_WIRE_DOORBELL message on the control channel.
 */
struct cse_fifo_hdr {
	__u32 wpos;
	__u32 resv0[15];
	__u32 rpos;
	__u32 wake_seq;
	__u32 sleepers;
	__u32 resv1[13];
};
CSE_ABI_OFFSET(struct cse_fifo_hdr, wpos, 0);
CSE_ABI_OFFSET(struct cse_fifo_hdr, resv0, 4);
CSE_ABI_OFFSET(struct cse_fifo_hdr, rpos, 64);
CSE_ABI_OFFSET(struct cse_fifo_hdr, wake_seq, 68);
CSE_ABI_OFFSET(struct cse_fifo_hdr, sleepers, 72);
CSE_ABI_OFFSET(struct cse_fifo_hdr, resv1, 76);
CSE_ABI_SIZE(struct cse_fifo_hdr, 128);

/* cse_fifo_hdr.sleepers: 0 none, 1 a reader sleeps on wake_seq, or: */
#define CSE_FIFO_PARKED		2U	/* ring the doorbell (CSE_WIRE_DOORBELL) */

/* Slot states (cse_slot_hdr.state), the futex word of a synchronous caller. */
#define CSE_SLOT_IDLE		0U
#define CSE_SLOT_SUBMITTED	1U
#define CSE_SLOT_DONE		2U
#define CSE_SLOT_PEER_DEAD	3U	/* written by the client itself */

/* Slot flags (cse_slot_hdr.flags) */
#define CSE_SLOT_F_SYNC		(1U << 0)	/* reply through state, not SC FIFO */
#define CSE_SLOT_F_INLINE	(1U << 1)	/* run exec on the reader */
#define CSE_SLOT_F_WORKER	(1U << 2)	/* run exec on the worker pool */
#define CSE_SLOT_F_LAST		(1U << 3)

/*
 * Command slot header.  Written by the client before the offset is pushed to
 * the CS FIFO; the server fills output_len_actual and output_status, then
 * either stores CSE_SLOT_DONE into state (synchronous caller) or pushes the
 * offset to the SC FIFO.
 */
struct cse_slot_hdr {
	__u32 state;
	__u32 waiters;		/* nonzero while a sync caller sleeps on state */
	__u32 input_code;
	__u32 flags;		/* CSE_SLOT_F_* */
	__u32 input_len;	/* bytes valid in the input area */
	__u32 output_len;	/* bytes the client accepts in the output area */
	__u32 output_len_actual;
	__s32 output_status;
	__u32 seq;		/* client's sequence number, echoed */
	__u32 resv[7];		/* must be zero */
};
CSE_ABI_OFFSET(struct cse_slot_hdr, state, 0);
CSE_ABI_OFFSET(struct cse_slot_hdr, waiters, 4);
CSE_ABI_OFFSET(struct cse_slot_hdr, input_code, 8);
CSE_ABI_OFFSET(struct cse_slot_hdr, flags, 12);
CSE_ABI_OFFSET(struct cse_slot_hdr, input_len, 16);
CSE_ABI_OFFSET(struct cse_slot_hdr, output_len, 20);
CSE_ABI_OFFSET(struct cse_slot_hdr, output_len_actual, 24);
CSE_ABI_OFFSET(struct cse_slot_hdr, output_status, 28);
CSE_ABI_OFFSET(struct cse_slot_hdr, seq, 32);
CSE_ABI_OFFSET(struct cse_slot_hdr, resv, 36);
CSE_ABI_SIZE(struct cse_slot_hdr, 64);

/* Limits a peer enforces on what the other side proposes. */
#define CSE_MAX_SLOTS		4096U
#define CSE_MAX_SLOT_AREA	(1U << 20)	/* per input or output area */
#define CSE_MAX_CHUNK		(256U << 20)
#define CSE_MAX_BACKUP		(64U << 20)	/* bytes per direction */

/*
 * Control channel messages (U-U: a SEQPACKET Unix socket).  Every message
 * starts with struct cse_wire_hdr.  A backup command's data follows its
 * request or reply as consecutive fragments of at most CSE_WIRE_FRAG bytes,
 * sent under the sender's channel lock so fragments never interleave.
 */
#define CSE_WIRE_HELLO		1U	/* client -> server, carries the chunk */
#define CSE_WIRE_WELCOME	2U	/* server -> client */
/* What the handshake returns to a peer of the other byte order. */
#define CSE_WIRE_OTHER_ENDIAN	(-ENOEXEC)
/* A message type as a peer of the other byte order wrote it. */
#define CSE_WIRE_SWAPPED(type)	__builtin_bswap32(type)
#define CSE_WIRE_BACKUP_REQ	3U
#define CSE_WIRE_BACKUP_RESP	4U
#define CSE_WIRE_SUBMIT		5U	/* client -> server: run the slot at an offset */
/* client -> server, a bare header: the CS FIFO it found parked has entries */
#define CSE_WIRE_DOORBELL	6U
#define CSE_WIRE_LAST		7U

#define CSE_WIRE_FRAG		(64U << 10)

struct cse_wire_hdr {
	__u32 type;		/* CSE_WIRE_* */
	__u32 resv;		/* must be zero */
	__u64 id;		/* backup command id, echoed by the server */
};
CSE_ABI_OFFSET(struct cse_wire_hdr, type, 0);
CSE_ABI_OFFSET(struct cse_wire_hdr, resv, 4);
CSE_ABI_OFFSET(struct cse_wire_hdr, id, 8);
CSE_ABI_SIZE(struct cse_wire_hdr, 16);

struct cse_wire_hello {
	struct cse_wire_hdr hdr;
	__u32 abi_version;
	__u32 chunk_size;
	__u32 nslots;
	__u32 slot_input_size;
	__u32 slot_output_size;
	__u32 resv[3];		/* must be zero */
};
CSE_ABI_OFFSET(struct cse_wire_hello, abi_version, 16);
CSE_ABI_OFFSET(struct cse_wire_hello, chunk_size, 20);
CSE_ABI_OFFSET(struct cse_wire_hello, nslots, 24);
CSE_ABI_OFFSET(struct cse_wire_hello, slot_input_size, 28);
CSE_ABI_OFFSET(struct cse_wire_hello, slot_output_size, 32);
CSE_ABI_OFFSET(struct cse_wire_hello, resv, 36);
CSE_ABI_SIZE(struct cse_wire_hello, 48);

struct cse_wire_welcome {
	struct cse_wire_hdr hdr;
	__s32 status;		/* 0, or -errno from validation / open_handler */
	__u32 resv[3];
};
CSE_ABI_OFFSET(struct cse_wire_welcome, status, 16);
CSE_ABI_SIZE(struct cse_wire_welcome, 32);

/* CSE_SUBMIT_CTL: the command is in the slot at slot_off, as from the FIFO. */
struct cse_wire_submit {
	struct cse_wire_hdr hdr;	/* id must be zero */
	__u32 slot_off;
	__u32 resv[3];		/* must be zero */
};
CSE_ABI_OFFSET(struct cse_wire_submit, slot_off, 16);
CSE_ABI_SIZE(struct cse_wire_submit, 32);

/*
 * The data after a request is the input area, followed by the output area
 * when CSE_WIRE_F_OUTPUT_INIT is set: the client's output_prepare wrote
 * into it, and the server must see that as it would in a slot.
 */
#define CSE_WIRE_F_OUTPUT_INIT	(1U << 8)
/* Every flag a backup command (message or CSE_DEV_CALL) may carry. */
#define CSE_WIRE_BACKUP_FLAGS	(CSE_SLOT_F_INLINE | CSE_SLOT_F_WORKER | \
				 CSE_WIRE_F_OUTPUT_INIT)

struct cse_wire_backup_req {
	struct cse_wire_hdr hdr;
	__u32 input_code;
	__u32 flags;		/* CSE_SLOT_F_INLINE / _WORKER, CSE_WIRE_F_OUTPUT_INIT */
	__u32 input_len;
	__u32 output_len;	/* bytes the client accepts */
};
CSE_ABI_OFFSET(struct cse_wire_backup_req, input_code, 16);
CSE_ABI_OFFSET(struct cse_wire_backup_req, flags, 20);
CSE_ABI_OFFSET(struct cse_wire_backup_req, input_len, 24);
CSE_ABI_OFFSET(struct cse_wire_backup_req, output_len, 28);
CSE_ABI_SIZE(struct cse_wire_backup_req, 32);

struct cse_wire_backup_resp {
	struct cse_wire_hdr hdr;
	__s32 output_status;
	__u32 output_len_actual;	/* fragments that follow */
	__s32 result;		/* 0, or -errno if the server could not run it */
	__u32 resv;
};
CSE_ABI_OFFSET(struct cse_wire_backup_resp, output_status, 16);
CSE_ABI_OFFSET(struct cse_wire_backup_resp, output_len_actual, 20);
CSE_ABI_OFFSET(struct cse_wire_backup_resp, result, 24);
CSE_ABI_OFFSET(struct cse_wire_backup_resp, resv, 28);
CSE_ABI_SIZE(struct cse_wire_backup_resp, 32);

/*
 * /dev/cse (Linux): the control channel between a user process and the
 * kernel.  One open file is one connection or one listener.  Every struct
 * has fixed-width fields only (user pointers travel as __u64), so 32-bit
 * callers use the same layout; reserved fields and unknown flags must be
 * zero.
 *
 * A user client reaching a kernel server (U-K): CONNECT names the server,
 * CHUNK has the kernel allocate the connection's chunk, which the client
 * then mmap()s from the file at offset 0; SEND and RECV carry the wire
 * messages above (SEND with CSE_DEV_MSG_CHUNK hands the chunk over with
 * HELLO); WAIT and WAKE sleep on and wake a 32-bit word of the chunk by
 * offset, since a futex in user space cannot reach a kernel waiter;
 * SHUTDOWN makes a blocked RECV return end-of-file; CALL runs one whole
 * command synchronously (the backup path in one ioctl, below); closing the
 * file is the client's death as far as the server is concerned.
 *
 * A user server of kernel clients (K-U): LISTEN registers a server_id on a
 * fresh file, which then poll()s readable while kernel clients wait to be
 * accepted; ACCEPT returns a new file descriptor for one connection (or
 * fails with EAGAIN).  On that file RECV reports, with CSE_DEV_MSG_CHUNK and
 * chunk_size, that the message brought the kernel client's chunk, which is
 * then mmap()ed from the connection file; SEND, WAIT, WAKE and SHUTDOWN
 * work as above, poll() is readable on input or end-of-file, and closing it
 * is the server's death to the kernel client.
 *
 * The structs are plain layout and are defined on every system (user space
 * shares the K-U TCP framing code with the socket transport, and another
 * kernel may implement the same device); only the ioctl numbers below are
 * Linux's, since each kernel encodes them its own way.
 */
#define CSE_DEV_PATH		"/dev/cse"
#define CSE_DEV_MSG_CHUNK	(1U << 0)
#define CSE_DEV_MSG_LAST	(1U << 1)

struct cse_dev_connect {
	char server_id[CSE_SERVER_ID_MAX];	/* cse_server_id_valid() */
	__u32 flags;		/* LISTEN: CSE_DEV_LISTEN_TCP; CONNECT: zero */
	__u16 tcp_port;		/* LISTEN with CSE_DEV_LISTEN_TCP: on 127.0.0.1 */
	__u16 resv0;
	__u32 resv[2];
};
CSE_ABI_OFFSET(struct cse_dev_connect, flags, 64);
CSE_ABI_SIZE(struct cse_dev_connect, 80);

struct cse_dev_chunk {
	__u32 size;		/* bytes, at most CSE_MAX_CHUNK */
	__u32 flags;		/* must be zero */
	__u32 resv[2];
};
CSE_ABI_SIZE(struct cse_dev_chunk, 16);

struct cse_dev_msg {
	__u64 buf;		/* user address of the message */
	__u32 len;		/* SEND: its length; RECV: the buffer's size */
	__u32 flags;		/* CSE_DEV_MSG_*; RECV: zero in, set out */
	__u32 chunk_size;	/* RECV: zero in; out: size of a chunk received */
	__u32 resv;
};
CSE_ABI_OFFSET(struct cse_dev_msg, len, 8);
CSE_ABI_OFFSET(struct cse_dev_msg, flags, 12);
CSE_ABI_OFFSET(struct cse_dev_msg, chunk_size, 16);
CSE_ABI_SIZE(struct cse_dev_msg, 24);

/*
 * K-U backup path: a loopback TCP connection the kernel client opens to the
 * user server the first time it sends a message without a chunk (a backup
 * command, a CSE_SUBMIT_CTL offset), to the port the server gave in LISTEN
 * (cse_dev_connect.flags CSE_DEV_LISTEN_TCP, port in tcp_port).  It first
 * sends the connection's token (CONN_INFO on the server's accepted file
 * tells which), then frames: struct cse_dev_frame and len bytes, both ways.
 */
#define CSE_DEV_LISTEN_TCP	(1U << 0)

struct cse_dev_frame {
	__u32 len;		/* 1..CSE_OS_CTL_MSG_MAX bytes follow */
	__u32 resv;		/* must be zero */
};
CSE_ABI_SIZE(struct cse_dev_frame, 8);

struct cse_dev_conn_info {
	__u64 token;		/* what the kernel client sends first on TCP */
	__u32 flags;		/* zero */
	__u32 resv[3];
};
CSE_ABI_SIZE(struct cse_dev_conn_info, 24);

struct cse_dev_word {
	__u32 offset;		/* of a 4-byte aligned word in the chunk */
	__u32 expected;		/* WAIT: sleep while the word holds this */
	__u64 timeout_ns;	/* WAIT: 0 is no limit */
	__u32 flags;		/* must be zero */
	__u32 resv[3];
};
CSE_ABI_OFFSET(struct cse_dev_word, timeout_ns, 8);
CSE_ABI_SIZE(struct cse_dev_word, 32);

/*
 * U-K backup in one call (the seed's backup ioctl): the whole command at
 * user addresses.  The kernel copies input_len bytes in from input (and,
 * with CSE_WIRE_F_OUTPUT_INIT, output_len bytes from output, which the
 * client's output_prepare wrote), runs the server's exec_handler (on the
 * caller's thread, or on a worker with CSE_SLOT_F_WORKER) and copies
 * output_len_actual bytes out to output before the ioctl returns.  Only on
 * a client's file whose HELLO the server accepted; EOPNOTSUPP before that.
 *
 * With CSE_DEV_CALL_F_SLOT (the seed's second U-K mode, CSE_SUBMIT_CALL)
 * the command is already in the slot whose header is at slot_off in the
 * connection's chunk: flags is CSE_DEV_CALL_F_SLOT alone and every other
 * field zero.  The server reads the slot header once (input_code, flags,
 * input_len, output_len, checked as from the CS FIFO), runs exec_handler
 * on the slot's own areas (on the caller's thread for CSE_SLOT_F_INLINE,
 * on a worker for CSE_SLOT_F_WORKER, else as the server's default) and
 * writes output_len_actual and output_status into the slot header before
 * the ioctl returns; nothing is copied and the struct is not written back.
 * A bad offset or header fails the call with EINVAL and nothing runs.
 *
 * With CSE_DEV_CALL_F_SLOTS (a synchronous cse_execute_batch()), input is
 * the user address of input_len bytes of __u32 slot offsets, 1 to
 * CSE_DEV_CALL_MAX_SLOTS of them: flags is CSE_DEV_CALL_F_SLOTS alone and
 * every other field zero.  The server runs the slots in order, each as a
 * CSE_DEV_CALL_F_SLOT call of its own would, and the ioctl returns how
 * many ran.  A bad offset or header stops there (the slots after it are
 * not looked at); EINVAL when it is the first, or input_len is not a
 * multiple of 4 in range.
 */
#define CSE_DEV_CALL_F_SLOT	(1U << 9)
#define CSE_DEV_CALL_F_SLOTS	(1U << 10)
#define CSE_DEV_CALL_MAX_SLOTS	64U
struct cse_dev_call {
	__u64 input;		/* user address of input_len bytes */
	__u64 output;		/* user address of output_len bytes */
	__u32 input_code;
	__u32 flags;		/* CSE_SLOT_F_INLINE / _WORKER, CSE_WIRE_F_OUTPUT_INIT;
				 * or CSE_DEV_CALL_F_SLOT(S) alone */
	__u32 input_len;	/* at most CSE_MAX_BACKUP */
	__u32 output_len;	/* at most CSE_MAX_BACKUP */
	__u32 output_len_actual;	/* zero in; out: bytes written to output */
	__s32 output_status;	/* zero in; out: the exec_handler's status */
	__u32 slot_off;		/* CSE_DEV_CALL_F_SLOT: the slot header's offset; else zero */
	__u32 resv;		/* must be zero */
};
CSE_ABI_OFFSET(struct cse_dev_call, output, 8);
CSE_ABI_OFFSET(struct cse_dev_call, input_code, 16);
CSE_ABI_OFFSET(struct cse_dev_call, output_len_actual, 32);
CSE_ABI_OFFSET(struct cse_dev_call, slot_off, 40);
CSE_ABI_OFFSET(struct cse_dev_call, resv, 44);
CSE_ABI_SIZE(struct cse_dev_call, 48);

#if defined(__KERNEL__) || defined(__linux__)
#include <linux/ioctl.h>

#define CSE_DEV_IOC_MAGIC	0xCE
#define CSE_DEV_CONNECT		_IOW(CSE_DEV_IOC_MAGIC, 1, struct cse_dev_connect)
#define CSE_DEV_CHUNK		_IOW(CSE_DEV_IOC_MAGIC, 2, struct cse_dev_chunk)
#define CSE_DEV_SEND		_IOW(CSE_DEV_IOC_MAGIC, 3, struct cse_dev_msg)
#define CSE_DEV_RECV		_IOWR(CSE_DEV_IOC_MAGIC, 4, struct cse_dev_msg)
#define CSE_DEV_SHUTDOWN	_IO(CSE_DEV_IOC_MAGIC, 5)
#define CSE_DEV_WAIT		_IOW(CSE_DEV_IOC_MAGIC, 6, struct cse_dev_word)
#define CSE_DEV_WAKE		_IOW(CSE_DEV_IOC_MAGIC, 7, struct cse_dev_word)
#define CSE_DEV_LISTEN		_IOW(CSE_DEV_IOC_MAGIC, 8, struct cse_dev_connect)
#define CSE_DEV_ACCEPT		_IO(CSE_DEV_IOC_MAGIC, 9)
#define CSE_DEV_CONN_INFO	_IOR(CSE_DEV_IOC_MAGIC, 10, struct cse_dev_conn_info)
#define CSE_DEV_CALL		_IOWR(CSE_DEV_IOC_MAGIC, 11, struct cse_dev_call)
#endif

#endif /* CSE_ABI_H */
