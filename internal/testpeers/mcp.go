package testpeers

import (
	"testing"
)

// MCPServer is a running MCP server that speaks Streamable HTTP. It is
// stopped when the test that started it ends.
type MCPServer struct {
	// URL is the MCP endpoint, http://127.0.0.1:<port>/mcp.
	URL string
}

// StartProtectedMCP starts test/peers/mcp-protected.mjs, an MCP server that
// accepts only access tokens from idp that were issued for its URL as
// resource indicator (RFC 8707). It checks each token at idp's introspection
// endpoint as introspectionClient, which must be one of the IdP's clients.
//
// Its tools list_events, create_event and whoami keep state per token
// subject. Without a valid token it responds with 401 and a WWW-Authenticate
// header that points to its protected resource metadata (RFC 9728).
func StartProtectedMCP(t testing.TB, idp *IDP, introspectionClient Client) *MCPServer {
	t.Helper()

	authMethod := introspectionClient.AuthMethod
	if authMethod == "" {
		authMethod = "client_secret_basic"
	}
	endpoint := startNode(t, "mcp-protected", nil, "mcp-protected.mjs",
		"--port", "0",
		"--issuer", idp.Issuer,
		"--client-id", introspectionClient.ID,
		"--client-secret", introspectionClient.Secret,
		"--client-auth-method", authMethod,
	)
	return &MCPServer{URL: endpoint}
}

// StartEverything starts the reference MCP server
// @modelcontextprotocol/server-everything in Streamable HTTP mode. A preload
// module binds it to 127.0.0.1, which the package itself does not do, and
// GZIP_ALLOWED_DOMAINS keeps its gzip-file-as-resource tool from fetching
// anything but loopback URLs.
func StartEverything(t testing.TB) *MCPServer {
	t.Helper()

	env := []string{"PORT=0", "GZIP_ALLOWED_DOMAINS=127.0.0.1"}
	endpoint := startNode(t, "server-everything", env,
		"--import", "./lib/everything-loopback.mjs",
		"node_modules/@modelcontextprotocol/server-everything/dist/index.js", "streamableHttp",
	)
	return &MCPServer{URL: endpoint}
}
