"""deploy/azure/mount-azure-files in a temporary root, with a fake `mount`
first on PATH that records its arguments and environment.

Run twice: one fstab line per mount point, a 0600 credentials file, the key
in no command line or environment the fake saw, folders for an existing and
a newly added user (the login hook), and a clear error with exit status 1
when the share cannot be reached. NFS too.
"""

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "azure" / "mount-azure-files"
KEY = "c2VjcmV0LWtleS1vZi10aGUtc3RvcmFnZS1hY2NvdW50LTAxMjM0NTY3ODk=" * 2
ACCOUNT = "poolfiles123"
SHARE = "notebooks"

FAKE_MOUNT = r"""#!/bin/sh
{ printf 'ARGV'; for a in "$@"; do printf ' %s' "$a"; done; printf '\n'
  env | sed 's/^/ENV /'; } >> "$FAKE_MOUNT_LOG"
if [ -n "${FAKE_MOUNT_FAIL:-}" ]; then
	echo "mount error(113): could not connect to 10.0.0.9Unable to find suitable address." >&2
	exit 32
fi
exit 0
"""


@pytest.fixture
def sandbox(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("needs root (chown to the users' uids)", pytrace=False)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "home" / "alice").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (root / "etc" / "fstab").write_text("UUID=1234 / ext4 defaults 0 1\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text(FAKE_MOUNT)
    (bin_dir / "mount").chmod(0o755)
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    env = {"PATH": "%s:%s" % (bin_dir, os.environ.get("PATH", "/usr/bin:/bin")),
           "MOUNT_ROOT": str(root), "FAKE_MOUNT_LOG": str(tmp_path / "mount.log")}
    return root, key_file, env, tmp_path / "mount.log"


def run(env, *args, extra=None):
    e = dict(env)
    e.update(extra or {})
    return subprocess.run(["sh", str(SCRIPT)] + [str(a) for a in args], env=e,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)


def fstab_lines(root):
    return [l for l in (root / "etc" / "fstab").read_text().splitlines() if l.strip()]


def test_smb_twice(sandbox):
    root, key_file, env, log = sandbox
    for _ in range(2):
        p = run(env, ACCOUNT, SHARE, key_file)
        assert p.returncode == 0, p.stderr
    lines = fstab_lines(root)
    assert lines[0] == "UUID=1234 / ext4 defaults 0 1", "the root fs line was touched"
    where = [l.split()[1] for l in lines]
    assert sorted(where) == sorted(["/", "/mnt/pool-share", "/home/alice/notebooks/remote"]), lines
    share = next(l for l in lines if l.split()[1] == "/mnt/pool-share")
    assert share.split()[0] == "//%s.file.core.windows.net/%s" % (ACCOUNT, SHARE)
    assert share.split()[2] == "cifs"
    opts = share.split()[3].split(",")
    for o in ("nofail", "_netdev", "x-systemd.automount", "credentials=/etc/azure-files/%s.cred"
              % ACCOUNT, "uid=0", "dir_mode=0700", "file_mode=0600"):
        assert o in opts, (o, share)
    alice = next(l for l in lines if l.split()[1] == "/home/alice/notebooks/remote")
    assert alice.split()[0].endswith("/%s/users/alice" % SHARE)
    for o in ("uid=1000", "gid=1000", "dir_mode=0700", "file_mode=0600", "nofail", "_netdev"):
        assert o in alice.split()[3].split(","), (o, alice)
    assert KEY not in (root / "etc" / "fstab").read_text()

    cred = root / "etc" / "azure-files" / ("%s.cred" % ACCOUNT)
    st = cred.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    assert cred.read_text() == "username=%s\npassword=%s\n" % (ACCOUNT, KEY)

    calls = log.read_text()
    argvs = [l for l in calls.splitlines() if l.startswith("ARGV")]
    assert len(argvs) == 4, argvs      # share root and alice's folder, twice
    assert KEY not in calls and KEY[:20] not in calls, "the key reached mount's argv or env"
    assert all("--fstab %s/etc/fstab" % root in a for a in argvs), argvs

    remote = root / "home" / "alice" / "notebooks" / "remote"
    assert remote.is_dir() and remote.stat().st_uid == 1000
    pam = (root / "etc" / "pam.d" / "common-session").read_text().splitlines()
    assert pam.count("session optional pam_exec.so quiet /usr/local/sbin/mount-azure-files"
                     " --login") == 1
    assert (root / "etc" / "skel" / "notebooks" / "remote").is_dir()
    assert stat.S_IMODE((root / "mnt" / "pool-share").stat().st_mode) == 0o700


def test_user_added_later_gets_a_folder_at_login(sandbox):
    root, key_file, env, log = sandbox
    assert run(env, ACCOUNT, SHARE, key_file).returncode == 0
    with open(root / "etc" / "passwd", "a") as f:
        f.write("bob:x:1001:1001:Bob:/home/bob:/bin/bash\n")
    (root / "home" / "bob").mkdir()
    for _ in range(2):
        p = run(env, "--login", extra={"PAM_USER": "bob", "PAM_TYPE": "open_session"})
        assert p.returncode == 0, p.stderr
    lines = fstab_lines(root)
    bob = [l for l in lines if l.split()[1] == "/home/bob/notebooks/remote"]
    assert len(bob) == 1 and "uid=1001" in bob[0].split()[3].split(","), lines
    assert (root / "home" / "bob" / "notebooks" / "remote").stat().st_uid == 1001
    assert len([l for l in lines if l.split()[1] == "/home/alice/notebooks/remote"]) == 1
    # closing the session does nothing
    before = log.read_text()
    p = run(env, "--login", extra={"PAM_USER": "bob", "PAM_TYPE": "close_session"})
    assert p.returncode == 0 and log.read_text() == before
    p = run(env, "--login", extra={"PAM_USER": "carol", "PAM_TYPE": "open_session"})
    assert p.returncode == 1 and "no user carol" in p.stderr


def test_unreachable_share_is_a_clear_error(sandbox):
    root, key_file, env, log = sandbox
    p = run(env, ACCOUNT, SHARE, key_file, extra={"FAKE_MOUNT_FAIL": "1"})
    assert p.returncode == 1
    assert "cannot mount //%s.file.core.windows.net/%s on /mnt/pool-share" % (
        ACCOUNT, SHARE) in p.stderr, p.stderr
    assert "mount error(113)" in p.stderr and "TCP 445" in p.stderr, p.stderr
    assert KEY not in p.stderr + p.stdout


def test_bad_arguments(sandbox):
    root, key_file, env, log = sandbox
    for args, msg in (((ACCOUNT, SHARE), "usage"),
                      (("Bad_Account", SHARE, key_file), "storage account 'Bad_Account'"),
                      ((ACCOUNT, "-x", key_file), "share '-x'"),
                      ((ACCOUNT, "a--b", key_file), "share 'a--b'"),
                      ((ACCOUNT, SHARE, root / "missing"), "cannot read the key file")):
        p = run(env, *args)
        assert p.returncode == 1 and msg in p.stderr, (args, p.stderr)
    empty = root / "empty"
    empty.write_text("")
    p = run(env, ACCOUNT, SHARE, empty)
    assert p.returncode == 1 and "is empty" in p.stderr
    assert not log.exists(), "mount ran after a bad argument"


def test_nfs(sandbox):
    root, key_file, env, log = sandbox
    for _ in range(2):
        p = run(env, "--nfs", ACCOUNT, SHARE)
        assert p.returncode == 0, p.stderr
    lines = fstab_lines(root)
    share = [l for l in lines if l.split()[1] == "/mnt/pool-share"]
    assert len(share) == 1
    f = share[0].split()
    assert f[0] == "%s.file.core.windows.net:/%s/%s" % (ACCOUNT, ACCOUNT, SHARE) and f[2] == "nfs"
    assert {"vers=4", "minorversion=1", "nofail", "_netdev", "x-systemd.automount"} <= set(
        f[3].split(","))
    folder = root / "mnt" / "pool-share" / "users" / "alice"
    assert folder.stat().st_uid == 1000 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not (root / "etc" / "azure-files" / ("%s.cred" % ACCOUNT)).exists()
