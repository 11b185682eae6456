#!/usr/bin/env bash
# The C dialect of CONTRIBUTING.md (pointers compared with NULL, sizeof of an
# object without parentheses), through coccinelle's type-aware rewrites in
# scripts/cocci/dialect.cocci.
#   scripts/dialect.sh [--check] [FILE...]
# Without FILEs: every C file of analyzer/, reports/, cli/, tracer/, tests/,
# bench/ and fuzz/ but tests/cuda_abi_*.c (below).
# --check changes nothing and exits 1
# naming the files that break a rule; otherwise the files are rewritten and
# clang-formatted. Needs spatch (Debian's coccinelle package).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check=0
if [ "${1:-}" = --check ]; then
    check=1
    shift
fi
command -v spatch >/dev/null 2>&1 || {
    echo "dialect: spatch (coccinelle) not installed" >&2
    exit 2
}
cd "$root"
# spatch needs every header to know a pointer from an integer: each layer's
# public include/ folder and the private headers beside its sources.
incs=()
while IFS= read -r d; do incs+=(-I "$d"); done < <(
    find analyzer tracer reports cli tests bench fuzz -type d -not -path '*/include/gputrace' \
        -not -path 'tests/data*' -not -path 'fuzz/corpus*' | sort)
if [ $# -gt 0 ]; then
    files=("$@")
else
    # tests/cuda_abi_*.c compile against the CUDA toolkit's headers, which
    # are not on every machine: without them spatch cannot tell their
    # types from objects, so they are left out.
    mapfile -t files < <(git ls-files 'analyzer/*.c' 'reports/*.c' 'cli/*.c' 'tracer/*.c' \
        'tests/*.c' 'bench/*.c' 'fuzz/*.c' ':!tests/cuda_abi_*.c' ':!tests/data/*')
fi
bad=()
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "${files[@]}"; do
    # -o writes the rewritten file alone: with --recursive-includes an
    # in-place run would also rewrite (and reprint) the headers it reads.
    rm -f "$tmp/out.c"
    spatch --very-quiet --recursive-includes --sp-file scripts/cocci/dialect.cocci \
        "${incs[@]}" "$f" -o "$tmp/out.c" >/dev/null 2>&1 || true
    [ -s "$tmp/out.c" ] || continue
    clang-format --assume-filename="$f" <"$tmp/out.c" >"$tmp/formatted.c"
    cmp -s "$tmp/formatted.c" "$f" && continue
    if [ "$check" = 1 ]; then
        bad+=("$f")
    else
        cp "$tmp/formatted.c" "$f"
    fi
done
if [ ${#bad[@]} -gt 0 ]; then
    echo "dialect: these files break CONTRIBUTING.md's C dialect (scripts/dialect.sh fixes them):"
    printf '  %s\n' "${bad[@]}"
    exit 1
fi
