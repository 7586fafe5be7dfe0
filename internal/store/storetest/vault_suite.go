package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// vaultTests cover consents, tokens, revocations and the audit trail.
var vaultTests = []struct {
	name string
	fn   func(t *testing.T, s *store.Store)
}{
	{"ConsentLifecycle", testConsentLifecycle},
	{"ConsentStateSingleUse", testConsentStateSingleUse},
	{"TokenGenerations", testTokenGenerations},
	{"RefreshLeaseExclusive", testRefreshLeaseExclusive},
	{"RevokeToken", testRevokeToken},
	{"RevocationQueue", testRevocationQueue},
	{"Audit", testAudit},
}

func sampleConsent(id string) *store.Consent {
	return &store.Consent{
		ID: id, UserID: "alice", ProviderID: "google", Scopes: []string{"openid"}, ReturnURL: "http://localhost/x",
		Status: store.ConsentPending, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}
}

func testConsentLifecycle(t *testing.T, s *store.Store) {
	ctx := context.Background()
	c := sampleConsent("c1")
	if err := s.CreateConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetConsent(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("GetConsent:\n got %+v\nwant %+v", got, c)
	}

	newer := sampleConsent("c2")
	newer.CreatedAt = now.Add(time.Second)
	if err := s.CreateConsent(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if p, err := s.FindPendingConsent(ctx, "alice", "google", now); err != nil || p.ID != "c2" {
		t.Errorf("FindPendingConsent: got %v, %v; want c2", p, err)
	}
	if _, err := s.FindPendingConsent(ctx, "alice", "google", now.Add(11*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindPendingConsent after expiry: got %v, want ErrNotFound", err)
	}
	if _, err := s.FindPendingConsent(ctx, "bob", "google", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindPendingConsent of another user: got %v, want ErrNotFound", err)
	}

	if err := s.SetConsentState(ctx, "c1", "sh1", "tg1:k:v", "n", now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConsentState(ctx, "c1", "sh1b", "tg1:k:v2", "n", now.Add(11*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetConsentState after expiry: got %v, want ErrNotFound", err)
	}
	if err := s.FinishConsent(ctx, "c1", store.ConsentFailed, "access_denied", "user said no", now); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishConsent(ctx, "c1", store.ConsentCompleted, "", "", now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("FinishConsent twice: got %v, want ErrConflict", err)
	}
	if err := s.FinishConsent(ctx, "nope", store.ConsentCompleted, "", "", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishConsent of missing consent: got %v, want ErrNotFound", err)
	}
	got, err = s.GetConsent(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.ConsentFailed || got.Error != "access_denied" || got.Verifier != "" || !got.FinishedAt.Equal(now) {
		t.Errorf("finished consent: got status %q error %q verifier %q finished %v", got.Status, got.Error, got.Verifier, got.FinishedAt)
	}
	if err := s.SetConsentState(ctx, "c1", "sh1c", "v", "n", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetConsentState on a finished consent: got %v, want ErrNotFound", err)
	}

	if n, err := s.CancelPendingConsents(ctx, "alice", "google", now); err != nil || n != 1 {
		t.Errorf("CancelPendingConsents: got %d, %v; want 1, nil", n, err)
	}
	if n, err := s.DeleteFinishedConsents(ctx, now.Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("DeleteFinishedConsents: got %d, %v; want 2, nil", n, err)
	}
}

func testConsentStateSingleUse(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if err := s.CreateConsent(ctx, sampleConsent("c1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConsentState(ctx, "c1", "state-hash", "tg1:k:v", "", now); err != nil {
		t.Fatal(err)
	}
	var wins, used atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.ClaimConsentState(ctx, "state-hash", now)
			switch {
			case err == nil:
				wins.Add(1)
				if c.ID != "c1" || c.StateUsedAt.IsZero() {
					t.Errorf("claimed consent: got id %q used %v", c.ID, c.StateUsedAt)
				}
			case errors.Is(err, store.ErrStateUsed):
				used.Add(1)
			default:
				t.Errorf("ClaimConsentState: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || used.Load() != 7 {
		t.Errorf("got %d claims and %d already-used, want 1 and 7", wins.Load(), used.Load())
	}
	if _, err := s.ClaimConsentState(ctx, "unknown", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClaimConsentState of unknown state: got %v, want ErrNotFound", err)
	}
	// A second trip to the provider replaces the used state with a fresh one.
	if err := s.SetConsentState(ctx, "c1", "state-2", "tg1:k:v2", "", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimConsentState(ctx, "state-hash", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim of a replaced state: got %v, want ErrNotFound", err)
	}
	if _, err := s.ClaimConsentState(ctx, "state-2", now); err != nil {
		t.Errorf("claim of the new state: %v", err)
	}
}

func sampleToken() *store.TokenRecord {
	return &store.TokenRecord{
		UserID: "alice", ProviderID: "google", AccessToken: "tg1:k:a1", RefreshToken: "tg1:k:r1", TokenType: "Bearer",
		ExpiresAt: now.Add(time.Hour), Scopes: []string{"openid", "email"}, Extras: "tg1:k:e1", ConnectedAt: now,
	}
}

func testTokenGenerations(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.GetToken(ctx, "alice", "google"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetToken before put: got %v, want ErrNotFound", err)
	}
	gen, err := s.PutToken(ctx, sampleToken())
	if err != nil || gen != 1 {
		t.Fatalf("PutToken: got %d, %v; want 1, nil", gen, err)
	}
	got, err := s.GetToken(ctx, "alice", "google")
	if err != nil {
		t.Fatal(err)
	}
	want := sampleToken()
	want.Generation, want.Status, want.UpdatedAt = 1, store.TokenConnected, now
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetToken:\n got %+v\nwant %+v", got, want)
	}

	// A refresh against the current generation wins; a second one against
	// the same, now stale, generation loses and changes nothing.
	refreshed := *got
	refreshed.AccessToken, refreshed.RefreshedAt = "tg1:k:a2", now.Add(time.Minute)
	if gen, err := s.CompleteRefresh(ctx, &refreshed); err != nil || gen != 2 {
		t.Fatalf("CompleteRefresh: got %d, %v; want 2, nil", gen, err)
	}
	stale := *got
	stale.AccessToken = "tg1:k:stale"
	if _, err := s.CompleteRefresh(ctx, &stale); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CompleteRefresh at a stale generation: got %v, want ErrConflict", err)
	}
	if err := s.SetTokenStatus(ctx, "alice", "google", 1, store.TokenNeedsReauth, "invalid_grant", now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("SetTokenStatus at a stale generation: got %v, want ErrConflict", err)
	}
	if err := s.SetTokenStatus(ctx, "bob", "google", 1, store.TokenNeedsReauth, "x", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetTokenStatus of a missing row: got %v, want ErrNotFound", err)
	}
	got, err = s.GetToken(ctx, "alice", "google")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken != "tg1:k:a2" || got.Generation != 2 || got.Status != store.TokenConnected {
		t.Errorf("after refresh: got access %q generation %d status %q", got.AccessToken, got.Generation, got.Status)
	}
	if err := s.SetTokenStatus(ctx, "alice", "google", 2, store.TokenNeedsReauth, "invalid_grant", now); err != nil {
		t.Fatal(err)
	}

	// A new consent replaces the tokens and reconnects.
	if gen, err := s.PutToken(ctx, sampleToken()); err != nil || gen != 3 {
		t.Fatalf("PutToken over a row: got %d, %v; want 3, nil", gen, err)
	}
	got, err = s.GetToken(ctx, "alice", "google")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.TokenConnected || got.Reason != "" {
		t.Errorf("after reconnect: got status %q reason %q, want connected and no reason", got.Status, got.Reason)
	}

	other := sampleToken()
	other.UserID = "bob"
	if _, err := s.PutToken(ctx, other); err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListProviderTokens(ctx, "google"); err != nil || len(list) != 2 {
		t.Errorf("ListProviderTokens: got %d rows, %v; want 2", len(list), err)
	}
	if list, err := s.ListUserTokens(ctx, "bob"); err != nil || len(list) != 1 {
		t.Errorf("ListUserTokens: got %d rows, %v; want 1", len(list), err)
	}
	if n, err := s.DeleteProviderTokens(ctx, "google"); err != nil || n != 2 {
		t.Errorf("DeleteProviderTokens: got %d, %v; want 2", n, err)
	}
}

func testRefreshLeaseExclusive(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.PutToken(ctx, sampleToken()); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.AcquireRefreshLease(ctx, "alice", "google", 1, fmt.Sprintf("h%d", i), now, now.Add(30*time.Second))
			if err != nil {
				t.Errorf("AcquireRefreshLease: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("got %d lease holders, want 1", wins.Load())
	}
	if ok, _ := s.AcquireRefreshLease(ctx, "alice", "google", 1, "late", now.Add(31*time.Second), now.Add(time.Minute)); !ok {
		t.Errorf("AcquireRefreshLease after the lease ended: got false, want true")
	}
	if err := s.ReleaseRefreshLease(ctx, "alice", "google", "late"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireRefreshLease(ctx, "alice", "google", 1, "next", now, now.Add(time.Minute)); !ok {
		t.Errorf("AcquireRefreshLease after release: got false, want true")
	}
	if ok, _ := s.AcquireRefreshLease(ctx, "alice", "google", 7, "wrong-gen", now.Add(2*time.Minute), now.Add(3*time.Minute)); ok {
		t.Errorf("AcquireRefreshLease at a wrong generation: got true, want false")
	}
}

func testRevokeToken(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.RevokeToken(ctx, "alice", "google", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RevokeToken of a missing row: got %v, want ErrNotFound", err)
	}
	if _, err := s.PutToken(ctx, sampleToken()); err != nil {
		t.Fatal(err)
	}
	old, err := s.RevokeToken(ctx, "alice", "google", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if old.AccessToken != "tg1:k:a1" || old.RefreshToken != "tg1:k:r1" {
		t.Errorf("RevokeToken returned access %q refresh %q, want the old sealed values", old.AccessToken, old.RefreshToken)
	}
	got, err := s.GetToken(ctx, "alice", "google")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.TokenRevoked || got.AccessToken != "" || got.RefreshToken != "" || got.Extras != "" || got.Generation != 2 {
		t.Errorf("after revoke: got %+v, want status revoked, no secrets, generation 2", got)
	}
}

func testRevocationQueue(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i := range 4 {
		r := &store.Revocation{
			ID: fmt.Sprintf("r%d", i), ProviderID: "google", UserID: "alice", Token: "tg1:k:t",
			TokenTypeHint: "refresh_token", NextAttemptAt: now.Add(time.Duration(i) * time.Minute), CreatedAt: now,
		}
		if err := s.EnqueueRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Concurrent claimers at now+2m split the three due rows between them
	// without overlap.
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			list, err := s.ClaimDueRevocations(ctx, now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
			if err != nil {
				t.Errorf("ClaimDueRevocations: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, r := range list {
				claimed[r.ID]++
			}
		}()
	}
	wg.Wait()
	if want := map[string]int{"r0": 1, "r1": 1, "r2": 1}; !reflect.DeepEqual(claimed, want) {
		t.Errorf("claims: got %v, want each due row once: %v", claimed, want)
	}

	if err := s.RetryRevocation(ctx, "r0", 1, now.Add(10*time.Minute), "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRevocation(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	// After the leases end, r2 and r3 are due; r0 waits for its retry.
	list, err := s.ClaimDueRevocations(ctx, now.Add(4*time.Minute), now.Add(5*time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	if !reflect.DeepEqual(ids, []string{"r2", "r3"}) {
		t.Errorf("claim after leases ended: got %v, want [r2 r3]", ids)
	}
	if n, err := s.CountRevocations(ctx); err != nil || n != 3 {
		t.Errorf("CountRevocations: got %d, %v; want 3", n, err)
	}
}

func testAudit(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i, action := range []string{"consent_started", "consent_completed", "token_issued", "consent_started"} {
		e := &store.AuditEvent{
			ID: fmt.Sprintf("%016x-a", i), At: now.Add(time.Duration(i) * time.Second), Action: action,
			ActorID: "alice", UserID: "alice", ProviderID: "google", Outcome: "ok",
			Detail: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		}
		if i == 3 {
			e.UserID = "bob"
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.ListAudit(ctx, store.AuditFilter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Action != "consent_started" || page[0].UserID != "bob" {
		t.Fatalf("first page: got %+v, want the two newest events, newest first", page)
	}
	next, err := s.ListAudit(ctx, store.AuditFilter{Limit: 2, Before: page[1].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(next) != 2 || next[1].ID != fmt.Sprintf("%016x-a", 0) {
		t.Errorf("second page: got %+v, want the two oldest events", next)
	}
	filtered, err := s.ListAudit(ctx, store.AuditFilter{Limit: 10, Action: "consent_started", UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered) != 1 || string(filtered[0].Detail) != `{"n":0}` {
		t.Errorf("filtered: got %+v, want the first event only", filtered)
	}
	ranged, err := s.ListAudit(ctx, store.AuditFilter{Limit: 10, Since: now.Add(time.Second), Until: now.Add(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ranged) != 2 {
		t.Errorf("time range: got %d events, want 2", len(ranged))
	}
	if _, err := s.ListAudit(ctx, store.AuditFilter{}); err == nil {
		t.Errorf("ListAudit with no limit: got nil error, want one")
	}
}
