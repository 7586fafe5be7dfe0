package provider_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/toolgate/toolgate/internal/provider"
)

var allTypes = []provider.Type{
	provider.TypeGoogle, provider.TypeMicrosoft, provider.TypeGitHub, provider.TypeSlack,
	provider.TypeSalesforce, provider.TypeZoom, provider.TypeAtlassian, provider.TypeCustom,
}

func TestPresetsCoverEveryType(t *testing.T) {
	presets := provider.Presets()
	var got []provider.Type
	for _, p := range presets {
		got = append(got, p.Type)
	}
	if !slices.Equal(got, allTypes) {
		t.Errorf("preset types: got %q, want %q", got, allTypes)
	}
	if presets[len(presets)-1].Type != provider.TypeCustom {
		t.Error("custom is not the last preset")
	}
}

func TestVendorPresetsAreComplete(t *testing.T) {
	placeholder := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, p := range provider.Presets() {
		if p.Type == provider.TypeCustom {
			continue
		}
		t.Run(string(p.Type), func(t *testing.T) {
			if p.DisplayName == "" {
				t.Error("no display name")
			}
			if !strings.HasPrefix(p.Documentation, "https://") {
				t.Errorf("documentation: got %q, want an https URL", p.Documentation)
			}
			for name, endpoint := range map[string]string{
				"authorization": p.AuthorizationEndpoint, "token": p.TokenEndpoint, "revocation": p.RevocationEndpoint,
			} {
				if endpoint == "" {
					continue
				}
				// A placeholder stands for a validated host or path segment.
				u, err := url.Parse(placeholder.ReplaceAllString(endpoint, "x"))
				if err != nil || u.Scheme != "https" || u.Host == "" {
					t.Errorf("%s endpoint %q is not an https URL", name, endpoint)
				}
			}
			if p.AuthorizationEndpoint == "" || p.TokenEndpoint == "" {
				t.Error("missing authorization or token endpoint")
			}
			if (p.RevocationStyle == provider.RevocationNone) != (p.RevocationEndpoint == "") {
				t.Errorf("revocation style %q does not match endpoint %q", p.RevocationStyle, p.RevocationEndpoint)
			}
			if p.AuthMethod != provider.AuthClientSecretBasic && p.AuthMethod != provider.AuthClientSecretPost {
				t.Errorf("auth method: got %q", p.AuthMethod)
			}
			if p.ScopeParameter == "" || p.ScopeSeparator == "" {
				t.Error("missing scope parameter or separator")
			}
			if len(p.ScopeHints) == 0 {
				t.Error("no scope hints")
			}
			for _, f := range p.Settings {
				if !strings.Contains(p.AuthorizationEndpoint, "{"+f.Name+"}") {
					t.Errorf("setting %s is not used in the authorization endpoint", f.Name)
				}
				if _, err := regexp.Compile(f.Pattern); err != nil {
					t.Errorf("setting %s pattern: %v", f.Name, err)
				}
				if f.Default != "" && !regexp.MustCompile(f.Pattern).MatchString(f.Default) {
					t.Errorf("setting %s default %q does not match its pattern", f.Name, f.Default)
				}
			}
		})
	}
}

func TestPresetFacts(t *testing.T) {
	byType := map[provider.Type]provider.Preset{}
	for _, p := range provider.Presets() {
		byType[p.Type] = p
	}

	google := byType[provider.TypeGoogle]
	if google.AuthorizeParameters["access_type"] != "offline" || google.AuthorizeParameters["prompt"] != "consent" {
		t.Errorf("google baseline: got %v", google.AuthorizeParameters)
	}
	microsoft := byType[provider.TypeMicrosoft]
	if !slices.Contains(microsoft.RequiredScopes, "offline_access") || !slices.Contains(microsoft.ForbiddenParameters, "resource") {
		t.Errorf("microsoft: required %q, forbidden %q", microsoft.RequiredScopes, microsoft.ForbiddenParameters)
	}
	if microsoft.AuthorizationEndpoint != "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize" {
		t.Errorf("microsoft authorization endpoint: got %q", microsoft.AuthorizationEndpoint)
	}
	atlassian := byType[provider.TypeAtlassian]
	if atlassian.AuthorizeParameters["audience"] != "api.atlassian.com" || atlassian.AuthorizeParameters["prompt"] != "consent" ||
		!slices.Contains(atlassian.RequiredScopes, "offline_access") {
		t.Errorf("atlassian: baseline %v, required %q", atlassian.AuthorizeParameters, atlassian.RequiredScopes)
	}
	slack := byType[provider.TypeSlack]
	if slack.ScopeParameter != "user_scope" || slack.ScopeSeparator != "," || !slack.Quirks.OKField {
		t.Errorf("slack: scope parameter %q, separator %q, quirks %+v", slack.ScopeParameter, slack.ScopeSeparator, slack.Quirks)
	}
	github := byType[provider.TypeGitHub]
	if github.RevocationStyle != provider.RevocationGitHubGrantAPI ||
		github.RevocationEndpoint != "https://api.github.com/applications/{client_id}/grant" || !github.Quirks.FormUnlessAcceptJSON {
		t.Errorf("github: revocation %q at %q, quirks %+v", github.RevocationStyle, github.RevocationEndpoint, github.Quirks)
	}
	salesforce := byType[provider.TypeSalesforce]
	if salesforce.AuthorizationEndpoint != "https://{domain}/services/oauth2/authorize" ||
		!slices.Contains(salesforce.Quirks.ExtraTokenFields, "instance_url") {
		t.Errorf("salesforce: endpoint %q, quirks %+v", salesforce.AuthorizationEndpoint, salesforce.Quirks)
	}
}

func TestPresetsReturnsCopies(t *testing.T) {
	first := provider.Presets()
	first[0].AuthorizeParameters["prompt"] = "none"
	first[0].ScopeHints[0].Scope = "changed"
	first[1].RequiredScopes[0] = "changed"
	first[1].Settings[0].Default = "changed"

	second := provider.Presets()
	if second[0].AuthorizeParameters["prompt"] != "consent" || second[0].ScopeHints[0].Scope == "changed" {
		t.Error("changing a returned google preset changed the registry's")
	}
	if second[1].RequiredScopes[0] != "offline_access" || second[1].Settings[0].Default != "common" {
		t.Error("changing a returned microsoft preset changed the registry's")
	}
}
