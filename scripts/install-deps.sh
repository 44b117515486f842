#!/usr/bin/env bash
# Installs the Debian 12 packages labyrinth builds and tests with. Idempotent: when every
# package is already installed it does nothing (no network).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libcli11-dev libfmt-dev nlohmann-json3-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang llvm libbpf-dev bpftool libclang-rt-14-dev
  trace-cmd linux-perf iputils-ping groff-base util-linux procps python3 python3-jsonschema python3-prometheus-client rsync
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
