#!/usr/bin/env bash
# Installs the Debian packages sandboxd needs to build, test and benchmark,
# but only those that are missing. Safe to run again: it prints what it
# installs, or that nothing was missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libuv1-dev libcurl4-openssl-dev libprotobuf-c-dev protobuf-c-compiler
  liblmdb-dev libjansson-dev libsodium-dev libyaml-dev libssl-dev libseccomp-dev
  libmicrohttpd-dev
  clang libclang-rt-14-dev
  nginx-light curl python3 libxml2-utils
  protobuf-compiler python3-protobuf python3-nacl
  wrk hey
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "setup: need root to install: ${missing[*]}; run as root or install sudo" >&2
    exit 3
  fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian starts a system nginx on port 80 when the package is installed;
# policy-rc.d keeps it from starting: the project runs its own instances.
rcd_made=0
if [ ! -e /usr/sbin/policy-rc.d ] && [ -z "$SUDO" ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  rcd_made=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if [ "$rcd_made" = 1 ]; then
  rm -f /usr/sbin/policy-rc.d
fi
echo "setup: done"
