package book

import (
	"fmt"
	"path/filepath"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/diagram"
	"hardway.dev/hardway/internal/images"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

const (
	level0Title = "Launching a pod, level 0: kubectl is an HTTP client"
	level1Title = "Launching a pod, level 1: API server, etcd, controller manager, scheduler"
	level2Title = "Launching a pod, level 2: who may do it, and where its packets go"
	level3Title = "Launching a pod, level 3: on the node: kubelet, containerd, runc, CNI"
)

// createHello is the command the four levels follow.
const createHello = "kubectl create deployment hello --image=" + images.TestApp

func (w *writer) podLevel0() Chapter {
	c := w.c
	var d doc
	d.p(`
		The next four chapters follow one command from your keyboard to a
		running process, peeling one layer at a time:`)
	d.pre("sh", createHello)
	d.p(`
		«%s» is a tiny web server built for this cluster (busybox «httpd»
		saying "Hello World"). It was built locally and imported into every
		node, so nothing is pulled: the pod starts in a second or two.`, images.TestApp)
	d.p(`
		At level 0 the cluster is a black box. You state a wish; the control
		plane writes it down and answers at once; later, a worker node runs it
		and the control plane records that it does. The picture names the
		nodes of this cluster; the story lets the scheduler pick «%s».`, w.v.Chosen.Name)
	d.img(w.launch0)

	d.h2("Nothing but HTTPS")
	d.p(`
		«kubectl» holds no connection to the cluster and no state of its own.
		It reads a kubeconfig, turns your command into a JSON object and sends
		one HTTPS request. The admin kubeconfig of «%s» holds three things:`, c.Name)
	d.list(
		"the server: «"+c.APIServerURL()+"»,",
		"the CA that signed the API server's certificate, so kubectl can check it is talking to the real one,",
		"your client certificate and key: «CN=admin», «O=hardway:cluster-admins». This *is* your login; there is no password.",
	)
	d.p(`
		Turn up the verbosity and kubectl tells you everything it sends and
		receives. At «-v=8» you get the URL, the headers and the bodies. This
		is what it printed on this cluster when this book was built, with
		«--dry-run=server» added: the API server authenticated, authorized,
		admitted and validated the request and then stored nothing («dryRun=All»
		in the URL), so building the book changed nothing. Without that flag the
		same request creates the Deployment.`)
	w.capture(&d, CaptureCreate)
	d.p(`Line by line:`)
	d.list(
		"**Config loaded from file**: the kubeconfig found through «$KUBECONFIG». Everything below comes from it.",
		"**Request**: one «POST». The URL is the whole API in miniature: «/apis/apps/v1» is the API group «apps» at version «v1», «namespaces/default» the namespace and «deployments» the resource. Every object in Kubernetes has such a URL; «kubectl get», «apply» and «delete» are «GET», «PATCH» and «DELETE» on it.",
		"«fieldManager=kubectl-create» records who owns which fields of the object (server-side apply uses it); «fieldValidation=Strict» makes the server reject fields it does not know instead of dropping them.",
		"**Request Body**: the Deployment kubectl built from your flags: one replica of a pod template running «"+images.TestApp+"».",
		"There is no «Authorization» header: your identity travelled in the TLS handshake as a client certificate, below HTTP, so «-v=8» cannot show it.",
		"**Response 201 Created** in a few milliseconds. «Audit-Id» is the key of this request in the API server's audit log («"+render.AuditLogPath+"» on the control-plane nodes); the «X-Kubernetes-Pf-*» headers say which API Priority and Fairness queue the request went through.",
		"**Response Body**: the object as the API server would store it, now with a «uid» and «generation: 1» (a real create also gets a «resourceVersion», etcd's revision; a dry run never reaches etcd). Its «status» is empty: **nothing runs yet**. kubectl is done; the rest is the cluster's work.",
	)
	d.p(`
		The first time you run kubectl against a cluster you also see «GET /api»
		and «GET /apis»: kubectl discovering which resources exist. It caches
		the answers under «~/.kube/cache», so later commands skip them.`)

	d.h2("From a file: kubectl apply -f")
	d.p(`
		The original tutorial, and most of real life, does not type flags: it
		writes the object down in a YAML file and hands the file to
		«kubectl apply». Here is the same Deployment as «hello.yaml»:`)
	d.pre("yaml", HelloManifest)
	d.p(`
		«kubectl apply -f hello.yaml» means *make the cluster look like this
		file*: it creates what is missing and changes what differs, so you can
		run it again after every edit. How it finds out what differs is the
		difference between its two modes.`)
	d.h3("Validation: on your side or on the server's")
	d.p(`
		A typo such as «replicas» spelt «replica» must not be silently dropped.
		«kubectl --validate» decides who catches it: «strict» (the default)
		puts «fieldValidation=Strict» in the URL and the API server refuses
		unknown or duplicate fields with «400 Bad Request»; «warn» lets the
		request through with a «Warning» header; «ignore» drops them silently.
		kubectl validates against the schema itself (client-side) only when a
		server cannot do it; every API server since Kubernetes 1.27 can. What kubectl does
		on your side is read the API's OpenAPI schema («GET /openapi/v3/apis/apps/v1»,
		cached under «--cache-dir») to know each field's type and how lists
		merge. «--dry-run=client» stops there and sends nothing;
		«--dry-run=server» sends everything and the server stores nothing.`)
	d.h3("Client-side apply")
	d.p(`
		Without flags, kubectl computes the change itself: it «GET»s the
		object, compares it with your file and with the
		«kubectl.kubernetes.io/last-applied-configuration» annotation it left
		there the previous time (a three-way merge: what you wrote then, what
		you write now, what is there), and sends a «PATCH», or a «POST» when
		the object does not exist yet, as here:`)
	w.capture(&d, CaptureApply)
	d.h3("Server-side apply")
	d.p(`
		With «--server-side», kubectl sends your file as it is, in one «PATCH»
		with «Content-Type: application/apply-patch+yaml» and
		«fieldManager=kubectl», and the API server does the merge. It records
		in «metadata.managedFields» which manager set which field, so two
		tools that set the same field get a conflict instead of silently
		undoing each other («--force-conflicts» takes the field over). hardway
		itself applies every manifest this way, as field manager «hardway»:`)
	w.capture(&d, CaptureServerSide)
	d.p(`
		The «Warning» header, if your output has one, is Pod Security
		admission: the namespace enforces «%s» and only warns about «%s», so
		the pod is admitted and you are told what the stricter level would
		refuse. Admission ran although nothing was stored.`, c.PodSecurity.Enforce, c.PodSecurity.Warn)

	d.h2("Do it without kubectl")
	d.p(`
		Since kubectl is an HTTP client, any HTTP client with the admin
		certificate is kubectl's equal. «hardway» keeps the certificates in
		the state directory; «curl» can list the nodes with them:`)
	d.pre("sh", w.v.curlNodes())
	d.p(`
		The API answers with JSON; «?watch=true» on the same URL keeps the
		connection open and streams every change, which is how the
		%s of the next chapters learn about your Deployment.`, chapterLink("control-loops", "control loops"))

	d.h2("Record a client's requests")
	d.p(`
		«%s» does what this chapter describes with client-go, the library
		kubectl is built on, through a transport that records every request:
		it creates one pod, watches it until it is Ready and deletes it, then
		prints each request with its headers, the start of each body, the
		status, the latency and the «Audit-Id» to look up in the audit log.
		The watch shows as one long response: a stream of events.`, w.v.hw("trace", "--http"))
	return Chapter{ID: "pod-0-kubectl", Part: PartPod, Title: level0Title, Short: "Level 0: kubectl is HTTP", Body: d.String()}
}

// capture quotes what kubectl printed for key on this cluster, or says why
// the book has no such output.
func (w *writer) capture(d *doc, key string) {
	for _, spec := range CaptureSpecs() {
		if spec.Key != key {
			continue
		}
		cmd := "kubectl " + strings.Join(spec.Args, " ")
		if got, ok := w.in.Captures[key]; ok {
			d.pre("text", "$ "+got.Command+"\n"+got.Output)
			return
		}
		why := "this book was built without a running cluster"
		if w.in.Live {
			why = "the cluster did not answer while this book was built"
			if w.in.CaptureNote != "" {
				why += " (" + w.in.CaptureNote + ")"
			}
		}
		d.p(`
			*Not captured: %s, so kubectl's output is not shown here rather
			than made up. Run it yourself, with «hello.yaml» from above:*`, why)
		d.pre("sh", cmd)
		return
	}
}

// curlNodes lists the nodes over plain HTTPS with the admin certificate.
func (v vars) curlNodes() string {
	p := filepath.Join(v.State, "pki")
	return fmt.Sprintf("curl --cacert %[1]s/ca.pem --cert %[1]s/admin.pem --key %[1]s/admin-key.pem %[2]s/api/v1/nodes", p, v.C.APIServerURL())
}

func (w *writer) podLevel1() Chapter {
	c, v := w.c, w.v
	cps := c.ControlPlanes()
	var d doc
	d.p(`
		Open the box called "control plane" and four programs fall out. Here is
		everything that happens between your «POST» and a running pod, with
		the names of this cluster (the scheduler's choice of «%s» is the
		story's; yours may differ):`, v.Chosen.Name)
	d.img(w.launch)

	d.h2("kube-apiserver: the front door (messages 1–3)")
	who := "The API server on " + nodeNames(cps)
	if len(cps) > 1 {
		who = "One of the API servers (on " + nodeNames(cps) + ")"
	}
	d.p(`
		%s receives the request. Before anything is stored,
		it runs the same gauntlet for every request: **authentication** (who
		is this? the client certificate says «admin»), **authorization** (may
		«admin» create Deployments in «default»? RBAC says yes: the
		ClusterRoleBinding «hardway:cluster-admins» gives that group the
		ClusterRole «cluster-admin»), **admission** (plugins that default, validate or
		reject; «NodeRestriction» is one) and **validation** against the
		Deployment schema. Then it writes the object to etcd and answers
		«201 Created».`, who)
	d.p(`
		The API server keeps no state of its own: everything it knows is in
		etcd, which is why you can run %s of it behind one address.`, plural(len(cps), "copy", "copies"))

	d.h2("etcd: the only database")
	d.p(`
		etcd is a key-value store. The API server keeps each object under a
		key built from its URL: your Deployment is
		«/registry/deployments/default/hello», its pods will be
		«/registry/pods/default/hello-…». The values are protobuf, not JSON
		(and Secrets are encrypted, see %s). Every write bumps etcd's revision,
		which is what the API calls «resourceVersion»; watches are etcd watches
		underneath.`, w.stepLink("encryption"))
	d.p(`
		With %s, a write is committed once %s it (Raft quorum). You can list
		the keys yourself with etcdctl on «%s» (see the table below).`,
		plural(len(cps), "member", "members"), plural(len(cps)/2+1, "member has", "members have"), v.CP.Name)

	d.h2("kube-controller-manager: from Deployment to Pod (messages 4–5)")
	d.p(`
		The leading controller manager watches Deployments. «hello» has no
		ReplicaSet, so the Deployment controller creates one, named after a
		hash of the pod template («hello-<hash>»). The ReplicaSet controller
		then sees a ReplicaSet that wants one pod and has none, and creates a
		Pod from the template. Each object points at its parent in
		«metadata.ownerReferences»: delete the Deployment and the garbage
		collector removes the rest. None of this touches a node; so far these
		are only objects in etcd.`)

	d.h2("kube-scheduler: picking a node (messages 6–7)")
	d.p(`
		The new Pod has no «spec.nodeName». The leading scheduler watches for
		exactly such pods. It first *filters* the nodes that cannot run it
		(not Ready, not enough CPU or memory left, a taint the pod does not
		tolerate, a node selector that does not match) and then *scores* the
		rest (spread pods of the same owner, prefer nodes with the image, …).
		Here the candidates are %s. It writes its decision as a «Binding»,
		which sets «spec.nodeName». The scheduler never talks to a node either.`, nodeNames(c.Workers()))

	d.h2("And then a node takes over")
	d.p(`
		From here on the kubelet on the chosen node does the work, which is
		%s. First, though, %s looks at what every arrow in the picture had to
		prove: who it was, and whether it was allowed.`,
		chapterLink("pod-3-node", "level 3"), chapterLink("pod-2-auth-network", "level 2"))

	d.h2("Where these programs are in this cluster")
	d.table([]string{"Program", "systemd unit on " + nodeNames(cps), "Read its flags", "Read its log"}, [][]string{
		{"kube-apiserver", "«kube-apiserver.service»", "«" + v.shell(v.CP.Name, "systemctl cat kube-apiserver") + "»", "«" + v.logs(v.CP.Name, "kube-apiserver") + "»"},
		{"etcd", "«etcd.service»", "«" + v.shell(v.CP.Name, "systemctl cat etcd") + "»", "«" + v.logs(v.CP.Name, "etcd") + "»"},
		{"kube-controller-manager", "«kube-controller-manager.service»", "«" + v.shell(v.CP.Name, "systemctl cat kube-controller-manager") + "»", "«" + v.logs(v.CP.Name, "kube-controller-manager") + "»"},
		{"kube-scheduler", "«kube-scheduler.service»", "«" + v.shell(v.CP.Name, "systemctl cat kube-scheduler") + "»", "«" + v.logs(v.CP.Name, "kube-scheduler") + "»"},
	})
	d.p(`%s explain every flag.`, strings.Join([]string{w.stepLink("etcd"), w.stepLink("control-plane")}, " and "))
	return Chapter{ID: "pod-1-control-plane", Part: PartPod, Title: level1Title, Short: "Level 1: the control plane", Body: d.String()}
}

func (w *writer) podLevel2() Chapter {
	c, v := w.c, w.v
	chosen := v.Chosen.Name
	var d doc
	d.p(`
		Every arrow of level 1 is a TLS connection, and at the end of each one
		the server asks two questions: *who are you?* (authentication) and
		*may you do this?* (authorization). Then the pod needs an address that
		every other pod can reach. This chapter is about both. The picture
		shows each connection of a launch with the certificate it presents
		(the names come from the PKI table that issues them) and what the
		other end checks:`)
	d.img(w.identities)
	d.list(diagram.TrustLegend(pki.Specs(c))...)

	d.h2("Who are you? Authentication")
	d.p(`The API server of «%s» accepts three kinds of identity:`, c.Name)
	d.list(
		"**Client certificates** signed by the cluster CA («--client-ca-file»). The certificate's Common Name is the user name, each Organization a group. Every component and you log in this way; see "+w.stepLink("pki")+".",
		"**Service account tokens**: JWTs the API server signs with the service-account key («--service-account-signing-key-file») for pods, with the issuer «https://kubernetes.default.svc."+c.Network.ClusterDomain+"». Kubelet mounts one into every pod.",
		"**Nobody** (anonymous), but only for «/livez», «/readyz» and «/healthz», so the load balancer can check health without a certificate («--authentication-config»).",
	)

	d.h2("May you? Authorization")
	d.p(`
		«--authorization-mode=Node,RBAC»: the **Node** authorizer answers for
		kubelets (user «system:node:NAME» in group «system:nodes») and lets each
		one read and write only what concerns its own node and the pods bound
		to it. Everyone else goes through **RBAC**: Roles and ClusterRoles
		list allowed verbs on resources, bindings grant them to users, groups
		or service accounts. Members of «system:masters» skip the check, which
		is why your admin certificate is not in that group: a binding can be
		deleted, a certificate in «system:masters» cannot be revoked short of
		a new CA. hardway keeps one such identity, «super-admin.kubeconfig», in
		its state directory only, to create the admin's binding before RBAC
		allows anything, and for you to break the glass if RBAC is broken.
		After authorization, the **NodeRestriction** admission plugin stops a
		kubelet from changing other nodes' objects or its own labels that
		steer workloads.`)
	d.p(`Each arrow of the pod launch, with the identity it used and why it was allowed:`)
	d.table([]string{"Who → whom", "Identity", "Why it is allowed"}, [][]string{
		{"kubectl → API server", "«admin», group «hardway:cluster-admins»", "ClusterRoleBinding «hardway:cluster-admins» → ClusterRole «cluster-admin»"},
		{"Deployment controller → API server", "«system:serviceaccount:kube-system:deployment-controller»", "ClusterRole «system:controller:deployment-controller»"},
		{"ReplicaSet controller → API server", "«system:serviceaccount:kube-system:replicaset-controller»", "ClusterRole «system:controller:replicaset-controller»"},
		{"scheduler → API server", "«system:kube-scheduler»", "ClusterRole «system:kube-scheduler» (bindings are allowed)"},
		{"kubelet on " + chosen + " → API server", "«system:node:" + chosen + "», group «system:nodes»", "Node authorizer: the pod is bound to «" + chosen + "»"},
		{"API server → etcd", "«kube-apiserver-etcd-client»", "signed by «etcd-ca», the only CA etcd trusts («--client-cert-auth», «--trusted-ca-file»); etcd has no users or RBAC, so that CA is its whole access control"},
		{"API server → kubelet (logs, exec)", "«kube-apiserver-kubelet-client»", "the kubelet asks the API (webhook authorization); the control-plane step bound this user to «system:kubelet-api-admin»"},
	})
	d.p(`
		Ask the API what an identity may do with «kubectl auth can-i», and
		«--as» to ask on behalf of someone else. That is *impersonation*: any
		user granted the «impersonate» verb on «users», «groups» or
		«serviceaccounts» by RBAC may do it (you may, as a member of
		«system:masters»); the commands are in the table at the end.`)

	d.h2("Where will the pod's packets go?")
	d.p(`Three networks are involved, and keeping them apart is most of Kubernetes networking:`)
	rows := [][]string{
		{"Node network", "«" + orAll(c.Network.NodeSubnet) + "»", "the nodes' own addresses: " + nodeIPs(c.Nodes), w.nodeAddressesFrom()},
		{"Pod network", "«" + c.Network.PodCIDR + "»", "one /24 per worker: " + podCIDRs(c.Workers()), "the CNI plugins on each node, from that node's /24"},
		{"Service network", "«" + c.Network.ServiceCIDR + "»", fmt.Sprintf("virtual IPs: «kubernetes» is «%s», DNS is «%s»", c.KubernetesServiceIP(), c.Network.ClusterDNS), "the API server, when a Service is created"},
	}
	d.table([]string{"Network", "Range", "Addresses", "Handed out by"}, rows)
	d.p(`
		Kubernetes asks three things of the pod network: every pod has its own
		IP; every pod can reach every other pod at that IP, on any node,
		without NAT; and what a pod sees as its own address is what others
		see. The pod of our story gets an address from «%s», the /24 of
		«%s». How a packet crosses from one node's /24 to another's, and how a
		Service IP that no machine owns reaches a pod, is %s.`,
		v.Chosen.PodCIDR, chosen, chapterLink("networking", "the networking chapter"))
	return Chapter{ID: "pod-2-auth-network", Part: PartPod, Title: level2Title, Short: "Level 2: identity and network", Body: d.String()}
}

func nodeIPs(ns []config.Node) string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("«%s» %s", n.IP, n.Name))
	}
	return strings.Join(out, ", ")
}

func podCIDRs(ns []config.Node) string {
	var out []string
	for _, n := range ns {
		out = append(out, fmt.Sprintf("«%s» %s", n.PodCIDR, n.Name))
	}
	return strings.Join(out, ", ")
}

func (w *writer) podLevel3() Chapter {
	v := w.v
	n := v.Chosen
	var d doc
	d.p(`
		The scheduler has written «spec.nodeName: %s». On «%s», the kubelet
		watches the API for pods with exactly that field, so the change
		reaches it within milliseconds. Everything from here happens inside
		that node, through three layers of programs, each doing one thing.`, n.Name, n.Name)
	d.img(w.node)

	d.h2("kubelet: the node's agent")
	d.p(`
		The kubelet («%s», configured by «%s/kubelet-config.yaml») compares
		the pods bound to its node with the containers that exist, and closes
		the gap. It does not start containers itself: it speaks the
		**Container Runtime Interface** (CRI), a gRPC API, to containerd on
		«unix://%s». For a new pod with one container it makes four calls:`, render.BinDir+"/kubelet", render.KubeletDir, render.ContainerdSocket)
	d.list(
		"«RunPodSandbox»: create the pod's environment, its network namespace above all;",
		"«ImageStatus»: is «"+images.TestApp+"» there? It is (imported when the node was built), and with «imagePullPolicy: IfNotPresent», the default for an image with a tag other than «latest», the kubelet skips «PullImage» altogether; only a missing image, or the policy «Always», leads to a «PullImage» call;",
		"«CreateContainer»: the container, from the image, inside the sandbox;",
		"«StartContainer»: its process.",
	)
	d.p(`
		Then it runs the pod's probes, restarts containers that die (the pod's
		«restartPolicy») and writes the pod's status back to the API: phase,
		pod IP, container states. That status is what «kubectl get pods»
		shows you.`)

	d.h2("containerd: images, snapshots, sandboxes")
	d.p(`
		containerd (config «%s») unpacks images into layered filesystems with
		the overlayfs snapshotter and keeps its state under «/var/lib/containerd»
		in the «k8s.io» namespace, the one CRI uses. A pod *sandbox* is a
		network namespace plus a tiny container from «%s» whose only job is to
		exist: it holds the namespaces the pod's containers then join, so a
		container can restart without the pod losing its IP.`, render.ContainerdConfig, images.Pause)

	d.h2("CNI: giving the pod a network")
	d.p(`
		Before the sandbox is ready, containerd runs the CNI plugins listed in
		«%s/10-bridge.conflist», from «%s». For our pod on «%s»:`, render.CNIConfDir, render.CNIBinDir, n.Name)
	d.list(
		"**bridge** creates the «cni0» bridge if it is missing, with the gateway address «"+diagram.Gateway(n.PodCIDR)+"», and a veth pair: one end becomes «eth0» inside the pod, the other is plugged into «cni0». "+podMTUSentence(w.c)+"",
		"**host-local** picks a free address from «"+n.PodCIDR+"» and remembers it in «/var/lib/cni/networks/bridge».",
		"**portmap** forwards «hostPort»s, if the pod asks for any; **loopback** brings up «lo».",
	)
	d.p(`
		The plugins are plain executables: containerd runs them with the
		network namespace's path in an environment variable and the JSON
		config on stdin, and reads the result (the IP) from stdout.`)

	d.h2("runc: the process at last")
	d.p(`
		For each container, containerd starts a *shim* («containerd-shim-runc-v2»),
		which calls **runc**. runc reads an OCI bundle (a root filesystem and a
		«config.json») and asks the Linux kernel for what a container is made
		of: namespaces (the sandbox's network, IPC and UTS namespaces, joined,
		so the pod's containers share an IP and a hostname; a PID and a mount
		namespace of its own), cgroups that limit CPU and memory (kubelet uses the
		«cgroupfs» driver here), mounts (the image's overlayfs, the service
		account token, «/etc/resolv.conf»). Then it executes the image's entry
		point, «/bin/busybox httpd», and exits. The shim stays, as the
		process's parent, so containerd can restart without killing your pod.`)
	d.p(`
		That is the bottom of the onion: a Linux process in a few namespaces
		and cgroups. The kubelet sees it running, the readiness probe passes,
		the pod's status says «Running» with its IP, and «kubectl get pods»
		finally shows what you asked for.`)

	d.h2("Measured, not told")
	d.p(`
		These four chapters tell the story; «%s» measures it. It launches one
		pod and puts on one timeline, relative to the moment the create
		request left this host, what each component recorded: the API
		server's audit log (the create, the scheduler's binding, the
		kubelet's status update), an etcd watch on every member (each write
		of the pod, decoded), the kubelet's and containerd's journals (the
		pod picked up, «RunPodSandbox», «CreateContainer», «StartContainer»)
		and the file host-local writes when it hands out the pod's address.
		Each line names the component, the node and where its time was read;
		the nodes are containers sharing this host's clock, so the times
		compare. «--svg FILE» draws the timeline as a sequence picture, one
		lifeline per component like the picture of %s, but with the
		measured times.`, w.v.hw("trace"), chapterLink("pod-1-control-plane", "level 1"))
	return Chapter{ID: "pod-3-node", Part: PartPod, Title: level3Title, Short: "Level 3: the node", Body: d.String()}
}
