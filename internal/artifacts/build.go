package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/logx"
)

// Builder fills a Store with the artifacts of a manifest.
type Builder struct {
	Store *Store
	Run   hexec.Runner
	Log   logx.Logger
	// Stream receives the output of builds as they run (for -v); nil: quiet.
	Stream io.Writer
	// HTTP downloads releases; nil: a client with sane timeouts.
	HTTP *http.Client
	// ProbeTimeout bounds the reachability check of --source auto (3 s).
	ProbeTimeout time.Duration
	// OnProgress, when set, is called once per component when it is ready.
	OnProgress func(Progress)
	// GoBin is the go command (default "go").
	GoBin string
	// HaveSeccomp overrides the libseccomp check for an architecture
	// (tests).
	HaveSeccomp func(arch string) bool
	// HaveTool overrides the PATH lookup of build tools such as the cross
	// compiler and qemu-user (tests).
	HaveTool func(name string) bool
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// DebianMirror serves busybox's source and the e2e image base; empty:
	// deb.debian.org.
	DebianMirror string
}

// Progress reports one component.
type Progress struct {
	Component string
	Version   string
	Source    Source
	// Status is "cached", "built", "downloaded" or "copied".
	Status  string
	Elapsed time.Duration
	Entry   *Entry
}

// Option is how to obtain artifacts: a Source, and for SourceDir the
// directory.
type Option struct {
	Source Source
	Dir    string
}

// ParseSource reads --source: auto, source, release or dir:PATH.
func ParseSource(s string) (Option, error) {
	switch {
	case s == "" || s == string(SourceAuto):
		return Option{Source: SourceAuto}, nil
	case s == string(SourceBuild):
		return Option{Source: SourceBuild}, nil
	case s == string(SourceRelease):
		return Option{Source: SourceRelease}, nil
	case strings.HasPrefix(s, "dir:"):
		d := strings.TrimPrefix(s, "dir:")
		if d == "" {
			return Option{}, errors.New("--source dir: needs a directory, like dir:/path/to/bin")
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return Option{}, err
		}
		return Option{Source: SourceDir, Dir: abs}, nil
	}
	return Option{}, fmt.Errorf("--source %q: want auto, source, release or dir:PATH", s)
}

func (b *Builder) log() logx.Logger {
	if b.Log == nil {
		return logx.Discard{}
	}
	return b.Log
}

func (b *Builder) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Builder) httpClient() *http.Client {
	if b.HTTP != nil {
		return b.HTTP
	}
	return &http.Client{Timeout: 30 * time.Minute}
}

// Build makes sure every component of m is in the store, obtaining what is
// missing the way opt says. Components already cached (from any source) are
// reused.
func (b *Builder) Build(ctx context.Context, m *Manifest, opt Option) ([]*Entry, error) {
	b.Store.CleanStale(24 * time.Hour)
	reach := map[string]bool{} // host → answered, for auto; per call, not global
	var out []*Entry
	for i := range m.Components {
		c := &m.Components[i]
		start := b.now()
		if e, ok := b.cached(c, opt); ok {
			out = append(out, e)
			b.progress(Progress{Component: c.Name, Version: c.Version, Source: e.Source, Status: "cached", Elapsed: b.now().Sub(start), Entry: e})
			continue
		}
		src := b.choose(ctx, c, opt, reach)
		e, status, err := b.obtain(ctx, m, c, src, opt.Dir)
		if err != nil && opt.Source == SourceAuto && src == SourceRelease && IsUnavailable(err) {
			// auto promised a working cluster, not a download: a release
			// that cannot be verified or fetched is built instead. A
			// checksum mismatch is not "unavailable" and still fails.
			b.log().Logf(0, "%s %s: release download not usable (%v): building from source instead", c.Name, c.Version, err)
			src = SourceBuild
			e, status, err = b.obtain(ctx, m, c, src, opt.Dir)
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
		b.progress(Progress{Component: c.Name, Version: c.Version, Source: src, Status: status, Elapsed: b.now().Sub(start), Entry: e})
	}
	return out, nil
}

// cached finds an entry to reuse. With an explicit source only that source's
// entry counts, so that `--source release` really gives release binaries;
// auto takes whatever is there. Images are always built locally.
func (b *Builder) cached(c *Component, opt Option) (*Entry, bool) {
	var e *Entry
	var ok bool
	if opt.Source == SourceAuto || c.Image != "" {
		e, ok = b.Store.Find(c.Name, c.Version)
	} else {
		e, ok = b.Store.Get(c.Name, c.Version, opt.Source)
	}
	// An entry made before the component gained a file (etcd gained
	// etcdutl) is rebuilt rather than used without it.
	if ok && !e.hasAll(c) {
		return nil, false
	}
	return e, ok
}

func (b *Builder) progress(p Progress) {
	if b.OnProgress != nil {
		b.OnProgress(p)
	}
}

// choose resolves auto for one component: the release when every file has a
// pinned or published checksum for this arch and every host it comes from
// answers; otherwise a source build.
func (b *Builder) choose(ctx context.Context, c *Component, opt Option, reach map[string]bool) Source {
	if c.Image != "" {
		return SourceBuild
	}
	if opt.Source != SourceAuto {
		return opt.Source
	}
	if len(c.Release) == 0 {
		b.log().Logf(1, "%s %s: no release form, building from source", c.Name, c.Version)
		return SourceBuild
	}
	if u := b.missingChecksum(c); u != "" {
		b.log().Logf(1, "%s %s: no pinned or published checksum for %s, building from source", c.Name, c.Version, path.Base(u))
		return SourceBuild
	}
	for _, d := range c.Release {
		for _, raw := range []string{d.URL, d.Sum.URL} {
			if raw == "" {
				continue
			}
			u, err := url.Parse(b.expand(raw))
			if err != nil {
				b.log().Logf(0, "%s %s: release URL %s unreadable (%v): building from source instead", c.Name, c.Version, raw, err)
				return SourceBuild
			}
			host := u.Scheme + "://" + u.Host
			ok, seen := reach[host]
			if !seen {
				err := b.probe(ctx, host)
				ok = err == nil
				reach[host] = ok
				if ok {
					b.log().Logf(0, "release host %s answers: downloading releases from it", host)
				} else {
					b.log().Logf(0, "release host %s did not answer within %s (%v): building from source instead", host, b.probeTimeout(), err)
				}
			}
			if !ok {
				return SourceBuild
			}
		}
	}
	return SourceRelease
}

func (b *Builder) probeTimeout() time.Duration {
	if b.ProbeTimeout > 0 {
		return b.ProbeTimeout
	}
	return 3 * time.Second
}

// probe is a HEAD request that only has to get any HTTP answer (even an
// error status) within the probe timeout; it says why not otherwise.
func (b *Builder) probe(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, b.probeTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, host+"/", nil)
	if err != nil {
		return err
	}
	resp, err := b.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("no answer")
		}
		return unwrapURLError(err)
	}
	resp.Body.Close()
	return nil
}

// missingChecksum names the first download with neither a pinned SHA-256
// for the store's arch nor a published checksum file, or "".
func (b *Builder) missingChecksum(c *Component) string {
	for _, d := range c.Release {
		if d.SHA256[b.Store.Arch] == "" && d.Sum.URL == "" {
			return b.expand(d.URL)
		}
	}
	return ""
}

func (b *Builder) expand(s string) string { return strings.ReplaceAll(s, "{arch}", b.Store.Arch) }

// obtain fills a staging directory from src, checks every binary's version
// and commits the entry.
func (b *Builder) obtain(ctx context.Context, m *Manifest, c *Component, src Source, dir string) (*Entry, string, error) {
	st, err := b.Store.NewStage(c.Name, c.Version, src)
	if err != nil {
		return nil, "", err
	}
	defer st.Abort()
	st.Image = c.Image
	start := b.now()
	var origin, status string
	switch src {
	case SourceBuild:
		b.log().Logf(0, "building %s %s from source…", c.Name, c.Version)
		origin, err = b.buildSource(ctx, m, c, st.Dir)
		status = "built"
	case SourceRelease:
		if c.Image != "" {
			origin, err = b.buildSource(ctx, m, c, st.Dir)
			status = "built"
			break
		}
		b.log().Logf(0, "downloading %s %s…", c.Name, c.Version)
		origin, st.Verified, err = b.download(ctx, c, st.Dir)
		status = "downloaded"
	case SourceDir:
		if c.Image != "" {
			origin, err = b.buildSource(ctx, m, c, st.Dir)
			status = "built"
			break
		}
		origin, err = b.copyFromDir(c, dir, st.Dir)
		status = "copied"
	default:
		err = fmt.Errorf("internal error: source %q", src)
	}
	if err != nil {
		return nil, "", err
	}
	if err := b.checkVersions(ctx, c, st.Dir, src); err != nil {
		return nil, "", err
	}
	var names []string
	for _, f := range c.Files {
		names = append(names, f.Name)
	}
	e, err := st.Commit(names, b.now().Sub(start), origin)
	if err != nil {
		return nil, "", err
	}
	return e, status, nil
}

// copyFromDir takes the user's binaries from dir.
func (b *Builder) copyFromDir(c *Component, dir, stage string) (string, error) {
	for _, f := range c.Files {
		from := filepath.Join(dir, f.Name)
		if _, err := os.Stat(from); err != nil {
			return "", fmt.Errorf("--source dir:%s has no %s (%s %s); put it there or use --source source", dir, f.Name, c.Name, c.Version)
		}
		if err := copyFile(from, filepath.Join(stage, f.Name), 0o755); err != nil {
			return "", fmt.Errorf("copying %s: %v", from, err)
		}
	}
	return "dir " + dir, nil
}

// checkVersions runs each binary to ask its version: a build that forgot to
// stamp it, or a user's binary of another version, fails here, before it can
// be cached. Binaries of another architecture run under qemu-user
// (qemu-aarch64-static BINARY ARGS, no binfmt_misc needed), which also
// proves they are programs of that architecture; without qemu-user the check
// is skipped, and says so.
func (b *Builder) checkVersions(ctx context.Context, c *Component, dir string, src Source) error {
	emulator := ""
	if b.Store.Arch != runtime.GOARCH {
		emulator = QemuUser(b.Store.Arch)
		if !b.haveTool(emulator) {
			if hasVersionCheck(c) {
				b.log().Logf(0, "%s %s: versions not checked: %s binaries need %s to run here (apt-get install qemu-user-static)", c.Name, c.Version, b.Store.Arch, emulator)
			}
			return nil
		}
	}
	for _, f := range c.Files {
		if f.VersionWant == "" {
			continue
		}
		p := filepath.Join(dir, f.Name)
		var buf bytes.Buffer
		cmd := hexec.Cmd{Name: p, Args: f.VersionArgs, Stream: &buf}
		if emulator != "" {
			cmd = hexec.Cmd{Name: emulator, Args: append([]string{p}, f.VersionArgs...), Stream: &buf}
		}
		_, err := b.Run.Run(ctx, cmd)
		if err != nil && !f.VersionAnyExit {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s %s: %s does not run (%v)%s", c.Name, c.Version, f.Name, err, fixFor(src))
		}
		got := buf.String()
		if !strings.Contains(got, f.VersionWant) {
			first := strings.TrimSpace(got)
			if i := strings.IndexByte(first, '\n'); i >= 0 {
				first = first[:i]
			}
			return fmt.Errorf("%s reports %q, want %q (pinned %s %s)%s", f.Name, first, f.VersionWant, c.Name, c.Version, fixFor(src))
		}
	}
	return nil
}

func hasVersionCheck(c *Component) bool {
	for _, f := range c.Files {
		if f.VersionWant != "" {
			return true
		}
	}
	return false
}

// QemuUser is Debian's qemu-user-static program that runs binaries of a Go
// architecture on another: qemu-aarch64-static for arm64.
func QemuUser(goarch string) string {
	switch goarch {
	case "arm64":
		return "qemu-aarch64-static"
	case "amd64":
		return "qemu-x86_64-static"
	}
	return "qemu-" + goarch + "-static"
}

func fixFor(src Source) string {
	switch src {
	case SourceDir:
		return "; put the pinned version in the directory or use --source source"
	case SourceBuild:
		return "; this is a bug in the build recipe"
	}
	return ""
}

// notBuilt is the error for a missing entry.
func notBuilt(component, version string) error {
	return fmt.Errorf("artifact %s %s not built; run: hardway artifacts build (--kubernetes-version VERSION for another version than the cluster's)", component, version)
}
