// Package kubeconfig builds the kubeconfig files of the cluster's clients
// from the PKI, with certificates embedded so each file is self-contained
// when copied to a node; only the kubelets' name their client pair by file,
// the one the kubelet rotates.
package kubeconfig

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/fsutil"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

// Keys of the cluster-wide kubeconfigs; kubelets' are KubeletKey(node).
const (
	Admin             = "admin"
	SuperAdmin        = "super-admin"
	KubeProxy         = "kube-proxy"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
)

func KubeletKey(node string) string { return "kubelet-" + node }

// Spec is one kubeconfig: which certificate it carries, which user that
// certificate authenticates as, and which apiserver address it talks to.
type Spec struct {
	Key string
	// Cert is the pki entry whose certificate and key are embedded.
	Cert string
	// User is the identity the apiserver sees (the certificate's CN).
	User    string
	Server  string
	Context string
	UsedBy  string
	// Node is set for per-node kubeconfigs.
	Node string
	// PairFile, when set, is a file on the node holding the client
	// certificate and key, named by the kubeconfig instead of embedding
	// Cert: the kubelet's kubelet-client-current.pem. The kubelet replaces
	// that pair when it rotates its certificate and asks for the next one
	// with the kubeconfig's identity, so the kubeconfig must name the
	// rotated pair: embedded data (or hardway's own file) would still be
	// the first certificate after it expired, and the next renewal would be
	// refused. The kubelet's ExecStartPre links it to hardway's pair
	// (render.KubeletCertsScript).
	PairFile string
}

// Specs lists the kubeconfigs of c. Kubelets and kube-proxy run on workers
// and use the load-balanced address (the load-balancer container, or on
// machines the node-local one), so they survive a control-plane node going
// down; the controller-manager and scheduler run beside an apiserver and use
// it directly, so they need no load balancer at all.
func Specs(c *config.Cluster) []Spec {
	admin, lb, local := c.APIServerURL(), c.NodeAPIServerURL(), c.LocalAPIServerURL()
	out := []Spec{
		{Key: Admin, Cert: pki.Admin, User: "admin", Server: admin, Context: c.Name,
			UsedBy: "you: kubectl --kubeconfig admin.kubeconfig (or merged with hardway kubeconfig --merge); group " + pki.AdminGroup + ", allowed by RBAC"},
		{Key: SuperAdmin, Cert: pki.SuperAdmin, User: "super-admin", Server: admin, Context: c.Name,
			UsedBy: "break glass, never copied anywhere: group " + pki.MastersGroup + " passes before RBAC; hardway creates the admin group's binding with it"},
		{Key: KubeProxy, Cert: pki.KubeProxy, User: "system:kube-proxy", Server: lb, Context: "default",
			UsedBy: "kube-proxy on every worker"},
		{Key: ControllerManager, Cert: pki.ControllerManager, User: "system:kube-controller-manager", Server: local, Context: "default",
			UsedBy: "kube-controller-manager on every control-plane node, through its local apiserver"},
		{Key: Scheduler, Cert: pki.Scheduler, User: "system:kube-scheduler", Server: local, Context: "default",
			UsedBy: "kube-scheduler on every control-plane node, through its local apiserver"},
	}
	for _, n := range c.Workers() {
		out = append(out, Spec{Key: KubeletKey(n.Name), Cert: pki.KubeletName(n.Name), User: "system:node:" + n.Name,
			Server: lb, Context: "default", Node: n.Name, PairFile: render.KubeletClientCurrent,
			UsedBy: "kubelet on " + n.Name + ", with the client pair it rotates (" + render.KubeletClientCurrent + " on the node)"})
	}
	return out
}

// Build renders every kubeconfig of c, keyed by Spec.Key.
func Build(c *config.Cluster, set *pki.Set) (map[string][]byte, error) {
	ca, ok := set.Get(pki.CA)
	if !ok {
		return nil, errors.New("the PKI has no CA: run the PKI step before building kubeconfigs")
	}
	out := map[string][]byte{}
	for _, s := range Specs(c) {
		p, ok := set.Get(s.Cert)
		if !ok {
			return nil, fmt.Errorf("kubeconfig %s: the PKI has no %s certificate: run the PKI step for this config first", s.Key, s.Cert)
		}
		user := &clientcmdapi.AuthInfo{ClientCertificateData: p.CertPEM, ClientKeyData: p.KeyPEM}
		if s.PairFile != "" {
			user = &clientcmdapi.AuthInfo{ClientCertificate: s.PairFile, ClientKey: s.PairFile}
		}
		cfg := clientcmdapi.Config{
			Clusters: map[string]*clientcmdapi.Cluster{
				c.Name: {Server: s.Server, CertificateAuthorityData: ca.Trust()},
			},
			AuthInfos: map[string]*clientcmdapi.AuthInfo{s.User: user},
			Contexts: map[string]*clientcmdapi.Context{
				s.Context: {Cluster: c.Name, AuthInfo: s.User},
			},
			CurrentContext: s.Context,
		}
		data, err := clientcmd.Write(cfg)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", s.Key, err)
		}
		out[s.Key] = data
	}
	return out, nil
}

// BuildUser renders the kubeconfig of one person (`hardway kubeconfig
// --user`): their certificate and key from p, the cluster's CA bundle, the
// admin kubeconfig's server, and a context called USER@CLUSTER.
func BuildUser(c *config.Cluster, user string, p pki.Pair) ([]byte, error) {
	ctx := user + "@" + c.Name
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{
			c.Name: {Server: c.APIServerURL(), CertificateAuthorityData: p.TrustPEM},
		},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{
			user: {ClientCertificateData: p.CertPEM, ClientKeyData: p.KeyPEM},
		},
		Contexts:       map[string]*clientcmdapi.Context{ctx: {Cluster: c.Name, AuthInfo: user}},
		CurrentContext: ctx,
	}
	data, err := clientcmd.Write(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %s: %w", user, err)
	}
	return data, nil
}

// IssueUser issues a short-lived certificate for one person with the
// cluster CA in pkiDir (pki.IssueUser) and writes their kubeconfig to path
// (mode 0600: it holds their key), replacing an earlier one. It returns the
// certificate, whose expiry the caller shows.
func IssueUser(pkiDir, path string, c *config.Cluster, r pki.UserRequest, now time.Time) (*x509.Certificate, error) {
	p, err := pki.IssueUser(pkiDir, c, r, now)
	if err != nil {
		return nil, err
	}
	data, err := BuildUser(c, r.Name, p)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := writeFile(path, data); err != nil {
		return nil, err
	}
	return p.Cert, nil
}

// Path is where Ensure writes the kubeconfig with the given key.
func Path(dir, key string) string { return filepath.Join(dir, key+".kubeconfig") }

// Ensure writes every kubeconfig of c into dir and returns the keys whose
// file changed, so only those are copied to nodes and their users restarted.
func Ensure(dir string, c *config.Cluster, set *pki.Set) (changed []string, err error) {
	files, err := Build(c, set)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating kubeconfig directory: %w", err)
	}
	for _, s := range Specs(c) {
		path := Path(dir, s.Key)
		old, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if err == nil && bytes.Equal(old, files[s.Key]) {
			// Same content; still make sure a key-bearing file is private.
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, fmt.Errorf("setting mode 600 on %s: %w", path, err)
			}
			continue
		}
		if err := writeFile(path, files[s.Key]); err != nil {
			return nil, err
		}
		changed = append(changed, s.Key)
	}
	return changed, nil
}

// ContextName is the name the cluster gets in the user's own kubeconfig.
func ContextName(c *config.Cluster) string { return "hardway-" + c.Name }

// Merge adds the admin kubeconfig to the user's kubeconfig at path as a
// cluster, user and context all called contextName, replacing entries of
// that name and leaving every other entry alone. It makes that context the
// current one, as kind does, since the user just asked for this cluster. The
// file is created (0600) when absent.
func Merge(path string, admin []byte, contextName string) error {
	src, err := clientcmd.Load(admin)
	if err != nil {
		return fmt.Errorf("admin kubeconfig does not parse: %w", err)
	}
	ctx, ok := src.Contexts[src.CurrentContext]
	if !ok {
		return fmt.Errorf("admin kubeconfig has no current context %q", src.CurrentContext)
	}
	cluster, user := src.Clusters[ctx.Cluster], src.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		return fmt.Errorf("admin kubeconfig context %q names a missing cluster or user", src.CurrentContext)
	}

	dst := clientcmdapi.NewConfig()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading %s: %w", path, err)
	default:
		// Load, not LoadFromFile: the latter turns relative paths into
		// absolute ones, which we would then write back.
		if dst, err = clientcmd.Load(data); err != nil {
			return fmt.Errorf("%s is not a valid kubeconfig (%v): fix or move it, or merge into another file with --kubeconfig", path, err)
		}
	}
	dst.Clusters[contextName] = cluster
	dst.AuthInfos[contextName] = user
	dst.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: contextName}
	dst.CurrentContext = contextName
	out, err := clientcmd.Write(*dst)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	// Written in place rather than renamed over, so a kubeconfig that is a
	// symlink (dotfile managers) stays one and keeps its owner.
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// writeFile replaces path atomically with mode 0600: the file holds a key.
func writeFile(path string, data []byte) error { return fsutil.WriteFileAtomic(path, data, 0o600) }
