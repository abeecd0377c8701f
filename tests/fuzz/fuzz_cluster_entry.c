/*
 * fuzz_cluster_entry.c -- what poolgate reads back from Redis
 * (cluster/entry.c): a key name and its value, from SCAN and GET at start
 * or from a pub/sub message.
 *
 * Input: the key name (without the prefix), a newline, the value. A
 * refused entry must come with a printable reason; an accepted one must
 * hold only valid names and numbers in range, encode again, and decode
 * back to the same entry (the encoder writes nothing the decoder refuses).
 * Accepted heartbeats also go through the other nodes' table.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/entry.h"
#include "cluster/peers.h"
#include "lib/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cl_entry a, b;
	static char name[512], value[CL_VALUE_MAX + 1];
	const char *nl = memchr(data, '\n', size);
	size_t nlen = nl != NULL ? (size_t)(nl - (const char *)data) : size;
	const char *v = nl != NULL ? nl + 1 : "";
	size_t vlen = nl != NULL ? size - nlen - 1 : 0;
	char why[128] = "";

	if (cl_decode((const char *)data, nlen, v, vlen, &a, why,
	    sizeof(why)) == -1) {
		check(why[0] != '\0');
		for (const char *p = why; *p; p++)
			check(*p >= 0x20 && *p < 0x7f);
		return 0;
	}
	check(pg_name_valid(a.node, CFG_NAME_MAX));
	check(a.stamp <= CL_STAMP_MAX);
	check(cl_encode(&a, name, sizeof(name), value, sizeof(value)) == 0);
	check(cl_decode(name, strlen(name), value, strlen(value), &b, why,
	    sizeof(why)) == 0);
	check(a.kind == b.kind && a.stamp == b.stamp &&
	    strcmp(a.node, b.node) == 0);
	switch (a.kind) {
	case CL_AFF:
		check(strcmp(a.u.aff.key, b.u.aff.key) == 0 &&
		    strcmp(a.u.aff.vm, b.u.aff.vm) == 0 &&
		    a.u.aff.expires == b.u.aff.expires);
		break;
	case CL_OPER:
		check(strcmp(a.u.oper.vm, b.u.oper.vm) == 0 &&
		    a.u.oper.admin == b.u.oper.admin);
		break;
	case CL_VM:
		check(strcmp(a.u.vm.vm, b.u.vm.vm) == 0 &&
		    a.u.vm.removed == b.u.vm.removed &&
		    strcmp(a.u.vm.address, b.u.vm.address) == 0 &&
		    a.u.vm.weight == b.u.vm.weight &&
		    a.u.vm.max_sessions == b.u.vm.max_sessions);
		break;
	case CL_EDGE:
		check(strcmp(a.u.edge.vm, b.u.edge.vm) == 0 &&
		    a.u.edge.busy == b.u.edge.busy);
		break;
	case CL_NODE: {
		struct cl_peers ps;

		check(a.u.node.nvms == b.u.node.nvms &&
		    a.u.node.draining == b.u.node.draining &&
		    a.u.node.runner == b.u.node.runner);
		for (size_t i = 0; i < a.u.node.nvms; i++)
			check(strcmp(a.u.node.vms[i].vm, b.u.node.vms[i].vm) == 0 &&
			    a.u.node.vms[i].sessions == b.u.node.vms[i].sessions);
		cl_peers_init(&ps, "self", 3000);
		check(cl_peers_update(&ps, &a, 0) >= 0);
		for (size_t i = 0; i < a.u.node.nvms && i < 8; i++)
			(void)cl_peers_sessions(&ps, a.u.node.vms[i].vm, 1);
		cl_peers_free(&ps);
		break;
	}
	}
	return 0;
}
