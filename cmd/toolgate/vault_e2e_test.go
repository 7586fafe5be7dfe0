package main

// End-to-end tests of the token vault. They run the real "toolgate serve"
// against oidc-provider from npm, with its login and consent pages, PKCE,
// refresh token rotation, introspection and revocation. Toolgate runs on
// SQLite for one replica and on PostgreSQL for two. The PostgreSQL tests
// are skipped when TOOLGATE_TEST_POSTGRES_URL is unset.

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// expirySlack is how long a test waits past a token's expiry, so that the
// provider's clock, which counts whole seconds, has passed it too.
const expirySlack = 1100 * time.Millisecond

// TestVaultLifecycleAtProvider follows one connection from consent to
// disconnect, and checks every step at the provider: the handed-out token
// works there, an expired one is refreshed with rotation, and a disconnect
// revokes both tokens upstream.
func TestVaultLifecycleAtProvider(t *testing.T) {
	s := startVaultSetup(t, vaultSetupOptions{AccessTokenTTL: 3 * time.Second})
	a := s.replicas[0]
	bob := signIn(t, a, "bob")

	if got := connectionStatus(t, bob, a); got != "not_connected" {
		t.Fatalf("status before consent: got %q, want not_connected", got)
	}
	s.connect(t, bob, a, a, "bob")
	if got := connectionStatus(t, bob, a); got != "connected" {
		t.Fatalf("status after consent: got %q, want connected", got)
	}

	first := fetchToken(t, bob, a, "")
	if status, sub := userinfoStatus(t, s.idp, first.AccessToken); status != http.StatusOK || sub != "bob" {
		t.Errorf("userinfo with the handed-out token: got %d for subject %q, want 200 for bob", status, sub)
	}
	if !s.active(t, first.AccessToken) {
		t.Errorf("introspection of the handed-out access token: got inactive, want active")
	}
	firstRefresh := s.rows.refreshToken(t, "bob")
	if !s.active(t, firstRefresh) {
		t.Errorf("introspection of the stored refresh token: got inactive, want active")
	}

	// Let the access token expire, at Toolgate and at the provider.
	time.Sleep(time.Until(first.ExpiresAt) + expirySlack)
	if s.active(t, first.AccessToken) {
		t.Fatalf("the first access token is still active after its expiry at %s, so the provider did not apply the TTL", first.ExpiresAt)
	}

	second := fetchToken(t, bob, a, "")
	if second.AccessToken == first.AccessToken {
		t.Fatalf("token after expiry: got the expired access token again, want a refreshed one")
	}
	if second.Generation <= first.Generation {
		t.Errorf("generation after refresh: got %d, want more than %d", second.Generation, first.Generation)
	}
	if status, sub := userinfoStatus(t, s.idp, second.AccessToken); status != http.StatusOK || sub != "bob" {
		t.Errorf("userinfo with the refreshed token: got %d for subject %q, want 200 for bob", status, sub)
	}
	secondRefresh := s.rows.refreshToken(t, "bob")
	if secondRefresh == firstRefresh {
		t.Errorf("stored refresh token after refresh: unchanged, want the rotated one")
	}
	if s.active(t, firstRefresh) {
		t.Errorf("introspection of the refresh token used for the refresh: got active, want inactive (rotated)")
	}
	if !s.active(t, secondRefresh) {
		t.Fatalf("introspection of the new refresh token: got inactive, want active")
	}
	if !s.active(t, second.AccessToken) {
		t.Fatalf("introspection of the refreshed access token: got inactive, want active")
	}

	if status, body := mustRequest(t, bob, a, http.MethodDelete, "/api/v1/connectors/"+vaultProviderID+"/connection", ""); status != http.StatusNoContent {
		t.Fatalf("DELETE the connection: got %d %s, want 204", status, body)
	}
	checkedAt := time.Now()
	if s.active(t, secondRefresh) {
		t.Errorf("introspection of the refresh token after disconnect: got active, want inactive (revoked)")
	}
	if s.active(t, second.AccessToken) {
		t.Errorf("introspection of the access token after disconnect: got active, want inactive (revoked)")
	}
	if !checkedAt.Before(second.ExpiresAt) {
		t.Errorf("the access token expired at %s, before the revocation check at %s, so the check proves nothing because the test ran too slowly",
			second.ExpiresAt, checkedAt)
	}

	if got := connectionStatus(t, bob, a); got == "connected" {
		t.Errorf("status after disconnect: got connected, want not connected")
	}
	if status, body := mustRequest(t, bob, a, http.MethodPost, tokenPath, ""); status != http.StatusConflict || !strings.Contains(body, `"consent_required"`) {
		t.Errorf("token after disconnect: got %s, want 409 consent_required", tokenOutcome(status, body))
	}
	if rec := s.rows.row(t, "bob"); rec != nil && (rec.AccessToken != "" || rec.RefreshToken != "") {
		t.Errorf("token row after disconnect: still holds sealed tokens, want them wiped")
	}
}

// TestVaultConsentAcrossReplicas starts a consent on replica B and
// completes it on replica A. Both replicas share one database and one
// external URL, as behind a load balancer, so the provider's redirect
// reaches A whichever replica began the flow.
func TestVaultConsentAcrossReplicas(t *testing.T) {
	s := startVaultSetup(t, vaultSetupOptions{Postgres: true, Replicas: 2, CountRefreshes: true})
	a, b := s.replicas[0], s.replicas[1]
	bob := signIn(t, a, "bob")

	if got := connectionStatus(t, bob, b); got != "not_connected" {
		t.Fatalf("status on B before consent: got %q, want not_connected", got)
	}
	// B serves both the start and /connect, so the PKCE verifier and state
	// that A's callback needs are written by B.
	s.connect(t, bob, b, b, "bob")

	if !a.logged("consent completed") {
		t.Errorf("replica that completed the consent: A logged no completion, want A, the external URL")
	}
	if b.logged("consent completed") {
		t.Errorf("replica that completed the consent: got B, want only A, the external URL")
	}
	if got := connectionStatus(t, bob, b); got != "connected" {
		t.Errorf("status on B after the consent completed on A: got %q, want connected", got)
	}
	onB := fetchToken(t, bob, b, "")
	onA := fetchToken(t, bob, a, "")
	if onA.AccessToken != onB.AccessToken {
		t.Errorf("tokens of one connection: A and B hand out different access tokens, want the same")
	}
	if !s.active(t, onB.AccessToken) {
		t.Errorf("introspection of the token from B: got inactive, want active")
	}
}

// TestVaultRefreshStampedeAcrossReplicas sends 200 concurrent token
// requests for one expired token, half to each replica, and checks that the
// provider receives exactly one refresh request and every caller gets the
// refreshed token.
func TestVaultRefreshStampedeAcrossReplicas(t *testing.T) {
	// After the refresh, the new token is due again in half its lifetime,
	// so every request must reach a replica within 2 s of the refresh.
	s := startVaultSetup(t, vaultSetupOptions{Postgres: true, Replicas: 2, AccessTokenTTL: 4 * time.Second, CountRefreshes: true})
	a := s.replicas[0]
	s.connect(t, signIn(t, a, "bob"), a, a, "bob")
	agent := apiClient(t, s.workload, stampedeSize)

	old := fetchToken(t, agent, a, forBob)
	time.Sleep(time.Until(old.ExpiresAt) + expirySlack)
	refreshesBefore := s.proxy.count("refresh_token")

	results := stampede(agent, s.replicas, stampedeSize, forBob)

	if got := s.proxy.count("refresh_token") - refreshesBefore; got != 1 {
		t.Errorf("refresh requests at the provider: got %d, want 1", got)
	}
	failed := 0
	for i, res := range results {
		switch {
		case res.err != nil:
			t.Errorf("request %d to replica %d: %v", i, res.replica, res.err)
		case res.status != http.StatusOK:
			t.Errorf("request %d to replica %d: got %d %s, want 200", i, res.replica, res.status, res.body)
		default:
			continue
		}
		failed++
		if failed == 5 {
			t.Fatalf("stopping after %d failed requests of %d", failed, len(results))
		}
	}
	if failed > 0 {
		t.FailNow()
	}

	fresh := results[0].token
	if fresh.AccessToken == old.AccessToken {
		t.Fatalf("stampede: got the expired access token, want a refreshed one")
	}
	if fresh.Generation <= old.Generation {
		t.Errorf("generation after the stampede: got %d, want more than %d", fresh.Generation, old.Generation)
	}
	different := 0
	for _, res := range results {
		if res.token.AccessToken != fresh.AccessToken || res.token.Generation != fresh.Generation {
			different++
		}
	}
	if different > 0 {
		t.Errorf("stampede: %d of %d callers got a different token than the first, want all the same", different, len(results))
	}
	if !s.active(t, fresh.AccessToken) {
		t.Errorf("introspection of the refreshed token: got inactive, want active")
	}
}

// TestVaultDisconnectSeenByOtherReplica disconnects on replica A right
// after replica B cached the token, and checks that B at once reports the
// connection gone and hands out no token.
func TestVaultDisconnectSeenByOtherReplica(t *testing.T) {
	s := startVaultSetup(t, vaultSetupOptions{Postgres: true, Replicas: 2, CountRefreshes: true})
	a, b := s.replicas[0], s.replicas[1]
	bob := signIn(t, a, "bob")
	s.connect(t, bob, a, a, "bob")
	agent := apiClient(t, s.workload, 1)

	// Reads on B fill B's cache, which would go on serving the token if B
	// missed the disconnect.
	fetchToken(t, bob, b, "")
	fetchToken(t, agent, b, forBob)

	if status, body := mustRequest(t, bob, a, http.MethodDelete, "/api/v1/connectors/"+vaultProviderID+"/connection", ""); status != http.StatusNoContent {
		t.Fatalf("DELETE the connection on A: got %d %s, want 204", status, body)
	}

	if got := connectionStatus(t, bob, b); got == "connected" {
		t.Errorf("status on B right after the disconnect on A: got connected, want not connected")
	}
	for _, c := range []struct {
		name   string
		client *http.Client
		body   string
	}{
		{"the user", bob, ""},
		{"a workload", agent, forBob},
	} {
		status, body := mustRequest(t, c.client, b, http.MethodPost, tokenPath, c.body)
		if status != http.StatusConflict || !strings.Contains(body, `"consent_required"`) {
			t.Errorf("token for %s on B after the disconnect on A: got %s, want 409 consent_required", c.name, tokenOutcome(status, body))
		}
	}
}

// TestVaultDisconnectSeenAfterListenerDrop is
// TestVaultDisconnectSeenByOtherReplica while the replicas' notification
// listeners reconnect, as after a network failure or a database failover.
// B then misses A's notification, and must still hand out no token once
// the disconnect has returned.
func TestVaultDisconnectSeenAfterListenerDrop(t *testing.T) {
	s := startVaultSetup(t, vaultSetupOptions{Postgres: true, Replicas: 2, CountRefreshes: true})
	a, b := s.replicas[0], s.replicas[1]
	bob := signIn(t, a, "bob")
	s.connect(t, bob, a, a, "bob")
	agent := apiClient(t, s.workload, 1)
	fetchToken(t, bob, b, "")

	if ended := dropListeners(t, s.database); ended != len(s.replicas) {
		t.Fatalf("listeners ended: got %d, want %d, one per replica", ended, len(s.replicas))
	}
	// A listener waits at least 100 ms before it reconnects. A slower
	// disconnect lets B reconnect first, and the test then passes without
	// proving anything.
	if status, body := mustRequest(t, bob, a, http.MethodDelete, "/api/v1/connectors/"+vaultProviderID+"/connection", ""); status != http.StatusNoContent {
		t.Fatalf("DELETE the connection on A: got %d %s, want 204", status, body)
	}

	if got := connectionStatus(t, bob, b); got == "connected" {
		t.Errorf("status on B right after the disconnect on A: got connected, want not connected")
	}
	for _, c := range []struct {
		name   string
		client *http.Client
		body   string
	}{
		{"the user", bob, ""},
		{"a workload", agent, forBob},
	} {
		status, body := mustRequest(t, c.client, b, http.MethodPost, tokenPath, c.body)
		if status != http.StatusConflict || !strings.Contains(body, `"consent_required"`) {
			t.Errorf("token for %s on B after the disconnect on A: got %s, want 409 consent_required", c.name, tokenOutcome(status, body))
		}
	}
}

// TestVaultProviderDeletionRevokesTokens deletes a provider that two users
// connected, and checks that their tokens are revoked at the provider and
// gone from the database.
func TestVaultProviderDeletionRevokesTokens(t *testing.T) {
	s := startVaultSetup(t, vaultSetupOptions{})
	a := s.replicas[0]

	type connection struct {
		user, accessToken, refreshToken string
	}
	var connections []connection
	for _, user := range []string{"alice", "bob"} {
		browser := signIn(t, a, user)
		s.connect(t, browser, a, a, user)
		c := connection{user, fetchToken(t, browser, a, "").AccessToken, s.rows.refreshToken(t, user)}
		if !s.active(t, c.accessToken) || !s.active(t, c.refreshToken) {
			t.Fatalf("tokens of %s before the deletion: got inactive, want both active", user)
		}
		connections = append(connections, c)
	}

	admin := signIn(t, a, "alice")
	if status, body := mustRequest(t, admin, a, http.MethodDelete, "/api/v1/admin/providers/"+vaultProviderID, ""); status != http.StatusNoContent {
		t.Fatalf("DELETE the provider: got %d %s, want 204", status, body)
	}

	for _, c := range connections {
		if s.active(t, c.refreshToken) {
			t.Errorf("refresh token of %s after the provider's deletion: got active, want inactive (revoked)", c.user)
		}
		if s.active(t, c.accessToken) {
			t.Errorf("access token of %s after the provider's deletion: got active, want inactive (revoked)", c.user)
		}
		if rec := s.rows.row(t, c.user); rec != nil {
			t.Errorf("token row of %s after the provider's deletion: got one with status %q, want none", c.user, rec.Status)
		}
	}
	if status, _ := mustRequest(t, admin, a, http.MethodPost, tokenPath, ""); status != http.StatusNotFound {
		t.Errorf("token of the deleted provider: got %d, want 404", status)
	}
}
