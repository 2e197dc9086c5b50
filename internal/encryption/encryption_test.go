package encryption

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	k := bytes.Repeat([]byte{0xAB}, 32)
	got, err := Render(k)
	if err != nil {
		t.Fatal(err)
	}
	// The shape the apiserver documents for --encryption-provider-config.
	want := `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- providers:
  - aescbc:
      keys:
      - name: key1
        secret: q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=
  - identity: {}
  resources:
  - secrets
`
	if string(got) != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
	back, err := Parse(got)
	if err != nil || !bytes.Equal(back, k) {
		t.Errorf("Parse(Render(k)) = %x, %v", back, err)
	}
	for _, n := range []int{0, 10, 33} {
		if _, err := Render(make([]byte, n)); err == nil {
			t.Errorf("Render accepted a %d-byte key", n)
		}
	}
}

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets", "encryption-config.yaml")
	first, changed, err := Ensure(path)
	if err != nil || !changed {
		t.Fatalf("first Ensure: changed=%v err=%v", changed, err)
	}
	k1, err := Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Errorf("key is %d bytes, want 32", len(k1))
	}
	if bytes.Equal(k1, make([]byte, 32)) {
		t.Error("key is all zeros")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", st.Mode().Perm())
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	second, changed, err := Ensure(path)
	if err != nil || changed || !bytes.Equal(first, second) {
		t.Errorf("second Ensure: changed=%v err=%v same=%v", changed, err, bytes.Equal(first, second))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode not tightened: %o", st.Mode().Perm())
	}

	other, _, err := Ensure(filepath.Join(dir, "other.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := Parse(other); bytes.Equal(k1, k2) {
		t.Error("two clusters got the same key")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files next to the config, want 1 (leftover temp file?)", len(entries))
	}
}

func TestEnsureRejectsInvalidFile(t *testing.T) {
	good, err := Render(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, data, want string
	}{
		{"garbage", "{{{ not yaml", "not an EncryptionConfiguration"},
		{"empty", "", "apiVersion/kind"},
		{"wrong kind", strings.Replace(string(good), "kind: EncryptionConfiguration", "kind: Config", 1), "apiVersion/kind"},
		{"unknown field", string(good) + "extra: 1\n", "unknown field"},
		{"no secrets entry", strings.Replace(string(good), "- secrets", "- configmaps", 1), "covers secrets"},
		{"identity first", `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - identity: {}
`, "not encrypted"},
		{"short key", strings.Replace(string(good), "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "AQEB", 1), "is 3"},
		{"key not base64", strings.Replace(string(good), "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "abc", 1), "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "enc.yaml")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Ensure(path)
			if err == nil {
				t.Fatal("Ensure accepted it")
			}
			for _, w := range []string{path, tt.want, "delete it"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if data, _ := os.ReadFile(path); string(data) != tt.data {
				t.Error("the invalid file was replaced")
			}
		})
	}
}

func TestKeysRoundTripAndNewKey(t *testing.T) {
	k1 := Key{Name: "key1", Secret: bytes.Repeat([]byte{1}, 32)}
	k2, err := NewKey([]Key{k1})
	if err != nil {
		t.Fatal(err)
	}
	if k2.Name != "key2" || len(k2.Secret) != 32 || bytes.Equal(k2.Secret, k1.Secret) {
		t.Fatalf("NewKey = %s (%d bytes)", k2.Name, len(k2.Secret))
	}
	if !Newer(k2, k1) || Newer(k1, k2) {
		t.Error("Newer does not order key2 after key1")
	}
	data, err := RenderKeys([]Key{k2, k1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Keys(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "key2" || got[1].Name != "key1" || !bytes.Equal(got[1].Secret, k1.Secret) {
		t.Fatalf("Keys = %+v", got)
	}
	// The first key is what Parse (and the API server) encrypts with.
	first, err := Parse(data)
	if err != nil || !bytes.Equal(first, k2.Secret) {
		t.Fatalf("Parse = %x, %v", first, err)
	}
	if k11, _ := NewKey([]Key{{Name: "key10", Secret: k1.Secret}, k1}); k11.Name != "key11" {
		t.Errorf("after key10 comes %s", k11.Name)
	}
	if _, err := RenderKeys([]Key{{Name: "key1", Secret: []byte("short")}}); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}
