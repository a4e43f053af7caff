/* SPDX-License-Identifier: MIT */
#ifndef CSE_KERNEL_DEV_H
#define CSE_KERNEL_DEV_H

/* /dev/cse (ctl_dev.c), registered while cse.ko is loaded. */
int cse_dev_register(void);
void cse_dev_unregister(void);

#endif /* CSE_KERNEL_DEV_H */
