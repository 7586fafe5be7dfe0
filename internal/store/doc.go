// Package store persists Toolgate's state in SQLite or PostgreSQL.
//
// Everything a second replica needs lives here: providers, browser sessions,
// sign-in flows, API tokens, consent flows and the token vault. An in-process
// cache elsewhere is only ever an optimisation over this package.
//
// The package treats secrets as opaque: columns that hold secrets receive
// values already sealed by the keyring, and the store never sees plaintext.
// Each such column is listed in [SecretColumns] so that key rotation can find
// every sealed value, and each row's associated data (see [AAD]) binds a
// sealed value to the row it belongs to.
//
// Queries are written once in SQL that both databases accept ($n
// placeholders, ON CONFLICT, RETURNING). What differs between the two lives in
// [Dialect]. Times are stored as Unix microseconds in BIGINT columns so that
// comparisons behave the same on both, and lists and maps as JSON text.
package store
