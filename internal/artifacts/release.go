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
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// download fetches every release file of c into stage. It learns every
// expected SHA-256 first, so a missing checksum fails before any large
// download, and checks each file while it is written, before anything is
// unpacked. It returns the origin and what vouched for each file.
func (b *Builder) download(ctx context.Context, c *Component, stage string) (string, []Verified, error) {
	if len(c.Release) == 0 {
		return "", nil, unavailable("%s %s has no release download; use --source source", c.Name, c.Version)
	}
	type expected struct {
		sum string
		by  Vouch
	}
	want := make([]expected, len(c.Release))
	for i, d := range c.Release {
		sum, by, err := b.expectedSHA256(ctx, c, d)
		if err != nil {
			return "", nil, err
		}
		want[i] = expected{sum, by}
	}
	var origins []string
	var verified []Verified
	for i, d := range c.Release {
		u := b.expand(d.URL)
		tmp := filepath.Join(stage, ".download")
		if err := b.fetch(ctx, u, tmp, want[i].sum, want[i].by); err != nil {
			return "", nil, err
		}
		var files []string
		if d.Members == nil {
			if err := os.Rename(tmp, filepath.Join(stage, d.As)); err != nil {
				return "", nil, err
			}
			if err := os.Chmod(filepath.Join(stage, d.As), 0o755); err != nil {
				return "", nil, err
			}
			files = []string{d.As}
		} else {
			members := map[string]string{}
			for k, v := range d.Members {
				members[b.expand(k)] = v
				files = append(files, v)
			}
			sort.Strings(files)
			err := extractMembers(tmp, members, stage)
			os.Remove(tmp)
			if err != nil {
				return "", nil, fmt.Errorf("unpacking %s: %v", u, err)
			}
		}
		origins = append(origins, u)
		verified = append(verified, Verified{URL: u, SHA256: want[i].sum, By: want[i].by, Files: files})
	}
	return strings.Join(origins, " "), verified, nil
}

// fetch downloads u to dst and checks its SHA-256 while writing.
func (b *Builder) fetch(ctx context.Context, u, dst, want string, by Vouch) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		return unavailable("downloading %s: %v; check the network or use --source source", u, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return unavailable("downloading %s: HTTP %s; use --source source", u, resp.Status)
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		f.Close()
		os.Remove(dst)
		return unavailable("downloading %s: %v; retry or use --source source", u, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		os.Remove(dst)
		return &ChecksumError{File: path.Base(u), URL: u, Expected: want, Got: got, By: by}
	}
	return nil
}

// ChecksumError is a download whose SHA-256 is not the expected one.
type ChecksumError struct {
	File, URL, Expected, Got string
	By                       Vouch
}

func (e *ChecksumError) Error() string {
	fix := "a proxy or mirror may have altered it: retry, or use --source source"
	if e.By.Pinned {
		fix = "if the project's published checksum says " + e.Got + ", hardway's pin is wrong (the pin decides; report it); otherwise a proxy or mirror altered the download: retry, or use --source source"
	}
	return fmt.Sprintf("checksum mismatch for %s (%s): expected sha256 %s (%s), got %s; nothing was cached; %s", e.File, e.URL, e.Expected, e.By, e.Got, fix)
}

// unwrapURLError drops net/http's "Get \"URL\": " prefix: messages name the
// URL themselves.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
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
