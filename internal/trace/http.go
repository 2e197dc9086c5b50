package trace

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// bodyLimit is how much of each body an Exchange keeps: enough to show
// what kind of JSON goes over the wire, like kubectl -v=8 (which truncates
// too).
const bodyLimit = 1024

// Exchange is one HTTP request a client made and what came back.
type Exchange struct {
	Start       time.Time
	Method, URL string
	// RequestHeader holds the headers that say what is sent and accepted.
	RequestHeader http.Header
	RequestBody   []byte
	// Status is e.g. "201 Created"; Err is set instead when no response
	// came.
	Status string
	Code   int
	Err    string
	// Latency is the time until the response headers arrived.
	Latency        time.Duration
	ResponseHeader http.Header
	// ResponseBody is the start of the body, as far as the client read it;
	// BodyBytes how much it read in all, BodyDone when it closed the body
	// (for a watch: when the stream ended).
	ResponseBody []byte
	BodyBytes    int64
	BodyDone     time.Duration
	path         string
}

// Recorder records every request made through the transports it wraps: the
// client side of the onion (kubectl -v=8 shows the same).
type Recorder struct {
	mu sync.Mutex
	ex []*Exchange
}

// Wrap is a rest.Config WrapTransport: requests through the result are
// recorded.
func (r *Recorder) Wrap(next http.RoundTripper) http.RoundTripper {
	return &recording{next: next, rec: r}
}

// Exchanges returns what was recorded so far, in the order requests began.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Exchange, len(r.ex))
	for i, e := range r.ex {
		out[i] = *e
		out[i].RequestBody = bytes.Clone(e.RequestBody)
		out[i].ResponseBody = bytes.Clone(e.ResponseBody)
	}
	return out
}

// Sent returns when the last request with method whose URL path is path
// was handed to the transport.
func (r *Recorder) Sent(method, path string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.ex) - 1; i >= 0; i-- {
		e := r.ex[i]
		if e.Method == method && e.path == path {
			return e.Start, true
		}
	}
	return time.Time{}, false
}

type recording struct {
	next http.RoundTripper
	rec  *Recorder
}

func (t *recording) RoundTrip(req *http.Request) (*http.Response, error) {
	e := &Exchange{Start: time.Now(), Method: req.Method, URL: req.URL.String(), path: req.URL.Path,
		RequestHeader: pick(req.Header, "Accept", "Content-Type", "User-Agent")}
	if req.Body != nil {
		// The body is read here to record it, so the request that goes on
		// is a copy carrying the bytes again (a RoundTripper must not
		// change the caller's request).
		data, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		e.RequestBody = truncate(data)
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(data))
	}
	t.rec.mu.Lock()
	t.rec.ex = append(t.rec.ex, e)
	t.rec.mu.Unlock()
	resp, err := t.next.RoundTrip(req)
	t.rec.mu.Lock()
	defer t.rec.mu.Unlock()
	e.Latency = time.Since(e.Start)
	if err != nil {
		e.Err = err.Error()
		return resp, err
	}
	e.Status, e.Code = resp.Status, resp.StatusCode
	e.ResponseHeader = pick(resp.Header, "Content-Type", "Audit-Id")
	resp.Body = &recordedBody{ReadCloser: resp.Body, rec: t.rec, e: e}
	return resp, nil
}

// recordedBody keeps the start of a response body as the client reads it.
type recordedBody struct {
	io.ReadCloser
	rec *Recorder
	e   *Exchange
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.rec.mu.Lock()
	b.e.BodyBytes += int64(n)
	if room := bodyLimit - len(b.e.ResponseBody); room > 0 {
		b.e.ResponseBody = append(b.e.ResponseBody, p[:min(n, room)]...)
	}
	b.rec.mu.Unlock()
	return n, err
}

func (b *recordedBody) Close() error {
	b.rec.mu.Lock()
	if b.e.BodyDone == 0 {
		b.e.BodyDone = time.Since(b.e.Start)
	}
	b.rec.mu.Unlock()
	return b.ReadCloser.Close()
}

func pick(h http.Header, keys ...string) http.Header {
	out := http.Header{}
	for _, k := range keys {
		if v := h.Values(k); len(v) > 0 {
			out[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
		}
	}
	return out
}

func truncate(b []byte) []byte {
	if len(b) > bodyLimit {
		return bytes.Clone(b[:bodyLimit])
	}
	return bytes.Clone(b)
}
