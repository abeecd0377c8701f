/*
 * fuzz_agent_procfs.c -- the text files poolgate-agent reads under /proc
 * and /run whose contents users influence (a process names itself; a login
 * records a remote host): /proc/<pid>/stat and status (agent/procs.c),
 * /proc/net/tcp and tcp6 (agent/peers.c), a logind session file
 * (agent/sessions.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/peers.h"
#include "agent/procs.h"
#include "agent/sessions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No component of path is "..", none is empty, it is relative. */
static bool
no_dotdot(const char *path)
{
	const char *p = path, *slash;
	size_t len;

	if (*p == '/' || *p == '\0')
		return false;
	for (;;) {
		slash = strchr(p, '/');
		len = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (slash == NULL)
			return true;
		p = slash + 1;
	}
}

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t ports[] = { 22, 2222 };
	const char *buf = (const char *)data;
	struct pr_conn c[8];
	struct ag_session s;
	struct ps_proc p;
	uint32_t uid;
	size_t n = 0, i;
	int r;

	if (ps_parse_stat(buf, size, &p) == 0) {
		CHECK(p.pid > 0 && p.ppid >= 0);
		CHECK(memchr(p.comm, '\0', sizeof(p.comm)) != NULL);
	}
	(void)ps_parse_status_uid(buf, size, &uid);
	pr_parse_tcp(buf, size, false, ports, 2, c, 8, &n);
	pr_parse_tcp(buf, size, true, ports, 2, c, 8, &n);
	CHECK(n <= 8);
	for (i = 0; i < n; i++) {
		CHECK(c[i].inode > 0);
		CHECK(c[i].local_port == 22 || c[i].local_port == 2222);
		CHECK(memchr(c[i].peer, '\0', sizeof(c[i].peer)) != NULL);
	}
	memset(&s, 0, sizeof(s));
	r = ss_parse_logind(buf, size, &s);
	CHECK(r >= -1 && r <= 1);
	if (r == 1) {
		CHECK(s.user[0] != '\0' && strlen(s.user) <= AG_NAME_MAX);
		CHECK(strlen(s.tty) <= AG_TTY_MAX);
		CHECK(strlen(s.remote) <= AG_HOST_MAX);
		if (ss_tty_safe(s.tty))
			CHECK(no_dotdot(s.tty));
	}
	return 0;
}
