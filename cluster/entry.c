/*
 * entry.c -- see entry.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cluster/entry.h"
#include "lib/text.h"

/* ---- encoding --------------------------------------------------------------- */

/* A key of the affinity table as it may travel: printable, no space. */
static bool
key_valid(const char *s, size_t len)
{
	if (len == 0 || len > AFF_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool
addr_valid(const char *s, size_t len)
{
	struct cfg_addr a;
	char buf[64];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return cfg_parse_addr(buf, false, &a) == 0;
}

/* snprintf that reports truncation as failure. */
static int
put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *at)
		return -1;
	*at += (size_t)n;
	return 0;
}

int
cl_encode(const struct cl_entry *e, char *name, size_t namelen, char *value,
    size_t valuelen)
{
	size_t n = 0, v = 0;

	if (!pg_name_valid(e->node, CFG_NAME_MAX) || e->stamp > CL_STAMP_MAX)
		return -1;
	switch (e->kind) {
	case CL_AFF:
		if (!key_valid(e->u.aff.key, strlen(e->u.aff.key)) ||
		    !pg_name_valid(e->u.aff.vm, CFG_NAME_MAX) ||
		    e->u.aff.expires > CL_STAMP_MAX)
			return -1;
		if (put(name, namelen, &n, "a:%s", e->u.aff.key) == -1 ||
		    put(value, valuelen, &v, "1 %llu %s %llu %s",
		    (unsigned long long)e->stamp, e->u.aff.vm,
		    (unsigned long long)e->u.aff.expires, e->node) == -1)
			return -1;
		return 0;
	case CL_OPER:
		if (!pg_name_valid(e->u.oper.vm, CFG_NAME_MAX))
			return -1;
		if (put(name, namelen, &n, "o:%s", e->u.oper.vm) == -1 ||
		    put(value, valuelen, &v, "1 %llu %s %s",
		    (unsigned long long)e->stamp, be_admin_name(e->u.oper.admin),
		    e->node) == -1)
			return -1;
		return 0;
	case CL_VM:
		if (!pg_name_valid(e->u.vm.vm, CFG_NAME_MAX) ||
		    put(name, namelen, &n, "v:%s", e->u.vm.vm) == -1)
			return -1;
		if (e->u.vm.removed)
			return put(value, valuelen, &v, "1 %llu del %s",
			    (unsigned long long)e->stamp, e->node);
		if (!addr_valid(e->u.vm.address, strlen(e->u.vm.address)) ||
		    e->u.vm.weight < 1 || e->u.vm.weight > 1000 ||
		    e->u.vm.max_sessions < 0 || e->u.vm.max_sessions > 100000)
			return -1;
		return put(value, valuelen, &v, "1 %llu add %s %d %d %s",
		    (unsigned long long)e->stamp, e->u.vm.address, e->u.vm.weight,
		    e->u.vm.max_sessions, e->node);
	case CL_EDGE:
		if (!pg_name_valid(e->u.edge.vm, CFG_NAME_MAX))
			return -1;
		if (put(name, namelen, &n, "h:%s", e->u.edge.vm) == -1 ||
		    put(value, valuelen, &v, "1 %llu %s %s",
		    (unsigned long long)e->stamp, e->u.edge.busy ? "busy" : "idle",
		    e->node) == -1)
			return -1;
		return 0;
	case CL_NODE:
		if (e->u.node.nvms > CL_NODE_VMS_MAX ||
		    put(name, namelen, &n, "n:%s", e->node) == -1 ||
		    put(value, valuelen, &v, "1 %llu %s %s",
		    (unsigned long long)e->stamp, e->u.node.draining ?
		    "draining" : "serving", e->u.node.runner ? "runner" :
		    "standby") == -1)
			return -1;
		for (size_t i = 0; i < e->u.node.nvms; i++) {
			const struct cl_vmcount *c = &e->u.node.vms[i];
			if (!pg_name_valid(c->vm, CFG_NAME_MAX) ||
			    c->sessions > 1000000 ||
			    put(value, valuelen, &v, " %s=%u", c->vm,
			    (unsigned)c->sessions) == -1)
				return -1;
		}
		return 0;
	}
	return -1;
}

/* ---- decoding --------------------------------------------------------------- */

/* The fields of a value, each pointing into it (not NUL-terminated). */
#define FIELDS_MAX (CL_NODE_VMS_MAX + 8)

struct field {
	const char *p;
	size_t      n;
};

struct fields {
	struct field f[FIELDS_MAX];
	size_t       n;
};

/* Split at single spaces; empty fields (two spaces, a leading or trailing one) fail. */
static int
split(const char *s, size_t len, struct fields *out)
{
	size_t start = 0;

	out->n = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ' ')
			continue;
		if (i == start || out->n == FIELDS_MAX)
			return -1;
		out->f[out->n].p = s + start;
		out->f[out->n++].n = i - start;
		start = i + 1;
	}
	return 0;
}

static bool
is(const struct field *f, const char *word)
{
	return f->n == strlen(word) && memcmp(f->p, word, f->n) == 0;
}

/* Decimal digits only, no sign, no leading zero (but "0"), at most max. */
static bool
number(const struct field *f, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (f->n == 0 || f->n > 16 || (f->n > 1 && f->p[0] == '0'))
		return false;
	for (size_t i = 0; i < f->n; i++) {
		if (f->p[i] < '0' || f->p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(f->p[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool
name(const struct field *f, char *out, size_t outlen)
{
	if (!pg_name_valid_n(f->p, f->n, CFG_NAME_MAX) || f->n >= outlen)
		return false;
	memcpy(out, f->p, f->n);
	out[f->n] = '\0';
	return true;
}

#define FAIL(...) do { snprintf(why, whylen, __VA_ARGS__); goto fail; } while (0)

int
cl_decode(const char *kname, size_t namelen, const char *value,
    size_t valuelen, struct cl_entry *e, char *why, size_t whylen)
{
	static struct fields fs;   /* large; the main thread only decodes */
	struct field kf;
	uint64_t num;

	/* Only the part a kind uses is cleared: a heartbeat's is large. */
	memset(e, 0, offsetof(struct cl_entry, u));
	if (valuelen > CL_VALUE_MAX)
		FAIL("value longer than %u bytes", CL_VALUE_MAX);
	if (namelen < 3 || kname[1] != ':')
		FAIL("unknown key");
	kf.p = kname + 2;
	kf.n = namelen - 2;
	if (memchr(value, '\0', valuelen) != NULL || split(value, valuelen, &fs) == -1)
		FAIL("malformed value");
	if (fs.n < 3 || !is(&fs.f[0], "1"))
		FAIL("unknown format version");
	if (!number(&fs.f[1], CL_STAMP_MAX, &e->stamp))
		FAIL("bad stamp");
	switch (kname[0]) {
	case 'a':
		e->kind = CL_AFF;
		memset(&e->u.aff, 0, sizeof(e->u.aff));
		if (!key_valid(kf.p, kf.n))
			FAIL("bad affinity key");
		memcpy(e->u.aff.key, kf.p, kf.n);
		e->u.aff.key[kf.n] = '\0';
		if (fs.n != 5)
			FAIL("affinity: expected 5 fields");
		if (!name(&fs.f[2], e->u.aff.vm, sizeof(e->u.aff.vm)))
			FAIL("affinity: bad VM name");
		if (!number(&fs.f[3], CL_STAMP_MAX, &e->u.aff.expires))
			FAIL("affinity: bad expiry");
		if (!name(&fs.f[4], e->node, sizeof(e->node)))
			FAIL("affinity: bad node name");
		return 0;
	case 'o':
		e->kind = CL_OPER;
		memset(&e->u.oper, 0, sizeof(e->u.oper));
		if (!name(&kf, e->u.oper.vm, sizeof(e->u.oper.vm)))
			FAIL("operator state: bad VM name");
		if (fs.n != 4)
			FAIL("operator state: expected 4 fields");
		if (is(&fs.f[2], "ready"))
			e->u.oper.admin = BE_ADMIN_READY;
		else if (is(&fs.f[2], "drain"))
			e->u.oper.admin = BE_ADMIN_DRAIN;
		else if (is(&fs.f[2], "maint"))
			e->u.oper.admin = BE_ADMIN_MAINT;
		else
			FAIL("operator state: unknown state");
		if (!name(&fs.f[3], e->node, sizeof(e->node)))
			FAIL("operator state: bad node name");
		return 0;
	case 'v':
		e->kind = CL_VM;
		memset(&e->u.vm, 0, sizeof(e->u.vm));
		if (!name(&kf, e->u.vm.vm, sizeof(e->u.vm.vm)))
			FAIL("VM: bad name");
		if (is(&fs.f[2], "del")) {
			if (fs.n != 4)
				FAIL("VM removal: expected 4 fields");
			e->u.vm.removed = true;
			if (!name(&fs.f[3], e->node, sizeof(e->node)))
				FAIL("VM removal: bad node name");
			return 0;
		}
		if (!is(&fs.f[2], "add") || fs.n != 7)
			FAIL("VM: expected add with 7 fields or del with 4");
		if (!addr_valid(fs.f[3].p, fs.f[3].n))
			FAIL("VM: bad address");
		memcpy(e->u.vm.address, fs.f[3].p, fs.f[3].n);
		e->u.vm.address[fs.f[3].n] = '\0';
		if (!number(&fs.f[4], 1000, &num) || num < 1)
			FAIL("VM: bad weight");
		e->u.vm.weight = (int)num;
		if (!number(&fs.f[5], 100000, &num))
			FAIL("VM: bad max_sessions");
		e->u.vm.max_sessions = (int)num;
		if (!name(&fs.f[6], e->node, sizeof(e->node)))
			FAIL("VM: bad node name");
		return 0;
	case 'h':
		e->kind = CL_EDGE;
		memset(&e->u.edge, 0, sizeof(e->u.edge));
		if (!name(&kf, e->u.edge.vm, sizeof(e->u.edge.vm)))
			FAIL("hook edge: bad VM name");
		if (fs.n != 4)
			FAIL("hook edge: expected 4 fields");
		if (is(&fs.f[2], "busy"))
			e->u.edge.busy = true;
		else if (!is(&fs.f[2], "idle"))
			FAIL("hook edge: expected busy or idle");
		if (!name(&fs.f[3], e->node, sizeof(e->node)))
			FAIL("hook edge: bad node name");
		return 0;
	case 'n':
		e->kind = CL_NODE;
		e->u.node.draining = false;
		e->u.node.runner = false;
		e->u.node.nvms = 0;
		if (!name(&kf, e->node, sizeof(e->node)))
			FAIL("node: bad name");
		if (is(&fs.f[2], "draining"))
			e->u.node.draining = true;
		else if (!is(&fs.f[2], "serving"))
			FAIL("node: unknown state");
		if (fs.n < 4)
			FAIL("node: expected a role");
		if (is(&fs.f[3], "runner"))
			e->u.node.runner = true;
		else if (!is(&fs.f[3], "standby"))
			FAIL("node: unknown role");
		if (fs.n - 4 > CL_NODE_VMS_MAX)
			FAIL("node: more than %d VMs", CL_NODE_VMS_MAX);
		for (size_t i = 4; i < fs.n; i++) {
			const struct field *f = &fs.f[i];
			const char *eq = memchr(f->p, '=', f->n);
			struct field vm, cnt;
			struct cl_vmcount *c = &e->u.node.vms[e->u.node.nvms];

			if (eq == NULL)
				FAIL("node: count without '='");
			vm.p = f->p;
			vm.n = (size_t)(eq - f->p);
			cnt.p = eq + 1;
			cnt.n = f->n - vm.n - 1;
			if (!name(&vm, c->vm, sizeof(c->vm)))
				FAIL("node: bad VM name");
			if (!number(&cnt, 1000000, &num))
				FAIL("node: bad session count");
			c->sessions = (uint32_t)num;   /* a VM named twice: cl_peers adds both */
			e->u.node.nvms++;
		}
		return 0;
	default:
		FAIL("unknown key");
	}
fail:
	return -1;
}
