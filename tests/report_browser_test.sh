#!/usr/bin/env bash
# Opens the HTML report of a trace in headless Chromium and checks that it
# renders without errors: the DOM has the ranked table and the four plots as
# inline <svg>, a screenshot comes out as a PNG, and Chromium's log has no
# uncaught script error and no failed load (ERR_...). The network is mapped
# away, so a page that reached for anything outside itself would fail here.
# Exit 77 (skipped) when Chromium is not installed.
#
# usage: report_browser_test.sh GPU_TRACE_BINARY TRACE
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 GPU_TRACE_BINARY TRACE" >&2
    exit 2
fi
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "SKIP: chromium is not installed (scripts/deps.sh installs it)"
    exit 77
fi
bin=$1
trace=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
fail() {
    echo "FAIL: $*"
    failed=1
}

if ! "$bin" report "$trace" -o "$work/report.html" --device-memory 2.2GiB \
    >"$work/report.out" 2>"$work/report.err"; then
    cat "$work/report.err"
    echo "FAIL: gpu-trace report exited non-zero"
    exit 1
fi
plots=5
if grep -q "the report has no plots" "$work/report.err"; then
    echo "note: no plots in the report (gnuplot missing?): expecting no <svg>"
    plots=0
fi

# A private profile, no first-run work, no network: every host resolves to
# nothing, so a reference to anything outside the file would log ERR_.
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage
    --user-data-dir="$work/profile" --no-first-run --no-default-browser-check
    --disable-extensions --host-resolver-rules="MAP * ~NOTFOUND"
    --window-size=1280,2000 --hide-scrollbars)
url="file://$work/report.html"
run_browser() {
    HOME=$work timeout 120 "$browser" "${flags[@]}" "$@"
}

run_browser --enable-logging=stderr --v=0 --dump-dom "$url" >"$work/dom.html" 2>"$work/dom.log" ||
    fail "chromium --dump-dom exited non-zero"
[ -s "$work/dom.html" ] || fail "chromium dumped an empty DOM"
grep -q '<table class="ranking">' "$work/dom.html" || fail "the DOM has no ranked table"
n=$(grep -o '<svg' "$work/dom.html" | wc -l)
[ "$n" -eq "$plots" ] || fail "the DOM has $n <svg> elements, expected $plots"
grep -q 'export PYTORCH_CUDA_ALLOC_CONF=' "$work/dom.html" || fail "the DOM has no export line"
# Chromium does not log every failed subresource load at --v=0: the DOM
# itself must name nothing outside the file.
if grep -Eo '(src=|https?://)[^ >]{0,60}' "$work/dom.html" | head -5 | grep .; then
    fail "the DOM refers to something outside the file"
fi
if grep -E 'Uncaught|ERR_' "$work/dom.log"; then
    fail "chromium logged a script error or a failed load"
fi

# The ranking table fits a 1400 px window: a copy of the report with a
# script that writes, into the DOM, whether any table scrolls sideways.
sed 's|</body>|<script>var w=0;document.querySelectorAll(".wide").forEach(function(e){if(e.scrollWidth>e.clientWidth)w++;});document.body.setAttribute("data-wide-overflow",String(w));</script></body>|' \
    "$work/report.html" >"$work/measure.html"
flags_1400=("${flags[@]/--window-size=1280,2000/--window-size=1400,2000}")
HOME=$work timeout 120 "$browser" "${flags_1400[@]}" --dump-dom "file://$work/measure.html" \
    >"$work/measure.dom" 2>/dev/null || fail "chromium --dump-dom of the measuring copy failed"
grep -q 'data-wide-overflow="0"' "$work/measure.dom" ||
    fail "a ranking table does not fit a 1400 px window ($(grep -o 'data-wide-overflow="[0-9]*"' "$work/measure.dom"))"

run_browser --screenshot="$work/shot.png" "$url" >/dev/null 2>"$work/shot.log" ||
    fail "chromium --screenshot exited non-zero"
if [ ! -s "$work/shot.png" ]; then
    fail "no screenshot"
elif [ "$(head -c 8 "$work/shot.png" | od -An -tx1 | tr -d ' \n')" != 89504e470d0a1a0a ]; then
    fail "the screenshot is not a PNG"
fi

if [ $failed -ne 0 ]; then
    echo "--- chromium log"
    tail -20 "$work/dom.log"
    exit 1
fi
echo "ok: the report renders in $("$browser" --version 2>/dev/null | head -1)"
