package provider_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestCreateGetListDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
		reg := newRegistry(t, st, &provider.Options{Now: func() time.Time { return now }})

		created := mustCreate(t, reg, googleInput("google"))
		mustCreate(t, reg, customInput("custom"))

		if created.RedirectURI != externalURL+"/oauth/callback" {
			t.Errorf("redirect uri: got %q", created.RedirectURI)
		}
		if !created.ClientSecretSet {
			t.Error("client_secret_set: got false, want true")
		}
		if want := now.Truncate(time.Microsecond); !created.CreatedAt.Equal(want) || !created.UpdatedAt.Equal(want) {
			t.Errorf("timestamps: got %s and %s, want %s", created.CreatedAt, created.UpdatedAt, want)
		}
		if created.Endpoints.AuthorizationEndpoint != "https://accounts.google.com/o/oauth2/v2/auth" {
			t.Errorf("authorization endpoint: got %q", created.Endpoints.AuthorizationEndpoint)
		}
		if created.AuthorizationServerMetadata != nil {
			t.Errorf("vendor view has metadata %+v, want none", created.AuthorizationServerMetadata)
		}

		got, err := reg.Get(ctx, "google")
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if a, b := jsonText(t, got), jsonText(t, created); a != b {
			t.Errorf("get differs from create:\ngot  %s\nwant %s", a, b)
		}

		list, err := reg.List(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(list) != 2 || list[0].ID != "custom" || list[1].ID != "google" {
			t.Errorf("list: got %d providers %v, want custom and google", len(list), list)
		}

		if err := reg.Delete(ctx, "google"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := reg.Get(ctx, "google"); !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("get after delete: got %v, want ErrNotFound", err)
		}
		if err := reg.Delete(ctx, "google"); !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}
	})
}

func TestUpdateKeepsSealedSecret(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		reg := newRegistry(t, st, nil)
		mustCreate(t, reg, provider.CreateInput{
			ID: "ms", DisplayName: "Microsoft", Type: provider.TypeMicrosoft, ClientID: "app", ClientSecret: "ms-secret",
		})
		before, err := st.GetProvider(ctx, "ms")
		if err != nil {
			t.Fatal(err)
		}

		v, err := reg.Update(ctx, "ms", provider.PatchInput{
			DisplayName:      ptr("Contoso 365"),
			Scopes:           &[]string{"User.Read"},
			AllowedRoles:     &[]string{"staff"},
			Enabled:          ptr(false),
			Icon:             ptr("https://cdn.example.com/ms.png"),
			CustomParameters: &map[string]string{"domain_hint": "contoso.com"},
			Settings:         &map[string]string{"tenant": "contoso.onmicrosoft.com"},
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		after, err := st.GetProvider(ctx, "ms")
		if err != nil {
			t.Fatal(err)
		}
		if after.ClientSecret != before.ClientSecret {
			t.Errorf("sealed secret changed:\nbefore %q\nafter  %q", before.ClientSecret, after.ClientSecret)
		}
		if after.ClientID != before.ClientID {
			t.Errorf("client id: got %q, want %q", after.ClientID, before.ClientID)
		}
		if v.DisplayName != "Contoso 365" || v.Enabled || v.Settings["tenant"] != "contoso.onmicrosoft.com" {
			t.Errorf("view does not show the patch: %+v", v)
		}
		if v.UpdatedAt.Before(v.CreatedAt) {
			t.Errorf("updated_at %s is before created_at %s", v.UpdatedAt, v.CreatedAt)
		}
		cfg, err := reg.Resolve(ctx, "ms")
		if err != nil {
			t.Fatal(err)
		}
		if string(cfg.ClientSecret) != "ms-secret" {
			t.Error("resolved secret changed after a metadata update")
		}
	})
}

func TestUpdateAbsentFieldsUnchanged(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	created := mustCreate(t, reg, withInput(googleInput("google"), func(in *provider.CreateInput) {
		in.AllowedRoles = []string{"staff"}
		in.CustomParameters = map[string]string{"hd": "example.com"}
		in.Icon = "https://cdn.example.com/g.png"
	}))

	v, err := reg.Update(ctx, "google", provider.PatchInput{Enabled: ptr(false)})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if v.Enabled {
		t.Error("enabled: got true, want false")
	}
	v.Enabled, v.UpdatedAt = created.Enabled, created.UpdatedAt
	if a, b := jsonText(t, v), jsonText(t, created); a != b {
		t.Errorf("fields other than enabled changed:\ngot  %s\nwant %s", a, b)
	}

	// An empty list or map is present, so it clears the field.
	v, err = reg.Update(ctx, "google", provider.PatchInput{AllowedRoles: &[]string{}, CustomParameters: &map[string]string{}})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if len(v.AllowedRoles) != 0 || len(v.CustomParameters) != 0 {
		t.Errorf("got roles %q and parameters %v, want both cleared", v.AllowedRoles, v.CustomParameters)
	}
}

func TestUpdateRotatesCredentials(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		reg := newRegistry(t, st, nil)
		mustCreate(t, reg, googleInput("google"))
		before, err := st.GetProvider(ctx, "google")
		if err != nil {
			t.Fatal(err)
		}

		if _, err := reg.Update(ctx, "google", provider.PatchInput{
			ClientID: ptr("5678.apps.googleusercontent.com"), ClientSecret: ptr(provider.Secret("rotated-secret")),
		}); err != nil {
			t.Fatalf("update: %v", err)
		}
		after, err := st.GetProvider(ctx, "google")
		if err != nil {
			t.Fatal(err)
		}
		if after.ClientSecret == before.ClientSecret {
			t.Error("sealed secret unchanged after a rotation")
		}
		cfg, err := reg.Resolve(ctx, "google")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ClientID != "5678.apps.googleusercontent.com" || string(cfg.ClientSecret) != "rotated-secret" {
			t.Errorf("resolved credentials: got %q and a secret of %d bytes, want the rotated ones", cfg.ClientID, len(cfg.ClientSecret))
		}
	})
}

func TestRedirectURI(t *testing.T) {
	cases := []struct{ external, want string }{
		{"https://toolgate.example.com", "https://toolgate.example.com/oauth/callback"},
		{"https://toolgate.example.com/", "https://toolgate.example.com/oauth/callback"},
		{"https://example.com/toolgate", "https://example.com/toolgate/oauth/callback"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/oauth/callback"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.external)
		if err != nil {
			t.Fatal(err)
		}
		reg := provider.NewRegistry(nil, nil, &provider.Options{ExternalURL: u})
		if got := reg.RedirectURI(); got != tc.want {
			t.Errorf("external URL %s: got %q, want %q", tc.external, got, tc.want)
		}
	}
}

func TestLogsChangesWithoutSecret(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := newRegistry(t, storetest.NewSQLite(t), &provider.Options{Logger: logger})
	ctx := context.Background()

	mustCreate(t, reg, withInput(googleInput("google"), func(in *provider.CreateInput) { in.ClientSecret = "log-canary-secret" }))
	if _, err := reg.Update(ctx, "google", provider.PatchInput{
		ClientID: ptr("new"), ClientSecret: ptr(provider.Secret("log-canary-secret-2")),
	}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Delete(ctx, "google"); err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	for _, msg := range []string{"provider created", "provider updated", "provider deleted"} {
		if !strings.Contains(out, `"msg":"`+msg+`","provider_id":"google"`) {
			t.Errorf("log has no %q line with provider_id: %s", msg, out)
		}
	}
	if strings.Contains(out, "log-canary-secret") {
		t.Errorf("log contains the client secret: %s", out)
	}
}

// TestSecretNotInSQLiteFile reads the database files byte for byte: the
// secret must appear nowhere, while the client id, stored in the same
// row, must appear, which shows that the search reads the right files.
func TestSecretNotInSQLiteFile(t *testing.T) {
	const secret = "tg-canary-7f3c9a1e-sqlite-secret"
	const clientID = "tg-canary-client-id-sqlite"
	path := filepath.Join(t.TempDir(), "toolgate.db")
	st := storetest.OpenSQLite(t, path)
	reg := newRegistry(t, st, nil)
	mustCreate(t, reg, withInput(googleInput("google"), func(in *provider.CreateInput) {
		in.ClientID, in.ClientSecret = clientID, secret
	}))
	if _, err := reg.Update(context.Background(), "google", provider.PatchInput{DisplayName: ptr("Renamed")}); err != nil {
		t.Fatal(err)
	}

	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		data, err := os.ReadFile(path + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("%s contains the client secret", filepath.Base(path+suffix))
		}
		all = append(all, data...)
	}
	if !bytes.Contains(all, []byte(clientID)) {
		t.Error("the database files do not contain the client id either, so the search read the wrong files")
	}
}

// TestSecretNotInPostgresRows renders every column of every providers row
// as text and searches it for the secret.
func TestSecretNotInPostgresRows(t *testing.T) {
	const secret = "tg-canary-7f3c9a1e-postgres-secret"
	const clientID = "tg-canary-client-id-postgres"
	st := storetest.NewPostgres(t)
	reg := newRegistry(t, st, nil)
	mustCreate(t, reg, withInput(googleInput("google"), func(in *provider.CreateInput) {
		in.ClientID, in.ClientSecret = clientID, secret
	}))

	rows, err := st.DB().QueryContext(context.Background(), "SELECT * FROM providers")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for rows.Next() {
		values := make([]sql.NullString, len(cols))
		dest := make([]any, len(cols))
		for i := range values {
			dest[i] = &values[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for i, v := range values {
			fmt.Fprintf(&text, "%s=%s\n", cols[i], v.String)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	if strings.Contains(text.String(), secret) {
		t.Errorf("providers rows contain the client secret:\n%s", text.String())
	}
	if !strings.Contains(text.String(), clientID) {
		t.Errorf("providers rows do not contain the client id either, so the query read nothing useful:\n%s", text.String())
	}
}
