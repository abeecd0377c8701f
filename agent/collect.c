/*
 * collect.c -- see collect.h.
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/collect.h"
#include "agent/decide.h"
#include "agent/gpu.h"
#include "agent/httpc.h"
#include "agent/jhub.h"
#include "agent/load.h"
#include "agent/notify.h"
#include "agent/peers.h"
#include "agent/procs.h"
#include "agent/report.h"
#include "agent/run.h"
#include "agent/sched.h"
#include "agent/sessions.h"
#include "agent/sshid.h"
#include "agent/util.h"
#include "config/config.h"
#include "lib/log.h"

#define SESS_MAX        1024      /* sessions read per collection */
#define TOKEN_MAX       4096      /* bytes of the JupyterHub token file */
#define HUB_BODY_MAX    (4u << 20)
#define IMDS_BODY_MAX   (1u << 20)
#define ERR_MAX         256

struct col {
	pthread_mutex_t    mu;            /* guards the fields marked (mu) */
	pthread_cond_t     cv;
	pthread_t          thread;
	bool               running;
	bool               stop;          /* (mu) */
	struct acf        *next_cfg;      /* (mu) a reload waiting to be used */
	char              *report;        /* (mu) the last report */
	size_t             report_len;    /* (mu) */
	bool               event_drain;   /* (mu) */
	char               event_reason[128]; /* (mu) */

	/* The collector thread's own. */
	struct acf        *cfg;
	struct ps_memory   psmem;
	struct dc_memory   mem;
	uint64_t           last_mono;     /* the previous collection, 0 none */
	long               clk_tck;
	int                ncpu;
	/* ssh */
	struct sid_key     keys[SID_KEYS_MAX];
	size_t             nkeys;
	uint64_t           ssh_next_mono;
	enum rp_state      ssh_state;
	char               ssh_error[ERR_MAX];
	char               ca_fp[SID_FP_MAX];
	/* azure */
	char               vm_name[SE_VMNAME_MAX + 1];
	struct se_doc      events;
	bool               have_events;
	enum rp_state      azure_state;
	char               azure_error[ERR_MAX];
	bool               azure_failing;
	unsigned           azure_failures;  /* in a row: the back-off */
	uint64_t           azure_next_mono; /* no poll before this */
	/* once-per-outage logging */
	bool               hub_failing;
	bool               gpu_failing;
};

struct col *
col_new(struct acf *cfg)
{
	struct col *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (c == NULL)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->cfg = cfg;
	c->clk_tck = sysconf(_SC_CLK_TCK);
	dc_memory_init(&c->mem, ag_wall_ms());
	return c;
}

void
col_set_config(struct col *c, struct acf *cfg)
{
	pthread_mutex_lock(&c->mu);
	acf_free(c->next_cfg);
	c->next_cfg = cfg;
	pthread_mutex_unlock(&c->mu);
}

char *
col_report(struct col *c, size_t *len)
{
	char *copy = NULL;

	pthread_mutex_lock(&c->mu);
	if (c->report != NULL && (copy = malloc(c->report_len + 1)) != NULL) {
		memcpy(copy, c->report, c->report_len + 1);
		*len = c->report_len;
	}
	pthread_mutex_unlock(&c->mu);
	return copy;
}

bool
col_event_drain(struct col *c, char *reason, size_t size)
{
	bool d;

	pthread_mutex_lock(&c->mu);
	d = c->event_drain;
	if (d)
		ag_copy(reason, size, c->event_reason);
	pthread_mutex_unlock(&c->mu);
	return d;
}

static bool
uid_name(void *arg, uint32_t uid, char *name, size_t size)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	(void)arg;
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) != 0 ||
	    res == NULL)
		return false;
	ag_copy(name, size, pw.pw_name);
	return true;
}

/* ---- sessions ------------------------------------------------------------ */

static size_t
read_sessions(struct col *c, struct ag_session *s, bool *trunc,
    const char **source, char *err, size_t errlen)
{
	const struct acf *cfg = c->cfg;
	size_t n = 0;

	*trunc = false;
	*source = "logind";
	if (cfg->sessions != ACF_SESS_UTMP) {
		if (ss_read_logind(cfg->logind_dir, s, SESS_MAX, &n, trunc, err,
		    errlen) == 0)
			return n;
		if (cfg->sessions == ACF_SESS_LOGIND || errno != ENOENT)
			return 0;
		err[0] = '\0';
	}
	*source = "utmp";
	if (ss_read_utmp(cfg->utmp, cfg->proc_root, s, SESS_MAX, &n, trunc, err,
	    errlen) == -1)
		return 0;
	return n;
}

/* ---- JupyterHub ---------------------------------------------------------- */

/* The token, trimmed; NULL with err. The caller wipes and frees it. */
static char *
read_token(const char *file, char *err, size_t errlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096], *t;
	size_t len, i;

	if (file[0] != '/' && dir != NULL)
		snprintf(path, sizeof(path), "%s/%s", dir, file);
	else
		snprintf(path, sizeof(path), "%s", file);
	if ((t = ag_read_text(path, TOKEN_MAX, &len)) == NULL) {
		ag_errf(err, errlen, "token file %s: %s", path, strerror(errno));
		return NULL;
	}
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' ||
	    t[len - 1] == ' ' || t[len - 1] == '\t'))
		t[--len] = '\0';
	for (i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			break;
	if (len == 0 || i < len) {
		ag_errf(err, errlen, "token file %s: %s", path, len == 0 ?
		    "empty" : "not one word of printable characters");
		explicit_bzero(t, len);
		free(t);
		return NULL;
	}
	return t;
}

static enum rp_state
ask_hub(struct col *c, struct jh_user *users, size_t max, size_t *n,
    uint64_t budget_end, char *err, size_t errlen)
{
	const struct acf *cfg = c->cfg;
	char *token, hdr[TOKEN_MAX + 32], path[512];
	const char *hdrs[2] = { hdr, NULL };
	struct hcl_url base, host;
	struct hcl_resp r;
	size_t offset = 0, page, i;
	bool trunc = false, kerr = false;
	enum rp_state st = RP_ERROR;
	char perr[ERR_MAX];

	*n = 0;
	if (hcl_parse_url(cfg->hub_url, &base) == -1) {
		ag_errf(err, errlen, "bad jupyterhub.url");
		return RP_ERROR;
	}
	if ((token = read_token(cfg->hub_token_file, err, errlen)) == NULL)
		return RP_ERROR;
	snprintf(hdr, sizeof(hdr), "Authorization: token %s", token);
	explicit_bzero(token, strlen(token));
	free(token);
	for (;;) {
		snprintf(path, sizeof(path), "/hub/api/users?state=active&offset=%zu"
		    "&limit=%d", offset, JH_PAGE);
		if (hcl_request("GET", &base, path, hdrs, NULL, 0,
		    cfg->hub_timeout_ms, HUB_BODY_MAX, &r, err, errlen) == -1)
			goto out;
		if (r.status != 200) {
			ag_errf(err, errlen, "GET /hub/api/users: HTTP %d%s", r.status,
			    r.status == 401 || r.status == 403 ? " (the token needs "
			    "list:users and read:users:activity)" : "");
			hcl_resp_free(&r);
			goto out;
		}
		if (jh_parse_users(r.body, r.len, users, max, n, &page, &trunc, err,
		    errlen) == -1) {
			hcl_resp_free(&r);
			goto out;
		}
		hcl_resp_free(&r);
		offset += page;
		if (page < JH_PAGE || trunc || offset > max + JH_PAGE)
			break;
	}
	st = RP_OK;
	err[0] = '\0';
	if (!cfg->hub_kernels)
		goto out;
	/* The servers' URLs carry the hub's base_url already: ask the host. */
	host = base;
	host.path[0] = '\0';
	for (i = 0; i < *n; i++) {
		if (!users[i].ready || users[i].server_url[0] == '\0')
			continue;
		if (ag_mono_ms() >= budget_end) {
			ag_errf(err, errlen, "kernels: not all asked within the interval");
			break;
		}
		snprintf(path, sizeof(path), "%s%sapi/kernels?no_track_activity=1",
		    users[i].server_url, users[i].server_url[strlen(
		    users[i].server_url) - 1] == '/' ? "" : "/");
		if (hcl_request("GET", &host, path, hdrs, NULL, 0,
		    cfg->hub_timeout_ms, HUB_BODY_MAX, &r, perr, sizeof(perr)) == -1) {
			if (!kerr)
				ag_errf(err, errlen, "kernels of %s: %s", users[i].name, perr);
			kerr = true;
			continue;
		}
		if (r.status != 200) {
			if (!kerr)
				ag_errf(err, errlen, "kernels of %s: HTTP %d%s",
				    users[i].name, r.status, r.status == 403 ?
				    " (the token needs access:servers)" : "");
			kerr = true;
		} else if (jh_parse_kernels(r.body, r.len, &users[i], perr,
		    sizeof(perr)) == -1 && !kerr) {
			ag_errf(err, errlen, "kernels of %s: %s", users[i].name, perr);
			kerr = true;
		}
		hcl_resp_free(&r);
	}
out:
	explicit_bzero(hdr, sizeof(hdr));
	return st;
}

/* ---- nvidia-smi ---------------------------------------------------------- */

static enum rp_state
ask_gpu(struct col *c, struct gpu_sample *g, char *err, size_t errlen)
{
	const char *argv[] = { c->cfg->gpu_command, "pmon", "-c", "1", "-s", "um",
	    NULL };
	struct run_result r;
	enum rp_state st;

	if (c->cfg->gpu_command[0] == '\0')
		return RP_OFF;
	switch (run_capture(argv, NULL, c->cfg->gpu_timeout_ms, GPU_OUTPUT_MAX,
	    &r)) {
	case RUN_NOTFOUND:
		return RP_ABSENT;       /* no GPU here: skipped silently */
	case RUN_OK:
		st = gpu_parse_pmon(r.out, r.len, g, err, errlen) == 0 ? RP_OK :
		    RP_ERROR;
		break;
	default:
		ag_errf(err, errlen, "%s", r.err);
		st = RP_ERROR;
		break;
	}
	run_result_free(&r);
	return st;
}

/* ---- SSH host keys ------------------------------------------------------- */

static void
ask_ssh(struct col *c, uint64_t now_mono, uint64_t now_wall)
{
	const struct acf *cfg = c->cfg;
	char err[ERR_MAX] = "";
	size_t i;

	if (now_mono >= c->ssh_next_mono) {
		c->ssh_next_mono = now_mono + cfg->ssh_refresh_ms;
		c->ca_fp[0] = '\0';
		c->ssh_error[0] = '\0';
		if (cfg->ssh_host_ca[0] != '\0' && sid_ca_fingerprint(
		    cfg->ssh_host_ca, c->ca_fp, sizeof(c->ca_fp), err,
		    sizeof(err)) == -1)
			ag_errf(c->ssh_error, sizeof(c->ssh_error), "ssh.host_ca: %s",
			    err);
		if (sid_collect(cfg->ssh_dir, cfg->ssh_keygen, 5000, c->ca_fp,
		    cfg->ssh_principal, now_wall, c->keys, &c->nkeys, err,
		    sizeof(err)) == -1) {
			ag_errf(c->ssh_error, sizeof(c->ssh_error), "%s", err);
			c->ssh_state = RP_ERROR;
		} else
			c->ssh_state = c->ssh_error[0] != '\0' ? RP_ERROR : RP_OK;
	}
	/* Validity moves with the clock. */
	for (i = 0; i < c->nkeys; i++)
		sid_judge(&c->keys[i], c->ca_fp, cfg->ssh_principal, now_wall);
}

/* ---- Azure --------------------------------------------------------------- */

static void
ask_azure(struct col *c, uint64_t now)
{
	const struct acf *cfg = c->cfg;
	static const char *const hdrs[] = { "Metadata: true", NULL };
	struct hcl_url base;
	struct hcl_resp r, name;
	struct se_doc doc;
	char err[ERR_MAX] = "";
	uint64_t wait;
	size_t len;

	if (!cfg->azure_enabled) {
		c->azure_state = RP_OFF;
		c->have_events = false;
		return;
	}
	if (now < c->azure_next_mono)
		return;         /* backing off: the last state stays */
	if (hcl_parse_url(cfg->azure_url, &base) == -1) {
		ag_errf(err, sizeof(err), "bad azure.url");
		goto fail;
	}
	if (hcl_request("GET", &base,
	    "/metadata/scheduledevents?api-version=2020-07-01", hdrs, NULL, 0,
	    cfg->azure_timeout_ms, IMDS_BODY_MAX, &r, err, sizeof(err)) == -1)
		goto fail;
	if (r.status != 200) {
		ag_errf(err, sizeof(err), "GET scheduledevents: HTTP %d", r.status);
		hcl_resp_free(&r);
		goto fail;
	}
	/* The VM's name, once, to tell its events from the others'. */
	if (cfg->azure_vm_name[0] != '\0')
		ag_copy(c->vm_name, sizeof(c->vm_name), cfg->azure_vm_name);
	else if (c->vm_name[0] == '\0' && hcl_request("GET", &base,
	    "/metadata/instance/compute/name?api-version=2021-02-01&format=text",
	    hdrs, NULL, 0, cfg->azure_timeout_ms, 4096, &name, err,
	    sizeof(err)) == 0) {
		len = name.len;
		while (len > 0 && (name.body[len - 1] == '\n' ||
		    name.body[len - 1] == '\r'))
			len--;
		if (name.status == 200 && len > 0 && len <= SE_VMNAME_MAX)
			ag_copyn(c->vm_name, sizeof(c->vm_name), name.body, len);
		hcl_resp_free(&name);
	}
	if (se_parse(r.body, r.len, c->vm_name, &doc, err, sizeof(err)) == -1) {
		hcl_resp_free(&r);
		goto fail;
	}
	hcl_resp_free(&r);
	c->events = doc;
	c->have_events = true;
	dc_events_forget(&c->mem, &doc);
	c->azure_state = RP_OK;
	c->azure_error[0] = '\0';
	if (c->vm_name[0] == '\0')
		ag_errf(c->azure_error, sizeof(c->azure_error),
		    "this VM's name is unknown: events are not matched to it");
	if (c->azure_failing)
		log_info("azure: the metadata service answers again");
	c->azure_failing = false;
	c->azure_failures = 0;
	return;
fail:
	/*
	 * The last answer stays: it is the best knowledge of what is coming.
	 * Off Azure nothing answers: poll less and less often, up to once in
	 * 16 intervals, so the other collectors keep their pace.
	 */
	c->azure_state = RP_ERROR;
	ag_errf(c->azure_error, sizeof(c->azure_error), "%s", err);
	if (!c->azure_failing)
		log_info("azure: scheduled events not read (%s); retrying", err);
	c->azure_failing = true;
	if (c->azure_failures < 4)
		c->azure_failures++;
	wait = cfg->interval_ms * ((1u << c->azure_failures) - 1);
	c->azure_next_mono = now + wait;
}

static void
approve(struct col *c, const struct se_event *e, struct dc_mem_event *em)
{
	static const char *const hdrs[] = { "Metadata: true", NULL };
	char body[256], err[ERR_MAX];
	struct hcl_url base;
	struct hcl_resp r;
	size_t len;

	if ((len = se_approval_body(e->id, body, sizeof(body))) == 0 ||
	    hcl_parse_url(c->cfg->azure_url, &base) == -1)
		return;
	if (hcl_request("POST", &base,
	    "/metadata/scheduledevents?api-version=2020-07-01", hdrs, body, len,
	    c->cfg->azure_timeout_ms, 65536, &r, err, sizeof(err)) == -1) {
		log_warn("azure: approving %s %s failed: %s", e->type, e->id, err);
		return;
	}
	if (r.status >= 200 && r.status < 300) {
		struct pg_kv kv[] = { KV_S("id", e->id), KV_S("type", e->type) };

		em->approved = true;
		pg_log_event(PG_LOG_INFO, "azure_event_approved", kv, 2);
	} else
		log_warn("azure: approving %s %s: HTTP %d", e->type, e->id, r.status);
	hcl_resp_free(&r);
}

/* ---- the cycle ----------------------------------------------------------- */

static void
notify_stale(struct col *c, const struct dc_user *u,
    const struct ag_session *s, size_t n, const char *host, uint64_t now)
{
	char text[512], msg[NT_TEXT_MAX + 1], after[32], grace[32];
	size_t len, sent;

	cfg_format_duration(c->cfg->stale_after_ms, after, sizeof(after));
	cfg_format_duration(c->cfg->stale_notice_ms, grace, sizeof(grace));
	snprintf(text, sizeof(text), "%s: nothing of yours has moved on this VM "
	    "for %s (no CPU, no terminal input, no Jupyter activity).\nUnless you "
	    "use it within %s, this VM may be shut down and your processes "
	    "ended.", u->name, after, grace);
	len = nt_format(host, now, text, msg, sizeof(msg));
	sent = nt_send(c->cfg->dev_root, s, n, u->name, msg, len);
	{
		struct pg_kv kv[] = { KV_S("user", u->name), KV_N("terminals", sent),
		    KV_N("processes", u->procs) };

		pg_log_event(PG_LOG_INFO, "stale_notice", kv, 3);
	}
}

static void
notify_event(struct col *c, const struct se_event *e,
    const struct ag_session *s, size_t n, const char *host, uint64_t now)
{
	char text[512], msg[NT_TEXT_MAX + 1], when[32] = "now";
	size_t len, sent;

	if (e->not_before_ms > 0)
		pg_format_time(e->not_before_ms, when, sizeof(when));
	snprintf(text, sizeof(text), "Azure has scheduled a %s of this VM (%s), "
	    "not before %s%s%llu minute(s) from now.\nSave your work now.",
	    e->type, c->vm_name, when, e->not_before_ms > 0 ? ", " : "",
	    (unsigned long long)(e->not_before_ms > now ?
	    (e->not_before_ms - now) / 60000u : 0));
	len = nt_format(host, now, text, msg, sizeof(msg));
	sent = nt_send(c->cfg->dev_root, s, n, NULL, msg, len);
	{
		struct pg_kv kv[] = { KV_S("id", e->id), KV_S("type", e->type),
		    KV_S("not_before", when), KV_N("terminals", sent) };

		pg_log_event(PG_LOG_WARN, "azure_event", kv, 4);
	}
}

void
col_cycle(struct col *c)
{
	struct ag_session *sess = NULL;
	struct ps_proc *procs = NULL;
	struct jh_user *jh = NULL;
	struct gpu_sample *gpu = NULL;
	struct dc_input in = { 0 };
	struct dc_view view = { 0 };
	struct rp_input rp = { 0 };
	struct dc_mem_event *em;
	char sess_err[ERR_MAX] = "", procs_err[ERR_MAX] = "", hub_err[ERR_MAX] = "",
	    gpu_err[ERR_MAX] = "", host[256] = "", drain_reason[LD_REASON_MAX + 1],
	    ev_reason[128] = "", when[32];
	size_t nsess = 0, nprocs = 0, njh = 0, i, len;
	bool sess_trunc = false, procs_trunc = false, ev_drain = false;
	const char *sess_source = "";
	enum rp_state hub_state = RP_OFF, gpu_state = RP_OFF;
	struct acf *cfg;
	uint64_t interval;
	char *report;

	pthread_mutex_lock(&c->mu);
	if (c->next_cfg != NULL) {
		acf_free(c->cfg);
		c->cfg = c->next_cfg;
		c->next_cfg = NULL;
		c->ssh_next_mono = 0;     /* read the keys with the new settings */
	}
	pthread_mutex_unlock(&c->mu);
	cfg = c->cfg;
	pg_log_set_level((enum pg_log_level)cfg->log_level);
	in.now.mono_ms = ag_mono_ms();
	in.now.wall_ms = ag_wall_ms();
	interval = c->last_mono != 0 ? in.now.mono_ms - c->last_mono :
	    cfg->interval_ms;
	c->last_mono = in.now.mono_ms;
	gethostname(host, sizeof(host) - 1);

	/* Sessions and processes. */
	if ((sess = calloc(SESS_MAX, sizeof(*sess))) != NULL) {
		nsess = read_sessions(c, sess, &sess_trunc, &sess_source, sess_err,
		    sizeof(sess_err));
		ss_input_times(sess, nsess, cfg->dev_root);
	} else
		snprintf(sess_err, sizeof(sess_err), "out of memory");
	procs = ps_scan(cfg->proc_root, (size_t)cfg->max_processes, &nprocs,
	    &procs_trunc, procs_err, sizeof(procs_err));
	if (procs != NULL)
		ps_account(&c->psmem, procs, nprocs, in.now.mono_ms, c->clk_tck);
	else
		procs_trunc = true;   /* nothing seen: not idle */
	rp.peers_denied = pr_find_peers(cfg->proc_root, sess, nsess, procs, nprocs,
	    cfg->ssh_ports, cfg->nssh_ports);

	/* JupyterHub, on at most half the interval for the kernels. */
	if (cfg->hub_url[0] != '\0' &&
	    (jh = calloc((size_t)cfg->max_users, sizeof(*jh))) != NULL) {
		hub_state = ask_hub(c, jh, (size_t)cfg->max_users, &njh,
		    in.now.mono_ms + cfg->interval_ms / 2, hub_err, sizeof(hub_err));
		if (hub_state == RP_ERROR && !c->hub_failing)
			log_warn("jupyterhub: %s", hub_err);
		c->hub_failing = hub_state == RP_ERROR;
	}
	if ((gpu = calloc(1, sizeof(*gpu))) != NULL) {
		gpu_state = ask_gpu(c, gpu, gpu_err, sizeof(gpu_err));
		if (gpu_state == RP_ERROR && !c->gpu_failing)
			log_warn("gpu: %s", gpu_err);
		c->gpu_failing = gpu_state == RP_ERROR;
	}
	ask_ssh(c, in.now.mono_ms, in.now.wall_ms);
	ask_azure(c, in.now.mono_ms);

	/* Decide. */
	in.sess = sess;
	in.nsess = nsess;
	in.procs = procs;
	in.nprocs = nprocs;
	in.procs_truncated = procs_trunc;
	in.jh = hub_state == RP_OK ? jh : NULL;
	in.njh = hub_state == RP_OK ? njh : 0;
	in.gpu = gpu_state == RP_OK ? gpu : NULL;
	in.min_uid = (uint32_t)cfg->min_uid;
	in.ignore = (const char *const *)cfg->ignore;
	in.nignore = cfg->nignore;
	in.stale_after_ms = cfg->stale_after_ms;
	in.stale_notice_ms = cfg->stale_notice_ms;
	in.max_users = (size_t)cfg->max_users;
	in.uid_name = uid_name;
	dc_build(&in, &c->mem, &view);

	/* Act: notices, approvals. */
	for (i = 0; i < view.n; i++)
		if (view.u[i].notify_stale)
			notify_stale(c, &view.u[i], sess, nsess, host, in.now.wall_ms);
	for (i = 0; c->have_events && i < c->events.n; i++) {
		const struct se_event *e = &c->events.ev[i];

		if (!se_pending(e) || (em = dc_event_mem(&c->mem, e->id)) == NULL)
			continue;
		if (!ev_drain) {
			if (e->not_before_ms > 0)
				pg_format_time(e->not_before_ms, when, sizeof(when));
			snprintf(ev_reason, sizeof(ev_reason), "azure %s %s%s", e->type,
			    e->not_before_ms > 0 ? "not before " : "now",
			    e->not_before_ms > 0 ? when : "");
			ev_drain = cfg->azure_drain;
		}
		if (dc_event_notify(e, em)) {
			notify_event(c, e, sess, nsess, host, in.now.wall_ms);
			em->notified = true;
		}
		if (cfg->azure_approve && dc_event_approve(e, em, view.has_work,
		    in.now.wall_ms))
			approve(c, e, em);
	}

	/* Report. */
	rp.wall_ms = in.now.wall_ms;
	rp.interval_ms = interval;
	rp.host = host;
	rp.load_pct = ld_read_percent(cfg->proc_root, cfg->ncpu > 0 ?
	    (int)cfg->ncpu : (int)sysconf(_SC_NPROCESSORS_ONLN));
	rp.drain = ld_drain(cfg->drain_file, drain_reason, sizeof(drain_reason));
	rp.drain_reason = drain_reason;
	rp.view = &view;
	rp.mem = &c->mem;
	rp.sess = sess;
	rp.nsess = nsess;
	rp.sess_source = sess_source;
	rp.sess_error = sess_err;
	rp.sess_truncated = sess_trunc;
	rp.nprocs = nprocs;
	rp.procs_truncated = procs_trunc;
	rp.procs_error = procs_err;
	rp.hub_state = hub_state;
	rp.hub_error = hub_err;
	rp.hub_users = njh;
	rp.gpu_state = gpu_state;
	rp.gpu = gpu;
	rp.gpu_error = gpu_err;
	rp.ssh_state = c->ssh_state;
	rp.keys = c->keys;
	rp.nkeys = c->nkeys;
	rp.ssh_ca_fp = c->ca_fp;
	rp.ssh_principal = cfg->ssh_principal;
	rp.ssh_error = c->ssh_error;
	rp.azure_state = c->azure_state;
	rp.azure_vm_name = c->vm_name;
	rp.events = c->have_events ? &c->events : NULL;
	rp.azure_error = c->azure_error;
	rp.max_report = (size_t)cfg->max_report;
	report = rp_write(&rp, &len);
	if (report == NULL)
		log_err("report: out of memory; serving the previous one");

	pthread_mutex_lock(&c->mu);
	if (report != NULL) {
		free(c->report);
		c->report = report;
		c->report_len = len;
	}
	c->event_drain = ev_drain;
	ag_copy(c->event_reason, sizeof(c->event_reason), ev_reason);
	pthread_mutex_unlock(&c->mu);

	dc_view_free(&view);
	free(sess);
	free(procs);
	free(jh);
	free(gpu);
}

static void *
loop(void *arg)
{
	struct col *c = arg;
	struct timespec ts;
	uint64_t next;
	sigset_t all;

	/* Signals are the event loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		next = ag_mono_ms() + c->cfg->interval_ms;
		col_cycle(c);
		pthread_mutex_lock(&c->mu);
		while (!c->stop && ag_mono_ms() < next) {
			ts.tv_sec = (time_t)(next / 1000);
			ts.tv_nsec = (long)(next % 1000) * 1000000L;
			pthread_cond_timedwait(&c->cv, &c->mu, &ts);
		}
		if (c->stop) {
			pthread_mutex_unlock(&c->mu);
			return NULL;
		}
		pthread_mutex_unlock(&c->mu);
	}
}

int
col_start(struct col *c)
{
	if (pthread_create(&c->thread, NULL, loop, c) != 0)
		return -1;
	c->running = true;
	return 0;
}

void
col_free(struct col *c)
{
	if (c == NULL)
		return;
	if (c->running) {
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
	}
	ps_memory_free(&c->psmem);
	dc_memory_free(&c->mem);
	acf_free(c->cfg);
	acf_free(c->next_cfg);
	free(c->report);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
