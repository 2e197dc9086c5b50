package ssh

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"hardway.dev/hardway/internal/logx"
)

// Machine is one node and how to reach it.
type Machine struct {
	Name string
	// IP is the node's address in the cluster (what other nodes dial).
	IP   string
	Role string
	// Address and Port are where sshd listens; they may differ from IP (a
	// host name, a port forward).
	Address string
	Port    int
	User    string
	// IdentityFile is a private key; empty asks the ssh-agent.
	IdentityFile string
}

// hostPort is what ssh dials and known_hosts files name.
func (m Machine) hostPort() string { return net.JoinHostPort(m.Address, strconv.Itoa(m.Port)) }

// target is "user@host:port" for messages.
func (m Machine) target() string { return m.User + "@" + m.hostPort() }

// Dialer opens the TCP connection to sshd; tests replace it.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// PoolOptions configure how nodes are reached.
type PoolOptions struct {
	// KnownHosts is where host keys seen for the first time are recorded
	// (the cluster's state directory). Keys recorded there or in
	// UserKnownHosts are checked on every connection.
	KnownHosts string
	// UserKnownHosts is the user's own file (~/.ssh/known_hosts); it is read,
	// never written. Empty reads none.
	UserKnownHosts string
	// AgentSocket is $SSH_AUTH_SOCK; used for machines without an
	// IdentityFile.
	AgentSocket string
	// Home expands "~/" in identity files.
	Home string
	Dial Dialer
	Log  logx.Logger
	// ConnectTimeout bounds dialling plus the SSH handshake.
	ConnectTimeout time.Duration
	// KeepAlive is how often an idle connection is pinged so that NAT and
	// firewalls keep it; 0 never.
	KeepAlive time.Duration
}

// Pool keeps one SSH connection per machine for the whole run: every
// command is a new session on it.
type Pool struct {
	o PoolOptions
	// mu guards nodes and serialises writes to KnownHosts.
	mu    sync.Mutex
	nodes map[string]*Node
}

// NewPool returns a pool; nothing is dialled until a node runs a command.
func NewPool(o PoolOptions) *Pool {
	if o.Dial == nil {
		d := &net.Dialer{}
		o.Dial = d.DialContext
	}
	if o.Log == nil {
		o.Log = logx.Discard{}
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 15 * time.Second
	}
	return &Pool{o: o, nodes: map[string]*Node{}}
}

// Node returns the node for m, keeping its connection when m is unchanged.
func (p *Pool) Node(m Machine) *Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.nodes[m.Name]; ok {
		if n.m == m {
			return n
		}
		n.close()
	}
	n := &Node{pool: p, m: m, sessions: make(chan struct{}, maxSessions)}
	p.nodes[m.Name] = n
	return n
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.nodes {
		n.close()
	}
	return nil
}

// maxSessions stays below sshd's default MaxSessions (10) per connection.
const maxSessions = 8

// ConnectError is a node that cannot be reached or logged into. Its message
// is one line: the node, what failed and the fix.
type ConnectError struct {
	Node string
	// Kind says which: unreachable, auth, hostkey, sudo, key.
	Kind string
	Msg  string
	Err  error
}

func (e *ConnectError) Error() string { return "node " + e.Node + ": " + e.Msg }
func (e *ConnectError) Unwrap() error { return e.Err }

// Retryable says whether waiting may help (a machine still booting).
func (e *ConnectError) Retryable() bool { return e.Kind == KindUnreachable }

// Kinds of ConnectError.
const (
	KindUnreachable = "unreachable"
	KindAuth        = "auth"
	KindHostKey     = "hostkey"
	KindSudo        = "sudo"
	KindKey         = "key"
)

// dial connects and logs in to m: TCP, host key check, authentication.
func (p *Pool) dial(ctx context.Context, m Machine) (*ssh.Client, error) {
	auth, keyDesc, err := p.auth(m)
	if err != nil {
		return nil, err
	}
	algos, err := p.knownAlgorithms(m)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:              m.User,
		Auth:              auth,
		HostKeyCallback:   p.checkHostKey(m),
		HostKeyAlgorithms: algos,
		Timeout:           p.o.ConnectTimeout,
	}
	dctx, cancel := context.WithTimeout(ctx, p.o.ConnectTimeout)
	defer cancel()
	conn, err := p.o.Dial(dctx, "tcp", m.hostPort())
	if err != nil {
		return nil, &ConnectError{Node: m.Name, Kind: KindUnreachable, Err: err,
			Msg: fmt.Sprintf("cannot reach %s (%s): check that the machine is up and sshd listens there (nodes[].ssh.address and ssh.port in the config)", m.hostPort(), shortNetErr(err))}
	}
	// The handshake has its own deadline: a port that accepts but never
	// speaks SSH must not hang the run.
	_ = conn.SetDeadline(time.Now().Add(p.o.ConnectTimeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, m.hostPort(), cfg)
	if err != nil {
		conn.Close()
		var ce *ConnectError
		if errors.As(err, &ce) {
			return nil, ce
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, &ConnectError{Node: m.Name, Kind: KindAuth, Err: err,
				Msg: fmt.Sprintf("%s refused %s: add its public key to ~%s/.ssh/authorized_keys on the machine (ssh-copy-id%s -p %d %s), or fix ssh.user and ssh.identityFile", m.target(), keyDesc, m.User, copyIDKey(m), m.Port, m.User+"@"+m.Address)}
		}
		return nil, &ConnectError{Node: m.Name, Kind: KindUnreachable, Err: err,
			Msg: fmt.Sprintf("no SSH server answers at %s (%s): check that sshd runs there and nodes[].ssh.port is its port", m.hostPort(), shortNetErr(err))}
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func copyIDKey(m Machine) string {
	if m.IdentityFile == "" {
		return ""
	}
	return " -i " + m.IdentityFile
}

// shortNetErr keeps the cause of a network error ("connection refused"),
// not the whole chain of addresses.
func shortNetErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// auth returns the authentication methods for m and how to name them in
// messages: its identity file, else the agent's keys.
func (p *Pool) auth(m Machine) ([]ssh.AuthMethod, string, error) {
	if m.IdentityFile != "" {
		path := p.expand(m.IdentityFile)
		b, err := os.ReadFile(path)
		if err != nil {
			why := "cannot read it"
			if errors.Is(err, fs.ErrNotExist) {
				why = "no such file"
			}
			return nil, "", &ConnectError{Node: m.Name, Kind: KindKey, Err: err,
				Msg: fmt.Sprintf("ssh.identityFile %s: %s: give the path of the private key for %s", m.IdentityFile, why, m.target())}
		}
		signer, err := ssh.ParsePrivateKey(b)
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, "", &ConnectError{Node: m.Name, Kind: KindKey, Err: err,
				Msg: fmt.Sprintf("ssh.identityFile %s is protected by a passphrase: load it into ssh-agent (ssh-add %s) and remove identityFile from the config", m.IdentityFile, m.IdentityFile)}
		}
		if err != nil {
			return nil, "", &ConnectError{Node: m.Name, Kind: KindKey, Err: err,
				Msg: fmt.Sprintf("ssh.identityFile %s is not a private key (%v): give the private half, not the .pub", m.IdentityFile, err)}
		}
		return []ssh.AuthMethod{ssh.PublicKeys(signer)}, "key " + m.IdentityFile, nil
	}
	if p.o.AgentSocket == "" {
		return nil, "", &ConnectError{Node: m.Name, Kind: KindKey,
			Msg: "no ssh.identityFile given and no ssh-agent ($SSH_AUTH_SOCK is not set): set ssh.identityFile in the config, or start ssh-agent and ssh-add your key"}
	}
	conn, err := net.Dial("unix", p.o.AgentSocket)
	if err != nil {
		return nil, "", &ConnectError{Node: m.Name, Kind: KindKey, Err: err,
			Msg: fmt.Sprintf("ssh-agent at $SSH_AUTH_SOCK=%s does not answer (%s): start it again, or set ssh.identityFile in the config", p.o.AgentSocket, shortNetErr(err))}
	}
	// The agent connection lives as long as the process: signing happens
	// during every handshake, including reconnects.
	return []ssh.AuthMethod{ssh.PublicKeysCallback(agent.NewClient(conn).Signers)}, "every key of the ssh-agent", nil
}

func (p *Pool) expand(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok && p.o.Home != "" {
		return filepath.Join(p.o.Home, rest)
	}
	return path
}

// knownHostsFiles are the files that exist, recorded ones first.
func (p *Pool) knownHostsFiles() []string {
	var out []string
	for _, f := range []string{p.o.KnownHosts, p.o.UserKnownHosts} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// knownKeys returns the keys the files hold for m (nil when none).
func (p *Pool) knownKeys(m Machine) ([]knownhosts.KnownKey, error) {
	files := p.knownHostsFiles()
	if len(files) == 0 {
		return nil, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, &ConnectError{Node: m.Name, Kind: KindHostKey, Err: err,
			Msg: fmt.Sprintf("cannot read the known hosts (%v): fix or remove the broken line", err)}
	}
	// Asking about a key nobody has makes the callback list the known ones.
	probe, _ := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	err = cb(m.hostPort(), &net.TCPAddr{}, probe)
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return ke.Want, nil
	}
	return nil, nil
}

// knownAlgorithms asks the server for a key of a type already recorded, so a
// machine with several host keys is checked against the one on file.
func (p *Pool) knownAlgorithms(m Machine) ([]string, error) {
	keys, err := p.knownKeys(m)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		algos := []string{k.Key.Type()}
		if k.Key.Type() == ssh.KeyAlgoRSA {
			algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, a := range algos {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// checkHostKey accepts a key on file, refuses a changed one, and records a
// key seen for the first time (trust on first use, as ssh asks).
func (p *Pool) checkHostKey(m Machine) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		known, err := p.knownKeys(m)
		if err != nil {
			return err
		}
		for _, k := range known {
			if string(k.Key.Marshal()) == string(key.Marshal()) {
				return nil
			}
		}
		if len(known) > 0 {
			k := known[0]
			return &ConnectError{Node: m.Name, Kind: KindHostKey,
				Msg: fmt.Sprintf("host key of %s changed: it offers %s %s but %s:%d records another; if the machine was reinstalled, forget the old key with: ssh-keygen -f %s -R '%s'",
					m.hostPort(), key.Type(), ssh.FingerprintSHA256(key), k.Filename, k.Line, k.Filename, knownhosts.Normalize(m.hostPort()))}
		}
		if err := p.record(m, key); err != nil {
			return err
		}
		p.o.Log.Logf(0, "recorded the host key of node %s (%s): %s %s in %s", m.Name, m.hostPort(), key.Type(), ssh.FingerprintSHA256(key), p.o.KnownHosts)
		return nil
	}
}

// record appends m's key to the cluster's known hosts file.
func (p *Pool) record(m Machine, key ssh.PublicKey) error {
	if p.o.KnownHosts == "" {
		return &ConnectError{Node: m.Name, Kind: KindHostKey,
			Msg: fmt.Sprintf("host key of %s is unknown (%s %s) and there is no file to record it in: add it to ~/.ssh/known_hosts (ssh -p %d %s once)", m.hostPort(), key.Type(), ssh.FingerprintSHA256(key), m.Port, m.User+"@"+m.Address)}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(p.o.KnownHosts), 0o700); err != nil {
		return fmt.Errorf("node %s: recording its host key: %w", m.Name, err)
	}
	f, err := os.OpenFile(p.o.KnownHosts, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("node %s: recording its host key: %w", m.Name, err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(m.hostPort())}, key) + "\n"
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("node %s: recording its host key in %s: %w", m.Name, p.o.KnownHosts, err)
	}
	return f.Close()
}
