#!/bin/sh
# Relinks executables of a CMake build with SQLite and zlib linked in
# statically, for a machine that lacks their shared libraries (the lent GPU
# machine): tests/gpu/prebuild.sh's gpu-trace, and gen_trace and
# bench_replay for bench/run.sh there. Each is linked as CMake links it
# (its link.txt), so the line follows the project's libraries as they change.
#   scripts/relink-static.sh BUILD_DIR OUT_DIR TARGET...
set -eu
if [ $# -lt 3 ]; then
    echo "usage: scripts/relink-static.sh BUILD_DIR OUT_DIR TARGET..." >&2
    exit 2
fi
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2
lib=/usr/lib/x86_64-linux-gnu
for exe in "$@"; do
    link=$(sed -e "s#[^ ]*libsqlite3\\.so#$lib/libsqlite3.a#" -e "s#[^ ]*libz\\.so#$lib/libz.a#" \
        -e "s# -o $exe # -o $out/$exe #" "$build/CMakeFiles/$exe.dir/link.txt")
    (cd "$build" && eval "$link -lpthread -ldl")
done
