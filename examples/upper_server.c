/* A CSE server: upper-cases its input.  Run: ./upper_server demo.upper */
#include <cse/cse.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>

#define CMD_UPPER 1

static void upper(struct cse_conn *conn, void *user_context, __u32 input_code,
		  const void *in, size_t in_len, void *out, size_t out_len,
		  size_t *out_len_actual, int *status)
{
	const char *src = in;
	char *dst = out;
	size_t i, n = in_len < out_len ? in_len : out_len;

	(void)conn;
	(void)user_context;
	if (input_code != CMD_UPPER) {
		*status = -1;		/* our own "unknown command" status */
		return;
	}
	for (i = 0; i < n; i++)
		dst[i] = (char)toupper((unsigned char)src[i]);
	*out_len_actual = n;
	*status = 0;
}

int main(int argc, char **argv)
{
	const struct cse_server_ops ops = { .exec_handler = upper };
	struct cse_server *s;
	sigset_t stop;
	int sig, ret;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);	/* before any thread starts */

	ret = cse_server_init();
	if (!ret)
		ret = cse_server_create(&s, argc > 1 ? argv[1] : "demo.upper", &ops, NULL);
	if (ret) {
		fprintf(stderr, "server: %s\n", cse_strerror(ret));
		return 1;
	}
	printf("serving\n");
	fflush(stdout);
	sigwait(&stop, &sig);		/* serve until Ctrl-C or SIGTERM */
	cse_server_destroy(s);
	cse_server_deinit();
	return 0;
}
