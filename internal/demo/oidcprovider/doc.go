// Package oidcprovider is a small OpenID provider and OAuth 2 authorization
// server for demos and tests. The protocol work is done by the OP package
// of github.com/zitadel/oidc/v3; this package adds the in-memory storage
// behind it, a login page with username and password, and a consent page.
//
// What it offers:
//
//   - discovery (/.well-known/openid-configuration) and a JWKS with one RSA
//     key generated at start (RS256);
//   - the authorization code flow for confidential clients, with PKCE
//     required and S256 as the only method (RFC 7636);
//   - ID tokens, opaque access tokens and a userinfo endpoint;
//   - refresh tokens that rotate on every use, with reuse detection;
//   - revocation (RFC 7009) and introspection (RFC 7662) for resource
//     servers.
//
// Everything lives in memory and is lost when the process ends, signing
// key included. The provider keeps no sign-in session, so every
// authorization request shows the login page, and prompt=none fails with
// login_required.
package oidcprovider

// Design note: the life of an authorization
//
//	/authorize ──► auth request (PKCE S256 checked) ──► /login ──► /consent
//	                                                       │           │
//	                                          binds the browser    approve: done
//	                                                               deny: access_denied
//	                                                                   │
//	/authorize/callback ──► one code per request, valid for codeTTL ◄──┘
//	        │
//	/oauth/token (code) ──► the code is consumed on first presentation
//	        │               and a grant is created: access token, and a
//	        ▼               refresh token when offline_access was granted
//	/oauth/token (refresh_token) ──► rotation: the presented token is marked
//	                                 used and a new one issued in the grant
//
// Every token belongs to a grant: one user's consent to one client. Revoking
// a refresh token, presenting a used refresh token again (RFC 9700 section
// 4.14.2), and presenting a consumed authorization code again (RFC 6749
// section 4.1.2) all end the grant: its access and refresh tokens stop
// working at once, because introspection and userinfo look each access
// token up. Revoking an access token ends only that token.
//
// An auth request is bound to the browser that first opens its login page,
// by a cookie, and its forms carry a per-request token, so that a request
// id that leaks cannot be finished in another browser or by a cross-site
// form post. A request allows maxLoginAttempts wrong passwords, then it is
// deleted.
