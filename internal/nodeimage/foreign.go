package nodeimage

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/images"
)

// imageConfig is imageChanges as an image config: the same three settings
// `docker import --change` applies, for images loaded instead of imported.
func imageConfig() (v1.Config, error) {
	var cfg v1.Config
	for _, c := range imageChanges() {
		verb, arg, _ := strings.Cut(c, " ")
		switch verb {
		case "ENV":
			cfg.Env = append(cfg.Env, arg)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(arg), &cfg.Entrypoint); err != nil {
				return v1.Config{}, fmt.Errorf("node image change %q: %v", c, err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(arg), &cfg.Cmd); err != nil {
				return v1.Config{}, fmt.Errorf("node image change %q: %v", c, err)
			}
		default:
			return v1.Config{}, fmt.Errorf("node image change %q: no config equivalent here (a bug in hardway)", c)
		}
	}
	return cfg, nil
}

// foreignImage is the root file system tarball as a one-layer image whose
// config names linux/arch.
func foreignImage(rootfsTar, arch string) (v1.Image, error) {
	// Fastest gzip: the archive is read once, by docker load.
	layer, err := tarball.LayerFromFile(rootfsTar, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, fmt.Errorf("node image layer %s: %v", rootfsTar, err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	if arch == "arm64" {
		cf.Variant = "v8" // what Docker and containerd record for arm64
	}
	cf.Created = v1.Time{Time: time.Now().UTC()}
	if cf.Config, err = imageConfig(); err != nil {
		return nil, err
	}
	return mutate.ConfigFile(img, cf)
}

// loadForeign writes the image as a docker-save archive next to the root
// file system and `docker load`s it.
func loadForeign(ctx context.Context, o Options, rootfsTar, tag string) error {
	img, err := foreignImage(rootfsTar, o.arch())
	if err != nil {
		return err
	}
	archive := filepath.Join(filepath.Dir(rootfsTar), "image.tar")
	if err := images.WriteArchive(archive, tag, img); err != nil {
		return err
	}
	if _, err := o.Runner.Run(ctx, exec.Cmd{Name: "docker", Args: []string{"load", "-i", archive}}); err != nil {
		return fmt.Errorf("docker load of the %s node image failed: %w", o.arch(), err)
	}
	return nil
}
