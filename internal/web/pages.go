package web

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"

	"github.com/toolgate/toolgate/internal/authn"
)

//go:embed templates/*.html
var templateFiles embed.FS

// page describes one page: its template (templates/<name>.html, which
// defines "content"), its title, the navigation entry it marks as
// current, and its ES module.
type page struct {
	name   string
	title  string
	nav    string
	script string
}

var (
	pageChat               = page{"chat", "Chat", "chat", "js/chat.js"}
	pageSettingsConnectors = page{"settings-connectors", "My connectors", "settings-connectors", "js/settings-connectors.js"}
	pageAdminConnectors    = page{"admin-connectors", "Connectors (admin)", "admin-connectors", "js/admin-connectors.js"}
	pageAdminMCPServers    = page{"admin-mcp-servers", "MCP servers (admin)", "admin-mcp-servers", "js/admin-mcp-servers.js"}
	pageAdminAudit         = page{"admin-audit", "Audit trail (admin)", "admin-audit", "js/admin-audit.js"}
	// pageForbidden is the 403 page that explains to a signed-in user
	// without the admin role why an admin page is closed to them.
	pageForbidden = page{"forbidden", "Administrators only", "", ""}
)

var allPages = []page{pageChat, pageSettingsConnectors, pageAdminConnectors, pageAdminMCPServers, pageAdminAudit, pageForbidden}

// pageData is the data that layout.html and the page templates render.
type pageData struct {
	Name   string
	Title  string
	Nav    string
	Script string
	User   userView
}

type userView struct {
	Name  string
	Admin bool
}

// parsePages parses layout.html with each page's template.
func parsePages(assets *assetServer) map[string]*template.Template {
	layout := template.Must(template.New("layout.html").
		Funcs(template.FuncMap{"asset": assets.url}).
		ParseFS(templateFiles, "templates/layout.html"))
	pages := make(map[string]*template.Template, len(allPages))
	for _, p := range allPages {
		t := template.Must(layout.Clone())
		pages[p.name] = template.Must(t.ParseFS(templateFiles, "templates/"+p.name+".html"))
	}
	return pages
}

// userPage serves p to any signed-in user and sends anonymous browsers to
// sign-in.
func (u *UI) userPage(p page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := authn.FromContext(r.Context())
		if !ok {
			redirectToSignIn(w, r)
			return
		}
		u.render(w, r, http.StatusOK, p, id)
	}
}

// adminPage serves p to admins, a 403 page to other signed-in users, and
// sends anonymous browsers to sign-in. The page's API calls are checked
// again by the API itself.
func (u *UI) adminPage(p page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := authn.FromContext(r.Context())
		if !ok {
			redirectToSignIn(w, r)
			return
		}
		if !id.IsAdmin() {
			u.render(w, r, http.StatusForbidden, pageForbidden, id)
			return
		}
		u.render(w, r, http.StatusOK, p, id)
	}
}

// redirectToSignIn sends the browser to the sign-in page, which returns it
// to the requested path and query afterwards.
func redirectToSignIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/auth/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// render writes page p for the signed-in user id. It renders into a
// buffer first, so that a template error becomes a plain 500 instead of
// half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, p page, id *authn.Identity) {
	data := pageData{
		Name:  p.name,
		Title: p.title,
		Nav:   p.nav,
		User:  userView{Name: displayName(id), Admin: id.IsAdmin()},
	}
	if p.script != "" {
		data.Script = u.assets.url(p.script)
	}
	var buf bytes.Buffer
	if err := u.pages[p.name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		u.logger.ErrorContext(r.Context(), "render page failed", "page", p.name, "err", err)
		http.Error(w, "internal error: the page could not be rendered; the server log has the details", http.StatusInternalServerError)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", u.csp)
	// The consent popup keeps its link to the page that opened it, while
	// windows on other origins cannot reach the page.
	h.Set("Cross-Origin-Opener-Policy", "same-origin-allow-popups")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// displayName returns how the header names the signed-in user.
func displayName(id *authn.Identity) string {
	switch {
	case id.Name != "":
		return id.Name
	case id.Email != "":
		return id.Email
	default:
		return id.UserID
	}
}
