package artifacts

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"hardway.dev/hardway/internal/images"
)

// TraefikVersion is the Traefik release the gateway add-on builds. v3.6.12,
// not the newest served v3.7.13: every served v3.7 (v3.7.11, .12, .13)
// replaces github.com/abbot/go-http-auth with
// github.com/containous/go-http-auth v0.4.1-0.20260804094822-b975dcaa8c48,
// whose zip the Go module proxy refuses ("403 Forbidden: This module version
// is not available", seen 2026-12-03), and its ACME library (lego v5) needs
// fourteen DNS-provider SDKs the proxy refuses the same way (alidns, esa,
// azionapi, dnsimple v9, akamai edgegrid v13, tencent, huaweicloud, oci,
// regfish, sacloud, ucloud, yandex). v3.6.12's whole module graph is served.
const TraefikVersion = "v3.6.12"

// GatewayAPIVersion is the Gateway API release whose standard-channel CRDs
// the add-on installs and whose conformance suite `hardway conformance
// --gateway` runs: the one Traefik v3.6.12 implements (its go.mod requires
// sigs.k8s.io/gateway-api v1.4.0, and its own conformance test installs
// that release's CRDs). The newest served release, v1.6.3, tests behaviour
// newer than Traefik 3.6: its suite failed 3 of 36 GATEWAY-HTTP core tests
// here on 2026-12-03 (UnsupportedProtocol listeners, a 500 for rules
// without backends, two Gateways on one address), which is Traefik's
// version, not a fault of the cluster (docs/conformance.md).
const GatewayAPIVersion = "v1.4.0"

// The gateway add-on's components.
const (
	CompTraefik      = "traefik"
	CompTraefikImage = "image-traefik"
	CompGatewayAPI   = "gateway-api"
	// The conformance suite's: the test binary and echo-basic, its
	// backend, and echo-basic's image.
	CompGatewayConformance = "gateway-conformance"
	CompGatewayEchoImage   = "image-gateway-echo-basic"
)

// Files of the gateway components' cache entries.
const (
	TraefikProgram      = "traefik"
	GatewayAPICRDs      = "crds.yaml"
	GatewayConformance  = "conformance.test"
	GatewayEchoBasic    = "echo-basic"
	GatewaySuiteImages  = "images.txt"
	gatewayAPIModule    = "sigs.k8s.io/gateway-api"
	gatewayConformPkg   = "sigs.k8s.io/gateway-api/conformance"
	gatewayEchoBasicPkg = "sigs.k8s.io/gateway-api/conformance/echo-basic"
)

// GatewayAPICRDNames are the CRDs of the standard channel, as the pinned
// module's config/crd/standard names them: removal needs the names
// without the cache.
func GatewayAPICRDNames() []string {
	var out []string
	for _, k := range gatewayAPIKinds() {
		out = append(out, k+".gateway.networking.k8s.io")
	}
	return out
}

func gatewayAPIKinds() []string {
	// v1.4.0's standard channel (TCPRoute, TLSRoute, UDPRoute and
	// ListenerSet are experimental there).
	return []string{"backendtlspolicies", "gatewayclasses", "gateways", "grpcroutes", "httproutes", "referencegrants"}
}

// gatewayAPICRDFiles are the standard channel's CRD files. Its
// ValidatingAdmissionPolicy (gateway.networking.k8s.io_vap_safeupgrades.yaml),
// which refuses older CRDs over newer ones, is left out: hardway installs
// one pinned version and removes it whole.
func gatewayAPICRDFiles() []string {
	var out []string
	for _, k := range gatewayAPIKinds() {
		out = append(out, "config/crd/standard/gateway.networking.k8s.io_"+k+".yaml")
	}
	return out
}

// TraefikImage is the reference of the Traefik image: upstream's (the
// Docker Hub library image), so the cluster's registry serves it under the
// name Traefik's documentation uses.
func TraefikImage() string { return "docker.io/library/traefik:" + TraefikVersion }

// GatewayEchoImage is the reference hardway's echo-basic archive carries;
// the suite's manifests name other tags of the same repository, and
// `hardway conformance --gateway` pushes it under each (GatewaySuiteImages).
func GatewayEchoImage() string {
	return "registry.k8s.io/gateway-api/echo-basic:" + GatewayAPIVersion
}

func gatewayComponents() []Component {
	return []Component{
		{
			Name:    CompTraefik,
			Version: TraefikVersion,
			Files:   []File{{Name: TraefikProgram}},
			Source: &SourceRecipe{
				// A copy of the module: its go.mod replaces modules with
				// containous' forks, which go install refuses.
				Kind:          KindModuleCopy,
				Module:        "github.com/traefik/traefik/v3",
				ModuleVersion: TraefikVersion,
				Packages:      []string{"./cmd/traefik"},
				LDFlags:       []string{"github.com/traefik/traefik/v3/pkg/version.Version=" + TraefikVersion},
				// The dashboard is a web app built with npm into
				// webui/static, which the module zip lacks; the program
				// embeds that directory (go:embed static), so the build
				// needs it to exist. The dashboard stays off (--api is not
				// given), so this page is never served.
				Overlay: map[string]string{"webui/static/index.html": "<!doctype html><title>Traefik</title><p>The dashboard is not built by hardway.</p>\n"},
			},
		},
		{Name: CompTraefikImage, Version: TraefikVersion, Image: TraefikImage(), Files: []File{{Name: "traefik.tar"}},
			Source: &SourceRecipe{Kind: KindImage}, DependsOn: []string{CompTraefik}},
		{
			Name:    CompGatewayAPI,
			Version: GatewayAPIVersion,
			Files:   []File{{Name: GatewayAPICRDs}},
			// Only files of the module: nothing is compiled.
			Source: &SourceRecipe{
				Kind:          KindGoInstall,
				Module:        "sigs.k8s.io/gateway-api",
				ModuleVersion: GatewayAPIVersion,
				ModuleFiles:   map[string][]string{GatewayAPICRDs: gatewayAPICRDFiles()},
			},
		},
	}
}

// GatewayConformanceManifest is what `hardway conformance --gateway` builds:
// the suite (go test -c of sigs.k8s.io/gateway-api/conformance at the pinned
// version), its echo-basic backend, and echo-basic's image.
func GatewayConformanceManifest(kubeVersion string) *Manifest {
	return &Manifest{KubernetesVersion: kubeVersion, Components: []Component{
		{
			Name:    CompGatewayConformance,
			Version: GatewayAPIVersion,
			Files:   []File{{Name: GatewayConformance}, {Name: GatewayEchoBasic}, {Name: GatewaySuiteImages}},
			Source: &SourceRecipe{
				Kind: KindGoTest,
				// In v1.4.0 the suite is a package of the main module
				// (later releases split it into a module of its own).
				Requires:   map[string]string{gatewayAPIModule: GatewayAPIVersion},
				Module:     gatewayAPIModule,
				Packages:   []string{gatewayConformPkg, gatewayEchoBasicPkg},
				TestBinary: true,
			},
		},
		{Name: CompGatewayEchoImage, Version: GatewayAPIVersion, Image: GatewayEchoImage(), Files: []File{{Name: "echo-basic.tar"}},
			Source: &SourceRecipe{Kind: KindImage}, DependsOn: []string{CompGatewayConformance}},
	}}
}

// buildGoTest builds a test binary (the first package, go test -c, named
// <last element>.test) and programs (the others) from a generated module
// that requires r.Requires, then lists the images the first package's
// module names in its manifests (GatewaySuiteImages), which the run pushes.
func (b *Builder) buildGoTest(ctx context.Context, c *Component, work, out string) error {
	r := c.Source
	var sb strings.Builder
	sb.WriteString("// Generated by hardway. DO NOT EDIT.\nmodule hardway.local/build/gotest\n\ngo 1.26.0\n\nrequire (\n")
	for _, p := range sortedKeys(r.Requires) {
		fmt.Fprintf(&sb, "\t%s %s\n", p, r.Requires[p])
	}
	sb.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(sb.String()), 0o644); err != nil {
		return err
	}
	if len(r.Packages) == 0 {
		return fmt.Errorf("internal error: %s names no package", c.Name)
	}
	test := r.Packages[0]
	args := append([]string{"-C", work, "test", "-c", "-mod=mod", "-o", out + GatewayConformance}, buildFlags(r)...)
	if _, err := b.Run.Run(ctx, b.goCmd(b.buildEnv(r), append(args, test)...)); err != nil {
		return fmt.Errorf("building %s %s (go test -c %s): %w", c.Name, c.Version, test, err)
	}
	if len(r.Packages) > 1 {
		args := append([]string{"-C", work, "build", "-mod=mod", "-o", out}, buildFlags(r)...)
		if _, err := b.Run.Run(ctx, b.goCmd(b.buildEnv(r), append(args, r.Packages[1:]...)...)); err != nil {
			return fmt.Errorf("building %s %s: %w", c.Name, c.Version, err)
		}
	}
	mi, err := b.modDownload(ctx, r.Module, r.Requires[r.Module])
	if err != nil {
		return err
	}
	// The test package's directory in its module (the module itself when
	// the suite is a module of its own).
	refs, err := suiteImages(filepath.Join(mi.Dir, strings.TrimPrefix(strings.TrimPrefix(test, r.Module), "/")))
	if err != nil {
		return err
	}
	return os.WriteFile(out+GatewaySuiteImages, []byte(strings.Join(refs, "\n")+"\n"), 0o644)
}

// suiteImages are the image references the conformance module's manifests
// (base/ and tests/) name, sorted, each once.
func suiteImages(moduleDir string) ([]string, error) {
	var refs []string
	for _, sub := range []string{"base", "tests"} {
		files, err := filepath.Glob(filepath.Join(moduleDir, sub, "*.yaml"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "- "))
				if ref, ok := strings.CutPrefix(line, "image:"); ok {
					ref = strings.Trim(strings.TrimSpace(ref), `"'`)
					if ref != "" && !slices.Contains(refs, ref) {
						refs = append(refs, ref)
					}
				}
			}
			fh.Close()
			if err := sc.Err(); err != nil {
				return nil, err
			}
		}
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("the conformance module at %s names no image in base/ or tests/: its layout changed, and hardway's recipe needs updating", moduleDir)
	}
	sort.Strings(refs)
	return refs, nil
}

// buildGatewayImage packs Traefik (as nobody, 65532 like upstream's
// nonroot variant) or echo-basic into an image.
func (b *Builder) buildGatewayImage(m *Manifest, c *Component, archive string) (string, error) {
	dep, prog := CompTraefik, TraefikProgram
	if c.Name == CompGatewayEchoImage {
		dep, prog = CompGatewayConformance, GatewayEchoBasic
	}
	d, _ := m.Component(dep)
	e, ok := b.Store.Find(d.Name, d.Version)
	if !ok {
		return "", notBuilt(d.Name, d.Version)
	}
	img, err := images.ProgramImage(b.Store.Arch, filepath.Join(e.Dir, prog), "/"+prog, "65532:65532")
	if err != nil {
		return "", err
	}
	return d.Name + " " + d.Version + " " + prog + " (" + string(e.Source) + ")", images.WriteArchive(archive, c.Image, img)
}
