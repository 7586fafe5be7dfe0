package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/toolgate/toolgate/internal/mcpclient"
)

// MCPTools offers the tools of the registered MCP servers through
// mcpclient. It implements Tools.
type MCPTools struct {
	Registry *mcpclient.Registry
}

var _ Tools = (*MCPTools)(nil)

// ListTools returns the tools of the servers the caller may use,
// restricted to serverIDs when that is not empty.
func (m *MCPTools) ListTools(ctx context.Context, caller Caller, serverIDs []string) ([]ToolSpec, []Warning, error) {
	catalog, err := m.Registry.Client().ToolsFor(ctx, caller.UserID, caller.Roles)
	if err != nil {
		return nil, nil, err
	}
	servers, err := m.Registry.List(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: list mcp servers: %w", err)
	}
	providerOf := map[string]string{}
	for _, s := range servers {
		providerOf[s.ID] = s.ProviderID
	}

	offered := map[string]bool{}
	for _, t := range catalog.Tools {
		offered[t.ServerID] = true
	}
	for _, s := range catalog.Skipped {
		offered[s.ServerID] = true
	}
	for i, id := range serverIDs {
		if !offered[id] {
			return nil, nil, &InputError{Field: fmt.Sprintf("mcp_servers[%d]", i),
				Detail: fmt.Sprintf("no MCP server %q is available to you; GET /api/v1/admin/mcp-servers lists them for admins", id)}
		}
	}
	wanted := func(id string) bool { return len(serverIDs) == 0 || slices.Contains(serverIDs, id) }

	var specs []ToolSpec
	for _, t := range catalog.Tools {
		if !wanted(t.ServerID) {
			continue
		}
		description := t.Description
		if description == "" {
			description = t.Title
		}
		specs = append(specs, ToolSpec{
			Name: t.Name, ServerID: t.ServerID, Tool: t.ToolName, Description: description,
			InputSchema: t.InputSchema, ProviderID: providerOf[t.ServerID],
		})
	}
	var warnings []Warning
	for _, s := range catalog.Skipped {
		if !wanted(s.ServerID) {
			continue
		}
		warnings = append(warnings, skippedWarning(s, providerOf[s.ServerID]))
	}
	return specs, warnings, nil
}

func skippedWarning(s mcpclient.SkippedServer, providerID string) Warning {
	if _, ok := errors.AsType[*mcpclient.TokenError](s.Err); ok {
		return Warning{Code: "mcp_server_needs_connection", ServerID: s.ServerID,
			Message: fmt.Sprintf("The tools of MCP server %s are unknown until you connect %s or an admin refreshes its tool list; it is skipped for this turn.", s.ServerID, providerID)}
	}
	msg := s.Err.Error()
	msg = strings.TrimPrefix(msg, "mcpclient: ")
	return Warning{Code: "mcp_server_unavailable", ServerID: s.ServerID,
		Message: fmt.Sprintf("MCP server %s is skipped for this turn: %s", s.ServerID, clip(msg, 300))}
}

// CallTool calls the tool through mcpclient, which sends the user's token
// from the vault.
func (m *MCPTools) CallTool(ctx context.Context, caller Caller, tool ToolSpec, args json.RawMessage) (*ToolOutput, error) {
	res, err := m.Registry.Client().CallTool(ctx, caller.UserID, tool.ServerID, tool.Tool, args)
	if err != nil {
		return nil, err
	}
	text := res.Text
	if len(res.NonText) > 0 {
		text += "\n[non-text content: " + strings.Join(res.NonText, "; ") + "]"
	}
	if text == "" && len(res.Structured) > 0 {
		text = string(res.Structured)
	}
	return &ToolOutput{Text: text, IsError: res.IsError}, nil
}
