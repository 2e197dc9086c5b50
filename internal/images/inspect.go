package images

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ArchiveInfo is what an image archive says about itself.
type ArchiveInfo struct {
	// OS and Arch are the platform its config names (what containerd
	// matches against the node's).
	OS, Arch string
	// Entrypoint is the program the image runs (first word of its
	// entrypoint, else of its command); empty when it names none.
	Entrypoint string
}

// InspectArchive reads the config of the single image in a docker-save
// archive.
func InspectArchive(p string) (ArchiveInfo, error) {
	img, err := tarball.ImageFromPath(p, nil)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("image archive %s: %v", p, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("image archive %s: %v", p, err)
	}
	info := ArchiveInfo{OS: cf.OS, Arch: cf.Architecture}
	if len(cf.Config.Entrypoint) > 0 {
		info.Entrypoint = cf.Config.Entrypoint[0]
	} else if len(cf.Config.Cmd) > 0 {
		info.Entrypoint = cf.Config.Cmd[0]
	}
	return info, nil
}

// ExtractFile copies one regular file of the image's file system (layers
// applied, symlinks within the image followed) to dst. It is how the program
// an image runs can be checked like any other binary.
func ExtractFile(archive, file, dst string) error {
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		return fmt.Errorf("image archive %s: %v", archive, err)
	}
	want := strings.TrimPrefix(path.Clean(file), "/")
	// A symlink chain longer than this is a loop.
	for hop := 0; hop < 8; hop++ {
		target, err := extractOne(img, want, dst)
		if err != nil {
			return fmt.Errorf("image archive %s: %s: %v", archive, file, err)
		}
		if target == "" {
			return nil
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir("/"+want), target)
		}
		want = strings.TrimPrefix(path.Clean(target), "/")
	}
	return fmt.Errorf("image archive %s: %s: too many symbolic links", archive, file)
}

// extractOne writes the regular file want to dst, or returns the target of
// the symlink want is.
func extractOne(img v1.Image, want, dst string) (string, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return "", errors.New("not in the image")
		}
		if err != nil {
			return "", err
		}
		if strings.TrimPrefix(path.Clean(h.Name), "/") != want {
			continue
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			return h.Linkname, nil
		case tar.TypeReg:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
			if err != nil {
				return "", err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return "", err
			}
			return "", f.Close()
		}
		return "", fmt.Errorf("not a regular file (tar type %q)", h.Typeflag)
	}
}
