package artifacts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"
)

// PublishedSum is a checksum file a project publishes next to its release
// (see the list above kubernetesComponent for each project's).
type PublishedSum struct {
	// URL may contain {arch}.
	URL    string
	Format SumFormat
}

// SumFormat is how a checksum file is written.
type SumFormat string

const (
	// SumBare: the file holds the hex digest and nothing else (Kubernetes'
	// BIN.sha256, crictl's ARCHIVE.sha256).
	SumBare SumFormat = "bare"
	// SumLines: sha256sum(1) output, one "hex  name" line per file ("hex
	// *name" in binary mode); the line naming the download is used, and a
	// file that does not name it is refused even if it has one line.
	// containerd, CNI and CoreDNS publish one line per archive, etcd
	// (SHA256SUMS) and runc (runc.sha256sum) one file for the whole release.
	SumLines SumFormat = "sha256sum"
)

// Bounds for fetching a checksum file. The largest real one (etcd's
// SHA256SUMS, about 15 lines) is under 2 KiB; a bigger answer is not a
// checksum file.
const (
	maxSumFileSize  = 64 << 10
	sumFetchTimeout = time.Minute
)

// Vouch says who vouched for the SHA-256 a downloaded file was checked
// against: hardway's own manifest, or the project's published checksum file.
type Vouch struct {
	Pinned bool `json:"pinned,omitempty"`
	// URL is the published checksum file, when not pinned.
	URL string `json:"url,omitempty"`
}

func (v Vouch) String() string {
	if v.Pinned {
		return "pinned in hardway's manifest"
	}
	return "published checksum at " + v.URL
}

// Verified is one downloaded release file as recorded in its cache entry.
type Verified struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	By     Vouch  `json:"vouchedBy"`
	// Files are the entry's files that came out of it.
	Files []string `json:"files"`
}

// UnavailableError means the release form cannot be used right now: no
// checksum to verify against, a missing file, an unreachable host. An
// explicit --source release fails with it; auto builds from source instead.
// A checksum mismatch is not one of these: it is a *ChecksumError and always
// fails.
type UnavailableError struct{ Msg string }

func (e *UnavailableError) Error() string { return e.Msg }

func unavailable(format string, args ...any) error {
	return &UnavailableError{Msg: fmt.Sprintf(format, args...)}
}

// IsUnavailable reports whether err says the release form is unavailable.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// expectedSHA256 decides what download d must hash to, and who says so: the
// pin for this arch when there is one (the published checksum is then not
// fetched, so a pin decides even where it disagrees with it), else the
// checksum the project publishes next to the file.
func (b *Builder) expectedSHA256(ctx context.Context, c *Component, d Download) (string, Vouch, error) {
	file := path.Base(b.expand(d.URL))
	if pin := d.SHA256[b.Store.Arch]; pin != "" {
		return strings.ToLower(pin), Vouch{Pinned: true}, nil
	}
	if d.Sum.URL == "" {
		return "", Vouch{}, unavailable("no pinned or published checksum for %s (%s %s) on %s; use --source source", file, c.Name, c.Version, b.Store.Arch)
	}
	u := b.expand(d.Sum.URL)
	body, err := b.fetchSumFile(ctx, file+" ("+c.Name+" "+c.Version+")", u)
	if err != nil {
		return "", Vouch{}, err
	}
	sum, err := parseSumFile(body, d.Sum.Format, file)
	if err != nil {
		return "", Vouch{}, unavailable("published checksum file %s: %v; use --source source", u, err)
	}
	return sum, Vouch{URL: u}, nil
}

// fetchSumFile gets the checksum file u for what (a file and its component,
// for messages), bounded in time and size.
func (b *Builder) fetchSumFile(ctx context.Context, what, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, sumFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("checksum URL %s: %v (a bug in hardway's manifest)", u, err)
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		return nil, unavailable("cannot fetch the published checksum for %s at %s: %v; check the network or use --source source", what, u, unwrapURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, unavailable("no published checksum for %s at %s; use --source source", what, u)
	case resp.StatusCode != http.StatusOK:
		return nil, unavailable("fetching the published checksum for %s at %s: HTTP %s; retry or use --source source", what, u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSumFileSize+1))
	if err != nil {
		return nil, unavailable("reading the published checksum for %s at %s: %v; retry or use --source source", what, u, err)
	}
	if len(body) > maxSumFileSize {
		return nil, unavailable("published checksum file %s is larger than %d KiB, so it is not one; use --source source", u, maxSumFileSize>>10)
	}
	return body, nil
}

// parseSumFile finds the SHA-256 of file in a checksum file. It is strict:
// anything that is not exactly the declared format is an error, because a
// lenient reader could take a digest from the wrong line or from an error
// page.
func parseSumFile(body []byte, format SumFormat, file string) (string, error) {
	switch format {
	case SumBare:
		f := strings.Fields(string(body))
		if len(f) != 1 || !isSHA256(f[0]) {
			return "", fmt.Errorf("want one 64-digit hex SHA-256 and nothing else, got %s", excerpt(body))
		}
		return strings.ToLower(f[0]), nil
	case SumLines:
		found := ""
		sc := bufio.NewScanner(bytes.NewReader(body))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			f := strings.Fields(line)
			if len(f) != 2 || !isSHA256(f[0]) {
				return "", fmt.Errorf("line %d is not \"<sha256>  <file>\": %s", n, excerpt([]byte(line)))
			}
			name := strings.TrimPrefix(strings.TrimPrefix(f[1], "*"), "./")
			if name != file {
				continue
			}
			sum := strings.ToLower(f[0])
			if found != "" && found != sum {
				return "", fmt.Errorf("lists %s twice with different sums", file)
			}
			found = sum
		}
		if err := sc.Err(); err != nil {
			return "", err
		}
		if found == "" {
			return "", fmt.Errorf("lists no %s", file)
		}
		return found, nil
	}
	return "", fmt.Errorf("unknown checksum format %q (a bug in hardway's manifest)", format)
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// excerpt quotes the start of b for an error message.
func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Sprintf("%q", s)
}
