/*
 * opsmetrics.c -- see opsmetrics.h.
 */
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "admin/commit.h"
#include "admin/opsmetrics.h"
#include "backends/backend.h"
#include "lib/histo.h"

#ifndef POOLGATE_VERSION
#define POOLGATE_VERSION "unknown"
#endif

static void
prom_head(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A label value from outside: backslash, quote and newline escaped. */
static void
prom_label(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

/* ---- process_*: as the Prometheus client libraries name them ---------------- */

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	    ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* Resident and virtual bytes from /proc/self/statm; 0 when unreadable. */
static void
memory(unsigned long long *rss, unsigned long long *vsz)
{
	unsigned long long pages_v = 0, pages_r = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "re");

	if (f != NULL) {
		if (fscanf(f, "%llu %llu", &pages_v, &pages_r) != 2)
			pages_v = pages_r = 0;
		fclose(f);
	}
	*rss = pages_r * (unsigned long long)(page > 0 ? page : 4096);
	*vsz = pages_v * (unsigned long long)(page > 0 ? page : 4096);
}

/* Open descriptors: the entries of /proc/self/fd, less the one reading it. */
static long long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void
w_process(struct evbuffer *out, const struct adm_ctx *a, uint64_t now,
    uint64_t wall)
{
	/* worked out once: the same value at every scrape */
	static double start_s;
	unsigned long long rss, vsz;
	struct rlimit rl;
	long long fds = open_fds();

	if (start_s == 0)
		start_s = (double)(wall - (now - a->started_ms)) / 1000.0;
	memory(&rss, &vsz);
	prom_head(out, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	evbuffer_add_printf(out, "process_cpu_seconds_total %.6f\n", cpu_seconds());
	prom_head(out, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.");
	evbuffer_add_printf(out, "process_resident_memory_bytes %llu\n", rss);
	prom_head(out, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.");
	evbuffer_add_printf(out, "process_virtual_memory_bytes %llu\n", vsz);
	if (fds >= 0) {
		prom_head(out, "process_open_fds", "gauge",
		    "Number of open file descriptors.");
		evbuffer_add_printf(out, "process_open_fds %lld\n", fds);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		prom_head(out, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		evbuffer_add_printf(out, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	prom_head(out, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	evbuffer_add_printf(out, "process_start_time_seconds %.3f\n", start_s);
}

/* ---- per VM -------------------------------------------------------------------- */

/* Capacity, for "pool near capacity": the session cap in force (0: none). */
static void
w_pool(struct evbuffer *out, const struct adm_ctx *a)
{
	const struct pool *p = &a->px->mbr->pool;

	prom_head(out, "poolgate_backend_max_sessions", "gauge",
	    "The VM's session cap in force (max_sessions or its agent's), 0 "
	    "for none.");
	for (size_t i = 0; i < p->n; i++) {
		evbuffer_add(out, "poolgate_backend_max_sessions{backend=\"", 39);
		prom_label(out, p->be[i]->name);
		evbuffer_add_printf(out, "\"} %d\n", be_max_sessions(p->be[i]));
	}
}

/* ---- per service -------------------------------------------------------------- */

static void
w_histo(struct evbuffer *out, const char *name, const char *svc,
    const struct histo *h, const struct histo_bounds *b)
{
	for (size_t i = 0; i < b->n; i++) {
		evbuffer_add_printf(out, "%s_bucket{service=\"", name);
		prom_label(out, svc);
		evbuffer_add_printf(out, "\",le=\"%g\"} %llu\n", b->le[i],
		    (unsigned long long)histo_cumulative(h, b, i));
	}
	evbuffer_add_printf(out, "%s_bucket{service=\"", name);
	prom_label(out, svc);
	evbuffer_add_printf(out, "\",le=\"+Inf\"} %llu\n%s_sum{service=\"",
	    (unsigned long long)h->count, name);
	prom_label(out, svc);
	evbuffer_add_printf(out, "\"} %.6f\n%s_count{service=\"", h->sum, name);
	prom_label(out, svc);
	evbuffer_add_printf(out, "\"} %llu\n", (unsigned long long)h->count);
}

static void
w_services(struct evbuffer *out, const struct adm_ctx *a)
{
	const struct px_ctx *px = a->px;

	prom_head(out, "poolgate_http_responses_total", "counter",
	    "Responses sent to clients by http services, by status class.");
	for (size_t s = 0; s < px->nsvc; s++) {
		if (px->svc[s]->cfg.mode != SVC_MODE_HTTP)
			continue;
		for (int c = 0; c < 5; c++) {
			evbuffer_add(out, "poolgate_http_responses_total{service=\"", 39);
			prom_label(out, px->svc[s]->cfg.name);
			evbuffer_add_printf(out, "\",code=\"%dxx\"} %llu\n", c + 1,
			    (unsigned long long)px->svc[s]->http_responses[c]);
		}
	}
	prom_head(out, "poolgate_backend_connect_seconds", "histogram",
	    "Time to connect to a VM, connects that succeeded.");
	for (size_t s = 0; s < px->nsvc; s++)
		w_histo(out, "poolgate_backend_connect_seconds", px->svc[s]->cfg.name,
		    &px->svc[s]->connect_hist, &px_connect_bounds);
	prom_head(out, "poolgate_session_duration_seconds", "histogram",
	    "How long sessions (tcp) and connections (http) lasted.");
	for (size_t s = 0; s < px->nsvc; s++)
		w_histo(out, "poolgate_session_duration_seconds", px->svc[s]->cfg.name,
		    &px->svc[s]->duration_hist, &px_duration_bounds);
}

void
opsmetrics_write(struct evbuffer *out, const struct adm_ctx *a, uint64_t now,
    uint64_t wall)
{
	prom_head(out, "poolgate_build_info", "gauge",
	    "1, with the version and the git commit poolgate was built from.");
	evbuffer_add_printf(out, "poolgate_build_info{version=\"%s\",commit=\"%s\"} 1\n",
	    POOLGATE_VERSION, POOLGATE_COMMIT);
	prom_head(out, "poolgate_last_reload_success_timestamp_seconds", "gauge",
	    "When the running configuration was loaded: the start, or the last "
	    "reload applied.");
	evbuffer_add_printf(out, "poolgate_last_reload_success_timestamp_seconds "
	    "%.3f\n", (double)a->reload_ok_wall_ms / 1000.0);
	prom_head(out, "poolgate_last_reload_successful", "gauge",
	    "0 while the last reload was refused (the previous configuration "
	    "runs), else 1.");
	evbuffer_add_printf(out, "poolgate_last_reload_successful %d\n",
	    a->reload_error[0] == '\0');
	w_pool(out, a);
	w_services(out, a);
	w_process(out, a, now, wall);
}
