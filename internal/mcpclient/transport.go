package mcpclient

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// exchange is the part of one HTTP response that the recorder keeps.
type exchange struct {
	method      string
	status      int
	challenges  []string // WWW-Authenticate values
	contentType string   // media type without parameters
}

// exchangeRecorder keeps the last HTTP response of a session, so that an
// error from the go-sdk, which carries only the status text, can be
// classified by status code and challenge. It is safe for concurrent use.
type exchangeRecorder struct {
	mu       sync.Mutex // guards the fields below
	latest   exchange
	recorded bool
}

// record keeps resp unless req is a DELETE. The streamable transport
// sends a DELETE to end the session when the connection breaks, which
// can happen before the caller sees the error of the request that broke
// it, and a DELETE never carries the failure being classified.
func (r *exchangeRecorder) record(req *http.Request, resp *http.Response) {
	if req.Method == http.MethodDelete {
		return
	}
	mediaType, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		mediaType = strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Type")))
	}
	e := exchange{
		method:      req.Method,
		status:      resp.StatusCode,
		challenges:  resp.Header.Values("WWW-Authenticate"),
		contentType: mediaType,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latest, r.recorded = e, true
}

// last returns the last response, and false when none arrived.
func (r *exchangeRecorder) last() (exchange, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest, r.recorded
}

// credentialTransport adds a server's static headers and the user's bearer
// token to requests for the server's origin, and records each response.
// Requests for other origins, such as an SSE message endpoint that a
// server points elsewhere, go out without them, so that neither the token
// nor an API key leaves the origin the admin registered.
type credentialTransport struct {
	base     http.RoundTripper
	origin   *url.URL
	headers  map[string]string
	bearer   string
	recorder *exchangeRecorder
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the request it is given.
	req = req.Clone(req.Context())
	if sameOrigin(req.URL, t.origin) {
		for name, value := range t.headers {
			req.Header.Set(name, value)
		}
		if t.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+t.bearer)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.recorder.record(req, resp)
	return resp, nil
}

// redirectError reports a redirect that the session's client refused.
type redirectError struct {
	location string
}

func (e *redirectError) Error() string {
	return fmt.Sprintf("mcpclient: refused redirect to %s: it leaves the server's origin; register the final URL instead", e.location)
}

// maxRedirects bounds same-origin redirects, as net/http's default does.
const maxRedirects = 10

// sessionHTTPClient returns a copy of base for one session with srv. The
// copy sends credentials through a credentialTransport, follows
// redirects only within the server's origin, keeps no cookies, so that
// one user's cookies never reach another user's session, and has no
// Timeout, because the server's timeout bounds each operation.
func sessionHTTPClient(base *http.Client, origin *url.URL, headers map[string]string, bearer string, rec *exchangeRecorder) *http.Client {
	rt := base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &http.Client{
		Transport: &credentialTransport{base: rt, origin: origin, headers: headers, bearer: bearer, recorder: rec},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !sameOrigin(req.URL, origin) {
				return &redirectError{location: req.URL.Redacted()}
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("mcpclient: stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}
}

// sameOrigin reports whether u has the scheme and host (with port) of
// origin.
func sameOrigin(u, origin *url.URL) bool {
	return strings.EqualFold(u.Scheme, origin.Scheme) && strings.EqualFold(u.Host, origin.Host)
}
