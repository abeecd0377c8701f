#!/bin/sh
# bench/sockmap/build.sh [DIR] -- builds relay.bpf.o, smrelay, smcheck and
# (from bench/) pingpong and echod into DIR (default bench/sockmap/out).
# Needs clang (bpf target), libbpf-dev and linux-libc-dev, which are not in
# deploy/install-deps: this is not part of the meson build on purpose.
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
arch=$(gcc -dumpmachine)
clang -O2 -g -target bpf -I/usr/include/"$arch" -Wall -Werror \
    -c "$here/relay.bpf.c" -o "$out/relay.bpf.o"
for p in smrelay smcheck; do
	cc -O2 -g -std=gnu11 -Wall -Wextra -Werror -pthread \
	    -o "$out/$p" "$here/$p.c" -lbpf
done
cc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$out/pingpong" "$here/../pingpong.c"
cc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$out/echod" "$here/../echod.c"
echo "built into $out"
