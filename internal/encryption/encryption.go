// Package encryption makes the kube-apiserver's EncryptionConfiguration, so
// Secrets are stored in etcd encrypted with a key only the control plane has.
package encryption

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"hardway.dev/hardway/internal/fsutil"
)

const (
	APIVersion = "apiserver.config.k8s.io/v1"
	Kind       = "EncryptionConfiguration"
	// KeyName names the key in the file; a rotation would add key2 first.
	KeyName = "key1"
	keySize = 32 // AES-256
)

// Local mirrors of the apiserver's config types: importing k8s.io/apiserver
// for four structs would pull in most of the apiserver.
type config struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Resources  []resource `json:"resources"`
}

type resource struct {
	Resources []string   `json:"resources"`
	Providers []provider `json:"providers"`
}

// provider holds exactly one of its fields; the apiserver uses the first
// provider to encrypt and tries them all to decrypt.
type provider struct {
	AESCBC   *aesConfig `json:"aescbc,omitempty"`
	Identity *struct{}  `json:"identity,omitempty"`
}

type aesConfig struct {
	Keys []key `json:"keys"`
}

type key struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// Key is one named AES key of the aescbc provider.
type Key struct {
	Name   string
	Secret []byte
}

// Render returns the configuration that encrypts Secrets with aescbc under
// key, and still reads Secrets written before encryption was on (identity).
func Render(k []byte) ([]byte, error) {
	return RenderKeys([]Key{{Name: KeyName, Secret: k}})
}

// RenderKeys is Render with several keys: the first encrypts every write,
// all of them decrypt (the state in the middle of a key rotation).
func RenderKeys(keys []Key) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("an encryption config needs at least one key")
	}
	var ks []key
	for _, k := range keys {
		if !validAESKey(k.Secret) {
			return nil, fmt.Errorf("encryption key %s is %d bytes; AES needs 16, 24 or 32", k.Name, len(k.Secret))
		}
		ks = append(ks, key{Name: k.Name, Secret: base64.StdEncoding.EncodeToString(k.Secret)})
	}
	c := config{
		APIVersion: APIVersion,
		Kind:       Kind,
		Resources: []resource{{
			Resources: []string{"secrets"},
			Providers: []provider{
				{AESCBC: &aesConfig{Keys: ks}},
				{Identity: &struct{}{}},
			},
		}},
	}
	return yaml.Marshal(c)
}

// Keys returns every aescbc key of a configuration, the one that encrypts
// first.
func Keys(data []byte) ([]Key, error) {
	if _, err := Parse(data); err != nil {
		return nil, err
	}
	var c config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, err
	}
	var out []Key
	for _, r := range c.Resources {
		if !slices.Contains(r.Resources, "secrets") {
			continue
		}
		for _, k := range r.Providers[0].AESCBC.Keys {
			secret, err := base64.StdEncoding.DecodeString(k.Secret)
			if err != nil || !validAESKey(secret) || k.Name == "" {
				return nil, fmt.Errorf("aescbc key %q must be named, base64 and 16, 24 or 32 bytes", k.Name)
			}
			out = append(out, Key{Name: k.Name, Secret: secret})
		}
		return out, nil
	}
	return nil, errors.New("no resources entry covers secrets")
}

// NewKey makes a random key named after the highest-numbered one in use
// plus one ("key2" after "key1"), so names never repeat: etcd keeps the name
// of the key each Secret was written with.
func NewKey(existing []Key) (Key, error) {
	n := 0
	for _, k := range existing {
		if v, ok := keyNumber(k.Name); ok && v > n {
			n = v
		}
	}
	secret := make([]byte, keySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("generating encryption key: %w", err)
	}
	return Key{Name: fmt.Sprintf("key%d", n+1), Secret: secret}, nil
}

// keyNumber reads N from "keyN".
func keyNumber(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "key")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(rest)
	return v, err == nil
}

// Newer reports whether key a was made after key b (by its number).
func Newer(a, b Key) bool {
	x, okA := keyNumber(a.Name)
	y, okB := keyNumber(b.Name)
	return okA && okB && x > y
}

// WriteFile stores a configuration atomically with mode 0600.
func WriteFile(path string, data []byte) error { return writeFile(path, data) }

// Parse checks that data is a configuration this package would accept and
// returns the key Secrets are encrypted with.
func Parse(data []byte) ([]byte, error) {
	var c config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("not an EncryptionConfiguration hardway understands: %w", err)
	}
	if c.APIVersion != APIVersion || c.Kind != Kind {
		return nil, fmt.Errorf("apiVersion/kind are %q/%q, want %s/%s", c.APIVersion, c.Kind, APIVersion, Kind)
	}
	for _, r := range c.Resources {
		if !slices.Contains(r.Resources, "secrets") {
			continue
		}
		if len(r.Providers) == 0 || r.Providers[0].AESCBC == nil || len(r.Providers[0].AESCBC.Keys) == 0 {
			return nil, errors.New("secrets are not encrypted: the first provider must be aescbc with a key")
		}
		k := r.Providers[0].AESCBC.Keys[0]
		secret, err := base64.StdEncoding.DecodeString(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("aescbc key %q is not base64: %w", k.Name, err)
		}
		if k.Name == "" || !validAESKey(secret) {
			return nil, fmt.Errorf("aescbc key %q must be named and 16, 24 or 32 bytes (is %d)", k.Name, len(secret))
		}
		return secret, nil
	}
	return nil, errors.New("no resources entry covers secrets")
}

func validAESKey(k []byte) bool { return len(k) == 16 || len(k) == 24 || len(k) == 32 }

// Ensure returns the configuration at path, generating it with a fresh
// random key only when the file is absent: the key must outlive every run,
// since Secrets written with it are unreadable without it.
func Ensure(path string) (data []byte, changed bool, err error) {
	data, err = os.ReadFile(path)
	switch {
	case err == nil:
		if _, perr := Parse(data); perr != nil {
			return nil, false, fmt.Errorf("%s: %v: restore it from a backup, or delete it to generate a new key (Secrets already stored with the old key then become unreadable: recreate the cluster)", path, perr)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, false, fmt.Errorf("setting mode 600 on %s: %w", path, err)
		}
		return data, false, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	k := make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		return nil, false, fmt.Errorf("generating encryption key: %w", err)
	}
	if data, err = Render(k); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := writeFile(path, data); err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// writeFile writes the key file atomically, 0600: a truncated key would be
// refused by the next run.
func writeFile(path string, data []byte) error { return fsutil.WriteFileAtomic(path, data, 0o600) }
