package artifacts

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	osexec "os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
)

// The Runner seam has no environment or working directory, so builds run as
// `env K=V ... go -C DIR ...`: env(1) sets the variables, go's -C flag the
// directory. Everything else in the environment (GOPATH, GOMODCACHE, GOPROXY,
// GOCACHE) stays the user's, so every build shares one module and build cache.

// goCmd is a go command with environment settings.
func (b *Builder) goCmd(env []string, args ...string) hexec.Cmd {
	a := append([]string{}, env...)
	a = append(a, b.goBin())
	a = append(a, args...)
	return hexec.Cmd{Name: "env", Args: a, Stream: b.Stream}
}

func (b *Builder) goBin() string {
	if b.GoBin != "" {
		return b.GoBin
	}
	return "go"
}

// buildEnv is the environment of every build for the store's architecture.
// A cgo build for another architecture than this host's uses Debian's cross
// toolchain: CC is the triplet's gcc, and pkg-config (which cgo asks for
// libseccomp's flags) reads only the target's .pc files, so the host's
// libseccomp is never linked into an arm64 runc.
func (b *Builder) buildEnv(r *SourceRecipe) []string {
	cgo := "0"
	if r.CGO {
		cgo = "1"
	}
	env := []string{"CGO_ENABLED=" + cgo, "GOOS=linux", "GOARCH=" + b.Store.Arch}
	if r.GoToolchain != "" {
		env = append(env, "GOTOOLCHAIN="+r.GoToolchain)
	}
	if r.CGO && b.Store.Arch != runtime.GOARCH {
		t := triplet(b.Store.Arch)
		env = append(env, "CC="+t+"-gcc", "PKG_CONFIG_LIBDIR=/usr/lib/"+t+"/pkgconfig:/usr/share/pkgconfig")
	}
	return env
}

// triplet is Debian's multiarch name of a Go architecture: the prefix of
// its cross tools (aarch64-linux-gnu-gcc) and its library directory
// (/usr/lib/aarch64-linux-gnu).
func triplet(goarch string) string {
	switch goarch {
	case "arm64":
		return "aarch64-linux-gnu"
	case "amd64":
		return "x86_64-linux-gnu"
	}
	return goarch + "-linux-gnu"
}

// crossSetup is the one command that installs the cross toolchain for arch.
func crossSetup(arch string) string {
	if arch == "arm64" {
		return "hack/setup-arm64.sh (gcc-aarch64-linux-gnu, libseccomp-dev:arm64)"
	}
	return fmt.Sprintf("dpkg --add-architecture %s && apt-get update && apt-get install gcc-%s libseccomp-dev:%s", arch, strings.ReplaceAll(triplet(arch), "_", "-"), arch)
}

// buildFlags are the flags every build shares: reproducible paths, stripped
// binaries, version stamps.
func buildFlags(r *SourceRecipe) []string {
	ld := "-s -w"
	for _, x := range r.LDFlags {
		ld += " -X " + x
	}
	if r.StaticCGO {
		ld += " -linkmode external -extldflags -static"
	}
	flags := []string{"-trimpath", "-buildvcs=false", "-ldflags", ld}
	if len(r.Tags) > 0 {
		flags = append(flags, "-tags", strings.Join(r.Tags, ","))
	}
	return flags
}

// moduleInfo is what `go mod download -json` says about a module.
type moduleInfo struct {
	Path    string
	Version string
	Dir     string
	GoMod   string
	Info    string // path of the .info file, which holds the tag's Time
	Error   string
}

// download fetches a module into the module cache and says where it is.
func (b *Builder) modDownload(ctx context.Context, module, version string) (*moduleInfo, error) {
	return b.modDownloadWith(ctx, nil, module, version)
}

// modDownloadWith is modDownload with environment settings: GOTOOLCHAIN
// for a module whose go line this host's go is too old for (without it
// go mod download fetches the zip but refuses to unpack it).
func (b *Builder) modDownloadWith(ctx context.Context, env []string, module, version string) (*moduleInfo, error) {
	c := b.goCmd(env, "mod", "download", "-json", module+"@"+version)
	c.Stream = nil // JSON on stdout; progress would garble it
	out, err := b.Run.Run(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("cannot download %s@%s from the Go module proxy: %w", module, version, err)
	}
	var mi moduleInfo
	if err := json.Unmarshal(out, &mi); err != nil {
		return nil, fmt.Errorf("go mod download %s@%s: unreadable answer: %v", module, version, err)
	}
	if mi.Error != "" {
		return nil, fmt.Errorf("go mod download %s@%s: %s", module, version, mi.Error)
	}
	return &mi, nil
}

// buildSource builds component c into dir (the staging directory).
func (b *Builder) buildSource(ctx context.Context, m *Manifest, c *Component, dir string) (origin string, err error) {
	r := c.Source
	if r == nil {
		return "", fmt.Errorf("%s %s cannot be built from source; use --source release", c.Name, c.Version)
	}
	if r.CGO && runtime.GOARCH != b.Store.Arch && !b.haveTool(triplet(b.Store.Arch)+"-gcc") {
		return "", fmt.Errorf("%s needs cgo: building it for %s on this %s host needs the cross compiler %s-gcc; run: %s", c.Name, b.Store.Arch, runtime.GOARCH, triplet(b.Store.Arch), crossSetup(b.Store.Arch))
	}
	if r.NeedsSeccomp && !b.haveSeccomp(b.Store.Arch) {
		if runtime.GOARCH != b.Store.Arch {
			return "", fmt.Errorf("%s needs libseccomp's %s static library (/usr/lib/%s/libseccomp.a) to build; run: %s", c.Name, b.Store.Arch, triplet(b.Store.Arch), crossSetup(b.Store.Arch))
		}
		return "", fmt.Errorf("%s needs libseccomp's headers and static library to build; run: apt-get install libseccomp-dev gcc", c.Name)
	}
	work, err := os.MkdirTemp(filepath.Dir(dir), "work-")
	if err != nil {
		return "", err
	}
	defer func() { _ = makeWritable(work); _ = os.RemoveAll(work) }()
	out := dir + string(filepath.Separator)

	switch r.Kind {
	case KindKubernetes:
		return r.Module + "@" + r.ModuleVersion, b.buildKubernetes(ctx, r, work, out)
	case KindWrapper:
		return modulesOrigin(r.Requires), b.buildWrapper(ctx, r, work, out)
	case KindModuleCopy:
		return r.Module + "@" + r.ModuleVersion, b.buildModuleCopy(ctx, c, work, out)
	case KindGoInstall:
		if len(r.ModuleFiles) > 0 {
			mi, err := b.modDownload(ctx, r.Module, r.ModuleVersion)
			if err != nil {
				return "", err
			}
			if err := copyModuleFiles(mi.Dir, r.ModuleFiles, dir); err != nil {
				return "", fmt.Errorf("%s %s: %w", c.Name, c.Version, err)
			}
			if len(r.Packages) == 0 {
				// Files only (the Gateway API CRDs): nothing to compile.
				return r.Module + "@" + r.ModuleVersion, nil
			}
		}
		if b.Store.Arch != runtime.GOARCH {
			return r.Module + "@" + r.ModuleVersion, b.buildInstallCross(ctx, c, work, out)
		}
		args := append([]string{"-C", work, "install"}, buildFlags(r)...)
		for _, p := range r.Packages {
			args = append(args, p+"@"+r.ModuleVersion)
		}
		env := append(b.buildEnv(r), "GOBIN="+dir)
		_, err := b.Run.Run(ctx, b.goCmd(env, args...))
		if err != nil {
			return "", fmt.Errorf("building %s %s from source: %w", c.Name, c.Version, err)
		}
		return r.Module + "@" + r.ModuleVersion, nil
	case KindGoTest:
		return modulesOrigin(r.Requires), b.buildGoTest(ctx, c, work, out)
	case KindPause:
		return "embedded pause source", b.buildPause(ctx, c, work, dir)
	case KindImage:
		if r.ImageRecipe != "" {
			return b.buildE2EImage(ctx, m, c, dir)
		}
		return b.buildImage(ctx, m, c, work, dir)
	case KindBusybox:
		return b.buildBusybox(ctx, c, work, dir)
	case KindDebootstrap:
		return b.buildDebootstrap(ctx, c, work, dir)
	}
	return "", fmt.Errorf("internal error: unknown recipe kind %q", r.Kind)
}

// buildInstallCross is `go install pkg@version` for another architecture:
// go install refuses to put cross-compiled binaries in GOBIN, so the
// packages are built with -o from a generated module that requires only
// their module (whose go.mod then decides every dependency's version, as
// it does for go install).
func (b *Builder) buildInstallCross(ctx context.Context, c *Component, work, out string) error {
	r := c.Source
	gomod := "// Generated by hardway. DO NOT EDIT.\nmodule hardway.local/build/install\n\ngo 1.24\n\nrequire " + r.Module + " " + r.ModuleVersion + "\n"
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	args := append([]string{"-C", work, "build", "-mod=mod", "-o", out}, buildFlags(r)...)
	args = append(args, r.Packages...)
	if _, err := b.Run.Run(ctx, b.goCmd(b.buildEnv(r), args...)); err != nil {
		return fmt.Errorf("building %s %s from source for %s: %w", c.Name, c.Version, b.Store.Arch, err)
	}
	return nil
}

func modulesOrigin(req map[string]string) string {
	var s []string
	for p, v := range req {
		s = append(s, p+"@"+v)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// haveSeccomp: libseccomp's header, and for another architecture also its
// static library in that architecture's multiarch directory (the header is
// shared between architectures; the library is what the link needs).
func (b *Builder) haveSeccomp(arch string) bool {
	if b.HaveSeccomp != nil {
		return b.HaveSeccomp(arch)
	}
	header := false
	for _, p := range []string{"/usr/include/seccomp.h", "/usr/local/include/seccomp.h"} {
		if _, err := os.Stat(p); err == nil {
			header = true
		}
	}
	if !header || arch == runtime.GOARCH {
		return header
	}
	_, err := os.Stat("/usr/lib/" + triplet(arch) + "/libseccomp.a")
	return err == nil
}

func (b *Builder) haveTool(name string) bool {
	if b.HaveTool != nil {
		return b.HaveTool(name)
	}
	_, err := osexec.LookPath(name)
	return err == nil
}

// buildKubernetes writes a module that requires k8s.io/kubernetes and pins
// every module its go.mod replaces with a staging directory to the matching
// published version (v1.37.2 → v0.37.2), then builds the commands from it.
func (b *Builder) buildKubernetes(ctx context.Context, r *SourceRecipe, work, out string) error {
	mi, err := b.modDownload(ctx, r.Module, r.ModuleVersion)
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(mi.GoMod)
	if err != nil {
		return fmt.Errorf("reading %s's go.mod from the module cache: %v", r.Module, err)
	}
	staging, goLines, err := parseKubernetesGoMod(gomod)
	if err != nil {
		return err
	}
	wrapper, err := kubernetesWrapperGoMod(r.ModuleVersion, staging, goLines)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(wrapper), 0o644); err != nil {
		return err
	}
	// -mod=mod lets go fill go.sum for the generated module.
	stamped := *r
	stamped.LDFlags = append([]string{}, r.LDFlags...)
	if t := tagTime(mi.Info); t != "" {
		for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
			stamped.LDFlags = append(stamped.LDFlags, pkg+".buildDate="+t)
		}
	}
	args := append([]string{"-C", work, "build", "-mod=mod", "-o", out}, buildFlags(&stamped)...)
	if r.TestBinary {
		// go test -c compiles one test package into a program that runs
		// its tests (e2e.test); go build would refuse a package without a
		// main.
		if len(r.Packages) != 1 {
			return fmt.Errorf("internal error: a test binary is built from exactly one package, got %v", r.Packages)
		}
		args = append([]string{"-C", work, "test", "-c", "-mod=mod", "-o", out + path.Base(r.Packages[0]) + ".test"}, buildFlags(&stamped)...)
	}
	args = append(args, r.Packages...)
	if _, err := b.Run.Run(ctx, b.goCmd(b.buildEnv(r), args...)); err != nil {
		return fmt.Errorf("building Kubernetes %s from source: %w", r.ModuleVersion, err)
	}
	return nil
}

// tagTime reads the version's time from the module cache's .info file, in
// the form Kubernetes stamps (UTC, seconds); "" if unknown.
func tagTime(infoPath string) string {
	b, err := os.ReadFile(infoPath)
	if err != nil {
		return ""
	}
	var info struct{ Time time.Time }
	if json.Unmarshal(b, &info) != nil || info.Time.IsZero() {
		return ""
	}
	return info.Time.UTC().Format("2006-01-02T15:04:05Z")
}

// parseKubernetesGoMod returns the modules kubernetes' go.mod replaces with a
// local ./staging directory, and its go and godebug lines (the wrapper, being
// the main module, must carry them: godebug settings only apply from there).
func parseKubernetesGoMod(gomod []byte) (staging []string, goLines []string, err error) {
	sc := bufio.NewScanner(strings.NewReader(string(gomod)))
	inReplace := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "go ") || strings.HasPrefix(line, "godebug "):
			goLines = append(goLines, line)
			continue
		case line == "replace (":
			inReplace = true
			continue
		case inReplace && line == ")":
			inReplace = false
			continue
		}
		rep := ""
		if inReplace {
			rep = line
		} else if strings.HasPrefix(line, "replace ") {
			rep = strings.TrimPrefix(line, "replace ")
		}
		if rep == "" {
			continue
		}
		from, to, ok := strings.Cut(rep, "=>")
		if !ok {
			continue
		}
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if strings.HasPrefix(to, "./staging/") {
			staging = append(staging, strings.Fields(from)[0])
		}
	}
	if len(staging) == 0 {
		return nil, nil, fmt.Errorf("k8s.io/kubernetes go.mod has no ./staging replacements; this Kubernetes version is laid out differently and needs a new build recipe")
	}
	sort.Strings(staging)
	return staging, goLines, nil
}

// kubernetesWrapperGoMod is the generated go.mod.
func kubernetesWrapperGoMod(kubeVersion string, staging, goLines []string) (string, error) {
	major, minor := kubeMajorMinor(kubeVersion)
	if major != "1" {
		return "", fmt.Errorf("kubernetes version %s: only 1.x maps to staging modules v0.x", kubeVersion)
	}
	_, patch, _ := strings.Cut(strings.TrimPrefix(kubeVersion, "v1."+minor), ".")
	stagingVersion := "v0." + minor + "." + patch
	var sb strings.Builder
	sb.WriteString("// Generated by hardway to build Kubernetes from the Go module proxy. DO NOT EDIT.\n")
	sb.WriteString("module hardway.local/build/kubernetes\n\n")
	for _, l := range goLines {
		sb.WriteString(l + "\n")
	}
	sb.WriteString("\nrequire k8s.io/kubernetes " + kubeVersion + "\n\nreplace (\n")
	for _, s := range staging {
		fmt.Fprintf(&sb, "\t%s => %s %s\n", s, s, stagingVersion)
	}
	sb.WriteString(")\n")
	return sb.String(), nil
}

// buildWrapper writes one main package per binary into a generated module.
func (b *Builder) buildWrapper(ctx context.Context, r *SourceRecipe, work, out string) error {
	var sb strings.Builder
	sb.WriteString("// Generated by hardway. DO NOT EDIT.\nmodule hardway.local/build/wrapper\n\ngo 1.24\n\nrequire (\n")
	for _, p := range sortedKeys(r.Requires) {
		fmt.Fprintf(&sb, "\t%s %s\n", p, r.Requires[p])
	}
	sb.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(sb.String()), 0o644); err != nil {
		return err
	}
	args := append([]string{"-C", work, "build", "-mod=mod", "-o", out}, buildFlags(r)...)
	for _, bin := range sortedKeys(r.Mains) {
		d := filepath.Join(work, "cmd", bin)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "main.go"), []byte(r.Mains[bin]), 0o644); err != nil {
			return err
		}
		args = append(args, "./cmd/"+bin)
	}
	if _, err := b.Run.Run(ctx, b.goCmd(b.buildEnv(r), args...)); err != nil {
		return fmt.Errorf("building %s from source: %w", modulesOrigin(r.Requires), err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// buildModuleCopy builds inside a writable copy of the downloaded module, so
// that its go.mod is the main module's (excludes and replaces apply).
func (b *Builder) buildModuleCopy(ctx context.Context, c *Component, work, out string) error {
	r := c.Source
	var dlEnv []string
	if r.GoToolchain != "" {
		dlEnv = []string{"GOTOOLCHAIN=" + r.GoToolchain}
	}
	mi, err := b.modDownloadWith(ctx, dlEnv, r.Module, r.ModuleVersion)
	if err != nil {
		return err
	}
	src := filepath.Join(work, "src")
	if err := copyTree(mi.Dir, src); err != nil {
		return fmt.Errorf("copying %s@%s out of the module cache: %v", r.Module, r.ModuleVersion, err)
	}
	for _, dir := range sortedKeys(r.Nested) {
		nested, err := b.modDownloadWith(ctx, dlEnv, r.Nested[dir], r.ModuleVersion)
		if err != nil {
			return err
		}
		if err := copyTree(nested.Dir, filepath.Join(src, filepath.FromSlash(dir))); err != nil {
			return fmt.Errorf("copying %s@%s out of the module cache: %v", r.Nested[dir], r.ModuleVersion, err)
		}
	}
	if len(r.ModuleFiles) > 0 {
		if err := copyModuleFiles(src, r.ModuleFiles, strings.TrimSuffix(out, string(filepath.Separator))); err != nil {
			return fmt.Errorf("%s %s: %w", c.Name, c.Version, err)
		}
	}
	for rel, content := range r.Overlay {
		p := filepath.Join(src, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	o := out
	if len(r.Packages) == 1 && len(c.Files) >= 1 {
		// A lone package ("." or ./cmd) would be named after its
		// directory; it is the component's first file.
		o = out + c.Files[0].Name
	}
	args := append([]string{"-C", src, "build", "-mod=mod", "-o", o}, buildFlags(r)...)
	args = append(args, r.Packages...)
	if _, err := b.Run.Run(ctx, b.goCmd(b.buildEnv(r), args...)); err != nil {
		return fmt.Errorf("building %s %s from source: %w", c.Name, c.Version, err)
	}
	return nil
}

// copyTree copies a module directory with writable modes.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
}

// buildPause builds the embedded pause program and its image.
func (b *Builder) buildPause(ctx context.Context, c *Component, work, dir string) error {
	src := filepath.Join(work, "pause")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hardway.local/pause\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), images.PauseSource(), 0o644); err != nil {
		return err
	}
	r := &SourceRecipe{}
	bin := filepath.Join(dir, "pause")
	args := append([]string{"-C", src, "build", "-o", bin}, buildFlags(r)...)
	args = append(args, ".")
	if _, err := b.Run.Run(ctx, b.goCmd(b.buildEnv(r), args...)); err != nil {
		return fmt.Errorf("building the pause program: %w", err)
	}
	img, err := images.PauseImage(b.Store.Arch, bin)
	if err != nil {
		return err
	}
	return images.WriteArchive(filepath.Join(dir, c.imageArchive()), c.Image, img)
}

// buildImage assembles the CoreDNS and test app images.
func (b *Builder) buildImage(ctx context.Context, m *Manifest, c *Component, work, dir string) (string, error) {
	archive := filepath.Join(dir, c.imageArchive())
	switch c.Name {
	case CompCoreDNSImage:
		dep, _ := m.Component(CompCoreDNS)
		e, ok := b.Store.Find(dep.Name, dep.Version)
		if !ok {
			return "", notBuilt(dep.Name, dep.Version)
		}
		img, err := images.CoreDNSImage(b.Store.Arch, filepath.Join(e.Dir, "coredns"))
		if err != nil {
			return "", err
		}
		return "coredns " + dep.Version + " (" + string(e.Source) + ")", images.WriteArchive(archive, c.Image, img)
	case CompMetalLBControllerImage, CompMetalLBSpeakerImage:
		return b.buildMetalLBImage(m, c, archive)
	case CompNetpolImage:
		return b.buildNetpolImage(m, c, archive)
	case CompArgoCDImage, CompArgoCDRedisImage:
		return b.buildArgoCDImage(m, c, archive)
	case CompTraefikImage, CompGatewayEchoImage:
		return b.buildGatewayImage(m, c, archive)
	case CompTestAppImage:
		dep, _ := m.Component(CompBusybox)
		e, ok := b.Store.Find(dep.Name, dep.Version)
		if !ok {
			return "", notBuilt(dep.Name, dep.Version)
		}
		img, err := images.TestAppImage(b.Store.Arch, filepath.Join(e.Dir, "busybox"))
		if err != nil {
			return "", err
		}
		return "busybox " + dep.Version + " (" + string(e.Source) + ")", images.WriteArchive(archive, c.Image, img)
	}
	return "", fmt.Errorf("internal error: no image recipe for %s", c.Name)
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}
