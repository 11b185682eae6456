#!/usr/bin/env bash
# Installs what gpu-trace needs to build and test on Debian 12 (run as root or
# with sudo available). Idempotent: packages already present are skipped.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libsqlite3-dev sqlite3 check gnuplot-nox
      clang libclang-rt-14-dev clang-format zlib1g-dev libjson-c-dev python3 coccinelle)
# Installed without their Recommends: chromium's pull in a desktop (upower,
# printer setup, ~100 more packages); the headless report test
# (tests/report_browser_test.sh) needs only the browser: ~115 MiB, ~20 s.
lean_pkgs=(chromium)
missing=()
lean_missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
for p in "${lean_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || lean_missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#lean_missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if [ ${#lean_missing[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${lean_missing[@]}" >/dev/null
    fi
fi
