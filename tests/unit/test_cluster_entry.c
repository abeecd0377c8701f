/*
 * test_cluster_entry.c -- the shared entries as text: every kind encodes
 * and decodes back to itself; the decoder refuses every malformed or
 * hostile value with a reason; the encoder never writes what the decoder
 * refuses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cluster/entry.h"

static struct cl_entry *e, *d;

static int
setup(void **state)
{
	(void)state;
	e = calloc(1, sizeof(*e));
	d = calloc(1, sizeof(*d));
	return e == NULL || d == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	free(e);
	free(d);
	return 0;
}

/* Decode name/value; returns the decoder's result, why in `why`. */
static int
dec(const char *name, const char *value, char *why)
{
	return cl_decode(name, strlen(name), value, strlen(value), d, why, 128);
}

static void
roundtrip(const char *want_name, const char *want_value)
{
	char name[256], value[CL_VALUE_MAX], why[128] = "";

	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), 0);
	assert_string_equal(name, want_name);
	assert_string_equal(value, want_value);
	assert_int_equal(dec(name, value, why), 0);
	assert_string_equal(why, "");
	assert_int_equal(d->kind, e->kind);
	assert_int_equal(d->stamp, e->stamp);
	assert_string_equal(d->node, e->node);
}

static void
test_affinity(void **state)
{
	(void)state;
	memset(e, 0, sizeof(*e));
	e->kind = CL_AFF;
	e->stamp = 1700000000123;
	snprintf(e->node, sizeof(e->node), "pg1");
	snprintf(e->u.aff.key, sizeof(e->u.aff.key), "ip:10.0.0.7");
	snprintf(e->u.aff.vm, sizeof(e->u.aff.vm), "vm-2.east");
	e->u.aff.expires = 1700003600123;
	roundtrip("a:ip:10.0.0.7", "1 1700000000123 vm-2.east 1700003600123 pg1");
	assert_string_equal(d->u.aff.key, "ip:10.0.0.7");
	assert_string_equal(d->u.aff.vm, "vm-2.east");
	assert_int_equal(d->u.aff.expires, 1700003600123);

	snprintf(e->u.aff.key, sizeof(e->u.aff.key), "ip:fd00::7");
	roundtrip("a:ip:fd00::7", "1 1700000000123 vm-2.east 1700003600123 pg1");
	snprintf(e->u.aff.key, sizeof(e->u.aff.key), "user:alice");
	roundtrip("a:user:alice", "1 1700000000123 vm-2.east 1700003600123 pg1");
}

static void
test_oper_and_vm(void **state)
{
	(void)state;
	memset(e, 0, sizeof(*e));
	e->kind = CL_OPER;
	e->stamp = 5;
	snprintf(e->node, sizeof(e->node), "pg2");
	snprintf(e->u.oper.vm, sizeof(e->u.oper.vm), "vm1");
	e->u.oper.admin = BE_ADMIN_DRAIN;
	roundtrip("o:vm1", "1 5 drain pg2");
	assert_int_equal(d->u.oper.admin, BE_ADMIN_DRAIN);
	e->u.oper.admin = BE_ADMIN_MAINT;
	roundtrip("o:vm1", "1 5 maint pg2");
	e->u.oper.admin = BE_ADMIN_READY;
	roundtrip("o:vm1", "1 5 ready pg2");
	assert_int_equal(d->u.oper.admin, BE_ADMIN_READY);

	memset(e, 0, sizeof(*e));
	e->kind = CL_VM;
	e->stamp = 9;
	snprintf(e->node, sizeof(e->node), "pg1");
	snprintf(e->u.vm.vm, sizeof(e->u.vm.vm), "vm9");
	snprintf(e->u.vm.address, sizeof(e->u.vm.address), "10.231.0.19");
	e->u.vm.weight = 3;
	e->u.vm.max_sessions = 40;
	roundtrip("v:vm9", "1 9 add 10.231.0.19 3 40 pg1");
	assert_false(d->u.vm.removed);
	assert_string_equal(d->u.vm.address, "10.231.0.19");
	assert_int_equal(d->u.vm.weight, 3);
	assert_int_equal(d->u.vm.max_sessions, 40);
	e->u.vm.removed = true;
	roundtrip("v:vm9", "1 9 del pg1");
	assert_true(d->u.vm.removed);
	assert_string_equal(d->u.vm.vm, "vm9");
}

static void
test_edge(void **state)
{
	(void)state;
	memset(e, 0, sizeof(*e));
	e->kind = CL_EDGE;
	e->stamp = 1700000000555;
	snprintf(e->node, sizeof(e->node), "pg1");
	snprintf(e->u.edge.vm, sizeof(e->u.edge.vm), "vm2");
	e->u.edge.busy = true;
	roundtrip("h:vm2", "1 1700000000555 busy pg1");
	assert_string_equal(d->u.edge.vm, "vm2");
	assert_true(d->u.edge.busy);
	e->u.edge.busy = false;
	roundtrip("h:vm2", "1 1700000000555 idle pg1");
	assert_false(d->u.edge.busy);
}

static void
test_node(void **state)
{
	(void)state;
	memset(e, 0, sizeof(*e));
	e->kind = CL_NODE;
	e->stamp = 77;
	snprintf(e->node, sizeof(e->node), "pg1");
	roundtrip("n:pg1", "1 77 serving standby");
	assert_int_equal(d->u.node.nvms, 0);
	e->u.node.draining = true;
	e->u.node.runner = true;
	e->u.node.nvms = 2;
	snprintf(e->u.node.vms[0].vm, sizeof(e->u.node.vms[0].vm), "vm1");
	e->u.node.vms[0].sessions = 2;
	snprintf(e->u.node.vms[1].vm, sizeof(e->u.node.vms[1].vm), "vm2");
	e->u.node.vms[1].sessions = 0;
	roundtrip("n:pg1", "1 77 draining runner vm1=2 vm2=0");
	assert_true(d->u.node.draining);
	assert_true(d->u.node.runner);
	assert_int_equal(d->u.node.nvms, 2);
	assert_string_equal(d->u.node.vms[0].vm, "vm1");
	assert_int_equal(d->u.node.vms[0].sessions, 2);
	assert_int_equal(d->u.node.vms[1].sessions, 0);
}

/* Every VM of the largest pool fits in one heartbeat. */
static void
test_node_full_pool(void **state)
{
	static char value[CL_VALUE_MAX * 4];
	char name[64], why[128];

	(void)state;
	memset(e, 0, sizeof(*e));
	e->kind = CL_NODE;
	e->stamp = 1;
	snprintf(e->node, sizeof(e->node), "pg1");
	e->u.node.nvms = CL_NODE_VMS_MAX;
	for (size_t i = 0; i < CL_NODE_VMS_MAX; i++) {
		snprintf(e->u.node.vms[i].vm, sizeof(e->u.node.vms[i].vm), "vm%zu", i);
		e->u.node.vms[i].sessions = 3;
	}
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), 0);
	assert_true(strlen(value) <= CL_VALUE_MAX);
	assert_int_equal(dec(name, value, why), 0);
	assert_int_equal(d->u.node.nvms, CL_NODE_VMS_MAX);
}

/* The encoder refuses what the decoder would refuse, and short buffers. */
static void
test_encode_refuses(void **state)
{
	char name[256], value[256];

	(void)state;
	memset(e, 0, sizeof(*e));
	e->kind = CL_AFF;
	e->stamp = 1;
	snprintf(e->node, sizeof(e->node), "pg1");
	snprintf(e->u.aff.key, sizeof(e->u.aff.key), "ip:1.2.3.4");
	snprintf(e->u.aff.vm, sizeof(e->u.aff.vm), "vm1");
	e->u.aff.expires = 2;
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), 0);
	assert_int_equal(cl_encode(e, name, 5, value, sizeof(value)), -1);
	assert_int_equal(cl_encode(e, name, sizeof(name), value, 10), -1);
	snprintf(e->u.aff.key, sizeof(e->u.aff.key), "user:a b");
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);
	snprintf(e->u.aff.key, sizeof(e->u.aff.key), "ip:1.2.3.4");
	snprintf(e->node, sizeof(e->node), "-pg1");
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);
	snprintf(e->node, sizeof(e->node), "pg1");
	e->stamp = CL_STAMP_MAX + 1;
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);

	memset(e, 0, sizeof(*e));
	e->kind = CL_VM;
	snprintf(e->node, sizeof(e->node), "pg1");
	snprintf(e->u.vm.vm, sizeof(e->u.vm.vm), "vm1");
	snprintf(e->u.vm.address, sizeof(e->u.vm.address), "vm.example");
	e->u.vm.weight = 1;
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);
	snprintf(e->u.vm.address, sizeof(e->u.vm.address), "10.0.0.1");
	e->u.vm.weight = 0;
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);
	e->u.vm.weight = 1;
	e->u.vm.max_sessions = -1;
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);

	memset(e, 0, sizeof(*e));
	e->kind = CL_EDGE;
	snprintf(e->node, sizeof(e->node), "pg1");
	snprintf(e->u.edge.vm, sizeof(e->u.edge.vm), "../vm1");
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);
	snprintf(e->u.edge.vm, sizeof(e->u.edge.vm), "vm1");
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), 0);
	snprintf(e->node, sizeof(e->node), "pg 1");
	assert_int_equal(cl_encode(e, name, sizeof(name), value, sizeof(value)), -1);
}

struct bad {
	const char *name, *value, *why;
};

static void
test_decode_refuses(void **state)
{
	static const struct bad bad[] = {
		{ "x:1", "1 5 a b", "unknown key" },
		{ "a", "1 5 vm1 6 pg1", "unknown key" },
		{ "aa:k", "1 5 vm1 6 pg1", "unknown key" },
		{ "a:k", "", "malformed value" },
		{ "a:k", "1  5 vm1 6 pg1", "malformed value" },
		{ "a:k", " 1 5 vm1 6 pg1", "malformed value" },
		{ "a:k", "1 5 vm1 6 pg1 ", "malformed value" },
		{ "a:k", "2 5 vm1 6 pg1", "unknown format version" },
		{ "a:k", "1 5", "unknown format version" },
		{ "a:k", "1 -5 vm1 6 pg1", "bad stamp" },
		{ "a:k", "1 05 vm1 6 pg1", "bad stamp" },
		{ "a:k", "1 9007199254740993 vm1 6 pg1", "bad stamp" },
		{ "a:k", "1 99999999999999999 vm1 6 pg1", "bad stamp" },
		{ "a:k", "1 5x vm1 6 pg1", "bad stamp" },
		{ "a:k k", "1 5 vm1 6 pg1", "bad affinity key" },
		{ "a:", "1 5 vm1 6 pg1", "unknown key" },
		{ "a:k", "1 5 vm1 6", "affinity: expected 5 fields" },
		{ "a:k", "1 5 ../x 6 pg1", "affinity: bad VM name" },
		{ "a:k", "1 5 -rf 6 pg1", "affinity: bad VM name" },
		{ "a:k", "1 5 vm1 six pg1", "affinity: bad expiry" },
		{ "a:k", "1 5 vm1 6 p/g", "affinity: bad node name" },
		{ "o:vm1", "1 5 off pg1", "operator state: unknown state" },
		{ "o:vm/1", "1 5 drain pg1", "operator state: bad VM name" },
		{ "o:vm1", "1 5 drain", "operator state: expected 4 fields" },
		{ "v:vm1", "1 5 add 10.0.0.1 1 0", "VM: expected add with 7 fields or del with 4" },
		{ "v:vm1", "1 5 put 10.0.0.1 1 0 pg1", "VM: expected add with 7 fields or del with 4" },
		{ "v:vm1", "1 5 add evil.example 1 0 pg1", "VM: bad address" },
		{ "v:vm1", "1 5 add 10.0.0.1 0 0 pg1", "VM: bad weight" },
		{ "v:vm1", "1 5 add 10.0.0.1 1001 0 pg1", "VM: bad weight" },
		{ "v:vm1", "1 5 add 10.0.0.1 1 100001 pg1", "VM: bad max_sessions" },
		{ "v:vm1", "1 5 del pg1 x", "VM removal: expected 4 fields" },
		{ "h:vm1", "1 5 busy", "hook edge: expected 4 fields" },
		{ "h:vm1", "1 5 busy pg1 x", "hook edge: expected 4 fields" },
		{ "h:vm1", "1 5 down pg1", "hook edge: expected busy or idle" },
		{ "h:vm1", "1 5 BUSY pg1", "hook edge: expected busy or idle" },
		{ "h:vm/1", "1 5 busy pg1", "hook edge: bad VM name" },
		{ "h:", "1 5 busy pg1", "unknown key" },
		{ "h:vm1", "1 5 idle -pg1", "hook edge: bad node name" },
		{ "h:vm1", "2 5 idle pg1", "unknown format version" },
		{ "n:pg1", "1 5 sleeping standby", "node: unknown state" },
		{ "n:pg1", "1 5 serving", "node: expected a role" },
		{ "n:pg1", "1 5 serving boss", "node: unknown role" },
		{ "n:pg1", "1 5 serving standby vm1", "node: count without '='" },
		{ "n:pg1", "1 5 serving standby =3", "node: bad VM name" },
		{ "n:pg1", "1 5 serving standby vm1=", "node: bad session count" },
		{ "n:pg1", "1 5 serving standby vm1=-1", "node: bad session count" },
		{ "n:pg1", "1 5 serving standby vm1=1000001", "node: bad session count" },
		{ "n:", "1 5 serving", "unknown key" },
		{ "n:p g", "1 5 serving", "node: bad name" },
	};
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (dec(bad[i].name, bad[i].value, why) != -1 ||
		    strcmp(why, bad[i].why) != 0)
			fail_msg("%s \"%s\": got \"%s\", expected \"%s\"",
			    bad[i].name, bad[i].value, why, bad[i].why);
	}
}

/* A NUL inside the value, a value over the cap, too many VMs. */
static void
test_decode_caps(void **state)
{
	static char big[CL_VALUE_MAX + 2];
	char why[128];
	size_t n;

	(void)state;
	assert_int_equal(cl_decode("a:k", 3, "1 5 vm1\0 6 pg1", 14, d, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "malformed value");

	memset(big, 'x', sizeof(big));
	assert_int_equal(cl_decode("a:k", 3, big, CL_VALUE_MAX + 1, d, why,
	    sizeof(why)), -1);
	assert_string_equal(why, "value longer than 65536 bytes");

	/* 4097 counts of "v=1" fit in the byte cap but not in the VM cap */
	n = (size_t)snprintf(big, sizeof(big), "1 5 serving standby");
	for (size_t i = 0; i <= CL_NODE_VMS_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, " v=1");
	assert_true(n <= CL_VALUE_MAX);
	assert_int_equal(cl_decode("n:pg1", 5, big, n, d, why, sizeof(why)), -1);
	assert_string_equal(why, "node: more than 4096 VMs");
}

/* One entry decoded into again and again keeps nothing of the last one. */
static void
test_decode_reuses(void **state)
{
	char why[128];

	(void)state;
	assert_int_equal(dec("v:vm1", "1 5 del pg1", why), 0);
	assert_true(d->u.vm.removed);
	assert_int_equal(dec("v:vm1", "1 5 add 10.0.0.1 2 0 pg1", why), 0);
	assert_false(d->u.vm.removed);
	assert_int_equal(dec("v:vm2", "1 6 del pg1", why), 0);
	assert_string_equal(d->u.vm.address, "");
	assert_int_equal(dec("n:pg1", "1 5 draining runner vm1=1", why), 0);
	assert_true(d->u.node.draining);
	assert_true(d->u.node.runner);
	assert_int_equal(dec("n:pg1", "1 6 serving standby", why), 0);
	assert_false(d->u.node.draining);
	assert_false(d->u.node.runner);
	assert_int_equal(d->u.node.nvms, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_oper_and_vm),
		cmocka_unit_test(test_edge),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_node_full_pool),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_decode_caps),
		cmocka_unit_test(test_decode_reuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
