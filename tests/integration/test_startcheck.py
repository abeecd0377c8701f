"""`poolgate -t` checks what a start would, beyond the file's own syntax and
values, and names the file and line of the setting at fault:

  * a certificate that is missing, or a key that does not match it;
  * an admin token file that others may read;
  * a hook command that is missing or not executable (by the configured
    user, when there is one);
  * a user that does not exist, a state_dir that user could not use;

and passes a file whose certificate, key, token and hook are all sound.
A real poolgate binary on files made here; no pool is needed (nothing
listens, nothing is contacted).
"""

import os
import re
import subprocess

import pytest

from conftest import make_http_config, poolgate_binary


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "openssl %s: %s" % (" ".join(args), p.stderr)


@pytest.fixture
def files(tmp_path):
    """A certificate with its key, a second key, a token file (0600), a hook
    (0755) and the lines of a valid configuration using all of them."""
    d = tmp_path
    for name in ("a", "b"):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", str(d / ("%s.key" % name)))
    openssl("req", "-x509", "-new", "-key", str(d / "a.key"), "-subj", "/CN=pool.example",
            "-days", "30", "-out", str(d / "a.crt"))
    token = d / "admin.token"
    fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, b"s3cret-token-for-the-admin-api-0123456789\n")
    os.close(fd)
    hook = d / "hook"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    (d / "state").mkdir(mode=0o700)

    def lines(cert=d / "a.crt", key=d / "a.key", token=token, hook=hook, user=None):
        ls = make_http_config(http_port=8443, listen_port=2222, admin_port=9100,
                              state_dir=str(d / "state"),
                              backends=[("vm1", "10.231.0.11")],
                              tls={"cert": str(cert), "key": str(key)})
        i = next(k for k, l in enumerate(ls) if l.startswith("admin = {"))
        ls[i] = 'admin = { listen = "127.0.0.1:9100"; token_file = "%s"; };' % token
        ls.insert(i + 1, 'hooks = { command = "%s"; };' % hook)
        if user:
            ls.insert(1, 'user = "%s";' % user)
        return ls

    return d, lines


def check(tmp_path, lines):
    conf = tmp_path / "check.conf"
    conf.write_text("\n".join(lines) + "\n")
    p = subprocess.run([poolgate_binary(), "-t", "-c", str(conf)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    return conf, p


def line_of(lines, needle):
    return next(k for k, l in enumerate(lines) if needle in l) + 1


def fails_at(tmp_path, lines, needle, message):
    """poolgate -t exits 1 with `message` (a regex) at the line holding needle."""
    conf, p = check(tmp_path, lines)
    assert p.returncode == 1, "poolgate -t: exit %d\nstdout: %s\nstderr: %s" % (
        p.returncode, p.stdout, p.stderr)
    want = r"^%s:%d: %s$" % (re.escape(str(conf)), line_of(lines, needle), message)
    assert re.search(want, p.stderr, re.M), "wanted /%s/ in:\n%s" % (want, p.stderr)
    assert p.stderr.rstrip("\n").endswith("%s: 1 error(s)" % conf), p.stderr


def test_sound_files_pass(tmp_path, files):
    d, lines = files
    conf, p = check(tmp_path, lines())
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("%s: configuration ok: " % conf), p.stdout


def test_missing_certificate(tmp_path, files):
    d, lines = files
    fails_at(tmp_path, lines(cert=d / "missing.crt"), "tls = {",
             r"services\[1\]\.tls\.cert: %s: No such file or directory"
             % re.escape(str(d / "missing.crt")))


def test_key_that_does_not_match(tmp_path, files):
    d, lines = files
    fails_at(tmp_path, lines(key=d / "b.key"), "tls = {",
             r"services\[1\]\.tls: key %s does not match certificate %s"
             % (re.escape(str(d / "b.key")), re.escape(str(d / "a.crt"))))


def test_certificate_that_is_not_one(tmp_path, files):
    d, lines = files
    fails_at(tmp_path, lines(cert=d / "a.key"), "tls = {",
             r"services\[1\]\.tls: certificate %s: .+" % re.escape(str(d / "a.key")))


def test_world_readable_token(tmp_path, files):
    d, lines = files
    (d / "admin.token").chmod(0o644)
    fails_at(tmp_path, lines(), "token_file", r"admin\.token_file: .*%s.*"
             % re.escape(str(d / "admin.token")))


def test_hook_not_executable(tmp_path, files):
    d, lines = files
    (d / "hook").chmod(0o644)
    fails_at(tmp_path, lines(), "hooks = {", r"hooks\.command: %s: not executable "
             r"\(mode 0644\)" % re.escape(str(d / "hook")))


def test_hook_missing(tmp_path, files):
    d, lines = files
    fails_at(tmp_path, lines(hook=d / "no-hook"), "hooks = {",
             r"hooks\.command: %s: No such file or directory" % re.escape(str(d / "no-hook")))


def test_hook_not_executable_by_the_user(tmp_path, files):
    d, lines = files
    # root may run it, the user poolgate becomes may not; the state_dir is
    # root's (a start hands it over)
    (d / "hook").chmod(0o700)
    fails_at(tmp_path, lines(user="nobody"), "hooks = {",
             r"hooks\.command: %s: not executable by user nobody \(mode 0700\)"
             % re.escape(str(d / "hook")))


def test_unknown_user(tmp_path, files):
    d, lines = files
    fails_at(tmp_path, lines(user="no-such-user-pg"), "user = ",
             r"user: no-such-user-pg: no such user")


def test_state_dir_others_may_write(tmp_path, files):
    d, lines = files
    (d / "state").chmod(0o777)
    fails_at(tmp_path, lines(user="nobody"), "state_dir", r"state_dir: %s: writable by "
             r"its group or by anyone \(mode 0777\): a start refuses it; chmod go-w .*"
             % re.escape(str(d / "state")))
