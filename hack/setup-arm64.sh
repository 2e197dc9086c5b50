#!/usr/bin/env bash
# Opt-in: prepares this amd64 Debian/Ubuntu machine (as root) to build arm64
# artifacts and an arm64 node image, and to run arm64 nodes under emulation.
# `make up` never runs it; `HARDWAY_ARM64=1 hack/setup-host.sh` does, or run
# it directly. Safe to re-run.
#
#   gcc-aarch64-linux-gnu      cross C compiler: runc needs cgo (libseccomp)
#   libseccomp-dev:arm64       libseccomp's arm64 static library (multiarch)
#   busybox-static:arm64       not installed: `apt-get download` fetches it for
#                              the test app image, which needs the arm64 lists
#   qemu-user-static           runs arm64 programs: debootstrap's second stage,
#                              version checks, and the nodes themselves
#   file                       `hardway artifacts list` checks each binary's
#                              architecture with it
#
# It does NOT register qemu with binfmt_misc: that changes how the whole
# kernel runs arm64 programs, so it is done only when asked, by
# hack/binfmt-arm64.sh enable, and undone by hack/binfmt-arm64.sh disable.
# binfmt-support (a Recommends of qemu-user-static) is left out for the same
# reason: its postinst would register every qemu interpreter at once.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "setup-arm64: run as root (it adds the arm64 architecture to dpkg and installs packages)" >&2
  exit 1
fi
host=$(dpkg --print-architecture)
if [ "$host" != amd64 ]; then
  echo "setup-arm64: this host is $host; the cross toolchain here is for amd64 hosts (on an arm64 host, hack/setup-host.sh is all you need)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup-arm64: dpkg --add-architecture arm64"
  dpkg --add-architecture arm64
  apt-get update -qq
elif ! apt-cache show libseccomp-dev:arm64 >/dev/null 2>&1; then
  apt-get update -qq
fi

need=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
[ -e /usr/lib/aarch64-linux-gnu/libseccomp.a ] || need+=(libseccomp-dev:arm64)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v file >/dev/null 2>&1 || need+=(file)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-arm64: installing ${need[*]}"
  # The amd64 and arm64 libseccomp-dev must be the same version (multiarch
  # "same" packages share /usr/include/seccomp.h): install both together.
  if printf '%s\n' "${need[@]}" | grep -qx 'libseccomp-dev:arm64'; then
    need+=(libseccomp-dev)
  fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup-arm64: ready ($(aarch64-linux-gnu-gcc --version | head -1); $(qemu-aarch64-static --version | head -1))"
