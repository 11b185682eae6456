#!/usr/bin/env bash
# The batch summaries (docs/trace-format.md) of traces the real recorder
# wrote on a GPU: after run.sh and procs.sh, every batch of every recording in
# $OUT carries one, and the card pass that trusts them (analyze) decides as the
# pass over every event does: the same file with its summaries cleared gives
# the same output byte for byte. A summary that lied about its events would
# also stop both commands with "damaged". Binaries from tests/gpu/prebuild.sh.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="${GT_GPU_BIN:-$root/gpu-bin}:$PATH"
out=${OUT:-$root/gpu-out}
status=0
for db in "$out"/*.db; do
    name=$(basename "$db")
    case $name in *-snapshot.db) continue ;; esac # imported, not recorded
    mkdir -p "$out/sum/with" "$out/sum/without"
    cp "$db" "$out/sum/with/$name"
    cp "$db" "$out/sum/without/$name"
    if ! python3 - "$out/sum/without/$name" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n, bare = c.execute("SELECT count(*), count(*) - count(kinds) FROM event_batches").fetchone()
print("%s: %d batches, %d without a summary" % (sys.argv[1].split("/")[-1], n, bare))
if bare:
    sys.exit(1)
c.execute("UPDATE event_batches SET kinds = NULL, device = NULL, pid = NULL")
c.commit()
PY
    then
        echo "$name: its batches cannot be read"
        status=1
        continue
    fi
    # A command may fail on both sides (analyze has nothing to replay in a
    # native-mode recording); its error and status are compared too.
    for side in with without; do
        (cd "$out/sum/$side" && { gpu-trace analyze "$name" --format json; echo "analyze $?"; } \
             > analyze.txt 2>&1 && { gpu-trace stats "$name"; echo "stats $?"; } > stats.txt 2>&1)
    done
    if cmp -s "$out/sum/with/analyze.txt" "$out/sum/without/analyze.txt" &&
        cmp -s "$out/sum/with/stats.txt" "$out/sum/without/stats.txt"; then
        echo "$name: analyze and stats identical with and without summaries ($(tail -1 \
            "$out/sum/with/analyze.txt"), $(tail -1 "$out/sum/with/stats.txt"))"
    else
        echo "$name: DIFFERENT with and without summaries"; status=1
        tail -3 "$out/sum/with/analyze.txt" "$out/sum/with/stats.txt"
    fi
    rm -f "$out/sum/with/$name" "$out/sum/without/$name"
done
exit $status
