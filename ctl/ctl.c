/*
 * ctl.c -- see ctl.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "lib/json.h"
#include "lib/text.h"

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- Command line ------------------------------------------------------- */

static const struct {
	const char   *name;
	enum ctl_cmd  cmd;
	int           min, max;  /* positional arguments after the command */
	const char   *args;      /* for "expected ..." */
} commands[] = {
	{ "status",   CTL_STATUS,   0, 0, "no argument" },
	{ "sessions", CTL_SESSIONS, 0, 1, "at most one VM name" },
	{ "drain",    CTL_DRAIN,    1, 1, "one VM name" },
	{ "ready",    CTL_READY,    1, 1, "one VM name" },
	{ "maint",    CTL_MAINT,    1, 1, "one VM name" },
	{ "add",      CTL_ADD,      2, 2, "VM ADDRESS" },
	{ "remove",   CTL_REMOVE,   1, 1, "one VM name" },
	{ "node",     CTL_NODE_STATUS, 1, 1, "drain, ready or status" },
	{ "upgrade",  CTL_UPGRADE,  0, 0, "no argument" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))
#define POS_MAX   4   /* positional arguments kept; one more is "too many" */

void
ctl_synopsis(FILE *out)
{
	fputs("usage: poolgatectl [--endpoint URL] [--token-file FILE] [--json] "
	    "COMMAND\n"
	    "  commands: status | sessions [VM] | drain [--wait [--timeout T]] VM |\n"
	    "            ready VM | maint VM |\n"
	    "            add VM ADDRESS [--weight N] [--max-sessions N] | "
	    "remove VM |\n"
	    "            node drain | node ready | node status | upgrade\n"
	    "  poolgatectl --help for more\n", out);
}

void
ctl_usage(FILE *out)
{
	fputs(
"usage: poolgatectl [--endpoint URL] [--token-file FILE] [--json] COMMAND [ARG...]\n"
"\n"
"The command-line client of poolgate's admin endpoint.\n"
"\n"
"Commands:\n"
"  status              every VM: address, state, sessions, Jupyter users, load\n"
"                      and health per service\n"
"  sessions [VM]       SSH sessions and Jupyter users per VM, or of one VM\n"
"  drain VM            no new sessions on VM; returning users still reach it\n"
"  drain --wait [--timeout T] VM\n"
"                      drain, then wait until VM has no session left (at most\n"
"                      T: 30s, 5m, 1h; no limit by default)\n"
"  ready VM            VM takes new sessions again (ends drain and maint)\n"
"  maint VM            nothing new at all on VM\n"
"  add VM ADDRESS [--weight N] [--max-sessions N]\n"
"                      add VM at ADDRESS (a numeric IPv4 or IPv6 address), or\n"
"                      change a VM added this way\n"
"  remove VM           remove VM: it takes nothing new, its sessions run to\n"
"                      their end, then it is forgotten\n"
"  node drain          take this poolgate node out of the front: /healthz\n"
"                      answers 503, so the load balancer or keepalived moves\n"
"                      new clients away; live sessions go on\n"
"  node ready          bring this node back into the front\n"
"  node status         the nodes of the cluster, their sessions and state,\n"
"                      the hook runner and Redis\n"
"  upgrade             start the poolgate binary now on disk and hand it the\n"
"                      listeners; the running one relays its sessions to their\n"
"                      end (poolgate(8), UPGRADE)\n"
"\n"
"Options:\n"
"  --endpoint URL      the admin endpoint, http://HOST[:PORT] (plain HTTP only);\n"
"                      default: endpoint in the configuration file, else\n"
"                      " CTL_ENDPOINT_DEFAULT "\n"
"  --token-file FILE   the file holding the admin token; default: token_file in\n"
"                      the configuration file. Only drain, ready, maint, add,\n"
"                      remove, node drain, node ready and upgrade read it\n"
"  --json              print the daemon's JSON reply (status and sessions: the\n"
"                      /status document; sessions VM and drain --wait: that\n"
"                      VM's object); errors as {\"error\": ..., \"exit\": N}\n"
"                      on stderr\n"
"  --weight N          add: the VM's weight (default 1)\n"
"  --max-sessions N    add: the VM's session cap (default 0, no cap)\n"
"  -h, --help          print this help\n"
"  --version           print the version\n"
"\n"
"Configuration file: " CTL_CONF_DEFAULT ", or the file named by\n"
"$" CTL_CONF_ENV " (libconfig syntax; both settings optional):\n"
"  endpoint = \"" CTL_ENDPOINT_DEFAULT "\";\n"
"  token_file = \"/etc/poolgate/admin.token\";\n"
"\n"
"Exit status: 0 done; 1 failed (poolgate refusing, a bad reply, a bad\n"
"configuration or token file); 2 usage error; 3 no such VM; 4 cannot reach\n"
"poolgate; 5 drain --wait timed out with sessions left.\n", out);
}

bool
ctl_cmd_mutates(enum ctl_cmd cmd)
{
	return cmd == CTL_DRAIN || cmd == CTL_READY || cmd == CTL_MAINT ||
	    cmd == CTL_ADD || cmd == CTL_REMOVE || cmd == CTL_NODE_DRAIN ||
	    cmd == CTL_NODE_READY || cmd == CTL_UPGRADE;
}

bool
ctl_vm_name_valid(const char *s)
{
	return pg_name_valid(s, CTL_VM_MAX);
}

/* A whole number 0..INT_MAX, digits only. */
static int
parse_count(const char *opt, const char *s, int *v, char *err, size_t errlen)
{
	long long x = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			break;
		x = x * 10 + (s[i] - '0');
	}
	if (i == 0 || s[i] != '\0' || x > INT_MAX) {
		seterr(err, errlen, "%s: expected a whole number, got \"%.64s\"", opt, s);
		return -1;
	}
	*v = (int)x;
	return 0;
}

/*
 * A duration for --timeout: whole seconds ("90"), or a number with ms, s,
 * m or h ("500ms", "30s", "5m", "1h"), more than 0 and at most 30 days.
 */
static int
parse_timeout(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	uint64_t x = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 10; i++)
		x = x * 10 + (uint64_t)(s[i] - '0');
	for (size_t u = 0; i > 0 && u < sizeof(units) / sizeof(units[0]); u++)
		if (strcmp(s + i, units[u].unit) == 0) {
			x *= units[u].ms;
			if (x == 0 || x > 30ull * 86400000)
				break;
			*ms = x;
			return 0;
		}
	seterr(err, errlen, "--timeout: expected a duration such as 30s, 5m or "
	    "1h, got \"%.64s\"", s);
	return -1;
}

/*
 * Option `name` with a value, as "--name VALUE" or "--name=VALUE" at
 * argv[*i]. Returns 1 and the value when it is this option, 0 when it is
 * not, -1 when its value is missing.
 */
static int
opt_value(int argc, char **argv, int *i, const char *name, const char **val,
    char *err, size_t errlen)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		seterr(err, errlen, "%s needs a value", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

int
ctl_parse_args(int argc, char **argv, struct ctl_args *a, char *err,
    size_t errlen)
{
	const char *pos[POS_MAX + 1], *weight = NULL, *maxs = NULL, *v;
	const char *timeout = NULL;
	bool help = false, version = false, only_pos = false;
	int npos = 0, rc;
	size_t c;

	memset(a, 0, sizeof(*a));
	a->weight = a->max_sessions = -1;
	if (errlen > 0)
		err[0] = '\0';
	/* known before any error, so that the error itself can be JSON */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			a->json = true;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (only_pos || s[0] != '-' || s[1] == '\0') {
			if (npos <= POS_MAX)
				pos[npos] = s;
			npos++;
			continue;
		}
		if (strcmp(s, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			help = true;
			continue;
		}
		if (strcmp(s, "--version") == 0) {
			version = true;
			continue;
		}
		if (strcmp(s, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strcmp(s, "--wait") == 0) {
			a->wait = true;
			continue;
		}
		if ((rc = opt_value(argc, argv, &i, "--timeout", &v, err,
		    errlen)) != 0) {
			if (rc < 0)
				return -1;
			timeout = v;
			continue;
		}
		if ((rc = opt_value(argc, argv, &i, "--endpoint", &v, err,
		    errlen)) != 0) {
			if (rc < 0)
				return -1;
			a->endpoint = v;
			continue;
		}
		if ((rc = opt_value(argc, argv, &i, "--token-file", &v, err,
		    errlen)) != 0) {
			if (rc < 0)
				return -1;
			a->token_file = v;
			continue;
		}
		if ((rc = opt_value(argc, argv, &i, "--weight", &v, err,
		    errlen)) != 0) {
			if (rc < 0)
				return -1;
			weight = v;
			continue;
		}
		if ((rc = opt_value(argc, argv, &i, "--max-sessions", &v, err,
		    errlen)) != 0) {
			if (rc < 0)
				return -1;
			maxs = v;
			continue;
		}
		seterr(err, errlen, "unknown option \"%.64s\"", s);
		return -1;
	}
	if (help) {
		a->cmd = CTL_HELP;
		return 0;
	}
	if (version) {
		a->cmd = CTL_VERSION;
		return 0;
	}
	if (npos == 0) {
		seterr(err, errlen, "no command given");
		return -1;
	}
	for (c = 0; c < NCOMMANDS; c++)
		if (strcmp(pos[0], commands[c].name) == 0)
			break;
	if (c == NCOMMANDS) {
		seterr(err, errlen, "unknown command \"%.64s\" (expected status, "
		    "sessions, drain, ready, maint, add, remove, node or upgrade)", pos[0]);
		return -1;
	}
	a->cmd = commands[c].cmd;
	if (npos - 1 < commands[c].min || npos - 1 > commands[c].max) {
		seterr(err, errlen, "%s: expected %s, got %d argument%s",
		    commands[c].name, commands[c].args, npos - 1,
		    npos - 1 == 1 ? "" : "s");
		return -1;
	}
	if (a->cmd == CTL_NODE_STATUS) {
		if (strcmp(pos[1], "drain") == 0)
			a->cmd = CTL_NODE_DRAIN;
		else if (strcmp(pos[1], "ready") == 0)
			a->cmd = CTL_NODE_READY;
		else if (strcmp(pos[1], "status") != 0) {
			seterr(err, errlen, "node: \"%.64s\" is not drain, ready or "
			    "status", pos[1]);
			return -1;
		}
	} else if (npos > 1) {
		a->vm = pos[1];
		if (!ctl_vm_name_valid(a->vm)) {
			seterr(err, errlen, "\"%.64s\" is not a valid VM name (expected "
			    "1 to %d of " PG_NAME_RULE ")", a->vm, CTL_VM_MAX);
			return -1;
		}
	}
	if (a->cmd == CTL_ADD) {
		a->address = pos[2];
		if (a->address[0] == '\0' || strlen(a->address) > CTL_HOST_MAX) {
			seterr(err, errlen, "add: the address must have 1 to %d bytes",
			    CTL_HOST_MAX);
			return -1;
		}
	} else if (weight != NULL || maxs != NULL) {
		seterr(err, errlen, "%s is only for add",
		    weight != NULL ? "--weight" : "--max-sessions");
		return -1;
	}
	if (a->wait && a->cmd != CTL_DRAIN) {
		seterr(err, errlen, "--wait is only for drain");
		return -1;
	}
	if (timeout != NULL && !a->wait) {
		seterr(err, errlen, "--timeout is only for drain --wait");
		return -1;
	}
	if (timeout != NULL && parse_timeout(timeout, &a->timeout_ms, err,
	    errlen) != 0)
		return -1;
	if (weight != NULL && parse_count("--weight", weight, &a->weight, err,
	    errlen) != 0)
		return -1;
	if (maxs != NULL && parse_count("--max-sessions", maxs, &a->max_sessions,
	    err, errlen) != 0)
		return -1;
	return 0;
}

/* ---- Endpoint ----------------------------------------------------------- */

int
ctl_parse_endpoint(const char *url, struct ctl_endpoint *ep, char *err,
    size_t errlen)
{
	const char *p, *h;
	size_t hn;
	unsigned long port = 80;
	bool v6 = false;

	memset(ep, 0, sizeof(*ep));
	if (strncasecmp(url, "http://", 7) != 0) {
		if (strncasecmp(url, "https://", 8) == 0)
			seterr(err, errlen, "%.128s: https is not supported: poolgatectl "
			    "speaks plain http:// to the admin endpoint (keep it on a "
			    "local address, or reach it through an SSH tunnel)", url);
		else
			seterr(err, errlen, "%.128s: expected an http:// URL such as "
			    CTL_ENDPOINT_DEFAULT, url);
		return -1;
	}
	p = url + 7;
	if (*p == '[') {
		h = ++p;
		while (*p != '\0' && *p != ']')
			p++;
		if (*p != ']') {
			seterr(err, errlen, "%.128s: no ']' after the IPv6 address", url);
			return -1;
		}
		hn = (size_t)(p - h);
		p++;
		v6 = true;
		for (size_t i = 0; i < hn; i++)
			if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f') ||
			    (h[i] >= 'A' && h[i] <= 'F') || h[i] == ':' || h[i] == '.')) {
				seterr(err, errlen, "%.128s: \"%.*s\" is not an IPv6 address",
				    url, (int)(hn < 64 ? hn : 64), h);
				return -1;
			}
	} else {
		h = p;
		while (*p != '\0' && *p != ':' && *p != '/' && *p != '?' &&
		    *p != '#' && *p != '@')
			p++;
		hn = (size_t)(p - h);
		if (*p == '@') {
			seterr(err, errlen, "%.128s: a user name in the URL is not "
			    "supported", url);
			return -1;
		}
		for (size_t i = 0; i < hn; i++)
			if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'z') ||
			    (h[i] >= 'A' && h[i] <= 'Z') || h[i] == '.' || h[i] == '-' ||
			    h[i] == '_')) {
				seterr(err, errlen, "%.128s: \"%.*s\" is not a host name or "
				    "address", url, (int)(hn < 64 ? hn : 64), h);
				return -1;
			}
	}
	if (hn == 0 || hn > CTL_HOST_MAX) {
		seterr(err, errlen, "%.128s: expected a host of 1 to %d bytes after "
		    "http://", url, CTL_HOST_MAX);
		return -1;
	}
	if (*p == ':') {
		char *end;

		p++;
		if (*p < '0' || *p > '9') {
			seterr(err, errlen, "%.128s: expected a port number after ':'", url);
			return -1;
		}
		errno = 0;
		port = strtoul(p, &end, 10);
		if (errno != 0 || port < 1 || port > 65535 || end - p > 5) {
			seterr(err, errlen, "%.128s: the port must be 1 to 65535", url);
			return -1;
		}
		p = end;
	}
	if (*p != '\0' && strcmp(p, "/") != 0) {
		seterr(err, errlen, "%.128s: expected nothing after the port (the "
		    "daemon serves its API at the root), found \"%.64s\"", url, p);
		return -1;
	}
	memcpy(ep->host, h, hn);
	ep->host[hn] = '\0';
	ep->port = (unsigned)port;
	snprintf(ep->hosthdr, sizeof(ep->hosthdr), v6 ? "[%s]:%u" : "%s:%u",
	    ep->host, ep->port);
	snprintf(ep->url, sizeof(ep->url), "http://%s", ep->hosthdr);
	return 0;
}

/* ---- Configuration and token files -------------------------------------- */

static int
conf_string(const char *path, config_setting_t *s, char *dst, size_t len,
    char *err, size_t errlen)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		seterr(err, errlen, "%s:%d: %s: expected a string in double quotes",
		    path, config_setting_source_line(s), config_setting_name(s));
		return -1;
	}
	v = config_setting_get_string(s);
	if (v[0] == '\0' || strlen(v) >= len) {
		seterr(err, errlen, "%s:%d: %s: expected 1 to %zu bytes", path,
		    config_setting_source_line(s), config_setting_name(s), len - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int
ctl_load_conf(const char *path, bool missing_ok, struct ctl_conf *c,
    char *err, size_t errlen)
{
	config_t cf;
	config_setting_t *root;
	struct stat st;
	FILE *f;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && missing_ok)
			return 0;
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* libconfig's scanner exits the process on a read error (a folder) */
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		fclose(f);
		return -1;
	}
	config_init(&cf);
	if (config_read(&cf, f) != CONFIG_TRUE) {
		seterr(err, errlen, "%s:%d: %s", path, config_error_line(&cf),
		    config_error_text(&cf));
		goto out;
	}
	root = config_root_setting(&cf);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(s);

		if (strcmp(name, "endpoint") == 0) {
			struct ctl_endpoint ep;
			char e[CTL_ERR_MAX];

			if (conf_string(path, s, c->endpoint, sizeof(c->endpoint), err,
			    errlen) != 0)
				goto out;
			if (ctl_parse_endpoint(c->endpoint, &ep, e, sizeof(e)) != 0) {
				seterr(err, errlen, "%s:%d: endpoint: %s", path,
				    config_setting_source_line(s), e);
				goto out;
			}
		} else if (strcmp(name, "token_file") == 0) {
			if (conf_string(path, s, c->token_file, sizeof(c->token_file),
			    err, errlen) != 0)
				goto out;
		} else {
			seterr(err, errlen, "%s:%d: unknown setting \"%.64s\" (expected "
			    "endpoint, token_file)", path, config_setting_source_line(s),
			    name);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	config_destroy(&cf);
	fclose(f);
	return rc;
}

int
ctl_read_token(const char *path, char *tok, size_t len, char *err,
    size_t errlen)
{
	char buf[CTL_TOKEN_MAX + 3];  /* the token, "\r\n", one byte too many */
	struct stat st;
	size_t n = 0;
	ssize_t k;
	int fd, rc = -1;

	if (len > 0)
		explicit_bzero(tok, len);
	/* O_NONBLOCK: a FIFO must not hang us; it is refused below */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		seterr(err, errlen, "token file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "token file %s: not a regular file", path);
		goto out;
	}
	while (n < sizeof(buf)) {
		if ((k = read(fd, buf + n, sizeof(buf) - n)) < 0) {
			if (errno == EINTR)
				continue;
			seterr(err, errlen, "token file %s: %s", path, strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (n == 0) {
		seterr(err, errlen, "token file %s: empty", path);
		goto out;
	}
	if (n > CTL_TOKEN_MAX || n >= len) {
		seterr(err, errlen, "token file %s: the token is longer than %d bytes",
		    path, CTL_TOKEN_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			seterr(err, errlen, "token file %s: byte %zu of the token is a "
			    "space or not printable ASCII", path, i);
			goto out;
		}
	memcpy(tok, buf, n);
	tok[n] = '\0';
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* ---- Tables ------------------------------------------------------------- */

size_t
ctl_text_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* A cell as shown: control bytes '?', "-" when empty, cut at CTL_CELL_MAX. */
static char *
cell_dup(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;
	bool cut = false;
	char *d;

	if (n == 0)
		return strdup("-");
	if (n > CTL_CELL_MAX) {
		/* never cut a UTF-8 sequence in two */
		n = CTL_CELL_MAX - 3;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		cut = true;
	}
	if ((d = malloc(n + 4)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		d[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (cut) {
		memcpy(d + n, "...", 3);
		n += 3;
	}
	d[n] = '\0';
	return d;
}

static int
tbl_row(struct ctl_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap == 0 ? 16 : t->cap * 2;
		char **c = reallocarray(t->cells, cap * t->ncols, sizeof(*c));

		if (c == NULL)
			return -1;
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *d = cell_dup(cells[i]);

		if (d == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * t->ncols + i]);
			return -1;
		}
		t->cells[t->nrows * t->ncols + i] = d;
	}
	t->nrows++;
	return 0;
}

int
tbl_init(struct ctl_table *t, size_t ncols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	return tbl_row(t, header);
}

int
tbl_add(struct ctl_table *t, const char *const *cells)
{
	return tbl_row(t, cells);
}

void
tbl_print(const struct ctl_table *t, FILE *out)
{
	size_t *w = calloc(t->ncols, sizeof(*w));

	if (w == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t x = ctl_text_width(t->cells[r * t->ncols + c]);
			if (x > w[c])
				w[c] = x;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			fputs(s, out);
			if (c + 1 < t->ncols)
				fprintf(out, "%*s", (int)(w[c] - ctl_text_width(s) + 2), "");
		}
		fputc('\n', out);
	}
	free(w);
}

void
tbl_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* ---- Replies ------------------------------------------------------------ */

/* Append to buf[*o..len) as snprintf would; *o stops at len - 1. */
static void
app(char *buf, size_t len, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
app(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*o + 1 >= len)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *o, len - *o, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	*o += (size_t)k < len - *o ? (size_t)k : len - *o - 1;
}

void
ctl_health_text(const struct json_node *health, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (health == NULL || health->type != JSON_OBJECT)
		return;
	for (const struct json_node *s = health->child; s != NULL; s = s->next) {
		const struct json_node *up = json_get(s, "up");
		const char *e = json_get_str(s, "last_error");
		bool isup = up != NULL && up->type == JSON_BOOL && up->boolean;

		app(buf, len, &o, "%s%s:%s", o > 0 ? " " : "", s->key,
		    isup ? "up" : "down");
		if (!isup && e != NULL && e[0] != '\0')
			app(buf, len, &o, "(%s)", e);
	}
}

static const struct json_node *
backends_of(const struct json_node *root, const char *what, char *err,
    size_t errlen)
{
	const struct json_node *b = json_get(root, "backends");

	if (b == NULL || b->type != JSON_ARRAY) {
		seterr(err, errlen, "%s: the reply has no \"backends\" array", what);
		return NULL;
	}
	for (const struct json_node *v = b->child; v != NULL; v = v->next)
		if (json_get_str(v, "name") == NULL) {
			seterr(err, errlen, "%s: a VM in \"backends\" has no name", what);
			return NULL;
		}
	return b;
}

static const struct json_node *
find_named(const struct json_node *arr, const char *name)
{
	if (arr == NULL)
		return NULL;
	for (const struct json_node *v = arr->child; v != NULL; v = v->next)
		if (strcmp(json_get_str(v, "name"), name) == 0)
			return v;
	return NULL;
}

const struct json_node *
ctl_status_backend(const struct json_node *status, const char *vm)
{
	char e[8];

	return find_named(backends_of(status, "", e, sizeof(e)), vm);
}

static size_t
users_count(const struct json_node *b)
{
	const struct json_node *u = json_get(b, "users");

	return u != NULL && u->type == JSON_ARRAY ? u->count : 0;
}

int
ctl_print_status(FILE *out, const struct json_node *status,
    const struct json_node *api, char *err, size_t errlen)
{
	static const char *const head[] = { "VM", "ADDRESS", "STATE", "SESSIONS",
	    "USERS", "LOAD", "HEALTH" };
	const struct json_node *bs, *abs = NULL;
	struct ctl_table t;
	int rc = -1;

	if ((bs = backends_of(status, "/status", err, errlen)) == NULL)
		return -1;
	if (api != NULL &&
	    (abs = backends_of(api, "/api/v1/backends", err, errlen)) == NULL)
		return -1;
	if (tbl_init(&t, 7, head) != 0)
		goto nomem;
	for (const struct json_node *b = bs->child; b != NULL; b = b->next) {
		const char *name = json_get_str(b, "name");
		const struct json_node *a = find_named(abs, name), *load, *rm;
		const char *state = json_get_str(b, "state");
		char st[64], sess[24], users[24], ld[JSON_NUMBER_MAX + 1], health[1024];
		int64_t n;

		rm = json_get(b, "removed");
		snprintf(st, sizeof(st), "%s%s", state != NULL ? state : "?",
		    rm != NULL && rm->type == JSON_BOOL && rm->boolean ?
		    "(removed)" : "");
		if (json_get_int(b, "sessions", &n))
			snprintf(sess, sizeof(sess), "%" PRId64, n);
		else
			snprintf(sess, sizeof(sess), "?");
		snprintf(users, sizeof(users), "%zu", users_count(b));
		load = json_get(a, "load");
		snprintf(ld, sizeof(ld), "%s", load != NULL &&
		    load->type == JSON_NUMBER ? load->str : "-");
		ctl_health_text(json_get(b, "health"), health, sizeof(health));
		const char *row[] = { name, json_get_str(b, "address"), st, sess,
		    users, ld, health };
		if (tbl_add(&t, row) != 0)
			goto nomem;
	}
	tbl_print(&t, out);
	rc = 0;
	goto out;
nomem:
	seterr(err, errlen, "out of memory");
out:
	tbl_free(&t);
	return rc;
}

int
ctl_print_sessions(FILE *out, const struct json_node *status, const char *vm,
    char *err, size_t errlen)
{
	static const char *const head[] = { "VM", "SSH", "JUPYTER", "USERS" };
	const struct json_node *bs;
	struct ctl_table t;
	bool seen = false;
	int rc = -1;

	if ((bs = backends_of(status, "/status", err, errlen)) == NULL)
		return -1;
	if (tbl_init(&t, 4, head) != 0)
		goto nomem;
	for (const struct json_node *b = bs->child; b != NULL; b = b->next) {
		const char *name = json_get_str(b, "name");
		const struct json_node *u = json_get(b, "users");
		char ssh[24], jup[24], *list = NULL;
		size_t nu = users_count(b), o = 0, cap = 1;
		int64_t n;

		if (vm != NULL && strcmp(vm, name) != 0)
			continue;
		seen = true;
		/*
		 * "sessions" counts every service's sessions and each Jupyter
		 * user once (mbr_user_seen); what is left is SSH (tcp).
		 */
		if (json_get_int(b, "sessions", &n))
			snprintf(ssh, sizeof(ssh), "%" PRId64,
			    n > (int64_t)nu ? n - (int64_t)nu : 0);
		else
			snprintf(ssh, sizeof(ssh), "?");
		snprintf(jup, sizeof(jup), "%zu", nu);
		for (const struct json_node *x = nu > 0 ? u->child : NULL; x != NULL;
		    x = x->next)
			cap += (x->str != NULL ? x->len : 1) + 1;
		if ((list = malloc(cap)) == NULL)
			goto nomem;
		list[0] = '\0';
		for (const struct json_node *x = nu > 0 ? u->child : NULL; x != NULL;
		    x = x->next)
			app(list, cap, &o, "%s%s", o > 0 ? "," : "",
			    x->str != NULL ? x->str : "?");
		const char *row[] = { name, ssh, jup, list };
		int added = tbl_add(&t, row);
		free(list);
		if (added != 0)
			goto nomem;
	}
	if (!seen && vm != NULL) {
		rc = 1;
		goto out;
	}
	tbl_print(&t, out);
	rc = 0;
	goto out;
nomem:
	seterr(err, errlen, "out of memory");
out:
	tbl_free(&t);
	return rc;
}

/* "vm1: drain (state drain, 2 sessions)" and the like. */
void
ctl_print_result(FILE *out, const struct ctl_args *a, int code,
    const struct json_node *vm)
{
	const char *state = json_get_str(vm, "state");
	const struct json_node *rm = json_get(vm, "removed");
	bool removed = rm != NULL && rm->type == JSON_BOOL && rm->boolean;
	int64_t n = 0;
	/* a->vm passed ctl_vm_name_valid(): safe to print as it is */
	const char *vmname = a->vm;
	char what[CTL_HOST_MAX + 32];

	switch (a->cmd) {
	case CTL_DRAIN:
		snprintf(what, sizeof(what), "drain");
		break;
	case CTL_READY:
		snprintf(what, sizeof(what), "ready");
		break;
	case CTL_MAINT:
		snprintf(what, sizeof(what), "maint");
		break;
	case CTL_ADD: {
		const char *addr = json_get_str(vm, "address");
		char shown[CTL_HOST_MAX + 1];
		size_t i;

		if (addr == NULL)
			addr = a->address;
		for (i = 0; addr[i] != '\0' && i < CTL_HOST_MAX; i++)
			shown[i] = (unsigned char)addr[i] < 0x20 ? '?' : addr[i];
		shown[i] = '\0';
		snprintf(what, sizeof(what), "%s %s", code == 201 ? "added" :
		    "updated", shown);
		break;
	}
	case CTL_REMOVE:
		snprintf(what, sizeof(what), "removed");
		break;
	default:
		snprintf(what, sizeof(what), "done");
		break;
	}
	json_get_int(vm, "sessions", &n);
	if (a->cmd == CTL_REMOVE) {
		if (state == NULL || n == 0)
			fprintf(out, "%s: removed\n", vmname);
		else
			fprintf(out, "%s: removed; drains its %" PRId64 " session%s, "
			    "then is forgotten\n", vmname, n, n == 1 ? "" : "s");
		return;
	}
	/* a state is a short lowercase word; anything else is not shown */
	if (state == NULL || strlen(state) > 16 ||
	    strspn(state, "abcdefghijklmnopqrstuvwxyz") != strlen(state)) {
		fprintf(out, "%s: %s\n", vmname, what);
		return;
	}
	fprintf(out, "%s: %s (state %s%s, %" PRId64 " session%s)\n", vmname, what,
	    state, removed ? ", removed" : "", n, n == 1 ? "" : "s");
}

void
ctl_refusal_text(int code, const char *body, size_t len, char *buf,
    size_t buflen)
{
	struct json_doc *d;
	const char *msg = NULL;
	char e[8], line[201];
	size_t i, o = 0;

	if ((d = json_parse(body, len, e, sizeof(e))) != NULL)
		msg = json_get_str(json_root(d), "error");
	if (msg == NULL) {
		/* not our JSON (a proxy's page?): its first line */
		for (i = 0; i < len && (body[i] == ' ' || body[i] == '\n' ||
		    body[i] == '\r' || body[i] == '\t'); i++)
			;
		for (; i < len && body[i] != '\n' && body[i] != '\r' &&
		    o < sizeof(line) - 1; i++)
			line[o++] = body[i];
		line[o] = '\0';
		msg = line;
	}
	if (msg[0] == '\0')
		snprintf(buf, buflen, "%d", code);
	else
		snprintf(buf, buflen, "%d %s", code, msg);
	/* one clean line for the terminal, whatever the reply held */
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	json_free(d);
}

/* s as a JSON string at buf[*o], by the daemon's one writer; cut at len. */
static void
json_escaped(char *buf, size_t len, size_t *o, const char *s)
{
	struct json_fbuf f = { buf + *o, len - *o, 0, false };

	if (*o + 1 >= len)
		return;
	json_write_str(json_fbuf_put, &f, s);
	*o += f.len;
}

void
ctl_add_body(const struct ctl_args *a, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	app(buf, len, &o, "{\"address\":");
	json_escaped(buf, len, &o, a->address);
	if (a->weight >= 0)
		app(buf, len, &o, ",\"weight\":%d", a->weight);
	if (a->max_sessions >= 0)
		app(buf, len, &o, ",\"max_sessions\":%d", a->max_sessions);
	app(buf, len, &o, "}");
}

/* ---- node status -------------------------------------------------------- */

static const char *
yes(const struct json_node *o, const char *key)
{
	const struct json_node *v = json_get(o, key);

	return v != NULL && v->type == JSON_BOOL && v->boolean ? "yes" : "no";
}

int
ctl_print_node(FILE *out, const struct json_node *node, char *err,
    size_t errlen)
{
	const struct json_node *nodes = json_get(node, "nodes");
	const char *name = json_get_str(node, "node");
	const char *redis = json_get_str(node, "redis");
	const char *runner = json_get_str(node, "hook_runner");
	int64_t sessions = 0;

	if (node == NULL || node->type != JSON_OBJECT || redis == NULL ||
	    nodes == NULL || nodes->type != JSON_ARRAY) {
		seterr(err, errlen, "the node document is not as expected");
		return -1;
	}
	(void)json_get_int(node, "sessions", &sessions);
	fprintf(out, "%-16s %-9s %-6s %8s  %s\n", "NODE", "FRONT", "HOOKS",
	    "SESSIONS", "REDIS");
	fprintf(out, "%-16s %-9s %-6s %8lld  %s", name != NULL ? name : "(alone)",
	    strcmp(yes(node, "draining"), "yes") == 0 ? "drained" : "serving",
	    name != NULL && runner != NULL && strcmp(runner, name) == 0 ?
	    "runs" : "-", (long long)sessions, redis);
	if (json_get_str(node, "master") != NULL &&
	    json_get_str(node, "master")[0] != '\0')
		fprintf(out, " (%s)", json_get_str(node, "master"));
	if (json_get_str(node, "redis_error") != NULL &&
	    json_get_str(node, "redis_error")[0] != '\0' &&
	    strcmp(redis, "up") != 0)
		fprintf(out, ": %s", json_get_str(node, "redis_error"));
	fputc('\n', out);
	for (const struct json_node *p = nodes->child; p != NULL; p = p->next) {
		const char *pn = json_get_str(p, "name");
		int64_t ps = 0, ago = 0;

		(void)json_get_int(p, "sessions", &ps);
		(void)json_get_int(p, "heard_ms_ago", &ago);
		fprintf(out, "%-16s %-9s %-6s %8lld  heard %lld ms ago\n",
		    pn != NULL ? pn : "?",
		    strcmp(yes(p, "draining"), "yes") == 0 ? "drained" : "serving",
		    strcmp(yes(p, "hook_runner"), "yes") == 0 ? "runs" : "-",
		    (long long)ps, (long long)ago);
	}
	fprintf(out, "hook runner: %s\n", runner != NULL ? runner : "none");
	return 0;
}

void
ctl_error_json(const char *msg, int code, char *buf, size_t len)
{
	char cut[CTL_ERR_MAX];
	size_t o = 0, n;

	if (len == 0)
		return;
	buf[0] = '\0';
	/* a prefix that fits even when every byte becomes \uXXXX */
	n = len > 40 ? (len - 40) / 6 : 0;
	if (n >= sizeof(cut))
		n = sizeof(cut) - 1;
	n = strnlen(msg, n);
	memcpy(cut, msg, n);
	cut[n] = '\0';
	app(buf, len, &o, "{\"error\":");
	json_escaped(buf, len, &o, cut);
	app(buf, len, &o, ",\"exit\":%d}\n", code);
}

int
ctl_vm_sessions(const struct json_node *status, const char *vm, int64_t *n,
    char *err, size_t errlen)
{
	const struct json_node *bs, *b;

	if ((bs = backends_of(status, "/status", err, errlen)) == NULL)
		return -1;
	if ((b = find_named(bs, vm)) == NULL)
		return 1;
	if (!json_get_int(b, "sessions", n)) {
		seterr(err, errlen, "/status: VM %.64s has no \"sessions\" number", vm);
		return -1;
	}
	return 0;
}
