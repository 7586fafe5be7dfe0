package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/toolgate/toolgate/internal/problem"
)

// maxBodyBytes caps JSON request bodies. A provider icon may be a 100 KiB
// data URL, which base64 and JSON escaping grow by about a third.
const maxBodyBytes = 1 << 20

// handlerFunc is an HTTP handler that returns its error instead of writing
// it, so that one place renders every error.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.Handler, rendering a returned error as
// problem+json.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			problem.Write(w, r, s.logger, err)
		}
	})
}

// decodeJSON reads a JSON object from the request body into v. Unknown
// fields, trailing data, a wrong content type and oversized bodies are
// rejected with a 400 or 413 that names the problem.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("content type %q is not supported; send application/json", ct))
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem.New(http.StatusBadRequest, "invalid_json", "request body has data after the JSON object; send one object")
	}
	return nil
}

func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return problem.New(http.StatusBadRequest, "invalid_json", "request body is empty; send a JSON object")
	case errors.As(err, &tooBig):
		return problem.New(http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit))
	case errors.As(err, &syntax):
		return problem.New(http.StatusBadRequest, "invalid_json",
			fmt.Sprintf("request body is not valid JSON at byte %d", syntax.Offset))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return problem.New(http.StatusBadRequest, "invalid_json", "request body must be a JSON object")
		}
		return problem.BadRequest(field, fmt.Sprintf("must be a JSON %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return problem.BadRequest(field, "unknown field; remove it (the API reference lists the accepted fields)")
	default:
		return problem.New(http.StatusBadRequest, "invalid_json", "request body is not a valid JSON object")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	default:
		return "number"
	}
}

// writeJSON sends v as JSON with the given status. It returns nil so
// handlers can end with it: once the header is out, an encoding error can
// no longer become a problem response.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return nil
}
