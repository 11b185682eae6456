#!/usr/bin/env bash
# The C dialect of CONTRIBUTING.md (pointers compared with NULL, sizeof of an
# object without parentheses), through coccinelle's type-aware rewrites in
# scripts/cocci/dialect.cocci.
#   scripts/dialect.sh [--check] [FILE...]
# Without FILEs: every C file of analyzer/, reports/, cli/ and tracer/.
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
    find analyzer tracer reports cli -type d -not -path '*/include/gputrace' | sort)
if [ $# -gt 0 ]; then
    files=("$@")
else
    mapfile -t files < <(git ls-files 'analyzer/*.c' 'reports/*.c' 'cli/*.c' 'tracer/*.c')
fi
bad=()
for f in "${files[@]}"; do
    out=$(spatch --very-quiet --recursive-includes --sp-file scripts/cocci/dialect.cocci \
        "${incs[@]}" "$f" 2>/dev/null || true)
    [ -z "$out" ] && continue
    if [ "$check" = 1 ]; then
        bad+=("$f")
    else
        spatch --very-quiet --in-place --recursive-includes --sp-file scripts/cocci/dialect.cocci \
            "${incs[@]}" "$f" >/dev/null 2>&1
        clang-format -i "$f"
    fi
done
if [ ${#bad[@]} -gt 0 ]; then
    echo "dialect: these files break CONTRIBUTING.md's C dialect (scripts/dialect.sh fixes them):"
    printf '  %s\n' "${bad[@]}"
    exit 1
fi
