package nodeimage

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hardway.dev/hardway/internal/exec"
)

// SSHRepository is the image of SSH machines: the node image plus sshd and
// a sudo user, to try provider ssh on one host (and to test it) with
// containers that play the part of servers hardway does not own.
const SSHRepository = "hardway/node-ssh"

// SSHUser is the sudo user of SSH machines.
const SSHUser = "hardway"

// SSHAuthorizedKeysDir is where an SSH machine looks for a public key file
// per user (bind-mount one there).
const SSHAuthorizedKeysDir = "/etc/ssh/authorized_keys"

//go:embed files/ssh-machine.sh
var sshMachineScript []byte

// sshPackages are installed on top of the node image.
func sshPackages() []string { return []string{"sudo"} }

// SSHDockerfile builds an SSH machine from the node image of tag base. The
// build context must hold ssh-machine.sh.
func SSHDockerfile(base string) string {
	var b strings.Builder
	b.WriteString("# hardway SSH machine: the node image, sshd and a sudo user (provider ssh on one host).\n")
	b.WriteString("FROM " + base + "\n")
	b.WriteString("RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends " + strings.Join(sshPackages(), " ") +
		" \\\n && rm -rf /var/lib/apt/lists/*\n")
	b.WriteString("COPY ssh-machine.sh /tmp/hardway-ssh-machine.sh\n")
	b.WriteString("RUN sh /tmp/hardway-ssh-machine.sh && rm -f /tmp/hardway-ssh-machine.sh\n")
	return b.String()
}

// SSHTag is the SSH machine image of the current recipes: it changes with
// the node image and with its own recipe.
func SSHTag() string {
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile=%s\nscript=%d:%s\n", SSHDockerfile(Tag()), len(sshMachineScript), sshMachineScript)
	return SSHRepository + ":" + hex.EncodeToString(h.Sum(nil))[:12]
}

// EnsureSSH returns the SSH machine image, building the node image and then
// it when missing. Its apt-get needs the Debian mirror (no registry).
func EnsureSSH(ctx context.Context, o Options) (string, error) {
	base, err := Ensure(ctx, Options{Runner: o.Runner, Log: o.Log, Mirror: o.Mirror, WorkDir: o.WorkDir, Dockerfile: o.Dockerfile})
	if err != nil {
		return "", err
	}
	tag := SSHTag()
	ok, err := Exists(ctx, o.Runner, tag)
	if err != nil {
		return "", err
	}
	if ok && !o.Force {
		logf(o.Log, 0, "SSH machine image %s up to date", tag)
		return tag, nil
	}
	start := time.Now()
	dir, err := os.MkdirTemp(o.WorkDir, "hardway-ssh-machine-")
	if err != nil {
		return "", fmt.Errorf("creating a build context directory: %w", err)
	}
	defer os.RemoveAll(dir)
	for name, data := range map[string][]byte{"Dockerfile": []byte(SSHDockerfile(base)), "ssh-machine.sh": sshMachineScript} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", fmt.Errorf("writing the Docker build context: %w", err)
		}
	}
	logf(o.Log, 0, "[1/1] docker build %s FROM %s (installs %s from the Debian mirror; -v shows its output)", tag, base, strings.Join(sshPackages(), " "))
	_, err = o.Runner.Run(ctx, exec.Cmd{
		Name:   "docker",
		Args:   []string{"build", "-t", tag, dir},
		Stream: &lineLogger{log: o.Log, level: 1, prefix: "  docker build: "},
	})
	if err != nil {
		return "", fmt.Errorf("docker build of the SSH machine image failed (its apt-get needs the Debian mirror): %w", err)
	}
	logf(o.Log, 0, "SSH machine image %s built in %s", tag, time.Since(start).Round(time.Second))
	return tag, nil
}
