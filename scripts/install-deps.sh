#!/usr/bin/env bash
# Installs the Debian 12 packages clsync builds and tests with, when any is missing.
# --clang: also clang 14 and its sanitizer and libFuzzer runtimes (the sanitizer builds and the
# fuzz targets are compiled with clang).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libcli11-dev libyaml-cpp-dev libssh-dev libzstd-dev
      libspdlog-dev doctest-dev nlohmann-json3-dev libssl-dev libarchive-dev zlib1g-dev
      openssh-server openssh-client rsync jq zstd ccache zsh fish strace time e2fsprogs)
if [ "${1:-}" = --clang ]; then
  pkgs+=(clang-14 libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
