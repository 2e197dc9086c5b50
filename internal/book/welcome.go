package book

import (
	"fmt"
	"strings"
)

func (w *writer) welcome() Chapter {
	c, v := w.c, w.v
	var d doc
	d.p(`
		Kelsey Hightower's *Kubernetes the hard way* showed that a cluster is not
		magic: it is a handful of programs, a stack of certificates and a few
		hundred lines of configuration, and you can set every one of them up by
		hand. *k8s the harder way* took that further with scripts you could run
		on your own machine and a book that peels Kubernetes like an onion.
		This book continues both, with one difference: it is written **about
		your cluster**.`)
	d.p(`
		«hardway» built (or will build) cluster «%s» in %s, each of which you can
		run, re-run and read on its own. The same Go code that installs a file
		also wrote the page that shows it, so every address, flag, path and
		certificate name in this book is the one on your machines. Change the
		config, run «hardway tutorial» again, and the text and the pictures
		change with it.`, c.Name, plural(len(w.in.Steps), "step", "steps"))

	d.h2("The cluster at a glance")
	rows := [][]string{}
	for _, n := range c.Nodes {
		pods := n.PodCIDR
		if pods == "" {
			pods = "none (no worker role)"
		}
		rows = append(rows, []string{"«" + n.Name + "»", "«" + n.IP + "»", strings.Join(n.Roles, ", "), "«" + pods + "»"})
	}
	d.table([]string{"Node", "IP", "Roles", "Pod CIDR"}, rows)
	lb := "none: one control-plane node, clients talk to it directly"
	if c.Network.LoadBalancerIP != "" {
		lb = fmt.Sprintf("haproxy at «%s», in its own container «%s-lb»", c.Network.LoadBalancerIP, c.Name)
	}
	d.table([]string{"What", "Value"}, [][]string{
		{"Kubernetes", "«" + c.KubernetesVersion + "»"},
		{"API server URL (admin kubeconfig)", "«" + c.APIServerURL() + "»"},
		{"API load balancer", lb},
		{"Node network", w.nodeNetworkCell()},
		{"Pod routes between nodes", podRoutesCell(c)},
		{"Pod network", "«" + c.Network.PodCIDR + "», one /24 per worker"},
		{"Service network", fmt.Sprintf("«%s»; the «kubernetes» Service is «%s», DNS is «%s»", c.Network.ServiceCIDR, c.KubernetesServiceIP(), c.Network.ClusterDNS)},
		{"Cluster domain", "«" + c.Network.ClusterDomain + "»"},
		{"kube-proxy mode", "«" + c.Network.KubeProxyMode + "»"},
		{"Keys", fmt.Sprintf("%s; certificates valid %s, CAs %s", strings.ToUpper(c.PKI.KeyAlgorithm), lifetime(c.PKI.CertValidity.Duration), lifetime(c.PKI.CAValidity.Duration))},
	})

	d.h2("How to read this book")
	d.list(
		"**"+PartStart+"**: the "+chapterLink("architecture", "architecture")+" of this cluster and the "+chapterLink("control-loops", "control loops")+" that drive everything in Kubernetes.",
		"**"+PartPod+"**: what happens when you ask for a pod, from the outside in. "+chapterLink("pod-0-kubectl", "Level 0")+" treats the cluster as a black box; each level opens one more box until, at level 3, runc starts a process.",
		"**"+PartSteps+"**: one chapter per step of «hardway up», in the order they run, each with the real files it writes and the command that checks it.",
		"**"+PartNetwork+"** follows a packet from pod to pod, through a Service and a DNS lookup; **"+PartRun+"** covers certificates, encryption and troubleshooting.",
	)
	d.p(`
		Every picture is drawn by «hardway» from the cluster's config: a
		one-node cluster gets a one-node picture. Every chapter ends with a
		**Try it** table of commands that work on this cluster; run them, the
		output is the real lesson.`)

	d.h2("What you need")
	needs := w.needs()
	d.list(needs[0],
		"«kubectl» of a version close to "+c.KubernetesVersion+". The control-plane nodes have one too: «"+v.shell(v.CP.Name, "kubectl version --client")+"».",
		needs[1],
	)

	d.h2("Talking to the cluster")
	d.p(`
		«hardway» keeps the cluster's certificates and kubeconfigs in its state
		directory. «hardway kubeconfig» prints the path of the admin kubeconfig
		on its last line, so one line points «kubectl» at this cluster for the
		rest of your shell session:`)
	d.pre("sh", "export KUBECONFIG=$("+v.hw("kubeconfig")+" | tail -1)\nkubectl get nodes -o wide")
	d.p(`
		Prefer your own «~/.kube/config»? «%s» adds a context «hardway-%s» to
		it instead.`, v.hw("kubeconfig", "--merge"), v.Name)

	return Chapter{ID: "index", Part: PartStart, Title: "Welcome: Kubernetes the harder way, on your cluster", Short: "Welcome", Body: d.String()}
}

// contents is the table of contents in Markdown, for readers of the .md
// files (the HTML pages also have it beside every page).
func contents(chapters []Chapter) string {
	var d doc
	d.h2("Contents")
	for i, ch := range chapters {
		if i == 0 || chapters[i-1].Part != ch.Part {
			if i > 0 {
				d.b.WriteString("\n")
			}
			d.b.WriteString("**" + ch.Part + "**\n\n")
		}
		d.b.WriteString("- " + chapterLink(ch.ID, ch.Title) + "\n")
	}
	d.b.WriteString("\n")
	return d.String()
}
