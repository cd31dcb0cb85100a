#!/bin/sh
# Install what building, testing and running imgflow needs on Debian 12.
# Safe to run again: apt-get skips what is already installed.
set -eu

PACKAGES="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev \
  librdkafka-dev libhiredis-dev libvips-dev libjansson-dev libsystemd-dev libglib2.0-dev libpcre2-dev \
  redis-server kcat python3 systemd"

missing=""
for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
# redis-server's package starts a system instance; imgflow's tests and local stack
# run their own on loopback, so it is left as the package configured it.
