package ops

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
)

// snapshotOf builds a minimal stand-in for an etcd snapshot: a "database"
// whose meta page carries bbolt's magic, followed by its SHA-256.
func snapshotOf(db []byte) []byte {
	h := sha256.Sum256(db)
	return append(db, h[:]...)
}

func TestCheckSnapshot(t *testing.T) {
	db := make([]byte, 8192)
	binary.LittleEndian.PutUint32(db[16:], boltMagic)
	good := snapshotOf(db)
	truncated := good[:len(good)-100]
	changed := append([]byte{}, good...)
	changed[5000] ^= 1
	notBolt := snapshotOf(make([]byte, 8192))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"good", good, ""},
		{"truncated", truncated, "damaged"},
		{"changed", changed, "damaged"},
		{"not a database", notBolt, "not an etcd snapshot"},
		{"empty", nil, "too small"},
	}
	for _, tt := range tests {
		err := CheckSnapshot(tt.data)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}
