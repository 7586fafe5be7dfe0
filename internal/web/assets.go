package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// assetFiles are the browser files: the stylesheet, the ES modules, an
// icon and the vendored htmx. The vendor README and license are embedded
// too, but not served, because only the extensions in contentTypes are.
//
//go:embed assets
var assetFiles embed.FS

// assetPrefix is the path under which assets are served, followed by the
// asset version and the file's path.
const assetPrefix = "/assets/"

// oauthPagesStylePath serves the stylesheet of the consent flow's pages,
// which httpapi renders with a fixed link because they do not know the
// asset version.
const oauthPagesStylePath = "/assets/oauth-pages.css"

// contentTypes lists the served file extensions.
var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// asset is one embedded file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assetServer serves the embedded assets under
// /assets/{version}/{path}. The version is a hash of every asset, so a
// page always loads one consistent set: the ES modules import each other
// by relative paths, which stay under the page's version. Responses for
// the current version may be cached for a year. A request for another
// version, as from a page that an older replica served during a rollout,
// gets the current file with Cache-Control: no-cache. So the wrong content
// is never cached for long under an old URL.
type assetServer struct {
	version string
	files   map[string]*asset
}

func newAssetServer() *assetServer {
	a := &assetServer{files: map[string]*asset{}}
	var names []string
	err := fs.WalkDir(assetFiles, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		contentType, ok := contentTypes[path.Ext(name)]
		if !ok {
			return nil
		}
		body, err := assetFiles.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		rel := strings.TrimPrefix(name, "assets/")
		a.files[rel] = &asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		panic("web: read embedded assets: " + err.Error())
	}

	sort.Strings(names)
	all := sha256.New()
	for _, name := range names {
		all.Write([]byte(name + "\x00" + a.files[name].etag + "\x00"))
	}
	a.version = hex.EncodeToString(all.Sum(nil))[:12]
	return a
}

// url returns the path at which the asset name (such as "js/chat.js") is
// served.
func (a *assetServer) url(name string) string {
	if _, ok := a.files[name]; !ok {
		panic("web: no embedded asset " + name)
	}
	return assetPrefix + a.version + "/" + name
}

func (a *assetServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.files[r.PathValue("path")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	if r.PathValue("version") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent handles If-None-Match with the ETag header, and HEAD
	// and range requests.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// serveUnversioned serves the asset name at a fixed URL. Browsers must
// revalidate it, and the ETag makes that cheap.
func (a *assetServer) serveUnversioned(name string) http.HandlerFunc {
	f, ok := a.files[name]
	if !ok {
		panic("web: no embedded asset " + name)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("ETag", f.etag)
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	}
}
