/* A CSE client: ./upper_client demo.upper "hello, kernel" */
#include <cse/cse.h>
#include <stdio.h>
#include <string.h>

#define CMD_UPPER 1

int main(int argc, char **argv)
{
	const char *text = argc > 2 ? argv[2] : "hello";
	char out[256];
	struct cse_client *c;
	struct cse_exec x = {
		.input_code = CMD_UPPER,
		.input_buffer_base = text,
		.input_buffer_len = strlen(text),
		.output_buffer_base = out,
		.output_buffer_len = sizeof(out) - 1,
	};			/* no completion callback: synchronous */
	int ret;

	ret = cse_client_init(&c, argc > 1 ? argv[1] : "demo.upper", NULL);
	if (ret) {
		fprintf(stderr, "client: %s\n", cse_strerror(ret));
		return 1;
	}
	ret = cse_execute(c, &x);
	if (!ret && x.output_status_code == 0) {
		out[x.output_buffer_len_actual] = '\0';
		printf("%s\n", out);
	} else {
		fprintf(stderr, "client: %s, status %d\n", cse_strerror(ret),
			x.output_status_code);
	}
	cse_client_deinit(c);
	return ret ? 1 : 0;
}
