/*
 * sessions.h -- the login sessions collector: logind's session files or,
 * where there is no logind, utmp.
 *
 * logind keeps one text file per session in /run/systemd/sessions/ (KEY=value
 * lines, readable by everyone). Its format is logind's own, so the agent
 * reads only a few keys and falls back to utmp when the directory is absent.
 * utmp (/run/utmp) holds struct utmpx records; a USER_PROCESS record whose
 * process is gone (a crash left it) is skipped.
 */
#ifndef POOLGATE_AGENT_SESSIONS_H
#define POOLGATE_AGENT_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AG_NAME_MAX     32    /* a user name (utmp's ut_user) */
#define AG_TTY_MAX      32
#define AG_HOST_MAX     128
#define AG_ADDR_MAX     46    /* INET6_ADDRSTRLEN */
#define SS_ID_MAX       32
#define SS_SERVICE_MAX  32
#define SS_FILE_MAX     8192  /* bytes read of one logind session file */

struct ag_session {
	char     id[SS_ID_MAX];            /* logind's session id; "" (utmp) */
	char     user[AG_NAME_MAX + 1];
	int64_t  uid;                      /* -1 when the source does not say */
	char     tty[AG_TTY_MAX + 1];      /* "pts/0"; "" without a terminal */
	char     remote[AG_HOST_MAX + 1];  /* remote host as recorded; "" */
	char     service[SS_SERVICE_MAX];  /* logind's SERVICE ("sshd"); "" */
	int      pid;                      /* leader (logind), ut_pid (utmp) */
	uint64_t since_ms;                 /* wall ms of the login; 0 unknown */
	uint64_t input_ms;                 /* wall ms of the tty's last input
	                                      (its atime, as w(1)); 0 unknown */
	/* the sshd connection, filled by peers.c */
	bool     has_peer;
	char     peer_addr[AG_ADDR_MAX];
	uint16_t peer_port;
	uint16_t local_port;
};

/*
 * Pure. Read the text of one logind session file (len bytes) into *out
 * (id is the caller's). Returns 1 for a live user session (CLASS user*,
 * STATE not "closing", a USER), 0 for one that does not count (greeter,
 * background, closing), -1 when the text lacks USER or is malformed.
 */
int  ss_parse_logind(const char *text, size_t len, struct ag_session *out);

/*
 * Read every session file in dir (at most max sessions into out[]; the rest
 * sets *truncated). Returns 0 with *n set, or -1 with err when dir cannot be
 * opened (errno ENOENT then tells the caller to try utmp).
 */
int  ss_read_logind(const char *dir, struct ag_session *out, size_t max,
    size_t *n, bool *truncated, char *err, size_t errlen);

/*
 * Read the utmp file at path: USER_PROCESS records with a user name whose
 * ut_pid still exists under proc_root (a pid of 0 is kept). At most max
 * into out[]. Returns 0 with *n set, or -1 with err.
 */
int  ss_read_utmp(const char *path, const char *proc_root,
    struct ag_session *out, size_t max, size_t *n, bool *truncated,
    char *err, size_t errlen);

/*
 * True when tty is a plain device name under /dev: 1 to AG_TTY_MAX bytes
 * of A-Z a-z 0-9 / _ - ., no empty, "." or ".." component, not starting
 * with '/'. Names from utmp and logind are checked before any path is made
 * of them.
 */
bool ss_tty_safe(const char *tty);

/* Set input_ms of each session with a safe tty from dev_root/<tty>'s atime. */
void ss_input_times(struct ag_session *s, size_t n, const char *dev_root);

#endif
