package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/exec"
	"hardway.dev/hardway/internal/provider"
)

// server is an in-process sshd: it accepts one authorized key, runs each
// command with the local sh (so stdin streaming and exit codes are real),
// and plays sudo: `sudo -n -- CMD` runs CMD, unless it is set to want a
// password.
type server struct {
	t          *testing.T
	ln         net.Listener
	hostKey    ssh.Signer
	authorized ssh.PublicKey
	// sudoPassword makes every sudo -n fail the way sudo does.
	sudoPassword bool

	mu       sync.Mutex
	conns    int
	commands []string
}

func newKey(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

func startServer(t *testing.T, authorized ssh.PublicKey) *server {
	t.Helper()
	hk, _ := newKey(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, ln: ln, hostKey: hk, authorized: authorized}
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *server) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *server) serve() {
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), s.authorized.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("not authorized")
		},
	}
	cfg.AddHostKey(s.hostKey)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
			if err != nil {
				c.Close()
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			defer sc.Close()
			go ssh.DiscardRequests(reqs)
			for nc := range chans {
				ch, creqs, err := nc.Accept()
				if err != nil {
					continue
				}
				go s.session(ch, creqs)
			}
		}()
	}
}

func (s *server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for r := range reqs {
		if r.Type != "exec" {
			r.Reply(false, nil)
			continue
		}
		var p struct{ Cmd string }
		if err := ssh.Unmarshal(r.Payload, &p); err != nil {
			r.Reply(false, nil)
			return
		}
		r.Reply(true, nil)
		s.mu.Lock()
		s.commands = append(s.commands, p.Cmd)
		s.mu.Unlock()
		code := s.run(p.Cmd, ch)
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, uint32(code))
		ch.SendRequest("exit-status", false, status)
		return
	}
}

func (s *server) run(cmdline string, ch ssh.Channel) int {
	if strings.HasPrefix(cmdline, "sudo -n ") {
		if s.sudoPassword {
			io.WriteString(ch.Stderr(), "sudo: a password is required\n")
			return 1
		}
		cmdline = strings.TrimPrefix(strings.TrimPrefix(cmdline, "sudo -n "), "-- ")
	}
	cmd := osexec.Command("sh", "-c", cmdline)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
	if err := cmd.Run(); err != nil {
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 255
	}
	return 0
}

func (s *server) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// fixture is a server, a client key for it and a pool with a state
// directory of its own.
type fixture struct {
	srv        *server
	key        string // identity file
	knownHosts string
	pool       *Pool
	machine    Machine
}

func newFixture(t *testing.T, user string) *fixture {
	t.Helper()
	signer, pemKey := newKey(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, signer.PublicKey())
	f := &fixture{srv: srv, key: key, knownHosts: filepath.Join(dir, "state", "known_hosts")}
	f.pool = NewPool(PoolOptions{KnownHosts: f.knownHosts})
	t.Cleanup(func() { f.pool.Close() })
	f.machine = Machine{Name: "node-0", IP: "10.252.0.10", Role: "control-plane,worker", Address: "127.0.0.1", Port: srv.port(), User: user, IdentityFile: key}
	return f
}

func TestRunStreamsStdinAndReusesTheConnection(t *testing.T) {
	f := newFixture(t, "kube")
	n := f.pool.Node(f.machine)
	ctx := context.Background()
	out, err := n.Run(ctx, strings.NewReader("hello over ssh\n"), "sh", "-c", "cat; echo \"$1 it's\"", "sh", "quoted")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hello over ssh\nquoted it's\n" {
		t.Fatalf("output %q", out)
	}
	path := filepath.Join(t.TempDir(), "sub", "file")
	if err := n.WriteFile(ctx, path, []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := n.ReadFile(ctx, path)
	if err != nil || string(got) != "data" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("written file: %v %v", st, err)
	}
	if _, err := n.ReadFile(ctx, path+".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	_, err = n.Run(ctx, nil, "sh", "-c", "echo oops >&2; exit 7")
	re, ok := exec.IsRunError(err)
	if !ok || re.ExitCode != 7 || re.Where != "node-0" || strings.TrimSpace(string(re.Stderr)) != "oops" {
		t.Fatalf("failing command: %#v", err)
	}
	if c := f.srv.connections(); c != 1 {
		t.Errorf("%d SSH connections for one node, want 1", c)
	}
	// The sudo check ran once, then every command went through sudo -n.
	f.srv.mu.Lock()
	cmds := f.srv.commands
	f.srv.mu.Unlock()
	if cmds[0] != "sudo -n true" || !strings.HasPrefix(cmds[1], "sudo -n -- sh -c ") {
		t.Errorf("commands %q", cmds)
	}
}

func TestFirstContactRecordsTheHostKey(t *testing.T) {
	f := newFixture(t, "root")
	if err := f.pool.Node(f.machine).Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	want := knownhosts.Line([]string{"[127.0.0.1]:" + strconv.Itoa(f.srv.port())}, f.srv.hostKey.PublicKey()) + "\n"
	if string(b) != want {
		t.Fatalf("known_hosts %q, want %q", b, want)
	}
	// A new pool (the next run) checks against the record and adds nothing.
	p2 := NewPool(PoolOptions{KnownHosts: f.knownHosts})
	defer p2.Close()
	if err := p2.Node(f.machine).Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(f.knownHosts); string(b2) != want {
		t.Fatalf("second contact changed known_hosts: %q", b2)
	}
}

func TestUserKnownHostsIsReadNotWritten(t *testing.T) {
	f := newFixture(t, "root")
	user := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{"[127.0.0.1]:" + strconv.Itoa(f.srv.port())}, f.srv.hostKey.PublicKey()) + "\n"
	if err := os.WriteFile(user, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	p := NewPool(PoolOptions{KnownHosts: f.knownHosts, UserKnownHosts: user})
	defer p.Close()
	if err := p.Node(f.machine).Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.knownHosts); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a key known from ~/.ssh/known_hosts was recorded again: %v", err)
	}
}

// TestConnectErrors: each failure is one line naming the node, what failed
// and the fix.
func TestConnectErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		want  func(f *fixture) string
		kind  string
	}{
		{"host key mismatch", func(t *testing.T, f *fixture) {
			other, _ := newKey(t)
			line := knownhosts.Line([]string{"[127.0.0.1]:" + strconv.Itoa(f.srv.port())}, other.PublicKey()) + "\n"
			os.MkdirAll(filepath.Dir(f.knownHosts), 0o700)
			if err := os.WriteFile(f.knownHosts, []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(f *fixture) string {
			return fmt.Sprintf("node node-0: host key of 127.0.0.1:%d changed: it offers ssh-ed25519 %s but %s:1 records another; if the machine was reinstalled, forget the old key with: ssh-keygen -f %s -R '[127.0.0.1]:%d'",
				f.srv.port(), ssh.FingerprintSHA256(f.srv.hostKey.PublicKey()), f.knownHosts, f.knownHosts, f.srv.port())
		}, KindHostKey},
		{"sudo wants a password", func(t *testing.T, f *fixture) { f.srv.sudoPassword = true }, func(f *fixture) string {
			return "node node-0: user kube needs a password for sudo: allow it without one (echo 'kube ALL=(ALL) NOPASSWD:ALL' | sudo tee /etc/sudoers.d/hardway) or set ssh.user: root"
		}, KindSudo},
		{"unreachable host", func(t *testing.T, f *fixture) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f.machine.Port = ln.Addr().(*net.TCPAddr).Port
			ln.Close() // nothing listens there any more
		}, func(f *fixture) string {
			return fmt.Sprintf("node node-0: cannot reach 127.0.0.1:%d (connection refused): check that the machine is up and sshd listens there (nodes[].ssh.address and ssh.port in the config)", f.machine.Port)
		}, KindUnreachable},
		{"wrong key", func(t *testing.T, f *fixture) {
			_, pemKey := newKey(t)
			if err := os.WriteFile(f.key, pemKey, 0o600); err != nil {
				t.Fatal(err)
			}
		}, func(f *fixture) string {
			return fmt.Sprintf("node node-0: kube@127.0.0.1:%d refused key %s: add its public key to ~kube/.ssh/authorized_keys on the machine (ssh-copy-id -i %s -p %d kube@127.0.0.1), or fix ssh.user and ssh.identityFile",
				f.srv.port(), f.key, f.key, f.srv.port())
		}, KindAuth},
		{"missing key file", func(t *testing.T, f *fixture) { f.machine.IdentityFile = f.key + ".gone" }, func(f *fixture) string {
			return fmt.Sprintf("node node-0: ssh.identityFile %s.gone: no such file: give the path of the private key for kube@127.0.0.1:%d", f.key, f.srv.port())
		}, KindKey},
		{"no key and no agent", func(t *testing.T, f *fixture) { f.machine.IdentityFile = "" }, func(f *fixture) string {
			return "node node-0: no ssh.identityFile given and no ssh-agent ($SSH_AUTH_SOCK is not set): set ssh.identityFile in the config, or start ssh-agent and ssh-add your key"
		}, KindKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "kube")
			tt.setup(t, f)
			_, err := f.pool.Node(f.machine).Run(context.Background(), nil, "true")
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.Kind != tt.kind {
				t.Fatalf("error %v (%T), want a ConnectError of kind %s", err, err, tt.kind)
			}
			if got, want := err.Error(), tt.want(f); got != want {
				t.Errorf("error\n  %s\nwant\n  %s", got, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line")
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		user string
		argv []string
		want string
	}{
		{"root", []string{"systemctl", "is-active", "kubelet"}, "systemctl is-active kubelet"},
		{"kube", []string{"systemctl", "is-active", "kubelet"}, "sudo -n -- systemctl is-active kubelet"},
		{"kube", []string{"sh", "-c", "echo $1 'x'", "sh", "a b", ""}, `sudo -n -- sh -c 'echo $1 '\''x'\''' sh 'a b' ''`},
		{"root", []string{"cat", "--", "/etc/kubernetes/pki/ca.pem"}, "cat -- /etc/kubernetes/pki/ca.pem"},
	}
	for _, tt := range tests {
		if got := commandLine(tt.user, tt.argv); got != tt.want {
			t.Errorf("commandLine(%s, %q) = %s, want %s", tt.user, tt.argv, got, tt.want)
		}
	}
}

func TestAttach(t *testing.T) {
	p := NewPool(PoolOptions{KnownHosts: "/state/clusters/lab/known_hosts", UserKnownHosts: "/home/me/.ssh/known_hosts", Home: "/home/me"})
	tests := []struct {
		name string
		m    Machine
		tty  bool
		env  []string
		argv []string
		want []string
	}{
		{"shell as a sudo user with a key", Machine{Name: "node-0", Address: "10.252.0.10", Port: 22, User: "kube", IdentityFile: "~/.ssh/lab"}, true, []string{"TERM=xterm"}, []string{"bash", "-l"},
			[]string{"ssh", "-t", "-p", "22", "-i", "/home/me/.ssh/lab", "-o", "IdentitiesOnly=yes",
				"-o", "UserKnownHostsFile=/state/clusters/lab/known_hosts /home/me/.ssh/known_hosts", "-o", "StrictHostKeyChecking=yes",
				"kube@10.252.0.10", "--", "sudo -n -- env TERM=xterm bash -l"}},
		{"command as root through the agent", Machine{Name: "node-1", Address: "node-1.lan", Port: 2222, User: "root"}, false, nil, []string{"systemctl", "status", "kubelet"},
			[]string{"ssh", "-p", "2222",
				"-o", "UserKnownHostsFile=/state/clusters/lab/known_hosts /home/me/.ssh/known_hosts", "-o", "StrictHostKeyChecking=yes",
				"root@node-1.lan", "--", "systemctl status kubelet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Node(tt.m).Attach(tt.tty, tt.env, tt.argv)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Attach =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

func TestMachinesFrom(t *testing.T) {
	c, err := config.Parse([]byte("apiVersion: hardway.dev/v1alpha1\nkind: Cluster\nprovider: ssh\nssh: {user: kube, identityFile: /k}\nnodes:\n- name: a\n  ip: 10.1.0.5\n- name: b\n  ip: 10.1.0.6\n  roles: [worker]\n  ssh: {address: b.lan, port: 2222}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Machine{
		{Name: "a", IP: "10.1.0.5", Role: "control-plane,worker", Address: "10.1.0.5", Port: 22, User: "kube", IdentityFile: "/k"},
		{Name: "b", IP: "10.1.0.6", Role: "worker", Address: "b.lan", Port: 2222, User: "kube", IdentityFile: "/k"},
	}
	if got := MachinesFrom(c); !reflect.DeepEqual(got, want) {
		t.Errorf("MachinesFrom =\n  %+v\nwant\n  %+v", got, want)
	}
}

func TestUninstallArgs(t *testing.T) {
	fp := provider.Footprint{
		Units:      []string{"etcd", "containerd", "kubelet"},
		Files:      []string{"/etc/systemd/system/etcd.service", "/usr/local/bin/etcd"},
		Dirs:       []string{"/var/lib/etcd"},
		SharedDirs: []string{"/opt/cni", "/opt/cni/bin"},
		Mounts:     []string{"/var/lib/kubelet"},
		Links:      []string{"cni0"},
		Routes:     []string{"10.200.1.0/24 via 10.252.0.11"},
		Users:      []string{"etcd"},
		Crictl:     "/usr/local/bin/crictl", CRISocket: "/run/containerd/containerd.sock", KubeProxy: "/usr/local/bin/kube-proxy",
	}
	want := []string{"sh", "-c", uninstallScript, "uninstall",
		"unit", "kubelet", "pods", "/usr/local/bin/crictl", "/run/containerd/containerd.sock", "unit", "containerd", "unit", "etcd",
		"cleanup", "/usr/local/bin/kube-proxy", "umount", "/var/lib/kubelet", "link", "cni0", "route", "10.200.1.0/24", "10.252.0.11", "rules",
		"file", "/etc/systemd/system/etcd.service", "file", "/usr/local/bin/etcd", "dir", "/var/lib/etcd",
		"rmdir", "/opt/cni/bin", "rmdir", "/opt/cni", "user", "etcd", "reload"}
	if got := UninstallArgs(fp); !reflect.DeepEqual(got, want) {
		t.Errorf("UninstallArgs =\n  %q\nwant\n  %q", got[3:], want[3:])
	}
}

// TestUninstallScript runs the script against a temporary root with fake
// systemctl, ip, iptables and userdel on PATH: files and directories go,
// shared directories stay while someone else's file is in them.
func TestUninstallScript(t *testing.T) {
	root := t.TempDir()
	bin := t.TempDir()
	for _, tool := range []string{"systemctl", "ip", "iptables-save", "iptables-restore", "userdel", "groupdel", "getent", "id", "umount"} {
		// Nothing is loaded, linked or present on this fake machine.
		script := "#!/bin/sh\nexit 1\n"
		if tool == "systemctl" || tool == "iptables-save" {
			script = "#!/bin/sh\nexit 0\n"
		}
		if err := os.WriteFile(filepath.Join(bin, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(p, data string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("/usr/local/bin/etcd", "x")
	mk("/var/lib/etcd/member/snap/db", "x")
	mk("/opt/cni/bin/bridge", "x")
	mk("/opt/cni/bin/someone-elses-plugin", "x")
	fp := provider.Footprint{
		Files:      []string{"/usr/local/bin/etcd", "/opt/cni/bin/bridge", "/etc/never-written"},
		Dirs:       []string{"/var/lib/etcd", "/var/lib/never-made"},
		SharedDirs: []string{"/opt/cni", "/opt/cni/bin"},
	}
	args := UninstallArgs(fp)
	cmd := osexec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HARDWAY_ROOT="+root, "PATH="+bin+":/usr/bin:/bin")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if string(out) != "file /usr/local/bin/etcd\nfile /opt/cni/bin/bridge\ndir /var/lib/etcd\n" {
		t.Errorf("output %q", out)
	}
	for p, want := range map[string]bool{"/usr/local/bin/etcd": false, "/var/lib/etcd": false, "/opt/cni/bin/someone-elses-plugin": true, "/usr/local/bin": true} {
		if _, err := os.Stat(filepath.Join(root, p)); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
	if got := summary(out); got != "2 files, 1 directory" {
		t.Errorf("summary %q", got)
	}
}

func TestProviderCreateStatusDelete(t *testing.T) {
	f := newFixture(t, "root")
	p := New(Options{Cluster: "lab", Machines: []Machine{f.machine}, Pool: PoolOptions{KnownHosts: f.knownHosts},
		Footprint: func(node string) (provider.Footprint, error) {
			if node != "node-0" {
				return provider.Footprint{}, fmt.Errorf("no node %s", node)
			}
			return provider.Footprint{Files: []string{filepath.Join(t.TempDir(), "nothing")}}, nil
		}})
	defer p.Close()
	ctx := context.Background()
	c := &config.Cluster{Name: "lab"}
	nodes, err := p.Create(ctx, c, provider.CreateOptions{})
	if err != nil || len(nodes) != 1 || nodes[0].Name() != "node-0" || nodes[0].IP() != "10.252.0.10" {
		t.Fatalf("Create = %v, %v", nodes, err)
	}
	st, err := p.Status(ctx, "lab")
	want := []provider.NodeStatus{{Name: "node-0", Container: fmt.Sprintf("ssh root@127.0.0.1:%d", f.srv.port()), IP: "10.252.0.10", Role: "control-plane,worker", State: "running"}}
	if err != nil || !reflect.DeepEqual(st, want) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if other, err := p.Status(ctx, "other"); err != nil || other != nil {
		t.Fatalf("another cluster's status = %v, %v", other, err)
	}
	if _, ok := nodes[0].(interface{ ArtifactDir() string }); ok {
		t.Error("ssh nodes must not claim to see the artifact cache: binaries are streamed")
	}
}
