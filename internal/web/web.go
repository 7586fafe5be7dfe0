// Package web serves Toolgate's browser UI: the chat, the user's
// connector settings and the admin pages.
//
// Pages are html/template shells with a header and an empty main area.
// Small ES modules under /assets fill them in, and they call only the
// public JSON API under /api/v1. The page handlers read the signed-in user
// from the request context (authn.FromContext) to send anonymous browsers
// to sign-in and to show the admin links. They load no data themselves.
//
// Every page is sent with a Content-Security-Policy that allows scripts,
// styles and connections only from Toolgate's own origin, so no inline
// script or style may appear in a template.
package web

import (
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Options configures a UI. A nil *Options is the same as the zero value.
type Options struct {
	// Logger receives template failures. Nil discards them.
	Logger *slog.Logger
	// IssuerURL is the OpenID provider's issuer when users sign in with
	// OpenID Connect, and "" otherwise. Its origin is added to the pages'
	// form-action directive, because the sign-out form's response
	// redirects to the provider's end-session endpoint, and browsers apply
	// form-action to that redirect.
	//
	// NOTE: a provider whose end_session_endpoint lies on another origin
	// than its issuer still has the redirect blocked; authn does not
	// expose the endpoint.
	IssuerURL string
}

// UI serves the browser pages and their assets. It is safe for
// concurrent use and keeps no state between requests.
type UI struct {
	logger *slog.Logger
	csp    string
	assets *assetServer
	pages  map[string]*template.Template
}

// New returns a UI. It panics if an embedded template does not parse,
// which a test catches before release.
func New(opts *Options) *UI {
	var o Options
	if opts != nil {
		o = *opts
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	assets := newAssetServer()
	return &UI{
		logger: logger,
		csp:    contentSecurityPolicy(o.IssuerURL),
		assets: assets,
		pages:  parsePages(assets),
	}
}

// Routes registers the pages and assets on mux. It is meant for
// httpapi.Options.Routes, so that the pages run behind the same
// middleware as the API.
func (u *UI) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", u.userPage(pageChat))
	mux.HandleFunc("GET /settings/connectors", u.userPage(pageSettingsConnectors))
	mux.HandleFunc("GET /admin/connectors", u.adminPage(pageAdminConnectors))
	mux.HandleFunc("GET /admin/mcp-servers", u.adminPage(pageAdminMCPServers))
	mux.HandleFunc("GET /admin/audit", u.adminPage(pageAdminAudit))
	mux.Handle("GET /settings/{$}", http.RedirectHandler("/settings/connectors", http.StatusSeeOther))
	mux.Handle("GET /admin/{$}", http.RedirectHandler("/admin/connectors", http.StatusSeeOther))
	mux.Handle("GET "+assetPrefix+"{version}/{path...}", u.assets)
	mux.HandleFunc("GET "+oauthPagesStylePath, u.assets.serveUnversioned("oauth-pages.css"))
}

// contentSecurityPolicy returns the pages' policy. The consent popup and
// the "open in a new tab" link are navigations, which the policy does not
// restrict.
func contentSecurityPolicy(issuerURL string) string {
	formAction := "'self'"
	if origin := originOf(issuerURL); origin != "" {
		formAction += " " + origin
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data: https:",
		"connect-src 'self'",
		"object-src 'none'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"form-action " + formAction,
	}, "; ")
}

// originOf returns the scheme://host[:port] of an http or https URL, or
// "" for anything else.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
