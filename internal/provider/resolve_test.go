package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/keyring"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func TestResolveBaselineBeatsCustomParameter(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		reg := newRegistry(t, st, nil)
		mustCreate(t, reg, withInput(googleInput("google"), func(in *provider.CreateInput) {
			in.CustomParameters = map[string]string{"prompt": "none", "access_type": "online", "hd": "example.com"}
		}))

		cfg, err := reg.Resolve(context.Background(), "google")
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		for name, want := range map[string]string{"prompt": "consent", "access_type": "offline", "hd": "example.com"} {
			if got := cfg.AuthorizeParameters[name]; got != want {
				t.Errorf("authorize parameter %s: got %q, want %q", name, got, want)
			}
		}

		// The admin's value stays stored, so the view shows what was sent.
		v, err := reg.Get(context.Background(), "google")
		if err != nil {
			t.Fatal(err)
		}
		if v.CustomParameters["prompt"] != "none" {
			t.Errorf("stored custom prompt: got %q, want none", v.CustomParameters["prompt"])
		}
	})
}

func TestResolveDecryptsSecret(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		reg := newRegistry(t, st, nil)
		mustCreate(t, reg, withInput(googleInput("google"), func(in *provider.CreateInput) { in.ClientSecret = "GOCSPX-decrypt-me" }))

		cfg, err := reg.Resolve(context.Background(), "google")
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		if string(cfg.ClientSecret) != "GOCSPX-decrypt-me" {
			t.Errorf("client secret: got %q, want the one created", string(cfg.ClientSecret))
		}
		raw, err := st.GetProvider(context.Background(), "google")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(raw.ClientSecret, "tg1:k1:") {
			t.Errorf("stored secret %q is not a sealed value", raw.ClientSecret)
		}
	})
}

func TestResolveVendorPresets(t *testing.T) {
	cases := []struct {
		in    provider.CreateInput
		check func(t *testing.T, cfg *provider.Config)
	}{
		{provider.CreateInput{ID: "ms", DisplayName: "Microsoft", Type: provider.TypeMicrosoft, ClientID: "app", ClientSecret: "s",
			Scopes: []string{"User.Read"}},
			func(t *testing.T, cfg *provider.Config) {
				if want := "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"; cfg.AuthorizationEndpoint != want {
					t.Errorf("authorization endpoint: got %q, want %q", cfg.AuthorizationEndpoint, want)
				}
				if got := strings.Join(cfg.Scopes, " "); got != "User.Read offline_access" {
					t.Errorf("scopes: got %q, want offline_access added", got)
				}
				if !slices.Contains(cfg.ForbiddenParameters, "resource") {
					t.Errorf("forbidden parameters: got %q, want resource", cfg.ForbiddenParameters)
				}
				if cfg.RevocationStyle != provider.RevocationNone || cfg.RevocationEndpoint != "" {
					t.Errorf("revocation: got %q at %q, want none", cfg.RevocationStyle, cfg.RevocationEndpoint)
				}
			}},
		{provider.CreateInput{ID: "ms-tenant", DisplayName: "Contoso", Type: provider.TypeMicrosoft, ClientID: "app", ClientSecret: "s",
			Scopes: []string{"offline_access", "Mail.Read"}, Settings: map[string]string{"tenant": "contoso.onmicrosoft.com"}},
			func(t *testing.T, cfg *provider.Config) {
				if want := "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"; cfg.TokenEndpoint != want {
					t.Errorf("token endpoint: got %q, want %q", cfg.TokenEndpoint, want)
				}
				if got := strings.Join(cfg.Scopes, " "); got != "offline_access Mail.Read" {
					t.Errorf("scopes: got %q, want offline_access once", got)
				}
			}},
		{provider.CreateInput{ID: "atl", DisplayName: "Jira", Type: provider.TypeAtlassian, ClientID: "a", ClientSecret: "s",
			Scopes: []string{"read:jira-work"}, CustomParameters: map[string]string{"audience": "other"}},
			func(t *testing.T, cfg *provider.Config) {
				if cfg.AuthorizeParameters["audience"] != "api.atlassian.com" || cfg.AuthorizeParameters["prompt"] != "consent" {
					t.Errorf("authorize parameters: got %v, want audience=api.atlassian.com and prompt=consent", cfg.AuthorizeParameters)
				}
				if !slices.Contains(cfg.Scopes, "offline_access") {
					t.Errorf("scopes: got %q, want offline_access added", cfg.Scopes)
				}
			}},
		{provider.CreateInput{ID: "slack", DisplayName: "Slack", Type: provider.TypeSlack, ClientID: "1.2", ClientSecret: "s",
			Scopes: []string{"chat:write", "users:read"}},
			func(t *testing.T, cfg *provider.Config) {
				if cfg.ScopeParameter != "user_scope" || cfg.ScopeSeparator != "," {
					t.Errorf("scope parameter: got %q joined by %q, want user_scope joined by ','", cfg.ScopeParameter, cfg.ScopeSeparator)
				}
				if !cfg.Quirks.OKField || !cfg.Quirks.UserTokenInAuthedUser {
					t.Errorf("quirks: got %+v, want OKField and UserTokenInAuthedUser", cfg.Quirks)
				}
				if cfg.RevocationStyle != provider.RevocationSlackAuthRevoke {
					t.Errorf("revocation style: got %q", cfg.RevocationStyle)
				}
				if cfg.AuthMethod != provider.AuthClientSecretBasic {
					t.Errorf("auth method: got %q, want client_secret_basic", cfg.AuthMethod)
				}
			}},
		{provider.CreateInput{ID: "gh", DisplayName: "GitHub", Type: provider.TypeGitHub, ClientID: "Iv1.abc", ClientSecret: "s",
			Scopes: []string{"repo", "read:user"}},
			func(t *testing.T, cfg *provider.Config) {
				if want := "https://api.github.com/applications/Iv1.abc/grant"; cfg.RevocationEndpoint != want {
					t.Errorf("revocation endpoint: got %q, want %q", cfg.RevocationEndpoint, want)
				}
				if cfg.RevocationStyle != provider.RevocationGitHubGrantAPI || cfg.RevocationAuthMethod != provider.AuthClientSecretBasic {
					t.Errorf("revocation: got %q with %q, want github_grant_api with client_secret_basic", cfg.RevocationStyle, cfg.RevocationAuthMethod)
				}
				if !cfg.Quirks.FormUnlessAcceptJSON {
					t.Error("quirks: want FormUnlessAcceptJSON")
				}
				if cfg.ScopeSeparator != " " {
					t.Errorf("scope separator: got %q, want a space", cfg.ScopeSeparator)
				}
			}},
		{provider.CreateInput{ID: "sf", DisplayName: "Salesforce", Type: provider.TypeSalesforce, ClientID: "3MVG9", ClientSecret: "s",
			Settings: map[string]string{"domain": "acme.my.salesforce.com"}},
			func(t *testing.T, cfg *provider.Config) {
				if want := "https://acme.my.salesforce.com/services/oauth2/authorize"; cfg.AuthorizationEndpoint != want {
					t.Errorf("authorization endpoint: got %q, want %q", cfg.AuthorizationEndpoint, want)
				}
				if !slices.Contains(cfg.Quirks.ExtraTokenFields, "instance_url") {
					t.Errorf("extra token fields: got %q, want instance_url", cfg.Quirks.ExtraTokenFields)
				}
			}},
		{provider.CreateInput{ID: "zoom", DisplayName: "Zoom", Type: provider.TypeZoom, ClientID: "z", ClientSecret: "s"},
			func(t *testing.T, cfg *provider.Config) {
				if len(cfg.Scopes) != 0 {
					t.Errorf("scopes: got %q, want none", cfg.Scopes)
				}
				if cfg.AuthMethod != provider.AuthClientSecretBasic {
					t.Errorf("auth method: got %q, want client_secret_basic", cfg.AuthMethod)
				}
			}},
	}

	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	for _, tc := range cases {
		t.Run(tc.in.ID, func(t *testing.T) {
			mustCreate(t, reg, tc.in)
			cfg, err := reg.Resolve(context.Background(), tc.in.ID)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if cfg.RedirectURI != externalURL+"/oauth/callback" {
				t.Errorf("redirect uri: got %q", cfg.RedirectURI)
			}
			tc.check(t, cfg)
		})
	}
}

func TestResolveCustomAuthMethods(t *testing.T) {
	cases := []struct {
		name      string
		secret    provider.Secret
		supported []string
		want      provider.AuthMethod
	}{
		{"unlisted defaults to basic", "s", nil, provider.AuthClientSecretBasic},
		{"basic preferred", "s", []string{"client_secret_post", "client_secret_basic"}, provider.AuthClientSecretBasic},
		{"post when only post", "s", []string{"private_key_jwt", "client_secret_post"}, provider.AuthClientSecretPost},
		{"public client", "", []string{"none", "client_secret_basic"}, provider.AuthNone},
		{"public client unlisted", "", nil, provider.AuthNone},
	}
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("custom-%d", i)
			mustCreate(t, reg, withInput(customInput(id), func(in *provider.CreateInput) {
				in.ClientSecret = tc.secret
				in.AuthorizationServerMetadata.TokenEndpointAuthMethodsSupported = tc.supported
			}))
			cfg, err := reg.Resolve(context.Background(), id)
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if cfg.AuthMethod != tc.want {
				t.Errorf("auth method: got %q, want %q", cfg.AuthMethod, tc.want)
			}
			if cfg.Issuer != "https://issuer.example.com" {
				t.Errorf("issuer: got %q", cfg.Issuer)
			}
		})
	}
}

func TestResolveUnknownID(t *testing.T) {
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	if _, err := reg.Resolve(context.Background(), "missing"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}

func TestResolveRejectsSecretFromAnotherRow(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewSQLite(t)
	reg := newRegistry(t, st, nil)
	mustCreate(t, reg, googleInput("a"))
	mustCreate(t, reg, googleInput("b"))
	a, err := st.GetProvider(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}

	// Someone with write access to the database copies a's sealed secret
	// into b's row.
	if _, err := st.UpdateProvider(ctx, "b", func(p *store.Provider) error {
		p.ClientSecret = a.ClientSecret
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	_, err = reg.Resolve(ctx, "b")
	if !errors.Is(err, keyring.ErrDecrypt) {
		t.Errorf("got %v, want keyring.ErrDecrypt", err)
	}
}

func TestConfigRedactsSecret(t *testing.T) {
	const secret = "super-secret-value-1234"
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	mustCreate(t, reg, withInput(googleInput("google"), func(in *provider.CreateInput) { in.ClientSecret = secret }))
	cfg, err := reg.Resolve(context.Background(), "google")
	if err != nil {
		t.Fatal(err)
	}

	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("resolved", "config", cfg, "secret", cfg.ClientSecret)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("resolved", "config", cfg, "secret", cfg.ClientSecret)
	encoded, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}

	renderings := map[string]string{
		"%v":            fmt.Sprintf("%v", cfg),
		"%+v":           fmt.Sprintf("%+v", cfg),
		"%#v":           fmt.Sprintf("%#v", cfg),
		"%s":            fmt.Sprintf("%s", cfg),
		"%v of value":   fmt.Sprintf("%v", *cfg),
		"%#v of value":  fmt.Sprintf("%#v", *cfg),
		"%v of secret":  fmt.Sprintf("%v", cfg.ClientSecret),
		"%#v of secret": fmt.Sprintf("%#v", cfg.ClientSecret),
		"json log":      jsonLog.String(),
		"text log":      textLog.String(),
		"json.Marshal":  string(encoded),
	}
	for name, text := range renderings {
		if strings.Contains(text, secret) {
			t.Errorf("%s contains the client secret: %s", name, text)
		}
	}
	if !strings.Contains(renderings["%+v"], "1234.apps.googleusercontent.com") {
		t.Errorf("%%+v does not contain the client id, so the check above proves nothing: %s", renderings["%+v"])
	}
	if !strings.Contains(renderings["%+v"], "[redacted]") {
		t.Errorf("%%+v does not mark the secret as redacted: %s", renderings["%+v"])
	}
}
