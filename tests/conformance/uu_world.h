/* SPDX-License-Identifier: MIT */
/* The user-space world of the U-U conformance run: processes and threads. */
#ifndef CSE_UU_WORLD_H
#define CSE_UU_WORLD_H

#include "conformance.h"

/* Path of the helper binary (conformance server / doomed client). */
extern char uu_helper_path[4096];

void uu_world_init(const char *argv0);
/* Fill @env with the user-space implementations of its operations. */
void uu_env_init(struct conf_env *env, const char *server_id,
		 const char *worker_server_id, const char *spare_server_id);
/* posix_spawn the helper with @args (NULL-terminated, after argv[0]). */
int uu_spawn_helper(const char *const *args, int *pid);

#endif /* CSE_UU_WORLD_H */
