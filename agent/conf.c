/*
 * conf.c -- see conf.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "agent/conf.h"
#include "agent/httpc.h"
#include "agent/util.h"
#include "lib/log.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

#define F(m)  offsetof(struct acf, m)
#define NOF   0

const struct acf_setting acf_settings[] = {
	{ "listen", ACF_T_ADDRS, "0.0.0.0:9101", 0, 0, NULL,
	  "addresses to listen on, ADDR:PORT ([v6]:PORT), one or a list",
	  F(listen), F(nlisten) },
	{ "interval", ACF_T_DURATION, "5s", 1 * SEC, 10 * MIN, NULL,
	  "time between two collections (and the CPU interval of the report)",
	  F(interval_ms), NOF },
	{ "line_wait", ACF_T_DURATION, "100ms", 10, 5 * SEC, NULL,
	  "how long a silent connection waits before it gets the agent-check line",
	  F(line_wait_ms), NOF },
	{ "http_timeout", ACF_T_DURATION, "2s", 100, 60 * SEC, NULL,
	  "time a client has to send its HTTP request head, and to read the answer",
	  F(http_timeout_ms), NOF },
	{ "max_connections", ACF_T_INT, "64", 1, 4096, NULL,
	  "connections served at once; more are closed at once",
	  F(max_connections), NOF },
	{ "min_uid", ACF_T_INT, "1000", 0, 4294967295LL, NULL,
	  "processes of uids below this are the system's, not user work",
	  F(min_uid), NOF },
	{ "ignore", ACF_T_NAMES, "systemd,(sd-pam)", 0, ACF_IGNORE_MAX, NULL,
	  "process names (the kernel's comm, up to 15 bytes) that are never user work",
	  F(ignore), F(nignore) },
	{ "stale_after", ACF_T_DURATION, "0s", 0, 30 * DAY, NULL,
	  "a user none of whose things moved for this long is stale; 0s: off",
	  F(stale_after_ms), NOF },
	{ "stale_notice", ACF_T_DURATION, "10m", 0, 1 * DAY, NULL,
	  "time between the stale notice to a user and their work no longer counting",
	  F(stale_notice_ms), NOF },
	{ "max_users", ACF_T_INT, "256", 1, 4096, NULL,
	  "users in the report; more make the VM count as busy",
	  F(max_users), NOF },
	{ "max_processes", ACF_T_INT, "32768", 64, 1048576, NULL,
	  "processes read per collection; more make the VM count as busy",
	  F(max_processes), NOF },
	{ "max_report", ACF_T_INT, "1048576", 65536, 16777216, NULL,
	  "bytes of the JSON report; users are left out past it",
	  F(max_report), NOF },
	{ "ncpu", ACF_T_INT, "0", 0, 4096, NULL,
	  "CPUs for the load percent; 0: the CPUs online",
	  F(ncpu), NOF },
	{ "proc_root", ACF_T_PATH, "/proc", 0, 0, NULL,
	  "where /proc is read (tests point it at a fake tree)",
	  F(proc_root), NOF },
	{ "dev_root", ACF_T_PATH, "/dev", 0, 0, NULL,
	  "where the terminals of sessions are (their input times; notices)",
	  F(dev_root), NOF },
	{ "drain_file", ACF_T_PATH, "/etc/poolgate/drain", 0, 0, NULL,
	  "while this file exists the agent says drain; its first line is the reason",
	  F(drain_file), NOF },
	{ "sessions", ACF_T_KEYWORD, "auto", 0, 0, "auto|logind|utmp",
	  "where login sessions are read: logind's files, utmp, or logind when present",
	  F(sessions), NOF },
	{ "logind_dir", ACF_T_PATH, "/run/systemd/sessions", 0, 0, NULL,
	  "logind's session files", F(logind_dir), NOF },
	{ "utmp", ACF_T_PATH, "/run/utmp", 0, 0, NULL,
	  "the utmp file", F(utmp), NOF },
	{ "log_level", ACF_T_KEYWORD, "info", 0, 0, "error|warn|info|debug",
	  "messages above this level are not logged", F(log_level), NOF },
	{ "jupyterhub.url", ACF_T_URL, "", 0, 0, NULL,
	  "the VM's JupyterHub, e.g. http://127.0.0.1:8000; \"\": not asked",
	  F(hub_url), NOF },
	{ "jupyterhub.token_file", ACF_T_STRING, "/etc/poolgate/hub-token", 0, 0, NULL,
	  "file holding the API token; a relative name is under $CREDENTIALS_DIRECTORY",
	  F(hub_token_file), NOF },
	{ "jupyterhub.kernels", ACF_T_BOOL, "true", 0, 0, NULL,
	  "ask each ready server for its kernels (needs the access:servers scope)",
	  F(hub_kernels), NOF },
	{ "jupyterhub.timeout", ACF_T_DURATION, "2s", 100, 60 * SEC, NULL,
	  "time for one JupyterHub request", F(hub_timeout_ms), NOF },
	{ "gpu.command", ACF_T_STRING, "nvidia-smi", 0, 0, NULL,
	  "nvidia-smi (searched on PATH); absent: no GPU section; \"\": off",
	  F(gpu_command), NOF },
	{ "gpu.timeout", ACF_T_DURATION, "5s", 100, 60 * SEC, NULL,
	  "time nvidia-smi has to answer", F(gpu_timeout_ms), NOF },
	{ "ssh.dir", ACF_T_PATH, "/etc/ssh", 0, 0, NULL,
	  "where ssh_host_*_key.pub and their -cert.pub are", F(ssh_dir), NOF },
	{ "ssh.keygen", ACF_T_STRING, "ssh-keygen", 0, 0, NULL,
	  "the ssh-keygen program that reads certificates (-L)", F(ssh_keygen), NOF },
	{ "ssh.host_ca", ACF_T_STRING, "", 0, 0, NULL,
	  "the pool's host CA: its public key file or its SHA256: fingerprint",
	  F(ssh_host_ca), NOF },
	{ "ssh.principal", ACF_T_STRING, "", 0, 0, NULL,
	  "the pool's name, expected among the host certificates' principals",
	  F(ssh_principal), NOF },
	{ "ssh.ports", ACF_T_PORTS, "22", 0, ACF_PORTS_MAX, NULL,
	  "the ports sshd listens on (its sessions' peers are looked up there)",
	  F(ssh_ports), F(nssh_ports) },
	{ "ssh.refresh", ACF_T_DURATION, "5m", 10 * SEC, 1 * DAY, NULL,
	  "time between two reads of the host keys", F(ssh_refresh_ms), NOF },
	{ "azure.enabled", ACF_T_BOOL, "true", 0, 0, NULL,
	  "poll Azure Scheduled Events", F(azure_enabled), NOF },
	{ "azure.url", ACF_T_URL, "http://169.254.169.254", 0, 0, NULL,
	  "the instance metadata service", F(azure_url), NOF },
	{ "azure.vm_name", ACF_T_STRING, "", 0, 0, NULL,
	  "this VM's name in the events' Resources; \"\": asked of the metadata service",
	  F(azure_vm_name), NOF },
	{ "azure.approve", ACF_T_BOOL, "true", 0, 0, NULL,
	  "approve a Terminate once the VM has no user work, or at its deadline",
	  F(azure_approve), NOF },
	{ "azure.drain", ACF_T_BOOL, "true", 0, 0, NULL,
	  "say drain in the agent-check line while an event is pending",
	  F(azure_drain), NOF },
	{ "azure.timeout", ACF_T_DURATION, "5s", 100, 60 * SEC, NULL,
	  "time for one metadata request", F(azure_timeout_ms), NOF },
};
const size_t acf_nsettings = sizeof(acf_settings) / sizeof(acf_settings[0]);

static const char *const groups[] = { "jupyterhub", "gpu", "ssh", "azure" };

#define ITEMS_MAX 64

/* One error: "FILE:LINE: PATH: why" (no line: "FILE: ..."). */
static void
err_at(struct cfg_errors *errs, const char *file, int line, const char *path,
    const char *why)
{
	if (line > 0)
		cfg_errors_add(errs, "%s:%d: %s%s%s", file, line, path,
		    path[0] != '\0' ? ": " : "", why);
	else
		cfg_errors_add(errs, "%s: %s%s%s", file, path,
		    path[0] != '\0' ? ": " : "", why);
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "poolgate-agent: out of memory\n");
		abort();
	}
	return d;
}

/* Set one setting from its textual items; 0, or -1 with why. */
static int
set_items(const struct acf_setting *s, struct acf *c, char **items, size_t n,
    char *why, size_t wlen)
{
	char *base = (char *)c + s->off, *end;
	const char *t = n > 0 ? items[0] : "";
	uint64_t ms;
	long long v;
	size_t i, k;
	struct hcl_url u;

	switch (s->type) {
	case ACF_T_DURATION:
		if (cfg_parse_duration(t, &ms) == -1) {
			ag_errf(why, wlen, "\"%s\" is not a duration (use 500ms, 2s, 1m)", t);
			return -1;
		}
		if ((int64_t)ms < s->min || (int64_t)ms > s->max) {
			char lo[32], hi[32];

			cfg_format_duration((uint64_t)s->min, lo, sizeof(lo));
			cfg_format_duration((uint64_t)s->max, hi, sizeof(hi));
			ag_errf(why, wlen, "\"%s\" is out of range (%s to %s)", t, lo, hi);
			return -1;
		}
		*(uint64_t *)(void *)base = ms;
		return 0;
	case ACF_T_INT:
		errno = 0;
		v = strtoll(t, &end, 10);
		if (errno != 0 || end == t || *end != '\0' || v < s->min || v > s->max) {
			ag_errf(why, wlen, "%s is out of range (%" PRId64 " to %" PRId64 ")",
			    t, s->min, s->max);
			return -1;
		}
		*(int64_t *)(void *)base = v;
		return 0;
	case ACF_T_BOOL:
		*(bool *)(void *)base = strcmp(t, "true") == 0;
		return 0;
	case ACF_T_KEYWORD: {
		const char *ch = s->choices, *bar;
		int idx = 0;

		for (;; idx++) {
			bar = strchr(ch, '|');
			k = bar != NULL ? (size_t)(bar - ch) : strlen(ch);
			if (strlen(t) == k && strncmp(t, ch, k) == 0) {
				*(int *)(void *)base = idx;
				return 0;
			}
			if (bar == NULL)
				break;
			ch = bar + 1;
		}
		ag_errf(why, wlen, "\"%s\" is not one of %s", t, s->choices);
		return -1;
	}
	case ACF_T_PATH:
		if (t[0] != '/') {
			ag_errf(why, wlen, "\"%s\" is not an absolute path", t);
			return -1;
		}
		/* fall through */
	case ACF_T_STRING:
		if (strlen(t) > ACF_STRING_MAX) {
			ag_errf(why, wlen, "longer than %d bytes", ACF_STRING_MAX);
			return -1;
		}
		free(*(char **)(void *)base);
		*(char **)(void *)base = xstrdup(t);
		return 0;
	case ACF_T_URL:
		if (t[0] != '\0' && hcl_parse_url(t, &u) == -1) {
			ag_errf(why, wlen, "\"%s\" is not an http://HOST[:PORT][/PATH] URL", t);
			return -1;
		}
		free(*(char **)(void *)base);
		*(char **)(void *)base = xstrdup(t);
		return 0;
	case ACF_T_ADDRS: {
		struct acf_listen *l = (struct acf_listen *)(void *)base;
		struct cfg_addr a;

		if (n == 0 || n > ACF_LISTEN_MAX) {
			ag_errf(why, wlen, "give 1 to %d addresses", ACF_LISTEN_MAX);
			return -1;
		}
		for (i = 0; i < n; i++) {
			memset(&a, 0, sizeof(a));
			if (strlen(items[i]) >= sizeof(l[i].text) ||
			    cfg_parse_addr(items[i], true, &a) == -1) {
				ag_errf(why, wlen, "\"%s\" is not ADDR:PORT (e.g. 0.0.0.0:9101, [::]:9101)",
				    items[i]);
				return -1;
			}
			memcpy(&l[i].ss, &a.ss, sizeof(a.ss));
			l[i].len = a.len;
			ag_copy(l[i].text, sizeof(l[i].text), items[i]);
		}
		*(size_t *)(void *)((char *)c + s->off_n) = n;
		return 0;
	}
	case ACF_T_NAMES: {
		char **names = (char **)(void *)base;

		if (n > (size_t)s->max) {
			ag_errf(why, wlen, "more than %" PRId64 " names", s->max);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (items[i][0] == '\0' || strlen(items[i]) > 15) {
				ag_errf(why, wlen, "\"%s\" is not a process name (1 to 15 bytes)",
				    items[i]);
				return -1;
			}
		for (i = 0; i < ACF_IGNORE_MAX; i++) {
			free(names[i]);
			names[i] = i < n ? xstrdup(items[i]) : NULL;
		}
		*(size_t *)(void *)((char *)c + s->off_n) = n;
		return 0;
	}
	case ACF_T_PORTS: {
		uint16_t *ports = (uint16_t *)(void *)base;

		if (n > (size_t)s->max) {
			ag_errf(why, wlen, "more than %" PRId64 " ports", s->max);
			return -1;
		}
		for (i = 0; i < n; i++) {
			v = strtoll(items[i], &end, 10);
			if (end == items[i] || *end != '\0' || v < 1 || v > 65535) {
				ag_errf(why, wlen, "%s is not a port (1 to 65535)", items[i]);
				return -1;
			}
			ports[i] = (uint16_t)v;
		}
		*(size_t *)(void *)((char *)c + s->off_n) = n;
		return 0;
	}
	}
	pg_fatalx("acf: setting %s has no type", s->path);
}

/* Split a default ("a,b") into items; returns their count. */
static size_t
split_def(const char *def, char *buf, size_t size, char **items, size_t max)
{
	size_t n = 0;
	char *p, *comma;

	ag_copy(buf, size, def);
	if (buf[0] == '\0')
		return 0;
	for (p = buf; n < max; p = comma + 1) {
		items[n++] = p;
		if ((comma = strchr(p, ',')) == NULL)
			break;
		*comma = '\0';
	}
	return n;
}

static bool
is_list_type(enum acf_type t)
{
	return t == ACF_T_ADDRS || t == ACF_T_NAMES || t == ACF_T_PORTS;
}

/* The file's value of s as textual items; 0, or -1 with why. */
static int
file_items(const struct acf_setting *s, config_setting_t *v, char **items,
    size_t *n, char *store, size_t storelen, char *why, size_t wlen)
{
	config_setting_t *e;
	size_t at = 0;
	int i, cnt, type = config_setting_type(v);
	const char *str;

	*n = 0;
	if (is_list_type(s->type) && (type == CONFIG_TYPE_LIST ||
	    type == CONFIG_TYPE_ARRAY)) {
		cnt = config_setting_length(v);
		if (cnt > ITEMS_MAX) {
			ag_errf(why, wlen, "more than %d items", ITEMS_MAX);
			return -1;
		}
		for (i = 0; i < cnt; i++) {
			e = config_setting_get_elem(v, (unsigned)i);
			if (s->type == ACF_T_PORTS ?
			    config_setting_type(e) != CONFIG_TYPE_INT &&
			    config_setting_type(e) != CONFIG_TYPE_INT64 :
			    config_setting_type(e) != CONFIG_TYPE_STRING) {
				ag_errf(why, wlen, "item %d: expected %s", i,
				    s->type == ACF_T_PORTS ? "an integer" : "a string");
				return -1;
			}
			if (s->type == ACF_T_PORTS)
				snprintf(store + at, storelen - at, "%lld",
				    config_setting_get_int64(e));
			else
				snprintf(store + at, storelen - at, "%s",
				    config_setting_get_string(e));
			items[(*n)++] = store + at;
			at += strlen(store + at) + 1;
			if (at >= storelen) {
				ag_errf(why, wlen, "too long");
				return -1;
			}
		}
		return 0;
	}
	switch (s->type) {
	case ACF_T_INT:
	case ACF_T_PORTS:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
			ag_errf(why, wlen, "expected an integer");
			return -1;
		}
		snprintf(store, storelen, "%lld", config_setting_get_int64(v));
		break;
	case ACF_T_BOOL:
		if (type != CONFIG_TYPE_BOOL) {
			ag_errf(why, wlen, "expected true or false");
			return -1;
		}
		snprintf(store, storelen, "%s", config_setting_get_bool(v) ?
		    "true" : "false");
		break;
	case ACF_T_NAMES:
		ag_errf(why, wlen, "expected a list of strings");
		return -1;
	default:
		if (type != CONFIG_TYPE_STRING) {
			ag_errf(why, wlen, s->type == ACF_T_DURATION ?
			    "expected a duration in quotes (\"5s\")" : "expected a string");
			return -1;
		}
		str = config_setting_get_string(v);
		if (strlen(str) >= storelen) {
			ag_errf(why, wlen, "longer than %zu bytes", storelen - 1);
			return -1;
		}
		snprintf(store, storelen, "%s", str);
		break;
	}
	items[0] = store;
	*n = 1;
	return 0;
}

static const struct acf_setting *
find_setting(const char *path)
{
	size_t i;

	for (i = 0; i < acf_nsettings; i++)
		if (strcmp(acf_settings[i].path, path) == 0)
			return &acf_settings[i];
	return NULL;
}

/* Every member of the file must be a known setting or group. */
static void
unknown(config_setting_t *grp, const char *prefix, const char *file,
    struct cfg_errors *errs)
{
	config_setting_t *m;
	char path[256];
	size_t g;
	int i;
	bool group;

	for (i = 0; (m = config_setting_get_elem(grp, (unsigned)i)) != NULL; i++) {
		snprintf(path, sizeof(path), "%s%s", prefix, config_setting_name(m));
		for (group = false, g = 0; prefix[0] == '\0' &&
		    g < sizeof(groups) / sizeof(groups[0]); g++)
			group = group || strcmp(path, groups[g]) == 0;
		if (group) {
			if (config_setting_type(m) != CONFIG_TYPE_GROUP) {
				err_at(errs, file, config_setting_source_line(m), path,
				    "expected a group ({ ... })");
				continue;
			}
			strncat(path, ".", sizeof(path) - strlen(path) - 1);
			unknown(m, path, file, errs);
			continue;
		}
		if (find_setting(path) == NULL)
			err_at(errs, file, config_setting_source_line(m), path,
			    "unknown setting");
	}
}

static void
check_all(struct acf *c, const char *file, struct cfg_errors *errs)
{
	if (c->hub_url[0] != '\0' && c->hub_token_file[0] == '\0')
		err_at(errs, file, 0, "jupyterhub.token_file",
		    "needed when jupyterhub.url is set");
	if (c->azure_enabled && c->azure_url[0] == '\0')
		err_at(errs, file, 0, "azure.url", "needed when azure.enabled is true");
}

int
acf_load(const char *path, struct acf **out, struct cfg_errors *errs)
{
	char store[ACF_STRING_MAX * 4], why[ACF_STRING_MAX + 128];
	char *items[ITEMS_MAX];
	config_setting_t *v;
	const struct acf_setting *s;
	struct acf *c;
	config_t lc;
	size_t i, n, before = errs->n;
	const char *file;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		fprintf(stderr, "poolgate-agent: out of memory\n");
		abort();
	}
	for (i = 0; i < acf_nsettings; i++) {
		s = &acf_settings[i];
		n = split_def(s->def, store, sizeof(store), items, ITEMS_MAX);
		if (set_items(s, c, items, n, why, sizeof(why)) == -1)
			pg_fatalx("acf: default of %s: %s", s->path, why);
	}
	if (path == NULL) {
		*out = c;
		return 0;
	}
	c->path = xstrdup(path);
	config_init(&lc);
	config_set_options(&lc, config_get_options(&lc) & ~CONFIG_OPTION_AUTOCONVERT);
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			cfg_errors_add(errs, "%s: cannot read: %s", path, strerror(errno));
		else
			err_at(errs, config_error_file(&lc) != NULL ?
			    config_error_file(&lc) : path, config_error_line(&lc), "",
			    config_error_text(&lc) != NULL ? config_error_text(&lc) :
			    "syntax error");
		config_destroy(&lc);
		acf_free(c);
		return -1;
	}
	unknown(config_root_setting(&lc), "", path, errs);
	for (i = 0; i < acf_nsettings; i++) {
		s = &acf_settings[i];
		if ((v = config_lookup(&lc, s->path)) == NULL)
			continue;
		file = config_setting_source_file(v) != NULL ?
		    config_setting_source_file(v) : path;
		if (file_items(s, v, items, &n, store, sizeof(store), why,
		    sizeof(why)) == -1 ||
		    set_items(s, c, items, n, why, sizeof(why)) == -1)
			err_at(errs, file, config_setting_source_line(v), s->path, why);
	}
	if (errs->n == before)
		check_all(c, path, errs);
	config_destroy(&lc);
	if (errs->n > before) {
		acf_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void
acf_free(struct acf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < acf_nsettings; i++)
		if (acf_settings[i].type == ACF_T_STRING ||
		    acf_settings[i].type == ACF_T_PATH ||
		    acf_settings[i].type == ACF_T_URL)
			free(*(char **)(void *)((char *)c + acf_settings[i].off));
	for (i = 0; i < ACF_IGNORE_MAX; i++)
		free(c->ignore[i]);
	free(c->path);
	free(c);
}

void
acf_summary(const struct acf *c, char *buf, size_t size)
{
	char iv[32], st[32];

	cfg_format_duration(c->interval_ms, iv, sizeof(iv));
	cfg_format_duration(c->stale_after_ms, st, sizeof(st));
	snprintf(buf, size, "listen %s%s, every %s, users from uid %lld, "
	    "stale_after %s%s, jupyterhub %s, azure %s",
	    c->listen[0].text, c->nlisten > 1 ? " (and more)" : "", iv,
	    (long long)c->min_uid, st, c->stale_after_ms == 0 ? " (off)" : "",
	    c->hub_url[0] != '\0' ? c->hub_url : "off",
	    c->azure_enabled ? c->azure_url : "off");
}
