/*
 * peers.c -- see peers.h.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/peers.h"
#include "agent/util.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ndigits hex digits at s as a number; -1 on a non-hex byte. */
static int64_t
hex(const char *s, size_t ndigits)
{
	int64_t v = 0;
	size_t i;
	int h;

	for (i = 0; i < ndigits; i++) {
		if ((h = hexval(s[i])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* "ADDR:PORT" of tcp or tcp6 into text and port; -1 when malformed. */
static int
parse_endpoint(const char *s, size_t len, bool v6, char *text, size_t tlen,
    uint16_t *port)
{
	size_t alen = v6 ? 32 : 8, i;
	unsigned char a[16];
	uint32_t word;
	int64_t w, p;

	if (len != alen + 5 || s[alen] != ':')
		return -1;
	for (i = 0; i < alen / 8; i++) {
		if ((w = hex(s + i * 8, 8)) < 0)
			return -1;
		word = (uint32_t)w;
		memcpy(a + i * 4, &word, 4);   /* the kernel's word, host order */
	}
	if ((p = hex(s + alen + 1, 4)) < 0)
		return -1;
	*port = (uint16_t)p;
	if (v6 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		return inet_ntop(AF_INET, a + 12, text, (socklen_t)tlen) ? 0 : -1;
	return inet_ntop(v6 ? AF_INET6 : AF_INET, a, text, (socklen_t)tlen) ?
	    0 : -1;
}

void
pr_parse_tcp(const char *text, size_t len, bool v6, const uint16_t *ports,
    size_t nports, struct pr_conn *out, size_t max, size_t *n)
{
	const char *p = text, *end = text + len, *nl, *f[10];
	size_t flen[10], nf, i;
	uint16_t lport, rport;
	char local[AG_ADDR_MAX];
	uint64_t inode;
	bool want;

	while (p < end && *n < max) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		/* sl local rem st queues timer retrnsmt uid timeout inode */
		for (nf = 0; nf < 10 && p < nl;) {
			while (p < nl && (*p == ' ' || *p == '\t'))
				p++;
			if (p == nl)
				break;
			f[nf] = p;
			while (p < nl && *p != ' ' && *p != '\t')
				p++;
			flen[nf] = (size_t)(p - f[nf]);
			nf++;
		}
		p = nl + 1;
		if (nf < 10 || flen[3] != 2 || memcmp(f[3], "01", 2) != 0)
			continue;
		if (!ag_all_digits(f[9], flen[9]) || flen[9] > 19)
			continue;
		for (inode = 0, i = 0; i < flen[9]; i++)
			inode = inode * 10 + (uint64_t)(f[9][i] - '0');
		if (inode == 0 || parse_endpoint(f[1], flen[1], v6, local,
		    sizeof(local), &lport) == -1)
			continue;
		for (want = false, i = 0; i < nports; i++)
			want = want || ports[i] == lport;
		if (!want || parse_endpoint(f[2], flen[2], v6, out[*n].peer,
		    sizeof(out[*n].peer), &rport) == -1)
			continue;
		out[*n].inode = inode;
		out[*n].peer_port = rport;
		out[*n].local_port = lport;
		(*n)++;
	}
}

/* Establishments on the ssh ports from net/tcp and net/tcp6. */
static struct pr_conn *
read_conns(const char *proc_root, const uint16_t *ports, size_t nports,
    size_t *n)
{
	static const char *const files[] = { "tcp", "tcp6" };
	struct pr_conn *c;
	char path[4096], *text;
	size_t len, i;

	*n = 0;
	if ((c = calloc(PR_CONNS_MAX, sizeof(*c))) == NULL)
		return NULL;
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/net/%s", proc_root, files[i]);
		if ((text = ag_read_text(path, PR_TCP_FILE_MAX, &len)) == NULL)
			continue;
		pr_parse_tcp(text, len, i == 1, ports, nports, c, PR_CONNS_MAX, n);
		free(text);
	}
	return c;
}

/*
 * Look through pid's fd links for one of c[0..nc). Returns 1 and fills s,
 * 0 when none matches, -1 when the links cannot be read (permission).
 */
static int
match_fds(const char *proc_root, int pid, const struct pr_conn *c, size_t nc,
    struct ag_session *s)
{
	char path[4096], link[64];
	struct dirent *de;
	size_t seen = 0, i;
	uint64_t inode;
	ssize_t len;
	int rc = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%d/fd", proc_root, pid);
	if ((d = opendir(path)) == NULL)
		return errno == EACCES || errno == EPERM ? -1 : 0;
	while (rc == 0 && (de = readdir(d)) != NULL && seen < PR_FDS_MAX) {
		if (de->d_name[0] == '.')
			continue;
		seen++;
		snprintf(path, sizeof(path), "%s/%d/fd/%s", proc_root, pid,
		    de->d_name);
		if ((len = readlink(path, link, sizeof(link) - 1)) <= 9)
			continue;
		link[len] = '\0';
		if (strncmp(link, "socket:[", 8) != 0 || link[len - 1] != ']' ||
		    !ag_all_digits(link + 8, (size_t)len - 9) || len - 9 > 19)
			continue;
		for (inode = 0, i = 8; i < (size_t)len - 1; i++)
			inode = inode * 10 + (uint64_t)(link[i] - '0');
		for (i = 0; i < nc; i++)
			if (c[i].inode == inode) {
				ag_copy(s->peer_addr, sizeof(s->peer_addr), c[i].peer);
				s->peer_port = c[i].peer_port;
				s->local_port = c[i].local_port;
				s->has_peer = true;
				rc = 1;
				break;
			}
	}
	closedir(d);
	return rc;
}

static bool
is_sshd(const char *comm)
{
	return strcmp(comm, "sshd") == 0 || strcmp(comm, "sshd-session") == 0;
}

size_t
pr_find_peers(const char *proc_root, struct ag_session *s, size_t n,
    const struct ps_proc *procs, size_t nprocs, const uint16_t *ports,
    size_t nports)
{
	const struct ps_proc *p;
	struct pr_conn *c;
	size_t nc, i, denied = 0;
	int depth, r;
	bool was_denied;

	for (i = 0; i < n; i++)
		s[i].has_peer = false;
	if (n == 0 || nports == 0 ||
	    (c = read_conns(proc_root, ports, nports, &nc)) == NULL)
		return 0;
	for (i = 0; i < n && nc > 0; i++) {
		if (s[i].pid <= 0 || (s[i].service[0] != '\0' &&
		    strcmp(s[i].service, "sshd") != 0))
			continue;
		was_denied = false;
		p = ps_find(procs, nprocs, s[i].pid);
		for (depth = 0; p != NULL && depth <= 4; depth++) {
			if (is_sshd(p->comm)) {
				r = match_fds(proc_root, p->pid, c, nc, &s[i]);
				if (r == 1)
					break;
				if (r == -1)
					was_denied = true;
			}
			if (p->ppid <= 1)
				break;
			p = ps_find(procs, nprocs, p->ppid);
		}
		if (!s[i].has_peer && was_denied)
			denied++;
	}
	free(c);
	return denied;
}
