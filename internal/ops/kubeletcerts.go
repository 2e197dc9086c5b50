package ops

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/lines"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
	"hardway.dev/hardway/internal/steps"
)

// The certificates a kubelet really uses. It rotates its client and serving
// certificates itself, into its --cert-dir on the node: once it has, the
// state directory holds only hardway's pair, which the kubelet no longer
// loads. `hardway certs` and `certs check` read the truth on the nodes.

// Uses of a kubelet's certificates.
const (
	KubeletClient  = "client"  // what it logs in to the API server with
	KubeletServing = "serving" // what it serves its API (:10250) with
)

// KubeletCert is a certificate a kubelet uses, read on its node.
type KubeletCert struct {
	Node string
	Use  string
	// Path is the file the kubelet loads it from on the node, links
	// resolved.
	Path string
	// Rotated: the kubelet's own, from a CertificateSigningRequest (a file
	// in its --cert-dir), not hardway's pair.
	Rotated bool
	Info    pki.Info
}

// KubeletNode is what was read on one worker: its kubelet's certificates,
// or why they could not be read.
type KubeletNode struct {
	Node  string
	Certs []KubeletCert
	Err   error
}

// kubeletCertsScript prints, for the kubelet's client and serving
// certificate, "USE PATH" (the file its certificate store loads, links
// resolved, "-" for none) and that file's certificates, never its key. $1 is
// a root the paths live under (empty on a node, a directory in tests); then
// the client link, the serving link, and the serving fallback (tlsCertFile).
const kubeletCertsScript = `set -u
root=$1
show() {
  f=$(readlink -f "$root$2" 2>/dev/null) || f=
  if [ -z "$f" ] || [ ! -f "$f" ]; then
    echo "$1 -"
    return 0
  fi
  echo "$1 ${f#"$root"}"
  sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$f"
}
show client "$2"
if [ -e "$root$3" ]; then show serving "$3"; else show serving "$4"; fi
`

// kubeletCertsArgs is the command that runs kubeletCertsScript on a node.
func kubeletCertsArgs(root string) []string {
	return []string{"sh", "-c", kubeletCertsScript, "kubelet-certs", root, render.KubeletClientCurrent, render.KubeletServerCurrent, render.KubeletServingCert}
}

// parseKubeletCerts reads kubeletCertsScript's answer from node.
func parseKubeletCerts(node, out string) ([]KubeletCert, error) {
	var certs []KubeletCert
	var cur *KubeletCert
	var block strings.Builder
	flush := func() error {
		if cur == nil {
			return nil
		}
		if cur.Path != "-" {
			b, _ := pem.Decode([]byte(block.String()))
			if b == nil {
				return fmt.Errorf("%s: %s holds no certificate", node, cur.Path)
			}
			info, err := pki.Describe(pki.Pair{Name: pki.KubeletName(node) + " " + cur.Use, CertPEM: pem.EncodeToMemory(b)})
			if err != nil {
				return fmt.Errorf("%s: %s: %w", node, cur.Path, err)
			}
			cur.Info = info
			cur.Rotated = strings.HasPrefix(cur.Path, render.KubeletCertDir+"/")
			certs = append(certs, *cur)
		}
		cur = nil
		block.Reset()
		return nil
	}
	for _, l := range strings.Split(out, "\n") {
		use, path, ok := strings.Cut(l, " ")
		if ok && (use == KubeletClient || use == KubeletServing) && !strings.HasPrefix(l, "-----") {
			if err := flush(); err != nil {
				return nil, err
			}
			cur = &KubeletCert{Node: node, Use: use, Path: path}
			continue
		}
		if cur != nil {
			block.WriteString(l + "\n")
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return certs, nil
}

// KubeletCerts reads, on every worker of c at once, the certificates its
// kubelet uses. A worker that does not answer within bound gets an error
// instead; the caller says which copy it shows then.
func KubeletCerts(ctx context.Context, c *steps.Cluster, bound time.Duration) []KubeletNode {
	workers := c.Config.Workers()
	out := make([]KubeletNode, len(workers))
	var wg sync.WaitGroup
	for i, n := range workers {
		wg.Add(1)
		go func(i int, n config.Node) {
			defer wg.Done()
			out[i] = KubeletNodeCerts(ctx, c, n, bound)
		}(i, n)
	}
	wg.Wait()
	return out
}

// KubeletNodeCerts is KubeletCerts for one worker.
func KubeletNodeCerts(ctx context.Context, c *steps.Cluster, n config.Node, bound time.Duration) KubeletNode {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	r := KubeletNode{Node: n.Name}
	nd, err := c.Node(ctx, n.Name)
	if err == nil {
		var res []byte
		if res, err = nd.Run(ctx, nil, kubeletCertsArgs("")...); err == nil {
			r.Certs, err = parseKubeletCerts(n.Name, string(res))
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s", bound)
	}
	if err != nil {
		r.Err = fmt.Errorf("reading the kubelet's certificates on %s: %s", n.Name, lines.First(err.Error()))
	}
	return r
}
