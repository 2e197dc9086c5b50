package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/provider"
	"hardway.dev/hardway/internal/render"
)

// A node taken out of the config is removed by the nodes step, before any
// later step renders the smaller cluster: the etcd step waits for exactly
// as many members as the config has control planes, so a leaving member must
// be gone from etcd's member list by then. The order for each node undoes
// what joining did, with the cluster serving throughout:
//
//  1. drain: cordon, evict its pods (their controllers start them elsewhere);
//     a control plane's API server then stops (gracefully: the load
//     balancer takes it out while it still answers);
//  2. a control plane: remove its etcd member through a remaining one, only
//     when the members that stay still have a quorum of running ones;
//  3. remove the machine (its kubelet stops, so nothing registers it again);
//  4. delete its Node object.
//
// What still names the node elsewhere is rendered from the config, which no
// longer has it: the API server's --etcd-servers, etcd's --initial-cluster,
// the load balancer's backends, the API server certificate's SANs and the
// other nodes' pod routes change in the steps that own them, rolled one
// node at a time like any other change.

// leaving lists the machines of the cluster that are no longer in its config
// (the load balancer is not a node: it stays while the config has an API
// address). Workers come first, then control planes, each in name order.
func leaving(cfg *config.Cluster, have []provider.NodeStatus) []provider.NodeStatus {
	var out []provider.NodeStatus
	for _, s := range have {
		if s.Name == provider.LBName || s.Role == provider.RoleLB {
			continue
		}
		if _, ok := cfg.Node(s.Name); !ok {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ci, cj := hasControlPlane(out[i].Role), hasControlPlane(out[j].Role)
		if ci != cj {
			return !ci
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func hasControlPlane(role string) bool {
	return slices.Contains(strings.Split(role, ","), config.RoleControlPlane)
}

// etcdRemovalSafe says whether member leave can be removed: the members
// that stay must still have a quorum of running ones (etcd's own rule for
// a membership change), and some must stay.
func etcdRemovalSafe(members []etcdMember, running map[string]bool, leave string) error {
	var stay, down []string
	for _, m := range members {
		if m.Name == leave {
			continue
		}
		stay = append(stay, m.Name)
		if !running[m.Name] {
			down = append(down, m.Name)
		}
	}
	if len(stay) == 0 {
		return fmt.Errorf("removing control-plane node %s would remove etcd's last member and with it the cluster's data: keep it in the config (add the new control plane first, run up, then remove this one)", leave)
	}
	quorum := len(stay)/2 + 1
	if up := len(stay) - len(down); up < quorum {
		return fmt.Errorf("removing control-plane node %s would leave etcd %d running of %d members, below its quorum of %d: bring %s back first (hardway start, or up with it in the config), then run up again", leave, up, len(stay), quorum, strings.Join(down, ", "))
	}
	return nil
}

// removeLeaving removes every machine that left the config, or with DryRun
// says what it would do (and refuses what would break the etcd quorum,
// which it can tell without changing anything).
func (c *Cluster) removeLeaving(ctx context.Context, have []provider.NodeStatus) ([]converge.Change, error) {
	out := leaving(c.Config, have)
	if len(out) == 0 {
		return nil, nil
	}
	remover, ok := c.Provider.(provider.NodeRemover)
	if !ok {
		return nil, fmt.Errorf("machine %s is not in the config of cluster %s, and provider %s cannot remove one machine: put it back in the config, or remove it by hand and then run up", out[0].Name, c.Config.Name, c.Config.Provider)
	}
	var changes []converge.Change
	for _, m := range out {
		ch, err := c.removeOne(ctx, remover, m)
		changes = append(changes, ch...)
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

func (c *Cluster) removeOne(ctx context.Context, remover provider.NodeRemover, m provider.NodeStatus) ([]converge.Change, error) {
	var changes []converge.Change
	add := func(action converge.Action, target, reason string) {
		ch := converge.Change{Node: m.Name, Action: action, Target: target, Reason: reason}
		changes = append(changes, ch)
		if !c.DryRun {
			c.Log.Logf(1, "  %s", ch)
		}
	}
	cp := hasControlPlane(m.Role)
	var member *etcdMember
	var via provider.Node
	if cp {
		var err error
		member, via, err = c.etcdMemberOf(ctx, m)
		if err != nil {
			return nil, err
		}
	}
	// The admin kubeconfig as saved: nothing is generated before a removal
	// that may yet be refused.
	kc, err := os.ReadFile(c.State.AdminKubeconfig())
	if err != nil {
		return nil, fmt.Errorf("cannot remove node %s: no admin kubeconfig (%v); run up with it still in the config first", m.Name, err)
	}
	admin, err := kube.NewWith(kc, kube.Options{Proxy: c.Proxy})
	if err != nil {
		return nil, err
	}

	// 1. Drain. A machine that is not running cannot stop its pods; its
	// Node's deletion below lets the pod garbage collector remove them.
	if m.State == "running" {
		if !c.DryRun {
			if err := admin.Drain(ctx, m.Name, c.Bound(2*time.Minute)); err != nil {
				return changes, fmt.Errorf("%v; node %s stays until it drains: fix that and run up again, or put it back in the config", err, m.Name)
			}
		}
		add(converge.Drained, "node "+m.Name, "cordoned, its pods evicted: not in the config")
	}
	// A control plane's API server stops first, the way a restart does: it
	// says "not ready" for --shutdown-delay-duration while it still serves,
	// so the load balancer's health check takes it out before it is gone.
	// Without this, requests the balancer sent to the removed machine hung
	// until their timeout (5 s, seen in TestGrowControlPlane).
	if cp && m.State == "running" {
		if !c.DryRun {
			nd, err := c.Node(ctx, m.Name)
			if err != nil {
				return changes, err
			}
			stop, cancel := context.WithTimeout(ctx, c.Bound(time.Minute))
			_, err = nd.Run(stop, nil, "systemctl", "stop", render.UnitAPIServer)
			cancel()
			if err != nil {
				return changes, fmt.Errorf("stopping the API server on %s before it leaves: %s; run up again", m.Name, etcdctlCause(err))
			}
		}
		add(converge.Stopped, "unit "+render.UnitAPIServer, "leaves the load balancer before its machine goes")
	}
	// 2. Its etcd member.
	if member != nil {
		if !c.DryRun {
			if _, err := via.Run(ctx, nil, append(EtcdctlArgs(), "member", "remove", member.ID)...); err != nil {
				return changes, fmt.Errorf("removing etcd member %s (%s) on %s: %s; run up again", member.Name, member.ID, via.Name(), etcdctlCause(err))
			}
		}
		add(converge.Removed, "etcd member "+member.Name+" "+member.ID, "its control-plane node left the config")
	}
	// 3. The machine.
	if !c.DryRun {
		if err := remover.RemoveNode(ctx, c.Config.Name, m.Name); err != nil {
			return changes, err
		}
		c.forgetNodes()
	}
	add(converge.Removed, "machine "+m.Name, "not in the config")
	// 4. Its Node object, once no kubelet can register it again.
	if !c.DryRun {
		if err := admin.DeleteNode(ctx, m.Name); err != nil {
			return changes, fmt.Errorf("%v; delete it with: kubectl delete node %s", err, m.Name)
		}
	}
	add(converge.Removed, "Node "+m.Name, "its machine is gone")
	return changes, nil
}

// etcdMemberOf finds the member of a leaving control-plane machine (by name
// or peer URL) with etcdctl on a control plane that stays, and checks that
// removing it keeps the quorum; via is that control plane. A machine that
// was never a member (it left before it joined) has none. etcdctl runs as
// the health-check client whose files are on the node, so nothing on the
// host is generated for a config that may yet be refused.
func (c *Cluster) etcdMemberOf(ctx context.Context, m provider.NodeStatus) (*etcdMember, provider.Node, error) {
	var members []etcdMember
	var via provider.Node
	var tried []string
	for _, n := range c.Config.ControlPlanes() {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			tried = append(tried, n.Name+": not running")
			continue
		}
		probe, cancel := context.WithTimeout(ctx, 5*time.Second)
		// Serializable: the member's own view, which it has without a
		// quorum too, so a cluster that lost it is told by the health
		// check below (naming the members that are down).
		out, err := nd.Run(probe, nil, append(EtcdctlArgs(), "--command-timeout=3s", "member", "list", "--consistency=s", "-w", "json")...)
		cancel()
		if err == nil {
			members, err = parseMemberList(out)
		}
		if err == nil {
			via = nd
			break
		}
		tried = append(tried, n.Name+": "+etcdctlCause(err))
	}
	if via == nil {
		return nil, nil, fmt.Errorf("cannot remove control-plane node %s: no control plane that stays answers etcd's member list (%s); a control plane must stay: add one (or start it) first, run up, then remove %s", m.Name, strings.Join(tried, "; "), m.Name)
	}
	peer := fmt.Sprintf("https://%s:2380", m.IP)
	var member *etcdMember
	var endpoints []string
	for i, mb := range members {
		if mb.Name == m.Name || (m.IP != "" && slices.Contains(mb.PeerURLs, peer)) {
			member = &members[i]
		}
		endpoints = append(endpoints, mb.ClientURLs...)
	}
	if member == nil {
		return nil, via, nil
	}
	// endpoint status (serializable: a member answers it without a
	// quorum) lists the members that run; it exits non-zero when one does
	// not answer, and still prints the others.
	probe, cancel := context.WithTimeout(ctx, 10*time.Second)
	out, _ := via.Run(probe, nil, append(EtcdctlArgs(endpoints...), "--command-timeout=3s", "endpoint", "status", "-w", "json")...)
	cancel()
	if err := etcdRemovalSafe(members, runningMembers(members, out), member.Name); err != nil {
		return nil, via, err
	}
	return member, via, nil
}

// memberListJSON is etcdctl's member list -w json (IDs as numbers).
type memberListJSON struct {
	Members []struct {
		ID         uint64   `json:"ID"`
		Name       string   `json:"name"`
		PeerURLs   []string `json:"peerURLs"`
		ClientURLs []string `json:"clientURLs"`
	} `json:"members"`
}

func parseMemberList(out []byte) ([]etcdMember, error) {
	var ml memberListJSON
	if err := json.Unmarshal(out, &ml); err != nil {
		return nil, fmt.Errorf("reading etcdctl member list: %v", err)
	}
	var ms []etcdMember
	for _, m := range ml.Members {
		// etcdctl member remove takes the ID in hex, as member list -w
		// table prints it.
		ms = append(ms, etcdMember{ID: strconv.FormatUint(m.ID, 16), Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs})
	}
	return ms, nil
}

// runningMembers reads etcdctl endpoint status -w json: the members whose
// client URL answered.
func runningMembers(members []etcdMember, out []byte) map[string]bool {
	var eps []struct {
		Endpoint string `json:"Endpoint"`
	}
	_ = json.Unmarshal(out, &eps)
	running := map[string]bool{}
	for _, e := range eps {
		for _, m := range members {
			if slices.Contains(m.ClientURLs, e.Endpoint) {
				running[m.Name] = true
			}
		}
	}
	return running
}

// etcdctlCause is the last line etcdctl wrote to stderr ("Error: …"),
// without the JSON log lines of its client before it, for a one-line
// message.
func etcdctlCause(err error) string {
	msg := err.Error()
	if re, ok := hexec.IsRunError(err); ok && len(strings.TrimSpace(string(re.Stderr))) > 0 {
		lines := strings.Split(strings.TrimSpace(string(re.Stderr)), "\n")
		msg = lines[len(lines)-1]
	} else if re != nil && re.Err != nil {
		msg = re.Err.Error()
	}
	msg = strings.TrimSpace(msg)
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	return msg
}
