package images

import (
	"errors"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ArgoCDUID is the user Argo CD's containers, its Redis and the Git
// server run as (upstream's image user argocd, 999).
const ArgoCDUID = 999

// argocdNames are the names the multicall program answers to (upstream's
// Dockerfile links the same ones): it reads which part to be from argv[0].
func argocdNames() []string {
	return []string{"argocd-server", "argocd-repo-server", "argocd-application-controller", "argocd-cmp-server", "argocd-dex", "argocd-notifications", "argocd-applicationset-controller", "argocd-k8s-auth", "argocd-commit-server", "argocd-git-ask-pass"}
}

// withArgoCDUser adds the user and group argocd (999) with home
// /home/argocd to the base's account files.
func withArgoCDUser(base Base) []entry {
	passwd := strings.TrimRight(string(base.Passwd), "\n") + "\nargocd:x:999:999::/home/argocd:/bin/sh\n"
	group := strings.TrimRight(string(base.Group), "\n") + "\nargocd:x:999:\n"
	return []entry{
		{path: "/etc/passwd", mode: 0o644, content: []byte(passwd)},
		{path: "/etc/group", mode: 0o644, content: []byte(group)},
		{path: "/home/argocd", mode: 0o777, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
	}
}

// GitVerifyWrapper is the program the repo-server runs, by this name on its
// PATH, for every revision it renders: Argo CD v3.6 still asks for the old
// GnuPG check (for its API's sake) even when GnuPG is off, and answers
// "permission denied" for the whole manifest when the program is missing.
// It prints what git verify-commit (verify-tag for an annotated tag) says;
// an unsigned or badly signed revision (git's exit 1) is a result to show,
// not a failure, so it exits 0 then. Upstream's image ships a script of
// the same name and contract.
const GitVerifyWrapper = `#!/bin/sh
# Written by hardway for Argo CD's repo-server: print git's signature check
# of revision $1; exit non-zero only when the check itself could not run.
rev=${1:?usage: git-verify-wrapper.sh REVISION}
kind=commit
if git describe --exact-match "$rev" >/dev/null 2>&1; then
	kind=tag
fi
out=$(git "verify-$kind" "$rev" 2>&1)
rc=$?
if [ "$rc" -gt 1 ]; then
	echo "$out" >&2
	exit "$rc"
fi
# An annotated tag without a signature makes git print an error line:
# that is "unsigned", which the caller tells from empty output.
if [ "$rc" -eq 1 ] && [ "$kind" = tag ] && [ "${out%%:*}" = error ]; then
	out=
fi
echo "$out"
`

// ArgoCDImage is the argocd program at /usr/local/bin with a link for
// each of its parts, on the Debian base with git, run as argocd (999).
// Pods name the part in their command (/usr/local/bin/argocd-repo-server).
func ArgoCDImage(arch string, base Base, program string) (v1.Image, error) {
	b, err := readExecutable(program)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty argocd program")
	}
	entries := append(withArgoCDUser(base),
		entry{path: "/usr/local/bin/argocd", mode: 0o755, content: b},
		entry{path: "/usr/local/bin/git-verify-wrapper.sh", mode: 0o755, content: []byte(GitVerifyWrapper)},
		// The repo-server's gpg keyring and the controller's TLS
		// settings are read from here; pods mount over them.
		entry{path: "/app/config", mode: 0o755, dir: true},
	)
	for _, n := range argocdNames() {
		entries = append(entries, entry{path: "/usr/local/bin/" + n, mode: 0o777, link: "argocd"})
	}
	return onTop(arch, base.Layer, entries, v1.Config{
		Cmd:        []string{"argocd"},
		Env:        []string{debianPath, "HOME=/home/argocd", "USER=argocd"},
		User:       "999:999",
		WorkingDir: "/home/argocd",
	})
}

// RedisImage is Debian's redis-server on the same base, run as argocd
// (999), listening on 6379 with nothing saved to disk: Argo CD keeps
// only a cache there.
func RedisImage(arch string, base Base) (v1.Image, error) {
	return onTop(arch, base.Layer, withArgoCDUser(base), v1.Config{
		Entrypoint:   []string{"redis-server"},
		Cmd:          []string{"--save", "", "--appendonly", "no"},
		Env:          []string{debianPath},
		User:         "999:999",
		WorkingDir:   "/tmp",
		ExposedPorts: map[string]struct{}{"6379/tcp": {}},
	})
}
