package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Source names where an entry came from; it is part of the cache key so a
// downloaded binary never silently stands in for a built one or vice versa.
type Source string

const (
	SourceAuto    Source = "auto"
	SourceBuild   Source = "source"
	SourceRelease Source = "release"
	SourceDir     Source = "dir"
)

// markerName is written last inside the staging directory; an entry without
// it is not complete (belt and braces on top of the atomic rename).
const markerName = ".complete.json"

// Store is the artifact cache rooted at Root, for one CPU architecture.
//
// Layout: <Root>/artifacts/<component>/<version>/<source>-<arch>/<files>
// plus <Root>/tmp for staging directories on the same filesystem.
type Store struct {
	Root string
	Arch string
}

// DefaultRoot is $HARDWAY_CACHE, else $XDG_CACHE_HOME/hardway, else
// ~/.cache/hardway.
func DefaultRoot() (string, error) {
	if r := os.Getenv("HARDWAY_CACHE"); r != "" {
		return filepath.Abs(r)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Abs(filepath.Join(x, "hardway"))
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the cache directory (%v); set HARDWAY_CACHE", err)
	}
	return filepath.Join(home, ".cache", "hardway"), nil
}

// NewStore opens the cache at root for this machine's architecture.
func NewStore(root string) *Store { return &Store{Root: root, Arch: runtime.GOARCH} }

// Entry is one complete cache entry.
type Entry struct {
	Component string
	Version   string
	Source    Source
	Arch      string
	Dir       string // absolute
	Files     []EntryFile
	Created   time.Time
	// Took is how long obtaining it took (build or download).
	Took time.Duration
	// Origin says what exactly it came from (a URL, a module@version, a dir).
	Origin string
	// Verified lists, for release downloads, each downloaded file, the
	// SHA-256 it matched and who vouched for that value. Empty for other
	// sources, and for release entries cached before hardway recorded it.
	Verified []Verified
	// Image is the reference an image archive was tagged with.
	Image string
}

// VouchFor says who vouched for the download a file of the entry came out
// of; false when the entry records none (not a release download).
func (e *Entry) VouchFor(file string) (Vouch, bool) {
	for _, v := range e.Verified {
		for _, f := range v.Files {
			if f == file {
				return v.By, true
			}
		}
	}
	return Vouch{}, false
}

// EntryFile is one file of an entry.
type EntryFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type marker struct {
	Component string        `json:"component"`
	Version   string        `json:"version"`
	Source    Source        `json:"source"`
	Arch      string        `json:"arch"`
	Files     []EntryFile   `json:"files"`
	Created   time.Time     `json:"created"`
	Took      time.Duration `json:"took"`
	Origin    string        `json:"origin,omitempty"`
	Verified  []Verified    `json:"verified,omitempty"`
	Image     string        `json:"image,omitempty"`
}

func (s *Store) artifactsDir() string { return filepath.Join(s.Root, "artifacts") }

// EntryDir is where a complete entry lives.
func (s *Store) EntryDir(component, version string, src Source) string {
	return filepath.Join(s.artifactsDir(), component, version, string(src)+"-"+s.Arch)
}

// Get returns the complete entry for exactly this key.
func (s *Store) Get(component, version string, src Source) (*Entry, bool) {
	dir := s.EntryDir(component, version, src)
	b, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		return nil, false
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, false
	}
	for _, f := range m.Files {
		if st, err := os.Stat(filepath.Join(dir, f.Name)); err != nil || st.Size() != f.Size {
			return nil, false
		}
	}
	return &Entry{Component: m.Component, Version: m.Version, Source: m.Source, Arch: m.Arch, Dir: dir,
		Files: m.Files, Created: m.Created, Took: m.Took, Origin: m.Origin, Verified: m.Verified, Image: m.Image}, true
}

// Find returns a complete entry for component and version from any source,
// preferring a build from source, then a release download, then a user dir.
func (s *Store) Find(component, version string) (*Entry, bool) {
	for _, src := range []Source{SourceBuild, SourceRelease, SourceDir} {
		if e, ok := s.Get(component, version, src); ok {
			return e, true
		}
	}
	return nil, false
}

// hasFiles reports whether the entry holds every named file.
func (e *Entry) hasFiles(names []string) bool {
	have := map[string]bool{}
	for _, f := range e.Files {
		have[f.Name] = true
	}
	for _, n := range names {
		if !have[n] {
			return false
		}
	}
	return true
}

// hasAll reports whether the entry holds every file the component lists
// and, for an image, carries the reference the component names (an archive
// tagged before the reference changed must be rebuilt: containerd would
// import it under the old name).
func (e *Entry) hasAll(c *Component) bool {
	if c.Image != "" && e.Image != c.Image {
		return false
	}
	var names []string
	for _, f := range c.Files {
		names = append(names, f.Name)
	}
	return e.hasFiles(names)
}

// Stage is a staging directory for a new entry. Fill Dir (and Verified, for
// a release download), then Commit; any other outcome (error, crash, Ctrl-C)
// leaves no entry behind.
type Stage struct {
	s   *Store
	Dir string
	// Verified is recorded in the entry's marker at Commit.
	Verified []Verified
	// Image is the reference an image archive carries, recorded likewise.
	Image     string
	component string
	version   string
	src       Source
	done      bool
}

// NewStage makes a staging directory under <Root>/tmp, on the same filesystem
// as the entries so that Commit can rename atomically.
func (s *Store) NewStage(component, version string, src Source) (*Stage, error) {
	tmp := filepath.Join(s.Root, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the cache directory %s: %v; set HARDWAY_CACHE to a writable directory", tmp, err)
	}
	dir, err := os.MkdirTemp(tmp, component+"-"+version+"-")
	if err != nil {
		return nil, fmt.Errorf("cannot create a staging directory in %s: %v", tmp, err)
	}
	return &Stage{s: s, Dir: dir, component: component, version: version, src: src}, nil
}

// Abort removes the staging directory; safe to call after Commit.
func (st *Stage) Abort() {
	if st.done {
		return
	}
	st.done = true
	_ = makeWritable(st.Dir)
	_ = os.RemoveAll(st.Dir)
}

// Commit checks that every named file is in the staging directory, writes the
// marker and renames the directory into place.
func (st *Stage) Commit(files []string, took time.Duration, origin string) (*Entry, error) {
	if st.done {
		return nil, errors.New("internal error: stage already committed or aborted")
	}
	m := marker{Component: st.component, Version: st.version, Source: st.src, Arch: st.s.Arch,
		Created: time.Now().UTC(), Took: took, Origin: origin, Verified: st.Verified, Image: st.Image}
	for _, name := range files {
		sum, size, err := fileSHA256(filepath.Join(st.Dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s %s: expected file %s was not produced: %v", st.component, st.version, name, err)
		}
		m.Files = append(m.Files, EntryFile{Name: name, Size: size, SHA256: sum})
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(st.Dir, markerName), b); err != nil {
		return nil, err
	}
	final := st.s.EntryDir(st.component, st.version, st.src)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, err
	}
	// Make the staged directory world-readable: nodes read it through a
	// read-only bind mount, perhaps as another user.
	if err := os.Chmod(st.Dir, 0o755); err != nil {
		return nil, err
	}
	// Another hardway process may have finished the same entry meanwhile:
	// keep that one, it may already be in use. An older entry that lacks a
	// file or carries another image reference is replaced instead.
	if e, ok := st.s.Get(st.component, st.version, st.src); ok && e.Image == st.Image && e.hasFiles(files) {
		st.Abort()
		return e, nil
	}
	// A previous entry for the same key (for example one whose files were
	// damaged and so failed Get) is moved aside first: rename(2) does not
	// replace a non-empty directory.
	if _, err := os.Stat(final); err == nil {
		old := st.Dir + ".old"
		if err := os.Rename(final, old); err != nil {
			return nil, fmt.Errorf("cannot replace the stale cache entry %s: %v; remove it by hand", final, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(st.Dir, final); err != nil {
		return nil, fmt.Errorf("cannot move %s into the cache at %s: %v", st.Dir, final, err)
	}
	st.done = true
	e, ok := st.s.Get(st.component, st.version, st.src)
	if !ok {
		return nil, fmt.Errorf("internal error: cache entry %s unreadable right after commit", final)
	}
	return e, nil
}

// List returns every complete entry, sorted by component, version, source.
func (s *Store) List() ([]*Entry, error) {
	var out []*Entry
	comps, err := os.ReadDir(s.artifactsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, c := range comps {
		versions, _ := os.ReadDir(filepath.Join(s.artifactsDir(), c.Name()))
		for _, v := range versions {
			keys, _ := os.ReadDir(filepath.Join(s.artifactsDir(), c.Name(), v.Name()))
			for _, k := range keys {
				src, arch, ok := strings.Cut(k.Name(), "-")
				if !ok || arch != s.Arch {
					continue
				}
				if e, ok := s.Get(c.Name(), v.Name(), Source(src)); ok {
					out = append(out, e)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Source < b.Source
	})
	return out, nil
}

// CleanStale removes staging directories older than age, left by builds that
// were killed.
func (s *Store) CleanStale(age time.Duration) {
	tmp := filepath.Join(s.Root, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < age {
			continue
		}
		p := filepath.Join(tmp, e.Name())
		_ = makeWritable(p)
		_ = os.RemoveAll(p)
	}
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// makeWritable undoes the read-only modes the Go module cache gives its
// files, so that copies of modules can be deleted.
func makeWritable(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			_ = os.Chmod(p, 0o755)
		}
		return nil
	})
}
