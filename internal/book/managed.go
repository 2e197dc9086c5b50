package book

import (
	"fmt"
	"strings"
)

// Two chapters the original tutorial's readers asked for: getting the
// prerequisites on Linux and macOS, and what a managed Kubernetes service
// runs for you compared with what this cluster makes you run.

// LinuxPackages are the Debian/Ubuntu packages hack/setup-host.sh installs
// when missing (TestPrerequisitesAreTheScripts holds the two together).
var LinuxPackages = []string{"docker.io", "debootstrap", "libseccomp-dev", "openssl", "gcc", "libc6-dev", "make", "bzip2", "iptables", "iputils-ping", "iproute2", "chromium"}

// MacFixes are the Homebrew commands hardway check gives on macOS
// (machinecheck's darwin fixes; the same test holds them).
var MacFixes = []string{"brew install go", "brew install --cask docker", "brew install colima docker", "colima start --cpu 4 --memory 8", "brew install lima"}

func (w *writer) prerequisites() Chapter {
	c := w.c
	var d doc
	d.p(`
		hardway is one Go program; what it needs around it is a container
		engine (or machines it can log in to) and, the first time, the Go
		toolchain and a few build tools, because every binary of the cluster
		is built from source through the Go module proxy. «%s» checks all of
		it and prints the fix for whatever is missing, one line each.`, w.v.hw("check"))

	d.h2("Linux (Debian, Ubuntu)")
	d.p(`
		As root, «make up» runs «hack/setup-host.sh», which installs what is
		missing and starts «dockerd» (a machine without systemd as PID 1
		included), then builds the artifacts and the node image and brings up
		the cluster. By hand, the packages are:`)
	d.pre("sh", "apt-get install -y "+strings.Join(LinuxPackages, " "))
	d.list(
		"«docker.io»: the engine the nodes run in (any engine that answers «docker info» will do; the script tests for «dockerd», not for a client);",
		"«debootstrap»: the node image is a Debian rootfs made by it; «libseccomp-dev», «gcc», «libc6-dev»: runc is built with seccomp (cgo);",
		"«make», «bzip2»: busybox for the test images, from its source tarball; «openssl», «iptables», «iputils-ping», «iproute2»: the tests and the network probe; «chromium»: the book's browser test;",
		"Go from go.dev (Kubernetes "+c.KubernetesVersion+" needs a recent Go; the module proxy must be reachable, nothing else is).",
	)
	d.p(`
		The script also raises «fs.inotify.max_user_instances»: every node
		runs systemd, containerd and a kubelet, and each takes inotify
		instances from the host's per-user budget. Other distributions need
		the same programs under their own package names.`)

	d.h2("macOS")
	d.p(`
		On a Mac the nodes live in the Linux VM of Docker Desktop or colima,
		which the Mac has no route to: hardway notices and publishes the API
		on «127.0.0.1» instead («network.hostAccess: published»). debootstrap
		does not exist there, so the node image is built with a Dockerfile.
		«hardway check» on macOS gives Homebrew's fixes:`)
	d.pre("sh", strings.Join([]string{
		MacFixes[0] + "                         # the Go toolchain",
		MacFixes[1] + "              # Docker Desktop, or:",
		MacFixes[2] + "",
		MacFixes[3] + "",
		MacFixes[4] + "                       # only for provider: lima",
		"make build && bin/hardway check",
		"bin/hardway node-image build --dockerfile",
		"bin/hardway up",
	}, "\n"))
	d.p(`
		What was proven on this project's Linux machines and what was not (the
		darwin binary has never run on a Mac) is in the README's «On a Mac».
		Apple silicon gets arm64 nodes: every artifact builds for arm64.`)

	d.h2("Machines instead of containers")
	d.p(`
		The provider in the config decides where the nodes are; this book
		describes the one of «%s» (%s). Real machines and VMs, with what
		each needs, are in docs/machines.md.`, c.Name, c.Provider)
	return Chapter{ID: "prerequisites", Part: PartStart, Title: "Getting the prerequisites on Linux and macOS", Short: "Prerequisites", Body: d.String()}
}

// managedRow is one thing a cluster needs: who runs it here and on the
// managed services.
type managedRow struct{ What, Here, Managed string }

func (w *writer) managedRows() []managedRow {
	c := w.c
	cps := len(c.ControlPlanes())
	return []managedRow{
		{"etcd", fmt.Sprintf("you: %s with mutual TLS, snapshots with «hardway etcd snapshot»", plural(cps, "member", "members")),
			"the provider; you never see it and cannot snapshot it: you back up objects (with a tool such as Velero), not etcd"},
		{"API server, controller manager, scheduler", fmt.Sprintf("you: systemd units on %s, behind a load balancer", plural(cps, "control-plane node", "control-plane nodes")),
			"the provider, on machines you do not see, with an endpoint and an SLA; you choose the version and when to upgrade"},
		{"PKI: CAs, certificates, rotation", "you: hardway's own CAs, «hardway certs renew», «certs renew --ca»",
			"the provider issues and rotates the control plane's certificates"},
		{"Who you are (authentication)", "client certificates from your CA, bound by RBAC",
			"the cloud's identity: IAM on EKS (access entries), Google accounts on GKE, Microsoft Entra ID on AKS, each mapped to RBAC"},
		{"Worker nodes", fmt.Sprintf("you: %s, every unit and file made by hardway", plural(len(c.Workers()), "worker", "workers")),
			"your VMs, usually from a node group or node pool the provider creates and upgrades for you (or no nodes at all: GKE Autopilot, EKS Fargate or Auto Mode)"},
		{"kubelet, containerd, runc", "you: built from source, configured by hand-readable files",
			"preinstalled in the provider's node image"},
		{"Pod network (CNI)", "you: the bridge plugin, routes or VXLAN between nodes",
			"the provider's plugin: pod addresses from the cloud network (Amazon VPC CNI, Azure CNI) or its own overlay and dataplane"},
		{"kube-proxy, cluster DNS", "you: kube-proxy in " + c.Network.KubeProxyMode + " mode, CoreDNS at " + c.Network.ClusterDNS,
			"installed and upgraded as add-ons (on GKE, kube-dns or Cloud DNS; some dataplanes replace kube-proxy)"},
		{"LoadBalancer Services", "you: MetalLB announcing addresses of the node network",
			"the cloud's load balancer, created by the provider's controller"},
		{"Images", "you: built here, imported or pushed to the cluster's own registry",
			"pulled from the cloud's registry or any other"},
	}
}

func (w *writer) managed() Chapter {
	var d doc
	d.p(`
		Amazon EKS, Google GKE and Azure AKS sell the part of this book that
		is hardest to run: the control plane. What you would otherwise do by
		hand, and what you still do there:`)
	var rows [][]string
	for _, r := range w.managedRows() {
		rows = append(rows, []string{r.What, r.Here, r.Managed})
	}
	d.table([]string{"What", "In this cluster", "On EKS, GKE, AKS"}, rows)
	d.p(`
		What stays yours everywhere: your workloads and their manifests, RBAC
		for your people, NetworkPolicies, resource requests, Pod Security,
		and upgrading in time (every service retires old Kubernetes versions).
		What you give up: you cannot read or change most of the API server's
		flags, its audit log reaches you through the provider's logging
		service, and nothing in this book's
		«hardway shell» is possible on a control-plane node. The labs of this
		book break exactly the pieces a managed service hides, which is why
		they are worth doing once.`)
	return Chapter{ID: "managed", Part: PartRun, Title: "What a managed service runs for you", Short: "Managed Kubernetes", Body: d.String()}
}
