// Package reach carries this host's connections to a cluster it has no
// route to (network.hostAccess: published): an HTTP CONNECT proxy on
// 127.0.0.1 inside this process, each of whose tunnels is dialled by a
// function the caller gives (directly, or through one of the cluster's
// machines). Every client hardway makes — client-go's HTTP, WebSocket and
// SPDY connections for exec and port-forward, the etcd health checks, the
// registry push — honours a proxy, so one mechanism covers them all.
package reach

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Dial opens a connection to addr (host:port) the way this host can.
type Dial func(ctx context.Context, addr string) (net.Conn, error)

// Proxy is a running CONNECT proxy.
type Proxy struct {
	url  *url.URL
	ln   net.Listener
	dial Dial
	// hosts are the addresses whose connections go through the proxy.
	hosts map[string]bool
	wg    sync.WaitGroup
}

// DialTimeout bounds one tunnel's dial: a machine that does not answer
// within it is reported, not waited on.
const DialTimeout = 20 * time.Second

// Start listens on 127.0.0.1 and serves until ctx ends or Close. Requests
// to hosts (a host, for every port, or host:port) go through the proxy;
// Func sends anything else directly.
func Start(ctx context.Context, hosts []string, dial Dial) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the local proxy to the cluster: %w", err)
	}
	p := &Proxy{url: &url.URL{Scheme: "http", Host: ln.Addr().String()}, ln: ln, dial: dial, hosts: map[string]bool{}}
	for _, h := range hosts {
		p.hosts[h] = true
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Close stops listening; tunnels already open run until their ends close.
func (p *Proxy) Close() error { return p.ln.Close() }

// Func is for http.Transport.Proxy and rest.Config.Proxy.
func (p *Proxy) Func() func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) {
		if p.hosts[r.URL.Hostname()] || p.hosts[r.URL.Host] {
			return p.url, nil
		}
		return nil, nil
	}
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *Proxy) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if req.Method != http.MethodConnect {
		// Plain http:// URLs come as absolute-form requests, not CONNECT.
		p.forward(c, req)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	up, err := p.dial(ctx, req.Host)
	cancel()
	if err != nil {
		// The reason phrase is what the client's error shows.
		fmt.Fprintf(c, "HTTP/1.1 502 %s\r\nConnection: close\r\n\r\n", oneLine(err.Error()))
		return
	}
	defer up.Close()
	if _, err := fmt.Fprintf(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the client sent after its CONNECT are in br already.
		_, _ = io.Copy(up, br)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(c, up)
		done <- struct{}{}
	}()
	// Either side ending ends the tunnel: the deferred closes stop the
	// other copy.
	<-done
	c.Close()
	up.Close()
	<-done
}

// forward passes one plain-HTTP request to its server and its answer back
// (one request per connection: the client dials again for the next).
func (p *Proxy) forward(c net.Conn, req *http.Request) {
	if req.URL.Host == "" {
		fmt.Fprintf(c, "HTTP/1.1 400 not a proxy request\r\nConnection: close\r\n\r\n")
		return
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	up, err := p.dial(ctx, addr)
	cancel()
	if err != nil {
		fmt.Fprintf(c, "HTTP/1.1 502 %s\r\nConnection: close\r\n\r\n", oneLine(err.Error()))
		return
	}
	defer up.Close()
	req.Header.Del("Proxy-Connection")
	req.Close = true
	if err := req.Write(up); err != nil {
		fmt.Fprintf(c, "HTTP/1.1 502 %s\r\nConnection: close\r\n\r\n", oneLine(err.Error()))
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(up), req)
	if err != nil {
		fmt.Fprintf(c, "HTTP/1.1 502 %s\r\nConnection: close\r\n\r\n", oneLine(err.Error()))
		return
	}
	defer resp.Body.Close()
	resp.Close = true
	_ = resp.Write(c)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
