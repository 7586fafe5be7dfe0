package provider

import "testing"

func TestImpliedIssuer(t *testing.T) {
	cases := []struct {
		url, issuer string
		valid       bool
	}{
		{"https://idp.example.com/.well-known/openid-configuration", "https://idp.example.com", true},
		{"https://idp.example.com/realms/acme/.well-known/openid-configuration", "https://idp.example.com/realms/acme", true},
		{"https://idp.example.com/.well-known/oauth-authorization-server", "https://idp.example.com", true},
		{"https://idp.example.com/.well-known/oauth-authorization-server/tenant/a", "https://idp.example.com/tenant/a", true},
		{"https://idp.example.com/tenant/.well-known/oauth-authorization-server", "https://idp.example.com/tenant", true},
		{"http://127.0.0.1:8080/.well-known/openid-configuration", "http://127.0.0.1:8080", true},
		{"https://idp.example.com/", "", false},
		{"https://idp.example.com/.well-known/openid-configuration?x=1", "", false},
		{"https://idp.example.com/.well-known/openid-configuration#x", "", false},
		{"http://idp.example.com/.well-known/openid-configuration", "", false},
		{"/.well-known/openid-configuration", "", false},
	}
	for _, tc := range cases {
		issuer, detail := impliedIssuer(tc.url)
		if tc.valid && (detail != "" || issuer != tc.issuer) {
			t.Errorf("%s: got issuer %q and detail %q, want %q", tc.url, issuer, detail, tc.issuer)
		}
		if !tc.valid && detail == "" {
			t.Errorf("%s: got issuer %q, want it rejected", tc.url, issuer)
		}
	}
}

func TestSameIssuer(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"https://idp.example.com", "https://idp.example.com/", true},
		{"https://idp.example.com/", "https://idp.example.com", true},
		{"https://IDP.example.com", "https://idp.example.com", true},
		{"https://idp.example.com/tenant", "https://idp.example.com/tenant", true},
		{"https://idp.example.com/tenant/", "https://idp.example.com/tenant", false},
		{"https://idp.example.com/Tenant", "https://idp.example.com/tenant", false},
		{"https://idp.example.com", "http://idp.example.com", false},
		{"https://idp.example.com:8443", "https://idp.example.com", false},
		{"", "https://idp.example.com", false},
		{"HTTPS://idp.example.com", "https://idp.example.com", true},
		{"https://idp.example.com?x=1", "https://idp.example.com", false},
		{"https://idp.example.com#", "https://idp.example.com", true},
		{"idp.example.com", "https://idp.example.com", false},
	}
	for _, tc := range cases {
		if got := SameIssuer(tc.a, tc.b); got != tc.same {
			t.Errorf("SameIssuer(%q, %q): got %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestCheckEndpointURL(t *testing.T) {
	cases := []struct {
		url   string
		valid bool
	}{
		{"https://idp.example.com/token", true},
		{"https://idp.example.com/token?tenant=a", true},
		{"http://127.0.0.1/token", true},
		{"http://127.255.0.9:9/token", true},
		{"http://[::1]:8080/token", true},
		{"http://localhost/token", true},
		{"http://LOCALHOST:1/token", true},
		{"http://[::ffff:127.0.0.1]/token", true},
		{"http://idp.example.com/token", false},
		{"http://localhost.example.com/token", false},
		{"http://10.0.0.1/token", false},
		{"http://[::2]/token", false},
		{"https://user:pass@idp.example.com/token", false},
		{"https://idp.example.com/token#frag", false},
		{"ftp://idp.example.com/token", false},
		{"idp.example.com/token", false},
		{"https:///token", false},
		{"", false},
	}
	for _, tc := range cases {
		detail := checkEndpointURL(tc.url)
		if tc.valid && detail != "" {
			t.Errorf("%q: got %q, want it accepted", tc.url, detail)
		}
		if !tc.valid && detail == "" {
			t.Errorf("%q: accepted, want it rejected", tc.url)
		}
	}
}

func TestCheckSalesforceDomain(t *testing.T) {
	cases := []struct {
		domain string
		valid  bool
	}{
		{"login.salesforce.com", true},
		{"test.salesforce.com", true},
		{"acme.my.salesforce.com", true},
		{"acme--uat.sandbox.my.salesforce.com", true},
		{"my.salesforce.com", false},
		{"evil.com", false},
		{"acme.my.salesforce.com.evil.com", false},
		{"acme.my.salesforce.com/path", false},
		{"https://acme.my.salesforce.com", false},
		{"-acme.my.salesforce.com", false},
		{"salesforce.com", false},
	}
	for _, tc := range cases {
		detail := checkSalesforceDomain(tc.domain)
		if tc.valid != (detail == "") {
			t.Errorf("%q: got detail %q, want valid=%v", tc.domain, detail, tc.valid)
		}
	}
}
