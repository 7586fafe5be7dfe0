package consent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestStartReturnURL(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), nil)
	cases := []struct {
		name      string
		returnURL string
		valid     bool
	}{
		{"none", "", true},
		{"external origin", externalURL + "/chat/7?tab=tools", true},
		{"external origin with default port", "https://toolgate.example.com:443/done", true},
		{"allowed origin", "https://app.example.com/done", true},
		{"allowed origin, upper-case host", "https://APP.example.com/done", true},
		{"foreign origin", "https://evil.example.net/done", false},
		{"allowed host, other scheme", "http://app.example.com/done", false},
		{"allowed host, other port", "https://app.example.com:8443/done", false},
		{"suffix of an allowed host", "https://app.example.com.evil.net/done", false},
		{"user info", "https://app.example.com@evil.example.net/done", false},
		{"user info on an allowed host", "https://user:pw@app.example.com/done", false},
		{"javascript", "javascript:alert(1)", false},
		{"data", "data:text/html,hi", false},
		{"relative", "/done", false},
		{"protocol-relative", "//evil.example.net/done", false},
		{"fragment", "https://app.example.com/done#x", false},
		{"empty fragment", "https://app.example.com/done#", false},
		{"backslash", `https://app.example.com\@evil.example.net/`, false},
		{"control character", "https://app.example.com/\ndone", false},
		{"too long", "https://app.example.com/" + strings.Repeat("a", 2048), false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One user per case, because a user's pending consent is
			// returned with the return URL it was started with.
			user := fmt.Sprintf("user-%d", i)
			res, err := e.svc.Start(context.Background(), user, nil, providerID, consent.StartInput{ReturnURL: tc.returnURL})
			if tc.valid {
				if err != nil || res.ConsentID == "" {
					t.Fatalf("Start: got %+v, %v; want a consent", res, err)
				}
				if got := e.storedConsent(res.ConsentID).ReturnURL; got != tc.returnURL {
					t.Errorf("stored return URL: got %q, want %q", got, tc.returnURL)
				}
				return
			}
			var ie *consent.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Start: got %+v, %v; want an *InputError", res, err)
			}
			if ie.Field != "return_url" || ie.Detail == "" {
				t.Errorf("got field %q detail %q, want return_url with a detail", ie.Field, ie.Detail)
			}
		})
	}
}

// TestReturnURLRecheckedAtCallback checks that a return URL whose origin
// was allowed at Start but is not any more is not redirected to.
func TestReturnURLRecheckedAtCallback(t *testing.T) {
	st := storetest.NewSQLite(t)
	e := newEnv(t, st, nil)
	id := e.startPending(alice, consent.StartInput{ReturnURL: "https://app.example.com/done"})
	query := e.visit(e.svc, id, alice)

	e.opts.AllowedOrigins = nil
	restarted := e.newService(st, e.vault)
	cb := e.callback(restarted, alice, query)
	if !strings.HasPrefix(cb.RedirectURL, externalURL+"/oauth-complete?") {
		t.Errorf("redirect: got %q, want %s/oauth-complete", cb.RedirectURL, externalURL)
	}
}
