// SPDX-License-Identifier: MIT
/*
 * /dev/cse's CALL ioctl (ctl_dev.c dispatches it): a user client's whole
 * command run by the kernel server before the ioctl returns, as a backup
 * command copied in and out, as the command already in one slot, or as
 * those in several slots.  Like every ioctl here, the struct and the
 * offset array are copied in once and checked, and the slots themselves
 * are read by the core as hostile memory.
 */
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <cse/cse.h>
#include <cse/os.h>

#include "ctl_dev.h"
#include "os_kernel.h"

/*
 * CALL with CSE_DEV_CALL_F_SLOT (the seed's second U-K mode): the command
 * is already in a slot of the chunk, named by its offset.  The server core
 * checks the offset against the geometry it validated at HELLO and reads
 * the slot header once (cse_conn_slot_call()); the handler runs on the
 * slot's own areas and its results land in the slot header.  Nothing is
 * copied but this struct, and nothing is copied back.
 */
static long dev_call_slot(struct cse_os_ctl *ctl, const struct cse_dev_call *req)
{
	struct cse_os_call call = {
		.flags = CSE_DEV_CALL_F_SLOT,
		.slot_off = req->slot_off,
	};

	if (req->flags != CSE_DEV_CALL_F_SLOT || req->input || req->output ||
	    req->input_code || req->input_len || req->output_len)
		return -EINVAL;
	return cse_os_ctl_call(ctl, &call);
}

/*
 * CALL with CSE_DEV_CALL_F_SLOTS: several slots' offsets, copied in once
 * (the user array is read once, as any ioctl argument), run in order by
 * the server core, which checks each as above.  Returns how many ran.
 */
static long dev_call_slots(struct cse_os_ctl *ctl, const struct cse_dev_call *req)
{
	__u32 offs[CSE_DEV_CALL_MAX_SLOTS];
	struct cse_os_call call = {
		.flags = CSE_DEV_CALL_F_SLOTS,
		.input = offs,
		.input_len = req->input_len,
	};

	if (req->flags != CSE_DEV_CALL_F_SLOTS || req->output || req->input_code ||
	    req->output_len || req->slot_off || !req->input_len ||
	    req->input_len > sizeof(offs) || req->input_len % sizeof(offs[0]))
		return -EINVAL;
	if (copy_from_user(offs, u64_to_user_ptr(req->input), req->input_len))
		return -EFAULT;
	return cse_os_ctl_call(ctl, &call);
}

/*
 * CALL: the U-K backup path in one ioctl.  The command's data is copied
 * into a kernel buffer (input area, then output area, zeroed so a handler
 * that reports more than it wrote leaks nothing), the server runs it, and
 * only what it reports written goes back out.
 */
static long dev_call_backup(struct cse_os_ctl *ctl, struct cse_dev_call *req,
			    void __user *arg)
{
	struct cse_os_call call = { 0 };
	char *buf;
	int ret;

	if (req->input_len > CSE_MAX_BACKUP || req->output_len > CSE_MAX_BACKUP)
		return -EMSGSIZE;
	buf = kvzalloc((size_t)req->input_len + req->output_len + 1, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	ret = -EFAULT;
	if (copy_from_user(buf, u64_to_user_ptr(req->input), req->input_len))
		goto out;
	if (req->flags & CSE_WIRE_F_OUTPUT_INIT &&
	    copy_from_user(buf + req->input_len, u64_to_user_ptr(req->output),
			   req->output_len))
		goto out;
	call.input_code = req->input_code;
	call.flags = req->flags;
	call.input_len = req->input_len;
	call.output_len = req->output_len;
	call.input = buf;
	call.output = buf + req->input_len;
	ret = cse_os_ctl_call(ctl, &call);
	if (ret)
		goto out;
	/* The server core clamps output_len_actual to output_len. */
	req->output_len_actual = min(call.output_len_actual, req->output_len);
	req->output_status = call.output_status;
	if (copy_to_user(u64_to_user_ptr(req->output), call.output,
			 req->output_len_actual) ||
	    copy_to_user(arg, req, sizeof(*req)))
		ret = -EFAULT;
out:
	kvfree(buf);
	return ret;
}

long cse_dev_call_check(const struct cse_dev_call *req)
{
	if (req->output_len_actual || req->output_status || req->resv)
		return -EINVAL;
	if (req->flags & (CSE_DEV_CALL_F_SLOT | CSE_DEV_CALL_F_SLOTS))
		return 0;	/* the rest is checked with the file's channel */
	if (req->flags & ~CSE_WIRE_BACKUP_FLAGS ||
	    (req->flags & CSE_SLOT_F_INLINE && req->flags & CSE_SLOT_F_WORKER) ||
	    req->slot_off)
		return -EINVAL;
	return 0;
}

long cse_dev_call_run(struct cse_os_ctl *ctl, struct cse_dev_call *req,
		      void __user *arg)
{
	if (req->flags & CSE_DEV_CALL_F_SLOTS)
		return dev_call_slots(ctl, req);
	if (req->flags & CSE_DEV_CALL_F_SLOT)
		return dev_call_slot(ctl, req);
	return dev_call_backup(ctl, req, arg);
}
