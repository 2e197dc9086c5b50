package lab

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/kube"
	"hardway.dev/hardway/internal/ops"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/state"
	"hardway.dev/hardway/internal/steps"
	"hardway.dev/hardway/internal/verify"
	"hardway.dev/hardway/internal/wait"
)

// Three labs about configuration a cluster must agree on: the DNS address
// every kubelet hands its pods, the encryption key every API server must
// hold, and etcd's quorum, lost and restored from a snapshot.

const (
	kubeletConfigFile    = render.KubeletDir + "/kubelet-config.yaml"
	encryptionConfigFile = render.KubernetesDir + "/encryption-config.yaml"
	// encryptionSecret is the Secret verify's encryption check keeps.
	encryptionSecret = "hardway-encryption-check"
)

// wrongDNS is the address a kubelet-config copied from a kubeadm cluster
// names (kubeadm's default Service range is 10.96.0.0/12); a documentation
// address when that is this cluster's own range.
func wrongDNS(c *config.Cluster) string {
	for _, a := range []string{"10.96.0.10", "192.0.2.53"} {
		p, err := netip.ParsePrefix(c.Network.ServiceCIDR)
		ip, err2 := netip.ParseAddr(a)
		if a != c.Network.ClusterDNS && (err != nil || err2 != nil || !p.Contains(ip)) {
			return a
		}
	}
	return "192.0.2.53"
}

func kubeletDNS() Lab {
	return Lab{
		Name:  "kubelet-dns",
		Title: "a kubelet gives its pods the wrong DNS server",
		Target: func(c *config.Cluster) (Target, error) {
			ws := c.Workers()
			if len(ws) == 0 {
				return Target{}, fmt.Errorf("lab kubelet-dns needs a worker node; cluster %s has none", c.Name)
			}
			return Target{Cluster: c.Name, Node: ws[0], Values: map[string]string{"want": c.Network.ClusterDNS, "wrong": wrongDNS(c)}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Pods started on %s since a short while ago cannot resolve any name: nslookup times out.\n"+
				"Pods on the other nodes resolve fine, CoreDNS runs and is Ready, and Services answer at their IPs.", t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{fmt.Sprintf("kubectl -n %s exec $(kubectl -n %s get pods -o name --field-selector spec.nodeName=%s | head -1) -- cat /etc/resolv.conf", verify.Namespace, verify.Namespace, t.Node.Name)}
		},
		Reveal: func(t Target) []string {
			return []string{
				"kubectl get --raw /api/v1/nodes/" + t.Node.Name + "/proxy/configz",
				t.shell(t.Node, "grep -A1 clusterDNS "+kubeletConfigFile),
				"kubectl -n kube-system get service kube-dns",
			}
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The kubelet on %s reads clusterDNS: %s from %s (a kubelet-config copied from\n"+
				"another cluster); the kube-dns Service is at %s. The kubelet writes that address into the resolv.conf of\n"+
				"every pod it starts, and nothing answers there: queries leave the node and are dropped. Pods keep the\n"+
				"resolv.conf they started with, so fixing the file and restarting the kubelet is not enough: the pods\n"+
				"started meanwhile must be made anew (their Deployment replaces them).",
				t.Node.Name, t.Values["wrong"], kubeletConfigFile, t.Values["want"])
		},
		Fix: func(t Target) []string {
			return []string{
				t.shell(t.Node, fmt.Sprintf("sed -i 's/^- %s$/- %s/' %s", t.Values["wrong"], t.Values["want"], kubeletConfigFile)),
				t.shell(t.Node, "systemctl restart kubelet"),
				fmt.Sprintf("kubectl -n %s delete pods --field-selector spec.nodeName=%s", verify.Namespace, t.Node.Name),
				fmt.Sprintf("kubectl -n %s rollout status deployment hello --timeout=120s", verify.Namespace),
			}
		},
		Why: func(t Target) string {
			return fmt.Sprintf("The kubelet reads its config file only at start: restarted, it hands new pods nameserver %s (and\n"+
				"the search list of the cluster domain). The replaced pods got a resolv.conf naming the kube-dns Service,\n"+
				"which kube-proxy sends to a CoreDNS pod. /configz shows what a running kubelet really uses.", t.Values["want"])
		},
		Step:     "workers",
		Probes:   []string{"dns"},
		Diagnose: diagnoseKubeletDNS,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			nd, err := e.Cluster.Node(ctx, t.Node.Name)
			if err != nil {
				return err
			}
			data, err := nd.ReadFile(ctx, kubeletConfigFile)
			if err != nil {
				return err
			}
			from, to := "\n- "+t.Values["want"]+"\n", "\n- "+t.Values["wrong"]+"\n"
			if !strings.Contains(string(data), "clusterDNS:"+from) {
				return fmt.Errorf("%s on %s names no clusterDNS %s; restore it with: hardway up --only workers --name %s", kubeletConfigFile, t.Node.Name, t.Values["want"], t.Cluster)
			}
			if err := nd.WriteFile(ctx, kubeletConfigFile, []byte(strings.Replace(string(data), "clusterDNS:"+from, "clusterDNS:"+to, 1)), 0o644); err != nil {
				return err
			}
			if err := restartKubelets(ctx, e, t.Node); err != nil {
				return err
			}
			return recreatePods(ctx, e, t.Node)
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			if _, err := e.Rerun(ctx, "workers"); err != nil {
				return err
			}
			return recreatePods(ctx, e, t.Node)
		},
	}
}

// recreatePods replaces verify's pods on node n (they keep the resolv.conf
// they started with) and waits until the Deployment has every pod Ready
// again.
func recreatePods(ctx context.Context, e steps.Env, n config.Node) error {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return err
	}
	pods := admin.Clientset.CoreV1().Pods(verify.Namespace)
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=hello", FieldSelector: "spec.nodeName=" + n.Name})
	if err != nil {
		return err
	}
	for _, p := range l.Items {
		if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			return err
		}
	}
	deps := admin.Clientset.AppsV1().Deployments(verify.Namespace)
	return wait.Until(ctx, "verify's pods on "+n.Name+" replaced and Ready", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := deps.Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		all, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range all.Items {
			for _, old := range l.Items {
				if p.UID == old.UID {
					return false, fmt.Errorf("pod %s still there", p.Name)
				}
			}
			if p.DeletionTimestamp == nil && kube.PodReady(p) {
				ready++
			}
		}
		if d.Spec.Replicas == nil || ready < int(*d.Spec.Replicas) {
			return false, fmt.Errorf("%d pods Ready", ready)
		}
		return true, nil
	})
}

// diagnoseKubeletDNS names what still gives pods on the node the wrong
// DNS server: the kubelet's running configuration (its /configz, through
// the API server) and each of verify's pods there that started with it.
func diagnoseKubeletDNS(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return nil, err
	}
	var out []string
	raw, err := admin.Clientset.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", t.Node.Name, "proxy", "configz").DoRaw(ctx)
	if err != nil {
		out = append(out, fmt.Sprintf("the kubelet on %s does not answer /configz: %v", t.Node.Name, err))
	} else {
		var cz struct {
			Kubelet struct {
				ClusterDNS []string `json:"clusterDNS"`
			} `json:"kubeletconfig"`
		}
		if err := json.Unmarshal(raw, &cz); err != nil {
			return nil, fmt.Errorf("the kubelet's /configz on %s: %w", t.Node.Name, err)
		}
		if got := strings.Join(cz.Kubelet.ClusterDNS, ","); got != t.Values["want"] {
			out = append(out, fmt.Sprintf("the kubelet on %s runs with clusterDNS %s; the kube-dns Service is %s (fix %s, then restart the kubelet)", t.Node.Name, got, t.Values["want"], kubeletConfigFile))
		}
	}
	pods, err := admin.Clientset.CoreV1().Pods(verify.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=hello", FieldSelector: "spec.nodeName=" + t.Node.Name})
	if err != nil {
		return nil, err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		conf, err := admin.Exec(ctx, &p, "cat", "/etc/resolv.conf")
		if err != nil {
			out = append(out, fmt.Sprintf("pod %s on %s: reading its /etc/resolv.conf: %v", p.Name, t.Node.Name, err))
			continue
		}
		if !strings.Contains(conf, "nameserver "+t.Values["want"]+"\n") {
			out = append(out, fmt.Sprintf("pod %s on %s started with %q: delete it so its Deployment makes one with the new resolv.conf", p.Name, t.Node.Name, firstLine(conf, "nameserver")))
		}
	}
	return out, nil
}

// firstLine is the first line of s starting with prefix.
func firstLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return "no " + prefix + " line"
}

func encryptionKey() Lab {
	return Lab{
		Name:  "encryption-key",
		Title: "one API server lacks the encryption key",
		Target: func(c *config.Cluster) (Target, error) {
			cps := c.ControlPlanes()
			if len(cps) < 2 {
				return Target{}, fmt.Errorf("lab encryption-key needs 2 control-plane nodes (one API server differs from the others); cluster %s has %d", c.Name, len(cps))
			}
			var names []string
			for _, n := range cps {
				names = append(names, n.Name)
			}
			return Target{Cluster: c.Name, Node: cps[len(cps)-1], Peer: cps[0], Values: map[string]string{"nodes": strings.Join(names, " ")}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("Everything seems to work: kubectl answers, Secrets can be read, pods run. Yet hardway's health\n"+
				"check fails: the API server on %s was restarted with a changed configuration and never became ready.", t.Node.Name)
		},
		Evidence: func(t Target) []string {
			return []string{t.hw("status"), t.hw("logs", t.Node.Name, "kube-apiserver")}
		},
		Reveal: func(t Target) []string {
			var out []string
			for _, n := range strings.Fields(t.Values["nodes"]) {
				out = append(out, "hardway shell "+n+" --name "+t.Cluster+" -- sh -c \"sha256sum "+encryptionConfigFile+"; grep 'name:' "+encryptionConfigFile+"\"")
			}
			return out
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The API server on %s has another encryption config: its aescbc provider lists only a new key,\n"+
				"not key1, which every Secret in etcd is encrypted with (their k8s:enc:aescbc:v1:key1: prefix names it).\n"+
				"It cannot decrypt them (\"no matching key was found for the provided AES transformer\" in its log), its\n"+
				"cache of Secrets never fills, so /readyz keeps failing (informer-sync) and the load balancer sends it\n"+
				"nothing: the other API servers hide it. Had it served, every Secret read through it would fail, and a\n"+
				"Secret it wrote no other API server could read. Every API server must hold the same keys; the\n"+
				"control-plane step writes the state directory's config to each.", t.Node.Name)
		},
		Fix: func(t Target) []string { return []string{t.hw("up", "--only", "control-plane")} },
		Why: func(t Target) string {
			return fmt.Sprintf("up compares %s on every control-plane node with the state directory's\n"+
				"encryption-config.yaml: on %s it differs, so it writes it back and restarts that API server (alone, its\n"+
				"peers serving meanwhile). With key1 in its list it reads every Secret again. A real key rotation adds\n"+
				"the new key to every API server first, then makes it the first, then rewrites the Secrets, then drops the\n"+
				"old one, which this does:\n  %s", encryptionConfigFile, t.Node.Name, t.hw("encryption", "rotate"))
		},
		Step:     "encryption",
		Probes:   []string{"encryption"},
		Diagnose: diagnoseEncryption,
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return err
			}
			conf := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources:\n  - secrets\n" +
				"  providers:\n  - aescbc:\n      keys:\n      - name: key-lab\n        secret: " + base64.StdEncoding.EncodeToString(key) + "\n  - identity: {}\n"
			nd, err := e.Cluster.Node(ctx, t.Node.Name)
			if err != nil {
				return err
			}
			if err := nd.WriteFile(ctx, encryptionConfigFile, []byte(conf), 0o600); err != nil {
				return err
			}
			if err := run(ctx, e, t.Node, "systemctl", "restart", render.UnitAPIServer); err != nil {
				return err
			}
			// It starts and answers, but never gets ready: wait for that.
			return waitAPIServer(ctx, e, t.Node, "informer-sync")
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			_, err := e.Rerun(ctx, "control-plane")
			return err
		},
	}
}

// apiServer is a client of the admin aimed at node n's own API server.
func apiServer(e steps.Env, n config.Node) (*kube.Client, error) {
	admin, err := e.Cluster.Admin()
	if err != nil {
		return nil, err
	}
	return admin.ForServer(fmt.Sprintf("https://%s:%d", n.IP, e.Cluster.Config.Network.APIServerPort))
}

// waitAPIServer waits until node n's API server answers /readyz, ready or
// failing the check named failing.
func waitAPIServer(ctx context.Context, e steps.Env, n config.Node, failing string) error {
	cl, err := apiServer(e, n)
	if err != nil {
		return err
	}
	return wait.Until(ctx, "kube-apiserver on "+n.Name+" answering", time.Second, 2*time.Minute, func(ctx context.Context) (bool, error) {
		err := cl.Readyz(ctx)
		return err == nil || strings.Contains(err.Error(), failing), err
	})
}

// diagnoseEncryption asks every API server directly for every Secret (a
// list decrypts each) and compares each node's encryption config with the
// state directory's.
func diagnoseEncryption(ctx context.Context, e steps.Env, t Target) ([]string, error) {
	c := e.Cluster
	in, err := c.Inputs()
	if err != nil {
		return nil, err
	}
	want := sha256.Sum256(in.EncryptionConfig)
	var out []string
	for _, n := range c.Config.ControlPlanes() {
		nd, err := c.Node(ctx, n.Name)
		if err != nil {
			return nil, err
		}
		data, err := nd.ReadFile(ctx, encryptionConfigFile)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s: %s cannot be read: %v", n.Name, encryptionConfigFile, err))
		case sha256.Sum256(data) != want:
			got := sha256.Sum256(data)
			out = append(out, fmt.Sprintf("%s: %s (sha256 %s…) is not the state directory's encryption-config.yaml (%s…)", n.Name, encryptionConfigFile, hex.EncodeToString(got[:4]), hex.EncodeToString(want[:4])))
		}
		cl, err := apiServer(e, n)
		if err != nil {
			return nil, err
		}
		// An API server that cannot decrypt waits for a cache that never
		// fills: a few seconds tell.
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = cl.Clientset.CoreV1().Secrets("").List(lctx, metav1.ListOptions{})
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			out = append(out, fmt.Sprintf("kube-apiserver on %s lists no Secrets within 5 s: its cache of Secrets does not fill", n.Name))
		case err != nil:
			out = append(out, fmt.Sprintf("kube-apiserver on %s cannot list the Secrets: %v", n.Name, err))
		}
	}
	return out, nil
}

// quorumSnapshot is where lab etcd-quorum keeps the snapshot it takes
// before breaking anything: in the cluster's state directory.
func quorumSnapshot(cluster string) string {
	return filepath.Join(state.For(cluster).Path(), "lab-etcd-snapshot.db")
}

func etcdQuorum() Lab {
	return Lab{
		Name:  "etcd-quorum",
		Title: "etcd lost its quorum",
		Target: func(c *config.Cluster) (Target, error) {
			cps := c.ControlPlanes()
			if len(cps) < 3 {
				return Target{}, fmt.Errorf("lab etcd-quorum needs 3 control-plane nodes (two members lost, one left); cluster %s has %d", c.Name, len(cps))
			}
			return Target{Cluster: c.Name, Node: cps[1], Peer: cps[0], Values: map[string]string{
				"lost": cps[1].Name + " " + cps[2].Name, "snapshot": quorumSnapshot(c.Name)}}, nil
		},
		Symptom: func(t Target) string {
			return fmt.Sprintf("kubectl hangs and then times out, for every command. The machines run, and so do the API\n"+
				"servers. Before breaking anything, this lab saved an etcd snapshot for you:\n  %s", t.Values["snapshot"])
		},
		Evidence: func(t Target) []string {
			return []string{"kubectl get nodes --request-timeout=10s", t.hw("status")}
		},
		Reveal: func(t Target) []string {
			out := []string{t.shell(t.Peer, strings.Join(steps.EtcdctlArgs(), " ")+" endpoint health --cluster")}
			for _, n := range strings.Fields(t.Values["lost"]) {
				out = append(out, "hardway shell "+n+" --name "+t.Cluster+" -- ls -la "+render.EtcdDataDir)
			}
			return out
		},
		Cause: func(t Target) string {
			return fmt.Sprintf("The etcd members on %s are stopped and their data directories (%s) are gone, as when\n"+
				"two disks die. The member on %s is healthy but alone: a write needs a majority (2 of 3), and so does a\n"+
				"linearizable read, so etcd answers nothing and every API server waits on it. Starting the lost members\n"+
				"does not help: with empty directories they would be new members of no cluster. The way back is the\n"+
				"snapshot: restore every member from it, as a new cluster (writes after the snapshot are lost).",
				strings.Join(strings.Fields(t.Values["lost"]), " and "), render.EtcdDataDir, t.Peer.Name)
		},
		Fix: func(t Target) []string {
			return []string{t.hw("etcd", "snapshot", "restore", t.Values["snapshot"])}
		},
		Why: func(t Target) string {
			return "etcd snapshot restore stops every API server and member, builds each member's data directory from\n" +
				"the same snapshot with etcdutl (a new cluster token, so no old member can rejoin by mistake, and revisions\n" +
				"bumped so that every watcher lists again), starts the members together so they elect a leader, then the\n" +
				"control plane. A snapshot is the only backup of a cluster: take them on a schedule (etcd.snapshots in\n" +
				"the config) and keep them off the machines."
		},
		Step:   "etcd",
		Probes: []string{"encryption"},
		Break: func(ctx context.Context, e steps.Env, t Target) error {
			if _, err := ops.SnapshotSave(ctx, e, t.Values["snapshot"]); err != nil {
				return err
			}
			for _, name := range strings.Fields(t.Values["lost"]) {
				n, ok := e.Cluster.Config.Node(name)
				if !ok {
					return fmt.Errorf("no node %s in cluster %s", name, t.Cluster)
				}
				if err := run(ctx, e, n, "sh", "-c", "systemctl stop "+render.UnitEtcd+" && rm -rf "+render.EtcdDataDir); err != nil {
					return err
				}
			}
			return nil
		},
		Restore: func(ctx context.Context, e steps.Env, t Target) error {
			// Fixed already (the learner restored): nothing to do. Else the
			// restore the fix names.
			hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := e.Cluster.WaitHealthy(hctx, time.Time{}, 20*time.Second, func(steps.Stage) {})
			cancel()
			if err != nil {
				if _, statErr := os.Stat(t.Values["snapshot"]); errors.Is(statErr, os.ErrNotExist) {
					return fmt.Errorf("etcd is not healthy and the lab's snapshot %s is gone; restore one of yours: hardway etcd snapshot restore FILE --name %s", t.Values["snapshot"], t.Cluster)
				}
				if err := ops.SnapshotRestore(ctx, e, t.Values["snapshot"]); err != nil {
					return err
				}
			}
			if err := os.Remove(t.Values["snapshot"]); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		},
	}
}
