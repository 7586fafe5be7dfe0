package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
)

// mcpTests cover the registered MCP servers and their cached catalogs.
var mcpTests = []struct {
	name string
	fn   func(t *testing.T, s *store.Store)
}{
	{"MCPServers", testMCPServers},
	{"MCPServerCatalog", testMCPServerCatalog},
	{"MCPServerConcurrentUpdates", testMCPServerConcurrentUpdates},
	{"MCPServerSealedHeaders", testMCPServerSealedHeaders},
}

func sampleMCPServer(id string) *store.MCPServer {
	return &store.MCPServer{
		ID: id, DisplayName: "Calendar", URL: "https://mcp.example.test/mcp", Transport: "streamable_http",
		ProviderID: "google", Headers: "tg1:k1:sealed", HeaderNames: []string{"X-Api-Key"},
		AllowedRoles: []string{"staff"}, Enabled: true, Timeout: 30 * time.Second,
		Tools: json.RawMessage(`[]`), CreatedAt: now, UpdatedAt: now,
	}
}

func testMCPServers(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.GetMCPServer(ctx, "calendar"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetMCPServer of missing server: got %v, want ErrNotFound", err)
	}
	m := sampleMCPServer("calendar")
	if err := s.CreateMCPServer(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMCPServer(ctx, m); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateMCPServer twice: got %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetMCPServer(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("GetMCPServer:\n got %+v\nwant %+v", got, m)
	}

	// Empty lists, headers and catalog read back as empty values, not nil
	// JSON.
	bare := &store.MCPServer{ID: "bare", DisplayName: "Bare", URL: "http://127.0.0.1:9/mcp", Transport: "sse",
		Timeout: 1500 * time.Millisecond, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateMCPServer(ctx, bare); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetMCPServer(ctx, "bare")
	if err != nil {
		t.Fatal(err)
	}
	if got.Headers != "" || len(got.HeaderNames) != 0 || got.HeaderNames == nil || string(got.Tools) != "[]" {
		t.Errorf("bare server: got headers %q, names %#v, tools %s; want empty, [] and []", got.Headers, got.HeaderNames, got.Tools)
	}
	if got.Timeout != 1500*time.Millisecond || got.Enabled || !got.ToolsFetchedAt.IsZero() {
		t.Errorf("bare server: got timeout %v, enabled %v, fetched %v; want 1.5s, false, zero", got.Timeout, got.Enabled, got.ToolsFetchedAt)
	}

	updated, err := s.UpdateMCPServer(ctx, "calendar", func(m *store.MCPServer) error {
		m.DisplayName = "Renamed"
		m.ID = "hijack" // must be ignored
		m.CreatedAt = now.Add(time.Hour)
		m.UpdatedAt = now.Add(time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.ID != "calendar" || updated.DisplayName != "Renamed" || !updated.CreatedAt.Equal(now) {
		t.Errorf("UpdateMCPServer: got id %q name %q created %v, want calendar, Renamed, %v", updated.ID, updated.DisplayName, updated.CreatedAt, now)
	}
	abort := errors.New("abort")
	if _, err := s.UpdateMCPServer(ctx, "calendar", func(m *store.MCPServer) error {
		m.DisplayName = "Lost"
		return abort
	}); !errors.Is(err, abort) {
		t.Errorf("UpdateMCPServer with failing update: got %v, want the update's error", err)
	}
	if _, err := s.UpdateMCPServer(ctx, "missing", func(*store.MCPServer) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateMCPServer of missing server: got %v, want ErrNotFound", err)
	}
	got, err = s.GetMCPServer(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if got.DisplayName != "Renamed" {
		t.Errorf("after the aborted update: got name %q, want Renamed", got.DisplayName)
	}

	list, err := s.ListMCPServers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "bare" || list[1].ID != "calendar" {
		t.Errorf("ListMCPServers: got %d servers, want bare and calendar in order", len(list))
	}
	if err := s.DeleteMCPServer(ctx, "calendar"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMCPServer(ctx, "calendar"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteMCPServer twice: got %v, want ErrNotFound", err)
	}
}

func testMCPServerCatalog(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := sampleMCPServer("calendar")
	if err := s.CreateMCPServer(ctx, m); err != nil {
		t.Fatal(err)
	}

	failedAt := now.Add(time.Minute)
	if err := s.SetMCPServerError(ctx, "calendar", "connection refused", failedAt); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMCPServer(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if got.LastError != "connection refused" || !got.LastErrorAt.Equal(failedAt) || !got.UpdatedAt.Equal(now) {
		t.Errorf("after SetMCPServerError: got %q at %v, updated %v; want the error at %v and updated unchanged",
			got.LastError, got.LastErrorAt, got.UpdatedAt, failedAt)
	}

	tools := json.RawMessage(`[{"name":"list_events","description":"Lists events","input_schema":{"type":"object"}}]`)
	fetchedAt := now.Add(2 * time.Minute)
	if err := s.SetMCPServerTools(ctx, "calendar", m.UpdatedAt, tools, fetchedAt); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetMCPServer(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	var decoded []map[string]any
	if err := json.Unmarshal(got.Tools, &decoded); err != nil || len(decoded) != 1 || decoded[0]["name"] != "list_events" {
		t.Errorf("tools after SetMCPServerTools: got %s (%v), want the list_events catalog", got.Tools, err)
	}
	if !got.ToolsFetchedAt.Equal(fetchedAt) || got.LastError != "" || !got.LastErrorAt.IsZero() {
		t.Errorf("after SetMCPServerTools: got fetched %v, error %q at %v; want %v and the error cleared",
			got.ToolsFetchedAt, got.LastError, got.LastErrorAt, fetchedAt)
	}

	// The configuration alone leaves the catalog out and keeps the rest.
	config, err := s.GetMCPServerConfig(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if string(config.Tools) != "[]" {
		t.Errorf("GetMCPServerConfig tools: got %s, want []", config.Tools)
	}
	config.Tools = got.Tools
	if !reflect.DeepEqual(config, got) {
		t.Errorf("GetMCPServerConfig:\n got %+v\nwant %+v", config, got)
	}

	// A catalog fetched with a configuration that changed since is not
	// stored.
	if _, err := s.UpdateMCPServer(ctx, "calendar", func(m *store.MCPServer) error {
		m.URL = "https://moved.example.test/mcp"
		m.UpdatedAt = now.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err = s.SetMCPServerTools(ctx, "calendar", m.UpdatedAt, json.RawMessage(`[]`), now.Add(2*time.Hour))
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("SetMCPServerTools with an old configuration: got %v, want ErrConflict", err)
	}
	got, err = s.GetMCPServer(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if !got.ToolsFetchedAt.Equal(fetchedAt) || !strings.Contains(string(got.Tools), "list_events") {
		t.Errorf("after the rejected write: got fetched %v and tools %s, want the earlier catalog", got.ToolsFetchedAt, got.Tools)
	}

	if err := s.SetMCPServerTools(ctx, "missing", now, tools, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetMCPServerTools of a missing server: got %v, want ErrNotFound", err)
	}
	if err := s.SetMCPServerError(ctx, "missing", "x", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetMCPServerError of a missing server: got %v, want ErrNotFound", err)
	}
}

func testMCPServerConcurrentUpdates(t *testing.T, s *store.Store) {
	ctx := context.Background()
	m := sampleMCPServer("counter")
	m.AllowedRoles = nil
	if err := s.CreateMCPServer(ctx, m); err != nil {
		t.Fatal(err)
	}

	// Each update appends one role, so a lost update would drop one.
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateMCPServer(ctx, "counter", func(m *store.MCPServer) error {
				m.AllowedRoles = append(m.AllowedRoles, fmt.Sprintf("r%d", i))
				return nil
			})
			if err != nil {
				t.Errorf("UpdateMCPServer: %v", err)
			}
		}()
	}
	wg.Wait()
	got, err := s.GetMCPServer(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.AllowedRoles) != n {
		t.Errorf("got %d roles after %d concurrent appends, want %d", len(got.AllowedRoles), n, n)
	}
}

func testMCPServerSealedHeaders(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i, sealed := range []string{"tg1:k1:a", "tg1:k2:b", ""} {
		m := sampleMCPServer(fmt.Sprintf("m%d", i))
		m.Headers = sealed
		if err := s.CreateMCPServer(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	var col store.SecretColumn
	for _, c := range store.SecretColumns() {
		if c.Table == "mcp_servers" {
			col = c
		}
	}
	if col.Column != "headers" {
		t.Fatalf("SecretColumns: got %+v for mcp_servers, want its headers column", col)
	}
	values, err := s.ListSealed(ctx, col, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(values) != 2 {
		t.Fatalf("ListSealed: got %d values, want 2 (the empty one skipped)", len(values))
	}
	if got, want := values[0].AAD(), store.MCPServerHeadersAAD("m0"); got != want {
		t.Errorf("AAD: got %q, want %q", got, want)
	}
	counts, err := s.SealedKeyIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["k1"] != 1 || counts["k2"] != 1 {
		t.Errorf("SealedKeyIDs: got %v, want k1 and k2 counted once each", counts)
	}

	n, err := s.RewriteSealed(ctx, 10, func(sealed, aad string) (string, bool, error) {
		return strings.Replace(sealed, ":k1:", ":k3:", 1), strings.Contains(sealed, ":k1:"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("RewriteSealed: got %d rewritten, want 1", n)
	}
	got, err := s.GetMCPServer(ctx, "m0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Headers != "tg1:k3:a" {
		t.Errorf("headers after rewrite: got %q, want tg1:k3:a", got.Headers)
	}
}
