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
"$root/scripts/relink-static.sh" "$build" "$bin" gpu-trace
cp "$build/tracer/libgputrace-inject.so" "$bin/"
nvcc -O2 -o "$bin/smoke" "$root/tests/gpu/smoke.cu" -lcuda
ls -la "$bin"
