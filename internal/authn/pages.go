package authn

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
)

// The pages below are deliberately plain: no script, no inline style and no
// external resources, so they work under a Content-Security-Policy of
// default-src 'none'. The web package may restyle them later.

var pageFuncs = template.FuncMap{"join": func(s []string) string { return strings.Join(s, ", ") }}

var devLoginPage = template.Must(template.New("dev-login").Funcs(pageFuncs).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (development mode) · Toolgate</title>
</head>
<body>
<main>
<h1>Sign in</h1>
<p>Toolgate runs in development mode. Choose a user; no password is needed.</p>
<form method="post" action="/auth/login">
<input type="hidden" name="return_to" value="{{.ReturnTo}}">
<ul>
{{- range .Users}}
<li><button type="submit" name="user" value="{{.Name}}">{{.Name}}</button>{{with .Roles}} ({{join .}}){{end}}</li>
{{- end}}
</ul>
</form>
</main>
</body>
</html>
`))

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in failed · Toolgate</title>
</head>
<body>
<main>
<h1>Sign-in failed</h1>
<p>{{.Reason}}</p>
<p><a href="/auth/login">Try again</a></p>
</main>
</body>
</html>
`))

// pageCSP allows nothing but same-origin form posts, which is all the pages
// need.
const pageCSP = "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// renderPage executes tmpl with data and writes it with status. It renders
// into a buffer first, so that a template error becomes a plain 500 instead
// of half a page.
func (a *Authenticator) renderPage(w http.ResponseWriter, r *http.Request, status int, tmpl *template.Template, data any) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		a.logger.ErrorContext(r.Context(), "render page failed", "page", tmpl.Name(), "err", err)
		http.Error(w, "internal error: page template failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderErrorPage shows a failed sign-in with reason, in plain words, and a
// link to start again.
func (a *Authenticator) renderErrorPage(w http.ResponseWriter, r *http.Request, status int, reason string) {
	a.renderPage(w, r, status, errorPage, struct{ Reason string }{reason})
}
