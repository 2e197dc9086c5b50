package docker

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// HostInfo is what the docker run flags depend on besides the config. It is
// detected once (DetectHost) and can be set in tests.
type HostInfo struct {
	// Privileged: `docker run --privileged` works here. dockerd asks the
	// kernel for every capability for such a container and fails when its
	// bounding set lacks one (seen: CAP_SYS_RESOURCE missing in some VMs);
	// then nodes get an explicit capability list instead.
	Privileged bool
	// ModulesDir is the host's kernel module directory, mounted read-only so
	// kube-proxy and containerd can look at (and, with privilege, load)
	// modules; empty when the host has none.
	ModulesDir string
}

// capSysResource is CAP_SYS_RESOURCE's bit number (linux/capability.h).
const capSysResource = 24

// DetectHost looks at this process's capability bounding set (dockerd
// normally runs with the same one) and at /lib/modules.
func DetectHost() HostInfo {
	var h HostInfo
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		h.Privileged, _ = PrivilegedPossible(string(status))
	}
	if st, err := os.Stat("/lib/modules"); err == nil && st.IsDir() {
		h.ModulesDir = "/lib/modules"
	}
	return h
}

// PrivilegedPossible reports whether the CapBnd line of a /proc/PID/status
// text has CAP_SYS_RESOURCE, the capability seen missing where --privileged
// fails.
func PrivilegedPossible(status string) (bool, error) {
	const cap = capSysResource
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "CapBnd:")
		if !ok {
			continue
		}
		bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return false, fmt.Errorf("unreadable CapBnd %q", strings.TrimSpace(v))
		}
		return bits&(1<<cap) != 0, nil
	}
	return false, fmt.Errorf("no CapBnd line")
}
