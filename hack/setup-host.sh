#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu machine (as root) for hardway: the packages
# the build and the nodes need, and a running Docker engine. Safe to re-run.
set -euo pipefail

need_pkgs=()
# Test for the engine, not the client: many machines carry a static docker CLI
# (e.g. /usr/local/bin/docker) with no dockerd beside it.
command -v dockerd >/dev/null 2>&1 || docker info >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
[ -e /usr/include/seccomp.h ] || need_pkgs+=(libseccomp-dev)   # runc is built with seccomp
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)      # tests cross-check certificates
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc libc6-dev)    # cgo for runc
command -v make >/dev/null 2>&1 || need_pkgs+=(make)            # busybox (the test app and e2e images) from source
command -v bzip2 >/dev/null 2>&1 || need_pkgs+=(bzip2)          # its source tarball
command -v iptables >/dev/null 2>&1 || need_pkgs+=(iptables)
command -v ping >/dev/null 2>&1 || need_pkgs+=(iputils-ping)   # the network step's probe, tested in namespaces
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)    # the tutorial's browser tests

if [ "$(id -u)" != 0 ]; then
  echo "setup-host: run as root (it installs packages and starts dockerd)" >&2
  exit 1
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup-host: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# Every node runs systemd, containerd and kubelet, and each takes inotify
# instances from the host's single per-user budget (128 by default): a few
# nodes exhaust it and kubelet dies with "inotify_init: too many open files".
if [ "$(sysctl -n fs.inotify.max_user_instances)" -lt 8192 ]; then
  sysctl -q -w fs.inotify.max_user_instances=8192
fi
if [ "$(sysctl -n fs.inotify.max_user_watches)" -lt 524288 ]; then
  sysctl -q -w fs.inotify.max_user_watches=524288
fi

if ! docker info >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    systemctl start docker
  else
    # No systemd on this host (CI, containers): run the engine in the background.
    echo "setup-host: starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "setup-host: dockerd did not start; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi
echo "setup-host: ready (docker $(docker version --format '{{.Server.Version}}'))"

# Opt-in: the arm64 cross toolchain and qemu-user-static (hack/setup-arm64.sh).
if [ "${HARDWAY_ARM64:-}" = 1 ]; then
  "$(dirname "$0")/setup-arm64.sh"
fi
