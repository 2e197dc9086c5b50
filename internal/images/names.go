// Package images builds the pod images the cluster needs as OCI archives,
// locally, without any registry.
package images

// References the cluster uses. They live under a registry name that does not
// exist on purpose: kubelet and containerd find them already imported and
// never try to pull (pods use imagePullPolicy: Never / IfNotPresent).
const (
	// Pause must equal containerd's CRI sandbox image setting.
	Pause = "hardway.local/pause:3.10"
	// TestApp serves HTTP and carries nslookup and wget for smoke tests.
	// 1.1: upstream busybox instead of Debian's, whose wget -T crashed.
	TestApp = "hardway.local/testapp:1.1"
)

// CoreDNSRef is the reference of the CoreDNS image that packs CoreDNS
// version v (the version differs per Kubernetes release).
func CoreDNSRef(v string) string { return "hardway.local/coredns:" + v }
