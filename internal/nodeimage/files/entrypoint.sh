#!/bin/bash
# hardway node entrypoint: prepares the container so systemd can run as PID 1
# (writable cgroups, shared mount propagation, a machine-id of its own), then
# execs the command (/sbin/init). It runs at every start of the node, so each
# step must be safe to repeat.
set -euo pipefail

log() { echo "hardway-entrypoint: $*" >&2; }

# kubelet and containerd need mounts they make under /var/lib/kubelet to
# propagate to other mount namespaces (volumes, bidirectional mounts).
mount --make-rshared /

fix_cgroup_v2() {
  log "cgroup v2"
  # With a private cgroup namespace /sys/fs/cgroup is this node's own subtree,
  # but Docker mounts it read-only unless --privileged.
  if grep -qE '^[^ ]+ /sys/fs/cgroup cgroup2 ro[ ,]' /proc/self/mounts; then
    mount -o remount,rw /sys/fs/cgroup
  fi
  # A cgroup with processes cannot hand controllers to children ("no internal
  # processes" rule), so move everything (this shell, soon systemd) into a
  # child first; init.scope is where systemd would put itself anyway.
  mkdir -p /sys/fs/cgroup/init.scope
  local pid
  for pid in $(cat /sys/fs/cgroup/cgroup.procs); do
    echo "$pid" >/sys/fs/cgroup/init.scope/cgroup.procs 2>/dev/null || true
  done
  # One at a time: a single write of all of them fails as a whole when the
  # kernel refuses one.
  local c
  for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || log "warning: cannot enable the $c controller"
  done
}

fix_cgroup_v1() {
  log "cgroup v1"
  # Docker bind-mounts each hierarchy read-only (unless --privileged). With a
  # private cgroup namespace a fresh mount of the same hierarchy shows only
  # this node's subtree, and it is writable, which systemd and kubelet need.
  if grep -qE '^[^ ]+ /sys/fs/cgroup tmpfs ro[ ,]' /proc/self/mounts; then
    mount -o remount,rw /sys/fs/cgroup
  fi
  local fstype target opts
  # Collect first: unmounting while reading /proc/self/mounts is racy.
  local mounts
  mounts=$(awk '$2 ~ "^/sys/fs/cgroup/" && ($3 == "cgroup" || $3 == "cgroup2") {print $3, $2, $4}' /proc/self/mounts)
  local have_systemd=no
  while read -r fstype target opts; do
    [ -n "$fstype" ] || continue
    umount "$target"
    if [ "$fstype" = cgroup2 ]; then
      mount -t cgroup2 -o rw,nosuid,nodev,noexec cgroup2 "$target"
      continue
    fi
    # Keep only what names the hierarchy (controllers, name=...), not ro etc.
    local sel
    sel=$(echo "$opts" | tr ',' '\n' | grep -vE '^(rw|ro|nosuid|nodev|noexec|relatime|noatime|clone_children|xattr|nsdelegate|release_agent=.*)$' | paste -sd, -)
    case ",$sel," in *,name=systemd,*) have_systemd=yes ;; esac
    mount -t cgroup -o "rw,nosuid,nodev,noexec,$sel" cgroup "$target"
  done <<<"$mounts"
  # systemd in legacy/hybrid mode needs the named systemd hierarchy even when
  # the host (no systemd there) never mounted it.
  if [ "$have_systemd" = no ]; then
    mkdir -p /sys/fs/cgroup/systemd
    mount -t cgroup -o rw,nosuid,nodev,noexec,none,name=systemd cgroup /sys/fs/cgroup/systemd
  fi
  # Let nothing mounted here propagate back to the host.
  mount --make-rprivate /sys/fs/cgroup
}

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  fix_cgroup_v2
else
  fix_cgroup_v1
fi

# The image ships an empty machine-id so that every node gets its own, once:
# it is written to the container's layer and survives restarts.
if [ ! -s /etc/machine-id ]; then
  systemd-machine-id-setup >/dev/null
  log "machine-id $(cat /etc/machine-id)"
fi

# Every container sees the host's DMI product_uuid; kubelet reports it as the
# node's system UUID, so give each node one of its own.
for f in /sys/class/dmi/id/product_uuid /sys/devices/virtual/dmi/id/product_uuid; do
  if [ -f "$f" ]; then
    [ -s /etc/hardway-product-uuid ] || cat /proc/sys/kernel/random/uuid >/etc/hardway-product-uuid
    mount -o ro,bind /etc/hardway-product-uuid "$f" || log "warning: could not mask $f"
  fi
done

log "starting $*"
exec "$@"
