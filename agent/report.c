/*
 * report.c -- see report.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/report.h"
#include "lib/json.h"
#include "lib/log.h"

/* The output: grows up to cap, then refuses (w->full). */
struct jw {
	char   *buf;
	size_t  len, size, cap;
	bool    full, oom;
	bool    first[16];  /* no member or element written yet at this depth */
	int     depth;
};

static int
put(void *arg, const char *bytes, size_t n)
{
	struct jw *w = arg;
	size_t ns;
	char *nb;

	if (w->full || w->oom)
		return -1;
	if (w->len + n + 1 > w->cap) {
		w->full = true;
		return -1;
	}
	if (w->len + n + 1 > w->size) {
		ns = w->size * 2 > w->len + n + 1 ? w->size * 2 : w->len + n + 1;
		if (ns > w->cap)
			ns = w->cap;
		if ((nb = realloc(w->buf, ns)) == NULL) {
			w->oom = true;
			return -1;
		}
		w->buf = nb;
		w->size = ns;
	}
	memcpy(w->buf + w->len, bytes, n);
	w->len += n;
	w->buf[w->len] = '\0';
	return 0;
}

static void
raw(struct jw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* The comma and the member name (key NULL inside an array). */
static void
member(struct jw *w, const char *key)
{
	if (!w->first[w->depth])
		raw(w, ",");
	w->first[w->depth] = false;
	if (key != NULL) {
		json_write_str(put, w, key);
		raw(w, ":");
	}
}

static void
open_(struct jw *w, const char *key, const char *bracket)
{
	member(w, key);
	raw(w, bracket);
	if (w->depth + 1 >= (int)(sizeof(w->first) / sizeof(w->first[0])))
		pg_fatalx("report: nested too deep");
	w->first[++w->depth] = true;
}

static void
close_(struct jw *w, const char *bracket)
{
	w->depth--;
	raw(w, bracket);
}

static void
str(struct jw *w, const char *key, const char *v)
{
	member(w, key);
	if (v == NULL)
		raw(w, "null");
	else
		json_write_str(put, w, v);
}

/* v, or null when v is NULL or "". */
static void
str_or_null(struct jw *w, const char *key, const char *v)
{
	str(w, key, v != NULL && v[0] != '\0' ? v : NULL);
}

static void
num(struct jw *w, const char *key, int64_t v)
{
	char b[32];

	member(w, key);
	snprintf(b, sizeof(b), "%" PRId64, v);
	raw(w, b);
}

/* v, or null when v is negative. */
static void
num_or_null(struct jw *w, const char *key, int64_t v)
{
	if (v < 0) {
		member(w, key);
		raw(w, "null");
	} else
		num(w, key, v);
}

static void
boolean(struct jw *w, const char *key, bool v)
{
	member(w, key);
	raw(w, v ? "true" : "false");
}

static void
tri(struct jw *w, const char *key, enum sid_tri v)
{
	member(w, key);
	raw(w, v == SID_YES ? "true" : v == SID_NO ? "false" : "null");
}

/* An ISO 8601 UTC time, or null for 0 (and for "forever"). */
static void
when(struct jw *w, const char *key, uint64_t ms)
{
	char b[32];

	if (ms == 0 || ms == UINT64_MAX) {
		str(w, key, NULL);
		return;
	}
	pg_format_time(ms, b, sizeof(b));
	str(w, key, b);
}

static const char *
state_name(enum rp_state s)
{
	switch (s) {
	case RP_OFF:    return "off";
	case RP_OK:     return "ok";
	case RP_ABSENT: return "absent";
	case RP_ERROR:  return "error";
	}
	return "error";
}

static void
user(struct jw *w, const struct rp_input *in, const struct dc_user *u)
{
	const struct jh_user *j = u->jh;

	open_(w, NULL, "{");
	str(w, "name", u->name);
	num_or_null(w, "uid", u->uid);
	open_(w, "work", "[");
	if (u->work & DC_WORK_SESSION)
		str(w, NULL, "session");
	if (u->work & DC_WORK_PROCS)
		str(w, NULL, "processes");
	if (u->work & DC_WORK_KERNEL)
		str(w, NULL, "kernel");
	if (u->work & DC_WORK_NOTICE)
		str(w, NULL, "notice");
	close_(w, "]");
	boolean(w, "stale", u->stale);
	when(w, "notice_at", u->notice_ms);
	num(w, "sessions", u->nsessions);
	num(w, "processes", u->procs);
	num(w, "processes_ignored", u->procs_ignored);
	num(w, "processes_stale", u->procs_stale);
	num_or_null(w, "cpu_ms", u->cpu_known ? (int64_t)u->cpu_ms : -1);
	when(w, "last_active", u->last_active_ms);
	num_or_null(w, "idle_s", u->last_active_ms == 0 ? -1 :
	    (int64_t)dc_seconds_since(u->last_active_ms, in->wall_ms));
	if (j == NULL)
		str(w, "jupyter", NULL);
	else {
		open_(w, "jupyter", "{");
		boolean(w, "server", j->server);
		boolean(w, "ready", j->ready);
		boolean(w, "pending", j->pending);
		when(w, "last_activity", j->last_activity_ms);
		num_or_null(w, "kernels_busy", j->kernels_busy);
		num_or_null(w, "kernels_idle", j->kernels_idle);
		num_or_null(w, "kernels_other", j->kernels_other);
		when(w, "kernel_activity", j->kernel_activity_ms);
		close_(w, "}");
	}
	if (u->gpu_procs == 0)
		str(w, "gpu", NULL);
	else {
		open_(w, "gpu", "{");
		num(w, "processes", u->gpu_procs);
		num_or_null(w, "sm_pct", u->gpu_sm_pct);
		num_or_null(w, "fb_mib", u->gpu_fb_mib);
		close_(w, "}");
	}
	close_(w, "}");
}

static void
session(struct jw *w, const struct ag_session *s)
{
	open_(w, NULL, "{");
	str(w, "user", s->user);
	str_or_null(w, "id", s->id);
	str_or_null(w, "tty", s->tty);
	str_or_null(w, "remote", s->remote);
	str_or_null(w, "service", s->service);
	num_or_null(w, "pid", s->pid > 0 ? s->pid : -1);
	when(w, "since", s->since_ms);
	when(w, "input", s->input_ms);
	if (!s->has_peer)
		str(w, "peer", NULL);
	else {
		open_(w, "peer", "{");
		str(w, "address", s->peer_addr);
		num(w, "port", s->peer_port);
		num(w, "local_port", s->local_port);
		close_(w, "}");
	}
	close_(w, "}");
}

static void
key(struct jw *w, const struct sid_key *k)
{
	const struct sid_cert *c = &k->cert;
	size_t i;

	open_(w, NULL, "{");
	str(w, "file", k->file);
	str(w, "type", k->type);
	str(w, "fingerprint", k->fp);
	if (!k->has_cert)
		str(w, "certificate", NULL);
	else {
		open_(w, "certificate", "{");
		boolean(w, "read", k->cert_read);
		str_or_null(w, "error", k->cert_read ? NULL : k->cert_error);
		if (k->cert_read) {
			str(w, "type", c->type);
			boolean(w, "host", c->host);
			str_or_null(w, "key_id", c->key_id);
			str(w, "signing_ca", c->ca_fp);
			open_(w, "principals", "[");
			for (i = 0; i < c->nprincipals; i++)
				str(w, NULL, c->principals[i]);
			close_(w, "]");
			when(w, "valid_from", c->valid_from_ms);
			when(w, "valid_to", c->valid_to_ms);
		}
		tri(w, "signed_by_pool_ca", k->signed_by_pool_ca);
		tri(w, "pool_principal", k->pool_principal);
		tri(w, "valid_now", k->valid_now);
		tri(w, "matches_key", k->matches_key);
		close_(w, "}");
	}
	close_(w, "}");
}

static const struct dc_mem_event *
event_mem(const struct dc_memory *m, const char *id)
{
	size_t i;

	for (i = 0; m != NULL && i < m->nevents; i++)
		if (strcmp(m->events[i].id, id) == 0)
			return &m->events[i];
	return NULL;
}

static void
event(struct jw *w, const struct rp_input *in, const struct se_event *e)
{
	const struct dc_mem_event *em = event_mem(in->mem, e->id);
	size_t i;

	open_(w, NULL, "{");
	str(w, "id", e->id);
	str(w, "type", e->type);
	str_or_null(w, "status", e->status);
	str_or_null(w, "resource_type", e->resource_type);
	open_(w, "resources", "[");
	for (i = 0; i < e->nresources; i++)
		str(w, NULL, e->resources[i]);
	close_(w, "]");
	boolean(w, "this_vm", e->this_vm);
	boolean(w, "pending", se_pending(e));
	when(w, "not_before", e->not_before_ms);
	if (e->not_before_ms == 0)
		str(w, "deadline_s", NULL);
	else
		num(w, "deadline_s", e->not_before_ms > in->wall_ms ?
		    (int64_t)((e->not_before_ms - in->wall_ms) / 1000u) : 0);
	str_or_null(w, "source", e->source);
	str_or_null(w, "description", e->description);
	num_or_null(w, "duration_s", e->duration_s);
	boolean(w, "notified", em != NULL && em->notified);
	boolean(w, "approved", em != NULL && em->approved);
	close_(w, "}");
}

static void
write_all(struct jw *w, const struct rp_input *in, size_t nusers,
    size_t nsess, bool cut)
{
	const struct dc_view *v = in->view;
	uint64_t last;
	bool pending = false;
	size_t i;

	w->depth = 0;
	w->first[0] = true;
	open_(w, NULL, "{");
	num(w, "version", RP_VERSION);
	str(w, "agent", "poolgate-agent " POOLGATE_VERSION);
	str(w, "host", in->host);
	when(w, "time", in->wall_ms);
	num(w, "interval_ms", (int64_t)in->interval_ms);
	num_or_null(w, "load_pct", in->load_pct);
	boolean(w, "drain", in->drain);
	str_or_null(w, "drain_reason", in->drain ? in->drain_reason : NULL);
	boolean(w, "idle", !v->has_work);
	last = v->last_activity_ms > in->mem->started_ms ? v->last_activity_ms :
	    in->mem->started_ms;
	num(w, "activity_s", (int64_t)dc_seconds_since(last, in->wall_ms));
	when(w, "last_activity", v->last_activity_ms);
	num(w, "users_with_work", v->with_work);

	open_(w, "users", "[");
	for (i = 0; i < nusers; i++)
		user(w, in, &v->u[i]);
	close_(w, "]");

	open_(w, "sessions", "[");
	for (i = 0; i < nsess; i++)
		session(w, &in->sess[i]);
	close_(w, "]");

	open_(w, "sources", "{");
	open_(w, "sessions", "{");
	str_or_null(w, "from", in->sess_source);
	str_or_null(w, "error", in->sess_error);
	num(w, "peers_denied", (int64_t)in->peers_denied);
	close_(w, "}");
	open_(w, "processes", "{");
	num(w, "scanned", (int64_t)in->nprocs);
	str_or_null(w, "error", in->procs_error);
	close_(w, "}");
	close_(w, "}");

	open_(w, "jupyterhub", "{");
	str(w, "state", state_name(in->hub_state));
	str_or_null(w, "error", in->hub_error);
	num(w, "users", (int64_t)in->hub_users);
	close_(w, "}");

	open_(w, "gpu", "{");
	str(w, "state", state_name(in->gpu_state));
	str_or_null(w, "error", in->gpu_error);
	if (in->gpu_state == RP_OK && in->gpu != NULL) {
		num(w, "gpus", in->gpu->ngpus);
		num(w, "processes", (int64_t)in->gpu->n);
	}
	close_(w, "}");

	open_(w, "ssh", "{");
	str(w, "state", state_name(in->ssh_state));
	str_or_null(w, "error", in->ssh_error);
	str_or_null(w, "host_ca", in->ssh_ca_fp);
	str_or_null(w, "principal", in->ssh_principal);
	open_(w, "keys", "[");
	for (i = 0; i < in->nkeys; i++)
		key(w, &in->keys[i]);
	close_(w, "]");
	close_(w, "}");

	open_(w, "azure", "{");
	str(w, "state", state_name(in->azure_state));
	str_or_null(w, "error", in->azure_error);
	str_or_null(w, "vm_name", in->azure_vm_name);
	for (i = 0; in->events != NULL && i < in->events->n; i++)
		pending = pending || se_pending(&in->events->ev[i]);
	boolean(w, "pending", pending);
	num_or_null(w, "incarnation", in->events != NULL ?
	    in->events->incarnation : -1);
	open_(w, "events", "[");
	for (i = 0; in->events != NULL && i < in->events->n; i++)
		event(w, in, &in->events->ev[i]);
	close_(w, "]");
	close_(w, "}");

	open_(w, "limits", "{");
	boolean(w, "users_truncated", v->users_truncated || nusers < v->n);
	boolean(w, "sessions_truncated", in->sess_truncated || nsess < in->nsess);
	boolean(w, "processes_truncated", in->procs_truncated);
	boolean(w, "report_truncated", cut);
	close_(w, "}");
	close_(w, "}");
	raw(w, "\n");
}

char *
rp_write(const struct rp_input *in, size_t *len)
{
	struct jw w;
	size_t nusers = in->view->n, nsess = in->nsess;
	bool cut = false;

	for (;;) {
		memset(&w, 0, sizeof(w));
		w.cap = in->max_report;
		write_all(&w, in, nusers, nsess, cut);
		if (w.oom) {
			free(w.buf);
			return NULL;
		}
		if (!w.full)
			break;
		free(w.buf);
		/* Leave out the sessions, then the users, from the end. */
		cut = true;
		if (nsess > 0)
			nsess /= 2;
		else if (nusers > 0)
			nusers /= 2;
		else
			pg_fatalx("report: %zu bytes cannot hold an empty report",
			    in->max_report);
	}
	*len = w.len;
	return w.buf;
}
