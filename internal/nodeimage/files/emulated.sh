#!/bin/sh
# Only in a node image built for another architecture than the host that runs
# it (an arm64 image on an amd64 host, under qemu-user through binfmt_misc).
#
# qemu-user translates an emulated program's system calls for the host
# kernel, but not netfilter's netlink protocol (nftables, iptables-nft,
# conntrack, ipset) nor iptables' socket options: there an emulated nft or
# iptables fails with "Protocol not supported", and kube-proxy, kubelet and
# the pod network unit cannot write a single rule. Neither does it carry all
# of rtnetlink: an emulated `bridge fdb append` and `ip neigh replace` fail
# with "Cannot talk to rtnetlink: Operation not supported" (the VXLAN pod
# routes of a multi-node cluster need both), so iproute2 comes from the host
# too. The host's own builds of
# these tools, from Debian's archive for the host's architecture, run natively
# (binfmt_misc leaves host programs alone) and the kernel cannot tell the
# difference. Everything else in the node stays the image's architecture.
#
# Usage: emulated.sh HOST_DEBIAN_ARCH
set -eu
host=$1
dpkg --add-architecture "$host"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "iptables:$host" "nftables:$host" "conntrack:$host" "ipset:$host" "iproute2:$host" >/dev/null
# Which architecture each tool is now, for the build log.
dpkg-query -W -f '${Package}:${Architecture} ${Version}\n' iptables nftables conntrack ipset iproute2
