/*
 * main.c -- command line: run, check a configuration, print the version.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "lib/log.h"
#include "daemon/notify.h"
#include "daemon/preflight.h"
#include "daemon/sockact.h"
#include "daemon/server.h"
#include "daemon/upgrade.h"

/* libevent's own messages (evdns nameserver failures...) into our log. */
static void
libevent_log(int severity, const char *msg)
{
	pg_log(severity >= EVENT_LOG_ERR ? PG_LOG_ERR :
	    severity == EVENT_LOG_WARN ? PG_LOG_WARN :
	    severity == EVENT_LOG_MSG ? PG_LOG_INFO : PG_LOG_DEBUG,
	    "libevent: %s", msg);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: poolgate [-d] -c FILE     run in the foreground, log to stderr\n"
	    "       poolgate -t -c FILE       check FILE and exit (0 valid, 1 not)\n"
	    "       poolgate -V               print the version\n"
	    "\n"
	    "  -c, --config FILE   the configuration file (poolgate.conf(5))\n"
	    "  -d, --debug         log at level debug, whatever the file says\n"
	    "  -t, --test          check FILE as a start would (certificates and\n"
	    "                      keys, the token file, hooks, state_dir) and exit\n"
	    "  --upgrade-from SOCKET\n"
	    "                      take the listeners over from the poolgate\n"
	    "                      listening on SOCKET (a binary upgrade; SIGUSR2\n"
	    "                      or poolgatectl upgrade start it this way)\n"
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n"
	    "\n"
	    "Signals: HUP reloads the file, TERM stops accepting and lets sessions\n"
	    "end (shutdown_grace), USR2 starts the binary now on disk and hands\n"
	    "it the listeners. See poolgate(8).\n");
}

/*
 * -t: print every error, or a summary; the exit status says which. A file
 * that loads is then checked as a start would (preflight.h).
 */
static int
check_only(const char *path)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	char summary[512];
	size_t n;
	int rc = 1;

	if (cfg_load(path, &cfg, &errs) == -1) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, "%s: %zu error(s)\n", path, errs.n);
		goto out;
	}
	if ((n = pf_check(cfg, stderr)) > 0) {
		fprintf(stderr, "%s: %zu error(s)\n", path, n);
		goto out;
	}
	cfg_summary(cfg, summary, sizeof(summary));
	printf("%s: configuration ok: %s\n", path, summary);
	rc = 0;
out:
	cfg_free(cfg);
	cfg_errors_free(&errs);
	return rc;
}

int
main(int argc, char **argv)
{
	struct pg_server srv;
	struct event_base *base = NULL;
	const char *path = NULL, *from = NULL;
	bool test = false;
	size_t npassed;
	int ch, rc = 1, upfd = -1;

	static const struct option longopts[] = {
		{ "config",  required_argument, NULL, 'c' },
		{ "debug",   no_argument,       NULL, 'd' },
		{ "test",    no_argument,       NULL, 't' },
		{ "version", no_argument,       NULL, 'V' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "upgrade-from", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "c:dtVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			pg_log_force_level(PG_LOG_DEBUG);
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("poolgate %s\n", POOLGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'U':
			from = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (test)
		return check_only(path);

	event_set_log_callback(libevent_log);
	upg_set_argv(argc, argv);
	if ((npassed = sa_init()) > 0)
		log_info("socket activation: %zu listening socket(s) from systemd",
		    npassed);
	if ((base = event_base_new()) == NULL) {
		log_err("cannot create the event loop");
		return 1;
	}
	/* A binary upgrade: the old process's listeners join systemd's. */
	if (from != NULL && (upfd = upg_receive(from)) == -1) {
		log_err("not starting: nothing to take over from %s", from);
		goto out;
	}
	if (srv_init(&srv, base, path) == -1) {
		log_err("not starting: fix the errors above");
		goto out;
	}
	if (upfd != -1 && sa_left() > 0)
		log_info("upgrade: %zu listening socket(s) the configuration no "
		    "longer names: closed", sa_close_left());
	if (sa_left() > 0)
		log_warn("socket activation: %zu socket(s) from systemd match no "
		    "service's listen address; kept for a reload that names them",
		    sa_left());
	log_info("poolgate %s running (pid %d)", POOLGATE_VERSION, (int)getpid());
	if (upfd != -1) {
		/* READY=1 once the old process gave systemd our pid (upgrade.h) */
		ch = upg_took_over(&srv, upfd);
		upfd = -1;   /* transferred */
		if (ch == -1) {
			log_err("out of memory");
			goto out;
		}
	} else {
		(void)upg_listen(&srv);   /* failing refuses upgrades only (logged) */
		if (notify_start(&srv) == -1) {
			log_err("out of memory");
			goto out;
		}
	}
	/*
	 * The loop, one turn at a time: the lines a turn logged (a burst of
	 * session_start and session_end) go out in one write at its end.
	 */
	pg_log_batch();
	while (event_base_loop(base, EVLOOP_ONCE) == 0 &&
	    !event_base_got_exit(base) && !event_base_got_break(base))
		pg_log_flush();
	pg_log_flush();
	log_info("stopped");
	rc = 0;
out:
	if (upfd != -1)
		close(upfd);
	notify_free();
	srv_free(&srv);
	event_base_free(base);
	return rc;
}
