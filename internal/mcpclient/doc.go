// Package mcpclient connects Toolgate to external MCP servers that admins
// register, and calls their tools as each user.
//
// The Registry stores servers (URL, transport, the provider whose user
// token is sent as bearer token, sealed static headers, allowed roles,
// timeout) and serves the admin API. The Client, from Registry.Client,
// offers a user the servers' tools under names that model APIs accept
// (ToolsFor, ToolName, Catalog.ResolveToolName) and calls them
// (CallTool). It uses the official MCP go-sdk client over Streamable HTTP
// or the older HTTP+SSE transport.
//
// Failed calls come back as typed errors, so that the agent can branch:
//
//	*AuthError              refresh the token and retry, or ask for consent again
//	*InsufficientScopeError ask for consent to the listed scopes
//	*TokenError             the user has no usable token: ask for consent
//	*UnavailableError       skip the server for this turn with a warning
//	*CallError              give the server's message to the model
//
// classify.go explains how each is detected. The package does not import
// the vault: it reads tokens through the small TokenSource interface.
package mcpclient
