// Package keyring encrypts secrets before they are written to a database that
// Toolgate does not trust, using AES-256-GCM under named 256-bit keys. It also
// reads, creates and rewrites the key file that contains those keys when no keys
// are given in the environment.
//
// # Design note: the sealed format
//
// Seal returns a string that fits a TEXT column in both SQLite and PostgreSQL:
//
//	tg1:<kid>:<base64url without padding of (nonce || ciphertext || tag)>
//
// The parts are:
//
//   - "tg1" is the format version. A later format gets a new prefix, so old
//     and new values can live side by side during a migration.
//   - <kid> is the id of the key that sealed the value. It is stored in clear so
//     that Open can pick the key without trying each one, and so that a key
//     rotation can find the values still sealed under an old key with KeyID.
//     Key ids match ^[A-Za-z0-9_-]{1,32}$ and never contain ':'.
//   - The nonce is 12 random bytes drawn from crypto/rand for every Seal and
//     the tag is 16 bytes, so a sealed value is 28 bytes longer than its
//     plaintext before base64 encoding. The length of the plaintext is not
//     hidden.
//
// # Design note: what the additional data binds
//
// GCM authenticates the ciphertext together with additional data that is not
// stored. Seal and Open use
//
//	"tg1:" + kid + ":" + aad
//
// where aad is chosen by the caller to name the place the value belongs to,
// for example the table, column and row key. Because of the aad, a ciphertext
// copied from one row into another fails to open. Because of the version and
// kid, a value whose prefix has been edited fails to open even when the new kid
// names a key with the same secret, and a value can never be read under a
// different format version. A kid never contains ':', so the additional data
// encodes version, kid and aad without ambiguity.
//
// # Design note: nonces and rotation
//
// Reusing a nonce under one GCM key exposes the XOR of two plaintexts and lets
// an attacker forge tags, so nonces must never repeat. With 96-bit random
// nonces, the chance of any repeat after 2^32 seals under one key is about
// 2^-33 (the birthday bound n²/2^97). Rotate the primary key well before a key
// has sealed that many values.
//
// To rotate, put a new key first: it becomes the primary key and seals every
// new value, while the older keys still open what they sealed. After every
// value has been sealed again under the new key, the old key can be removed.
//
// This package does not log and has no mutable global state.
package keyring
