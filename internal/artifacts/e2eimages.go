package artifacts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	hexec "hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
)

// buildE2EImage assembles one e2e image from the cached files of the
// components it depends on.
func (b *Builder) buildE2EImage(ctx context.Context, m *Manifest, c *Component, dir string) (string, error) {
	file := func(comp, name string) ([]byte, string, error) {
		dep, ok := m.Component(comp)
		if !ok {
			return nil, "", fmt.Errorf("internal error: %s needs %s, which the manifest lacks", c.Name, comp)
		}
		e, ok := b.Store.Find(dep.Name, dep.Version)
		if !ok {
			return nil, "", notBuilt(dep.Name, dep.Version)
		}
		p := filepath.Join(e.Dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("reading %s for the image %s: %v", p, c.Image, err)
		}
		return data, dep.Name + " " + dep.Version + " (" + string(e.Source) + ")", nil
	}
	base := func() (images.Base, string, error) {
		dep, _ := m.Component(CompDebianBase)
		if dep == nil {
			return images.Base{}, "", fmt.Errorf("internal error: %s needs %s, which the manifest lacks", c.Name, CompDebianBase)
		}
		e, ok := b.Store.Find(dep.Name, dep.Version)
		if !ok {
			return images.Base{}, "", notBuilt(dep.Name, dep.Version)
		}
		bs, err := images.LoadBase(filepath.Join(e.Dir, "rootfs.tar.gz"))
		return bs, "debian base " + dep.Version, err
	}
	// busybox is the static binary and the applets it links to, for the
	// images built on it.
	busybox := func() ([]byte, []string, string, error) {
		bb, o, err := file(CompBusybox, "busybox")
		if err != nil {
			return nil, nil, "", err
		}
		dep, _ := m.Component(CompBusybox)
		e, _ := b.Store.Find(dep.Name, dep.Version)
		applets, err := b.busyboxApplets(ctx, filepath.Join(e.Dir, "busybox"))
		return bb, applets, o, err
	}
	arch := b.Store.Arch
	var img v1.Image
	var origins []string
	var err error
	switch c.Source.ImageRecipe {
	case recipeAgnhost, recipeKitten, recipeNautil:
		var bs images.Base
		var o1, o2 string
		var agn []byte
		if bs, o1, err = base(); err != nil {
			return "", err
		}
		if agn, o2, err = file(CompE2EBinaries, "agnhost"); err != nil {
			return "", err
		}
		files, cmd, err := b.agnhostFiles(ctx, m, c.Source.ImageRecipe)
		if err != nil {
			return "", err
		}
		origins = append(origins, o2, o1)
		img, err = images.AgnhostImage(arch, bs, agn, files, cmd)
		if err != nil {
			return "", err
		}
	case recipeNginx, recipeNonRoot:
		bs, o, err := base()
		if err != nil {
			return "", err
		}
		origins = append(origins, o)
		if c.Source.ImageRecipe == recipeNginx {
			img, err = images.NginxImage(arch, bs)
		} else {
			img, err = images.NonRootImage(arch, bs)
		}
		if err != nil {
			return "", err
		}
	case recipeBusybox:
		bb, applets, o, err := busybox()
		if err != nil {
			return "", err
		}
		origins = append(origins, o)
		if img, err = images.BusyboxImage(arch, bb, applets); err != nil {
			return "", err
		}
	case recipeNNP:
		bb, applets, o, err := busybox()
		if err != nil {
			return "", err
		}
		nnp, o2, err := file(CompE2EBinaries, "nonewprivs")
		if err != nil {
			return "", err
		}
		origins = append(origins, o2, o)
		if img, err = images.NonewprivsImage(arch, bb, applets, nnp); err != nil {
			return "", err
		}
	case recipeGlibc:
		bs, o, err := base()
		if err != nil {
			return "", err
		}
		cd, o2, err := file(CompCoreDNS, "coredns")
		if err != nil {
			return "", err
		}
		origins = append(origins, o, o2)
		if img, err = images.GlibcDNSImage(arch, bs, cd); err != nil {
			return "", err
		}
	case recipeSample:
		bin, o, err := file(CompE2EBinaries, "sample-apiserver")
		if err != nil {
			return "", err
		}
		origins = append(origins, o)
		if img, err = images.SampleAPIServerImage(arch, bin); err != nil {
			return "", err
		}
	case recipeEtcd:
		etcd, o, err := file(CompEtcd, "etcd")
		if err != nil {
			return "", err
		}
		ctl, _, err := file(CompEtcd, "etcdctl")
		if err != nil {
			return "", err
		}
		origins = append(origins, o)
		if img, err = images.EtcdImage(arch, etcd, ctl); err != nil {
			return "", err
		}
	case recipePause:
		dep, _ := m.Component(CompPauseImage)
		e, ok := b.Store.Find(dep.Name, dep.Version)
		if !ok {
			return "", notBuilt(dep.Name, dep.Version)
		}
		origins = append(origins, "hardway pause "+dep.Version)
		if img, err = images.PauseImage(arch, filepath.Join(e.Dir, "pause")); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("internal error: no e2e image recipe %q for %s", c.Source.ImageRecipe, c.Image)
	}
	return strings.Join(origins, ", "), images.WriteArchive(filepath.Join(dir, c.imageArchive()), c.Image, img)
}

// agnhostFiles are the files upstream's Dockerfiles add to agnhost (porter's
// TLS pair) or to kitten and nautilus (their pages), read from the
// k8s.io/kubernetes module, and the command of the image.
func (b *Builder) agnhostFiles(ctx context.Context, m *Manifest, recipe string) (images.AgnhostFiles, []string, error) {
	mi, err := b.modDownload(ctx, "k8s.io/kubernetes", m.KubernetesVersion)
	if err != nil {
		return nil, nil, err
	}
	read := func(rel string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(mi.Dir, rel))
		if err != nil {
			return nil, fmt.Errorf("k8s.io/kubernetes %s lacks %s for the %s image: %v", m.KubernetesVersion, rel, recipe, err)
		}
		return data, nil
	}
	files := images.AgnhostFiles{}
	for _, f := range []string{"localhost.crt", "localhost.key"} {
		data, err := read("test/images/agnhost/porter/" + f)
		if err != nil {
			return nil, nil, err
		}
		files["/"+f] = data
	}
	if recipe == recipeAgnhost {
		return files, nil, nil
	}
	for _, f := range []string{recipe + ".jpg", "data.json"} {
		data, err := read("test/images/" + recipe + "/html/" + f)
		if err != nil {
			return nil, nil, err
		}
		files["/"+f] = data
	}
	return files, []string{"test-webserver"}, nil
}

// busyboxApplets asks the built busybox which applets it has.
func (b *Builder) busyboxApplets(ctx context.Context, bin string) ([]string, error) {
	out, err := b.Run.Run(ctx, hexec.Cmd{Name: bin, Args: []string{"--list"}})
	if err != nil {
		return nil, fmt.Errorf("%s --list: %v (busybox is built for this machine's architecture only)", bin, err)
	}
	return strings.Fields(string(out)), nil
}
