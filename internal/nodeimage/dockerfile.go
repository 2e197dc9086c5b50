package nodeimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hardway.dev/hardway/internal/exec"
)

// Dockerfile returns the Dockerfile equivalent of the debootstrap recipe, for
// users whose Docker can pull debian:bookworm from a registry. It installs
// the same packages and runs the same setup script and entrypoint, so the
// result answers to the same tag. The build context must hold the files
// "entrypoint" and "setup.sh" (see WriteDockerContext).
func Dockerfile() string {
	var b strings.Builder
	b.WriteString("# hardway node image, the registry way. Same recipe as `hardway node-image build`.\n")
	b.WriteString("FROM debian:" + Suite + "\n")
	b.WriteString("RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n    ")
	b.WriteString(strings.Join(Packages(), " "))
	b.WriteString(" \\\n && rm -rf /var/lib/apt/lists/*\n")
	b.WriteString("COPY entrypoint " + EntrypointPath + "\n")
	b.WriteString("COPY setup.sh /tmp/hardway-setup.sh\n")
	b.WriteString("RUN chmod 0755 " + EntrypointPath + " && sh /tmp/hardway-setup.sh && rm -f /tmp/hardway-setup.sh\n")
	for _, c := range imageChanges() {
		b.WriteString(c + "\n")
	}
	return b.String()
}

// WriteDockerContext writes Dockerfile, entrypoint and setup.sh into dir.
func WriteDockerContext(dir string) error {
	files := map[string][]byte{
		"Dockerfile": []byte(Dockerfile()),
		"entrypoint": entrypoint,
		"setup.sh":   setupScript,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing the Docker build context: %w", err)
		}
	}
	return nil
}

func buildDockerfile(ctx context.Context, tag string, o Options) error {
	start := time.Now()
	dir, err := os.MkdirTemp(o.WorkDir, "hardway-node-dockerfile-")
	if err != nil {
		return fmt.Errorf("creating a build context directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := WriteDockerContext(dir); err != nil {
		return err
	}
	logf(o.Log, 0, "[1/1] docker build from debian:%s (needs a registry; -v shows its output)", Suite)
	_, err = o.Runner.Run(ctx, exec.Cmd{
		Name:   "docker",
		Args:   []string{"build", "-t", tag, dir},
		Stream: &lineLogger{log: o.Log, level: 1, prefix: "  docker build: "},
	})
	if err != nil {
		return fmt.Errorf("docker build of the node image failed (it pulls debian:%s; without a registry use `hardway node-image build` without --dockerfile): %w", Suite, err)
	}
	logf(o.Log, 0, "node image %s built in %s", tag, time.Since(start).Round(time.Second))
	return nil
}
