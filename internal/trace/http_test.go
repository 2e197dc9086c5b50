package trace

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRecorder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Audit-Id", "abc-123")
		w.Header().Set("X-Other", "not recorded")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			// The server sees the body the client sent, untouched.
			w.Write(append([]byte(`{"echo":`), append(body, '}')...))
			return
		}
		w.Write([]byte(strings.Repeat("x", bodyLimit+10)))
	}))
	defer srv.Close()
	rec := &Recorder{}
	client := &http.Client{Transport: rec.Wrap(http.DefaultTransport)}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/namespaces/ns/pods?timeout=30s", bytes.NewReader([]byte(`{"kind":"Pod"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != `{"echo":{"kind":"Pod"}}` {
		t.Errorf("the client read %q", got)
	}
	resp, err = client.Get(srv.URL + "/api/v1/namespaces/ns/pods?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	ex := rec.Exchanges()
	if len(ex) != 2 {
		t.Fatalf("%d exchanges, want 2", len(ex))
	}
	post, get := ex[0], ex[1]
	checks := []struct{ what, got, want string }{
		{"method", post.Method, "POST"},
		{"url", post.URL, srv.URL + "/api/v1/namespaces/ns/pods?timeout=30s"},
		{"request headers", headers(post.RequestHeader), "Content-Type=application/json"},
		{"request body", string(post.RequestBody), `{"kind":"Pod"}`},
		{"status", post.Status, "201 Created"},
		{"response headers", headers(post.ResponseHeader), "Audit-Id=abc-123 Content-Type=application/json"},
		{"response body", string(post.ResponseBody), `{"echo":{"kind":"Pod"}}`},
		{"get status", get.Status, "200 OK"},
		{"get body kept", string(get.ResponseBody), strings.Repeat("x", bodyLimit)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	if get.BodyBytes != bodyLimit+10 || post.Code != 201 || post.Latency <= 0 || get.BodyDone < get.Latency {
		t.Errorf("counts: body %d bytes, code %d, latency %s, body done %s", get.BodyBytes, post.Code, post.Latency, get.BodyDone)
	}
	if sent, ok := rec.Sent(http.MethodPost, "/api/v1/namespaces/ns/pods"); !ok || !sent.Equal(post.Start) {
		t.Errorf("Sent = %s %v, want the POST's start %s", sent, ok, post.Start)
	}
	if _, ok := rec.Sent(http.MethodDelete, "/api/v1/namespaces/ns/pods"); ok {
		t.Error("Sent found a DELETE that was never made")
	}
}

func headers(h http.Header) string {
	var out []string
	for _, k := range []string{"Accept", "Audit-Id", "Authorization", "Content-Type", "User-Agent", "X-Other"} {
		if v := h.Get(k); v != "" {
			out = append(out, k+"="+v)
		}
	}
	return strings.Join(out, " ")
}
