/*
 * test_discovery.c -- discovery (backends/discovery.c) against the real
 * pool module (struct members with the fake sink) and a real event_base:
 * nothing of the daemon is stubbed.
 *
 * The file: a temporary file, replaced atomically (write, then rename) as
 * the header asks; disc_start() reads it at once, and refreshes (100 ms,
 * the module's floor) are driven with event_base_loop(EVLOOP_ONCE).
 *
 * DNS: a fake server on 127.0.0.1 runs on the same event_base (one UDP
 * socket, one event), and POOLGATE_DNS_SERVER points the resolver at it,
 * the seam discovery.h documents for tests. It echoes the question byte
 * for byte (evdns randomises the name's case) and answers what the test
 * set: A and AAAA records, an rcode, or the TC bit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "backends/discovery.h"
#include "backends/members.h"
#include "lib/log.h"
#include "fake_sink.h"

#define REFRESH_MS 100          /* the shortest refresh discovery takes */
#define WAIT_MS    5000         /* the longest a test waits for a change */

static struct fake_sink   fs;
static struct members     m;
static struct event_base *base;
static struct discovery  *disc;
static struct cfg_discovery cfg;
static char dir[64], path[128];

/* ---- The log --------------------------------------------------------------- */

static FILE *log_file;
static int   saved_stderr = -1;

/* Send the log (INFO and up) to a file until log_stop(). */
static void
log_start(void)
{
	pg_log_set_level(PG_LOG_INFO);
	assert_non_null(log_file = tmpfile());
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(dup2(fileno(log_file), 2) >= 0);
}

/* What was logged since log_start() (static; valid until the next call). */
static const char *
log_text(void)
{
	static char buf[65536];
	ssize_t n;

	fflush(stderr);
	n = pread(fileno(log_file), buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
log_stop(void)
{
	if (log_file == NULL)
		return;
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	fclose(log_file);
	log_file = NULL;
	pg_log_set_level(PG_LOG_ERR);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* ---- Running the loop ------------------------------------------------------- */

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/*
 * Run the loop until cond(arg) holds or ms pass; cond NULL: for ms.
 * Returns whether cond held. Asserts nothing, so it may run while the
 * log goes to a file.
 */
static bool
run_until(bool (*cond)(const void *), const void *arg, int ms)
{
	bool expired = false;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *t = evtimer_new(base, deadline_cb, &expired);

	if (t == NULL)
		return false;
	evtimer_add(t, &tv);
	while (!expired && (cond == NULL || !cond(arg)))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
	return cond != NULL && cond(arg);
}

static bool
has_vm(const void *name)
{
	const struct backend *b = pool_find(&m.pool, name);

	return b != NULL && !b->removed;
}

static bool
lacks_vm(const void *name)
{
	return !has_vm(name);
}

static bool
logged(const void *needle)
{
	return strstr(log_text(), needle) != NULL;
}

/* ---- The file and the pool ---------------------------------------------------- */

/* Replace the discovery file with text, atomically. */
static void
write_file(const char *text)
{
	char tmp[160];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_true((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(rename(tmp, path), 0);
}

static struct backend *
vm(const char *name)
{
	struct backend *b = pool_find(&m.pool, name);

	if (b == NULL)
		fail_msg("no VM %s in the pool", name);
	return b;
}

static void
assert_vm(const char *name, enum be_source src, const char *addr, int weight,
    int max_sessions)
{
	struct backend *b = vm(name);

	assert_false(b->removed);
	assert_int_equal(b->source, src);
	assert_string_equal(b->addr.text, addr);
	assert_int_equal(b->weight, weight);
	assert_int_equal(b->max_sessions, max_sessions);
}

static void
api_vm(const char *name, const char *addr)
{
	char err[200];

	assert_int_equal(mbr_upsert(&m, BE_SRC_API, name, addr, 1, 0, err,
	    sizeof(err)), 1);
}

/* A live session on name, so that a removal leaves it draining in the pool. */
static void
hold(const char *name)
{
	assert_int_equal(mbr_session_start(&m, vm(name), NULL, 1000), 0);
}

static size_t
vms_of(enum be_source src)
{
	size_t n = 0;

	for (size_t i = 0; i < m.pool.n; i++)
		if (m.pool.be[i]->source == src && !m.pool.be[i]->removed)
			n++;
	return n;
}

/* ---- A DNS server on the loop ---------------------------------------------------- */

static struct {
	evutil_socket_t fd;
	struct event   *ev;
	char            server[32];     /* "127.0.0.1:PORT" */
	/* what it answers */
	const char     *a[8], *aaaa[8];
	int             rcode;          /* 0 NOERROR, 3 NXDOMAIN */
	bool            tc_aaaa;        /* AAAA answers: TC bit, no record */
	/* what it saw */
	size_t          queries;
	char            qname[256];     /* the last name asked, lower case */
} dns;

static void
dns_set(const char *a0, const char *a1, const char *aaaa0)
{
	memset(dns.a, 0, sizeof(dns.a));
	memset(dns.aaaa, 0, sizeof(dns.aaaa));
	dns.a[0] = a0;
	dns.a[1] = a0 != NULL ? a1 : NULL;
	dns.aaaa[0] = aaaa0;
	dns.rcode = 0;
	dns.tc_aaaa = false;
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
dns_read(evutil_socket_t fd, short what, void *arg)
{
	unsigned char q[512], r[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	size_t i = 12, o, qend, an = 0;
	unsigned qtype, flags;
	const char *const *list;

	(void)what;
	(void)arg;
	if ((n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl)) < 12)
		return;
	/* the name: labels up to the root */
	dns.qname[0] = '\0';
	while (i < (size_t)n && q[i] != 0) {
		size_t l = q[i];

		if (i + 1 + l > (size_t)n || strlen(dns.qname) + l + 2 >= sizeof(dns.qname))
			return;
		if (dns.qname[0] != '\0')
			strcat(dns.qname, ".");
		for (size_t k = 0; k < l; k++) {
			char c = (char)q[i + 1 + k];
			size_t e = strlen(dns.qname);

			dns.qname[e] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			dns.qname[e + 1] = '\0';
		}
		i += 1 + l;
	}
	if (i + 5 > (size_t)n)
		return;
	qend = i + 5;
	qtype = (unsigned)q[i + 1] << 8 | q[i + 2];
	dns.queries++;

	memcpy(r, q, qend);                     /* id, then the question as asked */
	flags = 0x8000 | ((unsigned)q[2] << 8 & 0x0100) | 0x0080 | (unsigned)dns.rcode;
	if (qtype == 28 && dns.tc_aaaa)
		flags |= 0x0200;
	put16(r + 2, flags);
	put16(r + 4, 1);
	put16(r + 8, 0);
	put16(r + 10, 0);
	o = qend;
	list = qtype == 1 ? dns.a : qtype == 28 ? dns.aaaa : NULL;
	for (size_t k = 0; dns.rcode == 0 && !(flags & 0x0200) && list != NULL &&
	    k < 8 && list[k] != NULL; k++) {
		int len = qtype == 1 ? 4 : 16;

		put16(r + o, 0xc00c);           /* the name of the question */
		put16(r + o + 2, qtype);
		put16(r + o + 4, 1);            /* IN */
		memcpy(r + o + 6, "\0\0\0\x3c", 4);     /* ttl 60 */
		put16(r + o + 10, (unsigned)len);
		assert_int_equal(inet_pton(qtype == 1 ? AF_INET : AF_INET6, list[k],
		    r + o + 12), 1);
		o += 12 + (size_t)len;
		an++;
	}
	put16(r + 6, (unsigned)an);
	(void)sendto(fd, r, o, 0, (struct sockaddr *)&from, fl);
}

static void
dns_start(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((dns.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(dns.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(dns.fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(dns.server, sizeof(dns.server), "127.0.0.1:%d",
	    ntohs(sin.sin_port));
	assert_non_null(dns.ev = event_new(base, dns.fd, EV_READ | EV_PERSIST,
	    dns_read, NULL));
	assert_int_equal(event_add(dns.ev, NULL), 0);
	assert_int_equal(setenv(DISC_DNS_SERVER_ENV, dns.server, 1), 0);
}

/* ---- Set-up ------------------------------------------------------------------ */

static int
setup(void **state)
{
	(void)state;
	pg_log_set_level(PG_LOG_ERR);
	fs_init(&fs);
	assert_int_equal(mbr_init(&m, 1000, 1000, 60000, &fs.sink), 0);
	mbr_set_services(&m, NULL, 1);
	assert_non_null(base = event_base_new());
	snprintf(dir, sizeof(dir), "/tmp/pg-disc.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/backends", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.enabled = true;
	cfg.file = path;
	cfg.refresh_ms = REFRESH_MS;
	cfg.weight = 2;
	cfg.max_sessions = 7;
	memset(&dns, 0, sizeof(dns));
	dns.fd = -1;
	disc = NULL;
	return 0;
}

static int
teardown(void **state)
{
	char tmp[160];

	(void)state;
	log_stop();
	disc_free(disc);
	/* cancelled DNS queries free themselves on a later turn */
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	if (dns.ev != NULL)
		event_free(dns.ev);
	if (dns.fd != -1)
		close(dns.fd);
	unsetenv(DISC_DNS_SERVER_ENV);
	event_base_free(base);
	mbr_free(&m);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	unlink(path);
	rmdir(dir);
	return 0;
}

/* ---- The file ------------------------------------------------------------------ */

static void
test_file_read_at_start(void **state)
{
	(void)state;
	write_file("# name address [weight]\n"
	    "vm1 10.0.0.1 3\n"
	    "vm2 10.0.0.2        # the group's weight\n");
	log_start();
	assert_non_null(disc = disc_start(base, &m, &cfg));
	log_stop();
	/* read before disc_start returned: no loop turn was needed */
	assert_int_equal(m.pool.n, 2);
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 3, 7);
	assert_vm("vm2", BE_SRC_DISCOVERY_FILE, "10.0.0.2", 2, 7);
	assert_int_equal(fs.members[MBR_ADDED], 2);
	assert_int_equal(fs.members[MBR_REMOVED], 0);
}

static void
test_file_logs_each_change(void **state)
{
	const char *log;
	char want[256];

	(void)state;
	write_file("vm1 10.0.0.1 3\n");
	log_start();
	assert_non_null(disc = disc_start(base, &m, &cfg));
	log = log_text();
	snprintf(want, sizeof(want), " INFO discovery: vm1 (10.0.0.1) added from "
	    "%s\n", path);
	if (strstr(log, want) == NULL) {
		log_stop();
		fail_msg("missing \"%s\" in:\n%s", want, log);
	}
	log_stop();
}

static void
test_file_change_applied_on_refresh(void **state)
{
	bool seen;

	(void)state;
	write_file("vm1 10.0.0.1\nvm2 10.0.0.2\nvm3 10.0.0.3\n");
	assert_non_null(disc = disc_start(base, &m, &cfg));
	assert_int_equal(fs.members[MBR_ADDED], 3);
	hold("vm2");

	/*
	 * vm1's weight changes, vm2 (one live session) and vm3 (none) go, vm4
	 * comes, and vm5 takes vm2's address in the same pass: removals
	 * first, and a draining VM's address is free.
	 */
	write_file("vm1 10.0.0.1 4\nvm4 10.0.0.4\nvm5 10.0.0.2\n");
	assert_int_equal(fs.members[MBR_REMOVED], 0);   /* not before a refresh */
	seen = run_until(has_vm, "vm4", WAIT_MS);
	assert_true(seen);

	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 4, 7);
	assert_vm("vm4", BE_SRC_DISCOVERY_FILE, "10.0.0.4", 2, 7);
	assert_vm("vm5", BE_SRC_DISCOVERY_FILE, "10.0.0.2", 2, 7);
	/* vm2 drains: still there, removed, its session running on */
	assert_true(vm("vm2")->removed);
	assert_int_equal(vm("vm2")->sessions, 1);
	/* vm3 had nothing to drain: forgotten at once */
	assert_null(pool_find(&m.pool, "vm3"));
	assert_int_equal(fs.members[MBR_REMOVED], 2);
	assert_int_equal(fs.members[MBR_GONE], 1);
	assert_int_equal(fs.members[MBR_ADDED], 5);
	assert_int_equal(fs.members[MBR_UPDATED], 1);   /* vm1's weight */

	/* vm2's session ends: the pool module forgets it */
	mbr_session_end(&m, vm("vm2"), NULL, 2000);
	mbr_reap(&m);
	assert_null(pool_find(&m.pool, "vm2"));
	assert_int_equal(fs.members[MBR_GONE], 2);

	/* an empty file empties that part of the pool */
	write_file("");
	assert_true(run_until(lacks_vm, "vm1", WAIT_MS));
	assert_int_equal(vms_of(BE_SRC_DISCOVERY_FILE), 0);
}

static void
test_file_with_a_bad_line_refused_whole(void **state)
{
	const char *log;
	char want[256];
	bool seen;
	size_t members;

	(void)state;
	write_file("vm1 10.0.0.1\nvm2 10.0.0.2\n");
	assert_non_null(disc = disc_start(base, &m, &cfg));
	members = fs.member;

	/* good changes around one bad line: none of them is applied */
	write_file("vm1 10.0.0.1 9\nvm3 10.0.0.3\nvm4 10.0.0.300\n");
	log_start();
	seen = run_until(logged, "refused (1 error above)", WAIT_MS);
	log = log_text();
	snprintf(want, sizeof(want), " ERROR discovery: %s:3: \"10.0.0.300\" is "
	    "not an IP address", path);
	if (!seen || strstr(log, want) == NULL) {
		log_stop();
		fail_msg("no refusal with its line in:\n%s", log);
	}
	/* logged once, though every refresh looks again */
	(void)run_until(NULL, NULL, 3 * REFRESH_MS + 50);
	log = log_text();
	seen = count(log, want) == 1 &&
	    strstr(log, "the VMs from its last good version stay as they are");
	log_stop();
	assert_true(seen);
	assert_int_equal(fs.member, members);
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 2, 7);
	assert_vm("vm2", BE_SRC_DISCOVERY_FILE, "10.0.0.2", 2, 7);
	assert_null(pool_find(&m.pool, "vm3"));
	assert_int_equal(m.pool.n, 2);

	/* two names for one address in the file: refused whole as well */
	write_file("vm1 10.0.0.1\nvm6 10.0.0.1\n");
	log_start();
	seen = run_until(logged, "refused (1 error above)", WAIT_MS);
	log_stop();
	assert_true(seen);
	assert_int_equal(fs.member, members);
	assert_int_equal(m.pool.n, 2);

	/* fixed: the new version replaces the last good one */
	write_file("vm1 10.0.0.1 9\nvm3 10.0.0.3\n");
	assert_true(run_until(has_vm, "vm3", WAIT_MS));
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 9, 7);
	assert_true(lacks_vm("vm2"));
}

static void
test_file_name_of_another_source_refused(void **state)
{
	const char *log;
	char want[256];
	bool once;

	(void)state;
	api_vm("apivm", "10.0.0.50");
	write_file("apivm 10.0.0.51\nvm1 10.0.0.1\n");
	log_start();
	assert_non_null(disc = disc_start(base, &m, &cfg));
	(void)run_until(NULL, NULL, 3 * REFRESH_MS + 50);      /* retried, not relogged */
	log = log_text();
	snprintf(want, sizeof(want), " WARN discovery: apivm (10.0.0.51) from %s "
	    "not applied: VM apivm is owned by the admin API\n", path);
	once = count(log, want) == 1;
	log_stop();
	if (!once)
		fail_msg("want \"%s\" once", want);
	/* not taken over; the rest of the file applies */
	assert_vm("apivm", BE_SRC_API, "10.0.0.50", 1, 0);
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 2, 7);

	/* tried again every refresh: once the API lets go, the file has it */
	assert_int_equal(mbr_remove(&m, BE_SRC_API, "apivm", (char[200]){ 0 },
	    200), 0);
	assert_null(pool_find(&m.pool, "apivm"));
	assert_true(run_until(has_vm, "apivm", WAIT_MS));
	assert_vm("apivm", BE_SRC_DISCOVERY_FILE, "10.0.0.51", 2, 7);
}

static void
test_file_address_of_another_vm_refused(void **state)
{
	const char *log;
	char want[256];
	bool found;

	(void)state;
	api_vm("apivm", "10.0.0.50");
	write_file("vm9 10.0.0.50\nvm1 10.0.0.1\n");
	log_start();
	assert_non_null(disc = disc_start(base, &m, &cfg));
	log = log_text();
	snprintf(want, sizeof(want), " WARN discovery: vm9 (10.0.0.50) from %s not "
	    "applied: 10.0.0.50 is already the address of apivm (admin API)\n",
	    path);
	found = strstr(log, want) != NULL;
	log_stop();
	if (!found)
		fail_msg("want \"%s\"", want);
	assert_null(pool_find(&m.pool, "vm9"));
	assert_vm("apivm", BE_SRC_API, "10.0.0.50", 1, 0);
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 2, 7);
}

static void
test_unreadable_file_keeps_the_set(void **state)
{
	(void)state;
	write_file("vm1 10.0.0.1\n");
	assert_non_null(disc = disc_start(base, &m, &cfg));
	log_start();
	assert_int_equal(unlink(path), 0);
	(void)run_until(NULL, NULL, 2 * REFRESH_MS + 50);
	log_stop();
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 2, 7);
	assert_int_equal(fs.members[MBR_REMOVED], 0);
}

static void
test_reconfigure_disabled_removes_what_it_brought(void **state)
{
	struct cfg_discovery off = cfg;
	const char *log;
	bool found;

	(void)state;
	api_vm("apivm", "10.0.0.50");
	write_file("vm1 10.0.0.1\nvm2 10.0.0.2\n");
	assert_non_null(disc = disc_start(base, &m, &cfg));
	hold("vm1");

	off.enabled = false;
	log_start();
	assert_int_equal(disc_reconfigure(disc, &off), 0);
	log = log_text();
	found = strstr(log, "discovery: vm2 (10.0.0.2) removed: discovery.file "
	    "is no longer set\n") != NULL;
	log_stop();
	assert_true(found);
	assert_true(vm("vm1")->removed);        /* drains its session */
	assert_null(pool_find(&m.pool, "vm2"));
	assert_int_equal(fs.members[MBR_REMOVED], 2);
	assert_vm("apivm", BE_SRC_API, "10.0.0.50", 1, 0);

	/* and it looks no more */
	write_file("vm3 10.0.0.3\n");
	(void)run_until(NULL, NULL, 2 * REFRESH_MS + 50);
	assert_null(pool_find(&m.pool, "vm3"));

	/* enabled again: read at once */
	assert_int_equal(disc_reconfigure(disc, &cfg), 0);
	assert_vm("vm3", BE_SRC_DISCOVERY_FILE, "10.0.0.3", 2, 7);
}

static void
test_reconfigure_weight(void **state)
{
	struct cfg_discovery heavier = cfg;

	(void)state;
	write_file("vm1 10.0.0.1\nvm2 10.0.0.2 5\n");
	assert_non_null(disc = disc_start(base, &m, &cfg));
	heavier.weight = 4;
	heavier.max_sessions = 3;
	assert_int_equal(disc_reconfigure(disc, &heavier), 0);
	/* the group's weight is the default of lines without one */
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 4, 3);
	assert_vm("vm2", BE_SRC_DISCOVERY_FILE, "10.0.0.2", 5, 3);
}

static void
test_free_leaves_the_pool(void **state)
{
	size_t members;

	(void)state;
	write_file("vm1 10.0.0.1\nvm2 10.0.0.2\n");
	assert_non_null(disc = disc_start(base, &m, &cfg));
	members = fs.member;
	disc_free(disc);
	disc = NULL;
	assert_int_equal(fs.member, members);
	assert_vm("vm1", BE_SRC_DISCOVERY_FILE, "10.0.0.1", 2, 7);
	assert_vm("vm2", BE_SRC_DISCOVERY_FILE, "10.0.0.2", 2, 7);
	/* nothing watches the file any more */
	write_file("vm3 10.0.0.3\n");
	(void)run_until(NULL, NULL, 2 * REFRESH_MS + 50);
	assert_int_equal(fs.member, members);
	assert_int_equal(m.pool.n, 2);
}

/* ---- DNS ------------------------------------------------------------------------ */

static bool
dns_vms(const void *n)
{
	return vms_of(BE_SRC_DNS) == *(const size_t *)n;
}

/* Start discovery of "pool.test" against the fake server. */
static void
dns_discovery(void)
{
	cfg.file = NULL;
	cfg.dns = "pool.test";
	cfg.weight = 3;
	cfg.max_sessions = 9;
	dns_start();
	assert_non_null(disc = disc_start(base, &m, &cfg));
}

static void
test_dns_names_and_defaults(void **state)
{
	size_t three = 3;

	(void)state;
	dns_set("10.0.0.4", "10.0.0.5", "fd00::4");
	dns_discovery();
	assert_true(run_until(dns_vms, &three, WAIT_MS));
	assert_string_equal(dns.qname, "pool.test");    /* as written, no search */
	assert_vm("dns-10-0-0-4", BE_SRC_DNS, "10.0.0.4", 3, 9);
	assert_vm("dns-10-0-0-5", BE_SRC_DNS, "10.0.0.5", 3, 9);
	assert_vm("dns-fd00--4", BE_SRC_DNS, "fd00::4", 3, 9);
	assert_int_equal(fs.members[MBR_ADDED], 3);
}

static void
test_dns_answer_that_would_empty_the_pool_ignored(void **state)
{
	size_t three = 3, one = 1, queries;
	const char *log;
	bool seen;

	(void)state;
	dns_set("10.0.0.4", "10.0.0.5", "fd00::4");
	dns_discovery();
	assert_true(run_until(dns_vms, &three, WAIT_MS));

	/* NXDOMAIN: kept, with a warning */
	dns.rcode = 3;
	log_start();
	seen = run_until(logged, "no such name (NXDOMAIN); keeping the 3 VMs "
	    "found before (remove discovery.dns to empty the pool)", WAIT_MS);
	/* no record at all: kept too */
	dns_set(NULL, NULL, NULL);
	seen = seen && run_until(logged, "no A or AAAA record; keeping the 3 VMs",
	    WAIT_MS);
	/* repeated answers say it once */
	queries = dns.queries;
	(void)run_until(NULL, NULL, 3 * REFRESH_MS + 50);
	log = log_text();
	seen = seen && dns.queries > queries &&
	    count(log, "no A or AAAA record; keeping") == 1;
	log_stop();
	assert_true(seen);
	assert_int_equal(vms_of(BE_SRC_DNS), 3);
	assert_int_equal(fs.members[MBR_REMOVED], 0);

	/* a smaller answer that leaves a VM is believed */
	dns_set("10.0.0.4", NULL, NULL);
	assert_true(run_until(dns_vms, &one, WAIT_MS));
	assert_vm("dns-10-0-0-4", BE_SRC_DNS, "10.0.0.4", 3, 9);
	assert_null(pool_find(&m.pool, "dns-10-0-0-5"));
	assert_null(pool_find(&m.pool, "dns-fd00--4"));
	assert_int_equal(fs.members[MBR_REMOVED], 2);
}

static void
test_dns_failed_family_kept(void **state)
{
	size_t three = 3;
	bool seen;

	(void)state;
	dns_set("10.0.0.4", "10.0.0.5", "fd00::4");
	dns_discovery();
	assert_true(run_until(dns_vms, &three, WAIT_MS));

	/* AAAA truncated (a failed query): fd00::4 stays; A is still updated */
	dns_set("10.0.0.4", "10.0.0.6", NULL);
	dns.tc_aaaa = true;
	log_start();
	seen = run_until(has_vm, "dns-10-0-0-6", WAIT_MS) &&
	    run_until(logged, "AAAA query failed: answer truncated", WAIT_MS);
	log_stop();
	assert_true(seen);
	assert_vm("dns-fd00--4", BE_SRC_DNS, "fd00::4", 3, 9);
	assert_true(lacks_vm("dns-10-0-0-5"));
	assert_int_equal(vms_of(BE_SRC_DNS), 3);
}

static void
test_dns_reconfigure_disabled_removes_all(void **state)
{
	struct cfg_discovery off;
	size_t two = 2;

	(void)state;
	dns_set("10.0.0.4", NULL, "fd00::4");
	api_vm("apivm", "10.0.0.50");
	dns_discovery();
	assert_true(run_until(dns_vms, &two, WAIT_MS));
	off = cfg;
	off.dns = NULL;
	assert_int_equal(disc_reconfigure(disc, &off), 0);
	assert_int_equal(vms_of(BE_SRC_DNS), 0);
	assert_int_equal(fs.members[MBR_REMOVED], 2);
	assert_vm("apivm", BE_SRC_API, "10.0.0.50", 1, 0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_file_read_at_start),
		T(test_file_logs_each_change),
		T(test_file_change_applied_on_refresh),
		T(test_file_with_a_bad_line_refused_whole),
		T(test_file_name_of_another_source_refused),
		T(test_file_address_of_another_vm_refused),
		T(test_unreadable_file_keeps_the_set),
		T(test_reconfigure_disabled_removes_what_it_brought),
		T(test_reconfigure_weight),
		T(test_free_leaves_the_pool),
		T(test_dns_names_and_defaults),
		T(test_dns_answer_that_would_empty_the_pool_ignored),
		T(test_dns_failed_family_kept),
		T(test_dns_reconfigure_disabled_removes_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
