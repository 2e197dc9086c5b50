package verify

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGetTLSPage: the HTTPS half of the gateway check passes only when
// the page is right and the certificate served is the one hardway issued;
// an older one from the same CA (a renewal Traefik did not load) fails,
// naming both serials.
func TestGetTLSPage(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "gateway backend gw-one") }))
	defer srv.Close()
	served := srv.Certificate()
	pool := x509.NewCertPool()
	pool.AddCert(served)
	older := *served
	older.SerialNumber = new(big.Int).Add(served.SerialNumber, big.NewInt(1))
	older.Raw = append([]byte{}, served.Raw...)
	older.Raw[len(older.Raw)-1] ^= 0xff // another certificate's bytes
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	client := gatewayClient(host, p, p, pool)
	for _, tt := range []struct {
		name    string
		page    string
		want    *x509.Certificate
		wantErr string
	}{
		{"hardway's certificate and the page", "gw-one", served, ""},
		{"another certificate of the CA", "gw-one", &older, "served, hardway's is " + fmt.Sprintf("%X", older.SerialNumber)},
		{"the wrong page", "gw-two", served, `want "gw-two"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			// httptest's certificate names example.com.
			cert, err := getTLSPage(ctx, client, "example.com", tt.page, tt.want)
			if tt.wantErr == "" {
				if err != nil || cert == nil || !cert.Equal(served) {
					t.Errorf("err %v, cert %v", err, cert)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
