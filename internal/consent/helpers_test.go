package consent_test

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/audit"
	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/consent/consenttest"
	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/oauthclient"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
	"github.com/toolgate/toolgate/internal/vault"
)

// The real registry, code exchanger and vault satisfy the interfaces that the
// flow declares.
var (
	_ consent.ProviderResolver = (*provider.Registry)(nil)
	_ consent.Exchanger        = (*oauthclient.Client)(nil)
	_ consent.TokenStore       = (*vault.Vault)(nil)
)

const (
	externalURL = "https://toolgate.example.com"
	providerID  = "acme"
	alice       = "alice"
	bob         = "bob"
)

// start is the fake clock's first reading.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// forEachStore runs fn against a fresh SQLite store and a fresh
// PostgreSQL database, which is skipped when TOOLGATE_TEST_POSTGRES_URL is
// unset.
func forEachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.NewPostgres(t)) })
}

// env is one Toolgate replica's consent flow wired to a fake
// authorization server registered as the custom provider "acme".
type env struct {
	t     *testing.T
	st    *store.Store
	key   keyring.Key
	kr    *keyring.Keyring
	reg   *provider.Registry
	as    *consenttest.AuthServer
	vault *consenttest.Vault
	clock *consenttest.Clock
	opts  consent.Options
	svc   *consent.Service
}

// newEnv registers "acme" with the scope "files.read" on st and returns
// an env around it. edit, if not nil, changes the Options before the
// Service is built.
func newEnv(t *testing.T, st *store.Store, edit func(o *consent.Options)) *env {
	t.Helper()
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, key: key, vault: consenttest.NewVault(), clock: consenttest.NewClock(start)}
	e.kr = mustKeyring(t, key)
	ext := mustParseURL(t, externalURL)
	e.reg = provider.NewRegistry(st, e.kr, &provider.Options{ExternalURL: ext})
	e.as = consenttest.NewAuthServer(t, e.reg.RedirectURI())

	_, err = e.reg.Create(context.Background(), provider.CreateInput{
		ID:                          providerID,
		DisplayName:                 "Acme Files",
		Type:                        provider.TypeCustom,
		ClientID:                    e.as.ClientID,
		ClientSecret:                provider.Secret(e.as.ClientSecret),
		Scopes:                      []string{"files.read"},
		CustomParameters:            map[string]string{"prompt": "consent"},
		AuthorizationServerMetadata: e.as.Metadata(),
	})
	if err != nil {
		t.Fatalf("register provider: %v", err)
	}

	e.opts = consent.Options{ExternalURL: ext, AllowedOrigins: []string{"https://app.example.com"}, Now: e.clock.Now}
	if edit != nil {
		edit(&e.opts)
	}
	e.svc = e.newService(st, e.vault)
	return e
}

// newService returns another Service on st, as a second replica would
// run it: its own keyring with the same key, its own registry and
// client.
func (e *env) newService(st *store.Store, vault consent.TokenStore) *consent.Service {
	kr := mustKeyring(e.t, e.key)
	reg := provider.NewRegistry(st, kr, &provider.Options{ExternalURL: mustParseURL(e.t, externalURL)})
	opts := e.opts
	return consent.New(st, kr, reg, vault, oauthclient.New(nil, nil), audit.New(st, nil), &opts)
}

// newReplica returns a Service and the real vault on st, wired as a
// replica would run them.
func (e *env) newReplica(st *store.Store) (*consent.Service, *vault.Vault) {
	e.t.Helper()
	kr := mustKeyring(e.t, e.key)
	reg := provider.NewRegistry(st, kr, &provider.Options{ExternalURL: mustParseURL(e.t, externalURL)})
	client := oauthclient.New(nil, nil)
	rec := audit.New(st, nil)
	v := vault.New(st, kr, reg, client, rec, &vault.Options{Now: e.clock.Now})
	opts := e.opts
	return consent.New(st, kr, reg, v, client, rec, &opts), v
}

// start begins a consent for user, who has no roles, and fails the test
// on error.
func (e *env) start(svc *consent.Service, user string, in consent.StartInput) *consent.StartResult {
	e.t.Helper()
	res, err := svc.Start(context.Background(), user, nil, providerID, in)
	if err != nil {
		e.t.Fatalf("Start for %s: %v", user, err)
	}
	return res
}

// startPending begins a consent, fails the test when Start returns
// connected, and returns the consent's id.
func (e *env) startPending(user string, in consent.StartInput) string {
	e.t.Helper()
	res := e.start(e.svc, user, in)
	if res.Connected || res.ConsentID == "" {
		e.t.Fatalf("Start for %s: got %+v, want a pending consent", user, res)
	}
	return res.ConsentID
}

// visit plays user's browser at /connect/{consentID} and at the provider,
// and returns the authorization response that the provider sends to the
// callback.
func (e *env) visit(svc *consent.Service, consentID, user string) url.Values {
	e.t.Helper()
	authURL, err := svc.AuthorizeRedirect(context.Background(), consentID, user)
	if err != nil {
		e.t.Fatalf("AuthorizeRedirect(%s, %s): %v", consentID, user, err)
	}
	return e.as.Authorize(e.t, authURL)
}

// callback delivers an authorization response for user and fails the
// test on error.
func (e *env) callback(svc *consent.Service, user string, query url.Values) *consent.CallbackResult {
	e.t.Helper()
	res, err := svc.Callback(context.Background(), user, query)
	if err != nil {
		e.t.Fatalf("Callback for %s: %v", user, err)
	}
	return res
}

func (e *env) status(consentID, user string) *consent.StatusResult {
	e.t.Helper()
	st, err := e.svc.Status(context.Background(), consentID, user)
	if err != nil {
		e.t.Fatalf("Status(%s, %s): %v", consentID, user, err)
	}
	return st
}

// storedConsent reads a consent row straight from the store.
func (e *env) storedConsent(id string) *store.Consent {
	e.t.Helper()
	c, err := e.st.GetConsent(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get consent %s: %v", id, err)
	}
	return c
}

// requireUnchanged fails unless consent id's row equals before.
func (e *env) requireUnchanged(before *store.Consent) {
	e.t.Helper()
	if after := e.storedConsent(before.ID); !reflect.DeepEqual(before, after) {
		e.t.Errorf("consent row changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

// requireStatus fails unless consentID's status for alice is want, with
// error code wantErr.
func (e *env) requireStatus(consentID, want, wantErr string) {
	e.t.Helper()
	st := e.status(consentID, alice)
	if st.Status != want || st.Error != wantErr {
		e.t.Errorf("status of %s: got %q error %q, want %q error %q", consentID, st.Status, st.Error, want, wantErr)
	}
}

// auditCount returns how many audit events with action exist for alice.
func (e *env) auditCount(action string) int {
	e.t.Helper()
	events, err := e.st.ListAudit(context.Background(), store.AuditFilter{Action: action, UserID: alice, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(events)
}

func requireErr(t *testing.T, operation string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", operation, err, want)
	}
}

func mustKeyring(t *testing.T, key keyring.Key) *keyring.Keyring {
	t.Helper()
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
