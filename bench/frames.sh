#!/bin/sh
# bench/frames.sh: what taking the Python stack costs an allocation (the
# tracer's frames, tracer/pyframes.h), through the CUDA/CUPTI test doubles
# with a real Python interpreter, for docs/performance.md.
#
#   [RUNS=5] [PYTHON=python3] bench/frames.sh [BUILD_DIR] [PAIRS]
#
# tests/fake/py_alloc.py calls the fake driver's cudaMalloc and cudaFree
# through ctypes.PyDLL (the GIL held, as the tracer needs to take a stack)
# PAIRS times, DEPTH Python calls deep, and prints the CPU nanoseconds per
# pair of its own loop (the interpreter's start and the drain are not in
# it). Each depth runs RUNS times untraced, under `gpu-trace record
# --no-frames` and under `gpu-trace record`; the best of each is kept. The
# cost of the stack per allocation is (frames - no-frames): only the
# allocation takes one. DEPTH 0 is a stack of 3 frames; 30 is deeper than
# the 16 frames kept.
set -eu

build=${1:-build}
pairs=${2:-200000}
runs=${RUNS:-5}
python=${PYTHON:-python3}
root=$(cd "$(dirname "$0")/.." && pwd)
gt=$build/gpu-trace
fake=$build/tests/fake/lib
for f in "$gt" "$build/tracer/libgputrace-inject.so" "$fake/libcupti.so.13"; do
    if [ ! -e "$f" ]; then
        echo "bench/frames.sh: error: '$f' not found; build with -DCMAKE_BUILD_TYPE=Release first" >&2
        exit 1
    fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gt-frames-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
capacity=1
while [ "$capacity" -lt $((pairs * 4 + 8192)) ]; do capacity=$((capacity * 2)); done

# best MODE DEPTH: the least ns per pair of RUNS runs.
best() {
    b=
    i=0
    while [ "$i" -lt "$runs" ]; do
        i=$((i + 1))
        case $1 in
        untraced)
            ns=$(LD_LIBRARY_PATH=$fake "$python" "$root/tests/fake/py_alloc.py" "$fake" "$pairs" "$2") ;;
        *)
            opt=
            [ "$1" = no-frames ] && opt=--no-frames
            rm -f "$tmp/t.db"
            ns=$(GPUTRACE_RING_CAPACITY=$capacity "$gt" record -o "$tmp/t.db" $opt -- \
                env LD_LIBRARY_PATH="$fake" GPUTRACE_CUPTI="$fake/libcupti.so.13" \
                "$python" "$root/tests/fake/py_alloc.py" "$fake" "$pairs" "$2" 2>/dev/null) ;;
        esac
        if [ -z "$b" ] || [ "$ns" -lt "$b" ]; then b=$ns; fi
    done
    echo "$b"
}

echo "date        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host        $(uname -srm); $(nproc) CPUs; $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
echo "python      $("$python" -c 'import sys; print(sys.version.split()[0])')"
echo "pairs       $pairs cudaMalloc/cudaFree pairs through ctypes.PyDLL, best of $runs"
for depth in 0 30; do
    u=$(best untraced "$depth")
    n=$(best no-frames "$depth")
    f=$(best frames "$depth")
    echo "depth $depth   untraced $u ns/pair, traced --no-frames $n ns/pair, traced with frames $f ns/pair: the stack costs $((f - n)) ns per allocation"
done
