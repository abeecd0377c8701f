/*
 * test_ctl.c -- the pure parts of poolgatectl (ctl.c): the command line
 * (the VM name rule included), the endpoint URL, the configuration and
 * token files, table alignment, and what `status`, `sessions` and the
 * changing commands print from the daemon's replies, read with the
 * daemon's own JSON reader (lib/json.c, tested in test_json.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/ctl.h"
#include "lib/json.h"

static char err[CTL_ERR_MAX];

/* ---- helpers ---------------------------------------------------------- */

static struct json_doc *
parse_ok(const char *s)
{
	struct json_doc *d = json_parse(s, strlen(s), err, sizeof(err));

	if (d == NULL)
		fail_msg("%s: %s", s, err);
	assert_string_equal(err, "");
	return d;
}

static char *
repeat(const char *head, const char *piece, size_t times, const char *tail)
{
	size_t hl = strlen(head), pl = strlen(piece), tl = strlen(tail);
	char *s = malloc(hl + pl * times + tl + 1), *p;

	assert_non_null(s);
	memcpy(s, head, hl);
	p = s + hl;
	for (size_t i = 0; i < times; i++, p += pl)
		memcpy(p, piece, pl);
	memcpy(p, tail, tl + 1);
	return s;
}

/* Output captured from a FILE *. */
struct cap {
	FILE   *f;
	char   *buf;
	size_t  len;
};

static FILE *
cap_open(struct cap *c)
{
	memset(c, 0, sizeof(*c));
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	return c->f;
}

/* Closes the stream; returns the text, freed by the caller. */
static char *
cap_text(struct cap *c)
{
	fclose(c->f);
	return c->buf;
}

#define ASSERT_OUTPUT(c, want) do { \
	char *t_ = cap_text(c); \
	assert_string_equal(t_, (want)); \
	free(t_); \
} while (0)

/* ---- command line ------------------------------------------------------- */

static int
args(struct ctl_args *a, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	const char *s;

	argv[argc++] = "poolgatectl";
	va_start(ap, a);
	while ((s = va_arg(ap, const char *)) != NULL && argc < 31)
		argv[argc++] = (char *)s;
	va_end(ap);
	argv[argc] = NULL;
	return ctl_parse_args(argc, argv, a, err, sizeof(err));
}

#define ARGS_OK(a, ...) do { \
	if (args((a), __VA_ARGS__, (const char *)NULL) != 0) \
		fail_msg("%s", err); \
} while (0)

#define ARGS_FAIL(msg, ...) do { \
	struct ctl_args x_; \
	assert_int_equal(args(&x_, __VA_ARGS__, (const char *)NULL), -1); \
	assert_string_equal(err, (msg)); \
} while (0)

static void
test_args_commands(void **state)
{
	struct ctl_args a;

	ARGS_OK(&a, "status");
	assert_int_equal(a.cmd, CTL_STATUS);
	assert_null(a.vm);
	assert_null(a.endpoint);
	assert_null(a.token_file);
	assert_false(a.json);
	assert_int_equal(a.weight, -1);
	assert_int_equal(a.max_sessions, -1);
	assert_false(ctl_cmd_mutates(a.cmd));
	ARGS_OK(&a, "sessions");
	assert_int_equal(a.cmd, CTL_SESSIONS);
	assert_null(a.vm);
	ARGS_OK(&a, "sessions", "vm1");
	assert_string_equal(a.vm, "vm1");
	assert_false(ctl_cmd_mutates(a.cmd));
	ARGS_OK(&a, "drain", "vm1");
	assert_int_equal(a.cmd, CTL_DRAIN);
	assert_true(ctl_cmd_mutates(a.cmd));
	/* the node itself: status reads, drain and ready need the token */
	ARGS_OK(&a, "node", "status");
	assert_int_equal(a.cmd, CTL_NODE_STATUS);
	assert_null(a.vm);
	assert_false(ctl_cmd_mutates(a.cmd));
	ARGS_OK(&a, "node", "drain");
	assert_int_equal(a.cmd, CTL_NODE_DRAIN);
	assert_true(ctl_cmd_mutates(a.cmd));
	ARGS_OK(&a, "--json", "node", "ready");
	assert_int_equal(a.cmd, CTL_NODE_READY);
	assert_true(ctl_cmd_mutates(a.cmd));
	/* a binary upgrade needs the token */
	ARGS_OK(&a, "upgrade");
	assert_int_equal(a.cmd, CTL_UPGRADE);
	assert_true(ctl_cmd_mutates(a.cmd));
	ARGS_OK(&a, "ready", "vm-2.a_b");
	assert_int_equal(a.cmd, CTL_READY);
	assert_string_equal(a.vm, "vm-2.a_b");
	ARGS_OK(&a, "maint", "vm1");
	assert_int_equal(a.cmd, CTL_MAINT);
	ARGS_OK(&a, "remove", "vm1");
	assert_int_equal(a.cmd, CTL_REMOVE);
	assert_true(ctl_cmd_mutates(a.cmd));
	ARGS_OK(&a, "add", "vm4", "10.0.0.9");
	assert_int_equal(a.cmd, CTL_ADD);
	assert_string_equal(a.vm, "vm4");
	assert_string_equal(a.address, "10.0.0.9");
	assert_int_equal(a.weight, -1);
	assert_true(ctl_cmd_mutates(a.cmd));
	/* options anywhere, both spellings, the last one wins */
	ARGS_OK(&a, "--weight", "3", "add", "vm4", "--max-sessions=20", "fd00::9",
	    "--endpoint", "http://a:1", "--endpoint=http://b:2", "--json",
	    "--token-file", "/t");
	assert_int_equal(a.weight, 3);
	assert_int_equal(a.max_sessions, 20);
	assert_string_equal(a.address, "fd00::9");
	assert_string_equal(a.endpoint, "http://b:2");
	assert_string_equal(a.token_file, "/t");
	assert_true(a.json);
	ARGS_OK(&a, "add", "vm4", "1.2.3.4", "--weight=0", "--max-sessions", "0");
	assert_int_equal(a.weight, 0);   /* the daemon says what it accepts */
	assert_int_equal(a.max_sessions, 0);
	/*
	 * after "--" everything is an argument: "-vm" is then a VM name, and
	 * refused as one (a name never starts with '-')
	 */
	ARGS_OK(&a, "drain", "--", "vm-1");
	assert_string_equal(a.vm, "vm-1");
	assert_int_equal(args(&a, "drain", "--", "-vm", (const char *)NULL), -1);
	assert_string_equal(err, "\"-vm\" is not a valid VM name (expected 1 to "
	    "63 of A-Z a-z 0-9 _ - . (not starting with - or .))");
	ARGS_OK(&a, "--json", "--", "sessions");
	assert_int_equal(a.cmd, CTL_SESSIONS);
	/* help and version win over anything, errors in the rest included */
	ARGS_OK(&a, "drain", "-h");
	assert_int_equal(a.cmd, CTL_HELP);
	ARGS_OK(&a, "--help", "bogus", "x", "y");
	assert_int_equal(a.cmd, CTL_HELP);
	ARGS_OK(&a, "--version");
	assert_int_equal(a.cmd, CTL_VERSION);
	assert_false(ctl_cmd_mutates(CTL_HELP));
}

/* node status as a table, from the daemon's document. */
static void
test_print_node(void **state)
{
	static const char doc[] = "{\"node\":\"pg1\",\"redis\":\"degraded\","
	    "\"master\":\"127.0.0.1:6390\",\"redis_error\":\"no answer within 1500 ms\","
	    "\"draining\":true,\"sessions\":3,\"hook_runner\":\"pg2\",\"nodes\":["
	    "{\"name\":\"pg2\",\"draining\":false,\"hook_runner\":true,"
	    "\"sessions\":2,\"heard_ms_ago\":120}]}";
	struct json_doc *d;
	char msg[256], *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(d = json_parse(doc, strlen(doc), msg, sizeof(msg)));
	assert_non_null(f = open_memstream(&out, &len));
	assert_int_equal(ctl_print_node(f, json_root(d), msg, sizeof(msg)), 0);
	fclose(f);
	assert_string_equal(out,
	    "NODE             FRONT     HOOKS  SESSIONS  REDIS\n"
	    "pg1              drained   -             3  degraded (127.0.0.1:6390): no answer within 1500 ms\n"
	    "pg2              serving   runs          2  heard 120 ms ago\n"
	    "hook runner: pg2\n");
	free(out);
	json_free(d);
	assert_non_null(d = json_parse("{}", 2, msg, sizeof(msg)));
	assert_int_equal(ctl_print_node(stdout, json_root(d), msg, sizeof(msg)), -1);
	assert_string_equal(msg, "the node document is not as expected");
	json_free(d);
}

static void
test_args_errors(void **state)
{
	char *long_name = repeat("", "v", CTL_VM_MAX + 1, "");
	char *long_addr = repeat("", "1", CTL_HOST_MAX + 1, "");
	struct ctl_args a;

	ARGS_FAIL("no command given", "--json");
	ARGS_FAIL("unknown command \"stats\" (expected status, sessions, drain, "
	    "ready, maint, add, remove, node or upgrade)", "stats");
	ARGS_FAIL("upgrade: expected no argument, got 1 argument", "upgrade",
	    "now");
	ARGS_FAIL("node: expected drain, ready or status, got 0 arguments", "node");
	ARGS_FAIL("node: \"stop\" is not drain, ready or status", "node", "stop");
	ARGS_FAIL("node: expected drain, ready or status, got 2 arguments", "node",
	    "drain", "now");
	ARGS_FAIL("status: expected no argument, got 1 argument", "status", "vm1");
	ARGS_FAIL("sessions: expected at most one VM name, got 2 arguments",
	    "sessions", "a", "b");
	ARGS_FAIL("drain: expected one VM name, got 0 arguments", "drain");
	ARGS_FAIL("ready: expected one VM name, got 2 arguments", "ready", "a", "b");
	ARGS_FAIL("maint: expected one VM name, got 0 arguments", "maint");
	ARGS_FAIL("remove: expected one VM name, got 0 arguments", "remove");
	ARGS_FAIL("add: expected VM ADDRESS, got 1 argument", "add", "vm4");
	ARGS_FAIL("add: expected VM ADDRESS, got 6 arguments", "add", "a", "b",
	    "c", "d", "e", "f");
	ARGS_FAIL("unknown option \"-x\"", "status", "-x");
	ARGS_FAIL("unknown option \"--jsonx\"", "--jsonx", "status");
	ARGS_FAIL("unknown option \"--endpointx=1\"", "--endpointx=1", "status");
	ARGS_FAIL("--endpoint needs a value", "status", "--endpoint");
	ARGS_FAIL("--token-file needs a value", "drain", "vm1", "--token-file");
	ARGS_FAIL("--weight needs a value", "add", "a", "b", "--weight");
	ARGS_FAIL("--max-sessions needs a value", "add", "a", "b",
	    "--max-sessions");
	ARGS_FAIL("\"vm/1\" is not a valid VM name (expected 1 to 63 of A-Z a-z "
	    "0-9 _ - . (not starting with - or .))", "drain", "vm/1");
	ARGS_FAIL("\"vm1?x\" is not a valid VM name (expected 1 to 63 of A-Z a-z "
	    "0-9 _ - . (not starting with - or .))", "sessions", "vm1?x");
	ARGS_FAIL("\"\" is not a valid VM name (expected 1 to 63 of A-Z a-z 0-9 _ "
	    "- . (not starting with - or .))", "remove", "");
	/* the daemon's one rule: a name is never an option or a path */
	ARGS_FAIL("\"-rf\" is not a valid VM name (expected 1 to 63 of A-Z a-z "
	    "0-9 _ - . (not starting with - or .))", "remove", "--", "-rf");
	ARGS_FAIL("\"..\" is not a valid VM name (expected 1 to 63 of A-Z a-z "
	    "0-9 _ - . (not starting with - or .))", "drain", "..");
	ARGS_FAIL("\".hidden\" is not a valid VM name (expected 1 to 63 of A-Z "
	    "a-z 0-9 _ - . (not starting with - or .))", "add", ".hidden",
	    "10.0.0.9");
	assert_false(ctl_vm_name_valid(NULL));
	assert_true(ctl_vm_name_valid("vm-1.a_B"));
	assert_int_equal(args(&a, "drain", long_name, (const char *)NULL), -1);
	long_name[CTL_VM_MAX] = '\0';
	assert_int_equal(args(&a, "drain", long_name, (const char *)NULL), 0);
	ARGS_FAIL("add: the address must have 1 to 255 bytes", "add", "vm4", "");
	assert_int_equal(args(&a, "add", "vm4", long_addr, (const char *)NULL), -1);
	assert_string_equal(err, "add: the address must have 1 to 255 bytes");
	ARGS_FAIL("--weight is only for add", "drain", "vm1", "--weight", "2");
	ARGS_FAIL("--max-sessions is only for add", "status", "--max-sessions=2");
	ARGS_FAIL("--weight: expected a whole number, got \"x\"", "add", "a", "b",
	    "--weight", "x");
	ARGS_FAIL("--weight: expected a whole number, got \"-1\"", "add", "a", "b",
	    "--weight=-1");
	ARGS_FAIL("--weight: expected a whole number, got \"\"", "add", "a", "b",
	    "--weight=");
	ARGS_FAIL("--weight: expected a whole number, got \"1.5\"", "add", "a", "b",
	    "--weight=1.5");
	ARGS_FAIL("--max-sessions: expected a whole number, got \"2147483648\"",
	    "add", "a", "b", "--max-sessions=2147483648");
	ARGS_FAIL("--max-sessions: expected a whole number, got \"99999999999\"",
	    "add", "a", "b", "--max-sessions=99999999999");
	assert_int_equal(args(&a, "add", "a", "b", "--max-sessions=2147483647",
	    (const char *)NULL), 0);
	assert_int_equal(a.max_sessions, 2147483647);
	free(long_name);
	free(long_addr);
}

static void
test_usage_text(void **state)
{
	struct cap c;
	char *t;

	ctl_usage(cap_open(&c));
	t = cap_text(&c);
	assert_non_null(strstr(t, "usage: poolgatectl [--endpoint URL] "
	    "[--token-file FILE] [--json] COMMAND"));
	assert_non_null(strstr(t, "add VM ADDRESS [--weight N] [--max-sessions N]"));
	assert_non_null(strstr(t, "POOLGATECTL_CONF"));
	free(t);
	ctl_synopsis(cap_open(&c));
	t = cap_text(&c);
	assert_non_null(strstr(t, "sessions [VM]"));
	free(t);
}

/* ---- endpoint ----------------------------------------------------------- */

#define EP_OK(u, h_, p_, url_, hdr_) do { \
	struct ctl_endpoint e_; \
	if (ctl_parse_endpoint((u), &e_, err, sizeof(err)) != 0) \
		fail_msg("%s: %s", (u), err); \
	assert_string_equal(e_.host, (h_)); \
	assert_int_equal(e_.port, (p_)); \
	assert_string_equal(e_.url, (url_)); \
	assert_string_equal(e_.hosthdr, (hdr_)); \
} while (0)

#define EP_FAIL(u, msg) do { \
	struct ctl_endpoint e_; \
	assert_int_equal(ctl_parse_endpoint((u), &e_, err, sizeof(err)), -1); \
	assert_string_equal(err, (msg)); \
} while (0)

static void
test_endpoint(void **state)
{
	EP_OK("http://127.0.0.1:9100", "127.0.0.1", 9100, "http://127.0.0.1:9100",
	    "127.0.0.1:9100");
	EP_OK("HTTP://admin.example:9100/", "admin.example", 9100,
	    "http://admin.example:9100", "admin.example:9100");
	EP_OK("http://localhost", "localhost", 80, "http://localhost:80",
	    "localhost:80");
	EP_OK("http://[::1]:9100", "::1", 9100, "http://[::1]:9100", "[::1]:9100");
	EP_OK("http://[fd00::1]/", "fd00::1", 80, "http://[fd00::1]:80",
	    "[fd00::1]:80");
	EP_OK("http://h:65535", "h", 65535, "http://h:65535", "h:65535");
	EP_OK("http://h:1", "h", 1, "http://h:1", "h:1");

	EP_FAIL("https://127.0.0.1:9100", "https://127.0.0.1:9100: https is not "
	    "supported: poolgatectl speaks plain http:// to the admin endpoint "
	    "(keep it on a local address, or reach it through an SSH tunnel)");
	EP_FAIL("127.0.0.1:9100", "127.0.0.1:9100: expected an http:// URL such "
	    "as http://127.0.0.1:9100");
	EP_FAIL("ftp://h", "ftp://h: expected an http:// URL such as "
	    "http://127.0.0.1:9100");
	EP_FAIL("http://", "http://: expected a host of 1 to 255 bytes after "
	    "http://");
	EP_FAIL("http://:9100", "http://:9100: expected a host of 1 to 255 bytes "
	    "after http://");
	EP_FAIL("http://h:", "http://h:: expected a port number after ':'");
	EP_FAIL("http://h:x", "http://h:x: expected a port number after ':'");
	EP_FAIL("http://h:0", "http://h:0: the port must be 1 to 65535");
	EP_FAIL("http://h:65536", "http://h:65536: the port must be 1 to 65535");
	EP_FAIL("http://h:009100", "http://h:009100: the port must be 1 to 65535");
	EP_FAIL("http://h:9100/api", "http://h:9100/api: expected nothing after "
	    "the port (the daemon serves its API at the root), found \"/api\"");
	EP_FAIL("http://h:9100?x=1", "http://h:9100?x=1: expected nothing after "
	    "the port (the daemon serves its API at the root), found \"?x=1\"");
	EP_FAIL("http://h/#f", "http://h/#f: expected nothing after the port (the "
	    "daemon serves its API at the root), found \"/#f\"");
	EP_FAIL("http://u:p@h:1", "http://u:p@h:1: expected a port number after "
	    "':'");
	EP_FAIL("http://u@h:1", "http://u@h:1: a user name in the URL is not "
	    "supported");
	EP_FAIL("http://[::1", "http://[::1: no ']' after the IPv6 address");
	EP_FAIL("http://[::1]x", "http://[::1]x: expected nothing after the port "
	    "(the daemon serves its API at the root), found \"x\"");
	EP_FAIL("http://[g::1]", "http://[g::1]: \"g::1\" is not an IPv6 address");
	EP_FAIL("http://h st", "http://h st: \"h st\" is not a host name or "
	    "address");
	EP_FAIL("http://h%2f", "http://h%2f: \"h%2f\" is not a host name or "
	    "address");
}

/* ---- files -------------------------------------------------------------- */

static char tmpdir[64];
static char path[128];

static int
setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgtest-ctl-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/f", tmpdir);
	return 0;
}

static int
teardown_tmp(void **state)
{
	unlink(path);
	return rmdir(tmpdir);
}

static void
write_file(const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

#define WRITE(s) write_file((s), strlen(s))

static void
test_conf(void **state)
{
	struct ctl_conf c;
	char want[512];

	WRITE("# poolgatectl\nendpoint = \"http://127.0.0.1:9100\";\n"
	    "token_file = \"/etc/poolgate/admin.token\";\n");
	assert_int_equal(ctl_load_conf(path, false, &c, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "http://127.0.0.1:9100");
	assert_string_equal(c.token_file, "/etc/poolgate/admin.token");
	/* both optional */
	WRITE("");
	assert_int_equal(ctl_load_conf(path, false, &c, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "");
	assert_string_equal(c.token_file, "");
	WRITE("token_file = \"/t\";");
	assert_int_equal(ctl_load_conf(path, false, &c, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "");
	assert_string_equal(c.token_file, "/t");

#define CONF_FAIL(text, msgfmt) do { \
	WRITE(text); \
	memset(&c, 'x', sizeof(c)); \
	assert_int_equal(ctl_load_conf(path, true, &c, err, sizeof(err)), -1); \
	snprintf(want, sizeof(want), msgfmt, path); \
	assert_string_equal(err, want); \
	assert_string_equal(c.endpoint, ""); \
} while (0)
	CONF_FAIL("endpoint = \"http://h:1\";\n\nfoo = 1;\n",
	    "%s:3: unknown setting \"foo\" (expected endpoint, token_file)");
	CONF_FAIL("endpoint = 9100;\n", "%s:1: endpoint: expected a string in "
	    "double quotes");
	CONF_FAIL("\ntoken_file = [\"a\"];\n", "%s:2: token_file: expected a "
	    "string in double quotes");
	CONF_FAIL("endpoint = \"\";\n", "%s:1: endpoint: expected 1 to 299 bytes");
	CONF_FAIL("x;\n", "%s:1: syntax error");
	CONF_FAIL("endpoint = \"http://h:1\"\n  token_file = ;\n",
	    "%s:2: syntax error");
	CONF_FAIL("\n\nendpoint = \"https://h:9100\";\n", "%s:3: endpoint: "
	    "https://h:9100: https is not supported: poolgatectl speaks plain "
	    "http:// to the admin endpoint (keep it on a local address, or reach "
	    "it through an SSH tunnel)");
	CONF_FAIL("admin = { endpoint = \"http://h:1\"; };", "%s:1: unknown "
	    "setting \"admin\" (expected endpoint, token_file)");
#undef CONF_FAIL

	/* a missing file: fine only when allowed (the default path) */
	unlink(path);
	memset(&c, 'x', sizeof(c));
	assert_int_equal(ctl_load_conf(path, true, &c, err, sizeof(err)), 0);
	assert_string_equal(c.endpoint, "");
	assert_string_equal(c.token_file, "");
	assert_int_equal(ctl_load_conf(path, false, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);
	/* a folder is not a file, whatever missing_ok says (and libconfig's
	 * scanner would exit the process reading one) */
	assert_int_equal(ctl_load_conf(tmpdir, true, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
	assert_string_equal(err, want);
}

static void
test_token(void **state)
{
	char tok[CTL_TOKEN_MAX + 1], want[512];
	char *big;

	WRITE("s3cret-token_0123456789\n");
	assert_int_equal(ctl_read_token(path, tok, sizeof(tok), err,
	    sizeof(err)), 0);
	assert_string_equal(tok, "s3cret-token_0123456789");
	WRITE("abc\r\n");
	assert_int_equal(ctl_read_token(path, tok, sizeof(tok), err,
	    sizeof(err)), 0);
	assert_string_equal(tok, "abc");
	WRITE("abc");
	assert_int_equal(ctl_read_token(path, tok, sizeof(tok), err,
	    sizeof(err)), 0);
	assert_string_equal(tok, "abc");
	big = repeat("", "t", CTL_TOKEN_MAX, "\n");
	WRITE(big);
	assert_int_equal(ctl_read_token(path, tok, sizeof(tok), err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(tok), CTL_TOKEN_MAX);
	free(big);

#define TOKEN_FAIL(text, msgfmt) do { \
	WRITE(text); \
	memset(tok, 'x', sizeof(tok)); \
	assert_int_equal(ctl_read_token(path, tok, sizeof(tok), err, \
	    sizeof(err)), -1); \
	snprintf(want, sizeof(want), msgfmt, path); \
	assert_string_equal(err, want); \
	for (size_t i_ = 0; i_ < sizeof(tok); i_++) \
		assert_int_equal(tok[i_], 0); \
} while (0)
	TOKEN_FAIL("", "token file %s: empty");
	TOKEN_FAIL("\n", "token file %s: empty");
	TOKEN_FAIL("ab cd\n", "token file %s: byte 2 of the token is a space or "
	    "not printable ASCII");
	TOKEN_FAIL("abc\n\n", "token file %s: byte 3 of the token is a space or "
	    "not printable ASCII");
	TOKEN_FAIL("ab\xc3\xa9", "token file %s: byte 2 of the token is a space "
	    "or not printable ASCII");
	big = repeat("", "t", CTL_TOKEN_MAX + 1, "\n");
	TOKEN_FAIL(big, "token file %s: the token is longer than 255 bytes");
	free(big);
	big = repeat("", "t", 100000, "");
	TOKEN_FAIL(big, "token file %s: the token is longer than 255 bytes");
	free(big);
#undef TOKEN_FAIL
	/* a buffer too small for the token is refused, not overrun */
	WRITE("abcdef");
	assert_int_equal(ctl_read_token(path, tok, 4, err, sizeof(err)), -1);
	unlink(path);
	assert_int_equal(ctl_read_token(path, tok, sizeof(tok), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "token file %s: No such file or directory",
	    path);
	assert_string_equal(err, want);
	assert_int_equal(ctl_read_token(tmpdir, tok, sizeof(tok), err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "token file %s: not a regular file", tmpdir);
	assert_string_equal(err, want);
}

/* ---- tables ------------------------------------------------------------- */

static void
test_table(void **state)
{
	static const char *const head[] = { "VM", "STATE", "HEALTH" };
	struct ctl_table t;
	struct cap c;

	assert_int_equal(tbl_init(&t, 3, head), 0);
	assert_int_equal(tbl_add(&t, (const char *const[]){ "vm1", "up",
	    "ssh:up" }), 0);
	assert_int_equal(tbl_add(&t, (const char *const[]){ "vm-long-name",
	    "", "ssh:down(refused)" }), 0);
	assert_int_equal(tbl_add(&t, (const char *const[]){ "v\xc3\xa9", "a\tb\x1b",
	    NULL }), 0);
	tbl_print(&t, cap_open(&c));
	/* widths by characters: "vé" is 2 wide; no trailing blanks */
	ASSERT_OUTPUT(&c,
	    "VM            STATE  HEALTH\n"
	    "vm1           up     ssh:up\n"
	    "vm-long-name  -      ssh:down(refused)\n"
	    "v\xc3\xa9            a?b?   -\n");
	tbl_free(&t);

	/* a header only */
	assert_int_equal(tbl_init(&t, 3, head), 0);
	tbl_print(&t, cap_open(&c));
	ASSERT_OUTPUT(&c, "VM  STATE  HEALTH\n");
	tbl_free(&t);

	/* a cell is cut at CTL_CELL_MAX bytes, never inside a UTF-8 sequence */
	{
		char *big = repeat("", "\xc3\xa9", CTL_CELL_MAX, "");
		char *out;
		static const char *const one[] = { "X" };

		assert_int_equal(tbl_init(&t, 1, one), 0);
		assert_int_equal(tbl_add(&t, (const char *const[]){ big }), 0);
		tbl_print(&t, cap_open(&c));
		out = cap_text(&c);
		assert_int_equal(strlen(out), 2 + (CTL_CELL_MAX - 4) + 3 + 1);
		assert_memory_equal(out + 2 + CTL_CELL_MAX - 4, "...\n", 4);
		free(out);
		tbl_free(&t);
		free(big);
	}
	assert_int_equal(ctl_text_width(""), 0);
	assert_int_equal(ctl_text_width("abc"), 3);
	assert_int_equal(ctl_text_width("\xe2\x82\xac\xf0\x9f\x98\x80x"), 3);
}

static void
test_health_text(void **state)
{
	struct json_doc *d = parse_ok("{\"ssh\":{\"up\":true,\"last_error\":\"\"},"
	    "\"jupyter\":{\"up\":false,\"last_error\":\"connection refused\"},"
	    "\"x\":{\"up\":false,\"last_error\":\"\"},\"y\":{},"
	    "\"z\":{\"up\":true,\"last_error\":\"one failure, still up\"}}");
	char buf[256], small[12];

	ctl_health_text(json_root(d), buf, sizeof(buf));
	assert_string_equal(buf, "ssh:up jupyter:down(connection refused) x:down "
	    "y:down z:up");
	ctl_health_text(json_root(d), small, sizeof(small));
	assert_string_equal(small, "ssh:up jupy");
	ctl_health_text(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	ctl_health_text(json_get(json_get(json_root(d), "ssh"), "up"), buf, sizeof(buf));
	assert_string_equal(buf, "");   /* not an object */
	json_free(d);
}

/* What /status and /api/v1/backends say (trimmed to what matters). */
static const char status_json[] =
	"{\"version\":\"0.1.0\",\"services\":[{\"name\":\"ssh\"},{\"name\":\"jupyter\"}],"
	"\"backends\":["
	"{\"name\":\"vm1\",\"address\":\"10.231.0.11\",\"state\":\"up\",\"removed\":false,"
	"\"weight\":1,\"sessions\":3,\"users\":[\"ann\"],\"health\":{"
	"\"ssh\":{\"up\":true,\"last_error\":\"\",\"latency_ms\":1},"
	"\"jupyter\":{\"up\":true,\"last_error\":\"\"}}},"
	"{\"name\":\"vm2\",\"address\":\"10.231.0.12\",\"state\":\"drain\",\"removed\":true,"
	"\"weight\":2,\"sessions\":0,\"users\":[],\"health\":{"
	"\"ssh\":{\"up\":true,\"last_error\":\"\"},"
	"\"jupyter\":{\"up\":false,\"last_error\":\"connection refused\"}}},"
	"{\"name\":\"vm10\",\"address\":\"fd00::10\",\"state\":\"maint\",\"removed\":false,"
	"\"weight\":1,\"sessions\":2,\"users\":[\"bob\",\"\\u00e9mile\"],\"health\":{"
	"\"ssh\":{\"up\":false,\"last_error\":\"bad banner \\u001b[2J\"},"
	"\"jupyter\":{\"up\":false,\"last_error\":\"timeout\"}}}"
	"]}\n";
static const char api_json[] =
	"{\"backends\":["
	"{\"name\":\"vm2\",\"load\":0.000},"
	"{\"name\":\"vm1\",\"load\":3.000},"
	"{\"name\":\"vm10\",\"load\":null}]}\n";

static void
test_print_status(void **state)
{
	struct json_doc *st = parse_ok(status_json), *api = parse_ok(api_json), *d;
	struct cap c;

	assert_int_equal(ctl_print_status(cap_open(&c), json_root(st), json_root(api),
	    err, sizeof(err)), 0);
	ASSERT_OUTPUT(&c,
	    "VM    ADDRESS      STATE           SESSIONS  USERS  LOAD   HEALTH\n"
	    "vm1   10.231.0.11  up              3         1      3.000  ssh:up jupyter:up\n"
	    "vm2   10.231.0.12  drain(removed)  0         0      0.000  ssh:up jupyter:down(connection refused)\n"
	    "vm10  fd00::10     maint           2         2      -      ssh:down(bad banner ?[2J) jupyter:down(timeout)\n");
	/* without the API's view, and a VM the API does not list: LOAD "-" */
	assert_int_equal(ctl_print_status(cap_open(&c), json_root(st), NULL,
	    err, sizeof(err)), 0);
	ASSERT_OUTPUT(&c,
	    "VM    ADDRESS      STATE           SESSIONS  USERS  LOAD  HEALTH\n"
	    "vm1   10.231.0.11  up              3         1      -     ssh:up jupyter:up\n"
	    "vm2   10.231.0.12  drain(removed)  0         0      -     ssh:up jupyter:down(connection refused)\n"
	    "vm10  fd00::10     maint           2         2      -     ssh:down(bad banner ?[2J) jupyter:down(timeout)\n");
	/* an empty pool: the header */
	d = parse_ok("{\"backends\":[]}");
	assert_int_equal(ctl_print_status(cap_open(&c), json_root(d), json_root(d),
	    err, sizeof(err)), 0);
	ASSERT_OUTPUT(&c, "VM  ADDRESS  STATE  SESSIONS  USERS  LOAD  HEALTH\n");
	json_free(d);
	/* missing pieces show as "?" or "-"; a nameless VM is an error */
	d = parse_ok("{\"backends\":[{\"name\":\"vm1\"}]}");
	assert_int_equal(ctl_print_status(cap_open(&c), json_root(d), NULL,
	    err, sizeof(err)), 0);
	ASSERT_OUTPUT(&c,
	    "VM   ADDRESS  STATE  SESSIONS  USERS  LOAD  HEALTH\n"
	    "vm1  -        ?      ?         0      -     -\n");
	json_free(d);

#define STATUS_FAIL(json, api_or_null, msg) do { \
	struct json_doc *x_ = parse_ok(json); \
	struct cap c_; \
	char *t_; \
	assert_int_equal(ctl_print_status(cap_open(&c_), json_root(x_), \
	    (api_or_null), err, sizeof(err)), -1); \
	assert_string_equal(err, (msg)); \
	t_ = cap_text(&c_); \
	assert_string_equal(t_, "");  /* nothing half-printed */ \
	free(t_); \
	json_free(x_); \
} while (0)
	STATUS_FAIL("{}", NULL, "/status: the reply has no \"backends\" array");
	STATUS_FAIL("[]", NULL, "/status: the reply has no \"backends\" array");
	STATUS_FAIL("{\"backends\":{}}", NULL, "/status: the reply has no "
	    "\"backends\" array");
	STATUS_FAIL("{\"backends\":[{\"name\":1}]}", NULL, "/status: a VM in "
	    "\"backends\" has no name");
	STATUS_FAIL("{\"backends\":[5]}", NULL, "/status: a VM in \"backends\" has "
	    "no name");
	d = parse_ok("{\"backends\":[{\"load\":1}]}");
	STATUS_FAIL("{\"backends\":[]}", json_root(d), "/api/v1/backends: a VM in "
	    "\"backends\" has no name");
	json_free(d);
	d = parse_ok("{\"error\":\"x\"}");
	STATUS_FAIL("{\"backends\":[]}", json_root(d), "/api/v1/backends: the reply "
	    "has no \"backends\" array");
	json_free(d);
#undef STATUS_FAIL
	json_free(st);
	json_free(api);
}

static void
test_print_sessions(void **state)
{
	struct json_doc *st = parse_ok(status_json), *d;
	struct cap c;
	char *t;

	/* sessions counts SSH and each Jupyter user: SSH = sessions - users */
	assert_int_equal(ctl_print_sessions(cap_open(&c), json_root(st), NULL, err,
	    sizeof(err)), 0);
	ASSERT_OUTPUT(&c,
	    "VM    SSH  JUPYTER  USERS\n"
	    "vm1   2    1        ann\n"
	    "vm2   0    0        -\n"
	    "vm10  0    2        bob,\xc3\xa9mile\n");
	assert_int_equal(ctl_print_sessions(cap_open(&c), json_root(st), "vm1", err,
	    sizeof(err)), 0);
	ASSERT_OUTPUT(&c,
	    "VM   SSH  JUPYTER  USERS\n"
	    "vm1  2    1        ann\n");
	assert_int_equal(ctl_print_sessions(cap_open(&c), json_root(st), "vm9", err,
	    sizeof(err)), 1);
	t = cap_text(&c);
	assert_string_equal(t, "");
	free(t);
	/* the VM's own object, for sessions VM --json */
	assert_non_null(ctl_status_backend(json_root(st), "vm10"));
	assert_string_equal(json_get_str(ctl_status_backend(json_root(st), "vm10"),
	    "address"), "fd00::10");
	assert_null(ctl_status_backend(json_root(st), "vm1 "));
	/* a count below the users (a user listed before being counted) is 0 */
	d = parse_ok("{\"backends\":[{\"name\":\"a\",\"sessions\":1,"
	    "\"users\":[\"x\",\"y\",\"\\u0007\"]}]}");
	assert_int_equal(ctl_print_sessions(cap_open(&c), json_root(d), NULL, err,
	    sizeof(err)), 0);
	ASSERT_OUTPUT(&c,
	    "VM  SSH  JUPYTER  USERS\n"
	    "a   0    3        x,y,?\n");
	json_free(d);
	d = parse_ok("{\"backends\":7}");
	assert_int_equal(ctl_print_sessions(cap_open(&c), json_root(d), NULL, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "/status: the reply has no \"backends\" array");
	t = cap_text(&c);
	free(t);
	assert_null(ctl_status_backend(json_root(d), "a"));
	json_free(d);
	json_free(st);
}

static void
test_print_result(void **state)
{
	struct json_doc *vm = parse_ok("{\"name\":\"vm1\",\"address\":\"10.0.0.9\","
	    "\"state\":\"drain\",\"removed\":false,\"sessions\":2}");
	struct json_doc *one = parse_ok("{\"name\":\"vm1\",\"address\":\"10.0.0.9\","
	    "\"state\":\"up\",\"removed\":false,\"sessions\":1}");
	struct json_doc *gone = parse_ok("{\"name\":\"vm1\",\"removed\":true}");
	struct json_doc *rm = parse_ok("{\"name\":\"vm1\",\"address\":\"10.0.0.9\","
	    "\"state\":\"drain\",\"removed\":true,\"sessions\":3}");
	struct json_doc *odd = parse_ok("{\"state\":\"\\u001b[2J\"}");
	struct ctl_args a;
	struct cap c;

	ARGS_OK(&a, "drain", "vm1");
	ctl_print_result(cap_open(&c), &a, 200, json_root(vm));
	ASSERT_OUTPUT(&c, "vm1: drain (state drain, 2 sessions)\n");
	ARGS_OK(&a, "ready", "vm1");
	ctl_print_result(cap_open(&c), &a, 200, json_root(one));
	ASSERT_OUTPUT(&c, "vm1: ready (state up, 1 session)\n");
	ARGS_OK(&a, "maint", "vm1");
	ctl_print_result(cap_open(&c), &a, 200, NULL);
	ASSERT_OUTPUT(&c, "vm1: maint\n");
	ctl_print_result(cap_open(&c), &a, 200, json_root(odd));
	ASSERT_OUTPUT(&c, "vm1: maint\n");   /* no escape reaches the terminal */
	ARGS_OK(&a, "add", "vm1", "10.0.0.9");
	ctl_print_result(cap_open(&c), &a, 201, json_root(one));
	ASSERT_OUTPUT(&c, "vm1: added 10.0.0.9 (state up, 1 session)\n");
	ctl_print_result(cap_open(&c), &a, 200, json_root(vm));
	ASSERT_OUTPUT(&c, "vm1: updated 10.0.0.9 (state drain, 2 sessions)\n");
	ctl_print_result(cap_open(&c), &a, 201, NULL);
	ASSERT_OUTPUT(&c, "vm1: added 10.0.0.9\n");
	ARGS_OK(&a, "remove", "vm1");
	ctl_print_result(cap_open(&c), &a, 202, json_root(gone));
	ASSERT_OUTPUT(&c, "vm1: removed\n");
	ctl_print_result(cap_open(&c), &a, 202, json_root(rm));
	ASSERT_OUTPUT(&c, "vm1: removed; drains its 3 sessions, then is "
	    "forgotten\n");
	json_free(vm);
	json_free(one);
	json_free(gone);
	json_free(rm);
	json_free(odd);
}

static void
test_refusal_text(void **state)
{
	char buf[256], small[8];
	const char *b;

	b = "{\"error\":\"invalid token\"}\n";
	ctl_refusal_text(403, b, strlen(b), buf, sizeof(buf));
	assert_string_equal(buf, "403 invalid token");
	b = "{\"error\":\"no VM named vm9\"}";
	ctl_refusal_text(404, b, strlen(b), buf, sizeof(buf));
	assert_string_equal(buf, "404 no VM named vm9");
	b = "{\"error\":\"line\\none \\u001b[31m\"}";
	ctl_refusal_text(400, b, strlen(b), buf, sizeof(buf));
	assert_string_equal(buf, "400 line?one ?[31m");
	/* not the daemon's JSON: the first line of whatever came */
	b = "\n  <html>Bad Gateway</html>\r\nmore";
	ctl_refusal_text(502, b, strlen(b), buf, sizeof(buf));
	assert_string_equal(buf, "502 <html>Bad Gateway</html>");
	b = "{\"message\":\"x\"}";
	ctl_refusal_text(500, b, strlen(b), buf, sizeof(buf));
	assert_string_equal(buf, "500 {\"message\":\"x\"}");
	ctl_refusal_text(503, "", 0, buf, sizeof(buf));
	assert_string_equal(buf, "503");
	{
		char *big = repeat("", "x", 1000, "");
		ctl_refusal_text(500, big, strlen(big), buf, sizeof(buf));
		assert_int_equal(strlen(buf), 4 + 200);
		free(big);
	}
	b = "{\"error\":\"invalid token\"}";
	ctl_refusal_text(403, b, strlen(b), small, sizeof(small));
	assert_string_equal(small, "403 inv");
}

static void
test_add_body(void **state)
{
	struct ctl_args a;
	char body[2048];
	struct json_doc *d;
	int64_t v;

	ARGS_OK(&a, "add", "vm4", "10.0.0.9");
	ctl_add_body(&a, body, sizeof(body));
	assert_string_equal(body, "{\"address\":\"10.0.0.9\"}");
	ARGS_OK(&a, "add", "vm4", "fd00::9", "--weight", "2", "--max-sessions",
	    "0");
	ctl_add_body(&a, body, sizeof(body));
	assert_string_equal(body, "{\"address\":\"fd00::9\",\"weight\":2,"
	    "\"max_sessions\":0}");
	/* whatever the address holds, the body is JSON the daemon can read */
	ARGS_OK(&a, "add", "vm4", "a\"b\\c\n\x7f", "--max-sessions", "5");
	ctl_add_body(&a, body, sizeof(body));
	assert_string_equal(body, "{\"address\":\"a\\\"b\\\\c\\u000a\\u007f\","
	    "\"max_sessions\":5}");
	d = parse_ok(body);
	assert_string_equal(json_get_str(json_root(d), "address"), "a\"b\\c\n\x7f");
	assert_true(json_get_int(json_root(d), "max_sessions", &v));
	assert_int_equal(v, 5);
	json_free(d);
}

static void
test_args_wait(void **state)
{
	struct ctl_args a;

	ARGS_OK(&a, "drain", "vm1");
	assert_false(a.wait);
	assert_int_equal(a.timeout_ms, 0);
	ARGS_OK(&a, "drain", "--wait", "vm1");
	assert_true(a.wait);
	assert_int_equal(a.timeout_ms, 0);   /* no limit */
	ARGS_OK(&a, "drain", "--wait", "--timeout", "30s", "vm1");
	assert_int_equal(a.timeout_ms, 30000);
	ARGS_OK(&a, "--timeout=90", "drain", "vm1", "--wait");
	assert_int_equal(a.timeout_ms, 90000);
	ARGS_OK(&a, "drain", "--wait", "--timeout", "500ms", "vm1");
	assert_int_equal(a.timeout_ms, 500);
	ARGS_OK(&a, "drain", "--wait", "--timeout", "5m", "vm1");
	assert_int_equal(a.timeout_ms, 300000);
	ARGS_OK(&a, "drain", "--wait", "--timeout", "1h", "vm1");
	assert_int_equal(a.timeout_ms, 3600000);
	ARGS_FAIL("--wait is only for drain", "ready", "--wait", "vm1");
	ARGS_FAIL("--timeout is only for drain --wait", "drain", "--timeout", "5s",
	    "vm1");
	ARGS_FAIL("--timeout needs a value", "drain", "vm1", "--wait", "--timeout");
	ARGS_FAIL("--timeout: expected a duration such as 30s, 5m or 1h, got "
	    "\"0s\"", "drain", "--wait", "--timeout", "0s", "vm1");
	ARGS_FAIL("--timeout: expected a duration such as 30s, 5m or 1h, got "
	    "\"5 s\"", "drain", "--wait", "--timeout", "5 s", "vm1");
	ARGS_FAIL("--timeout: expected a duration such as 30s, 5m or 1h, got "
	    "\"1d\"", "drain", "--wait", "--timeout", "1d", "vm1");
	ARGS_FAIL("--timeout: expected a duration such as 30s, 5m or 1h, got "
	    "\"-1\"", "drain", "--wait", "--timeout", "-1", "vm1");
	ARGS_FAIL("--timeout: expected a duration such as 30s, 5m or 1h, got "
	    "\"721h\"", "drain", "--wait", "--timeout", "721h", "vm1");
	/* --json is known even when the line is wrong, for a JSON error */
	assert_int_equal(args(&a, "stats", "--json", (const char *)NULL), -1);
	assert_true(a.json);
	assert_int_equal(args(&a, "--", "--json", (const char *)NULL), -1);
	assert_false(a.json);
}

static void
test_error_json(void **state)
{
	char buf[1024], tiny[48];
	char *long_msg = repeat("", "\x01", 200, "");

	ctl_error_json("cannot reach poolgate at http://127.0.0.1:9: "
	    "connection \"refused\"", CTL_EXIT_UNREACHABLE, buf, sizeof(buf));
	assert_string_equal(buf, "{\"error\":\"cannot reach poolgate at "
	    "http://127.0.0.1:9: connection \\\"refused\\\"\",\"exit\":4}\n");
	/* cut to fit, and still one valid object */
	ctl_error_json(long_msg, 3, tiny, sizeof(tiny));
	assert_string_equal(tiny, "{\"error\":\"\\u0001\",\"exit\":3}\n");
	free(long_msg);
}

static void
test_vm_sessions(void **state)
{
	static const char st[] = "{\"backends\":[{\"name\":\"vm1\",\"sessions\":2},"
	    "{\"name\":\"vm2\",\"sessions\":0},{\"name\":\"vm3\"}]}";
	struct json_doc *d;
	int64_t n = -1;

	d = json_parse(st, sizeof(st) - 1, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(ctl_vm_sessions(json_root(d), "vm1", &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ctl_vm_sessions(json_root(d), "vm2", &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ctl_vm_sessions(json_root(d), "vm9", &n, err,
	    sizeof(err)), 1);
	assert_int_equal(ctl_vm_sessions(json_root(d), "vm3", &n, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "/status: VM vm3 has no \"sessions\" number");
	json_free(d);
	d = json_parse("{}", 2, err, sizeof(err));
	assert_int_equal(ctl_vm_sessions(json_root(d), "vm1", &n, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "/status: the reply has no \"backends\" array");
	json_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_commands),
		cmocka_unit_test(test_print_node),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_wait),
		cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_vm_sessions),
		cmocka_unit_test(test_usage_text),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test_setup_teardown(test_conf, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_token, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_health_text),
		cmocka_unit_test(test_print_status),
		cmocka_unit_test(test_print_sessions),
		cmocka_unit_test(test_print_result),
		cmocka_unit_test(test_refusal_text),
		cmocka_unit_test(test_add_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
