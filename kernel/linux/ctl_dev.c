// SPDX-License-Identifier: MIT
/*
 * /dev/cse: user processes and the kernel's CSE channels.  An open file is
 * one of (chosen once, by its first setup ioctl):
 *   - a user client's connection to a kernel server (U-K): CONNECT, then
 *     CHUNK allocates the chunk the client mmap()s, and CALL runs a whole
 *     backup command in one ioctl, or the commands already in one slot or
 *     several (ctl_dev_call.c);
 *   - a user server's listener (K-U): LISTEN registers a server_id kernel
 *     clients connect to, poll() says when one waits, ACCEPT returns an
 *     anonymous file for the connection;
 *   - such a connection (the server's end): RECV hands over the kernel
 *     client's chunk, which the server then mmap()s from this file, and
 *     CONN_INFO the token its kernel client names itself with on the
 *     loopback TCP backup connection (os_ctl.c) if the server gave a port.
 * Either way the file holds its end of an in-kernel control channel
 * (os_ctl.c), and its release is its process's death to the other end.
 *
 * Nothing from user space is trusted: every ioctl struct is copied in once,
 * reserved fields and unknown flags are refused, lengths and offsets are
 * bounds-checked, and the chunk itself is read by the core as hostile
 * memory, like any peer's.
 */
#include <linux/anon_inodes.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <cse/cse.h>
#include <cse/os.h>

#include "ctl_dev.h"
#include "os_kernel.h"

enum dev_role {
	DEV_NEW,		/* no setup ioctl yet */
	DEV_CLIENT,		/* U-K: a user client's connection */
	DEV_LISTENER,		/* K-U: a user server's registration */
	DEV_SERVER_END,		/* K-U: a user server's accepted connection */
};

struct cse_dev_file {
	struct mutex setup;		/* setup ioctls; publishing the chunk */
	enum dev_role role;		/* written before ctl is published */
	struct cse_os_ctl *ctl;		/* published once, then read-only */
	struct cse_os_shm *chunk;	/* published once, then read-only */
};

static const struct file_operations dev_fops;

static struct cse_dev_file *dev_file_alloc(void)
{
	struct cse_dev_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (f)
		mutex_init(&f->setup);
	return f;
}

static int dev_open(struct inode *inode, struct file *file)
{
	struct cse_dev_file *f = dev_file_alloc();

	if (!f)
		return -ENOMEM;
	file->private_data = f;
	return 0;
}

/* The last reference is gone: to the other end this is our process's death. */
static int dev_release(struct inode *inode, struct file *file)
{
	struct cse_dev_file *f = file->private_data;

	cse_os_ctl_close(f->ctl);
	cse_os_shm_destroy(f->chunk);
	mutex_destroy(&f->setup);
	kfree(f);
	return 0;
}

/* The file's channel if it has @role, else NULL (and ctl is then unusable). */
static struct cse_os_ctl *dev_ctl(struct cse_dev_file *f, unsigned int roles)
{
	struct cse_os_ctl *ctl = smp_load_acquire(&f->ctl);

	return ctl && (roles & (1U << f->role)) ? ctl : NULL;
}

#define ROLE(r)		(1U << (r))
#define CONNECTED	(ROLE(DEV_CLIENT) | ROLE(DEV_SERVER_END))

static bool resv_zero(const __u32 *resv, unsigned int n)
{
	while (n--)
		if (resv[n])
			return false;
	return true;
}

/* CONNECT (U-K client) or LISTEN (K-U server): the file's one setup. */
static long dev_setup(struct cse_dev_file *f, void __user *arg, bool listen)
{
	struct cse_dev_connect req;
	struct cse_os_ctl *ctl;
	int ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags & ~(listen ? CSE_DEV_LISTEN_TCP : 0) || req.resv0 ||
	    !resv_zero(req.resv, ARRAY_SIZE(req.resv)) ||
	    !(req.flags & CSE_DEV_LISTEN_TCP) != !req.tcp_port ||
	    strnlen(req.server_id, sizeof(req.server_id)) == sizeof(req.server_id))
		return -EINVAL;
	mutex_lock(&f->setup);
	if (f->ctl) {
		ret = -EISCONN;
	} else {
		/* They judge the id: cse_server_id_valid(), after -EISCONN. */
		ret = listen ? cse_os_ctl_listen(req.server_id, &ctl) :
			       cse_os_ctl_connect(req.server_id, &ctl);
		if (!ret && listen)
			cse_kctl_set_tcp_port(ctl, req.tcp_port);
		if (!ret) {
			f->role = listen ? DEV_LISTENER : DEV_CLIENT;
			smp_store_release(&f->ctl, ctl);
		}
	}
	mutex_unlock(&f->setup);
	return ret;
}

/* ACCEPT: the next waiting kernel client, as a new file; -EAGAIN if none. */
static long dev_accept(struct cse_dev_file *f)
{
	struct cse_os_ctl *listener = dev_ctl(f, ROLE(DEV_LISTENER));
	struct cse_dev_file *nf;
	struct cse_os_ctl *ctl;
	int fd, ret;

	if (!listener)
		return -EINVAL;
	nf = dev_file_alloc();
	if (!nf)
		return -ENOMEM;
	ret = cse_os_ctl_accept(listener, &ctl);
	if (ret) {
		mutex_destroy(&nf->setup);
		kfree(nf);
		return ret;
	}
	nf->role = DEV_SERVER_END;
	nf->ctl = ctl;
	/* Takes a module reference through dev_fops.owner, like open() does. */
	fd = anon_inode_getfd("[cse-conn]", &dev_fops, nf, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		cse_os_ctl_close(ctl);	/* the kernel client sees end-of-file */
		mutex_destroy(&nf->setup);
		kfree(nf);
	}
	return fd;
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
	} else if (f->role != DEV_CLIENT) {
		ret = -EINVAL;		/* a server end maps its client's chunk */
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
	if (m->flags & ~ok_flags || m->chunk_size || m->resv || !m->len)
		return -EINVAL;
	return 0;
}

/* Before its role is known, an unset file is "not connected". */
static long dev_unconnected(struct cse_dev_file *f)
{
	return smp_load_acquire(&f->ctl) ? -EINVAL : -ENOTCONN;
}

static long dev_send(struct cse_dev_file *f, void __user *arg)
{
	struct cse_os_ctl *ctl = dev_ctl(f, CONNECTED);
	struct cse_os_shm *chunk = smp_load_acquire(&f->chunk);
	struct cse_dev_msg m;
	void *buf;
	int ret;

	ret = dev_msg_in(arg, &m, CSE_DEV_MSG_CHUNK);
	if (ret)
		return ret;
	if (!ctl)
		return dev_unconnected(f);
	if (m.len > CSE_OS_CTL_MSG_MAX)
		return -EMSGSIZE;
	/* Only a client hands its chunk over; a server end has its client's. */
	if ((m.flags & CSE_DEV_MSG_CHUNK) && (!chunk || f->role != DEV_CLIENT))
		return -EINVAL;
	buf = memdup_user(u64_to_user_ptr(m.buf), m.len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	ret = cse_os_ctl_send(ctl, buf, m.len, NULL, 0,
			      m.flags & CSE_DEV_MSG_CHUNK ? chunk : NULL);
	kfree(buf);
	return ret;
}

/* A server end received its kernel client's chunk: keep the first only. */
static int dev_adopt_chunk(struct cse_dev_file *f, struct cse_os_shm *shm)
{
	int ret = 0;

	mutex_lock(&f->setup);
	if (f->chunk)
		ret = -EPROTO;
	else
		smp_store_release(&f->chunk, shm);
	mutex_unlock(&f->setup);
	if (ret)
		cse_os_shm_destroy(shm);
	return ret;
}

static long dev_recv(struct cse_dev_file *f, void __user *arg)
{
	struct cse_os_ctl *ctl = dev_ctl(f, CONNECTED);
	struct cse_os_shm *shm = NULL;
	struct cse_dev_msg m;
	size_t cap;
	void *buf;
	long n;

	n = dev_msg_in(arg, &m, 0);
	if (n)
		return n;
	if (!ctl)
		return dev_unconnected(f);
	cap = min_t(size_t, m.len, CSE_OS_CTL_MSG_MAX);
	buf = kmalloc(cap, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	/* Kernel servers send no regions; a kernel client sends its chunk. */
	n = cse_os_ctl_recv(ctl, buf, cap, f->role == DEV_SERVER_END ? &shm : NULL);
	if (n > 0 && shm) {
		m.chunk_size = (__u32)cse_os_shm_size(shm);
		n = dev_adopt_chunk(f, shm) ?: n;
		m.flags = n > 0 ? CSE_DEV_MSG_CHUNK : 0;
	}
	if (n > 0 && copy_to_user(u64_to_user_ptr(m.buf), buf, n))
		n = -EFAULT;
	if (n > 0 && copy_to_user(arg, &m, sizeof(m)))
		n = -EFAULT;
	kfree(buf);
	return n;
}

/*
 * CALL: a whole command in one ioctl (ctl_dev_call.c).  The struct is
 * checked before the file's role, so a bad one is EINVAL even unconnected.
 */
static long dev_call(struct cse_dev_file *f, void __user *arg)
{
	struct cse_os_ctl *ctl = dev_ctl(f, ROLE(DEV_CLIENT));
	struct cse_dev_call req;
	long ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	ret = cse_dev_call_check(&req);
	if (ret)
		return ret;
	if (!ctl)
		return dev_unconnected(f);
	return cse_dev_call_run(ctl, &req, arg);
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
		return dev_setup(f, uarg, false);
	case CSE_DEV_LISTEN:
		return dev_setup(f, uarg, true);
	case CSE_DEV_ACCEPT:
		return dev_accept(f);
	case CSE_DEV_CONN_INFO: {
		struct cse_dev_conn_info info = { 0 };

		ctl = dev_ctl(f, ROLE(DEV_SERVER_END));
		if (!ctl)
			return -EINVAL;
		info.token = cse_kctl_token(ctl);
		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	}
	case CSE_DEV_CHUNK:
		return dev_chunk(f, uarg);
	case CSE_DEV_SEND:
		return dev_send(f, uarg);
	case CSE_DEV_RECV:
		return dev_recv(f, uarg);
	case CSE_DEV_CALL:
		return dev_call(f, uarg);
	case CSE_DEV_SHUTDOWN:
		ctl = dev_ctl(f, CONNECTED);
		if (!ctl)
			return dev_unconnected(f);
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

static __poll_t dev_poll(struct file *file, poll_table *pt)
{
	struct cse_dev_file *f = file->private_data;
	struct cse_os_ctl *ctl = smp_load_acquire(&f->ctl);

	/* Nothing to wait for before setup: say so rather than block forever. */
	return ctl ? cse_kctl_poll(ctl, file, pt) : EPOLLERR;
}

static const struct file_operations dev_fops = {
	.owner = THIS_MODULE,
	.open = dev_open,
	.release = dev_release,
	.poll = dev_poll,
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
