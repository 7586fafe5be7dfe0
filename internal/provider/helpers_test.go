package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"testing"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

const externalURL = "https://toolgate.example.com"

// forEachStore runs fn against a fresh SQLite store, and against a fresh
// PostgreSQL database when TOOLGATE_TEST_POSTGRES_URL is set.
func forEachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.NewSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.NewPostgres(t)) })
}

func newKeyring(t *testing.T) *keyring.Keyring {
	t.Helper()
	key, err := keyring.Generate("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// newRegistry returns a registry on st with a fresh keyring. opts may be
// nil; its ExternalURL defaults to externalURL.
func newRegistry(t *testing.T, st *store.Store, opts *provider.Options) *provider.Registry {
	t.Helper()
	var o provider.Options
	if opts != nil {
		o = *opts
	}
	if o.ExternalURL == nil {
		u, err := url.Parse(externalURL)
		if err != nil {
			t.Fatal(err)
		}
		o.ExternalURL = u
	}
	return provider.NewRegistry(st, newKeyring(t), &o)
}

func googleInput(id string) provider.CreateInput {
	return provider.CreateInput{
		ID:           id,
		DisplayName:  "Google Workspace",
		Type:         provider.TypeGoogle,
		ClientID:     "1234.apps.googleusercontent.com",
		ClientSecret: "google-secret",
		Scopes:       []string{"openid", "email"},
	}
}

// customInput returns a custom provider with explicit metadata on
// https://issuer.example.com. No request is ever sent there.
func customInput(id string) provider.CreateInput {
	return provider.CreateInput{
		ID:           id,
		DisplayName:  "Example IdP",
		Type:         provider.TypeCustom,
		ClientID:     "toolgate",
		ClientSecret: "custom-secret",
		AuthorizationServerMetadata: &provider.Metadata{
			Issuer:                "https://issuer.example.com",
			AuthorizationEndpoint: "https://issuer.example.com/authorize",
			TokenEndpoint:         "https://issuer.example.com/token",
		},
	}
}

// withInput returns base changed by edit, so that table cases read as the
// one thing they break.
func withInput(base provider.CreateInput, edit func(in *provider.CreateInput)) provider.CreateInput {
	if base.AuthorizationServerMetadata != nil {
		md := *base.AuthorizationServerMetadata
		base.AuthorizationServerMetadata = &md
	}
	edit(&base)
	return base
}

func mustCreate(t *testing.T, reg *provider.Registry, in provider.CreateInput) *provider.View {
	t.Helper()
	v, err := reg.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("create %q: %v", in.ID, err)
	}
	return v
}

// requireValidation fails unless err is a *ValidationError with status
// whose first field is field.
func requireValidation(t *testing.T, err error, status int, field string) *provider.ValidationError {
	t.Helper()
	var ve *provider.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v, want a *provider.ValidationError", err)
	}
	if ve.Status != status {
		t.Errorf("status: got %d, want %d (%v)", ve.Status, status, ve)
	}
	if len(ve.Fields) == 0 {
		t.Fatalf("got no fields, want %s", field)
	}
	if ve.Fields[0].Field != field {
		t.Errorf("field: got %q, want %q (%v)", ve.Fields[0].Field, field, ve)
	}
	if ve.Fields[0].Detail == "" {
		t.Errorf("field %s has an empty detail", field)
	}
	return ve
}

// requireUnchanged fails unless the stored row of id equals before.
func requireUnchanged(t *testing.T, st *store.Store, before *store.Provider) {
	t.Helper()
	after, err := st.GetProvider(context.Background(), before.ID)
	if err != nil {
		t.Fatalf("get %q: %v", before.ID, err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("stored provider changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

func ptr[T any](v T) *T { return &v }

// jsonText returns v encoded as JSON, the form the API returns.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
