package render

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"hardway.dev/hardway/internal/config"
)

// TestNetpolManifests: every document parses, the steering script is the
// one the container runs, with the config's pod CIDR.
func TestNetpolManifests(t *testing.T) {
	c := config.Default()
	out, err := NetpolManifests(c, "v0.8.0", "registry.k8s.io/networking/kube-network-policies:v0.8.0")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var obj struct {
			Kind string `json:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name    string   `json:"name"`
							Command []string `json:"command"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		kinds = append(kinds, obj.Kind)
		if obj.Kind != "DaemonSet" {
			continue
		}
		cs := obj.Spec.Template.Spec.Containers
		if len(cs) != 2 || cs[1].Name != "steer" {
			t.Fatalf("containers %+v, want agent and steer", cs)
		}
		cmd := cs[1].Command
		want := []string{"/bin/busybox", "chroot", "/host", "/bin/sh", "-c", NetpolSteerScript, "hardway-netpol-steer", c.Network.PodCIDR, "100"}
		if strings.Join(cmd, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("steer command:\n%q\nwant\n%q", cmd, want)
		}
	}
	if got := strings.Join(kinds, ","); got != "Namespace,ServiceAccount,ClusterRole,ClusterRoleBinding,DaemonSet" {
		t.Errorf("kinds %s", got)
	}
}

// TestNetpolSteerScript runs the steering script with fake iptables and
// nft that log their arguments: without the nftables queue statement it
// writes the chain and the jump, and TERM removes both; with it, it adds
// nothing and TERM still removes the agent's table.
func TestNetpolSteerScript(t *testing.T) {
	for _, tt := range []struct {
		name      string
		nftCheck  int // exit status of nft -c
		wantStart []string
	}{
		{"no NFT_QUEUE", 1, []string{
			"iptables -t mangle -N HARDWAY-NETPOL",
			"iptables -t mangle -A HARDWAY-NETPOL -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
			"iptables -t mangle -A HARDWAY-NETPOL -m owner --uid-owner 0 -j RETURN",
			"iptables -t mangle -A HARDWAY-NETPOL -s 10.200.0.0/16 -j NFQUEUE --queue-num 100 --queue-bypass",
			"iptables -t mangle -A HARDWAY-NETPOL -d 10.200.0.0/16 -j NFQUEUE --queue-num 100 --queue-bypass",
			"iptables -t mangle -I POSTROUTING 1 -j HARDWAY-NETPOL",
		}},
		{"NFT_QUEUE", 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			logf := filepath.Join(dir, "log")
			// -C of the jump fails (not there yet), -D fails once it is gone.
			fake := `#!/bin/sh
echo "$(basename $0) $*" | sed 's/ -m comment --comment .*//' >>` + logf + `
case "$(basename $0) $*" in
  "nft -c -f -") cat >/dev/null; exit ` + map[bool]string{true: "0", false: "1"}[tt.nftCheck == 0] + ` ;;
  *" -C POSTROUTING "*) exit 1 ;;
  *" -D POSTROUTING "*) [ -e ` + dir + `/deleted ] && exit 1; touch ` + dir + `/deleted ;;
esac
exit 0
`
			for _, n := range []string{"iptables", "nft"} {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(fake), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("sh", "-c", NetpolSteerScript, "hardway-netpol-steer", "10.200.0.0/16", "100")
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			n, _ := stdout.Read(buf) // the first log line: set up
			if !strings.Contains(string(buf[:n]), "hardway-netpol-steer:") {
				t.Fatalf("first output %q", buf[:n])
			}
			_ = cmd.Process.Signal(os.Interrupt)
			rest := make([]byte, 4096)
			m, _ := stdout.Read(rest)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v (%s)", err, rest[:m])
			}
			raw, _ := os.ReadFile(logf)
			lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
			var setup []string
			for _, l := range lines[1:] {
				if strings.HasPrefix(l, "iptables -t mangle -D") {
					break
				}
				if !strings.Contains(l, " -F ") || tt.wantStart == nil {
					setup = append(setup, l)
				}
			}
			setupWant := append([]string{}, tt.wantStart...)
			if tt.wantStart != nil {
				setupWant = append(setupWant[:5], "iptables -t mangle -C POSTROUTING -j HARDWAY-NETPOL", setupWant[5])
			}
			if strings.Join(setup, "\n") != strings.Join(setupWant, "\n") {
				t.Errorf("set up:\n%s\nwant:\n%s", strings.Join(setup, "\n"), strings.Join(setupWant, "\n"))
			}
			for _, w := range []string{"iptables -t mangle -D POSTROUTING -j HARDWAY-NETPOL", "iptables -t mangle -X HARDWAY-NETPOL", "nft delete table inet kube-network-policies"} {
				if !strings.Contains(string(raw), w+"\n") {
					t.Errorf("on TERM no %q in:\n%s", w, raw)
				}
			}
		})
	}
}
