package steps

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"hardway.dev/hardway/internal/converge"
	"hardway.dev/hardway/internal/encryption"
)

func encryptionStep() Step {
	return Step{
		Name:    "encryption",
		Title:   "Encryption at rest: a key for Secrets in etcd",
		Explain: explainEncryption,
		Run: func(ctx context.Context, c *Cluster) ([]converge.Change, error) {
			created, err := c.encryptionCreated()
			if err != nil || !created {
				return nil, err
			}
			return []converge.Change{{Action: converge.Created, Target: c.State.EncryptionConfig(), Reason: "a new random AES-256 key"}}, nil
		},
	}
}

func (c *Cluster) ensureEncryption() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.encryption != nil {
		return c.encryption, nil
	}
	data, created, err := encryption.Ensure(c.State.EncryptionConfig())
	if err != nil {
		return nil, err
	}
	if created {
		c.Log.Logf(1, "  encryption: created a new key in %s", c.State.EncryptionConfig())
	}
	c.encryption, c.encryptionNew = data, created
	return data, nil
}

// encryptionCreated ensures the config and reports whether this run made it.
func (c *Cluster) encryptionCreated() (bool, error) {
	if _, err := c.ensureEncryption(); err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.encryptionNew, nil
}

var secretRE = regexp.MustCompile(`(secret:\s*)\S+`)

func explainEncryption(c *Cluster) (string, error) {
	var b strings.Builder
	b.WriteString(encryptionProse)
	section(&b, "The file the API server reads (--encryption-provider-config)")
	data, err := encryption.Render(make([]byte, 32))
	if err != nil {
		return "", err
	}
	b.WriteString(indent(secretRE.ReplaceAllString(string(data), "${1}<32 random bytes, base64>"), "  "))
	fmt.Fprintf(&b, "\nOn each control-plane node: /etc/kubernetes/encryption-config.yaml (0600).\nProof it works: `hardway verify` reads a Secret straight from etcd and expects the prefix k8s:enc:aescbc:v1:key1.\n")
	return b.String(), nil
}
