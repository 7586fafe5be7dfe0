package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/problem"
)

// signInPath is authn's sign-in page. It sends the browser back to its
// return_to parameter, a path on Toolgate, after sign-in.
const signInPath = "/auth/login"

// maxSignInReturnTo is the longest return_to that the sign-in page keeps.
// authn replaces a longer one with "/".
const maxSignInReturnTo = 2048

// routeConsents registers the consent routes. The API routes need an
// identity and respond with 401 without one. The browser pages read the
// identity themselves, because they send an anonymous browser through
// sign-in instead.
func (s *Server) routeConsents() {
	s.route("POST /api/v1/connectors/{provider_id}/consent", authn.RequireUser(s.handle(s.startConsent)))
	s.route("GET /api/v1/consents/{consent_id}", authn.RequireUser(s.handle(s.getConsent)))

	s.mux.HandleFunc("GET "+consent.ConnectPath+"{consent_id}", s.connect)
	s.mux.HandleFunc("GET "+consent.CallbackPath, s.oauthCallback)
	s.mux.HandleFunc("GET "+consent.CompletePath, s.oauthComplete)
	s.mux.HandleFunc("GET "+completeScriptPath, serveCompleteScript)
}

// startConsent serves POST /api/v1/connectors/{provider_id}/consent. An
// empty body is the same as {}.
func (s *Server) startConsent(w http.ResponseWriter, r *http.Request) error {
	id, _ := authn.FromContext(r.Context())
	providerID := r.PathValue("provider_id")
	var in consent.StartInput
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}

	res, err := s.opts.Consents.Start(r.Context(), id.UserID, id.Roles, providerID, in)
	if err != nil {
		return consentProblem(err, providerID, "")
	}
	return writeJSON(w, http.StatusOK, res)
}

// getConsent serves GET /api/v1/consents/{consent_id}.
func (s *Server) getConsent(w http.ResponseWriter, r *http.Request) error {
	id, _ := authn.FromContext(r.Context())
	consentID := r.PathValue("consent_id")

	res, err := s.opts.Consents.Status(r.Context(), consentID, id.UserID)
	if err != nil {
		return consentProblem(err, "", consentID)
	}
	return writeJSON(w, http.StatusOK, res)
}

// consentProblem maps the consent service's errors to problem responses.
// Other errors pass through and become a 500 whose cause is only logged.
func consentProblem(err error, providerID, consentID string) error {
	var invalid *consent.InputError
	switch {
	case errors.As(err, &invalid):
		return problem.BadRequest(invalid.Field, invalid.Detail)
	case errors.Is(err, consent.ErrNotFound) && consentID != "":
		return problem.New(http.StatusNotFound, "not_found",
			fmt.Sprintf("you have no consent with id %q; start one with POST /api/v1/connectors/{provider_id}/consent", consentID))
	case errors.Is(err, consent.ErrNotFound):
		return problem.New(http.StatusNotFound, "not_found",
			fmt.Sprintf("no provider %q is available to you; check the id, or ask an administrator to enable it for your role", providerID))
	default:
		return err
	}
}

// connect serves GET /connect/{consent_id}: it checks that the browser's
// user started the consent and redirects to the provider. An anonymous
// browser goes through sign-in first and comes back here.
func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// HEAD would write a new state as a side effect.
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	consentID := r.PathValue("consent_id")
	id, ok := authn.FromContext(r.Context())
	if !ok {
		redirectToSignIn(w, r, consent.ConnectPath+url.PathEscape(consentID))
		return
	}

	authURL, err := s.opts.Consents.AuthorizeRedirect(r.Context(), consentID, id.UserID)
	if err != nil {
		s.writeConsentErrorPage(w, r, err, displayName(id))
		return
	}
	setOAuthPageHeaders(w.Header())
	http.Redirect(w, r, authURL, http.StatusSeeOther)
}

// oauthCallback serves GET /oauth/callback, the redirect URI of every
// provider, and sends the browser to the consent's outcome.
//
// A browser without a session is sent through sign-in and back to the
// same URL, so that a session that expired during the flow does not lose
// it. The consent is bound to its user, so signing in as anyone else ends
// on the wrong-account page with nothing changed. While the browser signs
// in, the authorization code travels in return_to. That is safe because
// the code is single-use and PKCE-bound: it is useless without the
// verifier, which never leaves the server. When the URL is too long to
// survive sign-in, a page asks the user to sign in and start again.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		// HEAD would consume the state as a side effect.
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	id, ok := authn.FromContext(r.Context())
	if !ok {
		back := r.URL.EscapedPath() + "?" + r.URL.RawQuery
		if len(back) > maxSignInReturnTo {
			s.writeConsentErrorPage(w, r, consent.ErrSignInRequired, "")
			return
		}
		redirectToSignIn(w, r, back)
		return
	}

	res, err := s.opts.Consents.Callback(r.Context(), id.UserID, r.URL.Query())
	if err != nil {
		s.writeConsentErrorPage(w, r, err, displayName(id))
		return
	}
	setOAuthPageHeaders(w.Header())
	http.Redirect(w, r, res.RedirectURL, http.StatusSeeOther)
}

// oauthComplete serves GET /oauth-complete, the landing page of a consent
// without a return URL.
func (s *Server) oauthComplete(w http.ResponseWriter, r *http.Request) {
	userID := ""
	if id, ok := authn.FromContext(r.Context()); ok {
		userID = id.UserID
	}

	outcome := s.opts.Consents.Outcome(r.Context(), userID, r.URL.Query())
	writeOAuthPage(w, s.logger, http.StatusOK, "complete.html", completePage{
		Outcome:    outcome,
		ScriptPath: completeScriptPath,
		OriginList: originList(outcome.Origins),
	})
}

// redirectToSignIn sends the browser to the sign-in page, which returns
// it to returnTo, a path on Toolgate.
func redirectToSignIn(w http.ResponseWriter, r *http.Request, returnTo string) {
	setOAuthPageHeaders(w.Header())
	http.Redirect(w, r, signInPath+"?return_to="+url.QueryEscape(returnTo), http.StatusSeeOther)
}

// displayName returns how to name the signed-in user on a page.
func displayName(id *authn.Identity) string {
	switch {
	case id.Email != "":
		return id.Email
	case id.Name != "":
		return id.Name
	default:
		return id.UserID
	}
}
