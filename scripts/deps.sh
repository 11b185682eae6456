#!/usr/bin/env bash
# Installs what gpu-trace needs to build and test on Debian 12 (run as root or
# with sudo available). Idempotent: packages already present are skipped.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libsqlite3-dev sqlite3 check gnuplot-nox
      clang libclang-rt-14-dev clang-format zlib1g-dev libjson-c-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
