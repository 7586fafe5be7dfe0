// Package testpeers starts the real, independently written peers that
// Toolgate's tests run against: oidc-provider as the OpenID provider, an MCP
// server built with the MCP TypeScript SDK that accepts only that provider's
// access tokens, and the reference server-everything.
//
// The peers are Node.js programs in test/peers, installed from the npm
// registry at the versions pinned in test/peers/package-lock.json. Each peer
// binds 127.0.0.1 on a port the system picks, prints "READY <url>" when it
// listens, and stops when the test ends, or when the test process dies,
// because its stdin then closes.
//
// Every Start function calls EnsureInstalled, which skips the test when node
// is not on PATH and fails it when the install fails. Peers are stopped in
// t.Cleanup, and a failed test's log shows each peer's output.
//
// A test that needs a signed-in user combines the pieces:
//
//	idp := testpeers.StartIDP(t, testpeers.IDPConfig{
//		Clients: []testpeers.Client{{ID: "toolgate", Secret: "s", RedirectURIs: []string{callback}}},
//		Users:   []testpeers.User{{ID: "alice", Password: "pw", Roles: []string{"admin"}}},
//	})
//	redirect := idp.Login(t, browser, authorizeURL, "alice", "pw", true)
package testpeers
