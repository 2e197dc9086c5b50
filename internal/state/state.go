// Package state knows where a cluster's generated material lives on the host.
package state

import (
	"os"
	"path/filepath"
)

// Root is where every cluster's state lives: $HARDWAY_HOME, else
// $XDG_DATA_HOME/hardway, else ~/.local/share/hardway.
func Root() string {
	if d := os.Getenv("HARDWAY_HOME"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hardway")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	return filepath.Join(home, ".local", "share", "hardway")
}

// Dir is one cluster's state directory and the layout inside it.
type Dir string

// For returns the state directory of the cluster called name.
func For(name string) Dir { return Dir(filepath.Join(Root(), "clusters", name)) }

func (d Dir) Path() string        { return string(d) }
func (d Dir) PKI() string         { return filepath.Join(string(d), "pki") }
func (d Dir) Kubeconfigs() string { return filepath.Join(string(d), "kubeconfigs") }
func (d Dir) AdminKubeconfig() string {
	return filepath.Join(string(d), "kubeconfigs", "admin.kubeconfig")
}

// SuperAdminKubeconfig is the break-glass kubeconfig (group
// system:masters): it stays here and is never copied to a node.
func (d Dir) SuperAdminKubeconfig() string {
	return filepath.Join(string(d), "kubeconfigs", "super-admin.kubeconfig")
}

// UserKubeconfig is where `hardway kubeconfig --user NAME` writes the
// kubeconfig of one person.
func (d Dir) UserKubeconfig(user string) string {
	return filepath.Join(string(d), "users", user+".kubeconfig")
}
func (d Dir) EncryptionConfig() string {
	return filepath.Join(string(d), "encryption-config.yaml")
}
func (d Dir) Config() string { return filepath.Join(string(d), "cluster.yaml") }

// Lab is the record of the break-and-fix lab running on the cluster, if any
// (hardway lab): check, hint and reset read it.
func (d Dir) Lab() string { return filepath.Join(string(d), "lab.json") }

// LabsPassed records which labs the cluster has passed (lab.Passed); it
// stays when a lab is reset.
func (d Dir) LabsPassed() string { return filepath.Join(string(d), "labs-passed.json") }

// KnownHosts holds the SSH host keys of the cluster's machines, recorded
// on first contact (providers ssh and lima).
func (d Dir) KnownHosts() string { return filepath.Join(string(d), "known_hosts") }

// Exists reports whether the cluster has any state on this host.
func (d Dir) Exists() bool {
	_, err := os.Stat(string(d))
	return err == nil
}
