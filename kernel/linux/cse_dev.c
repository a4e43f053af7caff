// SPDX-License-Identifier: MIT
/*
 * /dev/cse: user processes reaching kernel servers (U-K).  One open file is
 * one connection: its end of an in-kernel control channel (os_ctl.c) and
 * the chunk the kernel allocated for it, which the process mmap()s.
 *
 * Nothing from user space is trusted: every ioctl struct is copied in once,
 * reserved fields and unknown flags are refused, lengths and offsets are
 * bounds-checked, and the chunk itself is read by the core as hostile
 * memory, like any peer's.
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <cse/cse.h>
#include <cse/os.h>

#include "cse_dev.h"

struct cse_dev_file {
	struct mutex setup;		/* CONNECT and CHUNK, once each */
	struct cse_os_ctl *ctl;		/* published once, then read-only */
	struct cse_os_shm *chunk;	/* published once, then read-only */
};

static int dev_open(struct inode *inode, struct file *file)
{
	struct cse_dev_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->setup);
	file->private_data = f;
	return 0;
}

/* The last reference is gone: to the server this is the client's death. */
static int dev_release(struct inode *inode, struct file *file)
{
	struct cse_dev_file *f = file->private_data;

	cse_os_ctl_close(f->ctl);
	cse_os_shm_destroy(f->chunk);
	mutex_destroy(&f->setup);
	kfree(f);
	return 0;
}

static bool resv_zero(const __u32 *resv, unsigned int n)
{
	while (n--)
		if (resv[n])
			return false;
	return true;
}

static long dev_connect(struct cse_dev_file *f, void __user *arg)
{
	struct cse_dev_connect req;
	struct cse_os_ctl *ctl;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || !resv_zero(req.resv, ARRAY_SIZE(req.resv)) ||
	    strnlen(req.server_id, sizeof(req.server_id)) == sizeof(req.server_id))
		return -EINVAL;
	mutex_lock(&f->setup);
	if (f->ctl) {
		ret = -EISCONN;
	} else {
		ret = cse_os_ctl_connect(req.server_id, &ctl);
		if (!ret)
			smp_store_release(&f->ctl, ctl);
	}
	mutex_unlock(&f->setup);
	return ret;
}

static long dev_chunk(struct cse_dev_file *f, void __user *arg)
{
	struct cse_dev_chunk req;
	struct cse_os_shm *shm;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || !resv_zero(req.resv, ARRAY_SIZE(req.resv)) ||
	    !req.size || req.size > CSE_MAX_CHUNK)
		return -EINVAL;
	mutex_lock(&f->setup);
	if (!f->ctl) {
		ret = -ENOTCONN;
	} else if (f->chunk) {
		ret = -EEXIST;
	} else {
		ret = cse_os_shm_create(NULL, req.size, &shm);
		if (!ret)
			smp_store_release(&f->chunk, shm);
	}
	mutex_unlock(&f->setup);
	return ret;
}

static int dev_msg_in(void __user *arg, struct cse_dev_msg *m, __u32 ok_flags)
{
	if (copy_from_user(m, arg, sizeof(*m)))
		return -EFAULT;
	if (m->flags & ~ok_flags || !resv_zero(m->resv, ARRAY_SIZE(m->resv)) ||
	    !m->len)
		return -EINVAL;
	return 0;
}

static long dev_send(struct cse_dev_file *f, void __user *arg)
{
	struct cse_os_ctl *ctl = smp_load_acquire(&f->ctl);
	struct cse_os_shm *chunk = smp_load_acquire(&f->chunk);
	struct cse_dev_msg m;
	void *buf;
	int ret;

	ret = dev_msg_in(arg, &m, CSE_DEV_MSG_CHUNK);
	if (ret)
		return ret;
	if (!ctl)
		return -ENOTCONN;
	if (m.len > CSE_OS_CTL_MSG_MAX)
		return -EMSGSIZE;
	if ((m.flags & CSE_DEV_MSG_CHUNK) && !chunk)
		return -EINVAL;
	buf = memdup_user(u64_to_user_ptr(m.buf), m.len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	ret = cse_os_ctl_send(ctl, buf, m.len, NULL, 0,
			      m.flags & CSE_DEV_MSG_CHUNK ? chunk : NULL);
	kfree(buf);
	return ret;
}

static long dev_recv(struct cse_dev_file *f, void __user *arg)
{
	struct cse_os_ctl *ctl = smp_load_acquire(&f->ctl);
	struct cse_dev_msg m;
	size_t cap;
	void *buf;
	long n;

	n = dev_msg_in(arg, &m, 0);
	if (n)
		return n;
	if (!ctl)
		return -ENOTCONN;
	cap = min_t(size_t, m.len, CSE_OS_CTL_MSG_MAX);
	buf = kmalloc(cap, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	n = cse_os_ctl_recv(ctl, buf, cap, NULL);
	if (n > 0 && copy_to_user(u64_to_user_ptr(m.buf), buf, n))
		n = -EFAULT;
	kfree(buf);
	return n;
}

/* The word at a user-supplied offset of the chunk, or NULL. */
static __u32 *dev_word(struct cse_dev_file *f, const struct cse_dev_word *w)
{
	struct cse_os_shm *chunk = smp_load_acquire(&f->chunk);

	if (!chunk || w->offset % 4 || (size_t)w->offset + 4 > cse_os_shm_size(chunk))
		return NULL;
	return (__u32 *)((char *)cse_os_shm_addr(chunk) + w->offset);
}

static long dev_wait_wake(struct cse_dev_file *f, void __user *arg, bool wait)
{
	struct cse_dev_word w;
	__u32 *word;

	if (copy_from_user(&w, arg, sizeof(w)))
		return -EFAULT;
	if (w.flags || !resv_zero(w.resv, ARRAY_SIZE(w.resv)))
		return -EINVAL;
	word = dev_word(f, &w);
	if (!word)
		return -EINVAL;
	if (!wait) {
		cse_os_wake(NULL, word);
		return 0;
	}
	return cse_os_wait(NULL, word, w.expected, w.timeout_ns);
}

static long dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct cse_dev_file *f = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct cse_os_ctl *ctl;

	switch (cmd) {
	case CSE_DEV_CONNECT:
		return dev_connect(f, uarg);
	case CSE_DEV_CHUNK:
		return dev_chunk(f, uarg);
	case CSE_DEV_SEND:
		return dev_send(f, uarg);
	case CSE_DEV_RECV:
		return dev_recv(f, uarg);
	case CSE_DEV_SHUTDOWN:
		ctl = smp_load_acquire(&f->ctl);
		if (!ctl)
			return -ENOTCONN;
		cse_os_ctl_shutdown(ctl);
		return 0;
	case CSE_DEV_WAIT:
		return dev_wait_wake(f, uarg, true);
	case CSE_DEV_WAKE:
		return dev_wait_wake(f, uarg, false);
	default:
		return -ENOTTY;
	}
}

static int dev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct cse_dev_file *f = file->private_data;
	struct cse_os_shm *chunk = smp_load_acquire(&f->chunk);

	if (!chunk || vma->vm_pgoff)
		return -EINVAL;
	/* Checks the VMA fits the allocation and marks it not expandable. */
	return remap_vmalloc_range(vma, cse_os_shm_addr(chunk), 0);
}

static const struct file_operations dev_fops = {
	.owner = THIS_MODULE,
	.open = dev_open,
	.release = dev_release,
	.unlocked_ioctl = dev_ioctl,
	/* Every argument is a pointer to a fixed-layout struct. */
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = dev_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice dev_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "cse",
	.fops = &dev_fops,
	.mode = 0600,
};

int cse_dev_register(void)
{
	return misc_register(&dev_misc);
}

void cse_dev_unregister(void)
{
	misc_deregister(&dev_misc);
}
