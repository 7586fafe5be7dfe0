package mcpclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/toolgate/toolgate/internal/demo/calendar"
	"github.com/toolgate/toolgate/internal/store"
)

// TestCatalogWithoutToken lists a gated server's tools for a user who has
// not connected, because the server lists them to anyone, while a call
// still needs the user's token.
func TestCatalogWithoutToken(t *testing.T) {
	forEachStore(t, func(t *testing.T, st *store.Store) {
		rejectAll := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) {
			return nil, auth.ErrInvalidToken
		}
		srv := httptest.NewServer(nil)
		t.Cleanup(srv.Close)
		cal := calendar.New(calendar.Options{Verifier: rejectAll, ResourceURL: srv.URL + "/mcp", AllowAnonymousListing: true})
		srv.Config.Handler = cal.Handler()

		r := newTestRegistry(t, st, &Options{Tokens: tokenMap{}})
		createServer(t, r, CreateInput{ID: "calendar", URL: srv.URL + "/mcp", ProviderID: testProvider})

		cat, err := r.Client().ToolsFor(context.Background(), "bob", nil)
		if err != nil {
			t.Fatal(err)
		}
		if names := toolNames(cat); !slices.Contains(names, ToolName("calendar", "list_events")) {
			t.Errorf("catalog for a user without a token: got %v, want the server's tools", names)
		}
		if len(cat.Skipped) != 0 {
			t.Errorf("skipped servers: got %+v, want none", cat.Skipped)
		}

		_, err = r.Client().CallTool(context.Background(), "bob", "calendar", "list_events", nil)
		var tokenErr *TokenError
		if !errors.As(err, &tokenErr) {
			t.Errorf("call without a token: got %v, want a *TokenError", err)
		}
	})
}
