package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes the API. TestOpenAPIMatchesRoutes keeps it in
// step with the routes the server registers.
//
//go:embed openapi.json
var openAPIDocument []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}
