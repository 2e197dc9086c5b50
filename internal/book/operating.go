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
		fmt.Sprintf("Leaf certificates are valid %s, the CAs %s.", lifetime(c.PKI.CertValidity.Duration), lifetime(c.PKI.CAValidity.Duration)),
		"**Renewal** is «"+v.hw("up")+"»: a leaf with less than a tenth of its lifetime left is reissued with a new key, copied to the nodes that use it, and exactly the services that read it are restarted. Nothing else changes.",
		"**Changing the config** works the same way: give a node a new IP and the next «hardway up» reissues the certificates that name it (the node's kubelet and etcd certificates, the API server's), and only those.",
		"**CAs are never replaced in place**: every certificate and kubeconfig depends on them. A new CA means a new cluster: keep a copy of «"+filepath.Join(w.in.StateDir, "cluster.yaml")+"», run «"+v.hw("down")+"», then «hardway up -c» with the copy.",
	)

	d.h2("Encryption at rest")
	d.p(`
		Secrets reach etcd encrypted with AES-CBC (%s). The key was generated
		once, is kept in «%s» on this host (mode 0600) and in
		«%s/encryption-config.yaml» on the control-plane nodes. Two habits
		follow from that:`, w.stepLink("encryption"), filepath.Join(w.in.StateDir, "encryption-config.yaml"), render.KubernetesDir)
	d.list(
		"back up the state directory: without the key, a restored etcd has unreadable Secrets;",
		"check now and then that it still works: «hardway verify» writes a Secret «hardway-encryption-check» in «"+verify.Namespace+"» and reads it straight from etcd, expecting the «k8s:enc:aescbc:v1:key1:» prefix instead of the plain text.",
	)
	d.p(`
		hardway does not rotate the key: rotation means adding a second key to
		the configuration, restarting every API server, rewriting every Secret
		(«kubectl get secrets -A -o json | kubectl replace -f -») and only then
		removing the old key. Reading «%s» on a control-plane node shows why
		the order matters: the first provider encrypts, all of them decrypt.`,
		render.KubernetesDir+"/encryption-config.yaml")

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

	d.h2("Starting over")
	d.p(`
		«%s» removes the node containers, their volumes, the network and the
		state directory, certificates included. Nothing else on this host is
		touched, and the artifact cache stays, so the next «hardway up» takes
		well under a minute.`, v.hw("down"))
	return Chapter{ID: "operating", Part: PartRun, Title: operatingTitle, Short: "Operating it", Body: d.String()}
}
