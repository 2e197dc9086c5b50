package book

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"hardway.dev/hardway/internal/render"
)

const filesTitle = "Appendix: every file on every node"

// FileRole says which step of `hardway up` puts a node file in place and
// which program reads it. It goes by path, the way a learner reading a node
// would; a file it cannot place has step "" (a test catches that).
func FileRole(p string) (step, readBy string) {
	base := path.Base(p)
	switch p {
	case render.SystemdDir + "/" + render.UnitEtcdSnapshotTimer:
		return "etcd", "systemd: starts " + render.EtcdSnapshotService + " on etcd.snapshots' schedule"
	case render.SystemdDir + "/" + render.EtcdSnapshotService + ".service":
		return "etcd", "systemd: the scheduled etcd snapshot, one run"
	case render.EtcdSnapshotScript:
		return "etcd", render.EtcdSnapshotService + ".service (etcdctl snapshot save, checked, the newest kept)"
	case render.SystemdDir + "/" + render.UnitCSRApproverTimer:
		return "control-plane", "systemd: starts " + render.CSRApproverService + " every " + render.CSRApproverEvery.String()
	case render.SystemdDir + "/" + render.CSRApproverService + ".service":
		return "control-plane", "systemd: one pass of the kubelet serving-certificate approver"
	case render.CSRApproverScript:
		return "control-plane", render.CSRApproverService + ".service (kubectl approves kubelets' serving CSRs that name only their own node)"
	case render.KubeletCertsScript:
		return "workers", "kubelet.service's ExecStartPre (the newer of hardway's and the kubelet's own rotated pairs wins)"
	case render.KubeletClientPair:
		return "pki", "kubelet (its client pair until it rotates one: " + render.KubeletClientCurrent + " links here)"
	}
	if dir := render.SystemdDir + "/"; strings.HasPrefix(p, dir) && strings.HasSuffix(base, ".service") {
		unit := strings.TrimSuffix(base, ".service")
		return stepOfProgram(unit), "systemd: the " + unit + " unit"
	}
	readBy = reader(p)
	switch {
	case strings.HasSuffix(base, ".pem"):
		return "pki", readBy
	case strings.HasSuffix(base, ".kubeconfig") || base == "kubeconfig":
		return "kubeconfigs", readBy
	case base == "encryption-config.yaml":
		return "encryption", readBy
	}
	return stepOfProgram(strings.SplitN(readBy, " ", 2)[0]), readBy
}

// reader names the program that reads a node file.
func reader(p string) string {
	base := path.Base(p)
	switch {
	case strings.HasPrefix(p, render.EtcdDir+"/"):
		return "etcd"
	case strings.HasPrefix(p, render.PKIDir+"/"):
		switch base {
		case "ca.pem", "service-account-key.pem", "front-proxy-ca.pem":
			return "kube-apiserver and kube-controller-manager"
		case "ca-key.pem", "ca-signing.pem":
			// The CA's certificate and key for signing approved CSRs
			// (--cluster-signing-*): the API server never reads them.
			return "kube-controller-manager (signs CSRs)"
		case "service-account.pem":
			return "kube-apiserver (verifies service-account tokens)"
		}
		return "kube-apiserver"
	case strings.HasPrefix(p, render.KubernetesDir+"/"):
		switch {
		case strings.HasPrefix(base, "kube-controller-manager"):
			return "kube-controller-manager"
		case strings.HasPrefix(base, "kube-scheduler"):
			return "kube-scheduler"
		}
		return "kube-apiserver"
	case strings.HasPrefix(p, render.KubeletDir+"/"):
		return "kubelet"
	case strings.HasPrefix(p, render.KubeProxyDir+"/"):
		return "kube-proxy"
	case strings.HasPrefix(p, "/etc/containerd/"), strings.HasPrefix(p, render.CNIConfDir+"/"):
		return "containerd (and the CNI plugins it runs)"
	case base == "crictl.yaml":
		return "crictl (talks CRI to containerd)"
	case p == render.SysctlFile:
		return "kernel (systemd-sysctl, before containerd starts)"
	}
	return "?"
}

// stepOfProgram is the step that installs a program.
func stepOfProgram(program string) string {
	switch program {
	case "etcd":
		return "etcd"
	case "kube-apiserver", "kube-controller-manager", "kube-scheduler":
		return "control-plane"
	case "containerd", "kubelet", "kube-proxy", "crictl", "kernel", render.UnitPodsStop:
		return "workers"
	case render.PodNetworkUnit:
		return "network"
	}
	return ""
}

// fileRow is one path across the nodes that have it.
type fileRow struct {
	Path, Mode, Step, ReadBy string
	Size                     int
	Nodes                    []string
}

// fileRows gathers the files of every node, one row per path, in path order.
func (w *writer) fileRows() []fileRow {
	byPath := map[string]*fileRow{}
	for _, n := range w.c.Nodes {
		for _, f := range w.in.Files[n.Name] {
			r, ok := byPath[f.Path]
			if !ok {
				step, by := FileRole(f.Path)
				r = &fileRow{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode.Perm()), Step: step, ReadBy: by, Size: len(f.Data)}
				byPath[f.Path] = r
			}
			r.Nodes = append(r.Nodes, n.Name)
		}
	}
	rows := make([]fileRow, 0, len(byPath))
	for _, r := range byPath {
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Path < rows[j].Path })
	return rows
}

// onNodes says which nodes have a file: "every node" when all do.
func (w *writer) onNodes(names []string) string {
	if len(names) == len(w.c.Nodes) && len(names) > 1 {
		return "every node"
	}
	return strings.Join(names, ", ")
}

// stepFiles is the table of the files step puts on the nodes, or "" when it
// puts none.
func (w *writer) stepFiles(step string) string {
	var rows [][]string
	for _, r := range w.fileRows() {
		if r.Step == step {
			rows = append(rows, []string{"«" + r.Path + "»", r.Mode, w.onNodes(r.Nodes), r.ReadBy})
		}
	}
	if len(rows) == 0 {
		return ""
	}
	var d doc
	d.h2("The files this step puts on the nodes")
	d.p(`
		Exactly what «hardway up» writes (and «hardway render --out DIR»
		would write under «DIR/NODE/»). Private keys («*-key.pem»),
		kubeconfigs (which embed one) and the encryption config are secrets:
		their content stays in the state directory and on the nodes, never in
		this book.`)
	d.table([]string{"Path", "Mode", "On", "Read by"}, rows)
	return d.String()
}

func (w *writer) filesAppendix() Chapter {
	v := w.v
	var d doc
	d.p(`
		Every file «hardway up» places on the nodes of «%s», the step that
		writes it and the program that reads it. Files that differ per node
		(certificates that name the node, its unit files) have the same path
		everywhere. Sizes are from the first node that has the file.`, w.c.Name)
	var rows [][]string
	for _, r := range w.fileRows() {
		rows = append(rows, []string{"«" + r.Path + "»", r.Mode, fmt.Sprint(r.Size), w.onNodes(r.Nodes), w.stepLink(r.Step), r.ReadBy})
	}
	d.table([]string{"Path", "Mode", "Bytes", "On", "Step", "Read by"}, rows)
	d.p(`%s A file is only rewritten when its content or mode differs, and a
		service restarts only when one of its files or binaries changed.`, w.binariesFrom())
	d.p(`Write them all out to read at leisure: «hardway render --name %s --out /tmp/%s-files».`, v.Name, v.Name)
	return Chapter{ID: "files", Part: PartRun, Title: filesTitle, Short: "Appendix: all files", Body: d.String()}
}
