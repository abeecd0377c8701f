#!/usr/bin/python3
"""The Debian packages, built as a packager would and checked as an operator
would find them:

  1. dpkg-buildpackage -us -uc -b on a copy of the tree (the files git
     knows, so no build folder leaks in), with DEB_BUILD_OPTIONS=nocheck:
     the unit tests run in the project's own builds;
  2. lintian on the result: no error and no warning;
  3. each .deb unpacked (dpkg -x) into a scratch root: every file where the
     FHS puts it (programs in /usr/bin and /usr/sbin, units in systemd's
     unit folder, examples in /usr/share/doc/PACKAGE/examples, nothing in
     /usr/local or /etc), the programs run (--version), every program a
     unit's Exec* lines name is in the package (or, /bin/kill, on the
     system), and the unit reads /etc/poolgate/poolgate.conf;
  4. the maintainer script's user and state folder: systemd-sysusers and
     systemd-tmpfiles run on the scratch root as postinst runs them make
     the user poolgate and /var/lib/poolgate, mode 0700, owned by it.

    test_package.py SOURCE_ROOT WORK_DIR
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL: " + msg)


def run(argv, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, **kw)


def copy_tree(src, dst):
    p = run(["git", "-C", str(src), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"])
    if p.returncode != 0:
        sys.exit("FAIL: git ls-files in %s: %s" % (src, p.stderr))
    for name in p.stdout.split("\0"):
        if not name or not os.path.lexists(src / name):
            continue
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(src / name):
            os.symlink(os.readlink(src / name), dst / name)
        else:
            shutil.copy2(src / name, dst / name)


def files_of(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for f in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            full = Path(dirpath) / f
            out["/" + str(full.relative_to(root))] = full
    return out


EXPECTED = {
    "poolgate": {
        "/usr/sbin/poolgate": 0o755,
        "/usr/bin/poolgatectl": 0o755,
        "/lib/systemd/system/poolgate.service": 0o644,
        "/usr/lib/sysusers.d/poolgate.conf": 0o644,
        "/usr/lib/tmpfiles.d/poolgate.conf": 0o644,
        "/usr/share/bash-completion/completions/poolgatectl": 0o644,
        "/usr/share/man/man8/poolgate.8.gz": 0o644,
        "/usr/share/man/man5/poolgate.conf.5.gz": 0o644,
        "/usr/share/man/man1/poolgatectl.1.gz": 0o644,
        "/usr/share/doc/poolgate/examples/poolgate.conf.example": 0o644,
        "/usr/share/doc/poolgate/copyright": 0o644,
    },
    "poolgate-agent": {
        "/usr/sbin/poolgate-agent": 0o755,
        "/lib/systemd/system/poolgate-agent.service": 0o644,
        "/usr/share/man/man8/poolgate-agent.8.gz": 0o644,
        "/usr/share/doc/poolgate-agent/examples/agent.conf.example": 0o644,
        "/usr/share/doc/poolgate-agent/copyright": 0o644,
    },
}
# Where a file of these packages may be (FHS 3.0 and Debian's systemd paths).
ALLOWED = re.compile(r"^/(usr/(bin|sbin)/[^/]+|usr/share/(man|doc|bash-completion)/.+|"
                     r"usr/lib/(sysusers|tmpfiles)\.d/[^/]+\.conf|lib/systemd/system/[^/]+)$")
PROGRAMS = {"poolgate": ["/usr/sbin/poolgate", "/usr/bin/poolgatectl"],
            "poolgate-agent": ["/usr/sbin/poolgate-agent"]}


def check_unit(pkg, root, unit):
    text = (root / unit.lstrip("/")).read_text()
    execs = re.findall(r"^(Exec\w+)=[-@:+!]*(\S+)(.*)$", text, re.M)
    if not any(k == "ExecStart" for k, _, _ in execs):
        fail("%s: %s has no ExecStart" % (pkg, unit))
    for key, prog, rest in execs:
        if (root / prog.lstrip("/")).is_file():
            if not os.access(root / prog.lstrip("/"), os.X_OK):
                fail("%s: %s: %s=%s is not executable" % (pkg, unit, key, prog))
        elif prog == "/bin/kill" and os.access(prog, os.X_OK):
            pass
        else:
            fail("%s: %s: %s=%s is not in the package" % (pkg, unit, key, prog))
        if "/usr/local" in prog + rest:
            fail("%s: %s: %s points into /usr/local: %s%s" % (pkg, unit, key, prog, rest))
    return text, execs


def main():
    src, work = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    t0 = time.monotonic()
    shutil.rmtree(work, ignore_errors=True)
    tree = work / "poolgate"
    tree.mkdir(parents=True)
    copy_tree(src, tree)

    # 1. build
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck", LC_ALL="C.UTF-8")
    p = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=tree, env=env)
    (work / "build.log").write_text(p.stdout + p.stderr)
    if p.returncode != 0:
        sys.exit("FAIL: dpkg-buildpackage: exit %d; the end of %s:\n%s" % (
            p.returncode, work / "build.log", (p.stdout + p.stderr)[-4000:]))
    if not re.search(r"meson setup .*-Dwerror=false", p.stdout + p.stderr):
        fail("the package build does not turn -Werror off")
    built = time.monotonic()
    changes = sorted(work.glob("poolgate_*_*.changes"))
    debs = {d.name.split("_")[0]: d for d in work.glob("*.deb")}
    for pkg in EXPECTED:
        if pkg not in debs:
            sys.exit("FAIL: no %s .deb among %s" % (pkg, sorted(debs)))

    # 2. lintian: errors and warnings fail (info and pedantic tags are shown)
    p = run(["lintian", "--fail-on", "error,warning", "--info", "--display-info"]
            + [str(c) for c in changes])
    tags = [l for l in p.stdout.splitlines() if re.match(r"^[EWIP]: ", l)]
    print("lintian: %d tag(s)%s" % (len(tags), "".join("\n  " + t for t in tags)))
    if p.returncode != 0:
        fail("lintian failed (exit %d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    linted = time.monotonic()

    # 3. unpack and look
    for pkg, want in EXPECTED.items():
        root = work / ("root-" + pkg)
        root.mkdir()
        p = run(["dpkg", "-x", str(debs[pkg]), str(root)])
        if p.returncode != 0:
            fail("dpkg -x %s: %s" % (debs[pkg].name, p.stderr))
            continue
        have = files_of(root)
        for path, mode in want.items():
            if path not in have:
                fail("%s: %s missing" % (pkg, path))
            elif (have[path].stat().st_mode & 0o7777) != mode:
                fail("%s: %s has mode %04o, not %04o" % (
                    pkg, path, have[path].stat().st_mode & 0o7777, mode))
        for path in sorted(have):
            if not ALLOWED.match(path):
                fail("%s: %s is not where the FHS puts such a file" % (pkg, path))
        for prog in PROGRAMS[pkg]:
            q = run([str(root / prog.lstrip("/")), "--version"])
            if q.returncode != 0 or not q.stdout.startswith(os.path.basename(prog) + " "):
                fail("%s: %s --version: exit %d, %r %r" % (pkg, prog, q.returncode,
                                                          q.stdout, q.stderr))
        unit = "/lib/systemd/system/%s.service" % pkg
        text, execs = check_unit(pkg, root, unit)
        conf = "/etc/poolgate/%s" % ("poolgate.conf" if pkg == "poolgate" else "agent.conf")
        starts = [rest for k, _, rest in execs if k == "ExecStart"]
        if not starts or ("-c " + conf) not in starts[0]:
            fail("%s: ExecStart does not read %s: %r" % (pkg, conf, starts))
        if pkg == "poolgate":
            reloads = [(p_, r) for k, p_, r in execs if k == "ExecReload"]
            if not reloads or reloads[0] != ("/usr/sbin/poolgate", " -t -c " + conf):
                fail("poolgate: the first ExecReload is not poolgate -t: %r" % reloads)
            for line in ("Type=notify", "WatchdogSec="):
                if line not in text:
                    fail("poolgate: the unit lacks %s" % line)

    # 4. the user and its state folder, made as postinst makes them
    root = work / "root-poolgate"
    ctl = work / "control-poolgate"
    run(["dpkg-deb", "-e", str(debs["poolgate"]), str(ctl)])
    postinst = (ctl / "postinst").read_text() if (ctl / "postinst").exists() else ""
    for cmd in ('systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} poolgate.conf',
                'systemd-tmpfiles ${DPKG_ROOT:+--root="$DPKG_ROOT"} --create poolgate.conf'):
        if cmd not in postinst:
            fail("poolgate: postinst does not run %r:\n%s" % (cmd, postinst))
    if postinst.find("systemd-sysusers") > postinst.find("systemd-tmpfiles"):
        fail("poolgate: postinst makes the state folder before the user")
    # an upgrade hands a running poolgate's listeners to the new binary
    if 'kill -USR2 "$pid"' not in postinst or "MainPID" not in postinst:
        fail("poolgate: postinst does not start the binary upgrade:\n%s" % postinst)
    (root / "etc").mkdir(exist_ok=True)
    for argv in (["systemd-sysusers", "--root=%s" % root, "poolgate.conf"],
                 ["systemd-tmpfiles", "--root=%s" % root, "--create", "poolgate.conf"]):
        q = run(argv)
        if q.returncode != 0:
            fail("%s: exit %d: %s" % (" ".join(argv), q.returncode, q.stderr))
    users = {l.split(":")[0]: l.split(":") for l in
             (root / "etc/passwd").read_text().splitlines()} if (root / "etc/passwd").exists() else {}
    if "poolgate" not in users:
        fail("systemd-sysusers made no user poolgate: %r" % users)
    else:
        u = users["poolgate"]
        st = (root / "var/lib/poolgate").stat() if (root / "var/lib/poolgate").is_dir() else None
        if int(u[2]) >= 1000 or u[5] != "/var/lib/poolgate" or u[6] != "/usr/sbin/nologin":
            fail("user poolgate is not a system user with home /var/lib/poolgate: %r" % u)
        if st is None:
            fail("systemd-tmpfiles made no /var/lib/poolgate")
        elif (st.st_uid, st.st_mode & 0o7777) != (int(u[2]), 0o700):
            fail("/var/lib/poolgate: uid %d mode %04o, wanted uid %s mode 0700" % (
                st.st_uid, st.st_mode & 0o7777, u[2]))

    print("times: build %.0fs, lintian %.0fs, checks %.0fs" % (
        built - t0, linted - built, time.monotonic() - linted))
    if FAILS:
        sys.exit("%d failure(s)" % len(FAILS))
    shutil.rmtree(work, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
