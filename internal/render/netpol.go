package render

import (
	"bytes"
	"fmt"
	"strings"

	"hardway.dev/hardway/internal/config"
)

// NetpolNamespace is where the NetworkPolicy agent runs.
const NetpolNamespace = "kube-network-policies"

// NetpolQueue is the netfilter queue the agent reads (its --nfqueue-id,
// upstream's default).
const NetpolQueue = 100

// NetpolChain is the iptables chain (table mangle) the steering container
// writes when the kernel has no nftables queue statement.
const NetpolChain = "HARDWAY-NETPOL"

// NetpolTable is the nftables table the agent itself writes (inet family)
// where the kernel has the nftables queue statement (CONFIG_NFT_QUEUE).
const NetpolTable = "kube-network-policies"

// NetpolSteerScript runs in the node's root (busybox chroot /host) as the
// agent pod's second container, with the pod CIDR and the queue number as
// arguments. kube-network-policies steers the first packet of each
// connection into its queue with an nftables rule ("queue num 100"); a
// kernel without CONFIG_NFT_QUEUE refuses that whole table, and the agent
// then judges nothing. The same queue is reachable from iptables' NFQUEUE
// target (xt_NFQUEUE, through nft_compat on iptables-nft), so on such a
// kernel this script writes the equivalent rules in the mangle table's
// POSTROUTING (after DNAT, before SNAT, as upstream's chain): every new
// connection from or to a pod, except the node's own root processes
// (upstream exempts them too: kubelet probes). nft -c asks the kernel to
// check a batch with a queue statement without committing it: where it
// passes, upstream's own rules work and this script adds nothing.
// --queue-bypass (and the agent's --fail-open): a node whose agent is not
// listening passes traffic instead of dropping every pod's connections.
// On TERM (the pod deleted: the add-on removed, or a rollout) it deletes
// its chain and the agent's table (the agent exits on SIGTERM without
// removing it), so nothing stays on the node.
const NetpolSteerScript = `set -u
cidr=$1 queue=$2
chain=` + NetpolChain + ` table=` + NetpolTable + `
log() { echo "hardway-netpol-steer: $*"; }
remove() {
  while iptables -t mangle -D POSTROUTING -j "$chain" 2>/dev/null; do :; done
  iptables -t mangle -F "$chain" 2>/dev/null
  iptables -t mangle -X "$chain" 2>/dev/null
  nft delete table inet "$table" 2>/dev/null
  return 0
}
steer() {
  iptables -t mangle -N "$chain" 2>/dev/null || iptables -t mangle -F "$chain" || return 1
  c="hardway: NetworkPolicy, first packets to kube-network-policies"
  iptables -t mangle -A "$chain" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN -m comment --comment "$c" &&
  iptables -t mangle -A "$chain" -m owner --uid-owner 0 -j RETURN -m comment --comment "$c: not the node's root" &&
  iptables -t mangle -A "$chain" -s "$cidr" -j NFQUEUE --queue-num "$queue" --queue-bypass -m comment --comment "$c: from a pod" &&
  iptables -t mangle -A "$chain" -d "$cidr" -j NFQUEUE --queue-num "$queue" --queue-bypass -m comment --comment "$c: to a pod" || return 1
  iptables -t mangle -C POSTROUTING -j "$chain" 2>/dev/null || iptables -t mangle -I POSTROUTING 1 -j "$chain"
}
trap 'remove; log "removed"; exit 0' TERM INT
if printf 'add table inet hardway-probe\nadd chain inet hardway-probe c\nadd rule inet hardway-probe c queue num %s bypass\n' "$queue" | nft -c -f - 2>/dev/null; then
  mode=native
  log "this kernel has the nftables queue statement: the agent's own table inet $table steers packets; nothing to add"
else
  mode=iptables
  steer || { log "writing iptables chain $chain failed"; remove; exit 1; }
  log "no nftables queue statement in this kernel (CONFIG_NFT_QUEUE): iptables mangle POSTROUTING -> $chain -> NFQUEUE $queue for $cidr"
fi
while :; do
  sleep 30 & wait $!
  if [ "$mode" = iptables ] && ! iptables -t mangle -C POSTROUTING -j "$chain" 2>/dev/null; then
    log "the jump to $chain was gone: writing it again"
    steer || log "writing iptables chain $chain failed"
  fi
done
`

// NetpolManifests renders the netpol add-on for c: namespace, RBAC and
// the agent's DaemonSet. image names what the artifact cache holds.
func NetpolManifests(c *config.Cluster, version, image string) ([]byte, error) {
	r, err := newRenderer()
	if err != nil {
		return nil, err
	}
	v := struct {
		C                         *config.Cluster
		Version, Namespace, Image string
		Queue                     int
		Script                    string
		API                       HostPort
	}{c, version, NetpolNamespace, image, NetpolQueue, indentScript(NetpolSteerScript, "          "), podAPIServer(c)}
	var b bytes.Buffer
	if err := r.t.ExecuteTemplate(&b, "netpol.yaml.tmpl", v); err != nil {
		return nil, fmt.Errorf("rendering netpol.yaml (a bug in hardway): %w", err)
	}
	return b.Bytes(), nil
}

// indentScript prefixes every line of s but the first (a YAML block
// scalar's lines follow its indicator).
func indentScript(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		if lines[i] != "" {
			lines[i] = prefix + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}
