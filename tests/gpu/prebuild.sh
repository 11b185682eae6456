#!/usr/bin/env bash
# Builds, on the development machine (x86-64 like the GPU host), what
# tests/gpu/run.sh runs there: gpu-trace with SQLite linked statically (the GPU
# host may lack libsqlite3), the injection library and the CUDA smoke program.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/gpu-bin"
build="$root/build-gpu"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGT_WITH_CUPTI=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target gpu-trace gputrace-inject
mkdir -p "$bin"
# relink gpu-trace as CMake links it, with the static SQLite and zlib in place
# of the shared ones (the link line follows the project's libraries as they
# are split, instead of naming them here)
link=$(sed -e 's#[^ ]*libsqlite3\.so#/usr/lib/x86_64-linux-gnu/libsqlite3.a#' \
    -e 's#[^ ]*libz\.so#/usr/lib/x86_64-linux-gnu/libz.a#' \
    -e "s# -o gpu-trace # -o $bin/gpu-trace #" "$build/CMakeFiles/gpu-trace.dir/link.txt")
(cd "$build" && eval "$link -lpthread -ldl")
cp "$build/tracer/libgputrace-inject.so" "$bin/"
nvcc -O2 -o "$bin/smoke" "$root/tests/gpu/smoke.cu" -lcuda
ls -la "$bin"
