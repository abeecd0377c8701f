/*
 * test_scrape.c -- what a scrape of the operator endpoint costs the event
 * loop, counted rather than timed (machines are noisy): GET /metrics and
 * GET /status through the real endpoint (admin_new) with many VMs and
 * Jupyter users, counting the steps of every hash-table walk (ht_next is
 * wrapped: -Wl,--wrap=ht_next). /metrics walks no table at all (per-VM
 * user counts are kept as sessions start and end); /status walks the
 * users and the affinity entries once each, not once per VM. The times
 * are printed for a person to read, never asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>

#include "admin/admin.h"
#include "admin/statuspage.h"
#include "backends/affinity.h"
#include "backends/members.h"
#include "backends/usersess.h"
#include "lib/hashtab.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "evhttp_harness.h"

#define NVM    400
#define NUSERS 20000    /* each with a user: and an ip: affinity entry */

/* Every step of a walk over any hash table. */
static unsigned long long steps;

struct ht_node *__real_ht_next(struct ht_iter *it);

struct ht_node *
__wrap_ht_next(struct ht_iter *it)
{
	steps++;
	return __real_ht_next(it);
}

static struct members   mbr;
static struct px_ctx    px;
static struct adm_ctx   adm;
static struct service   svc[2];
static struct pg_config cfg;
static struct admin    *ep;
static struct eh_server cl;     /* the harness's client side, on px.base */

static int
setup(void **state)
{
	uint64_t now = pg_now_ms();
	char name[64], addr[64], key[96], vm[32];
	struct cfg_addr la;

	(void)state;
	pg_log_set_level(PG_LOG_ERR);
	pool_init(&mbr.pool);
	assert_non_null(mbr.aff = aff_new(4 * NUSERS, 3600000));
	assert_non_null(mbr.us = us_new(2 * NUSERS, 600000));
	snprintf(svc[0].cfg.name, sizeof(svc[0].cfg.name), "ssh");
	snprintf(svc[1].cfg.name, sizeof(svc[1].cfg.name), "jupyter");
	cfg.state_dir = "/var/lib/poolgate";
	px.cfg = &cfg;
	px.mbr = &mbr;
	px.svc[0] = &svc[0];
	px.svc[1] = &svc[1];
	px.nsvc = 2;
	assert_non_null(px.base = event_base_new());
	adm.px = &px;
	mbr.pool.nservices = 2;
	for (int i = 0; i < NVM; i++) {
		struct cfg_backend cb;
		struct backend *b;

		memset(&cb, 0, sizeof(cb));
		snprintf(cb.name, sizeof(cb.name), "vm%d", i);
		snprintf(addr, sizeof(addr), "10.%d.%d.4", i / 250, i % 250);
		assert_int_equal(cfg_parse_addr(addr, false, &cb.address), 0);
		cb.address.text = addr;
		cb.weight = 1;
		assert_non_null(b = pool_add(&mbr.pool, &cb));
		b->nservices = 2;
		b->health[0].hc.up = b->health[1].hc.up = true;
	}
	for (int u = 0; u < NUSERS; u++) {
		struct us_ended e;

		snprintf(name, sizeof(name), "user%d", u);
		snprintf(addr, sizeof(addr), "10.200.%d.%d", u / 250, u % 250);
		snprintf(vm, sizeof(vm), "vm%d", u % NVM);
		assert_int_equal(us_request(mbr.us, name, vm, addr, now, &e),
		    US_STARTED);
		snprintf(key, sizeof(key), "user:%s", name);
		assert_int_equal(aff_session_start(mbr.aff, key, vm, now), 0);
		snprintf(key, sizeof(key), "ip:%s", addr);
		assert_int_equal(aff_session_start(mbr.aff, key, vm, now), 0);
	}
	/* the endpoint on a free port */
	for (int p = 20100; ep == NULL && p < 20400; p++) {
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", p);
		memset(&la, 0, sizeof(la));
		la.text = addr;
		if ((ep = admin_new(&adm, &la, -1)) != NULL)
			cl.port = p;
	}
	assert_non_null(ep);
	cl.base = px.base;
	cl.timeout_ms = 60000;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	admin_free(ep);
	ep = NULL;
	statuspage_free(&adm);
	event_base_free(px.base);
	pool_clear(&mbr.pool);
	aff_free(mbr.aff);
	us_free(mbr.us);
	return 0;
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* GET path through the endpoint; the walk steps it took. */
static unsigned long long
scrape(const char *path, size_t *len)
{
	struct eh_reply r;
	struct timespec t0;
	unsigned long long before = steps;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (eh_request(&cl, NULL, "GET", path, NULL, NULL, 0, &r) != 0)
		fail_msg("GET %s: %s", path, r.error);
	print_message("GET %-8s %8.1f ms, %zu bytes, %llu walk steps (%d VMs, "
	    "%d users, %zu affinity entries)\n", path, ms_since(&t0), r.body_len,
	    steps - before, NVM, NUSERS, aff_count(mbr.aff));
	assert_int_equal(r.status, 200);
	*len = r.body_len;
	eh_reply_free(&r);
	return steps - before;
}

static void
test_metrics_walks_nothing(void **state)
{
	size_t len;

	(void)state;
	/* not a step per user and VM (8 million before): none */
	assert_int_equal(scrape("/metrics", &len), 0);
	assert_true(len > 0);
}

static void
test_status_walks_each_table_once(void **state)
{
	size_t len, entries = aff_count(mbr.aff);
	unsigned long long n;

	(void)state;
	n = scrape("/status", &len);
	/*
	 * One pass over the affinity table (its entries and its buckets, at
	 * most twice as many) and none over the users: far from once per VM.
	 */
	if (n > 3 * entries)
		fail_msg("GET /status took %llu walk steps for %zu affinity entries "
		    "and %d users on %d VMs", n, entries, NUSERS, NVM);
	/* every user is listed, on its VM */
	assert_true(len > (size_t)NUSERS * 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_walks_nothing),
		cmocka_unit_test(test_status_walks_each_table_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
