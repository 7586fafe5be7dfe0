package httpapi

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/toolgate/toolgate/internal/consent"
)

// The consent flow's browser pages are plain HTML with one external
// script, so that they work under oauthPageCSP. They link the stylesheet
// /assets/oauth-pages.css, which the web package serves; without it they
// stay readable, unstyled.

//go:embed oauthpages/*.html oauthpages/*.js
var oauthPageFiles embed.FS

var oauthPageTemplates = template.Must(template.ParseFS(oauthPageFiles, "oauthpages/*.html"))

// completeScript is the /oauth-complete page's ES module.
var completeScript = mustReadOAuthPageFile("oauthpages/oauth-complete.js")

// completeScriptPath serves completeScript.
const completeScriptPath = "/assets/oauth-complete.js"

// oauthPageCSP allows scripts from Toolgate's origin only, and no
// plugins, base URL changes or framing.
const oauthPageCSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// messagePage is the data of message.html.
type messagePage struct {
	Title   string
	Message string
}

// completePage is the data of complete.html.
type completePage struct {
	*consent.Outcome
	ScriptPath string
	// OriginList is Outcome.Origins separated by spaces.
	OriginList string
}

// writeOAuthPage renders the template name with data. Every page is
// uncacheable and sends no Referer, because its URL may carry a state or
// an authorization code.
func writeOAuthPage(w http.ResponseWriter, logger *slog.Logger, status int, name string, data any) {
	var buf bytes.Buffer
	if err := oauthPageTemplates.ExecuteTemplate(&buf, name, data); err != nil {
		logger.Error("oauth page not rendered", "template", name, "err", err)
		http.Error(w, "internal error; the server log has the details", http.StatusInternalServerError)
		return
	}
	setOAuthPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func setOAuthPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", oauthPageCSP)
}

// writeConsentErrorPage renders the page for an error of
// Service.AuthorizeRedirect or Service.Callback. signedInAs names the
// signed-in user on the wrong-account page.
func (s *Server) writeConsentErrorPage(w http.ResponseWriter, r *http.Request, err error, signedInAs string) {
	status, page := consentErrorPage(err, signedInAs)
	if status == http.StatusInternalServerError {
		s.logger.Error("consent page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeOAuthPage(w, s.logger, status, "message.html", page)
}

// consentErrorPage returns the status and text of the page for err.
func consentErrorPage(err error, signedInAs string) (int, messagePage) {
	const again = " Start again from the app."
	switch {
	case errors.Is(err, consent.ErrNotFound):
		return http.StatusNotFound, messagePage{"Link not valid",
			"This link to connect an account is not valid." + again}
	case errors.Is(err, consent.ErrWrongUser):
		return http.StatusForbidden, messagePage{"Different Toolgate account",
			"A different Toolgate account started this connection, and you are signed in as " + signedInAs +
				". Nothing was changed. Sign in with the account that started it, or start again from the app while signed in as yourself."}
	case errors.Is(err, consent.ErrExpired):
		return http.StatusGone, messagePage{"Request expired",
			"This request to connect an account expired before it was finished." + again}
	case errors.Is(err, consent.ErrFinished):
		return http.StatusConflict, messagePage{"Request already finished",
			"This request to connect an account already finished or a newer request replaced it. If you still need to connect, start again from the app."}
	case errors.Is(err, consent.ErrProviderUnavailable):
		return http.StatusNotFound, messagePage{"Provider not available",
			"The provider of this connection is no longer available in Toolgate. Ask your administrator."}
	case errors.Is(err, consent.ErrUnknownState):
		return http.StatusBadRequest, messagePage{"Sign-in link not valid",
			"This sign-in link is not valid, or a newer attempt to connect replaced it. Nothing was changed." + again}
	case errors.Is(err, consent.ErrStateUsed):
		return http.StatusConflict, messagePage{"Sign-in link already used",
			"This sign-in link was already used, so it was not processed again. If the connection worked, you are done; otherwise start again from the app."}
	case errors.Is(err, consent.ErrSignInRequired):
		return http.StatusUnauthorized, messagePage{"Sign-in required",
			"Sign in to Toolgate, then start again from the app."}
	default:
		return http.StatusInternalServerError, messagePage{"Something went wrong",
			"Toolgate could not handle this request. Try again; if it keeps happening, tell your administrator."}
	}
}

// serveCompleteScript serves the /oauth-complete page's script.
func serveCompleteScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(completeScript)
}

func mustReadOAuthPageFile(name string) []byte {
	b, err := oauthPageFiles.ReadFile(name)
	if err != nil {
		panic("httpapi: embedded file " + name + " missing: " + err.Error())
	}
	return b
}

// originList joins origins with spaces for a data attribute.
func originList(origins []string) string { return strings.Join(origins, " ") }
