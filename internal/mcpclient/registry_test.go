package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolgate/toolgate/internal/store"
	"github.com/toolgate/toolgate/internal/store/storetest"
)

func validCreate() CreateInput {
	return CreateInput{ID: "calendar", DisplayName: "Calendar", URL: "https://mcp.example.test/mcp"}
}

func TestRegistryCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		r := newTestRegistry(t, st, nil)
		ctx := context.Background()

		in := validCreate()
		in.ProviderID = testProvider
		in.Headers = map[string]Secret{"X-Tenant": "acme"}
		in.AllowedRoles = []string{"staff", "staff", "ops"}
		created, err := r.Create(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if created.Transport != TransportStreamableHTTP || !created.Enabled || created.Timeout != "30s" {
			t.Errorf("defaults: got transport %q enabled %v timeout %q, want streamable_http, true, 30s", created.Transport, created.Enabled, created.Timeout)
		}
		if !slices.Equal(created.AllowedRoles, []string{"staff", "ops"}) {
			t.Errorf("allowed roles: got %q, want repeats removed", created.AllowedRoles)
		}
		if created.ToolsFetchedAt != nil || len(created.Tools) != 0 || created.Tools == nil {
			t.Errorf("new server: got tools %v fetched %v, want an empty list and never fetched", created.Tools, created.ToolsFetchedAt)
		}
		if _, err := r.Create(ctx, in); !errors.Is(err, ErrAlreadyExists) {
			t.Errorf("Create twice: got %v, want ErrAlreadyExists", err)
		}

		got, err := r.Get(ctx, "calendar")
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(created.CreatedAt) || got.URL != in.URL {
			t.Errorf("Get: got %+v, want what Create returned", got)
		}

		patched, err := r.Update(ctx, "calendar", PatchInput{
			ID: new("calendar"), DisplayName: new("Team calendar"), Timeout: new("2m"),
			Transport: new(TransportSSE), Enabled: new(false),
		})
		if err != nil {
			t.Fatal(err)
		}
		if patched.DisplayName != "Team calendar" || patched.Timeout != "2m0s" || patched.Transport != TransportSSE || patched.Enabled {
			t.Errorf("Update: got %+v", patched)
		}
		if !slices.Equal(patched.HeaderNames, []string{"X-Tenant"}) || patched.ProviderID != testProvider {
			t.Errorf("Update changed fields it was not given: %+v", patched)
		}
		if !patched.UpdatedAt.After(created.UpdatedAt) {
			t.Errorf("UpdatedAt: got %v, want after %v", patched.UpdatedAt, created.UpdatedAt)
		}

		// Headers left out keep their sealed value; headers sent replace
		// the set; an empty set removes them.
		before, err := st.GetMCPServer(ctx, "calendar")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Update(ctx, "calendar", PatchInput{DisplayName: new("Again")}); err != nil {
			t.Fatal(err)
		}
		after, err := st.GetMCPServer(ctx, "calendar")
		if err != nil {
			t.Fatal(err)
		}
		if after.Headers != before.Headers {
			t.Error("an update without headers changed the sealed headers")
		}
		v, err := r.Update(ctx, "calendar", PatchInput{Headers: &map[string]Secret{}})
		if err != nil {
			t.Fatal(err)
		}
		after, err = st.GetMCPServer(ctx, "calendar")
		if err != nil {
			t.Fatal(err)
		}
		if len(v.HeaderNames) != 0 || after.Headers != "" {
			t.Errorf("after headers {}: got names %q and sealed %q, want none", v.HeaderNames, after.Headers)
		}

		list, err := r.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != "calendar" {
			t.Errorf("List: got %d servers, want calendar", len(list))
		}
		if err := r.Delete(ctx, "calendar"); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx, "calendar"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete twice: got %v, want ErrNotFound", err)
		}
		if _, err := r.Get(ctx, "calendar"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after delete: got %v, want ErrNotFound", err)
		}
		if _, err := r.Update(ctx, "calendar", PatchInput{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Update after delete: got %v, want ErrNotFound", err)
		}
	})
}

func TestCreateValidation(t *testing.T) {
	r := newTestRegistry(t, storetest.NewSQLite(t), nil)
	tests := []struct {
		name   string
		edit   func(in *CreateInput)
		status int
		field  string
	}{
		{"bad id", func(in *CreateInput) { in.ID = "Cal_1" }, 400, "id"},
		{"long id", func(in *CreateInput) { in.ID = strings.Repeat("a", 65) }, 400, "id"},
		{"no display name", func(in *CreateInput) { in.DisplayName = "" }, 400, "display_name"},
		{"control character in name", func(in *CreateInput) { in.DisplayName = "Cal\nendar" }, 400, "display_name"},
		{"no url", func(in *CreateInput) { in.URL = "" }, 400, "url"},
		{"relative url", func(in *CreateInput) { in.URL = "/mcp" }, 400, "url"},
		{"http elsewhere", func(in *CreateInput) { in.URL = "http://mcp.example.test/mcp" }, 400, "url"},
		{"user info", func(in *CreateInput) { in.URL = "https://user:pw@mcp.example.test/mcp" }, 400, "url"},
		{"fragment", func(in *CreateInput) { in.URL = "https://mcp.example.test/mcp#x" }, 400, "url"},
		{"ftp", func(in *CreateInput) { in.URL = "ftp://mcp.example.test/mcp" }, 400, "url"},
		{"unknown transport", func(in *CreateInput) { in.Transport = "websocket" }, 400, "transport"},
		{"malformed provider id", func(in *CreateInput) { in.ProviderID = "Not An Id" }, 400, "provider_id"},
		{"unknown provider", func(in *CreateInput) { in.ProviderID = "nobody" }, 422, "provider_id"},
		{"timeout syntax", func(in *CreateInput) { in.Timeout = "30" }, 400, "timeout"},
		{"timeout too short", func(in *CreateInput) { in.Timeout = "500ms" }, 400, "timeout"},
		{"timeout too long", func(in *CreateInput) { in.Timeout = "6m" }, 400, "timeout"},
		{"empty role", func(in *CreateInput) { in.AllowedRoles = []string{"staff", " "} }, 400, "allowed_roles[1]"},
		{"header name", func(in *CreateInput) { in.Headers = map[string]Secret{"X Key": "v"} }, 400, "headers.X Key"},
		{"hop-by-hop header", func(in *CreateInput) { in.Headers = map[string]Secret{"connection": "close"} }, 400, "headers.connection"},
		{"mcp header", func(in *CreateInput) { in.Headers = map[string]Secret{"Mcp-Session-Id": "s"} }, 400, "headers.Mcp-Session-Id"},
		{"header line break", func(in *CreateInput) { in.Headers = map[string]Secret{"X-Key": "a\r\nInjected: 1"} }, 400, "headers.X-Key"},
		{"empty header", func(in *CreateInput) { in.Headers = map[string]Secret{"X-Key": ""} }, 400, "headers.X-Key"},
		{"duplicate header", func(in *CreateInput) { in.Headers = map[string]Secret{"X-Key": "a", "x-key": "b"} }, 400, "headers.x-key"},
		{"authorization with provider", func(in *CreateInput) {
			in.ProviderID = testProvider
			in.Headers = map[string]Secret{"authorization": "Bearer fixed"}
		}, 400, "headers.Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validCreate()
			tt.edit(&in)
			_, err := r.Create(context.Background(), in)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Create: got %v, want a *ValidationError", err)
			}
			if ve.Status != tt.status {
				t.Errorf("status: got %d, want %d (%v)", ve.Status, tt.status, err)
			}
			if len(ve.Fields) == 0 || ve.Fields[0].Field != tt.field {
				t.Errorf("fields: got %+v, want %q first", ve.Fields, tt.field)
			}
			for _, f := range ve.Fields {
				if strings.Contains(f.Detail, "Bearer fixed") || strings.Contains(f.Detail, "Injected") {
					t.Errorf("detail %q repeats a header value", f.Detail)
				}
			}
		})
	}

	list, err := r.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("rejected creates stored %d servers, want 0", len(list))
	}
}

func TestCreateAccepts(t *testing.T) {
	r := newTestRegistry(t, storetest.NewSQLite(t), nil)
	tests := []struct {
		name string
		edit func(in *CreateInput)
	}{
		{"loopback http", func(in *CreateInput) { in.URL = "http://127.0.0.1:8080/mcp" }},
		{"localhost http", func(in *CreateInput) { in.URL = "http://localhost:8080/mcp" }},
		{"ipv6 loopback", func(in *CreateInput) { in.URL = "http://[::1]:8080/mcp" }},
		{"query", func(in *CreateInput) { in.URL = "https://mcp.example.test/mcp?tenant=acme" }},
		{"sse", func(in *CreateInput) { in.Transport = TransportSSE }},
		{"limits", func(in *CreateInput) { in.Timeout = "5m" }},
		{"static authorization without provider", func(in *CreateInput) { in.Headers = map[string]Secret{"Authorization": "Bearer key"} }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validCreate()
			in.ID = fmt.Sprintf("ok-%d", i)
			tt.edit(&in)
			if _, err := r.Create(context.Background(), in); err != nil {
				t.Errorf("Create: %v", err)
			}
		})
	}
}

func TestUpdateValidation(t *testing.T) {
	st := storetest.NewSQLite(t)
	r := newTestRegistry(t, st, nil)
	ctx := context.Background()
	in := validCreate()
	in.Headers = map[string]Secret{"Authorization": "Bearer static"}
	created := createServer(t, r, in)

	tests := []struct {
		name   string
		patch  PatchInput
		status int
		field  string
	}{
		{"change id", PatchInput{ID: new("other")}, 400, "id"},
		{"bad url", PatchInput{URL: new("http://mcp.example.test")}, 400, "url"},
		{"provider with stored authorization", PatchInput{ProviderID: new(testProvider)}, 400, "provider_id"},
		{"unknown provider", PatchInput{ProviderID: new("nobody"), Headers: &map[string]Secret{}}, 422, "provider_id"},
		{"bad timeout", PatchInput{Timeout: new("forever")}, 400, "timeout"},
		{"empty name", PatchInput{DisplayName: new("")}, 400, "display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Update(ctx, "calendar", tt.patch)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Update: got %v, want a *ValidationError", err)
			}
			if ve.Status != tt.status || len(ve.Fields) == 0 || ve.Fields[0].Field != tt.field {
				t.Errorf("got status %d fields %+v, want %d on %q", ve.Status, ve.Fields, tt.status, tt.field)
			}
		})
	}

	got, err := r.Get(ctx, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Equal(created.UpdatedAt) || got.ProviderID != "" {
		t.Errorf("rejected updates changed the server: %+v", got)
	}

	// Replacing the headers and setting the provider together is fine.
	v, err := r.Update(ctx, "calendar", PatchInput{ProviderID: new(testProvider), Headers: &map[string]Secret{"X-Key": "k"}})
	if err != nil {
		t.Fatalf("Update with provider and new headers: %v", err)
	}
	if v.ProviderID != testProvider || !slices.Equal(v.HeaderNames, []string{"X-Key"}) {
		t.Errorf("got provider %q headers %q", v.ProviderID, v.HeaderNames)
	}
}

func TestSecretRedacted(t *testing.T) {
	in := CreateInput{ID: "x", Headers: map[string]Secret{"X-Key": "plain-value-3c9d"}}
	encoded, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("input", "headers", in.Headers["X-Key"])
	for name, out := range map[string]string{
		"json": string(encoded), "%v": fmt.Sprintf("%v", in), "%#v": fmt.Sprintf("%#v", in), "slog": logged.String(),
	} {
		if strings.Contains(out, "plain-value-3c9d") {
			t.Errorf("%s output contains the header value: %s", name, out)
		}
	}
}

func TestValidationErrorText(t *testing.T) {
	err := &ValidationError{Status: http.StatusBadRequest}
	if !strings.HasPrefix(err.Error(), "mcpclient: invalid input (400)") {
		t.Errorf("Error: got %q", err.Error())
	}
}

func TestConcurrentUpdatesKeepVersionIncreasing(t *testing.T) {
	st := storetest.NewSQLite(t)
	fixed := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	r := newTestRegistry(t, st, &Options{Now: func() time.Time { return fixed }})
	createServer(t, r, validCreate())
	ctx := context.Background()

	// With a clock that does not advance, each update must still produce a
	// new version, or a catalog fetched before it could be stored after.
	var versions []time.Time
	for range 3 {
		v, err := r.Update(ctx, "calendar", PatchInput{DisplayName: new("x")})
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v.UpdatedAt)
	}
	for i := 1; i < len(versions); i++ {
		if !versions[i].After(versions[i-1]) {
			t.Errorf("version %d: got %v, want after %v", i, versions[i], versions[i-1])
		}
	}
}
