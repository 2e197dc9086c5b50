package book

import (
	"fmt"
	"path/filepath"

	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/verify"
)

const operatingTitle = "Operating the cluster: certificates, encryption, troubleshooting"

func (w *writer) operating() Chapter {
	c, v := w.c, w.v
	cp, wk := v.CP.Name, v.Worker.Name
	var d doc
	d.p(`
		A cluster that runs is the start. This chapter is about keeping «%s»
		running: its certificates, its encryption key, and what to do when
		something is red.`, c.Name)

	d.h2("Certificates")
	d.p(`
		Every identity in the cluster is a certificate (%s). The originals and
		their keys live on this host in «%s»; the nodes get copies, each only
		the ones its components use. «%s» lists them with the days they have
		left.`, w.stepLink("pki"), filepath.Join(w.in.StateDir, "pki"), v.hw("certs"))
	d.img(w.pkiTree)
	d.list(
		fmt.Sprintf("Leaf certificates are valid %s, the CAs %s. «%s» exits non-zero when one expires within 30 days: a line for cron or monitoring.",
			lifetime(c.PKI.CertValidity.Duration), lifetime(c.PKI.CAValidity.Duration), v.hw("certs", "check", "--within", "720h")),
		"**The kubelets renew their own** client and serving certificates at 70-90% of their lifetime, through CertificateSigningRequests that kube-controller-manager signs with the cluster CA: it approves the client ones itself, and «"+render.UnitCSRApproverTimer+"» on the control-plane nodes approves a serving one every "+fmt.Sprint(int(render.CSRApproverEvery.Seconds()))+" s when it names only its node. They live on the node, in «"+render.KubeletCertDir+"»; «"+v.hw("certs")+"» reads there what each kubelet uses.",
		"**Renewal** is «"+v.hw("certs", "renew", "--all")+"» (or name the certificates): new leaves are issued and rolled out one node at a time, etcd one member at a time, the API servers one at a time behind the load balancer, the kubelets one node at a time (hardway's newer pair then wins over the one a kubelet rotated), each healthy again before the next, then the smoke tests run. The API stays up throughout.",
		"**Changing the config** reissues what it touches: give a node a new IP and the next «"+v.Build+"» reissues the certificates that name it (the node's kubelet and etcd certificates, the API server's), and only those.",
		"**A CA** is replaced with «"+v.hw("certs", "renew", "--ca", "CA")+"» (CA is «ca», «etcd-ca» or «front-proxy-ca») in three rolled-out phases: every component first trusts the old and the new CA, then every certificate the old one signed is reissued, then the old CA is dropped.",
	)

	d.h2("Encryption at rest")
	d.p(`
		Secrets reach etcd encrypted with AES-CBC (%s). The key is kept in
		«%s» on this host and in «%s/encryption-config.yaml» on the
		control-plane nodes, both readable by root only. Two habits follow:`,
		w.stepLink("encryption"), filepath.Join(w.in.StateDir, "encryption-config.yaml"), render.KubernetesDir)
	d.list(
		"back up the state directory: without the key, a restored etcd has unreadable Secrets;",
		"check now and then that it still works: «hardway verify» writes a Secret «hardway-encryption-check» in «"+verify.Namespace+"» and reads it straight from etcd, expecting the «k8s:enc:aescbc:v1:» prefix instead of the plain text.",
	)
	d.p(`
		«%s» replaces the key, and shows why the order of the providers in
		that file matters (the first one encrypts, all of them decrypt): it
		adds a new key second, so every API server can read it; promotes it
		to first; rewrites every Secret, checking each one raw in etcd; and
		only then drops the old key. Each stage reaches every API server
		before the next starts, so a rerun resumes where it stopped.`, v.hw("encryption", "rotate"))

	d.h2("When something is red")
	d.p(`Work from the outside in, the way the onion chapters went:`)
	d.list(
		"«"+v.hw("status")+"»: is every machine running, is every component «active»? A picture of the same: «"+v.hw("status", "--svg", "FILE")+"».",
		"«"+v.hw("logs", "NODE", "COMPONENT")+"»: the journal of one component on one node (the last 200 lines; «-n» for more). COMPONENT is a systemd unit: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet, kube-proxy, "+render.PodNetworkUnit+", haproxy.",
		"«hardway shell NODE --name "+v.Name+"»: a shell inside a node, with «systemctl», «journalctl», «crictl», «ip» and «etcdctl» at hand.",
		"«"+v.hw("verify")+"»: the smoke tests, to know what works.",
		"«"+v.hw("up")+"»: converge again. If a step fails, its error ends with «hardway up --name "+v.Name+" --from STEP» to resume there once the cause is fixed.",
	)
	d.table([]string{"Symptom", "Look at"}, [][]string{
		{"kubectl times out or is refused", fmt.Sprintf("«%s» (the load balancer and API servers), then «%s»", v.hw("status"), v.logs(cp, "kube-apiserver"))},
		{"the API answers but is slow or errors about etcd", fmt.Sprintf("«%s», then «%s»", v.logs(cp, "etcd"), v.etcdctl("endpoint health --cluster"))},
		{"a node is NotReady", fmt.Sprintf("«%s» and «%s»", v.logs(wk, "kubelet"), v.logs(wk, "containerd"))},
		{"a pod stays Pending", "«kubectl describe pod NAME»: the scheduler says in the events why no node fits"},
		{"a pod stays ContainerCreating", fmt.Sprintf("«kubectl describe pod NAME», then «%s» (CNI and image errors land there)", v.logs(wk, "containerd"))},
		{"pods cannot reach pods on other nodes", fmt.Sprintf("«%s» and «%s»", v.shell(wk, "ip route"), v.logs(wk, render.PodNetworkUnit))},
		{"Service IPs do not answer", fmt.Sprintf("«%s»: kube-proxy's rules", v.logs(wk, "kube-proxy"))},
		{"names do not resolve", "«kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide» and «kubectl -n kube-system logs deploy/coredns»"},
		{"«kubectl logs» or «exec» fails", "the API server → kubelet path: «" + v.logs(wk, "kubelet") + "» (authorization of «kube-apiserver-kubelet-client»)"},
	})

	d.h2("Practise: break it, fix it")
	d.p(`
		The table above is easier to use once you have seen each symptom for
		real. «%s» lists break-and-fix labs: each breaks one thing in this
		cluster (an etcd member, a pod route, a kubelet certificate, the
		CoreDNS configuration, kube-proxy, the API server's right to call
		kubelets) and tells you only the symptom. Find the cause with the
		commands above, fix it, and «hardway lab check» probes the cluster
		with the same checks as «hardway verify». «hardway lab hint» names
		the command that shows the cause and the fix; «hardway lab reset»
		restores the cluster with the steps of «hardway up» and runs every
		smoke test.`, v.hw("lab", "list"))

	d.h2("Starting over")
	d.p(`
		«%s» removes the node containers, their volumes, the network and the
		state directory, certificates included. Nothing else on this host is
		touched, and the artifact cache stays, so the next «hardway up» takes
		well under a minute.`, v.hw("down"))
	return Chapter{ID: "operating", Part: PartRun, Title: operatingTitle, Short: "Operating it", Body: d.String()}
}
