#!/usr/bin/env bash
# Registers (enable) or removes (disable) qemu-user emulation of arm64
# programs in this kernel's binfmt_misc, so that arm64 binaries run on this
# amd64 host: debootstrap's second stage for the arm64 node image, and arm64
# nodes (systemd, containerd, kubelet, pods) inside Docker containers.
#
#   hack/binfmt-arm64.sh enable    mount binfmt_misc if needed, register
#   hack/binfmt-arm64.sh disable   unregister; unmount if this script mounted it
#   hack/binfmt-arm64.sh status    say what is registered (exit 1 if not)
#   hack/binfmt-arm64.sh print     print the registration line (no root)
#
# It changes how the whole kernel runs arm64 programs, so nothing runs it
# implicitly: hack/arm64-cluster.sh enables it and disables it on exit.
#
# The registration is Debian's own for qemu-user-static (its
# /usr/lib/binfmt.d/qemu-aarch64.conf, which systemd-binfmt would load on a
# systemd host): the ELF header of a little-endian 64-bit aarch64 program
# (executable or PIE: the mask's 0xfe ignores the low bit of e_type), and
# flags
#   F  the kernel opens the interpreter now, at registration: inside a
#      container (a node, a pod) the path /usr/bin/qemu-aarch64-static does
#      not exist, and without F every arm64 exec there fails with ENOENT;
#   P  argv[0] is passed as the program gave it (login shells, multi-call
#      binaries); Debian's aarch64-binfmt-P name tells qemu to expect it;
#   O  the kernel passes the program as an open file, so programs that are
#      executable but not readable still run.
# internal/nodeimage's tests check this line against real ELF headers.
set -euo pipefail

name=qemu-aarch64
magic='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
mask='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
interp=/usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags=OPF
line=":$name:M::$magic:$mask:$interp:$flags"

dir=/proc/sys/fs/binfmt_misc
marker=/run/hardway-binfmt-mounted # this script mounted binfmt_misc

die() { echo "binfmt-arm64: $*" >&2; exit 1; }

mounted() { grep -q " $dir binfmt_misc " /proc/mounts; }

case "${1:-}" in
print)
  printf '%s\n' "$line"
  ;;
status)
  if ! mounted; then
    echo "binfmt_misc is not mounted at $dir: arm64 programs do not run here (hack/binfmt-arm64.sh enable)"
    exit 1
  fi
  if [ ! -e "$dir/$name" ]; then
    echo "binfmt_misc has no $name entry: arm64 programs do not run here (hack/binfmt-arm64.sh enable)"
    exit 1
  fi
  echo "$dir/$name:"
  sed 's/^/  /' "$dir/$name"
  ;;
enable)
  [ "$(id -u)" = 0 ] || die "run as root (it mounts binfmt_misc and registers an interpreter with the kernel)"
  [ -x /usr/bin/qemu-aarch64-static ] && [ -e "$interp" ] ||
    die "qemu-user-static is not installed ($interp missing): run hack/setup-arm64.sh"
  if ! mounted; then
    mount -t binfmt_misc binfmt_misc "$dir" ||
      die "cannot mount binfmt_misc at $dir (is it built into this kernel? a container needs --privileged for it)"
    touch "$marker"
  fi
  if [ -e "$dir/$name" ]; then
    # Someone else's entry (binfmt-support, or one without F) may not work
    # in containers: replace it with ours.
    if grep -qx 'flags: .*F.*' "$dir/$name" && grep -qx "interpreter $interp" "$dir/$name"; then
      echo "binfmt-arm64: $name already registered with the F flag"
      exit 0
    fi
    echo -1 >"$dir/$name"
  fi
  printf '%s' "$line" >"$dir/register" || die "the kernel refused the registration: $line"
  echo "binfmt-arm64: registered $name -> $interp (flags $flags)"
  ;;
disable)
  [ "$(id -u)" = 0 ] || die "run as root"
  if mounted && [ -e "$dir/$name" ]; then
    echo -1 >"$dir/$name"
    echo "binfmt-arm64: unregistered $name"
  fi
  if [ -e "$marker" ] && mounted; then
    # Only when nothing else is registered: another tool's entries stay.
    if [ -z "$(ls "$dir" | grep -vx -e register -e status)" ]; then
      umount "$dir"
      echo "binfmt-arm64: unmounted $dir"
    fi
  fi
  rm -f "$marker"
  ;;
*)
  echo "usage: $0 enable|disable|status|print" >&2
  exit 2
  ;;
esac
