package oidcprovider

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

func TestPendingRequestsAreBounded(t *testing.T) {
	now := time.Now()
	opts := &Options{Now: func() time.Time { return now }}
	if err := checkOptions(opts); err != nil {
		t.Fatal(err)
	}
	s, err := newStorage("http://127.0.0.1:1", opts)
	if err != nil {
		t.Fatal(err)
	}
	req := &oidc.AuthRequest{
		ClientID: "app", RedirectURI: "http://127.0.0.1:1/cb", ResponseType: oidc.ResponseTypeCode,
		CodeChallenge: "challenge", CodeChallengeMethod: oidc.CodeChallengeMethodS256,
	}
	for i := range maxPendingRequests {
		if _, err := s.CreateAuthRequest(context.Background(), req, ""); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}

	_, err = s.CreateAuthRequest(context.Background(), req, "")
	var oidcErr *oidc.Error
	if !errors.As(err, &oidcErr) || oidcErr.ErrorType != "temporarily_unavailable" {
		t.Fatalf("request beyond the limit: got %v, want temporarily_unavailable", err)
	}

	// Once the pending requests expire, new ones are accepted again.
	now = now.Add(authRequestTTL + time.Second)
	if _, err := s.CreateAuthRequest(context.Background(), req, ""); err != nil {
		t.Errorf("request after the others expired: got %v, want success", err)
	}
}
