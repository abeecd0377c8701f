/*
 * members.c -- see members.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libconfig.h>

#include "backends/health.h"
#include "backends/members.h"
#include "lib/atomicfile.h"
#include "lib/log.h"
#include "lib/text.h"

/* Every change to what selection reads ends here (see backend.h). */
static void
touch(struct members *m, struct backend *b)
{
	pool_touch(&m->pool, b);
}

/* Tell the cluster what changed here, unless it came from there. */
static void
shared(struct members *m, enum mbr_shared what, const char *name)
{
	if (!m->applying && m->sink != NULL && m->sink->shared != NULL)
		m->sink->shared(m->sink->arg, what, name);
}

static void
capacity(struct members *m)
{
	if (m->sink != NULL && m->sink->capacity != NULL)
		m->sink->capacity(m->sink->arg);
}

static void
member(struct members *m, struct backend *b, enum mbr_change what)
{
	if (m->sink != NULL && m->sink->member != NULL)
		m->sink->member(m->sink->arg, b, what);
}

int
mbr_init(struct members *m, size_t aff_max, size_t us_max, uint64_t idle_ms,
    const struct pg_sink *sink)
{
	memset(m, 0, sizeof(*m));
	pool_init(&m->pool);
	m->sink = sink;
	if ((m->aff = aff_new(aff_max, 0)) == NULL ||
	    (m->us = us_new(us_max, idle_ms)) == NULL) {
		mbr_free(m);
		return -1;
	}
	return 0;
}

void
mbr_free(struct members *m)
{
	pool_clear(&m->pool);
	aff_free(m->aff);
	us_free(m->us);
	m->aff = NULL;
	m->us = NULL;
}

void
mbr_set_state_dir(struct members *m, const char *dir)
{
	snprintf(m->state_dir, sizeof(m->state_dir), "%s", dir ? dir : "");
}

void
mbr_set_services(struct members *m, const int *map, size_t n)
{
	if (n > CFG_MAX_SERVICES)
		n = CFG_MAX_SERVICES;
	for (size_t i = 0; i < m->pool.n; i++) {
		struct backend *b = m->pool.be[i];
		struct be_health h[CFG_MAX_SERVICES];

		memcpy(h, b->health, sizeof(h));
		memset(b->health, 0, sizeof(b->health));
		for (size_t s = 0; s < n; s++) {
			if (map != NULL && map[s] >= 0 && map[s] < CFG_MAX_SERVICES)
				b->health[s] = h[map[s]];
			else
				hc_init(&b->health[s].hc);
		}
	}
	pool_set_services(&m->pool, n);   /* touches every member */
}

struct backend *
mbr_pick(struct members *m, size_t svc, const struct route_in *in,
    struct backend *const *tried, size_t ntried, enum route_why *why,
    uint64_t now)
{
	struct timespec a, b;
	struct backend *be;

	clock_gettime(CLOCK_MONOTONIC, &a);
	be = route_pick(&m->pool, svc, m->aff, in, now, tried, ntried, why);
	clock_gettime(CLOCK_MONOTONIC, &b);
	m->sel_count++;
	m->sel_ns += (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L +
	    (b.tv_nsec - a.tv_nsec));
	return be;
}

/* ---- sessions ------------------------------------------------------------- */

int
mbr_session_start(struct members *m, struct backend *b, const char *key,
    uint64_t now)
{
	int rc = 0;

	b->sessions++;
	touch(m, b);
	if (key != NULL) {
		if (aff_session_start(m->aff, key, b->name, now) == -1)
			rc = -1;
		m->aff_dirty = true;
		shared(m, MBR_SH_AFFINITY, key);
	}
	return rc;
}

void
mbr_session_end(struct members *m, struct backend *b, const char *key,
    uint64_t now)
{
	if (b->sessions <= 0)
		pg_fatalx("session count of %s went negative", b->name);
	b->sessions--;
	touch(m, b);
	if (key != NULL) {
		aff_session_end(m->aff, key, b->name, now);
		m->aff_dirty = true;
		shared(m, MBR_SH_AFFINITY, key);
	}
}

void
mbr_conns(struct members *m, struct backend *b, int delta)
{
	(void)m;
	b->conns += delta;
	if (b->conns < 0)
		pg_fatalx("HTTP connection count of %s went negative", b->name);
}

void
mbr_addr_seen(struct members *m, const char *key, struct backend *b,
    uint64_t now)
{
	/* No session holds it: it lives for the ttl from this request. */
	if (aff_session_start(m->aff, key, b->name, now) == 0)
		aff_session_end(m->aff, key, b->name, now);
	m->aff_dirty = true;
	shared(m, MBR_SH_AFFINITY, key);
}

/* ---- Jupyter users -------------------------------------------------------- */

static void
user_key(char *key, size_t len, const char *user)
{
	snprintf(key, len, "user:%s", user);
}

/* A Jupyter session ended (idle, moved, VM forgotten): uncount it. */
static void
user_session_end(struct members *m, const char *user, const char *vm,
    uint64_t now, const char *why)
{
	struct backend *b = pool_find(&m->pool, vm);
	char key[AFF_KEY_MAX + 1];

	user_key(key, sizeof(key), user);
	if (b != NULL)
		mbr_session_end(m, b, key, now);
	else {
		aff_session_end(m->aff, key, vm, now);
		m->aff_dirty = true;
		shared(m, MBR_SH_AFFINITY, key);
	}
	log_info("jupyter session end user=%s vm=%s reason=%s", user, vm, why);
}

void
mbr_user_seen(struct members *m, const char *user, struct backend *vm,
    const char *addr, uint64_t now)
{
	struct us_ended ended = { 0 };
	char key[AFF_KEY_MAX + 1];
	static uint64_t last_full;
	enum us_result r;

	r = us_request(m->us, user, vm->name, addr, now, &ended);
	if (ended.ended)
		user_session_end(m, ended.user, ended.backend, now, "moved");
	if (r == US_STARTED) {
		user_key(key, sizeof(key), user);
		if (mbr_session_start(m, vm, key, now) == -1)
			log_warn("affinity table full: %s not remembered", key);
		log_info("jupyter session start user=%s vm=%s client=%s", user,
		    vm->name, addr);
	} else if ((r == US_FULL || r == US_NOMEM) && now - last_full >= 1000) {
		last_full = now;
		log_warn("jupyter sessions: table full, user %s not counted",
		    user);
	}
}

uint64_t
mbr_ws_open(struct members *m, const char *user, struct backend *vm,
    uint64_t now)
{
	return us_ws_open(m->us, user, vm->name, now);
}

void
mbr_ws_close(struct members *m, const char *user, uint64_t id, uint64_t now)
{
	us_ws_close(m->us, user, id, now);
}

struct expired_arg {
	struct members *m;
	uint64_t        now;
	size_t          n;
	const char     *why;
};

static void
user_expired(const struct us_session *us, void *arg)
{
	struct expired_arg *a = arg;

	user_session_end(a->m, us->user, us->backend, a->now, a->why);
	a->n++;
}

size_t
mbr_tick(struct members *m, uint64_t now)
{
	struct expired_arg a = { m, now, 0, "idle" };

	us_expire(m->us, now, user_expired, &a);
	return a.n;
}

bool
mbr_sweep(struct members *m, uint64_t now)
{
	if (aff_expire_some(m->aff, now, MBR_SWEEP_MAX) > 0)
		m->aff_dirty = true;
	return aff_expired_left(m->aff, now);
}

/* ---- health and the agent ------------------------------------------------- */

void
mbr_check_result(struct members *m, struct backend *b, size_t svc,
    const char *svcname, int rise, int fall, bool ok, const char *err,
    uint64_t latency_ms, uint64_t now)
{
	struct be_health *h;
	enum hc_change ch;

	if (svc >= CFG_MAX_SERVICES)
		return;
	h = &b->health[svc];
	h->checks++;
	h->last_check_ms = now;
	h->last_latency_ms = latency_ms;
	if (!ok) {
		h->failures++;
		snprintf(h->last_error, sizeof(h->last_error), "%s",
		    err != NULL && *err ? err : "failed");
	} else
		h->last_error[0] = '\0';
	ch = hc_record(&h->hc, ok, rise, fall);
	if (ch == HC_SAME)
		return;
	if (ch == HC_WENT_UP)
		log_info("backend %s service=%s health=up after %d passed check(s)",
		    b->name, svcname, rise);
	else
		log_warn("backend %s service=%s health=down after %d failure(s): %s",
		    b->name, svcname, fall, h->last_error);
	touch(m, b);
	if (m->sink != NULL && m->sink->health != NULL)
		m->sink->health(m->sink->arg, b, svcname, ch == HC_WENT_UP,
		    h->last_error);
	if (ch == HC_WENT_UP)   /* a VM that came up takes queued logins at once */
		capacity(m);
}

void
mbr_agent_changed(struct members *m, struct backend *b)
{
	touch(m, b);
	capacity(m);
}

/* ---- the agent's report --------------------------------------------------- */

void
mbr_set_host_ca(struct members *m, const char *ca_fp, const char *principal)
{
	snprintf(m->host_ca_fp, sizeof(m->host_ca_fp), "%s",
	    ca_fp != NULL ? ca_fp : "");
	snprintf(m->host_principal, sizeof(m->host_principal), "%s",
	    principal != NULL ? principal : "");
}

/* Seconds since the user did anything; unknown is the least recent. */
static int64_t
user_idle(const struct rep_user *u)
{
	return u->idle_s < 0 ? INT64_MAX : u->idle_s;
}

/*
 * The member other than self whose current report holds `user`'s work
 * with the most recent activity (*idle_s), or NULL.
 */
static struct backend *
claimant(struct members *m, const char *user, const struct backend *self,
    int64_t *idle_s)
{
	struct backend *best = NULL;

	for (size_t i = 0; i < m->pool.n; i++) {
		struct backend *b = m->pool.be[i];
		const struct rep_user *u;

		if (b == self || b->removed || !b->report_ok)
			continue;
		if ((u = rep_user_find(b->report, user)) == NULL || !u->work)
			continue;
		if (best == NULL || user_idle(u) < *idle_s) {
			best = b;
			*idle_s = user_idle(u);
		}
	}
	return best;
}

/*
 * Affinity from the truth: each user with work on b is routed to b, unless
 * another VM holds more recent work of theirs, or a live session poolgate
 * placed elsewhere holds the key (its VM's agent will report it). An entry
 * already on b is refreshed when half its ttl is gone, so work that runs
 * for days keeps its user's place without rewriting the state file at
 * every report.
 */
static int
claim_users(struct members *m, struct backend *b, uint64_t now)
{
	const struct vm_report *r = b->report;
	char key[AFF_KEY_MAX + 1];
	uint64_t ttl = aff_ttl(m->aff);
	int lost = 0;

	for (size_t i = 0; i < r->nusers; i++) {
		const struct rep_user *u = &r->users[i];
		const struct aff_entry *e;
		int64_t theirs = 0;

		if (!u->work || !pg_name_valid(u->name, REP_NAME_MAX))
			continue;
		if (claimant(m, u->name, b, &theirs) != NULL &&
		    theirs < user_idle(u)) {
			lost++;
			continue;
		}
		user_key(key, sizeof(key), u->name);
		e = aff_lookup(m->aff, key, now);
		if (e != NULL && (e->active > 0 ||
		    (strcmp(e->backend, b->name) == 0 &&
		    e->expires_ms > now + ttl / 2)))
			continue;
		if (e == NULL || strcmp(e->backend, b->name) != 0)
			log_info("affinity %s -> %s: the agent reports their work "
			    "there", key, b->name);
		if (aff_session_start(m->aff, key, b->name, now) == 0)
			aff_session_end(m->aff, key, b->name, now);
		m->aff_dirty = true;
	}
	return lost;
}

void
mbr_report(struct members *m, struct backend *b, const struct vm_report *r,
    const char *err, uint64_t now)
{
	char why[sizeof(b->identity_why)] = "";
	bool bad = false, was_bad = b->identity_bad;
	int load = be_load(b);

	b->report_ms = now;
	if (r == NULL) {
		if (b->report_ok)
			log_warn("backend %s agent report: %s; it may hold work "
			    "poolgate cannot see (never idle until it answers)",
			    b->name, err != NULL ? err : "no answer");
		b->report_ok = false;
		snprintf(b->report_err, sizeof(b->report_err), "%s",
		    err != NULL ? err : "no answer");
		return;
	}
	if (b->report == NULL && (b->report = malloc(sizeof(*b->report))) == NULL) {
		log_err("backend %s: out of memory keeping its agent report",
		    b->name);
		return;
	}
	if (!b->report_ok)
		log_info("backend %s agent report: %d users with work%s", b->name,
		    r->users_with_work, r->idle ? ", idle" : "");
	memcpy(b->report, r, sizeof(*r));
	b->report_ok = true;
	b->report_err[0] = '\0';
	b->reported = r->users_with_work;

	if (m->host_ca_fp[0] != '\0')
		bad = !rep_host_identity_ok(r, m->host_ca_fp, m->host_principal,
		    why, sizeof(why));
	if (bad != b->identity_bad) {
		if (bad) {
			log_warn("backend %s: down (host identity): %s", b->name,
			    why);
			sink_notef(m->sink, "%s down: host identity (%s)", b->name,
			    why);
		} else {
			log_info("backend %s: host identity is the pool's again",
			    b->name);
			sink_notef(m->sink, "%s: host identity is the pool's again",
			    b->name);
		}
		b->identity_bad = bad;
	}
	snprintf(b->identity_why, sizeof(b->identity_why), "%s", why);

	if (r->evict_pending != b->evicting) {
		if (r->evict_pending) {
			log_warn("backend %s: the cloud evicts it (%s %s, not before "
			    "%s): draining", b->name, r->evict.type, r->evict.id,
			    r->evict.not_before[0] ? r->evict.not_before : "now");
			sink_notef(m->sink, "%s evicting: %s not before %s", b->name,
			    r->evict.type, r->evict.not_before[0] ?
			    r->evict.not_before : "now");
		} else
			log_info("backend %s: the eviction is no longer pending",
			    b->name);
		b->evicting = r->evict_pending;
	}
	b->claims_lost = claim_users(m, b, now);
	touch(m, b);
	if (be_load(b) < load || (was_bad && !bad))
		capacity(m);
}

/* ---- membership ----------------------------------------------------------- */

/* Same family, address and port. */
static bool
addr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* A VM at a new address is another machine: its health starts over. */
static void
set_address(struct backend *b, const struct cfg_addr *a)
{
	char *text;

	if (addr_equal(&b->addr, a))
		return;
	if ((text = strdup(a->text)) == NULL)
		pg_fatalx("out of memory");
	log_info("backend %s moved from %s to %s: health starts over", b->name,
	    b->addr.text, text);
	free(b->addr.text);
	b->addr = *a;
	b->addr.text = text;
	for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
		hc_init(&b->health[s].hc);
	be_agent_clear(b);
}

/*
 * Save what the admin API decided: the VMs it created and every operator
 * state other than ready. libconfig syntax, so the reader is the same
 * well-tested parser as the configuration's. Names and addresses are
 * validated before they get here, so they need no quoting.
 */
static void
mbr_save(struct members *m)
{
	char *buf = NULL, err[256];
	size_t len = 0, n = 0;
	FILE *f;

	if (m->state_dir[0] == '\0')
		return;
	if ((f = open_memstream(&buf, &len)) == NULL) {
		log_err("state: out of memory saving the backends");
		return;
	}
	fprintf(f, "# poolgate: VMs and operator states set through the admin API\n"
	    "backends = (\n");
	for (size_t i = 0; i < m->pool.n; i++) {
		const struct backend *b = m->pool.be[i];
		if (b->removed)
			continue;
		if (b->source != BE_SRC_API && b->admin == BE_ADMIN_READY)
			continue;
		fprintf(f, "%s  { name = \"%s\"; api = %s; address = \"%s\"; "
		    "weight = %d; max_sessions = %d; admin = \"%s\"; }",
		    n++ ? ",\n" : "", b->name, b->source == BE_SRC_API ?
		    "true" : "false", b->addr.text, b->weight, b->max_sessions,
		    be_admin_name(b->admin));
	}
	for (size_t i = 0; i < m->npending; i++)
		fprintf(f, "%s  { name = \"%s\"; api = false; address = \"\"; "
		    "weight = 1; max_sessions = 0; admin = \"%s\"; }",
		    n++ ? ",\n" : "", m->pending[i].name,
		    be_admin_name(m->pending[i].admin));
	fprintf(f, "\n);\n");
	if (fclose(f) != 0) {
		free(buf);
		log_err("state: out of memory saving the backends");
		return;
	}
	if (af_write_atomic(m->state_dir, MBR_FILE, buf, len, err,
	    sizeof(err)) == -1)
		log_err("state: cannot save the admin API's changes: %s", err);
	free(buf);
}

void
mbr_load(struct members *m)
{
	char path[4200], err[256];
	config_t c;
	config_setting_t *list;
	struct stat st;

	if (m->state_dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/%s", m->state_dir, MBR_FILE);
	if (stat(path, &st) == -1)
		return;   /* nothing set through the API yet */
	config_init(&c);
	if (config_read_file(&c, path) != CONFIG_TRUE) {
		log_err("state: %s:%d: %s; the admin API's changes are not "
		    "restored", path, config_error_line(&c), config_error_text(&c));
		goto out;
	}
	if ((list = config_lookup(&c, "backends")) == NULL ||
	    !config_setting_is_list(list))
		goto out;
	for (int i = 0; i < config_setting_length(list); i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *name = NULL, *addr = NULL, *admin = NULL;
		int api = 0, weight = 1, maxs = 0;
		enum be_admin a;
		struct backend *b;

		config_setting_lookup_string(e, "name", &name);
		config_setting_lookup_string(e, "address", &addr);
		config_setting_lookup_string(e, "admin", &admin);
		config_setting_lookup_bool(e, "api", &api);
		config_setting_lookup_int(e, "weight", &weight);
		config_setting_lookup_int(e, "max_sessions", &maxs);
		if (name == NULL || addr == NULL || admin == NULL ||
		    !pg_name_valid(name, CFG_NAME_MAX)) {
			log_warn("state: %s: entry %d incomplete or invalid, "
			    "skipped", path, i);
			continue;
		}
		if (api && mbr_upsert(m, BE_SRC_API, name, addr, weight, maxs,
		    err, sizeof(err)) == -1) {
			log_warn("state: %s: VM %s not restored: %s", path, name, err);
			continue;
		}
		if (!be_admin_parse(admin, &a) || a == BE_ADMIN_READY)
			continue;
		if ((b = pool_find(&m->pool, name)) != NULL) {
			b->admin = a;
			touch(m, b);
		} else if (m->npending < MBR_PENDING_MAX) {
			/* Not here yet (discovery): apply when it comes. */
			snprintf(m->pending[m->npending].name,
			    sizeof(m->pending[0].name), "%s", name);
			m->pending[m->npending++].admin = a;
		}
	}
	log_info("state: restored the admin API's changes from %s", path);
out:
	config_destroy(&c);
}

int
mbr_upsert(struct members *m, enum be_source src, const char *name,
    const char *address, int weight, int max_sessions, char *err,
    size_t errlen)
{
	struct cfg_backend cb;
	struct backend *b;
	int rc;

	memset(&cb, 0, sizeof(cb));
	if (!pg_name_valid(name, CFG_NAME_MAX)) {
		snprintf(err, errlen, "\"%s\" is not a valid VM name (expected 1 "
		    "to %d of " PG_NAME_RULE ")", name, CFG_NAME_MAX);
		return -1;
	}
	if (cfg_parse_addr(address, false, &cb.address) == -1) {
		snprintf(err, errlen, "\"%s\" is not a numeric IPv4 or IPv6 "
		    "address", address);
		return -1;
	}
	if (weight < 1 || weight > 1000 || max_sessions < 0 ||
	    max_sessions > 100000) {
		snprintf(err, errlen, "weight must be 1..1000 and max_sessions "
		    "0..100000");
		return -1;
	}
	snprintf(cb.name, sizeof(cb.name), "%s", name);
	cb.address.text = (char *)address;
	cb.weight = weight;
	cb.max_sessions = max_sessions;
	if ((b = pool_find(&m->pool, name)) != NULL && !b->removed &&
	    b->source != src) {
		snprintf(err, errlen, "VM %s is owned by the %s", name,
		    be_source_name(b->source));
		return -1;
	}
	if (b == NULL) {
		if ((b = pool_add(&m->pool, &cb)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		log_info("backend %s added by the %s (%s), down until its checks "
		    "pass", name, be_source_name(src), address);
		sink_notef(m->sink, "%s: added by the %s (%s)", name,
		    be_source_name(src), address);
		for (size_t i = 0; i < m->npending; i++) {
			if (strcmp(m->pending[i].name, name) != 0)
				continue;
			b->admin = m->pending[i].admin;
			log_info("backend %s: operator state %s restored", name,
			    be_admin_name(b->admin));
			m->pending[i] = m->pending[--m->npending];
			break;
		}
		rc = 1;
	} else {
		/* Also brings back a VM that was draining towards removal. */
		if (b->removed)
			log_info("backend %s is back (%s)", name, be_source_name(src));
		b->removed = false;
		b->weight = weight;
		b->max_sessions = max_sessions;
		set_address(b, &cb.address);
		rc = 0;
	}
	b->source = src;
	member(m, b, rc == 1 ? MBR_ADDED : MBR_UPDATED);
	touch(m, b);   /* admin, weight, cap, health, agent */
	if (src == BE_SRC_API) {
		mbr_save(m);
		shared(m, MBR_SH_VM, name);
	}
	capacity(m);
	return rc;
}

/* b leaves on behalf of its source: it drains and is reaped when empty. */
static void
drain_out(struct members *m, struct backend *b)
{
	b->removed = true;
	touch(m, b);
	member(m, b, MBR_REMOVED);
}

int
mbr_remove(struct members *m, enum be_source src, const char *name,
    char *err, size_t errlen)
{
	struct backend *b = pool_find(&m->pool, name);

	if (b == NULL || b->removed) {
		snprintf(err, errlen, "no VM called %s", name);
		return -1;
	}
	if (b->source != src) {
		snprintf(err, errlen, "VM %s is owned by the %s", name,
		    be_source_name(b->source));
		return -1;
	}
	drain_out(m, b);
	log_info("backend %s removed by the %s: draining %d session(s)", name,
	    be_source_name(src), b->sessions);
	sink_notef(m->sink, "%s: removed by the %s, draining %d session(s)",
	    name, be_source_name(src), b->sessions);
	if (src == BE_SRC_API) {
		mbr_save(m);
		shared(m, MBR_SH_VM, name);
	}
	mbr_reap(m);
	return 0;
}

int
mbr_set_admin(struct members *m, const char *name, enum be_admin admin,
    char *err, size_t errlen)
{
	struct backend *b = pool_find(&m->pool, name);

	if (b == NULL || b->removed) {
		snprintf(err, errlen, "no VM called %s", name);
		return -1;
	}
	if (b->admin != admin) {
		log_info("backend %s: operator state %s -> %s", name,
		    be_admin_name(b->admin), be_admin_name(admin));
		sink_notef(m->sink, "%s: operator state %s -> %s", name,
		    be_admin_name(b->admin), be_admin_name(admin));
	}
	b->admin = admin;
	touch(m, b);
	mbr_save(m);
	shared(m, MBR_SH_ADMIN, name);
	capacity(m);
	return 0;
}

int
mbr_apply_file(struct members *m, const struct cfg_backend *list, size_t n,
    const char *path, bool reload, int *added, int *kept, int *removed)
{
	int na = 0, nk = 0, nr = 0;

	/* The file manages its own VMs; the API's and discovery's stay. */
	for (size_t i = 0; i < n; i++) {
		const struct cfg_backend *cb = &list[i];
		struct backend *b = pool_find(&m->pool, cb->name);

		if (b == NULL) {
			if ((b = pool_add(&m->pool, cb)) == NULL)
				return -1;
			b->source = BE_SRC_FILE;
			if (reload)
				log_info("backend %s added (%s), down until its "
				    "checks pass", b->name, b->addr.text);
			na++;
			member(m, b, MBR_ADDED);
			touch(m, b);
			continue;
		}
		if (b->source != BE_SRC_FILE)
			log_warn("backend %s: now defined in %s, which takes it over "
			    "from the %s", b->name, path, be_source_name(b->source));
		nk++;
		b->source = BE_SRC_FILE;
		b->removed = false;
		b->weight = cb->weight;
		b->max_sessions = cb->max_sessions;
		set_address(b, &cb->address);
		member(m, b, MBR_UPDATED);
		touch(m, b);
	}
	for (size_t i = 0; i < m->pool.n; i++) {
		struct backend *b = m->pool.be[i];
		bool listed = false;

		for (size_t k = 0; k < n && !listed; k++)
			listed = strcmp(list[k].name, b->name) == 0;
		if (b->source != BE_SRC_FILE || listed || b->removed)
			continue;
		drain_out(m, b);
		log_info("backend %s removed from the configuration: draining %d "
		    "session(s)", b->name, b->sessions);
		nr++;
	}
	if (added != NULL)
		*added = na;
	if (kept != NULL)
		*kept = nk;
	if (removed != NULL)
		*removed = nr;
	capacity(m);
	return 0;
}

struct forget_arg {
	struct members *m;
	uint64_t        now;
};

static void
user_forgotten(const struct us_session *us, void *arg)
{
	struct forget_arg *a = arg;
	char key[AFF_KEY_MAX + 1];

	/* The VM is leaving the pool: its count goes with it. */
	user_key(key, sizeof(key), us->user);
	aff_session_end(a->m->aff, key, us->backend, a->now);
	log_info("jupyter session end user=%s vm=%s reason=vm_gone", us->user,
	    us->backend);
}

void
mbr_reap(struct members *m)
{
	for (size_t i = 0; i < m->pool.n; ) {
		struct backend *b = m->pool.be[i];
		struct forget_arg fa = { m, 0 };
		struct timespec ts;

		if (!b->removed || b->sessions > 0 || b->conns > 0) {
			i++;
			continue;
		}
		log_info("backend %s forgotten: removed and its last session ended",
		    b->name);
		member(m, b, MBR_GONE);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		fa.now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
		us_forget_backend(m->us, b->name, user_forgotten, &fa);
		aff_forget_backend(m->aff, b->name);
		m->aff_dirty = true;
		pool_remove_at(&m->pool, i);
	}
}

/* ---- another node's changes (cluster/) ------------------------------------- */

int
mbr_apply_affinity(struct members *m, const char *key, const char *vm,
    uint64_t expires_ms, uint64_t now)
{
	int rc = aff_put(m->aff, key, vm, expires_ms, now);

	if (rc == 0)
		m->aff_dirty = true;
	return rc;
}

int
mbr_apply_admin(struct members *m, const char *name, enum be_admin admin,
    char *err, size_t errlen)
{
	int rc;

	m->applying = true;
	rc = mbr_set_admin(m, name, admin, err, errlen);
	m->applying = false;
	return rc;
}

int
mbr_apply_vm(struct members *m, const char *name, const char *address,
    int weight, int max_sessions, bool removed, char *err, size_t errlen)
{
	int rc;

	m->applying = true;
	if (removed)
		rc = mbr_remove(m, BE_SRC_API, name, err, errlen);
	else
		rc = mbr_upsert(m, BE_SRC_API, name, address, weight,
		    max_sessions, err, errlen);
	m->applying = false;
	return rc;
}

void
mbr_set_remote(struct members *m, struct backend *b, int sessions)
{
	if (b->remote == sessions)
		return;
	b->remote = sessions;
	touch(m, b);
	/* fewer sessions elsewhere may make room for a queued login */
	capacity(m);
}
