#!/usr/bin/env bash
# Imports every real trace of ../shared/data/traces and the H100 ground
# truth of tests/data/gpu-h100, runs `gpu-trace validate` on each, and prints
# the markdown rows of docs/validation.md.
#   scripts/validate-shared.sh [BUILD_DIR]   (default: build)
set -euo pipefail
shopt -s nullglob
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build}/gpu-trace
shared=${GT_SHARED_TRACES:-$root/../shared/data/traces}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

row() { # name trace
    "$bin" validate "$2" --format json > "$work/v.json"
    python3 - "$1" "$work/v.json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
v = json.load(open(path))
for d in v["devices"]:
    gib = lambda b: "%.2f GiB" % (b / 2**30)
    seg = "%d / %d / %d" % (d["segment_events_real"], d["segment_events_sim"], d["segment_events_matched"])
    tot = "%d / %d" % (d["totals_matched"], d["totals_events"]) if d["totals_events"] else "-"
    div = "-" if d["first_divergence"] is None else "at %d" % d["first_divergence"]["index"]
    if d["totals_events"] and not d["segment_events_real"]:
        seg, div = "n/a", "-"  # profiler traces record no segment events
    peak = "%s / %s" % (gib(d["peak_reserved_real_bytes"]), gib(d["peak_reserved_sim_bytes"])) \
        if d["segment_events_real"] or not d["totals_events"] else \
        "%s / %s" % (gib(d["totals_reserved_peak_real_bytes"]), gib(d["peak_reserved_sim_bytes"]))
    start = gib(d["initial_reserved_bytes"]) if d["initial_reserved_bytes"] else "empty"
    if d["totals_events"] and not d["segment_events_real"]:
        start = "not recorded"
    end = "%d / %d" % (d["final_blocks_matched"], d["final_blocks_real"]) if d["final_blocks_real"] else "-"
    print("| %s | %d | %s | %s | %s | %s | %s | %s |" % (name, d["requests"], start, seg, div, peak, end, tot))
PY
}

echo "| trace | requests | start state (reserved) | segment events real / sim / matched | first divergence | peak reserved real / sim | end state blocks matched | allocated total matches |"
echo "|---|---|---|---|---|---|---|---|"
for d in "$shared"/snap-* "$shared"/chrome-*; do
    [ -d "$d" ] || continue
    files=("$d"/*.pickle "$d"/*.json.gz)
    f=${files[0]}
    "$bin" import "$f" -o "$work/$(basename "$d").db" > /dev/null
    row "$(basename "$d")" "$work/$(basename "$d").db"
done
for j in "$root"/tests/data/gpu-h100/truth/*.json; do
    name=$(basename "$j" .json)
    conf=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); c=d['alloc_conf']; f=d['fraction']; print(','.join(x for x in [c, 'per_process_memory_fraction:%r' % f if f else ''] if x))" "$j")
    total=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total_memory'])" "$j")
    "$bin" import "${j%.json}.csv" -o "$work/h100-$name.db" --alloc-conf "$conf" \
        --device-name "NVIDIA H100 80GB HBM3" --device-memory "$total" > /dev/null
    row "h100 $name" "$work/h100-$name.db"
done
