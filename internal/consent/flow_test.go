package consent_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestFlowCompletes(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		ctx := context.Background()

		res := e.start(e.svc, alice, consent.StartInput{})
		if res.Connected {
			t.Fatalf("first Start: got connected, want a pending consent")
		}
		if !strings.HasPrefix(res.ConsentID, "cns_") || len(res.ConsentID) != len("cns_")+22 {
			t.Errorf("consent id %q: want cns_ and 22 base64url characters", res.ConsentID)
		}
		if want := externalURL + "/connect/" + res.ConsentID; res.AuthorizationURL != want {
			t.Errorf("authorization_url: got %q, want %q", res.AuthorizationURL, want)
		}
		if want := start.Add(10 * time.Minute); !res.ExpiresAt.Equal(want) {
			t.Errorf("expires_at: got %v, want %v", res.ExpiresAt, want)
		}
		e.requireStatus(res.ConsentID, consent.StatusPending, "")

		query := e.visit(e.svc, res.ConsentID, alice)
		if query.Get("code") == "" || query.Get("iss") != e.as.URL {
			t.Fatalf("authorization response %v: want a code and iss %s", query, e.as.URL)
		}
		// The store keeps only the state's hash and the sealed verifier.
		row := e.storedConsent(res.ConsentID)
		if row.StateHash == "" || row.StateHash == query.Get("state") || !strings.HasPrefix(row.Verifier, "tg1:") {
			t.Errorf("stored state hash %q and verifier %q: want a hash and a sealed value", row.StateHash, row.Verifier)
		}

		cb := e.callback(e.svc, alice, query)
		if cb.Status != store.ConsentCompleted || cb.Error != "" {
			t.Fatalf("callback: got status %q error %q (%s), want completed", cb.Status, cb.Error, cb.ErrorDescription)
		}
		wantRedirect := externalURL + "/oauth-complete?consent_id=" + res.ConsentID + "&provider_id=acme&status=success"
		if cb.RedirectURL != wantRedirect {
			t.Errorf("redirect: got %q, want %q", cb.RedirectURL, wantRedirect)
		}
		if got := e.as.Rejections(); len(got) != 0 {
			t.Errorf("authorization server rejected requests: %v", got)
		}
		if got := e.as.TokenRequests(); got != 1 {
			t.Errorf("token requests: got %d, want 1", got)
		}
		saved, ok := e.vault.Get(alice, providerID)
		if !ok || !strings.HasPrefix(saved.Response.AccessToken, "access-") {
			t.Fatalf("vault: got %+v, %v; want alice's acme tokens", saved, ok)
		}
		if !slices.Equal(saved.RequestedScopes, []string{"files.read"}) {
			t.Errorf("requested scopes saved: got %q, want [files.read]", saved.RequestedScopes)
		}
		e.requireStatus(res.ConsentID, consent.StatusCompleted, "")
		if row := e.storedConsent(res.ConsentID); row.Verifier != "" {
			t.Errorf("verifier kept after completion: %q", row.Verifier)
		}
		if got := e.auditCount(audit.ConsentStarted); got != 1 {
			t.Errorf("consent_started events: got %d, want 1", got)
		}
		if got := e.auditCount(audit.ConsentCompleted); got != 1 {
			t.Errorf("consent_completed events: got %d, want 1", got)
		}

		again, err := e.svc.Start(ctx, alice, nil, providerID, consent.StartInput{})
		if err != nil {
			t.Fatal(err)
		}
		if !again.Connected || again.ConsentID != "" {
			t.Errorf("Start after completion: got %+v, want connected", again)
		}
	})
}

func TestStartReusesPendingConsent(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		first := e.startPending(alice, consent.StartInput{})
		e.clock.Advance(time.Minute)

		second := e.startPending(alice, consent.StartInput{})
		if second != first {
			t.Errorf("second Start: got consent %s, want the pending %s", second, first)
		}
		otherReturn := e.startPending(alice, consent.StartInput{ReturnURL: "https://app.example.com/elsewhere"})
		if otherReturn != first {
			t.Errorf("Start with another return URL: got consent %s, want the pending %s", otherReturn, first)
		}
		narrower := e.startPending(alice, consent.StartInput{Scopes: []string{"files.read"}})
		if narrower != first {
			t.Errorf("Start with covered scopes: got consent %s, want the pending %s", narrower, first)
		}
		if other := e.startPending(bob, consent.StartInput{}); other == first {
			t.Errorf("bob's Start returned alice's consent %s", first)
		}
		if got := e.auditCount(audit.ConsentStarted); got != 1 {
			t.Errorf("consent_started events for alice: got %d, want 1", got)
		}

		// After expiry a new consent starts.
		e.clock.Advance(10 * time.Minute)
		if fresh := e.startPending(alice, consent.StartInput{}); fresh == first {
			t.Errorf("Start after expiry: got the expired consent %s, want a new one", first)
		}
	})
}

func TestStartStepUp(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		first := e.startPending(alice, consent.StartInput{Scopes: []string{"files.list"}})
		stepUp := e.startPending(alice, consent.StartInput{Scopes: []string{"files.write"}})
		if stepUp == first {
			t.Fatalf("step-up Start: got the pending consent %s, want a new one", first)
		}

		want := []string{"files.read", "files.list", "files.write"}
		if got := e.storedConsent(stepUp).Scopes; !slices.Equal(got, want) {
			t.Errorf("step-up scopes: got %q, want %q", got, want)
		}
		old := e.status(first, alice)
		if old.Status != consent.StatusFailed || old.Error != "cancelled" || old.ErrorDescription == "" {
			t.Errorf("replaced consent: got %+v, want failed with error cancelled", old)
		}
		// The replaced consent can no longer send anyone to the provider.
		_, err := e.svc.AuthorizeRedirect(context.Background(), first, alice)
		requireErr(t, "AuthorizeRedirect of the replaced consent", err, consent.ErrFinished)

		// The waiter for the old scopes gets the new consent.
		if again := e.startPending(alice, consent.StartInput{Scopes: []string{"files.list"}}); again != stepUp {
			t.Errorf("Start for the old scopes: got %s, want the step-up consent %s", again, stepUp)
		}

		// The step-up completes, and the provider grants the union.
		query := e.visit(e.svc, stepUp, alice)
		if cb := e.callback(e.svc, alice, query); cb.Status != store.ConsentCompleted {
			t.Fatalf("step-up callback: got %+v, want completed", cb)
		}
		saved, _ := e.vault.Get(alice, providerID)
		if !slices.Equal(saved.Response.Scopes, want) {
			t.Errorf("granted scopes: got %q, want %q", saved.Response.Scopes, want)
		}
		// Connected for covered scopes, a new consent for more.
		if res := e.start(e.svc, alice, consent.StartInput{Scopes: []string{"files.write"}}); !res.Connected {
			t.Errorf("Start for granted scopes: got %+v, want connected", res)
		}
		if res := e.start(e.svc, alice, consent.StartInput{Scopes: []string{"files.delete"}}); res.Connected {
			t.Errorf("Start for a scope not granted: got connected, want a consent")
		}
	})
}

func TestStartForce(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), nil)
	id := e.startPending(alice, consent.StartInput{})
	e.callback(e.svc, alice, e.visit(e.svc, id, alice))

	res := e.start(e.svc, alice, consent.StartInput{Force: true})
	if res.Connected || res.ConsentID == "" || res.ConsentID == id {
		t.Errorf("forced Start: got %+v, want a new pending consent", res)
	}
}

func TestStartProviderAccess(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), nil)
	ctx := context.Background()
	mustCreate := func(in provider.CreateInput) {
		t.Helper()
		in.Type, in.ClientID, in.ClientSecret = provider.TypeCustom, e.as.ClientID, "secret"
		in.AuthorizationServerMetadata = e.as.Metadata()
		if _, err := e.reg.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	disabled := false
	mustCreate(provider.CreateInput{ID: "off", DisplayName: "Off", Enabled: &disabled})
	mustCreate(provider.CreateInput{ID: "staff-only", DisplayName: "Staff", AllowedRoles: []string{"staff"}})

	cases := []struct {
		name       string
		providerID string
		roles      []string
		wantErr    error
	}{
		{"unknown provider", "nope", nil, consent.ErrNotFound},
		{"disabled provider", "off", nil, consent.ErrNotFound},
		{"role missing", "staff-only", []string{"guest"}, consent.ErrNotFound},
		{"role present", "staff-only", []string{"guest", "staff"}, nil},
		{"open provider", providerID, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.svc.Start(ctx, alice, tc.roles, tc.providerID, consent.StartInput{})
			if tc.wantErr != nil {
				requireErr(t, "Start", err, tc.wantErr)
				return
			}
			if err != nil || res.ConsentID == "" {
				t.Fatalf("Start: got %+v, %v; want a consent", res, err)
			}
		})
	}

	_, err := e.svc.Start(ctx, "", nil, providerID, consent.StartInput{})
	requireErr(t, "Start without a user", err, consent.ErrSignInRequired)
}

func TestStartScopeValidation(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), nil)
	cases := []struct {
		name   string
		scopes []string
		field  string
	}{
		{"empty scope", []string{""}, "scopes[0]"},
		{"space inside", []string{"ok", "files.read files.write"}, "scopes[1]"},
		{"quote", []string{`a"b`}, "scopes[0]"},
		{"non-ASCII", []string{"lesen-ü"}, "scopes[0]"},
		{"too long", []string{strings.Repeat("s", 257)}, "scopes[0]"},
		{"too many", slices.Repeat([]string{"s"}, 51), "scopes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Start(context.Background(), alice, nil, providerID, consent.StartInput{Scopes: tc.scopes})
			var ie *consent.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got error %v, want an *InputError", err)
			}
			if ie.Field != tc.field || ie.Detail == "" {
				t.Errorf("got field %q detail %q, want field %q with a detail", ie.Field, ie.Detail, tc.field)
			}
		})
	}
}

func TestCallbackProviderError(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		id := e.startPending(alice, consent.StartInput{ReturnURL: "https://app.example.com/chat?thread=7"})
		e.as.Deny("access_denied")
		query := e.visit(e.svc, id, alice)

		cb := e.callback(e.svc, alice, query)
		if cb.Status != store.ConsentFailed || cb.Error != "access_denied" || cb.ErrorDescription != "The user declined the request." {
			t.Errorf("callback: got %+v, want failed with access_denied and its description", cb)
		}
		want := "https://app.example.com/chat?consent_id=" + id + "&error=access_denied&provider_id=acme&status=error&thread=7"
		if cb.RedirectURL != want {
			t.Errorf("redirect: got %q, want %q", cb.RedirectURL, want)
		}
		if e.as.TokenRequests() != 0 {
			t.Errorf("token requests: got %d, want 0", e.as.TokenRequests())
		}
		e.requireStatus(id, consent.StatusFailed, "access_denied")
		if got := e.auditCount(audit.ConsentFailed); got != 1 {
			t.Errorf("consent_failed events: got %d, want 1", got)
		}

		// No loop: the consent cannot send the browser to the provider
		// again, and the same response is not processed twice.
		_, err := e.svc.AuthorizeRedirect(context.Background(), id, alice)
		requireErr(t, "AuthorizeRedirect after access_denied", err, consent.ErrFinished)
		_, err = e.svc.Callback(context.Background(), alice, query)
		requireErr(t, "second callback", err, consent.ErrStateUsed)
	})
}

func TestCallbackWithoutReturnURLEndsOnCompletePage(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), nil)
	id := e.startPending(alice, consent.StartInput{})
	e.as.Deny("invalid_scope")
	cb := e.callback(e.svc, alice, e.visit(e.svc, id, alice))

	u := mustParseURL(t, cb.RedirectURL)
	if got := u.Scheme + "://" + u.Host + u.Path; got != externalURL+"/oauth-complete" {
		t.Errorf("redirect target: got %q, want %s/oauth-complete", got, externalURL)
	}
	q := u.Query()
	if q.Get("status") != "error" || q.Get("error") != "invalid_scope" || q.Get("provider_id") != providerID || q.Get("consent_id") != id {
		t.Errorf("redirect query: got %v, want status=error error=invalid_scope provider_id=acme consent_id=%s", q, id)
	}
}

func TestCallbackReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		id := e.startPending(alice, consent.StartInput{})
		query := e.visit(e.svc, id, alice)
		e.callback(e.svc, alice, query)

		_, err := e.svc.Callback(context.Background(), alice, query)
		requireErr(t, "replayed callback", err, consent.ErrStateUsed)
		if got := e.as.TokenRequests(); got != 1 {
			t.Errorf("token requests: got %d, want 1", got)
		}
		e.requireStatus(id, consent.StatusCompleted, "")
	})
}

func TestCallbackConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		id := e.startPending(alice, consent.StartInput{})
		query := e.visit(e.svc, id, alice)

		const callers = 10
		results := make([]error, callers)
		var completed []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				res, err := e.svc.Callback(context.Background(), alice, query)
				results[i] = err
				if err == nil {
					mu.Lock()
					completed = append(completed, res.Status)
					mu.Unlock()
				}
			})
		}
		wg.Wait()

		used := 0
		for _, err := range results {
			switch {
			case err == nil:
			case errors.Is(err, consent.ErrStateUsed):
				used++
			default:
				t.Errorf("callback: unexpected error %v", err)
			}
		}
		if len(completed) != 1 || completed[0] != store.ConsentCompleted || used != callers-1 {
			t.Errorf("got results %v and %d already-used, want one completed and %d already-used", completed, used, callers-1)
		}
		if got := e.as.TokenRequests(); got != 1 {
			t.Errorf("token requests: got %d, want 1", got)
		}
		if got := e.vault.Saves(); got != 1 {
			t.Errorf("vault saves: got %d, want 1", got)
		}
	})
}

func TestCallbackAfterExpiry(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		id := e.startPending(alice, consent.StartInput{})
		query := e.visit(e.svc, id, alice)
		e.clock.Advance(10*time.Minute + time.Second)
		before := e.storedConsent(id)

		_, err := e.svc.Callback(context.Background(), alice, query)
		requireErr(t, "callback after expiry", err, consent.ErrExpired)
		if got := e.as.TokenRequests(); got != 0 {
			t.Errorf("token requests: got %d, want 0", got)
		}
		e.requireUnchanged(before)
		e.requireStatus(id, consent.StatusExpired, "expired")

		_, err = e.svc.AuthorizeRedirect(context.Background(), id, alice)
		requireErr(t, "AuthorizeRedirect after expiry", err, consent.ErrExpired)
	})
}

func TestOtherUserCannotUseConsent(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		ctx := context.Background()
		id := e.startPending(alice, consent.StartInput{})

		// Bob opens alice's /connect link: nothing changes.
		before := e.storedConsent(id)
		_, err := e.svc.AuthorizeRedirect(ctx, id, bob)
		requireErr(t, "AuthorizeRedirect by bob", err, consent.ErrWrongUser)
		e.requireUnchanged(before)

		// Alice's authorization response reaches bob's browser: nothing
		// changes and no code is redeemed.
		query := e.visit(e.svc, id, alice)
		before = e.storedConsent(id)
		_, err = e.svc.Callback(ctx, bob, query)
		requireErr(t, "Callback by bob", err, consent.ErrWrongUser)
		e.requireUnchanged(before)
		if got := e.as.TokenRequests(); got != 0 {
			t.Errorf("token requests after bob's callback: got %d, want 0", got)
		}
		if _, ok := e.vault.Get(bob, providerID); ok {
			t.Errorf("bob's vault got tokens from alice's consent")
		}

		// The rightful user still completes.
		if cb := e.callback(e.svc, alice, query); cb.Status != store.ConsentCompleted {
			t.Errorf("alice's callback: got %+v, want completed", cb)
		}
		if _, ok := e.vault.Get(alice, providerID); !ok {
			t.Errorf("alice's vault has no tokens")
		}

		_, err = e.svc.Callback(ctx, "", query)
		requireErr(t, "Callback without a user", err, consent.ErrSignInRequired)
	})
}

func TestExchangeNeedsVerifier(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		id := e.startPending(alice, consent.StartInput{})
		first := e.visit(e.svc, id, alice)
		second := e.visit(e.svc, id, alice)

		// The first visit's state stopped working when the second began.
		_, err := e.svc.Callback(context.Background(), alice, first)
		requireErr(t, "callback with the replaced state", err, consent.ErrUnknownState)

		// The first code belongs to the first verifier, which the consent
		// no longer holds, so the provider rejects the exchange.
		mixed := url.Values{"state": {second.Get("state")}, "code": {first.Get("code")}, "iss": {second.Get("iss")}}
		cb := e.callback(e.svc, alice, mixed)
		if cb.Status != store.ConsentFailed || cb.Error != "invalid_grant" {
			t.Errorf("callback: got %+v, want failed with invalid_grant", cb)
		}
		if got := e.as.Rejections(); !slices.Contains(got, "code_verifier does not match the code_challenge") {
			t.Errorf("authorization server rejections: got %q, want a verifier mismatch", got)
		}
		if _, ok := e.vault.Get(alice, providerID); ok {
			t.Errorf("vault got tokens from a rejected exchange")
		}
	})
}

// TestTwoReplicas runs two replicas, each with its own connections,
// keyring, registry and real vault, on one PostgreSQL database.
func TestTwoReplicas(t *testing.T) {
	dbURL := storetest.NewPostgresURL(t)
	stA := storetest.OpenPostgres(t, dbURL)
	stB := storetest.OpenPostgres(t, dbURL)
	e := newEnv(t, stA, nil)
	replicaA, _ := e.newReplica(stA)
	replicaB, vaultB := e.newReplica(stB)
	ctx := context.Background()

	id := e.start(replicaA, alice, consent.StartInput{}).ConsentID
	query := e.visit(replicaA, id, alice)
	cb := e.callback(replicaB, alice, query)
	if cb.Status != store.ConsentCompleted {
		t.Fatalf("callback on replica B: got %+v, want completed", cb)
	}
	if usable, err := vaultB.Usable(ctx, alice, providerID, []string{"files.read"}); err != nil || !usable {
		t.Errorf("replica B's vault: got usable %v, %v; want true", usable, err)
	}
	e.requireStatus(id, consent.StatusCompleted, "")

	// Replica A reads the tokens that B stored and needs no consent.
	if res := e.start(replicaA, alice, consent.StartInput{}); !res.Connected {
		t.Errorf("Start on replica A after B completed: got %+v, want connected", res)
	}
	// A replayed callback on replica A is rejected as well.
	_, err := replicaA.Callback(ctx, alice, query)
	requireErr(t, "replay on replica A", err, consent.ErrStateUsed)

	// Started on B, sent to the provider by A, completed by B.
	second := e.start(replicaB, alice, consent.StartInput{Force: true})
	query = e.visit(replicaA, second.ConsentID, alice)
	if cb := e.callback(replicaB, alice, query); cb.Status != store.ConsentCompleted {
		t.Errorf("second consent: got %+v, want completed", cb)
	}
	if got := e.as.TokenRequests(); got != 2 {
		t.Errorf("token requests: got %d, want 2", got)
	}
}

func TestIssuerParameter(t *testing.T) {
	cases := []struct {
		name       string
		iss        func(asURL string) string
		wantStatus string
		wantErr    string
	}{
		{"same issuer", func(u string) string { return u }, store.ConsentCompleted, ""},
		{"trailing slash", func(u string) string { return u + "/" }, store.ConsentCompleted, ""},
		{"upper-case scheme", func(u string) string { return strings.Replace(u, "http://", "HTTP://", 1) }, store.ConsentCompleted, ""},
		{"absent", func(string) string { return "" }, store.ConsentCompleted, ""},
		{"other issuer", func(string) string { return "https://evil.example.com" }, store.ConsentFailed, "issuer_mismatch"},
		{"other path", func(u string) string { return u + "/tenant" }, store.ConsentFailed, "issuer_mismatch"},
		{"other port", func(string) string { return "http://127.0.0.1:1" }, store.ConsentFailed, "issuer_mismatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, st *store.Store) {
				e := newEnv(t, st, nil)
				e.as.SetIssuerParameter(tc.iss(e.as.URL))
				id := e.startPending(alice, consent.StartInput{})

				cb := e.callback(e.svc, alice, e.visit(e.svc, id, alice))
				if cb.Status != tc.wantStatus || cb.Error != tc.wantErr {
					t.Errorf("callback: got status %q error %q, want %q error %q", cb.Status, cb.Error, tc.wantStatus, tc.wantErr)
				}
				wantExchanges := 1
				if tc.wantErr != "" {
					wantExchanges = 0
				}
				if got := e.as.TokenRequests(); got != wantExchanges {
					t.Errorf("token requests: got %d, want %d", got, wantExchanges)
				}
			})
		})
	}
}

func TestStatusOwnerOnly(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil)
		id := e.startPending(alice, consent.StartInput{})

		got := e.status(id, alice)
		if got.Status != consent.StatusPending || got.ProviderID != providerID || got.ConsentID != id {
			t.Errorf("alice's status: got %+v, want pending for acme", got)
		}
		_, err := e.svc.Status(context.Background(), id, bob)
		requireErr(t, "bob's status", err, consent.ErrNotFound)
		_, err = e.svc.Status(context.Background(), "cns_unknown", alice)
		requireErr(t, "unknown consent", err, consent.ErrNotFound)
	})
}

func TestCallbackUnknownState(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), nil)
	for _, q := range []url.Values{
		{},
		{"state": {"forged"}, "code": {"x"}},
		{"state": {strings.Repeat("s", 600)}, "code": {"x"}},
	} {
		_, err := e.svc.Callback(context.Background(), alice, q)
		requireErr(t, "callback with "+q.Encode(), err, consent.ErrUnknownState)
	}
}

func TestProviderDisabledMidFlow(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t), nil)
	ctx := context.Background()
	aliceID := e.startPending(alice, consent.StartInput{})
	bobID := e.startPending(bob, consent.StartInput{})
	query := e.visit(e.svc, aliceID, alice)

	disabled := false
	if _, err := e.reg.Update(ctx, providerID, provider.PatchInput{Enabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	cb := e.callback(e.svc, alice, query)
	if cb.Status != store.ConsentFailed || cb.Error != "provider_unavailable" {
		t.Errorf("alice's callback: got %+v, want failed with provider_unavailable", cb)
	}
	if got := e.as.TokenRequests(); got != 0 {
		t.Errorf("token requests: got %d, want 0", got)
	}

	_, err := e.svc.AuthorizeRedirect(ctx, bobID, bob)
	requireErr(t, "bob's AuthorizeRedirect", err, consent.ErrProviderUnavailable)
	st, err := e.svc.Status(ctx, bobID, bob)
	if err != nil || st.Status != consent.StatusFailed || st.Error != "provider_unavailable" {
		t.Errorf("bob's status: got %+v, %v; want failed with provider_unavailable", st, err)
	}
	_, err = e.svc.Start(ctx, bob, nil, providerID, consent.StartInput{})
	requireErr(t, "Start for a disabled provider", err, consent.ErrNotFound)
}
