package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Kubernetes release, vMAJOR.MINOR.PATCH.
type Version struct{ Major, Minor, Patch int }

// ParseVersion reads "v1.37.2".
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if !strings.HasPrefix(s, "v") || len(parts) != 3 {
		return Version{}, fmt.Errorf("%q is not a Kubernetes version like v1.37.2", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("%q is not a Kubernetes version like v1.37.2", s)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

func (v Version) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less orders versions.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// CheckVersionChange says whether a running cluster of version from may move
// to version to in place. Kubernetes' version-skew policy allows one minor
// version at a time, forward: stored objects and etcd's data format move
// only forward, so a downgrade means a new cluster.
func CheckVersionChange(from, to string) error {
	f, err := ParseVersion(from)
	if err != nil {
		return err
	}
	t, err := ParseVersion(to)
	if err != nil {
		return err
	}
	switch {
	case t == f:
		return nil
	case t.Less(f):
		return fmt.Errorf("kubernetesVersion %s is older than the cluster's %s: downgrades are not supported (etcd and stored objects only move forward); recreate the cluster to go back", to, from)
	case t.Major != f.Major:
		return fmt.Errorf("kubernetesVersion %s changes the major version of the cluster's %s; hardway upgrades within v%d only", to, from, f.Major)
	case t.Minor > f.Minor+1:
		return fmt.Errorf("kubernetesVersion %s skips a minor version from the cluster's %s; the version-skew policy allows one at a time: upgrade to v%d.%d first", to, from, f.Major, f.Minor+1)
	}
	return nil
}
