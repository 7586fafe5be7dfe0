package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/problem"
	"github.com/toolgate/toolgate/internal/provider"
)

// providersPath is the collection of registered providers.
const providersPath = "/api/v1/admin/providers"

// routeProviders registers the admin routes for providers and their
// presets. Every route runs behind Options.RequireAdmin, or behind
// rejectAdmin when that is nil.
func (s *Server) routeProviders() {
	admin := s.opts.RequireAdmin
	if admin == nil {
		admin = rejectAdmin
	}
	s.route("GET "+providersPath, admin(s.handle(s.listProviders)))
	s.route("POST "+providersPath, admin(s.handle(s.createProvider)))
	s.route("GET "+providersPath+"/{id}", admin(s.handle(s.getProvider)))
	s.route("PATCH "+providersPath+"/{id}", admin(s.handle(s.updateProvider)))
	s.route("DELETE "+providersPath+"/{id}", admin(s.handle(s.deleteProvider)))
	s.route("GET /api/v1/admin/provider-presets", admin(s.handle(s.listProviderPresets)))
}

// rejectAdmin replaces a missing Options.RequireAdmin. It rejects every
// request with 401, so that a server wired without admin authentication
// exposes no admin route.
func rejectAdmin(http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, nil, problem.New(http.StatusUnauthorized, "authentication_required",
			"admin routes are unavailable because the server runs without admin authentication; configure sign-in and restart"))
	})
}

func (s *Server) listProviders(w http.ResponseWriter, r *http.Request) error {
	views, err := s.opts.Providers.List(r.Context())
	if err != nil {
		return providerProblem(err, "")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"providers": views})
}

func (s *Server) createProvider(w http.ResponseWriter, r *http.Request) error {
	var in provider.CreateInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}

	v, err := s.opts.Providers.Create(r.Context(), in)
	if err != nil {
		return providerProblem(err, in.ID)
	}
	w.Header().Set("Location", providersPath+"/"+url.PathEscape(v.ID))
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getProvider(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	v, err := s.opts.Providers.Get(r.Context(), id)
	if err != nil {
		return providerProblem(err, id)
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) updateProvider(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in provider.PatchInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}

	v, err := s.opts.Providers.Update(r.Context(), id, in)
	if err != nil {
		return providerProblem(err, id)
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.opts.Providers.Get(r.Context(), id); err != nil {
		return providerProblem(err, id)
	}
	// Revoke and remove the users' tokens first, while the provider's
	// endpoints and credentials are still known.
	if s.opts.Vault != nil {
		actor, _ := authn.FromContext(r.Context())
		actorID := ""
		if actor != nil {
			actorID = actor.UserID
		}
		if err := s.opts.Vault.RemoveProvider(r.Context(), id, actorID); err != nil {
			return problem.Internal(fmt.Errorf("remove tokens of provider %q: %w", id, err))
		}
	}
	if err := s.opts.Providers.Delete(r.Context(), id); err != nil {
		return providerProblem(err, id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listProviderPresets(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"presets": provider.Presets()})
}

// providerProblem maps the registry's errors to problem responses. Other
// errors pass through and become a 500 whose cause is only logged.
func providerProblem(err error, id string) error {
	var invalid *provider.ValidationError
	switch {
	case errors.As(err, &invalid):
		return problem.Invalid(invalid.Status, invalid.Fields...)
	case errors.Is(err, provider.ErrNotFound):
		return problem.New(http.StatusNotFound, "not_found",
			fmt.Sprintf("no provider has id %q; GET %s lists the providers", id, providersPath))
	case errors.Is(err, provider.ErrAlreadyExists):
		p := problem.New(http.StatusConflict, "already_exists",
			fmt.Sprintf("a provider with id %q exists; choose another id, or PATCH the existing provider", id))
		p.Fields = []problem.FieldError{{Field: "id", Detail: "taken by an existing provider"}}
		return p
	default:
		return err
	}
}
