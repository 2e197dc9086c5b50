#!/usr/bin/env bash
# The peer hack/bench-peers.sh times hardway against: kubeadm, built from the
# same Kubernetes source (hardway artifacts build --peers), on nodes made the
# way kind makes them (a node image with every binary and every image baked
# in, one container per node, kubeadm init, kubeadm join) but from hardway's
# own node image and container flags, because kind itself cannot run on this
# host (see hack/peers/README.md).
#
#   hack/peers/kubeadm.sh image          build hardway-peer/kubeadm-node:VERSION (once)
#   hack/peers/kubeadm.sh up NAME N      N control planes (1 or 3; 3 adds a haproxy container)
#   hack/peers/kubeadm.sh down NAME      remove its containers (and the network when empty)
#   hack/peers/kubeadm.sh kubeconfig NAME
#
# Nodes live on the Docker network hw-peers (--internal, 10.214.0.0/24): NAME
# "kp1" uses .11, "kp3" .20 (load balancer) and .21-.23; other names get
# PEER_BASE (default 30). Pod network: the CNI bridge plugin with one /24 per
# node and VXLAN routes between nodes (an --internal Docker network drops
# packets with pod source addresses), the same design as hardway's own.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${HARDWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hardway}
art=$cache/artifacts
kube=${KUBE_VERSION:-v1.37.2}
arch=amd64
net=hw-peers
subnet=10.214.0.0/24
prefix=10.214.0
image=hardway-peer/kubeadm-node:$kube
state=${PEERS_STATE:-$repo/bench-peers-out}
token=abcdef.0123456789abcdef

die() { echo "kubeadm.sh: $*" >&2; exit 1; }
entry() { # component version file
  local f=$art/$1/$2/source-$arch/$3
  [ -e "$f" ] || die "$f is missing; build it: bin/hardway artifacts build --peers"
  echo "$f"
}
# quiet WHAT CMD...: run CMD, show its output only when it fails (docker's
# legacy-builder notice and containerd's cgroup v1 notice otherwise).
quiet() {
  local what=$1 log
  shift
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; die "$what failed"; fi
  rm -f "$log"
}
# replace_image REF CMD...: run CMD, which makes REF anew, then remove the
# image REF named before, so that rebuilding leaves no untagged copies.
replace_image() {
  local ref=$1 old
  shift
  old=$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)
  "$@"
  if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$ref")" ]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
}
only_dir() { # component: the one version directory a cache entry has for this version set
  ls -d "$art/$1"/*/source-$arch 2>/dev/null | sort -V | tail -1
}

# The flags hardway gives its node containers (host.md: --privileged fails
# here; this is the set that works), plus what kind adds (/var as a volume,
# /lib/modules read-only, a private cgroup namespace).
node_flags=(--cap-add ALL --cap-drop SYS_RESOURCE
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg --cgroupns=private
  --tmpfs /run --tmpfs /run/lock --tmpfs /tmp -v /var -v /lib/modules:/lib/modules:ro
  --stop-signal SIGRTMIN+3
  # /proc/sys is read-only in the node: the one setting the DNS forwarding
  # below needs (a packet from a pod may be sent to 127.0.0.11) is set here.
  --sysctl net.ipv4.conf.all.route_localnet=1)

cmd_image() {
  local base
  # The current recipe's node image (built if missing, "up to date" if not).
  [ -x "$repo/bin/hardway" ] || die "no $repo/bin/hardway; build it: make build"
  base=$("$repo/bin/hardway" node-image build 2>&1 | sed -nE 's#.*(hardway/node:[0-9a-f]{12}).*#\1#p' | tail -1)
  [ -n "$base" ] || die "could not find or build the hardway node image; run: bin/hardway node-image build"
  local kubeadm kubedir
  kubeadm=$(entry kubeadm "$kube" kubeadm)
  kubedir=$art/kubernetes/$kube/source-$arch
  [ -x "$kubedir/kubelet" ] || die "$kubedir/kubelet is missing; build it: bin/hardway artifacts build"
  local ctx
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' RETURN
  mkdir -p "$ctx/bin" "$ctx/cni" "$ctx/etc/containerd" "$ctx/etc/systemd/system/kubelet.service.d" "$ctx/etc/sysctl.d" "$ctx/images"
  cp "$(only_dir containerd)"/{containerd,containerd-shim-runc-v2,ctr} "$(only_dir runc)/runc" "$(only_dir crictl)/crictl" \
    "$kubedir"/{kubelet,kubectl} "$kubeadm" "$ctx/bin/"
  cp "$(only_dir cni-plugins)"/* "$ctx/cni/"
  local pause coredns_tar testapp_tar etcd_dir
  pause=$(only_dir image-pause)/pause.tar
  coredns_tar=$(ls "$art"/image-coredns/*/source-$arch/coredns.tar | sort -V | tail -1)
  testapp_tar=$(only_dir image-testapp)/testapp.tar
  etcd_dir=$(only_dir etcd)
  local pause_ref coredns_ref
  pause_ref=$(tar -xOf "$pause" manifest.json | sed -E 's/.*"RepoTags":\["([^"]+)".*/\1/')
  coredns_ref=$(tar -xOf "$coredns_tar" manifest.json | sed -E 's/.*"RepoTags":\["([^"]+)".*/\1/')

  cat >"$ctx/etc/containerd/config.toml" <<EOF
# containerd for a kubeadm peer node: hardway's settings (cgroupfs, no
# CAP_SYS_RESOURCE), the images baked in and pinned, nothing pulled.
version = 3
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$pause_ref'
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '/usr/local/bin/runc'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/opt/cni/bin']
    conf_dir = '/etc/cni/net.d'
EOF
  cat >"$ctx/etc/systemd/system/containerd.service" <<'EOF'
[Unit]
Description=containerd
After=network.target local-fs.target
[Service]
ExecStartPre=-/usr/lib/systemd/systemd-sysctl /etc/sysctl.d/99-kubernetes.conf
ExecStart=/usr/local/bin/containerd --config /etc/containerd/config.toml
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
EOF
  # kubeadm's own unit and drop-in (as its packages install them), with
  # kind's 1 s restart and a condition so the kubelet waits for kubeadm
  # instead of crash-looping before its config exists.
  cat >"$ctx/etc/systemd/system/kubelet.service" <<'EOF'
[Unit]
Description=kubelet
After=containerd.service
Wants=containerd.service
StartLimitIntervalSec=0
[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
RestartSec=1s
[Install]
WantedBy=multi-user.target
EOF
  cat >"$ctx/etc/systemd/system/kubelet.service.d/10-kubeadm.conf" <<'EOF'
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecCondition=/bin/sh -c 'test -f /var/lib/kubelet/config.yaml'
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
EOF
  printf 'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\n' >"$ctx/etc/sysctl.d/99-kubernetes.conf"
  printf 'runtime-endpoint: unix:///run/containerd/containerd.sock\n' >"$ctx/etc/crictl.yaml"

  # The images kubeadm runs, named the way kubeadm asks for them with
  # imageRepository hardway.local: built here from hardway's binaries.
  local refs
  refs=$("$kubeadm" config images list --kubernetes-version "$kube" --image-repository hardway.local)
  echo "kubeadm asks for:"; echo "$refs" | sed 's/^/  /'
  local ref name b
  for ref in $refs; do
    name=${ref#hardway.local/}; name=${name%%:*}
    b=$ctx/build-$name; mkdir -p "$b"
    case $name in
      kube-apiserver|kube-controller-manager|kube-scheduler)
        cp "$kubedir/$name" "$b/"
        printf 'FROM scratch\nENV PATH=/usr/local/bin\nCOPY %s /usr/local/bin/\n' "$name" >"$b/Dockerfile" ;;
      kube-proxy)
        # kube-proxy calls iptables, iptables-restore and conntrack: on
        # hardway's Debian node image, which has them.
        cp "$kubedir/$name" "$b/"
        printf 'FROM %s\nCOPY %s /usr/local/bin/\nENTRYPOINT []\nCMD []\n' "$base" "$name" >"$b/Dockerfile" ;;
      etcd)
        cp "$etcd_dir"/{etcd,etcdctl} "$b/"
        printf 'FROM scratch\nENV PATH=/usr/local/bin\nCOPY etcd etcdctl /usr/local/bin/\n' >"$b/Dockerfile" ;;
      coredns|pause) continue ;; # hardway's own archives, retagged below by kubeadm config
      *) die "kubeadm asks for $ref, which this script does not know how to build" ;;
    esac
    replace_image "$ref" quiet "docker build of $ref" docker build -q -t "$ref" "$b"
    docker save "$ref" -o "$ctx/images/$name.tar"
  done
  cp "$pause" "$coredns_tar" "$testapp_tar" "$ctx/images/"
  echo "$coredns_ref" >"$ctx/coredns-ref"

  cat >"$ctx/Dockerfile" <<EOF
FROM $base
COPY bin/ /usr/local/bin/
COPY cni/ /opt/cni/bin/
COPY etc/ /etc/
RUN systemctl enable containerd.service kubelet.service && mkdir -p /etc/kubernetes/manifests /etc/cni/net.d /kind
EOF
  quiet "docker build of the node image" docker build -q -t "$image-stage" -f "$ctx/Dockerfile" "$ctx"
  # Bake the images into containerd's store in the image (what kind's node
  # image builder does): every node then starts with them, nothing imported
  # per node.
  local bake=hw-peer-bake-$$
  docker rm -f "$bake" >/dev/null 2>&1 || true
  docker run -d --name "$bake" --security-opt seccomp=unconfined --entrypoint sleep "$image-stage" infinity >/dev/null
  docker exec "$bake" sh -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
  for _ in $(seq 50); do docker exec "$bake" ctr version >/dev/null 2>&1 && break; sleep 0.2; done
  local t
  for t in "$ctx"/images/*.tar; do
    quiet "importing $t" docker exec -i "$bake" ctr -n k8s.io images import --label io.cri-containerd.pinned=pinned --no-unpack --all-platforms - <"$t"
  done
  echo "baked into the node image:"; docker exec "$bake" ctr -n k8s.io images ls -q 2>/dev/null | grep -v '^sha256:' | sed 's/^/  /'
  docker exec "$bake" sh -c 'kill $(pidof containerd); sleep 1; rm -rf /tmp/* /run/containerd'
  replace_image "$image" docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint"]' --change 'CMD ["/sbin/init"]' \
    --change "LABEL hardway.peer.coredns=$coredns_ref" "$bake" "$image" >/dev/null
  docker rm -f "$bake" >/dev/null
  docker rmi "$image-stage" >/dev/null
  echo "built $image"
}

ips() { # NAME N -> "lb ip0 ip1 ..." (lb empty for one node)
  local base
  case $1 in kp1) base=11 ;; kp3) base=21 ;; *) base=${PEER_BASE:-30} ;; esac
  local out="" i
  if [ "$2" -gt 1 ]; then out="$prefix.$((base - 1))"; else out="-"; fi
  for i in $(seq 0 $(($2 - 1))); do out="$out $prefix.$((base + i))"; done
  echo "$out"
}

waitfor() { # SECONDS WHAT CMD...: poll every 0.2 s; fail naming WHAT
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.2
  done
}

cmd_up() {
  local name=$1 n=$2
  [ "$n" = 1 ] || [ "$n" = 3 ] || die "N must be 1 or 3, got $n"
  docker image inspect "$image" >/dev/null 2>&1 || die "no $image; build it: hack/peers/kubeadm.sh image"
  docker network inspect "$net" >/dev/null 2>&1 ||
    docker network create --internal --subnet "$subnet" "$net" >/dev/null
  read -r -a addr <<<"$(ips "$name" "$n")"
  local lb=${addr[0]} nodes=("${addr[@]:1}")
  local endpoint=${nodes[0]}
  [ "$lb" = - ] || endpoint=$lb
  local coredns_tag
  coredns_tag=$(docker image inspect -f '{{index .Config.Labels "hardway.peer.coredns"}}' "$image")
  coredns_tag=${coredns_tag##*:}
  mkdir -p "$state"

  # 1. the node containers, all at once (kind does the same).
  local i pids=()
  for i in "${!nodes[@]}"; do
    docker run -d --name "$name-cp$i" --hostname "$name-cp$i" --network "$net" --ip "${nodes[$i]}" \
      --label hardway-peer="$name" "${node_flags[@]}" "$image" >/dev/null &
    pids+=($!)
  done
  if [ "$lb" != - ]; then
    local cfg=$state/$name-haproxy.cfg
    {
      printf 'global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n'
      printf 'frontend api\n  bind *:6443\n  default_backend cp\nbackend cp\n  option tcp-check\n  default-server inter 1s fall 2 rise 1\n'
      for i in "${!nodes[@]}"; do printf '  server cp%s %s:6443 check\n' "$i" "${nodes[$i]}"; done
    } >"$cfg"
    docker run -d --name "$name-lb" --network "$net" --ip "$lb" --label hardway-peer="$name" \
      -v "$cfg:/etc/haproxy/peer.cfg:ro" --entrypoint haproxy "$image" -f /etc/haproxy/peer.cfg >/dev/null &
    pids+=($!)
  fi
  for i in "${pids[@]}"; do wait "$i" || die "docker run failed (see above)"; done

  # 2. the pod network on each node, once containerd runs: one bridge /24
  # each, VXLAN routes to the others, masquerade for traffic leaving the pod
  # network (API server, node IPs).
  pids=()
  for i in "${!nodes[@]}"; do
    (
      waitfor 60 "containerd on $name-cp$i" docker exec "$name-cp$i" systemctl is-active -q containerd
      local s="set -e
cat >/etc/cni/net.d/10-bridge.conflist <<'EOF'
{\"cniVersion\": \"1.0.0\", \"name\": \"peer\", \"plugins\": [
 {\"type\": \"bridge\", \"bridge\": \"cni0\", \"isGateway\": true, \"ipMasq\": false, \"mtu\": 1450, \"hairpinMode\": true,
  \"ipam\": {\"type\": \"host-local\", \"ranges\": [[{\"subnet\": \"10.244.$i.0/24\"}]], \"routes\": [{\"dst\": \"0.0.0.0/0\"}]}},
 {\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}]}
EOF
printf '{\"cniVersion\": \"1.1.0\", \"name\": \"lo\", \"type\": \"loopback\"}\n' >/etc/cni/net.d/99-loopback.conf
iptables -t nat -A POSTROUTING -s 10.244.$i.0/24 ! -d 10.244.0.0/16 -j MASQUERADE
# Pods resolve outside names through Docker's embedded DNS server, which
# listens on 127.0.0.11 inside the node only: the node's address on port 53
# is forwarded there (what kind's entrypoint does), and the kubelet hands
# pods that address instead of 127.0.0.11 (CoreDNS forwarding to 127.0.0.11
# would ask itself: its loop plugin stops it).
iptables-save -t nat | sed -nE 's/^-A DOCKER_OUTPUT -d 127.0.0.11\/32 -p (tcp|udp) -m (tcp|udp) --dport 53 -j DNAT --to-destination (.*)$/\\1 \\3/p' |
  while read -r proto to; do iptables -t nat -A PREROUTING -d ${nodes[$i]} -p \$proto --dport 53 -j DNAT --to-destination \$to; done
printf 'nameserver ${nodes[$i]}\noptions ndots:0\n' >/kind/resolv.conf
"
      if [ "$n" -gt 1 ]; then
        s="$s
ip link add peer.vxlan type vxlan id 4243 local ${nodes[$i]} dstport 4789 nolearning
ip link set peer.vxlan address 0e:00:00:00:00:0$i mtu 1450 up
ip addr add 10.244.$i.0/32 dev peer.vxlan
"
        local j
        for j in "${!nodes[@]}"; do
          [ "$j" = "$i" ] && continue
          s="$s
bridge fdb append 0e:00:00:00:00:0$j dev peer.vxlan dst ${nodes[$j]}
ip neigh replace 10.244.$j.0 lladdr 0e:00:00:00:00:0$j dev peer.vxlan nud permanent
ip route replace 10.244.$j.0/24 via 10.244.$j.0 dev peer.vxlan onlink
"
        done
      fi
      docker exec "$name-cp$i" sh -c "$s"
    ) &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || die "setting up the pod network failed (see above)"; done

  # 3. kubeadm init on the first node, join the others one by one (etcd
  # grows one member at a time), as kind does.
  local key
  key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  for i in "${!nodes[@]}"; do
    local conf
    if [ "$i" = 0 ]; then
      conf="apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $kube
imageRepository: hardway.local
controlPlaneEndpoint: $endpoint:6443
dns: {imageTag: $coredns_tag}
networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/16, dnsDomain: cluster.local}
apiServer: {certSANs: [$endpoint, ${nodes[0]}]}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens: [{token: $token}]
certificateKey: $key
localAPIEndpoint: {advertiseAddress: ${nodes[0]}, bindPort: 6443}
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs: [{name: node-ip, value: ${nodes[0]}}]
  taints: []
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: /kind/resolv.conf
imageGCHighThresholdPercent: 100
evictionHard: {nodefs.available: '0%', nodefs.inodesFree: '0%', imagefs.available: '0%'}
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
conntrack: {maxPerCore: 0}
"
      docker exec -i "$name-cp$i" sh -c 'cat >/kind/kubeadm.yaml' <<<"$conf"
      docker exec "$name-cp$i" kubeadm init --config /kind/kubeadm.yaml --skip-phases=preflight --upload-certs --skip-token-print \
        >"$state/$name-init.log" 2>&1 || { tail -20 "$state/$name-init.log" >&2; die "kubeadm init on $name-cp$i failed; log: $state/$name-init.log"; }
    else
      conf="apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
controlPlane:
  localAPIEndpoint: {advertiseAddress: ${nodes[$i]}, bindPort: 6443}
  certificateKey: $key
discovery:
  bootstrapToken: {apiServerEndpoint: '$endpoint:6443', token: $token, unsafeSkipCAVerification: true}
nodeRegistration:
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs: [{name: node-ip, value: ${nodes[$i]}}]
  taints: []
"
      docker exec -i "$name-cp$i" sh -c 'cat >/kind/kubeadm.yaml' <<<"$conf"
      docker exec "$name-cp$i" kubeadm join --config /kind/kubeadm.yaml --skip-phases=preflight \
        >"$state/$name-join$i.log" 2>&1 || { tail -20 "$state/$name-join$i.log" >&2; die "kubeadm join on $name-cp$i failed; log: $state/$name-join$i.log"; }
    fi
  done
  docker exec "$name-cp0" cat /etc/kubernetes/admin.conf >"$state/$name.kubeconfig"
  echo "cluster $name: $n control plane(s), API https://$endpoint:6443, kubeconfig $state/$name.kubeconfig"
}

cmd_down() {
  local name=$1 ids
  ids=$(docker ps -aq --filter "label=hardway-peer=$name")
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
  rm -f "$state/$name.kubeconfig" "$state/$name-haproxy.cfg"
  if docker network inspect "$net" >/dev/null 2>&1 && [ -z "$(docker ps -aq --filter "network=$net")" ]; then
    docker network rm "$net" >/dev/null
  fi
}

case ${1:-} in
  image) cmd_image ;;
  up) [ $# = 3 ] || die "usage: up NAME N"; cmd_up "$2" "$3" ;;
  down) [ $# = 2 ] || die "usage: down NAME"; cmd_down "$2" ;;
  kubeconfig) echo "$state/$2.kubeconfig" ;;
  *) die "usage: $0 image | up NAME N | down NAME | kubeconfig NAME" ;;
esac
