package provider_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

// dataIcon returns a data: URL of the given media type whose base64 data
// decodes to n bytes.
func dataIcon(mediaType string, n int) string {
	return "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(make([]byte, n))
}

func TestCreateValidation(t *testing.T) {
	google := googleInput("google")
	custom := customInput("custom")
	microsoft := provider.CreateInput{
		ID: "microsoft", DisplayName: "Microsoft 365", Type: provider.TypeMicrosoft,
		ClientID: "00000000-0000-0000-0000-000000000000", ClientSecret: "ms-secret",
	}
	slack := provider.CreateInput{
		ID: "slack", DisplayName: "Slack", Type: provider.TypeSlack,
		ClientID: "123.456", ClientSecret: "slack-secret",
	}
	salesforce := provider.CreateInput{
		ID: "salesforce", DisplayName: "Salesforce", Type: provider.TypeSalesforce,
		ClientID: "3MVG9", ClientSecret: "sf-secret",
	}

	cases := []struct {
		name   string
		in     provider.CreateInput
		status int
		field  string
	}{
		{"unknown type", withInput(google, func(in *provider.CreateInput) { in.Type = "gitlab" }), 400, "type"},
		{"missing type", withInput(google, func(in *provider.CreateInput) { in.Type = "" }), 400, "type"},
		{"id uppercase", withInput(google, func(in *provider.CreateInput) { in.ID = "Google" }), 400, "id"},
		{"id too long", withInput(google, func(in *provider.CreateInput) { in.ID = strings.Repeat("a", 65) }), 400, "id"},
		{"id empty", withInput(google, func(in *provider.CreateInput) { in.ID = "" }), 400, "id"},
		{"id slash", withInput(google, func(in *provider.CreateInput) { in.ID = "a/b" }), 400, "id"},
		{"missing client id", withInput(google, func(in *provider.CreateInput) { in.ClientID = "" }), 400, "client_id"},
		{"client id line break", withInput(google, func(in *provider.CreateInput) { in.ClientID = "abc\ndef" }), 400, "client_id"},
		{"vendor without secret", withInput(google, func(in *provider.CreateInput) { in.ClientSecret = "" }), 400, "client_secret"},
		{"secret line break", withInput(google, func(in *provider.CreateInput) { in.ClientSecret = "abc\n" }), 400, "client_secret"},
		{"display name empty", withInput(google, func(in *provider.CreateInput) { in.DisplayName = "  " }), 400, "display_name"},
		{"display name too long", withInput(google, func(in *provider.CreateInput) { in.DisplayName = strings.Repeat("é", 101) }), 400, "display_name"},
		{"scope with space", withInput(google, func(in *provider.CreateInput) { in.Scopes = []string{"openid email"} }), 400, "scopes[0]"},
		{"slack scope with comma", withInput(slack, func(in *provider.CreateInput) { in.Scopes = []string{"chat:write,users:read"} }), 400, "scopes[0]"},
		{"empty role", withInput(google, func(in *provider.CreateInput) { in.AllowedRoles = []string{""} }), 400, "allowed_roles[0]"},

		{"http endpoint in metadata", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.TokenEndpoint = "http://issuer.example.com/token"
		}), 400, "authorization_server_metadata.token_endpoint"},
		{"http issuer in metadata", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.Issuer = "http://issuer.example.com"
		}), 400, "authorization_server_metadata.issuer"},
		{"ftp revocation endpoint", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.RevocationEndpoint = "ftp://issuer.example.com/revoke"
		}), 400, "authorization_server_metadata.revocation_endpoint"},
		{"http on loopback lookalike", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.TokenEndpoint = "http://127.0.0.1.example.com/token"
		}), 400, "authorization_server_metadata.token_endpoint"},
		{"metadata missing token endpoint", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.TokenEndpoint = ""
		}), 400, "authorization_server_metadata.token_endpoint"},
		{"issuer with query", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.Issuer = "https://issuer.example.com?tenant=a"
		}), 400, "authorization_server_metadata.issuer"},
		{"both discovery fields", withInput(custom, func(in *provider.CreateInput) {
			in.DiscoveryURL = "https://issuer.example.com/.well-known/openid-configuration"
		}), 400, "discovery_url"},
		{"neither discovery field", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata = nil
		}), 400, "discovery_url"},
		{"vendor with discovery url", withInput(google, func(in *provider.CreateInput) {
			in.DiscoveryURL = "https://accounts.google.com/.well-known/openid-configuration"
		}), 400, "discovery_url"},
		{"vendor with metadata", withInput(google, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata = custom.AuthorizationServerMetadata
		}), 400, "authorization_server_metadata"},
		{"discovery url not well-known", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata = nil
			in.DiscoveryURL = "https://issuer.example.com/config.json"
		}), 400, "discovery_url"},
		{"discovery url over http", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata = nil
			in.DiscoveryURL = "http://issuer.example.com/.well-known/openid-configuration"
		}), 400, "discovery_url"},

		{"icon too large", withInput(google, func(in *provider.CreateInput) { in.Icon = dataIcon("image/png", 77*1024) }), 400, "icon"},
		{"icon non-image data url", withInput(google, func(in *provider.CreateInput) {
			in.Icon = "data:text/html;base64," + base64.StdEncoding.EncodeToString([]byte("<script>alert(1)</script>"))
		}), 400, "icon"},
		{"icon http url", withInput(google, func(in *provider.CreateInput) { in.Icon = "http://cdn.example.com/logo.png" }), 400, "icon"},
		{"icon bad base64", withInput(google, func(in *provider.CreateInput) { in.Icon = "data:image/png;base64,not*base64" }), 400, "icon"},
		{"icon not base64", withInput(google, func(in *provider.CreateInput) { in.Icon = "data:image/svg+xml,<svg/>" }), 400, "icon"},
		{"icon javascript url", withInput(google, func(in *provider.CreateInput) { in.Icon = "javascript:alert(1)" }), 400, "icon"},

		{"reserved custom parameter", withInput(google, func(in *provider.CreateInput) {
			in.CustomParameters = map[string]string{"redirect_uri": "https://evil.example.com"}
		}), 422, "custom_parameters.redirect_uri"},
		{"reserved parameter other case", withInput(custom, func(in *provider.CreateInput) {
			in.CustomParameters = map[string]string{"Scope": "admin"}
		}), 422, "custom_parameters.Scope"},
		{"client secret as parameter", withInput(custom, func(in *provider.CreateInput) {
			in.CustomParameters = map[string]string{"client_secret": "x"}
		}), 422, "custom_parameters.client_secret"},
		{"slack user_scope parameter", withInput(slack, func(in *provider.CreateInput) {
			in.CustomParameters = map[string]string{"user_scope": "admin"}
		}), 422, "custom_parameters.user_scope"},
		{"microsoft resource parameter", withInput(microsoft, func(in *provider.CreateInput) {
			in.CustomParameters = map[string]string{"resource": "https://graph.microsoft.com"}
		}), 422, "custom_parameters.resource"},
		{"invalid parameter name", withInput(google, func(in *provider.CreateInput) {
			in.CustomParameters = map[string]string{"a b": "x"}
		}), 400, "custom_parameters.a b"},

		{"bad tenant", withInput(microsoft, func(in *provider.CreateInput) {
			in.Settings = map[string]string{"tenant": "contoso/../evil"}
		}), 400, "settings.tenant"},
		{"bad salesforce domain", withInput(salesforce, func(in *provider.CreateInput) {
			in.Settings = map[string]string{"domain": "evil.example.com"}
		}), 400, "settings.domain"},
		{"unknown setting", withInput(google, func(in *provider.CreateInput) {
			in.Settings = map[string]string{"region": "eu"}
		}), 400, "settings.region"},

		{"metadata without S256", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.CodeChallengeMethodsSupported = []string{"plain"}
		}), 422, "authorization_server_metadata.code_challenge_methods_supported"},
		{"metadata without secret methods", withInput(custom, func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.TokenEndpointAuthMethodsSupported = []string{"private_key_jwt"}
		}), 422, "authorization_server_metadata.token_endpoint_auth_methods_supported"},
		{"public client not accepted", withInput(custom, func(in *provider.CreateInput) {
			in.ClientSecret = ""
			in.AuthorizationServerMetadata.TokenEndpointAuthMethodsSupported = []string{"client_secret_basic"}
		}), 422, "client_secret"},
	}

	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		reg := newRegistry(t, st, nil)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := reg.Create(ctx, tc.in)
				requireValidation(t, err, tc.status, tc.field)

				stored, err := st.ListProviders(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(stored) != 0 {
					t.Errorf("got %d stored providers after a rejected create, want 0", len(stored))
				}
			})
		}
	})
}

func TestCreateReportsOnly400sWhenMixed(t *testing.T) {
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	in := withInput(googleInput("Bad"), func(in *provider.CreateInput) {
		in.CustomParameters = map[string]string{"state": "x"}
	})

	_, err := reg.Create(context.Background(), in)
	ve := requireValidation(t, err, http.StatusBadRequest, "id")
	for _, f := range ve.Fields {
		if f.Field == "custom_parameters.state" {
			t.Errorf("got the 422 field %s in a 400 response", f.Field)
		}
	}
}

func TestCreateDuplicate(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		reg := newRegistry(t, st, nil)
		first := mustCreate(t, reg, googleInput("dup"))

		_, err := reg.Create(context.Background(), withInput(googleInput("dup"), func(in *provider.CreateInput) {
			in.DisplayName = "Second"
		}))
		if !errors.Is(err, provider.ErrAlreadyExists) {
			t.Fatalf("got %v, want ErrAlreadyExists", err)
		}
		got, err := reg.Get(context.Background(), "dup")
		if err != nil {
			t.Fatal(err)
		}
		if got.DisplayName != first.DisplayName {
			t.Errorf("display name: got %q, want the first provider's %q", got.DisplayName, first.DisplayName)
		}
	})
}

func TestCreateAcceptsLoopbackHTTP(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:9000", "http://127.1.2.3", "http://localhost:8080", "http://[::1]:9000"} {
		t.Run(base, func(t *testing.T) {
			reg := newRegistry(t, storetest.NewSQLite(t), nil)
			in := withInput(customInput("loopback"), func(in *provider.CreateInput) {
				in.AuthorizationServerMetadata = &provider.Metadata{
					Issuer:                base,
					AuthorizationEndpoint: base + "/authorize",
					TokenEndpoint:         base + "/token",
					RevocationEndpoint:    base + "/revoke",
				}
			})
			v, err := reg.Create(context.Background(), in)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if v.Endpoints.TokenEndpoint != base+"/token" {
				t.Errorf("token endpoint: got %q, want %q", v.Endpoints.TokenEndpoint, base+"/token")
			}
		})
	}
}

func TestCreateAcceptsValidIcons(t *testing.T) {
	for _, icon := range []string{
		"https://cdn.example.com/logo.svg",
		dataIcon("image/png", 1024),
		dataIcon("image/svg+xml", 10),
		dataIcon("IMAGE/WEBP", 10),
		// 74 KiB of data is about 99 KiB as a base64 URL, under the 100 KiB limit.
		dataIcon("image/gif", 74*1024),
	} {
		reg := newRegistry(t, storetest.NewSQLite(t), nil)
		in := withInput(googleInput("icon"), func(in *provider.CreateInput) { in.Icon = icon })
		if _, err := reg.Create(context.Background(), in); err != nil {
			t.Errorf("icon %.40q...: %v", icon, err)
		}
	}
}

func TestCreateNormalizes(t *testing.T) {
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	in := provider.CreateInput{
		ID: "sf", DisplayName: "  Salesforce  ", Type: provider.TypeSalesforce,
		ClientID: " 3MVG9 ", ClientSecret: "s",
		Scopes:   []string{"api", "api", "refresh_token"},
		Settings: map[string]string{"domain": "Acme--UAT.sandbox.My.Salesforce.com"},
	}

	v := mustCreate(t, reg, in)
	if v.DisplayName != "Salesforce" {
		t.Errorf("display name: got %q, want it trimmed", v.DisplayName)
	}
	if v.ClientID != "3MVG9" {
		t.Errorf("client id: got %q, want it trimmed", v.ClientID)
	}
	if strings.Join(v.Scopes, " ") != "api refresh_token" {
		t.Errorf("scopes: got %q, want repeats removed", v.Scopes)
	}
	if got := v.Settings["domain"]; got != "acme--uat.sandbox.my.salesforce.com" {
		t.Errorf("domain: got %q, want it lowercased", got)
	}
	if !v.Enabled {
		t.Error("enabled: got false, want the default true")
	}
	if want := "https://acme--uat.sandbox.my.salesforce.com/services/oauth2/token"; v.Endpoints.TokenEndpoint != want {
		t.Errorf("token endpoint: got %q, want %q", v.Endpoints.TokenEndpoint, want)
	}
}

func TestUpdateValidation(t *testing.T) {
	cases := []struct {
		name   string
		id     string
		patch  provider.PatchInput
		status int
		field  string
	}{
		{"rotation with only client id", "google", provider.PatchInput{ClientID: ptr("new-id")}, 422, "client_secret"},
		{"rotation with only client secret", "google", provider.PatchInput{ClientSecret: ptr(provider.Secret("new-secret"))}, 422, "client_id"},
		{"rotation to empty vendor secret", "google", provider.PatchInput{ClientID: ptr("new-id"), ClientSecret: ptr(provider.Secret(""))}, 400, "client_secret"},
		{"change id", "google", provider.PatchInput{ID: ptr("google2")}, 400, "id"},
		{"change type", "google", provider.PatchInput{Type: ptr(provider.TypeGitHub)}, 400, "type"},
		{"empty display name", "google", provider.PatchInput{DisplayName: ptr("")}, 400, "display_name"},
		{"reserved parameter", "google", provider.PatchInput{CustomParameters: &map[string]string{"nonce": "1"}}, 422, "custom_parameters.nonce"},
		{"microsoft resource", "microsoft", provider.PatchInput{CustomParameters: &map[string]string{"resource": "https://graph.microsoft.com"}}, 422, "custom_parameters.resource"},
		{"bad tenant", "microsoft", provider.PatchInput{Settings: &map[string]string{"tenant": "a b"}}, 400, "settings.tenant"},
		{"icon http url", "google", provider.PatchInput{Icon: ptr("http://cdn.example.com/x.png")}, 400, "icon"},
		{"vendor discovery url", "google", provider.PatchInput{DiscoveryURL: ptr("https://accounts.google.com/.well-known/openid-configuration")}, 400, "discovery_url"},
		{"custom both discovery fields", "custom", provider.PatchInput{
			DiscoveryURL:                ptr("https://issuer.example.com/.well-known/openid-configuration"),
			AuthorizationServerMetadata: customInput("x").AuthorizationServerMetadata,
		}, 400, "discovery_url"},
		{"custom http endpoint", "custom", provider.PatchInput{AuthorizationServerMetadata: &provider.Metadata{
			Issuer: "https://issuer.example.com", AuthorizationEndpoint: "http://issuer.example.com/a", TokenEndpoint: "https://issuer.example.com/t",
		}}, 400, "authorization_server_metadata.authorization_endpoint"},
		{"custom public client not accepted", "custom", provider.PatchInput{ClientID: ptr("public"), ClientSecret: ptr(provider.Secret(""))}, 422, "client_secret"},
	}

	forEachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		reg := newRegistry(t, st, nil)
		mustCreate(t, reg, googleInput("google"))
		mustCreate(t, reg, provider.CreateInput{
			ID: "microsoft", DisplayName: "Microsoft", Type: provider.TypeMicrosoft, ClientID: "m", ClientSecret: "s",
		})
		mustCreate(t, reg, withInput(customInput("custom"), func(in *provider.CreateInput) {
			in.AuthorizationServerMetadata.TokenEndpointAuthMethodsSupported = []string{"client_secret_basic"}
		}))

		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before, err := st.GetProvider(ctx, tc.id)
				if err != nil {
					t.Fatal(err)
				}
				_, err = reg.Update(ctx, tc.id, tc.patch)
				requireValidation(t, err, tc.status, tc.field)
				requireUnchanged(t, st, before)
			})
		}
	})
}

func TestUpdateAcceptsUnchangedIDAndType(t *testing.T) {
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	mustCreate(t, reg, googleInput("google"))

	v, err := reg.Update(context.Background(), "google", provider.PatchInput{
		ID: ptr("google"), Type: ptr(provider.TypeGoogle), DisplayName: ptr("Renamed"),
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if v.DisplayName != "Renamed" {
		t.Errorf("display name: got %q, want Renamed", v.DisplayName)
	}
}

func TestUpdateUnknownID(t *testing.T) {
	reg := newRegistry(t, storetest.NewSQLite(t), nil)
	_, err := reg.Update(context.Background(), "missing", provider.PatchInput{DisplayName: ptr("x")})
	if !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
}
