package nodeimage

import (
	"context"
	"errors"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
)

func TestHostMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"deb822 sources, security repo first in another file", map[string]string{
			"etc/apt/sources.list.d/debian.sources": "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n" +
				"Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n",
		}, "http://deb.debian.org/debian"},
		{"one-line list with options and a local mirror", map[string]string{
			"etc/apt/sources.list": "# comment\ndeb-src http://src.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] https://mirror.example.org/debian/ bookworm main\n",
		}, "https://mirror.example.org/debian"},
		{"only third-party repos", map[string]string{
			"etc/apt/sources.list.d/google.list": "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n",
		}, DefaultMirror},
		{"nothing at all", map[string]string{}, DefaultMirror},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := fstest.MapFS{}
			for k, v := range tt.files {
				m[k] = &fstest.MapFile{Data: []byte(v)}
			}
			if got := HostMirror(m); got != tt.want {
				t.Errorf("HostMirror = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTagFollowsRecipe(t *testing.T) {
	base := recipe{arch: "amd64", suite: Suite, packages: Packages(), changes: imageChanges(), entrypoint: entrypoint, setup: setupScript}
	if !regexp.MustCompile(`^hardway/node:[0-9a-f]{12}$`).MatchString(TagFor("amd64")) || TagFor("amd64") != base.tag() {
		t.Fatalf("TagFor(amd64) = %q, recipe tag %q", TagFor("amd64"), base.tag())
	}
	// amd64 keeps the tag it had before the recipe knew architectures.
	noArch := base
	noArch.arch = ""
	if noArch.tag() != base.tag() {
		t.Errorf("amd64 tag %s differs from the tag without an arch %s: every amd64 image would be rebuilt", base.tag(), noArch.tag())
	}
	// Another architecture: its own hash and a suffix saying which; on a
	// host of another architecture also -emulated (that image carries the
	// host's netfilter tools: a different recipe from a native one).
	native := base
	native.arch = "arm64"
	if !regexp.MustCompile(`^hardway/node:[0-9a-f]{12}-arm64$`).MatchString(native.tag()) || strings.TrimSuffix(native.tag(), "-arm64") == base.tag() {
		t.Errorf("arm64 tag %q: want its own hash and an -arm64 suffix (amd64: %s)", native.tag(), base.tag())
	}
	emulated := native
	emulated.emulatedBy, emulated.emulated = "amd64", emulatedScript
	if !regexp.MustCompile(`^hardway/node:[0-9a-f]{12}-arm64-emulated$`).MatchString(emulated.tag()) || strings.TrimSuffix(emulated.tag(), "-emulated") == native.tag() {
		t.Errorf("emulated arm64 tag %q: want its own hash and an -arm64-emulated suffix (native: %s)", emulated.tag(), native.tag())
	}
	if runtime.GOARCH == "amd64" && TagFor("arm64") != emulated.tag() {
		t.Errorf("TagFor(arm64) on amd64 = %q, want the emulated recipe %q", TagFor("arm64"), emulated.tag())
	}
	reordered := base
	reordered.packages = append([]string{base.packages[len(base.packages)-1]}, base.packages[:len(base.packages)-1]...)
	if reordered.tag() != base.tag() {
		t.Error("package order changed the tag; it must not (same image)")
	}
	changed := map[string]recipe{}
	r := base
	r.packages = append(append([]string(nil), base.packages...), "vim")
	changed["package added"] = r
	r = base
	r.entrypoint = append(append([]byte(nil), entrypoint...), '\n')
	changed["entrypoint edited"] = r
	r = base
	r.setup = []byte("true")
	changed["setup edited"] = r
	r = base
	r.suite = "trixie"
	changed["suite"] = r
	for what, r := range changed {
		if r.tag() == base.tag() {
			t.Errorf("%s: tag unchanged", what)
		}
	}
}

// fakeHost plays debootstrap (creating the directories it would), chroot,
// tar and docker.
type fakeHost struct {
	calls     []string
	haveImage bool
	failOn    string
}

func (f *fakeHost) Run(_ context.Context, c exec.Cmd) ([]byte, error) {
	f.calls = append(f.calls, c.String())
	if f.failOn != "" && c.Name == f.failOn {
		return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte("E: boom"), Err: errors.New("exit status 1")}
	}
	switch c.Name {
	case "tar":
		// A real (empty) archive: the foreign path reads it back.
		for i, a := range c.Args {
			if a == "-cf" {
				if err := osexec.Command("tar", "-cf", c.Args[i+1], "-T", "/dev/null").Run(); err != nil {
					return nil, err
				}
			}
		}
	case "debootstrap":
		root := c.Args[len(c.Args)-2]
		for _, d := range []string{"usr/local/bin", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return nil, err
			}
		}
		if c.Stream != nil {
			c.Stream.Write([]byte("I: Retrieving InRelease\nI: Base system installed successfully.\n"))
		}
	case "docker":
		if c.Args[0] == "image" && !f.haveImage {
			return nil, &exec.RunError{Cmd: c.String(), ExitCode: 1, Stderr: []byte("Error: No such image: x"), Err: errors.New("exit status 1")}
		}
	}
	return nil, nil
}

type lines []string

func (l *lines) Logf(level int, format string, args ...any) {
	if level == 0 {
		*l = append(*l, format)
	}
}

func TestEnsure(t *testing.T) {
	tag := Tag()
	tests := []struct {
		name      string
		haveImage bool
		force     bool
		failOn    string
		wantNames []string // the commands run, by program
		wantErr   string
	}{
		{name: "present: not rebuilt", haveImage: true, wantNames: []string{"docker"}},
		{name: "missing: built", wantNames: []string{"docker", "debootstrap", "chroot", "tar", "docker"}},
		{name: "present but forced", haveImage: true, force: true, wantNames: []string{"docker", "debootstrap", "chroot", "tar", "docker"}},
		{name: "debootstrap fails", failOn: "debootstrap", wantNames: []string{"docker", "debootstrap"},
			wantErr: "debootstrap failed (needs root, `apt-get install debootstrap`, and a reachable Debian mirror http://mirror.test/debian; pick another with --mirror)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHost{haveImage: tt.haveImage, failOn: tt.failOn}
			var log lines
			work := t.TempDir()
			got, err := Ensure(context.Background(), Options{Runner: f, Log: &log, Mirror: "http://mirror.test/debian", WorkDir: work, Force: tt.force})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
			} else if err != nil || got != tag {
				t.Fatalf("Ensure = %q, %v", got, err)
			}
			var names []string
			for _, c := range f.calls {
				names = append(names, strings.Fields(c)[0])
			}
			if strings.Join(names, " ") != strings.Join(tt.wantNames, " ") {
				t.Errorf("ran %v, want %v:\n%s", names, tt.wantNames, strings.Join(f.calls, "\n"))
			}
			if left, _ := os.ReadDir(work); len(left) != 0 {
				t.Errorf("work directory not cleaned up: %v", left)
			}
			if tt.haveImage && !tt.force && (len(log) != 1 || !strings.Contains(log[0], "up to date")) {
				t.Errorf("log %q", log)
			}
		})
	}
}

func TestBuildCommands(t *testing.T) {
	f := &fakeHost{}
	work := t.TempDir()
	if err := Build(context.Background(), "hardway/node:test", Options{Runner: f, Mirror: "http://m/debian", WorkDir: work}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 4 {
		t.Fatalf("calls %q", f.calls)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,\S*haproxy bookworm /\S+/rootfs http://m/debian$`),
		regexp.MustCompile(`^chroot /\S+/rootfs /bin/sh /tmp/hardway-setup.sh$`),
		regexp.MustCompile(`^tar --numeric-owner --xattrs -C /\S+/rootfs -cf /\S+/rootfs.tar '--exclude=./dev/\*' .* \.$`),
		regexp.MustCompile(`^docker import --change 'ENV container=docker' --change 'ENTRYPOINT \["/usr/local/bin/entrypoint"\]' --change 'CMD \["/sbin/init"\]' /\S+/rootfs.tar hardway/node:test$`),
	}
	for i, re := range want {
		if !re.MatchString(f.calls[i]) {
			t.Errorf("call %d = %q, want %s", i, f.calls[i], re)
		}
	}
}

func TestDockerfileMatchesRecipe(t *testing.T) {
	d := Dockerfile()
	for _, want := range append(Packages(), "FROM debian:bookworm", "COPY entrypoint /usr/local/bin/entrypoint", "sh /tmp/hardway-setup.sh", `ENTRYPOINT ["/usr/local/bin/entrypoint"]`, `CMD ["/sbin/init"]`) {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q:\n%s", want, d)
		}
	}
	dir := t.TempDir()
	if err := WriteDockerContext(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"entrypoint": entrypoint, "setup.sh": setupScript, "Dockerfile": []byte(d)} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs (%v)", name, err)
		}
	}
}

func TestEnsureSSH(t *testing.T) {
	f := &fakeHost{haveImage: true}
	// The node image exists; the SSH image is asked for, found too.
	got, err := EnsureSSH(context.Background(), Options{Runner: f, WorkDir: t.TempDir()})
	if err != nil || got != SSHTag() {
		t.Fatalf("EnsureSSH = %q, %v", got, err)
	}
	want := []string{
		"docker image inspect --format '{{.Id}}' " + Tag(),
		"docker image inspect --format '{{.Id}}' " + SSHTag(),
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls\n  %q\nwant\n  %q", f.calls, want)
	}
	f = &fakeHost{haveImage: true}
	if _, err := EnsureSSH(context.Background(), Options{Runner: f, WorkDir: t.TempDir(), Force: true}); err != nil {
		t.Fatal(err)
	}
	if last := f.calls[len(f.calls)-1]; !regexp.MustCompile(`^docker build -t ` + regexp.QuoteMeta(SSHTag()) + ` /\S+/hardway-ssh-machine-\d+$`).MatchString(last) {
		t.Errorf("build call %q", last)
	}
}

func TestSSHDockerfile(t *testing.T) {
	want := "# hardway SSH machine: the node image, sshd and a sudo user (provider ssh on one host).\n" +
		"FROM hardway/node:abc\n" +
		"RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sudo \\\n && rm -rf /var/lib/apt/lists/*\n" +
		"COPY ssh-machine.sh /tmp/hardway-ssh-machine.sh\n" +
		"RUN sh /tmp/hardway-ssh-machine.sh && rm -f /tmp/hardway-ssh-machine.sh\n"
	if got := SSHDockerfile("hardway/node:abc"); got != want {
		t.Errorf("SSHDockerfile =\n%s\nwant\n%s", got, want)
	}
	if !strings.HasPrefix(SSHTag(), SSHRepository+":") || len(SSHTag()) != len(SSHRepository)+13 {
		t.Errorf("SSHTag %q", SSHTag())
	}
}

// A node image for another architecture: debootstrap --arch, the setup
// script in the chroot (both under qemu-user), and an image whose config
// names that architecture, loaded instead of imported; refused in one line
// before anything runs when binfmt_misc cannot run its programs.
func TestBuildForeign(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("written for an amd64 host")
	}
	registered := fstest.MapFS{"status": {Data: []byte("enabled\n")}, "qemu-aarch64": {Data: []byte(qemuStatus)}}
	f := &fakeHost{}
	work := t.TempDir()
	tag := TagFor("arm64")
	if err := Build(context.Background(), tag, Options{Runner: f, Mirror: "http://m/debian", WorkDir: work, Arch: "arm64", Binfmt: fstest.MapFS{}}); err == nil ||
		err.Error() != "binfmt_misc is not mounted (no /proc/sys/fs/binfmt_misc/status), so arm64 programs cannot run on this amd64 host: run hack/binfmt-arm64.sh enable" || len(f.calls) != 0 {
		t.Fatalf("without binfmt: err %v, ran %q", err, f.calls)
	}
	// Keep the archive to read it back: docker load is the fake's.
	var archive string
	f = &fakeHost{}
	loaded := &loadRecorder{fakeHost: f, keep: &archive, dir: t.TempDir()}
	if err := Build(context.Background(), tag, Options{Runner: loaded, Mirror: "http://m/debian", WorkDir: work, Arch: "arm64", Binfmt: registered}); err != nil {
		t.Fatal(err)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^debootstrap --variant=minbase --include=systemd,\S*haproxy --arch=arm64 bookworm /\S+/rootfs http://m/debian$`),
		regexp.MustCompile(`^chroot /\S+/rootfs /bin/sh /tmp/hardway-emulated.sh amd64$`),
		regexp.MustCompile(`^chroot /\S+/rootfs /bin/sh /tmp/hardway-setup.sh$`),
		regexp.MustCompile(`^tar --numeric-owner --xattrs -C /\S+/rootfs -cf /\S+/rootfs.tar `),
		regexp.MustCompile(`^docker load -i /\S+/image.tar$`),
	}
	if len(f.calls) != len(want) {
		t.Fatalf("calls %q", f.calls)
	}
	for i, re := range want {
		if !re.MatchString(f.calls[i]) {
			t.Errorf("call %d = %q, want %s", i, f.calls[i], re)
		}
	}
	info, err := images.InspectArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	if info.OS != "linux" || info.Arch != "arm64" || info.Entrypoint != EntrypointPath {
		t.Errorf("loaded image %+v, want linux/arm64 running %s", info, EntrypointPath)
	}
	cfg, err := imageConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Env, []string{"container=docker"}) || !reflect.DeepEqual(cfg.Cmd, []string{"/sbin/init"}) {
		t.Errorf("config %+v does not say what the import changes say", cfg)
	}
}

// loadRecorder copies the archive `docker load -i` is given before the
// build's work directory is removed.
type loadRecorder struct {
	*fakeHost
	keep *string
	dir  string
}

func (l *loadRecorder) Run(ctx context.Context, c exec.Cmd) ([]byte, error) {
	if c.Name == "docker" && len(c.Args) == 3 && c.Args[0] == "load" {
		b, err := os.ReadFile(c.Args[2])
		if err != nil {
			return nil, err
		}
		*l.keep = filepath.Join(l.dir, "image.tar")
		if err := os.WriteFile(*l.keep, b, 0o644); err != nil {
			return nil, err
		}
	}
	return l.fakeHost.Run(ctx, c)
}
