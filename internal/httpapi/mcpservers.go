package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/toolgate/toolgate/internal/authn"
	"github.com/toolgate/toolgate/internal/mcpclient"
	"github.com/toolgate/toolgate/internal/problem"
)

// mcpServersPath is the collection of registered MCP servers.
const mcpServersPath = "/api/v1/admin/mcp-servers"

// routeMCPServers registers the admin routes for MCP servers. Every route
// runs behind Options.RequireAdmin, or behind rejectAdmin when that is
// nil.
func (s *Server) routeMCPServers() {
	admin := s.opts.RequireAdmin
	if admin == nil {
		admin = rejectAdmin
	}
	s.route("GET "+mcpServersPath, admin(s.handle(s.listMCPServers)))
	s.route("POST "+mcpServersPath, admin(s.handle(s.createMCPServer)))
	s.route("GET "+mcpServersPath+"/{id}", admin(s.handle(s.getMCPServer)))
	s.route("PATCH "+mcpServersPath+"/{id}", admin(s.handle(s.updateMCPServer)))
	s.route("DELETE "+mcpServersPath+"/{id}", admin(s.handle(s.deleteMCPServer)))
	s.route("POST "+mcpServersPath+"/{id}/refresh-tools", admin(s.handle(s.refreshMCPServerTools)))
	s.route("POST "+mcpServersPath+"/{id}/test", admin(s.handle(s.testMCPServer)))
}

func (s *Server) listMCPServers(w http.ResponseWriter, r *http.Request) error {
	views, err := s.opts.MCPServers.List(r.Context())
	if err != nil {
		return mcpServerProblem(err, "")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"mcp_servers": views})
}

func (s *Server) createMCPServer(w http.ResponseWriter, r *http.Request) error {
	var in mcpclient.CreateInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}

	v, err := s.opts.MCPServers.Create(r.Context(), in)
	if err != nil {
		return mcpServerProblem(err, in.ID)
	}
	w.Header().Set("Location", mcpServersPath+"/"+url.PathEscape(v.ID))
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getMCPServer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	v, err := s.opts.MCPServers.Get(r.Context(), id)
	if err != nil {
		return mcpServerProblem(err, id)
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) updateMCPServer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var in mcpclient.PatchInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}

	v, err := s.opts.MCPServers.Update(r.Context(), id, in)
	if err != nil {
		return mcpServerProblem(err, id)
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteMCPServer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.opts.MCPServers.Delete(r.Context(), id); err != nil {
		return mcpServerProblem(err, id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// refreshMCPServerTools fetches the server's catalog with the calling
// admin's own connection, so a server with a provider_id needs the admin
// to have connected an account at that provider.
func (s *Server) refreshMCPServerTools(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	v, err := s.opts.MCPServers.RefreshTools(r.Context(), id, callerID(r))
	if err != nil {
		return mcpServerProblem(err, id)
	}
	return writeJSON(w, http.StatusOK, v)
}

// testMCPServer responds with 200 and the outcome whether or not the
// server worked, because the test itself ran.
func (s *Server) testMCPServer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	result, err := s.opts.MCPServers.TestConnection(r.Context(), id, callerID(r))
	if err != nil {
		return mcpServerProblem(err, id)
	}
	return writeJSON(w, http.StatusOK, result)
}

// callerID returns the signed-in user's id, or "" for an anonymous
// request, which RequireAdmin does not let through.
func callerID(r *http.Request) string {
	if id, ok := authn.FromContext(r.Context()); ok {
		return id.UserID
	}
	return ""
}

// mcpServerProblem maps the registry's errors to problem responses. A
// failure to reach or use the MCP server is a 502 (504 for a timeout)
// whose detail states in plain words what failed. Other errors pass through
// and become a 500 whose cause is only logged.
func mcpServerProblem(err error, id string) error {
	var invalid *mcpclient.ValidationError
	var token *mcpclient.TokenError
	var unavailable *mcpclient.UnavailableError
	var scope *mcpclient.InsufficientScopeError
	var call *mcpclient.CallError
	switch {
	case errors.As(err, &invalid):
		return problem.Invalid(invalid.Status, invalid.Fields...)
	case errors.Is(err, mcpclient.ErrNotFound):
		return problem.New(http.StatusNotFound, "not_found",
			fmt.Sprintf("no MCP server has id %q; GET %s lists the servers", id, mcpServersPath))
	case errors.Is(err, mcpclient.ErrAlreadyExists):
		p := problem.New(http.StatusConflict, "already_exists",
			fmt.Sprintf("an MCP server with id %q exists; choose another id, or PATCH the existing server", id))
		p.Fields = []problem.FieldError{{Field: "id", Detail: "taken by an existing MCP server"}}
		return p
	case errors.Is(err, mcpclient.ErrConfigChanged):
		return problem.New(http.StatusConflict, "conflict",
			"the MCP server was changed while its tools were fetched, so the result was discarded; refresh again")
	case errors.As(err, &token):
		p := problem.New(http.StatusConflict, "connection_required", mcpclient.Describe(err))
		p.Cause = err
		return p
	case errors.As(err, &unavailable):
		status := http.StatusBadGateway
		if unavailable.Kind == mcpclient.KindTimeout {
			status = http.StatusGatewayTimeout
		}
		p := problem.New(status, "mcp_server_unavailable", mcpclient.Describe(err))
		p.Cause = err
		return p
	case errors.Is(err, mcpclient.ErrAuth):
		p := problem.New(http.StatusBadGateway, "mcp_server_rejected_credentials", mcpclient.Describe(err))
		p.Cause = err
		return p
	case errors.As(err, &scope):
		p := problem.New(http.StatusBadGateway, "mcp_server_insufficient_scope", mcpclient.Describe(err))
		p.Cause = err
		return p
	case errors.As(err, &call):
		p := problem.New(http.StatusBadGateway, "mcp_server_error", mcpclient.Describe(err))
		p.Cause = err
		return p
	default:
		return err
	}
}
