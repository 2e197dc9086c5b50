package artifacts

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	hexec "hardway.dev/hardway/internal/exec"
)

// An air-gapped bundle is one tar file with everything a cluster of one
// Kubernetes version and architecture needs from this host: every cache
// entry of the version's manifest (files and marker, which carries the
// provenance: origin, build time, who vouched for a download) and the node
// image as a `docker save` archive.
//
// The first member is the bundle manifest (BundleManifestName): every other
// member's path, size, SHA-256 and mode. It comes first so that an import
// knows what to expect before it reads anything else and can name the member
// that does not match; the node image is therefore saved to a temporary file
// first (its digest is only known once it is written). Members follow in the
// manifest's order, paths as in the cache (artifacts/<component>/<version>/
// <source>-<arch>/<file>), so `tar -x` into an empty cache also works.
//
// The manifest vouches only for the members; nothing vouches for the
// manifest itself except the SHA-256 of the whole file, which export prints
// and `import --sha256` checks.

// BundleFormat names this layout; an import refuses any other.
const BundleFormat = "hardway-bundle/1"

// BundleManifestName is the first member of a bundle.
const BundleManifestName = "hardway-bundle.json"

// BundleManifest is the first member of a bundle.
type BundleManifest struct {
	Format            string        `json:"format"`
	KubernetesVersion string        `json:"kubernetesVersion"`
	Arch              string        `json:"arch"`
	Created           time.Time     `json:"created"`
	NodeImage         BundleImage   `json:"nodeImage"`
	Entries           []BundleEntry `json:"entries"`
	Files             []BundleFile  `json:"files"`
}

// BundleImage is the node image in a bundle.
type BundleImage struct {
	Tag string `json:"tag"`
	// ID is Docker's image ID (the config digest), which docker save and
	// docker load keep.
	ID   string `json:"id"`
	File string `json:"file"`
}

// BundleEntry is one cache entry in a bundle.
type BundleEntry struct {
	Component string `json:"component"`
	Version   string `json:"version"`
	Source    Source `json:"source"`
	// Dir is the entry's directory relative to the cache root.
	Dir   string   `json:"dir"`
	Files []string `json:"files"`
	Image string   `json:"image,omitempty"`
}

// BundleFile is one member of a bundle.
type BundleFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Mode   uint32 `json:"mode"`
}

// BundleSize is the sum of the members' sizes.
func (m *BundleManifest) BundleSize() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// ImageTool saves and loads the node image; DockerImages is the real one.
type ImageTool interface {
	// ID is the image ID of tag, "" when Docker has no such image.
	ID(ctx context.Context, tag string) (string, error)
	Save(ctx context.Context, tag, file string) error
	Load(ctx context.Context, file string) error
}

// DockerImages is ImageTool through the docker command.
type DockerImages struct{ Run hexec.Runner }

func (d DockerImages) ID(ctx context.Context, tag string) (string, error) {
	out, err := d.Run.Run(ctx, hexec.Cmd{Name: "docker", Args: []string{"image", "inspect", "--format", "{{.Id}}", tag}})
	if err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	if re, ok := hexec.IsRunError(err); ok && re.ExitCode > 0 && strings.Contains(strings.ToLower(re.Output()), "no such image") {
		return "", nil
	}
	return "", fmt.Errorf("cannot ask Docker about image %s (is dockerd running? try `hardway check`): %w", tag, err)
}

func (d DockerImages) Save(ctx context.Context, tag, file string) error {
	if _, err := d.Run.Run(ctx, hexec.Cmd{Name: "docker", Args: []string{"save", "-o", file, tag}}); err != nil {
		return fmt.Errorf("docker save of the node image %s failed: %w", tag, err)
	}
	return nil
}

func (d DockerImages) Load(ctx context.Context, file string) error {
	if _, err := d.Run.Run(ctx, hexec.Cmd{Name: "docker", Args: []string{"load", "-i", file}}); err != nil {
		return fmt.Errorf("docker load of the node image failed: %w", err)
	}
	return nil
}

// BundleProgress reports one member written or read.
type BundleProgress struct {
	// Phase is "save" (the node image saved by Docker), "write", "verify",
	// "install", or "keep" (already in the cache or in Docker).
	Phase string
	// N of Total members; Path is the member.
	N, Total int
	Path     string
	Size     int64
	// Done of Bytes are the members' bytes handled so far.
	Done, Bytes int64
	Elapsed     time.Duration
}

// ExportOptions say what to export.
type ExportOptions struct {
	Store             *Store
	KubernetesVersion string
	NodeImageTag      string
	Images            ImageTool
	OnProgress        func(BundleProgress)
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

func (o *ExportOptions) progress(p BundleProgress) {
	if o.OnProgress != nil {
		o.OnProgress(p)
	}
}

// ExportResult is what Export wrote.
type ExportResult struct {
	Manifest *BundleManifest
	// SHA256 of the whole bundle file, for `import --sha256`.
	SHA256 string
	Bytes  int64
}

// ExportFile writes the bundle to file, through file.partial renamed at the
// end: an interrupted export leaves no file that looks whole.
func ExportFile(ctx context.Context, o ExportOptions, file string) (*ExportResult, error) {
	tmp := file + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("cannot create the bundle: %v; pick a writable path", err)
	}
	res, err := Export(ctx, o, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return res, nil
}

// Export writes the bundle of o.KubernetesVersion for o.Store.Arch to w.
func Export(ctx context.Context, o ExportOptions, w io.Writer) (*ExportResult, error) {
	s := o.Store
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	m, err := ManifestFor(o.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	bm := &BundleManifest{Format: BundleFormat, KubernetesVersion: m.KubernetesVersion, Arch: s.Arch, Created: now().UTC().Truncate(time.Second)}
	// src maps each member to where its bytes are on this host.
	src := map[string]string{}
	for _, c := range m.Components {
		e, ok := s.Find(c.Name, c.Version)
		if !ok || !e.hasAll(&c) {
			return nil, fmt.Errorf("cannot export: artifact %s %s (%s) is not in the cache %s; run: hardway artifacts build%s first", c.Name, c.Version, s.Arch, s.Root, archFlag(s.Arch, m.KubernetesVersion))
		}
		rel, err := filepath.Rel(s.Root, e.Dir)
		if err != nil {
			return nil, err
		}
		rel = filepath.ToSlash(rel)
		be := BundleEntry{Component: e.Component, Version: e.Version, Source: e.Source, Dir: rel, Image: e.Image}
		for _, f := range e.Files {
			p := path.Join(rel, f.Name)
			st, err := os.Stat(filepath.Join(e.Dir, f.Name))
			if err != nil {
				return nil, fmt.Errorf("cannot export %s: %v; run: hardway artifacts build", p, err)
			}
			be.Files = append(be.Files, f.Name)
			bm.Files = append(bm.Files, BundleFile{Path: p, Size: f.Size, SHA256: f.SHA256, Mode: uint32(st.Mode().Perm())})
			src[p] = filepath.Join(e.Dir, f.Name)
		}
		// The marker is the entry's provenance; it is hashed here because
		// no record holds its digest.
		mp := path.Join(rel, markerName)
		sum, size, err := fileSHA256(filepath.Join(e.Dir, markerName))
		if err != nil {
			return nil, fmt.Errorf("cannot export %s: %v", mp, err)
		}
		bm.Files = append(bm.Files, BundleFile{Path: mp, Size: size, SHA256: sum, Mode: 0o644})
		src[mp] = filepath.Join(e.Dir, markerName)
		bm.Entries = append(bm.Entries, be)
	}

	// The node image, saved first: its digest goes into the manifest.
	id, err := o.Images.ID(ctx, o.NodeImageTag)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("cannot export: the node image %s is not in Docker; run: hardway node-image build%s first", o.NodeImageTag, archOnly(s.Arch))
	}
	tmp, err := s.tmpDir("export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	imgFile := filepath.Join(tmp, "node-image.tar")
	start := time.Now()
	if err := o.Images.Save(ctx, o.NodeImageTag, imgFile); err != nil {
		return nil, err
	}
	sum, size, err := fileSHA256(imgFile)
	if err != nil {
		return nil, fmt.Errorf("reading the saved node image: %v", err)
	}
	imgPath := "node-image/" + strings.NewReplacer("/", "-", ":", "-").Replace(o.NodeImageTag) + ".tar"
	bm.NodeImage = BundleImage{Tag: o.NodeImageTag, ID: id, File: imgPath}
	bm.Files = append(bm.Files, BundleFile{Path: imgPath, Size: size, SHA256: sum, Mode: 0o644})
	src[imgPath] = imgFile
	o.progress(BundleProgress{Phase: "save", Path: o.NodeImageTag, Size: size, Elapsed: time.Since(start)})

	hw := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, hw)}
	tw := tar.NewWriter(cw)
	mb, err := json.MarshalIndent(bm, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(bundleHeader(BundleManifestName, int64(len(mb)), 0o644, bm.Created)); err != nil {
		return nil, err
	}
	if _, err := tw.Write(mb); err != nil {
		return nil, err
	}
	total, done := bm.BundleSize(), int64(0)
	for i, f := range bm.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := writeMember(tw, f, src[f.Path], bm.Created); err != nil {
			return nil, err
		}
		done += f.Size
		o.progress(BundleProgress{Phase: "write", N: i + 1, Total: len(bm.Files), Path: f.Path, Size: f.Size, Done: done, Bytes: total, Elapsed: time.Since(start)})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &ExportResult{Manifest: bm, SHA256: hex.EncodeToString(hw.Sum(nil)), Bytes: cw.n}, nil
}

// writeMember copies file into the tar as f, checking on the way that it
// still has the size and digest its cache entry recorded: a damaged cache
// must not be exported as a good bundle.
func writeMember(tw *tar.Writer, f BundleFile, file string, mtime time.Time) error {
	in, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("cannot export %s: %v", f.Path, err)
	}
	defer in.Close()
	if err := tw.WriteHeader(bundleHeader(f.Path, f.Size, int64(f.Mode), mtime)); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(in, f.Size+1))
	if err != nil && !errors.Is(err, tar.ErrWriteTooLong) {
		return fmt.Errorf("cannot export %s: %v", f.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != f.Size || got != f.SHA256 {
		return fmt.Errorf("cannot export: the cached file %s changed since it was cached (%d bytes, sha256 %s; its entry says %d, %s); remove %s and run: hardway artifacts build", file, n, short(got), f.Size, short(f.SHA256), filepath.Dir(file))
	}
	return nil
}

func bundleHeader(name string, size, mode int64, mtime time.Time) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: mode, ModTime: mtime, Format: tar.FormatPAX}
}

// ImportOptions say where to import into.
type ImportOptions struct {
	// Store is the cache to fill; its Arch must be the bundle's.
	Store *Store
	// NodeImageTag is this hardway's node image for Store.Arch: a bundle
	// with another one is refused (up would build its own anyway).
	NodeImageTag string
	Images       ImageTool
	// Name is how errors call the bundle (its path).
	Name string
	// SHA256, when set, is the digest the whole bundle must have.
	SHA256     string
	OnProgress func(BundleProgress)
}

func (o *ImportOptions) progress(p BundleProgress) {
	if o.OnProgress != nil {
		o.OnProgress(p)
	}
}

// ImportResult says what an import changed.
type ImportResult struct {
	Manifest *BundleManifest
	// Installed and Kept are cache entries (component version source):
	// Kept were already cached and left as they were.
	Installed, Kept []string
	// ImageLoaded is false when Docker already had the node image.
	ImageLoaded bool
}

// ImportFile imports the bundle in file.
func ImportFile(ctx context.Context, o ImportOptions, file string) (*ImportResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cannot open the bundle: %v", err)
	}
	defer f.Close()
	if o.Name == "" {
		o.Name = file
	}
	return Import(ctx, o, f)
}

// Import reads a bundle, verifies every member against its manifest into a
// staging directory of the cache, and only when all of them match loads the
// node image and renames each entry into the cache. A refusal installs
// nothing.
func Import(ctx context.Context, o ImportOptions, r io.Reader) (*ImportResult, error) {
	s := o.Store
	name := o.Name
	if name == "" {
		name = "bundle"
	}
	hw := sha256.New()
	tr := tar.NewReader(io.TeeReader(r, hw))
	bm, err := readBundleManifest(tr, name)
	if err != nil {
		return nil, err
	}
	if err := checkBundleManifest(bm, s, o.NodeImageTag, name); err != nil {
		return nil, err
	}

	stage, err := s.tmpDir("import-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(stage) }()

	want := map[string]BundleFile{}
	for _, f := range bm.Files {
		want[f.Path] = f
	}
	seen := map[string]bool{}
	start := time.Now()
	total, done := bm.BundleSize(), int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bundle %s is damaged or truncated after %d of %d files (%v); nothing was installed: copy or export it again", name, len(seen), len(bm.Files), err)
		}
		f, ok := want[hdr.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("bundle %s holds %s, which its manifest does not list; nothing was installed: export it again", name, hdr.Name)
		case seen[hdr.Name]:
			return nil, fmt.Errorf("bundle %s holds %s twice; nothing was installed: export it again", name, hdr.Name)
		case hdr.Typeflag != tar.TypeReg:
			return nil, fmt.Errorf("bundle %s: %s is not a regular file; nothing was installed: export it again", name, hdr.Name)
		}
		seen[hdr.Name] = true
		if err := stageMember(tr, hdr, f, stage, name); err != nil {
			return nil, err
		}
		done += f.Size
		o.progress(BundleProgress{Phase: "verify", N: len(seen), Total: len(bm.Files), Path: f.Path, Size: f.Size, Done: done, Bytes: total, Elapsed: time.Since(start)})
	}
	for _, f := range bm.Files {
		if !seen[f.Path] {
			return nil, fmt.Errorf("bundle %s lacks %s, which its manifest lists (truncated?); nothing was installed: copy or export it again", name, f.Path)
		}
	}
	if o.SHA256 != "" {
		// The tar trailer and any padding count too.
		if _, err := io.Copy(io.Discard, io.TeeReader(r, hw)); err != nil {
			return nil, fmt.Errorf("reading the rest of bundle %s: %v", name, err)
		}
		if got := hex.EncodeToString(hw.Sum(nil)); !strings.EqualFold(got, o.SHA256) {
			return nil, fmt.Errorf("bundle %s has sha256 %s, not the %s given with --sha256; nothing was installed: copy or export it again", name, got, o.SHA256)
		}
	}
	// The markers inside must say what the manifest says: they are what
	// the cache trusts once the entry is installed.
	for _, e := range bm.Entries {
		if err := checkStagedMarker(stage, e, bm, want, name); err != nil {
			return nil, err
		}
	}

	res := &ImportResult{Manifest: bm}
	id, err := o.Images.ID(ctx, bm.NodeImage.Tag)
	if err != nil {
		return nil, err
	}
	if id != bm.NodeImage.ID {
		if err := o.Images.Load(ctx, filepath.Join(stage, filepath.FromSlash(bm.NodeImage.File))); err != nil {
			return nil, err
		}
		id, err := o.Images.ID(ctx, bm.NodeImage.Tag)
		if err != nil {
			return nil, err
		}
		if id != bm.NodeImage.ID {
			return nil, fmt.Errorf("docker load of %s gave image %q as %s, the bundle says %s; remove it (docker rmi %s) and import again", bm.NodeImage.File, id, bm.NodeImage.Tag, bm.NodeImage.ID, bm.NodeImage.Tag)
		}
		res.ImageLoaded = true
		o.progress(BundleProgress{Phase: "install", Path: "node image " + bm.NodeImage.Tag + " (docker load)", Elapsed: time.Since(start)})
	} else {
		o.progress(BundleProgress{Phase: "keep", Path: "node image " + bm.NodeImage.Tag + " (Docker has it)", Elapsed: time.Since(start)})
	}
	for _, e := range bm.Entries {
		key := e.Component + " " + e.Version + " " + string(e.Source)
		installed, err := installStaged(s, stage, e)
		if err != nil {
			return nil, err
		}
		phase := "install"
		if installed {
			res.Installed = append(res.Installed, key)
		} else {
			res.Kept = append(res.Kept, key)
			phase = "keep"
		}
		o.progress(BundleProgress{Phase: phase, Path: e.Dir, Elapsed: time.Since(start)})
	}
	return res, nil
}

func readBundleManifest(tr *tar.Reader, name string) (*BundleManifest, error) {
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%s is not a hardway bundle (no tar member: %v); make one with: hardway artifacts export FILE", name, err)
	}
	if hdr.Name != BundleManifestName {
		return nil, fmt.Errorf("%s is not a hardway bundle (its first member is %s, not %s); make one with: hardway artifacts export FILE", name, hdr.Name, BundleManifestName)
	}
	if hdr.Size > 4<<20 {
		return nil, fmt.Errorf("bundle %s: %s is %d bytes, too large to be a manifest; export it again", name, BundleManifestName, hdr.Size)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, fmt.Errorf("bundle %s is truncated in %s: %v; copy or export it again", name, BundleManifestName, err)
	}
	var bm BundleManifest
	if err := json.Unmarshal(b, &bm); err != nil {
		return nil, fmt.Errorf("bundle %s: %s is not valid JSON (%v); export it again", name, BundleManifestName, err)
	}
	if bm.Format != BundleFormat {
		return nil, fmt.Errorf("bundle %s has format %q; this hardway reads %q: export it with this hardway version", name, bm.Format, BundleFormat)
	}
	return &bm, nil
}

// checkBundleManifest refuses a bundle that this hardway could not use as
// it is: another architecture, a version it does not pin, an entry missing
// or different from the manifest, another node image recipe, or a path that
// would land outside the cache.
func checkBundleManifest(bm *BundleManifest, s *Store, nodeTag, name string) error {
	if bm.Arch != s.Arch {
		return fmt.Errorf("bundle %s holds %s artifacts, not %s: import it with --arch %s (the nodes' architecture), or export the %s ones with --arch %s", name, bm.Arch, s.Arch, bm.Arch, s.Arch, s.Arch)
	}
	m, err := ManifestFor(bm.KubernetesVersion)
	if err != nil {
		return fmt.Errorf("bundle %s: %v", name, err)
	}
	if bm.NodeImage.Tag != nodeTag {
		return fmt.Errorf("bundle %s carries node image %s, but this hardway's recipe is %s: export the bundle with this hardway version", name, bm.NodeImage.Tag, nodeTag)
	}
	files := map[string]bool{}
	for _, f := range bm.Files {
		if !filepath.IsLocal(f.Path) || path.Clean(f.Path) != f.Path || f.Size < 0 || !isSHA256(f.SHA256) || f.Mode&^0o777 != 0 {
			return fmt.Errorf("bundle %s lists %q (size %d, sha256 %q, mode %o), which is not a file in a cache; export it again", name, f.Path, f.Size, f.SHA256, f.Mode)
		}
		if files[f.Path] {
			return fmt.Errorf("bundle %s lists %s twice; export it again", name, f.Path)
		}
		files[f.Path] = true
	}
	if !files[bm.NodeImage.File] {
		return fmt.Errorf("bundle %s lists no file for its node image (%s); export it again", name, bm.NodeImage.File)
	}
	for _, c := range m.Components {
		i := slices.IndexFunc(bm.Entries, func(e BundleEntry) bool { return e.Component == c.Name && e.Version == c.Version })
		if i < 0 {
			return fmt.Errorf("bundle %s lacks %s %s, which Kubernetes %s needs: export it with this hardway version", name, c.Name, c.Version, bm.KubernetesVersion)
		}
		e := bm.Entries[i]
		wantDir := path.Join("artifacts", e.Component, e.Version, string(e.Source)+"-"+bm.Arch)
		if e.Dir != wantDir || !slices.Contains([]Source{SourceBuild, SourceRelease, SourceDir}, e.Source) {
			return fmt.Errorf("bundle %s: entry %s %s is at %s, not %s; export it again", name, e.Component, e.Version, e.Dir, wantDir)
		}
		have := &Entry{Image: e.Image}
		for _, f := range append(slices.Clone(e.Files), markerName) {
			if !files[path.Join(e.Dir, f)] {
				return fmt.Errorf("bundle %s: entry %s %s names %s, which its manifest does not list; export it again", name, e.Component, e.Version, f)
			}
			have.Files = append(have.Files, EntryFile{Name: f})
		}
		if !have.hasAll(&c) {
			return fmt.Errorf("bundle %s: entry %s %s is not what this hardway needs (files %s, image %q): export it with this hardway version", name, e.Component, e.Version, strings.Join(e.Files, " "), e.Image)
		}
	}
	return nil
}

// stageMember copies one member into the staging directory, checking its
// size and digest against the manifest.
func stageMember(tr *tar.Reader, hdr *tar.Header, f BundleFile, stage, name string) error {
	if hdr.Size != f.Size {
		return fmt.Errorf("bundle %s: %s does not match its manifest (%d bytes, the manifest says %d); nothing was installed: copy or export it again", name, f.Path, hdr.Size, f.Size)
	}
	dst := filepath.Join(stage, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, os.FileMode(f.Mode))
	if err != nil {
		return fmt.Errorf("cannot stage %s: %v; check the space in %s", f.Path, err, stage)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), tr)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("bundle %s is truncated in %s (%d of %d bytes); nothing was installed: copy or export it again", name, f.Path, n, f.Size)
	case err != nil:
		return fmt.Errorf("cannot stage %s from bundle %s: %v", f.Path, name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("bundle %s: %s does not match its manifest (sha256 %s, the manifest says %s); nothing was installed: copy or export it again", name, f.Path, short(got), short(f.SHA256))
	}
	// The umask may have taken bits away; nodes read the cache as it is.
	return os.Chmod(dst, os.FileMode(f.Mode))
}

// checkStagedMarker compares a staged entry's marker with the manifest.
func checkStagedMarker(stage string, e BundleEntry, bm *BundleManifest, want map[string]BundleFile, name string) error {
	mp := path.Join(e.Dir, markerName)
	b, err := os.ReadFile(filepath.Join(stage, filepath.FromSlash(mp)))
	if err != nil {
		return err
	}
	var mk marker
	if err := json.Unmarshal(b, &mk); err != nil {
		return fmt.Errorf("bundle %s: %s is not a cache marker (%v); export it again", name, mp, err)
	}
	bad := mk.Component != e.Component || mk.Version != e.Version || mk.Source != e.Source || mk.Arch != bm.Arch || mk.Image != e.Image || len(mk.Files) != len(e.Files)
	for _, f := range mk.Files {
		w := want[path.Join(e.Dir, f.Name)]
		bad = bad || !slices.Contains(e.Files, f.Name) || w.Size != f.Size || w.SHA256 != f.SHA256
	}
	if bad {
		return fmt.Errorf("bundle %s: %s does not match its manifest (another entry, or other files); nothing was installed: export it again", name, mp)
	}
	return nil
}

// installStaged renames a staged entry into the cache; false when the
// cache already has a complete entry under that key (kept: it may be in
// use, and it was verified when it was made).
func installStaged(s *Store, stage string, e BundleEntry) (bool, error) {
	if _, ok := s.Get(e.Component, e.Version, e.Source); ok {
		return false, nil
	}
	final := s.EntryDir(e.Component, e.Version, e.Source)
	dir := filepath.Join(stage, filepath.FromSlash(e.Dir))
	if err := os.Chmod(dir, 0o755); err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return false, fmt.Errorf("cannot create %s: %v; set HARDWAY_CACHE to a writable directory", filepath.Dir(final), err)
	}
	// An incomplete or damaged entry under the key is moved aside:
	// rename(2) does not replace a non-empty directory.
	if _, err := os.Stat(final); err == nil {
		old := dir + ".old"
		if err := os.Rename(final, old); err != nil {
			return false, fmt.Errorf("cannot replace the stale cache entry %s: %v; remove it by hand", final, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(dir, final); err != nil {
		return false, fmt.Errorf("cannot move %s into the cache at %s: %v", dir, final, err)
	}
	if _, ok := s.Get(e.Component, e.Version, e.Source); !ok {
		return false, fmt.Errorf("internal error: cache entry %s unreadable right after import", final)
	}
	return true, nil
}

// tmpDir makes a directory under <Root>/tmp, on the cache's file system so
// that staged entries are renamed, not copied, into place.
func (s *Store) tmpDir(prefix string) (string, error) {
	tmp := filepath.Join(s.Root, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("cannot create the cache directory %s: %v; set HARDWAY_CACHE to a writable directory", tmp, err)
	}
	dir, err := os.MkdirTemp(tmp, prefix)
	if err != nil {
		return "", fmt.Errorf("cannot create a staging directory in %s: %v", tmp, err)
	}
	return dir, nil
}

func archFlag(arch, version string) string {
	return archOnly(arch) + " --kubernetes-version " + version
}

func archOnly(arch string) string {
	if arch == "" || arch == runtime.GOARCH {
		return ""
	}
	return " --arch " + arch
}

// short is a digest cut for a message.
func short(sum string) string {
	if len(sum) > 16 {
		return sum[:16] + "…"
	}
	return sum
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
