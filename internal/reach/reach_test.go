package reach

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProxyCarriesTLSThroughDial: a client whose transport uses the proxy
// reaches a TLS server at an address only the dial function knows how to
// reach (the test server listens elsewhere), and the server's certificate
// is checked end to end; addresses outside the cluster go direct; a dial
// that fails is reported in the client's error.
func TestProxyCarriesTLSThroughDial(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.Host)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dialled []string
	p, err := Start(ctx, []string{"10.240.0.2", "10.240.0.99"}, func(ctx context.Context, addr string) (net.Conn, error) {
		dialled = append(dialled, addr)
		if addr == "10.240.0.99:6443" {
			return nil, errors.New("socat: Connection refused")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", srv.Listener.Addr().String())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = p.Func()
	tr.TLSClientConfig.InsecureSkipVerify = true // the test server's name is not 10.240.0.2
	client := &http.Client{Transport: tr}
	resp, err := client.Get("https://10.240.0.2:6443/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello from 10.240.0.2:6443" || len(dialled) != 1 || dialled[0] != "10.240.0.2:6443" {
		t.Errorf("got %q, dialled %v", b, dialled)
	}
	if _, err := client.Get("https://10.240.0.99:6443/"); err == nil || !strings.Contains(err.Error(), "socat: Connection refused") {
		t.Errorf("a failed dial: %v", err)
	}
	if u, _ := p.Func()(httptest.NewRequest("GET", "https://example.com/", nil)); u != nil {
		t.Errorf("a host outside the cluster is proxied: %v", u)
	}
}

// Plain http:// URLs reach the proxy as absolute-form requests.
func TestProxyForwardsPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello World from "+r.URL.Path)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := Start(ctx, []string{"10.240.0.10"}, func(ctx context.Context, addr string) (net.Conn, error) {
		if addr != "10.240.0.10:30080" {
			return nil, errors.New("unexpected " + addr)
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
	})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: p.Func()}}
	for range 2 {
		resp, err := client.Get("http://10.240.0.10:30080/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "Hello World from /x" {
			t.Errorf("got %q", b)
		}
	}
}
