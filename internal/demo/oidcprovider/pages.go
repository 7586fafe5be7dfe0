package oidcprovider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Names in the pages' URLs, forms and cookies.
const (
	// authRequestParam carries the auth request id in the pages' URLs and
	// forms.
	authRequestParam = "auth_request_id"
	formTokenField   = "form_token"
	// browserCookie holds a random value that identifies the browser, to
	// bind each auth request to the browser that opened its login page.
	browserCookie = "oidcprovider_browser"
	// maxFormBytes caps a form post's body.
	maxFormBytes = 16 << 10
)

//go:embed pages.html
var pageFiles embed.FS

var pageTemplates = template.Must(template.ParseFS(pageFiles, "pages.html"))

// pages serves the login and consent pages.
type pages struct {
	storage *storage
	// op renders the access_denied redirect of a denial.
	op *op.Provider
	// callbackURL returns the OP package's URL that issues the code of an
	// approved request.
	callbackURL  func(ctx context.Context, requestID string) string
	secureCookie bool
	logger       *slog.Logger
}

// pageData is the data that the templates in pages.html render.
type pageData struct {
	Title       string
	Message     string
	Error       string
	RequestID   string
	FormToken   string
	Username    string
	ClientName  string
	Scopes      []Scope
	Credentials []User
}

// login serves the login page: GET shows the form, POST checks the
// password and continues to the consent page.
func (p *pages) login(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.renderMessage(w, http.StatusMethodNotAllowed, "Method not allowed", "Use GET or POST.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	id := r.FormValue(authRequestParam)
	binding := p.browserBinding(w, r)

	if r.Method == http.MethodGet {
		req, err := p.storage.openPage(id, binding)
		if err != nil {
			p.renderError(w, err)
			return
		}
		if req.subject != "" {
			http.Redirect(w, r, pageURL(consentPath, id), http.StatusSeeOther)
			return
		}
		p.renderLogin(w, http.StatusOK, req, req.LoginHint, "")
		return
	}

	username := r.PostFormValue("username")
	req, err := p.storage.signIn(id, binding, r.PostFormValue(formTokenField), username, r.PostFormValue("password"))
	switch {
	case errors.Is(err, errWrongPassword):
		p.logger.Info("sign-in failed: wrong username or password", "client_id", req.ClientID)
		p.renderLogin(w, http.StatusUnauthorized, req, username, "Wrong username or password.")
		return
	case errors.Is(err, errTooManyAttempts):
		p.logger.Warn("sign-in request deleted after too many wrong passwords")
		p.renderError(w, err)
		return
	case err != nil:
		p.renderError(w, err)
		return
	}
	p.logger.Info("user signed in", "client_id", req.ClientID, "subject", req.subject)
	http.Redirect(w, r, pageURL(consentPath, id), http.StatusSeeOther)
}

// consent serves the consent page: GET shows what the client asks for,
// POST approves (on to the OP package's callback, which issues the code)
// or denies (back to the client with error=access_denied).
func (p *pages) consent(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.renderMessage(w, http.StatusMethodNotAllowed, "Method not allowed", "Use GET or POST.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	id := r.FormValue(authRequestParam)
	binding := p.browserBinding(w, r)

	if r.Method == http.MethodGet {
		req, err := p.storage.openPage(id, binding)
		if err != nil {
			p.renderError(w, err)
			return
		}
		if req.subject == "" {
			http.Redirect(w, r, pageURL(loginPath, id), http.StatusSeeOther)
			return
		}
		p.renderConsent(w, req)
		return
	}

	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "deny":
	default:
		p.renderMessage(w, http.StatusBadRequest, "Invalid form", "Choose Approve or Deny on the consent page.")
		return
	}
	req, err := p.storage.decide(id, binding, r.PostFormValue(formTokenField), approve)
	if errors.Is(err, errNotSignedIn) {
		http.Redirect(w, r, pageURL(loginPath, id), http.StatusSeeOther)
		return
	}
	if err != nil {
		p.renderError(w, err)
		return
	}
	if !approve {
		p.logger.Info("user denied consent", "client_id", req.ClientID, "subject", req.subject)
		op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("the user denied the request"), p.op)
		return
	}
	p.logger.Info("user approved consent", "client_id", req.ClientID, "subject", req.subject, "scopes", req.Scopes)
	http.Redirect(w, r, p.callbackURL(r.Context(), id), http.StatusSeeOther)
}

// signedOut serves the page that end_session sends a browser to when the
// client names no post-logout redirect URI.
func (p *pages) signedOut(w http.ResponseWriter, _ *http.Request) {
	setPageHeaders(w.Header())
	p.renderMessage(w, http.StatusOK, "Signed out", "This provider keeps no sign-in session, so there is nothing more to end. You can close this page.")
}

// browserBinding returns the SHA-256 of the browser's cookie value,
// setting a new cookie when the request has none.
func (p *pages) browserBinding(w http.ResponseWriter, r *http.Request) string {
	value := ""
	if c, err := r.Cookie(browserCookie); err == nil && c.Value != "" {
		value = c.Value
	} else {
		value = rand.Text()
		http.SetCookie(w, &http.Cookie{
			Name: browserCookie, Value: value, Path: "/",
			HttpOnly: true, Secure: p.secureCookie, SameSite: http.SameSiteLaxMode,
		})
	}
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

func (p *pages) renderLogin(w http.ResponseWriter, status int, req *authRequest, username, problem string) {
	data := pageData{
		Title: "Sign in", Error: problem, RequestID: req.id, FormToken: req.formToken, Username: username,
		ClientName: p.clientName(req.ClientID),
	}
	if p.storage.showPasswords {
		for _, id := range p.storage.userOrder {
			u := p.storage.users[id]
			data.Credentials = append(data.Credentials, User{ID: u.ID, Password: u.Password})
		}
	}
	p.render(w, status, "login", data)
}

func (p *pages) renderConsent(w http.ResponseWriter, req *authRequest) {
	data := pageData{
		Title: "Allow access?", RequestID: req.id, FormToken: req.formToken,
		Username: p.storage.users[req.subject].Name, ClientName: p.clientName(req.ClientID),
	}
	for _, scope := range req.Scopes {
		data.Scopes = append(data.Scopes, Scope{Name: scope, Description: p.storage.scopeDescription(scope)})
	}
	p.render(w, http.StatusOK, "consent", data)
}

// renderError shows the message for an error of a page operation.
func (p *pages) renderError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errOtherBrowser):
		p.renderMessage(w, http.StatusForbidden, "Wrong browser",
			"This sign-in was started in another browser. Go back to the application and start again in this browser.")
	case errors.Is(err, errFormToken):
		p.renderMessage(w, http.StatusBadRequest, "Invalid form",
			"The form does not belong to this sign-in. Go back to the application and start again.")
	case errors.Is(err, errTooManyAttempts):
		p.renderMessage(w, http.StatusTooManyRequests, "Too many attempts",
			"The password was wrong too many times. Go back to the application and start again.")
	default:
		p.renderMessage(w, http.StatusBadRequest, "Sign-in expired",
			"This sign-in is unknown, finished or expired. Go back to the application and start again.")
	}
}

func (p *pages) renderMessage(w http.ResponseWriter, status int, title, message string) {
	p.render(w, status, "message", pageData{Title: title, Message: message})
}

func (p *pages) render(w http.ResponseWriter, status int, name string, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pageTemplates.ExecuteTemplate(w, name, data); err != nil {
		p.logger.Error("render page failed", "page", name, "err", err)
	}
}

func (p *pages) clientName(id string) string {
	if c, ok := p.storage.clients[id]; ok {
		return c.Name
	}
	return id
}

// pageURL returns the path of a page for the auth request with id.
func pageURL(path, id string) string {
	return path + "?" + url.Values{authRequestParam: {id}}.Encode()
}

// setPageHeaders keeps the pages out of caches and frames. The policy has
// no form-action, because browsers that apply it to the redirects after a
// form post would block the redirect back to the client.
func setPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
