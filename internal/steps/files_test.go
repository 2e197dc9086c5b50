package steps

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"hardway.dev/hardway/internal/render"
)

// memNode is a node whose file system is a map. It understands the two
// commands syncFiles sends: the hash listing and `tar -x`.
type memNode struct {
	files map[string]render.File
	runs  int
}

func (m *memNode) Name() string { return "mem" }
func (m *memNode) IP() string   { return "10.0.0.1" }

func (m *memNode) Run(_ context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	m.runs++
	switch {
	case argv[0] == "sh" && strings.Contains(argv[2], "sha256sum"):
		var out strings.Builder
		for _, p := range argv[4:] {
			if f, ok := m.files[p]; ok {
				sum := sha256.Sum256(f.Data)
				fmt.Fprintf(&out, "%s %o %s\n", hex.EncodeToString(sum[:]), f.Mode.Perm(), p)
			}
		}
		return []byte(out.String()), nil
	case argv[0] == "sh" && strings.HasPrefix(argv[2], "tar -x"):
		tr := tar.NewReader(stdin)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			data, _ := io.ReadAll(tr)
			// Extracted beside the target, then renamed over it.
			p := strings.TrimSuffix("/"+h.Name, newSuffix)
			if p == "/"+h.Name {
				return nil, fmt.Errorf("memNode: %s was not extracted beside its target", h.Name)
			}
			m.files[p] = render.File{Path: p, Mode: os.FileMode(h.Mode), Data: data}
		}
	}
	return nil, fmt.Errorf("memNode: unexpected command %q", argv)
}

func (m *memNode) WriteFile(context.Context, string, []byte, os.FileMode) error {
	return errors.New("unused")
}
func (m *memNode) ReadFile(context.Context, string) ([]byte, error) { return nil, errors.New("unused") }

func TestSyncFiles(t *testing.T) {
	unit := render.File{Path: "/etc/systemd/system/etcd.service", Mode: 0o644, Data: []byte("[Unit]\n")}
	key := render.File{Path: "/etc/etcd/server-key.pem", Mode: 0o600, Data: []byte("KEY")}
	tests := []struct {
		name        string
		have        []render.File
		want        []render.File
		wantChanged []string
		wantRuns    int
	}{
		{"empty node gets everything", nil, []render.File{unit, key}, []string{unit.Path, key.Path}, 2},
		{"identical files change nothing and send nothing", []render.File{unit, key}, []render.File{unit, key}, nil, 1},
		{"changed content is rewritten", []render.File{unit, {Path: key.Path, Mode: 0o600, Data: []byte("OLD")}}, []render.File{unit, key}, []string{key.Path}, 2},
		{"changed mode is rewritten", []render.File{unit, {Path: key.Path, Mode: 0o644, Data: key.Data}}, []render.File{unit, key}, []string{key.Path}, 2},
		{"nothing to sync runs nothing", nil, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memNode{files: map[string]render.File{}}
			for _, f := range tt.have {
				m.files[f.Path] = f
			}
			changed, err := syncFiles(context.Background(), m, tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(changed, tt.wantChanged) {
				t.Errorf("changed %q, want %q", changed, tt.wantChanged)
			}
			if m.runs != tt.wantRuns {
				t.Errorf("%d commands, want %d", m.runs, tt.wantRuns)
			}
			for _, f := range tt.want {
				got := m.files[f.Path]
				if !bytes.Equal(got.Data, f.Data) || got.Mode.Perm() != f.Mode.Perm() {
					t.Errorf("%s on node = %q %o, want %q %o", f.Path, got.Data, got.Mode.Perm(), f.Data, f.Mode.Perm())
				}
			}
		})
	}
}

func TestSelect(t *testing.T) {
	all := All()
	tests := []struct {
		from, only string
		want       []string
		wantErr    string
	}{
		{want: Names(all)},
		{from: "etcd", want: []string{"etcd", "control-plane", "workers", "network", "dns", "verify"}},
		{only: "pki", want: []string{"pki"}},
		{from: "etcd", only: "pki", wantErr: "exclude each other"},
		{only: "nope", wantErr: `no step "nope"; the steps are: check, nodes, pki`},
	}
	for _, tt := range tests {
		got, err := Select(all, tt.from, tt.only)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Select(%q,%q) error %v, want %q", tt.from, tt.only, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(Names(got), tt.want) {
			t.Errorf("Select(%q,%q) = %q, %v; want %q", tt.from, tt.only, Names(got), err, tt.want)
		}
	}
}

func TestStepOrderMatchesTheTutorial(t *testing.T) {
	want := []string{"check", "nodes", "pki", "kubeconfigs", "encryption", "etcd", "control-plane", "workers", "network", "dns", "verify"}
	if got := Names(All()); !reflect.DeepEqual(got, want) {
		t.Fatalf("steps %q, want %q", got, want)
	}
	for _, s := range All() {
		if s.Title == "" || s.Explain == nil || s.Run == nil {
			t.Errorf("step %s lacks a title, an explanation or a Run", s.Name)
		}
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		out  string
		want []string
	}{
		{"Server:\t\t10.32.0.10\nAddress:\t10.32.0.10:53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.32.0.1\n", []string{"10.32.0.1"}},
		{"Server:\t\t10.32.0.10\nAddress:\t10.32.0.10:53\n\n** server can't find x: NXDOMAIN\n", nil},
	}
	for _, tt := range tests {
		if got := answers(tt.out); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("answers(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}

func TestLeaseHeld(t *testing.T) {
	now := time.Now()
	holder, dur := "node-0_abc", int32(15)
	lease := func(h *string, renew time.Time) *coordinationv1.Lease {
		rt := metav1.NewMicroTime(renew)
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: h, RenewTime: &rt, LeaseDurationSeconds: &dur}}
	}
	empty := ""
	tests := []struct {
		name string
		l    *coordinationv1.Lease
		want bool
	}{
		{"fresh", lease(&holder, now.Add(-time.Second)), true},
		{"expired", lease(&holder, now.Add(-time.Minute)), false},
		{"no holder", lease(&empty, now), false},
		{"never renewed", &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}, false},
	}
	for _, tt := range tests {
		if got := leaseHeld(tt.l, now); got != tt.want {
			t.Errorf("%s: leaseHeld = %v, want %v", tt.name, got, tt.want)
		}
	}
}
