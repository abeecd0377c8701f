/*
 * bench_select.c -- time per pick of poolgate's VM selection.
 *
 *   bench_select [-v VMS] [-e ENTRIES] [-n PICKS] [-c CASE]
 *
 * Builds a pool of VMS backends (vm1..vmN, all up, sessions spread 0..19)
 * and an affinity table of ENTRIES keys pointing at random VMs, half
 * "ip:<address>" and half "user:<name>", then times route_pick() (the
 * routing order every connection and HTTP request goes through) for:
 *
 *   ip_hit    an SSH client whose address has an affinity (rule 4)
 *   user_hit  an HTTP request of a user with an affinity (rule 1)
 *   new_ip    an SSH client with no affinity: least loaded VM (rule 5)
 *   new_user  an HTTP request of a user unknown so far (rules 1 then 5)
 *   ip_conn   ip_hit plus aff_session_start/aff_session_end and the two
 *             pool_touch calls of the session count: the whole selection
 *             and affinity work of one returning SSH connection
 *
 * Keys are taken in a shuffled order so the table is not walked in memory
 * order. -c times one case only (for a profiler). Prints one JSON object: {"vms":..,"entries":..,"picks":..,
 * "ns_per_pick": {"ip_hit": .., ...}}. Links backends/select.c, ready.c,
 * route.c, backend.c, health.c and affinity.c as they are built for the
 * daemon.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/affinity.h"
#include "backends/backend.h"
#include "backends/route.h"
#include "backends/select.h"

#define SVC 0

static volatile uintptr_t sink;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: reproducible runs. */
static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Du;
}

static void
shuffle(char **v, size_t n)
{
	size_t i;

	for (i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rnd() % (i + 1));
		char *t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL) {
		perror("strdup");
		exit(1);
	}
	return p;
}

int
main(int argc, char **argv)
{
	size_t nvms = 1000, nent = 100000, picks = 1000000, i, nip, nuser;
	struct pool pool;
	struct aff_table *aff;
	char **ipkeys, **users, **newips, **newusers, buf[128];
	uint64_t now = 1000000, t0;
	double ns_ip_hit, ns_user_hit, ns_new_ip, ns_new_user, ns_ip_conn;
	enum route_why why;
	const char *only = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "v:e:n:c:")) != -1) {
		switch (ch) {
		case 'v': nvms = (size_t)atol(optarg); break;
		case 'e': nent = (size_t)atol(optarg); break;
		case 'n': picks = (size_t)atol(optarg); break;
		case 'c': only = optarg; break;
		default:
			fprintf(stderr, "usage: bench_select [-v VMS] [-e ENTRIES] [-n PICKS] "
			    "[-c ip_hit|user_hit|new_ip|new_user|ip_conn]\n");
			return 2;
		}
	}
	if (nvms < 1 || nent < 2 || picks < 1) {
		fprintf(stderr, "bench_select: bad arguments\n");
		return 2;
	}

	pool_init(&pool);
	for (i = 0; i < nvms; i++) {
		struct cfg_backend cb;
		struct backend *b;

		memset(&cb, 0, sizeof(cb));
		snprintf(cb.name, sizeof(cb.name), "vm%zu", i + 1);
		snprintf(buf, sizeof(buf), "10.%zu.%zu.%zu", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		cb.address.text = buf;
		cb.weight = 1;
		cb.max_sessions = 0;
		if ((b = pool_add(&pool, &cb)) == NULL) {
			fprintf(stderr, "bench_select: pool_add failed\n");
			return 1;
		}
		b->health[SVC].hc.up = true;
		b->sessions = (int)(rnd() % 20);
		pool_touch(&pool, b);
	}

	if ((aff = aff_new(nent * 2, 3600 * 1000)) == NULL) {
		fprintf(stderr, "bench_select: aff_new failed\n");
		return 1;
	}
	nip = nent / 2;
	nuser = nent - nip;
	ipkeys = calloc(nip, sizeof(*ipkeys));
	users = calloc(nuser, sizeof(*users));
	newips = calloc(nip, sizeof(*newips));
	newusers = calloc(nuser, sizeof(*newusers));
	if (!ipkeys || !users || !newips || !newusers) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < nip; i++) {
		const char *vm = pool.be[rnd() % nvms]->name;

		snprintf(buf, sizeof(buf), "ip:172.%zu.%zu.%zu", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		ipkeys[i] = xstrdup(buf);
		/* A past session: the entry is idle and lives for the ttl. */
		if (aff_session_start(aff, buf, vm, now) != 0) {
			fprintf(stderr, "bench_select: affinity table refused %s\n", buf);
			return 1;
		}
		aff_session_end(aff, buf, vm, now);
		snprintf(buf, sizeof(buf), "ip:192.%zu.%zu.%zu", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		newips[i] = xstrdup(buf);
	}
	for (i = 0; i < nuser; i++) {
		const char *vm = pool.be[rnd() % nvms]->name;

		snprintf(buf, sizeof(buf), "user:user%06zu", i);
		if (aff_session_start(aff, buf, vm, now) != 0) {
			fprintf(stderr, "bench_select: affinity table refused %s\n", buf);
			return 1;
		}
		aff_session_end(aff, buf, vm, now);
		users[i] = xstrdup(buf + 5);
		snprintf(buf, sizeof(buf), "stranger%06zu", i);
		newusers[i] = xstrdup(buf);
	}
	if (aff_count(aff) != nent) {
		fprintf(stderr, "bench_select: %zu entries, expected %zu\n",
		    aff_count(aff), nent);
		return 1;
	}
	shuffle(ipkeys, nip);
	shuffle(users, nuser);
	shuffle(newips, nip);
	shuffle(newusers, nuser);

	/* Every variant must choose what it is meant to (checked, not timed). */
	{
		struct route_in in = { .ip_key = ipkeys[0] };

		if (route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why) == NULL ||
		    why != ROUTE_IP) {
			fprintf(stderr, "bench_select: ip_hit chose by %s\n", route_why_name(why));
			return 1;
		}
		in.ip_key = NULL;
		in.user = users[0];
		if (route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why) == NULL ||
		    why != ROUTE_USER) {
			fprintf(stderr, "bench_select: user_hit chose by %s\n", route_why_name(why));
			return 1;
		}
		in.user = NULL;
		in.ip_key = newips[0];
		if (route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why) == NULL ||
		    why != ROUTE_LOAD) {
			fprintf(stderr, "bench_select: new_ip chose by %s\n", route_why_name(why));
			return 1;
		}
	}

#define TIMED(var, body) do {                                           \
	var = 0;                                                        \
	if (only != NULL && strcmp(only, #var + 3) != 0)                \
		break;                                                  \
	t0 = now_ns();                                                  \
	for (i = 0; i < picks; i++) { body; }                           \
	var = (double)(now_ns() - t0) / (double)picks;                  \
} while (0)

	TIMED(ns_ip_hit, {
		struct route_in in = { .ip_key = ipkeys[i % nip] };
		sink += (uintptr_t)route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why);
	});
	TIMED(ns_user_hit, {
		struct route_in in = { .user = users[i % nuser] };
		sink += (uintptr_t)route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why);
	});
	TIMED(ns_new_ip, {
		struct route_in in = { .ip_key = newips[i % nip] };
		sink += (uintptr_t)route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why);
	});
	TIMED(ns_new_user, {
		struct route_in in = { .user = newusers[i % nuser] };
		sink += (uintptr_t)route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why);
	});
	TIMED(ns_ip_conn, {
		struct route_in in = { .ip_key = ipkeys[i % nip] };
		struct backend *b = route_pick(&pool, SVC, aff, &in, now, NULL, 0, &why);
		if (b != NULL && aff_session_start(aff, in.ip_key, b->name, now) == 0) {
			b->sessions++;
			pool_touch(&pool, b);
			aff_session_end(aff, in.ip_key, b->name, now);
			b->sessions--;
			pool_touch(&pool, b);
		}
		sink += (uintptr_t)b;
	});

	printf("{\"vms\": %zu, \"entries\": %zu, \"picks\": %zu, \"ns_per_pick\": "
	    "{\"ip_hit\": %.1f, \"user_hit\": %.1f, \"new_ip\": %.1f, "
	    "\"new_user\": %.1f, \"ip_conn\": %.1f}}\n", nvms, nent, picks,
	    ns_ip_hit, ns_user_hit, ns_new_ip, ns_new_user, ns_ip_conn);
	aff_free(aff);
	pool_clear(&pool);
	return 0;
}
