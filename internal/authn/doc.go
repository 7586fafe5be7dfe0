// Package authn establishes who the caller of a request is.
//
// A caller is one of:
//
//   - a browser with a session cookie, signed in through the organisation's
//     OpenID provider (Mode "oidc") or through the development sign-in page
//     (Mode "dev");
//   - an API client with "Authorization: Bearer tgat_…", a Toolgate API token
//     created with CreateAPIToken;
//   - an API client with "Authorization: Bearer <JWT>", a token issued by the
//     same OpenID provider and verified against its published keys (Mode
//     "oidc" only).
//
// Authenticator.Middleware resolves the caller into an *Identity stored in the
// request context, rejects invalid bearer tokens with 401, and guards
// cookie-authenticated requests with unsafe methods against cross-site request
// forgery. RequireUser and Authenticator.RequireAdmin gate handlers on the
// result.
//
// All state lives in the store, so a new session, a sign-out or a revoked token
// takes effect on every replica at once. Secrets are stored as SHA-256 hashes (session
// cookies, API tokens, sign-in states) or sealed with the keyring (the PKCE
// verifier of a sign-in and the ID token kept for sign-out). The package never
// logs a token, code, verifier, cookie value, ID token or client secret.
//
// This package does not decide what a user may do beyond the admin check:
// roles are passed on in Identity for other packages to interpret.
package authn
