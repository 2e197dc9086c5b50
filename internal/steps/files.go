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

// diffFiles returns the files whose content or mode on the node differs from
// files (missing ones included). One command whatever the number of files.
func diffFiles(ctx context.Context, n node.Node, files []render.File) ([]render.File, error) {
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
	return changed, nil
}

// newSuffix marks a file extracted next to its target; a rename in the same
// directory then replaces the target at once, so a watcher (containerd reads
// /etc/cni/net.d as it changes) never sees half a file.
const newSuffix = ".hardway-new"

// writeFiles sends files to the node in one tar stream, each replaced
// atomically.
func writeFiles(ctx context.Context, n node.Node, files []render.File) error {
	if len(files) == 0 {
		return nil
	}
	archive, err := tarFiles(files)
	if err != nil {
		return err
	}
	args := []string{"sh", "-c", `tar -x -p -C / -f - && for f in "$@"; do mv -f "$f` + newSuffix + `" "$f"; done`, "sh"}
	for _, f := range files {
		args = append(args, f.Path)
	}
	_, err = n.Run(ctx, bytes.NewReader(archive), args...)
	return err
}

// syncFiles makes the node's files equal to files and returns the paths that
// changed: two commands per node whatever the number of files.
func syncFiles(ctx context.Context, n node.Node, files []render.File) ([]string, error) {
	changed, err := diffFiles(ctx, n, files)
	if err != nil {
		return nil, err
	}
	if err := writeFiles(ctx, n, changed); err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range changed {
		paths = append(paths, f.Path)
	}
	return paths, nil
}

func tarFiles(files []render.File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// GNU tar creates missing parent directories itself (0755).
	now := time.Now()
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/") + newSuffix, Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), ModTime: now}
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
