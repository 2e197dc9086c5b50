package render

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// capSysResource is the bit of CAP_SYS_RESOURCE in a capability mask
// (linux/capability.h).
const capSysResource = 24

// DetectHostFacts reads the facts from the machine hardway runs on. Nodes are
// containers on this machine, so they see the same cgroup version and at
// most the same capabilities.
func DetectHostFacts() (Facts, error) {
	return detectFacts("/sys/fs/cgroup/cgroup.controllers", "/proc/self/status")
}

func detectFacts(cgroupControllers, procStatus string) (Facts, error) {
	var f Facts
	// cgroup v2 (unified) mounts cgroup.controllers at the top of
	// /sys/fs/cgroup; v1 and hybrid hosts do not have it there.
	switch _, err := os.Stat(cgroupControllers); {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		f.CgroupV1 = true
	default:
		return f, fmt.Errorf("detecting the cgroup version: %w (pass --cgroup v1 or v2)", err)
	}
	status, err := os.ReadFile(procStatus)
	if err != nil {
		return f, fmt.Errorf("reading capabilities: %w", err)
	}
	bnd, err := capBnd(string(status))
	if err != nil {
		return f, err
	}
	f.NoSysResource = bnd&(1<<capSysResource) == 0
	return f, nil
}

// capBnd returns the bounding capability set from /proc/<pid>/status text.
func capBnd(status string) (uint64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "CapBnd" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("reading capabilities: CapBnd %q is not a hex mask", strings.TrimSpace(v))
		}
		return n, nil
	}
	return 0, errors.New("reading capabilities: /proc/self/status has no CapBnd line")
}
