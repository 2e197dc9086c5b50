package steps

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

func etcdStep() Step {
	return Step{
		Name:    "etcd",
		Title:   "etcd: the cluster database, one member per control-plane node, mutual TLS",
		Explain: explainEtcd,
		Run:     runEtcd,
	}
}

func runEtcd(ctx context.Context, c *Cluster) ([]converge.Change, error) {
	// All members of a new cluster start together (the unit is NoBlock: a
	// member waits for its peers before it serves). A change to a running
	// cluster rolls one member at a time, each back in the quorum before the
	// next restarts. The unit's StateDirectory= creates /var/lib/etcd 0700.
	targets, err := c.nodeTargets(c.Config.ControlPlanes(), func(ctx context.Context, _ config.Node, _ time.Time) error {
		return c.waitEtcd(ctx, 2*time.Minute)
	}, etcdUnits()...)
	if err != nil {
		return nil, err
	}
	joined, err := c.replaceLostMembers(ctx)
	if err != nil {
		return joined, err
	}
	changes, err := c.rollout(ctx, targets)
	changes = append(joined, changes...)
	if err != nil {
		return changes, err
	}
	if !c.DryRun {
		if err := c.waitEtcd(ctx, 2*time.Minute); err != nil {
			return changes, err
		}
	}
	// Scheduled snapshots start once the members serve.
	if sn, ok := render.SnapshotNode(c.Config); ok {
		timer, err := c.nodeTargets([]config.Node{sn}, nil, snapshotUnits(c.Config)...)
		if err != nil {
			return changes, err
		}
		more, err := c.rollout(ctx, timer)
		changes = append(changes, more...)
		if err != nil {
			return changes, err
		}
	}
	return changes, nil
}

// etcdHTTP is an HTTPS client that authenticates to etcd like the API
// server: during an etcd CA rotation that identity is the one every member
// accepts at every phase (the health-check client is new in the first one).
func (c *Cluster) etcdHTTP() (*http.Client, error) {
	set, err := c.ensurePKI()
	if err != nil {
		return nil, err
	}
	ca, okCA := set.Get(pki.EtcdCA)
	cl, ok := set.Get(pki.APIServerEtcdClient)
	if !ok || !okCA {
		return nil, fmt.Errorf("the PKI lacks the etcd CA or the %s certificate; run: hardway up --only pki", pki.APIServerEtcdClient)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Trust())
	cert, err := tls.X509KeyPair(cl.CertPEM, cl.KeyPEM)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		Proxy:           c.Proxy,
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}, nil
}

// waitEtcd polls every member's /health and the member list through etcd's
// client API (its JSON gateway) until all members are healthy and known.
func (c *Cluster) waitEtcd(ctx context.Context, timeout time.Duration) error {
	hc, err := c.etcdHTTP()
	if err != nil {
		return err
	}
	cps := c.Config.ControlPlanes()
	return c.until(ctx, fmt.Sprintf("%d healthy etcd members", len(cps)), 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		for _, n := range cps {
			var h struct {
				Health string `json:"health"`
				Reason string `json:"reason"`
			}
			if err := etcdCall(ctx, hc, "GET", fmt.Sprintf("https://%s:2379/health", n.IP), &h); err != nil {
				return false, fmt.Errorf("%s: %v", n.Name, err)
			}
			if h.Health != "true" {
				return false, fmt.Errorf("%s: unhealthy %s", n.Name, h.Reason)
			}
		}
		names, err := etcdMembers(ctx, hc, cps[0].IP)
		if err != nil {
			return false, err
		}
		if len(names) != len(cps) {
			return false, fmt.Errorf("member list has %d members (%s), want %d", len(names), strings.Join(names, ","), len(cps))
		}
		return true, nil
	})
}

func etcdMembers(ctx context.Context, hc *http.Client, ip string) ([]string, error) {
	ms, err := etcdMemberList(ctx, hc, ip)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	sort.Strings(names)
	return names, nil
}

// etcdMember is one entry of etcd's member list (the JSON gateway writes
// 64-bit IDs as strings).
type etcdMember struct {
	ID       string   `json:"ID"`
	Name     string   `json:"name"`
	PeerURLs []string `json:"peerURLs"`
	// ClientURLs are filled from etcdctl's answer (shrink.go).
	ClientURLs []string `json:"clientURLs,omitempty"`
}

func etcdMemberList(ctx context.Context, hc *http.Client, ip string) ([]etcdMember, error) {
	var ml struct {
		Members []etcdMember `json:"members"`
	}
	if err := etcdCall(ctx, hc, "POST", fmt.Sprintf("https://%s:2379/v3/cluster/member/list", ip), &ml); err != nil {
		return nil, err
	}
	return ml.Members, nil
}

// replaceLostMembers finds control-plane machines whose etcd has no data
// while the rest of the cluster runs (the machine was lost and made anew)
// and swaps their member entry: remove the old member, add the new one,
// and tell it to join the running cluster (--initial-cluster-state
// existing) rather than found a second one. A new cluster, or a member that
// merely stopped, keeps its data and needs none of this.
func (c *Cluster) replaceLostMembers(ctx context.Context) ([]converge.Change, error) {
	cps := c.Config.ControlPlanes()
	if len(cps) < 2 {
		return nil, nil
	}
	if c.DryRun {
		// A control plane the nodes step would make (added to the config,
		// or its machine lost) joins as a new member.
		var changes []converge.Change
		for _, n := range cps {
			if _, err := c.Node(ctx, n.Name); err != nil {
				changes = append(changes, converge.Change{Node: n.Name, Action: converge.Added, Target: "etcd member " + n.Name, Reason: "new machine: joins the running cluster (initial-cluster-state existing)"})
			}
		}
		return changes, nil
	}
	hc, err := c.etcdHTTP()
	if err != nil {
		return nil, err
	}
	var members []etcdMember
	var via string
	var down []config.Node
	for _, n := range cps {
		probe, cancel := context.WithTimeout(ctx, 2*time.Second)
		ms, err := etcdMemberList(probe, hc, n.IP)
		cancel()
		if err != nil {
			down = append(down, n)
			continue
		}
		if members == nil {
			members, via = ms, n.IP
		}
	}
	if members == nil || len(down) == 0 {
		return nil, nil // a fresh cluster, or every member answers
	}
	var changes []converge.Change
	for _, n := range down {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			return changes, err
		}
		if _, err := nd.Run(ctx, nil, "test", "-d", render.EtcdDataDir+"/member"); err == nil {
			continue // stopped, not lost: the rollout starts it with its data
		}
		peer := fmt.Sprintf("https://%s:2380", n.IP)
		for _, m := range members {
			if m.Name == n.Name || slices.Contains(m.PeerURLs, peer) {
				if err := etcdCallBody(ctx, hc, fmt.Sprintf("https://%s:2379/v3/cluster/member/remove", via), fmt.Sprintf(`{"ID":%q}`, m.ID), nil); err != nil {
					return changes, fmt.Errorf("removing the lost member %s (%s) through %s: %w", m.Name, m.ID, via, err)
				}
				ch := converge.Change{Node: n.Name, Action: converge.Removed, Target: "etcd member " + m.Name + " " + m.ID, Reason: "its machine lost its data"}
				c.Log.Logf(1, "  %s", ch)
				changes = append(changes, ch)
			}
		}
		body, _ := json.Marshal(map[string][]string{"peerURLs": {peer}})
		if err := etcdCallBody(ctx, hc, fmt.Sprintf("https://%s:2379/v3/cluster/member/add", via), string(body), nil); err != nil {
			return changes, fmt.Errorf("adding %s as a new etcd member through %s: %w", n.Name, via, err)
		}
		if err := nd.WriteFile(ctx, render.EtcdJoinEnv, []byte("# Written by hardway: this member replaced a lost one and joins the running cluster.\nHARDWAY_ETCD_INITIAL_CLUSTER_STATE=existing\n"), 0o644); err != nil {
			return changes, err
		}
		changes = append(changes, converge.Change{Node: n.Name, Action: converge.Added, Target: "etcd member " + n.Name, Reason: "joins the running cluster (initial-cluster-state existing)"})
		c.Log.Logf(1, "  %s", changes[len(changes)-1])
	}
	return changes, nil
}

func etcdCall(ctx context.Context, hc *http.Client, method, url string, into any) error {
	body := ""
	if method == "POST" {
		body = "{}"
	}
	return etcdCallWith(ctx, hc, method, url, body, into)
}

func etcdCallBody(ctx context.Context, hc *http.Client, url, body string, into any) error {
	return etcdCallWith(ctx, hc, "POST", url, body, into)
}

func etcdCallWith(ctx context.Context, hc *http.Client, method, url, reqBody string, into any) error {
	var body io.Reader
	if reqBody != "" {
		body = strings.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, strings.TrimSpace(string(data)))
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(data, into)
}

// EtcdctlArgs is etcdctl on a control-plane node, as the health-check
// client: the identity etcd gives to everything but the API server.
func EtcdctlArgs(endpoints ...string) []string {
	if len(endpoints) == 0 {
		endpoints = []string{"https://127.0.0.1:2379"}
	}
	return []string{"etcdctl", "--endpoints=" + strings.Join(endpoints, ","), "--cacert=/etc/etcd/ca.pem",
		"--cert=/etc/etcd/healthcheck-client.pem", "--key=/etc/etcd/healthcheck-client-key.pem"}
}

// EtcdGet reads a raw key with etcdctl on a control-plane node.
func (c *Cluster) EtcdGet(ctx context.Context, key string) ([]byte, error) {
	n := c.Config.ControlPlanes()[0]
	nd, err := c.Node(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	return nd.Run(ctx, nil, append(EtcdctlArgs(), "get", key, "--print-value-only")...)
}

func explainEtcd(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(etcdProse)
	cps := c.Config.ControlPlanes()
	section(&b, "Members")
	rows := [][]string{{"MEMBER", "PEER URL", "CLIENT URL"}}
	for _, n := range cps {
		rows = append(rows, []string{n.Name, fmt.Sprintf("https://%s:2380", n.IP), fmt.Sprintf("https://%s:2379", n.IP)})
	}
	table(&b, rows)
	fmt.Fprintf(&b, "\n  Quorum: %d of %d members; the cluster survives %d failure(s).\n", len(cps)/2+1, len(cps), (len(cps)-1)/2)
	if err := c.explainUnit(&b, cps[0], render.UnitEtcd); err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "\nSee it yourself (etcdctl authenticates as the health-check client):\n  hardway shell %s --name %s -- %s member list -w table\n", cps[0].Name, c.Config.Name, strings.Join(EtcdctlArgs(), " "))
	section(&b, "Backups, and a cluster that lost its data")
	fmt.Fprintf(&b, `  Everything the cluster knows is in etcd, so a snapshot of etcd is a backup of the
  cluster (Secrets stay encrypted inside it):
    hardway etcd snapshot save backup.db --name %[1]s
  Restoring follows etcd's disaster-recovery procedure: every API server stops (no
  writes), every member stops, each member's data directory is rebuilt from the same
  snapshot under a new cluster token (so it can never mix with the old cluster), the
  members start together, then the control plane, then the smoke tests. Revisions jump
  ahead and are marked compacted, so kubelets and controllers re-list instead of
  trusting what they had cached:
    hardway etcd snapshot restore backup.db --name %[1]s
  A lost machine is different: its member entry is removed and added again, and the
  new machine joins the running cluster (--initial-cluster-state existing) while the
  others keep the quorum. hardway up does that when it finds a control-plane machine
  without etcd data.

`, c.Config.Name)
	fmt.Fprintf(&b, "And that the cluster CA does not open it (a kubelet's certificate is refused):\n  hardway shell %s --name %s -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/ca.pem --cert=/var/lib/kubelet/kubelet.pem --key=/var/lib/kubelet/kubelet-key.pem get /registry --prefix --keys-only\n", cps[0].Name, c.Config.Name)
	if sn, ok := render.SnapshotNode(c.Config); ok {
		s := c.Config.Snapshots()
		section(&b, "Scheduled snapshots (etcd.snapshots)")
		fmt.Fprintf(&b, "  Every %s a systemd timer on %s saves a snapshot into %s, checks it like\n"+
			"  etcd snapshot save does, and keeps the newest %d. List them, and copy the newest here to\n"+
			"  restore it:\n    hardway etcd snapshot list --name %s\n    hardway etcd snapshot fetch newest.db --name %s\n",
			s.Every, sn.Name, render.EtcdSnapshotDir, s.Keep, c.Config.Name, c.Config.Name)
		if err := c.explainUnit(&b, sn, render.UnitEtcdSnapshotTimer); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// EtcdGetPrefix reads every key under prefix, raw, with etcdctl on a
// control-plane node (one command, JSON so binary values survive).
func (c *Cluster) EtcdGetPrefix(ctx context.Context, prefix string) (map[string][]byte, error) {
	n := c.Config.ControlPlanes()[0]
	nd, err := c.Node(ctx, n.Name)
	if err != nil {
		return nil, err
	}
	out, err := nd.Run(ctx, nil, append(EtcdctlArgs(), "get", prefix, "--prefix", "-w", "json")...)
	if err != nil {
		return nil, err
	}
	var resp struct {
		KVs []struct {
			Key   []byte `json:"key"`
			Value []byte `json:"value"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("reading etcdctl's answer: %w", err)
	}
	kv := map[string][]byte{}
	for _, x := range resp.KVs {
		kv[string(x.Key)] = x.Value
	}
	return kv, nil
}
