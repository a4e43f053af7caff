/* SPDX-License-Identifier: MIT */
/*
 * A CSE module's entry point: the one part of a module that differs by
 * world (a process has main(), a kernel module module_init()), written
 * once for both as
 *
 *	static int kv_start(const char *server_id, const char *options);
 *	static void kv_stop(void);
 *	CSE_MODULE(kv_start, kv_stop, "an in-memory key-value store");
 *
 * @start runs first, with the server_id to serve or reach and the
 * module's own options (each NULL when not given).  It returns
 *   0                 started: the module runs until it is told to stop
 *                     (user space: SIGINT or SIGTERM; kernel: rmmod),
 *                     then @stop runs;
 *   CSE_MODULE_DONE   finished its work already (a client that ran its
 *                     script): a process runs @stop and exits 0, a kernel
 *                     module stays loaded, doing nothing, until rmmod runs
 *                     @stop;
 *   -errno            failed, after undoing what it had done: @stop does
 *                     not run; the process exits 1 with the error, insmod
 *                     fails with it.
 *
 * User space: `program [SERVER_ID [OPTIONS]]`; SIGINT and SIGTERM are
 * blocked in every thread from the start (cse_module_main() in
 * platforms/posix/module_main.c waits for them).  Kernel: the module
 * parameters server_id= and options= (insmod kvstore.ko server_id=kv).
 * The kernel module is licensed "Dual MIT/GPL": cse.ko exports its API to
 * GPL-compatible modules only.
 */
#ifndef CSE_MODULE_H
#define CSE_MODULE_H

#include <cse/env.h>

/* What a start function returns when it has done all its work. */
#define CSE_MODULE_DONE 1

typedef int (*cse_module_start_fn)(const char *server_id, const char *options);
typedef void (*cse_module_stop_fn)(void);

#ifdef __KERNEL__
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#define CSE_MODULE(start_fn, stop_fn, description)				\
	static char *cse_module_server_id;					\
	module_param_named(server_id, cse_module_server_id, charp, 0444);	\
	MODULE_PARM_DESC(server_id, "the server_id to serve or to reach");	\
	static char *cse_module_options;					\
	module_param_named(options, cse_module_options, charp, 0444);		\
	MODULE_PARM_DESC(options, "the module's own options");		\
	static int __init cse_module_init(void)					\
	{									\
		int ret = start_fn(cse_module_server_id, cse_module_options);	\
										\
		/* Loaded either way; a positive init value is a warning. */	\
		return ret < 0 ? ret : 0;					\
	}									\
	static void __exit cse_module_exit(void)				\
	{									\
		stop_fn();							\
	}									\
	module_init(cse_module_init);						\
	module_exit(cse_module_exit);						\
	MODULE_LICENSE("Dual MIT/GPL");						\
	MODULE_DESCRIPTION(description)
#else
#ifdef __cplusplus
extern "C" {
#endif
/*
 * The user-space starter behind CSE_MODULE(): parses argv, blocks SIGINT
 * and SIGTERM, runs @start, waits for one of them unless @start is done,
 * runs @stop.  Returns the process's exit status.
 */
int cse_module_main(int argc, char **argv, cse_module_start_fn start,
		    cse_module_stop_fn stop, const char *description);
#ifdef __cplusplus
}
#endif

/* The trailing declaration takes the semicolon after CSE_MODULE(...). */
#define CSE_MODULE(start_fn, stop_fn, description)				\
	int main(int argc, char **argv)						\
	{									\
		return cse_module_main(argc, argv, start_fn, stop_fn,		\
				       description);				\
	}									\
	int cse_module_main(int, char **, cse_module_start_fn,		\
			    cse_module_stop_fn, const char *)
#endif

#endif /* CSE_MODULE_H */
