package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"hardway.dev/hardway/internal/config"
)

func verifies(t *testing.T, leaf *x509.Certificate, trustPEM []byte) bool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(trustPEM) {
		t.Fatalf("trust bundle has no certificate")
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: t0})
	return err == nil
}

// The three phases of a CA rotation, as `certs renew --ca` drives them.
func TestRotationPhases(t *testing.T) {
	for _, ca := range RotatableCAs() {
		t.Run(ca, func(t *testing.T) {
			dir := t.TempDir()
			c := cluster3()
			before, _ := ensure(t, dir, c, t0)
			signed := leavesSignedBy(c, ca)
			if err := BeginRotation(dir, c, ca, t0); err != nil {
				t.Fatal(err)
			}
			// Calling it again (after an interruption) changes nothing.
			newCA, _ := os.ReadFile(CertPath(dir, ca))
			if err := BeginRotation(dir, c, ca, t0); err != nil {
				t.Fatal(err)
			}
			if again, _ := os.ReadFile(CertPath(dir, ca)); string(again) != string(newCA) {
				t.Fatal("a second BeginRotation made another CA")
			}

			// trust: new CA, bundle of both, every leaf kept.
			trust, changes := ensure(t, dir, c, t0)
			for _, name := range signed {
				if changes[name].Action != Kept {
					t.Errorf("trust phase: %s %s (%s), want kept", name, changes[name].Action, changes[name].Reason)
				}
			}
			ct := pair(t, trust, ca)
			if string(ct.CertPEM) == string(pair(t, before, ca).CertPEM) {
				t.Fatal("the CA was not replaced")
			}
			old := pair(t, trust, signed[0]).Cert
			if !verifies(t, old, ct.Trust()) || verifies(t, old, ct.CertPEM) {
				t.Errorf("trust bundle must accept the old CA's leaves, the new CA alone must not")
			}

			// reissue: every leaf of the old CA reissued, bundle kept.
			if ph, err := AdvanceRotation(dir, ca); err != nil || ph != PhaseReissue {
				t.Fatalf("advance: %v %v", ph, err)
			}
			re, changes := ensure(t, dir, c, t0)
			for _, name := range signed {
				if changes[name].Action != Reissued || !strings.Contains(changes[name].Reason, "rotated out") {
					t.Errorf("reissue phase: %s %s (%s)", name, changes[name].Action, changes[name].Reason)
				}
				if !verifies(t, pair(t, re, name).Cert, pair(t, re, ca).CertPEM) {
					t.Errorf("%s is not signed by the new CA", name)
				}
			}
			if !verifies(t, old, pair(t, re, ca).Trust()) {
				t.Error("the old CA is no longer trusted during reissue")
			}

			// done: the old CA is gone from the bundle.
			if ph, err := AdvanceRotation(dir, ca); err != nil || ph != "" {
				t.Fatalf("finish: %v %v", ph, err)
			}
			done, changes := ensure(t, dir, c, t0)
			for name, ch := range changes {
				if ch.Changed() {
					t.Errorf("after the rotation %s %s (%s)", name, ch.Action, ch.Reason)
				}
			}
			if verifies(t, old, pair(t, done, ca).Trust()) {
				t.Error("the old CA is still trusted after the rotation")
			}
			if _, ok, _ := Rotation(dir, ca); ok {
				t.Error("rotation state left behind")
			}
		})
	}
}

// A PKI from before etcd had its own CA: up refuses with the command that
// migrates it, and the migration is the etcd CA's rotation starting from the
// cluster CA.
func TestEtcdCAMigration(t *testing.T) {
	dir := t.TempDir()
	c := cluster3()
	before, _ := ensure(t, dir, c, t0)
	// Make it look like the old layout: etcd's certificates signed by the
	// cluster CA, no etcd CA.
	old := pair(t, before, CA)
	for _, f := range []string{CertPath(dir, EtcdCA), KeyPath(dir, EtcdCA)} {
		removeT(t, f)
	}
	e := &ensurer{dir: dir, c: c, now: t0, signers: map[string]signer{}}
	cert, err := parseCert(old.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseKey(old.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Specs(c) {
		if s.CA == EtcdCA {
			id, err := e.identity(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.issue(s, id, signer{cert: cert, key: key}); err != nil {
				t.Fatal(err)
			}
		}
	}

	_, _, err = EnsureWith(dir, c, Options{Now: func() time.Time { return t0 }})
	if err == nil || !strings.Contains(err.Error(), "hardway certs renew --ca etcd-ca --name "+c.Name) {
		t.Fatalf("up on an old PKI: %v", err)
	}
	if _, err := os.Stat(CertPath(dir, EtcdCA)); !os.IsNotExist(err) {
		t.Fatal("the refusal created an etcd CA")
	}

	if err := BeginRotation(dir, c, EtcdCA, t0); err != nil {
		t.Fatal(err)
	}
	set, changes := ensure(t, dir, c, t0)
	etcdCA := pair(t, set, EtcdCA)
	server := pair(t, set, EtcdServerName("node-0")).Cert
	if changes[EtcdServerName("node-0")].Action != Kept || !verifies(t, server, etcdCA.Trust()) {
		t.Errorf("trust phase must keep etcd's old certificates and trust them: %v", changes[EtcdServerName("node-0")])
	}
	prev, err := os.ReadFile(filepath.Join(dir, EtcdCA+"-previous.pem"))
	if err != nil || string(prev) != string(old.CertPEM) {
		t.Errorf("the cluster CA is not the etcd CA's predecessor: %v", err)
	}
	for range 2 {
		if _, err := AdvanceRotation(dir, EtcdCA); err != nil {
			t.Fatal(err)
		}
		set, _ = ensure(t, dir, c, t0)
	}
	kubelet := pair(t, set, KubeletName("node-0")).Cert
	if verifies(t, kubelet, pair(t, set, EtcdCA).Trust()) {
		t.Error("after the migration etcd still trusts a kubelet certificate")
	}
	if !verifies(t, pair(t, set, EtcdServerName("node-0")).Cert, pair(t, set, EtcdCA).Trust()) {
		t.Error("etcd's certificate is not signed by the etcd CA after the migration")
	}
}

func TestRenew(t *testing.T) {
	dir := t.TempDir()
	c := cluster3()
	before, _ := ensure(t, dir, c, t0)
	set, changes, err := EnsureWith(dir, c, Options{Now: func() time.Time { return t0 }, Renew: []string{KubeProxy, Admin}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Specs(c) {
		ch := changes[indexOf(changes, s.Name)]
		want := Kept
		if s.Name == KubeProxy || s.Name == Admin {
			want = Reissued
		}
		if ch.Action != want {
			t.Errorf("%s: %s (%s), want %s", s.Name, ch.Action, ch.Reason, want)
		}
	}
	if pair(t, set, Admin).Cert.SerialNumber.Cmp(pair(t, before, Admin).Cert.SerialNumber) == 0 {
		t.Error("renewed certificate kept its serial")
	}
}

func indexOf(changes []Change, name string) int {
	for i, c := range changes {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// TestRenewAll: --all reissues every leaf, the add-ons' too (the
// gateway's was once kept), and keeps every CA and the key pair.
func TestRenewAll(t *testing.T) {
	dir := t.TempDir()
	c := cluster3()
	c.Addons = append(c.Addons, config.AddonGateway)
	ensure(t, dir, c, t0)
	_, changes, err := EnsureWith(dir, c, Options{Now: func() time.Time { return t0 }, RenewAll: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, s := range Specs(c) {
		ch := changes[indexOf(changes, s.Name)]
		want := Reissued
		if s.IsCA() || s.Usage == UsageKeyPair {
			want = Kept
		}
		if ch.Action != want {
			t.Errorf("%s: %s (%s), want %s", s.Name, ch.Action, ch.Reason, want)
		}
		seen = seen || s.Name == GatewayServer
	}
	if !seen {
		t.Fatal("the gateway's certificate is not in the table with the gateway on")
	}
}
