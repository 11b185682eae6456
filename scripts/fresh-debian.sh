#!/usr/bin/env bash
# The honest test of the README: its two commands on a fresh Debian 12 root
# made with debootstrap (minbase: no compiler, no CUDA package, no
# ../shared), from a clone of this repository's HEAD. Needs root, network
# access to a Debian mirror and debootstrap (apt-get install debootstrap).
#
#   scripts/fresh-debian.sh [ROOT_DIR]     (default /srv/gt-fresh-deb12)
#
# Prints the first command's output (the bundled example analyzed) and the
# second's test summary; exits non-zero when either fails. ROOT_DIR is made
# afresh each run and left behind for inspection.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/srv/gt-fresh-deb12}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

cleanup() {
    for m in dev/shm dev proc; do
        mountpoint -q "$root/$m" && umount "$root/$m" || true
    done
}
trap cleanup EXIT
cleanup
rm -rf "$root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t tmpfs -o size=2g tmpfs "$root/dev/shm"
git clone -q "$repo" "$root/root/gpu-trace"

# The README's commands, verbatim, as a user would paste them.
first=$(sed -n '/^```sh$/{n;p;q}' "$repo/README.md")
second=$(sed -n '/^```sh$/{n;p}' "$repo/README.md" | sed -n 2p)
echo "command 1: $first"
chroot "$root" /bin/bash -c "cd /root/gpu-trace && ls /usr/local/cuda >/dev/null 2>&1 &&
    echo 'a CUDA toolkit is present' || echo 'no CUDA toolkit'; $first"
echo "command 2: $second"
chroot "$root" /bin/bash -c "cd /root/gpu-trace && $second" >"$root/test.log" 2>&1 || {
    tail -40 "$root/test.log"
    echo "fresh-debian: the test command failed (log: $root/test.log)"
    exit 1
}
grep -E 'tests passed|Skipped\)|tsan:' "$root/test.log"
echo "fresh-debian: both commands passed (log: $root/test.log)"
