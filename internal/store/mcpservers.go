package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// MCPServer is an external MCP server registered by an admin. The store
// keeps its fields as given; the mcpclient package owns validation and
// meaning.
type MCPServer struct {
	ID          string
	DisplayName string
	URL         string
	Transport   string
	// ProviderID names the provider whose user token is sent as bearer
	// token. Empty means requests carry no user token.
	ProviderID string
	// Headers is the static request headers as a JSON object of name to
	// value, sealed by the keyring (see MCPServerHeadersAAD). Empty means
	// none.
	Headers string
	// HeaderNames lists the names in Headers, in plaintext, for views.
	HeaderNames  []string
	AllowedRoles []string
	Enabled      bool
	// Timeout is stored in whole milliseconds.
	Timeout time.Duration
	// Tools is the cached tool catalog as a JSON array. Empty reads back
	// as "[]".
	Tools json.RawMessage
	// ToolsFetchedAt is when Tools was fetched; zero when never.
	ToolsFetchedAt time.Time
	// LastError describes the last failed catalog fetch, and is cleared by
	// a successful one. LastErrorAt is zero when LastError is empty.
	LastError   string
	LastErrorAt time.Time
	CreatedAt   time.Time
	// UpdatedAt changes with every configuration update, not with catalog
	// or error writes, so it also serves as the configuration's version.
	UpdatedAt time.Time
}

var mcpServerHeaders = SecretColumn{Table: "mcp_servers", Column: "headers", KeyColumns: []string{"id"}}

// MCPServerHeadersAAD is the associated data that seals an MCP server's
// static headers to its row.
func MCPServerHeadersAAD(id string) string {
	return mcpServerHeaders.aad([]string{id})
}

const mcpServerColumns = `id, display_name, url, transport, provider_id, headers, header_names, allowed_roles,
	enabled, timeout_ms, tools, tools_fetched_at, last_error, last_error_at, created_at, updated_at`

// CreateMCPServer stores a new MCP server, or returns ErrAlreadyExists.
func (s *Store) CreateMCPServer(ctx context.Context, m *MCPServer) error {
	args, err := mcpServerArgs(m)
	if err != nil {
		return s.mapErr("create mcp server", err)
	}
	_, err = s.db.ExecContext(ctx, `
		INSERT INTO mcp_servers (`+mcpServerColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, args...)
	return s.mapErr("create mcp server", err)
}

// mcpServerConfigColumns is mcpServerColumns with an empty catalog in place
// of the tools column, which can be large and is not needed for a call.
const mcpServerConfigColumns = `id, display_name, url, transport, provider_id, headers, header_names, allowed_roles,
	enabled, timeout_ms, '[]', tools_fetched_at, last_error, last_error_at, created_at, updated_at`

// GetMCPServerConfig returns the MCP server with id without its tool
// catalog (Tools is empty), or ErrNotFound. Tool calls use it, since they
// run often and need only the configuration.
func (s *Store) GetMCPServerConfig(ctx context.Context, id string) (*MCPServer, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+mcpServerConfigColumns+` FROM mcp_servers WHERE id = $1`, id)
	m, err := scanMCPServer(row)
	return m, s.mapErr("get mcp server config", err)
}

// GetMCPServer returns the MCP server with id, or ErrNotFound.
func (s *Store) GetMCPServer(ctx context.Context, id string) (*MCPServer, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+mcpServerColumns+` FROM mcp_servers WHERE id = $1`, id)
	m, err := scanMCPServer(row)
	return m, s.mapErr("get mcp server", err)
}

// ListMCPServers returns every MCP server ordered by id.
func (s *Store) ListMCPServers(ctx context.Context) ([]MCPServer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+mcpServerColumns+` FROM mcp_servers ORDER BY id`)
	if err != nil {
		return nil, s.mapErr("list mcp servers", err)
	}
	defer rows.Close()
	var out []MCPServer
	for rows.Next() {
		m, err := scanMCPServer(rows)
		if err != nil {
			return nil, s.mapErr("list mcp servers", err)
		}
		out = append(out, *m)
	}
	return out, s.mapErr("list mcp servers", rows.Err())
}

// UpdateMCPServer reads the MCP server, passes it to update and stores the
// result, all in one transaction, so concurrent updates do not lose each
// other's changes. The ID and CreatedAt cannot change. An error from
// update aborts without writing and is returned as is.
func (s *Store) UpdateMCPServer(ctx context.Context, id string, update func(m *MCPServer) error) (*MCPServer, error) {
	var updated *MCPServer
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+mcpServerColumns+` FROM mcp_servers WHERE id = $1`+s.dialect.ForUpdate(), id)
		m, err := scanMCPServer(row)
		if err != nil {
			return s.mapErr("update mcp server", err)
		}
		createdAt := m.CreatedAt
		if err := update(m); err != nil {
			return err
		}
		m.ID, m.CreatedAt = id, createdAt
		args, err := mcpServerArgs(m)
		if err != nil {
			return s.mapErr("update mcp server", err)
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE mcp_servers SET display_name = $2, url = $3, transport = $4, provider_id = $5, headers = $6,
				header_names = $7, allowed_roles = $8, enabled = $9, timeout_ms = $10, tools = $11,
				tools_fetched_at = $12, last_error = $13, last_error_at = $14, updated_at = $15
			WHERE id = $1`, append(args[:14:14], args[15])...)
		if err != nil {
			return s.mapErr("update mcp server", err)
		}
		updated = m
		return nil
	})
	return updated, err
}

// SetMCPServerTools stores a fetched tool catalog and clears LastError,
// provided the server's configuration is still the one the catalog was
// fetched with: its UpdatedAt must equal configVersion. It returns
// ErrConflict when the configuration changed meanwhile, because the
// catalog may then come from an old URL, and ErrNotFound when the server
// is gone.
func (s *Store) SetMCPServerTools(ctx context.Context, id string, configVersion time.Time, tools json.RawMessage, fetchedAt time.Time) error {
	text := "[]"
	if len(tools) > 0 {
		text = string(tools)
	}
	res, err := s.db.ExecContext(ctx, `
		UPDATE mcp_servers SET tools = $3, tools_fetched_at = $4, last_error = '', last_error_at = NULL
		WHERE id = $1 AND updated_at = $2`, id, micros(configVersion), text, micros(fetchedAt))
	if err != nil {
		return s.mapErr("set mcp server tools", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.mapErr("set mcp server tools", err)
	}
	if n == 1 {
		return nil
	}
	if _, err := s.GetMCPServer(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("store: set mcp server tools of %q: configuration changed: %w", id, ErrConflict)
}

// SetMCPServerError records why the last catalog fetch of the server
// failed, or returns ErrNotFound. The cached catalog stays as it is.
func (s *Store) SetMCPServerError(ctx context.Context, id, message string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE mcp_servers SET last_error = $2, last_error_at = $3 WHERE id = $1`,
		id, message, nullMicros(at))
	return requireOne("set mcp server error", res, err)
}

// DeleteMCPServer removes the MCP server, or returns ErrNotFound.
func (s *Store) DeleteMCPServer(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM mcp_servers WHERE id = $1`, id)
	return requireOne("delete mcp server", res, err)
}

func mcpServerArgs(m *MCPServer) ([]any, error) {
	names, err := jsonText(m.HeaderNames)
	if err != nil {
		return nil, err
	}
	roles, err := jsonText(m.AllowedRoles)
	if err != nil {
		return nil, err
	}
	tools := "[]"
	if len(m.Tools) > 0 {
		tools = string(m.Tools)
	}
	return []any{m.ID, m.DisplayName, m.URL, m.Transport, m.ProviderID, nullString(m.Headers), names, roles,
		m.Enabled, m.Timeout.Milliseconds(), tools, nullMicros(m.ToolsFetchedAt), m.LastError,
		nullMicros(m.LastErrorAt), micros(m.CreatedAt), micros(m.UpdatedAt)}, nil
}

func scanMCPServer(row rowScanner) (*MCPServer, error) {
	var m MCPServer
	var headers sql.NullString
	var names, roles, tools string
	var timeoutMillis, created, updated int64
	var fetched, errorAt sql.NullInt64
	err := row.Scan(&m.ID, &m.DisplayName, &m.URL, &m.Transport, &m.ProviderID, &headers, &names, &roles,
		&m.Enabled, &timeoutMillis, &tools, &fetched, &m.LastError, &errorAt, &created, &updated)
	if err != nil {
		return nil, err
	}
	if err := parseJSON(names, &m.HeaderNames); err != nil {
		return nil, err
	}
	if err := parseJSON(roles, &m.AllowedRoles); err != nil {
		return nil, err
	}
	m.Headers = headers.String
	m.Timeout = time.Duration(timeoutMillis) * time.Millisecond
	m.Tools = json.RawMessage(tools)
	m.ToolsFetchedAt, m.LastErrorAt = fromNullMicros(fetched), fromNullMicros(errorAt)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &m, nil
}
