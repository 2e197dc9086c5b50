#!/bin/sh
# hardway node image setup: runs once inside the fresh Debian root (chroot or
# docker build) and turns it into something that boots systemd in a container.
set -eu

systemctl set-default multi-user.target

# Units that touch hardware, the kernel or consoles a container does not own:
# they fail or hang in a node and only make "systemctl is-system-running"
# report degraded.
for u in \
  getty.target getty@.service serial-getty@.service console-getty.service \
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
  systemd-udev-trigger.service systemd-udev-settle.service \
  systemd-modules-load.service systemd-remount-fs.service systemd-binfmt.service \
  proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  sys-fs-fuse-connections.mount dev-hugepages.mount \
  systemd-resolved.service systemd-timesyncd.service systemd-firstboot.service \
  remote-fs.target remote-fs-pre.target \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
  ; do
  systemctl mask "$u" >/dev/null 2>&1
done

# Installed for later steps, started by them when a node needs them: ssh for
# debugging, haproxy only in the load-balancer container.
for u in ssh.service haproxy.service; do
  systemctl disable "$u" >/dev/null 2>&1 || true
done

# Empty, not missing: the entrypoint fills it once per node.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id

# Keep the image small; nodes never run apt (there may be no route out).
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /tmp/* /root/.cache
