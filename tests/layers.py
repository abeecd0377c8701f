#!/usr/bin/env python3
"""The folders are the architecture: a folder may include only the folders
below it. Run on every build (meson.build: layers-check) and as a unit test;
exits non-zero, naming each forbidden #include, when a folder reaches up or
sideways, when two folders include each other, or when the pure core of
backends/ includes libevent (or that of cluster/ libevent or hiredis).

    tests/layers.py SOURCE_ROOT [STAMP_FILE]
"""

import os
import re
import sys

# folder -> folders it may include (besides itself).
ALLOWED = {
    "lib":      set(),
    "config":   {"lib"},
    "http":     {"lib", "config"},
    "backends": {"lib", "config", "http"},
    "cluster":  {"lib", "config", "http", "backends"},
    "proxy":    {"lib", "config", "http", "backends"},
    "admin":    {"lib", "config", "http", "backends", "proxy", "cluster"},
    "daemon":   {"lib", "config", "http", "backends", "proxy", "admin", "cluster"},
    "ctl":      {"lib"},
    "agent":    {"lib", "config"},
}

# backends/ files that run on the event loop; every other one is pure.
BACKENDS_IO = {"check.c", "check.h", "check_agent.c", "check_agent.h",
               "discovery.c", "discovery.h", "hookrun.c", "hookrun.h",
               "statesave.c", "statesave.h"}

# cluster/ files that talk to Redis on the event loop; the rest is pure.
CLUSTER_IO = {"link.c", "link.h", "cluster.c", "cluster.h"}

# pool_touch() is the pool module's: only these files may call it.
POOL_TOUCH_OWNERS = {"backends/backend.c", "backends/backend.h", "backends/ready.c",
                     "backends/ready.h", "backends/select.c", "backends/select.h",
                     "backends/members.c", "backends/members.h"}
POOL_TOUCH = re.compile(r"\bpool_touch\s*\(")

INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', re.M)


def check(root):
    problems = []
    edges = set()
    for folder, allowed in ALLOWED.items():
        d = os.path.join(root, folder)
        if not os.path.isdir(d):
            problems.append("%s/: missing folder" % folder)
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            rel = "%s/%s" % (folder, name)
            for m in POOL_TOUCH.finditer(text):
                if rel not in POOL_TOUCH_OWNERS:
                    line = text.count("\n", 0, m.start()) + 1
                    problems.append("%s:%d: calls pool_touch(): every change to what "
                                    "selection reads goes through backends/members.h"
                                    % (rel, line))
            for m in INCLUDE.finditer(text):
                kind, inc = m.group(1), m.group(2)
                line = text.count("\n", 0, m.start()) + 1
                if kind == "<":
                    if (folder == "backends" and name not in BACKENDS_IO
                            and inc.startswith("event2/")):
                        problems.append("%s/%s:%d: includes <%s>: the pool core is pure "
                                        "(no libevent); move the I/O to a check, "
                                        "discovery, hook or statesave file" % (folder, name, line, inc))
                    if (folder == "cluster" and name not in CLUSTER_IO
                            and inc.startswith(("event2/", "hiredis/"))):
                        problems.append("%s/%s:%d: includes <%s>: the cluster core is pure "
                                        "(no libevent, no hiredis); the Redis I/O lives in "
                                        "link.c and cluster.c" % (folder, name, line, inc))
                    continue
                top = inc.split("/", 1)[0] if "/" in inc else folder
                if top == folder:
                    continue
                edges.add((folder, top))
                if top not in allowed:
                    problems.append("%s/%s:%d: includes \"%s\": %s/ may include only %s"
                                    % (folder, name, line, inc, folder,
                                       ", ".join(sorted(allowed)) or "nothing of poolgate"))
    for a, b in sorted(edges):
        if (b, a) in edges and a < b:
            problems.append("%s/ and %s/ include each other (a cycle)" % (a, b))
    return problems


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        sys.stderr.write("layers: %s\n" % p)
    if problems:
        sys.stderr.write("layers: %d forbidden include(s); see tests/layers.py\n" % len(problems))
        return 1
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
