package config

import (
	"strings"
	"testing"
)

func TestCheckVersionChange(t *testing.T) {
	tests := []struct {
		from, to, want string
	}{
		{"v1.36.3", "v1.37.2", ""},
		{"v1.37.2", "v1.37.2", ""},
		{"v1.37.1", "v1.37.2", ""},
		{"v1.37.2", "v1.36.3", "downgrades are not supported"},
		{"v1.37.2", "v1.37.1", "downgrades are not supported"},
		{"v1.35.0", "v1.37.2", "skips a minor version from the cluster's v1.35.0; the version-skew policy allows one at a time: upgrade to v1.36 first"},
		{"v1.37.2", "v2.0.0", "changes the major version"},
		{"v1.37.2", "1.38.0", `"1.38.0" is not a Kubernetes version`},
		{"v1.37.2", "v1.38", `"v1.38" is not a Kubernetes version`},
	}
	for _, tt := range tests {
		err := CheckVersionChange(tt.from, tt.to)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s → %s: err = %v, want %q", tt.from, tt.to, err, tt.want)
		}
	}
}
