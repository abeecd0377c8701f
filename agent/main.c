/*
 * main.c -- poolgate-agent: options, the event loop, signals.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/collect.h"
#include "agent/conf.h"
#include "agent/proto.h"
#include "lib/sdnotify.h"
#include "agent/serve.h"
#include "agent/util.h"
#include "lib/log.h"

#define DEFAULT_CONF "/etc/poolgate/agent.conf"

struct agent {
	struct event_base *base;
	const char        *path;      /* NULL: the defaults */
	struct acf        *cfg;       /* the event loop's copy */
	struct col        *col;
	struct srv        *srv;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: poolgate-agent [-d] [-c FILE]   serve the agent port (foreground)\n"
	    "       poolgate-agent -t [-c FILE]     check FILE and exit (0 valid, 1 not)\n"
	    "       poolgate-agent -l [-c FILE]     print the agent-check line and exit\n"
	    "       poolgate-agent -r [-c FILE]     collect once, print the report, exit\n"
	    "       poolgate-agent -V               print the version\n"
	    "FILE defaults to " DEFAULT_CONF " (the built-in defaults when it is\n"
	    "absent). See poolgate-agent(8).\n");
}

static void
libevent_log(int severity, const char *msg)
{
	pg_log(severity >= EVENT_LOG_ERR ? PG_LOG_ERR :
	    severity == EVENT_LOG_WARN ? PG_LOG_WARN :
	    severity == EVENT_LOG_MSG ? PG_LOG_INFO : PG_LOG_DEBUG,
	    "libevent: %s", msg);
}

/* Load the configuration, printing every error; NULL on failure. */
static struct acf *
load(const char *path)
{
	struct cfg_errors errs = { 0 };
	struct acf *cfg = NULL;
	size_t i;

	if (acf_load(path, &cfg, &errs) == -1) {
		for (i = 0; i < errs.n; i++)
			log_err("%s", errs.msg[i]);
		log_err("%s: %zu error(s)", path, errs.n);
	}
	cfg_errors_free(&errs);
	return cfg;
}

static void
sigcb(evutil_socket_t sig, short what, void *arg)
{
	struct agent *a = arg;
	struct acf *main_cfg, *col_cfg;
	char note[96];

	(void)what;
	if (sig != SIGHUP) {
		log_info("signal %d: stopping", (int)sig);
		event_base_loopbreak(a->base);
		return;
	}
	snprintf(note, sizeof(note), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ag_mono_ms() * 1000u);
	sd_notify_text(note);
	/* Two copies: the loop's and the collector thread's own. */
	if ((main_cfg = load(a->path)) == NULL ||
	    (col_cfg = load(a->path)) == NULL) {
		acf_free(main_cfg);
		log_err("reload refused; the running configuration stays");
		sd_notify_text("READY=1\nSTATUS=reload refused (see the log)");
		return;
	}
	if (main_cfg->nlisten != a->cfg->nlisten || memcmp(main_cfg->listen,
	    a->cfg->listen, sizeof(main_cfg->listen)) != 0)
		log_warn("reload: listen changes take effect at the next start");
	srv_set_config(a->srv, main_cfg);
	acf_free(a->cfg);
	a->cfg = main_cfg;
	col_set_config(a->col, col_cfg);
	pg_log_set_level((enum pg_log_level)a->cfg->log_level);
	log_info("reloaded %s", a->path != NULL ? a->path : "(defaults)");
	sd_notify_text("READY=1\nSTATUS=serving");
}

static int
serve(struct agent *a)
{
	struct event *sigs[3] = { NULL, NULL, NULL };
	const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	struct acf *col_cfg;
	char err[256], status[128];
	size_t i;
	int rc = 1;

	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(libevent_log);
	if ((a->base = event_base_new()) == NULL) {
		log_err("cannot create the event loop");
		return 1;
	}
	if ((col_cfg = load(a->path)) == NULL ||
	    (a->col = col_new(col_cfg)) == NULL) {
		acf_free(col_cfg);
		goto out;
	}
	if ((a->srv = srv_new(a->base, a->col, a->cfg, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		goto out;
	}
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(a->base, signums[i], sigcb, a);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1) {
			log_err("cannot watch signal %d", signums[i]);
			goto out;
		}
	}
	if (col_start(a->col) == -1) {
		log_err("cannot start the collector thread");
		goto out;
	}
	log_info("poolgate-agent %s: serving on %s%s (agent-check line and "
	    "GET " AP_REPORT_PATH ")", POOLGATE_VERSION, a->cfg->listen[0].text,
	    a->cfg->nlisten > 1 ? " and more" : "");
	snprintf(status, sizeof(status), "READY=1\nSTATUS=serving on %s",
	    a->cfg->listen[0].text);
	sd_notify_text(status);
	event_base_dispatch(a->base);
	sd_notify_text("STOPPING=1");
	rc = 0;
out:
	srv_free(a->srv);
	col_free(a->col);        /* waits for the collection in progress */
	for (i = 0; i < 3; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	event_base_free(a->base);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent a = { 0 };
	bool test = false, line = false, once = false, explicit = false;
	char summary[512], buf[AP_LINE_MAX + 1], *report;
	struct col *col;
	size_t len;
	int ch, rc;

	a.path = DEFAULT_CONF;
	while ((ch = getopt_long(argc, argv, "c:dtlrVh", longs, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a.path = optarg;
			explicit = true;
			break;
		case 'd':
			pg_log_force_level(PG_LOG_DEBUG);
			break;
		case 't':
			test = true;
			break;
		case 'l':
			line = true;
			break;
		case 'r':
			once = true;
			break;
		case 'V':
			printf("poolgate-agent %s\n", POOLGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (test + line + once) > 1) {
		usage(stderr);
		return 2;
	}
	/* Without -c, a missing default file means the built-in defaults. */
	if (!explicit && access(a.path, F_OK) == -1 && errno == ENOENT)
		a.path = NULL;
	if ((a.cfg = load(a.path)) == NULL)
		return 1;
	pg_log_set_level((enum pg_log_level)a.cfg->log_level);
	if (test) {
		acf_summary(a.cfg, summary, sizeof(summary));
		printf("%s: configuration ok: %s\n", a.path != NULL ? a.path :
		    "(defaults)", summary);
		acf_free(a.cfg);
		return 0;
	}
	if (line) {
		len = srv_line(a.cfg, NULL, buf, sizeof(buf));
		fwrite(buf, 1, len, stdout);
		acf_free(a.cfg);
		return 0;
	}
	if (once) {
		rc = 1;
		if ((col = col_new(a.cfg)) != NULL) {
			a.cfg = NULL;   /* transferred */
			col_cycle(col);
			if ((report = col_report(col, &len)) != NULL) {
				fwrite(report, 1, len, stdout);
				free(report);
				rc = 0;
			}
			col_free(col);
		}
		acf_free(a.cfg);
		return rc;
	}
	rc = serve(&a);
	acf_free(a.cfg);
	return rc;
}
