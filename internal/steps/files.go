package steps

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"hardway.dev/hardway/internal/node"
	"hardway.dev/hardway/internal/render"
)

// syncFiles makes the node's files equal to files and returns the paths that
// changed. It costs two commands per node whatever the number of files: one
// to hash what is there, one tar stream with what differs. Knowing what
// changed is what lets a re-run restart only the services whose inputs moved.
func syncFiles(ctx context.Context, n node.Node, files []render.File) ([]string, error) {
	if len(files) == 0 {
		return nil, nil
	}
	want := map[string]string{}
	args := []string{"sh", "-c", `for f in "$@"; do [ -f "$f" ] && printf '%s %s %s\n' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(stat -c %a "$f")" "$f"; done; true`, "sh"}
	for _, f := range files {
		sum := sha256.Sum256(f.Data)
		want[f.Path] = fmt.Sprintf("%s %o", hex.EncodeToString(sum[:]), f.Mode.Perm())
		args = append(args, f.Path)
	}
	out, err := n.Run(ctx, nil, args...)
	if err != nil {
		return nil, err
	}
	have := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		parts := strings.SplitN(line, " ", 3)
		if len(parts) == 3 {
			have[parts[2]] = parts[0] + " " + parts[1]
		}
	}
	var changed []render.File
	for _, f := range files {
		if have[f.Path] != want[f.Path] {
			changed = append(changed, f)
		}
	}
	if len(changed) == 0 {
		return nil, nil
	}
	archive, err := tarFiles(changed)
	if err != nil {
		return nil, err
	}
	if _, err := n.Run(ctx, bytes.NewReader(archive), "tar", "-x", "-p", "-C", "/", "-f", "-"); err != nil {
		return nil, err
	}
	paths := make([]string, len(changed))
	for i, f := range changed {
		paths[i] = f.Path
	}
	return paths, nil
}

func tarFiles(files []render.File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// GNU tar creates missing parent directories itself (0755).
	now := time.Now()
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), ModTime: now}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// anyChanged reports whether one of the changed paths starts with a prefix.
func anyChanged(changed []string, prefixes ...string) bool {
	for _, c := range changed {
		for _, p := range prefixes {
			if strings.HasPrefix(c, p) {
				return true
			}
		}
	}
	return false
}
