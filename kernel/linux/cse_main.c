// SPDX-License-Identifier: MIT
/*
 * cse.ko: the CSE runtime in the kernel.  The portable core from cse/src
 * is compiled unchanged on the kernel primitives in this folder, and the
 * same cse.h API is exported to other modules.
 */
#include <linux/module.h>

#include <cse/cse.h>
#include <cse/env.h>

#include "ctl_dev.h"

EXPORT_SYMBOL_GPL(cse_client_init);
EXPORT_SYMBOL_GPL(cse_execute);
EXPORT_SYMBOL_GPL(cse_execute_batch);
EXPORT_SYMBOL_GPL(cse_client_deinit);
EXPORT_SYMBOL_GPL(cse_client_event_fd);
EXPORT_SYMBOL_GPL(cse_client_reconnect);
EXPORT_SYMBOL_GPL(cse_server_init);
EXPORT_SYMBOL_GPL(cse_server_create);
EXPORT_SYMBOL_GPL(cse_server_destroy);
EXPORT_SYMBOL_GPL(cse_server_deinit);
EXPORT_SYMBOL_GPL(cse_conn_server);
EXPORT_SYMBOL_GPL(cse_strerror);

/* env.h: the module environment (cse/src/env.c and env.c here). */
EXPORT_SYMBOL_GPL(cse_alloc);
EXPORT_SYMBOL_GPL(cse_zalloc);
EXPORT_SYMBOL_GPL(cse_free);
EXPORT_SYMBOL_GPL(cse_mutex_create);
EXPORT_SYMBOL_GPL(cse_mutex_destroy);
EXPORT_SYMBOL_GPL(cse_mutex_lock);
EXPORT_SYMBOL_GPL(cse_mutex_unlock);
EXPORT_SYMBOL_GPL(cse_event_create);
EXPORT_SYMBOL_GPL(cse_event_destroy);
EXPORT_SYMBOL_GPL(cse_event_set);
EXPORT_SYMBOL_GPL(cse_event_clear);
EXPORT_SYMBOL_GPL(cse_event_is_set);
EXPORT_SYMBOL_GPL(cse_event_wait);
EXPORT_SYMBOL_GPL(cse_thread_start);
EXPORT_SYMBOL_GPL(cse_thread_join);
EXPORT_SYMBOL_GPL(cse_thread_id);
EXPORT_SYMBOL_GPL(cse_pool_create);
EXPORT_SYMBOL_GPL(cse_pool_submit);
EXPORT_SYMBOL_GPL(cse_pool_destroy);
EXPORT_SYMBOL_GPL(cse_now_ns);
EXPORT_SYMBOL_GPL(cse_now_ms);
EXPORT_SYMBOL_GPL(cse_sleep_ms);
EXPORT_SYMBOL_GPL(cse_log);
EXPORT_SYMBOL_GPL(cse_snprintf);

static int __init cse_init(void)
{
	int ret = cse_dev_register();

	if (ret) {
		pr_err("cse: cannot register /dev/cse: %d\n", ret);
		return ret;
	}
	pr_info("cse: loaded, ABI %u, /dev/cse ready\n", CSE_ABI_VERSION);
	return 0;
}

static void __exit cse_exit(void)
{
	cse_dev_unregister();
	pr_info("cse: unloaded\n");
}

module_init(cse_init);
module_exit(cse_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("CSE: commands between code modules in user space and the kernel");
