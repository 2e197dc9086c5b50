package steps

import (
	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/render"
)

// All is the whole build, in order. `hardway steps` prints it; `hardway up`
// runs it; --from/--only pick from it.
func All() []Step {
	out := []Step{
		checkStep(),
		nodesStep(),
		pkiStep(),
		kubeconfigsStep(),
		encryptionStep(),
		etcdStep(),
		controlPlaneStep(),
		workersStep(),
		networkStep(),
		dnsStep(),
	}
	out = append(out, addonSteps()...)
	return append(out, verifyStep())
}

// The units each step converges on a node, in start order. render.NodeUnits
// declares what a node runs; a test checks that these lists cover every unit
// it can declare, so no rendered file is left undeployed.
func etcdUnits() []string { return []string{render.UnitEtcd} }

// snapshotUnits run on the node that takes scheduled etcd snapshots
// (render.SnapshotNode), after etcd.
func snapshotUnits(c *config.Cluster) []string {
	if _, ok := render.SnapshotNode(c); ok {
		return []string{render.UnitEtcdSnapshotTimer}
	}
	return nil
}

// controlPlaneUnits: the kubelet serving-certificate approver runs beside
// the API server whose kubectl it uses.
func controlPlaneUnits() []string {
	return []string{render.UnitAPIServer, render.UnitControllerManager, render.UnitScheduler, render.UnitCSRApproverTimer}
}

// runtimeUnits start before the kubelet: containerd, the unit that stops
// pods at shutdown, and on machines with several API servers the
// node-local load balancer kubelet talks to.
func runtimeUnits(c *config.Cluster) []string {
	if c.NodeLocalLB() {
		return []string{render.UnitContainerd, render.UnitPodsStop, render.UnitNodeLB}
	}
	return []string{render.UnitContainerd, render.UnitPodsStop}
}
func agentUnits() []string   { return []string{render.UnitKubelet, render.UnitKubeProxy} }
func networkUnits() []string { return []string{render.PodNetworkUnit} }

// deployedUnits is every unit some step converges on c's nodes.
func deployedUnits(c *config.Cluster) []string {
	var out []string
	for _, l := range [][]string{etcdUnits(), snapshotUnits(c), controlPlaneUnits(), runtimeUnits(c), agentUnits(), networkUnits()} {
		out = append(out, l...)
	}
	return out
}
