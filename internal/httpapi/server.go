// Package httpapi serves Toolgate's REST API, its server-sent event
// streams, health and metrics endpoints, and the OpenAPI document.
//
// Handlers follow one shape: permission, then method, then input, then act.
// They return errors instead of writing them; problem.Write renders each as
// application/problem+json and logs the cause.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/toolgate/toolgate/internal/agent"
	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/consent"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/provider"
	"github.com/toolgate/toolgate/internal/vault"
)

// Server routes every HTTP request. Construct it with New; it is safe for
// concurrent use.
type Server struct {
	opts    Options
	logger  *slog.Logger
	mux     *http.ServeMux
	metrics *serverMetrics
	// patterns lists the API routes registered with route, for the OpenAPI
	// document's test.
	patterns []string
}

// Pinger checks that the database responds; /readyz uses it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options configures a Server. Logger, Gatherer and Registerer may be nil.
type Options struct {
	Logger *slog.Logger
	// DB is checked by /readyz.
	DB Pinger
	// Gatherer serves /metrics; nil serves the default registry.
	Gatherer prometheus.Gatherer
	// Registerer receives the server's own metrics; nil registers none.
	Registerer prometheus.Registerer
	// Authenticate resolves the caller's identity into the request context;
	// it wraps every route. Nil leaves every request anonymous.
	Authenticate func(http.Handler) http.Handler
	// Routes registers further routes (sign-in pages, the web UI) on the
	// same mux, so that they share the middleware.
	Routes []func(mux *http.ServeMux)
	// Providers serves the admin provider routes. Nil leaves them out.
	Providers *provider.Registry
	// MCPServers serves the admin MCP server routes. Nil leaves them out.
	MCPServers *mcpclient.Registry
	// RequireAdmin wraps every admin route. It must reject requests
	// without an identity with 401 and those of non-admins with 403. Nil
	// rejects every admin request with 401, so that no admin route is
	// open by mistake.
	RequireAdmin func(http.Handler) http.Handler
	// Consents serves the consent routes: the two API routes and the
	// browser pages /connect/{consent_id}, /oauth/callback and
	// /oauth-complete. Nil leaves them out.
	Consents *consent.Service
	// Vault serves the connector routes under /api/v1/connectors, which
	// also need Providers. Nil leaves them out.
	Vault *vault.Vault
	// ConsentStarter starts a consent when the token route returns 409,
	// so that the response carries the authorization URL. Nil returns 409
	// without it.
	ConsentStarter ConsentStarter
	// Audit serves GET /api/v1/admin/audit. Nil leaves it out.
	Audit AuditLister
	// Agent serves the chat session and turn routes. Nil leaves them out.
	Agent *agent.Runner
	// Models serves GET /api/v1/models, the models a turn may name. Nil
	// leaves it out.
	Models ModelLister
}

// New returns a Server with every API route registered.
func New(opts *Options) *Server {
	s := &Server{mux: http.NewServeMux()}
	if opts != nil {
		s.opts = *opts
	}
	s.logger = s.opts.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.metrics = newServerMetrics(s.opts.Registerer)
	s.routes()
	for _, register := range s.opts.Routes {
		register(s.mux)
	}
	return s
}

// Handler returns the root handler with the middleware applied: request
// ids, security headers, panic recovery, access logs and metrics.
func (s *Server) Handler() http.Handler {
	var h http.Handler = s.mux
	if s.opts.Authenticate != nil {
		h = s.opts.Authenticate(h)
	}
	return s.observe(h)
}

// route registers an API route. Every /api/ route goes through here so
// that the OpenAPI test sees it.
func (s *Server) route(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, h)
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_ = writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.Handle("GET /readyz", s.handle(s.ready))
	gatherer := s.opts.Gatherer
	if gatherer == nil {
		gatherer = prometheus.DefaultGatherer
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))

	s.route("GET /api/v1/openapi.json", http.HandlerFunc(serveOpenAPI))
	s.routeMe()
	if s.opts.Providers != nil {
		s.routeProviders()
	}
	if s.opts.MCPServers != nil {
		s.routeMCPServers()
	}
	if s.opts.Consents != nil {
		s.routeConsents()
	}
	if s.opts.Vault != nil {
		s.routeConnectors()
	}
	if s.opts.Audit != nil {
		s.routeAudit()
	}
	if s.opts.Agent != nil {
		s.routeSessions()
	}
	if s.opts.Models != nil {
		s.route("GET /api/v1/models", authn.RequireUser(s.handle(s.listModels)))
	}

	s.mux.Handle("/api/", s.handle(s.noRoute))
}

// noRoute responds to API requests that no route matched: 405 with an Allow
// header when the path exists under other methods, else 404. ServeMux
// would answer 405 itself, but this catch-all route matches first.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, method := range []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodPatch, http.MethodPost, http.MethodPut} {
		if method == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" && pattern != "" {
			allowed = append(allowed, method)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return problem.New(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
	}
	return problem.New(http.StatusNotFound, "not_found", "no API route matches "+r.Method+" "+r.URL.Path+"; see /api/v1/openapi.json")
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	if s.opts.DB == nil {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.DB.Ping(ctx); err != nil {
		p := problem.New(http.StatusServiceUnavailable, "database_unavailable", "the database does not answer; see the server log")
		p.Cause = err
		return p
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

type requestIDKey struct{}

// RequestID returns the id given to the request by the server middleware.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// observe is the outermost middleware: request id, security headers,
// panic recovery, one access log line and metrics per request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))

		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")

		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("handler panic", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					problem.Write(rec, r, nil, problem.Internal(nil))
				}
			}
			elapsed := time.Since(start)
			pattern := r.Pattern
			if pattern == "" {
				pattern = "unmatched"
			}
			s.metrics.observe(pattern, strconv.Itoa(rec.status), elapsed)
			s.logger.Info("request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration_ms", float64(elapsed.Microseconds())/1000)
		}()
		next.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status code for the access log. It passes
// Flush through so that event streams work.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		r.wrote = true
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
