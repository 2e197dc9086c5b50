#!/bin/sh
# hardway SSH machine setup: turns a node image into something that looks
# like a small server hardway does not own (provider ssh): sshd running, a
# sudo user, nothing of Kubernetes. Runs once, at image build time.
set -eu

# sshd starts at boot. Host keys are made at first boot, per machine: keys
# baked into the image would make every machine the same one to ssh.
rm -f /etc/ssh/ssh_host_*
cat >/etc/systemd/system/hardway-ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate this machine's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable hardway-ssh-hostkeys.service ssh.service

# The administrator: logs in with a key only and becomes root through sudo
# without a password (what provider ssh needs from a user other than root).
useradd --create-home --shell /bin/bash hardway
printf 'hardway ALL=(ALL) NOPASSWD:ALL\n' >/etc/sudoers.d/hardway
chmod 0440 /etc/sudoers.d/hardway

# Authorized keys come from outside the image: mount a public key file at
# /etc/ssh/authorized_keys/<user> (read-only is fine).
mkdir -p /etc/ssh/authorized_keys /etc/ssh/sshd_config.d
cat >/etc/ssh/sshd_config.d/hardway.conf <<'CONF'
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
CONF
