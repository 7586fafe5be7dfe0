package mcpclient

// Design note: the tool catalog
//
// Each server's catalog (tool name, title, description and input schema)
// is cached in the server's row in the store, so that every replica
// offers the same tools. A gated server's tools are offered even to a
// user who has not connected yet, because calling one is what starts the
// consent.
//
// A catalog is fetched live with the calling user's connection: with no
// token for a server without provider_id, and with that user's token
// otherwise. Client.ToolsFor fetches a catalog older than CatalogMaxAge,
// and Registry.RefreshTools fetches one on an admin's request. When a
// fetch fails, for example because the user has no token yet, the cached
// catalog stays and is offered. ToolsFor records in last_error only the
// failures that concern every user (an *UnavailableError), and waits
// CatalogRetryDelay before it tries such a server again, so that an
// unreachable server does not slow every turn by its timeout.
//
// The store keeps a fetched catalog only if the server's configuration is
// unchanged since the fetch began (see store.SetMCPServerTools), so a
// catalog from an old URL never overwrites a newer one.
//
// NOTE: the catalog is per server, not per user. For a server that lists
// different tools to different users, every user is offered the tools
// of the user who fetched last.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolgate/toolgate/internal/store"
)

// Catalog limits.
const (
	// maxCatalogTools caps the tools kept of one server. Model APIs
	// accept at most a few hundred tools per request, so more would be
	// unusable anyway.
	maxCatalogTools = 500
	// maxCatalogBytes caps one server's encoded catalog in the store.
	maxCatalogBytes = 2 << 20
)

// Tool is a tool offered to the model.
type Tool struct {
	// Name is the name offered to the model (see ToolName).
	Name string
	// ServerID and ServerName identify the server, ToolName is the tool's
	// name there.
	ServerID   string
	ServerName string
	ToolName   string
	// Title and Description come from the server.
	Title       string
	Description string
	// InputSchema is the tool's JSON Schema for its arguments.
	InputSchema json.RawMessage
}

// SkippedServer is a server that a user may use but whose tools a
// Catalog lacks, because it has no cached catalog and the live fetch
// failed.
type SkippedServer struct {
	ServerID string
	// Err is the fetch's error, such as a *TokenError for a user who has
	// not connected, or an *UnavailableError.
	Err error
}

// Catalog is the set of tools offered to one user, usually for one turn.
// It is not safe for concurrent modification, but concurrent reads are
// safe.
type Catalog struct {
	// Tools are ordered by server id, then in the server's order.
	Tools   []Tool
	Skipped []SkippedServer
	byName  map[string]int // model name to index in Tools
}

// ResolveToolName maps a model-facing tool name back to the server and
// the tool's name there. ok is false for a name that is not in the
// catalog.
func (c *Catalog) ResolveToolName(modelName string) (serverID, toolName string, ok bool) {
	i, ok := c.byName[modelName]
	if !ok {
		return "", "", false
	}
	return c.Tools[i].ServerID, c.Tools[i].ToolName, true
}

// add appends t unless its model name is taken, which only a hash
// collision or a server that names a tool like another's altered name
// can cause. It reports whether t was added.
func (c *Catalog) add(t Tool) bool {
	if c.byName == nil {
		c.byName = map[string]int{}
	}
	if _, exists := c.byName[t.Name]; exists {
		return false
	}
	c.byName[t.Name] = len(c.Tools)
	c.Tools = append(c.Tools, t)
	return true
}

// storedTool is one tool in the store's JSON catalog.
type storedTool struct {
	Name        string          `json:"name"`
	Title       string          `json:"title,omitempty"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// ToolsFor returns the tools offered to the user userID with roles: those
// of every enabled server whose allowed roles admit the user. It fetches
// catalogs that are missing or older than CatalogMaxAge, concurrently and
// as the user, and otherwise uses the cached ones (see the design note).
// A server with no catalog to offer is listed in Catalog.Skipped. The
// error is non-nil only when the store fails or ctx ends.
func (c *Client) ToolsFor(ctx context.Context, userID string, roles []string) (*Catalog, error) {
	servers, err := c.registry.store.ListMCPServers(ctx)
	if err != nil {
		return nil, fmt.Errorf("mcpclient: list servers: %w", err)
	}

	type entry struct {
		server *store.MCPServer
		tools  []storedTool
		err    error
	}
	var entries []*entry
	var wg sync.WaitGroup
	for i := range servers {
		m := &servers[i]
		if !m.Enabled || !allowsRoles(m.AllowedRoles, roles) {
			continue
		}
		e := &entry{server: m}
		entries = append(entries, e)
		if !c.needsFetch(m) {
			continue
		}
		wg.Go(func() {
			e.tools, e.err = c.fetchForTurn(ctx, m.ID, userID)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("mcpclient: list tools: %w", context.Cause(ctx))
	}

	cat := &Catalog{}
	for _, e := range entries {
		tools := e.tools
		if e.err != nil || tools == nil {
			cached, err := decodeStored(e.server)
			if err != nil {
				return nil, err
			}
			tools = cached
		}
		if e.err != nil && e.server.ToolsFetchedAt.IsZero() {
			cat.Skipped = append(cat.Skipped, SkippedServer{ServerID: e.server.ID, Err: e.err})
			continue
		}
		if e.err != nil {
			// A user without a token is the normal case before consent.
			level := slog.LevelWarn
			if _, ok := errors.AsType[*TokenError](e.err); ok {
				level = slog.LevelDebug
			}
			c.logger.Log(ctx, level, "mcp catalog fetch failed; offering the cached catalog",
				"server_id", e.server.ID, "user_id", userID, "err", e.err)
		}
		for _, st := range tools {
			t := Tool{
				Name: ToolName(e.server.ID, st.Name), ServerID: e.server.ID, ServerName: e.server.DisplayName,
				ToolName: st.Name, Title: st.Title, Description: st.Description, InputSchema: st.InputSchema,
			}
			if !cat.add(t) {
				c.logger.Warn("mcp tool left out: its model name is taken",
					"server_id", e.server.ID, "tool", st.Name, "model_name", t.Name)
			}
		}
	}
	return cat, nil
}

// needsFetch reports whether ToolsFor fetches m's catalog: it was never
// fetched or is older than the maximum age, and no fetch failed within
// the retry delay.
func (c *Client) needsFetch(m *store.MCPServer) bool {
	now := c.now()
	fresh := !m.ToolsFetchedAt.IsZero() && now.Sub(m.ToolsFetchedAt) < c.catalogMaxAge
	if fresh {
		return false
	}
	failedRecently := !m.LastErrorAt.IsZero() && m.LastErrorAt.After(m.ToolsFetchedAt) && now.Sub(m.LastErrorAt) < c.catalogRetry
	return !failedRecently
}

// fetchForTurn fetches and stores a catalog for ToolsFor, merging
// concurrent fetches of the same server for the same user. Only failures
// that concern every user are recorded in last_error.
func (c *Client) fetchForTurn(ctx context.Context, serverID, userID string) ([]storedTool, error) {
	v, err, _ := c.fetches.Do(serverID+"\x00"+userID, func() (any, error) {
		t, err := c.loadTarget(ctx, serverID)
		if err != nil {
			return nil, err
		}
		tools, _, err := c.refresh(ctx, t, userID)
		if err != nil && errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
			c.recordError(ctx, serverID, err)
		}
		return tools, err
	})
	tools, _ := v.([]storedTool)
	return tools, err
}

// refresh fetches t's catalog as userID and stores it. It returns the
// tools even when the store rejects them because t changed meanwhile,
// with an error wrapping ErrConfigChanged.
func (c *Client) refresh(ctx context.Context, t *target, userID string) ([]storedTool, *ServerInfo, error) {
	tools, info, err := c.fetchCatalog(ctx, t, userID)
	if err != nil {
		return nil, nil, err
	}
	encoded, err := json.Marshal(tools)
	if err != nil {
		return nil, nil, fmt.Errorf("mcpclient: encode catalog of %q: %w", t.ID, err)
	}
	if len(encoded) > maxCatalogBytes {
		return nil, info, &UnavailableError{ServerID: t.ID, Kind: KindProtocol,
			Err: fmt.Errorf("the tool catalog is %d bytes encoded; the limit is %d", len(encoded), maxCatalogBytes)}
	}

	err = c.registry.store.SetMCPServerTools(ctx, t.ID, t.UpdatedAt, encoded, c.registry.timestamp())
	switch {
	case errors.Is(err, store.ErrConflict):
		return tools, info, fmt.Errorf("%w: %q", ErrConfigChanged, t.ID)
	case errors.Is(err, store.ErrNotFound):
		return nil, info, fmt.Errorf("%w: %q", ErrNotFound, t.ID)
	case err != nil:
		return nil, info, fmt.Errorf("mcpclient: store catalog of %q: %w", t.ID, err)
	}
	c.logger.Info("mcp catalog fetched", "server_id", t.ID, "user_id", userID, "tools", len(tools))
	return tools, info, nil
}

// fetchCatalog lists t's tools in one session as userID. A server that
// does not declare the tools capability has an empty catalog.
func (c *Client) fetchCatalog(ctx context.Context, t *target, userID string) ([]storedTool, *ServerInfo, error) {
	tools := []storedTool{}
	var info *ServerInfo
	err := c.withSession(ctx, t, userID, "list tools", "", true, func(ctx context.Context, cs *mcp.ClientSession) error {
		init := cs.InitializeResult()
		info = serverInfo(init)
		if init == nil || init.Capabilities == nil || init.Capabilities.Tools == nil {
			return nil
		}
		seen := map[string]bool{}
		for tool, err := range cs.Tools(ctx, nil) {
			if err != nil {
				return err
			}
			if tool.Name == "" || seen[tool.Name] {
				continue
			}
			if len(tools) == maxCatalogTools {
				c.logger.Warn("mcp catalog cut", "server_id", t.ID, "max_tools", maxCatalogTools)
				break
			}
			st, err := toStoredTool(tool)
			if err != nil {
				return err
			}
			seen[tool.Name] = true
			tools = append(tools, st)
		}
		return nil
	})
	if err != nil {
		return nil, info, err
	}
	return tools, info, nil
}

func toStoredTool(tool *mcp.Tool) (storedTool, error) {
	schema := json.RawMessage(`{"type":"object"}`)
	if tool.InputSchema != nil {
		encoded, err := json.Marshal(tool.InputSchema)
		if err != nil {
			return storedTool{}, fmt.Errorf("encode input schema of tool %q: %w", tool.Name, err)
		}
		schema = encoded
	}
	return storedTool{Name: tool.Name, Title: tool.Title, Description: tool.Description, InputSchema: schema}, nil
}

func serverInfo(init *mcp.InitializeResult) *ServerInfo {
	if init == nil {
		return nil
	}
	info := &ServerInfo{ProtocolVersion: init.ProtocolVersion}
	if init.ServerInfo != nil {
		info.Name, info.Version = init.ServerInfo.Name, init.ServerInfo.Version
	}
	return info
}

// recordError stores a failed fetch in the server's last_error. A failure
// to store it is logged, because the fetch's own error matters more.
func (c *Client) recordError(ctx context.Context, serverID string, fetchErr error) {
	err := c.registry.store.SetMCPServerError(ctx, serverID, Describe(fetchErr), c.registry.timestamp())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.logger.Error("recording mcp catalog error failed", "server_id", serverID, "err", err)
	}
}

// decodeStored reads the cached catalog of m.
func decodeStored(m *store.MCPServer) ([]storedTool, error) {
	var tools []storedTool
	if len(m.Tools) == 0 {
		return tools, nil
	}
	if err := json.Unmarshal(m.Tools, &tools); err != nil {
		return nil, fmt.Errorf("mcpclient: decode cached catalog of %q: %w", m.ID, err)
	}
	return tools, nil
}

// decodeCatalog returns m's cached catalog as ServerTools, never nil.
func decodeCatalog(m *store.MCPServer) ([]ServerTool, error) {
	stored, err := decodeStored(m)
	if err != nil {
		return nil, err
	}
	out := make([]ServerTool, len(stored))
	for i, st := range stored {
		out[i] = ServerTool{
			Name: st.Name, ModelName: ToolName(m.ID, st.Name), Title: st.Title,
			Description: st.Description, InputSchema: st.InputSchema,
		}
	}
	return out, nil
}

// RefreshTools fetches the catalog of the server serverID now, as userID
// (the requesting admin), stores it and returns the server's view. It works
// on disabled servers too, so that an admin can check a server before
// enabling it. On failure it records the error in last_error, keeps the
// cached catalog, and returns the classified error (see CallTool), or an
// error wrapping ErrConfigChanged when the server changed during the
// fetch.
func (r *Registry) RefreshTools(ctx context.Context, serverID, userID string) (*View, error) {
	t, err := r.client.loadTarget(ctx, serverID)
	if err != nil {
		return nil, err
	}
	if _, _, err := r.client.refresh(ctx, t, userID); err != nil {
		if !errors.Is(err, ErrConfigChanged) && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
			r.client.recordError(ctx, serverID, err)
		}
		return nil, err
	}
	return r.Get(ctx, serverID)
}
