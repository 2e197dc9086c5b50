package book

import (
	"fmt"

	"hardway.dev/hardway/internal/verify"
)

const controlLoopsTitle = "Control loops: how Kubernetes keeps its promises"

func (w *writer) controlLoops() Chapter {
	c := w.c
	var d doc
	d.p(`
		A thermostat does not run the heating "for ten minutes". You tell it
		the temperature you want; it measures the temperature there is; if the
		two differ, it switches the heating on or off; then it measures again,
		forever. Whatever happens in between (a window opens, the sun comes
		out), the next round corrects it.`)
	d.p(`
		Kubernetes is built from such loops, called *controllers*. You never ask
		it to *do* something; you write down what you *want* (an object's
		«spec») and controllers keep comparing it with what *is* (the
		«status», and the real world) and act on the difference. That is why
		«kubectl apply» returns at once although nothing runs yet, and why a
		deleted pod comes back.`)

	d.h2("Watch, compare, act")
	d.p(`
		Every controller in this cluster follows the same pattern, through the
		API server at «%s»:`, c.APIServerURL())
	d.list(
		"**Watch**: list the objects it cares about once, then keep one long HTTP request open on which the API server streams every change («?watch=true»). Nobody polls.",
		"**Compare**: for each object that changed, work out the difference between spec and reality. Controllers are *level-triggered*: they look at the whole current state, not at the event, so a missed event is corrected by the next one.",
		"**Act**: write objects (create a pod, update a status) or change the world (start a container, program iptables), then wait for the next change.",
	)

	d.h2("The loops of this cluster")
	d.p(`
		Each loop below watches the API and writes one kind of change; the
		next loop watches for that change. None of them calls another:`)
	d.img(w.loops)
	d.table([]string{"Loop", "Runs in", "Watches", "Makes it so by"}, [][]string{
		{"Deployment controller", "kube-controller-manager", "Deployments", "creating and scaling ReplicaSets (one per pod template: that is a rollout)"},
		{"ReplicaSet controller", "kube-controller-manager", "ReplicaSets and their Pods", "creating or deleting Pods until the count matches"},
		{"Scheduler", "kube-scheduler", "Pods without «spec.nodeName»", "picking a node and writing a Binding"},
		{"Kubelet", "kubelet on " + nodeNames(c.Workers()), "Pods bound to its own node", "asking containerd to start or stop containers, then reporting the pod's status"},
		{"Node lifecycle controller", "kube-controller-manager", "each Node's heartbeat Lease in «kube-node-lease»", "marking a silent node NotReady and, later, evicting its pods"},
		{"EndpointSlice controller", "kube-controller-manager", "Services and ready Pods", "listing which pod IPs back each Service"},
		{"kube-proxy", "kube-proxy on every worker", "Services and EndpointSlices", "rewriting " + c.Network.KubeProxyMode + " rules so Service IPs reach pods"},
		{"CoreDNS", "the «coredns» pods", "Services and EndpointSlices", "answering DNS queries for «*.svc." + c.Network.ClusterDomain + "»"},
		{"ServiceAccount controller", "kube-controller-manager", "Namespaces", "creating the «default» service account in every namespace"},
	})
	d.p(`
		The controller manager is started with «--use-service-account-credentials=true»:
		each of its controllers talks to the API with its own service account
		(«system:serviceaccount:kube-system:deployment-controller», …), so RBAC
		grants each only what that loop needs and the audit log at
		«/var/log/audit.log» names the loop that made a change.`)

	d.h2("Only one leader at a time")
	if n := len(c.ControlPlanes()); n > 1 {
		d.p(`
			kube-controller-manager and kube-scheduler run on all %d control-plane
			nodes, but two schedulers placing the same pod would be a mess. So
			each instance tries to hold a *Lease* object («kube-system/kube-controller-manager»,
			«kube-system/kube-scheduler»): the holder renews it every few seconds
			and acts; the others only watch the lease and take over when it
			expires. «hardway up» waits for both leases to be held before it
			calls %s done.`, n, w.stepLink("control-plane"))
	} else {
		d.p(`
			With one control-plane node there is one instance of each, but they
			still elect a leader through a *Lease* object («kube-system/kube-controller-manager»,
			«kube-system/kube-scheduler»): add control-plane nodes and the new
			instances wait for the lease instead of fighting over the work.
			«hardway up» waits for both leases before it calls %s done.`, w.stepLink("control-plane"))
	}

	d.h2("hardway is a control loop too")
	d.p(`
		«hardway up» works the same way. Each step compares what the nodes have
		(file hashes and modes, installed binaries, running units) with what the
		config asks for, and changes only the difference: a second «hardway up»
		changes nothing, and a changed node IP reissues exactly the
		certificates that name it. Waiting is done by watching real conditions
		(etcd health, «/readyz», leases, Ready nodes, a DNS answer), never by
		sleeping.`)

	d.h2("See a loop at work")
	d.p(`
		«hardway verify» leaves a Deployment «hello» in namespace «%s», one pod
		per worker. Delete its pods and watch the ReplicaSet controller
		replace them within a second or two, and the scheduler spread them
		again (the commands are in the table below).`, verify.Namespace)
	d.pre("sh", fmt.Sprintf("kubectl -n %[1]s get pods -o wide --watch &\nkubectl -n %[1]s delete pod -l app=hello --wait=false", verify.Namespace))
	return Chapter{ID: "control-loops", Part: PartStart, Title: controlLoopsTitle, Short: "Control loops", Body: d.String()}
}
