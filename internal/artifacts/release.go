package artifacts

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// download fetches every release file of c into stage, verifying each
// against its pinned SHA-256 before anything is unpacked.
func (b *Builder) download(ctx context.Context, c *Component, stage string) (string, error) {
	if len(c.Release) == 0 {
		return "", fmt.Errorf("%s %s has no release download; use --source source", c.Name, c.Version)
	}
	if u := b.missingChecksum(c); u != "" {
		return "", fmt.Errorf("no pinned checksum for %s %s (%s) on %s; use --source source", c.Name, c.Version, path.Base(u), b.Store.Arch)
	}
	var origins []string
	for _, d := range c.Release {
		u := b.expand(d.URL)
		want := d.SHA256[b.Store.Arch]
		tmp := filepath.Join(stage, ".download")
		if err := b.fetch(ctx, u, tmp, want); err != nil {
			return "", err
		}
		if d.Members == nil {
			if err := os.Rename(tmp, filepath.Join(stage, d.As)); err != nil {
				return "", err
			}
			if err := os.Chmod(filepath.Join(stage, d.As), 0o755); err != nil {
				return "", err
			}
		} else {
			members := map[string]string{}
			for k, v := range d.Members {
				members[b.expand(k)] = v
			}
			err := extractMembers(tmp, members, stage)
			os.Remove(tmp)
			if err != nil {
				return "", fmt.Errorf("unpacking %s: %v", u, err)
			}
		}
		origins = append(origins, u)
	}
	return strings.Join(origins, " "), nil
}

// fetch downloads u to dst and checks its SHA-256 while writing.
func (b *Builder) fetch(ctx context.Context, u, dst, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %v; check the network or use --source source", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: HTTP %s; use --source source", u, resp.Status)
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("downloading %s: %v", u, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		os.Remove(dst)
		return &ChecksumError{File: path.Base(u), URL: u, Expected: want, Got: got}
	}
	return nil
}

// ChecksumError is a download whose SHA-256 is not the pinned one.
type ChecksumError struct {
	File, URL, Expected, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("checksum mismatch for %s (%s): expected sha256 %s, got %s; nothing was cached (a proxy or mirror may have altered it; retry, or use --source source)", e.File, e.URL, e.Expected, e.Got)
}

// extractMembers copies the named regular files out of a .tar.gz.
func extractMembers(archive string, members map[string]string, dst string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	found := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := h.Name
		as, ok := members[name]
		if !ok {
			// Archives differ on a leading "./".
			as, ok = members["./"+strings.TrimPrefix(name, "./")]
			if !ok {
				as, ok = members[strings.TrimPrefix(name, "./")]
			}
		}
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		o, err := os.OpenFile(filepath.Join(dst, as), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, tr); err != nil {
			o.Close()
			return err
		}
		if err := o.Close(); err != nil {
			return err
		}
		found[as] = true
	}
	for m, as := range members {
		if !found[as] {
			return fmt.Errorf("the archive has no %s", m)
		}
	}
	return nil
}
