package diagram

import (
	"fmt"
	"math"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
)

// PKI draws the certificate tree of specs (pki.Specs of the cluster): every
// root — a CA, or a key pair no CA signs — with what it signs below it, and
// on the right the component that uses each entry. It is driven by the
// table alone, so a new CA or certificate appears without touching this code.
func PKI(c *config.Cluster, specs []pki.Spec) []byte {
	const (
		margin = 20.0
		indent = 36.0 // per tree level
		rowGap = 8.0
		toUser = 56.0 // room for the line from an entry to its user
	)
	type row struct {
		spec  pki.Spec
		depth int
		lines []string
	}
	children := map[string][]pki.Spec{}
	known := map[string]bool{}
	for _, s := range specs {
		known[s.Name] = true
	}
	var roots []pki.Spec
	for _, s := range specs {
		// An entry whose signer is not in the table is drawn as a root, so
		// nothing silently disappears from the picture.
		if s.CA == "" || !known[s.CA] {
			roots = append(roots, s)
			continue
		}
		children[s.CA] = append(children[s.CA], s)
	}
	var rows []row
	var walk func(s pki.Spec, depth int)
	walk = func(s pki.Spec, depth int) {
		rows = append(rows, row{spec: s, depth: depth, lines: entryLines(s)})
		for _, ch := range children[s.Name] {
			walk(ch, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}

	boxW, maxDepth, userW := 0.0, 0, 0.0
	for _, r := range rows {
		w, _ := boxSize(r.lines)
		boxW = math.Max(boxW, w)
		maxDepth = max(maxDepth, r.depth)
		uw, _ := boxSize([]string{Users(r.spec)})
		userW = math.Max(userW, uw)
	}
	userX := margin + float64(maxDepth)*indent + boxW + toUser
	width := userX + userW + margin

	cas, certs, keys := 0, 0, 0
	for _, s := range specs {
		switch {
		case s.IsCA():
			cas++
		case s.Usage == pki.UsageKeyPair:
			keys++
		default:
			certs++
		}
	}
	title := fmt.Sprintf("PKI of cluster %q: %d CA(s), %d certificate(s), %d key pair(s); %s keys", c.Name, cas, certs, keys, strings.ToUpper(c.PKI.KeyAlgorithm))
	width = math.Max(width, textWidth(title)+2*margin)

	var body canvas
	y := margin
	body.text(margin, y+14, "", "title", title)
	y += 30
	body.text(margin, y, "", "small", "entry (what it is, who it names)")
	body.text(userX, y, "", "small", "used by")
	y += 10

	placed := map[string]rect{}
	for _, r := range rows {
		h := boxHeight(len(r.lines))
		box := rect{margin + float64(r.depth)*indent, y, boxW, h}
		placed[r.spec.Name] = box
		as := []attr{data("name", r.spec.Name)}
		if r.spec.CA != "" {
			as = append(as, data("ca", r.spec.CA))
		}
		if r.spec.Node.Name != "" {
			as = append(as, data("node", r.spec.Node.Name))
		}
		body.box(box, entryClass(r.spec), r.lines, as...)
		// The signer's trunk runs down its left side into this entry.
		if parent, ok := placed[r.spec.CA]; ok && r.spec.CA != "" {
			x := parent.X + 14
			body.polyline([]point{{x, parent.bottom()}, {x, box.centerY()}, {box.X, box.centerY()}}, "arrow", false,
				data("from", r.spec.CA), data("to", r.spec.Name))
		}
		user := rect{userX, y + (h-boxHeight(1))/2, userW, boxHeight(1)}
		uas := []attr{data("for", r.spec.Name)}
		if r.spec.Node.Name != "" {
			uas = append(uas, data("node", r.spec.Node.Name))
		}
		body.polyline([]point{{box.right(), box.centerY()}, {user.X, box.centerY()}}, "link", false)
		body.box(user, "user", []string{Users(r.spec)}, uas...)
		y += h + rowGap
	}
	y += 12
	body.text(margin, y, "", "small", fmt.Sprintf("Leaves are valid %.0f days, CAs %.0f days. Arrows run from the signer to what it signs.", c.PKI.CertValidity.Hours()/24, c.PKI.CAValidity.Hours()/24))
	return document(width, y+margin, title, &body)
}

func entryClass(s pki.Spec) string {
	switch {
	case s.IsCA():
		return "ca"
	case s.Usage == pki.UsageKeyPair:
		return "keypair"
	default:
		return "cert"
	}
}

// entryLines is what an entry's box says: its name, then its subject and use.
func entryLines(s pki.Spec) []string {
	switch {
	case s.IsCA():
		return []string{s.Name, "CA, CN=" + s.CommonName + ", self-signed"}
	case s.Usage == pki.UsageKeyPair:
		return []string{s.Name, "key pair, no certificate"}
	}
	subject := "CN=" + s.CommonName
	if len(s.Organization) > 0 {
		subject += " O=" + strings.Join(s.Organization, ",")
	}
	return []string{s.Name, subject, string(s.Usage)}
}

// Users says in a few words which component uses an entry. The long form is
// the table's UsedBy; entries this code does not know fall back to its
// first clause, so a new one is still labelled.
func Users(s pki.Spec) string {
	node := s.Node.Name
	if s.IsCA() && len(s.TrustedBy) > 0 {
		return "trusted by " + strings.Join(s.TrustedBy, ", ")
	}
	switch s.Name {
	case pki.EtcdHealthcheckClient:
		return "etcdctl and hardway's etcd checks"
	case pki.Admin:
		return "you: kubectl (admin.kubeconfig)"
	case pki.SuperAdmin:
		return "break glass: hardway, state dir only"
	case pki.ControllerManager:
		return "kube-controller-manager"
	case pki.Scheduler:
		return "kube-scheduler"
	case pki.KubeProxy:
		return "kube-proxy on every worker"
	case pki.APIServer:
		return "kube-apiserver (serving :6443)"
	case pki.APIServerKubeletClient:
		return "kube-apiserver → kubelets"
	case pki.APIServerEtcdClient:
		return "kube-apiserver → etcd"
	case pki.FrontProxyClient:
		return "kube-apiserver → extension apiservers"
	case pki.ServiceAccount:
		return "kube-apiserver signs pod tokens"
	}
	if node != "" {
		switch s.Name {
		case pki.KubeletName(node):
			return "kubelet on " + node
		case pki.EtcdServerName(node):
			return "etcd on " + node + " (clients)"
		case pki.EtcdPeerName(node):
			return "etcd on " + node + " (peers)"
		}
	}
	u := s.UsedBy
	if i := strings.IndexAny(u, ":;("); i > 0 {
		u = u[:i]
	}
	if r := []rune(strings.TrimSpace(u)); len(r) > 44 {
		u = string(r[:43]) + "…"
	}
	return strings.TrimSpace(u)
}

// TrustLegend is one line per CA of specs: which programs check
// certificates against it. It comes from the PKI table (Spec.TrustedBy),
// so a picture never says a component trusts a CA it is not given.
func TrustLegend(specs []pki.Spec) []string {
	var out []string
	for _, s := range specs {
		if s.IsCA() && len(s.TrustedBy) > 0 {
			out = append(out, fmt.Sprintf("%s (CN=%s) is trusted by %s only.", s.Name, s.CommonName, strings.Join(s.TrustedBy, ", ")))
		}
	}
	return out
}
