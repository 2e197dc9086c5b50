// Package render produces every file a node receives (systemd units,
// component configs, certificates, kubeconfigs) from embedded templates.
package render

import "hardway.dev/hardway/internal/converge"

// Facts are what render must know about the machine a node runs on, because
// the right settings differ between hosts.
type Facts struct {
	// CgroupV1: the node sees cgroup v1 hierarchies. Kubernetes >= 1.35
	// refuses cgroup v1 unless told failCgroupV1: false.
	CgroupV1 bool
	// NoSysResource: the node lacks CAP_SYS_RESOURCE, so containerd must not
	// try to give pods a negative oom_score_adj (restrict_oom_score_adj).
	NoSysResource bool
}

// File is one file destined for a node, at its absolute path there.
type File = converge.File
