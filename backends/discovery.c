/*
 * discovery.c -- finding VMs in a watched file and by DNS (see discovery.h).
 *
 * Each source (the file, the DNS name) keeps the set it wants, sorted by
 * name. What it has is read from the pool at each pass (its VMs that are
 * not being removed), and the two are merged: removals first, then
 * additions and changes. The pass runs whenever the wanted set changed and
 * on every refresh, which retries what the server refused and notices VMs
 * another source took over. Nothing is applied before a source's wanted set
 * is known: a file that was never read, or a name that never answered,
 * leaves the pool alone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "backends/discofile.h"
#include "backends/discovery.h"
#include "lib/log.h"
#include "backends/members.h"

#define DISC_ERR_MAX     200      /* one message from the server or a query */
#define DISC_WARN_MAX    768      /* what went wrong in one DNS round */
#define DISC_RACY_MS     2000     /* an mtime this recent may hide a rewrite */
#define DISC_DNS_TIMEOUT "2"      /* seconds a try, evdns option "timeout" */
#define DISC_DNS_TRIES   "2"      /* evdns option "attempts" */
#define DISC_DNS_ADDRS   64       /* evdns gives at most 32 a family */
#define DISC_REFRESH_MIN 100      /* ms; the configuration asks for 1s or more */

enum { FAM_A = 0, FAM_AAAA = 1 };

/* One VM as a source wants it, or as the pool has it. */
struct disc_member {
	char name[CFG_NAME_MAX + 1];
	char addr[DF_ADDR_MAX];         /* canonical text */
	int  family;                    /* AF_INET, AF_INET6 */
	unsigned char bin[16];          /* the address, to compare */
	int  weight;
	int  max_sessions;
	char err[DISC_ERR_MAX];         /* wanted sets: the last refusal, or "" */
};

struct disc_set {
	struct disc_member *m;          /* owned, sorted by name */
	size_t              n;
};

struct disc_src {
	enum be_source  src;
	char           *label;          /* "/etc/poolgate/backends", "DNS name"; owned */
	struct disc_set want;
	bool            known;          /* want holds what the source said */
};

/* A query in flight. Freed by its callback, which always runs once. */
struct disc_query {
	struct discovery    *d;         /* NULL once orphaned: touch nothing */
	struct evdns_request *req;
	int                  fam;
};

/* What one family's query gave in the current round. */
struct disc_answer {
	int             result;         /* DNS_ERR_* */
	size_t          n;
	struct disc_member m[DISC_DNS_ADDRS / 2];
	size_t          unusable;       /* 0.0.0.0 and the like, ignored */
};

struct discovery {
	struct event_base *base;
	struct members    *mbr;         /* the pool module: every change goes there */
	struct event      *ev_tick;
	uint64_t           refresh_ms;  /* 0: timer not running */
	int                weight;
	int                max_sessions;

	/* the file */
	char              *file;        /* owned; NULL when none */
	struct disc_src    fsrc;
	bool               f_settled;   /* f_st describes the version applied */
	struct stat        f_st;
	bool               f_hashed;    /* f_hash is that of the last version parsed */
	uint64_t           f_hash;
	char               f_err[DISC_ERR_MAX]; /* the read problem last logged */

	/* the DNS name */
	char              *dns;         /* owned; NULL when none */
	struct disc_src    dsrc;
	struct evdns_base *evdns;
	bool               evdns_failed; /* setting it up failed (logged once) */
	struct disc_query *q[2];
	struct disc_answer ans[2];
	char               d_warn[DISC_WARN_MAX]; /* the DNS warning last logged */
};

/* ---- sets ---------------------------------------------------------------- */

static int
member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct disc_member *)a)->name,
	    ((const struct disc_member *)b)->name);
}

static void
set_sort(struct disc_set *s)
{
	if (s->n > 1)
		qsort(s->m, s->n, sizeof(*s->m), member_cmp);
}

static void
set_free(struct disc_set *s)
{
	free(s->m);
	s->m = NULL;
	s->n = 0;
}

static struct disc_member *
set_find(const struct disc_set *s, const char *name)
{
	struct disc_member key;

	if (s->n == 0)
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, s->m, s->n, sizeof(*s->m), member_cmp);
}

/* Fill m's address from its text; false when it is not an address. */
static bool
member_set_addr(struct disc_member *m, const char *text)
{
	struct cfg_addr a;

	memset(&a, 0, sizeof(a));
	if (cfg_parse_addr(text, false, &a) != 0)
		return false;
	m->family = a.ss.ss_family;
	memset(m->bin, 0, sizeof(m->bin));
	if (m->family == AF_INET)
		memcpy(m->bin, &((struct sockaddr_in *)&a.ss)->sin_addr, 4);
	else
		memcpy(m->bin, &((struct sockaddr_in6 *)&a.ss)->sin6_addr, 16);
	if (inet_ntop(m->family, m->bin, m->addr, sizeof(m->addr)) == NULL)
		return false;
	return true;
}

static bool
member_same(const struct disc_member *a, const struct disc_member *b)
{
	return a->family == b->family && memcmp(a->bin, b->bin, 16) == 0 &&
	    a->weight == b->weight && a->max_sessions == b->max_sessions;
}

/*
 * Replace s->want by w (taken over), keeping the refusal last logged for
 * each name still wanted so it is not logged again.
 */
static void
want_replace(struct disc_src *s, struct disc_set *w)
{
	for (size_t i = 0; i < w->n; i++) {
		const struct disc_member *old = set_find(&s->want, w->m[i].name);

		if (old != NULL)
			memcpy(w->m[i].err, old->err, sizeof(old->err));
	}
	set_free(&s->want);
	s->want = *w;
	w->m = NULL;    /* transferred */
	w->n = 0;
	s->known = true;
}

/* The VMs of source src in the pool, not being removed, sorted. */
static int
pool_set(const struct discovery *d, enum be_source src, struct disc_set *out)
{
	const struct pool *p = &d->mbr->pool;

	out->n = 0;
	out->m = calloc(p->n > 0 ? p->n : 1, sizeof(*out->m));
	if (out->m == NULL)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct backend *b = p->be[i];
		struct disc_member *m = &out->m[out->n];

		if (b->removed || b->source != src)
			continue;
		snprintf(m->name, sizeof(m->name), "%s", b->name);
		m->family = b->addr.ss.ss_family;
		if (m->family == AF_INET)
			memcpy(m->bin, &((const struct sockaddr_in *)&b->addr.ss)->sin_addr, 4);
		else if (m->family == AF_INET6)
			memcpy(m->bin, &((const struct sockaddr_in6 *)&b->addr.ss)->sin6_addr, 16);
		if (inet_ntop(m->family, m->bin, m->addr, sizeof(m->addr)) == NULL)
			snprintf(m->addr, sizeof(m->addr), "%s",
			    b->addr.text != NULL ? b->addr.text : "?");
		m->weight = b->weight;
		m->max_sessions = b->max_sessions;
		out->n++;
	}
	set_sort(out);
	return 0;
}

/* ---- applying a wanted set ----------------------------------------------- */

struct disc_counts {
	size_t added, updated, removed, refused;
};

static void
disc_remove(struct discovery *d, struct disc_src *s, const struct disc_member *m,
    const char *why, struct disc_counts *c)
{
	char err[DISC_ERR_MAX];

	if (mbr_remove(d->mbr, s->src, m->name, err, sizeof(err)) != 0) {
		log_warn("discovery: %s (%s) not removed: %s", m->name, m->addr, err);
		return;
	}
	log_info("discovery: %s (%s) removed: %s", m->name, m->addr, why);
	c->removed++;
}

/*
 * The VM other than `name`, not being removed, that has m's address; or
 * NULL. Two names for one machine would count its sessions twice.
 */
static const struct backend *
addr_taken(const struct discovery *d, const struct disc_member *m)
{
	const struct pool *p = &d->mbr->pool;

	for (size_t i = 0; i < p->n; i++) {
		const struct backend *b = p->be[i];
		const struct sockaddr_storage *ss = &b->addr.ss;

		if (b->removed || strcmp(b->name, m->name) == 0 ||
		    ss->ss_family != m->family)
			continue;
		if (m->family == AF_INET ? memcmp(&((const struct sockaddr_in *)ss)->sin_addr,
		    m->bin, 4) == 0 : memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr,
		    m->bin, 16) == 0)
			return b;
	}
	return NULL;
}

static void
disc_upsert(struct discovery *d, struct disc_src *s, struct disc_member *w,
    const struct disc_member *had, struct disc_counts *c)
{
	const struct backend *other;
	char err[DISC_ERR_MAX], what[256];
	int rc;

	if ((other = addr_taken(d, w)) != NULL) {
		snprintf(err, sizeof(err), "%s is already the address of %s (%s)",
		    w->addr, other->name, be_source_name(other->source));
		rc = -1;
	} else {
		rc = mbr_upsert(d->mbr, s->src, w->name, w->addr,
		    w->weight, w->max_sessions, err, sizeof(err));
	}
	if (rc == -1) {
		/* Tried again every refresh: say it once, until it changes. */
		if (strcmp(err, w->err) != 0)
			log_warn("discovery: %s (%s) from %s not applied: %s",
			    w->name, w->addr, s->label, err);
		else
			log_debug("discovery: %s (%s) still not applied: %s",
			    w->name, w->addr, err);
		snprintf(w->err, sizeof(w->err), "%s", err);
		c->refused++;
		return;
	}
	w->err[0] = '\0';
	if (had == NULL) {
		log_info("discovery: %s (%s) added from %s", w->name, w->addr,
		    s->label);
		c->added++;
		return;
	}
	what[0] = '\0';
	if (had->family != w->family || memcmp(had->bin, w->bin, 16) != 0)
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
		    ", address %s -> %s", had->addr, w->addr);
	if (had->weight != w->weight)
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
		    ", weight %d -> %d", had->weight, w->weight);
	if (had->max_sessions != w->max_sessions)
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
		    ", max_sessions %d -> %d", had->max_sessions, w->max_sessions);
	log_info("discovery: %s (%s) updated from %s%s%s", w->name, w->addr,
	    s->label, what[0] != '\0' ? ":" : "", what + (what[0] != '\0'));
	c->updated++;
}

/*
 * Bring the pool's VMs of source s to s->want. why: the reason given for a
 * removal, NULL for "no longer in <label>". Returns what was done.
 */
static struct disc_counts
disc_reconcile(struct discovery *d, struct disc_src *s, const char *why)
{
	struct disc_counts c = { 0, 0, 0, 0 };
	struct disc_set have;
	char gone[512];
	size_t i, j;

	if (!s->known)
		return c;
	if (why == NULL) {
		snprintf(gone, sizeof(gone), "no longer in %s", s->label);
		why = gone;
	}
	if (pool_set(d, s->src, &have) == -1) {
		log_err("discovery: out of memory applying %s", s->label);
		return c;
	}
	/* Removals first: an address may move to a new name in this pass. */
	for (i = 0; i < have.n; i++)
		if (set_find(&s->want, have.m[i].name) == NULL)
			disc_remove(d, s, &have.m[i], why, &c);
	for (j = 0; j < s->want.n; j++) {
		struct disc_member *w = &s->want.m[j];
		const struct disc_member *h = set_find(&have, w->name);

		if (h == NULL || !member_same(h, w))
			disc_upsert(d, s, w, h, &c);
	}
	set_free(&have);
	return c;
}

/* Forget what a source wants and remove all it has (it is switched off). */
static void
disc_src_drop(struct discovery *d, struct disc_src *s, const char *why)
{
	set_free(&s->want);
	s->known = true;        /* an empty set, on purpose */
	(void)disc_reconcile(d, s, why);
	s->known = false;
}

/* ---- the file ------------------------------------------------------------ */

static uint64_t
fnv64(const char *p, size_t len, uint64_t h)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static bool
stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A read problem: logged once until it changes or goes away. */
static void
file_problem(struct discovery *d, const char *what)
{
	if (strcmp(d->f_err, what) == 0)
		return;
	snprintf(d->f_err, sizeof(d->f_err), "%s", what);
	if (d->fsrc.known)
		log_warn("discovery: %s; keeping the VMs from it as they are",
		    what);
	else
		log_warn("discovery: %s; no VM from it until it can be read",
		    what);
}

/*
 * Read the file at path: a regular file of at most DF_FILE_MAX + 1 bytes
 * (the parser reports one byte more as too large). Returns 0 with a buffer
 * the caller frees, 1 when the file changed while it was read (try later),
 * -1 with err filled.
 */
static int
file_read(const char *path, struct stat *st, char **buf, size_t *len,
    char *err, size_t errlen)
{
	struct stat st2;
	size_t cap, n = 0;
	char *b = NULL, *nb;
	int fd, rc = -1;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO put there by mistake must not hang us. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, st) == -1) {
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		goto out;
	}
	cap = (size_t)st->st_size < DF_FILE_MAX ? (size_t)st->st_size + 1 :
	    DF_FILE_MAX + 1;
	if ((b = malloc(cap)) == NULL) {
		snprintf(err, errlen, "out of memory reading %s", path);
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (n == cap) {
			if (cap > DF_FILE_MAX)
				break;          /* enough to say it is too large */
			cap = cap * 2 > DF_FILE_MAX + 1 ? DF_FILE_MAX + 1 : cap * 2;
			if ((nb = realloc(b, cap)) == NULL) {
				snprintf(err, errlen, "out of memory reading %s", path);
				goto out;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "cannot read %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (fstat(fd, &st2) == -1 || !stat_same(st, &st2) ||
	    (n <= DF_FILE_MAX && (off_t)n != st->st_size)) {
		rc = 1;         /* being written: what we have may be half of it */
		goto out;
	}
	*buf = b;
	*len = n;
	b = NULL;               /* transferred */
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(b);
	return rc;
}

/* Turn a parsed file into a wanted set. */
static int
file_want(const struct discovery *d, const struct df_list *l,
    struct disc_set *w)
{
	w->n = 0;
	w->m = calloc(l->n > 0 ? l->n : 1, sizeof(*w->m));
	if (w->m == NULL)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		struct disc_member *m = &w->m[w->n];

		snprintf(m->name, sizeof(m->name), "%s", l->e[i].name);
		if (!member_set_addr(m, l->e[i].address))
			pg_fatalx("discovery: parser gave a bad address %s",
			    l->e[i].address);
		m->weight = l->e[i].weight;
		m->max_sessions = d->max_sessions;
		w->n++;
	}
	set_sort(w);
	return 0;
}

static uint64_t
wall_ms(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000 + (uint64_t)ts->tv_nsec / 1000000;
}

/*
 * Look at the file; read, parse and apply it when it changed. force: read
 * it even when stat says it did not change (new file, new weight).
 */
static void
file_poll(struct discovery *d, bool force)
{
	struct stat st;
	struct timespec now;
	struct cfg_errors errs = { NULL, 0 };
	struct df_list l = { NULL, 0 };
	struct disc_set w = { NULL, 0 };
	struct disc_counts c;
	char err[DISC_ERR_MAX], *buf = NULL;
	size_t len;
	uint64_t h;
	int rc;

	if (stat(d->file, &st) == -1) {
		snprintf(err, sizeof(err), "cannot read %s: %s", d->file,
		    strerror(errno));
		file_problem(d, err);
		d->f_settled = false;
		return;
	}
	if (!force && d->f_settled && stat_same(&st, &d->f_st))
		return;
	rc = file_read(d->file, &st, &buf, &len, err, sizeof(err));
	if (rc == -1) {
		file_problem(d, err);
		d->f_settled = false;
		return;
	}
	if (d->f_err[0] != '\0') {
		log_info("discovery: %s can be read again", d->file);
		d->f_err[0] = '\0';
	}
	if (rc == 1) {
		log_debug("discovery: %s changed while read; next time",
		    d->file);
		d->f_settled = false;
		return;
	}
	/*
	 * A file rewritten within the mtime's granularity after this read
	 * would look unchanged: until its mtime is safely past, look again
	 * next time (the hash then saves the parse).
	 */
	clock_gettime(CLOCK_REALTIME, &now);
	d->f_st = st;
	d->f_settled = wall_ms(&now) >= wall_ms(&st.st_mtim) + DISC_RACY_MS;

	h = fnv64(buf, len, UINT64_C(14695981039346656037));
	if (d->f_hashed && h == d->f_hash) {
		free(buf);
		return;         /* same bytes: applied, or refused and said so */
	}
	d->f_hash = h;
	d->f_hashed = true;

	if (df_parse(buf, len, d->file, d->weight, &l, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("discovery: %s", errs.msg[i]);
		log_err("discovery: %s refused (%zu error%s above); the VMs from "
		    "its last good version stay as they are", d->file, errs.n,
		    errs.n == 1 ? "" : "s");
		goto out;
	}
	if (file_want(d, &l, &w) == -1) {
		log_err("discovery: out of memory reading %s", d->file);
		d->f_hashed = false;
		goto out;
	}
	want_replace(&d->fsrc, &w);
	c = disc_reconcile(d, &d->fsrc, NULL);
	log_info("discovery: %s read: %zu VM%s (%zu added, %zu updated, "
	    "%zu removed, %zu refused)", d->file, l.n, l.n == 1 ? "" : "s",
	    c.added, c.updated, c.removed, c.refused);
out:
	set_free(&w);
	df_list_free(&l);
	cfg_errors_free(&errs);
	free(buf);
}

/* ---- DNS ----------------------------------------------------------------- */

static void dns_done(struct discovery *d);

/* 10.0.0.4 -> dns-10-0-0-4, fd00::4 -> dns-fd00--4 (see discovery.h). */
static void
dns_vm_name(const struct disc_member *m, char *name, size_t len)
{
	char *p;

	snprintf(name, len, "dns-%s", m->addr);
	for (p = name + 4; *p != '\0'; p++)
		if (*p == ':' || (m->family == AF_INET && *p == '.'))
			*p = '-';
}

static void
dns_cb(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	struct disc_query *q = arg;
	struct discovery *d = q->d;
	int fam = q->fam;
	struct disc_answer *a;

	free(q);
	if (d == NULL)
		return;         /* orphaned: discovery freed or the name changed */
	d->q[fam] = NULL;
	a = &d->ans[fam];
	memset(a, 0, sizeof(*a));
	a->result = result;
	if (result == DNS_ERR_NONE && count > 0 && addresses != NULL &&
	    type == (fam == FAM_A ? DNS_IPv4_A : DNS_IPv6_AAAA)) {
		for (int i = 0; i < count && a->n < DISC_DNS_ADDRS / 2; i++) {
			struct disc_member *m = &a->m[a->n];
			struct sockaddr_storage ss;

			memset(m, 0, sizeof(*m));
			memset(&ss, 0, sizeof(ss));
			if (fam == FAM_A) {
				m->family = AF_INET;
				memcpy(m->bin, (const char *)addresses + 4 * i, 4);
				ss.ss_family = AF_INET;
				memcpy(&((struct sockaddr_in *)&ss)->sin_addr, m->bin, 4);
			} else {
				m->family = AF_INET6;
				memcpy(m->bin, (const char *)addresses + 16 * i, 16);
				ss.ss_family = AF_INET6;
				memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, m->bin, 16);
			}
			if (!df_addr_usable(&ss) ||
			    inet_ntop(m->family, m->bin, m->addr, sizeof(m->addr)) == NULL) {
				a->unusable++;
				continue;
			}
			a->n++;
		}
	} else if (result == DNS_ERR_NONE) {
		a->result = DNS_ERR_NODATA;
	}
	if (d->q[FAM_A] == NULL && d->q[FAM_AAAA] == NULL)
		dns_done(d);
}

static bool
dns_ok(int result)
{
	return result == DNS_ERR_NONE || result == DNS_ERR_NODATA ||
	    result == DNS_ERR_NOTEXIST;
}

static const char *
dns_err_text(int result)
{
	if (result == DNS_ERR_TRUNCATED)
		return "answer truncated (too many records for UDP; use the file)";
	if (result == DNS_ERR_TIMEOUT)  /* evdns also turns SERVFAIL into this */
		return "no answer (timeout or SERVFAIL)";
	return evdns_err_to_string(result);
}

/* Append a formatted note to the round's warning, "; " between notes. */
static void __attribute__((format(printf, 3, 4)))
note_add(char *msg, size_t len, const char *fmt, ...)
{
	size_t n = strlen(msg);
	va_list ap;

	if (n > 0 && n + 2 < len) {
		memcpy(msg + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(msg + n, len - n, fmt, ap);
	va_end(ap);
}

/*
 * Both answers are in: build the wanted set and apply it, or keep what is
 * there. Whatever went wrong in the round makes one warning, logged once
 * while it stays the same.
 */
static void
dns_done(struct discovery *d)
{
	static const char *const fam_name[2] = { "A", "AAAA" };
	struct disc_set w = { NULL, 0 }, have = { NULL, 0 };
	struct disc_counts c;
	char msg[DISC_WARN_MAX];
	size_t i;
	bool keep_all, failed = false;
	int fam;

	msg[0] = '\0';
	if (pool_set(d, BE_SRC_DNS, &have) == -1 ||
	    (w.m = calloc(DISC_DNS_ADDRS + have.n, sizeof(*w.m))) == NULL) {
		log_err("discovery: out of memory applying DNS %s", d->dns);
		goto out;
	}
	for (fam = 0; fam < 2; fam++) {
		const struct disc_answer *a = &d->ans[fam];
		int af = fam == FAM_A ? AF_INET : AF_INET6;
		size_t kept = 0;

		if (a->unusable > 0)
			note_add(msg, sizeof(msg), "%zu %s record%s ignored (not a "
			    "VM's address: 0.0.0.0, ::, multicast or broadcast)",
			    a->unusable, fam_name[fam], a->unusable == 1 ? "" : "s");
		if (dns_ok(a->result)) {
			for (i = 0; i < a->n; i++) {
				struct disc_member *m = &w.m[w.n++];

				*m = a->m[i];
				dns_vm_name(m, m->name, sizeof(m->name));
				m->weight = d->weight;
				m->max_sessions = d->max_sessions;
			}
			continue;
		}
		/* This family failed: what it had stays as it is. */
		failed = true;
		for (i = 0; i < have.n; i++) {
			if (have.m[i].family != af)
				continue;
			w.m[w.n] = have.m[i];
			w.m[w.n].weight = d->weight;
			w.m[w.n].max_sessions = d->max_sessions;
			w.n++;
			kept++;
		}
		note_add(msg, sizeof(msg), "%s query failed: %s (%zu VM%s kept)",
		    fam_name[fam], dns_err_text(a->result), kept,
		    kept == 1 ? "" : "s");
	}
	set_sort(&w);
	/* Several records with one address: one VM. */
	for (i = 1; i < w.n; ) {
		if (strcmp(w.m[i].name, w.m[i - 1].name) == 0) {
			memmove(&w.m[i], &w.m[i + 1], (w.n - i - 1) * sizeof(*w.m));
			w.n--;
		} else {
			i++;
		}
	}
	/* An answer that would empty the pool is not believed. */
	keep_all = w.n == 0 && have.n > 0;
	if (keep_all)
		note_add(msg, sizeof(msg), "%s; keeping the %zu VM%s found before "
		    "(remove discovery.dns to empty the pool)",
		    d->ans[FAM_A].result == DNS_ERR_NOTEXIST ||
		    d->ans[FAM_AAAA].result == DNS_ERR_NOTEXIST ?
		    "no such name (NXDOMAIN)" : failed ? "no address answered" :
		    "no A or AAAA record", have.n, have.n == 1 ? "" : "s");

	if (msg[0] != '\0') {
		if (strcmp(d->d_warn, msg) != 0)
			log_warn("discovery: DNS %s: %s", d->dns, msg);
		else
			log_debug("discovery: DNS %s: %s", d->dns, msg);
		snprintf(d->d_warn, sizeof(d->d_warn), "%s", msg);
	} else if (d->d_warn[0] != '\0') {
		log_info("discovery: DNS %s answers again", d->dns);
		d->d_warn[0] = '\0';
	}
	if (keep_all)
		goto out;
	want_replace(&d->dsrc, &w);
	c = disc_reconcile(d, &d->dsrc, NULL);
	if (c.added + c.updated + c.removed > 0)
		log_info("discovery: DNS %s: %zu VM%s (%zu added, %zu updated, "
		    "%zu removed, %zu refused)", d->dns, d->dsrc.want.n,
		    d->dsrc.want.n == 1 ? "" : "s", c.added, c.updated, c.removed,
		    c.refused);
out:
	set_free(&w);
	set_free(&have);
}

/* Set up the resolver when there is none yet. */
static int
dns_init(struct discovery *d)
{
	const char *ns = getenv(DISC_DNS_SERVER_ENV);
	struct event_base *base = d->base;

	if (d->evdns != NULL)
		return 0;
	/*
	 * DISABLE_WHEN_INACTIVE: no query in flight, no event held, so the
	 * resolver never keeps the loop alive on its own.
	 */
	if (ns != NULL && ns[0] != '\0') {
		d->evdns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		if (d->evdns != NULL &&
		    evdns_base_nameserver_ip_add(d->evdns, ns) != 0) {
			evdns_base_free(d->evdns, 0);
			d->evdns = NULL;
			if (!d->evdns_failed)
				log_err("discovery: %s=\"%s\" is not a nameserver "
				    "address (expected IP or IP:PORT)",
				    DISC_DNS_SERVER_ENV, ns);
			d->evdns_failed = true;
			return -1;
		}
	} else {
		d->evdns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	if (d->evdns == NULL) {
		if (!d->evdns_failed)
			log_err("discovery: cannot set up the DNS resolver (from "
			    "/etc/resolv.conf); trying again every refresh");
		d->evdns_failed = true;
		return -1;
	}
	if (evdns_base_set_option(d->evdns, "timeout", DISC_DNS_TIMEOUT) != 0 ||
	    evdns_base_set_option(d->evdns, "attempts", DISC_DNS_TRIES) != 0)
		log_warn("discovery: cannot set the DNS timeout; using libevent's");
	if (d->evdns_failed)
		log_info("discovery: DNS resolver set up");
	d->evdns_failed = false;
	if (ns != NULL && ns[0] != '\0')
		log_info("discovery: DNS queries go to %s only (%s)", ns,
		    DISC_DNS_SERVER_ENV);
	return 0;
}

/*
 * Forget the queries in flight: their callbacks will find d gone. A
 * request not answered yet is cancelled (its callback still runs, with
 * DNS_ERR_CANCEL); one whose answer waits in the loop is left to run.
 */
static void
dns_orphan(struct discovery *d)
{
	for (int fam = 0; fam < 2; fam++) {
		struct disc_query *q = d->q[fam];

		if (q == NULL)
			continue;
		q->d = NULL;
		d->q[fam] = NULL;
		if (d->evdns != NULL && q->req != NULL)
			evdns_cancel_request(d->evdns, q->req);
	}
}

static void
dns_round(struct discovery *d)
{
	int fam, sent = 0;

	if (d->q[FAM_A] != NULL || d->q[FAM_AAAA] != NULL) {
		log_debug("discovery: DNS %s: previous query still running",
		    d->dns);
		return;
	}
	if (dns_init(d) == -1)
		return;
	for (fam = 0; fam < 2; fam++) {
		struct disc_query *q = calloc(1, sizeof(*q));

		memset(&d->ans[fam], 0, sizeof(d->ans[fam]));
		d->ans[fam].result = DNS_ERR_UNKNOWN;
		if (q == NULL)
			continue;
		q->d = d;
		q->fam = fam;
		/* The callback is deferred: it never runs inside this call. */
		q->req = fam == FAM_A ?
		    evdns_base_resolve_ipv4(d->evdns, d->dns, DNS_QUERY_NO_SEARCH,
		    dns_cb, q) :
		    evdns_base_resolve_ipv6(d->evdns, d->dns, DNS_QUERY_NO_SEARCH,
		    dns_cb, q);
		if (q->req == NULL) {
			free(q);
			continue;
		}
		d->q[fam] = q;
		sent++;
	}
	if (sent == 0)
		log_warn("discovery: DNS %s: cannot send a query; trying again "
		    "next refresh", d->dns);
}

static void
dns_stop(struct discovery *d)
{
	dns_orphan(d);
	if (d->evdns != NULL)
		evdns_base_free(d->evdns, 0);
	d->evdns = NULL;
	d->evdns_failed = false;
}

/* ---- the timer and the configuration ------------------------------------- */

static void
disc_tick(evutil_socket_t fd, short what, void *arg)
{
	struct discovery *d = arg;

	(void)fd;
	(void)what;
	if (d->file != NULL) {
		file_poll(d, false);
		/* Retries what was refused; sees VMs taken over or lost. */
		(void)disc_reconcile(d, &d->fsrc, NULL);
	}
	if (d->dns != NULL) {
		(void)disc_reconcile(d, &d->dsrc, NULL);
		dns_round(d);
	}
}

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Apply the group's weight and max_sessions to the DNS VMs wanted. */
static void
dns_defaults(struct discovery *d)
{
	for (size_t i = 0; i < d->dsrc.want.n; i++) {
		d->dsrc.want.m[i].weight = d->weight;
		d->dsrc.want.m[i].max_sessions = d->max_sessions;
	}
}

int
disc_reconfigure(struct discovery *d, const struct cfg_discovery *cfg)
{
	const char *file = cfg->enabled ? cfg->file : NULL;
	const char *dns = cfg->enabled ? cfg->dns : NULL;
	bool file_changed = !str_eq(d->file, file);
	bool dns_changed = !str_eq(d->dns, dns);
	bool defaults = d->weight != cfg->weight ||
	    d->max_sessions != cfg->max_sessions;
	char *nfile = NULL, *ndns = NULL, *nflabel = NULL, *ndlabel = NULL;

	/* Everything that can fail first, so a failure changes nothing. */
	if (file_changed && file != NULL) {
		nfile = strdup(file);
		nflabel = strdup(file);
	}
	if (dns_changed && dns != NULL) {
		ndns = strdup(dns);
		if ((ndlabel = malloc(strlen(dns) + 5)) != NULL)
			sprintf(ndlabel, "DNS %s", dns);
	}
	if ((file_changed && file != NULL && (nfile == NULL || nflabel == NULL)) ||
	    (dns_changed && dns != NULL && (ndns == NULL || ndlabel == NULL))) {
		free(nfile);
		free(nflabel);
		free(ndns);
		free(ndlabel);
		log_err("discovery: out of memory; the previous settings stay");
		return -1;
	}
	d->weight = cfg->weight;
	d->max_sessions = cfg->max_sessions;

	if (file_changed) {
		if (d->file != NULL && file == NULL)
			disc_src_drop(d, &d->fsrc,
			    "discovery.file is no longer set");
		/*
		 * A new path keeps what the old one brought until it can be
		 * read: then its set replaces the old one.
		 */
		free(d->file);
		free(d->fsrc.label);
		d->file = nfile;
		d->fsrc.label = nflabel;
		d->f_settled = d->f_hashed = false;
		d->f_err[0] = '\0';
		if (d->file != NULL)
			log_info("discovery: watching %s", d->file);
	}
	if (d->file != NULL && (file_changed || defaults)) {
		d->f_hashed = false;    /* the default weight may have changed */
		file_poll(d, true);
	}

	/*
	 * The resolver is made anew each time, so that a reload also reads
	 * /etc/resolv.conf (or POOLGATE_DNS_SERVER) again; an answer to a
	 * query of the old one must not apply.
	 */
	dns_stop(d);
	if (dns_changed) {
		if (d->dns != NULL && dns == NULL)
			disc_src_drop(d, &d->dsrc,
			    "discovery.dns is no longer set");
		free(d->dns);
		free(d->dsrc.label);
		d->dns = ndns;
		d->dsrc.label = ndlabel;
		d->d_warn[0] = '\0';
		if (d->dns != NULL)
			log_info("discovery: resolving %s", d->dns);
	} else if (d->dns != NULL && defaults) {
		dns_defaults(d);
		(void)disc_reconcile(d, &d->dsrc, NULL);
	}
	if (d->dns != NULL)
		dns_round(d);

	if (d->file == NULL && d->dns == NULL) {
		event_del(d->ev_tick);
		d->refresh_ms = 0;
	} else if (d->refresh_ms != cfg->refresh_ms) {
		uint64_t ms = cfg->refresh_ms < DISC_REFRESH_MIN ?
		    DISC_REFRESH_MIN : cfg->refresh_ms;
		struct timeval tv = {
			.tv_sec = (time_t)(ms / 1000),
			.tv_usec = (suseconds_t)(ms % 1000) * 1000,
		};

		event_del(d->ev_tick);
		evtimer_add(d->ev_tick, &tv);
		d->refresh_ms = cfg->refresh_ms;
	}
	return 0;
}

struct discovery *
disc_start(struct event_base *base, struct members *mbr,
    const struct cfg_discovery *cfg)
{
	struct discovery *d = calloc(1, sizeof(*d));

	if (d == NULL)
		goto fail;
	d->base = base;
	d->mbr = mbr;
	d->fsrc.src = BE_SRC_DISCOVERY_FILE;
	d->dsrc.src = BE_SRC_DNS;
	d->weight = cfg->weight;
	d->max_sessions = cfg->max_sessions;
	d->ev_tick = event_new(base, -1, EV_PERSIST, disc_tick, d);
	if (d->ev_tick == NULL || disc_reconfigure(d, cfg) == -1)
		goto fail;
	return d;
fail:
	log_err("discovery: out of memory; not started");
	disc_free(d);
	return NULL;
}

void
disc_free(struct discovery *d)
{
	if (d == NULL)
		return;
	if (d->ev_tick != NULL)
		event_free(d->ev_tick);
	dns_stop(d);
	set_free(&d->fsrc.want);
	set_free(&d->dsrc.want);
	free(d->fsrc.label);
	free(d->dsrc.label);
	free(d->file);
	free(d->dns);
	free(d);
}
