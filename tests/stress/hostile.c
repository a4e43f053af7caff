// SPDX-License-Identifier: MIT
/*
 * A hostile client beside an honest one: this process connects again and
 * again and scribbles over its FIFOs and slot headers (pushing offsets,
 * kicking the server), while an honest client, another process, keeps
 * issuing the mix.  The server process must survive, and the honest
 * client must see every command completed once, correctly.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cse/atomic.h>

#include "client.h"
#include "stress.h"

/* One round of garbage into @bad's chunk, in the FIFOs and slot headers. */
static void scribble(struct cse_client *bad, unsigned int *rng)
{
	__u32 *fifo = (__u32 *)(bad->base + bad->g.cs_fifo_off);
	size_t nfifo = (bad->g.slots_off - bad->g.cs_fifo_off) / 4;
	struct cse_slot_hdr *h;
	int i;

	for (i = 0; i < 32; i++)
		cse_store(&fifo[stress_rand(rng) % nfifo], stress_rand(rng));
	h = cse_client_slot(bad, stress_rand(rng) % bad->g.nslots);
	cse_store(&h->state, stress_rand(rng) % 5);
	cse_store(&h->flags, stress_rand(rng) % 16);
	cse_store(&h->input_len, stress_rand(rng) % (2 * bad->g.slot_input_size));
	cse_store(&h->output_len, stress_rand(rng) % (2 * bad->g.slot_output_size));
	cse_fifo_push(&bad->cs, stress_rand(rng) % 4 ?
		      cse_geom_slot_off(&bad->g, stress_rand(rng) % bad->g.nslots) :
		      stress_rand(rng));
	cse_fifo_kick(&bad->cs);
	/*
	 * And ring the doorbell, as a hostile client may whenever it likes: a
	 * server serving many connections parks their FIFOs, and the garbage
	 * above (a forged sleepers word, say) would otherwise leave this one
	 * parked and its garbage never read.
	 */
	bad->cs.ring(bad->cs.ring_arg);
}

int stress_hostile(const char *argv0, unsigned int seconds, unsigned int seed)
{
	struct stress_counts n = { .rss_slope_kib_min = -1 };
	char secs[16], id[64];
	const char *honest_args[] = { "--honest", id, secs, NULL };
	struct cse_client *bad = NULL;
	unsigned int rng = seed;
	int server, honest, status, out[2];
	FILE *f;
	__u64 end;

	signal(SIGPIPE, SIG_IGN);
	snprintf(id, sizeof(id), "stress-h-%d", (int)getpid());
	snprintf(secs, sizeof(secs), "%u", seconds);
	if (pipe(out) || peer_server(argv0, id, &server) || peer_connect(id, NULL, &bad) ||
	    stress_spawn_self(honest_args, &honest, out[1])) {
		n.crashes++;
		stress_print("hostile", &n, seed);
		return 1;
	}
	close(out[1]);
	end = cse_now_ms() + seconds * 1000ULL;
	while (cse_now_ms() < end) {
		if (cse_client_is_dead(bad)) {
			/* Dropped, as it should be: come back for more. */
			n.iterations++;
			cse_client_deinit(bad);
			bad = NULL;
			if (peer_connect(id, NULL, &bad)) {
				n.crashes++;
				break;
			}
		}
		scribble(bad, &rng);
		cse_sleep_ms(1);
	}
	f = fdopen(out[0], "r");
	if (!f || fscanf(f, "%lu", &n.commands) != 1)
		n.crashes++;
	if (f)
		fclose(f);
	if (waitpid(honest, &status, 0) != honest || !WIFEXITED(status))
		n.crashes++;
	else if (WEXITSTATUS(status))
		n.bad++;	/* the honest client saw a wrong or lost command */
	if (waitpid(server, &status, WNOHANG) == server)
		n.crashes++;	/* the server died under the garbage */
	cse_client_deinit(bad);
	peer_kill(server);
	stress_print("hostile", &n, seed);
	return stress_clean(&n) ? 0 : 1;
}

/* --honest ID SECONDS: the mix against a live server; exit 0 if all is well. */
int stress_honest_client(const char *id, unsigned int seconds)
{
	struct stress_counts n = { 0 };
	struct cse_client *c;
	struct mix *m;

	if (peer_connect(id, NULL, &c))
		return 2;
	m = mix_start(c, seconds, false);
	cse_sleep_ms(seconds * 1000);
	if (!m)
		return 2;
	mix_stop(m, 10000, &n);
	cse_client_deinit(c);
	mix_free(m);
	printf("%lu\n", n.commands);	/* for the parent's count */
	fflush(stdout);
	return stress_clean(&n) && n.commands ? 0 : 1;
}
