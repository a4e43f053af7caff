/* SPDX-License-Identifier: MIT */
#ifndef CSE_KERNEL_DEV_H
#define CSE_KERNEL_DEV_H

/* /dev/cse (ctl_dev.c), registered while cse.ko is loaded. */
int cse_dev_register(void);
void cse_dev_unregister(void);

/*
 * CALL (ctl_dev_call.c).  check: the struct alone, before the file's role
 * is looked at (0 or -EINVAL); run: on a client's channel, returning what
 * the ioctl returns.
 */
struct cse_dev_call;
struct cse_os_ctl;
long cse_dev_call_check(const struct cse_dev_call *req);
long cse_dev_call_run(struct cse_os_ctl *ctl, struct cse_dev_call *req,
		      void __user *arg);

#endif /* CSE_KERNEL_DEV_H */
