/*
 * test_agent_sessions.c -- the sessions collector (agent/sessions.c) with
 * utmp records and logind session files written by the test; each sshd
 * session's peer (agent/peers.c) from a fake /proc with net/tcp, tcp6 and
 * fd links; the messages to terminals (agent/notify.c) on a real pty.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <utmpx.h>

#include "agent/notify.h"
#include "agent/peers.h"
#include "agent/procs.h"
#include "agent/sessions.h"

static char tmp[64];

static void
path_of(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", tmp, rel);
}

static void
write_file(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	path_of(p, sizeof(p), rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	char p[256];

	(void)state;
	strcpy(tmp, "/tmp/agent-sess.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	path_of(p, sizeof(p), "proc");
	mkdir(p, 0755);
	path_of(p, sizeof(p), "proc/net");
	mkdir(p, 0755);
	path_of(p, sizeof(p), "sessions");
	mkdir(p, 0755);
	path_of(p, sizeof(p), "dev");
	mkdir(p, 0755);
	path_of(p, sizeof(p), "dev/pts");
	mkdir(p, 0755);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- utmp ---------------------------------------------------------------- */

static void
record(FILE *f, short type, const char *user, const char *line,
    const char *host, pid_t pid, long sec)
{
	struct utmpx u;

	memset(&u, 0, sizeof(u));
	u.ut_type = type;
	u.ut_pid = pid;
	strncpy(u.ut_user, user, sizeof(u.ut_user));
	strncpy(u.ut_line, line, sizeof(u.ut_line));
	strncpy(u.ut_host, host, sizeof(u.ut_host));
	u.ut_tv.tv_sec = (int32_t)sec;
	u.ut_tv.tv_usec = 250000;
	fwrite(&u, sizeof(u), 1, f);
}

static void
test_utmp(void **state)
{
	struct ag_session s[8];
	char p[256], err[256], pdir[256];
	size_t n;
	bool trunc;
	FILE *f;

	(void)state;
	path_of(pdir, sizeof(pdir), "proc/2001");
	mkdir(pdir, 0755);
	path_of(pdir, sizeof(pdir), "proc/2002");
	mkdir(pdir, 0755);
	path_of(p, sizeof(p), "utmp");
	f = fopen(p, "w");
	record(f, BOOT_TIME, "reboot", "~", "6.1.0", 0, 1700000000);
	record(f, LOGIN_PROCESS, "LOGIN", "tty1", "", 500, 1700000000);
	record(f, USER_PROCESS, "alice", "pts/0", "10.0.0.10", 2001, 1700000100);
	record(f, USER_PROCESS, "bob", "pts/1", "", 2002, 1700000200);
	record(f, USER_PROCESS, "carol", "pts/2", "10.0.0.11", 2999, 1700000300); /* stale */
	record(f, DEAD_PROCESS, "", "pts/3", "", 2003, 1700000400);
	fclose(f);
	/* a torn last record is ignored */
	f = fopen(p, "a");
	fwrite("torn", 4, 1, f);
	fclose(f);

	path_of(pdir, sizeof(pdir), "proc");
	assert_int_equal(ss_read_utmp(p, pdir, s, 8, &n, &trunc, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_false(trunc);
	assert_string_equal(s[0].user, "alice");
	assert_string_equal(s[0].tty, "pts/0");
	assert_string_equal(s[0].remote, "10.0.0.10");
	assert_int_equal(s[0].pid, 2001);
	assert_int_equal(s[0].uid, -1);
	assert_int_equal(s[0].since_ms, 1700000100250ULL);
	assert_string_equal(s[1].user, "bob");
	assert_string_equal(s[1].remote, "");
	/* the cap */
	assert_int_equal(ss_read_utmp(p, pdir, s, 1, &n, &trunc, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_true(trunc);
	assert_int_equal(ss_read_utmp("/nonexistent/utmp", pdir, s, 8, &n, &trunc, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/utmp"));
}

/* ---- logind -------------------------------------------------------------- */

static void
test_logind(void **state)
{
	struct ag_session s[8];
	char p[256], err[256];
	size_t n, i;
	bool trunc;

	(void)state;
	write_file("sessions/3", "# This is private data. Do not parse.\nUID=1001\n"
	    "USER=alice\nACTIVE=1\nSTATE=active\nREMOTE=1\nTYPE=tty\nCLASS=user\n"
	    "TTY=pts/0\nREMOTE_HOST=10.0.0.10\nSERVICE=sshd\nLEADER=2001\n"
	    "REALTIME=1700000100123456\n");
	write_file("sessions/3.ref", "");
	write_file("sessions/5", "UID=1002\nUSER=bob\nSTATE=online\nCLASS=user\n"
	    "SERVICE=sshd\nLEADER=2100\n");   /* ssh without a terminal */
	write_file("sessions/c1", "UID=0\nUSER=root\nSTATE=active\nCLASS=background\n"
	    "SERVICE=crond\nLEADER=3000\n");
	write_file("sessions/7", "UID=1003\nUSER=carol\nSTATE=closing\nCLASS=user\n");
	write_file("sessions/8", "UID=1004\nUSER=dave\nSTATE=active\nCLASS=greeter\n");
	write_file("sessions/9", "UID=x\nUSER=eve\nCLASS=user\n");   /* malformed */
	write_file("sessions/10", "UID=1005\nCLASS=user\n");          /* no user */
	path_of(p, sizeof(p), "sessions");
	assert_int_equal(ss_read_logind(p, s, 8, &n, &trunc, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n && strcmp(s[i].user, "alice") != 0; i++)
		;
	assert_true(i < n);
	assert_string_equal(s[i].id, "3");
	assert_int_equal(s[i].uid, 1001);
	assert_string_equal(s[i].tty, "pts/0");
	assert_string_equal(s[i].remote, "10.0.0.10");
	assert_string_equal(s[i].service, "sshd");
	assert_int_equal(s[i].pid, 2001);
	assert_int_equal(s[i].since_ms, 1700000100123ULL);
	i = 1 - i;
	assert_string_equal(s[i].user, "bob");
	assert_string_equal(s[i].tty, "");
	errno = 0;
	assert_int_equal(ss_read_logind("/nonexistent/sessions", s, 8, &n, &trunc,
	    err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);   /* the caller then reads utmp */
}

static void
test_tty(void **state)
{
	struct ag_session s[2];
	struct timeval tv[2] = { { 1700000500, 0 }, { 1700000600, 0 } };
	char p[256];

	(void)state;
	assert_true(ss_tty_safe("pts/0"));
	assert_true(ss_tty_safe("tty1"));
	assert_false(ss_tty_safe(""));
	assert_false(ss_tty_safe("/dev/pts/0"));
	assert_false(ss_tty_safe("../etc/passwd"));
	assert_false(ss_tty_safe("pts/.."));
	assert_false(ss_tty_safe("pts//0"));
	assert_false(ss_tty_safe(":0"));
	assert_false(ss_tty_safe("pts/0 x"));
	write_file("dev/pts/4", "");
	path_of(p, sizeof(p), "dev/pts/4");
	utimes(p, tv);
	memset(s, 0, sizeof(s));
	strcpy(s[0].tty, "pts/4");
	strcpy(s[1].tty, "../pts/4");
	path_of(p, sizeof(p), "dev");
	ss_input_times(s, 2, p);
	assert_int_equal(s[0].input_ms, 1700000500000ULL);
	assert_int_equal(s[1].input_ms, 0);
}

/* ---- peers --------------------------------------------------------------- */

/* The kernel's hex of an IPv4 address and a port. */
static void
hex4(char *buf, const char *addr, unsigned port)
{
	struct in_addr a;
	uint32_t w;

	inet_pton(AF_INET, addr, &a);
	memcpy(&w, &a, 4);
	sprintf(buf, "%08X:%04X", w, port);
}

static void
hex6(char *buf, const char *addr, unsigned port)
{
	struct in6_addr a;
	uint32_t w[4];

	inet_pton(AF_INET6, addr, &a);
	memcpy(w, &a, 16);
	sprintf(buf, "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3], port);
}

static void
fd_link(int pid, int fd, const char *target)
{
	char p[300], dir[256];

	snprintf(dir, sizeof(dir), "%s/proc/%d", tmp, pid);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/proc/%d/fd", tmp, pid);
	mkdir(dir, 0755);
	snprintf(p, sizeof(p), "%s/%d", dir, fd);
	unlink(p);
	assert_int_equal(symlink(target, p), 0);
}

static void
test_parse_tcp(void **state)
{
	char text[2048], l[40], r[40], l2[40], r2[40];
	struct pr_conn c[4];
	const uint16_t ports[] = { 22, 2222 };
	size_t n = 0;

	(void)state;
	hex4(l, "10.0.0.5", 22);
	hex4(r, "10.0.0.2", 51234);
	hex4(l2, "10.0.0.5", 9101);
	hex4(r2, "10.0.0.2", 40000);
	snprintf(text, sizeof(text),
	    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	    "   0: %s 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1\n"
	    "   1: %s %s 01 00000000:00000000 02:000A0000 00000000     0        0 12345 2\n"
	    "   2: %s %s 01 00000000:00000000 02:000A0000 00000000     0        0 12346 2\n"
	    "   3: garbage\n"
	    "   4: %s %s 06 00000000:00000000 02:000A0000 00000000     0        0 12347 2\n",
	    l, l, r, l2, r2, l, r);
	pr_parse_tcp(text, strlen(text), false, ports, 2, c, 4, &n);
	assert_int_equal(n, 1);     /* listening, port 9101, TIME_WAIT: no */
	assert_int_equal(c[0].inode, 12345);
	assert_string_equal(c[0].peer, "10.0.0.2");
	assert_int_equal(c[0].peer_port, 51234);
	assert_int_equal(c[0].local_port, 22);

	hex6(l, "fd00::5", 2222);
	hex6(r, "fd00::2", 40001);
	hex6(l2, "::ffff:10.0.0.5", 22);
	hex6(r2, "::ffff:10.0.0.3", 40002);
	snprintf(text, sizeof(text),
	    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	    "   0: %s %s 01 00000000:00000000 00:00000000 00000000     0        0 22001 1\n"
	    "   1: %s %s 01 00000000:00000000 00:00000000 00000000     0        0 22002 1\n",
	    l, r, l2, r2);
	pr_parse_tcp(text, strlen(text), true, ports, 2, c, 4, &n);
	assert_int_equal(n, 3);
	assert_string_equal(c[1].peer, "fd00::2");
	assert_int_equal(c[1].local_port, 2222);
	assert_string_equal(c[2].peer, "10.0.0.3");   /* v4-mapped, as IPv4 */
	/* the cap */
	n = 0;
	pr_parse_tcp(text, strlen(text), true, ports, 2, c, 1, &n);
	assert_int_equal(n, 1);
}

static void
test_peers(void **state)
{
	char text[1024], l[40], r[40], proot[256];
	struct ag_session s[3];
	const uint16_t ports[] = { 22 };
	/* sorted by pid: sshd [priv] 2001 (root) -> sshd 2002 (alice) -> bash 2003 */
	struct ps_proc p[] = {
		{ .pid = 1, .ppid = 0, .comm = "systemd" },
		{ .pid = 800, .ppid = 1, .comm = "sshd" },
		{ .pid = 2001, .ppid = 800, .comm = "sshd" },
		{ .pid = 2002, .ppid = 2001, .comm = "sshd", .uid = 1001 },
		{ .pid = 2003, .ppid = 2002, .comm = "bash", .uid = 1001 },
		{ .pid = 2101, .ppid = 800, .comm = "sshd-session" },
	};

	(void)state;
	hex4(l, "10.0.0.5", 22);
	hex4(r, "10.0.0.2", 51234);
	snprintf(text, sizeof(text), "  sl  local_address rem_address   st\n"
	    "   1: %s %s 01 00000000:00000000 02:000A0000 00000000     0        0 12345 2\n",
	    l, r);
	write_file("proc/net/tcp", text);
	hex6(l, "::ffff:10.0.0.5", 22);
	hex6(r, "::ffff:10.0.0.2", 51300);
	snprintf(text, sizeof(text), "  sl  local_address rem_address   st\n"
	    "   1: %s %s 01 00000000:00000000 02:000A0000 00000000     0        0 777 2\n",
	    l, r);
	write_file("proc/net/tcp6", text);
	fd_link(2002, 0, "/dev/null");
	fd_link(2002, 3, "socket:[12345]");
	fd_link(2002, 4, "pipe:[999]");
	fd_link(2101, 5, "socket:[777]");
	memset(s, 0, sizeof(s));
	/* utmp: the shell's pid; the walk goes up to its sshd */
	strcpy(s[0].user, "alice");
	s[0].pid = 2003;
	/* logind: the leader, sshd-session of OpenSSH 9.8+ */
	strcpy(s[1].user, "bob");
	strcpy(s[1].service, "sshd");
	s[1].pid = 2101;
	/* a console login: not looked at */
	strcpy(s[2].user, "carol");
	strcpy(s[2].service, "login");
	s[2].pid = 2001;
	path_of(proot, sizeof(proot), "proc");
	assert_int_equal(pr_find_peers(proot, s, 3, p, 6, ports, 1), 0);
	assert_true(s[0].has_peer);
	assert_string_equal(s[0].peer_addr, "10.0.0.2");
	assert_int_equal(s[0].peer_port, 51234);
	assert_int_equal(s[0].local_port, 22);
	assert_true(s[1].has_peer);
	assert_int_equal(s[1].peer_port, 51300);
	assert_false(s[2].has_peer);
}

/* ---- notices ------------------------------------------------------------- */

static void
test_format(void **state)
{
	char b[NT_TEXT_MAX + 1], big[4000];

	(void)state;
	nt_format("vm1", 1700000000000ULL, "first\nsecond\033[2J\001", b, sizeof(b));
	assert_non_null(strstr(b, "Broadcast message from poolgate-agent@vm1 "
	    "(Tue Nov 14 22:13:20 2023 UTC):\r\n\r\n"));
	assert_non_null(strstr(b, "first\r\nsecond[2J\r\n"));
	assert_null(strchr(b, '\033'));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_true(nt_format("vm1", 0, big, b, sizeof(b)) <= NT_TEXT_MAX);
}

static void
test_send_pty(void **state)
{
	struct ag_session s[3];
	char buf[2048], p[256], *name = NULL, *got;
	struct pollfd pfd;
	ssize_t n;
	size_t have = 0;
	int m;

	(void)state;
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m == -1 || grantpt(m) == -1 || unlockpt(m) == -1 ||
	    (name = ptsname(m)) == NULL || strncmp(name, "/dev/", 5) != 0) {
		if (m != -1)
			close(m);
		fail_msg("no pseudo-terminal for the test (/dev/ptmx, /dev/pts)");
	}
	memset(s, 0, sizeof(s));
	strcpy(s[0].user, "alice");
	snprintf(s[0].tty, sizeof(s[0].tty), "%s", name + 5);
	strcpy(s[1].user, "alice");     /* the same terminal twice: once */
	strcpy(s[1].tty, s[0].tty);
	strcpy(s[2].user, "bob");
	strcpy(s[2].tty, "pts/99999");
	/* Only alice's terminals, once each. */
	assert_int_equal(nt_send("/dev", s, 3, "alice", "hello alice\r\n", 13), 1);
	assert_int_equal(nt_send("/dev", s, 3, "carol", "x", 1), 0);
	pfd.fd = m;
	pfd.events = POLLIN;
	while (have < 13 && poll(&pfd, 1, 1000) == 1 &&
	    (n = read(m, buf + have, sizeof(buf) - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = '\0';
	got = strstr(buf, "hello alice");
	assert_non_null(got);
	assert_null(strstr(got + 1, "hello alice"));
	close(m);

	/* Not a character device, or a link: not written. */
	write_file("dev/pts/7", "");
	path_of(p, sizeof(p), "dev/pts/8");
	symlink("/dev/null", p);
	strcpy(s[0].tty, "pts/7");
	strcpy(s[1].tty, "pts/8");
	path_of(p, sizeof(p), "dev");
	assert_int_equal(nt_send(p, s, 2, NULL, "x", 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utmp),
		cmocka_unit_test(test_logind),
		cmocka_unit_test(test_tty),
		cmocka_unit_test(test_parse_tcp),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_send_pty),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
