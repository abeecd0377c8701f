/*
 * preflight.c -- see preflight.h.
 */
#include <errno.h>
#include <libconfig.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "admin/adminapi.h"
#include "daemon/preflight.h"
#include "lib/tls.h"

struct pf {
	const struct pg_config *cfg;
	config_t                lc;
	bool                    lc_ok;   /* the file parsed: lines are known */
	FILE                   *out;
	size_t                  n;
};

static void
problem(struct pf *p, const char *lookup, const char *name, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/*
 * One problem with setting `name` ("services[0].tls.cert"), found in the
 * file with libconfig's path `lookup` ("services.[0].tls.cert").
 */
static void
problem(struct pf *p, const char *lookup, const char *name, const char *fmt,
    ...)
{
	const config_setting_t *s = NULL;
	va_list ap;

	if (p->lc_ok)
		s = config_lookup(&p->lc, lookup);
	if (s != NULL && config_setting_source_line(s) > 0)
		fprintf(p->out, "%s:%u: %s: ", config_setting_source_file(s) != NULL ?
		    config_setting_source_file(s) : p->cfg->path,
		    config_setting_source_line(s), name);
	else
		fprintf(p->out, "%s: %s: ", p->cfg->path, name);
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
	p->n++;
}

/* A file that must exist and be readable, before OpenSSL's words for it. */
static bool
readable(struct pf *p, const char *lookup, const char *name, const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		problem(p, lookup, name, "%s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		problem(p, lookup, name, "%s: not a regular file", path);
		return false;
	}
	if (access(path, R_OK) == -1) {
		problem(p, lookup, name, "%s: cannot read it: %s", path,
		    strerror(errno));
		return false;
	}
	return true;
}

static void
check_tls(struct pf *p)
{
	char lk[64], nm[64], err[512];
	SSL_CTX *ctx;

	for (size_t i = 0; i < p->cfg->nservices; i++) {
		const struct cfg_service *cs = &p->cfg->services[i];
		bool ok = true;

		if (cs->tls.enabled) {
			snprintf(lk, sizeof(lk), "services.[%zu].tls.cert", i);
			snprintf(nm, sizeof(nm), "services[%zu].tls.cert", i);
			ok = readable(p, lk, nm, cs->tls.cert);
			snprintf(lk, sizeof(lk), "services.[%zu].tls.key", i);
			snprintf(nm, sizeof(nm), "services[%zu].tls.key", i);
			ok = readable(p, lk, nm, cs->tls.key) && ok;
			/* loads both and checks that the key matches */
			if (ok && (ctx = tls_server_ctx(cs->tls.cert, cs->tls.key,
			    cs->tls.min_version, cs->tls.ciphers, err,
			    sizeof(err))) == NULL) {
				snprintf(lk, sizeof(lk), "services.[%zu].tls", i);
				snprintf(nm, sizeof(nm), "services[%zu].tls", i);
				problem(p, lk, nm, "%s", err);
			} else if (ok)
				SSL_CTX_free(ctx);
		}
		if (cs->backend_tls == BTLS_VERIFY) {
			snprintf(lk, sizeof(lk), "services.[%zu].backend_ca", i);
			snprintf(nm, sizeof(nm), "services[%zu].backend_ca", i);
			if (cs->backend_ca != NULL &&
			    !readable(p, lk, nm, cs->backend_ca))
				continue;
			if (cs->backend_ca == NULL) {
				snprintf(lk, sizeof(lk), "services.[%zu].backend_tls", i);
				snprintf(nm, sizeof(nm), "services[%zu].backend_tls", i);
			}
			if ((ctx = tls_client_ctx(1, cs->backend_ca, err,
			    sizeof(err))) == NULL)
				problem(p, lk, nm, "%s", err);
			else
				SSL_CTX_free(ctx);
		}
	}
}

static void
check_token(struct pf *p)
{
	char token[256], err[512];

	if (p->cfg->admin_token_file == NULL)
		return;
	/* the daemon's own reader: a regular file, not for others, a token */
	if (adminapi_load_token(p->cfg->admin_token_file, token, sizeof(token),
	    err, sizeof(err)) != 0)
		problem(p, "admin.token_file", "admin.token_file", "%s", err);
	explicit_bzero(token, sizeof(token));
}

/* Whether a user (uid, gid) may execute a file of mode st by its bits. */
static bool
may_exec(const struct stat *st, uid_t uid, gid_t gid)
{
	if (uid == 0)
		return (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
	if (st->st_uid == uid)
		return (st->st_mode & S_IXUSR) != 0;
	if (st->st_gid == gid)
		return (st->st_mode & S_IXGRP) != 0;
	return (st->st_mode & S_IXOTH) != 0;
}

/*
 * The hook runs as the user poolgate becomes (pw, or the caller when NULL).
 * Only the file's own bits are judged for another user (not its folders).
 */
static void
check_hook(struct pf *p, const struct passwd *pw)
{
	const char *cmd = p->cfg->hooks.command;
	struct stat st;

	if (!p->cfg->hooks.enabled || cmd == NULL)
		return;
	if (stat(cmd, &st) == -1) {
		problem(p, "hooks.command", "hooks.command", "%s: %s", cmd,
		    strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		problem(p, "hooks.command", "hooks.command", "%s: not a regular "
		    "file", cmd);
		return;
	}
	if (pw != NULL && pw->pw_uid != geteuid()) {
		if (!may_exec(&st, pw->pw_uid, pw->pw_gid))
			problem(p, "hooks.command", "hooks.command", "%s: not "
			    "executable by user %s (mode %04o)", cmd, pw->pw_name,
			    (unsigned)(st.st_mode & 07777));
	} else if (access(cmd, X_OK) == -1 || !may_exec(&st, geteuid(),
	    getegid()))
		problem(p, "hooks.command", "hooks.command", "%s: not executable "
		    "(mode %04o)", cmd, (unsigned)(st.st_mode & 07777));
}

/*
 * The rules of the daemon's state_dir_prepare(): made when missing (its
 * parent must exist), owned by root (handed to the user at start) or by the
 * user, writable by no one else; without a user, writable by the caller.
 */
static void
check_state_dir(struct pf *p, const struct passwd *pw)
{
	const char *dir = p->cfg->state_dir;
	char parent[4096], *slash;
	struct stat st;
	uid_t uid = pw != NULL ? pw->pw_uid : geteuid();

	if (stat(dir, &st) == -1) {
		if (errno != ENOENT) {
			problem(p, "state_dir", "state_dir", "%s: %s", dir,
			    strerror(errno));
			return;
		}
		snprintf(parent, sizeof(parent), "%s", dir);
		if ((slash = strrchr(parent, '/')) != NULL)
			*(slash == parent ? slash + 1 : slash) = '\0';
		if (slash == NULL || stat(parent, &st) == -1 || !S_ISDIR(st.st_mode))
			problem(p, "state_dir", "state_dir", "%s: missing, and so is "
			    "the folder it would be made in", dir);
		else if (access(parent, W_OK) == -1)
			problem(p, "state_dir", "state_dir", "%s: missing, and %s is "
			    "not writable to make it", dir, parent);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		problem(p, "state_dir", "state_dir", "%s: not a folder", dir);
		return;
	}
	if (pw != NULL && st.st_uid != 0 && st.st_uid != uid) {
		problem(p, "state_dir", "state_dir", "%s: owned by uid %d, not by "
		    "root or user %s (uid %d): a start refuses it", dir,
		    (int)st.st_uid, pw->pw_name, (int)uid);
		return;
	}
	if (pw != NULL && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		problem(p, "state_dir", "state_dir", "%s: writable by its group or "
		    "by anyone (mode %04o): a start refuses it; chmod go-w %s", dir,
		    (unsigned)(st.st_mode & 07777), dir);
		return;
	}
	if (pw != NULL && st.st_uid == uid && !(st.st_mode & S_IWUSR)) {
		problem(p, "state_dir", "state_dir", "%s: not writable by user %s "
		    "(mode %04o)", dir, pw->pw_name, (unsigned)(st.st_mode & 07777));
		return;
	}
	if (pw != NULL && st.st_uid == 0 && uid != 0 && geteuid() != 0)
		problem(p, "state_dir", "state_dir", "%s: owned by root: only a "
		    "start as root hands it to user %s", dir, pw->pw_name);
	else if (pw == NULL && access(dir, W_OK | X_OK) == -1)
		problem(p, "state_dir", "state_dir", "%s: not writable: %s", dir,
		    strerror(errno));
}

size_t
pf_check(const struct pg_config *cfg, FILE *out)
{
	struct pf p = { .cfg = cfg, .out = out };
	const struct passwd *pw = NULL;

	config_init(&p.lc);
	p.lc_ok = config_read_file(&p.lc, cfg->path) == CONFIG_TRUE;
	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL)
		problem(&p, "user", "user", "%s: no such user", cfg->user);
	else if (pw != NULL && pw->pw_uid == 0 && !cfg->allow_root)
		problem(&p, "user", "user", "%s is root: a start refuses that "
		    "unless allow_root = true", cfg->user);
	check_tls(&p);
	check_token(&p);
	check_hook(&p, pw);
	if (cfg->user == NULL || pw != NULL)
		check_state_dir(&p, pw);
	config_destroy(&p.lc);
	return p.n;
}
