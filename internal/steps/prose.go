package steps

// The teaching text of each step. The dynamic part (this cluster's files,
// flags and names) is appended by each step's Explain.

var checkProse = dedent(`
	Before anything is created, hardway looks at this machine: is there a
	Docker engine to run the nodes, which cgroup version does the kernel use,
	are the kernel features a node needs (overlayfs for container layers,
	bridge + br_netfilter so kube-proxy's rules see bridged pod traffic, IP
	forwarding so a node can route pod packets) present, is there disk space,
	and does the node subnet collide with a route this host already has?
`)

var checkWhyProse = dedent(`
	Why: kubeadm calls this "preflight". Every one of these problems would
	otherwise surface ten minutes later as a cryptic failure deep inside
	kubelet or containerd. Checking first turns them into one line each, with
	the command that fixes it.
`)

var checkMachinesProse = dedent(`
	Before anything is installed, hardway asks every machine (providers ssh
	and lima), in one command each: is it a Linux booted with systemd, which
	architecture (the binaries must match), which cgroup version and
	capabilities (the kubelet and containerd configs depend on them), are
	overlay, br_netfilter, conntrack (and vxlan) in its kernel, is swap on,
	are the ports the components bind free, is there disk space in /var and
	/usr/local/bin, are the tools kubelet and kube-proxy call installed (each
	missing one named with its package), does a packaged containerd or
	kubelet run there already, can it reach its peers without a router
	(direct pod routes), and do the clocks agree (certificates made here must
	be valid there; etcd dislikes drift).
`)

var nodesProse = dedent(`
	A cluster is machines with stable addresses and names: certificates name
	them, etcd peers dial them, kubelets register under them. The original
	tutorials ran their machines as VMs (cloud VMs; Lima on macOS) and also
	as privileged Docker containers. hardway gets its machines from a
	provider (docker, ssh or lima), and every step after this one is the
	same whatever the provider is: each component runs as a systemd service
	you can inspect with systemctl and journalctl (try: hardway shell NODE
	-- systemctl status).
`)

// The machines of each provider; explain nodes shows the cluster's own.
var nodesDockerProse = dedent(`
	provider: docker (the default). Each node is a Docker container that
	boots a real systemd as PID 1, exactly like a small VM, with a fixed IP
	on a Docker network created for this cluster only. With isolated: true
	that network is --internal: the nodes and this host reach each other, and
	nothing leaves the machine. A node keeps /var on its own volume
	(containerd's image store and etcd's data live there) and sees the host's
	artifact cache read-only, so hundreds of megabytes of binaries are never
	copied through docker exec. An extra container runs the API load
	balancer.
`)

var nodesSSHProse = dedent(`
	provider: ssh. The machines exist already (servers, VMs someone else
	made): hardway gets their addresses and a key, and drives them the way an
	administrator would, over SSH (one connection per machine, reused for the
	whole run). The first contact records each machine's host key in the
	cluster's state directory; a changed key is refused, since it means
	another machine (or someone in between) answers. A user other than root
	runs every command through sudo -n. Nothing is mounted: each binary
	travels once, inside the tar stream of the files, and only when its
	SHA-256 differs from what the machine has. There is no load-balancer
	machine; every node balances to the API servers itself (see hardway
	explain control-plane). hardway down --yes removes what hardway installed
	and leaves the machines.
`)

var nodesLimaProse = dedent(`
	provider: lima. hardway writes a Lima template per node and creates the
	VMs with limactl, as the tutorial did on macOS, then drives them over
	SSH exactly like provider ssh. A VM's IP comes from the VM network when
	it boots and is written into the saved config.
`)

var pkiProse = dedent(`
	Kubernetes components authenticate each other with X.509 client
	certificates: the Common Name (CN) becomes the user name and each
	Organization (O) a group. The API server then authorizes that identity
	with RBAC (and the Node authorizer for kubelets). Every component also
	checks the server it talks to against the cluster CA, so the same
	certificates prevent impersonation in both directions.

	hardway creates the whole PKI natively (crypto/x509; the tutorial used
	cfssl), one entry per identity, each with only the rights it needs: for
	example the API server uses one certificate to serve, a separate one to
	call kubelets and another one to call etcd. There are three CAs, because
	trusting a CA means trusting everything it signs: the cluster CA for the
	Kubernetes components and users, the etcd CA for the database (no kubelet
	certificate must open it), and the front-proxy CA for the aggregation
	layer. Only what is missing or no longer matches the config is
	(re)issued: re-running this step keeps valid certificates, and changing a
	node's IP reissues exactly the certificates that name it.

	Certificates expire (leaves after a year here). The kubelets renew
	theirs by themselves: once 70-90% of a certificate's lifetime has
	passed, a kubelet asks for a new client and a new serving certificate
	with CertificateSigningRequests, which kube-controller-manager signs with
	the cluster CA (for a year, never past the CA). The client requests are
	approved by the controller manager (nodes may renew their own), the
	serving ones by hardway-csr-approver on the control-plane nodes, after it
	checked they name only the node. "hardway certs" and "certs check" read
	on each node the pair its kubelet uses. Renew everything else without
	downtime with "hardway certs renew --all" (one node at a time; for a
	kubelet, hardway's newer pair then wins over the one it rotated); replace
	a CA with "hardway certs renew --ca NAME", which first makes every
	component trust old and new CA, then reissues, then drops the old one.
`)

var kubeconfigsProse = dedent(`
	A kubeconfig bundles three things a client needs: where the API server is
	(server URL), how to trust it (the cluster CA) and who the client is (its
	client certificate and key). Each component gets its own, embedding its
	own certificate, so that access can be audited and revoked per identity.
	The kubelets' kubeconfigs name a file instead,
	/var/lib/kubelet/pki/kubelet-client-current.pem: the pair the kubelet
	replaces when it renews its certificate (it asks for each renewal with
	the kubeconfig's credentials). Before the kubelet starts, that file links
	to hardway's pair (kubelet-client.pem) or to the one the kubelet rotated,
	whichever is newer.

	Components running on a control-plane node talk to their local API server
	at 127.0.0.1; kubelets and kube-proxy talk to the load-balanced address so
	they survive the loss of any single control-plane node.
`)

var encryptionProse = dedent(`
	Kubernetes stores Secrets in etcd. By default they are only base64
	encoded: anyone who can read etcd's data or backups can read every
	password and token. The API server can encrypt resources before it writes
	them, with providers listed in an EncryptionConfiguration: the first
	provider encrypts new writes, the others are tried for reading.

	hardway uses aescbc with a random 32-byte key, then identity so that data
	written before encryption was enabled stays readable. The key is created
	once and kept; the file is 0600 because it is the key to every Secret.
`)

var etcdProse = dedent(`
	etcd is the cluster's only database: every object you create through the
	API ends up there, nowhere else. It is a Raft cluster, so a write succeeds
	once a majority (quorum) of members have it: three members survive the
	loss of one.

	All members start together, each told the full initial cluster, and every
	connection is mutual TLS: clients must present a certificate signed by the
	etcd CA (client-cert-auth), and so must peers (peer-client-cert-auth).

	Why etcd has a CA of its own: etcd has no users and no RBAC. Any client
	with a certificate it trusts can read and write every key, every Secret
	included, bypassing the API server's authorization entirely. If etcd
	trusted the cluster CA, the certificate every kubelet holds would open the
	database, and one compromised worker would own the cluster. So the etcd CA
	signs only etcd's own member certificates, the API server's etcd client
	certificate and a health-check client for etcdctl on control-plane nodes
	(kubeadm does the same). etcd runs as its own system user, which owns its
	keys and its data directory and nothing else.
	The step waits until every member reports healthy through the etcd client
	API and the member list has all of them, instead of sleeping.
`)

var controlPlaneProse = dedent(`
	The control plane is three programs, run on every control-plane node as
	systemd services (no kubeadm, no static pods):

	  kube-apiserver           the only component that talks to etcd; it
	                           authenticates (client certificates, service
	                           account tokens), authorizes (Node, RBAC), runs
	                           admission (NodeRestriction) and encrypts Secrets.
	  kube-controller-manager  the control loops: Deployments make ReplicaSets,
	                           ReplicaSets make Pods; it signs approved CSRs
	                           with the cluster CA. (The API server signs the
	                           service-account tokens pods get; the controller
	                           manager's copy of the key signs only legacy
	                           token Secrets someone creates by hand.)
	  kube-scheduler           picks a node for every new Pod.

	Controller manager and scheduler run on every control-plane node but only
	one instance of each acts at a time: they elect a leader with a Lease
	object, and the others wait to take over. A load balancer in front of the
	API servers gives clients one stable address (the tutorial used nginx on
	the host; hardway runs haproxy in its own small container on the cluster
	network, or on machines on every node, see below).

	One more unit runs on every control-plane node: hardway-csr-approver, a
	timer that every 30 s approves the kubelets' pending serving-certificate
	requests (signer kubernetes.io/kubelet-serving, which nothing in
	Kubernetes approves), each only when it comes from a node, for that
	node's name and addresses alone; anything else stays pending, the reason
	in its journal.

	The step waits for /readyz on every API server and for each leader lease,
	then grants the API server's kubelet-client identity the right to reach
	kubelets (needed for kubectl logs, exec and port-forward), the nodes the
	right to renew their own client certificates, and the approver its rights.
`)

var workersProse = dedent(`
	A worker runs pods. Three programs do that:

	  containerd  the container runtime: pulls (here: imports) images, unpacks
	              them with the overlayfs snapshotter and runs containers with
	              runc through a shim. kubelet talks to it over the CRI socket.
	  kubelet     the node agent: registers the Node, watches the Pods bound to
	              it, asks containerd to run them, calls the CNI plugins to
	              wire their network and reports status. It serves an HTTPS
	              API (logs, exec) that only the API server may call.
	  kube-proxy  turns Services into packet rules (iptables or nftables) so
	              a ClusterIP reaches a backend pod on any node.

	Pod networking uses the standard CNI plugins: bridge (a cni0 bridge with
	one veth per pod), host-local IPAM handing out addresses from this node's
	own pod CIDR, portmap for hostPorts, and loopback. Pod images were built
	locally and are imported into containerd, so nothing is pulled. The step
	waits until every Node is Ready through the API.

	One more unit, hardway-pods-stop, does nothing while the node runs. When
	the machine shuts down it is stopped after kubelet and before containerd,
	and stops every pod through the CRI. Without it the shutdown would hang:
	a container's first process is PID 1 of its own PID namespace, the kernel
	drops a SIGTERM it has no handler for, and systemd waits 90 s before it
	kills what is left (hardway stop took a minute; now seconds).

	See them at work: "hardway trace" launches one pod and prints, measured,
	what each component did and when (API server, etcd, scheduler, kubelet,
	containerd, CNI); "hardway trace --http" shows the client's HTTP requests.
`)

var networkProse = dedent(`
	Every node hands out pod addresses from its own /24, but a packet for a pod
	on another node must know which node to go to. In a cloud, the VPC's route
	table does this; the original tutorial added one static route per peer:
	"this pod CIDR is reached via that node's IP".
`)

// networkDirectProse and networkVXLANProse explain the two kinds of pod
// routes; explain network shows the cluster's own kind first.
var networkDirectProse = dedent(`
	That works wherever the network between the nodes carries packets whose
	addresses are pod addresses: machines on one L2 network (one switch, one
	VLAN, one Lima VM network). network.podRoutes: direct writes exactly those
	routes, and is the default for providers ssh and lima.
`)

var networkDockerProse = dedent(`
	Docker nodes sit on an isolated Docker network that drops any packet
	whose addresses are outside the node subnet (that is what keeps cluster
	traffic on this machine).
`)

var networkVXLANProse = dedent(`
	Networks that drop packets whose addresses are not the machines' own
	(cloud VPCs with source/destination checks, routed L3 networks, Docker's
	internal bridge) need more. There, network.podRoutes: vxlan (the
	default for provider docker) keeps the same per-peer routes but sends pod
	packets inside VXLAN, UDP between node IPs. Each route points at the
	peer's tunnel address, and the peer's tunnel MAC and node IP are written
	down in advance: no learning, no flooding, no daemon. Pod interfaces are
	50 bytes smaller (the tunnel's headers).
`)

var networkProbeProse = dedent(`
	Either way a oneshot systemd unit sets it up at every boot. The step then
	proves it the way pods will use it: every node pings every other node's
	address in that node's pod CIDR, from an address in its own (the tunnel
	address with VXLAN, the bridge's gateway with plain routes), all at once
	and 3 s at most, so a network that drops pod addresses is named here,
	with the fix, and not 90 s later by a DNS server nobody can reach.
`)

var directRoutesProse = dedent(`
	Plain routes: a packet for a pod on another node leaves this node with
	the pod's address as destination, addressed (by ARP) to the peer's MAC on
	the shared network. Every node must be on-link for every other (hardway
	check verifies that no peer is reached through a router). If pods cannot
	reach pods on other nodes although the routes are there, the network
	drops foreign addresses: set network.podRoutes: vxlan and run hardway up.
`)

var vxlanMachinesProse = dedent(`
	VXLAN between machines: the network between them need only carry UDP
	port 4789 between the node IPs (open it in any firewall between them).
	The unit loads the vxlan kernel module itself.
`)

var dnsProse = dedent(`
	Pods find Services by name: kubelet writes the cluster DNS address into
	every pod's resolv.conf, and CoreDNS answers there for names like
	kubernetes.default.svc.cluster.local by watching Services and Endpoints
	through the API. CoreDNS is itself an ordinary Deployment behind a Service
	with a fixed ClusterIP, from an image built locally from source.
`)

var verifyProse = dedent(`
	A cluster is real only when workloads run on it. These checks are the
	smoke tests of the hard way, automated, after one that asks systemd on
	every machine whether each component its roles run is active (a
	control plane that lost one scheduler for good still answers, so only
	the machines tell): a Deployment spread over every
	node serving "Hello World" (two pods when there is one node), a new
	Deployment followed to a Ready pod (the controller manager, the
	scheduler and a kubelet each doing their part), traffic
	from every pod to another pod's IP (on the next node, or across the
	only node's bridge), a ClusterIP
	Service through kube-proxy, DNS names from inside a pod, kubectl logs /
	exec / port-forward (which prove the API server can authenticate to
	kubelets), a NodePort reached from the host, and Secret encryption at rest
	read straight out of etcd.

	To learn what each check guards against, break the cluster on purpose
	and repair it: "hardway lab list" has labs for etcd, routes, kubelet
	certificates, CoreDNS, kube-proxy, RBAC, a Service's selector, the
	scheduler, the controller manager, containerd, an API server and a
	kubelet, and build labs where you make CoreDNS or a node's pod routes
	by hand; "hardway lab check" uses these same checks to tell when a fix
	works.
`)
